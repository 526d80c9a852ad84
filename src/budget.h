/* budget.h: budgets over time (`set budget = {usd: 5, per: "day"[, model: "ALIAS"]}`), kept in the
 * state database (and in Redis when limits are shared) and checked by the scheduler before each
 * send (budget.c). */
#ifndef FQL_BUDGET_H
#define FQL_BUDGET_H

#include "value.h"

struct Runtime;
typedef struct BudgetSet BudgetSet;

/* Add, replace (same per and model) or remove (usd: 0) a budget over time from the struct value v
 * (borrowed). 0, or -1 with *msg (xasprintf'd). */
int  budget_set(struct Runtime *rt, const Value *v, char **msg);
void budget_free(BudgetSet *bs);
/* The scheduler's hook (sched_set_budget with the Runtime as ud): installed by rt_init, so that
 * every answer's cost is recorded by hour whether a budget is set or not. */
struct SchedBudget;
const struct SchedBudget *budget_hook(void);

#endif
