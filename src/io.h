/* io.h: readers and writers of table files (CSV/TSV, JSON, JSONL) and result printing.
 *
 * Readers stream: reader_next() returns one batch at a time. Paths may be globs (`*`, `?`, `[..]`,
 * and `**` for any number of directories); the files of a glob are read in sorted order and must
 * share one header. Data errors name the file, row and column ("data.csv:17:3: unterminated quoted
 * field"), rows counted from 1 at the first line of the file (the header is row 1 when present).
 */
#ifndef FQL_IO_H
#define FQL_IO_H

#include <stdio.h>
#include "table.h"

typedef enum { FMT_CSV, FMT_TSV, FMT_JSON, FMT_JSONL, FMT_TABLE, FMT_MARKDOWN, FMT_PARQUET,
               FMT_DOCS,        /* docs(): one row per file (docs.c) */
               FMT_PDF_META     /* pdf_metadata(): one row per PDF (pdf.c) */
} FileFormat;

/* docs(type: ...): how a file's content is read. */
typedef enum { DOC_TEXT, DOC_MARKDOWN, DOC_JSON,
               DOC_IMAGE, DOC_AUDIO   /* content is an image()/audio() value (media.h): the file is not read */
} DocType;

typedef struct RemoteFiles RemoteFiles;

typedef struct ReadOptions {
    FileFormat format;
    int header;              /* CSV/TSV: first line is a header (default 1) */
    char delimiter;          /* default ',' (csv) or '\t' (tsv) */
    char quote;              /* default '"'; 0 = no quoting */
    const Schema *schema;    /* explicit types for some or all columns (by name), or NULL */
    size_t sample_rows;      /* rows sampled for type inference in files over 64 MB (default 10,000; smaller files are scanned whole) */
    int *projection;         /* optional: for each column of the file schema, 1 if needed (others may be skipped, left null) */
    int cache;               /* remote paths: keep downloads in the cache directory, revalidated by ETag/Last-Modified */
    RemoteFiles *fetched;    /* remote paths: the local copies to read (borrowed), or NULL to fetch when opened */
    DocType doc_type;        /* docs(): text, markdown or json */
    const char *exclude;     /* docs() / pdf_metadata(): a PCRE2 pattern; matching paths are skipped (or NULL) */
    int threads;             /* Parquet: row groups decoded on up to this many threads, batches in file order (0 or 1: one) */
} ReadOptions;

/* A plugin (plugin.c): load file (e.g. "fql-pdf.so") from the plugin directories and return the
 * table its function `symbol` returns, when that table's first member (an int) is abi; else NULL
 * and, when tried is not NULL, *tried (malloc'd) lists the paths tried and why each failed. */
const void *plugin_load(const char *file, const char *symbol, int abi, char **tried);

void read_options_init(ReadOptions *o, FileFormat f);

typedef struct Reader Reader;
/* Open path (or glob) and infer its schema from a sample (explicit schema entries win; a value that
 * does not fit an explicit type is a data error). Returns NULL with err filled (no file matches the
 * glob, unreadable file, bad header, invalid UTF-8, ...). */
Reader       *reader_open(const char *path, const ReadOptions *o, fql_error *err);
const Schema *reader_schema(const Reader *r);       /* borrowed */
int           reader_threads(const Reader *r);      /* threads that took part in reading so far (1: the caller's only) */
/* 1: *out is a new batch (caller frees); 0: end of data; -1: error (err filled, names file/row/col). */
int           reader_next(Reader *r, Batch **out, fql_error *err);
void          reader_free(Reader *r);

typedef enum { WRITE_ERROR, WRITE_OVERWRITE, WRITE_APPEND } WriteMode;
/* Options of the Parquet writer (ignored by the others). Zeroed = the defaults: zstd, and
 * row groups of PQ_DEFAULT_GROUP_ROWS rows. */
typedef enum { COMPRESS_DEFAULT, COMPRESS_NONE, COMPRESS_SNAPPY, COMPRESS_ZSTD, COMPRESS_GZIP } Compression;
typedef struct WriteOptions { Compression compression; size_t row_group_size; } WriteOptions;
#define PQ_DEFAULT_GROUP_ROWS 122880
typedef struct Writer Writer;
/* mode error: fail if the file exists. append: CSV/TSV/JSONL add rows (no second header);
 * JSON append rewrites the array with the new objects at its end; Parquet cannot be appended to
 * (an existing file is an error). Parent directories are created. o may be NULL. */
