/* pdf_poppler.c: the PDF plugin, fql-pdf.so (built apart from libfql, linked with poppler-glib and
 * cairo): opening a PDF, its page text as markdown, its images as PNG, its metadata, behind the
 * function table of pdf_plugin.h. libfql (pdf.c) loads it with dlopen on the first PDF call, so a
 * program that reads no PDF never loads poppler, glib or cairo. Nothing of FQL's crosses: plain
 * C strings and arrays, malloc'd by the side that returns them and freed by the other with free().
 *
 * Markdown comes from poppler's text layout: the text of a page with one rectangle per character
 * and the font size of each run. A line whose characters leave a gap wider than about one em is
 * split into cells there; runs of lines with the same number of cells (two or more) form a table.
 * Heading levels rank the font sizes larger than the body size (the size most characters have).
 */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poppler.h>
#include <cairo.h>
#include "pdf_plugin.h"

/* ---- what the plugin needs of FQL's util.c, its own (static: no symbol meets libfql's) ---- */

static void *oom(void *p)
{
    if (!p) { fputs("fql-pdf: out of memory\n", stderr); abort(); }
    return p;
}
static void *xcalloc(size_t n, size_t k) { return oom(calloc(n ? n : 1, k ? k : 1)); }
static void *xrealloc(void *p, size_t n) { return oom(realloc(p, n ? n : 1)); }
static char *xstrdup(const char *s) { return oom(strdup(s)); }
static char *xstrndup(const char *s, size_t n) { return oom(strndup(s, n)); }
static char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *xasprintf(const char *fmt, ...)
{
    va_list ap;
    char *s = NULL;
    va_start(ap, fmt);
    if (vasprintf(&s, fmt, ap) < 0) s = NULL;
    va_end(ap);
    return oom(s);
}

typedef struct Buf { char *data; size_t len, cap; } Buf;
static void buf_init(Buf *b) { b->data = NULL; b->len = b->cap = 0; }
static void buf_append(Buf *b, const char *s, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        b->cap = (b->len + n + 1) * 2;
        b->data = xrealloc(b->data, b->cap);
    }
    memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = 0;
}
static void buf_puts(Buf *b, const char *s) { buf_append(b, s, strlen(s)); }
static void buf_putc(Buf *b, char c) { buf_append(b, &c, 1); }
static char *buf_take(Buf *b)
{
    char *s = b->data ? b->data : xstrdup("");
    buf_init(b);
    return s;
}

enum { MAX_HEADING_SIZES = 6, IMAGE_MAX_SIDE = 1568 };

typedef struct PdfDoc {
    PopplerDocument *doc;
    int npages;
    int styled;                      /* body and heads computed */
    double body;                     /* the most common font size */
    double heads[MAX_HEADING_SIZES]; /* heading sizes, largest first */
    int nheads;
} PdfDoc;

static void *pdf_open(const char *path, char **err)
{
    char *abs = realpath(path, NULL);
    if (!abs) { *err = xstrdup(strerror(errno)); return NULL; }
    GError *ge = NULL;
    char *uri = g_filename_to_uri(abs, NULL, &ge);
    free(abs);
    PopplerDocument *doc = uri ? poppler_document_new_from_file(uri, NULL, &ge) : NULL;
    g_free(uri);
    if (!doc) {
        if (ge && ge->domain == POPPLER_ERROR && ge->code == POPPLER_ERROR_ENCRYPTED)
            *err = xstrdup("the PDF is encrypted and needs a password");
        else
            *err = xasprintf("not a readable PDF: %s", ge ? ge->message : "unknown error");
        if (ge) g_error_free(ge);
        return NULL;
    }
    PdfDoc *d = xcalloc(1, sizeof *d);
    d->doc = doc;
    d->npages = poppler_document_get_n_pages(doc);
    return d;
}

static void pdf_close(void *doc)
{
    PdfDoc *d = doc;
    if (!d) return;
    g_object_unref(d->doc);
    free(d);
}

