/* shared_limits.c: a model's limits as buckets in Redis, shared by every process that names the
 * same Redis, provider, base URL, key and model (shared.h).
 *
 * One Redis hash per model ("fql:{H:MODEL}:lim") holds the four buckets (requests, tokens, input,
 * output tokens: level and time of the last refill), the shared AIMD factor, when it was last cut
 * and when the last rate-limit answer came, the pause every process keeps after one, and the stop
 * set by a quota-exhausted answer. A sorted set ("...:procs") holds the processes seen taking in
 * the last PROCS_S seconds: N, for the fallback to local pacing at 1/N.
 *
 * Every change is one Lua script, atomic on the server, refilling from the server's clock (TIME):
 * the processes' clocks never meet. The buckets are the scheduler's (sched.c, "Pacing"): rate =
 * limit × PACE × factor / 60 per second, capacity BURST_S of the rate (at least one unit), a
 * request larger than the capacity passes on a full bucket and leaves a debt; so N processes pace
 * together exactly as one does alone. Amounts and times cross as decimal strings (Lua numbers are
 * doubles; Redis would truncate a returned number to an integer).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "shared.h"

#define PROCS_S "10"     /* seconds: a process that took nothing for this long no longer counts in N */
#define KEEP_S  "3600"   /* seconds: the keys expire after an hour unused */

/* KEYS: lim hash, procs zset. ARGV: 4 limits per minute (0 = none), 4 amounts, pace, burst_s,
 * process id, this process's start (server seconds; 0 = now).
 * Returns { status (0 go, 1 wait, 2 stop), wait seconds or the stop message, now, N, factor }. */
static SharedScript take_lua = { .src =
    "local t = redis.call('TIME')\n"
    "local now = tonumber(t[1]) + tonumber(t[2]) / 1e6\n"
    "local k = KEYS[1]\n"
    "local h = redis.call('HMGET', k, 'f', 'pause', 'stop', 'stopat', 'l1', 't1', 'l2', 't2', 'l3', 't3', 'l4', 't4')\n"
    "local f = tonumber(h[1]) or 1\n"
    "local pace, burst = tonumber(ARGV[9]), tonumber(ARGV[10])\n"
    "local start = tonumber(ARGV[12])\n"
    "if start <= 0 then start = now end\n"
    "redis.call('ZADD', KEYS[2], now, ARGV[11])\n"
    "redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - " PROCS_S ")\n"
    "redis.call('EXPIRE', KEYS[2], " KEEP_S ")\n"
    "local procs = redis.call('ZCARD', KEYS[2])\n"
    "if h[3] and (tonumber(h[4]) or 0) >= start then return {2, h[3], tostring(now), procs, tostring(f)} end\n"
    "local wait = 0\n"
    "local pause = tonumber(h[2]) or 0\n"
    "if pause > now then wait = pause - now end\n"
    "local lv = {}\n"
    "for i = 1, 4 do\n"
    "  local L, a = tonumber(ARGV[i]), tonumber(ARGV[4 + i])\n"
    "  if L > 0 then\n"
    "    local rate = L * pace * f / 60\n"
    "    local cap = math.max(rate * burst, 1)\n"
    "    local l, last = tonumber(h[3 + 2 * i]), tonumber(h[4 + 2 * i])\n"
    "    if l == nil or last == nil then l, last = cap, now end\n"
    "    if now > last then l = l + rate * (now - last) end\n"
    "    if l > cap then l = cap end\n"
    "    lv[i] = l\n"
    "    if a > 0 then\n"
    "      local need = math.min(a, cap)\n"
    "      if l < need - 1e-9 * math.max(need, 1) then wait = math.max(wait, (need - l) / rate) end\n"
    "    end\n"
    "  end\n"
    "end\n"
    "if wait > 0 then return {1, tostring(wait), tostring(now), procs, tostring(f)} end\n"
    "for i = 1, 4 do\n"
    "  if lv[i] then redis.call('HSET', k, 'l' .. i, tostring(lv[i] - tonumber(ARGV[4 + i])), 't' .. i, tostring(now)) end\n"
    "end\n"
    "redis.call('EXPIRE', k, " KEEP_S ")\n"
    "return {0, '0', tostring(now), procs, tostring(f)}\n"
};

/* KEYS: lim hash. ARGV: 4 limits, 4 deltas (given back; negative: a debit), pace, burst_s.
 * Refills each bucket to now, adds its delta, caps at the capacity. Returns the factor. */
