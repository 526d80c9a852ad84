/* bind_expr.c: the binder's expressions. Scopes and qualifiers, column lookup with suggestions,
 * expressions (calls, fn inlining, templates, aggregate calls, operators, casts), types (bind_type)
 * and constant expressions (options). A semantic operator call goes to bind_semantic.c through the
 * Binder's hooks (bind_int.h): this file calls no other file of the binder.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "bind_int.h"
#include "udf.h"
#include "media.h"

/* One fn call being inlined (on the C stack of bind_call): the chain finds recursion. */
typedef struct FnFrame {
    const char *name;
    int depth;                   /* 1 for the outermost */
    const struct FnFrame *up;
} FnFrame;

/* fn calls nest this deep at most (each level is a few binder frames on the C stack). A real
 * chain this deep needs as many distinct fns: a cycle is caught before, as recursion. */
#define FN_MAX_NESTING 256
/* fn bodies inlined in one scope at most: a fn calling another twice doubles the copies at each
 * level, so 24 short lines would otherwise take minutes and gigabytes to bind. */
#define FN_MAX_COPIES 100000

/* How many names a NULL-terminated list holds (for closest_name: no counts written by hand). */
size_t bind_names_len(const char *const *names)
{
    size_t n = 0;
    while (names[n]) n++;
    return n;
}

/* A row-wise semantic operator (reduce, an aggregate, is bound apart). */
const SemOpDesc *bind_semantic_op(const char *name)
{
    const SemOpDesc *d = semop_lookup(name);
    return d && d->scalar ? d : NULL;
}
int bind_errn(Binder *b, const Node *n, const char *fmt, ...)
{
    va_list ap;
    char msg[900];
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return err_at(b->err, FQL_ERR_TYPE, n ? n->src : NULL, n ? n->pos : 0, "%s", msg);
}

char *bind_tystr(const Type *t) { return type_to_string(t); }

/* ---- qualifiers ---- */

char **bind_quals_new(int n, const char *q)
{
    char **qs = xcalloc((size_t)(n > 0 ? n : 1), sizeof *qs);
    for (int i = 0; i < n; i++) qs[i] = q ? xstrdup(q) : NULL;
    return qs;
}

void bind_quals_free(char **qs, int n)
{
    if (!qs) return;
    for (int i = 0; i < n; i++) free(qs[i]);
    free(qs);
}

static int qual_matches(const Scope *sc, int col, const char *q)
{
    if (sc->sides && !strcmp(q, col < sc->nleft ? "left" : "right")) return 1;
    return sc->quals && sc->quals[col] && !strcmp(sc->quals[col], q);
}

int bind_has_qual(const Scope *sc, const char *q)
{
    for (int i = 0; i < sc->schema->n; i++)
        if (qual_matches(sc, i, q)) return 1;
    return 0;
}

/* ---- column lookup with suggestions ---- */

int bind_unknown_column(Binder *b, const Scope *sc, const Node *n, const char *name)
{
    const char *best = closest_name(name, (const char *const *)sc->schema->names, (size_t)sc->schema->n);
    Buf cols;
    buf_init(&cols);
    for (int i = 0; i < sc->schema->n && i < 12; i++)
        buf_printf(&cols, "%s%s", i ? ", " : "", sc->schema->names[i]);
    if (sc->schema->n > 12) buf_puts(&cols, ", ...");
    if (best)
        bind_errn(b, n, "unknown column '%s'; did you mean '%s'?", name, best);
    else
        bind_errn(b, n, "unknown column '%s' (columns: %s)", name, cols.data ? cols.data : "none");
    buf_free(&cols);
    return -1;
}

int bind_find_col(const Scope *sc, const char *qual, const char *name)
{
    int found = -1;
    for (int i = 0; i < sc->schema->n; i++) {
        if (strcmp(sc->schema->names[i], name)) continue;
        if (qual && !qual_matches(sc, i, qual)) continue;
        if (found < 0) found = i;
    }
    if (found < 0 && qual) {
        /* a right-side column renamed QUAL_col because it clashed */
        char *alt = xasprintf("%s_%s", qual, name);
        for (int i = 0; i < sc->schema->n && found < 0; i++)
            if (!strcmp(sc->schema->names[i], alt)) found = i;
        free(alt);
    }
    return found;
}

Expr *bind_agg_ref(Scope *sc, AggCall ac, Type *t, const Node *n)
{
    if (sc->naggs == sc->capaggs) {
        sc->capaggs = sc->capaggs ? sc->capaggs * 2 : 4;
        sc->aggs = xrealloc(sc->aggs, (size_t)sc->capaggs * sizeof *sc->aggs);
    }
    sc->aggs[sc->naggs] = ac;
    Expr *e = expr_new(E_AGG, t, n);
    e->ival = sc->naggs++;
    return e;
}

/* ---- expressions ---- */

Expr *bind_col_expr(const Scope *sc, int col, const Node *at)
{
    Expr *e = expr_new(E_COL, type_ref(sc->schema->types[col]), at);
    e->ival = col;
    return e;
}

Expr *bind_lit_expr(Value v, Type *t, const Node *at)
{
    Expr *e = expr_new(E_LIT, t, at);
    e->lit = v;
    return e;
}

int bind_expect_bool(Binder *b, const Node *n, Expr *e, const char *what)
{
    if (e->type->kind == TY_BOOL || e->type->kind == TY_NULL || e->type->kind == TY_ANY) return 0;
    char *ts = bind_tystr(e->type);
    bind_errn(b, n, "%s expects a bool condition, got %s", what, ts);
    free(ts);
    return -1;
}

int bind_comparable(const Type *a, const Type *b)
{
    if (a->kind == TY_NULL || b->kind == TY_NULL || a->kind == TY_ANY || b->kind == TY_ANY) return 1;
    if (a->kind == TY_JSON || b->kind == TY_JSON) return 1;
    if (type_is_numeric(a) && type_is_numeric(b)) return 1;
    if (type_is_stringish(a) && type_is_stringish(b)) return 1;
    if ((a->kind == TY_DATE || a->kind == TY_TIMESTAMP) && (b->kind == TY_DATE || b->kind == TY_TIMESTAMP || b->kind == TY_STRING)) return 1;
    if ((b->kind == TY_DATE || b->kind == TY_TIMESTAMP) && a->kind == TY_STRING) return 1;
    if (a->kind == TY_BOOL && b->kind == TY_BOOL) return 1;
    if (a->kind == TY_LIST && b->kind == TY_LIST) return 1;
    if (a->kind == TY_VECTOR && b->kind == TY_VECTOR) return 1;
    if (a->kind == TY_STRUCT && b->kind == TY_STRUCT) return 1;
    return 0;
}

static const char *op_text(int op)
{
    switch (op) {
    case OP_OR: return "or"; case OP_AND: return "and"; case OP_NOT: return "not";
    case OP_EQ: return "=="; case OP_NE: return "!="; case OP_LT: return "<"; case OP_LE: return "<=";
    case OP_GT: return ">"; case OP_GE: return ">="; case OP_CONCAT: return "||"; case OP_ADD: return "+";
    case OP_SUB: return "-"; case OP_MUL: return "*"; case OP_DIV: return "/"; case OP_MOD: return "%";
    case OP_NEG: return "-"; case OP_LIKE: return "like"; case OP_ILIKE: return "ilike";
    }
    return "?";
}

