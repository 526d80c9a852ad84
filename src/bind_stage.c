/* bind_stage.c: the binder's pipelines and stages: where, select, derive, group, order, limit,
 * join, union, explode, write ..., and the stages that embed or ask a model: cluster, sim join,
 * semantic join. Each stage infers its output schema and qualifiers and lowers to a Plan.
 */
#include <stdlib.h>
#include <string.h>
#include "bind_int.h"

/* write parquet(...)'s compression: and row_group_size: (args[2], args[3]). */
static int bind_write_options(Binder *b, const Node **args, WriteOptions *wo)
{
    if (args[2]) {
        static const char *const names[] = { "none", "snappy", "zstd", "gzip" };
        static const Compression codes[] = { COMPRESS_NONE, COMPRESS_SNAPPY, COMPRESS_ZSTD, COMPRESS_GZIP };
        const char *c = args[2]->kind == N_STRING || args[2]->kind == N_IDENT ? args[2]->str : "";
        for (int i = 0; i < 4; i++)
            if (!strcmp(c, names[i])) wo->compression = codes[i];
        if (!wo->compression) { bind_errn(b, args[2], "compression: takes \"zstd\", \"snappy\", \"gzip\" or \"none\""); return -1; }
    }
    if (args[3]) {
        if (args[3]->kind != N_INT || args[3]->ival < 1) { bind_errn(b, args[3], "row_group_size: takes a positive int (rows per row group)"); return -1; }
        wo->row_group_size = (size_t)args[3]->ival;
    }
    return 0;
}

static Scope scope_of(const Plan *p, char **quals)
{
    Scope sc;
    memset(&sc, 0, sizeof sc);
    sc.schema = p->schema;
    sc.quals = quals;
    sc.input = p;
    sc.input_items = -1;
    return sc;
}

/* Unique output name: avoid duplicate column names in a select. */
static char *expr_default_name(const Node *n, int idx)
{
    if (n->kind == N_IDENT) return xstrdup(n->str);
    if (n->kind == N_FIELD) return xstrdup(n->str);
    if (n->kind == N_CALL) return xstrdup(n->str);
    return xasprintf("col%d", idx + 1);
}

static Plan *bind_select(Binder *b, Plan *in, char ***quals, const Node *st)
{
    Scope sc = scope_of(in, *quals);
    Plan *p = plan_new(P_PROJECT, in, st);
    p->schema = schema_new();
    int cap = 0;
    char **nq = NULL;
    for (int i = 0; i < st->nkids; i++) {
        const Node *it = st->kids[i];
        if (it->kind == N_STAR) {
            for (int k = 0; k < it->nkids; k++)
                if (schema_find(in->schema, it->kids[k]->str) < 0) { bind_unknown_column(b, &sc, it->kids[k], it->kids[k]->str); goto fail; }
            for (int c = 0; c < in->schema->n; c++) {
                int skip = 0;
                for (int k = 0; k < it->nkids; k++)
                    if (!strcmp(it->kids[k]->str, in->schema->names[c])) skip = 1;
                if (skip) continue;
                Expr *e = bind_col_expr(&sc, c, it);
                p->exprs = xrealloc(p->exprs, (size_t)(p->nexprs + 1) * sizeof *p->exprs);
                p->exprs[p->nexprs++] = e;
                schema_add(p->schema, in->schema->names[c], type_ref(e->type));
                if (p->schema->n > cap) { cap = p->schema->n * 2; nq = xrealloc(nq, (size_t)cap * sizeof *nq); }
                nq[p->schema->n - 1] = (*quals)[c] ? xstrdup((*quals)[c]) : NULL;
            }
            continue;
        }
        Expr *e = bind_expr(b, &sc, it->a);
        if (!e) goto fail;
        char *name = it->str ? xstrdup(it->str) : expr_default_name(it->a, i);
        if (schema_find(p->schema, name) >= 0) {
            if (it->str) {
                bind_errn(b, it, "column '%s' is selected twice (rename one with `as`)", name);
                free(name); expr_free(e);
                goto fail;
            }
            for (int k = 2;; k++) {
                char *alt = xasprintf("%s_%d", name, k);
                if (schema_find(p->schema, alt) < 0) { free(name); name = alt; break; }
                free(alt);
            }
        }
        p->exprs = xrealloc(p->exprs, (size_t)(p->nexprs + 1) * sizeof *p->exprs);
        p->exprs[p->nexprs++] = e;
        schema_add(p->schema, name, type_ref(e->type));
        if (p->schema->n > cap) { cap = p->schema->n * 2; nq = xrealloc(nq, (size_t)cap * sizeof *nq); }
        nq[p->schema->n - 1] = (e->kind == E_COL && (*quals)[e->ival]) ? xstrdup((*quals)[e->ival]) : NULL;
        free(name);
    }
    bind_quals_free(*quals, in->schema->n);
    *quals = nq ? nq : bind_quals_new(0, NULL);
    return p;
fail:
    for (int i = 0; i < p->schema->n; i++) free(nq[i]);
    free(nq);
    plan_free(p);
    return NULL;
}

static Plan *bind_derive(Binder *b, Plan *in, char ***quals, const Node *st)
{
    Plan *p = plan_new(P_DERIVE, in, st);
    Schema *work = schema_copy(in->schema);
    int n0 = work->n;
    char **q = *quals;
    p->targets = xcalloc((size_t)st->nkids + 1, sizeof *p->targets);
    for (int i = 0; i < st->nkids; i++) {
        const Node *it = st->kids[i];
        Scope sc;
        memset(&sc, 0, sizeof sc);
        sc.schema = work;
        sc.quals = q;
        sc.input = p;          /* the items before this one, then the derive's input */
        sc.input_items = i;
        Expr *e = bind_expr(b, &sc, it->a);
        /* q may have grown (realloc) for the items before: the caller frees the array it is handed back */
        if (!e) { *quals = q; schema_free(work); plan_free(p); return NULL; }
        int c = schema_find(work, it->str);
        if (c < 0) {
            schema_add(work, it->str, type_ref(e->type));
            c = work->n - 1;
            q = xrealloc(q, (size_t)work->n * sizeof *q);
            q[c] = NULL;
        } else {
            type_unref(work->types[c]);
            work->types[c] = type_ref(e->type);
        }
        p->exprs = xrealloc(p->exprs, (size_t)(p->nexprs + 1) * sizeof *p->exprs);
        p->exprs[p->nexprs++] = e;
        p->targets[i] = c;
    }
    (void)n0;
    *quals = q;
    p->schema = work;
    return p;
}

static Plan *bind_group(Binder *b, Plan *in, char ***quals, const Node *st)
{
    Scope sc = scope_of(in, *quals);
    Plan *p = plan_new(P_AGG, in, st);
    p->schema = schema_new();
    const Node *keys = st->a, *aggs = st->b;
    for (int i = 0; keys && i < keys->nkids; i++) {
        const Node *it = keys->kids[i];
        Expr *e = bind_expr(b, &sc, it->a);
        if (!e) goto fail;
        if (expr_is_semantic(e)) { /* allowed: grouping by a model's answer */ }
        char *name = it->str ? xstrdup(it->str) : expr_default_name(it->a, i);
        if (schema_find(p->schema, name) >= 0) { bind_errn(b, it, "group key '%s' appears twice", name); free(name); expr_free(e); goto fail; }
        p->exprs = xrealloc(p->exprs, (size_t)(p->nexprs + 1) * sizeof *p->exprs);
        p->exprs[p->nexprs++] = e;
        schema_add(p->schema, name, type_ref(e->type));
        free(name);
    }
    p->nkeys = p->nexprs;
    sc.in_agg = 1;
    for (int i = 0; aggs && i < aggs->nkids; i++) {
        const Node *it = aggs->kids[i];
        int before = sc.naggs;
        Expr *e = bind_expr(b, &sc, it->a);
        if (!e) goto fail;
        if (sc.naggs == before && !(e->kind == E_LIT)) {
            /* an agg item must aggregate: a bare column is ambiguous across the group */
            expr_free(e);
            bind_errn(b, it->a, "'%s' in agg must be an aggregate such as count(*), sum(x), first(x) (or add it to `group by`)", it->str);
            goto fail;
        }
        if (schema_find(p->schema, it->str) >= 0) { bind_errn(b, it, "column '%s' appears twice in group by/agg", it->str); expr_free(e); goto fail; }
        /* aggregate item: an expression over E_AGG refs, evaluated after grouping */
        p->exprs = xrealloc(p->exprs, (size_t)(p->nexprs + 1) * sizeof *p->exprs);
        p->exprs[p->nexprs++] = e;
        schema_add(p->schema, it->str, type_ref(e->type));
    }
    p->aggs = sc.aggs;
    p->naggs = sc.naggs;
    bind_quals_free(*quals, in->schema->n);
    *quals = bind_quals_new(p->schema->n, NULL);
    return p;
fail:
    p->aggs = sc.aggs;
    p->naggs = sc.naggs;
    plan_free(p);
    return NULL;
}

