/* capi_test.c: the embedding API (fql.h) as a program that embeds FQL sees it. Built by
 * tests/runtime/capi.sh against the INSTALLED library with `pkg-config --cflags --libs fql` and
 * run under valgrind. Only fql.h is included: nothing internal.
 *
 * Environment: FQL_TEST_DIR (a scratch directory), FQL_TEST_HTTP (base URL of tests/capi/server.js),
 * FQL_TEST_SIM (1 when OPENAI_BASE_URL points at fql-sim). Prints "ok NAME" / "FAIL NAME: why"
 * and the closing line "N passed, M failed".
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <time.h>
#include <unistd.h>
#include <fql.h>
#include "../unit/check.h"

static char dir[512];

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void sleep_ms(int ms)
{
    struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
}

/* A CSV file of n rows: id (1..n), amount (id * 1.5), name ("n<id>"; empty = null for id % 7 == 0). */
static const char *numbers_csv(int n)
{
    static char path[600];
    snprintf(path, sizeof path, "%s/numbers_%d.csv", dir, n);
    if (access(path, R_OK) == 0) return path;
    FILE *f = fopen(path, "w");
    fprintf(f, "id,amount,name\n");
    for (int i = 1; i <= n; i++) {
        if (i % 7 == 0) fprintf(f, "%d,%g,\n", i, i * 1.5);
        else fprintf(f, "%d,%g,n%d\n", i, i * 1.5, i);
    }
    fclose(f);
    return path;
}

static fql_session *open_session(void)
{
    fql_options o;
    fql_options_init(&o);
    o.db_path = ":memory:";
    o.progress = 0;
    fql_error err;
    fql_session *s = fql_open(&o, &err);
    CHECK(s != NULL, "fql_open: %s", err.message);
    return s;
}

/* Run src and return its result (NULL with the failure recorded). */
static fql_result *run_ok(fql_session *s, const char *src)
{
    fql_result *r = NULL;
    fql_error err;
    int rc = fql_exec(s, src, "<test>", &r, &err);
    CHECK(rc == 0, "fql_exec(%s): %s", src, err.message);
    return rc == 0 ? r : NULL;
}

/* Register a synchronous one-argument function. 0 ok. */
static int register_fn(fql_session *s, const char *name, fql_type rt, fql_udf_fn fn, void *ud, int retries)
{
    fql_udf_spec spec;
    memset(&spec, 0, sizeof spec);
    spec.nargs = 1;
    spec.return_type = rt;
    spec.fn = fn;
    spec.ud = ud;
    spec.retries = retries;
    fql_error err;
    int rc = fql_register_udf(s, name, &spec, &err);
    CHECK(rc == 0, "register %s: %s", name, err.message);
    return rc;
}

/* ------------------------------------------------------------------ results --- */

static void test_results(void)
{
    fql_session *s = open_session();
    char src[1024];
    snprintf(src, sizeof src,
             "from csv(\"%s\") | where id <= 8 | derive big = amount > 6, d = cast(\"2024-02-29\" as date), "
             "l = [id, id * 2], st = {a: id} | select id, amount, name, big, d, l, st | order by id desc",
             numbers_csv(10));
    fql_result *r = run_ok(s, src);
    if (!r) { fql_close(s); return; }
    CHECK(fql_result_rows(r) == 8 && fql_result_cols(r) == 7, "shape %zu x %zu", fql_result_rows(r), fql_result_cols(r));
    const char *names[] = { "id", "amount", "name", "big", "d", "l", "st" };
    fql_type types[] = { FQL_TYPE_INT, FQL_TYPE_FLOAT, FQL_TYPE_STRING, FQL_TYPE_BOOL, FQL_TYPE_DATE, FQL_TYPE_LIST, FQL_TYPE_STRUCT };
    for (size_t c = 0; c < 7; c++) {
        CHECK(fql_result_column_name(r, c) && !strcmp(fql_result_column_name(r, c), names[c]), "column %zu is %s", c, fql_result_column_name(r, c));
        CHECK(fql_result_column_type(r, c) == types[c], "column %s has type %d", names[c], fql_result_column_type(r, c));
    }
    CHECK(fql_result_int(r, 0, 0) == 8 && fql_result_int(r, 7, 0) == 1, "order: %lld .. %lld", (long long)fql_result_int(r, 0, 0), (long long)fql_result_int(r, 7, 0));
    CHECK(fql_result_float(r, 0, 1) == 12.0, "amount %g", fql_result_float(r, 0, 1));
    CHECK(fql_result_bool(r, 0, 3) == 1 && fql_result_bool(r, 7, 3) == 0, "bools");
    CHECK(fql_result_is_null(r, 1, 2) && fql_result_string(r, 1, 2) == NULL, "id 7 has a null name");
    CHECK(!strcmp(fql_result_string(r, 0, 2), "n8"), "name %s", fql_result_string(r, 0, 2));
    CHECK(!strcmp(fql_result_string(r, 0, 4), "2024-02-29"), "date as text: %s", fql_result_string(r, 0, 4));
    CHECK(fql_result_int(r, 0, 4) == 19782, "date as days: %lld", (long long)fql_result_int(r, 0, 4));
    char *j = fql_result_json(r, 0, 5);
    CHECK(j && !strcmp(j, "[8,16]"), "list as JSON: %s", j);
    fql_free(j);
    j = fql_result_json(r, 0, 6);
    CHECK(j && !strcmp(j, "{\"a\":8}"), "struct as JSON: %s", j);
    fql_free(j);
    j = fql_result_json(r, 1, 2);
    CHECK(j && !strcmp(j, "null"), "null as JSON: %s", j);
    fql_free(j);
    /* out of range reads as null, never crashes */
    CHECK(fql_result_is_null(r, 99, 0) && fql_result_column_name(r, 99) == NULL && fql_result_string(r, 0, 99) == NULL, "out of range");
    fql_metrics m;
    CHECK(fql_result_metrics(r, &m) == 0 && m.rows == 8 && m.requests == 0 && m.time_ms >= 0, "metrics rows %lld", (long long)m.rows);
    fql_result_free(r);
    /* declarations persist across calls; out is the last statement's result */
    r = run_ok(s, "let a = values [{x: 1}, {x: 2}];");
    CHECK(r == NULL, "a let statement has no result");
    r = run_ok(s, "from a | select x * 10 as y; from a | where x > 1");
    CHECK(r && fql_result_rows(r) == 1 && !strcmp(fql_result_column_name(r, 0), "x"), "the last result is the second statement's");
    fql_result_free(r);
    CHECK(!strcmp(fql_version(), FQL_VERSION), "version %s", fql_version());
    fql_result_free(NULL);
    fql_free(NULL);
    fql_close(s);
    fql_close(NULL);
}

