/* exec_core.c: the operator plumbing that exec.c and the operators in their own files
 * (exec_cluster.c, exec_simjoin.c) share (exec.h): materialized output, draining a child, and an
 * expression evaluated over a batch with its model calls started together. */
#include <stdlib.h>
#include <string.h>
#include "exec.h"
#include "state.h"
#include "cascade.h"
#include "func.h"
#include "pool.h"

/* emit the materialized table batch by batch */
int core_next_mat(Op *op, Batch **out)
{
    while (op->mat && op->matpos < op->mat->nbatches) {
        Batch *b = op->mat->batches[op->matpos];
        op->mat->batches[op->matpos++] = NULL;
        if (b && b->n) { *out = b; return 1; }
        batch_free(b);
    }
    return 0;
}

/* Drain a child into a table. */
Table *core_drain(Op *child)
{
    Table *t = table_new(schema_copy(child->p->schema));
    Batch *b;
    int rc;
    while ((rc = child->next(child, &b)) == 1) {
        table_add_batch(t, b);
        if (child->ex->rt && rt_interrupted(child->ex->rt)) {
            err_set(child->ex->err, FQL_ERR_RUNTIME, "%s", EXEC_INTERRUPTED);
            rc = -1;
            break;
        }
    }
    if (rc < 0) { table_free(t); return NULL; }
    return t;
}

int core_collect_semantic(const Expr *e, const Expr ***xs, int *n)
{
    if (!e) return 0;
    int inner = 0;
    for (int i = 0; i < e->nargs; i++) inner |= core_collect_semantic(e->args[i], xs, n);
    if (e->kind != E_SEMANTIC) return inner;
    if (!inner) {   /* an innermost model call: it can start as soon as its piece is read */
        int seen = 0;
        for (int i = 0; i < *n; i++) seen |= (*xs)[i] == e;
        if (!seen) { *xs = xrealloc(*xs, (size_t)(*n + 1) * sizeof **xs); (*xs)[(*n)++] = e; }
    }
    return 1;
}

/* Start the model calls xs[0..n) over the rows of b, counted in op->ost: jobs[i] (NULL on error,
 * the jobs started before it freed). */
int core_start_jobs(Op *op, const Expr **xs, int n, const Batch *b, SemJob **jobs)
{
    Runtime *rt = op->ex->rt;
    /* several calls of a derive or select over the same rows: fused (semantic.c; explain notes it, optimize.c) */
    int fuse = rt && rt->fusion && !rt->dry && n >= 2 && (op->p->kind == P_DERIVE || op->p->kind == P_PROJECT);
    if (fuse) rt->fuse_hold = 1;
    for (int i = 0; i < n; i++) {
        const Expr *e = xs[i];
        Value **args = eval_args(op->ex, e, b);
        jobs[i] = args ? semantic_start(rt, e, args, b->n, eval_row_base(op->ex, e, b->n), &op->ost, op->ex->err) : NULL;
        if (!jobs[i]) {
            if (fuse) semantic_send_fused(rt, jobs, i);   /* what the started jobs wait for goes out */
            for (int k = 0; k < i; k++) { semantic_job_free(jobs[k]); jobs[k] = NULL; }
            return -1;
        }
    }
    if (fuse) semantic_send_fused(rt, jobs, n);
    return 0;
}

Value *core_eval_op(Op *op, const Expr *e, const Batch *b)
{
    const Expr **xs = NULL;
    int n = 0;
    core_collect_semantic(e, &xs, &n);
    SemJob **jobs = xcalloc((size_t)n + 1, sizeof *jobs);
    Value *v = NULL;
    if (!core_start_jobs(op, xs, n, b, jobs)) {
        Exec *ex = op->ex;
        const Expr **sx = ex->cur_x;
        SemJob **sj = ex->cur_j;
        int sn = ex->ncur;
        ex->cur_x = xs;
        ex->cur_j = jobs;
        ex->ncur = n;
        v = eval_batch(ex, e, b);
        ex->cur_x = sx;
        ex->cur_j = sj;
        ex->ncur = sn;
        for (int i = 0; i < n; i++) semantic_job_free(jobs[i]);
        if (ex->rt && ex->rt->state) state_commit(ex->rt->state);
    }
    free(jobs);
    free(xs);
    return v;
}

/* Early stop (exec.h). The margin (1.5) covers a pass rate measured on few rows; the wave grows at
 * most twofold per finished piece so a rate that drops later is not met with a huge wave. */