static SharedScript give_lua = { .src =
    "local t = redis.call('TIME')\n"
    "local now = tonumber(t[1]) + tonumber(t[2]) / 1e6\n"
    "local k = KEYS[1]\n"
    "local h = redis.call('HMGET', k, 'f', 'l1', 't1', 'l2', 't2', 'l3', 't3', 'l4', 't4')\n"
    "local f = tonumber(h[1]) or 1\n"
    "local pace, burst = tonumber(ARGV[9]), tonumber(ARGV[10])\n"
    "for i = 1, 4 do\n"
    "  local L, d = tonumber(ARGV[i]), tonumber(ARGV[4 + i])\n"
    "  if L > 0 and d ~= 0 then\n"
    "    local rate = L * pace * f / 60\n"
    "    local cap = math.max(rate * burst, 1)\n"
    "    local l, last = tonumber(h[2 * i]), tonumber(h[2 * i + 1])\n"
    "    if l == nil or last == nil then l, last = cap, now end\n"
    "    if now > last then l = l + rate * (now - last) end\n"
    "    l = math.min(cap, l + d)\n"
    "    redis.call('HSET', k, 'l' .. i, tostring(l), 't' .. i, tostring(now))\n"
    "  end\n"
    "end\n"
    "return tostring(f)\n"
};

/* KEYS: lim hash. ARGV: sent (server seconds of the refused request's take), wait seconds,
 * edge factor, quiet seconds, least factor. Cuts the factor once per episode (a request taken
 * before the last cut does not cut again), pauses everyone for wait. Returns the factor. */
static SharedScript limited_lua = { .src =
    "local t = redis.call('TIME')\n"
    "local now = tonumber(t[1]) + tonumber(t[2]) / 1e6\n"
    "local k = KEYS[1]\n"
    "local h = redis.call('HMGET', k, 'f', 'cut', 'lim', 'pause')\n"
    "local f = tonumber(h[1]) or 1\n"
    "local cut, lim, pause = tonumber(h[2]) or -1e18, tonumber(h[3]) or -1e18, tonumber(h[4]) or 0\n"
    "local sent, wait = tonumber(ARGV[1]), tonumber(ARGV[2])\n"
    "if sent >= cut then\n"
    "  local edge = now - lim > tonumber(ARGV[4])\n"
    "  f = math.max(tonumber(ARGV[5]), f * (edge and tonumber(ARGV[3]) or 0.5))\n"
    "  redis.call('HSET', k, 'f', tostring(f), 'cut', tostring(now))\n"
    "end\n"
    "redis.call('HSET', k, 'lim', tostring(now))\n"
    "if now + wait > pause then redis.call('HSET', k, 'pause', tostring(now + wait)) end\n"
    "redis.call('EXPIRE', k, " KEEP_S ")\n"
    "return tostring(f)\n"
};

/* KEYS: lim hash. ARGV: sent, step. Adds step to the factor (up to 1) unless it was cut after
 * sent. Returns the factor. */
static SharedScript grow_lua = { .src =
    "local k = KEYS[1]\n"
    "local h = redis.call('HMGET', k, 'f', 'cut')\n"
    "local f = tonumber(h[1]) or 1\n"
    "if f < 1 and tonumber(ARGV[1]) > (tonumber(h[2]) or -1e18) then\n"
    "  f = math.min(1, f + tonumber(ARGV[2]))\n"
    "  redis.call('HSET', k, 'f', tostring(f))\n"
    "end\n"
    "return tostring(f)\n"
};

/* KEYS: lim hash. ARGV: message. Every process that started taking before now stops. */
static SharedScript stop_lua = { .src =
    "local t = redis.call('TIME')\n"
    "local now = tonumber(t[1]) + tonumber(t[2]) / 1e6\n"
    "redis.call('HSET', KEYS[1], 'stop', ARGV[1], 'stopat', tostring(now))\n"
    "redis.call('EXPIRE', KEYS[1], 86400)\n"
    "return 1\n"
};

/* Make sl's key names on first use. */
static void keys_of(const LmModel *m, SharedLimit *sl, char **lim, char **procs)
{
    if (!sl->prefix) {
        sl->prefix = shared_key(m, "");
        if (sl->factor <= 0) sl->factor = 1;
        if (sl->procs < 1) sl->procs = 1;
    }
    *lim = xasprintf("%slim", sl->prefix);
    *procs = xasprintf("%sprocs", sl->prefix);
}

static double reply_num(const redisReply *r)
{
    if (!r) return 0;
    if (r->type == REDIS_REPLY_INTEGER) return (double)r->integer;
    if (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS) return strtod(r->str, NULL);
    return 0;
}

/* The four limits of m as script arguments (buffers of 32 bytes each). */
static void limits_args(const LmModel *m, char buf[4][32])
{
    double lim[4] = { m->rpm, m->tpm, m->input_tpm, m->output_tpm };
    for (int i = 0; i < 4; i++) snprintf(buf[i], 32, "%.17g", lim[i] > 0 ? lim[i] : 0);
}

