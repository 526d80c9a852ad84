/* util.c: allocation with a failure hook, growable buffers, error records, small string helpers. */
#include <stdlib.h>
#include <string.h>
#include <stdarg.h>
#include <pthread.h>
#include "util.h"

/* The allocation hook: FQL_FAIL_ALLOC=N makes the Nth x-allocation report out-of-memory, so that a
 * test can check that the program says so cleanly instead of crashing. */
static long alloc_count, alloc_fail_at = -1;

/* Read once per process (several sessions may allocate from several threads at once). */
static pthread_once_t fail_env_once = PTHREAD_ONCE_INIT;
static void read_fail_env(void)
{
    const char *e = getenv("FQL_FAIL_ALLOC");
    if (e && *e) alloc_fail_at = atol(e);
}
static void check_fail_env(void) { pthread_once(&fail_env_once, read_fail_env); }

/* The panic hook (fql_set_panic): the one way the library stops the process, for a failure no
 * statement can report (memory ran out inside an allocation that has no error path). The library
 * itself never calls exit(). */
static fql_panic_fn panic_fn;
static void *panic_ud;

FQL_API void fql_set_panic(fql_panic_fn fn, void *ud)
{
    panic_ud = ud;
    __atomic_store_n(&panic_fn, fn, __ATOMIC_RELEASE);
}

void util_panic(const char *msg)
{
    fql_panic_fn fn = __atomic_load_n(&panic_fn, __ATOMIC_ACQUIRE);
    if (fn) fn(panic_ud, msg);
    fprintf(stderr, "fql: error: %s\n", msg);
    abort();
}

static void oom(void)
{
    util_panic("out of memory");
}

static void *hooked(void *p)
{
    check_fail_env();
    if (alloc_fail_at >= 0 && ++alloc_count == alloc_fail_at) {
        free(p);
        return NULL;
    }
    return p;
}

void *xmalloc(size_t n)
{
    void *p = hooked(malloc(n ? n : 1));
    if (!p) oom();
    return p;
}

void *xtry_malloc(size_t n)
{
    return hooked(malloc(n ? n : 1));
}

void *xcalloc(size_t n, size_t size)
{
    void *p = hooked(calloc(n ? n : 1, size ? size : 1));
    if (!p) oom();
    return p;
}

void *xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (!q) oom();
    return q;
}

char *xstrdup(const char *s) { return xstrndup(s, strlen(s)); }

char *xstrndup(const char *s, size_t n)
{
    char *p = xmalloc(n + 1);
    memcpy(p, s, n);
    p[n] = 0;
    return p;
}

char *xvasprintf(const char *fmt, va_list ap)
{
    Buf b;
    buf_init(&b);
    buf_vprintf(&b, fmt, ap);
    return buf_take(&b);
}

char *xasprintf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = xvasprintf(fmt, ap);
    va_end(ap);
    return s;
}

/* ---- Buf ---- */

void buf_init(Buf *b) { b->data = NULL; b->len = b->cap = 0; }
void buf_free(Buf *b) { free(b->data); buf_init(b); }
void buf_clear(Buf *b) { b->len = 0; if (b->data) b->data[0] = 0; }

void buf_reserve(Buf *b, size_t extra)
{
    if (b->len + extra + 1 <= b->cap) return;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < b->len + extra + 1) cap *= 2;
    b->data = xrealloc(b->data, cap);
    b->cap = cap;
}

void buf_append(Buf *b, const char *s, size_t n)
{
    buf_reserve(b, n);
    if (n) memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = 0;
}

void buf_puts(Buf *b, const char *s) { buf_append(b, s, strlen(s)); }

void buf_putc(Buf *b, char c)
{
    buf_reserve(b, 1);
    b->data[b->len++] = c;
    b->data[b->len] = 0;
}

void buf_vprintf(Buf *b, const char *fmt, va_list ap)
{
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    if (n < 0) return;
    buf_reserve(b, (size_t)n);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    b->len += (size_t)n;
}

void buf_printf(Buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    buf_vprintf(b, fmt, ap);
    va_end(ap);
}

char *buf_take(Buf *b)
{
    char *s = b->data ? b->data : xstrdup("");
    buf_init(b);
    return s;
}

/* ---- errors ---- */

int err_failed(const fql_error *err) { return err && err->code != 0; }

static void set_msg(fql_error *err, const char *msg)
{
    size_t n = strlen(msg);
    if (n >= sizeof err->message) n = sizeof err->message - 1;
    memcpy(err->message, msg, n);
    err->message[n] = 0;
}

static void set_file(fql_error *err, const char *file)
{
    snprintf(err->file, sizeof err->file, "%s", file ? file : "");
}

void src_linecol(const Src *src, int pos, int *line, int *col)
{
    int l = 1, c = 1;
    if (src && pos > (int)src->len) pos = (int)src->len;
    for (int i = 0; src && i < pos; i++) {
        unsigned char ch = (unsigned char)src->text[i];
        if (ch == '\n') { l++; c = 1; }
        else if ((ch & 0xC0) != 0x80) c++;
    }
    *line = l;
    *col = c;
}

