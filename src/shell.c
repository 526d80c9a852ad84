/* shell.c: the library's side of the interactive shell (see shell.h): statement completeness and
 * completion through the scanner, parser and binder; .tables, .schema and .models printed from the
 * session's declarations; the output settings. repl.c reaches the session only through here and
 * fql.h, so this is the one file that reads session internals on the shell's behalf.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <errno.h>
#include <jansson.h>
#include "session.h"
#include "replay.h"
#include "report.h"
#include "models.h"
#include "bind.h"
#include "system.h"
#include "state.h"
#include "lexer.h"
#include "parser.h"
#include "shell.h"

#define MAX_TOKENS 4096          /* completion looks at no more of a statement than this */

/* ---- statements ---- */

ShellStmtState shell_stmt_state(const char *text, size_t len)
{
    Src src = { (char *)"<stdin>", NULL, (char *)text, len, NULL };
    Lexer lx;
    Token t;
    fql_error err;
    memset(&err, 0, sizeof err);
    lex_init(&lx, &src);
    int code, last = 0;
    while ((code = lex_next(&lx, &t, &err)) > 0) last = code;
    if (code < 0) return err.code == FQL_ERR_INCOMPLETE ? SHELL_STMT_MORE : SHELL_STMT_READY;
    if (last == 0) return SHELL_STMT_EMPTY;           /* blank lines and comments */
    Node *prog = parse_program(&src, &err);
    node_free(prog);
    if (!prog) return err.code == FQL_ERR_INCOMPLETE ? SHELL_STMT_MORE : SHELL_STMT_READY;
    return last == TK_SEMI ? SHELL_STMT_READY : SHELL_STMT_MORE;
}

/* ---- names ---- */

static void names_all(const char *const *names, const char *suffix, ShellNameFn fn, void *ud)
{
    for (; *names; names++) fn(ud, *names, suffix);
}

void shell_names(fql_session *s, unsigned kinds, ShellNameFn fn, void *ud)
{
    if (kinds & SHELL_LETS)
        for (LetDef *l = session_catalog(s)->lets; l; l = l->next) fn(ud, l->name, "");
    if (kinds & SHELL_TYPES)
        for (TypeDef *t = session_catalog(s)->types; t; t = t->next) fn(ud, t->name, "");
    if (kinds & SHELL_SYSTEM) names_all(system_table_names(), "", fn, ud);
}

const char *shell_closest_name(const char *word, const char *const *names, size_t n)
{
    return closest_name(word, names, n);
}

/* ---- settings and output ---- */

static const char *const format_names[] = { "csv", "tsv", "json", "jsonl", "table", "markdown" };  /* by FileFormat */
_Static_assert(FMT_CSV == 0 && FMT_TSV == 1 && FMT_JSON == 2 && FMT_JSONL == 3 && FMT_TABLE == 4 && FMT_MARKDOWN == 5,
               "format_names follows FileFormat");

int shell_get_option(fql_session *s, const char *name, char *buf, size_t n)
{
    if (!strcmp(name, "format")) {
        size_t f = (size_t)session_runtime(s)->format;
        snprintf(buf, n, "%s", f < sizeof format_names / sizeof format_names[0] ? format_names[f] : "table");
        return 0;
    }
    if (!strcmp(name, "max_rows")) { snprintf(buf, n, "%zu", session_runtime(s)->max_rows); return 0; }
    return -1;
}

int shell_set_option(fql_session *s, const char *name, const char *text)
{
    Value v;
    if (!strcmp(name, "format")) v = v_cstring(text);
    else if (!strcmp(name, "max_rows")) {
        char *end;
        errno = 0;
        long long n = strtoll(text, &end, 10);
        if (errno || *end || end == text) return -1;
        v = v_int(n);
    } else return -1;
    char *msg = NULL;
    int rc = rt_set(session_runtime(s), name, v, &msg);    /* consumes v */
    free(msg);
    return rc ? -1 : 0;
}

FILE *shell_output(fql_session *s) { return session_output(s); }

/* ---- record, replay, report ---- */

int shell_tape(fql_session *s, const char *mode, const char *path, char **msg)
{
    TapeMode m = !strcmp(mode, "record") ? TAPE_RECORD : !strcmp(mode, "replay") ? TAPE_REPLAY : TAPE_OFFLINE;
    return tape_open(session_runtime(s), m, path, msg);
}

