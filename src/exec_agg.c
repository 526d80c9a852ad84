/* exec_agg.c: group by / agg, hash aggregation (keytab.c's tables), on the threads of `set threads`.
 *
 * One thread: a batch at a time, the group ids of its rows from the key table (dense, in order of
 * first appearance), new groups' states initialised, the distinct aggregates' fresh rows, then the
 * steps in row order.
 *
 * On threads (keys and arguments pure: agg_mode says which way):
 * - keys or arguments that are expressions: the workers of pool.c's ordered map evaluate them, a
 *   whole batch each, and the calling thread aggregates the batches in order as one thread does;
 * - keys and arguments that are all columns, 3 threads or more, more than one batch: the groups
 *   are partitioned by the hash of their key, and each partition's thread reads every batch in
 *   order and aggregates the rows of its own groups, exactly as one thread would for those groups
 *   (a float sum adds the same numbers in the same order). The calling thread pulls the batches;
 *   at most 4 batches a thread are in flight. The groups leave in the order one thread gives
 *   (first appearance): each remembers the row number where it first appeared, and the threads'
 *   lists (each in that order already) are merged. The first error by input order wins (only a
 *   step can fail: the arguments are columns), with one thread's message.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include "exec.h"
#include "pool.h"
#include "semop.h"

/* count(distinct ...) of one aggregate: the (group, argument) pairs seen. While the argument is a
 * single int, small non-negative values are bits (a bitmap per group over [0, 64 words)), the
 * others pairs in a PairSet (one read per probe); the first other value moves them all into a
 * KeyTable over (group, args...).
 *
 * The bitmaps: 10M rows of 1,000 groups over 110,000 keys are 9.5M pairs, 270 MB of slots read at
 * random, against 14 MB of bits. Where a pair goes depends only on the rows before it, so a pair
 * is always in one place: the width (words) grows to cover the largest value seen while every
 * group's bitmap at that width fits in BITS_BUDGET; once it would not, it stops growing for good
 * (frozen) and larger values are pairs. A group gets a bitmap the first time it has a value under
 * the width, if that fits the budget; else it never has one (all its values are pairs). */
enum { BITS_BUDGET = 64 << 20, BITS_MAX_VALUE = 1 << 26 };
typedef struct GroupBits { uint64_t *w; size_t nw; int8_t state; } GroupBits;   /* state: 0 not yet, 1 bits, -1 never */
typedef struct DistinctSet {
    int general;
    PairSet ps;
    KeyTable kt;
    GroupBits *gb; size_t ngb;    /* per group id */
    size_t width, bytes, holders; /* words a bitmap spans; bytes held; groups with bitmaps */
    int frozen;
} DistinctSet;

static void distinct_init(DistinctSet *d, int nargs)
{
    memset(d, 0, sizeof *d);
    d->general = nargs != 1;
    if (d->general) kt_init(&d->kt, 1 + nargs);
    else pairset_init(&d->ps);
}

static void bits_free(DistinctSet *d)
{
    for (size_t g = 0; g < d->ngb; g++) free(d->gb[g].w);
    free(d->gb);
    d->gb = NULL;
    d->ngb = 0;
}

static void distinct_free(DistinctSet *d)
{
    if (d->general) kt_free(&d->kt);
    else pairset_free(&d->ps);
    bits_free(d);
}

static void distinct_to_general(DistinctSet *d)
{
    kt_init(&d->kt, 2);
    for (size_t i = 0; i < d->ps.cap; i++)
        if (d->ps.slots[i].g >= 0) {
            Value k[2] = { v_int(d->ps.slots[i].g), v_int(d->ps.slots[i].v) };
            kt_lookup(&d->kt, k, 1, NULL);
        }
    for (size_t g = 0; g < d->ngb; g++)
        for (size_t w = 0; w < d->gb[g].nw; w++)
            for (uint64_t x = d->gb[g].w[w]; x; x &= x - 1) {
                Value k[2] = { v_int((int64_t)g), v_int((int64_t)(w * 64 + (size_t)__builtin_ctzll(x))) };
                kt_lookup(&d->kt, k, 1, NULL);
            }
    bits_free(d);
    pairset_free(&d->ps);
    d->general = 1;
}

/* Is (g, v) a new pair? The bitmaps when v is under the width and g has one, else the PairSet. */
static int distinct_int_add(DistinctSet *d, int64_t g, int64_t v)
{
    if (v >= 0 && v < BITS_MAX_VALUE && !d->frozen && (size_t)v >= d->width * 64) {
        size_t w = d->width ? d->width : 16;
        while (w * 64 <= (size_t)v) w *= 2;
        if ((d->holders + 1) * w * 8 > BITS_BUDGET) d->frozen = 1;   /* for good: larger values are pairs from now on */
        else d->width = w;
    }
    if (v < 0 || (size_t)v >= d->width * 64) return pairset_add(&d->ps, g, v);
    if ((size_t)g >= d->ngb) {
        size_t n = d->ngb ? d->ngb : 64;
        while (n <= (size_t)g) n *= 2;
        d->gb = xrealloc(d->gb, n * sizeof *d->gb);
        memset(d->gb + d->ngb, 0, (n - d->ngb) * sizeof *d->gb);
        d->ngb = n;
    }
    GroupBits *b = &d->gb[g];
    if (b->state == 0) {
        b->state = d->bytes + d->width * 8 <= BITS_BUDGET ? 1 : -1;
        d->holders += b->state == 1;
    }
    if (b->state < 0) return pairset_add(&d->ps, g, v);
    if (b->nw < d->width) {   /* the width grew since: the new words are empty */
        b->w = xrealloc(b->w, d->width * sizeof *b->w);
        memset(b->w + b->nw, 0, (d->width - b->nw) * sizeof *b->w);
        d->bytes += (d->width - b->nw) * 8;
        b->nw = d->width;
    }
    uint64_t bit = 1ULL << (v & 63), *word = &b->w[v >> 6];
    if (*word & bit) return 0;
    *word |= bit;
    return 1;
}

