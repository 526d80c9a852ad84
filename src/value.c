/* value.c: FQL types and values (see value.h for the ownership rules).
 *
 * Reference counts are updated with atomic builtins: values cross threads (the scheduler hands
 * rows to worker threads and back), and an atomic add costs little next to the work per row.
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>
#include "value.h"

#define REF_INC(p) __atomic_add_fetch(&(p)->refcnt, 1, __ATOMIC_RELAXED)
#define REF_DEC(p) __atomic_sub_fetch(&(p)->refcnt, 1, __ATOMIC_ACQ_REL)

/* ================================================================================== types === */

#define STATIC_TYPE(var, k) static Type var = { k, -1, 1, NULL, NULL, 0, NULL, 0, NULL, 0 }
STATIC_TYPE(t_null, TY_NULL);
STATIC_TYPE(t_bool, TY_BOOL);
STATIC_TYPE(t_int, TY_INT);
STATIC_TYPE(t_float, TY_FLOAT);
STATIC_TYPE(t_string, TY_STRING);
STATIC_TYPE(t_date, TY_DATE);
STATIC_TYPE(t_timestamp, TY_TIMESTAMP);
STATIC_TYPE(t_json, TY_JSON);
STATIC_TYPE(t_any, TY_ANY);

Type *type_null(void) { return &t_null; }
Type *type_bool(void) { return &t_bool; }
Type *type_int(void) { return &t_int; }
Type *type_float(void) { return &t_float; }
Type *type_string(void) { return &t_string; }
Type *type_date(void) { return &t_date; }
Type *type_timestamp(void) { return &t_timestamp; }
Type *type_json(void) { return &t_json; }
Type *type_any(void) { return &t_any; }

/* A fresh heap type of kind k with one reference. */
static Type *type_alloc(TypeKind k)
{
    Type *t = xcalloc(1, sizeof *t);
    t->kind = k;
    t->refcnt = 1;
    t->nullable = TYPE_NULLABLE;
    return t;
}

Type *type_list(Type *elem)
{
    Type *t = type_alloc(TY_LIST);
    t->elem = elem ? elem : type_any();
    return t;
}

Type *type_struct_new(int nfields)
{
    Type *t = type_alloc(TY_STRUCT);
    t->nfields = nfields;
    t->fields = nfields > 0 ? xcalloc((size_t)nfields, sizeof(Field)) : NULL;
    return t;
}

Type *type_enum_new(int nlabels, char **labels)
{
    Type *t = type_alloc(TY_ENUM);
    t->nlabels = nlabels;
    t->labels = labels;
    return t;
}

Type *type_vector(int dim)
{
    Type *t = type_alloc(TY_VECTOR);
    t->dim = dim;
    return t;
}

Type *type_ref(Type *t)
{
    /* the count is read atomically too: types are shared by rows built on several threads */
    if (t && __atomic_load_n(&t->refcnt, __ATOMIC_RELAXED) >= 0) REF_INC(t);
    return t;
}

/* Drop a reference; frees the type and what it owns at zero. NULL-safe; no-op on singletons. */
void type_unref(Type *t)
{
    if (!t || __atomic_load_n(&t->refcnt, __ATOMIC_RELAXED) < 0) return;
    if (REF_DEC(t) > 0) return;
    free(t->name);
    type_unref(t->elem);
    for (int i = 0; i < t->nfields; i++) {
        free(t->fields[i].name);
        type_unref(t->fields[i].type);
        free(t->fields[i].desc);
    }
    free(t->fields);
    for (int i = 0; i < t->nlabels; i++) free(t->labels[i]);
    free(t->labels);
    free(t);
}

/* A shallow copy of t (children shared by reference) with one reference. */
static Type *type_clone(const Type *t)
{
    Type *c = type_alloc(t->kind);
    c->nullable = t->nullable;
    c->name = t->name ? xstrdup(t->name) : NULL;
    c->elem = type_ref(t->elem);
    c->dim = t->dim;
    if (t->nfields) {
        c->nfields = t->nfields;
        c->fields = xcalloc((size_t)t->nfields, sizeof(Field));
        for (int i = 0; i < t->nfields; i++) {
            c->fields[i].name = xstrdup(t->fields[i].name);
            c->fields[i].type = type_ref(t->fields[i].type);
            c->fields[i].desc = t->fields[i].desc ? xstrdup(t->fields[i].desc) : NULL;
        }
    }
    if (t->nlabels) {
        c->nlabels = t->nlabels;
        c->labels = xmalloc(sizeof(char *) * (size_t)t->nlabels);
        for (int i = 0; i < t->nlabels; i++) c->labels[i] = xstrdup(t->labels[i]);
    }
    return c;
}

Type *type_with_nullable(Type *t, int nullable)
{
    if (!t || t->nullable == nullable) return t;
    Type *c = type_clone(t);
    c->nullable = nullable;
    type_unref(t);
    return c;
}

/* Structural equality: names of declared types and nullability do not matter. */
int type_equal(const Type *a, const Type *b)
{
    if (a == b) return 1;
    if (!a || !b || a->kind != b->kind) return 0;
    switch (a->kind) {
    case TY_LIST: return type_equal(a->elem, b->elem);
    case TY_VECTOR: return a->dim == b->dim;
    case TY_STRUCT:
        if (a->nfields != b->nfields) return 0;
        for (int i = 0; i < a->nfields; i++)
            if (strcmp(a->fields[i].name, b->fields[i].name) ||
                !type_equal(a->fields[i].type, b->fields[i].type))
                return 0;
        return 1;
    case TY_ENUM:
        if (a->nlabels != b->nlabels) return 0;
        for (int i = 0; i < a->nlabels; i++)
            if (strcmp(a->labels[i], b->labels[i])) return 0;
        return 1;
    default: return 1;
    }
}

int type_is_numeric(const Type *t)
{
    return t && (t->kind == TY_INT || t->kind == TY_FLOAT || t->kind == TY_NULL);
}

int type_is_stringish(const Type *t)
{
    return t && (t->kind == TY_STRING || t->kind == TY_ENUM || t->kind == TY_NULL);
}

Type *type_unify(Type *a, Type *b)
{
    if (!a || !b) return NULL;
    if (a->kind == TY_NULL) return type_ref(b);
    if (b->kind == TY_NULL) return type_ref(a);
    if (a->kind == TY_ANY) return type_ref(a);
    if (b->kind == TY_ANY) return type_ref(b);
    if (type_equal(a, b)) return type_ref(a);
    TypeKind ka = a->kind, kb = b->kind;
    if ((ka == TY_INT && kb == TY_FLOAT) || (ka == TY_FLOAT && kb == TY_INT)) return type_float();
    if ((ka == TY_ENUM || ka == TY_STRING) && (kb == TY_ENUM || kb == TY_STRING)) return type_string();
    if ((ka == TY_DATE && kb == TY_TIMESTAMP) || (ka == TY_TIMESTAMP && kb == TY_DATE)) return type_timestamp();
    if (ka == TY_LIST && kb == TY_LIST) {
        Type *e = type_unify(a->elem, b->elem);
        return e ? type_list(e) : NULL;
    }
    if ((ka == TY_VECTOR && kb == TY_LIST) || (ka == TY_LIST && kb == TY_VECTOR)) {
        const Type *l = ka == TY_LIST ? a : b;
        if (type_is_numeric(l->elem) || l->elem->kind == TY_ANY) return type_list(type_float());
        return NULL;
    }
    if (ka == TY_VECTOR && kb == TY_VECTOR) return type_list(type_float());   /* dims differ */
    if (ka == TY_STRUCT && kb == TY_STRUCT && a->nfields == b->nfields) {
        Type *t = type_struct_new(a->nfields);
        for (int i = 0; i < a->nfields; i++) {
            Type *f = strcmp(a->fields[i].name, b->fields[i].name) ? NULL
                    : type_unify(a->fields[i].type, b->fields[i].type);
            if (!f) {
                type_unref(t);
                return NULL;
            }
            t->fields[i].name = xstrdup(a->fields[i].name);
            t->fields[i].type = f;
            if (a->fields[i].desc) t->fields[i].desc = xstrdup(a->fields[i].desc);
        }
        return t;
    }
    return NULL;
}

