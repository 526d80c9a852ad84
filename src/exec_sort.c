/* exec_sort.c: order by without a small limit (exec.c keeps the bounded heap of order by ... limit N).
 *
 * The sort sorts keys, not rows. Each input batch is kept as it came; its key expressions are
 * evaluated once. Every row then gets an entry of 64-bit words (its normalized keys) and a
 * reference to its batch and row: integers, dates, timestamps and booleans as sign-flipped
 * integers, floats as order-preserving bit patterns, strings as their first bytes (plus their
 * length when the whole string fits), a null flag word before the key when the column holds
 * nulls, and every data word inverted for `desc`. The entries are radix sorted (least significant
 * byte first, skipping bytes that are the same in every entry: stable, so ties stay in input
 * order). Where the words cannot decide (a string longer than its words, ints mixed with floats,
 * lists), the rows whose words tie are sorted again by comparing their values. The output is
 * one gather: values move out of the input batches into output batches, a batch at a time, and an
 * input batch is freed as soon as its last row has left.
 *
 * When the input is larger than the memory budget (`set memory_limit`, default half of the
 * machine's memory), each budget's worth of rows is sorted that way and written to a temporary
 * file (a sorted run: per row its key values, then its values); the runs are then merged (a heap
 * over the runs' current rows, ties to the earlier run, so the order stays the stable one), at most
 * SORT_FANIN at a time. The temporary files are unlinked as soon as they are made.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "exec.h"
#include "pool.h"

enum { SORT_FANIN = 64 };                        /* runs merged at once (open files) */
enum { ENC_NONE, ENC_I64, ENC_F64, ENC_NUM, ENC_STR };
enum { STR_WORDS_MAX = 4 };                     /* a string key's words: its first 32 bytes */

/* How one key column becomes words, decided per chunk from the values it holds. */
typedef struct KeyCol {
    int enc;            /* ENC_* */
    int nullw;          /* 1: a null-flag word comes first (the column holds nulls) */
    int words;          /* data words */
    int exact;          /* 1: equal words mean equal values */
} KeyCol;

/* Rows gathered for one sort (the whole input, or one run's worth). */
typedef struct Chunk {
    Batch **in;         /* the input batches (owned; NULL once all their rows left) */
    Value ***keys;      /* keys[b][k]: key k's values over batch b (owned) */
    size_t *left;       /* rows of batch b not yet moved out */
    int nb, capb;
    size_t nrows, bytes;  /* rows held; estimated bytes */
    KeyCol *kc;
    int stride;         /* words per entry: the key words, then the row reference (batch << 32 | row) */
    uint64_t *ent;      /* nrows entries, sorted */
    size_t pos;         /* next entry to emit */
} Chunk;

/* A sorted run in a temporary file. */
typedef struct Run { FILE *f; size_t rows; } Run;

/* A run being read by a merge: its current row. */
typedef struct RunIn { Run *run; size_t left; Value *keys, *vals; int ord; } RunIn;

typedef struct SortState {
    Chunk ch;           /* the in-memory part */
    Run **runs; int nruns, capruns;
    RunIn *ins; int nins;   /* the final merge's inputs */
    int *heap; int nheap;
    Type **types; int ntypes, captypes;   /* struct types of spilled values (referenced) */
    Buf row;            /* a row being encoded or decoded */
    int merging, done;
    int spilled;        /* runs written from the input (merges down not counted) */
    int ncols;          /* the rows' columns */
    size_t budget;
} SortState;

/* ---- memory estimate ---- */

/* The estimated bytes a value holds beyond its 16-byte cell (strings counted whole though shared). */
static size_t value_bytes(Value v)
{
    switch (v.kind) {
    case V_STRING: case V_JSON: return sizeof(Str) + v_strlen(v) + 16;
    case V_LIST: return sizeof(List) + 16 + v.u.l->n * sizeof(Value);
    case V_STRUCT: return sizeof(Struct) + 16 + v.u.st->n * sizeof(Value);
    default: return 0;
    }
}

/* The memory budget: `set memory_limit`, or half of physical memory. */
static size_t sort_budget(const Exec *ex)
{
    if (ex->rt && ex->rt->memory_limit) return ex->rt->memory_limit;
    long pages = sysconf(_SC_PHYS_PAGES), psz = sysconf(_SC_PAGESIZE);
    if (pages <= 0 || psz <= 0) return (size_t)4 << 30;
    return (size_t)pages * (size_t)psz / 2;
}

/* ---- key words ---- */

