/* parquet_read.c: the Parquet reader.
 *
 * A file is its footer (Thrift compact FileMetaData: the schema as a flattened tree, then row groups
 * of column chunks) and the pages the footer points at. The reader keeps one row group in memory:
 * it decodes every needed leaf column of the group into arrays of (repetition level, definition
 * level, value) entries, then assembles rows from those arrays batch by batch (Dremel record
 * assembly, driven by the schema tree), and moves on to the next group or file. Columns the query
 * does not need (ReadOptions.projection) are neither read, decompressed nor decoded: they are null.
 *
 * Types: see the table in docs/language.md. DECIMAL is read as float (a double: large decimals
 * lose digits), INT96 as a timestamp, TIMESTAMP in any unit as microseconds, a MAP as a list of
 * {key, value} structs, binary without a string annotation as a string of its bytes.
 *
 * Every length and offset taken from the file is checked before use; a bad file gives an error
 * naming the file, the column (its dotted path) and what is wrong.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <snappy-c.h>
#include <zlib.h>
#include <zstd.h>
#include <jansson.h>
#include "io_int.h"
#include "parquet.h"
#include "thrift.h"
#include "pool.h"

/* Upper bound on the entries of one column chunk: a hostile header cannot make the reader allocate
 * more than this (a fuzzing build lowers it). */
#ifndef PQ_MAX_ENTRIES
#define PQ_MAX_ENTRIES (1u << 28)
#endif
#define MAX_SCHEMA_DEPTH 48

/* How a leaf's stored values become FQL values. */
typedef enum Conv {
    CV_BOOL, CV_INT, CV_FLOAT, CV_DATE, CV_TS_MILLIS, CV_TS_MICROS, CV_TS_NANOS, CV_INT96,
    CV_DECIMAL, CV_STRING, CV_JSON, CV_UUID, CV_FLOAT16, CV_UINT32, CV_TIME_MILLIS, CV_TIME_MICROS, CV_TIME_NANOS
} Conv;

typedef enum Shape { SH_LEAF, SH_STRUCT, SH_LIST } Shape;

/* One node of the file's schema tree. */
typedef struct PqNode {
    char *name;
    int repetition, phys, type_length, converted, logical, scale, time_unit;
    int nkids;
    struct PqNode *kids;
    /* derived */
    Shape shape;
    int def, rep;                 /* levels of this node when present */
    int leaf0, nleaves;           /* leaves under this node (leaf order = column chunk order) */
    struct PqNode *repeated;      /* SH_LIST: the repeated node */
    struct PqNode *elem;          /* SH_LIST: the element node (may be `repeated` itself) */
    Conv conv;                    /* SH_LEAF */
    Type *stype;                  /* SH_STRUCT: the type its struct values carry */
    char *dotted;                 /* SH_LEAF: path for messages ("a.list.element") */
} PqNode;

typedef struct Chunk { int codec, phys; int64_t num_values, start, size; } Chunk;
typedef struct RowGroup { int64_t num_rows; Chunk *chunks; } RowGroup;

typedef struct PqFile {
    char *path;
    FILE *f;
    int64_t size;
    PqNode root;
    int nleaves;
    PqNode **leaves;
    int nrg;
    RowGroup *rgs;
} PqFile;

/* A decoded leaf chunk: one entry per level pair; vals[i] is null unless def[i] == the leaf's def. */
typedef struct Leaf {
    uint8_t *def, *rep;
    Value *vals;
    size_t n, cap, pos;
    size_t moved;            /* vals[0, moved) were moved out whole (assemble): not the leaf's any more */
    Value *dict;
    size_t ndict;
} Leaf;

typedef struct PqReader {
    Reader base;
    char **paths;
    int npaths, cur;
    PqFile *file;
    int rg;                      /* next row group of file */
    int64_t rows_left;           /* rows of the loaded group not yet returned */
    Leaf *leaves;                /* file->nleaves, for the loaded group */
    int *need;                   /* per top-level column */
    /* row groups decoded on threads (ReadOptions.threads > 1) */
    int threads;
    ParMap *pm;
    struct RgOut *out;           /* the decoded row group being handed out */
    PqFile **kept;               /* files done with (row groups of them may still be decoding) */
    int nkept;
} PqReader;

/* ---- errors ---- */

/* "FILE: column C: what" (column omitted when NULL). Returns -1. */
static int pq_err(fql_error *err, const char *path, const char *col, const char *why)
{
    if (col) return err_set(err, FQL_ERR_IO, "%s: column %s: %s", path, col, why);
    return err_set(err, FQL_ERR_IO, "%s: %s", path, why);
}

/* ---- RLE/bit-packed hybrid ---- */

/* n values of w bits (<= 32), LSB first, from p; the caller checked that the bytes are there. */
static void unpack32(const uint8_t *p, int w, uint32_t *out, size_t n)
{
    uint64_t acc = 0, mask = w == 32 ? 0xffffffffu : ((1u << w) - 1);
    int bits = 0;
    for (size_t k = 0; k < n; k++) {
        while (bits < w) { acc |= (uint64_t)*p++ << bits; bits += 8; }
        out[k] = (uint32_t)(acc & mask);
        acc >>= w;
        bits -= w;
    }
}

const char *pq_hybrid_decode(const uint8_t *p, size_t n, int width, uint32_t *out, size_t count)
{
    const uint8_t *end = p + n;
    size_t got = 0, vbytes = (size_t)(width + 7) / 8;
    if (width > 32) return "a bit width is over 32";
    while (got < count) {
        uint64_t h = 0;
        for (int shift = 0;; shift += 7) {
            if (p >= end || shift > 35) return "level or index data ends early";
            h |= (uint64_t)(*p & 0x7f) << shift;
            if (!(*p++ & 0x80)) break;
        }
        if (h & 1) {                                   /* bit-packed: (h >> 1) groups of 8 */
            uint64_t vals = (h >> 1) * 8;
            size_t avail = (size_t)(end - p);
            uint64_t need = vals * (uint64_t)width / 8;
            if (need > avail) {                        /* a last run may stop where the data does */
                vals = width ? (uint64_t)avail * 8 / (uint64_t)width : vals;
                need = avail;
            }
            size_t take = vals < count - got ? (size_t)vals : count - got;
            if (width == 0) memset(out + got, 0, take * sizeof *out);
            else unpack32(p, width, out + got, take);
            got += take;
            p += need;
            if (take == 0) return "level or index data ends early";
        } else {                                       /* RLE: (h >> 1) copies of one value */
            uint64_t run = h >> 1;
            if ((size_t)(end - p) < vbytes) return "level or index data ends early";
            uint32_t v = 0;
            for (size_t i = 0; i < vbytes; i++) v |= (uint32_t)p[i] << (8 * i);
            p += vbytes;
            if (run == 0) return "an RLE run is empty";
            size_t take = run < count - got ? (size_t)run : count - got;
            for (size_t i = 0; i < take; i++) out[got + i] = v;
            got += take;
        }
    }
    return NULL;
}

/* ---- schema ---- */

static void node_free(PqNode *n)
{
    for (int i = 0; i < n->nkids; i++) node_free(&n->kids[i]);
    free(n->kids);
    type_unref(n->stype);
    free(n->name);
    free(n->dotted);
}

static void read_time_unit(ThriftIn *in, PqNode *n)
{
    int last = 0, id, t;
    while ((t = thrift_field(in, &last, &id)) != TT_STOP) {
        if (id == 2 && t == TT_STRUCT) {
            int l2 = 0, u, t2;
            while ((t2 = thrift_field(in, &l2, &u)) != TT_STOP) {
                n->time_unit = u;
                thrift_skip(in, t2);
            }
        } else thrift_skip(in, t);
    }
}

static void read_logical(ThriftIn *in, PqNode *n)
{
    int last = 0, id, t;
    while ((t = thrift_field(in, &last, &id)) != TT_STOP) {
        if (t != TT_STRUCT) { thrift_skip(in, t); continue; }
        n->logical = id;
        if (id == LT_TIMESTAMP || id == LT_TIME) read_time_unit(in, n);
        else if (id == LT_DECIMAL) {
            int l2 = 0, f, t2;
            while ((t2 = thrift_field(in, &l2, &f)) != TT_STOP) {
                if (f == 1 && t2 == TT_I32) n->scale = (int)thrift_int(in);
                else thrift_skip(in, t2);
            }
        } else thrift_skip(in, t);
    }
}

