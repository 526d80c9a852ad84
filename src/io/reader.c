/* reader.c: reader_open() expands a path or glob (or fetches a remote one through remote.c) and
 * hands the files to the format's reader; errors about downloaded copies name their URLs. The top
 * of src/io/'s reading side: remote.c never calls back here. */
#include <stdlib.h>
#include <string.h>
#include "io_int.h"
#include "media.h"

void read_options_init(ReadOptions *o, FileFormat f)
{
    memset(o, 0, sizeof *o);
    o->format = f;
    o->header = 1;
    o->delimiter = f == FMT_TSV ? '\t' : ',';
    o->quote = '"';
    /* Inputs up to 64 MB are scanned in full for inference (see csv.c); this sample applies to
     * larger ones. */
    o->sample_rows = 10000;
}

Reader *reader_open_files(const char *name, char **paths, int n, const ReadOptions *o, fql_error *err)
{
    switch (o->format) {
    case FMT_CSV: case FMT_TSV:
        return csv_reader_open(paths, n, o, err);
    case FMT_JSON: case FMT_JSONL:
        return json_reader_open(paths, n, o, err);
    case FMT_PARQUET:
        return parquet_reader_open(paths, n, o, err);
    case FMT_DOCS:
        return docs_reader_open(paths, n, o, err);
    case FMT_PDF_META:
        return pdf_meta_reader_open(paths, n, o, err);
    default:
        for (int i = 0; i < n; i++) free(paths[i]);
        free(paths);
        err_set(err, FQL_ERR_IO, "%s: this format cannot be read", name);
        return NULL;
    }
}

/* ---- remote paths: the downloaded copies, read by the format's reader ---- */

typedef struct RemoteReader {
    Reader base;
    Reader *inner;
    RemoteFiles *owned;        /* fetched by reader_open itself, or NULL */
    const RemoteFiles *rf;
    int path_col;              /* docs(), pdf_metadata(): the file_path column, shown as the URL; else -1 */
    int media_col;             /* docs() of images or audio: the content column, whose values name the URL; else -1 */
} RemoteReader;

/* Rows of docs() and pdf_metadata() name the file by its URL, not by the local copy (a temporary
 * file gone when the scan ends: an image() value must outlive it). */
static void name_urls(const RemoteReader *r, Batch *b)
{
    int nf = remote_count(r->rf);
    for (size_t i = 0; i < b->n; i++) {
        Value *pv = &b->cols[r->path_col][i];
        if (pv->kind != V_STRING) continue;
        for (int f = 0; f < nf; f++) {
            if (strcmp(v_str(*pv), remote_local(r->rf, f))) continue;
            const char *url = remote_name(r->rf, f);
            if (r->media_col >= 0) {
                Value *mv = &b->cols[r->media_col][i];
                int kind = media_kind_of_value(*mv);
                if (kind) { value_free(*mv); *mv = media_value(kind, url); }
            }
            value_free(*pv);
            *pv = v_cstring(url);
            break;
        }
    }
}

static int remote_next(Reader *base, Batch **out, fql_error *err)
{
    RemoteReader *r = (RemoteReader *)base;
    int rc = reader_next(r->inner, out, err);
    if (rc < 0) remote_rename_error(r->rf, err);
    if (rc > 0 && r->path_col >= 0) name_urls(r, *out);
    return rc;
}

static void remote_close(Reader *base)
{
    RemoteReader *r = (RemoteReader *)base;
    reader_free(r->inner);
    remote_files_free(r->owned);
    schema_free(r->base.schema);
    free(r);
}

/* A reader over a remote path: fetches it (remote.c; or uses o->fetched), reads the local copies
 * with the format's reader and names the URLs, not the copies, in errors. */
static Reader *open_remote(const char *url, const ReadOptions *o, fql_error *err)
{
    RemoteFiles *owned = NULL;
    const RemoteFiles *rf = o->fetched;
    if (!rf) {
        owned = remote_fetch(url, o->cache, err);
        if (!owned) return NULL;
        rf = owned;
    }
    char **paths;
    int n = remote_local_paths(rf, &paths);
    Reader *inner = reader_open_files(url, paths, n, o, err);
    if (!inner) {
        remote_rename_error(rf, err);
        remote_files_free(owned);
        return NULL;
    }
    RemoteReader *r = xcalloc(1, sizeof *r);
    r->base.schema = schema_copy(reader_schema(inner));
    r->base.next = remote_next;
    r->base.close = remote_close;
    r->inner = inner;
    r->owned = owned;
    r->rf = rf;
    r->path_col = r->media_col = -1;
    if (o->format == FMT_DOCS || o->format == FMT_PDF_META) {
        const Schema *sc = r->base.schema;
        for (int c = 0; c < sc->n; c++) {
            if (!strcmp(sc->names[c], "file_path")) r->path_col = c;
            if (media_kind_of_type(sc->types[c])) r->media_col = c;
        }
    }
    return &r->base;
}

Reader *reader_open(const char *path, const ReadOptions *o, fql_error *err)
{
    if (io_is_remote(path)) return open_remote(path, o, err);
    char **paths = NULL;
    int n = io_glob(path, &paths);
    if (n <= 0) {
        free(paths);
        if (strpbrk(path, "*?["))
            err_set(err, FQL_ERR_IO, "no file matches %s", path);
        else
            err_set(err, FQL_ERR_IO, "cannot open %s: No such file or directory", path);
        return NULL;
    }
    return reader_open_files(path, paths, n, o, err);
}

const Schema *reader_schema(const Reader *r) { return r->schema; }
int reader_threads(const Reader *r) { return r->threads ? r->threads(r) : 1; }

int reader_next(Reader *r, Batch **out, fql_error *err)
{
    *out = NULL;
    return r->next(r, out, err);
}

void reader_free(Reader *r)
{
    if (r) r->close(r);
}
