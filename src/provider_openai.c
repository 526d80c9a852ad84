/* provider_openai.c: the OpenAI wire protocol, spoken by api.openai.com, OpenRouter and every
 * OpenAI-compatible server (Ollama, llama.cpp, vLLM, ...): chat completions, embeddings, the key
 * check, and the classification of every answer (providers.md, "OpenAI" and "OpenRouter").
 */
#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "provider.h"

#define OPENAI_MAX_EMBED_INPUTS 2048

/* api.openai.com itself (not a local server or a proxy that only knows older fields). */
static int is_official(const LmModel *m)
{
    const char *u = m->base_url ? m->base_url : "";
    const char *h = strstr(u, "://");
    h = h ? h + 3 : u;
    return !strncasecmp(h, "api.openai.com", 14) && (h[14] == 0 || h[14] == '/' || h[14] == ':');
}

static const char *base_of(const LmModel *m)
{
    if (m->base_url && *m->base_url) return m->base_url;
    return m->provider == PROV_OPENROUTER ? "https://openrouter.ai/api/v1" : "https://api.openai.com/v1";
}

static void add_auth(const LmModel *m, HttpRequest *out)
{
    if (m->api_key && *m->api_key) wire_add_header(out, "Authorization: Bearer %s", m->api_key);
}

static void add_message(json_t *msgs, const char *role, const char *text)
{
    json_array_append_new(msgs, json_pack("{s:s, s:s}", "role", role, "content", text ? text : ""));
}

/* A user message with media: the text part, then one image_url part per image as a data URL and
 * one input_audio part (format wav or mp3) per audio medium. */
static json_t *image_content(const LmRequest *r)
{
    json_t *parts = json_array();
    json_array_append_new(parts, json_pack("{s:s, s:s}", "type", "text", "text", r->user ? r->user : ""));
    for (int i = 0; i < r->nimages; i++) {
        const char *mt = r->images[i].mime_type;
        if (!strncmp(mt, "audio/", 6)) {
            json_array_append_new(parts, json_pack("{s:s, s:{s:s, s:s}}", "type", "input_audio", "input_audio", "data", r->images[i].base64,
                                                   "format", !strcmp(mt, "audio/mpeg") ? "mp3" : "wav"));
            continue;
        }
        char *url = xasprintf("data:%s;base64,%s", mt, r->images[i].base64);
        json_array_append_new(parts, json_pack("{s:s, s:{s:s}}", "type", "image_url", "image_url", "url", url));
        free(url);
    }
    return parts;
}

int openai_build(const LmModel *m, const LmRequest *r, HttpRequest *out, char **err)
{
    const char *base = base_of(m);
    json_t *body = json_object();
    json_object_set_new(body, "model", json_string(m->model_name ? m->model_name : ""));
    if (r->kind == LM_EMBED) {
        if (r->ninputs < 1 || r->ninputs > OPENAI_MAX_EMBED_INPUTS) {
            json_decref(body);
            *err = xasprintf("an embeddings request takes 1 to %d inputs, not %d", OPENAI_MAX_EMBED_INPUTS, r->ninputs);
            return -1;
        }
        json_t *in = json_array();
        for (int i = 0; i < r->ninputs; i++) {
            const char *t = r->inputs[i] ? r->inputs[i] : "";
            if (!*t) {
                json_decref(in);
                json_decref(body);
                *err = xasprintf("input %d of an embeddings request is empty (the API refuses empty strings)", i + 1);
                return -1;
            }
            json_array_append_new(in, json_string(t));
        }
        json_object_set_new(body, "input", in);
        json_object_set_new(body, "encoding_format", json_string("float"));
        if (m->dimensions > 0) json_object_set_new(body, "dimensions", json_integer(m->dimensions));
        wire_start(out, "POST", xasprintf("%s/embeddings", base));
    } else {
        json_t *msgs = json_array();
        if (r->system && *r->system) add_message(msgs, "system", r->system);
        if (r->nimages) json_array_append_new(msgs, json_pack("{s:s, s:o}", "role", "user", "content", image_content(r)));
        else add_message(msgs, "user", r->user);
        json_object_set_new(body, "messages", msgs);
        /* The output ceiling: api.openai.com wants max_completion_tokens (max_tokens is deprecated
         * there and refused by reasoning models); every other server speaking this protocol
         * (OpenRouter, Ollama, llama.cpp, vLLM, proxies) knows only max_tokens. So: the new name for
         * api.openai.com, the old one for any other base URL. */
        int maxt = wire_max_tokens(m, r, 0);
        if (maxt > 0)
            json_object_set_new(body, is_official(m) && m->provider == PROV_OPENAI ? "max_completion_tokens" : "max_tokens",
                                json_integer(maxt));
        double temp = wire_temperature(m, r);
        if (!isnan(temp)) json_object_set_new(body, "temperature", json_real(temp));
        if (m->reasoning_effort && *m->reasoning_effort) {
            if (m->provider == PROV_OPENROUTER)
                json_object_set_new(body, "reasoning", json_pack("{s:s}", "effort", m->reasoning_effort));
            else
                json_object_set_new(body, "reasoning_effort", json_string(m->reasoning_effort));
        }
        if (r->schema) {
            char *name = wire_schema_name(r);
            json_object_set_new(body, "response_format",
                json_pack("{s:s, s:{s:s, s:b, s:O}}", "type", "json_schema", "json_schema",
                          "name", name, "strict", 1, "schema", r->schema));
            free(name);
        }
        /* token log probabilities (confidence): only the chosen tokens' are read, so no top_logprobs */
        if (r->logprobs && m->logprobs) json_object_set_new(body, "logprobs", json_true());
        if (m->provider == PROV_OPENROUTER && json_is_object(m->routing))
            json_object_set_new(body, "provider", json_deep_copy(m->routing));
        /* flex processing: Batch API prices, answered synchronously, at times refused with 429 */
        if (m->flex && m->provider == PROV_OPENAI) json_object_set_new(body, "service_tier", json_string("flex"));
        wire_start(out, "POST", xasprintf("%s/chat/completions", base));
    }
    add_auth(m, out);
    wire_add_header(out, "Content-Type: application/json");
    wire_set_json(out, body);
    return 0;
}

