/* fql.h: the embedding API of FQL, a pipeline language for batch LLM inference over tables.
 *
 *     fql_options o;  fql_options_init(&o);  o.db_path = ":memory:";
 *     fql_error err;
 *     fql_session *s = fql_open(&o, &err);
 *     fql_result *r;
 *     if (fql_exec(s, "from csv(\"t.csv\") | where amount > 10", "<app>", &r, &err) == 0) {
 *         for (size_t i = 0; i < fql_result_rows(r); i++) printf("%s\n", fql_result_string(r, i, 0));
 *         fql_result_free(r);
 *     } else fprintf(stderr, "%s\n", err.message);
 *     fql_close(s);
 *
 * Ownership, once for the whole API:
 *  - Handles (fql_session, fql_result, fql_stmt) are opaque; each is freed by its own function
 *    (fql_close, fql_result_free, fql_finalize), all of which accept NULL.
 *  - A `const char *` returned by the library is owned by the object it came from and lives until
 *    that object is freed. A `char *` returned is the caller's, freed with fql_free().
 *  - Strings and values passed in are copied when the library keeps them; the caller keeps
 *    ownership of what it passes (fql_options strings need only live until fql_open returns).
 *  - Functions that can fail return 0 (or a non-NULL pointer) on success and otherwise fill the
 *    caller's fql_error (which may be NULL when the caller does not want the details).
 *
 * Threads: there is no global state. Several sessions may be used at once from several threads,
 * one thread per session at a time; fql_interrupt() and the fql_call_* completions are the only
 * calls that may be made on a session from another thread while it runs.
 */
#ifndef FQL_H
#define FQL_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(FQL_BUILDING) && defined(__GNUC__)
#define FQL_API __attribute__((visibility("default")))
#else
#define FQL_API
#endif

#define FQL_VERSION "0.1.0"

typedef struct fql_session fql_session;
typedef struct fql_result fql_result;

typedef enum {
    FQL_TYPE_NULL, FQL_TYPE_BOOL, FQL_TYPE_INT, FQL_TYPE_FLOAT, FQL_TYPE_STRING,
    FQL_TYPE_LIST, FQL_TYPE_STRUCT, FQL_TYPE_VECTOR, FQL_TYPE_DATE, FQL_TYPE_TIMESTAMP, FQL_TYPE_JSON
} fql_type;

/* An error: code 0 means none (2 parse, 3 name or type, 4 runtime, 5 file or data, 6 out of
 * memory, 7 incomplete input). line/column are 1-based and 0 when the error has no source place;
 * file is the script (or data file) it concerns. message holds the text and, for source errors,
 * the quoted line with a caret under the place. */
typedef struct { int code; int line; int column; char file[256]; char message[1024]; } fql_error;
/* fql_error.code */
enum {
    FQL_OK = 0,
    FQL_ERR_PARSE = 2,      /* syntax error (the fql program exits with 2) */
    FQL_ERR_TYPE = 3,       /* name or type error (exit 2) */
    FQL_ERR_RUNTIME = 4,    /* runtime error (exit 1) */
    FQL_ERR_IO = 5,         /* file or data error (exit 1) */
    FQL_ERR_NOMEM = 6,      /* out of memory: the statement stopped; the session can still be closed */
    FQL_ERR_INCOMPLETE = 7  /* a parse error at the end of the input: the shell asks for more */
};

/* Log levels of the logging callback. */
enum { FQL_LOG_DEBUG, FQL_LOG_INFO, FQL_LOG_WARN, FQL_LOG_ERROR };
/* Receives each log line (no trailing newline; borrowed for the call). Called on the thread that
 * runs the statement. */
typedef void (*fql_log_fn)(void *ud, int level, const char *message);

