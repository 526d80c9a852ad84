/* bind_semantic.c: the binder's semantic operator calls: each operator's arguments type-checked,
 * model aliases (and model: expressions) checked against the declared models, reduce (the semantic
 * aggregate), and the default-embedding helper that cluster, sim join and semantic join use.
 */
#include <stdlib.h>
#include <math.h>
#include <string.h>
#include "bind_int.h"
#include "models.h"
#include "media.h"

/* reduce("instruction", x [, order_by: e, model: m]): an aggregate whose arguments are bound as
 * (instruction, x, order key or null, model alias); semantic_reduce runs it (exec.c). */
Expr *bind_reduce(Binder *b, Scope *sc, const Node *n)
{
    if (!sc->in_agg) { bind_errn(b, n, "reduce() is an aggregate: use it in an `agg` list (group by ... agg x = reduce(...))"); return NULL; }
    const Node *instr = NULL, *val = NULL, *ord = NULL, *model = NULL;
    int npos = 0;
    for (int i = 0; i < n->nkids; i++) {
        const Node *k = n->kids[i];
        if (k->kind != N_NAMED) {
            if (npos == 0) instr = k; else if (npos == 1) val = k;
            npos++;
        } else if (!strcmp(k->str, "order_by")) ord = k->a;
        else if (!strcmp(k->str, "model")) model = k->a;
        else { bind_errn(b, k, "reduce() has no option '%s' (options: order_by, model)", k->str); return NULL; }
    }
    if (npos != 2) { bind_errn(b, n, "reduce takes 2 positional arguments (\"instruction\", value), got %d", npos); return NULL; }
    if (instr->kind != N_STRING) { bind_errn(b, instr, "reduce's instruction must be a string literal"); return NULL; }
    const char *alias = model ? (model->kind == N_STRING || model->kind == N_IDENT ? model->str : NULL) : catalog_default_model(b->cat, 0);
    if (!alias) {
        bind_errn(b, model ? model : n, model ? "reduce's model: takes a model alias" : "reduce() needs a model: declare one, or give model: NAME");
        return NULL;
    }
    ModelDecl *md = catalog_find_model(b->cat, alias);
    if (!md || md->embedding) { bind_errn(b, model ? model : n, "unknown language model '%s'", alias); return NULL; }
    AggCall ac = { agg_lookup(semop_desc(SEM_REDUCE)->name), NULL, 0, 0, type_string(), SEM_REDUCE };
    ac.args = xcalloc(5, sizeof *ac.args);
    ac.args[0] = bind_lit_expr(v_cstring(instr->str), type_string(), instr);
    sc->inside_agg = 1;
    ac.args[1] = bind_expr(b, sc, val);
    ac.args[2] = ord ? bind_expr(b, sc, ord) : bind_lit_expr(v_null(), type_null(), n);
    sc->inside_agg = 0;
    ac.args[3] = bind_lit_expr(v_cstring(alias), type_string(), model ? model : n);
    ac.nargs = 4;
    if (ac.args[1] && bind_media_kinds(ac.args[1])) {   /* its prompts pack many texts; media parts are not carried */
        bind_errn(b, val, "reduce() takes text, not images or audio: describe each first, e.g. reduce(\"...\", map(\"Describe {{col}}\"))");
        expr_free(ac.args[1]);
        ac.args[1] = NULL;
    }
    if (!ac.args[1] || !ac.args[2]) {
        for (int j = 0; j < 4; j++) expr_free(ac.args[j]);
        free(ac.args);
        type_unref(ac.type);
        return NULL;
    }
    return bind_agg_ref(sc, ac, type_string(), n);
}

/* alias (or alias.profile) names a declared model of the kind operator op needs. 0, or -1 with
 * the error at src/pos. */
