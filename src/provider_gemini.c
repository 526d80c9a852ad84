/* provider_gemini.c: Google's generateContent protocol, for the Gemini Developer API (key in
 * x-goog-api-key) and Vertex AI (OAuth2 bearer token, project and location in the path):
 * generateContent with responseJsonSchema, batchEmbedContents, the key check and the
 * classification of every answer (providers.md, "Google Gemini"). Pure functions: Vertex's token
 * is m->access_token, obtained before the request is built (vertex_auth.c).
 */
#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "provider.h"

#define GEMINI_MAX_EMBED_INPUTS 100

/* The host, without a trailing API version someone may have added. */
static char *host_of(const LmModel *m)
{
    const char *b = m->base_url && *m->base_url ? m->base_url
                  : m->provider == PROV_VERTEX ? "https://us-central1-aiplatform.googleapis.com"
                  : "https://generativelanguage.googleapis.com";
    size_t n = strlen(b);
    while (n > 0 && b[n - 1] == '/') n--;
    static const char *const tails[] = { "/v1beta", "/v1beta1", "/v1" };
    for (size_t i = 0; i < sizeof tails / sizeof tails[0]; i++) {
        size_t tl = strlen(tails[i]);
        if (n >= tl && !strncmp(b + n - tl, tails[i], tl)) { n -= tl; break; }
    }
    return xstrndup(b, n);
}

/* The model id without a "models/" prefix. */
static const char *model_id(const LmModel *m)
{
    const char *id = m->model_name ? m->model_name : "";
    return !strncmp(id, "models/", 7) ? id + 7 : id;
}

/* The URL of the model's resource (":method" is appended by the caller), or NULL with *err. */
static char *model_url(const LmModel *m, char **err)
{
    char *host = host_of(m);
    char *u;
    if (m->provider == PROV_VERTEX) {
        if (!m->project || !*m->project) {
            free(host);
            *err = xasprintf("Vertex AI needs a project (the model's project: option or GOOGLE_CLOUD_PROJECT)");
            return NULL;
        }
        u = xasprintf("%s/v1/projects/%s/locations/%s/publishers/google/models/%s", host, m->project,
                      m->location && *m->location ? m->location : "us-central1", model_id(m));
    } else {
        u = xasprintf("%s/v1beta/models/%s", host, model_id(m));
    }
    free(host);
    return u;
}

/* Authentication: the API key, or Vertex's access token (m->access_token: GOOGLE_ACCESS_TOKEN or a
 * service-account exchange, put there by vertex_access_token before any request is built). */
static int add_auth(const LmModel *m, HttpRequest *out, char **err)
{
    if (m->provider == PROV_VERTEX) {
        const char *tok = m->access_token;
        if (!tok || !*tok) {
            *err = xasprintf("Vertex AI has no access token (set GOOGLE_ACCESS_TOKEN, or GOOGLE_APPLICATION_CREDENTIALS to a "
                             "service-account key file)");
            return -1;
        }
        wire_add_header(out, "Authorization: Bearer %s", tok);
    } else if (m->api_key && *m->api_key) {
        wire_add_header(out, "x-goog-api-key: %s", m->api_key);
    }
    return 0;
}

static json_t *text_parts(const char *text)
{
    return json_pack("[{s:s}]", "text", text ? text : "");
}

