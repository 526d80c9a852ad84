/* catalog.h: what a session has declared: models, types, fns, lets, UDFs, the source texts it has
 * parsed and the import chain. The binder reads and fills it; models.c, udf.c and system.c look
 * names up in it. It holds no runtime state (that is rt.h's Runtime).
 *
 * Ownership: the Catalog owns every entry and every Src (nodes and plans point into the sources, so
 * they live as long as the session); catalog_free frees them all. find functions return borrowed
 * entries, or NULL.
 */
#ifndef FQL_CATALOG_H
#define FQL_CATALOG_H

#include "plan.h"

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
/* A fn: a scalar function (body an expression, inlined at its call sites) or a pipeline with
 * parameters (pipeline 1: body an N_PIPELINE, used as a source `from name(args)`).
 * defaults[i]: the expression a call that omits parameter i gets, or NULL (required).
 * ptypes[i]: parameter i's declared type (`p: string`), or NULL (untyped: any value).
 * doc: the `--` comment lines right above the fn (comment markers and one space stripped, lines
 * joined with '\n'), or NULL. src/pos: where it was declared. */
typedef struct FnDef {
    char *name; int nparams; char **params; Node **defaults; Node *body;
    Type **ptypes;
    int pipeline;
    char *doc;
    const Src *src; int pos;
    struct FnDef *next;
} FnDef;
typedef struct TypeDef { char *name; Type *type; struct TypeDef *next; } TypeDef;
typedef struct UdfDef { char *name; fql_udf_spec spec; struct UdfDef *next; } UdfDef;

#define CATALOG_MAX_IMPORTS 64

typedef struct Catalog {
    Src *srcs;
    ModelDecl *models;
    char *default_model, *default_embedding;     /* aliases set by `default model`, or NULL */
    LetDef *lets;
    FnDef *fns;
    TypeDef *types;
    UdfDef *udfs;
    char *imports[CATALOG_MAX_IMPORTS]; int nimports;   /* resolved paths of the import chain (cycle check) */
    char *stdlib_dir;                                   /* where `import std.NAME` looks (not owned) */
    /* saved tables (`save ... as table NAME`, kept in the state database), through hooks the session
     * installs (the binder reads no data itself): the columns of table name (a new Schema, or NULL
     * when there is no such table), and the names of all (NULL-terminated; caller frees each and the
     * array). NULL hooks: no saved tables. */
    Schema *(*saved_schema)(void *ud, const char *name);
    char **(*saved_names)(void *ud);
    void *saved_ud;
} Catalog;

/* Free every entry and source (the struct itself is the caller's). */
void       catalog_free(Catalog *c);
/* A new source text kept for the session's lifetime (copied). */
Src       *catalog_add_src(Catalog *c, const char *name, const char *path, const char *text, size_t len);
LetDef    *catalog_find_let(const Catalog *c, const char *name);
FnDef     *catalog_find_fn(const Catalog *c, const char *name);
TypeDef   *catalog_find_type(const Catalog *c, const char *name);
ModelDecl *catalog_find_model(const Catalog *c, const char *alias);
UdfDef    *catalog_find_udf(const Catalog *c, const char *name);
/* The alias `default model` (embedding: `default embedding model`) names, else the only model of
 * that kind, else NULL (none, or several and no default). */
const char *catalog_default_model(const Catalog *c, int embedding);
/* f's signature as text: "name(p: string, n: int = 5)" (defaults as written). Caller frees. */
char      *catalog_fn_signature(const FnDef *f);
/* Free what f holds (not f itself, nor its name and next). */
void       catalog_fn_clear(FnDef *f);

#endif
