/* shared_cache.c: the response cache and in-flight claims in Redis (see shared_cache.h). */
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>
#include <jansson.h>
#include "shared.h"
#include "shared_cache.h"
#include "state.h"

struct SharedCache {
    SharedConn *c;
    char **held;                 /* keys we hold claims on (owned) */
    int nheld, capheld;
    double last_renew;           /* monotonic seconds */
    char *err;                   /* the first failure not yet reported, or NULL */
    int quiet;                   /* shcache_going_on: failures are no longer recorded */
    char host[128];
    long pid;
};

/* Claim key (KEYS[1] the answer, KEYS[2] the claim; ARGV owner, lease ms): 0 when answered,
 * 1 when claimed (or ours already, renewed), else the holder's id. */
static SharedScript claim_script = { "if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end\n"
    "if redis.call('SET', KEYS[2], ARGV[1], 'NX', 'PX', ARGV[2]) then return 1 end\n"
    "local h = redis.call('GET', KEYS[2])\n"
    "if h == ARGV[1] then redis.call('PEXPIRE', KEYS[2], ARGV[2]) return 1 end\n"
    "if not h then redis.call('SET', KEYS[2], ARGV[1], 'PX', ARGV[2]) return 1 end\n"
    "return h\n", "" };
/* Take claim KEYS[1] over from ARGV[1] (a holder found gone) for ARGV[2], lease ARGV[3]: 1 or 0. */
static SharedScript take_script = { "local h = redis.call('GET', KEYS[1])\n"
    "if h and h ~= ARGV[1] then return 0 end\n"
    "redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3]) return 1\n", "" };
/* Delete claim KEYS[1] if ARGV[1] holds it. */
static SharedScript release_script = { "if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end return 1\n", "" };
/* Renew the claims ARGV[3..] that ARGV[1] holds, for ARGV[2] ms: how many were still ours. */
static SharedScript renew_script = { "local n = 0\n"
    "for i = 3, #ARGV do\n"
    "  local k = 'fql:{' .. ARGV[i] .. '}:claim'\n"
    "  if redis.call('GET', k) == ARGV[1] then redis.call('PEXPIRE', k, ARGV[2]) n = n + 1 end\n"
    "end return n\n", "" };

static double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* "fql:{KEY}:what" into out (the request key is 64 hex digits). */
static void rkey(char out[96], const char *key, const char *what)
{
    snprintf(out, 96, "fql:{%.64s}:%s", key, what);
}

/* Keep the first failure (msg is consumed). */
static void failed(SharedCache *sc, char *msg)
{
    if (sc->quiet) { free(msg); return; }
    if (!sc->err) sc->err = msg ? msg : xstrdup("the shared Redis failed");
    else free(msg);
}

/* See shared_cache.h. */
SharedCache *shcache_new(SharedConn *c)
{
    SharedCache *sc = xcalloc(1, sizeof *sc);
    sc->c = c;
    sc->last_renew = mono_s();
    if (gethostname(sc->host, sizeof sc->host - 1) != 0) strcpy(sc->host, "?");
    sc->pid = (long)getpid();
    return sc;
}

/* See shared_cache.h. */
void shcache_free(SharedCache *sc)
{
    if (!sc) return;
    while (sc->nheld > 0) shcache_release(sc, sc->held[sc->nheld - 1]);
    free(sc->held);
    free(sc->err);
    free(sc);
}

/* See shared_cache.h (NULL-safe accessors). */
SharedConn *shcache_conn(const SharedCache *sc) { return sc ? sc->c : NULL; }
const char *shcache_error(const SharedCache *sc) { return sc ? sc->err : NULL; }
/* See shared_cache.h. */
void shcache_going_on(SharedCache *sc)
{
    if (!sc) return;
    free(sc->err);
    sc->err = NULL;
    sc->quiet = 1;
}

/* a field's value as a new C string */
static char *field_str(const redisReply *v)
{
    char *s = xmalloc(v->len + 1);
    memcpy(s, v->str, v->len);
    s[v->len] = 0;
    return s;
}

