/* optimize.c: rewrite a bound plan so that it makes as few model calls as it can.
 *
 * An LLM call costs about a million times more than a comparison, so every rule here is about the
 * rows that reach a model. The rules run on a copy of the plan (a let's plan is shared) in this
 * order, and each one says what it did (explain prints it):
 *   1. split:    `where a and b` becomes the conjuncts a, b; stacked filters `where a | where b`
 *                are merged first, so they are the same conjuncts;
 *   2. pushdown: each conjunct moves toward the source as far as the columns it reads allow, the
 *                lowest filter's first; one with a model call never passes a cheap condition
 *                written before it;
 *   3. order:    the conjuncts left at one place run cheapest first, and each one with a model call
 *                becomes its own stage above the cheap ones (so it streams, and sees only the rows
 *                that passed them);
 *   4. prune:    a computed column that nothing reads is not computed (no requests), and a scan
 *                skips converting the columns no one reads;
 *   5. limit:    `limit N offset M` bounds the stages with model calls below it to N + M rows when
 *                nothing between them changes the row count;
 *   6. early stop: the other stages with model calls under a limit (filters, semantic joins,
 *                stages below a filter or a join) are marked with the rows the limit wants; the
 *                executor sends their work in waves sized from the pass rate it measures;
 *   7. fusion:   a stage's structured calls of one model over the same text are noted as fused
 *                (semantic.c sends them as one request a row).
 * Identical requests are sent once by the runtime (semantic.c), and cache points are keyed here. */
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include "optimize.h"
#include "semop.h"
#include "models.h"
#include "rt.h"
#include "catalog.h"
#include "io.h"
#include "state.h"
#include <sys/stat.h>
#include <time.h>

typedef struct Opt {
    Runtime *rt;
    Buf *log;                /* rules that fired, one line each */
} Opt;

static void fired(Opt *o, const char *fmt, ...) FQL_PRINTF(2, 3);
static void fired(Opt *o, const char *fmt, ...)
{
    if (!o->log) return;
    va_list ap;
    va_start(ap, fmt);
    buf_puts(o->log, "- ");
    buf_vprintf(o->log, fmt, ap);
    buf_putc(o->log, '\n');
    va_end(ap);
}

static void note(Plan *p, const char *fmt, ...) FQL_PRINTF(2, 3);
static void note(Plan *p, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    Buf b;
    buf_init(&b);
    buf_vprintf(&b, fmt, ap);
    va_end(ap);
    char *n = buf_take(&b);
    if (p->note) {
        char *j = xasprintf("%s; %s", p->note, n);
        free(p->note);
        free(n);
        n = j;
    }
    p->note = n;
}

static char *expr_text(const Expr *e, const Schema *in)
{
    Buf b;
    buf_init(&b);
    expr_explain(&b, e, in);
    return buf_take(&b);
}

/* ---- rule 1: split conjunctions ---- */

static void add_conj(Expr ***list, int *n, Expr *e)
{
    if (e->kind == E_BINOP && e->op == OP_AND) {
        add_conj(list, n, e->args[0]);
        add_conj(list, n, e->args[1]);
        e->args[0] = e->args[1] = NULL;
        e->nargs = 0;
        expr_free(e);
        return;
    }
    *list = xrealloc(*list, (size_t)(*n + 1) * sizeof **list);
    (*list)[(*n)++] = e;
}

/* Stacked filters (`where a | where b`) become one filter over the lowest one's input, the lower
 * one's conditions first, then every `and` is split: the same conjuncts as `where a and b`, so
 * the rules below treat both spellings alike. */
static void split_filters(Opt *o, Plan *p)
{
    while (p) {
        if (p->kind == P_FILTER) {
            int stages = 1;
            while (p->child && p->child->kind == P_FILTER && p->child->refcnt == 1) {
                Plan *c = p->child;
                Expr **all = xmalloc((size_t)(c->nexprs + p->nexprs + 1) * sizeof *all);
                memcpy(all, c->exprs, (size_t)c->nexprs * sizeof *all);
                memcpy(all + c->nexprs, p->exprs, (size_t)p->nexprs * sizeof *all);
                free(p->exprs);
                p->exprs = all;
                p->nexprs += c->nexprs;
                p->child = c->child;
                c->child = NULL;
                c->nexprs = 0;
                plan_free(c);
                stages++;
            }
            if (stages > 1) fired(o, "merge: %d stacked `where` stages tested as one", stages);
            Expr **list = NULL;
            int n = 0;
            for (int i = 0; i < p->nexprs; i++) add_conj(&list, &n, p->exprs[i]);
            if (n > p->nexprs) fired(o, "split: `where` with %d conditions tested one by one", n);
            free(p->exprs);
            p->exprs = list;
            p->nexprs = n;
        }
        split_filters(o, p->right);
        p = p->child;   /* the chain of stages iteratively: a long pipeline is a long chain */
    }
}

/* ---- column maps ---- */

/* Rewrite the column references of e with map (old index -> new index, or -1: not possible).
 * Returns 0 if some column has no image. */
static int remap_ok(const Expr *e, const int *map, int n)
{
    if (e->kind == E_COL && (e->ival >= n || map[e->ival] < 0)) return 0;
    for (int i = 0; i < e->nargs; i++)
        if (!remap_ok(e->args[i], map, n)) return 0;
    return 1;
}

static void remap(Expr *e, const int *map)
{
    if (e->kind == E_COL) e->ival = map[e->ival];
    for (int i = 0; i < e->nargs; i++) remap(e->args[i], map);
}

static int volatile_expr(const Expr *e)
{
    if (e->kind == E_CALL && e->fn && (e->fn->flags & FUNC_VOLATILE)) return 1;
    if (e->kind == E_CALL && !e->fn) return 1;   /* a user function: may have effects */
    for (int i = 0; i < e->nargs; i++)
        if (volatile_expr(e->args[i])) return 1;
    return 0;
}

/* Replace each column reference of e by a copy of defs[col] (a select's expressions). */
static Expr *substitute(const Expr *e, Expr *const *defs)
{
    if (e->kind == E_COL) return expr_copy(defs[e->ival]);
    Expr *c = expr_copy(e);
    for (int i = 0; i < c->nargs; i++) {
        expr_free(c->args[i]);
        c->args[i] = substitute(e->args[i], defs);
    }
    return c;
}

/* ---- rule 2: predicate pushdown ---- */

static Plan *push_conj(Opt *o, Plan *p, Expr *c, int *moved);

static Plan *wrap_filter(Plan *child, Expr *c)
{
    if (child->kind == P_FILTER && child->refcnt == 1) {
        child->exprs = xrealloc(child->exprs, (size_t)(child->nexprs + 1) * sizeof *child->exprs);
        child->exprs[child->nexprs++] = c;
        return child;
    }
    Plan *f = plan_new(P_FILTER, child, NULL);
    f->schema = schema_copy(child->schema);
    f->src = child->src;
    f->pos = child->pos;
    f->exprs = xmalloc(sizeof *f->exprs);
    f->exprs[0] = c;
    f->nexprs = 1;
    return f;
}

static int reads_any_target(const Expr *c, const Plan *derive)
{
    for (int k = 0; k < derive->nexprs; k++)
        if (expr_uses_col(c, derive->targets[k])) return 1;
    return 0;
}