static Type *arith_type(int op, const Type *a, const Type *b)
{
    TypeKind ka = a->kind, kb = b->kind;
    if (ka == TY_ANY || kb == TY_ANY) return type_any();
    if (ka == TY_NULL && kb == TY_NULL) return type_null();
    if (ka == TY_DATE && (kb == TY_INT || kb == TY_NULL) && (op == OP_ADD || op == OP_SUB)) return type_date();
    if ((ka == TY_INT || ka == TY_NULL) && kb == TY_DATE && op == OP_ADD) return type_date();
    if (ka == TY_DATE && kb == TY_DATE && op == OP_SUB) return type_int();
    if (ka == TY_TIMESTAMP && kb == TY_TIMESTAMP && op == OP_SUB) return type_int();
    if (!type_is_numeric(a) || !type_is_numeric(b)) return NULL;
    if (op == OP_DIV) return type_float();
    if ((ka == TY_INT || ka == TY_NULL) && (kb == TY_INT || kb == TY_NULL)) return type_int();
    return type_float();
}

Node *bind_subst_params(const Node *body, const FnDef *fn, Node *const *args)
{
    if (!body) return NULL;
    if (body->kind == N_IDENT) {
        for (int i = 0; i < fn->nparams; i++)
            if (!strcmp(body->str, fn->params[i])) return node_clone(args[i]);
    }
    Node *c = node_clone(body);
    /* node_clone copied children; replace them */
    node_free(c->a); node_free(c->b); node_free(c->c);
    c->a = bind_subst_params(body->a, fn, args);
    c->b = bind_subst_params(body->b, fn, args);
    c->c = bind_subst_params(body->c, fn, args);
    for (int i = 0; i < c->nkids; i++) {
        node_free(c->kids[i]);
        c->kids[i] = bind_subst_params(body->kids[i], fn, args);
    }
    return c;
}

/* Map a call's positional and named arguments onto a parameter list. Returns the arg nodes in
 * parameter order (NULL where omitted; extras after for variadic) and their count in *nout. */
const Node **bind_map_args(Binder *b, const Node *n, const char *const *params, int nparams,
                           int min_args, int variadic, int *nout)
{
    int npos = 0;
    while (npos < n->nkids && n->kids[npos]->kind != N_NAMED) npos++;
    int total = nparams > npos ? nparams : npos;
    const Node **out = xcalloc((size_t)total + 1, sizeof *out);
    if (npos > nparams && !variadic) {
        bind_errn(b, n->kids[nparams], "%s takes at most %d argument%s, got %d", n->str, nparams, nparams == 1 ? "" : "s", npos);
        free(out);
        return NULL;
    }
    for (int i = 0; i < npos; i++) out[i] = n->kids[i];
    for (int i = npos; i < n->nkids; i++) {
        const Node *k = n->kids[i];
        if (k->kind != N_NAMED) {
            bind_errn(b, k, "positional argument after a named one in call to %s", n->str);
            free(out);
            return NULL;
        }
        int j;
        for (j = 0; j < nparams; j++)
            if (!strcmp(params[j], k->str)) break;
        if (j == nparams) {
            const char *best = closest_name(k->str, params, (size_t)nparams);
            if (best) bind_errn(b, k, "%s has no parameter '%s'; did you mean '%s'?", n->str, k->str, best);
            else bind_errn(b, k, "%s has no parameter '%s'", n->str, k->str);
            free(out);
            return NULL;
        }
        if (out[j]) {
            bind_errn(b, k, "parameter '%s' of %s given twice", k->str, n->str);
            free(out);
            return NULL;
        }
        out[j] = k->a;
    }
    for (int j = 0; j < min_args; j++)
        if (!out[j]) {
            bind_errn(b, n, "%s needs %d argument%s (missing '%s')", n->str, min_args, min_args == 1 ? "" : "s", params[j]);
            free(out);
            return NULL;
        }
    *nout = total;
    return out;
}

/* The chain of fn calls from the one that contains name's call back to name, as "f -> g -> f"
 * (or, with stop NULL, the whole chain outermost first, then name). Caller frees. */
static char *fn_chain_text(const FnFrame *top, const char *name, const char *stop)
{
    int n = 0;
    for (const FnFrame *f = top; f; f = f->up) {
        n++;
        if (stop && !strcmp(f->name, stop)) break;
    }
    const char **names = xcalloc((size_t)n + 1, sizeof *names);
    int k = n;
    for (const FnFrame *f = top; f && k > 0; f = f->up) names[--k] = f->name;
    Buf b;
    buf_init(&b);
    for (int i = 0; i < n; i++) {
        if (!stop && n > 8 && i == 3) { buf_printf(&b, "... -> "); i = n - 4; continue; }   /* long chains: both ends */
        buf_printf(&b, "%s -> ", names[i]);
    }
    buf_puts(&b, name);
    free(names);
    return buf_take(&b);
}

/* May the call n of fn name be inlined inside sc's fn calls? A cycle is recursion (not
 * supported); a chain of distinct fns deeper than FN_MAX_NESTING is refused as nesting, and
 * more than FN_MAX_COPIES inlined bodies in one scope as too large. 0 ok; -1 with the error at n. */
static int fn_call_check(Binder *b, Scope *sc, const Node *n, const char *name)
{
    for (const FnFrame *f = sc->fns; f; f = f->up)
        if (!strcmp(f->name, name)) {
            char *chain = fn_chain_text(sc->fns, name, name);
            if (f == sc->fns && !f->up) bind_errn(b, n, "fn %s calls itself (%s): recursion is not supported", name, chain);
            else bind_errn(b, n, "fn %s calls itself through other fns (%s): recursion is not supported", name, chain);
            free(chain);
            return -1;
        }
    if (sc->fn_copies >= FN_MAX_COPIES) {
        bind_errn(b, n, "fn %s: the fn calls here expand to more than %d copies of fn bodies (a fn that calls another several "
                  "times multiplies them): compute a shared part once with `derive` and pass the column", name, FN_MAX_COPIES);
        return -1;
    }
    if (sc->fns && sc->fns->depth >= FN_MAX_NESTING) {
        char *chain = fn_chain_text(sc->fns, name, NULL);
        bind_errn(b, n, "fn calls nested more than %d deep (%s): this is nesting, not recursion; the limit is %d levels: "
                  "call fewer fns inside one another (inline some of them)", FN_MAX_NESTING, chain, FN_MAX_NESTING);
        free(chain);
        return -1;
    }
    return 0;
}

/* Where column j of plan q's output is in the output of `top` (q below it, along child links), or -1
 * when a stage between drops or recomputes it. */
