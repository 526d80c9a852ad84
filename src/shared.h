/* shared.h: the state several FQL processes share through Redis (`--shared redis://HOST:PORT/DB`,
 * `set shared = "..."`, FQL_SHARED): the connection (shared.c), the model limits as atomic buckets
 * (shared_limits.c), and what other parts put there (the response cache, in-flight claims,
 * metrics) through the same small API.
 *
 * The connection is synchronous (hiredis, blocking calls with short timeouts): a round trip on a
 * local network is a fraction of a millisecond, the scheduler makes one per send (and one per
 * settlement), and a Lua script makes each check-and-take one atomic round trip. A connection is
 * made on first use, not when the setting is given (a script may set it before Redis is up, and a
 * `set` is validated before anything runs); a lost connection is made again on the next call.
 *
 * Secrets: a password in the URL is used for AUTH and never printed (shared_url gives the URL
 * without it). Key names derive from a hash of provider + base URL + API key (shared_key), never
 * from the key itself.
 *
 * Ownership: shared_open returns a connection the caller frees with shared_close (the Runtime
 * owns the session's one: rt_shared). Replies (redisReply *) belong to the caller, who frees them
 * with freeReplyObject. Error strings (*err) are xasprintf'd, the caller frees them.
 */
#ifndef FQL_SHARED_H
#define FQL_SHARED_H

#include <stdint.h>
#include <hiredis/hiredis.h>
#include "runtime.h"

typedef struct SharedConn SharedConn;

/* ---- the connection (shared.c) ---- */

/* Check a URL of the form redis://[[USER]:PASSWORD@]HOST[:PORT][/DB] without connecting.
 * 0, or -1 with *err saying what is wrong and which form is expected (never the password). */
int         shared_parse_check(const char *url, char **err);
/* A connection for url (parsed now, connected on first use). NULL with *err for a bad URL. */
SharedConn *shared_open(const char *url, char **err);
/* Close and free (NULL-safe). */
void        shared_close(SharedConn *c);
/* The URL as printed in messages: redis://HOST:PORT/DB (no user, no password). Borrowed. */
const char *shared_url(const SharedConn *c);
/* A string that names this process among the ones sharing (host:pid:random). Borrowed. */
const char *shared_proc_id(const SharedConn *c);
/* Whether the last call failed because Redis could not be reached or the connection was lost (as
 * opposed to an error answer of Redis, e.g. a script error). */
int         shared_down(const SharedConn *c);
/* Where warnings go (e.g. the fallback to local pacing): fn(ud, message); NULL: stderr. */
void        shared_set_log(SharedConn *c, void (*fn)(void *ud, const char *msg), void *ud);
void        shared_warn(SharedConn *c, const char *fmt, ...) FQL_PRINTF(2, 3);

/* Run one command given as arguments (binary safe: lens[i] bytes of argv[i]; lens NULL: C
 * strings). Returns the reply (caller frees), or NULL with *err (naming the URL) when Redis cannot
 * be reached, the connection was lost, or Redis answered an error. A lost connection is made
 * again once, and the command sent again, before giving up. */
redisReply *shared_cmdargv(SharedConn *c, int argc, const char **argv, const size_t *lens, char **err);
/* The same from a hiredis format string (redisCommand's: %s, %b, %d ...). */
redisReply *shared_cmd(SharedConn *c, char **err, const char *fmt, ...);

/* A Lua script run by EVALSHA (sha computed here on first use; on NOSCRIPT, e.g. after Redis
 * restarted, EVAL loads it again). Define one per script as a static: { source }. */
typedef struct SharedScript { const char *src; char sha[41]; } SharedScript;
/* Run script s with nkeys keys and nargs arguments (C strings). Reply or NULL with *err as
 * shared_cmdargv. */
redisReply *shared_eval(SharedConn *c, SharedScript *s, int nkeys, const char *const *keys,
                        int nargs, const char *const *args, char **err);

/* The key of one shared thing of model m: "fql:{H:MODEL}:what", H the first 16 hex digits of
 * SHA-256(provider, base URL, API key). The braces keep a model's keys in one Redis Cluster slot
 * (a script may touch them together). Returns a new string. */
char       *shared_key(const LmModel *m, const char *what);

/* ---- the limits (shared_limits.c), called by the scheduler ---- */

/* Per model, what the scheduler keeps about the shared buckets. Zero it before the first use. */
typedef struct SharedLimit {
    char *prefix;                /* shared_key(m, "") without the last part: made on first use */
    double factor;               /* the shared AIMD factor last seen (1 = the declared limits) */
    int procs;                   /* processes seen taking from these buckets in the last 10 s (>= 1) */
    double start_us;             /* server time of this process's first take (a stop older than this is a past run's) */
} SharedLimit;

/* What a take answers. */
typedef enum { SHL_GO, SHL_WAIT, SHL_STOP, SHL_ERROR } SharedTake;

/* Take amt = { requests, tokens, input tokens, output tokens } from model m's shared buckets,
 * paced at PACE × factor × the declared limits with the scheduler's capacities: SHL_GO (taken;
 * *sent_us = the server time, for shared_rate_limited), SHL_WAIT (*wait_s until it may be taken,
 * nothing taken), SHL_STOP (another process met an exhausted quota: *msg says what), SHL_ERROR
 * (*msg; shared_down tells whether Redis is unreachable). pace and burst_s are the scheduler's
 * PACE and BURST_S, so both pacings stay one. */
SharedTake  shared_take(SharedConn *c, const LmModel *m, SharedLimit *sl, const double amt[4], double pace,
                        double burst_s, double *wait_s, double *sent_us, char **msg);
/* Give back delta = { requests, tokens, input, output } (negative: a debit), after an answer's
 * usage settled a reservation or a refusal returned it. 0 or -1 with *msg. */
int         shared_give(SharedConn *c, const LmModel *m, SharedLimit *sl, const double delta[4], double pace,
                        double burst_s, char **msg);
/* A rate-limit refusal with evidence of a limit, of a request taken at sent_us: cut the shared
 * factor once per episode (by half, or by edge_factor after quiet_s without one), and pause every
 * process for wait_s. 0 or -1 with *msg. */
int         shared_rate_limited(SharedConn *c, const LmModel *m, SharedLimit *sl, double sent_us, double wait_s,
                                double edge_factor, double quiet_s, double min_factor, char **msg);
/* A run of successes of requests taken at or after sent_us: add step to the shared factor (up to
 * 1) unless it was cut since. 0 or -1 with *msg. */
int         shared_grow(SharedConn *c, const LmModel *m, SharedLimit *sl, double sent_us, double step, char **msg);
/* A quota-exhausted (fatal) answer: every process taking from m's buckets stops with msg. */
int         shared_stop(SharedConn *c, const LmModel *m, SharedLimit *sl, const char *msg, char **err);
void        shared_limit_clear(SharedLimit *sl);

#endif
