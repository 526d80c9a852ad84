/* state.h: the state database (SQLite): the response cache, per-call rows, row errors and query
 * metrics, in one file (default .fql/state.db; ":memory:" for none kept after the process).
 *
 * Writes are transactional (WAL): answers are committed in groups, so a killed run loses at most the
 * answers not yet committed, and a rerun sends only the requests whose answers are not stored.
 * Nothing stored holds an API key: cache keys hash the provider, model, base URL and request body,
 * and request bodies never contain a key (keys travel in headers).
 */
#ifndef FQL_STATE_H
#define FQL_STATE_H

#include "runtime.h"
#include "table.h"

typedef struct State State;

/* Open (creating directories and tables as needed). NULL with err on failure. */
State *state_open(const char *path, fql_error *err);
void   state_close(State *st);

/* SHA-256 hex of the parts joined by NUL bytes (65 bytes written into out, with the terminator). */
void   state_hash(char out[65], const char *const *parts, int nparts);

/* The response cache. state_cache_get fills a (ok answers only) and returns 1 on a hit. */
int    state_cache_get(State *st, const char *key, LmAnswer *a);
/* Queue an answer for storing (committed by state_commit or when many are queued). */
void   state_cache_put(State *st, const char *key, const LmModel *m, const LmAnswer *a);
void   state_commit(State *st);

/* A new query id (one per statement that calls a model). */
int64_t state_next_query_id(State *st);
/* A row of lm_calls for answer a of model m (the alias that answered): its cost is
 * lm_answer_cost's, its provider latency and queue time a's timing (null when not timed). */
void   state_add_call(State *st, int64_t query_id, const LmModel *m, const char *op, const LmAnswer *a, int attempt);
/* Where a call served (system.lm_calls.statement, row, request_key): the statement's text, the
 * row (0-based over the stage's input; < 0 when the call served many, e.g. a packed request) and
 * the request's cache key (the request id of provenance() and of a --record file). Borrowed. */
typedef struct CallSite { const char *statement; int64_t row; const char *key; } CallSite;
/* state_add_call with where it served (at NULL: unknown). Also stores the time the final attempt
 * was sent (sent_at: the answer's time less its latency), for the report's timeline. */
void   state_add_call_at(State *st, int64_t query_id, const LmModel *m, const char *op, const LmAnswer *a, int attempt,
                         const CallSite *at);
void   state_add_error(State *st, int64_t query_id, int64_t row, const char *alias, const char *kind, const char *message);
/* What a cascade did (cascade.c), recorded in the query_metrics rows of its two models. */
typedef struct CascadeStats {
    int64_t sample;                        /* rows both models answered */
    double strong_share;                   /* of the rows with an input, the share the strong model answered */
    double est_precision, precision_lb, est_recall, recall_lb, est_accuracy, accuracy_lb;   /* NAN: not asked */
    const char *thresholds;                /* "true >= 0.95, false >= 0.9" (borrowed) */
} CascadeStats;
typedef struct QueryMetric {
    int64_t query_id; const char *statement; double started_at; const LmModel *model; const char *op;
    int64_t rows, requests, cache_hits, retries, rate_limited, failures;
    int64_t input_tokens, cached_input_tokens, output_tokens, reasoning_tokens;
    int64_t cache_write_tokens;            /* input tokens written to the provider's prompt cache */
    double cost_usd;                       /* < 0: unknown (stored as null) */
    double latency_ms, latency_p95_ms;     /* the provider's, over answers sent; < 0 when none was sent */
    double queue_ms;                       /* mean time requests waited in FQL before their final send; < 0 likewise */
    double execution_time_ms;
    double est_recall;                     /* a semantic join's estimated recall of its candidate pairs, or a cascade's
                                              estimated recall against its strong model; < 0: none (null) */
    const CascadeStats *cascade;           /* the cascade this model took part in, or NULL (its columns null) */
} QueryMetric;
void   state_add_metric(State *st, const QueryMetric *q);

/* Batch API jobs (batch.c): a submitted batch is recorded with the custom_ids of its requests (the
 * requests' cache keys) at once, so that a run that was interrupted resumes polling it instead of
 * submitting the same requests again. state_batch_find returns the id of a recorded batch of m's
 * provider, base URL and model holding request id (new string), or NULL; state_batch_done forgets
 * a batch whose results have been collected (or that the provider no longer knows). */
void   state_batch_add(State *st, const char *batch_id, const LmModel *m, const char *const *ids, int n);
char  *state_batch_find(State *st, const LmModel *m, const char *id);
void   state_batch_done(State *st, const char *batch_id);

