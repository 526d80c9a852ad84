/* provider_test.c: unit tests of the provider adapters (provider*.c): the request each builds
 * (checked as JSON), the classification of canned answers of every outcome class per provider,
 * Go durations, RFC 3339 / HTTP dates, header lookup, and that no string an adapter produces
 * carries the API key. Prints `ok NAME` or `FAIL NAME: reason` per test and a closing
 * `N passed, M failed`; exits nonzero on failure. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <jansson.h>
#include "provider.h"
#include "check.h"

#define SECRET "sk-test-SECRET123"




static const char *S(const char *s) { return s ? s : "(null)"; }
static int has(const char *s, const char *needle) { return s && strstr(s, needle); }
static int near(double a, double b, double eps) { return fabs(a - b) <= eps; }

/* ---- fixtures ---- */

static LmModel *model(ProviderKind p, const char *base, const char *name)
{
    static const char *const names[] = { "openai", "anthropic", "gemini", "vertex", "openrouter", "cohere" };
    static const char *const envs[] = { "OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GEMINI_API_KEY", "GOOGLE_ACCESS_TOKEN",
                                        "OPENROUTER_API_KEY", "COHERE_API_KEY" };
    LmModel *m = xcalloc(1, sizeof *m);
    m->alias = xstrdup("m");
    m->provider = p;
    m->provider_name = names[p];
    m->model_name = xstrdup(name);
    m->base_url = base ? xstrdup(base) : NULL;
    m->api_key = xstrdup(SECRET);
    m->api_key_env = xstrdup(envs[p]);
    m->temperature = NAN;
    m->timeout_s = 60;
    m->price_in = m->price_out = m->price_cached_in = -1;
    return m;
}

static LmRequest *chat(const char *system, const char *user, const char *schema)
{
    LmRequest *r = lm_request_new(LM_CHAT);
    r->system = system ? xstrdup(system) : NULL;
    r->user = xstrdup(user);
    if (schema) {
        r->schema = json_loads(schema, 0, NULL);
        r->schema_name = xstrdup("ticket");
    }
    return r;
}

static LmRequest *embed(int n)
{
    LmRequest *r = lm_request_new(LM_EMBED);
    r->ninputs = n;
    r->inputs = xcalloc((size_t)n, sizeof *r->inputs);
    for (int i = 0; i < n; i++) r->inputs[i] = xasprintf("text %d", i);
    return r;
}

#define SCHEMA "{\"type\":\"object\",\"properties\":{\"topic\":{\"type\":\"string\"},\"urgent\":{\"type\":\"boolean\"}}," \
               "\"required\":[\"topic\",\"urgent\"],\"additionalProperties\":false}"

/* Every string a build produced, except the one header that must carry the credential. */
static void check_no_secret_request(const HttpRequest *h, int line)
{
    if (has(h->url, SECRET) || has(h->body, SECRET))
        CHECK(0, "(from line %d) the key leaked into the URL or body", line);
    int auth = 0;
    for (int i = 0; i < h->nheaders; i++) {
        if (!has(h->headers[i], SECRET)) continue;
        if (!strncasecmp(h->headers[i], "Authorization: Bearer ", 22) || !strncasecmp(h->headers[i], "x-api-key: ", 11) ||
            !strncasecmp(h->headers[i], "x-goog-api-key: ", 16))
            auth++;
        else
            CHECK(0, "(from line %d) the key leaked into header %s", line, h->headers[i]);
    }
    CHECK(auth <= 1, "(from line %d) the key is sent %d times", line, auth);
}

/* Build r for m; return the body parsed (NULL for GET); h is filled. */
static json_t *build_at(const LmModel *m, const LmRequest *r, HttpRequest *h, int line)
{
    char *err = NULL;
    int rc = r ? provider_build(m, r, h, &err) : provider_build_key_check(m, h, &err);
    CHECK(rc == 0, "(from line %d) build failed: %s", line, S(err));
    CHECK(!has(err, SECRET), "(from line %d) the key leaked into a build error", line);
    free(err);
    if (rc) return NULL;
    check_no_secret_request(h, line);
    if (!h->body) return NULL;
    json_error_t je;
    json_t *j = json_loads(h->body, 0, &je);
    CHECK(j != NULL, "(from line %d) body is not JSON: %s", line, je.text);
    return j;
}
#define BUILD(m, r, h) build_at((m), (r), (h), __LINE__)

static const char *header(const HttpRequest *h, const char *name)
{
    size_t n = strlen(name);
    for (int i = 0; i < h->nheaders; i++)
        if (!strncasecmp(h->headers[i], name, n) && h->headers[i][n] == ':') return h->headers[i] + n + 2;
    return NULL;
}

/* Parse a canned answer; check that no string in it holds the key. */
static void parse_at(const LmModel *m, const LmRequest *r, long status, const char *headers, const char *body,
                     LmAnswer *a, int line)
{
    provider_parse(m, r, status, headers, body, body ? strlen(body) : 0, a);
    const char *strs[] = { a->text, a->error_kind, a->error_message, a->upstream };
    for (size_t i = 0; i < sizeof strs / sizeof strs[0]; i++)
        CHECK(!has(strs[i], SECRET), "(from line %d) the key leaked into an answer: %s", line, strs[i]);
    CHECK(a->outcome == LM_OK || a->error_kind, "(from line %d) a failure without an error kind", line);
    CHECK(a->outcome == LM_OK || (a->error_message && *a->error_message), "(from line %d) a failure without a message", line);
}
#define PARSE(m, r, st, hd, body, a) parse_at((m), (r), (st), (hd), (body), (a), __LINE__)

/* The outcome and kind of one canned answer. */
static void expect_at(const LmModel *m, const LmRequest *r, long status, const char *headers, const char *body,
                      LmOutcome want, const char *kind, int line)
{
    LmAnswer a;
    parse_at(m, r, status, headers, body, &a, line);
    CHECK(a.outcome == want, "(from line %d) status %ld: outcome %d, want %d (kind %s: %s)", line, status, a.outcome, want,
          S(a.error_kind), S(a.error_message));
    if (kind) CHECK(a.error_kind && !strcmp(a.error_kind, kind), "(from line %d) status %ld: kind %s, want %s (%s)", line,
                    status, S(a.error_kind), kind, S(a.error_message));
    lm_answer_clear(&a);
}
#define EXPECT(m, r, st, hd, body, want, kind) expect_at((m), (r), (st), (hd), (body), (want), (kind), __LINE__)

/* ---- shared helpers ---- */

