/*
 * sim_openai.c - the OpenAI surface of fql-sim: /v1/chat/completions (also serving OpenRouter's
 * /api/v1/chat/completions), /v1/embeddings, /v1/models and the Batch API (/v1/files,
 * /v1/batches). Shapes follow shared/design/providers.md.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "sim.h"

#include <ctype.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Returns OpenAI's error body {"error":{message,type,param,code}} (new reference). */
json_t *sim_openai_error(const char *msg, const char *type, const char *param, const char *code)
{
    return json_pack("{s:{s:s,s:s,s:o,s:o}}", "error", "message", msg, "type", type,
                     "param", param ? json_string(param) : json_null(), "code", code ? json_string(code) : json_null());
}

/* OpenRouter's error body {"error":{code,message,metadata}} (new reference). */
static json_t *or_error(int code, const char *msg)
{
    return json_pack("{s:{s:i,s:s,s:{}}}", "error", "code", code, "message", msg, "metadata");
}

/* Answers an error in the shape of c's provider (OpenAI or OpenRouter). */
static void fail(SimCall *c, int status, const char *msg, const char *type, const char *param, const char *code)
{
    if (c->provider == SIM_OPENROUTER) sim_resp_json(c->resp, status, or_error(status, msg));
    else sim_resp_json(c->resp, status, sim_openai_error(msg, type, param, code));
}

/* Adds x-ratelimit-{limit,remaining,reset}-{requests,tokens}. */
void sim_openai_rate_headers(SimResp *r, const SimRate *rate)
{
    char *rr = sim_go_duration(rate->reset_req), *rt = sim_go_duration(rate->reset_tok);
    sim_resp_header(r, "x-ratelimit-limit-requests", "%.0f", rate->lim_req);
    sim_resp_header(r, "x-ratelimit-limit-tokens", "%.0f", rate->lim_tok);
    sim_resp_header(r, "x-ratelimit-remaining-requests", "%.0f", rate->rem_req);
    sim_resp_header(r, "x-ratelimit-remaining-tokens", "%.0f", rate->rem_tok);
    sim_resp_header(r, "x-ratelimit-reset-requests", "%s", rr);
    sim_resp_header(r, "x-ratelimit-reset-tokens", "%s", rt);
    free(rr);
    free(rt);
}

/* Text of a message content: a string, or the text parts of an array (image_url parts go to txt);
 * NULL for others and for a data URL that is not base64. */
static char *content_text(json_t *content, SimText *txt)
{
    if (json_is_string(content)) return strdup(json_string_value(content));
    if (!json_is_array(content)) return NULL;
    SimBuf b = {0};
    size_t i;
    json_t *p;
    json_array_foreach(content, i, p) {
        const char *t = json_string_value(json_object_get(p, "text"));
        if (t) { if (b.len) sim_buf_puts(&b, "\n"); sim_buf_puts(&b, t); }
        json_t *ia = json_object_get(p, "input_audio");
        if (ia) {   /* {"data": base64, "format": "wav" | "mp3"} */
            const char *fmt = json_string_value(json_object_get(ia, "format")), *why;
            int known = fmt && (!strcmp(fmt, "wav") || !strcmp(fmt, "mp3"));
            if (!known || sim_text_add_audio(txt, !strcmp(fmt, "mp3") ? "audio/mpeg" : "audio/wav",
                                             json_string_value(json_object_get(ia, "data")), &why)) { sim_buf_free(&b); return NULL; }
        }
        const char *url = json_string_value(json_object_get(json_object_get(p, "image_url"), "url"));
        if (url) {
            /* data:MIME;base64,DATA */
            const char *comma = strchr(url, ','), *semi = strchr(url, ';');
            char mime[64] = "";
            int data = !strncmp(url, "data:", 5) && comma && semi && semi < comma;
            if (data) snprintf(mime, sizeof mime, "%.*s", (int)(semi - url - 5), url + 5);
            const char *why;
            if (sim_text_add_image(txt, mime, data ? comma + 1 : NULL, url, &why)) { sim_buf_free(&b); return NULL; }
        }
    }
    if (!b.data) sim_buf_puts(&b, "");
    return b.data;
}

/* Checks OpenAI's strict-mode rules on schema s: every object has additionalProperties:false and
 * lists every property in required. Returns 0 or -1 with err filled. */
static int strict_check(json_t *s, const char *path, char *err, size_t errsz, int depth)
{
    if (!json_is_object(s) || depth > 40) return 0;
    json_t *props = json_object_get(s, "properties");
    json_t *t = json_object_get(s, "type");
    int is_obj = json_is_object(props) || (json_is_string(t) && strcmp(json_string_value(t), "object") == 0);
    if (is_obj) {
        json_t *ap = json_object_get(s, "additionalProperties");
        if (!json_is_false(ap)) {
            snprintf(err, errsz, "In context=%s, 'additionalProperties' is required to be supplied and to be false.", path);
            return -1;
        }
        json_t *req = json_object_get(s, "required");
        const char *k;
        json_t *v;
        json_object_foreach(props, k, v) {
            int found = 0;
            size_t i;
            json_t *r;
            json_array_foreach(req, i, r) if (json_is_string(r) && strcmp(json_string_value(r), k) == 0) found = 1;
            if (!found) {
                snprintf(err, errsz, "In context=%s, 'required' is required to be supplied and to be an array "
                         "including every key in properties. Missing '%s'.", path, k);
                return -1;
            }
            char sub[300];
            snprintf(sub, sizeof sub, "%.200s, '%.80s'", path, k);
            if (strict_check(v, sub, err, errsz, depth + 1) < 0) return -1;
        }
    }
    const char *nested[] = {"items", "$defs", "definitions", "anyOf", NULL};
    for (int i = 0; nested[i]; i++) {
        json_t *n = json_object_get(s, nested[i]);
        if (json_is_object(n) && (strcmp(nested[i], "items") == 0)) {
            if (strict_check(n, path, err, errsz, depth + 1) < 0) return -1;
        } else if (json_is_object(n)) {
            const char *k;
            json_t *v;
            json_object_foreach(n, k, v) if (strict_check(v, path, err, errsz, depth + 1) < 0) return -1;
        } else if (json_is_array(n)) {
            size_t j;
            json_t *v;
            json_array_foreach(n, j, v) if (strict_check(v, path, err, errsz, depth + 1) < 0) return -1;
        }
    }
    return 0;
}

