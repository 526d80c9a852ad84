/* bind_template.c: the prompt template language (docs/reference.md, "Templates").
 *
 * A template is text with placeholders and tags, compiled at bind time into an ordinary expression
 * over the row's columns, so the optimizer, column pruning, explain and the cache key (the rendered
 * text) keep working:
 *   {{ path | filter | filter(args) }}     the value as text (null renders as "")
 *   {% if c %}..{% elif c %}..{% else %}..{% endif %}     a case expression
 *   {% for x in list %}..{% else %}..{% endfor %}          an E_LOOP over a list column
 *   {# comment #}; `{%-` / `-%}` (and `{{-` / `-}}`) strip the whitespace before / after a tag
 * Conditions: paths, literals, == != < <= > >=, `is [not] none`, `[not] in [..]`, and/or/not,
 * parentheses, filters; a value that is not a bool is true when it is not null, not "" , not 0 and
 * not an empty list (as in Jinja). Nothing runs code: filters are a fixed list of safe functions.
 *
 * Errors point at the offending byte inside the template string in the source file (the string's
 * escapes are accounted for), so a malformed template is reported as file:line:column.
 *
 * Loop variables are bound as extra columns appended to the scope (item, then `loop`), two per
 * nesting level; once the whole template is bound, references to them become E_LOOPVAR counting
 * from the end of the batch the loop body is evaluated on (eval.c), so column pruning, which renumbers
 * the real columns, never sees them.
 */
#include <stdlib.h>
#include <string.h>
#include "bind_int.h"
#include "func.h"
#include "media.h"

#define TPL_MAX_LOOPS 8

typedef struct Tpl {
    Binder *b;
    const Node *at;
    const char *t;      /* the template text (decoded) */
    size_t n, i;        /* its length; the cursor */
    int base;           /* columns of the real scope (loop columns follow) */
    int depth;          /* loops open */
    Scope sc;           /* the scope in force (extended inside loops) */
    Schema *schemas[TPL_MAX_LOOPS];
    char **quals[TPL_MAX_LOOPS];
    /* mapping template offsets to source offsets: the string literal's first content byte, and
     * whether it is raw (no escapes) */
    const Src *src;
    int lit;            /* source offset of the content, or -1 when unknown */
    int raw;
    int strip_next;     /* the previous tag ended with '-': strip leading whitespace of the next text */
} Tpl;

/* ---- positions ---- */

/* Decode the escape at s (after the backslash) as the lexer does: the bytes it stands for go to
 * out (up to 4) and the count is returned; *used gets how many source bytes it spans. */
static int esc_decode(const char *s, char *out, int *used)
{
    if (*s == 'u' && s[1] == '{') {
        unsigned long cp = strtoul(s + 2, NULL, 16);
        const char *e = strchr(s, '}');
        *used = e ? (int)(e - s) + 1 : 2;
        if (cp < 0x80) { out[0] = (char)cp; return 1; }
        if (cp < 0x800) { out[0] = (char)(0xC0 | (cp >> 6)); out[1] = (char)(0x80 | (cp & 0x3F)); return 2; }
        if (cp < 0x10000) {
            out[0] = (char)(0xE0 | (cp >> 12)); out[1] = (char)(0x80 | ((cp >> 6) & 0x3F)); out[2] = (char)(0x80 | (cp & 0x3F));
            return 3;
        }
        out[0] = (char)(0xF0 | (cp >> 18)); out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
        out[2] = (char)(0x80 | ((cp >> 6) & 0x3F)); out[3] = (char)(0x80 | (cp & 0x3F));
        return 4;
    }
    *used = 1;
    switch (*s) {
    case 'n': out[0] = '\n'; break;
    case 't': out[0] = '\t'; break;
    case 'r': out[0] = '\r'; break;
    case '0': out[0] = 0; break;
    default: out[0] = *s; break;
    }
    return 1;
}

/* Does the string literal whose opening quote is at src offset q decode to tpl? Sets T->lit/raw. */
static int lit_matches(Tpl *T, const char *text, size_t len, size_t q)
{
    if (q + 3 <= len && !strncmp(text + q, "\"\"\"", 3)) {
        if (q + 3 + T->n <= len && !memcmp(text + q + 3, T->t, T->n) && !strncmp(text + q + 3 + T->n, "\"\"\"", 3)) {
            T->lit = (int)q + 3; T->raw = 1;
            return 1;
        }
        return 0;
    }
    char qc = text[q];
    size_t s = q + 1, d = 0;
    while (s < len && text[s] != qc) {
        char buf[4];
        int used = 1, k = 1;
        if (text[s] == '\\' && s + 1 < len) { k = esc_decode(text + s + 1, buf, &used); used++; }
        else buf[0] = text[s];
        if (d + (size_t)k > T->n || memcmp(T->t + d, buf, (size_t)k)) return 0;
        d += (size_t)k;
        s += (size_t)used;
    }
    if (s >= len || d != T->n) return 0;
    T->lit = (int)q + 1; T->raw = 0;
    return 1;
}

/* Find the string literal holding the template: the first one at or after the node that decodes
 * to the same text (a semantic join's node starts at its keyword, its source comes first). */
static void find_literal(Tpl *T)
{
    T->lit = -1;
    if (!T->src || !T->src->text) return;
    const char *text = T->src->text;
    size_t len = T->src->len;
    for (size_t q = (size_t)T->at->pos; q < len; q++) {
        if (text[q] != '"' && text[q] != '\'') continue;
        if (lit_matches(T, text, len, q)) return;
        /* skip this literal to its end so that its inside is not taken for a start */
        if (q + 3 <= len && !strncmp(text + q, "\"\"\"", 3)) {
            const char *e = strstr(text + q + 3, "\"\"\"");
            if (!e) return;
            q = (size_t)(e - text) + 2;
        } else {
            char qc = text[q];
            size_t s = q + 1;
            while (s < len && text[s] != qc) s += text[s] == '\\' ? 2 : 1;
            q = s;
        }
    }
}