/* The columns of left ++ right as a join outputs them: a right-side name that clashes is renamed
 * QUAL_col (QUAL_col_2, ...), QUAL being the right side's alias or "right". *q receives each
 * column's qualifier (an array of l->n + r->n; caller frees with bind_quals_free). */
static Schema *pair_schema(const Schema *l, char **lquals, const Schema *r, char **rquals, const char *rq, char ***q)
{
    Schema *all = schema_copy(l);
    *q = xcalloc((size_t)(l->n + r->n) + 1, sizeof **q);
    for (int i = 0; i < l->n; i++) (*q)[i] = lquals[i] ? xstrdup(lquals[i]) : NULL;
    for (int j = 0; j < r->n; j++) {
        char *name = xstrdup(r->names[j]);
        for (int k = 1; schema_find(all, name) >= 0; k++) {
            free(name);
            name = k == 1 ? xasprintf("%s_%s", rq ? rq : "right", r->names[j]) : xasprintf("%s_%s_%d", rq ? rq : "right", r->names[j], k);
        }
        schema_add(all, name, type_ref(r->types[j]));
        (*q)[l->n + j] = rquals && rquals[j] ? xstrdup(rquals[j]) : (rq ? xstrdup(rq) : NULL);
        free(name);
    }
    return all;
}

/* The qualifier of a join's right side: its alias, or the name its columns carry. */
static const char *right_qual(const Node *src, const Plan *right, char **rquals)
{
    return src->str2 ? src->str2 : (rquals && right->schema->n ? rquals[0] : NULL);
}

static Plan *bind_join(Binder *b, Plan *left, char ***lquals, const Node *st)
{
    char **rquals = NULL;
    Plan *right = bind_source(b, st->a, &rquals);
    if (!right) { plan_free(left); return NULL; }
    Plan *p = plan_new(P_JOIN, left, st);
    p->right = right;
    p->jointype = st->flag;
    int nl = left->schema->n, nr = right->schema->n;
    char **q;
    Schema *all = pair_schema(left->schema, *lquals, right->schema, rquals, right_qual(st->a, right, rquals), &q);
    int *keep_right = xcalloc((size_t)nr + 1, sizeof *keep_right);
    const Node *using_ = st->c;
    for (int j = 0; j < nr; j++) {
        keep_right[j] = 1;
        for (int u = 0; using_ && u < using_->nkids; u++)
            if (!strcmp(using_->kids[u]->str, right->schema->names[j])) keep_right[j] = 0;
    }
    Scope sc;
    memset(&sc, 0, sizeof sc);
    sc.schema = all;
    sc.quals = q;
    if (using_) {
        /* using (a, b): equality on same-named columns; one copy of each key in the output */
        p->neq = using_->nkids;
        p->eq_left = xcalloc((size_t)p->neq + 1, sizeof *p->eq_left);
        p->eq_right = xcalloc((size_t)p->neq + 1, sizeof *p->eq_right);
        for (int u = 0; u < using_->nkids; u++) {
            const char *nm = using_->kids[u]->str;
            int li = schema_find(left->schema, nm), ri = schema_find(right->schema, nm);
            if (li < 0 || ri < 0) {
                bind_errn(b, using_->kids[u], "using (%s): the column must exist on both sides (%s side lacks it)", nm, li < 0 ? "left" : "right");
                goto fail;
            }
            if (!bind_comparable(left->schema->types[li], right->schema->types[ri])) {
                bind_errn(b, using_->kids[u], "using (%s): the two sides have incompatible types", nm);
                goto fail;
            }
            p->eq_left[u] = li;
            p->eq_right[u] = ri;
        }
    } else if (st->b) {
        Expr *on = bind_expr(b, &sc, st->b);
        if (!on) goto fail;
        if (bind_expect_bool(b, st->b, on, "join ... on")) { expr_free(on); goto fail; }
        p->exprs = xcalloc(1, sizeof *p->exprs);
        p->exprs[0] = on;
        p->nexprs = 1;
    } else if (st->flag != JOIN_CROSS) {
        bind_errn(b, st, "a join needs `on CONDITION` or `using (columns)` (or write `cross join`)");
        goto fail;
    }
    /* output schema: all left columns, then right columns not merged by using */
    Schema *out = schema_new();
    char **oq = xcalloc((size_t)(nl + nr) + 1, sizeof *oq);
    int *map = xcalloc((size_t)(nl + nr) + 1, sizeof *map);
    int k = 0;
    for (int i = 0; i < nl + nr; i++) {
        if (i >= nl && !keep_right[i - nl]) continue;
        schema_add(out, all->names[i], type_ref(all->types[i]));
        oq[k] = q[i] ? xstrdup(q[i]) : NULL;
        map[k++] = i;
    }
    p->schema = out;
    p->targets = map;      /* output column k = combined column map[k] */
    bind_quals_free(*lquals, nl);
    *lquals = oq;
    bind_quals_free(q, nl + nr);
    bind_quals_free(rquals, nr);
    schema_free(all);
    free(keep_right);
    return p;
fail:
    bind_quals_free(q, nl + nr);
    bind_quals_free(rquals, nr);
    schema_free(all);
    free(keep_right);
    plan_free(p);
    return NULL;
}

static Plan *bind_union(Binder *b, Plan *left, char ***lquals, const Node *st)
{
    char **rquals = NULL;
    Plan *right = bind_source(b, st->a, &rquals);
    if (!right) { plan_free(left); return NULL; }
    bind_quals_free(rquals, right->schema->n);
    if (right->schema->n != left->schema->n) {
        bind_errn(b, st, "union: the left side has %d columns but the right side has %d", left->schema->n, right->schema->n);
        plan_free(left); plan_free(right);
        return NULL;
    }
    Plan *p = plan_new(P_UNION, left, st);
    p->right = right;
    p->all = st->flag;
    p->schema = schema_new();
    for (int i = 0; i < left->schema->n; i++) {
        Type *u = type_unify(left->schema->types[i], right->schema->types[i]);
        if (!u) {
            char *a = bind_tystr(left->schema->types[i]), *c = bind_tystr(right->schema->types[i]);
            bind_errn(b, st, "union: column %d ('%s') is %s on the left but %s on the right", i + 1, left->schema->names[i], a, c);
            free(a); free(c);
            plan_free(p);
            return NULL;
        }
        schema_add(p->schema, left->schema->names[i], u);
    }
    return p;
}

static int const_count(Binder *b, const Node *n, int64_t *out, const char *what)
{
    int ok;
    Value v = bind_const_int_value(n, &ok);
    if (!ok || v.u.i < 0) return bind_errn(b, n, "%s takes a non-negative integer", what);
    *out = v.u.i;
    return 0;
}

/* ---- cluster, sim join, semantic join ---- */

/* May t hold a vector (a list of numbers) at run time? */
static int vector_like(const Type *t)
{
    if (t->kind == TY_LIST) return type_is_numeric(t->elem) || t->elem->kind == TY_ANY || t->elem->kind == TY_JSON;
    return t->kind == TY_VECTOR || t->kind == TY_NULL || t->kind == TY_ANY || t->kind == TY_JSON;
}

