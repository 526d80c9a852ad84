/* repl.h: the interactive shell (repl.c), and the error printing the command line shares with it. */
#ifndef FQL_REPL_H
#define FQL_REPL_H

#include <stdio.h>
#include "fql.h"

/* Run the shell over standard input until .quit/.exit or the end of input. interactive (standard
 * input is a terminal): prompts, line editing, history, completion and Ctrl-C handling through GNU
 * readline. Otherwise lines are read plainly, with no prompt, and a statement that fails does not
 * stop the ones after it. Returns the exit status: 0, or 1 when not interactive and something
 * failed. The session stays the caller's. */
int repl_run(fql_session *s, int interactive);

/* Print e to f as "FILE:LINE:COLUMN: error: MESSAGE" (less when e has no place); a source error's
 * message already carries the quoted line and the caret. */
void repl_print_error(FILE *f, const fql_error *e);

#endif