SharedTake shared_take(SharedConn *c, const LmModel *m, SharedLimit *sl, const double amt[4], double pace,
                       double burst_s, double *wait_s, double *sent_us, char **msg)
{
    char *lim, *procs;
    keys_of(m, sl, &lim, &procs);
    char a[12][32];
    limits_args(m, a);
    for (int i = 0; i < 4; i++) snprintf(a[4 + i], 32, "%.17g", amt[i]);
    snprintf(a[8], 32, "%.17g", pace);
    snprintf(a[9], 32, "%.17g", burst_s);
    snprintf(a[11], 32, "%.6f", sl->start_us / 1e6);
    const char *args[12];
    for (int i = 0; i < 12; i++) args[i] = a[i];
    args[10] = shared_proc_id(c);
    const char *keys[2] = { lim, procs };
    redisReply *r = shared_eval(c, &take_lua, 2, keys, 12, args, msg);
    free(lim);
    free(procs);
    if (!r) return SHL_ERROR;
    if (r->type != REDIS_REPLY_ARRAY || r->elements < 5) {
        *msg = xasprintf("the shared state at %s gave an unexpected answer to a take", shared_url(c));
        freeReplyObject(r);
        return SHL_ERROR;
    }
    int status = (int)reply_num(r->element[0]);
    double now = reply_num(r->element[2]);
    sl->procs = (int)fmax(1, reply_num(r->element[3]));
    sl->factor = reply_num(r->element[4]);
    if (sl->factor <= 0) sl->factor = 1;
    SharedTake res;
    if (status == 2) {
        const redisReply *e = r->element[1];
        *msg = xasprintf("stopped: another process sharing the limits at %s was refused: %s", shared_url(c),
                         e->type == REDIS_REPLY_STRING ? e->str : "quota exhausted");
        res = SHL_STOP;
    } else if (status == 1) {
        *wait_s = reply_num(r->element[1]);
        res = SHL_WAIT;
    } else {
        if (sl->start_us <= 0) sl->start_us = now * 1e6;
        *sent_us = now * 1e6;
        *wait_s = 0;
        res = SHL_GO;
    }
    freeReplyObject(r);
    return res;
}

/* Runs script on model m's limit key with args, and reads back the shared factor it answers into
 * sl->factor (1 when none). 0, or -1 with *msg. */
static int eval_factor(SharedConn *c, SharedScript *script, const LmModel *m, SharedLimit *sl, int nargs,
                       const char *const *args, char **msg)
{
    char *lim, *procs;
    keys_of(m, sl, &lim, &procs);
    const char *keys[1] = { lim };
    redisReply *r = shared_eval(c, script, 1, keys, nargs, args, msg);
    free(lim);
    free(procs);
    if (!r) return -1;
    sl->factor = reply_num(r);
    if (sl->factor <= 0) sl->factor = 1;
    freeReplyObject(r);
    return 0;
}

int shared_give(SharedConn *c, const LmModel *m, SharedLimit *sl, const double delta[4], double pace,
                double burst_s, char **msg)
{
    if (!delta[0] && !delta[1] && !delta[2] && !delta[3]) return 0;
    char a[10][32];
    limits_args(m, a);
    for (int i = 0; i < 4; i++) snprintf(a[4 + i], 32, "%.17g", delta[i]);
    snprintf(a[8], 32, "%.17g", pace);
    snprintf(a[9], 32, "%.17g", burst_s);
    const char *args[10];
    for (int i = 0; i < 10; i++) args[i] = a[i];
    return eval_factor(c, &give_lua, m, sl, 10, args, msg);
}

int shared_rate_limited(SharedConn *c, const LmModel *m, SharedLimit *sl, double sent_us, double wait_s,
                        double edge_factor, double quiet_s, double min_factor, char **msg)
{
    char a[5][32];
    snprintf(a[0], 32, "%.6f", sent_us / 1e6);
    snprintf(a[1], 32, "%.17g", wait_s > 0 ? wait_s : 0);
    snprintf(a[2], 32, "%.17g", edge_factor);
    snprintf(a[3], 32, "%.17g", quiet_s);
    snprintf(a[4], 32, "%.17g", min_factor);
    const char *args[5] = { a[0], a[1], a[2], a[3], a[4] };
    return eval_factor(c, &limited_lua, m, sl, 5, args, msg);
}

int shared_grow(SharedConn *c, const LmModel *m, SharedLimit *sl, double sent_us, double step, char **msg)
{
    char a[2][32];
    snprintf(a[0], 32, "%.6f", sent_us / 1e6);
    snprintf(a[1], 32, "%.17g", step);
    const char *args[2] = { a[0], a[1] };
    return eval_factor(c, &grow_lua, m, sl, 2, args, msg);
}

int shared_stop(SharedConn *c, const LmModel *m, SharedLimit *sl, const char *text, char **err)
{
    char *lim, *procs;
    keys_of(m, sl, &lim, &procs);
    const char *args[1] = { text ? text : "quota exhausted" };
    const char *keys[1] = { lim };
    redisReply *r = shared_eval(c, &stop_lua, 1, keys, 1, args, err);
    free(lim);
    free(procs);
    if (!r) return -1;
    freeReplyObject(r);
    return 0;
}

void shared_limit_clear(SharedLimit *sl)
{
    free(sl->prefix);
    memset(sl, 0, sizeof *sl);
}