/* Refuse a stage option whose name is not in names (NULL-terminated), suggesting the nearest. */
static int known_option(Binder *b, const Node *opt, const char *stage, const char *const *names)
{
    size_t n = 0;
    while (names[n]) n++;
    for (size_t i = 0; i < n; i++)
        if (!strcmp(names[i], opt->str)) return 0;
    const char *best = closest_name(opt->str, names, n);
    if (best) return bind_errn(b, opt, "%s has no option '%s'; did you mean '%s'?", stage, opt->str, best);
    return bind_errn(b, opt, "%s has no option '%s'", stage, opt->str);
}

/* Append a column the stage computes; a name already taken is an error. */
static int add_out_col(Binder *b, const Node *at, Plan *p, char ***quals, const char *name, Type *t, const char *what)
{
    if (schema_find(p->schema, name) >= 0) {
        type_unref(t);
        return bind_errn(b, at, "%s: a column named '%s' already exists; choose another name", what, name);
    }
    schema_add(p->schema, name, t);
    *quals = xrealloc(*quals, (size_t)p->schema->n * sizeof **quals);
    (*quals)[p->schema->n - 1] = NULL;
    return 0;
}

/* cluster by EXPR into K as NAME [centroid as NAME] [seed: N, max_iter: N] */
static Plan *bind_cluster(Binder *b, Plan *in, char ***quals, const Node *st)
{
    Scope sc = scope_of(in, *quals);
    Expr *v = bind_expr(b, &sc, st->a);
    if (!v) { plan_free(in); return NULL; }
    Plan *p = plan_new(P_CLUSTER, in, st);
    p->exprs = xcalloc(1, sizeof *p->exprs);
    p->exprs[p->nexprs++] = v;
    p->k = st->ival;
    p->seed = 42;
    p->max_iter = 100;
    if (!vector_like(v->type)) {
        char *ts = bind_tystr(v->type);
        bind_errn(b, st->a, "cluster by needs a vector (a list of numbers, e.g. embed(text)), got %s", ts);
        free(ts);
        goto fail;
    }
    static const char *const opts[] = { "seed", "max_iter", NULL };
    for (int i = 0; i < st->nkids; i++) {
        const Node *o = st->kids[i];
        if (known_option(b, o, "cluster", opts)) goto fail;
        int ok;
        Value x = bind_const_int_value(o->a, &ok);
        int is_seed = !strcmp(o->str, "seed");
        if (!ok || x.u.i < (is_seed ? 0 : 1)) {
            bind_errn(b, o->a, "%s: takes %s integer", o->str, is_seed ? "a non-negative" : "a positive");
            goto fail;
        }
        if (is_seed) p->seed = x.u.i; else p->max_iter = x.u.i;
    }
    p->schema = schema_copy(in->schema);
    if (add_out_col(b, st, p, quals, st->str, type_int(), "cluster")) goto fail;
    if (st->str2) {
        Type *ct = v->type->kind == TY_VECTOR ? type_ref(v->type) : type_list(type_float());
        if (add_out_col(b, st, p, quals, st->str2, ct, "cluster")) goto fail;
    }
    return p;
fail:
    plan_free(p);
    return NULL;
}

/* Does n name `side.x` somewhere? */
static const Node *names_side(const Node *n, const char *side)
{
    if (!n) return NULL;
    if (n->kind == N_FIELD && n->a->kind == N_IDENT && !strcmp(n->a->str, side)) return n;
    const Node *f = names_side(n->a, side);
    if (!f) f = names_side(n->b, side);
    if (!f) f = names_side(n->c, side);
    for (int i = 0; !f && i < n->nkids; i++) f = names_side(n->kids[i], side);
    return f;
}

/* One side of `sim join ... on L ~ R`: a vector, or text embedded with the default embedding model. */
static Expr *bind_sim_side(Binder *b, Scope *sc, const Node *n, const char *side)
{
    const char *other = !strcmp(side, "left") ? "right" : "left";
    const Node *wrong = bind_find_col(sc, NULL, other) < 0 ? names_side(n, other) : NULL;
    if (wrong) {
        bind_errn(b, wrong, "sim join: the %s side of ~ reads the %s's columns; `%s.%s` belongs on the %s of ~", side,
                  !strcmp(side, "left") ? "pipeline" : "source", other, wrong->str, other);
        return NULL;
    }
    Expr *e = bind_expr(b, sc, n);
    if (!e) return NULL;
    if (type_is_stringish(e->type) && e->type->kind != TY_NULL) return bind_embed_default(b, e, n, "sim join");
    if (vector_like(e->type)) return e;
    char *ts = bind_tystr(e->type);
    bind_errn(b, n, "sim join: the %s side of ~ must be a vector (a list of numbers) or text to embed, got %s", side, ts);
    free(ts);
    expr_free(e);
    return NULL;
}

/* sim join SOURCE on L ~ R [top K] [metric cosine|dot|l2] [as SCORE]: L reads the pipeline's
 * columns, R the source's; `left.x` and `right.x` name them too. */
static Plan *bind_simjoin(Binder *b, Plan *left, char ***lquals, const Node *st)
{
    char **rquals = NULL;
    Plan *right = bind_source(b, st->a, &rquals);
    if (!right) { plan_free(left); return NULL; }
    Plan *p = plan_new(P_SIMJOIN, left, st);
    p->right = right;
    p->k = st->ival ? st->ival : 1;
    int nl = left->schema->n, nr = right->schema->n;
    char **q = NULL;
    Scope ls = scope_of(left, *lquals), rs = scope_of(right, rquals);
    ls.sides = rs.sides = 1;
    ls.nleft = nl;
    p->exprs = xcalloc(2, sizeof *p->exprs);
    if (!(p->exprs[p->nexprs++] = bind_sim_side(b, &ls, st->b, "left"))) goto fail;
    if (!(p->exprs[p->nexprs++] = bind_sim_side(b, &rs, st->c, "right"))) goto fail;
    static const char *const metrics[] = { "cosine", "dot", "l2", NULL };
    p->metric = METRIC_COSINE;
    if (st->str) {
        int m = 0;
        while (metrics[m] && strcmp(metrics[m], st->str)) m++;
        if (!metrics[m]) {
            const char *best = closest_name(st->str, metrics, bind_names_len(metrics));
            bind_errn(b, st, "sim join: unknown metric '%s' (cosine, dot or l2)%s%s%s", st->str,
                      best ? "; did you mean '" : "", best ? best : "", best ? "'?" : "");
            goto fail;
        }
        p->metric = m;
    }
    const char *score = st->str2 ? st->str2 : "score";
    p->schema = pair_schema(left->schema, *lquals, right->schema, rquals, right_qual(st->a, right, rquals), &q);
    if (schema_find(p->schema, score) >= 0) {
        bind_errn(b, st, "sim join: a column named '%s' already exists; name the score with `as NAME`", score);
        bind_quals_free(q, nl + nr);
        goto fail;
    }
    schema_add(p->schema, score, type_float());
    q = xrealloc(q, (size_t)(nl + nr + 1) * sizeof *q);
    q[nl + nr] = NULL;
    bind_quals_free(*lquals, nl);
    *lquals = q;
    bind_quals_free(rquals, nr);
    return p;
fail:
    bind_quals_free(rquals, nr);
    plan_free(p);
    return NULL;
}

/* Does e read any of the columns [lo, hi)? */
static int reads_cols(const Expr *e, int lo, int hi)
{
    for (int c = lo; c < hi; c++)
        if (expr_uses_col(e, c)) return 1;
    return 0;
}

static void shift_cols(Expr *e, int by)
{
    if (e->kind == E_COL) e->ival += by;
    for (int i = 0; i < e->nargs; i++) shift_cols(e->args[i], by);
}

/* The text a semantic join's prefilter embeds for one side (right = 0 or 1): the values the
 * template inserts from that side, one a line, over that side's own columns. NULL (and no error)
 * when the template names no column of that side. */