/* The source offset of template offset off. */
static int src_pos(const Tpl *T, size_t off)
{
    if (T->lit < 0) return T->at->pos;
    if (T->raw) return T->lit + (int)off;
    const char *text = T->src->text;
    size_t s = (size_t)T->lit, d = 0;
    while (d < off && s < T->src->len) {
        char buf[4];
        int used = 1, k = 1;
        if (text[s] == '\\') { k = esc_decode(text + s + 1, buf, &used); used++; }
        d += (size_t)k;
        s += (size_t)used;
    }
    return (int)s;
}

/* An error at template offset off. Returns -1. */
static int terr(Tpl *T, size_t off, const char *fmt, ...) FQL_PRINTF(3, 4);
static int terr(Tpl *T, size_t off, const char *fmt, ...)
{
    va_list ap;
    char msg[900];
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return err_at(T->b->err, FQL_ERR_TYPE, T->src, src_pos(T, off), "%s", msg);
}

/* A node standing at template offset off, for the Exprs made there (runtime errors point there). */
static Node *at_node(Tpl *T, size_t off)
{
    static Node nd;   /* only src and pos are read (expr_new) */
    nd.src = T->src;
    nd.pos = src_pos(T, off);
    return &nd;
}

/* ---- tokens inside {{ }} and {% %} ---- */

enum { TK_END, TK_NAME, TK_STR, TK_INT, TK_FLOAT, TK_OP };

typedef struct Tok {
    int kind;
    size_t pos, len;     /* template offsets */
    char *s;             /* NAME / STR text, OP spelling (owned) */
    int64_t iv;
    double fv;
} Tok;

typedef struct Lex {
    Tpl *T;
    size_t i, end;       /* scanning t[i..end) */
    Tok tok;
} Lex;

/* Scan the next token into L->tok. 0, or -1 with an error. */
static int lex(Lex *L)
{
    Tpl *T = L->T;
    const char *t = T->t;
    free(L->tok.s);
    memset(&L->tok, 0, sizeof L->tok);
    while (L->i < L->end && strchr(" \t\r\n", t[L->i])) L->i++;
    Tok *k = &L->tok;
    k->pos = L->i;
    if (L->i >= L->end) { k->kind = TK_END; return 0; }
    char c = t[L->i];
    if (c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) {
        size_t s = L->i;
        while (L->i < L->end && (t[L->i] == '_' || (t[L->i] >= 'a' && t[L->i] <= 'z') || (t[L->i] >= 'A' && t[L->i] <= 'Z') ||
                                 (t[L->i] >= '0' && t[L->i] <= '9')))
            L->i++;
        k->kind = TK_NAME;
        k->s = xstrndup(t + s, L->i - s);
    } else if (c == '`') {
        const char *e = memchr(t + L->i + 1, '`', L->end - L->i - 1);
        if (!e) return terr(T, L->i, "template: unclosed '`' in a name");
        k->kind = TK_NAME;
        k->s = xstrndup(t + L->i + 1, (size_t)(e - t - (long)L->i - 1));
        L->i = (size_t)(e - t) + 1;
    } else if (c == '"' || c == '\'') {
        Buf v;
        buf_init(&v);
        size_t s = L->i + 1;
        while (s < L->end && t[s] != c) {
            if (t[s] == '\\' && s + 1 < L->end) {
                char buf[4];
                int used, nb = esc_decode(t + s + 1, buf, &used);
                buf_append(&v, buf, (size_t)nb);
                s += (size_t)used + 1;
            } else buf_putc(&v, t[s++]);
        }
        if (s >= L->end) { buf_free(&v); return terr(T, L->i, "template: unclosed string (end it with %c)", c); }
        k->kind = TK_STR;
        k->s = v.data ? v.data : xstrdup("");
        L->i = s + 1;
    } else if (c >= '0' && c <= '9') {
        char *e;
        double f = strtod(t + L->i, &e);
        size_t s = L->i;
        L->i = (size_t)(e - t);
        if (L->i > L->end) L->i = L->end;
        k->s = xstrndup(t + s, L->i - s);
        if (strpbrk(k->s, ".eE")) { k->kind = TK_FLOAT; k->fv = f; }
        else { k->kind = TK_INT; k->iv = strtoll(k->s, NULL, 10); }
    } else {
        static const char *const ops[] = { "==", "!=", "<=", ">=", "<", ">", "|", "(", ")", ",", ".", "[", "]", "-", NULL };
        for (int j = 0; ops[j]; j++) {
            size_t ol = strlen(ops[j]);
            if (L->i + ol <= L->end && !strncmp(t + L->i, ops[j], ol)) {
                k->kind = TK_OP;
                k->s = xstrdup(ops[j]);
                L->i += ol;
                k->len = ol;
                return 0;
            }
        }
        if (c == '=') return terr(T, L->i, "template: '=' is not an operator here; write '==' to compare");
        return terr(T, L->i, "template: unexpected '%c'", c);
    }
    k->len = L->i - k->pos;
    return 0;
}

static int is_op(const Lex *L, const char *op) { return L->tok.kind == TK_OP && !strcmp(L->tok.s, op); }
static int is_word(const Lex *L, const char *w) { return L->tok.kind == TK_NAME && !strcmp(L->tok.s, w); }

/* ---- expressions ---- */

/* A call of built-in function name over args (taken), typed by the function; NULL with an error at off. */
static Expr *call_fn(Tpl *T, size_t off, const char *name, Expr **args, int n)
{
    const FuncDef *fd = func_lookup(name);
    Expr *e = expr_new(E_CALL, NULL, at_node(T, off));
    e->fn = fd;
    Type *types[6] = { 0 };
    for (int i = 0; i < n; i++) { expr_add(e, args[i]); types[i] = args[i]->type; }
    char *msg = NULL;
    Type *rt = fd ? fd->type(types, n, &msg) : NULL;
    if (!rt) {
        terr(T, off, "template: %s", msg ? msg : "bad argument types");
        free(msg);
        expr_free(e);
        return NULL;
    }
    free(msg);
    e->type = rt;
    return e;
}

