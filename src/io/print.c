/* print.c: printing a result table as a boxed table, CSV/TSV, JSON, JSONL or Markdown.
 *
 * The boxed table is drawn in two passes over the rows (widths, then output), rendering each cell
 * twice rather than holding every rendered cell, so printing a large result needs no second copy
 * of it. Widths are display columns: UTF-8 aware, East Asian wide characters count 2, combining
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

/* ---- row iteration ---- */

typedef struct RowIter { const Table *t; int b; size_t r, global; } RowIter;

static void iter_seek(RowIter *it, const Table *t, size_t row)
{
    it->t = t;
    it->b = 0;
    it->global = row;
    while (it->b < t->nbatches && row >= t->batches[it->b]->n) row -= t->batches[it->b++]->n;
    it->r = row;
}

/* Current row's batch, or NULL past the end; advance with iter_step. */
static const Batch *iter_batch(const RowIter *it)
{
    return it->b < it->t->nbatches ? it->t->batches[it->b] : NULL;
}

static void iter_step(RowIter *it)
{
    it->global++;
    if (++it->r >= it->t->batches[it->b]->n) { it->b++; it->r = 0; }
}

/* ---- boxed table ---- */

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

static void print_box(FILE *out, const Table *t, const PrintOptions *o)
{
    const Schema *s = t->schema;
    int ncols = s->n, max = o->max_width > 0 ? o->max_width : 0;
    size_t nrows = t->nrows, head = nrows, tail = 0;
    if (o->max_rows > 0 && nrows > o->max_rows) {
        head = (o->max_rows + 1) / 2;
        tail = o->max_rows - head;
    }
    Buf cellb, tmp;
    buf_init(&cellb);
    buf_init(&tmp);
    int *w = xcalloc((size_t)(ncols ? ncols : 1), sizeof *w);
    int *right = xcalloc((size_t)(ncols ? ncols : 1), sizeof *right);
    for (int c = 0; c < ncols; c++) {
        Value name = v_cstring(s->names[c]);
        w[c] = render_cell(&cellb, &tmp, name, max);
        value_free(name);
        right[c] = is_numeric_col(s->types[c]);
    }
    /* pass 1: widths over the rows shown */
    for (int part = 0; part < 2; part++) {
        size_t from = part ? nrows - tail : 0, count = part ? tail : head;
        RowIter it;
        iter_seek(&it, t, from);
        for (size_t k = 0; k < count && iter_batch(&it); k++, iter_step(&it)) {
            const Batch *b = iter_batch(&it);
            for (int c = 0; c < ncols; c++) {
                int cw = render_cell(&cellb, &tmp, b->cols[c][it.r], max);
                if (cw > w[c]) w[c] = cw;
            }
        }
    }
    if (tail && w[0] < 1) w[0] = 1;
    /* columns that fit the terminal */
    int shown = ncols;
    if (o->term_width > 0) {
        int total = 1;
        for (shown = 0; shown < ncols; shown++) {
            if (total + w[shown] + 3 > o->term_width && shown > 0) break;
            total += w[shown] + 3;
        }
    }
    if (shown > 0) {
        hline(out, w, shown, "┌", "┬", "┐");
        fputs("│", out);
        for (int c = 0; c < shown; c++) {
            Value name = v_cstring(s->names[c]);
            int cw = render_cell(&cellb, &tmp, name, max);
            value_free(name);
            cell(out, cellb.data, cw, w[c], right[c]);
        }
        fputc('\n', out);
        hline(out, w, shown, "├", "┼", "┤");
        for (int part = 0; part < 2; part++) {
            size_t from = part ? nrows - tail : 0, count = part ? tail : head;
            if (part && tail) {
                fputs("│", out);
                for (int c = 0; c < shown; c++) cell(out, "⋮", 1, w[c], right[c]);
                fputc('\n', out);
            }
            RowIter it;
            iter_seek(&it, t, from);
            for (size_t k = 0; k < count && iter_batch(&it); k++, iter_step(&it)) {
                const Batch *b = iter_batch(&it);
                fputs("│", out);
                for (int c = 0; c < shown; c++) {
                    int cw = render_cell(&cellb, &tmp, b->cols[c][it.r], max);
                    cell(out, cellb.data, cw, w[c], right[c]);
                }
                fputc('\n', out);
            }
        }
        hline(out, w, shown, "└", "┴", "┘");
    }
    fprintf(out, "%zu %s", nrows, nrows == 1 ? "row" : "rows");
    if (tail) fprintf(out, " (%zu shown)", head + tail);
    if (shown < ncols) fprintf(out, " (%d column%s not shown)", ncols - shown, ncols - shown == 1 ? "" : "s");
    fputc('\n', out);
    free(w);
    free(right);
    buf_free(&cellb);
    buf_free(&tmp);
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

void print_table(FILE *out, const Table *t, const PrintOptions *o)
{
    PrintOptions def;
    if (!o) { print_options_init(&def); o = &def; }
    if (o->format == FMT_TABLE) { print_box(out, t, o); fflush(out); return; }
    const Schema *s = t->schema;
    Buf b;
    buf_init(&b);
    char delim = o->format == FMT_TSV ? '\t' : ',';
    switch (o->format) {
    case FMT_CSV: case FMT_TSV:
        for (int c = 0; c < s->n; c++) {
            if (c) buf_putc(&b, delim);
            Value name = v_cstring(s->names[c]);
            io_csv_field(&b, name, delim);
            value_free(name);
        }
        buf_putc(&b, '\n');
        break;
    case FMT_MARKDOWN:
        buf_putc(&b, '|');
        for (int c = 0; c < s->n; c++) {
            Value name = v_cstring(s->names[c]);
            buf_putc(&b, ' ');
            markdown_text(&b, name);
            buf_puts(&b, " |");
            value_free(name);
        }
        buf_puts(&b, "\n|");
        for (int c = 0; c < s->n; c++) buf_puts(&b, is_numeric_col(s->types[c]) ? " ---: |" : " --- |");
        buf_putc(&b, '\n');
        break;
    case FMT_JSON:
        if (t->nrows == 0) buf_puts(&b, "[]\n");
        break;
    default:
        break;
    }
    size_t k = 0;
    for (int i = 0; i < t->nbatches; i++) {
        const Batch *bt = t->batches[i];
        for (size_t r = 0; r < bt->n; r++, k++) {
            switch (o->format) {
            case FMT_CSV: case FMT_TSV:
                for (int c = 0; c < s->n; c++) {
                    if (c) buf_putc(&b, delim);
                    Value v = bt->cols[c][r];
                    if (v.kind == V_FLOAT) format_double_plain(&b, v.u.f);   /* a plain number needs no quoting */
                    else io_csv_field(&b, v, delim);
                }
                buf_putc(&b, '\n');
                break;
            case FMT_MARKDOWN:
                buf_putc(&b, '|');
                for (int c = 0; c < s->n; c++) {
                    buf_putc(&b, ' ');
                    markdown_text(&b, bt->cols[c][r]);
                    buf_puts(&b, " |");
                }
                buf_putc(&b, '\n');
                break;
            case FMT_JSON:
                buf_puts(&b, k ? ",\n" : "[\n");
                io_json_row(&b, s, bt, r);
                break;
            default:                    /* FMT_JSONL */
                io_json_row(&b, s, bt, r);
                buf_putc(&b, '\n');
                break;
            }
            if (b.len >= 65536) flush_buf(out, &b);
        }
    }
    if (o->format == FMT_JSON && t->nrows) buf_puts(&b, "\n]\n");
    flush_buf(out, &b);
    buf_free(&b);
    fflush(out);
}
