/* bind.c: the binder. Resolves names (columns, lets, fns, types, models), checks types, infers each
 * stage's output schema and lowers AST pipelines to logical Plans (plan.h).
 *
 * Scope: an expression is bound against the schema flowing into its stage. Each column also carries
 * a qualifier (the name or alias of the source it came from) so that `t.col` works after a join.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <limits.h>
#include <unistd.h>
#include <sys/stat.h>
#include <jansson.h>
#include "bind.h"
#include "semop.h"
#include "rt.h"
#include "exec.h"
#include "system.h"
#include "models.h"
#include "udf.h"
#include "ops.h"

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

typedef struct Scope {
    const Schema *schema;
    char **quals;            /* per column: qualifier or NULL (array of schema->n) */
    /* aggregate context (binding `agg` items): aggregate calls found are appended here */
    AggCall *aggs; int naggs, capaggs;
    int in_agg;              /* 1 while binding an agg item: aggregate calls allowed */
    int inside_agg;          /* 1 while binding an aggregate's arguments (no nesting) */
    const struct FnFrame *fns;   /* the fn calls being inlined, innermost first */
    long fn_copies;              /* fn bodies inlined so far in this scope (see FN_MAX_COPIES) */
    /* the two sides of a sim join or semantic join: `left.x` names one of the first nleft columns,
     * `right.x` one of the others (whatever the sources' own names) */
    int sides, nleft;
} Scope;

typedef struct Binder {
    Catalog *cat;
    fql_error *err;
} Binder;

static Expr *bind_expr(Binder *b, Scope *sc, const Node *n);
static Plan *bind_pipeline(Binder *b, const Node *pipe, char ***quals_out);
static Plan *bind_source(Binder *b, const Node *src, char ***quals_out);
static int const_value(Binder *b, const Node *n, Value *out);
static Expr *bind_reduce(Binder *b, Scope *sc, const Node *n);
static Expr *lit_expr(Value v, Type *t, const Node *at);

static const char *const providers[] = { "openai", "anthropic", "gemini", "vertex", "openrouter", "cohere", NULL };
static const char *const model_options[] = {
    "rpm", "tpm", "input_tpm", "output_tpm", "max_concurrency", "timeout", "max_retries", "base_url",
    "api_key_env", "temperature", "max_output_tokens", "reasoning_effort", "dimensions", "price_in",
    "price_out", "context_window", "batch", "profiles", "default_profile", "project", "location",
    "fallback", "seed", "cached_price_in", "batch_max_requests", "batch_max_bytes", NULL
};

/* How many names a NULL-terminated list holds (for closest_name: no counts written by hand). */
static size_t names_len(const char *const *names)
{
    size_t n = 0;
    while (names[n]) n++;
    return n;
}

const char *const *bind_semantic_names(void) { return semop_names(); }
const char *const *bind_provider_names(void) { return providers; }
const char *const *bind_model_option_names(void) { return model_options; }

/* A row-wise semantic operator (reduce, an aggregate, is bound apart). */
static const SemOpDesc *semantic_op(const char *name)
{
    const SemOpDesc *d = semop_lookup(name);
    return d && d->scalar ? d : NULL;
}

static int errn(Binder *b, const Node *n, const char *fmt, ...) FQL_PRINTF(3, 4);
static int errn(Binder *b, const Node *n, const char *fmt, ...)
{
    va_list ap;
    char msg[900];
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return err_at(b->err, FQL_ERR_TYPE, n ? n->src : NULL, n ? n->pos : 0, "%s", msg);
}

static char *tystr(const Type *t) { return type_to_string(t); }

/* ---- qualifiers ---- */

static char **quals_new(int n, const char *q)
{
    char **qs = xcalloc((size_t)(n > 0 ? n : 1), sizeof *qs);
    for (int i = 0; i < n; i++) qs[i] = q ? xstrdup(q) : NULL;
    return qs;
}

static void quals_free(char **qs, int n)
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

static int has_qual(const Scope *sc, const char *q)
{
    for (int i = 0; i < sc->schema->n; i++)
        if (qual_matches(sc, i, q)) return 1;
    return 0;
}

/* ---- column lookup with suggestions ---- */

static int unknown_column(Binder *b, const Scope *sc, const Node *n, const char *name)
{
    const char *best = closest_name(name, (const char *const *)sc->schema->names, (size_t)sc->schema->n);
    Buf cols;
    buf_init(&cols);
    for (int i = 0; i < sc->schema->n && i < 12; i++)
        buf_printf(&cols, "%s%s", i ? ", " : "", sc->schema->names[i]);
    if (sc->schema->n > 12) buf_puts(&cols, ", ...");
    if (best)
        errn(b, n, "unknown column '%s'; did you mean '%s'?", name, best);
    else
        errn(b, n, "unknown column '%s' (columns: %s)", name, cols.data ? cols.data : "none");
    buf_free(&cols);
    return -1;
}

static int find_col(const Scope *sc, const char *qual, const char *name)
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

/* ---- expressions ---- */

static Expr *col_expr(const Scope *sc, int col, const Node *at)
{
    Expr *e = expr_new(E_COL, type_ref(sc->schema->types[col]), at);
    e->ival = col;
    return e;
}

static Expr *lit_expr(Value v, Type *t, const Node *at)
{
    Expr *e = expr_new(E_LIT, t, at);
    e->lit = v;
    return e;
}

static int expect_bool(Binder *b, const Node *n, Expr *e, const char *what)
{
    if (e->type->kind == TY_BOOL || e->type->kind == TY_NULL || e->type->kind == TY_ANY) return 0;
    char *ts = tystr(e->type);
    errn(b, n, "%s expects a bool condition, got %s", what, ts);
    free(ts);
    return -1;
}

static int comparable(const Type *a, const Type *b)
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

/* Render "Hi {{name}}, about {{t.x}}" as a concatenation of the row's values. */
static Expr *bind_template(Binder *b, Scope *sc, const Node *at, const char *tpl)
{
    Expr *cat = expr_new(E_CALL, type_string(), at);
    cat->fn = func_lookup("concat");
    const char *p = tpl;
    while (*p) {
        const char *open = strstr(p, "{{");
        if (!open) { expr_add(cat, lit_expr(v_cstring(p), type_string(), at)); break; }
        if (open > p) expr_add(cat, lit_expr(v_string(p, (size_t)(open - p)), type_string(), at));
        const char *close = strstr(open + 2, "}}");
        if (!close) {
            expr_free(cat);
            errn(b, at, "unclosed '{{' in template (write '}}' after the column name)");
            return NULL;
        }
        char *name = xstrndup(open + 2, (size_t)(close - open - 2));
        char *s = name, *e;
        while (*s == ' ') s++;
        e = s + strlen(s);
        while (e > s && e[-1] == ' ') *--e = 0;
        /* a.b: qualifier or struct field */
        Expr *ref = NULL;
        char *dot = strchr(s, '.');
        int col;
        if (dot) {
            *dot = 0;
            if (has_qual(sc, s) && (col = find_col(sc, s, dot + 1)) >= 0 && find_col(sc, NULL, s) < 0) {
                ref = col_expr(sc, col, at);
            } else if ((col = find_col(sc, NULL, s)) >= 0) {
                ref = col_expr(sc, col, at);
                char *f = dot + 1;
                while (f && *f) {
                    char *nd = strchr(f, '.');
                    if (nd) *nd = 0;
                    Expr *fe;
                    int fi = ref->type->kind == TY_STRUCT ? type_field_index(ref->type, f) : -1;
                    if (ref->type->kind == TY_STRUCT && fi < 0) {
                        errn(b, at, "template: '%s' has no field '%s'", s, f);
                        expr_free(ref); expr_free(cat); free(name);
                        return NULL;
                    }
                    fe = expr_new(E_FIELD, fi >= 0 ? type_ref(ref->type->fields[fi].type) : type_any(), at);
                    fe->ival = fi;
                    fe->name = xstrdup(f);
                    expr_add(fe, ref);
                    ref = fe;
                    f = nd ? nd + 1 : NULL;
                }
            }
        } else if ((col = find_col(sc, NULL, s)) >= 0) {
            ref = col_expr(sc, col, at);
        }
        if (!ref) {
            const char *best = closest_name(s, (const char *const *)sc->schema->names, (size_t)sc->schema->n);
            if (dot && has_qual(sc, s) && find_col(sc, NULL, s) < 0) errn(b, at, "template: '%s' has no column '%s'", s, dot + 1);
            else if (best) errn(b, at, "template refers to unknown column '%s'; did you mean '%s'?", dot ? open + 2 : s, best);
            else errn(b, at, "template refers to unknown column '%s'", s);
            free(name);
            expr_free(cat);
            return NULL;
        }
        free(name);
        /* values are inserted verbatim as text (never re-rendered) */
        Expr *txt = expr_new(E_CAST, type_string(), at);
        expr_add(txt, ref);
        expr_add(cat, txt);
        p = close + 2;
    }
    if (cat->nargs == 0) expr_add(cat, lit_expr(v_cstring(""), type_string(), at));
    return cat;
}

/* Inline a user fn: substitute parameters in a clone of its body. */
static Node *subst_params(const Node *body, const FnDef *fn, Node *const *args)
{
    if (!body) return NULL;
    if (body->kind == N_IDENT) {
        for (int i = 0; i < fn->nparams; i++)
            if (!strcmp(body->str, fn->params[i])) return node_clone(args[i]);
    }
    Node *c = node_clone(body);
    /* node_clone copied children; replace them */
    node_free(c->a); node_free(c->b); node_free(c->c);
    c->a = subst_params(body->a, fn, args);
    c->b = subst_params(body->b, fn, args);
    c->c = subst_params(body->c, fn, args);
    for (int i = 0; i < c->nkids; i++) {
        node_free(c->kids[i]);
        c->kids[i] = subst_params(body->kids[i], fn, args);
    }
    return c;
}

static Expr *bind_semantic(Binder *b, Scope *sc, const Node *n);

/* Map a call's positional and named arguments onto a parameter list. Returns the arg nodes in
 * parameter order (NULL where omitted; extras after for variadic) and their count in *nout. */
