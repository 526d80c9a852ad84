/* bind_decl.c: the binder's statements and declarations (model, default, type, let, fn, import,
 * set, run and explain), bind_program (which installs the Binder's hooks, see bind_int.h),
 * stmt_free, and the name lists the shell completes.
 */
#include <stdlib.h>
#include <string.h>
#include <limits.h>
#include <unistd.h>
#include "bind_int.h"
#include "rt.h"

static const char *const providers[] = { "openai", "anthropic", "gemini", "vertex", "openrouter", "cohere", NULL };
static const char *const model_options[] = {
    "rpm", "tpm", "input_tpm", "output_tpm", "max_concurrency", "timeout", "max_retries", "base_url",
    "api_key_env", "temperature", "max_output_tokens", "reasoning_effort", "dimensions", "price_in",
    "price_out", "context_window", "batch", "profiles", "default_profile", "project", "location",
    "fallback", "seed", "cached_price_in", "batch_max_requests", "batch_max_bytes", "structured_output", "logprobs", "tier", "vision", "audio", NULL
};

const char *const *bind_semantic_names(void) { return semop_names(); }
const char *const *bind_provider_names(void) { return providers; }
const char *const *bind_model_option_names(void) { return model_options; }

static const char *src_dir(const Src *src, char *buf, size_t n)
{
    if (!src || !src->path) return NULL;
    snprintf(buf, n, "%s", src->path);
    char *slash = strrchr(buf, '/');
    if (!slash) return NULL;
    *slash = 0;
    return buf;
}

/* ---- statements ---- */

/* The documentation of a declaration at pos of src: the `--` comment lines right above its line
 * (no blank line between), markers and one following space stripped, joined with '\n'. New
 * string, or NULL when there are none. */
static char *fn_doc_comment(const Src *src, int pos)
{
    if (!src || pos <= 0 || (size_t)pos > src->len) return NULL;
    const char *t = src->text;
    int ls = pos;
    while (ls > 0 && t[ls - 1] != '\n') ls--;
    for (int k = ls; k < pos; k++)
        if (t[k] != ' ' && t[k] != '\t') return NULL;   /* something else precedes fn on its line */
    int first = ls;   /* start of the first comment line of the block */
    while (first > 0) {
        int pe = first - 1, ps = pe;   /* the previous line: [ps, pe) */
        while (ps > 0 && t[ps - 1] != '\n') ps--;
        int k = ps;
        while (k < pe && (t[k] == ' ' || t[k] == '\t')) k++;
        if (pe - k < 2 || t[k] != '-' || t[k + 1] != '-') break;
        first = ps;
    }
    if (first == ls) return NULL;
    Buf b;
    buf_init(&b);
    for (int k = first; k < ls;) {
        int e = k;
        while (e < ls && t[e] != '\n') e++;
        int c = k;
        while (c < e && (t[c] == ' ' || t[c] == '\t')) c++;
        c += 2;
        if (c < e && t[c] == ' ') c++;
        int end = e;
        while (end > c && (t[end - 1] == '\r' || t[end - 1] == ' ' || t[end - 1] == '\t')) end--;
        if (b.len) buf_puts(&b, "\n");
        buf_append(&b, t + c, (size_t)(end - c));
        k = e + 1;
    }
    if (!b.len) { buf_free(&b); return NULL; }
    return buf_take(&b);
}

/* The cost-lever options of a model declaration n: `batch: true` only where FQL speaks the
 * provider's Batch API (OpenAI, Anthropic, Gemini), `fallback:` a list of other aliases of the same kind,
 * declared before this one (so a chain cannot loop). 0 ok; -1 with the error at option k. */
