/*
 * sim_gemini.c - the Google surface of fql-sim: Gemini Developer API (/v1beta/models/...) and
 * Vertex AI (/v1/projects/P/locations/L/publishers/google/models/M:method) generateContent,
 * countTokens, embedContent, batchEmbedContents and model listing; and the OAuth token endpoint
 * (POST /token) that exchanges an RS256-signed service-account JWT for a Vertex access token.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "sim.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

/* Returns Google's error body {"error":{code,message,status}} (new reference). */
json_t *sim_gemini_error(int code, const char *status, const char *msg)
{
    return json_pack("{s:{s:i,s:s,s:s}}", "error", "code", code, "message", msg, "status", status);
}

/* Answers a Google error {"error":{code,message,status}}. */
static void fail(SimCall *c, int code, const char *status, const char *msg)
{
    sim_resp_json(c->resp, code, sim_gemini_error(code, status, msg));
}

/* Answers 429 RESOURCE_EXHAUSTED with QuotaFailure (quota_id) and RetryInfo (retry seconds). */
static void exhausted(SimCall *c, const char *model, const char *quota_id, const char *metric, double limit, double retry)
{
    char *delay = sim_seconds_str(retry);
    char lim[32];
    snprintf(lim, sizeof lim, "%.0f", limit);
    char msg[300];
    snprintf(msg, sizeof msg, "You exceeded your current quota, please check your plan and billing details. For more "
             "information on this error, head to: https://ai.google.dev/gemini-api/docs/rate-limits. Please retry in %s.", delay);
    json_t *e = sim_gemini_error(429, "RESOURCE_EXHAUSTED", msg);
    json_object_set_new(json_object_get(e, "error"), "details", json_pack("[{s:s,s:[{s:s,s:s,s:{s:s,s:s},s:s}]},{s:s,s:s}]",
        "@type", "type.googleapis.com/google.rpc.QuotaFailure", "violations", "quotaMetric", metric, "quotaId", quota_id,
        "quotaDimensions", "location", "global", "model", model, "quotaValue", lim,
        "@type", "type.googleapis.com/google.rpc.RetryInfo", "retryDelay", delay));
    sim_resp_json(c->resp, 429, e);
    free(delay);
}

/* Seconds until the next midnight UTC (when per-day quotas reset). */
static double to_midnight(void)
{
    double now = sim_now_real();
    return 86400.0 - fmod(now, 86400.0);
}

static json_t *get2(json_t *o, const char *camel, const char *snake);

/* Text of a parts array; inlineData parts go to txt (when not NULL). NULL when an image's data is
 * not base64. */
static char *parts_text(json_t *parts, SimText *txt)
{
    SimBuf b = {0};
    size_t i;
    json_t *p;
    json_array_foreach(parts, i, p) {
        const char *t = json_string_value(json_object_get(p, "text"));
        if (t) { if (b.len) sim_buf_puts(&b, "\n"); sim_buf_puts(&b, t); }
        json_t *inl = get2(p, "inlineData", "inline_data");
        const char *why;
        const char *mt = json_string_value(get2(inl, "mimeType", "mime_type"));
        const char *data = json_string_value(json_object_get(inl, "data")) ? json_string_value(json_object_get(inl, "data")) : "";
        if (txt && inl && (mt && !strncmp(mt, "audio/", 6) ? sim_text_add_audio(txt, mt, data, &why)
                                                           : sim_text_add_image(txt, mt, data, NULL, &why))) {
            sim_buf_free(&b);
            return NULL;
        }
    }
    if (!b.data) sim_buf_puts(&b, "");
    return b.data;
}

/* Returns member camel of o, or snake when camel is absent (borrowed). */
static json_t *get2(json_t *o, const char *camel, const char *snake)
{
    json_t *v = json_object_get(o, camel);
    return v ? v : json_object_get(o, snake);
}

/* Builds the prompt text of a generateContent/countTokens body; 0, or -1 after answering 400. */
static int build_text(SimCall *c, json_t *req, SimText *txt, const char *what)
{
    json_t *contents = json_object_get(req, "contents");
    if (!json_is_array(contents) || json_array_size(contents) == 0) {
        char msg[120];
        snprintf(msg, sizeof msg, "* %s.contents: contents is not specified\n", what);
        fail(c, 400, "INVALID_ARGUMENT", msg);
        return -1;
    }
    json_t *si = get2(req, "systemInstruction", "system_instruction");
    if (si) {
        char *t = parts_text(json_object_get(si, "parts"), NULL);
        sim_text_add(txt, t, 0);
        free(t);
    }
    size_t i;
    json_t *ct;
    json_array_foreach(contents, i, ct) {
        json_t *parts = json_object_get(ct, "parts");
        if (!json_is_array(parts)) {
            char msg[120];
            snprintf(msg, sizeof msg, "* %s.contents[%zu].parts: contents.parts must not be empty.\n", what, i);
            fail(c, 400, "INVALID_ARGUMENT", msg);
            return -1;
        }
        const char *role = json_string_value(json_object_get(ct, "role"));
        char *t = parts_text(parts, txt);
        if (!t) {
            char msg[160];
            snprintf(msg, sizeof msg, "* %s.contents[%zu].parts: Invalid value at 'inline_data.data' (TYPE_BYTES), Base64 decoding failed.\n", what, i);
            fail(c, 400, "INVALID_ARGUMENT", msg);
            return -1;
        }
        sim_text_add(txt, t, !role || strcmp(role, "model") != 0);
        free(t);
    }
    sim_text_finish(txt);
    return 0;
}

