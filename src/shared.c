/* shared.c: the connection to the Redis several FQL processes share (shared.h): the URL, the
 * connection made on first use and again after a loss, commands, Lua scripts by EVALSHA, and the
 * key names (a hash of the API key, never the key).
 *
 * Calls block, bounded by TIMEOUT_S (connect and each command): the scheduler calls them between
 * its sends, and on a loopback or LAN they take well under a millisecond. hiredis 0.14 writes with
 * write(2): a connection the server closed would raise SIGPIPE, which would end the host program,
 * so each call runs with SIGPIPE blocked in the calling thread and drains one that arrived.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>
#include <openssl/evp.h>
#include "shared.h"

#define TIMEOUT_S 2.0   /* connect and command timeout */
#define RETRY_S   1.0   /* after a failure to reach Redis, calls fail at once for this long (an
                         * unreachable host would otherwise cost TIMEOUT_S per call) */

struct SharedConn {
    char *host;
    int port, db;
    char *user, *password;       /* AUTH; password is secret */
    char *display;               /* redis://HOST:PORT/DB */
    char proc_id[96];
    redisContext *ctx;           /* NULL until connected, and after a loss */
    int down;                    /* the last call failed to reach Redis */
    double down_at;              /* monotonic: when it did */
    char *down_err;              /* and what it said: repeated without a new try for RETRY_S */
    void (*log)(void *ud, const char *msg);
    void *log_ud;
};

/* ---- the URL ---- */

typedef struct Url { char *host, *user, *password; int port, db; } Url;

static void url_free(Url *u)
{
    free(u->host);
    free(u->user);
    if (u->password) memset(u->password, 0, strlen(u->password));
    free(u->password);
    memset(u, 0, sizeof *u);
}

/* Decimal digits [p, e) as an int in [lo, hi]: 0, or -1. */
static int parse_num(const char *p, const char *e, int lo, int hi, int *out)
{
    if (p == e || e - p > 9) return -1;
    long v = 0;
    for (; p < e; p++) {
        if (*p < '0' || *p > '9') return -1;
        v = v * 10 + (*p - '0');
    }
    if (v < lo || v > hi) return -1;
    *out = (int)v;
    return 0;
}

/* Parse redis://[[USER]:PASSWORD@]HOST[:PORT][/DB]. 0, or -1 with *err (never holding the password). */
static int url_parse(const char *url, Url *u, char **err)
{
    memset(u, 0, sizeof *u);
    static const char form[] = "expected redis://HOST:PORT/DB, e.g. redis://127.0.0.1:6379/0";
    if (!url || strncasecmp(url, "redis://", 8)) {
        const char *scheme_end = url ? strstr(url, "://") : NULL;
        if (scheme_end) *err = xasprintf("shared: unsupported address scheme '%.*s://' (%s)", (int)(scheme_end - url), url, form);
        else *err = xasprintf("shared: not a Redis URL (%s)", form);
        return -1;
    }
    const char *p = url + 8, *slash = strchr(p, '/');
    const char *end = slash ? slash : p + strlen(p);
    const char *at = NULL;
    for (const char *q = p; q < end; q++) if (*q == '@') at = q;
    if (at) {
        const char *colon = memchr(p, ':', (size_t)(at - p));
        if (colon) {
            if (colon > p) u->user = xasprintf("%.*s", (int)(colon - p), p);
            u->password = xasprintf("%.*s", (int)(at - colon - 1), colon + 1);
        } else {
            u->password = xasprintf("%.*s", (int)(at - p), p);   /* redis://PASSWORD@HOST, as redis-cli takes it */
        }
        p = at + 1;
    }
    const char *hend, *port = NULL;
    if (*p == '[') {
        const char *rb = memchr(p, ']', (size_t)(end - p));
        if (!rb) { *err = xasprintf("shared: an IPv6 host needs its closing ']' (%s)", form); url_free(u); return -1; }
        u->host = xasprintf("%.*s", (int)(rb - p - 1), p + 1);
        hend = rb + 1;
        if (hend < end && *hend == ':') port = hend + 1;
        else if (hend != end) { *err = xasprintf("shared: unexpected text after the host (%s)", form); url_free(u); return -1; }
    } else {
        const char *colon = memchr(p, ':', (size_t)(end - p));
        hend = colon ? colon : end;
        u->host = xasprintf("%.*s", (int)(hend - p), p);
        if (colon) port = colon + 1;
    }
    if (!u->host[0]) { *err = xasprintf("shared: the URL names no host (%s)", form); url_free(u); return -1; }
    u->port = 6379;
    if (port && parse_num(port, end, 1, 65535, &u->port)) {
        *err = xasprintf("shared: the port must be a number from 1 to 65535 (%s)", form);
        url_free(u);
        return -1;
    }
    u->db = 0;
    if (slash && slash[1] && parse_num(slash + 1, slash + strlen(slash), 0, 1 << 20, &u->db)) {
        *err = xasprintf("shared: the database after the host must be a number such as /0 (%s)", form);
        url_free(u);
        return -1;
    }
    return 0;
}

