/* exec_cluster.c: `cluster by VECTOR into K as label [centroid as c]` (k-means), and the reading
 * of vector columns that it shares with sim join.
 *
 * A blocking operator: it holds every row of its input and the vectors as arrays of doubles.
 * Seeding is k-means++ (Arthur and Vassilvitskii, 2007) drawn from splitmix64 started at the
 * stage's seed, so the same rows and seed give the same clusters on every machine. Lloyd's
 * iterations follow until no point changes cluster, or max_iter rounds. Labels are then numbered
 * in order of first appearance: the cluster of the first row that has a vector is 0, the next
 * new one 1, and so on, so that they do not depend on the order in which centroids were drawn.
 */
#include <stdlib.h>
#include <string.h>
#include <math.h>
#include "exec.h"

/* ---- vectors ---- */

void vecset_free(VecSet *vs)
{
    free(vs->x);
    free(vs->norm);
    free(vs->ok);
    memset(vs, 0, sizeof *vs);
}

static int vec_error(Exec *ex, const Plan *p, const char *what, int64_t row, const char *msg)
{
    return err_at(ex->err, FQL_ERR_RUNTIME, p->src, p->pos, "%s %lld: %s", what, (long long)row, msg);
}

int vecset_read(VecSet *vs, Exec *ex, const Plan *p, const Value *v, size_t n, int *dim, const char *what, int64_t first_row)
{
    memset(vs, 0, sizeof *vs);
    vs->n = n;
    vs->ok = xcalloc(n ? n : 1, 1);
    vs->norm = xcalloc(n ? n : 1, sizeof *vs->norm);
    for (size_t i = 0; i < n; i++) {
        int64_t row = first_row + (int64_t)i + 1;
        if (v[i].kind == V_NULL) continue;
        if (v[i].kind != V_LIST) {
            vec_error(ex, p, what, row, v[i].kind == V_JSON ? "the value is json, not a vector: cast(x as [float]) converts a JSON array"
                                                            : "the value is not a vector (a list of numbers)");
            goto fail;
        }
        const List *l = v[i].u.l;
        if (l->n == 0) continue;   /* an empty list has no direction: treated as null */
        if (*dim == 0) *dim = (int)l->n;
        if ((int)l->n != *dim) {
            char msg[160];
            snprintf(msg, sizeof msg, "the vector has %u dimensions, but the vectors before it have %d (every vector must have the same dimension)",
                     l->n, *dim);
            vec_error(ex, p, what, row, msg);
            goto fail;
        }
        if (!vs->x) vs->x = xmalloc((n ? n : 1) * (size_t)*dim * sizeof *vs->x);
        double *x = vs->x + i * (size_t)*dim, sq = 0;
        for (uint32_t d = 0; d < l->n; d++) {
            Value e = l->items[d];
            if (e.kind == V_FLOAT) x[d] = e.u.f;
            else if (e.kind == V_INT) x[d] = (double)e.u.i;
            else {
                char msg[96];
                snprintf(msg, sizeof msg, "element %u of the vector is %s, not a number", d, e.kind == V_NULL ? "null" : "not numeric");
                vec_error(ex, p, what, row, msg);
                goto fail;
            }
            if (!isfinite(x[d])) { vec_error(ex, p, what, row, "the vector holds an infinite or NaN element"); goto fail; }
            sq += x[d] * x[d];
        }
        vs->norm[i] = sqrt(sq);
        vs->ok[i] = 1;
    }
    vs->dim = *dim;
    return 0;
fail:
    vecset_free(vs);
    return -1;
}

int vecset_eval(VecSet *vs, Op *op, const Expr *e, const Batch *b, int *dim, const char *what, int64_t first_row)
{
    /* BATCH_ROWS rows at a time, as a streaming stage would give them to the expression (embed()
     * packs and deduplicates the texts of the rows it is given) */
    Value *v = xmalloc((b->n ? b->n : 1) * sizeof *v);
    size_t done = 0;
    int rc = 0;
    while (done < b->n && rc == 0) {
        Batch *slice = batch_new(b->ncols, BATCH_ROWS);
        for (size_t r = done; r < b->n && slice->n < BATCH_ROWS; r++) batch_copy_row(slice, b, r);
        Value *sv = core_eval_op(op, e, slice);
        if (sv) {
            memcpy(v + done, sv, slice->n * sizeof *v);
            done += slice->n;
            free(sv);
        } else rc = -1;
        batch_free(slice);
    }
    if (rc == 0) rc = vecset_read(vs, op->ex, op->p, v, b->n, dim, what, first_row);
    for (size_t r = 0; r < done; r++) value_free(v[r]);
    free(v);
    return rc;
}