/* fresh[r] = 1 when row r's arguments (args[j][r], none null) are new for its group gid[r]. */
static void distinct_batch(DistinctSet *d, const int64_t *gid, Value *const *args, int nargs, size_t n, uint8_t *fresh)
{
    if (!d->general)
        for (size_t r = 0; r < n; r++)
            if (args[0][r].kind != V_INT && args[0][r].kind != V_NULL) { distinct_to_general(d); break; }
    if (!d->general) {
        const Value *v = args[0];
        for (size_t r = 0; r < n; r++) {
            fresh[r] = v[r].kind == V_INT && distinct_int_add(d, gid[r], v[r].u.i);
        }
        return;
    }
    Value *g = xmalloc((n ? n : 1) * sizeof *g), **cols = xcalloc((size_t)nargs + 1, sizeof *cols);
    int64_t *ids = xmalloc((n ? n : 1) * sizeof *ids);
    for (size_t r = 0; r < n; r++) g[r] = v_int(gid[r]);
    cols[0] = g;
    for (int j = 0; j < nargs; j++) cols[j + 1] = args[j];
    int64_t next = (int64_t)d->kt.n;
    kt_ids(&d->kt, cols, n, 1, 1, ids);   /* a null argument is never counted */
    for (size_t r = 0; r < n; r++) {
        fresh[r] = ids[r] == next;        /* ids are dense: a new pair gets the next one */
        if (fresh[r]) next++;
    }
    free(ids);
    free(cols);
    free(g);
}


/* One partition's aggregation (the whole input on one thread): its groups, their states, the
 * count(distinct) sets, where each group first appeared, scratch for a batch, and its first failure
 * (ranked by batch, then phase: -2 the input, -1 keys, 0 arguments, 1 steps; then row). */
typedef struct AggPart {
    KeyTable groups;
    char *states;
    size_t cap, ninit;                 /* states allocated; states initialised (ids below) */
    DistinctSet *dist;
    int64_t *first; size_t firstcap;   /* row number of each group's first row (threads only) */
    FuncCtx ctx;
    int64_t *gid; uint8_t **fresh; size_t gidcap;
    size_t *sel; Value **gcols; size_t selcap; int ncols;   /* the partition's rows of a batch (threads) */
    Exec ex; fql_error err;            /* a thread's evaluation context and error */
    int failed, fail_phase;
    int64_t fail_seq, fail_row;
    char *fail_msg;                    /* a step's error (xasprintf'd) */
} AggPart;

/* The shape of one aggregation: where each aggregate's state is in a group's block. */
typedef struct AggShape { const Plan *p; int nk, na; size_t *off, stride; char *need; int nneed; } AggShape;

/* Mark the input columns e reads in need (threads gather only those). */
static void mark_cols(const Expr *e, char *need, int ncols)
{
    if (!e) return;
    if (e->kind == E_COL && e->ival >= 0 && e->ival < ncols) need[e->ival] = 1;
    for (int i = 0; i < e->nargs; i++) mark_cols(e->args[i], need, ncols);
}

static void part_init(const AggShape *sh, AggPart *ap)
{
    memset(ap, 0, sizeof *ap);
    kt_init(&ap->groups, sh->nk);
    ap->dist = xcalloc((size_t)sh->na + 1, sizeof *ap->dist);
    ap->fresh = xcalloc((size_t)sh->na + 1, sizeof *ap->fresh);
    for (int a = 0; a < sh->na; a++)
        if (sh->p->aggs[a].distinct) distinct_init(&ap->dist[a], sh->p->aggs[a].nargs);
}

/* Free what the partition holds but its states (destroyed first when destroy is set: after a
 * failure; else final() consumed them). */
static void part_free(const AggShape *sh, AggPart *ap, int destroy)
{
    const Plan *p = sh->p;
    if (destroy)
        for (size_t g = 0; g < ap->ninit; g++)
            for (int a = 0; a < sh->na; a++)
                if (p->aggs[a].def->destroy) p->aggs[a].def->destroy(ap->states + g * sh->stride + sh->off[a]);
    free(ap->states);
    kt_free(&ap->groups);
    for (int a = 0; a < sh->na; a++) {
        if (p->aggs[a].distinct) distinct_free(&ap->dist[a]);
        free(ap->fresh[a]);
    }
    free(ap->dist);
    free(ap->fresh);
    free(ap->first);
    free(ap->gid);
    free(ap->sel);
    for (int c = 0; ap->gcols && c < ap->ncols; c++) free(ap->gcols[c]);
    free(ap->gcols);
    func_ctx_done(&ap->ctx);
    free(ap->ctx.error);
    free(ap->fail_msg);
    memset(ap, 0, sizeof *ap);
}

