/*
 * sim_cohere.c - Cohere's embeddings as the official SDK (cohere-ai, CohereClientV2) sends and
 * reads them: POST /v2/embed (and the older POST /v1/embed), and the key check POST
 * /v1/check-api-key. Errors are {"id", "message"}; a bad key is a 401 "invalid api token"; limits,
 * quotas and faults work as for the other providers (rate limits and quotas are 429s in Cohere's
 * words: a trial key's "API calls / minute" or "API calls / month" (the monthly allowance), or a
 * per-minute token limit).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "sim.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define COHERE_MAX_TEXTS 96

/* Cohere's embedding models: name, context (tokens per text), default dimension, whether
 * output_dimension may be chosen (embed-v4.0: 256, 512, 1024 or 1536). */
static const struct { const char *id; long ctx; int dim; int flexible; } cohere_models[] = {
    {"embed-v4.0", 128000, 1536, 1},
    {"embed-english-v3.0", 512, 1024, 0},
    {"embed-multilingual-v3.0", 512, 1024, 0},
    {"embed-english-light-v3.0", 512, 384, 0},
    {"embed-multilingual-light-v3.0", 512, 384, 0},
};

/* Sets c's answer to a Cohere error {"id", "message"} with status. */
static void cohere_fail(SimCall *c, int status, const char *msg)
{
    char *id = sim_new_id("");
    sim_resp_json(c->resp, status, json_pack("{s:s,s:s}", "id", id, "message", msg));
    free(id);
}

/* The vector of text (dim floats, unit length) in one embedding type, as a new JSON value:
 * float, int8 (round(127 v)), uint8 (round(127.5 (v + 1))), ubinary (the signs, packed 8 to a byte,
 * first coordinate in the top bit), binary (ubinary - 128), base64 (the float32 bytes). */
static json_t *typed_vector(const char *text, int dim, const char *type)
{
    if (strcmp(type, "float") == 0) return sim_embedding(text, dim);
    if (strcmp(type, "base64") == 0) return sim_embedding_b64(text, dim);
    double *v = malloc((size_t)dim * sizeof *v);
    if (!v) abort();
    sim_embedding_vec(text, dim, v);
    json_t *a = json_array();
    if (strcmp(type, "int8") == 0 || strcmp(type, "uint8") == 0) {
        int u = type[0] == 'u';
        for (int i = 0; i < dim; i++)
            json_array_append_new(a, json_integer(u ? lround(127.5 * (v[i] + 1)) : lround(127 * v[i])));
    } else {   /* binary, ubinary */
        int sign = type[0] == 'b';
        for (int i = 0; i < dim; i += 8) {
            int byte = 0;
            for (int k = 0; k < 8; k++) byte = byte << 1 | (i + k < dim && v[i + k] > 0);
            json_array_append_new(a, json_integer(sign ? byte - 128 : byte));
        }
    }
    free(v);
    return a;
}

/* POST /v2/embed and /v1/embed for request req (borrowed). v2 answers embeddings by type
 * ({"float": [[...]]}); v1 answers a bare array of floats unless embedding_types was given. */