/* Append s as a double-quoted FQL/JSON string literal. */
static void put_quoted(Buf *b, const char *s, size_t n);

static void type_write(Buf *b, const Type *t, int top)
{
    if (t->name && !top) {
        buf_puts(b, t->name);
    } else {
        switch (t->kind) {
        case TY_NULL: buf_puts(b, "null"); break;
        case TY_BOOL: buf_puts(b, "bool"); break;
        case TY_INT: buf_puts(b, "int"); break;
        case TY_FLOAT: buf_puts(b, "float"); break;
        case TY_STRING: buf_puts(b, "string"); break;
        case TY_DATE: buf_puts(b, "date"); break;
        case TY_TIMESTAMP: buf_puts(b, "timestamp"); break;
        case TY_JSON: buf_puts(b, "json"); break;
        case TY_ANY: buf_puts(b, "any"); break;
        case TY_VECTOR: buf_printf(b, "vector(%d)", t->dim); break;
        case TY_LIST:
            buf_putc(b, '[');
            type_write(b, t->elem, 0);
            buf_putc(b, ']');
            break;
        case TY_STRUCT:
            buf_putc(b, '{');
            for (int i = 0; i < t->nfields; i++) {
                if (i) buf_puts(b, ", ");
                buf_puts(b, t->fields[i].name);
                buf_puts(b, ": ");
                type_write(b, t->fields[i].type, 0);
            }
            buf_putc(b, '}');
            break;
        case TY_ENUM:
            buf_puts(b, "enum(");
            for (int i = 0; i < t->nlabels; i++) {
                if (i) buf_puts(b, ", ");
                put_quoted(b, t->labels[i], strlen(t->labels[i]));
            }
            buf_putc(b, ')');
            break;
        }
    }
    if (t->nullable == TYPE_DECLARED_NULLABLE) buf_putc(b, '?');
    else if (t->nullable == TYPE_NOT_NULL) buf_putc(b, '!');
}

/* A declared type prints as its name ("Triage"); its fields' declared types likewise. */
char *type_to_string(const Type *t)
{
    Buf b;
    buf_init(&b);
    if (!t) buf_puts(&b, "?");
    else if (t->name) buf_puts(&b, t->name);
    else type_write(&b, t, 1);
    return buf_take(&b);
}

int type_field_index(const Type *t, const char *name)
{
    if (!t || t->kind != TY_STRUCT) return -1;
    for (int i = 0; i < t->nfields; i++)
        if (strcmp(t->fields[i].name, name) == 0) return i;
    return -1;
}

/* The schema of t; allow_null adds "null" to the accepted types when t was declared `T?`.
 * json/any/null have no strict-mode form and become {} (any JSON value). */
static json_t *schema_of(const Type *t, const char *desc)
{
    json_t *s = json_object();
    const char *ty = NULL, *fmt = NULL;
    int nullable = t->nullable == TYPE_DECLARED_NULLABLE;
    switch (t->kind) {
    case TY_BOOL: ty = "boolean"; break;
    case TY_INT: ty = "integer"; break;
    case TY_FLOAT: ty = "number"; break;
    case TY_STRING: ty = "string"; break;
    case TY_DATE: ty = "string"; fmt = "date"; break;
    case TY_TIMESTAMP: ty = "string"; fmt = "date-time"; break;
    case TY_ENUM: ty = "string"; break;
    case TY_LIST: case TY_VECTOR: ty = "array"; break;
    case TY_STRUCT: ty = "object"; break;
    default: nullable = 0; break;
    }
    if (ty) {
        if (nullable) {
            json_t *arr = json_array();
            json_array_append_new(arr, json_string(ty));
            json_array_append_new(arr, json_string("null"));
            json_object_set_new(s, "type", arr);
        } else {
            json_object_set_new(s, "type", json_string(ty));
        }
    }
    if (fmt) json_object_set_new(s, "format", json_string(fmt));
    if (desc && *desc) json_object_set_new(s, "description", json_string(desc));
    if (t->kind == TY_ENUM) {
        json_t *e = json_array();
        for (int i = 0; i < t->nlabels; i++) json_array_append_new(e, json_string(t->labels[i]));
        if (nullable) json_array_append_new(e, json_null());
        json_object_set_new(s, "enum", e);
    } else if (t->kind == TY_LIST) {
        json_object_set_new(s, "items", schema_of(t->elem, NULL));
    } else if (t->kind == TY_VECTOR) {
        json_t *it = json_object();
        json_object_set_new(it, "type", json_string("number"));
        json_object_set_new(s, "items", it);
    } else if (t->kind == TY_STRUCT) {
        json_t *props = json_object(), *req = json_array();
        for (int i = 0; i < t->nfields; i++) {
            json_object_set_new(props, t->fields[i].name, schema_of(t->fields[i].type, t->fields[i].desc));
            json_array_append_new(req, json_string(t->fields[i].name));
        }
        json_object_set_new(s, "properties", props);
        json_object_set_new(s, "required", req);
        json_object_set_new(s, "additionalProperties", json_false());
    }
    return s;
}

/* The top level is never made nullable: providers want an object there. */
json_t *type_json_schema(const Type *t)
{
    if (!t) return json_object();
    if (t->nullable != TYPE_DECLARED_NULLABLE) return schema_of(t, NULL);
    Type tmp = *t;
    tmp.nullable = TYPE_NULLABLE;
    return schema_of(&tmp, NULL);
}

/* ================================================================================= values === */

Str *str_alloc(size_t n)
{
    Str *s = xmalloc(sizeof(Str) + n + 1);
    s->refcnt = 1;
    s->hash = 0;
    s->len = n;
    s->data[n] = 0;
    return s;
}

Str *str_new(const char *p, size_t n)
{
    Str *s = str_alloc(n);
    if (n) memcpy(s->data, p, n);
    return s;
}

Value v_string(const char *s, size_t n)
{
    Value v;
    v.kind = V_STRING;
    v.u.s = str_new(s, n);
    return v;
}

Value v_cstring(const char *s) { return v_string(s, strlen(s)); }

Value v_string_take(Str *s)
{
    Value v;
    v.kind = V_STRING;
    v.u.s = s;
    return v;
}

Value v_json_text(const char *s, size_t n)
{
    Value v;
    v.kind = V_JSON;
    v.u.s = str_new(s, n);
    return v;
}

Value v_list_new(uint32_t n)
{
    List *l = xmalloc(sizeof *l);
    l->refcnt = 1;
    l->n = n;
    l->items = n ? xcalloc(n, sizeof(Value)) : NULL;   /* all-zero bytes is V_NULL */
    Value v;
    v.kind = V_LIST;
    v.u.l = l;
    return v;
}

Value v_struct_new(Type *type)
{
    Struct *st = xmalloc(sizeof *st);
    st->refcnt = 1;
    st->type = type_ref(type);
    st->n = type && type->kind == TY_STRUCT ? (uint32_t)type->nfields : 0;
    st->fields = st->n ? xcalloc(st->n, sizeof(Value)) : NULL;
    Value v;
    v.kind = V_STRUCT;
    v.u.st = st;
    return v;
}