static void part_fail(AggPart *ap, int64_t seq, int phase, int64_t row)
{
    if (ap->failed) return;
    ap->failed = 1;
    ap->fail_seq = seq;
    ap->fail_phase = phase;
    ap->fail_row = row;
}

/* Does failure a come before failure b in input order? */
static int fail_before(const AggPart *a, const AggPart *b)
{
    if (!b->failed) return a->failed;
    if (!a->failed) return 0;
    if (a->fail_seq != b->fail_seq) return a->fail_seq < b->fail_seq;
    if (a->fail_phase != b->fail_phase) return a->fail_phase < b->fail_phase;
    return a->fail_row < b->fail_row;
}

/* Free argument columns (those evaluated; columns are borrowed) of n rows. */
static void args_free(const AggShape *sh, Value ***args, size_t n)
{
    for (int a = 0; args && a < sh->na; a++) {
        for (int j = 0; args[a] && j < sh->p->aggs[a].nargs; j++)
            if (sh->p->aggs[a].args[j]->kind != E_COL) eval_vals_free(args[a][j], n);
        free(args[a]);
    }
    free(args);
}

/* Step aggregate ac over rows 0..n-1 (row r into the state at states + gid[r] * stride; args its
 * argument columns), skipping the rows whose fresh[r] is 0 when fresh is set (distinct). -1, or
 * the first row whose step failed (its error in ctx; the later rows are not stepped). */
static long agg_steps(const AggCall *ac, char *states, size_t stride, const int64_t *gid, Value *const *args, size_t n, const uint8_t *fresh, FuncCtx *ctx)
{
    const AggDef *d = ac->def;
    int nargs = ac->nargs;
    if (d->step_batch && !fresh) return d->step_batch(states, stride, gid, args, nargs, n, ctx);
    Value argv[8];
    for (size_t r = 0; r < n; r++) {
        if (fresh && !fresh[r]) continue;
        for (int j = 0; j < nargs && j < 8; j++) argv[j] = args[j][r];
        d->step(states + (size_t)gid[r] * stride, argv, nargs, ctx);
        if (ctx->error) return (long)r;
    }
    return -1;
}

/* Aggregate into ap the rows of batch in (its key columns: keys; its argument columns: pre, or
 * NULL to evaluate them here) that belong to partition t of nparts (all of them when nparts is 1;
 * partitions only with keys and arguments that are columns). row_base: the number of in's first
 * row; seq: in's place in the input. ex: the evaluation context (an error lands in ex->err). 0, or
 * -1 with ap's failure set. */
