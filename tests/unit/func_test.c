/* func_test.c: unit tests of the scalar functions and aggregates (func_scalar.c, func_agg.c).
 * Prints `ok NAME` or `FAIL NAME: reason` per test and a closing `N passed, M failed`. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "func.h"
#include "ops.h"
#include "check.h"

static char *last_error;    /* the error the last call() recorded, or NULL */



static Value S(const char *s) { return v_cstring(s); }
#define I(x) v_int(x)
#define F(x) v_float(x)
#define N v_null()

/* Call built-in fn on n args (consumed); the FuncCtx error goes to last_error. */
static Value callv(const char *fn, int n, Value *args)
{
    free(last_error);
    last_error = NULL;
    const FuncDef *d = func_lookup(fn);
    if (!d) {
        for (int i = 0; i < n; i++) value_free(args[i]);
        if (!failed) { snprintf(reason, sizeof reason, "no function %s", fn); failed = 1; }
        return v_null();
    }
    /* pad omitted optional parameters with null, as the binder does */
    Value padded[8];
    int m = n;
    for (int i = 0; i < n && i < 8; i++) padded[i] = args[i];
    while (m < d->nparams && m < 8) padded[m++] = v_null();
    FuncCtx ctx = {.now_us = 1700000000000000LL};
    Value r = d->impl(padded, m, &ctx);
    func_ctx_done(&ctx);
    for (int i = 0; i < n; i++) value_free(args[i]);
    last_error = ctx.error;
    return r;
}
#define CALL(fn, ...) callv(fn, (int)(sizeof((Value[]){__VA_ARGS__}) / sizeof(Value)), (Value[]){__VA_ARGS__})

static int json_is(Value v, const char *want, int line)
{
    Buf b;
    buf_init(&b);
    value_to_json(&b, v);
    int ok = strcmp(b.data, want) == 0;
    if (!ok && !failed) {
        snprintf(reason, sizeof reason, "line %d: got %s, want %s%s%s", line, b.data, want,
                 last_error ? "; error: " : "", last_error ? last_error : "");
        failed = 1;
    }
    if (ok && last_error && !failed) {
        snprintf(reason, sizeof reason, "line %d: unexpected error: %s", line, last_error);
        failed = 1;
        ok = 0;
    }
    buf_free(&b);
    value_free(v);
    return ok;
}
#define EXPECT(v, want) json_is((v), (want), __LINE__)

/* The call must fail with an error containing want. */
static void err_is(Value v, const char *want, int line)
{
    if ((!last_error || !strstr(last_error, want) || v.kind != V_NULL) && !failed) {
        snprintf(reason, sizeof reason, "line %d: want error containing '%s', got '%s'", line, want, last_error ? last_error : "(none)");
        failed = 1;
    }
    value_free(v);
}
#define EXPECT_ERR(v, want) err_is((v), (want), __LINE__)

static Value list_of(int n, ...)
{
    va_list ap;
    va_start(ap, n);
    Value l = v_list_new((uint32_t)n);
    for (int i = 0; i < n; i++) l.u.l->items[i] = va_arg(ap, Value);
    va_end(ap);
    return l;
}

/* ---------------------------------------------------------------------------- strings --- */

static void test_case_and_trim(void)
{
    EXPECT(CALL("lower", S("HÉLLO World")), "\"héllo world\"");
    EXPECT(CALL("upper", S("héllo")), "\"HÉLLO\"");
    EXPECT(CALL("lower", N), "null");
    EXPECT(CALL("trim", S("  a b \t\n")), "\"a b\"");
    EXPECT(CALL("ltrim", S("  a  ")), "\"a  \"");
    EXPECT(CALL("rtrim", S("  a  ")), "\"  a\"");
    EXPECT(CALL("trim", S("xxhixyx"), S("xy")), "\"hi\"");
    EXPECT(CALL("trim", S("ééaé"), S("é")), "\"a\"");
    EXPECT(CALL("trim", S("   ")), "\"\"");
}

static void test_length_substr(void)
{
    EXPECT(CALL("length", S("héllo")), "5");
    EXPECT(CALL("length", S("")), "0");
    EXPECT(CALL("length", S("日本語🎉")), "4");
    EXPECT(CALL("length", list_of(2, I(1), N)), "2");
    EXPECT(CALL("substr", S("héllo"), I(2), I(3)), "\"éll\"");
    EXPECT(CALL("substr", S("héllo"), I(2)), "\"éllo\"");
    EXPECT(CALL("substr", S("héllo"), I(-3)), "\"llo\"");
    EXPECT(CALL("substr", S("héllo"), I(-3), I(2)), "\"ll\"");
    EXPECT(CALL("substr", S("hello"), I(0), I(2)), "\"h\"");      /* SQLite: position 0 is before the first */
    EXPECT(CALL("substr", S("hello"), I(10)), "\"\"");
    EXPECT(CALL("substr", S("hello"), I(-10), I(7)), "\"he\"");
    EXPECT(CALL("substr", S("hello"), I(4), I(-2)), "\"el\"");
    EXPECT(CALL("substr", S("hello"), I(1), I(0)), "\"\"");
    EXPECT(CALL("substr", S("hello"), N), "null");
}