/* ---- k-means ---- */

/* splitmix64 (Steele, Lea and Flood, 2014): a tiny generator whose stream depends only on the seed */
static uint64_t next_rand(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

static double uniform(uint64_t *s) { return (double)(next_rand(s) >> 11) * 0x1.0p-53; }

static double dist2(const double *a, const double *b, int dim)
{
    double s = 0;
    for (int d = 0; d < dim; d++) s += (a[d] - b[d]) * (a[d] - b[d]);
    return s;
}

typedef struct KMeans {
    size_t n; int dim;       /* the points: x[i * dim + d] */
    const double *x;
    int k;                   /* centroids drawn (at most the number of distinct points) */
    double *c;               /* k * dim */
    int *label;              /* per point */
} KMeans;

/* k-means++: the first centroid uniformly, each next one with probability proportional to the
 * squared distance to the nearest centroid so far. Stops early when every point is a centroid. */
static void seed_centroids(KMeans *km, int want, uint64_t seed)
{
    size_t n = km->n;
    int dim = km->dim;
    double *d2 = xmalloc(n * sizeof *d2);
    uint64_t rs = seed;
    size_t first = (size_t)(uniform(&rs) * (double)n);
    memcpy(km->c, km->x + first * (size_t)dim, (size_t)dim * sizeof *km->c);
    km->k = 1;
    for (size_t i = 0; i < n; i++) d2[i] = dist2(km->x + i * (size_t)dim, km->c, dim);
    while (km->k < want) {
        double total = 0;
        for (size_t i = 0; i < n; i++) total += d2[i];
        if (total <= 0) break;   /* fewer distinct points than clusters */
        double r = uniform(&rs) * total;
        size_t pick = n;
        for (size_t i = 0; i < n; i++) {
            if (d2[i] <= 0) continue;
            pick = i;            /* the last candidate, should rounding leave r unspent */
            if ((r -= d2[i]) < 0) break;
        }
        double *c = km->c + (size_t)km->k * (size_t)dim;
        memcpy(c, km->x + pick * (size_t)dim, (size_t)dim * sizeof *c);
        km->k++;
        for (size_t i = 0; i < n; i++) {
            double d = dist2(km->x + i * (size_t)dim, c, dim);
            if (d < d2[i]) d2[i] = d;
        }
    }
    free(d2);
}

/* Assign each point to its nearest centroid (the lowest index on a tie). Returns how many moved. */
static size_t assign(KMeans *km)
{
    size_t moved = 0;
    for (size_t i = 0; i < km->n; i++) {
        const double *x = km->x + i * (size_t)km->dim;
        int best = 0;
        double bd = dist2(x, km->c, km->dim);
        for (int j = 1; j < km->k; j++) {
            double d = dist2(x, km->c + (size_t)j * (size_t)km->dim, km->dim);
            if (d < bd) { bd = d; best = j; }
        }
        if (km->label[i] != best) { km->label[i] = best; moved++; }
    }
    return moved;
}

/* Move each centroid to the mean of its points; a cluster left empty keeps its centroid. */
static void update(KMeans *km)
{
    int dim = km->dim;
    double *sum = xcalloc((size_t)km->k * (size_t)dim, sizeof *sum);
    size_t *cnt = xcalloc((size_t)km->k, sizeof *cnt);
    for (size_t i = 0; i < km->n; i++) {
        double *s = sum + (size_t)km->label[i] * (size_t)dim;
        for (int d = 0; d < dim; d++) s[d] += km->x[i * (size_t)dim + (size_t)d];
        cnt[km->label[i]]++;
    }
    for (int j = 0; j < km->k; j++)
        if (cnt[j])
            for (int d = 0; d < dim; d++) km->c[(size_t)j * (size_t)dim + (size_t)d] = sum[(size_t)j * (size_t)dim + (size_t)d] / (double)cnt[j];
    free(sum);
    free(cnt);
}

/* Run k-means over the points; km->label gets each point's cluster. -1 if interrupted. */
static int kmeans(KMeans *km, int want, uint64_t seed, int64_t max_iter, Runtime *rt)
{
    km->c = xmalloc((size_t)want * (size_t)km->dim * sizeof *km->c);
    km->label = xmalloc((km->n ? km->n : 1) * sizeof *km->label);
    for (size_t i = 0; i < km->n; i++) km->label[i] = -1;
    seed_centroids(km, want, seed);
    for (int64_t it = 0; it < max_iter; it++) {
        if (rt && rt_interrupted(rt)) return -1;
        if (assign(km) == 0) break;
        update(km);
    }
    return 0;
}

/* ---- the operator ---- */

/* Append the label (and centroid) columns to the rows of b, given each point's cluster. */
static void add_columns(Batch *b, const VecSet *vs, const KMeans *km, int with_centroid)
{
    int base = b->ncols, ncols = base + 1 + with_centroid;
    b->cols = xrealloc(b->cols, (size_t)ncols * sizeof *b->cols);
    for (int c = base; c < ncols; c++) {
        b->cols[c] = xmalloc((b->cap ? b->cap : 1) * sizeof **b->cols);
        for (size_t r = 0; r < b->cap; r++) b->cols[c][r] = v_null();
    }
    b->ncols = ncols;
    /* relabel by first appearance */
    int *order = xmalloc((size_t)(km->k ? km->k : 1) * sizeof *order);
    for (int j = 0; j < km->k; j++) order[j] = -1;
    int next = 0;
    size_t pt = 0;
    for (size_t r = 0; r < b->n; r++) {
        if (!vs->ok[r]) continue;
        int j = km->label[pt++];
        if (order[j] < 0) order[j] = next++;
        b->cols[base][r] = v_int(order[j]);
        if (with_centroid) {
            Value c = v_list_new((uint32_t)km->dim);
            for (int d = 0; d < km->dim; d++) c.u.l->items[d] = v_float(km->c[(size_t)j * (size_t)km->dim + (size_t)d]);
            b->cols[base + 1][r] = c;
        }
    }
    free(order);
}

int cluster_next(Op *op, Batch **out)
{
    if (op->mat) return core_next_mat(op, out);
    const Plan *p = op->p;
    Exec *ex = op->ex;
    Table *t = core_drain(op->child);
    if (!t) return -1;
    table_flatten(t);
    if (!t->nbatches) { table_free(t); return 0; }
    Batch *b = t->batches[0];
    VecSet vs;
    int dim = 0;
    int rc = vecset_eval(&vs, op, p->exprs[0], b, &dim, "cluster: row", 0);
    if (rc) { table_free(t); return -1; }
    /* the points: the rows that have a vector, packed */
    KMeans km;
    memset(&km, 0, sizeof km);
    km.dim = dim;
    double *x = xmalloc((b->n ? b->n : 1) * (size_t)(dim ? dim : 1) * sizeof *x);
    for (size_t r = 0; r < b->n; r++)
        if (vs.ok[r]) memcpy(x + km.n++ * (size_t)dim, vs.x + r * (size_t)dim, (size_t)dim * sizeof *x);
    km.x = x;
    if (km.n && kmeans(&km, (int)(p->k < (int64_t)km.n ? p->k : (int64_t)km.n), (uint64_t)p->seed, p->max_iter, ex->rt)) {
        err_set(ex->err, FQL_ERR_RUNTIME, "interrupted");
        rc = -1;
    }
    if (rc == 0) add_columns(b, &vs, &km, p->schema->n > p->child->schema->n + 1);
    free(x);
    free(km.c);
    free(km.label);
    vecset_free(&vs);
    if (rc) { table_free(t); return -1; }
    /* the table now holds the output rows */
    schema_free(t->schema);
    t->schema = schema_copy(p->schema);
    op->mat = t;
    return core_next_mat(op, out);
}