static int part_batch(const AggShape *sh, AggPart *ap, Exec *ex, Batch *in, Value *const *keys, Value ***pre, int64_t row_base, int64_t seq, int nparts, int t)
{
    const Plan *p = sh->p;
    int nk = sh->nk, na = sh->na;
    size_t n = in->n, m = n;
    Value **kc = (Value **)keys;
    const Batch *src = in;
    Batch sb;
    Value *gkeys[16];
    if (nparts > 1) {
        /* this partition's rows, their values gathered (borrowed, not copied) */
        if (n > ap->selcap || in->ncols > ap->ncols) {
            size_t cap = n > ap->selcap ? n : ap->selcap;
            int nc = in->ncols > ap->ncols ? in->ncols : ap->ncols;
            ap->sel = xrealloc(ap->sel, cap * sizeof *ap->sel);
            ap->gcols = xrealloc(ap->gcols, (size_t)nc * sizeof *ap->gcols);
            for (int c = 0; c < nc; c++) {
                if (c >= ap->ncols) ap->gcols[c] = NULL;
                ap->gcols[c] = xrealloc(ap->gcols[c], cap * sizeof **ap->gcols);
            }
            ap->selcap = cap;
            ap->ncols = nc;
        }
        m = 0;
        for (size_t r = 0; r < n; r++) {
            uint64_t h = value_hash(keys[0][r]);
            for (int k = 1; k < nk; k++) h = (h ^ value_hash(keys[k][r])) * 0x100000001b3ULL;
            if ((int)((h >> 40) % (uint64_t)nparts) == t) ap->sel[m++] = r;
        }
        if (!m) return 0;
        for (int c = 0; c < in->ncols; c++) {
            Value *d = ap->gcols[c];
            const Value *s = in->cols[c];
            if (c < sh->nneed && !sh->need[c]) continue;   /* read by no key or argument */
            for (size_t i = 0; i < m; i++) d[i] = s[ap->sel[i]];
        }
        sb.ncols = in->ncols;
        sb.n = sb.cap = m;
        sb.plain = in->plain;   /* its columns hold some of in's values */
        sb.cols = ap->gcols;
        src = &sb;
        for (int k = 0; k < nk; k++) gkeys[k] = ap->gcols[p->exprs[k]->ival];
        kc = gkeys;
    }
    int rc = 0;
    Value ***args = pre ? pre : xcalloc((size_t)na + 1, sizeof *args);
    for (int a = 0; a < na && !rc && !pre; a++) {
        args[a] = xcalloc((size_t)p->aggs[a].nargs + 1, sizeof **args);
        for (int j = 0; j < p->aggs[a].nargs && !rc; j++) {
            const Expr *e = p->aggs[a].args[j];
            args[a][j] = e->kind == E_COL ? src->cols[e->ival] : eval_batch(ex, e, src);
            if (!args[a][j]) {
                rc = -1;
                part_fail(ap, seq, 0, 0);
            }
        }
    }
    if (!rc && m > ap->gidcap) {
        ap->gidcap = m;
        ap->gid = xrealloc(ap->gid, m * sizeof *ap->gid);
        for (int a = 0; a < na; a++)
            if (p->aggs[a].distinct) ap->fresh[a] = xrealloc(ap->fresh[a], m);
    }
    if (!rc && m) {
        int64_t next = (int64_t)ap->groups.n;
        if (nk) kt_ids(&ap->groups, kc, m, 1, 0, ap->gid);
        else {
            if (!ap->groups.n) kt_lookup(&ap->groups, NULL, 1, NULL);
            memset(ap->gid, 0, m * sizeof *ap->gid);
        }
        if (ap->groups.n > ap->cap) {
            size_t nc = ap->cap ? ap->cap : 64;
            while (nc < ap->groups.n) nc *= 2;
            ap->states = xrealloc(ap->states, nc * sh->stride);
            ap->cap = nc;
            if (nparts > 1) ap->first = xrealloc(ap->first, nc * sizeof *ap->first);
        }
        if (nparts > 1)   /* ids are dense: a group seen first here gets the next one */
            for (size_t i = 0; i < m; i++)
                if (ap->gid[i] == next) ap->first[next++] = row_base + (int64_t)ap->sel[i];
        for (; ap->ninit < ap->groups.n; ap->ninit++) {
            char *st = ap->states + ap->ninit * sh->stride;
            memset(st, 0, sh->stride);
            for (int a = 0; a < na; a++) p->aggs[a].def->init(st + sh->off[a]);
        }
        for (int a = 0; a < na; a++)
            if (p->aggs[a].distinct) distinct_batch(&ap->dist[a], ap->gid, args[a], p->aggs[a].nargs, m, ap->fresh[a]);
        /* an aggregate at a time over the batch's rows (its step_batch, else its step row by
         * row); the first failure in row-major order (row, then aggregate) is the one reported,
         * as stepping a row at a time would find it */
        long bad_row = -1;
        for (int a = 0; a < na; a++) {
            long at = agg_steps(&p->aggs[a], ap->states + sh->off[a], sh->stride, ap->gid, args[a], m, p->aggs[a].distinct ? ap->fresh[a] : NULL, &ap->ctx);
            if (at >= 0 && (bad_row < 0 || at < bad_row)) {
                bad_row = at;
                free(ap->fail_msg);
                ap->fail_msg = ap->ctx.error;
            } else
                free(ap->ctx.error);
            ap->ctx.error = NULL;
        }
        if (bad_row >= 0) {
            rc = -1;
            part_fail(ap, seq, 1, row_base + (int64_t)(nparts > 1 ? ap->sel[bad_row] : (size_t)bad_row));
        }
    }
    if (!pre) args_free(sh, args, m);
    return rc;
}

/* The key columns of batch in: columns borrowed, others evaluated (free with keys_free). NULL with
 * ex->err set. */
static Value **keys_eval(const AggShape *sh, Exec *ex, Batch *in)
{
    Value **keys = xcalloc((size_t)sh->nk + 1, sizeof *keys);
    for (int k = 0; k < sh->nk; k++) {
        const Expr *e = sh->p->exprs[k];
        keys[k] = e->kind == E_COL ? in->cols[e->ival] : eval_batch(ex, e, in);
        if (!keys[k]) {
            for (int q = 0; q < k; q++)
                if (sh->p->exprs[q]->kind != E_COL) eval_vals_free(keys[q], in->n);
            free(keys);
            return NULL;
        }
    }
    return keys;
}

static void keys_free(const AggShape *sh, Value **keys, size_t n)
{
    if (!keys) return;
    for (int k = 0; k < sh->nk; k++)
        if (sh->p->exprs[k]->kind != E_COL) eval_vals_free(keys[k], n);
    free(keys);
}

/* ---- on threads ---- */

/* A batch in flight: read by every thread (refs: threads yet to read it). */
typedef struct AggJob { Batch *in; Value **keys; int64_t row_base, seq; int refs; } AggJob;

typedef struct AggRun {
    const AggShape *sh;
    AggPart *parts;
    int n;                   /* threads */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    AggJob **ring;
    int64_t q, head;         /* ring slots; jobs pushed */
    int64_t *pos;            /* per thread: the next job it reads */
    int readers;             /* the calling thread and the workers started (1..readers-1) */
    int done;                /* no more jobs will come */
} AggRun;

static void job_release(AggRun *ar, AggJob *j)
{
    if (--j->refs) return;
    keys_free(ar->sh, j->keys, j->in->n);
    batch_free(j->in);
    free(j);
}