/* Does filter p test a condition without a model call? */
static int has_cheap_cond(const Plan *p)
{
    for (int i = 0; i < p->nexprs; i++)
        if (!expr_is_semantic(p->exprs[i])) return 1;
    return 0;
}

/* Push conjunct c (over p's output columns) into p as deep as it can go; returns the new p. */
static Plan *push_conj(Opt *o, Plan *p, Expr *c, int *moved)
{
    switch (p->kind) {
    case P_FILTER: {
        /* a condition with a model call stays above a filter with cheap conditions (written before
         * it, or cheap conjuncts of its own `where`, pushed first): it joins this filter, and
         * rule 3 runs it after them, on the rows they keep */
        if (expr_is_semantic(c) && has_cheap_cond(p)) return wrap_filter(p, c);
        /* past this filter if it can go further down; else it joins this filter's conditions */
        int before = *moved;
        Plan *orig = p->child, *nc = push_conj(o, orig, c, moved);
        if (*moved == before && nc->kind == P_FILTER && nc->child == orig && nc->nexprs == 1 && nc->exprs[0] == c) {
            nc->child = NULL;
            nc->nexprs = 0;
            plan_free(nc);
            return wrap_filter(p, c);
        }
        p->child = nc;
        return p;
    }
    case P_SORT:
        (*moved)++;
        p->child = push_conj(o, p->child, c, moved);
        return p;
    case P_DERIVE:
        if (!reads_any_target(c, p)) {
            (*moved)++;
            p->child = push_conj(o, p->child, c, moved);
            return p;
        }
        break;
    case P_PROJECT: {
        int ok = 1;
        for (int i = 0; i < p->nexprs && ok; i++)
            if (expr_uses_col(c, i) && (expr_is_semantic(p->exprs[i]) || volatile_expr(p->exprs[i]))) ok = 0;
        if (!ok) break;
        Expr *under = substitute(c, p->exprs);
        expr_free(c);
        (*moved)++;
        p->child = push_conj(o, p->child, under, moved);
        return p;
    }
    case P_UNION: {
        /* both branches have the same column positions */
        (*moved)++;
        Expr *c2 = expr_copy(c);
        p->child = push_conj(o, p->child, c, moved);
        p->right = push_conj(o, p->right, c2, moved);
        return p;
    }
    case P_JOIN: {
        int nl = p->child->schema->n, nout = p->schema->n;
        int *lmap = xmalloc((size_t)nout * sizeof *lmap), *rmap = xmalloc((size_t)nout * sizeof *rmap);
        for (int k = 0; k < nout; k++) {
            int t = p->targets[k];
            lmap[k] = t < nl ? t : -1;
            rmap[k] = t >= nl ? t - nl : -1;
        }
        /* a using key of a right or full join may come from the right side: not a left column then */
        if (p->neq && (p->jointype == 2 || p->jointype == 3))
            for (int k = 0; k < nout; k++)
                for (int u = 0; u < p->neq; u++)
                    if (lmap[k] == p->eq_left[u]) lmap[k] = -1;
        /* inner and cross joins: either side; left join: the left side only; right join: the right */
        int left_ok = p->jointype == 0 || p->jointype == 1 || p->jointype == 4;
        int right_ok = p->jointype == 0 || p->jointype == 2 || p->jointype == 4;
        Plan *r = NULL;
        if (left_ok && remap_ok(c, lmap, nout)) {
            remap(c, lmap);
            (*moved)++;
            p->child = push_conj(o, p->child, c, moved);
            r = p;
        } else if (right_ok && remap_ok(c, rmap, nout)) {
            remap(c, rmap);
            (*moved)++;
            p->right = push_conj(o, p->right, c, moved);
            r = p;
        }
        free(lmap);
        free(rmap);
        if (r) return r;
        break;
    }
    case P_SIMJOIN: case P_SEMJOIN: {
        /* a left row's matches depend on the whole right side (its top K, the prefilter's nearest
         * rows) but not on the other left rows: a condition on left columns alone goes below */
        int right = 0;   /* the left's columns keep their positions in the output */
        for (int k = p->child->schema->n; k < p->schema->n; k++) right |= expr_uses_col(c, k);
        if (right) break;
        (*moved)++;
        p->child = push_conj(o, p->child, c, moved);
        return p;
    }
    case P_EXPLODE:
        if (!expr_uses_col(c, p->col) && (!p->with_index || !expr_uses_col(c, p->schema->n - 1))) {
            (*moved)++;
            p->child = push_conj(o, p->child, c, moved);
            return p;
        }
        break;
    case P_AGG: {
        /* a condition on group keys that are plain columns filters the input instead */
        int n = p->schema->n;
        int *map = xmalloc((size_t)n * sizeof *map);
        for (int k = 0; k < n; k++) map[k] = k < p->nkeys && p->exprs[k]->kind == E_COL ? (int)p->exprs[k]->ival : -1;
        int ok = remap_ok(c, map, n);
        if (ok) {
            remap(c, map);
            (*moved)++;
            p->child = push_conj(o, p->child, c, moved);
        }
        free(map);
        if (ok) return p;
        break;
    }
    default:
        break;   /* limit, distinct, cache, scans, unnest: the condition stays above */
    }
    return wrap_filter(p, c);
}

/* Push the filters of p down, the lowest first: by the time a filter's conditions move, the
 * filters written before it have settled, so a model call never passes a cheap condition written
 * before it. Returns the new p. */
static Plan *pushdown(Opt *o, Plan *p)
{
    if (!p) return NULL;
    p->child = pushdown(o, p->child);
    p->right = pushdown(o, p->right);
    /* a cache point is materialized as written: nothing moves into it from above (push_conj) */
    if (p->kind != P_FILTER) return p;
    Plan *child = p->child;
    p->child = NULL;
    Expr **cs = p->exprs;
    int n = p->nexprs;
    p->exprs = NULL;
    p->nexprs = 0;
    const Schema *in = child->schema;
    /* cheap conjuncts first, then those with model calls (which stop above the cheap ones);
     * which is which is known before any moves (a conjunct moved through a select is replaced) */
    char *sem = xmalloc((size_t)n + 1);
    for (int i = 0; i < n; i++) sem[i] = (char)expr_is_semantic(cs[i]);
    for (int pass = 0; pass < 2; pass++)
        for (int i = 0; i < n; i++) {
            if (sem[i] != pass) continue;
            int moved = 0;
            char *txt = o->log ? expr_text(cs[i], in) : NULL;
            child = push_conj(o, child, cs[i], &moved);
            if (moved && txt) fired(o, "pushdown: %s moved below %d stage%s", txt, moved, moved == 1 ? "" : "s");
            free(txt);
        }
    free(sem);
    free(cs);
    plan_free(p);
    return child;
}

/* ---- rule 3: order conjuncts; model calls get their own stage ---- */

