/* plan.h: bound expressions and the logical plan.
 *
 * The binder (bind_*.c) turns AST pipelines into Plans: trees of operators whose expressions have
 * their names resolved to column indexes and their types checked. A Plan is immutable once built and
 * reference counted, so a `let` pipeline used by several statements shares one Plan; executing a
 * plan (exec.c) builds fresh operator state each time.
 */
#ifndef FQL_PLAN_H
#define FQL_PLAN_H

#include "ast.h"
#include "table.h"
#include "func.h"
#include "io.h"

typedef enum ExprKind {
    E_LIT,        /* lit */
    E_COL,        /* col: index into the input batch */
    E_FIELD,      /* args[0] struct; ival: field index (or -1: look up `name` at run time, for json/any) */
    E_INDEX,      /* args[0] list/string/json, args[1] index */
    E_BINOP,      /* op; args[0], args[1] (and/or are three-valued) */
    E_NOT,        /* args[0] */
    E_NEG,        /* args[0] */
    E_ISNULL,     /* args[0]; flag: negate */
    E_IN,         /* args[0] in args[1..]; flag bit 1: negate; bit 2: args[1] is a list whose elements are the candidates */
    E_LIKE,       /* args[0] like args[1]; op OP_LIKE/OP_ILIKE; flag negate */
    E_CASE,       /* args: cond0, val0, cond1, val1, ..., [else] ; flag: has else */
    E_LIST,       /* args: elements */
    E_STRUCT,     /* args: fields of `type` (a struct type) */
    E_CAST,       /* args[0] cast to type */
    E_CALL,       /* fn; args (nparams or more) */
    E_AGG,        /* only inside group: index `ival` into the aggregate results */
    E_SEMANTIC,   /* a model call (extract, classify, ...): name; args; executed by the runtime */
    E_LOOP,       /* a template's {% for %}: args[0] list, args[1] body, [args[2] else]; name: the variable (string) */
    E_LOOPVAR,    /* inside an E_LOOP body: column b->ncols - ival of the batch it runs on (flag 0 the item, 1 `loop`) */
    E_SUBQUERY    /* sub: a pipeline run once before its statement (session.c), which turns this node into
                     the E_LIT of its value: flag 0 the one row's one column (null for no rows), flag 1
                     the list of its column's values (`x in (from ...)`, E_IN flag 2) */
} ExprKind;

typedef struct Expr Expr;
struct Expr {
    ExprKind kind;
    Type *type;
    int op, flag;
    int64_t ival;
    Value lit;
    char *name;              /* E_FIELD name, E_SEMANTIC operator name */
    int sem;                 /* E_SEMANTIC: its SemOp (semop.h), set by the binder */
    int conf;                /* E_SEMANTIC written as confidence(predicate(...) | classify(...)) (1): its value is the
                              * answer's probability (type float; null when unknown), from the same request;
                              * as provenance(...) (2): where its answer came from (provenance_type()) */
    Type *vtype;             /* conf: the operator's own answer type (bool, the labels), owned; else NULL */
    const FuncDef *fn;
    Expr **args; int nargs;
    char **argnames;         /* E_SEMANTIC: the name of each argument (NULL for positional ones) */
    const Src *src; int pos; /* where it was written (runtime errors point there) */
    struct Plan *sub;        /* E_SUBQUERY: the pipeline (a reference) */
};

Expr *expr_new(ExprKind k, Type *type, const Node *at);   /* consumes type */
/* The type of E_SEMANTIC e's answer: e->type, or the operator's own type under confidence(). */
static inline const Type *expr_answer_type(const Expr *e) { return e->vtype ? e->vtype : e->type; }
void  expr_add(Expr *e, Expr *arg);
void  expr_add_named(Expr *e, const char *name, Expr *arg);   /* name copied; NULL = positional */
/* The argument named name (E_SEMANTIC), or NULL. */
const Expr *expr_arg(const Expr *e, const char *name);
void  expr_free(Expr *e);
/* Text form for explain: "(amount > 500)". Appends to b; names from schema (may be NULL). */
void  expr_explain(Buf *b, const Expr *e, const Schema *in);
/* Does e read column col (of its input)? Does it call a model? */
int   expr_uses_col(const Expr *e, int col);
int   expr_is_semantic(const Expr *e);

