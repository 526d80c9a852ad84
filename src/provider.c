/* provider.c: the top of the provider adapters: the lm_* and http_request destructors and the
 * dispatch of provider_build / provider_build_key_check / provider_parse on LmModel.provider (the
 * UTF-8 checks before a build, the scrubbing of secrets after a parse). The helpers the adapters
 * share are in provider_wire.c, below them. Pure functions: no I/O, no global state.
 */
#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include "provider.h"

/* ---- destructors ---- */

/* Overwrite a secret before freeing it, so it does not linger in freed memory. */
static void free_secret(char *s)
{
    if (!s) return;
    volatile char *p = s;
    while (*p) *p++ = 0;
    free(s);
}

void lm_model_free(LmModel *m)
{
    if (!m) return;
    free(m->alias);
    free(m->model_name);
    free(m->base_url);
    free_secret(m->api_key);
    free_secret(m->access_token);
    free(m->api_key_env);
    free(m->project);
    free(m->location);
    free(m->reasoning_effort);
    json_decref(m->routing);
    json_decref(m->image_tokens);
    for (int i = 0; i < m->nfallback; i++) free(m->fallback[i]);
    free(m->fallback);
    free(m);
}

LmRequest *lm_request_new(LmKind kind)
{
    LmRequest *r = xcalloc(1, sizeof *r);
    r->kind = kind;
    r->temperature = NAN;
    return r;
}

/* A deep copy of r (every string, input and image duplicated; the schema shared by reference,
 * never changed once made), attempts reset to 0. Returns a new request the caller frees with
 * lm_request_free. */
LmRequest *lm_request_copy(const LmRequest *r)
{
    LmRequest *c = lm_request_new(r->kind);
    *c = *r;
    c->system = r->system ? xstrdup(r->system) : NULL;
    c->user = r->user ? xstrdup(r->user) : NULL;
    c->schema = r->schema ? json_incref(r->schema) : NULL;   /* never changed once made */
    c->schema_name = r->schema_name ? xstrdup(r->schema_name) : NULL;
    c->inputs = r->ninputs ? xcalloc((size_t)r->ninputs, sizeof *c->inputs) : NULL;
    for (int i = 0; i < r->ninputs; i++) c->inputs[i] = r->inputs[i] ? xstrdup(r->inputs[i]) : NULL;
    /* the images are owned too: a shallow copy was freed twice (once per fallback attempt) */
    c->images = r->nimages ? xcalloc((size_t)r->nimages, sizeof *c->images) : NULL;
    for (int i = 0; i < r->nimages; i++) {
        c->images[i].mime_type = r->images[i].mime_type ? xstrdup(r->images[i].mime_type) : NULL;
        c->images[i].base64 = r->images[i].base64 ? xstrdup(r->images[i].base64) : NULL;
        c->images[i].tokens = r->images[i].tokens;
    }
    c->attempts = 0;
    return c;
}

void lm_request_free(LmRequest *r)
{
    if (!r) return;
    free(r->system);
    free(r->user);
    json_decref(r->schema);
    free(r->schema_name);
    for (int i = 0; i < r->ninputs; i++) free(r->inputs ? r->inputs[i] : NULL);
    free(r->inputs);
    for (int i = 0; i < r->nimages; i++) { free(r->images[i].mime_type); free(r->images[i].base64); }
    free(r->images);
    free(r);
}

void lm_answer_clear(LmAnswer *a)
{
    if (!a) return;
    free(a->text);
    json_decref(a->json);
    free(a->vectors);
    free(a->error_kind);
    free(a->error_message);
    free(a->upstream);
    for (int i = 0; i < a->ntokens; i++) free(a->tokens[i].text);
    free(a->tokens);
    memset(a, 0, sizeof *a);
}

void http_request_free(HttpRequest *h)
{
    if (!h) return;
    free(h->url);
    for (int i = 0; i < h->nheaders; i++) free_secret(h->headers[i]);   /* they hold the key */
    free(h->headers);
    free(h->body);
    memset(h, 0, sizeof *h);
}

/* ---- dispatch ---- */

/* Jansson refuses strings that are not UTF-8 (json_string returns NULL): say so instead of
 * sending a request with the text missing. */