static int check_cost_option(Binder *b, const Node *n, const Node *k, Value v)
{
    const char *prov = n->a->str;
    if (!strcmp(k->str, "batch")) {
        if (v.kind != V_BOOL) return bind_errn(b, k->a, "model option 'batch' takes true or false");
        if (v.u.b && strcmp(prov, "openai") && strcmp(prov, "anthropic") && strcmp(prov, "gemini"))
            return bind_errn(b, k, "batch: true needs a provider whose Batch API FQL speaks (openai, anthropic, gemini); %s has none "
                                   "here: remove the option or declare the model with one of those%s", prov,
                             !strcmp(prov, "vertex") ? " (for Gemini models, provider gemini has the Batch API)" : "");
        if (v.u.b && n->flag && strcmp(prov, "openai"))
            return bind_errn(b, k, "batch: true for an embedding model needs provider openai (Anthropic has no embeddings)");
        return 0;
    }
    if (!strcmp(k->str, "logprobs")) {
        if (v.kind != V_BOOL) return bind_errn(b, k->a, "model option 'logprobs' takes true or false");
        if (v.u.b && (!strcmp(prov, "anthropic") || !strcmp(prov, "cohere")))
            return bind_errn(b, k, "logprobs: true needs a provider that returns token probabilities (openai, gemini, vertex, "
                                   "openrouter); %s gives none: remove the option", prov);
        return 0;
    }
    if ((!strcmp(k->str, "vision") || !strcmp(k->str, "audio")) && v.kind != V_BOOL)
        return bind_errn(b, k->a, "model option '%s' takes true or false (whether the model takes %s)", k->str,
                         !strcmp(k->str, "vision") ? "images" : "audio");
    if (!strcmp(k->str, "audio") && v.u.b && (!strcmp(prov, "anthropic") || !strcmp(prov, "cohere")))
        return bind_errn(b, k, "audio: true needs a provider with audio input (openai, gemini, vertex, openrouter); %s has none: "
                               "remove the option", prov);
    if (!strcmp(k->str, "structured_output") && v.kind != V_BOOL)
        return bind_errn(b, k->a, "model option 'structured_output' takes true or false");
    if (strcmp(k->str, "fallback")) return 0;
    uint32_t cnt = v.kind == V_LIST ? v.u.l->n : 1;
    for (uint32_t i = 0; i < cnt; i++) {
        Value a = v.kind == V_LIST ? v.u.l->items[i] : v;
        if (a.kind != V_STRING) return bind_errn(b, k->a, "fallback: takes a list of model aliases, e.g. fallback: [\"backup\"]");
        const char *alias = v_str(a);
        ModelDecl *d = catalog_find_model(b->cat, alias);
        if (!strcmp(alias, n->str)) return bind_errn(b, k->a, "model '%s' cannot be its own fallback", alias);
        if (!d) return bind_errn(b, k->a, "fallback: unknown model '%s' (declare it before '%s')", alias, n->str);
        if (d->embedding != n->flag)
            return bind_errn(b, k->a, "fallback: '%s' is %s model, but '%s' is not", alias, d->embedding ? "an embedding" : "a language", n->str);
    }
    return 0;
}