static void test_errors(void)
{
    fql_session *s = open_session();
    fql_error err;
    fql_result *r = (fql_result *)&err;
    int rc = fql_exec(s, "let x = values [{a: 1}];\nfrom x | where a >", "script.fql", &r, &err);
    CHECK(rc == -1 && r == NULL, "a parse error fails (rc %d)", rc);
    CHECK(err.code == 2 || err.code == 7, "code %d", err.code);
    CHECK(err.line == 2 && !strcmp(err.file, "script.fql"), "place %s:%d:%d", err.file, err.line, err.column);
    rc = fql_exec(s, "values [{a: 1}] | select nope", NULL, NULL, &err);
    CHECK(rc == -1 && err.code == 3 && strstr(err.message, "nope") && err.column > 0, "a name error: %d %s", err.code, err.message);
    CHECK(fql_exec(s, "values [{a: 1}] | select a", NULL, NULL, NULL) == 0, "err may be NULL");
    CHECK(fql_exec(NULL, "x", NULL, NULL, &err) == -1 && err.message[0], "no session");
    fql_close(s);
}

/* ------------------------------------------------------------------ sync UDFs --- */

typedef struct { int calls; int fail_first; int tried[64]; } SyncState;

/* times_ten(x int) -> int: x * 10; fails for x = 13; fails the first attempt of even x when fail_first. */
static int times_ten(void *ud, const fql_value *args, size_t nargs, fql_value *out, fql_error *err)
{
    SyncState *st = ud;
    st->calls++;
    if (nargs != 1) { snprintf(err->message, sizeof err->message, "wrong nargs"); return 1; }
    if (args[0].type == FQL_TYPE_NULL) { out->type = FQL_TYPE_NULL; return 0; }
    int64_t x = args[0].as.i;
    if (x == 13) { snprintf(err->message, sizeof err->message, "thirteen is unlucky"); err->code = -1; return 1; }
    if (st->fail_first && x % 2 == 0 && x < 64 && st->tried[x]++ == 0) { snprintf(err->message, sizeof err->message, "transient"); return 1; }
    out->type = FQL_TYPE_INT;
    out->as.i = x * 10;
    return 0;
}

/* greet(name string) -> string */
static int greet(void *ud, const fql_value *args, size_t nargs, fql_value *out, fql_error *err)
{
    (void)ud; (void)nargs; (void)err;
    static __thread char buf[128];
    if (args[0].type != FQL_TYPE_STRING) { out->type = FQL_TYPE_NULL; return 0; }
    int n = snprintf(buf, sizeof buf, "hello %.*s", (int)args[0].as.s.len, args[0].as.s.ptr);
    out->type = FQL_TYPE_STRING;
    out->as.s.ptr = buf;
    out->as.s.len = (size_t)n;
    return 0;
}

