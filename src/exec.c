/* exec.c: the executor. Turns a Plan into a tree of pull-based operators that pass Batches.
 *
 * Each operator's next() returns 1 with a new batch (the caller owns it), 0 at the end, or -1 after
 * filling the error. Streaming operators (scan, where, select, derive, limit, explode, unnest, union
 * all, write) hold one batch at a time; blocking ones (order by, group by, distinct's seen-set, the
 * build side of a join) hold what they must.
 * Expressions are evaluated a batch at a time: eval_batch() returns one Value per row.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/time.h>
#include <jansson.h>
#include "rt.h"
#include "system.h"
#include "ops.h"
#include "models.h"
#include "state.h"
#include "cascade.h"
#include "exec.h"
#include "semop.h"
#include "udf.h"
#include "keytab.h"
#include "pool.h"

/* ---- operators ---- */


static Op *op_build(Exec *ex, const Plan *p);
static Table *exec_run(Runtime *rt, Plan *p, int analyze, fql_error *err);

static void par_free(struct ParStage *ps);

static void op_free(Op *op)
{
    if (!op) return;
    par_free(op->par);   /* its workers stop before the operators they run are freed */
    if (op->close) op->close(op);
    free(op->detail);
    op_free(op->child);
    op_free(op->right);
    reader_free(op->reader);
    table_free(op->mat);
    table_free(op->build);
    if (op->kt_on) kt_free(&op->kt);
    free(op->chain);
    free(op->rmatched);
    free(op->eqk_l);
    free(op->eqk_r);
    free(op->resid);
    free(op);
}


/* Read the file's next batch; under `set partition = "I/N"` only the rows of partition I (by
 * their number in the source, rt_partition_of), unless the scan is a join's other side. */
static int next_scan(Op *op, Batch **out)
{
    if (!op->reader) {
        ReadOptions ro = op->p->ropts;
        ro.threads = op->scan_threads;
        op->reader = reader_open(op->p->path, &ro, op->ex->err);
        if (!op->reader) return -1;
    }
    const Runtime *rt = op->ex->rt;
    int n = rt && !op->whole ? rt->part_n : 0;
    for (;;) {
        int rc = reader_next(op->reader, out, op->ex->err);
        int nt = reader_threads(op->reader);   /* the threads that took part so far */
        if (nt > 1 && nt != op->scan_used) {
            op->scan_used = nt;
            free(op->detail);
            op->detail = xasprintf(op->p->ropts.format == FMT_PARQUET ? "row groups decoded on %d threads" : "records converted on %d threads", nt);
        }
        if (rc != 1 || n <= 1) return rc;
        Batch *in = *out, *o = batch_new(in->ncols, in->n);
        for (size_t r = 0; r < in->n; r++)
            if (rt_partition_of(op->scan_row + (int64_t)r, n) == rt->part_i) batch_copy_row(o, in, r);
        op->scan_row += (int64_t)in->n;
        batch_free(in);
        *out = o;
        if (o->n) return 1;
        batch_free(o);
        *out = NULL;
    }
}

/* Mark the scans under op as read whole: the other side of a join is joined in full with the
 * partition's rows, so that the partitions' results together are the join of all rows. */
static void scans_whole(Op *op)
{
    for (; op; op = op->child) {
        op->whole = 1;
        scans_whole(op->right);
    }
}

/* Keep the rows for which every conjunct is true, testing each conjunct only on the rows that
 * passed the ones before (the optimizer orders them cheapest first). Consumes in; *out is NULL
 * when no row passes. */
static int apply_filter(Op *op, Exec *ex, Batch *in, Batch **out)
{
    *out = NULL;
    for (int k = 0; k < op->p->nexprs; k++) {
        Value *c = eval_batch(ex, op->p->exprs[k], in);
        if (!c) { batch_free(in); return -1; }
        Batch *o = batch_new(in->ncols, in->n);
        o->plain = in->plain;   /* o holds in's rows */
        for (size_t r = 0; r < in->n; r++)
            if (value_true(c[r])) batch_copy_row(o, in, r);
        eval_vals_free(c, in->n);
        batch_free(in);
        in = o;
        if (!in->n) break;
    }
    if (in->n) *out = in; else batch_free(in);
    return 0;
}

static int apply_project(Op *op, Exec *ex, Batch *in, Batch **out)
{
    const Plan *p = op->p;
    Batch *o = batch_new(p->nexprs, 0);
    o->n = o->cap = in->n;
    for (int k = 0; k < p->nexprs; k++) {
        Value *c = eval_batch(ex, p->exprs[k], in);
        if (!c) {
            for (int q = 0; q < k; q++) { eval_vals_free(o->cols[q], in->n); o->cols[q] = NULL; }
            o->n = 0;
            batch_free(o);
            batch_free(in);
            return -1;
        }
        free(o->cols[k]);
        o->cols[k] = c;
        /* an int column declared float (e.g. union with floats) */
        if (p->schema->types[k]->kind == TY_FLOAT)
            for (size_t r = 0; r < in->n; r++)
                if (c[r].kind == V_INT) c[r] = v_float((double)c[r].u.i);
    }
    batch_free(in);
    *out = o;
    return 0;
}

static int apply_derive(Op *op, Exec *ex, Batch *in, Batch **out)
{
    const Plan *p = op->p;
    int nout = p->schema->n;
    if (in->ncols < nout) {
        in->cols = xrealloc(in->cols, (size_t)nout * sizeof *in->cols);
        for (int c = in->ncols; c < nout; c++) {
            in->cols[c] = eval_vals_new(in->cap);
            in->plain &= ~batch_bit(c);
        }
        in->ncols = nout;
    }
    for (int k = 0; k < p->nexprs; k++) {
        Value *c = eval_batch(ex, p->exprs[k], in);
        if (!c) { batch_free(in); return -1; }
        int t = p->targets[k];
        batch_own(in, t);
        /* the batch's column arrays have capacity cap: keep that invariant */
        if (!(in->plain & batch_bit(t))) values_free(in->cols[t], in->n);
        memcpy(in->cols[t], c, in->n * sizeof *c);
        in->plain &= ~batch_bit(t);
        free(c);
    }
    *out = in;
    return 0;
}

/* where / select / derive without model calls: one child batch at a time */
static int next_apply(Op *op, Batch **out)
{
    Batch *in;
    int rc;
    while ((rc = op->child->next(op->child, &in)) == 1) {
        Batch *o;
        if (op->apply(op, op->ex, in, &o)) return -1;
        if (o) { *out = o; return 1; }
    }
    return rc;
}

/* ---- stages with model calls: streaming ----
 *
 * A stage whose expressions call models cuts its input into pieces of PIECE_ROWS rows and starts
 * the model work of up to WINDOW_ROWS rows ahead (semantic_start) before it waits for the oldest
 * piece (semantic_finish). Waiting runs the scheduler, which moves every started piece of every
 * stage on, so a later stage works on the pieces an earlier one has finished while the earlier one
 * goes on with the next: two stages on two providers overlap. Pieces leave in input order. Memory
 * is bounded by the window, not the input. A limit pushed down (Plan.row_bound) caps the rows the
 * stage ever takes from its input, so `limit 5` sends at most 5 requests. */

#define PIECE_ROWS  8
#define WINDOW_ROWS 2048
/* measured order: rows in flight while no condition has a measured pass rate yet */
#define PROBE_ROWS  64

/* One condition of a stage of consecutive model filters (measured order): its plan node, its
 * model calls, and the rows it was tested on and passed (its measured selectivity). */
struct Cond { Plan *p; const Expr *e; const Expr **semx; int nsemx; int64_t tested, passed; };

/* A piece of input rows in flight. For a stage of several model filters: the conditions it has
 * passed (done), the one its jobs answer (cur), the input rows it started with (nin). */
struct Piece { Batch *b; SemJob **jobs; struct Piece *next; unsigned done; int cur, njobs, finished; size_t nin; };


static void piece_free(struct Piece *pc, int njobs)
{
    if (!pc) return;
    for (int i = 0; i < njobs; i++) semantic_job_free(pc->jobs[i]);
    free(pc->jobs);
    batch_free(pc->b);
    free(pc);
}

/* Rows a piece takes: PIECE_ROWS, or as many as a pack holds (pack: N; "auto", also by default for
 * a packable operator on a model with structured output, packs up to 50 rows from a piece of 200). */
static size_t piece_rows(const Op *op)
{
    size_t piece = PIECE_ROWS;
    for (int i = 0; i < op->nsemx; i++) {
        size_t p = op->ex->rt ? semantic_pack_rows(op->ex->rt, op->semx[i]) : 0;
        if (p > piece) piece = p;
    }
    return piece;
}

/* The next piece of input: up to PIECE_ROWS rows (at most max), within the row bound. 1, 0 at the
 * end, -1. */
