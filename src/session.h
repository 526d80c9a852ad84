/* session.h: what session.c offers inside the library beyond include/fql.h: the session's parts
 * for the library files that serve the programs (shell.c, testrun.c), and printing a result in the
 * session's format. struct fql_session itself is private to session.c. */
#ifndef FQL_SESSION_H
#define FQL_SESSION_H

#include "catalog.h"
#include "rt.h"
#include <stdio.h>

/* The session's declarations and runtime (borrowed; they live as long as the session). */
Catalog *session_catalog(fql_session *s);
Runtime *session_runtime(fql_session *s);
/* Where results print (fql_options.out; the shell redirects it with .output). */
FILE    *session_output(fql_session *s);
void     session_set_output(fql_session *s, FILE *out);
/* Print t to the session's output in its format (a boxed table as wide as the terminal when the
 * output is one). */
void     session_print_result(fql_session *s, const Table *t);
/* The table inside a result (borrowed). */
Table   *fql_result_table(const fql_result *r);

#endif