static void test_replace_split_find(void)
{
    EXPECT(CALL("replace", S("a-b-c"), S("-"), S("+=")), "\"a+=b+=c\"");
    EXPECT(CALL("replace", S("aaa"), S("aa"), S("b")), "\"ba\"");
    EXPECT(CALL("replace", S("abc"), S(""), S("x")), "\"abc\"");
    EXPECT(CALL("split", S("a,b,,c"), S(",")), "[\"a\",\"b\",\"\",\"c\"]");
    EXPECT(CALL("split", S("a--b"), S("--")), "[\"a\",\"b\"]");
    EXPECT(CALL("split", S(""), S(",")), "[\"\"]");
    EXPECT(CALL("split", S("hé"), S("")), "[\"h\",\"é\"]");
    EXPECT(CALL("starts_with", S("hello"), S("he")), "true");
    EXPECT(CALL("starts_with", S("he"), S("hello")), "false");
    EXPECT(CALL("ends_with", S("hello"), S("llo")), "true");
    EXPECT(CALL("ends_with", S("hello"), S("hel")), "false");
    EXPECT(CALL("contains", S("hello"), S("ell")), "true");
    EXPECT(CALL("contains", S("hello"), S("")), "true");
    EXPECT(CALL("contains", S("hello"), S("xyz")), "false");
    EXPECT(CALL("contains", N, S("x")), "null");
}

static void test_regex(void)
{
    EXPECT(CALL("regexp_match", S("order #123"), S("#\\d+")), "true");
    EXPECT(CALL("regexp_match", S("order"), S("^\\d")), "false");
    EXPECT(CALL("regexp_match", S("ABC"), S("abc"), S("i")), "true");
    EXPECT(CALL("regexp_match", S("héllo"), S("^h.llo$")), "true");   /* . is one character */
    EXPECT(CALL("regexp_match", S("naïve"), S("^\\w+$")), "true");     /* \w is Unicode-aware */
    EXPECT(CALL("regexp_replace", S("a1b22c333"), S("\\d+"), S("#")), "\"a#b#c#\"");
    EXPECT(CALL("regexp_replace", S("John Smith"), S("(\\w+) (\\w+)"), S("$2, $1")), "\"Smith, John\"");
    EXPECT(CALL("regexp_replace", S("John Smith"), S("(\\w+) (\\w+)"), S("\\2 \\1")), "\"Smith John\"");
    EXPECT(CALL("regexp_replace", S("aXbx"), S("x"), S("-"), S("gi")), "\"a-b-\"");
    EXPECT(CALL("regexp_replace", S("cost: 5"), S("\\d"), S("$$")), "\"cost: $\"");
    EXPECT(CALL("regexp_extract", S("id=42;"), S("id=(\\d+)"), I(1)), "\"42\"");
    EXPECT(CALL("regexp_extract", S("id=42;"), S("id=\\d+")), "\"id=42\"");
    EXPECT(CALL("regexp_extract", S("none"), S("\\d+")), "null");
    EXPECT(CALL("regexp_extract", S("ab"), S("a(x)?b"), I(1)), "null");
    EXPECT_ERR(CALL("regexp_extract", S("ab"), S("a(b)"), I(2)), "no group 2");
    EXPECT_ERR(CALL("regexp_match", S("x"), S("a(b")),
               "regexp_match: invalid regular expression 'a(b': missing closing parenthesis at offset 3");
    EXPECT_ERR(CALL("regexp_replace", S("x"), S("[z"), S("")), "invalid regular expression '[z'");
    EXPECT_ERR(CALL("regexp_match", S("x"), S("x"), S("q")), "unknown regular expression flag 'q'");
    /* a long result, beyond the first output buffer */
    Buf b;
    buf_init(&b);
    for (int i = 0; i < 500; i++) buf_puts(&b, "ab");
    Value r = CALL("regexp_replace", v_string(b.data, b.len), S("b"), S("<long>"));
    CHECK(r.kind == V_STRING && r.u.s->len == 500 * 7, "long replace: %zu", r.kind == V_STRING ? r.u.s->len : 0);
    value_free(r);
    buf_free(&b);
    /* the cache returns the same compiled pattern for many rows */
    for (int i = 0; i < 100; i++) {
        Value m = CALL("regexp_match", S("x1"), S("x\\d"));
        CHECK(m.kind == V_BOOL && m.u.b, "cached pattern");
    }
}

static void test_concat_format(void)
{
    EXPECT(CALL("concat", S("a"), N, I(1), F(2.5), v_bool(1)), "\"a12.5true\"");
    EXPECT(callv("concat", 0, NULL), "\"\"");
    EXPECT(CALL("format", S("{} + {} = {}"), I(1), I(2), I(3)), "\"1 + 2 = 3\"");
    EXPECT(CALL("format", S("{1}{0}{{}}"), S("a"), S("b")), "\"ba{}\"");
    EXPECT(CALL("format", S("{:.2f}|{:>5}|{:<4}|{:05d}|{:^7}"), F(3.14159), I(42), S("ab"), I(-42), S("mid")),
           "\"3.14|   42|ab  |-0042|  mid  \"");
    EXPECT(CALL("format", S("{:.1%} {:x} {}"), F(0.256), I(255), N), "\"25.6% ff NULL\"");
    EXPECT(CALL("format", S("é{}é"), S("ü")), "\"éüé\"");
    EXPECT_ERR(CALL("format", S("{} {}"), I(1)), "placeholder 1 but only 1 argument");
    EXPECT_ERR(CALL("format", S("{oops}"), I(1)), "invalid placeholder '{oops}'");
    EXPECT_ERR(CALL("format", S("x}"), I(1)), "single '}'");
    EXPECT_ERR(CALL("format", S("{:q}"), I(1)), "unsupported format spec 'q'");
    EXPECT(CALL("format", N, I(1)), "null");
}

