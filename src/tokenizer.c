/* tokenizer.c: byte-pair encoding with tiktoken's ranks and pre-tokenizer patterns.
 *
 * The patterns are tiktoken's pat_str, compiled by PCRE2 with UTF and Unicode properties (UCP), which
 * gives \s, \p{L}, \p{N}, \p{Lu} ... and the caseless (?i:'s|...) the same meaning as tiktoken's
 * regex engine; matches are taken left to right as find_iter does. o200k_base's, for instance:
 *   [^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?
 *   | [^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?
 *   | \p{N}{1,3} | ?[^\s\p{L}\p{N}]+[\r\n/]* | \s*[\r\n]+ | \s+(?!\S) | \s+
 *
 * A piece that is itself a token is one token. Otherwise its bytes are merged: repeatedly the
 * adjacent pair whose concatenation has the lowest rank (the leftmost among equals) becomes one
 * part, until no adjacent pair is a token. Short pieces do this by scanning the parts, as tiktoken
 * does; long ones (a paragraph of CJK text is one piece) with a heap of candidate pairs, so a piece
 * of n bytes costs O(n log n) instead of O(n^2). Ranks are found in an open-addressing hash table
 * over the generated token bytes.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include "tokenizer.h"
#include "util.h"

#define NO_RANK UINT32_MAX
#define SHORT_PIECE 48          /* pieces up to this many bytes merge by scanning */

typedef struct Vocab {
    const TokData *d;
    uint32_t *off;              /* byte offset of each rank's token in d->bytes */
    uint32_t *slot;             /* hash table: rank + 1, 0 for an empty slot */
    uint32_t mask;
    uint32_t *pair;             /* rank of each two-byte token (b0 << 8 | b1), the most asked for */
    pcre2_code *re;
    int jit;                    /* re was JIT-compiled */
    const char *err;            /* set when setting up failed */
} Vocab;

static Vocab vocabs[TOK_NENC];
static pthread_once_t vocab_once[TOK_NENC] = { PTHREAD_ONCE_INIT, PTHREAD_ONCE_INIT };

static const TokData *const tok_data[TOK_NENC] = { &tok_data_o200k_base, &tok_data_cl100k_base };

int tok_encoding_named(const char *name, size_t n)
{
    for (int e = 0; e < TOK_NENC; e++)
        if (strlen(tok_data[e]->name) == n && memcmp(tok_data[e]->name, name, n) == 0) return e;
    return -1;
}

const char *tok_encoding_name(TokEncoding e) { return tok_data[e]->name; }

static int has_prefix(const char *s, const char *p) { return strncmp(s, p, strlen(p)) == 0; }

int tok_encoding_for_model(const char *model)
{
    if (!model) return -1;
    const char *slash = strrchr(model, '/');   /* "openai/gpt-4o" (OpenRouter), "ft:..." stays */
    if (slash) model = slash + 1;
    if (has_prefix(model, "ft:")) model += 3;
    static const char *const o200k[] = { "gpt-4o", "gpt-4.1", "gpt-4.5", "gpt-5", "gpt-oss", "chatgpt-4o",
                                         "o1", "o3", "o4" };
    static const char *const cl100k[] = { "gpt-4", "gpt-3.5", "gpt-35", "text-embedding-" };
    for (size_t i = 0; i < sizeof o200k / sizeof o200k[0]; i++)
        if (has_prefix(model, o200k[i])) return TOK_O200K;
    for (size_t i = 0; i < sizeof cl100k / sizeof cl100k[0]; i++)
        if (has_prefix(model, cl100k[i])) return TOK_CL100K;
    return -1;
}

/* ------------------------------------------------------------------------ the table --- */

static uint64_t hash_bytes(const unsigned char *p, size_t n)
{
    uint64_t h = 0x9E3779B97F4A7C15ull ^ n;
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        h = (h ^ w) * 0xFF51AFD7ED558CCDull;
        h ^= h >> 32;
        p += 8;
        n -= 8;
    }
    uint64_t w = 0;
    memcpy(&w, p, n);
    h = (h ^ w) * 0xC4CEB9FE1A85EC53ull;
    return h ^ (h >> 29);
}