static void test_sync_udf(void)
{
    fql_session *s = open_session();
    SyncState st;
    memset(&st, 0, sizeof st);
    register_fn(s, "times_ten", FQL_TYPE_INT, times_ten, &st, 1);
    register_fn(s, "greet", FQL_TYPE_STRING, greet, NULL, 0);
    /* refused registrations */
    fql_udf_spec spec;
    memset(&spec, 0, sizeof spec);
    spec.nargs = 1;
    spec.return_type = FQL_TYPE_INT;
    spec.fn = times_ten;
    fql_error err;
    CHECK(fql_register_udf(s, "lower", &spec, &err) == -1 && strstr(err.message, "built-in"), "a built-in name: %s", err.message);
    CHECK(fql_register_udf(s, "bad name", &spec, &err) == -1, "an invalid name");
    fql_udf_spec both = spec;
    both.fn = NULL;
    CHECK(fql_register_udf(s, "nofn", &both, &err) == -1 && strstr(err.message, "exactly one"), "no implementation: %s", err.message);

    char src[1024];
    snprintf(src, sizeof src, "from csv(\"%s\") | derive t = times_ten(id), g = greet(name) | select id, t, g", numbers_csv(20));
    fql_result *r = run_ok(s, src);
    if (r) {
        int good = fql_result_rows(r) == 20;
        for (size_t i = 0; i < fql_result_rows(r) && good; i++) {
            int64_t id = fql_result_int(r, i, 0);
            if (id == 13) good = fql_result_is_null(r, i, 1);
            else good = fql_result_int(r, i, 1) == id * 10;
        }
        CHECK(good, "values in order, row 13 null");
        CHECK(!strcmp(fql_result_string(r, 0, 2), "hello n1") && fql_result_is_null(r, 6, 2), "string results: %s", fql_result_string(r, 0, 2));
        fql_metrics m;
        fql_result_metrics(r, &m);
        /* 20 rows of times_ten (13 is not retried: code < 0) + 20 of greet */
        CHECK(m.udf_calls == 40 && m.udf_failures == 1, "udf metrics: calls %lld failures %lld", (long long)m.udf_calls, (long long)m.udf_failures);
        fql_result_free(r);
    }
    /* retries: even ids fail once, then succeed */
    st.fail_first = 1;
    st.calls = 0;
    snprintf(src, sizeof src, "from csv(\"%s\") | where id <= 10 | select times_ten(id) as t", numbers_csv(20));
    r = run_ok(s, src);
    if (r) {
        CHECK(fql_result_rows(r) == 10 && fql_result_int(r, 1, 0) == 20 && fql_result_int(r, 9, 0) == 100, "retried rows have values");
        CHECK(st.calls == 15, "10 rows + 5 retries = 15 calls, got %d", st.calls);
        fql_result_free(r);
    }
    /* the failed row's reason is recorded */
    r = run_ok(s, "from system.lm_errors | where model == \"times_ten\" | select row, kind, message");
    if (r) {
        CHECK(fql_result_rows(r) == 1 && fql_result_int(r, 0, 0) == 12 && strstr(fql_result_string(r, 0, 2), "unlucky"),
              "lm_errors: %zu rows; %s", fql_result_rows(r), fql_result_rows(r) ? fql_result_string(r, 0, 2) : "");
        fql_result_free(r);
    }
    /* a call with the wrong number of arguments is a bind error naming the place */
    CHECK(fql_exec(s, "values [{a: 1}] | select times_ten(a, a)", "q.fql", NULL, &err) == -1 && strstr(err.message, "takes 1 argument") && err.column > 0,
          "arity: %s", err.message);
    fql_close(s);
}

/* ------------------------------------------------------------------ async UDFs --- */

/* A pool of worker threads that complete calls after a delay, in whatever order they finish. */
typedef struct Job { fql_call *call; int64_t x; int delay_ms; int mode; struct Job *next; } Job;
enum { JOB_OK, JOB_FAIL_RETRYABLE, JOB_UNTIL_CANCELLED };

typedef struct Pool {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    Job *head, *tail;
    int stop;
    pthread_t th[8];
    int nth;
    /* what the UDF saw */
    int outstanding, max_outstanding, started;
    int attempts[128];
    int slow_every;              /* delay rows x % slow_every == 0 by slow_ms (0 = none) */
    int slow_ms;
    int fail_first_odd;          /* odd x fail their first attempt */
    int hang;                    /* calls wait until cancelled */
} Pool;

static void *worker(void *arg)
{
    Pool *p = arg;
    for (;;) {
        pthread_mutex_lock(&p->mu);
        while (!p->head && !p->stop) pthread_cond_wait(&p->cv, &p->mu);
        Job *j = p->head;
        if (j) { p->head = j->next; if (!p->head) p->tail = NULL; }
        pthread_mutex_unlock(&p->mu);
        if (!j) return NULL;
        if (j->mode == JOB_UNTIL_CANCELLED) {
            while (!fql_call_cancelled(j->call)) sleep_ms(2);
        } else sleep_ms(j->delay_ms);
        pthread_mutex_lock(&p->mu);
        p->outstanding--;
        pthread_mutex_unlock(&p->mu);
        if (j->mode == JOB_OK) {
            fql_value v;
            v.type = FQL_TYPE_INT;
            v.as.i = j->x * 10;
            fql_call_return(j->call, &v);
        } else fql_call_error(j->call, j->mode == JOB_FAIL_RETRYABLE, j->mode == JOB_UNTIL_CANCELLED ? "cancelled" : "transient");
        free(j);
    }
}