/* Thread t: its partition of every job, in order. */
static void run_part(AggRun *ar, int t)
{
    pthread_mutex_lock(&ar->mu);
    for (;;) {
        while (ar->pos[t] == ar->head && !ar->done) pthread_cond_wait(&ar->cv, &ar->mu);
        if (ar->pos[t] == ar->head) break;
        AggJob *j = ar->ring[ar->pos[t] % ar->q];
        pthread_mutex_unlock(&ar->mu);
        AggPart *ap = &ar->parts[t];
        if (!ap->failed) {
            ap->ex.err = &ap->err;
            part_batch(ar->sh, ap, &ap->ex, j->in, j->keys, NULL, j->row_base, j->seq, ar->n, t);
        }
        pthread_mutex_lock(&ar->mu);
        ar->pos[t]++;
        job_release(ar, j);
        pthread_cond_broadcast(&ar->cv);
    }
    pthread_mutex_unlock(&ar->mu);
}

typedef struct WorkerArg { AggRun *ar; int t; } WorkerArg;

static void *agg_worker(void *arg)
{
    WorkerArg *w = arg;
    run_part(w->ar, w->t);
    return NULL;
}

/* Hand job j to every thread and read the calling thread's part of it. */
static void push_job(AggRun *ar, AggJob *j)
{
    pthread_mutex_lock(&ar->mu);
    for (;;) {   /* room: the slowest thread is within q jobs */
        int64_t low = ar->head;
        for (int t = 0; t < ar->readers; t++) if (ar->pos[t] < low) low = ar->pos[t];
        if (ar->head - low < ar->q) break;
        pthread_cond_wait(&ar->cv, &ar->mu);
    }
    j->refs = ar->readers;
    ar->ring[ar->head % ar->q] = j;
    ar->head++;
    pthread_cond_broadcast(&ar->cv);
    pthread_mutex_unlock(&ar->mu);
}

/* Aggregate the input (first, second: its first two batches; then child) on nt threads into
 * parts[0..nt). fail: the failure of the input or of the keys, if any (ranked like a part's). */
static void agg_threads(Op *op, const AggShape *sh, AggPart *parts, int nt, Batch *first, Batch *second, AggPart *fail)
{
    AggRun ar = { .sh = sh, .parts = parts, .n = nt, .q = 4 * (int64_t)nt };
    pthread_mutex_init(&ar.mu, NULL);
    pthread_cond_init(&ar.cv, NULL);
    ar.ring = xcalloc((size_t)ar.q, sizeof *ar.ring);
    ar.pos = xcalloc((size_t)nt, sizeof *ar.pos);
    pthread_t *tids = xcalloc((size_t)nt, sizeof *tids);
    WorkerArg *wa = xcalloc((size_t)nt, sizeof *wa);
    int started = 0;
    for (int t = 0; t < nt; t++) {
        wa[t] = (WorkerArg){ &ar, t };
        if (pool_spawn(&tids[t], agg_worker, &wa[t])) break;
        started = t + 1;
    }
    ar.readers = started;
    /* a thread that could not be made: its partitions go on the calling thread (one thread
     * reads each partition either way) */
    int64_t seq = 0, row = 0;
    Batch *in = first;
    for (;;) {
        if (!in) {
            if (second) { in = second; second = NULL; }
            else {
                int rc = op->child->next(op->child, &in);
                if (rc == 1 && err_failed(op->ex->err)) { batch_free(in); rc = -1; }
                if (rc <= 0) {
                    if (rc < 0) {
                        part_fail(fail, seq, -2, 0);
                        fail->err = *op->ex->err;
                        if (!fail->err.code) fail->err.code = FQL_ERR_RUNTIME;
                        memset(op->ex->err, 0, sizeof *op->ex->err);
                    }
                    break;
                }
            }
        }
        Value **keys = keys_eval(sh, op->ex, in);
        if (!keys) {
            part_fail(fail, seq, -1, 0);
            fail->err = *op->ex->err;
            memset(op->ex->err, 0, sizeof *op->ex->err);
            batch_free(in);
            break;
        }
        AggJob *j = xcalloc(1, sizeof *j);
        j->in = in;
        j->keys = keys;
        j->row_base = row;
        j->seq = seq++;
        row += (int64_t)in->n;
        in = NULL;
        if (started < nt) {
            /* no workers for some partitions: read those here, in order, before the job goes */
            for (int t = started; t < nt; t++)
                if (!parts[t].failed) {
                    parts[t].ex.err = &parts[t].err;
                    part_batch(sh, &parts[t], &parts[t].ex, j->in, j->keys, NULL, j->row_base, j->seq, nt, t);
                }
        }
        if (started) push_job(&ar, j);
        else { j->refs = 1; job_release(&ar, j); }
        if (op->ex->rt && rt_interrupted(op->ex->rt)) {   /* Ctrl-C: groups of part of the input are no answer */
            part_fail(fail, seq, -2, 0);
            err_set(&fail->err, FQL_ERR_RUNTIME, "%s", EXEC_INTERRUPTED);
            break;
        }
    }
    batch_free(second);
    pthread_mutex_lock(&ar.mu);
    ar.done = 1;
    pthread_cond_broadcast(&ar.cv);
    pthread_mutex_unlock(&ar.mu);
    for (int t = 0; t < started; t++) pthread_join(tids[t], NULL);
    pthread_cond_destroy(&ar.cv);
    pthread_mutex_destroy(&ar.mu);
    free(ar.ring);
    free(ar.pos);
    free(tids);
    free(wa);
}

