/* csv.c: the CSV/TSV reader (RFC 4180), streaming, with type inference.
 *
 * A file is read in 1 MB chunks into one buffer; the tokenizer finds the fields of one record at a
 * time without copying them (fields point into the buffer). A record cut by the end of the buffer
 * is parsed again after the buffer is refilled (the unparsed tail moves to the front), so the
 * tokenizer never keeps state across chunks. The byte after the data is always a '\n' sentinel,
 * so the inner loop over an unquoted field needs no bounds check.
 *
 * Fields: an empty unquoted field is null, a quoted "" is the empty string; a quote in the middle
 * of an unquoted field is an ordinary character; CRLF, LF and lone CR end records; blank lines are
 * skipped; a UTF-8 BOM at the start of a file is dropped. Rows with fewer fields than the header
 * get nulls; a row with more fields is an error.
 *
 * Types. Columns named in ReadOptions.schema take that type; a value that does not fit is a data
 * error. The other columns are inferred: each value narrows the set of types the column could be
 * (int < float, bool, date < timestamp, else string; a column of nulls is string). To be lossless,
 * files whose total size is at most FULL_SCAN_BYTES are scanned in full before the first batch (a
 * cheap pass that only tokenizes and classifies), so a value in the last row can still widen a
 * column (int -> float, or anything -> string). Larger inputs are inferred from the first
 * sample_rows rows; a later value that does not fit is a data error naming file, row, column, the
 * value, the inferred type, and the `schema:` entry that reads the column as text. In a column
 * that is not a string, an empty value (quoted or not) is null.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "io_int.h"
#include "pool.h"
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#define SLACK 16                /* initialised bytes after the sentinel (room for wide loads) */
#define CHUNK (1u << 20)
#define FULL_SCAN_BYTES (64ull << 20)
#define INTERN_SLOTS 256
#define INTERN_MAXLEN 48
#define MAX_INTERNED 4096   /* columns with an Intern (a million string columns would take 6 GB) */

/* ---- the tokenizer ---- */

typedef struct CField { const char *p; uint32_t len; uint8_t quoted, escaped; } CField;

typedef struct Tok {
    const char *path;
    int fd;
    char *buf;                  /* cap + 1 + SLACK bytes: data in [pos, len), sentinel at buf[len] */
    size_t cap, pos, len;
    int eof, skip_lf, started;
    long line;                  /* line of the next record */
    char delim, quote;
    uint8_t cls[256];           /* class of a byte inside an unquoted field */
    /* the current record */
    CField *f; int nf, capf;
    long rec_line;
    int hi;                     /* the record has bytes >= 0x80 (check UTF-8) */
} Tok;

enum { C_PLAIN = 0, C_DELIM, C_NL, C_CR, C_HI };

/* A tokenizer with no data yet (fd -1, buf NULL). */
static void tok_init(Tok *t, const char *path, char delim, char quote)
{
    memset(t, 0, sizeof *t);
    t->path = path;
    t->fd = -1;
    t->delim = delim;
    t->quote = quote;
    t->line = 1;
    for (int c = 0x80; c < 256; c++) t->cls[c] = C_HI;
    t->cls['\n'] = C_NL;
    t->cls['\r'] = C_CR;
    t->cls[(uint8_t)delim] = C_DELIM;
    t->capf = 16;
    t->f = xmalloc((size_t)t->capf * sizeof *t->f);
}

static int tok_open(Tok *t, const char *path, char delim, char quote, fql_error *err)
{
    tok_init(t, path, delim, quote);
    t->fd = open(path, O_RDONLY);
    if (t->fd < 0) {
        free(t->f);
        t->f = NULL;
        return err_set(err, FQL_ERR_IO, "cannot open %s: %s", path, strerror(errno));
    }
    t->cap = CHUNK;
    t->buf = xmalloc(t->cap + 1 + SLACK);
    memset(t->buf, 0, t->cap + 1 + SLACK);
    t->buf[0] = '\n';
    return 0;
}

static void tok_close(Tok *t)
{
    if (t->fd >= 0) close(t->fd);
    t->fd = -1;
    free(t->buf);
    free(t->f);
    t->buf = NULL;
    t->f = NULL;
}

/* Move the unparsed tail to the front and read more (growing the buffer when one record fills it). */
static int tok_fill(Tok *t, fql_error *err)
{
    if (t->pos > 0) {
        memmove(t->buf, t->buf + t->pos, t->len - t->pos);
        t->len -= t->pos;
        t->pos = 0;
    }
    if (t->len == t->cap) {
        t->cap *= 2;
        t->buf = xrealloc(t->buf, t->cap + 1 + SLACK);
        memset(t->buf + t->len, 0, t->cap - t->len + 1 + SLACK);
    }
    for (;;) {
        ssize_t n = read(t->fd, t->buf + t->len, t->cap - t->len);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return err_set(err, FQL_ERR_IO, "cannot read %s: %s", t->path, strerror(errno));
        if (n == 0) t->eof = 1;
        t->len += (size_t)n;
        break;
    }
    t->buf[t->len] = '\n';
    if (!t->started && (t->len >= 3 || t->eof)) {
        t->started = 1;
        if (t->len >= 3 && memcmp(t->buf, "\xEF\xBB\xBF", 3) == 0) t->pos = 3;
    }
    return 0;
}

static CField *tok_field(Tok *t)
{
    if (t->nf == t->capf) {
        t->capf *= 2;
        t->f = xrealloc(t->f, (size_t)t->capf * sizeof *t->f);
    }
    return &t->f[t->nf++];
}

/* Try to parse one record from the buffer. 1: a record; 0: end of data; 2: need more bytes;
 * -1: error. */