static Expr *as_text(Tpl *T, size_t off, Expr *x)
{
    if (x->type->kind == TY_STRING) return x;
    Expr *c = expr_new(E_CAST, type_string(), at_node(T, off));
    expr_add(c, x);
    return c;
}

static Expr *lit_str(Tpl *T, size_t off, const char *s, size_t n)
{
    return bind_lit_expr(v_string(s, n), type_string(), at_node(T, off));
}

/* A dotted path: a column, `qualifier.column`, struct fields, a loop variable, `loop.index`. The
 * name runs from template offset off; L is past the first name, whose text is first. */
static Expr *path_expr(Tpl *T, Lex *L, size_t off, char *first)
{
    Scope *sc = &T->sc;
    Expr *ref = NULL;
    int col;
    /* qualifier.column (a join's side) before a struct field */
    if (is_op(L, ".") && bind_find_col(sc, NULL, first) < 0) {
        if (lex(L)) return NULL;
        if (L->tok.kind != TK_NAME) { terr(T, L->tok.pos, "template: expected a name after '.'"); return NULL; }
        if (!bind_has_qual(sc, first)) {
            const char *best = closest_name(first, (const char *const *)sc->schema->names, (size_t)sc->schema->n);
            if (best) terr(T, off, "template refers to unknown column '%s'; did you mean '%s'?", first, best);
            else terr(T, off, "template refers to unknown column '%s'", first);
            return NULL;
        }
        if ((col = bind_find_col(sc, first, L->tok.s)) < 0) { terr(T, off, "template: '%s' has no column '%s'", first, L->tok.s); return NULL; }
        ref = bind_col_expr(sc, col, at_node(T, off));
        if (lex(L)) { expr_free(ref); return NULL; }
    } else if ((col = bind_find_col(sc, NULL, first)) >= 0) {
        ref = bind_col_expr(sc, col, at_node(T, off));
    } else {
        const char *best = closest_name(first, (const char *const *)sc->schema->names, (size_t)sc->schema->n);
        if (best) terr(T, off, "template refers to unknown column '%s'; did you mean '%s'?", first, best);
        else terr(T, off, "template refers to unknown column '%s'", first);
        return NULL;
    }
    /* .field and [index] */
    for (;;) {
        if (is_op(L, ".")) {
            if (lex(L)) goto fail;
            if (L->tok.kind != TK_NAME) { terr(T, L->tok.pos, "template: expected a field name after '.'"); goto fail; }
            int fi = ref->type->kind == TY_STRUCT ? type_field_index(ref->type, L->tok.s) : -1;
            if (fi < 0 && ref->type->kind != TY_JSON && ref->type->kind != TY_ANY) {
                char *ts = bind_tystr(ref->type);
                terr(T, L->tok.pos, "template: '%s' (%s) has no field '%s'", first, ts, L->tok.s);
                free(ts);
                goto fail;
            }
            Expr *fe = expr_new(E_FIELD, fi >= 0 ? type_ref(ref->type->fields[fi].type) : type_any(), at_node(T, L->tok.pos));
            fe->ival = fi;
            fe->name = xstrdup(L->tok.s);
            expr_add(fe, ref);
            ref = fe;
            if (lex(L)) goto fail;
        } else if (is_op(L, "[")) {
            size_t p = L->tok.pos;
            if (lex(L)) goto fail;
            int neg = 0;
            if (is_op(L, "-")) { neg = 1; if (lex(L)) goto fail; }
            if (L->tok.kind != TK_INT) { terr(T, L->tok.pos, "template: an index is a whole number, as in tags[0] or tags[-1]"); goto fail; }
            int64_t iv = neg ? -L->tok.iv : L->tok.iv;
            if (lex(L)) goto fail;
            if (!is_op(L, "]")) { terr(T, L->tok.pos, "template: expected ']'"); goto fail; }
            if (lex(L)) goto fail;
            Type *et = ref->type->kind == TY_LIST ? type_ref(ref->type->elem) : ref->type->kind == TY_STRING ? type_string() : type_any();
            Expr *ie = expr_new(E_INDEX, et, at_node(T, p));
            expr_add(ie, ref);
            expr_add(ie, bind_lit_expr(v_int(iv), type_int(), at_node(T, p)));
            ref = ie;
        } else break;
    }
    return ref;
fail:
    expr_free(ref);
    return NULL;
}

static const char *const filter_names[] = { "default", "upper", "lower", "trim", "length", "join", "first", "last",
                                            "replace", "tojson", NULL };

