/* func_text.c: text functions: the exact token count and markdown helpers.
 *
 * token_count() uses tokenizer.c (OpenAI's o200k_base by default, or cl100k_base).
 *
 * The markdown helpers read the block structure that matters for splitting documents, following
 * CommonMark where it applies and simpler where it does not (docs/language.md says the rules):
 * - ATX headings: 0-3 spaces, 1-6 '#', then a space, a tab or the end of the line; the text is
 *   the rest without surrounding whitespace and without a closing run of '#' preceded by a space.
 * - Setext headings: a paragraph (non-blank lines after a blank line, a heading, a code block or
 *   a thematic break, not starting as a list item, a block quote or indented code) underlined by
 *   a line of '=' (level 1) or '-' (level 2), 0-3 spaces before it and only spaces after; the text
 *   is the paragraph's lines, each trimmed, joined by newlines.
 * - Fenced code blocks: 0-3 spaces and at least three '`' (with no '`' in the info string) or '~';
 *   closed by a line of at least as many of the same character (0-3 spaces before, only spaces
 *   after), or by the end of the text. The language is the first word of the info string. The code
 *   is the lines between the fences (up to the opening fence's indentation removed from each),
 *   without the newline before the closing fence. Nothing inside a code block is a heading.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "func.h"
#include "tokenizer.h"

/* Check that each given argument is a string (or null, any, an enum; json for the first):
 * 1, or 0 with *msg set. */
static int strings_only(const char *fn, const char *const *names, Type **a, int n, char **msg)
{
    for (int i = 0; i < n; i++) {
        if (!a[i]) continue;
        TypeKind k = a[i]->kind;
        if (k == TY_NULL || k == TY_ANY || k == TY_STRING || k == TY_ENUM || (i == 0 && k == TY_JSON)) continue;
        char *got = type_to_string(a[i]);
        *msg = xasprintf("%s expects a string for '%s', got %s", fn, names[i], got);
        free(got);
        return 0;
    }
    return 1;
}

static int is_text(Value v) { return v.kind == V_STRING || v.kind == V_JSON; }

/* ---------------------------------------------------------------------- token_count --- */

/* The encoding named by v (o200k_base when v is null), or -1 with an error recorded. */
int func_text_encoding(Value v, const char *fn, FuncCtx *c)
{
    if (v.kind == V_NULL) return TOK_O200K;
    int e = is_text(v) ? tok_encoding_named(v_str(v), v_strlen(v)) : -1;
    if (e < 0) {
        Buf b;
        buf_init(&b);
        value_to_text(&b, v, NULL);
        func_error(c, "%s: encoding must be \"o200k_base\" or \"cl100k_base\", got \"%s\"", fn, b.data ? b.data : "");
        buf_free(&b);
    }
    return e;
}

static Type *ty_token_count(Type **a, int n, char **msg)
{
    static const char *const names[] = { "text", "encoding" };
    return strings_only("token_count", names, a, n, msg) ? type_int() : NULL;
}

static Value f_token_count(const Value *a, int n, FuncCtx *c)
{
    if (!is_text(a[0])) return v_null();
    int e = func_text_encoding(n > 1 ? a[1] : v_null(), "token_count", c);
    if (e < 0) return v_null();
    const char *err = NULL;
    int64_t k = tok_count((TokEncoding)e, v_str(a[0]), v_strlen(a[0]), &err);
    if (k < 0) return func_error(c, "token_count: %s", err);
    return v_int(k);
}

/* ------------------------------------------------------------------------- markdown --- */

typedef struct Line { const char *s; size_t n; size_t next; } Line;   /* n excludes the newline; next = offset of the next line */

static Line line_at(const char *s, size_t len, size_t at)
{
    const char *nl = memchr(s + at, '\n', len - at);
    size_t end = nl ? (size_t)(nl - s) : len;
    Line l = { s + at, end - at, nl ? end + 1 : len };
    if (l.n && l.s[l.n - 1] == '\r') l.n--;
    return l;
}

static size_t indent_of(Line l)
{
    size_t i = 0;
    while (i < l.n && l.s[i] == ' ') i++;
    return i;
}

