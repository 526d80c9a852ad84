/* ops.c: expression operators (arithmetic, comparison, concatenation, like, three-valued logic)
 * and UTF-8 text helpers. Semantics are listed in ops.h. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "ops.h"
#include "ast.h"

/* ------------------------------------------------------------------------------ text --- */

uint32_t text_next(const char *s, size_t n, size_t *i)
{
    const unsigned char *p = (const unsigned char *)s + *i;
    size_t rem = n - *i, need;
    unsigned char c = p[0];
    uint32_t cp;
    if (c < 0x80) { (*i)++; return c; }
    if (c >= 0xC2 && c <= 0xDF) { need = 1; cp = c & 0x1F; }
    else if (c >= 0xE0 && c <= 0xEF) { need = 2; cp = c & 0x0F; }
    else if (c >= 0xF0 && c <= 0xF4) { need = 3; cp = c & 0x07; }
    else goto bad;
    if (need >= rem) goto bad;
    for (size_t k = 1; k <= need; k++) {
        if ((p[k] & 0xC0) != 0x80) goto bad;
        cp = (cp << 6) | (p[k] & 0x3F);
    }
    if ((need == 2 && cp < 0x800) || (need == 3 && (cp < 0x10000 || cp > 0x10FFFF)) ||
        (cp >= 0xD800 && cp <= 0xDFFF))
        goto bad;
    *i += need + 1;
    return cp;
bad:
    (*i)++;
    return c;
}

uint32_t text_lower_cp(uint32_t c)
{
    if (c < 0x80) return c >= 'A' && c <= 'Z' ? c + 32 : c;
    if (c >= 0xC0 && c <= 0xDE && c != 0xD7) return c + 32;
    if (c < 0x100) return c;
    if (c == 0x130) return 'i';
    if ((c >= 0x100 && c <= 0x137) || (c >= 0x14A && c <= 0x177)) return c % 2 == 0 ? c + 1 : c;
    if ((c >= 0x139 && c <= 0x148) || (c >= 0x179 && c <= 0x17E)) return c % 2 == 1 ? c + 1 : c;
    if (c == 0x178) return 0xFF;
    if (c >= 0x391 && c <= 0x3AB && c != 0x3A2) return c + 32;
    if (c == 0x386) return 0x3AC;
    if (c >= 0x388 && c <= 0x38A) return c + 37;
    if (c == 0x38C) return 0x3CC;
    if (c == 0x38E || c == 0x38F) return c + 63;
    if (c >= 0x400 && c <= 0x40F) return c + 80;
    if (c >= 0x410 && c <= 0x42F) return c + 32;
    if ((c >= 0x460 && c <= 0x481) || (c >= 0x48A && c <= 0x4BF)) return c % 2 == 0 ? c + 1 : c;
    if (c >= 0x531 && c <= 0x556) return c + 48;
    if ((c >= 0x1E00 && c <= 0x1E95) || (c >= 0x1EA0 && c <= 0x1EFF)) return c % 2 == 0 ? c + 1 : c;
    if (c >= 0xFF21 && c <= 0xFF3A) return c + 32;
    return c;
}

uint32_t text_upper_cp(uint32_t c)
{
    if (c < 0x80) return c >= 'a' && c <= 'z' ? c - 32 : c;
    if (c >= 0xE0 && c <= 0xFE && c != 0xF7) return c - 32;
    if (c == 0xFF) return 0x178;
    if (c == 0xB5) return 0x39C;
    if (c < 0x100) return c;
    if (c == 0x131) return 'I';
    if (c == 0x17F) return 'S';
    if ((c >= 0x101 && c <= 0x137) || (c >= 0x14B && c <= 0x177)) return c % 2 == 1 ? c - 1 : c;
    if ((c >= 0x13A && c <= 0x148) || (c >= 0x17A && c <= 0x17E)) return c % 2 == 0 ? c - 1 : c;
    if (c == 0x3C2) return 0x3A3;
    if (c >= 0x3B1 && c <= 0x3CB) return c - 32;
    if (c == 0x3AC) return 0x386;
    if (c >= 0x3AD && c <= 0x3AF) return c - 37;
    if (c == 0x3CC) return 0x38C;
    if (c == 0x3CD || c == 0x3CE) return c - 63;
    if (c >= 0x430 && c <= 0x44F) return c - 32;
    if (c >= 0x450 && c <= 0x45F) return c - 80;
    if ((c >= 0x461 && c <= 0x481) || (c >= 0x48B && c <= 0x4BF)) return c % 2 == 1 ? c - 1 : c;
    if (c >= 0x561 && c <= 0x586) return c - 48;
    if ((c >= 0x1E01 && c <= 0x1E95) || (c >= 0x1EA1 && c <= 0x1EFF)) return c % 2 == 1 ? c - 1 : c;
    if (c >= 0xFF41 && c <= 0xFF5A) return c - 32;
    return c;
}