static void key_classify(KeyCol *kc, Value ***keys, Batch **in, int nb, int k)
{
    unsigned kinds = 0;
    int nulls = 0;
    size_t maxlen = 0;
    for (int b = 0; b < nb; b++) {
        const Value *v = keys[b][k];
        for (size_t r = 0; r < in[b]->n; r++) {
            if (v[r].kind == V_NULL) { nulls = 1; continue; }
            kinds |= 1u << v[r].kind;
            if ((v[r].kind == V_STRING || v[r].kind == V_JSON) && v_strlen(v[r]) > maxlen) maxlen = v_strlen(v[r]);
        }
    }
    kc->nullw = nulls;
    kc->enc = ENC_NONE; kc->words = 0; kc->exact = 0;
    if (!kinds) { kc->exact = 1; return; }
    if (kinds == 1u << V_BOOL || kinds == 1u << V_INT || kinds == 1u << V_DATE || kinds == 1u << V_TIMESTAMP) {
        kc->enc = ENC_I64; kc->words = 1; kc->exact = 1;
    } else if (kinds == 1u << V_FLOAT) {
        kc->enc = ENC_F64; kc->words = 1; kc->exact = 1;
    } else if (kinds == (1u << V_INT | 1u << V_FLOAT)) {
        kc->enc = ENC_NUM; kc->words = 1;
    } else if (kinds == 1u << V_STRING || kinds == 1u << V_JSON) {
        /* exact when every string fits with its length byte: maxlen + 1 bytes */
        size_t w = (maxlen + 8) / 8;
        kc->enc = ENC_STR;
        kc->words = w > STR_WORDS_MAX ? STR_WORDS_MAX : (int)w;
        kc->exact = w <= STR_WORDS_MAX;
    }
}

/* A double as a word whose unsigned order is value_cmp's (-0 = 0, NaN above everything). */
static uint64_t f64_word(double d)
{
    if (isnan(d)) return UINT64_MAX;
    if (d == 0) d = 0.0;
    uint64_t u;
    memcpy(&u, &d, sizeof u);
    return (u >> 63) ? ~u : u | (uint64_t)1 << 63;
}

/* Write value v's words for key kc at w (kc->nullw + kc->words words). */
static void key_words(const KeyCol *kc, Value v, int desc, int nulls_first, uint64_t *w)
{
    if (kc->nullw) *w++ = v.kind == V_NULL ? (nulls_first ? 0 : 2) : 1;
    if (v.kind == V_NULL) { for (int i = 0; i < kc->words; i++) w[i] = 0; return; }
    switch (kc->enc) {
    case ENC_I64: w[0] = (uint64_t)(v.kind == V_BOOL ? (int64_t)v.u.b : v.u.i) ^ (uint64_t)1 << 63; break;
    case ENC_F64: w[0] = f64_word(v.u.f); break;
    case ENC_NUM: w[0] = f64_word(v.kind == V_INT ? (double)v.u.i : v.u.f); break;
    case ENC_STR: {
        unsigned char bytes[8 * STR_WORDS_MAX] = { 0 };
        size_t room = (size_t)kc->words * 8 - (size_t)kc->exact, n = v_strlen(v);
        memcpy(bytes, v_str(v), n < room ? n : room);
        if (kc->exact) bytes[room] = (unsigned char)n;
        for (int i = 0; i < kc->words; i++) {
            uint64_t x = 0;
            for (int j = 0; j < 8; j++) x = x << 8 | bytes[i * 8 + j];
            w[i] = x;
        }
        break;
    }
    default: break;
    }
    if (desc) for (int i = 0; i < kc->words; i++) w[i] = ~w[i];
}

/* ---- sorting a chunk ---- */

typedef struct CmpCtx { const Chunk *ch; const Plan *p; } CmpCtx;

static Value chunk_key(const Chunk *ch, int k, uint64_t ref)
{
    return ch->keys[ref >> 32][k][ref & 0xffffffffu];
}

/* Full order of two entries: words, the values where the words cannot decide, then input order. */
static int ent_cmp(const void *a, const void *b, void *arg)
{
    const CmpCtx *cx = arg;
    const Chunk *ch = cx->ch;
    const uint64_t *x = a, *y = b;
    int off = 0, s = ch->stride;
    for (int k = 0; k < cx->p->nexprs; k++) {
        const KeyCol *kc = &ch->kc[k];
        int nw = kc->nullw + kc->words;
        for (int j = 0; j < nw; j++)
            if (x[off + j] != y[off + j]) return x[off + j] < y[off + j] ? -1 : 1;
        if (!kc->exact) {
            int c = value_cmp(chunk_key(ch, k, x[s - 1]), chunk_key(ch, k, y[s - 1]));
            if (c) return cx->p->desc[k] ? -c : c;
        }
        off += nw;
    }
    return x[s - 1] < y[s - 1] ? -1 : x[s - 1] > y[s - 1];
}

/* Stable LSD radix sort of n entries of s words on their first nw words (word 0 most significant);
 * byte positions where every entry holds the same byte are skipped. */
