/* provider_live.c: the provider adapters against a running fql-sim, one real HTTP request per
 * provider and operation (libcurl easy): requests built by provider_build, answers classified by
 * provider_parse. Usage: provider_live PORT (GOOGLE_APPLICATION_CREDENTIALS names a service-account
 * file whose token_uri is the sim's /token). Prints `ok NAME` / `FAIL NAME: reason` per test and
 * `N passed, M failed`; exits nonzero on failure. Built and run by tests/runtime/provider_live.sh.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <curl/curl.h>
#include "runtime.h"

static int npass, nfail;
static char base[128];

static void report(const char *name, int ok, const LmAnswer *a, const char *why)
{
    if (ok) { printf("ok %s\n", name); npass++; return; }
    printf("FAIL %s: %s (status %ld, outcome %d, kind %s: %s)\n", name, why, a ? a->http_status : -1L, a ? (int)a->outcome : -1,
           a && a->error_kind ? a->error_kind : "-", a && a->error_message ? a->error_message : "-");
    nfail++;
}

static size_t collect(char *p, size_t size, size_t n, void *ud)
{
    buf_append(ud, p, size * n);
    return size * n;
}

/* Send h (plus an optional extra header) and return the status (0 = transport error, message in body). */
static long perform(const HttpRequest *h, const char *extra, Buf *headers, Buf *body)
{
    CURL *c = curl_easy_init();
    struct curl_slist *hl = NULL;
    for (int i = 0; i < h->nheaders; i++) hl = curl_slist_append(hl, h->headers[i]);
    if (extra) hl = curl_slist_append(hl, extra);
    curl_easy_setopt(c, CURLOPT_URL, h->url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
    if (!strcmp(h->method, "POST")) curl_easy_setopt(c, CURLOPT_POSTFIELDS, h->body ? h->body : "");
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, body);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, collect);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, headers);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 20L);
    CURLcode rc = curl_easy_perform(c);
    long status = 0;
    if (rc == CURLE_OK) curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    else {
        buf_clear(body);
        buf_puts(body, curl_easy_strerror(rc));
    }
    curl_slist_free_all(hl);
    curl_easy_cleanup(c);
    return status;
}

/* Build (key check when r is NULL), send with an optional extra header, parse into a. 0 ok. */
static int roundtrip(LmModel *m, const LmRequest *r, const char *extra, LmAnswer *a)
{
    HttpRequest h;
    char *err = NULL;
    memset(a, 0, sizeof *a);
    if (m->provider == PROV_VERTEX && vertex_access_token(m, NULL, &err)) {
        fprintf(stderr, "vertex token: %s\n", err);
        free(err);
        return -1;
    }
    int rc = r ? provider_build(m, r, &h, &err) : provider_build_key_check(m, &h, &err);
    if (rc) {
        fprintf(stderr, "build: %s\n", err);
        free(err);
        return -1;
    }
    Buf hd, body;
    buf_init(&hd);
    buf_init(&body);
    long st = perform(&h, extra, &hd, &body);
    provider_parse(m, r, st, hd.data ? hd.data : "", body.data ? body.data : "", body.len, a);
    buf_free(&hd);
    buf_free(&body);
    http_request_free(&h);
    return 0;
}

static void sim_config(const char *json)
{
    HttpRequest h = { 0 };
    h.url = xasprintf("%s/sim/config", base);
    h.method = "POST";
    h.body = xstrdup(json);
    Buf hd, body;
    buf_init(&hd);
    buf_init(&body);
    long st = perform(&h, "Content-Type: application/json", &hd, &body);
    if (st != 200) fprintf(stderr, "sim config %ld: %s\n", st, body.data ? body.data : "");
    buf_free(&hd);
    buf_free(&body);
    free(h.url);
    free(h.body);
}

static LmModel *model(ProviderKind p, const char *name, const char *key)
{
    static const char *const envs[] = { "OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GEMINI_API_KEY", "GOOGLE_ACCESS_TOKEN",
                                        "OPENROUTER_API_KEY", "COHERE_API_KEY" };
    LmModel *m = xcalloc(1, sizeof *m);
    m->alias = xstrdup(name);
    m->provider = p;
    m->model_name = xstrdup(name);
    m->base_url = p == PROV_OPENAI ? xasprintf("%s/v1", base) : p == PROV_OPENROUTER ? xasprintf("%s/api/v1", base) : xstrdup(base);
    m->api_key = key ? xstrdup(key) : NULL;
    m->api_key_env = xstrdup(envs[p]);
    m->temperature = NAN;
    if (p == PROV_VERTEX) {
        m->project = xstrdup("fql-test");
        m->location = xstrdup("us-central1");
    }
    return m;
}