static int check_utf8(const char *what, const char *s, int i, char **err)
{
    size_t bad;
    if (!s || utf8_valid(s, strlen(s), &bad)) return 0;
    *err = i >= 0 ? xasprintf("%s %d is not valid UTF-8 (byte %zu)", what, i + 1, bad)
                  : xasprintf("the %s is not valid UTF-8 (byte %zu)", what, bad);
    return -1;
}

int provider_build(const LmModel *m, const LmRequest *r, HttpRequest *out, char **err)
{
    memset(out, 0, sizeof *out);
    *err = NULL;
    if (check_utf8("instructions", r->system, -1, err) || check_utf8("prompt", r->user, -1, err)) return -1;
    for (int i = 0; i < r->ninputs; i++)
        if (check_utf8("input", r->inputs[i], i, err)) return -1;
    int rc = -1;
    switch (m->provider) {
    case PROV_OPENAI: case PROV_OPENROUTER: rc = openai_build(m, r, out, err); break;
    case PROV_ANTHROPIC: rc = anthropic_build(m, r, out, err); break;
    case PROV_GEMINI: case PROV_VERTEX: rc = gemini_build(m, r, out, err); break;
    case PROV_COHERE: rc = cohere_build(m, r, out, err); break;
    default: *err = xasprintf("unknown provider"); break;
    }
    if (rc) http_request_free(out);   /* a failed build leaves nothing to free */
    return rc;
}

int provider_build_key_check(const LmModel *m, HttpRequest *out, char **err)
{
    memset(out, 0, sizeof *out);
    *err = NULL;
    int rc = -1;
    switch (m->provider) {
    case PROV_OPENAI: case PROV_OPENROUTER: rc = openai_build_key_check(m, out, err); break;
    case PROV_ANTHROPIC: rc = anthropic_build_key_check(m, out, err); break;
    case PROV_GEMINI: case PROV_VERTEX: rc = gemini_build_key_check(m, out, err); break;
    case PROV_COHERE: rc = cohere_build_key_check(m, out, err); break;
    default: *err = xasprintf("unknown provider"); break;
    }
    if (rc) http_request_free(out);
    return rc;
}

/* Replace every occurrence of secret in *s by "[redacted]" (providers sometimes echo a key). */
static void scrub(char **s, const char *secret)
{
    if (!*s || !secret || strlen(secret) < 4) return;
    size_t sl = strlen(secret);
    if (!strstr(*s, secret)) return;
    Buf b;
    buf_init(&b);
    for (const char *p = *s, *q; ; p = q + sl) {
        q = strstr(p, secret);
        if (!q) { buf_puts(&b, p); break; }
        buf_append(&b, p, (size_t)(q - p));
        buf_puts(&b, "[redacted]");
    }
    free(*s);
    *s = buf_take(&b);
}

void provider_parse(const LmModel *m, const LmRequest *r, long status, const char *headers,
                    const char *body, size_t body_len, LmAnswer *out)
{
    memset(out, 0, sizeof *out);
    out->cost_usd = -1;
    out->retry_after_s = -1;
    out->remaining_requests = out->remaining_tokens = -1;
    out->http_status = status;
    if (!headers) headers = "";
    if (!body) { body = ""; body_len = 0; }
    if (status == 0) {
        /* libcurl's message: timeout, connection refused or reset, DNS ... */
        char *msg = body_excerpt(body, body_len, 300);
        answer_set(out, LM_RETRY, "network", "%s", *msg ? msg : "no answer (connection failed)");
        free(msg);
    } else {
        switch (m->provider) {
        case PROV_OPENAI: case PROV_OPENROUTER: openai_parse(m, r, status, headers, body, body_len, out); break;
        case PROV_ANTHROPIC: anthropic_parse(m, r, status, headers, body, body_len, out); break;
        case PROV_GEMINI: case PROV_VERTEX: gemini_parse(m, r, status, headers, body, body_len, out); break;
        case PROV_COHERE: cohere_parse(m, r, status, headers, body, body_len, out); break;
        }
    }
    if (out->outcome != LM_OK && !out->error_kind) out->error_kind = xstrdup("error");
    const char *secrets[2] = { m->api_key, m->access_token };
    for (int i = 0; i < 2; i++) {
        scrub(&out->error_message, secrets[i]);
        scrub(&out->upstream, secrets[i]);
    }
}
