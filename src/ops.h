/* ops.h: the expression operators, evaluated per row by the executor, and text helpers shared with
 * the function library.
 *
 * Ownership: an exception to value.h's rule, marked here once for all: the op_* functions that
 * take Values CONSUME them (op_cmp only borrows) and return a new value. Errors (integer overflow, a string that is not a date) return null and set *err
 * (xasprintf'd, caller frees) when err is non-NULL.
 *
 * Semantics (documented for users in docs/):
 * - Null in, null out: any null operand gives null (and/or follow three-valued logic instead).
 * - int (+ - * %) int -> int; overflow is the error "integer overflow". int / int -> float
 *   (as DuckDB's `/`): 7 / 2 = 3.5. Mixed int and float -> float.
 * - Division or modulo by zero (int or float) gives null, as in SQLite.
 * - % truncates toward zero like C and SQL: -7 % 3 = -1; float % uses fmod.
 * - date + int and date - int add days; date - date is the int number of days between them.
 * - || concatenates strings (other scalars by their text), and lists with lists.
 * - Comparisons: ints and floats compare numerically; a date or timestamp against a string parses
 *   the string (an unparsable string is an error); a date against a timestamp compares as
 *   timestamps; otherwise both sides must have the same kind (enums are strings at run time).
 * - like/ilike: % matches any run of characters, _ exactly one (UTF-8) character; there is no
 *   escape character. ilike folds case with text_case (ASCII and the common European scripts).
 */
#ifndef FQL_OPS_H
#define FQL_OPS_H

#include "value.h"

/* op is OP_ADD, OP_SUB, OP_MUL, OP_DIV or OP_MOD (from ast.h). */
Value op_arith(int op, Value a, Value b, char **err);
Value op_neg(Value a, char **err);
Value op_concat(Value a, Value b);
/* op is OP_EQ, OP_NE, OP_LT, OP_LE, OP_GT or OP_GE: returns a bool, or null if either is null. */
Value op_compare(int op, Value a, Value b, char **err);
/* The comparison without nulls or errors: <0, 0, >0, or 2 when the values are not comparable
 * (different kinds, an unparsable date string). Borrowed arguments. Used by op_compare, `in`,
 * `between` and list_contains. */
int   op_cmp(Value a, Value b);   /* borrows a and b */
/* Three-valued logic: false and null = false, true or null = true, not null = null. */
Value op_and(Value a, Value b);
Value op_or(Value a, Value b);
Value op_not(Value a);
/* s like pattern (bool, null if either is null). */
Value op_like(Value s, Value pattern, int case_insensitive);
int   op_like_match(const char *s, size_t n, const char *p, size_t pn, int case_insensitive);

/* ---- text helpers (UTF-8) ---- */

/* Decode the code point at s[*i] (of n bytes) and advance *i; an invalid byte decodes as itself
 * (0x80..0xFF) and advances by one, so every byte of the input is covered exactly once. */
uint32_t text_next(const char *s, size_t n, size_t *i);
uint32_t text_lower_cp(uint32_t c);
uint32_t text_upper_cp(uint32_t c);
/* Append s converted to upper (upper != 0) or lower case. Simple one-to-one mappings for ASCII,
 * Latin-1, Latin Extended-A/Additional, Greek, Cyrillic, Armenian and fullwidth Latin. */
void  text_case(Buf *b, const char *s, size_t n, int upper);
/* A rough token count, ceil(bytes / 4), for models whose tokenizer FQL does not have (the exact
 * one for OpenAI's models is tokenizer.h's; lm_token_estimate picks). */
int64_t text_token_estimate(const char *s, size_t n);

#endif