static int tok_try(Tok *t, fql_error *err)
{
    char *buf = t->buf, *end = buf + t->len, *p = buf + t->pos;
    const char q = t->quote, d = t->delim;
    const uint8_t *cls = t->cls;

    if (!t->started) return 2;
    if (t->skip_lf) {
        if (p == end) return t->eof ? 0 : 2;
        if (*p == '\n') p++;
        t->skip_lf = 0;
    }
    /* blank lines */
    while (p < end && (*p == '\n' || *p == '\r')) {
        if (*p == '\r' && p + 1 == end && !t->eof) break;
        if (*p == '\r' && p[1] == '\n') p++;
        p++;
        t->line++;
    }
    t->pos = (size_t)(p - buf);
    if (p == end) return t->eof ? 0 : 2;

    long line = t->line;
    int hi = 0;
    t->nf = 0;
    t->rec_line = line;
    for (;;) {
        CField *f = tok_field(t);
        if (q && *p == q) {
            long qline = line;
            char *s = ++p;
            int esc = 0;
            for (;;) {
                char *qq = p < end ? memchr(p, q, (size_t)(end - p)) : NULL;
                if (!qq) {
                    if (!t->eof) return 2;
                    return err_data(err, t->path, qline, t->nf, "unterminated quoted field (the quote opened here is never closed)");
                }
                for (char *c = p; c < qq; c++) {
                    line += *c == '\n';
                    hi |= *c & 0x80;
                }
                if (qq + 1 == end) {
                    if (!t->eof) return 2;
                    p = qq + 1;
                    break;
                }
                if (qq[1] == q) { esc = 1; p = qq + 2; continue; }
                p = qq + 1;
                break;
            }
            f->p = s;
            f->len = (uint32_t)(p - 1 - s);
            f->quoted = 1;
            f->escaped = (uint8_t)esc;
            if (p == end) {
                if (!t->eof) return 2;
                break;
            }
            if (*p == d) { p++; continue; }
            if (*p == '\n' || *p == '\r') break;
            return err_data(err, t->path, line, t->nf, "unexpected character '%c' after the closing quote of a quoted field (a quote inside a quoted field is written twice: \"\")", *p);
        } else {
            char *s = p;
            for (;;) {
                while (!cls[(uint8_t)*p]) p++;
                if (cls[(uint8_t)*p] == C_HI) { hi = 1; p++; continue; }
                break;
            }
            f->p = s;
            f->len = (uint32_t)(p - s);
            f->quoted = 0;
            f->escaped = 0;
            if (p == end) {
                if (!t->eof) return 2;
                break;
            }
            if (*p == d) { p++; continue; }
            break;              /* \n or \r */
        }
    }
    /* end of record: p is at \n, \r or the end of data */
    if (p < end) {
        if (*p == '\r') {
            if (p + 1 == end && !t->eof) return 2;
            p++;
            if (p < end && *p == '\n') p++;
        } else {
            p++;
        }
    }
    t->line = line + 1;
    t->pos = (size_t)(p - buf);
    t->hi = hi;
    return 1;
}

/* The next record into t->f[0..nf). 1: a record; 0: end of file; -1: error. */
static int tok_next(Tok *t, fql_error *err)
{
    for (;;) {
        int r = tok_try(t, err);
        if (r != 2) return r;
        if (t->eof) {                   /* cannot happen: tok_try ends the record at EOF */
            return err_data(err, t->path, t->line, 0, "internal error: truncated record");
        }
        if (tok_fill(t, err) < 0) return -1;
    }
}

/* Check the UTF-8 of the current record (only called when it has bytes >= 0x80). */
static int tok_check_utf8(Tok *t, fql_error *err)
{
    for (int i = 0; i < t->nf; i++) {
        size_t bad;
        if (!utf8_valid(t->f[i].p, t->f[i].len, &bad)) {
            long line = t->rec_line;
            for (size_t k = 0; k < bad; k++) line += t->f[i].p[k] == '\n';
            return err_data(err, t->path, line, i + 1, "invalid UTF-8 (byte 0x%02X at byte %zu of the field); convert the file to UTF-8 (e.g. iconv -f latin1 -t utf-8)",
                            (unsigned char)t->f[i].p[bad], bad + 1);
        }
    }
    return 0;
}

/* The text of field i: unescapes doubled quotes into scratch when needed. */
static const char *field_text(Tok *t, int i, Buf *scratch, size_t *n)
{
    CField *f = &t->f[i];
    if (!f->escaped) { *n = f->len; return f->p; }
    buf_clear(scratch);
    buf_reserve(scratch, f->len + 8);
    memset(scratch->data + f->len, 0, 8);       /* padding: make_string reads whole words */
    char *o = scratch->data;
    for (uint32_t k = 0; k < f->len; k++) {
        *o++ = f->p[k];
        if (f->p[k] == t->quote) k++;
    }
    *n = (size_t)(o - scratch->data);
    *o = 0;
    scratch->len = *n;
    return scratch->data;
}

/* ---- parsing typed text (shared with json_io.c) ---- */

static const double pow10tab[23] = {
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11,
    1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22
};

int io_parse_int(const char *s, size_t n, int64_t *out)
{
    size_t i = 0;
    int neg = 0;
    if (n && (s[0] == '-' || s[0] == '+')) { neg = s[0] == '-'; i = 1; }
    if (i == n || n - i > 19) return 0;
    uint64_t v = 0;
    for (; i < n; i++) {
        unsigned dgt = (unsigned)(s[i] - '0');
        if (dgt > 9) return 0;
        v = v * 10 + dgt;                       /* at most 19 digits: no uint64 overflow */
    }
    if (neg) {
        if (v > (uint64_t)INT64_MAX + 1) return 0;
        *out = (int64_t)(0 - v);
    } else {
        if (v > (uint64_t)INT64_MAX) return 0;
        *out = (int64_t)v;
    }
    return 1;
}

static int ieq(const char *s, size_t n, const char *lit)
{
    size_t k = strlen(lit);
    if (n != k) return 0;
    for (size_t i = 0; i < n; i++)
        if ((s[i] | 0x20) != lit[i]) return 0;
    return 1;
}

/* Decimal syntax: [+-] digits [. digits] [e [+-] digits], at least one digit. Exact fast path when
 * the significand fits 2^53 and the power of ten is exact (both operands exact, so one rounding);
 * strtod otherwise. */
