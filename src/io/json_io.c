/* json_io.c: the `json` reader (one array of objects per file, loaded whole by Jansson) and the
 * `jsonl` reader (one object per line, streamed; blank lines skipped).
 *
 * Schema: the union of the keys in order of first appearance. Types are inferred from the values:
 * int, float (a mix of ints and floats is float), bool, string (a top-level column whose strings
 * are all dates or timestamps becomes date or timestamp), objects -> struct (the union of their
 * fields), arrays -> list of the unified element type; anything incompatible -> json. A missing
 * key is null. json files are inferred from every object (they are in memory anyway); jsonl inputs
 * up to 64 MB are scanned in full, larger ones from the first sample_rows lines (a later value
 * that does not fit is a data error naming the file, line and column). Explicit `schema:` entries
 * win; a value that does not fit them is a data error.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <jansson.h>
#include "io_int.h"

#define FULL_SCAN_BYTES (64ull << 20)

/* ---- inference ---- */

/* The type of one JSON value (new reference). Nested nulls stay TY_NULL until finish(). */
static Type *infer_one(json_t *j);

/* A hash of a struct type's field names: name -> position (the first of equal names). */
static void field_index(const Type *t, StrMap *ix)
{
    for (int i = t->nfields - 1; i >= 0; i--) strmap_put(ix, t->fields[i].name, i);
}

/* The position of name among t's fields, or -1: from ix when it was filled (field_index), else
 * by type_field_index's linear search. */
static int field_at(const Type *t, const StrMap *ix, const char *name)
{
    if (!ix->n) return type_field_index(t, name);
    const int64_t *at = strmap_get(ix, name);
    return at ? (int)*at : -1;
}

/* Unify two inferred types: null+T = T, int+float = float, struct+struct = field union,
 * list+list = list of the unified element, otherwise json. Consumes a and b. */
static Type *junify(Type *a, Type *b)
{
    if (a->kind == TY_NULL) { type_unref(a); return b; }
    if (b->kind == TY_NULL) { type_unref(b); return a; }
    Type *r;
    if (a->kind == b->kind && a->kind != TY_STRUCT && a->kind != TY_LIST) {
        type_unref(b);
        return a;
    }
    if ((a->kind == TY_INT && b->kind == TY_FLOAT) || (a->kind == TY_FLOAT && b->kind == TY_INT)) {
        r = type_float();
    } else if (a->kind == TY_LIST && b->kind == TY_LIST) {
        r = type_list(junify(type_ref(a->elem), type_ref(b->elem)));
    } else if (a->kind == TY_STRUCT && b->kind == TY_STRUCT) {
        /* wide objects: look the names up in a hash (type_field_index is a linear search) */
        int wide = (int64_t)a->nfields * b->nfields > 4096;
        StrMap ai = { 0 }, bi = { 0 };
        if (wide) { field_index(a, &ai); field_index(b, &bi); }
        int n = a->nfields;
        for (int i = 0; i < b->nfields; i++) n += field_at(a, &ai, b->fields[i].name) < 0;
        r = type_struct_new(n);
        for (int i = 0; i < a->nfields; i++) {
            int k = field_at(b, &bi, a->fields[i].name);
            r->fields[i].name = xstrdup(a->fields[i].name);
            r->fields[i].type = k < 0 ? type_ref(a->fields[i].type)
                                      : junify(type_ref(a->fields[i].type), type_ref(b->fields[k].type));
        }
        int m = a->nfields;
        for (int i = 0; i < b->nfields; i++) {
            if (field_at(a, &ai, b->fields[i].name) >= 0) continue;
            r->fields[m].name = xstrdup(b->fields[i].name);
            r->fields[m].type = type_ref(b->fields[i].type);
            m++;
        }
        strmap_free(&ai);
        strmap_free(&bi);
    } else {
        r = type_json();
    }
    type_unref(a);
    type_unref(b);
    return r;
}