static const Node **map_args(Binder *b, const Node *n, const char *const *params, int nparams,
                             int min_args, int variadic, int *nout)
{
    int npos = 0;
    while (npos < n->nkids && n->kids[npos]->kind != N_NAMED) npos++;
    int total = nparams > npos ? nparams : npos;
    const Node **out = xcalloc((size_t)total + 1, sizeof *out);
    if (npos > nparams && !variadic) {
        errn(b, n->kids[nparams], "%s takes at most %d argument%s, got %d", n->str, nparams, nparams == 1 ? "" : "s", npos);
        free(out);
        return NULL;
    }
    for (int i = 0; i < npos; i++) out[i] = n->kids[i];
    for (int i = npos; i < n->nkids; i++) {
        const Node *k = n->kids[i];
        if (k->kind != N_NAMED) {
            errn(b, k, "positional argument after a named one in call to %s", n->str);
            free(out);
            return NULL;
        }
        int j;
        for (j = 0; j < nparams; j++)
            if (!strcmp(params[j], k->str)) break;
        if (j == nparams) {
            const char *best = closest_name(k->str, params, (size_t)nparams);
            if (best) errn(b, k, "%s has no parameter '%s'; did you mean '%s'?", n->str, k->str, best);
            else errn(b, k, "%s has no parameter '%s'", n->str, k->str);
            free(out);
            return NULL;
        }
        if (out[j]) {
            errn(b, k, "parameter '%s' of %s given twice", k->str, n->str);
            free(out);
            return NULL;
        }
        out[j] = k->a;
    }
    for (int j = 0; j < min_args; j++)
        if (!out[j]) {
            errn(b, n, "%s needs %d argument%s (missing '%s')", n->str, min_args, min_args == 1 ? "" : "s", params[j]);
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
            if (f == sc->fns && !f->up) errn(b, n, "fn %s calls itself (%s): recursion is not supported", name, chain);
            else errn(b, n, "fn %s calls itself through other fns (%s): recursion is not supported", name, chain);
            free(chain);
            return -1;
        }
    if (sc->fn_copies >= FN_MAX_COPIES) {
        errn(b, n, "fn %s: the fn calls here expand to more than %d copies of fn bodies (a fn that calls another several "
             "times multiplies them): compute a shared part once with `derive` and pass the column", name, FN_MAX_COPIES);
        return -1;
    }
    if (sc->fns && sc->fns->depth >= FN_MAX_NESTING) {
        char *chain = fn_chain_text(sc->fns, name, NULL);
        errn(b, n, "fn calls nested more than %d deep (%s): this is nesting, not recursion; the limit is %d levels: "
             "call fewer fns inside one another (inline some of them)", FN_MAX_NESTING, chain, FN_MAX_NESTING);
        free(chain);
        return -1;
    }
    return 0;
}

