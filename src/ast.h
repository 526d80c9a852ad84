/* ast.h: the syntax tree built by grammar/parser.y.
 *
 * One node struct for everything (as Lua's expdesc or jq's block): a kind, a source position, and
 * a few generic slots whose meaning per kind is listed below. Every node records the byte offset of
 * its first token (pos) and the Src it came from, so that the binder can report errors with a caret.
 * Ownership: a node owns its strings, its children (a, b, c) and its kids array. node_free() frees
 * the whole tree; it is NULL-safe.
 */
#ifndef FQL_AST_H
#define FQL_AST_H

#include <stdint.h>
#include "util.h"

typedef enum NodeKind {
    /* ---- program and statements ---- */
    N_PROGRAM,      /* kids: statements in order */
    N_MODEL,        /* str: alias; flag: 1 for `embedding model`; a: N_CALL provider(args) (str = provider name) */
    N_DEFAULT,      /* str: alias; flag: 1 for `default embedding model` */
    N_TYPEDECL,     /* str: type name; a: type node */
    N_LET,          /* str: name; a: N_PIPELINE */
    N_RUN,          /* a: N_PIPELINE (run it and print the result; a pipeline ending in write prints nothing) */
    N_EXPLAIN,      /* a: N_PIPELINE; flag: 0 explain, 1 explain analyze, 2 explain cost */
    N_FN,           /* str: name; kids: N_IDENT params (a: default or NULL; b: type node or NULL); a: body
                       expression, or an N_PIPELINE when flag is 1 (a pipeline with parameters) */
    N_IMPORT,       /* str: path (flag 0) or stdlib module name (flag 1, `import std.NAME` -> str "NAME") */
    N_SET,          /* str: option name; a: value expression (an identifier value such as `off` is N_IDENT) */

    /* ---- types ---- */
    N_TYPE_NAME,    /* str: "string" "int" "float" "bool" "date" "timestamp" "json" or a declared name; flag: 1 if `?` follows */
    N_TYPE_LIST,    /* a: element type; flag: nullable */
    N_TYPE_STRUCT,  /* kids: N_TYPE_FIELD; flag: nullable */
    N_TYPE_FIELD,   /* str: field name; a: type; str2: description or NULL */
    N_TYPE_ENUM,    /* kids: N_STRING labels; flag: nullable */
    N_TYPE_VECTOR,  /* ival: dimension; flag: nullable */

    /* ---- pipelines and sources ---- */
    N_PIPELINE,     /* a: source node; kids: stages in order */
    N_SRC_NAME,     /* str: name ("tickets", or "system.query_metrics"); str2: alias or NULL */
    N_SRC_PIPE,     /* a: N_PIPELINE in parentheses; str2: alias or NULL */
    N_SRC_CALL,     /* str: reader (csv tsv json jsonl parquet docs pdf_metadata); kids: args (exprs and N_NAMED); str2: alias */
    N_SRC_VALUES,   /* kids: row expressions (normally N_STRUCT_LIT); str2: alias */

    /* ---- stages ---- */
    N_SELECT,       /* kids: N_SELECT_ITEM or N_STAR */
    N_SELECT_ITEM,  /* a: expr; str: alias or NULL */
    N_STAR,         /* kids: N_IDENT names of `* except (a, b)` (may be empty). Also `count(*)`'s argument. */
    N_WHERE,        /* a: condition */
    N_DERIVE,       /* kids: N_ASSIGN */
    N_ASSIGN,       /* str: name; a: expr (also used for struct literal fields and agg items) */
    N_RENAME,       /* kids: N_RENAME_ITEM */
    N_RENAME_ITEM,  /* str: old name; str2: new name */
    N_DROP,         /* kids: N_IDENT */
    N_GROUP,        /* a: N_LIST of N_SELECT_ITEM keys (NULL for `agg` alone); b: N_LIST of N_ASSIGN aggregates */
    N_ORDER,        /* kids: N_ORDER_ITEM */
    N_ORDER_ITEM,   /* a: expr; flag: 1 desc; ival: 0 default, 1 nulls first, 2 nulls last */
    N_LIMIT,        /* a: count expr; b: offset expr or NULL */
    N_DISTINCT,     /* kids: key expressions (empty: whole rows) */
    N_JOIN,         /* flag: JOIN_INNER/LEFT/RIGHT/FULL/CROSS; a: source; b: on-expr or NULL; c: N_LIST of N_IDENT for using, or NULL */
    N_SEMJOIN,      /* a: source; str: template; kids: options as N_NAMED (`model NAME` becomes N_NAMED "model" with N_IDENT) */
    N_SIMJOIN,      /* a: source; b: left expr; c: right expr; ival: top K (0 = not given); str: metric or NULL; str2: score name or NULL */
    N_EXPLODE,      /* a: column expr (normally N_IDENT); flag: 1 outer; str2: index column name or NULL */
    N_UNNEST,       /* a: column expr */
    N_UNION,        /* flag: 1 all; a: source */
    N_CLUSTER,      /* a: vector expr; ival: K; str: label name; str2: centroid name or NULL; kids: options N_NAMED (e.g. seed) */
    N_TOPK,         /* ival: K; str: the criterion template; kids: options as N_NAMED (as N_SEMJOIN's) */
    N_RESOLVE,      /* str2: the column (a: it as N_IDENT, for its place); str: the `using` text or NULL; kids: options as
                       N_NAMED (as N_SEMJOIN's) */
    N_CACHE,        /* no fields */
    N_WRITE,        /* a: N_CALL (str: format csv/tsv/json/jsonl/parquet; kids: path and N_NAMED options) */

    /* ---- expressions ---- */
    N_INT,          /* ival */
    N_FLOAT,        /* fval */
    N_STRING,       /* str: decoded bytes (escapes applied); ival: byte length (strings may hold \0 via \u{0}) */
    N_BOOL,         /* ival: 0/1 */
    N_NULL,
    N_IDENT,        /* str: name (backquoted names arrive unquoted) */
    N_FIELD,        /* a: expr; str: field name (`x.y`) */
    N_INDEX,        /* a: expr; b: index expr (`x[i]`, 0-based? see docs: 1-based like SQL arrays is NOT used; FQL lists are 0-based) */
    N_CALL,         /* str: function name (lower-cased if it is a keyword-named function); kids: args, positional first then N_NAMED;
                       flag: 1 for `count(distinct x)` */
    N_NAMED,        /* str: argument name; a: value expr */
    N_BINOP,        /* op: OP_*; a, b */
    N_UNOP,         /* op: OP_NEG or OP_NOT; a */
    N_ISNULL,       /* a; flag: 1 for `is not null` */
    N_IN,           /* a; kids: list of exprs, or b: an N_PIPELINE (`in (from ...)`); flag: 1 for `not in` */
    N_BETWEEN,      /* a between b and c; flag: 1 for `not between` */
    N_LIKE,         /* a like b; op: OP_LIKE or OP_ILIKE; flag: 1 for `not like` */
    N_CASE,         /* kids: N_WHEN; a: else expr or NULL */
    N_WHEN,         /* a: condition; b: value */
    N_LIST_LIT,     /* kids: elements */
    N_STRUCT_LIT,   /* kids: N_ASSIGN */
    N_CAST,         /* a: expr; b: type node */
    N_LIST,         /* generic list holder: kids */
    N_SUBQUERY,     /* a: N_PIPELINE (a scalar subquery in an expression) */
    N_SAVE,         /* str: table name; a: N_PIPELINE (save PIPELINE as table NAME) */
    N_DROP_TABLE    /* str: table name (drop table NAME) */
} NodeKind;