void text_case(Buf *b, const char *s, size_t n, int upper)
{
    buf_reserve(b, n);
    size_t i = 0;
    while (i < n) {
        size_t start = i;
        uint32_t c = text_next(s, n, &i);
        if (c < 0x80) {
            buf_putc(b, (char)(upper ? (c >= 'a' && c <= 'z' ? c - 32 : c) : (c >= 'A' && c <= 'Z' ? c + 32 : c)));
        } else if (i - start == 1) {
            buf_putc(b, s[start]);            /* an invalid byte is kept as it is */
        } else {
            char out[4];
            int k = utf8_encode(upper ? text_upper_cp(c) : text_lower_cp(c), out);
            buf_append(b, out, (size_t)k);
        }
    }
}

int64_t text_token_estimate(const char *s, size_t n)
{
    (void)s;
    return (int64_t)((n + 3) / 4);
}

/* ---------------------------------------------------------------------------- like --- */

static int cp_eq(uint32_t a, uint32_t b, int ci)
{
    return a == b || (ci && text_lower_cp(a) == text_lower_cp(b));
}

/* Wildcard matching with one backtrack point (the last %): linear in practice, O(n*m) worst. */
int op_like_match(const char *s, size_t n, const char *p, size_t pn, int ci)
{
    size_t si = 0, pi = 0, star_p = (size_t)-1, star_s = 0;
    while (si < n) {
        if (pi < pn) {
            size_t pj = pi, sj = si;
            uint32_t pc = text_next(p, pn, &pj);
            if (pc == '%') {
                star_p = pi = pj;
                star_s = si;
                continue;
            }
            uint32_t sc = text_next(s, n, &sj);
            if (pc == '_' || cp_eq(pc, sc, ci)) {
                pi = pj;
                si = sj;
                continue;
            }
        }
        if (star_p == (size_t)-1) return 0;
        text_next(s, n, &star_s);
        si = star_s;
        pi = star_p;
    }
    while (pi < pn && p[pi] == '%') pi++;
    return pi == pn;
}

Value op_like(Value s, Value pattern, int case_insensitive)
{
    Value r = v_null();
    if ((s.kind == V_STRING || s.kind == V_JSON) && (pattern.kind == V_STRING || pattern.kind == V_JSON))
        r = v_bool(op_like_match(s.u.s->data, s.u.s->len, pattern.u.s->data, pattern.u.s->len, case_insensitive));
    value_free(s);
    value_free(pattern);
    return r;
}

/* ------------------------------------------------------------------------- arithmetic --- */

static const char *op_symbol(int op)
{
    switch (op) {
    case OP_ADD: return "+";
    case OP_SUB: return "-";
    case OP_MUL: return "*";
    case OP_DIV: return "/";
    case OP_MOD: return "%";
    case OP_CONCAT: return "||";
    case OP_EQ: return "==";
    case OP_NE: return "!=";
    case OP_LT: return "<";
    case OP_LE: return "<=";
    case OP_GT: return ">";
    case OP_GE: return ">=";
    default: return "?";
    }
}

static const char *kind_name(int k)
{
    static const char *const names[] = {"null", "bool", "int", "float", "string", "date", "timestamp", "json", "list", "struct"};
    return k >= 0 && k <= V_STRUCT ? names[k] : "?";
}

static Value arith_fail(Value a, Value b, char **err, char *msg)
{
    if (err) *err = msg;
    else free(msg);
    value_free(a);
    value_free(b);
    return v_null();
}

