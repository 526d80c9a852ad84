/* udf.c: user-defined functions (fql_register_udf), the completion handles of asynchronous calls
 * (fql_call_*), and the driver that runs a function over a batch of rows (see udf.h). */
#include <stdlib.h>
#include <string.h>
#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <time.h>
#include <jansson.h>
#include "rt.h"
#include "catalog.h"
#include "state.h"
#include "udf.h"

#define DEFAULT_CONCURRENCY 8
#define MAX_WAIT_S 0.1          /* the longest sleep: bounds how late an interrupt is noticed */

struct UdfHub {
    char *name;
    pthread_mutex_t mu;
    pthread_cond_t cv;           /* signalled at every completion */
    int outstanding;             /* calls started and not yet completed (abandoned ones included) */
    fql_call *done;              /* completed calls the driver has not collected yet */
    void *state;                 /* a built-in's event loop */
    void (*free_state)(void *state);
    UdfHub *next;
};

struct fql_call {
    UdfHub *hub;
    fql_type rtype;
    size_t slot;                 /* the row's index in the driver's batch */
    int64_t row;                 /* the row's number in the statement (for fql_call_row) */
    int attempt;
    int abandoned;               /* the driver gave up on it: its completion frees it (atomic) */
    int completed;               /* under hub->mu */
    int failed, retryable;
    Value value;
    char *error;
    double timeout, deadline;    /* seconds the attempt may take; monotonic deadline (0 = none) */
    fql_call *next;
};

static double mono_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* ---- conversions between Value and fql_value ---- */

Type *udf_type(fql_type t)
{
    switch (t) {
    case FQL_TYPE_BOOL: return type_bool();
    case FQL_TYPE_INT: return type_int();
    case FQL_TYPE_FLOAT: return type_float();
    case FQL_TYPE_STRING: return type_string();
    case FQL_TYPE_DATE: return type_date();
    case FQL_TYPE_TIMESTAMP: return type_timestamp();
    default: return type_json();
    }
}

static int is_jsonish(fql_type t)
{
    return t == FQL_TYPE_JSON || t == FQL_TYPE_LIST || t == FQL_TYPE_STRUCT || t == FQL_TYPE_VECTOR;
}

static const char *type_name(fql_type t)
{
    static const char *const names[] = { "null", "bool", "int", "float", "string", "list", "struct", "vector", "date", "timestamp", "json" };
    return (unsigned)t < sizeof names / sizeof names[0] ? names[t] : "unknown";
}

/* An argument as the function sees it; lists, structs and json as JSON text kept in *tmp. */
static void arg_of(Value v, fql_value *out, Buf *tmp)
{
    memset(out, 0, sizeof *out);
    switch ((ValKind)v.kind) {
    case V_NULL: out->type = FQL_TYPE_NULL; return;
    case V_BOOL: out->type = FQL_TYPE_BOOL; out->as.b = v.u.b; return;
    case V_INT: out->type = FQL_TYPE_INT; out->as.i = v.u.i; return;
    case V_FLOAT: out->type = FQL_TYPE_FLOAT; out->as.f = v.u.f; return;
    case V_DATE: out->type = FQL_TYPE_DATE; out->as.i = v.u.i; return;
    case V_TIMESTAMP: out->type = FQL_TYPE_TIMESTAMP; out->as.i = v.u.i; return;
    case V_STRING: out->type = FQL_TYPE_STRING; out->as.s.ptr = v_str(v); out->as.s.len = v_strlen(v); return;
    case V_JSON: out->type = FQL_TYPE_JSON; out->as.s.ptr = v_str(v); out->as.s.len = v_strlen(v); return;
    case V_LIST: out->type = FQL_TYPE_LIST; break;
    case V_STRUCT: out->type = FQL_TYPE_STRUCT; break;
    }
    value_to_json(tmp, v);
    out->as.s.ptr = tmp->data;
    out->as.s.len = tmp->len;
}

