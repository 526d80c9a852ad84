/* sched_test.c: the scheduler against fql-sim over real HTTP (run by tests/runtime/sched.sh, which
 * starts the simulator and passes its URL). Each test configures the simulator (POST /sim/config
 * ?replace=1, /sim/reset), submits a few seconds of work, runs the scheduler and checks what a user
 * would: every request answered, the simulator's windows under the limits, the time against the
 * ideal (requests / rate), retries and failures counted, fatal errors stopping quickly with an
 * actionable message and no key in it. Prints `ok NAME` / `FAIL NAME: reason` per test and a last
 * line `N passed, M failed`; exits nonzero on failure.
 *
 * usage: sched_test SIM_URL [TEST...]
 */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <curl/curl.h>
#include <jansson.h>
#include "runtime.h"

static const char *sim;
static int npass, nfail, failed;
static char reason[2048];

#define CHECK(cond, ...) do { \
        if (!(cond) && !failed) { \
            int k_ = snprintf(reason, sizeof reason, "line %d: ", __LINE__); \
            snprintf(reason + k_, sizeof reason - (size_t)k_, __VA_ARGS__); \
            failed = 1; \
        } \
    } while (0)

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* ---- the simulator's control endpoints ---- */

static size_t collect(char *p, size_t size, size_t n, void *ud)
{
    buf_append(ud, p, size * n);
    return size * n;
}

/* GET (body NULL) or POST path; returns the parsed JSON answer (NULL on failure). */
static json_t *control(const char *path, const char *body)
{
    CURL *e = curl_easy_init();
    Buf b;
    buf_init(&b);
    char *url = xasprintf("%s%s", sim, path);
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(e, CURLOPT_TIMEOUT, 10L);
    if (body) curl_easy_setopt(e, CURLOPT_POSTFIELDS, body);
    CURLcode rc = curl_easy_perform(e);
    curl_easy_cleanup(e);
    free(url);
    json_t *j = rc == CURLE_OK ? json_loads(b.data ? b.data : "", 0, NULL) : NULL;
    buf_free(&b);
    return j;
}

static void configure(const char *cfg)
{
    json_decref(control("/sim/config?replace=1", cfg));
    json_decref(control("/sim/reset", "{}"));
}

/* A number from the simulator's statistics of model: path like "max_1s.requests" or "status.429". */
static double stat(json_t *stats, const char *model, const char *path)
{
    json_t *v = json_object_get(json_object_get(stats, "models"), model);
    char *p = xstrdup(path), *save = NULL;
    for (char *k = strtok_r(p, ".", &save); k && v; k = strtok_r(NULL, ".", &save)) v = json_object_get(v, k);
    free(p);
    return json_is_number(v) ? json_number_value(v) : 0;
}

/* ---- models and requests ---- */

static LmModel *model(const char *alias, ProviderKind prov, const char *name, const char *key)
{
    LmModel *m = xcalloc(1, sizeof *m);
    m->alias = xstrdup(alias);
    m->provider = prov;
    m->provider_name = prov == PROV_ANTHROPIC ? "anthropic" : "openai";
    m->model_name = xstrdup(name);
    m->base_url = prov == PROV_ANTHROPIC ? xstrdup(sim) : xasprintf("%s/v1", sim);
    m->api_key = xstrdup(key ? key : "sk-test-sched-0000");
    m->api_key_env = xstrdup(prov == PROV_ANTHROPIC ? "ANTHROPIC_API_KEY" : "OPENAI_API_KEY");
    m->temperature = NAN;
    m->price_in = m->price_cached_in = m->price_out = -1;
    return m;
}

/* What a callback saw. */
typedef struct Result {
    int done, calls, attempts;
    LmOutcome outcome;
    char kind[64];
    int64_t in, out;
    double t;
} Result;

static void on_done(void *ud, LmRequest *req, const LmAnswer *a)
{
    Result *r = ud;
    r->calls++;
    r->done = 1;
    r->attempts = req->attempts;
    r->outcome = a->outcome;
    snprintf(r->kind, sizeof r->kind, "%s", a->error_kind ? a->error_kind : "");
    r->in = a->input_tokens;
    r->out = a->output_tokens;
    r->t = now_s();
    if (a->outcome == LM_OK && !a->text) r->outcome = LM_ROW_ERROR;   /* an OK answer has text */
}