/* Answers the rate-limit 429 for lim (OpenAI or OpenRouter shape) with its headers. */
static void rate_limited(SimCall *c, SimLimit lim, const SimRate *rate, const char *model)
{
    char msg[600];
    char *d = sim_go_duration(rate->retry_after);
    int tokens = lim != SIM_LIM_RPM;
    if (lim == SIM_LIM_TOO_LARGE)
        snprintf(msg, sizeof msg, "Request too large for %.100s in organization org-sim on tokens per min (TPM): "
                 "Limit %.0f, Requested %.0f. The input or output tokens must be reduced in order to run "
                 "successfully. Visit https://platform.openai.com/account/rate-limits to learn more.",
                 model, rate->used, rate->requested);
    else
        snprintf(msg, sizeof msg, "Rate limit reached for %.100s in organization org-sim on %s per min (%s): "
                 "Limit %.0f, Used %.0f, Requested %.0f. Please try again in %s. Visit "
                 "https://platform.openai.com/account/rate-limits to learn more.",
                 model, tokens ? "tokens" : "requests", tokens ? "TPM" : "RPM",
                 tokens ? rate->lim_tok : rate->lim_req, rate->used, rate->requested, d);
    fail(c, 429, msg, tokens ? "tokens" : "requests", NULL, "rate_limit_exceeded");
    if (lim != SIM_LIM_TOO_LARGE) sim_resp_header(c->resp, "retry-after", "%.0f", ceil(rate->retry_after));
    free(d);
}

/* Answers a configured server fault (500/502/503/529). */
static void server_fault(SimCall *c, SimFault f)
{
    if (f == SIM_FAULT_500)
        fail(c, 500, "The server had an error while processing your request. Sorry about that!", "server_error", NULL, NULL);
    else if (f == SIM_FAULT_502)
        fail(c, 502, "Bad gateway.", "server_error", NULL, NULL);
    else
        fail(c, 503, "The server is overloaded or not ready yet.", "server_error", NULL, "server_is_overloaded");
}

/* The chat answer for one choice: content, or a tool call, cut to max_out tokens. */
typedef struct Choice { char *content; json_t *tool_args; int length; int refused; } Choice;

/* Serves a chat completion for request req (borrowed) on c. Used directly and by batches. */
/* Flex processing (service_tier "flex"): how often each distinct request was refused so far, for
 * the model setting flex_unavailable_n (refuse every request that many times, then serve it). */
typedef struct FlexSeen { uint64_t hash; long refused; } FlexSeen;
static pthread_mutex_t flex_mu = PTHREAD_MUTEX_INITIALIZER;
static FlexSeen *flex_seen;
static int nflex, capflex;

/* 1 when this flex request is to be refused with 429 "resource unavailable" (it is then counted). */
static int flex_refuse(const SimModelCfg *cfg, json_t *req)
{
    if (cfg->flex_unavailable > 0 && sim_rand01() < cfg->flex_unavailable) return 1;
    if (cfg->flex_unavailable_n <= 0) return 0;
    char *s = json_dumps(req, JSON_COMPACT | JSON_SORT_KEYS);
    uint64_t h = s ? sim_hash(s, strlen(s), 91) : 0;
    free(s);
    pthread_mutex_lock(&flex_mu);
    int i = 0;
    while (i < nflex && flex_seen[i].hash != h) i++;
    if (i == nflex) {
        if (nflex == capflex) {
            capflex = capflex ? capflex * 2 : 64;
            flex_seen = realloc(flex_seen, (size_t)capflex * sizeof *flex_seen);
            if (!flex_seen) abort();
        }
        flex_seen[nflex++] = (FlexSeen){ h, 0 };
    }
    int refuse = flex_seen[i].refused < cfg->flex_unavailable_n;
    if (refuse) flex_seen[i].refused++;
    pthread_mutex_unlock(&flex_mu);
    return refuse;
}

