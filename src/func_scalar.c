/* func_scalar.c: the built-in scalar functions (everything in language.md's list that does not
 * call a model; template() is the binder's) and their registry.
 *
 * Each function has an impl (one row: borrowed args, new result) and a type callback (bind time:
 * checks argument types, returns the result type). Type rules common to all: an argument of type
 * null or any is always accepted, an enum is accepted as a string, an int where a float is.
 * Impls stay defensive about nulls and kinds even when the binder has checked them, because
 * arguments typed `any` (json_get results) arrive with whatever kind they have.
 *
 * Choices worth knowing (to be mirrored in the user docs):
 * - substr is 1-based; a negative start counts from the end; as in SQLite.
 * - element_at is 1-based, negative from the end, null when out of range (as DuckDB).
 * - regexp_replace replaces every match; flags "i" (caseless), "m", "s", "x"; "g" is accepted
 *   and changes nothing. The replacement refers to groups as $1, ${name} or \1; $$ is a dollar.
 * - regexp_extract returns null when there is no match (DuckDB returns '').
 * - sqrt, ln and pow give null where the result is not a real number (as SQLite); division by
 *   zero is null too (ops.c).
 * - round rounds half away from zero; round(int) stays an int.
 * - json_get returns json, or null when the path is missing, the value is JSON null or the input
 *   is not valid JSON; from_json returns null for invalid JSON (json_valid tells which).
 * - concat skips nulls; format renders null as NULL.
 * - chunk's overlap defaults to size / 10 (100 for the default size 1000).
 */
#include <ctype.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <jansson.h>
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include "func.h"
#include "ops.h"
#include "ast.h"
#include "tokenizer.h"

/* =========================================================================== helpers === */

/* fn_error: the short name this file uses. */
#define fn_error func_error


/* A text view of v: the bytes of a string or json value, or v rendered into tmp. */
typedef struct Text { const char *s; size_t n; Buf tmp; } Text;

static void text_of(Text *t, Value v)
{
    buf_init(&t->tmp);
    if (v.kind == V_STRING || v.kind == V_JSON) {
        t->s = v.u.s->data;
        t->n = v.u.s->len;
    } else {
        value_to_text(&t->tmp, v, NULL);
        t->s = t->tmp.data ? t->tmp.data : "";
        t->n = t->tmp.len;
    }
}

static void text_done(Text *t) { buf_free(&t->tmp); }

static Value buf_to_string(Buf *b)
{
    Value v = v_string(b->data ? b->data : "", b->len);
    buf_free(b);
    return v;
}

/* Numeric argument as int64 (floats truncate); 0 if v is not a number. */
static int get_int(Value v, int64_t *out)
{
    if (v.kind == V_INT) { *out = v.u.i; return 1; }
    if (v.kind == V_FLOAT && isfinite(v.u.f) && fabs(v.u.f) < 9.2e18) { *out = (int64_t)v.u.f; return 1; }
    if (v.kind == V_BOOL) { *out = v.u.b; return 1; }
    return 0;
}

static int get_num(Value v, double *out)
{
    if (v.kind == V_INT) { *out = (double)v.u.i; return 1; }
    if (v.kind == V_FLOAT) { *out = v.u.f; return 1; }
    return 0;
}

static int is_text(Value v) { return v.kind == V_STRING || v.kind == V_JSON; }

/* Number of code points in s[0..n). */
static size_t cp_count(const char *s, size_t n)
{
    size_t i = 0, k = 0;
    while (i < n) {
        if ((unsigned char)s[i] < 0x80) i++;   /* ASCII: one byte, one character */
        else text_next(s, n, &i);
        k++;
    }
    return k;
}

/* Byte offset of code point number k (clamped to n). */
static size_t cp_offset(const char *s, size_t n, size_t k)
{
    size_t i = 0;
    while (k-- > 0 && i < n) text_next(s, n, &i);
    return i;
}

/* Start of the code point that ends at byte end (end > 0). */
static size_t cp_prev(const char *s, size_t end)
{
    size_t i = end - 1;
    int back = 0;
    while (i > 0 && back < 3 && ((unsigned char)s[i] & 0xC0) == 0x80) { i--; back++; }
    size_t j = i;
    text_next(s, end, &j);
    return j == end ? i : end - 1;
}

static int64_t floordiv64(int64_t a, int64_t b)
{
    int64_t q = a / b;
    if ((a % b != 0) && ((a < 0) != (b < 0))) q--;
    return q;
}

#define US_PER_DAY 86400000000LL

/* ======================================================================= type checks === */

/* Signature letters: s string, i int, n number, b bool, t date/timestamp (or a string to parse),
 * l list, L list or string, j something JSON can be read from, a anything. */
static int arg_ok(char want, const Type *t)
{
    if (!t || t->kind == TY_NULL || t->kind == TY_ANY) return 1;
    TypeKind k = t->kind;
    switch (want) {
    case 's': return k == TY_STRING || k == TY_ENUM;
    case 'i': return k == TY_INT;
    case 'n': return k == TY_INT || k == TY_FLOAT;
    case 'b': return k == TY_BOOL;
    case 't': return k == TY_DATE || k == TY_TIMESTAMP || k == TY_STRING;
    case 'l': return k == TY_LIST || k == TY_VECTOR;
    case 'L': return k == TY_LIST || k == TY_VECTOR || k == TY_STRING || k == TY_ENUM;
    case 'j': return k == TY_STRING || k == TY_ENUM || k == TY_JSON || k == TY_LIST || k == TY_STRUCT || k == TY_VECTOR;
    default: return 1;
    }
}

static const char *want_name(char w)
{
    switch (w) {
    case 's': return "a string";
    case 'i': return "an int";
    case 'n': return "a number";
    case 'b': return "a bool";
    case 't': return "a date or timestamp";
    case 'l': return "a list";
    case 'L': return "a string or list";
    case 'j': return "json (or a string, list or struct)";
    default: return "a value";
    }
}

/* Check args against sig (one letter per parameter; a trailing '*' repeats the last letter for
 * variadic extras). Returns 1, or 0 with *msg set. */
/* fn's entry in this file's table (for messages that name its parameters), or NULL. */
static const FuncDef *scalar_def(const char *fn)
{
    for (const FuncDef *d = func_scalar_defs; d->name; d++)
        if (!strcmp(d->name, fn)) return d;
    return NULL;
}

static int check_args(const char *fn, const char *sig, Type **args, int nargs, char **msg)
{
    size_t len = strlen(sig);
    int variadic = len && sig[len - 1] == '*';
    if (variadic) len--;
    for (int i = 0; i < nargs; i++) {
        char w = (size_t)i < len ? sig[i] : variadic && len ? sig[len - 1] : 'a';
        if (arg_ok(w, args[i])) continue;
        char *got = type_to_string(args[i]);
        const FuncDef *d = scalar_def(fn);
        if (d && d->nparams == 1 && !variadic)
            *msg = xasprintf("%s expects %s argument, got %s", fn, want_name(w), got);
        else if (d && i < d->nparams)
            *msg = xasprintf("%s expects %s for '%s', got %s", fn, want_name(w), d->params[i], got);
        else
            *msg = xasprintf("%s expects %s as argument %d, got %s", fn, want_name(w), i + 1, got);
        free(got);
        return 0;
    }
    return 1;
}

#define TYPED(NAME, SIG, RESULT) \
    static Type *ty_##NAME(Type **a, int n, char **m) { return check_args(#NAME, SIG, a, n, m) ? (RESULT) : NULL; }

TYPED(lower, "s", type_string())
TYPED(upper, "s", type_string())
TYPED(trim, "ss", type_string())
TYPED(ltrim, "ss", type_string())
TYPED(rtrim, "ss", type_string())
TYPED(length, "L", type_int())
TYPED(substr, "sii", type_string())
TYPED(replace, "sss", type_string())
TYPED(split, "ss", type_list(type_string()))
TYPED(starts_with, "ss", type_bool())
TYPED(ends_with, "ss", type_bool())
TYPED(contains, "ss", type_bool())
TYPED(regexp_match, "sss", type_bool())
TYPED(regexp_replace, "ssss", type_string())
TYPED(regexp_extract, "ssi", type_string())
TYPED(concat, "a*", type_string())
TYPED(format, "sa*", type_string())
TYPED(sqrt, "n", type_float())
TYPED(ln, "n", type_float())
TYPED(exp, "n", type_float())
TYPED(pow, "nn", type_float())
TYPED(sign, "n", type_int())
TYPED(now, "", type_timestamp())
TYPED(today, "", type_date())
TYPED(year, "t", type_int())
TYPED(month, "t", type_int())
TYPED(day, "t", type_int())
TYPED(hour, "t", type_int())
TYPED(minute, "t", type_int())
TYPED(second, "t", type_int())
TYPED(json_get, "js", type_json())
TYPED(to_json, "a", type_json())
TYPED(from_json, "s", type_json())
TYPED(json_valid, "s", type_bool())
TYPED(list_contains, "la", type_bool())
TYPED(array_join, "ls", type_string())
TYPED(chunk, "siiss", type_list(type_string()))
TYPED(typeof, "a", type_string())