/* A function's result as a value of its declared type. 0 ok; -1 with *why (xasprintf'd). */
static int value_of(const char *fname, const fql_value *v, fql_type rtype, Value *out, char **why)
{
    *out = v_null();
    if (!v || v->type == FQL_TYPE_NULL) return 0;
    int fits = v->type == rtype || (v->type == FQL_TYPE_INT && rtype == FQL_TYPE_FLOAT) || (is_jsonish(v->type) && is_jsonish(rtype));
    if (!fits) {
        *why = xasprintf("%s returned a %s, but its declared type is %s", fname, type_name(v->type), type_name(rtype));
        return -1;
    }
    const char *p = v->as.s.ptr ? v->as.s.ptr : "";
    size_t len = v->as.s.ptr ? v->as.s.len : 0;
    switch (v->type) {
    case FQL_TYPE_BOOL: *out = v_bool(v->as.b); return 0;
    case FQL_TYPE_INT: *out = rtype == FQL_TYPE_FLOAT ? v_float((double)v->as.i) : v_int(v->as.i); return 0;
    case FQL_TYPE_FLOAT: *out = v_float(v->as.f); return 0;
    case FQL_TYPE_DATE: *out = v_date(v->as.i); return 0;
    case FQL_TYPE_TIMESTAMP: *out = v_timestamp(v->as.i); return 0;
    case FQL_TYPE_STRING:
        if (!utf8_valid(p, len, NULL)) { *why = xasprintf("%s returned a string that is not valid UTF-8", fname); return -1; }
        *out = v_string(p, len);
        return 0;
    default: {
        json_error_t je;
        json_t *j = json_loadb(p, len, JSON_DECODE_ANY, &je);
        if (!j) { *why = xasprintf("%s returned invalid JSON: %s", fname, je.text); return -1; }
        json_decref(j);
        *out = v_json_text(p, len);
        return 0;
    }
    }
}

/* ---- hubs ---- */

UdfHub *udf_hub(Runtime *rt, const char *name)
{
    for (UdfHub *h = rt->hubs; h; h = h->next)
        if (!strcmp(h->name, name)) return h;
    UdfHub *h = xcalloc(1, sizeof *h);
    h->name = xstrdup(name);
    pthread_mutex_init(&h->mu, NULL);
    pthread_cond_init(&h->cv, NULL);
    h->next = rt->hubs;
    rt->hubs = h;
    return h;
}

void *udf_hub_state(UdfHub *h) { return h->state; }

void udf_hub_set_state(UdfHub *h, void *state, void (*free_state)(void *state))
{
    h->state = state;
    h->free_state = free_state;
}

void udf_free_all(Runtime *rt)
{
    for (UdfHub *h = rt->hubs, *n; h; h = n) {
        n = h->next;
        if (h->free_state) h->free_state(h->state);
        pthread_mutex_lock(&h->mu);
        while (h->outstanding > 0) pthread_cond_wait(&h->cv, &h->mu);
        pthread_mutex_unlock(&h->mu);
        pthread_mutex_destroy(&h->mu);
        pthread_cond_destroy(&h->cv);
        free(h->name);
        free(h);
    }
    rt->hubs = NULL;
}

/* ---- completion handles ---- */

static void call_free(fql_call *c)
{
    value_free(c->value);
    free(c->error);
    free(c);
}

/* Hand a finished call to its driver, or free it when the driver no longer waits for it. */
static void complete(fql_call *c)
{
    UdfHub *h = c->hub;
    pthread_mutex_lock(&h->mu);
    c->completed = 1;
    h->outstanding--;
    int dropped = __atomic_load_n(&c->abandoned, __ATOMIC_ACQUIRE);
    if (!dropped) {
        c->next = h->done;
        h->done = c;
    }
    pthread_cond_broadcast(&h->cv);
    pthread_mutex_unlock(&h->mu);
    if (dropped) call_free(c);
}