/* Answers a configured server fault. */
static int server_fault(SimCall *c, SimFault f)
{
    if (f == SIM_FAULT_500) fail(c, 500, "INTERNAL", "An internal error has occurred. Please retry or report in "
                                 "https://developers.generativeai.google/guide/troubleshooting");
    else if (f == SIM_FAULT_502) fail(c, 502, "UNAVAILABLE", "Bad gateway.");
    else if (f == SIM_FAULT_503 || f == SIM_FAULT_529) fail(c, 503, "UNAVAILABLE", "The model is overloaded. Please try again later.");
    else return 0;
    return 1;
}

/* Shared checks before answering model: context, quota, admission. Returns 1 to go on. */
static int admit(SimCall *c, const char *model, const SimModelCfg *cfg, long in_tok, long out_req, SimFault fault)
{
    const SimModelInfo *info = sim_model_info(model, SIM_GEMINI);
    long ctx = cfg->context_window ? cfg->context_window : info->context_window;
    if (in_tok > ctx) {
        char msg[200];
        snprintf(msg, sizeof msg, "The input token count (%ld) exceeds the maximum number of tokens allowed (%ld).", in_tok, ctx);
        fail(c, 400, "INVALID_ARGUMENT", msg);
        return 0;
    }
    if (sim_quota_exhausted(model, cfg)) {
        exhausted(c, model, "GenerateRequestsPerDayPerProjectPerModel-FreeTier",
                  "generativelanguage.googleapis.com/generate_content_free_tier_requests",
                  cfg->quota_requests > 0 ? (double)cfg->quota_requests : (double)cfg->quota_tokens, to_midnight());
        return 0;
    }
    SimRate rate;
    SimLimit lim = (c->batch ? sim_admit_batch : sim_admit)(model, c->provider, cfg, in_tok, out_req, &rate);
    if (lim == SIM_LIM_OK && fault == SIM_FAULT_429) { lim = SIM_LIM_RPM; rate.retry_after = 1; rate.lim_req = 1; }
    if (lim == SIM_LIM_RPM)
        exhausted(c, model, "GenerateRequestsPerMinutePerProjectPerModel-FreeTier",
                  "generativelanguage.googleapis.com/generate_content_free_tier_requests", rate.lim_req, rate.retry_after);
    else if (lim == SIM_LIM_TOO_LARGE)
        exhausted(c, model, "GenerateContentInputTokensPerModelPerMinute-FreeTier",
                  "generativelanguage.googleapis.com/generate_content_free_tier_input_token_count", rate.used, 60);
    else if (lim != SIM_LIM_OK)
        exhausted(c, model, "GenerateContentInputTokensPerModelPerMinute-FreeTier",
                  "generativelanguage.googleapis.com/generate_content_free_tier_input_token_count", rate.lim_tok, rate.retry_after);
    return lim == SIM_LIM_OK;
}