int shell_tape_close(fql_session *s, char **msg) { return tape_close(session_runtime(s), msg); }

int shell_report(fql_session *s, const char *path, long long query_id, char **msg)
{
    return report_write(session_runtime(s), path, (int64_t)query_id, msg);
}
void  shell_set_output(fql_session *s, FILE *out) { session_set_output(s, out); }

/* ---- .tables, .schema ---- */

/* A new table of string columns named by the NULL-terminated cols, and a batch to fill. */
static Table *text_table(const char *const *cols, Batch **b)
{
    Schema *sc = schema_new();
    for (int i = 0; cols[i]; i++) schema_add(sc, cols[i], type_string());
    Table *t = table_new(sc);
    *b = batch_new(sc->n, 16);
    return t;
}

/* Print t (consumed, with its batch b) where results go, in the current format. */
static void show_table(fql_session *s, Table *t, Batch *b)
{
    table_add_batch(t, b);
    session_print_result(s, t);
    table_free(t);
}

/* The column names of sc, comma separated (caller frees). */
static char *column_list(const Schema *sc)
{
    Buf b;
    buf_init(&b);
    for (int i = 0; i < sc->n; i++) buf_printf(&b, "%s%s", i ? ", " : "", sc->names[i]);
    return buf_take(&b);
}

/* Rows of .tables for the lets from l on, oldest first (the session keeps them newest first). */
static void let_rows(Batch *b, const LetDef *l)
{
    if (!l) return;
    let_rows(b, l->next);
    char *names = column_list(l->plan->schema);
    Value row[3] = { v_cstring(l->name), v_cstring("let"), v_cstring(names) };
    batch_push_row(b, row);
    free(names);
}

void shell_print_tables(fql_session *s)
{
    static const char *const cols[] = { "name", "kind", "columns", NULL };
    Batch *b;
    Table *t = text_table(cols, &b);
    let_rows(b, session_catalog(s)->lets);
    /* saved tables (save ... as table NAME), read with from table("NAME") */
    State *db = rt_state_if_exists(session_runtime(s));
    char **saved = state_table_names(db);
    for (char **n = saved; *n; n++) {
        Schema *sc = state_table_schema(db, *n);
        char *names = sc ? column_list(sc) : xstrdup("");
        char *shown = xasprintf("table(\"%s\")", *n);
        Value row[3] = { v_cstring(shown), v_cstring("saved"), v_cstring(names) };
        batch_push_row(b, row);
        free(shown);
        free(names);
        schema_free(sc);
        free(*n);
    }
    free(saved);
    for (const char *const *n = system_table_names(); *n; n++) {
        Table *st = system_table(session_runtime(s), *n);
        char *names = st ? column_list(st->schema) : xstrdup("");
        Value row[3] = { v_cstring(*n), v_cstring("system"), v_cstring(names) };
        batch_push_row(b, row);
        free(names);
        table_free(st);
    }
    show_table(s, t, b);
}

/* The text of the statement that starts at pos in src, up to its ';' (caller frees). */
static char *statement_text(const Src *src, int pos)
{
    Lexer lx;
    Token t;
    int code, end = pos;
    lex_init(&lx, src);
    lx.pos = pos;
    while ((code = lex_next(&lx, &t, NULL)) > 0 && code != TK_SEMI) end = t.pos + t.len;
    return xstrndup(src->text + pos, (size_t)(end - pos));
}

/* A declared type as it could be written: `type Name = {field: T "description", ...};`. */
static void print_type(FILE *out, const TypeDef *td)
{
    const Type *t = td->type;
    if (t->kind != TY_STRUCT) {
        char *s = type_to_string(t);
        fprintf(out, "type %s = %s;\n", td->name, s);
        free(s);
        return;
    }
    fprintf(out, "type %s = {\n", td->name);
    for (int i = 0; i < t->nfields; i++) {
        char *s = type_to_string(t->fields[i].type);
        fprintf(out, "  %s: %s", t->fields[i].name, s);
        if (t->fields[i].desc) {
            fputs(" \"", out);
            for (const char *c = t->fields[i].desc; *c; c++)
                if (*c == '"' || *c == '\\') fprintf(out, "\\%c", *c);
                else if (*c == '\n') fputs("\\n", out);
                else fputc(*c, out);
            fputc('"', out);
        }
        fputs(i + 1 < t->nfields ? ",\n" : "\n", out);
        free(s);
    }
    fputs("};\n", out);
}

