/* ratelimit.c: the token bucket that paces requests under a per-minute limit, and the retry
 * backoff. Pure arithmetic: the caller passes the clock (seconds on any monotonic scale) and the
 * random draw, so the unit tests can replay any schedule.
 *
 * A bucket refills continuously at limit/60 per second up to its capacity. bucket_init makes the
 * capacity one second's worth (at least one unit); a caller that wants finer pacing lowers
 * b->capacity afterwards (the scheduler does: see sched.c, "Pacing").
 *
 * Requests larger than the capacity: such a request can never find that much in the bucket, so it
 * passes when the bucket is full and leaves the level negative (a debt the refill pays back before
 * anything else passes). That keeps the long-run rate exact while letting any single request
 * through, as providers do ("a single request larger than the one-second allowance is admitted
 * when the window is empty"). A rate of 0 means no limit: everything passes at once.
 */
#include <math.h>
#include "runtime.h"

/* Tolerance for comparing levels computed from clocks: a waiter woken at exactly the computed time
 * must find the bucket ready despite rounding. */
#define LEVEL_EPS 1e-9

/* Bring b's level up to date at time now (time never runs backwards for a bucket). */
static void refill(Bucket *b, double now)
{
    if (now <= b->last) return;
    if (b->rate > 0) {
        b->level += b->rate * (now - b->last);
        if (b->level > b->capacity) b->level = b->capacity;
    }
    b->last = now;
}

/* A bucket for per_minute units a minute, full at time now. */
void bucket_init(Bucket *b, double per_minute, double now)
{
    b->rate = per_minute > 0 ? per_minute / 60.0 : 0;
    b->capacity = b->rate > 1 ? b->rate : 1;
    b->level = b->capacity;
    b->last = now;
}

/* The level amount must reach before it may be taken: amount, or a full bucket when amount is
 * more than the bucket holds. */
static double needed(const Bucket *b, double amount)
{
    return amount < b->capacity ? amount : b->capacity;
}

/* Seconds from now until amount can be taken (0 = now). */
double bucket_wait(const Bucket *b, double amount, double now)
{
    if (b->rate <= 0 || amount <= 0) return 0;
    double level = b->level;
    if (now > b->last) {
        level += b->rate * (now - b->last);
        if (level > b->capacity) level = b->capacity;
    }
    double need = needed(b, amount);
    if (level >= need - LEVEL_EPS * (need > 1 ? need : 1)) return 0;
    return (need - level) / b->rate;
}

/* Take amount if it is available now: 1 taken, 0 not (nothing changes but the refill). */
int bucket_take(Bucket *b, double amount, double now)
{
    if (b->rate <= 0) return 1;
    refill(b, now);
    if (amount <= 0) return 1;
    double need = needed(b, amount);
    if (b->level < need - LEVEL_EPS * (need > 1 ? need : 1)) return 0;
    b->level -= amount;
    return 1;
}

/* Give amount back (a reservation larger than the use), capped at the capacity. A negative
 * amount is a debit (the use was larger than the reservation): the level may go below zero. */
void bucket_give(Bucket *b, double amount, double now)
{
    if (b->rate <= 0) return;
    refill(b, now);
    b->level += amount;
    if (b->level > b->capacity) b->level = b->capacity;
}

/* Exponential backoff with full jitter: u * min(cap, base * 2^attempt), attempt counted from 0. */
double backoff_delay(int attempt, double base, double cap, double u)
{
    if (attempt < 0) attempt = 0;
    if (u < 0) u = 0;
    if (u >= 1) u = nextafter(1.0, 0.0);
    double hi = attempt >= 60 ? cap : base * ldexp(1.0, attempt);
    if (hi > cap) hi = cap;
    return u * hi;
}
