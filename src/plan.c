/* plan.c: constructors, destructors and the explain text of bound expressions and plans. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "plan.h"

Expr *expr_new(ExprKind k, Type *type, const Node *at)
{
    Expr *e = xcalloc(1, sizeof *e);
    e->kind = k;
    e->type = type;
    e->lit = v_null();
    if (at) { e->src = at->src; e->pos = at->pos; }
    return e;
}

void expr_add(Expr *e, Expr *arg)
{
    e->args = xrealloc(e->args, (size_t)(e->nargs + 1) * sizeof *e->args);
    e->args[e->nargs++] = arg;
}

void expr_add_named(Expr *e, const char *name, Expr *arg)
{
    e->argnames = xrealloc(e->argnames, (size_t)(e->nargs + 1) * sizeof *e->argnames);
    e->argnames[e->nargs] = name ? xstrdup(name) : NULL;
    expr_add(e, arg);
}

const Expr *expr_arg(const Expr *e, const char *name)
{
    for (int i = 0; e->argnames && i < e->nargs; i++)
        if (e->argnames[i] && !strcmp(e->argnames[i], name)) return e->args[i];
    return NULL;
}

void expr_free(Expr *e)
{
    if (!e) return;
    for (int i = 0; i < e->nargs; i++) {
        expr_free(e->args[i]);
        if (e->argnames) free(e->argnames[i]);
    }
    free(e->argnames);
    free(e->args);
    type_unref(e->type);
    type_unref(e->vtype);
    value_free(e->lit);
    free(e->name);
    plan_free(e->sub);
    free(e);
}

int expr_uses_col(const Expr *e, int col)
{
    if (!e) return 0;
    if (e->kind == E_COL && (col < 0 || e->ival == col)) return 1;
    for (int i = 0; i < e->nargs; i++)
        if (expr_uses_col(e->args[i], col)) return 1;
    return 0;
}

int expr_is_semantic(const Expr *e)
{
    if (!e) return 0;
    if (e->kind == E_SEMANTIC) return 1;
    for (int i = 0; i < e->nargs; i++)
        if (expr_is_semantic(e->args[i])) return 1;
    return 0;
}

static const char *binop_text(int op)
{
    switch (op) {
    case OP_OR: return "or"; case OP_AND: return "and";
    case OP_EQ: return "=="; case OP_NE: return "!="; case OP_LT: return "<"; case OP_LE: return "<=";
    case OP_GT: return ">"; case OP_GE: return ">="; case OP_CONCAT: return "||"; case OP_ADD: return "+";
    case OP_SUB: return "-"; case OP_MUL: return "*"; case OP_DIV: return "/"; case OP_MOD: return "%";
    }
    return "?";
}

void expr_explain(Buf *b, const Expr *e, const Schema *in)
{
    switch (e->kind) {
    case E_LIT:
        if (e->lit.kind == V_STRING) value_to_json(b, e->lit);
        else value_to_text(b, e->lit, "null");
        return;
    case E_COL:
        if (in && e->ival < in->n) buf_puts(b, in->names[e->ival]);
        else buf_printf(b, "#%d", (int)e->ival);
        return;
    case E_FIELD:
        expr_explain(b, e->args[0], in);
        buf_printf(b, ".%s", e->name);
        return;
    case E_INDEX:
        expr_explain(b, e->args[0], in);
        buf_putc(b, '[');
        expr_explain(b, e->args[1], in);
        buf_putc(b, ']');
        return;
    case E_BINOP:
        buf_putc(b, '(');
        expr_explain(b, e->args[0], in);
        buf_printf(b, " %s ", binop_text(e->op));
        expr_explain(b, e->args[1], in);
        buf_putc(b, ')');
        return;
    case E_NOT: buf_puts(b, "not "); expr_explain(b, e->args[0], in); return;
    case E_NEG: buf_puts(b, "-"); expr_explain(b, e->args[0], in); return;
    case E_ISNULL:
        expr_explain(b, e->args[0], in);
        buf_puts(b, e->flag ? " is not null" : " is null");
        return;
    case E_IN:
        expr_explain(b, e->args[0], in);
        buf_puts(b, e->flag & 1 ? " not in (" : " in (");
        if (e->flag & 2) { expr_explain(b, e->args[1], in); buf_putc(b, ')'); return; }
        for (int i = 1; i < e->nargs; i++) {
            if (i > 1) buf_puts(b, ", ");
            expr_explain(b, e->args[i], in);
        }
        buf_putc(b, ')');
        return;
    case E_LIKE:
        expr_explain(b, e->args[0], in);
        buf_printf(b, "%s %s ", e->flag ? " not" : "", e->op == OP_ILIKE ? "ilike" : "like");
        expr_explain(b, e->args[1], in);
        return;
    case E_CASE:
        buf_puts(b, "case");
        for (int i = 0; i + 1 < e->nargs - e->flag; i += 2) {
            buf_puts(b, " when ");
            expr_explain(b, e->args[i], in);
            buf_puts(b, " then ");
            expr_explain(b, e->args[i + 1], in);
        }
        if (e->flag) { buf_puts(b, " else "); expr_explain(b, e->args[e->nargs - 1], in); }
        buf_puts(b, " end");
        return;
    case E_LIST: case E_STRUCT:
        buf_putc(b, e->kind == E_LIST ? '[' : '{');
        for (int i = 0; i < e->nargs; i++) {
            if (i) buf_puts(b, ", ");
            if (e->kind == E_STRUCT) buf_printf(b, "%s: ", e->type->fields[i].name);
            expr_explain(b, e->args[i], in);
        }
        buf_putc(b, e->kind == E_LIST ? ']' : '}');
        return;
    case E_CAST: {
        char *t = type_to_string(e->type);
        buf_puts(b, "cast(");
        expr_explain(b, e->args[0], in);
        buf_printf(b, " as %s)", t);
        free(t);
        return;
    }
    case E_CALL: case E_SEMANTIC:
        if (e->kind == E_SEMANTIC && e->conf) buf_puts(b, e->conf == 2 ? "provenance(" : "confidence(");
        /* internal functions (__attach: a medium in a template) are shown without their prefix */
        buf_printf(b, "%s(", e->fn ? e->fn->name + (strncmp(e->fn->name, "__", 2) ? 0 : 2) : e->name);
        for (int i = 0; i < e->nargs; i++) {
            if (i) buf_puts(b, ", ");
            if (e->argnames && e->argnames[i]) buf_printf(b, "%s: ", e->argnames[i]);
            expr_explain(b, e->args[i], in);
        }
        buf_puts(b, e->kind == E_SEMANTIC && e->conf ? "))" : ")");
        return;
    case E_AGG:
        buf_printf(b, "agg#%d", (int)e->ival);
        return;
    case E_LOOP:
        buf_printf(b, "for(%s in ", e->name);
        expr_explain(b, e->args[0], in);
        buf_puts(b, ": ");
        expr_explain(b, e->args[1], in);
        if (e->nargs > 2) { buf_puts(b, " else "); expr_explain(b, e->args[2], in); }
        buf_putc(b, ')');
        return;
    case E_LOOPVAR:
        buf_puts(b, e->name ? e->name : e->flag ? "loop" : "item");
        return;
    case E_SUBQUERY:
        buf_puts(b, e->flag ? "(list subquery)" : "(subquery)");
        return;
    }
}