static void print_let(FILE *out, const LetDef *l)
{
    char *txt = statement_text(l->src, l->pos);
    fprintf(out, "%s;\n", txt);
    free(txt);
}

/* A fn as declared, its documentation (the -- lines above it) first. */
static void print_fn(FILE *out, const FnDef *f)
{
    if (f->doc)
        for (const char *line = f->doc; line;) {
            const char *nl = strchr(line, '\n');
            fprintf(out, "-- %.*s\n", nl ? (int)(nl - line) : (int)strlen(line), line);
            line = nl ? nl + 1 : NULL;
        }
    char *txt = f->src ? statement_text(f->src, f->pos) : catalog_fn_signature(f);
    fprintf(out, "%s;\n", txt);
    free(txt);
}

static int from_prelude(const FnDef *f)
{
    const char *name = f->src && f->src->name ? f->src->name : "";
    size_t n = strlen(name);
    return n >= 11 && !strcmp(name + n - 11, "prelude.fql");
}

/* Are there fns the user declared (not the prelude's)? */
static int user_fns(const FnDef *f)
{
    for (; f; f = f->next)
        if (!from_prelude(f)) return 1;
    return 0;
}

/* The fns the user declared (not the prelude's), oldest first. */
static void print_fns(FILE *out, const FnDef *f)
{
    if (!f) return;
    print_fns(out, f->next);
    if (!from_prelude(f)) print_fn(out, f);
}

/* Every declaration from t (or l) on, oldest first. */
static void print_types(FILE *out, const TypeDef *t)
{
    if (t) { print_types(out, t->next); print_type(out, t); }
}
static void print_lets(FILE *out, const LetDef *l)
{
    if (l) { print_lets(out, l->next); print_let(out, l); }
}

/* Columns and types of a schema, as a table. */
static void show_schema(fql_session *s, const Schema *sc)
{
    static const char *const cols[] = { "column", "type", NULL };
    Batch *b;
    Table *t = text_table(cols, &b);
    for (int i = 0; i < sc->n; i++) {
        char *ty = type_to_string(sc->types[i]);
        Value row[2] = { v_cstring(sc->names[i]), v_cstring(ty) };
        batch_push_row(b, row);
        free(ty);
    }
    show_table(s, t, b);
}

int shell_print_schema(fql_session *s, const char *name, char **msg)
{
    FILE *out = session_output(s);
    *msg = NULL;
    if (!name) {
        if (!session_catalog(s)->types && !session_catalog(s)->lets && !user_fns(session_catalog(s)->fns))
            fputs("no types, fns or lets declared yet\n", out);
        print_types(out, session_catalog(s)->types);
        print_fns(out, session_catalog(s)->fns);
        print_lets(out, session_catalog(s)->lets);
        fflush(out);
        return 0;
    }
    LetDef *l = catalog_find_let(session_catalog(s), name);
    if (l) {
        print_let(out, l);
        show_schema(s, l->plan->schema);
        return 0;
    }
    TypeDef *td = catalog_find_type(session_catalog(s), name);
    if (td) { print_type(out, td); fflush(out); return 0; }
    FnDef *fd = catalog_find_fn(session_catalog(s), name);
    if (fd) { print_fn(out, fd); fflush(out); return 0; }
    /* a saved table, by its name or as table("NAME") */
    char *tn = !strncmp(name, "table(\"", 7) && strlen(name) > 9 ? xstrndup(name + 7, strlen(name) - 9) : xstrdup(name);
    Schema *saved = state_table_schema(rt_state_if_exists(session_runtime(s)), tn);
    free(tn);
    if (saved) { show_schema(s, saved); schema_free(saved); return 0; }
    Table *st = !strncmp(name, "system.", 7) ? system_table(session_runtime(s), name) : NULL;
    if (st) { show_schema(s, st->schema); table_free(st); return 0; }
    if (catalog_find_model(session_catalog(s), name)) { *msg = xasprintf("'%s' is a model; .models shows the models", name); return -1; }
    const char *cands[512];
    size_t k = 0;
    for (LetDef *d = session_catalog(s)->lets; d && k < 500; d = d->next) cands[k++] = d->name;
    for (TypeDef *d = session_catalog(s)->types; d && k < 500; d = d->next) cands[k++] = d->name;
    for (const char *const *n = system_table_names(); *n && k < 510; n++) cands[k++] = *n;
    const char *best = closest_name(name, cands, k);
    if (best) *msg = xasprintf("no let, type or system table named '%s'; did you mean '%s'?", name, best);
    else *msg = xasprintf("no let, type or system table named '%s' (.tables lists them)", name);
    return -1;
}