/* See shared_cache.h. */
int shcache_get(SharedCache *sc, const char *key, LmAnswer *a)
{
    if (!sc) return 0;
    char k[96], *err = NULL;
    rkey(k, key, "resp");
    const char *argv[] = { "HGETALL", k };
    redisReply *r = shared_cmdargv(sc->c, 2, argv, NULL, &err);
    if (!r) { failed(sc, err); return 0; }
    int hit = 0;
    if (r->type == REDIS_REPLY_ARRAY && r->elements >= 2) {
        memset(a, 0, sizeof *a);
        a->outcome = LM_OK;
        a->cost_usd = -1;
        const redisReply *vec = NULL;
        for (size_t i = 0; i + 1 < r->elements; i += 2) {
            const redisReply *f = r->element[i], *v = r->element[i + 1];
            if (f->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING) continue;
            const char *n = f->str;
            if (!strcmp(n, "text")) {
                a->text = field_str(v);
                json_error_t je;
                a->json = json_loads(a->text, JSON_DECODE_ANY, &je);   /* structured answers; NULL for text */
                if (a->json && !json_is_object(a->json)) { json_decref(a->json); a->json = NULL; }
            } else if (!strcmp(n, "vectors")) vec = v;
            else if (!strcmp(n, "dim")) a->dim = atoi(v->str);
            else if (!strcmp(n, "input_tokens")) a->input_tokens = strtoll(v->str, NULL, 10);
            else if (!strcmp(n, "cached_input_tokens")) a->cached_input_tokens = strtoll(v->str, NULL, 10);
            else if (!strcmp(n, "output_tokens")) a->output_tokens = strtoll(v->str, NULL, 10);
            else if (!strcmp(n, "reasoning_tokens")) a->reasoning_tokens = strtoll(v->str, NULL, 10);
            else if (!strcmp(n, "cost_usd")) a->cost_usd = strtod(v->str, NULL);
            else if (!strcmp(n, "upstream")) a->upstream = field_str(v);
            else if (!strcmp(n, "tokens")) { char *t = field_str(v); state_tokens_load(a, t); free(t); }
        }
        if (vec && a->dim > 0 && vec->len >= (size_t)a->dim * sizeof(float)) {
            a->nvec = (int)(vec->len / sizeof(float) / (size_t)a->dim);
            a->vectors = xmalloc((size_t)a->nvec * (size_t)a->dim * sizeof(float));
            memcpy(a->vectors, vec->str, (size_t)a->nvec * (size_t)a->dim * sizeof(float));
        } else a->dim = 0;
        a->retry_after_s = a->remaining_requests = a->remaining_tokens = -1;
        a->from_cache = 1;
        a->http_status = 200;
        hit = 1;
    }
    freeReplyObject(r);
    return hit;
}

/* See shared_cache.h. */
void shcache_put(SharedCache *sc, const char *key, const LmModel *m, const LmAnswer *a)
{
    if (!sc || a->outcome != LM_OK) return;
    char k[96], nums[6][32], *tokens = state_tokens_json(a), *err = NULL;
    rkey(k, key, "resp");
    const char *argv[32];
    size_t lens[32];
    int n = 0;
#define FIELD(name, val, len) do { argv[n] = name; lens[n++] = strlen(name); argv[n] = (val); lens[n++] = (len); } while (0)
    argv[n] = "HSET"; lens[n++] = 4;
    argv[n] = k; lens[n++] = strlen(k);
    FIELD("provider", m->provider_name ? m->provider_name : "", m->provider_name ? strlen(m->provider_name) : 0);
    FIELD("model", m->model_name ? m->model_name : "", m->model_name ? strlen(m->model_name) : 0);
    if (a->text) FIELD("text", a->text, strlen(a->text));
    if (a->vectors && a->nvec > 0 && a->dim > 0)
        FIELD("vectors", (const char *)a->vectors, (size_t)a->nvec * (size_t)a->dim * sizeof(float));
    snprintf(nums[0], 32, "%d", a->dim);
    FIELD("dim", nums[0], strlen(nums[0]));
    snprintf(nums[1], 32, "%lld", (long long)a->input_tokens);
    FIELD("input_tokens", nums[1], strlen(nums[1]));
    snprintf(nums[2], 32, "%lld", (long long)a->cached_input_tokens);
    FIELD("cached_input_tokens", nums[2], strlen(nums[2]));
    snprintf(nums[3], 32, "%lld", (long long)a->output_tokens);
    FIELD("output_tokens", nums[3], strlen(nums[3]));
    snprintf(nums[4], 32, "%lld", (long long)a->reasoning_tokens);
    FIELD("reasoning_tokens", nums[4], strlen(nums[4]));
    if (a->cost_usd >= 0) { snprintf(nums[5], 32, "%.17g", a->cost_usd); FIELD("cost_usd", nums[5], strlen(nums[5])); }
    if (a->upstream) FIELD("upstream", a->upstream, strlen(a->upstream));
    if (tokens) FIELD("tokens", tokens, strlen(tokens));
    char when[32];
    snprintf(when, sizeof when, "%lld", (long long)time(NULL));
    FIELD("created_at", when, strlen(when));
#undef FIELD
    redisReply *r = shared_cmdargv(sc->c, n, argv, lens, &err);
    if (!r) failed(sc, err);
    freeReplyObject(r);
    free(tokens);
}

/* 1 if the holder id "host:pid:random" names a process of this host that no longer runs (or this
 * process's pid under another id: an earlier run that had the same pid). */
