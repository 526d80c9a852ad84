/* fql_bench.c: the throughput benchmark's FQL side: N extraction-shaped chat requests (strict
 * json_schema) through the scheduler against fql-sim, as the semantic operators submit them.
 * Prints one JSON line: {"ok", "lost", "seconds", "rate_limited", "retries", "cost"}.
 * usage: fql_bench BASE_URL N RPM */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "runtime.h"

static const char *words[] = { "alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel",
                               "india", "juliet", "kilo", "lima", "mike", "november", "oscar", "papa" };

static int ok, lost;

static void on_done(void *ud, LmRequest *req, const LmAnswer *a)
{
    (void)ud; (void)req;
    if (a->outcome == LM_OK && a->json) ok++; else lost++;
}

int main(int argc, char **argv)
{
    if (argc < 4) { fprintf(stderr, "usage: fql_bench BASE_URL N RPM\n"); return 2; }
    int n = atoi(argv[2]);
    LmModel m;
    memset(&m, 0, sizeof m);
    m.alias = "fast";
    m.provider = PROV_OPENAI;
    m.provider_name = "openai";
    m.model_name = "gpt-4o-mini";
    m.base_url = argv[1];
    m.api_key = "sk-bench";
    m.api_key_env = "OPENAI_API_KEY";
    m.rpm = atof(argv[3]);
    m.temperature = NAN;
    m.price_in = 0.15; m.price_cached_in = 0.075; m.price_out = 0.6;
    Scheduler *s = sched_new();
    for (int i = 0; i < n; i++) {
        LmRequest *r = lm_request_new(LM_CHAT);
        Buf b;
        buf_init(&b);
        buf_printf(&b, "Ticket %d:", i);
        for (int k = 0; b.len < 160; k++) buf_printf(&b, " %s", words[(i * 7 + k * 3) % 16]);
        r->user = buf_take(&b);
        r->system = xstrdup("Extract the fields of the support ticket.");
        r->schema = json_pack("{s:s, s:{s:{s:s}, s:{s:s, s:[s,s,s]}, s:{s:s}}, s:[s,s,s], s:b}",
                              "type", "object", "properties", "customer", "type", "string", "priority", "type", "string",
                              "enum", "low", "normal", "high", "urgent", "type", "boolean", "required", "customer",
                              "priority", "urgent", "additionalProperties", 0);
        r->schema_name = xstrdup("ticket");
        sched_submit(s, &m, r, on_done, NULL);
    }
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    fql_error err;
    memset(&err, 0, sizeof err);
    int rc = sched_run(s, &err);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    if (rc) fprintf(stderr, "fql_bench: %s\n", err.message);
    const SchedStats *st = sched_stats(s, &m);
    printf("{\"ok\": %d, \"lost\": %d, \"seconds\": %.3f, \"rate_limited\": %lld, \"retries\": %lld, \"cost\": %.6f}\n", ok, lost,
           (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9, (long long)st->rate_limited,
           (long long)st->retries, st->cost_usd);
    sched_free(s);
    return rc != 0;
}