/* :generateContent. */
static void generate(SimCall *c, const char *model, json_t *req)
{
    snprintf(c->endpoint, sizeof c->endpoint, "generateContent");
    SimText txt;
    memset(&txt, 0, sizeof txt);
    if (build_text(c, req, &txt, "GenerateContentRequest") < 0) { sim_text_free(&txt); return; }
    c->in_tokens = txt.tokens;
    json_t *gc = get2(req, "generationConfig", "generation_config");
    json_t *jmax = get2(gc, "maxOutputTokens", "max_output_tokens");
    long max_out = json_is_integer(jmax) ? (long)json_integer_value(jmax) : 0;
    if (jmax && (!json_is_integer(jmax) || max_out < 1)) {
        fail(c, 400, "INVALID_ARGUMENT", "* GenerateContentRequest.generation_config.max_output_tokens: must be positive\n");
        sim_text_free(&txt);
        return;
    }
    const char *mime = json_string_value(get2(gc, "responseMimeType", "response_mime_type"));
    /* responseLogprobs: the answer's tokens in candidates[0].logprobsResult.chosenCandidates, and
     * avgLogprobs; logprobs: N (1..20, needs responseLogprobs) adds topCandidates (the chosen token) */
    int want_logprobs = json_is_true(get2(gc, "responseLogprobs", "response_logprobs"));
    json_t *nlp = get2(gc, "logprobs", "logprobs");
    int top_n = json_is_integer(nlp) ? (int)json_integer_value(nlp) : 0;
    json_t *schema = get2(gc, "responseJsonSchema", "response_json_schema");
    if (!schema) schema = get2(gc, "responseSchema", "response_schema");
    if (schema && (!mime || strcmp(mime, "application/json") != 0)) {
        fail(c, 400, "INVALID_ARGUMENT", "* GenerateContentRequest.generation_config.response_mime_type: must be "
             "application/json when a response schema is set\n");
        sim_text_free(&txt);
        return;
    }
    SimModelCfg cfg;
    sim_config_model(model, &cfg);
    SimFault fault = sim_draw_fault(c, &cfg, sim_text_user(&txt));
    if (!admit(c, model, &cfg, txt.tokens, max_out, fault)) { sim_text_free(&txt); return; }
    if (server_fault(c, fault)) { sim_text_free(&txt); return; }
    json_t *cand;
    long out_tokens = 0;
    if (fault == SIM_FAULT_REFUSAL) {
        cand = json_pack("{s:s,s:i,s:[{s:s,s:s,s:b}]}", "finishReason", "SAFETY", "index", 0, "safetyRatings",
                         "category", "HARM_CATEGORY_DANGEROUS_CONTENT", "probability", "HIGH", "blocked", 1);
    } else {
        char *text;
        if (schema || (mime && strcmp(mime, "application/json") == 0)) {
            json_t *v = schema ? sim_answer_structured(schema, sim_text_user(&txt), c->model, fault == SIM_FAULT_BAD_SCHEMA)
                               : json_object();
            if (!schema) { char *t = sim_answer_text(&txt, 0); json_object_set_new(v, "answer", json_string(t)); free(t); }
            text = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY | JSON_REAL_PRECISION(10));
            json_decref(v);
        } else {
            text = sim_answer_text(&txt, 0);
        }
        const char *finish = "STOP";
        out_tokens = sim_tokens(text);
        if (out_tokens < 1) out_tokens = 1;
        if (max_out && out_tokens > max_out) {
            out_tokens = max_out;
            text[sim_utf8_cut(text, strlen(text), (size_t)max_out * 4)] = 0;
            finish = "MAX_TOKENS";
        }
        json_t *s = json_string(text);
        cand = json_pack("{s:{s:[{s:o}],s:s},s:s,s:i}", "content", "parts", "text", s ? s : json_string(""), "role", "model",
                         "finishReason", finish, "index", 0);
        if (want_logprobs) {
            json_t *toks = sim_answer_tokens(schema, sim_text_user(&txt), c->model, text);
            json_t *chosen = json_array(), *tops = json_array();
            double sum = 0;
            size_t ti;
            json_t *t;
            json_array_foreach(toks, ti, t) {
                const char *tok = json_string_value(json_object_get(t, "token"));
                double l = json_real_value(json_object_get(t, "logprob"));
                json_int_t id = (json_int_t)(sim_hash_str(tok, 31) % 256000);
                sum += l;
                json_array_append_new(chosen, json_pack("{s:s,s:I,s:f}", "token", tok, "tokenId", id, "logProbability", l));
                if (top_n > 0)
                    json_array_append_new(tops, json_pack("{s:[{s:s,s:I,s:f}]}", "candidates", "token", tok, "tokenId", id, "logProbability", l));
            }
            json_t *res = json_pack("{s:o}", "chosenCandidates", chosen);
            if (top_n > 0) json_object_set_new(res, "topCandidates", tops); else json_decref(tops);
            json_object_set_new(cand, "logprobsResult", res);
            if (json_array_size(toks)) json_object_set_new(cand, "avgLogprobs", json_real(sum / (double)json_array_size(toks)));
            json_decref(toks);
        }
        free(text);
    }
    c->out_tokens = out_tokens;
    char *rid = sim_new_id("");
    const char *mv = strncmp(model, "models/", 7) == 0 ? model + 7 : model;
    json_t *ans = json_pack("{s:[o],s:{s:I,s:I,s:I,s:[{s:s,s:I}]},s:s,s:s}", "candidates", cand, "usageMetadata",
        "promptTokenCount", (json_int_t)txt.tokens, "candidatesTokenCount", (json_int_t)out_tokens,
        "totalTokenCount", (json_int_t)(txt.tokens + out_tokens), "promptTokensDetails", "modality", "TEXT",
        "tokenCount", (json_int_t)txt.tokens, "modelVersion", mv, "responseId", rid);
    free(rid);
    sim_resp_json(c->resp, 200, ans);
    if (fault == SIM_FAULT_TRUNCATED) sim_truncate_body(c->resp);
    if (fault == SIM_FAULT_RESET) c->resp->action = SIM_ACT_RESET;
    if (fault == SIM_FAULT_HANG) c->resp->action = SIM_ACT_HANG;
    if (!c->batch) c->resp->delay_s = sim_latency(&cfg, out_tokens);
    sim_text_free(&txt);
}