static int col_forward(const Plan *top, const Plan *q, int j)
{
    const Plan *chain[256];
    int n = 0;
    for (const Plan *p = top; p && p != q && n < 256; p = p->child) chain[n++] = p;
    if (n == 256) return -1;
    for (int k = n - 1; k >= 0 && j >= 0; k--) {   /* upward: from just above q to top */
        const Plan *p = chain[k];
        switch (p->kind) {
        case P_FILTER: case P_SORT: case P_LIMIT: case P_DISTINCT: case P_CACHE: break;
        case P_DERIVE:
            for (int i = 0; i < p->nexprs; i++) if (p->targets[i] == j) return -1;   /* recomputed */
            break;
        case P_PROJECT: {
            int to = -1;
            for (int i = 0; i < p->nexprs && to < 0; i++)
                if (p->exprs[i]->kind == E_COL && p->exprs[i]->ival == j) to = i;
            j = to;
            break;
        }
        default: return -1;
        }
    }
    return j;
}

static int has_loop(const Expr *e)
{
    if (!e) return 0;
    if (e->kind == E_LOOP || e->kind == E_LOOPVAR) return 1;
    for (int i = 0; i < e->nargs; i++) if (has_loop(e->args[i])) return 1;
    return 0;
}

/* The columns of e (read in the scope where it was bound, whose rows are plan q's output, or q's
 * input items so far for a derive) renumbered as columns of sc's rows. 0, or -1 when one is not
 * there unchanged. */
static int remap_cols(Expr *e, const Scope *sc, const Plan *q, int items)
{
    if (e->kind == E_COL) {
        int j = (int)e->ival;
        const Plan *from = q;
        if (q && q->kind == P_DERIVE) {   /* a later item of the same derive must not recompute it */
            int upto = sc->input == q && sc->input_items >= 0 ? sc->input_items : q->nexprs;
            for (int i = items + 1; i < upto; i++) if (q->targets[i] == j) return -1;
            if (sc->input == q) {   /* the derive being bound: its columns so far are this scope's */
                for (int i = 0; i < e->nargs; i++) if (e->args[i] && remap_cols(e->args[i], sc, q, items)) return -1;
                return j < sc->schema->n ? 0 : -1;
            }
        } else if (q && q->kind == P_PROJECT) from = q->child;
        int to = col_forward(sc->input, from, j);
        if (to < 0 || to >= sc->schema->n) return -1;
        e->ival = to;
    }
    for (int i = 0; i < e->nargs; i++) if (e->args[i] && remap_cols(e->args[i], sc, q, items)) return -1;
    return 0;
}

/* confidence(x) / provenance(x) of a column x computed earlier in the pipeline by one of the calls
 * `ops` (SEM_* bits): that call, copied and read in this stage (so the same request: sent once in
 * the statement, or found in the cache). NULL (no error) when x is not such a column; NULL with an
 * error when its call cannot be read here. */
static Expr *call_of_column(Binder *b, Scope *sc, const Node *c, unsigned ops, const char *fn)
{
    if (!c || c->kind != N_IDENT || !sc->input) return NULL;
    int col = bind_find_col(sc, NULL, c->str);
    if (col < 0) return NULL;
    Scope csc, next;
    const Expr *def = bind_col_definition(sc, col, &csc);
    for (int guard = 0; def && def->kind == E_COL && guard < 64; guard++) {   /* passed on by a select: where it came from */
        def = bind_col_definition(&csc, (int)def->ival, &next);
        csc = next;
    }
    if (!def || def->kind != E_SEMANTIC || def->conf || !(ops & (1u << def->sem))) return NULL;
    Expr *e = expr_copy(def);
    const Plan *q = csc.input;
    int items = csc.input_items;
    if (has_loop(e) || remap_cols(e, sc, q, items)) {
        expr_free(e);
        bind_errn(b, c, "%s(%s): the call that computed '%s' reads columns that a later stage drops or recomputes; write "
                        "%s(...) of the call itself next to it (the request is sent once)", fn, c->str, c->str, fn);
        return NULL;
    }
    return e;
}

/* confidence(predicate(...)) / confidence(classify(...)): the call itself, marked to give its
 * answer's probability (a float; null when the provider gives none) instead of its value. Its request
 * is the call's own, so next to the plain call it is sent once (semantic.c shares identical requests
 * of a statement; the response cache, later ones). */
static Expr *bind_confidence(Binder *b, Scope *sc, const Node *n)
{
    const Node *c = n->nkids == 1 ? n->kids[0] : NULL;
    const SemOpDesc *d = c && c->kind == N_CALL ? bind_semantic_op(c->str) : NULL;
    Expr *e = !d ? call_of_column(b, sc, c, 1u << SEM_PREDICATE | 1u << SEM_CLASSIFY, "confidence") : NULL;
    if (!d && err_failed(b->err)) return NULL;
    if (e) goto mark;
    if (!d || (d->op != SEM_PREDICATE && d->op != SEM_CLASSIFY)) {
        bind_errn(b, c ? c : n, "confidence() takes one predicate(...) or classify(...) call, e.g. confidence(predicate(\"Is {{text}} spam?\")); "
                  "for a column computed by such a call, repeat the call (the request is sent once)");
        return NULL;
    }
    e = b->semantic(b, sc, c);
    if (!e) return NULL;
mark:
    if (expr_arg(e, "cascade")) {   /* its answers come from two models: no one probability (cascade.c) */
        expr_free(e);
        bind_errn(b, c, "confidence() of a call with cascade: has no single model's probability: take the confidence of the "
                        "cheap call (the same call without cascade:)");
        return NULL;
    }
    e->conf = 1;
    e->vtype = e->type;
    e->type = type_float();
    return e;
}

/* The struct provenance() gives (semantic.c fills it in this order). A new reference. */
static Type *provenance_type(void)
{
    static const char *const names[] = { "model", "provider", "model_name", "cached", "attempts", "request_id",
                                         "input_tokens", "output_tokens", "cost_usd", "latency_ms" };
    Type *ts[] = { type_string(), type_string(), type_string(), type_bool(), type_int(), type_string(),
                   type_int(), type_int(), type_float(), type_float() };
    Type *t = type_struct_new(10);
    for (int i = 0; i < 10; i++) {
        t->fields[i].name = xstrdup(names[i]);
        t->fields[i].type = ts[i];
    }
    return t;
}

/* provenance(extract | classify | predicate | map(...)): the call itself, marked (conf = 2) to give
 * where its answer came from instead of its value: a struct of provenance_type(). Its request is
 * the call's own, so next to the plain call it is sent once, as for confidence(). */
static Expr *bind_provenance(Binder *b, Scope *sc, const Node *n)
{
    const Node *c = n->nkids == 1 ? n->kids[0] : NULL;
    const SemOpDesc *d = c && c->kind == N_CALL ? bind_semantic_op(c->str) : NULL;
    Expr *e = !d ? call_of_column(b, sc, c, 1u << SEM_PREDICATE | 1u << SEM_CLASSIFY | 1u << SEM_EXTRACT | 1u << SEM_MAP, "provenance") : NULL;
    if (!d && err_failed(b->err)) return NULL;
    if (e) goto mark;
    if (!d || (d->op != SEM_PREDICATE && d->op != SEM_CLASSIFY && d->op != SEM_EXTRACT && d->op != SEM_MAP)) {
        bind_errn(b, c ? c : n, "provenance() takes one extract, classify, predicate or map call, e.g. "
                  "provenance(predicate(\"Is {{text}} spam?\")); for a column computed by such a call, repeat the call "
                  "(the request is sent once)");
        return NULL;
    }
    e = b->semantic(b, sc, c);
    if (!e) return NULL;
mark:
    e->conf = 2;
    e->vtype = e->type;
    e->type = provenance_type();
    return e;
}