Value value_copy(Value v)
{
    switch (v.kind) {
    case V_STRING: case V_JSON: REF_INC(v.u.s); break;
    case V_LIST: REF_INC(v.u.l); break;
    case V_STRUCT: REF_INC(v.u.st); break;
    default: break;
    }
    return v;
}

/* Free the object of v, whose last reference is gone. */
static void value_destroy(Value v)
{
    switch (v.kind) {
    case V_STRING: case V_JSON:
        free(v.u.s);
        break;
    case V_LIST:
        for (uint32_t i = 0; i < v.u.l->n; i++) value_free(v.u.l->items[i]);
        free(v.u.l->items);
        free(v.u.l);
        break;
    case V_STRUCT:
        for (uint32_t i = 0; i < v.u.st->n; i++) value_free(v.u.st->fields[i]);
        free(v.u.st->fields);
        type_unref(v.u.st->type);
        free(v.u.st);
        break;
    default: break;
    }
}

void value_free(Value v)
{
    switch (v.kind) {
    case V_STRING: case V_JSON:
        if (REF_DEC(v.u.s) == 0) free(v.u.s);
        break;
    case V_LIST:
        if (REF_DEC(v.u.l) == 0) value_destroy(v);
        break;
    case V_STRUCT:
        if (REF_DEC(v.u.st) == 0) value_destroy(v);
        break;
    default: break;
    }
}

/* ---- references taken and dropped a column at a time ----
 *
 * A column of a few shared objects (a join's dimension strings, a group's key) would otherwise
 * change each object's count once a row, with an atomic operation on a line that other threads
 * change too. Here the changes are counted per object first (a small table, on the stack), then
 * made once per object. An object the table has no room for is counted at once, as before; after
 * RC_SPILLS of those the table is given up (a column of distinct objects gains nothing from it). */
enum { RC_SLOTS = 64, RC_PROBES = 4, RC_SPILLS = 64 };
typedef struct RcTab { Value v[RC_SLOTS]; int32_t n[RC_SLOTS]; int spills; } RcTab;

static int32_t *refcnt_of(Value v) { return (int32_t *)(void *)v.u.s; }   /* Str, List, Struct: refcnt first */

/* Count one change for heap value v: 1 when counted in the table, 0 when the caller must make it. */
static int rc_note(RcTab *t, Value v)
{
    if (t->spills >= RC_SPILLS) return 0;
    uint64_t h = ((uint64_t)(uintptr_t)v.u.s >> 4) * 0x9E3779B97F4A7C15ULL;
    for (int k = 0; k < RC_PROBES; k++) {
        size_t i = (size_t)((h >> 58) + (uint64_t)k) & (RC_SLOTS - 1);
        if (t->n[i] == 0) { t->v[i] = v; t->n[i] = 1; return 1; }
        if (t->v[i].u.s == v.u.s) { t->n[i]++; return 1; }
    }
    t->spills++;
    return 0;
}

static inline int on_heap(int kind) { return kind == V_STRING || kind >= V_JSON; }

/* The first value of v[0..n) on the heap (n when none). */
static size_t first_heap(const Value *v, size_t n)
{
    size_t i = 0;
    while (i < n && !on_heap(v[i].kind)) i++;
    return i;
}

/* Take (drop == 0) or drop one reference on each heap value of v[0..n). */
static void rc_column(const Value *v, size_t n, int drop)
{
    size_t i = first_heap(v, n);
    if (i == n) return;
    RcTab t;
    memset(t.n, 0, sizeof t.n);
    t.spills = 0;
    for (; i < n; i++) {
        if (!on_heap(v[i].kind) || rc_note(&t, v[i])) continue;
        if (drop) value_free(v[i]);   /* no room in the table: at once */
        else (void)value_copy(v[i]);
    }
    for (int k = 0; k < RC_SLOTS; k++) {
        if (!t.n[k]) continue;
        if (!drop) __atomic_add_fetch(refcnt_of(t.v[k]), t.n[k], __ATOMIC_RELAXED);
        else if (__atomic_sub_fetch(refcnt_of(t.v[k]), t.n[k], __ATOMIC_ACQ_REL) == 0) value_destroy(t.v[k]);
    }
}

void values_ref(const Value *v, size_t n) { rc_column(v, n, 0); }
void values_free(const Value *v, size_t n) { rc_column(v, n, 1); }

/* Position of a kind in the total order: ints and floats share one rank. */
static int kind_rank(int k)
{
    switch (k) {
    case V_NULL: return 0;
    case V_BOOL: return 1;
    case V_INT: case V_FLOAT: return 2;
    case V_STRING: return 3;
    case V_DATE: return 4;
    case V_TIMESTAMP: return 5;
    case V_JSON: return 6;
    case V_LIST: return 7;
    default: return 8;
    }
}

/* Exact comparison of an int and a double (no rounding of large ints). NaN sorts above all
 * numbers. */
static int cmp_int_float(int64_t i, double f)
{
    if (isnan(f)) return -1;
    if (f >= 9223372036854775808.0) return -1;
    if (f < -9223372036854775808.0) return 1;
    double t = trunc(f);
    int64_t ti = (int64_t)t;
    if (i != ti) return i < ti ? -1 : 1;
    double frac = f - t;
    return frac > 0 ? -1 : frac < 0 ? 1 : 0;
}

static int cmp_float(double a, double b)
{
    if (isnan(a)) return isnan(b) ? 0 : 1;
    if (isnan(b)) return -1;
    return a < b ? -1 : a > b ? 1 : 0;   /* -0.0 == 0.0 */
}

static int cmp_bytes(const Str *a, const Str *b)
{
    size_t n = a->len < b->len ? a->len : b->len;
    int c = n ? memcmp(a->data, b->data, n) : 0;
    if (c) return c < 0 ? -1 : 1;
    return a->len < b->len ? -1 : a->len > b->len ? 1 : 0;
}

int value_cmp(Value a, Value b)
{
    int ra = kind_rank(a.kind), rb = kind_rank(b.kind);
    if (ra != rb) return ra < rb ? -1 : 1;
    switch (a.kind) {
    case V_NULL: return 0;
    case V_BOOL: return a.u.b - b.u.b;
    case V_INT:
        if (b.kind == V_INT) return a.u.i < b.u.i ? -1 : a.u.i > b.u.i ? 1 : 0;
        return cmp_int_float(a.u.i, b.u.f);
    case V_FLOAT:
        if (b.kind == V_INT) return -cmp_int_float(b.u.i, a.u.f);
        return cmp_float(a.u.f, b.u.f);
    case V_DATE: case V_TIMESTAMP:
        return a.u.i < b.u.i ? -1 : a.u.i > b.u.i ? 1 : 0;
    case V_STRING: case V_JSON:
        return a.u.s == b.u.s ? 0 : cmp_bytes(a.u.s, b.u.s);
    case V_LIST: {
        uint32_t n = a.u.l->n < b.u.l->n ? a.u.l->n : b.u.l->n;
        for (uint32_t i = 0; i < n; i++) {
            int c = value_cmp(a.u.l->items[i], b.u.l->items[i]);
            if (c) return c;
        }
        return a.u.l->n < b.u.l->n ? -1 : a.u.l->n > b.u.l->n ? 1 : 0;
    }
    case V_STRUCT: {
        uint32_t n = a.u.st->n < b.u.st->n ? a.u.st->n : b.u.st->n;
        for (uint32_t i = 0; i < n; i++) {
            int c = value_cmp(a.u.st->fields[i], b.u.st->fields[i]);
            if (c) return c;
        }
        return a.u.st->n < b.u.st->n ? -1 : a.u.st->n > b.u.st->n ? 1 : 0;
    }
    }
    return 0;
}