/* ---- the Batch API: models/{m}:batchGenerateContent (inline requests), batches/{id} ---- */

typedef struct GBatch {
    char *id;             /* "batches/<id>" is its name */
    char *model;          /* without "models/" */
    char *display;
    json_t *requests;     /* [{"request", "metadata"}], as submitted */
    json_t *responses;    /* [{"response"|"error", "metadata"}] once ended */
    double created, created_mono, delay;
    int ended, cancelled;
    long ok, failed;
} GBatch;

static pthread_mutex_t gb_mu = PTHREAD_MUTEX_INITIALIZER;
static GBatch **gbatches;
static int ngb, capgb;

static GBatch *gb_find(const char *id)   /* with gb_mu held */
{
    for (int i = 0; i < ngb; i++) if (strcmp(gbatches[i]->id, id) == 0) return gbatches[i];
    return NULL;
}

/* Runs every request of b through generateContent as a batch line (no per-minute limits, no
 * latency; the quota counts). With gb_mu held. */
static void gb_run(GBatch *b)
{
    b->responses = json_array();
    size_t i;
    json_t *r;
    json_array_foreach(b->requests, i, r) {
        json_t *md = json_object_get(r, "metadata");
        json_t *line = json_object();
        if (md) json_object_set(line, "metadata", md);
        if (b->cancelled) {
            json_object_set_new(line, "error", json_pack("{s:i,s:s,s:s}", "code", 499, "status", "CANCELLED",
                                                         "message", "The batch was cancelled."));
            b->failed++;
        } else {
            SimResp resp;
            memset(&resp, 0, sizeof resp);
            SimCall sub;
            memset(&sub, 0, sizeof sub);
            sub.provider = SIM_GEMINI;
            sub.batch = 1;
            sub.resp = &resp;
            snprintf(sub.model, sizeof sub.model, "%s", b->model);
            generate(&sub, b->model, json_object_get(r, "request"));
            json_t *body = json_loadb(resp.body ? resp.body : "{}", resp.len, 0, NULL);
            if (!body) body = json_object();
            if (resp.status == 200) { json_object_set_new(line, "response", body); b->ok++; }
            else {
                json_t *e = json_object_get(body, "error");
                json_object_set(line, "error", e ? e : json_pack("{s:i,s:s}", "code", resp.status, "message", "error"));
                if (!e) json_decref(json_object_get(line, "error"));
                json_decref(body);
                b->failed++;
            }
            sim_record(b->model, SIM_GEMINI, resp.status, sub.in_tokens, sub.out_tokens);
            sim_resp_clear(&resp);
        }
        json_array_append_new(b->responses, line);
    }
    b->ended = 1;
}

/* The batch as an Operation (what create and GET return): metadata is the GenerateContentBatch
 * (state, batchStats with int64 counts as strings, output once ended); done and response (the
 * GenerateContentBatchOutput) once ended. */
static json_t *gb_json(const GBatch *b)
{
    char name[200], mname[200];
    snprintf(name, sizeof name, "batches/%s", b->id);
    snprintf(mname, sizeof mname, "models/%s", b->model);
    char *created = sim_rfc3339(b->created), *updated = sim_rfc3339(sim_now_real());
    long n = (long)json_array_size(b->requests);
    double part = b->delay > 0 ? (sim_now_mono() - b->created_mono) / b->delay : 1;
    const char *state = b->ended ? (b->cancelled ? "BATCH_STATE_CANCELLED" : "BATCH_STATE_SUCCEEDED")
                      : part > 0 ? "BATCH_STATE_RUNNING" : "BATCH_STATE_PENDING";
    char cnt[4][24];
    snprintf(cnt[0], sizeof cnt[0], "%ld", n);
    snprintf(cnt[1], sizeof cnt[1], "%ld", b->ended ? b->ok : 0);
    snprintf(cnt[2], sizeof cnt[2], "%ld", b->ended ? b->failed : 0);
    snprintf(cnt[3], sizeof cnt[3], "%ld", b->ended ? 0 : n);
    json_t *md = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:{s:s,s:s,s:s,s:s}}",
        "@type", "type.googleapis.com/google.ai.generativelanguage.v1main.GenerateContentBatch", "model", mname,
        "name", name, "displayName", b->display ? b->display : "", "state", state, "createTime", created, "updateTime", updated,
        "batchStats", "requestCount", cnt[0], "successfulRequestCount", cnt[1], "failedRequestCount", cnt[2],
        "pendingRequestCount", cnt[3]);
    json_t *op = json_pack("{s:s,s:o}", "name", name, "metadata", md);
    if (b->ended) {
        json_t *out = json_pack("{s:{s:O}}", "inlinedResponses", "inlinedResponses", b->responses);
        json_object_set_new(md, "endTime", json_string(updated));
        json_object_set(md, "output", out);
        json_object_set_new(out, "@type", json_string("type.googleapis.com/google.ai.generativelanguage.v1main.GenerateContentBatchOutput"));
        json_object_set_new(op, "done", json_true());
        json_object_set_new(op, "response", out);
    }
    free(created);
    free(updated);
    return op;
}

