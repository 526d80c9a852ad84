/* writer.c: the csv, tsv, json and jsonl writers, and the file handling around the Parquet writer
 * (parquet_write.c encodes; this file owns the temporary file and the rename).
 *
 * Rows are formatted into a buffer flushed every 256 KB. Modes: "error" fails when the file exists;
 * "overwrite" writes a temporary file in the same directory and renames it over the target at
 * close, so a failed write leaves the old file alone (error mode does the same, so a half-written
 * file never appears under the target name); "append" adds rows: CSV/TSV check that the existing
 * header matches the columns and write no second header, JSONL appends lines, JSON reads the
 * existing array and rewrites it (through a temporary file) with the new objects at its end.
 * Parent directories are created. An s3:// target is written to a local staging file and uploaded
 * when the writer closes (remote.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <jansson.h>
#include "remote.h"

#define FLUSH_AT (256u << 10)

struct Writer {
    char *path;         /* target */
    char *tmp;          /* temporary file renamed over path at close, or NULL when appending */
    FILE *f;
    FileFormat fmt;
    Schema *schema;
    Buf buf;
    PqWriter *pq;       /* FMT_PARQUET */
    size_t nrows;       /* rows written so far (JSON: objects, to place commas) */
    int failed;
    RemoteUpload *upload;   /* s3:// target: path is a local staging file uploaded at close */
};

/* ---- shared formatting ---- */

static void json_quote(Buf *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    buf_reserve(b, n + 2);
    buf_putc(b, '"');
    size_t start = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != '"' && c != '\\') continue;
        buf_append(b, s + start, i - start);
        start = i + 1;
        switch (c) {
        case '"': buf_puts(b, "\\\""); break;
        case '\\': buf_puts(b, "\\\\"); break;
        case '\n': buf_puts(b, "\\n"); break;
        case '\r': buf_puts(b, "\\r"); break;
        case '\t': buf_puts(b, "\\t"); break;
        default: {
            char u[6] = { '\\', 'u', '0', '0', hex[c >> 4], hex[c & 15] };
            buf_append(b, u, 6);
        }
        }
    }
    buf_append(b, s + start, n - start);
    buf_putc(b, '"');
}

void io_json_row(Buf *b, const Schema *s, const Batch *batch, size_t r)
{
    buf_putc(b, '{');
    for (int c = 0; c < s->n; c++) {
        if (c) buf_puts(b, ", ");
        json_quote(b, s->names[c], strlen(s->names[c]));
        buf_puts(b, ": ");
        value_to_json(b, batch->cols[c][r]);
    }
    buf_putc(b, '}');
}

static void csv_text(Buf *b, const char *s, size_t n, char delim, int force)
{
    int quote = force || n == 0;
    for (size_t i = 0; i < n && !quote; i++) {
        char c = s[i];
        quote = c == delim || c == '"' || c == '\n' || c == '\r';
    }
    if (!quote) { buf_append(b, s, n); return; }
    buf_reserve(b, n + 2);
    buf_putc(b, '"');
    size_t start = 0;
    for (size_t i = 0; i < n; i++)
        if (s[i] == '"') {
            buf_append(b, s + start, i + 1 - start);
            buf_putc(b, '"');
            start = i + 1;
        }
    buf_append(b, s + start, n - start);
    buf_putc(b, '"');
}

void io_csv_field(Buf *b, Value v, char delim)
{
    switch (v.kind) {
    case V_NULL: return;
    case V_STRING: csv_text(b, v_str(v), v_strlen(v), delim, 0); return;
    case V_FLOAT: format_double_plain(b, v.u.f); return;   /* as the printed csv: 0.00006735, not 6.735e-05 */
    case V_INT: case V_BOOL: case V_DATE: case V_TIMESTAMP:
        value_to_text(b, v, "");
        return;
    default: {
        Buf t;
        buf_init(&t);
        value_to_text(&t, v, "");
        csv_text(b, t.data ? t.data : "", t.len, delim, 0);
        buf_free(&t);
    }
    }
}

static void csv_header(Buf *b, const Schema *s, char delim)
{
    for (int c = 0; c < s->n; c++) {
        if (c) buf_putc(b, delim);
        csv_text(b, s->names[c], strlen(s->names[c]), delim, 0);
    }
    buf_putc(b, '\n');
}

/* ---- files ---- */

/* mkdir -p of the directory part of path. */
static int make_parents(const char *path, fql_error *err)
{
    char *p = xstrdup(path);
    for (char *s = strchr(p + 1, '/'); s; s = strchr(s + 1, '/')) {
        *s = 0;
        if (mkdir(p, 0777) < 0 && errno != EEXIST) {
            err_set(err, FQL_ERR_IO, "cannot create directory %s: %s", p, strerror(errno));
            free(p);
            return -1;
        }
        *s = '/';
    }
    free(p);
    return 0;
}

