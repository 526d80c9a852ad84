/* mcp.c: `fql --mcp FILE.fql`, a Model Context Protocol server over stdio (mcp.h; docs/reference.md,
 * "MCP server").
 *
 * JSON-RPC 2.0, one message a line on standard input and output (the stdio transport; logs and
 * summaries go to standard error). Methods: initialize (the protocol version the client asks for
 * when this server knows it, else the latest it knows), ping, tools/list, tools/call; notifications
 * are read and need no answer. Each pipeline fn of the file is a tool: its parameters (with their
 * declared types) are the JSON Schema of its input, its `--` comment the description. A call runs
 * `from NAME(param: value, ...)` in the session that read the file, so the session's cache, limits
 * and budget hold for every call; the rows come back as JSON objects, both as the text content and
 * as structuredContent {"rows": [...], "columns": [...]}. A failure is a tool result with isError
 * true and the error's place (FILE:LINE:COLUMN) in its text; an unknown tool or a malformed request
 * is a JSON-RPC error.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>
#include "mcp.h"
#include "session.h"
#include "catalog.h"
#include "ast.h"

static const char *const versions[] = { "2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05", NULL };

/* The pipeline fns of the catalog in the order they were declared (the catalog keeps the newest
 * first). A new array (caller frees), *n its length. */
static const FnDef **tools_of(Catalog *cat, int *n)
{
    int k = 0;
    for (FnDef *f = cat->fns; f; f = f->next) k += f->pipeline;
    const FnDef **out = xcalloc((size_t)k + 1, sizeof *out);
    *n = k;
    for (FnDef *f = cat->fns; f; f = f->next)
        if (f->pipeline) out[--k] = f;
    return out;
}

static const FnDef *tool_named(Catalog *cat, const char *name)
{
    for (FnDef *f = cat->fns; f; f = f->next)
        if (f->pipeline && !strcmp(f->name, name)) return f;
    return NULL;
}

/* The JSON Schema of a value of type t (new reference); {} for an untyped parameter. */
static json_t *schema_of_type(const Type *t)
{
    json_t *s = json_object();
    if (!t) return s;
    switch (t->kind) {
    case TY_STRING: json_object_set_new(s, "type", json_string("string")); break;
    case TY_INT: json_object_set_new(s, "type", json_string("integer")); break;
    case TY_FLOAT: json_object_set_new(s, "type", json_string("number")); break;
    case TY_BOOL: json_object_set_new(s, "type", json_string("boolean")); break;
    case TY_DATE:
        json_object_set_new(s, "type", json_string("string"));
        json_object_set_new(s, "format", json_string("date"));
        break;
    case TY_TIMESTAMP:
        json_object_set_new(s, "type", json_string("string"));
        json_object_set_new(s, "format", json_string("date-time"));
        break;
    case TY_ENUM: {
        json_t *e = json_array();
        for (int i = 0; i < t->nlabels; i++) json_array_append_new(e, json_string(t->labels[i]));
        json_object_set_new(s, "type", json_string("string"));
        json_object_set_new(s, "enum", e);
        break;
    }
    case TY_LIST:
        json_object_set_new(s, "type", json_string("array"));
        json_object_set_new(s, "items", schema_of_type(t->elem));
        break;
    default: break;
    }
    return s;
}

/* A default written as a literal, as JSON (new reference), or NULL. */
static json_t *default_of(const Node *d)
{
    if (!d) return NULL;
    switch (d->kind) {
    case N_INT: return json_integer((json_int_t)d->ival);
    case N_FLOAT: return json_real(d->fval);
    case N_STRING: return json_stringn(d->str, (size_t)d->ival);
    case N_BOOL: return json_boolean(d->ival);
    case N_NULL: return json_null();
    case N_UNOP:
        if (d->op == OP_NEG && d->a && d->a->kind == N_INT) return json_integer(-(json_int_t)d->a->ival);
        if (d->op == OP_NEG && d->a && d->a->kind == N_FLOAT) return json_real(-d->a->fval);
        return NULL;
    default: return NULL;
    }
}

