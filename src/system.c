/* system.c: the system.* tables (system.h). The columns of each table are declared once here, in
 * `tables`; the rows of the metric tables come from the state database (state.c), those of
 * system.models from the Catalog. */
#include <string.h>
#include "system.h"
#include "catalog.h"
#include "state.h"

/* columns and their types: i int, f float, t timestamp, b bool, s string */
static const struct SystemTable {
    const char *name;
    const char *const *cols;
    const char *types;
} tables[] = {
    { "system.query_metrics",
      (const char *const[]){ "query_id", "statement", "started_at", "model", "provider", "model_name", "operator",
          "rows", "requests", "cache_hits", "retries", "rate_limited", "failures", "input_tokens", "cached_input_tokens",
          "cache_write_tokens", "output_tokens", "reasoning_tokens", "cost_usd", "queue_ms", "latency_ms", "latency_p95_ms",
          "execution_time_ms", "est_recall", "cascade_sample", "cascade_thresholds", "strong_share", "est_precision",
          "precision_bound", "recall_bound", "est_accuracy", "accuracy_bound", NULL },
      "istssssiiiiiiiiiiiffffffisffffff" },
    { "system.lm_calls",
      (const char *const[]){ "query_id", "call_id", "started_at", "model", "provider", "model_name", "operator",
          "status", "attempt", "cached", "input_tokens", "cached_input_tokens", "cache_write_tokens", "output_tokens",
          "reasoning_tokens", "cost_usd", "provider_cost_usd", "queue_ms", "latency_ms", "sent_at", "statement", "row",
          "request_key", NULL },
      "iitsssssiiiiiiifffftsis" },
    { "system.lm_errors", (const char *const[]){ "query_id", "row", "model", "kind", "message", NULL }, "iisss" },
    /* saved tables (save ... as table NAME): schema is the columns and their types as text */
    { "system.tables", (const char *const[]){ "name", "columns", "rows", "schema", "created_at", "statement", NULL }, "siists" },
    { "system.models",
      (const char *const[]){ "alias", "kind", "provider", "model_name", "is_default", "rpm", "tpm", "input_tpm",
          "output_tpm", "max_concurrency", "base_url", NULL },
      "ssssbiiiiis" },
};
enum { NTABLES = sizeof tables / sizeof tables[0] };

const char *const *system_table_names(void)
{
    static const char *names[NTABLES + 1];
    if (!names[0])
        for (int i = 0; i < NTABLES; i++) names[i] = tables[i].name;
    return names;
}

static const struct SystemTable *find(const char *name)
{
    for (int i = 0; i < NTABLES; i++)
        if (!strcmp(tables[i].name, name)) return &tables[i];
    return NULL;
}

Schema *system_schema(const char *name)
{
    const struct SystemTable *st = find(name);
    if (!st) return NULL;
    Schema *sc = schema_new();
    for (int i = 0; st->cols[i]; i++) {
        Type *t;
        switch (st->types[i]) {
        case 'i': t = type_int(); break;
        case 'f': t = type_float(); break;
        case 't': t = type_timestamp(); break;
        case 'b': t = type_bool(); break;
        default: t = type_string(); break;
        }
        schema_add(sc, st->cols[i], t);
    }
    return sc;
}

/* One row per declared model, with the limits its options set. */
static Table *models_table(const Catalog *cat, Schema *schema)
{
    Table *t = table_new(schema);
    Batch *b = batch_new(t->schema->n, 8);
    for (ModelDecl *m = cat ? cat->models : NULL; m; m = m->next) {
        Value row[11];
        row[0] = v_cstring(m->alias);
        row[1] = v_cstring(m->embedding ? "embedding" : "language");
        row[2] = v_cstring(m->provider);
        row[3] = v_cstring(m->model_name);
        const char *def = catalog_default_model(cat, m->embedding);
        row[4] = v_bool(def && !strcmp(def, m->alias));
        static const char *const opt[] = { "rpm", "tpm", "input_tpm", "output_tpm", "max_concurrency", "base_url" };
        for (int k = 0; k < 6; k++) {
            Value v = v_null();
            Struct *st = m->opts.kind == V_STRUCT ? m->opts.u.st : NULL;
            for (uint32_t f = 0; st && f < st->n; f++)
                if (!strcmp(st->type->fields[f].name, opt[k])) v = value_copy(st->fields[f]);
            if (k < 5 && v.kind == V_FLOAT) v = v_int((int64_t)v.u.f);
            if (k < 5 && v.kind != V_INT) { value_free(v); v = v_null(); }
            if (k == 5 && v.kind != V_STRING) { value_free(v); v = v_null(); }
            row[5 + k] = v;
        }
        batch_push_row(b, row);
    }
    table_add_batch(t, b);
    return t;
}

Table *system_table(Runtime *rt, const char *name)
{
    if (!strncmp(name, "table:", 6)) return state_table_get(rt_state_if_exists(rt), name + 6);   /* from table("NAME") */
    Schema *schema = system_schema(name);
    if (!schema) return NULL;
    if (!strcmp(name, "system.models")) return models_table(rt->cat, schema);
    return state_system_table(rt_state_if_exists(rt), name, schema);
}
