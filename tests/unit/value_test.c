/* value_test.c: unit tests of types, values, casts, JSON, dates and timestamps, and the
 * expression operators (value.c, ops.c). Prints `ok NAME` or `FAIL NAME: reason` per test and a
 * closing `N passed, M failed`; exits nonzero on failure. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>
#include "value.h"
#include "ops.h"
#include "ast.h"
#include "check.h"




/* Render v as JSON (so kinds are visible: "s" vs 3 vs 3.0), free it, compare. */
static int json_is(Value v, const char *want, int line)
{
    Buf b;
    buf_init(&b);
    value_to_json(&b, v);
    int ok = strcmp(b.data, want) == 0;
    if (!ok && !failed) {
        snprintf(reason, sizeof reason, "line %d: got %s, want %s", line, b.data, want);
        failed = 1;
    }
    buf_free(&b);
    value_free(v);
    return ok;
}
#define EXPECT_JSON(v, want) json_is((v), (want), __LINE__)

static int text_is(Value v, const char *want, int line)
{
    Buf b;
    buf_init(&b);
    value_to_text(&b, v, NULL);
    int ok = strcmp(b.data ? b.data : "", want) == 0;
    if (!ok && !failed) {
        snprintf(reason, sizeof reason, "line %d: got '%s', want '%s'", line, b.data ? b.data : "", want);
        failed = 1;
    }
    buf_free(&b);
    value_free(v);
    return ok;
}
#define EXPECT_TEXT(v, want) text_is((v), (want), __LINE__)

static int str_is(char *got, const char *want, int line)
{
    int ok = got && strcmp(got, want) == 0;
    if (!ok && !failed) {
        snprintf(reason, sizeof reason, "line %d: got '%s', want '%s'", line, got ? got : "(null)", want);
        failed = 1;
    }
    free(got);
    return ok;
}
#define EXPECT_STR(got, want) str_is((got), (want), __LINE__)

static Value S(const char *s) { return v_cstring(s); }

static Type *enum2(const char *a, const char *b)
{
    char **l = xmalloc(2 * sizeof(char *));
    l[0] = xstrdup(a);
    l[1] = xstrdup(b);
    return type_enum_new(2, l);
}

/* {a: int, b: string} */
static Type *struct_ab(void)
{
    Type *t = type_struct_new(2);
    t->fields[0].name = xstrdup("a");
    t->fields[0].type = type_int();
    t->fields[1].name = xstrdup("b");
    t->fields[1].type = type_string();
    return t;
}

/* ---------------------------------------------------------------------------- types --- */

static void test_type_to_string(void)
{
    EXPECT_STR(type_to_string(type_int()), "int");
    Type *l = type_list(type_list(type_string()));
    EXPECT_STR(type_to_string(l), "[[string]]");
    type_unref(l);
    Type *s = struct_ab();
    EXPECT_STR(type_to_string(s), "{a: int, b: string}");
    Type *e = enum2("x", "y\"z");
    EXPECT_STR(type_to_string(e), "enum(\"x\", \"y\\\"z\")");
    Type *v = type_vector(3);
    EXPECT_STR(type_to_string(v), "vector(3)");
    Type *n = type_with_nullable(type_ref(s), TYPE_DECLARED_NULLABLE);
    CHECK(n != s && s->nullable == TYPE_NULLABLE, "type_with_nullable must copy");
    EXPECT_STR(type_to_string(n), "{a: int, b: string}?");
    CHECK(type_equal(n, s), "nullability does not change equality");
    s->name = xstrdup("Pair");
    EXPECT_STR(type_to_string(s), "Pair");
    Type *ls = type_list(type_ref(s));
    EXPECT_STR(type_to_string(ls), "[Pair]");
    CHECK(type_field_index(s, "b") == 1 && type_field_index(s, "c") == -1, "field index");
    type_unref(ls);
    type_unref(n);
    type_unref(s);
    type_unref(e);
    type_unref(v);
    type_unref(NULL);
}

static void test_type_unify(void)
{
    Type *t = type_unify(type_int(), type_float());
    CHECK(t && t->kind == TY_FLOAT, "int+float");
    t = type_unify(type_null(), type_string());
    CHECK(t && t->kind == TY_STRING, "null+string");
    Type *e = enum2("a", "b");
    t = type_unify(e, type_string());
    CHECK(t && t->kind == TY_STRING, "enum+string");
    t = type_unify(type_string(), type_int());
    CHECK(t == NULL, "string+int has no common type");
    t = type_unify(type_date(), type_timestamp());
    CHECK(t && t->kind == TY_TIMESTAMP, "date+timestamp");
    Type *l1 = type_list(type_int()), *l2 = type_list(type_float());
    t = type_unify(l1, l2);
    CHECK(t && t->kind == TY_LIST && t->elem->kind == TY_FLOAT, "[int]+[float]");
    type_unref(t);
    Type *s1 = struct_ab(), *s2 = struct_ab();
    type_unref(s2->fields[0].type);
    s2->fields[0].type = type_float();
    t = type_unify(s1, s2);
    CHECK(t && t->kind == TY_STRUCT && t->fields[0].type->kind == TY_FLOAT, "struct fields unify");
    type_unref(t);
    type_unref(l1);
    type_unref(l2);
    type_unref(s1);
    type_unref(s2);
    type_unref(e);
}