static double model_price(Opt *o, const Expr *e)
{
    const Expr *m = expr_arg(e, "model");
    if (!m || m->kind != E_LIT || m->lit.kind != V_STRING || !o->rt) return 0;
    fql_error err;
    memset(&err, 0, sizeof err);
    char *alias = xstrdup(v_str(m->lit)), *dot = strchr(alias, '.');
    if (dot) *dot = 0;
    LmModel *lm = models_get(o->rt, alias, dot ? dot + 1 : NULL, &err);
    free(alias);
    if (!lm || lm->price_in < 0) return 0;
    return lm->price_in + (lm->price_out > 0 ? lm->price_out : 0);
}

/* Estimated cost of evaluating e on one row: comparisons 1, functions 10 (patterns 20), a model
 * call 1e6 plus its price so cheaper models go first. */
static double row_cost(Opt *o, const Expr *e)
{
    double c = 0;
    switch (e->kind) {
    case E_SEMANTIC: c = 1e6 + model_price(o, e); break;
    case E_CALL: c = e->fn && !strncmp(e->fn->name, "regexp", 6) ? 20 : 10; break;
    case E_LIKE: c = 5; break;
    default: c = 1; break;
    }
    for (int i = 0; i < e->nargs; i++) c += row_cost(o, e->args[i]);
    return c;
}

/* Fraction of rows expected to pass. */
double expr_selectivity(const Expr *e)
{
    switch (e->kind) {
    case E_BINOP:
        if (e->op == OP_EQ) return 0.1;
        if (e->op == OP_NE) return 0.9;
        if (e->op == OP_LT || e->op == OP_LE || e->op == OP_GT || e->op == OP_GE) return 0.33;
        if (e->op == OP_AND) return expr_selectivity(e->args[0]) * expr_selectivity(e->args[1]);
        if (e->op == OP_OR) {
            double a = expr_selectivity(e->args[0]), b = expr_selectivity(e->args[1]);
            return a + b - a * b;
        }
        return 0.5;
    case E_ISNULL: return e->flag ? 0.9 : 0.1;
    case E_IN: return e->flag & 1 ? 0.8 : 0.2;
    case E_LIKE: return e->flag ? 0.75 : 0.25;
    case E_NOT: return 1 - expr_selectivity(e->args[0]);
    default: return 0.5;
    }
}

typedef struct Ranked { Expr *e; double cost, sel; int pos; } Ranked;
static int rank_cmp(const void *a, const void *b)
{
    const Ranked *x = a, *y = b;
    /* classic rank: (selectivity - 1) / cost, lowest first; equal ranks keep the written order */
    double rx = (x->sel - 1) / x->cost, ry = (y->sel - 1) / y->cost;
    if (rx < ry) return -1;
    if (rx > ry) return 1;
    return x->pos - y->pos;
}

static Plan *order_filters(Opt *o, Plan *p)
{
    if (!p) return NULL;
    p->child = order_filters(o, p->child);
    p->right = order_filters(o, p->right);
    if (p->kind != P_FILTER || p->nexprs < 1) return p;
    int n = p->nexprs;
    Ranked *r = xmalloc((size_t)n * sizeof *r);
    for (int i = 0; i < n; i++) {
        r[i].e = p->exprs[i];
        r[i].cost = row_cost(o, p->exprs[i]);
        r[i].sel = expr_selectivity(p->exprs[i]);
        r[i].pos = i;
    }
    qsort(r, (size_t)n, sizeof *r, rank_cmp);
    int changed = 0;
    for (int i = 0; i < n; i++) changed |= r[i].pos != i;
    int nsem = 0;
    for (int i = 0; i < n; i++) nsem += expr_is_semantic(r[i].e);
    if (changed && o->log) {
        char *first = expr_text(r[0].e, p->child->schema);
        fired(o, "order: %d conditions reordered by cost and selectivity (first: %s)", n, first);
        free(first);
    }
    /* cheap conjuncts stay here; each one with a model call becomes a stage of its own above */
    Plan *top = p;
    int ncheap = n - nsem;
    if (nsem && (ncheap > 0 || nsem > 1)) {
        Plan *base = p;
        for (int i = 0; i < ncheap; i++) base->exprs[i] = r[i].e;
        base->nexprs = ncheap;
        Plan *cur = base;
        if (ncheap == 0) {   /* the first model conjunct takes this node */
            base->exprs[0] = r[0].e;
            base->nexprs = 1;
            ncheap = 1;
        }
        for (int i = ncheap; i < n; i++) {
            Plan *f = plan_new(P_FILTER, cur, NULL);
            f->schema = schema_copy(cur->schema);
            f->src = p->src;
            f->pos = p->pos;
            f->exprs = xmalloc(sizeof *f->exprs);
            f->exprs[0] = r[i].e;
            f->nexprs = 1;
            cur = f;
        }
        top = cur;
        fired(o, "order: %d condition%s with model calls run%s after the cheap ones, each as its own streaming stage", nsem,
              nsem == 1 ? "" : "s", nsem == 1 ? "s" : "");
    } else {
        for (int i = 0; i < n; i++) p->exprs[i] = r[i].e;
    }
    free(r);
    return top;
}

/* ---- rule 4: prune unread columns ---- */

static void mark_cols(const Expr *e, char *need, int n)
{
    if (!e) return;
    if (e->kind == E_COL && e->ival < n) need[e->ival] = 1;
    for (int i = 0; i < e->nargs; i++) mark_cols(e->args[i], need, n);
}

static Expr *null_of(const Expr *e)
{
    Expr *z = expr_new(E_LIT, type_ref(e->type), NULL);
    z->src = e->src;
    z->pos = e->pos;
    return z;
}

static void prune(Opt *o, Plan *p, const char *need);

static void prune_child_all(Opt *o, Plan *c)
{
    if (!c) return;
    char *all = xmalloc((size_t)c->schema->n + 1);
    memset(all, 1, (size_t)c->schema->n + 1);
    prune(o, c, all);
    free(all);
}