/* ------------------------------------------------------------------------------- math --- */

static void test_math(void)
{
    EXPECT(CALL("abs", I(-5)), "5");
    EXPECT(CALL("abs", F(-2.5)), "2.5");
    EXPECT_ERR(CALL("abs", I(INT64_MIN)), "integer overflow");
    EXPECT(CALL("round", F(2.5)), "3.0");
    EXPECT(CALL("round", F(-2.5)), "-3.0");
    EXPECT(CALL("round", F(1.2345), I(2)), "1.23");
    EXPECT(CALL("round", F(1234.5), I(-2)), "1200.0");
    EXPECT(CALL("round", I(1250), I(-2)), "1300");
    EXPECT(CALL("round", I(-1250), I(-2)), "-1300");
    EXPECT(CALL("round", I(-1249), I(-2)), "-1200");
    EXPECT(CALL("round", I(7)), "7");
    EXPECT(CALL("floor", F(-1.5)), "-2.0");
    EXPECT(CALL("ceil", F(1.2)), "2.0");
    EXPECT(CALL("floor", I(3)), "3");
    EXPECT(CALL("sqrt", I(16)), "4.0");
    EXPECT(CALL("sqrt", F(-1)), "null");
    EXPECT(CALL("ln", F(M_E)), "1.0");
    EXPECT(CALL("ln", I(0)), "null");
    EXPECT(CALL("exp", I(0)), "1.0");
    EXPECT(CALL("pow", I(2), I(10)), "1024.0");
    EXPECT(CALL("pow", F(-8), F(0.5)), "null");
    EXPECT(CALL("sign", F(-0.5)), "-1");
    EXPECT(CALL("sign", I(0)), "0");
    EXPECT(CALL("mod", I(-7), I(3)), "-1");
    EXPECT(CALL("mod", I(7), I(0)), "null");
    EXPECT(CALL("least", I(3), N, I(1), I(2)), "1");
    EXPECT(CALL("greatest", I(3), F(4.5), N), "4.5");
    EXPECT(CALL("greatest", I(5), F(4.5)), "5.0");      /* int promoted: the unified type is float */
    EXPECT(CALL("least", S("b"), S("a")), "\"a\"");
    EXPECT(CALL("least", N, N), "null");
    EXPECT(CALL("coalesce", N, I(2), I(3)), "2");
    EXPECT(CALL("coalesce", N, N), "null");
    EXPECT(CALL("nullif", I(1), F(1.0)), "null");
    EXPECT(CALL("nullif", I(1), I(2)), "1");
    EXPECT(CALL("nullif", S("a"), N), "\"a\"");
    EXPECT(CALL("typeof", F(1)), "\"float\"");
    EXPECT(CALL("typeof", N), "\"null\"");
}

/* ------------------------------------------------------------------------ dates --- */

static void test_dates(void)
{
    /* the test context's statement start is 1700000000 s = 2023-11-14 22:13:20 UTC */
    EXPECT(callv("now", 0, NULL), "\"2023-11-14 22:13:20\"");
    EXPECT(callv("today", 0, NULL), "\"2023-11-14\"");
    Value ts = v_timestamp(date_from_ymd(2024, 5, 17) * 86400000000LL + (13 * 3600 + 45 * 60 + 30) * 1000000LL + 250);
    EXPECT(CALL("year", ts), "2024");
    EXPECT(CALL("month", ts), "5");
    EXPECT(CALL("day", ts), "17");
    EXPECT(CALL("hour", ts), "13");
    EXPECT(CALL("minute", ts), "45");
    EXPECT(CALL("second", ts), "30");
    EXPECT(CALL("year", v_date(date_from_ymd(-5, 1, 1))), "-5");
    EXPECT(CALL("month", S("2024-02-29")), "2");
    EXPECT_ERR(CALL("year", S("someday")), "'someday' is not a date or timestamp");
    EXPECT(CALL("date_trunc", S("month"), ts), "\"2024-05-01 00:00:00\"");
    EXPECT(CALL("date_trunc", S("year"), ts), "\"2024-01-01 00:00:00\"");
    EXPECT(CALL("date_trunc", S("quarter"), ts), "\"2024-04-01 00:00:00\"");
    EXPECT(CALL("date_trunc", S("week"), ts), "\"2024-05-13 00:00:00\"");   /* a Monday */
    EXPECT(CALL("date_trunc", S("day"), ts), "\"2024-05-17 00:00:00\"");
    EXPECT(CALL("date_trunc", S("hour"), ts), "\"2024-05-17 13:00:00\"");
    EXPECT(CALL("date_trunc", S("minute"), ts), "\"2024-05-17 13:45:00\"");
    EXPECT(CALL("date_trunc", S("second"), ts), "\"2024-05-17 13:45:30\"");
    EXPECT(CALL("date_trunc", S("MONTHS"), v_date(date_from_ymd(2024, 2, 29))), "\"2024-02-01\"");
    EXPECT(CALL("date_trunc", S("week"), v_date(date_from_ymd(1970, 1, 1))), "\"1969-12-29\"");
    EXPECT(CALL("date_trunc", S("hour"), v_timestamp(-1)), "\"1969-12-31 23:00:00\"");
    EXPECT_ERR(CALL("date_trunc", S("fortnight"), ts), "unknown part 'fortnight'");
}

