/* exec_simjoin.c: sim join and semantic join.
 *
 * sim join: an exact search for the K right rows nearest to each left row. The left side is held
 * (rows and vectors); the right side streams a batch at a time through one bounded heap of K
 * matches per left row, so memory is the left side plus K right rows per left row, whatever the
 * size of the right side. Text is embedded by the binder's embed() expressions (semantic.c: once
 * per distinct text, through the response cache).
 *
 * semantic join: a predicate() call per candidate pair (left row, right row), evaluated a batch of
 * pairs at a time by semantic.c like any predicate: identical requests sent once, the cache, the
 * scheduler's pacing, repairs and recorded failures. Candidates are every pair, or, with the
 * prefilter, each left row's K nearest right rows by the embeddings of the text the template
 * inserts from each side (the sim join search, with cosine).
 *
 * Both hold matches in the same order: left rows in input order, then (sim join) the best match
 * first, or (semantic join) right rows in input order. Equal scores go to the earlier right row.
 */
#include <stdlib.h>
#include <string.h>
#include <math.h>
#include "exec.h"

/* ---- top K per left row ---- */

typedef struct Match {
    double good;             /* higher is better: the score, or minus the l2 distance */
    double score;
    int64_t rrow;            /* right row number */
    Value *row;              /* the right row's values (sim join), or NULL */
} Match;

typedef struct TopK {
    int64_t k;
    int ncols;               /* right columns kept per match; 0 keeps the row number only */
    size_t nleft;
    Match **heap;            /* per left row: a heap with its worst match on top */
    int64_t *n, *cap;
} TopK;

static int worse(const Match *a, const Match *b)
{
    return a->good < b->good || (a->good == b->good && a->rrow > b->rrow);
}

static void swap_match(Match *a, Match *b) { Match t = *a; *a = *b; *b = t; }

/* Restore the heap from slot i towards the root / the leaves; returns where the entry landed. */
static int64_t sift_up(Match *h, int64_t i)
{
    while (i > 0 && worse(&h[i], &h[(i - 1) / 2])) { swap_match(&h[i], &h[(i - 1) / 2]); i = (i - 1) / 2; }
    return i;
}

static int64_t sift_down(Match *h, int64_t n, int64_t i)
{
    for (;;) {
        int64_t w = i, l = 2 * i + 1, r = l + 1;
        if (l < n && worse(&h[l], &h[w])) w = l;
        if (r < n && worse(&h[r], &h[w])) w = r;
        if (w == i) return i;
        swap_match(&h[i], &h[w]);
        i = w;
    }
}

static void free_row(Value *row, int ncols)
{
    if (!row) return;
    for (int c = 0; c < ncols; c++) value_free(row[c]);
    free(row);
}

static void topk_init(TopK *t, size_t nleft, int64_t k, int ncols)
{
    t->k = k;
    t->ncols = ncols;
    t->nleft = nleft;
    t->heap = xcalloc(nleft ? nleft : 1, sizeof *t->heap);
    t->n = xcalloc(nleft ? nleft : 1, sizeof *t->n);
    t->cap = xcalloc(nleft ? nleft : 1, sizeof *t->cap);
}

static void topk_free(TopK *t)
{
    for (size_t l = 0; t->heap && l < t->nleft; l++) {
        for (int64_t i = 0; i < t->n[l]; i++) free_row(t->heap[l][i].row, t->ncols);
        free(t->heap[l]);
    }
    free(t->heap);
    free(t->n);
    free(t->cap);
    memset(t, 0, sizeof *t);
}

/* Offer m to left row l. Returns the slot it took, or NULL when the row's K matches are all
 * better; an evicted match's row is freed. */
