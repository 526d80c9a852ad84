/* table.h: schemas, batches and materialized tables (the columnar data model).
 *
 * A Batch holds up to BATCH_ROWS rows as one array of Values per column (cols[c][r]); operators
 * pass batches to each other, so a stage that streams holds one batch at a time whatever the size of
 * its input. A Batch owns its Values. A Schema owns its names and type references.
 */
#ifndef FQL_TABLE_H
#define FQL_TABLE_H

#include "value.h"

#define BATCH_ROWS 2048

typedef struct Schema { int n; char **names; Type **types; } Schema;

Schema *schema_new(void);
void    schema_add(Schema *s, const char *name, Type *type);    /* copies name, consumes type */
int     schema_find(const Schema *s, const char *name);          /* -1 if absent */
Schema *schema_copy(const Schema *s);
void    schema_free(Schema *s);

/* plain: bit c set (c < 64) says column c holds no value on the heap (only nulls, bools, numbers,
 * dates, timestamps), so batch_free need not read it. batch_new leaves it 0; a producer that knows
 * sets it. Whoever writes a heap value into column c of a batch clears bit c (batch_push_row and
 * batch_copy_row do). */
/* shared: bit c set says cols[c] is batch_nulls(), read-only nulls the batch does not own (a
 * reader's columns that nothing reads); batch_free leaves it, and whoever would write into column
 * c calls batch_own first (batch_grow does). */
typedef struct Batch { int ncols; size_t n, cap; Value **cols; uint64_t plain, shared; } Batch;
static inline uint64_t batch_bit(int c) { return c >= 0 && c < 64 ? 1ULL << c : 0; }
/* BATCH_ROWS nulls in memory that cannot be written (a write faults): columns of readers' batches
 * that no operator reads share it instead of each being filled with nulls. */
Value *batch_nulls(void);
/* Make column c of b the batch's own (nulls, writable) if it was shared. */
void   batch_own(Batch *b, int c);

Batch *batch_new(int ncols, size_t cap);
void   batch_free(Batch *b);                    /* frees every value; NULL-safe */
/* Set the plain bit of every column of b that holds no heap value (reads them all: for a batch
 * read many times, such as a join's build side). */
void   batch_find_plain(Batch *b);
/* Append one row: consumes vals[0..ncols) (an exception to value.h's rule). Grows capacity as needed. */
void   batch_push_row(Batch *b, Value *vals);
/* Copy row r of src (by reference counting) onto the end of dst (same ncols). */
void   batch_copy_row(Batch *dst, const Batch *src, size_t r);

/* Table: a materialized result (a list of batches sharing one schema). Owns all of it. */
typedef struct Table { Schema *schema; Batch **batches; int nbatches, capbatches; size_t nrows; } Table;
Table *table_new(Schema *schema);               /* consumes schema */
void   table_add_batch(Table *t, Batch *b);     /* consumes b (empty batches are freed) */
void   table_free(Table *t);
/* Value at global row r (borrowed); r < t->nrows. Linear in nbatches: for random access, use
 * table_flatten() first. */
Value  table_get(const Table *t, size_t row, int col);
/* Merge all batches into one (so rows can be indexed directly). */
void   table_flatten(Table *t);

#endif