/* The rank of the token p[0..n), or NO_RANK. */
static uint32_t rank_hashed(const Vocab *v, const unsigned char *p, size_t n)
{
    for (uint32_t i = (uint32_t)hash_bytes(p, n) & v->mask;; i = (i + 1) & v->mask) {
        uint32_t r = v->slot[i];
        if (!r) return NO_RANK;
        r--;
        if (v->d->lens[r] == n && memcmp(v->d->bytes + v->off[r], p, n) == 0) return r;
    }
}

static uint32_t rank_of(const Vocab *v, const unsigned char *p, size_t n)
{
    return n == 2 ? v->pair[p[0] << 8 | p[1]] : rank_hashed(v, p, n);
}

static void vocab_setup(TokEncoding e)
{
    Vocab *v = &vocabs[e];
    const TokData *d = tok_data[e];
    v->d = d;
    v->off = xmalloc((size_t)d->nranks * sizeof *v->off);
    uint32_t size = 1;
    while (size < d->nranks * 2) size <<= 1;
    v->slot = xcalloc(size, sizeof *v->slot);
    v->mask = size - 1;
    uint32_t off = 0;
    for (uint32_t r = 0; r < d->nranks; r++) {
        v->off[r] = off;
        off += d->lens[r];
        if (!d->lens[r]) continue;
        uint32_t i = (uint32_t)hash_bytes(d->bytes + v->off[r], d->lens[r]) & v->mask;
        while (v->slot[i]) i = (i + 1) & v->mask;
        v->slot[i] = r + 1;
    }
    v->pair = xmalloc(65536 * sizeof *v->pair);
    for (uint32_t k = 0; k < 65536; k++) {
        unsigned char two[2] = { (unsigned char)(k >> 8), (unsigned char)k };
        v->pair[k] = rank_hashed(v, two, 2);
    }
    int errcode;
    PCRE2_SIZE erroff;
    v->re = pcre2_compile((PCRE2_SPTR)d->pattern, PCRE2_ZERO_TERMINATED, PCRE2_UTF | PCRE2_UCP | PCRE2_MATCH_INVALID_UTF,
                          &errcode, &erroff, NULL);
    if (!v->re) {
        v->err = "the tokenizer's pattern does not compile with this PCRE2 (it needs Unicode support)";
        return;
    }
    v->jit = pcre2_jit_compile(v->re, PCRE2_JIT_COMPLETE) == 0;
}

static void setup_o200k(void) { vocab_setup(TOK_O200K); }
static void setup_cl100k(void) { vocab_setup(TOK_CL100K); }

static const Vocab *vocab_get(TokEncoding e, const char **err)
{
    static void (*const setup[TOK_NENC])(void) = { setup_o200k, setup_cl100k };
    pthread_once(&vocab_once[e], setup[e]);
    if (vocabs[e].err) {
        if (err) *err = vocabs[e].err;
        return NULL;
    }
    return &vocabs[e];
}

/* ---------------------------------------------------------------------- merging --- */

/* Scratch space for merging, reused across the pieces of one text. */
typedef struct Merge {
    uint32_t *start;            /* part starts (short pieces), or each byte's part (long ones) */
    uint32_t *rank;
    uint32_t *next, *prev;      /* long pieces: neighbouring parts by start; next of the last is n */
    uint64_t *heap;             /* long pieces: (rank << 32 | start) of candidate pairs (2 * cap) */
    size_t cap;
} Merge;

static void merge_reserve(Merge *m, size_t n)
{
    if (n + 1 <= m->cap) return;
    free(m->start); free(m->rank); free(m->next); free(m->prev); free(m->heap);
    m->cap = n + 1 > 2 * m->cap ? n + 1 : 2 * m->cap;
    m->start = xmalloc(m->cap * sizeof *m->start);
    m->rank = xmalloc(m->cap * sizeof *m->rank);
    m->next = xmalloc(m->cap * sizeof *m->next);
    m->prev = xmalloc(m->cap * sizeof *m->prev);
    m->heap = xmalloc(2 * m->cap * sizeof *m->heap);   /* each merge pushes at most one more than it pops */
}

static void merge_free(Merge *m)
{
    free(m->start); free(m->rank); free(m->next); free(m->prev); free(m->heap);
}

/* Token ends go to ends[] (when not NULL); the number of tokens is returned. */