static const char *words[] = { "alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel",
                               "india", "juliet", "kilo", "lima", "mike", "november", "oscar", "papa" };

/* A chat request of about `bytes` bytes of prompt (words vary with i so answers differ). */
static LmRequest *chat(int i, int bytes, int max_out)
{
    LmRequest *r = lm_request_new(LM_CHAT);
    Buf b;
    buf_init(&b);
    buf_printf(&b, "Ticket %d:", i);
    for (int k = 0; (int)b.len < bytes; k++) buf_printf(&b, " %s", words[(i * 7 + k * 3) % 16]);
    r->user = buf_take(&b);
    r->max_output_tokens = max_out;
    return r;
}

/* An extraction-shaped request (json_schema structured output). */
static LmRequest *extraction(int i)
{
    LmRequest *r = chat(i, 160, 0);
    r->system = xstrdup("Extract the fields of the support ticket.");
    r->schema = json_pack("{s:s, s:{s:{s:s}, s:{s:s, s:[s,s,s]}, s:{s:s}}, s:[s,s,s], s:b}",
                          "type", "object", "properties", "customer", "type", "string", "priority", "type", "string",
                          "enum", "low", "normal", "high", "urgent", "type", "boolean", "required", "customer",
                          "priority", "urgent", "additionalProperties", 0);
    r->schema_name = xstrdup("ticket");
    return r;
}

static int count_ok(const Result *rs, int n, int *calls_bad)
{
    int ok = 0;
    *calls_bad = 0;
    for (int i = 0; i < n; i++) {
        if (rs[i].calls != 1) (*calls_bad)++;
        if (rs[i].outcome == LM_OK && rs[i].done) ok++;
    }
    return ok;
}

/* ---- tests ---- */

static void run(const char *name, void (*fn)(void), int argc, char **argv)
{
    if (argc > 2) {
        int want = 0;
        for (int i = 2; i < argc; i++) want |= !strcmp(argv[i], name);
        if (!want) return;
    }
    failed = 0;
    double t0 = now_s();
    fn();
    if (failed) { printf("FAIL %s: %s\n", name, reason); nfail++; }
    else { printf("ok %s (%.1fs)\n", name, now_s() - t0); npass++; }
    fflush(stdout);
}

/* The requests-per-minute limit: paced under the 1 s and 60 s windows, close to the ideal time. */
static void test_rpm(void)
{
    configure("{\"default\":{\"latency_ms\":40,\"jitter_ms\":80},"
              "\"models\":{\"rpm-model\":{\"rpm\":1200}}}");
    enum { N = 90 };
    Scheduler *s = sched_new();
    LmModel *m = model("fast", PROV_OPENAI, "rpm-model", NULL);
    m->rpm = 1200;
    m->price_in = 0.15; m->price_out = 0.6;
    Result rs[N];
    memset(rs, 0, sizeof rs);
    sched_add_model(s, m);
    for (int i = 0; i < N; i++) sched_submit(s, m, chat(i, 120, 0), on_done, &rs[i]);
    fql_error err;
    memset(&err, 0, sizeof err);
    double t0 = now_s();
    int rc = sched_run(s, &err);
    double el = now_s() - t0, ideal = N / 20.0;
    json_t *st = control("/sim/stats", NULL);
    int bad, ok = count_ok(rs, N, &bad);
    CHECK(rc == 0, "sched_run failed: %s", err.message);
    CHECK(ok == N && !bad, "%d of %d answered (%d callbacks not called exactly once)", ok, N, bad);
    CHECK(stat(st, "rpm-model", "max_1s.requests") <= 20, "%g requests in one second (limit 20)", stat(st, "rpm-model", "max_1s.requests"));
    CHECK(stat(st, "rpm-model", "max_60s.requests") <= 1200, "over the minute's limit");
    CHECK(stat(st, "rpm-model", "rate_limited") == 0, "%g rate-limit answers", stat(st, "rpm-model", "rate_limited"));
    CHECK(el <= ideal * 1.15, "took %.2f s, ideal %.2f s (%.2fx)", el, ideal, el / ideal);
    const SchedStats *ss = sched_stats(s, m);
    CHECK(ss && ss->requests == N && ss->retries == 0 && ss->failures == 0, "stats: %lld requests, %lld retries, %lld failures",
          ss ? (long long)ss->requests : -1, ss ? (long long)ss->retries : -1, ss ? (long long)ss->failures : -1);
    CHECK(ss && ss->input_tokens == (int64_t)stat(st, "rpm-model", "input_tokens") &&
          ss->output_tokens == (int64_t)stat(st, "rpm-model", "output_tokens"),
          "tokens %lld/%lld, the simulator reported %g/%g", (long long)ss->input_tokens, (long long)ss->output_tokens,
          stat(st, "rpm-model", "input_tokens"), stat(st, "rpm-model", "output_tokens"));
    double cost = ss ? (ss->input_tokens * 0.15 + ss->output_tokens * 0.6) / 1e6 : 0;
    CHECK(ss && fabs(ss->cost_usd - cost) < 1e-12, "cost %.9f, want %.9f", ss ? ss->cost_usd : 0, cost);
    CHECK(ss && ss->latency_n == N && ss->nlat == N && ss->latency_ms_sum / N >= 40 && ss->latency_ms_sum / N < 400,
          "latencies: n %lld, mean %.1f ms", ss ? (long long)ss->latency_n : -1, ss && ss->latency_n ? ss->latency_ms_sum / ss->latency_n : 0);
    json_decref(st);
    sched_free(s);
    lm_model_free(m);
}