static int take_piece(Op *op, size_t max, Batch **out)
{
    int64_t bound = op->p->row_bound;
    if (bound >= 0 && op->pulled >= bound) return 0;
    size_t piece = op->piece_rows;
    if (max < piece) piece = max ? max : 1;
    while (!op->carry || op->carry_pos >= op->carry->n) {
        batch_free(op->carry);
        op->carry = NULL;
        op->carry_pos = 0;
        int rc = op->child->next(op->child, &op->carry);
        if (rc != 1) { op->carry = NULL; return rc; }
    }
    size_t want = op->carry->n - op->carry_pos;
    if (want > piece) want = piece;
    if (bound >= 0 && (int64_t)want > bound - op->pulled) want = (size_t)(bound - op->pulled);
    Batch *b = batch_new(op->carry->ncols, want);
    for (size_t r = 0; r < want; r++) batch_copy_row(b, op->carry, op->carry_pos + r);
    op->carry_pos += want;
    op->pulled += (int64_t)want;
    *out = b;
    return 1;
}

/* Measured order: the condition a piece that passed `done` tests next. Rank (s - 1) / cost, lowest
 * first, s the measured pass rate with one pass and one failure assumed (an untested condition
 * counts 0.5), cost its model calls; equal ranks keep the optimizer's order. */
static int pick_cond(const Op *op, unsigned done)
{
    int best = -1;
    double br = 0;
    for (int i = 0; i < op->nconds; i++) {
        if (done & (1u << i)) continue;
        const struct Cond *c = &op->conds[i];
        double sel = ((double)c->passed + 1) / ((double)c->tested + 2);
        double r = (sel - 1) / (c->nsemx ? c->nsemx : 1);
        if (best < 0 || r < br - 1e-12) { best = i; br = r; }
    }
    return best;
}

/* Start the jobs of the piece's next condition (measured order) over its rows. */
static int start_cond(Op *op, struct Piece *pc)
{
    pc->cur = pick_cond(op, pc->done);
    const struct Cond *c = &op->conds[pc->cur];
    free(pc->jobs);
    pc->jobs = xcalloc((size_t)c->nsemx + 1, sizeof *pc->jobs);
    pc->njobs = c->nsemx;
    if (core_start_jobs(op, c->semx, c->nsemx, pc->b, pc->jobs)) { pc->njobs = 0; return -1; }
    return 0;
}

static int start_piece(Op *op, Batch *b)
{
    struct Piece *pc = xcalloc(1, sizeof *pc);
    pc->b = b;
    pc->nin = b->n;
    if (op->nconds) {
        if (start_cond(op, pc)) { piece_free(pc, 0); return -1; }
    } else {
        pc->jobs = xcalloc((size_t)op->nsemx + 1, sizeof *pc->jobs);
        pc->njobs = op->nsemx;
        if (core_start_jobs(op, op->semx, op->nsemx, b, pc->jobs)) { piece_free(pc, 0); return -1; }
    }
    if (op->qt) op->qt->next = pc; else op->qh = pc;
    op->qt = pc;
    op->qrows += b->n;
    return 0;
}

/* Measured order: test the piece's current condition (waiting for its answers), keep the rows
 * that pass, and start the next condition on them; finished when all passed or no row is left. */
static int advance_piece(Op *op, struct Piece *pc)
{
    struct Cond *c = &op->conds[pc->cur];
    op->ex->cur_x = c->semx;
    op->ex->cur_j = pc->jobs;
    op->ex->ncur = c->nsemx;
    Value *v = eval_batch(op->ex, c->e, pc->b);
    op->ex->ncur = 0;
    for (int i = 0; i < pc->njobs; i++) semantic_job_free(pc->jobs[i]);
    pc->njobs = 0;
    if (!v) return -1;
    Batch *o = batch_new(pc->b->ncols, pc->b->n);
    for (size_t r = 0; r < pc->b->n; r++)
        if (value_true(v[r])) batch_copy_row(o, pc->b, r);
    eval_vals_free(v, pc->b->n);
    c->tested += (int64_t)pc->b->n;
    c->passed += (int64_t)o->n;
    batch_free(pc->b);
    pc->b = o;
    pc->done |= 1u << pc->cur;
    if (!o->n || pc->done == (1u << op->nconds) - 1) { pc->finished = 1; return 0; }
    return start_cond(op, pc);
}

/* Measured order: finish the oldest piece; meanwhile every other piece whose answers are in moves
 * to its next condition (so the conditions after the first overlap as the first does). */
static int finish_head(Op *op)
{
    struct Piece *head = op->qh;
    while (!head->finished) {
        if (advance_piece(op, head)) return -1;
        for (struct Piece *pc = head->next; pc; pc = pc->next) {
            int ready = !pc->finished;
            for (int i = 0; ready && i < pc->njobs; i++) ready = semantic_job_ready(pc->jobs[i]);
            while (ready && !pc->finished) {
                if (advance_piece(op, pc)) return -1;
                ready = 0;
            }
        }
    }
    return 0;
}

/* Has some condition of a measured-order stage been tested on enough rows to rank it? */
static int conds_measured(const Op *op)
{
    for (int i = 0; i < op->nconds; i++)
        if (op->conds[i].tested >= PIECE_ROWS) return 1;
    return 0;
}

static int next_stream(Op *op, Batch **out)
{
    for (;;) {
        for (;;) {
            /* under a limit the first wave is a few rows even when pieces are large for packing,
             * so a pack never holds more rows than the wave allows */
            size_t allow = core_wave(op, op->p->want_rows >= 0 ? PIECE_ROWS : op->piece_rows, WINDOW_ROWS, op->qrows);
            if (op->nconds && !conds_measured(op) && allow > PROBE_ROWS) allow = PROBE_ROWS;
            if (op->child_done || op->qrows >= allow) break;
            Batch *b = NULL;
            /* under a limit a piece stays within the wave; else pieces are whole, as they always were */
            size_t max = op->p->want_rows >= 0 || op->nconds ? allow - op->qrows : op->piece_rows;
            int rc = take_piece(op, max, &b);
            if (rc < 0) return -1;
            if (rc == 0) { op->child_done = 1; break; }
            if (start_piece(op, b)) return -1;
        }
        struct Piece *pc = op->qh;
        if (!pc) return 0;
        if (op->nconds && finish_head(op)) return -1;
        op->qh = pc->next;
        if (!op->qh) op->qt = NULL;
        op->qrows -= pc->nin;
        Batch *in = pc->b, *o = NULL;
        pc->b = NULL;
        int rc = 0;
        if (op->nconds) o = in;
        else {
            /* evaluate the stage on the piece: its model calls read the started jobs */
            op->ex->cur_x = op->semx;
            op->ex->cur_j = pc->jobs;
            op->ex->ncur = op->nsemx;
            rc = op->apply(op, op->ex, in, &o);
            op->ex->ncur = 0;
        }
        op->done_in += (int64_t)pc->nin;
        piece_free(pc, pc->njobs);
        if (op->ex->rt && op->ex->rt->state) state_commit(op->ex->rt->state);
        if (rc) return -1;
        if (o && o->n) { op->out_own += (int64_t)o->n; *out = o; return 1; }
        batch_free(o);
    }
}

static void close_stream(Op *op)
{
    while (op->qh) {
        struct Piece *pc = op->qh;
        op->qh = pc->next;
        piece_free(pc, pc->njobs);
    }
    op->qt = NULL;
    batch_free(op->carry);
    op->carry = NULL;
    free(op->semx);
    op->semx = NULL;
    for (int i = 0; i < op->nconds; i++) free(op->conds[i].semx);
    free(op->conds);
    op->conds = NULL;
    op->nconds = 0;
}

/* ---- stages with cascades (cascade.c) ----
 *
 * A cascade learns its thresholds over the whole input (cascade.c says why), so its stage reads
 * all of its input first (a pipeline breaker, like sort) and evaluates its expressions over one
 * batch: each cascade call is run by cascade_eval, innermost first, and its answers are read by the
 * evaluator (Exec.pre_*); the stage's other model calls run as they would unstaged. */

/* A filter over the whole batch: every conjunct on every row (the cascades' answers are per row of
 * this batch), kept where all are true. Consumes in. */
static int cascade_filter(Op *op, Batch *in, Batch **out)
{
    char *keep = xmalloc(in->n ? in->n : 1);
    memset(keep, 1, in->n ? in->n : 1);
    for (int k = 0; k < op->p->nexprs; k++) {
        Value *c = eval_batch(op->ex, op->p->exprs[k], in);
        if (!c) { free(keep); batch_free(in); return -1; }
        for (size_t r = 0; r < in->n; r++) keep[r] &= value_true(c[r]) ? 1 : 0;
        eval_vals_free(c, in->n);
    }
    Batch *o = batch_new(in->ncols, in->n);
    for (size_t r = 0; r < in->n; r++)
        if (keep[r]) batch_copy_row(o, in, r);
    free(keep);
    batch_free(in);
    *out = o;
    return 0;
}