static void t_durations(void)
{
    struct { const char *s; double want; } ok[] = {
        { "1s", 1 }, { "6m0s", 360 }, { "12ms", 0.012 }, { "1.5s", 1.5 }, { "1h2m3.5s", 3723.5 }, { "0", 0 },
        { "6m30s", 390 }, { "250us", 0.00025 }, { "3\xc2\xb5s", 3e-6 }, { "100ns", 1e-7 }, { "0s", 0 }, { " 2s ", 2 },
        { ".5s", 0.5 },
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
        CHECK(near(wire_parse_duration(ok[i].s), ok[i].want, 1e-9), "%s -> %g", ok[i].s, wire_parse_duration(ok[i].s));
    const char *bad[] = { "", "abc", "5", "1.5", "1s junk", "s", "-1s", "1x", NULL };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        CHECK(wire_parse_duration(bad[i]) == -1, "'%s' should be invalid", S(bad[i]));
}

static void t_times(void)
{
    CHECK(parse_rfc3339("2026-01-02T03:04:05Z") == 1767323045.0, "%f", parse_rfc3339("2026-01-02T03:04:05Z"));
    CHECK(near(parse_rfc3339("2026-01-02T03:04:05.678Z"), 1767323045.678, 1e-6), "fraction");
    CHECK(parse_rfc3339("2026-01-02T04:04:05+01:00") == 1767323045.0, "offset");
    CHECK(parse_rfc3339("2026-01-02T02:34:05-00:30") == 1767323045.0, "negative offset");
    CHECK(parse_rfc3339("yesterday") == -1 && parse_rfc3339("") == -1 && parse_rfc3339(NULL) == -1, "invalid");
    CHECK(parse_rfc3339("2026-13-02T03:04:05Z") == -1, "month 13");
    CHECK(parse_http_date("Wed, 21 Oct 2015 07:28:00 GMT") == 1445412480.0, "http date %f",
          parse_http_date("Wed, 21 Oct 2015 07:28:00 GMT"));
    CHECK(parse_http_date("soon") == -1, "bad http date");
    double now = now_unix();
    CHECK(now > 1.7e9, "now");
}

static void t_headers(void)
{
    const char *h = "HTTP/1.1 429 Too Many Requests\r\nContent-Type: application/json\r\nRetry-After:  7 \r\n"
                    "x-ratelimit-remaining-requests: 12\r\nX-Dup: a\r\nx-dup: b\r\n\r\n";
    char *v = hdr_get(h, "retry-after");
    CHECK(v && !strcmp(v, "7"), "retry-after '%s'", S(v));
    free(v);
    v = hdr_get(h, "x-dup");
    CHECK(v && !strcmp(v, "b"), "last wins: '%s'", S(v));
    free(v);
    v = hdr_get(h, "content");
    CHECK(v == NULL, "prefix must not match");
    free(v);
    CHECK(hdr_number(h, "X-RATELIMIT-REMAINING-REQUESTS") == 12, "number");
    CHECK(hdr_number(h, "content-type") == -1 && hdr_number(h, "missing") == -1, "not numbers");
    CHECK(hdr_get(NULL, "x") == NULL && hdr_get("", "x") == NULL, "empty blocks");
    double now = 1445412470.0;
    CHECK(hdr_retry_after("retry-after-ms: 1500\r\nretry-after: 9\r\n", now) == 1.5, "ms first");
    CHECK(hdr_retry_after("retry-after: 3\r\n", now) == 3, "seconds");
    CHECK(hdr_retry_after("retry-after: Wed, 21 Oct 2015 07:28:00 GMT\r\n", now) == 10, "date");
    CHECK(hdr_retry_after("retry-after: whenever\r\n", now) == -1, "garbage");
    CHECK(hdr_retry_after("", now) == -1, "none");
}

static void t_try_again(void)
{
    CHECK(near(text_try_again("Rate limit reached ... Please try again in 1.574s. Visit ..."), 1.574, 1e-9), "1.574s");
    CHECK(near(text_try_again("Please try again in 20ms."), 0.02, 1e-9), "20ms");
    CHECK(text_try_again("Please try again in 6m0s.") == 360, "6m0s");
    CHECK(text_try_again("Please try again in 1m12.5s.") == 72.5, "1m12.5s");
    CHECK(text_try_again("please TRY AGAIN IN 20 seconds") == 20, "20 seconds");
    CHECK(near(text_try_again("Please retry in 47.5s."), 47.5, 1e-9), "retry in");
    CHECK(text_try_again("try again later") == -1 && text_try_again(NULL) == -1, "none");
}

static void t_lifetimes(void)
{
    lm_model_free(NULL);
    lm_request_free(NULL);
    lm_answer_clear(NULL);
    http_request_free(NULL);
    LmRequest *r = lm_request_new(LM_CHAT);
    CHECK(isnan(r->temperature) && r->kind == LM_CHAT, "new request");
    lm_request_free(r);
    LmAnswer a;
    memset(&a, 0, sizeof a);
    a.text = xstrdup("x");
    a.json = json_object();
    a.error_kind = xstrdup("k");
    lm_answer_clear(&a);
    CHECK(!a.text && !a.json && !a.error_kind, "cleared");
    LmModel *m = model(PROV_OPENROUTER, NULL, "x");
    m->routing = json_object();
    m->access_token = xstrdup("tok");
    lm_model_free(m);
}

static void t_key_scrubbed(void)
{
    /* a provider that echoes the key in its message: the key never reaches the answer */
    LmModel *m = model(PROV_OPENAI, NULL, "gpt-4o-mini");
    LmAnswer a;
    PARSE(m, NULL, 401, "", "{\"error\":{\"message\":\"Incorrect API key provided: " SECRET ". See docs.\","
                             "\"type\":\"invalid_request_error\",\"code\":\"invalid_api_key\"}}", &a);
    CHECK(a.outcome == LM_FATAL && !strcmp(S(a.error_kind), "auth"), "auth");
    CHECK(has(a.error_message, "[redacted]") && has(a.error_message, "OPENAI_API_KEY"), "%s", S(a.error_message));
    lm_answer_clear(&a);
    PARSE(m, NULL, 0, "", "Could not connect to server with key " SECRET, &a);
    CHECK(!has(a.error_message, SECRET), "transport message");
    lm_answer_clear(&a);
    lm_model_free(m);
}

/* ---- OpenAI ---- */

static void t_openai_build_text(void)
{
    LmModel *m = model(PROV_OPENAI, "https://api.openai.com/v1", "gpt-4o-mini");
    m->max_output_tokens = 300;
    LmRequest *r = chat("be brief", "hello", NULL);
    r->temperature = 0.25;
    HttpRequest h;
    json_t *b = BUILD(m, r, &h);
    CHECK(!strcmp(h.method, "POST") && !strcmp(h.url, "https://api.openai.com/v1/chat/completions"), "%s", h.url);
    CHECK(has(header(&h, "Authorization"), "Bearer " SECRET), "auth header");
    CHECK(has(header(&h, "Content-Type"), "application/json"), "content type");
    CHECK(!strcmp(S(json_string_value(json_object_get(b, "model"))), "gpt-4o-mini"), "model");
    json_t *msgs = json_object_get(b, "messages");
    CHECK(json_array_size(msgs) == 2, "two messages");
    CHECK(!strcmp(S(jstr(json_array_get(msgs, 0), "role")), "system") &&
          !strcmp(S(jstr(json_array_get(msgs, 0), "content")), "be brief"), "system");
    CHECK(!strcmp(S(jstr(json_array_get(msgs, 1), "role")), "user") &&
          !strcmp(S(jstr(json_array_get(msgs, 1), "content")), "hello"), "user");
    CHECK(json_integer_value(json_object_get(b, "max_completion_tokens")) == 300, "api.openai.com: max_completion_tokens");
    CHECK(!json_object_get(b, "max_tokens"), "no max_tokens for api.openai.com");
    CHECK(jnum(b, "temperature", -1) == 0.25, "temperature");
    CHECK(!json_object_get(b, "response_format"), "no response_format for text");
    json_decref(b);
    http_request_free(&h);
    /* a local server: max_tokens, no key, no temperature when NAN */
    free(m->base_url);
    m->base_url = xstrdup("http://127.0.0.1:8080/v1");
    free(m->api_key);
    m->api_key = NULL;
    r->temperature = NAN;
    r->max_output_tokens = 50;
    b = BUILD(m, r, &h);
    CHECK(!strcmp(h.url, "http://127.0.0.1:8080/v1/chat/completions"), "%s", h.url);
    CHECK(json_integer_value(json_object_get(b, "max_tokens")) == 50, "local: max_tokens (the request's)");
    CHECK(!json_object_get(b, "max_completion_tokens"), "local: no max_completion_tokens");
    CHECK(!json_object_get(b, "temperature"), "no temperature");
    CHECK(!header(&h, "Authorization"), "no auth without a key");
    json_decref(b);
    http_request_free(&h);
    /* a host that merely starts like api.openai.com is not it */
    free(m->base_url);
    m->base_url = xstrdup("https://api.openai.com.evil.example/v1");
    b = BUILD(m, r, &h);
    CHECK(json_object_get(b, "max_tokens") != NULL, "lookalike host gets max_tokens");
    json_decref(b);
    http_request_free(&h);
    lm_request_free(r);
    lm_model_free(m);
}

static void t_build_utf8(void)
{
    LmModel *m = model(PROV_ANTHROPIC, NULL, "claude-haiku-4-5");
    LmRequest *r = chat(NULL, "caf\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac", NULL);
    HttpRequest h;
    json_t *b = BUILD(m, r, &h);
    CHECK(!strcmp(S(jstr(json_array_get(json_object_get(b, "messages"), 0), "content")), "caf\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac"),
          "UTF-8 kept: %s", S(h.body));
    json_decref(b);
    http_request_free(&h);
    free(r->user);
    r->user = xstrdup("bad \xff byte");
    char *err = NULL;
    CHECK(provider_build(m, r, &h, &err) == -1 && has(err, "UTF-8"), "invalid UTF-8: %s", S(err));
    free(err);
    lm_request_free(r);
    lm_model_free(m);
    m = model(PROV_GEMINI, NULL, "gemini-embedding-001");
    r = embed(2);
    r->inputs[1][0] = (char)0xc3;
    r->inputs[1][1] = '(';
    CHECK(provider_build(m, r, &h, &err) == -1 && has(err, "input 2"), "invalid input: %s", S(err));
    free(err);
    lm_request_free(r);
    lm_model_free(m);
}

static void t_openai_build_structured(void)
{
    LmModel *m = model(PROV_OPENAI, "https://api.openai.com/v1", "gpt-4o-mini");
    LmRequest *r = chat(NULL, "hello", SCHEMA);
    HttpRequest h;
    json_t *b = BUILD(m, r, &h);
    json_t *rf = json_object_get(b, "response_format");
    json_t *js = json_object_get(rf, "json_schema");
    CHECK(!strcmp(S(jstr(rf, "type")), "json_schema"), "type");
    CHECK(!strcmp(S(jstr(js, "name")), "ticket"), "name");
    CHECK(json_is_true(json_object_get(js, "strict")), "strict");
    CHECK(json_equal(json_object_get(js, "schema"), r->schema), "schema");
    CHECK(json_array_size(json_object_get(b, "messages")) == 1, "no system message");
    CHECK(has(h.body, "\"properties\":{\"topic\":{\"type\":\"string\"},\"urgent\""), "property order kept: %s", h.body);
    json_decref(b);
    http_request_free(&h);
    free(r->schema_name);
    r->schema_name = xstrdup("bad name!");
    b = BUILD(m, r, &h);
    CHECK(!strcmp(S(jstr(json_object_get(json_object_get(b, "response_format"), "json_schema"), "name")), "bad_name_"),
          "sanitized name");
    json_decref(b);
    http_request_free(&h);
    lm_request_free(r);
    lm_model_free(m);
}

static void t_openai_build_embed(void)
{
    LmModel *m = model(PROV_OPENAI, "http://127.0.0.1:9/v1", "text-embedding-3-small");
    m->dimensions = 256;
    LmRequest *r = embed(3);
    HttpRequest h;
    json_t *b = BUILD(m, r, &h);
    CHECK(!strcmp(h.url, "http://127.0.0.1:9/v1/embeddings"), "%s", h.url);
    CHECK(json_array_size(json_object_get(b, "input")) == 3 &&
          !strcmp(S(json_string_value(json_array_get(json_object_get(b, "input"), 2))), "text 2"), "input array");
    CHECK(json_integer_value(json_object_get(b, "dimensions")) == 256, "dimensions");
    json_decref(b);
    http_request_free(&h);
    lm_request_free(r);
    char *err = NULL;
    r = embed(0);
    CHECK(provider_build(m, r, &h, &err) == -1 && err, "no inputs");
    free(err);
    lm_request_free(r);
    r = embed(2049);
    CHECK(provider_build(m, r, &h, &err) == -1 && has(err, "2048"), "too many inputs: %s", S(err));
    free(err);
    lm_request_free(r);
    r = embed(2);
    r->inputs[1][0] = 0;
    CHECK(provider_build(m, r, &h, &err) == -1 && has(err, "empty"), "empty input: %s", S(err));
    free(err);
    lm_request_free(r);
    lm_model_free(m);
}

static void t_openai_build_key_check(void)
{
    LmModel *m = model(PROV_OPENAI, "https://api.openai.com/v1", "gpt-4o-mini");
    HttpRequest h;
    BUILD(m, NULL, &h);
    CHECK(!strcmp(h.method, "GET") && !strcmp(h.url, "https://api.openai.com/v1/models") && !h.body, "%s", h.url);
    CHECK(has(header(&h, "Authorization"), SECRET), "auth");
    http_request_free(&h);
    lm_model_free(m);
    m = model(PROV_OPENROUTER, "https://openrouter.ai/api/v1", "openai/gpt-4o");
    BUILD(m, NULL, &h);
    CHECK(!strcmp(h.url, "https://openrouter.ai/api/v1/key"), "%s", h.url);
    http_request_free(&h);
    lm_model_free(m);
}

#define OAI_OK(content, finish) \
    "{\"id\":\"c1\",\"object\":\"chat.completion\",\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":" \
    content ",\"refusal\":null},\"finish_reason\":\"" finish "\"}],\"usage\":{\"prompt_tokens\":21,\"completion_tokens\":11," \
    "\"prompt_tokens_details\":{\"cached_tokens\":5},\"completion_tokens_details\":{\"reasoning_tokens\":3}}}"

static void t_openai_parse_ok(void)
{
    LmModel *m = model(PROV_OPENAI, NULL, "gpt-4o-mini");
    LmRequest *r = chat(NULL, "hi", NULL);
    LmAnswer a;
    PARSE(m, r, 200, "x-ratelimit-remaining-requests: 499\r\nx-ratelimit-remaining-tokens: 149000\r\n",
          OAI_OK("\"Hello there\"", "stop"), &a);
    CHECK(a.outcome == LM_OK && !strcmp(S(a.text), "Hello there"), "%d %s", a.outcome, S(a.text));
    CHECK(a.input_tokens == 21 && a.output_tokens == 11 && a.cached_input_tokens == 5 && a.reasoning_tokens == 3, "usage");
    CHECK(a.remaining_requests == 499 && a.remaining_tokens == 149000, "remaining");
    CHECK(a.cost_usd < 0 && a.retry_after_s < 0 && a.http_status == 200 && !a.json, "defaults");
    lm_answer_clear(&a);
    /* plain text cut at the limit is still an answer */
    EXPECT(m, r, 200, "", OAI_OK("\"Hello th\"", "length"), LM_OK, NULL);
    /* null content, no refusal: an empty answer */
    PARSE(m, r, 200, "", OAI_OK("null", "stop"), &a);
    CHECK(a.outcome == LM_OK && a.text && !*a.text, "null content");
    lm_answer_clear(&a);
    lm_request_free(r);
    r = chat(NULL, "hi", SCHEMA);
    PARSE(m, r, 200, "", OAI_OK("\"{\\\"topic\\\":\\\"x\\\",\\\"urgent\\\":true}\"", "stop"), &a);
    CHECK(a.outcome == LM_OK && json_is_object(a.json) && json_is_true(json_object_get(a.json, "urgent")), "structured");
    CHECK(has(a.text, "\"topic\""), "text kept");
    lm_answer_clear(&a);
    lm_request_free(r);
    lm_model_free(m);
}

static void t_openai_parse_row_errors(void)
{
    LmModel *m = model(PROV_OPENAI, NULL, "gpt-4o-mini");
    LmRequest *r = chat(NULL, "hi", SCHEMA), *t = chat(NULL, "hi", NULL);
    LmAnswer a;
    PARSE(m, r, 200, "", "{\"choices\":[{\"message\":{\"content\":null,\"refusal\":\"I can't help with that.\"},"
                         "\"finish_reason\":\"stop\"}]}", &a);
    CHECK(a.outcome == LM_ROW_ERROR && !strcmp(S(a.error_kind), "refusal") && has(a.error_message, "can't help"), "refusal");
    lm_answer_clear(&a);
    EXPECT(m, t, 200, "", OAI_OK("null", "content_filter"), LM_ROW_ERROR, "content_filter");
    EXPECT(m, r, 200, "", OAI_OK("\"{\\\"topic\\\":\\\"x\"", "length"), LM_ROW_ERROR, "max_tokens");
    PARSE(m, r, 200, "", OAI_OK("\"{\\\"topic\\\": tru\"", "stop"), &a);
    CHECK(a.outcome == LM_ROW_ERROR && !strcmp(S(a.error_kind), "invalid_json") && has(a.error_message, "line"),
          "invalid json: %s", S(a.error_message));
    CHECK(has(a.text, "topic"), "the bad text is kept for the repair prompt");
    lm_answer_clear(&a);
    EXPECT(m, r, 200, "", OAI_OK("null", "stop"), LM_ROW_ERROR, "invalid_json");
    EXPECT(m, r, 400, "", "{\"error\":{\"message\":\"This model's maximum context length is 128000 tokens. However, you "
                          "requested 130000 tokens.\",\"type\":\"invalid_request_error\",\"param\":\"messages\","
                          "\"code\":\"context_length_exceeded\"}}", LM_ROW_ERROR, "context_window");
    EXPECT(m, r, 400, "", "{\"error\":{\"message\":\"Invalid schema for response_format 'ticket'\",\"type\":"
                          "\"invalid_request_error\",\"param\":\"response_format\",\"code\":null}}", LM_ROW_ERROR, "bad_request");
    EXPECT(m, r, 429, "", "{\"error\":{\"message\":\"Request too large for gpt-4o-mini in organization org-x on tokens per "
                          "min (TPM): Limit 30000, Requested 31538.\",\"type\":\"tokens\",\"code\":\"rate_limit_exceeded\"}}",
           LM_ROW_ERROR, "request_too_large");
    EXPECT(m, r, 413, "", "{\"error\":{\"message\":\"too big\"}}", LM_ROW_ERROR, "request_too_large");
    lm_request_free(r);
    lm_request_free(t);
    lm_model_free(m);
}

static void t_openai_parse_rate_limits(void)
{
    LmModel *m = model(PROV_OPENAI, NULL, "gpt-4o-mini");
    LmRequest *r = chat(NULL, "hi", NULL);
    LmAnswer a;
    const char *body = "{\"error\":{\"message\":\"Rate limit reached for gpt-4o-mini in organization org-sim on requests "
                       "per min (RPM): Limit 3, Used 3, Requested 1. Please try again in 1.574s. Visit https://platform."
                       "openai.com/account/rate-limits to learn more.\",\"type\":\"requests\",\"code\":\"rate_limit_exceeded\"}}";
    PARSE(m, r, 429, "retry-after: 2\r\n", body, &a);
    CHECK(a.outcome == LM_RATE_LIMITED && !strcmp(S(a.error_kind), "rate_limit"), "rate limited");
    CHECK(near(a.retry_after_s, 1.574, 1e-9), "text wait %g", a.retry_after_s);
    lm_answer_clear(&a);
    PARSE(m, r, 429, "retry-after-ms: 250\r\nretry-after: 2\r\n", body, &a);
    CHECK(near(a.retry_after_s, 0.25, 1e-9), "retry-after-ms %g", a.retry_after_s);
    lm_answer_clear(&a);
    const char *plain = "{\"error\":{\"message\":\"Rate limit reached.\",\"type\":\"tokens\",\"code\":\"rate_limit_exceeded\"}}";
    PARSE(m, r, 429, "retry-after: 3\r\n", plain, &a);
    CHECK(a.retry_after_s == 3, "retry-after %g", a.retry_after_s);
    lm_answer_clear(&a);
    PARSE(m, r, 429, "x-ratelimit-reset-requests: 120ms\r\nx-ratelimit-reset-tokens: 6m0s\r\n", plain, &a);
    CHECK(a.retry_after_s == 360, "reset-tokens for type tokens %g", a.retry_after_s);
    lm_answer_clear(&a);
    PARSE(m, r, 429, "x-ratelimit-reset-requests: 1.5s\r\nx-ratelimit-reset-tokens: 12ms\r\n",
          "{\"error\":{\"message\":\"Rate limit reached.\",\"type\":\"requests\"}}", &a);
    CHECK(a.retry_after_s == 1.5, "reset-requests for type requests %g", a.retry_after_s);
    lm_answer_clear(&a);
    PARSE(m, r, 429, "x-ratelimit-reset-requests: 1.5s\r\nx-ratelimit-reset-tokens: 2s\r\n",
          "{\"error\":{\"message\":\"slow down\"}}", &a);
    CHECK(a.retry_after_s == 2, "the larger reset %g", a.retry_after_s);
    lm_answer_clear(&a);
    PARSE(m, r, 429, "", "{\"error\":{\"message\":\"slow down\"}}", &a);
    CHECK(a.outcome == LM_RATE_LIMITED && a.retry_after_s < 0, "unknown wait %g", a.retry_after_s);
    lm_answer_clear(&a);
    PARSE(m, r, 429, "", "{\"error\":{\"message\":\"You exceeded your current quota, please check your plan and billing "
                         "details.\",\"type\":\"insufficient_quota\",\"param\":null,\"code\":\"insufficient_quota\"}}", &a);
    CHECK(a.outcome == LM_FATAL && !strcmp(S(a.error_kind), "quota"), "quota");
    CHECK(has(a.error_message, "billing") && has(a.error_message, "OPENAI_API_KEY"), "actionable: %s", S(a.error_message));
    lm_answer_clear(&a);
    lm_request_free(r);
    lm_model_free(m);
}

static void t_openai_parse_fatal_and_retry(void)
{
    LmModel *m = model(PROV_OPENAI, NULL, "gpt-4o-mini");
    LmRequest *r = chat(NULL, "hi", NULL);
    EXPECT(m, r, 401, "", "{\"error\":{\"message\":\"Incorrect API key provided\",\"code\":\"invalid_api_key\"}}", LM_FATAL, "auth");
    EXPECT(m, r, 403, "", "{\"error\":{\"message\":\"Country not supported\"}}", LM_FATAL, "auth");
    EXPECT(m, r, 404, "", "{\"error\":{\"message\":\"The model `gpt-9` does not exist\",\"code\":\"model_not_found\"}}",
           LM_FATAL, "unknown_model");
    EXPECT(m, r, 402, "", "{\"error\":{\"message\":\"pay\"}}", LM_FATAL, "quota");
    long transient[] = { 408, 409, 500, 502, 503, 504, 529 };
    for (size_t i = 0; i < sizeof transient / sizeof transient[0]; i++)
        EXPECT(m, r, transient[i], "", "{\"error\":{\"message\":\"The server had an error\",\"type\":\"server_error\"}}", LM_RETRY, NULL);
    EXPECT(m, r, 503, "", "{\"error\":{\"message\":\"overloaded\",\"code\":\"server_is_overloaded\"}}", LM_RETRY, "overloaded");
    EXPECT(m, r, 502, "", "<html><body>502 Bad Gateway</body></html>", LM_RETRY, "bad_gateway");
    LmAnswer a;
    PARSE(m, r, 500, "retry-after: 4\r\n", "", &a);
    CHECK(a.outcome == LM_RETRY && a.retry_after_s == 4 && has(a.error_message, "500"), "empty 500: %s", S(a.error_message));
    lm_answer_clear(&a);
    EXPECT(m, r, 500, "x-should-retry: false\r\n", "{}", LM_ROW_ERROR, NULL);
    EXPECT(m, r, 400, "x-should-retry: true\r\n", "{\"error\":{\"message\":\"odd\"}}", LM_RETRY, NULL);
    PARSE(m, r, 0, "", "Operation timed out after 60000 milliseconds with 0 bytes received", &a);
    CHECK(a.outcome == LM_RETRY && !strcmp(S(a.error_kind), "network") && has(a.error_message, "timed out"), "transport");
    CHECK(a.http_status == 0, "status 0");
    lm_answer_clear(&a);
    EXPECT(m, r, 0, "", "", LM_RETRY, "network");
    /* vLLM's older error shape */
    EXPECT(m, r, 400, "", "{\"object\":\"error\",\"message\":\"This model's maximum context length is 4096 tokens.\","
                          "\"type\":\"BadRequestError\",\"param\":null,\"code\":400}", LM_ROW_ERROR, "context_window");
    EXPECT(m, r, 200, "", "{\"object\":\"error\",\"message\":\"bad\",\"type\":\"BadRequestError\",\"code\":400}",
           LM_ROW_ERROR, "bad_request");
    /* llama.cpp / Ollama: {"error": "text"} */
    PARSE(m, r, 404, "", "{\"error\":\"model 'llama9' not found\"}", &a);
    CHECK(a.outcome == LM_FATAL && has(a.error_message, "llama9"), "string error: %s", S(a.error_message));
    lm_answer_clear(&a);
    lm_request_free(r);
    lm_model_free(m);
}

static void t_openai_parse_missing_fields(void)
{
    LmModel *m = model(PROV_OPENAI, NULL, "gpt-4o-mini");
    LmRequest *r = chat(NULL, "hi", NULL), *s = chat(NULL, "hi", SCHEMA), *e = embed(2);
    const char *bodies[] = { "", "{}", "[]", "null", "{\"choices\":null}", "{\"choices\":[]}", "{\"choices\":[null]}",
                             "{\"choices\":[{}]}", "{\"choices\":[{\"message\":null}]}", "{\"choices\":[{\"message\":{}}],\"usage\":null}",
                             "{\"choices\":[{\"message\":{\"content\":5}}],\"usage\":{\"prompt_tokens\":\"x\"}}",
                             "{\"choices\":[{\"message\":{\"content\":\"{\\\"a\\\"", "{\"error\":null}", "{\"error\":{}}",
                             "{\"data\":[{\"index\":0}]}", "{\"data\":[{\"embedding\":[]},{\"embedding\":null}]}",
                             "{\"data\":[{\"index\":5,\"embedding\":[1]},{\"index\":0,\"embedding\":[1]}]}",
                             "{\"data\":[{\"index\":0,\"embedding\":[1,2]},{\"index\":1,\"embedding\":[1]}]}" };
    long statuses[] = { 200, 400, 429, 500 };
    for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++)
        for (size_t k = 0; k < sizeof statuses / sizeof statuses[0]; k++) {
            LmRequest *reqs[] = { r, s, e, NULL };
            for (size_t q = 0; q < 4; q++) {
                LmAnswer a;
                PARSE(m, reqs[q], statuses[k], "", bodies[i], &a);
                if (reqs[q] == e && statuses[k] == 200)
                    CHECK(a.outcome != LM_OK, "embeddings from '%s' should not be ok", bodies[i]);
                lm_answer_clear(&a);
            }
        }
    /* the truncated-body fault: a 200 with half a JSON document is worth a retry */
    EXPECT(m, r, 200, "", "{\"id\":\"c1\",\"choices\":[{\"index\":0,\"mess", LM_RETRY, "bad_response");
    EXPECT(m, r, 200, "", "{}", LM_RETRY, "bad_response");
    lm_request_free(r);
    lm_request_free(s);
    lm_request_free(e);
    lm_model_free(m);
}

