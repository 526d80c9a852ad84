/* table.c: schemas, batches and materialized tables (see table.h for the ownership rules). */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include "table.h"

/* ---- Schema ---- */

Schema *schema_new(void)
{
    Schema *s = xcalloc(1, sizeof *s);
    return s;
}

/* Copies name, consumes type. The arrays grow by doubling (capacity is implied by n: the next
 * power of two), so that a schema needs no separate capacity field. */
void schema_add(Schema *s, const char *name, Type *type)
{
    int n = s->n;
    if ((n & (n - 1)) == 0) {          /* n is 0 or a power of two: grow */
        int cap = n ? n * 2 : 4;
        s->names = xrealloc(s->names, (size_t)cap * sizeof *s->names);
        s->types = xrealloc(s->types, (size_t)cap * sizeof *s->types);
    }
    s->names[n] = xstrdup(name);
    s->types[n] = type;
    s->n = n + 1;
}

int schema_find(const Schema *s, const char *name)
{
    for (int i = 0; i < s->n; i++)
        if (strcmp(s->names[i], name) == 0) return i;
    return -1;
}

Schema *schema_copy(const Schema *s)
{
    Schema *c = schema_new();
    for (int i = 0; i < s->n; i++) schema_add(c, s->names[i], type_ref(s->types[i]));
    return c;
}

void schema_free(Schema *s)
{
    if (!s) return;
    for (int i = 0; i < s->n; i++) {
        free(s->names[i]);
        type_unref(s->types[i]);
    }
    free(s->names);
    free(s->types);
    free(s);
}

/* ---- Batch ---- */

Batch *batch_new(int ncols, size_t cap)
{
    Batch *b = xcalloc(1, sizeof *b);
    if (cap == 0) cap = 16;
    b->ncols = ncols;
    b->cap = cap;
    b->cols = xcalloc(ncols > 0 ? (size_t)ncols : 1, sizeof *b->cols);
    for (int c = 0; c < ncols; c++) b->cols[c] = xmalloc(cap * sizeof(Value));
    return b;
}

static Value *nulls;
static pthread_once_t nulls_once = PTHREAD_ONCE_INIT;

static void nulls_init(void)
{
    void *p = mmap(NULL, BATCH_ROWS * sizeof(Value), PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    nulls = p == MAP_FAILED ? xcalloc(BATCH_ROWS, sizeof(Value)) : p;   /* anonymous pages read as zeros: nulls */
}

Value *batch_nulls(void)
{
    pthread_once(&nulls_once, nulls_init);
    return nulls;
}

void batch_own(Batch *b, int c)
{
    if (!(b->shared & batch_bit(c))) return;
    b->cols[c] = xcalloc(b->cap ? b->cap : 1, sizeof(Value));
    b->shared &= ~batch_bit(c);
}

void batch_free(Batch *b)
{
    if (!b) return;
    for (int c = 0; c < b->ncols; c++) {
        if (!(b->plain & batch_bit(c))) values_free(b->cols[c], b->n);
        if (!(b->shared & batch_bit(c))) free(b->cols[c]);
    }
    free(b->cols);
    free(b);
}

void batch_find_plain(Batch *b)
{
    for (int c = 0; c < b->ncols && c < 64; c++) {
        size_t r = 0;
        while (r < b->n && b->cols[c][r].kind != V_STRING && b->cols[c][r].kind < V_JSON) r++;
        if (r == b->n) b->plain |= batch_bit(c);
    }
}

static void batch_grow(Batch *b, size_t need)
{
    if (need <= b->cap) return;
    size_t cap = b->cap ? b->cap : 16;
    while (cap < need) cap *= 2;
    for (int c = 0; b->shared && c < b->ncols; c++) batch_own(b, c);
    for (int c = 0; c < b->ncols; c++) b->cols[c] = xrealloc(b->cols[c], cap * sizeof(Value));
    b->cap = cap;
}

void batch_push_row(Batch *b, Value *vals)
{
    batch_grow(b, b->n + 1);
    for (int c = 0; c < b->ncols; c++) {
        b->cols[c][b->n] = vals[c];
        if (vals[c].kind == V_STRING || vals[c].kind >= V_JSON) b->plain &= ~batch_bit(c);
    }
    b->n++;
}

void batch_copy_row(Batch *dst, const Batch *src, size_t r)
{
    batch_grow(dst, dst->n + 1);
    for (int c = 0; c < dst->ncols; c++) dst->cols[c][dst->n] = value_copy(src->cols[c][r]);
    dst->plain &= src->plain;   /* a column stays plain when the row's value came from a plain one */
    dst->n++;
}

/* ---- Table ---- */

Table *table_new(Schema *schema)
{
    Table *t = xcalloc(1, sizeof *t);
    t->schema = schema;
    return t;
}

void table_add_batch(Table *t, Batch *b)
{
    if (!b) return;
    if (b->n == 0) { batch_free(b); return; }
    if (t->nbatches == t->capbatches) {
        t->capbatches = t->capbatches ? t->capbatches * 2 : 8;
        t->batches = xrealloc(t->batches, (size_t)t->capbatches * sizeof *t->batches);
    }
    t->batches[t->nbatches++] = b;
    t->nrows += b->n;
}

void table_free(Table *t)
{
    if (!t) return;
    for (int i = 0; i < t->nbatches; i++) batch_free(t->batches[i]);
    free(t->batches);
    schema_free(t->schema);
    free(t);
}

Value table_get(const Table *t, size_t row, int col)
{
    for (int i = 0; i < t->nbatches; i++) {
        Batch *b = t->batches[i];
        if (row < b->n) return b->cols[col][row];
        row -= b->n;
    }
    return v_null();
}

/* Moves every value into one batch (no reference counting needed: values are moved, not copied). */
void table_flatten(Table *t)
{
    if (t->nbatches <= 1) return;
    int ncols = t->schema ? t->schema->n : t->batches[0]->ncols;
    Batch *all = batch_new(ncols, t->nrows);
    for (int i = 0; i < t->nbatches; i++) {
        Batch *b = t->batches[i];
        for (int c = 0; c < ncols; c++)
            memcpy(all->cols[c] + all->n, b->cols[c], b->n * sizeof(Value));
        all->n += b->n;
        b->n = 0;                      /* values moved: free only the arrays */
        batch_free(b);
    }
    t->batches[0] = all;
    t->nbatches = 1;
}
