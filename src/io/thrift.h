/* thrift.h: the Thrift compact protocol, as much of it as Parquet's metadata needs.
 *
 * Reading: a ThriftIn cursor over a byte range. Every read is bounds-checked; the first failure sets
 * `bad` (a static description) and later reads return zeros, so a caller decodes a whole struct and
 * checks `bad` once at the end (as SQLite's Parse.nErr). Unknown fields are skipped with
 * thrift_skip(), which also bounds nesting depth so that hostile input cannot exhaust the stack.
 *
 * Writing: appends to a Buf. Structs are written field by field with thrift_field(); the caller keeps
 * the last field id of the struct being written (a ThriftOut per nesting level).
 */
#ifndef FQL_THRIFT_H
#define FQL_THRIFT_H

#include <stdint.h>
#include "util.h"

enum {
    TT_STOP = 0, TT_TRUE = 1, TT_FALSE = 2, TT_BYTE = 3, TT_I16 = 4, TT_I32 = 5, TT_I64 = 6,
    TT_DOUBLE = 7, TT_BINARY = 8, TT_LIST = 9, TT_SET = 10, TT_MAP = 11, TT_STRUCT = 12
};

typedef struct ThriftIn {
    const uint8_t *p, *end;
    const char *bad;          /* first error, or NULL */
    int depth;                /* nesting of thrift_skip */
} ThriftIn;

/* Next field of the current struct: returns its type (TT_STOP at the end of the struct) and sets
 * *id; *last is the previous field id of this struct (start it at 0). */
int      thrift_field(ThriftIn *in, int *last, int *id);
int64_t  thrift_int(ThriftIn *in);                     /* i16/i32/i64 (zigzag varint) */
uint64_t thrift_varint(ThriftIn *in);
/* A binary/string field: *n is its length; the bytes are borrowed from the input. */
const uint8_t *thrift_binary(ThriftIn *in, size_t *n);
char    *thrift_string(ThriftIn *in);                  /* xstrndup'd copy; caller frees */
/* A list header: element type in *etype, returns the count (bounded by the bytes left). */
uint32_t thrift_list(ThriftIn *in, int *etype);
/* Reads a bool field's value: in the compact protocol a field's bool is its type. */
static inline int thrift_bool(int type) { return type == TT_TRUE; }
void     thrift_skip(ThriftIn *in, int type);

typedef struct ThriftOut { Buf *b; int last; } ThriftOut;
void thrift_put_field(ThriftOut *o, int id, int type);
void thrift_put_stop(ThriftOut *o);
void thrift_put_varint(Buf *b, uint64_t v);
void thrift_put_int(Buf *b, int64_t v);                /* zigzag varint */
void thrift_put_binary(Buf *b, const void *s, size_t n);
void thrift_put_list(Buf *b, int etype, uint32_t n);
/* Field shorthands: id and value. */
void thrift_i32(ThriftOut *o, int id, int64_t v);
void thrift_i64(ThriftOut *o, int id, int64_t v);
void thrift_bin(ThriftOut *o, int id, const void *s, size_t n);
void thrift_boolf(ThriftOut *o, int id, int v);

#endif