Plan *plan_new(PlanKind k, Plan *child, const Node *at)
{
    Plan *p = xcalloc(1, sizeof *p);
    p->kind = k;
    p->refcnt = 1;
    p->child = child;
    p->limit = -1;
    p->row_bound = -1;
    p->want_rows = -1;
    p->est_rows = p->est_requests = p->est_literal = -1;
    if (at) { p->src = at->src; p->pos = at->pos; }
    return p;
}

Plan *plan_ref(Plan *p)
{
    if (p) p->refcnt++;
    return p;
}

void plan_free(Plan *p)
{
    if (!p || --p->refcnt > 0) return;
    plan_free(p->child);
    plan_free(p->right);
    schema_free(p->schema);
    for (int i = 0; i < p->nexprs; i++) expr_free(p->exprs[i]);
    free(p->exprs);
    free(p->targets);
    free(p->unread);
    for (int i = 0; i < p->naggs; i++) {
        for (int j = 0; j < p->aggs[i].nargs; j++) expr_free(p->aggs[i].args[j]);
        free(p->aggs[i].args);
        type_unref(p->aggs[i].type);
    }
    free(p->aggs);
    free(p->desc);
    free(p->nulls_first);
    free(p->eq_left);
    free(p->eq_right);
    free(p->path);
    expr_free(p->dec[0]);
    expr_free(p->dec[1]);
    expr_free(p->dec_plan);
    expr_free(p->dec_num[0]);
    expr_free(p->dec_num[1]);
    free(p->dec_prop);
    free(p->ropts.projection);
    free(p->cache_key);
    free(p->note);
    free(p->analysis);
    schema_free(p->scan_schema);
    remote_files_free(p->ropts.fetched);
    free(p->scan_exclude);
    table_free(p->rows);
    free(p);
}