/* ---- .models ---- */

/* The prices and context window of alias (models_describe: nothing sent, nothing kept). 0 ok. */
static int model_catalog(fql_session *s, const char *alias, double *price_in, double *price_out, int64_t *context)
{
    fql_error err;
    memset(&err, 0, sizeof err);
    return models_describe(session_runtime(s), alias, price_in, price_out, context, &err);
}

void shell_print_models(fql_session *s)
{
    Table *sm = system_table(session_runtime(s), "system.models");
    if (!sm || sm->nrows == 0) {
        table_free(sm);
        fputs("no models declared yet; declare one with: model fast = openai(\"gpt-4o-mini\");\n", stdout);
        return;
    }
    table_flatten(sm);
    static const char *const kept[] = { "alias", "kind", "provider", "model_name", "is_default" };
    static const char *const limits[] = { "rpm", "tpm", "input_tpm", "output_tpm", "max_concurrency" };
    int kc[5], lc[5];
    Schema *sc = schema_new();
    for (int k = 0; k < 5; k++) {
        kc[k] = schema_find(sm->schema, kept[k]);
        lc[k] = schema_find(sm->schema, limits[k]);
        schema_add(sc, kept[k], type_ref(sm->schema->types[kc[k]]));
    }
    schema_add(sc, "limits", type_string());
    schema_add(sc, "price_in", type_float());
    schema_add(sc, "price_out", type_float());
    schema_add(sc, "context_window", type_int());
    Table *t = table_new(sc);
    Batch *b = batch_new(sc->n, sm->nrows);
    for (size_t r = 0; r < sm->nrows; r++) {
        Value row[9];
        for (int k = 0; k < 5; k++) row[k] = value_copy(table_get(sm, r, kc[k]));
        Buf lim;
        buf_init(&lim);
        for (int k = 0; k < 5; k++) {
            Value v = table_get(sm, r, lc[k]);
            if (v.kind == V_INT && v.u.i > 0) buf_printf(&lim, "%s%s %lld", lim.len ? ", " : "", limits[k], (long long)v.u.i);
        }
        row[5] = lim.len ? v_cstring(lim.data) : v_null();
        buf_free(&lim);
        double pin = -1, pout = -1;
        int64_t context = 0;
        int ok = model_catalog(s, v_str(row[0]), &pin, &pout, &context) == 0;
        row[6] = ok && pin >= 0 ? v_float(pin) : v_null();
        row[7] = ok && pout >= 0 ? v_float(pout) : v_null();
        row[8] = ok && context > 0 ? v_int(context) : v_null();
        batch_push_row(b, row);
    }
    table_free(sm);
    show_table(s, t, b);
}

/* ---- completion ---- */

struct ShellCompleter {
    fql_session *s;
    struct { char *text; Schema *schema; } bound[4];   /* pipelines bound lately, their schemas */
    int bound_next;                                    /* the slot to reuse next */
};

ShellCompleter *shell_completer_new(fql_session *s)
{
    ShellCompleter *c = xcalloc(1, sizeof *c);
    c->s = s;
    return c;
}

void shell_completer_free(ShellCompleter *c)
{
    if (!c) return;
    for (int i = 0; i < 4; i++) { free(c->bound[i].text); schema_free(c->bound[i].schema); }
    free(c);
}

/* Where candidates go: the caller's callback. */
typedef struct Out { ShellNameFn fn; void *ud; } Out;

static void cand_add(const Out *o, const char *s, const char *suffix) { o->fn(o->ud, s, suffix); }
static void cand_add_all(const Out *o, const char *const *names, const char *suffix) { names_all(names, suffix, o->fn, o->ud); }

