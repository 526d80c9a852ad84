/* pool_test.c: pool.c's ordered parallel map and fork-join run: results leave in input order
 * whatever order the workers finish in, the first failure by input order wins (a later item that
 * fails first does not), a source error waits for the results before it, at most `window` items
 * are in flight, a map freed early frees what is in flight, and pool_run calls every id once. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "pool.h"
#include "check.h"

/* Items are ints (malloc'd); the work doubles them after a delay that makes later items finish
 * first; an item equal to fail_at fails (and so does fail_late, after no delay); the source
 * fails after src_fail items when src_fail >= 0. */
typedef struct Ctx {
    int n, next, fail_at, fail_late, src_fail;
    int in_flight, max_in_flight;
    pthread_mutex_t mu;
} Ctx;

static int pull(void *ctx, void **in, fql_error *err)
{
    Ctx *c = ctx;
    if (c->src_fail >= 0 && c->next == c->src_fail) return err_set(err, FQL_ERR_IO, "source failed at %d", c->next);
    if (c->next == c->n) return 0;
    int *x = malloc(sizeof *x);
    *x = c->next++;
    pthread_mutex_lock(&c->mu);
    if (++c->in_flight > c->max_in_flight) c->max_in_flight = c->in_flight;
    pthread_mutex_unlock(&c->mu);
    *in = x;
    return 1;
}

static int work(void *ctx, int worker, void *in, void **out, fql_error *err)
{
    Ctx *c = ctx;
    int *x = in;
    (void)worker;
    if (*x == c->fail_late) { int v = *x; free(x); return err_set(err, FQL_ERR_RUNTIME, "item %d failed", v); }
    usleep((useconds_t)((*x % 4 == 0) ? 3000 : 100));   /* every fourth item is slow */
    if (*x == c->fail_at) { int v = *x; free(x); return err_set(err, FQL_ERR_RUNTIME, "item %d failed", v); }
    *x *= 2;
    *out = x;
    return 0;
}

static void drop(void *item) { free(item); }

static Ctx ctx_new(int n)
{
    Ctx c;
    memset(&c, 0, sizeof c);
    c.n = n;
    c.fail_at = c.fail_late = c.src_fail = -1;
    pthread_mutex_init(&c.mu, NULL);
    return c;
}

/* Drain m: the results in order into got (up to max); returns the final rc. */
static int drain(ParMap *m, Ctx *c, int *got, int max, int *ngot, fql_error *err)
{
    void *o;
    int rc;
    *ngot = 0;
    while ((rc = parmap_next(m, &o, err)) == 1) {
        if (*ngot < max) got[*ngot] = *(int *)o;
        (*ngot)++;
        free(o);
        pthread_mutex_lock(&c->mu);
        c->in_flight--;
        pthread_mutex_unlock(&c->mu);
    }
    return rc;
}

static void test_order(void)
{
    for (int threads = 2; threads <= 5; threads += 3) {
        Ctx c = ctx_new(200);
        fql_error err;
        memset(&err, 0, sizeof err);
        ParMap *m = parmap_new(threads, 3, pull, work, drop, drop, &c);
        int got[200], n;
        int rc = drain(m, &c, got, 200, &n, &err);
        CHECK(rc == 0 && n == 200, "threads %d: rc %d, %d results", threads, rc, n);
        for (int i = 0; i < n && i < 200; i++) CHECK(got[i] == 2 * i, "threads %d: result %d is %d", threads, i, got[i]);
        CHECK(parmap_threads(m) == threads, "threads used %d of %d", parmap_threads(m), threads);
        CHECK(c.max_in_flight <= 3 + 1, "%d items in flight with a window of 3", c.max_in_flight);
        parmap_free(m);
    }
}

static void test_first_error_wins(void)
{
    Ctx c = ctx_new(100);
    c.fail_at = 40;      /* slow to fail (40 % 4 == 0) */
    c.fail_late = 41;    /* fails at once, after 40 */
    fql_error err;
    memset(&err, 0, sizeof err);
    ParMap *m = parmap_new(4, 0, pull, work, drop, drop, &c);
    int got[100], n;
    int rc = drain(m, &c, got, 100, &n, &err);
    CHECK(rc == -1 && n == 40, "rc %d after %d results (want -1 after 40)", rc, n);
    CHECK(strstr(err.message, "item 40 failed") != NULL, "error '%s'", err.message);
    parmap_free(m);   /* items still in flight are freed (ASan: no leak) */
}

static void test_source_error_waits(void)
{
    Ctx c = ctx_new(100);
    c.src_fail = 30;
    fql_error err;
    memset(&err, 0, sizeof err);
    ParMap *m = parmap_new(3, 0, pull, work, drop, drop, &c);
    int got[100], n;
    int rc = drain(m, &c, got, 100, &n, &err);
    CHECK(rc == -1 && n == 30, "rc %d after %d results (want -1 after 30)", rc, n);
    CHECK(strstr(err.message, "source failed at 30") != NULL, "error '%s'", err.message);
    parmap_free(m);
}

static void test_free_early(void)
{
    Ctx c = ctx_new(1000);
    fql_error err;
    memset(&err, 0, sizeof err);
    ParMap *m = parmap_new(3, 0, pull, work, drop, drop, &c);
    void *o;
    CHECK(parmap_next(m, &o, &err) == 1 && *(int *)o == 0, "first result");
    free(o);
    parmap_free(m);   /* with inputs queued and results done: all freed */
}

static void test_one_item_no_thread(void)
{
    Ctx c = ctx_new(1);
    fql_error err;
    memset(&err, 0, sizeof err);
    ParMap *m = parmap_new(4, 0, pull, work, drop, drop, &c);
    int got[1], n;
    int rc = drain(m, &c, got, 1, &n, &err);
    CHECK(rc == 0 && n == 1 && got[0] == 0, "rc %d n %d", rc, n);
    CHECK(parmap_threads(m) == 1, "%d threads for one item", parmap_threads(m));
    parmap_free(m);
}

static void count_id(void *ctx, int id)
{
    int *seen = ctx;
    __atomic_add_fetch(&seen[id], 1, __ATOMIC_RELAXED);
}

static void test_pool_run(void)
{
    int seen[7] = { 0 };
    pool_run(7, count_id, seen);
    for (int i = 0; i < 7; i++) CHECK(seen[i] == 1, "id %d ran %d times", i, seen[i]);
    CHECK(pool_cores() >= 1, "cores %d", pool_cores());
}

int main(void)
{
    run("order", test_order);
    run("first_error_wins", test_first_error_wins);
    run("source_error_waits", test_source_error_waits);
    run("free_early", test_free_early);
    run("one_item_no_thread", test_one_item_no_thread);
    run("pool_run", test_pool_run);
    return check_summary();
}