/* POST models/{model}:batchGenerateContent {"batch": {"displayName", "inputConfig": {"requests":
 * {"requests": [{"request": GenerateContentRequest, "metadata": {"key"}}]}}}}. A file input
 * (inputConfig.fileName) is refused: the simulator has no Files API. */
static void gb_create(SimCall *c, const char *model, json_t *req)
{
    snprintf(c->endpoint, sizeof c->endpoint, "batchGenerateContent");
    json_t *batch = json_object_get(req, "batch");
    json_t *ic = get2(batch, "inputConfig", "input_config");
    json_t *reqs = json_object_get(json_object_get(ic, "requests"), "requests");
    if (!json_is_object(batch) || !json_is_object(ic)) {
        fail(c, 400, "INVALID_ARGUMENT", "* BatchGenerateContentRequest.batch.input_config: required field not set\n");
        return;
    }
    if (get2(ic, "fileName", "file_name")) {
        fail(c, 400, "INVALID_ARGUMENT", "fql-sim serves inline batch requests only (input_config.requests), not a file");
        return;
    }
    if (!json_is_array(reqs) || json_array_size(reqs) == 0) {
        fail(c, 400, "INVALID_ARGUMENT", "* BatchGenerateContentRequest.batch.input_config.requests.requests: must not be empty\n");
        return;
    }
    size_t i;
    json_t *r;
    json_array_foreach(reqs, i, r) {
        if (!json_is_object(json_object_get(r, "request"))) {
            char msg[160];
            snprintf(msg, sizeof msg, "* BatchGenerateContentRequest.batch.input_config.requests.requests[%zu].request: "
                     "required field not set\n", i);
            fail(c, 400, "INVALID_ARGUMENT", msg);
            return;
        }
    }
    GBatch *b = calloc(1, sizeof *b);
    if (!b) abort();
    char *id = sim_new_id("");
    b->id = id;
    b->model = strdup(strncmp(model, "models/", 7) == 0 ? model + 7 : model);
    const char *dn = json_string_value(get2(batch, "displayName", "display_name"));
    b->display = dn ? strdup(dn) : NULL;
    b->requests = json_incref(reqs);
    b->created = sim_now_real();
    b->created_mono = sim_now_mono();
    b->delay = sim_batch_delay(c);
    sim_batch_created((long)json_array_size(reqs));
    pthread_mutex_lock(&gb_mu);
    if (ngb == capgb) {
        capgb = capgb ? capgb * 2 : 16;
        gbatches = realloc(gbatches, (size_t)capgb * sizeof *gbatches);
        if (!gbatches) abort();
    }
    gbatches[ngb++] = b;
    json_t *j = gb_json(b);
    pthread_mutex_unlock(&gb_mu);
    sim_resp_json(c->resp, 200, j);
}

/* GET batches/{id}, POST batches/{id}:cancel (what 1), DELETE batches/{id} (what 2). */
static void gb_get(SimCall *c, const char *id, int what)
{
    snprintf(c->endpoint, sizeof c->endpoint, what == 1 ? "batches.cancel" : what == 2 ? "batches.delete" : "batches.get");
    pthread_mutex_lock(&gb_mu);
    GBatch *b = gb_find(id);
    if (!b) {
        pthread_mutex_unlock(&gb_mu);
        fail(c, 404, "NOT_FOUND", "Requested entity was not found.");
        return;
    }
    if (what == 1 && !b->ended) b->cancelled = 1;
    if (!b->ended && (b->cancelled || sim_now_mono() - b->created_mono >= b->delay)) gb_run(b);
    if (what) sim_resp_json(c->resp, 200, json_object());
    else sim_resp_json(c->resp, 200, gb_json(b));
    pthread_mutex_unlock(&gb_mu);
}

/* Forgets every batch (POST /sim/reset). */
void sim_gemini_reset(void)
{
    pthread_mutex_lock(&gb_mu);
    for (int i = 0; i < ngb; i++) {
        free(gbatches[i]->id);
        free(gbatches[i]->model);
        free(gbatches[i]->display);
        json_decref(gbatches[i]->requests);
        json_decref(gbatches[i]->responses);
        free(gbatches[i]);
    }
    free(gbatches);
    gbatches = NULL;
    ngb = capgb = 0;
    pthread_mutex_unlock(&gb_mu);
}

