/* parquet_write.c: the Parquet writer.
 *
 * Rows are shredded as they arrive into one column buffer per schema leaf (repetition level,
 * definition level, value); every row_group_size rows the buffers become a row group: per leaf one
 * column chunk of a dictionary page (strings with few distinct values) and one data page (v1: RLE
 * levels, then PLAIN or RLE_DICTIONARY values), compressed as asked, with min/max/null-count
 * statistics. close() writes the footer (Thrift compact FileMetaData). Memory is bounded by a row
 * group.
 *
 * The schema follows what DuckDB, Polars and pyarrow write, so that they read the same types back:
 * every column optional; int INT64, float DOUBLE, bool BOOLEAN, string/enum BYTE_ARRAY (STRING),
 * json BYTE_ARRAY (JSON), date INT32 (DATE), timestamp INT64 (TIMESTAMP micros, not adjusted to
 * UTC: read back as a plain timestamp), lists and vectors the 3-level LIST group
 * (`<name> { repeated group list { optional element } }`), structs a group.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <snappy-c.h>
#include <zlib.h>
#include <zstd.h>
#include "io_int.h"
#include "parquet.h"
#include "thrift.h"

typedef enum WKind { W_LEAF, W_STRUCT, W_LIST } WKind;

typedef struct WNode {
    const char *name;            /* borrowed from the schema or type */
    WKind kind;
    int def, rep;                /* levels when present */
    int leaf0, nleaves;
    int nkids;
    struct WNode *kids;          /* W_STRUCT: fields; W_LIST: kids[0] the repeated group, whose kids[0] is the element */
    TypeKind tk;                 /* W_LEAF: the FQL type written */
    int phys;
} WNode;

typedef struct WLeaf {
    WNode *node;
    char *path;                  /* dotted, for messages */
    uint8_t *def, *rep;
    Value *vals;                 /* present values only */
    size_t n, nvals, cap, capv;
} WLeaf;

struct PqWriter {
    FILE *f;
    char *path;
    int64_t off;                 /* bytes written */
    int codec;
    size_t group_rows, rows;     /* rows per group; rows buffered */
    int64_t total_rows;
    WNode root;
    int nleaves;
    WLeaf *leaves;
    Buf groups;                  /* serialized RowGroup structs */
    int ngroups;
};

/* ---- RLE/bit-packed hybrid ---- */

static size_t run_at(const uint32_t *v, size_t n, size_t i)
{
    size_t j = i + 1;
    while (j < n && v[j] == v[i]) j++;
    return j - i;
}

void pq_hybrid_encode(Buf *b, const uint32_t *v, size_t n, int width)
{
    size_t i = 0, vbytes = (size_t)(width + 7) / 8;
    while (i < n) {
        size_t r = run_at(v, n, i);
        if (r >= 8) {
            thrift_put_varint(b, (uint64_t)r << 1);
            for (size_t k = 0; k < vbytes; k++) buf_putc(b, (char)(v[i] >> (8 * k)));
            i += r;
            continue;
        }
        /* groups of 8 bit-packed values, until a long run starts (the last group is zero-padded) */
        size_t j = i, groups = 0;
        do { j += 8; groups++; } while (j < n && groups < 63 && run_at(v, n, j) < 8);
        thrift_put_varint(b, (uint64_t)groups << 1 | 1);
        uint64_t acc = 0;
        int bits = 0;
        for (size_t k = i; k < j; k++) {
            acc |= (uint64_t)(k < n ? v[k] : 0) << bits;
            bits += width;
            while (bits >= 8) { buf_putc(b, (char)acc); acc >>= 8; bits -= 8; }
        }
        if (bits) buf_putc(b, (char)acc);
        i = j;
    }
}

/* ---- schema ---- */

static void wnode_free(WNode *n)
{
    for (int i = 0; i < n->nkids; i++) wnode_free(&n->kids[i]);
    free(n->kids);
}

static int leaf_phys(TypeKind k)
{
    switch (k) {
    case TY_BOOL: return PQ_BOOLEAN;
    case TY_INT: case TY_TIMESTAMP: return PQ_INT64;
    case TY_FLOAT: return PQ_DOUBLE;
    case TY_DATE: return PQ_INT32;
    default: return PQ_BYTE_ARRAY;
    }
}

