/* ratelimit_test.c: unit tests of the token bucket and the retry backoff (ratelimit.c). The clock
 * is simulated: every test replays a schedule of times. Prints `ok NAME` or `FAIL NAME: reason` per
 * test and a closing `N passed, M failed`; exits nonzero on failure. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "runtime.h"
#include "check.h"


#define NEAR(a, b, eps) (fabs((a) - (b)) <= (eps))


/* splitmix64, for reproducible draws in [0,1) */
static uint64_t rng_state = 42;
static double urand(void)
{
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    z ^= z >> 31;
    return (double)(z >> 11) / 9007199254740992.0;
}

static void test_init(void)
{
    Bucket b;
    bucket_init(&b, 600, 5.0);
    CHECK(NEAR(b.rate, 10, 1e-12), "rate %g, want 10/s", b.rate);
    CHECK(NEAR(b.capacity, 10, 1e-12), "capacity %g, want one second (10)", b.capacity);
    CHECK(NEAR(b.level, 10, 1e-12) && b.last == 5.0, "a new bucket is full at its start time");
    bucket_init(&b, 30, 0);   /* half a unit a second: capacity still holds one request */
    CHECK(NEAR(b.capacity, 1, 1e-12), "capacity %g, want at least 1", b.capacity);
    CHECK(bucket_take(&b, 1, 0) && !bucket_take(&b, 1, 0), "one request at once, not two");
    CHECK(NEAR(bucket_wait(&b, 1, 0), 2, 1e-9), "the next one in 2 s, got %g", bucket_wait(&b, 1, 0));
    bucket_init(&b, 0, 0);    /* no limit */
    for (int i = 0; i < 1000; i++) CHECK(bucket_take(&b, 1e9, 0), "an unlimited bucket refused");
    CHECK(bucket_wait(&b, 1e12, 0) == 0, "an unlimited bucket made a caller wait");
}

/* A greedy client: at each step take 1 if possible, else jump to when it can. Returns the send
 * times (n of them). */
static double *greedy(Bucket *b, int n, double t0)
{
    double *ts = malloc((size_t)n * sizeof *ts), t = t0;
    for (int i = 0; i < n; i++) {
        double w = bucket_wait(b, 1, t);
        t += w;
        if (!bucket_take(b, 1, t)) { CHECK(0, "take failed at the time wait promised (%.9f)", t); break; }
        ts[i] = t;
    }
    return ts;
}

/* The most sends in any half-open window (t - span, t]. */
static int max_in_window(const double *ts, int n, double span)
{
    int best = 0;
    for (int i = 0, j = 0; i < n; i++) {
        while (ts[j] <= ts[i] - span) j++;
        if (i - j + 1 > best) best = i - j + 1;
    }
    return best;
}

static void test_pacing(void)
{
    /* 600 per minute, one second of capacity: a burst of 10, then one every 100 ms */
    Bucket b;
    bucket_init(&b, 600, 0);
    double *ts = greedy(&b, 610, 0);
    CHECK(ts[9] == 0 && ts[10] > 0, "the first 10 go at once");
    for (int i = 11; i < 610; i++)
        CHECK(NEAR(ts[i] - ts[i - 1], 0.1, 1e-9), "gap %d is %g, want 0.1", i, ts[i] - ts[i - 1]);
    CHECK(NEAR(ts[609], 60, 1e-6), "610 requests in 60 s (10 + 600), last at %g", ts[609]);
    CHECK(max_in_window(ts, 610, 60) <= 610, "more than capacity + a minute's worth in 60 s");
    CHECK(max_in_window(ts, 610, 1) <= 20, "more than capacity + a second's worth in 1 s");
    free(ts);
    /* the scheduler's narrow capacity: even spacing, never more than the per-second limit in a second */
    bucket_init(&b, 3000 * 0.97, 0);
    b.capacity = b.rate * 0.03 > 1 ? b.rate * 0.03 : 1;
    b.level = b.capacity;
    ts = greedy(&b, 3000, 0);
    int w1 = max_in_window(ts, 3000, 1), w60 = max_in_window(ts, 3000, 60);
    CHECK(w1 <= 50, "%d in one second at 3000 RPM (limit 50)", w1);
    CHECK(w60 <= 3000, "%d in 60 s (limit 3000)", w60);
    CHECK(ts[2999] < 3000 / 48.5 + 0.05, "3000 requests took %g s at 48.5/s", ts[2999]);
    free(ts);
}

