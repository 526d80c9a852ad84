/* semop.h: the semantic operators, one enum and one descriptor table (semop.c). The binder, the
 * optimizer, the executor and the semantic runtime tell operators apart by Expr.sem (set by the
 * binder), never by comparing names: the names live in the table only.
 */
#ifndef FQL_SEMOP_H
#define FQL_SEMOP_H

#include "runtime.h"
#include "plan.h"

typedef enum SemOp {
    SEM_NONE = 0,        /* not a semantic operator */
    SEM_EXTRACT,         /* extract(text, Type): typed fields */
    SEM_CLASSIFY,        /* classify(text, ["a", "b"] | {a: "...", ...}): one label */
    SEM_PREDICATE,       /* predicate("question about {{col}}"): a bool */
    SEM_MAP,             /* map("instruction {{col}}" [, schema: Type]): text, or a struct */
    SEM_EMBED,           /* embed(text): a vector, from an embedding model */
    SEM_SIMILARITY,      /* similarity(a, b): cosine of two vectors, no request */
    SEM_PARSE_PDF,       /* parse_pdf(path [, describe_images: true]): markdown; requests only to describe images */
    SEM_REDUCE,          /* reduce("instruction", x): an aggregate over a group's texts */
} SemOp;

/* The kind of answer an operator's request asks for. */
typedef enum { ANSWER_NONE, ANSWER_JSON, ANSWER_TEXT, ANSWER_VECTOR } SemAnswer;

typedef struct SemOpDesc {
    SemOp op;
    const char *name;
    int npos;                /* positional arguments (the rest are named options) */
    SemAnswer answer;        /* ANSWER_JSON: a schema-constrained object (map: only with schema:) */
    int sends;               /* 1: every non-null row is a request; 0 none (similarity); 2 only on an option (parse_pdf) */
    int embedding;           /* 1: its model is an embedding model */
    int packable;            /* 1: `pack:` puts several rows in one request */
    int scalar;              /* 1: a row-wise function (select, derive, where); 0: reduce, an aggregate */
    /* The instructions of one row's request (ANSWER_JSON / ANSWER_TEXT operators): appends the
     * system text to sys and sets r->schema / r->schema_name. labels: the row's `labels:` value
     * (classify's descriptions) or NULL. */
    void (*instruct)(const Expr *e, const Value *labels, Buf *sys, LmRequest *r);
} SemOpDesc;

/* The descriptor of an operator name, or NULL when name is not one. */
const SemOpDesc *semop_lookup(const char *name);
/* The descriptor of op (op != SEM_NONE). */
const SemOpDesc *semop_desc(SemOp op);
/* The row-wise operators' names in order (completion, "did you mean"): NULL-terminated. */
const char *const *semop_names(void);
/* The output tokens a request req of e is expected to take (estimates before anything is sent:
 * explain cost, the budget, the rate limiter's reservation): from the operator and its result type. */
double semop_output_tokens(const Expr *e, const LmRequest *req);
/* {"type": "object", "properties": {prop: type}, "required": [prop], "additionalProperties": false}
 * (takes type; a new reference). */
json_t *semop_object_schema(const char *prop, json_t *type);
/* Is name one the binder resolves before user functions (semantic operators and the special forms
 * reduce, template and if)? A UDF or fn of such a name could never be called: the one list of
 * reserved names (bind_decl.c, fql_register_udf). */
int semop_reserved(const char *name);

#endif