/* -------------------------------------------------------------------------- json --- */

static void test_json(void)
{
    const char *doc = "{\"a\": {\"b\": [10, {\"c\": \"x\"}], \"n\": null}, \"k.dot\": true}";
    EXPECT(CALL("json_get", S(doc), S("$.a.b[0]")), "10");
    EXPECT(CALL("json_get", S(doc), S("a.b[1].c")), "\"x\"");
    EXPECT(CALL("json_get", S(doc), S("$.a.b[-1]")), "{\"c\":\"x\"}");
    EXPECT(CALL("json_get", S(doc), S("$[\"k.dot\"]")), "true");
    EXPECT(CALL("json_get", S(doc), S("$.a.n")), "null");
    EXPECT(CALL("json_get", S(doc), S("$.missing.x")), "null");
    EXPECT(CALL("json_get", S(doc), S("$.a.b[5]")), "null");
    EXPECT(CALL("json_get", S(doc), S("$")), "{\"a\":{\"b\":[10,{\"c\":\"x\"}],\"n\":null},\"k.dot\":true}");
    EXPECT(CALL("json_get", S("not json"), S("$.a")), "null");
    EXPECT_ERR(CALL("json_get", S(doc), S("$.a[")), "invalid path '$.a['");
    Value j = CALL("json_get", v_json_text("[1,2]", 5), S("[1]"));
    CHECK(j.kind == V_JSON, "json_get returns json");
    EXPECT(j, "2");
    EXPECT(CALL("to_json", S("a\"b")), "\"a\\\"b\"");
    EXPECT(CALL("to_json", list_of(2, I(1), v_date(0))), "[1,\"1970-01-01\"]");
    Value tj = CALL("to_json", I(3));
    CHECK(tj.kind == V_JSON, "to_json returns json");
    EXPECT(tj, "3");
    EXPECT(CALL("from_json", S(" {\"a\": [1, 2.5]} ")), "{\"a\":[1,2.5]}");
    EXPECT(CALL("from_json", S("{oops")), "null");
    EXPECT(CALL("json_valid", S("{oops")), "false");
    EXPECT(CALL("json_valid", S("[1]")), "true");
}

/* -------------------------------------------------------------------------- lists --- */

static void test_lists(void)
{
    Value l = list_of(3, I(10), S("x"), N);
    EXPECT(CALL("size", value_copy(l)), "3");
    EXPECT(CALL("element_at", value_copy(l), I(1)), "10");
    EXPECT(CALL("element_at", value_copy(l), I(-3)), "10");
    EXPECT(CALL("element_at", value_copy(l), I(-1)), "null");
    EXPECT(CALL("element_at", value_copy(l), I(0)), "null");
    EXPECT(CALL("element_at", value_copy(l), I(4)), "null");
    EXPECT(CALL("list_contains", value_copy(l), S("x")), "true");
    EXPECT(CALL("list_contains", value_copy(l), F(10.0)), "true");
    EXPECT(CALL("list_contains", value_copy(l), I(11)), "false");
    EXPECT(CALL("list_contains", value_copy(l), N), "null");
    EXPECT(CALL("array_join", value_copy(l), S(", ")), "\"10, x\"");
    EXPECT(CALL("array_join", value_copy(l)), "\"10,x\"");
    value_free(l);
    EXPECT(CALL("size", S("héllo")), "5");
    EXPECT(CALL("size", v_json_text("{\"a\":1,\"b\":2}", 13)), "2");
    EXPECT(CALL("size", v_json_text("5", 1)), "null");
    /* exact counts (tests/runtime/tokenizer.sh checks a large corpus against tiktoken itself) */
    EXPECT(CALL("token_count", S("hello world")), "2");
    EXPECT(CALL("token_count", S("")), "0");
    EXPECT(CALL("token_count", S("日本語のテキストです。")), "8");
    EXPECT(CALL("token_count", S("日本語のテキストです。"), S("cl100k_base")), "10");
    EXPECT(CALL("token_count", S("hello world"), N), "2");
    EXPECT_ERR(CALL("token_count", S("x"), S("p50k_base")), "encoding must be \"o200k_base\" or \"cl100k_base\", got \"p50k_base\"");
    /* bytes that are not UTF-8 are counted, not refused */
    EXPECT(CALL("token_count", v_string("ab\xff\xfe", 4)), "3");   /* "ab", then each stray byte */
}

/* ------------------------------------------------------------------------- chunk --- */

/* Byte length of the first k characters of s. */
static size_t cp_skip(const char *s, size_t n, size_t k)
{
    size_t i = 0;
    while (k-- > 0 && i < n) text_next(s, n, &i);
    return i;
}

/* Check chunk's invariants on text: every chunk is a non-empty substring; the chunks can be placed
 * in order so that each starts after the previous one's start and no later than its end (an
 * overlap, never a gap), the first at 0 and the last ending at the end of the text (placement by
 * dynamic programming: repeated text makes greedy placement ambiguous). max_chars (> 0) bounds
 * each chunk's length in characters. With exact_overlap >= 0 (by chars), dropping the first
 * exact_overlap characters of every chunk but the first and concatenating must give the text. */