Value op_arith(int op, Value a, Value b, char **err)
{
    if (a.kind == V_NULL || b.kind == V_NULL) {
        value_free(a);
        value_free(b);
        return v_null();
    }
    if (a.kind == V_INT && b.kind == V_INT) {
        int64_t x = a.u.i, y = b.u.i, r;
        switch (op) {
        case OP_ADD: if (__builtin_add_overflow(x, y, &r)) goto overflow; return v_int(r);
        case OP_SUB: if (__builtin_sub_overflow(x, y, &r)) goto overflow; return v_int(r);
        case OP_MUL: if (__builtin_mul_overflow(x, y, &r)) goto overflow; return v_int(r);
        case OP_DIV: return y == 0 ? v_null() : v_float((double)x / (double)y);
        case OP_MOD: return y == 0 ? v_null() : y == -1 ? v_int(0) : v_int(x % y);
        default: break;
        }
    } else if ((a.kind == V_INT || a.kind == V_FLOAT) && (b.kind == V_INT || b.kind == V_FLOAT)) {
        double x = a.kind == V_INT ? (double)a.u.i : a.u.f;
        double y = b.kind == V_INT ? (double)b.u.i : b.u.f;
        switch (op) {
        case OP_ADD: return v_float(x + y);
        case OP_SUB: return v_float(x - y);
        case OP_MUL: return v_float(x * y);
        case OP_DIV: return y == 0 ? v_null() : v_float(x / y);
        case OP_MOD: return y == 0 ? v_null() : v_float(fmod(x, y));
        default: break;
        }
    } else if (a.kind == V_DATE && b.kind == V_INT && (op == OP_ADD || op == OP_SUB)) {
        int64_t r;
        if (op == OP_ADD ? __builtin_add_overflow(a.u.i, b.u.i, &r) : __builtin_sub_overflow(a.u.i, b.u.i, &r))
            goto overflow;
        return v_date(r);
    } else if (a.kind == V_INT && b.kind == V_DATE && op == OP_ADD) {
        int64_t r;
        if (__builtin_add_overflow(a.u.i, b.u.i, &r)) goto overflow;
        return v_date(r);
    } else if (a.kind == V_DATE && b.kind == V_DATE && op == OP_SUB) {
        return v_int(a.u.i - b.u.i);
    }
    return arith_fail(a, b, err, xasprintf("cannot apply %s to %s and %s", op_symbol(op), kind_name(a.kind), kind_name(b.kind)));
overflow:
    return arith_fail(a, b, err, xasprintf("integer overflow"));
}

Value op_neg(Value a, char **err)
{
    switch (a.kind) {
    case V_NULL: return a;
    case V_INT:
        if (a.u.i == INT64_MIN) {
            if (err) *err = xasprintf("integer overflow");
            return v_null();
        }
        return v_int(-a.u.i);
    case V_FLOAT: return v_float(-a.u.f);
    default:
        if (err) *err = xasprintf("cannot negate a %s", kind_name(a.kind));
        value_free(a);
        return v_null();
    }
}

Value op_concat(Value a, Value b)
{
    Value r;
    if (a.kind == V_NULL || b.kind == V_NULL) {
        r = v_null();
    } else if (a.kind == V_LIST && b.kind == V_LIST) {
        uint32_t na = a.u.l->n, nb = b.u.l->n;
        r = v_list_new(na + nb);
        for (uint32_t i = 0; i < na; i++) r.u.l->items[i] = value_copy(a.u.l->items[i]);
        for (uint32_t i = 0; i < nb; i++) r.u.l->items[na + i] = value_copy(b.u.l->items[i]);
    } else if (a.kind == V_STRING && b.kind == V_STRING) {
        Str *s = str_alloc(a.u.s->len + b.u.s->len);
        memcpy(s->data, a.u.s->data, a.u.s->len);
        memcpy(s->data + a.u.s->len, b.u.s->data, b.u.s->len);
        r = v_string_take(s);
    } else {
        Buf buf;
        buf_init(&buf);
        value_to_text(&buf, a, NULL);
        value_to_text(&buf, b, NULL);
        r = v_string(buf.data ? buf.data : "", buf.len);
        buf_free(&buf);
    }
    value_free(a);
    value_free(b);
    return r;
}

