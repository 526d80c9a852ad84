/* keytab.c: hash tables over tuples of Values (keytab.h says the layout and why). */
#include <stdlib.h>
#include <string.h>
#include "keytab.h"

enum { CHUNK = 256, AHEAD = 16 };   /* rows hashed at a time; how far ahead slots are prefetched */
/* The direct map covers keys [0, DIRECT_MAX), and at most 8 entries a key held plus 1,024: a
 * sparse or large key space stays hashed. */
enum { DIRECT_MAX = 1 << 22 };

static void direct_drop(KeyTable *kt)
{
    free(kt->direct);
    kt->direct = NULL;
    kt->ndirect = 0;
    kt->direct_full = 0;
}

/* Owned tables: key v (an int) now has id; remembered when v is small enough for the map. */
static void direct_note(KeyTable *kt, int64_t v, int64_t id)
{
    if (v < 0 || v >= DIRECT_MAX || (uint64_t)v >= 8 * (uint64_t)kt->n + 1024) return;
    if ((size_t)v >= kt->ndirect) {
        size_t cap = kt->ndirect ? kt->ndirect : 1024;
        while (cap <= (size_t)v) cap *= 2;
        kt->direct = xrealloc(kt->direct, cap * sizeof *kt->direct);
        for (size_t i = kt->ndirect; i < cap; i++) kt->direct[i] = -1;
        kt->ndirect = cap;
    }
    kt->direct[v] = id;
}

static uint64_t mix64(uint64_t x)
{
    x ^= x >> 33; x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33; x *= 0xc4ceb9fe1a85ec53ULL;
    x ^= x >> 33;
    return x;
}

/* The hash of a key in the general layout (the one the old tables used). */
static uint64_t keys_hash(const Value *k, int nk)
{
    uint64_t h = 1469598103934665603ULL;
    for (int i = 0; i < nk; i++) h = (h ^ value_hash(k[i])) * 1099511628211ULL + (uint64_t)i;
    return h ^ (h >> 29);
}

static KtSlot *slots_new(size_t cap)
{
    KtSlot *s = xmalloc(cap * sizeof *s);
    for (size_t i = 0; i < cap; i++) s[i].id = -1;
    return s;
}

void kt_init(KeyTable *kt, int nk)
{
    memset(kt, 0, sizeof *kt);
    kt->nk = nk;
    kt->ints = nk == 1;
    kt->null_id = -1;
    kt->cap = 64;
    kt->slots = slots_new(kt->cap);
    kt->cols = xcalloc((size_t)nk + 1, sizeof *kt->cols);
}

void kt_init_borrowed(KeyTable *kt, int nk, Value *const *cols)
{
    kt_init(kt, nk);
    kt->borrowed = 1;
    for (int k = 0; k < nk; k++) kt->cols[k] = cols[k];
}

void kt_free(KeyTable *kt)
{
    if (!kt->slots) return;
    for (int k = 0; k < kt->nk && !kt->borrowed; k++) {
        for (size_t i = 0; i < kt->n; i++) value_free(kt->cols[k][i]);
        free(kt->cols[k]);
    }
    free(kt->cols);
    free(kt->slots);
    free(kt->direct);
    memset(kt, 0, sizeof *kt);
}

void kt_freeze(KeyTable *kt)
{
    direct_drop(kt);
    if (!kt->ints || !kt->n) return;
    uint64_t max = 0;
    size_t in = 0;
    for (size_t i = 0; i < kt->cap; i++)
        if (kt->slots[i].id >= 0 && kt->slots[i].h < DIRECT_MAX) {
            in++;
            if (kt->slots[i].h > max) max = kt->slots[i].h;
        }
    if (!in || max >= 8 * (uint64_t)in + 1024) return;
    kt->ndirect = (size_t)max + 1;
    kt->direct = xmalloc(kt->ndirect * sizeof *kt->direct);
    for (size_t i = 0; i < kt->ndirect; i++) kt->direct[i] = -1;
    for (size_t i = 0; i < kt->cap; i++)
        if (kt->slots[i].id >= 0 && kt->slots[i].h < kt->ndirect) kt->direct[kt->slots[i].h] = kt->slots[i].id;
    kt->direct_full = in == kt->n;   /* every key is in the map: a key in its range that is not, is absent */
}