int openai_build_key_check(const LmModel *m, HttpRequest *out, char **err)
{
    wire_start(out, "GET", xasprintf(m->provider == PROV_OPENROUTER ? "%s/key" : "%s/models", base_of(m)));
    add_auth(m, out);
    return 0;
}

/* The wait a 429 asks for: retry-after-ms, the message's "try again in 1.574s", retry-after, then
 * the relevant x-ratelimit-reset-* (the exhausted budget's, else the larger). -1 when unknown. */
static double rate_limit_wait(const char *headers, const char *msg, const char *type)
{
    double ms = hdr_number(headers, "retry-after-ms");
    if (ms >= 0) return ms / 1000;
    double w = text_try_again(msg);
    if (w >= 0) return w;
    w = hdr_retry_after(headers, now_unix());
    if (w >= 0) return w;
    char *rr = hdr_get(headers, "x-ratelimit-reset-requests"), *rt = hdr_get(headers, "x-ratelimit-reset-tokens");
    double dr = wire_parse_duration(rr), dt = wire_parse_duration(rt);
    free(rr);
    free(rt);
    if (type && !strcmp(type, "requests") && dr >= 0) return dr;
    if (type && !strcmp(type, "tokens") && dt >= 0) return dt;
    double remr = hdr_number(headers, "x-ratelimit-remaining-requests");
    double remt = hdr_number(headers, "x-ratelimit-remaining-tokens");
    if (remr == 0 && remt != 0 && dr >= 0) return dr;
    if (remt == 0 && remr != 0 && dt >= 0) return dt;
    return dr > dt ? dr : dt;
}

static int contains(const char *s, const char *needle) { return s && strcasestr(s, needle) != NULL; }

#define FLEX_WAIT_BASE_S 2.0    /* flex "resource unavailable": the first retry waits 2 s, doubling ... */
#define FLEX_WAIT_CAP_S  60.0   /* ... up to a minute */

/* Flex processing's 429 "Resource Unavailable": OpenAI has no flex capacity for the request at the
 * moment (not a limit of the key: nothing was counted or billed). Told apart from a rate limit by
 * its code or message; the rate-limit 429s say "rate limit" and carry code rate_limit_exceeded. */
static int flex_unavailable(const LmModel *m, const char *msg, const char *code, const char *type)
{
    if (contains(code, "rate_limit") || contains(msg, "rate limit")) return 0;
    return contains(code, "resource_unavailable") || contains(type, "resource_unavailable") ||
           contains(msg, "resource unavailable") || (m->flex && contains(msg, "flex") && contains(msg, "capacity"));
}

/* Classify an error answer: HTTP status (or the code of an error inside a 200 body), the error
 * object's message, code and type. */