/* One SchemaElement. */
static void read_element(ThriftIn *in, PqNode *n)
{
    int last = 0, id, t;
    n->phys = -1;
    n->converted = -1;
    while ((t = thrift_field(in, &last, &id)) != TT_STOP) {
        switch (id) {
        case 1: n->phys = (int)thrift_int(in); break;
        case 2: n->type_length = (int)thrift_int(in); break;
        case 3: n->repetition = (int)thrift_int(in); break;
        case 4: if (t == TT_BINARY) { free(n->name); n->name = thrift_string(in); } else thrift_skip(in, t); break;
        case 5: n->nkids = (int)thrift_int(in); break;
        case 6: n->converted = (int)thrift_int(in); break;
        case 7: n->scale = (int)thrift_int(in); break;
        case 10: if (t == TT_STRUCT) read_logical(in, n); else thrift_skip(in, t); break;
        default: thrift_skip(in, t);
        }
    }
    if (!n->name) n->name = xstrdup("");
}

/* The flattened schema list (pre-order, each element saying how many children follow) into a
 * tree. Returns a static description of the problem, or NULL. */
static const char *build_tree(PqNode *elems, int nelems, int *at, PqNode *out, int depth)
{
    if (*at >= nelems) return "the schema has fewer elements than its groups claim";
    if (depth > MAX_SCHEMA_DEPTH) return "the schema is nested too deeply";
    *out = elems[(*at)++];
    int nk = out->nkids;
    out->nkids = 0;                  /* counts the children built so far, for node_free */
    out->kids = NULL;
    if (nk < 0 || nk > nelems - *at) return "the schema has fewer elements than its groups claim";
    if (nk == 0 && depth > 0 && (out->phys < PQ_BOOLEAN || out->phys > PQ_FIXED)) return "a schema leaf has no valid physical type";
    if (out->repetition < PQ_REQUIRED || out->repetition > PQ_REPEATED) return "a schema element has an invalid repetition";
    out->kids = nk ? xcalloc((size_t)nk, sizeof *out->kids) : NULL;
    for (int i = 0; i < nk; i++) {
        const char *why = build_tree(elems, nelems, at, &out->kids[i], depth + 1);
        out->nkids++;
        if (why) return why;
    }
    return NULL;
}

static Conv leaf_conv(const PqNode *n, const char **why)
{
    int lt = n->logical, ct = n->converted;
    *why = NULL;
    switch (n->phys) {
    case PQ_BOOLEAN: return CV_BOOL;
    case PQ_INT32:
        if (lt == LT_DATE || ct == CT_DATE) return CV_DATE;
        if (lt == LT_TIME || ct == CT_TIME_MILLIS) return CV_TIME_MILLIS;
        if (lt == LT_DECIMAL || ct == CT_DECIMAL) return CV_DECIMAL;
        if (ct == 13) return CV_UINT32;                        /* UINT_32 */
        return CV_INT;
    case PQ_INT64:
        if (lt == LT_TIMESTAMP) return n->time_unit == TU_MILLIS ? CV_TS_MILLIS : n->time_unit == TU_NANOS ? CV_TS_NANOS : CV_TS_MICROS;
        if (ct == CT_TIMESTAMP_MILLIS) return CV_TS_MILLIS;
        if (ct == CT_TIMESTAMP_MICROS) return CV_TS_MICROS;
        if (lt == LT_TIME) return n->time_unit == TU_NANOS ? CV_TIME_NANOS : CV_TIME_MICROS;
        if (ct == CT_TIME_MICROS) return CV_TIME_MICROS;
        if (lt == LT_DECIMAL || ct == CT_DECIMAL) return CV_DECIMAL;
        return CV_INT;
    case PQ_INT96: return CV_INT96;
    case PQ_FLOAT: case PQ_DOUBLE: return CV_FLOAT;
    case PQ_BYTE_ARRAY: case PQ_FIXED:
        if (lt == LT_DECIMAL || ct == CT_DECIMAL) {
            if (n->phys == PQ_FIXED && (n->type_length < 1 || n->type_length > 32)) *why = "a DECIMAL has an unsupported byte length";
            return CV_DECIMAL;
        }
        if (lt == LT_JSON || ct == CT_JSON) return CV_JSON;
        if (n->phys == PQ_FIXED && lt == LT_UUID && n->type_length == 16) return CV_UUID;
        if (n->phys == PQ_FIXED && lt == LT_FLOAT16 && n->type_length == 2) return CV_FLOAT16;
        if (n->phys == PQ_FIXED && n->type_length < 0) *why = "a FIXED_LEN_BYTE_ARRAY has a negative length";
        return CV_STRING;
    }
    *why = "a column has an unknown physical type";
    return CV_STRING;
}

static Type *conv_type(Conv c)
{
    switch (c) {
    case CV_BOOL: return type_bool();
    case CV_INT: case CV_UINT32: return type_int();
    case CV_FLOAT: case CV_DECIMAL: case CV_FLOAT16: return type_float();
    case CV_DATE: return type_date();
    case CV_TS_MILLIS: case CV_TS_MICROS: case CV_TS_NANOS: case CV_INT96: return type_timestamp();
    case CV_JSON: return type_json();
    case CV_STRING: case CV_UUID: case CV_TIME_MILLIS: case CV_TIME_MICROS: case CV_TIME_NANOS: return type_string();
    }
    return type_string();
}

static Type *shape_node(PqFile *pf, PqNode *n, int def, int rep, const char *prefix, const char **why);

/* The struct type of group n, its children shaped (paths under prefix); n->stype keeps a reference. */
static Type *struct_of_kids(PqFile *pf, PqNode *n, const char *prefix, const char **why)
{
    Type *t = type_struct_new(n->nkids);
    for (int i = 0; i < n->nkids; i++) {
        t->fields[i].name = xstrdup(n->kids[i].name);
        t->fields[i].type = *why ? type_any() : shape_node(pf, &n->kids[i], n->def, n->rep, prefix, why);
        if (!t->fields[i].type) t->fields[i].type = type_any();
    }
    if (*why) { type_unref(t); return NULL; }
    n->stype = type_ref(t);
    return t;
}

/* Decide each node's shape and levels, number the leaves, and return its FQL type (new reference),
 * or NULL with *why set. */
/* Register n as the next leaf (column chunk order); path is consumed. Returns its FQL type. */
static Type *add_leaf(PqFile *pf, PqNode *n, char *path, const char **why)
{
    n->shape = SH_LEAF;
    n->conv = leaf_conv(n, why);
    n->dotted = path;
    pf->leaves = xrealloc(pf->leaves, (size_t)(pf->nleaves + 1) * sizeof *pf->leaves);
    pf->leaves[pf->nleaves++] = n;
    return *why ? NULL : conv_type(n->conv);
}

static Type *shape_node(PqFile *pf, PqNode *n, int def, int rep, const char *prefix, const char **why)
{
    n->def = def + (n->repetition != PQ_REQUIRED);
    n->rep = rep + (n->repetition == PQ_REPEATED);
    n->leaf0 = pf->nleaves;
    char *path = prefix ? xasprintf("%s.%s", prefix, n->name) : xstrdup(n->name);
    Type *t = NULL;
    int is_list = n->logical == LT_LIST || n->converted == CT_LIST;
    int is_map = n->logical == LT_MAP || n->converted == CT_MAP || n->converted == CT_MAP_KEY_VALUE;
    if (n->nkids == 0 && n != &pf->root) {
        t = add_leaf(pf, n, path, why);
        path = NULL;
    } else if ((is_list || is_map) && n->nkids == 1 && n->kids[0].repetition == PQ_REPEATED && n->repetition != PQ_REPEATED) {
        PqNode *r = &n->kids[0];
        char *rp = xasprintf("%s.%s", path, r->name);
        size_t nl = strlen(n->name);
        n->shape = SH_LIST;
        n->repeated = r;
        r->def = n->def + 1;
        r->rep = n->rep + 1;
        r->leaf0 = pf->nleaves;
        /* The element: the repeated node itself when it holds several fields (a map's key/value,
         * or a legacy 2-level list), else its single child (the 3-level list). */
        int self = is_map || r->nkids != 1 || !strcmp(r->name, "array") ||
                   (strlen(r->name) == nl + 6 && !strncmp(r->name, n->name, nl) && !strcmp(r->name + nl, "_tuple"));
        Type *et;
        if (!self) {
            r->shape = SH_STRUCT;
            n->elem = &r->kids[0];
            et = shape_node(pf, n->elem, r->def, r->rep, rp, why);
        } else if (r->nkids == 0) {
            n->elem = r;
            et = add_leaf(pf, r, rp, why);
            rp = NULL;
        } else {
            n->elem = r;
            r->shape = SH_STRUCT;
            et = struct_of_kids(pf, r, rp, why);
        }
        free(rp);
        if (et) t = type_list(et);
        r->nleaves = pf->nleaves - r->leaf0;
    } else {
        n->shape = SH_STRUCT;
        t = struct_of_kids(pf, n, n == &pf->root ? NULL : path, why);
    }
    /* an unannotated repeated field is a list */
    if (t && n->repetition == PQ_REPEATED) t = type_list(t);
    free(path);
    n->nleaves = pf->nleaves - n->leaf0;
    return t;
}