#define SCHEMA "{\"type\":\"object\",\"properties\":{\"topic\":{\"type\":\"string\"},\"urgent\":{\"type\":\"boolean\"}," \
               "\"team\":{\"type\":\"string\",\"enum\":[\"billing\",\"network\",\"other\"]}},\"required\":[\"topic\"," \
               "\"urgent\",\"team\"],\"additionalProperties\":false}"
#define TICKET "The network is down and it is urgent: customers cannot log in over the network."

static LmRequest *chat(const char *user, int structured)
{
    LmRequest *r = lm_request_new(LM_CHAT);
    r->system = xstrdup("Triage the support ticket.");
    r->user = xstrdup(user);
    if (structured) {
        r->schema = json_loads(SCHEMA, 0, NULL);
        r->schema_name = xstrdup("ticket");
    }
    return r;
}

static LmRequest *embed_req(int n)
{
    LmRequest *r = lm_request_new(LM_EMBED);
    static const char *const texts[] = { "the cat sat on the mat", "a cat on a mat", "quarterly revenue grew" };
    r->ninputs = n;
    r->inputs = xcalloc((size_t)n, sizeof *r->inputs);
    for (int i = 0; i < n; i++) r->inputs[i] = xstrdup(texts[i % 3]);
    return r;
}

static int structured_ok(const LmAnswer *a)
{
    return a->outcome == LM_OK && json_is_object(a->json) && json_is_true(json_object_get(a->json, "urgent")) &&
           json_is_string(json_object_get(a->json, "topic")) &&
           !strcmp(json_string_value(json_object_get(a->json, "team")) ? json_string_value(json_object_get(a->json, "team")) : "",
                   "network") && a->input_tokens > 0 && a->output_tokens > 0;
}

static float cosine(const float *x, const float *y, int d)
{
    double xy = 0, xx = 0, yy = 0;
    for (int i = 0; i < d; i++) { xy += x[i] * y[i]; xx += x[i] * x[i]; yy += y[i] * y[i]; }
    return (float)(xy / sqrt(xx * yy));
}