static int parse_decimal(const char *s, size_t n, double *out)
{
    size_t i = 0;
    int neg = 0;
    if (n && (s[0] == '-' || s[0] == '+')) { neg = s[0] == '-'; i = 1; }
    uint64_t m = 0;
    int digits = 0, sig = 0, frac = 0, exact = 1;
    for (; i < n && (unsigned)(s[i] - '0') <= 9; i++, digits++) {
        if (sig < 19) { m = m * 10 + (unsigned)(s[i] - '0'); if (m) sig++; } else exact = 0;
    }
    if (i < n && s[i] == '.') {
        for (i++; i < n && (unsigned)(s[i] - '0') <= 9; i++, digits++) {
            if (sig < 19) { m = m * 10 + (unsigned)(s[i] - '0'); if (m) sig++; frac++; } else exact = 0;
        }
    }
    if (!digits) return 0;
    int e = 0;
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        int eneg = 0;
        if (i < n && (s[i] == '-' || s[i] == '+')) { eneg = s[i] == '-'; i++; }
        if (i == n) return 0;
        for (; i < n && (unsigned)(s[i] - '0') <= 9; i++) if (e < 100000) e = e * 10 + (s[i] - '0');
        if (eneg) e = -e;
    }
    if (i != n) return 0;
    e -= frac;
    if (exact && m < (1ull << 53) && e >= -22 && e <= 22) {
        double v = (double)m;
        v = e < 0 ? v / pow10tab[-e] : v * pow10tab[e];
        *out = neg ? -v : v;
        return 1;
    }
    char tmp[64];
    char *heap = NULL, *z = tmp;
    if (n >= sizeof tmp) z = heap = xmalloc(n + 1);
    memcpy(z, s, n);
    z[n] = 0;
    *out = strtod(z, NULL);
    free(heap);
    return 1;
}

int io_parse_float(const char *s, size_t n, double *out)
{
    if (parse_decimal(s, n, out)) return 1;
    if (ieq(s, n, "nan")) { *out = NAN; return 1; }
    if (ieq(s, n, "inf") || ieq(s, n, "+inf") || ieq(s, n, "infinity")) { *out = INFINITY; return 1; }
    if (ieq(s, n, "-inf") || ieq(s, n, "-infinity")) { *out = -INFINITY; return 1; }
    return 0;
}

int io_parse_bool(const char *s, size_t n, int *out)
{
    if (ieq(s, n, "true")) { *out = 1; return 1; }
    if (ieq(s, n, "false")) { *out = 0; return 1; }
    return 0;
}

int io_parse_date(const char *s, size_t n, int64_t *out)
{
    if (n != 10 || s[4] != '-' || s[7] != '-') return 0;
    for (int k = 0; k < 10; k++)
        if (k != 4 && k != 7 && (unsigned)(s[k] - '0') > 9) return 0;
    int y = (s[0] - '0') * 1000 + (s[1] - '0') * 100 + (s[2] - '0') * 10 + (s[3] - '0');
    int m = (s[5] - '0') * 10 + (s[6] - '0');
    int d = (s[8] - '0') * 10 + (s[9] - '0');
    static const int mdays[13] = { 0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
    if (m < 1 || m > 12 || d < 1 || d > mdays[m]) return 0;
    if (m == 2 && d == 29 && !((y % 4 == 0 && y % 100 != 0) || y % 400 == 0)) return 0;
    *out = date_from_ymd(y, m, d);
    return 1;
}

static int looks_timestamp(const char *s, size_t n)
{
    return n >= 16 && s[4] == '-' && s[7] == '-' && (s[10] == ' ' || s[10] == 'T');
}

unsigned io_text_fits(const char *s, size_t n)
{
    if (n == 0) return 0;
    unsigned c = (unsigned char)s[0];
    int64_t i;
    double f;
    int b;
    if ((c - '0') <= 9 || c == '-' || c == '+' || c == '.') {
        if (n >= 10 && s[4] == '-') {
            if (io_parse_date(s, n, &i)) return FIT_DATE | FIT_TS;
            if (looks_timestamp(s, n) && timestamp_parse(s, n, &i)) return FIT_TS;
            return 0;
        }
        if (io_parse_int(s, n, &i)) return FIT_INT | FIT_FLOAT;
        if (parse_decimal(s, n, &f)) return FIT_FLOAT;
        return 0;
    }
    if ((c | 0x20) == 't' || (c | 0x20) == 'f') return io_parse_bool(s, n, &b) ? FIT_BOOL : 0;
    return 0;
}

/* Decimal syntax only (no conversion): [+-] digits [. digits] [e [+-] digits]. */
static int is_decimal(const char *s, size_t n)
{
    size_t i = 0;
    int digits = 0;
    if (n && (s[0] == '-' || s[0] == '+')) i = 1;
    while (i < n && (unsigned)(s[i] - '0') <= 9) i++, digits++;
    if (i < n && s[i] == '.')
        for (i++; i < n && (unsigned)(s[i] - '0') <= 9; i++) digits++;
    if (!digits) return 0;
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < n && (s[i] == '-' || s[i] == '+')) i++;
        if (i == n) return 0;
        while (i < n && (unsigned)(s[i] - '0') <= 9) i++;
    }
    return i == n;
}

/* io_text_fits restricted to the types still in mask (the inference pass calls it on every value
 * of a column, so a float column only pays for the float check). */
static unsigned fits_within(const char *s, size_t n, unsigned mask)
{
    if (mask == FIT_FLOAT) return is_decimal(s, n) ? FIT_FLOAT : 0;
    if (mask == (FIT_INT | FIT_FLOAT)) {
        int64_t i;
        if (n && n < 19 && (unsigned)(s[n - 1] - '0') <= 9) {
            size_t k = (s[0] == '-' || s[0] == '+') ? 1 : 0;
            while (k < n && (unsigned)(s[k] - '0') <= 9) k++;
            if (k == n && n > ((s[0] == '-' || s[0] == '+') ? 1u : 0u)) return FIT_INT | FIT_FLOAT;
        }
        if (io_parse_int(s, n, &i)) return FIT_INT | FIT_FLOAT;
        return is_decimal(s, n) ? FIT_FLOAT : 0;
    }
    return io_text_fits(s, n) & mask;
}

Type *io_type_of_fits(unsigned mask, int seen)
{
    if (!seen) return type_string();
    if (mask & FIT_INT) return type_int();
    if (mask & FIT_FLOAT) return type_float();
    if (mask & FIT_BOOL) return type_bool();
    if (mask & FIT_DATE) return type_date();
    if (mask & FIT_TS) return type_timestamp();
    return type_string();
}

/* ---- the reader ---- */

typedef enum { CV_SKIP, CV_STRING, CV_INT, CV_FLOAT, CV_BOOL, CV_DATE, CV_TS, CV_CAST } Conv;

/* The string cache of one column: each slot keeps its key bytes padded with zeros to a multiple of
 * 8, so keys compare a word at a time. */
typedef struct Slot { Value v; uint32_t len; char key[INTERN_MAXLEN + 8]; } Slot;
typedef struct Intern { Slot slot[INTERN_SLOTS]; size_t lookups, hits; int off; } Intern;