static Type *infer_one(json_t *j)
{
    switch (json_typeof(j)) {
    case JSON_NULL: return type_null();
    case JSON_TRUE: case JSON_FALSE: return type_bool();
    case JSON_INTEGER: return type_int();
    case JSON_REAL: return type_float();
    case JSON_STRING: return type_string();
    case JSON_ARRAY: {
        Type *e = type_null();
        size_t i;
        json_t *x;
        json_array_foreach(j, i, x) e = junify(e, infer_one(x));
        return type_list(e);
    }
    case JSON_OBJECT: {
        Type *t = type_struct_new((int)json_object_size(j));
        const char *k;
        json_t *x;
        int i = 0;
        json_object_foreach(j, k, x) {
            t->fields[i].name = xstrdup(k);
            t->fields[i].type = infer_one(x);
            i++;
        }
        return t;
    }
    }
    return type_json();
}

/* Replace the nulls left inside lists and structs by json (a field that was always null). */
static Type *finish(Type *t)
{
    if (t->kind == TY_NULL) { type_unref(t); return type_json(); }
    if (t->kind == TY_LIST) {
        Type *r = type_list(finish(type_ref(t->elem)));
        type_unref(t);
        return r;
    }
    if (t->kind == TY_STRUCT) {
        Type *r = type_struct_new(t->nfields);
        for (int i = 0; i < t->nfields; i++) {
            r->fields[i].name = xstrdup(t->fields[i].name);
            r->fields[i].type = finish(type_ref(t->fields[i].type));
        }
        type_unref(t);
        return r;
    }
    return t;
}

typedef struct Cols {
    int n, cap;
    char **names;
    Type **types;
    unsigned *smask;        /* for string columns: FIT_DATE|FIT_TS while every string fits */
    StrMap index;           /* name -> its position in names */
} Cols;

static void cols_add_object(Cols *c, json_t *obj)
{
    const char *k;
    json_t *x;
    json_object_foreach(obj, k, x) {
        const int64_t *at = strmap_get(&c->index, k);   /* a hash lookup: 60,000 keys were quadratic */
        int i = at ? (int)*at : c->n;
        if (i == c->n) {
            if (c->n == c->cap) {
                c->cap = c->cap ? c->cap * 2 : 16;
                c->names = xrealloc(c->names, (size_t)c->cap * sizeof *c->names);
                c->types = xrealloc(c->types, (size_t)c->cap * sizeof *c->types);
                c->smask = xrealloc(c->smask, (size_t)c->cap * sizeof *c->smask);
            }
            c->names[i] = xstrdup(k);
            strmap_put(&c->index, k, i);
            c->types[i] = type_null();
            c->smask[i] = FIT_DATE | FIT_TS;
            c->n++;
        }
        if (json_is_string(x)) c->smask[i] &= io_text_fits(json_string_value(x), json_string_length(x));
        if (c->types[i]->kind != TY_JSON) c->types[i] = junify(c->types[i], infer_one(x));
    }
}

static void cols_free(Cols *c)
{
    for (int i = 0; i < c->n; i++) {
        free(c->names[i]);
        type_unref(c->types[i]);
    }
    free(c->names);
    free(c->types);
    free(c->smask);
    strmap_free(&c->index);
}

/* ---- the reader ---- */

typedef struct JsonReader {
    Reader base;
    int lines;                  /* jsonl */
    char **paths; int npaths, cur;
    FILE *f; long line;         /* jsonl: the open file and its line number */
    json_t *arr; size_t idx;    /* json: the loaded array of the current file */
    char *linebuf; size_t linecap;
    uint8_t *explicit_type;
    int *proj;                  /* 1 if the column is needed */
    size_t sample_rows;
} JsonReader;

static void json_close(Reader *base)
{
    JsonReader *r = (JsonReader *)base;
    if (r->f) fclose(r->f);
    json_decref(r->arr);
    for (int i = 0; i < r->npaths; i++) free(r->paths[i]);
    free(r->paths);
    free(r->linebuf);
    free(r->explicit_type);
    free(r->proj);
    schema_free(r->base.schema);
    free(r);
}