static void radix_sort(uint64_t *e, size_t n, int s, int nw)
{
    if (n < 2 || nw == 0) return;
    size_t (*cnt)[256] = xcalloc((size_t)nw * 8, sizeof *cnt);
    for (size_t i = 0; i < n; i++) {
        const uint64_t *x = e + i * (size_t)s;
        for (int w = 0; w < nw; w++)
            for (int b = 0; b < 8; b++) cnt[w * 8 + b][(x[w] >> (8 * b)) & 0xff]++;
    }
    uint64_t *tmp = xmalloc(n * (size_t)s * sizeof *tmp), *src = e, *dst = tmp;
    for (int w = nw - 1; w >= 0; w--)
        for (int b = 0; b < 8; b++) {
            size_t *c = cnt[w * 8 + b], sum = 0;
            int single = 0;
            for (int v = 0; v < 256; v++) if (c[v] == n) single = 1;
            if (single) continue;
            for (int v = 0; v < 256; v++) { size_t t = c[v]; c[v] = sum; sum += t; }
            for (size_t i = 0; i < n; i++) {
                const uint64_t *x = src + i * (size_t)s;
                memcpy(dst + c[(x[w] >> (8 * b)) & 0xff]++ * (size_t)s, x, (size_t)s * sizeof *x);
            }
            uint64_t *t = src; src = dst; dst = t;
        }
    if (src != e) memcpy(e, src, n * (size_t)s * sizeof *e);
    free(tmp);
    free(cnt);
}

/* The entries of batches [b0, b1) of the chunk, from e on (the key words, then the reference). */
static void chunk_entries(Chunk *ch, const Plan *p, int b0, int b1, uint64_t *e)
{
    int s = ch->stride;
    for (int b = b0; b < b1; b++)
        for (size_t r = 0; r < ch->in[b]->n; r++, e += s) {
            int off = 0;
            for (int k = 0; k < p->nexprs; k++) {
                key_words(&ch->kc[k], ch->keys[b][k][r], p->desc[k], p->nulls_first[k], e + off);
                off += ch->kc[k].nullw + ch->kc[k].words;
            }
            e[s - 1] = (uint64_t)b << 32 | r;
        }
}

/* Sort n entries from e: radix on the words, then the rows whose words tie up to the first
 * inexact key (pre words) by their values. */
static void entries_sort(const Chunk *ch, const Plan *p, uint64_t *e, size_t n, int nw, int pre, int inexact)
{
    int s = ch->stride;
    radix_sort(e, n, s, nw);
    if (!inexact) return;
    CmpCtx cx = { ch, p };
    size_t i = 0;
    while (i < n) {
        size_t j = i + 1;
        while (j < n && !memcmp(e + i * (size_t)s, e + j * (size_t)s, (size_t)pre * sizeof *e)) j++;
        if (j - i > 1) qsort_r(e + i * (size_t)s, j - i, (size_t)s * sizeof *e, ent_cmp, &cx);
        i = j;
    }
}

/* Sorting on threads: thread t builds and sorts the entries of batches [b[t], b[t+1]) (a
 * contiguous range of rows, in input order), then the sorted ranges are merged. */
typedef struct SortPart { Chunk *ch; const Plan *p; int nw, pre, inexact; int *b; size_t *lo; } SortPart;

static void sort_part(void *ctx, int t)
{
    SortPart *sp = ctx;
    uint64_t *e = sp->ch->ent + sp->lo[t] * (size_t)sp->ch->stride;
    chunk_entries(sp->ch, sp->p, sp->b[t], sp->b[t + 1], e);
    entries_sort(sp->ch, sp->p, e, sp->lo[t + 1] - sp->lo[t], sp->nw, sp->pre, sp->inexact);
}

enum { SORT_PAR_ROWS = 65536 };   /* fewer rows: one thread (threads cost more than they save) */

/* Sort the chunk's rows into ch->ent, on up to nthreads threads. keep_keys: the key values stay (a
 * run writes them); else those the words decide alone are freed. The order is the stable one
 * whatever the threads: each thread sorts a range of rows in input order, and the merge compares
 * entries in full (ent_cmp: words, values, then input order), so it is the one sorted order.
 * Returns the threads used. */