/* The output schema of the pipeline in text (a source and complete stages), bound but not run;
 * NULL if it does not bind. Only a lone pipeline is bound, so nothing is declared by accident. The
 * last few answers are kept: Tab pressed again on one stage does not read its files again.
 * Borrowed (valid until four other pipelines have been bound). */
static const Schema *pipeline_schema(ShellCompleter *c, const char *text, size_t len)
{
    for (int i = 0; i < 4; i++)
        if (c->bound[i].text && strlen(c->bound[i].text) == len && !memcmp(c->bound[i].text, text, len))
            return c->bound[i].schema;
    int slot = c->bound_next;
    c->bound_next = (slot + 1) % 4;
    free(c->bound[slot].text);
    schema_free(c->bound[slot].schema);
    c->bound[slot].text = xstrndup(text, len);
    c->bound[slot].schema = NULL;
    Src src = { (char *)"<completion>", NULL, c->bound[slot].text, len, NULL };
    fql_error err;
    memset(&err, 0, sizeof err);
    Node *prog = parse_program(&src, &err);
    if (prog && prog->nkids == 1 && prog->kids[0]->kind == N_RUN) {
        Stmt **stmts = NULL;
        int n = 0;
        if (bind_program(session_catalog(c->s), prog, &stmts, &n, &err) == 0 && n == 1 && stmts[0]->plan)
            c->bound[slot].schema = schema_copy(stmts[0]->plan->schema);
        for (int i = 0; i < n; i++) stmt_free(stmts[i]);
        free(stmts);
    }
    node_free(prog);
    return c->bound[slot].schema;
}

/* The tokens of a statement typed so far. */
typedef struct Toks { const Src *src; Token t[MAX_TOKENS]; int code[MAX_TOKENS]; int n; } Toks;

static int tok_is(const Toks *k, int i, const char *word)
{
    return i >= 0 && i < k->n && (size_t)k->t[i].len == strlen(word) && !strncasecmp(k->src->text + k->t[i].pos, word, strlen(word));
}

/* Where the pipeline around the end of the tokens starts and its last '|' at the same depth (-1:
 * none, the end is still in its source). A '(' or '[' opens a level: a pipeline in parentheses has
 * its own stages; inside a call's parentheses the enclosing pipeline's columns are in scope, so
 * the innermost level that has a '|' is the one that counts. */
static void find_pipeline(const Toks *k, int *start, int *pipe)
{
    int st[64], last[64], d = 0, deeper = 0;      /* deeper: levels past the 64 tracked */
    st[0] = 0;
    last[0] = -1;
    if (tok_is(k, 0, "let")) st[0] = 3;                               /* let NAME = */
    if (tok_is(k, 0, "explain")) st[0] = tok_is(k, 1, "analyze") || tok_is(k, 1, "cost") ? 2 : 1;
    for (int i = 0; i < k->n; i++) {
        int c = k->code[i];
        if (c == TK_LPAREN || c == TK_LBRACKET || c == TK_LBRACE) {
            if (d < 63) { d++; st[d] = i + 1; last[d] = -1; }
            else deeper++;
        } else if (c == TK_RPAREN || c == TK_RBRACKET || c == TK_RBRACE) {
            if (deeper > 0) deeper--;
            else if (d > 0) d--;
        } else if (c == TK_PIPE && !deeper) last[d] = i;
    }
    while (d > 0 && last[d] < 0) d--;
    *start = st[d];
    *pipe = last[d];
}

/* The columns of the pipeline being typed, or NULL. */
static const Schema *columns_here(ShellCompleter *c, const Toks *k)
{
    int start, pipe;
    find_pipeline(k, &start, &pipe);
    if (pipe <= start) return NULL;
    int from = k->t[start].pos, to = k->t[pipe].pos;
    return pipeline_schema(c, k->src->text + from, (size_t)(to - from));
}