static void classify(const LmModel *m, long status, const char *msg, const char *code, const char *type,
                     const char *headers, LmAnswer *a)
{
    const char *env = m->api_key_env ? m->api_key_env : m->provider == PROV_OPENROUTER ? "OPENROUTER_API_KEY" : "OPENAI_API_KEY";
    const char *who = m->provider == PROV_OPENROUTER ? "OpenRouter" : "OpenAI";
    if (!msg) msg = "";
    if (status == 429 && (contains(code, "insufficient_quota") || contains(type, "insufficient_quota"))) {
        answer_set(a, LM_FATAL, "quota", "%s: quota exhausted: %s (check the plan and billing of the %s account whose key is in %s)",
                   who, msg, who, env);
    } else if (status == 429 && contains(msg, "request too large")) {
        answer_set(a, LM_ROW_ERROR, "request_too_large", "%s", msg);
    } else if (status == 429 && flex_unavailable(m, msg, code, type)) {
        /* a retry, not the rate limit: the model's pace stays; the wait grows with the attempts
         * (the request's attempts, set by the parser's caller) unless the server names one */
        answer_set(a, LM_RETRY, "flex_unavailable", "%s", msg);
        a->retry_after_s = hdr_retry_after(headers, now_unix());   /* else flex_wait, in openai_parse */
    } else if (status == 429 && (contains(msg, "per-day") || contains(msg, "per day"))) {
        answer_set(a, LM_FATAL, "quota", "%s: daily limit reached: %s (wait for the daily reset or raise the limit of the key in %s)",
                   who, msg, env);
    } else if (status == 429) {
        answer_set(a, LM_RATE_LIMITED, "rate_limit", "%s", msg);
        a->retry_after_s = rate_limit_wait(headers, msg, type);
    } else if (status == 401) {
        answer_set(a, LM_FATAL, "auth", "%s rejected the API key: %s (set a valid key in %s)", who, msg, env);
    } else if (status == 403 && m->provider == PROV_OPENROUTER && (contains(msg, "moderation") || contains(msg, "flagged"))) {
        answer_set(a, LM_ROW_ERROR, "content_filter", "%s", msg);
    } else if (status == 403) {
        answer_set(a, LM_FATAL, "auth", "%s refused access: %s (check the permissions of the key in %s)", who, msg, env);
    } else if (status == 402) {
        double w = hdr_retry_after(headers, now_unix());
        if (w >= 0) {
            answer_set(a, LM_RATE_LIMITED, "rate_limit", "%s", msg);
            a->retry_after_s = w;
        } else {
            answer_set(a, LM_FATAL, "quota", "%s: out of credits: %s (add credits to the account whose key is in %s)", who, msg, env);
        }
    } else if (status == 404) {
        answer_set(a, LM_FATAL, "unknown_model", "%s: not found: %s (check the model name '%s' and the base URL)",
                   who, msg, m->model_name ? m->model_name : "");
    } else if (status == 413) {
        answer_set(a, LM_ROW_ERROR, "request_too_large", "%s", msg);
    } else if ((status == 400 || status == 422) &&
               (contains(code, "context_length_exceeded") || contains(msg, "context length") ||
                contains(msg, "context window") || contains(msg, "context_length"))) {
        answer_set(a, LM_ROW_ERROR, "context_window", "%s", msg);
    } else if (status_transient(status)) {
        const char *kind = status == 408 || status == 504 ? "timeout" : status == 409 ? "conflict"
                         : status == 503 && contains(msg, "provider") ? "no_provider"
                         : status == 503 || status == 529 ? "overloaded" : status == 502 ? "bad_gateway" : "server_error";
        answer_set(a, LM_RETRY, kind, "%s", msg);
        a->retry_after_s = hdr_retry_after(headers, now_unix());
    } else if (status >= 400) {
        answer_set(a, LM_ROW_ERROR, "bad_request", "%s", msg);
    } else {
        answer_set(a, LM_ROW_ERROR, "unexpected_status", "unexpected HTTP status %ld: %s", status, msg);
    }
    if (!a->error_message || !*a->error_message) {
        free(a->error_message);
        a->error_message = xasprintf("HTTP %ld", status);
    }
}

/* Classify from a parsed error body: {"error":{...}}, {"error":"text"}, vLLM's
 * {"object":"error","message","code":400}, or anything else (a proxy's HTML page). */
