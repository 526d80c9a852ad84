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

/* Evaluate a semantic operator (E_SEMANTIC) over n rows whose arguments are evaluated already
 * (args[k][row], borrowed). Returns n new values, or NULL with err (a fatal provider error).
 * Row-level failures are null values with a row in system.lm_errors. */
Value   *semantic_eval(struct fql_session *s, const Expr *e, Value **args, size_t n, int64_t first_row, fql_error *err);
/* Statement bookkeeping: start (clears per-statement counters) and finish (writes query_metrics,
 * prints the summary line). */
void     semantic_begin(struct fql_session *s, const char *statement);
void     semantic_end(struct fql_session *s, double elapsed_ms, size_t rows);

#endif
