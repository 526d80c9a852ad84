/* shell.h: what the interactive shell (repl.c) needs from the library beyond include/fql.h, and
 * nothing else: whether typed text is a whole statement, completion candidates, the dot commands
 * that print declarations (.tables, .schema, .models), and the two output settings the shell shows
 * and changes (.mode, .maxrows, .output). Implemented in shell.c, part of libfql but not exported
 * (no FQL_API): the program fql links the static library.
 *
 * Only plain data crosses this header: strings, numbers, a FILE *, and names handed one at a
 * time to a callback. No struct of the library is visible here, so the shell never reads or frees
 * the session's own lists.
 */
#ifndef FQL_SHELL_H
#define FQL_SHELL_H

#include <stdio.h>
#include <stddef.h>
#include "fql.h"

/* ---- statements ---- */

typedef enum { SHELL_STMT_EMPTY, SHELL_STMT_MORE, SHELL_STMT_READY } ShellStmtState;

/* Is text[0..len) (NUL-terminated at len) a statement to run? READY when it parses and ends with
 * ';', or when it has an error no more input can fix (fql_exec then reports it); MORE while the
 * parser or the scanner (inside a raw string or block comment) says the input is incomplete or
 * no ';' ends it; EMPTY for blank lines and comments only. */
ShellStmtState shell_stmt_state(const char *text, size_t len);

/* ---- names ---- */

/* Receives one name (borrowed for the call) and the suffix completion puts after it ("", "(", ":"
 * or "."); ud is the caller's. */
typedef void (*ShellNameFn)(void *ud, const char *name, const char *suffix);

/* What shell_names lists, or'ed: let names, declared types, system table names ("system.models"). */
enum { SHELL_LETS = 1, SHELL_TYPES = 2, SHELL_SYSTEM = 4 };
/* Call fn for each name of the kinds asked for, in that order (lets and types newest first). */
void shell_names(fql_session *s, unsigned kinds, ShellNameFn fn, void *ud);

/* The name of names[0..n) closest to word (a likely typo), or NULL (borrowed from names). */
const char *shell_closest_name(const char *word, const char *const *names, size_t n);

/* ---- completion ---- */

/* Completion state of one shell: the session, and the schemas of the pipelines bound lately (Tab
 * pressed again on one stage does not read its files again). */
typedef struct ShellCompleter ShellCompleter;
ShellCompleter *shell_completer_new(fql_session *s);
void            shell_completer_free(ShellCompleter *c);     /* NULL-safe */

/* Call fn with every candidate for a word of a statement that starts at byte len of text (the
 * statement typed so far, text[0..len)): the keywords the parser accepts there and, where a name
 * may come, what fits: sources after `from`, model aliases after `model`, types where a type goes,
 * otherwise the columns of the pipeline typed so far (bound without running) and functions.
 * Nothing inside a comment. Candidates may repeat. */
void shell_complete(ShellCompleter *c, const char *text, size_t len, ShellNameFn fn, void *ud);

/* ---- settings and output ---- */

/* Write the current value of setting name ("format": its name, e.g. "table"; "max_rows": the
 * number) into buf (size n). 0 ok, -1 for another name. */
int  shell_get_option(fql_session *s, const char *name, char *buf, size_t n);
/* Set "format" (a format's name), "max_rows" (a non-negative integer, 0 = all rows) or "partition" ("I/N") from text.
 * 0 ok; -1 when the name or the value is not one of those (the shell says why in its words). */
int  shell_set_option(fql_session *s, const char *name, const char *text);
/* The same (also shared and shared_fallback: the --shared, --shared-fallback flags), with the
 * reason of a refusal in *msg (xasprintf'd; NULL on success). */
int  shell_set_option_msg(fql_session *s, const char *name, const char *text, char **msg);
/* Where statement results (and the dot commands' tables) are printed; NULL: nowhere yet. */
FILE *shell_output(fql_session *s);
void  shell_set_output(fql_session *s, FILE *out);

/* ---- record, replay, report (issue 19) ---- */

/* --record FILE (mode "record"), --replay FILE ("replay"), --offline ("offline", path NULL): see
 * replay.h. 0, or -1 with *msg (free it). */
int  shell_tape(fql_session *s, const char *mode, const char *path, char **msg);
/* Write a --record file now (the session keeps running without one). 0, or -1 with *msg. */
int  shell_tape_close(fql_session *s, char **msg);
/* Write the HTML report (report.c) to path: of query query_id, or (0) of every query this session
 * ran. 0, or -1 with *msg (free it). */
int  shell_report(fql_session *s, const char *path, long long query_id, char **msg);

/* ---- dot commands that show declarations ---- */

/* .tables: let names and system tables with their columns, as a result in the current format. */
void shell_print_tables(fql_session *s);
/* .schema: with name NULL, every declared type and let as it could be written again, oldest
 * first; otherwise the let (its definition and columns), type, or system table called name.
 * 0 ok; -1 with *msg (caller frees with free) saying what name is not, and what it may have meant. */
int  shell_print_schema(fql_session *s, const char *name, char **msg);
/* .models: system.models (the declared options) with the limits in one column, and what the
 * price catalog adds (prices in USD per million tokens, the context window). Resolving a model
 * sends no request and leaves the session's runtime models as they were. */
void shell_print_models(fql_session *s);

/* ---- what the command line asks of the library (main.c) ---- */

/* --ast: parse text (named name in errors) and write its syntax tree to f. 0, or -1 with err. */
int   shell_print_ast(FILE *f, const char *name, const char *text, size_t len, fql_error *err);
/* --schema-of: the JSON Schema of the type declared as type_name, indented (caller frees with
 * free), or NULL when the session declares no such type. */
char *shell_type_schema(fql_session *s, const char *type_name);

#endif