static void t_openai_parse_embed(void)
{
    LmModel *m = model(PROV_OPENAI, NULL, "text-embedding-3-small");
    LmRequest *r = embed(2);
    LmAnswer a;
    PARSE(m, r, 200, "", "{\"object\":\"list\",\"data\":[{\"object\":\"embedding\",\"index\":1,\"embedding\":[0.5,0.25,0]},"
                         "{\"object\":\"embedding\",\"index\":0,\"embedding\":[1,2,3]}],\"model\":\"x\","
                         "\"usage\":{\"prompt_tokens\":4,\"total_tokens\":4}}", &a);
    CHECK(a.outcome == LM_OK && a.nvec == 2 && a.dim == 3, "shape %d %d %d", a.outcome, a.nvec, a.dim);
    CHECK(a.vectors && a.vectors[0] == 1 && a.vectors[2] == 3 && a.vectors[3] == 0.5f && a.vectors[4] == 0.25f,
          "matched by index");
    CHECK(a.input_tokens == 4, "usage");
    lm_answer_clear(&a);
    EXPECT(m, r, 200, "", "{\"data\":[{\"index\":0,\"embedding\":[1]}]}", LM_RETRY, "bad_response");
    lm_request_free(r);
    lm_model_free(m);
}

/* ---- OpenRouter ---- */