static void prune(Opt *o, Plan *p, const char *need)
{
    const Plan *c = p->child;
    int nc = c ? c->schema->n : 0;
    char *cn = c ? xcalloc((size_t)nc + 1, 1) : NULL;
    switch (p->kind) {
    case P_SCAN: {
        int n = p->schema->n, skipped = 0;
        for (int i = 0; i < n; i++) skipped += !need[i];
        if (skipped) {
            free(p->ropts.projection);
            p->ropts.projection = xmalloc((size_t)n * sizeof *p->ropts.projection);
            for (int i = 0; i < n; i++) p->ropts.projection[i] = need[i] ? 1 : 0;
            note(p, "reads %d of %d columns", n - skipped, n);
            fired(o, "prune: the scan of \"%s\" converts only the %d column%s read", p->path, n - skipped, n - skipped == 1 ? "" : "s");
        }
        break;
    }
    case P_FILTER:
        for (int i = 0; i < nc; i++) cn[i] = need[i];
        for (int i = 0; i < p->nexprs; i++) mark_cols(p->exprs[i], cn, nc);
        break;
    case P_DERIVE: {
        int n = p->schema->n;
        char *live = xcalloc((size_t)n + 1, 1);
        for (int i = 0; i < n; i++) live[i] = need[i];
        for (int k = p->nexprs - 1; k >= 0; k--) {
            int t = p->targets[k];
            if (!live[t]) {
                if (p->exprs[k]->kind != E_LIT) {
                    if (expr_is_semantic(p->exprs[k])) {
                        fired(o, "prune: %s is never read: not computed (no requests)", p->schema->names[t]);
                        note(p, "%s not computed", p->schema->names[t]);
                    }
                    Expr *z = null_of(p->exprs[k]);
                    expr_free(p->exprs[k]);
                    p->exprs[k] = z;
                }
                continue;
            }
            mark_cols(p->exprs[k], live, n);
        }
        for (int i = 0; i < nc; i++) cn[i] = live[i];
        free(live);
        break;
    }
    case P_PROJECT:
        for (int i = 0; i < p->nexprs; i++) {
            if (!need[i] && expr_is_semantic(p->exprs[i])) {
                fired(o, "prune: %s is never read: not computed (no requests)", p->schema->names[i]);
                note(p, "%s not computed", p->schema->names[i]);
                Expr *z = null_of(p->exprs[i]);
                expr_free(p->exprs[i]);
                p->exprs[i] = z;
            }
            if (need[i]) mark_cols(p->exprs[i], cn, nc);
        }
        break;
    case P_AGG:
        for (int i = 0; i < p->nexprs; i++) mark_cols(p->exprs[i], cn, nc);
        for (int a = 0; a < p->naggs; a++)
            for (int j = 0; j < p->aggs[a].nargs; j++) mark_cols(p->aggs[a].args[j], cn, nc);
        break;
    case P_SORT:
        for (int i = 0; i < nc; i++) cn[i] = need[i];
        for (int i = 0; i < p->nexprs; i++) mark_cols(p->exprs[i], cn, nc);
        break;
    case P_LIMIT:
        for (int i = 0; i < nc; i++) cn[i] = need[i];
        break;
    case P_TOPK:   /* the columns read above, and those the criterion names */
        for (int i = 0; i < nc; i++) cn[i] = need[i];
        mark_cols(p->exprs[0], cn, nc);
        break;
    case P_EXPLODE:
        for (int i = 0; i < nc; i++) cn[i] = need[i];
        cn[p->col] = 1;
        break;
    case P_UNION:
        for (int i = 0; i < nc; i++) cn[i] = need[i];
        prune(o, p->right, cn);
        break;
    case P_JOIN: {
        int nl = nc, nr = p->right->schema->n, nout = p->schema->n, unread = 0;
        char *all = xcalloc((size_t)(nl + nr) + 1, 1);
        for (int k = 0; k < nout; k++)
            if (need[k]) all[p->targets[k]] = 1;
            else unread++;
        free(p->unread);   /* what nothing above reads is not gathered (a join's keys, often) */
        p->unread = NULL;
        if (unread) {
            p->unread = xmalloc((size_t)nout);
            for (int k = 0; k < nout; k++) p->unread[k] = !need[k];
        }
        for (int u = 0; u < p->neq; u++) { all[p->eq_left[u]] = 1; all[nl + p->eq_right[u]] = 1; }
        for (int i = 0; i < p->nexprs; i++) mark_cols(p->exprs[i], all, nl + nr);
        for (int i = 0; i < nl; i++) cn[i] = all[i];
        prune(o, p->right, all + nl);
        free(all);
        break;
    }
    default:   /* distinct, unnest, cache, write, values, system: every column */
        if (c) memset(cn, 1, (size_t)nc);
        if (p->right) prune_child_all(o, p->right);
        break;
    }
    if (p->child) prune(o, p->child, cn);
    free(cn);
}

/* ---- rule 7: fusion ---- */

/* A call that fusion may join with others (semantic.c, semantic_send_fused): a structured
 * row-wise operator whose arguments hold no other model call. */
static int fusible_call(const Expr *e)
{
    if (!e || e->kind != E_SEMANTIC || expr_arg(e, "cascade")) return 0;   /* a cascade runs on its own (cascade.c) */
    if (e->sem != SEM_CLASSIFY && e->sem != SEM_EXTRACT && e->sem != SEM_PREDICATE &&
        !(e->sem == SEM_MAP && expr_answer_type(e) && expr_answer_type(e)->kind == TY_STRUCT))
        return 0;
    for (int i = 0; i < e->nargs; i++)
        if (expr_is_semantic(e->args[i])) return 0;
    return 1;
}

/* The same model (the same literal alias, or both the default) and the same input columns. */
static int fuse_alike(const Expr *a, const Expr *b, int ncols)
{
    const Expr *ma = expr_arg(a, "model"), *mb = expr_arg(b, "model");
    if (!ma != !mb) return 0;
    if (ma && (ma->kind != E_LIT || mb->kind != E_LIT || ma->lit.kind != V_STRING || mb->lit.kind != V_STRING ||
               strcmp(v_str(ma->lit), v_str(mb->lit))))
        return 0;
    char *ca = xcalloc((size_t)ncols + 1, 1), *cb = xcalloc((size_t)ncols + 1, 1);
    mark_cols(a->nargs ? a->args[0] : NULL, ca, ncols);
    mark_cols(b->nargs ? b->args[0] : NULL, cb, ncols);
    int same = !memcmp(ca, cb, (size_t)ncols + 1);
    free(ca);
    free(cb);
    return same;
}

/* confidence() calls of e and below: what each gives, by its model (a literal alias; the default
 * model was made literal by the binder): token probabilities, or null for a model without them. */
static void note_conf_expr(Opt *o, Plan *p, const Expr *e)
{
    if (!e) return;
    for (int i = 0; i < e->nargs; i++) note_conf_expr(o, p, e->args[i]);
    if (e->kind != E_SEMANTIC || e->conf != 1) return;   /* 2: provenance(), no note */
    const Expr *m = expr_arg(e, "model");
    if (!m || m->kind != E_LIT || m->lit.kind != V_STRING || !o->rt) {
        note(p, "confidence(%s): from token probabilities where the row's model gives them, else null", e->name);
        return;
    }
    fql_error err;
    memset(&err, 0, sizeof err);
    char *alias = xstrdup(v_str(m->lit)), *dot = strchr(alias, '.');
    if (dot) *dot = 0;
    LmModel *lm = models_get(o->rt, alias, dot ? dot + 1 : NULL, &err);
    if (lm && lm->logprobs)
        note(p, "confidence(%s): token probabilities of '%s'", e->name, v_str(m->lit));
    else if (lm)
        note(p, "confidence(%s) is null: model '%s' (%s \"%s\") gives no token probabilities; its answers are used alone",
             e->name, v_str(m->lit), lm->provider_name, lm->model_name ? lm->model_name : "");
    free(alias);
}

static void note_confidence(Opt *o, Plan *p)
{
    if (!p) return;
    note_confidence(o, p->child);
    note_confidence(o, p->right);
    for (int i = 0; i < p->nexprs; i++) note_conf_expr(o, p, p->exprs[i]);
    for (int a = 0; a < p->naggs; a++)
        for (int j = 0; j < p->aggs[a].nargs; j++) note_conf_expr(o, p, p->aggs[a].args[j]);
}

/* The cascades of a stage (cascade: option, cascade.c): who answers what, the targets, and that the
 * stage reads its whole input first; a cheap model (a literal alias) without token probabilities
 * is not asked: every row goes to the strong model. */