static Expr *bind_call(Binder *b, Scope *sc, const Node *n)
{
    const char *name = n->str;
    /* user functions (fn) are inlined */
    FnDef *fn = catalog_find_fn(b->cat, name);
    if (fn && fn->pipeline) {
        bind_errn(b, n, "fn %s is a pipeline with parameters: use it as a source, `from %s(...)`, or as a subquery, "
                  "`(from %s(...) | ...)`", name, name, name);
        return NULL;
    }
    if (fn) {
        int required = 0;
        while (required < fn->nparams && !fn->defaults[required]) required++;
        const Node **given = bind_map_args(b, n, (const char *const *)fn->params, fn->nparams, required, 0, &(int){0});
        if (!given) return NULL;
        if (fn_call_check(b, sc, n, name)) { free(given); return NULL; }
        for (int i = 0; i < fn->nparams; i++)
            if (given[i] && fn->ptypes && fn->ptypes[i] && bind_fn_arg_check(b, name, fn->params[i], fn->ptypes[i], given[i], sc)) {
                free(given);
                return NULL;
            }
        Node **args = xcalloc((size_t)fn->nparams + 1, sizeof *args);
        for (int i = 0; i < fn->nparams; i++) args[i] = (Node *)(given[i] ? given[i] : fn->defaults[i]);
        free(given);
        Node *body = bind_subst_params(fn->body, fn, args);
        free(args);
        sc->fn_copies++;
        FnFrame fr = { name, sc->fns ? sc->fns->depth + 1 : 1, sc->fns };
        sc->fns = &fr;
        Expr *e = bind_expr(b, sc, body);
        sc->fns = fr.up;
        node_free(body);
        return e;
    }
    /* aggregates */
    const SemOpDesc *sd = semop_lookup(name);
    if (sd && sd->op == SEM_REDUCE) return b->reduce(b, sc, n);
    const AggDef *ad = agg_lookup(name);
    if (ad) {
        if (!sc->in_agg) { bind_errn(b, n, "aggregate %s() can only be used in an `agg` list (group by ... agg x = %s(...))", name, name); return NULL; }
        if (sc->inside_agg) { bind_errn(b, n, "aggregate %s() cannot be nested inside another aggregate", name); return NULL; }
        int nargs = n->nkids;
        int star = nargs == 1 && n->kids[0]->kind == N_STAR;
        if (star) {
            if (strcmp(name, "count")) { bind_errn(b, n, "only count(*) takes *"); return NULL; }
            nargs = 0;
        }
        if (nargs < ad->min_args || nargs > ad->max_args) {
            bind_errn(b, n, "%s takes %d%s argument%s, got %d", name, ad->min_args,
                      ad->max_args > ad->min_args ? " or more" : "", ad->max_args == 1 ? "" : "s", nargs);
            return NULL;
        }
        AggCall ac = { ad, NULL, 0, n->flag, NULL, SEM_NONE };
        Type *types[8] = { 0 };
        ac.args = xcalloc((size_t)nargs + 1, sizeof *ac.args);
        sc->inside_agg = 1;
        for (int i = 0; i < nargs; i++) {
            const Node *k = n->kids[i]->kind == N_NAMED ? n->kids[i]->a : n->kids[i];
            ac.args[i] = bind_expr(b, sc, k);
            if (!ac.args[i]) { sc->inside_agg = 0; for (int j = 0; j < i; j++) expr_free(ac.args[j]); free(ac.args); return NULL; }
            if (i < 8) types[i] = ac.args[i]->type;
            ac.nargs++;
        }
        sc->inside_agg = 0;
        char *msg = NULL;
        ac.type = ad->type(types, nargs, &msg);
        if (!ac.type) {
            bind_errn(b, n, "%s", msg ? msg : "bad argument types");
            free(msg);
            for (int j = 0; j < ac.nargs; j++) expr_free(ac.args[j]);
            free(ac.args);
            return NULL;
        }
        return bind_agg_ref(sc, ac, type_ref(ac.type), n);
    }

    if (bind_semantic_op(name)) return b->semantic(b, sc, n);
    if (!strcmp(name, "confidence")) return bind_confidence(b, sc, n);
    if (!strcmp(name, "provenance")) return bind_provenance(b, sc, n);
    if (!strcmp(name, "template")) {
        if (n->nkids != 1 || n->kids[0]->kind != N_STRING) {
            bind_errn(b, n, "template() takes one string literal: template(\"Hi {{name}}\")");
            return NULL;
        }
        return b->tmpl(b, sc, n->kids[0], n->kids[0]->str);
    }
    if (!strcmp(name, "if")) {
        if (n->nkids != 3) { bind_errn(b, n, "if(condition, then, else) takes 3 arguments, got %d", n->nkids); return NULL; }
        Expr *c = bind_expr(b, sc, n->kids[0]);
        if (!c) return NULL;
        if (bind_expect_bool(b, n->kids[0], c, "if()")) { expr_free(c); return NULL; }
        Expr *x = bind_expr(b, sc, n->kids[1]);
        Expr *y = x ? bind_expr(b, sc, n->kids[2]) : NULL;
        if (!y) { expr_free(c); expr_free(x); return NULL; }
        Type *t = type_unify(x->type, y->type);
        if (!t) {
            char *a = bind_tystr(x->type), *bb = bind_tystr(y->type);
            bind_errn(b, n, "if() branches have different types: %s and %s", a, bb);
            free(a); free(bb); expr_free(c); expr_free(x); expr_free(y);
            return NULL;
        }
        Expr *e = expr_new(E_CASE, t, n);
        e->flag = 1;
        expr_add(e, c); expr_add(e, x); expr_add(e, y);
        return e;
    }
    UdfDef *udf = catalog_find_udf(b->cat, name);
    const FuncDef *fd = func_lookup(name);
    if (!fd && !udf) {
        const char *const *fnames = func_names();
        const char *best = NULL;
        size_t nf = 0;
        while (fnames[nf]) nf++;
        best = closest_name(name, fnames, nf);
        if (!best) {
            const char *const *an = agg_names();
            size_t na = 0;
            while (an[na]) na++;
            best = closest_name(name, an, na);
        }
        if (!best) best = closest_name(name, semop_names(), bind_names_len(semop_names()));
        if (best) bind_errn(b, n, "unknown function '%s'; did you mean '%s'?", name, best);
        else bind_errn(b, n, "unknown function '%s'", name);
        return NULL;
    }
    if (udf) {
        if ((size_t)n->nkids != udf->spec.nargs) {
            bind_errn(b, n, "%s takes %zu argument%s, got %d", name, udf->spec.nargs, udf->spec.nargs == 1 ? "" : "s", n->nkids);
            return NULL;
        }
        Expr *e = expr_new(E_CALL, udf_type(udf->spec.return_type), n);
        e->name = xstrdup(name);
        e->ival = 1;   /* marks a UDF call: fn is NULL, name looked up at run time */
        for (int i = 0; i < n->nkids; i++) {
            if (n->kids[i]->kind == N_NAMED) { bind_errn(b, n->kids[i], "%s takes positional arguments only", name); expr_free(e); return NULL; }
            Expr *a = bind_expr(b, sc, n->kids[i]);
            if (!a) { expr_free(e); return NULL; }
            expr_add(e, a);
        }
        return e;
    }
    int total = 0;
    const Node **argn = bind_map_args(b, n, fd->params, fd->nparams, fd->min_args, fd->flags & FUNC_VARIADIC, &total);
    if (!argn) return NULL;
    Expr *e = expr_new(E_CALL, NULL, n);
    e->fn = fd;
    Type **types = xcalloc((size_t)total + 1, sizeof *types);
    for (int i = 0; i < total; i++) {
        Expr *a;
        if (argn[i]) {
            a = bind_expr(b, sc, argn[i]);
            if (!a) { free(types); free(argn); expr_free(e); return NULL; }
        } else {
            a = bind_lit_expr(v_null(), type_null(), n);
        }
        expr_add(e, a);
        types[i] = argn[i] ? a->type : NULL;
    }
    char *msg = NULL;
    Type *rt = fd->type(types, total, &msg);
    free(types);
    /* an asynchronous function's options (max_concurrency: ...) hold for the whole call */
    for (int i = 1; rt && (fd->flags & FUNC_ASYNC) && i < total; i++)
        if (argn[i] && e->args[i]->kind != E_LIT) {
            bind_errn(b, argn[i], "%s's %s must be a constant", name, fd->params[i]);
            type_unref(rt);
            free(argn);
            expr_free(e);
            return NULL;
        }
    free(argn);
    if (!rt) {
        bind_errn(b, n, "%s", msg ? msg : "bad argument types");
        free(msg);
        expr_free(e);
        return NULL;
    }
    free(msg);
    e->type = rt;
    return e;
}

