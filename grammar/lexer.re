/* lexer.re: the FQL scanner (re2c). Returns Lemon's token codes (parser.h) directly.
 *
 * Tokens: identifiers (case-sensitive) and `backquoted names`, keywords (case-insensitive),
 * numbers (42 3.14 1e-3 .5 1_000_000), strings ('...' "..." with escapes, """raw"""), operators.
 * Inside '...', a doubled quote '' also stands for one quote, as in SQL ('it''s').
 * Comments: -- to end of line, and block comments. Positions are byte offsets into src->text;
 * line and column are computed only when an error is reported (err_at).
 */
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <math.h>
#include <ctype.h>
#include <strings.h>
#include "lexer.h"
#include "parser.h"

typedef struct Keyword { const char *name, *desc; int code; } Keyword;

/* Every keyword. Most of them can still serve as names (columns, functions, options) where a name
 * is expected: the grammar's %fallback turns them into ID there. */
static const Keyword keywords[] = {
    {"agg", "'agg'", TK_AGG}, {"all", "'all'", TK_ALL}, {"analyze", "'analyze'", TK_ANALYZE},
    {"and", "'and'", TK_AND}, {"as", "'as'", TK_AS}, {"asc", "'asc'", TK_ASC},
    {"between", "'between'", TK_BETWEEN}, {"by", "'by'", TK_BY}, {"cache", "'cache'", TK_CACHE},
    {"case", "'case'", TK_CASE}, {"cast", "'cast'", TK_CAST},
    {"centroid", "'centroid'", TK_CENTROID}, {"cluster", "'cluster'", TK_CLUSTER},
    {"cost", "'cost'", TK_COST}, {"cross", "'cross'", TK_CROSS},
    {"default", "'default'", TK_DEFAULT}, {"derive", "'derive'", TK_DERIVE},
    {"desc", "'desc'", TK_DESC}, {"distinct", "'distinct'", TK_DISTINCT},
    {"drop", "'drop'", TK_DROP}, {"else", "'else'", TK_ELSE},
    {"embedding", "'embedding'", TK_EMBEDDING}, {"end", "'end'", TK_END},
    {"except", "'except'", TK_EXCEPT}, {"explain", "'explain'", TK_EXPLAIN},
    {"explode", "'explode'", TK_EXPLODE}, {"false", "'false'", TK_FALSE},
    {"first", "'first'", TK_FIRST}, {"fn", "'fn'", TK_FN}, {"from", "'from'", TK_FROM},
    {"full", "'full'", TK_FULL}, {"group", "'group'", TK_GROUP}, {"ilike", "'ilike'", TK_ILIKE},
    {"import", "'import'", TK_IMPORT}, {"in", "'in'", TK_IN}, {"index", "'index'", TK_INDEX},
    {"inner", "'inner'", TK_INNER}, {"into", "'into'", TK_INTO}, {"is", "'is'", TK_IS},
    {"join", "'join'", TK_JOIN}, {"last", "'last'", TK_LAST}, {"left", "'left'", TK_LEFT},
    {"let", "'let'", TK_LET}, {"like", "'like'", TK_LIKE}, {"limit", "'limit'", TK_LIMIT},
    {"metric", "'metric'", TK_METRIC}, {"model", "'model'", TK_MODEL}, {"not", "'not'", TK_NOT},
    {"null", "'null'", TK_NULL}, {"nulls", "'nulls'", TK_NULLS}, {"offset", "'offset'", TK_OFFSET},
    {"on", "'on'", TK_ON}, {"or", "'or'", TK_OR}, {"order", "'order'", TK_ORDER},
    {"outer", "'outer'", TK_OUTER}, {"rename", "'rename'", TK_RENAME}, {"resolve", "'resolve'", TK_RESOLVE},
    {"right", "'right'", TK_RIGHT}, {"save", "'save'", TK_SAVE}, {"select", "'select'", TK_SELECT},
    {"semantic", "'semantic'", TK_SEMANTIC}, {"set", "'set'", TK_SET}, {"sim", "'sim'", TK_SIM},
    {"then", "'then'", TK_THEN}, {"top", "'top'", TK_TOP}, {"true", "'true'", TK_TRUE},
    {"type", "'type'", TK_TYPE}, {"union", "'union'", TK_UNION}, {"unnest", "'unnest'", TK_UNNEST},
    {"using", "'using'", TK_USING}, {"values", "'values'", TK_VALUES}, {"when", "'when'", TK_WHEN},
    {"where", "'where'", TK_WHERE}, {"with", "'with'", TK_WITH}, {"write", "'write'", TK_WRITE},
};