/* ---- footer ---- */

static void read_chunk_meta(ThriftIn *in, Chunk *c)
{
    int last = 0, id, t;
    int64_t data_off = -1, dict_off = -1;
    while ((t = thrift_field(in, &last, &id)) != TT_STOP) {
        switch (id) {
        case 1: c->phys = (int)thrift_int(in); break;
        case 4: c->codec = (int)thrift_int(in); break;
        case 5: c->num_values = thrift_int(in); break;
        case 7: c->size = thrift_int(in); break;
        case 9: data_off = thrift_int(in); break;
        case 11: dict_off = thrift_int(in); break;
        default: thrift_skip(in, t); continue;
        }
        if (t != TT_I32 && t != TT_I64) in->bad = in->bad ? in->bad : "a column's metadata has a field of the wrong type";
    }
    /* some writers put 0 in dictionary_page_offset when there is no dictionary */
    c->start = dict_off > 0 && dict_off < data_off ? dict_off : data_off;
}

static void read_row_group(ThriftIn *in, RowGroup *g, int nleaves)
{
    int last = 0, id, t;
    g->chunks = xcalloc((size_t)nleaves + 1, sizeof *g->chunks);
    for (int i = 0; i < nleaves; i++) g->chunks[i].start = -1;
    int seen = 0;
    while ((t = thrift_field(in, &last, &id)) != TT_STOP) {
        if (id == 1 && t == TT_LIST) {
            int et;
            uint32_t n = thrift_list(in, &et);
            for (uint32_t i = 0; i < n && !in->bad; i++) {
                /* ColumnChunk: field 3 is its ColumnMetaData */
                int l2 = 0, f, t2;
                while ((t2 = thrift_field(in, &l2, &f)) != TT_STOP) {
                    if (f == 3 && t2 == TT_STRUCT && (int)i < nleaves) read_chunk_meta(in, &g->chunks[i]);
                    else thrift_skip(in, t2);
                }
            }
            seen = (int)n;
        } else if (id == 3 && t == TT_I64) g->num_rows = thrift_int(in);
        else thrift_skip(in, t);
    }
    if (!in->bad && seen != nleaves) in->bad = "a row group does not have one column chunk per schema leaf";
}

static void pqfile_free(PqFile *pf)
{
    if (!pf) return;
    if (pf->f) fclose(pf->f);
    node_free(&pf->root);
    for (int i = 0; i < pf->nrg; i++) free(pf->rgs[i].chunks);
    free(pf->rgs);
    free(pf->leaves);
    free(pf->path);
    free(pf);
}

static int read_at(PqFile *pf, int64_t off, void *dst, size_t n)
{
    if (off < 0 || (uint64_t)off + n > (uint64_t)pf->size) return -1;
    if (fseeko(pf->f, off, SEEK_SET) != 0) return -1;
    return fread(dst, 1, n, pf->f) == n ? 0 : -1;
}

/* The root of a Parquet schema is a required group whatever it says: its children start at def 0. */
static Type *shape_root(PqFile *pf, const char **why)
{
    pf->root.repetition = PQ_REQUIRED;
    return shape_node(pf, &pf->root, 0, 0, NULL, why);
}

/* Parse FileMetaData: the schema (into a tree) and the row groups. */
static const char *parse_footer(PqFile *pf, ThriftIn *in, Type **type)
{
    int last = 0, id, t, nelems = 0, schemas = 0;
    PqNode *elems = NULL;
    const char *why = NULL;
    while ((t = thrift_field(in, &last, &id)) != TT_STOP && !in->bad) {
        int et;
        /* only the first schema list: a second one (a corrupt footer) would build a second tree
         * over the first, which leaked on every such file */
        if (id == 2 && t == TT_LIST && !schemas++) {
            uint32_t n = thrift_list(in, &et);
            elems = xcalloc((size_t)n + 1, sizeof *elems);
            for (uint32_t i = 0; i < n && !in->bad; i++, nelems++) read_element(in, &elems[i]);
        } else if (id == 4 && t == TT_LIST && elems && !pf->rgs) {
            uint32_t n = thrift_list(in, &et);
            pf->rgs = xcalloc((size_t)n + 1, sizeof *pf->rgs);
            if (!why && nelems > 0 && !pf->leaves) {
                int at = 0;
                why = build_tree(elems, nelems, &at, &pf->root, 0);
                for (int i = at; i < nelems; i++) free(elems[i].name);   /* elements past the tree */
                free(elems);
                elems = NULL;
                nelems = 0;
                if (!why) *type = shape_root(pf, &why);
                if (why) break;
            }
            for (uint32_t i = 0; i < n && !in->bad; i++, pf->nrg++) read_row_group(in, &pf->rgs[i], pf->nleaves);
        } else thrift_skip(in, t);
    }
    if (elems) {
        /* no row groups list: an empty file still has a schema */
        int at = 0;
        why = build_tree(elems, nelems, &at, &pf->root, 0);
        for (int i = at; i < nelems; i++) free(elems[i].name);
        free(elems);
        if (!why) *type = shape_root(pf, &why);
    }
    if (in->bad) return in->bad;
    if (why) return why;
    if (!*type) return "the file has no schema";
    return NULL;
}

/* Open path and read its footer; *schema receives the columns (new). NULL with err filled. */
static PqFile *pqfile_open(const char *path, Schema **schema, fql_error *err)
{
    PqFile *pf = xcalloc(1, sizeof *pf);
    pf->path = xstrdup(path);
    pf->f = fopen(path, "rb");
    if (!pf->f) {
        err_set(err, FQL_ERR_IO, "cannot open %s: %s", path, strerror(errno));
        pqfile_free(pf);
        return NULL;
    }
    fseeko(pf->f, 0, SEEK_END);
    pf->size = ftello(pf->f);
    uint8_t tail[8], head[4];
    if (pf->size < 12 || read_at(pf, 0, head, 4) || read_at(pf, pf->size - 8, tail, 8)) {
        pq_err(err, path, NULL, "not a Parquet file (too short to hold a footer)");
        pqfile_free(pf);
        return NULL;
    }
    if (memcmp(head, "PAR1", 4) || memcmp(tail + 4, "PAR1", 4)) {
        pq_err(err, path, NULL, memcmp(tail + 4, "PARE", 4) ? "not a Parquet file (no PAR1 magic at its start and end)"
                                                            : "the file is encrypted, which fql does not read");
        pqfile_free(pf);
        return NULL;
    }
    uint32_t mlen = (uint32_t)tail[0] | (uint32_t)tail[1] << 8 | (uint32_t)tail[2] << 16 | (uint32_t)tail[3] << 24;
    if ((int64_t)mlen > pf->size - 12) {
        pq_err(err, path, NULL, "the footer length is larger than the file (truncated file?)");
        pqfile_free(pf);
        return NULL;
    }
    uint8_t *meta = xtry_malloc((size_t)mlen + 1);
    if (!meta) {
        err_set(err, FQL_ERR_NOMEM, "%s: out of memory for a footer of %u bytes", path, mlen);
        pqfile_free(pf);
        return NULL;
    }
    if (read_at(pf, pf->size - 8 - mlen, meta, mlen)) {
        free(meta);
        err_set(err, FQL_ERR_IO, "cannot read %s: %s", path, strerror(errno));
        pqfile_free(pf);
        return NULL;
    }
    ThriftIn in = { meta, meta + mlen, NULL, 0 };
    Type *rt = NULL;
    const char *why = parse_footer(pf, &in, &rt);
    free(meta);
    if (!why && rt->kind != TY_STRUCT) why = "the schema root is not a group";
    if (!why && pf->nleaves == 0) why = "the file has no columns";
    const char *col = NULL;               /* the column a problem concerns, if one */
    for (int g = 0; g < pf->nrg && !why; g++) {
        if (pf->rgs[g].num_rows < 0) why = "a row group has a negative row count";
        for (int c = 0; c < pf->nleaves && !why; c++) {
            const Chunk *ch = &pf->rgs[g].chunks[c];
            col = pf->leaves[c]->dotted;
            if (ch->start < 4 || ch->size < 0 || ch->size > pf->size || ch->start > pf->size ||
                ch->start + ch->size > pf->size - 8 - (int64_t)mlen)
                why = "its column chunk lies outside the file (truncated or corrupt file)";
            else if (ch->phys != pf->leaves[c]->phys)
                why = "its column chunk's type differs from the schema's";
        }
        if (!why) col = NULL;
    }
    if (why) {
        pq_err(err, path, col, why);
        type_unref(rt);
        pqfile_free(pf);
        return NULL;
    }
    *schema = schema_new();
    for (int i = 0; i < rt->nfields; i++) schema_add(*schema, rt->fields[i].name, type_ref(rt->fields[i].type));
    type_unref(rt);
    return pf;
}