/* Where a slot's h puts it: the int itself is mixed first in the ints layout. */
static size_t home(const KeyTable *kt, uint64_t h) { return (size_t)(kt->ints ? mix64(h) : h) & (kt->cap - 1); }

static void rehash(KeyTable *kt, size_t cap)
{
    KtSlot *old = kt->slots;
    size_t oldcap = kt->cap;
    kt->slots = slots_new(cap);
    kt->cap = cap;
    for (size_t i = 0; i < oldcap; i++) {
        if (old[i].id < 0) continue;
        size_t j = home(kt, old[i].h);
        while (kt->slots[j].id >= 0) j = (j + 1) & (cap - 1);
        kt->slots[j] = old[i];
    }
    free(old);
}

/* Room for one more key: at most three quarters of the slots are used. */
static void reserve_one(KeyTable *kt)
{
    if ((kt->n + 1) * 4 > kt->cap * 3) rehash(kt, kt->cap * 2);
}

/* The key of slot id, gathered into k. */
static void key_of(const KeyTable *kt, int64_t id, Value *k)
{
    for (int i = 0; i < kt->nk; i++) k[i] = kt->cols[i][id];
}

/* Leave the ints layout: every slot gets its key's full hash (and the null key a slot). */
static void to_general(KeyTable *kt)
{
    if (!kt->ints) return;
    kt->ints = 0;
    direct_drop(kt);
    Value k[1];
    for (size_t i = 0; i < kt->cap; i++)
        if (kt->slots[i].id >= 0) {
            key_of(kt, kt->slots[i].id, k);
            kt->slots[i].h = keys_hash(k, 1);
        }
    int64_t nid = kt->null_id;
    kt->null_id = -1;
    rehash(kt, kt->cap);
    if (nid >= 0) {
        Value nv = v_null();
        uint64_t h = keys_hash(&nv, 1);
        size_t j = h & (kt->cap - 1);
        while (kt->slots[j].id >= 0) j = (j + 1) & (kt->cap - 1);
        kt->slots[j].h = h;
        kt->slots[j].id = nid;
    }
}

void kt_to_general(KeyTable *kt) { to_general(kt); }

/* Copy key k in as the next id (owned tables). */
static int64_t append_key(KeyTable *kt, const Value *k)
{
    if (kt->n == kt->colcap) {
        kt->colcap = kt->colcap ? kt->colcap * 2 : 64;
        for (int i = 0; i < kt->nk; i++) kt->cols[i] = xrealloc(kt->cols[i], kt->colcap * sizeof **kt->cols);
    }
    for (int i = 0; i < kt->nk; i++) kt->cols[i][kt->n] = value_copy(k[i]);
    return (int64_t)kt->n++;
}

static int keys_equal(const KeyTable *kt, int64_t id, const Value *k)
{
    for (int i = 0; i < kt->nk; i++) {
        Value a = kt->cols[i][id];
        if (a.kind == k[i].kind && (a.kind == V_STRING || a.kind == V_JSON) && a.u.s == k[i].u.s) continue;   /* one object */
        if (!value_equal(a, k[i])) return 0;
    }
    return 1;
}

/* The slot holding key k (hash h in the current layout), or the empty slot where it would go. */
static KtSlot *probe(KeyTable *kt, const Value *k, uint64_t h)
{
    size_t mask = kt->cap - 1, j = home(kt, h);
    KtSlot *s = kt->slots;
    if (kt->ints) {
        for (;; j = (j + 1) & mask)
            if (s[j].id < 0 || s[j].h == h) return &s[j];
    }
    for (;; j = (j + 1) & mask)
        if (s[j].id < 0 || (s[j].h == h && keys_equal(kt, s[j].id, k))) return &s[j];
}