static Expr *side_text(Binder *b, Scope *sc, const Node *at, const char *tpl, int right)
{
    Buf t;
    buf_init(&t);
    int nph = 0;
    char **ph = bind_template_placeholders(tpl, &nph);   /* those outside {% if %} / {% for %} */
    for (int i = 0; i < nph; i++) {
        Expr *e = bind_template(b, sc, at, ph[i]);
        if (e && reads_cols(e, sc->nleft, sc->schema->n) == right) buf_printf(&t, "%s%s", t.len ? "\n" : "", ph[i]);
        expr_free(e);
        free(ph[i]);
    }
    free(ph);
    Expr *e = t.len ? bind_template(b, sc, at, t.data) : NULL;
    buf_free(&t);
    if (e && right) shift_cols(e, -sc->nleft);
    return e;
}

/* prefilter: embed top K | embed | auto | off */
static int bind_prefilter(Binder *b, Plan *p, const Node *v)
{
    if (v->kind == N_CALL && !strcmp(v->str, "embed") && v->nkids == 1 && v->kids[0]->kind == N_INT && v->kids[0]->ival > 0) {
        p->prefilter = PREFILTER_EMBED;
        p->k = v->kids[0]->ival;
    } else if (v->kind == N_IDENT && !strcmp(v->str, "embed")) p->prefilter = PREFILTER_EMBED;
    else if (v->kind == N_IDENT && !strcmp(v->str, "auto")) p->prefilter = PREFILTER_AUTO;
    else if ((v->kind == N_IDENT && !strcmp(v->str, "off")) || (v->kind == N_BOOL && !v->ival)) p->prefilter = PREFILTER_OFF;
    else return bind_errn(b, v, "prefilter: takes `embed top K`, `embed` (top 10), `auto` or `off`");
    return 0;
}

/* Binds classify(placeholder, labels, cls's options) once per side into p->dec[], its text the
 * values the template inserts from that side, over that side's own columns. Returns 0, or -1 with
 * an error; 1 (no error) when the template names no column of a side and quiet is set. */
static int bind_side_classify(Binder *b, Plan *p, Scope *sc, const Node *st, const Node *cls, const Node *labels, int quiet)
{
    Node *call = node_new(N_CALL, st->src, st->pos);
    call->str = xstrdup("classify");
    Node *ph = node_new(N_STRING, st->src, st->pos);
    ph->str = xstrdup("");
    node_add(call, ph);
    node_add(call, node_clone(labels));
    for (int i = 0; i < cls->nkids; i++) node_add(call, node_clone(cls->kids[i]));
    int rc = 0;
    for (int side = 0; side < 2 && !rc; side++) {
        Expr *t = side_text(b, sc, st, st->str, side), *c = NULL;
        if (!t) {
            if (err_failed(b->err)) rc = -1;
            else if (quiet) rc = 1;
            else rc = bind_errn(b, st, "decompose: needs a template that names columns of both sides ({{left.x}} and {{right.y}})");
        } else if (!(c = bind_expr(b, sc, call))) {
            expr_free(t);
            rc = -1;
        } else {
            expr_free(c->args[0]);
            c->args[0] = t;
            p->dec[side] = c;
        }
    }
    node_free(call);
    if (rc) {
        expr_free(p->dec[0]);
        expr_free(p->dec[1]);
        p->dec[0] = p->dec[1] = NULL;
    }
    return rc;
}

/* decompose: {property: "sentiment", labels: ["positive", "negative"], relation: "equal"}: the
 * join's condition compares one property of each side. Binds cls (classify(placeholder, model
 * options...), not consumed) once per side over that side's own columns, its text the values the
 * template inserts from that side. Returns 0, or -1 with an error. */
static int bind_decompose(Binder *b, Plan *p, Scope *sc, const Node *st, Node *cls, const Node *v)
{
    static const char *const usage = "decompose: takes {property: \"sentiment\", labels: [\"positive\", \"negative\"], "
                                     "relation: \"equal\"} (relation: equal, not equal, less or greater, by the labels' order)";
    if (v->kind != N_STRUCT_LIT) return bind_errn(b, v, "%s", usage);
    const Node *prop = NULL, *labels = NULL, *rel = NULL;
    for (int i = 0; i < v->nkids; i++) {
        const Node *f = v->kids[i];
        if (!strcmp(f->str, "property") && f->a->kind == N_STRING) prop = f->a;
        else if (!strcmp(f->str, "labels") && f->a->kind == N_LIST_LIT && f->a->nkids >= 2) labels = f->a;
        else if (!strcmp(f->str, "relation") && f->a->kind == N_STRING) rel = f->a;
        else return bind_errn(b, f, "%s", usage);
    }
    if (!prop || !labels || !rel) return bind_errn(b, v, "%s", usage);
    static const char *const rels[][2] = { { "equal", "same" }, { "not equal", "different" }, { "less", "lower" }, { "greater", "higher" } };
    p->dec_rel = -1;
    for (int i = 0; i < 4; i++)
        if (!strcmp(rel->str, rels[i][0]) || !strcmp(rel->str, rels[i][1]) || (i == 1 && !strcmp(rel->str, "opposite"))) p->dec_rel = i;
    if (p->dec_rel < 0) return bind_errn(b, rel, "%s", usage);
    int rc = bind_side_classify(b, p, sc, st, cls, labels, 0);
    if (!rc) p->dec_prop = xstrdup(prop->str);
    return rc;
}

/* The planning request's instructions (the condition is its user text). */
static const char plan_instructions[] =
    "You plan a semantic join. A pair (left item, right item) is kept when the condition holds for the pair. Decide whether "
    "the condition only compares one property that each item has on its own, such as the same sentiment, opposite "
    "sentiments, the same topic or language, or which price is higher. If it does, answer decomposable: true, the "
    "property's name in one or two words, kind \"label\" when the property takes one of a few categorical values (list "
    "every value in labels, from lowest to highest when the relation is less or greater) or kind \"number\" when it is a "
    "quantity (labels empty), and the relation the condition requires between the left item's value and the right item's: "
    "\"equal\", \"not equal\", \"less\" (the left's is lower) or \"greater\" (the left's is higher). If the condition "
    "needs both items together (whether one answers, cites or contradicts the other), more than one property, or a "
    "relation other than these, answer decomposable: false.";

/* The answer type of the planning request. */
static Type *plan_type(void)
{
    Type *t = type_struct_new(5);
    t->name = xstrdup("join_plan");
    static const char *const names[] = { "decomposable", "property", "kind", "labels", "relation" };
    static const char *const descs[] = { "whether the condition compares one property of each item", "the property compared",
                                         "label: a few categorical values; number: a quantity",
                                         "every value the property takes (kind label), lowest first", "what the condition requires of the left item's value against the right item's" };
    char **kinds = xcalloc(2, sizeof *kinds), **rels = xcalloc(4, sizeof *rels);
    kinds[0] = xstrdup("label");
    kinds[1] = xstrdup("number");
    rels[0] = xstrdup("equal");
    rels[1] = xstrdup("not equal");
    rels[2] = xstrdup("less");
    rels[3] = xstrdup("greater");
    Type *types[] = { type_bool(), type_string(), type_enum_new(2, kinds), type_list(type_string()), type_enum_new(4, rels) };
    for (int i = 0; i < 5; i++) {
        t->fields[i].name = xstrdup(names[i]);
        t->fields[i].desc = xstrdup(descs[i]);
        t->fields[i].type = types[i];
    }
    return t;
}

/* With no decompose: written, the decomposition is planned at run time: binds the planning request
 * (map() of the condition, its {{...}} written as [left x] / [right y], with cls's options) into
 * p->dec_plan and placeholder classify() calls into p->dec[] (exec_simjoin.c sets their labels, or
 * turns them into extractions of a number, from the answer). Not planned (0, nothing bound) when
 * the template names no column of a side or the model is chosen per row. Returns 0 or -1. */
