/* udf.h: functions implemented outside FQL: the embedder's UDFs (fql_register_udf) and built-in
 * asynchronous functions (http_get_json), and the driver that runs them over a batch of rows.
 *
 * Synchronous functions are called row by row on the statement's thread. Asynchronous ones are
 * started row by row, up to max_concurrency outstanding calls per function and session, and
 * complete from any thread through their fql_call handle; the driver waits for them (on a
 * condition variable, or by running the function's own event loop, `pump`), gives up on an
 * attempt after `timeout` seconds, retries, and writes each row's value into its place, so rows
 * keep their order. A row whose last attempt failed is null; why is recorded in system.lm_errors.
 *
 * Ownership: each function's UdfHub belongs to the session (freed by udf_free_all, which first
 * waits until every abandoned call has been completed). An fql_call is shared by the driver and
 * the function until it is completed; an abandoned call is freed by its completion.
 */
#ifndef FQL_UDF_H
#define FQL_UDF_H

#include "plan.h"

#include "rt.h"
typedef struct UdfHub UdfHub;

/* An asynchronous function as the driver runs it. */
typedef struct AsyncImpl {
    fql_udf_async_fn start;
    void *ud;
    /* Optional: wait up to wait_s seconds for this function's calls to progress, completing them
     * on this thread (libcurl's multi interface). NULL = the driver waits for completions that
     * other threads make. */
    void (*pump)(void *ud, double wait_s);
    int max_concurrency;
    double timeout;               /* seconds; 0 = none */
    int retries;
} AsyncImpl;

/* Run the function call e (a UDF: e->fn NULL; or a FUNC_ASYNC built-in) over n rows whose
 * arguments are evaluated (args[k][row], borrowed). Returns n new values, or NULL with err when
 * the statement must stop (interrupted, a function that is no longer registered). */
Value *udf_eval(Runtime *rt, const Expr *e, Value **args, size_t n, int64_t first_row, fql_error *err);

/* The FQL type of a UDF's values (new reference). */
Type  *udf_type(fql_type t);

/* The hub of function name in s, made on first use (borrowed). A built-in keeps its event loop's
 * state there: udf_hub_state returns it, NULL until set; free_state runs at udf_free_all and must
 * complete the calls still outstanding in that loop. */
UdfHub *udf_hub(Runtime *rt, const char *name);
void  *udf_hub_state(UdfHub *h);
void   udf_hub_set_state(UdfHub *h, void *state, void (*free_state)(void *state));

/* The seconds an attempt may take (0 = no limit), for functions that can enforce it themselves. */
double udf_call_timeout(const fql_call *c);

/* Free the runtime's hubs (see the ownership rule above); the registrations are the Catalog's. */
void   udf_free_all(Runtime *rt);


#endif
