/* confidence_test.c: unit tests of answer confidences (confidence.c, semantic.h) and of the token
 * log probabilities the adapters ask for and read (OpenAI logprobs, Gemini responseLogprobs;
 * none from Anthropic). Prints `ok NAME` or `FAIL NAME: reason` per test and a closing
 * `N passed, M failed`; exits nonzero on failure. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>
#include "provider.h"
#include "semantic.h"
#include "check.h"

static int near(double a, double b) { return fabs(a - b) < 1e-9; }

/* An answer made of tokens toks[0..n) with log probabilities lps. */
static void answer_of(LmAnswer *a, const char *const *toks, const double *lps, int n)
{
    memset(a, 0, sizeof *a);
    for (int i = 0; i < n; i++) lm_answer_add_token(a, toks[i], lps[i]);
}

static void t_span(void)
{
    size_t s = 0, e = 0;
    const char *j = "{\"answers\":[{\"index\":0,\"label\":\"very good\"},{\"index\":1,\"answer\":true}]}";
    CHECK(json_value_span(j, "answers/0/label", &s, &e) == 0 && !strncmp(j + s, "very good", e - s) && e - s == 9, "label span %zu %zu", s, e);
    CHECK(json_value_span(j, "answers/1/answer", &s, &e) == 0 && !strncmp(j + s, "true", e - s) && e - s == 4, "bool span");
    CHECK(json_value_span(j, "answers/2/answer", &s, &e) == -1, "a missing element is not found");
    CHECK(json_value_span("```json\n{ \"label\" : \"a\\\"b\" }", "label", &s, &e) == 0 && e - s == 4, "escapes, spaces and a fence");
    CHECK(json_value_span("{\"label\":", "label", &s, &e) == -1, "a cut answer is not found");
}

static void t_boolean(void)
{
    /* {"answer":true}: the value token's probability, the punctuation's (log 0) aside */
    const char *toks[] = { "{\"", "answer", "\":", "true", "}" };
    double lps[] = { 0, -0.01, 0, log(0.8), 0 };
    LmAnswer a;
    answer_of(&a, toks, lps, 5);
    CHECK(near(lm_answer_confidence(&a, "answer"), 0.8), "got %g", lm_answer_confidence(&a, "answer"));
    CHECK(isnan(lm_answer_confidence(&a, "label")), "no such member: NAN");
    lm_answer_clear(&a);
    CHECK(isnan(lm_answer_confidence(&a, "answer")), "no tokens: NAN, never a number");
}

static void t_label(void)
{
    /* {"label":"very positive"}: the product of the tokens that spell the label; a token that also
     * holds the opening quote counts whole */
    const char *toks[] = { "{\"label\":\"", "very", " positive", "\"}" };
    double lps[] = { 0, log(0.5), log(0.9), 0 };
    LmAnswer a;
    answer_of(&a, toks, lps, 4);
    CHECK(near(lm_answer_confidence(&a, "label"), 0.45), "got %g", lm_answer_confidence(&a, "label"));
    lm_answer_clear(&a);
    const char *t2[] = { "{\"label\":\"sp", "am\"}" };
    double l2[] = { log(0.7), log(0.5) };
    answer_of(&a, t2, l2, 2);
    CHECK(near(lm_answer_confidence(&a, "label"), 0.35), "straddling tokens: got %g", lm_answer_confidence(&a, "label"));
    lm_answer_clear(&a);
}

static void t_packed_part(void)
{
    /* each packed element's own value tokens; the part's synthetic tokens keep that probability */
    const char *toks[] = { "{\"answers\":[{\"index\":0,\"label\":\"", "a", "\"},{\"index\":1,\"label\":\"", "b", "\"}]}" };
    double lps[] = { 0, log(0.6), 0, log(0.3), 0 };
    LmAnswer a;
    answer_of(&a, toks, lps, 5);
    double p0 = lm_answer_confidence(&a, "answers/0/label"), p1 = lm_answer_confidence(&a, "answers/1/label");
    CHECK(near(p0, 0.6) && near(p1, 0.3), "got %g %g", p0, p1);
    lm_answer_clear(&a);
    LmAnswer part;
    memset(&part, 0, sizeof part);
    part.text = xstrdup("{\"label\":\"b\"}");
    lm_answer_set_value_prob(&part, "label", p1);
    CHECK(part.ntokens == 3 && near(lm_answer_confidence(&part, "label"), 0.3), "part: %d tokens, %g", part.ntokens,
          lm_answer_confidence(&part, "label"));
    lm_answer_clear(&part);
}

static LmModel *model(ProviderKind p, const char *name, int logprobs)
{
    static const char *const names[] = { "openai", "anthropic", "gemini", "vertex", "openrouter", "cohere" };
    LmModel *m = xcalloc(1, sizeof *m);
    m->alias = xstrdup("m");
    m->provider = p;
    m->provider_name = names[p];
    m->model_name = xstrdup(name);
    m->api_key = xstrdup("sk-test");
    m->temperature = NAN;
    m->logprobs = logprobs;
    return m;
}

