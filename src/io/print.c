/* print.c: printing a result table as a boxed table, CSV/TSV, JSON, JSONL or Markdown.
 *
 * A Printer takes a result a batch at a time, so what prints streams in memory independent of the
 * row count: CSV, TSV, JSON, JSONL and Markdown rows go out as each batch comes. The boxed table
 * holds rows to size its columns: with max_rows, the first and last rows shown (a ring of the
 * last); without, up to HOLD_ROWS rows, drawn exactly as a whole table when the result ends
 * there, else the columns take their widths from those rows and later rows print as they come,
 * a wider cell cut to its column with "…". Cells are rendered twice (widths, then output) rather
 * than held rendered. Widths are display columns: UTF-8 aware, East Asian wide characters count 2, combining
 * marks 0. A cell wider than max_width is cut with "…"; a newline in a cell shows as "↵" and a tab
 * as a space. Numbers (and their headers) are right-aligned.
 */
#include <stdlib.h>
#include <string.h>
#include "io_int.h"

void print_options_init(PrintOptions *o)
{
    o->format = FMT_TABLE;
    o->max_width = 40;
    o->term_width = 0;
    o->max_rows = 0;
}

/* ---- display width ---- */

/* Decode one code point at s (n bytes left); returns its length (1 for an invalid byte). */
static int utf8_next(const char *s, size_t n, uint32_t *cp)
{
    const unsigned char *p = (const unsigned char *)s;
    unsigned c = p[0];
    int len = c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
    if (c < 0x80 || c < 0xC2 || (size_t)len > n) { *cp = c; return 1; }
    uint32_t v = c & (0x7F >> len);
    for (int i = 1; i < len; i++) {
        if ((p[i] & 0xC0) != 0x80) { *cp = c; return 1; }
        v = (v << 6) | (p[i] & 0x3F);
    }
    *cp = v;
    return len;
}

static int cp_width(uint32_t c)
{
    if (c == 0) return 0;
    if ((c >= 0x300 && c <= 0x36F) || (c >= 0x200B && c <= 0x200F) || (c >= 0xFE00 && c <= 0xFE0F)) return 0;
    if ((c >= 0x1100 && c <= 0x115F) || (c >= 0x2E80 && c <= 0x303E) || (c >= 0x3041 && c <= 0x33FF) ||
        (c >= 0x3400 && c <= 0x4DBF) || (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0xA000 && c <= 0xA4CF) ||
        (c >= 0xAC00 && c <= 0xD7A3) || (c >= 0xF900 && c <= 0xFAFF) || (c >= 0xFE30 && c <= 0xFE4F) ||
        (c >= 0xFF00 && c <= 0xFF60) || (c >= 0xFFE0 && c <= 0xFFE6) || (c >= 0x1F300 && c <= 0x1F64F) ||
        (c >= 0x1F900 && c <= 0x1F9FF) || (c >= 0x20000 && c <= 0x3FFFD))
        return 2;
    return 1;
}

/* Render a cell for the boxed table into out (cleared first): newlines as ↵, tabs and other
 * control characters as spaces, cut to max display columns with "…". Returns its width. */
static int render_cell(Buf *out, Buf *tmp, Value v, int max)
{
    buf_clear(tmp);
    if (v.kind == V_FLOAT) format_double_plain(tmp, v.u.f);   /* 0.00006735, not 6.735e-05 */
    else value_to_text(tmp, v, "NULL");
    buf_clear(out);
    const char *s = tmp->data ? tmp->data : "";
    size_t n = tmp->len;
    int limit = 1 << 30;
    for (int pass = 0; pass < 2; pass++) {
        int w = 0;
        for (size_t i = 0; i < n;) {
            uint32_t cp;
            int len = utf8_next(s + i, n - i, &cp);
            const char *piece = s + i;
            size_t plen = (size_t)len;
            int cw;
            i += (size_t)len;
            if (cp == '\r') continue;
            if (cp == '\n') { piece = "↵"; plen = strlen(piece); cw = 1; }
            else if (cp < 0x20 || cp == 0x7F) { piece = " "; plen = 1; cw = 1; }
            else cw = cp_width(cp);
            if (w + cw > limit) {               /* second pass: cut here */
                buf_puts(out, "…");
                return w + 1;
            }
            if (pass) buf_append(out, piece, plen);
            w += cw;
        }
        if (max <= 0 || w <= max) {
            if (pass == 0) continue;            /* fits: copy it in the second pass */
            return w;
        }
        limit = max - 1;                        /* too wide: room for "…" */
    }
    return 0;
}