/* On threads: the batches of one block; a thread's string caches (per column) and scratch. */
typedef struct CsvOut { Batch **b; int nb, pos; } CsvOut;
typedef struct CsvWorker { Intern **intern; Buf scratch; } CsvWorker;

typedef struct CsvReader {
    Reader base;
    char **paths; int npaths, cur;
    Tok tok; int tok_open;
    char delim, quote;
    int header;
    int ncols;
    Conv *conv;
    uint8_t *explicit_type;     /* per column: the type came from `schema:` */
    Intern **intern;            /* per string column, or NULL */
    size_t sample_rows;         /* rows used for inference (0 = whole input) */
    char **first_header;        /* header names of paths[0] (raw, for the glob check) */
    int nfirst_header;
    Buf scratch;
    /* on threads (csv_next_threads) */
    int threads;
    ParMap *pm;
    CsvOut *out;                /* the block whose batches are leaving */
    CsvWorker *wk;              /* per thread: string caches, scratch */
    char *pend; size_t pstart, npend, cappend;   /* read: pend[pstart, npend) is in no block yet */
    long line;                  /* line of pend's first byte */
    int skip_lf, src_eof, src_fd;
} CsvReader;

static void free_names(char **names, int n)
{
    for (int i = 0; i < n; i++) free(names[i]);
    free(names);
}

/* Copy the fields of the current record as strings (for a header). */
static char **record_names(Tok *t, Buf *scratch)
{
    char **names = xmalloc((size_t)(t->nf ? t->nf : 1) * sizeof *names);
    for (int i = 0; i < t->nf; i++) {
        size_t n;
        const char *s = field_text(t, i, scratch, &n);
        names[i] = xstrndup(s, n);
    }
    return names;
}

/* Open file k of the glob and read (and check) its header. */
static int open_file(CsvReader *r, int k, fql_error *err)
{
    if (r->tok_open) { tok_close(&r->tok); r->tok_open = 0; }
    if (tok_open(&r->tok, r->paths[k], r->delim, r->quote, err) < 0) return -1;
    r->tok_open = 1;
    r->cur = k;
    if (!r->header) return 0;
    int rc = tok_next(&r->tok, err);
    if (rc < 0) return -1;
    if (rc == 0) return 0;              /* an empty file: no header, no rows */
    if (r->tok.hi && tok_check_utf8(&r->tok, err) < 0) return -1;
    if (k == 0 && !r->first_header) {
        r->first_header = record_names(&r->tok, &r->scratch);
        r->nfirst_header = r->tok.nf;
        return 0;
    }
    int same = r->tok.nf == r->nfirst_header;
    for (int i = 0; same && i < r->tok.nf; i++) {
        size_t n;
        const char *s = field_text(&r->tok, i, &r->scratch, &n);
        same = strlen(r->first_header[i]) == n && memcmp(r->first_header[i], s, n) == 0;
    }
    if (!same) {
        Buf a, b;
        buf_init(&a);
        buf_init(&b);
        for (int i = 0; i < r->nfirst_header; i++) buf_printf(&a, "%s%s", i ? "," : "", r->first_header[i]);
        for (int i = 0; i < r->tok.nf; i++) {
            size_t n;
            const char *s = field_text(&r->tok, i, &r->scratch, &n);
            buf_printf(&b, "%s%.*s", i ? "," : "", (int)n, s);
        }
        err_data(err, r->paths[k], 1, 0, "the header of %s (%s) differs from the header of %s (%s); all files of a glob must share one header",
                 r->paths[k], b.data ? b.data : "", r->paths[0], a.data ? a.data : "");
        buf_free(&a);
        buf_free(&b);
        return -1;
    }
    return 0;
}

/* Column names from the header: empty -> columnN, duplicates get _2, _3, ... (the first suffix
 * that no earlier column has taken). Returns ncols names the caller frees (free_names).
 * Hash lookups keep this linear: `taken` holds the names given so far, `next` the suffix to try
 * first for each base (every smaller one was taken when it was last tried, and names are never
 * released), so a header repeating one name a million times is not quadratic. */
static char **make_names(char **raw, int nraw, int ncols)
{
    char **names = xcalloc((size_t)(ncols ? ncols : 1), sizeof *names);
    StrMap taken = { 0 }, next = { 0 };
    for (int i = 0; i < ncols; i++) {
        char *base = (i < nraw && raw[i][0]) ? xstrdup(raw[i]) : xasprintf("column%d", i + 1);
        const int64_t *nk = strmap_get(&next, base);
        long long k = nk ? *nk : 1;
        char *name = k == 1 ? xstrdup(base) : xasprintf("%s_%lld", base, k);
        while (strmap_get(&taken, name)) {
            free(name);
            name = xasprintf("%s_%lld", base, ++k);
        }
        strmap_put(&next, base, k + 1);
        strmap_put(&taken, name, 1);
        free(base);
        names[i] = name;
    }
    strmap_free(&taken);
    strmap_free(&next);
    return names;
}

static int64_t total_size(char **paths, int n)
{
    int64_t total = 0;
    for (int i = 0; i < n; i++) {
        struct stat st;
        if (stat(paths[i], &st) == 0) total += st.st_size;
    }
    return total;
}

static void out_drop(void *item);

static int csv_threads_used(const Reader *base)
{
    const CsvReader *r = (const CsvReader *)base;
    return r->pm ? parmap_threads(r->pm) : 1;
}

static void intern_free(Intern *in)
{
    if (!in) return;
    for (int k = 0; k < INTERN_SLOTS; k++) value_free(in->slot[k].v);
    free(in);
}

static void csv_close(Reader *base)
{
    CsvReader *r = (CsvReader *)base;
    parmap_free(r->pm);   /* its workers stop first */
    out_drop(r->out);
    free(r->pend);
    if (r->pm && r->src_fd >= 0) close(r->src_fd);
    for (int k = 0; r->wk && k < r->threads; k++) {
        for (int c = 0; c < r->ncols; c++) intern_free(r->wk[k].intern[c]);
        free(r->wk[k].intern);
        buf_free(&r->wk[k].scratch);
    }
    free(r->wk);
    if (r->tok_open) tok_close(&r->tok);
    for (int i = 0; i < r->npaths; i++) free(r->paths[i]);
    free(r->paths);
    if (r->intern)
        for (int c = 0; c < r->ncols; c++) intern_free(r->intern[c]);
    free(r->intern);
    free(r->conv);
    free(r->explicit_type);
    free_names(r->first_header, r->nfirst_header);
    buf_free(&r->scratch);
    schema_free(r->base.schema);
    free(r);
}