/* The tokens-per-minute limit: reservations (estimate + output ceiling) settled from usage. */
static void test_tpm(void)
{
    configure("{\"default\":{\"latency_ms\":40,\"jitter_ms\":80},"
              "\"models\":{\"tpm-model\":{\"tpm\":60000}}}");
    enum { N = 80 };
    Scheduler *s = sched_new();
    LmModel *m = model("tok", PROV_OPENAI, "tpm-model", NULL);
    m->tpm = 60000;                  /* 1000 tokens a second, about 20 requests */
    Result rs[N];
    memset(rs, 0, sizeof rs);
    for (int i = 0; i < N; i++) sched_submit(s, m, chat(i, 100, 20), on_done, &rs[i]);
    fql_error err;
    memset(&err, 0, sizeof err);
    double t0 = now_s();
    int rc = sched_run(s, &err);
    double el = now_s() - t0;
    json_t *st = control("/sim/stats", NULL);
    int bad, ok = count_ok(rs, N, &bad);
    double counted = stat(st, "tpm-model", "max_60s.tokens");   /* all of the run: it is shorter than 60 s */
    double ideal = counted / 1000.0;
    CHECK(rc == 0, "sched_run failed: %s", err.message);
    CHECK(ok == N && !bad, "%d of %d answered", ok, N);
    CHECK(counted > 0, "the simulator counted no tokens");
    CHECK(stat(st, "tpm-model", "max_1s.tokens") <= 1000, "%g tokens in one second (limit 1000)", stat(st, "tpm-model", "max_1s.tokens"));
    CHECK(stat(st, "tpm-model", "rate_limited") == 0, "%g rate-limit answers", stat(st, "tpm-model", "rate_limited"));
    CHECK(el <= ideal * 1.15, "took %.2f s, ideal %.2f s (%.2fx; %g tokens)", el, ideal, el / ideal, counted);
    json_decref(st);
    sched_free(s);
    lm_model_free(m);
}

/* Anthropic-style separate input and output limits. */
static void test_input_output_tpm(void)
{
    configure("{\"default\":{\"latency_ms\":40,\"jitter_ms\":80},"
              "\"models\":{\"claude-haiku-4-5\":{\"input_tpm\":36000,\"output_tpm\":18000}}}");
    enum { N = 60 };
    Scheduler *s = sched_new();
    LmModel *m = model("claude", PROV_ANTHROPIC, "claude-haiku-4-5", NULL);
    m->input_tpm = 36000;            /* 600/s */
    m->output_tpm = 18000;           /* 300/s: with 20 output tokens a request (15/s), the binding limit */
    Result rs[N];
    memset(rs, 0, sizeof rs);
    for (int i = 0; i < N; i++) sched_submit(s, m, chat(i, 100, 20), on_done, &rs[i]);
    fql_error err;
    memset(&err, 0, sizeof err);
    double t0 = now_s();
    int rc = sched_run(s, &err);
    double el = now_s() - t0;
    json_t *st = control("/sim/stats", NULL);
    int bad, ok = count_ok(rs, N, &bad);
    double in = stat(st, "claude-haiku-4-5", "max_60s.input_tokens"), out = stat(st, "claude-haiku-4-5", "max_60s.output_tokens");
    double ideal = fmax(in / 600.0, out / 300.0);
    CHECK(rc == 0, "sched_run failed: %s", err.message);
    CHECK(ok == N && !bad, "%d of %d answered", ok, N);
    CHECK(out == N * 20, "output counted %g, want %d (the requested ceilings)", out, N * 20);
    CHECK(stat(st, "claude-haiku-4-5", "max_1s.input_tokens") <= 600, "%g input tokens in 1 s", stat(st, "claude-haiku-4-5", "max_1s.input_tokens"));
    CHECK(stat(st, "claude-haiku-4-5", "max_1s.output_tokens") <= 300, "%g output tokens in 1 s", stat(st, "claude-haiku-4-5", "max_1s.output_tokens"));
    CHECK(stat(st, "claude-haiku-4-5", "rate_limited") == 0, "%g rate-limit answers", stat(st, "claude-haiku-4-5", "rate_limited"));
    CHECK(el <= ideal * 1.15, "took %.2f s, ideal %.2f s (%.2fx)", el, ideal, el / ideal);
    json_decref(st);
    sched_free(s);
    lm_model_free(m);
}