static int bind_model(Binder *b, const Node *n)
{
    const Node *call = n->a;
    int ok = 0;
    for (int i = 0; providers[i]; i++)
        if (!strcmp(providers[i], call->str)) ok = 1;
    if (!ok) {
        const char *best = closest_name(call->str, providers, bind_names_len(providers));
        if (best) return bind_errn(b, call, "unknown provider '%s'; did you mean '%s'?", call->str, best);
        return bind_errn(b, call, "unknown provider '%s' (openai, anthropic, gemini, vertex, openrouter, cohere; any OpenAI-compatible server is openai(..., base_url: \"...\"))", call->str);
    }
    if (n->flag == 0 && !strcmp(call->str, "cohere"))
        return bind_errn(b, call, "cohere is supported for embedding models only (`embedding model NAME = cohere(...)`)");
    if (call->nkids < 1 || call->kids[0]->kind != N_STRING)
        return bind_errn(b, call, "%s() needs the model name as its first argument: %s(\"model-name\", ...)", call->str, call->str);
    Type *st = type_struct_new(call->nkids - 1);
    for (int i = 1; i < call->nkids; i++) { st->fields[i - 1].name = xstrdup(call->kids[i]->kind == N_NAMED ? call->kids[i]->str : "?"); st->fields[i - 1].type = type_any(); }
    Value opts = v_struct_new(st);
    type_unref(st);
    for (int i = 1; i < call->nkids; i++) {
        const Node *k = call->kids[i];
        if (k->kind != N_NAMED) { value_free(opts); return bind_errn(b, k, "model options are named: %s(\"model\", rpm: 500, ...)", call->str); }
        int known = 0;
        for (int j = 0; model_options[j]; j++)
            if (!strcmp(model_options[j], k->str)) known = 1;
        if (!known) {
            const char *best = closest_name(k->str, model_options, bind_names_len(model_options));
            value_free(opts);
            if (best) return bind_errn(b, k, "unknown model option '%s'; did you mean '%s'?", k->str, best);
            return bind_errn(b, k, "unknown model option '%s'", k->str);
        }
        Value v;
        if (bind_const_value(b, k->a, &v)) { value_free(opts); return -1; }
        if (check_cost_option(b, n, k, v)) { value_free(v); value_free(opts); return -1; }
        static const char *const numeric[] = { "rpm", "tpm", "input_tpm", "output_tpm", "max_concurrency", "timeout",
                                               "max_retries", "temperature", "max_output_tokens", "dimensions", "price_in",
                                               "price_out", "context_window", "seed", "cached_price_in",
                                               "batch_max_requests", "batch_max_bytes", NULL };
        for (int j = 0; numeric[j]; j++)
            if (!strcmp(numeric[j], k->str) && v.kind != V_INT && v.kind != V_FLOAT) {
                value_free(v); value_free(opts);
                return bind_errn(b, k->a, "model option '%s' takes a number", k->str);
            }
        if (!strcmp(k->str, "tier")) {   /* OpenAI's service tiers (models.c) */
            int flex = v.kind == V_STRING && !strcmp(v_str(v), "flex");
            if (!flex && !(v.kind == V_STRING && !strcmp(v_str(v), "standard"))) {
                value_free(v); value_free(opts);
                return bind_errn(b, k->a, "model option 'tier' takes \"flex\" or \"standard\"");
            }
            if (flex && strcmp(call->str, "openai")) {
                value_free(v); value_free(opts);
                return bind_errn(b, k->a, "tier: \"flex\" is OpenAI's flex processing; provider %s has no flex tier (remove it, "
                                          "or use batch: true for the Batch API's half price)", call->str);
            }
        }
        if ((v.kind == V_INT && v.u.i < 0) || (v.kind == V_FLOAT && v.u.f < 0)) {
            value_free(v); value_free(opts);
            return bind_errn(b, k->a, "model option '%s' cannot be negative", k->str);
        }
        opts.u.st->fields[i - 1] = v;
    }
    ModelDecl *m = catalog_find_model(b->cat, n->str);
    if (!m) {
        m = xcalloc(1, sizeof *m);
        m->alias = xstrdup(n->str);
        ModelDecl **tail = &b->cat->models;
        while (*tail) tail = &(*tail)->next;
        *tail = m;
    } else {
        free(m->provider); free(m->model_name); node_free(m->options); value_free(m->opts);
    }
    m->embedding = n->flag;
    m->provider = xstrdup(call->str);
    m->model_name = xstrdup(call->kids[0]->str);
    m->options = node_clone(call);
    m->opts = opts;
    return 0;
}

static void add_stmt(Stmt ***stmts, int *n, Stmt *st)
{
    *stmts = xrealloc(*stmts, (size_t)(*n + 1) * sizeof **stmts);
    (*stmts)[(*n)++] = st;
}

void stmt_free(Stmt *st)
{
    if (!st) return;
    plan_free(st->plan);
    free(st->set_name);
    free(st->text);
    free(st->table);
    node_free(st->rest);
    value_free(st->set_value);
    free(st);
}

static int run_import(Binder *b, const Node *n, Stmt ***stmts, int *nstmts);