/* Apply the filter named at L (after '|') to x (taken). New Expr, or NULL with an error. */
static Expr *cond_or(Tpl *T, Lex *L);
static Expr *operand(Tpl *T, Lex *L);
static Expr *apply_filter(Tpl *T, Lex *L, Expr *x)
{
    if (L->tok.kind != TK_NAME) { terr(T, L->tok.pos, "template: expected a filter name after '|'"); expr_free(x); return NULL; }
    char *name = xstrdup(L->tok.s);
    size_t off = L->tok.pos;
    Expr *args[4] = { 0 };
    int na = 0;
    Expr *r = NULL;
    if (lex(L)) goto done;
    if (is_op(L, "(")) {
        if (lex(L)) goto done;
        while (!is_op(L, ")")) {
            if (na == 3) { terr(T, L->tok.pos, "template: too many arguments to filter '%s'", name); goto done; }
            if (!(args[na++] = operand(T, L))) goto done;
            if (is_op(L, ",")) { if (lex(L)) goto done; }
            else if (!is_op(L, ")")) { terr(T, L->tok.pos, "template: expected ',' or ')' in the arguments of '%s'", name); goto done; }
        }
        if (lex(L)) goto done;
    }
    int want = !strcmp(name, "default") || !strcmp(name, "d") ? 1 : !strcmp(name, "replace") ? 2 : !strcmp(name, "join") ? -1 : 0;
    if ((want >= 0 && na != want) || (want < 0 && na > 1)) {
        terr(T, off, "template: filter '%s' takes %s", name,
             want == 1 ? "one argument, as in default(\"none\")" : want == 2 ? "two arguments, as in replace(\"a\", \"b\")"
             : want < 0 ? "at most one argument (the separator), as in join(\", \")" : "no arguments");
        goto done;
    }
    if (!strcmp(name, "default") || !strcmp(name, "d")) {
        Expr *a[2] = { as_text(T, off, x), as_text(T, off, args[0]) };
        x = NULL; args[0] = NULL;
        r = call_fn(T, off, "coalesce", a, 2);
    } else if (!strcmp(name, "upper") || !strcmp(name, "lower") || !strcmp(name, "trim")) {
        Expr *a[1] = { as_text(T, off, x) };
        x = NULL;
        r = call_fn(T, off, name, a, 1);
    } else if (!strcmp(name, "length")) {
        if (x->type->kind != TY_LIST && x->type->kind != TY_STRING && x->type->kind != TY_ANY && x->type->kind != TY_NULL) x = as_text(T, off, x);
        Expr *a[1] = { x };
        x = NULL;
        r = call_fn(T, off, "length", a, 1);
    } else if (!strcmp(name, "join") || !strcmp(name, "first") || !strcmp(name, "last")) {
        if (x->type->kind != TY_LIST && x->type->kind != TY_ANY && x->type->kind != TY_NULL) {
            char *ts = bind_tystr(x->type);
            terr(T, off, "template: filter '%s' takes a list, got %s", name, ts);
            free(ts);
            goto done;
        }
        if (!strcmp(name, "join")) {
            Expr *a[2] = { x, na ? as_text(T, off, args[0]) : lit_str(T, off, "", 0) };
            x = NULL; args[0] = NULL;
            r = call_fn(T, off, "array_join", a, 2);
        } else {
            Type *et = x->type->kind == TY_LIST ? type_ref(x->type->elem) : type_any();
            r = expr_new(E_INDEX, et, at_node(T, off));
            expr_add(r, x);
            expr_add(r, bind_lit_expr(v_int(!strcmp(name, "first") ? 0 : -1), type_int(), at_node(T, off)));
            x = NULL;
        }
    } else if (!strcmp(name, "replace")) {
        Expr *a[3] = { as_text(T, off, x), as_text(T, off, args[0]), as_text(T, off, args[1]) };
        x = NULL; args[0] = args[1] = NULL;
        r = call_fn(T, off, "replace", a, 3);
    } else if (!strcmp(name, "tojson")) {
        Expr *a[1] = { x };
        x = NULL;
        r = call_fn(T, off, "to_json", a, 1);
    } else {
        const char *best = closest_name(name, filter_names, bind_names_len(filter_names));
        if (best) terr(T, off, "template: unknown filter '%s'; did you mean '%s'?", name, best);
        else terr(T, off, "template: unknown filter '%s' (filters: default, upper, lower, trim, length, join, first, last, replace, tojson)", name);
    }
done:
    expr_free(x);
    for (int i = 0; i < na; i++) expr_free(args[i]);
    free(name);
    return r;
}

/* A primary with its filters: a path, a literal, or a parenthesized condition. */
static Expr *operand(Tpl *T, Lex *L)
{
    Expr *x = NULL;
    Tok *k = &L->tok;
    size_t off = k->pos;
    if (k->kind == TK_STR) {
        x = bind_lit_expr(v_cstring(k->s), type_string(), at_node(T, off));
        if (lex(L)) goto fail;
    } else if (k->kind == TK_INT || k->kind == TK_FLOAT || is_op(L, "-")) {
        int neg = is_op(L, "-");
        if (neg && lex(L)) return NULL;
        if (k->kind == TK_INT) x = bind_lit_expr(v_int(neg ? -k->iv : k->iv), type_int(), at_node(T, off));
        else if (k->kind == TK_FLOAT) x = bind_lit_expr(v_float(neg ? -k->fv : k->fv), type_float(), at_node(T, off));
        else { terr(T, k->pos, "template: expected a number after '-'"); return NULL; }
        if (lex(L)) goto fail;
    } else if (k->kind == TK_NAME && (!strcmp(k->s, "true") || !strcmp(k->s, "True") || !strcmp(k->s, "false") || !strcmp(k->s, "False"))) {
        x = bind_lit_expr(v_bool(k->s[0] == 't' || k->s[0] == 'T'), type_bool(), at_node(T, off));
        if (lex(L)) goto fail;
    } else if (k->kind == TK_NAME && (!strcmp(k->s, "none") || !strcmp(k->s, "None") || !strcmp(k->s, "null"))) {
        x = bind_lit_expr(v_null(), type_null(), at_node(T, off));
        if (lex(L)) goto fail;
    } else if (k->kind == TK_NAME) {
        char *first = xstrdup(k->s);
        if (lex(L)) { free(first); return NULL; }
        x = path_expr(T, L, off, first);
        free(first);
        if (!x) return NULL;
    } else if (is_op(L, "(")) {
        if (lex(L)) return NULL;
        if (!(x = cond_or(T, L))) return NULL;
        if (!is_op(L, ")")) { terr(T, L->tok.pos, "template: expected ')'"); goto fail; }
        if (lex(L)) goto fail;
    } else {
        terr(T, k->pos, k->kind == TK_END ? "template: expected a value (a column name, a string or a number)"
                                          : "template: expected a value (a column name, a string or a number), got '%s'", k->s);
        return NULL;
    }
    while (is_op(L, "|")) {
        if (lex(L)) goto fail;
        if (!(x = apply_filter(T, L, x))) return NULL;
    }
    return x;
fail:
    expr_free(x);
    return NULL;
}