static void note_cascade_call(Opt *o, Plan *p, const Expr *e, const char *unit)
{
    if (!e) return;
    for (int i = 0; i < e->nargs; i++) note_cascade_call(o, p, e->args[i], unit);
    const Expr *c = e->kind == E_SEMANTIC ? expr_arg(e, "cascade") : NULL, *m = c ? expr_arg(e, "model") : NULL;
    if (!c || c->kind != E_LIT || c->lit.kind != V_STRUCT) return;
    const Struct *st = c->lit.u.st;
    const char *strong = "?", *cheap = m && m->kind == E_LIT && m->lit.kind == V_STRING ? v_str(m->lit) : NULL;
    double delta = 0.05;
    long long sample = 200;
    Buf t;
    buf_init(&t);
    for (uint32_t i = 0; i < st->n; i++) {
        const char *f = st->type->fields[i].name;
        Value v = st->fields[i];
        double x = v.kind == V_FLOAT ? v.u.f : v.kind == V_INT ? (double)v.u.i : 0;
        if (!strcmp(f, "model") && v.kind == V_STRING) strong = v_str(v);
        else if (!strcmp(f, "delta")) delta = x;
        else if (!strcmp(f, "sample")) sample = (long long)x;
        else buf_printf(&t, "%s%s >= %g", t.len ? ", " : "", f, x);
    }
    LmModel *lm = NULL;
    if (cheap && o->rt) {
        fql_error err;
        memset(&err, 0, sizeof err);
        char *alias = xstrdup(cheap), *dot = strchr(alias, '.');
        if (dot) *dot = 0;
        lm = models_get(o->rt, alias, dot ? dot + 1 : NULL, &err);
        free(alias);
    }
    if (lm && !lm->logprobs) p->casc_noconf++;
    if (lm && !lm->logprobs)
        note(p, "cascade: model '%s' (%s \"%s\") gives no token probabilities: it is not asked, every %s goes to '%s'", cheap,
             lm->provider_name, lm->model_name ? lm->model_name : "", unit, strong);
    else
        note(p, "cascade: '%s' answers every %s with its confidence; '%s' answers a sample of %lld %ss (all when fewer) and the "
                "%ss '%s' is unsure of, with thresholds learned on the sample so that %s against '%s' with probability %g; "
                "reads its whole input first", cheap ? cheap : "the model:", unit, strong, sample, unit, unit, cheap ? cheap : "it", t.data,
             strong, 1 - delta);
    buf_free(&t);
}

static void note_cascade(Opt *o, Plan *p)
{
    if (!p) return;
    note_cascade(o, p->child);
    note_cascade(o, p->right);
    if (p->kind == P_FILTER || p->kind == P_PROJECT || p->kind == P_DERIVE)
        for (int i = 0; i < p->nexprs; i++) note_cascade_call(o, p, p->exprs[i], "row");
    if (p->kind == P_SEMJOIN && p->nexprs) note_cascade_call(o, p, p->exprs[0], "pair");   /* the pairs' predicate */
}

/* Stages (derive, select) with two or more structured calls of one model over the same text:
 * the runtime asks them in one request a row (set fusion = off: each alone). Notes the names. */
static void note_fusion(Opt *o, Plan *p)
{
    if (!p) return;
    note_fusion(o, p->child);
    note_fusion(o, p->right);
    if ((p->kind != P_DERIVE && p->kind != P_PROJECT) || !o->rt || !o->rt->fusion) return;
    int ncols = p->schema->n > 0 ? p->schema->n : 1;
    char *used = xcalloc((size_t)p->nexprs + 1, 1);
    for (int i = 0; i < p->nexprs; i++) {
        if (used[i] || !fusible_call(p->exprs[i])) continue;
        Buf names;
        buf_init(&names);
        int k = 0, distinct = 0;
        char *seen[64];   /* the calls met, as explained without confidence()/provenance(): equal ones are one request */
        for (int j = i; j < p->nexprs; j++) {
            if (used[j] || !fusible_call(p->exprs[j]) || !fuse_alike(p->exprs[i], p->exprs[j], ncols)) continue;
            used[j] = 1;
            buf_printf(&names, "%s%s", k++ ? ", " : "", p->schema->names[p->kind == P_DERIVE ? p->targets[j] : j]);
            Expr *e = p->exprs[j];
            int conf = e->conf;
            e->conf = 0;
            Buf t;
            buf_init(&t);
            expr_explain(&t, e, p->child ? p->child->schema : NULL);
            e->conf = conf;
            int dup = 0;
            for (int q = 0; q < distinct && !dup; q++) dup = !strcmp(seen[q], t.data ? t.data : "");
            if (!dup && distinct < 64) seen[distinct++] = buf_take(&t);
            else buf_free(&t);
        }
        for (int q = 0; q < distinct; q++) free(seen[q]);
        char *list = buf_take(&names);
        if (k >= 2) {
            p->fused_calls += k - 1;
            if (distinct < 2) note(p, "%s: the same call, one request a row", list);
            else {
                note(p, "fused: %s (one request a row)", list);
                fired(o, "fusion: %s ask about the same text: one request a row with one schema per call (set fusion = off: each alone)", list);
            }
        }
        free(list);
    }
    free(used);
}

/* The fewest rows a request carries among the calls of e that send requests (INT_MAX: none). */
static int min_pack(Opt *o, const Expr *e)
{
    int m = INT_MAX;
    if (!e) return m;
    if (e->kind == E_SEMANTIC && semop_desc(e->sem)->sends == 1) m = semantic_pack_hint(o->rt, e);
    for (int i = 0; i < e->nargs; i++) {
        int k = min_pack(o, e->args[i]);
        if (k < m) m = k;
    }
    return m;
}

/* Stages whose model calls go out packed (pack:, or by default where the model answers to a
 * schema): the estimates count requests of up to pack_rows rows, and a note says so. */
static void note_packing(Opt *o, Plan *p)
{
    if (!p) return;
    note_packing(o, p->child);
    note_packing(o, p->right);
    if (!o->rt || !(p->kind == P_FILTER || p->kind == P_DERIVE || p->kind == P_PROJECT || p->kind == P_SEMJOIN)) return;
    int m = INT_MAX;
    for (int i = 0; i < (p->kind == P_SEMJOIN ? 1 : p->nexprs); i++) {
        int k = min_pack(o, p->exprs[i]);
        if (k < m) m = k;
    }
    if (m == INT_MAX || m < 2) return;
    p->pack_rows = m;
    note(p, "packed: up to %d %s a request", m, p->kind == P_SEMJOIN ? "pairs" : "rows");
}

/* ---- rule 5: limit pushdown ---- */

static int has_model_call(const Plan *p)
{
    for (int i = 0; i < p->nexprs; i++)
        if (expr_is_semantic(p->exprs[i])) return 1;
    return 0;
}