int value_equal(Value a, Value b) { return value_cmp(a, b) == 0; }

static uint64_t mix64(uint64_t x)
{
    x ^= x >> 33; x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33; x *= 0xc4ceb9fe1a85ec53ULL;
    x ^= x >> 33;
    return x;
}

/* FNV-1a over the bytes, cached in the Str (a benign race: every thread computes the same). */
static uint32_t str_hash(Str *s)
{
    uint32_t h = __atomic_load_n(&s->hash, __ATOMIC_RELAXED);
    if (h) return h;
    h = 2166136261u;
    for (size_t i = 0; i < s->len; i++) h = (h ^ (unsigned char)s->data[i]) * 16777619u;
    if (!h) h = 1;
    __atomic_store_n(&s->hash, h, __ATOMIC_RELAXED);
    return h;
}

uint64_t value_hash(Value v)
{
    uint64_t r = (uint64_t)kind_rank(v.kind) * 0x9e3779b97f4a7c15ULL;
    switch (v.kind) {
    case V_NULL: return mix64(r);
    case V_BOOL: return mix64(r + (uint64_t)v.u.b);
    case V_INT: case V_DATE: case V_TIMESTAMP: return mix64(r ^ (uint64_t)v.u.i);
    case V_FLOAT: {
        double f = v.u.f;
        if (isnan(f)) return mix64(r ^ 0x7ff8000000000000ULL);
        /* integral floats in int64 range hash as the int they equal */
        if (f >= -9223372036854775808.0 && f < 9223372036854775808.0 && f == trunc(f))
            return mix64(r ^ (uint64_t)(int64_t)f);
        uint64_t bits;
        memcpy(&bits, &f, sizeof bits);
        return mix64(r ^ bits);
    }
    case V_STRING: case V_JSON: return mix64(r ^ str_hash(v.u.s));
    case V_LIST: {
        uint64_t h = r;
        for (uint32_t i = 0; i < v.u.l->n; i++) h = mix64(h * 31 + value_hash(v.u.l->items[i]));
        return mix64(h + v.u.l->n);
    }
    case V_STRUCT: {
        uint64_t h = r;
        for (uint32_t i = 0; i < v.u.st->n; i++) h = mix64(h * 31 + value_hash(v.u.st->fields[i]));
        return mix64(h + v.u.st->n);
    }
    }
    return r;
}

/* ------------------------------------------------------------------- text and JSON output --- */

/* Floats print in the shortest form that reads back to the same double: %.15g, then %.16g,
 * then %.17g. An integral result gets ".0" appended so floats stay visibly floats ("3.0",
 * "-0.0"); exponent forms stay as C prints them ("1e+20", "1.5e-07"). Non-finite values print
 * as "inf", "-inf" and "nan" (value_to_json writes null for them instead). */
/* format_double's common case without printf: f (1e-4 <= |f| < 1e15) equal to m / 10^k for an
 * integer m of at most 15 digits. Then %.15g prints exactly those digits (f is within half an ulp
 * of m / 10^k, far inside half a unit of the 15th digit) in fixed notation, and they round-trip.
 * The least such k gives no trailing zeros, as %g strips them. 1 when written, 0 otherwise. */
static int format_double_fast(Buf *b, double f)
{
    static const double p10[20] = { 1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10,
                                    1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19 };
    double a = fabs(f);
    if (!(a >= 1e-4 && a < 1e15)) return 0;
    for (int k = 0; k < 20; k++) {
        double m = nearbyint(a * p10[k]);
        if (m >= 1e15) return 0;   /* 16 digits or more: printf decides */
        if (m / p10[k] != a) continue;
        uint64_t u = (uint64_t)m, ip = u, fp = 0;
        if (k) { ip = u / (uint64_t)p10[k]; fp = u % (uint64_t)p10[k]; }
        char tmp[48], *e = tmp + sizeof tmp, *q = e;
        if (k) {
            for (int i = 0; i < k; i++) { *--q = (char)('0' + fp % 10); fp /= 10; }
            *--q = '.';
        }
        do { *--q = (char)('0' + ip % 10); ip /= 10; } while (ip);
        if (f < 0) *--q = '-';
        buf_append(b, q, (size_t)(e - q));
        if (!k) buf_puts(b, ".0");
        return 1;
    }
    return 0;
}

void format_double(Buf *b, double f)
{
    char tmp[40];
    if (isnan(f)) { buf_puts(b, "nan"); return; }
    if (isinf(f)) { buf_puts(b, f < 0 ? "-inf" : "inf"); return; }
    if (format_double_fast(b, f)) return;
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(tmp, sizeof tmp, "%.*g", prec, f);
        if (strtod(tmp, NULL) == f) break;
    }
    buf_puts(b, tmp);
    if (!strpbrk(tmp, ".en")) buf_puts(b, ".0");
}

/* Like format_double (the same shortest round-trip digits), but a float of magnitude from 1e-9
 * up to 1e15 prints in plain decimal notation: 6.735e-05 prints as "0.00006735" (money, per-token
 * prices). Smaller and larger magnitudes keep the exponent form ("1e-12", "1e+20"). For the table,
 * CSV and TSV printers (print.c). */
void format_double_plain(Buf *b, double f)
{
    if (!isnan(f) && format_double_fast(b, f)) return;   /* fixed notation already */
    Buf t;
    buf_init(&t);
    format_double(&t, f);
    const char *s = t.data ? t.data : "";
    const char *e = strchr(s, 'e');
    int exp = e ? atoi(e + 1) : 0;
    if (!e || exp < -9 || exp >= 0) { buf_puts(b, s); buf_free(&t); return; }
    /* d[.ddd]e-X with -9 <= -X <= -1: "0." then X-1 zeros then the digits */
    const char *p = s;
    if (*p == '-') buf_putc(b, *p++);
    buf_puts(b, "0.");
    for (int i = 0; i < -exp - 1; i++) buf_putc(b, '0');
    for (; p < e; p++)
        if (*p != '.') buf_putc(b, *p);
    buf_free(&t);
}

/* USD for messages: at least two decimals, more until the amount reads back exactly or shows four
 * significant digits (a budget of 0.001 is "0.001", not "0.00"; 7.12 is "7.12"; 0.0000123456 is
 * "0.00001235"), at most ten. */
void format_usd(char *out, size_t n, double usd)
{
    for (int d = 2; d <= 10; d++) {
        snprintf(out, n, "%.*f", d, usd);
        if (strtod(out, NULL) == usd || fabs(usd) * pow(10, d) >= 1000) return;
    }
}

static void put_date(Buf *b, int64_t days)
{
    int y, m, d;
    date_to_ymd(days, &y, &m, &d);
    if (y >= 0) buf_printf(b, "%04d-%02d-%02d", y, m, d);
    else buf_printf(b, "-%04d-%02d-%02d", -y, m, d);
}

static int64_t floordiv(int64_t a, int64_t b)
{
    int64_t q = a / b;
    if ((a % b != 0) && ((a < 0) != (b < 0))) q--;
    return q;
}

