/* provider_anthropic.c: the Anthropic Messages API: POST /v1/messages (structured answers through
 * one forced tool), the key check, and the classification of every answer (providers.md,
 * "Anthropic"). Anthropic has no embeddings endpoint.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "provider.h"

#define ANTHROPIC_VERSION "2023-06-01"
#define ANTHROPIC_DEFAULT_MAX_TOKENS 1024   /* max_tokens is required; used when nothing says more */

/* The host, without a trailing "/v1" someone may have added (ANTHROPIC_BASE_URL is the host). */
static char *host_of(const LmModel *m)
{
    const char *b = m->base_url && *m->base_url ? m->base_url : "https://api.anthropic.com";
    size_t n = strlen(b);
    while (n > 0 && b[n - 1] == '/') n--;
    if (n >= 3 && !strncmp(b + n - 3, "/v1", 3)) n -= 3;
    return xstrndup(b, n);
}

static void add_headers(const LmModel *m, HttpRequest *out)
{
    if (m->api_key && *m->api_key) wire_add_header(out, "x-api-key: %s", m->api_key);
    wire_add_header(out, "anthropic-version: " ANTHROPIC_VERSION);
}

/* The user turn's content: the text, or with images an array of base64 image blocks followed by
 * the text block (Anthropic advises images before the text that refers to them). */
static json_t *user_content(const LmRequest *r)
{
    if (!r->nimages) return json_string(r->user ? r->user : "");
    json_t *blocks = json_array();
    for (int i = 0; i < r->nimages; i++)
        json_array_append_new(blocks, json_pack("{s:s, s:{s:s, s:s, s:s}}", "type", "image", "source", "type", "base64",
                                                "media_type", r->images[i].mime_type, "data", r->images[i].base64));
    json_array_append_new(blocks, json_pack("{s:s, s:s}", "type", "text", "text", r->user ? r->user : ""));
    return blocks;
}

int anthropic_build(const LmModel *m, const LmRequest *r, HttpRequest *out, char **err)
{
    if (r->kind == LM_EMBED) {
        *err = xasprintf("Anthropic has no embeddings API (declare the embedding model with provider openai, gemini, vertex or cohere)");
        return -1;
    }
    for (int i = 0; i < r->nimages; i++)
        if (!strncmp(r->images[i].mime_type, "audio/", 6)) {
            *err = xasprintf("model '%s' (anthropic \"%s\") cannot take audio: Anthropic's Messages API has no audio input",
                             m->alias ? m->alias : "", m->model_name ? m->model_name : "");
            return -1;
        }
    json_t *body = json_object();
    json_object_set_new(body, "model", json_string(m->model_name ? m->model_name : ""));
    json_object_set_new(body, "max_tokens", json_integer(wire_max_tokens(m, r, ANTHROPIC_DEFAULT_MAX_TOKENS)));
    /* Prompt caching: the stable prefix of every request of an operator (the tool that carries the
     * schema, then the instructions with their examples and a pack's shared text, all in system)
     * comes before the row's text, and its last block is marked as a cache breakpoint, so that the
     * provider reads it from its cache at 0.1x the input price instead of billing it in full each
     * time (writing it once at 1.25x). Below the model's minimum cacheable length (1,024 to 4,096
     * tokens) the mark is ignored by the provider and costs nothing. */
    int has_system = r->system && *r->system;
    if (has_system)
        json_object_set_new(body, "system", json_pack("[{s:s, s:s, s:{s:s}}]", "type", "text", "text", r->system,
                                                      "cache_control", "type", "ephemeral"));
    json_object_set_new(body, "messages", json_pack("[{s:s, s:o}]", "role", "user", "content", user_content(r)));
    double temp = wire_temperature(m, r);
    if (!isnan(temp)) json_object_set_new(body, "temperature", json_real(temp));
    if (r->schema) {
        /* structured output: one tool whose input is the answer, and the model is made to call it */
        char *name = wire_schema_name(r);
        json_t *tool = json_pack("{s:s, s:s, s:O}", "name", name,
            "description", "Record the answer. Its input is the complete answer, in exactly this structure.",
            "input_schema", r->schema);
        /* tools come before system in the cached prefix: without instructions, the tool is the end of it */
        if (!has_system) json_object_set_new(tool, "cache_control", json_pack("{s:s}", "type", "ephemeral"));
        json_object_set_new(body, "tools", json_pack("[o]", tool));
        json_object_set_new(body, "tool_choice", json_pack("{s:s, s:s}", "type", "tool", "name", name));
        free(name);
    }
    char *host = host_of(m);
    wire_start(out, "POST", xasprintf("%s/v1/messages", host));
    free(host);
    add_headers(m, out);
    wire_add_header(out, "content-type: application/json");
    wire_set_json(out, body);
    return 0;
}