static void pool_start(Pool *p, int nth)
{
    memset(p, 0, sizeof *p);
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    p->nth = nth;
    for (int i = 0; i < nth; i++) pthread_create(&p->th[i], NULL, worker, p);
}

static void pool_stop(Pool *p)
{
    pthread_mutex_lock(&p->mu);
    p->stop = 1;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    for (int i = 0; i < p->nth; i++) pthread_join(p->th[i], NULL);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cv);
}

/* slow_score(x int) -> int: x * 10, completed later by a worker. Later rows finish first. */
static int slow_score(void *ud, const fql_value *args, size_t nargs, fql_call *call, fql_error *err)
{
    Pool *p = ud;
    (void)nargs; (void)err;
    if (args[0].type != FQL_TYPE_INT) { fql_call_return(call, NULL); return 0; }
    Job *j = calloc(1, sizeof *j);
    j->call = call;
    j->x = args[0].as.i;
    j->delay_ms = 5 + (int)(40 - j->x % 40);
    if (p->slow_every && j->x % p->slow_every == 0 && fql_call_attempt(call) == 1) j->delay_ms = p->slow_ms;
    pthread_mutex_lock(&p->mu);
    if (j->x >= 0 && j->x < 128) p->attempts[j->x]++;
    if (p->fail_first_odd && j->x % 2 == 1 && fql_call_attempt(call) == 1) j->mode = JOB_FAIL_RETRYABLE;
    if (p->hang) j->mode = JOB_UNTIL_CANCELLED;
    p->started++;
    p->outstanding++;
    if (p->outstanding > p->max_outstanding) p->max_outstanding = p->outstanding;
    if (p->tail) p->tail->next = j; else p->head = j;
    p->tail = j;
    pthread_cond_signal(&p->cv);
    pthread_mutex_unlock(&p->mu);
    return 0;
}

static void register_async(fql_session *s, Pool *p, int maxc, double timeout, int retries)
{
    fql_udf_spec spec;
    memset(&spec, 0, sizeof spec);
    spec.nargs = 1;
    spec.return_type = FQL_TYPE_INT;
    spec.async_fn = slow_score;
    spec.ud = p;
    spec.max_concurrency = maxc;
    spec.timeout = timeout;
    spec.retries = retries;
    fql_error err;
    CHECK(fql_register_udf(s, "slow_score", &spec, &err) == 0, "register: %s", err.message);
}

/* Every row i (1-based id) has score id * 10 in order, except the ids listed as null. */
static int scores_ok(const fql_result *r, size_t n, const int *nulls, int nnull)
{
    if (!r || fql_result_rows(r) != n) return 0;
    for (size_t i = 0; i < n; i++) {
        int64_t id = fql_result_int(r, i, 0);
        if (id != (int64_t)i + 1) return 0;
        int want_null = 0;
        for (int k = 0; k < nnull; k++) want_null |= nulls[k] == id;
        if (want_null ? !fql_result_is_null(r, i, 1) : fql_result_int(r, i, 1) != id * 10) return 0;
    }
    return 1;
}

static void test_async_udf(void)
{
    Pool p;
    pool_start(&p, 8);
    fql_session *s = open_session();
    register_async(s, &p, 3, 0, 0);
    char src[1024];
    snprintf(src, sizeof src, "from csv(\"%s\") | where id <= 40 | derive sc = slow_score(id) | select id, sc", numbers_csv(100));
    fql_result *r = run_ok(s, src);
    CHECK(scores_ok(r, 40, NULL, 0), "40 scores in row order");
    CHECK(p.max_outstanding == 3, "max_concurrency 3: the function saw %d calls outstanding at once", p.max_outstanding);
    CHECK(p.started == 40, "40 calls, got %d", p.started);
    fql_metrics m;
    if (r) { fql_result_metrics(r, &m); CHECK(m.udf_calls == 40 && m.udf_failures == 0, "metrics %lld %lld", (long long)m.udf_calls, (long long)m.udf_failures); }
    fql_result_free(r);
    fql_close(s);
    pool_stop(&p);
}