typedef enum PlanKind {
    P_SCAN,       /* read a file: path, read options */
    P_VALUES,     /* rows: table (materialized literal rows) */
    P_SYSTEM,     /* a system table, produced when executed: name */
    P_FILTER,     /* child; exprs[0] predicate */
    P_PROJECT,    /* child; exprs: one per output column */
    P_DERIVE,     /* child; exprs[i] computes column targets[i] of the output (evaluated in order, each
                     against the columns so far); output = input columns (replaced/extended) */
    P_AGG,        /* child; exprs[0..nkeys) group keys, aggs[] (AggCall); output: keys then aggs */
    P_SORT,       /* child; exprs: keys; desc[], nulls_first[] */
    P_LIMIT,      /* child; limit, offset */
    P_DISTINCT,   /* child; exprs: keys (none = all columns) */
    P_JOIN,       /* child (left), right; jointype; exprs[0] on-condition over left++right columns or NULL;
                     eq_left/eq_right: equality key columns (hash join); out_map: output columns */
    P_UNION,      /* child, right; all */
    P_EXPLODE,    /* child; col; outer; index column appended when with_index */
    P_UNNEST,     /* child; col: struct column replaced by its fields */
    P_CACHE,      /* child (materialized once per statement for now) */
    P_WRITE,      /* child; path, format, mode */
    P_CLUSTER,    /* child; exprs[0] the vector; k clusters, seed, max_iter; output = input ++ label
                     [++ centroid] */
    P_SIMJOIN,    /* child (left), right; exprs[0] the left vector over the left's columns, exprs[1] the
                     right vector over the right's; k: top K; metric; output = left ++ right ++ score */
    P_SEMJOIN,    /* child (left), right; path: the template; exprs[0] the predicate over left ++ right;
                     prefilter; k: its top K; exprs[1], exprs[2] (when present): the embeddings of the
                     left and right texts (over each side's columns); output = left ++ right */
    P_TOPK,       /* child; k: rows kept; group: candidates per request; path: the criterion template;
                     exprs[0] a row's candidate text (over the child's columns); exprs[1] the comparison,
                     map() over one column "prompt" answering {best: "1".."group"}; exprs[2] the
                     criterion as a question (a string literal); output = the child's columns, the K
                     rows the model ranks first, best first (exec_topk.c) */
    P_RESOLVE     /* child; col: the text column; right: the P_SEMJOIN (triangle) of its distinct values
                     with themselves, the pairs judged the same; output = the child's columns ++
                     COL_group (int) ++ COL_canonical (string) (exec_resolve.c) */
} PlanKind;

/* top K by: candidates per request by default, and the most (group:) */
#define TOPK_GROUP 4
#define TOPK_GROUP_MAX 10

/* sim join metrics, and the semantic join's prefilter */
enum { METRIC_COSINE, METRIC_DOT, METRIC_L2 };
enum { PREFILTER_AUTO, PREFILTER_OFF, PREFILTER_EMBED };
/* prefilter auto: the default exact-pair budget (max_pairs:): a semantic join of more candidate
 * pairs than this narrows them by a similarity threshold learned from a judged sample */
#define SEMJOIN_AUTO_PAIRS 10000
/* prefilter auto: the default recall target (recall:), and the pairs judged to learn the threshold */
#define SEMJOIN_RECALL 0.95
#define SEMJOIN_SAMPLE 200
/* join decomposition: relations of the two sides' labels, the default agreement and sample */
enum { DEC_EQ, DEC_NE, DEC_LT, DEC_GT };
#define SEMJOIN_DEC_AGREE 0.95
#define SEMJOIN_DEC_SAMPLE 100

typedef struct AggCall {
    const AggDef *def;
    Expr **args; int nargs;     /* evaluated per input row */
    int distinct;
    Type *type;
    int sem;                    /* SEM_REDUCE for reduce(): the model call runs once the groups are complete */
} AggCall;

