/* rt.c: the runtime context (rt.h): the settings, the log, the state database opened in one place,
 * the results of cache points kept for the session. */
#include <stdlib.h>
#include <stdarg.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include "rt.h"
#include "state.h"
#include "runtime.h"
#include "shared.h"
#include "shared_cache.h"
#include "budget.h"

void rt_init(Runtime *rt, const fql_options *o, const char *stdlib_dir)
{
    memset(rt, 0, sizeof *rt);
    rt->log = o->log;
    rt->log_ud = o->log_ud;
    rt->log_level = o->log_level;
    const char *env = getenv("FQL_DB");
    rt->db_path = xstrdup(o->db_path ? o->db_path : env ? env : ".fql/state.db");
    rt->stdlib_dir = xstrdup(stdlib_dir);
    rt->format = FMT_TABLE;
    rt->max_rows = o->max_rows > 0 ? (size_t)o->max_rows : 0;
    rt->progress = o->progress;
    rt->cache = o->cache;
    rt->fusion = 1;
    rt->validate_keys = o->validate_keys;
    /* made now, not on first use, so that fql_interrupt from another thread never races its creation */
    rt->sched = sched_new();
    sched_set_budget(rt->sched, budget_hook(), rt);   /* budgets over time (budget.c) */
    rt->open_state = rt_state;
}

static void shared_cache_sync(Runtime *rt, struct SharedConn *c);

void rt_close(Runtime *rt)
{
    if (!rt) return;
    for (StoredResult *r = rt->results, *n; r; r = n) { n = r->next; free(r->key); table_free(r->t); free(r); }
    rt->results = NULL;
    sched_free(rt->sched);
    rt->sched = NULL;
    budget_free(rt->budgets);
    rt->budgets = NULL;
    shared_cache_sync(rt, NULL);   /* releases its claims while the connection is still there */
    shared_close(rt->shared);
    rt->shared = NULL;
    free(rt->shared_url);
    rt->shared_url = NULL;
    state_close(rt->state);
    rt->state = NULL;
    free(rt->db_path);
    free(rt->stdlib_dir);
    rt->db_path = rt->stdlib_dir = NULL;
}

void rt_log(Runtime *rt, int level, const char *fmt, ...)
{
    if (level < rt->log_level) return;
    Buf b;
    buf_init(&b);
    va_list ap;
    va_start(ap, fmt);
    buf_vprintf(&b, fmt, ap);
    va_end(ap);
    if (rt->log) rt->log(rt->log_ud, level, b.data);
    else fprintf(stderr, "%s\n", b.data);
    buf_free(&b);
}

/* Put the shared response cache on connection c behind the state database (shared_cache.h), or
 * take it away (c NULL): made again when the connection changes. */
static void shared_cache_sync(Runtime *rt, struct SharedConn *c)
{
    if (!rt->state) c = NULL;
    if (shcache_conn(rt->shcache) == c) return;
    state_set_remote(rt->state, NULL);
    shcache_free(rt->shcache);
    rt->shcache = c ? shcache_new(c) : NULL;
    if (!rt->shcache) return;
    StateRemote r;
    shcache_remote(rt->shcache, &r);
    state_set_remote(rt->state, &r);
}

State *rt_state(Runtime *rt, fql_error *err)
{
    if (!rt->state) rt->state = state_open(rt->db_path, err);
    shared_cache_sync(rt, rt->shared);
    return rt->state;
}

State *rt_state_if_exists(Runtime *rt)
{
    if (!rt->state && rt->db_path && strcmp(rt->db_path, ":memory:") && access(rt->db_path, R_OK) == 0) {
        fql_error e;
        memset(&e, 0, sizeof e);
        rt->state = state_open(rt->db_path, &e);
    }
    return rt->state;
}

struct SharedConn *rt_shared(Runtime *rt)
{
    return rt->shared;
}

/* The shared state's warnings (the fallback to local pacing) go to the session's log. */
static void shared_log(void *ud, const char *msg)
{
    rt_log(ud, FQL_LOG_WARN, "%s", msg);
}

/* `set shared = URL` ("" or "off": not shared). A probe runtime (bind-time validation, no
 * scheduler) only checks the URL; a real one makes the connection (connected on first use) and
 * hands it to the scheduler. 0, or -1 with *msg. */