static void put_timestamp(Buf *b, int64_t us)
{
    int64_t days = floordiv(us, 86400000000LL);
    int64_t rem = us - days * 86400000000LL;
    put_date(b, days);
    int64_t secs = rem / 1000000, frac = rem % 1000000;
    buf_printf(b, " %02d:%02d:%02d", (int)(secs / 3600), (int)(secs / 60 % 60), (int)(secs % 60));
    if (frac) {
        char f[8];
        snprintf(f, sizeof f, "%06d", (int)frac);
        int n = 6;
        while (n > 1 && f[n - 1] == '0') n--;
        f[n] = 0;
        buf_putc(b, '.');
        buf_puts(b, f);
    }
}

/* Length of the valid UTF-8 sequence at p (of at most n bytes), or 0 if it is not one. */
static size_t utf8_seq(const unsigned char *p, size_t n)
{
    size_t bad;
    unsigned char c = p[0];
    size_t need = c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
    if (need > n) need = n;
    return utf8_valid((const char *)p, need, &bad) ? need : 0;
}

/* JSON string escaping; invalid UTF-8 bytes become U+FFFD so the output is always valid JSON. */
static void put_quoted(Buf *b, const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    buf_putc(b, '"');
    size_t i = 0, run = 0;
    while (i < n) {
        unsigned char c = p[i];
        const char *esc = NULL;
        char ubuf[8];
        size_t adv = 1;
        if (c == '"') esc = "\\\"";
        else if (c == '\\') esc = "\\\\";
        else if (c == '\n') esc = "\\n";
        else if (c == '\r') esc = "\\r";
        else if (c == '\t') esc = "\\t";
        else if (c == '\b') esc = "\\b";
        else if (c == '\f') esc = "\\f";
        else if (c < 0x20 || c == 0x7f) { snprintf(ubuf, sizeof ubuf, "\\u%04x", c); esc = ubuf; }
        else if (c >= 0x80) {
            adv = utf8_seq(p + i, n - i);
            if (!adv) { esc = "\xEF\xBF\xBD"; adv = 1; }
        }
        if (esc) {
            buf_append(b, s + i - run, run);
            run = 0;
            buf_puts(b, esc);
        } else {
            run += adv;
        }
        i += adv;
    }
    buf_append(b, s + n - run, run);
    buf_putc(b, '"');
}

/* JSON rendering: compact (no spaces) for value_to_json, spaced ("[1, 2]", {"a": 1}) for text. */
static void put_json(Buf *b, Value v, int spaced)
{
    switch (v.kind) {
    case V_NULL: buf_puts(b, "null"); break;
    case V_BOOL: buf_puts(b, v.u.b ? "true" : "false"); break;
    case V_INT: buf_printf(b, "%" PRId64, v.u.i); break;
    case V_FLOAT:
        if (isfinite(v.u.f)) format_double(b, v.u.f);
        else buf_puts(b, "null");
        break;
    case V_STRING: put_quoted(b, v.u.s->data, v.u.s->len); break;
    case V_DATE: buf_putc(b, '"'); put_date(b, v.u.i); buf_putc(b, '"'); break;
    case V_TIMESTAMP: buf_putc(b, '"'); put_timestamp(b, v.u.i); buf_putc(b, '"'); break;
    case V_JSON: buf_append(b, v.u.s->data, v.u.s->len); break;
    case V_LIST:
        buf_putc(b, '[');
        for (uint32_t i = 0; i < v.u.l->n; i++) {
            if (i) buf_puts(b, spaced ? ", " : ",");
            put_json(b, v.u.l->items[i], spaced);
        }
        buf_putc(b, ']');
        break;
    case V_STRUCT: {
        const Type *t = v.u.st->type;
        buf_putc(b, '{');
        for (uint32_t i = 0; i < v.u.st->n; i++) {
            if (i) buf_puts(b, spaced ? ", " : ",");
            const char *name = t && (int)i < t->nfields ? t->fields[i].name : "?";
            put_quoted(b, name, strlen(name));
            buf_puts(b, spaced ? ": " : ":");
            put_json(b, v.u.st->fields[i], spaced);
        }
        buf_putc(b, '}');
        break;
    }
    }
}

void value_to_json(Buf *b, Value v) { put_json(b, v, 0); }

void value_to_text(Buf *b, Value v, const char *null_text)
{
    switch (v.kind) {
    case V_NULL: buf_puts(b, null_text ? null_text : "NULL"); break;
    case V_BOOL: buf_puts(b, v.u.b ? "true" : "false"); break;
    case V_INT: {   /* digits by hand: printf is most of a CSV write's time */
        char tmp[24], *e = tmp + sizeof tmp, *q = e;
        uint64_t u = v.u.i < 0 ? 0 - (uint64_t)v.u.i : (uint64_t)v.u.i;
        do { *--q = (char)('0' + u % 10); u /= 10; } while (u);
        if (v.u.i < 0) *--q = '-';
        buf_append(b, q, (size_t)(e - q));
        break;
    }
    case V_FLOAT: format_double(b, v.u.f); break;
    case V_STRING: case V_JSON: buf_append(b, v.u.s->data, v.u.s->len); break;
    case V_DATE: put_date(b, v.u.i); break;
    case V_TIMESTAMP: put_timestamp(b, v.u.i); break;
    default: put_json(b, v, 1); break;
    }
}

/* ---------------------------------------------------------------------------- Jansson --- */

json_t *value_to_jansson(Value v)
{
    switch (v.kind) {
    case V_NULL: return json_null();
    case V_BOOL: return json_boolean(v.u.b);
    case V_INT: return json_integer(v.u.i);
    case V_FLOAT: return isfinite(v.u.f) ? json_real(v.u.f) : json_null();
    case V_STRING: return json_stringn_nocheck(v.u.s->data, v.u.s->len);
    case V_JSON: {
        json_t *j = json_loadb(v.u.s->data, v.u.s->len, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
        return j ? j : json_null();
    }
    case V_LIST: {
        json_t *a = json_array();
        for (uint32_t i = 0; i < v.u.l->n; i++) json_array_append_new(a, value_to_jansson(v.u.l->items[i]));
        return a;
    }
    case V_STRUCT: {
        json_t *o = json_object();
        const Type *t = v.u.st->type;
        for (uint32_t i = 0; i < v.u.st->n && t && (int)i < t->nfields; i++)
            json_object_set_new(o, t->fields[i].name, value_to_jansson(v.u.st->fields[i]));
        return o;
    }
    default: {   /* dates and timestamps as their text */
        Buf b;
        buf_init(&b);
        value_to_text(&b, v, NULL);
        json_t *s = json_stringn(b.data, b.len);
        buf_free(&b);
        return s;
    }
    }
}

/* The JSON text of j as a V_JSON value. */
static Value json_value_of(json_t *j)
{
    char *s = json_dumps(j, JSON_ENCODE_ANY | JSON_COMPACT);
    if (!s) return v_null();
    Value v = v_json_text(s, strlen(s));
    free(s);
    return v;
}

/* Why a conversion failed: per-thread so that concurrent readers do not clobber each other. */
static __thread char why_buf[256];

static Value fail(const char **why, const char *fmt, ...) FQL_PRINTF(2, 3);
static Value fail(const char **why, const char *fmt, ...)
{
    if (why) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(why_buf, sizeof why_buf, fmt, ap);
        va_end(ap);
        *why = why_buf;
    }
    return v_null();
}

static const char *json_kind_name(const json_t *j)
{
    switch (json_typeof(j)) {
    case JSON_OBJECT: return "an object";
    case JSON_ARRAY: return "an array";
    case JSON_STRING: return "a string";
    case JSON_INTEGER: return "an integer";
    case JSON_REAL: return "a number";
    case JSON_TRUE: case JSON_FALSE: return "a boolean";
    default: return "null";
    }
}