static int bind_decompose_auto(Binder *b, Plan *p, Scope *sc, const Node *st, const Node *cls)
{
    for (int i = 0; i < cls->nkids; i++) {
        const Node *o = cls->kids[i];
        if (strcmp(o->str, "model")) continue;
        int lit = o->a->kind == N_STRING || ((o->a->kind == N_IDENT || o->a->kind == N_FIELD) && bind_find_col(sc, NULL, o->a->str) < 0);
        if (!lit) return 0;
    }
    Node *labels = node_new(N_LIST_LIT, st->src, st->pos);
    for (int i = 0; i < 2; i++) {
        Node *l = node_new(N_STRING, st->src, st->pos);
        l->str = xstrdup(i ? "b" : "a");
        node_add(labels, l);
    }
    int rc = bind_side_classify(b, p, sc, st, cls, labels, 1);
    node_free(labels);
    if (rc) return rc < 0 ? -1 : 0;
    /* the condition as text: {{left.x}} -> [left x] */
    Buf c;
    buf_init(&c);
    buf_puts(&c, "Condition: ");
    const char *s = st->str;
    for (const char *o; (o = strstr(s, "{{")); ) {
        const char *e = strstr(o + 2, "}}");
        if (!e) break;
        buf_append(&c, s, (size_t)(o - s));
        buf_putc(&c, '[');
        for (const char *q = o + 2; q < e; q++) if (*q != ' ') buf_putc(&c, *q == '.' ? ' ' : *q);
        buf_putc(&c, ']');
        s = e + 2;
    }
    buf_puts(&c, s);
    Node *call = node_new(N_CALL, st->src, st->pos);
    call->str = xstrdup("map");
    Node *text = node_new(N_STRING, st->src, st->pos);
    text->str = xstrdup(c.data);
    text->ival = (int64_t)c.len;
    buf_free(&c);
    node_add(call, text);
    for (int i = 0; i < cls->nkids; i++)
        if (strcmp(cls->kids[i]->str, "pack")) node_add(call, node_clone(cls->kids[i]));
    Node *ins = node_new(N_NAMED, st->src, st->pos);
    ins->str = xstrdup("instructions");
    ins->a = node_new(N_STRING, st->src, st->pos);
    ins->a->str = xstrdup(plan_instructions);
    ins->a->ival = (int64_t)strlen(plan_instructions);
    node_add(call, ins);
    p->dec_plan = bind_expr(b, sc, call);
    node_free(call);
    if (!p->dec_plan) return -1;
    type_unref(p->dec_plan->type);
    p->dec_plan->type = plan_type();
    p->dec_rel = DEC_EQ;
    return 0;
}

/* semantic join SOURCE on "template {{left.x}} {{right.y}}" [model NAME] [prefilter: ...]: a
 * predicate over every candidate pair. The template sees the pipeline's columns and then the
 * source's, under their own names: `left.x`, `right.y`, an alias, or a bare name (the left's first). */
static Plan *semjoin_plan(Binder *b, Plan *left, char ***lquals, Plan *right, char **rquals, const Node *st, const char *tpl_text,
                          int resolve);

static Plan *bind_semjoin(Binder *b, Plan *left, char ***lquals, const Node *st)
{
    char **rquals = NULL;
    Plan *right = bind_source(b, st->a, &rquals);
    if (!right) { plan_free(left); return NULL; }
    return semjoin_plan(b, left, lquals, right, rquals, st, st->str, 0);
}

/* The semantic join of left and right (taken, with their qualifiers: rquals taken) on template
 * tpl_text, its options the kids of st. resolve: the pairs of one distinct-value list with itself
 * for `resolve` (each unordered pair once, no join decomposition, no `decompose:`/`rewrite:`). */
static Plan *semjoin_plan(Binder *b, Plan *left, char ***lquals, Plan *right, char **rquals, const Node *st, const char *tpl_text,
                          int resolve)
{
    Plan *p = plan_new(P_SEMJOIN, left, st);
    p->right = right;
    p->path = xstrdup(tpl_text);
    p->triangle = resolve;
    p->rewrite_off = resolve;
    int nl = left->schema->n, nr = right->schema->n;
    Schema *both = schema_copy(left->schema);
    char **bq = xcalloc((size_t)(nl + nr) + 1, sizeof *bq);
    for (int i = 0; i < nl; i++) bq[i] = (*lquals)[i] ? xstrdup((*lquals)[i]) : NULL;
    for (int j = 0; j < nr; j++) {
        schema_add(both, right->schema->names[j], type_ref(right->schema->types[j]));
        bq[nl + j] = rquals[j] ? xstrdup(rquals[j]) : NULL;
    }
    Scope sc = { .schema = both, .quals = bq, .sides = 1, .nleft = nl };
    /* the predicate: predicate("template", options...) bound as the user would have written it */
    Node *call = node_new(N_CALL, st->src, st->pos);
    call->str = xstrdup("predicate");
    Node *tpl = node_new(N_STRING, st->src, st->pos);
    tpl->str = xstrdup(tpl_text);
    tpl->ival = (int64_t)strlen(tpl_text);
    node_add(call, tpl);
    static const char *const opts[] = { "model", "temperature", "max_output_tokens", "timeout", "instructions", "examples", "pack",
                                        "prefilter", "recall", "max_pairs", "decompose", "rewrite", "agreement", "sample", "cascade", NULL };
    static const char *const ropts[] = { "model", "temperature", "max_output_tokens", "timeout", "instructions", "examples", "pack",
                                         "prefilter", "recall", "max_pairs", "cascade", NULL };
    const Node *prefilter = NULL, *decompose = NULL;
    p->dec_agree = SEMJOIN_DEC_AGREE;
    p->dec_sample = SEMJOIN_DEC_SAMPLE;
    /* the decomposition's classify(): the placeholder text is replaced by the side's text below */
    Node *cls = node_new(N_CALL, st->src, st->pos);   /* the decomposition's classify() options */
    cls->str = xstrdup("classify");
    p->recall = SEMJOIN_RECALL;
    p->max_pairs = SEMJOIN_AUTO_PAIRS;
    for (int i = 0; i < st->nkids; i++) {
        const Node *o = st->kids[i];
        if (known_option(b, o, resolve ? "resolve" : "semantic join", resolve ? ropts : opts)) goto fail;
        if (!strcmp(o->str, "prefilter")) prefilter = o->a;
        else if (!strcmp(o->str, "recall")) {
            const Node *v = o->a;
            double r = v->kind == N_FLOAT ? v->fval : v->kind == N_INT ? (double)v->ival : -1;
            if (!(r > 0 && r <= 1)) { bind_errn(b, v, "recall: takes a fraction above 0 and at most 1, e.g. recall: 0.95"); goto fail; }
            p->recall = r;
        } else if (!strcmp(o->str, "max_pairs")) {
            const Node *v = o->a;
            if (v->kind != N_INT || v->ival < 1) { bind_errn(b, v, "max_pairs: takes a whole number of pairs, 1 or more, e.g. max_pairs: 50000"); goto fail; }
            p->max_pairs = v->ival;
        } else if (!strcmp(o->str, "decompose")) decompose = o->a;
        else if (!strcmp(o->str, "rewrite")) {
            const Node *v = o->a;
            int off = (v->kind == N_IDENT && !strcmp(v->str, "off")) || (v->kind == N_BOOL && !v->ival);
            int on = (v->kind == N_IDENT && !strcmp(v->str, "auto")) || (v->kind == N_BOOL && v->ival);
            if (!off && !on) { bind_errn(b, v, "rewrite: takes `off` (keep the literal plan) or `auto`"); goto fail; }
            p->rewrite_off = off;
        } else if (!strcmp(o->str, "agreement")) {
            const Node *v = o->a;
            double r = v->kind == N_FLOAT ? v->fval : v->kind == N_INT ? (double)v->ival : -1;
            if (!(r > 0 && r <= 1)) { bind_errn(b, v, "agreement: takes a fraction above 0 and at most 1, e.g. agreement: 0.95"); goto fail; }
            p->dec_agree = r;
        } else if (!strcmp(o->str, "sample")) {
            const Node *v = o->a;
            if (v->kind != N_INT || v->ival < 1 || v->ival > 100000) { bind_errn(b, v, "sample: takes a number of pairs, 1 or more, e.g. sample: 100"); goto fail; }
            p->dec_sample = v->ival;
        } else {
            node_add(call, node_clone(o));
            if (strcmp(o->str, "instructions") && strcmp(o->str, "examples") && strcmp(o->str, "cascade")) node_add(cls, node_clone(o));
        }
    }
    p->exprs = xcalloc(3, sizeof *p->exprs);
    p->k = 10;
    if (prefilter && bind_prefilter(b, p, prefilter)) goto fail;
    if (!(p->exprs[p->nexprs++] = bind_expr(b, &sc, call))) goto fail;
    if (decompose && !p->rewrite_off && bind_decompose(b, p, &sc, st, cls, decompose)) goto fail;
    if (!decompose && !p->rewrite_off && bind_decompose_auto(b, p, &sc, st, cls)) goto fail;
    /* the prefilter's embeddings, when it can run (auto needs them only above the pair limit) */
    if (p->prefilter != PREFILTER_OFF && (p->prefilter == PREFILTER_EMBED || catalog_default_model(b->cat, 1))) {
        Expr *lt = side_text(b, &sc, st, tpl_text, 0), *rt = side_text(b, &sc, st, tpl_text, 1);
        if ((lt && bind_media_kinds(lt)) || (rt && bind_media_kinds(rt))) {   /* text embeddings cannot stand for images or audio */
            expr_free(lt);
            expr_free(rt);
            if (p->prefilter == PREFILTER_EMBED) {
                bind_errn(b, st, "prefilter: embed compares text embeddings, but the template names an image or audio column: "
                                 "use prefilter: off (every pair is judged) or a text column to block on");
                goto fail;
            }
            p->prefilter = PREFILTER_OFF;
        } else if (!lt || !rt) {
            expr_free(lt);
            expr_free(rt);
            if (p->prefilter == PREFILTER_EMBED) {
                bind_errn(b, st, "prefilter: embed needs a template that names columns of both sides ({{left.x}} and {{right.y}})");
                goto fail;
            }
        } else {
            if (!(p->exprs[p->nexprs++] = bind_embed_default(b, lt, st, "the prefilter"))) { expr_free(rt); goto fail; }
            if (!(p->exprs[p->nexprs++] = bind_embed_default(b, rt, st, "the prefilter"))) goto fail;
        }
    }
    node_free(call);
    node_free(cls);
    schema_free(both);
    bind_quals_free(bq, nl + nr);
    char **q;
    p->schema = pair_schema(left->schema, *lquals, right->schema, rquals, resolve ? "right" : right_qual(st->a, right, rquals), &q);
    bind_quals_free(*lquals, nl);
    *lquals = q;
    bind_quals_free(rquals, nr);
    return p;
fail:
    node_free(call);
    node_free(cls);
    schema_free(both);
    bind_quals_free(bq, nl + nr);
    bind_quals_free(rquals, nr);
    plan_free(p);
    return NULL;
}

