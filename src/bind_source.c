/* bind_source.c: the binder's sources: file readers (csv ... parquet, docs, pdf_metadata, remote
 * paths fetched once), lets, system tables (their columns from system_schema), values, and a
 * parenthesized pipeline (bound by bind_stage.c through Binder.pipeline).
 */
#include <stdlib.h>
#include <string.h>
#include "bind_int.h"
#include "media.h"
#include "eval.h"
#include "system.h"

FileFormat bind_reader_format(const char *name, int *ok)
{
    *ok = 1;
    if (!strcmp(name, "csv")) return FMT_CSV;
    if (!strcmp(name, "tsv")) return FMT_TSV;
    if (!strcmp(name, "json")) return FMT_JSON;
    if (!strcmp(name, "jsonl") || !strcmp(name, "ndjson")) return FMT_JSONL;
    if (!strcmp(name, "parquet")) return FMT_PARQUET;
    if (!strcmp(name, "docs")) return FMT_DOCS;
    if (!strcmp(name, "pdf_metadata")) return FMT_PDF_META;
    *ok = 0;
    return FMT_CSV;
}

/* path without leading "./" (so that "./out/x.csv" and "out/x.csv" are one file). */
static const char *path_key(const char *path)
{
    while (path[0] == '.' && path[1] == '/') path += 2;
    return path;
}

/* Does a statement bound before this one in the script write the file path (a write) or the saved
 * table named path (table 1: a save)? Then, where the binder may, the statement waits until those
 * have run (b->defer, see bind_program): it is checked against what they wrote. 1 when so, with an
 * error in b->err for where deferring is not possible (an import). */
static int written_earlier(Binder *b, const Node *at, const char *path, int table)
{
    for (int i = b->ndone - 1; i >= 0; i--) {
        const Stmt *st = b->done[i];
        const char *w = NULL;
        if (!table && st->kind == ST_RUN && st->plan && st->plan->kind == P_WRITE && st->plan->path) w = st->plan->path;
        if (table && (st->kind == ST_SAVE || st->kind == ST_DROP_TABLE)) w = st->table;
        if (!w || strcmp(table ? w : path_key(w), table ? path : path_key(path))) continue;
        if (b->can_defer) {
            b->defer = 1;
            err_at(b->err, FQL_ERR_TYPE, at->src, at->pos, "%s '%s' is written by an earlier statement", table ? "table" : "file", path);
        } else
            err_at(b->err, FQL_ERR_TYPE, at->src, at->pos, "%s '%s' is written by an earlier statement of the script; "
                   "an imported file cannot read it (read it in the script itself)", table ? "table" : "file", path);
        return 1;
    }
    return 0;
}

/* Give the scan p its schema by opening the reader once (the file's header, a sample for type
 * inference). Returns p, or NULL (p freed) with the error pointing at the source call n. */
static Plan *scan_schema_of(Binder *b, const Node *n, Plan *p)
{
    fql_error ferr;
    memset(&ferr, 0, sizeof ferr);
    /* fetch a remote path once: the executor reads the same local copies */
    if (io_is_remote(p->path) && !(p->ropts.fetched = remote_fetch(p->path, p->ropts.cache, &ferr))) {
        err_at(b->err, FQL_ERR_IO, n->src, n->pos, "%s", ferr.message);
        plan_free(p);
        return NULL;
    }
    Reader *r = reader_open(p->path, &p->ropts, &ferr);
    if (!r) {
        /* a data error: point at the source call, and say which file */
        if (ferr.line > 0)
            err_at(b->err, FQL_ERR_IO, n->src, n->pos, "%s:%d:%d: %s", ferr.file, ferr.line, ferr.column, ferr.message);
        else
            err_at(b->err, FQL_ERR_IO, n->src, n->pos, "%s", ferr.message);
        plan_free(p);
        return NULL;
    }
    p->schema = schema_copy(reader_schema(r));
    reader_free(r);
    return p;
}

/* docs("glob" [, type: "markdown" | "text" | "json", exclude: "regex"]) and
 * pdf_metadata("glob" [, exclude: "regex"]): one row per file. Without type:, docs() goes by the
 * glob's extension (.md/.markdown markdown, .json json, anything else text). */