static Expr *bind_binop(Binder *b, Scope *sc, const Node *n)
{
    Expr *l = bind_expr(b, sc, n->a);
    if (!l) return NULL;
    Expr *r = bind_expr(b, sc, n->b);
    if (!r) { expr_free(l); return NULL; }
    Type *t = NULL;
    int op = n->op;
    char *ls = NULL, *rs = NULL;
    switch (op) {
    case OP_AND: case OP_OR:
        if (bind_expect_bool(b, n->a, l, op == OP_AND ? "'and'" : "'or'") || bind_expect_bool(b, n->b, r, op == OP_AND ? "'and'" : "'or'")) goto fail;
        t = type_bool();
        break;
    case OP_EQ: case OP_NE: case OP_LT: case OP_LE: case OP_GT: case OP_GE:
        if (!bind_comparable(l->type, r->type)) {
            ls = bind_tystr(l->type); rs = bind_tystr(r->type);
            bind_errn(b, n, "cannot compare %s with %s using '%s'%s", ls, rs, op_text(op),
                      (type_is_stringish(l->type) && type_is_numeric(r->type)) || (type_is_numeric(l->type) && type_is_stringish(r->type))
                          ? " (use cast(x as int) or cast(x as string) to convert)" : "");
            goto fail;
        }
        t = type_bool();
        break;
    case OP_CONCAT:
        if (l->type->kind == TY_LIST && r->type->kind == TY_LIST) t = type_unify(l->type, r->type);
        if (!t) t = type_string();
        break;
    default:
        t = arith_type(op, l->type, r->type);
        if (!t) {
            ls = bind_tystr(l->type); rs = bind_tystr(r->type);
            bind_errn(b, n, "cannot apply '%s' to %s and %s%s", op_text(op), ls, rs,
                      op == OP_ADD && (type_is_stringish(l->type) || type_is_stringish(r->type)) ? " (use || to concatenate strings)" : "");
            goto fail;
        }
    }
    Expr *e = expr_new(E_BINOP, t, n);
    e->op = op;
    expr_add(e, l);
    expr_add(e, r);
    return e;
fail:
    free(ls); free(rs);
    expr_free(l); expr_free(r);
    return NULL;
}

Value bind_const_int_value(const Node *n, int *ok)
{
    *ok = 1;
    if (n->kind == N_INT) return v_int(n->ival);
    if (n->kind == N_UNOP && n->op == OP_NEG && n->a->kind == N_INT) return v_int(-n->a->ival);
    *ok = 0;
    return v_null();
}

const Expr *bind_col_definition(const Scope *sc, int col, Scope *csc)
{
    const Plan *p = sc->input;
    int items = sc->input_items;
    for (int guard = 0; p && guard < 256; guard++) {
        switch (p->kind) {
        case P_DERIVE: {
            int n = items >= 0 ? items : p->nexprs;
            for (int i = n - 1; i >= 0; i--)
                if (p->targets[i] == col) {
                    memset(csc, 0, sizeof *csc);
                    csc->input = p;
                    csc->input_items = i;
                    return p->exprs[i];
                }
            break;   /* not computed here: the same column of its input */
        }
        case P_PROJECT:
            if (items >= 0 || col >= p->nexprs) return NULL;
            memset(csc, 0, sizeof *csc);
            csc->input = p->child;
            csc->input_items = -1;
            return p->exprs[col];
        case P_FILTER: case P_SORT: case P_LIMIT: case P_DISTINCT: case P_CACHE:
            break;
        default:
            return NULL;
        }
        p = p->child;
        items = -1;
    }
    return NULL;
}

/* A subquery (from ...) at n: its pipeline pipe is bound on its own (it reads no column of the
 * expression's rows) and must give one column. as_list 0: a scalar of that column's type; 1: a list
 * of it (`in (from ...)`). New E_SUBQUERY, or NULL with the error. */
static Expr *bind_subquery(Binder *b, const Node *n, const Node *pipe, int as_list)
{
    char **quals = NULL;
    Plan *p = b->pipeline ? b->pipeline(b, pipe, &quals) : NULL;
    if (!p) { if (!err_failed(b->err)) bind_errn(b, n, "a subquery cannot be used here"); free(quals); return NULL; }
    bind_quals_free(quals, p->schema->n);
    if (p->kind == P_WRITE) { plan_free(p); bind_errn(b, pipe, "a subquery cannot end in write"); return NULL; }
    if (p->schema->n != 1) {
        Buf cols;
        buf_init(&cols);
        for (int i = 0; i < p->schema->n && i < 8; i++) buf_printf(&cols, "%s%s", i ? ", " : "", p->schema->names[i]);
        if (p->schema->n > 8) buf_puts(&cols, ", ...");
        bind_errn(b, pipe, "a subquery in an expression gives one column; this one gives %d (%s): end it with "
                  "`| select COLUMN` or an `agg`", p->schema->n, cols.data ? cols.data : "");
        buf_free(&cols);
        plan_free(p);
        return NULL;
    }
    Type *t = type_ref(p->schema->types[0]);
    Expr *e = expr_new(E_SUBQUERY, as_list ? type_list(t) : t, n);
    e->flag = as_list;
    e->sub = p;
    return e;
}

/* Does a value of type got fit a parameter declared want? Null and any fit everything; an int fits
 * a float; a string fits an enum, a date or a timestamp (converted where it is used); a list fits
 * when its elements do; other kinds must match. */
