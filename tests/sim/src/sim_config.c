/*
 * sim_config.c - fql-sim's configuration: the JSON document given by --config, flags and
 * POST /sim/config, compiled into per-model SimModelCfg records; and the built-in model table.
 *
 * The document (see tests/sim/README.md):
 *   {"default": {MODEL SETTINGS}, "models": {"NAME": {MODEL SETTINGS}, ...},
 *    "batch_delay_ms": N, "hang_s": N, "openrouter_credits": USD, "jwt_public_key": PEM,
 *    "jwt_public_key_file": PATH, "display_rpm": N, "display_tpm": N,
 *    "facts": FILE or {FACTS} (sim_facts.c)}
 * A model's settings are the default's, overridden field by field by its own entry.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "sim.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const SimModelInfo model_table[] = {
    /* id, provider, context, max output, embedding dim, $/M in, $/M out */
    {"gpt-4o", SIM_OPENAI, 128000, 16384, 0, 2.5, 10.0},
    {"gpt-4o-mini", SIM_OPENAI, 128000, 16384, 0, 0.15, 0.6},
    {"gpt-4.1", SIM_OPENAI, 1047576, 32768, 0, 2.0, 8.0},
    {"gpt-4.1-mini", SIM_OPENAI, 1047576, 32768, 0, 0.4, 1.6},
    {"gpt-4.1-nano", SIM_OPENAI, 1047576, 32768, 0, 0.1, 0.4},
    {"gpt-5", SIM_OPENAI, 400000, 128000, 0, 1.25, 10.0},
    {"gpt-5-mini", SIM_OPENAI, 400000, 128000, 0, 0.25, 2.0},
    {"gpt-5-nano", SIM_OPENAI, 400000, 128000, 0, 0.05, 0.4},
    {"text-embedding-3-small", SIM_OPENAI, 8192, 0, 1536, 0.02, 0},
    {"text-embedding-3-large", SIM_OPENAI, 8192, 0, 3072, 0.13, 0},
    {"text-embedding-ada-002", SIM_OPENAI, 8192, 0, 1536, 0.1, 0},
    {"claude-sonnet-4-5", SIM_ANTHROPIC, 200000, 64000, 0, 3.0, 15.0},
    {"claude-haiku-4-5", SIM_ANTHROPIC, 200000, 64000, 0, 1.0, 5.0},
    {"claude-opus-4-1", SIM_ANTHROPIC, 200000, 32000, 0, 15.0, 75.0},
    {"claude-3-5-haiku-latest", SIM_ANTHROPIC, 200000, 8192, 0, 0.8, 4.0},
    {"gemini-2.5-flash", SIM_GEMINI, 1048576, 65536, 0, 0.3, 2.5},
    {"gemini-2.5-flash-lite", SIM_GEMINI, 1048576, 65536, 0, 0.1, 0.4},
    {"gemini-2.5-pro", SIM_GEMINI, 1048576, 65536, 0, 1.25, 10.0},
    {"gemini-2.0-flash", SIM_GEMINI, 1048576, 8192, 0, 0.1, 0.4},
    {"text-embedding-004", SIM_GEMINI, 2048, 0, 768, 0.0, 0},
    {"gemini-embedding-001", SIM_GEMINI, 2048, 0, 3072, 0.15, 0},
    {"openai/gpt-4o", SIM_OPENROUTER, 128000, 16384, 0, 2.5, 10.0},
    {"openai/gpt-4o-mini", SIM_OPENROUTER, 128000, 16384, 0, 0.15, 0.6},
    {"anthropic/claude-sonnet-4.5", SIM_OPENROUTER, 200000, 64000, 0, 3.0, 15.0},
    {"google/gemini-2.5-flash", SIM_OPENROUTER, 1048576, 65536, 0, 0.3, 2.5},
    {"meta-llama/llama-3.3-70b-instruct", SIM_OPENROUTER, 131072, 16384, 0, 0.13, 0.4},
};
#define N_MODELS ((int)(sizeof model_table / sizeof model_table[0]))