/* ------------------------------------------------------------------------- comparison --- */

static int cmp_i64(int64_t a, int64_t b) { return a < b ? -1 : a > b; }

/* Compare a date or timestamp d with string s (parsed); 2 if s is not a date/timestamp. */
static int cmp_temporal_string(Value d, Value s)
{
    int64_t x;
    if (d.kind == V_DATE) {
        if (date_parse(s.u.s->data, s.u.s->len, &x)) return cmp_i64(d.u.i, x);
        if (timestamp_parse(s.u.s->data, s.u.s->len, &x)) return cmp_i64(d.u.i * 86400000000LL, x);
        return 2;
    }
    if (timestamp_parse(s.u.s->data, s.u.s->len, &x)) return cmp_i64(d.u.i, x);
    return 2;
}

int op_cmp(Value a, Value b)
{
    int ka = a.kind, kb = b.kind;
    if (ka == V_NULL || kb == V_NULL) return 2;
    int na = ka == V_INT || ka == V_FLOAT, nb = kb == V_INT || kb == V_FLOAT;
    if (ka == kb || (na && nb)) return value_cmp(a, b);
    if ((ka == V_DATE || ka == V_TIMESTAMP) && kb == V_STRING) return cmp_temporal_string(a, b);
    if ((kb == V_DATE || kb == V_TIMESTAMP) && ka == V_STRING) {
        int c = cmp_temporal_string(b, a);
        return c == 2 ? 2 : -c;
    }
    if (ka == V_DATE && kb == V_TIMESTAMP) return cmp_i64(a.u.i * 86400000000LL, b.u.i);
    if (ka == V_TIMESTAMP && kb == V_DATE) return cmp_i64(a.u.i, b.u.i * 86400000000LL);
    return 2;
}

Value op_compare(int op, Value a, Value b, char **err)
{
    Value r = v_null();
    if (a.kind != V_NULL && b.kind != V_NULL) {
        int c = op_cmp(a, b);
        if (c == 2) {
            int temporal = a.kind == V_DATE || a.kind == V_TIMESTAMP || b.kind == V_DATE || b.kind == V_TIMESTAMP;
            int strs = a.kind == V_STRING || b.kind == V_STRING;
            if (temporal && strs) {
                Value s = a.kind == V_STRING ? a : b, d = a.kind == V_STRING ? b : a;
                if (err) *err = xasprintf("cannot compare %s with '%.60s': not a %s", kind_name(d.kind), s.u.s->data, kind_name(d.kind));
            } else if (op == OP_EQ || op == OP_NE) {
                r = v_bool(op == OP_NE);     /* different kinds are simply unequal */
            } else if (err) {
                *err = xasprintf("cannot compare %s %s %s", kind_name(a.kind), op_symbol(op), kind_name(b.kind));
            }
        } else {
            switch (op) {
            case OP_EQ: r = v_bool(c == 0); break;
            case OP_NE: r = v_bool(c != 0); break;
            case OP_LT: r = v_bool(c < 0); break;
            case OP_LE: r = v_bool(c <= 0); break;
            case OP_GT: r = v_bool(c > 0); break;
            case OP_GE: r = v_bool(c >= 0); break;
            default: break;
            }
        }
    }
    value_free(a);
    value_free(b);
    return r;
}

/* ------------------------------------------------------------------------------ logic --- */

Value op_and(Value a, Value b)
{
    int fa = a.kind == V_BOOL && !a.u.b, fb = b.kind == V_BOOL && !b.u.b;
    Value r = fa || fb ? v_bool(0) : (a.kind != V_BOOL || b.kind != V_BOOL) ? v_null() : v_bool(1);
    value_free(a);
    value_free(b);
    return r;
}

Value op_or(Value a, Value b)
{
    int ta = a.kind == V_BOOL && a.u.b, tb = b.kind == V_BOOL && b.u.b;
    Value r = ta || tb ? v_bool(1) : (a.kind != V_BOOL || b.kind != V_BOOL) ? v_null() : v_bool(0);
    value_free(a);
    value_free(b);
    return r;
}

Value op_not(Value a)
{
    Value r = a.kind == V_BOOL ? v_bool(!a.u.b) : v_null();
    value_free(a);
    return r;
}