static int open_temp(Writer *w, fql_error *err)
{
    w->tmp = xasprintf("%s.tmp-XXXXXX", w->path);
    int fd = mkstemp(w->tmp);
    if (fd < 0) {
        err_set(err, FQL_ERR_IO, "cannot create %s: %s", w->tmp, strerror(errno));
        free(w->tmp);
        w->tmp = NULL;
        return -1;
    }
    /* mkstemp makes the file 0600; an output file gets the target's mode, or rw-r--r-- */
    struct stat st;
    fchmod(fd, stat(w->path, &st) == 0 ? (st.st_mode & 07777) : 0644);
    w->f = fdopen(fd, "wb");
    return 0;
}

static int flush(Writer *w, fql_error *err)
{
    if (w->buf.len && fwrite(w->buf.data, 1, w->buf.len, w->f) != w->buf.len) {
        w->failed = 1;
        return err_set(err, FQL_ERR_IO, "cannot write %s: %s", w->path, strerror(errno));
    }
    buf_clear(&w->buf);
    return 0;
}

/* The last byte of an existing file (-1 when empty or unreadable). */
static int last_byte(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) return -1;
    int c = -1;
    if (fseek(f, -1, SEEK_END) == 0) c = fgetc(f);
    fclose(f);
    return c;
}

static void writer_free(Writer *w)
{
    pq_writer_free(w->pq);
    if (w->f) fclose(w->f);
    if (w->tmp) { unlink(w->tmp); free(w->tmp); }
    free(w->path);
    schema_free(w->schema);
    buf_free(&w->buf);
    remote_upload_free(w->upload);
    free(w);
}

/* Append to an existing CSV/TSV: its header must name the same columns. */
static int check_csv_header(Writer *w, char delim, fql_error *err)
{
    char **names = NULL;
    int n = 0;
    if (csv_read_header(w->path, delim, &names, &n, err) < 0) return -1;
    int same = n == w->schema->n;
    for (int i = 0; same && i < n; i++) same = strcmp(names[i], w->schema->names[i]) == 0;
    if (!same && n > 0) {
        Buf a, b;
        buf_init(&a);
        buf_init(&b);
        for (int i = 0; i < n; i++) buf_printf(&a, "%s%s", i ? "," : "", names[i]);
        for (int i = 0; i < w->schema->n; i++) buf_printf(&b, "%s%s", i ? "," : "", w->schema->names[i]);
        err_set(err, FQL_ERR_IO, "cannot append to %s: its header (%s) differs from the columns written (%s)",
                w->path, a.data ? a.data : "", b.data ? b.data : "");
        buf_free(&a);
        buf_free(&b);
    }
    for (int i = 0; i < n; i++) free(names[i]);
    free(names);
    return err_failed(err) ? -1 : n;
}

/* JSON append: copy the existing array's objects into the new file first. */
static int copy_json_array(Writer *w, fql_error *err)
{
    json_error_t je;
    json_t *arr = json_load_file(w->path, 0, &je);
    if (!arr) return err_data(err, w->path, je.line, je.column, "cannot append: the file is not valid JSON (%s)", je.text);
    if (!json_is_array(arr)) {
        json_decref(arr);
        return err_set(err, FQL_ERR_IO, "cannot append to %s: it does not hold a JSON array", w->path);
    }
    size_t i;
    json_t *item;
    json_array_foreach(arr, i, item) {
        char *s = json_dumps(item, JSON_COMPACT | JSON_ENCODE_ANY | JSON_PRESERVE_ORDER);
        buf_puts(&w->buf, w->nrows ? ",\n" : "[\n");
        buf_puts(&w->buf, s);
        free(s);
        w->nrows++;
        if (w->buf.len >= FLUSH_AT && flush(w, err) < 0) break;
    }
    json_decref(arr);
    return err_failed(err) ? -1 : 0;
}

Writer *writer_open(const char *path, FileFormat f, WriteMode mode, const Schema *schema, fql_error *err)
{
    return writer_open_opts(path, f, mode, schema, NULL, err);
}