/* :countTokens. */
static void count_tokens(SimCall *c, json_t *req)
{
    snprintf(c->endpoint, sizeof c->endpoint, "countTokens");
    json_t *g = json_object_get(req, "generateContentRequest");
    SimText txt;
    memset(&txt, 0, sizeof txt);
    if (build_text(c, g ? g : req, &txt, "CountTokensRequest") == 0)
        sim_resp_json(c->resp, 200, json_pack("{s:I}", "totalTokens", (json_int_t)txt.tokens));
    sim_text_free(&txt);
}

/* :embedContent (single) and :batchEmbedContents. */
static void embed(SimCall *c, const char *model, json_t *req, int batch)
{
    snprintf(c->endpoint, sizeof c->endpoint, batch ? "batchEmbedContents" : "embedContent");
    json_t *reqs = batch ? json_incref(json_object_get(req, "requests")) : json_pack("[O]", req);
    if (!json_is_array(reqs) || json_array_size(reqs) == 0) {
        fail(c, 400, "INVALID_ARGUMENT", batch ? "* BatchEmbedContentsRequest.requests: requests is not specified\n"
                                               : "* EmbedContentRequest.content: content is not specified\n");
        json_decref(reqs);
        return;
    }
    if (json_array_size(reqs) > 100) {
        fail(c, 400, "INVALID_ARGUMENT", "* BatchEmbedContentsRequest.requests: at most 100 requests can be in one batch\n");
        json_decref(reqs);
        return;
    }
    SimModelCfg cfg;
    sim_config_model(model, &cfg);
    const SimModelInfo *info = sim_model_info(model, SIM_GEMINI);
    int dflt = cfg.embedding_dim ? cfg.embedding_dim : info->embedding_dim ? info->embedding_dim : 768;
    long total = 0;
    size_t i;
    json_t *r;
    json_array_foreach(reqs, i, r) {
        json_t *parts = json_object_get(json_object_get(r, "content"), "parts");
        if (!json_is_array(parts)) {
            char msg[120];
            snprintf(msg, sizeof msg, "* BatchEmbedContentsRequest.requests[%zu].content: content is not specified\n", i);
            fail(c, 400, "INVALID_ARGUMENT", msg);
            json_decref(reqs);
            return;
        }
        char *t = parts_text(parts, NULL);
        total += sim_tokens(t);
        free(t);
    }
    c->in_tokens = total;
    SimFault fault = sim_draw_fault(c, &cfg, NULL);
    if (!admit(c, model, &cfg, total, 0, fault) || server_fault(c, fault)) { json_decref(reqs); return; }
    json_t *embs = json_array();
    json_array_foreach(reqs, i, r) {
        char *t = parts_text(json_object_get(json_object_get(r, "content"), "parts"), NULL);
        json_t *od = get2(r, "outputDimensionality", "output_dimensionality");
        int dim = json_is_integer(od) && json_integer_value(od) > 0 ? (int)json_integer_value(od) : dflt;
        json_array_append_new(embs, json_pack("{s:o}", "values", sim_embedding(t, dim)));
        free(t);
    }
    if (batch) sim_resp_json(c->resp, 200, json_pack("{s:o}", "embeddings", embs));
    else { sim_resp_json(c->resp, 200, json_pack("{s:O}", "embedding", json_array_get(embs, 0))); json_decref(embs); }
    if (fault == SIM_FAULT_TRUNCATED) sim_truncate_body(c->resp);
    if (fault == SIM_FAULT_RESET) c->resp->action = SIM_ACT_RESET;
    if (fault == SIM_FAULT_HANG) c->resp->action = SIM_ACT_HANG;
    c->resp->delay_s = sim_latency(&cfg, 0);
    json_decref(reqs);
}

/* The models.get description of m (new reference). */
static json_t *model_json(const SimModelInfo *m)
{
    json_t *methods = m->embedding_dim ? json_pack("[s,s]", "embedContent", "batchEmbedContents")
                                       : json_pack("[s,s]", "generateContent", "countTokens");
    char name[200];
    snprintf(name, sizeof name, "models/%s", m->id);
    return json_pack("{s:s,s:s,s:s,s:I,s:I,s:o}", "name", name, "version", "001", "displayName", m->id,
                     "inputTokenLimit", (json_int_t)m->context_window, "outputTokenLimit", (json_int_t)m->max_output,
                     "supportedGenerationMethods", methods);
}

