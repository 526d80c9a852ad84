/* value.h: FQL types and values.
 *
 * Types (Type) are immutable once built and reference counted (type_ref/type_unref); the basic
 * ones are static singletons (type_int() ...) for which ref/unref are no-ops.
 *
 * Values (Value) are 16-byte tagged cells. Scalars are stored inline; strings, lists and structs
 * point to reference-counted immutable heap objects. value_copy() adds a reference; value_free()
 * drops one.
 *
 * Ownership, as the code behaves (stated once; jq's jv.h is the model):
 *  - A function that RETURNS a Value returns a new reference (the caller frees it), unless its
 *    prototype says "borrowed" (table_get, v_str's text).
 *  - A function that TAKES a Value borrows it (the caller still owns it), unless its prototype says
 *    "consumes": the exceptions are value_free, value_cast, v_string_take, the op_* operators
 *    (ops.h), batch_push_row (table.h) and rt_set (rt.h), each marked where it is declared.
 *  - Arrays of Values (a Batch's columns, eval_batch's results) own their Values.
 */
#ifndef FQL_VALUE_H
#define FQL_VALUE_H

#include <stdint.h>
#include <stddef.h>
#include "util.h"

typedef enum TypeKind {
    TY_NULL,        /* the type of the literal null: converts to anything */
    TY_BOOL, TY_INT, TY_FLOAT, TY_STRING, TY_DATE, TY_TIMESTAMP, TY_JSON,
    TY_LIST,        /* elem */
    TY_STRUCT,      /* nfields, fields[] */
    TY_ENUM,        /* nlabels, labels[]: values are strings */
    TY_VECTOR,      /* dim: values are lists of floats */
    TY_ANY          /* unknown at bind time (e.g. json_get result cast later) */
} TypeKind;

typedef struct Type Type;
typedef struct Field { char *name; Type *type; char *desc; } Field;

struct Type {
    TypeKind kind;
    int refcnt;          /* -1 for static singletons */
    int nullable;        /* 1 unless declared T! ... every column is nullable by default */
    char *name;          /* declared name (type Triage = {...}), or NULL */
    Type *elem;          /* TY_LIST */
    int nfields; Field *fields;     /* TY_STRUCT */
    int nlabels; char **labels;     /* TY_ENUM */
    int dim;                        /* TY_VECTOR */
};

Type *type_null(void); Type *type_bool(void); Type *type_int(void); Type *type_float(void);
Type *type_string(void); Type *type_date(void); Type *type_timestamp(void); Type *type_json(void);
Type *type_any(void);
Type *type_list(Type *elem);                    /* consumes elem */
Type *type_struct_new(int nfields);             /* fields filled by caller: names xstrdup'd, types owned */
Type *type_enum_new(int nlabels, char **labels);/* consumes labels array and strings */
Type *type_vector(int dim);
/* Type.nullable: 0 = declared `T!`, 1 = the default (a column may hold null), 2 = declared `T?`.
 * Only 2 makes a JSON-schema property accept null (provider schemas are non-null unless asked). */
enum { TYPE_NOT_NULL = 0, TYPE_NULLABLE = 1, TYPE_DECLARED_NULLABLE = 2 };
Type *type_with_nullable(Type *t, int nullable);/* consumes t; returns t itself or a copy with nullable set */
Type *type_ref(Type *t);
void  type_unref(Type *t);
int   type_equal(const Type *a, const Type *b);
int   type_is_numeric(const Type *t);           /* int or float (or null) */
int   type_is_stringish(const Type *t);         /* string or enum (or null) */
/* The common supertype of a and b for union/case/coalesce (int+float=float, null+T=T,
 * enum+string=string), or NULL if there is none. New reference. */
Type *type_unify(Type *a, Type *b);
/* Name as written in FQL: "int", "[string]", "{a: int, b: string}", "enum(\"a\", \"b\")". */
char *type_to_string(const Type *t);            /* caller frees */
int   type_field_index(const Type *t, const char *name);  /* -1 if absent */
/* JSON Schema for a type (the form providers are sent). New Jansson reference (json_t *). */
struct json_t *type_json_schema(const Type *t);

/* ---- values ---- */

typedef enum ValKind {
    V_NULL = 0, V_BOOL, V_INT, V_FLOAT, V_STRING, V_DATE, V_TIMESTAMP, V_JSON, V_LIST, V_STRUCT
} ValKind;

typedef struct Str { int32_t refcnt; uint32_t hash; size_t len; char data[]; } Str;  /* data NUL-terminated */
typedef struct Value Value;
typedef struct List { int32_t refcnt; uint32_t n; Value *items; } List;
/* A struct value: names are shared with its Type (borrowed from type, which it references). */
typedef struct Struct { int32_t refcnt; uint32_t n; Type *type; Value *fields; } Struct;