/* ---- the operator ---- */

enum { AGG_ONE, AGG_EVAL, AGG_PARTS };

/* How the aggregation uses nt threads: keys and arguments that are not all pure, one thread;
 * some of them expressions, evaluated on threads (AGG_EVAL); all of them columns (at least one key):
 * groups partitioned among the threads (AGG_PARTS) from 3 threads on. With 2, partitions were
 * measured slower than aggregating on the calling thread (bench/relational/README.md): each
 * partition's thread reads every batch to find its rows, and they run beside the calling thread
 * (which pulls the input) and the scan's threads. */
static int agg_mode(const Plan *p, int nt)
{
    if (nt < 2) return AGG_ONE;
    int cols = 1;
    for (int k = 0; k < p->nkeys; k++) {
        if (!core_expr_pure(p->exprs[k])) return AGG_ONE;
        cols &= p->exprs[k]->kind == E_COL;
    }
    for (int a = 0; a < p->naggs; a++)
        for (int j = 0; j < p->aggs[a].nargs; j++) {
            if (!core_expr_pure(p->aggs[a].args[j])) return AGG_ONE;
            cols &= p->aggs[a].args[j]->kind == E_COL;
        }
    if (!cols) return AGG_EVAL;
    return p->nkeys >= 1 && p->nkeys <= 16 && nt >= 3 ? AGG_PARTS : AGG_ONE;
}

/* ---- keys and arguments evaluated on threads ----
 *
 * When a key or an argument is an expression (not a column), evaluating it is most of the work:
 * the batches go through pool.c's ordered map, whose workers evaluate the keys and arguments of a
 * batch (over the whole batch, as one thread does: the same values, the same first error), and
 * the calling thread takes the batches back in order and aggregates them as one thread does. */

typedef struct AggEval { const AggShape *sh; Batch *in; Value **keys; Value ***args; } AggEval;
typedef struct EvalCtx { Op *op; const AggShape *sh; Exec *wex; } EvalCtx;

static void eval_item_free(AggEval *e)
{
    keys_free(e->sh, e->keys, e->in->n);
    args_free(e->sh, e->args, e->in->n);
    batch_free(e->in);
    free(e);
}

static void eval_drop_in(void *item) { batch_free(item); }
static void eval_drop_out(void *item) { eval_item_free(item); }

static int eval_pull(void *ctx, void **item, fql_error *err)
{
    EvalCtx *ec = ctx;
    Exec *ex = ec->op->ex;
    Batch *in = NULL;
    int rc = ec->op->child->next(ec->op->child, &in);
    if (rc == 1 && err_failed(ex->err)) { batch_free(in); in = NULL; rc = -1; }
    if (rc < 0) {   /* the error waits for its turn: moved out of ex */
        *err = *ex->err;
        if (!err->code) err->code = FQL_ERR_RUNTIME;
        memset(ex->err, 0, sizeof *ex->err);
    }
    *item = in;
    return rc;
}

static int eval_work(void *ctx, int worker, void *item, void **out, fql_error *err)
{
    EvalCtx *ec = ctx;
    const AggShape *sh = ec->sh;
    Exec *ex = &ec->wex[worker];
    ex->err = err;
    Batch *in = item;
    AggEval *e = xcalloc(1, sizeof *e);
    e->sh = sh;
    e->in = in;
    if (!(e->keys = keys_eval(sh, ex, in))) { batch_free(in); free(e); return -1; }
    e->args = xcalloc((size_t)sh->na + 1, sizeof *e->args);
    for (int a = 0; a < sh->na; a++) {
        e->args[a] = xcalloc((size_t)sh->p->aggs[a].nargs + 1, sizeof **e->args);
        for (int j = 0; j < sh->p->aggs[a].nargs; j++) {
            const Expr *x = sh->p->aggs[a].args[j];
            e->args[a][j] = x->kind == E_COL ? in->cols[x->ival] : eval_batch(ex, x, in);
            if (!e->args[a][j]) { eval_item_free(e); return -1; }
        }
    }
    *out = e;
    return 0;
}

/* One thread aggregates the whole input: the first batch (if any) and then child's (unless only:
 * then the first batch is all). With evalthreads > 1 the keys and arguments are evaluated on
 * that many threads (pool.c), the first batch included. */