static int check_alias(Binder *b, const Src *src, int pos, const char *name, const char *op, int embedding)
{
    char *alias = xstrdup(name), *dot = strchr(alias, '.');
    if (dot) *dot = 0;
    ModelDecl *md = catalog_find_model(b->cat, alias);
    int rc = 0;
    if (!md) {
        const char *cands[64];
        int q = 0;
        for (ModelDecl *d = b->cat->models; d && q < 64; d = d->next) cands[q++] = d->alias;
        const char *best = closest_name(alias, cands, (size_t)q);
        if (best) rc = err_at(b->err, FQL_ERR_TYPE, src, pos, "unknown model '%s'; did you mean '%s'?", alias, best);
        else rc = err_at(b->err, FQL_ERR_TYPE, src, pos, "unknown model '%s' (declare it with `model %s = openai(\"...\")`)", alias, alias);
    } else if (md->embedding != embedding) {
        rc = err_at(b->err, FQL_ERR_TYPE, src, pos, "'%s' is %s model; %s() needs %s model", alias,
                    md->embedding ? "an embedding" : "a language", op, embedding ? "an embedding" : "a language");
    }
    free(alias);
    return rc;
}

/* A model: expression chooses an alias per row. Every result it can give that is known before the
 * run is checked against the declared models here: alias literals (`if(length(text) < 8000, "fast",
 * "long")`, a case, a coalesce), an enum's labels, and a column computed by such an expression
 * (derive model_to_use = case ... end), looked through to its definition. A column whose values
 * come from the data can only be checked per row: a row naming no declared model is a row error
 * (semantic.c). Results must be strings. 0, or -1 with an error. */
static int check_model_expr(Binder *b, const Scope *sc, const Node *v, const Expr *e, const char *op, int embedding, int depth)
{
    const Expr *lits[32];
    int n = route_candidates(e, lits, 32);
    if (n > 32) return bind_errn(b, v, "model: has %d candidate aliases; at most 32", n);
    for (int i = 0; i < n; i++) {
        const Expr *c = lits[i];
        if (c->kind == E_LIT && c->lit.kind == V_STRING) {
            if (check_alias(b, c->src, c->pos, v_str(c->lit), op, embedding)) return -1;
            continue;
        }
        if (c->kind == E_LIT && c->lit.kind == V_NULL) continue;   /* null: the row gets null, no request */
        if (c->type->kind == TY_ENUM) {
            for (int k = 0; k < c->type->nlabels; k++)
                if (check_alias(b, v->src, v->pos, c->type->labels[k], op, embedding)) return -1;
            continue;
        }
        if (c->type->kind != TY_STRING && c->type->kind != TY_NULL && c->type->kind != TY_ANY) {
            char *ts = bind_tystr(c->type);
            int rc = bind_errn(b, v, "model: takes a model alias (a string); this expression gives %s", ts);
            free(ts);
            return rc;
        }
        Scope csc;
        const Expr *def = c->kind == E_COL && depth < 16 ? bind_col_definition(sc, (int)c->ival, &csc) : NULL;
        if (def && check_model_expr(b, &csc, v, def, op, embedding, depth + 1)) return -1;
    }
    return 0;
}

/* cascade: {model: strong, precision: 0.9, recall: 0.9} (predicate) or {model: strong, accuracy:
 * 0.95} (classify), with sample: N and delta: D: checked, and made the literal struct the runtime
 * reads (cascade.c, cascade_spec). NULL with an error. */