static void classify_body(const LmModel *m, long status, json_t *root, const char *headers,
                          const char *body, size_t body_len, LmAnswer *a)
{
    json_t *e = jobj(root, "error");
    const char *msg = NULL, *code = NULL, *type = NULL;
    char codebuf[32];
    json_t *src = e ? e : json_is_object(root) ? root : NULL;
    if (src) {
        msg = jstr(src, "message");
        type = jstr(src, "type");
        code = jstr(src, "code");
        json_t *c = json_object_get(src, "code");
        if (json_is_integer(c)) {
            /* OpenRouter and vLLM put the HTTP status there; trust it when the status says less */
            long ci = (long)json_integer_value(c);
            if ((status < 400 || status == 200) && ci >= 400 && ci < 600) status = ci;
            snprintf(codebuf, sizeof codebuf, "%ld", ci);
            code = codebuf;
        }
        if (!msg) msg = jstr(src, "detail");
        json_t *md = jobj(e, "metadata");
        const char *pn = jstr(md, "provider_name");
        if (pn && !a->upstream) a->upstream = xstrdup(pn);
        const char *raw = jstr(md, "raw");
        if (raw && msg && status != 401 && status != 402) {
            char *both = xasprintf("%s (%s)", msg, raw);
            classify(m, status, both, code, type, headers, a);
            free(both);
            return;
        }
    }
    if (!msg && json_is_string(json_object_get(root, "error"))) msg = json_string_value(json_object_get(root, "error"));
    char *ex = NULL;
    if (!msg) msg = ex = body_excerpt(body, body_len, 300);
    if (status < 400) status = 500;   /* an error object in a 200 body without a code: the upstream failed */
    classify(m, status, msg, code, type, headers, a);
    free(ex);
}

static void parse_usage(const LmModel *m, json_t *root, LmAnswer *a)
{
    json_t *u = jobj(root, "usage");
    a->input_tokens = jint(u, "prompt_tokens");
    a->output_tokens = jint(u, "completion_tokens");
    a->cached_input_tokens = jint(jobj(u, "prompt_tokens_details"), "cached_tokens");
    a->reasoning_tokens = jint(jobj(u, "completion_tokens_details"), "reasoning_tokens");
    if (m->provider == PROV_OPENROUTER) {
        double c = jnum(u, "cost", -1);
        if (c >= 0) a->cost_usd = c;
        const char *up = jstr(root, "provider");
        if (up && !a->upstream) a->upstream = xstrdup(up);
    }
}

/* choices[0].logprobs.content: [{"token", "logprob", "bytes", "top_logprobs"}, ...] into a->tokens
 * (nothing when absent: a server that ignores the parameter). */
static void parse_logprobs(json_t *c0, LmAnswer *a)
{
    json_t *content = jarr(jobj(c0, "logprobs"), "content");
    size_t i;
    json_t *t;
    json_array_foreach(content, i, t) {
        const char *tok = jstr(t, "token");
        json_t *lp = json_object_get(t, "logprob");
        if (!tok || !json_is_number(lp)) continue;
        lm_answer_add_token(a, tok, json_number_value(lp));
    }
}

static void parse_chat(const LmModel *m, const LmRequest *r, json_t *root, long status, const char *headers,
                       const char *body, size_t body_len, LmAnswer *a)
{
    json_t *choices = jarr(root, "choices");
    json_t *c0 = json_array_get(choices, 0);
    json_t *msg = jobj(c0, "message");
    const char *finish = jstr(c0, "finish_reason");
    const char *refusal = jstr(msg, "refusal");
    json_t *content = json_object_get(msg, "content");
    if (!json_is_object(c0)) {
        char *ex = body_excerpt(body, body_len, 200);
        answer_set(a, LM_RETRY, "bad_response", "the answer has no choices: %s", ex);
        free(ex);
        return;
    }
    if (finish && !strcmp(finish, "error")) {   /* OpenRouter: the upstream failed mid-answer */
        json_t *e = jobj(c0, "error");
        json_t *c = json_object_get(e, "code");
        long st = json_is_integer(c) ? (long)json_integer_value(c) : 502;
        classify(m, st, jstr(e, "message") ? jstr(e, "message") : "the upstream provider failed", NULL, NULL, headers, a);
        return;
    }
    if (refusal && *refusal) {
        answer_set(a, LM_ROW_ERROR, "refusal", "the model refused: %s", refusal);
        return;
    }
    if (finish && !strcmp(finish, "content_filter")) {
        answer_set(a, LM_ROW_ERROR, "content_filter", "the answer was withheld by the content filter");
        return;
    }
    if (json_is_string(content)) a->text = xstrdup(json_string_value(content));
    else if (json_is_array(content)) {   /* some compatible servers send content parts */
        Buf b;
        buf_init(&b);
        size_t i;
        json_t *p;
        json_array_foreach(content, i, p) {
            const char *t = jstr(p, "text");
            if (t) buf_puts(&b, t);
        }
        a->text = buf_take(&b);
    } else {
        a->text = xstrdup("");
    }
    int has_schema = r && r->schema;
    if (finish && !strcmp(finish, "length") && has_schema) {
        answer_set(a, LM_ROW_ERROR, "max_tokens",
                   "the structured answer was cut off at the output limit (%lld tokens); raise max_output_tokens",
                   (long long)a->output_tokens);
        return;
    }
    a->outcome = LM_OK;
    if (r && r->logprobs) parse_logprobs(c0, a);
    if (has_schema) answer_take_json(a);
}