static void push_limits(Opt *o, Plan *p)
{
    if (!p) return;
    if (p->kind == P_LIMIT && p->limit >= 0) {
        int64_t bound = p->limit + p->offset;
        /* below the limit, stages that keep the row count pass it on; the first that does not stops it */
        for (Plan *q = p->child; q; q = q->child) {
            if (q->kind == P_TOPK && q->k > bound) {   /* the best `bound` rows are the first of the top K: ask for no more */
                note(q, "top %lld by the limit above (written top %lld)", (long long)bound, (long long)q->k);
                fired(o, "limit: `top %lld by` below `limit %lld` keeps only %lld rows", (long long)q->k, (long long)p->limit, (long long)bound);
                q->k = bound;
            }
            if (q->kind == P_SORT && (q->row_bound < 0 || q->row_bound > bound)) {   /* top-N: keep the first rows only */
                q->row_bound = bound;
                note(q, "top %lld (limit): a bounded heap, not a full sort", (long long)bound);
                char off[32] = "";
                if (p->offset) snprintf(off, sizeof off, " offset %lld", (long long)p->offset);
                fired(o, "limit: `order by` below `limit %lld%s` keeps only the first %lld rows while it reads", (long long)p->limit,
                      off, (long long)bound);
                break;
            }
            if (q->kind != P_DERIVE && q->kind != P_PROJECT) break;
            if (has_model_call(q) && (q->row_bound < 0 || q->row_bound > bound)) {
                q->row_bound = bound;
                note(q, "at most %lld rows (limit)", (long long)bound);
                char off[32] = "";
                if (p->offset) snprintf(off, sizeof off, " offset %lld", (long long)p->offset);
                fired(o, "limit: the stage with model calls below `limit %lld%s` takes at most %lld rows", (long long)p->limit, off,
                      (long long)bound);
            }
        }
    }
    push_limits(o, p->child);
    push_limits(o, p->right);
}

/* ---- rule 6: early stop ---- */

/* Below `limit N offset M`, through the stages that keep, drop or join rows one input row at a
 * time (filters, selects, derives, explode, unnest, a join's left side), every stage with model
 * calls not already bounded by rule 5, and the first semantic join, is marked with the N + M rows
 * the limit wants: the executor sends its work in waves sized from the pass rate it measures. */
static void push_wants(Opt *o, Plan *p)
{
    if (!p) return;
    if (p->kind == P_LIMIT && p->limit >= 0) {
        int64_t want = p->limit + p->offset;
        for (Plan *q = p->child; q; q = q->child) {
            int stage = q->kind == P_SEMJOIN || ((q->kind == P_FILTER || q->kind == P_DERIVE || q->kind == P_PROJECT) && has_model_call(q));
            if (stage && q->row_bound < 0 && (q->want_rows < 0 || q->want_rows > want)) {
                q->want_rows = want;
                note(q, "stops early: ~%lld rows wanted", (long long)want);
                fired(o, "early stop: the %s below `limit %lld` sends its requests in waves sized from the pass rate measured, "
                      "until %lld rows are out", q->kind == P_SEMJOIN ? "semantic join" : "stage with model calls", (long long)p->limit,
                      (long long)want);
            }
            if (q->kind != P_FILTER && q->kind != P_PROJECT && q->kind != P_DERIVE && q->kind != P_EXPLODE && q->kind != P_UNNEST &&
                q->kind != P_JOIN)
                break;
        }
    }
    push_wants(o, p->child);
    push_wants(o, p->right);
}

/* ---- the whole ---- */

static Plan *resolve_caches(Opt *o, Plan *p);

Plan *optimize(Runtime *rt, const Plan *bound, Buf *log)
{
    Opt o = { rt, log };
    Plan *p = plan_copy(bound);
    p = resolve_caches(&o, p);
    split_filters(&o, p);
    p = pushdown(&o, p);
    p = order_filters(&o, p);
    prune_child_all(&o, p);
    push_limits(&o, p);
    push_wants(&o, p);
    note_fusion(&o, p);
    note_packing(&o, p);
    note_confidence(&o, p);
    note_cascade(&o, p);
    return p;
}

/* ---- estimates (explain) ---- */

/* Rows of the files of a scan: counted when small, else extrapolated from the first 256 KiB
 * (Parquet: from the footer). */
static double scan_rows(const Plan *p)
{
    char **paths = NULL;
    int n = p->ropts.fetched ? remote_local_paths(p->ropts.fetched, &paths) : io_glob(p->path, &paths);
    double rows = 0;
    if (p->format == FMT_DOCS || p->format == FMT_PDF_META) {   /* a row per file */
        for (int i = 0; i < n; i++) free(paths[i]);
        free(paths);
        return n;
    }
    for (int i = 0; i < n; i++) {
        if (p->format == FMT_PARQUET) {          /* the footer has the exact count */
            double r = parquet_file_rows(paths[i]);
            rows += r > 0 ? r : 0;
            free(paths[i]);
            continue;
        }
        FILE *f = fopen(paths[i], "rb");
        free(paths[i]);
        if (!f) continue;
        char buf[65536];
        size_t got, seen = 0;
        double lines = 0;
        while (seen < 262144 && (got = fread(buf, 1, sizeof buf, f)) > 0) {
            for (size_t k = 0; k < got; k++) lines += buf[k] == '\n';
            if (got && buf[got - 1] != '\n' && got < sizeof buf) lines++;
            seen += got;
        }
        double size = seen;
        if (!feof(f) && fseek(f, 0, SEEK_END) == 0) size = (double)ftell(f);
        fclose(f);
        double est = seen ? lines * size / (double)seen : 0;
        if ((p->format == FMT_CSV || p->format == FMT_TSV) && p->ropts.header && est >= 1) est -= 1;
        if (p->format == FMT_JSON && est >= 2) est -= 2;   /* the array's brackets, when one object a line */
        rows += est;
    }
    free(paths);
    return rows;
}

static int count_semantic(const Expr *e)
{
    if (!e) return 0;
    int n = 0;
    if (e->kind == E_SEMANTIC) {
        int sends = semop_desc(e->sem)->sends;   /* 2: only on an option (parse_pdf: to describe images) */
        const Expr *di = sends == 2 ? expr_arg(e, "describe_images") : NULL;
        n = sends == 1 || (di && di->kind == E_LIT && value_true(di->lit));
    }
    for (int i = 0; i < e->nargs; i++) n += count_semantic(e->args[i]);
    return n;
}

/* The rows a cascade in e samples, summed over e's calls with a cascade: option (its `sample:`, 200
 * unless given), and *n the number of such calls. */
static double cascade_samples(const Expr *e, int *n)
{
    if (!e) return 0;
    double s = 0;
    for (int i = 0; i < e->nargs; i++) s += cascade_samples(e->args[i], n);
    const Expr *c = e->kind == E_SEMANTIC ? expr_arg(e, "cascade") : NULL;
    if (!c || c->kind != E_LIT || c->lit.kind != V_STRUCT) return s;
    double sample = 200;
    for (uint32_t i = 0; i < c->lit.u.st->n; i++) {
        Value v = c->lit.u.st->fields[i];
        if (!strcmp(c->lit.u.st->type->fields[i].name, "sample") && (v.kind == V_INT || v.kind == V_FLOAT))
            sample = v.kind == V_INT ? (double)v.u.i : v.u.f;
    }
    (*n)++;
    return s + sample;
}