/* Build the node for a column or field of type t; def/rep are the parent's levels. */
static void shape(PqWriter *w, WNode *n, const char *name, const Type *t, int def, int rep)
{
    n->name = name;
    n->def = def + 1;
    n->rep = rep;
    n->leaf0 = w->nleaves;
    if (t->kind == TY_STRUCT) {
        n->kind = W_STRUCT;
        n->nkids = t->nfields;
        n->kids = xcalloc((size_t)t->nfields + 1, sizeof *n->kids);
        for (int i = 0; i < t->nfields; i++) shape(w, &n->kids[i], t->fields[i].name, t->fields[i].type, n->def, rep);
    } else if (t->kind == TY_LIST || t->kind == TY_VECTOR) {
        n->kind = W_LIST;
        n->nkids = 1;
        n->kids = xcalloc(1, sizeof *n->kids);
        WNode *r = &n->kids[0];
        r->name = "list";
        r->kind = W_STRUCT;
        r->def = n->def + 1;
        r->rep = rep + 1;
        r->leaf0 = w->nleaves;
        r->nkids = 1;
        r->kids = xcalloc(1, sizeof *r->kids);
        shape(w, &r->kids[0], "element", t->kind == TY_VECTOR ? type_float() : t->elem, r->def, r->rep);
        r->nleaves = w->nleaves - r->leaf0;
    } else {
        n->kind = W_LEAF;
        n->tk = t->kind == TY_ENUM || t->kind == TY_NULL ? TY_STRING : t->kind;
        n->phys = leaf_phys(n->tk);
        w->nleaves++;
    }
    n->nleaves = w->nleaves - n->leaf0;
}

static void collect_leaves(PqWriter *w, WNode *n, const char *prefix)
{
    char *path = prefix ? xasprintf("%s.%s", prefix, n->name) : xstrdup(n->name);
    if (n->kind == W_LEAF) {
        w->leaves[n->leaf0].node = n;
        w->leaves[n->leaf0].path = path;
        return;
    }
    for (int i = 0; i < n->nkids; i++) collect_leaves(w, &n->kids[i], path);
    free(path);
}

/* One SchemaElement; converted/logical < 0 when absent. */
static void put_element(Buf *b, const WNode *n, int repetition)
{
    ThriftOut o = { b, 0 };
    if (n->kind == W_LEAF) thrift_i32(&o, 1, n->phys);
    thrift_i32(&o, 3, repetition);
    thrift_bin(&o, 4, n->name, strlen(n->name));
    if (n->kind != W_LEAF) thrift_i32(&o, 5, n->nkids);
    int converted = -1, logical = 0;
    if (n->kind == W_LIST) { converted = CT_LIST; logical = LT_LIST; }
    else if (n->kind == W_LEAF)
        switch (n->tk) {
        case TY_DATE: converted = CT_DATE; logical = LT_DATE; break;
        case TY_TIMESTAMP: logical = LT_TIMESTAMP; break;
        case TY_JSON: converted = CT_JSON; logical = LT_JSON; break;
        case TY_BOOL: case TY_INT: case TY_FLOAT: break;
        default: converted = CT_UTF8; logical = LT_STRING; break;
        }
    if (converted >= 0) thrift_i32(&o, 6, converted);
    if (logical) {
        thrift_put_field(&o, 10, TT_STRUCT);
        ThriftOut u = { b, 0 };
        thrift_put_field(&u, logical, TT_STRUCT);
        if (logical == LT_TIMESTAMP) {
            ThriftOut ts = { b, 0 };
            thrift_boolf(&ts, 1, 0);                       /* isAdjustedToUTC */
            thrift_put_field(&ts, 2, TT_STRUCT);
            ThriftOut unit = { b, 0 };
            thrift_put_field(&unit, TU_MICROS, TT_STRUCT);
            buf_putc(b, 0);                                /* MicroSeconds {} */
            thrift_put_stop(&unit);
            thrift_put_stop(&ts);
        } else buf_putc(b, 0);                             /* an empty annotation struct */
        thrift_put_stop(&u);
    }
    thrift_put_stop(&o);
}

static int count_elements(const WNode *n)
{
    int c = 1;
    for (int i = 0; i < n->nkids; i++) c += count_elements(&n->kids[i]);
    return c;
}

static void put_schema(Buf *b, const WNode *n, int repetition)
{
    put_element(b, n, repetition);
    for (int i = 0; i < n->nkids; i++) put_schema(b, &n->kids[i], n->kind == W_LIST ? PQ_REPEATED : PQ_OPTIONAL);
}