/* Transient faults (500, 503, 529, resets, hangs past a short timeout) are retried until every
 * request is answered; at the same time, on a second model, a 100% fault rate makes every request
 * fail after its attempts, without stopping the run. */
static void test_faults(void)
{
    configure("{\"default\":{\"latency_ms\":10,\"jitter_ms\":20},\"hang_s\":5,"
              "\"models\":{\"flaky\":{\"faults\":{\"500\":0.06,\"503\":0.04,\"529\":0.03,\"reset\":0.04,\"hang\":0.03}},"
              "\"dead\":{\"faults\":{\"500\":1.0}}}}");
    enum { N = 80, D = 6 };
    Scheduler *s = sched_new();
    LmModel *m = model("flaky", PROV_OPENAI, "flaky", NULL), *d = model("dead", PROV_OPENAI, "dead", NULL);
    m->timeout_s = 1;
    Result rs[N], rd[D];
    memset(rs, 0, sizeof rs);
    memset(rd, 0, sizeof rd);
    for (int i = 0; i < N; i++) sched_submit(s, m, chat(i, 100, 0), on_done, &rs[i]);
    for (int i = 0; i < D; i++) sched_submit(s, d, chat(i, 100, 0), on_done, &rd[i]);
    fql_error err;
    memset(&err, 0, sizeof err);
    int rc = sched_run(s, &err);
    json_t *st = control("/sim/stats", NULL);
    int bad, ok = count_ok(rs, N, &bad);
    CHECK(rc == 0, "sched_run failed: %s", err.message);
    CHECK(ok == N && !bad, "%d of %d answered despite faults", ok, N);
    double sent = stat(st, "flaky", "requests"), answered200 = stat(st, "flaky", "status.200");
    const SchedStats *ss = sched_stats(s, m);
    CHECK(sent > N, "no fault happened (%g requests for %d rows)", sent, N);
    /* (libcurl itself resends a request once when a reused connection turns out dead: the
     * simulator may see a few more requests than the scheduler sent) */
    CHECK(ss && ss->retries == ss->requests - N && ss->requests <= (int64_t)sent && answered200 == N,
          "retries %lld, sends %lld; the simulator saw %g requests, %g answered 200",
          ss ? (long long)ss->retries : -1, ss ? (long long)ss->requests : -1, sent, answered200);
    int dead_ok = 1;
    for (int i = 0; i < D; i++)
        if (rd[i].calls != 1 || rd[i].outcome != LM_RETRY || rd[i].attempts != 6 || strcmp(rd[i].kind, "server_error"))
            dead_ok = 0;
    CHECK(dead_ok, "a dead model's request: %d calls, outcome %d, %d attempts, kind '%s' (want 1, LM_RETRY, 6, server_error)",
          rd[0].calls, (int)rd[0].outcome, rd[0].attempts, rd[0].kind);
    const SchedStats *sd = sched_stats(s, d);
    CHECK(sd && sd->failures == D && sd->retries == D * 5 && stat(st, "dead", "status.500") == D * 6,
          "dead model: %lld failures, %lld retries; %g answers 500", sd ? (long long)sd->failures : -1,
          sd ? (long long)sd->retries : -1, stat(st, "dead", "status.500"));
    json_decref(st);
    sched_free(s);
    lm_model_free(m);
    lm_model_free(d);
}