static int next_cascade(Op *op, Batch **out)
{
    if (op->child_done) return 0;
    op->child_done = 1;
    Exec *ex = op->ex;
    Table *t = core_drain(op->child);
    if (!t) return -1;
    int64_t bound = op->p->row_bound;
    size_t total = bound >= 0 && (size_t)bound < t->nrows ? (size_t)bound : t->nrows;
    Batch *all = batch_new(t->schema->n, total);
    for (int i = 0; i < t->nbatches && all->n < total; i++)
        for (size_t r = 0; t->batches[i] && r < t->batches[i]->n && all->n < total; r++) batch_copy_row(all, t->batches[i], r);
    table_free(t);
    if (!all->n) { batch_free(all); return 0; }
    size_t n = all->n;
    Batch *o = NULL;
    int rc = core_cascade_begin(op, op->p->exprs, op->p->nexprs, all);
    if (!rc) rc = op->p->kind == P_FILTER ? cascade_filter(op, all, &o) : op->apply(op, ex, all, &o);   /* consumes all */
    else batch_free(all);
    core_cascade_end(op);
    op->done_in += (int64_t)n;
    if (ex->rt && ex->rt->state) state_commit(ex->rt->state);
    if (rc) return -1;
    if (o && o->n) { op->out_own += (int64_t)o->n; *out = o; return 1; }
    batch_free(o);
    return 0;
}

static int next_limit(Op *op, Batch **out)
{
    const Plan *p = op->p;
    Batch *in;
    int rc;
    while (op->emitted < p->limit && (rc = op->child->next(op->child, &in)) == 1) {
        Batch *o = batch_new(in->ncols, in->n);
        for (size_t r = 0; r < in->n; r++) {
            if (op->skipped < p->offset) { op->skipped++; continue; }
            if (op->emitted >= p->limit) break;
            batch_copy_row(o, in, r);
            op->emitted++;
        }
        batch_free(in);
        if (o->n) { *out = o; return 1; }
        batch_free(o);
    }
    if (op->emitted >= p->limit) return 0;
    return rc;
}

/* Key values of row r from evaluated key columns. */
static int next_distinct(Op *op, Batch **out)
{
    const Plan *p = op->p;
    Batch *in;
    int rc;
    while ((rc = op->child->next(op->child, &in)) == 1) {
        int nk = p->nexprs ? p->nexprs : in->ncols;
        Value **keys = xcalloc((size_t)nk + 1, sizeof *keys);
        for (int k = 0; k < p->nexprs; k++)
            if (!(keys[k] = eval_batch(op->ex, p->exprs[k], in))) {
                for (int q = 0; q < k; q++) eval_vals_free(keys[q], in->n);
                free(keys);
                batch_free(in);
                return -1;
            }
        if (!op->kt_on) { kt_init(&op->kt, nk); op->kt_on = 1; }
        Batch *o = batch_new(in->ncols, in->n);
        Value **cols = xcalloc((size_t)nk + 1, sizeof *cols);
        for (int k = 0; k < nk; k++) cols[k] = p->nexprs ? keys[k] : in->cols[k];
        int64_t *ids = xmalloc((in->n ? in->n : 1) * sizeof *ids), next = (int64_t)op->kt.n;
        kt_ids(&op->kt, cols, in->n, 1, 0, ids);
        for (size_t r = 0; r < in->n; r++)
            if (ids[r] == next) {   /* ids are dense: a key seen first here gets the next one */
                batch_copy_row(o, in, r);
                next++;
            }
        free(ids);
        free(cols);
        for (int k = 0; k < p->nexprs; k++) eval_vals_free(keys[k], in->n);
        free(keys);
        batch_free(in);
        if (o->n) { *out = o; return 1; }
        batch_free(o);
    }
    return rc;
}

static int next_union(Op *op, Batch **out)
{
    for (;;) {
        Op *src = op->phase == 0 ? op->child : op->right;
        Batch *in;
        int rc = src->next(src, &in);
        if (rc < 0) return -1;
        if (rc == 0) {
            if (op->phase == 0) { op->phase = 1; continue; }
            return 0;
        }
        /* widen ints to floats where the union's column is float */
        for (int c = 0; c < in->ncols; c++)
            if (op->p->schema->types[c]->kind == TY_FLOAT)
                for (size_t r = 0; r < in->n; r++)
                    if (in->cols[c][r].kind == V_INT) in->cols[c][r] = v_float((double)in->cols[c][r].u.i);
        if (op->p->all) { *out = in; return 1; }
        if (!op->kt_on) { kt_init(&op->kt, in->ncols); op->kt_on = 1; }
        Batch *o = batch_new(in->ncols, in->n);
        Value *row = xcalloc((size_t)in->ncols + 1, sizeof *row);
        for (size_t r = 0; r < in->n; r++) {
            for (int k = 0; k < in->ncols; k++) row[k] = in->cols[k][r];
            int added;
            kt_lookup(&op->kt, row, 1, &added);
            if (added) batch_copy_row(o, in, r);
        }
        free(row);
        batch_free(in);
        if (o->n) { *out = o; return 1; }
        batch_free(o);
    }
}

static int next_explode(Op *op, Batch **out)
{
    const Plan *p = op->p;
    Batch *in;
    int rc;
    while ((rc = op->child->next(op->child, &in)) == 1) {
        int nout = p->schema->n;
        Batch *o = batch_new(nout, in->n);
        Value *row = xcalloc((size_t)nout + 1, sizeof *row);
        for (size_t r = 0; r < in->n; r++) {
            Value lv = in->cols[p->col][r];
            json_t *arr = NULL;
            int64_t len = 0;
            if (lv.kind == V_LIST) len = lv.u.l->n;
            else if (lv.kind == V_JSON) {
                json_error_t je;
                arr = json_loadb(v_str(lv), v_strlen(lv), JSON_DECODE_ANY, &je);
                if (arr && json_is_array(arr)) len = (int64_t)json_array_size(arr);
            }
            if (len == 0 && !p->outer) { json_decref(arr); continue; }
            for (int64_t k = 0; k < (len ? len : 1); k++) {
                for (int c = 0; c < in->ncols; c++) row[c] = c == p->col ? v_null() : value_copy(in->cols[c][r]);
                if (len) {
                    if (lv.kind == V_LIST) row[p->col] = value_copy(lv.u.l->items[k]);
                    else {
                        char *txt = json_dumps(json_array_get(arr, (size_t)k), JSON_ENCODE_ANY | JSON_COMPACT);
                        row[p->col] = txt ? v_json_text(txt, strlen(txt)) : v_null();
                        free(txt);
                    }
                }
                if (p->with_index) row[nout - 1] = len ? v_int(k) : v_null();
                batch_push_row(o, row);
            }
            json_decref(arr);
        }
        free(row);
        batch_free(in);
        if (o->n) { *out = o; return 1; }
        batch_free(o);
    }
    return rc;
}

static int next_unnest(Op *op, Batch **out)
{
    const Plan *p = op->p;
    Batch *in;
    int rc = op->child->next(op->child, &in);
    if (rc != 1) return rc;
    int nout = p->schema->n;
    const Type *st = op->child->p->schema->types[p->col];
    Batch *o = batch_new(nout, in->n);
    Value *row = xcalloc((size_t)nout + 1, sizeof *row);
    for (size_t r = 0; r < in->n; r++) {
        int k = 0;
        for (int c = 0; c < in->ncols; c++) {
            if (c == p->col) {
                Value sv = in->cols[c][r];
                for (int f = 0; f < st->nfields; f++) {
                    Value fv = v_null();
                    if (sv.kind == V_STRUCT) {
                        int fi = type_field_index(sv.u.st->type, st->fields[f].name);
                        if (fi >= 0) fv = value_copy(sv.u.st->fields[fi]);
                    }
                    row[k++] = fv;
                }
            } else row[k++] = value_copy(in->cols[c][r]);
        }
        batch_push_row(o, row);
    }
    free(row);
    batch_free(in);
    *out = o;
    return 1;
}


/* order by ... limit N (the optimizer's row_bound on the sort): a bounded max-heap of the N first
 * rows in sort order, input order breaking ties as the stable sort does. Each kept row holds its
 * keys and values (owned); a row that sorts after the heap's top is never copied. */
typedef struct TopRow { Value *keys, *vals; size_t seq; } TopRow;
enum { TOP_N_MAX = 1000000 };   /* above, a full sort (a row copied per kept row costs more than sorting indices) */
typedef struct TopHeap { TopRow *r; size_t n, cap; int nk; const int *desc, *nulls_first; } TopHeap;