int shared_parse_check(const char *url, char **err)
{
    Url u;
    if (url_parse(url, &u, err)) return -1;
    url_free(&u);
    return 0;
}

SharedConn *shared_open(const char *url, char **err)
{
    Url u;
    if (url_parse(url, &u, err)) return NULL;
    SharedConn *c = xcalloc(1, sizeof *c);
    c->host = u.host;
    c->port = u.port;
    c->db = u.db;
    c->user = u.user;
    c->password = u.password;
    int v6 = strchr(c->host, ':') != NULL;
    c->display = xasprintf("redis://%s%s%s:%d/%d", v6 ? "[" : "", c->host, v6 ? "]" : "", c->port, c->db);
    char host[64] = "host";
    gethostname(host, sizeof host - 1);
    host[sizeof host - 1] = 0;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    snprintf(c->proc_id, sizeof c->proc_id, "%s:%ld:%08lx", host, (long)getpid(),
             (unsigned long)((uint64_t)ts.tv_nsec * 2654435761u ^ (uint64_t)(uintptr_t)c) & 0xffffffffUL);
    return c;
}

void shared_close(SharedConn *c)
{
    if (!c) return;
    if (c->ctx) redisFree(c->ctx);
    free(c->host);
    free(c->user);
    if (c->password) memset(c->password, 0, strlen(c->password));
    free(c->password);
    free(c->display);
    free(c->down_err);
    free(c);
}

const char *shared_url(const SharedConn *c) { return c ? c->display : ""; }
const char *shared_proc_id(const SharedConn *c) { return c ? c->proc_id : ""; }
int shared_down(const SharedConn *c) { return c && c->down; }

void shared_set_log(SharedConn *c, void (*fn)(void *ud, const char *msg), void *ud)
{
    c->log = fn;
    c->log_ud = ud;
}

void shared_warn(SharedConn *c, const char *fmt, ...)
{
    Buf b;
    buf_init(&b);
    va_list ap;
    va_start(ap, fmt);
    buf_vprintf(&b, fmt, ap);
    va_end(ap);
    if (c && c->log) c->log(c->log_ud, b.data);
    else fprintf(stderr, "%s\n", b.data);
    buf_free(&b);
}

/* ---- the connection ---- */

/* SIGPIPE blocked around a call (see the file comment). */
typedef struct { sigset_t old; int pending_before; } PipeGuard;

static void pipe_block(PipeGuard *g)
{
    sigset_t set, pend;
    sigemptyset(&set);
    sigaddset(&set, SIGPIPE);
    sigpending(&pend);
    g->pending_before = sigismember(&pend, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &set, &g->old);
}

static void pipe_restore(PipeGuard *g)
{
    sigset_t set, pend;
    sigemptyset(&set);
    sigaddset(&set, SIGPIPE);
    sigpending(&pend);
    if (!g->pending_before && sigismember(&pend, SIGPIPE)) {
        struct timespec zero = { 0, 0 };
        while (sigtimedwait(&set, NULL, &zero) < 0 && errno == EINTR) {}
    }
    pthread_sigmask(SIG_SETMASK, &g->old, NULL);
}