static void embed(SimCall *c, json_t *req, int v2)
{
    snprintf(c->endpoint, sizeof c->endpoint, "embed");
    const char *model = json_string_value(json_object_get(req, "model"));
    if (v2 && (!model || !*model)) {
        cohere_fail(c, 400, "invalid request: model must be specified");
        return;
    }
    if (!model || !*model) model = "embed-english-v2.0";
    snprintf(c->model, sizeof c->model, "%s", model);
    int known = -1;
    for (size_t i = 0; i < sizeof cohere_models / sizeof cohere_models[0]; i++)
        if (strcmp(cohere_models[i].id, model) == 0) known = (int)i;
    if (known < 0 && !strstr(model, "embed")) {
        char msg[300];
        snprintf(msg, sizeof msg, "model '%.100s' not found, make sure the correct model ID was used and that you have "
                 "access to the model.", model);
        cohere_fail(c, 404, msg);
        return;
    }
    json_t *texts = json_object_get(req, "texts");
    if (json_object_get(req, "images") || json_object_get(req, "inputs")) {
        cohere_fail(c, 400, "invalid request: fql-sim embeds texts only; images and inputs are not simulated.");
        return;
    }
    if (!json_is_array(texts) || json_array_size(texts) == 0) {
        cohere_fail(c, 400, "invalid request: texts must be a non-empty list of strings.");
        return;
    }
    if (json_array_size(texts) > COHERE_MAX_TEXTS) {
        char msg[160];
        snprintf(msg, sizeof msg, "invalid request: total number of texts must be at most %d - received %zu.",
                 COHERE_MAX_TEXTS, json_array_size(texts));
        cohere_fail(c, 400, msg);
        return;
    }
    size_t i;
    json_t *t;
    json_array_foreach(texts, i, t)
        if (!json_is_string(t)) {
            cohere_fail(c, 400, "invalid request: texts must be a list of strings.");
            return;
        }
    const char *itype = json_string_value(json_object_get(req, "input_type"));
    static const char *itypes[] = {"search_document", "search_query", "classification", "clustering"};
    int itype_ok = 0;
    for (size_t k = 0; itype && k < sizeof itypes / sizeof itypes[0]; k++) itype_ok |= strcmp(itype, itypes[k]) == 0;
    if (itype ? !itype_ok : v2 || known >= 0) {   /* required by v2 and by the v3+ models */
        cohere_fail(c, 400, itype ? "invalid request: input_type must be one of search_document, search_query, "
                                    "classification, clustering."
                                  : "invalid request: valid input_type must be provided with the provided model");
        return;
    }
    /* embedding types (default float), checked before any text is embedded */
    static const char *etypes[] = {"float", "int8", "uint8", "binary", "ubinary", "base64"};
    json_t *jtypes = json_object_get(req, "embedding_types");
    json_t *types = jtypes && !json_is_null(jtypes) ? json_incref(jtypes) : json_pack("[s]", "float");
    json_t *ty;
    int types_ok = json_is_array(types) && json_array_size(types) > 0;
    json_array_foreach(types, i, ty) {
        int ok = 0;
        for (size_t k = 0; json_is_string(ty) && k < sizeof etypes / sizeof etypes[0]; k++)
            ok |= strcmp(json_string_value(ty), etypes[k]) == 0;
        types_ok &= ok;
    }
    if (!types_ok) {
        cohere_fail(c, 400, "invalid request: embedding_types must be a list of float, int8, uint8, binary, ubinary, base64.");
        json_decref(types);
        return;
    }
    SimModelCfg cfg;
    sim_config_model(model, &cfg);
    int dim = cfg.embedding_dim ? cfg.embedding_dim : known >= 0 ? cohere_models[known].dim : 1024;
    json_t *jd = json_object_get(req, "output_dimension");
    if (jd && !json_is_null(jd)) {
        json_int_t d = json_is_integer(jd) ? json_integer_value(jd) : 0;
        if (known >= 0 && !cohere_models[known].flexible) {
            cohere_fail(c, 400, "invalid request: output_dimension is only supported for embed-v4.0 and newer models.");
            json_decref(types);
            return;
        }
        if (d != 256 && d != 512 && d != 1024 && d != 1536) {
            cohere_fail(c, 400, "invalid request: output_dimension must be one of 256, 512, 1024, 1536.");
            json_decref(types);
            return;
        }
        dim = (int)d;
    }
    /* texts longer than the model's context are cut at the end (truncate END, the default), or
     * refused with truncate NONE */
    long ctx = cfg.context_window ? cfg.context_window : known >= 0 ? cohere_models[known].ctx : 512;
    const char *trunc = json_string_value(json_object_get(req, "truncate"));
    long total = 0;
    json_array_foreach(texts, i, t) {
        long n = sim_tokens(json_string_value(t));
        if (n > ctx && trunc && strcmp(trunc, "NONE") == 0) {
            char msg[200];
            snprintf(msg, sizeof msg, "invalid request: text at index %zu is too long: %ld tokens, the maximum is %ld "
                     "(set truncate to END or START to cut it).", i, n, ctx);
            cohere_fail(c, 400, msg);
            json_decref(types);
            return;
        }
        total += n > ctx ? ctx : n;
    }
    c->in_tokens = total;
    if (sim_quota_exhausted(model, &cfg)) {
        cohere_fail(c, 429, "You are using a Trial key, which is limited to 1000 API calls / month. You can continue to "
                    "use the Trial key for free or upgrade to a Production key with higher rate limits at "
                    "'https://dashboard.cohere.com/api-keys'. Contact us on 'https://discord.gg/XW44jPfYJu' or email us "
                    "at support@cohere.com with any questions");
        json_decref(types);
        return;
    }
    SimFault fault = sim_draw_fault(c, &cfg, NULL);
    SimRate rate;
    SimLimit lim = sim_admit(model, SIM_COHERE, &cfg, total, 0, &rate);
    if (lim == SIM_LIM_OK && fault == SIM_FAULT_429) { lim = SIM_LIM_RPM; rate.retry_after = 1; }
    if (lim != SIM_LIM_OK) {
        char msg[300];
        if (lim == SIM_LIM_RPM)
            snprintf(msg, sizeof msg, "You are using a Trial key, which is limited to %.0f API calls / minute. You can "
                     "continue to use the Trial key for free or upgrade to a Production key with higher rate limits at "
                     "'https://dashboard.cohere.com/api-keys'.", rate.lim_req);
        else
            snprintf(msg, sizeof msg, "You are past the per minute token limit of %.0f tokens, please wait and try "
                     "again later.", rate.lim_tok);
        cohere_fail(c, 429, msg);
        if (rate.retry_after > 0) sim_resp_header(c->resp, "retry-after", "%.0f", ceil(rate.retry_after));
    } else if (fault == SIM_FAULT_500 || fault == SIM_FAULT_502) {
        cohere_fail(c, fault == SIM_FAULT_500 ? 500 : 502, "internal server error, this has been reported to our developers");
    } else if (fault == SIM_FAULT_503 || fault == SIM_FAULT_529) {
        cohere_fail(c, 503, "service unavailable, please try again later");
    } else {
        json_t *embs = json_object();
        json_array_foreach(types, i, ty) {
            json_t *list = json_array();
            size_t k;
            json_array_foreach(texts, k, t) json_array_append_new(list, typed_vector(json_string_value(t), dim, json_string_value(ty)));
            json_object_set_new(embs, json_string_value(ty), list);
        }
        char *id = sim_new_id("");
        json_t *ans = json_pack("{s:s}", "id", id);
        free(id);
        if (!v2 && !jtypes) {   /* v1 without embedding_types: a bare array of floats */
            json_object_set(ans, "embeddings", json_object_get(embs, "float"));
            json_object_set_new(ans, "response_type", json_string("embeddings_floats"));
        } else {
            json_object_set(ans, "embeddings", embs);
            if (!v2) json_object_set_new(ans, "response_type", json_string("embeddings_by_type"));
        }
        json_decref(embs);
        json_object_set(ans, "texts", texts);
        json_object_set_new(ans, "meta", json_pack("{s:{s:s},s:{s:I}}", "api_version", "version", v2 ? "2" : "1",
                                                   "billed_units", "input_tokens", (json_int_t)total));
        sim_resp_json(c->resp, 200, ans);
        if (fault == SIM_FAULT_TRUNCATED) sim_truncate_body(c->resp);
        if (fault == SIM_FAULT_RESET) c->resp->action = SIM_ACT_RESET;
        if (fault == SIM_FAULT_HANG) c->resp->action = SIM_ACT_HANG;
        c->resp->delay_s = sim_latency(&cfg, 0);
    }
    json_decref(types);
}