static int top_cmp(const TopHeap *h, const Value *ka, size_t sa, const Value *kb, size_t sb)
{
    for (int k = 0; k < h->nk; k++) {
        Value x = ka[k], y = kb[k];
        int c;
        if (x.kind == V_NULL || y.kind == V_NULL) {
            if (x.kind == y.kind) continue;
            c = x.kind == V_NULL ? -1 : 1;
            return h->nulls_first[k] ? c : -c;
        }
        if ((c = value_cmp(x, y))) return h->desc[k] ? -c : c;
    }
    return (sa > sb) - (sa < sb);
}

static void top_sift_down(TopHeap *h, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, m = i;
        if (l < h->n && top_cmp(h, h->r[l].keys, h->r[l].seq, h->r[m].keys, h->r[m].seq) > 0) m = l;
        if (l + 1 < h->n && top_cmp(h, h->r[l + 1].keys, h->r[l + 1].seq, h->r[m].keys, h->r[m].seq) > 0) m = l + 1;
        if (m == i) return;
        TopRow t = h->r[i]; h->r[i] = h->r[m]; h->r[m] = t;
        i = m;
    }
}

static void top_row_free(TopRow *r, int nk, int ncols)
{
    for (int k = 0; k < nk; k++) value_free(r->keys[k]);
    for (int c = 0; c < ncols; c++) value_free(r->vals[c]);
    free(r->keys);
    free(r->vals);
}

static int by_top(const void *a, const void *b, void *h)
{
    const TopRow *x = a, *y = b;
    return top_cmp(h, x->keys, x->seq, y->keys, y->seq);
}

static int sort_top_n(Op *op)
{
    const Plan *p = op->p;
    TopHeap h = { NULL, 0, (size_t)p->row_bound, p->nexprs, p->desc, p->nulls_first };
    size_t room = h.cap < 1024 ? h.cap : 1024;   /* grown as rows come: a large limit on few rows stays small */
    h.r = xmalloc((room ? room : 1) * sizeof *h.r);
    int ncols = p->schema->n, rc;
    size_t seq = 0;
    Batch *in;
    Value *kr = xcalloc((size_t)h.nk + 1, sizeof *kr);
    while (h.cap && (rc = op->child->next(op->child, &in)) == 1) {
        Value **keys = xcalloc((size_t)h.nk + 1, sizeof *keys);
        int bad = 0;
        for (int k = 0; k < h.nk && !bad; k++)   /* a column is read where it is (borrowed) */
            bad = !(keys[k] = p->exprs[k]->kind == E_COL ? in->cols[p->exprs[k]->ival] : eval_batch(op->ex, p->exprs[k], in));
        for (size_t r = 0; !bad && r < in->n; r++, seq++) {
            for (int k = 0; k < h.nk; k++) kr[k] = keys[k][r];
            if (h.n == h.cap && top_cmp(&h, kr, seq, h.r[0].keys, h.r[0].seq) >= 0) continue;
            TopRow t = { xmalloc((size_t)(h.nk ? h.nk : 1) * sizeof(Value)), xmalloc((size_t)(ncols ? ncols : 1) * sizeof(Value)), seq };
            for (int k = 0; k < h.nk; k++) t.keys[k] = value_copy(kr[k]);
            for (int c = 0; c < ncols; c++) t.vals[c] = value_copy(in->cols[c][r]);
            if (h.n == h.cap) {   /* replace the worst kept row */
                top_row_free(&h.r[0], h.nk, ncols);
                h.r[0] = t;
                top_sift_down(&h, 0);
            } else {               /* sift up */
                if (h.n == room) h.r = xrealloc(h.r, (room *= 2) * sizeof *h.r);
                size_t i = h.n++;
                h.r[i] = t;
                while (i > 0 && top_cmp(&h, h.r[(i - 1) / 2].keys, h.r[(i - 1) / 2].seq, h.r[i].keys, h.r[i].seq) < 0) {
                    TopRow x = h.r[i]; h.r[i] = h.r[(i - 1) / 2]; h.r[(i - 1) / 2] = x;
                    i = (i - 1) / 2;
                }
            }
        }
        for (int k = 0; k < h.nk; k++)
            if (p->exprs[k]->kind != E_COL) eval_vals_free(keys[k], in->n);
        free(keys);
        batch_free(in);
        if (bad) { rc = -1; break; }
    }
    if (!h.cap) rc = 0;
    free(kr);
    if (rc == 0) {
        qsort_r(h.r, h.n, sizeof *h.r, by_top, &h);
        op->mat = table_new(schema_copy(p->schema));
        Batch *o = NULL;
        for (size_t i = 0; i < h.n; i++) {
            if (!o) o = batch_new(ncols, h.n - i < BATCH_ROWS ? h.n - i : BATCH_ROWS);
            batch_push_row(o, h.r[i].vals);   /* takes the values */
            for (int k = 0; k < h.nk; k++) value_free(h.r[i].keys[k]);
            free(h.r[i].keys);
            free(h.r[i].vals);
            if (o->n == BATCH_ROWS) { table_add_batch(op->mat, o); o = NULL; }
        }
        if (o) table_add_batch(op->mat, o);
    } else
        for (size_t i = 0; i < h.n; i++) top_row_free(&h.r[i], h.nk, ncols);
    free(h.r);
    return rc;
}

static int next_sort(Op *op, Batch **out)
{
    if (op->p->row_bound >= 0 && op->p->row_bound <= TOP_N_MAX) {
        if (!op->mat && sort_top_n(op)) return -1;
        return core_next_mat(op, out);
    }
    return sort_next(op, out);   /* exec_sort.c */
}

/* join: hash join on the equality conjuncts of `on` (or `using`), nested loop otherwise */
static void split_and(Expr *e, Expr ***list, int *n)
{
    if (e->kind == E_BINOP && e->op == OP_AND) {
        split_and(e->args[0], list, n);
        split_and(e->args[1], list, n);
        return;
    }
    *list = xrealloc(*list, (size_t)(*n + 1) * sizeof **list);
    (*list)[(*n)++] = e;
}

/* Make equal strings of a build-side column one string object: the probe copies right values into
 * every matching output row, and a few shared strings stay in cache where one object per row
 * (as the readers make them) is a cache miss per output row. Gives up on a column whose values
 * are mostly distinct (nothing to gain). Values are immutable, so the rows read the same. */
static void share_strings(Value *col, size_t n)
{
    KeyTable kt;
    kt_init(&kt, 1);
    Value *one = NULL;
    int64_t id;
    for (size_t r = 0; r < n; r++) {
        if (col[r].kind != V_STRING) continue;
        one = &col[r];
        kt_ids(&kt, &one, 1, 1, 0, &id);
        Value v = kt_key(&kt, 0, (size_t)id);
        if (v.u.s != col[r].u.s) {
            value_free(col[r]);
            col[r] = value_copy(v);
        }
        if (r >= 1024 && kt.n * 2 > r) break;
    }
    kt_free(&kt);
}

static int join_prepare(Op *op)
{
    const Plan *p = op->p;
    int nl = p->child->schema->n;
    if (p->neq) {
        op->neqk = p->neq;
        op->eqk_l = xcalloc((size_t)p->neq, sizeof(int));
        op->eqk_r = xcalloc((size_t)p->neq, sizeof(int));
        memcpy(op->eqk_l, p->eq_left, (size_t)p->neq * sizeof(int));
        memcpy(op->eqk_r, p->eq_right, (size_t)p->neq * sizeof(int));
    } else if (p->nexprs) {
        Expr **conj = NULL;
        int nc = 0;
        split_and(p->exprs[0], &conj, &nc);
        for (int i = 0; i < nc; i++) {
            Expr *c = conj[i];
            if (c->kind == E_BINOP && c->op == OP_EQ && c->args[0]->kind == E_COL && c->args[1]->kind == E_COL) {
                int a = (int)c->args[0]->ival, b = (int)c->args[1]->ival;
                if (a >= nl && b < nl) { int t = a; a = b; b = t; }
                if (a < nl && b >= nl) {
                    op->eqk_l = xrealloc(op->eqk_l, (size_t)(op->neqk + 1) * sizeof(int));
                    op->eqk_r = xrealloc(op->eqk_r, (size_t)(op->neqk + 1) * sizeof(int));
                    op->eqk_l[op->neqk] = a;
                    op->eqk_r[op->neqk] = b - nl;
                    op->neqk++;
                    continue;
                }
            }
            op->resid = xrealloc(op->resid, (size_t)(op->nresid + 1) * sizeof *op->resid);
            op->resid[op->nresid++] = c;
        }
        free(conj);
    }
    op->build = core_drain(op->right);
    if (!op->build) return -1;
    table_flatten(op->build);
    size_t nr = op->build->nrows;
    op->rmatched = xcalloc(nr + 1, 1);
    if (op->neqk && nr) {
        /* the table's slots hold each key's first right row; chain links the rest in input order */
        Batch *rb = op->build->batches[0];
        batch_find_plain(rb);   /* the output's columns from plain ones are plain */
        Value **kcols = xcalloc((size_t)op->neqk, sizeof *kcols);
        for (int k = 0; k < op->neqk; k++) kcols[k] = rb->cols[op->eqk_r[k]];
        kt_init_borrowed(&op->kt, op->neqk, kcols);
        free(kcols);
        op->kt_on = 1;
        op->chain = xmalloc(nr * sizeof *op->chain);
        /* insert in reverse so that chains list right rows in input order */
        for (size_t r = nr; r-- > 0;) {
            op->chain[r] = -1;
            int hasnull = 0;
            for (int k = 0; k < op->neqk; k++)
                if (rb->cols[op->eqk_r[k]][r].kind == V_NULL) hasnull = 1;
            if (hasnull) continue;   /* null never equals anything */
            KtSlot *s = kt_claim(&op->kt, r);
            op->chain[r] = s->id;
            s->id = (int64_t)r;
        }
        kt_freeze(&op->kt);   /* small int keys: probes read a direct map (before any thread probes) */
        /* every key once (a dimension's primary key): probes never read the chains */
        op->unique = 1;
        for (size_t r = 0; r < nr && op->unique; r++) op->unique = op->chain[r] < 0;
        for (int k = 0; k < p->schema->n; k++)
            if (p->targets[k] >= nl) share_strings(rb->cols[p->targets[k] - nl], nr);
    }
    return 0;
}