/* GET /v1beta/models and /v1beta/models/{m}. */
static void models(SimCall *c, const char *one)
{
    snprintf(c->endpoint, sizeof c->endpoint, "models");
    int n;
    const SimModelInfo *t = sim_model_table(&n);
    json_t *arr = json_array();
    for (int i = 0; i < n; i++) {
        if (t[i].provider != SIM_GEMINI) continue;
        if (one && strcmp(one, t[i].id) == 0) { sim_resp_json(c->resp, 200, model_json(&t[i])); json_decref(arr); return; }
        json_array_append_new(arr, model_json(&t[i]));
    }
    if (one) { json_decref(arr); sim_resp_json(c->resp, 200, model_json(sim_model_info(one, SIM_GEMINI))); return; }
    sim_resp_json(c->resp, 200, json_pack("{s:o}", "models", arr));
}

/* Serves /v1beta/... and the Vertex /v1/projects/... paths. */
void sim_gemini_handle(SimCall *c)
{
    const char *p = c->path;
    int post = strcmp(c->method, "POST") == 0, get = strcmp(c->method, "GET") == 0;
    const char *rest = NULL;
    if (c->provider == SIM_GEMINI) {
        char bid[160];
        if (strncmp(p, "/v1beta/batches/", 16) == 0) {
            snprintf(bid, sizeof bid, "%s", p + 16);
            char *colon = strchr(bid, ':');
            int cancel = colon && strcmp(colon, ":cancel") == 0;
            if (colon) *colon = 0;
            if (colon && !cancel) { fail(c, 404, "NOT_FOUND", "Requested entity was not found."); return; }
            int del = strcmp(c->method, "DELETE") == 0;
            if (cancel ? !post : !(get || del)) { fail(c, 405, "INVALID_ARGUMENT", "Method not allowed"); return; }
            gb_get(c, bid, cancel ? 1 : del ? 2 : 0);
            return;
        }
        if (strcmp(p, "/v1beta/models") == 0) {
            if (!get) { fail(c, 405, "INVALID_ARGUMENT", "Method not allowed"); return; }
            models(c, NULL);
            return;
        }
        if (strncmp(p, "/v1beta/models/", 15) == 0) rest = p + 15;
    } else {
        const char *m = strstr(p, "/publishers/google/models/");
        if (m && strstr(p, "/locations/")) rest = m + 26;
    }
    if (!rest || !*rest) { fail(c, 404, "NOT_FOUND", "Requested entity was not found."); return; }
    const char *colon = strchr(rest, ':');
    char model[128];
    snprintf(model, sizeof model, "%.*s", (int)(colon ? (size_t)(colon - rest) : strlen(rest)), rest);
    if (!colon) {
        if (!get) { fail(c, 405, "INVALID_ARGUMENT", "Method not allowed"); return; }
        models(c, model);
        return;
    }
    const char *method = colon + 1;
    int kind = strcmp(method, "generateContent") == 0 ? 1 : strcmp(method, "countTokens") == 0 ? 2
             : strcmp(method, "embedContent") == 0 ? 3 : strcmp(method, "batchEmbedContents") == 0 ? 4
             : strcmp(method, "batchGenerateContent") == 0 && c->provider == SIM_GEMINI ? 5 : 0;
    if (!kind) { fail(c, 404, "NOT_FOUND", "Requested entity was not found."); return; }
    if (!post) { fail(c, 405, "INVALID_ARGUMENT", "Method not allowed"); return; }
    json_error_t je;
    json_t *req = json_loadb(c->body, c->body_len, 0, &je);
    if (!json_is_object(req)) {
        char msg[300];
        snprintf(msg, sizeof msg, "Invalid JSON payload received. %s", req ? "Expected an object." : je.text);
        fail(c, 400, "INVALID_ARGUMENT", msg);
        json_decref(req);
        return;
    }
    if (kind != 2) snprintf(c->model, sizeof c->model, "%s", model);
    if (kind == 1) generate(c, model, req);
    else if (kind == 5) gb_create(c, model, req);
    else if (kind == 2) count_tokens(c, req);
    else embed(c, model, req, kind == 4);
    json_decref(req);
}

/* ---- OAuth token endpoint ---- */

/* Answers 400 in Google OAuth's shape {error, error_description}. */
static void oauth_fail(SimCall *c, const char *err, const char *desc)
{
    sim_resp_json(c->resp, 400, json_pack("{s:s,s:s}", "error", err, "error_description", desc));
}

/* Loads the configured public key (PEM text or file; a certificate works too), or NULL. */
static EVP_PKEY *load_pubkey(void)
{
    char *pem = sim_config_string("jwt_public_key");
    BIO *bio = NULL;
    if (pem) bio = BIO_new_mem_buf(pem, -1);
    else {
        char *file = sim_config_string("jwt_public_key_file");
        if (file) bio = BIO_new_file(file, "r");
        free(file);
    }
    EVP_PKEY *k = NULL;
    if (bio) {
        k = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
        if (!k) {
            (void)BIO_reset(bio);
            X509 *x = PEM_read_bio_X509(bio, NULL, NULL, NULL);
            if (x) { k = X509_get_pubkey(x); X509_free(x); }
        }
        BIO_free(bio);
    }
    free(pem);
    return k;
}

