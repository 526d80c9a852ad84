/* exec_resolve.c: the resolve stage (bind_stage.c's bind_resolve; docs/reference.md, "resolve").
 *
 * The right side is the semantic join of the column's distinct values with themselves, each
 * unordered pair once (exec_simjoin.c, triangle), with the prefilter and its stated recall: its rows
 * are the pairs the model judged to name the same thing. Those pairs are edges; the groups are the
 * connected components (union-find), so a value judged the same as two others joins them both. Each
 * input row gets its group number (from 1, in order of the group's first appearance in the input)
 * and the group's canonical value: its most frequent spelling in the input, ties to the one that
 * appears first. A null value has a null group and canonical.
 */
#include <stdlib.h>
#include <string.h>
#include "exec.h"

typedef struct Resolve {
    Table *in;               /* the input, materialized */
    int bi;                  /* next batch of `in` to put out */
    int64_t *gid;            /* per distinct value: its group number (1-based) */
    char **canon;            /* per group number - 1: the canonical value (borrowed from `vals`) */
    /* distinct values: a sorted index for lookup */
    char **vals; size_t nvals;
} Resolve;

static void resolve_close(Op *op)
{
    Resolve *r = op->priv;
    if (!r) return;
    table_free(r->in);
    for (size_t i = 0; i < r->nvals; i++) free(r->vals[i]);
    free(r->vals);
    free(r->gid);
    free(r->canon);
    free(r);
    op->priv = NULL;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* The index of s among the sorted distinct values, or -1. */
static long find_val(const Resolve *r, const char *s)
{
    char *const *hit = bsearch(&s, r->vals, r->nvals, sizeof *r->vals, cmp_str);
    return hit ? (long)(hit - r->vals) : -1;
}

static size_t uf_find(size_t *par, size_t x)
{
    while (par[x] != x) { par[x] = par[par[x]]; x = par[x]; }
    return x;
}

/* The value of v as a key (a new string), or NULL for null. */
static char *key_of(Value v)
{
    if (v.kind == V_NULL) return NULL;
    if (v.kind == V_STRING) return xstrdup(v_str(v));
    Buf b;
    buf_init(&b);
    value_to_text(&b, v, NULL);
    return b.data ? b.data : xstrdup("");
}

/* Read both sides and compute the groups. 0, or -1 with the error set. */
static int resolve_prepare(Op *op, Resolve *r)
{
    int col = op->p->col;
    if (!(r->in = core_drain(op->child))) return -1;
    /* the distinct values, in a sorted array for lookup; counts and first appearance per value */
    size_t cap = 16;
    r->vals = xmalloc(cap * sizeof *r->vals);
    for (int bi = 0; bi < r->in->nbatches; bi++) {
        const Batch *b = r->in->batches[bi];
        for (size_t i = 0; i < b->n; i++) {
            char *k = key_of(b->cols[col][i]);
            if (!k) continue;
            if (r->nvals == cap) r->vals = xrealloc(r->vals, (cap *= 2) * sizeof *r->vals);
            r->vals[r->nvals++] = k;
        }
    }
    qsort(r->vals, r->nvals, sizeof *r->vals, cmp_str);
    size_t u = 0;
    for (size_t i = 0; i < r->nvals; i++) {
        if (u && !strcmp(r->vals[u - 1], r->vals[i])) { free(r->vals[i]); continue; }
        r->vals[u++] = r->vals[i];
    }
    r->nvals = u;
    size_t n = r->nvals;
    size_t *par = xmalloc((n ? n : 1) * sizeof *par);
    for (size_t i = 0; i < n; i++) par[i] = i;
    /* the pairs judged the same: left value, then right value (column 1) */
    Table *pairs = core_drain(op->right);
    if (!pairs) { free(par); return -1; }
    int rc0 = pairs->schema->n > 1 ? 1 : 0;
    for (int bi = 0; bi < pairs->nbatches; bi++) {
        const Batch *b = pairs->batches[bi];
        for (size_t i = 0; i < b->n; i++) {
            char *a = key_of(b->cols[0][i]), *c = key_of(b->cols[rc0][i]);
            long x = a ? find_val(r, a) : -1, y = c ? find_val(r, c) : -1;
            if (x >= 0 && y >= 0) {
                size_t rx = uf_find(par, (size_t)x), ry = uf_find(par, (size_t)y);
                if (rx != ry) par[rx > ry ? rx : ry] = rx < ry ? rx : ry;
            }
            free(a);
            free(c);
        }
    }
    table_free(pairs);
    /* group numbers by first appearance; counts per value; canonical = most frequent, ties earliest */
    int64_t *root_gid = xcalloc(n ? n : 1, sizeof *root_gid), *count = xcalloc(n ? n : 1, sizeof *count);
    int64_t *first = xmalloc((n ? n : 1) * sizeof *first), ng = 0, row = 0;
    for (size_t i = 0; i < n; i++) first[i] = -1;
    r->gid = xcalloc(n ? n : 1, sizeof *r->gid);
    for (int bi = 0; bi < r->in->nbatches; bi++) {
        const Batch *b = r->in->batches[bi];
        for (size_t i = 0; i < b->n; i++, row++) {
            char *k = key_of(b->cols[col][i]);
            if (!k) continue;
            long v = find_val(r, k);
            free(k);
            size_t root = uf_find(par, (size_t)v);
            if (!root_gid[root]) root_gid[root] = ++ng;
            r->gid[v] = root_gid[root];
            count[v]++;
            if (first[v] < 0) first[v] = row;
        }
    }
    r->canon = xcalloc((size_t)ng + 1, sizeof *r->canon);
    long *best = xmalloc(((size_t)ng + 1) * sizeof *best);
    for (int64_t g = 0; g <= ng; g++) best[g] = -1;
    for (size_t v = 0; v < n; v++) {
        int64_t g = r->gid[v] - 1;
        if (g < 0) continue;
        long b = best[g];
        if (b < 0 || count[v] > count[b] || (count[v] == count[b] && first[v] < first[b])) best[g] = (long)v;
    }
    for (int64_t g = 0; g < ng; g++) r->canon[g] = r->vals[best[g]];
    free(best);
    free(first);
    free(count);
    free(root_gid);
    free(par);
    char *note = xasprintf("%zu distinct values in %lld groups", n, (long long)ng);
    free(op->detail);
    op->detail = note;
    return 0;
}

int resolve_next(Op *op, Batch **out)
{
    Resolve *r = op->priv;
    if (!r) {
        r = op->priv = xcalloc(1, sizeof *r);
        op->close = resolve_close;
        if (resolve_prepare(op, r)) return -1;
    }
    int col = op->p->col;
    while (r->bi < r->in->nbatches) {
        const Batch *b = r->in->batches[r->bi++];
        if (!b->n) continue;
        Batch *o = batch_new(b->ncols + 2, b->n);
        Value *row = xmalloc((size_t)(b->ncols + 2) * sizeof *row);
        for (size_t i = 0; i < b->n; i++) {
            for (int c = 0; c < b->ncols; c++) row[c] = value_copy(b->cols[c][i]);
            char *k = key_of(b->cols[col][i]);
            long v = k ? find_val(r, k) : -1;
            free(k);
            row[b->ncols] = v >= 0 ? v_int(r->gid[v]) : v_null();
            row[b->ncols + 1] = v >= 0 ? v_cstring(r->canon[r->gid[v] - 1]) : v_null();
            batch_push_row(o, row);
        }
        free(row);
        *out = o;
        return 1;
    }
    return 0;
}