static const char *type_word(const Type *t)
{
    switch (t->kind) {
    case TY_INT: return "an int";
    case TY_FLOAT: return "a float";
    case TY_BOOL: return "a bool (true or false)";
    case TY_DATE: return "a date (YYYY-MM-DD)";
    case TY_TIMESTAMP: return "a timestamp (YYYY-MM-DD HH:MM:SS)";
    default: return "of the column's type";
    }
}

/* The error for a value that does not fit its column's type. */
static int mismatch(CsvReader *r, const Tok *t, int c, const char *s, size_t n, fql_error *err)
{
    const Schema *sc = r->base.schema;
    char *tn = type_to_string(sc->types[c]);
    int show = n > 60 ? 60 : (int)n;
    if (r->explicit_type[c])
        err_data(err, t->path, t->rec_line, c + 1, "value '%.*s%s' in column '%s' is not %s (schema says %s)",
                 show, s, show < (int)n ? "…" : "", sc->names[c], type_word(sc->types[c]), tn);
    else
        err_data(err, t->path, t->rec_line, c + 1,
                 "value '%.*s%s' in column '%s' is not %s (the type inferred from the first %zu rows); read the column as text with `schema: {%s: string}`",
                 show, s, show < (int)n ? "…" : "", sc->names[c], type_word(sc->types[c]), r->sample_rows, sc->names[c]);
    free(tn);
    return -1;
}

/* Word k of a field of n bytes, zero past its end (the 8-byte load may read past the field: see
 * make_string). */
static inline uint64_t word_at(const char *s, size_t n, size_t k)
{
    uint64_t w;
    memcpy(&w, s + k, 8);
    if (n - k < 8) w &= (1ull << (8 * (n - k))) - 1;
    return w;
}

/* A string value; low-cardinality columns share one Str per distinct value (a small direct-mapped
 * cache that switches itself off when it rarely hits). s must be followed by 8 readable bytes: it
 * lies in the tokenizer's buffer or in the padded scratch of field_text(). */
static Value make_string(Intern *in, const char *s, size_t n)
{
    if (!in || in->off || n > INTERN_MAXLEN) return v_string(s, n);
    uint64_t h = n * 0x9E3779B97F4A7C15ull;
    for (size_t k = 0; k < n; k += 8) h = (h ^ word_at(s, n, k)) * 0xFF51AFD7ED558CCDull;
    Slot *slot = &in->slot[(h >> 40) & (INTERN_SLOTS - 1)];
    in->lookups++;
    if (slot->v.kind == V_STRING && slot->len == n) {
        size_t k = 0;
        while (k < n) {
            uint64_t a;
            memcpy(&a, slot->key + k, 8);
            if (a != word_at(s, n, k)) break;
            k += 8;
        }
        if (k >= n) {
            in->hits++;
            return value_copy(slot->v);
        }
    }
    if (in->lookups == 4096 && in->hits < 2048) in->off = 1;
    Value v = v_string(s, n);
    value_free(slot->v);
    slot->v = value_copy(v);
    slot->len = (uint32_t)n;
    memset(slot->key, 0, sizeof slot->key);
    memcpy(slot->key, s, n);
    return v;
}

/* Convert field text to column c's type into *out (t: the record's tokenizer, for messages;
 * intern: the string caches of the thread). 0 ok, -1 error. */
static int convert(CsvReader *r, const Tok *t, Intern **intern, int c, const char *s, size_t n, int quoted, Value *out, fql_error *err)
{
    int64_t i;
    double f;
    int b;
    if (n == 0 && (!quoted || r->conv[c] != CV_STRING)) { *out = v_null(); return 0; }
    switch (r->conv[c]) {
    case CV_SKIP: *out = v_null(); return 0;
    case CV_STRING:
        *out = make_string(intern[c], s, n);
        return 0;
    case CV_INT: if (!io_parse_int(s, n, &i)) break; *out = v_int(i); return 0;
    case CV_FLOAT: if (!io_parse_float(s, n, &f)) break; *out = v_float(f); return 0;
    case CV_BOOL: if (!io_parse_bool(s, n, &b)) break; *out = v_bool(b); return 0;
    case CV_DATE: if (!io_parse_date(s, n, &i)) break; *out = v_date(i); return 0;
    case CV_TS:
        if (io_parse_date(s, n, &i)) { *out = v_timestamp(i * 86400000000LL); return 0; }
        if (!timestamp_parse(s, n, &i)) break;
        *out = v_timestamp(i);
        return 0;
    case CV_CAST: {
        char *why = NULL;
        Value v = value_cast(v_string(s, n), r->base.schema->types[c], &why);
        if (!why) { *out = v; return 0; }
        value_free(v);
        const Schema *sc = r->base.schema;
        char *tn = type_to_string(sc->types[c]);
        int show = n > 60 ? 60 : (int)n;
        err_data(err, t->path, t->rec_line, c + 1, "value '%.*s' in column '%s' does not fit %s (schema says %s): %s",
                 show, s, sc->names[c], tn, tn, why);
        free(tn);
        free(why);
        return -1;
    }
    }
    return mismatch(r, t, c, s, n, err);
}

/* Infer the types of the columns without an explicit type from the first `limit` records (0 = all)
 * of the files, starting at file 0. Fills types[c] (new references). */
/* Infer the types of the columns without an explicit type from the first `limit` records (0 = all)
 * of the files, starting at file 0: mask[c] is the set of types every value of column c fits,
 * seen[c] whether it had a non-empty value. Columns that can only be text (or have an explicit
 * type) leave the active list, so the pass costs little more than tokenizing for them. */