/* ---- shredding ---- */

static void leaf_push(WLeaf *lf, int rep, int def, Value v, int present)
{
    if (lf->n == lf->cap) {
        lf->cap = lf->cap ? lf->cap * 2 : 1024;
        lf->def = xrealloc(lf->def, lf->cap);
        lf->rep = xrealloc(lf->rep, lf->cap);
    }
    lf->rep[lf->n] = (uint8_t)rep;
    lf->def[lf->n++] = (uint8_t)def;
    if (!present) return;
    if (lf->nvals == lf->capv) {
        lf->capv = lf->capv ? lf->capv * 2 : 1024;
        lf->vals = xrealloc(lf->vals, lf->capv * sizeof *lf->vals);
    }
    lf->vals[lf->nvals++] = v;
}

static void push_null(PqWriter *w, const WNode *n, int rep, int def)
{
    for (int i = 0; i < n->nleaves; i++) leaf_push(&w->leaves[n->leaf0 + i], rep, def, v_null(), 0);
}

/* A present leaf value converted to what the column stores (a new reference), or null when the
 * value does not fit (it is written as null). */
static Value leaf_value(const WNode *n, Value v)
{
    switch (n->tk) {
    case TY_BOOL: return v.kind == V_BOOL ? v : v_null();
    case TY_INT: return v.kind == V_INT ? v : v_null();
    case TY_FLOAT: return v.kind == V_FLOAT ? v : v.kind == V_INT ? v_float((double)v.u.i) : v_null();
    case TY_DATE: return v.kind == V_DATE ? v : v_null();
    case TY_TIMESTAMP: return v.kind == V_TIMESTAMP ? v : v_null();
    case TY_JSON: case TY_ANY: {
        if (v.kind == V_JSON) return value_copy(v);
        Buf b;
        buf_init(&b);
        value_to_json(&b, v);
        Value s = v_string(b.data ? b.data : "", b.len);
        buf_free(&b);
        return s;
    }
    default: {
        if (v.kind == V_STRING) return value_copy(v);
        Buf b;
        buf_init(&b);
        value_to_text(&b, v, "");
        Value s = v_string(b.data ? b.data : "", b.len);
        buf_free(&b);
        return s;
    }
    }
}

static void shred(PqWriter *w, const WNode *n, Value v, int rep)
{
    if (v.kind == V_NULL) { push_null(w, n, rep, n->def - 1); return; }
    switch (n->kind) {
    case W_LEAF: {
        Value x = leaf_value(n, v);
        if (x.kind == V_NULL) push_null(w, n, rep, n->def - 1);
        else leaf_push(&w->leaves[n->leaf0], rep, n->def, x, 1);
        return;
    }
    case W_STRUCT:
        if (v.kind != V_STRUCT || (int)v.u.st->n != n->nkids) { push_null(w, n, rep, n->def - 1); return; }
        for (int i = 0; i < n->nkids; i++) shred(w, &n->kids[i], v.u.st->fields[i], rep);
        return;
    case W_LIST: {
        if (v.kind != V_LIST) { push_null(w, n, rep, n->def - 1); return; }
        const WNode *r = &n->kids[0];
        if (v.u.l->n == 0) { push_null(w, n, rep, n->def); return; }
        for (uint32_t i = 0; i < v.u.l->n; i++) shred(w, &r->kids[0], v.u.l->items[i], i ? r->rep : rep);
        return;
    }
    }
}

/* ---- encoding a column chunk ---- */

static void put_u32(Buf *b, uint32_t v)
{
    char c[4] = { (char)v, (char)(v >> 8), (char)(v >> 16), (char)(v >> 24) };
    buf_append(b, c, 4);
}

static void put_u64(Buf *b, uint64_t v)
{
    put_u32(b, (uint32_t)v);
    put_u32(b, (uint32_t)(v >> 32));
}

/* PLAIN encoding of one value (BOOLEAN is bit-packed by the caller). */
static void put_plain(Buf *b, int phys, Value v)
{
    switch (phys) {
    case PQ_INT32: put_u32(b, (uint32_t)v.u.i); break;
    case PQ_INT64: put_u64(b, (uint64_t)v.u.i); break;
    case PQ_DOUBLE: { uint64_t u; memcpy(&u, &v.u.f, 8); put_u64(b, u); break; }
    default: put_u32(b, (uint32_t)v_strlen(v)); buf_append(b, v_str(v), v_strlen(v)); break;
    }
}