/* x as a two-valued condition (Jinja truthiness; null is false). Takes x. */
static Expr *truthy(Tpl *T, size_t off, Expr *x)
{
    Node *at = at_node(T, off);
    Expr *c;
    switch (x->type->kind) {
    case TY_BOOL: c = x; break;
    case TY_STRING: case TY_ENUM:
        c = expr_new(E_BINOP, type_bool(), at);
        c->op = OP_NE;
        expr_add(c, x);
        expr_add(c, bind_lit_expr(v_cstring(""), type_string(), at));
        break;
    case TY_INT: case TY_FLOAT:
        c = expr_new(E_BINOP, type_bool(), at);
        c->op = OP_NE;
        expr_add(c, x);
        expr_add(c, bind_lit_expr(v_int(0), type_int(), at));
        break;
    case TY_LIST: {
        Expr *a[1] = { x };
        Expr *len = call_fn(T, off, "size", a, 1);
        if (!len) return NULL;
        c = expr_new(E_BINOP, type_bool(), at);
        c->op = OP_GT;
        expr_add(c, len);
        expr_add(c, bind_lit_expr(v_int(0), type_int(), at));
        break;
    }
    default:
        c = expr_new(E_ISNULL, type_bool(), at);
        c->flag = 1;
        expr_add(c, x);
        return c;
    }
    Expr *a[2] = { c, bind_lit_expr(v_bool(0), type_bool(), at) };
    return call_fn(T, off, "coalesce", a, 2);
}

/* comparison: operand [(== | != | < | <= | > | >=) operand | is [not] none | [not] in [..]] */
static Expr *cond_cmp(Tpl *T, Lex *L)
{
    size_t off = L->tok.pos;
    Expr *x = operand(T, L);
    if (!x) return NULL;
    static const char *const cmps[] = { "==", "!=", "<", "<=", ">", ">=" };
    static const int cops[] = { OP_EQ, OP_NE, OP_LT, OP_LE, OP_GT, OP_GE };
    for (int j = 0; j < 6; j++)
        if (is_op(L, cmps[j])) {
            size_t opos = L->tok.pos;
            if (lex(L)) goto fail;
            Expr *y = operand(T, L);
            if (!y) goto fail;
            if (!bind_comparable(x->type, y->type)) {
                char *a = bind_tystr(x->type), *b = bind_tystr(y->type);
                terr(T, opos, "template: cannot compare %s with %s", a, b);
                free(a); free(b);
                expr_free(y);
                goto fail;
            }
            Expr *c = expr_new(E_BINOP, type_bool(), at_node(T, opos));
            c->op = cops[j];
            expr_add(c, x);
            expr_add(c, y);
            return truthy(T, off, c);
        }
    if (is_word(L, "is")) {
        if (lex(L)) goto fail;
        int neg = 0;
        if (is_word(L, "not")) { neg = 1; if (lex(L)) goto fail; }
        if (!is_word(L, "none") && !is_word(L, "None") && !is_word(L, "null") && !is_word(L, "defined")) {
            terr(T, L->tok.pos, "template: expected 'none' after 'is' (is none, is not none)");
            goto fail;
        }
        int defined = is_word(L, "defined");
        if (lex(L)) goto fail;
        Expr *c = expr_new(E_ISNULL, type_bool(), at_node(T, off));
        c->flag = defined ? !neg : neg;
        expr_add(c, x);
        return c;
    }
    int neg = 0;
    if (is_word(L, "not")) {
        neg = 1;
        if (lex(L)) goto fail;
        if (!is_word(L, "in")) { terr(T, L->tok.pos, "template: expected 'in' after 'not'"); goto fail; }
    }
    if (is_word(L, "in")) {
        if (lex(L)) goto fail;
        if (!is_op(L, "[")) {   /* x in a list column: list_contains */
            size_t lpos = L->tok.pos;
            Expr *y = operand(T, L);
            if (!y) goto fail;
            if (y->type->kind != TY_LIST && y->type->kind != TY_ANY && y->type->kind != TY_NULL) {
                char *ts = bind_tystr(y->type);
                terr(T, lpos, "template: 'in' takes a list (a list column, or [\"a\", \"b\"]), got %s", ts);
                free(ts);
                expr_free(y);
                goto fail;
            }
            Expr *a[2] = { y, x };
            Expr *c = call_fn(T, off, "list_contains", a, 2);
            if (!c) return NULL;
            if (neg) {
                Expr *nt = expr_new(E_NOT, type_bool(), at_node(T, off));
                expr_add(nt, c);
                c = nt;
            }
            return truthy(T, off, c);
        }
        if (lex(L)) goto fail;
        Expr *c = expr_new(E_IN, type_bool(), at_node(T, off));
        c->flag = neg;
        expr_add(c, x);
        while (!is_op(L, "]")) {
            Expr *y = operand(T, L);
            if (!y) { expr_free(c); return NULL; }
            expr_add(c, y);
            if (is_op(L, ",")) { if (lex(L)) { expr_free(c); return NULL; } }
            else if (!is_op(L, "]")) { terr(T, L->tok.pos, "template: expected ',' or ']'"); expr_free(c); return NULL; }
        }
        if (lex(L)) { expr_free(c); return NULL; }
        return truthy(T, off, c);
    }
    return truthy(T, off, x);
fail:
    expr_free(x);
    return NULL;
}

static Expr *cond_not(Tpl *T, Lex *L)
{
    if (is_word(L, "not")) {
        size_t off = L->tok.pos;
        if (lex(L)) return NULL;
        Expr *x = cond_not(T, L);
        if (!x) return NULL;
        Expr *c = expr_new(E_NOT, type_bool(), at_node(T, off));
        expr_add(c, x);
        return c;
    }
    return cond_cmp(T, L);
}

static Expr *cond_and(Tpl *T, Lex *L)
{
    Expr *x = cond_not(T, L);
    while (x && is_word(L, "and")) {
        size_t off = L->tok.pos;
        if (lex(L)) { expr_free(x); return NULL; }
        Expr *y = cond_not(T, L);
        if (!y) { expr_free(x); return NULL; }
        Expr *c = expr_new(E_BINOP, type_bool(), at_node(T, off));
        c->op = OP_AND;
        expr_add(c, x);
        expr_add(c, y);
        x = c;
    }
    return x;
}