void sim_openai_chat_core(SimCall *c, json_t *req)
{
    int orouter = c->provider == SIM_OPENROUTER;
    snprintf(c->endpoint, sizeof c->endpoint, "chat.completions");
    const char *model = json_string_value(json_object_get(req, "model"));
    if (!model || !*model) {
        fail(c, 400, "you must provide a model parameter", "invalid_request_error", NULL, NULL);
        return;
    }
    snprintf(c->model, sizeof c->model, "%s", model);
    json_t *msgs = json_object_get(req, "messages");
    if (!json_is_array(msgs) || json_array_size(msgs) == 0) {
        fail(c, 400, json_is_array(msgs) ? "Invalid 'messages': empty array. Expected an array with minimum length 1, but got an empty array instead."
                                         : "Missing required parameter: 'messages'.",
             "invalid_request_error", "messages", json_is_array(msgs) ? "empty_array" : "missing_required_parameter");
        return;
    }
    if (json_is_true(json_object_get(req, "stream"))) {
        fail(c, 400, "fql-sim does not implement streaming; send stream=false.", "invalid_request_error", "stream", NULL);
        return;
    }
    SimText txt;
    memset(&txt, 0, sizeof txt);
    size_t i;
    json_t *m;
    json_array_foreach(msgs, i, m) {
        const char *role = json_string_value(json_object_get(m, "role"));
        json_t *content = json_object_get(m, "content");
        char *t = content_text(content, &txt);
        if (!role || (!t && !json_is_null(content) && content)) {
            char msg[120];
            snprintf(msg, sizeof msg, "Invalid value for 'messages[%zu]': expected an object with 'role' and 'content'.", i);
            fail(c, 400, msg, "invalid_request_error", "messages", "invalid_value");
            free(t);
            sim_text_free(&txt);
            return;
        }
        sim_text_add(&txt, t ? t : "", strcmp(role, "user") == 0);
        free(t);
    }
    sim_text_finish(&txt);
    c->in_tokens = txt.tokens;

    json_t *jmax = json_object_get(req, "max_completion_tokens");
    const char *maxname = "max_completion_tokens";
    if (!jmax || json_is_null(jmax)) { jmax = json_object_get(req, "max_tokens"); maxname = "max_tokens"; }
    long max_out = 0;
    if (jmax && !json_is_null(jmax)) {
        if (!json_is_integer(jmax) || json_integer_value(jmax) < 1) {
            char msg[160];
            snprintf(msg, sizeof msg, "Invalid '%s': integer below minimum value. Expected a value >= 1.", maxname);
            fail(c, 400, msg, "invalid_request_error", maxname, "integer_below_min_value");
            sim_text_free(&txt);
            return;
        }
        max_out = (long)json_integer_value(jmax);
    }
    json_t *jn = json_object_get(req, "n");
    int n = json_is_integer(jn) ? (int)json_integer_value(jn) : 1;
    if (n < 1 || n > 128) {
        fail(c, 400, "Invalid 'n': expected a value between 1 and 128.", "invalid_request_error", "n", "invalid_value");
        sim_text_free(&txt);
        return;
    }

    /* structured output or a forced function call */
    json_t *schema = NULL;
    int json_object_mode = 0;
    json_t *rf = json_object_get(req, "response_format");
    const char *rft = json_string_value(json_object_get(rf, "type"));
    if (rft && strcmp(rft, "json_schema") == 0) {
        json_t *js = json_object_get(rf, "json_schema");
        const char *name = json_string_value(json_object_get(js, "name"));
        schema = json_object_get(js, "schema");
        int name_ok = name && *name && strlen(name) <= 64;
        for (const char *q = name; name_ok && *q; q++)
            if (!isalnum((unsigned char)*q) && *q != '_' && *q != '-') name_ok = 0;
        if (!name_ok) {
            fail(c, 400, "Invalid 'response_format.json_schema.name': string does not match pattern. Expected a string "
                 "that matches the pattern '^[a-zA-Z0-9_-]+$'.", "invalid_request_error", "response_format.json_schema.name",
                 "invalid_value");
            sim_text_free(&txt);
            return;
        }
        if (!json_is_object(schema)) {
            fail(c, 400, "Missing required parameter: 'response_format.json_schema.schema'.", "invalid_request_error",
                 "response_format.json_schema.schema", "missing_required_parameter");
            sim_text_free(&txt);
            return;
        }
        char err[400];
        if (json_is_true(json_object_get(js, "strict")) && strict_check(schema, "()", err, sizeof err, 0) < 0) {
            char msg[560];
            snprintf(msg, sizeof msg, "Invalid schema for response_format '%s': %s", name, err);
            fail(c, 400, msg, "invalid_request_error", "response_format", NULL);
            sim_text_free(&txt);
            return;
        }
    } else if (rft && strcmp(rft, "json_object") == 0) {
        json_object_mode = 1;
    }
    /* logprobs: true (top_logprobs: 0..20 alternatives, only the chosen token here): the content's
     * tokens with their log probabilities, in choices[k].logprobs.content (sim_answer_tokens) */
    int want_logprobs = json_is_true(json_object_get(req, "logprobs"));
    json_t *tlp = json_object_get(req, "top_logprobs");
    if (tlp && !json_is_null(tlp) && (!json_is_integer(tlp) || json_integer_value(tlp) < 0 || json_integer_value(tlp) > 20 || !want_logprobs)) {
        fail(c, 400, !want_logprobs ? "Invalid value for 'top_logprobs': logprobs must be set to true to use top_logprobs."
                                    : "Invalid 'top_logprobs': expected an integer between 0 and 20.",
             "invalid_request_error", "top_logprobs", NULL);
        sim_text_free(&txt);
        return;
    }
    int top_n = json_is_integer(tlp) ? (int)json_integer_value(tlp) : 0;
    json_t *tool_params = NULL;
    const char *tool_name = NULL;
    json_t *tc = json_object_get(req, "tool_choice");
    json_t *tools = json_object_get(req, "tools");
    if (json_is_array(tools) && json_array_size(tools) &&
        ((json_is_object(tc)) || (json_is_string(tc) && strcmp(json_string_value(tc), "required") == 0))) {
        const char *want = json_string_value(json_object_get(json_object_get(tc, "function"), "name"));
        json_t *tl;
        json_array_foreach(tools, i, tl) {
            json_t *fn = json_object_get(tl, "function");
            const char *nm = json_string_value(json_object_get(fn, "name"));
            if (nm && (!want || strcmp(want, nm) == 0)) { tool_name = nm; tool_params = json_object_get(fn, "parameters"); break; }
        }
        if (!tool_name) {
            fail(c, 400, "Invalid value for 'tool_choice': no function with that name in 'tools'.", "invalid_request_error",
                 "tool_choice", "invalid_value");
            sim_text_free(&txt);
            return;
        }
    }

    SimModelCfg cfg;
    sim_config_model(model, &cfg);
    const SimModelInfo *info = sim_model_info(model, c->provider);
    long ctx = cfg.context_window ? cfg.context_window : info->context_window;
    long maxcap = cfg.max_output ? cfg.max_output : info->max_output;
    if (maxcap > 0 && max_out > maxcap) {
        char msg[300];
        snprintf(msg, sizeof msg, "max_tokens is too large: %ld. This model supports at most %ld completion tokens, "
                 "whereas you provided %ld.", max_out, maxcap, max_out);
        fail(c, 400, msg, "invalid_request_error", maxname, "invalid_value");
        sim_text_free(&txt);
        return;
    }
    if (txt.tokens + max_out > ctx) {
        char msg[400];
        snprintf(msg, sizeof msg, "This model's maximum context length is %ld tokens. However, you requested %ld tokens "
                 "(%ld in the messages, %ld in the completion). Please reduce the length of the messages or completion.",
                 ctx, txt.tokens + max_out, txt.tokens, max_out);
        fail(c, 400, msg, "invalid_request_error", "messages", "context_length_exceeded");
        sim_text_free(&txt);
        return;
    }
    double factor = 1.0;
    const char *up = NULL;
    if (orouter) {
        char err[200];
        up = sim_openrouter_route(json_object_get(req, "provider"), &factor, err, sizeof err);
        if (!up) {
            sim_resp_json(c->resp, 503, or_error(503, err));
            sim_text_free(&txt);
            return;
        }
    }
    if (sim_quota_exhausted(model, &cfg) || (orouter && sim_credits_exhausted())) {
        if (orouter)
            sim_resp_json(c->resp, 402, or_error(402, "Insufficient credits. This account never purchased credits. "
                          "Make sure your key is on the correct account or org, and if so, purchase more at https://openrouter.ai/settings/credits"));
        else
            fail(c, 429, "You exceeded your current quota, please check your plan and billing details. For more "
                 "information on this error, read the docs: https://platform.openai.com/docs/guides/error-codes/api-errors.",
                 "insufficient_quota", NULL, "insufficient_quota");
        sim_text_free(&txt);
        return;
    }

    /* service_tier: auto|default|flex|priority (flex: Batch API prices, may be refused with 429) */
    json_t *jtier = json_object_get(req, "service_tier");
    const char *tier = json_string_value(jtier);
    if (jtier && !json_is_null(jtier) && !orouter &&
        (!tier || (strcmp(tier, "auto") && strcmp(tier, "default") && strcmp(tier, "flex") && strcmp(tier, "priority")))) {
        fail(c, 400, "Invalid value for 'service_tier': expected one of 'auto', 'default', 'flex' or 'priority'.",
             "invalid_request_error", "service_tier", "invalid_value");
        sim_text_free(&txt);
        return;
    }
    int flex = tier && !strcmp(tier, "flex") && !orouter && !c->batch;
    if (flex && flex_refuse(&cfg, req)) {
        /* nothing counted against the limits, nothing billed */
        fail(c, 429, "Resource Unavailable: there is not enough flex processing capacity for this request right now. "
             "Please retry later, or send it with the default service tier.", "resource_unavailable", NULL, "resource_unavailable");
        sim_text_free(&txt);
        return;
    }

    SimFault fault = sim_draw_fault(c, &cfg, sim_text_user(&txt));
    /* the answers, generated before admission: tokens counted against TPM need their length */
    Choice *ch = calloc((size_t)n, sizeof *ch);
    long out_tokens = 0;
    for (int k = 0; k < n; k++) {
        if (fault == SIM_FAULT_REFUSAL) { ch[k].refused = 1; ch[k].content = sim_refusal_text(); }
        else if (tool_name) ch[k].tool_args = sim_answer_structured(tool_params, sim_text_user(&txt), c->model, fault == SIM_FAULT_BAD_SCHEMA);
        else if (schema || json_object_mode) {
            json_t *v = schema ? sim_answer_structured(schema, sim_text_user(&txt), c->model, fault == SIM_FAULT_BAD_SCHEMA)
                               : json_pack("{s:s}", "answer", "");
            if (!schema) {
                char *t = sim_answer_text(&txt, k);
                json_object_set_new(v, "answer", json_string(t));
                free(t);
            }
            ch[k].content = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY | JSON_REAL_PRECISION(10));
            json_decref(v);
        } else ch[k].content = sim_answer_text(&txt, k);
        char *measure = ch[k].tool_args ? json_dumps(ch[k].tool_args, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
        const char *mtext = measure ? measure : ch[k].content;
        long t = sim_tokens(mtext);
        if (t < 1) t = 1;
        if (max_out && t > max_out) {
            t = max_out;
            ch[k].length = 1;
            if (ch[k].content) {
                size_t cut = sim_utf8_cut(ch[k].content, strlen(ch[k].content), (size_t)max_out * 4);
                ch[k].content[cut] = 0;
            }
        }
        free(measure);
        out_tokens += t;
    }
    c->out_tokens = out_tokens;

    SimRate rate;
    SimLimit lim = (c->batch ? sim_admit_batch : sim_admit)(model, c->provider, &cfg, txt.tokens, max_out ? max_out * n : out_tokens, &rate);
    if (lim == SIM_LIM_OK && fault == SIM_FAULT_429) {
        lim = SIM_LIM_RPM;
        rate.used = rate.lim_req;
        rate.requested = 1;
        rate.retry_after = 1.0;
    }
    if (lim != SIM_LIM_OK) {
        rate_limited(c, lim, &rate, model);
        c->out_tokens = 0;
    } else if (fault == SIM_FAULT_500 || fault == SIM_FAULT_502 || fault == SIM_FAULT_503 || fault == SIM_FAULT_529) {
        server_fault(c, fault);
        c->out_tokens = 0;
    } else {
        json_t *choices = json_array();
        for (int k = 0; k < n; k++) {
            json_t *msg = json_pack("{s:s}", "role", "assistant");
            json_t *lp = json_null();
            if (want_logprobs && !ch[k].refused && !ch[k].tool_args && ch[k].content) {
                json_t *toks = sim_answer_tokens(schema, sim_text_user(&txt), c->model, ch[k].content);
                json_t *content = json_array();
                size_t ti;
                json_t *t;
                json_array_foreach(toks, ti, t) {
                    const char *tok = json_string_value(json_object_get(t, "token"));
                    double l = json_real_value(json_object_get(t, "logprob"));
                    json_t *bytes = json_array();
                    for (const unsigned char *b = (const unsigned char *)tok; *b; b++) json_array_append_new(bytes, json_integer(*b));
                    json_t *top = json_array();
                    if (top_n > 0) json_array_append_new(top, json_pack("{s:s,s:f,s:O}", "token", tok, "logprob", l, "bytes", bytes));
                    json_array_append_new(content, json_pack("{s:s,s:f,s:o,s:o}", "token", tok, "logprob", l, "bytes", bytes, "top_logprobs", top));
                }
                json_decref(toks);
                json_decref(lp);
                lp = json_pack("{s:o,s:n}", "content", content, "refusal");
            }
            const char *finish = ch[k].length ? "length" : "stop";
            if (ch[k].refused) {
                json_object_set_new(msg, "content", json_null());
                json_object_set_new(msg, "refusal", json_string(ch[k].content));
            } else if (ch[k].tool_args) {
                char *args = json_dumps(ch[k].tool_args, JSON_COMPACT | JSON_ENCODE_ANY | JSON_REAL_PRECISION(10));
                char *id = sim_new_id("call_");
                json_object_set_new(msg, "content", json_null());
                json_object_set_new(msg, "refusal", json_null());
                json_object_set_new(msg, "tool_calls", json_pack("[{s:s,s:s,s:{s:s,s:s}}]", "id", id, "type", "function",
                                    "function", "name", tool_name, "arguments", args));
                free(args);
                free(id);
                if (!ch[k].length) finish = "tool_calls";
            } else {
                json_t *s = json_string(ch[k].content);
                json_object_set_new(msg, "content", s ? s : json_string(""));
                json_object_set_new(msg, "refusal", json_null());
            }
            json_object_set_new(msg, "annotations", json_array());
            json_array_append_new(choices, json_pack("{s:i,s:o,s:o,s:s}", "index", k, "message", msg, "logprobs", lp,
                                                     "finish_reason", finish));
        }
        char *id = sim_new_id(orouter ? "gen-" : "chatcmpl-");
        json_t *usage = json_pack("{s:I,s:I,s:I,s:{s:i,s:i},s:{s:i,s:i,s:i,s:i}}",
            "prompt_tokens", (json_int_t)txt.tokens, "completion_tokens", (json_int_t)out_tokens,
            "total_tokens", (json_int_t)(txt.tokens + out_tokens), "prompt_tokens_details", "cached_tokens", 0,
            "audio_tokens", 0, "completion_tokens_details", "reasoning_tokens", 0, "audio_tokens", 0,
            "accepted_prediction_tokens", 0, "rejected_prediction_tokens", 0);
        json_t *ans = json_pack("{s:s,s:s,s:I,s:s,s:o}", "id", id, "object", "chat.completion",
                                "created", (json_int_t)sim_now_real(), "model", model, "choices", choices);
        free(id);
        if (orouter) {
            double cost = (txt.tokens * info->price_in + out_tokens * info->price_out) * factor / 1e6;
            if (c->batch) cost /= 2;
            sim_credits_spend(cost);
            json_object_set_new(usage, "cost", json_real(cost));
            json_object_set_new(usage, "is_byok", json_false());
            json_object_set_new(ans, "provider", json_string(up));
        } else {
            json_object_set_new(ans, "service_tier", json_string(flex ? "flex" : "default"));
            json_object_set_new(ans, "system_fingerprint", json_string("fp_sim"));
        }
        json_object_set_new(ans, "usage", usage);
        sim_resp_json(c->resp, 200, ans);
        if (fault == SIM_FAULT_TRUNCATED) sim_truncate_body(c->resp);
        if (fault == SIM_FAULT_RESET) c->resp->action = SIM_ACT_RESET;
        if (fault == SIM_FAULT_HANG) c->resp->action = SIM_ACT_HANG;
        if (!c->batch) c->resp->delay_s = sim_latency(&cfg, out_tokens);
    }
    if (!orouter) sim_openai_rate_headers(c->resp, &rate);
    char *rid = sim_new_id("req_");
    sim_resp_header(c->resp, "x-request-id", "%s", rid);
    free(rid);
    for (int k = 0; k < n; k++) { free(ch[k].content); json_decref(ch[k].tool_args); }
    free(ch);
    sim_text_free(&txt);
}