static void test_async_retry_timeout(void)
{
    Pool p;
    pool_start(&p, 8);
    p.fail_first_odd = 1;
    fql_session *s = open_session();
    register_async(s, &p, 8, 0, 1);
    char src[1024];
    snprintf(src, sizeof src, "from csv(\"%s\") | where id <= 20 | derive sc = slow_score(id) | select id, sc", numbers_csv(100));
    fql_result *r = run_ok(s, src);
    CHECK(scores_ok(r, 20, NULL, 0), "odd rows succeed on their second attempt");
    CHECK(p.attempts[1] == 2 && p.attempts[2] == 1 && p.attempts[19] == 2, "attempts %d %d %d", p.attempts[1], p.attempts[2], p.attempts[19]);
    fql_result_free(r);

    /* timeouts: multiples of 5 take 3 s on their first attempt; the timeout is 0.3 s */
    memset(p.attempts, 0, sizeof p.attempts);
    p.fail_first_odd = 0;
    p.slow_every = 5;
    p.slow_ms = 3000;
    register_async(s, &p, 8, 0.3, 0);
    double t0 = now_s();
    r = run_ok(s, src);
    double el = now_s() - t0;
    int nulls[] = { 5, 10, 15, 20 };
    CHECK(scores_ok(r, 20, nulls, 4), "timed-out rows are null, the others in order");
    CHECK(el < 2.5, "the statement did not wait for the slow calls (%.2f s)", el);
    fql_result_free(r);
    r = run_ok(s, "from system.lm_errors | where model == \"slow_score\" and kind == \"timeout\" | select row");
    CHECK(r && fql_result_rows(r) == 4 && fql_result_int(r, 0, 0) == 4, "4 timeouts recorded (rows 4, 9, ...): %zu", fql_result_rows(r));
    fql_result_free(r);

    /* a retry after a timeout gets the value: the second attempt is fast */
    register_async(s, &p, 8, 0.3, 1);
    r = run_ok(s, src);
    CHECK(scores_ok(r, 20, NULL, 0), "rows retried after a timeout have values");
    fql_result_free(r);
    fql_close(s);   /* waits for the abandoned slow calls */
    CHECK(p.outstanding == 0, "fql_close returned with %d calls outstanding", p.outstanding);
    pool_stop(&p);
}

/* ------------------------------------------------------------------ streaming --- */

static void test_stream(void)
{
    fql_session *s = open_session();
    char src[1024];
    snprintf(src, sizeof src, "let n = from csv(\"%s\");\nfrom n | derive twice = id * 2 | select id, twice", numbers_csv(5000));
    fql_stmt *st = NULL;
    fql_error err;
    CHECK(fql_prepare(s, src, "stream.fql", &st, &err) == 0 && st, "prepare: %s", err.message);
    if (!st) { fql_close(s); return; }
    CHECK(fql_stmt_cols(st) == 2 && !strcmp(fql_stmt_column_name(st, 1), "twice") && fql_stmt_column_type(st, 1) == FQL_TYPE_INT, "columns before the first step");
    CHECK(fql_exec(s, "values [{a: 1}]", NULL, NULL, &err) == -1 && strstr(err.message, "prepared statement"), "busy session: %s", err.message);
    size_t total = 0, batches = 0, maxb = 0;
    int order = 1, rc;
    fql_result *b;
    while ((rc = fql_step(st, &b, &err)) == 1) {
        batches++;
        size_t n = fql_result_rows(b);
        if (n > maxb) maxb = n;
        for (size_t i = 0; i < n; i++)
            if (fql_result_int(b, i, 0) != (int64_t)(total + i + 1) || fql_result_int(b, i, 1) != 2 * (int64_t)(total + i + 1)) order = 0;
        total += n;
        fql_result_free(b);
    }
    CHECK(rc == 0, "step ends with 0: %s", err.message);
    CHECK(total == 5000 && order, "5000 rows in order (got %zu)", total);
    CHECK(batches >= 3 && maxb <= 2048, "%zu batches, the largest %zu rows", batches, maxb);
    fql_metrics m;
    CHECK(fql_stmt_metrics(st, &m) == 0 && m.rows == 5000, "metrics rows %lld", (long long)m.rows);
    CHECK(fql_step(st, &b, &err) == 0 && b == NULL, "a finished statement stays finished");
    fql_finalize(st);

    /* stopping early frees the session for other statements */
    CHECK(fql_prepare(s, "from n | select id", NULL, &st, &err) == 0, "prepare again: %s", err.message);
    CHECK(fql_step(st, &b, &err) == 1 && fql_result_rows(b) > 0, "one batch");
    fql_result_free(b);
    fql_finalize(st);
    fql_result *r = run_ok(s, "from n | where id == 4999 | select name");
    CHECK(r && !strcmp(fql_result_string(r, 0, 0), "n4999"), "the session runs again");
    fql_result_free(r);

    /* a last statement that does not stream (a let, a set) gives no rows; errors are reported */
    CHECK(fql_prepare(s, "let z = from n;", NULL, &st, &err) == 0 && fql_step(st, &b, &err) == 0, "no rows to step through");
    fql_finalize(st);
    CHECK(fql_prepare(s, "from n | select nope", "x.fql", &st, &err) == -1 && st == NULL && err.code == 3, "a bind error: %s", err.message);
    /* a session closed with a statement still open: finalize afterwards only frees it */
    CHECK(fql_prepare(s, "from n | select id", NULL, &st, &err) == 0, "prepare: %s", err.message);
    fql_close(s);
    fql_finalize(st);
}

/* ------------------------------------------------------------------ cancellation --- */

