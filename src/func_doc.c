/* func_doc.c: document functions: parse_pdf(path [, page_separator:, describe_images:, model:]).
 *
 * parse_pdf turns each page into markdown (pdf.c) and joins the pages with the separator. It runs
 * as a semantic job (semantic.c): without describe_images a row is rendered when the job starts and
 * nothing is sent. With describe_images: true the row's images are sent to the (vision) model
 * first: the images of consecutive pages share a request while they fit the model's context
 * window, each request goes through the runtime (response cache, rate limits, retries) and, when
 * the job finishes, the model's "Image N: ..." lines go where the images stand. Between the two
 * the PDF is closed, so a piece of 2,048 rows never holds 2,048 open files.
 *
 * Failures are values: a PDF that cannot be read is a null with a row in system.lm_errors; an
 * image whose request failed keeps its bare placeholder (the page text is still returned) and the
 * failure is recorded too.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <openssl/evp.h>
#include "func.h"
#include "rt.h"
#include "catalog.h"
#include "models.h"
#include "state.h"
#include "doc.h"

const FuncDef func_doc_defs[] = {
    { 0 }
};

enum {
    IMAGES_PER_REQUEST = 20,
    IMAGE_MAX_TOKENS = 1600     /* what a 1568-pixel image costs at most (Anthropic's w·h/750) */
};
#define DEFAULT_SEPARATOR "--- PAGE {page} ---"

static const char *const describe_prompt =
    "You describe the images of a PDF document so that a text version of the document can stand in for them. "
    "For each image, write one line in the form `Image N: description`, N being the image's number as listed, in "
    "order. Say what the image shows; copy any text, labels and figures in it. Answer with these lines only.";

/* The images of a row being described: where each stands and what the model said of it. */
typedef struct Described {
    LmModel *m;
    int n;
    int *page, *index;           /* image i is image index[i] of page page[i] */
    char **desc;                 /* desc[i], or NULL */
} Described;

/* One request: images [from, to) of row `row`. */
typedef struct Part { PdfJob *job; size_t row; int from, to; struct Part *next; } Part;

struct PdfJob {
    Runtime *rt;
    const SemHost *host;         /* the semantic runtime's entry points (models.h) */
    const Expr *e;
    Value **args;                /* borrowed from the SemJob, which outlives this */
    size_t n;
    int64_t first_row;
    Value *out;                  /* rows rendered so far */
    Described **rows;            /* rows waiting for descriptions, else NULL */
    Part *parts;
};

/* The value of the argument named name (NULL: the first positional one) at row r, or null. */
static Value arg_at(const Expr *e, Value **args, const char *name, size_t r)
{
    for (int i = 0; i < e->nargs; i++) {
        const char *an = e->argnames ? e->argnames[i] : NULL;
        if (name ? an && !strcmp(an, name) : !an) return args[i][r];
    }
    return v_null();
}

static void row_error(PdfJob *p, size_t r, const char *alias, const char *kind, const char *msg)
{
    state_add_error(p->rt->state, p->rt->query_id, p->first_row + (int64_t)r, alias, kind, msg);
}

/* ---- markdown ---- */

/* The text standing for image k of page: its description when there is one. */
static void image_text(void *ud, int page, int k, Buf *out)
{
    const Described *d = ud;
    const char *desc = NULL;
    for (int i = 0; d && i < d->n; i++)
        if (d->page[i] == page && d->index[i] == k) desc = d->desc[i];
    buf_printf(out, "[Image %d on page %d", k, page);
    if (desc) buf_printf(out, ": %s", desc);
    buf_putc(out, ']');
}

/* The separator before page p: {page} replaced by the page number. */
static void put_separator(Buf *b, const char *sep, int page)
{
    for (const char *p = sep; *p; p++) {
        if (!strncmp(p, "{page}", 6)) { buf_printf(b, "%d", page); p += 5; }
        else buf_putc(b, *p);
    }
}

static Value render(const PdfJob *p, size_t r, PdfDoc *pdf, const Described *d)
{
    Value sv = arg_at(p->e, p->args, "page_separator", r);
    const char *sep = sv.kind == V_STRING ? v_str(sv) : DEFAULT_SEPARATOR;
    Buf b;
    buf_init(&b);
    for (int page = 1; page <= pdf_page_count(pdf); page++) {
        if (page > 1) {
            buf_puts(&b, "\n\n");
            if (*sep) { put_separator(&b, sep, page); buf_puts(&b, "\n\n"); }
        }
        pdf_page_markdown(pdf, page, &b, image_text, (void *)d);
    }
    Value v = v_string(b.data ? b.data : "", b.len);
    buf_free(&b);
    return v;
}

/* Open row r's PDF; NULL (recorded in lm_errors) when it cannot be read. */
static PdfDoc *open_row(PdfJob *p, size_t r, const char *alias)
{
    const char *path = v_str(arg_at(p->e, p->args, NULL, r));
    char *why = NULL;
    PdfDoc *pdf = pdf_open(path, &why);
    if (!pdf) {
        char *msg = xasprintf("%s: %s", path, why);
        row_error(p, r, alias, "unreadable_pdf", msg);
        free(msg);
        free(why);
    }
    return pdf;
}

