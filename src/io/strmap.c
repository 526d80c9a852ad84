/* strmap.c: a string -> int64 hash map (open addressing, linear probing) for the readers' name
 * lookups: a header or an object with a million names must not be searched linearly. */
#include <stdlib.h>
#include <string.h>
#include "io_int.h"

/* FNV-1a, 64-bit. */
static uint64_t str_hash(const char *s)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 0x100000001b3ull;
    return h;
}

/* The slot holding key, or the empty slot where it would go (cap is a power of two, never full). */
static size_t slot_of(const StrMap *m, const char *key)
{
    size_t i = (size_t)str_hash(key) & (m->cap - 1);
    while (m->keys[i] && strcmp(m->keys[i], key)) i = (i + 1) & (m->cap - 1);
    return i;
}

/* Free the keys and the slots; m is empty (and reusable) afterwards. */
void strmap_free(StrMap *m)
{
    for (size_t i = 0; i < m->cap; i++) free(m->keys[i]);
    free(m->keys);
    free(m->vals);
    memset(m, 0, sizeof *m);
}

/* The value stored for key (its address, valid until the next put), or NULL. */
const int64_t *strmap_get(const StrMap *m, const char *key)
{
    if (!m->n) return NULL;
    size_t i = slot_of(m, key);
    return m->keys[i] ? &m->vals[i] : NULL;
}

/* Store val for key (a copy of key is kept), replacing any value it had. */
void strmap_put(StrMap *m, const char *key, int64_t val)
{
    if (2 * (m->n + 1) > m->cap) {   /* keep the load at most one half */
        StrMap g = { xcalloc(m->cap ? m->cap * 2 : 16, sizeof *g.keys), NULL, m->cap ? m->cap * 2 : 16, m->n };
        g.vals = xmalloc(g.cap * sizeof *g.vals);
        for (size_t i = 0; i < m->cap; i++) {
            if (!m->keys[i]) continue;
            size_t k = slot_of(&g, m->keys[i]);
            g.keys[k] = m->keys[i];
            g.vals[k] = m->vals[i];
        }
        free(m->keys);
        free(m->vals);
        *m = g;
    }
    size_t i = slot_of(m, key);
    if (!m->keys[i]) { m->keys[i] = xstrdup(key); m->n++; }
    m->vals[i] = val;
}