static void put_levels(Buf *b, const uint8_t *lv, size_t n, int max)
{
    uint32_t *v = xmalloc((n + 1) * sizeof *v);
    for (size_t i = 0; i < n; i++) v[i] = lv[i];
    size_t at = b->len;
    put_u32(b, 0);
    pq_hybrid_encode(b, v, n, pq_bit_width((uint64_t)max));
    uint32_t len = (uint32_t)(b->len - at - 4);
    memcpy(b->data + at, (char[4]){ (char)len, (char)(len >> 8), (char)(len >> 16), (char)(len >> 24) }, 4);
    free(v);
}

/* Compress src into out (replacing its content). Returns 0, or -1 when the codec fails. */
static int compress_page(int codec, const Buf *src, Buf *out)
{
    buf_clear(out);
    const char *in = src->data ? src->data : "";
    switch (codec) {
    case PQ_SNAPPY: {
        size_t n = snappy_max_compressed_length(src->len);
        buf_reserve(out, n);
        if (snappy_compress(in, src->len, out->data, &n) != SNAPPY_OK) return -1;
        out->len = n;
        return 0;
    }
    case PQ_ZSTD: {
        size_t n = ZSTD_compressBound(src->len);
        buf_reserve(out, n);
        n = ZSTD_compress(out->data, n, in, src->len, 3);
        if (ZSTD_isError(n)) return -1;
        out->len = n;
        return 0;
    }
    case PQ_GZIP: {
        z_stream z;
        memset(&z, 0, sizeof z);
        if (deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) return -1;
        size_t n = deflateBound(&z, src->len) + 32;
        buf_reserve(out, n);
        z.next_in = (Bytef *)(uintptr_t)in;
        z.avail_in = (uInt)src->len;
        z.next_out = (Bytef *)out->data;
        z.avail_out = (uInt)n;
        int rc = deflate(&z, Z_FINISH);
        out->len = z.total_out;
        deflateEnd(&z);
        return rc == Z_STREAM_END ? 0 : -1;
    }
    default:
        buf_append(out, in, src->len);
        return 0;
    }
}

/* Statistics of a leaf's present values. */
typedef struct Stats { int have; Value min, max; } Stats;

static int stat_cmp(const WNode *n, Value a, Value b)
{
    if (n->phys == PQ_BYTE_ARRAY) {
        size_t la = v_strlen(a), lb = v_strlen(b);
        int c = memcmp(v_str(a), v_str(b), la < lb ? la : lb);
        return c ? c : (la > lb) - (la < lb);
    }
    if (n->tk == TY_FLOAT) return (a.u.f > b.u.f) - (a.u.f < b.u.f);
    if (n->tk == TY_BOOL) return a.u.b - b.u.b;
    return (a.u.i > b.u.i) - (a.u.i < b.u.i);
}

static Stats leaf_stats(const WLeaf *lf)
{
    Stats s = { 0, v_null(), v_null() };
    for (size_t i = 0; i < lf->nvals; i++) {
        Value v = lf->vals[i];
        if (lf->node->tk == TY_FLOAT && v.u.f != v.u.f) continue;     /* NaN has no order */
        if (!s.have) { s.min = s.max = v; s.have = 1; continue; }
        if (stat_cmp(lf->node, v, s.min) < 0) s.min = v;
        if (stat_cmp(lf->node, v, s.max) > 0) s.max = v;
    }
    return s;
}

static void put_stat_value(ThriftOut *o, int id, const WNode *n, Value v)
{
    Buf b;
    buf_init(&b);
    if (n->phys == PQ_BOOLEAN) buf_putc(&b, (char)v.u.b);
    else if (n->phys == PQ_BYTE_ARRAY) buf_append(&b, v_str(v), v_strlen(v));
    else put_plain(&b, n->phys, v);
    thrift_bin(o, id, b.data ? b.data : "", b.len);
    buf_free(&b);
}

/* The distinct strings of a leaf, when there are few enough for a dictionary: dict[] (borrowed
 * values) and idx[] per value. Returns the dictionary size, 0 when plain encoding is better. */