/* Session options: fill with fql_options_init, then change what you need. */
typedef struct {
    const char *db_path;     /* state database; NULL = $FQL_DB or ".fql/state.db"; ":memory:" keeps nothing */
    int validate_keys;       /* check model keys before the first statement that runs (default 1) */
    int progress;            /* progress display on stderr when it is a terminal (default 1) */
    int cache;               /* use the response cache (default 1) */
    const char *format;      /* how fql_exec prints results to `out`: "table" (default), "csv", "tsv", "json", "jsonl", "markdown" */
    void *out;               /* FILE * where statement results are printed; NULL = do not print. When
                              * fql_exec is given no `out` result, rows print as they come (memory
                              * independent of the row count); else after the statement ends */
    int max_rows;            /* rows printed per result in table format (0 = all; default 0) */
    fql_log_fn log;          /* log lines (summaries, warnings, UDF row failures); NULL = levels >= INFO to stderr */
    void *log_ud;            /* passed to log */
    int log_level;           /* the least level passed to log (default FQL_LOG_INFO) */
} fql_options;

/* One value passed to or returned by a user-defined function. Strings (and the JSON text of lists,
 * structs, vectors and json values) are not NUL-terminated necessarily: use len. Dates are days
 * since 1970-01-01 and timestamps microseconds since the epoch (UTC), in `i`. */
typedef struct {
    fql_type type;
    union { int b; int64_t i; double f; struct { const char *ptr; size_t len; } s; } as;
} fql_value;

/* ---- sessions ---- */

/* Default options: db_path NULL, validate_keys 1, progress 1, cache 1, no output, log to stderr. */
FQL_API void         fql_options_init(fql_options *o);
/* A new session (o may be NULL for the defaults; it is copied). NULL with err on failure. */
FQL_API fql_session *fql_open(const fql_options *o, fql_error *err);
/* Run every statement of src (named filename in errors; NULL = "<input>"). 0 = ok. *out (if out is
 * non-NULL) receives the result of the last statement that produced one, or NULL; the caller frees
 * it with fql_result_free. Declarations (let, model, type, fn) stay in the session for later calls.
 * On error *out is NULL, and the statements before the failing one have run. */
FQL_API int          fql_exec(fql_session *s, const char *src, const char *filename, fql_result **out, fql_error *err);
/* Ask the statement running in s to stop soon; safe from a signal handler or another thread.
 * Requests in flight are abandoned (answers already received stay in the cache), UDF calls in
 * flight are abandoned (see fql_call_cancelled), and the running fql_exec or fql_step returns an
 * "interrupted" error. Has no effect when nothing runs: the next call starts afresh. */
FQL_API void         fql_interrupt(fql_session *s);
/* Close the session and free everything it owns. Waits for asynchronous UDF calls that were
 * abandoned (timed out or interrupted) but not yet completed, so that no completion arrives after
 * it returns. Results taken from the session stay valid. NULL-safe. */
FQL_API void         fql_close(fql_session *s);
/* Free memory the library handed to the caller as `char *`. NULL-safe. */
FQL_API void         fql_free(void *p);
/* The library's version, FQL_VERSION at build time (static). */
FQL_API const char  *fql_version(void);
/* The library never calls exit(). When it cannot go on at all (memory ran out inside an allocation
 * that has no way to fail a statement), it calls the panic handler with a message, then writes
 * "fql: error: MESSAGE" to stderr and calls abort(). A handler may log, flush or save state; to
 * keep the process alive it must not return (longjmp out of it is not supported either: the
 * library's state is then undefined). Process-wide; NULL restores the default. */
typedef void (*fql_panic_fn)(void *ud, const char *message);
FQL_API void         fql_set_panic(fql_panic_fn fn, void *ud);

/* ---- results ---- */

/* Shape. Rows and columns are 0-based; out-of-range indexes read as null. */
FQL_API size_t       fql_result_rows(const fql_result *r);
FQL_API size_t       fql_result_cols(const fql_result *r);
/* Owned by r. NULL if col is out of range. */
FQL_API const char  *fql_result_column_name(const fql_result *r, size_t col);
/* The column's FQL type (enums read as FQL_TYPE_STRING, untyped json as FQL_TYPE_JSON). */
FQL_API fql_type     fql_result_column_type(const fql_result *r, size_t col);
/* Cells. Conversions: int reads a float (truncated), a bool, a date (days) or a timestamp (µs);
 * float reads an int; anything else (and null) reads as 0. */