Writer *writer_open_opts(const char *path, FileFormat f, WriteMode mode, const Schema *schema, const WriteOptions *o, fql_error *err)
{
    if (f != FMT_CSV && f != FMT_TSV && f != FMT_JSON && f != FMT_JSONL && f != FMT_PARQUET) {
        err_set(err, FQL_ERR_IO, "%s: this format cannot be written", path);
        return NULL;
    }
    RemoteUpload *up = NULL;
    if (io_is_remote(path)) {
        if (!(up = remote_upload_open(path, mode, err))) return NULL;
        path = remote_upload_local(up);
        mode = WRITE_OVERWRITE;
    }
    Writer *w = xcalloc(1, sizeof *w);
    w->upload = up;
    w->path = xstrdup(path);
    w->fmt = f;
    w->schema = schema_copy(schema);
    buf_init(&w->buf);
    char delim = f == FMT_TSV ? '\t' : ',';
    struct stat st;
    int exists = stat(path, &st) == 0;
    if (exists && S_ISDIR(st.st_mode)) {
        err_set(err, FQL_ERR_IO, "%s is a directory", path);
        goto fail;
    }
    if (exists && mode == WRITE_ERROR) {
        err_set(err, FQL_ERR_IO, "%s already exists; use mode: \"overwrite\" or \"append\"", path);
        goto fail;
    }
    if (exists && mode == WRITE_APPEND && f == FMT_PARQUET) {
        err_set(err, FQL_ERR_IO, "cannot append to %s: a Parquet file cannot grow in place; use mode: \"overwrite\" or write a new file (a glob reads several)", path);
        goto fail;
    }
    if (make_parents(path, err) < 0) goto fail;
    if (mode == WRITE_APPEND && exists && st.st_size > 0 && f != FMT_JSON) {
        int have_header = 0;
        if (f == FMT_CSV || f == FMT_TSV) {
            have_header = check_csv_header(w, delim, err);
            if (have_header < 0) goto fail;
        }
        int last = last_byte(path);
        w->f = fopen(path, "ab");
        if (!w->f) { err_set(err, FQL_ERR_IO, "cannot open %s: %s", path, strerror(errno)); goto fail; }
        if (last != '\n' && last != -1) buf_putc(&w->buf, '\n');
        if ((f == FMT_CSV || f == FMT_TSV) && !have_header) csv_header(&w->buf, w->schema, delim);
        return w;
    }
    if (open_temp(w, err) < 0) goto fail;
    if (f == FMT_PARQUET && !(w->pq = pq_writer_new(w->f, path, w->schema, o, err))) goto fail;
    if (mode == WRITE_APPEND && exists && st.st_size > 0 && f == FMT_JSON && copy_json_array(w, err) < 0) goto fail;
    if (f == FMT_CSV || f == FMT_TSV) csv_header(&w->buf, w->schema, delim);
    return w;
fail:
    writer_free(w);
    return NULL;
}

/* One row of b as CSV/TSV or JSON Lines text onto out. */
static void format_row(const Writer *w, const Batch *b, size_t r, Buf *out)
{
    const Schema *s = w->schema;
    if (w->fmt == FMT_JSONL) {
        io_json_row(out, s, b, r);
        buf_putc(out, '\n');
        return;
    }
    char delim = w->fmt == FMT_TSV ? '\t' : ',';
    for (int c = 0; c < s->n; c++) {
        if (c) buf_putc(out, delim);
        io_csv_field(out, b->cols[c][r], delim);
    }
    buf_putc(out, '\n');
}

int writer_formats(const Writer *w) { return w->fmt == FMT_CSV || w->fmt == FMT_TSV || w->fmt == FMT_JSONL; }

void writer_format(const Writer *w, const Batch *b, Buf *out)
{
    for (size_t r = 0; r < b->n; r++) format_row(w, b, r, out);
}

int writer_put(Writer *w, const Buf *text, size_t nrows, fql_error *err)
{
    if (w->failed) return -1;
    buf_append(&w->buf, text->data ? text->data : "", text->len);
    w->nrows += nrows;
    return w->buf.len >= FLUSH_AT ? flush(w, err) : 0;
}

int writer_write(Writer *w, const Batch *b, fql_error *err)
{
    if (w->failed) return -1;
    if (w->pq) {
        if (pq_writer_write(w->pq, b, err) == 0) return 0;
        w->failed = 1;
        return -1;
    }
    const Schema *s = w->schema;
    for (size_t r = 0; r < b->n; r++) {
        switch (w->fmt) {
        case FMT_CSV: case FMT_TSV: case FMT_JSONL:
            format_row(w, b, r, &w->buf);
            break;
        default:   /* FMT_JSON */
            buf_puts(&w->buf, w->nrows ? ",\n" : "[\n");
            io_json_row(&w->buf, s, b, r);
            break;
        }
        w->nrows++;
        if (w->buf.len >= FLUSH_AT && flush(w, err) < 0) return -1;
    }
    return 0;
}

/* If err already holds an error (the pipeline feeding the writer failed), the write is abandoned:
 * the temporary file is removed and the target keeps its old content (append mode on CSV/TSV/JSONL
 * writes in place, so the rows written so far stay). */
int writer_close(Writer *w, fql_error *err)
{
    if (!w) return 0;
    int rc = w->failed || err_failed(err) ? -1 : 0;
    if (rc == 0 && w->fmt == FMT_JSON) buf_puts(&w->buf, w->nrows ? "\n]\n" : "[]\n");
    if (rc == 0 && w->pq) rc = pq_writer_finish(w->pq, err);
    if (rc == 0) rc = flush(w, err);
    if (w->f) {
        if (fclose(w->f) != 0 && rc == 0) rc = err_set(err, FQL_ERR_IO, "cannot write %s: %s", w->path, strerror(errno));
        w->f = NULL;
    }
    if (rc == 0 && w->tmp) {
        if (rename(w->tmp, w->path) != 0) rc = err_set(err, FQL_ERR_IO, "cannot write %s: %s", w->path, strerror(errno));
        else { free(w->tmp); w->tmp = NULL; }
    }
    if (rc == 0 && w->upload) rc = remote_upload_finish(w->upload, err);
    writer_free(w);
    return rc;
}