/* Short pieces: parts in an array; rank[i] is the rank of parts i and i + 1 merged. */
static size_t merge_short(const Vocab *v, Merge *m, const unsigned char *p, size_t n, uint32_t *ends)
{
    uint32_t *st = m->start, *rk = m->rank;
    size_t np = n;                               /* parts; st[np] = n closes the last */
    for (size_t i = 0; i <= n; i++) st[i] = (uint32_t)i;
    for (size_t i = 0; i + 1 < n; i++) rk[i] = rank_of(v, p + i, 2);
    for (;;) {
        size_t best = 0;
        uint32_t min = NO_RANK;
        for (size_t i = 0; i + 1 < np; i++)
            if (rk[i] < min) { min = rk[i]; best = i; }
        if (min == NO_RANK) break;
        memmove(st + best + 1, st + best + 2, (np - best - 1) * sizeof *st);
        memmove(rk + best + 1, rk + best + 2, (np >= best + 3 ? np - best - 3 : 0) * sizeof *rk);
        np--;
        if (best + 1 < np) rk[best] = rank_of(v, p + st[best], st[best + 2] - st[best]);
        if (best > 0) rk[best - 1] = rank_of(v, p + st[best - 1], st[best + 1] - st[best - 1]);
    }
    if (ends)
        for (size_t i = 0; i < np; i++) ends[i] = st[i + 1];
    return np;
}

static void heap_push(uint64_t *h, size_t *len, uint64_t x)
{
    size_t i = (*len)++;
    while (i > 0 && h[(i - 1) / 2] > x) { h[i] = h[(i - 1) / 2]; i = (i - 1) / 2; }
    h[i] = x;
}

/* Put x at hole i of the heap h[0..n) and move it down to its place. */
static void sift_down(uint64_t *h, size_t n, size_t i, uint64_t x)
{
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n) break;
        if (c + 1 < n && h[c + 1] < h[c]) c++;
        if (h[c] >= x) break;
        h[i] = h[c];
        i = c;
    }
    h[i] = x;
}

static uint64_t heap_pop(uint64_t *h, size_t *len)
{
    uint64_t top = h[0];
    if (--*len) sift_down(h, *len, 0, h[*len]);
    return top;
}

/* Long pieces: parts as a linked list keyed by their start byte; a heap of (rank, left start)
 * candidates, where a candidate is stale once its left part has grown or vanished (the rank stored
 * in rank[start] then differs, or the part is gone). Each merge adds at most two candidates. */
static size_t merge_long(const Vocab *v, Merge *m, const unsigned char *p, size_t n, uint32_t *ends)
{
    uint32_t *next = m->next, *prev = m->prev, *rk = m->rank;
    uint64_t *heap = m->heap;
    size_t hl = 0, np = n;
    for (size_t i = 0; i < n; i++) {
        next[i] = (uint32_t)i + 1;
        prev[i] = i ? (uint32_t)i - 1 : UINT32_MAX;
        rk[i] = i + 1 < n ? rank_of(v, p + i, 2) : NO_RANK;
        if (rk[i] != NO_RANK) heap[hl++] = (uint64_t)rk[i] << 32 | i;
    }
    for (size_t i = hl / 2; i-- > 0;) sift_down(heap, hl, i, heap[i]);   /* heapify */
    while (hl) {
        uint64_t top = heap_pop(heap, &hl);
        uint32_t i = (uint32_t)top, r = (uint32_t)(top >> 32);
        if (rk[i] != r) continue;                /* stale */
        uint32_t j = next[i];                    /* absorb part j */
        next[i] = next[j];
        if (next[j] < n) prev[next[j]] = i;
        rk[j] = NO_RANK;
        np--;
        uint32_t after = next[i];
        rk[i] = after < n ? rank_of(v, p + i, next[after] - i) : NO_RANK;
        if (rk[i] != NO_RANK) heap_push(heap, &hl, (uint64_t)rk[i] << 32 | i);
        if (prev[i] != UINT32_MAX) {
            uint32_t h = prev[i];
            rk[h] = rank_of(v, p + h, after - h);
            if (rk[h] != NO_RANK) heap_push(heap, &hl, (uint64_t)rk[h] << 32 | h);
        }
    }
    if (ends) {
        size_t k = 0;
        for (uint32_t i = 0; i < n; i = next[i]) ends[k++] = next[i];
    }
    return np;
}