static int bind_statement(Binder *b, const Node *n, Stmt ***stmts, int *nstmts, int declarations_only)
{
    Catalog *cat = b->cat;
    switch (n->kind) {
    case N_MODEL: return bind_model(b, n);
    case N_DEFAULT: {
        ModelDecl *m = catalog_find_model(cat, n->str);
        if (!m) {
            const char *cands[64];
            int k = 0;
            for (ModelDecl *d = cat->models; d && k < 64; d = d->next) cands[k++] = d->alias;
            const char *best = closest_name(n->str, cands, (size_t)k);
            if (best) return bind_errn(b, n, "unknown model '%s'; did you mean '%s'?", n->str, best);
            return bind_errn(b, n, "unknown model '%s' (declare it first with `model %s = ...;`)", n->str, n->str);
        }
        if (m->embedding != n->flag)
            return bind_errn(b, n, "'%s' is %s model; use `default %smodel %s`", n->str, m->embedding ? "an embedding" : "a language",
                             m->embedding ? "embedding " : "", n->str);
        char **slot = n->flag ? &cat->default_embedding : &cat->default_model;
        free(*slot);
        *slot = xstrdup(n->str);
        return 0;
    }
    case N_TYPEDECL: {
        Type *t = bind_type(cat, n->a, b->err);
        if (!t) return -1;
        TypeDef *td = catalog_find_type(cat, n->str);
        if (!td) {
            td = xcalloc(1, sizeof *td);
            td->name = xstrdup(n->str);
            td->next = cat->types;
            cat->types = td;
        } else type_unref(td->type);
        if (!t->name && t->kind == TY_STRUCT && t->refcnt == 1) t->name = xstrdup(n->str);
        td->type = t;
        return 0;
    }
    case N_LET: {
        char **quals = NULL;
        Plan *p = bind_pipeline(b, n->a, &quals);
        if (!p) return -1;
        bind_quals_free(quals, p->schema->n);
        if (p->kind == P_WRITE) {
            plan_free(p);
            return bind_errn(b, n, "a let pipeline cannot end in write (write it in a statement of its own)");
        }
        LetDef *l = catalog_find_let(cat, n->str);
        if (!l) {
            l = xcalloc(1, sizeof *l);
            l->name = xstrdup(n->str);
            l->next = cat->lets;
            cat->lets = l;
        } else { plan_free(l->plan); plan_free(l->cached); l->uses = 0; }
        l->plan = p;
        l->cached = plan_new(P_CACHE, plan_ref(p), n);
        l->cached->schema = schema_copy(p->schema);
        l->cached->let_uses = &l->uses;
        l->cached->let_name = l->name;
        l->src = n->src;
        l->pos = n->pos;
        return 0;
    }
    case N_FN: {
        FnDef *f = catalog_find_fn(cat, n->str);
        if (func_lookup(n->str) || agg_lookup(n->str) || semop_reserved(n->str))
            return bind_errn(b, n, "fn %s: a built-in function has that name", n->str);
        int is_reader = 0;
        bind_reader_format(n->str, &is_reader);
        if (n->flag && (is_reader || !strcmp(n->str, "table")))
            return bind_errn(b, n, "fn %s: a reader (a source such as csv(...)) has that name", n->str);
        for (int i = 0; i < n->nkids; i++)
            for (int j = 0; j < i; j++)
                if (!strcmp(n->kids[i]->str, n->kids[j]->str)) return bind_errn(b, n->kids[i], "fn %s: parameter '%s' appears twice", n->str, n->kids[i]->str);
        for (int i = 1; i < n->nkids; i++)
            if (n->kids[i - 1]->a && !n->kids[i]->a)
                return bind_errn(b, n->kids[i], "fn %s: parameter '%s' needs a default too (it follows one that has a default)", n->str, n->kids[i]->str);
        /* declared types, and defaults that fit them, before the catalog changes */
        Type **ptypes = xcalloc((size_t)n->nkids + 1, sizeof *ptypes);
        for (int i = 0; i < n->nkids; i++) {
            const Node *pk = n->kids[i];
            if (pk->b && !(ptypes[i] = bind_type(cat, pk->b, b->err))) goto fn_fail;
            if (ptypes[i] && pk->a && bind_fn_arg_check(b, n->str, pk->str, ptypes[i], pk->a, NULL)) goto fn_fail;
        }
        if (!f) {
            f = xcalloc(1, sizeof *f);
            f->name = xstrdup(n->str);
            f->next = cat->fns;
            cat->fns = f;
        } else catalog_fn_clear(f);
        f->nparams = n->nkids;
        f->params = xcalloc((size_t)n->nkids + 1, sizeof *f->params);
        f->defaults = xcalloc((size_t)n->nkids + 1, sizeof *f->defaults);
        f->ptypes = ptypes;
        for (int i = 0; i < n->nkids; i++) {
            f->params[i] = xstrdup(n->kids[i]->str);
            f->defaults[i] = n->kids[i]->a ? node_clone(n->kids[i]->a) : NULL;
        }
        f->body = node_clone(n->a);
        f->pipeline = n->flag;
        f->doc = fn_doc_comment(n->src, n->pos);
        f->src = n->src;
        f->pos = n->pos;
        return 0;
    fn_fail:
        for (int i = 0; i < n->nkids; i++) type_unref(ptypes[i]);
        free(ptypes);
        return -1;
    }
    case N_IMPORT: return run_import(b, n, stmts, nstmts);
    case N_SET: {
        Value v;
        if (bind_const_value(b, n->a, &v)) return -1;
        char *msg = NULL;
        /* validate now (so a typo stops the script before anything runs); apply in order at run time */
        Runtime probe;
        memset(&probe, 0, sizeof probe);
        if (rt_set(&probe, n->str, value_copy(v), &msg)) {
            bind_errn(b, n, "%s", msg);
            free(msg);
            value_free(v);
            return -1;
        }
        /* an imported file's settings too: they apply in order when the statements run */
        Stmt *st = xcalloc(1, sizeof *st);
        st->kind = ST_SET;
        st->set_name = xstrdup(n->str);
        st->set_value = v;
        st->src = n->src;
        st->pos = n->pos;
        add_stmt(stmts, nstmts, st);
        return 0;
    }
    case N_RUN: case N_EXPLAIN: {
        char **quals = NULL;
        Plan *p = bind_pipeline(b, n->a, &quals);
        if (!p) return -1;
        bind_quals_free(quals, p->schema->n);
        if (declarations_only) { plan_free(p); return 0; }
        Stmt *st = xcalloc(1, sizeof *st);
        st->kind = n->kind == N_RUN ? ST_RUN : ST_EXPLAIN;
        st->explain_mode = n->flag;
        st->plan = p;
        st->text = n->src && n->end > n->pos && (size_t)n->end <= n->src->len ? xstrndup(n->src->text + n->pos, (size_t)(n->end - n->pos)) : NULL;
        st->src = n->src;
        st->pos = n->pos;
        add_stmt(stmts, nstmts, st);
        return 0;
    }
    case N_SAVE: {
        char **quals = NULL;
        Plan *p = bind_pipeline(b, n->a, &quals);
        if (!p) return -1;
        bind_quals_free(quals, p->schema->n);
        if (p->kind == P_WRITE) { plan_free(p); return bind_errn(b, n, "save takes a pipeline that does not end in write"); }
        if (declarations_only) { plan_free(p); return 0; }
        Stmt *st = xcalloc(1, sizeof *st);
        st->kind = ST_SAVE;
        st->plan = p;
        st->table = xstrdup(n->str);
        st->text = n->src && n->end > n->pos && (size_t)n->end <= n->src->len ? xstrndup(n->src->text + n->pos, (size_t)(n->end - n->pos)) : NULL;
        st->src = n->src;
        st->pos = n->pos;
        add_stmt(stmts, nstmts, st);
        return 0;
    }
    case N_DROP_TABLE: {
        if (declarations_only) return 0;
        Stmt *st = xcalloc(1, sizeof *st);
        st->kind = ST_DROP_TABLE;
        st->table = xstrdup(n->str);
        st->src = n->src;
        st->pos = n->pos;
        add_stmt(stmts, nstmts, st);
        return 0;
    }
    default:
        return bind_errn(b, n, "expected a statement");
    }
}