/* abs, round, floor, ceil, mod: an int stays an int, a float a float. */
static Type *numeric_same(const char *fn, const char *sig, Type **a, int n, char **m)
{
    if (!check_args(fn, sig, a, n, m)) return NULL;
    if (n >= 1 && a[0] && a[0]->kind == TY_INT && (n < 2 || !a[1] || a[1]->kind != TY_FLOAT || strcmp(fn, "mod")))
        return type_int();
    if (n >= 1 && a[0] && (a[0]->kind == TY_NULL || a[0]->kind == TY_ANY) && strcmp(fn, "mod"))
        return type_ref(a[0]);
    return type_float();
}
static Type *ty_abs(Type **a, int n, char **m) { return numeric_same("abs", "n", a, n, m); }
static Type *ty_round(Type **a, int n, char **m) { return numeric_same("round", "ni", a, n, m); }
static Type *ty_floor(Type **a, int n, char **m) { return numeric_same("floor", "n", a, n, m); }
static Type *ty_ceil(Type **a, int n, char **m) { return numeric_same("ceil", "n", a, n, m); }

static Type *ty_mod(Type **a, int n, char **m)
{
    if (!check_args("mod", "nn", a, n, m)) return NULL;
    int ints = (!a[0] || a[0]->kind != TY_FLOAT) && (n < 2 || !a[1] || a[1]->kind != TY_FLOAT);
    return ints ? type_int() : type_float();
}

/* coalesce, least, greatest: the arguments' common type. */
static Type *unify_args(const char *fn, Type **a, int n, char **m)
{
    Type *r = type_null();
    for (int i = 0; i < n; i++) {
        if (!a[i]) continue;
        Type *u = type_unify(r, a[i]);
        if (!u) {
            char *x = type_to_string(r), *y = type_to_string(a[i]);
            *m = xasprintf("%s expects arguments of one type, got %s and %s", fn, x, y);
            free(x);
            free(y);
            type_unref(r);
            return NULL;
        }
        type_unref(r);
        r = u;
    }
    return r;
}
static Type *ty_coalesce(Type **a, int n, char **m) { return unify_args("coalesce", a, n, m); }
static Type *ty_least(Type **a, int n, char **m) { return unify_args("least", a, n, m); }
static Type *ty_greatest(Type **a, int n, char **m) { return unify_args("greatest", a, n, m); }

static Type *ty_nullif(Type **a, int n, char **m)
{
    return n >= 1 && a[0] ? type_ref(a[0]) : type_null();
}

static Type *ty_date_trunc(Type **a, int n, char **m)
{
    if (!check_args("date_trunc", "st", a, n, m)) return NULL;
    if (n >= 2 && a[1] && a[1]->kind == TY_DATE) return type_date();
    return type_timestamp();
}

static Type *ty_size(Type **a, int n, char **m)
{
    if (n >= 1 && a[0] && a[0]->kind != TY_NULL && a[0]->kind != TY_ANY && a[0]->kind != TY_LIST &&
        a[0]->kind != TY_VECTOR && a[0]->kind != TY_STRUCT && a[0]->kind != TY_STRING &&
        a[0]->kind != TY_ENUM && a[0]->kind != TY_JSON) {
        char *got = type_to_string(a[0]);
        *m = xasprintf("size expects a list, struct, string or json argument, got %s", got);
        free(got);
        return NULL;
    }
    return type_int();
}

static Type *ty_element_at(Type **a, int n, char **m)
{
    if (!check_args("element_at", "li", a, n, m)) return NULL;
    if (!a[0] || a[0]->kind == TY_NULL || a[0]->kind == TY_ANY) return type_any();
    if (a[0]->kind == TY_VECTOR) return type_float();
    return type_ref(a[0]->elem);
}

/* ====================================================================== string functions === */

/* lower (upper = 0) or upper of a[0]. ASCII text, the common case, is mapped in one pass straight
 * into the result, and a string it would not change is shared rather than copied; other text goes
 * through text_case (a code point at a time: a case mapping may change its UTF-8 length). */
static Value do_case(const Value *a, int upper)
{
    if (a[0].kind == V_NULL) return v_null();
    if (a[0].kind == V_STRING) {
        const unsigned char *s = (const unsigned char *)a[0].u.s->data;
        size_t n = a[0].u.s->len, i = 0;
        unsigned char from = upper ? 'a' : 'A', change = 0, high = 0;
        for (; i < n; i++) {
            high |= s[i];
            change |= (unsigned char)(s[i] - from) < 26;
        }
        if (!(high & 0x80)) {
            if (!change) return value_copy(a[0]);
            Str *r = str_alloc(n);
            for (i = 0; i < n; i++) r->data[i] = (char)((unsigned char)(s[i] - from) < 26 ? s[i] ^ 0x20 : s[i]);
            return v_string_take(r);
        }
    }
    Text t;
    Buf b;
    text_of(&t, a[0]);
    buf_init(&b);
    text_case(&b, t.s, t.n, upper);
    text_done(&t);
    return buf_to_string(&b);
}

static Value f_lower(const Value *a, int n, FuncCtx *c) { return do_case(a, 0); }
static Value f_upper(const Value *a, int n, FuncCtx *c) { return do_case(a, 1); }

/* Is code point cp in the trim set (set == NULL: ASCII whitespace)? */
static int in_set(uint32_t cp, const char *set, size_t setn)
{
    if (!set) return cp == ' ' || cp == '\t' || cp == '\n' || cp == '\r' || cp == '\v' || cp == '\f';
    size_t i = 0;
    while (i < setn)
        if (text_next(set, setn, &i) == cp) return 1;
    return 0;
}

/* which: 1 left, 2 right, 3 both. */
static Value do_trim(const Value *a, int n, int which)
{
    if (a[0].kind == V_NULL) return v_null();
    Text t, ch;
    text_of(&t, a[0]);
    const char *set = NULL;
    size_t setn = 0;
    int have_set = n > 1 && a[1].kind != V_NULL;
    if (have_set) {
        text_of(&ch, a[1]);
        set = ch.s;
        setn = ch.n;
    }
    size_t start = 0, end = t.n;
    if (which & 1)
        while (start < end) {
            size_t j = start;
            if (!in_set(text_next(t.s, end, &j), set, setn)) break;
            start = j;
        }
    if (which & 2)
        while (end > start) {
            size_t p = cp_prev(t.s, end), j = p;
            if (!in_set(text_next(t.s, end, &j), set, setn)) break;
            end = p;
        }
    Value r = v_string(t.s + start, end - start);
    text_done(&t);
    if (have_set) text_done(&ch);
    return r;
}

static Value f_trim(const Value *a, int n, FuncCtx *c) { return do_trim(a, n, 3); }
static Value f_ltrim(const Value *a, int n, FuncCtx *c) { return do_trim(a, n, 1); }
static Value f_rtrim(const Value *a, int n, FuncCtx *c) { return do_trim(a, n, 2); }

/* length: characters of a string, items of a list. */
static Value f_length(const Value *a, int n, FuncCtx *c)
{
    if (a[0].kind == V_NULL) return v_null();
    if (a[0].kind == V_LIST) return v_int(a[0].u.l->n);
    Text t;
    text_of(&t, a[0]);
    Value r = v_int((int64_t)cp_count(t.s, t.n));
    text_done(&t);
    return r;
}

/* substr(s, start [, len]) with SQLite's rules, counted in characters: start is 1-based, a
 * negative start counts from the end, start 0 is the position before the first character, and a
 * negative len takes the characters before start. */
static Value f_substr(const Value *a, int n, FuncCtx *c)
{
    if (a[0].kind == V_NULL || a[1].kind == V_NULL) return v_null();
    int64_t p1, p2;
    int neg2 = 0;
    if (!get_int(a[1], &p1)) return v_null();
    Text t;
    text_of(&t, a[0]);
    int64_t total = (int64_t)cp_count(t.s, t.n);
    if (n > 2 && a[2].kind != V_NULL) {
        if (!get_int(a[2], &p2)) { text_done(&t); return v_null(); }
        if (p2 < 0) {
            neg2 = 1;
            p2 = p2 == INT64_MIN ? INT64_MAX : -p2;
        }
    } else {
        p2 = INT64_MAX / 2;
    }
    if (p1 < 0) {
        p1 += total;
        if (p1 < 0) {
            p2 += p1;
            if (p2 < 0) p2 = 0;
            p1 = 0;
        }
    } else if (p1 > 0) {
        p1--;
    } else if (p2 > 0) {
        p2--;
    }
    if (neg2) {
        p1 -= p2;
        if (p1 < 0) {
            p2 += p1;
            p1 = 0;
        }
    }
    if (p1 > total) p1 = total;
    if (p2 > total - p1) p2 = total - p1;
    size_t b0 = cp_offset(t.s, t.n, (size_t)p1);
    size_t b1 = b0 + cp_offset(t.s + b0, t.n - b0, (size_t)p2);
    Value r = v_string(t.s + b0, b1 - b0);
    text_done(&t);
    return r;
}