static void test_json_schema(void)
{
    /* {title: string "a short title", tags: [string], severity: enum("low", "high"),
     *  due: date?, owner: {name: string, age: int?}, score: float, emb: vector(2)} */
    Type *owner = type_struct_new(2);
    owner->fields[0].name = xstrdup("name");
    owner->fields[0].type = type_string();
    owner->fields[1].name = xstrdup("age");
    owner->fields[1].type = type_with_nullable(type_int(), TYPE_DECLARED_NULLABLE);
    Type *t = type_struct_new(7);
    const char *names[] = {"title", "tags", "severity", "due", "owner", "score", "emb"};
    Type *types[] = {type_string(), type_list(type_string()), enum2("low", "high"),
                     type_with_nullable(type_date(), TYPE_DECLARED_NULLABLE), owner, type_float(), type_vector(2)};
    for (int i = 0; i < 7; i++) {
        t->fields[i].name = xstrdup(names[i]);
        t->fields[i].type = types[i];
    }
    t->fields[0].desc = xstrdup("a short \"title\"");
    json_t *j = type_json_schema(t);
    char *s = json_dumps(j, JSON_COMPACT);
    EXPECT_STR(s,
        "{\"type\":\"object\",\"properties\":{"
        "\"title\":{\"type\":\"string\",\"description\":\"a short \\\"title\\\"\"},"
        "\"tags\":{\"type\":\"array\",\"items\":{\"type\":\"string\"}},"
        "\"severity\":{\"type\":\"string\",\"enum\":[\"low\",\"high\"]},"
        "\"due\":{\"type\":[\"string\",\"null\"],\"format\":\"date\"},"
        "\"owner\":{\"type\":\"object\",\"properties\":{\"name\":{\"type\":\"string\"},\"age\":{\"type\":[\"integer\",\"null\"]}},"
        "\"required\":[\"name\",\"age\"],\"additionalProperties\":false},"
        "\"score\":{\"type\":\"number\"},"
        "\"emb\":{\"type\":\"array\",\"items\":{\"type\":\"number\"}}},"
        "\"required\":[\"title\",\"tags\",\"severity\",\"due\",\"owner\",\"score\",\"emb\"],"
        "\"additionalProperties\":false}");
    json_decref(j);
    /* a nullable enum accepts null in its enum list too */
    Type *ne = type_with_nullable(enum2("a", "b"), TYPE_DECLARED_NULLABLE);
    Type *w = type_struct_new(1);
    w->fields[0].name = xstrdup("e");
    w->fields[0].type = ne;
    j = type_json_schema(w);
    s = json_dumps(j, JSON_COMPACT);
    EXPECT_STR(s, "{\"type\":\"object\",\"properties\":{\"e\":{\"type\":[\"string\",\"null\"],\"enum\":[\"a\",\"b\",null]}},"
                  "\"required\":[\"e\"],\"additionalProperties\":false}");
    json_decref(j);
    type_unref(w);
    type_unref(t);
}

/* ------------------------------------------------------------------------- values --- */

static void test_refcount(void)
{
    Value s = S("hello");
    Value c = value_copy(s);
    CHECK(s.u.s == c.u.s && s.u.s->refcnt == 2, "copy shares");
    value_free(c);
    Value l = v_list_new(3);
    l.u.l->items[0] = s;
    l.u.l->items[1] = v_int(7);
    Type *t = struct_ab();
    Value st = v_struct_new(t);
    st.u.st->fields[0] = v_int(1);
    st.u.st->fields[1] = value_copy(l);   /* deliberately not a string: values are untyped */
    type_unref(t);                        /* the struct holds its own reference */
    Value l2 = value_copy(l);
    value_free(l);
    EXPECT_JSON(l2, "[\"hello\",7,null]");
    EXPECT_TEXT(st, "{\"a\": 1, \"b\": [\"hello\", 7, null]}");
    value_free(v_null());
}

/* values_ref / values_free change counts a column at a time: a few objects repeated (counted in
 * the table), many distinct ones (more than the table holds: counted one by one), scalars between;
 * the counts are those value_copy / value_free a cell at a time give, and the last drop frees the
 * objects (lists with what they hold: AddressSanitizer sees a leak or a double free) */
static void test_refs_by_column(void)
{
    enum { N = 3000, D = 300 };
    Value obj[3 + D];
    obj[0] = S("a");
    obj[1] = S("b");
    obj[2] = v_list_new(1);
    obj[2].u.l->items[0] = S("in a list");
    for (int i = 0; i < D; i++) {
        char t[32];
        snprintf(t, sizeof t, "distinct %d", i);
        obj[3 + i] = S(t);
    }
    Value *col = malloc(N * sizeof *col);
    int uses[3 + D] = { 0 };
    for (int i = 0; i < N; i++) {
        int k = i % 7 == 0 ? -1 : i % 2 ? i % 3 : 3 + i % D;
        col[i] = k < 0 ? v_int(i) : obj[k];
        if (k >= 0) uses[k]++;
    }
    values_ref(col, N);
    int right = 1;
    for (int k = 0; k < 3 + D; k++) right &= *(int32_t *)(void *)obj[k].u.s == 1 + uses[k];
    CHECK(right, "values_ref: one reference a cell");
    values_free(col, N);
    right = 1;
    for (int k = 0; k < 3 + D; k++) right &= *(int32_t *)(void *)obj[k].u.s == 1;
    CHECK(right, "values_free: one reference a cell dropped");
    values_ref(col, N);
    for (int k = 0; k < 3 + D; k++) value_free(obj[k]);   /* the column's references are the last */
    values_free(col, N);
    free(col);
}