/* In a join stage past its source (`| left join SOURCE on ...`), the columns of that source. */
static const Schema *join_columns(ShellCompleter *c, const Toks *k)
{
    int start, pipe, j, end, depth = 0;
    find_pipeline(k, &start, &pipe);
    if (pipe < 0) return NULL;
    for (j = pipe + 1; j < k->n && j <= pipe + 3 && k->code[j] != TK_JOIN; j++) {}
    if (j >= k->n || k->code[j] != TK_JOIN) return NULL;
    for (end = j + 1; end < k->n; end++) {
        int code = k->code[end];
        if (depth == 0 && (code == TK_ON || code == TK_USING)) break;
        if (code == TK_LPAREN || code == TK_LBRACKET || code == TK_LBRACE) depth++;
        if (code == TK_RPAREN || code == TK_RBRACKET || code == TK_RBRACE) depth--;
    }
    if (end >= k->n || end == j + 1) return NULL;     /* the source is still being typed */
    Buf b;
    buf_init(&b);
    buf_puts(&b, "from ");
    buf_append(&b, k->src->text + k->t[j + 1].pos, (size_t)(k->t[end].pos - k->t[j + 1].pos));
    const Schema *sc = pipeline_schema(c, b.data, b.len);
    buf_free(&b);
    return sc;
}

/* Names after "a.b." (the tokens end with ID DOT [ID DOT ...]): system tables after `system.`, the
 * fields of a struct column, or the pipeline's columns after a qualifier. */
static void member_cands(ShellCompleter *c, const Toks *k, const Out *o)
{
    int i = k->n - 2;
    while (i >= 2 && k->code[i - 1] == TK_DOT && k->code[i - 2] == TK_ID) i -= 2;
    if (i < 0 || k->code[i] != TK_ID) return;
    if (i == k->n - 2 && tok_is(k, i, "system")) {
        for (const char *const *n = system_table_names(); *n; n++) cand_add(o, *n + 7, "");
        return;
    }
    const Schema *sc = columns_here(c, k);
    if (!sc) return;
    char *name = lex_name_value(k->src, &k->t[i]);
    int col = schema_find(sc, name);
    free(name);
    if (col < 0) {                        /* a qualifier: t.col */
        for (int j = 0; j < sc->n; j++) cand_add(o, sc->names[j], "");
        return;
    }
    const Type *t = sc->types[col];
    for (int j = i + 2; t && j < k->n; j += 2) {   /* a.b.c: down through the struct types */
        char *f = lex_name_value(k->src, &k->t[j]);
        int fi = type_field_index(t, f);
        free(f);
        t = fi >= 0 ? t->fields[fi].type : NULL;
    }
    for (int j = 0; t && t->kind == TY_STRUCT && j < t->nfields; j++) cand_add(o, t->fields[j].name, "");
}

static void type_cands(ShellCompleter *c, const Out *o)
{
    static const char *const base[] = { "string", "int", "float", "bool", "date", "timestamp", "json", NULL };
    cand_add_all(o, base, "");
    cand_add(o, "vector", "(");
    cand_add(o, "enum", "(");
    for (TypeDef *t = session_catalog(c->s)->types; t; t = t->next) cand_add(o, t->name, "");
}

static void model_cands(ShellCompleter *c, const Out *o)
{
    for (ModelDecl *m = session_catalog(c->s)->models; m; m = m->next) cand_add(o, m->alias, "");
}

/* Sources: let names, system tables and the file readers. */
static void source_cands(ShellCompleter *c, const Out *o)
{
    static const char *const readers[] = { "csv", "tsv", "json", "jsonl", "parquet", NULL };
    for (LetDef *l = session_catalog(c->s)->lets; l; l = l->next) cand_add(o, l->name, "");
    cand_add_all(o, system_table_names(), "");
    cand_add_all(o, readers, "(");
}

/* Names in an expression: columns (of a join's source too), functions, aggregates, model
 * operators, fns and types. */
static void expr_cands(ShellCompleter *c, const Toks *k, const Out *o)
{
    const Schema *sc = columns_here(c, k);
    for (int i = 0; sc && i < sc->n; i++) cand_add(o, sc->names[i], "");
    sc = join_columns(c, k);
    for (int i = 0; sc && i < sc->n; i++) cand_add(o, sc->names[i], "");
    cand_add_all(o, func_names(), "(");
    cand_add_all(o, agg_names(), "(");
    cand_add_all(o, bind_semantic_names(), "(");
    for (FnDef *f = session_catalog(c->s)->fns; f; f = f->next) cand_add(o, f->name, "(");
    for (TypeDef *t = session_catalog(c->s)->types; t; t = t->next) cand_add(o, t->name, "");   /* extract(x, Type) */
}

