/* exec.h: the executor's insides, shared by exec.c and the operators that live in their own files
 * (exec_cluster.c: cluster; exec_simjoin.c: sim join and semantic join).
 *
 * An operator (Op) is built from a Plan node; next() returns 1 with a new batch (the caller owns
 * it), 0 at the end, or -1 after filling ex->err. An operator in another file keeps its state in
 * op->priv and frees it in op->close.
 */
#ifndef FQL_EXEC_H
#define FQL_EXEC_H

#include "rt.h"
#include "models.h"
#include "eval.h"
#include "keytab.h"

/* The error of a statement stopped by Ctrl-C (or fql_interrupt) while it ran. */
#define EXEC_INTERRUPTED "interrupted (answers received so far are kept in the cache)"

/* ---- the executor's entry points (session.c) ---- */

/* Run a plan to completion. Returns a table (for a write: an empty table whose nrows is the rows
 * written), or NULL with err filled. rt is NULL only for constant rows (values). */
Table *exec_plan(Runtime *rt, Plan *p, fql_error *err);
/* The same, timing and counting every operator into its plan node's `analysis` (explain analyze). */
Table *exec_plan_analyze(Runtime *rt, Plan *p, fql_error *err);
/* The same, each batch handed to sink (which takes it) as it comes, so a caller that only prints
 * holds one batch at a time (not for a write). *rows: the rows handed over. 0, or -1 with err. */
int exec_plan_each(Runtime *rt, Plan *p, int analyze, void (*sink)(void *ctx, Batch *b), void *ctx, size_t *rows, fql_error *err);
/* The same, a batch at a time: exec_next returns 1 with a batch (the caller's), 0 at the end, -1
 * with the err given to exec_open (which must outlive the cursor). */
typedef struct ExecCursor ExecCursor;
ExecCursor *exec_open(Runtime *rt, Plan *p, fql_error *err);
int         exec_next(ExecCursor *c, Batch **out);
void        exec_close(ExecCursor *c);

/* ---- the insides ---- */


/* KeyTable: keytab.h */

typedef struct Op Op;
struct Op {
    const Plan *p;
    Exec *ex;
    Op *child, *right;
    int (*next)(Op *op, Batch **out);
    void (*close)(Op *op);
    char *detail;            /* what the operator did beyond rows and requests, for explain analyze (owned) */
    /* state, by kind */
    Reader *reader;
    int64_t scan_row;        /* scan: rows read so far (the partition of each row is that of its number) */
    int whole;               /* scan: reads every row under --partition (a join's other side) */
    int scan_threads;        /* scan: threads a reader may read on (par_plan: ReadOptions.threads) */
    int scan_used;           /* scan: the threads it said (op->detail) it read on */
    Table *mat;              /* materialized output (sort, agg, values, system) */
    const Table *shared;     /* cache point: the session's stored result */
    int matpos;
    int64_t skipped, emitted;
    KeyTable kt;
    int kt_on;
    int phase;               /* union: 0 left, 1 right; join: 0 probing, 1 unmatched right rows */
    /* join */
    Table *build;            /* right side, flattened */
    int64_t *chain;          /* next right row with the same key (-1 ends); op->kt holds each key's first row */
    int unique;              /* no right key twice: chain is all -1 */
    char *rmatched;
    int *eqk_l, *eqk_r, neqk;   /* equality key columns (left index, right index in right schema) */
    Expr **resid; int nresid;   /* residual conditions over left ++ right */
    Writer *writer;
    size_t written;
    /* where / select / derive: apply one batch, evaluating with ex (the operator's, or a worker's
     * own under `set threads`) */
    int (*apply)(Op *op, Exec *ex, Batch *in, Batch **out);
    struct ParStage *par;    /* the top of a parallel stage (exec.c): its operators, threads, counts */
    /* streaming model stages */
    const Expr **semx; int nsemx;
    struct Piece *qh, *qt;
    size_t qrows;
    int child_done;
    Batch *carry; size_t carry_pos;
    int64_t pulled;
    size_t piece_rows;       /* rows per piece (piece_rows(): more when rows are packed) */
    /* early stop (Plan.want_rows): the work started ahead is sized from the pass rate measured */
    const Op *limit_op;      /* the limit above whose rows (skipped + emitted) are the ones delivered */
    int64_t done_in;         /* input rows whose work is finished (pieces returned, pairs judged) */
    int64_t out_own;         /* rows this operator returned (the delivered rows when no limit is linked) */
    size_t wave;             /* the most input rows in flight now (grows geometrically) */
    int64_t wave_done;       /* done_in when the wave last grew (it grows once per finished piece) */
    /* measured order: consecutive model filters run as one stage, conditions in measured order */
    struct Cond *conds; int nconds;
    OpStats ost;
    /* explain analyze */
    int (*inner_next)(Op *op, Batch **out);
    int64_t rows_out;
    double time_ms;          /* inside next(), children included */
    void *priv;              /* the state of an operator defined in another file (freed by its close) */
    /* cascades (core_cascade_begin): the calls run over a whole batch of casc_n rows, their answers */
    const Expr **casc_x; Value **casc_v; int ncasc; size_t casc_n;
};