static int agg_serial(Op *op, const AggShape *sh, AggPart *ap, Batch *in, int only, int evalthreads)
{
    int64_t seq = 0, row = 0;
    int rc = 0;
    if (evalthreads > 1 && !in) {
        EvalCtx ec = { op, sh, xcalloc((size_t)evalthreads, sizeof(Exec)) };
        for (int t = 0; t < evalthreads; t++) {
            ec.wex[t].rt = op->ex->rt;
            ec.wex[t].now_us = op->ex->now_us;
        }
        ParMap *m = parmap_new(evalthreads, 0, eval_pull, eval_work, eval_drop_in, eval_drop_out, &ec);
        for (;;) {
            void *item = NULL;
            if ((rc = parmap_next(m, &item, op->ex->err)) != 1) break;
            AggEval *e = item;
            int bad = part_batch(sh, ap, op->ex, e->in, e->keys, e->args, row, seq++, 1, 0);
            row += (int64_t)e->in->n;
            eval_item_free(e);
            if (bad) { rc = -1; break; }
            if (op->ex->rt && rt_interrupted(op->ex->rt)) { rc = err_set(op->ex->err, FQL_ERR_RUNTIME, "%s", EXEC_INTERRUPTED); break; }
        }
        parmap_free(m);
        free(ec.wex);
        if (rc > 0) rc = 0;
    } else
        for (;;) {
            if (!in) {
                if (only) break;
                rc = op->child->next(op->child, &in);
                if (rc != 1) break;
            }
            Value **keys = keys_eval(sh, op->ex, in);
            if (!keys) { batch_free(in); rc = -1; break; }
            int bad = part_batch(sh, ap, op->ex, in, keys, NULL, row, seq++, 1, 0);
            row += (int64_t)in->n;
            keys_free(sh, keys, in->n);
            batch_free(in);
            in = NULL;
            if (bad) { rc = -1; break; }
            if (op->ex->rt && rt_interrupted(op->ex->rt)) { rc = err_set(op->ex->err, FQL_ERR_RUNTIME, "%s", EXEC_INTERRUPTED); break; }
        }
    if (ap->fail_msg) err_at(op->ex->err, FQL_ERR_RUNTIME, sh->p->src, sh->p->pos, "%s", ap->fail_msg);
    return rc < 0 ? -1 : 0;
}