/* resolve COL [using "criterion"] [options]: the rows whose COL names the same thing grouped
 * (exec_resolve.c). Bound as P_RESOLVE over the input, its right side the semantic join of the
 * column's distinct non-null values with themselves (each unordered pair once), whose template asks
 * whether the two values name the same entity (or is the `using` text when that has {{left.COL}} and
 * {{right.COL}}); the prefilter, recall and max_pairs of the semantic join apply. Output: the input
 * columns, COL_group (int, from 1 in order of first appearance) and COL_canonical (the group's most
 * frequent spelling; ties to the earliest). */
static Plan *bind_resolve(Binder *b, Plan *in, char ***quals, const Node *st)
{
    Scope sc = scope_of(in, *quals);
    const char *name = st->str2;
    int col = bind_find_col(&sc, NULL, name);
    const Node *at = st->a ? st->a : st;
    if (col < 0) { bind_unknown_column(b, &sc, at, name); plan_free(in); return NULL; }
    if (!type_is_stringish(in->schema->types[col])) {
        char *ts = bind_tystr(in->schema->types[col]);
        bind_errn(b, at, "resolve groups the values of a text column; '%s' is %s (cast it to string first)", name, ts);
        free(ts);
        plan_free(in);
        return NULL;
    }
    char *gname = xasprintf("%s_group", name), *cname = xasprintf("%s_canonical", name);
    if (schema_find(in->schema, gname) >= 0 || schema_find(in->schema, cname) >= 0) {
        bind_errn(b, st, "resolve: a column named '%s' already exists; rename it first", schema_find(in->schema, gname) >= 0 ? gname : cname);
        free(gname); free(cname);
        plan_free(in);
        return NULL;
    }
    char *tpl;
    if (st->str && strstr(st->str, "{{")) tpl = xstrdup(st->str);
    else tpl = xasprintf("Do \"{{left.%s}}\" and \"{{right.%s}}\" name the same entity?%s%s", name, name, st->str ? " " : "",
                         st->str ? st->str : "");
    /* the distinct non-null values: D = in | where COL is not null | select COL | distinct */
    Plan *f = plan_new(P_FILTER, plan_ref(in), st);
    f->schema = schema_copy(in->schema);
    f->exprs = xcalloc(1, sizeof *f->exprs);
    Expr *nn = expr_new(E_ISNULL, type_bool(), st);
    nn->flag = 1;
    expr_add(nn, bind_col_expr(&sc, col, st));
    f->exprs[f->nexprs++] = nn;
    Plan *pr = plan_new(P_PROJECT, f, st);
    pr->schema = schema_new();
    schema_add(pr->schema, name, type_string());
    pr->exprs = xcalloc(1, sizeof *pr->exprs);
    Expr *ce = expr_new(E_CAST, type_string(), st);
    expr_add(ce, bind_col_expr(&sc, col, st));
    pr->exprs[pr->nexprs++] = ce;
    Plan *d = plan_new(P_DISTINCT, pr, st);
    d->schema = schema_copy(pr->schema);
    char **lq = bind_quals_new(1, "left"), **rq = bind_quals_new(1, "right");
    Plan *pairs = semjoin_plan(b, d, &lq, plan_ref(d), rq, st, tpl, 1);
    bind_quals_free(lq, pairs ? pairs->schema->n : 1);
    free(tpl);
    if (!pairs) { free(gname); free(cname); plan_free(in); return NULL; }
    Plan *p = plan_new(P_RESOLVE, in, st);
    p->right = pairs;
    p->col = col;
    p->schema = schema_copy(in->schema);
    schema_add(p->schema, gname, type_int());
    schema_add(p->schema, cname, type_string());
    free(gname);
    free(cname);
    char **nq = xcalloc((size_t)p->schema->n + 1, sizeof *nq);
    for (int i = 0; i < in->schema->n; i++) nq[i] = (*quals)[i] ? xstrdup((*quals)[i]) : NULL;
    bind_quals_free(*quals, in->schema->n);
    *quals = nq;
    return p;
}

/* Is s only whitespace and {{...}} placeholders (the end of a criterion)? */
static int only_placeholders(const char *s)
{
    for (;;) {
        while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r') s++;
        if (!*s) return 1;
        const char *close = s[0] == '{' && s[1] == '{' ? strstr(s + 2, "}}") : NULL;
        if (!close) return 0;
        s = close + 2;
    }
}

/* top K by "criterion {{col}} ..." [model NAME] [group: N] [model options]: the K rows a model
 * ranks first by the criterion (exec_topk.c). The placeholders name what a row is judged by. Bound
 * as three expressions: a row's candidate text (the placeholder's value; `name: value` lines when
 * there are several), the comparison (map() over a one-column "prompt" whose answer names the best
 * candidate), and the criterion as a question: a placeholder inside it becomes `[name]`, those that
 * end it are dropped (the candidates follow the question). */