static void t_openrouter_build(void)
{
    LmModel *m = model(PROV_OPENROUTER, "https://openrouter.ai/api/v1", "openai/gpt-4o");
    m->routing = json_loads("{\"sort\":\"price\",\"allow_fallbacks\":false,\"ignore\":[\"azure\"]}", 0, NULL);
    m->max_output_tokens = 100;
    LmRequest *r = chat("sys", "hi", SCHEMA);
    HttpRequest h;
    json_t *b = BUILD(m, r, &h);
    CHECK(!strcmp(h.url, "https://openrouter.ai/api/v1/chat/completions"), "%s", h.url);
    CHECK(json_equal(json_object_get(b, "provider"), m->routing), "provider routing object");
    CHECK(json_integer_value(json_object_get(b, "max_tokens")) == 100 && !json_object_get(b, "max_completion_tokens"),
          "OpenRouter takes max_tokens");
    CHECK(json_object_get(b, "response_format") != NULL, "structured");
    json_decref(b);
    http_request_free(&h);
    lm_request_free(r);
    lm_model_free(m);
}

static void t_openrouter_parse(void)
{
    LmModel *m = model(PROV_OPENROUTER, NULL, "openai/gpt-4o");
    LmRequest *r = chat(NULL, "hi", NULL);
    LmAnswer a;
    PARSE(m, r, 200, "", "{\"id\":\"gen-1\",\"provider\":\"DeepInfra\",\"model\":\"openai/gpt-4o\",\"choices\":[{\"message\":"
                         "{\"role\":\"assistant\",\"content\":\"hi\"},\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":10,"
                         "\"completion_tokens\":2,\"total_tokens\":12,\"cost\":0.000042}}", &a);
    CHECK(a.outcome == LM_OK && near(a.cost_usd, 0.000042, 1e-12) && !strcmp(S(a.upstream), "DeepInfra"), "cost %g upstream %s",
          a.cost_usd, S(a.upstream));
    lm_answer_clear(&a);
    PARSE(m, r, 402, "", "{\"error\":{\"code\":402,\"message\":\"Insufficient credits\"}}", &a);
    CHECK(a.outcome == LM_FATAL && !strcmp(S(a.error_kind), "quota") && has(a.error_message, "OPENROUTER_API_KEY"), "402: %s",
          S(a.error_message));
    lm_answer_clear(&a);
    PARSE(m, r, 402, "retry-after: 5\r\n", "{\"error\":{\"code\":402,\"message\":\"wait\"}}", &a);
    CHECK(a.outcome == LM_RATE_LIMITED && a.retry_after_s == 5, "402 with retry-after");
    lm_answer_clear(&a);
    EXPECT(m, r, 401, "", "{\"error\":{\"code\":401,\"message\":\"User not found.\"}}", LM_FATAL, "auth");
    EXPECT(m, r, 200, "", "{\"error\":{\"code\":429,\"message\":\"Rate limit exceeded\"}}", LM_RATE_LIMITED, "rate_limit");
    EXPECT(m, r, 200, "", "{\"error\":{\"code\":502,\"message\":\"upstream down\",\"metadata\":{\"raw\":\"x\",\"provider_name\":"
                          "\"Together\"}}}", LM_RETRY, NULL);
    EXPECT(m, r, 200, "", "{\"error\":{\"message\":\"no code\"}}", LM_RETRY, NULL);
    EXPECT(m, r, 503, "", "{\"error\":{\"code\":503,\"message\":\"No allowed providers are available for the selected model.\"}}",
           LM_RETRY, "no_provider");
    EXPECT(m, r, 408, "", "{\"error\":{\"code\":408,\"message\":\"timeout\"}}", LM_RETRY, "timeout");
    EXPECT(m, r, 403, "", "{\"error\":{\"code\":403,\"message\":\"Input was flagged by moderation\",\"metadata\":{\"reasons\":"
                          "[\"x\"]}}}", LM_ROW_ERROR, "content_filter");
    EXPECT(m, r, 429, "", "{\"error\":{\"code\":429,\"message\":\"Rate limit exceeded: free-models-per-day\"}}", LM_FATAL, "quota");
    EXPECT(m, r, 200, "", "{\"choices\":[{\"message\":{\"content\":\"\"},\"finish_reason\":\"error\",\"error\":{\"code\":502,"
                          "\"message\":\"Upstream error\"}}]}", LM_RETRY, NULL);
    EXPECT(m, NULL, 200, "", "{\"data\":{\"label\":\"k\",\"usage\":1.5,\"limit\":10,\"limit_remaining\":8.5}}", LM_OK, NULL);
    EXPECT(m, NULL, 200, "", "{\"data\":{\"label\":\"k\",\"usage\":10,\"limit\":10,\"limit_remaining\":0}}", LM_FATAL, "quota");
    EXPECT(m, NULL, 200, "", "{\"data\":{\"limit_remaining\":null}}", LM_OK, NULL);
    lm_request_free(r);
    lm_model_free(m);
}

