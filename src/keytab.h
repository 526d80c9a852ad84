/* keytab.h: hash tables over tuples of Values for group by, distinct, count(distinct) and hash
 * joins, laid out so that a probe is one random read.
 *
 * A KeyTable is open addressing (linear probing) over 16-byte slots {h, id}. While every key is a
 * single int (the common case: ids, codes), a slot's h is the key itself, so a probe compares in
 * the slot and never reads the keys; otherwise h is the full hash and the keys (column-major:
 * cols[k][id]) are read only when the hashes are equal. The first key that is not an int turns
 * the table to the general layout once. Probes go a batch at a time: hashes first, then the slots,
 * prefetched a few rows ahead.
 *
 * Two ways to hold keys:
 *  - owned (kt_init): ids are dense (0, 1, ... in insertion order); the table copies each new key.
 *  - borrowed (kt_init_borrowed): the keys are cols[k][row] of columns the caller keeps (a join's
 *    build side) and a slot's id is a row the caller chooses (kt_claim); nothing is copied.
 * A PairSet is a set of (group id, int) pairs: count(distinct x) for int x in one read per probe.
 * Nothing here is global: a table per thread, merged, is the way to run these on threads.
 */
#ifndef FQL_KEYTAB_H
#define FQL_KEYTAB_H

#include <stdint.h>
#include <stddef.h>
#include "value.h"

typedef struct KtSlot { uint64_t h; int64_t id; } KtSlot;   /* id < 0: empty */

typedef struct KeyTable {
    int nk;                  /* values per key */
    int ints;                /* every key so far is one V_INT (or null): h is the key */
    int borrowed;            /* keys are the caller's columns; ids are the caller's rows */
    size_t n, cap;           /* keys held; slots (a power of two) */
    KtSlot *slots;
    int64_t null_id;         /* ints layout: the id of the null key, or -1 */
    Value **cols;            /* per key position: the keys by id (owned values unless borrowed) */
    size_t colcap;           /* owned: room per column */
    /* ints layout, keys that are small non-negative ints (group codes, dimension keys): direct[key]
     * is the key's id (-1: not known here), a probe with no hash and no slot. A cache: a key not
     * in it goes the hashed way. Owned tables fill it as keys are added; a borrowed one gets it
     * from kt_freeze, once built, and it is only read after that (threads may probe at once). */
    int64_t *direct;
    size_t ndirect;
    int direct_full;         /* kt_freeze: every key of the table is in the map */
} KeyTable;

void kt_init(KeyTable *kt, int nk);
/* Keys borrowed from cols[0..nk) (the array of column pointers is copied, the values are not). */
void kt_init_borrowed(KeyTable *kt, int nk, Value *const *cols);
void kt_free(KeyTable *kt);
/* The ids of rows [0, n) whose key is (cols[0][r], ..., cols[nk-1][r]) (borrowed), in ids[r].
 * A key not in the table gets -1, or, when add is set (owned tables only), is copied in and gets
 * the next id. With skipnull, a row with a null in its key gets -1 and is never added. */
void kt_ids(KeyTable *kt, Value *const *cols, size_t n, int add, int skipnull, int64_t *ids);
/* One key k[0..nk) (borrowed): its id, or -1; added when add is set (*added says whether now). */
int64_t kt_lookup(KeyTable *kt, const Value *k, int add, int *added);
/* Borrowed tables: the slot of the key of row r of the table's own columns. When the key is new
 * the slot is taken with id -1 and the caller must set slot->id (to a row with that key) before
 * the next call. */
KtSlot *kt_claim(KeyTable *kt, size_t r);
/* Borrowed tables, once every row is claimed and before probing: the direct map of the keys (when
 * they are ints in a small range). */
void kt_freeze(KeyTable *kt);
/* Leave the ints layout (a no-op in the general one). A table probed by several threads at once
 * (kt_ids without add) must be in the layout its probe keys need first: an ints table turns
 * general on the first probe key that is not an int or null. */
void kt_to_general(KeyTable *kt);
/* Owned tables: the key values of id (nk of them, at stride: cols[k][id]). */
static inline Value kt_key(const KeyTable *kt, int k, size_t id) { return kt->cols[k][id]; }

typedef struct PairSlot { int64_t g; int64_t v; } PairSlot;  /* g < 0: empty */
typedef struct PairSet { size_t n, cap; PairSlot *slots; } PairSet;
void pairset_init(PairSet *s);
void pairset_free(PairSet *s);
/* Add (g, v) with g >= 0: 1 if it was new, 0 if it was there. */
int  pairset_add(PairSet *s, int64_t g, int64_t v);

#endif
