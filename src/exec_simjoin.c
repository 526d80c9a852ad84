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
 * scheduler's pacing, repairs and recorded failures. Candidates are every pair up to max_pairs;
 * above it (prefilter auto) the pairs whose embeddings' cosine is over a threshold learned from a
 * judged sample for a recall target, or a stop that says what to write; with prefilter: embed top
 * K, each left row's K nearest right rows by the embeddings of the text the template inserts from
 * each side (the sim join search, with cosine), reported as possibly dropping pairs.
 *
 * Both hold matches in the same order: left rows in input order, then (sim join) the best match
 * first, or (semantic join) right rows in input order. Equal scores go to the earlier right row.
 */
#include <stdlib.h>
#include <string.h>
#include <ctype.h>
#include <math.h>
#include "cascade.h"
#include "exec.h"
#include "models.h"
#include "semop.h"

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
    err_set(op->ex->err, FQL_ERR_RUNTIME, "%s", EXEC_INTERRUPTED);
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
    int decided;             /* the candidates are the matches already (the decomposition ran) */
    char *dec_note;          /* what the decomposition did, when it was tried */
    size_t cap;              /* under a limit above max_pairs: pairs judged at most (0: none) */
} SemJoin;

static void semjoin_close(Op *op)
{
    SemJoin *sj = op->priv;
    if (!sj) return;
    table_free(sj->left);
    table_free(sj->right);
    free(sj->cl);
    free(sj->cr);
    free(sj->dec_note);
    free(sj);
    op->priv = NULL;
}

/* The model alias that judges the pairs (the binder writes it into the predicate), or "". */
static const char *pair_model(const Plan *p)
{
    const Expr *m = expr_arg(p->exprs[0], "model");
    return m && m->kind == E_LIT && m->lit.kind == V_STRING ? v_str(m->lit) : "";
}

/* Record what chose the candidates: for explain analyze (op->detail), the summary line and
 * query_metrics.est_recall (< 0: not estimated). */
static void pairs_report(Op *op, double est_recall, char *note)
{
    const SemJoin *sj = op->priv;
    if (sj && sj->dec_note) {   /* a decomposition that was tried says so first */
        char *both = xasprintf("%s; %s", sj->dec_note, note);
        free(note);
        note = both;
    }
    free(op->detail);
    op->detail = note;
    if (op->ex->rt) semantic_pairs(op->ex->rt, pair_model(op->p), est_recall, note);
}

/* prefilter: embed top K: each left row's K nearest right rows by the embeddings of their texts,
 * in right row order. The user's choice: it may drop matching pairs, which the report says. */
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
            if (p->triangle && t.heap[l][i].rrow <= (int64_t)l) continue;   /* each unordered pair once */
            sj->cl[sj->ncand] = (int64_t)l;
            sj->cr[sj->ncand++] = t.heap[l][i].rrow;
        }
    }
    topk_free(&t);
    pairs_report(op, -1, xasprintf("prefilter: embed top %lld kept %zu of %.0f pairs and may have dropped matching pairs (recall not estimated)",
                                   (long long)p->k, sj->ncand, (double)sj->lb->n * (double)sj->rb->n));
    return 0;
}

/* ---- prefilter auto above the exact-pair budget: a similarity threshold learned from a sample ---- */

#define SIM_BINS 2048
/* strata of the sample, by quantile of similarity: finer towards the most similar pairs, where
 * matches usually are, while every part of the range is judged */
static const double strata_q[] = { 0, .1, .2, .3, .4, .5, .6, .7, .8, .9, .95, .99, .999 };
#define NSTRATA ((int)(sizeof strata_q / sizeof strata_q[0]))

typedef struct Sampled { int64_t l, r; double sim, w; int stratum, match; } Sampled;

/* The cosine of left row l and right row r; -2 (below every cosine) when either has no vector. */
static double pair_sim(const VecSet *lv, size_t l, const VecSet *rv, size_t r)
{
    double s, g;
    if (!lv->ok[l] || !rv->ok[r] || !score_of(METRIC_COSINE, lv, l, rv, r, &s, &g)) return -2;
    return s;
}

static int sim_bin(double s)
{
    int b = s < -1 ? 0 : (int)((s + 1) / 2 * SIM_BINS);
    return b < 0 ? 0 : b >= SIM_BINS ? SIM_BINS - 1 : b;
}