/* Is every key of rows [0, n) one int or null (the ints layout can take them)? */
static int all_ints(const KeyTable *kt, Value *const *cols, size_t n)
{
    if (kt->nk != 1) return 0;
    for (size_t r = 0; r < n; r++)
        if (cols[0][r].kind != V_INT && cols[0][r].kind != V_NULL) return 0;
    return 1;
}

/* The entry of string object p in kt_ids's 256 remembered objects (a multiplicative hash of its
 * address: malloc'd objects are close together, and their low bits alike). */
static size_t seen_at(const Str *p) { return (size_t)(((uint64_t)(uintptr_t)p * 0x9E3779B97F4A7C15ULL) >> 56); }

void kt_ids(KeyTable *kt, Value *const *cols, size_t n, int add, int skipnull, int64_t *ids)
{
    int nk = kt->nk;
    if (kt->ints && kt->direct_full && !add) {   /* a frozen table of small int keys (a join's dimension): the map alone */
        const Value *c = cols[0];
        size_t r = 0;
        for (; r < n; r++) {
            if (c[r].kind == V_INT) ids[r] = (uint64_t)c[r].u.i < kt->ndirect ? kt->direct[c[r].u.i] : -1;
            else if (c[r].kind == V_NULL) ids[r] = skipnull ? -1 : kt->null_id;
            else break;   /* another kind of key: the table changes layout below */
        }
        if (r == n) return;
    }
    if (kt->ints && !all_ints(kt, cols, n)) to_general(kt);
    uint64_t hs[CHUNK];
    uint8_t hit[CHUNK];
    /* One string key: the ids of the last string objects seen, by address. Rows that share one
     * object (a join's output shares its build side's strings; a column of few distinct values
     * read once) take its id without a probe; the objects are the caller's, alive for the call. */
    enum { SEEN = 256 };   /* a power of two: seen_at's shift */
    struct { const Str *s; int64_t id; } seen[SEEN];
    int by_ptr = nk == 1 && !kt->ints;
    if (by_ptr) memset(seen, 0, sizeof seen);
    Value kbuf[16], *k = nk <= 16 ? kbuf : xmalloc((size_t)nk * sizeof *k);
    for (size_t c0 = 0; c0 < n; c0 += CHUNK) {
        size_t cn = n - c0 < CHUNK ? n - c0 : CHUNK;
        /* hashes first (no memory but the rows'), so that the slots can be fetched ahead */
        for (size_t i = 0; i < cn; i++) {
            size_t r = c0 + i;
            hit[i] = 0;
            if (kt->ints) {
                const Value *v = &cols[0][r];
                if (kt->direct && v->kind == V_INT) {
                    int in = (uint64_t)v->u.i < kt->ndirect;
                    if (in && kt->direct[v->u.i] >= 0) { ids[r] = kt->direct[v->u.i]; hit[i] = 1; continue; }
                    if (kt->direct_full && !add) { ids[r] = -1; hit[i] = 1; continue; }   /* every key is in the map */
                }
                hs[i] = (uint64_t)v->u.i;
                continue;
            }
            if (by_ptr && cols[0][r].kind == V_STRING) {
                const Str *p = cols[0][r].u.s;
                size_t c = seen_at(p);
                if (seen[c].s == p) { ids[r] = seen[c].id; hit[i] = 1; continue; }
            }
            for (int q = 0; q < nk; q++) k[q] = cols[q][r];
            hs[i] = keys_hash(k, nk);
        }
        for (size_t i = 0; i < cn; i++) {
            size_t r = c0 + i;
            if (hit[i]) continue;
            if (i + AHEAD < cn && !hit[i + AHEAD]) __builtin_prefetch(&kt->slots[home(kt, hs[i + AHEAD])]);
            int hasnull = 0;
            for (int q = 0; q < nk; q++) {
                k[q] = cols[q][r];
                if (k[q].kind == V_NULL) hasnull = 1;
            }
            if (hasnull && skipnull) { ids[r] = -1; continue; }
            if (kt->ints && hasnull) {
                if (kt->null_id < 0 && add && !kt->borrowed) kt->null_id = append_key(kt, k);
                ids[r] = kt->null_id;
                continue;
            }
            KtSlot *s = probe(kt, k, hs[i]);
            if (s->id >= 0 || !add || kt->borrowed) ids[r] = s->id;
            else {
                if ((kt->n + 1) * 4 > kt->cap * 3) {
                    reserve_one(kt);
                    s = probe(kt, k, hs[i]);
                }
                s->h = hs[i];
                s->id = append_key(kt, k);
                ids[r] = s->id;
            }
            /* new, or found by its hash but not in the map yet (added by kt_lookup) */
            if (add && !kt->borrowed && kt->ints && ids[r] >= 0 && k[0].kind == V_INT) direct_note(kt, k[0].u.i, ids[r]);
            if (by_ptr && k[0].kind == V_STRING && ids[r] >= 0) {
                size_t c = seen_at(k[0].u.s);
                seen[c].s = k[0].u.s;
                seen[c].id = ids[r];
            }
        }
    }
    if (k != kbuf) free(k);
}