static int pdf_page_count(void *doc) { return ((PdfDoc *)doc)->npages; }

/* ---- images ---- */

static int cmp_mapping(gconstpointer a, gconstpointer b)
{
    const PopplerImageMapping *x = a, *y = b;
    if (fabs(x->area.y1 - y->area.y1) > 1) return x->area.y1 < y->area.y1 ? -1 : 1;
    return x->area.x1 < y->area.x1 ? -1 : x->area.x1 > y->area.x1;
}

/* The page's image mapping in reading order (free with poppler_page_free_image_mapping). */
static GList *image_mapping(PopplerPage *p)
{
    return g_list_sort(poppler_page_get_image_mapping(p), cmp_mapping);
}

static cairo_status_t png_write(void *closure, const unsigned char *data, unsigned int n)
{
    buf_append(closure, (const char *)data, n);
    return CAIRO_STATUS_SUCCESS;
}

/* Encode surface as PNG, scaled down to fit IMAGE_MAX_SIDE. */
static void image_png(cairo_surface_t *img, FqlPdfImage *out)
{
    int w = cairo_image_surface_get_width(img), h = cairo_image_surface_get_height(img);
    cairo_surface_t *src = img;
    if (w > IMAGE_MAX_SIDE || h > IMAGE_MAX_SIDE) {
        double k = (double)IMAGE_MAX_SIDE / (w > h ? w : h);
        int sw = (int)(w * k) > 0 ? (int)(w * k) : 1, sh = (int)(h * k) > 0 ? (int)(h * k) : 1;
        src = cairo_image_surface_create(CAIRO_FORMAT_ARGB32, sw, sh);
        cairo_t *cr = cairo_create(src);
        cairo_scale(cr, k, k);
        cairo_set_source_surface(cr, img, 0, 0);
        cairo_paint(cr);
        cairo_destroy(cr);
        w = sw;
        h = sh;
    }
    Buf b;
    buf_init(&b);
    cairo_surface_write_to_png_stream(src, png_write, &b);
    if (src != img) cairo_surface_destroy(src);
    out->width = w;
    out->height = h;
    out->len = b.len;
    out->png = (unsigned char *)buf_take(&b);
}

static int pdf_page_images(void *doc, int page, FqlPdfImage **out)
{
    PdfDoc *d = doc;
    *out = NULL;
    PopplerPage *p = poppler_document_get_page(d->doc, page - 1);
    if (!p) return 0;
    GList *map = image_mapping(p);
    int n = 0;
    FqlPdfImage *v = xcalloc((size_t)g_list_length(map) + 1, sizeof *v);
    for (GList *l = map; l; l = l->next) {
        const PopplerImageMapping *m = l->data;
        cairo_surface_t *img = poppler_page_get_image(p, m->image_id);
        if (img) {
            image_png(img, &v[n]);
            cairo_surface_destroy(img);
        }
        n++;
    }
    poppler_page_free_image_mapping(map);
    g_object_unref(p);
    *out = v;
    return n;
}

/* ---- text layout ---- */

typedef struct Line {
    char **cells; int ncells;
    double top, bottom, left, size;
} Line;

typedef struct Layout { Line *lines; int n; } Layout;

static void layout_free(Layout *l)
{
    for (int i = 0; i < l->n; i++) {
        for (int c = 0; c < l->lines[i].ncells; c++) free(l->lines[i].cells[c]);
        free(l->lines[i].cells);
    }
    free(l->lines);
}

/* Cell text of bytes [a, b) with surrounding spaces removed; NULL when blank. */
static char *cell_text(const char *a, const char *b)
{
    while (a < b && (*a == ' ' || *a == '\t' || *a == '\r')) a++;
    while (b > a && (b[-1] == ' ' || b[-1] == '\t' || b[-1] == '\r')) b--;
    return b > a ? xstrndup(a, (size_t)(b - a)) : NULL;
}