/* ---- Anthropic ---- */

static void t_anthropic_build(void)
{
    LmModel *m = model(PROV_ANTHROPIC, "https://api.anthropic.com", "claude-haiku-4-5");
    LmRequest *r = chat("be brief", "hi", NULL);
    HttpRequest h;
    json_t *b = BUILD(m, r, &h);
    CHECK(!strcmp(h.url, "https://api.anthropic.com/v1/messages"), "%s", h.url);
    CHECK(has(header(&h, "x-api-key"), SECRET) && !header(&h, "Authorization"), "x-api-key");
    CHECK(has(header(&h, "anthropic-version"), "2023-06-01"), "version");
    CHECK(json_integer_value(json_object_get(b, "max_tokens")) == 1024, "default max_tokens");
    /* the instructions are one text block marked as the end of the cached prefix (prompt caching) */
    json_t *sys0 = json_array_get(json_object_get(b, "system"), 0);
    CHECK(json_array_size(json_object_get(b, "system")) == 1 && !strcmp(S(jstr(sys0, "type")), "text") &&
          !strcmp(S(jstr(sys0, "text")), "be brief"), "system block");
    CHECK(!strcmp(S(jstr(json_object_get(sys0, "cache_control"), "type")), "ephemeral"), "system is a cache breakpoint");
    CHECK(!strcmp(S(jstr(json_array_get(json_object_get(b, "messages"), 0), "content")), "hi"), "user");
    CHECK(!json_object_get(b, "tools") && !json_object_get(b, "temperature"), "no tools, no temperature");
    json_decref(b);
    http_request_free(&h);
    lm_request_free(r);
    m->max_output_tokens = 2000;
    r = chat(NULL, "hi", SCHEMA);
    r->temperature = 0;
    free(m->base_url);
    m->base_url = xstrdup("http://127.0.0.1:9/v1/");
    b = BUILD(m, r, &h);
    CHECK(!strcmp(h.url, "http://127.0.0.1:9/v1/messages"), "trailing /v1 not doubled: %s", h.url);
    CHECK(json_integer_value(json_object_get(b, "max_tokens")) == 2000, "model's max_tokens");
    CHECK(!json_object_get(b, "system") && jnum(b, "temperature", -1) == 0, "temperature 0 sent");
    json_t *tool = json_array_get(json_object_get(b, "tools"), 0);
    CHECK(json_array_size(json_object_get(b, "tools")) == 1 && !strcmp(S(jstr(tool, "name")), "ticket"), "one tool");
    CHECK(json_equal(json_object_get(tool, "input_schema"), r->schema) && jstr(tool, "description"), "input_schema");
    CHECK(!strcmp(S(jstr(json_object_get(tool, "cache_control"), "type")), "ephemeral"),
          "without instructions the tool ends the cached prefix");
    json_t *tc = json_object_get(b, "tool_choice");
    CHECK(!strcmp(S(jstr(tc, "type")), "tool") && !strcmp(S(jstr(tc, "name")), "ticket"), "forced tool");
    json_decref(b);
    http_request_free(&h);
    r->max_output_tokens = 77;
    b = BUILD(m, r, &h);
    CHECK(json_integer_value(json_object_get(b, "max_tokens")) == 77, "request's max_tokens");
    json_decref(b);
    http_request_free(&h);
    lm_request_free(r);
    r = embed(1);
    char *err = NULL;
    CHECK(provider_build(m, r, &h, &err) == -1 && has(err, "embeddings"), "no embeddings: %s", S(err));
    free(err);
    lm_request_free(r);
    BUILD(m, NULL, &h);
    CHECK(!strcmp(h.method, "GET") && !strcmp(h.url, "http://127.0.0.1:9/v1/models") && header(&h, "anthropic-version"),
          "key check %s", h.url);
    http_request_free(&h);
    lm_model_free(m);
}

static void t_anthropic_parse(void)
{
    LmModel *m = model(PROV_ANTHROPIC, NULL, "claude-haiku-4-5");
    LmRequest *t = chat(NULL, "hi", NULL), *s = chat(NULL, "hi", SCHEMA);
    LmAnswer a;
    const char *rl = "anthropic-ratelimit-requests-remaining: 49\r\nanthropic-ratelimit-input-tokens-remaining: 40000\r\n"
                     "anthropic-ratelimit-output-tokens-remaining: 8000\r\n";
    PARSE(m, t, 200, rl, "{\"id\":\"msg_1\",\"type\":\"message\",\"role\":\"assistant\",\"content\":[{\"type\":\"text\",\"text\":"
                         "\"Hello \"},{\"type\":\"text\",\"text\":\"world\"}],\"stop_reason\":\"end_turn\",\"usage\":{\"input_tokens\":"
                         "10,\"output_tokens\":5,\"cache_read_input_tokens\":4,\"cache_creation_input_tokens\":1}}", &a);
    CHECK(a.outcome == LM_OK && !strcmp(S(a.text), "Hello world"), "text %s", S(a.text));
    CHECK(a.input_tokens == 15 && a.cached_input_tokens == 4 && a.cache_write_tokens == 1 && a.output_tokens == 5,
          "usage %lld %lld %lld", (long long)a.input_tokens, (long long)a.cached_input_tokens, (long long)a.cache_write_tokens);
    CHECK(a.remaining_requests == 49 && a.remaining_tokens == 8000, "remaining %g %g", a.remaining_requests, a.remaining_tokens);
    lm_answer_clear(&a);
    PARSE(m, s, 200, "", "{\"content\":[{\"type\":\"text\",\"text\":\"Sure.\"},{\"type\":\"tool_use\",\"id\":\"t1\",\"name\":"
                         "\"ticket\",\"input\":{\"topic\":\"x\",\"urgent\":false}}],\"stop_reason\":\"tool_use\",\"usage\":"
                         "{\"input_tokens\":10,\"output_tokens\":20}}", &a);
    CHECK(a.outcome == LM_OK && json_is_object(a.json) && json_is_false(json_object_get(a.json, "urgent")), "tool input");
    CHECK(a.text && !strcmp(a.text, "{\"topic\":\"x\",\"urgent\":false}"), "json text %s", S(a.text));
    lm_answer_clear(&a);
    EXPECT(m, s, 200, "", "{\"content\":[{\"type\":\"text\",\"text\":\"I won't\"}],\"stop_reason\":\"end_turn\"}",
           LM_ROW_ERROR, "invalid_json");
    EXPECT(m, s, 200, "", "{\"content\":[],\"stop_reason\":\"refusal\"}", LM_ROW_ERROR, "refusal");
    EXPECT(m, s, 200, "", "{\"content\":[{\"type\":\"tool_use\",\"name\":\"ticket\",\"input\":{}}],\"stop_reason\":\"max_tokens\"}",
           LM_ROW_ERROR, "max_tokens");
    EXPECT(m, t, 200, "", "{\"content\":[{\"type\":\"text\",\"text\":\"cut\"}],\"stop_reason\":\"max_tokens\"}", LM_OK, NULL);
    EXPECT(m, t, 200, "", "{\"content\":[],\"stop_reason\":\"model_context_window_exceeded\"}", LM_ROW_ERROR, "context_window");
    EXPECT(m, t, 200, "", "{\"content\":null,\"stop_reason\":\"end_turn\"}", LM_OK, NULL);
    EXPECT(m, t, 200, "", "{}", LM_RETRY, "bad_response");
    EXPECT(m, t, 200, "", "{\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}", LM_RETRY, "overloaded");
    lm_request_free(t);
    lm_request_free(s);
    lm_model_free(m);
}