static void check_chunks(const char *text, Value chunks, int64_t max_chars, int64_t exact_overlap, const char *label)
{
    size_t n = strlen(text);
    if (chunks.kind != V_LIST) {
        CHECK(0, "%s: not a list (%s)", label, last_error ? last_error : "");
        value_free(chunks);
        return;
    }
    List *l = chunks.u.l;
    unsigned char *feas = calloc(n + 1, 1), *next = calloc(n + 1, 1);
    size_t prev_len = 0;
    Buf rebuilt;
    buf_init(&rebuilt);
    for (uint32_t i = 0; i < l->n && !failed; i++) {
        Value c = l->items[i];
        CHECK(c.kind == V_STRING && c.u.s->len > 0, "%s: chunk %u empty", label, i);
        if (failed) break;
        size_t len = c.u.s->len;
        if (max_chars > 0)
            CHECK((int64_t)utf8_len(c.u.s->data, len) <= max_chars, "%s: chunk %u has %zu chars", label, i, utf8_len(c.u.s->data, len));
        memset(next, 0, n + 1);
        int any = 0;
        if (i == 0) {
            next[0] = any = len <= n && memcmp(text, c.u.s->data, len) == 0;
        } else {
            for (size_t q = 0; q <= n; q++) {
                if (!feas[q]) continue;
                for (size_t p = q + 1; p <= q + prev_len && p + len <= n; p++)
                    if (!next[p] && memcmp(text + p, c.u.s->data, len) == 0) next[p] = any = 1;
            }
        }
        CHECK(any, "%s: chunk %u does not continue the previous one", label, i);
        unsigned char *t = feas; feas = next; next = t;
        prev_len = len;
        if (exact_overlap >= 0) {
            size_t skip = i == 0 ? 0 : cp_skip(c.u.s->data, len, (size_t)exact_overlap);
            buf_append(&rebuilt, c.u.s->data + skip, len - skip);
        }
    }
    if (!failed && l->n > 0) {
        int ends = 0;
        for (size_t q = 0; q + prev_len <= n; q++)
            if (feas[q] && q + prev_len == n) ends = 1;
        CHECK(ends, "%s: the last chunk does not end the text", label);
    }
    if (!failed && exact_overlap >= 0)
        CHECK(rebuilt.len == n && memcmp(rebuilt.data ? rebuilt.data : "", text, n) == 0, "%s: text not reproduced", label);
    free(feas);
    free(next);
    buf_free(&rebuilt);
    value_free(chunks);
}

/* By tokens (text without repeated runs, so that each chunk's place is clear): chunks cover the
 * text without gaps, in order; each chunk, counted alone, has at most
 * `size` tokens (unless it is one character); each overlap with the previous chunk has at most
 * `overlap` tokens; with overlap 0 the chunks concatenate to the text. */
static void check_token_chunks(const char *text)
{
    size_t n = strlen(text);
    int64_t sizes[] = {1, 3, 8, 25, 200};
    for (size_t si = 0; si < sizeof sizes / sizeof sizes[0] && !failed; si++) {
        int64_t size = sizes[si], overlaps[] = {0, size / 2, size - 1};
        for (int oi = 0; oi < 3 && !failed; oi++) {
            int64_t ov = overlaps[oi];
            Value c = CALL("chunk", S(text), I(size), I(ov), S("tokens"));
            CHECK(c.kind == V_LIST && c.u.l->n > 0, "tokens size %lld: no chunks", (long long)size);
            size_t prev_start = 0, prev_end = 0;
            for (uint32_t i = 0; !failed && c.kind == V_LIST && i < c.u.l->n; i++) {
                const char *cs = c.u.l->items[i].u.s->data;
                size_t len = c.u.l->items[i].u.s->len, at = SIZE_MAX;
                for (size_t p = i ? prev_end : 0; p >= (i ? prev_start + 1 : 0) && p != SIZE_MAX; p--)   /* the shortest overlap */
                    if (p + len <= n && memcmp(text + p, cs, len) == 0) { at = p; break; }
                CHECK(at != SIZE_MAX, "tokens size %lld overlap %lld: chunk %u does not continue the text", (long long)size, (long long)ov, i);
                if (failed) break;
                Value k = CALL("token_count", v_string(cs, len));
                CHECK(k.u.i <= size || utf8_len(cs, len) == 1, "tokens size %lld: chunk %u has %lld tokens", (long long)size, i, (long long)k.u.i);
                if (i) {
                    Value o = CALL("token_count", v_string(text + at, prev_end - at));
                    CHECK(o.u.i <= ov, "tokens size %lld overlap %lld: chunk %u overlaps by %lld tokens", (long long)size, (long long)ov, i, (long long)o.u.i);
                    CHECK(ov > 0 || at == prev_end, "tokens overlap 0: chunk %u overlaps", i);
                }
                prev_start = at;
                prev_end = at + len;
            }
            CHECK(failed || prev_end == n, "tokens size %lld: the last chunk ends at %zu of %zu", (long long)size, prev_end, n);
            value_free(c);
        }
    }
}