static Match *topk_offer(TopK *t, size_t l, Match m)
{
    Match *h = t->heap[l];
    int64_t n = t->n[l];
    if (n < t->k) {
        if (n == t->cap[l]) {
            t->cap[l] = t->cap[l] ? (t->cap[l] * 2 < t->k ? t->cap[l] * 2 : t->k) : (t->k < 4 ? t->k : 4);
            h = t->heap[l] = xrealloc(h, (size_t)t->cap[l] * sizeof *h);
        }
        h[n] = m;
        t->n[l]++;
        return &h[sift_up(h, n)];
    }
    if (!worse(&h[0], &m)) return NULL;
    free_row(h[0].row, t->ncols);
    h[0] = m;
    return &h[sift_down(h, n, 0)];
}

/* The score of a against b, and whether there is one (a zero vector has no cosine). */
static int score_of(int metric, const VecSet *a, size_t i, const VecSet *b, size_t j, double *score, double *good)
{
    const double *x = a->x + i * (size_t)a->dim, *y = b->x + j * (size_t)b->dim;
    double s = 0;
    if (metric == METRIC_L2) {
        for (int d = 0; d < a->dim; d++) s += (x[d] - y[d]) * (x[d] - y[d]);
        *score = sqrt(s);
        *good = -*score;
        return 1;
    }
    for (int d = 0; d < a->dim; d++) s += x[d] * y[d];
    if (metric == METRIC_COSINE) {
        if (a->norm[i] == 0 || b->norm[j] == 0) return 0;
        s /= a->norm[i] * b->norm[j];
    }
    *score = *good = s;
    return isfinite(s);
}

/* Offer every (left, right) pair of a block of right rows; rb (when the matches keep rows) holds
 * the block's rows, numbered from rbase. */
static void topk_block(TopK *t, const VecSet *lv, const VecSet *rv, const Batch *rb, int64_t rbase, int metric)
{
    for (size_t j = 0; j < rv->n; j++) {
        if (!rv->ok[j]) continue;
        for (size_t l = 0; l < lv->n; l++) {
            Match m = { 0, 0, rbase + (int64_t)j, NULL };
            if (!lv->ok[l] || !score_of(metric, lv, l, rv, j, &m.score, &m.good)) continue;
            Match *slot = topk_offer(t, l, m);
            if (slot && t->ncols) {
                slot->row = xmalloc((size_t)t->ncols * sizeof *slot->row);
                for (int c = 0; c < t->ncols; c++) slot->row[c] = value_copy(rb->cols[c][j]);
            }
        }
    }
}

static int best_first(const void *a, const void *b) { return worse(a, b) ? 1 : worse(b, a) ? -1 : 0; }

static int by_right_row(const void *a, const void *b)
{
    int64_t x = ((const Match *)a)->rrow, y = ((const Match *)b)->rrow;
    return x < y ? -1 : x > y;
}

/* The child's rows in one batch (NULL when there are none: *failed tells an error apart). */
static Batch *drain_flat(Op *child, Table **keep, int *failed)
{
    *keep = core_drain(child);
    *failed = !*keep;
    if (!*keep) return NULL;
    table_flatten(*keep);
    return (*keep)->nbatches ? (*keep)->batches[0] : NULL;
}

static int interrupted(Op *op)
{
    if (!op->ex->rt || !rt_interrupted(op->ex->rt)) return 0;
    err_set(op->ex->err, FQL_ERR_RUNTIME, "interrupted (answers received so far are kept in the cache)");
    return 1;
}

/* ---- sim join ---- */

typedef struct SimJoin {
    Table *left;
    Batch *lb;               /* the left rows (NULL: none) */
    TopK top;
    size_t emit;             /* the next left row to output */
} SimJoin;

static void simjoin_close(Op *op)
{
    SimJoin *sj = op->priv;
    if (!sj) return;
    table_free(sj->left);
    topk_free(&sj->top);
    free(sj);
    op->priv = NULL;
}