static void test_capacity(void)
{
    Bucket b;
    bucket_init(&b, 120, 0);          /* 2/s, capacity 2 */
    CHECK(bucket_take(&b, 2, 0), "a full bucket gives its capacity");
    CHECK(!bucket_take(&b, 1, 0.25), "empty: half a unit after 0.25 s");
    CHECK(bucket_take(&b, 1, 0.5), "one unit after 0.5 s");
    /* a long idle fills it only up to the capacity */
    CHECK(bucket_take(&b, 2, 1000) && !bucket_take(&b, 0.5, 1000), "idle time is not banked beyond the capacity");
    /* a request larger than the capacity passes on a full bucket and leaves a debt */
    bucket_init(&b, 600, 0);          /* 10/s, capacity 10 */
    CHECK(bucket_wait(&b, 25, 0) == 0, "a large request must not wait on a full bucket");
    CHECK(bucket_take(&b, 25, 0), "a large request passes on a full bucket");
    CHECK(NEAR(b.level, -15, 1e-9), "level %g, want -15 (the debt)", b.level);
    CHECK(NEAR(bucket_wait(&b, 1, 0), 1.6, 1e-9), "the debt is paid first: wait %g, want 1.6", bucket_wait(&b, 1, 0));
    CHECK(NEAR(bucket_wait(&b, 25, 0), 2.5, 1e-9), "the next large one waits for a full bucket: %g", bucket_wait(&b, 25, 0));
    bucket_init(&b, 600, 0);
    CHECK(bucket_take(&b, 5, 0), "take 5 of 10");
    CHECK(!bucket_take(&b, 25, 0), "a large request waits for a full bucket, not for any level");
}

static void test_refund(void)
{
    Bucket b;
    bucket_init(&b, 6000, 0);         /* 100/s, capacity 100 */
    CHECK(bucket_take(&b, 80, 0), "take 80");
    bucket_give(&b, 30, 0);
    CHECK(NEAR(b.level, 50, 1e-9), "level %g after a refund of 30, want 50", b.level);
    bucket_give(&b, 500, 0.1);        /* refill 10 then refund: capped */
    CHECK(NEAR(b.level, 100, 1e-9), "a refund is capped at the capacity, level %g", b.level);
    CHECK(bucket_take(&b, 100, 0.1), "take all");
    bucket_give(&b, -40, 0.1);        /* a debit: usage above the reservation */
    CHECK(NEAR(b.level, -40, 1e-9), "a debit leaves level %g, want -40", b.level);
    CHECK(NEAR(bucket_wait(&b, 10, 0.1), 0.5, 1e-9), "after a debit of 40 a take of 10 waits 0.5 s, got %g",
          bucket_wait(&b, 10, 0.1));
    /* refunds make room for exactly what was returned */
    bucket_init(&b, 6000, 0);
    CHECK(bucket_take(&b, 100, 0), "drain");
    bucket_give(&b, 20, 0);
    CHECK(bucket_take(&b, 20, 0) && !bucket_take(&b, 1, 0), "the refund and no more");
}