void plan_estimate(Plan *p)
{
    if (!p) return;
    plan_estimate(p->child);
    plan_estimate(p->right);
    double in = p->child ? p->child->est_rows : 0, r = in, requests = -1;
    switch (p->kind) {
    case P_SCAN: r = scan_rows(p); break;
    case P_VALUES: r = p->rows ? (double)p->rows->nrows : 0; break;
    case P_SYSTEM: r = 100; break;
    case P_FILTER:
        for (int i = 0; i < p->nexprs; i++) r *= expr_selectivity(p->exprs[i]);
        break;
    case P_AGG: r = p->nkeys ? (in < 10 ? in : in / 10 < 10 ? 10 : in / 10) : 1; break;
    case P_LIMIT: r = p->limit >= 0 && in > (double)p->limit ? (double)p->limit : in; break;
    case P_DISTINCT: r = in / 2 < 1 && in > 0 ? 1 : in / 2; break;
    case P_JOIN: {
        double rr = p->right->est_rows;
        r = p->jointype == 4 ? in * rr : p->jointype == 1 ? in : p->jointype == 2 ? rr : p->jointype == 3 ? in + rr : (in > rr ? in : rr);
        break;
    }
    case P_UNION: r = in + p->right->est_rows; break;
    case P_EXPLODE: r = in * 3; break;
    case P_SIMJOIN: r = in * (p->right->est_rows < (double)p->k ? p->right->est_rows : (double)p->k); break;
    case P_SEMJOIN: {
        /* a request per candidate pair (see exec_simjoin.c for when the prefilter narrows them):
         * prefilter auto sends at most max_pairs (the judged sample included) */
        double rr = p->right->est_rows, pairs = p->triangle ? in * (in - 1) / 2 : in * rr;
        if (p->prefilter == PREFILTER_EMBED) pairs = in * (rr < (double)p->k ? rr : (double)p->k);
        else if (p->prefilter == PREFILTER_AUTO && pairs > (double)p->max_pairs && p->nexprs == 3) pairs = (double)p->max_pairs;
        requests = pairs;
        r = pairs * expr_selectivity(p->exprs[0]);
        /* decomposition: each side's rows classified (at most; identical texts are one request)
         * and the validation sample; the literal plan is what runs when the sample disagrees */
        double dec = in + rr + (pairs < (double)p->dec_sample ? pairs : (double)p->dec_sample) + (p->dec_plan ? 1 : 0);
        /* early stop: about the pairs that give the rows wanted */
        if (p->want_rows >= 0 && r > 0 && (double)p->want_rows * pairs / r < requests) requests = (double)p->want_rows * pairs / r;
        if (p->dec[0] && !p->rewrite_off && dec < requests) {
            p->est_literal = requests;
            requests = dec;
        }
        break;
    }
    case P_RESOLVE: requests = 0; break;   /* the pairs' requests are its right side's */
    case P_TOPK:   /* the tournament's requests at most (exec_topk.c), before any row is known */
        r = in < (double)p->k ? in : (double)p->k;
        requests = plan_topk_requests(in, p->k, p->group);
        break;
    default: break;
    }
    double sent = in;
    if (p->row_bound >= 0 && sent > (double)p->row_bound) sent = (double)p->row_bound;
    if (p->want_rows >= 0 && p->kind == P_FILTER && r > 0 && (double)p->want_rows * in / r < sent) sent = (double)p->want_rows * in / r;
    if (p->kind == P_DERIVE || p->kind == P_PROJECT || p->kind == P_SORT) {
        if (p->row_bound >= 0 && r > (double)p->row_bound) r = (double)p->row_bound;
    }
    int ns = 0;
    if (p->kind == P_FILTER || p->kind == P_DERIVE || p->kind == P_PROJECT)
        for (int i = 0; i < p->nexprs; i++) ns += count_semantic(p->exprs[i]);
    ns -= ns > p->fused_calls ? p->fused_calls : 0;   /* fused calls: one request a row */
    p->est_requests = requests >= 0 ? requests : ns ? sent * ns : 0;
    p->est_strong_lo = p->est_strong_hi = 0;
    if (p->kind == P_FILTER || p->kind == P_DERIVE || p->kind == P_PROJECT) {
        int nc = 0;   /* a cascade: its strong model answers its sample and the rows its cheap model is unsure of */
        for (int i = 0; i < p->nexprs; i++) {
            int one = 0;
            double smp = cascade_samples(p->exprs[i], &one);
            p->est_strong_lo += smp < sent * one ? smp : sent * one;
            nc += one;
        }
        p->est_strong_hi = sent * nc;
        if (nc && p->casc_noconf) {   /* a cheap model that is not asked: its rows are all the strong one's */
            int off = p->casc_noconf < nc ? p->casc_noconf : nc;
            p->est_requests -= sent * off < p->est_requests ? sent * off : p->est_requests;
            p->est_strong_lo += (p->est_strong_hi - p->est_strong_lo) * off / nc;
        }
    } else if (p->kind == P_SEMJOIN && p->nexprs && p->est_requests > 0) {   /* a cascade on the pairs' predicate */
        int one = 0;
        double smp = cascade_samples(p->exprs[0], &one);
        if (one) {
            p->est_strong_lo = smp < p->est_requests ? smp : p->est_requests;
            p->est_strong_hi = p->est_requests;
        }
    }
    if (p->pack_rows > 1 && p->est_requests > 0) {   /* packed: a request carries up to pack_rows rows */
        double q = p->est_requests / p->pack_rows, l = p->est_literal / p->pack_rows;   /* a part-filled pack is a request */
        if (p->est_requests >= 1) p->est_requests = ceil(q);   /* below one row: as unpacked */
        if (p->est_literal >= 1) p->est_literal = ceil(l);
        if (p->est_strong_lo >= 1) p->est_strong_lo = ceil(p->est_strong_lo / p->pack_rows);
        if (p->est_strong_hi >= 1) p->est_strong_hi = ceil(p->est_strong_hi / p->pack_rows);
    }
    p->est_rows = r;
}

/* ---- cache points ---- */

int plan_calls_models(const Plan *p)
{
    if (!p) return 0;
    for (int i = 0; i < p->nexprs; i++)
        if (expr_is_semantic(p->exprs[i])) return 1;
    for (int a = 0; a < p->naggs; a++)
        for (int j = 0; j < p->aggs[a].nargs; j++)
            if (expr_is_semantic(p->aggs[a].args[j])) return 1;
    return plan_calls_models(p->child) || plan_calls_models(p->right);
}

static void fp_expr(Buf *b, Runtime *rt, const Expr *e)
{
    char *t = type_to_string(e->type);
    buf_printf(b, "(%d %d %d %lld %s %s ", (int)e->kind, e->op, e->flag, (long long)e->ival, t ? t : "?", e->name ? e->name : "");
    free(t);
    if (e->fn) buf_printf(b, "fn:%s ", e->fn->name);
    if (e->kind == E_LIT) value_to_json(b, e->lit);
    for (int i = 0; i < e->nargs; i++) {
        if (e->argnames && e->argnames[i]) buf_printf(b, " %s:", e->argnames[i]);
        fp_expr(b, rt, e->args[i]);
        /* a model named by a literal: its declaration is part of what the result depends on */
        if (e->kind == E_SEMANTIC && e->argnames && e->argnames[i] && !strcmp(e->argnames[i], "model") &&
            e->args[i]->kind == E_LIT && e->args[i]->lit.kind == V_STRING) {
            char *alias = xstrdup(v_str(e->args[i]->lit)), *dot = strchr(alias, '.');
            if (dot) *dot = 0;
            ModelDecl *d = catalog_find_model(rt->cat, alias);
            if (d) {
                buf_printf(b, "[model %s %s ", d->provider, d->model_name);
                value_to_json(b, d->opts);
                buf_putc(b, ']');
            }
            free(alias);
        }
    }
    buf_putc(b, ')');
}