int anthropic_build_key_check(const LmModel *m, HttpRequest *out, char **err)
{
    char *host = host_of(m);
    wire_start(out, "GET", xasprintf("%s/v1/models", host));
    free(host);
    add_headers(m, out);
    return 0;
}

/* Seconds until the RFC 3339 time in header name, or -1. */
static double reset_in(const char *headers, const char *name, double now)
{
    char *v = hdr_get(headers, name);
    double t = parse_rfc3339(v);
    free(v);
    if (t < 0) return -1;
    return t > now ? t - now : 0;
}

/* A 429's wait: retry-after, else the latest reset among the budgets that are used up. */
static double rate_limit_wait(const char *headers)
{
    double now = now_unix();
    double w = hdr_retry_after(headers, now);
    if (w >= 0) return w;
    static const char *const budgets[] = { "requests", "tokens", "input-tokens", "output-tokens" };
    double best = -1;
    for (size_t i = 0; i < sizeof budgets / sizeof budgets[0]; i++) {
        char name[64];
        snprintf(name, sizeof name, "anthropic-ratelimit-%s-remaining", budgets[i]);
        if (hdr_number(headers, name) != 0) continue;
        snprintf(name, sizeof name, "anthropic-ratelimit-%s-reset", budgets[i]);
        double d = reset_in(headers, name, now);
        if (d > best) best = d;
    }
    return best;
}

static int contains(const char *s, const char *needle) { return s && strcasestr(s, needle) != NULL; }