static int blank(Line l)
{
    for (size_t i = 0; i < l.n; i++)
        if (l.s[i] != ' ' && l.s[i] != '\t') return 0;
    return 1;
}

static void trim(const char **s, size_t *n)
{
    while (*n && (**s == ' ' || **s == '\t')) { (*s)++; (*n)--; }
    while (*n && ((*s)[*n - 1] == ' ' || (*s)[*n - 1] == '\t')) (*n)--;
}

/* An ATX heading: its level (text in *t, *tn), or 0. */
static int atx_heading(Line l, const char **t, size_t *tn)
{
    size_t i = indent_of(l), h = 0;
    if (i > 3) return 0;
    while (i + h < l.n && l.s[i + h] == '#') h++;
    if (h < 1 || h > 6 || (i + h < l.n && l.s[i + h] != ' ' && l.s[i + h] != '\t')) return 0;
    const char *s = l.s + i + h;
    size_t n = l.n - i - h;
    trim(&s, &n);
    size_t k = n;                                   /* a closing run of '#' after a space, or alone */
    while (k && s[k - 1] == '#') k--;
    if (k < n && (k == 0 || s[k - 1] == ' ' || s[k - 1] == '\t')) {
        n = k;
        trim(&s, &n);
    }
    *t = s;
    *tn = n;
    return (int)h;
}

/* A line of only c (at least `min`), 0-3 spaces before and only spaces after (interior spaces
 * allowed when `spaced`, as in thematic breaks "- - -"). */
static int rule_of(Line l, char c, size_t min, int spaced)
{
    size_t i = indent_of(l), k = 0;
    if (i > 3) return 0;
    for (; i < l.n; i++) {
        if (l.s[i] == c) {
            if (!spaced && k && l.s[i - 1] != c) return 0;
            k++;
        } else if (l.s[i] != ' ' && l.s[i] != '\t') {
            return 0;
        }
    }
    return k >= min;
}

static int thematic_break(Line l) { return rule_of(l, '-', 3, 1) || rule_of(l, '*', 3, 1) || rule_of(l, '_', 3, 1); }

/* An opening code fence: its length (character in *ch, indentation in *ind, info string in *info, *in), or 0. */
static size_t fence_open(Line l, char *ch, size_t *ind, const char **info, size_t *in)
{
    size_t i = indent_of(l), k = 0;
    if (i > 3 || i >= l.n || (l.s[i] != '`' && l.s[i] != '~')) return 0;
    while (i + k < l.n && l.s[i + k] == l.s[i]) k++;
    if (k < 3) return 0;
    const char *s = l.s + i + k;
    size_t n = l.n - i - k;
    if (l.s[i] == '`' && memchr(s, '`', n)) return 0;
    trim(&s, &n);
    *ch = l.s[i];
    *ind = i;
    *info = s;
    *in = n;
    return k;
}

static int fence_close(Line l, char ch, size_t len)
{
    size_t i = indent_of(l), k = 0;
    if (i > 3) return 0;
    while (i + k < l.n && l.s[i + k] == ch) k++;
    if (k < len) return 0;
    for (i += k; i < l.n; i++)
        if (l.s[i] != ' ' && l.s[i] != '\t') return 0;
    return 1;
}

/* Does the line open a block that cannot be a setext heading's paragraph (list item, quote)? */
static int not_paragraph(Line l)
{
    size_t i = indent_of(l);
    if (i >= l.n) return 0;
    char c = l.s[i];
    if (c == '>') return 1;
    if ((c == '-' || c == '*' || c == '+') && (i + 1 == l.n || l.s[i + 1] == ' ' || l.s[i + 1] == '\t')) return 1;
    size_t d = 0;
    while (i + d < l.n && d < 10 && l.s[i + d] >= '0' && l.s[i + d] <= '9') d++;
    return d && i + d < l.n && (l.s[i + d] == '.' || l.s[i + d] == ')') &&
           (i + d + 1 == l.n || l.s[i + d + 1] == ' ' || l.s[i + d + 1] == '\t');
}