size_t core_wave(Op *op, size_t piece, size_t window, size_t in_flight)
{
    (void)in_flight;
    int64_t want = op->p->want_rows;
    if (want < 0) return window;
    int64_t got = op->limit_op ? op->limit_op->skipped + op->limit_op->emitted : op->out_own;
    int64_t left = want - got;
    if (left < 1) left = 1;
    if (!op->wave) op->wave = (size_t)left > piece ? (size_t)left : piece;
    else if (op->done_in > op->wave_done) {
        op->wave_done = op->done_in;
        double target = 2.0 * (double)op->wave;   /* nothing out yet: grow */
        if (got > 0) {
            double rate = (double)got / (double)op->done_in;
            double need = (double)left / rate * 1.5 + 1;
            if (need < target) target = need;
        }
        op->wave = target < 1 ? 1 : (size_t)target;
    }
    if (op->wave > window) op->wave = window;
    return op->wave;
}

/* ---- cascades (cascade.c) ---- */

static void collect_cascades(const Expr *e, const Expr ***xs, int *n)
{
    if (!e) return;
    for (int i = 0; i < e->nargs; i++) collect_cascades(e->args[i], xs, n);
    if (e->kind != E_SEMANTIC || !expr_arg(e, "cascade")) return;
    for (int i = 0; i < *n; i++)
        if ((*xs)[i] == e) return;
    *xs = xrealloc(*xs, (size_t)(*n + 1) * sizeof **xs);
    (*xs)[(*n)++] = e;
}

int core_cascade_begin(Op *op, Expr *const *exprs, int n, const Batch *b)
{
    Exec *ex = op->ex;
    core_cascade_end(op);
    for (int i = 0; i < n; i++) collect_cascades(exprs[i], &op->casc_x, &op->ncasc);
    op->casc_v = xcalloc((size_t)op->ncasc + 1, sizeof *op->casc_v);
    op->casc_n = b->n;
    ex->pre_x = op->casc_x;
    ex->pre_v = op->casc_v;
    ex->pre_n = b->n;
    ex->npre = 0;
    Buf d;
    buf_init(&d);
    if (op->detail) buf_puts(&d, op->detail);
    int rc = 0;
    for (int i = 0; i < op->ncasc && !rc; i++) {
        const Expr *e = op->casc_x[i];
        Value **args = eval_args(ex, e, b);
        if (!args) { rc = -1; break; }
        CascadeRun run;
        op->casc_v[i] = cascade_eval(ex->rt, e, args, b->n, eval_row_base(ex, e, b->n), &op->ost, &run, ex->err);   /* consumes args */
        if (!op->casc_v[i]) {
            if (!err_failed(ex->err)) err_at(ex->err, FQL_ERR_RUNTIME, e->src, e->pos, "%s() failed", e->name);
            rc = -1;
            break;
        }
        if (d.len) buf_puts(&d, "; ");
        cascade_describe(&d, &run);
        ex->npre = i + 1;   /* an outer cascade's arguments read this one's answers */
    }
    free(op->detail);
    op->detail = d.len ? buf_take(&d) : NULL;
    buf_free(&d);
    if (ex->rt && ex->rt->state) state_commit(ex->rt->state);
    return rc;
}

void core_cascade_end(Op *op)
{
    if (op->ex->pre_x == op->casc_x) {
        op->ex->npre = 0;
        op->ex->pre_x = NULL;
        op->ex->pre_v = NULL;
    }
    for (int i = 0; i < op->ncasc; i++) eval_vals_free(op->casc_v ? op->casc_v[i] : NULL, op->casc_n);
    free(op->casc_v);
    free(op->casc_x);
    op->casc_v = NULL;
    op->casc_x = NULL;
    op->ncasc = 0;
}

/* Is e pure: no model call, UDF, asynchronous or volatile function, subquery or template loop (a
 * built-in of the scalar and text tables otherwise)? Such an expression may run on any thread. */
int core_expr_pure(const Expr *e)
{
    if (!e) return 1;
    switch (e->kind) {
    case E_LIT: case E_COL: return 1;
    case E_FIELD: case E_INDEX: case E_BINOP: case E_NOT: case E_NEG: case E_ISNULL: case E_IN:
    case E_LIKE: case E_CASE: case E_LIST: case E_STRUCT: case E_CAST:
        break;
    case E_CALL: {
        const FuncDef *f = e->fn;
        if (!f || (f->flags & (FUNC_ASYNC | FUNC_VOLATILE))) return 0;
        int known = 0;
        for (const FuncDef *d = func_scalar_defs; d->name && !known; d++) known = d == f;
        for (const FuncDef *d = func_text_defs; d->name && !known; d++) known = d == f;
        if (!known) return 0;
        break;
    }
    default: return 0;
    }
    for (int i = 0; i < e->nargs; i++)
        if (!core_expr_pure(e->args[i])) return 0;
    return 1;
}

/* The threads a statement's operators may use: `set threads`, else the machine's cores. */
int core_threads(const Exec *ex)
{
    if (!ex->rt) return 1;
    return ex->rt->threads > 0 ? ex->rt->threads : pool_cores();
}
