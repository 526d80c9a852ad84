/* thrift.c: the Thrift compact protocol (see thrift.h). */
#include <string.h>
#include "thrift.h"

#define MAX_DEPTH 64

static void fail(ThriftIn *in, const char *why)
{
    if (!in->bad) in->bad = why;
    in->p = in->end;
}

uint64_t thrift_varint(ThriftIn *in)
{
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        if (in->p >= in->end) { fail(in, "metadata ends in the middle of a number"); return 0; }
        uint8_t c = *in->p++;
        v |= (uint64_t)(c & 0x7f) << shift;
        if (!(c & 0x80)) return v;
    }
    fail(in, "metadata holds an overlong number");
    return 0;
}

int64_t thrift_int(ThriftIn *in)
{
    uint64_t u = thrift_varint(in);
    return (int64_t)(u >> 1) ^ -(int64_t)(u & 1);
}

int thrift_field(ThriftIn *in, int *last, int *id)
{
    if (in->p >= in->end) { fail(in, "metadata is truncated"); return TT_STOP; }
    uint8_t c = *in->p++;
    int type = c & 0x0f;
    if (type == TT_STOP) return TT_STOP;
    int delta = c >> 4;
    int64_t v = delta ? (int64_t)*last + delta : thrift_int(in);
    if (v < -32768 || v > 32767) { fail(in, "metadata holds a field id out of range"); return TT_STOP; }
    *id = *last = (int)v;
    if (type > TT_STRUCT) { fail(in, "metadata holds an unknown field type"); return TT_STOP; }
    return type;
}

const uint8_t *thrift_binary(ThriftIn *in, size_t *n)
{
    uint64_t len = thrift_varint(in);
    if (len > (uint64_t)(in->end - in->p)) { fail(in, "metadata string runs past its end"); *n = 0; return NULL; }
    const uint8_t *s = in->p;
    in->p += len;
    *n = (size_t)len;
    return s;
}

char *thrift_string(ThriftIn *in)
{
    size_t n;
    const uint8_t *s = thrift_binary(in, &n);
    return xstrndup(s ? (const char *)s : "", n);
}

uint32_t thrift_list(ThriftIn *in, int *etype)
{
    if (in->p >= in->end) { fail(in, "metadata is truncated"); *etype = TT_STOP; return 0; }
    uint8_t c = *in->p++;
    *etype = c & 0x0f;
    uint64_t n = c >> 4;
    if (n == 15) n = thrift_varint(in);
    /* every element takes at least one byte (bools and empty structs too) */
    if (n > (uint64_t)(in->end - in->p)) { fail(in, "metadata list is longer than the metadata"); return 0; }
    return (uint32_t)n;
}

void thrift_skip(ThriftIn *in, int type)
{
    if (++in->depth > MAX_DEPTH) { fail(in, "metadata is nested too deeply"); in->depth--; return; }
    switch (type) {
    case TT_TRUE: case TT_FALSE: break;               /* a field's bool lives in its type */
    case TT_BYTE:
        if (in->p >= in->end) fail(in, "metadata is truncated");
        else in->p++;
        break;
    case TT_I16: case TT_I32: case TT_I64: thrift_varint(in); break;
    case TT_DOUBLE:
        if (in->end - in->p < 8) fail(in, "metadata is truncated");
        else in->p += 8;
        break;
    case TT_BINARY: { size_t n; thrift_binary(in, &n); break; }
    case TT_LIST: case TT_SET: {
        int et;
        uint32_t n = thrift_list(in, &et);
        for (uint32_t i = 0; i < n && !in->bad; i++)
            thrift_skip(in, et == TT_TRUE || et == TT_FALSE ? TT_BYTE : et);
        break;
    }
    case TT_MAP: {
        uint64_t n = thrift_varint(in);
        if (n == 0) break;
        if (n > (uint64_t)(in->end - in->p)) { fail(in, "metadata map is longer than the metadata"); break; }
        uint8_t kv = in->p < in->end ? *in->p++ : 0;
        int kt = kv >> 4, vt = kv & 15;
        for (uint64_t i = 0; i < n && !in->bad; i++) {
            thrift_skip(in, kt == TT_TRUE || kt == TT_FALSE ? TT_BYTE : kt);
            thrift_skip(in, vt == TT_TRUE || vt == TT_FALSE ? TT_BYTE : vt);
        }
        break;
    }
    case TT_STRUCT: {
        int last = 0, id, t;
        while (!in->bad && (t = thrift_field(in, &last, &id)) != TT_STOP) thrift_skip(in, t);
        break;
    }
    default: fail(in, "metadata holds an unknown field type");
    }
    in->depth--;
}

/* ---- writing ---- */

void thrift_put_varint(Buf *b, uint64_t v)
{
    char tmp[10];
    int n = 0;
    do {
        tmp[n++] = (char)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
        v >>= 7;
    } while (v);
    buf_append(b, tmp, (size_t)n);
}

void thrift_put_int(Buf *b, int64_t v)
{
    thrift_put_varint(b, ((uint64_t)v << 1) ^ (uint64_t)(v >> 63));
}

void thrift_put_field(ThriftOut *o, int id, int type)
{
    int delta = id - o->last;
    if (delta > 0 && delta <= 15) buf_putc(o->b, (char)(delta << 4 | type));
    else {
        buf_putc(o->b, (char)type);
        thrift_put_int(o->b, id);
    }
    o->last = id;
}

void thrift_put_stop(ThriftOut *o) { buf_putc(o->b, 0); }

void thrift_put_binary(Buf *b, const void *s, size_t n)
{
    thrift_put_varint(b, n);
    buf_append(b, s, n);
}

void thrift_put_list(Buf *b, int etype, uint32_t n)
{
    if (n < 15) buf_putc(b, (char)(n << 4 | (uint32_t)etype));
    else {
        buf_putc(b, (char)(0xf0 | etype));
        thrift_put_varint(b, n);
    }
}

void thrift_i32(ThriftOut *o, int id, int64_t v) { thrift_put_field(o, id, TT_I32); thrift_put_int(o->b, v); }
void thrift_i64(ThriftOut *o, int id, int64_t v) { thrift_put_field(o, id, TT_I64); thrift_put_int(o->b, v); }
void thrift_bin(ThriftOut *o, int id, const void *s, size_t n) { thrift_put_field(o, id, TT_BINARY); thrift_put_binary(o->b, s, n); }
void thrift_boolf(ThriftOut *o, int id, int v) { thrift_put_field(o, id, v ? TT_TRUE : TT_FALSE); }