/* Everything the rows of p depend on: its operators and expressions, and the identity of its input
 * files (path, size, modification time). */
static void fingerprint(Buf *b, Runtime *rt, const Plan *p)
{
    buf_printf(b, "{%d ", (int)p->kind);
    for (int i = 0; i < p->schema->n; i++) {
        char *t = type_to_string(p->schema->types[i]);
        buf_printf(b, "%s:%s,", p->schema->names[i], t ? t : "?");
        free(t);
    }
    for (int i = 0; i < p->nexprs; i++) fp_expr(b, rt, p->exprs[i]);
    int nt = p->kind == P_JOIN ? p->schema->n : p->kind == P_DERIVE ? p->nexprs : 0;
    for (int i = 0; i < nt; i++) buf_printf(b, "t%d,", p->targets[i]);
    for (int a = 0; a < p->naggs; a++) {
        buf_printf(b, "agg %s %d ", p->aggs[a].def->name, p->aggs[a].distinct);
        for (int j = 0; j < p->aggs[a].nargs; j++) fp_expr(b, rt, p->aggs[a].args[j]);
    }
    for (int i = 0; p->kind == P_SORT && i < p->nexprs; i++) buf_printf(b, "d%d%d", p->desc[i], p->nulls_first[i]);
    for (int i = 0; i < p->neq; i++) buf_printf(b, "eq%d=%d,", p->eq_left[i], p->eq_right[i]);
    buf_printf(b, "L%lld,%lld J%d U%d X%d,%d,%d M%d F%d ", (long long)p->limit, (long long)p->offset, p->jointype, p->all, p->col,
               p->outer, p->with_index, p->mode, (int)p->format);
    if (p->kind == P_TOPK) buf_printf(b, "k%lld g%d ", (long long)p->k, p->group);
    if (p->kind == P_CLUSTER || p->kind == P_SIMJOIN || p->kind == P_SEMJOIN)
        buf_printf(b, "k%lld s%lld i%lld m%d p%d r%.17g x%lld ", (long long)p->k, (long long)p->seed, (long long)p->max_iter, p->metric,
                   p->prefilter, p->recall, (long long)p->max_pairs);
    if (p->kind == P_SEMJOIN && p->triangle) buf_puts(b, "tri ");
    if (p->kind == P_SEMJOIN && p->dec[0]) {
        buf_printf(b, "dec%d,%d,%.17g,%lld ", p->dec_rel, p->rewrite_off, p->dec_agree, (long long)p->dec_sample);
        for (int i = 0; i < 2; i++) fp_expr(b, rt, p->dec[i]);
        if (p->dec_plan) fp_expr(b, rt, p->dec_plan);
        for (int i = 0; p->dec_plan && i < 2; i++) fp_expr(b, rt, p->dec_num[i]);
    }
    if (p->path) buf_printf(b, "path:%s ", p->path);
    if (p->kind == P_SCAN) {
        buf_printf(b, "h%d d%d q%d ", p->ropts.header, p->ropts.delimiter, p->ropts.quote);
        char **paths = NULL;
        if (p->ropts.fetched) remote_fingerprint(b, p->ropts.fetched);
        int n = p->ropts.fetched ? 0 : io_glob(p->path, &paths);
        for (int i = 0; i < n; i++) {
            struct stat st;
            if (stat(paths[i], &st) == 0)
                buf_printf(b, "[%s %lld %lld.%09ld]", paths[i], (long long)st.st_size, (long long)st.st_mtim.tv_sec, st.st_mtim.tv_nsec);
            free(paths[i]);
        }
        free(paths);
    }
    if (p->kind == P_VALUES && p->rows)
        for (int i = 0; i < p->rows->nbatches; i++)
            for (size_t r = 0; r < p->rows->batches[i]->n; r++)
                for (int c = 0; c < p->rows->batches[i]->ncols; c++) value_to_json(b, p->rows->batches[i]->cols[c][r]);
    if (p->child) fingerprint(b, rt, p->child);
    if (p->right) fingerprint(b, rt, p->right);
    buf_putc(b, '}');
}

/* Key the cache point p and say (in its note) whether a stored result will be used. Kept out of
 * resolve_caches: its locals would sit in every frame of that recursion. */
static __attribute__((noinline)) void key_cache_point(Opt *o, Plan *p)
{
    Buf fp;
    buf_init(&fp);
    fingerprint(&fp, o->rt, p->child);
    /* a partition's rows are not the whole input's: each partition keys its own result */
    char part[48] = "";
    if (o->rt && o->rt->part_n > 1) snprintf(part, sizeof part, "partition %d/%d", o->rt->part_i, o->rt->part_n);
    const char *parts[] = { "fql-cache-point-v1", fp.data ? fp.data : "", part };
    char key[65];
    state_hash(key, parts, part[0] ? 3 : 2);
    buf_free(&fp);
    free(p->cache_key);
    p->cache_key = xstrdup(key);
    if (p->let_name) fired(o, "cache: let %s is used %d times and calls models: computed once and stored", p->let_name, *p->let_uses);
    /* say whether a stored result will be used */
    int in_session = 0;
    for (StoredResult *r = o->rt ? o->rt->results : NULL; r; r = r->next) in_session |= !strcmp(r->key, key);
    int64_t rows = 0;
    double when = 0;
    fql_error err;
    memset(&err, 0, sizeof err);
    if (in_session) note(p, "result computed earlier in this session will be used");
    else if (o->rt && o->rt->cache && rt_state(o->rt, &err) && state_result_info(o->rt->state, key, &rows, &when)) {
        time_t tt = (time_t)when;
        struct tm tm;
        char ts[32];
        gmtime_r(&tt, &tm);
        strftime(ts, sizeof ts, "%Y-%m-%d %H:%M:%S", &tm);
        note(p, "stored result will be used (%lld rows, stored %s UTC)", (long long)rows, ts);
    } else note(p, "computed once and stored (%s)", o->rt && o->rt->cache ? "no stored result yet" : "not stored: cache is off");
}

/* Drop the cache points of lets used once or without model calls; key the others. Returns the
 * new p. */
static Plan *resolve_caches(Opt *o, Plan *p)
{
    if (!p) return NULL;
    p->child = resolve_caches(o, p->child);
    p->right = resolve_caches(o, p->right);
    if (p->kind != P_CACHE) return p;
    if (p->let_uses && (*p->let_uses < 2 || !plan_calls_models(p->child))) {
        /* a let used once, or without model calls: just its plan (every rule applies through it) */
        Plan *c = p->child;
        p->child = NULL;
        plan_free(p);
        return c;
    }
    key_cache_point(o, p);
    return p;
}