FQL_API int          fql_result_is_null(const fql_result *r, size_t row, size_t col);
FQL_API int64_t      fql_result_int(const fql_result *r, size_t row, size_t col);
FQL_API double       fql_result_float(const fql_result *r, size_t row, size_t col);
FQL_API int          fql_result_bool(const fql_result *r, size_t row, size_t col);
/* Any value as text (owned by r, valid until fql_result_free): strings as they are, numbers,
 * dates and timestamps as FQL prints them, lists and structs as JSON; NULL for null. */
FQL_API const char  *fql_result_string(const fql_result *r, size_t row, size_t col);
/* Any value as JSON text ("null" for null); the caller frees it with fql_free. */
FQL_API char        *fql_result_json(const fql_result *r, size_t row, size_t col);
FQL_API void         fql_result_free(fql_result *r);

/* What a statement cost. Model counters add up every model the statement called; UDF counters
 * every user-defined (and built-in asynchronous) function. */
typedef struct {
    int64_t rows;                 /* rows the statement produced */
    int64_t requests;             /* model requests sent (not counting retries or cache hits) */
    int64_t cache_hits;           /* model answers taken from the response cache */
    int64_t retries;              /* model requests sent again after a transient failure */
    int64_t failures;             /* rows left null by a model failure (see system.lm_errors) */
    int64_t input_tokens, output_tokens;
    double  cost_usd;             /* -1 when a model's price is unknown */
    double  time_ms;              /* wall time of the statement */
    int64_t udf_calls;            /* function calls made, retries included */
    int64_t udf_failures;         /* rows left null by a failed or timed-out call (see system.lm_errors) */
} fql_metrics;
/* The metrics of the statement that produced r (zeroes for results of explain and the like).
 * 0 ok, -1 when r is NULL. */
FQL_API int          fql_result_metrics(const fql_result *r, fql_metrics *m);

/* ---- streaming a large result ---- */

/* A prepared statement: its rows are pulled from the executor a batch at a time, so a result of
 * any size is never held in memory at once (stages that must see every row, such as order by
 * and group by, still hold what they need). */
typedef struct fql_stmt fql_stmt;
/* Run every statement of src but the last, and prepare the last to be stepped through. 0 ok
 * (*out set; free it with fql_finalize), -1 with err. While a prepared statement is unfinished its
 * session runs nothing else (fql_exec and fql_prepare fail with a message saying so). */
FQL_API int          fql_prepare(fql_session *s, const char *src, const char *filename, fql_stmt **out, fql_error *err);
/* The next batch of rows (up to 2048) as a result the caller frees with fql_result_free; the
 * fql_result_* accessors read it, rows numbered from 0 in each batch. Returns 1 with *batch set,
 * 0 when no rows are left (the statement is finished: its metrics are complete), -1 with err. */
FQL_API int          fql_step(fql_stmt *st, fql_result **batch, fql_error *err);
/* The output columns (known before the first step). Names are owned by st. */
FQL_API size_t       fql_stmt_cols(const fql_stmt *st);
FQL_API const char  *fql_stmt_column_name(const fql_stmt *st, size_t col);
FQL_API fql_type     fql_stmt_column_type(const fql_stmt *st, size_t col);
/* The metrics so far (complete once fql_step has returned 0). 0 ok, -1 when st is NULL. */
FQL_API int          fql_stmt_metrics(const fql_stmt *st, fql_metrics *m);
/* Stop (if unfinished) and free. Batches already returned stay valid. NULL-safe. */
FQL_API void         fql_finalize(fql_stmt *st);