/* Open file k. json: load the array; jsonl: open the stream. */
static int open_json_file(JsonReader *r, int k, fql_error *err)
{
    if (r->f) { fclose(r->f); r->f = NULL; }
    json_decref(r->arr);
    r->arr = NULL;
    r->cur = k;
    r->line = 0;
    r->idx = 0;
    const char *path = r->paths[k];
    if (r->lines) {
        r->f = fopen(path, "rb");
        if (!r->f) return err_set(err, FQL_ERR_IO, "cannot open %s: %s", path, strerror(errno));
        return 0;
    }
    json_error_t je;
    r->arr = json_load_file(path, JSON_DECODE_ANY, &je);
    if (!r->arr) {
        if (strstr(je.text, "No such file") || strstr(je.text, "unable to open"))
            return err_set(err, FQL_ERR_IO, "cannot open %s: %s", path, je.text);
        return err_data(err, path, je.line, je.column, "invalid JSON: %s", je.text);
    }
    if (!json_is_array(r->arr)) {
        const char *kind = json_is_object(r->arr) ? "an object" : "not an array";
        return err_data(err, path, 1, 1, "a json file must hold one array of objects (this one holds %s); for one object per line use jsonl(...)", kind);
    }
    return 0;
}

/* The next object of the input (new reference in *out). 1: an object; 0: end; -1: error.
 * *where is the line (jsonl) or the 1-based index in the array (json). */
static int next_object(JsonReader *r, json_t **out, long *where, fql_error *err)
{
    for (;;) {
        if (r->cur >= r->npaths) return 0;
        const char *path = r->paths[r->cur];
        if (!r->lines) {
            if (r->arr && r->idx < json_array_size(r->arr)) {
                json_t *o = json_array_get(r->arr, r->idx++);
                *where = (long)r->idx;
                if (!json_is_object(o))
                    return err_data(err, path, (long)r->idx, 0, "item %zu of the array is not an object", r->idx);
                *out = json_incref(o);
                return 1;
            }
        } else if (r->f) {
            ssize_t n = getline(&r->linebuf, &r->linecap, r->f);
            if (n >= 0) {
                r->line++;
                size_t i = 0;
                while (i < (size_t)n && (r->linebuf[i] == ' ' || r->linebuf[i] == '\t' || r->linebuf[i] == '\r' || r->linebuf[i] == '\n')) i++;
                if (i == (size_t)n) continue;                 /* blank line */
                if (r->line == 1 && n >= 3 && memcmp(r->linebuf, "\xEF\xBB\xBF", 3) == 0) {
                    memmove(r->linebuf, r->linebuf + 3, (size_t)n - 2);
                    n -= 3;
                }
                json_error_t je;
                json_t *o = json_loadb(r->linebuf, (size_t)n, 0, &je);
                *where = r->line;
                if (!o) return err_data(err, path, r->line, je.column, "invalid JSON: %s", je.text);
                if (!json_is_object(o)) {
                    json_decref(o);
                    return err_data(err, path, r->line, 1, "a jsonl line must hold one object");
                }
                *out = o;
                return 1;
            }
        }
        if (r->cur + 1 >= r->npaths) { r->cur = r->npaths; return 0; }
        if (open_json_file(r, r->cur + 1, err) < 0) return -1;
    }
}