static json_t *tool_json(const FnDef *f)
{
    json_t *t = json_object(), *props = json_object(), *req = json_array(), *in = json_object();
    json_object_set_new(t, "name", json_string(f->name));
    char *sig = catalog_fn_signature(f);
    char *desc = f->doc && *f->doc ? xasprintf("%s\n\n%s", f->doc, sig) : xasprintf("FQL pipeline %s", sig);
    json_object_set_new(t, "description", json_string(desc));
    free(desc);
    free(sig);
    for (int i = 0; i < f->nparams; i++) {
        json_t *p = schema_of_type(f->ptypes ? f->ptypes[i] : NULL);
        char *ts = f->ptypes && f->ptypes[i] ? type_to_string(f->ptypes[i]) : NULL;
        char *pd = xasprintf("%s%s%s", f->params[i], ts ? ": " : " (any constant)", ts ? ts : "");
        json_object_set_new(p, "description", json_string(pd));
        free(pd);
        free(ts);
        json_t *dv = default_of(f->defaults[i]);
        if (dv) json_object_set_new(p, "default", dv);
        json_object_set_new(props, f->params[i], p);
        if (!f->defaults[i]) json_array_append_new(req, json_string(f->params[i]));
    }
    json_object_set_new(in, "type", json_string("object"));
    json_object_set_new(in, "properties", props);
    json_object_set_new(in, "required", req);
    json_object_set_new(in, "additionalProperties", json_false());
    json_object_set_new(t, "inputSchema", in);
    return t;
}

/* Append v as an FQL literal. 0, or -1 for a value FQL has no literal for. */
static int put_literal(Buf *b, json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_STRING: {
        const char *s = json_string_value(v);
        size_t n = json_string_length(v);
        buf_putc(b, '"');
        for (size_t i = 0; i < n; i++) {
            unsigned char c = (unsigned char)s[i];
            if (c == '"' || c == '\\') { buf_putc(b, '\\'); buf_putc(b, (char)c); }
            else if (c == '\n') buf_puts(b, "\\n");
            else if (c == '\t') buf_puts(b, "\\t");
            else if (c < 0x20) buf_printf(b, "\\u{%x}", c);
            else buf_putc(b, (char)c);
        }
        buf_putc(b, '"');
        return 0;
    }
    case JSON_INTEGER: buf_printf(b, "%lld", (long long)json_integer_value(v)); return 0;
    case JSON_REAL: buf_printf(b, "%.17g", json_real_value(v)); return 0;
    case JSON_TRUE: buf_puts(b, "true"); return 0;
    case JSON_FALSE: buf_puts(b, "false"); return 0;
    case JSON_NULL: buf_puts(b, "null"); return 0;
    case JSON_ARRAY: {
        buf_putc(b, '[');
        for (size_t i = 0; i < json_array_size(v); i++) {
            if (i) buf_puts(b, ", ");
            if (put_literal(b, json_array_get(v, i))) return -1;
        }
        buf_putc(b, ']');
        return 0;
    }
    default: return -1;
    }
}

/* Does JSON value v fit parameter type t? NULL when it does, else what was expected. */
static const char *arg_mismatch(const Type *t, json_t *v)
{
    if (!t || json_is_null(v)) return NULL;
    switch (t->kind) {
    case TY_STRING: case TY_DATE: case TY_TIMESTAMP: case TY_ENUM: return json_is_string(v) ? NULL : "a string";
    case TY_INT: return json_is_integer(v) ? NULL : "an integer";
    case TY_FLOAT: return json_is_number(v) ? NULL : "a number";
    case TY_BOOL: return json_is_boolean(v) ? NULL : "a boolean";
    case TY_LIST: return json_is_array(v) ? NULL : "an array";
    default: return json_is_object(v) ? "a value FQL can write as a constant" : NULL;
    }
}

static const char *json_kind(json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_STRING: return "a string";
    case JSON_INTEGER: return "an integer";
    case JSON_REAL: return "a number";
    case JSON_TRUE: case JSON_FALSE: return "a boolean";
    case JSON_ARRAY: return "an array";
    case JSON_OBJECT: return "an object";
    default: return "null";
    }
}

/* A tool result: the text, isError. New reference. */
static json_t *tool_error(const char *text)
{
    json_t *r = json_object(), *c = json_array(), *t = json_object();
    json_object_set_new(t, "type", json_string("text"));
    json_object_set_new(t, "text", json_string(text));
    json_array_append_new(c, t);
    json_object_set_new(r, "content", c);
    json_object_set_new(r, "isError", json_true());
    return r;
}

