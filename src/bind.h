/* bind.h: the binder: a parsed program against a session's Catalog, into statements to run.
 *
 * Declarations (models, types, fns, lets, defaults) take effect in the Catalog as they are met;
 * everything that runs (pipelines, explain, set) becomes a Stmt, in order. The binder reads no data
 * and sends nothing: a system table's columns come from system_schema.
 */
#ifndef FQL_BIND_H
#define FQL_BIND_H

#include "catalog.h"

/* A bound statement, ready to run. */
typedef enum { ST_RUN, ST_EXPLAIN, ST_SET, ST_NOP, ST_SAVE, ST_DROP_TABLE, ST_DEFER } StmtKind;
typedef struct Stmt {
    StmtKind kind;
    Plan *plan;             /* ST_RUN, ST_EXPLAIN */
    int explain_mode;       /* 0 explain, 1 analyze, 2 cost */
    char *set_name; Value set_value;   /* ST_SET */
    const Src *src; int pos;
    char *text;             /* the statement's source text (for query_metrics) */
    char *table;            /* ST_SAVE (plan: the rows to keep), ST_DROP_TABLE: the saved table's name */
    /* ST_DEFER: the rest of the program (an N_PROGRAM, owned), from a statement that reads a file or a
     * saved table an earlier statement writes: bound and run once the statements before it have run */
    Node *rest;
} Stmt;

/* Bind prog against cat: statements that run are appended to *stmts (caller frees each with
 * stmt_free, and the array). 0 ok, -1 with err. */
int  bind_program(Catalog *cat, Node *prog, Stmt ***stmts, int *nstmts, fql_error *err);
void stmt_free(Stmt *st);
/* Names the binder knows, for completion in the shell: NULL-terminated static arrays. */
const char *const *bind_semantic_names(void);
const char *const *bind_provider_names(void);
const char *const *bind_model_option_names(void);
/* Bind one type node (declared names resolved). New reference or NULL with err. */
Type *bind_type(Catalog *cat, const Node *n, fql_error *err);

#endif
