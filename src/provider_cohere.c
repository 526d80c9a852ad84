/* provider_cohere.c: Cohere's embeddings (POST /v2/embed) and the key check (POST
 * /v1/check-api-key, answered {"valid": true, ...}); Cohere is used for embedding models only.
 * Errors are {"id", "message"}. The key check accepts only Cohere's own answer, so that a base URL
 * pointing at a server that does not speak Cohere's protocol fails there, saying so, rather than
 * at the first embedding.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "provider.h"

#define COHERE_MAX_EMBED_INPUTS 96

static char *host_of(const LmModel *m)
{
    const char *b = m->base_url && *m->base_url ? m->base_url : "https://api.cohere.com";
    size_t n = strlen(b);
    while (n > 0 && b[n - 1] == '/') n--;
    if (n >= 3 && (!strncmp(b + n - 3, "/v1", 3) || !strncmp(b + n - 3, "/v2", 3))) n -= 3;
    return xstrndup(b, n);
}

static void add_auth(const LmModel *m, HttpRequest *out)
{
    if (m->api_key && *m->api_key) wire_add_header(out, "Authorization: Bearer %s", m->api_key);
}

int cohere_build(const LmModel *m, const LmRequest *r, HttpRequest *out, char **err)
{
    if (r->kind != LM_EMBED) {
        *err = xasprintf("Cohere is supported for embedding models only (declare it with `embedding model`)");
        return -1;
    }
    if (r->ninputs < 1 || r->ninputs > COHERE_MAX_EMBED_INPUTS) {
        *err = xasprintf("a Cohere embed request takes 1 to %d inputs, not %d (split the batch)", COHERE_MAX_EMBED_INPUTS, r->ninputs);
        return -1;
    }
    json_t *texts = json_array();
    for (int i = 0; i < r->ninputs; i++) json_array_append_new(texts, json_string(r->inputs[i] ? r->inputs[i] : ""));
    json_t *body = json_pack("{s:s, s:o, s:s, s:[s]}", "model", m->model_name ? m->model_name : "", "texts", texts,
                             "input_type", "search_document", "embedding_types", "float");
    if (m->dimensions > 0) json_object_set_new(body, "output_dimension", json_integer(m->dimensions));
    char *host = host_of(m);
    wire_start(out, "POST", xasprintf("%s/v2/embed", host));
    free(host);
    add_auth(m, out);
    wire_add_header(out, "Content-Type: application/json");
    wire_set_json(out, body);
    return 0;
}

int cohere_build_key_check(const LmModel *m, HttpRequest *out, char **err)
{
    char *host = host_of(m);
    wire_start(out, "POST", xasprintf("%s/v1/check-api-key", host));
    free(host);
    add_auth(m, out);
    wire_add_header(out, "Content-Type: application/json");
    wire_set_json(out, json_object());   /* a body makes it a POST; the endpoint reads none */
    return 0;
}

/* The key check's answer (r is NULL): OK only for Cohere's {"valid": true}. A 404 or another
 * shape means the base URL is not a Cohere API: fatal, naming the URL and what to set. */
static void key_check_answer(const LmModel *m, long status, json_t *root, const char *body, size_t body_len, LmAnswer *a)
{
    const char *env = m->api_key_env ? m->api_key_env : "COHERE_API_KEY";
    char *host = host_of(m);
    json_t *valid = json_object_get(root, "valid");
    if (status == 404 || (status >= 200 && status < 300 && !json_is_boolean(valid))) {
        char *ex = body_excerpt(body, body_len, 120);
        answer_set(a, LM_FATAL, "not_cohere", "the server at %s does not speak Cohere's API: its key check POST "
                   "/v1/check-api-key answered HTTP %ld (%s); point %s (or the model's base_url) at a Cohere API such as "
                   "https://api.cohere.com", host, status, status == 404 ? "not found" : ex, "COHERE_BASE_URL");
        free(ex);
    } else if (json_is_false(valid)) {
        answer_set(a, LM_FATAL, "key_invalid", "Cohere says the key in %s is not valid (the key check answered "
                   "{\"valid\": false}); set a valid key in %s", env, env);
    } else {
        a->outcome = LM_OK;
    }
    free(host);
}

static int contains(const char *s, const char *needle) { return s && strcasestr(s, needle) != NULL; }

