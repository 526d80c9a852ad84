/* eval.h: the expression evaluator (eval.c). Expressions are evaluated a batch at a time: one Value
 * per row. The context (Exec) is the running statement's: its runtime (NULL for constant rows), its
 * error record and start time, row numbers per model call, and the model calls a streaming stage
 * started for the piece being evaluated (their answers are taken instead of starting them again).
 *
 * Ownership: eval_batch returns a new array of n new values (free with eval_vals_free).
 */
#ifndef FQL_EVAL_H
#define FQL_EVAL_H

#include "rt.h"
#include "models.h"

typedef struct Exec {
    Runtime *rt;                 /* NULL for constant rows */
    fql_error *err;
    int64_t now_us;
    /* rows seen so far by each semantic expression (row numbers in system.lm_errors) */
    const Expr *sem_expr[16]; int64_t sem_rows[16]; int nsem;
    /* the piece being evaluated by a streaming stage: its started model calls */
    const Expr **cur_x; SemJob **cur_j; int ncur;
    /* a stage with cascades (exec.c): each cascade call's answers, computed over the whole batch of
     * pre_n rows being evaluated (cascade.c); borrowed */
    const Expr **pre_x; Value **pre_v; int npre; size_t pre_n;
} Exec;

/* e over the rows of b: b->n new values, or NULL with ex->err set. */
Value  *eval_batch(Exec *ex, const Expr *e, const Batch *b);
/* The arguments of call e over b: e->nargs arrays of b->n values (free each with eval_vals_free,
 * then the array), or NULL with ex->err set. */
Value **eval_args(Exec *ex, const Expr *e, const Batch *b);
/* An expression that reads no columns (values rows, constant options): its value, or null with
 * *msg (xstrdup'd, first line of the error). */
Value   eval_const(Expr *e, char **msg);
/* Record a runtime error of e at row (of the batch) in ex->err; returns -1. */
int     eval_error(Exec *ex, const Expr *e, size_t row, const char *msg);
/* The statement's row number of the first of the next n rows that model call e sees (system.lm_errors). */
int64_t eval_row_base(Exec *ex, const Expr *e, size_t n);
Value  *eval_vals_new(size_t n);                 /* n nulls */
void    eval_vals_free(Value *v, size_t n);      /* NULL-safe */

#endif