int err_at(fql_error *err, int code, const Src *src, int pos, const char *fmt, ...)
{
    if (!err || err->code) return -1;
    Buf b;
    va_list ap;
    buf_init(&b);
    va_start(ap, fmt);
    buf_vprintf(&b, fmt, ap);
    va_end(ap);
    err->code = code;
    if (src) {
        int line, col;
        if (pos < 0) pos = 0;
        if (pos > (int)src->len) pos = (int)src->len;
        src_linecol(src, pos, &line, &col);
        err->line = line;
        err->column = col;
        set_file(err, src->name);
        /* quote the line with a caret under the column */
        int start = pos, end = pos;
        while (start > 0 && src->text[start - 1] != '\n') start--;
        while (end < (int)src->len && src->text[end] != '\n') end++;
        if (end > start && src->text[end - 1] == '\r') end--;
        buf_printf(&b, "\n  %.*s\n  ", end - start, src->text + start);
        for (int i = start; i < pos && i < end; i++) {
            unsigned char ch = (unsigned char)src->text[i];
            if ((ch & 0xC0) == 0x80) continue;
            buf_putc(&b, ch == '\t' ? '\t' : ' ');
        }
        buf_putc(&b, '^');
    }
    set_msg(err, b.data);
    buf_free(&b);
    return -1;
}

int err_set(fql_error *err, int code, const char *fmt, ...)
{
    if (!err || err->code) return -1;
    Buf b;
    va_list ap;
    buf_init(&b);
    va_start(ap, fmt);
    buf_vprintf(&b, fmt, ap);
    va_end(ap);
    err->code = code;
    set_msg(err, b.data);
    buf_free(&b);
    return -1;
}

int err_data(fql_error *err, const char *file, long row, long col, const char *fmt, ...)
{
    if (!err || err->code) return -1;
    Buf b;
    va_list ap;
    buf_init(&b);
    va_start(ap, fmt);
    buf_vprintf(&b, fmt, ap);
    va_end(ap);
    err->code = FQL_ERR_IO;
    set_file(err, file);
    err->line = (int)row;
    err->column = (int)col;
    set_msg(err, b.data);
    buf_free(&b);
    return -1;
}

/* ---- names ---- */

int edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 64 || lb > 64) return 99;
    int d[65][65];
    for (size_t i = 0; i <= la; i++) d[i][0] = (int)i;
    for (size_t j = 0; j <= lb; j++) d[0][j] = (int)j;
    for (size_t i = 1; i <= la; i++)
        for (size_t j = 1; j <= lb; j++) {
            int ca = a[i - 1], cb = b[j - 1];
            if (ca >= 'A' && ca <= 'Z') ca += 32;
            if (cb >= 'A' && cb <= 'Z') cb += 32;
            int best = d[i - 1][j - 1] + (ca != cb);
            if (d[i - 1][j] + 1 < best) best = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < best) best = d[i][j - 1] + 1;
            /* a transposition counts as one edit */
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] && d[i - 2][j - 2] + 1 < best)
                best = d[i - 2][j - 2] + 1;
            d[i][j] = best;
        }
    return d[la][lb];
}

const char *closest_name(const char *name, const char *const *cands, size_t n)
{
    int limit = (int)strlen(name) / 3;
    if (limit < 1) limit = 1;
    if (limit > 3) limit = 3;
    const char *best = NULL;
    int bestd = limit + 1;
    for (size_t i = 0; i < n; i++) {
        if (!cands[i]) continue;
        int d = edit_distance(name, cands[i]);
        if (d < bestd) { bestd = d; best = cands[i]; }
    }
    return best;
}

/* ---- UTF-8 ---- */

int utf8_valid(const char *s, size_t n, size_t *bad_at)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    while (i < n) {
        unsigned char c = p[i];
        if (c < 0x80) { i++; continue; }
        size_t need;
        uint32_t cp;
        if (c >= 0xC2 && c <= 0xDF) { need = 1; cp = c & 0x1F; }
        else if (c >= 0xE0 && c <= 0xEF) { need = 2; cp = c & 0x0F; }
        else if (c >= 0xF0 && c <= 0xF4) { need = 3; cp = c & 0x07; }
        else goto bad;
        for (size_t k = 1; k <= need; k++) {
            if (i + k >= n || (p[i + k] & 0xC0) != 0x80) goto bad;
            cp = (cp << 6) | (p[i + k] & 0x3F);
        }
        if ((need == 2 && cp < 0x800) || (need == 3 && (cp < 0x10000 || cp > 0x10FFFF)) ||
            (cp >= 0xD800 && cp <= 0xDFFF))
            goto bad;
        i += need + 1;
    }
    return 1;
bad:
    if (bad_at) *bad_at = i;
    return 0;
}

size_t utf8_len(const char *s, size_t n)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (((unsigned char)s[i] & 0xC0) != 0x80) k++;
    return k;
}

int utf8_encode(uint32_t cp, char out[4])
{
    if (cp < 0x80) { out[0] = (char)cp; return 1; }
    if (cp < 0x800) { out[0] = (char)(0xC0 | (cp >> 6)); out[1] = (char)(0x80 | (cp & 0x3F)); return 2; }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | (cp >> 12)); out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F)); return 3;
    }
    out[0] = (char)(0xF0 | (cp >> 18)); out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3F)); out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}