typedef struct Plan Plan;
struct Plan {
    PlanKind kind;
    int refcnt;
    int depth;               /* operators on the longest path down to a source (the binder's bound); 0 not yet known */
    Schema *schema;          /* output schema */
    Plan *child, *right;
    Expr **exprs; int nexprs;
    int *targets;            /* P_DERIVE */
    char *unread;            /* P_JOIN: 1 for each output column nothing above reads (the optimizer's prune):
                              * gathered as nulls; NULL when every column is read */
    int nkeys;               /* P_AGG */
    AggCall *aggs; int naggs;
    int *desc, *nulls_first; /* P_SORT */
    int64_t limit, offset;   /* P_LIMIT; limit -1 = none */
    int64_t row_bound;       /* stages with model calls: take at most this many input rows (-1 = all; limit pushdown) */
    int64_t want_rows;       /* stages with model calls under a limit that filters, joins or derives see through: the
                                rows the limit wants (limit + offset; -1 = no limit above): work goes out in waves */
    int jointype;            /* P_JOIN */
    int *eq_left, *eq_right, neq;
    int all;                 /* P_UNION */
    int col, outer, with_index;  /* P_EXPLODE / P_UNNEST */
    char *path;              /* P_SCAN / P_WRITE / P_SYSTEM name / P_SEMJOIN template */
    ReadOptions ropts;       /* P_SCAN (ropts.schema owned via scan_schema) */
    Schema *scan_schema;     /* explicit schema for P_SCAN, owned */
    char *scan_exclude;      /* P_SCAN of docs()/pdf_metadata(): ropts.exclude, owned */
    FileFormat format;       /* P_SCAN / P_WRITE */
    int mode;                /* P_WRITE: WriteMode */
    WriteOptions wopts;      /* P_WRITE: Parquet options */
    Table *rows;             /* P_VALUES */
    char *cache_key;         /* P_CACHE: where its rows are stored (plan hash + input identity), set by the optimizer */
    const int *let_uses;     /* P_CACHE made for a let: how often the let is used (materialized when > 1) */
    const char *let_name;
    char *note;              /* what the optimizer did here, for explain */
    double est_rows, est_requests;   /* estimates for explain (< 0: not estimated) */
    char *analysis;          /* explain analyze: what the operator did */
    int64_t k;               /* P_CLUSTER: clusters; P_SIMJOIN, P_SEMJOIN: top K per left row; P_TOPK: rows kept */
    int group;               /* P_TOPK: candidates per comparison request (2 = pairwise) */
    int64_t seed, max_iter;  /* P_CLUSTER */
    int metric, prefilter;   /* P_SIMJOIN: METRIC_*; P_SEMJOIN: PREFILTER_* */
    double recall;           /* P_SEMJOIN: prefilter auto's recall target */
    int64_t max_pairs;       /* P_SEMJOIN: the exact-pair budget (pairs sent at most) */
    /* P_SEMJOIN join decomposition (decompose:, exec_simjoin.c): each side's text classified once
     * and the labels compared, used when a literally judged sample agrees */
    Expr *dec[2];            /* classify() over the left's / the right's own columns; NULL: none */
    /* planned at run time (no decompose: written): dec_plan is the planning request (map() over a
     * constant prompt, answered as {decomposable, property, kind, labels, relation}); dec[] then
     * carry placeholder labels and dec_num[] extract a number, their types set from the answer */
    Expr *dec_plan;
    Expr *dec_num[2];
    char *dec_prop;          /* the property's name (explain; NULL when planned at run time) */
    int dec_rel;             /* DEC_EQ, DEC_NE, DEC_LT, DEC_GT (by the labels' order) */
    double dec_agree;        /* the agreement the sample must reach (agreement:) */
    int64_t dec_sample;      /* pairs judged literally to validate it (sample:) */
    int rewrite_off;         /* rewrite: off keeps the literal plan */
    int triangle;            /* P_SEMJOIN under P_RESOLVE: left and right are the same rows; each unordered pair once (l < r) */
    double est_literal;      /* the literal plan's estimated requests (explain; < 0: not estimated) */
    double est_strong_lo, est_strong_hi;   /* cascades: the strong models' requests, the sample's to every row's (0: none) */
    int casc_noconf;         /* cascades whose cheap model gives no token probabilities: it is not asked (optimizer's note) */
    int fused_calls;         /* calls that go out with another call of the stage (fusion: optimize.c) */
    int pack_rows;           /* rows a request of the stage's calls carries at most (packing; 0 or 1: one) */
    const Src *src; int pos; /* where the stage was written */
};

Plan *plan_new(PlanKind k, Plan *child, const Node *at);  /* consumes child */
Plan *plan_ref(Plan *p);
void  plan_free(Plan *p);    /* drops a reference; NULL-safe */
Expr *expr_copy(const Expr *e);
Plan *plan_copy(const Plan *p);   /* deep (values and system leaves shared) */
/* top K by: the most comparison requests the tournament of exec_topk.c sends for n input rows,
 * keeping k, with group candidates a request (explain's estimate, before any row is known). */
double plan_topk_requests(double n, int64_t k, int group);
/* top K by: the answer of a comparison of m candidates, {best: enum("1", ..., "m")} (a new type). */
Type *plan_topk_answer(int m);
/* Indented tree, one operator a line (explain). */
void  plan_explain(Buf *b, const Plan *p, int depth);

#endif