static void t_anthropic_errors(void)
{
    LmModel *m = model(PROV_ANTHROPIC, NULL, "claude-haiku-4-5");
    LmRequest *r = chat(NULL, "hi", NULL);
    LmAnswer a;
#define AERR(type, msg) "{\"type\":\"error\",\"error\":{\"type\":\"" type "\",\"message\":\"" msg "\"}}"
    PARSE(m, r, 429, "retry-after: 12\r\nx-should-retry: true\r\n", AERR("rate_limit_error", "This request would exceed the rate limit"), &a);
    CHECK(a.outcome == LM_RATE_LIMITED && a.retry_after_s == 12, "retry-after %g", a.retry_after_s);
    lm_answer_clear(&a);
    /* no retry-after: the reset time of the budget that is used up */
    char hdrs[512], stamp[64];
    time_t later = time(NULL) + 30;
    strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%SZ", gmtime(&later));
    snprintf(hdrs, sizeof hdrs, "anthropic-ratelimit-requests-remaining: 5\r\nanthropic-ratelimit-requests-reset: 2000-01-01T00:00:00Z\r\n"
             "anthropic-ratelimit-input-tokens-remaining: 0\r\nanthropic-ratelimit-input-tokens-reset: %s\r\n", stamp);
    PARSE(m, r, 429, hdrs, AERR("rate_limit_error", "input tokens"), &a);
    CHECK(a.outcome == LM_RATE_LIMITED && a.retry_after_s > 27 && a.retry_after_s <= 30, "RFC 3339 reset %g", a.retry_after_s);
    lm_answer_clear(&a);
    EXPECT(m, r, 429, "x-should-retry: false\r\n", AERR("rate_limit_error", "Request too large: this request (90000 tokens) "
           "exceeds the rate limit for your organization of 50000 tokens per minute on its own."), LM_ROW_ERROR, "request_too_large");
    EXPECT(m, r, 529, "", AERR("overloaded_error", "Overloaded"), LM_RETRY, "overloaded");
    PARSE(m, r, 400, "", AERR("invalid_request_error", "Your credit balance is too low to access the Anthropic API. Please go "
                              "to Plans & Billing to upgrade or purchase credits."), &a);
    CHECK(a.outcome == LM_FATAL && !strcmp(S(a.error_kind), "quota") && has(a.error_message, "ANTHROPIC_API_KEY"), "credit: %s",
          S(a.error_message));
    lm_answer_clear(&a);
    EXPECT(m, r, 400, "", AERR("invalid_request_error", "prompt is too long: 210000 tokens > 200000 maximum"), LM_ROW_ERROR, "context_window");
    EXPECT(m, r, 400, "", AERR("invalid_request_error", "input length and `max_tokens` exceed context limit: 1 + 2 > 3"),
           LM_ROW_ERROR, "context_window");
    EXPECT(m, r, 400, "", AERR("invalid_request_error", "messages: field required"), LM_ROW_ERROR, "bad_request");
    EXPECT(m, r, 413, "", AERR("request_too_large", "Request exceeds the maximum allowed number of bytes."), LM_ROW_ERROR, "request_too_large");
    EXPECT(m, r, 401, "", AERR("authentication_error", "invalid x-api-key"), LM_FATAL, "auth");
    EXPECT(m, r, 403, "", AERR("permission_error", "no"), LM_FATAL, "auth");
    EXPECT(m, r, 404, "", AERR("not_found_error", "model: claude-9"), LM_FATAL, "unknown_model");
    EXPECT(m, r, 500, "", AERR("api_error", "Internal server error"), LM_RETRY, "server_error");
    EXPECT(m, r, 502, "", "bad gateway", LM_RETRY, NULL);
    EXPECT(m, r, 503, "", AERR("api_error", "Service unavailable"), LM_RETRY, NULL);
    EXPECT(m, r, 500, "x-should-retry: false\r\n", AERR("api_error", "no"), LM_ROW_ERROR, NULL);
    EXPECT(m, r, 0, "", "Connection reset by peer", LM_RETRY, "network");
    EXPECT(m, NULL, 200, "", "{\"data\":[],\"has_more\":false}", LM_OK, NULL);
    const char *odd[] = { "", "{}", "null", "{\"error\":null}", "{\"type\":\"error\"}", "{\"content\":[null,{},{\"type\":5}]}",
                          "{\"content\":[{\"type\":\"tool_use\",\"input\":null}],\"stop_reason\":\"tool_use\"}", "[1]" };
    LmRequest *s = chat(NULL, "hi", SCHEMA);
    for (size_t i = 0; i < sizeof odd / sizeof odd[0]; i++) {
        long st[] = { 200, 400, 429, 529 };
        for (size_t k = 0; k < 4; k++) {
            PARSE(m, r, st[k], "", odd[i], &a);
            lm_answer_clear(&a);
            PARSE(m, s, st[k], "", odd[i], &a);
            CHECK(st[k] != 200 || a.outcome != LM_OK, "structured from '%s' should not be ok", odd[i]);
            lm_answer_clear(&a);
        }
    }
#undef AERR
    lm_request_free(s);
    lm_request_free(r);
    lm_model_free(m);
}

/* ---- Gemini and Vertex ---- */

static void t_gemini_build(void)
{
    LmModel *m = model(PROV_GEMINI, "https://generativelanguage.googleapis.com", "gemini-2.5-flash");
    LmRequest *r = chat("be brief", "hi", SCHEMA);
    r->temperature = 0.5;
    r->max_output_tokens = 256;
    HttpRequest h;
    json_t *b = BUILD(m, r, &h);
    CHECK(!strcmp(h.url, "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash:generateContent"), "%s", h.url);
    CHECK(has(header(&h, "x-goog-api-key"), SECRET) && !header(&h, "Authorization"), "key header");
    CHECK(!strcmp(S(jstr(json_array_get(json_object_get(json_object_get(b, "systemInstruction"), "parts"), 0), "text")), "be brief"),
          "systemInstruction");
    json_t *c0 = json_array_get(json_object_get(b, "contents"), 0);
    CHECK(!strcmp(S(jstr(c0, "role")), "user") && !strcmp(S(jstr(json_array_get(json_object_get(c0, "parts"), 0), "text")), "hi"),
          "contents");
    json_t *gc = json_object_get(b, "generationConfig");
    CHECK(jnum(gc, "temperature", -1) == 0.5 && json_integer_value(json_object_get(gc, "maxOutputTokens")) == 256, "config");
    CHECK(!strcmp(S(jstr(gc, "responseMimeType")), "application/json") && json_equal(json_object_get(gc, "responseJsonSchema"), r->schema),
          "responseJsonSchema");
    json_decref(b);
    http_request_free(&h);
    lm_request_free(r);
    r = chat(NULL, "hi", NULL);
    free(m->model_name);
    m->model_name = xstrdup("models/gemini-2.5-pro");
    b = BUILD(m, r, &h);
    CHECK(has(h.url, "/v1beta/models/gemini-2.5-pro:generateContent") && !has(h.url, "models/models"), "%s", h.url);
    CHECK(!json_object_get(b, "generationConfig") && !json_object_get(b, "systemInstruction"), "nothing optional sent");
    json_decref(b);
    http_request_free(&h);
    lm_request_free(r);
    /* embeddings */
    free(m->model_name);
    m->model_name = xstrdup("gemini-embedding-001");
    m->dimensions = 768;
    r = embed(3);
    b = BUILD(m, r, &h);
    CHECK(has(h.url, "/v1beta/models/gemini-embedding-001:batchEmbedContents"), "%s", h.url);
    json_t *reqs = json_object_get(b, "requests");
    json_t *q2 = json_array_get(reqs, 2);
    CHECK(json_array_size(reqs) == 3 && !strcmp(S(jstr(q2, "model")), "models/gemini-embedding-001"), "requests");
    CHECK(!strcmp(S(jstr(json_array_get(json_object_get(json_object_get(q2, "content"), "parts"), 0), "text")), "text 2"), "text");
    CHECK(json_integer_value(json_object_get(q2, "outputDimensionality")) == 768, "outputDimensionality");
    json_decref(b);
    http_request_free(&h);
    lm_request_free(r);
    r = embed(101);
    char *err = NULL;
    CHECK(provider_build(m, r, &h, &err) == -1 && has(err, "100"), "over 100: %s", S(err));
    free(err);
    lm_request_free(r);
    BUILD(m, NULL, &h);
    CHECK(!strcmp(h.method, "GET") && !strcmp(h.url, "https://generativelanguage.googleapis.com/v1beta/models"), "key check %s", h.url);
    http_request_free(&h);
    lm_model_free(m);
}

static void t_vertex_build(void)
{
    LmModel *m = model(PROV_VERTEX, "https://us-central1-aiplatform.googleapis.com", "gemini-2.5-flash");
    free(m->api_key);
    m->api_key = NULL;
    LmRequest *r = chat(NULL, "hi", SCHEMA);
    HttpRequest h;
    char *err = NULL;
    CHECK(provider_build(m, r, &h, &err) == -1 && has(err, "project"), "needs a project: %s", S(err));
    free(err);
    m->project = xstrdup("proj");
    m->location = xstrdup("europe-west4");
    CHECK(provider_build(m, r, &h, &err) == -1 && has(err, "GOOGLE_APPLICATION_CREDENTIALS"), "needs a token: %s", S(err));
    CHECK(h.url == NULL && h.nheaders == 0, "a failed build leaves nothing");
    free(err);
    m->access_token = xstrdup(SECRET);
    json_t *b = BUILD(m, r, &h);
    CHECK(!strcmp(h.url, "https://us-central1-aiplatform.googleapis.com/v1/projects/proj/locations/europe-west4/publishers/"
                         "google/models/gemini-2.5-flash:generateContent"), "%s", h.url);
    CHECK(has(header(&h, "Authorization"), "Bearer " SECRET) && !header(&h, "x-goog-api-key"), "bearer");
    CHECK(json_object_get(json_object_get(b, "generationConfig"), "responseJsonSchema") != NULL, "schema");
    json_decref(b);
    http_request_free(&h);
    BUILD(m, NULL, &h);
    CHECK(!strcmp(h.method, "GET") && has(h.url, "/publishers/google/models/gemini-2.5-flash") && !has(h.url, ":generateContent"),
          "key check %s", h.url);
    http_request_free(&h);
    lm_request_free(r);
    /* vertex_access_token: GOOGLE_ACCESS_TOKEN as it is; no credentials: a clear error */
    free(m->access_token);
    m->access_token = NULL;
    m->api_key = xstrdup(SECRET);
    char *tok = NULL;
    CHECK(vertex_access_token(m, &tok, &err) == 0 && tok && !strcmp(tok, SECRET) && !strcmp(S(m->access_token), SECRET),
          "env token: %s", S(err));
    free(tok);
    free(err);
    free(m->api_key);
    m->api_key = NULL;
    free(m->access_token);
    m->access_token = NULL;
    const char *old = getenv("GOOGLE_APPLICATION_CREDENTIALS");
    char *saved = old ? xstrdup(old) : NULL;
    unsetenv("GOOGLE_APPLICATION_CREDENTIALS");
    CHECK(vertex_access_token(m, &tok, &err) == -1 && has(err, "GOOGLE_APPLICATION_CREDENTIALS") && !tok, "no creds: %s", S(err));
    free(err);
    setenv("GOOGLE_APPLICATION_CREDENTIALS", "/nonexistent/sa.json", 1);
    CHECK(vertex_access_token(m, &tok, &err) == -1 && has(err, "/nonexistent/sa.json"), "bad file: %s", S(err));
    free(err);
    char path[] = "/tmp/provider_test_saXXXXXX";
    int fd = mkstemp(path);
    if (fd >= 0) {
        FILE *f = fdopen(fd, "w");
        fputs("{\"type\":\"service_account\",\"client_email\":\"a@b\",\"private_key\":\"not a key\",\"token_uri\":"
              "\"http://127.0.0.1:1/token\"}", f);
        fclose(f);
        setenv("GOOGLE_APPLICATION_CREDENTIALS", path, 1);
        CHECK(vertex_access_token(m, &tok, &err) == -1 && has(err, "private_key"), "bad key: %s", S(err));
        free(err);
        remove(path);
    }
    if (saved) setenv("GOOGLE_APPLICATION_CREDENTIALS", saved, 1);
    else unsetenv("GOOGLE_APPLICATION_CREDENTIALS");
    free(saved);
    /* a cached token that is still valid is kept without any I/O */
    m->access_token = xstrdup("cached");
    m->token_expiry = now_unix() + 3000;
    CHECK(vertex_access_token(m, &tok, &err) == 0 && !strcmp(S(tok), "cached"), "cached");
    free(tok);
    lm_model_free(m);
}

