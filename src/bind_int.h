/* bind_int.h: the binder's private declarations, shared by its files (bind_*.c) and included by no
 * other file; the binder's boundary is bind.h.
 *
 * The binder resolves names (columns, lets, fns, types, models), checks types, infers each stage's
 * output schema and lowers AST pipelines to logical Plans (plan.h). Its files call one way, down
 * this list (tests/layers.sh fails on a cycle between files):
 *   bind_decl.c      statements and declarations, bind_program, the name lists for completion
 *   bind_stage.c     pipelines and stages, joins, cluster, sim join, semantic join
 *   bind_source.c    sources: files, lets, system tables, values, remote paths
 *   bind_semantic.c  semantic operator calls, model alias checks, the default-embedding helper
 *   bind_expr.c      scopes, qualifiers, column lookup, expressions, types, constant expressions
 * (bind_source.c and bind_semantic.c do not call each other.) Two calls must go up the list: a
 * semantic operator met in an expression (bind_expr.c -> bind_semantic.c) and a parenthesized
 * pipeline used as a source (bind_source.c -> bind_stage.c). They go through the hooks in Binder,
 * which bind_program installs.
 */
#ifndef FQL_BIND_INT_H
#define FQL_BIND_INT_H

#include "bind.h"
#include "semop.h"

/* Scope: an expression is bound against the schema flowing into its stage. Each column also carries
 * a qualifier (the name or alias of the source it came from) so that `t.col` works after a join. */
typedef struct Scope {
    const Schema *schema;
    char **quals;            /* per column: qualifier or NULL (array of schema->n) */
    /* aggregate context (binding `agg` items): aggregate calls found are appended here */
    AggCall *aggs; int naggs, capaggs;
    int in_agg;              /* 1 while binding an agg item: aggregate calls allowed */
    int inside_agg;          /* 1 while binding an aggregate's arguments (no nesting) */
    const struct FnFrame *fns;   /* the fn calls being inlined, innermost first */
    long fn_copies;              /* fn bodies inlined so far in this scope (see FN_MAX_COPIES) */
    /* the two sides of a sim join or semantic join: `left.x` names one of the first nleft columns,
     * `right.x` one of the others (whatever the sources' own names) */
    int sides, nleft;
    /* the plan whose output the scope's columns are (NULL: unknown), to look through to the
     * expression that computed a column (a model: column, bind_semantic.c); while a derive is being
     * bound, input is that derive, its items so far (input_items) computing its columns */
    const Plan *input; int input_items;
} Scope;

typedef struct Binder {
    Catalog *cat;
    fql_error *err;
    /* The calls that go up the file order (see above), installed by bind_program: bind_semantic
     * and bind_reduce for bind_call (bind_expr.c), bind_pipeline for bind_source. NULL in the
     * Binder bind_type makes for its errors (a type binds no expression and no source). */
    Expr *(*semantic)(struct Binder *b, Scope *sc, const Node *n);
    Expr *(*reduce)(struct Binder *b, Scope *sc, const Node *n);
    Plan *(*pipeline)(struct Binder *b, const Node *pipe, char ***quals_out);
    Expr *(*tmpl)(struct Binder *b, Scope *sc, const Node *at, const char *tpl);   /* bind_template */
    int fn_depth;            /* pipeline fns being bound inside one another (bind_source.c) */
    /* deferred sources (bind_program): the files and saved tables the statements bound so far write,
     * and whether the statement being bound may wait until they have run (defer set when it must) */
    Stmt **done; int ndone;
    int can_defer, defer;
} Binder;

/* ---- bind_expr.c ---- */

/* How many names a NULL-terminated list holds (for closest_name). */
size_t bind_names_len(const char *const *names);
/* The descriptor of a row-wise semantic operator called name, or NULL (reduce is bound apart). */
const SemOpDesc *bind_semantic_op(const char *name);
/* A type error at node n (FQL_ERR_TYPE into b->err). Returns -1. */
int bind_errn(Binder *b, const Node *n, const char *fmt, ...) FQL_PRINTF(3, 4);
/* Enter aggregate call ac (taken) in sc's list and return the E_AGG expression that reads its
 * result, of type t (consumed). */