static int chunk_sort(Chunk *ch, const Plan *p, int keep_keys, int nthreads)
{
    int nk = p->nexprs, nw = 0, first_inexact = -1, pre = 0;
    free(ch->kc);
    ch->kc = xcalloc((size_t)nk + 1, sizeof *ch->kc);
    for (int k = 0; k < nk; k++) {
        key_classify(&ch->kc[k], ch->keys, ch->in, ch->nb, k);
        nw += ch->kc[k].nullw + ch->kc[k].words;
        if (first_inexact < 0) {
            pre += ch->kc[k].nullw + ch->kc[k].words;
            if (!ch->kc[k].exact) first_inexact = k;
        }
    }
    int s = ch->stride = nw + 1;
    free(ch->ent);
    ch->ent = xmalloc((ch->nrows ? ch->nrows : 1) * (size_t)s * sizeof *ch->ent);
    if (nthreads > ch->nb) nthreads = ch->nb;
    if (nthreads < 2 || ch->nrows < SORT_PAR_ROWS) {
        chunk_entries(ch, p, 0, ch->nb, ch->ent);
        if (!keep_keys)   /* freed before the sort: memory for its buffers */
            for (int b = 0; b < ch->nb; b++)
                for (int k = 0; k < nk; k++)
                    if (ch->kc[k].exact) { eval_vals_free(ch->keys[b][k], ch->in[b]->n); ch->keys[b][k] = NULL; }
        entries_sort(ch, p, ch->ent, ch->nrows, nw, pre, first_inexact >= 0);
        ch->pos = 0;
        return 1;
    }
    /* ranges of whole batches, about nrows / nthreads rows each */
    SortPart sp = { ch, p, nw, pre, first_inexact >= 0, xcalloc((size_t)nthreads + 1, sizeof(int)), xcalloc((size_t)nthreads + 1, sizeof(size_t)) };
    size_t rows = 0;
    int t = 1;
    for (int b = 0; b < ch->nb && t < nthreads; b++) {
        rows += ch->in[b]->n;
        if (rows * (size_t)nthreads >= ch->nrows * (size_t)t) { sp.b[t] = b + 1; sp.lo[t] = rows; t++; }
    }
    for (; t <= nthreads; t++) { sp.b[t] = ch->nb; sp.lo[t] = ch->nrows; }
    pool_run(nthreads, sort_part, &sp);
    /* merge the sorted ranges: the smallest head in full order, a range at a time */
    uint64_t *out = xmalloc(ch->nrows * (size_t)s * sizeof *out), *o = out;
    size_t *at = xcalloc((size_t)nthreads, sizeof *at);
    for (int q = 0; q < nthreads; q++) at[q] = sp.lo[q];
    CmpCtx cx = { ch, p };
    for (size_t i = 0; i < ch->nrows; i++, o += s) {
        int best = -1;
        for (int q = 0; q < nthreads; q++)
            if (at[q] < sp.lo[q + 1] && (best < 0 || ent_cmp(ch->ent + at[q] * (size_t)s, ch->ent + at[best] * (size_t)s, &cx) < 0)) best = q;
        memcpy(o, ch->ent + at[best]++ * (size_t)s, (size_t)s * sizeof *o);
    }
    free(at);
    free(ch->ent);
    ch->ent = out;
    if (!keep_keys)
        for (int b = 0; b < ch->nb; b++)
            for (int k = 0; k < nk; k++)
                if (ch->kc[k].exact) { eval_vals_free(ch->keys[b][k], ch->in[b]->n); ch->keys[b][k] = NULL; }
    free(sp.b);
    free(sp.lo);
    ch->pos = 0;
    return nthreads;
}

static void chunk_free_keys(Chunk *ch, int nk)
{
    for (int b = 0; b < ch->nb; b++) {
        if (!ch->keys[b]) continue;
        for (int k = 0; k < nk; k++) eval_vals_free(ch->keys[b][k], ch->in[b] ? ch->in[b]->n : 0);
        free(ch->keys[b]);
        ch->keys[b] = NULL;
    }
}

/* Free everything the chunk holds and empty it. */
static void chunk_clear(Chunk *ch, int nk)
{
    chunk_free_keys(ch, nk);
    for (int b = 0; b < ch->nb; b++) batch_free(ch->in[b]);
    free(ch->in); free(ch->keys); free(ch->left); free(ch->kc); free(ch->ent);
    memset(ch, 0, sizeof *ch);
}

/* Move the next sorted row of the chunk onto the end of o (room for it made by the caller). */
static void chunk_take(Chunk *ch, Batch *o)
{
    size_t s = (size_t)ch->stride;
    if (ch->pos + 8 < ch->nrows) {   /* the rows are scattered: fetch a few ahead */
        uint64_t ahead = ch->ent[(ch->pos + 8) * s + s - 1];
        const Batch *ib = ch->in[ahead >> 32];
        for (int c = 0; c < o->ncols; c++) __builtin_prefetch(&ib->cols[c][ahead & 0xffffffffu], 1);
    }
    uint64_t ref = ch->ent[ch->pos++ * s + s - 1];
    int b = (int)(ref >> 32);
    size_t r = ref & 0xffffffffu;
    Batch *in = ch->in[b];
    for (int c = 0; c < o->ncols; c++) {
        o->cols[c][o->n] = in->cols[c][r];
        if (!(in->shared & batch_bit(c))) in->cols[c][r] = v_null();   /* moved */
    }
    o->n++;
    if (--ch->left[b] == 0) { batch_free(in); ch->in[b] = NULL; }
}