FQL_API void fql_call_return(fql_call *c, const fql_value *v)
{
    if (!c) return;
    char *why = NULL;
    if (value_of(c->hub->name, v, c->rtype, &c->value, &why)) {
        c->failed = 1;
        c->error = why;
    }
    complete(c);
}

FQL_API void fql_call_error(fql_call *c, int retryable, const char *message)
{
    if (!c) return;
    c->failed = 1;
    c->retryable = retryable != 0;
    c->error = xstrdup(message && *message ? message : "failed");
    complete(c);
}

FQL_API int fql_call_cancelled(const fql_call *c) { return c ? __atomic_load_n(&c->abandoned, __ATOMIC_ACQUIRE) : 1; }
FQL_API int64_t fql_call_row(const fql_call *c) { return c ? c->row : -1; }
FQL_API int fql_call_attempt(const fql_call *c) { return c ? c->attempt : 0; }
double udf_call_timeout(const fql_call *c) { return c->timeout; }

/* ---- the driver ---- */

/* One batch of rows through one function. */
typedef struct Run {
    Runtime *rt;
    const char *name;
    fql_type rtype;
    Value **args; int nargs;     /* the arguments passed (borrowed) */
    size_t n;
    int64_t first_row;
    int retries;
    Value *out;
    int *attempts;
    char **why;                  /* per row: why it is null (after its last attempt) */
    const char **kind;
} Run;

/* The row failed an attempt: queue it again (returns 1) or keep why as its reason (consumed). */
static int row_failed(Run *r, size_t row, int retryable, const char *kind, char *why)
{
    if (retryable && r->attempts[row] <= r->retries) { free(why); return 1; }
    free(r->why[row]);
    r->why[row] = why;
    r->kind[row] = kind;
    return 0;
}

/* The arguments of one row, as the function sees them. tmp holds nargs buffers. */
static fql_value *row_args(Run *r, size_t row, Buf *tmp)
{
    fql_value *a = xcalloc((size_t)r->nargs + 1, sizeof *a);
    for (int k = 0; k < r->nargs; k++) {
        buf_init(&tmp[k]);
        arg_of(r->args[k][row], &a[k], &tmp[k]);
    }
    return a;
}

static void row_args_free(Run *r, fql_value *a, Buf *tmp)
{
    for (int k = 0; k < r->nargs; k++) buf_free(&tmp[k]);
    free(a);
}


static int run_sync(Run *r, const fql_udf_spec *spec, fql_error *err)
{
    Buf *tmp = xcalloc((size_t)r->nargs + 1, sizeof *tmp);
    int rc = 0;
    for (size_t row = 0; row < r->n; row++) {
        if (rt_interrupted(r->rt)) { rc = err_set(err, FQL_ERR_RUNTIME, "interrupted"); break; }
        for (;;) {
            fql_value *a = row_args(r, row, tmp), res;
            fql_error ue;
            memset(&res, 0, sizeof res);
            memset(&ue, 0, sizeof ue);
            r->attempts[row]++;
            r->rt->metrics.udf_calls++;
            int frc = spec->fn(spec->ud, a, (size_t)r->nargs, &res, &ue);
            row_args_free(r, a, tmp);
            char *why = NULL;
            if (frc == 0 && value_of(r->name, &res, r->rtype, &r->out[row], &why) == 0) break;
            if (frc != 0) why = xstrdup(ue.message[0] ? ue.message : "failed");
            if (!row_failed(r, row, frc != 0 && ue.code >= 0, frc ? "udf_error" : "invalid_result", why)) break;
        }
    }
    free(tmp);
    return rc;
}

/* Rows waiting to start: a ring, since each row is queued at most once at a time. */
typedef struct Queue { size_t *rows, head, len, cap; } Queue;

static void q_push(Queue *q, size_t row) { q->rows[(q->head + q->len++) % q->cap] = row; }
static size_t q_pop(Queue *q) { size_t r = q->rows[q->head]; q->head = (q->head + 1) % q->cap; q->len--; return r; }