static Plan *bind_doc_reader(Binder *b, const Node *n, FileFormat f)
{
    static const char *const docs_params[] = { "path", "type", "exclude" }, *const pdf_params[] = { "path", "exclude" };
    int total = 0;
    const Node **a = bind_map_args(b, n, f == FMT_DOCS ? docs_params : pdf_params, f == FMT_DOCS ? 3 : 2, 1, 0, &total);
    if (!a) return NULL;
    /* args: path, exclude, type */
    const Node *args[3] = { a[0], f == FMT_DOCS ? a[2] : a[1], f == FMT_DOCS ? a[1] : NULL };
    free(a);
    Plan *p = plan_new(P_SCAN, NULL, n);
    read_options_init(&p->ropts, f);
    p->format = f;
    if (args[0]->kind != N_STRING) { bind_errn(b, args[0], "%s() needs a path or glob string as its first argument", n->str); goto fail; }
    if (written_earlier(b, n, args[0]->str, 0)) goto fail;
    p->path = xstrdup(args[0]->str);
    if (args[1]) {
        if (args[1]->kind != N_STRING) { bind_errn(b, args[1], "exclude: takes a regular expression string"); goto fail; }
        p->scan_exclude = xstrdup(args[1]->str);
        p->ropts.exclude = p->scan_exclude;
    }
    const char *ext = strrchr(p->path, '.');
    const char *mime;
    int mk = media_kind_of_path(p->path, &mime);   /* *.png, *.jpg, ...: images; *.wav, *.mp3: audio */
    const char *type = f != FMT_DOCS ? NULL : args[2] ? (args[2]->kind == N_STRING ? args[2]->str : "")
                     : mk ? media_kind_name(mk)
                     : !ext ? "text" : !strcmp(ext, ".md") || !strcmp(ext, ".markdown") ? "markdown" : !strcmp(ext, ".json") ? "json" : "text";
    if (type) {
        if (!strcmp(type, "text")) p->ropts.doc_type = DOC_TEXT;
        else if (!strcmp(type, "markdown")) p->ropts.doc_type = DOC_MARKDOWN;
        else if (!strcmp(type, "json")) p->ropts.doc_type = DOC_JSON;
        else if (!strcmp(type, "image")) p->ropts.doc_type = DOC_IMAGE;
        else if (!strcmp(type, "audio")) p->ropts.doc_type = DOC_AUDIO;
        else { bind_errn(b, args[2], "type: takes \"markdown\", \"text\", \"json\", \"image\" or \"audio\""); goto fail; }
    }
    return scan_schema_of(b, n, p);
fail:
    plan_free(p);
    return NULL;
}

/* Paths in a script are relative to the current directory (as in every shell tool) — the one
 * exception is import, which is relative to the importing file. */