/* ---- runs on disk ---- */

static void put_u64(Buf *b, uint64_t x) { buf_append(b, (const char *)&x, sizeof x); }

static int type_slot(SortState *st, Type *t)
{
    for (int i = 0; i < st->ntypes; i++) if (st->types[i] == t) return i;
    if (st->ntypes == st->captypes) st->types = xrealloc(st->types, (size_t)(st->captypes = st->captypes ? 2 * st->captypes : 8) * sizeof *st->types);
    st->types[st->ntypes] = type_ref(t);
    return st->ntypes++;
}

static void encode_value(SortState *st, Buf *b, Value v)
{
    buf_putc(b, (char)v.kind);
    switch (v.kind) {
    case V_NULL: break;
    case V_BOOL: buf_putc(b, (char)v.u.b); break;
    case V_INT: case V_DATE: case V_TIMESTAMP: case V_FLOAT: put_u64(b, (uint64_t)v.u.i); break;
    case V_STRING: case V_JSON: put_u64(b, v_strlen(v)); buf_append(b, v_str(v), v_strlen(v)); break;
    case V_LIST:
        put_u64(b, v.u.l->n);
        for (uint32_t i = 0; i < v.u.l->n; i++) encode_value(st, b, v.u.l->items[i]);
        break;
    case V_STRUCT:
        put_u64(b, (uint64_t)type_slot(st, v.u.st->type));
        put_u64(b, v.u.st->n);
        for (uint32_t i = 0; i < v.u.st->n; i++) encode_value(st, b, v.u.st->fields[i]);
        break;
    }
}

static uint64_t get_u64(const char **p)
{
    uint64_t x;
    memcpy(&x, *p, sizeof x);
    *p += sizeof x;
    return x;
}

static Value decode_value(const SortState *st, const char **p)
{
    int kind = (unsigned char)*(*p)++;
    Value v = v_null();
    switch (kind) {
    case V_BOOL: v = v_bool(*(*p)++); break;
    case V_INT: case V_DATE: case V_TIMESTAMP: case V_FLOAT: v.kind = (uint8_t)kind; v.u.i = (int64_t)get_u64(p); break;
    case V_STRING: case V_JSON: {
        size_t n = get_u64(p);
        if (kind == V_JSON) v = v_json_text(*p, n);
        else {
            Str *s = str_alloc(n);
            memcpy(s->data, *p, n);
            v = v_string_take(s);
        }
        *p += n;
        break;
    }
    case V_LIST: {
        uint32_t n = (uint32_t)get_u64(p);
        v = v_list_new(n);
        for (uint32_t i = 0; i < n; i++) v.u.l->items[i] = decode_value(st, p);
        break;
    }
    case V_STRUCT: {
        Type *t = st->types[get_u64(p)];
        uint32_t n = (uint32_t)get_u64(p);
        v = v_struct_new(t);
        for (uint32_t i = 0; i < n; i++) {
            Value f = decode_value(st, p);
            if (i < v.u.st->n) v.u.st->fields[i] = f; else value_free(f);
        }
        break;
    }
    default: break;
    }
    return v;
}

/* A new empty run in an unlinked temporary file, or NULL with err. */
static Run *run_new(Exec *ex)
{
    const char *dir = getenv("TMPDIR");
    if (!dir || !*dir) dir = "/tmp";
    char *path = xasprintf("%s/fql-sort-XXXXXX", dir);
    int fd = mkstemp(path);
    if (fd < 0) {
        err_set(ex->err, FQL_ERR_RUNTIME, "order by: the input is larger than memory_limit and the sort cannot make a temporary file in %s (%s): "
                "set TMPDIR to a writable directory with room, or raise memory_limit", dir, strerror(errno));
        free(path);
        return NULL;
    }
    unlink(path);
    free(path);
    Run *r = xcalloc(1, sizeof *r);
    r->f = fdopen(fd, "w+b");
    setvbuf(r->f, NULL, _IOFBF, 1 << 16);
    return r;
}

static void run_free(Run *r)
{
    if (!r) return;
    if (r->f) fclose(r->f);
    free(r);
}

/* Append one row (its key values, then its values) to run r. */
static void run_put(SortState *st, Run *r, const Value *keys, int nk, const Value *vals, int ncols)
{
    Buf *b = &st->row;
    buf_clear(b);
    put_u64(b, 0);   /* the row's length, filled below */
    for (int k = 0; k < nk; k++) encode_value(st, b, keys[k]);
    for (int c = 0; c < ncols; c++) encode_value(st, b, vals[c]);
    uint64_t len = b->len - sizeof len;
    memcpy(b->data, &len, sizeof len);
    fwrite(b->data, 1, b->len, r->f);
    r->rows++;
}