static void line_add_cell(Line *ln, const char *a, const char *b)
{
    char *t = cell_text(a, b);
    if (!t) return;
    ln->cells = xrealloc(ln->cells, (size_t)(ln->ncells + 1) * sizeof *ln->cells);
    ln->cells[ln->ncells++] = t;
}

/* Lines of page p with their cells, extent and font size. Characters and rectangles correspond one
 * to one (poppler's contract); when they do not, each text line is one cell without geometry. */
static void page_layout(PopplerPage *p, Layout *out)
{
    memset(out, 0, sizeof *out);
    char *text = poppler_page_get_text(p);
    if (!text) return;
    PopplerRectangle *rects = NULL;
    guint nrects = 0;
    if (!poppler_page_get_text_layout(p, &rects, &nrects)) nrects = 0;
    glong nchars = g_utf8_strlen(text, -1);
    int geometry = nrects == (guint)nchars;
    double *size = xcalloc((size_t)nchars + 1, sizeof *size);
    GList *attrs = poppler_page_get_text_attributes(p);
    for (GList *l = attrs; l; l = l->next) {
        const PopplerTextAttributes *a = l->data;
        for (int k = a->start_index; k <= a->end_index && k < nchars; k++)
            if (k >= 0) size[k] = a->font_size;
    }
    poppler_page_free_text_attributes(attrs);
    Line ln;
    memset(&ln, 0, sizeof ln);
    ln.top = ln.left = 1e9;
    const char *cell = text, *s = text;
    int prev = -1;   /* index of the line's previous character */
    for (glong k = 0; k <= nchars; k++, s = k <= nchars ? g_utf8_next_char(s) : s) {
        gunichar c = k < nchars ? g_utf8_get_char(s) : '\n';
        if (c == '\n') {
            line_add_cell(&ln, cell, s);
            if (ln.ncells) {
                out->lines = xrealloc(out->lines, (size_t)(out->n + 1) * sizeof *out->lines);
                out->lines[out->n++] = ln;
            }
            memset(&ln, 0, sizeof ln);
            ln.top = ln.left = 1e9;
            cell = k < nchars ? g_utf8_next_char(s) : s;
            prev = -1;
            continue;
        }
        if (!geometry || g_unichar_isspace(c)) continue;
        const PopplerRectangle *r = &rects[k];
        double em = size[k] > 0 ? size[k] : 10;
        if (prev >= 0 && r->x1 - rects[prev].x2 > 0.9 * em) {
            line_add_cell(&ln, cell, s);
            cell = s;
        }
        if (r->y1 < ln.top) ln.top = r->y1;
        if (r->y2 > ln.bottom) ln.bottom = r->y2;
        if (r->x1 < ln.left) ln.left = r->x1;
        if (size[k] > ln.size) ln.size = size[k];
        prev = (int)k;
    }
    for (int i = 0; i < out->n; i++)   /* lines without geometry sit at the top */
        if (out->lines[i].top > 1e8) out->lines[i].top = out->lines[i].bottom = out->lines[i].left = 0;
    free(size);
    g_free(rects);
    g_free(text);
}

/* Font sizes rounded to half points, for counting. */
static int size_key(double s) { return (int)lround(s * 2); }

/* The body size (most characters) and the heading sizes (larger by 15% or more) of the document. */
static void doc_styles(PdfDoc *d)
{
    if (d->styled) return;
    d->styled = 1;
    enum { NKEYS = 400 };
    long count[NKEYS] = { 0 };
    for (int i = 0; i < d->npages; i++) {
        PopplerPage *p = poppler_document_get_page(d->doc, i);
        if (!p) continue;
        GList *attrs = poppler_page_get_text_attributes(p);
        for (GList *l = attrs; l; l = l->next) {
            const PopplerTextAttributes *a = l->data;
            int k = size_key(a->font_size);
            if (k > 0 && k < NKEYS) count[k] += a->end_index - a->start_index + 1;
        }
        poppler_page_free_text_attributes(attrs);
        g_object_unref(p);
    }
    int body = 0;
    for (int k = 1; k < NKEYS; k++)
        if (count[k] > count[body]) body = k;
    d->body = body ? body / 2.0 : 10;
    for (int k = NKEYS - 1; k > 0 && d->nheads < MAX_HEADING_SIZES; k--)
        if (count[k] && k / 2.0 >= d->body * 1.15) d->heads[d->nheads++] = k / 2.0;
}