static int read_file(const char *path, char **text, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return -1;
    Buf buf;
    buf_init(&buf);
    char tmp[65536];
    size_t k;
    while ((k = fread(tmp, 1, sizeof tmp, f)) > 0) buf_append(&buf, tmp, k);
    fclose(f);
    *len = buf.len;
    *text = buf_take(&buf);
    return 0;
}

/* import "path.fql" (relative to the importing file) or import std.NAME (from stdlib/): runs the
 * file's declarations (models, types, fns, lets, defaults, settings); its pipelines that would print
 * are checked but not run. */
static int run_import(Binder *b, const Node *n, Stmt ***stmts, int *nstmts)
{
    Catalog *cat = b->cat;
    char path[2 * PATH_MAX + 16], dir[PATH_MAX];
    if (n->flag) {
        snprintf(path, sizeof path, "%s/std.%s.fql", cat->stdlib_dir ? cat->stdlib_dir : "stdlib", n->str);
        if (access(path, R_OK) != 0) {
            char alt[PATH_MAX];
            snprintf(alt, sizeof alt, "%s/%s.fql", cat->stdlib_dir ? cat->stdlib_dir : "stdlib", n->str);
            if (access(alt, R_OK) == 0) snprintf(path, sizeof path, "%s", alt);
            else return bind_errn(b, n, "no standard module std.%s (looked in %s)", n->str, cat->stdlib_dir ? cat->stdlib_dir : "stdlib");
        }
    } else if (n->str[0] == '/') {
        snprintf(path, sizeof path, "%s", n->str);
    } else {
        const char *d = src_dir(n->src, dir, sizeof dir);
        if (d) snprintf(path, sizeof path, "%s/%s", d, n->str);
        else snprintf(path, sizeof path, "%s", n->str);
    }
    char real[PATH_MAX];
    if (!realpath(path, real)) return bind_errn(b, n, "cannot import '%s': file not found (imports are relative to the importing file)", n->str);
    for (int i = 0; i < cat->nimports; i++)
        if (!strcmp(cat->imports[i], real)) {
            Buf chain;
            buf_init(&chain);
            for (int j = i; j < cat->nimports; j++) buf_printf(&chain, "%s -> ", cat->imports[j]);
            buf_puts(&chain, real);
            bind_errn(b, n, "import cycle: %s", chain.data);
            buf_free(&chain);
            return -1;
        }
    if (cat->nimports >= CATALOG_MAX_IMPORTS) return bind_errn(b, n, "imports nested too deeply");
    char *text;
    size_t len;
    if (read_file(real, &text, &len)) return bind_errn(b, n, "cannot read '%s'", path);
    Src *src = catalog_add_src(cat, n->flag ? path : path, real, text, len);
    free(text);
    Node *prog = parse_program(src, b->err);
    if (!prog) return -1;
    cat->imports[cat->nimports++] = xstrdup(real);
    int rc = 0;
    for (int i = 0; i < prog->nkids && rc == 0; i++)
        rc = bind_statement(b, prog->kids[i], stmts, nstmts, 1);
    free(cat->imports[--cat->nimports]);
    node_free(prog);
    return rc;
}

