/* models.h: declared aliases resolved into runtime models (models.c), and the semantic operators'
 * execution over a batch (semantic.c). */
#ifndef FQL_MODELS_H
#define FQL_MODELS_H

#include "runtime.h"
#include "plan.h"

struct fql_session;

/* One resolved model per alias (or alias.profile), owned by the session. */
typedef struct RtModel { char *key; LmModel *m; struct RtModel *next; } RtModel;

/* The runtime model of alias (optionally a profile of it). Borrowed; NULL with err. */
LmModel *models_get(struct fql_session *s, const char *alias, const char *profile, fql_error *err);
void     models_free_all(struct fql_session *s);
/* Check the keys of every declared model not yet checked, in parallel. 0 ok; -1 with err. */
int      models_validate_keys(struct fql_session *s, fql_error *err);

/* What one plan operator's semantic work did (explain analyze). */
typedef struct OpStats {
    int64_t rows, cached, deduped, sent, retried, failed, input_tokens, output_tokens;
    double cost_usd;
} OpStats;

/* The semantic work of one expression over a piece of rows, running in the background. */
typedef struct SemJob SemJob;
/* Render, dedup, look up the cache and submit without waiting. args (args[k][row], one array per
 * argument of e) become the job's. ost (may be NULL) accumulates counters. NULL with err on a fatal
 * error (unknown model, state database). */
SemJob *semantic_start(struct fql_session *s, const Expr *e, Value **args, size_t n, int64_t first_row, OpStats *ost, fql_error *err);
/* Wait (running the scheduler, which also moves every other job on) for the job's answers; returns
 * n new values, or NULL with err (a fatal provider error, an interrupt, the budget reached). */
Value  *semantic_finish(SemJob *j, fql_error *err);
void    semantic_job_free(SemJob *j);     /* NULL-safe; a job with answers still due is freed when they arrive */
/* Cancel and drain the requests of jobs freed early (a failed or stopped statement). */
void    semantic_flush(struct fql_session *s);

/* Estimating without sending (explain cost, set budget): between dry_begin and dry_end,
 * semantic_start counts what it would send per model instead of sending it. */
typedef struct DryModel {
    LmModel *m;
    double rows, requests, cached, deduped, input_tokens, output_tokens;
    struct DryModel *next;
} DryModel;
typedef struct DryRun DryRun;
void   dry_begin(struct fql_session *s);
void   dry_end(struct fql_session *s);
const DryModel *dry_models(const struct fql_session *s);   /* in the order met; borrowed */
double dry_cost(const DryModel *m);                         /* USD, or -1 when the price is unknown */

/* Evaluate a semantic operator (E_SEMANTIC) over n rows whose arguments are evaluated already
 * (args[k][row], borrowed). Returns n new values, or NULL with err (a fatal provider error).
 * Row-level failures are null values with a row in system.lm_errors. */
Value   *semantic_eval(struct fql_session *s, const Expr *e, Value **args, size_t n, int64_t first_row, fql_error *err);
/* reduce(): for each of n groups, one answer to instruction from all of the group's texts (lists[g]
 * is a list of strings, borrowed), packed into as few prompts as the model's context window allows
 * and reduced hierarchically. An empty group gives null. NULL with err on a fatal error. */
Value   *semantic_reduce(struct fql_session *s, const char *instruction, const char *alias, const Value *lists, size_t n, fql_error *err);
/* Statement bookkeeping: start (clears per-statement counters) and finish (writes query_metrics,
 * prints the summary line). */
void     semantic_begin(struct fql_session *s, const char *statement);
void     semantic_end(struct fql_session *s, double elapsed_ms, size_t rows);
/* The statement's cost estimate (USD, < 0 none), named when the budget stops it. */
void     semantic_set_estimate(struct fql_session *s, double usd);

#endif