static Value f_replace(const Value *a, int n, FuncCtx *c)
{
    if (a[0].kind == V_NULL || a[1].kind == V_NULL || a[2].kind == V_NULL) return v_null();
    Text s, from, to;
    text_of(&s, a[0]);
    text_of(&from, a[1]);
    text_of(&to, a[2]);
    Buf b;
    buf_init(&b);
    if (from.n == 0) {
        buf_append(&b, s.s, s.n);
    } else {
        size_t i = 0;
        while (i < s.n) {
            const char *hit = memmem(s.s + i, s.n - i, from.s, from.n);
            if (!hit) break;
            buf_append(&b, s.s + i, (size_t)(hit - (s.s + i)));
            buf_append(&b, to.s, to.n);
            i = (size_t)(hit - s.s) + from.n;
        }
        buf_append(&b, s.s + i, s.n - i);
    }
    text_done(&s);
    text_done(&from);
    text_done(&to);
    return buf_to_string(&b);
}

/* A list of strings from a growing array of (offset, length) pieces of s. */
typedef struct Pieces { size_t *off, *len; size_t n, cap; } Pieces;

static void pieces_add(Pieces *p, size_t off, size_t len)
{
    if (p->n == p->cap) {
        p->cap = p->cap ? p->cap * 2 : 16;
        p->off = xrealloc(p->off, p->cap * sizeof(size_t));
        p->len = xrealloc(p->len, p->cap * sizeof(size_t));
    }
    p->off[p->n] = off;
    p->len[p->n++] = len;
}

static Value pieces_list(Pieces *p, const char *s)
{
    Value l = v_list_new((uint32_t)p->n);
    for (size_t i = 0; i < p->n; i++) l.u.l->items[i] = v_string(s + p->off[i], p->len[i]);
    free(p->off);
    free(p->len);
    return l;
}

/* split(s, sep): an empty separator splits into characters; an empty s gives [""]. */
static Value f_split(const Value *a, int n, FuncCtx *c)
{
    if (a[0].kind == V_NULL || a[1].kind == V_NULL) return v_null();
    Text s, sep;
    Pieces p = {0};
    text_of(&s, a[0]);
    text_of(&sep, a[1]);
    if (sep.n == 0) {
        size_t i = 0;
        while (i < s.n) {
            size_t st = i;
            text_next(s.s, s.n, &i);
            pieces_add(&p, st, i - st);
        }
        if (s.n == 0) pieces_add(&p, 0, 0);
    } else {
        size_t i = 0;
        for (;;) {
            const char *hit = memmem(s.s + i, s.n - i, sep.s, sep.n);
            if (!hit) break;
            pieces_add(&p, i, (size_t)(hit - (s.s + i)));
            i = (size_t)(hit - s.s) + sep.n;
        }
        pieces_add(&p, i, s.n - i);
    }
    Value r = pieces_list(&p, s.s);
    text_done(&s);
    text_done(&sep);
    return r;
}

/* which: 0 starts_with, 1 ends_with, 2 contains */
static Value do_find(const Value *a, int which)
{
    if (a[0].kind == V_NULL || a[1].kind == V_NULL) return v_null();
    Text s, x;
    text_of(&s, a[0]);
    text_of(&x, a[1]);
    int r;
    if (x.n > s.n) r = 0;
    else if (which == 0) r = memcmp(s.s, x.s, x.n) == 0;
    else if (which == 1) r = memcmp(s.s + s.n - x.n, x.s, x.n) == 0;
    else r = x.n == 0 || memmem(s.s, s.n, x.s, x.n) != NULL;
    text_done(&s);
    text_done(&x);
    return v_bool(r);
}

static Value f_starts_with(const Value *a, int n, FuncCtx *c) { return do_find(a, 0); }
static Value f_ends_with(const Value *a, int n, FuncCtx *c) { return do_find(a, 1); }
static Value f_contains(const Value *a, int n, FuncCtx *c) { return do_find(a, 2); }

/* concat(x, ...): the text of every non-null argument. */
static Value f_concat(const Value *a, int n, FuncCtx *c)
{
    Buf b;
    buf_init(&b);
    for (int i = 0; i < n; i++)
        if (a[i].kind != V_NULL) value_to_text(&b, a[i], NULL);
    return buf_to_string(&b);
}

/* Append v formatted by a {:spec}: [[fill]align][0][width][.precision][type], align one of < > ^,
 * type one of s d f e g x %. */
static int format_one(Buf *out, Value v, const char *spec, size_t sn)
{
    char fill = ' ', align = 0, type = 0;
    int zero = 0, width = 0, prec = -1;
    size_t i = 0;
    if (sn >= 2 && (spec[1] == '<' || spec[1] == '>' || spec[1] == '^')) { fill = spec[0]; align = spec[1]; i = 2; }
    else if (sn >= 1 && (spec[0] == '<' || spec[0] == '>' || spec[0] == '^')) { align = spec[0]; i = 1; }
    if (i < sn && spec[i] == '0') { zero = 1; i++; }
    while (i < sn && isdigit((unsigned char)spec[i]) && width < 10000) width = width * 10 + (spec[i++] - '0');
    if (i < sn && spec[i] == '.') {
        i++;
        prec = 0;
        while (i < sn && isdigit((unsigned char)spec[i]) && prec < 1000) prec = prec * 10 + (spec[i++] - '0');
    }
    if (i < sn) type = spec[i++];
    if (i != sn || (type && !strchr("sdfegx%", type))) return 0;
    Buf b;
    buf_init(&b);
    double f;
    int64_t k;
    if (v.kind == V_NULL) {
        buf_puts(&b, "NULL");
    } else if ((type == 'f' || type == 'e' || type == 'g' || type == '%') && get_num(v, &f)) {
        if (type == '%') f *= 100;
        char fmtbuf[16];
        snprintf(fmtbuf, sizeof fmtbuf, "%%.%d%c", prec < 0 ? 6 : prec, type == '%' ? 'f' : type);
        buf_printf(&b, fmtbuf, f);
        if (type == '%') buf_putc(&b, '%');
    } else if (type == 'x' && get_int(v, &k)) {
        buf_printf(&b, "%llx", (unsigned long long)k);
    } else if (type == 'd' && v.kind == V_FLOAT) {
        buf_printf(&b, "%.0f", round(v.u.f));
    } else if (prec >= 0 && v.kind == V_FLOAT && !type) {
        buf_printf(&b, "%.*f", prec, v.u.f);
    } else {
        value_to_text(&b, v, NULL);
        if (prec >= 0 && (type == 's' || is_text(v))) b.len = cp_offset(b.data ? b.data : "", b.len, (size_t)prec);
    }
    size_t chars = cp_count(b.data ? b.data : "", b.len);
    size_t pad = width > 0 && (size_t)width > chars ? (size_t)width - chars : 0;
    int numeric = v.kind == V_INT || v.kind == V_FLOAT;
    if (!align) align = numeric ? '>' : '<';
    if (zero && numeric && !(align == '<' || align == '^')) {
        size_t sgn = b.len && (b.data[0] == '-' || b.data[0] == '+');
        buf_append(out, b.data, sgn);
        for (size_t p = 0; p < pad; p++) buf_putc(out, '0');
        buf_append(out, b.data + sgn, b.len - sgn);
    } else {
        size_t left = align == '<' ? 0 : align == '>' ? pad : pad / 2;
        for (size_t p = 0; p < left; p++) buf_putc(out, fill);
        buf_append(out, b.data ? b.data : "", b.len);
        for (size_t p = left; p < pad; p++) buf_putc(out, fill);
    }
    buf_free(&b);
    return 1;
}

/* format(fmt, args...): {} takes the next argument, {N} argument N (0-based), {:spec} or
 * {N:spec} formats it (see format_one); {{ and }} are literal braces. Null prints as NULL. */
static Value f_format(const Value *a, int n, FuncCtx *c)
{
    if (a[0].kind == V_NULL) return v_null();
    Text f;
    text_of(&f, a[0]);
    Buf b;
    buf_init(&b);
    int next = 0;
    const char *s = f.s;
    size_t len = f.n, i = 0;
    while (i < len) {
        char ch = s[i];
        if (ch == '{' && i + 1 < len && s[i + 1] == '{') { buf_putc(&b, '{'); i += 2; continue; }
        if (ch == '}' && i + 1 < len && s[i + 1] == '}') { buf_putc(&b, '}'); i += 2; continue; }
        if (ch == '}') { buf_free(&b); text_done(&f); return fn_error(c, "format: single '}' in format string"); }
        if (ch != '{') { buf_putc(&b, ch); i++; continue; }
        const char *close = memchr(s + i, '}', len - i);
        if (!close) { buf_free(&b); text_done(&f); return fn_error(c, "format: unclosed '{' in format string"); }
        size_t j = i + 1, end = (size_t)(close - s);
        int idx = -1;
        if (j < end && isdigit((unsigned char)s[j])) {
            idx = 0;
            while (j < end && isdigit((unsigned char)s[j]) && idx < 100000) idx = idx * 10 + (s[j++] - '0');
        }
        const char *spec = "";
        size_t sn = 0;
        if (j < end && s[j] == ':') { spec = s + j + 1; sn = end - j - 1; j = end; }
        if (j != end) { buf_free(&b); text_done(&f); return fn_error(c, "format: invalid placeholder '%.*s'", (int)(end - i + 1), s + i); }
        if (idx < 0) idx = next++;
        if (idx + 1 >= n) {
            buf_free(&b);
            text_done(&f);
            return fn_error(c, "format: placeholder %d but only %d argument%s", idx, n - 1, n == 2 ? "" : "s");
        }
        if (!format_one(&b, a[idx + 1], spec, sn)) {
            buf_free(&b);
            text_done(&f);
            return fn_error(c, "format: unsupported format spec '%.*s'", (int)sn, spec);
        }
        i = end + 1;
    }
    text_done(&f);
    return buf_to_string(&b);
}