int gemini_build(const LmModel *m, const LmRequest *r, HttpRequest *out, char **err)
{
    char *base = model_url(m, err);
    if (!base) return -1;
    json_t *body = json_object();
    if (r->kind == LM_EMBED) {
        if (r->ninputs < 1 || r->ninputs > GEMINI_MAX_EMBED_INPUTS) {
            *err = xasprintf("a batchEmbedContents request takes 1 to %d inputs, not %d (split the batch)",
                             GEMINI_MAX_EMBED_INPUTS, r->ninputs);
            json_decref(body);
            free(base);
            return -1;
        }
        char *mname = xasprintf("models/%s", model_id(m));
        json_t *reqs = json_array();
        for (int i = 0; i < r->ninputs; i++) {
            json_t *one = json_pack("{s:s, s:{s:o}}", "model", mname, "content", "parts", text_parts(r->inputs[i]));
            if (m->dimensions > 0) json_object_set_new(one, "outputDimensionality", json_integer(m->dimensions));
            json_array_append_new(reqs, one);
        }
        free(mname);
        json_object_set_new(body, "requests", reqs);
        wire_start(out, "POST", xasprintf("%s:batchEmbedContents", base));
    } else {
        if (r->system && *r->system)
            json_object_set_new(body, "systemInstruction", json_pack("{s:o}", "parts", text_parts(r->system)));
        json_t *parts = text_parts(r->user);
        for (int i = 0; i < r->nimages; i++)   /* images as inlineData parts after the text */
            json_array_append_new(parts, json_pack("{s:{s:s, s:s}}", "inlineData", "mimeType", r->images[i].mime_type,
                                                   "data", r->images[i].base64));
        json_object_set_new(body, "contents", json_pack("[{s:s, s:o}]", "role", "user", "parts", parts));
        json_t *gc = json_object();
        double temp = wire_temperature(m, r);
        if (!isnan(temp)) json_object_set_new(gc, "temperature", json_real(temp));
        int maxt = wire_max_tokens(m, r, 0);
        if (maxt > 0) json_object_set_new(gc, "maxOutputTokens", json_integer(maxt));
        if (r->schema) {
            json_object_set_new(gc, "responseMimeType", json_string("application/json"));
            json_object_set(gc, "responseJsonSchema", r->schema);
        }
        /* token log probabilities (confidence): the chosen tokens' only (logprobs: N would add the N
         * best alternatives at each step, which nothing reads) */
        if (r->logprobs && m->logprobs) json_object_set_new(gc, "responseLogprobs", json_true());
        if (json_object_size(gc)) json_object_set_new(body, "generationConfig", gc);
        else json_decref(gc);
        wire_start(out, "POST", xasprintf("%s:generateContent", base));
    }
    free(base);
    if (add_auth(m, out, err)) {
        json_decref(body);
        return -1;
    }
    wire_add_header(out, "Content-Type: application/json");
    wire_set_json(out, body);
    return 0;
}

int gemini_build_key_check(const LmModel *m, HttpRequest *out, char **err)
{
    if (m->provider == PROV_VERTEX) {
        char *u = model_url(m, err);   /* models.get of the model itself: checks token, project and model */
        if (!u) return -1;
        wire_start(out, "GET", u);
    } else {
        char *host = host_of(m);
        wire_start(out, "GET", xasprintf("%s/v1beta/models", host));
        free(host);
    }
    return add_auth(m, out, err);
}

/* ---- answers ---- */

static int contains(const char *s, const char *needle) { return s && strcasestr(s, needle) != NULL; }

/* The details entry whose @type ends with suffix (".RetryInfo"), or NULL. */
static json_t *detail(json_t *details, const char *suffix)
{
    size_t i, sl = strlen(suffix);
    json_t *d;
    json_array_foreach(details, i, d) {
        const char *t = jstr(d, "@type");
        if (t && strlen(t) >= sl && !strcmp(t + strlen(t) - sl, suffix)) return d;
    }
    return NULL;
}

/* Whether a QuotaFailure names a per-day quota (which will not clear for hours). */
static int per_day_quota(json_t *details)
{
    size_t i, j;
    json_t *d, *v;
    json_array_foreach(details, i, d) {
        const char *t = jstr(d, "@type");
        if (!t || !strstr(t, "QuotaFailure")) continue;
        json_array_foreach(jarr(d, "violations"), j, v) {
            const char *q = jstr(v, "quotaId");
            if (contains(q, "PerDay") || contains(jstr(v, "quotaMetric"), "per_day")) return 1;
        }
    }
    return 0;
}

