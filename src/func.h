/* func.h: the registry of built-in scalar functions and aggregates.
 *
 * Each function declares its parameters by name; a call may give positional arguments and then
 * named ones (`chunk(t, size: 500)`). The binder maps a call onto the parameter list (missing
 * optional parameters are null), checks the argument types with the function's `type` callback,
 * which returns the result type, and the executor calls `impl` once per row.
 */
#ifndef FQL_FUNC_H
#define FQL_FUNC_H

#include "value.h"

/* Per-call context. impl sets `error` (xasprintf'd; the executor frees it) to fail the statement
 * with a runtime error naming the row; for `now()` and `today()` `now_us` is the statement's start. */
/* A function may keep what it reuses from row to row (compiled state, match data, buffers) in
 * `scratch`, with `scratch_free` to release it: the evaluator makes one FuncCtx per call per batch
 * and calls func_ctx_done when the batch is finished. */
typedef struct FuncCtx {
    char *error;
    int64_t now_us;
    void *scratch;
    void (*scratch_free)(void *scratch);
} FuncCtx;
/* Release ctx's scratch (func.c). */
void func_ctx_done(FuncCtx *ctx);

/* Check argument types (args[i] is NULL for an omitted optional parameter) and return the result
 * type (new reference), or NULL with *msg set (xasprintf'd) e.g. "lower expects a string, got int". */
typedef Type *(*FuncTypeFn)(Type **args, int nargs, char **msg);
/* Compute one row. args are borrowed (null for omitted optionals); returns a new value. */
typedef Value (*FuncImpl)(const Value *args, int nargs, FuncCtx *ctx);

enum {
    FUNC_VARIADIC = 1,   /* extra positional arguments after the last parameter are allowed (concat, coalesce, least, ...) */
    FUNC_VOLATILE = 2,   /* result differs per call (now) */
    FUNC_NULL_IN_NULL_OUT = 4, /* the executor returns null without calling impl when any required arg is null */
    FUNC_ASYNC = 8             /* impl is NULL: udf.c runs the function asynchronously over the batch (http_get_json) */
};

struct UdfHub;
struct AsyncImpl;
typedef struct FuncDef {
    const char *name;
    int nparams;               /* number of declared parameters */
    const char *params[6];     /* their names (positional order) */
    int min_args;              /* required leading parameters */
    int flags;
    FuncTypeFn type;
    FuncImpl impl;
    const char *doc;           /* one line: "lower(s) -> string: lower-case s" */
    /* FUNC_ASYNC: fill *impl (start, ud, pump, default limits) for the function's hub; 0 ok, -1 with
     * *msg (xasprintf'd). udf.c's driver calls it through this pointer (udf.h). */
    int (*async_setup)(struct UdfHub *hub, struct AsyncImpl *impl, char **msg);
} FuncDef;

/* The tables of functions, each ended by an entry whose name is NULL: func_scalar.c (the core
 * scalars), func_text.c (tokenizer, markdown helpers), func_doc.c (documents), func_http.c (HTTP
 * functions). func_registry.c looks names up over all of them. */
extern const FuncDef func_scalar_defs[];
extern const FuncDef func_text_defs[];
extern const FuncDef func_doc_defs[];
extern const FuncDef func_http_defs[];
extern const FuncDef func_media_defs[];   /* media.c: image(), audio() */
/* Record a runtime error in c (the first one wins; c may be NULL) and return null (func.c). */
Value func_error(FuncCtx *c, const char *fmt, ...) FQL_PRINTF(2, 3);
/* The tokenizer encoding (TokEncoding) named by a function's `encoding` argument: o200k_base when
 * v is null, else -1 with ctx->error set. For token_count and chunk(by: "tokens"). */
int func_text_encoding(Value v, const char *fn, FuncCtx *ctx);

/* func_registry.c */
const FuncDef *func_lookup(const char *name);              /* NULL if not a built-in scalar */
/* All names (for "did you mean" and REPL completion): NULL-terminated static array. */
const char *const *func_names(void);

/* Aggregates. State is a caller-allocated block of state_size bytes, zeroed, then init'ed. */
typedef struct AggDef {
    const char *name;
    int min_args, max_args;    /* count(*) has 0 args */
    size_t state_size;
    FuncTypeFn type;
    void  (*init)(void *state);
    /* args borrowed; called for every row of the group (the executor applies `distinct`). */
    void  (*step)(void *state, const Value *args, int nargs, FuncCtx *ctx);
    Value (*final)(void *state, const Type *result_type);   /* new value; also releases what step kept */
    void  (*destroy)(void *state);                           /* free without final (on error); NULL-safe work */
    const char *doc;
    /* Optional: step for rows 0..n-1 of a batch at once, row r into the state at
     * states + gid[r] * stride, args[j] the argument columns (borrowed). The same effect as step
     * called row by row in order. -1, or the first row whose step failed (its error in ctx; the
     * rows after it are not stepped). */
    long  (*step_batch)(char *states, size_t stride, const int64_t *gid, Value *const *args, int nargs, size_t n, FuncCtx *ctx);
} AggDef;

const AggDef *agg_lookup(const char *name);
const char *const *agg_names(void);

#endif