/* 1.. for a heading line, 0 otherwise. */
static int heading_level(const PdfDoc *d, const Line *ln)
{
    if (ln->ncells != 1 || ln->size < d->body * 1.15 || strlen(ln->cells[0]) > 200) return 0;
    for (int i = 0; i < d->nheads; i++)
        if (ln->size >= d->heads[i] - 0.25) return i + 1;
    return d->nheads ? d->nheads : 1;
}

/* The length of a list marker at the start of s ("• ", "- ", "12. ", "3) "), with *numbered set. */
static size_t list_marker(const char *s, int *numbered)
{
    static const char *const bullets[] = { "\xe2\x80\xa2", "\xe2\x97\xa6", "\xe2\x96\xaa", "\xe2\x80\xa3", "\xe2\x80\x93",
                                           "\xc2\xb7", "-", "*", "\xe2\x97\x8f", "\xef\x82\xb7" };
    *numbered = 0;
    for (size_t i = 0; i < sizeof bullets / sizeof *bullets; i++) {
        size_t n = strlen(bullets[i]);
        if (!strncmp(s, bullets[i], n) && s[n] == ' ') return n + 1;
    }
    size_t k = 0;
    while (k < 4 && s[k] >= '0' && s[k] <= '9') k++;
    if (k && (s[k] == '.' || s[k] == ')') && s[k + 1] == ' ') { *numbered = 1; return k + 2; }
    return 0;
}

static void put_cell(Buf *b, const char *s)
{
    for (; *s; s++) {
        if (*s == '|') buf_putc(b, '\\');
        buf_putc(b, *s);
    }
}

static void put_row(Buf *b, const Line *ln)
{
    buf_puts(b, "|");
    for (int c = 0; c < ln->ncells; c++) {
        buf_putc(b, ' ');
        put_cell(b, ln->cells[c]);
        buf_puts(b, " |");
    }
}

static void put_joined(Buf *b, const Line *ln)
{
    for (int c = 0; c < ln->ncells; c++) {
        if (c) buf_putc(b, ' ');
        buf_puts(b, ln->cells[c]);
    }
}

typedef struct Out { Buf *b; int blocks; int para; const Line *last; } Out;

static void new_block(Out *o)
{
    if (o->blocks++) buf_puts(o->b, "\n\n");
    o->para = 0;
}

typedef char *(*ImageText)(void *ud, int page, int k);

/* Append the text image() gives (malloc'd, freed here). */
static void put_image(Buf *out, ImageText image, void *ud, int page, int k)
{
    char *t = image(ud, page, k);
    if (t) buf_puts(out, t);
    free(t);
}