enum { JOIN_INNER, JOIN_LEFT, JOIN_RIGHT, JOIN_FULL, JOIN_CROSS };

typedef enum OpKind {
    OP_OR, OP_AND, OP_NOT,
    OP_EQ, OP_NE, OP_LT, OP_LE, OP_GT, OP_GE,
    OP_CONCAT, OP_ADD, OP_SUB, OP_MUL, OP_DIV, OP_MOD, OP_NEG,
    OP_LIKE, OP_ILIKE
} OpKind;

typedef struct Node Node;
struct Node {
    NodeKind kind;
    int pos;              /* byte offset of the node's first token in src->text */
    int end;              /* byte offset just past its last token (best effort; 0 if unknown) */
    const Src *src;
    int op;               /* OpKind */
    int flag;
    int64_t ival;
    double fval;
    char *str, *str2;
    Node *a, *b, *c;
    Node **kids; int nkids, capkids;
    int depth;            /* height of the subtree, set by the parser (it rejects trees deeper than 2000
                             so that recursive walkers cannot overflow the C stack); 0 if unknown */
};

Node *node_new(NodeKind kind, const Src *src, int pos);
void  node_add(Node *parent, Node *kid);        /* appends kid to parent->kids (kid may not be NULL) */
void  node_free(Node *n);                       /* NULL-safe, recursive */
Node *node_clone(const Node *n);                /* deep copy (for fn inlining) */
const char *node_kind_name(NodeKind k);
/* Print the tree as an S-expression-ish text, for parser tests (`fql --ast`). Appends to b. */
void  node_dump(Buf *b, const Node *n, int indent);

/* The parser. Parses the whole of src and returns an N_PROGRAM, or NULL with err filled
 * ("expected an expression after 'where'", caret under the offending token). When the input ends
 * before a statement is complete, err->code is FQL_ERR_INCOMPLETE (the REPL reads another line). */
Node *parse_program(const Src *src, fql_error *err);
/* For completion: which terminals (TK_* codes) could come next after the whole of src, which is a
 * statement cut short. ex[code] = 1 for each (a keyword counts only where the grammar uses it as a
 * keyword, not where it would stand for a name); n is the size of ex. Returns 0, or -1 when src
 * has a lexical or syntax error before its end (then ex is all zeros). */
int   parse_expected(const Src *src, unsigned char *ex, int n);

#endif