/* Fallbacks for models the table does not know, one per provider. */
static SimModelInfo unknown_info[SIM_CONTROL + 1] = {
    {"", SIM_OPENAI, 128000, 16384, 0, 1.0, 2.0},
    {"", SIM_ANTHROPIC, 200000, 8192, 0, 1.0, 2.0},
    {"", SIM_GEMINI, 1048576, 8192, 0, 1.0, 2.0},
    {"", SIM_VERTEX, 1048576, 8192, 0, 1.0, 2.0},
    {"", SIM_OPENROUTER, 128000, 16384, 0, 1.0, 2.0},
    {"", SIM_CONTROL, 128000, 16384, 0, 1.0, 2.0},
};
static SimModelInfo unknown_embed[SIM_CONTROL + 1] = {
    {"", SIM_OPENAI, 8192, 0, 1536, 0.02, 0},
    {"", SIM_ANTHROPIC, 8192, 0, 1024, 0.02, 0},
    {"", SIM_GEMINI, 2048, 0, 768, 0.0, 0},
    {"", SIM_VERTEX, 2048, 0, 768, 0.0, 0},
    {"", SIM_OPENROUTER, 8192, 0, 1536, 0.02, 0},
    {"", SIM_CONTROL, 8192, 0, 1536, 0.02, 0},
};

/* Returns the built-in facts about model (borrowed, never NULL); "models/" prefixes are ignored
 * and unknown models get their provider's fallback (an embedding model when the name says so). */
const SimModelInfo *sim_model_info(const char *model, SimProvider p)
{
    if (!model) model = "";
    if (strncmp(model, "models/", 7) == 0) model += 7;
    for (int i = 0; i < N_MODELS; i++)
        if (strcmp(model_table[i].id, model) == 0) return &model_table[i];
    if (p < SIM_OPENAI || p > SIM_CONTROL) p = SIM_OPENAI;
    return strstr(model, "embed") ? &unknown_embed[p] : &unknown_info[p];
}

/* Returns the model table (borrowed) and its length in *n. */
const SimModelInfo *sim_model_table(int *n)
{
    *n = N_MODELS;
    return model_table;
}

/* ---- the configuration document ---- */

typedef struct NamedCfg { char *name; SimModelCfg cfg; } NamedCfg;

static pthread_mutex_t cfg_mu = PTHREAD_MUTEX_INITIALIZER;
static json_t *cfg_doc;          /* the merged document */
static SimModelCfg cfg_default;  /* compiled "default" */
static NamedCfg *cfg_models;     /* compiled "models" entries */
static int cfg_nmodels;

static const char *top_keys[] = {
    "default", "models", "batch_delay_ms", "hang_s", "openrouter_credits", "jwt_public_key",
    "jwt_public_key_file", "display_rpm", "display_tpm", "huge_mb", "facts", NULL,
};

typedef struct FieldDesc { const char *name; size_t off; int is_long; } FieldDesc;
#define FD(f, l) {#f, offsetof(SimModelCfg, f), l}
static const FieldDesc model_fields[] = {
    FD(rpm, 0), FD(tpm, 0), FD(input_tpm, 0), FD(output_tpm, 0), FD(latency_ms, 0),
    FD(jitter_ms, 0), FD(output_tps, 0), FD(context_window, 1), FD(max_output, 1),
    FD(quota_requests, 1), FD(quota_tokens, 1), {"embedding_dim", offsetof(SimModelCfg, embedding_dim), 2},
    FD(cache_min_tokens, 1), FD(flex_unavailable_n, 1), FD(flex_unavailable, 0),
    {NULL, 0, 0},
};

/* Applies a fault_rules list ([{"contains": TEXT, "fault": NAME}, ...], null = none) onto out.
 * Returns 0, or -1 with err filled. */