static Expr *bind_call(Binder *b, Scope *sc, const Node *n)
{
    const char *name = n->str;
    /* user functions (fn) are inlined */
    FnDef *fn = catalog_find_fn(b->cat, name);
    if (fn) {
        int required = 0;
        while (required < fn->nparams && !fn->defaults[required]) required++;
        const Node **given = map_args(b, n, (const char *const *)fn->params, fn->nparams, required, 0, &(int){0});
        if (!given) return NULL;
        if (fn_call_check(b, sc, n, name)) { free(given); return NULL; }
        Node **args = xcalloc((size_t)fn->nparams + 1, sizeof *args);
        for (int i = 0; i < fn->nparams; i++) args[i] = (Node *)(given[i] ? given[i] : fn->defaults[i]);
        free(given);
        Node *body = subst_params(fn->body, fn, args);
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
    if (sd && sd->op == SEM_REDUCE) return bind_reduce(b, sc, n);
    const AggDef *ad = agg_lookup(name);
    if (ad) {
        if (!sc->in_agg) { errn(b, n, "aggregate %s() can only be used in an `agg` list (group by ... agg x = %s(...))", name, name); return NULL; }
        if (sc->inside_agg) { errn(b, n, "aggregate %s() cannot be nested inside another aggregate", name); return NULL; }
        int nargs = n->nkids;
        int star = nargs == 1 && n->kids[0]->kind == N_STAR;
        if (star) {
            if (strcmp(name, "count")) { errn(b, n, "only count(*) takes *"); return NULL; }
            nargs = 0;
        }
        if (nargs < ad->min_args || nargs > ad->max_args) {
            errn(b, n, "%s takes %d%s argument%s, got %d", name, ad->min_args,
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
            errn(b, n, "%s", msg ? msg : "bad argument types");
            free(msg);
            for (int j = 0; j < ac.nargs; j++) expr_free(ac.args[j]);
            free(ac.args);
            return NULL;
        }
        if (sc->naggs == sc->capaggs) {
            sc->capaggs = sc->capaggs ? sc->capaggs * 2 : 4;
            sc->aggs = xrealloc(sc->aggs, (size_t)sc->capaggs * sizeof *sc->aggs);
        }
        sc->aggs[sc->naggs] = ac;
        Expr *e = expr_new(E_AGG, type_ref(ac.type), n);
        e->ival = sc->naggs++;
        return e;
    }

    if (semantic_op(name)) return bind_semantic(b, sc, n);
    if (!strcmp(name, "template")) {
        if (n->nkids != 1 || n->kids[0]->kind != N_STRING) {
            errn(b, n, "template() takes one string literal: template(\"Hi {{name}}\")");
            return NULL;
        }
        return bind_template(b, sc, n, n->kids[0]->str);
    }
    if (!strcmp(name, "if")) {
        if (n->nkids != 3) { errn(b, n, "if(condition, then, else) takes 3 arguments, got %d", n->nkids); return NULL; }
        Expr *c = bind_expr(b, sc, n->kids[0]);
        if (!c) return NULL;
        if (expect_bool(b, n->kids[0], c, "if()")) { expr_free(c); return NULL; }
        Expr *x = bind_expr(b, sc, n->kids[1]);
        Expr *y = x ? bind_expr(b, sc, n->kids[2]) : NULL;
        if (!y) { expr_free(c); expr_free(x); return NULL; }
        Type *t = type_unify(x->type, y->type);
        if (!t) {
            char *a = tystr(x->type), *bb = tystr(y->type);
            errn(b, n, "if() branches have different types: %s and %s", a, bb);
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
        if (!best) best = closest_name(name, semop_names(), names_len(semop_names()));
        if (best) errn(b, n, "unknown function '%s'; did you mean '%s'?", name, best);
        else errn(b, n, "unknown function '%s'", name);
        return NULL;
    }
    if (udf) {
        if ((size_t)n->nkids != udf->spec.nargs) {
            errn(b, n, "%s takes %zu argument%s, got %d", name, udf->spec.nargs, udf->spec.nargs == 1 ? "" : "s", n->nkids);
            return NULL;
        }
        Expr *e = expr_new(E_CALL, udf_type(udf->spec.return_type), n);
        e->name = xstrdup(name);
        e->ival = 1;   /* marks a UDF call: fn is NULL, name looked up at run time */
        for (int i = 0; i < n->nkids; i++) {
            if (n->kids[i]->kind == N_NAMED) { errn(b, n->kids[i], "%s takes positional arguments only", name); expr_free(e); return NULL; }
            Expr *a = bind_expr(b, sc, n->kids[i]);
            if (!a) { expr_free(e); return NULL; }
            expr_add(e, a);
        }
        return e;
    }
    int total = 0;
    const Node **argn = map_args(b, n, fd->params, fd->nparams, fd->min_args, fd->flags & FUNC_VARIADIC, &total);
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
            a = lit_expr(v_null(), type_null(), n);
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
            errn(b, argn[i], "%s's %s must be a constant", name, fd->params[i]);
            type_unref(rt);
            free(argn);
            expr_free(e);
            return NULL;
        }
    free(argn);
    if (!rt) {
        errn(b, n, "%s", msg ? msg : "bad argument types");
        free(msg);
        expr_free(e);
        return NULL;
    }
    free(msg);
    e->type = rt;
    return e;
}

/* reduce("instruction", x [, order_by: e, model: m]): an aggregate whose arguments are bound as
 * (instruction, x, order key or null, model alias); semantic_reduce runs it (exec.c). */
static Expr *bind_reduce(Binder *b, Scope *sc, const Node *n)
{
    if (!sc->in_agg) { errn(b, n, "reduce() is an aggregate: use it in an `agg` list (group by ... agg x = reduce(...))"); return NULL; }
    const Node *instr = NULL, *val = NULL, *ord = NULL, *model = NULL;
    int npos = 0;
    for (int i = 0; i < n->nkids; i++) {
        const Node *k = n->kids[i];
        if (k->kind != N_NAMED) {
            if (npos == 0) instr = k; else if (npos == 1) val = k;
            npos++;
        } else if (!strcmp(k->str, "order_by")) ord = k->a;
        else if (!strcmp(k->str, "model")) model = k->a;
        else { errn(b, k, "reduce() has no option '%s' (options: order_by, model)", k->str); return NULL; }
    }
    if (npos != 2) { errn(b, n, "reduce takes 2 positional arguments (\"instruction\", value), got %d", npos); return NULL; }
    if (instr->kind != N_STRING) { errn(b, instr, "reduce's instruction must be a string literal"); return NULL; }
    const char *alias = model ? (model->kind == N_STRING || model->kind == N_IDENT ? model->str : NULL) : catalog_default_model(b->cat, 0);
    if (!alias) {
        errn(b, model ? model : n, model ? "reduce's model: takes a model alias" : "reduce() needs a model: declare one, or give model: NAME");
        return NULL;
    }
    ModelDecl *md = catalog_find_model(b->cat, alias);
    if (!md || md->embedding) { errn(b, model ? model : n, "unknown language model '%s'", alias); return NULL; }
    AggCall ac = { agg_lookup(semop_desc(SEM_REDUCE)->name), NULL, 0, 0, type_string(), SEM_REDUCE };
    ac.args = xcalloc(5, sizeof *ac.args);
    ac.args[0] = lit_expr(v_cstring(instr->str), type_string(), instr);
    sc->inside_agg = 1;
    ac.args[1] = bind_expr(b, sc, val);
    ac.args[2] = ord ? bind_expr(b, sc, ord) : lit_expr(v_null(), type_null(), n);
    sc->inside_agg = 0;
    ac.args[3] = lit_expr(v_cstring(alias), type_string(), model ? model : n);
    ac.nargs = 4;
    if (!ac.args[1] || !ac.args[2]) {
        for (int j = 0; j < 4; j++) expr_free(ac.args[j]);
        free(ac.args);
        type_unref(ac.type);
        return NULL;
    }
    if (sc->naggs == sc->capaggs) {
        sc->capaggs = sc->capaggs ? sc->capaggs * 2 : 4;
        sc->aggs = xrealloc(sc->aggs, (size_t)sc->capaggs * sizeof *sc->aggs);
    }
    sc->aggs[sc->naggs] = ac;
    Expr *e = expr_new(E_AGG, type_string(), n);
    e->ival = sc->naggs++;
    return e;
}

/* alias (or alias.profile) names a declared model of the kind operator op needs. 0, or -1 with
 * the error at src/pos. */
static int check_alias(Binder *b, const Src *src, int pos, const char *name, const char *op, int embedding)
{
    char *alias = xstrdup(name), *dot = strchr(alias, '.');
    if (dot) *dot = 0;
    ModelDecl *md = catalog_find_model(b->cat, alias);
    int rc = 0;
    if (!md) {
        const char *cands[64];
        int q = 0;
        for (ModelDecl *d = b->cat->models; d && q < 64; d = d->next) cands[q++] = d->alias;
        const char *best = closest_name(alias, cands, (size_t)q);
        if (best) rc = err_at(b->err, FQL_ERR_TYPE, src, pos, "unknown model '%s'; did you mean '%s'?", alias, best);
        else rc = err_at(b->err, FQL_ERR_TYPE, src, pos, "unknown model '%s' (declare it with `model %s = openai(\"...\")`)", alias, alias);
    } else if (md->embedding != embedding) {
        rc = err_at(b->err, FQL_ERR_TYPE, src, pos, "'%s' is %s model; %s() needs %s model", alias,
                    md->embedding ? "an embedding" : "a language", op, embedding ? "an embedding" : "a language");
    }
    free(alias);
    return rc;
}

/* A model: expression chooses an alias per row; its candidates must be known before the run (each
 * alias's limits, context window, key check), so every result it can give must be an alias
 * literal: `if(length(text) < 8000, "fast", "long")`, a case, a coalesce. 0, or -1 with an error. */
static int check_model_expr(Binder *b, const Node *v, const Expr *e, const char *op, int embedding)
{
    const Expr *lits[32];
    int n = route_candidates(e, lits, 32);
    if (n > 32) return errn(b, v, "model: has %d candidate aliases; at most 32", n);
    for (int i = 0; i < n; i++) {
        if (lits[i]->kind != E_LIT || lits[i]->lit.kind != V_STRING)
            return errn(b, v, "model: takes an alias or an expression whose every result is an alias literal, e.g. "
                              "model: if(length(text) < 8000, \"fast\", \"long\") (so the candidate models are known before the run)");
        if (check_alias(b, lits[i]->src, lits[i]->pos, v_str(lits[i]->lit), op, embedding)) return -1;
    }
    return 0;
}

/* Semantic operators: type-checked here, run by the provider runtime (semantic.c). Named arguments
 * keep their names (Expr.argnames); classify's labels and examples become literal arguments. */
static Expr *bind_semantic(Binder *b, Scope *sc, const Node *n)
{
    const char *name = n->str;
    const SemOpDesc *d = semantic_op(name);
    SemOp op = d->op;
    int embedding = d->embedding;
    int npos = 0;
    while (npos < n->nkids && n->kids[npos]->kind != N_NAMED) npos++;
    int want_pos = d->npos;
    if (npos != want_pos) {
        errn(b, n, "%s takes %d positional argument%s, got %d", name, want_pos, want_pos == 1 ? "" : "s", npos);
        return NULL;
    }
    static const char *const common[] = { "model", "temperature", "max_output_tokens", "timeout", "instructions", "examples",
                                          "schema", "metric", "pack", "page_separator", "describe_images", NULL };
    int pdf = op == SEM_PARSE_PDF, describes = 0;
    Type *rt = NULL;
    int has_model = 0;
    Expr *e = expr_new(E_SEMANTIC, NULL, n);
    e->name = xstrdup(name);
    e->sem = op;
    for (int i = 0; i < n->nkids; i++) {
        const Node *k = n->kids[i];
        const Node *v = k->kind == N_NAMED ? k->a : k;
        const char *an = k->kind == N_NAMED ? k->str : NULL;
        if (an) {
            int known = 0;
            for (int j = 0; common[j]; j++) if (!strcmp(common[j], an)) known = 1;
            int fits = known && (strcmp(an, "schema") ? 1 : op == SEM_MAP) && (strcmp(an, "metric") ? 1 : op == SEM_SIMILARITY)
                       && (strcmp(an, "pack") ? 1 : d->packable)
                       && (strcmp(an, "page_separator") && strcmp(an, "describe_images") ? 1 : pdf) && (strcmp(an, "examples") ? 1 : !pdf);
            if (!fits) {
                const char *best = closest_name(an, common, names_len(common));
                if (best && strcmp(best, an)) errn(b, k, "%s() has no option '%s'; did you mean '%s'?", name, an, best);
                else errn(b, k, "%s() has no option '%s'", name, an);
                goto fail;
            }
        }
        if (i == 1 && op == SEM_EXTRACT) {
            Node *tn = node_new(N_TYPE_NAME, k->src, k->pos);
            if (v->kind == N_IDENT) tn->str = xstrdup(v->str);
            Type *t = v->kind == N_IDENT ? bind_type(b->cat, tn, b->err) : NULL;
            node_free(tn);
            if (!t) {
                if (!err_failed(b->err)) errn(b, v, "extract() needs a type name as its second argument (declare it with `type Name = {...}`)");
                goto fail;
            }
            if (t->kind != TY_STRUCT) { errn(b, v, "extract() needs a struct type ({field: type, ...})"); type_unref(t); goto fail; }
            rt = t;
            continue;
        }
        if (i == 1 && op == SEM_CLASSIFY) {
            if (!(v->kind == N_LIST_LIT || v->kind == N_STRUCT_LIT) || v->nkids == 0) {
                errn(b, v, "classify() takes its labels as a list [\"a\", \"b\"] or a struct {a: \"description\", ...}");
                goto fail;
            }
            char **labels = xcalloc((size_t)v->nkids, sizeof *labels);
            for (int j = 0; j < v->nkids; j++) {
                const Node *l = v->kids[j];
                int ok = v->kind == N_LIST_LIT ? l->kind == N_STRING : l->a->kind == N_STRING;
                if (!ok) {
                    for (int q = 0; q < j; q++) free(labels[q]);
                    free(labels);
                    errn(b, l, v->kind == N_LIST_LIT ? "classify() labels must be string literals" : "a label's description must be a string literal");
                    goto fail;
                }
                labels[j] = xstrdup(l->str);
            }
            rt = type_enum_new(v->nkids, labels);
            Value lv;
            if (const_value(b, v, &lv)) goto fail;
            expr_add_named(e, "labels", lit_expr(lv, type_json(), v));
            continue;
        }
        if (an && !strcmp(an, "describe_images")) {
            /* a literal: whether a model is needed is known before anything runs */
            if (v->kind != N_BOOL) { errn(b, v, "describe_images: takes true or false"); goto fail; }
            describes = (int)v->ival;
            expr_add_named(e, an, lit_expr(v_bool(describes), type_bool(), v));
            continue;
        }
        if (an && !strcmp(an, "model")) {
            has_model = 1;
            const char *alias = v->kind == N_IDENT ? v->str : (v->kind == N_FIELD && v->a->kind == N_IDENT) ? v->a->str : NULL;
            if (v->kind == N_STRING) alias = v->str;
            if (alias && (v->kind == N_STRING || find_col(sc, NULL, alias) < 0)) {
                if (check_alias(b, v->src, v->pos, alias, name, embedding)) goto fail;
                char *full = v->kind == N_FIELD ? xasprintf("%s.%s", alias, v->str) : xstrdup(alias);
                expr_add_named(e, "model", lit_expr(v_cstring(full), type_string(), v));
                free(full);
                continue;
            }
            /* otherwise an expression giving an alias per row, bound below */
        }
        if (an && !strcmp(an, "schema")) {
            Node *tn = node_new(N_TYPE_NAME, k->src, k->pos);
            if (v->kind == N_IDENT) tn->str = xstrdup(v->str);
            Type *t = v->kind == N_IDENT ? bind_type(b->cat, tn, b->err) : NULL;
            node_free(tn);
            if (!t) { if (!err_failed(b->err)) errn(b, v, "map(schema: ...) needs a declared type name"); goto fail; }
            type_unref(rt);
            rt = t;
            continue;
        }
        if (an && !strcmp(an, "pack")) {
            int ok = (v->kind == N_INT && v->ival >= 1) || (v->kind == N_STRING && !strcmp(v->str, "auto"));
            if (!ok) { errn(b, v, "pack: takes a number of rows per request (1 or more) or \"auto\""); goto fail; }
        }
        if (an && !strcmp(an, "examples")) {
            Value ev;
            if (const_value(b, v, &ev)) goto fail;
            if (ev.kind != V_LIST) { value_free(ev); errn(b, v, "examples: takes a list [{input: \"...\", output: \"...\"}, ...]"); goto fail; }
            expr_add_named(e, "examples", lit_expr(ev, type_json(), v));
            continue;
        }
        Expr *a;
        if (!an && i == 0 && v->kind == N_STRING && (op == SEM_PREDICATE || op == SEM_MAP))
            a = bind_template(b, sc, v, v->str);
        else
            a = bind_expr(b, sc, v);
        if (!a) goto fail;
        int null_opt = an && a->kind == E_LIT && a->lit.kind == V_NULL;
        if (an && !strcmp(an, "model") && !null_opt && check_model_expr(b, v, a, name, embedding)) { expr_free(a); goto fail; }
        if (pdf && (!an || !strcmp(an, "page_separator")) && !type_is_stringish(a->type)) {
            char *ts = tystr(a->type);
            errn(b, v, an ? "page_separator: takes a string, got %s" : "parse_pdf() takes the path of a PDF (a string), got %s", ts);
            free(ts);
            expr_free(a);
            goto fail;
        }
        if (!an && op == SEM_SIMILARITY && !(a->type->kind == TY_VECTOR || a->type->kind == TY_LIST || a->type->kind == TY_NULL || a->type->kind == TY_ANY)) {
            char *ts = tystr(a->type);
            errn(b, v, "similarity() compares two vectors (from embed(...)), got %s", ts);
            free(ts);
            expr_free(a);
            goto fail;
        }
        if (null_opt) {   /* option: null = not given (fn defaults); model: null = the default model */
            if (!strcmp(an, "model")) has_model = 0;
            expr_free(a);
            continue;
        }
        expr_add_named(e, an, a);
    }
    if (!rt) {
        if (op == SEM_PREDICATE) rt = type_bool();
        else if (op == SEM_SIMILARITY) rt = type_float();
        else if (embedding) rt = type_vector(0);
        else rt = type_string();
    }
    if (op != SEM_SIMILARITY && !has_model && (!pdf || describes)) {
        if (!b->cat->models) {
            errn(b, n, "%s() calls a model, but no %smodel is declared (add e.g. `%smodel %s = openai(\"%s\");`)", name,
                 embedding ? "embedding " : "", embedding ? "embedding " : "", embedding ? "vectors" : "fast",
                 embedding ? "text-embedding-3-small" : "gpt-4o-mini");
            goto fail;
        }
        const char *def = catalog_default_model(b->cat, embedding);
        if (!def) {
            errn(b, n, "%s() names no model and there is no default %smodel: add `default %smodel NAME;` or pass model: NAME",
                 name, embedding ? "embedding " : "", embedding ? "embedding " : "");
            goto fail;
        }
        expr_add_named(e, "model", lit_expr(v_cstring(def), type_string(), n));
    }
    e->type = rt;
    return e;
fail:
    type_unref(rt);
    expr_free(e);
    return NULL;
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
        if (expect_bool(b, n->a, l, op == OP_AND ? "'and'" : "'or'") || expect_bool(b, n->b, r, op == OP_AND ? "'and'" : "'or'")) goto fail;
        t = type_bool();
        break;
    case OP_EQ: case OP_NE: case OP_LT: case OP_LE: case OP_GT: case OP_GE:
        if (!comparable(l->type, r->type)) {
            ls = tystr(l->type); rs = tystr(r->type);
            errn(b, n, "cannot compare %s with %s using '%s'%s", ls, rs, op_text(op),
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
            ls = tystr(l->type); rs = tystr(r->type);
            errn(b, n, "cannot apply '%s' to %s and %s%s", op_text(op), ls, rs,
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

static Value const_int_value(const Node *n, int *ok)
{
    *ok = 1;
    if (n->kind == N_INT) return v_int(n->ival);
    if (n->kind == N_UNOP && n->op == OP_NEG && n->a->kind == N_INT) return v_int(-n->a->ival);
    *ok = 0;
    return v_null();
}

static Expr *bind_expr(Binder *b, Scope *sc, const Node *n)
{
    Expr *e = NULL;
    switch (n->kind) {
    case N_INT: return lit_expr(v_int(n->ival), type_int(), n);
    case N_FLOAT: return lit_expr(v_float(n->fval), type_float(), n);
    case N_STRING: return lit_expr(v_string(n->str, (size_t)n->ival), type_string(), n);
    case N_BOOL: return lit_expr(v_bool((int)n->ival), type_bool(), n);
    case N_NULL: return lit_expr(v_null(), type_null(), n);
    case N_IDENT: {
        int col = find_col(sc, NULL, n->str);
        if (col >= 0) return col_expr(sc, col, n);
        if (catalog_find_model(b->cat, n->str)) return lit_expr(v_cstring(n->str), type_string(), n);
        unknown_column(b, sc, n, n->str);
        return NULL;
    }
    case N_FIELD: {
        /* qualifier.column (join sides) when the left part is not itself a column */
        if (n->a->kind == N_IDENT && has_qual(sc, n->a->str)) {
            int col = find_col(sc, n->a->str, n->str);
            if (col >= 0) return col_expr(sc, col, n);
            if (find_col(sc, NULL, n->a->str) < 0) {
                errn(b, n, "'%s' has no column '%s'", n->a->str, n->str);
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
                char *ts = tystr(base->type);
                if (best) errn(b, n, "%s has no field '%s'; did you mean '%s'?", ts, n->str, best);
                else errn(b, n, "%s has no field '%s'", ts, n->str);
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
            char *ts = tystr(base->type);
            errn(b, n, "cannot take field '%s' of a %s value", n->str, ts);
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
            char *ts = tystr(base->type);
            errn(b, n, "cannot index a %s value with [...]", ts);
            free(ts); expr_free(base); expr_free(idx);
            return NULL;
        }
        if (!(idx->type->kind == TY_INT || idx->type->kind == TY_NULL || idx->type->kind == TY_ANY ||
              (base->type->kind == TY_JSON && type_is_stringish(idx->type)))) {
            char *ts = tystr(idx->type);
            errn(b, n->b, "an index must be an int, got %s", ts);
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
            if (expect_bool(b, n->a, a, "'not'")) { expr_free(a); return NULL; }
            e = expr_new(E_NOT, type_bool(), n);
        } else {
            if (!type_is_numeric(a->type) && a->type->kind != TY_ANY) {
                char *ts = tystr(a->type);
                errn(b, n, "cannot negate a %s value", ts);
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
    case N_IN: {
        Expr *a = bind_expr(b, sc, n->a);
        if (!a) return NULL;
        e = expr_new(E_IN, type_bool(), n);
        e->flag = n->flag;
        expr_add(e, a);
        for (int i = 0; i < n->nkids; i++) {
            Expr *x = bind_expr(b, sc, n->kids[i]);
            if (!x) { expr_free(e); return NULL; }
            if (!comparable(a->type, x->type)) {
                char *ts = tystr(a->type), *xs = tystr(x->type);
                errn(b, n->kids[i], "cannot compare %s with %s in 'in (...)'", ts, xs);
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
            char *ts = tystr(type_is_stringish(a->type) ? p->type : a->type);
            errn(b, n, "%s needs strings, got %s", n->op == OP_ILIKE ? "ilike" : "like", ts);
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
            if (expect_bool(b, w->a, c, "case when")) { expr_free(c); goto case_fail; }
            expr_add(e, c);
            Expr *v = bind_expr(b, sc, w->b);
            if (!v) goto case_fail;
            expr_add(e, v);
            Type *u = type_unify(t, v->type);
            if (!u) {
                char *ts = tystr(t), *vs = tystr(v->type);
                errn(b, w->b, "case branches have different types: %s and %s", ts, vs);
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
                char *ts = tystr(t), *vs = tystr(v->type);
                errn(b, n->a, "case else has type %s but the branches have %s", vs, ts);
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
                char *a = tystr(el), *xs = tystr(x->type);
                errn(b, n->kids[i], "list elements have different types: %s and %s", a, xs);
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
                    errn(b, f, "field '%s' appears twice in a struct", f->str);
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
        errn(b, n, "'*' is only allowed in select and count(*)");
        return NULL;
    default:
        errn(b, n, "expected an expression here");
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
    Binder bb = { cat, err }, *b = &bb;
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
            if (best) errn(b, n, "unknown type '%s'; did you mean '%s'?", n->str ? n->str : "?", best);
            else errn(b, n, "unknown type '%s' (declare it with `type %s = {...};`)", n->str ? n->str : "?", n->str ? n->str : "Name");
            return NULL;
        }
        return t;
    }
    case N_TYPE_LIST: {
        Type *el = bind_type(cat, n->a, err);
        return el ? type_list(el) : NULL;
    }
    case N_TYPE_VECTOR:
        if (n->ival <= 0 || n->ival > 65536) { errn(b, n, "vector dimension must be between 1 and 65536"); return NULL; }
        return type_vector((int)n->ival);
    case N_TYPE_ENUM: {
        if (n->nkids == 0) { errn(b, n, "enum() needs at least one label"); return NULL; }
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
                    errn(b, f, "field '%s' is declared twice", f->str);
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
        errn(b, n, "expected a type");
        return NULL;
    }
}

/* A type written as an expression (reader `schema: {age: int, tags: [string]}`). */
static Type *type_from_expr(Binder *b, const Node *n)
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
            Type *el = type_from_expr(b, n->kids[0]);
            t = el ? type_list(el) : NULL;
        } else errn(b, n, "a list type is written [T]");
        break;
    case N_STRUCT_LIT:
        t = type_struct_new(n->nkids);
        for (int i = 0; i < n->nkids; i++) {
            t->fields[i].name = xstrdup(n->kids[i]->str);
            t->fields[i].type = type_from_expr(b, n->kids[i]->a);
            if (!t->fields[i].type) {
                for (int q = i; q < n->nkids; q++) { if (q > i) t->fields[q].name = xstrdup("?"); t->fields[q].type = type_null(); }
                type_unref(t);
                return NULL;
            }
        }
        break;
    default:
        errn(b, n, "expected a type (int, float, bool, string, date, timestamp, json, [T], {...})");
    }
    node_free(tn);
    return t;
}

/* ---- constant expressions (options) ---- */

/* Evaluate a constant expression (literals, lists, structs, negation, identifiers as strings).
 * Returns 0 and *out, or -1 with an error. */
static int const_value(Binder *b, const Node *n, Value *out)
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
            if (const_value(b, n->a, &v)) return -1;
            if (v.kind == V_INT) { *out = v_int(-v.u.i); return 0; }
            if (v.kind == V_FLOAT) { *out = v_float(-v.u.f); return 0; }
            value_free(v);
        }
        break;
    case N_LIST_LIT: {
        Value l = v_list_new((uint32_t)n->nkids);
        for (int i = 0; i < n->nkids; i++)
            if (const_value(b, n->kids[i], &l.u.l->items[i])) { value_free(l); return -1; }
        *out = l;
        return 0;
    }
    case N_STRUCT_LIT: {
        Type *st = type_struct_new(n->nkids);
        for (int i = 0; i < n->nkids; i++) { st->fields[i].name = xstrdup(n->kids[i]->str); st->fields[i].type = type_any(); }
        Value v = v_struct_new(st);
        type_unref(st);
        for (int i = 0; i < n->nkids; i++)
            if (const_value(b, n->kids[i]->a, &v.u.st->fields[i])) { value_free(v); return -1; }
        *out = v;
        return 0;
    }
    default: break;
    }
    errn(b, n, "expected a constant value here (a number, string, list or {key: value})");
    return -1;
}

/* ---- sources and stages ---- */

static FileFormat reader_format(const char *name, int *ok)
{
    *ok = 1;
    if (!strcmp(name, "csv")) return FMT_CSV;
    if (!strcmp(name, "tsv")) return FMT_TSV;
    if (!strcmp(name, "json")) return FMT_JSON;
    if (!strcmp(name, "jsonl") || !strcmp(name, "ndjson")) return FMT_JSONL;
    if (!strcmp(name, "parquet")) return FMT_PARQUET;
    if (!strcmp(name, "docs")) return FMT_DOCS;
    if (!strcmp(name, "pdf_metadata")) return FMT_PDF_META;
    *ok = 0;
    return FMT_CSV;
}

static const char *src_dir(const Src *src, char *buf, size_t n)
{
    if (!src || !src->path) return NULL;
    snprintf(buf, n, "%s", src->path);
    char *slash = strrchr(buf, '/');
    if (!slash) return NULL;
    *slash = 0;
    return buf;
}

/* write parquet(...)'s compression: and row_group_size: (args[2], args[3]). */
static int bind_write_options(Binder *b, const Node **args, WriteOptions *wo)
{
    if (args[2]) {
        static const char *const names[] = { "none", "snappy", "zstd", "gzip" };
        static const Compression codes[] = { COMPRESS_NONE, COMPRESS_SNAPPY, COMPRESS_ZSTD, COMPRESS_GZIP };
        const char *c = args[2]->kind == N_STRING || args[2]->kind == N_IDENT ? args[2]->str : "";
        for (int i = 0; i < 4; i++)
            if (!strcmp(c, names[i])) wo->compression = codes[i];
        if (!wo->compression) { errn(b, args[2], "compression: takes \"zstd\", \"snappy\", \"gzip\" or \"none\""); return -1; }
    }
    if (args[3]) {
        if (args[3]->kind != N_INT || args[3]->ival < 1) { errn(b, args[3], "row_group_size: takes a positive int (rows per row group)"); return -1; }
        wo->row_group_size = (size_t)args[3]->ival;
    }
    return 0;
}

/* Give the scan p its schema by opening the reader once (the file's header, a sample for type
 * inference). Returns p, or NULL (p freed) with the error pointing at the source call n. */
static Plan *scan_schema_of(Binder *b, const Node *n, Plan *p)
{
    fql_error ferr;
    memset(&ferr, 0, sizeof ferr);
    /* fetch a remote path once: the executor reads the same local copies */
    if (io_is_remote(p->path) && !(p->ropts.fetched = remote_fetch(p->path, p->ropts.cache, &ferr))) {
        err_at(b->err, FQL_ERR_IO, n->src, n->pos, "%s", ferr.message);
        plan_free(p);
        return NULL;
    }
    Reader *r = reader_open(p->path, &p->ropts, &ferr);
    if (!r) {
        /* a data error: point at the source call, and say which file */
        if (ferr.line > 0)
            err_at(b->err, FQL_ERR_IO, n->src, n->pos, "%s:%d:%d: %s", ferr.file, ferr.line, ferr.column, ferr.message);
        else
            err_at(b->err, FQL_ERR_IO, n->src, n->pos, "%s", ferr.message);
        plan_free(p);
        return NULL;
    }
    p->schema = schema_copy(reader_schema(r));
    reader_free(r);
    return p;
}

/* docs("glob" [, type: "markdown" | "text" | "json", exclude: "regex"]) and
 * pdf_metadata("glob" [, exclude: "regex"]): one row per file. Without type:, docs() goes by the
 * glob's extension (.md/.markdown markdown, .json json, anything else text). */
static Plan *bind_doc_reader(Binder *b, const Node *n, FileFormat f)
{
    static const char *const docs_params[] = { "path", "type", "exclude" }, *const pdf_params[] = { "path", "exclude" };
    int total = 0;
    const Node **a = map_args(b, n, f == FMT_DOCS ? docs_params : pdf_params, f == FMT_DOCS ? 3 : 2, 1, 0, &total);
    if (!a) return NULL;
    /* args: path, exclude, type */
    const Node *args[3] = { a[0], f == FMT_DOCS ? a[2] : a[1], f == FMT_DOCS ? a[1] : NULL };
    free(a);
    Plan *p = plan_new(P_SCAN, NULL, n);
    read_options_init(&p->ropts, f);
    p->format = f;
    if (args[0]->kind != N_STRING) { errn(b, args[0], "%s() needs a path or glob string as its first argument", n->str); goto fail; }
    p->path = xstrdup(args[0]->str);
    if (args[1]) {
        if (args[1]->kind != N_STRING) { errn(b, args[1], "exclude: takes a regular expression string"); goto fail; }
        p->scan_exclude = xstrdup(args[1]->str);
        p->ropts.exclude = p->scan_exclude;
    }
    const char *ext = strrchr(p->path, '.');
    const char *type = f != FMT_DOCS ? NULL : args[2] ? (args[2]->kind == N_STRING ? args[2]->str : "")
                     : !ext ? "text" : !strcmp(ext, ".md") || !strcmp(ext, ".markdown") ? "markdown" : !strcmp(ext, ".json") ? "json" : "text";
    if (type) {
        if (!strcmp(type, "text")) p->ropts.doc_type = DOC_TEXT;
        else if (!strcmp(type, "markdown")) p->ropts.doc_type = DOC_MARKDOWN;
        else if (!strcmp(type, "json")) p->ropts.doc_type = DOC_JSON;
        else { errn(b, args[2], "type: takes \"markdown\", \"text\" or \"json\""); goto fail; }
    }
    return scan_schema_of(b, n, p);
fail:
    plan_free(p);
    return NULL;
}

/* Paths in a script are relative to the current directory (as in every shell tool) — the one
 * exception is import, which is relative to the importing file. */
static Plan *bind_reader(Binder *b, const Node *n)
{
    int ok;
    FileFormat f = reader_format(n->str, &ok);
    if (!ok) {
        static const char *const readers[] = { "csv", "tsv", "json", "jsonl", "parquet", "docs", "pdf_metadata" };
        const char *best = closest_name(n->str, readers, sizeof readers / sizeof readers[0]);
        if (best) errn(b, n, "unknown source '%s'; did you mean '%s'?", n->str, best);
        else errn(b, n, "unknown source '%s' (sources: csv, tsv, json, jsonl, parquet, docs, pdf_metadata, a let name, values [...])", n->str);
        return NULL;
    }
    if (f == FMT_DOCS || f == FMT_PDF_META) return bind_doc_reader(b, n, f);
    static const char *const params[] = { "path", "header", "delimiter", "quote", "schema", "sample_rows", "cache" };
    int total = 0;
    const Node **args = map_args(b, n, params, 7, 1, 0, &total);
    if (!args) return NULL;
    for (int k = 1; k < 6 && f == FMT_PARQUET; k++)
        if (args[k]) { errn(b, args[k], "parquet() takes only a path (%s: is for csv/tsv/json; a Parquet file carries its own types)", params[k]); free(args); return NULL; }
    Plan *p = plan_new(P_SCAN, NULL, n);
    read_options_init(&p->ropts, f);
    p->format = f;
    if (args[0]->kind != N_STRING) { errn(b, args[0], "%s() needs a path string as its first argument", n->str); goto fail; }
    p->path = xstrdup(args[0]->str);
    if (args[6]) {
        if (args[6]->kind != N_BOOL) { errn(b, args[6], "cache: takes true or false"); goto fail; }
        if (!io_is_remote(p->path)) { errn(b, args[6], "cache: applies to remote paths (https://, hf://, s3://) only"); goto fail; }
        p->ropts.cache = (int)args[6]->ival;
    }
    if (args[1]) {
        if (args[1]->kind != N_BOOL) { errn(b, args[1], "header: takes true or false"); goto fail; }
        p->ropts.header = (int)args[1]->ival;
    }
    for (int k = 2; k <= 3; k++)
        if (args[k]) {
            if (args[k]->kind != N_STRING || args[k]->ival > 1) { errn(b, args[k], "%s: takes a one-character string", params[k]); goto fail; }
            if (k == 2) {
                if (args[k]->ival == 0) { errn(b, args[k], "delimiter: cannot be empty"); goto fail; }
                p->ropts.delimiter = args[k]->str[0];
            } else p->ropts.quote = args[k]->ival ? args[k]->str[0] : 0;
        }
    if (args[4]) {
        if (args[4]->kind != N_STRUCT_LIT) { errn(b, args[4], "schema: takes {column: type, ...}"); goto fail; }
        p->scan_schema = schema_new();
        for (int i = 0; i < args[4]->nkids; i++) {
            Type *t = type_from_expr(b, args[4]->kids[i]->a);
            if (!t) goto fail;
            schema_add(p->scan_schema, args[4]->kids[i]->str, t);
        }
        p->ropts.schema = p->scan_schema;
    }
    if (args[5]) {
        if (args[5]->kind != N_INT || args[5]->ival < 1) { errn(b, args[5], "sample_rows: takes a positive int"); goto fail; }
        p->ropts.sample_rows = (size_t)args[5]->ival;
    }
    free(args);
    return scan_schema_of(b, n, p);
fail:
    free(args);
    plan_free(p);
    return NULL;
}

static Plan *bind_values(Binder *b, const Node *n)
{
    Scope sc;
    Schema empty = { 0, NULL, NULL };
    memset(&sc, 0, sizeof sc);
    sc.schema = &empty;
    Plan *p = plan_new(P_VALUES, NULL, n);
    Schema *schema = schema_new();
    Expr **rows = xcalloc((size_t)n->nkids + 1, sizeof *rows);
    int ok = 1;
    for (int i = 0; i < n->nkids && ok; i++) {
        const Node *r = n->kids[i];
        if (r->kind != N_STRUCT_LIT) { errn(b, r, "values takes a list of rows written as {column: value, ...}"); ok = 0; break; }
        rows[i] = bind_expr(b, &sc, r);
        if (!rows[i]) { ok = 0; break; }
        /* columns: union by name in order of first appearance; types unified */
        for (int f = 0; f < rows[i]->type->nfields; f++) {
            Field *fd = &rows[i]->type->fields[f];
            int c = schema_find(schema, fd->name);
            if (c < 0) schema_add(schema, fd->name, type_ref(fd->type));
            else {
                Type *u = type_unify(schema->types[c], fd->type);
                if (!u) {
                    char *a = tystr(schema->types[c]), *t = tystr(fd->type);
                    errn(b, r->kids[f], "column '%s' is %s in an earlier row but %s here", fd->name, a, t);
                    free(a); free(t);
                    ok = 0;
                    break;
                }
                type_unref(schema->types[c]);
                schema->types[c] = u;
            }
        }
    }
    if (ok) {
        Table *t = table_new(schema_copy(schema));
        Batch *bt = batch_new(schema->n, (size_t)n->nkids);
        Value *row = xcalloc((size_t)schema->n + 1, sizeof *row);
        for (int i = 0; i < n->nkids; i++) {
            /* constant rows: evaluate each field directly */
            for (int c = 0; c < schema->n; c++) row[c] = v_null();
            for (int f = 0; f < rows[i]->nargs; f++) {
                int c = schema_find(schema, rows[i]->type->fields[f].name);
                Expr *fe = rows[i]->args[f];
                Value v;
                char *msg = NULL;
                v = eval_const(fe, &msg);
                if (msg) { err_at(b->err, FQL_ERR_RUNTIME, fe->src, fe->pos, "%s", msg); free(msg); ok = 0; }
                if (v.kind != V_NULL && schema->types[c]->kind == TY_FLOAT && v.kind == V_INT) v = v_float((double)v.u.i);
                value_free(row[c]);
                row[c] = v;
            }
            batch_push_row(bt, row);
        }
        free(row);
        table_add_batch(t, bt);
        p->rows = t;
        p->schema = schema;
    } else schema_free(schema);
    for (int i = 0; i < n->nkids; i++) expr_free(rows[i]);
    free(rows);
    if (!ok) { plan_free(p); return NULL; }
    return p;
}

static Plan *bind_source(Binder *b, const Node *src, char ***quals_out)
{
    Plan *p = NULL;
    const char *qual = src->str2;
    switch (src->kind) {
    case N_SRC_NAME: {
        LetDef *l = catalog_find_let(b->cat, src->str);
        if (l) {
            l->uses++;
            p = plan_ref(l->cached);
            if (!qual) qual = src->str;
            break;
        }
        if (!strncmp(src->str, "system.", 7)) {
            Schema *sys_schema = system_schema(src->str);
            if (!sys_schema) {
                const char *const *sys = system_table_names();
                size_t nsys = 0;
                while (sys[nsys]) nsys++;
                const char *best = closest_name(src->str, sys, nsys);
                errn(b, src, "unknown system table '%s'%s%s%s", src->str, best ? "; did you mean '" : "", best ? best : "", best ? "'?" : "");
                return NULL;
            }
            p = plan_new(P_SYSTEM, NULL, src);
            p->path = xstrdup(src->str);
            p->schema = sys_schema;
            if (!qual) qual = src->str + 7;
            break;
        }
        const char *cands[256];
        int k = 0;
        for (LetDef *d = b->cat->lets; d && k < 256; d = d->next) cands[k++] = d->name;
        const char *best = closest_name(src->str, cands, (size_t)k);
        if (best) errn(b, src, "unknown pipeline '%s'; did you mean '%s'?", src->str, best);
        else errn(b, src, "unknown pipeline '%s' (name one defined with `let %s = ...;`, or read a file with csv(\"...\"))", src->str, src->str);
        return NULL;
    }
    case N_SRC_PIPE: {
        char **inner = NULL;
        p = bind_pipeline(b, src->a, &inner);
        if (p) quals_free(inner, p->schema->n); else free(inner);
        break;
    }
    case N_SRC_CALL:
        p = bind_reader(b, src);
        if (p && !qual) {
            /* qualifier from the file name: csv("data/orders.csv") -> orders */
            const char *base = strrchr(p->path, '/');
            base = base ? base + 1 : p->path;
            char *q = xstrdup(base), *dot = strchr(q, '.');
            if (dot) *dot = 0;
            if (p) *quals_out = quals_new(p->schema->n, q);
            free(q);
            return p;
        }
        break;
    case N_SRC_VALUES:
        p = bind_values(b, src);
        break;
    default:
        errn(b, src, "expected a source");
        return NULL;
    }
    if (p) *quals_out = quals_new(p->schema->n, qual);
    return p;
}

static Scope scope_of(const Plan *p, char **quals)
{
    Scope sc;
    memset(&sc, 0, sizeof sc);
    sc.schema = p->schema;
    sc.quals = quals;
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
                if (schema_find(in->schema, it->kids[k]->str) < 0) { unknown_column(b, &sc, it->kids[k], it->kids[k]->str); goto fail; }
            for (int c = 0; c < in->schema->n; c++) {
                int skip = 0;
                for (int k = 0; k < it->nkids; k++)
                    if (!strcmp(it->kids[k]->str, in->schema->names[c])) skip = 1;
                if (skip) continue;
                Expr *e = col_expr(&sc, c, it);
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
                errn(b, it, "column '%s' is selected twice (rename one with `as`)", name);
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
    quals_free(*quals, in->schema->n);
    *quals = nq ? nq : quals_new(0, NULL);
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
        Expr *e = bind_expr(b, &sc, it->a);
        if (!e) { schema_free(work); plan_free(p); return NULL; }
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
        if (schema_find(p->schema, name) >= 0) { errn(b, it, "group key '%s' appears twice", name); free(name); expr_free(e); goto fail; }
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
            errn(b, it->a, "'%s' in agg must be an aggregate such as count(*), sum(x), first(x) (or add it to `group by`)", it->str);
            goto fail;
        }
        if (schema_find(p->schema, it->str) >= 0) { errn(b, it, "column '%s' appears twice in group by/agg", it->str); expr_free(e); goto fail; }
        /* aggregate item: an expression over E_AGG refs, evaluated after grouping */
        p->exprs = xrealloc(p->exprs, (size_t)(p->nexprs + 1) * sizeof *p->exprs);
        p->exprs[p->nexprs++] = e;
        schema_add(p->schema, it->str, type_ref(e->type));
    }
    p->aggs = sc.aggs;
    p->naggs = sc.naggs;
    quals_free(*quals, in->schema->n);
    *quals = quals_new(p->schema->n, NULL);
    return p;
fail:
    p->aggs = sc.aggs;
    p->naggs = sc.naggs;
    plan_free(p);
    return NULL;
}

/* The columns of left ++ right as a join outputs them: a right-side name that clashes is renamed
 * QUAL_col (QUAL_col_2, ...), QUAL being the right side's alias or "right". *q receives each
 * column's qualifier (an array of l->n + r->n; caller frees with quals_free). */
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
                errn(b, using_->kids[u], "using (%s): the column must exist on both sides (%s side lacks it)", nm, li < 0 ? "left" : "right");
                goto fail;
            }
            if (!comparable(left->schema->types[li], right->schema->types[ri])) {
                errn(b, using_->kids[u], "using (%s): the two sides have incompatible types", nm);
                goto fail;
            }
            p->eq_left[u] = li;
            p->eq_right[u] = ri;
        }
    } else if (st->b) {
        Expr *on = bind_expr(b, &sc, st->b);
        if (!on) goto fail;
        if (expect_bool(b, st->b, on, "join ... on")) { expr_free(on); goto fail; }
        p->exprs = xcalloc(1, sizeof *p->exprs);
        p->exprs[0] = on;
        p->nexprs = 1;
    } else if (st->flag != JOIN_CROSS) {
        errn(b, st, "a join needs `on CONDITION` or `using (columns)` (or write `cross join`)");
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
    quals_free(*lquals, nl);
    *lquals = oq;
    quals_free(q, nl + nr);
    quals_free(rquals, nr);
    schema_free(all);
    free(keep_right);
    return p;
fail:
    quals_free(q, nl + nr);
    quals_free(rquals, nr);
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
    quals_free(rquals, right->schema->n);
    if (right->schema->n != left->schema->n) {
        errn(b, st, "union: the left side has %d columns but the right side has %d", left->schema->n, right->schema->n);
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
            char *a = tystr(left->schema->types[i]), *c = tystr(right->schema->types[i]);
            errn(b, st, "union: column %d ('%s') is %s on the left but %s on the right", i + 1, left->schema->names[i], a, c);
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
    Value v = const_int_value(n, &ok);
    if (!ok || v.u.i < 0) return errn(b, n, "%s takes a non-negative integer", what);
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
    if (best) return errn(b, opt, "%s has no option '%s'; did you mean '%s'?", stage, opt->str, best);
    return errn(b, opt, "%s has no option '%s'", stage, opt->str);
}

/* Append a column the stage computes; a name already taken is an error. */
static int add_out_col(Binder *b, const Node *at, Plan *p, char ***quals, const char *name, Type *t, const char *what)
{
    if (schema_find(p->schema, name) >= 0) {
        type_unref(t);
        return errn(b, at, "%s: a column named '%s' already exists; choose another name", what, name);
    }
    schema_add(p->schema, name, t);
    *quals = xrealloc(*quals, (size_t)p->schema->n * sizeof **quals);
    (*quals)[p->schema->n - 1] = NULL;
    return 0;
}

/* embed(text) with the default embedding model, as embed() would be bound without model:.
 * Consumes text. */
static Expr *embed_default(Binder *b, Expr *text, const Node *at, const char *what)
{
    const char *alias = catalog_default_model(b->cat, 1);
    if (!alias) {
        expr_free(text);
        errn(b, at, "%s embeds text with the default embedding model, but there is none: declare one "
                    "(`embedding model vectors = openai(\"text-embedding-3-small\");`, and `default embedding model NAME;` "
                    "when there are several)", what);
        return NULL;
    }
    Expr *e = expr_new(E_SEMANTIC, type_vector(0), at);
    e->name = xstrdup(semop_desc(SEM_EMBED)->name);
    e->sem = SEM_EMBED;
    expr_add_named(e, NULL, text);
    expr_add_named(e, "model", lit_expr(v_cstring(alias), type_string(), at));
    return e;
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
        char *ts = tystr(v->type);
        errn(b, st->a, "cluster by needs a vector (a list of numbers, e.g. embed(text)), got %s", ts);
        free(ts);
        goto fail;
    }
    static const char *const opts[] = { "seed", "max_iter", NULL };
    for (int i = 0; i < st->nkids; i++) {
        const Node *o = st->kids[i];
        if (known_option(b, o, "cluster", opts)) goto fail;
        int ok;
        Value x = const_int_value(o->a, &ok);
        int is_seed = !strcmp(o->str, "seed");
        if (!ok || x.u.i < (is_seed ? 0 : 1)) {
            errn(b, o->a, "%s: takes %s integer", o->str, is_seed ? "a non-negative" : "a positive");
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
    const Node *wrong = find_col(sc, NULL, other) < 0 ? names_side(n, other) : NULL;
    if (wrong) {
        errn(b, wrong, "sim join: the %s side of ~ reads the %s's columns; `%s.%s` belongs on the %s of ~", side,
             !strcmp(side, "left") ? "pipeline" : "source", other, wrong->str, other);
        return NULL;
    }
    Expr *e = bind_expr(b, sc, n);
    if (!e) return NULL;
    if (type_is_stringish(e->type) && e->type->kind != TY_NULL) return embed_default(b, e, n, "sim join");
    if (vector_like(e->type)) return e;
    char *ts = tystr(e->type);
    errn(b, n, "sim join: the %s side of ~ must be a vector (a list of numbers) or text to embed, got %s", side, ts);
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
            const char *best = closest_name(st->str, metrics, names_len(metrics));
            errn(b, st, "sim join: unknown metric '%s' (cosine, dot or l2)%s%s%s", st->str,
                 best ? "; did you mean '" : "", best ? best : "", best ? "'?" : "");
            goto fail;
        }
        p->metric = m;
    }
    const char *score = st->str2 ? st->str2 : "score";
    p->schema = pair_schema(left->schema, *lquals, right->schema, rquals, right_qual(st->a, right, rquals), &q);
    if (schema_find(p->schema, score) >= 0) {
        errn(b, st, "sim join: a column named '%s' already exists; name the score with `as NAME`", score);
        quals_free(q, nl + nr);
        goto fail;
    }
    schema_add(p->schema, score, type_float());
    q = xrealloc(q, (size_t)(nl + nr + 1) * sizeof *q);
    q[nl + nr] = NULL;
    quals_free(*lquals, nl);
    *lquals = q;
    quals_free(rquals, nr);
    return p;
fail:
    quals_free(rquals, nr);
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
static Expr *side_text(Binder *b, Scope *sc, const Node *at, int right)
{
    Buf t;
    buf_init(&t);
    for (const char *o = strstr(at->str, "{{"), *c; o && (c = strstr(o + 2, "}}")); o = strstr(c + 2, "{{")) {
        char *one = xstrndup(o, (size_t)(c + 2 - o));
        Expr *e = bind_template(b, sc, at, one);
        if (e && reads_cols(e, sc->nleft, sc->schema->n) == right) buf_printf(&t, "%s%s", t.len ? "\n" : "", one);
        expr_free(e);
        free(one);
    }
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
    else return errn(b, v, "prefilter: takes `embed top K`, `embed` (top 10), `auto` or `off`");
    return 0;
}

/* semantic join SOURCE on "template {{left.x}} {{right.y}}" [model NAME] [prefilter: ...]: a
 * predicate over every candidate pair. The template sees the pipeline's columns and then the
 * source's, under their own names: `left.x`, `right.y`, an alias, or a bare name (the left's first). */
static Plan *bind_semjoin(Binder *b, Plan *left, char ***lquals, const Node *st)
{
    char **rquals = NULL;
    Plan *right = bind_source(b, st->a, &rquals);
    if (!right) { plan_free(left); return NULL; }
    Plan *p = plan_new(P_SEMJOIN, left, st);
    p->right = right;
    p->path = xstrdup(st->str);
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
    tpl->str = xstrdup(st->str);
    tpl->ival = (int64_t)strlen(st->str);
    node_add(call, tpl);
    static const char *const opts[] = { "model", "temperature", "max_output_tokens", "timeout", "instructions", "examples", "pack",
                                        "prefilter", NULL };
    const Node *prefilter = NULL;
    for (int i = 0; i < st->nkids; i++) {
        const Node *o = st->kids[i];
        if (known_option(b, o, "semantic join", opts)) goto fail;
        if (!strcmp(o->str, "prefilter")) prefilter = o->a;
        else node_add(call, node_clone(o));
    }
    p->exprs = xcalloc(3, sizeof *p->exprs);
    p->k = 10;
    if (prefilter && bind_prefilter(b, p, prefilter)) goto fail;
    if (!(p->exprs[p->nexprs++] = bind_expr(b, &sc, call))) goto fail;
    /* the prefilter's embeddings, when it can run (auto needs them only above the pair limit) */
    if (p->prefilter != PREFILTER_OFF && (p->prefilter == PREFILTER_EMBED || catalog_default_model(b->cat, 1))) {
        Expr *lt = side_text(b, &sc, st, 0), *rt = side_text(b, &sc, st, 1);
        if (!lt || !rt) {
            expr_free(lt);
            expr_free(rt);
            if (p->prefilter == PREFILTER_EMBED) {
                errn(b, st, "prefilter: embed needs a template that names columns of both sides ({{left.x}} and {{right.y}})");
                goto fail;
            }
        } else {
            if (!(p->exprs[p->nexprs++] = embed_default(b, lt, st, "the prefilter"))) { expr_free(rt); goto fail; }
            if (!(p->exprs[p->nexprs++] = embed_default(b, rt, st, "the prefilter"))) goto fail;
        }
    }
    node_free(call);
    schema_free(both);
    quals_free(bq, nl + nr);
    char **q;
    p->schema = pair_schema(left->schema, *lquals, right->schema, rquals, right_qual(st->a, right, rquals), &q);
    quals_free(*lquals, nl);
    *lquals = q;
    quals_free(rquals, nr);
    return p;
fail:
    node_free(call);
    schema_free(both);
    quals_free(bq, nl + nr);
    quals_free(rquals, nr);
    plan_free(p);
    return NULL;
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
        if (expect_bool(b, st->a, e, "where")) { expr_free(e); break; }
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
            if (c < 0) { unknown_column(b, &sc, it, it->str); plan_free(p); return NULL; }
            int clash = schema_find(p->schema, it->str2);
            if (clash >= 0 && clash != c) { errn(b, it, "cannot rename '%s' to '%s': a column of that name exists", it->str, it->str2); plan_free(p); return NULL; }
            free(p->schema->names[c]);
            p->schema->names[c] = xstrdup(it->str2);
        }
        p->exprs = xcalloc((size_t)in->schema->n + 1, sizeof *p->exprs);
        for (int c = 0; c < in->schema->n; c++) p->exprs[p->nexprs++] = col_expr(&sc, c, st);
        return p;
    }
    case N_DROP: {
        int *dropped = xcalloc((size_t)in->schema->n + 1, sizeof *dropped);
        for (int i = 0; i < st->nkids; i++) {
            int c = schema_find(in->schema, st->kids[i]->str);
            if (c < 0) { unknown_column(b, &sc, st->kids[i], st->kids[i]->str); free(dropped); break; }
            dropped[c] = 1;
        }
        if (err_failed(b->err)) break;
        p = plan_new(P_PROJECT, in, st);
        p->schema = schema_new();
        char **nq = quals_new(0, NULL);
        p->exprs = xcalloc((size_t)in->schema->n + 1, sizeof *p->exprs);
        for (int c = 0; c < in->schema->n; c++) {
            if (dropped[c]) continue;
            p->exprs[p->nexprs++] = col_expr(&sc, c, st);
            schema_add(p->schema, in->schema->names[c], type_ref(in->schema->types[c]));
            nq = xrealloc(nq, (size_t)p->schema->n * sizeof *nq);
            nq[p->schema->n - 1] = (*quals)[c] ? xstrdup((*quals)[c]) : NULL;
        }
        free(dropped);
        quals_free(*quals, in->schema->n);
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
        if (cn->kind != N_IDENT) { errn(b, cn, "%s takes a column name", st->kind == N_EXPLODE ? "explode" : "unnest"); break; }
        int c = schema_find(in->schema, cn->str);
        if (c < 0) { unknown_column(b, &sc, cn, cn->str); break; }
        Type *t = in->schema->types[c];
        if (st->kind == N_EXPLODE) {
            if (t->kind != TY_LIST && t->kind != TY_VECTOR && t->kind != TY_JSON) {
                char *ts = tystr(t);
                errn(b, cn, "explode needs a list column, but '%s' is %s", cn->str, ts);
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
                if (schema_find(p->schema, st->str2) >= 0) { errn(b, st, "explode: column '%s' already exists", st->str2); plan_free(p); return NULL; }
                p->with_index = 1;
                schema_add(p->schema, st->str2, type_int());
                *quals = xrealloc(*quals, (size_t)p->schema->n * sizeof **quals);
                (*quals)[p->schema->n - 1] = NULL;
            }
            return p;
        }
        if (t->kind != TY_STRUCT) {
            char *ts = tystr(t);
            errn(b, cn, "unnest needs a struct column, but '%s' is %s", cn->str, ts);
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
                        errn(b, cn, "unnest %s: field '%s' clashes with an existing column (rename it first)", cn->str, t->fields[f].name);
                        quals_free(nq, p->schema->n);
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
        quals_free(*quals, in->schema->n);
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
        FileFormat f = reader_format(call->str, &ok);
        if (!ok) { errn(b, call, "unknown output format '%s' (csv, tsv, json, jsonl, parquet)", call->str); break; }
        static const char *const params[] = { "path", "mode", "compression", "row_group_size" };
        int total = 0;
        const Node **args = map_args(b, call, params, f == FMT_PARQUET ? 4 : 2, 1, 0, &total);
        if (!args) break;
        if (args[0]->kind != N_STRING) { errn(b, args[0], "write %s() needs a path string", call->str); free(args); break; }
        int mode = WRITE_ERROR;
        if (args[1]) {
            const char *m = args[1]->kind == N_STRING || args[1]->kind == N_IDENT ? args[1]->str : "";
            if (!strcmp(m, "overwrite")) mode = WRITE_OVERWRITE;
            else if (!strcmp(m, "append")) mode = WRITE_APPEND;
            else if (!strcmp(m, "error")) mode = WRITE_ERROR;
            else { errn(b, args[1], "mode: takes \"overwrite\", \"error\" or \"append\""); free(args); break; }
        }
        const char *refusal = remote_write_refusal(args[0]->str, (WriteMode)mode);
        if (refusal) { errn(b, args[1] && mode == WRITE_APPEND ? args[1] : args[0], "%s", refusal); free(args); break; }
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
    default:
        errn(b, st, "expected a stage");
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

static Plan *bind_pipeline(Binder *b, const Node *pipe, char ***quals_out)
{
    char **quals = NULL;
    Plan *p = bind_source(b, pipe->a, &quals);
    if (!p) return NULL;
    for (int i = 0; i < pipe->nkids; i++) {
        if (p->kind == P_WRITE) {
            errn(b, pipe->kids[i], "write ends a pipeline: nothing can follow it");
            quals_free(quals, p->schema->n);
            plan_free(p);
            return NULL;
        }
        int nbefore = p->schema->n;
        char **qbefore = quals;
        Plan *np = bind_stage(b, p, &quals, pipe->kids[i]);
        if (!np) {
            (void)qbefore;
            quals_free(quals, nbefore);
            return NULL;
        }
        p = np;
        if (plan_depth(p) > PLAN_MAX_DEPTH) {
            errn(b, pipe->kids[i], "the pipeline is more than %d stages deep here (counting the stages of the lets it reads): "
                 "write an intermediate result to a file (`| write parquet(\"step.parquet\")`) and read it in a later statement, "
                 "or do more in one stage (one `derive` computes several columns)", PLAN_MAX_DEPTH);
            quals_free(quals, p->schema->n);
            plan_free(p);
            return NULL;
        }
    }
    *quals_out = quals;
    return p;
}

/* ---- statements ---- */

/* The cost-lever options of a model declaration n: `batch: true` only where FQL speaks the
 * provider's Batch API (OpenAI, Anthropic), `fallback:` a list of other aliases of the same kind,
 * declared before this one (so a chain cannot loop). 0 ok; -1 with the error at option k. */
static int check_cost_option(Binder *b, const Node *n, const Node *k, Value v)
{
    const char *prov = n->a->str;
    if (!strcmp(k->str, "batch")) {
        if (v.kind != V_BOOL) return errn(b, k->a, "model option 'batch' takes true or false");
        if (v.u.b && strcmp(prov, "openai") && strcmp(prov, "anthropic"))
            return errn(b, k, "batch: true needs a provider whose Batch API FQL speaks (openai, anthropic); %s has none here: "
                              "remove the option or declare the model with one of those", prov);
        if (v.u.b && n->flag && strcmp(prov, "openai"))
            return errn(b, k, "batch: true for an embedding model needs provider openai (Anthropic has no embeddings)");
        return 0;
    }
    if (strcmp(k->str, "fallback")) return 0;
    uint32_t cnt = v.kind == V_LIST ? v.u.l->n : 1;
    for (uint32_t i = 0; i < cnt; i++) {
        Value a = v.kind == V_LIST ? v.u.l->items[i] : v;
        if (a.kind != V_STRING) return errn(b, k->a, "fallback: takes a list of model aliases, e.g. fallback: [\"backup\"]");
        const char *alias = v_str(a);
        ModelDecl *d = catalog_find_model(b->cat, alias);
        if (!strcmp(alias, n->str)) return errn(b, k->a, "model '%s' cannot be its own fallback", alias);
        if (!d) return errn(b, k->a, "fallback: unknown model '%s' (declare it before '%s')", alias, n->str);
        if (d->embedding != n->flag)
            return errn(b, k->a, "fallback: '%s' is %s model, but '%s' is not", alias, d->embedding ? "an embedding" : "a language", n->str);
    }
    return 0;
}

static int bind_model(Binder *b, const Node *n)
{
    const Node *call = n->a;
    int ok = 0;
    for (int i = 0; providers[i]; i++)
        if (!strcmp(providers[i], call->str)) ok = 1;
    if (!ok) {
        const char *best = closest_name(call->str, providers, names_len(providers));
        if (best) return errn(b, call, "unknown provider '%s'; did you mean '%s'?", call->str, best);
        return errn(b, call, "unknown provider '%s' (openai, anthropic, gemini, vertex, openrouter, cohere; any OpenAI-compatible server is openai(..., base_url: \"...\"))", call->str);
    }
    if (n->flag == 0 && !strcmp(call->str, "cohere"))
        return errn(b, call, "cohere is supported for embedding models only (`embedding model NAME = cohere(...)`)");
    if (call->nkids < 1 || call->kids[0]->kind != N_STRING)
        return errn(b, call, "%s() needs the model name as its first argument: %s(\"model-name\", ...)", call->str, call->str);
    Type *st = type_struct_new(call->nkids - 1);
    for (int i = 1; i < call->nkids; i++) { st->fields[i - 1].name = xstrdup(call->kids[i]->kind == N_NAMED ? call->kids[i]->str : "?"); st->fields[i - 1].type = type_any(); }
    Value opts = v_struct_new(st);
    type_unref(st);
    for (int i = 1; i < call->nkids; i++) {
        const Node *k = call->kids[i];
        if (k->kind != N_NAMED) { value_free(opts); return errn(b, k, "model options are named: %s(\"model\", rpm: 500, ...)", call->str); }
        int known = 0;
        for (int j = 0; model_options[j]; j++)
            if (!strcmp(model_options[j], k->str)) known = 1;
        if (!known) {
            const char *best = closest_name(k->str, model_options, names_len(model_options));
            value_free(opts);
            if (best) return errn(b, k, "unknown model option '%s'; did you mean '%s'?", k->str, best);
            return errn(b, k, "unknown model option '%s'", k->str);
        }
        Value v;
        if (const_value(b, k->a, &v)) { value_free(opts); return -1; }
        if (check_cost_option(b, n, k, v)) { value_free(v); value_free(opts); return -1; }
        static const char *const numeric[] = { "rpm", "tpm", "input_tpm", "output_tpm", "max_concurrency", "timeout",
                                               "max_retries", "temperature", "max_output_tokens", "dimensions", "price_in",
                                               "price_out", "context_window", "seed", "cached_price_in",
                                               "batch_max_requests", "batch_max_bytes", NULL };
        for (int j = 0; numeric[j]; j++)
            if (!strcmp(numeric[j], k->str) && v.kind != V_INT && v.kind != V_FLOAT) {
                value_free(v); value_free(opts);
                return errn(b, k->a, "model option '%s' takes a number", k->str);
            }
        if ((v.kind == V_INT && v.u.i < 0) || (v.kind == V_FLOAT && v.u.f < 0)) {
            value_free(v); value_free(opts);
            return errn(b, k->a, "model option '%s' cannot be negative", k->str);
        }
        opts.u.st->fields[i - 1] = v;
    }
    ModelDecl *m = catalog_find_model(b->cat, n->str);
    if (!m) {
        m = xcalloc(1, sizeof *m);
        m->alias = xstrdup(n->str);
        ModelDecl **tail = &b->cat->models;
        while (*tail) tail = &(*tail)->next;
        *tail = m;
    } else {
        free(m->provider); free(m->model_name); node_free(m->options); value_free(m->opts);
    }
    m->embedding = n->flag;
    m->provider = xstrdup(call->str);
    m->model_name = xstrdup(call->kids[0]->str);
    m->options = node_clone(call);
    m->opts = opts;
    return 0;
}

static void add_stmt(Stmt ***stmts, int *n, Stmt *st)
{
    *stmts = xrealloc(*stmts, (size_t)(*n + 1) * sizeof **stmts);
    (*stmts)[(*n)++] = st;
}

void stmt_free(Stmt *st)
{
    if (!st) return;
    plan_free(st->plan);
    free(st->set_name);
    free(st->text);
    value_free(st->set_value);
    free(st);
}

static int run_import(Binder *b, const Node *n, Stmt ***stmts, int *nstmts);

static int bind_statement(Binder *b, const Node *n, Stmt ***stmts, int *nstmts, int declarations_only)
{
    Catalog *cat = b->cat;
    switch (n->kind) {
    case N_MODEL: return bind_model(b, n);
    case N_DEFAULT: {
        ModelDecl *m = catalog_find_model(cat, n->str);
        if (!m) {
            const char *cands[64];
            int k = 0;
            for (ModelDecl *d = cat->models; d && k < 64; d = d->next) cands[k++] = d->alias;
            const char *best = closest_name(n->str, cands, (size_t)k);
            if (best) return errn(b, n, "unknown model '%s'; did you mean '%s'?", n->str, best);
            return errn(b, n, "unknown model '%s' (declare it first with `model %s = ...;`)", n->str, n->str);
        }
        if (m->embedding != n->flag)
            return errn(b, n, "'%s' is %s model; use `default %smodel %s`", n->str, m->embedding ? "an embedding" : "a language",
                        m->embedding ? "embedding " : "", n->str);
        char **slot = n->flag ? &cat->default_embedding : &cat->default_model;
        free(*slot);
        *slot = xstrdup(n->str);
        return 0;
    }
    case N_TYPEDECL: {
        Type *t = bind_type(cat, n->a, b->err);
        if (!t) return -1;
        TypeDef *td = catalog_find_type(cat, n->str);
        if (!td) {
            td = xcalloc(1, sizeof *td);
            td->name = xstrdup(n->str);
            td->next = cat->types;
            cat->types = td;
        } else type_unref(td->type);
        if (!t->name && t->kind == TY_STRUCT && t->refcnt == 1) t->name = xstrdup(n->str);
        td->type = t;
        return 0;
    }
    case N_LET: {
        char **quals = NULL;
        Plan *p = bind_pipeline(b, n->a, &quals);
        if (!p) return -1;
        quals_free(quals, p->schema->n);
        if (p->kind == P_WRITE) {
            plan_free(p);
            return errn(b, n, "a let pipeline cannot end in write (write it in a statement of its own)");
        }
        LetDef *l = catalog_find_let(cat, n->str);
        if (!l) {
            l = xcalloc(1, sizeof *l);
            l->name = xstrdup(n->str);
            l->next = cat->lets;
            cat->lets = l;
        } else { plan_free(l->plan); plan_free(l->cached); l->uses = 0; }
        l->plan = p;
        l->cached = plan_new(P_CACHE, plan_ref(p), n);
        l->cached->schema = schema_copy(p->schema);
        l->cached->let_uses = &l->uses;
        l->cached->let_name = l->name;
        l->src = n->src;
        l->pos = n->pos;
        return 0;
    }
    case N_FN: {
        FnDef *f = catalog_find_fn(cat, n->str);
        if (func_lookup(n->str) || agg_lookup(n->str) || semop_reserved(n->str))
            return errn(b, n, "fn %s: a built-in function has that name", n->str);
        for (int i = 0; i < n->nkids; i++)
            for (int j = 0; j < i; j++)
                if (!strcmp(n->kids[i]->str, n->kids[j]->str)) return errn(b, n->kids[i], "fn %s: parameter '%s' appears twice", n->str, n->kids[i]->str);
        if (!f) {
            f = xcalloc(1, sizeof *f);
            f->name = xstrdup(n->str);
            f->next = cat->fns;
            cat->fns = f;
        } else {
            for (int i = 0; i < f->nparams; i++) { free(f->params[i]); node_free(f->defaults[i]); }
            free(f->params);
            free(f->defaults);
            node_free(f->body);
        }
        for (int i = 1; i < n->nkids; i++)
            if (n->kids[i - 1]->a && !n->kids[i]->a)
                return errn(b, n->kids[i], "fn %s: parameter '%s' needs a default too (it follows one that has a default)", n->str, n->kids[i]->str);
        f->nparams = n->nkids;
        f->params = xcalloc((size_t)n->nkids + 1, sizeof *f->params);
        f->defaults = xcalloc((size_t)n->nkids + 1, sizeof *f->defaults);
        for (int i = 0; i < n->nkids; i++) {
            f->params[i] = xstrdup(n->kids[i]->str);
            f->defaults[i] = n->kids[i]->a ? node_clone(n->kids[i]->a) : NULL;
        }
        f->body = node_clone(n->a);
        return 0;
    }
    case N_IMPORT: return run_import(b, n, stmts, nstmts);
    case N_SET: {
        Value v;
        if (const_value(b, n->a, &v)) return -1;
        char *msg = NULL;
        /* validate now (so a typo stops the script before anything runs); apply in order at run time */
        Runtime probe;
        memset(&probe, 0, sizeof probe);
        if (rt_set(&probe, n->str, value_copy(v), &msg)) {
            errn(b, n, "%s", msg);
            free(msg);
            value_free(v);
            return -1;
        }
        /* an imported file's settings too: they apply in order when the statements run */
        Stmt *st = xcalloc(1, sizeof *st);
        st->kind = ST_SET;
        st->set_name = xstrdup(n->str);
        st->set_value = v;
        st->src = n->src;
        st->pos = n->pos;
        add_stmt(stmts, nstmts, st);
        return 0;
    }
    case N_RUN: case N_EXPLAIN: {
        char **quals = NULL;
        Plan *p = bind_pipeline(b, n->a, &quals);
        if (!p) return -1;
        quals_free(quals, p->schema->n);
        if (declarations_only) { plan_free(p); return 0; }
        Stmt *st = xcalloc(1, sizeof *st);
        st->kind = n->kind == N_RUN ? ST_RUN : ST_EXPLAIN;
        st->explain_mode = n->flag;
        st->plan = p;
        st->text = n->src && n->end > n->pos && (size_t)n->end <= n->src->len ? xstrndup(n->src->text + n->pos, (size_t)(n->end - n->pos)) : NULL;
        st->src = n->src;
        st->pos = n->pos;
        add_stmt(stmts, nstmts, st);
        return 0;
    }
    default:
        return errn(b, n, "expected a statement");
    }
}

static int read_file(const char *path, char **text, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return -1;
    Buf buf;
    buf_init(&buf);
    char tmp[65536];
    size_t k;
    while ((k = fread(tmp, 1, sizeof tmp, f)) > 0) buf_append(&buf, tmp, k);
    fclose(f);
    *len = buf.len;
    *text = buf_take(&buf);
    return 0;
}

/* import "path.fql" (relative to the importing file) or import std.NAME (from stdlib/): runs the
 * file's declarations (models, types, fns, lets, defaults, settings); its pipelines that would print
 * are checked but not run. */
static int run_import(Binder *b, const Node *n, Stmt ***stmts, int *nstmts)
{
    Catalog *cat = b->cat;
    char path[2 * PATH_MAX + 16], dir[PATH_MAX];
    if (n->flag) {
        snprintf(path, sizeof path, "%s/std.%s.fql", cat->stdlib_dir ? cat->stdlib_dir : "stdlib", n->str);
        if (access(path, R_OK) != 0) {
            char alt[PATH_MAX];
            snprintf(alt, sizeof alt, "%s/%s.fql", cat->stdlib_dir ? cat->stdlib_dir : "stdlib", n->str);
            if (access(alt, R_OK) == 0) snprintf(path, sizeof path, "%s", alt);
            else return errn(b, n, "no standard module std.%s (looked in %s)", n->str, cat->stdlib_dir ? cat->stdlib_dir : "stdlib");
        }
    } else if (n->str[0] == '/') {
        snprintf(path, sizeof path, "%s", n->str);
    } else {
        const char *d = src_dir(n->src, dir, sizeof dir);
        if (d) snprintf(path, sizeof path, "%s/%s", d, n->str);
        else snprintf(path, sizeof path, "%s", n->str);
    }
    char real[PATH_MAX];
    if (!realpath(path, real)) return errn(b, n, "cannot import '%s': file not found (imports are relative to the importing file)", n->str);
    for (int i = 0; i < cat->nimports; i++)
        if (!strcmp(cat->imports[i], real)) {
            Buf chain;
            buf_init(&chain);
            for (int j = i; j < cat->nimports; j++) buf_printf(&chain, "%s -> ", cat->imports[j]);
            buf_puts(&chain, real);
            errn(b, n, "import cycle: %s", chain.data);
            buf_free(&chain);
            return -1;
        }
    if (cat->nimports >= CATALOG_MAX_IMPORTS) return errn(b, n, "imports nested too deeply");
    char *text;
    size_t len;
    if (read_file(real, &text, &len)) return errn(b, n, "cannot read '%s'", path);
    Src *src = catalog_add_src(cat, n->flag ? path : path, real, text, len);
    free(text);
    Node *prog = parse_program(src, b->err);
    if (!prog) return -1;
    cat->imports[cat->nimports++] = xstrdup(real);
    int rc = 0;
    for (int i = 0; i < prog->nkids && rc == 0; i++)
        rc = bind_statement(b, prog->kids[i], stmts, nstmts, 1);
    free(cat->imports[--cat->nimports]);
    node_free(prog);
    return rc;
}

int bind_program(Catalog *cat, Node *prog, Stmt ***stmts, int *nstmts, fql_error *err)
{
    Binder b = { cat, err };
    *stmts = NULL;
    *nstmts = 0;
    for (int i = 0; i < prog->nkids; i++) {
        /* a statement's text runs to the next statement (query_metrics records it) */
        Node *k = prog->kids[i];
        if (k->end <= k->pos && k->src) {
            int end = i + 1 < prog->nkids && prog->kids[i + 1]->src == k->src ? prog->kids[i + 1]->pos : (int)k->src->len;
            while (end > k->pos && strchr(" \t\r\n;", k->src->text[end - 1])) end--;
            k->end = end;
        }
        if (prog->kids[i]->src && prog->kids[i]->src->path && cat->nimports == 0) {
            /* a script file is the root of the import chain (a file importing itself is a cycle) */
            char real[PATH_MAX];
            if (realpath(prog->kids[i]->src->path, real)) {
                cat->imports[cat->nimports++] = xstrdup(real);
                int rc = bind_statement(&b, prog->kids[i], stmts, nstmts, 0);
                free(cat->imports[--cat->nimports]);
                if (rc) return -1;
                continue;
            }
        }
        if (bind_statement(&b, prog->kids[i], stmts, nstmts, 0)) return -1;
    }
    return 0;
}