typedef struct { fql_session *s; int after_ms; } Interrupter;

static void *interrupt_later(void *arg)
{
    Interrupter *it = arg;
    sleep_ms(it->after_ms);
    fql_interrupt(it->s);
    return NULL;
}

/* spin(x) -> int: a slow synchronous function (10 ms a row). */
static int spin(void *ud, const fql_value *args, size_t nargs, fql_value *out, fql_error *err)
{
    (void)ud; (void)nargs; (void)err;
    sleep_ms(10);
    out->type = FQL_TYPE_INT;
    out->as.i = args[0].as.i;
    return 0;
}

static void test_cancel(void)
{
    Pool p;
    pool_start(&p, 8);
    p.hang = 1;
    fql_session *s = open_session();
    register_async(s, &p, 4, 0, 0);
    char src[1024];
    snprintf(src, sizeof src, "from csv(\"%s\") | derive sc = slow_score(id) | select id, sc", numbers_csv(100));
    Interrupter it = { s, 300 };
    pthread_t th;
    pthread_create(&th, NULL, interrupt_later, &it);
    double t0 = now_s();
    fql_error err;
    fql_result *r = NULL;
    int rc = fql_exec(s, src, NULL, &r, &err);
    double el = now_s() - t0;
    pthread_join(th, NULL);
    CHECK(rc == -1 && r == NULL && strstr(err.message, "interrupted"), "async: rc %d, %s", rc, err.message);
    CHECK(el < 3, "stopped %.2f s after starting (interrupt at 0.3 s)", el);

    /* the session works afterwards: the interrupt is not remembered */
    p.hang = 0;
    r = run_ok(s, "values [{a: 1}] | select slow_score(a) as x");
    CHECK(r && fql_result_int(r, 0, 0) == 10, "after an interrupt the next statement runs");
    fql_result_free(r);

    /* a synchronous function is interrupted between rows */
    register_fn(s, "spin", FQL_TYPE_INT, spin, NULL, 0);
    snprintf(src, sizeof src, "from csv(\"%s\") | select spin(id) as x", numbers_csv(5000));
    pthread_create(&th, NULL, interrupt_later, &it);
    t0 = now_s();
    rc = fql_exec(s, src, NULL, NULL, &err);
    el = now_s() - t0;
    pthread_join(th, NULL);
    CHECK(rc == -1 && strstr(err.message, "interrupted") && el < 5, "sync: rc %d after %.2f s: %s", rc, el, err.message);
    fql_close(s);
    pool_stop(&p);
}

/* ------------------------------------------------------------------ threads --- */

typedef struct { int id; const char *csv; int ok; char why[1100]; } ThreadRun;

static int square(void *ud, const fql_value *args, size_t nargs, fql_value *out, fql_error *err)
{
    (void)ud; (void)nargs; (void)err;
    out->type = FQL_TYPE_INT;
    out->as.i = args[0].as.i * args[0].as.i;
    return 0;
}

/* One session per thread, each with its own UDF registration and declarations. */
static void *session_thread(void *arg)
{
    ThreadRun *t = arg;
    fql_options o;
    fql_options_init(&o);
    o.db_path = ":memory:";
    o.progress = 0;
    fql_error err;
    fql_session *s = fql_open(&o, &err);
    if (!s) { snprintf(t->why, sizeof t->why, "open: %s", err.message); return NULL; }
    fql_udf_spec spec;   /* not register_fn: CHECK is for the main thread only */
    memset(&spec, 0, sizeof spec);
    spec.nargs = 1;
    spec.return_type = FQL_TYPE_INT;
    spec.fn = square;
    fql_register_udf(s, "square", &spec, &err);
    char src[1024];
    snprintf(src, sizeof src, "fn k(x) = x + %d;\nlet n = from csv(\"%s\");", t->id, t->csv);
    t->ok = fql_exec(s, src, NULL, NULL, &err) == 0;
    for (int round = 0; round < 5 && t->ok; round++) {
        fql_result *r = NULL;
        t->ok = fql_exec(s, "from n | derive g = id % 10 | group by g agg s = sum(k(square(id))), c = count(*) | order by g", NULL, &r, &err) == 0;
        if (!t->ok) break;
        int64_t want[10] = { 0 };
        for (int64_t i = 1; i <= 3000; i++) want[i % 10] += i * i + t->id;
        for (size_t g = 0; g < 10 && t->ok; g++)
            if (fql_result_int(r, g, 1) != want[g] || fql_result_int(r, g, 2) != 300) {
                t->ok = 0;
                snprintf(t->why, sizeof t->why, "group %zu: sum %lld, want %lld", g, (long long)fql_result_int(r, g, 1), (long long)want[g]);
            }
        fql_result_free(r);
    }
    if (!t->ok && !t->why[0]) snprintf(t->why, sizeof t->why, "%s", err.message);
    fql_close(s);
    return NULL;
}