/* The pairs (left row, right row) of one probed batch, in output order; rr < 0: no right row. */
typedef struct Pairs { size_t n, cap; size_t *l; int64_t *r; } Pairs;

static void pairs_push(Pairs *ps, size_t l, int64_t r)
{
    if (ps->n == ps->cap) {
        ps->cap = ps->cap ? ps->cap * 2 : 1024;
        ps->l = xrealloc(ps->l, ps->cap * sizeof *ps->l);
        ps->r = xrealloc(ps->r, ps->cap * sizeof *ps->r);
    }
    ps->l[ps->n] = l;
    ps->r[ps->n] = r;
    ps->n++;
}

static void pairs_free(Pairs *ps) { free(ps->l); free(ps->r); }

/* Keep the candidate pairs that pass the residual conditions: they are evaluated over batches of
 * gathered pairs (left columns ++ right columns), not a pair at a time. 0, or -1 with the error. */
static int join_residual(Op *op, Exec *ex, Batch *lb, const Batch *rb, Pairs *ps)
{
    int nl = lb->ncols, nr = rb->ncols;
    size_t kept = 0;
    for (size_t p0 = 0; p0 < ps->n; p0 += BATCH_ROWS) {
        size_t cnt = ps->n - p0 < BATCH_ROWS ? ps->n - p0 : BATCH_ROWS;
        Batch *pair = batch_new(nl + nr, cnt);
        pair->n = cnt;
        for (int c = 0; c < nl; c++)
            for (size_t i = 0; i < cnt; i++) pair->cols[c][i] = value_copy(lb->cols[c][ps->l[p0 + i]]);
        for (int c = 0; c < nr; c++)
            for (size_t i = 0; i < cnt; i++) pair->cols[nl + c][i] = value_copy(rb->cols[c][ps->r[p0 + i]]);
        char *ok = xmalloc(cnt);
        memset(ok, 1, cnt);
        for (int k = 0; k < op->nresid; k++) {
            Value *v = eval_batch(ex, op->resid[k], pair);
            if (!v) { free(ok); batch_free(pair); return -1; }
            for (size_t i = 0; i < cnt; i++) ok[i] = ok[i] && value_true(v[i]);
            eval_vals_free(v, cnt);
        }
        for (size_t i = 0; i < cnt; i++)
            if (ok[i]) { ps->l[kept] = ps->l[p0 + i]; ps->r[kept] = ps->r[p0 + i]; kept++; }
        free(ok);
        batch_free(pair);
    }
    ps->n = kept;
    return 0;
}

/* The output batch of pairs ps (left rows of lb, right rows of rb), a column at a time. A left
 * value used once is moved out of lb (which the caller frees), not copied. */
static Batch *join_gather(const Plan *p, Batch *lb, const Batch *rb, const Pairs *ps, int left_once)
{
    int nl = p->child->schema->n, nout = p->schema->n;
    Batch *o = batch_new(nout, ps->n);
    o->n = ps->n;
    for (int k = 0; k < nout; k++) {
        int c = p->targets[k], uses = 0;
        Value *dst = o->cols[k];
        if (p->unread && p->unread[k]) {   /* read by nothing above: nulls (batch_new's zeroed cells are) */
            memset(dst, 0, ps->n * sizeof *dst);   /* v_null() is all zero bytes */
            o->plain |= batch_bit(k);
            continue;
        }
        if (c < nl ? lb->plain & batch_bit(c) : rb && rb->plain & batch_bit(c - nl)) o->plain |= batch_bit(k);
        if (c >= nl) {
            const Value *src = rb ? rb->cols[c - nl] : NULL;
            for (size_t i = 0; i < ps->n; i++) {
                /* right rows are random reads: fetch the cells ahead */
                if (i + 32 < ps->n && ps->r[i + 32] >= 0) __builtin_prefetch(&src[ps->r[i + 32]]);
                dst[i] = ps->r[i] >= 0 ? src[ps->r[i]] : v_null();
            }
            values_ref(dst, ps->n);   /* the references, one change per object */
            continue;
        }
        for (int q = 0; q < nout; q++) uses += p->targets[q] == c && !(p->unread && p->unread[q]);
        Value *src = lb->cols[c];
        if (lb->shared & batch_bit(c))   /* nulls nothing reads */
            memset(dst, 0, ps->n * sizeof *dst);
        else if (left_once && uses == 1)
            for (size_t i = 0; i < ps->n; i++) { dst[i] = src[ps->l[i]]; src[ps->l[i]] = v_null(); }
        else {
            for (size_t i = 0; i < ps->n; i++) dst[i] = src[ps->l[i]];
            values_ref(dst, ps->n);
        }
    }
    return o;
}

/* Probe batch lb against the hash table: the output batch (NULL when it has no rows), or -1 with
 * the error. Takes lb. */
static int join_probe(Op *op, Exec *ex, Batch *lb, Batch **out)
{
    const Plan *p = op->p;
    const Batch *rb = op->build->nbatches ? op->build->batches[0] : NULL;
    int jt = p->jointype, outer = jt == JOIN_LEFT || jt == JOIN_FULL;
    size_t n = lb->n;
    int64_t *head = xmalloc((n ? n : 1) * sizeof *head);
    if (op->kt_on) {
        Value **lk = xcalloc((size_t)op->neqk, sizeof *lk);
        for (int k = 0; k < op->neqk; k++) lk[k] = lb->cols[op->eqk_l[k]];
        kt_ids(&op->kt, lk, n, 0, 1, head);   /* a null key matches nothing */
        free(lk);
    } else {
        for (size_t i = 0; i < n; i++) head[i] = -1;
    }
    Pairs cand = { 0 };
    if (op->unique)
        for (size_t l = 0; l < n; l++) {
            if (head[l] >= 0) pairs_push(&cand, l, head[l]);
        }
    else
        for (size_t l = 0; l < n; l++)
            for (int64_t r = head[l]; r >= 0; r = op->chain[r]) pairs_push(&cand, l, r);
    free(head);
    if (op->nresid && cand.n && join_residual(op, ex, lb, rb, &cand)) {
        pairs_free(&cand);
        batch_free(lb);
        return -1;
    }
    Pairs ps = { 0 };
    const Pairs *use = &cand;
    int left_once = 1;
    if (outer) {   /* the unmatched left rows, each in its place */
        size_t j = 0;
        for (size_t l = 0; l < n; l++) {
            if (j == cand.n || cand.l[j] != l) { pairs_push(&ps, l, -1); continue; }
            for (; j < cand.n && cand.l[j] == l; j++) pairs_push(&ps, l, cand.r[j]);
        }
        use = &ps;
    }
    int mark = jt == JOIN_RIGHT || jt == JOIN_FULL;   /* only those read rmatched (and they run on one thread) */
    for (size_t i = 0; i < use->n; i++) {
        if (mark && use->r[i] >= 0) op->rmatched[use->r[i]] = 1;
        if (i && use->l[i] == use->l[i - 1]) left_once = 0;
    }
    Batch *o = use->n ? join_gather(p, lb, rb, use, left_once) : NULL;
    pairs_free(&cand);
    pairs_free(&ps);
    batch_free(lb);
    *out = o;
    return 0;
}

