/* embed.c: FQL embedded in a C program.
 *
 * Opens a session, registers two functions written in C (one synchronous, one asynchronous that
 * completes its calls from a worker thread), runs a pipeline that calls them and a model, steps
 * through the result a batch at a time, prints the statement's metrics and closes the session.
 *
 * Build and run it from the repository root (the data file is examples/data/tickets.csv):
 *     cc -o embed examples/embed.c $(pkg-config --cflags --libs fql) -lpthread
 *     OPENAI_API_KEY=... ./embed
 * (or `make embed-example`, then build/examples/embed). Without a key, point the model at the
 * provider simulator: OPENAI_API_KEY=sim OPENAI_BASE_URL=http://127.0.0.1:PORT/v1 ./embed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <fql.h>

/* weight(priority string) -> int: called once per row, on the thread that runs the statement. */
static int weight(void *ud, const fql_value *args, size_t nargs, fql_value *out, fql_error *err)
{
    (void)ud; (void)nargs;
    if (args[0].type == FQL_TYPE_NULL) { out->type = FQL_TYPE_NULL; return 0; }
    static const char *const levels[] = { "low", "medium", "high" };
    for (int i = 0; i < 3; i++)
        if (args[0].as.s.len == strlen(levels[i]) && !memcmp(args[0].as.s.ptr, levels[i], args[0].as.s.len)) {
            out->type = FQL_TYPE_INT;
            out->as.i = i + 1;
            return 0;
        }
    snprintf(err->message, sizeof err->message, "unknown priority '%.*s'", (int)args[0].as.s.len, args[0].as.s.ptr);
    err->code = -1;   /* not worth retrying: the row becomes null, the reason goes to system.lm_errors */
    return 1;
}

/* account_tier(customer string) -> string, asynchronously: a real program would ask a service;
 * here a thread answers. The argument is copied, since it is only valid during the call. */
typedef struct { fql_call *call; char customer[64]; } Lookup;

static void *answer(void *arg)
{
    Lookup *l = arg;
    const char *tier = !strcmp(l->customer, "acme") || !strcmp(l->customer, "initech") ? "enterprise" : "standard";
    fql_value v = { .type = FQL_TYPE_STRING, .as.s = { tier, strlen(tier) } };
    fql_call_return(l->call, &v);   /* from any thread; the value is copied */
    free(l);
    return NULL;
}

static int account_tier(void *ud, const fql_value *args, size_t nargs, fql_call *call, fql_error *err)
{
    (void)ud; (void)nargs;
    if (args[0].type != FQL_TYPE_STRING) { fql_call_return(call, NULL); return 0; }
    Lookup *l = calloc(1, sizeof *l);
    l->call = call;
    snprintf(l->customer, sizeof l->customer, "%.*s", (int)args[0].as.s.len, args[0].as.s.ptr);
    pthread_t th;
    if (pthread_create(&th, NULL, answer, l)) {
        free(l);
        snprintf(err->message, sizeof err->message, "no thread");
        return 1;
    }
    pthread_detach(th);
    return 0;
}

static void on_log(void *ud, int level, const char *message)
{
    (void)ud;
    fprintf(stderr, "[fql %s] %s\n", level >= FQL_LOG_WARN ? "warning" : "info", message);
}

int main(void)
{
    fql_options o;
    fql_options_init(&o);
    o.db_path = ":memory:";          /* no response cache or metrics kept after the process */
    o.progress = 0;
    o.log = on_log;
    fql_error err;
    fql_session *s = fql_open(&o, &err);
    if (!s) { fprintf(stderr, "fql_open: %s\n", err.message); return 1; }

    fql_udf_spec w = { .nargs = 1, .return_type = FQL_TYPE_INT, .fn = weight };
    fql_udf_spec t = { .nargs = 1, .return_type = FQL_TYPE_STRING, .async_fn = account_tier,
                       .max_concurrency = 4, .timeout = 2.0, .retries = 1 };
    if (fql_register_udf(s, "weight", &w, &err) || fql_register_udf(s, "account_tier", &t, &err)) {
        fprintf(stderr, "fql_register_udf: %s\n", err.message);
        fql_close(s);
        return 1;
    }

    const char *src =
        "model fast = openai(\"gpt-4o-mini\");\n"
        "from csv(\"examples/data/tickets.csv\")\n"
        "  | derive w = weight(priority), tier = account_tier(customer),\n"
        "           topic = classify(content, [\"billing\", \"bug\", \"feature\", \"other\"])\n"
        "  | where w >= 2\n"
        "  | select id, customer, tier, w, topic\n"
        "  | order by w desc, id";
    fql_stmt *st;
    if (fql_prepare(s, src, "embed.c", &st, &err)) {
        /* file:line:column and the quoted line with a caret are in the message */
        fprintf(stderr, "%s\n", err.message);
        fql_close(s);
        return 1;
    }
    for (size_t c = 0; c < fql_stmt_cols(st); c++) printf("%s%s", c ? "\t" : "", fql_stmt_column_name(st, c));
    printf("\n");
    fql_result *batch;
    int rc;
    while ((rc = fql_step(st, &batch, &err)) == 1) {   /* up to 2048 rows at a time */
        for (size_t r = 0; r < fql_result_rows(batch); r++) {
            for (size_t c = 0; c < fql_result_cols(batch); c++) {
                const char *v = fql_result_string(batch, r, c);   /* owned by the batch */
                printf("%s%s", c ? "\t" : "", v ? v : "NULL");
            }
            printf("\n");
        }
        fql_result_free(batch);
    }
    if (rc < 0) fprintf(stderr, "%s\n", err.message);
    fql_metrics m;
    fql_stmt_metrics(st, &m);
    printf("metrics: %lld rows, %lld model requests (%lld cached), %lld+%lld tokens, $%.6f, "
           "%lld function calls (%lld failed), %.1f ms\n",
           (long long)m.rows, (long long)m.requests, (long long)m.cache_hits, (long long)m.input_tokens,
           (long long)m.output_tokens, m.cost_usd, (long long)m.udf_calls, (long long)m.udf_failures, m.time_ms);
    fql_finalize(st);
    fql_close(s);   /* waits for asynchronous calls still outstanding */
    return rc < 0;
}