#define GEM_OK(parts, finish) "{\"candidates\":[{\"content\":{\"parts\":" parts ",\"role\":\"model\"},\"finishReason\":\"" \
    finish "\",\"index\":0}],\"usageMetadata\":{\"promptTokenCount\":12,\"candidatesTokenCount\":7,\"thoughtsTokenCount\":30," \
    "\"cachedContentTokenCount\":4,\"totalTokenCount\":49}}"

static void t_gemini_parse(void)
{
    LmModel *m = model(PROV_GEMINI, NULL, "gemini-2.5-flash");
    LmRequest *t = chat(NULL, "hi", NULL), *s = chat(NULL, "hi", SCHEMA);
    LmAnswer a;
    PARSE(m, t, 200, "", GEM_OK("[{\"text\":\"thinking...\",\"thought\":true},{\"text\":\"Hello \"},{\"text\":\"there\"}]", "STOP"), &a);
    CHECK(a.outcome == LM_OK && !strcmp(S(a.text), "Hello there"), "text '%s'", S(a.text));
    CHECK(a.input_tokens == 12 && a.output_tokens == 37 && a.reasoning_tokens == 30 && a.cached_input_tokens == 4, "usage");
    lm_answer_clear(&a);
    PARSE(m, s, 200, "", GEM_OK("[{\"text\":\"{\\\"topic\\\":\\\"x\\\",\\\"urgent\\\":true}\"}]", "STOP"), &a);
    CHECK(a.outcome == LM_OK && json_is_true(json_object_get(a.json, "urgent")), "structured");
    lm_answer_clear(&a);
    EXPECT(m, s, 200, "", GEM_OK("[{\"text\":\"{\\\"topic\\\"\"}]", "STOP"), LM_ROW_ERROR, "invalid_json");
    EXPECT(m, s, 200, "", GEM_OK("[{\"text\":\"{\\\"topic\\\"\"}]", "MAX_TOKENS"), LM_ROW_ERROR, "max_tokens");
    EXPECT(m, t, 200, "", GEM_OK("[{\"text\":\"cut\"}]", "MAX_TOKENS"), LM_OK, NULL);
    const char *filters[] = { "SAFETY", "RECITATION", "PROHIBITED_CONTENT", "BLOCKLIST", "SPII" };
    for (size_t i = 0; i < sizeof filters / sizeof filters[0]; i++) {
        char body[200];
        snprintf(body, sizeof body, "{\"candidates\":[{\"finishReason\":\"%s\",\"index\":0}]}", filters[i]);
        EXPECT(m, s, 200, "", body, LM_ROW_ERROR, "content_filter");
    }
    EXPECT(m, t, 200, "", "{\"promptFeedback\":{\"blockReason\":\"SAFETY\"},\"usageMetadata\":{\"promptTokenCount\":5}}",
           LM_ROW_ERROR, "content_filter");
    PARSE(m, t, 200, "", "{\"candidates\":[{\"finishReason\":\"STOP\",\"index\":0}]}", &a);
    CHECK(a.outcome == LM_OK && a.text && !*a.text, "no content: empty text");
    lm_answer_clear(&a);
    EXPECT(m, s, 200, "", "{\"candidates\":[{\"finishReason\":\"STOP\"}]}", LM_ROW_ERROR, "invalid_json");
    EXPECT(m, t, 200, "", "{}", LM_RETRY, "bad_response");
    const char *odd[] = { "", "null", "[]", "{\"candidates\":null}", "{\"candidates\":[null]}", "{\"candidates\":[{\"content\":null}]}",
                          "{\"candidates\":[{\"content\":{\"parts\":[null,5,{\"text\":null}]}}]}", "{\"error\":{}}",
                          "{\"error\":{\"details\":[null,{\"@type\":5}]}}", "{\"embeddings\":[{\"values\":[]}]}" };
    LmRequest *e = embed(1);
    for (size_t i = 0; i < sizeof odd / sizeof odd[0]; i++) {
        long st[] = { 200, 400, 429, 503 };
        for (size_t k = 0; k < 4; k++) {
            LmRequest *reqs[] = { t, s, e, NULL };
            for (size_t q = 0; q < 4; q++) {
                PARSE(m, reqs[q], st[k], "", odd[i], &a);
                lm_answer_clear(&a);
            }
        }
    }
    PARSE(m, e, 200, "", "{\"embeddings\":[{\"values\":[0.5,-0.5]}]}", &a);
    CHECK(a.outcome == LM_OK && a.nvec == 1 && a.dim == 2 && a.vectors[1] == -0.5f, "embedding");
    lm_answer_clear(&a);
    EXPECT(m, e, 200, "", "{\"embeddings\":[{\"values\":[1]},{\"values\":[1]}]}", LM_RETRY, "bad_response");
    lm_request_free(e);
    lm_request_free(t);
    lm_request_free(s);
    lm_model_free(m);
}

static void t_gemini_errors(void)
{
    LmModel *m = model(PROV_GEMINI, NULL, "gemini-2.5-flash");
    LmRequest *r = chat(NULL, "hi", NULL);
    LmAnswer a;
#define GERR(code, status, msg, details) "{\"error\":{\"code\":" #code ",\"message\":\"" msg "\",\"status\":\"" status "\"" \
    details "}}"
    PARSE(m, r, 429, "", GERR(429, "RESOURCE_EXHAUSTED", "You exceeded your current quota. Please retry in 55.57s.",
          ",\"details\":[{\"@type\":\"type.googleapis.com/google.rpc.QuotaFailure\",\"violations\":[{\"quotaMetric\":\"x\","
          "\"quotaId\":\"GenerateRequestsPerMinutePerProjectPerModel-FreeTier\"}]},{\"@type\":\"type.googleapis.com/google.rpc."
          "RetryInfo\",\"retryDelay\":\"55.57s\"}]"), &a);
    CHECK(a.outcome == LM_RATE_LIMITED && near(a.retry_after_s, 55.57, 1e-9), "RetryInfo %g", a.retry_after_s);
    lm_answer_clear(&a);
    PARSE(m, r, 429, "", GERR(429, "RESOURCE_EXHAUSTED", "Please retry in 47s.", ""), &a);
    CHECK(a.outcome == LM_RATE_LIMITED && a.retry_after_s == 47, "wait from the message %g", a.retry_after_s);
    lm_answer_clear(&a);
    PARSE(m, r, 429, "", GERR(429, "RESOURCE_EXHAUSTED", "You exceeded your current quota",
          ",\"details\":[{\"@type\":\"type.googleapis.com/google.rpc.QuotaFailure\",\"violations\":[{\"quotaId\":"
          "\"GenerateRequestsPerDayPerProjectPerModel-FreeTier\"}]},{\"@type\":\"type.googleapis.com/google.rpc.RetryInfo\","
          "\"retryDelay\":\"40000s\"}]"), &a);
    CHECK(a.outcome == LM_FATAL && !strcmp(S(a.error_kind), "quota") && has(a.error_message, "GEMINI_API_KEY"), "per day: %s",
          S(a.error_message));
    lm_answer_clear(&a);
    PARSE(m, r, 400, "", GERR(400, "INVALID_ARGUMENT", "API key not valid. Please pass a valid API key.",
          ",\"details\":[{\"@type\":\"type.googleapis.com/google.rpc.ErrorInfo\",\"reason\":\"API_KEY_INVALID\",\"domain\":"
          "\"googleapis.com\"}]"), &a);
    CHECK(a.outcome == LM_FATAL && !strcmp(S(a.error_kind), "auth") && has(a.error_message, "GEMINI_API_KEY"), "bad key: %s",
          S(a.error_message));
    lm_answer_clear(&a);
    EXPECT(m, r, 400, "", GERR(400, "INVALID_ARGUMENT", "The input token count (2000000) exceeds the maximum number of tokens "
           "allowed (1048576).", ""), LM_ROW_ERROR, "context_window");
    EXPECT(m, r, 400, "", GERR(400, "INVALID_ARGUMENT", "Invalid JSON payload received.", ""), LM_ROW_ERROR, "bad_request");
    EXPECT(m, r, 400, "", GERR(400, "FAILED_PRECONDITION", "User location is not supported for the API use.", ""), LM_FATAL, NULL);
    EXPECT(m, r, 401, "", GERR(401, "UNAUTHENTICATED", "Request is missing required authentication credential.", ""), LM_FATAL, "auth");
    EXPECT(m, r, 403, "", GERR(403, "PERMISSION_DENIED", "Permission denied.", ""), LM_FATAL, "auth");
    EXPECT(m, r, 404, "", GERR(404, "NOT_FOUND", "models/gemini-9 is not found for API version v1beta", ""), LM_FATAL, "unknown_model");
    EXPECT(m, r, 500, "", GERR(500, "INTERNAL", "An internal error has occurred.", ""), LM_RETRY, "server_error");
    EXPECT(m, r, 503, "", GERR(503, "UNAVAILABLE", "The model is overloaded.", ""), LM_RETRY, "overloaded");
    EXPECT(m, r, 504, "", GERR(504, "DEADLINE_EXCEEDED", "Deadline exceeded.", ""), LM_RETRY, "timeout");
    EXPECT(m, r, 502, "", "<html>bad gateway</html>", LM_RETRY, NULL);
    EXPECT(m, r, 200, "", GERR(503, "UNAVAILABLE", "in a 200", ""), LM_RETRY, NULL);
    EXPECT(m, r, 0, "", "Failed to connect to 127.0.0.1 port 1: Connection refused", LM_RETRY, "network");
    EXPECT(m, NULL, 200, "", "{\"models\":[]}", LM_OK, NULL);
#undef GERR
    lm_request_free(r);
    lm_model_free(m);
}

