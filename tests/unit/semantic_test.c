/* semantic_test.c: unit tests of the semantic plumbing at its boundaries, with no provider and no
 * session: the SemOp descriptor table (the one place operator names live), the instructions each
 * operator's request carries, output estimates, request keys of the response cache (stable, per
 * model and body, never the API key), the settings (rt_set) and the statement counters
 * (metrics_add). Prints `ok NAME` or `FAIL NAME: reason` per test and `N passed, M failed`. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>
#include "semop.h"
#include "cache.h"
#include "metrics.h"
#include "rt.h"
#include "check.h"

static void t_table(void)
{
    static const struct { const char *name; SemOp op; int npos; int sends; int packable; } want[] = {
        { "extract", SEM_EXTRACT, 2, 1, 1 }, { "classify", SEM_CLASSIFY, 2, 1, 1 }, { "predicate", SEM_PREDICATE, 1, 1, 1 },
        { "map", SEM_MAP, 1, 1, 1 }, { "embed", SEM_EMBED, 1, 1, 0 }, { "similarity", SEM_SIMILARITY, 2, 0, 0 },
        { "parse_pdf", SEM_PARSE_PDF, 1, 2, 0 }, { "reduce", SEM_REDUCE, 2, 1, 0 },
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        const SemOpDesc *d = semop_lookup(want[i].name);
        CHECK(d && d->op == want[i].op, "%s: not found or wrong op", want[i].name);
        if (!d) return;
        CHECK(semop_desc(d->op) == d, "%s: semop_desc does not give the same descriptor", want[i].name);
        CHECK(d->npos == want[i].npos && d->sends == want[i].sends && d->packable == want[i].packable,
              "%s: npos %d sends %d packable %d", d->name, d->npos, d->sends, d->packable);
    }
    CHECK(semop_lookup("summarize") == NULL, "summarize is a prelude fn, not an operator");
    CHECK(semop_lookup("embed")->embedding == 1 && semop_lookup("map")->embedding == 0, "only embed uses an embedding model");
    /* completion lists the row-wise operators only (reduce is an aggregate) */
    int n = 0, has_reduce = 0;
    for (const char *const *p = semop_names(); *p; p++) { n++; has_reduce |= !strcmp(*p, "reduce"); }
    CHECK(n == 7 && !has_reduce, "semop_names: %d names, reduce %s", n, has_reduce ? "listed" : "not listed");
    /* the one list of reserved names */
    CHECK(semop_reserved("predicate") && semop_reserved("reduce") && semop_reserved("template") && semop_reserved("if"),
          "operators and special forms are reserved");
    CHECK(!semop_reserved("lower") && !semop_reserved("my_udf"), "other names are not reserved by semop");
}

/* An E_SEMANTIC expression of op with result type t (consumed). */
static Expr *sem_expr(SemOp op, Type *t)
{
    Expr *e = expr_new(E_SEMANTIC, t, NULL);
    e->sem = op;
    e->name = xstrdup(semop_desc(op)->name);
    return e;
}

static void t_instructions(void)
{
    char **labels = xcalloc(2, sizeof *labels);
    labels[0] = xstrdup("billing");
    labels[1] = xstrdup("api");
    Expr *e = sem_expr(SEM_CLASSIFY, type_enum_new(2, labels));
    LmRequest *r = lm_request_new(LM_CHAT);
    Buf sys;
    buf_init(&sys);
    semop_desc(SEM_CLASSIFY)->instruct(e, NULL, &sys, r);
    CHECK(sys.data && strstr(sys.data, "- billing") && strstr(sys.data, "- api"), "classify lists its labels: %s", sys.data ? sys.data : "");
    json_t *en = r->schema ? json_object_get(json_object_get(json_object_get(r->schema, "properties"), "label"), "enum") : NULL;
    CHECK(json_is_array(en) && json_array_size(en) == 2, "classify's schema enumerates the labels");
    CHECK(r->schema_name && !strcmp(r->schema_name, "classification"), "schema name");
    double out = semop_output_tokens(e, r);
    CHECK(out >= 4 && out <= 6, "classify's answer is a few tokens, estimated %.0f", out);
    buf_free(&sys);
    lm_request_free(r);
    expr_free(e);

    e = sem_expr(SEM_PREDICATE, type_bool());
    r = lm_request_new(LM_CHAT);
    buf_init(&sys);
    semop_desc(SEM_PREDICATE)->instruct(e, NULL, &sys, r);
    CHECK(r->schema && strstr(sys.data, "true"), "predicate asks for a boolean answer");
    CHECK(semop_output_tokens(e, r) == 4, "{\"answer\": false} is 4 tokens, estimated %.0f", semop_output_tokens(e, r));
    buf_free(&sys);
    lm_request_free(r);
    expr_free(e);

    /* map without schema: plain text, no schema; the estimate follows max_output_tokens */
    e = sem_expr(SEM_MAP, type_string());
    r = lm_request_new(LM_CHAT);
    buf_init(&sys);
    semop_desc(SEM_MAP)->instruct(e, NULL, &sys, r);
    CHECK(r->schema == NULL && strstr(sys.data, "without preamble"), "plain map has no schema");
    r->max_output_tokens = 50;
    CHECK(semop_output_tokens(e, r) == 50, "map's estimate is bounded by max_output_tokens: %.0f", semop_output_tokens(e, r));
    buf_free(&sys);
    lm_request_free(r);
    expr_free(e);
}