/* ---- exec_core.c: what the operators share ---- */

/* Evaluate e over the rows of b for op: one Value per row (caller frees), or NULL with the error
 * set. Its model calls are started together and counted in op->ost (explain analyze). */
Value *core_eval_op(Op *op, const Expr *e, const Batch *b);
/* Every batch of child in one table (caller frees), or NULL with the error set. */
Table *core_drain(Op *child);
/* Emit op->mat batch by batch (a next() for operators that materialize their output). */
int    core_next_mat(Op *op, Batch **out);
/* order by without a small limit (exec_sort.c): next() sorts on its first call (spilling sorted
 * runs to temporary files past memory_limit), then returns the rows in order; close() frees what
 * it holds. */
int    sort_next(Op *op, Batch **out);
void   sort_close(Op *op);
/* The innermost model calls (E_SEMANTIC) of e, each once, appended to *xs (grown; the caller
 * frees it). Returns whether e calls a model at all. */
int    core_collect_semantic(const Expr *e, const Expr ***xs, int *n);
/* Start the model calls xs[0..n) over the rows of b, counted in op->ost: jobs[i]. 0, or -1 with
 * the error set (the jobs started before the failing one freed). */
int    core_start_jobs(Op *op, const Expr **xs, int n, const Batch *b, SemJob **jobs);

/* Threads (`set threads`): is e pure (no model call, UDF, asynchronous or volatile function,
 * subquery or template loop; the built-ins of the scalar and text tables otherwise), so that it may
 * be evaluated on any thread? And the threads a statement's operators may use (`set threads`,
 * else the machine's cores; 1 for constant rows). */
int    core_expr_pure(const Expr *e);
int    core_threads(const Exec *ex);
/* group by / agg (exec_agg.c): hash aggregation, on threads when its keys and arguments are pure. */
int    agg_next(Op *op, Batch **out);

/* Cascades (cascade.c) learn their thresholds over a whole input: run the cascade calls of
 * exprs[0..n) (at any depth, innermost first) over every row of b, and leave their answers where
 * the evaluator reads them (Exec.pre_*) for expressions evaluated over b itself, until
 * core_cascade_end. What each did is appended to op->detail (explain analyze). 0, or -1 with the
 * error set (core_cascade_end is still to be called). */
int    core_cascade_begin(Op *op, Expr *const *exprs, int n, const Batch *b);
void   core_cascade_end(Op *op);

/* Early stop: the most input rows op may have in flight now, given the rows still wanted above
 * (Plan.want_rows, delivered rows read from op->limit_op) and the pass rate measured so far:
 * `window` when no limit is above; else it starts at the rows wanted (at least `piece`), grows at
 * most twofold a wave while too few rows come out, and never exceeds the rows needed at the
 * measured pass rate (with a margin) or `window`. in_flight: input rows started, not finished. */
size_t core_wave(Op *op, size_t piece, size_t window, size_t in_flight);

/* Vectors read from a column (exec_cluster.c): x[i * dim + d] for the rows with ok[i]; a null
 * value or an empty list is not ok; norm[i] is the Euclidean length. */
typedef struct VecSet { size_t n; int dim; double *x, *norm; unsigned char *ok; } VecSet;
/* Read n values (lists of numbers, or null) into vs. Every vector must have *dim dimensions (0:
 * the first one sets it). Returns 0, or -1 with ex->err naming the row: "WHAT N: ...", N being
 * first_row + i + 1. */
int    vecset_read(VecSet *vs, Exec *ex, const Plan *p, const Value *v, size_t n, int *dim, const char *what, int64_t first_row);
void   vecset_free(VecSet *vs);
/* Evaluate e over the rows of b (a batch of rows at a time) and read the vectors it gives. */
int    vecset_eval(VecSet *vs, Op *op, const Expr *e, const Batch *b, int *dim, const char *what, int64_t first_row);

/* cluster by (exec_cluster.c) */
int    cluster_next(Op *op, Batch **out);
/* sim join and semantic join (exec_simjoin.c) */
int    simjoin_next(Op *op, Batch **out);
int    semjoin_next(Op *op, Batch **out);
/* top K by (exec_topk.c) */
int    topk_next(Op *op, Batch **out);
int    resolve_next(Op *op, Batch **out);   /* exec_resolve.c */

#endif