static int infer(CsvReader *r, size_t limit, int ncols_hint, int *ncols_out, unsigned **masks_out,
                 uint8_t **seen_out, const uint8_t *fixed, fql_error *err)
{
    int cap = ncols_hint > 0 ? ncols_hint : 16;
    unsigned *mask = xmalloc((size_t)cap * sizeof *mask);
    uint8_t *seen = xcalloc((size_t)cap, 1);
    int *act = xmalloc((size_t)cap * sizeof *act), nact = 0;
    int ncols = ncols_hint;
    for (int c = 0; c < cap; c++) mask[c] = FIT_ALL;
    for (int c = 0; c < ncols; c++)
        if (!(fixed && fixed[c])) act[nact++] = c;
    size_t rows = 0;
    for (int k = 0; k < r->npaths && (limit == 0 || rows < limit); k++) {
        if (open_file(r, k, err) < 0) goto fail;
        Tok *t = &r->tok;
        int rc;
        while ((limit == 0 || rows < limit) && (rc = tok_next(t, err)) == 1) {
            rows++;
            if (t->hi && tok_check_utf8(t, err) < 0) goto fail;
            if (t->nf > ncols) {
                if (r->header) {
                    err_data(err, t->path, t->rec_line, ncols + 1, "row has %d fields but the header has %d", t->nf, ncols);
                    goto fail;
                }
                if (t->nf > cap) {
                    int ncap = cap;
                    while (ncap < t->nf) ncap *= 2;
                    mask = xrealloc(mask, (size_t)ncap * sizeof *mask);
                    seen = xrealloc(seen, (size_t)ncap);
                    act = xrealloc(act, (size_t)ncap * sizeof *act);
                    for (int c = cap; c < ncap; c++) { mask[c] = FIT_ALL; seen[c] = 0; }
                    cap = ncap;
                }
                for (int c = ncols; c < t->nf; c++) act[nact++] = c;
                ncols = t->nf;
            }
            for (int a = 0; a < nact; a++) {
                int c = act[a];
                if (c >= t->nf) continue;
                CField *f = &t->f[c];
                if (f->len == 0) continue;                 /* null, or "" (null unless text) */
                seen[c] = 1;
                mask[c] = f->escaped ? 0 : fits_within(f->p, f->len, mask[c]);   /* "" inside: text */
                if (mask[c] == 0) act[a--] = act[--nact];
            }
        }
        if (err_failed(err)) goto fail;
    }
    free(act);
    *ncols_out = ncols;
    *masks_out = mask;
    *seen_out = seen;
    return 0;
fail:
    free(act);
    free(mask);
    free(seen);
    return -1;
}

/* The current record of t as row b->n of b (which has room): 0, or -1 with err filled. */
static int put_record(CsvReader *r, Tok *t, Intern **intern, Buf *scratch, Batch *b, fql_error *err)
{
    int ncols = r->ncols;
    if (t->hi && tok_check_utf8(t, err) < 0) return -1;
    if (t->nf > ncols)
        return err_data(err, t->path, t->rec_line, ncols + 1, "row has %d fields but the %s has %d", t->nf,
                        r->header ? "header" : "first rows have", ncols);
    size_t row = b->n;
    int c = 0;
    for (; c < t->nf; c++) {
        Value *dst = &b->cols[c][row];
        if (r->conv[c] == CV_SKIP) { *dst = v_null(); continue; }
        size_t n;
        const char *s = t->f[c].escaped ? field_text(t, c, scratch, &n) : t->f[c].p;
        if (!t->f[c].escaped) n = t->f[c].len;
        if (convert(r, t, intern, c, s, n, t->f[c].quoted, dst, err) < 0) {
            for (int k = 0; k < c; k++) value_free(b->cols[k][row]);
            return -1;
        }
    }
    for (; c < ncols; c++) b->cols[c][row] = v_null();
    b->n++;
    return 0;
}

static int csv_next_threads(CsvReader *r, Batch **out, fql_error *err);

static int csv_next(Reader *base, Batch **out, fql_error *err)
{
    CsvReader *r = (CsvReader *)base;
    if (r->threads > 1) return csv_next_threads(r, out, err);
    Batch *b = NULL;
    *out = NULL;
    for (;;) {
        if (!r->tok_open) break;
        Tok *t = &r->tok;
        int rc = tok_next(t, err);
        if (rc < 0) goto fail;
        if (rc == 0) {
            if (r->cur + 1 >= r->npaths) { tok_close(t); r->tok_open = 0; break; }
            if (open_file(r, r->cur + 1, err) < 0) goto fail;
            continue;
        }
        if (!b) b = batch_new(r->ncols, io_batch_rows(r->ncols));
        if (put_record(r, t, r->intern, &r->scratch, b, err) < 0) goto fail;
        if (b->n == b->cap) break;
    }
    if (!b) return 0;
    *out = b;
    return 1;
fail:
    batch_free(b);
    return -1;
}

/* ---- records converted on threads ----
 *
 * With ReadOptions.threads > 1 and one file, the calling thread reads the file and cuts it into
 * blocks of whole records (csv_cut, which follows the tokenizer's rules for quotes, line ends and
 * blank lines, and counts the lines a block spans). A block is BLOCK_BATCHES full batches: few,
 * since the blocks in flight are memory (measured on a printed 300k-row filter: 16 batches a
 * block added 33 MB over one thread, 1 batch 4 MB). BLOCK_BYTES is the read buffer's first size.
 * Workers tokenize and convert a block each into batches (their own string caches), and the
 * blocks' batches leave in file order (pool.c's ordered map). The batches are those one thread
 * makes: every block but the last holds a whole number of them. An error names the line one
 * thread would name, and the first by file order wins. Globs of several files are read on one
 * thread (their batches run across files). */

enum { BLOCK_BATCHES = 1, BLOCK_BYTES = 1u << 20 };
typedef struct CsvBlock { char *data; size_t len; long line; } CsvBlock;   /* data: len bytes, '\n', SLACK zeros */

/* The first byte of p[i, n) that is a line break or the quote q (n when none): 16 bytes at a time
 * where SSE2 is (every x86-64). */
static inline size_t next_break_or_quote(const char *p, size_t i, size_t n, char q)
{
#ifdef __SSE2__
    const __m128i nl = _mm_set1_epi8('\n'), cr = _mm_set1_epi8('\r'), qq = _mm_set1_epi8(q ? q : '\n');
    for (; i + 16 <= n; i += 16) {
        __m128i v = _mm_loadu_si128((const __m128i *)(const void *)(p + i));
        int m = _mm_movemask_epi8(_mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, nl), _mm_cmpeq_epi8(v, cr)), _mm_cmpeq_epi8(v, qq)));
        if (m) return i + (size_t)__builtin_ctz((unsigned)m);
    }