/* Serves /v1/embeddings for request req (borrowed). */
static void embeddings_core(SimCall *c, json_t *req)
{
    snprintf(c->endpoint, sizeof c->endpoint, "embeddings");
    const char *model = json_string_value(json_object_get(req, "model"));
    if (!model || !*model) {
        fail(c, 400, "you must provide a model parameter", "invalid_request_error", NULL, NULL);
        return;
    }
    snprintf(c->model, sizeof c->model, "%s", model);
    json_t *in = json_object_get(req, "input");
    json_t *list = json_is_string(in) ? json_pack("[O]", in) : json_incref(in);
    size_t n = json_array_size(list), i;
    json_t *v;
    const char *bad = NULL;
    if (!json_is_array(list)) bad = "Missing required parameter: 'input'.";
    else if (n == 0) bad = "'$.input' is invalid. Please check the API reference: https://platform.openai.com/docs/api-reference.";
    else if (n > 2048) bad = "'$.input' is invalid: at most 2048 inputs may be given.";
    long total = 0, maxone = 0;
    json_array_foreach(list, i, v) {
        if (bad) break;
        if (!json_is_string(v) || json_string_length(v) == 0) { bad = "'$.input' is invalid: every input must be a non-empty string."; break; }
        long t = sim_tokens(json_string_value(v));
        total += t;
        if (t > maxone) maxone = t;
    }
    if (bad) {
        fail(c, 400, bad, "invalid_request_error", "input", NULL);
        json_decref(list);
        return;
    }
    SimModelCfg cfg;
    sim_config_model(model, &cfg);
    const SimModelInfo *info = sim_model_info(model, c->provider);
    long ctx = cfg.context_window ? cfg.context_window : info->context_window;
    if (maxone > ctx || total > 300000) {
        char msg[300];
        if (maxone > ctx)
            snprintf(msg, sizeof msg, "This model's maximum context length is %ld tokens, however you requested %ld "
                     "tokens (%ld in your prompt; 0 for the completion). Please reduce your prompt; or completion length.",
                     ctx, maxone, maxone);
        else
            snprintf(msg, sizeof msg, "Requested %ld tokens, max 300000 tokens per request", total);
        fail(c, 400, msg, "invalid_request_error", "input", maxone > ctx ? "context_length_exceeded" : "max_tokens_per_request");
        json_decref(list);
        return;
    }
    int dim = cfg.embedding_dim ? cfg.embedding_dim : info->embedding_dim ? info->embedding_dim : 1536;
    json_t *jd = json_object_get(req, "dimensions");
    if (jd && !json_is_null(jd)) {
        if (!json_is_integer(jd) || json_integer_value(jd) < 1 || json_integer_value(jd) > dim) {
            fail(c, 400, "Invalid 'dimensions': must be between 1 and the model's dimension.", "invalid_request_error",
                 "dimensions", "invalid_value");
            json_decref(list);
            return;
        }
        dim = (int)json_integer_value(jd);
    }
    c->in_tokens = total;
    if (sim_quota_exhausted(model, &cfg)) {
        fail(c, 429, "You exceeded your current quota, please check your plan and billing details.",
             "insufficient_quota", NULL, "insufficient_quota");
        json_decref(list);
        return;
    }
    SimFault fault = sim_draw_fault(c, &cfg, NULL);
    SimRate rate;
    SimLimit lim = (c->batch ? sim_admit_batch : sim_admit)(model, c->provider, &cfg, total, 0, &rate);
    if (lim == SIM_LIM_OK && fault == SIM_FAULT_429) { lim = SIM_LIM_RPM; rate.used = rate.lim_req; rate.requested = 1; rate.retry_after = 1; }
    if (lim != SIM_LIM_OK) rate_limited(c, lim, &rate, model);
    else if (fault == SIM_FAULT_500 || fault == SIM_FAULT_502 || fault == SIM_FAULT_503 || fault == SIM_FAULT_529)
        server_fault(c, fault);
    else {
        json_t *data = json_array();
        const char *fmt = json_string_value(json_object_get(req, "encoding_format"));
        int b64 = fmt && strcmp(fmt, "base64") == 0;
        json_array_foreach(list, i, v)
            json_array_append_new(data, json_pack("{s:s,s:I,s:o}", "object", "embedding", "index", (json_int_t)i,
                                  "embedding", b64 ? sim_embedding_b64(json_string_value(v), dim)
                                                   : sim_embedding(json_string_value(v), dim)));
        sim_resp_json(c->resp, 200, json_pack("{s:s,s:o,s:s,s:{s:I,s:I}}", "object", "list", "data", data,
                      "model", model, "usage", "prompt_tokens", (json_int_t)total, "total_tokens", (json_int_t)total));
        if (fault == SIM_FAULT_TRUNCATED) sim_truncate_body(c->resp);
        if (fault == SIM_FAULT_RESET) c->resp->action = SIM_ACT_RESET;
        if (fault == SIM_FAULT_HANG) c->resp->action = SIM_ACT_HANG;
        if (!c->batch) c->resp->delay_s = sim_latency(&cfg, 0);
    }
    sim_openai_rate_headers(c->resp, &rate);
    json_decref(list);
}