static uint64_t splitmix(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static int by_sim_desc(const void *a, const void *b)
{
    double x = ((const Sampled *)a)->sim, y = ((const Sampled *)b)->sim;
    return x > y ? -1 : x < y;
}

static int by_pair(const void *a, const void *b)
{
    const Sampled *x = a, *y = b;
    return x->l != y->l ? (x->l < y->l ? -1 : 1) : (x->r > y->r) - (x->r < y->r);
}

/* The Wilson lower bound (one-sided 95%) of a proportion p seen in n trials. */
static double wilson_low(double p, double n)
{
    if (n <= 0) return 0;
    const double z = 1.645;
    double d = 1 + z * z / n, c = p + z * z / (2 * n), r = z * sqrt(p * (1 - p) / n + z * z / (4 * n * n));
    double lo = (c - r) / d;
    return lo < 0 ? 0 : lo;
}

/* Judge the sampled pairs with the join's predicate (answers go through the cache, so the bulk
 * does not pay for them again). */
static int judge_sample(Op *op, SemJoin *sj, Sampled *sa, int n)
{
    int nl = sj->lb->ncols, nr = sj->rb->ncols;
    Batch *pairs = batch_new(nl + nr, (size_t)n);
    Value *row = xmalloc((size_t)(nl + nr) * sizeof *row);
    for (int i = 0; i < n; i++) {
        for (int c = 0; c < nl; c++) row[c] = value_copy(sj->lb->cols[c][sa[i].l]);
        for (int c = 0; c < nr; c++) row[nl + c] = value_copy(sj->rb->cols[c][sa[i].r]);
        batch_push_row(pairs, row);
    }
    free(row);
    Value *keep = core_eval_op(op, op->p->exprs[0], pairs);
    batch_free(pairs);
    if (!keep) return -1;
    for (int i = 0; i < n; i++) {
        sa[i].match = value_true(keep[i]);
        value_free(keep[i]);
    }
    free(keep);
    return 0;
}

/* The candidates of prefilter auto above max_pairs: every pair whose cosine is at or above a
 * threshold, plus the sampled pairs judged a match below it. A stratified random sample of pairs
 * (by similarity quantile) is judged; each sampled match stands for N_h / n_h pairs of its stratum,
 * so the recall of a threshold is the weighted share of sampled matches at or above it. The
 * threshold is the highest whose estimate reaches p->recall; the bound is Wilson's over the
 * sample's effective size. Stops with an error saying what to write when there is no match in the
 * sample or the pairs kept (with the sample) would exceed max_pairs. */
static int semjoin_threshold(Op *op, SemJoin *sj)
{
    const Plan *p = op->p;
    size_t nl = sj->lb->n, nr = sj->rb->n;
    int tri = p->triangle;   /* resolve: the pairs l < r of one list */
    double npairs = tri ? (double)nl * ((double)nl - 1) / 2 : (double)nl * (double)nr;
    VecSet lv, rv;
    int dim = 0, rc = -1;
    if (vecset_eval(&lv, op, p->exprs[1], sj->lb, &dim, "semantic join prefilter: left row", 0)) return -1;
    if (vecset_eval(&rv, op, p->exprs[2], sj->rb, &dim, "semantic join prefilter: right row", 0)) { vecset_free(&lv); return -1; }
    /* pass 1: how similarities spread, and the strata's bins */
    int64_t *hist = xcalloc(SIM_BINS, sizeof *hist);
    for (size_t l = 0; l < nl; l++)
        for (size_t r = tri ? l + 1 : 0; r < nr; r++) hist[sim_bin(pair_sim(&lv, l, &rv, r))]++;
    int stratum_of[SIM_BINS];
    double pop[NSTRATA] = { 0 };
    int64_t below = 0;
    for (int b = 0, h = 0; b < SIM_BINS; b++) {
        while (h + 1 < NSTRATA && (double)(below + hist[b]) > strata_q[h + 1] * npairs) h++;
        stratum_of[b] = h;
        pop[h] += (double)hist[b];
        below += hist[b];
    }
    /* pass 2: a reservoir per stratum (a fixed seed: the same pairs every run, so reruns hit the cache) */
    /* the sample spread evenly over the strata that have pairs (many equal similarities leave some
     * empty), and at most half the budget */
    int full = 0;
    for (int h = 0; h < NSTRATA; h++) full += pop[h] > 0;
    int64_t want = SEMJOIN_SAMPLE < p->max_pairs / 2 ? SEMJOIN_SAMPLE : p->max_pairs / 2;
    int per = (int)(want / (full ? full : 1));
    if (per < 1) per = 1;
    Sampled *sa = xcalloc((size_t)per * NSTRATA, sizeof *sa);
    int64_t seen[NSTRATA] = { 0 };
    uint64_t seed = 0x5eed5eedULL;
    for (size_t l = 0; l < nl; l++)
        for (size_t r = tri ? l + 1 : 0; r < nr; r++) {
            double s = pair_sim(&lv, l, &rv, r);
            int h = stratum_of[sim_bin(s)];
            int64_t k = seen[h]++;
            if (k >= per) k = (int64_t)(splitmix(&seed) % (uint64_t)(k + 1));
            if (k < per) sa[h * per + k] = (Sampled){ (int64_t)l, (int64_t)r, s, 0, h, 0 };
        }
    int ns = 0;
    for (int h = 0; h < NSTRATA; h++) {
        int took = seen[h] < per ? (int)seen[h] : per;
        for (int i = 0; i < took; i++) {
            sa[ns] = sa[h * per + i];
            sa[ns++].w = pop[h] / took;
        }
    }
    if (judge_sample(op, sj, sa, ns)) goto out;
    /* the threshold: walk the sampled matches from the most similar down until the estimate reaches the target */
    qsort(sa, (size_t)ns, sizeof *sa, by_sim_desc);
    double W = 0, W2 = 0, cum = 0, t = -3, est = 0;
    int nmatch = 0;
    /* estimating (explain cost, set budget): answers and vectors are placeholders, so count the
     * worst case, the budget: as many pairs as fit in it beside the sample */
    int dry = op->ex->rt && op->ex->rt->dry;
    for (int i = 0; i < ns; i++) {
        if (dry) sa[i].match = 0;
        if (sa[i].match) { W += sa[i].w; W2 += sa[i].w * sa[i].w; nmatch++; }
    }
    char *where = xasprintf("semantic join: %zu x %zu rows make %.0f pairs, more than max_pairs %lld", nl, nr, npairs, (long long)p->max_pairs);
    if (!nmatch && !dry) {
        err_at(op->ex->err, FQL_ERR_RUNTIME, p->src, p->pos,
               "%s, and none of the %d sampled pairs the model judged matched, so the prefilter cannot learn a similarity "
               "threshold that keeps the matches: write `prefilter: off` (or `max_pairs: %.0f`) to send every pair, or "
               "`prefilter: embed top K` to keep each left row's K nearest right rows (which may drop matching pairs)",
               where, ns, npairs);
        free(where);
        goto out;
    }
    for (int i = 0; i < ns && !dry; i++) {
        if (sa[i].match) cum += sa[i].w;
        if (i + 1 < ns && sa[i + 1].sim == sa[i].sim) continue;   /* ties go together */
        if (cum > 0 && cum >= p->recall * W * (1 - 1e-12)) { t = sa[i].sim; est = cum / W; break; }
    }
    double low = nmatch ? wilson_low(est, W * W / W2) : 0;
    /* pass 3: the candidates, left-major in right row order; the sampled matches below t join them */
    Sampled *extra = xmalloc((size_t)(ns ? ns : 1) * sizeof *extra);
    int nextra = 0, insample = 0;
    for (int i = 0; i < ns; i++) {
        if (sa[i].match && sa[i].sim < t) extra[nextra++] = sa[i];
        if (sa[i].sim >= t) insample++;
    }
    qsort(extra, (size_t)nextra, sizeof *extra, by_pair);
    /* requests: the sample, plus the candidates not in it (with the cache; without it the sampled
     * candidates are sent again) */
    int64_t again = op->ex->rt && op->ex->rt->cache ? insample + nextra : 0;
    int64_t cap = dry ? p->max_pairs - ns : p->max_pairs - ns + again, kept = 0;
    sj->cl = xmalloc((size_t)(cap > 0 ? cap : 1) * sizeof *sj->cl);
    sj->cr = xmalloc((size_t)(cap > 0 ? cap : 1) * sizeof *sj->cr);
    for (size_t l = 0, e = 0; l < nl; l++)
        for (size_t r = tri ? l + 1 : 0; r < nr; r++) {
            int ex = e < (size_t)nextra && extra[e].l == (int64_t)l && extra[e].r == (int64_t)r;
            if (ex) e++;
            if (!ex && pair_sim(&lv, l, &rv, r) < t) continue;
            if (kept < cap) { sj->cl[kept] = (int64_t)l; sj->cr[kept] = (int64_t)r; }
            kept++;
        }
    free(extra);
    int64_t sends = kept - again + ns;
    if (dry && kept > cap) kept = cap;
    if (kept > cap) {
        /* the highest recall the budget reaches, from the histogram (a little pessimistic: whole bins) */
        double fits = 0, c2 = 0;
        for (int i = 0; i < ns; i++) {
            if (sa[i].match) c2 += sa[i].w;
            int64_t ge = 0;
            for (int b = sim_bin(sa[i].sim); b < SIM_BINS; b++) ge += hist[b];
            if (ge + ns <= p->max_pairs && sa[i].match) fits = c2 / W;
        }
        char lower[96] = "";
        if (fits >= 0.01) snprintf(lower, sizeof lower, " (about %.2f fits in max_pairs %lld)", floor(fits * 100) / 100, (long long)p->max_pairs);
        err_at(op->ex->err, FQL_ERR_RUNTIME, p->src, p->pos,
               "%s; to reach recall %g (estimated %.3f, lower bound %.3f, from %d sampled pairs the model judged) the "
               "embedding prefilter keeps %lld pairs, %lld requests: write `max_pairs: %lld` to send them, `prefilter: off` "
               "to send all %.0f pairs, or a lower `recall:`%s. The sampled answers are cached",
               where, p->recall, est, low, ns, (long long)kept, (long long)sends, (long long)sends, npairs, lower);
        free(where);
        goto out;
    }
    free(where);
    sj->ncand = (size_t)kept;
    if (!dry) pairs_report(op, est, xasprintf("prefilter: %lld of %.0f pairs at similarity %.3f or above (and the sampled matches); "
                                    "est. recall %.3f (lower bound %.3f, target %g, %d sampled pairs judged, %d matched)",
                                    (long long)kept, npairs, t, est, low, p->recall, ns, nmatch));
    rc = 0;
out:
    free(sa);
    free(hist);
    vecset_free(&lv);
    vecset_free(&rv);
    return rc;
}

/* ---- join decomposition: classify (or measure) each side's texts, compare the values ---- */

/* Each row's value as a number to compare, NAN when it has none (a failed row): a label's index
 * among cls's labels (TY_ENUM), or the one numeric field of an extraction (TY_STRUCT). */
static double *side_keys(const Expr *cls, const Value *v, size_t n)
{
    double *k = xmalloc((n ? n : 1) * sizeof *k);
    for (size_t i = 0; i < n; i++) {
        k[i] = NAN;
        if (cls->type->kind == TY_ENUM) {
            if (v[i].kind != V_STRING) continue;
            for (int j = 0; j < cls->type->nlabels; j++)
                if (!strcmp(v_str(v[i]), cls->type->labels[j])) { k[i] = j; break; }
        } else if (v[i].kind == V_STRUCT && v[i].u.st->n > 0) {
            Value f = v[i].u.st->fields[0];
            if (f.kind == V_INT) k[i] = (double)f.u.i;
            else if (f.kind == V_FLOAT) k[i] = f.u.f;
        }
    }
    return k;
}

/* Whether values a and b stand in the relation (labels by their order). */
static int dec_holds(int rel, double a, double b)
{
    switch (rel) {
    case DEC_EQ: return a == b;
    case DEC_NE: return a != b;
    case DEC_LT: return a < b;
    default: return a > b;
    }
}

static int by_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* Up to want distinct pair numbers (l * nr + r) drawn at random with a fixed seed (reruns hit the
 * cache), in order; all of them when there are no more. Returns how many, in *out (caller frees). */
static size_t sample_pairs(int64_t npairs, int64_t want, int64_t **out)
{
    size_t n = (size_t)(want < npairs ? want : npairs);
    int64_t *x = xmalloc((n ? n : 1) * sizeof *x);
    if ((int64_t)n == npairs) {
        for (size_t i = 0; i < n; i++) x[i] = (int64_t)i;
        *out = x;
        return n;
    }
    uint64_t seed = 0xdec0de5eedULL;
    size_t have = 0;
    while (have < n) {   /* draw, sort, drop repeats, draw again for the gaps */
        while (have < n) x[have++] = (int64_t)(splitmix(&seed) % (uint64_t)npairs);
        qsort(x, have, sizeof *x, by_i64);
        size_t u = 0;
        for (size_t i = 0; i < have; i++) if (!u || x[i] != x[u - 1]) x[u++] = x[i];
        have = u;
    }
    *out = x;
    return n;
}

/* A decomposition to try: the property, the relation and each side's call (owned). */
typedef struct Decomp {
    char *prop;
    int rel;
    Expr *side[2];
    int number;              /* the property is a quantity (an extraction), not labels */
} Decomp;

static void decomp_free(Decomp *d)
{
    free(d->prop);
    expr_free(d->side[0]);
    expr_free(d->side[1]);
}

/* The field of a struct value by name (borrowed), or a null value. */
static Value field_of(Value v, const char *name)
{
    if (v.kind != V_STRUCT) return v_null();
    int i = type_field_index(v.u.st->type, name);
    return i < 0 ? v_null() : v.u.st->fields[i];
}

/* A planned side call: a copy of the placeholder classify() with the answer's labels, or turned
 * into an extraction of {PROPERTY: number}. */
static Expr *planned_side(const Expr *ph, const Decomp *d, char **labels, int nlabels)
{
    Expr *e = expr_copy(ph);
    type_unref(e->type);
    if (!d->number) {
        char **ls = xcalloc((size_t)nlabels, sizeof *ls);
        for (int i = 0; i < nlabels; i++) ls[i] = xstrdup(labels[i]);
        e->type = type_enum_new(nlabels, ls);
        return e;
    }
    e->sem = SEM_EXTRACT;
    free(e->name);
    e->name = xstrdup("extract");
    Type *t = type_struct_new(1);
    Buf f;   /* the field: the property's name as an identifier */
    buf_init(&f);
    for (const char *q = d->prop; *q; q++) buf_putc(&f, isalnum((unsigned char)*q) ? *q : '_');
    t->fields[0].name = xstrdup(f.len ? f.data : "value");
    buf_free(&f);
    t->fields[0].type = type_float();
    t->fields[0].desc = xasprintf("the %s the text gives", d->prop);
    t->name = xstrdup("measure");
    e->type = t;
    return e;
}

/* The decomposition to try: the declared one, or the one the planning request answers (sent over
 * the left's first row; its answer cached like any other). Returns 0 with *d set, 1 when the
 * answer is no decomposition (sj->dec_note says why), -1 on an error. */
static int plan_decomposition(Op *op, SemJoin *sj, Decomp *d)
{
    const Plan *p = op->p;
    memset(d, 0, sizeof *d);
    if (!p->dec_plan) {
        d->prop = xstrdup(p->dec_prop);
        d->rel = p->dec_rel;
        d->side[0] = expr_copy(p->dec[0]);
        d->side[1] = expr_copy(p->dec[1]);
        return 0;
    }
    Batch *one = batch_new(sj->lb->ncols, 1);
    Value *row = xmalloc((size_t)(sj->lb->ncols ? sj->lb->ncols : 1) * sizeof *row);
    for (int c = 0; c < sj->lb->ncols; c++) row[c] = value_copy(sj->lb->cols[c][0]);
    batch_push_row(one, row);
    free(row);
    Value *ans = core_eval_op(op, p->dec_plan, one);
    batch_free(one);
    if (!ans) return -1;
    Value a = ans[0];
    free(ans);
    int dry = op->ex->rt && op->ex->rt->dry;
    if (a.kind != V_STRUCT && dry) {   /* estimating, not cached: count the decomposed plan */
        d->prop = xstrdup("(planned at run time)");
        d->side[0] = expr_copy(p->dec[0]);
        d->side[1] = expr_copy(p->dec[1]);
        return 0;
    }
    static const char *const rels[] = { "equal", "not equal", "less", "greater" };
    Value dec = field_of(a, "decomposable"), prop = field_of(a, "property"), kind = field_of(a, "kind"),
          labels = field_of(a, "labels"), rel = field_of(a, "relation");
    d->rel = -1;
    for (int i = 0; rel.kind == V_STRING && i < 4; i++) if (!strcmp(v_str(rel), rels[i])) d->rel = i;
    d->number = kind.kind == V_STRING && !strcmp(v_str(kind), "number");
    /* the labels: distinct, non-empty, at most 50 */
    char *ls[50];
    int nl = 0;
    for (uint32_t i = 0; !d->number && labels.kind == V_LIST && i < labels.u.l->n && nl < 50; i++) {
        Value l = labels.u.l->items[i];
        if (l.kind != V_STRING || !v_strlen(l)) continue;
        int seen = 0;
        for (int j = 0; j < nl; j++) if (!strcmp(ls[j], v_str(l))) seen = 1;
        if (!seen) ls[nl++] = (char *)v_str(l);
    }
    const char *why = NULL;
    if (a.kind != V_STRUCT) why = "the planning request got no answer";
    else if (dec.kind != V_BOOL || !dec.u.b) why = "the planning request answered that the condition does not compare one property of each side";
    else if (prop.kind != V_STRING || !v_strlen(prop)) why = "the planning request named no property";
    else if (d->rel < 0) why = "the planning request gave no relation";
    else if (!d->number && nl < 2) why = "the planning request gave fewer than two labels";
    if (why) {
        sj->dec_note = xasprintf("decomposition not used: %s, so the literal plan ran", why);
        value_free(a);
        memset(d, 0, sizeof *d);
        return 1;
    }
    d->prop = xstrdup(v_str(prop));
    for (int side = 0; side < 2; side++) d->side[side] = planned_side(p->dec[side], d, ls, nl);
    value_free(a);
    return 0;
}

/* How the decomposition is named in notes: "sentiment (not equal) planned [\"positive\", ...]". */
static char *decomp_name(const Plan *p, const Decomp *d)
{
    static const char *const rels[] = { "equal", "not equal", "less", "greater" };
    Buf b;
    buf_init(&b);
    buf_printf(&b, "%s (%s)", d->prop, rels[d->rel < 0 ? 0 : d->rel]);
    if (p->dec_plan && d->side[0]) {
        if (d->number) buf_puts(&b, " planned as a number");
        else {
            buf_puts(&b, " planned [");
            for (int i = 0; i < d->side[0]->type->nlabels; i++) {
                Value l = v_cstring(d->side[0]->type->labels[i]);
                if (i) buf_puts(&b, ", ");
                value_to_json(&b, l);
                value_free(l);
            }
            buf_putc(&b, ']');
        }
    }
    char *s = xstrdup(b.data ? b.data : "");
    buf_free(&b);
    return s;
}

/* The decomposition: when it costs fewer requests than the literal plan (every pair, or under a
 * limit about twice the rows wanted), plan it (declared, or one planning request), classify (or
 * measure) every row of both sides (identical texts are one request, cached), judge a random sample
 * of pairs literally and compare. When the sample agrees at p->dec_agree or more, the candidates
 * become the matches (pairs with an unvalued side judged literally) and sj->decided is set:
 * returns 0. Returns 1 when the literal plan must run (sj->dec_note says why), -1 on an error.
 * Estimating (explain cost, set budget) counts the decomposed plan. */
static int semjoin_decompose(Op *op, SemJoin *sj)
{
    const Plan *p = op->p;
    size_t nl = sj->lb->n, nr = sj->rb->n;
    int64_t npairs = (int64_t)nl * (int64_t)nr;
    int dry = op->ex->rt && op->ex->rt->dry, rc = -1;
    const char *what = p->dec_plan ? "decomposition" : NULL;
    char *name0 = p->dec_plan ? NULL : xasprintf("decomposition by %s (%s)", p->dec_prop,
                                                  (const char *const[]){ "equal", "not equal", "less", "greater" }[p->dec_rel]);
    int64_t cost = (int64_t)nl + (int64_t)nr + (npairs < p->dec_sample ? npairs : p->dec_sample) + (p->dec_plan ? 1 : 0);
    int64_t literal = npairs;
    if (p->want_rows >= 0 && 2 * p->want_rows < literal) literal = 2 * p->want_rows;   /* early stop: pass rate ~0.5 */
    if (cost >= literal) {   /* the literal plan sends no more: no gain to validate */
        if (literal < npairs)
            sj->dec_note = xasprintf("%s not tried: a limit wants %lld rows, about %lld pairs judged literally, fewer than its %lld requests",
                                     what ? what : name0, (long long)p->want_rows, (long long)literal, (long long)cost);
        else
            sj->dec_note = xasprintf("%s not tried: %lld pairs are no more requests than its %lld", what ? what : name0,
                                     (long long)npairs, (long long)cost);
        free(name0);
        return 1;
    }
    free(name0);
    Decomp d;
    int pr = plan_decomposition(op, sj, &d);
    if (pr) return pr;
    char *name = decomp_name(p, &d);
    Value *va = core_eval_op(op, d.side[0], sj->lb), *vb = NULL;
    double *la = NULL, *lr = NULL;
    int64_t *pick = NULL;
    Sampled *sa = NULL;
    if (!va) goto out;
    la = side_keys(d.side[0], va, nl);
    for (size_t i = 0; i < nl; i++) value_free(va[i]);
    free(va);
    if (!(vb = core_eval_op(op, d.side[1], sj->rb))) goto out;
    lr = side_keys(d.side[1], vb, nr);
    for (size_t i = 0; i < nr; i++) value_free(vb[i]);
    free(vb);
    /* validation: the sampled pairs judged as the literal plan would (the cache keeps the answers) */
    size_t ns = sample_pairs(npairs, p->dec_sample, &pick);
    sa = xcalloc(ns ? ns : 1, sizeof *sa);
    for (size_t i = 0; i < ns; i++) { sa[i].l = pick[i] / (int64_t)nr; sa[i].r = pick[i] % (int64_t)nr; }
    if (judge_sample(op, sj, sa, (int)ns)) goto out;
    size_t agree = 0;
    for (size_t i = 0; i < ns; i++) {
        double a = la[sa[i].l], b = lr[sa[i].r];
        if (!isnan(a) && !isnan(b) && dec_holds(d.rel, a, b) == !!sa[i].match) agree++;
    }
    double rate = ns ? (double)agree / (double)ns : 0;
    if (dry) rate = 1;
    if (rate < p->dec_agree) {
        sj->dec_note = xasprintf("decomposition by %s not used: it agreed with %zu of %zu sampled pairs judged literally "
                                 "(%.3f, below agreement %g), so the literal plan ran", name, agree, ns, rate, p->dec_agree);
        rc = 1;
        goto out;
    }
    /* the matches, left-major in right row order; a pair with an unvalued side is judged literally */
    size_t cap = 64, n = 0, nund = 0;
    sj->cl = xmalloc(cap * sizeof *sj->cl);
    sj->cr = xmalloc(cap * sizeof *sj->cr);
    char *und = xmalloc(cap);
    for (size_t l = 0; l < nl; l++)
        for (size_t r = 0; r < nr; r++) {
            double a = la[l], b = lr[r];
            int u = isnan(a) || isnan(b);
            if (!u && !dec_holds(d.rel, a, b)) continue;
            if (n == cap) {
                cap *= 2;
                sj->cl = xrealloc(sj->cl, cap * sizeof *sj->cl);
                sj->cr = xrealloc(sj->cr, cap * sizeof *sj->cr);
                und = xrealloc(und, cap);
            }
            sj->cl[n] = (int64_t)l;
            sj->cr[n] = (int64_t)r;
            und[n++] = (char)u;
            nund += (size_t)u;
        }
    if (nund) {
        Sampled *us = xcalloc(nund, sizeof *us);
        for (size_t i = 0, k = 0; i < n; i++) if (und[i]) { us[k].l = sj->cl[i]; us[k++].r = sj->cr[i]; }
        int jr = judge_sample(op, sj, us, (int)nund);
        size_t kept = 0;
        for (size_t i = 0, k = 0; jr == 0 && i < n; i++) {
            if (und[i] && !us[k++].match) continue;
            sj->cl[kept] = sj->cl[i];
            sj->cr[kept++] = sj->cr[i];
        }
        n = kept;
        free(us);
        if (jr) { free(und); goto out; }
    }
    free(und);
    sj->ncand = n;
    sj->decided = 1;
    op->done_in += npairs;
    sj->dec_note = xasprintf("decomposed by %s: %zu + %zu rows %s, %zu pairs matched; agreement %.3f on %zu sampled "
                             "pairs judged literally (target %g)%s", name, nl, nr, d.number ? "measured" : "classified", n, rate, ns,
                             p->dec_agree, nund ? "; pairs with an unvalued side judged literally" : "");
    pairs_report(op, -1, xasprintf("%zu of %lld pairs judged literally", ns + nund, (long long)npairs));
    rc = 0;
out:
    free(name);
    decomp_free(&d);
    free(la);
    free(lr);
    free(pick);
    free(sa);
    return rc;
}

/* The candidate pairs: every pair up to max_pairs (or with prefilter: off), else the prefilter's. */
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
    if (p->triangle) {   /* resolve: one list with itself, each unordered pair once */
        pairs = (double)nl * ((double)nl - 1) / 2;
        if (p->prefilter == PREFILTER_OFF || pairs <= (double)p->max_pairs) {
            size_t np = nl > 1 ? nl * (nl - 1) / 2 : 0;
            sj->cl = xmalloc((np ? np : 1) * sizeof *sj->cl);
            sj->cr = xmalloc((np ? np : 1) * sizeof *sj->cr);
            for (size_t l = 0; l < nl; l++)
                for (size_t r = l + 1; r < nr; r++) { sj->cl[sj->ncand] = (int64_t)l; sj->cr[sj->ncand++] = (int64_t)r; }
            pairs_report(op, 1, xasprintf("every pair a candidate (%.0f)", pairs));
            return 0;
        }
        if (p->prefilter == PREFILTER_EMBED) return semjoin_narrow(op, sj);
        if (p->nexprs < 3)
            return err_at(op->ex->err, FQL_ERR_RUNTIME, p->src, p->pos,
                          "resolve: %zu distinct values make %.0f candidate pairs, more than max_pairs %lld, and the prefilter "
                          "cannot run (it needs a default embedding model): declare one (`default embedding model NAME;`), or write "
                          "`max_pairs: %.0f` or `prefilter: off` to send every pair", nl, pairs, (long long)p->max_pairs, pairs);
        return semjoin_threshold(op, sj);
    }
    if (p->dec[0] && !p->rewrite_off && nl && nr) {
        int rc = semjoin_decompose(op, sj);
        if (rc <= 0) return rc;
    }
    if (p->prefilter == PREFILTER_EMBED) return semjoin_narrow(op, sj);
    if (p->prefilter == PREFILTER_OFF || pairs <= (double)p->max_pairs) {
        sj->ncand = nl * nr;
        pairs_report(op, 1, xasprintf("every pair a candidate (%.0f)", pairs));
        return 0;
    }
    if (p->want_rows >= 0 && p->prefilter == PREFILTER_AUTO) {
        /* under a limit the pairs are judged in order in waves and stop once the rows are out:
         * every pair stays a candidate, and max_pairs caps the pairs judged (an error past it) */
        sj->ncand = nl * nr;
        sj->cap = (size_t)p->max_pairs;
        pairs_report(op, 1, xasprintf("every pair a candidate in order under the limit (%.0f), at most max_pairs %lld judged",
                                      pairs, (long long)p->max_pairs));
        return 0;
    }
    if (p->nexprs < 3)
        return err_at(op->ex->err, FQL_ERR_RUNTIME, p->src, p->pos,
                      "semantic join: %zu x %zu rows make %.0f candidate pairs, more than max_pairs %lld, and "
                      "the prefilter cannot run (it needs a default embedding model and a template that names columns of "
                      "both sides): declare an embedding model, write `max_pairs: %.0f` or `prefilter: off` to send every pair",
                      nl, nr, pairs, (long long)p->max_pairs, pairs);
    return semjoin_threshold(op, sj);
}