static Plan *bind_topk(Binder *b, Plan *in, char ***quals, const Node *st)
{
    Scope sc = scope_of(in, *quals);
    Plan *p = plan_new(P_TOPK, in, st);
    p->schema = schema_copy(in->schema);
    p->k = st->ival;
    p->group = TOPK_GROUP;
    p->path = xstrdup(st->str);
    p->exprs = xcalloc(3, sizeof *p->exprs);
    Buf q, cand;
    buf_init(&q);
    buf_init(&cand);
    char **names = NULL;
    int nnames = 0;
    Node *call = node_new(N_CALL, st->src, st->pos);
    call->str = xstrdup("map");
    Node *arg = node_new(N_IDENT, st->src, st->pos);
    arg->str = xstrdup("prompt");
    node_add(call, arg);
    Schema *ps = schema_new();
    schema_add(ps, "prompt", type_string());
    char *pq[2] = { NULL, NULL };
    Scope psc = { .schema = ps, .quals = pq };
    for (const char *s = st->str; *s;) {
        const char *open = strstr(s, "{{"), *close = open ? strstr(open + 2, "}}") : NULL;
        if (!open || !close) { buf_puts(&q, s); break; }   /* an unclosed '{{': bind_template says so */
        buf_append(&q, s, (size_t)(open - s));
        const char *a = open + 2, *e = close;
        while (a < e && *a == ' ') a++;
        while (e > a && e[-1] == ' ') e--;
        names = xrealloc(names, (size_t)(nnames + 1) * sizeof *names);
        names[nnames++] = xstrndup(a, (size_t)(e - a));
        s = close + 2;
        if (!only_placeholders(s)) buf_printf(&q, "[%.*s]", (int)(e - a), a);   /* a trailing one is dropped */
    }
    while (q.len && (q.data[q.len - 1] == ' ' || q.data[q.len - 1] == '\t' || q.data[q.len - 1] == '\n')) q.data[--q.len] = 0;
    if (bind_template_tags(st->str)) {
        bind_errn(b, st, "top %lld by: the criterion takes {{...}} placeholders (with filters) but no {%% %%} or {# #} tags",
                  (long long)p->k);
        goto fail;
    }
    if (!nnames && !strstr(st->str, "{{")) {
        bind_errn(b, st, "top %lld by needs a criterion that names what a row is judged by in {{...}}, "
                         "e.g. top %lld by \"Which review is most enthusiastic? {{review}}\"", (long long)p->k, (long long)p->k);
        goto fail;
    }
    if (nnames == 1) buf_printf(&cand, "{{%s}}", names[0]);
    else
        for (int i = 0; i < nnames; i++) buf_printf(&cand, "%s%s: {{%s}}", i ? "\n" : "", names[i], names[i]);
    if (!(p->exprs[p->nexprs++] = bind_template(b, &sc, st, nnames ? cand.data : st->str))) goto fail;
    static const char *const opts[] = { "model", "temperature", "max_output_tokens", "timeout", "instructions", "examples", "pack",
                                        "group", NULL };
    for (int i = 0; i < st->nkids; i++) {
        const Node *o = st->kids[i];
        if (known_option(b, o, "top", opts)) goto fail;
        if (!strcmp(o->str, "group")) {
            const Node *v = o->a;
            if (v->kind != N_INT || v->ival < 2 || v->ival > TOPK_GROUP_MAX) {
                bind_errn(b, v, "group: takes the candidates compared in one request, 2 (pairwise) to %d, e.g. group: 2", TOPK_GROUP_MAX);
                goto fail;
            }
            p->group = (int)v->ival;
        } else node_add(call, node_clone(o));
    }
    int packed = 0;
    for (int i = 0; i < call->nkids; i++) packed |= call->kids[i]->kind == N_NAMED && !strcmp(call->kids[i]->str, "pack");
    if (!packed) {   /* one comparison a request unless pack: says: the estimate counts requests exactly */
        Node *pk = node_new(N_NAMED, st->src, st->pos);
        pk->str = xstrdup("pack");
        pk->a = node_new(N_INT, st->src, st->pos);
        pk->a->ival = 1;
        node_add(call, pk);
    }
    Expr *cmp = bind_expr(b, &psc, call);
    if (!cmp) goto fail;
    type_unref(cmp->type);
    cmp->type = plan_topk_answer(p->group);
    p->exprs[p->nexprs++] = cmp;
    p->exprs[p->nexprs++] = bind_lit_expr(v_cstring(q.data ? q.data : ""), type_string(), st);
    goto out;
fail:
    plan_free(p);
    p = NULL;
out:
    for (int i = 0; i < nnames; i++) free(names[i]);
    free(names);
    buf_free(&q);
    buf_free(&cand);
    node_free(call);
    schema_free(ps);
    return p;
}