static void test_chunk(void)
{
    const char *text =
        "FQL is a pipeline language. It runs batch inference over tables!\n"
        "Each row may call a model.\n\n"
        "Chunking splits long documents — like this one, with UTF-8: héllo wörld 日本語 — into pieces.\n"
        "Overlaps keep context across boundaries? Yes.\n\n\n"
        "Supercalifragilisticexpialidociousandevenlongerwordsthatneedcutting end.";
    Value r = CALL("chunk", S("abcdefghij"), I(4), I(1));
    EXPECT(r, "[\"abcd\",\"defg\",\"ghij\"]");
    EXPECT(CALL("chunk", S("abcdefghij"), I(4), I(0)), "[\"abcd\",\"efgh\",\"ij\"]");
    EXPECT(CALL("chunk", S("one two three four five"), I(2), I(1), S("words")),
           "[\"one two \",\"two three \",\"three four \",\"four five\"]");
    EXPECT(CALL("chunk", S("héllo"), I(2), I(0)), "[\"hé\",\"ll\",\"o\"]");
    EXPECT(CALL("chunk", S("")), "[]");
    EXPECT(CALL("chunk", S("short text")), "[\"short text\"]");
    EXPECT(CALL("chunk", N), "null");
    EXPECT_ERR(CALL("chunk", S("abc"), I(3), I(3)), "overlap (3) must be smaller than size (3)");
    EXPECT_ERR(CALL("chunk", S("abc"), I(0)), "size must be positive");
    EXPECT_ERR(CALL("chunk", S("abc"), I(10), I(1), S("lines")), "by must be");
    EXPECT(CALL("chunk", S("a b c d e f"), I(4), N, S("words")), "[\"a b c d \",\"e f\"]");   /* default overlap 4/10 = 0 */
    int64_t sizes[] = {1, 2, 5, 17, 40, 1000};
    for (size_t si = 0; si < sizeof sizes / sizeof sizes[0] && !failed; si++) {
        int64_t size = sizes[si];
        int64_t overlaps[] = {0, size / 3, size - 1};
        for (int oi = 0; oi < 3 && !failed; oi++) {
            int64_t ov = overlaps[oi];
            char label[96];
            snprintf(label, sizeof label, "chars size %lld overlap %lld", (long long)size, (long long)ov);
            Value c = CALL("chunk", S(text), I(size), I(ov), S("chars"));
            int64_t nch = c.kind == V_LIST ? c.u.l->n : 0;
            check_chunks(text, c, size, nch > 1 ? ov : -1, label);
            snprintf(label, sizeof label, "words size %lld overlap %lld", (long long)size, (long long)ov);
            check_chunks(text, CALL("chunk", S(text), I(size), I(ov), S("words")), -1, -1, label);
            snprintf(label, sizeof label, "tokens size %lld overlap %lld", (long long)size, (long long)ov);
            check_chunks(text, CALL("chunk", S(text), I(size), I(ov), S("tokens")), -1, -1, label);
            snprintf(label, sizeof label, "recursive size %lld overlap %lld", (long long)size, (long long)ov);
            check_chunks(text, CALL("chunk", S(text), I(size), I(ov), S("recursive")), size, -1, label);
        }
    }
    check_token_chunks(text);
    check_token_chunks("日本語のテキストです。東京は大きな都市です。中文文本，包括标点符号！🙂👍🏽 and English words, "
                       "numbers 1234567 and    spaces\n\n\n" "qwertyuiopasdfghjklzxcvbnmQWERTYUIOPASDFGHJKLZXCVBNM0123456789");
    EXPECT(CALL("chunk", S("one two three four five six"), I(2), I(1), S("tokens")),
           "[\"one two\",\" two three\",\" three four\",\" four five\",\" five six\"]");
    /* cl100k_base: 日 本 語(two tokens, cut inside the character: one unit) の テ キ スト */
    EXPECT(CALL("chunk", S("日本語のテキスト"), I(2), I(0), S("tokens"), S("cl100k_base")),
           "[\"日本\",\"語\",\"のテ\",\"キスト\"]");
    EXPECT_ERR(CALL("chunk", S("abc"), I(10), I(1), S("tokens"), S("gpt2")), "chunk: encoding must be");
    /* recursive prefers paragraph, then line, then sentence boundaries */
    EXPECT(CALL("chunk", S("Para one.\n\nPara two is here.\nLine two."), I(20), I(0), S("recursive")),
           "[\"Para one.\\n\\n\",\"Para two is here.\\n\",\"Line two.\"]");
}

/* ---------------------------------------------------------------------- type checks --- */