/* Hold the left side, then stream the right side through the heaps. */
static int simjoin_prepare(Op *op, SimJoin *sj)
{
    const Plan *p = op->p;
    int failed;
    sj->lb = drain_flat(op->child, &sj->left, &failed);
    if (!sj->lb) return failed ? -1 : 0;   /* no left rows: the right side is never read */
    VecSet lv;
    int dim = 0;
    if (vecset_eval(&lv, op, p->exprs[0], sj->lb, &dim, "sim join: left row", 0)) return -1;
    topk_init(&sj->top, sj->lb->n, p->k, p->right->schema->n);
    int64_t rbase = 0;
    Batch *rb;
    int rc;
    while ((rc = op->right->next(op->right, &rb)) == 1) {
        VecSet rv;
        rc = vecset_eval(&rv, op, p->exprs[1], rb, &dim, "sim join: right row", rbase);
        if (rc == 0) {
            topk_block(&sj->top, &lv, &rv, rb, rbase, p->metric);
            vecset_free(&rv);
        }
        rbase += (int64_t)rb->n;
        batch_free(rb);
        if (rc || interrupted(op)) { rc = -1; break; }
    }
    vecset_free(&lv);
    return rc;
}

int simjoin_next(Op *op, Batch **out)
{
    const Plan *p = op->p;
    SimJoin *sj = op->priv;
    if (!sj) {
        sj = op->priv = xcalloc(1, sizeof *sj);
        op->close = simjoin_close;
        if (simjoin_prepare(op, sj)) return -1;
    }
    if (!sj->lb) return 0;
    int nl = sj->lb->ncols, nr = sj->top.ncols;
    Batch *o = batch_new(p->schema->n, BATCH_ROWS);
    Value *row = xmalloc((size_t)p->schema->n * sizeof *row);
    while (sj->emit < sj->lb->n && o->n < BATCH_ROWS) {
        size_t l = sj->emit++;
        Match *h = sj->top.heap[l];
        int64_t n = sj->top.n[l];
        if (n > 1) qsort(h, (size_t)n, sizeof *h, best_first);
        for (int64_t i = 0; i < n; i++) {
            for (int c = 0; c < nl; c++) row[c] = value_copy(sj->lb->cols[c][l]);
            for (int c = 0; c < nr; c++) row[nl + c] = h[i].row[c];   /* moved */
            row[nl + nr] = v_float(h[i].score);
            free(h[i].row);
            h[i].row = NULL;
            batch_push_row(o, row);
        }
        sj->top.n[l] = 0;
    }
    free(row);
    if (!o->n) { batch_free(o); return 0; }
    *out = o;
    return 1;
}

/* ---- semantic join ---- */

typedef struct SemJoin {
    Table *left, *right;
    Batch *lb, *rb;          /* both sides' rows (NULL: none) */
    int64_t *cl, *cr;        /* the candidate pairs, when narrowed (else every pair, left-major) */
    size_t ncand, next;
} SemJoin;

static void semjoin_close(Op *op)
{
    SemJoin *sj = op->priv;
    if (!sj) return;
    table_free(sj->left);
    table_free(sj->right);
    free(sj->cl);
    free(sj->cr);
    free(sj);
    op->priv = NULL;
}

/* The prefilter: each left row's K nearest right rows by the embeddings of their texts, in right
 * row order. */
static int semjoin_narrow(Op *op, SemJoin *sj)
{
    const Plan *p = op->p;
    VecSet lv, rv;
    int dim = 0;
    if (vecset_eval(&lv, op, p->exprs[1], sj->lb, &dim, "semantic join prefilter: left row", 0)) return -1;
    if (vecset_eval(&rv, op, p->exprs[2], sj->rb, &dim, "semantic join prefilter: right row", 0)) { vecset_free(&lv); return -1; }
    TopK t;
    topk_init(&t, sj->lb->n, p->k, 0);
    topk_block(&t, &lv, &rv, NULL, 0, METRIC_COSINE);
    vecset_free(&lv);
    vecset_free(&rv);
    size_t total = 0;
    for (size_t l = 0; l < t.nleft; l++) total += (size_t)t.n[l];
    sj->cl = xmalloc((total ? total : 1) * sizeof *sj->cl);
    sj->cr = xmalloc((total ? total : 1) * sizeof *sj->cr);
    for (size_t l = 0; l < t.nleft; l++) {
        if (t.n[l] > 1) qsort(t.heap[l], (size_t)t.n[l], sizeof *t.heap[l], by_right_row);
        for (int64_t i = 0; i < t.n[l]; i++) {
            sj->cl[sj->ncand] = (int64_t)l;
            sj->cr[sj->ncand++] = t.heap[l][i].rrow;
        }
    }
    topk_free(&t);
    return 0;
}