static const char *const join_names[] = { "inner", "left", "right", "full", "cross" };

static void explain_list(Buf *b, Expr **es, int n, const Schema *in)
{
    for (int i = 0; i < n; i++) {
        if (i) buf_puts(b, ", ");
        expr_explain(b, es[i], in);
    }
}

void plan_explain(Buf *b, const Plan *p, int depth)
{
    for (int i = 0; i < depth; i++) buf_puts(b, "  ");
    const Schema *in = p->child ? p->child->schema : NULL;
    switch (p->kind) {
    case P_SCAN: {
        static const char *const fmts[] = { "csv", "tsv", "json", "jsonl", "table", "markdown", "parquet", "docs", "pdf_metadata" };
        buf_printf(b, "scan %s(\"%s\"", fmts[p->format], p->path);
        if (p->scan_exclude) buf_printf(b, ", exclude: \"%s\"", p->scan_exclude);
        buf_putc(b, ')');
        break;
    }
    case P_VALUES: buf_printf(b, "values (%zu rows)", p->rows ? p->rows->nrows : (size_t)0); break;
    case P_SYSTEM: buf_printf(b, "scan %s", p->path); break;
    case P_FILTER: buf_puts(b, "where "); explain_list(b, p->exprs, p->nexprs, in); break;
    case P_PROJECT:
        buf_puts(b, "select ");
        for (int i = 0; i < p->nexprs; i++) {
            if (i) buf_puts(b, ", ");
            expr_explain(b, p->exprs[i], in);
            if (!(p->exprs[i]->kind == E_COL && in && !strcmp(in->names[p->exprs[i]->ival], p->schema->names[i])))
                buf_printf(b, " as %s", p->schema->names[i]);
        }
        break;
    case P_DERIVE:
        buf_puts(b, "derive ");
        for (int i = 0; i < p->nexprs; i++) {
            if (i) buf_puts(b, ", ");
            buf_printf(b, "%s = ", p->schema->names[p->targets[i]]);
            expr_explain(b, p->exprs[i], p->schema);
        }
        break;
    case P_AGG:
        if (p->nkeys) { buf_puts(b, "group by "); explain_list(b, p->exprs, p->nkeys, in); buf_putc(b, ' '); }
        buf_puts(b, "agg ");
        for (int i = 0; i < p->naggs; i++) {
            if (i) buf_puts(b, ", ");
            buf_printf(b, "%s(%s", p->aggs[i].def->name, p->aggs[i].distinct ? "distinct " : "");
            if (p->aggs[i].nargs == 0) buf_putc(b, '*');
            explain_list(b, p->aggs[i].args, p->aggs[i].nargs, in);
            buf_putc(b, ')');
        }
        break;
    case P_SORT:
        buf_puts(b, "order by ");
        for (int i = 0; i < p->nexprs; i++) {
            if (i) buf_puts(b, ", ");
            expr_explain(b, p->exprs[i], in);
            buf_puts(b, p->desc[i] ? " desc" : " asc");
            buf_puts(b, p->nulls_first[i] ? " nulls first" : " nulls last");
        }
        break;
    case P_LIMIT:
        buf_printf(b, "limit %lld", (long long)p->limit);
        if (p->offset) buf_printf(b, " offset %lld", (long long)p->offset);
        break;
    case P_DISTINCT:
        buf_puts(b, "distinct");
        if (p->nexprs) { buf_putc(b, ' '); explain_list(b, p->exprs, p->nexprs, in); }
        break;
    case P_JOIN:
        buf_printf(b, "%s join", join_names[p->jointype]);
        if (p->neq) {
            buf_puts(b, " using (");
            for (int i = 0; i < p->neq; i++) buf_printf(b, "%s%s", i ? ", " : "", p->child->schema->names[p->eq_left[i]]);
            buf_putc(b, ')');
        } else if (p->nexprs) {
            /* the condition reads the left ++ right columns */
            Schema *all = schema_copy(p->child->schema);
            for (int i = 0; i < p->right->schema->n; i++) schema_add(all, p->right->schema->names[i], type_ref(p->right->schema->types[i]));
            buf_puts(b, " on ");
            expr_explain(b, p->exprs[0], all);
            schema_free(all);
        }
        break;
    case P_UNION: buf_puts(b, p->all ? "union all" : "union"); break;
    case P_EXPLODE: buf_printf(b, "explode%s %s", p->outer ? " outer" : "", in->names[p->col]); break;
    case P_UNNEST: buf_printf(b, "unnest %s", in->names[p->col]); break;
    case P_CACHE: buf_puts(b, "cache"); break;
    case P_WRITE: {
        static const char *const fmts[] = { "csv", "tsv", "json", "jsonl", "table", "markdown", "parquet", "docs", "pdf_metadata" };
        buf_printf(b, "write %s(\"%s\")", fmts[p->format], p->path);
        break;
    }
    case P_CLUSTER:
        buf_puts(b, "cluster by ");
        expr_explain(b, p->exprs[0], in);
        buf_printf(b, " into %lld as %s", (long long)p->k, p->schema->names[in->n]);
        if (p->schema->n > in->n + 1) buf_printf(b, " centroid as %s", p->schema->names[in->n + 1]);
        buf_printf(b, " seed: %lld, max_iter: %lld", (long long)p->seed, (long long)p->max_iter);
        break;
    case P_SIMJOIN: {
        static const char *const metrics[] = { "cosine", "dot", "l2" };
        buf_puts(b, "sim join on ");
        expr_explain(b, p->exprs[0], in);
        buf_puts(b, " ~ ");
        expr_explain(b, p->exprs[1], p->right->schema);
        buf_printf(b, " top %lld metric %s as %s", (long long)p->k, metrics[p->metric], p->schema->names[p->schema->n - 1]);
        break;
    }
    case P_TOPK: {
        const Expr *m = expr_arg(p->exprs[1], "model");
        buf_printf(b, "top %lld by ", (long long)p->k);
        Value t = v_cstring(p->path);
        value_to_json(b, t);
        value_free(t);
        if (m && m->kind == E_LIT && m->lit.kind == V_STRING) buf_printf(b, " model %s", v_str(m->lit));
        buf_printf(b, " group: %d (a tournament: each request picks the best of up to %d rows)", p->group, p->group);
        break;
    }
    case P_RESOLVE: {
        const char *c = p->child->schema->names[p->col];
        buf_printf(b, "resolve %s into %s_group, %s_canonical (the connected components of the pairs judged the same; "
                      "canonical: the most frequent spelling)", c, c, c);
        break;
    }
    case P_SEMJOIN: {
        const Expr *m = expr_arg(p->exprs[0], "model");
        buf_puts(b, "semantic join on ");
        Value t = v_cstring(p->path);
        value_to_json(b, t);
        value_free(t);
        if (m && m->kind == E_LIT && m->lit.kind == V_STRING) buf_printf(b, " model %s", v_str(m->lit));
        if (p->prefilter == PREFILTER_OFF) buf_puts(b, " prefilter: off");
        else if (p->nexprs < 3) buf_puts(b, " prefilter: none (no embedding model, or the template names one side only)");
        else if (p->prefilter == PREFILTER_EMBED) buf_printf(b, " prefilter: embed top %lld (may drop matching pairs)", (long long)p->k);
        else buf_printf(b, " prefilter: auto (every pair up to max_pairs %lld; above, the pairs over a similarity threshold "
                           "for recall %g learned from %d judged pairs)", (long long)p->max_pairs, p->recall, SEMJOIN_SAMPLE);
        if (p->triangle) buf_puts(b, " (each pair of distinct values once)");
        else if (p->rewrite_off) buf_puts(b, " decompose: off (rewrite: off)");
        else if (p->dec_plan && p->est_rows >= 0 && p->est_literal < 0)
            ;   /* too few pairs to try: nothing to say */
        else if (p->dec_plan)
            buf_printf(b, " decompose: auto (one planning request asks the model whether the condition compares one property "
                          "of each side, and which), used when %lld pairs judged literally agree at %g or more",
                       (long long)p->dec_sample, p->dec_agree);
        else if (p->dec[0]) {
            static const char *const rels[] = { "equal", "not equal", "less", "greater" };
            buf_printf(b, " decompose: %s (%s) [", p->dec_prop, rels[p->dec_rel]);
            for (int i = 0; i < p->dec[0]->type->nlabels; i++) {
                Value l = v_cstring(p->dec[0]->type->labels[i]);
                if (i) buf_puts(b, ", ");
                value_to_json(b, l);
                value_free(l);
            }
            buf_printf(b, "], used when %lld pairs judged literally agree at %g or more", (long long)p->dec_sample, p->dec_agree);
        }
        if (p->dec[0] && !p->rewrite_off && !(p->dec_plan && p->est_rows >= 0 && p->est_literal < 0)) {
            if (p->est_requests >= 0 && p->est_literal >= 0)
                buf_printf(b, " (~%.0f requests); else the literal plan (~%.0f requests for the pairs, the sample's answers reused)"
                              "; which runs is decided at run time", p->est_requests, p->est_literal);
            else if (p->est_rows >= 0)
                buf_puts(b, "; not tried when the pairs are no more requests than the classifications and the sample");
        }
        break;
    }
    }
    if (p->est_rows >= 0) {
        char rows[64];   /* "row" only when the printed number is 1 (0.5 prints as 0) */
        snprintf(rows, sizeof rows, "%.0f", p->est_rows);
        buf_printf(b, "  [~%s row%s", rows, strcmp(rows, "1") ? "s" : "");
        if (p->est_requests > 0) buf_printf(b, ", ~%.0f requests", p->est_requests);
        if (p->est_strong_hi > 0)   /* a cascade's: how many the thresholds leave to it is known only when it runs */
        {
            buf_puts(b, p->est_requests > 0 ? " + " : ", ");
            if (p->est_strong_lo < p->est_strong_hi) buf_printf(b, "~%.0f to ~%.0f", p->est_strong_lo, p->est_strong_hi);
            else buf_printf(b, "~%.0f", p->est_strong_hi);
            buf_puts(b, p->est_requests > 0 ? "" : " requests");
            buf_puts(b, " for the cascade's strong model");
        }
        buf_putc(b, ']');
    }
    if (p->note) buf_printf(b, "  -- %s", p->note);
    if (p->analysis) {
        buf_putc(b, '\n');
        for (int i = 0; i < depth; i++) buf_puts(b, "  ");
        buf_printf(b, "  | %s", p->analysis);
    }
    buf_putc(b, '\n');
    if (p->child) plan_explain(b, p->child, depth + 1);
    if (p->right) plan_explain(b, p->right, depth + 1);
}