/* Claims on requests in flight, so that processes sharing one database send each request once
 * (table claims: the request key, the owner's host:pid:random, pid, host and lease end). A process
 * claims a request it did not find in the cache before sending it; a request another live process
 * claimed is left to that process, whose answer arrives in the cache. A claim is released when its
 * answer is in (state_claim_release) and all of a process's claims when it closes the database; one
 * whose owner is gone (same host, no such pid) or whose lease ran out (60 s, renewed by
 * state_claims_tick while the owner runs) is taken over.
 * state_claim: 1 if the request is ours to send (also without a shared database, or when the
 * database is busy), 0 if another process holds it or its answer has just arrived (poll the cache,
 * then claim again). */
int    state_claim(State *st, const char *key);
void   state_claim_release(State *st, const char *key);
/* Call while waiting for answers (often): renews this process's leases when due and commits a
 * transaction left open for a while, so that other processes are not kept waiting on its lock. */
void   state_claims_tick(State *st);

/* A second cache behind the local one, shared with other processes (shared_cache.c installs it
 * when `set shared` names a Redis; state.c only calls through these hooks). With it, a local miss
 * asks get (a hit is stored locally), every answer stored is also put, and state_claim,
 * state_claim_release and state_claims_tick also claim, release and renew through it, so that
 * processes that share no database still send each request once. ud is borrowed; NULL removes it. */
typedef struct StateRemote {
    void *ud;
    int  (*get)(void *ud, const char *key, LmAnswer *a);                       /* 1 on a hit (a filled) */
    void (*put)(void *ud, const char *key, const LmModel *m, const LmAnswer *a);
    int  (*claim)(void *ud, const char *key);                                  /* as state_claim */
    void (*release)(void *ud, const char *key);
    void (*tick)(void *ud);
} StateRemote;
void   state_set_remote(State *st, const StateRemote *r);
/* Budgets over time (budget.c): the USD spent by scope (a model alias or "*") in the UTC hours
 * starting in [from, to) (Unix seconds); every answer's cost is recorded by its hour. */
double state_budget_spent(State *st, const char *scope, int64_t from, int64_t to);
/* Add usd (> 0) to scope's hour (its start, Unix seconds); committed with the other writes (every
 * 32 writes or half a second), when other processes on the database see it. */
void   state_budget_add(State *st, const char *scope, int64_t hour, double usd);

/* An answer's tokens as the cache stores them, [["text", logprob], ...] (malloc'd; NULL when it
 * has none), and back into a (ignored when malformed). */
char  *state_tokens_json(const LmAnswer *a);
void   state_tokens_load(LmAnswer *a, const char *json);

/* system.query_metrics, system.lm_calls, system.lm_errors as tables (schema given by the caller,
 * columns taken by name). NULL if the table is unknown. */
Table *state_system_table(State *st, const char *name, Schema *schema);
/* Saved tables (save ... as table NAME): t kept under name with its schema (replacing one of that
 * name); 0, or -1 with *msg (caller frees). */
int    state_table_put(State *st, const char *name, const Table *t, const char *statement, char **msg);
/* The columns of saved table name (new), or NULL when there is none. */
Schema *state_table_schema(State *st, const char *name);
/* Its rows with its schema (new), or NULL when there is none. */
Table *state_table_get(State *st, const char *name);
/* Remove it: 1 if there was one, 0 if not. */
int    state_table_drop(State *st, const char *name);
/* The names of all, sorted, NULL-terminated (caller frees each and the array). */
char **state_table_names(State *st);

/* Stored results of cache points (table stored_results), keyed by the plan's hash and its inputs'
 * identity. info: 1 if stored (rows, when). get: the rows read back with the plan's schema, or NULL. */
int    state_result_info(State *st, const char *key, int64_t *rows, double *created_at);
Table *state_result_get(State *st, const char *key, const Schema *schema);
void   state_result_put(State *st, const char *key, const Table *t);

/* The report (report.c): the plan of query_id with what each operator did (table query_plans);
 * the first query id this process made (0: none); and the rows of a select over the database,
 * with ?1 and ?2 bound to a and b when the text has them: fn gets each row's columns as text and
 * as numbers (NULL / NAN for null), borrowed for the call. Returns the rows read, -1 on an error. */
void    state_add_plan(State *st, int64_t query_id, const char *plan);
int64_t state_first_query_id(const State *st);
typedef void (*StateRowFn)(void *ud, int ncols, const char *const *text, const double *num);
int     state_each_row(State *st, const char *sql, int64_t a, int64_t b, StateRowFn fn, void *ud);

#endif