static Plan *bind_reader(Binder *b, const Node *n)
{
    int ok;
    FileFormat f = bind_reader_format(n->str, &ok);
    if (!ok) {
        static const char *const readers[] = { "csv", "tsv", "json", "jsonl", "parquet", "docs", "pdf_metadata" };
        const char *best = closest_name(n->str, readers, sizeof readers / sizeof readers[0]);
        if (best) bind_errn(b, n, "unknown source '%s'; did you mean '%s'?", n->str, best);
        else bind_errn(b, n, "unknown source '%s' (sources: csv, tsv, json, jsonl, parquet, docs, pdf_metadata, a let name, values [...])", n->str);
        return NULL;
    }
    if (f == FMT_DOCS || f == FMT_PDF_META) return bind_doc_reader(b, n, f);
    if (n->nkids > 0 && n->kids[0]->kind == N_STRING && written_earlier(b, n, n->kids[0]->str, 0)) return NULL;
    static const char *const params[] = { "path", "header", "delimiter", "quote", "schema", "sample_rows", "cache" };
    int total = 0;
    const Node **args = bind_map_args(b, n, params, 7, 1, 0, &total);
    if (!args) return NULL;
    for (int k = 1; k < 6 && f == FMT_PARQUET; k++)
        if (args[k]) { bind_errn(b, args[k], "parquet() takes only a path (%s: is for csv/tsv/json; a Parquet file carries its own types)", params[k]); free(args); return NULL; }
    Plan *p = plan_new(P_SCAN, NULL, n);
    read_options_init(&p->ropts, f);
    p->format = f;
    if (args[0]->kind != N_STRING) { bind_errn(b, args[0], "%s() needs a path string as its first argument", n->str); goto fail; }
    /* a local folder (a writer's partitions): its files of this format, read as one data set (a
     * remote folder is read with a glob of its files) */
    p->path = !io_is_remote(args[0]->str) && io_is_folder(args[0]->str) ? io_folder_glob(args[0]->str, f) : xstrdup(args[0]->str);
    if (args[6]) {
        if (args[6]->kind != N_BOOL) { bind_errn(b, args[6], "cache: takes true or false"); goto fail; }
        if (!io_is_remote(p->path)) { bind_errn(b, args[6], "cache: applies to remote paths (https://, hf://, s3://) only"); goto fail; }
        p->ropts.cache = (int)args[6]->ival;
    }
    if (args[1]) {
        if (args[1]->kind != N_BOOL) { bind_errn(b, args[1], "header: takes true or false"); goto fail; }
        p->ropts.header = (int)args[1]->ival;
    }
    for (int k = 2; k <= 3; k++)
        if (args[k]) {
            if (args[k]->kind != N_STRING || args[k]->ival > 1) { bind_errn(b, args[k], "%s: takes a one-character string", params[k]); goto fail; }
            if (k == 2) {
                if (args[k]->ival == 0) { bind_errn(b, args[k], "delimiter: cannot be empty"); goto fail; }
                p->ropts.delimiter = args[k]->str[0];
            } else p->ropts.quote = args[k]->ival ? args[k]->str[0] : 0;
        }
    if (args[4]) {
        if (args[4]->kind != N_STRUCT_LIT) { bind_errn(b, args[4], "schema: takes {column: type, ...}"); goto fail; }
        p->scan_schema = schema_new();
        for (int i = 0; i < args[4]->nkids; i++) {
            Type *t = bind_type_from_expr(b, args[4]->kids[i]->a);
            if (!t) goto fail;
            schema_add(p->scan_schema, args[4]->kids[i]->str, t);
        }
        p->ropts.schema = p->scan_schema;
    }
    if (args[5]) {
        if (args[5]->kind != N_INT || args[5]->ival < 1) { bind_errn(b, args[5], "sample_rows: takes a positive int"); goto fail; }
        p->ropts.sample_rows = (size_t)args[5]->ival;
    }
    free(args);
    return scan_schema_of(b, n, p);
fail:
    free(args);
    plan_free(p);
    return NULL;
}

static Plan *bind_values(Binder *b, const Node *n)
{
    Scope sc;
    Schema empty = { 0, NULL, NULL };
    memset(&sc, 0, sizeof sc);
    sc.schema = &empty;
    Plan *p = plan_new(P_VALUES, NULL, n);
    Schema *schema = schema_new();
    Expr **rows = xcalloc((size_t)n->nkids + 1, sizeof *rows);
    int ok = 1;
    for (int i = 0; i < n->nkids && ok; i++) {
        const Node *r = n->kids[i];
        if (r->kind != N_STRUCT_LIT) { bind_errn(b, r, "values takes a list of rows written as {column: value, ...}"); ok = 0; break; }
        rows[i] = bind_expr(b, &sc, r);
        if (!rows[i]) { ok = 0; break; }
        /* columns: union by name in order of first appearance; types unified */
        for (int f = 0; f < rows[i]->type->nfields; f++) {
            Field *fd = &rows[i]->type->fields[f];
            int c = schema_find(schema, fd->name);
            if (c < 0) schema_add(schema, fd->name, type_ref(fd->type));
            else {
                Type *u = type_unify(schema->types[c], fd->type);
                if (!u) {
                    char *a = bind_tystr(schema->types[c]), *t = bind_tystr(fd->type);
                    bind_errn(b, r->kids[f], "column '%s' is %s in an earlier row but %s here", fd->name, a, t);
                    free(a); free(t);
                    ok = 0;
                    break;
                }
                type_unref(schema->types[c]);
                schema->types[c] = u;
            }
        }
    }
    if (ok) {
        Table *t = table_new(schema_copy(schema));
        Batch *bt = batch_new(schema->n, (size_t)n->nkids);
        Value *row = xcalloc((size_t)schema->n + 1, sizeof *row);
        for (int i = 0; i < n->nkids; i++) {
            /* constant rows: evaluate each field directly */
            for (int c = 0; c < schema->n; c++) row[c] = v_null();
            for (int f = 0; f < rows[i]->nargs; f++) {
                int c = schema_find(schema, rows[i]->type->fields[f].name);
                Expr *fe = rows[i]->args[f];
                Value v;
                char *msg = NULL;
                v = eval_const(fe, &msg);
                if (msg) { err_at(b->err, FQL_ERR_RUNTIME, fe->src, fe->pos, "%s", msg); free(msg); ok = 0; }
                if (v.kind != V_NULL && schema->types[c]->kind == TY_FLOAT && v.kind == V_INT) v = v_float((double)v.u.i);
                value_free(row[c]);
                row[c] = v;
            }
            batch_push_row(bt, row);
        }
        free(row);
        table_add_batch(t, bt);
        p->rows = t;
        p->schema = schema;
    } else schema_free(schema);
    for (int i = 0; i < n->nkids; i++) expr_free(rows[i]);
    free(rows);
    if (!ok) { plan_free(p); return NULL; }
    return p;
}