static void parse_embed(const LmRequest *r, json_t *root, const char *body, size_t body_len, LmAnswer *a)
{
    json_t *data = jarr(root, "data");
    int n = r ? r->ninputs : (int)json_array_size(data);
    if (!data || (int)json_array_size(data) != n || n <= 0) {
        answer_set(a, LM_RETRY, "bad_response", "the embeddings answer has %d vectors for %d inputs",
                   (int)json_array_size(data), n);
        return;
    }
    int dim = -1;
    float *vec = NULL;
    char *seen = xcalloc((size_t)n, 1);
    size_t i;
    json_t *d;
    json_array_foreach(data, i, d) {
        json_t *idx = json_object_get(d, "index");
        long k = json_is_integer(idx) ? (long)json_integer_value(idx) : (long)i;
        json_t *emb = jarr(d, "embedding");
        if (k < 0 || k >= n || seen[k] || !emb || json_array_size(emb) == 0 ||
            (dim >= 0 && (int)json_array_size(emb) != dim)) {
            answer_set(a, LM_RETRY, "bad_response", "the embeddings answer is malformed at data[%zu]", i);
            break;
        }
        if (dim < 0) {
            dim = (int)json_array_size(emb);
            vec = xcalloc((size_t)n * (size_t)dim, sizeof *vec);
        }
        seen[k] = 1;
        size_t j;
        json_t *x;
        json_array_foreach(emb, j, x) vec[(size_t)k * (size_t)dim + j] = (float)json_number_value(x);
    }
    free(seen);
    if (a->outcome != LM_OK || a->error_kind) {
        free(vec);
        return;
    }
    a->vectors = vec;
    a->nvec = n;
    a->dim = dim;
    (void)body; (void)body_len;
}

void openai_parse(const LmModel *m, const LmRequest *r, long status, const char *headers,
                  const char *body, size_t body_len, LmAnswer *a)
{
    a->remaining_requests = hdr_number(headers, "x-ratelimit-remaining-requests");
    a->remaining_tokens = hdr_number(headers, "x-ratelimit-remaining-tokens");
    json_t *root = body_json(body, body_len);
    if (status < 200 || status >= 300) {
        classify_body(m, status, root, headers, body, body_len, a);
        wire_should_retry(headers, a);
        if (a->outcome == LM_RETRY && a->error_kind && !strcmp(a->error_kind, "flex_unavailable") && a->retry_after_s < 0) {
            /* longer than a transient failure's retry (0.05 s, doubling): flex capacity comes back
             * in seconds to minutes; 2 s after the first send, doubling up to 60 s */
            int n = r && r->attempts > 1 ? r->attempts : 1;
            a->retry_after_s = fmin(FLEX_WAIT_BASE_S * pow(2, n - 1), FLEX_WAIT_CAP_S);
        }
    } else if (!json_is_object(root)) {
        /* a cut or garbled body from a proxy or a dropped connection: worth another try */
        char *ex = body_excerpt(body, body_len, 200);
        answer_set(a, LM_RETRY, "bad_response", "the answer is not JSON: %s", ex);
        free(ex);
    } else if (jobj(root, "error") || (jstr(root, "object") && !strcmp(jstr(root, "object"), "error"))) {
        classify_body(m, status, root, headers, body, body_len, a);   /* OpenRouter: an error in a 200 */
    } else if (!r) {
        /* the key check; OpenRouter's /key also says what is left on the key */
        json_t *d = jobj(root, "data");
        json_t *left = json_object_get(d, "limit_remaining");
        if (m->provider == PROV_OPENROUTER && json_is_number(left) && json_number_value(left) <= 0)
            answer_set(a, LM_FATAL, "quota", "OpenRouter: the key in %s has no credit left (raise its limit or add credits)",
                       m->api_key_env ? m->api_key_env : "OPENROUTER_API_KEY");
        else
            a->outcome = LM_OK;
    } else {
        parse_usage(m, root, a);
        if (r->kind == LM_EMBED) parse_embed(r, root, body, body_len, a);
        else parse_chat(m, r, root, status, headers, body, body_len, a);
    }
    json_decref(root);
}