static Expr *bind_cascade(Binder *b, const Node *v, const char *op, int sem)
{
    const char *targets = sem == SEM_PREDICATE ? "precision: and/or recall:" : "accuracy:";
    if (v->kind != N_STRUCT_LIT) {
        bind_errn(b, v, "cascade: takes {model: STRONG, %s TARGET [, sample: N, delta: D]}, e.g. cascade: {model: strong, %s}", targets,
                  sem == SEM_PREDICATE ? "precision: 0.9, recall: 0.9" : "accuracy: 0.95");
        return NULL;
    }
    Type *t = type_struct_new(v->nkids);
    Value vals[8];
    int nf = 0, ntarget = 0, has_model = 0;
    for (int i = 0; i < v->nkids && i < 8; i++) {
        const Node *k = v->kids[i], *x = k->a;
        const char *f = k->str;
        int target = !strcmp(f, "precision") || !strcmp(f, "recall") || !strcmp(f, "accuracy");
        int fits = target ? (sem == SEM_PREDICATE ? strcmp(f, "accuracy") != 0 : !strcmp(f, "accuracy"))
                          : !strcmp(f, "model") || !strcmp(f, "sample") || !strcmp(f, "delta");
        for (int j = 0; j < nf; j++)
            if (!strcmp(t->fields[j].name, f)) { bind_errn(b, k, "cascade: gives '%s' twice", f); goto fail; }
        if (!fits) {
            bind_errn(b, k, "cascade: of %s() has no field '%s' (fields: model, %s sample, delta)", op, f,
                      sem == SEM_PREDICATE ? "precision, recall," : "accuracy,");
            goto fail;
        }
        double num = x->kind == N_FLOAT ? x->fval : x->kind == N_INT ? (double)x->ival : NAN;
        Value val;
        Type *ft;
        if (!strcmp(f, "model")) {
            const char *alias = x->kind == N_IDENT || x->kind == N_STRING ? x->str : NULL;
            if (!alias) { bind_errn(b, x, "cascade: model: takes the strong model's alias, e.g. model: strong"); goto fail; }
            if (check_alias(b, x->src, x->pos, alias, op, 0)) goto fail;
            val = v_cstring(alias);
            ft = type_string();
            has_model = 1;
        } else if (!strcmp(f, "sample")) {
            if (x->kind != N_INT || x->ival < 1) { bind_errn(b, x, "cascade: sample: takes a number of rows (1 or more; default 200)"); goto fail; }
            val = v_int(x->ival);
            ft = type_int();
        } else {
            if (isnan(num) || num <= 0 || num >= 1) {
                bind_errn(b, x, "cascade: %s: takes a number between 0 and 1 (exclusive), e.g. %s", f, !strcmp(f, "delta") ? "0.05" : "0.9");
                goto fail;
            }
            val = v_float(num);
            ft = type_float();
            ntarget += target;
        }
        t->fields[nf].name = xstrdup(f);
        t->fields[nf].type = ft;
        vals[nf++] = val;
    }
    if (!has_model) { bind_errn(b, v, "cascade: needs the strong model: cascade: {model: STRONG, %s TARGET}", targets); goto fail; }
    if (!ntarget) { bind_errn(b, v, "cascade: needs a target for %s(): %s (e.g. 0.9)", op, targets); goto fail; }
    t->nfields = nf;
    Value sv = v_struct_new(t);
    for (int i = 0; i < nf; i++) sv.u.st->fields[i] = vals[i];
    Expr *lit = bind_lit_expr(sv, t, v);
    return lit;
fail:
    for (int j = 0; j < nf; j++) value_free(vals[j]);
    t->nfields = nf;
    type_unref(t);
    return NULL;
}

/* The media kinds (MEDIA_IMAGE, MEDIA_AUDIO bits) expression x carries: an image()/audio() value,
 * or {{col}} of a media column in a template. */
int bind_media_kinds(const Expr *x)
{
    if (!x) return 0;
    int k = media_kind_of_type(x->type);
    if (x->kind == E_CALL && x->fn && !strcmp(x->fn->name, "__attach") && x->nargs == 1) k |= media_kind_of_type(x->args[0]->type);
    for (int i = 0; i < x->nargs; i++) k |= bind_media_kinds(x->args[i]);
    return k;
}

/* A call whose input carries images or audio must name models that take them: each literal alias
 * of its model: is checked against the catalog's vision/audio flags and the declaration's options
 * (media.c), so the error comes before anything runs. 0, or -1 with the error at n. */