/* table("NAME"): a table kept by `save ... as table NAME` in the state database. Its columns come
 * from the catalog's hook (the session reads them from the state database); its rows when the
 * statement runs (a P_SYSTEM scan of "table:NAME"). */
static Plan *bind_saved_table(Binder *b, const Node *n)
{
    if (n->nkids != 1 || n->kids[0]->kind != N_STRING) {
        bind_errn(b, n, "table() takes the name of a saved table as a string: from table(\"NAME\")");
        return NULL;
    }
    const char *name = n->kids[0]->str;
    if (written_earlier(b, n, name, 1)) return NULL;
    Schema *sc = b->cat->saved_schema ? b->cat->saved_schema(b->cat->saved_ud, name) : NULL;
    if (!sc) {
        char **names = b->cat->saved_names ? b->cat->saved_names(b->cat->saved_ud) : NULL;
        size_t k = 0;
        while (names && names[k]) k++;
        const char *best = names ? closest_name(name, (const char *const *)names, k) : NULL;
        if (best) bind_errn(b, n->kids[0], "unknown saved table '%s'; did you mean '%s'?", name, best);
        else bind_errn(b, n->kids[0], "unknown saved table '%s' (keep one with `save PIPELINE as table %s;`; `.tables` "
                       "and system.tables list them)", name, name);
        for (size_t i = 0; i < k; i++) free(names[i]);
        free(names);
        return NULL;
    }
    Plan *p = plan_new(P_SYSTEM, NULL, n);
    p->path = xasprintf("table:%s", name);
    p->schema = sc;
    return p;
}

/* NAME(args) where NAME is a pipeline fn: its body with the parameters replaced by the arguments
 * (constants, checked against the declared types), bound as a pipeline. Qualifier: the fn's name. */
static Plan *bind_fn_source(Binder *b, const Node *n, const FnDef *f)
{
    if (b->fn_depth >= 16) {
        bind_errn(b, n, "pipeline fns used inside one another more than 16 deep (does fn %s read from itself?)", f->name);
        return NULL;
    }
    int required = 0, total = 0;
    while (required < f->nparams && !f->defaults[required]) required++;
    const Node **given = bind_map_args(b, n, (const char *const *)f->params, f->nparams, required, 0, &total);
    if (!given) return NULL;
    Node **args = xcalloc((size_t)f->nparams + 1, sizeof *args);
    Plan *p = NULL;
    for (int i = 0; i < f->nparams; i++) {
        const Type *want = f->ptypes ? f->ptypes[i] : NULL;
        /* an argument is a constant: it is bound against no columns (an error names the column) */
        if (given[i] && bind_fn_arg_check(b, f->name, f->params[i], want ? want : type_any(), given[i], NULL)) goto done;
        const Node *a = given[i] ? given[i] : f->defaults[i];
        if (want && (want->kind == TY_DATE || want->kind == TY_TIMESTAMP) && a->kind == N_STRING) {
            /* "2024-05-01" for a date parameter: converted where it is used */
            Node *c = node_new(N_CAST, a->src, a->pos);
            c->a = node_clone(a);
            c->b = node_new(N_TYPE_NAME, a->src, a->pos);
            c->b->str = xstrdup(want->kind == TY_DATE ? "date" : "timestamp");
            args[i] = c;
        } else args[i] = node_clone(a);
    }
    Node *body = bind_subst_params(f->body, f, args);
    char **inner = NULL;
    b->fn_depth++;
    p = b->pipeline(b, body, &inner);
    b->fn_depth--;
    if (p) bind_quals_free(inner, p->schema->n); else free(inner);
    node_free(body);
    if (p && p->kind == P_WRITE) { plan_free(p); p = NULL; bind_errn(b, n, "fn %s ends in write; a source cannot", f->name); }
done:
    for (int i = 0; i < f->nparams; i++) node_free(args[i]);
    free(args);
    free(given);
    return p;
}