int64_t kt_lookup(KeyTable *kt, const Value *k, int add, int *added)
{
    Value *cbuf[16] = { 0 }, **cols = kt->nk <= 16 ? cbuf : xmalloc((size_t)kt->nk * sizeof *cols);
    for (int q = 0; q < kt->nk; q++) cols[q] = (Value *)&k[q];
    size_t before = kt->n;
    int64_t id;
    kt_ids(kt, cols, 1, add, 0, &id);
    if (cols != cbuf) free(cols);
    if (added) *added = kt->n > before;
    return id;
}

KtSlot *kt_claim(KeyTable *kt, size_t r)
{
    direct_drop(kt);   /* kt_freeze makes it again once the rows are claimed */
    int nk = kt->nk;
    Value kbuf[16], *k = nk <= 16 ? kbuf : xmalloc((size_t)nk * sizeof *k);
    for (int q = 0; q < nk; q++) k[q] = kt->cols[q][r];
    if (kt->ints && !(nk == 1 && k[0].kind == V_INT)) to_general(kt);
    reserve_one(kt);
    uint64_t h = kt->ints ? (uint64_t)k[0].u.i : keys_hash(k, nk);
    KtSlot *s = probe(kt, k, h);
    if (s->id < 0) {
        s->h = h;
        kt->n++;
    }
    if (k != kbuf) free(k);
    return s;
}

/* ---- PairSet ---- */

void pairset_init(PairSet *s)
{
    s->n = 0;
    s->cap = 64;
    s->slots = xmalloc(s->cap * sizeof *s->slots);
    for (size_t i = 0; i < s->cap; i++) s->slots[i].g = -1;
}

void pairset_free(PairSet *s)
{
    free(s->slots);
    memset(s, 0, sizeof *s);
}

static size_t pair_home(int64_t g, int64_t v, size_t mask)
{
    return (size_t)mix64((uint64_t)v + (uint64_t)g * 0x9E3779B97F4A7C15ULL) & mask;
}

int pairset_add(PairSet *s, int64_t g, int64_t v)
{
    if ((s->n + 1) * 4 > s->cap * 3) {
        size_t cap = s->cap * 2;
        PairSlot *ns = xmalloc(cap * sizeof *ns);
        for (size_t i = 0; i < cap; i++) ns[i].g = -1;
        for (size_t i = 0; i < s->cap; i++) {
            if (s->slots[i].g < 0) continue;
            size_t j = pair_home(s->slots[i].g, s->slots[i].v, cap - 1);
            while (ns[j].g >= 0) j = (j + 1) & (cap - 1);
            ns[j] = s->slots[i];
        }
        free(s->slots);
        s->slots = ns;
        s->cap = cap;
    }
    size_t mask = s->cap - 1;
    for (size_t j = pair_home(g, v, mask);; j = (j + 1) & mask) {
        PairSlot *p = &s->slots[j];
        if (p->g < 0) { p->g = g; p->v = v; s->n++; return 1; }
        if (p->g == g && p->v == v) return 0;
    }
}