/* One call per test; the answer is cleared. */
#define TEST(name, m, r, extra, cond, why) do { \
        LmAnswer a_; \
        if (roundtrip((m), (r), (extra), &a_)) report((name), 0, NULL, "could not send"); \
        else { const LmAnswer *a = &a_; report((name), (cond), a, (why)); } \
        lm_answer_clear(&a_); \
    } while (0)

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: provider_live PORT\n");
        return 2;
    }
    snprintf(base, sizeof base, "http://127.0.0.1:%s", argv[1]);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const char *K = "sk-live-test-key";
    LmRequest *text = chat("The quick brown fox jumps over the lazy dog", 0), *st = chat(TICKET, 1), *emb = embed_req(3);

    /* OpenAI */
    LmModel *oa = model(PROV_OPENAI, "gpt-4o-mini", K);
    TEST("openai_text", oa, text, NULL, a->outcome == LM_OK && a->text && !strncmp(a->text, "Simulated answer:", 17) &&
         a->remaining_requests >= 0, "a text answer");
    TEST("openai_structured", oa, st, NULL, structured_ok(a), "a strict json_schema answer");
    TEST("openai_key_check", oa, NULL, NULL, a->outcome == LM_OK, "GET /v1/models");
    LmModel *oe = model(PROV_OPENAI, "text-embedding-3-small", K);
    oe->dimensions = 64;
    TEST("openai_embeddings", oe, emb, NULL, a->outcome == LM_OK && a->nvec == 3 && a->dim == 64 &&
         cosine(a->vectors, a->vectors + 64, 64) > cosine(a->vectors, a->vectors + 128, 64), "3 vectors of 64, in order");
    TEST("openai_refusal", oa, st, "x-sim-fault: refusal", a->outcome == LM_ROW_ERROR && !strcmp(a->error_kind, "refusal"), "refusal");
    TEST("openai_500", oa, text, "x-sim-fault: 500", a->outcome == LM_RETRY && a->http_status == 500, "retry");
    TEST("openai_503", oa, text, "x-sim-fault: 503", a->outcome == LM_RETRY, "retry");
    TEST("openai_truncated", oa, st, "x-sim-fault: truncated", a->outcome == LM_RETRY, "a cut body is retried");
    TEST("openai_reset", oa, text, "x-sim-fault: reset", a->outcome == LM_RETRY && a->http_status == 0 &&
         !strcmp(a->error_kind, "network"), "transport error");
    {
        LmRequest *big = chat(TICKET, 1);
        big->max_output_tokens = 3;
        TEST("openai_max_tokens", oa, big, NULL, a->outcome == LM_ROW_ERROR && !strcmp(a->error_kind, "max_tokens"), "truncated JSON");
        lm_request_free(big);
    }

    /* Anthropic */
    LmModel *an = model(PROV_ANTHROPIC, "claude-haiku-4-5", K);
    TEST("anthropic_structured_tool", an, st, NULL, structured_ok(a) && a->text && a->text[0] == '{', "a forced tool answer");
    TEST("anthropic_text", an, text, NULL, a->outcome == LM_OK && a->text && !strncmp(a->text, "Simulated answer:", 17) &&
         a->remaining_requests >= 0, "text");
    TEST("anthropic_key_check", an, NULL, NULL, a->outcome == LM_OK, "GET /v1/models");
    TEST("anthropic_529", an, text, "x-sim-fault: 529", a->outcome == LM_RETRY && a->http_status == 529, "overloaded");
    TEST("anthropic_refusal", an, st, "x-sim-fault: refusal", a->outcome == LM_ROW_ERROR && !strcmp(a->error_kind, "refusal"), "refusal");

    /* Gemini */
    LmModel *ge = model(PROV_GEMINI, "gemini-2.5-flash", K);
    TEST("gemini_structured", ge, st, NULL, structured_ok(a), "responseJsonSchema");
    TEST("gemini_text", ge, text, NULL, a->outcome == LM_OK && a->text && !strncmp(a->text, "Simulated answer:", 17), "text");
    TEST("gemini_key_check", ge, NULL, NULL, a->outcome == LM_OK, "GET /v1beta/models");
    TEST("gemini_refusal", ge, st, "x-sim-fault: refusal", a->outcome == LM_ROW_ERROR && !strcmp(a->error_kind, "content_filter"),
         "SAFETY");
    TEST("gemini_503", ge, text, "x-sim-fault: 503", a->outcome == LM_RETRY, "retry");
    LmModel *gem = model(PROV_GEMINI, "gemini-embedding-001", K);
    gem->dimensions = 32;
    TEST("gemini_batch_embed", gem, emb, NULL, a->outcome == LM_OK && a->nvec == 3 && a->dim == 32 &&
         cosine(a->vectors, a->vectors + 32, 32) > cosine(a->vectors, a->vectors + 64, 32), "3 vectors of 32");

    /* Vertex: a token from the service-account JWT, then generateContent with it */
    LmModel *vx = model(PROV_VERTEX, "gemini-2.5-flash", NULL);
    if (getenv("GOOGLE_APPLICATION_CREDENTIALS")) {
        char *tok = NULL, *err = NULL, *tok2 = NULL;
        int rc = vertex_access_token(vx, &tok, &err);
        report("vertex_jwt_token", rc == 0 && tok && *tok && vx->token_expiry > 0, NULL, err ? err : "no token");
        free(err);
        err = NULL;
        rc = vertex_access_token(vx, &tok2, &err);
        report("vertex_token_cached", rc == 0 && tok && tok2 && !strcmp(tok, tok2), NULL, err ? err : "a new token");
        free(err);
        free(tok);
        free(tok2);
        TEST("vertex_structured", vx, st, NULL, structured_ok(a), "responseJsonSchema over Vertex");
        TEST("vertex_key_check", vx, NULL, NULL, a->outcome == LM_OK, "GET the model");
        LmModel *vbad = model(PROV_VERTEX, "gemini-2.5-flash", "ya29.not-issued-bad");
        TEST("vertex_bad_token", vbad, st, NULL, a->outcome == LM_FATAL && !strcmp(a->error_kind, "auth"), "fatal auth");
        lm_model_free(vbad);
    } else {
        report("vertex_jwt_token", 0, NULL, "GOOGLE_APPLICATION_CREDENTIALS is not set");
    }

    /* OpenRouter: routing and reported cost */
    LmModel *orr = model(PROV_OPENROUTER, "openai/gpt-4o-mini", K);
    orr->routing = json_pack("{s:s}", "sort", "latency");
    TEST("openrouter_routing_cost", orr, st, NULL, structured_ok(a) && a->cost_usd > 0 && a->upstream &&
         !strcmp(a->upstream, "Fireworks"), "Fireworks (lowest latency), with usage.cost");
    json_decref(orr->routing);
    orr->routing = json_pack("{s:[s], s:b}", "only", "no-such-upstream", "allow_fallbacks", 0);
    TEST("openrouter_no_upstream", orr, text, NULL, a->outcome == LM_RETRY, "503 no provider");
    json_decref(orr->routing);
    orr->routing = NULL;
    TEST("openrouter_key_check", orr, NULL, NULL, a->outcome == LM_OK, "GET /api/v1/key");

    /* bad keys: fatal auth everywhere, and the key never in the message */
    const char *bad = "sk-bad-SECRET-777";
    ProviderKind kinds[] = { PROV_OPENAI, PROV_ANTHROPIC, PROV_GEMINI, PROV_OPENROUTER };
    const char *names[] = { "gpt-4o-mini", "claude-haiku-4-5", "gemini-2.5-flash", "openai/gpt-4o-mini" };
    for (int i = 0; i < 4; i++) {
        LmModel *bm = model(kinds[i], names[i], bad);
        char name[64];
        snprintf(name, sizeof name, "bad_key_%s", i == 0 ? "openai" : i == 1 ? "anthropic" : i == 2 ? "gemini" : "openrouter");
        TEST(name, bm, text, NULL, a->outcome == LM_FATAL && !strcmp(a->error_kind, "auth") &&
             !strstr(a->error_message, bad), "fatal auth without the key");
        snprintf(name, sizeof name, "bad_key_check_%s", i == 0 ? "openai" : i == 1 ? "anthropic" : i == 2 ? "gemini" : "openrouter");
        TEST(name, bm, NULL, NULL, a->outcome == LM_FATAL && !strcmp(a->error_kind, "auth"), "fatal auth");
        lm_model_free(bm);
    }

    /* rate limits: a tiny rpm, the second request is a 429 with the server's wait */
    sim_config("{\"models\":{\"gpt-rl\":{\"rpm\":1},\"claude-rl\":{\"rpm\":1},\"gemini-rl\":{\"rpm\":1}}}");
    ProviderKind rk[] = { PROV_OPENAI, PROV_ANTHROPIC, PROV_GEMINI };
    const char *rn[] = { "gpt-rl", "claude-rl", "gemini-rl" };
    for (int i = 0; i < 3; i++) {
        LmModel *rm = model(rk[i], rn[i], K);
        char name[64];
        snprintf(name, sizeof name, "rate_limited_%s", i == 0 ? "openai" : i == 1 ? "anthropic" : "gemini");
        LmAnswer first;
        roundtrip(rm, text, NULL, &first);
        lm_answer_clear(&first);
        TEST(name, rm, text, NULL, a->outcome == LM_RATE_LIMITED && a->retry_after_s > 0 && a->retry_after_s <= 61,
             "429 with a wait");
        lm_model_free(rm);
    }

    /* quota exhaustion and context windows: fatal and row-level */
    sim_config("{\"models\":{\"gpt-q\":{\"quota_requests\":1},\"claude-q\":{\"quota_requests\":1},\"gemini-q\":"
               "{\"quota_requests\":1},\"gpt-ctx\":{\"context_window\":30},\"claude-ctx\":{\"context_window\":10},"
               "\"gemini-ctx\":{\"context_window\":10}},\"openrouter_credits\":0}");
    const char *qn[] = { "gpt-q", "claude-q", "gemini-q" }, *cn[] = { "gpt-ctx", "claude-ctx", "gemini-ctx" };
    for (int i = 0; i < 3; i++) {
        const char *pn = i == 0 ? "openai" : i == 1 ? "anthropic" : "gemini";
        LmModel *qm = model(rk[i], qn[i], K);
        char name[64];
        LmAnswer first;
        roundtrip(qm, text, NULL, &first);
        lm_answer_clear(&first);
        snprintf(name, sizeof name, "quota_%s", pn);
        TEST(name, qm, text, NULL, a->outcome == LM_FATAL && !strcmp(a->error_kind, "quota"), "fatal quota");
        lm_model_free(qm);
        LmModel *cm = model(rk[i], cn[i], K);
        snprintf(name, sizeof name, "context_window_%s", pn);
        TEST(name, cm, st, NULL, a->outcome == LM_ROW_ERROR && !strcmp(a->error_kind, "context_window"), "row error");
        lm_model_free(cm);
    }
    TEST("quota_openrouter", orr, text, NULL, a->outcome == LM_FATAL && !strcmp(a->error_kind, "quota"), "402");

    lm_model_free(oa);
    lm_model_free(oe);
    lm_model_free(an);
    lm_model_free(ge);
    lm_model_free(gem);
    lm_model_free(vx);
    lm_model_free(orr);
    lm_request_free(text);
    lm_request_free(st);
    lm_request_free(emb);
    curl_global_cleanup();
    printf("%d passed, %d failed\n", npass, nfail);
    return nfail ? 1 : 0;
}