/* See plan.h: the bound of exec_topk.c's tournament, level by level. */
double plan_topk_requests(double n, int64_t k, int group)
{
    if (n < 2 || k < 1 || group < 2) return 0;
    /* building the tree: a request per group of two or more at each level */
    double build = 0, depth = 0;
    for (double m = floor(n); m > 1; m = ceil(m / group)) {
        double groups = ceil(m / group);
        build += groups - (fmod(m, group) == 1 ? 1 : 0);
        depth++;
    }
    /* each winner after the first: its group at every level asked again, at most */
    double kk = (double)k < n ? (double)k : floor(n);
    return build + (kk - 1) * depth;
}

/* See plan.h: {best: enum("1", ..., "m")}. */
Type *plan_topk_answer(int m)
{
    char **labels = xcalloc((size_t)m, sizeof *labels);
    for (int i = 0; i < m; i++) labels[i] = xasprintf("%d", i + 1);
    Type *t = type_struct_new(1);
    t->fields[0].name = xstrdup("best");
    t->fields[0].type = type_enum_new(m, labels);
    return t;
}

/* ---- copies (the optimizer rewrites a copy: a let's plan is shared by every statement using it) ---- */

Expr *expr_copy(const Expr *e)
{
    if (!e) return NULL;
    Expr *c = xcalloc(1, sizeof *c);
    *c = *e;
    c->type = type_ref(e->type);
    c->vtype = e->vtype ? type_ref(e->vtype) : NULL;
    c->lit = value_copy(e->lit);
    c->name = e->name ? xstrdup(e->name) : NULL;
    c->sem = e->sem;
    c->sub = e->sub ? plan_ref(e->sub) : NULL;
    c->args = e->nargs ? xmalloc((size_t)e->nargs * sizeof *c->args) : NULL;
    c->argnames = e->argnames ? xcalloc((size_t)e->nargs + 1, sizeof *c->argnames) : NULL;
    for (int i = 0; i < e->nargs; i++) {
        c->args[i] = expr_copy(e->args[i]);
        if (e->argnames && e->argnames[i]) c->argnames[i] = xstrdup(e->argnames[i]);
    }
    return c;
}