/* What md_scan finds: headings and code blocks, in document order. */
typedef struct MdBlock {
    int level;                   /* heading 1-6; 0 for a code block */
    size_t start, end;           /* bytes of the whole block (a setext heading: its paragraph and underline) */
    char *text;                  /* heading text, or code */
    char *lang;                  /* code blocks: the info string's first word, or NULL */
} MdBlock;

typedef struct MdDoc { MdBlock *b; size_t n, cap; } MdDoc;

static MdBlock *md_add(MdDoc *d, int level, size_t start, size_t end)
{
    if (d->n == d->cap) {
        d->cap = d->cap ? 2 * d->cap : 16;
        d->b = xrealloc(d->b, d->cap * sizeof *d->b);
    }
    MdBlock *b = &d->b[d->n++];
    b->level = level;
    b->start = start;
    b->end = end;
    b->text = b->lang = NULL;
    return b;
}

static void md_free(MdDoc *d)
{
    for (size_t i = 0; i < d->n; i++) {
        free(d->b[i].text);
        free(d->b[i].lang);
    }
    free(d->b);
}

/* The paragraph's lines between from and to, each trimmed, joined by newlines. */
static char *para_text(const char *s, size_t from, size_t to)
{
    Buf b;
    buf_init(&b);
    for (size_t at = from; at < to;) {
        Line l = line_at(s, to, at);
        const char *t = l.s;
        size_t tn = l.n;
        trim(&t, &tn);
        if (b.len) buf_putc(&b, '\n');
        buf_append(&b, t, tn);
        at = l.next;
    }
    return buf_take(&b);
}

/* The code of a fenced block: lines [from, to) with up to `ind` leading spaces removed. */
static char *code_text(const char *s, size_t from, size_t to, size_t ind)
{
    Buf b;
    buf_init(&b);
    for (size_t at = from; at < to;) {
        Line l = line_at(s, to, at);
        size_t k = 0;
        while (k < ind && k < l.n && l.s[k] == ' ') k++;
        if (at > from) buf_putc(&b, '\n');
        buf_append(&b, l.s + k, l.n - k);
        at = l.next;
    }
    return buf_take(&b);
}

static void md_scan(const char *s, size_t len, MdDoc *d)
{
    size_t at = 0, para = SIZE_MAX;           /* para: start of the open paragraph, if any */
    int para_ok = 0;                          /* it may become a setext heading */
    while (at < len) {
        Line l = line_at(s, len, at);
        const char *t, *info;
        size_t tn, in, ind;
        char ch;
        int level;
        size_t flen;
        if (blank(l)) {
            para = SIZE_MAX;
        } else if ((flen = fence_open(l, &ch, &ind, &info, &in))) {
            size_t body = l.next, end = len, close_end = len;
            for (size_t k = body; k < len;) {
                Line c = line_at(s, len, k);
                if (fence_close(c, ch, flen)) { end = k; close_end = c.next; break; }
                k = c.next;
            }
            MdBlock *b = md_add(d, 0, at, close_end);
            b->text = code_text(s, body, end > body && s[end - 1] == '\n' ? end - 1 : end, ind);
            size_t w = 0;
            while (w < in && info[w] != ' ' && info[w] != '\t') w++;
            b->lang = w ? xstrndup(info, w) : NULL;
            para = SIZE_MAX;
            at = close_end;
            continue;
        } else if ((level = atx_heading(l, &t, &tn))) {
            md_add(d, level, at, l.next)->text = xstrndup(t, tn);
            para = SIZE_MAX;
        } else if (para != SIZE_MAX && para_ok && (rule_of(l, '=', 1, 0) || rule_of(l, '-', 1, 0))) {
            int lv = rule_of(l, '=', 1, 0) ? 1 : 2;
            md_add(d, lv, para, l.next)->text = para_text(s, para, at);
            para = SIZE_MAX;
        } else if (thematic_break(l)) {
            para = SIZE_MAX;
        } else if (indent_of(l) < 4 && not_paragraph(l)) {   /* a list item or quote interrupts a paragraph */
            para = at;
            para_ok = 0;
        } else if (para == SIZE_MAX && indent_of(l) < 4) {
            para = at;
            para_ok = 1;
        }
        at = l.next;
    }
}

/* The result types, built once and kept for the process (types are immutable and shared). */
static Type *heading_type, *section_type, *code_type;
static pthread_once_t types_once = PTHREAD_ONCE_INIT;