/* ---- pages ---- */

static const char *decompress(int codec, const uint8_t *src, size_t n, uint8_t *dst, size_t dstn)
{
    switch (codec) {
    case PQ_UNCOMPRESSED:
        if (n != dstn) return "a page's sizes disagree";
        memcpy(dst, src, n);
        return NULL;
    case PQ_SNAPPY: {
        size_t out = dstn;
        if (snappy_uncompress((const char *)src, n, (char *)dst, &out) != SNAPPY_OK || out != dstn)
            return "a snappy page does not decompress";
        return NULL;
    }
    case PQ_ZSTD: {
        size_t r = ZSTD_decompress(dst, dstn, src, n);
        if (ZSTD_isError(r) || r != dstn) return "a zstd page does not decompress";
        return NULL;
    }
    case PQ_GZIP: {
        z_stream z;
        memset(&z, 0, sizeof z);
        if (inflateInit2(&z, 15 + 32) != Z_OK) return "gzip cannot start";
        z.next_in = (Bytef *)(uintptr_t)src;
        z.avail_in = (uInt)n;
        z.next_out = dst;
        z.avail_out = (uInt)dstn;
        int rc = inflate(&z, Z_FINISH);
        size_t out = z.total_out;
        inflateEnd(&z);
        if (rc != Z_STREAM_END || out != dstn) return "a gzip page does not decompress";
        return NULL;
    }
    case PQ_LZ4: case PQ_LZ4_RAW: return "LZ4 compression is not supported (rewrite the file with snappy, zstd or gzip)";
    case PQ_BROTLI: return "Brotli compression is not supported (rewrite the file with snappy, zstd or gzip)";
    case PQ_LZO: return "LZO compression is not supported (rewrite the file with snappy, zstd or gzip)";
    }
    return "the column uses an unknown compression codec";
}

typedef struct PageHeader {
    int type, encoding, def_enc, rep_enc, v2_compressed;
    int32_t usize, csize, num_values, def_len, rep_len;
} PageHeader;

static void read_page_fields(ThriftIn *in, PageHeader *h, int v2)
{
    int last = 0, id, t;
    while ((t = thrift_field(in, &last, &id)) != TT_STOP) {
        if (t == TT_TRUE || t == TT_FALSE) {
            if (v2 && id == 7) h->v2_compressed = thrift_bool(t);
            continue;
        }
        if (t != TT_I32) { thrift_skip(in, t); continue; }
        int64_t v = thrift_int(in);
        if (id == 1) h->num_values = (int32_t)v;
        else if (!v2 && id == 2) h->encoding = (int)v;
        else if (!v2 && id == 3) h->def_enc = (int)v;
        else if (!v2 && id == 4) h->rep_enc = (int)v;
        else if (v2 && id == 4) h->encoding = (int)v;
        else if (v2 && id == 5) h->def_len = (int32_t)v;
        else if (v2 && id == 6) h->rep_len = (int32_t)v;
    }
}

static const char *read_page_header(ThriftIn *in, PageHeader *h)
{
    memset(h, 0, sizeof *h);
    h->type = -1;
    h->v2_compressed = 1;
    h->def_enc = h->rep_enc = ENC_RLE;
    int last = 0, id, t;
    while ((t = thrift_field(in, &last, &id)) != TT_STOP) {
        if (id == 1 && t == TT_I32) h->type = (int)thrift_int(in);
        else if (id == 2 && t == TT_I32) h->usize = (int32_t)thrift_int(in);
        else if (id == 3 && t == TT_I32) h->csize = (int32_t)thrift_int(in);
        else if ((id == 5 || id == 7 || id == 8) && t == TT_STRUCT) read_page_fields(in, h, id == 8);
        else thrift_skip(in, t);
    }
    if (in->bad) return "a page header is corrupt";
    if (h->usize < 0 || h->csize < 0 || h->num_values < 0 || h->def_len < 0 || h->rep_len < 0)
        return "a page header holds a negative size";
    return NULL;
}

/* ---- values ---- */

static Value decimal_value(const uint8_t *p, size_t n, int scale)
{
    /* big-endian two's complement, up to 32 bytes: accumulate as a double */
    double v = 0;
    int neg = n && (p[0] & 0x80);
    for (size_t i = 0; i < n; i++) v = v * 256 + (neg ? (uint8_t)~p[i] : p[i]);
    if (neg) v = -(v + 1);
    return v_float(v / pow(10, scale));
}

static double half_to_double(uint16_t h)
{
    int e = (h >> 10) & 31, m = h & 1023;
    double v = e == 0 ? ldexp(m, -24) : e == 31 ? (m ? NAN : INFINITY) : ldexp(m + 1024, e - 25);
    return h & 0x8000 ? -v : v;
}

static int64_t floor_div(int64_t a, int64_t b) { return a / b - (a % b != 0 && (a < 0) != (b < 0)); }

/* A time of day as text, HH:MM:SS[.ffffff] (fql has no time type). */
static Value time_value(int64_t us)
{
    if (us < 0 || us >= 86400000000LL) return v_null();
    Buf b;
    buf_init(&b);
    buf_printf(&b, "%02d:%02d:%02d", (int)(us / 3600000000LL), (int)(us / 60000000 % 60), (int)(us / 1000000 % 60));
    if (us % 1000000) buf_printf(&b, ".%06d", (int)(us % 1000000));
    Value v = v_string(b.data, b.len);
    buf_free(&b);
    return v;
}

static Value int_value(const PqNode *n, int64_t x)
{
    switch (n->conv) {
    case CV_TIME_MILLIS: return time_value(x < INT64_MAX / 1000 && x > INT64_MIN / 1000 ? x * 1000 : -1);
    case CV_TIME_MICROS: return time_value(x);
    case CV_TIME_NANOS: return time_value(floor_div(x, 1000));
    case CV_DATE: return v_date(x);
    case CV_TS_MILLIS: return v_timestamp((int64_t)((uint64_t)x * 1000));
    case CV_TS_MICROS: return v_timestamp(x);
    case CV_TS_NANOS: return v_timestamp(floor_div(x, 1000));
    case CV_DECIMAL: return v_float((double)x / pow(10, n->scale));
    case CV_UINT32: return v_int((int64_t)(uint32_t)x);
    case CV_FLOAT: return v_float((double)x);
    default: return v_int(x);
    }
}

/* A byte-array value; *bad set when a JSON column holds text that is not JSON. */
static Value bytes_value(const PqNode *n, const uint8_t *p, size_t len, const char **bad)
{
    switch (n->conv) {
    case CV_DECIMAL: return decimal_value(p, len, n->scale);
    case CV_JSON: {
        json_error_t je;
        json_t *j = json_loadb((const char *)p, len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &je);
        if (!j) { *bad = "a JSON column holds text that is not valid JSON"; return v_null(); }
        json_decref(j);
        return v_json_text((const char *)p, len);
    }
    case CV_UUID: {
        char s[37];
        static const char hex[] = "0123456789abcdef";
        int k = 0;
        for (int i = 0; i < 16; i++) {
            if (i == 4 || i == 6 || i == 8 || i == 10) s[k++] = '-';
            s[k++] = hex[p[i] >> 4];
            s[k++] = hex[p[i] & 15];
        }
        return v_string(s, 36);
    }
    case CV_FLOAT16: return v_float(half_to_double((uint16_t)(p[0] | p[1] << 8)));
    default: return v_string((const char *)p, len);
    }
}

static uint32_t rd32(const uint8_t *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24; }
static uint64_t rd64(const uint8_t *p) { return (uint64_t)rd32(p) | (uint64_t)rd32(p + 4) << 32; }