static char *pdf_page_markdown(void *doc, int page, ImageText image, void *ud)
{
    PdfDoc *d = doc;
    Buf buf, *out = &buf;
    buf_init(out);
    doc_styles(d);
    PopplerPage *p = poppler_document_get_page(d->doc, page - 1);
    if (!p) return buf_take(out);
    Layout lay;
    page_layout(p, &lay);
    GList *map = image_mapping(p), *img = map;
    int nimg = 0;
    Out o = { out, 0, 0, NULL };
    for (int i = 0; i < lay.n; i++) {
        const Line *ln = &lay.lines[i];
        for (; img && ((const PopplerImageMapping *)img->data)->area.y1 <= ln->top; img = img->next) {
            new_block(&o);
            put_image(out, image, ud, page, ++nimg);
        }
        int run = 1;
        while (ln->ncells >= 2 && i + run < lay.n && lay.lines[i + run].ncells == ln->ncells) run++;
        int numbered, level = heading_level(d, ln);
        size_t mark = ln->ncells ? list_marker(ln->cells[0], &numbered) : 0;
        if (run >= 2) {
            new_block(&o);
            for (int r = 0; r < run; r++) {
                if (r) buf_putc(out, '\n');
                put_row(out, &lay.lines[i + r]);
                if (r == 0) {
                    buf_puts(out, "\n|");
                    for (int c = 0; c < ln->ncells; c++) buf_puts(out, " --- |");
                }
            }
            i += run - 1;
        } else if (level) {
            new_block(&o);
            for (int k = 0; k < level; k++) buf_putc(out, '#');
            buf_putc(out, ' ');
            put_joined(out, ln);
        } else if (mark) {
            /* consecutive items form one list: a single newline between them */
            if (o.last && o.last == ln - 1 && o.para == 2) buf_putc(out, '\n');
            else new_block(&o);
            if (numbered) buf_append(out, ln->cells[0], mark);
            else buf_puts(out, "- ");
            buf_puts(out, ln->cells[0] + mark);
            for (int c = 1; c < ln->ncells; c++) { buf_putc(out, ' '); buf_puts(out, ln->cells[c]); }
            o.para = 2;
        } else if (o.para == 1 && o.last == ln - 1 && fabs(ln->size - o.last->size) < 0.5 && ln->top - o.last->bottom < 0.6 * ln->size) {
            buf_putc(out, ' ');
            put_joined(out, ln);
        } else {
            new_block(&o);
            put_joined(out, ln);
            o.para = 1;
        }
        if (level || run >= 2) o.para = 0;
        o.last = &lay.lines[i];
    }
    for (; img; img = img->next) {
        new_block(&o);
        put_image(out, image, ud, page, ++nimg);
    }
    poppler_page_free_image_mapping(map);
    layout_free(&lay);
    g_object_unref(p);
    return buf_take(out);
}


/* ---- metadata ---- */

static long long doc_time(time_t t) { return t == (time_t)-1 ? -1 : (long long)t; }

static void pdf_meta(void *doc, FqlPdfMeta *m)
{
    PdfDoc *d = doc;
    memset(m, 0, sizeof *m);
    gchar *t = poppler_document_get_title(d->doc), *a = poppler_document_get_author(d->doc);
    m->title = t && *t ? xstrdup(t) : NULL;
    m->author = a && *a ? xstrdup(a) : NULL;
    g_free(t);
    g_free(a);
    m->created = doc_time(poppler_document_get_creation_date(d->doc));
    m->modified = doc_time(poppler_document_get_modification_date(d->doc));
    m->pages = d->npages;
    for (int i = 0; i < d->npages; i++) {
        PopplerPage *p = poppler_document_get_page(d->doc, i);
        if (!p) continue;
        GList *fields = poppler_page_get_form_field_mapping(p);
        for (GList *l = fields; l; l = l->next) {
            m->forms = 1;
            if (poppler_form_field_get_field_type(((PopplerFormFieldMapping *)l->data)->field) == POPPLER_FORM_FIELD_SIGNATURE) m->sigs = 1;
        }
        poppler_page_free_form_field_mapping(fields);
        GList *map = poppler_page_get_image_mapping(p);
        m->images += g_list_length(map);
        poppler_page_free_image_mapping(map);
        g_object_unref(p);
    }
    /* opened without a password: encrypted only if it restricts what may be done */
    m->restricted = poppler_document_get_permissions(d->doc) != POPPLER_PERMISSIONS_FULL;
}

__attribute__((visibility("default"))) const FqlPdfApi *fql_pdf_plugin(void)
{
    static const FqlPdfApi api = { FQL_PDF_ABI, pdf_open, pdf_close, pdf_page_count, pdf_page_images, pdf_page_markdown, pdf_meta };
    return &api;
}