static void classify(const LmModel *m, long status, json_t *e, const char *headers, const char *body, size_t body_len,
                     LmAnswer *a)
{
    int vertex = m->provider == PROV_VERTEX;
    const char *who = vertex ? "Vertex AI" : "Gemini";
    const char *env = m->api_key_env ? m->api_key_env : vertex ? "GOOGLE_ACCESS_TOKEN" : "GEMINI_API_KEY";
    const char *gstatus = jstr(e, "status");
    const char *msg = jstr(e, "message");
    json_t *details = jarr(e, "details");
    json_t *info = detail(details, ".ErrorInfo");
    const char *reason = jstr(info, "reason");
    char *ex = NULL;
    if (!msg) msg = ex = body_excerpt(body, body_len, 300);
    if (status == 429 || contains(gstatus, "RESOURCE_EXHAUSTED")) {
        if (per_day_quota(details))
            answer_set(a, LM_FATAL, "quota", "%s: the daily quota is used up: %s (wait for the reset at midnight Pacific time, "
                       "or raise the quota / enable billing for the project of the key in %s)", who, msg, env);
        else {
            answer_set(a, LM_RATE_LIMITED, "rate_limit", "%s", msg);
            a->retry_after_s = wire_parse_duration(jstr(detail(details, ".RetryInfo"), "retryDelay"));
            if (a->retry_after_s < 0) a->retry_after_s = hdr_retry_after(headers, now_unix());
            if (a->retry_after_s < 0) a->retry_after_s = text_try_again(msg);   /* "Please retry in 47.5s." */
        }
    } else if ((reason && (!strcmp(reason, "API_KEY_INVALID") || !strcmp(reason, "API_KEY_SERVICE_BLOCKED"))) ||
               contains(msg, "API key not valid") || contains(msg, "API key expired")) {
        answer_set(a, LM_FATAL, "auth", "%s rejected the API key: %s (set a valid key in %s)", who, msg, env);
    } else if (status == 401 || contains(gstatus, "UNAUTHENTICATED")) {
        answer_set(a, LM_FATAL, "auth", "%s rejected the credentials: %s (%s)", who, msg,
                   vertex ? "check GOOGLE_ACCESS_TOKEN or GOOGLE_APPLICATION_CREDENTIALS" : "set a valid key in GEMINI_API_KEY");
    } else if (status == 403 || contains(gstatus, "PERMISSION_DENIED")) {
        answer_set(a, LM_FATAL, "auth", "%s refused access: %s (check the key's or service account's permissions and "
                   "that the API is enabled for the project)", who, msg);
    } else if (status == 404 || contains(gstatus, "NOT_FOUND")) {
        answer_set(a, LM_FATAL, "unknown_model", "%s: not found: %s (check the model name '%s'%s)", who, msg,
                   model_id(m), vertex ? ", the project and the location" : " and the base URL");
    } else if (status == 413) {
        answer_set(a, LM_ROW_ERROR, "request_too_large", "%s", msg);
    } else if (status == 400 && (contains(msg, "input token count") || contains(msg, "exceeds the maximum number of tokens") ||
                                 contains(msg, "context window"))) {
        answer_set(a, LM_ROW_ERROR, "context_window", "%s", msg);
    } else if (status == 400 && contains(gstatus, "FAILED_PRECONDITION")) {
        /* e.g. "User location is not supported", "free tier is not available ... enable billing" */
        answer_set(a, LM_FATAL, "precondition", "%s: %s", who, msg);
    } else if (status_transient(status)) {
        const char *kind = status == 408 || status == 504 ? "timeout" : status == 409 ? "conflict"
                         : status == 503 ? "overloaded" : status == 502 ? "bad_gateway" : "server_error";
        answer_set(a, LM_RETRY, kind, "%s", msg);
        a->retry_after_s = wire_parse_duration(jstr(detail(details, ".RetryInfo"), "retryDelay"));
        if (a->retry_after_s < 0) a->retry_after_s = hdr_retry_after(headers, now_unix());
    } else if (status >= 400) {
        answer_set(a, LM_ROW_ERROR, "bad_request", "%s", msg);
    } else {
        answer_set(a, LM_ROW_ERROR, "unexpected_status", "unexpected HTTP status %ld: %s", status, msg);
    }
    if (!a->error_message || !*a->error_message) {
        free(a->error_message);
        a->error_message = xasprintf("HTTP %ld", status);
    }
    free(ex);
}