/* Finish writing run r and rewind it for reading: 0, or -1 with err (a full disk). */
static int run_seal(Exec *ex, Run *r)
{
    if (fflush(r->f) || ferror(r->f) || fseek(r->f, 0, SEEK_SET))
        return err_set(ex->err, FQL_ERR_RUNTIME, "order by: writing the sort's temporary file failed (%s): free disk space in TMPDIR, "
                       "point TMPDIR elsewhere, or raise memory_limit", strerror(errno ? errno : EIO));
    return 0;
}

/* Read the next row of a run into keys/vals (new values): 1, 0 at its end, -1 on a read error. */
static int run_get(SortState *st, RunIn *ri, int nk, int ncols)
{
    if (!ri->left) return 0;
    uint64_t len;
    if (fread(&len, sizeof len, 1, ri->run->f) != 1) return -1;
    buf_clear(&st->row);
    buf_reserve(&st->row, len);
    if (fread(st->row.data, 1, len, ri->run->f) != len) return -1;
    const char *p = st->row.data;
    for (int k = 0; k < nk; k++) ri->keys[k] = decode_value(st, &p);
    for (int c = 0; c < ncols; c++) ri->vals[c] = decode_value(st, &p);
    ri->left--;
    return 1;
}

/* Sort the chunk and write it out as a new run; the chunk is emptied. 0, or -1 with err. */
static int spill(Op *op, SortState *st)
{
    const Plan *p = op->p;
    int nk = p->nexprs, ncols = p->schema->n;
    Chunk *ch = &st->ch;
    chunk_sort(ch, p, 1, core_threads(op->ex));
    Run *r = run_new(op->ex);
    if (!r) return -1;
    if (st->nruns == st->capruns) st->runs = xrealloc(st->runs, (size_t)(st->capruns = st->capruns ? 2 * st->capruns : 8) * sizeof *st->runs);
    st->runs[st->nruns++] = r;
    st->spilled++;
    Value *kv = xcalloc((size_t)nk + 1, sizeof *kv), *vv = xcalloc((size_t)ncols + 1, sizeof *vv);
    for (size_t i = 0; i < ch->nrows; i++) {
        if (i + 8 < ch->nrows) {   /* the rows are scattered: fetch a few ahead */
            uint64_t ahead = ch->ent[(i + 8) * (size_t)ch->stride + (size_t)ch->stride - 1];
            size_t ar = ahead & 0xffffffffu;
            for (int k = 0; k < nk; k++) __builtin_prefetch(&ch->keys[ahead >> 32][k][ar]);
            for (int c = 0; c < ncols; c++) __builtin_prefetch(&ch->in[ahead >> 32]->cols[c][ar]);
        }
        uint64_t ref = ch->ent[i * (size_t)ch->stride + (size_t)ch->stride - 1];
        int b = (int)(ref >> 32);
        size_t row = ref & 0xffffffffu;
        for (int k = 0; k < nk; k++) kv[k] = ch->keys[b][k][row];
        for (int c = 0; c < ncols; c++) vv[c] = ch->in[b]->cols[c][row];
        run_put(st, r, kv, nk, vv, ncols);
    }
    free(kv);
    free(vv);
    chunk_clear(ch, nk);
    return run_seal(op->ex, r);
}

/* ---- merging runs ---- */

/* Order of two rows' key values as order by has it (nulls first or last as written, then desc). */
static int keys_cmp(const Plan *p, const Value *a, const Value *b)
{
    for (int k = 0; k < p->nexprs; k++) {
        Value x = a[k], y = b[k];
        if (x.kind == V_NULL || y.kind == V_NULL) {
            if (x.kind == y.kind) continue;
            int c = x.kind == V_NULL ? -1 : 1;
            return p->nulls_first[k] ? c : -c;
        }
        int c = value_cmp(x, y);
        if (c) return p->desc[k] ? -c : c;
    }
    return 0;
}

/* Heap order of two merge inputs: their rows, then the earlier run first (stable). */
static int in_less(const Plan *p, const RunIn *a, const RunIn *b)
{
    int c = keys_cmp(p, a->keys, b->keys);
    return c ? c < 0 : a->ord < b->ord;
}

static void heap_down(const Plan *p, SortState *st, int i)
{
    for (;;) {
        int l = 2 * i + 1, m = i;
        if (l < st->nheap && in_less(p, &st->ins[st->heap[l]], &st->ins[st->heap[m]])) m = l;
        if (l + 1 < st->nheap && in_less(p, &st->ins[st->heap[l + 1]], &st->ins[st->heap[m]])) m = l + 1;
        if (m == i) return;
        int t = st->heap[i]; st->heap[i] = st->heap[m]; st->heap[m] = t;
        i = m;
    }
}