static int parse_int_text(const char *s, size_t n, int64_t *out);
static int parse_float_text(const char *s, size_t n, double *out);

/* Conversion is lenient where the meaning is plain: integral numbers for int, numeric strings
 * for numbers, "true"/"false" for bool, numbers and booleans for string, a label in another case
 * for an enum. A missing struct field becomes null (extra ones are ignored): whether a field is
 * required is the schema validator's decision, not this function's. */
Value value_from_jansson(json_t *j, const Type *t, const char **why)
{
    if (!j) return fail(why, "missing value");
    if (json_is_null(j)) return v_null();
    TypeKind k = t ? t->kind : TY_ANY;
    switch (k) {
    case TY_ANY:
        switch (json_typeof(j)) {
        case JSON_TRUE: return v_bool(1);
        case JSON_FALSE: return v_bool(0);
        case JSON_INTEGER: return v_int(json_integer_value(j));
        case JSON_REAL: return v_float(json_real_value(j));
        case JSON_STRING: return v_string(json_string_value(j), json_string_length(j));
        default: return json_value_of(j);
        }
    case TY_JSON: return json_value_of(j);
    case TY_NULL: return fail(why, "expected null, got %s", json_kind_name(j));
    case TY_BOOL:
        if (json_is_boolean(j)) return v_bool(json_is_true(j));
        if (json_is_string(j)) {
            const char *s = json_string_value(j);
            if (!strcasecmp(s, "true")) return v_bool(1);
            if (!strcasecmp(s, "false")) return v_bool(0);
        }
        return fail(why, "expected a boolean, got %s", json_kind_name(j));
    case TY_INT:
        if (json_is_integer(j)) return v_int(json_integer_value(j));
        if (json_is_real(j)) {
            double f = json_real_value(j);
            if (f == trunc(f) && f >= -9223372036854775808.0 && f < 9223372036854775808.0)
                return v_int((int64_t)f);
        } else if (json_is_string(j)) {
            int64_t i;
            if (parse_int_text(json_string_value(j), json_string_length(j), &i)) return v_int(i);
        }
        return fail(why, "expected an integer, got %s", json_kind_name(j));
    case TY_FLOAT:
        if (json_is_number(j)) return v_float(json_number_value(j));
        if (json_is_string(j)) {
            double f;
            if (parse_float_text(json_string_value(j), json_string_length(j), &f)) return v_float(f);
        }
        return fail(why, "expected a number, got %s", json_kind_name(j));
    case TY_STRING:
        if (json_is_string(j)) return v_string(json_string_value(j), json_string_length(j));
        if (json_is_number(j) || json_is_boolean(j)) {
            Value v = json_value_of(j);
            v.kind = V_STRING;
            return v;
        }
        return fail(why, "expected a string, got %s", json_kind_name(j));
    case TY_ENUM: {
        if (!json_is_string(j)) return fail(why, "expected one of the labels, got %s", json_kind_name(j));
        const char *s = json_string_value(j);
        for (int i = 0; i < t->nlabels; i++)
            if (!strcmp(s, t->labels[i])) return v_cstring(t->labels[i]);
        for (int i = 0; i < t->nlabels; i++)
            if (!strcasecmp(s, t->labels[i])) return v_cstring(t->labels[i]);
        return fail(why, "\"%.100s\" is not one of the labels", s);
    }
    case TY_DATE: case TY_TIMESTAMP: {
        if (!json_is_string(j)) return fail(why, "expected a %s string, got %s", k == TY_DATE ? "date" : "timestamp", json_kind_name(j));
        const char *s = json_string_value(j);
        size_t n = json_string_length(j);
        int64_t x;
        if (k == TY_DATE) {
            if (date_parse(s, n, &x)) return v_date(x);
            if (timestamp_parse(s, n, &x)) return v_date(floordiv(x, 86400000000LL));
            return fail(why, "\"%.100s\" is not a date (YYYY-MM-DD)", s);
        }
        if (timestamp_parse(s, n, &x)) return v_timestamp(x);
        return fail(why, "\"%.100s\" is not a timestamp", s);
    }
    case TY_LIST: case TY_VECTOR: {
        if (!json_is_array(j)) return fail(why, "expected an array, got %s", json_kind_name(j));
        size_t n = json_array_size(j);
        if (k == TY_VECTOR && t->dim > 0 && (int)n != t->dim)
            return fail(why, "expected %d numbers, got %zu", t->dim, n);
        const Type *et = k == TY_VECTOR ? type_float() : t->elem;
        Value l = v_list_new((uint32_t)n);
        for (size_t i = 0; i < n; i++) {
            json_t *e = json_array_get(j, i);
            if (k == TY_VECTOR && !json_is_number(e)) {
                value_free(l);
                return fail(why, "item %zu: expected a number, got %s", i, json_kind_name(e));
            }
            const char *w = NULL;
            Value x = value_from_jansson(e, et, &w);
            if (w) {
                char inner[200];
                snprintf(inner, sizeof inner, "%s", w);
                value_free(l);
                return fail(why, "item %zu: %s", i, inner);
            }
            l.u.l->items[i] = x;
        }
        return l;
    }
    case TY_STRUCT: {
        if (!json_is_object(j)) return fail(why, "expected an object, got %s", json_kind_name(j));
        Value s = v_struct_new((Type *)t);
        for (int i = 0; i < t->nfields; i++) {
            json_t *f = json_object_get(j, t->fields[i].name);
            if (!f) continue;
            const char *w = NULL;
            Value x = value_from_jansson(f, t->fields[i].type, &w);
            if (w) {
                char inner[200];
                snprintf(inner, sizeof inner, "%s", w);
                value_free(s);
                return fail(why, "field %s: %s", t->fields[i].name, inner);
            }
            s.u.st->fields[i] = x;
        }
        return s;
    }
    }
    return fail(why, "unsupported type");
}

/* ------------------------------------------------------------------------------- casts --- */

/* Whole of s[0..n) (surrounding spaces allowed) as a decimal int64; 1 on success. */
static int parse_int_text(const char *s, size_t n, int64_t *out)
{
    while (n && isspace((unsigned char)*s)) s++, n--;
    while (n && isspace((unsigned char)s[n - 1])) n--;
    if (!n || n > 40) return 0;
    char tmp[48];
    memcpy(tmp, s, n);
    tmp[n] = 0;
    char *end;
    errno = 0;
    long long v = strtoll(tmp, &end, 10);
    if (errno || *end || end == tmp || !(isdigit((unsigned char)tmp[n - 1]))) return 0;
    *out = v;
    return 1;
}

/* Whole of s[0..n) (surrounding spaces allowed) as a double; 1 on success. */
static int parse_float_text(const char *s, size_t n, double *out)
{
    while (n && isspace((unsigned char)*s)) s++, n--;
    while (n && isspace((unsigned char)s[n - 1])) n--;
    if (!n || n > 400) return 0;
    char tmp[408];
    memcpy(tmp, s, n);
    tmp[n] = 0;
    if (tmp[0] == '0' && (tmp[1] == 'x' || tmp[1] == 'X')) return 0;   /* no hex floats */
    char *end;
    double v = strtod(tmp, &end);
    if (*end || end == tmp) return 0;
    *out = v;
    return 1;
}

/* Float to int rounds half away from zero (as DuckDB and Postgres do: 2.5 -> 3, -2.5 -> -3);
 * NaN and values outside int64 fail. */