/* ---- files and batches ---- */

typedef struct OFile { char *id, *filename, *purpose; char *data; size_t len; double created; } OFile;
typedef struct OBatch {
    char *id, *input_file_id, *endpoint, *output_file_id, *error_file_id;
    double created, created_mono, delay;   /* delay: seconds in progress (x-sim-batch-delay-ms) */
    int done, cancelled;
    long total, completed, failed;
    json_t *metadata;
} OBatch;

static pthread_mutex_t ob_mu = PTHREAD_MUTEX_INITIALIZER;
static OFile **files;
static int nfiles, capfiles;
static OBatch **batches;
static int nbatches, capbatches;

/* Returns the stored file with id (borrowed) or NULL. Called with ob_mu held. */
static OFile *file_find(const char *id)
{
    for (int i = 0; i < nfiles; i++) if (strcmp(files[i]->id, id) == 0) return files[i];
    return NULL;
}

/* Returns the batch with id (borrowed) or NULL. Called with ob_mu held. */
static OBatch *batch_find(const char *id)
{
    for (int i = 0; i < nbatches; i++) if (strcmp(batches[i]->id, id) == 0) return batches[i];
    return NULL;
}

/* Stores a file (data copied) and returns it. Called with ob_mu held. */
static OFile *file_add(const char *filename, const char *purpose, const char *data, size_t len)
{
    if (nfiles == capfiles) {
        capfiles = capfiles ? capfiles * 2 : 16;
        files = realloc(files, (size_t)capfiles * sizeof *files);
        if (!files) abort();
    }
    OFile *f = calloc(1, sizeof *f);
    if (!f) abort();
    f->id = sim_new_id("file-");
    f->filename = strdup(filename);
    f->purpose = strdup(purpose);
    f->data = malloc(len + 1);
    if (!f->data) abort();
    memcpy(f->data, data, len);
    f->data[len] = 0;
    f->len = len;
    f->created = sim_now_real();
    files[nfiles++] = f;
    return f;
}

/* The file object of f (new reference). */
static json_t *file_json(const OFile *f)
{
    return json_pack("{s:s,s:s,s:I,s:I,s:s,s:s,s:s,s:n,s:n}", "id", f->id, "object", "file", "bytes", (json_int_t)f->len,
                     "created_at", (json_int_t)f->created, "filename", f->filename, "purpose", f->purpose,
                     "status", "processed", "expires_at", "status_details");
}