Writer *writer_open_opts(const char *path, FileFormat f, WriteMode mode, const Schema *schema, const WriteOptions *o, fql_error *err);
Writer *writer_open(const char *path, FileFormat f, WriteMode mode, const Schema *schema, fql_error *err);
int     writer_write(Writer *w, const Batch *b, fql_error *err);       /* 0 ok, -1 error */
/* Text formats written a batch at a time on other threads: does w's format (CSV, TSV, JSON Lines)
 * allow it? writer_format appends b's rows as w would write them to out, and may run on any
 * thread (it only reads w); writer_put then writes such text of nrows rows, in order. */
int     writer_formats(const Writer *w);
void    writer_format(const Writer *w, const Batch *b, Buf *out);
int     writer_put(Writer *w, const Buf *text, size_t nrows, fql_error *err);   /* 0 ok, -1 error */
int     writer_close(Writer *w, fql_error *err);                       /* finishes and frees; 0 ok; NULL-safe */

/* Printing a result. FMT_TABLE draws a boxed, aligned table (cells longer than max_width cut with
 * "…", nulls as NULL, numbers right-aligned, footer "N rows"); max_rows > 0 prints the first and last
 * rows with a "⋮" line. FMT_CSV/TSV print a header line; FMT_JSON an array; FMT_JSONL a line per
 * row; FMT_MARKDOWN a GitHub table. */
typedef struct PrintOptions { FileFormat format; int max_width; int term_width; size_t max_rows; } PrintOptions;
void print_options_init(PrintOptions *o);
void print_table(FILE *out, const Table *t, const PrintOptions *o);
/* The same a batch at a time (print.c, above): printer_begin prints what comes before the rows,
 * printer_batch the rows it can (borrows b), printer_end the rest and frees the printer;
 * printer_free drops one without finishing (an error part way: what printed stays printed). */
typedef struct Printer Printer;
Printer *printer_begin(FILE *out, const Schema *s, const PrintOptions *o);
void     printer_batch(Printer *p, const Batch *b);
void     printer_end(Printer *p);
void     printer_free(Printer *p);

/* Remote paths (src/io/remote.c): https:// and http:// URLs, hf://datasets/OWNER/NAME[@REV]/PATH
 * and s3://BUCKET/KEY, the last two with globs. reader_open() fetches them itself; a caller that
 * opens the same path twice (the binder, then the executor) fetches once with remote_fetch() and
 * passes the result in ReadOptions.fetched. Each file is streamed to a local copy (a temporary
 * file, or the cache directory with cache: true), because readers scan a file twice (inference,
 * then rows) and Parquet reads from the end. Errors name the URL, never a credential. */
int          io_is_remote(const char *path);
/* Writable remote target (s3://) check for the binder: NULL when fine, else a message (static). */
const char  *remote_write_refusal(const char *path, WriteMode mode);
RemoteFiles *remote_fetch(const char *url, int cache, fql_error *err);
int          remote_count(const RemoteFiles *rf);
const char  *remote_local(const RemoteFiles *rf, int i);   /* the local copy of file i */
const char  *remote_name(const RemoteFiles *rf, int i);    /* its URL, as errors show it */
/* The local copies, as io_glob returns paths (caller frees each and the array). */
int          remote_local_paths(const RemoteFiles *rf, char ***paths);
/* Rewrite err so that it names URLs instead of the local copies. */
void         remote_rename_error(const RemoteFiles *rf, fql_error *err);
/* Append what identifies the fetched data (each URL and the SHA-256 of its bytes) to b: a cache
 * point over a remote scan is reused only while the data is the same. */
void         remote_fingerprint(Buf *b, const RemoteFiles *rf);
RemoteFiles *remote_files_ref(RemoteFiles *rf);            /* another reference; NULL-safe */
/* Drops a reference; the last deletes the temporary copies. NULL-safe. */
void         remote_files_free(RemoteFiles *rf);
/* The rows of a Parquet file as its footer counts them (for the optimizer's estimates), or -1 when
 * it cannot be read. */
double parquet_file_rows(const char *path);

/* Folders of partitions. A path that ends in '/' or names an existing directory is a folder
 * (io_is_folder; never for remote URLs other than s3://, which ends in '/'). A writer given a folder
 * writes part I of N into it as "part-%05d-of-%05d.EXT" (io_part_path, malloc'd), EXT the format's
 * extension (io_format_ext: "csv", "tsv", "json", "jsonl", "parquet"); a reader given a local folder
 * reads the folder's "*.EXT" files (io_folder_glob, malloc'd), so the parts read back as one data set. */
int         io_is_folder(const char *path);
const char *io_format_ext(FileFormat f);
char       *io_part_path(const char *folder, FileFormat f, int i, int n);
char       *io_folder_glob(const char *folder, FileFormat f);

/* Glob expansion shared by readers: sorted matches of pattern (supports **). Returns count, fills
 * *paths (caller frees each and the array). A pattern without wildcards is returned as-is if the
 * file exists. */
int  io_glob(const char *pattern, char ***paths);

#endif