static int set_shared(Runtime *rt, const char *url, char **msg)
{
    int off = !*url || !strcasecmp(url, "off") || !strcasecmp(url, "none");
    char *err = NULL;
    if (!off && shared_parse_check(url, &err)) {
        *msg = xasprintf("set shared: %s", err + (strncmp(err, "shared: ", 8) ? 0 : 8));
        free(err);
        return -1;
    }
    if (!rt->sched) return 0;
    SharedConn *c = off ? NULL : shared_open(url, &err);
    if (!off && !c) { *msg = err; return -1; }
    if (c) shared_set_log(c, shared_log, rt);
    sched_set_shared(rt->sched, c, rt->shared_fallback);
    shared_cache_sync(rt, c);
    shared_close(rt->shared);
    rt->shared = c;
    free(rt->shared_url);
    rt->shared_url = off ? NULL : xstrdup(url);
    return 0;
}

const Table *rt_result(Runtime *rt, const char *key)
{
    for (StoredResult *r = rt->results; r; r = r->next)
        if (!strcmp(r->key, key)) return r->t;
    return NULL;
}

void rt_put_result(Runtime *rt, const char *key, Table *t)
{
    StoredResult *r = xcalloc(1, sizeof *r);
    r->key = xstrdup(key);
    r->t = t;
    r->next = rt->results;
    rt->results = r;
}

/* ---- settings ---- */

static int parse_format(const char *name, FileFormat *f)
{
    static const struct { const char *name; FileFormat f; } fm[] = {
        { "table", FMT_TABLE }, { "box", FMT_TABLE }, { "csv", FMT_CSV }, { "tsv", FMT_TSV }, { "json", FMT_JSON },
        { "jsonl", FMT_JSONL }, { "ndjson", FMT_JSONL }, { "markdown", FMT_MARKDOWN }, { "md", FMT_MARKDOWN },
    };
    for (size_t i = 0; i < sizeof fm / sizeof fm[0]; i++)
        if (!strcasecmp(name, fm[i].name)) { *f = fm[i].f; return 0; }
    return -1;
}

static int value_flag(Value v, int *out)
{
    if (v.kind == V_BOOL) { *out = v.u.b; return 0; }
    if (v.kind == V_INT && (v.u.i == 0 || v.u.i == 1)) { *out = (int)v.u.i; return 0; }
    if (v.kind == V_STRING) {
        const char *t = v_str(v);
        if (!strcasecmp(t, "on") || !strcasecmp(t, "true") || !strcasecmp(t, "yes")) { *out = 1; return 0; }
        if (!strcasecmp(t, "off") || !strcasecmp(t, "false") || !strcasecmp(t, "no")) { *out = 0; return 0; }
    }
    return -1;
}

/* See rt.h. */
int rt_partition_of(int64_t k, int n)
{
    uint64_t z = (uint64_t)k + 0x9e3779b97f4a7c15ULL;   /* splitmix64's finalizer: neighbouring rows spread evenly */
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    z ^= z >> 31;
    return n > 1 ? (int)(z % (uint64_t)n) : 0;
}

/* `set partition = "I/N"` (I from 0 to N-1), or "off" / "" for all rows. 0, or -1 with *msg. */
static int set_partition(Runtime *rt, Value v, char **msg)
{
    const char *s = v.kind == V_STRING ? v_str(v) : NULL;
    if (s && (!*s || !strcmp(s, "off"))) { rt->part_i = rt->part_n = 0; return 0; }
    long long i = -1, n = -1;
    int used = 0;
    if (!s || sscanf(s, "%lld/%lld%n", &i, &n, &used) != 2 || s[used] || n < 1 || n > 1000000 || i < 0 || i >= n) {
        *msg = xasprintf("set partition takes \"I/N\": partition I of N, I counted from 0 to N-1 (e.g. \"0/4\" ... \"3/4\"), or \"off\"%s%s",
                         s ? "; got " : "", s ? s : "");
        return -1;
    }
    rt->part_i = (int)i;
    rt->part_n = n > 1 ? (int)n : 0;
    return 0;
}

/* A size as `set memory_limit` takes it: bytes (an int) or a string "512MB", "1.5GB", "64KiB"
 * (KB/MB/GB/TB and KiB.. count in 1024s as memory sizes do). 0, or -1 when it is none. */
static int parse_size(Value v, size_t *out)
{
    if (v.kind == V_INT) { if (v.u.i < 0) return -1; *out = (size_t)v.u.i; return 0; }
    if (v.kind != V_STRING) return -1;
    const char *s = v_str(v);
    char *end;
    double x = strtod(s, &end);
    if (end == s || x < 0) return -1;
    while (*end == ' ') end++;
    static const char *const units[] = { "b", "kb", "mb", "gb", "tb" }, *const iunits[] = { "b", "kib", "mib", "gib", "tib" };
    double mult = -1;
    if (!*end) mult = 1;
    for (int i = 0; i < 5 && mult < 0; i++)
        if (!strcasecmp(end, units[i]) || !strcasecmp(end, iunits[i])) mult = (double)((uint64_t)1 << (10 * i));
    if (mult < 0 || x * mult > 9e18) return -1;
    *out = (size_t)(x * mult);
    return 0;
}