/* Verifies an RS256 JWT against the configured key. Returns 0 or -1 with *why set (static). */
static int jwt_verify(const char *jwt, const char **why)
{
    const char *d1 = strchr(jwt, '.'), *d2 = d1 ? strchr(d1 + 1, '.') : NULL;
    if (!d1 || !d2 || strchr(d2 + 1, '.')) { *why = "Invalid JWT: expected three dot-separated parts."; return -1; }
    size_t hl, pl, sl;
    unsigned char *hdr = sim_b64url_decode(jwt, (size_t)(d1 - jwt), &hl);
    unsigned char *pay = sim_b64url_decode(d1 + 1, (size_t)(d2 - d1 - 1), &pl);
    unsigned char *sig = sim_b64url_decode(d2 + 1, strlen(d2 + 1), &sl);
    json_t *h = hdr ? json_loadb((char *)hdr, hl, 0, NULL) : NULL;
    json_t *cl = pay ? json_loadb((char *)pay, pl, 0, NULL) : NULL;
    int rc = -1;
    EVP_PKEY *key = NULL;
    EVP_MD_CTX *ctx = NULL;
    if (!h || !cl || !sig) { *why = "Invalid JWT: bad base64url or JSON."; goto out; }
    const char *alg = json_string_value(json_object_get(h, "alg"));
    if (!alg || strcmp(alg, "RS256") != 0) { *why = "Invalid JWT: the algorithm must be RS256."; goto out; }
    key = load_pubkey();
    if (!key) { *why = "fql-sim has no public key to check JWTs with (--jwt-pubkey or jwt_public_key)."; goto out; }
    ctx = EVP_MD_CTX_new();
    if (!ctx || EVP_DigestVerifyInit(ctx, NULL, EVP_sha256(), NULL, key) != 1 ||
        EVP_DigestVerify(ctx, sig, sl, (const unsigned char *)jwt, (size_t)(d2 - jwt)) != 1) {
        *why = "Invalid JWT Signature.";
        goto out;
    }
    json_t *iat = json_object_get(cl, "iat"), *exp = json_object_get(cl, "exp");
    double now = sim_now_real();
    if (!json_is_string(json_object_get(cl, "iss")) || !json_is_number(iat) || !json_is_number(exp) ||
        json_number_value(exp) < now - 60 || json_number_value(iat) > now + 300 ||
        json_number_value(exp) - json_number_value(iat) > 3600) {
        *why = "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. Check your iat and exp values in the JWT claim.";
        goto out;
    }
    rc = 0;
out:
    EVP_MD_CTX_free(ctx);
    EVP_PKEY_free(key);
    json_decref(h);
    json_decref(cl);
    free(hdr);
    free(pay);
    free(sig);
    return rc;
}

/* POST /token (also /oauth2/...): grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer&assertion=JWT,
 * as a form or JSON body. */
void sim_oauth_handle(SimCall *c)
{
    snprintf(c->endpoint, sizeof c->endpoint, "oauth.token");
    if (strcmp(c->method, "POST") != 0) { sim_resp_json(c->resp, 405, json_pack("{s:s}", "error", "method_not_allowed")); return; }
    char *grant = NULL, *assertion = NULL;
    if (c->ctype && strncasecmp(c->ctype, "application/json", 16) == 0) {
        json_t *j = json_loadb(c->body, c->body_len, 0, NULL);
        const char *g = json_string_value(json_object_get(j, "grant_type")), *a = json_string_value(json_object_get(j, "assertion"));
        grant = g ? strdup(g) : NULL;
        assertion = a ? strdup(a) : NULL;
        json_decref(j);
    } else {
        grant = sim_form_value(c->body, "grant_type");
        assertion = sim_form_value(c->body, "assertion");
    }
    const char *why = NULL;
    if (!grant || strcmp(grant, "urn:ietf:params:oauth:grant-type:jwt-bearer") != 0)
        oauth_fail(c, "unsupported_grant_type", "Invalid grant_type: expected urn:ietf:params:oauth:grant-type:jwt-bearer");
    else if (!assertion || !*assertion)
        oauth_fail(c, "invalid_request", "Missing required parameter: assertion");
    else if (jwt_verify(assertion, &why) < 0)
        oauth_fail(c, "invalid_grant", why);
    else {
        char *tok = sim_token_issue(3600);
        sim_resp_json(c->resp, 200, json_pack("{s:s,s:i,s:s}", "access_token", tok, "expires_in", 3599, "token_type", "Bearer"));
        free(tok);
    }
    free(grant);
    free(assertion);
}