static Plan *bind_stage(Binder *b, Plan *in, char ***quals, const Node *st)
{
    Scope sc = scope_of(in, *quals);
    Plan *p = NULL;
    switch (st->kind) {
    case N_SELECT: return bind_select(b, in, quals, st);
    case N_WHERE: {
        Expr *e = bind_expr(b, &sc, st->a);
        if (!e) break;
        if (bind_expect_bool(b, st->a, e, "where")) { expr_free(e); break; }
        p = plan_new(P_FILTER, in, st);
        p->schema = schema_copy(in->schema);
        p->exprs = xcalloc(1, sizeof *p->exprs);
        p->exprs[0] = e;
        p->nexprs = 1;
        return p;
    }
    case N_DERIVE: return bind_derive(b, in, quals, st);
    case N_RENAME: {
        p = plan_new(P_PROJECT, in, st);
        p->schema = schema_copy(in->schema);
        for (int i = 0; i < st->nkids; i++) {
            const Node *it = st->kids[i];
            int c = schema_find(p->schema, it->str);
            if (c < 0) { bind_unknown_column(b, &sc, it, it->str); plan_free(p); return NULL; }
            int clash = schema_find(p->schema, it->str2);
            if (clash >= 0 && clash != c) { bind_errn(b, it, "cannot rename '%s' to '%s': a column of that name exists", it->str, it->str2); plan_free(p); return NULL; }
            free(p->schema->names[c]);
            p->schema->names[c] = xstrdup(it->str2);
        }
        p->exprs = xcalloc((size_t)in->schema->n + 1, sizeof *p->exprs);
        for (int c = 0; c < in->schema->n; c++) p->exprs[p->nexprs++] = bind_col_expr(&sc, c, st);
        return p;
    }
    case N_DROP: {
        int *dropped = xcalloc((size_t)in->schema->n + 1, sizeof *dropped);
        for (int i = 0; i < st->nkids; i++) {
            int c = schema_find(in->schema, st->kids[i]->str);
            if (c < 0) { bind_unknown_column(b, &sc, st->kids[i], st->kids[i]->str); free(dropped); break; }
            dropped[c] = 1;
        }
        if (err_failed(b->err)) break;
        p = plan_new(P_PROJECT, in, st);
        p->schema = schema_new();
        char **nq = bind_quals_new(0, NULL);
        p->exprs = xcalloc((size_t)in->schema->n + 1, sizeof *p->exprs);
        for (int c = 0; c < in->schema->n; c++) {
            if (dropped[c]) continue;
            p->exprs[p->nexprs++] = bind_col_expr(&sc, c, st);
            schema_add(p->schema, in->schema->names[c], type_ref(in->schema->types[c]));
            nq = xrealloc(nq, (size_t)p->schema->n * sizeof *nq);
            nq[p->schema->n - 1] = (*quals)[c] ? xstrdup((*quals)[c]) : NULL;
        }
        free(dropped);
        bind_quals_free(*quals, in->schema->n);
        *quals = nq;
        return p;
    }
    case N_GROUP: return bind_group(b, in, quals, st);
    case N_ORDER: {
        p = plan_new(P_SORT, in, st);
        p->schema = schema_copy(in->schema);
        p->desc = xcalloc((size_t)st->nkids + 1, sizeof *p->desc);
        p->nulls_first = xcalloc((size_t)st->nkids + 1, sizeof *p->nulls_first);
        p->exprs = xcalloc((size_t)st->nkids + 1, sizeof *p->exprs);
        for (int i = 0; i < st->nkids; i++) {
            const Node *it = st->kids[i];
            Expr *e = bind_expr(b, &sc, it->a);
            if (!e) { plan_free(p); return NULL; }
            p->exprs[p->nexprs++] = e;
            p->desc[i] = it->flag;
            /* default: nulls last ascending, first descending (as PostgreSQL and DuckDB) */
            p->nulls_first[i] = it->ival == 1 ? 1 : it->ival == 2 ? 0 : it->flag;
        }
        return p;
    }
    case N_LIMIT: {
        int64_t lim = 0, off = 0;
        if (const_count(b, st->a, &lim, "limit")) break;
        if (st->b && const_count(b, st->b, &off, "offset")) break;
        p = plan_new(P_LIMIT, in, st);
        p->schema = schema_copy(in->schema);
        p->limit = lim;
        p->offset = off;
        return p;
    }
    case N_DISTINCT: {
        p = plan_new(P_DISTINCT, in, st);
        p->schema = schema_copy(in->schema);
        p->exprs = xcalloc((size_t)st->nkids + 1, sizeof *p->exprs);
        for (int i = 0; i < st->nkids; i++) {
            Expr *e = bind_expr(b, &sc, st->kids[i]);
            if (!e) { plan_free(p); return NULL; }
            p->exprs[p->nexprs++] = e;
        }
        return p;
    }
    case N_JOIN: return bind_join(b, in, quals, st);
    case N_UNION: return bind_union(b, in, quals, st);
    case N_EXPLODE: case N_UNNEST: {
        const Node *cn = st->a;
        if (cn->kind != N_IDENT) { bind_errn(b, cn, "%s takes a column name", st->kind == N_EXPLODE ? "explode" : "unnest"); break; }
        int c = schema_find(in->schema, cn->str);
        if (c < 0) { bind_unknown_column(b, &sc, cn, cn->str); break; }
        Type *t = in->schema->types[c];
        if (st->kind == N_EXPLODE) {
            if (t->kind != TY_LIST && t->kind != TY_VECTOR && t->kind != TY_JSON) {
                char *ts = bind_tystr(t);
                bind_errn(b, cn, "explode needs a list column, but '%s' is %s", cn->str, ts);
                free(ts);
                break;
            }
            p = plan_new(P_EXPLODE, in, st);
            p->col = c;
            p->outer = st->flag;
            p->schema = schema_copy(in->schema);
            type_unref(p->schema->types[c]);
            p->schema->types[c] = t->kind == TY_LIST ? type_ref(t->elem) : t->kind == TY_VECTOR ? type_float() : type_json();
            if (st->str2) {
                if (schema_find(p->schema, st->str2) >= 0) { bind_errn(b, st, "explode: column '%s' already exists", st->str2); plan_free(p); return NULL; }
                p->with_index = 1;
                schema_add(p->schema, st->str2, type_int());
                *quals = xrealloc(*quals, (size_t)p->schema->n * sizeof **quals);
                (*quals)[p->schema->n - 1] = NULL;
            }
            return p;
        }
        if (t->kind != TY_STRUCT) {
            char *ts = bind_tystr(t);
            bind_errn(b, cn, "unnest needs a struct column, but '%s' is %s", cn->str, ts);
            free(ts);
            break;
        }
        p = plan_new(P_UNNEST, in, st);
        p->col = c;
        p->schema = schema_new();
        char **nq = xcalloc((size_t)(in->schema->n + t->nfields) + 1, sizeof *nq);
        for (int i = 0; i < in->schema->n; i++) {
            if (i == c) {
                for (int f = 0; f < t->nfields; f++) {
                    if (schema_find(in->schema, t->fields[f].name) >= 0 && strcmp(t->fields[f].name, cn->str)) {
                        bind_errn(b, cn, "unnest %s: field '%s' clashes with an existing column (rename it first)", cn->str, t->fields[f].name);
                        bind_quals_free(nq, p->schema->n);
                        plan_free(p);
                        return NULL;
                    }
                    schema_add(p->schema, t->fields[f].name, type_ref(t->fields[f].type));
                }
            } else {
                schema_add(p->schema, in->schema->names[i], type_ref(in->schema->types[i]));
                nq[p->schema->n - 1] = (*quals)[i] ? xstrdup((*quals)[i]) : NULL;
            }
        }
        bind_quals_free(*quals, in->schema->n);
        *quals = nq;
        return p;
    }
    case N_CACHE:
        p = plan_new(P_CACHE, in, st);
        p->schema = schema_copy(in->schema);
        return p;
    case N_WRITE: {
        const Node *call = st->a;
        int ok;
        FileFormat f = bind_reader_format(call->str, &ok);
        if (!ok) { bind_errn(b, call, "unknown output format '%s' (csv, tsv, json, jsonl, parquet)", call->str); break; }
        static const char *const params[] = { "path", "mode", "compression", "row_group_size" };
        int total = 0;
        const Node **args = bind_map_args(b, call, params, f == FMT_PARQUET ? 4 : 2, 1, 0, &total);
        if (!args) break;
        if (args[0]->kind != N_STRING) { bind_errn(b, args[0], "write %s() needs a path string", call->str); free(args); break; }
        int mode = WRITE_ERROR;
        if (args[1]) {
            const char *m = args[1]->kind == N_STRING || args[1]->kind == N_IDENT ? args[1]->str : "";
            if (!strcmp(m, "overwrite")) mode = WRITE_OVERWRITE;
            else if (!strcmp(m, "append")) mode = WRITE_APPEND;
            else if (!strcmp(m, "error")) mode = WRITE_ERROR;
            else { bind_errn(b, args[1], "mode: takes \"overwrite\", \"error\" or \"append\""); free(args); break; }
        }
        const char *refusal = remote_write_refusal(args[0]->str, (WriteMode)mode);
        if (refusal) { bind_errn(b, args[1] && mode == WRITE_APPEND ? args[1] : args[0], "%s", refusal); free(args); break; }
        WriteOptions wo = { COMPRESS_DEFAULT, 0 };
        if (f == FMT_PARQUET && bind_write_options(b, args, &wo) < 0) { free(args); break; }
        p = plan_new(P_WRITE, in, st);
        p->schema = schema_copy(in->schema);
        p->path = xstrdup(args[0]->str);
        p->format = f;
        p->mode = mode;
        p->wopts = wo;
        free(args);
        return p;
    }
    case N_CLUSTER: return bind_cluster(b, in, quals, st);
    case N_SIMJOIN: return bind_simjoin(b, in, quals, st);
    case N_SEMJOIN: return bind_semjoin(b, in, quals, st);
    case N_TOPK: return bind_topk(b, in, quals, st);
    case N_RESOLVE: return bind_resolve(b, in, quals, st);
    default:
        bind_errn(b, st, "expected a stage");
        break;
    }
    plan_free(in);
    return NULL;
}

/* Bind a whole pipeline; *quals_out receives per-column qualifiers (caller frees). */
/* A plan at most this many operators deep, counting the lets it reads (whose plans it contains):
 * every pass over a plan (optimizer, explain, executor) recurses along it, and this bound keeps
 * that far from the C stack's end, also under the sanitizers. */
#define PLAN_MAX_DEPTH 10000

/* The depth of p (1 for a source), worked out for the operators whose depth is not yet known
 * (those a stage just made) and remembered in them. */
static int plan_depth(Plan *p)
{
    if (!p) return 0;
    if (!p->depth) {
        int c = plan_depth(p->child), r = plan_depth(p->right);
        p->depth = (c > r ? c : r) + 1;
    }
    return p->depth;
}

Plan *bind_pipeline(Binder *b, const Node *pipe, char ***quals_out)
{
    char **quals = NULL;
    Plan *p = bind_source(b, pipe->a, &quals);
    if (!p) return NULL;
    for (int i = 0; i < pipe->nkids; i++) {
        if (p->kind == P_WRITE) {
            bind_errn(b, pipe->kids[i], "write ends a pipeline: nothing can follow it");
            bind_quals_free(quals, p->schema->n);
            plan_free(p);
            return NULL;
        }
        int nbefore = p->schema->n;
        char **qbefore = quals;
        Plan *np = bind_stage(b, p, &quals, pipe->kids[i]);
        if (!np) {
            (void)qbefore;
            bind_quals_free(quals, nbefore);
            return NULL;
        }
        p = np;
        if (plan_depth(p) > PLAN_MAX_DEPTH) {
            bind_errn(b, pipe->kids[i], "the pipeline is more than %d stages deep here (counting the stages of the lets it reads): "
                      "write an intermediate result to a file (`| write parquet(\"step.parquet\")`) and read it in a later statement, "
                      "or do more in one stage (one `derive` computes several columns)", PLAN_MAX_DEPTH);
            bind_quals_free(quals, p->schema->n);
            plan_free(p);
            return NULL;
        }
    }
    *quals_out = quals;
    return p;
}