/* The byte width of a fixed-size PLAIN value (0 for BYTE_ARRAY, -1 for BOOLEAN's bits). */
static int plain_width(const PqNode *n)
{
    switch (n->phys) {
    case PQ_BOOLEAN: return -1;
    case PQ_INT32: case PQ_FLOAT: return 4;
    case PQ_INT64: case PQ_DOUBLE: return 8;
    case PQ_INT96: return 12;
    case PQ_FIXED: return n->type_length;
    default: return 0;
    }
}

/* Does leaf n give only values off the heap (numbers, bools, dates, timestamps, nulls)? */
static int leaf_plain(const PqNode *n)
{
    int time = n->conv == CV_TIME_MILLIS || n->conv == CV_TIME_MICROS || n->conv == CV_TIME_NANOS;
    return !time && (n->phys == PQ_BOOLEAN || n->phys == PQ_INT32 || n->phys == PQ_INT64 || n->phys == PQ_FLOAT ||
                     n->phys == PQ_DOUBLE || n->phys == PQ_INT96);
}

/* One fixed-width value at p (width bytes). */
static Value fixed_value(const PqNode *n, const uint8_t *p, int width, const char **bad)
{
    switch (n->phys) {
    case PQ_INT32: return int_value(n, (int32_t)rd32(p));
    case PQ_INT64: return int_value(n, (int64_t)rd64(p));
    case PQ_FLOAT: { float f; uint32_t u = rd32(p); memcpy(&f, &u, 4); return v_float(f); }
    case PQ_DOUBLE: { double d; uint64_t u = rd64(p); memcpy(&d, &u, 8); return v_float(d); }
    case PQ_INT96: {
        int64_t nanos = (int64_t)rd64(p), day = (int32_t)rd32(p + 8);
        /* unsigned arithmetic: a hostile day must not overflow */
        return v_timestamp((int64_t)((uint64_t)(day - 2440588) * 86400000000ULL + (uint64_t)floor_div(nanos, 1000)));
    }
    default: return bytes_value(n, p, (size_t)width, bad);
    }
}

/* PLAIN: count values into out. */
static const char *decode_plain(const PqNode *n, const uint8_t *p, size_t len, Value *out, size_t count)
{
    const uint8_t *end = p + len;
    int w = plain_width(n);
    const char *bad = NULL;
    if (w < 0) {
        if (count > len * 8) return "a page holds fewer values than its header says";
        for (size_t i = 0; i < count; i++) out[i] = v_bool(p[i / 8] >> (i % 8) & 1);
        return NULL;
    }
    if (w > 0 || n->phys == PQ_FIXED) {
        if (w == 0) {
            for (size_t i = 0; i < count; i++) out[i] = bytes_value(n, p, 0, &bad);
            return bad;
        }
        if (count > len / (size_t)w) return "a page holds fewer values than its header says";
        /* the common columns without a switch a value */
        if (n->phys == PQ_INT64 && n->conv == CV_INT)
            for (size_t i = 0; i < count; i++) out[i] = v_int((int64_t)rd64(p + i * 8));
        else if (n->phys == PQ_INT32 && n->conv == CV_INT)
            for (size_t i = 0; i < count; i++) out[i] = v_int((int32_t)rd32(p + i * 4));
        else if (n->phys == PQ_DOUBLE)
            for (size_t i = 0; i < count; i++) {
                double d;
                uint64_t u = rd64(p + i * 8);
                memcpy(&d, &u, 8);
                out[i] = v_float(d);
            }
        else
            for (size_t i = 0; i < count && !bad; i++) out[i] = fixed_value(n, p + i * (size_t)w, w, &bad);
        return bad;
    }
    for (size_t i = 0; i < count && !bad; i++) {
        if (end - p < 4) return "a page holds fewer values than its header says";
        uint32_t l = rd32(p);
        p += 4;
        if (l > (size_t)(end - p)) return "a string runs past the end of its page";
        out[i] = bytes_value(n, p, l, &bad);
        p += l;
    }
    return bad;
}

/* DELTA_BINARY_PACKED: count integers into out; *used receives the bytes consumed. */
static const char *decode_delta(const uint8_t *p, size_t len, int64_t *out, size_t count, size_t *used)
{
    ThriftIn in = { p, p + len, NULL, 0 };
    uint64_t block = thrift_varint(&in), nmini = thrift_varint(&in), total = thrift_varint(&in);
    int64_t v = thrift_int(&in);
    if (in.bad) return "a DELTA_BINARY_PACKED header is corrupt";
    if (block == 0 || block % 128 || nmini == 0 || block % nmini || (block / nmini) % 32 || block > (1u << 20))
        return "a DELTA_BINARY_PACKED block size is invalid";
    if (total < count) return "a DELTA_BINARY_PACKED run holds fewer values than its page";
    size_t per = (size_t)(block / nmini), got = 0;
    if (count) out[got++] = v;
    uint8_t widths[1024];
    if (nmini > sizeof widths) return "a DELTA_BINARY_PACKED block has too many miniblocks";
    while (got < count) {
        int64_t min_delta = thrift_int(&in);
        if (in.bad || (size_t)(in.end - in.p) < nmini) return "a DELTA_BINARY_PACKED page ends early";
        memcpy(widths, in.p, (size_t)nmini);
        in.p += nmini;
        for (size_t m = 0; m < nmini && got < count; m++) {
            int w = widths[m];
            if (w > 64) return "a DELTA_BINARY_PACKED bit width is over 64";
            size_t bytes = per * (size_t)w / 8;
            if ((size_t)(in.end - in.p) < bytes) return "a DELTA_BINARY_PACKED page ends early";
            size_t bit = 0;
            for (size_t k = 0; k < per && got < count; k++) {
                uint64_t d = 0;
                for (int b = 0; b < w; b++, bit++) d |= (uint64_t)(in.p[bit >> 3] >> (bit & 7) & 1) << b;
                v = (int64_t)((uint64_t)v + (uint64_t)min_delta + d);
                out[got++] = v;
            }
            in.p += bytes;
        }
    }
    *used = (size_t)(in.p - p);
    return NULL;
}

/* Byte arrays given their lengths (DELTA_LENGTH_BYTE_ARRAY's second half). */
static const char *bytes_by_lengths(const PqNode *n, const uint8_t *p, size_t len, const int64_t *lens, Value *out, size_t count)
{
    const char *bad = NULL;
    for (size_t i = 0; i < count && !bad; i++) {
        if (lens[i] < 0 || (uint64_t)lens[i] > len) return "a string runs past the end of its page";
        out[i] = bytes_value(n, p, (size_t)lens[i], &bad);
        p += lens[i];
        len -= (size_t)lens[i];
    }
    return bad;
}