static void test_two_threads(void)
{
    const char *csv = numbers_csv(3000);   /* made before the threads start */
    ThreadRun runs[2] = { { 1, csv, 0, "" }, { 2, csv, 0, "" } };
    pthread_t th[2];
    for (int i = 0; i < 2; i++) pthread_create(&th[i], NULL, session_thread, &runs[i]);
    for (int i = 0; i < 2; i++) pthread_join(th[i], NULL);
    for (int i = 0; i < 2; i++) CHECK(runs[i].ok, "thread %d: %s", i, runs[i].why);
}

/* ------------------------------------------------------------------ logging --- */

typedef struct { int n, warn, debug; char last[512]; } LogSink;

static void on_log(void *ud, int level, const char *msg)
{
    LogSink *l = ud;
    l->n++;
    if (level == FQL_LOG_WARN) l->warn++;
    if (level == FQL_LOG_DEBUG) l->debug++;
    snprintf(l->last, sizeof l->last, "%s", msg);
}

static void test_log(void)
{
    LogSink sink;
    memset(&sink, 0, sizeof sink);
    fql_options o;
    fql_options_init(&o);
    o.db_path = ":memory:";
    o.log = on_log;
    o.log_ud = &sink;
    o.log_level = FQL_LOG_DEBUG;
    fql_error err;
    fql_session *s = fql_open(&o, &err);
    SyncState st;
    memset(&st, 0, sizeof st);
    register_fn(s, "times_ten", FQL_TYPE_INT, times_ten, &st, 0);
    fql_result *r = run_ok(s, "values [{x: 12}, {x: 13}] | select times_ten(x) as t");
    fql_result_free(r);
    CHECK(sink.debug == 1 && sink.warn == 1, "one row failure (debug) and one summary (warn): %d %d", sink.debug, sink.warn);
    CHECK(strstr(sink.last, "failed") != NULL, "the summary: %s", sink.last);
    fql_close(s);
}

/* ------------------------------------------------------------------ http_get_json --- */

static int http_stat(const char *base, const char *what)
{
    fql_session *s = open_session();
    char src[512];
    snprintf(src, sizeof src, "values [{u: \"%s/stats\"}] | select http_get_json(u, retries: 0) as j | select j.%s as n", base, what);
    fql_result *r = run_ok(s, src);
    int n = r ? (int)fql_result_int(r, 0, 0) : -1;
    fql_result_free(r);
    snprintf(src, sizeof src, "values [{u: \"%s/reset\"}] | select http_get_json(u) as j", base);
    fql_result_free(run_ok(s, src));
    fql_close(s);
    return n;
}

static void test_http(void)
{
    const char *base = getenv("FQL_TEST_HTTP");
    CHECK(base != NULL, "FQL_TEST_HTTP is not set");
    if (!base) return;
    http_stat(base, "requests");
    fql_session *s = open_session();
    char src[2048];
    /* a score per customer: in order, at most max_concurrency requests open at once */
    snprintf(src, sizeof src, "from csv(\"%s\") | where id <= 30 | derive j = http_get_json(\"%s/score/\" || id || \"?delay=\" || (30 - id) * 5, max_concurrency: 4) "
             "| select id, j.score as sc", numbers_csv(100), base);
    fql_result *r = run_ok(s, src);
    int good = r && fql_result_rows(r) == 30;
    for (size_t i = 0; good && i < 30; i++) good = fql_result_int(r, i, 0) == (int64_t)i + 1 && fql_result_int(r, i, 1) == ((int64_t)i + 1) * 10;
    CHECK(good, "30 scores in order");
    CHECK(fql_result_column_type(r, 1) == FQL_TYPE_JSON, "json type");
    fql_result_free(r);
    int maxin = http_stat(base, "max_inflight");
    CHECK(maxin == 4, "the server saw %d requests at once (max_concurrency 4)", maxin);

    /* retries: 2 failures then success with retries: 2; a 404 is not retried; not-JSON fails */
    snprintf(src, sizeof src, "from csv(\"%s\") | where id <= 3 | derive a = http_get_json(\"%s/flaky/k\" || id || \"?fails=2&key=SECRET\"), "
             "b = http_get_json(\"%s/status/404\"), c = http_get_json(\"%s/text\"), d = http_get_json(\"%s/flaky/z\" || id || \"?fails=5\", retries: 1) "
             "| select id, a.attempts as att, b, c, d", numbers_csv(100), base, base, base, base);
    r = run_ok(s, src);
    CHECK(r && fql_result_int(r, 0, 1) == 3 && fql_result_int(r, 2, 1) == 3, "flaky answers after 3 attempts");
    CHECK(r && fql_result_is_null(r, 0, 2) && fql_result_is_null(r, 0, 3) && fql_result_is_null(r, 0, 4), "404, not JSON, too flaky: null");
    fql_metrics m;
    if (r) { fql_result_metrics(r, &m); CHECK(m.udf_failures == 9, "9 failed calls, got %lld", (long long)m.udf_failures); }
    fql_result_free(r);
    int reqs = http_stat(base, "requests");
    /* a: 3 rows x 3 attempts; b: 3 (404 not retried); c: 3; d: 3 x 2 (/stats is not counted) */
    CHECK(reqs == 9 + 3 + 3 + 6, "requests seen by the server: %d", reqs);
    r = run_ok(s, "from system.lm_errors | where model == \"http_get_json\" | select message | order by message");
    int has404 = 0, hasjson = 0, secret = 0;
    for (size_t i = 0; r && i < fql_result_rows(r); i++) {
        const char *msg = fql_result_string(r, i, 0);
        has404 |= strstr(msg, "HTTP 404") != NULL;
        hasjson |= strstr(msg, "not JSON") != NULL;
        secret |= strstr(msg, "SECRET") != NULL;
    }
    CHECK(has404 && hasjson && !secret, "reasons recorded (404 %d, json %d), no query string (%d)", has404, hasjson, secret);
    fql_result_free(r);

    /* timeout: the row is null, the statement does not wait for the slow answer */
    snprintf(src, sizeof src, "values [{i: 1}, {i: 2}] | select i, http_get_json(\"%s/score/\" || i || \"?delay=\" || (i - 1) * 3000, timeout: 0.5, retries: 0) as j",
             base);
    double t0 = now_s();
    r = run_ok(s, src);
    double el = now_s() - t0;
    CHECK(r && !fql_result_is_null(r, 0, 1) && fql_result_is_null(r, 1, 1), "the slow row is null");
    CHECK(el < 2.5, "took %.2f s", el);
    fql_result_free(r);
    r = run_ok(s, "from system.lm_errors | where kind == \"timeout\" | select row");
    CHECK(r && fql_result_rows(r) == 1 && fql_result_int(r, 0, 0) == 1, "a timeout recorded for row 1");
    fql_result_free(r);
    /* options must be constants and numbers */
    fql_error err;
    snprintf(src, sizeof src, "values [{i: 1}] | select http_get_json(\"%s/score/1\", timeout: i)", base);
    CHECK(fql_exec(s, src, NULL, NULL, &err) == -1 && strstr(err.message, "constant"), "non-constant option: %s", err.message);
    CHECK(fql_exec(s, "values [{i: 1}] | select http_get_json(i)", NULL, NULL, &err) == -1 && strstr(err.message, "string"), "url type: %s", err.message);
    fql_close(s);
}