int lex_keyword(const char *s, size_t n)
{
    char low[16];
    if (n == 0 || n >= sizeof low) return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        low[i] = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
    }
    low[n] = 0;
    size_t lo = 0, hi = sizeof keywords / sizeof keywords[0];
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = strcmp(low, keywords[mid].name);
        if (c == 0) return keywords[mid].code;
        if (c < 0) hi = mid; else lo = mid + 1;
    }
    return 0;
}

const char *lex_keyword_name(size_t i)
{
    return i < sizeof keywords / sizeof keywords[0] ? keywords[i].name : NULL;
}

const char *lex_token_desc(int code)
{
    static const struct { int code; const char *desc; } punct[] = {
        {0, "end of input"}, {TK_ID, "a name"}, {TK_INTEGER, "an integer"},
        {TK_FLOAT, "a number"}, {TK_STRING, "a string"},
        {TK_EQ, "'=='"}, {TK_NE, "'!='"}, {TK_LT, "'<'"}, {TK_LE, "'<='"}, {TK_GT, "'>'"},
        {TK_GE, "'>='"}, {TK_EQ_SINGLE, "'='"}, {TK_CONCAT, "'||'"}, {TK_PLUS, "'+'"},
        {TK_MINUS, "'-'"}, {TK_STAR, "'*'"}, {TK_SLASH, "'/'"}, {TK_PERCENT, "'%'"},
        {TK_DOT, "'.'"}, {TK_COMMA, "','"}, {TK_SEMI, "';'"}, {TK_COLON, "':'"},
        {TK_LPAREN, "'('"}, {TK_RPAREN, "')'"}, {TK_LBRACKET, "'['"}, {TK_RBRACKET, "']'"},
        {TK_LBRACE, "'{'"}, {TK_RBRACE, "'}'"}, {TK_PIPE, "'|'"}, {TK_TILDE, "'~'"},
        {TK_QUESTION, "'?'"}, {TK_ASTABLE, "'as table'"},
    };
    for (size_t i = 0; i < sizeof punct / sizeof punct[0]; i++)
        if (punct[i].code == code) return punct[i].desc;
    for (size_t i = 0; i < sizeof keywords / sizeof keywords[0]; i++)
        if (keywords[i].code == code) return keywords[i].desc;
    return "a token";
}

void lex_init(Lexer *lx, const Src *src)
{
    lx->src = src;
    lx->pos = 0;
}