/* Append left row lr (or nulls) ++ right row rr (or nulls) projected through targets. */
static void join_emit(const Plan *p, Batch *o, const Batch *lb, size_t lr, const Batch *rb, int64_t rr)
{
    int nl = p->child->schema->n, nout = p->schema->n;
    Value row[256];
    Value *rowp = nout <= 256 ? row : xcalloc((size_t)nout, sizeof *rowp);
    for (int k = 0; k < nout; k++) {
        int c = p->targets[k];
        Value v = v_null();
        if (c < nl) {
            if (lb) v = value_copy(lb->cols[c][lr]);
            else if (rb && p->neq) {
                /* using key of an unmatched right row: take the right side's value */
                for (int u = 0; u < p->neq; u++)
                    if (p->eq_left[u] == c) v = value_copy(rb->cols[p->eq_right[u]][rr]);
            }
        } else if (rb && rr >= 0) v = value_copy(rb->cols[c - nl][rr]);
        rowp[k] = v;
    }
    batch_push_row(o, rowp);
    if (rowp != row) free(rowp);
}

static int join_check(Op *op, const Batch *lb, size_t lr, const Batch *rb, size_t rr, int *ok)
{
    *ok = 1;
    if (!op->nresid) return 0;
    int nl = lb->ncols, nr = rb->ncols;
    Batch *pair = batch_new(nl + nr, 1);
    Value *row = xcalloc((size_t)(nl + nr) + 1, sizeof *row);
    for (int c = 0; c < nl; c++) row[c] = value_copy(lb->cols[c][lr]);
    for (int c = 0; c < nr; c++) row[nl + c] = value_copy(rb->cols[c][rr]);
    batch_push_row(pair, row);
    free(row);
    for (int i = 0; i < op->nresid && *ok; i++) {
        Value *v = eval_batch(op->ex, op->resid[i], pair);
        if (!v) { batch_free(pair); return -1; }
        *ok = value_true(v[0]);
        eval_vals_free(v, 1);
    }
    batch_free(pair);
    return 0;
}

static int next_join(Op *op, Batch **out)
{
    const Plan *p = op->p;
    if (!op->build && join_prepare(op)) return -1;
    Batch *rb = op->build->nbatches ? op->build->batches[0] : NULL;
    size_t nr = op->build->nrows;
    int jt = p->jointype;
    while (op->phase == 0) {
        Batch *lb;
        int rc = op->child->next(op->child, &lb);
        if (rc < 0) return -1;
        if (rc == 0) { op->phase = 1; break; }
        if (op->neqk) {
            Batch *o;
            if (join_probe(op, op->ex, lb, &o)) return -1;
            if (o) { *out = o; return 1; }
            continue;
        }
        Batch *o = batch_new(p->schema->n, lb->n);
        for (size_t lr = 0; lr < lb->n; lr++) {
            int matched = 0;
            for (size_t r = 0; r < nr; r++) {
                int ok;
                if (join_check(op, lb, lr, rb, r, &ok)) { batch_free(o); batch_free(lb); return -1; }
                if (!ok) continue;
                matched = 1;
                op->rmatched[r] = 1;
                join_emit(p, o, lb, lr, rb, (int64_t)r);
            }
            if (!matched && (jt == JOIN_LEFT || jt == JOIN_FULL)) join_emit(p, o, lb, lr, NULL, -1);
        }
        batch_free(lb);
        if (o->n) { *out = o; return 1; }
        batch_free(o);
    }
    if (op->phase == 1) {
        op->phase = 2;
        if (jt == JOIN_RIGHT || jt == JOIN_FULL) {
            Batch *o = batch_new(p->schema->n, 16);
            for (size_t r = 0; r < nr; r++)
                if (!op->rmatched[r]) join_emit(p, o, NULL, 0, rb, (int64_t)r);
            if (o->n) { *out = o; return 1; }
            batch_free(o);
        }
    }
    return 0;
}

/* A cache point: the rows come from this session's earlier result, else from the state database,
 * else the child is run once and its rows stored (keyed by the plan and its inputs: optimize.c). */
static int next_cache(Op *op, Batch **out)
{
    const Plan *p = op->p;
    Runtime *rt = op->ex->rt;
    if (!p->cache_key || !rt) return op->child->next(op->child, out);
    if (rt->dry && !op->shared) {
        /* estimating: a stored result is free; otherwise the rows come from the child, not stored */
        int stored = rt_result(rt, p->cache_key) != NULL;
        if (!stored && !(rt->cache && rt_state(rt, op->ex->err) && state_result_info(rt->state, p->cache_key, NULL, NULL)))
            return op->child->next(op->child, out);
    }
    if (!op->shared) {
        op->shared = rt_result(rt, p->cache_key);
        Table *t = NULL;
        if (!op->shared && rt->cache && rt_state(rt, op->ex->err)) t = state_result_get(rt->state, p->cache_key, p->schema);
        if (!op->shared && !t) {
            t = core_drain(op->child);
            if (!t) return -1;
            if (rt->cache && rt_state(rt, op->ex->err)) state_result_put(rt->state, p->cache_key, t);
        }
        if (t) {
            rt_put_result(rt, p->cache_key, t);
            op->shared = t;
        }
        op->matpos = 0;
    }
    while (op->matpos < op->shared->nbatches) {
        const Batch *src = op->shared->batches[op->matpos++];
        if (!src || !src->n) continue;
        Batch *b = batch_new(src->ncols, src->n);
        for (size_t r = 0; r < src->n; r++) batch_copy_row(b, src, r);
        *out = b;
        return 1;
    }
    return 0;
}

/* ---- text written on threads: workers format batches, the calling thread writes them in order ---- */

typedef struct WriteText { Buf text; size_t n; } WriteText;
typedef struct WriteCtx { Op *op; const Writer *w; } WriteCtx;

static void write_drop_in(void *item) { batch_free(item); }
static void write_drop_out(void *item)
{
    WriteText *t = item;
    buf_free(&t->text);
    free(t);
}

static int write_pull(void *ctx, void **item, fql_error *err)
{
    Op *op = ((WriteCtx *)ctx)->op;
    Batch *b = NULL;
    int rc = op->child->next(op->child, &b);
    if (rc == 1 && err_failed(op->ex->err)) { batch_free(b); b = NULL; rc = -1; }
    if (rc < 0) {   /* the error waits for its turn: moved out of ex */
        *err = *op->ex->err;
        if (!err->code) err->code = FQL_ERR_RUNTIME;
        memset(op->ex->err, 0, sizeof *op->ex->err);
    }
    *item = b;
    return rc;
}

static int write_work(void *ctx, int worker, void *item, void **out, fql_error *err)
{
    (void)worker;
    (void)err;
    Batch *b = item;
    WriteText *t = xcalloc(1, sizeof *t);
    buf_init(&t->text);
    writer_format(((WriteCtx *)ctx)->w, b, &t->text);
    t->n = b->n;
    batch_free(b);
    *out = t;
    return 0;
}

/* Write the child's batches with w, formatted on nt threads. 0, or -1 with the error. */
static int write_threads(Op *op, Writer *w, int nt)
{
    WriteCtx wc = { op, w };
    ParMap *m = parmap_new(nt, 0, write_pull, write_work, write_drop_in, write_drop_out, &wc);
    int rc;
    void *item;
    while ((rc = parmap_next(m, &item, op->ex->err)) == 1) {
        WriteText *t = item;
        op->written += t->n;
        int bad = writer_put(w, &t->text, t->n, op->ex->err);
        write_drop_out(t);
        if (bad) { rc = -1; break; }
    }
    if (parmap_threads(m) > 1 && !op->detail) op->detail = xasprintf("text formatted on %d threads", parmap_threads(m));
    parmap_free(m);
    return rc < 0 ? -1 : 0;
}

static int next_write(Op *op, Batch **out)
{
    const Plan *p = op->p;
    (void)out;
    if (op->ex->rt && op->ex->rt->dry) {   /* estimating: nothing is written */
        Batch *b;
        int rc;
        while ((rc = op->child->next(op->child, &b)) == 1) { op->written += b->n; batch_free(b); }
        return rc;
    }
    /* a folder: this partition's file in it (part 0 of 1 when not partitioned), written even
     * when empty, so that a missing file means a partition that has not run */
    const Runtime *rt = op->ex->rt;
    char *part = io_is_folder(p->path) ? io_part_path(p->path, p->format, rt && rt->part_n > 1 ? rt->part_i : 0,
                                                      rt && rt->part_n > 1 ? rt->part_n : 1) : NULL;
    op->writer = writer_open_opts(part ? part : p->path, p->format, (WriteMode)p->mode, p->schema, &p->wopts, op->ex->err);
    free(part);
    if (!op->writer) return -1;
    Batch *b;
    int rc, nt = core_threads(op->ex);
    if (nt > 1 && writer_formats(op->writer))
        rc = write_threads(op, op->writer, nt);
    else
        while ((rc = op->child->next(op->child, &b)) == 1) {
            op->written += b->n;
            int w = writer_write(op->writer, b, op->ex->err);
            batch_free(b);
            if (w) { rc = -1; break; }
        }
    Writer *w = op->writer;
    op->writer = NULL;
    if (rc < 0) {
        writer_close(w, op->ex->err);   /* err is set: the write is abandoned, the old file kept */
        return -1;
    }
    if (writer_close(w, op->ex->err)) return -1;
    return 0;
}


