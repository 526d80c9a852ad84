/* semop.c: the semantic operators' descriptor table (semop.h) and the instructions each operator's
 * requests carry. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>
#include "semop.h"

json_t *semop_object_schema(const char *prop, json_t *type)
{
    json_t *o = json_object();
    json_object_set_new(o, "type", json_string("object"));
    json_t *props = json_object();
    json_object_set_new(props, prop, type);
    json_object_set_new(o, "properties", props);
    json_t *req = json_array();
    json_array_append_new(req, json_string(prop));
    json_object_set_new(o, "required", req);
    json_object_set_new(o, "additionalProperties", json_false());
    return o;
}

static void instruct_extract(const Expr *e, const Value *labels, Buf *sys, LmRequest *r)
{
    (void)labels;
    buf_puts(sys, "Extract the requested information from the input text. Answer with one JSON object that follows the schema.");
    r->schema = type_json_schema(expr_answer_type(e));
    r->schema_name = xstrdup(expr_answer_type(e)->name ? expr_answer_type(e)->name : "extraction");
}

static void instruct_classify(const Expr *e, const Value *labels, Buf *sys, LmRequest *r)
{
    json_t *ls = json_array();
    for (int i = 0; i < expr_answer_type(e)->nlabels; i++) json_array_append_new(ls, json_string(expr_answer_type(e)->labels[i]));
    json_t *t = json_object();
    json_object_set_new(t, "type", json_string("string"));
    json_object_set_new(t, "enum", ls);
    r->schema = semop_object_schema("label", t);
    r->schema_name = xstrdup("classification");
    buf_puts(sys, "Classify the input text into exactly one of these labels:");
    for (int i = 0; i < expr_answer_type(e)->nlabels; i++) {
        buf_printf(sys, "\n- %s", expr_answer_type(e)->labels[i]);
        if (labels && labels->kind == V_STRUCT && (uint32_t)i < labels->u.st->n && labels->u.st->fields[i].kind == V_STRING)
            buf_printf(sys, ": %s", v_str(labels->u.st->fields[i]));
    }
    buf_puts(sys, "\nAnswer with a JSON object {\"label\": LABEL}.");
}

static void instruct_predicate(const Expr *e, const Value *labels, Buf *sys, LmRequest *r)
{
    (void)e; (void)labels;
    buf_puts(sys, "Decide whether the statement or question is true for the given input. Answer with a JSON object {\"answer\": true} or {\"answer\": false}.");
    r->schema = semop_object_schema("answer", json_pack("{s:s}", "type", "boolean"));
    r->schema_name = xstrdup("predicate");
}

/* map: plain text, or an object of the schema: type */
static void instruct_map(const Expr *e, const Value *labels, Buf *sys, LmRequest *r)
{
    (void)labels;
    if (expr_answer_type(e)->kind != TY_STRUCT) {
        buf_puts(sys, "Follow the instruction. Answer with the result only, without preamble.");
        return;
    }
    buf_puts(sys, "Follow the instruction. Answer with one JSON object that follows the schema.");
    r->schema = type_json_schema(expr_answer_type(e));
    r->schema_name = xstrdup(expr_answer_type(e)->name ? expr_answer_type(e)->name : "answer");
}

/* Bytes of the JSON an answer of type t takes, roughly (strings: 24 characters). */
static double answer_bytes(const Type *t)
{
    switch (t ? t->kind : TY_STRING) {
    case TY_BOOL: return 5;
    case TY_INT: return 4;
    case TY_FLOAT: return 6;
    case TY_DATE: return 12;
    case TY_TIMESTAMP: return 22;
    case TY_ENUM: {
        double n = 0;
        for (int i = 0; i < t->nlabels; i++) n += (double)strlen(t->labels[i]);
        return 2 + (t->nlabels ? n / t->nlabels : 8);
    }
    case TY_LIST: return 2 + 3 * (answer_bytes(t->elem) + 1);
    case TY_STRUCT: {
        double n = 2;
        for (int i = 0; i < t->nfields; i++) n += (double)strlen(t->fields[i].name) + 4 + answer_bytes(t->fields[i].type);
        return n;
    }
    default: return 26;
    }
}

double semop_output_tokens(const Expr *e, const LmRequest *req)
{
    double bytes;
    const char *w = req->system ? strstr(req->system, "in at most ") : NULL;   /* summarize (stdlib) */
    if (e->sem == SEM_CLASSIFY) bytes = 11 + answer_bytes(expr_answer_type(e));             /* {"label": "..."} */
    else if (e->sem == SEM_PREDICATE) bytes = 16;                               /* {"answer": false} */
    else if (expr_answer_type(e)->kind == TY_STRUCT) bytes = answer_bytes(expr_answer_type(e));
    else if (w && atof(w + 11) > 0) bytes = atof(w + 11) * 6;
    else bytes = req->max_output_tokens > 0 ? (double)req->max_output_tokens * 4 : 400;
    if (req->max_output_tokens > 0 && bytes > (double)req->max_output_tokens * 4) bytes = (double)req->max_output_tokens * 4;
    return ceil(bytes / 4);
}

static const SemOpDesc table[] = {
    { SEM_EXTRACT,    "extract",    2, ANSWER_JSON,   1, 0, 1, 1, instruct_extract },
    { SEM_CLASSIFY,   "classify",   2, ANSWER_JSON,   1, 0, 1, 1, instruct_classify },
    { SEM_PREDICATE,  "predicate",  1, ANSWER_JSON,   1, 0, 1, 1, instruct_predicate },
    { SEM_MAP,        "map",        1, ANSWER_TEXT,   1, 0, 1, 1, instruct_map },
    { SEM_EMBED,      "embed",      1, ANSWER_VECTOR, 1, 1, 0, 1, NULL },
    { SEM_SIMILARITY, "similarity", 2, ANSWER_NONE,   0, 0, 0, 1, NULL },
    { SEM_PARSE_PDF,  "parse_pdf",  1, ANSWER_TEXT,   2, 0, 0, 1, NULL },
    { SEM_REDUCE,     "reduce",     2, ANSWER_TEXT,   1, 0, 0, 0, instruct_map },
};
enum { NOPS = sizeof table / sizeof table[0] };

const SemOpDesc *semop_lookup(const char *name)
{
    for (int i = 0; name && i < NOPS; i++)
        if (!strcmp(table[i].name, name)) return &table[i];
    return NULL;
}

const SemOpDesc *semop_desc(SemOp op)
{
    for (int i = 0; i < NOPS; i++)
        if (table[i].op == op) return &table[i];
    return NULL;
}

const char *const *semop_names(void)
{
    static const char *names[NOPS + 1];
    if (!names[0]) {
        int k = 0;
        for (int i = 0; i < NOPS; i++)
            if (table[i].scalar) names[k++] = table[i].name;
        names[k] = NULL;
    }
    return names;
}

int semop_reserved(const char *name)
{
    static const char *const forms[] = { "template", "if" };   /* the binder's special forms */
    for (size_t i = 0; i < sizeof forms / sizeof forms[0]; i++)
        if (!strcmp(forms[i], name)) return 1;
    return semop_lookup(name) != NULL;
}