static int *ints_copy(const int *a, int n)
{
    if (!a || n <= 0) return NULL;
    int *c = xmalloc((size_t)n * sizeof *c);
    memcpy(c, a, (size_t)n * sizeof *c);
    return c;
}

Plan *plan_copy(const Plan *p)
{
    if (!p) return NULL;
    /* leaves that are never rewritten are shared */
    if (p->kind == P_VALUES || p->kind == P_SYSTEM) return plan_ref((Plan *)p);
    Plan *c = xcalloc(1, sizeof *c);
    *c = *p;
    c->refcnt = 1;
    c->child = plan_copy(p->child);
    c->right = plan_copy(p->right);
    c->schema = schema_copy(p->schema);
    c->exprs = p->nexprs ? xmalloc((size_t)p->nexprs * sizeof *c->exprs) : NULL;
    for (int i = 0; i < p->nexprs; i++) c->exprs[i] = expr_copy(p->exprs[i]);
    int ntargets = p->kind == P_JOIN ? p->schema->n : p->nexprs;
    c->targets = ints_copy(p->targets, ntargets);
    if (p->unread) {
        c->unread = xmalloc((size_t)p->schema->n);
        memcpy(c->unread, p->unread, (size_t)p->schema->n);
    }
    c->aggs = p->naggs ? xcalloc((size_t)p->naggs, sizeof *c->aggs) : NULL;
    for (int i = 0; i < p->naggs; i++) {
        c->aggs[i] = p->aggs[i];
        c->aggs[i].type = type_ref(p->aggs[i].type);
        c->aggs[i].args = p->aggs[i].nargs ? xmalloc((size_t)p->aggs[i].nargs * sizeof *c->aggs[i].args) : NULL;
        for (int j = 0; j < p->aggs[i].nargs; j++) c->aggs[i].args[j] = expr_copy(p->aggs[i].args[j]);
    }
    c->desc = ints_copy(p->desc, p->nexprs);
    c->nulls_first = ints_copy(p->nulls_first, p->nexprs);
    c->eq_left = ints_copy(p->eq_left, p->neq);
    c->eq_right = ints_copy(p->eq_right, p->neq);
    c->path = p->path ? xstrdup(p->path) : NULL;
    for (int i = 0; i < 2; i++) c->dec[i] = p->dec[i] ? expr_copy(p->dec[i]) : NULL;
    for (int i = 0; i < 2; i++) c->dec_num[i] = p->dec_num[i] ? expr_copy(p->dec_num[i]) : NULL;
    c->dec_plan = p->dec_plan ? expr_copy(p->dec_plan) : NULL;
    c->dec_prop = p->dec_prop ? xstrdup(p->dec_prop) : NULL;
    c->scan_schema = p->scan_schema ? schema_copy(p->scan_schema) : NULL;
    if (c->scan_schema) c->ropts.schema = c->scan_schema;
    c->scan_exclude = p->scan_exclude ? xstrdup(p->scan_exclude) : NULL;
    c->ropts.exclude = c->scan_exclude;
    c->ropts.projection = ints_copy(p->ropts.projection, p->schema->n);
    c->ropts.fetched = remote_files_ref(p->ropts.fetched);
    c->rows = NULL;
    c->cache_key = p->cache_key ? xstrdup(p->cache_key) : NULL;
    c->note = p->note ? xstrdup(p->note) : NULL;
    c->analysis = NULL;
    return c;
}