static int is_numeric_col(const Type *t)
{
    return t && (t->kind == TY_INT || t->kind == TY_FLOAT);
}

/* ---- the printer ---- */

enum { HOLD_ROWS = BATCH_ROWS };   /* a boxed table of all rows: rows held to size the columns */

struct Printer {
    FILE *out;
    PrintOptions o;
    Schema *s;                 /* a copy */
    Buf b, cellb, tmp;
    size_t rows;               /* rows seen so far */
    /* boxed table: the first rows (copies), and with max_rows a ring of the last ones */
    Batch *head;
    size_t headmax, headn;     /* rows kept in head; rows shown from it when cut */
    Batch *ring;
    size_t ringmax, ringpos;   /* ring slots; the next slot written */
    int streaming;             /* widths fixed from the held rows: later rows print as they come */
    int *w, *right, shown;
};

typedef struct RowRef { const Batch *b; size_t r; } RowRef;

static void hline(FILE *out, const int *w, int ncols, const char *l, const char *m, const char *r)
{
    fputs(l, out);
    for (int c = 0; c < ncols; c++) {
        for (int k = 0; k < w[c] + 2; k++) fputs("─", out);
        fputs(c + 1 < ncols ? m : r, out);
    }
    fputc('\n', out);
}

static void cell(FILE *out, const char *s, int sw, int w, int right)
{
    fputc(' ', out);
    if (right) for (int k = sw; k < w; k++) fputc(' ', out);
    fputs(s, out);
    if (!right) for (int k = sw; k < w; k++) fputc(' ', out);
    fputs(" │", out);
}

/* Column widths over the header and the rows given; which columns fit the terminal. */
static void box_widths(Printer *p, const RowRef *rr, size_t n, int cut)
{
    int ncols = p->s->n, max = p->o.max_width > 0 ? p->o.max_width : 0;
    for (int c = 0; c < ncols; c++) {
        Value name = v_cstring(p->s->names[c]);
        p->w[c] = render_cell(&p->cellb, &p->tmp, name, max);
        value_free(name);
    }
    for (size_t i = 0; i < n; i++)
        for (int c = 0; c < ncols; c++) {
            int cw = render_cell(&p->cellb, &p->tmp, rr[i].b->cols[c][rr[i].r], max);
            if (cw > p->w[c]) p->w[c] = cw;
        }
    if (cut && ncols && p->w[0] < 1) p->w[0] = 1;
    p->shown = ncols;
    if (p->o.term_width > 0) {
        int total = 1;
        for (p->shown = 0; p->shown < ncols; p->shown++) {
            if (total + p->w[p->shown] + 3 > p->o.term_width && p->shown > 0) break;
            total += p->w[p->shown] + 3;
        }
    }
}

static void box_header(Printer *p)
{
    int max = p->o.max_width > 0 ? p->o.max_width : 0;
    hline(p->out, p->w, p->shown, "┌", "┬", "┐");
    fputs("│", p->out);
    for (int c = 0; c < p->shown; c++) {
        Value name = v_cstring(p->s->names[c]);
        int cw = render_cell(&p->cellb, &p->tmp, name, max);
        value_free(name);
        cell(p->out, p->cellb.data, cw, p->w[c], p->right[c]);
    }
    fputc('\n', p->out);
    hline(p->out, p->w, p->shown, "├", "┼", "┤");
}

/* One row, each cell cut to its column's width (a streamed row may be wider than the held ones),
 * except a number: it is never cut, and pushes the row's later cells right instead. */
static void box_row(Printer *p, const Batch *b, size_t r)
{
    fputs("│", p->out);
    for (int c = 0; c < p->shown; c++) {
        int cw = render_cell(&p->cellb, &p->tmp, b->cols[c][r], p->right[c] ? p->o.max_width : p->w[c]);
        cell(p->out, p->cellb.data, cw, p->w[c], p->right[c]);
    }
    fputc('\n', p->out);
}

static void box_footer(Printer *p, int cut)
{
    int ncols = p->s->n;
    if (p->shown > 0) hline(p->out, p->w, p->shown, "└", "┴", "┘");
    fprintf(p->out, "%zu %s", p->rows, p->rows == 1 ? "row" : "rows");
    if (cut) fprintf(p->out, " (%zu shown)", p->o.max_rows);
    if (p->shown < ncols) fprintf(p->out, " (%d column%s not shown)", ncols - p->shown, ncols - p->shown == 1 ? "" : "s");
    fputc('\n', p->out);
}