static int float_to_int(double f, int64_t *out)
{
    double r = round(f);
    if (isnan(r) || r < -9223372036854775808.0 || r >= 9223372036854775808.0) return 0;
    *out = (int64_t)r;
    return 1;
}

static Value cast_fail(Value v, const Type *t, char **err)
{
    if (err) {
        char *ts = type_to_string(t);
        if (v.kind == V_STRING || v.kind == V_JSON) {
            size_t n = v.u.s->len > 60 ? 60 : v.u.s->len;
            *err = xasprintf("cannot cast '%.*s%s' to %s", (int)n, v.u.s->data, v.u.s->len > 60 ? "..." : "", ts);
        } else {
            Buf b;
            buf_init(&b);
            value_to_text(&b, v, NULL);
            if (b.len > 60) { b.len = 60; buf_puts(&b, "..."); }
            *err = xasprintf("cannot cast %s to %s", b.data, ts);
            buf_free(&b);
        }
        free(ts);
    }
    value_free(v);
    return v_null();
}

/* Cast through JSON: parse v's text (a json value or a string holding JSON) and convert. */
static Value cast_via_json(Value v, const Type *t, char **err)
{
    json_t *j;
    if (v.kind == V_STRING || v.kind == V_JSON)
        j = json_loadb(v.u.s->data, v.u.s->len, JSON_DECODE_ANY, NULL);
    else
        j = value_to_jansson(v);
    if (!j) return cast_fail(v, t, err);
    const char *why = NULL;
    Value r = value_from_jansson(j, t, &why);
    json_decref(j);
    if (why) {
        if (err) {
            char *ts = type_to_string(t);
            *err = xasprintf("cannot cast to %s: %s", ts, why);
            free(ts);
        }
        value_free(r);
        value_free(v);
        return v_null();
    }
    value_free(v);
    return r;
}

/* Casting rules: null casts to null; anything casts to string (json strings lose their quotes,
 * other json keeps its text); strings parse as numbers, booleans, dates, timestamps and JSON;
 * int <-> float (rounding half away from zero), bool <-> int, date <-> timestamp; enum targets
 * check the label; lists, vectors and structs convert element-wise (structs by field name) or
 * from JSON; anything casts to json. */
Value value_cast(Value v, const Type *t, char **err)
{
    if (v.kind == V_NULL || !t) return v;
    switch (t->kind) {
    case TY_ANY: return v;
    case TY_NULL: return cast_fail(v, t, err);
    case TY_STRING: {
        if (v.kind == V_STRING) return v;
        if (v.kind == V_JSON) {
            json_t *j = json_loadb(v.u.s->data, v.u.s->len, JSON_DECODE_ANY, NULL);
            if (j && json_is_string(j)) {
                Value r = v_string(json_string_value(j), json_string_length(j));
                json_decref(j);
                value_free(v);
                return r;
            }
            json_decref(j);
            v.kind = V_STRING;   /* same Str, now a string */
            return v;
        }
        Buf b;
        buf_init(&b);
        value_to_text(&b, v, NULL);
        Value r = v_string(b.data ? b.data : "", b.len);
        buf_free(&b);
        value_free(v);
        return r;
    }
    case TY_ENUM: {
        if (v.kind != V_STRING && v.kind != V_JSON) return cast_fail(v, t, err);
        if (v.kind == V_JSON) {
            v = value_cast(v, type_string(), err);
            if (v.kind == V_NULL) return v;
        }
        for (int i = 0; i < t->nlabels; i++)
            if (!strcmp(v.u.s->data, t->labels[i])) return v;
        return cast_fail(v, t, err);
    }
    case TY_BOOL:
        switch (v.kind) {
        case V_BOOL: return v;
        case V_INT: return v_bool(v.u.i != 0);
        case V_FLOAT: return isnan(v.u.f) ? cast_fail(v, t, err) : v_bool(v.u.f != 0);
        case V_STRING: {
            static const char *const yes[] = {"true", "t", "yes", "y", "1", "on"};
            static const char *const no[] = {"false", "f", "no", "n", "0", "off"};
            char tmp[8];
            size_t n = v.u.s->len;
            const char *s = v.u.s->data;
            while (n && isspace((unsigned char)*s)) s++, n--;
            while (n && isspace((unsigned char)s[n - 1])) n--;
            if (n < sizeof tmp) {
                memcpy(tmp, s, n);
                tmp[n] = 0;
                for (size_t i = 0; i < 6; i++) {
                    if (!strcasecmp(tmp, yes[i])) { value_free(v); return v_bool(1); }
                    if (!strcasecmp(tmp, no[i])) { value_free(v); return v_bool(0); }
                }
            }
            return cast_fail(v, t, err);
        }
        case V_JSON: return cast_via_json(v, t, err);
        default: return cast_fail(v, t, err);
        }
    case TY_INT:
        switch (v.kind) {
        case V_INT: return v;
        case V_BOOL: return v_int(v.u.b);
        case V_FLOAT: {
            int64_t i;
            return float_to_int(v.u.f, &i) ? v_int(i) : cast_fail(v, t, err);
        }
        case V_STRING: {
            int64_t i;
            double f;
            if (parse_int_text(v.u.s->data, v.u.s->len, &i) ||
                (parse_float_text(v.u.s->data, v.u.s->len, &f) && float_to_int(f, &i))) {
                value_free(v);
                return v_int(i);
            }
            return cast_fail(v, t, err);
        }
        case V_JSON: return cast_via_json(v, t, err);
        default: return cast_fail(v, t, err);
        }
    case TY_FLOAT:
        switch (v.kind) {
        case V_FLOAT: return v;
        case V_INT: return v_float((double)v.u.i);
        case V_BOOL: return v_float(v.u.b);
        case V_STRING: {
            double f;
            if (parse_float_text(v.u.s->data, v.u.s->len, &f)) {
                value_free(v);
                return v_float(f);
            }
            return cast_fail(v, t, err);
        }
        case V_JSON: return cast_via_json(v, t, err);
        default: return cast_fail(v, t, err);
        }
    case TY_DATE:
        switch (v.kind) {
        case V_DATE: return v;
        case V_TIMESTAMP: return v_date(floordiv(v.u.i, 86400000000LL));
        case V_STRING: {
            int64_t x;
            if (date_parse(v.u.s->data, v.u.s->len, &x)) { value_free(v); return v_date(x); }
            if (timestamp_parse(v.u.s->data, v.u.s->len, &x)) { value_free(v); return v_date(floordiv(x, 86400000000LL)); }
            return cast_fail(v, t, err);
        }
        case V_JSON: return cast_via_json(v, t, err);
        default: return cast_fail(v, t, err);
        }
    case TY_TIMESTAMP:
        switch (v.kind) {
        case V_TIMESTAMP: return v;
        case V_DATE: return v_timestamp(v.u.i * 86400000000LL);
        case V_STRING: {
            int64_t x;
            if (timestamp_parse(v.u.s->data, v.u.s->len, &x)) { value_free(v); return v_timestamp(x); }
            return cast_fail(v, t, err);
        }
        case V_JSON: return cast_via_json(v, t, err);
        default: return cast_fail(v, t, err);
        }
    case TY_JSON: {
        if (v.kind == V_JSON) return v;
        if (v.kind == V_STRING) {   /* the string must hold JSON text */
            json_error_t je;
            json_t *j = json_loadb(v.u.s->data, v.u.s->len, JSON_DECODE_ANY, &je);
            if (!j) {
                if (err) {
                    size_t n = v.u.s->len > 60 ? 60 : v.u.s->len;
                    *err = xasprintf("cannot cast '%.*s' to json: %s", (int)n, v.u.s->data, je.text);
                }
                value_free(v);
                return v_null();
            }
            json_decref(j);
            v.kind = V_JSON;
            return v;
        }
        Buf b;
        buf_init(&b);
        value_to_json(&b, v);
        Value r = v_json_text(b.data, b.len);
        buf_free(&b);
        value_free(v);
        return r;
    }
    case TY_LIST: case TY_VECTOR: {
        if (v.kind == V_STRING || v.kind == V_JSON) return cast_via_json(v, t, err);
        if (v.kind != V_LIST) return cast_fail(v, t, err);
        const Type *et = t->kind == TY_VECTOR ? type_float() : t->elem;
        uint32_t n = v.u.l->n;
        if (t->kind == TY_VECTOR && t->dim > 0 && (int)n != t->dim) {
            if (err) *err = xasprintf("cannot cast a list of %u items to vector(%d)", n, t->dim);
            value_free(v);
            return v_null();
        }
        Value r = v_list_new(n);
        for (uint32_t i = 0; i < n; i++) {
            Value x = value_copy(v.u.l->items[i]);
            if (x.kind == V_NULL) continue;
            x = value_cast(x, et, err);
            if (x.kind == V_NULL) {   /* err set by the element cast */
                value_free(r);
                value_free(v);
                return v_null();
            }
            r.u.l->items[i] = x;
        }
        value_free(v);
        return r;
    }
    case TY_STRUCT: {
        if (v.kind == V_STRING || v.kind == V_JSON) return cast_via_json(v, t, err);
        if (v.kind != V_STRUCT) return cast_fail(v, t, err);
        if (v.u.st->type == t) return v;
        Value r = v_struct_new((Type *)t);
        const Type *st = v.u.st->type;
        for (int i = 0; i < t->nfields; i++) {
            int k = type_field_index(st, t->fields[i].name);
            if (k < 0 || (uint32_t)k >= v.u.st->n) continue;
            Value x = value_copy(v.u.st->fields[k]);
            if (x.kind == V_NULL) continue;
            x = value_cast(x, t->fields[i].type, err);
            if (x.kind == V_NULL) {
                value_free(r);
                value_free(v);
                return v_null();
            }
            r.u.st->fields[i] = x;
        }
        value_free(v);
        return r;
    }
    }
    return cast_fail(v, t, err);
}