/* ---- describing images ---- */

static void described_free(Described *d)
{
    if (!d) return;
    for (int i = 0; i < d->n; i++) free(d->desc[i]);
    free(d->desc);
    free(d->page);
    free(d->index);
    free(d);
}

static char *base64(const unsigned char *p, size_t n)
{
    char *out = xmalloc(4 * ((n + 2) / 3) + 1);
    EVP_EncodeBlock((unsigned char *)out, p, (int)n);
    return out;
}

static int64_t image_tokens(const PdfImage *im)
{
    int64_t t = (int64_t)im->width * im->height / 750 + 85;
    return t < IMAGE_MAX_TOKENS ? t : IMAGE_MAX_TOKENS;
}

/* The request for images im[from, to) of row r. */
static LmRequest *describe_request(const PdfJob *p, size_t r, const PdfImage *im, int from, int to)
{
    LmRequest *req = lm_request_new(LM_CHAT);
    Value instr = arg_at(p->e, p->args, "instructions", r);
    req->system = instr.kind == V_STRING ? xasprintf("%s\n\n%s", describe_prompt, v_str(instr)) : xstrdup(describe_prompt);
    const char *path = v_str(arg_at(p->e, p->args, NULL, r)), *base = strrchr(path, '/');
    Buf u;
    buf_init(&u);
    buf_printf(&u, "The document is %s. Its images, numbered in order:", base ? base + 1 : path);
    req->images = xcalloc((size_t)(to - from), sizeof *req->images);
    for (int i = from; i < to; i++) {
        buf_printf(&u, "\nImage %d: page %d, %d x %d pixels", i - from + 1, im[i].page, im[i].width, im[i].height);
        req->images[req->nimages].mime_type = xstrdup("image/png");
        req->images[req->nimages++].base64 = base64(im[i].png, im[i].len);
        req->est_input_tokens += image_tokens(&im[i]);
    }
    req->user = buf_take(&u);
    req->est_input_tokens += (int64_t)(strlen(req->system) + strlen(req->user)) / 4 + 16;
    Value t = arg_at(p->e, p->args, "temperature", r), mo = arg_at(p->e, p->args, "max_output_tokens", r);
    req->temperature = t.kind == V_FLOAT ? t.u.f : t.kind == V_INT ? (double)t.u.i : NAN;
    req->max_output_tokens = mo.kind == V_INT ? (int)mo.u.i : 0;
    return req;
}

/* Put the "Image N: text" lines of an answer into d->desc[from + N - 1]. */
static void take_descriptions(Described *d, int from, int to, const char *text)
{
    for (const char *p = text; p && *p;) {
        const char *eol = strchr(p, '\n');
        const char *end = eol ? eol : p + strlen(p);
        while (p < end && strchr(" \t*-#>", *p)) p++;
        if (end - p > 6 && !strncasecmp(p, "image", 5)) {
            char *q;
            long k = strtol(p + 5, &q, 10);
            while (q < end && strchr("*_ ", *q)) q++;
            if (q < end && strchr(":.)-", *q) && k >= 1 && k <= to - from) {
                q++;
                while (q < end && (*q == ' ' || *q == '*')) q++;
                const char *te = end;
                while (te > q && strchr(" \t\r*", te[-1])) te--;
                if (te > q && !d->desc[from + k - 1]) d->desc[from + k - 1] = xstrndup(q, (size_t)(te - q));
            }
        }
        p = eol ? eol + 1 : NULL;
    }
}

/* A request's final answer: take its descriptions, or record why there are none. */
static void on_described(void *ud, const LmAnswer *a)
{
    Part *pt = ud;
    PdfJob *p = pt->job;
    Described *d = p->rows[pt->row];
    if (a->outcome != LM_OK) {
        row_error(p, pt->row, d->m->alias, a->error_kind ? a->error_kind : "failed", a->error_message ? a->error_message : "the request failed");
        return;
    }
    take_descriptions(d, pt->from, pt->to, a->text);
    int missing = 0;
    for (int i = pt->from; i < pt->to; i++) missing += !d->desc[i];
    if (missing) {
        char *msg = xasprintf("the answer described %d of %d images (expected lines \"Image N: ...\")",
                              pt->to - pt->from - missing, pt->to - pt->from);
        row_error(p, pt->row, d->m->alias, "invalid_answer", msg);
        free(msg);
    }
}

/* Send the images of row r (im[0..n)) in requests of consecutive images that fit half the model's
 * context window. */
static void submit_images(SemJob *j, PdfJob *p, size_t r, const PdfImage *im, int n)
{
    Described *d = p->rows[r];
    int64_t budget = d->m->context_window > 0 ? d->m->context_window / 2 : 64000;
    for (int from = 0; from < n;) {
        int to = from;
        int64_t tokens = 0;
        while (to < n && to - from < IMAGES_PER_REQUEST && (to == from || tokens + image_tokens(&im[to]) <= budget))
            tokens += image_tokens(&im[to++]);
        Part *pt = xcalloc(1, sizeof *pt);
        *pt = (Part){ p, r, from, to, p->parts };
        p->parts = pt;
        p->host->submit(j, d->m, describe_request(p, r, im, from, to), on_described, pt);
        from = to;
    }
}