static Expr *cond_or(Tpl *T, Lex *L)
{
    Expr *x = cond_and(T, L);
    while (x && is_word(L, "or")) {
        size_t off = L->tok.pos;
        if (lex(L)) { expr_free(x); return NULL; }
        Expr *y = cond_and(T, L);
        if (!y) { expr_free(x); return NULL; }
        Expr *c = expr_new(E_BINOP, type_bool(), at_node(T, off));
        c->op = OP_OR;
        expr_add(c, x);
        expr_add(c, y);
        x = c;
    }
    return x;
}

/* ---- the text and tags ---- */

/* A tag found by next_tag: its kind ('{' for {{, '%', '#'), where it starts and ends, its inner
 * text range, and its whitespace-control marks. */
typedef struct Tag {
    char kind;
    size_t start, end;       /* offsets of '{' and just past the closing '}' */
    size_t in, inend;        /* the inside (between the marks) */
    int lstrip, rstrip;
} Tag;

/* Find the next tag at or after T->i. 0 none (g->start = n), 1 found, -1 error (unclosed). */
static int next_tag(Tpl *T, Tag *g)
{
    const char *t = T->t;
    for (size_t i = T->i; i + 1 < T->n; i++) {
        if (t[i] != '{' || (t[i + 1] != '{' && t[i + 1] != '%' && t[i + 1] != '#')) continue;
        char k = t[i + 1], close = k == '{' ? '}' : k;
        g->kind = k;
        g->start = i;
        g->in = i + 2;
        g->lstrip = g->in < T->n && t[g->in] == '-';
        if (g->lstrip) g->in++;
        /* the closing mark, outside quoted strings */
        char q = 0;
        for (size_t j = g->in; j + 1 < T->n; j++) {
            if (q) { if (t[j] == '\\') j++; else if (t[j] == q) q = 0; continue; }
            if (k != '#' && (t[j] == '"' || t[j] == '\'')) { q = t[j]; continue; }
            if (t[j] == close && t[j + 1] == '}') {
                g->inend = j;
                g->rstrip = j > g->in && t[j - 1] == '-';
                if (g->rstrip) g->inend--;
                g->end = j + 2;
                return 1;
            }
        }
        if (k == '{') return terr(T, i, "unclosed '{{' in template (write '}}' after the column name)");
        return terr(T, i, "template: unclosed '{%c' (end it with '%c}')", k, close);
    }
    g->start = T->n;
    return 0;
}

static Expr *concat_new(Tpl *T, size_t off)
{
    Expr *cat = expr_new(E_CALL, type_string(), at_node(T, off));
    cat->fn = func_lookup("concat");
    return cat;
}

/* The word a {% %} tag starts with, and a lexer left after it. */
static char *tag_word(Tpl *T, const Tag *g, Lex *L)
{
    memset(L, 0, sizeof *L);
    L->T = T;
    L->i = g->in;
    L->end = g->inend;
    if (lex(L)) return NULL;
    if (L->tok.kind != TK_NAME) { terr(T, L->tok.pos, "template: expected a tag name after '{%%' (if, elif, else, endif, for, endfor)"); return NULL; }
    char *w = xstrdup(L->tok.s);
    if (lex(L)) { free(w); return NULL; }
    return w;
}

static int expect_end(Tpl *T, Lex *L, const char *what)
{
    if (L->tok.kind == TK_END) return 0;
    return terr(T, L->tok.pos, "template: unexpected '%s' after %s", L->tok.s ? L->tok.s : "?", what);
}

static Expr *body(Tpl *T, char **stop, Tag *stoptag);

/* {% if %} ... {% endif %} as a case expression; g is the if tag, L past 'if'. */
static Expr *if_block(Tpl *T, const Tag *g, Lex *L)
{
    Expr *c = expr_new(E_CASE, type_string(), at_node(T, g->start));
    Expr *cond = cond_or(T, L);
    if (!cond || expect_end(T, L, "the condition")) goto fail;
    free(L->tok.s);
    L->tok.s = NULL;
    for (;;) {
        char *stop = NULL;
        Tag st;
        Expr *v = body(T, &stop, &st);
        if (!v) { expr_free(cond); goto fail; }
        if (!stop) {
            expr_free(v);
            expr_free(cond);
            terr(T, g->start, "template: this '{%% if %%}' has no '{%% endif %%}'");
            goto fail;
        }
        if (cond) { expr_add(c, cond); expr_add(c, v); cond = NULL; }
        else { expr_add(c, v); c->flag = 1; }   /* the else branch */
        Lex L2;
        if (!strcmp(stop, "endif")) {
            free(stop);
            char *w = tag_word(T, &st, &L2);
            free(w);
            int bad = expect_end(T, &L2, "endif");
            free(L2.tok.s);
            if (bad) goto fail;
            break;
        }
        if (c->flag) {
            terr(T, st.start, "template: '{%% %s %%}' after '{%% else %%}'; close the if with '{%% endif %%}'", stop);
            free(stop);
            goto fail;
        }
        char *w = tag_word(T, &st, &L2);
        free(w);
        if (!strcmp(stop, "elif")) {
            free(stop);
            cond = cond_or(T, &L2);
            if (!cond || expect_end(T, &L2, "the condition")) { free(L2.tok.s); expr_free(cond); goto fail; }
        } else if (!strcmp(stop, "else")) {
            free(stop);
            if (expect_end(T, &L2, "else")) { free(L2.tok.s); goto fail; }
        } else {
            terr(T, st.start, "template: '{%% %s %%}' inside an if; close the if with '{%% endif %%}' first", stop);
            free(stop);
            free(L2.tok.s);
            goto fail;
        }
        free(L2.tok.s);
    }
    if (!c->flag) { expr_add(c, lit_str(T, g->start, "", 0)); c->flag = 1; }
    return c;
fail:
    expr_free(c);
    return NULL;
}