/* The boxed table from the rows held (the whole result, or its first and last rows). */
static void box_draw(Printer *p)
{
    size_t nh = p->head ? p->head->n : 0, tail = 0, n = 0;
    int cut = p->o.max_rows > 0 && p->rows > p->o.max_rows;
    RowRef *rr = xcalloc(nh + p->ringmax + 1, sizeof *rr);
    if (cut) {
        for (size_t i = 0; i < p->headn; i++) rr[n++] = (RowRef){ p->head, i };
        tail = p->o.max_rows - p->headn;
        /* the last `tail` rows: in the ring, oldest first */
        size_t have = p->ring ? p->ring->n : 0, start = have < p->ringmax ? 0 : p->ringpos;
        for (size_t i = have - tail; i < have; i++) rr[n++] = (RowRef){ p->ring, (start + i) % (have ? have : 1) };
    } else
        for (size_t i = 0; i < nh; i++) rr[n++] = (RowRef){ p->head, i };
    box_widths(p, rr, n, cut && tail);
    if (p->shown > 0) {
        box_header(p);
        for (size_t i = 0; i < n; i++) {
            if (cut && tail && i == p->headn) {
                fputs("│", p->out);
                for (int c = 0; c < p->shown; c++) cell(p->out, "⋮", 1, p->w[c], p->right[c]);
                fputc('\n', p->out);
            }
            box_row(p, rr[i].b, rr[i].r);
        }
    }
    box_footer(p, cut && tail);
    free(rr);
}

/* Take a batch's rows: held (all of them up to HOLD_ROWS, or the first and last max_rows), or
 * printed as they come once the widths are fixed. */
static void box_batch(Printer *p, const Batch *b)
{
    for (size_t r = 0; r < b->n; r++, p->rows++) {
        if (p->streaming) { if (p->shown > 0) box_row(p, b, r); continue; }
        if (!p->o.max_rows && p->head->n == p->headmax) {
            /* more rows than are held: widths from those, then print as they come */
            RowRef *rr = xcalloc(p->head->n + 1, sizeof *rr);
            for (size_t i = 0; i < p->head->n; i++) rr[i] = (RowRef){ p->head, i };
            box_widths(p, rr, p->head->n, 0);
            free(rr);
            if (p->shown > 0) {
                box_header(p);
                for (size_t i = 0; i < p->head->n; i++) box_row(p, p->head, i);
                box_row(p, b, r);
            }
            batch_free(p->head);
            p->head = NULL;
            p->streaming = 1;
            continue;
        }
        if (p->head->n < p->headmax) batch_copy_row(p->head, b, r);
        if (p->ring && p->rows >= p->headn) {   /* a candidate for the last rows */
            if (p->ring->n < p->ringmax) batch_copy_row(p->ring, b, r);
            else {
                for (int c = 0; c < b->ncols; c++) {
                    value_free(p->ring->cols[c][p->ringpos]);
                    p->ring->cols[c][p->ringpos] = value_copy(b->cols[c][r]);
                }
                p->ringpos = (p->ringpos + 1) % p->ringmax;
            }
        }
    }
}

/* ---- text formats ---- */

static void flush_buf(FILE *out, Buf *b)
{
    if (b->len) fwrite(b->data, 1, b->len, out);
    buf_clear(b);
}

static void markdown_text(Buf *b, Value v)
{
    Buf t;
    buf_init(&t);
    if (v.kind == V_FLOAT) format_double_plain(&t, v.u.f);
    else value_to_text(&t, v, "NULL");
    for (size_t i = 0; i < t.len; i++) {
        char c = t.data[i];
        if (c == '|') buf_puts(b, "\\|");
        else if (c == '\n') buf_puts(b, "<br>");
        else if (c == '\r') continue;
        else buf_putc(b, c);
    }
    buf_free(&t);
}