typedef struct Async {
    Run *r;
    const AsyncImpl *im;
    UdfHub *hub;
    Queue q;
    fql_call **live;             /* by slot: the attempt the row waits for, or NULL */
    size_t nlive;
    Buf *tmp;
} Async;

/* Start the next queued row, if the function has a free slot. 1 if one was started. */
static int start_one(Async *a)
{
    Run *r = a->r;
    UdfHub *h = a->hub;
    pthread_mutex_lock(&h->mu);
    int room = a->q.len > 0 && h->outstanding < a->im->max_concurrency;
    if (room) h->outstanding++;
    pthread_mutex_unlock(&h->mu);
    if (!room) return 0;
    size_t row = q_pop(&a->q);
    fql_call *c = xcalloc(1, sizeof *c);
    c->hub = h;
    c->rtype = r->rtype;
    c->slot = row;
    c->row = r->first_row + (int64_t)row;
    c->attempt = ++r->attempts[row];
    c->timeout = a->im->timeout;
    c->deadline = c->timeout > 0 ? mono_now() + c->timeout : 0;
    a->live[row] = c;
    a->nlive++;
    r->rt->metrics.udf_calls++;
    fql_value *args = row_args(r, row, a->tmp);
    fql_error ue;
    memset(&ue, 0, sizeof ue);
    int rc = a->im->start(a->im->ud, args, (size_t)r->nargs, c, &ue);
    row_args_free(r, args, a->tmp);
    if (rc != 0) {   /* never started: nobody else holds c */
        a->live[row] = NULL;
        a->nlive--;
        pthread_mutex_lock(&h->mu);
        h->outstanding--;
        pthread_mutex_unlock(&h->mu);
        call_free(c);
        if (row_failed(r, row, ue.code >= 0, "udf_error", xstrdup(ue.message[0] ? ue.message : "the call could not start"))) q_push(&a->q, row);
    }
    return 1;
}

/* Take the calls completed since the last look and settle their rows. */
static void collect(Async *a)
{
    pthread_mutex_lock(&a->hub->mu);
    fql_call *done = a->hub->done;
    a->hub->done = NULL;
    pthread_mutex_unlock(&a->hub->mu);
    while (done) {
        fql_call *c = done;
        done = c->next;
        size_t row = c->slot;
        a->live[row] = NULL;
        a->nlive--;
        if (!c->failed) {
            a->r->out[row] = c->value;
            c->value = v_null();
        } else {
            char *why = c->error;
            c->error = NULL;
            if (row_failed(a->r, row, c->retryable, "udf_error", why)) q_push(&a->q, row);
        }
        call_free(c);
    }
}

/* Give up on the attempt of row: its completion, whenever it comes, frees it. Returns 0 when it
 * completed meanwhile (it is then collected normally). */
static int abandon(Async *a, size_t row)
{
    fql_call *c = a->live[row];
    pthread_mutex_lock(&a->hub->mu);
    int done = c->completed;
    if (!done) __atomic_store_n(&c->abandoned, 1, __ATOMIC_RELEASE);
    pthread_mutex_unlock(&a->hub->mu);
    if (done) return 0;
    a->live[row] = NULL;
    a->nlive--;
    return 1;
}

/* Abandon the attempts past their deadline; returns the next deadline among the others (0 = none). */
static double expire(Async *a, double now)
{
    double next = 0;
    for (size_t row = 0; row < a->r->n && a->nlive; row++) {
        fql_call *c = a->live[row];
        if (!c || !c->deadline) continue;
        if (c->deadline <= now) {
            if (abandon(a, row) && row_failed(a->r, row, 1, "timeout", xasprintf("no answer within %g s (attempt %d)", a->im->timeout, c->attempt)))
                q_push(&a->q, row);
        } else if (!next || c->deadline < next) next = c->deadline;
    }
    return next;
}