/* Routes one Cohere call (the key is already checked). */
void sim_cohere_handle(SimCall *c)
{
    int post = strcmp(c->method, "POST") == 0;
    if (strcmp(c->path, "/v1/check-api-key") == 0 && post) {
        snprintf(c->endpoint, sizeof c->endpoint, "check-api-key");
        sim_resp_json(c->resp, 200, json_pack("{s:b,s:s,s:s}", "valid", 1, "organization_id", "org-sim", "owner_id", "owner-sim"));
        return;
    }
    int v2 = strcmp(c->path, "/v2/embed") == 0;
    if ((v2 || strcmp(c->path, "/v1/embed") == 0) && post) {
        json_error_t je;
        json_t *req = json_loadb(c->body, c->body_len, 0, &je);
        if (!json_is_object(req)) {
            char msg[300];
            snprintf(msg, sizeof msg, "invalid request: the body is not a JSON object: %s", je.text);
            cohere_fail(c, 400, msg);
        } else {
            embed(c, req, v2);
        }
        json_decref(req);
        return;
    }
    cohere_fail(c, 404, "Not Found: fql-sim simulates Cohere's POST /v2/embed, POST /v1/embed and POST /v1/check-api-key.");
}

/* Answers a missing or bad key as Cohere does. */
void sim_cohere_bad_key(SimCall *c, int missing)
{
    cohere_fail(c, 401, missing ? "no api key supplied" : "invalid api token");
}