static void classify(const LmModel *m, long status, const char *msg, const char *headers, LmAnswer *a)
{
    const char *env = m->api_key_env ? m->api_key_env : "COHERE_API_KEY";
    /* a trial key has per-minute limits too ("limited to 100 API calls / minute"): only its
     * monthly allowance is the quota */
    if (status == 429 && (contains(msg, "per month") || contains(msg, "/ month") || contains(msg, "/month")))
        answer_set(a, LM_FATAL, "quota", "Cohere: %s (use a production key in %s)", msg, env);
    else if (status == 429) {
        answer_set(a, LM_RATE_LIMITED, "rate_limit", "%s", msg);
        a->retry_after_s = hdr_retry_after(headers, now_unix());
    } else if (status == 401)
        answer_set(a, LM_FATAL, "auth", "Cohere rejected the API key: %s (set a valid key in %s)", msg, env);
    else if (status == 402)
        answer_set(a, LM_FATAL, "quota", "Cohere: %s (check the billing of the account whose key is in %s)", msg, env);
    else if (status == 403)
        answer_set(a, LM_FATAL, "auth", "Cohere refused access: %s (check the key in %s)", msg, env);
    else if (status == 404)
        answer_set(a, LM_FATAL, "unknown_model", "Cohere: not found: %s (check the model name '%s')", msg,
                   m->model_name ? m->model_name : "");
    else if (status == 413)
        answer_set(a, LM_ROW_ERROR, "request_too_large", "%s", msg);
    else if (status == 400 && (contains(msg, "too long") || contains(msg, "context")))
        answer_set(a, LM_ROW_ERROR, "context_window", "%s", msg);
    else if (status_transient(status)) {
        answer_set(a, LM_RETRY, status == 503 ? "overloaded" : status == 408 || status == 504 ? "timeout" : "server_error", "%s", msg);
        a->retry_after_s = hdr_retry_after(headers, now_unix());
    } else
        answer_set(a, LM_ROW_ERROR, "bad_request", "%s", msg);
    if (!a->error_message || !*a->error_message) {
        free(a->error_message);
        a->error_message = xasprintf("HTTP %ld", status);
    }
}

void cohere_parse(const LmModel *m, const LmRequest *r, long status, const char *headers,
                  const char *body, size_t body_len, LmAnswer *a)
{
    json_t *root = body_json(body, body_len);
    if (!r && (status == 404 || (status >= 200 && status < 300))) {
        key_check_answer(m, status, root, body, body_len, a);
    } else if (status < 200 || status >= 300) {
        char *ex = NULL;
        const char *msg = jstr(root, "message");
        if (!msg) msg = ex = body_excerpt(body, body_len, 300);
        classify(m, status, msg, headers, a);
        free(ex);
    } else if (!json_is_object(root)) {
        char *ex = body_excerpt(body, body_len, 200);
        answer_set(a, LM_RETRY, "bad_response", "the answer is not JSON: %s", ex);
        free(ex);
    } else {
        json_t *meta = jobj(root, "meta");
        a->input_tokens = jint(jobj(meta, "billed_units"), "input_tokens");
        json_t *embs = json_object_get(root, "embeddings");
        json_t *vecs = json_is_array(embs) ? embs : jarr(embs, "float");   /* v1 answers: a bare array */
        int n = r->ninputs, dim = (int)json_array_size(json_array_get(vecs, 0));
        if ((int)json_array_size(vecs) != n || n <= 0 || dim <= 0) {
            answer_set(a, LM_RETRY, "bad_response", "the embeddings answer has %d vectors for %d inputs",
                       (int)json_array_size(vecs), n);
        } else {
            float *v = xcalloc((size_t)n * (size_t)dim, sizeof *v);
            for (int k = 0; k < n && a->outcome == LM_OK; k++) {
                json_t *row = json_array_get(vecs, (size_t)k);
                if (!json_is_array(row) || (int)json_array_size(row) != dim) {
                    answer_set(a, LM_RETRY, "bad_response", "the embeddings answer is malformed at embeddings[%d]", k);
                    break;
                }
                for (int j = 0; j < dim; j++) v[(size_t)k * (size_t)dim + (size_t)j] = (float)json_number_value(json_array_get(row, (size_t)j));
            }
            if (a->outcome == LM_OK) {
                a->vectors = v;
                a->nvec = n;
                a->dim = dim;
            } else {
                free(v);
            }
        }
    }
    json_decref(root);
}