int rt_set(Runtime *rt, const char *name, Value v, char **msg)
{
    int rc = 0, flag;
    if (!strcmp(name, "format")) {
        FileFormat f;
        if (v.kind != V_STRING || parse_format(v_str(v), &f)) {
            *msg = xstrdup("set format takes table, csv, tsv, json, jsonl or markdown");
            rc = -1;
        } else rt->format = f;
    } else if (!strcmp(name, "max_rows")) {
        if (v.kind != V_INT || v.u.i < 0) { *msg = xstrdup("set max_rows takes a non-negative integer (0 = all)"); rc = -1; }
        else rt->max_rows = (size_t)v.u.i;
    } else if (!strcmp(name, "cache") || !strcmp(name, "progress") || !strcmp(name, "validate_keys") ||
               !strcmp(name, "fusion")) {
        if (value_flag(v, &flag)) { *msg = xasprintf("set %s takes on or off", name); rc = -1; }
        else if (!strcmp(name, "cache")) rt->cache = flag;
        else if (!strcmp(name, "progress")) rt->progress = flag;
        else if (!strcmp(name, "fusion")) rt->fusion = flag;
        else rt->validate_keys = flag;
    } else if (!strcmp(name, "budget") && v.kind == V_STRUCT) {
        rc = budget_set(rt, &v, msg);
    } else if (!strcmp(name, "budget")) {
        if (v.kind != V_INT && v.kind != V_FLOAT) { *msg = xstrdup("set budget takes an amount in USD per statement, e.g. set budget = 5.00 (0 = no budget), or a budget over time, e.g. set budget = {usd: 5, per: \"day\"}"); rc = -1; }
        else if ((v.kind == V_INT ? (double)v.u.i : v.u.f) < 0) { *msg = xstrdup("set budget takes an amount of 0 or more (0 = no budget)"); rc = -1; }
        else rt->budget = v.kind == V_INT ? (double)v.u.i : v.u.f;
    } else if (!strcmp(name, "partition")) {
        rc = set_partition(rt, v, msg);
    } else if (!strcmp(name, "shared")) {
        if (v.kind != V_STRING) { *msg = xstrdup("set shared takes a Redis URL, e.g. set shared = \"redis://127.0.0.1:6379/0\" (\"off\": not shared)"); rc = -1; }
        else rc = set_shared(rt, v_str(v), msg);
    } else if (!strcmp(name, "shared_fallback")) {
        const char *t = v.kind == V_STRING ? v_str(v) : "";
        if (!strcasecmp(t, "local")) rt->shared_fallback = 1;
        else if (!strcasecmp(t, "error") || !strcasecmp(t, "off") || !strcasecmp(t, "none")) rt->shared_fallback = 0;
        else { *msg = xstrdup("set shared_fallback takes \"local\" (Redis lost: each process paces at 1/N of the limits, with a warning) or \"error\" (Redis lost: stop; the default)"); rc = -1; }
        if (!rc && rt->sched) sched_set_shared(rt->sched, rt->shared, rt->shared_fallback);
    } else if (!strcmp(name, "memory_limit")) {
        size_t lim;
        if (parse_size(v, &lim)) { *msg = xstrdup("set memory_limit takes a size, e.g. set memory_limit = \"1GB\" (or \"512MB\"; 0 = half of the machine's memory)"); rc = -1; }
        else rt->memory_limit = lim;
    } else if (!strcmp(name, "threads")) {
        if (v.kind != V_INT || v.u.i < 0 || v.u.i > 256) { *msg = xstrdup("set threads takes a number of threads from 1 to 256 (0 = all of the machine's cores, the default)"); rc = -1; }
        else rt->threads = (int)v.u.i;
    } else {
        static const char *const names[] = { "format", "max_rows", "cache", "progress", "validate_keys", "budget", "fusion",
                                             "shared", "shared_fallback", "partition", "memory_limit", "threads" };
        const char *best = closest_name(name, names, sizeof names / sizeof names[0]);
        *msg = best ? xasprintf("unknown setting '%s'; did you mean '%s'?", name, best)
                    : xasprintf("unknown setting '%s' (settings: format, max_rows, cache, progress, validate_keys, budget, fusion, shared, shared_fallback, partition, memory_limit, threads)", name);
        rc = -1;
    }
    value_free(v);
    return rc;
}