#endif
    while (i < n && p[i] != '\n' && p[i] != '\r' && !(q && p[i] == q)) i++;
    return i;
}

/* The offset just after the want-th record of p[0..n) (a record starts at p), with *lines the
 * lines up to there as the tokenizer counts them (a line a record or blank line, plus the line
 * breaks inside quoted fields); 0 when fewer records are complete in the data. At the end of the
 * file (eof) the data's end ends the last record: n when fewer than want. Only line breaks and
 * quotes matter: a quote opens a quoted field where a field starts (at a record's start or after
 * the delimiter d), and is text anywhere else. */
static size_t csv_cut(const char *p, size_t n, char q, char d, size_t want, int eof, long *lines)
{
    size_t i = 0, recs = 0, rec_start = 0;
    long ln = 0;
    while (i < n) {
        size_t j = next_break_or_quote(p, i, n, q);
        if (j == n) break;
        if (p[j] != '\n' && p[j] != '\r') {   /* a quote */
            if (j != rec_start && p[j - 1] != d) { i = j + 1; continue; }   /* text */
            size_t k = j + 1;   /* a quoted field: to its closing quote */
            for (;;) {
                const char *x = k < n ? memchr(p + k, q, n - k) : NULL;
                if (!x) goto short_data;
                size_t xi = (size_t)(x - p);
                for (size_t m = k; m < xi; m++) ln += p[m] == '\n';
                if (xi + 1 < n && p[xi + 1] == q) { k = xi + 2; continue; }
                if (xi + 1 == n && !eof) goto short_data;
                i = xi + 1;
                break;
            }
            continue;
        }
        size_t end = j + 1;
        if (p[j] == '\r') {
            if (j + 1 == n && !eof) goto short_data;   /* \r\n cut in two? */
            if (j + 1 < n && p[j + 1] == '\n') end = j + 2;
        }
        ln++;
        recs += j > rec_start;   /* a blank line is no record */
        i = rec_start = end;
        if (recs == want) { *lines = ln; return i; }
    }
short_data:
    if (!eof) return 0;
    if (rec_start < n) ln++;   /* the last record, without a line break */
    *lines = ln;
    return n;
}

static void block_drop(void *item)
{
    CsvBlock *b = item;
    if (b) free(b->data);
    free(b);
}

static void out_drop(void *item)
{
    CsvOut *o = item;
    if (!o) return;
    for (int i = o->pos; i < o->nb; i++) batch_free(o->b[i]);
    free(o->b);
    free(o);
}

/* The next block of the file (the calling thread): a copy of its bytes, so that what is in flight
 * is the blocks' size, not the read buffer's. */
static int block_pull(void *ctx, void **item, fql_error *err)
{
    CsvReader *r = ctx;
    size_t want = io_batch_rows(r->ncols) * BLOCK_BATCHES;
    for (;;) {
        char *p = r->pend + r->pstart;
        size_t n = r->npend - r->pstart;
        if (r->skip_lf && n) {   /* the header ended in \r: its \n may open the data */
            if (p[0] == '\n') { r->pstart++; continue; }
            r->skip_lf = 0;
        }
        long lines = 0;
        size_t cut = n ? csv_cut(p, n, r->quote, r->delim, want, r->src_eof, &lines) : 0;
        if (cut) {
            CsvBlock *b = xmalloc(sizeof *b);
            b->data = xmalloc(cut + 1 + SLACK);
            memcpy(b->data, p, cut);
            b->data[cut] = '\n';
            memset(b->data + cut + 1, 0, SLACK);
            b->len = cut;
            b->line = r->line;
            r->pstart += cut;
            r->line += lines;
            *item = b;
            return 1;
        }
        if (r->src_eof) return 0;   /* (all data went out: csv_cut takes everything at the end) */
        if (r->pstart) {   /* the unread tail to the front */
            memmove(r->pend, p, n);
            r->npend = n;
            r->pstart = 0;
        }
        if (r->npend == r->cappend) {   /* one record longer than the buffer */
            r->cappend *= 2;
            r->pend = xrealloc(r->pend, r->cappend);
        }
        ssize_t got = read(r->src_fd, r->pend + r->npend, r->cappend - r->npend);
        if (got < 0 && errno == EINTR) continue;
        if (got < 0) return err_set(err, FQL_ERR_IO, "cannot read %s: %s", r->paths[0], strerror(errno));
        if (got == 0) r->src_eof = 1;
        r->npend += (size_t)got;
    }
}

/* Tokenize and convert one block (a worker). */
static int block_work(void *ctx, int worker, void *item, void **outp, fql_error *err)
{
    CsvReader *r = ctx;
    CsvBlock *blk = item;
    CsvWorker *w = &r->wk[worker];
    Tok t;
    tok_init(&t, r->paths[0], r->delim, r->quote);
    t.buf = blk->data;   /* the whole block, then the '\n' sentinel: no more to read */
    blk->data = NULL;
    t.cap = t.len = blk->len;
    t.eof = t.started = 1;
    t.line = blk->line;
    block_drop(blk);
    CsvOut *o = xcalloc(1, sizeof *o);
    Batch *b = NULL;
    int rc;
    while ((rc = tok_next(&t, err)) == 1) {
        if (!b) b = batch_new(r->ncols, io_batch_rows(r->ncols));
        if ((rc = put_record(r, &t, w->intern, &w->scratch, b, err)) < 0) break;
        if (b->n == b->cap) {
            o->b = xrealloc(o->b, (size_t)(o->nb + 1) * sizeof *o->b);
            o->b[o->nb++] = b;
            b = NULL;
        }
    }
    tok_close(&t);
    if (rc < 0) {
        batch_free(b);
        out_drop(o);
        return -1;
    }
    if (b) {
        o->b = xrealloc(o->b, (size_t)(o->nb + 1) * sizeof *o->b);
        o->b[o->nb++] = b;
    }
    *outp = o;
    return 0;
}