static int apply_rules(json_t *v, SimModelCfg *out, const char *where, char *err, size_t errsz)
{
    out->nrules = 0;
    if (json_is_null(v)) return 0;
    if (!json_is_array(v) || json_array_size(v) > SIM_MAX_RULES) {
        snprintf(err, errsz, "%s.fault_rules: expected a list of at most %d {\"contains\", \"fault\"} objects", where, SIM_MAX_RULES);
        return -1;
    }
    size_t i;
    json_t *r;
    json_array_foreach(v, i, r) {
        const char *text = json_string_value(json_object_get(r, "contains"));
        SimFault f = sim_fault_from_name(json_string_value(json_object_get(r, "fault")));
        if (!text || !*text || strlen(text) >= sizeof out->rule[0].contains || f == SIM_FAULT_NONE) {
            snprintf(err, errsz, "%s.fault_rules[%zu]: expected {\"contains\": non-empty text, \"fault\": a fault name}", where, i);
            return -1;
        }
        snprintf(out->rule[i].contains, sizeof out->rule[i].contains, "%s", text);
        out->rule[i].fault = f;
        out->nrules = (int)i + 1;
    }
    return 0;
}

/* Applies one model-settings object onto out. Returns 0, or -1 with err filled. */
static int apply_model(json_t *obj, SimModelCfg *out, const char *where, char *err, size_t errsz)
{
    if (!json_is_object(obj)) {
        snprintf(err, errsz, "%s: expected an object", where);
        return -1;
    }
    const char *k;
    json_t *v;
    json_object_foreach(obj, k, v) {
        if (strcmp(k, "fault_rules") == 0) {
            if (apply_rules(v, out, where, err, errsz) < 0) return -1;
            continue;
        }
        if (strcmp(k, "faults") == 0) {
            if (json_is_null(v)) { memset(out->fault, 0, sizeof out->fault); continue; }
            if (!json_is_object(v)) { snprintf(err, errsz, "%s.faults: expected an object", where); return -1; }
            const char *fk;
            json_t *fv;
            json_object_foreach(v, fk, fv) {
                SimFault f = sim_fault_from_name(fk);
                if (f == SIM_FAULT_NONE) { snprintf(err, errsz, "%s.faults: unknown fault '%s'", where, fk); return -1; }
                double r = json_is_null(fv) ? 0 : json_number_value(fv);
                if (!(json_is_number(fv) || json_is_null(fv)) || r < 0 || r > 1) {
                    snprintf(err, errsz, "%s.faults.%s: expected a rate in [0,1]", where, fk);
                    return -1;
                }
                out->fault[f] = r;
            }
            continue;
        }
        const FieldDesc *fd = model_fields;
        while (fd->name && strcmp(fd->name, k) != 0) fd++;
        if (!fd->name) { snprintf(err, errsz, "%s: unknown setting '%s'", where, k); return -1; }
        double x = json_is_null(v) ? 0 : json_number_value(v);
        if (!(json_is_number(v) || json_is_null(v)) || x < 0) {
            snprintf(err, errsz, "%s.%s: expected a non-negative number", where, k);
            return -1;
        }
        char *base = (char *)out + fd->off;
        if (fd->is_long == 1) *(long *)(void *)base = (long)x;
        else if (fd->is_long == 2) *(int *)(void *)base = (int)x;
        else *(double *)(void *)base = x;
    }
    return 0;
}

/* Compiles doc into a default and per-model records. Returns 0 or -1 with err filled; on
 * failure nothing is changed. Called with cfg_mu held. */
