/* docs.c: the docs() source (one row per file: its path, content, size and modification time) and
 * the per-file reader it shares with pdf_metadata() (pdf.c).
 *
 * A file that cannot be read (permission, invalid UTF-8, invalid JSON, too large) is a row whose
 * `error` says why and whose content is null: one bad file in a folder of thousands must not fail
 * the statement. Rows stream in batches of at most FILE_BATCH_ROWS files or FILE_BATCH_BYTES of
 * content, so a large folder is never held in memory at once.
 */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <errno.h>
#include <pcre2.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <jansson.h>
#include "io_int.h"
#include "media.h"

enum { FILE_BATCH_ROWS = 256 };
#define FILE_BATCH_BYTES ((size_t)32 << 20)
/* Files above this are an error row rather than a 4 GB string. */
#define DOC_MAX_BYTES ((size_t)256 << 20)

typedef struct FilesReader {
    Reader base;
    char **paths; int npaths, next;
    FileRowFn row;
    void *ud;
    void (*ud_free)(void *ud);
} FilesReader;

static void free_paths(char **paths, int n)
{
    for (int i = 0; i < n; i++) free(paths[i]);
    free(paths);
}

/* Drop the paths that the PCRE2 pattern `exclude` matches (anywhere in the path). 0, or -1 with err
 * filled for an invalid pattern. */
static int apply_exclude(char **paths, int *n, const char *exclude, fql_error *err)
{
    if (!exclude) return 0;
    int code;
    PCRE2_SIZE off;
    pcre2_code *re = pcre2_compile((PCRE2_SPTR)exclude, PCRE2_ZERO_TERMINATED, PCRE2_UTF | PCRE2_MATCH_INVALID_UTF, &code, &off, NULL);
    if (!re) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(code, msg, sizeof msg);
        err_set(err, FQL_ERR_IO, "exclude: invalid regular expression '%s': %s at offset %zu", exclude, (char *)msg, (size_t)off);
        return -1;
    }
    pcre2_match_data *md = pcre2_match_data_create_from_pattern(re, NULL);
    int k = 0;
    for (int i = 0; i < *n; i++) {
        if (pcre2_match(re, (PCRE2_SPTR)paths[i], PCRE2_ZERO_TERMINATED, 0, 0, md, NULL) >= 0) free(paths[i]);
        else paths[k++] = paths[i];
    }
    *n = k;
    pcre2_match_data_free(md);
    pcre2_code_free(re);
    return 0;
}

static int files_next(Reader *base, Batch **out, fql_error *err)
{
    FilesReader *r = (FilesReader *)base;
    if (r->next >= r->npaths) return 0;
    int ncols = r->base.schema->n;
    Batch *b = batch_new(ncols, FILE_BATCH_ROWS);
    Value *row = xcalloc((size_t)ncols, sizeof *row);
    size_t bytes = 0;
    while (r->next < r->npaths && b->n < FILE_BATCH_ROWS && bytes < FILE_BATCH_BYTES) {
        for (int c = 0; c < ncols; c++) row[c] = v_null();
        size_t n = 0;
        if (r->row(r->ud, r->paths[r->next++], row, &n, err)) {
            for (int c = 0; c < ncols; c++) value_free(row[c]);
            free(row);
            batch_free(b);
            return -1;
        }
        bytes += n;
        batch_push_row(b, row);
    }
    free(row);
    *out = b;
    return 1;
}

static void files_close(Reader *base)
{
    FilesReader *r = (FilesReader *)base;
    free_paths(r->paths, r->npaths);
    if (r->ud_free) r->ud_free(r->ud);
    schema_free(r->base.schema);
    free(r);
}

Reader *files_reader_open(char **paths, int npaths, const char *exclude, Schema *schema, FileRowFn row, void *ud,
                          void (*ud_free)(void *), fql_error *err)
{
    if (apply_exclude(paths, &npaths, exclude, err)) {
        free_paths(paths, npaths);
        schema_free(schema);
        if (ud_free) ud_free(ud);
        return NULL;
    }
    FilesReader *r = xcalloc(1, sizeof *r);
    r->base.schema = schema;
    r->base.next = files_next;
    r->base.close = files_close;
    r->paths = paths;
    r->npaths = npaths;
    r->row = row;
    r->ud = ud;
    r->ud_free = ud_free;
    return &r->base;
}

int64_t io_mtime_us(const struct stat *st)
{
    return (int64_t)st->st_mtim.tv_sec * 1000000 + st->st_mtim.tv_nsec / 1000;
}

/* ---- docs() ---- */

typedef struct DocsCols {
    DocType type;
    int path, title, content, size, mtime, error;
    int read;                    /* 0 when no column that needs the file's bytes is used (projection) */
} DocsCols;