/* ---- images (parse_pdf's describe_images) ---- */

static LmRequest *with_images(void)
{
    LmRequest *r = chat("Describe.", "Image 1 and image 2", NULL);
    r->nimages = 2;
    r->images = xcalloc(2, sizeof *r->images);
    r->images[0].mime_type = xstrdup("image/png");
    r->images[0].base64 = xstrdup("iVBORw0KGgo=");
    r->images[1].mime_type = xstrdup("image/jpeg");
    r->images[1].base64 = xstrdup("/9j/4AAQ");
    return r;
}

/* Each provider's wire format for base64 images; a request without images keeps its plain shape. */
static void t_image_parts(void)
{
    LmRequest *r = with_images();
    HttpRequest h;
    LmModel *m = model(PROV_OPENAI, NULL, "gpt-4o-mini");
    json_t *j = BUILD(m, r, &h);
    json_t *c = json_object_get(json_array_get(json_object_get(j, "messages"), 1), "content");
    CHECK(json_array_size(c) == 3, "openai: text + 2 image parts");
    CHECK(!strcmp(S(json_string_value(json_object_get(json_array_get(c, 0), "text"))), "Image 1 and image 2"), "openai text part");
    CHECK(!strcmp(S(json_string_value(json_object_get(json_array_get(c, 1), "type"))), "image_url"), "openai image part type");
    CHECK(!strcmp(S(json_string_value(json_object_get(json_object_get(json_array_get(c, 2), "image_url"), "url"))),
                  "data:image/jpeg;base64,/9j/4AAQ"), "openai data URL");
    json_decref(j); http_request_free(&h); lm_model_free(m);

    m = model(PROV_ANTHROPIC, NULL, "claude-haiku-4-5");
    j = BUILD(m, r, &h);
    c = json_object_get(json_array_get(json_object_get(j, "messages"), 0), "content");
    json_t *src = json_object_get(json_array_get(c, 0), "source");
    CHECK(json_array_size(c) == 3, "anthropic: 2 image blocks + text");
    CHECK(!strcmp(S(json_string_value(json_object_get(src, "type"))), "base64") &&
          !strcmp(S(json_string_value(json_object_get(src, "media_type"))), "image/png") &&
          !strcmp(S(json_string_value(json_object_get(src, "data"))), "iVBORw0KGgo="), "anthropic image source");
    CHECK(!strcmp(S(json_string_value(json_object_get(json_array_get(c, 2), "type"))), "text"), "anthropic text block last");
    json_decref(j); http_request_free(&h); lm_model_free(m);

    m = model(PROV_GEMINI, NULL, "gemini-2.5-flash");
    j = BUILD(m, r, &h);
    c = json_object_get(json_array_get(json_object_get(j, "contents"), 0), "parts");
    json_t *inl = json_object_get(json_array_get(c, 2), "inlineData");
    CHECK(json_array_size(c) == 3 && json_object_get(json_array_get(c, 0), "text"), "gemini: text + 2 inlineData parts");
    CHECK(!strcmp(S(json_string_value(json_object_get(inl, "mimeType"))), "image/jpeg") &&
          !strcmp(S(json_string_value(json_object_get(inl, "data"))), "/9j/4AAQ"), "gemini inlineData");
    json_decref(j); http_request_free(&h); lm_model_free(m);
    lm_request_free(r);

    r = chat(NULL, "plain", NULL);
    m = model(PROV_ANTHROPIC, NULL, "claude-haiku-4-5");
    j = BUILD(m, r, &h);
    CHECK(json_is_string(json_object_get(json_array_get(json_object_get(j, "messages"), 0), "content")), "anthropic: no images, string content");
    json_decref(j); http_request_free(&h); lm_model_free(m);
    lm_request_free(r);
}

/* ---- Cohere ---- */

static void t_cohere(void)
{
    LmModel *m = model(PROV_COHERE, NULL, "embed-v4.0");
    m->dimensions = 512;
    LmRequest *r = embed(2);
    HttpRequest h;
    json_t *b = BUILD(m, r, &h);
    CHECK(!strcmp(h.url, "https://api.cohere.com/v2/embed"), "%s", h.url);
    CHECK(has(header(&h, "Authorization"), "Bearer " SECRET), "auth");
    CHECK(json_array_size(json_object_get(b, "texts")) == 2 && !strcmp(S(jstr(b, "input_type")), "search_document") &&
          !strcmp(S(json_string_value(json_array_get(json_object_get(b, "embedding_types"), 0))), "float") &&
          json_integer_value(json_object_get(b, "output_dimension")) == 512, "body %s", h.body);
    json_decref(b);
    http_request_free(&h);
    LmAnswer a;
    PARSE(m, r, 200, "", "{\"id\":\"x\",\"embeddings\":{\"float\":[[1,2],[3,4]]},\"texts\":[\"a\",\"b\"],\"meta\":{\"billed_units\":"
                         "{\"input_tokens\":6}}}", &a);
    CHECK(a.outcome == LM_OK && a.nvec == 2 && a.dim == 2 && a.vectors[3] == 4 && a.input_tokens == 6, "vectors");
    lm_answer_clear(&a);
    EXPECT(m, r, 200, "", "{\"embeddings\":{\"float\":[[1,2]]}}", LM_RETRY, "bad_response");
    EXPECT(m, r, 429, "", "{\"message\":\"You are using a Trial key, which is limited to 1000 API calls / month.\"}", LM_FATAL, "quota");
    EXPECT(m, r, 429, "retry-after: 1\r\n", "{\"message\":\"too many requests\"}", LM_RATE_LIMITED, "rate_limit");
    EXPECT(m, r, 401, "", "{\"message\":\"invalid api token\"}", LM_FATAL, "auth");
    EXPECT(m, r, 404, "", "{\"message\":\"model not found\"}", LM_FATAL, "unknown_model");
    EXPECT(m, r, 500, "", "{\"message\":\"internal\"}", LM_RETRY, NULL);
    EXPECT(m, r, 400, "", "{\"message\":\"invalid request\"}", LM_ROW_ERROR, "bad_request");
    EXPECT(m, r, 200, "", "", LM_RETRY, "bad_response");
    lm_request_free(r);
    r = chat(NULL, "hi", NULL);
    char *err = NULL;
    CHECK(provider_build(m, r, &h, &err) == -1 && err, "chat is refused");
    free(err);
    lm_request_free(r);
    r = embed(2);
    /* a trial key's per-minute limit is a rate limit, not the monthly quota */
    EXPECT(m, r, 429, "", "{\"message\":\"You are using a Trial key, which is limited to 100 API calls / minute.\"}", LM_RATE_LIMITED, "rate_limit");
    /* the key check: Cohere's own POST /v1/check-api-key, passing only on {"valid": true} */
    b = BUILD(m, NULL, &h);
    CHECK(!strcmp(h.method, "POST") && !strcmp(h.url, "https://api.cohere.com/v1/check-api-key") && json_is_object(b), "key check %s %s", h.method, h.url);
    json_decref(b);
    CHECK(has(header(&h, "Authorization"), "Bearer " SECRET), "key check auth");
    http_request_free(&h);
    EXPECT(m, NULL, 200, "", "{\"valid\":true,\"organization_id\":\"o\"}", LM_OK, NULL);
    EXPECT(m, NULL, 200, "", "{\"valid\":false}", LM_FATAL, "key_invalid");
    EXPECT(m, NULL, 200, "", "{\"object\":\"list\",\"data\":[]}", LM_FATAL, "not_cohere");   /* an OpenAI listing */
    EXPECT(m, NULL, 200, "", "<html>hello</html>", LM_FATAL, "not_cohere");
    EXPECT(m, NULL, 404, "", "{\"error\":{\"message\":\"Invalid URL\"}}", LM_FATAL, "not_cohere");
    EXPECT(m, NULL, 401, "", "{\"message\":\"invalid api token\"}", LM_FATAL, "auth");
    PARSE(m, NULL, 404, "", "{}", &a);
    CHECK(has(a.error_message, "https://api.cohere.com does not speak Cohere's API") && has(a.error_message, "COHERE_BASE_URL"),
          "404 message: %s", S(a.error_message));
    lm_answer_clear(&a);
    lm_request_free(r);
    lm_model_free(m);
}

int main(void)
{
    run("durations", t_durations);
    run("times", t_times);
    run("headers", t_headers);
    run("try_again_text", t_try_again);
    run("lifetimes", t_lifetimes);
    run("key_scrubbed", t_key_scrubbed);
    run("openai_build_text", t_openai_build_text);
    run("build_utf8", t_build_utf8);
    run("openai_build_structured", t_openai_build_structured);
    run("openai_build_embed", t_openai_build_embed);
    run("openai_build_key_check", t_openai_build_key_check);
    run("openai_parse_ok", t_openai_parse_ok);
    run("openai_parse_row_errors", t_openai_parse_row_errors);
    run("openai_parse_rate_limits", t_openai_parse_rate_limits);
    run("openai_parse_fatal_and_retry", t_openai_parse_fatal_and_retry);
    run("openai_parse_missing_fields", t_openai_parse_missing_fields);
    run("openai_parse_embed", t_openai_parse_embed);
    run("openrouter_build", t_openrouter_build);
    run("openrouter_parse", t_openrouter_parse);
    run("anthropic_build", t_anthropic_build);
    run("anthropic_parse", t_anthropic_parse);
    run("anthropic_errors", t_anthropic_errors);
    run("gemini_build", t_gemini_build);
    run("vertex_build", t_vertex_build);
    run("gemini_parse", t_gemini_parse);
    run("gemini_errors", t_gemini_errors);
    run("cohere", t_cohere);
    run("image_parts", t_image_parts);
    return check_summary();
}