/* A rejected key stops the run at once with an actionable message that does not contain the key. */
static void test_bad_key(void)
{
    configure("{\"default\":{\"latency_ms\":20,\"jitter_ms\":20}}");
    enum { N = 200 };
    const char *key = "sk-bad-Zq7SECRETx9-4242";
    Scheduler *s = sched_new();
    LmModel *m = model("fast", PROV_OPENAI, "gpt-4o-mini", key);
    m->rpm = 3000;
    Result rs[N];
    memset(rs, 0, sizeof rs);
    for (int i = 0; i < N; i++) sched_submit(s, m, chat(i, 100, 0), on_done, &rs[i]);
    fql_error err;
    memset(&err, 0, sizeof err);
    double t0 = now_s();
    int rc = sched_run(s, &err);
    double el = now_s() - t0;
    json_t *st = control("/sim/stats", NULL);
    int fatal = 0, bad = 0;
    for (int i = 0; i < N; i++) {
        if (rs[i].outcome == LM_FATAL) fatal++;
        if (rs[i].calls != 1) bad++;
    }
    CHECK(rc == -1, "sched_run returned %d", rc);
    CHECK(el < 2, "took %.2f s to stop", el);
    CHECK(fatal == N && !bad, "%d of %d completed as fatal (%d not exactly once)", fatal, N, bad);
    CHECK(strstr(err.message, "model 'fast' (openai)") && strstr(err.message, "OPENAI_API_KEY"),
          "message does not name the model and what to set: %s", err.message);
    CHECK(!strstr(err.message, key) && !strstr(err.message, "SECRET") && !strstr(err.message, "4242"),
          "the message holds the key: %s", err.message);
    CHECK(stat(st, "gpt-4o-mini", "requests") < 40, "%g requests sent with a rejected key", stat(st, "gpt-4o-mini", "requests"));
    /* the scheduler is usable afterwards */
    free(m->api_key);
    m->api_key = xstrdup("sk-good-key");
    Result r1;
    memset(&r1, 0, sizeof r1);
    sched_submit(s, m, chat(1, 50, 0), on_done, &r1);
    memset(&err, 0, sizeof err);
    CHECK(sched_run(s, &err) == 0 && r1.outcome == LM_OK, "a later run failed: %s", err.message);
    json_decref(st);
    sched_free(s);
    lm_model_free(m);
}

/* The server's limit is below the declared one: 429s slow the model down (AIMD, the server's
 * wait honoured) and every request is answered, none failed for rate limits. */
static void test_aimd(void)
{
    configure("{\"default\":{\"latency_ms\":20,\"jitter_ms\":30},"
              "\"models\":{\"low-limit\":{\"rpm\":300}}}");
    enum { N = 40 };
    Scheduler *s = sched_new();
    LmModel *m = model("low", PROV_OPENAI, "low-limit", NULL);
    m->rpm = 1200;                   /* declared 4x what the server allows */
    Result rs[N];
    memset(rs, 0, sizeof rs);
    for (int i = 0; i < N; i++) sched_submit(s, m, chat(i, 80, 0), on_done, &rs[i]);
    fql_error err;
    memset(&err, 0, sizeof err);
    double t0 = now_s();
    int rc = sched_run(s, &err);
    double el = now_s() - t0;
    json_t *st = control("/sim/stats", NULL);
    int bad, ok = count_ok(rs, N, &bad);
    const SchedStats *ss = sched_stats(s, m);
    double limited = stat(st, "low-limit", "rate_limited");
    CHECK(rc == 0, "sched_run failed: %s", err.message);
    CHECK(ok == N && !bad, "%d of %d answered", ok, N);
    CHECK(limited > 0, "the simulator refused nothing: the test does not test AIMD");
    CHECK(ss && ss->rate_limited == (int64_t)limited && ss->failures == 0, "rate_limited %lld (simulator %g), failures %lld",
          ss ? (long long)ss->rate_limited : -1, limited, ss ? (long long)ss->failures : -1);
    int extra = 0;
    for (int i = 0; i < N; i++) if (rs[i].attempts != 1) extra++;
    CHECK(!extra, "%d requests counted a rate-limit answer as an attempt", extra);
    CHECK(limited < N, "%g 429s for %d requests: the model did not slow down", limited, N);
    CHECK(el < N / 5.0 * 2 + 2, "took %.1f s (the server allows 5/s: ideal %.1f s)", el, N / 5.0);
    json_decref(st);
    sched_free(s);
    lm_model_free(m);
}