static const char *decode_values(const PqNode *n, Leaf *lf, int enc, const uint8_t *p, size_t len, Value *out, size_t count)
{
    const char *why = NULL;
    switch (enc) {
    case ENC_PLAIN: return decode_plain(n, p, len, out, count);
    case ENC_PLAIN_DICTIONARY: case ENC_RLE_DICTIONARY: {
        if (!lf->dict) return "a dictionary-encoded page has no dictionary page before it";
        if (len < 1) return "a dictionary-encoded page is empty";
        uint32_t *idx = xmalloc((count + 1) * sizeof *idx);
        why = pq_hybrid_decode(p + 1, len - 1, p[0], idx, count);
        int plain = leaf_plain(n);   /* values off the heap: copies need no reference */
        for (size_t i = 0; i < count && !why; i++) {
            if (idx[i] >= lf->ndict) why = "a dictionary index is out of range";
            else out[i] = plain ? lf->dict[idx[i]] : value_copy(lf->dict[idx[i]]);
        }
        free(idx);
        return why;
    }
    case ENC_RLE: {
        if (n->phys != PQ_BOOLEAN) return "RLE encoding is only valid for booleans";
        if (len < 4 || rd32(p) > len - 4) return "an RLE boolean page is corrupt";
        uint32_t *bits = xmalloc((count + 1) * sizeof *bits);
        why = pq_hybrid_decode(p + 4, rd32(p), 1, bits, count);
        for (size_t i = 0; i < count && !why; i++) out[i] = v_bool((int)bits[i]);
        free(bits);
        return why;
    }
    case ENC_DELTA_BINARY_PACKED: case ENC_DELTA_LENGTH_BYTE_ARRAY: case ENC_DELTA_BYTE_ARRAY: {
        int ints = enc == ENC_DELTA_BINARY_PACKED;
        if (ints != (n->phys == PQ_INT32 || n->phys == PQ_INT64)) return "a delta encoding does not fit the column's type";
        if (!ints && n->phys != PQ_BYTE_ARRAY && !(enc == ENC_DELTA_BYTE_ARRAY && n->phys == PQ_FIXED))
            return "a delta encoding does not fit the column's type";
        int64_t *a = xmalloc((count + 1) * sizeof *a), *b = NULL;
        size_t used = 0, used2 = 0;
        why = decode_delta(p, len, a, count, &used);
        if (!why && ints)
            for (size_t i = 0; i < count; i++) out[i] = int_value(n, n->phys == PQ_INT32 ? (int32_t)a[i] : a[i]);
        else if (!why && enc == ENC_DELTA_LENGTH_BYTE_ARRAY)
            why = bytes_by_lengths(n, p + used, len - used, a, out, count);
        else if (!why) {
            /* DELTA_BYTE_ARRAY: prefix lengths, then the suffixes as DELTA_LENGTH_BYTE_ARRAY */
            b = xmalloc((count + 1) * sizeof *b);
            why = decode_delta(p + used, len - used, b, count, &used2);
            const uint8_t *s = p + used + used2, *end = p + len;
            Buf prev;
            buf_init(&prev);
            const char *bad = NULL;
            for (size_t i = 0; i < count && !why && !bad; i++) {
                if (a[i] < 0 || (size_t)a[i] > prev.len) why = "a DELTA_BYTE_ARRAY prefix is longer than the previous value";
                else if (b[i] < 0 || b[i] > end - s) why = "a string runs past the end of its page";
                else {
                    prev.len = (size_t)a[i];
                    buf_append(&prev, (const char *)s, (size_t)b[i]);
                    s += b[i];
                    out[i] = bytes_value(n, (const uint8_t *)(prev.data ? prev.data : ""), prev.len, &bad);
                }
            }
            buf_free(&prev);
            if (!why) why = bad;
        }
        free(a);
        free(b);
        return why;
    }
    case ENC_BYTE_STREAM_SPLIT: {
        int w = plain_width(n);
        if (w <= 0 || w > 32) return "BYTE_STREAM_SPLIT does not fit the column's type";
        if (count > len / (size_t)w) return "a page holds fewer values than its header says";
        uint8_t tmp[32];
        const char *bad = NULL;
        for (size_t i = 0; i < count && !bad; i++) {
            for (int k = 0; k < w; k++) tmp[k] = p[(size_t)k * count + i];
            out[i] = fixed_value(n, tmp, w, &bad);
        }
        return bad;
    }
    case ENC_BIT_PACKED: return "the deprecated BIT_PACKED encoding is not supported";
    }
    return "the column uses an unknown encoding";
}

/* ---- column chunks ---- */

static void leaf_clear(Leaf *lf)
{
    for (size_t i = lf->moved; i < lf->n; i++) value_free(lf->vals[i]);
    for (size_t i = 0; i < lf->ndict; i++) value_free(lf->dict[i]);
    free(lf->def);
    free(lf->rep);
    free(lf->vals);
    free(lf->dict);
    memset(lf, 0, sizeof *lf);
}

/* Levels of a v1 page: 4-byte length, then the hybrid runs. Advances *p and *len. */
static const char *levels_v1(const uint8_t **p, size_t *len, int max, uint32_t *out, size_t count)
{
    if (*len < 4 || rd32(*p) > *len - 4) return "a page's level data is longer than the page";
    uint32_t l = rd32(*p);
    const char *why = pq_hybrid_decode(*p + 4, l, pq_bit_width((uint64_t)max), out, count);
    *p += 4 + l;
    *len -= 4 + (size_t)l;
    return why;
}

static const char *add_entries(Leaf *lf, const PqNode *n, const PageHeader *h, const uint8_t *rep, const uint8_t *def,
                               size_t rlen, size_t dlen, const uint8_t *vals, size_t vlen, int v1)
{
    size_t count = (size_t)h->num_values;
    if (lf->n + count > PQ_MAX_ENTRIES) return "a column chunk holds more values than fql reads in one row group";
    if (count == 0) return NULL;
    if (lf->n + count > lf->cap) {
        size_t cap = lf->cap ? lf->cap : 1024;
        while (cap < lf->n + count) cap *= 2;
        lf->def = xrealloc(lf->def, cap);
        lf->rep = xrealloc(lf->rep, cap);
        lf->vals = xrealloc(lf->vals, cap * sizeof *lf->vals);
        lf->cap = cap;
    }
    uint32_t *lv = xmalloc((count + 1) * sizeof *lv);
    const char *why = NULL;
    uint8_t *R = lf->rep + lf->n, *D = lf->def + lf->n;
    if (n->rep > 0) {
        why = v1 ? (h->rep_enc == ENC_RLE ? levels_v1(&vals, &vlen, n->rep, lv, count) : "repetition levels use an unsupported encoding")
                 : pq_hybrid_decode(rep, rlen, pq_bit_width((uint64_t)n->rep), lv, count);
        for (size_t i = 0; i < count && !why; i++) {
            if (lv[i] > (uint32_t)n->rep) why = "a repetition level is out of range";
            R[i] = (uint8_t)lv[i];
        }
        if (!why && count && R[0] != 0 && lf->n == 0) why = "the first value of a column chunk continues a previous row";
    } else memset(R, 0, count);
    if (!why && n->def > 0) {
        why = v1 ? (h->def_enc == ENC_RLE ? levels_v1(&vals, &vlen, n->def, lv, count) : "definition levels use an unsupported encoding")
                 : pq_hybrid_decode(def, dlen, pq_bit_width((uint64_t)n->def), lv, count);
        for (size_t i = 0; i < count && !why; i++) {
            if (lv[i] > (uint32_t)n->def) why = "a definition level is out of range";
            D[i] = (uint8_t)lv[i];
        }
    } else if (!why) memset(D, 0, count);
    size_t present = 0;
    for (size_t i = 0; i < count && !why; i++) present += D[i] == n->def;
    Value *tmp = NULL;
    if (!why && present == count) {   /* no null: decoded where they go */
        if (!leaf_plain(n)) memset(lf->vals + lf->n, 0, count * sizeof(Value));   /* what a failure frees */
        why = decode_values(n, lf, h->encoding, vals, vlen, lf->vals + lf->n, present);
        if (why) {   /* (a plain leaf's cells may be unset: nothing to free there) */
            for (size_t k = 0; k < present && !leaf_plain(n); k++) value_free(lf->vals[lf->n + k]);
            memset(lf->vals + lf->n, 0, count * sizeof(Value));
        }
    } else {
        if (!why) {
            tmp = xcalloc(present + 1, sizeof *tmp);
            why = decode_values(n, lf, h->encoding, vals, vlen, tmp, present);
        }
        for (size_t i = 0, k = 0; i < count; i++) lf->vals[lf->n + i] = !why && D[i] == n->def ? tmp[k++] : v_null();
        if (why && tmp)
            for (size_t k = 0; k < present; k++) value_free(tmp[k]);
        free(tmp);
    }
    free(lv);
    if (!why) lf->n += count;
    return why;
}

static const char *load_dict(Leaf *lf, const PqNode *n, const PageHeader *h, const uint8_t *p, size_t len)
{
    if (lf->dict) return "a column chunk has two dictionary pages";
    if (h->encoding != ENC_PLAIN && h->encoding != ENC_PLAIN_DICTIONARY) return "a dictionary page uses an unsupported encoding";
    if ((size_t)h->num_values > len * 8 + 8) return "a dictionary page holds fewer values than its header says";
    lf->ndict = (size_t)h->num_values;
    lf->dict = xcalloc(lf->ndict + 1, sizeof *lf->dict);
    return decode_plain(n, p, len, lf->dict, lf->ndict);
}

/* Read, decompress and decode one column chunk into lf. */
/* The bytes of column chunk c (the caller frees them), or NULL with err filled. */
static uint8_t *read_chunk(PqFile *pf, const Chunk *c, const PqNode *n, fql_error *err)
{
    if (c->num_values < 0 || c->num_values > (int64_t)PQ_MAX_ENTRIES) {
        pq_err(err, pf->path, n->dotted, "the column chunk's value count is out of range");
        return NULL;
    }
    uint8_t *raw = xtry_malloc((size_t)c->size + 1);
    if (!raw) {
        err_set(err, FQL_ERR_NOMEM, "%s: out of memory for a column chunk of %lld bytes (column %s)", pf->path, (long long)c->size, n->dotted);
        return NULL;
    }
    if (read_at(pf, c->start, raw, (size_t)c->size)) {
        free(raw);
        err_set(err, FQL_ERR_IO, "cannot read %s: %s", pf->path, strerror(errno));
        return NULL;
    }
    return raw;
}