static int param_fits(const Type *want, const Type *got)
{
    if (!want || !got) return 1;
    if (got->kind == TY_NULL || got->kind == TY_ANY || want->kind == TY_ANY || want->kind == TY_JSON) return 1;
    if (want->kind == got->kind) return want->kind == TY_LIST ? param_fits(want->elem, got->elem) : 1;
    if (want->kind == TY_FLOAT && got->kind == TY_INT) return 1;
    if ((want->kind == TY_ENUM || want->kind == TY_DATE || want->kind == TY_TIMESTAMP) && got->kind == TY_STRING) return 1;
    if (want->kind == TY_STRING && got->kind == TY_ENUM) return 1;
    return 0;
}

int bind_fn_arg_check(Binder *b, const char *fn, const char *param, const Type *want, const Node *arg, Scope *sc)
{
    Scope empty_sc;
    Schema empty = { 0, NULL, NULL };
    if (!sc) {
        memset(&empty_sc, 0, sizeof empty_sc);
        empty_sc.schema = &empty;
        sc = &empty_sc;
    }
    Expr *x = bind_expr(b, sc, arg);
    if (!x) return -1;
    int rc = 0;
    if (!param_fits(want, x->type)) {
        char *ws = bind_tystr(want), *gs = bind_tystr(x->type);
        rc = bind_errn(b, arg, "fn %s: parameter '%s' is %s, got %s", fn, param, ws, gs);
        free(ws); free(gs);
    } else if (want->kind == TY_ENUM && x->kind == E_LIT && x->lit.kind == V_STRING) {
        int found = 0;
        for (int i = 0; i < want->nlabels; i++)
            if (!strcmp(want->labels[i], v_str(x->lit))) found = 1;
        if (!found) {
            char *ws = bind_tystr(want);
            rc = bind_errn(b, arg, "fn %s: parameter '%s' is %s; \"%s\" is not one of its labels", fn, param, ws, v_str(x->lit));
            free(ws);
        }
    }
    expr_free(x);
    return rc;
}