static int compile(json_t *doc, char *err, size_t errsz)
{
    const char *k;
    json_t *v;
    json_object_foreach(doc, k, v) {
        int ok = 0;
        for (int i = 0; top_keys[i]; i++) if (strcmp(top_keys[i], k) == 0) ok = 1;
        if (!ok) { snprintf(err, errsz, "unknown configuration key '%s'", k); return -1; }
    }
    SimModelCfg dflt;
    memset(&dflt, 0, sizeof dflt);
    json_t *d = json_object_get(doc, "default");
    if (d && !json_is_null(d) && apply_model(d, &dflt, "default", err, errsz) < 0) return -1;
    json_t *models = json_object_get(doc, "models");
    int n = (models && json_is_object(models)) ? (int)json_object_size(models) : 0;
    if (models && !json_is_null(models) && !json_is_object(models)) {
        snprintf(err, errsz, "models: expected an object");
        return -1;
    }
    NamedCfg *arr = calloc((size_t)n + 1, sizeof *arr);
    if (!arr) return -1;
    int i = 0;
    if (n) {
        json_object_foreach(models, k, v) {
            char where[200];
            snprintf(where, sizeof where, "models.%.150s", k);
            arr[i].cfg = dflt;
            arr[i].name = strdup(k);
            i++;
            if (apply_model(v, &arr[i - 1].cfg, where, err, errsz) < 0) {
                for (int j = 0; j < i; j++) free(arr[j].name);
                free(arr);
                return -1;
            }
        }
    }
    if (sim_facts_set(json_object_get(doc, "facts"), err, errsz) < 0) {   /* last check: it commits */
        for (int j = 0; j < i; j++) free(arr[j].name);
        free(arr);
        return -1;
    }
    for (int j = 0; j < cfg_nmodels; j++) free(cfg_models[j].name);
    free(cfg_models);
    cfg_models = arr;
    cfg_nmodels = i;
    cfg_default = dflt;
    return 0;
}

/* Loads file (may be NULL) and merges flags_default (borrowed, may be NULL) into its "default".
 * Returns 0 or -1 with err filled. */
int sim_config_init(const char *file, json_t *flags_default, char *err, size_t errsz)
{
    json_t *doc;
    if (file) {
        json_error_t je;
        doc = json_load_file(file, 0, &je);
        if (!doc) { snprintf(err, errsz, "%s:%d: %s", file, je.line, je.text); return -1; }
        if (!json_is_object(doc)) { snprintf(err, errsz, "%s: expected a JSON object", file); json_decref(doc); return -1; }
    } else {
        doc = json_object();
    }
    if (flags_default && json_object_size(flags_default)) {
        json_t *d = json_object_get(doc, "default");
        if (!json_is_object(d)) { d = json_object(); json_object_set_new(doc, "default", d); }
        json_object_update_recursive(d, flags_default);
    }
    pthread_mutex_lock(&cfg_mu);
    int rc = compile(doc, err, errsz);
    if (rc == 0) { json_decref(cfg_doc); cfg_doc = doc; }
    else json_decref(doc);
    pthread_mutex_unlock(&cfg_mu);
    return rc;
}

/* Merges obj (borrowed) into the configuration, or replaces it when replace is set.
 * Returns 0, or -1 with err filled and the configuration unchanged. */
int sim_config_update(json_t *obj, int replace, char *err, size_t errsz)
{
    if (!json_is_object(obj)) { snprintf(err, errsz, "expected a JSON object"); return -1; }
    pthread_mutex_lock(&cfg_mu);
    json_t *doc = replace ? json_deep_copy(obj) : json_deep_copy(cfg_doc);
    if (!replace) json_object_update_recursive(doc, obj);
    int rc = compile(doc, err, errsz);
    if (rc == 0) { json_decref(cfg_doc); cfg_doc = doc; }
    else json_decref(doc);
    pthread_mutex_unlock(&cfg_mu);
    return rc;
}

/* Returns a deep copy of the configuration document. */
json_t *sim_config_json(void)
{
    pthread_mutex_lock(&cfg_mu);
    json_t *c = json_deep_copy(cfg_doc ? cfg_doc : json_object());
    pthread_mutex_unlock(&cfg_mu);
    return c;
}

/* Copies the effective settings of model into *out (a "models/" prefix is ignored). */
void sim_config_model(const char *model, SimModelCfg *out)
{
    if (model && strncmp(model, "models/", 7) == 0) model += 7;
    pthread_mutex_lock(&cfg_mu);
    *out = cfg_default;
    for (int i = 0; model && i < cfg_nmodels; i++)
        if (strcmp(cfg_models[i].name, model) == 0) { *out = cfg_models[i].cfg; break; }
    pthread_mutex_unlock(&cfg_mu);
}

