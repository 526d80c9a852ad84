/* fql.h: the embedding API of FQL, a pipeline language for batch LLM inference over tables.
 *
 * Conventions: every handle is opaque; every function that can fail returns 0 on success (or a
 * non-NULL pointer) and fills the caller's fql_error. Strings returned by a result are owned by
 * the result and live until fql_result_free(); strings returned as `char *` are the caller's and are
 * freed with fql_free(). A session holds no global state: several sessions may be used from several
 * threads, one thread per session at a time.
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

/* An error: code 0 means none. line/column are 1-based and 0 when the error has no source place;
 * file is the script (or data file) it concerns. message holds the text and, for source errors,
 * the quoted line with a caret under the place. */
typedef struct { int code; int line; int column; char file[256]; char message[1024]; } fql_error;

typedef struct {
    const char *db_path;     /* state database; NULL = ".fql/state.db"; ":memory:" for none */
    int validate_keys;       /* check model keys before the first statement that runs (default 1) */
    int progress;            /* progress display on stderr when it is a terminal (default 1) */
    int cache;               /* use the response cache (default 1) */
    const char *format;      /* how fql_exec prints results to `out`: "table" (default), "csv", "tsv", "json", "jsonl", "markdown" */
    void *out;               /* FILE * where statement results are printed; NULL = do not print */
    int max_rows;            /* rows printed per result in table format (0 = all; default 0) */
} fql_options;

typedef struct {
    fql_type type;
    union { int b; int64_t i; double f; struct { const char *ptr; size_t len; } s; } as;
} fql_value;

typedef int (*fql_udf_fn)(void *ud, const fql_value *args, size_t nargs, fql_value *out, fql_error *err);
typedef struct { size_t nargs; fql_type return_type; fql_udf_fn fn; void *ud; } fql_udf_spec;

FQL_API void         fql_options_init(fql_options *o);
FQL_API fql_session *fql_open(const fql_options *o, fql_error *err);
/* Run every statement of src (named filename in errors). 0 = ok. *out (if out is non-NULL) receives
 * the result of the last statement that produced one, or NULL; free it with fql_result_free. */
FQL_API int          fql_exec(fql_session *s, const char *src, const char *filename, fql_result **out, fql_error *err);
FQL_API int          fql_register_udf(fql_session *s, const char *name, const fql_udf_spec *spec, fql_error *err);

FQL_API size_t       fql_result_rows(const fql_result *r);
FQL_API size_t       fql_result_cols(const fql_result *r);
FQL_API const char  *fql_result_column_name(const fql_result *r, size_t col);
FQL_API fql_type     fql_result_column_type(const fql_result *r, size_t col);
FQL_API int          fql_result_is_null(const fql_result *r, size_t row, size_t col);
FQL_API int64_t      fql_result_int(const fql_result *r, size_t row, size_t col);
FQL_API double       fql_result_float(const fql_result *r, size_t row, size_t col);
FQL_API int          fql_result_bool(const fql_result *r, size_t row, size_t col);
FQL_API const char  *fql_result_string(const fql_result *r, size_t row, size_t col);
FQL_API char        *fql_result_json(const fql_result *r, size_t row, size_t col);
/* Ask the statement running in s to stop soon (safe from a signal handler or another thread):
 * requests in flight are abandoned, answers already received stay in the cache, and fql_exec
 * returns an "interrupted" error. */
FQL_API void         fql_interrupt(fql_session *s);
FQL_API void         fql_result_free(fql_result *r);
FQL_API void         fql_close(fql_session *s);
FQL_API void         fql_free(void *p);

/* The golden test runner (`fql --test`): runs each file, prints failures and the closing line
 * "N passed, N failed" to out (a FILE *). rewrite != 0 rewrites expected outputs in place.
 * Returns the number of failed records. */
FQL_API int          fql_test_files(const char *const *files, int nfiles, int rewrite, void *out);

#ifdef __cplusplus
}
#endif
#endif