/* Several models progress at once in one loop: two slow models take as long as one. */
static void test_two_models(void)
{
    configure("{\"default\":{\"latency_ms\":30,\"jitter_ms\":30},"
              "\"models\":{\"m-one\":{\"rpm\":600},\"claude-sonnet-4-5\":{\"rpm\":600}}}");
    enum { N = 30 };
    Scheduler *s = sched_new();
    LmModel *a = model("one", PROV_OPENAI, "m-one", NULL), *b = model("two", PROV_ANTHROPIC, "claude-sonnet-4-5", NULL);
    a->rpm = b->rpm = 600;
    Result ra[N], rb[N];
    memset(ra, 0, sizeof ra);
    memset(rb, 0, sizeof rb);
    for (int i = 0; i < N; i++) {
        sched_submit(s, a, extraction(i), on_done, &ra[i]);
        sched_submit(s, b, extraction(i), on_done, &rb[i]);
    }
    fql_error err;
    memset(&err, 0, sizeof err);
    double t0 = now_s();
    int rc = sched_run(s, &err);
    double el = now_s() - t0;
    int bad1, bad2, ok1 = count_ok(ra, N, &bad1), ok2 = count_ok(rb, N, &bad2);
    CHECK(rc == 0, "sched_run failed: %s", err.message);
    CHECK(ok1 == N && ok2 == N && !bad1 && !bad2, "answered %d and %d of %d", ok1, ok2, N);
    CHECK(el <= N / 10.0 * 1.15, "two models at 10/s each took %.2f s for %d requests each (ideal %.1f)", el, N, N / 10.0);
    /* FIFO per model: answers complete roughly in submission order (latency jitter aside) */
    int inversions = 0;
    for (int i = 1; i < N; i++) if (ra[i].t + 0.1 < ra[i - 1].t) inversions++;
    CHECK(!inversions, "%d requests overtook an earlier one by more than the jitter", inversions);
    sched_free(s);
    lm_model_free(a);
    lm_model_free(b);
}

static void *cancel_later(void *p)
{
    usleep(300 * 1000);
    sched_cancel(p);
    return NULL;
}

/* sched_cancel from another thread: the run stops soon, every request completed as cancelled. */
static void test_cancel(void)
{
    configure("{\"default\":{\"latency_ms\":3000}}");
    enum { N = 20 };
    Scheduler *s = sched_new();
    LmModel *m = model("slow", PROV_OPENAI, "slow-model", NULL);
    Result rs[N];
    memset(rs, 0, sizeof rs);
    for (int i = 0; i < N; i++) sched_submit(s, m, chat(i, 50, 0), on_done, &rs[i]);
    pthread_t th;
    pthread_create(&th, NULL, cancel_later, s);
    fql_error err;
    memset(&err, 0, sizeof err);
    double t0 = now_s();
    int rc = sched_run(s, &err);
    double el = now_s() - t0;
    pthread_join(th, NULL);
    int cancelled = 0;
    for (int i = 0; i < N; i++) if (rs[i].calls == 1 && !strcmp(rs[i].kind, "cancelled")) cancelled++;
    CHECK(rc == -1 && el < 1.0, "returned %d after %.2f s", rc, el);
    CHECK(cancelled == N, "%d of %d completed as cancelled", cancelled, N);
    sched_free(s);
    lm_model_free(m);
}

int main(int argc, char **argv)
{
    if (argc < 2) { fprintf(stderr, "usage: sched_test SIM_URL [TEST...]\n"); return 2; }
    sim = argv[1];
    curl_global_init(CURL_GLOBAL_DEFAULT);
    run("rpm", test_rpm, argc, argv);
    run("tpm", test_tpm, argc, argv);
    run("input_output_tpm", test_input_output_tpm, argc, argv);
    run("two_models", test_two_models, argc, argv);
    run("faults", test_faults, argc, argv);
    run("bad_key", test_bad_key, argc, argv);
    run("aimd", test_aimd, argc, argv);
    run("cancel", test_cancel, argc, argv);
    printf("%d passed, %d failed\n", npass, nfail);
    curl_global_cleanup();
    return nfail != 0;
}