/* Returns the top-level number key, or dflt when absent. */
double sim_config_number(const char *key, double dflt)
{
    pthread_mutex_lock(&cfg_mu);
    json_t *v = cfg_doc ? json_object_get(cfg_doc, key) : NULL;
    double r = json_is_number(v) ? json_number_value(v) : dflt;
    pthread_mutex_unlock(&cfg_mu);
    return r;
}

/* Returns a malloc'd copy of the top-level string key, or NULL. */
char *sim_config_string(const char *key)
{
    pthread_mutex_lock(&cfg_mu);
    json_t *v = cfg_doc ? json_object_get(cfg_doc, key) : NULL;
    char *r = json_is_string(v) ? strdup(json_string_value(v)) : NULL;
    pthread_mutex_unlock(&cfg_mu);
    return r;
}

/* Frees the configuration (at exit). */
void sim_config_free(void)
{
    pthread_mutex_lock(&cfg_mu);
    json_decref(cfg_doc);
    cfg_doc = NULL;
    for (int j = 0; j < cfg_nmodels; j++) free(cfg_models[j].name);
    free(cfg_models);
    cfg_models = NULL;
    cfg_nmodels = 0;
    pthread_mutex_unlock(&cfg_mu);
}

/* ---- behaviour drawn from the settings ---- */

/* Picks the fault for this call: the first fault rule whose text the user text contains (batch
 * lines too, for the faults that are an answer: a status, a refusal, a broken schema); else, for
 * requests outside batches, the x-sim-fault header ("none" for none) or one draw against the
 * configured rates, in the order of SimFault. */
static SimFault draw_fault(const SimCall *c, const SimModelCfg *cfg, const char *text)
{
    for (int i = 0; text && i < cfg->nrules; i++) {
        SimFault f = cfg->rule[i].fault;
        int answer_fault = f != SIM_FAULT_RESET && f != SIM_FAULT_HANG && f != SIM_FAULT_TRUNCATED && f < SIM_FAULT_429_BARE;
        if (strstr(text, cfg->rule[i].contains) && (!c->batch || answer_fault)) return f;
    }
    if (c->batch) return SIM_FAULT_NONE;
    if (c->fault_hdr && *c->fault_hdr) return sim_fault_from_name(c->fault_hdr);
    double total = 0;
    for (int i = 0; i < SIM_FAULT_N; i++) total += cfg->fault[i];
    if (total <= 0) return SIM_FAULT_NONE;
    double u = sim_rand01(), acc = 0;
    for (int i = 0; i < SIM_FAULT_N; i++) {
        acc += cfg->fault[i];
        if (u < acc) return (SimFault)i;
    }
    return SIM_FAULT_NONE;
}

/* Draws the fault of this call (draw_fault) and remembers it in c->drawn, from which sim_main.c
 * applies the transport faults (429_bare, redirect, huge) once the handler has answered. */
SimFault sim_draw_fault(SimCall *c, const SimModelCfg *cfg, const char *text)
{
    SimFault f = draw_fault(c, cfg, text);
    c->drawn = f;
    return f;
}

double sim_batch_delay(const SimCall *c)
{
    if (c->batch_delay_hdr && *c->batch_delay_hdr) return atof(c->batch_delay_hdr) / 1000.0;
    return sim_config_number("batch_delay_ms", 1000) / 1000.0;
}

/* Seconds before an answer of out_tok tokens: latency_ms + U*jitter_ms, plus out_tok/output_tps. */
double sim_latency(const SimModelCfg *cfg, long out_tok)
{
    double s = (cfg->latency_ms + cfg->jitter_ms * sim_rand01()) / 1000.0;
    if (cfg->output_tps > 0) s += (double)out_tok / cfg->output_tps;
    return s;
}