static int check_media(Binder *b, const Node *n, const Expr *e)
{
    const Expr *in = NULL;
    for (int i = 0; i < e->nargs && !in; i++) if (!e->argnames || !e->argnames[i]) in = e->args[i];
    int kinds = bind_media_kinds(in);
    if (!kinds) return 0;
    const Expr *mx = expr_arg(e, "model");
    const Expr *lits[32];
    int nl = mx ? route_candidates(mx, lits, 32) : 0;
    const char *given = kinds & MEDIA_AUDIO ? (kinds & MEDIA_IMAGE ? "images and audio" : "audio") : "an image";
    for (int i = 0; i < nl && i < 32; i++) {
        if (lits[i]->kind != E_LIT || lits[i]->lit.kind != V_STRING) continue;
        char *alias = xstrdup(v_str(lits[i]->lit)), *dot = strchr(alias, '.');
        if (dot) *dot = 0;
        ModelDecl *md = catalog_find_model(b->cat, alias);
        /* the alias, then its fallbacks (route.c hands them the same request) */
        Value fb = v_null();
        if (md && md->opts.kind == V_STRUCT)
            for (uint32_t f = 0; f < md->opts.u.st->n; f++)
                if (!strcmp(md->opts.u.st->type->fields[f].name, "fallback")) fb = md->opts.u.st->fields[f];
        uint32_t nfb = fb.kind == V_LIST ? fb.u.l->n : fb.kind == V_STRING ? 1 : 0;
        for (uint32_t f = 0; md && f <= nfb; f++) {
            Value fa = f == 0 ? v_null() : fb.kind == V_LIST ? fb.u.l->items[f - 1] : fb;
            if (f > 0 && fa.kind != V_STRING) continue;
            ModelDecl *d = f == 0 ? md : catalog_find_model(b->cat, v_str(fa));
            if (!d) continue;
            char *no = media_refusal(d->alias, d->provider, d->model_name,
                                     media_caps_decl(b->cat->stdlib_dir, d->provider, d->model_name, d->embedding, d->opts), kinds);
            if (no) {
                if (f == 0) bind_errn(b, n, "%s() is given %s: %s", e->name, given, no);
                else bind_errn(b, n, "%s() is given %s, and '%s' falls back to '%s': %s", e->name, given, alias, d->alias, no);
                free(no);
                free(alias);
                return -1;
            }
        }
        free(alias);
    }
    return 0;
}

/* Semantic operators: type-checked here, run by the provider runtime (semantic.c). Named arguments
 * keep their names (Expr.argnames); classify's labels and examples become literal arguments. */