/* Read a whole file. 0 with *data (NUL-terminated) and *n; -1 with *why (static text or errno's). */
static int slurp(const char *path, const struct stat *st, char **data, size_t *n, const char **why)
{
    if ((size_t)st->st_size > DOC_MAX_BYTES) { *why = "the file is larger than 256 MB"; return -1; }
    FILE *f = fopen(path, "rb");
    if (!f) { *why = strerror(errno); return -1; }
    size_t cap = (size_t)st->st_size + 2, len = 0;   /* room to see EOF without growing */
    char *buf = xmalloc(cap);
    size_t got;
    while ((got = fread(buf + len, 1, cap - len - 1, f)) > 0) {
        len += got;
        if (len + 1 == cap) {
            if (cap > DOC_MAX_BYTES) { free(buf); fclose(f); *why = "the file is larger than 256 MB"; return -1; }
            cap *= 2;
            buf = xrealloc(buf, cap);
        }
    }
    int bad = ferror(f);
    int e = errno;
    fclose(f);
    if (bad) { free(buf); *why = strerror(e); return -1; }
    buf[len] = 0;
    *data = buf;
    *n = len;
    return 0;
}

/* The first ATX heading's text ("# Title" -> "Title"), or null. YAML front matter's `title:` wins. */
static Value markdown_title(const char *s, size_t n)
{
    const char *p = s, *end = s + n;
    int front = n >= 4 && !strncmp(s, "---\n", 4);
    if (front) p += 4;
    while (p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        if (!eol) eol = end;
        size_t len = (size_t)(eol - p);
        if (len && p[len - 1] == '\r') len--;
        if (front) {
            if (len == 3 && !strncmp(p, "---", 3)) front = 0;
            else if (len > 6 && !strncmp(p, "title:", 6)) {
                const char *t = p + 6;
                while (t < p + len && (*t == ' ' || *t == '"' || *t == '\'')) t++;
                const char *te = p + len;
                while (te > t && (te[-1] == ' ' || te[-1] == '"' || te[-1] == '\'')) te--;
                if (te > t) return v_string(t, (size_t)(te - t));
            }
        } else {
            size_t h = 0;
            while (h < len && h < 6 && p[h] == '#') h++;
            if (h > 0 && h < len && p[h] == ' ') {
                const char *t = p + h + 1, *te = p + len;
                while (t < te && *t == ' ') t++;
                while (te > t && (te[-1] == ' ' || te[-1] == '#')) te--;
                return v_string(t, (size_t)(te - t));
            }
        }
        p = eol + 1;
    }
    return v_null();
}

static int docs_row(void *ud, const char *path, Value *row, size_t *bytes, fql_error *err)
{
    const DocsCols *c = ud;
    row[c->path] = v_cstring(path);
    struct stat st;
    if (stat(path, &st) != 0) { row[c->error] = v_cstring(strerror(errno)); return 0; }
    row[c->size] = v_int((int64_t)st.st_size);
    row[c->mtime] = v_timestamp(io_mtime_us(&st));
    if (c->type == DOC_IMAGE || c->type == DOC_AUDIO) {   /* read when a request needs it (media.c) */
        row[c->content] = media_value(c->type == DOC_IMAGE ? MEDIA_IMAGE : MEDIA_AUDIO, path);
        return 0;
    }
    if (!c->read) return 0;
    char *data = NULL;
    size_t n = 0, bad;
    const char *why = NULL;
    if (slurp(path, &st, &data, &n, &why)) { row[c->error] = v_cstring(why); return 0; }
    *bytes = n;
    if (!utf8_valid(data, n, &bad)) {
        char *m = xasprintf("invalid UTF-8 at byte %zu", bad + 1);
        row[c->error] = v_cstring(m);
        free(m);
    } else if (c->type == DOC_JSON) {
        json_error_t je;
        json_t *j = json_loadb(data, n, JSON_DECODE_ANY | JSON_ALLOW_NUL, &je);
        if (!j) {
            char *m = xasprintf("invalid JSON at line %d, column %d: %s", je.line, je.column, je.text);
            row[c->error] = v_cstring(m);
            free(m);
        } else {
            Type *tj = type_json();
            const char *w = NULL;
            row[c->content] = value_from_jansson(j, tj, &w);
            type_unref(tj);
            json_decref(j);
        }
    } else {
        if (c->type == DOC_MARKDOWN) row[c->title] = markdown_title(data, n);
        row[c->content] = v_string(data, n);
    }
    free(data);
    (void)err;
    return 0;
}

Reader *docs_reader_open(char **paths, int npaths, const ReadOptions *o, fql_error *err)
{
    DocsCols *c = xcalloc(1, sizeof *c);
    c->type = o->doc_type;
    Schema *s = schema_new();
    c->path = s->n; schema_add(s, "file_path", type_string());
    c->title = -1;
    if (c->type == DOC_MARKDOWN) { c->title = s->n; schema_add(s, "title", type_string()); }
    c->content = s->n;
    schema_add(s, "content", c->type == DOC_JSON ? type_json() : c->type == DOC_IMAGE ? media_type(MEDIA_IMAGE)
                             : c->type == DOC_AUDIO ? media_type(MEDIA_AUDIO) : type_string());
    c->size = s->n; schema_add(s, "size", type_int());
    c->mtime = s->n; schema_add(s, "modified_at", type_timestamp());
    c->error = s->n; schema_add(s, "error", type_string());
    const int *pr = o->projection;
    c->read = !pr || pr[c->content] || pr[c->error] || (c->title >= 0 && pr[c->title]);
    return files_reader_open(paths, npaths, o->exclude, s, docs_row, c, free, err);
}