static void wait_some(Async *a, double until)
{
    double now = mono_now(), wait = MAX_WAIT_S;
    if (until > 0 && until - now < wait) wait = until - now > 0 ? until - now : 0;
    if (a->im->pump) { a->im->pump(a->im->ud, wait); return; }
    UdfHub *h = a->hub;
    pthread_mutex_lock(&h->mu);
    if (!h->done) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        double t = (double)ts.tv_sec + ts.tv_nsec / 1e9 + wait;
        ts.tv_sec = (time_t)t;
        ts.tv_nsec = (long)((t - (double)ts.tv_sec) * 1e9);
        pthread_cond_timedwait(&h->cv, &h->mu, &ts);
    }
    pthread_mutex_unlock(&h->mu);
}

static int run_async(Run *r, const AsyncImpl *im, UdfHub *hub, fql_error *err)
{
    Async a;
    memset(&a, 0, sizeof a);
    a.r = r;
    a.im = im;
    a.hub = hub;
    a.q.cap = r->n ? r->n : 1;
    a.q.rows = xmalloc(a.q.cap * sizeof *a.q.rows);
    for (size_t row = 0; row < r->n; row++) q_push(&a.q, row);
    a.live = xcalloc(a.q.cap, sizeof *a.live);
    a.tmp = xcalloc((size_t)r->nargs + 1, sizeof *a.tmp);
    int rc = 0;
    while (a.q.len || a.nlive) {
        if (rt_interrupted(r->rt)) { rc = err_set(err, FQL_ERR_RUNTIME, "interrupted"); break; }
        while (start_one(&a)) {}
        collect(&a);
        double next = expire(&a, mono_now());
        if (!a.q.len && !a.nlive) break;
        wait_some(&a, next);
        collect(&a);
    }
    for (size_t row = 0; row < r->n && a.nlive; row++)
        if (a.live[row] && !abandon(&a, row)) collect(&a);
    collect(&a);   /* calls that completed while being abandoned */
    free(a.q.rows);
    free(a.live);
    free(a.tmp);
    return rc;
}

/* The options every asynchronous built-in takes, by parameter name. */
static const struct AsyncOption { const char *name; int whole; double least; const char *what; } async_options[] = {
    { "max_concurrency", 1, 1, "a positive whole number" },
    { "timeout", 0, 0, "a non-negative number of seconds" },
    { "retries", 1, 0, "a non-negative whole number" },
};

/* Set option k of im to v (a constant). 0 ok; -1 with *msg. */
static int set_option(const char *fname, int k, Value v, AsyncImpl *im, char **msg)
{
    const struct AsyncOption *o = &async_options[k];
    double x = v.kind == V_INT ? (double)v.u.i : v.kind == V_FLOAT ? v.u.f : -1;
    if (x < o->least || (o->whole && x != (double)(int64_t)x) || x > 1e6) {
        *msg = xasprintf("%s: %s must be %s", fname, o->name, o->what);
        return -1;
    }
    if (k == 0) im->max_concurrency = (int)x;
    else if (k == 1) im->timeout = x;
    else im->retries = (int)x;
    return 0;
}

/* The async implementation of a FUNC_ASYNC built-in: its defaults, then the call's options
 * (constants, so the first row's values hold for all). The arguments before the first option are
 * passed to the function; their count goes to *nargs. */
static int builtin_impl(Runtime *rt, const Expr *e, Value **args, size_t n, AsyncImpl *im, UdfHub **hub, int *nargs, char **msg)
{
    *hub = udf_hub(rt, e->fn->name);
    if (!e->fn->async_setup) { *msg = xasprintf("%s has no asynchronous implementation", e->fn->name); return -1; }
    if (e->fn->async_setup(*hub, im, msg)) return -1;
    *nargs = e->nargs;
    for (int i = 0; i < e->nargs && i < e->fn->nparams; i++)
        for (int k = 0; k < 3; k++) {
            if (strcmp(e->fn->params[i], async_options[k].name)) continue;
            if (i < *nargs) *nargs = i;
            if (n && args[i][0].kind != V_NULL && set_option(e->fn->name, k, args[i][0], im, msg)) return -1;
        }
    return 0;
}