/* Turn the references in e to a loop's two columns (col0: the item, col0 + 1: `loop`) into
 * E_LOOPVAR, which counts from the end of the batch the body runs on: rel loops deeper than the
 * loop's own body, each adding two columns. */
static void loopvars(Expr *e, int col0, int rel, const char *var)
{
    if (e->kind == E_COL && (e->ival == col0 || e->ival == col0 + 1)) {
        int w = (int)(e->ival - col0);
        e->kind = E_LOOPVAR;
        e->ival = 2 * (rel + 1) - w;
        e->flag = w;
        free(e->name);
        e->name = xstrdup(w ? "loop" : var);
    }
    for (int i = 0; i < e->nargs; i++) loopvars(e->args[i], col0, rel + (e->kind == E_LOOP && i == 1), var);
}

static Type *loop_type(void)
{
    static const char *const names[] = { "index", "index0", "first", "last", "length" };
    Type *t = type_struct_new(5);
    for (int i = 0; i < 5; i++) {
        t->fields[i].name = xstrdup(names[i]);
        t->fields[i].type = i == 2 || i == 3 ? type_bool() : type_int();
    }
    return t;
}

/* {% for x in list %} ... [{% else %} ...] {% endfor %}; g is the for tag, L past 'for'. */
static Expr *for_block(Tpl *T, const Tag *g, Lex *L)
{
    if (L->tok.kind != TK_NAME) { terr(T, L->tok.pos, "template: expected a loop variable after 'for', as in {%% for t in tags %%}"); return NULL; }
    char *var = xstrdup(L->tok.s);
    size_t varpos = L->tok.pos;
    Expr *e = NULL, *list = NULL;
    if (lex(L)) goto fail;
    if (!is_word(L, "in")) { terr(T, L->tok.pos, "template: expected 'in' after the loop variable, as in {%% for %s in tags %%}", var); goto fail; }
    if (lex(L)) goto fail;
    size_t lpos = L->tok.pos;
    if (!(list = operand(T, L)) || expect_end(T, L, "the list")) goto fail;
    if (list->type->kind != TY_LIST && list->type->kind != TY_ANY && list->type->kind != TY_NULL) {
        char *ts = bind_tystr(list->type);
        terr(T, lpos, "template: {%% for %%} loops over a list, got %s%s", ts,
             list->type->kind == TY_JSON ? " (cast it to a list first: cast(x as [string]))" : "");
        free(ts);
        goto fail;
    }
    if (T->depth == TPL_MAX_LOOPS) { terr(T, g->start, "template: loops nest at most %d deep", TPL_MAX_LOOPS); goto fail; }
    if (!strcmp(var, "loop") || bind_find_col(&T->sc, NULL, var) >= 0) {
        if (!strcmp(var, "loop") || T->depth == 0 || bind_find_col(&T->sc, NULL, var) < T->base) {
            terr(T, varpos, "template: the loop variable '%s' would hide a column of the same name; choose another name", var);
            goto fail;
        }
    }
    /* the body's scope: the columns so far, the item, and `loop` */
    Scope saved = T->sc;
    Schema *s = schema_copy(T->sc.schema);
    for (int i = T->base; i < s->n; i++)   /* an outer loop's names this loop shadows */
        if (!strcmp(s->names[i], var) || !strcmp(s->names[i], "loop")) { free(s->names[i]); s->names[i] = xstrdup("\x01shadowed"); }
    schema_add(s, var, list->type->kind == TY_LIST ? type_ref(list->type->elem) : type_any());
    schema_add(s, "loop", loop_type());
    char **q = bind_quals_new(s->n, NULL);
    for (int i = 0; saved.quals && i < saved.schema->n; i++) q[i] = saved.quals[i] ? xstrdup(saved.quals[i]) : NULL;
    T->schemas[T->depth] = s;
    T->quals[T->depth] = q;
    T->depth++;
    T->sc.schema = s;
    T->sc.quals = q;
    char *stop = NULL;
    Tag st;
    Expr *bd = body(T, &stop, &st), *els = NULL;
    T->depth--;
    T->sc = saved;
    if (bd && stop && !strcmp(stop, "else")) {
        Lex L2;
        char *w = tag_word(T, &st, &L2);
        free(w);
        int bad = expect_end(T, &L2, "else");
        free(L2.tok.s);
        free(stop);
        stop = NULL;
        if (!bad) els = body(T, &stop, &st);
        if (!els) { expr_free(bd); bd = NULL; }
    }
    bind_quals_free(q, s->n);
    schema_free(s);
    T->schemas[T->depth] = NULL;
    if (!bd) { free(stop); goto fail; }
    if (!stop || strcmp(stop, "endfor")) {
        if (stop) terr(T, st.start, "template: '{%% %s %%}' inside a for; close the loop with '{%% endfor %%}' first", stop);
        else terr(T, g->start, "template: this '{%% for %%}' has no '{%% endfor %%}'");
        free(stop);
        expr_free(bd);
        expr_free(els);
        goto fail;
    }
    free(stop);
    {
        Lex L2;
        char *w = tag_word(T, &st, &L2);
        free(w);
        int bad = expect_end(T, &L2, "endfor");
        free(L2.tok.s);
        if (bad) { expr_free(bd); expr_free(els); goto fail; }
    }
    loopvars(bd, T->base + 2 * T->depth, 0, var);
    e = expr_new(E_LOOP, type_string(), at_node(T, g->start));
    e->name = var;
    expr_add(e, list);
    expr_add(e, bd);
    if (els) expr_add(e, els);
    return e;
fail:
    free(var);
    expr_free(list);
    return NULL;
}

/* The text and tags from T->i up to a {% elif/else/endif/endfor %} (whose word goes to *stop and
 * tag to *stoptag) or the end (*stop NULL), as a concatenation. NULL with an error. */