/* Finds part `name` of a multipart body; returns its data (borrowed) and length, and the part's
 * filename (malloc'd, when filename is not NULL). */
static const char *multipart_part(const char *body, size_t blen, const char *boundary, const char *name,
                                  size_t *len, char **filename)
{
    char delim[300];
    snprintf(delim, sizeof delim, "--%s", boundary);
    size_t dl = strlen(delim);
    const char *end = body + blen;
    const char *p = memmem(body, blen, delim, dl);
    while (p) {
        p += dl;
        if (end - p >= 2 && p[0] == '-' && p[1] == '-') return NULL;
        const char *hdr_end = memmem(p, (size_t)(end - p), "\r\n\r\n", 4);
        if (!hdr_end) return NULL;
        const char *data = hdr_end + 4;
        const char *next = memmem(data, (size_t)(end - data), delim, dl);
        if (!next) return NULL;
        size_t hl = (size_t)(hdr_end - p);
        char *hdrs = strndup(p, hl);
        char want[160];
        snprintf(want, sizeof want, "name=\"%s\"", name);
        int hit = strstr(hdrs, want) != NULL;
        if (hit) {
            const char *dend = next;
            if (dend - data >= 2 && dend[-2] == '\r' && dend[-1] == '\n') dend -= 2;
            *len = (size_t)(dend - data);
            if (filename) {
                const char *fn = strstr(hdrs, "filename=\"");
                *filename = fn ? strndup(fn + 10, strcspn(fn + 10, "\"")) : strdup("upload.jsonl");
            }
            free(hdrs);
            return data;
        }
        free(hdrs);
        p = next;
    }
    return NULL;
}

/* POST /v1/files (multipart: purpose, file). */
static void files_create(SimCall *c)
{
    snprintf(c->endpoint, sizeof c->endpoint, "files");
    const char *ct = c->ctype ? c->ctype : "";
    const char *b = strstr(ct, "boundary=");
    if (strncasecmp(ct, "multipart/form-data", 19) != 0 || !b) {
        fail(c, 400, "Invalid Content-Type: expected multipart/form-data.", "invalid_request_error", NULL, NULL);
        return;
    }
    char boundary[256];
    b += 9;
    if (*b == '"') b++;
    snprintf(boundary, sizeof boundary, "%.*s", (int)strcspn(b, "\";"), b);
    size_t plen = 0, flen = 0;
    char *fname = NULL;
    const char *purpose = multipart_part(c->body, c->body_len, boundary, "purpose", &plen, NULL);
    const char *data = multipart_part(c->body, c->body_len, boundary, "file", &flen, &fname);
    if (!purpose) { fail(c, 400, "Missing required parameter: 'purpose'.", "invalid_request_error", "purpose", NULL); free(fname); return; }
    if (!data) { fail(c, 400, "Missing required parameter: 'file'.", "invalid_request_error", "file", NULL); free(fname); return; }
    char *pur = strndup(purpose, plen);
    pthread_mutex_lock(&ob_mu);
    OFile *f = file_add(fname, pur, data, flen);
    json_t *j = file_json(f);
    pthread_mutex_unlock(&ob_mu);
    sim_resp_json(c->resp, 200, j);
    free(pur);
    free(fname);
}

/* The batch object of b as GET /v1/batches/{id} returns it (new reference). */
static json_t *batch_json(const OBatch *b)
{
    const char *status = b->cancelled ? "cancelled" : b->done ? "completed" : "in_progress";
    double now = sim_now_real();
    /* while in progress, requests complete evenly over the batch's delay (a client shows progress) */
    double part = b->delay > 0 ? (sim_now_mono() - b->created_mono) / b->delay : 1;
    long completed = b->done ? b->completed : (long)((double)b->total * (part < 1 ? part : 1));
    json_t *j = json_pack("{s:s,s:s,s:s,s:n,s:s,s:s,s:s,s:I,s:I,s:{s:I,s:I,s:I}}", "id", b->id, "object", "batch",
        "endpoint", b->endpoint, "errors", "input_file_id", b->input_file_id, "completion_window", "24h",
        "status", status, "created_at", (json_int_t)b->created, "expires_at", (json_int_t)(b->created + 86400),
        "request_counts", "total", (json_int_t)b->total, "completed", (json_int_t)completed, "failed", (json_int_t)b->failed);
    json_object_set_new(j, "output_file_id", b->output_file_id ? json_string(b->output_file_id) : json_null());
    json_object_set_new(j, "error_file_id", b->error_file_id ? json_string(b->error_file_id) : json_null());
    json_object_set_new(j, "in_progress_at", json_integer((json_int_t)b->created));
    json_object_set_new(j, "finalizing_at", b->done ? json_integer((json_int_t)now) : json_null());
    json_object_set_new(j, "completed_at", b->done && !b->cancelled ? json_integer((json_int_t)now) : json_null());
    json_object_set_new(j, "cancelled_at", b->cancelled ? json_integer((json_int_t)now) : json_null());
    json_object_set_new(j, "failed_at", json_null());
    json_object_set_new(j, "expired_at", json_null());
    json_object_set_new(j, "cancelling_at", json_null());
    json_object_set_new(j, "metadata", b->metadata ? json_incref(b->metadata) : json_null());
    return j;
}

/* Runs every line of batch b through the chat or embeddings core and stores the output and
 * error files. Called with ob_mu held. */
static void batch_run(OBatch *b)
{
    OFile *in = file_find(b->input_file_id);
    SimBuf out = {0}, err = {0};
    const char *p = in ? in->data : "";
    long line_no = 0;
    while (*p) {
        const char *e = strchr(p, '\n');
        size_t l = e ? (size_t)(e - p) : strlen(p);
        line_no++;
        int blank = 1;
        for (size_t k = 0; k < l; k++) if (!isspace((unsigned char)p[k])) blank = 0;
        if (!blank) {
            json_error_t je;
            json_t *line = json_loadb(p, l, 0, &je);
            const char *cid = json_string_value(json_object_get(line, "custom_id"));
            const char *url = json_string_value(json_object_get(line, "url"));
            json_t *body = json_object_get(line, "body");
            char *rid = sim_new_id("batch_req_");
            if (!line || !cid || !url || !json_is_object(body) || strcmp(url, b->endpoint) != 0) {
                json_t *o = json_pack("{s:s,s:o,s:n,s:{s:s,s:s}}", "id", rid, "custom_id", cid ? json_string(cid) : json_null(),
                    "response", "error", "code", "invalid_request", "message",
                    !line ? "line is not valid JSON" : "line needs custom_id, method, url (the batch's endpoint) and body");
                char *s = json_dumps(o, JSON_COMPACT);
                sim_buf_puts(&err, s);
                sim_buf_puts(&err, "\n");
                free(s);
                json_decref(o);
                b->failed++;
            } else {
                SimResp r;
                memset(&r, 0, sizeof r);
                SimCall sub;
                memset(&sub, 0, sizeof sub);
                sub.provider = SIM_OPENAI;
                sub.batch = 1;
                sub.resp = &r;
                if (strcmp(url, "/v1/embeddings") == 0) embeddings_core(&sub, body);
                else sim_openai_chat_core(&sub, body);
                json_t *rb = json_loadb(r.body ? r.body : "{}", r.len, 0, NULL);
                char *reqid = sim_new_id("req_");
                json_t *o = json_pack("{s:s,s:s,s:{s:i,s:s,s:o},s:n}", "id", rid, "custom_id", cid, "response",
                                      "status_code", r.status, "request_id", reqid, "body", rb ? rb : json_object(), "error");
                char *s = json_dumps(o, SIM_JSON_FLAGS);
                SimBuf *dst = r.status == 200 ? &out : &err;
                sim_buf_puts(dst, s);
                sim_buf_puts(dst, "\n");
                if (r.status == 200) b->completed++;
                else b->failed++;
                free(s);
                free(reqid);
                json_decref(o);
                sim_resp_clear(&r);
            }
            free(rid);
            json_decref(line);
        }
        p += l;
        if (*p == '\n') p++;
    }
    if (out.len) b->output_file_id = strdup(file_add("batch_output.jsonl", "batch_output", out.data, out.len)->id);
    if (err.len) b->error_file_id = strdup(file_add("batch_errors.jsonl", "batch_output", err.data, err.len)->id);
    sim_buf_free(&out);
    sim_buf_free(&err);
    b->done = 1;
}