static int lex_error(fql_error *err, int code, const Src *src, int pos, const char *msg, const char *arg)
{
    if (err) err_at(err, code, src, pos, msg, arg);
    return -1;
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Parse the body of a \u{...} escape starting at s[i] (just past "\u"). Returns the index past
 * the closing brace and the code point in *cp, or -1 if it is malformed. */
static long unicode_escape(const char *s, long i, long n, uint32_t *cp)
{
    uint32_t v = 0;
    int digits = 0;
    if (i >= n || s[i] != '{') return -1;
    for (i++; i < n && s[i] != '}'; i++) {
        int h = hexval((unsigned char)s[i]);
        if (h < 0 || ++digits > 6) return -1;
        v = v * 16 + (uint32_t)h;
    }
    if (i >= n || digits == 0 || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) return -1;
    *cp = v;
    return i + 1;
}

/* Scan a '...' or "..." string whose quote is at offset start. Returns the offset past the closing
 * quote, or -1 with err filled (unterminated: at the opening quote; bad escape: at the backslash). */
static int scan_quoted(const Src *src, int start, fql_error *err)
{
    const char *s = src->text;
    long n = (long)src->len, i = start + 1;
    char q = s[start];
    while (i < n) {
        char c = s[i];
        if (c == q && q == '\'' && i + 1 < n && s[i + 1] == '\'') { i += 2; continue; }  /* SQL's '' */
        if (c == q) return (int)(i + 1);
        if (c == '\n') break;
        if (c != '\\') { i++; continue; }
        if (i + 1 >= n) break;
        switch (s[i + 1]) {
        case 'n': case 't': case 'r': case '\\': case '\'': case '"': case '0':
            i += 2;
            break;
        case 'u': {
            uint32_t cp;
            long j = unicode_escape(s, i + 2, n, &cp);
            if (j < 0)
                return lex_error(err, FQL_ERR_PARSE, src, (int)i,
                                 "invalid unicode escape%s; write \\u{XXXX} with 1 to 6 hex digits (at most 10FFFF)", "");
            i = j;
            break;
        }
        default: {
            char esc[8];
            unsigned char e = (unsigned char)s[i + 1];
            if (e >= 0x20 && e < 0x7f) snprintf(esc, sizeof esc, "\\%c", e);
            else snprintf(esc, sizeof esc, "\\x%02X", e);
            return lex_error(err, FQL_ERR_PARSE, src, (int)i,
                             "invalid escape '%s' in a string (known: \\n \\t \\r \\\\ \\' \\\" \\0 \\u{XXXX})", esc);
        }
        }
    }
    return lex_error(err, FQL_ERR_PARSE, src, start,
                     "unterminated string%s (a '...' or \"...\" string ends on its line; use \"\"\"...\"\"\" for text over several lines)", "");
}

char *lex_string_value(const Src *src, const Token *tok, size_t *lenp)
{
    const char *s = src->text + tok->pos;
    long n = tok->len;
    Buf b;
    buf_init(&b);
    if (n >= 6 && s[0] == '"' && s[1] == '"' && s[2] == '"') {
        buf_append(&b, s + 3, (size_t)(n - 6));
    } else {
        for (long i = 1; i < n - 1; ) {
            if (s[0] == '\'' && s[i] == '\'') {   /* '' inside '...' */
                buf_putc(&b, '\'');
                i += 2;
                continue;
            }
            if (s[i] != '\\') {
                long j = i;
                while (j < n - 1 && s[j] != '\\' && !(s[0] == '\'' && s[j] == '\'')) j++;
                buf_append(&b, s + i, (size_t)(j - i));
                i = j;
                continue;
            }
            char c = s[i + 1];
            i += 2;
            switch (c) {
            case 'n': buf_putc(&b, '\n'); break;
            case 't': buf_putc(&b, '\t'); break;
            case 'r': buf_putc(&b, '\r'); break;
            case '0': buf_putc(&b, '\0'); break;
            case 'u': {
                uint32_t cp = 0;
                char out[4];
                long j = unicode_escape(s, i, n - 1, &cp);
                if (j < 0) j = n - 1;   /* validated by the scanner; never happens */
                buf_append(&b, out, (size_t)utf8_encode(cp, out));
                i = j;
                break;
            }
            default: buf_putc(&b, c); break;   /* \\ \' \" */
            }
        }
    }
    if (lenp) *lenp = b.len;
    if (!b.data) return xstrdup("");
    return buf_take(&b);
}

char *lex_name_value(const Src *src, const Token *tok)
{
    const char *s = src->text + tok->pos;
    if (tok->len >= 2 && s[0] == '`') return xstrndup(s + 1, (size_t)tok->len - 2);
    return xstrndup(s, (size_t)tok->len);
}

/* The value of an integer literal (underscores skipped), or -1 if it exceeds int64. */
static int int_value(const unsigned char *s, const unsigned char *e, int64_t *out)
{
    uint64_t v = 0;
    for (; s < e; s++) {
        if (*s == '_') continue;
        unsigned d = (unsigned)(*s - '0');
        if (v > (UINT64_C(9223372036854775807) - d) / 10) return -1;
        v = v * 10 + d;
    }
    *out = (int64_t)v;
    return 0;
}

static double float_value(const unsigned char *s, const unsigned char *e)
{
    char tmp[128];
    size_t n = 0;
    char *heap = NULL, *p = tmp;
    if ((size_t)(e - s) >= sizeof tmp) p = heap = xmalloc((size_t)(e - s) + 1);
    for (; s < e; s++)
        if (*s != '_') p[n++] = (char)*s;
    p[n] = 0;
    double d = strtod(p, NULL);
    free(heap);
    return d;
}

/* Bytes in the UTF-8 sequence starting with lead byte c (the source was validated). */
static int utf8_seqlen(unsigned char c)
{
    if (c < 0x80) return 1;
    if ((c & 0xE0) == 0xC0) return 2;
    if ((c & 0xF0) == 0xE0) return 3;
    if ((c & 0xF8) == 0xF0) return 4;
    return 1;
}

int lex_next(Lexer *lx, Token *tok, fql_error *err)
{
    const Src *src = lx->src;
    const unsigned char *base = (const unsigned char *)src->text;
    const unsigned char *YYLIMIT = base + src->len;
    const unsigned char *YYCURSOR, *YYMARKER, *start;

#define DONE(code) do { lx->pos = (int)(YYCURSOR - base); tok->len = lx->pos - tok->pos; return (code); } while (0)
    for (;;) {
        start = YYCURSOR = base + lx->pos;
        YYMARKER = YYCURSOR;
        memset(tok, 0, sizeof *tok);
        tok->pos = lx->pos;
    /*!re2c
        re2c:define:YYCTYPE = "unsigned char";
        re2c:yyfill:enable = 0;
        re2c:eof = 0;

        digit  = [0-9];
        digits = digit ("_"? digit)*;
        exp    = [eE] [+-]? digits;
        ident  = [A-Za-z_][A-Za-z0-9_]*;
        number = digits ("." digits)? exp? | "." digits exp?;

        $ { tok->len = 0; return 0; }

        [ \t\r\n\f\v]+ { lx->pos = (int)(YYCURSOR - base); continue; }
        "--" [^\n]*    { lx->pos = (int)(YYCURSOR - base); continue; }

        "/*" {
            const char *end = NULL;
            const char *p = (const char *)YYCURSOR, *lim = (const char *)YYLIMIT;
            for (; p + 1 < lim; p++)
                if (p[0] == '*' && p[1] == '/') { end = p + 2; break; }
            if (!end) {
                lx->pos = (int)src->len;
                tok->len = lx->pos - tok->pos;
                return lex_error(err, FQL_ERR_INCOMPLETE, src, tok->pos, "unterminated block comment%s", "");
            }
            lx->pos = (int)(end - src->text);
            continue;
        }

        ident {
            tok->kw = 0;
            int code = lex_keyword((const char *)start, (size_t)(YYCURSOR - start));
            if (code == TK_AS) {
                /* `as table` (save ... as table NAME) is one token, so that it never reads as a
                 * column or source alias named table */
                const unsigned char *q = YYCURSOR;
                while (q < YYLIMIT && (*q == ' ' || *q == '\t' || *q == '\r' || *q == '\n')) q++;
                if (q > YYCURSOR && YYLIMIT - q >= 5 && strncasecmp((const char *)q, "table", 5) == 0 &&
                    (q + 5 == YYLIMIT || !(isalnum(q[5]) || q[5] == '_'))) {
                    YYCURSOR = q + 5;
                    tok->kw = 1;
                    DONE(TK_ASTABLE);
                }
            }
            if (code) { tok->kw = 1; DONE(code); }
            DONE(TK_ID);
        }

        "`" {
            const unsigned char *p = YYCURSOR;
            while (p < YYLIMIT && *p != '`' && *p != '\n') p++;
            if (p >= YYLIMIT || *p != '`') {
                lx->pos = (int)(p - base);
                tok->len = lx->pos - tok->pos;
                return lex_error(err, FQL_ERR_PARSE, src, tok->pos, "unterminated quoted name%s (a `name` ends on its line)", "");
            }
            YYCURSOR = p + 1;
            if (p == start + 1) {
                lx->pos = (int)(YYCURSOR - base);
                tok->len = 2;
                return lex_error(err, FQL_ERR_PARSE, src, tok->pos, "empty quoted name%s", "");
            }
            DONE(TK_ID);
        }

        digits {
            if (int_value(start, YYCURSOR, &tok->ival) < 0) {
                lx->pos = (int)(YYCURSOR - base);
                tok->len = lx->pos - tok->pos;
                return lex_error(err, FQL_ERR_PARSE, src, tok->pos, "integer literal too large%s (the largest is 9223372036854775807)", "");
            }
            DONE(TK_INTEGER);
        }

        digits "." digits exp? | "." digits exp? | digits exp {
            tok->fval = float_value(start, YYCURSOR);
            DONE(TK_FLOAT);
        }

        number [A-Za-z_0-9]* [A-Za-z_] [A-Za-z_0-9]* {
            lx->pos = (int)(YYCURSOR - base);
            tok->len = lx->pos - tok->pos;
            char text[40];
            snprintf(text, sizeof text, "%.*s", tok->len > 32 ? 32 : tok->len, (const char *)start);
            return lex_error(err, FQL_ERR_PARSE, src, tok->pos, "invalid number '%s'", text);
        }

        "\"\"\"" {
            const char *end = NULL;
            const char *p = (const char *)YYCURSOR, *lim = (const char *)YYLIMIT;
            for (; p + 2 < lim; p++)
                if (p[0] == '"' && p[1] == '"' && p[2] == '"') { end = p + 3; break; }
            if (!end) {
                lx->pos = (int)src->len;
                tok->len = lx->pos - tok->pos;
                return lex_error(err, FQL_ERR_INCOMPLETE, src, tok->pos, "unterminated raw string%s (it starts here and needs a closing \"\"\")", "");
            }
            lx->pos = (int)(end - src->text);
            tok->len = lx->pos - tok->pos;
            return TK_STRING;
        }

        ["'] {
            int end = scan_quoted(src, tok->pos, err);
            if (end < 0) {
                /* Resume after the line for highlighters. */
                const unsigned char *p = YYCURSOR;
                while (p < YYLIMIT && *p != '\n') p++;
                lx->pos = (int)(p - base);
                tok->len = lx->pos - tok->pos;
                return -1;
            }
            lx->pos = end;
            tok->len = end - tok->pos;
            return TK_STRING;
        }

        "==" { DONE(TK_EQ); }
        "!=" { DONE(TK_NE); }
        "<>" { DONE(TK_NE); }
        "<=" { DONE(TK_LE); }
        ">=" { DONE(TK_GE); }
        "<"  { DONE(TK_LT); }
        ">"  { DONE(TK_GT); }
        "="  { DONE(TK_EQ_SINGLE); }
        "||" { DONE(TK_CONCAT); }
        "+"  { DONE(TK_PLUS); }
        "-"  { DONE(TK_MINUS); }
        "*"  { DONE(TK_STAR); }
        "/"  { DONE(TK_SLASH); }
        "%"  { DONE(TK_PERCENT); }
        "."  { DONE(TK_DOT); }
        ","  { DONE(TK_COMMA); }
        ";"  { DONE(TK_SEMI); }
        ":"  { DONE(TK_COLON); }
        "("  { DONE(TK_LPAREN); }
        ")"  { DONE(TK_RPAREN); }
        "["  { DONE(TK_LBRACKET); }
        "]"  { DONE(TK_RBRACKET); }
        "{"  { DONE(TK_LBRACE); }
        "}"  { DONE(TK_RBRACE); }
        "|"  { DONE(TK_PIPE); }
        "~"  { DONE(TK_TILDE); }
        "?"  { DONE(TK_QUESTION); }

        * {
            char shown[16];
            unsigned char c = *start;
            int n = utf8_seqlen(c);
            if (start + n > YYLIMIT) n = 1;
            if (c >= 0x80 && n > 1) snprintf(shown, sizeof shown, "%.*s", n, (const char *)start);
            else if (c >= 0x20 && c < 0x7f) snprintf(shown, sizeof shown, "%c", c);
            else snprintf(shown, sizeof shown, "\\x%02X", c);
            lx->pos = (int)(start - base) + n;
            tok->len = n;
            return lex_error(err, FQL_ERR_PARSE, src, tok->pos, "unexpected character '%s'", shown);
        }
    */
    }
#undef DONE
}
