/* lexer.h: the FQL scanner (grammar/lexer.re), shared by the parser and the REPL.
 *
 * The scanner returns Lemon's token codes (TK_* in the generated parser.h) directly. A Token holds
 * no heap memory: only the byte offset and length of its text in src->text, plus the value of a
 * number. The parser decodes strings and names from the source text when it builds a node.
 *
 * The source text must be NUL-terminated at src->text[src->len] (as Buf and xstrndup leave it);
 * the scanner uses that byte as its end sentinel. Embedded NUL bytes before len are stray
 * characters (an error), not the end.
 */
#ifndef FQL_LEXER_H
#define FQL_LEXER_H

#include <stddef.h>
#include <stdint.h>
#include "util.h"

typedef struct Token {
    int pos;        /* byte offset of the token's first byte */
    int len;        /* length in bytes (0 for end of input) */
    int kw;         /* 1 if the text is a keyword (even when the parser uses it as a name) */
    int64_t ival;   /* INTEGER value */
    double fval;    /* FLOAT value */
} Token;

typedef struct Lexer {
    const Src *src;
    int pos;        /* where the next token starts scanning */
} Lexer;

void lex_init(Lexer *lx, const Src *src);

/* Scan the next token into *tok. Returns its TK_* code, 0 at the end of input, or -1 on a lexical
 * error (err, if non-NULL, is filled: FQL_ERR_PARSE, or FQL_ERR_INCOMPLETE for an unterminated raw
 * string or block comment, which more input could finish). On error tok->pos/len cover the bad
 * text and the lexer has moved past it, so a highlighter can keep scanning. */
int lex_next(Lexer *lx, Token *tok, fql_error *err);

/* The decoded value of a STRING token (escapes applied; raw strings verbatim). Returns a new
 * NUL-terminated string (caller frees); *len (if non-NULL) receives its byte length, which may
 * count embedded NULs from \0 or \u{0}. The token must have come from lex_next without error. */
char *lex_string_value(const Src *src, const Token *tok, size_t *len);

/* The name an ID token stands for: its text, or for `quoted name` the text between the backquotes.
 * Returns a new string (caller frees). */
char *lex_name_value(const Src *src, const Token *tok);

/* The TK_* code of keyword s[0..n) (case-insensitive), or 0 if it is not a keyword. */
int lex_keyword(const char *s, size_t n);

/* The i-th keyword in lower case (0-based, alphabetical), or NULL past the last: for completion. */
const char *lex_keyword_name(size_t i);

/* How a token code reads in messages: "'select'", "')'", "a name", "a string", "end of input". */
const char *lex_token_desc(int code);

#endif