/* Counts the non-blank lines of a file. */
static long count_lines(const OFile *f)
{
    long n = 0;
    int nonblank = 0;
    for (size_t i = 0; i < f->len; i++) {
        if (f->data[i] == '\n') { n += nonblank; nonblank = 0; }
        else if (!isspace((unsigned char)f->data[i])) nonblank = 1;
    }
    return n + nonblank;
}

/* POST /v1/batches. */
static void batches_create(SimCall *c, json_t *req)
{
    snprintf(c->endpoint, sizeof c->endpoint, "batches");
    const char *fid = json_string_value(json_object_get(req, "input_file_id"));
    const char *ep = json_string_value(json_object_get(req, "endpoint"));
    const char *win = json_string_value(json_object_get(req, "completion_window"));
    if (!fid || !ep || !win) {
        fail(c, 400, !fid ? "Missing required parameter: 'input_file_id'." : !ep ? "Missing required parameter: 'endpoint'."
                     : "Missing required parameter: 'completion_window'.", "invalid_request_error",
             !fid ? "input_file_id" : !ep ? "endpoint" : "completion_window", "missing_required_parameter");
        return;
    }
    if (strcmp(ep, "/v1/chat/completions") != 0 && strcmp(ep, "/v1/embeddings") != 0) {
        fail(c, 400, "Invalid 'endpoint': fql-sim batches support /v1/chat/completions and /v1/embeddings.",
             "invalid_request_error", "endpoint", "invalid_value");
        return;
    }
    if (strcmp(win, "24h") != 0) {
        fail(c, 400, "Invalid 'completion_window': expected '24h'.", "invalid_request_error", "completion_window", "invalid_value");
        return;
    }
    pthread_mutex_lock(&ob_mu);
    OFile *f = file_find(fid);
    if (!f) {
        pthread_mutex_unlock(&ob_mu);
        char msg[200];
        snprintf(msg, sizeof msg, "Invalid 'input_file_id': '%.100s'. File does not exist.", fid);
        fail(c, 400, msg, "invalid_request_error", "input_file_id", NULL);
        return;
    }
    if (nbatches == capbatches) {
        capbatches = capbatches ? capbatches * 2 : 16;
        batches = realloc(batches, (size_t)capbatches * sizeof *batches);
        if (!batches) abort();
    }
    OBatch *b = calloc(1, sizeof *b);
    if (!b) abort();
    b->id = sim_new_id("batch_");
    b->input_file_id = strdup(fid);
    b->endpoint = strdup(ep);
    b->created = sim_now_real();
    b->created_mono = sim_now_mono();
    b->delay = sim_batch_delay(c);
    b->total = count_lines(f);
    sim_batch_created(b->total);
    json_t *md = json_object_get(req, "metadata");
    b->metadata = json_is_object(md) ? json_incref(md) : NULL;
    batches[nbatches++] = b;
    json_t *j = batch_json(b);
    json_object_set_new(j, "status", json_string("validating"));
    pthread_mutex_unlock(&ob_mu);
    sim_resp_json(c->resp, 200, j);
}

/* GET /v1/batches/{id} and POST /v1/batches/{id}/cancel: completes the batch once its delay has
 * passed. */
static void batches_get(SimCall *c, const char *id, int cancel)
{
    snprintf(c->endpoint, sizeof c->endpoint, cancel ? "batches.cancel" : "batches.get");
    pthread_mutex_lock(&ob_mu);
    OBatch *b = batch_find(id);
    if (!b) {
        pthread_mutex_unlock(&ob_mu);
        char msg[200];
        snprintf(msg, sizeof msg, "No batch found with id '%.100s'.", id);
        fail(c, 404, msg, "invalid_request_error", NULL, NULL);
        return;
    }
    if (cancel && !b->done) { b->cancelled = 1; b->done = 1; }
    if (!b->done && sim_now_mono() - b->created_mono >= b->delay) batch_run(b);
    json_t *j = batch_json(b);
    pthread_mutex_unlock(&ob_mu);
    sim_resp_json(c->resp, 200, j);
}

/* GET /v1/files/{id} and /v1/files/{id}/content. */
static void files_get(SimCall *c, const char *id, int content)
{
    snprintf(c->endpoint, sizeof c->endpoint, content ? "files.content" : "files.get");
    pthread_mutex_lock(&ob_mu);
    OFile *f = file_find(id);
    if (!f) {
        pthread_mutex_unlock(&ob_mu);
        char msg[200];
        snprintf(msg, sizeof msg, "No such File object: %.100s", id);
        fail(c, 404, msg, "invalid_request_error", "id", NULL);
        return;
    }
    if (content) sim_resp_raw(c->resp, 200, "application/octet-stream", f->data, f->len);
    else sim_resp_json(c->resp, 200, file_json(f));
    pthread_mutex_unlock(&ob_mu);
}

/* Forgets every file and batch. */
void sim_openai_reset(void)
{
    pthread_mutex_lock(&flex_mu);
    free(flex_seen);
    flex_seen = NULL;
    nflex = capflex = 0;
    pthread_mutex_unlock(&flex_mu);
    pthread_mutex_lock(&ob_mu);
    for (int i = 0; i < nfiles; i++) {
        free(files[i]->id); free(files[i]->filename); free(files[i]->purpose); free(files[i]->data); free(files[i]);
    }
    for (int i = 0; i < nbatches; i++) {
        OBatch *b = batches[i];
        free(b->id); free(b->input_file_id); free(b->endpoint); free(b->output_file_id); free(b->error_file_id);
        json_decref(b->metadata);
        free(b);
    }
    free(files);
    free(batches);
    files = NULL;
    batches = NULL;
    nfiles = capfiles = nbatches = capbatches = 0;
    pthread_mutex_unlock(&ob_mu);
}