/* What a name at the end of the tokens may be, given what the parser expects there (ex). */
static void name_cands(ShellCompleter *c, const Toks *k, const unsigned char *ex, const Out *o)
{
    int n = k->n, prev = n > 0 ? k->code[n - 1] : 0;
    if (prev == TK_DOT) { member_cands(c, k, o); return; }
    if (ex[TK_LBRACE] && ex[TK_LBRACKET] && !ex[TK_INTEGER]) { type_cands(c, o); return; }    /* also cast(x as */
    if (prev == TK_LET || prev == TK_TYPE || prev == TK_FN || prev == TK_AS) return;   /* a new name */
    if (prev == TK_MODEL || (prev == TK_COLON && tok_is(k, n - 2, "model"))) { model_cands(c, o); return; }
    if (prev == TK_EQ_SINGLE && (tok_is(k, 0, "model") || tok_is(k, 0, "embedding")) && n <= 4) {
        cand_add_all(o, bind_provider_names(), "(");
        return;
    }
    if (prev == TK_DEFAULT || prev == TK_EMBEDDING) return;
    if (prev == TK_COMMA && (tok_is(k, 0, "model") || tok_is(k, 0, "embedding"))) {     /* model x = p("m", rpm: 500) */
        cand_add_all(o, bind_model_option_names(), ":");
        return;
    }
    if (ex[TK_VALUES]) { source_cands(c, o); return; }                       /* only a source starts with values */
    expr_cands(c, k, o);
}

void shell_complete(ShellCompleter *c, const char *before, size_t at, ShellNameFn fn, void *ud)
{
    Out o = { fn, ud };
    Src src = { (char *)"<completion>", NULL, xstrndup(before, at), at, NULL };
    Toks *k = xcalloc(1, sizeof *k);
    k->src = &src;
    Lexer lx;
    Token t;
    int code, end = 0;
    lex_init(&lx, &src);
    while ((code = lex_next(&lx, &t, NULL)) > 0) {
        end = t.pos + t.len;
        if (code == TK_SEMI) { k->n = 0; continue; }         /* the statement being typed starts after the last ';' */
        if (k->n < MAX_TOKENS) { k->t[k->n] = t; k->code[k->n] = code; k->n++; }
    }
    /* inside a comment (text after the last token), or the scanner failed: nothing to offer */
    int in_comment = 0;
    for (size_t i = (size_t)end; i < at; i++)
        if (!strchr(" \t\r\n", before[i])) in_comment = 1;
    if (code == 0 && !in_comment && k->n < MAX_TOKENS) {
        /* what the parser expects after this statement's tokens */
        int from = k->n ? k->t[0].pos : (int)at;
        Src stmt = { (char *)"<completion>", NULL, src.text + from, at - (size_t)from, NULL };
        unsigned char ex[256];
        int ok = parse_expected(&stmt, ex, (int)sizeof ex) == 0;    /* all zeros when not ok */
        for (size_t i = 0; lex_keyword_name(i); i++) {
            const char *kw = lex_keyword_name(i);
            if (ex[lex_keyword(kw, strlen(kw))]) cand_add(&o, kw, "");
        }
        if (!ok || ex[TK_ID]) name_cands(c, k, ex, &o);
    }
    free(k);
    free(src.text);
}

/* ---- the command line ---- */

int shell_print_ast(FILE *f, const char *name, const char *text, size_t len, fql_error *err)
{
    Src src = { (char *)name, NULL, (char *)text, len, NULL };
    memset(err, 0, sizeof *err);
    Node *prog = parse_program(&src, err);
    if (!prog) return -1;
    Buf b;
    buf_init(&b);
    node_dump(&b, prog, 0);
    fputs(b.data ? b.data : "", f);
    buf_free(&b);
    node_free(prog);
    return 0;
}

char *shell_type_schema(fql_session *s, const char *type_name)
{
    TypeDef *td = catalog_find_type(session_catalog(s), type_name);
    if (!td) return NULL;
    json_t *j = type_json_schema(td->type);
    char *txt = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(j);
    return txt;
}