static void test_types(void)
{
    char *msg = NULL;
    const FuncDef *d = func_lookup("lower");
    Type *args[4] = {type_int()};
    CHECK(d && d->type(args, 1, &msg) == NULL && msg && strcmp(msg, "lower expects a string argument, got int") == 0,
          "lower(int): %s", msg ? msg : "(none)");
    free(msg);
    msg = NULL;
    d = func_lookup("substr");
    args[0] = type_string();
    args[1] = type_string();
    CHECK(d->type(args, 2, &msg) == NULL && msg && strcmp(msg, "substr expects an int for 'start', got string") == 0,
          "substr: %s", msg ? msg : "(none)");
    free(msg);
    msg = NULL;
    /* enums count as strings, ints as floats, null and any always fit */
    char **labels = xmalloc(sizeof(char *));
    labels[0] = xstrdup("a");
    Type *e = type_enum_new(1, labels);
    args[0] = e;
    Type *r = func_lookup("upper")->type(args, 1, &msg);
    CHECK(r && r->kind == TY_STRING, "upper(enum)");
    type_unref(r);
    args[0] = type_int();
    args[1] = type_float();
    r = func_lookup("pow")->type(args, 2, &msg);
    CHECK(r && r->kind == TY_FLOAT, "pow(int, float)");
    args[0] = type_int();
    args[1] = NULL;
    r = func_lookup("round")->type(args, 2, &msg);
    CHECK(r && r->kind == TY_INT, "round(int) is int");
    args[0] = type_float();
    r = func_lookup("round")->type(args, 2, &msg);
    CHECK(r && r->kind == TY_FLOAT, "round(float) is float");
    args[0] = type_int(); args[1] = type_null(); args[2] = type_float();
    r = func_lookup("coalesce")->type(args, 3, &msg);
    CHECK(r && r->kind == TY_FLOAT, "coalesce(int, null, float) is float");
    args[0] = type_int(); args[1] = type_string();
    r = func_lookup("greatest")->type(args, 2, &msg);
    CHECK(!r && msg && strcmp(msg, "greatest expects arguments of one type, got int and string") == 0, "greatest: %s", msg ? msg : "");
    free(msg);
    msg = NULL;
    Type *lt = type_list(type_date());
    args[0] = lt; args[1] = type_int();
    r = func_lookup("element_at")->type(args, 2, &msg);
    CHECK(r && r->kind == TY_DATE, "element_at([date], int) is date");
    type_unref(r);
    args[0] = type_string();
    r = func_lookup("split")->type(args, 2, &msg);
    CHECK(!r && msg, "split(string, int) fails");
    free(msg);
    msg = NULL;
    args[1] = type_string();
    r = func_lookup("split")->type(args, 2, &msg);
    char *s = r ? type_to_string(r) : NULL;
    CHECK(s && strcmp(s, "[string]") == 0, "split type %s", s ? s : "(null)");
    free(s);
    type_unref(r);
    args[0] = type_date();
    r = func_lookup("date_trunc")->type((Type *[]){type_string(), type_date()}, 2, &msg);
    CHECK(r && r->kind == TY_DATE, "date_trunc of a date is a date");
    args[0] = type_any();
    r = func_lookup("lower")->type(args, 1, &msg);
    CHECK(r && r->kind == TY_STRING, "any accepted");
    type_unref(lt);
    type_unref(e);
    /* every function and aggregate accepts all-null arguments, and every one has a doc line */
    Type *nulls[8];
    for (int i = 0; i < 8; i++) nulls[i] = type_null();
    for (const char *const *nm = func_names(); *nm && !failed; nm++) {
        d = func_lookup(*nm);
        CHECK(d && d->doc && strncmp(d->doc, *nm, strlen(*nm)) == 0, "%s: doc", *nm);
        r = d->type(nulls, d->nparams, &msg);
        CHECK(r != NULL, "%s(null...) rejected: %s", *nm, msg ? msg : "");
        type_unref(r);
    }
    for (const char *const *nm = agg_names(); *nm && !failed; nm++) {
        const AggDef *a = agg_lookup(*nm);
        CHECK(a && a->doc, "%s: doc", *nm);
        r = a->type(nulls, a->max_args, &msg);
        CHECK(r != NULL, "%s(null) rejected", *nm);
        type_unref(r);
    }
    CHECK(func_lookup("template") == NULL && func_lookup("extract") == NULL, "semantic and binder functions are not here");
    CHECK(agg_lookup("reduce") && !strcmp(agg_lookup("reduce")->name, "reduce"), "reduce collects (the executor asks the model)");
}

/* Every null-in-null-out function, given null for its required arguments, returns null without
 * an error (the executor may skip the call, but impls must agree). */
static void test_null_propagation(void)
{
    for (const char *const *nm = func_names(); *nm && !failed; nm++) {
        const FuncDef *d = func_lookup(*nm);
        if (!(d->flags & FUNC_NULL_IN_NULL_OUT)) continue;
        for (int k = 0; k < d->min_args && !failed; k++) {
            Value args[6];
            for (int i = 0; i < d->nparams; i++) args[i] = v_null();
            /* non-null placeholders for the other required arguments */
            for (int i = 0; i < d->min_args; i++)
                if (i != k) args[i] = i == 0 && (!strcmp(*nm, "element_at") || !strcmp(*nm, "list_contains") || !strcmp(*nm, "array_join"))
                    ? v_list_new(0) : !strcmp(*nm, "date_trunc") && i == 0 ? S("day") : i == 0 ? S("1") : I(1);
            FuncCtx ctx = {.now_us = 0};
            Value r = d->impl(args, d->nparams, &ctx);
            func_ctx_done(&ctx);
            CHECK(r.kind == V_NULL && !ctx.error, "%s with null argument %d gave kind %d, error %s", *nm, k, r.kind, ctx.error ? ctx.error : "none");
            free(ctx.error);
            value_free(r);
            for (int i = 0; i < d->nparams; i++) value_free(args[i]);
        }
    }
}

/* --------------------------------------------------------------------- aggregates --- */

/* Run aggregate name over rows (consumed) with an optional constant second argument. */
static Value agg_run(const char *name, int nrows, Value *rows, Value *arg2, char **err)
{
    const AggDef *a = agg_lookup(name);
    void *st = calloc(1, a->state_size);
    FuncCtx ctx = {.now_us = 0};
    a->init(st);
    for (int i = 0; i < nrows; i++) {
        Value args[2] = {rows[i], arg2 ? *arg2 : v_null()};
        a->step(st, args, arg2 ? 2 : 1, &ctx);
    }
    Value r = a->final(st, NULL);
    free(st);
    for (int i = 0; i < nrows; i++) value_free(rows[i]);
    if (arg2) value_free(*arg2);
    if (err) *err = ctx.error;
    else free(ctx.error);
    return r;
}
#define AGG(name, ...) agg_run(name, (int)(sizeof((Value[]){__VA_ARGS__}) / sizeof(Value)), (Value[]){__VA_ARGS__}, NULL, NULL)