Plan *bind_source(Binder *b, const Node *src, char ***quals_out)
{
    Plan *p = NULL;
    const char *qual = src->str2;
    switch (src->kind) {
    case N_SRC_NAME: {
        LetDef *l = catalog_find_let(b->cat, src->str);
        if (l) {
            l->uses++;
            p = plan_ref(l->cached);
            if (!qual) qual = src->str;
            break;
        }
        if (!strncmp(src->str, "system.", 7)) {
            Schema *sys_schema = system_schema(src->str);
            if (!sys_schema) {
                const char *const *sys = system_table_names();
                size_t nsys = 0;
                while (sys[nsys]) nsys++;
                const char *best = closest_name(src->str, sys, nsys);
                bind_errn(b, src, "unknown system table '%s'%s%s%s", src->str, best ? "; did you mean '" : "", best ? best : "", best ? "'?" : "");
                return NULL;
            }
            p = plan_new(P_SYSTEM, NULL, src);
            p->path = xstrdup(src->str);
            p->schema = sys_schema;
            if (!qual) qual = src->str + 7;
            break;
        }
        const char *cands[256];
        int k = 0;
        for (LetDef *d = b->cat->lets; d && k < 256; d = d->next) cands[k++] = d->name;
        const char *best = closest_name(src->str, cands, (size_t)k);
        if (best) bind_errn(b, src, "unknown pipeline '%s'; did you mean '%s'?", src->str, best);
        else bind_errn(b, src, "unknown pipeline '%s' (name one defined with `let %s = ...;`, or read a file with csv(\"...\"))", src->str, src->str);
        return NULL;
    }
    case N_SRC_PIPE: {
        char **inner = NULL;
        p = b->pipeline(b, src->a, &inner);
        if (p) bind_quals_free(inner, p->schema->n); else free(inner);
        break;
    }
    case N_SRC_CALL: {
        FnDef *f = catalog_find_fn(b->cat, src->str);
        if (f && !f->pipeline) {
            bind_errn(b, src, "fn %s is a scalar function (its body is an expression); a source needs a pipeline: "
                      "fn %s(...) = from ... | ...", src->str, src->str);
            return NULL;
        }
        if (f || !strcmp(src->str, "table")) {
            p = f ? bind_fn_source(b, src, f) : bind_saved_table(b, src);
            if (!p) return NULL;
            if (!qual) qual = f ? f->name : src->kids[0]->str;
            break;
        }
    }
        p = bind_reader(b, src);
        if (p && !qual) {
            /* qualifier from the file name: csv("data/orders.csv") -> orders */
            const char *base = strrchr(p->path, '/');
            base = base ? base + 1 : p->path;
            char *q = xstrdup(base), *dot = strchr(q, '.');
            if (dot) *dot = 0;
            if (p) *quals_out = bind_quals_new(p->schema->n, q);
            free(q);
            return p;
        }
        break;
    case N_SRC_VALUES:
        p = bind_values(b, src);
        break;
    default:
        bind_errn(b, src, "expected a source");
        return NULL;
    }
    if (p) *quals_out = bind_quals_new(p->schema->n, qual);
    return p;
}