static int json_next(Reader *base, Batch **out, fql_error *err)
{
    JsonReader *r = (JsonReader *)base;
    const Schema *s = r->base.schema;
    Batch *b = NULL;
    json_t *o;
    long where;
    int rc;
    *out = NULL;
    while ((rc = next_object(r, &o, &where, err)) == 1) {
        if (!b) b = batch_new(s->n, io_batch_rows(s->n));
        size_t row = b->n;
        for (int c = 0; c < s->n; c++) {
            json_t *x = r->proj[c] ? json_object_get(o, s->names[c]) : NULL;
            const char *why = NULL;
            Value v = x ? value_from_jansson(x, s->types[c], &why) : v_null();
            if (why) {
                char *tn = type_to_string(s->types[c]);
                if (r->explicit_type[c])
                    err_data(err, r->paths[r->cur], where, c + 1, "column '%s': %s (schema says %s)", s->names[c], why, tn);
                else
                    err_data(err, r->paths[r->cur], where, c + 1,
                             "column '%s': %s (the type %s was inferred from the first %zu lines); read it as json with `schema: {%s: json}`",
                             s->names[c], why, tn, r->sample_rows, s->names[c]);
                free(tn);
                for (int k = 0; k < c; k++) value_free(b->cols[k][row]);
                json_decref(o);
                batch_free(b);
                return -1;
            }
            b->cols[c][row] = v;
        }
        b->n++;
        json_decref(o);
        if (b->n == b->cap) break;
    }
    if (rc < 0) { batch_free(b); return -1; }
    if (!b) return 0;
    *out = b;
    return 1;
}

Reader *json_reader_open(char **paths, int npaths, const ReadOptions *o, fql_error *err)
{
    JsonReader *r = xcalloc(1, sizeof *r);
    r->base.next = json_next;
    r->base.close = json_close;
    r->lines = o->format == FMT_JSONL;
    r->paths = paths;
    r->npaths = npaths;
    r->sample_rows = o->sample_rows ? o->sample_rows : 10000;
    Cols cols = { 0, 0, NULL, NULL, NULL, { 0 } };

    /* inference */
    uint64_t total = 0;
    for (int i = 0; i < npaths; i++) {
        struct stat st;
        if (stat(paths[i], &st) == 0) total += (uint64_t)st.st_size;
    }
    size_t limit = (!r->lines || total <= FULL_SCAN_BYTES) ? 0 : r->sample_rows;
    if (open_json_file(r, 0, err) < 0) goto fail;
    json_t *obj;
    long where;
    int rc;
    size_t seen = 0;
    while ((limit == 0 || seen < limit) && (rc = next_object(r, &obj, &where, err)) == 1) {
        cols_add_object(&cols, obj);
        json_decref(obj);
        seen++;
    }
    if (err_failed(err)) goto fail;

    Schema *s = schema_new();
    r->base.schema = s;
    r->explicit_type = xcalloc((size_t)(cols.n + (o->schema ? o->schema->n : 0) + 1), 1);
    for (int c = 0; c < cols.n; c++) {
        int e = o->schema ? schema_find(o->schema, cols.names[c]) : -1;
        Type *t;
        if (e >= 0) {
            t = type_ref(o->schema->types[e]);
            r->explicit_type[c] = 1;
        } else {
            t = cols.types[c];
            cols.types[c] = type_null();
            if (t->kind == TY_NULL) { type_unref(t); t = type_string(); }
            else if (t->kind == TY_STRING && (cols.smask[c] & FIT_DATE)) { type_unref(t); t = type_date(); }
            else if (t->kind == TY_STRING && (cols.smask[c] & FIT_TS)) { type_unref(t); t = type_timestamp(); }
            else t = finish(t);
        }
        schema_add(s, cols.names[c], t);
    }
    /* explicit entries for keys never seen in the sample still become columns */
    for (int i = 0; o->schema && i < o->schema->n; i++) {
        if (schema_find(s, o->schema->names[i]) >= 0) continue;
        r->explicit_type[s->n] = 1;
        schema_add(s, o->schema->names[i], type_ref(o->schema->types[i]));
    }
    r->proj = xmalloc((size_t)(s->n + 1) * sizeof *r->proj);
    for (int c = 0; c < s->n; c++) r->proj[c] = !o->projection || o->projection[c];
    cols_free(&cols);
    if (open_json_file(r, 0, err) < 0) { json_close(&r->base); return NULL; }
    return &r->base;
fail:
    cols_free(&cols);
    json_close(&r->base);
    return NULL;
}