/* Record the rows left null: system.lm_errors, the log, the statement's counters. */
static void record_failures(Run *r)
{
    Runtime *rt = r->rt;
    for (size_t row = 0; row < r->n; row++) {
        if (!r->why[row]) continue;
        rt->metrics.udf_failures++;
        rt_log(rt, FQL_LOG_DEBUG, "%s: row %lld: %s", r->name, (long long)(r->first_row + (int64_t)row), r->why[row]);
        if (!rt->state) {
            fql_error e;
            memset(&e, 0, sizeof e);
            if (!rt_state(rt, &e)) { rt_log(rt, FQL_LOG_WARN, "%s: row failures are not recorded: %s", r->name, e.message); return; }
        }
        if (!rt->query_id) rt->query_id = state_next_query_id(rt->state);
        state_add_error(rt->state, rt->query_id, r->first_row + (int64_t)row, r->name, r->kind[row], r->why[row]);
    }
    if (rt->state) state_commit(rt->state);
}

Value *udf_eval(Runtime *rt, const Expr *e, Value **args, size_t n, int64_t first_row, fql_error *err)
{
    if (!rt) { err_at(err, FQL_ERR_RUNTIME, e->src, e->pos, "%s() cannot be used in values rows", e->name ? e->name : e->fn->name); return NULL; }
    Run r;
    memset(&r, 0, sizeof r);
    r.rt = rt;
    r.args = args;
    r.n = n;
    r.first_row = first_row;
    AsyncImpl im;
    memset(&im, 0, sizeof im);
    UdfHub *hub = NULL;
    const UdfDef *u = NULL;
    if (e->fn) {
        char *msg = NULL;
        r.name = e->fn->name;
        r.rtype = FQL_TYPE_JSON;
        if (builtin_impl(rt, e, args, n, &im, &hub, &r.nargs, &msg)) {
            err_at(err, FQL_ERR_RUNTIME, e->src, e->pos, "%s", msg);
            free(msg);
            return NULL;
        }
    } else {
        u = catalog_find_udf(rt->cat, e->name);
        if (!u) { err_at(err, FQL_ERR_RUNTIME, e->src, e->pos, "function %s is no longer registered", e->name); return NULL; }
        if ((size_t)e->nargs != u->spec.nargs) {
            err_at(err, FQL_ERR_RUNTIME, e->src, e->pos, "%s now takes %zu arguments (it was re-registered)", e->name, u->spec.nargs);
            return NULL;
        }
        r.name = u->name;
        r.rtype = u->spec.return_type;
        r.nargs = e->nargs;
        if (u->spec.async_fn) {
            im.start = u->spec.async_fn;
            im.ud = u->spec.ud;
            im.max_concurrency = u->spec.max_concurrency > 0 ? u->spec.max_concurrency : DEFAULT_CONCURRENCY;
            im.timeout = u->spec.timeout;
            im.retries = u->spec.retries;
            hub = udf_hub(rt, u->name);
        }
    }
    r.retries = hub ? im.retries : u->spec.retries;
    r.out = xcalloc(n ? n : 1, sizeof *r.out);
    r.attempts = xcalloc(n ? n : 1, sizeof *r.attempts);
    r.why = xcalloc(n ? n : 1, sizeof *r.why);
    r.kind = xcalloc(n ? n : 1, sizeof *r.kind);
    int rc = hub ? run_async(&r, &im, hub, err) : run_sync(&r, &u->spec, err);
    if (rc == 0) record_failures(&r);
    for (size_t row = 0; row < n; row++) free(r.why[row]);
    free(r.why);
    free(r.kind);
    free(r.attempts);
    if (rc) {
        for (size_t row = 0; row < n; row++) value_free(r.out[row]);
        free(r.out);
        if (!err_failed(err)) err_set(err, FQL_ERR_RUNTIME, "%s failed", r.name);
        return NULL;
    }
    return r.out;
}
