/* catalog.c: a session's declarations (catalog.h). */
#include <stdlib.h>
#include <string.h>
#include "catalog.h"

void catalog_free(Catalog *c)
{
    if (!c) return;
    for (LetDef *l = c->lets, *n; l; l = n) { n = l->next; free(l->name); plan_free(l->plan); plan_free(l->cached); free(l); }
    for (FnDef *f = c->fns, *n; f; f = n) {
        n = f->next;
        catalog_fn_clear(f);
        free(f->name);
        free(f);
    }
    for (TypeDef *t = c->types, *n; t; t = n) { n = t->next; free(t->name); type_unref(t->type); free(t); }
    for (ModelDecl *m = c->models, *n; m; m = n) {
        n = m->next;
        free(m->alias); free(m->provider); free(m->model_name); node_free(m->options); value_free(m->opts); free(m);
    }
    for (UdfDef *u = c->udfs, *n; u; u = n) { n = u->next; free(u->name); free(u); }
    for (Src *x = c->srcs, *n; x; x = n) { n = x->next; free(x->name); free(x->path); free(x->text); free(x); }
    for (int i = 0; i < c->nimports; i++) free(c->imports[i]);
    free(c->default_model);
    free(c->default_embedding);
    memset(c, 0, sizeof *c);
}

Src *catalog_add_src(Catalog *c, const char *name, const char *path, const char *text, size_t len)
{
    Src *x = xcalloc(1, sizeof *x);
    x->name = xstrdup(name ? name : "<input>");
    x->path = path ? xstrdup(path) : NULL;
    x->text = xstrndup(text, len);
    x->len = len;
    x->next = c->srcs;
    c->srcs = x;
    return x;
}

LetDef *catalog_find_let(const Catalog *c, const char *name)
{
    for (LetDef *l = c->lets; l; l = l->next) if (!strcmp(l->name, name)) return l;
    return NULL;
}
FnDef *catalog_find_fn(const Catalog *c, const char *name)
{
    for (FnDef *f = c->fns; f; f = f->next) if (!strcmp(f->name, name)) return f;
    return NULL;
}
TypeDef *catalog_find_type(const Catalog *c, const char *name)
{
    for (TypeDef *t = c->types; t; t = t->next) if (!strcmp(t->name, name)) return t;
    return NULL;
}
ModelDecl *catalog_find_model(const Catalog *c, const char *alias)
{
    for (ModelDecl *m = c->models; m; m = m->next) if (!strcmp(m->alias, alias)) return m;
    return NULL;
}
UdfDef *catalog_find_udf(const Catalog *c, const char *name)
{
    for (UdfDef *u = c->udfs; u; u = u->next) if (!strcmp(u->name, name)) return u;
    return NULL;
}

const char *catalog_default_model(const Catalog *c, int embedding)
{
    const char *d = embedding ? c->default_embedding : c->default_model;
    if (d) return d;
    const char *sole = NULL;
    int n = 0;
    for (ModelDecl *m = c->models; m; m = m->next)
        if (m->embedding == embedding) { sole = m->alias; n++; }
    return n == 1 ? sole : NULL;
}

void catalog_fn_clear(FnDef *f)
{
    for (int i = 0; i < f->nparams; i++) {
        free(f->params[i]);
        node_free(f->defaults[i]);
        if (f->ptypes) type_unref(f->ptypes[i]);
    }
    free(f->params);
    free(f->defaults);
    free(f->ptypes);
    free(f->doc);
    node_free(f->body);
    f->params = NULL; f->defaults = NULL; f->ptypes = NULL; f->doc = NULL; f->body = NULL;
    f->nparams = 0;
    f->pipeline = 0;
}

char *catalog_fn_signature(const FnDef *f)
{
    Buf b;
    buf_init(&b);
    buf_printf(&b, "%s(", f->name);
    for (int i = 0; i < f->nparams; i++) {
        buf_printf(&b, "%s%s", i ? ", " : "", f->params[i]);
        if (f->ptypes && f->ptypes[i]) {
            char *t = type_to_string(f->ptypes[i]);
            buf_printf(&b, ": %s", t);
            free(t);
        }
        const Node *d = f->defaults[i];
        if (d && d->src && d->end > d->pos && (size_t)d->end <= d->src->len)
            buf_printf(&b, " = %.*s", d->end - d->pos, d->src->text + d->pos);
    }
    buf_puts(&b, ")");
    return buf_take(&b);
}
