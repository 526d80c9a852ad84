/* pdf.c: PDFs for libfql: the pdf_metadata() source and the page text, markdown and images behind
 * parse_pdf() (doc.h), through the PDF plugin fql-pdf.so (pdf_poppler.c, pdf_plugin.h).
 *
 * poppler-glib and cairo (and glib, and some forty libraries under them) load only with the
 * plugin, on the first PDF a statement opens: a program that reads no PDF starts without them.
 * The plugin is looked for where plugin.c says. A missing plugin is an error of the PDF call that
 * says where it looked.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include "io_int.h"
#include "doc.h"
#include "pdf_plugin.h"

struct PdfDoc { void *doc; int npages; };

static const FqlPdfApi *api;     /* set once by load_plugin */
static char *api_err;            /* why it is not, then */
static pthread_once_t api_once = PTHREAD_ONCE_INIT;

static void load_plugin(void)
{
    char *tried = NULL;
    api = plugin_load(FQL_PDF_PLUGIN, FQL_PDF_SYMBOL, FQL_PDF_ABI, &tried);
    if (!api)
        api_err = xasprintf("PDF support needs the plugin %s (built by make with poppler-glib; installed by make install), "
                            "and it was not found or did not load: tried %s. Set FQL_PLUGIN_DIR to the directory that holds it",
                            FQL_PDF_PLUGIN, tried);
    free(tried);
}

/* The plugin's functions, loaded on first use; NULL with *err (a copy of why not). */
static const FqlPdfApi *pdf_api(char **err)
{
    pthread_once(&api_once, load_plugin);
    if (!api && err) *err = xstrdup(api_err);
    return api;
}

PdfDoc *pdf_open(const char *path, char **err)
{
    if (!pdf_api(err)) return NULL;
    void *doc = api->open(path, err);
    if (!doc) return NULL;
    PdfDoc *d = xcalloc(1, sizeof *d);
    d->doc = doc;
    d->npages = api->page_count(doc);
    return d;
}

void pdf_close(PdfDoc *d)
{
    if (!d) return;
    api->close(d->doc);
    free(d);
}

int pdf_page_count(const PdfDoc *d) { return d->npages; }

int pdf_page_images(PdfDoc *d, int page, PdfImage **out)
{
    FqlPdfImage *v = NULL;
    int n = api->page_images(d->doc, page, &v);
    *out = xcalloc((size_t)n + 1, sizeof **out);
    for (int i = 0; i < n; i++)
        (*out)[i] = (PdfImage){ page, i + 1, v[i].width, v[i].height, v[i].png, v[i].len };   /* takes the PNG */
    free(v);
    return n;
}

void pdf_images_free(PdfImage *v, int n)
{
    for (int i = 0; v && i < n; i++) free(v[i].png);
    free(v);
}

/* The caller's image text callback (which appends to a Buf) as the plugin calls it (a string). */
typedef struct ImageCall { PdfImageText image; void *ud; } ImageCall;

static char *image_call(void *ud, int page, int k)
{
    const ImageCall *c = ud;
    Buf b;
    buf_init(&b);
    c->image(c->ud, page, k, &b);
    return buf_take(&b);
}

void pdf_page_markdown(PdfDoc *d, int page, Buf *out, PdfImageText image, void *ud)
{
    ImageCall c = { image, ud };
    char *md = api->page_markdown(d->doc, page, image_call, &c);
    if (md) buf_puts(out, md);
    free(md);
}

/* ---- pdf_metadata() ---- */

enum { M_PATH, M_SIZE, M_TITLE, M_AUTHOR, M_CREATED, M_MODIFIED, M_PAGES, M_FORMS, M_SIGS, M_IMAGES, M_ENCRYPTED, M_ERROR, M_NCOLS };

static Value opt_string(char *s)
{
    Value v = s && *s ? v_cstring(s) : v_null();
    free(s);
    return v;
}

static Value opt_time(long long t)
{
    return t == -1 ? v_null() : v_timestamp((int64_t)t * 1000000);
}

static int meta_row(void *ud, const char *path, Value *row, size_t *bytes, fql_error *err)
{
    const int *open_it = ud;
    row[M_PATH] = v_cstring(path);
    struct stat st;
    if (stat(path, &st) != 0) { row[M_ERROR] = v_cstring(strerror(errno)); return 0; }
    row[M_SIZE] = v_int((int64_t)st.st_size);
    if (!*open_it) return 0;
    char *why = NULL;
    PdfDoc *d = pdf_open(path, &why);
    if (!d) {
        if (strstr(why, "encrypted")) row[M_ENCRYPTED] = v_bool(1);   /* else unknown: null */
        row[M_ERROR] = v_cstring(why);
        free(why);
        return 0;
    }
    FqlPdfMeta m;
    api->meta(d->doc, &m);
    row[M_TITLE] = opt_string(m.title);
    row[M_AUTHOR] = opt_string(m.author);
    row[M_CREATED] = opt_time(m.created);
    row[M_MODIFIED] = opt_time(m.modified);
    row[M_PAGES] = v_int(m.pages);
    row[M_FORMS] = v_bool(m.forms);
    row[M_SIGS] = v_bool(m.sigs);
    row[M_IMAGES] = v_int(m.images);
    row[M_ENCRYPTED] = v_bool(m.restricted);
    pdf_close(d);
    (void)bytes; (void)err;
    return 0;
}

Reader *pdf_meta_reader_open(char **paths, int npaths, const ReadOptions *o, fql_error *err)
{
    static const char *const names[M_NCOLS] = { "file_path", "size", "title", "author", "creation_date", "mod_date",
                                                "page_count", "has_forms", "has_signature_fields", "image_count",
                                                "is_encrypted", "error" };
    Schema *s = schema_new();
    for (int i = 0; i < M_NCOLS; i++) {
        Type *t = i == M_SIZE || i == M_PAGES || i == M_IMAGES ? type_int()
                : i == M_CREATED || i == M_MODIFIED ? type_timestamp()
                : i == M_FORMS || i == M_SIGS || i == M_ENCRYPTED ? type_bool() : type_string();
        schema_add(s, names[i], t);
    }
    /* only file_path and size read: the PDFs need not be opened */
    int *open_it = xmalloc(sizeof *open_it);
    *open_it = 0;
    for (int i = 0; i < M_NCOLS; i++)
        if (i != M_PATH && i != M_SIZE && (!o->projection || o->projection[i])) *open_it = 1;
    return files_reader_open(paths, npaths, o->exclude, s, meta_row, open_it, free, err);
}
