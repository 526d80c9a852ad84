/* session.h: the state of one fql_session (declarations, lets, settings) and the statement runner.
 *
 * A session owns every Src it has parsed (nodes and plans point into them), the declarations made
 * so far, and the output settings. Declarations persist across fql_exec calls (the REPL relies on
 * it). No global state: everything lives here.
 */
#ifndef FQL_SESSION_H
#define FQL_SESSION_H

#include <stdio.h>
#include <signal.h>
#include "plan.h"
#include "io.h"

typedef struct ModelDecl {
    char *alias;
    int embedding;          /* declared with `embedding model` */
    char *provider;         /* openai anthropic gemini vertex openrouter cohere */
    char *model_name;
    Node *options;          /* owned clone of the N_CALL (named options), for the runtime */
    Value opts;             /* the options evaluated to a struct value (constant expressions) */
    int key_checked;        /* its key was validated in this session */
    struct ModelDecl *next;
} ModelDecl;

/* plan: as bound; cached: a cache point over it that every use shares, materialized when the let is
 * used more than once and calls models (uses counts the references in the session). */
typedef struct LetDef { char *name; Plan *plan; Plan *cached; int uses; const Src *src; int pos; struct LetDef *next; } LetDef;
/* Results of cache points computed or read back in this session, by key. */
typedef struct StoredResult { char *key; Table *t; struct StoredResult *next; } StoredResult;
/* defaults[i]: the expression a call that omits parameter i gets, or NULL (required). */
typedef struct FnDef { char *name; int nparams; char **params; Node **defaults; Node *body; struct FnDef *next; } FnDef;
typedef struct TypeDef { char *name; Type *type; struct TypeDef *next; } TypeDef;
typedef struct UdfDef { char *name; fql_udf_spec spec; struct UdfDef *next; } UdfDef;

/* A bound statement, ready to run (pass 2). */
typedef enum { ST_RUN, ST_EXPLAIN, ST_SET, ST_NOP } StmtKind;
typedef struct Stmt {
    StmtKind kind;
    Plan *plan;             /* ST_RUN, ST_EXPLAIN */
    int explain_mode;       /* 0 explain, 1 analyze, 2 cost */
    char *set_name; Value set_value;   /* ST_SET */
    const Src *src; int pos;
    char *text;             /* the statement's source text (for query_metrics) */
} Stmt;

struct fql_session {
    fql_options opts;
    char *db_path;
    Src *srcs;
    ModelDecl *models;
    char *default_model, *default_embedding;
    LetDef *lets;
    FnDef *fns;
    TypeDef *types;
    UdfDef *udfs;
    char *imports[64]; int nimports;     /* resolved paths of the import chain (cycle check) */
    /* output settings */
    FILE *out;
    FileFormat format;
    size_t max_rows;
    int progress, cache, validate_keys;
    char *stdlib_dir;
    /* the provider runtime (created when a statement first calls a model) */
    struct RtModel *rtmodels;
    struct json_t *catalog;
    struct State *state;
    struct Scheduler *sched;
    struct SemStats *sem;          /* per-statement counters (semantic.c) */
    struct BatchQueue *batchq;     /* requests waiting for the Batch API (batch.c); empty between statements */
    int64_t query_id;
    double budget;                 /* USD per statement; 0 = none (set budget = ...) */
    StoredResult *results;
    struct DryRun *dry;            /* set while estimating (semantic.c) */
    int interrupted;               /* set by fql_interrupt (atomically: any thread); cleared by fql_exec/fql_prepare */
    struct UdfHub *hubs;           /* asynchronous functions' calls in flight (udf.c) */
    fql_metrics metrics;           /* the running statement's counters */
    struct fql_stmt *open_stmt;    /* a prepared statement not yet finished: nothing else may run */
};

static inline int session_interrupted(fql_session *s) { return __atomic_load_n(&s->interrupted, __ATOMIC_ACQUIRE); }
/* Log a line through the session's callback (or to stderr), when level is at least the session's. */
void session_log(fql_session *s, int level, const char *fmt, ...) FQL_PRINTF(3, 4);
/* Add a model's per-statement metric (semantic.c, at the statement's end) to s->metrics. */
struct QueryMetric;
void session_count_metric(fql_session *s, const struct QueryMetric *q);

Src *session_add_src(fql_session *s, const char *name, const char *path, const char *text, size_t len);
LetDef  *session_find_let(fql_session *s, const char *name);
FnDef   *session_find_fn(fql_session *s, const char *name);
TypeDef *session_find_type(fql_session *s, const char *name);
ModelDecl *session_find_model(fql_session *s, const char *alias);
UdfDef  *session_find_udf(fql_session *s, const char *name);
int      session_set_option(fql_session *s, const char *name, Value v, char **msg);
/* The state database, opened on first use; NULL with err when it cannot be opened. */
struct State *session_state(fql_session *s, fql_error *err);
/* Print t to s->out in the session's format (a boxed table as wide as the terminal when s->out is one). */
void     session_print_result(fql_session *s, const Table *t);

/* bind.c: bind a parsed program against the session. Declarations take effect in the session as
 * they are met; statements that run are appended to *stmts (caller frees with stmt_free). 0 ok. */
int  bind_program(fql_session *s, Node *prog, Stmt ***stmts, int *nstmts, fql_error *err);
void stmt_free(Stmt *st);
/* Names the binder knows, for completion in the REPL: NULL-terminated static arrays. */
const char *const *bind_semantic_names(void);
const char *const *bind_provider_names(void);
const char *const *bind_model_option_names(void);
/* Bind one type node (declared names resolved). New reference or NULL with err. */
Type *bind_type(fql_session *s, const Node *n, fql_error *err);

/* exec.c: run a plan to completion. Returns a table (NULL for a write, with *written set), or
 * NULL with err filled. */
Table *exec_plan(fql_session *s, Plan *p, fql_error *err);
/* The same, timing and counting every operator into its plan node's `analysis` (explain analyze). */
Table *exec_plan_analyze(fql_session *s, Plan *p, fql_error *err);
/* The same, a batch at a time: exec_next returns 1 with a batch (the caller's), 0 at the end, -1
 * with the err given to exec_open (which must outlive the cursor). */
typedef struct ExecCursor ExecCursor;
ExecCursor *exec_open(fql_session *s, Plan *p, fql_error *err);
int         exec_next(ExecCursor *c, Batch **out);
void        exec_close(ExecCursor *c);
/* A table for a system.* name, or NULL if unknown (then *schema_only is unused). */
Table *system_table(fql_session *s, const char *name);
/* The names system_table() knows ("system.models", ...), NULL-terminated. */
const char *const *system_table_names(void);
/* Evaluate an expression that reads no columns (values rows). On error returns null with *msg. */
Value exec_const(Expr *e, char **msg);

#endif