static int csv_next_threads(CsvReader *r, Batch **out, fql_error *err)
{
    *out = NULL;
    if (!r->pm) {
        /* take the file over from the tokenizer, past the header (and a BOM) */
        Tok *t = &r->tok;
        if (!r->tok_open) return 0;
        while (!t->started && !t->eof)
            if (tok_fill(t, err) < 0) return -1;
        r->cappend = BLOCK_BYTES;
        while (r->cappend < t->len - t->pos) r->cappend *= 2;
        r->pend = xmalloc(r->cappend);
        r->npend = t->len - t->pos;
        memcpy(r->pend, t->buf + t->pos, r->npend);
        r->line = t->line;
        r->skip_lf = t->skip_lf;
        r->src_eof = t->eof;
        r->src_fd = t->fd;
        t->fd = -1;
        tok_close(t);
        r->tok_open = 0;
        r->wk = xcalloc((size_t)r->threads, sizeof *r->wk);
        for (int k = 0; k < r->threads; k++) {
            r->wk[k].intern = xcalloc((size_t)(r->ncols ? r->ncols : 1), sizeof(Intern *));
            for (int c = 0; c < r->ncols; c++)
                if (r->intern[c]) r->wk[k].intern[c] = xcalloc(1, sizeof(Intern));
            buf_init(&r->wk[k].scratch);
        }
        r->pm = parmap_new(r->threads, r->threads + 1, block_pull, block_work, block_drop, out_drop, r);
    }
    while (!r->out || r->out->pos == r->out->nb) {
        out_drop(r->out);
        r->out = NULL;
        void *o = NULL;
        int rc = parmap_next(r->pm, &o, err);
        if (rc <= 0) return rc;
        r->out = o;
    }
    *out = r->out->b[r->out->pos++];
    return 1;
}

Reader *csv_reader_open(char **paths, int npaths, const ReadOptions *o, fql_error *err)
{
    CsvReader *r = xcalloc(1, sizeof *r);
    r->base.next = csv_next;
    r->base.close = csv_close;
    r->paths = paths;
    r->npaths = npaths;
    r->delim = o->delimiter ? o->delimiter : (o->format == FMT_TSV ? '\t' : ',');
    r->quote = o->quote;
    r->header = o->header;
    r->threads = npaths == 1 && o->threads > 1 ? o->threads : 1;
    r->base.threads = csv_threads_used;
    r->src_fd = -1;
    buf_init(&r->scratch);
    unsigned *mask = NULL;
    uint8_t *seen = NULL, *fixed = NULL;
    char **names = NULL;
    int ncols = 0;

    /* headers: every file's header is read now, so a mismatch is reported before any row */
    if (open_file(r, 0, err) < 0) goto fail;
    for (int k = 1; r->header && k < npaths; k++)
        if (open_file(r, k, err) < 0) goto fail;
    if (r->header) {
        ncols = r->nfirst_header;
        names = make_names(r->first_header, r->nfirst_header, ncols);
        fixed = xcalloc((size_t)(ncols ? ncols : 1), 1);
        for (int c = 0; o->schema && c < ncols; c++) fixed[c] = schema_find(o->schema, names[c]) >= 0;
    }

    /* inference: the whole input when small enough, else a sample */
    size_t sample = o->sample_rows ? o->sample_rows : 10000;
    uint64_t full = FULL_SCAN_BYTES;
    const char *env = getenv("FQL_CSV_FULL_SCAN_BYTES");     /* lets the tests reach the sampled path */
    if (env && *env) full = strtoull(env, NULL, 10);
    size_t limit = (uint64_t)total_size(paths, npaths) <= full ? 0 : sample;
    int ninfer = 0;
    if (infer(r, limit, ncols, &ninfer, &mask, &seen, fixed, err) < 0) goto fail;
    r->sample_rows = sample;
    if (!r->header) {
        ncols = ninfer;
        names = make_names(NULL, 0, ncols);
    }
    r->ncols = ncols;

    Schema *s = schema_new();
    r->base.schema = s;
    r->conv = xcalloc((size_t)(ncols ? ncols : 1), sizeof *r->conv);
    r->explicit_type = xcalloc((size_t)(ncols ? ncols : 1), 1);
    r->intern = xcalloc((size_t)(ncols ? ncols : 1), sizeof *r->intern);
    int ninterned = 0;   /* an Intern is 6 KB: the first MAX_INTERNED string columns get one */
    for (int c = 0; c < ncols; c++) {
        int e = o->schema ? schema_find(o->schema, names[c]) : -1;
        Type *ty = e >= 0 ? type_ref(o->schema->types[e]) : io_type_of_fits(mask[c], seen[c]);
        r->explicit_type[c] = e >= 0;
        schema_add(s, names[c], ty);
        Conv cv;
        switch (ty->kind) {
        case TY_STRING: cv = CV_STRING; break;
        case TY_INT: cv = CV_INT; break;
        case TY_FLOAT: cv = CV_FLOAT; break;
        case TY_BOOL: cv = CV_BOOL; break;
        case TY_DATE: cv = CV_DATE; break;
        case TY_TIMESTAMP: cv = CV_TS; break;
        default: cv = CV_CAST; break;
        }
        if (o->projection && !o->projection[c]) cv = CV_SKIP;
        r->conv[c] = cv;
        if (cv == CV_STRING && ninterned++ < MAX_INTERNED) r->intern[c] = xcalloc(1, sizeof(Intern));
    }
    /* a schema entry naming no column is a mistake worth reporting */
    for (int i = 0; o->schema && i < o->schema->n; i++) {
        if (schema_find(s, o->schema->names[i]) >= 0) continue;
        const char *near = closest_name(o->schema->names[i], (const char *const *)s->names, (size_t)s->n);
        err_set(err, FQL_ERR_IO, "%s: schema names column '%s', which is not in the file%s%s%s", paths[0],
                o->schema->names[i], near ? " (did you mean '" : "", near ? near : "", near ? "'?)" : "");
        goto fail;
    }
    free_names(names, ncols);
    free(mask);
    free(seen);
    free(fixed);
    /* rewind to the first row */
    if (open_file(r, 0, err) < 0) { csv_close(&r->base); return NULL; }
    return &r->base;
fail:
    if (names) free_names(names, ncols);
    free(mask);
    free(seen);
    free(fixed);
    csv_close(&r->base);
    return NULL;
}

int csv_read_header(const char *path, char delim, char ***names, int *n, fql_error *err)
{
    Tok t;
    Buf scratch;
    *names = NULL;
    *n = 0;
    if (tok_open(&t, path, delim, '"', err) < 0) return -1;
    buf_init(&scratch);
    int rc = tok_next(&t, err);
    if (rc == 1) {
        *names = record_names(&t, &scratch);
        *n = t.nf;
    }
    buf_free(&scratch);
    tok_close(&t);
    return rc < 0 ? -1 : 0;
}