static void test_aggregates(void)
{
    char *err = NULL;
    EXPECT(AGG("count", I(1), N, I(3)), "2");
    /* count(*): zero arguments per row */
    const AggDef *cnt = agg_lookup("count");
    CHECK(cnt->min_args == 0, "count(*) takes no argument");
    void *st = calloc(1, cnt->state_size);
    cnt->init(st);
    for (int i = 0; i < 5; i++) cnt->step(st, NULL, 0, NULL);
    EXPECT(cnt->final(st, NULL), "5");
    free(st);
    EXPECT(AGG("sum", I(1), N, I(2)), "3");
    EXPECT(AGG("sum", I(1), F(0.5)), "1.5");
    EXPECT(AGG("sum", N, N), "null");
    EXPECT(AGG("sum", F(1e16), F(1.0), F(-1e16)), "1.0");      /* compensated */
    Value big[2] = {I(INT64_MAX), I(1)};
    Value r = agg_run("sum", 2, big, NULL, &err);
    CHECK(r.kind == V_NULL && err && strstr(err, "integer overflow"), "sum overflow: %s", err ? err : "(none)");
    free(err);
    EXPECT(AGG("avg", I(1), I(2), N, I(4)), "2.3333333333333335");
    EXPECT(AGG("avg", N), "null");
    EXPECT(AGG("min", I(3), N, F(1.5), I(2)), "1.5");
    EXPECT(AGG("max", S("b"), S("c"), N, S("a")), "\"c\"");
    EXPECT(AGG("max", N), "null");
    EXPECT(AGG("first", N, S("x"), S("y")), "\"x\"");
    EXPECT(AGG("last", S("x"), S("y"), N), "\"y\"");
    EXPECT(AGG("stddev", I(2), I(4), I(4), I(4), I(5), I(5), I(7), I(9)), "2.138089935299395");
    EXPECT(AGG("stddev", I(2)), "null");
    EXPECT(AGG("stddev", F(1e9 + 4), F(1e9 + 7), F(1e9 + 13), F(1e9 + 16)), "5.477225575051661");
    EXPECT(AGG("collect", I(1), N, S("a")), "[1,\"a\"]");
    EXPECT(AGG("collect", N), "[]");
    Value sep = S(" | ");
    EXPECT(agg_run("string_agg", 3, (Value[]){S("a"), N, I(2)}, &sep, NULL), "\"a | 2\"");
    EXPECT(AGG("string_agg", S("a"), S("b")), "\"a,b\"");
    EXPECT(AGG("string_agg", N), "null");
    /* destroy releases what step kept */
    const char *keepers[] = {"min", "max", "first", "last", "collect", "string_agg"};
    for (size_t i = 0; i < sizeof keepers / sizeof keepers[0]; i++) {
        const AggDef *a = agg_lookup(keepers[i]);
        st = calloc(1, a->state_size);
        a->init(st);
        Value v = S("kept");
        a->step(st, &v, 1, NULL);
        a->destroy(st);
        value_free(v);
        free(st);
    }
    /* result types */
    char *msg = NULL;
    Type *ti[1] = {type_int()}, *tf[1] = {type_float()}, *ts[1] = {type_string()};
    Type *t = agg_lookup("sum")->type(ti, 1, &msg);
    CHECK(t && t->kind == TY_INT, "sum(int) is int");
    t = agg_lookup("sum")->type(tf, 1, &msg);
    CHECK(t && t->kind == TY_FLOAT, "sum(float) is float");
    t = agg_lookup("avg")->type(ti, 1, &msg);
    CHECK(t && t->kind == TY_FLOAT, "avg is float");
    t = agg_lookup("sum")->type(ts, 1, &msg);
    CHECK(!t && msg && strcmp(msg, "sum expects a numeric argument, got string") == 0, "sum(string): %s", msg ? msg : "");
    free(msg);
    t = agg_lookup("max")->type(ts, 1, &msg);
    CHECK(t && t->kind == TY_STRING, "max(string) is string");
    t = agg_lookup("collect")->type(ts, 1, &msg);
    char *s = t ? type_to_string(t) : NULL;
    CHECK(s && strcmp(s, "[string]") == 0, "collect type %s", s ? s : "");
    free(s);
    type_unref(t);
    t = agg_lookup("count")->type(NULL, 0, &msg);
    CHECK(t && t->kind == TY_INT, "count is int");
}

int main(void)
{
    run("case_and_trim", test_case_and_trim);
    run("length_substr", test_length_substr);
    run("replace_split_find", test_replace_split_find);
    run("regex", test_regex);
    run("concat_format", test_concat_format);
    run("math", test_math);
    run("dates", test_dates);
    run("json", test_json);
    run("lists", test_lists);
    run("chunk", test_chunk);
    run("types", test_types);
    run("null_propagation", test_null_propagation);
    run("aggregates", test_aggregates);
    free(last_error);
    return check_summary();
}