/* ========================================================================= dates and times === */

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's days_from_civil). */
int64_t date_from_ymd(int y, int m, int d)
{
    int64_t yy = (int64_t)y - (m <= 2);
    int64_t era = (yy >= 0 ? yy : yy - 399) / 400;
    int64_t yoe = yy - era * 400;
    int64_t mp = (m + 9) % 12;
    int64_t doy = (153 * mp + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

void date_to_ymd(int64_t days, int *y, int *m, int *d)
{
    int64_t z = days + 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    int64_t dd = doy - (153 * mp + 2) / 5 + 1;
    int64_t mm = mp < 10 ? mp + 3 : mp - 9;
    *y = (int)(yoe + era * 400 + (mm <= 2));
    *m = (int)mm;
    *d = (int)dd;
}

static int days_in_month(int y, int m)
{
    static const int dm[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0)) return 29;
    return dm[m - 1];
}

/* Read 1..maxd digits at s[*i]; returns the count read (0 if none). */
static int read_digits(const char *s, size_t n, size_t *i, int maxd, int64_t *out)
{
    int k = 0;
    int64_t v = 0;
    while (*i < n && k < maxd && isdigit((unsigned char)s[*i])) {
        v = v * 10 + (s[*i] - '0');
        (*i)++;
        k++;
    }
    *out = v;
    return k;
}

/* Parse [-]Y{1,6}-M{1,2}-D{1,2} at s[*i]; advances *i. */
static int parse_ymd(const char *s, size_t n, size_t *i, int64_t *days)
{
    int neg = 0;
    int64_t y, m, d;
    if (*i < n && (s[*i] == '-' || s[*i] == '+')) { neg = s[*i] == '-'; (*i)++; }
    if (read_digits(s, n, i, 6, &y) < 1) return 0;
    if (*i >= n || s[*i] != '-') return 0;
    (*i)++;
    if (read_digits(s, n, i, 2, &m) < 1) return 0;
    if (*i >= n || s[*i] != '-') return 0;
    (*i)++;
    if (read_digits(s, n, i, 2, &d) < 1) return 0;
    if (neg) y = -y;
    if (m < 1 || m > 12 || d < 1 || d > days_in_month((int)y, (int)m)) return 0;
    *days = date_from_ymd((int)y, (int)m, (int)d);
    return 1;
}

static void trim_span(const char **s, size_t *n)
{
    while (*n && isspace((unsigned char)**s)) (*s)++, (*n)--;
    while (*n && isspace((unsigned char)(*s)[*n - 1])) (*n)--;
}

int date_parse(const char *s, size_t n, int64_t *out)
{
    size_t i = 0;
    int64_t d;
    trim_span(&s, &n);
    if (!parse_ymd(s, n, &i, &d) || i != n) return 0;
    *out = d;
    return 1;
}

/* Accepts a date alone (midnight), or date, 'T' or space, HH:MM[:SS[.fraction]] and an optional
 * zone: Z, UTC, +hh, +hhmm or +hh:mm (the result is UTC). Fractions beyond microseconds are
 * truncated. */
int timestamp_parse(const char *s, size_t n, int64_t *out)
{
    size_t i = 0;
    int64_t days, hh = 0, mi = 0, ss = 0, us = 0, off = 0;
    trim_span(&s, &n);
    if (!parse_ymd(s, n, &i, &days)) return 0;
    if (days > 106000000 || days < -106000000) return 0;
    if (i < n) {
        if (s[i] != 'T' && s[i] != 't' && s[i] != ' ') return 0;
        i++;
        if (read_digits(s, n, &i, 2, &hh) != 2 || i >= n || s[i] != ':') return 0;
        i++;
        if (read_digits(s, n, &i, 2, &mi) != 2) return 0;
        if (i < n && s[i] == ':') {
            i++;
            if (read_digits(s, n, &i, 2, &ss) != 2) return 0;
            if (i < n && (s[i] == '.' || s[i] == ',')) {
                i++;
                int64_t scale = 100000;
                size_t start = i;
                while (i < n && isdigit((unsigned char)s[i])) {
                    us += (s[i] - '0') * scale;
                    scale /= 10;
                    i++;
                }
                if (i == start) return 0;
            }
        }
        if (hh > 23 || mi > 59 || ss > 60) return 0;   /* a leap second reads as :60 */
        while (i < n && s[i] == ' ') i++;
        if (i < n) {
            if ((s[i] == 'Z' || s[i] == 'z') && i + 1 == n) {
                i++;
            } else if (n - i == 3 && !strncasecmp(s + i, "UTC", 3)) {
                i += 3;
            } else if (s[i] == '+' || s[i] == '-') {
                int sign = s[i] == '-' ? -1 : 1;
                int64_t oh, om = 0;
                i++;
                if (read_digits(s, n, &i, 2, &oh) != 2) return 0;
                if (i < n && s[i] == ':') i++;
                if (i < n && read_digits(s, n, &i, 2, &om) != 2) return 0;
                if (oh > 18 || om > 59) return 0;
                off = sign * (oh * 3600 + om * 60);
            } else {
                return 0;
            }
        }
        if (i != n) return 0;
    }
    *out = days * 86400000000LL + ((hh * 3600 + mi * 60 + ss) - off) * 1000000LL + us;
    return 1;
}