static void drop(SharedConn *c)
{
    if (c->ctx) redisFree(c->ctx);
    c->ctx = NULL;
}

static double mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Redis could not be reached: remember it (and the message, err's copy) for RETRY_S. */
static void mark_down(SharedConn *c, const char *err)
{
    c->down = 1;
    c->down_at = mono();
    free(c->down_err);
    c->down_err = xstrdup(err);
}

/* What to do when Redis cannot be reached, for messages. */
static const char *hint(void)
{
    return "is redis-server running there? The answers received so far are in the local cache; rerun when it is back, "
           "or set shared_fallback = \"local\" to pace each process at 1/N of the limits without it";
}

/* The reply r of a setup command (AUTH, SELECT) on the new connection: 0 when it went through;
 * else -1 with *err, "the shared state at URL" followed by why (consumed: what the server answered)
 * or, with no reply, that it cannot be reached; the connection is dropped. */
static int setup_reply(SharedConn *c, redisReply *r, char *why, char **err)
{
    if (r && !why) { freeReplyObject(r); return 0; }
    if (why) *err = xasprintf("the shared state at %s%s", c->display, why);
    else {
        *err = xasprintf("the shared state at %s cannot be reached: %s (%s)", c->display, c->ctx->errstr, hint());
        mark_down(c, *err);
    }
    free(why);
    if (r) freeReplyObject(r);
    drop(c);
    return -1;
}

/* Connect (and AUTH, SELECT) when not connected. 0, or -1 with *err and c->down set. */
static int ensure(SharedConn *c, char **err)
{
    if (c->ctx) return 0;
    if (c->down && c->down_err && mono() - c->down_at < RETRY_S) {
        *err = xstrdup(c->down_err);
        return -1;
    }
    struct timeval tv = { (time_t)TIMEOUT_S, (suseconds_t)((TIMEOUT_S - (int)TIMEOUT_S) * 1e6) };
    redisContext *ctx = redisConnectWithTimeout(c->host, c->port, tv);
    if (!ctx || ctx->err) {
        *err = xasprintf("the shared state at %s cannot be reached: %s (%s)", c->display,
                         ctx ? ctx->errstr : "out of memory", hint());
        if (ctx) redisFree(ctx);
        mark_down(c, *err);
        return -1;
    }
    redisSetTimeout(ctx, tv);
    redisEnableKeepAlive(ctx);
    c->ctx = ctx;
    if (c->password) {
        redisReply *r = c->user ? redisCommand(ctx, "AUTH %s %s", c->user, c->password) : redisCommand(ctx, "AUTH %s", c->password);
        char *why = r && r->type == REDIS_REPLY_ERROR ? xasprintf(" refused the credentials of the URL: %s", r->str) : NULL;
        if (setup_reply(c, r, why, err)) return -1;
    }
    if (c->db) {
        redisReply *r = redisCommand(ctx, "SELECT %d", c->db);
        char *why = r && r->type == REDIS_REPLY_ERROR ? xasprintf(": cannot select database %d: %s", c->db, r->str) : NULL;
        if (setup_reply(c, r, why, err)) return -1;
    }
    return 0;
}

/* Send one command; the raw reply (an error reply included), or NULL with *err when Redis could
 * not be reached or was lost (tried once more on a new connection when an old one failed). */
static redisReply *raw_cmd(SharedConn *c, int argc, const char **argv, const size_t *lens, char **err)
{
    PipeGuard g;
    pipe_block(&g);
    redisReply *r = NULL;
    for (int attempt = 0; attempt < 2 && !r; attempt++) {
        int had = c->ctx != NULL;
        if (ensure(c, err)) break;
        r = redisCommandArgv(c->ctx, argc, argv, lens);
        if (!r) {
            char *e = xasprintf("the shared state at %s was lost: %s (%s)", c->display,
                                c->ctx->errstr[0] ? c->ctx->errstr : "connection closed", hint());
            drop(c);
            if (!had || attempt == 1) { mark_down(c, e); *err = e; break; }
            free(e);   /* a connection made earlier died meanwhile (a restart, an idle timeout): once more */
        }
    }
    if (r) c->down = 0;
    pipe_restore(&g);
    return r;
}

redisReply *shared_cmdargv(SharedConn *c, int argc, const char **argv, const size_t *lens, char **err)
{
    redisReply *r = raw_cmd(c, argc, argv, lens, err);
    if (r && r->type == REDIS_REPLY_ERROR) {
        *err = xasprintf("the shared state at %s answered an error: %s", c->display, r->str);
        freeReplyObject(r);
        return NULL;
    }
    return r;
}

redisReply *shared_cmd(SharedConn *c, char **err, const char *fmt, ...)
{
    PipeGuard g;
    pipe_block(&g);
    redisReply *r = NULL;
    for (int attempt = 0; attempt < 2 && !r; attempt++) {
        int had = c->ctx != NULL;
        if (ensure(c, err)) break;
        va_list ap;
        va_start(ap, fmt);
        r = redisvCommand(c->ctx, fmt, ap);
        va_end(ap);
        if (!r) {
            char *e = xasprintf("the shared state at %s was lost: %s (%s)", c->display,
                                c->ctx->errstr[0] ? c->ctx->errstr : "connection closed", hint());
            drop(c);
            if (!had || attempt == 1) { mark_down(c, e); *err = e; break; }
            free(e);
        }
    }
    if (r) c->down = 0;
    pipe_restore(&g);
    if (r && r->type == REDIS_REPLY_ERROR) {
        *err = xasprintf("the shared state at %s answered an error: %s", c->display, r->str);
        freeReplyObject(r);
        return NULL;
    }
    return r;
}

/* ---- scripts ---- */

static void script_sha(SharedScript *s)
{
    if (s->sha[0]) return;
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    EVP_Digest(s->src, strlen(s->src), md, &n, EVP_sha1(), NULL);
    for (unsigned i = 0; i < 20 && i < n; i++) sprintf(s->sha + 2 * i, "%02x", md[i]);
    s->sha[40] = 0;
}

redisReply *shared_eval(SharedConn *c, SharedScript *s, int nkeys, const char *const *keys,
                        int nargs, const char *const *args, char **err)
{
    script_sha(s);
    int argc = 3 + nkeys + nargs;
    const char **argv = xmalloc((size_t)argc * sizeof *argv);
    char nk[16];
    snprintf(nk, sizeof nk, "%d", nkeys);
    argv[0] = "EVALSHA";
    argv[1] = s->sha;
    argv[2] = nk;
    for (int i = 0; i < nkeys; i++) argv[3 + i] = keys[i];
    for (int i = 0; i < nargs; i++) argv[3 + nkeys + i] = args[i];
    redisReply *r = raw_cmd(c, argc, argv, NULL, err);
    if (r && r->type == REDIS_REPLY_ERROR && !strncmp(r->str, "NOSCRIPT", 8)) {
        /* not loaded (first use, or Redis restarted): EVAL loads it */
        freeReplyObject(r);
        argv[0] = "EVAL";
        argv[1] = s->src;
        r = raw_cmd(c, argc, argv, NULL, err);
    }
    free(argv);
    if (r && r->type == REDIS_REPLY_ERROR) {
        *err = xasprintf("the shared state at %s answered an error: %s", c->display, r->str);
        freeReplyObject(r);
        return NULL;
    }
    return r;
}

/* ---- keys ---- */

char *shared_key(const LmModel *m, const char *what)
{
    /* Vertex's access token changes hourly: its project names the quota instead. Each part with its
     * NUL, so that ("ab", "c") and ("a", "bc") differ. */
    const char *parts[4] = { m->provider_name, m->base_url, m->api_key, m->project };
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
    for (int i = 0; i < 4; i++) EVP_DigestUpdate(ctx, parts[i] ? parts[i] : "", strlen(parts[i] ? parts[i] : "") + 1);
    EVP_DigestFinal_ex(ctx, md, &n);
    EVP_MD_CTX_free(ctx);
    char h[17];
    for (unsigned i = 0; i < 8; i++) sprintf(h + 2 * i, "%02x", md[i]);
    return xasprintf("fql:{%s:%s}:%s", h, m->model_name ? m->model_name : "", what ? what : "");
}