static LmModel *model(const char *name, const char *key)
{
    LmModel *m = xcalloc(1, sizeof *m);
    m->alias = xstrdup("m");
    m->provider = PROV_OPENAI;
    m->provider_name = "openai";
    m->model_name = xstrdup(name);
    m->base_url = xstrdup("http://127.0.0.1:9/v1");
    m->api_key = xstrdup(key);
    m->api_key_env = xstrdup("OPENAI_API_KEY");
    m->temperature = NAN;
    m->timeout_s = 60;
    m->price_in = m->price_out = m->price_cached_in = -1;
    return m;
}

static void t_request_keys(void)
{
    LmModel *a = model("gpt-4o-mini", "sk-secret-one"), *a2 = model("gpt-4o-mini", "sk-secret-two"), *b = model("gpt-4o", "sk-secret-one");
    LmRequest *r = lm_request_new(LM_CHAT);
    r->system = xstrdup("Decide.");
    r->user = xstrdup("is it about billing?");
    char k1[65], k2[65], k3[65], k4[65];
    char *msg = NULL;
    CHECK(cache_request_key(a, r, k1, &msg) == 0, "key: %s", msg ? msg : "");
    CHECK(cache_request_key(a, r, k2, &msg) == 0 && !strcmp(k1, k2), "the same request has the same key");
    CHECK(strlen(k1) == 64 && strspn(k1, "0123456789abcdef") == 64, "64 hex digits: %s", k1);
    CHECK(cache_request_key(a2, r, k3, &msg) == 0 && !strcmp(k1, k3), "the API key is not part of the key");
    CHECK(!strstr(k1, "secret"), "no key text in the key");
    CHECK(cache_request_key(b, r, k4, &msg) == 0 && strcmp(k1, k4), "another model, another key");
    free(r->user);
    r->user = xstrdup("is it about the api?");
    CHECK(cache_request_key(a, r, k4, &msg) == 0 && strcmp(k1, k4), "another prompt, another key");
    free(msg);
    lm_request_free(r);
    lm_model_free(a);
    lm_model_free(a2);
    lm_model_free(b);
}

static void t_settings(void)
{
    Runtime rt;
    memset(&rt, 0, sizeof rt);
    char *msg = NULL;
    CHECK(rt_set(&rt, "budget", v_float(0.25), &msg) == 0 && rt.budget == 0.25, "budget");
    CHECK(rt_set(&rt, "cache", v_cstring("off"), &msg) == 0 && rt.cache == 0, "cache off");
    CHECK(rt_set(&rt, "format", v_cstring("csv"), &msg) == 0 && rt.format == FMT_CSV, "format csv");
    CHECK(rt_set(&rt, "max_rows", v_int(-1), &msg) == -1 && msg && strstr(msg, "non-negative"), "max_rows -1 refused");
    free(msg);
    msg = NULL;
    CHECK(rt_set(&rt, "bugdet", v_int(1), &msg) == -1 && msg && strstr(msg, "did you mean 'budget'"), "a misspelt setting is named: %s", msg ? msg : "");
    free(msg);
}

static void t_metrics(void)
{
    fql_metrics m;
    memset(&m, 0, sizeof m);
    QueryMetric q;
    memset(&q, 0, sizeof q);
    q.requests = 3; q.cache_hits = 2; q.retries = 1; q.input_tokens = 100; q.output_tokens = 7; q.cost_usd = 0.5;
    metrics_add(&m, &q);
    metrics_add(&m, &q);
    CHECK(m.requests == 6 && m.cache_hits == 4 && m.retries == 2 && m.input_tokens == 200 && m.cost_usd == 1.0, "sums");
    q.cost_usd = -1;   /* a model with no price: the total becomes unknown, and stays so */
    metrics_add(&m, &q);
    q.cost_usd = 0.5;
    metrics_add(&m, &q);
    CHECK(m.cost_usd < 0, "an unknown part makes the cost unknown: %f", m.cost_usd);
}

int main(void)
{
    run("the SemOp descriptor table", t_table);
    run("the instructions and estimates of each operator", t_instructions);
    run("request keys of the response cache", t_request_keys);
    run("settings (rt_set)", t_settings);
    run("statement counters (metrics_add)", t_metrics);
    return check_summary();
}