static LmRequest *chat(int logprobs)
{
    LmRequest *r = lm_request_new(LM_CHAT);
    r->user = xstrdup("hi");
    r->temperature = NAN;
    r->schema = json_pack("{s:s, s:{s:{s:s}}}", "type", "object", "properties", "answer", "type", "boolean");
    r->logprobs = logprobs;
    return r;
}

static json_t *body_of(const LmModel *m, const LmRequest *r)
{
    HttpRequest h;
    char *err = NULL;
    if (provider_build(m, r, &h, &err)) { free(err); return NULL; }
    json_t *j = json_loads(h.body, 0, NULL);
    http_request_free(&h);
    return j;
}

static void t_openai_wire(void)
{
    LmModel *m = model(PROV_OPENAI, "gpt-4o-mini", 1);
    LmRequest *r = chat(1), *r0 = chat(0);
    json_t *b = body_of(m, r), *b0 = body_of(m, r0);
    CHECK(json_is_true(json_object_get(b, "logprobs")), "logprobs: true is sent when asked");
    CHECK(!json_object_get(b0, "logprobs"), "not sent unless asked");
    const char *ans = "{\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":\"{\\\"answer\\\":false}\"},"
                      "\"logprobs\":{\"content\":[{\"token\":\"{\\\"answer\\\":\",\"logprob\":0.0,\"bytes\":[1],\"top_logprobs\":[]},"
                      "{\"token\":\"false\",\"logprob\":-0.2231435513,\"bytes\":[102],\"top_logprobs\":[]},"
                      "{\"token\":\"}\",\"logprob\":0.0,\"bytes\":[125],\"top_logprobs\":[]}],\"refusal\":null},"
                      "\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":3}}";
    LmAnswer a;
    provider_parse(m, r, 200, "", ans, strlen(ans), &a);
    CHECK(a.outcome == LM_OK && a.ntokens == 3, "outcome %d, %d tokens", a.outcome, a.ntokens);
    CHECK(near(lm_answer_confidence(&a, "answer"), 0.8) || fabs(lm_answer_confidence(&a, "answer") - 0.8) < 1e-6, "p %g",
          lm_answer_confidence(&a, "answer"));
    lm_answer_clear(&a);
    json_decref(b);
    json_decref(b0);
    lm_request_free(r);
    lm_request_free(r0);
    lm_model_free(m);
    /* a model without them (o-series, a reasoning model) is never asked */
    m = model(PROV_OPENAI, "o4-mini", 0);
    r = chat(1);
    b = body_of(m, r);
    CHECK(b && !json_object_get(b, "logprobs"), "logprobs sent to a model without them");
    json_decref(b);
    lm_request_free(r);
    lm_model_free(m);
}

static void t_gemini_wire(void)
{
    LmModel *m = model(PROV_GEMINI, "gemini-2.0-flash", 1);
    LmRequest *r = chat(1);
    json_t *b = body_of(m, r);
    CHECK(json_is_true(json_object_get(json_object_get(b, "generationConfig"), "responseLogprobs")), "responseLogprobs: true");
    const char *ans = "{\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"{\\\"answer\\\":true}\"}],\"role\":\"model\"},"
                      "\"finishReason\":\"STOP\",\"index\":0,\"avgLogprobs\":-0.1,"
                      "\"logprobsResult\":{\"chosenCandidates\":[{\"token\":\"{\\\"answer\\\":\",\"tokenId\":1,\"logProbability\":0},"
                      "{\"token\":\"true\",\"tokenId\":2,\"logProbability\":-0.5108256238},{\"token\":\"}\",\"tokenId\":3,\"logProbability\":0}]}}],"
                      "\"usageMetadata\":{\"promptTokenCount\":3,\"candidatesTokenCount\":3}}";
    LmAnswer a;
    provider_parse(m, r, 200, "", ans, strlen(ans), &a);
    double p = lm_answer_confidence(&a, "answer");
    CHECK(a.outcome == LM_OK && a.ntokens == 3 && fabs(p - 0.6) < 1e-6, "outcome %d, %d tokens, p %g", a.outcome, a.ntokens, p);
    lm_answer_clear(&a);
    json_decref(b);
    lm_request_free(r);
    lm_model_free(m);
}

static void t_anthropic_none(void)
{
    LmModel *m = model(PROV_ANTHROPIC, "claude-haiku-4-5", 0);
    LmRequest *r = chat(1);
    json_t *b = body_of(m, r);
    CHECK(b != NULL, "no body");
    char *s = json_dumps(b, 0);
    CHECK(s && !strstr(s, "logprob"), "Anthropic asked for log probabilities: %s", s ? s : "(null)");
    free(s);
    json_decref(b);
    lm_request_free(r);
    lm_model_free(m);
}

int main(void)
{
    run("json_value_span", t_span);
    run("boolean_confidence", t_boolean);
    run("label_confidence", t_label);
    run("packed_part_confidence", t_packed_part);
    run("openai_logprobs_wire", t_openai_wire);
    run("gemini_logprobs_wire", t_gemini_wire);
    run("anthropic_no_logprobs", t_anthropic_none);
    return check_summary();
}
