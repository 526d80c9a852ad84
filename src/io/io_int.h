/* io_int.h: what the readers and writers of src/io/ share (not used outside src/io/).
 *
 * A Reader is a small vtable: each format embeds `Reader` as the first member of its own state and
 * fills next/close. reader_open() (reader.c) expands the glob and dispatches on the format.
 */
#ifndef FQL_IO_INT_H
#define FQL_IO_INT_H

#include "io.h"

struct Reader {
    Schema *schema;                                          /* owned */
    int (*threads)(const Reader *r);                         /* threads that took part so far (NULL: 1) */
    int  (*next)(Reader *r, Batch **out, fql_error *err);
    void (*close)(Reader *r);                                /* frees the format's state and r */
};

/* Open local files with the format's reader (name is the path as given, for errors); paths are
 * consumed. reader_open() uses it for local globs and for the downloaded copies of remote paths. */
Reader *reader_open_files(const char *name, char **paths, int npaths, const ReadOptions *o, fql_error *err);

/* Glob match of a whole '/'-separated path, as io_glob matches local ones (glob.c): `*`, `?`,
 * `[..]` within one component, `**` for any number of components. 1 on match. */
int  io_glob_match(const char *pattern, const char *path);
int  io_has_magic(const char *s);          /* 1 when s has a glob character (`*`, `?`, `[`) */
/* A listing: the names that matched a glob (remote_hf.c, remote_s3.c). */
typedef struct NameList { char **names; int n, cap; } NameList;
void io_names_add(NameList *l, const char *name);   /* a copy of name */
void io_names_sort(NameList *l);                    /* sorted by bytes, duplicates dropped */
void io_names_free(NameList *l);

/* Format openers: paths[npaths] are consumed (each string and the array). */
Reader *csv_reader_open(char **paths, int npaths, const ReadOptions *o, fql_error *err);
Reader *json_reader_open(char **paths, int npaths, const ReadOptions *o, fql_error *err);
Reader *parquet_reader_open(char **paths, int npaths, const ReadOptions *o, fql_error *err);
Reader *docs_reader_open(char **paths, int npaths, const ReadOptions *o, fql_error *err);
Reader *pdf_meta_reader_open(char **paths, int npaths, const ReadOptions *o, fql_error *err);

/* One row per file (docs.c): row() fills row[] (all null on entry, consumed by the batch) for path
 * and sets *bytes to the content size it read (batches are cut by bytes as well as rows); a file
 * that cannot be read is a row with an error column, so row() returns -1 (err filled) only for a
 * failure of the whole statement. files_reader_open consumes paths, schema and ud (freed with
 * ud_free); paths matched by the PCRE2 pattern exclude (may be NULL) are dropped. */
struct stat;
typedef int (*FileRowFn)(void *ud, const char *path, Value *row, size_t *bytes, fql_error *err);
Reader *files_reader_open(char **paths, int npaths, const char *exclude, Schema *schema, FileRowFn row, void *ud,
                          void (*ud_free)(void *), fql_error *err);
int64_t io_mtime_us(const struct stat *st);   /* modification time in microseconds since 1970 */

/* A string -> int64 hash map (strmap.c) for name lookups. Zero-initialise it ({0}); strmap_put
 * copies the key and replaces an existing value; strmap_get returns the value's address (valid until
 * the next put) or NULL. */
typedef struct StrMap { char **keys; int64_t *vals; size_t cap, n; } StrMap;
const int64_t *strmap_get(const StrMap *m, const char *key);
void strmap_put(StrMap *m, const char *key, int64_t val);
void strmap_free(StrMap *m);

/* Rows per batch for a table ncols wide: BATCH_ROWS, fewer for very wide tables so that a batch
 * holds at most about 4M cells (a million columns times 2048 rows would reserve 32 GB). */
static inline size_t io_batch_rows(int ncols)
{
    size_t cells = (size_t)1 << 22;
    return ncols <= 0 || (size_t)ncols * BATCH_ROWS <= cells ? BATCH_ROWS : cells / (size_t)ncols ? cells / (size_t)ncols : 1;
}

/* The header names of a CSV/TSV file (quote '"'). Returns 0 (n = 0 for an empty file), -1 on error. */
int csv_read_header(const char *path, char delim, char ***names, int *n, fql_error *err);

/* Type inference shared by the readers: a bitmask of the types a text could be. */
enum { FIT_INT = 1, FIT_FLOAT = 2, FIT_BOOL = 4, FIT_DATE = 8, FIT_TS = 16, FIT_ALL = 31 };
unsigned io_text_fits(const char *s, size_t n);
Type    *io_type_of_fits(unsigned mask, int seen);   /* new reference; string when nothing fits */
/* Parsers over (s, n), not NUL-terminated; 1 on success. */
int io_parse_int(const char *s, size_t n, int64_t *out);
int io_parse_float(const char *s, size_t n, double *out);     /* also nan/inf */
int io_parse_bool(const char *s, size_t n, int *out);
int io_parse_date(const char *s, size_t n, int64_t *out);

/* The Parquet writer (parquet_write.c) behind writer.c's Writer: it writes to f, which the Writer
 * owns (a temporary file renamed over the target at close). */
typedef struct PqWriter PqWriter;
PqWriter *pq_writer_new(FILE *f, const char *path, const Schema *s, const WriteOptions *o, fql_error *err);
int       pq_writer_write(PqWriter *w, const Batch *b, fql_error *err);   /* 0 or -1 */
int       pq_writer_finish(PqWriter *w, fql_error *err);                  /* last row group and footer */
void      pq_writer_free(PqWriter *w);                                    /* NULL-safe */

/* Writing helpers shared by writer.c and print.c. */
/* Append a CSV/TSV field: quoted (quotes doubled) when it holds the delimiter, a quote, CR/LF,
 * leading/trailing spaces, or is empty text (so that it reads back as "" rather than null). Nulls
 * are written as nothing. Lists/structs as JSON text. */
void io_csv_field(Buf *b, Value v, char delim);
/* Append one JSON object for row r of b (keys from s). */
void io_json_row(Buf *b, const Schema *s, const Batch *batch, size_t r);

#endif