static Type *struct_type(int n, const char *const *names, Type *const *types)
{
    Type *t = type_struct_new(n);
    for (int i = 0; i < n; i++) {
        t->fields[i].name = xstrdup(names[i]);
        t->fields[i].type = types[i];
    }
    return t;
}

static void types_init(void)
{
    heading_type = struct_type(2, (const char *const[]){ "level", "text" }, (Type *const[]){ type_int(), type_string() });
    section_type = struct_type(3, (const char *const[]){ "heading", "level", "content" },
                               (Type *const[]){ type_string(), type_int(), type_string() });
    code_type = struct_type(2, (const char *const[]){ "language", "code" }, (Type *const[]){ type_string(), type_string() });
}

static Type *list_of(Type *t)
{
    pthread_once(&types_once, types_init);
    return type_list(type_ref(t));
}

static Type *ty_md_headings(Type **a, int n, char **msg)
{
    static const char *const names[] = { "md" };
    return strings_only("md_headings", names, a, n, msg) ? list_of(heading_type) : NULL;
}

static Type *ty_md_sections(Type **a, int n, char **msg)
{
    static const char *const names[] = { "md", "level" };
    if (!strings_only("md_sections", names, a, 1, msg)) return NULL;
    if (n > 1 && a[1] && a[1]->kind != TY_INT && a[1]->kind != TY_NULL && a[1]->kind != TY_ANY) {
        char *got = type_to_string(a[1]);
        *msg = xasprintf("md_sections expects an int for 'level', got %s", got);
        free(got);
        return NULL;
    }
    return list_of(section_type);
}

static Type *ty_md_code_blocks(Type **a, int n, char **msg)
{
    static const char *const names[] = { "md", "language" };
    return strings_only("md_code_blocks", names, a, n, msg) ? list_of(code_type) : NULL;
}

/* A list value of the n structs made by fill(i, fields). */
static Value struct_list(Type *t, size_t n, void (*fill)(void *arg, size_t i, Value *fields), void *arg)
{
    Value l = v_list_new((uint32_t)n);
    for (size_t i = 0; i < n; i++) {
        Value v = v_struct_new(t);
        fill(arg, i, v.u.st->fields);
        l.u.l->items[i] = v;
    }
    return l;
}

static Value str_or_null(const char *s) { return s ? v_cstring(s) : v_null(); }

typedef struct Picked { MdDoc doc; size_t *idx; size_t n; const char *s; size_t len; int preamble; } Picked;

/* The blocks of doc for which keep() says yes, in order. */
static void pick(Picked *p, int (*keep)(const MdBlock *b, const Value *a, int n), const Value *a, int n)
{
    p->idx = xmalloc((p->doc.n + 1) * sizeof *p->idx);
    p->n = 0;
    for (size_t i = 0; i < p->doc.n; i++)
        if (keep(&p->doc.b[i], a, n)) p->idx[p->n++] = i;
}

static void picked_free(Picked *p)
{
    md_free(&p->doc);
    free(p->idx);
}

static int is_heading(const MdBlock *b, const Value *a, int n) { return b->level > 0; }

static void fill_heading(void *arg, size_t i, Value *f)
{
    const MdBlock *b = &((Picked *)arg)->doc.b[((Picked *)arg)->idx[i]];
    f[0] = v_int(b->level);
    f[1] = v_cstring(b->text);
}

/* The list of structs of type t, one per block of md (a[0]) that keep() takes, made by fill(). */
static Value md_blocks(const Value *a, int n, int (*keep)(const MdBlock *b, const Value *a, int n), Type *t,
                       void (*fill)(void *arg, size_t i, Value *fields))
{
    if (!is_text(a[0])) return v_null();
    Picked p;
    memset(&p, 0, sizeof p);
    md_scan(v_str(a[0]), v_strlen(a[0]), &p.doc);
    pick(&p, keep, a, n);
    Value r = struct_list(t, p.n, fill, &p);
    picked_free(&p);
    return r;
}

static Value f_md_headings(const Value *a, int n, FuncCtx *c) { return md_blocks(a, n, is_heading, heading_type, fill_heading); }