static int holder_gone(const SharedCache *sc, const char *holder)
{
    const char *last = strrchr(holder, ':');
    if (!last || last == holder) return 0;
    const char *p = last - 1;
    while (p > holder && *p != ':') p--;
    if (*p != ':') return 0;
    size_t hl = (size_t)(p - holder);
    if (hl != strlen(sc->host) || strncmp(holder, sc->host, hl)) return 0;   /* another host: trust its lease */
    char *end;
    long pid = strtol(p + 1, &end, 10);
    if (end != last || pid <= 0) return 0;
    if (pid == sc->pid) return 1;
    return kill((pid_t)pid, 0) != 0 && errno == ESRCH;
}

/* Remember that we hold the claim of key (once). */
static void hold(SharedCache *sc, const char *key)
{
    for (int i = 0; i < sc->nheld; i++)
        if (!strcmp(sc->held[i], key)) return;
    if (sc->nheld == sc->capheld) {
        sc->capheld = sc->capheld ? sc->capheld * 2 : 64;
        sc->held = xrealloc(sc->held, (size_t)sc->capheld * sizeof *sc->held);
    }
    sc->held[sc->nheld++] = xstrdup(key);
}

/* See shared_cache.h. */
int shcache_claim(SharedCache *sc, const char *key)
{
    if (!sc) return 1;
    char kr[96], kc[96], lease[24], *err = NULL;
    rkey(kr, key, "resp");
    rkey(kc, key, "claim");
    snprintf(lease, sizeof lease, "%d", SHC_LEASE_MS);
    const char *keys[] = { kr, kc }, *args[] = { shared_proc_id(sc->c), lease };
    redisReply *r = shared_eval(sc->c, &claim_script, 2, keys, 2, args, &err);
    if (!r) { failed(sc, err); return 1; }   /* unreachable: send (the caller decides whether the run stops) */
    int mine = 0;
    if (r->type == REDIS_REPLY_INTEGER) mine = r->integer == 1;
    else if (r->type == REDIS_REPLY_STRING && holder_gone(sc, r->str)) {   /* its process died: take over */
        const char *tk[] = { kc }, *ta[] = { r->str, shared_proc_id(sc->c), lease };
        redisReply *t = shared_eval(sc->c, &take_script, 1, tk, 3, ta, &err);
        if (!t) { failed(sc, err); mine = 1; }
        else mine = t->type == REDIS_REPLY_INTEGER && t->integer == 1;
        freeReplyObject(t);
    }
    freeReplyObject(r);
    if (mine) hold(sc, key);
    return mine;
}

/* See shared_cache.h. */
void shcache_release(SharedCache *sc, const char *key)
{
    if (!sc) return;
    int at = -1;
    for (int i = sc->nheld - 1; i >= 0; i--)
        if (!strcmp(sc->held[i], key)) { at = i; break; }
    if (at < 0) return;   /* not ours */
    char kc[96], *err = NULL;
    rkey(kc, key, "claim");
    const char *keys[] = { kc }, *args[] = { shared_proc_id(sc->c) };
    redisReply *r = shared_eval(sc->c, &release_script, 1, keys, 1, args, &err);
    if (!r) failed(sc, err);
    freeReplyObject(r);
    free(sc->held[at]);
    sc->held[at] = sc->held[--sc->nheld];
}

/* See shared_cache.h. */
void shcache_tick(SharedCache *sc)
{
    if (!sc || !sc->nheld) return;
    double now = mono_s();
    if (now - sc->last_renew < SHC_LEASE_MS / 3000.0) return;
    sc->last_renew = now;
    char lease[24];
    snprintf(lease, sizeof lease, "%d", SHC_LEASE_MS);
    enum { CHUNK = 512 };   /* keys per script call */
    const char *args[CHUNK + 2];
    args[0] = shared_proc_id(sc->c);
    args[1] = lease;
    for (int at = 0; at < sc->nheld; at += CHUNK) {
        int n = sc->nheld - at < CHUNK ? sc->nheld - at : CHUNK;
        for (int i = 0; i < n; i++) args[2 + i] = sc->held[at + i];
        char *err = NULL;
        redisReply *r = shared_eval(sc->c, &renew_script, 0, NULL, n + 2, args, &err);
        if (!r) { failed(sc, err); return; }
        freeReplyObject(r);
    }
}

/* ---- the hooks of the state database (state.h) ---- */

/* The StateRemote hooks: the functions above with ud as the SharedCache. */
static int r_get(void *ud, const char *key, LmAnswer *a) { return shcache_get(ud, key, a); }
static void r_put(void *ud, const char *key, const LmModel *m, const LmAnswer *a) { shcache_put(ud, key, m, a); }
static int r_claim(void *ud, const char *key) { return shcache_claim(ud, key); }
static void r_release(void *ud, const char *key) { shcache_release(ud, key); }
static void r_tick(void *ud) { shcache_tick(ud); }

/* See shared_cache.h. */
void shcache_remote(SharedCache *sc, StateRemote *r)
{
    r->ud = sc;
    r->get = r_get;
    r->put = r_put;
    r->claim = r_claim;
    r->release = r_release;
    r->tick = r_tick;
}