/* Decode the pages of column chunk c (its bytes: raw, taken) into lf. 0, or -1 with err filled.
 * Reads only pf's metadata: chunks of one file decode on several threads at once. */
static int decode_chunk(const PqFile *pf, const Chunk *c, const PqNode *n, Leaf *lf, uint8_t *raw, fql_error *err)
{
    const uint8_t *p = raw, *end = raw + c->size;
    const char *why = NULL;
    uint8_t *page = NULL;
    while (!why && lf->n < (size_t)c->num_values) {
        if (p >= end) { why = "the column chunk ends before all its values (truncated file?)"; break; }
        ThriftIn in = { p, end, NULL, 0 };
        PageHeader h;
        why = read_page_header(&in, &h);
        if (why) break;
        p = in.p;
        if (h.csize > end - p) { why = "a page runs past the end of its column chunk"; break; }
        const uint8_t *body = p;
        p += h.csize;
        if (h.type == PAGE_INDEX) continue;
        if (h.type != PAGE_DATA && h.type != PAGE_DICTIONARY && h.type != PAGE_DATA_V2) { why = "a page has an unknown type"; break; }
        free(page);
        page = xtry_malloc((size_t)h.usize + 1);
        if (!page) { free(raw); return err_set(err, FQL_ERR_NOMEM, "%s: out of memory for a page of %lld bytes (column %s)", pf->path, (long long)h.usize, n->dotted); }
        if (h.type == PAGE_DATA_V2) {
            /* levels are stored uncompressed ahead of the (maybe compressed) values */
            size_t lv = (size_t)h.rep_len + (size_t)h.def_len;
            if (lv > (size_t)h.csize || lv > (size_t)h.usize) { why = "a page's level data is longer than the page"; break; }
            memcpy(page, body, lv);
            if (h.v2_compressed && c->codec != PQ_UNCOMPRESSED)
                why = decompress(c->codec, body + lv, (size_t)h.csize - lv, page + lv, (size_t)h.usize - lv);
            else if (h.csize != h.usize) why = "a page's sizes disagree";
            else memcpy(page + lv, body + lv, (size_t)h.usize - lv);
            if (!why)
                why = add_entries(lf, n, &h, page, page + h.rep_len, (size_t)h.rep_len, (size_t)h.def_len,
                                  page + lv, (size_t)h.usize - lv, 0);
            continue;
        }
        why = decompress(c->codec, body, (size_t)h.csize, page, (size_t)h.usize);
        if (why) break;
        if (h.type == PAGE_DICTIONARY) why = load_dict(lf, n, &h, page, (size_t)h.usize);
        else why = add_entries(lf, n, &h, NULL, NULL, 0, 0, page, (size_t)h.usize, 1);
    }
    free(page);
    free(raw);
    if (why) return pq_err(err, pf->path, n->dotted, why);
    return 0;
}

static int load_chunk(PqFile *pf, const Chunk *c, const PqNode *n, Leaf *lf, fql_error *err)
{
    uint8_t *raw = read_chunk(pf, c, n, err);
    return raw ? decode_chunk(pf, c, n, lf, raw, err) : -1;
}

/* ---- record assembly ---- */

typedef struct Asm { Leaf *leaves; const char *bad; } Asm;

/* Skip one entry of every leaf under n (n is null or empty here, so each holds exactly one). */
static void skip_entry(Asm *a, const PqNode *n)
{
    for (int i = 0; i < n->nleaves; i++) {
        Leaf *lf = &a->leaves[n->leaf0 + i];
        if (lf->pos < lf->n) lf->pos++;
        else a->bad = "columns of one group hold different numbers of rows";
    }
}

static Value build(Asm *a, const PqNode *n, int as_elem);

/* The elements of one list: elem repeated at node r's repetition level. */
static Value build_list(Asm *a, const PqNode *r, const PqNode *elem)
{
    Leaf *first = &a->leaves[r->leaf0];
    Value *items = NULL;
    uint32_t count = 0, cap = 0;
    do {
        if (count == cap) {
            cap = cap ? cap * 2 : 8;
            items = xrealloc(items, cap * sizeof *items);
        }
        items[count++] = build(a, elem, elem == r);
    } while (!a->bad && first->pos < first->n && first->rep[first->pos] >= r->rep);
    Value v = v_list_new(count);
    memcpy(v.u.l->items, items, count * sizeof *items);
    free(items);
    return v;
}

/* One instance of node n from the current entries of its leaves. as_elem: n is a repeated node
 * standing for one element of its list. */
static Value build(Asm *a, const PqNode *n, int as_elem)
{
    Leaf *first = &a->leaves[n->leaf0];
    if (n->nleaves == 0) return v_null();
    if (first->pos >= first->n) { a->bad = "columns of one group hold different numbers of rows"; return v_null(); }
    int d = first->def[first->pos];
    if (n->repetition == PQ_REPEATED && !as_elem) {          /* an unannotated repeated field */
        if (d < n->def) { skip_entry(a, n); return v_list_new(0); }
        return build_list(a, n, n);
    }
    if (d < n->def) {                                        /* null here or above */
        skip_entry(a, n);
        return v_null();
    }
    switch (n->shape) {
    case SH_LEAF: {
        Value v = first->vals[first->pos];
        first->vals[first->pos++] = v_null();
        return v;
    }
    case SH_LIST:
        if (d < n->repeated->def) { skip_entry(a, n); return v_list_new(0); }
        return build_list(a, n->repeated, n->elem);
    case SH_STRUCT:
        break;
    }
    Value v = v_struct_new(n->stype);
    for (int i = 0; i < n->nkids && !a->bad; i++) v.u.st->fields[i] = build(a, &n->kids[i], 0);
    return v;
}

/* ---- the Reader ---- */

static void unload(PqReader *r)
{
    if (r->leaves && r->file)
        for (int i = 0; i < r->file->nleaves; i++) leaf_clear(&r->leaves[i]);
}

static int load_group(PqReader *r, fql_error *err)
{
    PqFile *pf = r->file;
    const RowGroup *g = &pf->rgs[r->rg++];
    unload(r);
    for (int c = 0; c < pf->root.nkids; c++) {
        if (!r->need[c]) continue;
        const PqNode *top = &pf->root.kids[c];
        for (int l = top->leaf0; l < top->leaf0 + top->nleaves; l++)
            if (load_chunk(pf, &g->chunks[l], pf->leaves[l], &r->leaves[l], err)) return -1;
    }
    r->rows_left = g->num_rows;
    return 0;
}

/* Schemas of the files of one glob must agree (names and types). */
static int same_schema(const Schema *a, const Schema *b)
{
    if (a->n != b->n) return 0;
    for (int i = 0; i < a->n; i++)
        if (strcmp(a->names[i], b->names[i]) || !type_equal(a->types[i], b->types[i])) return 0;
    return 1;
}

static int next_file(PqReader *r, fql_error *err)
{
    unload(r);
    free(r->leaves);
    r->leaves = NULL;
    pqfile_free(r->file);
    r->file = NULL;
    if (r->cur >= r->npaths) return 0;
    Schema *s = NULL;
    const char *path = r->paths[r->cur++];
    r->file = pqfile_open(path, &s, err);
    if (!r->file) return -1;
    int same = same_schema(s, r->base.schema);
    schema_free(s);
    if (!same) return err_set(err, FQL_ERR_IO, "%s: its columns differ from those of %s (the files of a glob must share one schema)", path, r->paths[0]);
    r->leaves = xcalloc((size_t)r->file->nleaves + 1, sizeof *r->leaves);
    r->rg = 0;
    r->rows_left = 0;
    return 1;
}

/* The next n rows of the loaded leaves as a batch (columns not needed are null). 0, or -1 with
 * err filled. */
