/* util.h: allocation, growable buffers, error records.
 *
 * Ownership: every fql_* allocation goes through fql_malloc/fql_realloc/fql_free so that a test
 * build can fail the Nth allocation (FQL_FAIL_ALLOC=N in the environment). The x* variants abort
 * the process with "out of memory" when allocation fails: they are used where recovery would
 * cost more than it gains (small metadata); bulk data paths use the checked ones.
 */
#ifndef FQL_UTIL_H
#define FQL_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdarg.h>
#include <stdio.h>
#include "fql.h"

#if defined(__GNUC__)
#define FQL_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define FQL_PRINTF(a, b)
#endif

/* A buffer whose size the input decides (a file's page, footer or chunk): NULL when memory runs
 * out, for the caller to fail the statement with FQL_ERR_NOMEM instead of the panic hook. */
void *xtry_malloc(size_t n);
/* Stop the process for a failure no statement can recover from (out of memory, a library that
 * cannot be loaded): the panic hook (fql_set_panic) with msg, else msg on stderr and abort(). */
_Noreturn void util_panic(const char *msg);
void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
char *xasprintf(const char *fmt, ...) FQL_PRINTF(1, 2);
char *xvasprintf(const char *fmt, va_list ap);   /* the same, from a va_list (not consumed: the caller va_ends it) */

/* Buf: a growable byte buffer, always NUL-terminated. buf_take() hands the bytes to the caller. */
typedef struct Buf { char *data; size_t len, cap; } Buf;
void buf_init(Buf *b);
void buf_free(Buf *b);
void buf_reserve(Buf *b, size_t extra);
void buf_append(Buf *b, const char *s, size_t n);
void buf_puts(Buf *b, const char *s);
void buf_putc(Buf *b, char c);
void buf_printf(Buf *b, const char *fmt, ...) FQL_PRINTF(2, 3);
void buf_vprintf(Buf *b, const char *fmt, va_list ap);
char *buf_take(Buf *b);             /* returns the string (caller frees), leaves b empty */
void buf_clear(Buf *b);


/* Src: one source text (a script, an imported file, a -c string). Nodes point at their Src so that
 * errors found after parsing can still quote the line. Owned by the session; freed with it. */
typedef struct Src {
    char *name;     /* file name as given, or "<stdin>", "<command line>" */
    char *path;     /* resolved path for imports, or NULL */
    char *text;
    size_t len;
    struct Src *next;
} Src;

/* Fill err (if it is still empty) with a message located at byte offset pos of src:
 * "msg\n  LINE\n  ^". Computes line and column from pos. Returns -1 for `return err_at(...)`. */
int err_at(fql_error *err, int code, const Src *src, int pos, const char *fmt, ...) FQL_PRINTF(5, 6);
/* Fill err (if still empty) with a message not tied to source text. Returns -1. */
int err_set(fql_error *err, int code, const char *fmt, ...) FQL_PRINTF(3, 4);
/* Fill err for a data error: "FILE:ROW:COL: msg" (row and col 1-based; col 0 = unknown). */
int err_data(fql_error *err, const char *file, long row, long col, const char *fmt, ...) FQL_PRINTF(5, 6);
int err_failed(const fql_error *err);
/* Compute 1-based line and column (in bytes+1... counted in UTF-8 characters) of pos. */
void src_linecol(const Src *src, int pos, int *line, int *col);

/* Levenshtein distance, for "did you mean" suggestions. */
int edit_distance(const char *a, const char *b);
/* Pick the closest of candidates to name (distance <= max(1, len/3)), or NULL. */
const char *closest_name(const char *name, const char *const *cands, size_t n);

/* UTF-8 */
int utf8_valid(const char *s, size_t n, size_t *bad_at);  /* 1 if valid; else bad_at = offset */
size_t utf8_len(const char *s, size_t n);                  /* number of code points */
int utf8_encode(uint32_t cp, char out[4]);                 /* returns byte count */

#endif