/* ============================================================================== regex === */

/* Compiled patterns are cached by (pattern, options) for the life of the process: a pipeline
 * applies the same pattern to every row. Each is JIT-compiled when the platform allows (the
 * interpreter otherwise). Entries are never evicted (a pattern may be in use on another thread);
 * past RE_CACHE_MAX distinct patterns, compiles are per call. */
#define RE_CACHE_MAX 256
typedef struct ReEntry { char *pat; size_t len; uint32_t opts; pcre2_code *code; } ReEntry;
static ReEntry re_cache[RE_CACHE_MAX];
static int re_count;
static pthread_mutex_t re_lock = PTHREAD_MUTEX_INITIALIZER;

/* The compiled pattern; *owned = 1 if the caller must pcre2_code_free it. NULL with an error. */
static pcre2_code *re_get(const char *fn, const char *pat, size_t len, uint32_t opts, int *owned, FuncCtx *c)
{
    *owned = 0;
    pthread_mutex_lock(&re_lock);
    for (int i = 0; i < re_count; i++)
        if (re_cache[i].opts == opts && re_cache[i].len == len && memcmp(re_cache[i].pat, pat, len) == 0) {
            pcre2_code *code = re_cache[i].code;
            pthread_mutex_unlock(&re_lock);
            return code;
        }
    pthread_mutex_unlock(&re_lock);
    int errcode;
    PCRE2_SIZE erroff;
    pcre2_code *code = pcre2_compile((PCRE2_SPTR)pat, len, opts | PCRE2_UTF | PCRE2_UCP | PCRE2_MATCH_INVALID_UTF,
                                     &errcode, &erroff, NULL);
    if (!code) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(errcode, msg, sizeof msg);
        fn_error(c, "%s: invalid regular expression '%.*s': %s at offset %zu", fn, (int)len, pat, (char *)msg, (size_t)erroff);
        return NULL;
    }
    (void)pcre2_jit_compile(code, PCRE2_JIT_COMPLETE);   /* without JIT, pcre2_match interprets */
    pthread_mutex_lock(&re_lock);
    if (re_count < RE_CACHE_MAX) {
        re_cache[re_count].pat = xstrndup(pat, len);
        re_cache[re_count].len = len;
        re_cache[re_count].opts = opts;
        re_cache[re_count].code = code;
        re_count++;
    } else {
        *owned = 1;
    }
    pthread_mutex_unlock(&re_lock);
    return code;
}

/* What a regex function reuses over the rows of a batch (FuncCtx.scratch): the last pattern
 * (by its string object, which the batch keeps alive) and flags with its cached code, match data
 * big enough for it, the output buffer and the last replacement rewritten for pcre2_substitute. */
typedef struct ReScratch {
    const Str *pat; int64_t opts; pcre2_code *code;
    pcre2_match_data *md; uint32_t pairs;
    uint32_t groups;              /* capture groups of the pattern last matched */
    Buf out;
    const Str *repl_src; Buf repl;
} ReScratch;

static void re_scratch_free(void *p)
{
    ReScratch *rs = p;
    pcre2_match_data_free(rs->md);
    buf_free(&rs->out);
    buf_free(&rs->repl);
    free(rs);
}

static ReScratch *re_scratch(FuncCtx *c)
{
    if (!c->scratch) {
        c->scratch = xcalloc(1, sizeof(ReScratch));
        c->scratch_free = re_scratch_free;
    }
    return c->scratch;
}

/* Match data with room for code's groups, reused. */
static pcre2_match_data *re_md(ReScratch *rs, const pcre2_code *code)
{
    uint32_t groups = 0;
    pcre2_pattern_info(code, PCRE2_INFO_CAPTURECOUNT, &groups);
    rs->groups = groups;
    if (!rs->md || rs->pairs < groups + 1) {
        pcre2_match_data_free(rs->md);
        rs->pairs = groups + 1;
        rs->md = pcre2_match_data_create(rs->pairs, NULL);
    }
    return rs->md;
}

/* The code of pattern p with options opts, from the batch's scratch when it is the same pattern
 * object as the last row's. *owned = 1 when the caller must free it. NULL with an error. */
static pcre2_code *re_code(const char *fn, Value p, int64_t opts, ReScratch *rs, int *owned, FuncCtx *c)
{
    *owned = 0;
    int str = p.kind == V_STRING || p.kind == V_JSON;
    if (str && rs->code && rs->pat == p.u.s && rs->opts == opts) return rs->code;
    Text t;
    text_of(&t, p);
    pcre2_code *code = re_get(fn, t.s, t.n, (uint32_t)opts, owned, c);
    text_done(&t);
    if (code && str && !*owned) {
        rs->pat = p.u.s;
        rs->opts = opts;
        rs->code = code;
    }
    return code;
}

/* Options from a flags string; -1 (error recorded) for an unknown flag. */
static int64_t re_flags(const char *fn, Value f, FuncCtx *c)
{
    if (f.kind == V_NULL) return 0;
    uint32_t o = 0;
    Text t;
    text_of(&t, f);
    for (size_t i = 0; i < t.n; i++) {
        switch (t.s[i]) {
        case 'i': o |= PCRE2_CASELESS; break;
        case 'm': o |= PCRE2_MULTILINE; break;
        case 's': o |= PCRE2_DOTALL; break;
        case 'x': o |= PCRE2_EXTENDED; break;
        case 'g': break;
        default:
            fn_error(c, "%s: unknown regular expression flag '%c' (expected i, m, s, x or g)", fn, t.s[i]);
            text_done(&t);
            return -1;
        }
    }
    text_done(&t);
    return o;
}

/* Match pattern a[1] against a[0] with flags (index fi, or -1); returns the pcre2_match result
 * (>0 on a match) with *md (the batch's, borrowed) filled, or a negative value; -1000 when an
 * error was recorded. */
static int re_run(const char *fn, const Value *a, int n, int fi, pcre2_match_data **md, FuncCtx *c)
{
    int64_t opts = fi >= 0 && fi < n ? re_flags(fn, a[fi], c) : 0;
    if (opts < 0) return -1000;
    ReScratch *rs = re_scratch(c);
    int owned;
    pcre2_code *code = re_code(fn, a[1], opts, rs, &owned, c);
    if (!code) return -1000;
    Text s;
    text_of(&s, a[0]);
    *md = re_md(rs, code);
    int rc = pcre2_match(code, (PCRE2_SPTR)s.s, s.n, 0, 0, *md, NULL);
    text_done(&s);
    if (owned) pcre2_code_free(code);
    if (rc < 0 && rc != PCRE2_ERROR_NOMATCH) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(rc, msg, sizeof msg);
        fn_error(c, "%s: %s", fn, (char *)msg);
        return -1000;
    }
    return rc;
}

static Value f_regexp_match(const Value *a, int n, FuncCtx *c)
{
    if (a[0].kind == V_NULL || a[1].kind == V_NULL) return v_null();
    pcre2_match_data *md = NULL;
    int rc = re_run("regexp_match", a, n, 2, &md, c);
    return rc == -1000 ? v_null() : v_bool(rc > 0);
}

/* regexp_extract(s, pattern [, group]): the text of group (0 = whole match), or null. */
static Value f_regexp_extract(const Value *a, int n, FuncCtx *c)
{
    if (a[0].kind == V_NULL || a[1].kind == V_NULL) return v_null();
    int64_t group = 0;
    if (n > 2 && a[2].kind != V_NULL && (!get_int(a[2], &group) || group < 0))
        return fn_error(c, "regexp_extract: group must be a non-negative int");
    pcre2_match_data *md = NULL;
    int rc = re_run("regexp_extract", a, n, -1, &md, c);
    Value r = v_null();
    if (rc > 0) {
        uint32_t count = ((ReScratch *)c->scratch)->groups + 1;   /* the pattern's, not the reused md's */
        if ((uint64_t)group >= count) {
            r = fn_error(c, "regexp_extract: the pattern has no group %lld", (long long)group);
        } else {
            PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
            if (ov[2 * group] != PCRE2_UNSET) {
                Text s;
                text_of(&s, a[0]);
                r = v_string(s.s + ov[2 * group], ov[2 * group + 1] - ov[2 * group]);
                text_done(&s);
            }
        }
    }
    return r;
}

/* Every match of code in text s replaced by the literal rs->repl, into rs->out, the way
 * pcre2_substitute's global mode does it (after an empty match, a non-empty one at the same place
 * is tried before moving on one character) but without reading the replacement at each match.
 * Returns the number of replacements, a negative PCRE2 error, or -1000 for what only
 * pcre2_substitute handles (\K making a match end before it starts). */