/* Run tool f with arguments args (an object or NULL): the result object of tools/call. */
static json_t *call_tool(fql_session *s, const FnDef *f, json_t *args)
{
    Buf q;
    buf_init(&q);
    buf_printf(&q, "from %s(", f->name);
    int first = 1;
    const char *key;
    json_t *v;
    json_object_foreach(args, key, v) {
        int i;
        for (i = 0; i < f->nparams; i++)
            if (!strcmp(f->params[i], key)) break;
        if (i == f->nparams) {
            char *sig = catalog_fn_signature(f);
            char *m = xasprintf("%s has no parameter '%s' (%s)", f->name, key, sig);
            json_t *r = tool_error(m);
            free(m);
            free(sig);
            buf_free(&q);
            return r;
        }
        const char *want = arg_mismatch(f->ptypes ? f->ptypes[i] : NULL, v);
        if (want) {
            char *m = xasprintf("%s: parameter '%s' takes %s, got %s", f->name, key, want, json_kind(v));
            json_t *r = tool_error(m);
            free(m);
            buf_free(&q);
            return r;
        }
        buf_printf(&q, "%s`%s`: ", first ? "" : ", ", key);
        first = 0;
        if (put_literal(&q, v)) {
            char *m = xasprintf("%s: parameter '%s' takes a constant (a string, number, boolean, null or array), got %s", f->name, key,
                                json_kind(v));
            json_t *r = tool_error(m);
            free(m);
            buf_free(&q);
            return r;
        }
    }
    for (int i = 0; i < f->nparams; i++)
        if (!f->defaults[i] && !json_object_get(args, f->params[i])) {
            char *sig = catalog_fn_signature(f);
            char *m = xasprintf("%s: parameter '%s' is required (%s)", f->name, f->params[i], sig);
            json_t *r = tool_error(m);
            free(m);
            free(sig);
            buf_free(&q);
            return r;
        }
    buf_puts(&q, ");");
    fql_result *res = NULL;
    fql_error err;
    memset(&err, 0, sizeof err);
    char *name = xasprintf("<tools/call %s>", f->name);
    int rc = fql_exec(s, q.data, name, &res, &err);
    free(name);
    buf_free(&q);
    if (rc) {
        char *m = err.line > 0 ? xasprintf("%s:%d:%d: error: %s", err.file, err.line, err.column, err.message)
                  : err.file[0] ? xasprintf("%s: error: %s", err.file, err.message) : xasprintf("error: %s", err.message);
        json_t *r = tool_error(m);
        free(m);
        fql_result_free(res);
        return r;
    }
    json_t *rows = json_array(), *cols = json_array();
    size_t nr = res ? fql_result_rows(res) : 0, nc = res ? fql_result_cols(res) : 0;
    for (size_t c = 0; c < nc; c++) json_array_append_new(cols, json_string(fql_result_column_name(res, c)));
    for (size_t r = 0; r < nr; r++) {
        json_t *o = json_object();
        for (size_t c = 0; c < nc; c++) {
            char *txt = fql_result_json(res, r, c);
            json_error_t je;
            json_t *cell = txt ? json_loads(txt, JSON_DECODE_ANY, &je) : NULL;
            json_object_set_new(o, fql_result_column_name(res, c), cell ? cell : json_null());
            fql_free(txt);
        }
        json_array_append_new(rows, o);
    }
    fql_result_free(res);
    json_t *out = json_object(), *content = json_array(), *t = json_object(), *sc = json_object();
    char *text = json_dumps(rows, JSON_COMPACT | JSON_ENSURE_ASCII);
    json_object_set_new(t, "type", json_string("text"));
    json_object_set_new(t, "text", json_string(text ? text : "[]"));
    free(text);
    json_array_append_new(content, t);
    json_object_set_new(sc, "columns", cols);
    json_object_set_new(sc, "rows", rows);
    json_object_set_new(out, "content", content);
    json_object_set_new(out, "structuredContent", sc);
    json_object_set_new(out, "isError", json_false());
    return out;
}

static json_t *rpc_error(json_t *id, int code, const char *msg)
{
    json_t *r = json_object(), *e = json_object();
    json_object_set_new(r, "jsonrpc", json_string("2.0"));
    json_object_set(r, "id", id ? id : json_null());
    json_object_set_new(e, "code", json_integer(code));
    json_object_set_new(e, "message", json_string(msg));
    json_object_set_new(r, "error", e);
    return r;
}

static json_t *rpc_result(json_t *id, json_t *result)
{
    json_t *r = json_object();
    json_object_set_new(r, "jsonrpc", json_string("2.0"));
    json_object_set(r, "id", id);
    json_object_set_new(r, "result", result);
    return r;
}