/* A semantic join whose pairs are judged by a cascade (cascade: option, cascade.c): every candidate
 * pair in one batch (the thresholds are learned over all of them), judged at once; the matches
 * become the candidates, decided. 0, or -1 with the error set. */
static int semjoin_cascade(Op *op, SemJoin *sj)
{
    const Plan *p = op->p;
    int nl = sj->lb->ncols, nr = sj->rb->ncols;
    size_t nright = sj->rb->n;
    Batch *pairs = batch_new(nl + nr, sj->ncand);
    Value *row = xmalloc((size_t)(nl + nr) * sizeof *row);
    for (size_t i = 0; i < sj->ncand; i++) {
        size_t l = sj->cl ? (size_t)sj->cl[i] : i / nright, r = sj->cr ? (size_t)sj->cr[i] : i % nright;
        for (int c = 0; c < nl; c++) row[c] = value_copy(sj->lb->cols[c][l]);
        for (int c = 0; c < nr; c++) row[nl + c] = value_copy(sj->rb->cols[c][r]);
        batch_push_row(pairs, row);
    }
    free(row);
    Value *keep = NULL;
    if (!core_cascade_begin(op, p->exprs, 1, pairs)) keep = eval_batch(op->ex, p->exprs[0], pairs);
    core_cascade_end(op);
    if (!keep) { batch_free(pairs); return -1; }
    int64_t *cl = xmalloc((sj->ncand ? sj->ncand : 1) * sizeof *cl), *cr = xmalloc((sj->ncand ? sj->ncand : 1) * sizeof *cr);
    size_t n = 0;
    for (size_t i = 0; i < sj->ncand; i++) {
        if (value_true(keep[i])) {
            cl[n] = sj->cl ? sj->cl[i] : (int64_t)(i / nright);
            cr[n] = sj->cr ? sj->cr[i] : (int64_t)(i % nright);
            n++;
        }
        value_free(keep[i]);
    }
    free(keep);
    op->done_in += (int64_t)pairs->n;
    batch_free(pairs);
    free(sj->cl);
    free(sj->cr);
    sj->cl = cl;
    sj->cr = cr;
    sj->ncand = n;
    sj->next = 0;
    sj->decided = 1;
    return 0;
}