static int re_replace_literal(const pcre2_code *code, const char *s, size_t n, ReScratch *rs)
{
    pcre2_match_data *md = re_md(rs, code);
    PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
    size_t start = 0;
    uint32_t again = 0;            /* PCRE2_NOTEMPTY_ATSTART | PCRE2_ANCHORED after an empty match */
    size_t jitsize = 0;
    int jit = pcre2_pattern_info(code, PCRE2_INFO_JITSIZE, &jitsize) == 0 && jitsize > 0;
    int subs = 0;
    buf_clear(&rs->out);
    for (;;) {
        /* pcre2_jit_match skips pcre2_match's checks; an anchored retry needs the interpreter */
        int rc = jit && !again ? pcre2_jit_match(code, (PCRE2_SPTR)s, n, start, 0, md, NULL)
                               : pcre2_match(code, (PCRE2_SPTR)s, n, start, again, md, NULL);
        if (rc == PCRE2_ERROR_NOMATCH) {
            if (!again) break;
            size_t from = start++;
            while (start < n && ((unsigned char)s[start] & 0xc0) == 0x80) start++;
            buf_append(&rs->out, s + from, start - from);
            again = 0;
            continue;
        }
        if (rc < 0) return rc;
        if (ov[1] < ov[0] || ov[0] < start) return -1000;
        buf_append(&rs->out, s + start, ov[0] - start);
        buf_append(&rs->out, rs->repl.data ? rs->repl.data : "", rs->repl.len);
        subs++;
        if (ov[0] == ov[1]) {
            if (ov[0] == n) { start = n; break; }
            again = PCRE2_NOTEMPTY_ATSTART | PCRE2_ANCHORED;
        } else {
            again = 0;
        }
        start = ov[1];
    }
    buf_append(&rs->out, s + start, n - start);
    return subs;
}

/* regexp_replace(s, pattern, replacement [, flags]): every match replaced. The substitution is
 * written into the batch's buffer and copied out once; a row without a match shares its input. */
static Value f_regexp_replace(const Value *a, int n, FuncCtx *c)
{
    if (a[0].kind == V_NULL || a[1].kind == V_NULL || a[2].kind == V_NULL) return v_null();
    int64_t opts = n > 3 ? re_flags("regexp_replace", a[3], c) : 0;
    if (opts < 0) return v_null();
    ReScratch *rs = re_scratch(c);
    int owned;
    pcre2_code *code = re_code("regexp_replace", a[1], opts, rs, &owned, c);
    if (!code) return v_null();
    /* \N in the replacement means group N (sed and Python style): rewrite it as ${N} */
    int rstr = a[2].kind == V_STRING || a[2].kind == V_JSON;
    if (!rstr || rs->repl_src != a[2].u.s) {
        Text rp;
        text_of(&rp, a[2]);
        buf_clear(&rs->repl);
        for (size_t i = 0; i < rp.n; i++) {
            if (rp.s[i] == '\\' && i + 1 < rp.n && isdigit((unsigned char)rp.s[i + 1])) {
                buf_printf(&rs->repl, "${%c}", rp.s[i + 1]);
                i++;
            } else if (rp.s[i] == '\\' && i + 1 < rp.n && rp.s[i + 1] == '\\') {
                buf_putc(&rs->repl, '\\');
                i++;
            } else {
                buf_putc(&rs->repl, rp.s[i]);
            }
        }
        text_done(&rp);
        rs->repl_src = rstr ? a[2].u.s : NULL;
    }
    Text s;
    text_of(&s, a[0]);
    Value r = v_null();
    if (!memchr(rs->repl.data ? rs->repl.data : "", '$', rs->repl.len)) {   /* a literal replacement */
        int rc = re_replace_literal(code, s.s, s.n, rs);
        if (rc != -1000) {
            if (rc == 0 && a[0].kind == V_STRING) r = value_copy(a[0]);
            else if (rc >= 0) r = v_string(rs->out.data ? rs->out.data : "", rs->out.len);
            else {
                PCRE2_UCHAR msg[256];
                pcre2_get_error_message(rc, msg, sizeof msg);
                r = fn_error(c, "regexp_replace: %s", (char *)msg);
            }
            text_done(&s);
            if (owned) pcre2_code_free(code);
            return r;
        }
    }
    pcre2_match_data *md = re_md(rs, code);
    size_t want = s.n * 2 + rs->repl.len + 64;
    buf_clear(&rs->out);
    if (rs->out.cap < want) buf_reserve(&rs->out, want - rs->out.len);
    for (int attempt = 0; attempt < 2; attempt++) {
        PCRE2_SIZE outlen = rs->out.cap;
        int rc = pcre2_substitute(code, (PCRE2_SPTR)s.s, s.n, 0,
                                  PCRE2_SUBSTITUTE_GLOBAL | PCRE2_SUBSTITUTE_OVERFLOW_LENGTH | PCRE2_SUBSTITUTE_UNSET_EMPTY,
                                  md, NULL, (PCRE2_SPTR)(rs->repl.data ? rs->repl.data : ""), rs->repl.len,
                                  (PCRE2_UCHAR *)rs->out.data, &outlen);
        if (rc == 0 && a[0].kind == V_STRING) { r = value_copy(a[0]); break; }
        if (rc >= 0) { r = v_string(rs->out.data, outlen); break; }
        if (rc == PCRE2_ERROR_NOMEMORY && attempt == 0) {
            buf_reserve(&rs->out, outlen + 1 - rs->out.len);
            continue;
        }
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(rc, msg, sizeof msg);
        r = fn_error(c, "regexp_replace: %s", (char *)msg);
        break;
    }
    text_done(&s);
    if (owned) pcre2_code_free(code);
    return r;
}

/* ============================================================================== math === */

static Value f_abs(const Value *a, int n, FuncCtx *c)
{
    if (a[0].kind == V_INT) {
        if (a[0].u.i == INT64_MIN) return fn_error(c, "integer overflow");
        return v_int(a[0].u.i < 0 ? -a[0].u.i : a[0].u.i);
    }
    if (a[0].kind == V_FLOAT) return v_float(fabs(a[0].u.f));
    return v_null();
}

/* round(x [, digits]), half away from zero; negative digits round to tens, hundreds... */
static Value f_round(const Value *a, int n, FuncCtx *c)
{
    int64_t d = 0;
    if (a[0].kind == V_NULL) return v_null();
    if (n > 1 && a[1].kind != V_NULL && !get_int(a[1], &d)) return v_null();
    if (a[0].kind == V_INT) {
        int64_t x = a[0].u.i;
        if (d >= 0) return v_int(x);
        if (d < -18) return v_int(0);
        int64_t p = 1;
        for (int64_t k = 0; k < -d; k++) p *= 10;
        int64_t q = x / p, r = x % p;
        if (r > 0 && r >= p - r) q++;
        else if (r < 0 && -r >= p + r) q--;
        int64_t out;
        if (__builtin_mul_overflow(q, p, &out)) return fn_error(c, "integer overflow");
        return v_int(out);
    }
    double x;
    if (!get_num(a[0], &x)) return v_null();
    if (d == 0) return v_float(round(x));
    if (d > 300 || d < -300) return v_float(d > 0 ? x : 0.0 * x);
    double p = pow(10.0, (double)d), y = x * p;
    if (!isfinite(y)) return v_float(x);
    return v_float(round(y) / p);
}

static Value f_floor(const Value *a, int n, FuncCtx *c)
{
    if (a[0].kind == V_INT) return a[0];
    return a[0].kind == V_FLOAT ? v_float(floor(a[0].u.f)) : v_null();
}

static Value f_ceil(const Value *a, int n, FuncCtx *c)
{
    if (a[0].kind == V_INT) return a[0];
    return a[0].kind == V_FLOAT ? v_float(ceil(a[0].u.f)) : v_null();
}

/* A float result, or null when it is NaN (sqrt(-1), ln(-1), pow(-8, 0.5)). */
static Value real_or_null(double f) { return isnan(f) ? v_null() : v_float(f); }

static Value f_sqrt(const Value *a, int n, FuncCtx *c)
{
    double x;
    return get_num(a[0], &x) && x >= 0 ? v_float(sqrt(x)) : v_null();
}

static Value f_ln(const Value *a, int n, FuncCtx *c)
{
    double x;
    return get_num(a[0], &x) && x > 0 ? v_float(log(x)) : v_null();
}

static Value f_exp(const Value *a, int n, FuncCtx *c)
{
    double x;
    return get_num(a[0], &x) ? v_float(exp(x)) : v_null();
}

static Value f_pow(const Value *a, int n, FuncCtx *c)
{
    double x, y;
    return get_num(a[0], &x) && get_num(a[1], &y) ? real_or_null(pow(x, y)) : v_null();
}

static Value f_sign(const Value *a, int n, FuncCtx *c)
{
    double x;
    if (a[0].kind == V_INT) return v_int(a[0].u.i > 0 ? 1 : a[0].u.i < 0 ? -1 : 0);
    if (!get_num(a[0], &x) || isnan(x)) return v_null();
    return v_int(x > 0 ? 1 : x < 0 ? -1 : 0);
}

static Value f_mod(const Value *a, int n, FuncCtx *c)
{
    char *err = NULL;
    Value r = op_arith(OP_MOD, value_copy(a[0]), value_copy(a[1]), &err);
    if (err) {
        fn_error(c, "%s", err);
        free(err);
    }
    return r;
}