struct Value {
    uint8_t kind;                  /* ValKind */
    union {
        int b;                     /* V_BOOL */
        int64_t i;                 /* V_INT; V_DATE = days since 1970-01-01; V_TIMESTAMP = microseconds since epoch UTC */
        double f;                  /* V_FLOAT */
        Str *s;                    /* V_STRING, V_JSON (JSON text) */
        List *l;                   /* V_LIST (vectors too) */
        Struct *st;                /* V_STRUCT */
    } u;
};

static inline Value v_null(void) { Value v; v.kind = V_NULL; v.u.i = 0; return v; }
static inline Value v_bool(int b) { Value v; v.kind = V_BOOL; v.u.b = b ? 1 : 0; return v; }
static inline Value v_int(int64_t i) { Value v; v.kind = V_INT; v.u.i = i; return v; }
static inline Value v_float(double f) { Value v; v.kind = V_FLOAT; v.u.f = f; return v; }
static inline Value v_date(int64_t d) { Value v; v.kind = V_DATE; v.u.i = d; return v; }
static inline Value v_timestamp(int64_t us) { Value v; v.kind = V_TIMESTAMP; v.u.i = us; return v; }
Value v_string(const char *s, size_t n);       /* copies */
Value v_cstring(const char *s);                /* copies */
Value v_string_take(Str *s);                   /* consumes s */
Value v_json_text(const char *s, size_t n);    /* copies; text must be valid JSON */
Str  *str_new(const char *s, size_t n);        /* refcnt 1 */
Str  *str_alloc(size_t n);                     /* uninitialised data of n bytes + NUL; refcnt 1 */
Value v_list_new(uint32_t n);                  /* items initialised to null; fill with list->items[i] = ... */
Value v_struct_new(Type *type);                /* refs type; fields initialised to null */

static inline int v_is_null(Value v) { return v.kind == V_NULL; }
static inline const char *v_str(Value v) { return v.u.s->data; }   /* V_STRING/V_JSON: borrowed */
static inline size_t v_strlen(Value v) { return v.u.s->len; }

Value value_copy(Value v);      /* new reference; v stays the caller's */
void  value_free(Value v);      /* consumes v: drops one reference */
/* A column at a time: take a reference on each of v[0..n) (values copied by assignment), or drop
 * one (consumes them). The same as value_copy or value_free on each, with one atomic change per
 * object where a column repeats a few objects. */
void  values_ref(const Value *v, size_t n);
void  values_free(const Value *v, size_t n);
/* Total order used by order by, distinct, group by and joins: null < bool < numbers < strings ...;
 * ints and floats compare numerically. Returns <0, 0, >0. */
int   value_cmp(Value a, Value b);
int   value_equal(Value a, Value b);            /* value_cmp == 0, nulls equal (for grouping) */
uint64_t value_hash(Value v);                   /* consistent with value_equal (1 and 1.0 hash alike) */
/* Render as text: strings as-is, null as "NULL" only if null_text is NULL else null_text,
 * floats shortest round-trip, dates YYYY-MM-DD, timestamps YYYY-MM-DD HH:MM:SS[.ffffff],
 * lists/structs as JSON. Appends to b. */
void  value_to_text(Buf *b, Value v, const char *null_text);
/* Render as JSON (strings quoted, dates as strings, json values verbatim). Appends to b. */
void  value_to_json(Buf *b, Value v);
/* Convert to a Jansson value (new reference) and back (by a target type; NULL type = infer). */
struct json_t *value_to_jansson(Value v);
/* Converts j to a value of type t (NULL or TY_ANY/TY_JSON: natural mapping). On mismatch returns
 * null and, if why is non-NULL, sets *why to a static description. */
Value value_from_jansson(struct json_t *j, const Type *t, const char **why);
/* Cast v (consumed) to type t. On failure returns null and sets *err (xasprintf'd, caller frees). */
Value value_cast(Value v, const Type *t, char **err);
/* Is v truthy as a where condition (bool true)? Null and false are not. */
static inline int value_true(Value v) { return v.kind == V_BOOL && v.u.b; }

/* Dates and times (proleptic Gregorian, UTC). */
int64_t date_from_ymd(int y, int m, int d);
void    date_to_ymd(int64_t days, int *y, int *m, int *d);
int     date_parse(const char *s, size_t n, int64_t *out);        /* YYYY-MM-DD; 1 on success */
int     timestamp_parse(const char *s, size_t n, int64_t *out);   /* YYYY-MM-DD[T ]HH:MM[:SS[.f]][Z|+hh:mm]; 1 on success */
void    format_double(Buf *b, double f);                          /* shortest round-trip, "1.0" style for integral */
void    format_double_plain(Buf *b, double f);                    /* the same digits, plain decimals for 1e-9 <= |f| < 1e15 */
void    format_usd(char *out, size_t n, double usd);              /* money in messages: "0.001", "5.00", "4.701" */

#endif