/* Consecutive filters of one condition with model calls each, from p down (at most 32): the
 * optimizer makes one stage per model condition; the executor runs such a run as one stage that
 * orders them by measured pass rates. */
static int model_filter_run(const Plan *p)
{
    int n = 0;
    for (const Plan *q = p; q && n < 32; q = q->child, n++)
        if (q->kind != P_FILTER || q->nexprs != 1 || !expr_is_semantic(q->exprs[0]) || cascade_in(q->exprs[0])) break;
    return n;
}

/* The stage of n consecutive model filters from p down, lowest (the optimizer's first) first.
 * Returns the lowest filter's plan node. */
static const Plan *build_conds(Op *op, const Plan *p, int n)
{
    op->conds = xcalloc((size_t)n, sizeof *op->conds);
    op->nconds = n;
    const Plan *q = p;
    for (int i = n - 1; i >= 0; i--, q = q->child) {
        struct Cond *c = &op->conds[i];
        c->p = (Plan *)q;   /* the statement's own optimized copy: explain analyze writes into it */
        c->e = q->exprs[0];
        core_collect_semantic(c->e, &c->semx, &c->nsemx);
        for (int k = 0; k < c->nsemx; k++) core_collect_semantic(c->semx[k], &op->semx, &op->nsemx);
    }
    return op->conds[0].p;
}

/* Early stop: the stages below limit lim that filters, derives and joins see through, and that
 * the optimizer marked (Plan.want_rows), read the rows delivered to lim (the nearest limit). */
static void link_limit(Op *lim)
{
    for (Op *q = lim->child; q;) {
        if (q->p->want_rows >= 0 && !q->limit_op) q->limit_op = lim;
        switch (q->p->kind) {
        case P_FILTER: case P_PROJECT: case P_DERIVE: case P_EXPLODE: case P_UNNEST: case P_JOIN: q = q->child; break;
        default: q = NULL; break;
        }
    }
}

/* ---- parallel stages (`set threads`, pool.c) ----
 *
 * A run of pure streaming operators (where / select / derive whose expressions call no model, UDF
 * or volatile function, and the probe of an inner or left hash join) runs as one stage on the
 * threads: the stage's source is pulled on the calling thread a batch at a time, each batch goes
 * through the stage's operators on a worker (with an evaluation context of its own), and the
 * results leave in input order, so the output is the single thread's, batch for batch. A join's
 * build side is drained and hashed once, on the calling thread, before the workers start, and is
 * only read after. The first error by input order is the one reported (its message is the single
 * thread's: errors do not name rows within a batch). A stage below a limit (through streaming
 * operators) stays on one thread: reading ahead there could start work the limit never needs. */

typedef struct ParStage {
    Op **ops;                /* top first; ops[n - 1]'s child is the source */
    int n, nthreads;
    Op *src;
    int mode;                /* 0 not started, 1 on threads, 2 on one thread (serial_next) */
    int (*serial_next)(Op *op, Batch **out);
    ParMap *m;
    Exec *wex;               /* per thread (pool.h's worker ids) */
    int64_t *rows;           /* rows out of each operator (explain analyze), added atomically */
} ParStage;

static void par_free(ParStage *ps)
{
    if (!ps) return;
    parmap_free(ps->m);
    free(ps->ops);
    free(ps->wex);
    free(ps->rows);
    free(ps);
}

static int par_pull(void *ctx, void **item, fql_error *err)
{
    ParStage *ps = ctx;
    Exec *ex = ps->src->ex;
    Batch *in = NULL;
    int rc = ps->src->next(ps->src, &in);
    if (rc == 1 && err_failed(ex->err)) { batch_free(in); in = NULL; rc = -1; }
    *item = in;
    if (rc < 0) {
        /* the error waits for its turn (the results before it leave first): moved out of ex */
        *err = *ex->err;
        if (!err->code) err->code = FQL_ERR_RUNTIME;
        memset(ex->err, 0, sizeof *ex->err);
    }
    return rc;
}

static int par_work(void *ctx, int worker, void *item, void **out, fql_error *err)
{
    ParStage *ps = ctx;
    Batch *in = item;
    Exec *ex = &ps->wex[worker];
    ex->err = err;
    Batch *b = in;
    *out = NULL;
    for (int i = ps->n - 1; i >= 0 && b; i--) {
        Op *op = ps->ops[i];
        Batch *o = NULL;
        int rc = op->p->kind == P_JOIN ? join_probe(op, ex, b, &o) : op->apply(op, ex, b, &o);   /* take b */
        if (rc) { batch_free(o); return -1; }
        if (o) __atomic_add_fetch(&ps->rows[i], (int64_t)o->n, __ATOMIC_RELAXED);
        b = o;
    }
    *out = b;
    return 0;
}

static void par_drop(void *item) { batch_free(item); }

/* The stage's start, on its first next(): the joins' build sides (top first, as one thread
 * reaches them), then the threads, or one thread when a join has no equality key (nested loop). */
static int par_start(Op *top)
{
    ParStage *ps = top->par;
    ps->mode = 1;
    for (int i = 0; i < ps->n; i++) {
        Op *op = ps->ops[i];
        if (op->p->kind != P_JOIN) continue;
        if (!op->build && join_prepare(op)) return -1;
        if (!op->neqk) { ps->mode = 2; continue; }
        /* probes are read-only only in the layout their keys need (keytab.h) */
        int ints = op->neqk == 1 && op->p->child->schema->types[op->eqk_l[0]]->kind == TY_INT;
        if (op->kt_on && !ints) kt_to_general(&op->kt);
    }
    if (ps->mode == 2) return 0;
    ps->wex = xcalloc((size_t)ps->nthreads, sizeof *ps->wex);
    for (int i = 0; i < ps->nthreads; i++) {
        ps->wex[i].rt = top->ex->rt;
        ps->wex[i].now_us = top->ex->now_us;
    }
    ps->m = parmap_new(ps->nthreads, 0, par_pull, par_work, par_drop, par_drop, ps);
    return 0;
}

/* next() of a parallel stage's top operator. */
static int next_par(Op *op, Batch **out)
{
    ParStage *ps = op->par;
    if (!ps->mode && par_start(op)) return -1;
    if (ps->mode == 2) return ps->serial_next(op, out);
    void *o = NULL;
    int rc = parmap_next(ps->m, &o, op->ex->err);
    *out = o;
    /* explain analyze: the operators below the top report their rows; their time is the top's */
    int used = parmap_threads(ps->m);
    for (int i = 0; i < ps->n; i++) {
        Op *q = ps->ops[i];
        if (i) {
            q->rows_out = __atomic_load_n(&ps->rows[i], __ATOMIC_RELAXED);
            q->time_ms = ps->src->time_ms;
        }
        if (used < 2) continue;   /* one batch: no thread was started, the plan reads as one thread's */
        free(q->detail);
        q->detail = i ? xasprintf("%d threads, in the parallel stage above (its time counted there)", used)
                      : ps->n > 1 ? xasprintf("%d threads, one parallel stage with the %d operator%s below", used, ps->n - 1, ps->n == 2 ? "" : "s")
                                  : xasprintf("%d threads", used);
    }
    return rc;
}

/* Can op run in a parallel stage (decided when the operators are built)? */
static int par_eligible(const Op *op)
{
    const Plan *p = op->p;
    if (p->kind == P_JOIN) {
        if (op->next != next_join || (p->jointype != JOIN_INNER && p->jointype != JOIN_LEFT)) return 0;
    } else if (op->next != next_apply) return 0;
    for (int i = 0; i < p->nexprs; i++)
        if (!core_expr_pure(p->exprs[i])) return 0;
    return op->child != NULL;
}

/* Make the parallel stages of the tree under op (threads > 1). limited: a limit is above op
 * through streaming operators. */