static void test_wait(void)
{
    Bucket b;
    bucket_init(&b, 60, 10);          /* 1/s, capacity 1 */
    CHECK(bucket_take(&b, 1, 10), "first");
    CHECK(NEAR(bucket_wait(&b, 1, 10), 1, 1e-12), "wait %g, want 1", bucket_wait(&b, 1, 10));
    CHECK(NEAR(bucket_wait(&b, 1, 10.25), 0.75, 1e-12), "wait %g, want 0.75", bucket_wait(&b, 1, 10.25));
    CHECK(NEAR(bucket_wait(&b, 0.5, 10.25), 0.25, 1e-12), "partial amounts wait less");
    CHECK(bucket_wait(&b, 1, 11) == 0, "ready after the wait");
    CHECK(bucket_wait(&b, 0, 10) == 0 && bucket_take(&b, 0, 10), "nothing needs no wait");
    /* bucket_wait does not change the bucket; a clock that goes back changes nothing */
    Bucket c = b;
    (void)bucket_wait(&b, 1, 99);
    CHECK(!memcmp(&b, &c, sizeof b), "bucket_wait modified the bucket");
    CHECK(!bucket_take(&b, 1, 9), "a clock that went back refilled the bucket");
    /* waking at the promised time always succeeds, at awkward rates and times */
    for (int i = 0; i < 2000; i++) {
        bucket_init(&b, 1 + urand() * 1e6, urand() * 1e5);
        double t = b.last, amt = 1 + urand() * b.capacity * 2;
        for (int k = 0; k < 5; k++) {
            t += bucket_wait(&b, amt, t);
            if (!bucket_take(&b, amt, t)) { CHECK(0, "take failed at the promised time (rate %g, amount %g)", b.rate, amt); break; }
        }
    }
}

static void test_backoff_bounds(void)
{
    CHECK(backoff_delay(0, 0.5, 30, 0) == 0, "u = 0 gives no wait");
    CHECK(NEAR(backoff_delay(0, 0.5, 30, 0.999999), 0.5, 1e-5), "attempt 0 is at most the base");
    CHECK(NEAR(backoff_delay(3, 0.5, 30, 0.5), 2, 1e-12), "attempt 3, u 0.5: %g, want 2", backoff_delay(3, 0.5, 30, 0.5));
    for (int a = 0; a < 80; a++) {
        double hi = fmin(30, 0.5 * pow(2, a));
        for (int k = 0; k < 200; k++) {
            double d = backoff_delay(a, 0.5, 30, urand());
            CHECK(d >= 0 && d < hi + 1e-12, "attempt %d: %g outside [0, %g)", a, d, hi);
        }
    }
    CHECK(backoff_delay(1000, 0.5, 30, 0.999) <= 30, "the cap holds for huge attempt numbers");
    CHECK(backoff_delay(-3, 0.5, 30, 0.999) <= 0.5, "a negative attempt counts as the first");
    CHECK(backoff_delay(2, 0.5, 30, 1.0) < 2 && backoff_delay(2, 0.5, 30, 1.0) > 1.99, "u = 1 is clamped just below 1");
}

static void test_backoff_distribution(void)
{
    /* full jitter: uniform on [0, hi): mean hi/2, each quarter a quarter of the draws */
    int attempts[] = { 0, 2, 4, 6, 9 };
    for (size_t i = 0; i < sizeof attempts / sizeof attempts[0]; i++) {
        int a = attempts[i];
        double hi = fmin(30, 0.5 * pow(2, a)), sum = 0;
        int q[4] = { 0 }, n = 40000;
        for (int k = 0; k < n; k++) {
            double d = backoff_delay(a, 0.5, 30, urand());
            sum += d;
            int j = (int)(d / hi * 4);
            q[j > 3 ? 3 : j]++;
        }
        CHECK(NEAR(sum / n, hi / 2, hi * 0.01), "attempt %d: mean %g, want %g", a, sum / n, hi / 2);
        for (int j = 0; j < 4; j++)
            CHECK(abs(q[j] - n / 4) < n / 50, "attempt %d: quarter %d holds %d of %d", a, j, q[j], n);
    }
    /* the expected total wait of 5 retries (6 attempts): 0.25+0.5+1+2+4 = 7.75 s */
    double total = 0;
    int trials = 20000;
    for (int t = 0; t < trials; t++)
        for (int a = 0; a < 5; a++) total += backoff_delay(a, 0.5, 30, urand());
    CHECK(NEAR(total / trials, 7.75, 0.15), "5 retries wait %g s on average, want 7.75", total / trials);
}

int main(void)
{
    run("bucket_init", test_init);
    run("bucket_pacing", test_pacing);
    run("bucket_capacity", test_capacity);
    run("bucket_refund", test_refund);
    run("bucket_wait", test_wait);
    run("backoff_bounds", test_backoff_bounds);
    run("backoff_distribution", test_backoff_distribution);
    return check_summary();
}