static size_t build_dict(const WLeaf *lf, Value **dict, uint32_t **idx)
{
    size_t n = lf->nvals;
    if (lf->node->phys != PQ_BYTE_ARRAY || n < 16) return 0;
    size_t cap = 1024, nd = 0, limit = n / 2 < 65536 ? n / 2 : 65536;
    uint32_t *slots = NULL;
    *dict = xmalloc(cap * sizeof **dict);
    *idx = xmalloc(n * sizeof **idx);
    size_t nslots = 2048;
    slots = xmalloc(nslots * sizeof *slots);
    memset(slots, 0xff, nslots * sizeof *slots);
    for (size_t i = 0; i < n; i++) {
        Value v = lf->vals[i];
        size_t h = (size_t)value_hash(v);
        for (;; h++) {
            uint32_t s = slots[h & (nslots - 1)];
            if (s == UINT32_MAX) {
                if (nd == limit) goto plain;
                if (nd == cap) *dict = xrealloc(*dict, (cap *= 2) * sizeof **dict);
                (*dict)[nd] = v;
                slots[h & (nslots - 1)] = (uint32_t)nd;
                (*idx)[i] = (uint32_t)nd++;
                break;
            }
            if (value_equal((*dict)[s], v)) { (*idx)[i] = s; break; }
        }
        if (nd * 2 > nslots) {                 /* grow the table, re-inserting the entries */
            nslots *= 2;
            slots = xrealloc(slots, nslots * sizeof *slots);
            memset(slots, 0xff, nslots * sizeof *slots);
            for (size_t k = 0; k < nd; k++) {
                size_t hk = (size_t)value_hash((*dict)[k]);
                while (slots[hk & (nslots - 1)] != UINT32_MAX) hk++;
                slots[hk & (nslots - 1)] = (uint32_t)k;
            }
        }
    }
    free(slots);
    return nd;
plain:
    free(slots);
    free(*dict);
    free(*idx);
    *dict = NULL;
    *idx = NULL;
    return 0;
}

/* Write a page (header + compressed body). Returns 0 or -1. */
static int write_page(PqWriter *w, int type, const Buf *body, size_t num_values, int encoding,
                      int64_t *usize, int64_t *csize, fql_error *err)
{
    Buf z, h;
    buf_init(&z);
    buf_init(&h);
    if (compress_page(w->codec, body, &z) < 0) {
        buf_free(&z);
        return err_set(err, FQL_ERR_IO, "cannot write %s: compression failed", w->path);
    }
    ThriftOut o = { &h, 0 };
    thrift_i32(&o, 1, type);
    thrift_i32(&o, 2, (int64_t)body->len);
    thrift_i32(&o, 3, (int64_t)z.len);
    thrift_put_field(&o, type == PAGE_DICTIONARY ? 7 : 5, TT_STRUCT);
    ThriftOut d = { &h, 0 };
    thrift_i32(&d, 1, (int64_t)num_values);
    thrift_i32(&d, 2, encoding);
    if (type == PAGE_DATA) {
        thrift_i32(&d, 3, ENC_RLE);
        thrift_i32(&d, 4, ENC_RLE);
    }
    thrift_put_stop(&d);
    thrift_put_stop(&o);
    int rc = 0;
    if (fwrite(h.data, 1, h.len, w->f) != h.len || (z.len && fwrite(z.data, 1, z.len, w->f) != z.len))
        rc = err_set(err, FQL_ERR_IO, "cannot write %s: %s", w->path, strerror(errno));
    *usize += (int64_t)(h.len + body->len);
    *csize += (int64_t)(h.len + z.len);
    w->off += (int64_t)(h.len + z.len);
    buf_free(&z);
    buf_free(&h);
    return rc;
}

/* Write leaf lf's buffered entries as one column chunk and append its ColumnChunk metadata to
 * meta. Returns 0 or -1. */
