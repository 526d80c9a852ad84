/* optimize.h: the plan rewrites that decide how many model calls a statement makes (optimize.c). */
#ifndef FQL_OPTIMIZE_H
#define FQL_OPTIMIZE_H

#include "plan.h"

#include "rt.h"

/* A rewritten copy of the bound plan (which is left as it is). When log is not NULL, one line per
 * rule that fired ("- pushdown: ...") is appended to it. */
Plan  *optimize(Runtime *rt, const Plan *bound, Buf *log);
/* Fill est_rows / est_requests of every operator (from the inputs' sizes and the conditions). */
void   plan_estimate(Plan *p);
/* Does the plan (or any input of it) call a model? */
int    plan_calls_models(const Plan *p);
/* The fraction of rows a condition is expected to keep (estimates and conjunct order). */
double expr_selectivity(const Expr *e);

#endif