static int assemble(const PqFile *pf, const int *need, Leaf *leaves, size_t n, Batch **out, fql_error *err)
{
    int ncols = pf->root.nkids;
    Batch *b = batch_new(ncols, n);
    Asm a = { leaves, NULL };
    /* A top-level leaf that is not repeated holds one entry a row, already null where the row's is
     * (add_entries): its n values move into the column as they are. Nested and repeated columns
     * are assembled a row at a time. */
    for (int c = 0; c < ncols && !a.bad; c++) {
        const PqNode *nd = &pf->root.kids[c];
        if (!need[c]) {   /* null: the shared nulls where the batch can say so */
            if (n <= BATCH_ROWS && batch_bit(c)) {
                free(b->cols[c]);
                b->cols[c] = batch_nulls();
                b->shared |= batch_bit(c);
            } else
                memset(b->cols[c], 0, n * sizeof(Value));
            b->plain |= batch_bit(c);
            continue;
        }
        if (nd->shape == SH_LEAF && nd->rep == 0 && nd->repetition != PQ_REPEATED && nd->nleaves == 1) {
            Leaf *lf = &leaves[nd->leaf0];
            if (lf->n - lf->pos < n) {
                a.bad = "columns of one group hold different numbers of rows";
                for (int q = c; q < ncols; q++) memset(b->cols[q], 0, n * sizeof(Value));   /* nothing there yet */
                break;
            }
            memcpy(b->cols[c], lf->vals + lf->pos, n * sizeof(Value));
            if (leaf_plain(nd)) b->plain |= batch_bit(c);
            if (lf->moved == lf->pos) lf->moved += n;   /* moved: no longer the leaf's to free */
            else memset(lf->vals + lf->pos, 0, n * sizeof(Value));   /* (never so for a flat leaf: nulls there) */
            lf->pos += n;
            continue;
        }
        size_t i = 0;
        for (; i < n && !a.bad; i++) b->cols[c][i] = build(&a, nd, 0);
        if (a.bad) {   /* the cells not built yet are garbage: nulls, so that batch_free frees what was */
            memset(b->cols[c] + i, 0, (n - i) * sizeof(Value));
            for (int q = c + 1; q < ncols; q++) memset(b->cols[q], 0, n * sizeof(Value));
        }
    }
    b->n = n;
    if (a.bad) {
        batch_free(b);
        return pq_err(err, pf->path, NULL, a.bad);
    }
    *out = b;
    return 0;
}

/* ---- row groups decoded on threads ----
 *
 * The calling thread reads a row group's column chunks (the file is read by one thread: the
 * reads are sequential and cheap); a worker decompresses, decodes and assembles them into
 * batches; the row groups' batches leave in file order (pool.c's ordered map), so the rows are
 * those of one thread in the same order. At most threads + 1 row groups are in flight. */

enum { RG_TASK = 1, RG_OUT };
typedef struct RgTask { int tag; PqFile *pf; int rg; uint8_t **raw; } RgTask;   /* raw: per leaf (needed ones) */
typedef struct RgOut { int tag; Batch **b; int nb, pos; } RgOut;

static void rg_drop(void *item)
{
    if (!item) return;
    if (*(int *)item == RG_TASK) {
        RgTask *t = item;
        for (int l = 0; l < t->pf->nleaves; l++) free(t->raw[l]);
        free(t->raw);
    } else {
        RgOut *o = item;
        for (int i = o->pos; i < o->nb; i++) batch_free(o->b[i]);
        free(o->b);
    }
    free(item);
}

static int rg_pull(void *ctx, void **item, fql_error *err)
{
    PqReader *r = ctx;
    while (!r->file || r->rg >= r->file->nrg) {
        if (r->file) {   /* row groups of it may still be decoding: closed with the reader */
            r->kept = xrealloc(r->kept, (size_t)(r->nkept + 1) * sizeof *r->kept);
            r->kept[r->nkept++] = r->file;
            r->file = NULL;
        }
        int rc = next_file(r, err);
        if (rc <= 0) return rc;
    }
    PqFile *pf = r->file;
    const RowGroup *g = &pf->rgs[r->rg];
    RgTask *t = xcalloc(1, sizeof *t);
    t->tag = RG_TASK;
    t->pf = pf;
    t->rg = r->rg++;
    t->raw = xcalloc((size_t)pf->nleaves + 1, sizeof *t->raw);
    for (int c = 0; c < pf->root.nkids; c++) {
        if (!r->need[c]) continue;
        const PqNode *top = &pf->root.kids[c];
        for (int l = top->leaf0; l < top->leaf0 + top->nleaves; l++)
            if (!(t->raw[l] = read_chunk(pf, &g->chunks[l], pf->leaves[l], err))) { rg_drop(t); return -1; }
    }
    *item = t;
    return 1;
}

static int rg_work(void *ctx, int worker, void *item, void **out, fql_error *err)
{
    PqReader *r = ctx;
    RgTask *t = item;
    const PqFile *pf = t->pf;
    const RowGroup *g = &pf->rgs[t->rg];
    Leaf *leaves = xcalloc((size_t)pf->nleaves + 1, sizeof *leaves);
    int rc = 0;
    for (int l = 0; l < pf->nleaves && !rc; l++)
        if (t->raw[l]) {
            uint8_t *raw = t->raw[l];
            t->raw[l] = NULL;
            rc = decode_chunk(pf, &g->chunks[l], pf->leaves[l], &leaves[l], raw, err);
        }
    RgOut *o = xcalloc(1, sizeof *o);
    o->tag = RG_OUT;
    for (int64_t left = g->num_rows; !rc && left > 0;) {
        size_t n = left < BATCH_ROWS ? (size_t)left : BATCH_ROWS;
        Batch *b;
        if ((rc = assemble(pf, r->need, leaves, n, &b, err))) break;
        o->b = xrealloc(o->b, (size_t)(o->nb + 1) * sizeof *o->b);
        o->b[o->nb++] = b;
        left -= (int64_t)n;
    }
    for (int l = 0; l < pf->nleaves; l++) leaf_clear(&leaves[l]);
    free(leaves);
    rg_drop(t);
    if (rc) { rg_drop(o); return -1; }
    *out = o;
    return 0;
}

static int pq_threads_used(const Reader *base)
{
    const PqReader *r = (const PqReader *)base;
    return r->pm ? parmap_threads(r->pm) : 1;
}

static int pq_next_threads(PqReader *r, Batch **out, fql_error *err)
{
    if (!r->pm) r->pm = parmap_new(r->threads, r->threads + 1, rg_pull, rg_work, rg_drop, rg_drop, r);
    while (!r->out || r->out->pos == r->out->nb) {
        rg_drop(r->out);
        r->out = NULL;
        void *o = NULL;
        int rc = parmap_next(r->pm, &o, err);
        if (rc <= 0) return rc;
        r->out = o;
    }
    *out = r->out->b[r->out->pos++];
    return 1;
}

static int pq_next(Reader *base, Batch **out, fql_error *err)
{
    PqReader *r = (PqReader *)base;
    if (r->threads > 1) return pq_next_threads(r, out, err);
    while (r->rows_left == 0) {
        if (r->file && r->rg < r->file->nrg) {
            if (load_group(r, err)) return -1;
            continue;
        }
        int rc = next_file(r, err);
        if (rc <= 0) return rc;
    }
    size_t n = r->rows_left < BATCH_ROWS ? (size_t)r->rows_left : BATCH_ROWS;
    r->rows_left -= (int64_t)n;
    return assemble(r->file, r->need, r->leaves, n, out, err) ? -1 : 1;
}

static void pq_close(Reader *base)
{
    PqReader *r = (PqReader *)base;
    parmap_free(r->pm);   /* its workers stop before the files they read are closed */
    rg_drop(r->out);
    for (int i = 0; i < r->nkept; i++) pqfile_free(r->kept[i]);
    free(r->kept);
    unload(r);
    free(r->leaves);
    pqfile_free(r->file);
    for (int i = 0; i < r->npaths; i++) free(r->paths[i]);
    free(r->paths);
    free(r->need);
    schema_free(r->base.schema);
    free(r);
}

Reader *parquet_reader_open(char **paths, int npaths, const ReadOptions *o, fql_error *err)
{
    PqReader *r = xcalloc(1, sizeof *r);
    r->paths = paths;
    r->npaths = npaths;
    r->base.next = pq_next;
    r->base.close = pq_close;
    Schema *s = NULL;
    PqFile *pf = pqfile_open(paths[0], &s, err);
    if (!pf) {
        pq_close(&r->base);
        return NULL;
    }
    r->base.schema = s;
    r->need = xcalloc((size_t)s->n + 1, sizeof *r->need);
    for (int c = 0; c < s->n; c++) r->need[c] = o->projection ? o->projection[c] : 1;
    r->threads = o->threads;
    r->base.threads = pq_threads_used;
    /* the first file stays open for the first next() */
    r->file = pf;
    r->cur = 1;
    r->leaves = xcalloc((size_t)pf->nleaves + 1, sizeof *r->leaves);
    return &r->base;
}

double parquet_file_rows(const char *path)
{
    fql_error err;
    memset(&err, 0, sizeof err);
    Schema *s = NULL;
    PqFile *pf = pqfile_open(path, &s, &err);
    if (!pf) return -1;
    double rows = 0;
    for (int g = 0; g < pf->nrg; g++) rows += (double)pf->rgs[g].num_rows;
    schema_free(s);
    pqfile_free(pf);
    return rows;
}