static int write_chunk(PqWriter *w, WLeaf *lf, Buf *meta, fql_error *err)
{
    const WNode *n = lf->node;
    int64_t start = w->off, dict_off = -1, usize = 0, csize = 0;
    Value *dict = NULL;
    uint32_t *idx = NULL;
    size_t nd = build_dict(lf, &dict, &idx);
    Buf body;
    buf_init(&body);
    int rc = 0;
    if (nd) {
        for (size_t i = 0; i < nd; i++) put_plain(&body, n->phys, dict[i]);
        dict_off = w->off;
        rc = write_page(w, PAGE_DICTIONARY, &body, nd, ENC_PLAIN, &usize, &csize, err);
        buf_clear(&body);
    }
    int64_t data_off = w->off;
    if (n->rep > 0) put_levels(&body, lf->rep, lf->n, n->rep);
    put_levels(&body, lf->def, lf->n, n->def);
    if (nd) {
        int width = pq_bit_width(nd - 1);
        buf_putc(&body, (char)width);
        pq_hybrid_encode(&body, idx, lf->nvals, width);
    } else if (n->phys == PQ_BOOLEAN) {
        size_t at = body.len;
        buf_reserve(&body, lf->nvals / 8 + 1);
        memset(body.data + at, 0, lf->nvals / 8 + 1);
        for (size_t i = 0; i < lf->nvals; i++)
            if (lf->vals[i].u.b) body.data[at + i / 8] |= (char)(1 << (i % 8));
        body.len += (lf->nvals + 7) / 8;
    } else
        for (size_t i = 0; i < lf->nvals; i++) put_plain(&body, n->phys, lf->vals[i]);
    if (rc == 0) rc = write_page(w, PAGE_DATA, &body, lf->n, nd ? ENC_RLE_DICTIONARY : ENC_PLAIN, &usize, &csize, err);
    buf_free(&body);
    free(dict);
    free(idx);

    /* ColumnChunk { file_offset, meta_data: ColumnMetaData } */
    ThriftOut cc = { meta, 0 };
    thrift_i64(&cc, 2, start);
    thrift_put_field(&cc, 3, TT_STRUCT);
    ThriftOut m = { meta, 0 };
    thrift_i32(&m, 1, n->phys);
    thrift_put_field(&m, 2, TT_LIST);
    thrift_put_list(meta, TT_I32, nd ? 3 : 2);
    thrift_put_int(meta, ENC_RLE);
    thrift_put_int(meta, ENC_PLAIN);
    if (nd) thrift_put_int(meta, ENC_RLE_DICTIONARY);
    thrift_put_field(&m, 3, TT_LIST);
    int depth = 0;
    for (const char *s = lf->path; s; s = strchr(s + 1, '.')) depth++;
    thrift_put_list(meta, TT_BINARY, (uint32_t)depth);
    for (const char *s = lf->path; *s;) {
        const char *dot = strchr(s, '.');
        size_t len = dot ? (size_t)(dot - s) : strlen(s);
        thrift_put_binary(meta, s, len);
        s += len + (dot != NULL);
    }
    thrift_i32(&m, 4, w->codec);
    thrift_i64(&m, 5, (int64_t)lf->n);
    thrift_i64(&m, 6, usize);
    thrift_i64(&m, 7, csize);
    thrift_i64(&m, 9, data_off);
    if (dict_off >= 0) thrift_i64(&m, 11, dict_off);
    thrift_put_field(&m, 12, TT_STRUCT);
    ThriftOut st = { meta, 0 };
    thrift_i64(&st, 3, (int64_t)(lf->n - lf->nvals));
    Stats s = leaf_stats(lf);
    /* long strings are left out of the statistics: they would bloat the footer */
    if (s.have && (n->phys != PQ_BYTE_ARRAY || (v_strlen(s.max) <= 256 && v_strlen(s.min) <= 256))) {
        put_stat_value(&st, 5, n, s.max);
        put_stat_value(&st, 6, n, s.min);
    }
    thrift_put_stop(&st);
    thrift_put_stop(&m);
    thrift_put_stop(&cc);
    return rc;
}

static void leaf_reset(WLeaf *lf)
{
    for (size_t i = 0; i < lf->nvals; i++) value_free(lf->vals[i]);
    lf->n = lf->nvals = 0;
}

/* Write the buffered rows as a row group. */
static int flush_group(PqWriter *w, fql_error *err)
{
    if (w->rows == 0) return 0;
    Buf cols;
    buf_init(&cols);
    int64_t start = w->off;
    int rc = 0;
    for (int i = 0; i < w->nleaves && rc == 0; i++) rc = write_chunk(w, &w->leaves[i], &cols, err);
    if (rc == 0) {
        ThriftOut g = { &w->groups, 0 };
        thrift_put_field(&g, 1, TT_LIST);
        thrift_put_list(&w->groups, TT_STRUCT, (uint32_t)w->nleaves);
        buf_append(&w->groups, cols.data ? cols.data : "", cols.len);
        thrift_i64(&g, 2, w->off - start);
        thrift_i64(&g, 3, (int64_t)w->rows);
        thrift_i64(&g, 5, start);
        thrift_i64(&g, 6, w->off - start);
        thrift_put_stop(&g);
        w->ngroups++;
    }
    buf_free(&cols);
    for (int i = 0; i < w->nleaves; i++) leaf_reset(&w->leaves[i]);
    w->total_rows += (int64_t)w->rows;
    w->rows = 0;
    return rc;
}