Expr *bind_expr(Binder *b, Scope *sc, const Node *n)
{
    Expr *e = NULL;
    switch (n->kind) {
    case N_INT: return bind_lit_expr(v_int(n->ival), type_int(), n);
    case N_FLOAT: return bind_lit_expr(v_float(n->fval), type_float(), n);
    case N_STRING: return bind_lit_expr(v_string(n->str, (size_t)n->ival), type_string(), n);
    case N_BOOL: return bind_lit_expr(v_bool((int)n->ival), type_bool(), n);
    case N_NULL: return bind_lit_expr(v_null(), type_null(), n);
    case N_IDENT: {
        int col = bind_find_col(sc, NULL, n->str);
        if (col >= 0) return bind_col_expr(sc, col, n);
        if (catalog_find_model(b->cat, n->str)) return bind_lit_expr(v_cstring(n->str), type_string(), n);
        bind_unknown_column(b, sc, n, n->str);
        return NULL;
    }
    case N_FIELD: {
        /* qualifier.column (join sides) when the left part is not itself a column */
        if (n->a->kind == N_IDENT && bind_has_qual(sc, n->a->str)) {
            int col = bind_find_col(sc, n->a->str, n->str);
            if (col >= 0) return bind_col_expr(sc, col, n);
            if (bind_find_col(sc, NULL, n->a->str) < 0) {
                bind_errn(b, n, "'%s' has no column '%s'", n->a->str, n->str);
                return NULL;
            }
        }
        Expr *base = bind_expr(b, sc, n->a);
        if (!base) return NULL;
        if (base->type->kind == TY_STRUCT) {
            int fi = type_field_index(base->type, n->str);
            if (fi < 0) {
                const char *names[64];
                int k = 0;
                for (int i = 0; i < base->type->nfields && k < 64; i++) names[k++] = base->type->fields[i].name;
                const char *best = closest_name(n->str, names, (size_t)k);
                char *ts = bind_tystr(base->type);
                if (best) bind_errn(b, n, "%s has no field '%s'; did you mean '%s'?", ts, n->str, best);
                else bind_errn(b, n, "%s has no field '%s'", ts, n->str);
                free(ts);
                expr_free(base);
                return NULL;
            }
            e = expr_new(E_FIELD, type_ref(base->type->fields[fi].type), n);
            e->ival = fi;
        } else if (base->type->kind == TY_JSON || base->type->kind == TY_ANY || base->type->kind == TY_NULL) {
            e = expr_new(E_FIELD, type_ref(base->type->kind == TY_JSON ? type_json() : type_any()), n);
            e->ival = -1;
        } else {
            char *ts = bind_tystr(base->type);
            bind_errn(b, n, "cannot take field '%s' of a %s value", n->str, ts);
            free(ts);
            expr_free(base);
            return NULL;
        }
        e->name = xstrdup(n->str);
        expr_add(e, base);
        return e;
    }
    case N_INDEX: {
        Expr *base = bind_expr(b, sc, n->a);
        if (!base) return NULL;
        Expr *idx = bind_expr(b, sc, n->b);
        if (!idx) { expr_free(base); return NULL; }
        Type *t;
        if (base->type->kind == TY_LIST) t = type_ref(base->type->elem);
        else if (base->type->kind == TY_VECTOR) t = type_float();
        else if (base->type->kind == TY_STRING) t = type_string();
        else if (base->type->kind == TY_JSON) t = type_json();
        else if (base->type->kind == TY_ANY || base->type->kind == TY_NULL) t = type_any();
        else {
            char *ts = bind_tystr(base->type);
            bind_errn(b, n, "cannot index a %s value with [...]", ts);
            free(ts); expr_free(base); expr_free(idx);
            return NULL;
        }
        if (!(idx->type->kind == TY_INT || idx->type->kind == TY_NULL || idx->type->kind == TY_ANY ||
              (base->type->kind == TY_JSON && type_is_stringish(idx->type)))) {
            char *ts = bind_tystr(idx->type);
            bind_errn(b, n->b, "an index must be an int, got %s", ts);
            free(ts); type_unref(t); expr_free(base); expr_free(idx);
            return NULL;
        }
        e = expr_new(E_INDEX, t, n);
        expr_add(e, base);
        expr_add(e, idx);
        return e;
    }
    case N_CALL: return bind_call(b, sc, n);
    case N_BINOP: return bind_binop(b, sc, n);
    case N_UNOP: {
        Expr *a = bind_expr(b, sc, n->a);
        if (!a) return NULL;
        if (n->op == OP_NOT) {
            if (bind_expect_bool(b, n->a, a, "'not'")) { expr_free(a); return NULL; }
            e = expr_new(E_NOT, type_bool(), n);
        } else {
            if (!type_is_numeric(a->type) && a->type->kind != TY_ANY) {
                char *ts = bind_tystr(a->type);
                bind_errn(b, n, "cannot negate a %s value", ts);
                free(ts); expr_free(a);
                return NULL;
            }
            e = expr_new(E_NEG, type_ref(a->type), n);
        }
        expr_add(e, a);
        return e;
    }
    case N_ISNULL: {
        Expr *a = bind_expr(b, sc, n->a);
        if (!a) return NULL;
        e = expr_new(E_ISNULL, type_bool(), n);
        e->flag = n->flag;
        expr_add(e, a);
        return e;
    }
    case N_SUBQUERY: return bind_subquery(b, n, n->a, 0);
    case N_IN: {
        Expr *a = bind_expr(b, sc, n->a);
        if (!a) return NULL;
        e = expr_new(E_IN, type_bool(), n);
        e->flag = n->flag;
        expr_add(e, a);
        if (n->b) {   /* in (from ...): the subquery's column, as a list */
            Expr *x = bind_subquery(b, n, n->b, 1);
            if (!x) { expr_free(e); return NULL; }
            if (!bind_comparable(a->type, x->type->elem)) {
                char *ts = bind_tystr(a->type), *xs = bind_tystr(x->type->elem);
                bind_errn(b, n->b, "cannot compare %s with the subquery's %s column in 'in (from ...)'", ts, xs);
                free(ts); free(xs); expr_free(x); expr_free(e);
                return NULL;
            }
            e->flag |= 2;
            expr_add(e, x);
            return e;
        }
        for (int i = 0; i < n->nkids; i++) {
            Expr *x = bind_expr(b, sc, n->kids[i]);
            if (!x) { expr_free(e); return NULL; }
            if (!bind_comparable(a->type, x->type)) {
                char *ts = bind_tystr(a->type), *xs = bind_tystr(x->type);
                bind_errn(b, n->kids[i], "cannot compare %s with %s in 'in (...)'", ts, xs);
                free(ts); free(xs); expr_free(x); expr_free(e);
                return NULL;
            }
            expr_add(e, x);
        }
        return e;
    }
    case N_BETWEEN: {
        /* a between lo and hi  ==  a >= lo and a <= hi (a evaluated twice: it has no side effects) */
        Node ge = *n, le = *n, both = *n;
        ge.kind = N_BINOP; ge.op = OP_GE; ge.a = n->a; ge.b = n->b; ge.nkids = 0;
        le.kind = N_BINOP; le.op = OP_LE; le.a = n->a; le.b = n->c; le.nkids = 0;
        both.kind = N_BINOP; both.op = OP_AND; both.a = &ge; both.b = &le; both.nkids = 0;
        Expr *x = bind_binop(b, sc, &both);
        if (!x || !n->flag) return x;
        e = expr_new(E_NOT, type_bool(), n);
        expr_add(e, x);
        return e;
    }
    case N_LIKE: {
        Expr *a = bind_expr(b, sc, n->a);
        if (!a) return NULL;
        Expr *p = bind_expr(b, sc, n->b);
        if (!p) { expr_free(a); return NULL; }
        if (!type_is_stringish(a->type) || !type_is_stringish(p->type)) {
            char *ts = bind_tystr(type_is_stringish(a->type) ? p->type : a->type);
            bind_errn(b, n, "%s needs strings, got %s", n->op == OP_ILIKE ? "ilike" : "like", ts);
            free(ts); expr_free(a); expr_free(p);
            return NULL;
        }
        e = expr_new(E_LIKE, type_bool(), n);
        e->op = n->op;
        e->flag = n->flag;
        expr_add(e, a);
        expr_add(e, p);
        return e;
    }
    case N_CASE: {
        Type *t = type_null();
        e = expr_new(E_CASE, NULL, n);
        for (int i = 0; i < n->nkids; i++) {
            const Node *w = n->kids[i];
            Expr *c = bind_expr(b, sc, w->a);
            if (!c) goto case_fail;
            if (bind_expect_bool(b, w->a, c, "case when")) { expr_free(c); goto case_fail; }
            expr_add(e, c);
            Expr *v = bind_expr(b, sc, w->b);
            if (!v) goto case_fail;
            expr_add(e, v);
            Type *u = type_unify(t, v->type);
            if (!u) {
                char *ts = bind_tystr(t), *vs = bind_tystr(v->type);
                bind_errn(b, w->b, "case branches have different types: %s and %s", ts, vs);
                free(ts); free(vs);
                goto case_fail;
            }
            type_unref(t);
            t = u;
        }
        if (n->a) {
            Expr *v = bind_expr(b, sc, n->a);
            if (!v) goto case_fail;
            expr_add(e, v);
            e->flag = 1;
            Type *u = type_unify(t, v->type);
            if (!u) {
                char *ts = bind_tystr(t), *vs = bind_tystr(v->type);
                bind_errn(b, n->a, "case else has type %s but the branches have %s", vs, ts);
                free(ts); free(vs);
                goto case_fail;
            }
            type_unref(t);
            t = u;
        }
        e->type = t;
        return e;
case_fail:
        type_unref(t);
        expr_free(e);
        return NULL;
    }
    case N_LIST_LIT: {
        Type *el = type_null();
        e = expr_new(E_LIST, NULL, n);
        for (int i = 0; i < n->nkids; i++) {
            Expr *x = bind_expr(b, sc, n->kids[i]);
            if (!x) { type_unref(el); expr_free(e); return NULL; }
            Type *u = type_unify(el, x->type);
            if (!u) {
                char *a = bind_tystr(el), *xs = bind_tystr(x->type);
                bind_errn(b, n->kids[i], "list elements have different types: %s and %s", a, xs);
                free(a); free(xs); expr_free(x); type_unref(el); expr_free(e);
                return NULL;
            }
            type_unref(el);
            el = u;
            expr_add(e, x);
        }
        e->type = type_list(el);
        return e;
    }
    case N_STRUCT_LIT: {
        Type *st = type_struct_new(n->nkids);
        e = expr_new(E_STRUCT, NULL, n);
        for (int i = 0; i < n->nkids; i++) {
            const Node *f = n->kids[i];
            for (int j = 0; j < i; j++)
                if (!strcmp(st->fields[j].name, f->str)) {
                    bind_errn(b, f, "field '%s' appears twice in a struct", f->str);
                    for (int q = i; q < n->nkids; q++) { st->fields[q].name = xstrdup("?"); st->fields[q].type = type_null(); }
                    type_unref(st); expr_free(e);
                    return NULL;
                }
            Expr *x = bind_expr(b, sc, f->a);
            if (!x) {
                for (int q = i; q < n->nkids; q++) { st->fields[q].name = xstrdup("?"); st->fields[q].type = type_null(); }
                type_unref(st); expr_free(e);
                return NULL;
            }
            st->fields[i].name = xstrdup(f->str);
            st->fields[i].type = type_ref(x->type);
            expr_add(e, x);
        }
        e->type = st;
        return e;
    }
    case N_CAST: {
        Expr *a = bind_expr(b, sc, n->a);
        if (!a) return NULL;
        Type *t = bind_type(b->cat, n->b, b->err);
        if (!t) { expr_free(a); return NULL; }
        e = expr_new(E_CAST, t, n);
        expr_add(e, a);
        return e;
    }
    case N_STAR:
        bind_errn(b, n, "'*' is only allowed in select and count(*)");
        return NULL;
    default:
        bind_errn(b, n, "expected an expression here");
        return NULL;
    }
}

/* ---- types ---- */

static Type *bind_type_inner(Catalog *cat, const Node *n, fql_error *err);

/* Bind a type node; `T?` marks it declared-nullable (its JSON schema then admits null). */
Type *bind_type(Catalog *cat, const Node *n, fql_error *err)
{
    Type *t = bind_type_inner(cat, n, err);
    if (t && n->flag) t = type_with_nullable(t, TYPE_DECLARED_NULLABLE);
    return t;
}