/* least/greatest: the smallest/largest non-null argument (an int result becomes a float when
 * another argument is a float, so the kind matches the unified type). */
static Value extreme(const Value *a, int n, int sign)
{
    int best = -1, anyfloat = 0;
    for (int i = 0; i < n; i++) {
        if (a[i].kind == V_NULL) continue;
        if (a[i].kind == V_FLOAT) anyfloat = 1;
        if (best < 0 || sign * value_cmp(a[i], a[best]) > 0) best = i;
    }
    if (best < 0) return v_null();
    if (anyfloat && a[best].kind == V_INT) return v_float((double)a[best].u.i);
    return value_copy(a[best]);
}

static Value f_least(const Value *a, int n, FuncCtx *c) { return extreme(a, n, -1); }
static Value f_greatest(const Value *a, int n, FuncCtx *c) { return extreme(a, n, 1); }

static Value f_coalesce(const Value *a, int n, FuncCtx *c)
{
    int anyfloat = 0;
    for (int i = 0; i < n; i++) anyfloat |= a[i].kind == V_FLOAT;
    for (int i = 0; i < n; i++)
        if (a[i].kind != V_NULL)
            return anyfloat && a[i].kind == V_INT ? v_float((double)a[i].u.i) : value_copy(a[i]);
    return v_null();
}

static Value f_nullif(const Value *a, int n, FuncCtx *c)
{
    if (a[0].kind == V_NULL) return v_null();
    if (n > 1 && a[1].kind != V_NULL && op_cmp(a[0], a[1]) == 0) return v_null();
    return value_copy(a[0]);
}

static Value f_typeof(const Value *a, int n, FuncCtx *c)
{
    static const char *const names[] = {"null", "bool", "int", "float", "string", "date", "timestamp", "json", "list", "struct"};
    if (a[0].kind == V_STRUCT && a[0].u.st->type) {
        char *s = type_to_string(a[0].u.st->type);
        Value r = v_cstring(s);
        free(s);
        return r;
    }
    return v_cstring(a[0].kind <= V_STRUCT ? names[a[0].kind] : "?");
}

/* ========================================================================= date and time === */