/* Answer one message: the response (new reference), or NULL for a notification. */
static json_t *handle(fql_session *s, json_t *m)
{
    if (!json_is_object(m)) return rpc_error(NULL, -32600, "Invalid Request: a JSON-RPC message is an object");
    json_t *id = json_object_get(m, "id");
    const char *method = json_string_value(json_object_get(m, "method"));
    json_t *params = json_object_get(m, "params");
    if (!method) return id ? rpc_error(id, -32600, "Invalid Request: no method") : NULL;   /* a response to us: ignored */
    if (!id) return NULL;   /* notifications (initialized, cancelled, ...) need no answer */
    if (!strcmp(method, "initialize")) {
        const char *want = json_string_value(json_object_get(params, "protocolVersion")), *v = versions[0];
        for (int i = 0; want && versions[i]; i++)
            if (!strcmp(want, versions[i])) v = versions[i];
        json_t *r = json_object(), *caps = json_object(), *tools = json_object(), *info = json_object();
        json_object_set_new(r, "protocolVersion", json_string(v));
        json_object_set_new(tools, "listChanged", json_false());
        json_object_set_new(caps, "tools", tools);
        json_object_set_new(r, "capabilities", caps);
        json_object_set_new(info, "name", json_string("fql"));
        json_object_set_new(info, "version", json_string(fql_version()));
        json_object_set_new(r, "serverInfo", info);
        json_object_set_new(r, "instructions", json_string("Each tool runs an FQL pipeline and returns its rows as JSON objects."));
        return rpc_result(id, r);
    }
    if (!strcmp(method, "ping")) return rpc_result(id, json_object());
    if (!strcmp(method, "tools/list")) {
        int n;
        const FnDef **fs = tools_of(session_catalog(s), &n);
        json_t *arr = json_array(), *r = json_object();
        for (int i = 0; i < n; i++) json_array_append_new(arr, tool_json(fs[i]));
        free(fs);
        json_object_set_new(r, "tools", arr);
        return rpc_result(id, r);
    }
    if (!strcmp(method, "tools/call")) {
        const char *name = json_string_value(json_object_get(params, "name"));
        json_t *args = json_object_get(params, "arguments");
        if (!name) return rpc_error(id, -32602, "Invalid params: tools/call needs a tool name");
        if (args && !json_is_object(args)) return rpc_error(id, -32602, "Invalid params: arguments must be an object");
        const FnDef *f = tool_named(session_catalog(s), name);
        if (!f) {
            char *msg = xasprintf("Unknown tool: %s", name);
            json_t *r = rpc_error(id, -32602, msg);
            free(msg);
            return r;
        }
        json_t *empty = args ? NULL : json_object();
        json_t *r = call_tool(s, f, args ? args : empty);
        json_decref(empty);
        return rpc_result(id, r);
    }
    char *msg = xasprintf("Method not found: %s", method);
    json_t *r = rpc_error(id, -32601, msg);
    free(msg);
    return r;
}

static void send_msg(FILE *out, json_t *r)
{
    char *txt = json_dumps(r, JSON_COMPACT);
    if (txt) { fputs(txt, out); fputc('\n', out); fflush(out); }
    free(txt);
}

int mcp_serve(fql_session *s, FILE *in, FILE *out)
{
    session_set_output(s, NULL);   /* a call's rows go back in its answer only */
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    while ((n = getline(&line, &cap, in)) >= 0) {
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r')) line[--n] = 0;
        if (!n) continue;
        json_error_t je;
        json_t *m = json_loadb(line, (size_t)n, 0, &je);
        if (!m) {
            char *msg = xasprintf("Parse error: %s", je.text);
            json_t *r = rpc_error(NULL, -32700, msg);
            free(msg);
            send_msg(out, r);
            json_decref(r);
            continue;
        }
        json_t *r;
        if (json_is_array(m)) {   /* a batch (protocol 2025-03-26) */
            r = json_array();
            for (size_t i = 0; i < json_array_size(m); i++) {
                json_t *one = handle(s, json_array_get(m, i));
                if (one) json_array_append_new(r, one);
            }
            if (!json_array_size(r)) { json_decref(r); r = NULL; }
        } else r = handle(s, m);
        if (r) send_msg(out, r);
        json_decref(r);
        json_decref(m);
    }
    free(line);
    return 0;
}