/* End a merge: the rows still current in its inputs are freed. */
static void merge_end(SortState *st, int nk)
{
    for (int h = 0; h < st->nheap; h++) {
        RunIn *ri = &st->ins[st->heap[h]];
        for (int k = 0; k < nk; k++) value_free(ri->keys[k]);
        for (int c = 0; c < st->ncols; c++) value_free(ri->vals[c]);
    }
    for (int i = 0; i < st->nins; i++) {
        free(st->ins[i].keys);
        free(st->ins[i].vals);
    }
    free(st->ins); free(st->heap);
    st->ins = NULL; st->heap = NULL; st->nins = st->nheap = 0;
}

static int read_failed(Exec *ex)
{
    return err_set(ex->err, FQL_ERR_RUNTIME, "order by: reading the sort's temporary file back failed (%s)", strerror(errno ? errno : EIO));
}

/* Start merging runs[0, n): each input's first row read, the heap built. 0, or -1 with err. */
static int merge_begin(Op *op, SortState *st, int n)
{
    const Plan *p = op->p;
    int nk = p->nexprs, ncols = p->schema->n;
    st->ins = xcalloc((size_t)n, sizeof *st->ins);
    st->heap = xcalloc((size_t)n, sizeof *st->heap);
    st->nins = n;
    st->nheap = 0;
    for (int i = 0; i < n; i++) {
        RunIn *ri = &st->ins[i];
        ri->run = st->runs[i];
        ri->left = ri->run->rows;
        ri->ord = i;
        ri->keys = xcalloc((size_t)nk + 1, sizeof(Value));
        ri->vals = xcalloc((size_t)ncols + 1, sizeof(Value));
        int rc = run_get(st, ri, nk, ncols);
        if (rc < 0) return read_failed(op->ex);
        if (rc) st->heap[st->nheap++] = i;
    }
    for (int i = st->nheap / 2 - 1; i >= 0; i--) heap_down(p, st, i);
    return 0;
}

/* Take the smallest row of the merge: its keys and values move to keys/vals (the caller's). 1, 0
 * when every run is done, -1 with err. */
static int merge_next(Op *op, SortState *st, Value *keys, Value *vals)
{
    const Plan *p = op->p;
    int nk = p->nexprs, ncols = p->schema->n;
    if (!st->nheap) return 0;
    RunIn *ri = &st->ins[st->heap[0]];
    memcpy(keys, ri->keys, (size_t)nk * sizeof *keys);
    memcpy(vals, ri->vals, (size_t)ncols * sizeof *vals);
    int rc = run_get(st, ri, nk, ncols);
    if (rc < 0) return read_failed(op->ex);
    if (!rc) st->heap[0] = st->heap[--st->nheap];
    if (st->nheap) heap_down(p, st, 0);
    return 1;
}

/* Merge the first SORT_FANIN runs into one, until at most SORT_FANIN are left. 0, or -1 with err. */
static int merge_down(Op *op, SortState *st)
{
    int nk = op->p->nexprs, ncols = op->p->schema->n;
    Value *kv = xcalloc((size_t)nk + 1, sizeof *kv), *vv = xcalloc((size_t)ncols + 1, sizeof *vv);
    int rc = 0;
    while (st->nruns > SORT_FANIN && !rc) {
        Run *out = run_new(op->ex);
        if (!out) { rc = -1; break; }
        if (merge_begin(op, st, SORT_FANIN)) { merge_end(st, nk); run_free(out); rc = -1; break; }
        int got;
        while ((got = merge_next(op, st, kv, vv)) == 1) {
            run_put(st, out, kv, nk, vv, ncols);
            for (int k = 0; k < nk; k++) value_free(kv[k]);
            for (int c = 0; c < ncols; c++) value_free(vv[c]);
        }
        merge_end(st, nk);
        if (got < 0 || run_seal(op->ex, out)) { run_free(out); rc = -1; break; }
        /* the merged run replaces the first SORT_FANIN at the end, after the later ones: it holds
         * the earliest input rows, so it goes first again to keep ties in input order */
        for (int i = 0; i < SORT_FANIN; i++) run_free(st->runs[i]);
        memmove(st->runs + 1, st->runs + SORT_FANIN, (size_t)(st->nruns - SORT_FANIN) * sizeof *st->runs);
        st->nruns -= SORT_FANIN - 1;
        st->runs[0] = out;
    }
    free(kv);
    free(vv);
    return rc;
}

/* ---- the operator ---- */

/* Pull the whole input: kept in memory, or in sorted runs where it is larger than the budget.
 * 0, or -1 with err. */