static void par_plan(Op *op, int nthreads, int limited)
{
    if (!op) return;
    if (!limited && par_eligible(op)) {
        ParStage *ps = xcalloc(1, sizeof *ps);
        ps->nthreads = nthreads;
        for (Op *q = op; q && par_eligible(q); q = q->child) {
            ps->ops = xrealloc(ps->ops, (size_t)(ps->n + 1) * sizeof *ps->ops);
            ps->ops[ps->n++] = q;
            par_plan(q->right, nthreads, 0);   /* a join's build side is read whole */
        }
        ps->src = ps->ops[ps->n - 1]->child;
        ps->rows = xcalloc((size_t)ps->n, sizeof *ps->rows);
        ps->serial_next = op->next;
        op->par = ps;
        op->next = next_par;
        par_plan(ps->src, nthreads, 0);
        return;
    }
    if (op->p->kind == P_SCAN && !limited) op->scan_threads = nthreads;   /* no read-ahead under a limit */
    switch (op->p->kind) {
    case P_LIMIT: limited = 1; break;
    case P_SORT: case P_AGG: case P_WRITE: limited = 0; break;   /* they read all of their input */
    default: break;
    }
    par_plan(op->child, nthreads, limited);
    par_plan(op->right, nthreads, op->p->kind == P_JOIN ? 0 : limited);
}

static Op *op_build(Exec *ex, const Plan *p)
{
    Op *op = xcalloc(1, sizeof *op);
    op->p = p;
    op->ex = ex;
    int nf = ex->rt ? model_filter_run(p) : 0;
    const Plan *lowest = nf >= 2 ? build_conds(op, p, nf) : p;
    if (lowest->child) op->child = op_build(ex, lowest->child);
    if (p->right) op->right = op_build(ex, p->right);
    if (p->kind == P_JOIN || p->kind == P_SIMJOIN || p->kind == P_SEMJOIN) scans_whole(op->right);
    switch (p->kind) {
    case P_SCAN: op->next = next_scan; break;
    case P_VALUES: {
        op->mat = table_new(schema_copy(p->schema));
        for (int i = 0; i < p->rows->nbatches; i++) {
            const Batch *src = p->rows->batches[i];
            Batch *b = batch_new(src->ncols, src->n);
            for (size_t r = 0; r < src->n; r++) batch_copy_row(b, src, r);
            table_add_batch(op->mat, b);
        }
        op->next = core_next_mat;
        break;
    }
    case P_SYSTEM: op->mat = system_table(ex->rt, p->path); op->next = core_next_mat; break;
    case P_FILTER: case P_PROJECT: case P_DERIVE:
        op->apply = p->kind == P_FILTER ? apply_filter : p->kind == P_PROJECT ? apply_project : apply_derive;
        op->next = next_apply;
        if (!op->nconds)
            for (int i = 0; i < p->nexprs; i++) core_collect_semantic(p->exprs[i], &op->semx, &op->nsemx);
        if (op->nsemx && ex->rt) { op->next = next_stream; op->close = close_stream; op->piece_rows = piece_rows(op); }
        for (int i = 0; ex->rt && !op->nconds && i < p->nexprs; i++)
            if (cascade_in(p->exprs[i])) { op->next = next_cascade; op->close = close_stream; }
        break;
    case P_AGG: op->next = agg_next; break;
    case P_SORT: op->next = next_sort; op->close = sort_close; break;
    case P_LIMIT: op->next = next_limit; link_limit(op); break;
    case P_DISTINCT: op->next = next_distinct; break;
    case P_JOIN: op->next = next_join; break;
    case P_UNION: op->next = next_union; break;
    case P_EXPLODE: op->next = next_explode; break;
    case P_UNNEST: op->next = next_unnest; break;
    case P_CACHE: op->next = next_cache; break;
    case P_WRITE: op->next = next_write; break;
    case P_CLUSTER: op->next = cluster_next; break;
    case P_SIMJOIN: op->next = simjoin_next; break;
    case P_SEMJOIN: op->next = semjoin_next; break;
    case P_TOPK: op->next = topk_next; break;
    case P_RESOLVE: op->next = resolve_next; break;
    }
    return op;
}

static double mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int timed_next(Op *op, Batch **out)
{
    double t0 = mono_ms();
    int rc = op->inner_next(op, out);
    op->time_ms += mono_ms() - t0;
    if (rc == 1) op->rows_out += (int64_t)(*out)->n;
    return rc;
}

static void instrument(Op *op)
{
    if (!op) return;
    op->inner_next = op->next;
    op->next = timed_next;
    instrument(op->child);
    instrument(op->right);
}

/* What each operator did, written into its plan node for explain analyze (time is the operator's
 * own: its inputs' time taken out). */
static void report(Op *op)
{
    if (!op) return;
    report(op->child);
    report(op->right);
    double own = op->time_ms - (op->child ? op->child->time_ms : 0) - (op->right ? op->right->time_ms : 0);
    Buf b;
    buf_init(&b);
    buf_printf(&b, "actual: %lld row%s, %.1f ms", (long long)op->rows_out, op->rows_out == 1 ? "" : "s", own < 0 ? 0 : own);
    const OpStats *o = &op->ost;
    if (o->rows || o->sent || o->cached)
        buf_printf(&b, "; requests %lld (%lld cached / %lld repeated / %lld sent / %lld retried / %lld failed rows); tokens %lld in / %lld out; $%.4f",
                   (long long)(o->sent + o->cached + o->deduped), (long long)o->cached, (long long)o->deduped, (long long)o->sent, (long long)o->retried,
                   (long long)o->failed, (long long)o->input_tokens, (long long)o->output_tokens, o->cost_usd);
    /* measured order: each condition's measured pass rate, in its own plan node */
    for (int i = op->nconds - 1; i >= 0; i--) {
        const struct Cond *c = &op->conds[i];
        Buf *d = c->p == op->p ? &b : NULL, mine;
        if (!d) { buf_init(&mine); d = &mine; buf_puts(d, "run in one stage with the model filters above"); }
        buf_printf(d, "; measured selectivity %.2f (%lld of %lld rows tested)", c->tested ? (double)c->passed / (double)c->tested : 0,
                   (long long)c->passed, (long long)c->tested);
        if (d == &mine) {
            free(c->p->analysis);
            c->p->analysis = buf_take(&mine);
        }
    }
    if (op->nconds) buf_puts(&b, "; conditions in measured order (lowest rank (selectivity - 1) / cost first)");
    if (op->detail) buf_printf(&b, "; %s", op->detail);
    Plan *p = (Plan *)op->p;   /* the statement's own optimized copy */
    free(p->analysis);
    p->analysis = buf_take(&b);
}

/* A running plan, pulled a batch at a time (fql_step). */
struct ExecCursor { Exec ex; Op *root; };

ExecCursor *exec_open(Runtime *rt, Plan *p, fql_error *err)
{
    ExecCursor *c = xcalloc(1, sizeof *c);
    c->ex.rt = rt;
    c->ex.err = err;
    struct timeval tv;
    gettimeofday(&tv, NULL);
    c->ex.now_us = (int64_t)tv.tv_sec * 1000000 + tv.tv_usec;
    c->root = op_build(&c->ex, p);
    int nt = core_threads(&c->ex);
    if (nt > 1) par_plan(c->root, nt, 0);
    return c;
}

int exec_next(ExecCursor *c, Batch **out)
{
    if (c->ex.rt && rt_interrupted(c->ex.rt))
        return err_set(c->ex.err, FQL_ERR_RUNTIME, "%s", EXEC_INTERRUPTED);
    int rc = c->root->next(c->root, out);
    if (rc == 1 && err_failed(c->ex.err)) { batch_free(*out); rc = -1; }
    return rc < 0 || err_failed(c->ex.err) ? -1 : rc;
}

void exec_close(ExecCursor *c)
{
    if (!c) return;
    op_free(c->root);
    if (c->ex.rt) semantic_flush(c->ex.rt);
    free(c);
}

Table *exec_plan_analyze(Runtime *rt, Plan *p, fql_error *err)
{
    return exec_run(rt, p, 1, err);
}

Table *exec_plan(Runtime *rt, Plan *p, fql_error *err)
{
    return exec_run(rt, p, 0, err);
}

int exec_plan_each(Runtime *rt, Plan *p, int analyze, void (*sink)(void *ctx, Batch *b), void *ctx, size_t *rows, fql_error *err)
{
    ExecCursor *c = exec_open(rt, p, err);
    Op *root = c->root;
    if (analyze) instrument(root);
    Batch *b;
    int rc;
    *rows = 0;
    while ((rc = exec_next(c, &b)) == 1) {
        *rows += b->n;
        sink(ctx, b);
    }
    if (analyze) report(root);
    exec_close(c);
    return rc < 0 || err_failed(err) ? -1 : 0;
}

static Table *exec_run(Runtime *rt, Plan *p, int analyze, fql_error *err)
{
    ExecCursor *c = exec_open(rt, p, err);
    Op *root = c->root;
    if (analyze) instrument(root);
    Table *t = NULL;
    if (p->kind == P_WRITE) {
        Batch *b;
        int rc = root->next(root, &b);
        if (rc == 0) {
            t = table_new(schema_new());
            t->nrows = root->written;   /* rows written, reported by the caller */
        }
    } else {
        t = core_drain(root);
    }
    if (analyze) report(root);
    exec_close(c);
    if (err_failed(err)) { table_free(t); return NULL; }
    return t;
}