/* The tokens of one piece (ends relative to p, when ends is not NULL; it has room for n). */
static size_t encode_piece(const Vocab *v, Merge *m, const unsigned char *p, size_t n, uint32_t *ends)
{
    if (n == 0) return 0;
    if (n == 1 || rank_of(v, p, n) != NO_RANK) {
        if (ends) ends[0] = (uint32_t)n;
        return 1;
    }
    merge_reserve(m, n);
    return n <= SHORT_PIECE ? merge_short(v, m, p, n, ends) : merge_long(v, m, p, n, ends);
}

/* ------------------------------------------------------------------- the pieces --- */

/* Calls piece(arg, start, end) for each pre-tokenizer piece of s, in order; pieces cover s.
 * Returns 0, or -1 with *err when matching fails. */
typedef void (*PieceFn)(void *arg, size_t start, size_t end);

static int each_piece(const Vocab *v, const char *s, size_t n, PieceFn piece, void *arg, const char **err)
{
    pcre2_match_data *md = pcre2_match_data_create(1, NULL);
    if (!md) {
        if (err) *err = "out of memory";
        return -1;
    }
    PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
    size_t pos = 0;
    int rc = 0;
    while (pos < n) {
        int m = v->jit ? pcre2_jit_match(v->re, (PCRE2_SPTR)s, n, pos, 0, md, NULL)
                       : pcre2_match(v->re, (PCRE2_SPTR)s, n, pos, 0, md, NULL);
        size_t ms = n, me = n;
        if (m >= 0) {
            ms = ov[0];
            me = ov[1];
        } else if (m != PCRE2_ERROR_NOMATCH) {
            if (err) *err = "the tokenizer's pattern failed to match (PCRE2 error)";
            rc = -1;
            break;
        }
        if (ms > pos) piece(arg, pos, ms);      /* bytes that are not UTF-8 */
        if (me == ms && me < n) me = ms + 1;     /* no pattern matches empty text; never loop */
        if (me > ms) piece(arg, ms, me);
        pos = me;
    }
    pcre2_match_data_free(md);
    return rc;
}

typedef struct Counter { const Vocab *v; Merge m; const unsigned char *s; int64_t count; } Counter;

static void count_piece(void *arg, size_t start, size_t end)
{
    Counter *c = arg;
    c->count += (int64_t)encode_piece(c->v, &c->m, c->s + start, end - start, NULL);
}

int64_t tok_count(TokEncoding e, const char *s, size_t n, const char **err)
{
    Counter c = { vocab_get(e, err), { 0 }, (const unsigned char *)s, 0 };
    if (!c.v) return -1;
    int rc = each_piece(c.v, s, n, count_piece, &c, err);
    merge_free(&c.m);
    return rc ? -1 : c.count;
}

typedef struct Spanner { const Vocab *v; Merge m; const unsigned char *s; TokSpans *out; size_t cap; uint32_t *ends; size_t ends_cap; } Spanner;

static void span_piece(void *arg, size_t start, size_t end)
{
    Spanner *sp = arg;
    size_t len = end - start;
    if (len > sp->ends_cap) {
        sp->ends_cap = len > 2 * sp->ends_cap ? len : 2 * sp->ends_cap;
        sp->ends = xrealloc(sp->ends, sp->ends_cap * sizeof *sp->ends);
    }
    size_t k = encode_piece(sp->v, &sp->m, sp->s + start, len, sp->ends);
    TokSpans *t = sp->out;
    if (t->n + k > sp->cap) {
        sp->cap = t->n + k > 2 * sp->cap ? t->n + k : 2 * sp->cap;
        t->ends = xrealloc(t->ends, sp->cap * sizeof *t->ends);
        t->piece_end = xrealloc(t->piece_end, sp->cap);
    }
    for (size_t i = 0; i < k; i++) {
        t->ends[t->n] = start + sp->ends[i];
        t->piece_end[t->n++] = i + 1 == k;
    }
}

int tok_spans(TokEncoding e, const char *s, size_t n, TokSpans *out, const char **err)
{
    memset(out, 0, sizeof *out);
    Spanner sp = { vocab_get(e, err), { 0 }, (const unsigned char *)s, out, 0, NULL, 0 };
    if (!sp.v) return -1;
    int rc = each_piece(sp.v, s, n, span_piece, &sp, err);
    merge_free(&sp.m);
    free(sp.ends);
    if (rc) tok_spans_free(out);
    return rc;
}

void tok_spans_free(TokSpans *t)
{
    free(t->ends);
    free(t->piece_end);
    t->ends = NULL;
    t->piece_end = NULL;
    t->n = 0;
}