static int is_code(const MdBlock *b, const Value *a, int n)
{
    if (b->level) return 0;
    if (n < 2 || a[1].kind == V_NULL) return 1;
    return b->lang && is_text(a[1]) && strcasecmp(b->lang, v_str(a[1])) == 0;
}

static void fill_code(void *arg, size_t i, Value *f)
{
    const MdBlock *b = &((Picked *)arg)->doc.b[((Picked *)arg)->idx[i]];
    f[0] = str_or_null(b->lang);
    f[1] = v_cstring(b->text);
}

static Value f_md_code_blocks(const Value *a, int n, FuncCtx *c) { return md_blocks(a, n, is_code, code_type, fill_code); }

/* Sections start at headings of level <= the level asked for (every heading when none is). */
static int starts_section(const MdBlock *b, const Value *a, int n)
{
    return b->level > 0 && (n < 2 || a[1].kind != V_INT || b->level <= a[1].u.i);
}

/* Section i of p. When p->preamble, the text before the first heading is section 0, with a null
 * heading and level 0; section i > 0 then belongs to heading i - 1. */
static void fill_section(void *arg, size_t i, Value *f)
{
    const Picked *p = arg;
    size_t h = i - (size_t)p->preamble, from = 0;   /* h: this section's heading among p->idx */
    if (i < (size_t)p->preamble) {
        f[0] = v_null();
        f[1] = v_int(0);
    } else {
        const MdBlock *b = &p->doc.b[p->idx[h]];
        f[0] = v_cstring(b->text);
        f[1] = v_int(b->level);
        from = b->end;
    }
    size_t to = h + 1 < p->n ? p->doc.b[p->idx[h + 1]].start : p->len;
    while (from < to) {                    /* drop leading blank lines */
        Line l = line_at(p->s, to, from);
        if (!blank(l)) break;
        from = l.next;
    }
    while (to > from && (p->s[to - 1] == '\n' || p->s[to - 1] == '\r' || p->s[to - 1] == ' ' || p->s[to - 1] == '\t')) to--;
    f[2] = v_string(p->s + from, to - from);
}

static Value f_md_sections(const Value *a, int n, FuncCtx *c)
{
    if (!is_text(a[0])) return v_null();
    if (n > 1 && a[1].kind == V_INT && (a[1].u.i < 1 || a[1].u.i > 6))
        return func_error(c, "md_sections: level must be between 1 and 6, got %lld", (long long)a[1].u.i);
    Picked p;
    memset(&p, 0, sizeof p);
    p.s = v_str(a[0]);
    p.len = v_strlen(a[0]);
    md_scan(p.s, p.len, &p.doc);
    pick(&p, starts_section, a, n);
    size_t first = p.n ? p.doc.b[p.idx[0]].start : p.len, k = 0;
    while (k < first && (p.s[k] == ' ' || p.s[k] == '\t' || p.s[k] == '\n' || p.s[k] == '\r')) k++;
    p.preamble = k < first;
    Value r = struct_list(section_type, p.n + (size_t)p.preamble, fill_section, &p);
    picked_free(&p);
    return r;
}

/* -------------------------------------------------------------------------- registry --- */

#define NN FUNC_NULL_IN_NULL_OUT
#define F(name, np, min, flags, doc, ...) { #name, np, { __VA_ARGS__ }, min, flags, ty_##name, f_##name, doc, NULL }

const FuncDef func_text_defs[] = {
    F(token_count, 2, 1, NN, "token_count(text [, encoding: \"o200k_base\" | \"cl100k_base\"]) -> int: exact tokens of OpenAI's tokenizer", "text", "encoding"),
    F(md_headings, 1, 1, NN, "md_headings(md) -> [{level, text}]: the markdown headings (ATX and setext), outside code blocks", "md"),
    F(md_sections, 2, 1, NN, "md_sections(md [, level]) -> [{heading, level, content}]: md split at headings (of level <= level)", "md", "level"),
    F(md_code_blocks, 2, 1, NN, "md_code_blocks(md [, language]) -> [{language, code}]: the fenced code blocks (of that language)", "md", "language"),
    { 0 }
};