Expr *bind_agg_ref(Scope *sc, AggCall ac, Type *t, const Node *n);
/* t as text for a message (caller frees). */
char *bind_tystr(const Type *t);
/* n qualifiers, each a copy of q (or NULL); free with bind_quals_free. */
char **bind_quals_new(int n, const char *q);
/* Free n qualifiers and the array (NULL is fine). */
void bind_quals_free(char **qs, int n);
/* The error for a column name not in sc (a suggestion, or the columns). Returns -1. */
int bind_unknown_column(Binder *b, const Scope *sc, const Node *n, const char *name);
/* The index of column name (qualified by qual, or NULL) in sc, or -1. */
int bind_find_col(const Scope *sc, const char *qual, const char *name);
/* A reference to column col of sc. New Expr. */
Expr *bind_col_expr(const Scope *sc, int col, const Node *at);
/* A literal; takes v and t. New Expr. */
Expr *bind_lit_expr(Value v, Type *t, const Node *at);
/* Is e a boolean (what names the place in the error)? 0, or -1 with an error at n. */
int bind_expect_bool(Binder *b, const Node *n, Expr *e, const char *what);
/* May values of types a and b be compared? */
int bind_comparable(const Type *a, const Type *b);
/* Does sc have a column qualified q (a source name or alias, or a join's left/right)? */
int bind_has_qual(const Scope *sc, const char *q);

/* ---- bind_template.c (the template language; it calls bind_expr.c, which reaches it through
 * Binder.tmpl) ---- */

/* Compile template tpl (written at node at, normally its string literal) over sc's columns into a
 * string expression: text, {{ }} placeholders with filters, {% if %} and {% for %} tags (see the
 * file's comment). New Expr, or NULL with a located error in b->err. */
Expr *bind_template(Binder *b, Scope *sc, const Node *at, const char *tpl);
/* Does tpl use tags ({% %} or {# #}), beyond plain placeholders? */
int bind_template_tags(const char *tpl);
/* The placeholders of tpl outside any {% if %} or {% for %} block, each as written ("{{ x }}");
 * a new array of new strings (caller frees), *n its length. */
char **bind_template_placeholders(const char *tpl, int *n);
/* A call's arguments in parameter order (NULL where omitted), count in *nout; NULL with an error.
 * Caller frees the array. */
const Node **bind_map_args(Binder *b, const Node *n, const char *const *params, int nparams,
                           int min_args, int variadic, int *nout);
/* An integer literal (or its negation) at n; *ok 0 when n is none. */
Value bind_const_int_value(const Node *n, int *ok);
/* Bind the expression n against sc. New Expr, or NULL with b->err. */
Expr *bind_expr(Binder *b, Scope *sc, const Node *n);
/* A type written as an expression (a reader's schema:). New reference, or NULL with an error. */
Type *bind_type_from_expr(Binder *b, const Node *n);
/* Does the argument arg of fn's parameter param fit its declared type want (bound against sc, or
 * against no columns when sc is NULL; an enum's label checked when arg is a literal)? 0, or -1 with
 * the error at arg. */
int bind_fn_arg_check(Binder *b, const char *fn, const char *param, const Type *want, const Node *arg, Scope *sc);
/* A clone of a fn's body with its parameters replaced by clones of args (one per parameter). */
Node *bind_subst_params(const Node *body, const FnDef *fn, Node *const *args);
/* Evaluate a constant expression. 0 and *out, or -1 with an error. */
int bind_const_value(Binder *b, const Node *n, Value *out);

/* The expression that computed column col of the scope's input (looking through filters, sorts,
 * limits, derives and selects), and in *csc a scope over the columns it reads; NULL when it is not
 * known (a column read from a file). */
const Expr *bind_col_definition(const Scope *sc, int col, Scope *csc);

/* ---- bind_semantic.c ---- */

/* A row-wise semantic operator call (Binder.semantic). New Expr, or NULL with b->err. */
Expr *bind_semantic(Binder *b, Scope *sc, const Node *n);
/* reduce(...), the semantic aggregate (Binder.reduce). New Expr, or NULL with b->err. */
Expr *bind_reduce(Binder *b, Scope *sc, const Node *n);
/* The media kinds (MEDIA_IMAGE | MEDIA_AUDIO, media.h) expression x carries: an image()/audio()
 * value, or {{col}} of one in a template (bind_semantic.c). */
int bind_media_kinds(const Expr *x);
/* embed(text) with the default embedding model, for cluster, sim join and semantic join. */
Expr *bind_embed_default(Binder *b, Expr *text, const Node *at, const char *what);

/* ---- bind_source.c ---- */

/* The file format a reader call name reads (*ok 0 when name is none). */
FileFormat bind_reader_format(const char *name, int *ok);
/* Bind a pipeline's source; *quals_out receives per-column qualifiers (caller frees). */
Plan *bind_source(Binder *b, const Node *src, char ***quals_out);

/* ---- bind_stage.c ---- */

/* Bind a whole pipeline (Binder.pipeline); *quals_out receives per-column qualifiers
 * (caller frees). */
Plan *bind_pipeline(Binder *b, const Node *pipe, char ***quals_out);

#endif