Expr *bind_semantic(Binder *b, Scope *sc, const Node *n)
{
    const char *name = n->str;
    const SemOpDesc *d = bind_semantic_op(name);
    SemOp op = d->op;
    int embedding = d->embedding;
    int npos = 0;
    while (npos < n->nkids && n->kids[npos]->kind != N_NAMED) npos++;
    int want_pos = d->npos;
    if (npos != want_pos) {
        bind_errn(b, n, "%s takes %d positional argument%s, got %d", name, want_pos, want_pos == 1 ? "" : "s", npos);
        return NULL;
    }
    static const char *const common[] = { "model", "temperature", "max_output_tokens", "timeout", "instructions", "examples",
                                          "schema", "metric", "pack", "page_separator", "describe_images", "cascade", NULL };
    int pdf = op == SEM_PARSE_PDF, describes = 0;
    Type *rt = NULL;
    int has_model = 0;
    Expr *e = expr_new(E_SEMANTIC, NULL, n);
    e->name = xstrdup(name);
    e->sem = op;
    for (int i = 0; i < n->nkids; i++) {
        const Node *k = n->kids[i];
        const Node *v = k->kind == N_NAMED ? k->a : k;
        const char *an = k->kind == N_NAMED ? k->str : NULL;
        if (an) {
            int known = 0;
            for (int j = 0; common[j]; j++) if (!strcmp(common[j], an)) known = 1;
            int fits = known && (strcmp(an, "schema") ? 1 : op == SEM_MAP) && (strcmp(an, "metric") ? 1 : op == SEM_SIMILARITY)
                       && (strcmp(an, "pack") ? 1 : d->packable)
                       && (strcmp(an, "cascade") ? 1 : op == SEM_PREDICATE || op == SEM_CLASSIFY)
                       && (strcmp(an, "page_separator") && strcmp(an, "describe_images") ? 1 : pdf) && (strcmp(an, "examples") ? 1 : !pdf);
            if (!fits) {
                const char *best = closest_name(an, common, bind_names_len(common));
                if (best && strcmp(best, an)) bind_errn(b, k, "%s() has no option '%s'; did you mean '%s'?", name, an, best);
                else bind_errn(b, k, "%s() has no option '%s'", name, an);
                goto fail;
            }
        }
        if (i == 1 && op == SEM_EXTRACT) {
            Node *tn = node_new(N_TYPE_NAME, k->src, k->pos);
            if (v->kind == N_IDENT) tn->str = xstrdup(v->str);
            Type *t = v->kind == N_IDENT ? bind_type(b->cat, tn, b->err) : NULL;
            node_free(tn);
            if (!t) {
                if (!err_failed(b->err)) bind_errn(b, v, "extract() needs a type name as its second argument (declare it with `type Name = {...}`)");
                goto fail;
            }
            if (t->kind != TY_STRUCT) { bind_errn(b, v, "extract() needs a struct type ({field: type, ...})"); type_unref(t); goto fail; }
            rt = t;
            continue;
        }
        if (i == 1 && op == SEM_CLASSIFY) {
            if (!(v->kind == N_LIST_LIT || v->kind == N_STRUCT_LIT) || v->nkids == 0) {
                bind_errn(b, v, "classify() takes its labels as a list [\"a\", \"b\"] or a struct {a: \"description\", ...}");
                goto fail;
            }
            char **labels = xcalloc((size_t)v->nkids, sizeof *labels);
            for (int j = 0; j < v->nkids; j++) {
                const Node *l = v->kids[j];
                int ok = v->kind == N_LIST_LIT ? l->kind == N_STRING : l->a->kind == N_STRING;
                if (!ok) {
                    for (int q = 0; q < j; q++) free(labels[q]);
                    free(labels);
                    bind_errn(b, l, v->kind == N_LIST_LIT ? "classify() labels must be string literals" : "a label's description must be a string literal");
                    goto fail;
                }
                labels[j] = xstrdup(l->str);
            }
            rt = type_enum_new(v->nkids, labels);
            Value lv;
            if (bind_const_value(b, v, &lv)) goto fail;
            expr_add_named(e, "labels", bind_lit_expr(lv, type_json(), v));
            continue;
        }
        if (an && !strcmp(an, "cascade")) {
            Expr *c = bind_cascade(b, v, name, op);
            if (!c) goto fail;
            expr_add_named(e, an, c);
            continue;
        }
        if (an && !strcmp(an, "describe_images")) {
            /* a literal: whether a model is needed is known before anything runs */
            if (v->kind != N_BOOL) { bind_errn(b, v, "describe_images: takes true or false"); goto fail; }
            describes = (int)v->ival;
            expr_add_named(e, an, bind_lit_expr(v_bool(describes), type_bool(), v));
            continue;
        }
        if (an && !strcmp(an, "model")) {
            has_model = 1;
            const char *alias = v->kind == N_IDENT ? v->str : (v->kind == N_FIELD && v->a->kind == N_IDENT) ? v->a->str : NULL;
            if (v->kind == N_STRING) alias = v->str;
            if (alias && (v->kind == N_STRING || bind_find_col(sc, NULL, alias) < 0)) {
                if (check_alias(b, v->src, v->pos, alias, name, embedding)) goto fail;
                char *full = v->kind == N_FIELD ? xasprintf("%s.%s", alias, v->str) : xstrdup(alias);
                expr_add_named(e, "model", bind_lit_expr(v_cstring(full), type_string(), v));
                free(full);
                continue;
            }
            /* otherwise an expression giving an alias per row, bound below */
        }
        if (an && !strcmp(an, "schema")) {
            Node *tn = node_new(N_TYPE_NAME, k->src, k->pos);
            if (v->kind == N_IDENT) tn->str = xstrdup(v->str);
            Type *t = v->kind == N_IDENT ? bind_type(b->cat, tn, b->err) : NULL;
            node_free(tn);
            if (!t) { if (!err_failed(b->err)) bind_errn(b, v, "map(schema: ...) needs a declared type name"); goto fail; }
            type_unref(rt);
            rt = t;
            continue;
        }
        if (an && !strcmp(an, "pack")) {
            int ok = (v->kind == N_INT && v->ival >= 1) || (v->kind == N_STRING && !strcmp(v->str, "auto"));
            if (!ok) { bind_errn(b, v, "pack: takes a number of rows per request (1 or more) or \"auto\""); goto fail; }
        }
        if (an && !strcmp(an, "examples")) {
            Value ev;
            if (bind_const_value(b, v, &ev)) goto fail;
            if (ev.kind != V_LIST) { value_free(ev); bind_errn(b, v, "examples: takes a list [{input: \"...\", output: \"...\"}, ...]"); goto fail; }
            expr_add_named(e, "examples", bind_lit_expr(ev, type_json(), v));
            continue;
        }
        Expr *a;
        if (!an && i == 0 && v->kind == N_STRING && (op == SEM_PREDICATE || op == SEM_MAP))
            a = bind_template(b, sc, v, v->str);
        else
            a = bind_expr(b, sc, v);
        if (!a) goto fail;
        int null_opt = an && a->kind == E_LIT && a->lit.kind == V_NULL;
        if (an && !strcmp(an, "model") && !null_opt && check_model_expr(b, sc, v, a, name, embedding, 0)) { expr_free(a); goto fail; }
        if (pdf && (!an || !strcmp(an, "page_separator")) && !type_is_stringish(a->type)) {
            char *ts = bind_tystr(a->type);
            bind_errn(b, v, an ? "page_separator: takes a string, got %s" : "parse_pdf() takes the path of a PDF (a string), got %s", ts);
            free(ts);
            expr_free(a);
            goto fail;
        }
        if (!an && op == SEM_SIMILARITY && !(a->type->kind == TY_VECTOR || a->type->kind == TY_LIST || a->type->kind == TY_NULL || a->type->kind == TY_ANY)) {
            char *ts = bind_tystr(a->type);
            bind_errn(b, v, "similarity() compares two vectors (from embed(...)), got %s", ts);
            free(ts);
            expr_free(a);
            goto fail;
        }
        if (null_opt) {   /* option: null = not given (fn defaults); model: null = the default model */
            if (!strcmp(an, "model")) has_model = 0;
            expr_free(a);
            continue;
        }
        expr_add_named(e, an, a);
    }
    if (!rt) {
        if (op == SEM_PREDICATE) rt = type_bool();
        else if (op == SEM_SIMILARITY) rt = type_float();
        else if (embedding) rt = type_vector(0);
        else rt = type_string();
    }
    if (op != SEM_SIMILARITY && !has_model && (!pdf || describes)) {
        if (!b->cat->models) {
            bind_errn(b, n, "%s() calls a model, but no %smodel is declared (add e.g. `%smodel %s = openai(\"%s\");`)", name,
                      embedding ? "embedding " : "", embedding ? "embedding " : "", embedding ? "vectors" : "fast",
                      embedding ? "text-embedding-3-small" : "gpt-4o-mini");
            goto fail;
        }
        const char *def = catalog_default_model(b->cat, embedding);
        if (!def) {
            bind_errn(b, n, "%s() names no model and there is no default %smodel: add `default %smodel NAME;` or pass model: NAME",
                      name, embedding ? "embedding " : "", embedding ? "embedding " : "");
            goto fail;
        }
        expr_add_named(e, "model", bind_lit_expr(v_cstring(def), type_string(), n));
    }
    e->type = rt;
    if (check_media(b, n, e)) { expr_free(e); return NULL; }
    return e;
fail:
    type_unref(rt);
    expr_free(e);
    return NULL;
}

/* embed(text) with the default embedding model, as embed() would be bound without model:.
 * Consumes text. */
Expr *bind_embed_default(Binder *b, Expr *text, const Node *at, const char *what)
{
    if (bind_media_kinds(text)) {
        expr_free(text);
        bind_errn(b, at, "%s embeds text, but is given an image or audio value: text embedding models take no media", what);
        return NULL;
    }
    const char *alias = catalog_default_model(b->cat, 1);
    if (!alias) {
        expr_free(text);
        bind_errn(b, at, "%s embeds text with the default embedding model, but there is none: declare one "
                         "(`embedding model vectors = openai(\"text-embedding-3-small\");`, and `default embedding model NAME;` "
                         "when there are several)", what);
        return NULL;
    }
    Expr *e = expr_new(E_SEMANTIC, type_vector(0), at);
    e->name = xstrdup(semop_desc(SEM_EMBED)->name);
    e->sem = SEM_EMBED;
    expr_add_named(e, NULL, text);
    expr_add_named(e, "model", bind_lit_expr(v_cstring(alias), type_string(), at));
    return e;
}