int semjoin_next(Op *op, Batch **out)
{
    const Plan *p = op->p;
    SemJoin *sj = op->priv;
    if (!sj) {
        sj = op->priv = xcalloc(1, sizeof *sj);
        op->close = semjoin_close;
        if (semjoin_prepare(op, sj)) return -1;
        if (sj->lb && sj->rb && !sj->decided && sj->ncand && cascade_in(op->p->exprs[0]) && semjoin_cascade(op, sj)) return -1;
    }
    if (!sj->lb || !sj->rb) return 0;
    int nl = sj->lb->ncols, nr = sj->rb->ncols;
    size_t nright = sj->rb->n;
    Value *row = xmalloc((size_t)(nl + nr) * sizeof *row);
    /* a batch of pairs at a time: their requests go to the scheduler together; under a limit,
     * waves sized from the pass rate measured (core_wave) */
    if (sj->decided) {   /* the matches are known: out a batch at a time */
        Batch *o = batch_new(nl + nr, BATCH_ROWS);
        for (; sj->next < sj->ncand && o->n < BATCH_ROWS; sj->next++) {
            size_t l = (size_t)sj->cl[sj->next], r = (size_t)sj->cr[sj->next];
            for (int c = 0; c < nl; c++) row[c] = value_copy(sj->lb->cols[c][l]);
            for (int c = 0; c < nr; c++) row[nl + c] = value_copy(sj->rb->cols[c][r]);
            batch_push_row(o, row);
        }
        free(row);
        op->out_own += (int64_t)o->n;
        if (!o->n) { batch_free(o); return 0; }
        *out = o;
        return 1;
    }
    while (sj->next < sj->ncand) {
        if (sj->cap && sj->next >= sj->cap) {
            free(row);
            return err_at(op->ex->err, FQL_ERR_RUNTIME, p->src, p->pos,
                          "semantic join: the limit wants %lld rows, and the first %zu pairs judged (max_pairs) of %zu gave "
                          "%lld: write `max_pairs: %zu` (or `prefilter: off`) to judge every pair, or declare an embedding "
                          "model for the prefilter", (long long)p->want_rows, sj->cap, sj->ncand, (long long)op->out_own, sj->ncand);
        }
        size_t wave = core_wave(op, 8, BATCH_ROWS, 0);
        if (sj->cap && wave > sj->cap - sj->next) wave = sj->cap - sj->next;
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