/* Statement i of prog reads what an earlier statement writes: it and the statements after it move
 * (out of prog) into an ST_DEFER, bound when the ones before have run. The error its binding left
 * is cleared. Returns 0. */
static int defer_rest(Node *prog, int i, Stmt ***stmts, int *nstmts, fql_error *err)
{
    memset(err, 0, sizeof *err);
    Node *rest = node_new(N_PROGRAM, prog->src, prog->kids[i]->pos);
    for (int j = i; j < prog->nkids; j++) node_add(rest, prog->kids[j]);
    rest->end = prog->end;
    prog->nkids = i;
    Stmt *st = xcalloc(1, sizeof *st);
    st->kind = ST_DEFER;
    st->rest = rest;
    st->src = rest->kids[0]->src;
    st->pos = rest->kids[0]->pos;
    add_stmt(stmts, nstmts, st);
    return 0;
}

int bind_program(Catalog *cat, Node *prog, Stmt ***stmts, int *nstmts, fql_error *err)
{
    Binder b = { .cat = cat, .err = err, .semantic = bind_semantic, .reduce = bind_reduce,
                 .pipeline = bind_pipeline, .tmpl = bind_template };
    *stmts = NULL;
    *nstmts = 0;
    for (int i = 0; i < prog->nkids; i++) {
        /* a statement's text runs to the next statement (query_metrics records it) */
        Node *k = prog->kids[i];
        if (k->end <= k->pos && k->src) {
            int end = i + 1 < prog->nkids && prog->kids[i + 1]->src == k->src ? prog->kids[i + 1]->pos : (int)k->src->len;
            while (end > k->pos && strchr(" \t\r\n;", k->src->text[end - 1])) end--;
            k->end = end;
        }
        b.done = *stmts;
        b.ndone = *nstmts;
        b.can_defer = cat->nimports == 0;
        b.defer = 0;
        if (prog->kids[i]->src && prog->kids[i]->src->path && cat->nimports == 0) {
            /* a script file is the root of the import chain (a file importing itself is a cycle) */
            char real[PATH_MAX];
            if (realpath(prog->kids[i]->src->path, real)) {
                cat->imports[cat->nimports++] = xstrdup(real);
                b.can_defer = 1;
                int rc = bind_statement(&b, prog->kids[i], stmts, nstmts, 0);
                free(cat->imports[--cat->nimports]);
                if (rc && b.defer) return defer_rest(prog, i, stmts, nstmts, err);
                if (rc) return -1;
                continue;
            }
        }
        if (bind_statement(&b, prog->kids[i], stmts, nstmts, 0)) return b.defer ? defer_rest(prog, i, stmts, nstmts, err) : -1;
    }
    return 0;
}