static int64_t now_us(FuncCtx *c)
{
    if (c && c->now_us) return c->now_us;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static Value f_now(const Value *a, int n, FuncCtx *c) { return v_timestamp(now_us(c)); }
static Value f_today(const Value *a, int n, FuncCtx *c) { return v_date(floordiv64(now_us(c), US_PER_DAY)); }

/* v as microseconds since the epoch; *is_date tells whether it was a date. 0 if not temporal. */
static int temporal_of(Value v, int64_t *us, int *is_date, const char *fn, FuncCtx *c)
{
    *is_date = 0;
    if (v.kind == V_DATE) { *us = v.u.i * US_PER_DAY; *is_date = 1; return 1; }
    if (v.kind == V_TIMESTAMP) { *us = v.u.i; return 1; }
    if (is_text(v)) {
        if (timestamp_parse(v.u.s->data, v.u.s->len, us)) return 1;
        fn_error(c, "%s: '%.60s' is not a date or timestamp", fn, v.u.s->data);
        return 0;
    }
    return 0;
}

/* part: 0 year 1 month 2 day 3 hour 4 minute 5 second */
static Value date_part(const Value *a, const char *fn, int part, FuncCtx *c)
{
    int64_t us;
    int is_date, y, m, d;
    if (a[0].kind == V_NULL || !temporal_of(a[0], &us, &is_date, fn, c)) return v_null();
    int64_t days = floordiv64(us, US_PER_DAY), rem = us - days * US_PER_DAY;
    date_to_ymd(days, &y, &m, &d);
    switch (part) {
    case 0: return v_int(y);
    case 1: return v_int(m);
    case 2: return v_int(d);
    case 3: return v_int(rem / 3600000000LL);
    case 4: return v_int(rem / 60000000LL % 60);
    default: return v_int(rem / 1000000 % 60);
    }
}

static Value f_year(const Value *a, int n, FuncCtx *c) { return date_part(a, "year", 0, c); }
static Value f_month(const Value *a, int n, FuncCtx *c) { return date_part(a, "month", 1, c); }
static Value f_day(const Value *a, int n, FuncCtx *c) { return date_part(a, "day", 2, c); }
static Value f_hour(const Value *a, int n, FuncCtx *c) { return date_part(a, "hour", 3, c); }
static Value f_minute(const Value *a, int n, FuncCtx *c) { return date_part(a, "minute", 4, c); }
static Value f_second(const Value *a, int n, FuncCtx *c) { return date_part(a, "second", 5, c); }

/* date_trunc(part, x): part is year, quarter, month, week (ISO, Monday), day, hour, minute or
 * second. A date stays a date (parts below a day leave it unchanged); anything else gives a
 * timestamp. */
static Value f_date_trunc(const Value *a, int n, FuncCtx *c)
{
    static const char *const parts[] = {"year", "quarter", "month", "week", "day", "hour", "minute", "second"};
    if (a[0].kind == V_NULL || a[1].kind == V_NULL) return v_null();
    Text p;
    text_of(&p, a[0]);
    int part = -1;
    for (int i = 0; i < 8; i++) {
        size_t l = strlen(parts[i]);
        if ((p.n == l || (p.n == l + 1 && tolower((unsigned char)p.s[l]) == 's')) && !strncasecmp(p.s, parts[i], l)) part = i;
    }
    if (part < 0) {
        Value r = fn_error(c, "date_trunc: unknown part '%.*s' (expected year, quarter, month, week, day, hour, minute or second)", (int)p.n, p.s);
        text_done(&p);
        return r;
    }
    text_done(&p);
    int64_t us;
    int is_date, y, m, d;
    if (!temporal_of(a[1], &us, &is_date, "date_trunc", c)) return v_null();
    int64_t days = floordiv64(us, US_PER_DAY), rem = us - days * US_PER_DAY;
    date_to_ymd(days, &y, &m, &d);
    switch (part) {
    case 0: days = date_from_ymd(y, 1, 1); rem = 0; break;
    case 1: days = date_from_ymd(y, (m - 1) / 3 * 3 + 1, 1); rem = 0; break;
    case 2: days = date_from_ymd(y, m, 1); rem = 0; break;
    case 3: days -= ((days % 7) + 7 + 3) % 7; rem = 0; break;   /* 1970-01-01 was a Thursday */
    case 4: rem = 0; break;
    case 5: rem -= rem % 3600000000LL; break;
    case 6: rem -= rem % 60000000LL; break;
    default: rem -= rem % 1000000LL; break;
    }
    if (is_date) return v_date(days);
    return v_timestamp(days * US_PER_DAY + rem);
}

/* ============================================================================== json === */

/* Parse v as a Jansson value: strings and json are parsed, other values converted. NULL if the
 * text is not JSON. */
static json_t *jansson_of(Value v)
{
    if (is_text(v)) return json_loadb(v.u.s->data, v.u.s->len, JSON_DECODE_ANY, NULL);
    return value_to_jansson(v);
}

static Value json_text_of(json_t *j)
{
    char *s = json_dumps(j, JSON_ENCODE_ANY | JSON_COMPACT);
    Value v = s ? v_json_text(s, strlen(s)) : v_null();
    free(s);
    return v;
}

/* Follow path in j (borrowed result, NULL when absent). *bad = 1 for a malformed path.
 * Paths: optional "$", then .key, [N] (negative from the end), ["key"] or ['key']; a leading
 * key needs no dot ("a.b[0]"). */
static json_t *json_path(json_t *j, const char *p, size_t n, int *bad)
{
    size_t i = 0;
    *bad = 0;
    if (i < n && p[i] == '$') i++;
    int first = 1;
    while (i < n && j) {
        char key[512];
        size_t kl = 0;
        if (p[i] == '[') {
            i++;
            if (i < n && (p[i] == '"' || p[i] == '\'')) {
                char q = p[i++];
                while (i < n && p[i] != q && kl < sizeof key - 1) key[kl++] = p[i++];
                if (i >= n || p[i] != q) { *bad = 1; return NULL; }
                i++;
                key[kl] = 0;
                if (i >= n || p[i] != ']') { *bad = 1; return NULL; }
                i++;
                j = json_is_object(j) ? json_object_getn(j, key, kl) : NULL;
            } else {
                int neg = 0;
                long long idx = 0;
                if (i < n && p[i] == '-') { neg = 1; i++; }
                size_t st = i;
                while (i < n && isdigit((unsigned char)p[i]) && idx < 1000000000LL) idx = idx * 10 + (p[i++] - '0');
                if (i == st || i >= n || p[i] != ']') { *bad = 1; return NULL; }
                i++;
                if (!json_is_array(j)) return NULL;
                long long sz = (long long)json_array_size(j);
                if (neg) idx = sz - idx;
                j = idx >= 0 && idx < sz ? json_array_get(j, (size_t)idx) : NULL;
            }
        } else {
            if (p[i] == '.') i++;
            else if (!first) { *bad = 1; return NULL; }
            if (i < n && p[i] == '"') {
                i++;
                while (i < n && p[i] != '"' && kl < sizeof key - 1) key[kl++] = p[i++];
                if (i >= n) { *bad = 1; return NULL; }
                i++;
            } else {
                while (i < n && p[i] != '.' && p[i] != '[' && kl < sizeof key - 1) key[kl++] = p[i++];
            }
            if (kl == 0) { *bad = 1; return NULL; }
            key[kl] = 0;
            j = json_is_object(j) ? json_object_getn(j, key, kl) : NULL;
        }
        first = 0;
    }
    return j;
}

static Value f_json_get(const Value *a, int n, FuncCtx *c)
{
    if (a[0].kind == V_NULL || a[1].kind == V_NULL) return v_null();
    json_t *root = jansson_of(a[0]);
    if (!root) return v_null();
    Text p;
    text_of(&p, a[1]);
    int bad;
    json_t *j = json_path(root, p.s, p.n, &bad);
    Value r = v_null();
    if (bad) r = fn_error(c, "json_get: invalid path '%.*s'", (int)p.n, p.s);
    else if (j && !json_is_null(j)) r = json_text_of(j);
    text_done(&p);
    json_decref(root);
    return r;
}

static Value f_to_json(const Value *a, int n, FuncCtx *c)
{
    if (a[0].kind == V_NULL) return v_null();
    if (a[0].kind == V_JSON) return value_copy(a[0]);
    Buf b;
    buf_init(&b);
    value_to_json(&b, a[0]);
    Value r = v_json_text(b.data, b.len);
    buf_free(&b);
    return r;
}

static Value f_from_json(const Value *a, int n, FuncCtx *c)
{
    if (a[0].kind == V_NULL) return v_null();
    if (a[0].kind == V_JSON) return value_copy(a[0]);
    json_t *j = jansson_of(a[0]);
    if (!j) return v_null();
    Value r = json_is_null(j) ? v_null() : json_text_of(j);
    json_decref(j);
    return r;
}

static Value f_json_valid(const Value *a, int n, FuncCtx *c)
{
    if (a[0].kind == V_NULL) return v_null();
    if (!is_text(a[0])) return v_bool(1);
    json_t *j = jansson_of(a[0]);
    json_decref(j);
    return v_bool(j != NULL);
}

/* ============================================================================== lists === */

static Value f_size(const Value *a, int n, FuncCtx *c)
{
    switch (a[0].kind) {
    case V_LIST: return v_int(a[0].u.l->n);
    case V_STRUCT: return v_int(a[0].u.st->n);
    case V_STRING: return v_int((int64_t)cp_count(a[0].u.s->data, a[0].u.s->len));
    case V_JSON: {
        json_t *j = jansson_of(a[0]);
        Value r = json_is_array(j) ? v_int((int64_t)json_array_size(j))
                : json_is_object(j) ? v_int((int64_t)json_object_size(j)) : v_null();
        json_decref(j);
        return r;
    }
    default: return v_null();
    }
}

static Value f_element_at(const Value *a, int n, FuncCtx *c)
{
    int64_t i;
    if (a[0].kind != V_LIST || !get_int(a[1], &i)) return v_null();
    int64_t len = a[0].u.l->n;
    if (i < 0) i += len + 1;
    if (i < 1 || i > len) return v_null();
    return value_copy(a[0].u.l->items[i - 1]);
}

static Value f_list_contains(const Value *a, int n, FuncCtx *c)
{
    if (a[0].kind != V_LIST || a[1].kind == V_NULL) return v_null();
    for (uint32_t i = 0; i < a[0].u.l->n; i++)
        if (op_cmp(a[0].u.l->items[i], a[1]) == 0) return v_bool(1);
    return v_bool(0);
}

/* array_join(list, sep = ","): items' text joined by sep; null items are skipped. */
static Value f_array_join(const Value *a, int n, FuncCtx *c)
{
    if (a[0].kind != V_LIST) return v_null();
    Text sep;
    if (n > 1 && a[1].kind != V_NULL) text_of(&sep, a[1]);
    else { buf_init(&sep.tmp); sep.s = ","; sep.n = 1; }
    Buf b;
    buf_init(&b);
    int first = 1;
    for (uint32_t i = 0; i < a[0].u.l->n; i++) {
        if (a[0].u.l->items[i].kind == V_NULL) continue;
        if (!first) buf_append(&b, sep.s, sep.n);
        value_to_text(&b, a[0].u.l->items[i], NULL);
        first = 0;
    }
    text_done(&sep);
    return buf_to_string(&b);
}

/* ========================================================================= LLM helpers === */

/* chunk() works on units: a partition of the text into consecutive byte ranges, each with a
 * weight (1 per character, word, or the unit's token estimate, or its characters for
 * "recursive"). Chunks are runs of whole units of total weight <= size (a single unit may be
 * the whole chunk); each next chunk starts with the last units of the previous one whose weight
 * totals at most `overlap`. So chunks are substrings that cover the text in order, and removing
 * each chunk's overlap with its predecessor and concatenating gives the text back. */
typedef struct Units { size_t *end; int64_t *w; size_t n, cap; } Units;

static void units_add(Units *u, size_t end, int64_t w)
{
    if (u->n == u->cap) {
        u->cap = u->cap ? u->cap * 2 : 64;
        u->end = xrealloc(u->end, u->cap * sizeof(size_t));
        u->w = xrealloc(u->w, u->cap * sizeof(int64_t));
    }
    u->end[u->n] = end;
    u->w[u->n++] = w;
}

static int is_space_byte(char ch) { return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r' || ch == '\v' || ch == '\f'; }

/* Words: each unit is a word and the whitespace after it (leading whitespace joins the first). */
static void units_words(Units *u, const char *s, size_t n)
{
    size_t i = 0, start = 0;
    while (i < n && is_space_byte(s[i])) i++;
    while (i < n || start < n) {
        while (i < n && !is_space_byte(s[i])) i++;
        while (i < n && is_space_byte(s[i])) i++;
        units_add(u, i, 1);
        start = i;
    }
}

/* Tokens: each unit is a pre-tokenizer piece (a word with its leading space, a number, a run of
 * punctuation or whitespace) weighing its tokens. A piece of more than `size` tokens (a paragraph
 * of CJK text is one piece) is cut between tokens, where a character ends. 0, or -1 with an error. */
static int units_tokens(Units *u, const char *s, size_t n, int enc, int64_t size, FuncCtx *c)
{
    TokSpans t;
    const char *err = NULL;
    if (tok_spans((TokEncoding)enc, s, n, &t, &err)) {
        fn_error(c, "chunk: %s", err);
        return -1;
    }
    size_t first = 0;                         /* first token of the current piece */
    for (size_t i = 0; i < t.n; i++) {
        if (!t.piece_end[i]) continue;
        if ((int64_t)(i + 1 - first) <= size) {
            units_add(u, t.ends[i], (int64_t)(i + 1 - first));
        } else {
            int64_t w = 0;
            for (size_t k = first; k <= i; k++) {
                w++;
                if (k == i || ((unsigned char)s[t.ends[k]] & 0xC0) != 0x80) {
                    units_add(u, t.ends[k], w);
                    w = 0;
                }
            }
        }
        first = i + 1;
    }
    tok_spans_free(&t);
    return 0;
}

/* End of the piece starting at i for separator level lvl: 0 paragraphs ("\n\n"), 1 lines,
 * 2 sentences (after . ! ? followed by a space), 3 words; the separator stays with the piece. */
static size_t piece_end(const char *s, size_t i, size_t end, int lvl)
{
    for (size_t k = i; k < end; k++) {
        char ch = s[k];
        if (lvl == 0 && ch == '\n' && k + 1 < end && s[k + 1] == '\n') {
            k += 2;
            while (k < end && s[k] == '\n') k++;
            return k;
        }
        if (lvl == 1 && ch == '\n') return k + 1;
        if (lvl == 2 && (ch == '.' || ch == '!' || ch == '?') && k + 1 < end && is_space_byte(s[k + 1])) {
            k++;
            while (k < end && is_space_byte(s[k])) k++;
            return k;
        }
        if (lvl == 3 && is_space_byte(ch)) {
            while (k < end && is_space_byte(s[k])) k++;
            return k;
        }
    }
    return end;
}

static void units_recursive(Units *u, const char *s, size_t from, size_t to, int lvl, int64_t size)
{
    int64_t chars = (int64_t)cp_count(s + from, to - from);
    if (chars <= size) {
        if (to > from) units_add(u, to, chars);
        return;
    }
    if (lvl == 4) {   /* characters */
        size_t i = from;
        while (i < to) {
            text_next(s, to, &i);
            units_add(u, i, 1);
        }
        return;
    }
    size_t i = from;
    while (i < to) {
        size_t e = piece_end(s, i, to, lvl);
        units_recursive(u, s, i, e, lvl + 1, size);
        i = e;
    }
}

static Value f_chunk(const Value *a, int n, FuncCtx *c)
{
    if (a[0].kind == V_NULL) return v_null();
    int64_t size = 1000, overlap = -1;
    if (n > 1 && a[1].kind != V_NULL && !get_int(a[1], &size)) return v_null();
    if (n > 2 && a[2].kind != V_NULL && !get_int(a[2], &overlap)) return v_null();
    if (size <= 0) return fn_error(c, "chunk: size must be positive, got %lld", (long long)size);
    if (overlap < 0 && !(n > 2 && a[2].kind != V_NULL)) overlap = size / 10;
    if (overlap < 0) return fn_error(c, "chunk: overlap must not be negative, got %lld", (long long)overlap);
    if (overlap >= size) return fn_error(c, "chunk: overlap (%lld) must be smaller than size (%lld)", (long long)overlap, (long long)size);
    int by = 0;   /* 0 chars 1 words 2 tokens 3 recursive */
    if (n > 3 && a[3].kind != V_NULL) {
        static const char *const modes[] = {"chars", "words", "tokens", "recursive"};
        Text m;
        text_of(&m, a[3]);
        by = -1;
        for (int i = 0; i < 4; i++)
            if (m.n == strlen(modes[i]) && !strncasecmp(m.s, modes[i], m.n)) by = i;
        if (by < 0) {
            Value r = fn_error(c, "chunk: by must be \"chars\", \"words\", \"tokens\" or \"recursive\", got \"%.*s\"", (int)m.n, m.s);
            text_done(&m);
            return r;
        }
        text_done(&m);
    }
    Text t;
    text_of(&t, a[0]);
    Units u = {0};
    if (by == 0) {
        size_t i = 0;
        while (i < t.n) {
            text_next(t.s, t.n, &i);
            units_add(&u, i, 1);
        }
    } else if (by == 1) {
        units_words(&u, t.s, t.n);
    } else if (by == 2) {
        int enc = func_text_encoding(n > 4 ? a[4] : v_null(), "chunk", c);
        if (enc < 0 || units_tokens(&u, t.s, t.n, enc, size, c)) {
            free(u.end);
            free(u.w);
            text_done(&t);
            return v_null();
        }
    } else {
        units_recursive(&u, t.s, 0, t.n, 0, size);
    }
    Pieces p = {0};
    size_t start = 0;
    while (start < u.n) {
        size_t end = start;
        int64_t w = 0;
        while (end < u.n && (end == start || w + u.w[end] <= size)) w += u.w[end++];
        size_t b0 = start ? u.end[start - 1] : 0;
        pieces_add(&p, b0, u.end[end - 1] - b0);
        if (end == u.n) break;
        size_t ns = end;
        int64_t ow = 0;
        while (ns - 1 > start && ow + u.w[ns - 1] <= overlap) ow += u.w[--ns];
        start = ns;
    }
    free(u.end);
    free(u.w);
    Value r = pieces_list(&p, t.s);
    text_done(&t);
    return r;
}

/* ========================================================================== registry === */

#define NN FUNC_NULL_IN_NULL_OUT
#define F(name, np, min, flags, doc, ...) { #name, np, { __VA_ARGS__ }, min, flags, ty_##name, f_##name, doc, NULL }

const FuncDef func_scalar_defs[] = {
    F(lower, 1, 1, NN, "lower(s) -> string: s in lower case (Unicode-aware for common scripts)", "s"),
    F(upper, 1, 1, NN, "upper(s) -> string: s in upper case", "s"),
    F(trim, 2, 1, NN, "trim(s [, chars]) -> string: remove whitespace (or any of chars) from both ends", "s", "chars"),
    F(ltrim, 2, 1, NN, "ltrim(s [, chars]) -> string: remove whitespace (or chars) from the start", "s", "chars"),
    F(rtrim, 2, 1, NN, "rtrim(s [, chars]) -> string: remove whitespace (or chars) from the end", "s", "chars"),
    F(length, 1, 1, NN, "length(s) -> int: number of characters of a string, or items of a list", "s"),
    F(substr, 3, 2, NN, "substr(s, start [, len]) -> string: characters from start (1-based; negative counts from the end)", "s", "start", "len"),
    F(replace, 3, 3, NN, "replace(s, from, to) -> string: every occurrence of from replaced by to", "s", "from", "to"),
    F(split, 2, 2, NN, "split(s, sep) -> [string]: the parts of s between occurrences of sep", "s", "sep"),
    F(starts_with, 2, 2, NN, "starts_with(s, prefix) -> bool", "s", "prefix"),
    F(ends_with, 2, 2, NN, "ends_with(s, suffix) -> bool", "s", "suffix"),
    F(contains, 2, 2, NN, "contains(s, sub) -> bool: whether sub occurs in s", "s", "sub"),
    F(regexp_match, 3, 2, NN, "regexp_match(s, pattern [, flags]) -> bool: whether the PCRE pattern matches anywhere in s", "s", "pattern", "flags"),
    F(regexp_replace, 4, 3, NN, "regexp_replace(s, pattern, replacement [, flags]) -> string: every match replaced ($1 or \\1 for groups)", "s", "pattern", "replacement", "flags"),
    F(regexp_extract, 3, 2, NN, "regexp_extract(s, pattern [, group]) -> string: the first match (or its group), null if none", "s", "pattern", "group"),
    F(concat, 0, 0, FUNC_VARIADIC, "concat(x, ...) -> string: the arguments' text joined; nulls are skipped", NULL),
    F(format, 1, 1, FUNC_VARIADIC, "format(fmt, x, ...) -> string: {} placeholders filled with the arguments ({0}, {:.2f}, {{ }} too)", "fmt"),
    F(abs, 1, 1, NN, "abs(x) -> number: absolute value", "x"),
    F(round, 2, 1, NN, "round(x [, digits]) -> number: rounded half away from zero to digits decimals", "x", "digits"),
    F(floor, 1, 1, NN, "floor(x) -> number: largest integer <= x", "x"),
    F(ceil, 1, 1, NN, "ceil(x) -> number: smallest integer >= x", "x"),
    F(sqrt, 1, 1, NN, "sqrt(x) -> float: square root (null for negative x)", "x"),
    F(ln, 1, 1, NN, "ln(x) -> float: natural logarithm (null for x <= 0)", "x"),
    F(exp, 1, 1, NN, "exp(x) -> float: e to the power x", "x"),
    F(pow, 2, 2, NN, "pow(x, y) -> float: x to the power y (null when not a real number)", "x", "y"),
    F(sign, 1, 1, NN, "sign(x) -> int: -1, 0 or 1", "x"),
    F(mod, 2, 2, NN, "mod(a, b) -> number: a % b (null when b is 0)", "a", "b"),
    F(least, 1, 1, FUNC_VARIADIC, "least(x, ...) -> smallest non-null argument", "x"),
    F(greatest, 1, 1, FUNC_VARIADIC, "greatest(x, ...) -> largest non-null argument", "x"),
    F(coalesce, 1, 1, FUNC_VARIADIC, "coalesce(x, ...) -> the first non-null argument", "x"),
    F(nullif, 2, 2, 0, "nullif(a, b) -> null if a equals b, else a", "a", "b"),
    F(typeof, 1, 1, 0, "typeof(x) -> string: the kind of x's value (int, string, list, ...)", "x"),
    F(now, 0, 0, FUNC_VOLATILE, "now() -> timestamp: when the statement started (UTC)", NULL),
    F(today, 0, 0, FUNC_VOLATILE, "today() -> date: the UTC date when the statement started", NULL),
    F(date_trunc, 2, 2, NN, "date_trunc(part, x) -> x truncated to year, quarter, month, week, day, hour, minute or second", "part", "x"),
    F(year, 1, 1, NN, "year(x) -> int: year of a date or timestamp", "x"),
    F(month, 1, 1, NN, "month(x) -> int: month (1-12)", "x"),
    F(day, 1, 1, NN, "day(x) -> int: day of the month (1-31)", "x"),
    F(hour, 1, 1, NN, "hour(x) -> int: hour (0-23)", "x"),
    F(minute, 1, 1, NN, "minute(x) -> int: minute (0-59)", "x"),
    F(second, 1, 1, NN, "second(x) -> int: second (0-59)", "x"),
    F(json_get, 2, 2, NN, "json_get(j, path) -> json: the value at path (\"$.a.b[0]\" or \"a.b\"), null if absent", "json", "path"),
    F(to_json, 1, 1, NN, "to_json(x) -> json: x as JSON", "x"),
    F(from_json, 1, 1, NN, "from_json(s) -> json: s parsed as JSON (null if it is not valid JSON)", "s"),
    F(json_valid, 1, 1, NN, "json_valid(s) -> bool: whether s is valid JSON", "s"),
    F(size, 1, 1, NN, "size(x) -> int: items of a list or json array, fields of a struct, characters of a string", "x"),
    F(element_at, 2, 2, NN, "element_at(list, i) -> item i (1-based; negative counts from the end; null if out of range)", "list", "i"),
    F(list_contains, 2, 2, NN, "list_contains(list, x) -> bool: whether x is an item of list", "list", "x"),
    F(array_join, 2, 1, NN, "array_join(list, sep) -> string: the items' text joined by sep (default \",\"); nulls skipped", "list", "sep"),
    F(chunk, 5, 1, NN, "chunk(text, size: 1000, overlap: size/10, by: \"chars\"|\"words\"|\"tokens\"|\"recursive\" [, encoding]) -> [string]", "text", "size", "overlap", "by", "encoding"),
    { 0 },
};