static void parse_generate(const LmRequest *r, json_t *root, const char *body, size_t body_len, LmAnswer *a)
{
    json_t *u = jobj(root, "usageMetadata");
    a->input_tokens = jint(u, "promptTokenCount");
    a->cached_input_tokens = jint(u, "cachedContentTokenCount");
    a->reasoning_tokens = jint(u, "thoughtsTokenCount");
    /* thinking is billed as output: output_tokens counts it, as OpenAI's completion_tokens does */
    a->output_tokens = jint(u, "candidatesTokenCount") + a->reasoning_tokens;
    json_t *cand = json_array_get(jarr(root, "candidates"), 0);
    const char *block = jstr(jobj(root, "promptFeedback"), "blockReason");
    if (!json_is_object(cand)) {
        if (block) answer_set(a, LM_ROW_ERROR, "content_filter", "the prompt was blocked (%s)", block);
        else {
            char *ex = body_excerpt(body, body_len, 200);
            answer_set(a, LM_RETRY, "bad_response", "the answer has no candidates: %s", ex);
            free(ex);
        }
        return;
    }
    const char *fin = jstr(cand, "finishReason");
    static const char *const filtered[] = { "SAFETY", "RECITATION", "PROHIBITED_CONTENT", "BLOCKLIST", "SPII",
                                            "IMAGE_SAFETY", "LANGUAGE" };
    for (size_t i = 0; fin && i < sizeof filtered / sizeof filtered[0]; i++)
        if (!strcmp(fin, filtered[i])) {
            answer_set(a, LM_ROW_ERROR, "content_filter", "the answer was withheld (finishReason %s)", fin);
            return;
        }
    int has_schema = r && r->schema;
    if (fin && !strcmp(fin, "MAX_TOKENS") && has_schema) {
        answer_set(a, LM_ROW_ERROR, "max_tokens",
                   "the structured answer was cut off at the output limit (%lld tokens); raise max_output_tokens",
                   (long long)a->output_tokens);
        return;
    }
    Buf text;
    buf_init(&text);
    size_t i;
    json_t *p;
    json_array_foreach(jarr(jobj(cand, "content"), "parts"), i, p) {
        json_t *thought = json_object_get(p, "thought");
        if (json_is_true(thought)) continue;   /* a thought summary, not the answer */
        const char *t = jstr(p, "text");
        if (t) buf_puts(&text, t);
    }
    a->text = buf_take(&text);
    a->outcome = LM_OK;
    /* candidates[0].logprobsResult.chosenCandidates: [{"token", "tokenId", "logProbability"}, ...] */
    if (r && r->logprobs) {
        json_array_foreach(jarr(jobj(cand, "logprobsResult"), "chosenCandidates"), i, p) {
            const char *tok = jstr(p, "token");
            json_t *lp = json_object_get(p, "logProbability");
            if (tok && json_is_number(lp)) lm_answer_add_token(a, tok, json_number_value(lp));
        }
    }
    if (has_schema) answer_take_json(a);
}

static void parse_embed(const LmRequest *r, json_t *root, LmAnswer *a)
{
    json_t *embs = jarr(root, "embeddings");
    int n = r ? r->ninputs : (int)json_array_size(embs);
    if (!embs || (int)json_array_size(embs) != n || n <= 0) {
        answer_set(a, LM_RETRY, "bad_response", "the embeddings answer has %d vectors for %d inputs", (int)json_array_size(embs), n);
        return;
    }
    int dim = (int)json_array_size(jarr(json_array_get(embs, 0), "values"));
    if (dim <= 0) {
        answer_set(a, LM_RETRY, "bad_response", "the embeddings answer has an empty vector");
        return;
    }
    float *vec = xcalloc((size_t)n * (size_t)dim, sizeof *vec);
    for (int k = 0; k < n; k++) {
        json_t *vals = jarr(json_array_get(embs, (size_t)k), "values");
        if ((int)json_array_size(vals) != dim) {
            free(vec);
            answer_set(a, LM_RETRY, "bad_response", "the embeddings answer is malformed at embeddings[%d]", k);
            return;
        }
        size_t j;
        json_t *x;
        json_array_foreach(vals, j, x) vec[(size_t)k * (size_t)dim + j] = (float)json_number_value(x);
    }
    a->vectors = vec;
    a->nvec = n;
    a->dim = dim;
    a->outcome = LM_OK;
}

void gemini_parse(const LmModel *m, const LmRequest *r, long status, const char *headers,
                  const char *body, size_t body_len, LmAnswer *a)
{
    json_t *root = body_json(body, body_len);
    json_t *e = jobj(root, "error");
    if (status < 200 || status >= 300 || e) {
        json_t *c = json_object_get(e, "code");
        if (status >= 200 && status < 300) status = json_is_integer(c) ? (long)json_integer_value(c) : 500;
        classify(m, status, e, headers, body, body_len, a);
    } else if (!json_is_object(root)) {
        char *ex = body_excerpt(body, body_len, 200);
        answer_set(a, LM_RETRY, "bad_response", "the answer is not JSON: %s", ex);
        free(ex);
    } else if (!r) {
        a->outcome = LM_OK;   /* the key check */
    } else if (r->kind == LM_EMBED) {
        parse_embed(r, root, a);
    } else {
        parse_generate(r, root, body, body_len, a);
    }
    json_decref(root);
}