void pdf_dry_estimate(const char *path, DryModel *dm)
{
    char *why = NULL;
    PdfDoc *pdf = pdf_open(path, &why);
    free(why);
    if (!pdf) return;
    int64_t budget = dm->m->context_window > 0 ? dm->m->context_window / 2 : 64000;
    int64_t tokens = 0;
    int in_request = 0;
    for (int page = 1; page <= pdf_page_count(pdf); page++) {
        PdfImage *v;
        int k = pdf_page_images(pdf, page, &v);
        for (int i = 0; i < k; i++) {   /* the grouping of submit_images */
            int64_t t = image_tokens(&v[i]);
            if (in_request == 0 || in_request == IMAGES_PER_REQUEST || tokens + t > budget) {
                dm->requests++;
                dm->input_tokens += (double)strlen(describe_prompt) / 4 + 40;
                dm->output_tokens += 60;
                in_request = 0;
                tokens = 0;
            }
            in_request++;
            tokens += t;
            dm->input_tokens += (double)t;
            dm->output_tokens += 40;   /* a line of description per image */
        }
        pdf_images_free(v, k);
    }
    pdf_close(pdf);
}

/* Row r with describe_images: its images go out now, the markdown waits for them. */
static int start_described(SemJob *j, PdfJob *p, size_t r, PdfDoc *pdf, LmModel *m)
{
    PdfImage *all = NULL;
    int n = 0;
    for (int page = 1; page <= pdf_page_count(pdf); page++) {
        PdfImage *v;
        int k = pdf_page_images(pdf, page, &v);
        all = xrealloc(all, (size_t)(n + k + 1) * sizeof *all);
        memcpy(all + n, v, (size_t)k * sizeof *v);
        n += k;
        free(v);
    }
    if (n == 0) { free(all); return 0; }
    Described *d = xcalloc(1, sizeof *d);
    d->m = m;
    d->n = n;
    d->page = xcalloc((size_t)n, sizeof *d->page);
    d->index = xcalloc((size_t)n, sizeof *d->index);
    d->desc = xcalloc((size_t)n, sizeof *d->desc);
    for (int i = 0; i < n; i++) { d->page[i] = all[i].page; d->index[i] = all[i].index; }
    p->rows[r] = d;
    submit_images(j, p, r, all, n);
    pdf_images_free(all, n);
    return 1;
}

/* ---- the job ---- */

PdfJob *pdf_job_start(SemJob *j, const SemHost *host, Runtime *rt, const Expr *e, Value **args, size_t n, int64_t first_row, fql_error *err)
{
    PdfJob *p = xcalloc(1, sizeof *p);
    p->rt = rt;
    p->host = host;
    p->e = e;
    p->args = args;
    p->n = n;
    p->first_row = first_row;
    p->out = xcalloc(n ? n : 1, sizeof *p->out);
    p->rows = xcalloc(n ? n : 1, sizeof *p->rows);
    for (size_t r = 0; r < n; r++) {
        if (arg_at(e, args, NULL, r).kind != V_STRING) continue;   /* null path: null */
        LmModel *m = NULL;
        if (value_true(arg_at(e, args, "describe_images", r))) {
            Value mv = arg_at(e, args, "model", r);
            if (mv.kind != V_STRING) { row_error(p, r, "", "no_model", "the model: expression gave no alias for this row"); continue; }
            char *alias = xstrdup(v_str(mv)), *dot = strchr(alias, '.');
            if (dot) *dot = 0;
            m = models_get(rt, alias, dot ? dot + 1 : NULL, err);
            free(alias);
            if (!m) { pdf_job_free(p); return NULL; }
            host->count_row(rt, e, m);
        }
        PdfDoc *pdf = open_row(p, r, m ? m->alias : "");
        if (!pdf) continue;
        if (!m || !start_described(j, p, r, pdf, m)) p->out[r] = render(p, r, pdf, NULL);
        pdf_close(pdf);
    }
    return p;
}

Value *pdf_job_finish(PdfJob *p)
{
    for (size_t r = 0; r < p->n; r++) {
        if (!p->rows[r]) continue;
        PdfDoc *pdf = open_row(p, r, p->rows[r]->m->alias);
        if (pdf) p->out[r] = render(p, r, pdf, p->rows[r]);
        pdf_close(pdf);
    }
    Value *out = p->out;
    p->out = NULL;
    return out;
}

void pdf_job_free(PdfJob *p)
{
    if (!p) return;
    for (size_t r = 0; r < p->n; r++) {
        if (p->out) value_free(p->out[r]);
        described_free(p->rows[r]);
    }
    free(p->out);
    free(p->rows);
    for (Part *pt = p->parts, *nx; pt; pt = nx) { nx = pt->next; free(pt); }
    free(p);
}