static Expr *body(Tpl *T, char **stop, Tag *stoptag)
{
    Expr *cat = concat_new(T, T->i);
    *stop = NULL;
    for (;;) {
        Tag g;
        int r = next_tag(T, &g);
        if (r < 0) goto fail;
        size_t ts = T->i, te = g.start;
        if (T->strip_next) while (ts < te && strchr(" \t\r\n", T->t[ts])) ts++;
        if (r && g.lstrip) while (te > ts && strchr(" \t\r\n", T->t[te - 1])) te--;
        T->strip_next = 0;
        if (te > ts) expr_add(cat, lit_str(T, ts, T->t + ts, te - ts));
        if (!r) { T->i = T->n; break; }
        T->i = g.end;
        T->strip_next = g.rstrip;
        if (g.kind == '#') continue;
        Lex L;
        if (g.kind == '{') {
            memset(&L, 0, sizeof L);
            L.T = T;
            L.i = g.in;
            L.end = g.inend;
            Expr *x = NULL;
            /* a whole column name, even one a name token cannot spell (`{{my col}}`, as before) */
            size_t a = g.in, z = g.inend;
            while (a < z && T->t[a] == ' ') a++;
            while (z > a && T->t[z - 1] == ' ') z--;
            char *whole = xstrndup(T->t + a, z - a);
            int col = bind_find_col(&T->sc, NULL, whole);
            free(whole);
            if (col >= 0 && a < z) x = bind_col_expr(&T->sc, col, at_node(T, a));
            else {
                if (lex(&L)) goto fail;
                if (L.tok.kind == TK_END) { terr(T, g.start, "template: empty '{{ }}'; put a column name inside"); goto fail; }
                x = operand(T, &L);
                if (x && L.tok.kind != TK_END) {
                    terr(T, L.tok.pos, "template: unexpected '%s' in '{{ }}' (filters follow '|')", L.tok.s);
                    expr_free(x);
                    x = NULL;
                }
                free(L.tok.s);
                if (!x) goto fail;
            }
            /* values are inserted verbatim as text (never re-rendered); an image or audio value is a
             * marker the semantic operator replaces by the medium, attached after the text (media.h) */
            Expr *txt;
            if (media_kind_of_type(x->type)) {
                txt = expr_new(E_CALL, type_string(), at_node(T, a));
                txt->fn = func_lookup("__attach");
            } else txt = expr_new(E_CAST, type_string(), at_node(T, a));
            expr_add(txt, x);
            expr_add(cat, txt);
            continue;
        }
        char *w = tag_word(T, &g, &L);
        if (!w) goto fail;
        if (!strcmp(w, "if")) {
            free(w);
            Expr *x = if_block(T, &g, &L);
            free(L.tok.s);
            if (!x) goto fail;
            expr_add(cat, x);
        } else if (!strcmp(w, "for")) {
            free(w);
            Expr *x = for_block(T, &g, &L);
            free(L.tok.s);
            if (!x) goto fail;
            expr_add(cat, x);
        } else if (!strcmp(w, "elif") || !strcmp(w, "else") || !strcmp(w, "endif") || !strcmp(w, "endfor")) {
            free(L.tok.s);
            *stop = w;
            *stoptag = g;
            break;
        } else {
            static const char *const tags[] = { "if", "elif", "else", "endif", "for", "endfor", NULL };
            while (g.in < g.inend && strchr(" \t\r\n", T->t[g.in])) g.in++;   /* point at the word */
            const char *best = closest_name(w, tags, bind_names_len(tags));
            if (best) terr(T, g.in, "template: unknown tag '%s'; did you mean '%s'?", w, best);
            else terr(T, g.in, "template: unknown tag '%s' (tags: if, elif, else, endif, for, endfor)", w);
            free(w);
            free(L.tok.s);
            goto fail;
        }
    }
    if (cat->nargs == 0) expr_add(cat, lit_str(T, T->i, "", 0));
    return cat;
fail:
    expr_free(cat);
    return NULL;
}

Expr *bind_template(Binder *b, Scope *sc, const Node *at, const char *tpl)
{
    Tpl T = { .b = b, .at = at, .t = tpl, .n = strlen(tpl), .sc = *sc, .base = sc->schema->n, .src = at ? at->src : NULL };
    static const Node nowhere;
    if (!T.at) T.at = &nowhere;
    find_literal(&T);
    char *stop = NULL;
    Tag st;
    Expr *e = body(&T, &stop, &st);
    if (e && stop) {
        terr(&T, st.start, "template: '{%% %s %%}' without an open %s", stop, !strcmp(stop, "endfor") ? "'{% for %}'" : "'{% if %}'");
        expr_free(e);
        e = NULL;
    }
    free(stop);
    return e;
}

int bind_template_tags(const char *tpl)
{
    return strstr(tpl, "{%") != NULL || strstr(tpl, "{#") != NULL;
}

char **bind_template_placeholders(const char *tpl, int *n)
{
    char **out = NULL;
    *n = 0;
    int depth = 0;
    for (const char *p = tpl; (p = strchr(p, '{'));) {
        if (p[1] == '%' || p[1] == '#') {
            const char *e = strstr(p + 2, p[1] == '%' ? "%}" : "#}");
            if (!e) break;
            if (p[1] == '%') {
                const char *w = p + 2;
                while (*w == '-' || *w == ' ') w++;
                if (!strncmp(w, "if", 2) || !strncmp(w, "for", 3)) depth++;
                else if (!strncmp(w, "endif", 5) || !strncmp(w, "endfor", 6)) depth--;
            }
            p = e + 2;
        } else if (p[1] == '{') {
            const char *e = strstr(p + 2, "}}");
            if (!e) break;
            if (depth == 0) {
                out = xrealloc(out, (size_t)(*n + 1) * sizeof *out);
                out[(*n)++] = xstrndup(p, (size_t)(e + 2 - p));
            }
            p = e + 2;
        } else p++;
    }
    return out;
}