/* ------------------------------------------------------------------ model metrics --- */

static void test_model_metrics(void)
{
    fql_session *s = open_session();
    fql_result *r = run_ok(s, "model fast = openai(\"gpt-4o-mini\");\n"
                              "values [{t: \"the checkout is broken\"}, {t: \"billing address change\"}, {t: \"the checkout is broken\"}]"
                              " | derive c = classify(t, [\"billing\", \"checkout\"], pack: 1) | select c");   /* one request a distinct row */
    CHECK(r && fql_result_rows(r) == 3 && !strcmp(fql_result_string(r, 0, 0), "checkout"), "classified");
    fql_metrics m;
    if (r) {
        fql_result_metrics(r, &m);
        CHECK(m.requests == 2 && m.input_tokens > 0 && m.output_tokens > 0 && m.cost_usd > 0 && m.time_ms > 0,
              "requests %lld, tokens %lld/%lld, cost %g, %g ms", (long long)m.requests, (long long)m.input_tokens,
              (long long)m.output_tokens, m.cost_usd, m.time_ms);
    }
    fql_result_free(r);
    fql_close(s);
}

/* The installed library finds its standard library under its prefix (the error names the place). */
static void test_stdlib(void)
{
    const char *prefix = getenv("FQL_TEST_PREFIX");
    fql_session *s = open_session();
    fql_error err;
    CHECK(fql_exec(s, "import std.no_such_module;", NULL, NULL, &err) == -1, "importing a missing module fails");
    char want[700];
    snprintf(want, sizeof want, "%s/share/fql/stdlib", prefix ? prefix : "?");
    CHECK(strstr(err.message, want) != NULL, "looked in the wrong place: %s", err.message);
    fql_close(s);
}

int main(void)
{
    const char *d = getenv("FQL_TEST_DIR");
    snprintf(dir, sizeof dir, "%s", d ? d : "/tmp");
    run("results", test_results);
    if (getenv("FQL_TEST_PREFIX")) run("stdlib under the install prefix", test_stdlib);
    run("errors", test_errors);
    run("sync UDF: values, null on failure, retries, recorded reason", test_sync_udf);
    run("async UDF: order kept, max_concurrency respected", test_async_udf);
    run("async UDF: retries, timeout gives null, fql_close waits", test_async_retry_timeout);
    run("streaming: prepare and step", test_stream);
    run("cancellation from another thread", test_cancel);
    run("two sessions in two threads", test_two_threads);
    run("logging callback", test_log);
    run("http_get_json against a local server", test_http);
    if (getenv("FQL_TEST_SIM")) run("model metrics (fql-sim)", test_model_metrics);
    return check_summary();
}