/* ---- user-defined functions (UDFs) ----
 *
 * A registered function is called from FQL like a built-in one (`derive score = score(id)`), once
 * per row with that row's arguments (null arguments are passed as FQL_TYPE_NULL). A call that fails
 * is retried up to `retries` times; after that (or for a failure that is not retryable) the row's
 * value is null and the reason is recorded in system.lm_errors (model = the function's name) and
 * logged at FQL_LOG_DEBUG; the statement goes on. Rows keep their order whatever the order in
 * which calls complete.
 *
 * Arguments are borrowed for the duration of the call (copy what you keep). Results are copied
 * by the library before the function (or fql_call_return) returns, so the function keeps
 * ownership of the memory it returns. A result's type must be the declared return_type (an int is
 * accepted for float, FQL_TYPE_NULL for any); list, struct, vector and json results are given as
 * JSON text in `as.s` and become json values. */

/* A synchronous UDF: fill *out and return 0, or return nonzero with err->message saying why (set
 * err->code to a negative value for a failure that must not be retried). Called on the thread that
 * runs the statement. */
typedef int (*fql_udf_fn)(void *ud, const fql_value *args, size_t nargs, fql_value *out, fql_error *err);

/* The completion handle of one asynchronous call. */
typedef struct fql_call fql_call;
/* An asynchronous UDF: start the work for one row and return 0; then complete the call exactly
 * once, from any thread, now or later, with fql_call_return or fql_call_error. Returning nonzero
 * (err->message saying why) fails the call at once, without completing it. */
typedef int (*fql_udf_async_fn)(void *ud, const fql_value *args, size_t nargs, fql_call *call, fql_error *err);

typedef struct {
    size_t nargs;                 /* arguments the function takes (calls with another count are refused) */
    fql_type return_type;         /* the type of its values in FQL (list, struct, vector: json) */
    fql_udf_fn fn;                /* synchronous implementation, or NULL when async_fn is set */
    void *ud;                     /* passed to fn / async_fn; the caller's, must live until fql_close */
    fql_udf_async_fn async_fn;    /* asynchronous implementation (set instead of fn) */
    int max_concurrency;          /* async: calls outstanding at once, timed-out ones included (0 = 8) */
    double timeout;               /* async: seconds an attempt may take before the row gives up on it (0 = no limit) */
    int retries;                  /* further attempts after a failed or timed-out one (default 0) */
} fql_udf_spec;

/* Register (or replace) function name in s; spec is copied. Names of built-in functions and of
 * FQL fns already declared are refused. 0 ok, -1 with err. Statements prepared or bound before a replacement keep calling the
 * function by name. */
FQL_API int          fql_register_udf(fql_session *s, const char *name, const fql_udf_spec *spec, fql_error *err);
/* Complete an asynchronous call with its value (copied; NULL = null). From any thread. */
FQL_API void         fql_call_return(fql_call *call, const fql_value *value);
/* Fail an asynchronous call: message (copied; NULL = "failed") is recorded; retryable != 0 lets
 * it be retried when the spec allows. From any thread. */
FQL_API void         fql_call_error(fql_call *call, int retryable, const char *message);
/* 1 once the row no longer waits for this call (it timed out, or the statement was interrupted
 * or ended): the function may stop its work and should complete the call soon, with anything.
 * From any thread, until the call is completed. */
FQL_API int          fql_call_cancelled(const fql_call *call);
/* The 0-based row of the statement's input this call is for, and the attempt (1 = first). */
FQL_API int64_t      fql_call_row(const fql_call *call);
FQL_API int          fql_call_attempt(const fql_call *call);

/* ---- tools ---- */

/* The golden test runner (`fql --test`): runs each file, prints failures and the closing line
 * "N passed, N failed" to out (a FILE *). rewrite != 0 rewrites expected outputs in place.
 * Returns the number of failed records. */
FQL_API int          fql_test_files(const char *const *files, int nfiles, int rewrite, void *out);

#ifdef __cplusplus
}
#endif
#endif