static Type *bind_type_inner(Catalog *cat, const Node *n, fql_error *err)
{
    Binder bb = { .cat = cat, .err = err }, *b = &bb;
    Type *t = NULL;
    switch (n->kind) {
    case N_TYPE_NAME: {
        static const struct { const char *name; Type *(*make)(void); } basic[] = {
            { "string", type_string }, { "text", type_string }, { "int", type_int }, { "integer", type_int },
            { "bigint", type_int }, { "float", type_float }, { "double", type_float }, { "bool", type_bool },
            { "boolean", type_bool }, { "date", type_date }, { "timestamp", type_timestamp }, { "json", type_json },
        };
        for (size_t i = 0; i < sizeof basic / sizeof basic[0]; i++)
            if (n->str && !strcasecmp(n->str, basic[i].name)) { t = basic[i].make(); break; }
        if (!t && n->str) {
            TypeDef *td = catalog_find_type(cat, n->str);
            if (td) t = type_ref(td->type);
        }
        if (!t) {
            const char *cands[64];
            int k = 0;
            for (size_t i = 0; i < sizeof basic / sizeof basic[0]; i++) cands[k++] = basic[i].name;
            for (TypeDef *td = cat->types; td && k < 64; td = td->next) cands[k++] = td->name;
            const char *best = n->str ? closest_name(n->str, cands, (size_t)k) : NULL;
            if (best) bind_errn(b, n, "unknown type '%s'; did you mean '%s'?", n->str ? n->str : "?", best);
            else bind_errn(b, n, "unknown type '%s' (declare it with `type %s = {...};`)", n->str ? n->str : "?", n->str ? n->str : "Name");
            return NULL;
        }
        return t;
    }
    case N_TYPE_LIST: {
        Type *el = bind_type(cat, n->a, err);
        return el ? type_list(el) : NULL;
    }
    case N_TYPE_VECTOR:
        if (n->ival <= 0 || n->ival > 65536) { bind_errn(b, n, "vector dimension must be between 1 and 65536"); return NULL; }
        return type_vector((int)n->ival);
    case N_TYPE_ENUM: {
        if (n->nkids == 0) { bind_errn(b, n, "enum() needs at least one label"); return NULL; }
        char **labels = xcalloc((size_t)n->nkids, sizeof *labels);
        for (int i = 0; i < n->nkids; i++) labels[i] = xstrdup(n->kids[i]->str ? n->kids[i]->str : "");
        return type_enum_new(n->nkids, labels);
    }
    case N_TYPE_STRUCT: {
        t = type_struct_new(n->nkids);
        for (int i = 0; i < n->nkids; i++) {
            const Node *f = n->kids[i];
            t->fields[i].name = xstrdup(f->str);
            t->fields[i].desc = f->str2 ? xstrdup(f->str2) : NULL;
            for (int j = 0; j < i; j++)
                if (!strcmp(t->fields[j].name, f->str)) {
                    bind_errn(b, f, "field '%s' is declared twice", f->str);
                    for (int q = i; q < n->nkids; q++) { if (q > i) t->fields[q].name = xstrdup("?"); t->fields[q].type = type_null(); }
                    type_unref(t);
                    return NULL;
                }
            t->fields[i].type = bind_type(cat, f->a, err);
            if (!t->fields[i].type) {
                for (int q = i; q < n->nkids; q++) { if (q > i) t->fields[q].name = xstrdup("?"); t->fields[q].type = type_null(); }
                type_unref(t);
                return NULL;
            }
        }
        return t;
    }
    default:
        bind_errn(b, n, "expected a type");
        return NULL;
    }
}

/* A type written as an expression (reader `schema: {age: int, tags: [string]}`). */
Type *bind_type_from_expr(Binder *b, const Node *n)
{
    Node *tn = NULL;
    Type *t = NULL;
    switch (n->kind) {
    case N_IDENT:
        tn = node_new(N_TYPE_NAME, n->src, n->pos);
        tn->str = xstrdup(n->str);
        t = bind_type(b->cat, tn, b->err);
        break;
    case N_STRING:
        tn = node_new(N_TYPE_NAME, n->src, n->pos);
        tn->str = xstrdup(n->str);
        t = bind_type(b->cat, tn, b->err);
        break;
    case N_LIST_LIT:
        if (n->nkids == 1) {
            Type *el = bind_type_from_expr(b, n->kids[0]);
            t = el ? type_list(el) : NULL;
        } else bind_errn(b, n, "a list type is written [T]");
        break;
    case N_STRUCT_LIT:
        t = type_struct_new(n->nkids);
        for (int i = 0; i < n->nkids; i++) {
            t->fields[i].name = xstrdup(n->kids[i]->str);
            t->fields[i].type = bind_type_from_expr(b, n->kids[i]->a);
            if (!t->fields[i].type) {
                for (int q = i; q < n->nkids; q++) { if (q > i) t->fields[q].name = xstrdup("?"); t->fields[q].type = type_null(); }
                type_unref(t);
                return NULL;
            }
        }
        break;
    default:
        bind_errn(b, n, "expected a type (int, float, bool, string, date, timestamp, json, [T], {...})");
    }
    node_free(tn);
    return t;
}

/* ---- constant expressions (options) ---- */

/* Evaluate a constant expression (literals, lists, structs, negation, identifiers as strings).
 * Returns 0 and *out, or -1 with an error. */
int bind_const_value(Binder *b, const Node *n, Value *out)
{
    switch (n->kind) {
    case N_INT: *out = v_int(n->ival); return 0;
    case N_FLOAT: *out = v_float(n->fval); return 0;
    case N_STRING: *out = v_string(n->str, (size_t)n->ival); return 0;
    case N_BOOL: *out = v_bool((int)n->ival); return 0;
    case N_NULL: *out = v_null(); return 0;
    case N_IDENT: *out = v_cstring(n->str); return 0;
    case N_UNOP:
        if (n->op == OP_NEG) {
            Value v;
            if (bind_const_value(b, n->a, &v)) return -1;
            if (v.kind == V_INT) { *out = v_int(-v.u.i); return 0; }
            if (v.kind == V_FLOAT) { *out = v_float(-v.u.f); return 0; }
            value_free(v);
        }
        break;
    case N_LIST_LIT: {
        Value l = v_list_new((uint32_t)n->nkids);
        for (int i = 0; i < n->nkids; i++)
            if (bind_const_value(b, n->kids[i], &l.u.l->items[i])) { value_free(l); return -1; }
        *out = l;
        return 0;
    }
    case N_STRUCT_LIT: {
        Type *st = type_struct_new(n->nkids);
        for (int i = 0; i < n->nkids; i++) { st->fields[i].name = xstrdup(n->kids[i]->str); st->fields[i].type = type_any(); }
        Value v = v_struct_new(st);
        type_unref(st);
        for (int i = 0; i < n->nkids; i++)
            if (bind_const_value(b, n->kids[i]->a, &v.u.st->fields[i])) { value_free(v); return -1; }
        *out = v;
        return 0;
    }
    default: break;
    }
    bind_errn(b, n, "expected a constant value here (a number, string, list or {key: value})");
    return -1;
}