static void test_cmp_hash(void)
{
    Value a = v_int(1), b = v_float(1.0);
    CHECK(value_cmp(a, b) == 0 && value_equal(a, b), "1 == 1.0");
    CHECK(value_hash(a) == value_hash(b), "1 and 1.0 hash alike");
    CHECK(value_hash(v_float(0.0)) == value_hash(v_float(-0.0)) && value_equal(v_float(0.0), v_float(-0.0)), "-0.0");
    CHECK(value_equal(v_float(NAN), v_float(NAN)) && value_hash(v_float(NAN)) == value_hash(v_float(-NAN)), "NaN");
    CHECK(value_cmp(v_float(NAN), v_float(INFINITY)) > 0 && value_cmp(v_int(INT64_MAX), v_float(NAN)) < 0, "NaN sorts last");
    CHECK(value_cmp(v_int(9007199254740993LL), v_float(9007199254740992.0)) > 0, "big int vs float exact");
    CHECK(value_cmp(v_int(2), v_float(2.5)) < 0 && value_cmp(v_int(3), v_float(2.5)) > 0, "int vs fraction");
    CHECK(value_cmp(v_int(-3), v_float(-2.5)) < 0 && value_cmp(v_int(-2), v_float(-2.5)) > 0, "negative fraction");
    CHECK(value_cmp(v_int(INT64_MAX), v_float(1e19)) < 0 && value_cmp(v_int(INT64_MIN), v_float(-1e19)) > 0, "out of range float");
    CHECK(value_cmp(v_null(), v_bool(0)) < 0 && value_cmp(v_bool(1), v_int(-5)) < 0, "kind order");
    Value s1 = S("abc"), s2 = S("abd"), s3 = S("ab"), s4 = S("abc");
    CHECK(value_cmp(s1, s2) < 0 && value_cmp(s3, s1) < 0 && value_cmp(v_int(5), s3) < 0, "strings");
    CHECK(value_equal(s1, s4) && value_hash(s1) == value_hash(s4), "equal strings hash alike");
    CHECK(value_hash(s1) != value_hash(s2), "different strings hash apart");
    Value l1 = v_list_new(2), l2 = v_list_new(2);
    l1.u.l->items[0] = v_int(1); l1.u.l->items[1] = v_float(2.0);
    l2.u.l->items[0] = v_float(1.0); l2.u.l->items[1] = v_int(2);
    CHECK(value_equal(l1, l2) && value_hash(l1) == value_hash(l2), "lists [1, 2.0] == [1.0, 2]");
    Value j = v_json_text("\"abc\"", 5);
    CHECK(!value_equal(j, s1), "json is not a string");
    CHECK(value_cmp(v_date(1), v_timestamp(0)) < 0, "dates before timestamps in the total order");
    value_free(s1); value_free(s2); value_free(s3); value_free(s4);
    value_free(l1); value_free(l2); value_free(j);
}

static void test_format_double(void)
{
    struct { double f; const char *s; } cases[] = {
        {3.0, "3.0"}, {0.1, "0.1"}, {-0.0, "-0.0"}, {1.5, "1.5"}, {1e20, "1e+20"}, {1.0 / 3, "0.3333333333333333"},
        {123456789012345.0, "123456789012345.0"}, {1e15, "1e+15"}, {2.5e-7, "2.5e-07"}, {0.1 + 0.2, "0.30000000000000004"},
        {INFINITY, "inf"}, {-INFINITY, "-inf"}, {NAN, "nan"}, {100.0, "100.0"}, {1e300 * 10, "1e+301"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        Buf b;
        buf_init(&b);
        format_double(&b, cases[i].f);
        CHECK(strcmp(b.data, cases[i].s) == 0, "format_double(%.17g) = %s, want %s", cases[i].f, b.data, cases[i].s);
        buf_free(&b);
    }
    /* round trip of pseudo-random bit patterns */
    uint64_t x = 88172645463325252ULL;
    for (int i = 0; i < 20000; i++) {
        x ^= x << 13; x ^= x >> 7; x ^= x << 17;
        double f;
        memcpy(&f, &x, sizeof f);
        if (!isfinite(f)) continue;
        Buf b;
        buf_init(&b);
        format_double(&b, f);
        double back = strtod(b.data, NULL);
        CHECK(back == f, "round trip of %.17g printed as %s", f, b.data);
        buf_free(&b);
        if (failed) break;
    }
}

/* format_double as printf prints it (%.15g, then 16, then 17 digits until it reads back): the
 * reference its fast path (decimals of at most 15 digits, without printf) must match exactly. */
static void ref_format_double(char *tmp, size_t n, double f)
{
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(tmp, n, "%.*g", prec, f);
        if (strtod(tmp, NULL) == f) break;
    }
    if (!strpbrk(tmp, ".en")) strcat(tmp, ".0");
}