static int semjoin_prepare(Op *op, SemJoin *sj)
{
    const Plan *p = op->p;
    int failed;
    sj->lb = drain_flat(op->child, &sj->left, &failed);
    if (!sj->lb) return failed ? -1 : 0;
    sj->rb = drain_flat(op->right, &sj->right, &failed);
    if (!sj->rb) return failed ? -1 : 0;
    size_t nl = sj->lb->n, nr = sj->rb->n;
    double pairs = (double)nl * (double)nr;
    int narrow = p->prefilter == PREFILTER_EMBED || (p->prefilter == PREFILTER_AUTO && pairs > SEMJOIN_AUTO_PAIRS);
    if (!narrow) { sj->ncand = nl * nr; return 0; }
    if (p->nexprs < 3)
        return err_at(op->ex->err, FQL_ERR_RUNTIME, p->src, p->pos,
                      "semantic join: %zu x %zu rows make %.0f candidate pairs, more than the %d sent without a prefilter, and "
                      "the prefilter cannot run (it needs a default embedding model and a template that names columns of "
                      "both sides): declare an embedding model, or write `prefilter: off` to send every pair",
                      nl, nr, pairs, SEMJOIN_AUTO_PAIRS);
    return semjoin_narrow(op, sj);
}

int semjoin_next(Op *op, Batch **out)
{
    const Plan *p = op->p;
    SemJoin *sj = op->priv;
    if (!sj) {
        sj = op->priv = xcalloc(1, sizeof *sj);
        op->close = semjoin_close;
        if (semjoin_prepare(op, sj)) return -1;
    }
    if (!sj->lb || !sj->rb) return 0;
    int nl = sj->lb->ncols, nr = sj->rb->ncols;
    size_t nright = sj->rb->n;
    Value *row = xmalloc((size_t)(nl + nr) * sizeof *row);
    /* a batch of pairs at a time: their requests go to the scheduler together; under a limit,
     * waves sized from the pass rate measured (core_wave) */
    while (sj->next < sj->ncand) {
        size_t wave = core_wave(op, 8, BATCH_ROWS, 0);
        Batch *pairs = batch_new(nl + nr, wave);
        for (; sj->next < sj->ncand && pairs->n < wave; sj->next++) {
            size_t l = sj->cl ? (size_t)sj->cl[sj->next] : sj->next / nright;
            size_t r = sj->cr ? (size_t)sj->cr[sj->next] : sj->next % nright;
            for (int c = 0; c < nl; c++) row[c] = value_copy(sj->lb->cols[c][l]);
            for (int c = 0; c < nr; c++) row[nl + c] = value_copy(sj->rb->cols[c][r]);
            batch_push_row(pairs, row);
        }
        Value *keep = core_eval_op(op, p->exprs[0], pairs);
        if (!keep) { batch_free(pairs); free(row); return -1; }
        Batch *o = batch_new(nl + nr, pairs->n);
        for (size_t i = 0; i < pairs->n; i++) {
            if (value_true(keep[i])) batch_copy_row(o, pairs, i);
            value_free(keep[i]);
        }
        free(keep);
        op->done_in += (int64_t)pairs->n;
        op->out_own += (int64_t)o->n;
        batch_free(pairs);
        if (o->n) { free(row); *out = o; return 1; }
        batch_free(o);
        if (interrupted(op)) { free(row); return -1; }
    }
    free(row);
    return 0;
}