Printer *printer_begin(FILE *out, const Schema *s, const PrintOptions *o)
{
    Printer *p = xcalloc(1, sizeof *p);
    p->out = out;
    if (o) p->o = *o; else print_options_init(&p->o);
    p->s = schema_copy(s);
    buf_init(&p->b);
    buf_init(&p->cellb);
    buf_init(&p->tmp);
    int ncols = s->n;
    Buf *b = &p->b;
    char delim = p->o.format == FMT_TSV ? '\t' : ',';
    switch (p->o.format) {
    case FMT_TABLE:
        p->w = xcalloc((size_t)(ncols ? ncols : 1), sizeof *p->w);
        p->right = xcalloc((size_t)(ncols ? ncols : 1), sizeof *p->right);
        for (int c = 0; c < ncols; c++) p->right[c] = is_numeric_col(s->types[c]);
        if (p->o.max_rows > 0) {
            p->headmax = p->o.max_rows;
            p->headn = (p->o.max_rows + 1) / 2;
            p->ringmax = p->o.max_rows - p->headn;
            if (p->ringmax) p->ring = batch_new(ncols, p->ringmax);
        } else p->headmax = HOLD_ROWS;
        p->head = batch_new(ncols, p->headmax < 256 ? p->headmax : 256);
        break;
    case FMT_CSV: case FMT_TSV:
        for (int c = 0; c < ncols; c++) {
            if (c) buf_putc(b, delim);
            Value name = v_cstring(s->names[c]);
            io_csv_field(b, name, delim);
            value_free(name);
        }
        buf_putc(b, '\n');
        break;
    case FMT_MARKDOWN:
        buf_putc(b, '|');
        for (int c = 0; c < ncols; c++) {
            Value name = v_cstring(s->names[c]);
            buf_putc(b, ' ');
            markdown_text(b, name);
            buf_puts(b, " |");
            value_free(name);
        }
        buf_puts(b, "\n|");
        for (int c = 0; c < ncols; c++) buf_puts(b, is_numeric_col(s->types[c]) ? " ---: |" : " --- |");
        buf_putc(b, '\n');
        break;
    default:
        break;
    }
    return p;
}

void printer_batch(Printer *p, const Batch *bt)
{
    if (p->o.format == FMT_TABLE) {
        box_batch(p, bt);
        if (p->streaming) fflush(p->out);
        return;
    }
    Buf *b = &p->b;
    const Schema *s = p->s;
    char delim = p->o.format == FMT_TSV ? '\t' : ',';
    for (size_t r = 0; r < bt->n; r++, p->rows++) {
        switch (p->o.format) {
        case FMT_CSV: case FMT_TSV:
            for (int c = 0; c < s->n; c++) {
                if (c) buf_putc(b, delim);
                Value v = bt->cols[c][r];
                if (v.kind == V_FLOAT) format_double_plain(b, v.u.f);   /* a plain number needs no quoting */
                else io_csv_field(b, v, delim);
            }
            buf_putc(b, '\n');
            break;
        case FMT_MARKDOWN:
            buf_putc(b, '|');
            for (int c = 0; c < s->n; c++) {
                buf_putc(b, ' ');
                markdown_text(b, bt->cols[c][r]);
                buf_puts(b, " |");
            }
            buf_putc(b, '\n');
            break;
        case FMT_JSON:
            buf_puts(b, p->rows ? ",\n" : "[\n");
            io_json_row(b, s, bt, r);
            break;
        default:                    /* FMT_JSONL */
            io_json_row(b, s, bt, r);
            buf_putc(b, '\n');
            break;
        }
        if (b->len >= 65536) flush_buf(p->out, b);
    }
    flush_buf(p->out, b);   /* a batch's rows go out as they are known */
    fflush(p->out);
}

void printer_end(Printer *p)
{
    if (!p) return;
    if (p->o.format == FMT_TABLE) {
        if (p->streaming) box_footer(p, 0);
        else box_draw(p);
    } else {
        if (p->o.format == FMT_JSON) buf_puts(&p->b, p->rows ? "\n]\n" : "[]\n");
        flush_buf(p->out, &p->b);
    }
    fflush(p->out);
    printer_free(p);
}

void printer_free(Printer *p)
{
    if (!p) return;
    batch_free(p->head);
    batch_free(p->ring);
    schema_free(p->s);
    buf_free(&p->b);
    buf_free(&p->cellb);
    buf_free(&p->tmp);
    free(p->w);
    free(p->right);
    free(p);
}

void print_table(FILE *out, const Table *t, const PrintOptions *o)
{
    Printer *p = printer_begin(out, t->schema, o);
    for (int i = 0; i < t->nbatches; i++) printer_batch(p, t->batches[i]);
    printer_end(p);
}