/* GET /v1/models. */
static void models_list(SimCall *c, const char *one)
{
    snprintf(c->endpoint, sizeof c->endpoint, "models");
    int n;
    const SimModelInfo *t = sim_model_table(&n);
    json_t *data = json_array();
    for (int i = 0; i < n; i++) {
        if (t[i].provider != SIM_OPENAI) continue;
        json_t *m = json_pack("{s:s,s:s,s:i,s:s}", "id", t[i].id, "object", "model", "created", 1700000000, "owned_by", "system");
        if (one && strcmp(one, t[i].id) == 0) { sim_resp_json(c->resp, 200, m); json_decref(data); return; }
        json_array_append_new(data, m);
    }
    if (one) {   /* any model name is served, so any is described */
        sim_resp_json(c->resp, 200, json_pack("{s:s,s:s,s:i,s:s}", "id", one, "object", "model", "created", 1700000000,
                                              "owned_by", "system"));
        json_decref(data);
        return;
    }
    sim_resp_json(c->resp, 200, json_pack("{s:s,s:o}", "object", "list", "data", data));
}

/* Parses the body as a JSON object, answering 400 when it is not. Returns a new reference or NULL. */
static json_t *parse_body(SimCall *c)
{
    json_error_t je;
    json_t *req = json_loadb(c->body, c->body_len, 0, &je);
    if (!json_is_object(req)) {
        char msg[600];
        if (!req)
            snprintf(msg, sizeof msg, "We could not parse the JSON body of your request. (HINT: This likely means you aren't "
                     "using your HTTP library correctly. The OpenAI API expects a JSON payload, but what was sent was not "
                     "valid JSON. If you have trouble figuring out how to fix this, please contact us through our help center at help.openai.com.)");
        else
            snprintf(msg, sizeof msg, "Invalid type for request body: expected an object.");
        if (c->provider == SIM_OPENROUTER) sim_resp_json(c->resp, 400, or_error(400, msg));
        else sim_resp_json(c->resp, 400, sim_openai_error(msg, "invalid_request_error", NULL, NULL));
        json_decref(req);
        return NULL;
    }
    return req;
}

/* Answers 405 for a known path with the wrong method, 404 for an unknown path. */
static void not_found(SimCall *c, int known)
{
    char msg[300];
    snprintf(msg, sizeof msg, "Invalid URL (%.10s %.200s)", c->method, c->path);
    if (known) {
        char m2[340];
        snprintf(m2, sizeof m2, "Method %.10s not allowed for %.200s", c->method, c->path);
        fail(c, 405, m2, "invalid_request_error", NULL, NULL);
    } else {
        fail(c, 404, msg, "invalid_request_error", NULL, NULL);
    }
}

/* Serves every OpenAI path. */
void sim_openai_handle(SimCall *c)
{
    const char *p = c->path;
    int post = strcmp(c->method, "POST") == 0, get = strcmp(c->method, "GET") == 0;
    char id[160];
    if (strcmp(p, "/v1/chat/completions") == 0 || strcmp(p, "/v1/embeddings") == 0 || strcmp(p, "/v1/batches") == 0) {
        if (!post) { not_found(c, 1); return; }
        json_t *req = parse_body(c);
        if (!req) return;
        if (p[4] == 'c') sim_openai_chat_core(c, req);
        else if (p[4] == 'e') embeddings_core(c, req);
        else batches_create(c, req);
        json_decref(req);
    } else if (strcmp(p, "/v1/files") == 0) {
        if (!post) { not_found(c, 1); return; }
        files_create(c);
    } else if (strcmp(p, "/v1/models") == 0) {
        if (!get) { not_found(c, 1); return; }
        models_list(c, NULL);
    } else if (sim_path_match(p, "/v1/models/", "", id, sizeof id)) {
        if (!get) { not_found(c, 1); return; }
        models_list(c, id);
    } else if (sim_path_match(p, "/v1/files/", "/content", id, sizeof id)) {
        if (!get) { not_found(c, 1); return; }
        files_get(c, id, 1);
    } else if (sim_path_match(p, "/v1/files/", "", id, sizeof id)) {
        if (!get) { not_found(c, 1); return; }
        files_get(c, id, 0);
    } else if (sim_path_match(p, "/v1/batches/", "/cancel", id, sizeof id)) {
        if (!post) { not_found(c, 1); return; }
        batches_get(c, id, 1);
    } else if (sim_path_match(p, "/v1/batches/", "", id, sizeof id)) {
        if (!get) { not_found(c, 1); return; }
        batches_get(c, id, 0);
    } else {
        not_found(c, 0);
    }
}

/* Serves OpenRouter's chat completions, key check and model list. */
void sim_openrouter_handle(SimCall *c)
{
    const char *p = c->path;
    int post = strcmp(c->method, "POST") == 0, get = strcmp(c->method, "GET") == 0;
    if (strcmp(p, "/api/v1/chat/completions") == 0) {
        if (!post) { sim_resp_json(c->resp, 405, or_error(405, "Method not allowed")); return; }
        json_t *req = parse_body(c);
        if (!req) return;
        sim_openai_chat_core(c, req);
        json_decref(req);
    } else if (strcmp(p, "/api/v1/key") == 0 || strcmp(p, "/api/v1/auth/key") == 0) {
        if (!get) { sim_resp_json(c->resp, 405, or_error(405, "Method not allowed")); return; }
        snprintf(c->endpoint, sizeof c->endpoint, "key");
        double lim = sim_config_number("openrouter_credits", 100.0), used = sim_credits_used();
        sim_resp_json(c->resp, 200, json_pack("{s:{s:s,s:f,s:f,s:f,s:b,s:{s:i,s:s}}}", "data", "label", "sim-key",
            "usage", used, "limit", lim, "limit_remaining", lim - used > 0 ? lim - used : 0.0, "is_free_tier", 0,
            "rate_limit", "requests", 1000, "interval", "10s"));
    } else if (strcmp(p, "/api/v1/models") == 0) {
        if (!get) { sim_resp_json(c->resp, 405, or_error(405, "Method not allowed")); return; }
        snprintf(c->endpoint, sizeof c->endpoint, "models");
        int n;
        const SimModelInfo *t = sim_model_table(&n);
        json_t *data = json_array();
        for (int i = 0; i < n; i++) {
            if (t[i].provider != SIM_OPENROUTER) continue;
            char pin[32], pout[32];
            snprintf(pin, sizeof pin, "%.10f", t[i].price_in / 1e6);
            snprintf(pout, sizeof pout, "%.10f", t[i].price_out / 1e6);
            json_array_append_new(data, json_pack("{s:s,s:s,s:I,s:{s:s,s:s}}", "id", t[i].id, "name", t[i].id,
                "context_length", (json_int_t)t[i].context_window, "pricing", "prompt", pin, "completion", pout));
        }
        sim_resp_json(c->resp, 200, json_pack("{s:o}", "data", data));
    } else {
        sim_resp_json(c->resp, 404, or_error(404, "Not Found"));
    }
}