static int sort_input(Op *op, SortState *st)
{
    const Plan *p = op->p;
    int nk = p->nexprs;
    Chunk *ch = &st->ch;
    Batch *in;
    int rc;
    while ((rc = op->child->next(op->child, &in)) == 1) {
        if (!in->n) { batch_free(in); continue; }
        Value **kv = xcalloc((size_t)nk + 1, sizeof *kv);
        for (int k = 0; k < nk; k++)
            if (!(kv[k] = eval_batch(op->ex, p->exprs[k], in))) {
                for (int q = 0; q < k; q++) eval_vals_free(kv[q], in->n);
                free(kv);
                batch_free(in);
                return -1;
            }
        if (ch->nb == ch->capb) {
            ch->capb = ch->capb ? 2 * ch->capb : 64;
            ch->in = xrealloc(ch->in, (size_t)ch->capb * sizeof *ch->in);
            ch->keys = xrealloc(ch->keys, (size_t)ch->capb * sizeof *ch->keys);
            ch->left = xrealloc(ch->left, (size_t)ch->capb * sizeof *ch->left);
        }
        size_t bytes = in->n * (sizeof(Batch *) + (size_t)(in->ncols + nk) * sizeof(Value) + 2 * (size_t)(2 * nk + 1) * sizeof(uint64_t));
        for (int c = 0; c < in->ncols; c++)
            for (size_t r = 0; r < in->n; r++) bytes += value_bytes(in->cols[c][r]);
        ch->in[ch->nb] = in;
        ch->keys[ch->nb] = kv;
        ch->left[ch->nb++] = in->n;
        ch->nrows += in->n;
        ch->bytes += bytes;
        if (op->ex->rt && rt_interrupted(op->ex->rt))
            return err_set(op->ex->err, FQL_ERR_RUNTIME, "%s", EXEC_INTERRUPTED);
        if (ch->bytes > st->budget && spill(op, st)) return -1;
        if (st->nruns > 2 * SORT_FANIN && merge_down(op, st)) return -1;   /* bounds the open files */
    }
    if (rc < 0) return -1;
    if (st->nruns) {
        if (ch->nrows && spill(op, st)) return -1;
        if (merge_down(op, st) || merge_begin(op, st, st->nruns)) return -1;
        st->merging = 1;
        free(op->detail);
        op->detail = xasprintf("sorted in %d run%s on disk, merged (memory_limit %zu bytes)", st->spilled, st->spilled == 1 ? "" : "s", st->budget);
    } else {
        int used = chunk_sort(ch, p, 0, core_threads(op->ex));
        if (used > 1) {
            free(op->detail);
            op->detail = xasprintf("sorted on %d threads (ranges of rows sorted, then merged)", used);
        }
        chunk_free_keys(ch, nk);
    }
    return 0;
}

/* next() of a sort: the first call sorts, then a batch of sorted rows per call. */
int sort_next(Op *op, Batch **out)
{
    SortState *st = op->priv;
    if (!st) {
        st = op->priv = xcalloc(1, sizeof *st);
        buf_init(&st->row);
        st->budget = sort_budget(op->ex);
        st->ncols = op->p->schema->n;
        if (sort_input(op, st)) { st->done = 1; return -1; }
    }
    if (st->done) return 0;
    int ncols = op->p->schema->n, nk = op->p->nexprs;
    Batch *o = batch_new(ncols, BATCH_ROWS);
    if (st->merging) {
        Value *kv = xcalloc((size_t)nk + 1, sizeof *kv), *vv = xcalloc((size_t)ncols + 1, sizeof *vv);
        int rc = 1;
        while (o->n < BATCH_ROWS && (rc = merge_next(op, st, kv, vv)) == 1) {
            for (int k = 0; k < nk; k++) value_free(kv[k]);
            for (int c = 0; c < ncols; c++) o->cols[c][o->n] = vv[c];
            o->n++;
        }
        free(kv);
        free(vv);
        if (rc < 0) { batch_free(o); st->done = 1; return -1; }
    } else {
        Chunk *ch = &st->ch;
        while (o->n < BATCH_ROWS && ch->pos < ch->nrows) chunk_take(ch, o);
    }
    if (!o->n) { batch_free(o); st->done = 1; return 0; }
    *out = o;
    return 1;
}

/* close() of a sort: what it still holds, its temporary files too. */
void sort_close(Op *op)
{
    SortState *st = op->priv;
    if (!st) return;
    chunk_clear(&st->ch, op->p->nexprs);
    merge_end(st, op->p->nexprs);
    for (int i = 0; i < st->nruns; i++) run_free(st->runs[i]);
    free(st->runs);
    for (int i = 0; i < st->ntypes; i++) type_unref(st->types[i]);
    free(st->types);
    buf_free(&st->row);
    free(st);
    op->priv = NULL;
}