int agg_next(Op *op, Batch **out)
{
    if (op->mat) return core_next_mat(op, out);
    const Plan *p = op->p;
    AggShape sh = { p, p->nkeys, p->naggs, xcalloc((size_t)p->naggs + 1, sizeof(size_t)), 0, NULL, 0 };
    int nk = sh.nk, na = sh.na;
    for (int a = 0; a < na; a++) {
        sh.off[a] = sh.stride;
        sh.stride += (p->aggs[a].def->state_size + 15) & ~(size_t)15;
    }
    if (!sh.stride) sh.stride = 16;
    sh.nneed = p->child->schema->n;
    sh.need = xcalloc((size_t)sh.nneed + 1, 1);
    for (int k = 0; k < nk; k++) mark_cols(p->exprs[k], sh.need, sh.nneed);
    for (int a = 0; a < na; a++)
        for (int j = 0; j < p->aggs[a].nargs; j++) mark_cols(p->aggs[a].args[j], sh.need, sh.nneed);
    int nt = core_threads(op->ex);
    int rc = 0;
    fql_error input_err = { 0 };
    Batch *first = NULL, *second = NULL;
    int mode = agg_mode(p, nt);
    /* partitions for two batches or more: one batch takes one thread's path */
    if (mode == AGG_PARTS) {
        rc = op->child->next(op->child, &first);
        if (rc == 1) rc = op->child->next(op->child, &second);
        if (rc < 0 && first) {
            /* the second batch failed: one thread aggregates the first, whose error comes first */
            input_err = *op->ex->err;
            memset(op->ex->err, 0, sizeof *op->ex->err);
        } else if (rc < 0) { free(sh.off); free(sh.need); return -1; }
        if (!second) nt = 1;
        rc = 0;
    } else nt = 1;
    AggPart *parts = xcalloc((size_t)nt, sizeof *parts);
    for (int t = 0; t < nt; t++) {
        part_init(&sh, &parts[t]);
        parts[t].ex.rt = op->ex->rt;
        parts[t].ex.now_us = op->ex->now_us;
        parts[t].ctx.now_us = op->ex->now_us;
    }
    size_t ngroups = 0;
    char *states = NULL;
    Value **keycols = xcalloc((size_t)nk + 1, sizeof *keycols);
    int merged = 0;              /* states and keycols were made from the parts (threads) */
    if (nt == 1) {
        rc = agg_serial(op, &sh, &parts[0], first, input_err.code != 0, mode == AGG_EVAL ? core_threads(op->ex) : 1);
        if (rc == 0 && input_err.code) { *op->ex->err = input_err; rc = -1; }
        /* a global aggregate over no rows still gives one row (count = 0, sum = null) */
        AggPart *ap = &parts[0];
        if (rc == 0 && nk == 0 && ap->groups.n == 0) {
            kt_lookup(&ap->groups, NULL, 1, NULL);
            ap->states = xrealloc(ap->states, sh.stride);
            memset(ap->states, 0, sh.stride);
            for (int a = 0; a < na; a++) p->aggs[a].def->init(ap->states + sh.off[a]);
            ap->ninit = 1;
        }
        ngroups = ap->groups.n;
        states = ap->states;
        for (int k = 0; k < nk; k++) keycols[k] = ap->groups.cols[k];
    } else {
        AggPart fail;
        memset(&fail, 0, sizeof fail);
        agg_threads(op, &sh, parts, nt, first, second, &fail);
        const AggPart *win = fail.failed ? &fail : NULL;
        for (int t = 0; t < nt; t++)
            if (parts[t].failed && (!win || fail_before(&parts[t], win))) win = &parts[t];
        if (win) {
            rc = -1;
            if (win->fail_phase == 1) err_at(op->ex->err, FQL_ERR_RUNTIME, p->src, p->pos, "%s", win->fail_msg);
            else if (!err_failed(op->ex->err)) *op->ex->err = win->err;
        } else {
            /* the groups in order of first appearance: merge the threads' lists (each in order) */
            for (int t = 0; t < nt; t++) ngroups += parts[t].groups.n;
            states = xmalloc((ngroups ? ngroups : 1) * sh.stride);
            for (int k = 0; k < nk; k++) keycols[k] = xmalloc((ngroups ? ngroups : 1) * sizeof(Value));
            size_t *at = xcalloc((size_t)nt, sizeof *at);
            for (size_t g = 0; g < ngroups; g++) {
                int bt = -1;
                for (int t = 0; t < nt; t++)
                    if (at[t] < parts[t].groups.n && (bt < 0 || parts[t].first[at[t]] < parts[bt].first[at[bt]])) bt = t;
                size_t l = at[bt]++;
                memcpy(states + g * sh.stride, parts[bt].states + l * sh.stride, sh.stride);
                for (int k = 0; k < nk; k++) keycols[k][g] = kt_key(&parts[bt].groups, k, l);
            }
            free(at);
            for (int t = 0; t < nt; t++) parts[t].ninit = 0;   /* the states moved */
            merged = 1;
        }
    }
    Table *t = NULL;
    if (rc == 0) {
        t = table_new(schema_copy(p->schema));
        /* aggregate results batch: one column per aggregate, then the agg items over them */
        for (size_t g0 = 0; g0 < ngroups; g0 += BATCH_ROWS) {
            size_t cnt = ngroups - g0 < BATCH_ROWS ? ngroups - g0 : BATCH_ROWS;
            Batch *ab = batch_new(na, cnt);
            for (int a = 0; a < na; a++)
                for (size_t g = 0; g < cnt; g++)
                    ab->cols[a][g] = p->aggs[a].def->final(states + (g0 + g) * sh.stride + sh.off[a], p->aggs[a].type);
            ab->n = cnt;
            for (int a = 0; a < na && rc == 0; a++)
                if (p->aggs[a].sem == SEM_REDUCE) {
                    /* the groups' collected texts become the model's answers, all groups at once */
                    const AggCall *ac = &p->aggs[a];
                    if (!op->ex->rt) { rc = eval_error(op->ex, ac->args[0], 0, "reduce() cannot be used here"); break; }
                    Value *r = semantic_reduce(op->ex->rt, v_str(ac->args[0]->lit), v_str(ac->args[3]->lit), ab->cols[a], cnt, op->ex->err);
                    if (!r) { rc = -1; break; }
                    for (size_t g = 0; g < cnt; g++) { value_free(ab->cols[a][g]); ab->cols[a][g] = r[g]; }
                    free(r);
                }
            if (rc < 0) {
                /* the states of the groups after this batch were never finalised */
                for (size_t g = g0 + cnt; g < ngroups; g++)
                    for (int a = 0; a < na; a++)
                        if (p->aggs[a].def->destroy) p->aggs[a].def->destroy(states + g * sh.stride + sh.off[a]);
                batch_free(ab);
                break;
            }
            Batch *o = batch_new(p->schema->n, cnt);
            o->n = cnt;
            for (int k = 0; k < nk; k++)
                for (size_t g = 0; g < cnt; g++) o->cols[k][g] = value_copy(keycols[k][g0 + g]);
            for (int i = nk; i < p->nexprs; i++) {
                Value *c = eval_batch(op->ex, p->exprs[i], ab);
                if (!c) { rc = -1; break; }
                int tofloat = p->schema->types[i]->kind == TY_FLOAT;
                for (size_t g = 0; g < cnt; g++) {
                    if (tofloat && c[g].kind == V_INT) c[g] = v_float((double)c[g].u.i);
                    o->cols[i][g] = c[g];
                }
                free(c);
            }
            batch_free(ab);
            table_add_batch(t, o);
            if (rc < 0) {
                for (size_t g = g0 + cnt; g < ngroups; g++)
                    for (int a = 0; a < na; a++)
                        if (p->aggs[a].def->destroy) p->aggs[a].def->destroy(states + g * sh.stride + sh.off[a]);
                break;
            }
        }
        /* states were consumed by final() */
        for (int q = 0; q < nt; q++) parts[q].ninit = 0;
    }
    if (merged) {
        free(states);
        for (int k = 0; k < nk; k++) free(keycols[k]);
    }
    free(keycols);
    for (int q = 0; q < nt; q++) part_free(&sh, &parts[q], rc < 0);
    free(parts);
    free(sh.off);
    free(sh.need);
    if (rc < 0) { table_free(t); return -1; }
    op->mat = t;
    if (nt > 1) op->detail = xasprintf("%d threads (groups partitioned by key)", nt);
    else if (mode == AGG_EVAL) op->detail = xasprintf("%d threads (keys and arguments evaluated on them)", core_threads(op->ex));
    return core_next_mat(op, out);
}