static void test_format_double_fast(void)
{
    uint64_t x = 0x9E3779B97F4A7C15ULL;
    for (int i = 0; i < 200000 && !failed; i++) {
        x ^= x << 13; x ^= x >> 7; x ^= x << 17;
        double f;
        if (i % 3 == 2) memcpy(&f, &x, sizeof f);   /* any bit pattern */
        else {                                       /* a decimal: m / 10^k, m of 1 to 17 digits */
            int digits = 1 + (int)(x % 17), k = (int)((x >> 8) % 20);
            uint64_t m = (x >> 16) % (uint64_t)pow(10, digits);
            f = (double)m / pow(10, k) * ((x >> 60) & 1 ? -1 : 1);
        }
        if (!isfinite(f)) continue;
        char want[64];
        ref_format_double(want, sizeof want, f);
        Buf b;
        buf_init(&b);
        format_double(&b, f);
        CHECK(!strcmp(b.data, want), "format_double(%.17g) = %s, printf gives %s", f, b.data, want);
        buf_free(&b);
    }
}

/* Plain decimals for the printers (money): the same digits, no exponent from 1e-9 to 1e15. */
static void test_format_double_plain(void)
{
    struct { double f; const char *s; } cases[] = {
        {6.735e-05, "0.00006735"}, {-6.735e-05, "-0.00006735"}, {2.5e-7, "0.00000025"}, {1e-9, "0.000000001"},
        {1.2345678901234567e-6, "0.0000012345678901234567"}, {1e-10, "1e-10"}, {1e20, "1e+20"}, {0.001, "0.001"},
        {3.0, "3.0"}, {-0.0, "-0.0"}, {NAN, "nan"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        Buf b;
        buf_init(&b);
        format_double_plain(&b, cases[i].f);
        CHECK(strcmp(b.data, cases[i].s) == 0, "format_double_plain(%.17g) = %s, want %s", cases[i].f, b.data, cases[i].s);
        buf_free(&b);
    }
    uint64_t x = 88172645463325252ULL;
    for (int i = 0; i < 20000; i++) {
        x ^= x << 13; x ^= x >> 7; x ^= x << 17;
        double f = (double)(x >> 11) / 9007199254740992.0 * pow(10, -(double)(x % 12));   /* 1e-12 .. 1 */
        Buf b;
        buf_init(&b);
        format_double_plain(&b, f);
        CHECK(strtod(b.data, NULL) == f, "round trip of %.17g printed as %s", f, b.data);
        buf_free(&b);
        if (failed) break;
    }
    char usd[32];
    format_usd(usd, sizeof usd, 0.001);
    CHECK(!strcmp(usd, "0.001"), "format_usd(0.001) = %s", usd);
    format_usd(usd, sizeof usd, 5);
    CHECK(!strcmp(usd, "5.00"), "format_usd(5) = %s", usd);
    format_usd(usd, sizeof usd, 0.0000123456);
    CHECK(!strcmp(usd, "0.00001235"), "format_usd(0.0000123456) = %s", usd);
}

static void test_to_text_json(void)
{
    EXPECT_TEXT(v_float(2.0), "2.0");
    EXPECT_TEXT(v_int(-42), "-42");
    EXPECT_TEXT(v_int(0), "0");
    EXPECT_TEXT(v_int(INT64_MIN), "-9223372036854775808");
    EXPECT_TEXT(v_int(INT64_MAX), "9223372036854775807");
    EXPECT_TEXT(v_bool(1), "true");
    EXPECT_TEXT(v_date(0), "1970-01-01");
    EXPECT_TEXT(v_timestamp(1500000), "1970-01-01 00:00:01.5");
    EXPECT_TEXT(v_timestamp(-1), "1969-12-31 23:59:59.999999");
    Buf b;
    buf_init(&b);
    value_to_text(&b, v_null(), "");
    value_to_text(&b, v_null(), NULL);
    CHECK(strcmp(b.data, "NULL") == 0, "null text, got %s", b.data);
    buf_free(&b);
    EXPECT_JSON(S("a\"b\\c\nd\te\x01 é"), "\"a\\\"b\\\\c\\nd\\te\\u0001 é\"");
    EXPECT_JSON(v_string("x\xff" "y", 3), "\"x\xEF\xBF\xBDy\"");   /* invalid UTF-8 -> U+FFFD */
    EXPECT_JSON(v_float(NAN), "null");
    EXPECT_JSON(v_float(-INFINITY), "null");
    EXPECT_JSON(v_float(1e20), "1e+20");
    EXPECT_JSON(v_date(19723), "\"2024-01-01\"");
    Value l = v_list_new(2);
    l.u.l->items[0] = v_json_text("{\"k\": [1]}", 10);
    l.u.l->items[1] = v_float(0.5);
    EXPECT_JSON(l, "[{\"k\": [1]},0.5]");
    /* every rendering must be valid JSON */
    Type *t = struct_ab();
    Value st = v_struct_new(t);
    st.u.st->fields[0] = v_int(3);
    st.u.st->fields[1] = S("\x7f\x1f");
    buf_init(&b);
    value_to_json(&b, st);
    json_t *j = json_loads(b.data, 0, NULL);
    CHECK(j != NULL, "invalid JSON: %s", b.data);
    json_decref(j);
    buf_free(&b);
    value_free(st);
    type_unref(t);
}

static void test_jansson(void)
{
    Type *t = struct_ab();
    json_t *j = json_loads("{\"a\": 5, \"b\": \"x\", \"extra\": 1}", 0, NULL);
    const char *why = NULL;
    Value v = value_from_jansson(j, t, &why);
    CHECK(why == NULL, "unexpected error %s", why);
    EXPECT_JSON(v, "{\"a\":5,\"b\":\"x\"}");
    json_decref(j);
    j = json_loads("{\"b\": 7}", 0, NULL);   /* missing field -> null; number -> string */
    v = value_from_jansson(j, t, &why);
    EXPECT_JSON(v, "{\"a\":null,\"b\":\"7\"}");
    json_decref(j);
    j = json_loads("{\"a\": \"many\"}", 0, NULL);
    v = value_from_jansson(j, t, &why);
    CHECK(v.kind == V_NULL && why && strcmp(why, "field a: expected an integer, got a string") == 0, "why = %s", why ? why : "(none)");
    json_decref(j);
    Type *lt = type_list(type_ref(t));
    j = json_loads("[{\"a\": 1}, {\"a\": 2.5}]", 0, NULL);
    why = NULL;
    v = value_from_jansson(j, lt, &why);
    CHECK(v.kind == V_NULL && why && strcmp(why, "item 1: field a: expected an integer, got a number") == 0, "why = %s", why ? why : "(none)");
    json_decref(j);
    type_unref(lt);
    Type *e = enum2("Bug", "Feature");
    j = json_string("bug");
    why = NULL;
    EXPECT_JSON(value_from_jansson(j, e, &why), "\"Bug\"");
    json_decref(j);
    j = json_string("other");
    v = value_from_jansson(j, e, &why);
    CHECK(v.kind == V_NULL && why && strstr(why, "not one of"), "enum mismatch");
    json_decref(j);
    /* natural mapping */
    j = json_loads("[1, 2.5, \"s\", true, null, {\"x\": 1}]", 0, NULL);
    why = NULL;
    v = value_from_jansson(j, NULL, &why);
    CHECK(v.kind == V_JSON, "arrays map to json when no type is given");
    value_free(v);
    v = value_from_jansson(json_array_get(j, 1), NULL, &why);
    CHECK(v.kind == V_FLOAT && v.u.f == 2.5, "2.5");
    json_decref(j);
    /* round trip through Jansson */
    Value st = v_struct_new(t);
    st.u.st->fields[0] = v_int(-9);
    st.u.st->fields[1] = S("é");
    j = value_to_jansson(st);
    v = value_from_jansson(j, t, &why);
    CHECK(value_equal(v, st), "round trip");
    value_free(v);
    json_decref(j);
    value_free(st);
    Type *vt = type_vector(3);
    j = json_loads("[1, 2]", 0, NULL);
    v = value_from_jansson(j, vt, &why);
    CHECK(v.kind == V_NULL && why && strstr(why, "expected 3 numbers"), "vector dim");
    json_decref(j);
    type_unref(vt);
    type_unref(e);
    type_unref(t);
}

/* ------------------------------------------------------------------------- casts --- */

static Value cast_ok(Value v, Type *t, int line)
{
    char *err = NULL;
    Value r = value_cast(v, t, &err);
    if (err && !failed) {
        snprintf(reason, sizeof reason, "line %d: unexpected cast error: %s", line, err);
        failed = 1;
    }
    free(err);
    return r;
}
#define CAST(v, t) cast_ok((v), (t), __LINE__)

static void cast_err(Value v, Type *t, const char *want, int line)
{
    char *err = NULL;
    Value r = value_cast(v, t, &err);
    if ((r.kind != V_NULL || !err || !strstr(err, want)) && !failed) {
        snprintf(reason, sizeof reason, "line %d: want error containing '%s', got '%s'", line, want, err ? err : "(none)");
        failed = 1;
    }
    value_free(r);
    free(err);
}
#define CAST_ERR(v, t, want) cast_err((v), (t), (want), __LINE__)

static void test_casts(void)
{
    EXPECT_JSON(CAST(S(" 42 "), type_int()), "42");
    EXPECT_JSON(CAST(S("3.7"), type_int()), "4");
    EXPECT_JSON(CAST(S("-2.5"), type_int()), "-3");
    EXPECT_JSON(CAST(v_float(2.5), type_int()), "3");
    EXPECT_JSON(CAST(v_float(-0.4), type_int()), "0");
    EXPECT_JSON(CAST(v_float(1e18), type_int()), "1000000000000000000");
    CAST_ERR(v_float(1e19), type_int(), "cannot cast 1e+19 to int");
    CAST_ERR(v_float(NAN), type_int(), "to int");
    CAST_ERR(S("abc"), type_int(), "cannot cast 'abc' to int");
    CAST_ERR(S("12abc"), type_int(), "cannot cast");
    CAST_ERR(S(""), type_float(), "cannot cast");
    EXPECT_JSON(CAST(S("1e3"), type_float()), "1000.0");
    EXPECT_JSON(CAST(v_int(7), type_float()), "7.0");
    EXPECT_JSON(CAST(v_bool(1), type_int()), "1");
    EXPECT_JSON(CAST(v_int(0), type_bool()), "false");
    EXPECT_JSON(CAST(S("Yes"), type_bool()), "true");
    EXPECT_JSON(CAST(S("f"), type_bool()), "false");
    CAST_ERR(S("maybe"), type_bool(), "cannot cast 'maybe' to bool");
    EXPECT_JSON(CAST(S("2024-02-29"), type_date()), "\"2024-02-29\"");
    CAST_ERR(S("2023-02-29"), type_date(), "to date");
    EXPECT_JSON(CAST(S("2024-01-02T03:04:05Z"), type_date()), "\"2024-01-02\"");
    EXPECT_JSON(CAST(v_timestamp(-1), type_date()), "\"1969-12-31\"");
    EXPECT_JSON(CAST(v_date(1), type_timestamp()), "\"1970-01-02 00:00:00\"");
    EXPECT_JSON(CAST(S("2024-01-02"), type_timestamp()), "\"2024-01-02 00:00:00\"");
    EXPECT_JSON(CAST(v_float(3.0), type_string()), "\"3.0\"");
    EXPECT_JSON(CAST(v_date(0), type_string()), "\"1970-01-01\"");
    EXPECT_JSON(CAST(v_json_text("\"hi\"", 4), type_string()), "\"hi\"");
    EXPECT_JSON(CAST(v_json_text("{\"a\":1}", 7), type_string()), "\"{\\\"a\\\":1}\"");
    EXPECT_JSON(CAST(S("{\"a\": [1, 2]}"), type_json()), "{\"a\": [1, 2]}");
    CAST_ERR(S("{bad"), type_json(), "cannot cast '{bad' to json");
    EXPECT_JSON(CAST(v_int(5), type_json()), "5");
    EXPECT_JSON(CAST(v_json_text("12", 2), type_int()), "12");
    CAST_ERR(v_json_text("\"x\"", 3), type_int(), "cannot cast to int");
    Type *e = enum2("low", "high");
    EXPECT_JSON(CAST(S("high"), e), "\"high\"");
    CAST_ERR(S("mid"), e, "cannot cast 'mid' to enum(\"low\", \"high\")");
    type_unref(e);
    Type *lf = type_list(type_float());
    Value l = v_list_new(3);
    l.u.l->items[0] = v_int(1);
    l.u.l->items[1] = S("2.5");
    EXPECT_JSON(CAST(l, lf), "[1.0,2.5,null]");
    EXPECT_JSON(CAST(S("[1, 2]"), lf), "[1.0,2.0]");
    Value bad = v_list_new(1);
    bad.u.l->items[0] = S("x");
    CAST_ERR(bad, lf, "cannot cast 'x' to float");
    type_unref(lf);
    Type *t = struct_ab();
    EXPECT_JSON(CAST(S("{\"b\": \"q\", \"a\": 2}"), t), "{\"a\":2,\"b\":\"q\"}");
    /* struct to struct by field name */
    Type *u = type_struct_new(1);
    u->fields[0].name = xstrdup("a");
    u->fields[0].type = type_string();
    Value st = v_struct_new(t);
    st.u.st->fields[0] = v_int(9);
    EXPECT_JSON(CAST(st, u), "{\"a\":\"9\"}");
    type_unref(u);
    type_unref(t);
    Type *vec = type_vector(2);
    Value l3 = v_list_new(3);
    CAST_ERR(l3, vec, "vector(2)");
    type_unref(vec);
    EXPECT_JSON(CAST(v_null(), type_int()), "null");
    CAST_ERR(v_date(3), type_bool(), "cannot cast 1970-01-04 to bool");
}

/* ----------------------------------------------------------------- dates and times --- */

static void test_dates(void)
{
    CHECK(date_from_ymd(1970, 1, 1) == 0, "epoch");
    CHECK(date_from_ymd(1969, 12, 31) == -1, "day before epoch");
    CHECK(date_from_ymd(2000, 3, 1) - date_from_ymd(2000, 2, 28) == 2, "2000 is a leap year");
    CHECK(date_from_ymd(1900, 3, 1) - date_from_ymd(1900, 2, 28) == 1, "1900 is not");
    CHECK(date_from_ymd(2024, 1, 1) == 19723, "2024-01-01");
    CHECK(date_from_ymd(1, 1, 1) == -719162, "0001-01-01");
    int y, m, d;
    for (int64_t k = -800000; k <= 800000; k += 7) {
        date_to_ymd(k, &y, &m, &d);
        if (date_from_ymd(y, m, d) != k) { CHECK(0, "round trip of day %lld", (long long)k); break; }
    }
    date_to_ymd(-719163, &y, &m, &d);
    CHECK(y == 0 && m == 12 && d == 31, "year 0 (1 BC), got %d-%d-%d", y, m, d);
    int64_t x;
    CHECK(date_parse("2024-02-29", 10, &x) && x == date_from_ymd(2024, 2, 29), "leap day");
    CHECK(!date_parse("2023-02-29", 10, &x), "not a leap year");
    CHECK(!date_parse("1900-02-29", 10, &x), "1900 not leap");
    CHECK(date_parse("2000-02-29", 10, &x), "2000 leap");
    CHECK(!date_parse("2024-13-01", 10, &x) && !date_parse("2024-04-31", 10, &x) && !date_parse("2024-01-01x", 11, &x), "invalid dates");
    CHECK(date_parse(" 2024-1-5 ", 10, &x) && x == date_from_ymd(2024, 1, 5), "short month and day, spaces");
    CHECK(date_parse("-0044-03-15", 11, &x) && x == date_from_ymd(-44, 3, 15), "negative year");
    EXPECT_TEXT(v_date(x), "-0044-03-15");
    EXPECT_TEXT(v_date(-719162), "0001-01-01");
}

static void test_timestamps(void)
{
    int64_t x, base = date_from_ymd(2024, 3, 10) * 86400000000LL;
    const char *s;
#define TS(str) (s = (str), timestamp_parse(s, strlen(s), &x))
    CHECK(TS("2024-03-10 12:34:56") && x == base + (12 * 3600 + 34 * 60 + 56) * 1000000LL, "space form");
    CHECK(TS("2024-03-10T12:34:56.123456") && x == base + (12 * 3600 + 34 * 60 + 56) * 1000000LL + 123456, "T and micros");
    CHECK(TS("2024-03-10T12:34:56.1234569") && x % 1000000 == 123456, "nanos truncate");
    CHECK(TS("2024-03-10T12:34:56.5Z") && x == base + (12 * 3600 + 34 * 60 + 56) * 1000000LL + 500000, "Z");
    CHECK(TS("2024-03-10T12:34:56+02:00") && x == base + (10 * 3600 + 34 * 60 + 56) * 1000000LL, "+02:00");
    CHECK(TS("2024-03-10T00:30:00-0530") && x == base + (6 * 3600) * 1000000LL, "-0530");
    CHECK(TS("2024-03-10 01:00:00+05") && x == base - 4 * 3600 * 1000000LL, "+05 crosses midnight");
    CHECK(TS("2024-03-10 12:34") && x == base + (12 * 3600 + 34 * 60) * 1000000LL, "no seconds");
    CHECK(TS("2024-03-10") && x == base, "date only");
    CHECK(TS("1969-12-31 23:59:59.5") && x == -500000, "before the epoch");
    CHECK(!TS("2024-03-10 25:00:00") && !TS("2024-03-10T12") && !TS("2024-03-10 12:00:00 +25:00") &&
          !TS("2024-03-10 12:00:00Zjunk") && !TS("2024-03-10 12:00:00."), "invalid timestamps");
#undef TS
    EXPECT_TEXT(v_timestamp(base + 1), "2024-03-10 00:00:00.000001");
    EXPECT_TEXT(v_timestamp(base + 120000), "2024-03-10 00:00:00.12");
}

/* ------------------------------------------------------------------------- operators --- */

static Value arith(int op, Value a, Value b, char **err) { *err = NULL; return op_arith(op, a, b, err); }

static void test_arith(void)
{
    char *err;
    EXPECT_JSON(arith(OP_ADD, v_int(2), v_int(3), &err), "5");
    EXPECT_JSON(arith(OP_DIV, v_int(7), v_int(2), &err), "3.5");
    EXPECT_JSON(arith(OP_DIV, v_int(7), v_int(0), &err), "null");
    CHECK(!err, "division by zero is null, not an error");
    EXPECT_JSON(arith(OP_DIV, v_float(1), v_float(0), &err), "null");
    EXPECT_JSON(arith(OP_MOD, v_int(-7), v_int(3), &err), "-1");
    EXPECT_JSON(arith(OP_MOD, v_int(7), v_int(0), &err), "null");
    EXPECT_JSON(arith(OP_MOD, v_int(INT64_MIN), v_int(-1), &err), "0");
    EXPECT_JSON(arith(OP_MOD, v_float(7.5), v_int(2), &err), "1.5");
    EXPECT_JSON(arith(OP_MUL, v_int(3), v_float(0.5), &err), "1.5");
    EXPECT_JSON(arith(OP_SUB, v_null(), v_int(1), &err), "null");
    EXPECT_JSON(arith(OP_ADD, v_int(INT64_MAX), v_int(1), &err), "null");
    CHECK(err && strcmp(err, "integer overflow") == 0, "overflow error");
    free(err);
    EXPECT_JSON(arith(OP_MUL, v_int(INT64_MIN), v_int(-1), &err), "null");
    CHECK(err != NULL, "mul overflow");
    free(err);
    EXPECT_JSON(arith(OP_ADD, v_date(0), v_int(31), &err), "\"1970-02-01\"");
    EXPECT_JSON(arith(OP_SUB, v_date(date_from_ymd(2024, 3, 1)), v_date(date_from_ymd(2024, 2, 1)), &err), "29");
    EXPECT_JSON(arith(OP_ADD, S("a"), v_int(1), &err), "null");
    CHECK(err && strcmp(err, "cannot apply + to string and int") == 0, "type error: %s", err ? err : "(none)");
    free(err);
    err = NULL;
    EXPECT_JSON(op_neg(v_int(5), &err), "-5");
    EXPECT_JSON(op_neg(v_int(INT64_MIN), &err), "null");
    CHECK(err != NULL, "neg overflow");
    free(err);
    EXPECT_JSON(op_concat(S("ab"), S("cd")), "\"abcd\"");
    EXPECT_JSON(op_concat(S("n="), v_int(3)), "\"n=3\"");
    EXPECT_JSON(op_concat(S("x"), v_null()), "null");
    Value l1 = v_list_new(1), l2 = v_list_new(2);
    l1.u.l->items[0] = v_int(1);
    l2.u.l->items[0] = S("b");
    EXPECT_JSON(op_concat(l1, l2), "[1,\"b\",null]");
}

static Value cmp(int op, Value a, Value b, char **err) { *err = NULL; return op_compare(op, a, b, err); }

static void test_compare(void)
{
    char *err;
    EXPECT_JSON(cmp(OP_EQ, v_int(1), v_float(1.0), &err), "true");
    EXPECT_JSON(cmp(OP_LT, v_int(1), v_float(1.5), &err), "true");
    EXPECT_JSON(cmp(OP_NE, v_null(), v_int(1), &err), "null");
    EXPECT_JSON(cmp(OP_GE, S("b"), S("a"), &err), "true");
    EXPECT_JSON(cmp(OP_EQ, v_date(date_from_ymd(2024, 1, 5)), S("2024-01-05"), &err), "true");
    EXPECT_JSON(cmp(OP_LT, S("2024-01-04"), v_date(date_from_ymd(2024, 1, 5)), &err), "true");
    EXPECT_JSON(cmp(OP_GT, v_timestamp(date_from_ymd(2024, 1, 5) * 86400000000LL + 1), S("2024-01-05"), &err), "true");
    EXPECT_JSON(cmp(OP_EQ, v_date(1), v_timestamp(86400000000LL), &err), "true");
    EXPECT_JSON(cmp(OP_LT, v_date(1), S("soon"), &err), "null");
    CHECK(err && strstr(err, "cannot compare date with 'soon'"), "bad date string: %s", err ? err : "(none)");
    free(err);
    EXPECT_JSON(cmp(OP_EQ, S("1"), v_int(1), &err), "false");
    CHECK(!err, "mismatched kinds are unequal");
    EXPECT_JSON(cmp(OP_LT, S("1"), v_int(1), &err), "null");
    CHECK(err != NULL, "ordering mismatched kinds is an error");
    free(err);
}

static void test_like(void)
{
    struct { const char *s, *p; int ci, want; } cases[] = {
        {"hello", "h%o", 0, 1}, {"hello", "h_llo", 0, 1}, {"hello", "h_lo", 0, 0}, {"hello", "%", 0, 1},
        {"", "%", 0, 1}, {"", "_", 0, 0}, {"abc", "abc", 0, 1}, {"abc", "ABC", 0, 0}, {"abc", "ABC", 1, 1},
        {"héllo", "h_llo", 0, 1}, {"HÉLLO", "hé%", 1, 1}, {"aaa", "%a%a%a%", 0, 1}, {"aa", "%a%a%a%", 0, 0},
        {"mississippi", "%iss%ppi", 0, 1}, {"mississippi", "m%s_s%i", 0, 1}, {"x%y", "x%y", 0, 1},
        {"abcd", "%d", 0, 1}, {"abcd", "%c", 0, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int got = op_like_match(cases[i].s, strlen(cases[i].s), cases[i].p, strlen(cases[i].p), cases[i].ci);
        CHECK(got == cases[i].want, "'%s' %s '%s' = %d", cases[i].s, cases[i].ci ? "ilike" : "like", cases[i].p, got);
    }
    EXPECT_JSON(op_like(S("abc"), v_null(), 0), "null");
    EXPECT_JSON(op_like(S("Abc"), S("a%"), 1), "true");
}

static void test_logic(void)
{
    EXPECT_JSON(op_and(v_bool(0), v_null()), "false");
    EXPECT_JSON(op_and(v_bool(1), v_null()), "null");
    EXPECT_JSON(op_and(v_bool(1), v_bool(1)), "true");
    EXPECT_JSON(op_or(v_bool(1), v_null()), "true");
    EXPECT_JSON(op_or(v_bool(0), v_null()), "null");
    EXPECT_JSON(op_or(v_bool(0), v_bool(0)), "false");
    EXPECT_JSON(op_not(v_null()), "null");
    EXPECT_JSON(op_not(v_bool(0)), "true");
}

static void test_case_map(void)
{
    Buf b;
    buf_init(&b);
    text_case(&b, "héllo ÀÉÎ straße ŁÓDŹ Ωμέγα ПРИВЕТ", strlen("héllo ÀÉÎ straße ŁÓDŹ Ωμέγα ПРИВЕТ"), 1);
    CHECK(strcmp(b.data, "HÉLLO ÀÉÎ STRAßE ŁÓDŹ ΩΜΈΓΑ ПРИВЕТ") == 0, "upper: %s", b.data);
    buf_clear(&b);
    text_case(&b, "HÉLLO ŁÓDŹ ΩΜΈΓΑ ПРИВЕТ", strlen("HÉLLO ŁÓDŹ ΩΜΈΓΑ ПРИВЕТ"), 0);
    CHECK(strcmp(b.data, "héllo łódź ωμέγα привет") == 0, "lower: %s", b.data);
    buf_clear(&b);
    text_case(&b, "a\xffZ", 3, 0);
    CHECK(memcmp(b.data, "a\xffz", 3) == 0 && b.len == 3, "invalid bytes kept");
    buf_free(&b);
    CHECK(text_token_estimate("abcde", 5) == 2 && text_token_estimate("", 0) == 0, "token estimate");
}

int main(void)
{
    run("type_to_string", test_type_to_string);
    run("type_unify", test_type_unify);
    run("json_schema", test_json_schema);
    run("refcount", test_refcount);
    run("refs_by_column", test_refs_by_column);
    run("cmp_hash", test_cmp_hash);
    run("format_double", test_format_double);
    run("format_double_fast", test_format_double_fast);
    run("format_double_plain", test_format_double_plain);
    run("to_text_json", test_to_text_json);
    run("jansson", test_jansson);
    run("casts", test_casts);
    run("dates", test_dates);
    run("timestamps", test_timestamps);
    run("arith", test_arith);
    run("compare", test_compare);
    run("like", test_like);
    run("logic", test_logic);
    run("case_map", test_case_map);
    return check_summary();
}