/* ---- the writer ---- */

PqWriter *pq_writer_new(FILE *f, const char *path, const Schema *s, const WriteOptions *o, fql_error *err)
{
    PqWriter *w = xcalloc(1, sizeof *w);
    w->f = f;
    w->path = xstrdup(path);
    switch (o ? o->compression : COMPRESS_DEFAULT) {
    case COMPRESS_NONE: w->codec = PQ_UNCOMPRESSED; break;
    case COMPRESS_SNAPPY: w->codec = PQ_SNAPPY; break;
    case COMPRESS_GZIP: w->codec = PQ_GZIP; break;
    default: w->codec = PQ_ZSTD; break;
    }
    w->group_rows = o && o->row_group_size ? o->row_group_size : PQ_DEFAULT_GROUP_ROWS;
    w->root.name = "schema";
    w->root.kind = W_STRUCT;
    w->root.nkids = s->n;
    w->root.kids = xcalloc((size_t)s->n + 1, sizeof *w->root.kids);
    for (int c = 0; c < s->n; c++) shape(w, &w->root.kids[c], s->names[c], s->types[c], 0, 0);
    w->root.nleaves = w->nleaves;
    w->leaves = xcalloc((size_t)w->nleaves + 1, sizeof *w->leaves);
    for (int c = 0; c < s->n; c++) collect_leaves(w, &w->root.kids[c], NULL);
    buf_init(&w->groups);
    if (fwrite("PAR1", 1, 4, f) != 4) {
        err_set(err, FQL_ERR_IO, "cannot write %s: %s", path, strerror(errno));
        pq_writer_free(w);
        return NULL;
    }
    w->off = 4;
    return w;
}

int pq_writer_write(PqWriter *w, const Batch *b, fql_error *err)
{
    for (size_t r = 0; r < b->n; r++) {
        for (int c = 0; c < w->root.nkids; c++) shred(w, &w->root.kids[c], b->cols[c][r], 0);
        if (++w->rows >= w->group_rows && flush_group(w, err)) return -1;
    }
    return 0;
}

int pq_writer_finish(PqWriter *w, fql_error *err)
{
    if (flush_group(w, err)) return -1;
    Buf m;
    buf_init(&m);
    ThriftOut o = { &m, 0 };
    thrift_i32(&o, 1, 1);
    thrift_put_field(&o, 2, TT_LIST);
    thrift_put_list(&m, TT_STRUCT, (uint32_t)count_elements(&w->root));
    put_schema(&m, &w->root, PQ_REQUIRED);
    thrift_i64(&o, 3, w->total_rows);
    thrift_put_field(&o, 4, TT_LIST);
    thrift_put_list(&m, TT_STRUCT, (uint32_t)w->ngroups);
    buf_append(&m, w->groups.data ? w->groups.data : "", w->groups.len);
    thrift_bin(&o, 6, "fql", 3);
    /* column_orders: TypeDefinedOrder for every leaf, so readers trust the min/max of strings */
    thrift_put_field(&o, 7, TT_LIST);
    thrift_put_list(&m, TT_STRUCT, (uint32_t)w->nleaves);
    for (int i = 0; i < w->nleaves; i++) {
        ThriftOut co = { &m, 0 };
        thrift_put_field(&co, 1, TT_STRUCT);
        buf_putc(&m, 0);
        thrift_put_stop(&co);
    }
    thrift_put_stop(&o);
    put_u32(&m, (uint32_t)m.len);
    buf_append(&m, "PAR1", 4);
    int rc = 0;
    if (fwrite(m.data, 1, m.len, w->f) != m.len) rc = err_set(err, FQL_ERR_IO, "cannot write %s: %s", w->path, strerror(errno));
    buf_free(&m);
    return rc;
}

void pq_writer_free(PqWriter *w)
{
    if (!w) return;
    for (int i = 0; i < w->nleaves; i++) {
        leaf_reset(&w->leaves[i]);
        free(w->leaves[i].def);
        free(w->leaves[i].rep);
        free(w->leaves[i].vals);
        free(w->leaves[i].path);
    }
    free(w->leaves);
    wnode_free(&w->root);
    buf_free(&w->groups);
    free(w->path);
    free(w);
}