static void classify(const LmModel *m, long status, const char *type, const char *msg, const char *headers, LmAnswer *a)
{
    const char *env = m->api_key_env ? m->api_key_env : "ANTHROPIC_API_KEY";
    if (!msg) msg = "";
    if ((status == 429 || contains(type, "rate_limit_error")) && contains(msg, "request too large")) {
        answer_set(a, LM_ROW_ERROR, "request_too_large", "%s", msg);   /* larger than the whole per-minute limit */
    } else if (status == 429 || contains(type, "rate_limit_error")) {
        answer_set(a, LM_RATE_LIMITED, "rate_limit", "%s", msg);
        a->retry_after_s = rate_limit_wait(headers);
    } else if (status == 529 || contains(type, "overloaded_error")) {
        answer_set(a, LM_RETRY, "overloaded", "%s", msg);
        a->retry_after_s = hdr_retry_after(headers, now_unix());
    } else if (contains(msg, "credit balance")) {
        answer_set(a, LM_FATAL, "quota", "Anthropic: %s (add credits under Plans & Billing for the account whose key is in %s)",
                   msg, env);
    } else if (status == 401 || contains(type, "authentication_error")) {
        answer_set(a, LM_FATAL, "auth", "Anthropic rejected the API key: %s (set a valid key in %s)", msg, env);
    } else if (status == 403 || contains(type, "permission_error")) {
        answer_set(a, LM_FATAL, "auth", "Anthropic refused access: %s (check the permissions of the key in %s)", msg, env);
    } else if (status == 404 || contains(type, "not_found_error")) {
        answer_set(a, LM_FATAL, "unknown_model", "Anthropic: not found: %s (check the model name '%s' and the base URL)",
                   msg, m->model_name ? m->model_name : "");
    } else if (status == 413 || contains(type, "request_too_large")) {
        answer_set(a, LM_ROW_ERROR, "request_too_large", "%s", msg);
    } else if (status == 400 && (contains(msg, "prompt is too long") || contains(msg, "context limit") ||
                                 contains(msg, "context window"))) {
        answer_set(a, LM_ROW_ERROR, "context_window", "%s", msg);
    } else if (status_transient(status) || contains(type, "api_error")) {
        const char *kind = status == 408 || status == 504 ? "timeout" : status == 409 ? "conflict"
                         : status == 503 ? "overloaded" : status == 502 ? "bad_gateway" : "server_error";
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

/* The smallest of the figures in the named headers that are present; -1 when none is. */
static double min_header(const char *headers, const char *const *names, size_t n)
{
    double best = -1;
    for (size_t i = 0; i < n; i++) {
        double v = hdr_number(headers, names[i]);
        if (v >= 0 && (best < 0 || v < best)) best = v;
    }
    return best;
}

static void parse_message(const LmModel *m, const LmRequest *r, json_t *root, const char *body, size_t body_len, LmAnswer *a)
{
    json_t *u = jobj(root, "usage");
    /* Anthropic's input_tokens leave out cache reads and writes; LmAnswer counts all input, of
     * which cached_input_tokens were read from the cache (as OpenAI reports it) and
     * cache_write_tokens written to it (priced apart: 0.1x and 1.25x the input price) */
    a->cached_input_tokens = jint(u, "cache_read_input_tokens");
    a->cache_write_tokens = jint(u, "cache_creation_input_tokens");
    a->input_tokens = jint(u, "input_tokens") + a->cached_input_tokens + a->cache_write_tokens;
    a->output_tokens = jint(u, "output_tokens");
    const char *stop = jstr(root, "stop_reason");
    json_t *content = jarr(root, "content");
    if (!content && !stop) {
        char *ex = body_excerpt(body, body_len, 200);
        answer_set(a, LM_RETRY, "bad_response", "the answer has no content: %s", ex);
        free(ex);
        return;
    }
    if (stop && !strcmp(stop, "refusal")) {
        answer_set(a, LM_ROW_ERROR, "refusal", "the model refused to answer");
        return;
    }
    if (stop && !strcmp(stop, "model_context_window_exceeded")) {
        answer_set(a, LM_ROW_ERROR, "context_window", "the answer reached the model's context window");
        return;
    }
    int has_schema = r && r->schema;
    if (stop && !strcmp(stop, "max_tokens") && has_schema) {
        answer_set(a, LM_ROW_ERROR, "max_tokens",
                   "the structured answer was cut off at the output limit (%lld tokens); raise max_output_tokens",
                   (long long)a->output_tokens);
        return;
    }
    Buf text;
    buf_init(&text);
    json_t *input = NULL;
    char *want = has_schema ? wire_schema_name(r) : NULL;
    size_t i;
    json_t *blk;
    json_array_foreach(content, i, blk) {
        const char *type = jstr(blk, "type");
        if (!type) continue;
        if (!strcmp(type, "text") && jstr(blk, "text")) buf_puts(&text, jstr(blk, "text"));
        else if (!strcmp(type, "tool_use") && json_is_object(json_object_get(blk, "input"))) {
            const char *name = jstr(blk, "name");
            if (!input || (want && name && !strcmp(name, want))) input = json_object_get(blk, "input");
        }
    }
    free(want);
    if (has_schema) {
        if (!input) {
            char *t = buf_take(&text);
            answer_set(a, LM_ROW_ERROR, "invalid_json", "the model did not answer through the tool%s%.200s",
                       *t ? ": " : "", t);
            a->text = t;
            return;
        }
        buf_free(&text);
        a->json = json_incref(input);
        a->text = json_dumps(input, JSON_COMPACT);
        if (!a->text) a->text = xstrdup("{}");
    } else {
        a->text = buf_take(&text);
    }
    a->outcome = LM_OK;
}

void anthropic_parse(const LmModel *m, const LmRequest *r, long status, const char *headers,
                     const char *body, size_t body_len, LmAnswer *a)
{
    a->remaining_requests = hdr_number(headers, "anthropic-ratelimit-requests-remaining");
    static const char *const tok[] = { "anthropic-ratelimit-tokens-remaining", "anthropic-ratelimit-input-tokens-remaining",
                                       "anthropic-ratelimit-output-tokens-remaining" };
    a->remaining_tokens = min_header(headers, tok, sizeof tok / sizeof tok[0]);
    json_t *root = body_json(body, body_len);
    json_t *e = jobj(root, "error");
    const char *rtype = jstr(root, "type");
    if (status < 200 || status >= 300 || e || (rtype && !strcmp(rtype, "error"))) {
        const char *msg = jstr(e, "message");
        char *ex = NULL;
        if (!msg) msg = jstr(root, "message");
        if (!msg) msg = ex = body_excerpt(body, body_len, 300);
        classify(m, status >= 200 && status < 300 ? 500 : status, jstr(e, "type"), msg, headers, a);
        free(ex);
        wire_should_retry(headers, a);
    } else if (!json_is_object(root)) {
        char *ex = body_excerpt(body, body_len, 200);
        answer_set(a, LM_RETRY, "bad_response", "the answer is not JSON: %s", ex);
        free(ex);
    } else if (!r) {
        a->outcome = LM_OK;   /* the key check */
    } else {
        parse_message(m, r, root, body, body_len, a);
    }
    json_decref(root);
}
