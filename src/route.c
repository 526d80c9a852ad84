/* route.c: where a model request goes, between the semantic operators and the transports.
 *
 *   - Per-row model choice: the `model:` argument may be an expression (`if(length(text) < 8000,
 *     "fast", "long")`) whose results are alias literals, its candidates, known when the
 *     statement is bound. A row is sent to the alias its expression gives; a row too long for
 *     that alias's context window goes to the candidate with the smallest window that holds it,
 *     and a row longer than every candidate's window is null with the reason.
 *   - Transport: a model declared with `batch: true` goes through its provider's Batch API
 *     (batch.c); every other through the scheduler (sched.c). Each alias keeps its own limits.
 *   - Fallback: a request that failed on an alias for a row-level reason (after the scheduler's
 *     retries: a 5xx that persisted, a refusal, a context-window error, a rate limit that never
 *     cleared) is tried on the alias's `fallback:` aliases in order. Fatal errors (a bad key, an
 *     exhausted quota) stop the statement as before: another alias would not make them right.
 *     The answer says which alias gave it (LmAnswer.answered_by), lm_calls has a row for every
 *     alias tried, and the statement's metrics count the fallback alias's rows.
 *
 * Ownership: route_submit consumes the request; done is called exactly once, before route_run
 * returns.
 */
#include <stdlib.h>
#include <string.h>
#include "rt.h"
#include "replay.h"
#include "catalog.h"
#include "models.h"
#include "state.h"
#include "cache.h"

/* ---- per-row model choice ---- */

/* The result positions of a model: expression e (if/case branches, coalesce arguments, or e
 * itself), at most max, into out. Returns how many there are (may exceed max). */
int route_candidates(const Expr *e, const Expr **out, int max)
{
    if (e->kind == E_CASE) {
        int n = 0;
        for (int i = 1; i < e->nargs; i += 2) n += route_candidates(e->args[i], out + (n < max ? n : max), n < max ? max - n : 0);
        if (e->flag && e->nargs % 2) n += route_candidates(e->args[e->nargs - 1], out + (n < max ? n : max), n < max ? max - n : 0);
        return n;
    }
    if (e->kind == E_CALL && e->fn && !strcmp(e->fn->name, "coalesce")) {
        int n = 0;
        for (int i = 0; i < e->nargs; i++) n += route_candidates(e->args[i], out + (n < max ? n : max), n < max ? max - n : 0);
        return n;
    }
    if (max > 0) out[0] = e;
    return 1;
}

LmModel *route_model_named(Runtime *rt, const char *name, fql_error *err)
{
    char *alias = xstrdup(name), *dot = strchr(alias, '.');
    if (dot) *dot = 0;
    LmModel *m = models_get(rt, alias, dot ? dot + 1 : NULL, err);
    free(alias);
    return m;
}

char *route_alias_problem(Runtime *rt, const char *name, int embedding)
{
    if (!rt->cat) return NULL;
    char *alias = xstrdup(name), *dot = strchr(alias, '.');
    if (dot) *dot = 0;
    const ModelDecl *d = catalog_find_model(rt->cat, alias);
    char *why = NULL;
    if (!d) {
        Buf names;
        buf_init(&names);
        for (const ModelDecl *m = rt->cat->models; m; m = m->next)
            if (m->embedding == embedding) buf_printf(&names, "%s%s", names.len ? ", " : "", m->alias);
        why = xasprintf("the model: expression gave '%s' for this row, which is not a declared %smodel (declared: %s)", name,
                        embedding ? "embedding " : "", names.data ? names.data : "none");
        buf_free(&names);
    } else if (d->embedding != embedding)
        why = xasprintf("the model: expression gave '%s' for this row, which is %s model; this call needs %s model", name,
                        d->embedding ? "an embedding" : "a language", embedding ? "an embedding" : "a language");
    free(alias);
    return why;
}

/* Does a request of est tokens fit m's context window (unknown windows are taken to fit)? */
static int fits(const LmModel *m, int64_t est)
{
    return m->context_window <= 0 || est <= m->context_window;
}

int route_model(Runtime *rt, const Expr *e, const char *alias, const LmRequest *req, LmModel **out,
                const char **kind, char **why, fql_error *err)
{
    *out = NULL;
    *why = NULL;
    LmModel *m = route_model_named(rt, alias, err);
    if (!m) return -1;
    *out = m;
    int64_t est = req ? req->est_input_tokens : 0;
    if (!req || fits(m, est)) return 0;
    /* too long for the alias chosen: the candidate with the smallest window that holds it */
    const Expr *mx = expr_arg(e, "model");
    const Expr *lits[32];
    int n = mx ? route_candidates(mx, lits, 32) : 0;
    LmModel *best = NULL;
    Buf wins;
    buf_init(&wins);
    for (int i = 0; i < n && i < 32; i++) {
        if (lits[i]->kind != E_LIT || lits[i]->lit.kind != V_STRING) continue;
        LmModel *c = route_model_named(rt, v_str(lits[i]->lit), err);
        if (!c) { buf_free(&wins); return -1; }
        if (strstr(wins.data ? wins.data : "", c->alias) == NULL)
            buf_printf(&wins, "%s%s: %lld", wins.len ? ", " : "", c->alias, (long long)c->context_window);
        if (fits(c, est) && (!best || (c->context_window > 0 && c->context_window < best->context_window) || best->context_window <= 0))
            best = c;
    }
    if (best) { *out = best; buf_free(&wins); return 0; }
    *kind = "context_window";
    *why = n > 1 ? xasprintf("the input (about %lld tokens) is longer than the context window of every candidate model (%s)",
                             (long long)est, wins.data)
                 : xasprintf("the input (about %lld tokens) is longer than the context window of '%s' (%lld tokens)",
                             (long long)est, m->alias, (long long)m->context_window);
    buf_free(&wins);
    return 0;
}

/* ---- transport and fallback ---- */

static void send_to(Runtime *rt, LmModel *m, LmRequest *req, SchedDone done, void *ud)
{
    if (tape_refuse(rt, m, req, done, ud)) return;   /* --replay / --offline: nothing is sent */
    /* Vertex: refresh the access token before the request is queued when it expires within 5
     * minutes (vertex_auth.c; no I/O otherwise): the adapter that builds the request only reads
     * it. A failure is reported by the scheduler, which asks again before it builds the request. */
    if (m->provider == PROV_VERTEX) {
        char *msg = NULL;
        vertex_access_token(m, NULL, &msg);
        free(msg);
    }
    if (m->batch) { batch_submit(rt, m, req, done, ud); return; }
    if (!rt->sched) rt->sched = sched_new();
    sched_add_model(rt->sched, m);
    sched_submit(rt->sched, m, req, done, ud);
}

/* A request on its way down an alias's fallback chain. */
typedef struct Hop {
    Runtime *rt;
    LmModel *asked;              /* the alias the operator chose (its fallback list is followed) */
    LmModel *cur;                /* the alias trying now */
    int next;                    /* the next fallback to try */
    const char *op;
    SchedDone done;
    void *ud;
    LmRequest *copy;             /* the request as first made, for the next alias */
} Hop;

/* Failures another alias may answer: row errors and transient ones that outlived their retries.
 * Not a statement that stopped, nor malformed JSON, which the operator repairs on the alias that
 * gave it. */
static int worth_falling_back(const LmAnswer *a)
{
    if (a->outcome == LM_OK || a->outcome == LM_FATAL) return 0;
    return !a->error_kind || (strcmp(a->error_kind, "cancelled") && strcmp(a->error_kind, "invalid_json"));
}

static void deliver(Hop *h, LmRequest *req, const LmAnswer *a)
{
    LmAnswer out = *a;   /* borrowed contents, as a callback's answer always is */
    out.answered_by = h->cur == h->asked ? NULL : h->cur;
    if (out.answered_by && a->outcome == LM_OK && h->rt->cache && !a->from_cache) {
        char key[65], *msg = NULL;
        if (cache_request_key(h->cur, req, key, &msg) == 0) tape_put(h->rt, key, h->cur, a);
        free(msg);
    }
    h->done(h->ud, req, &out);
    lm_request_free(h->copy);
    free(h);
}

static void on_hop(void *ud, LmRequest *req, const LmAnswer *a)
{
    Hop *h = ud;
    Runtime *rt = h->rt;
    if (!worth_falling_back(a) || h->next >= h->asked->nfallback) { deliver(h, req, a); return; }
    /* this alias failed the row: say so in lm_calls, then ask the next one */
    state_add_call(rt->state, rt->query_id, h->cur, h->op, a, req->attempts);
    fql_error e;
    memset(&e, 0, sizeof e);
    LmModel *fb = route_model_named(rt, h->asked->fallback[h->next++], &e);
    if (!fb) { deliver(h, req, a); return; }
    if (rt->on_fallback) rt->on_fallback(rt, h->cur, fb, h->op);
    h->cur = fb;
    LmRequest *r = lm_request_copy(h->copy);
    char key[65], *msg = NULL;
    LmAnswer hit;
    if (rt->cache && cache_request_key(fb, r, key, &msg) == 0 && tape_get(rt, key, fb, &hit)) {
        deliver(h, r, &hit);
        lm_answer_clear(&hit);
        lm_request_free(r);
        return;
    }
    free(msg);
    send_to(rt, fb, r, on_hop, h);
}

void route_submit(Runtime *rt, LmModel *m, LmRequest *req, const char *op, SchedDone done, void *ud)
{
    if (m->nfallback == 0) { send_to(rt, m, req, done, ud); return; }
    Hop *h = xcalloc(1, sizeof *h);
    h->rt = rt;
    h->asked = h->cur = m;
    h->op = op;
    h->done = done;
    h->ud = ud;
    h->copy = lm_request_copy(req);
    send_to(rt, m, req, on_hop, h);
}

int route_run_until(Runtime *rt, int (*stop)(void *ud), void *ud, fql_error *err)
{
    int rc = 0;
    for (;;) {   /* each side's callbacks may hand work to the other (a fallback to a batch model) */
        if (rt->sched) rc = sched_run_until(rt->sched, stop, ud, err);
        if (rc || (stop && stop(ud)) || !batch_pending(rt)) break;
        rc = batch_run(rt, err);
        if (rc) break;
    }
    if (rc) batch_abandon(rt);
    return rc;
}

void route_cancel(Runtime *rt)
{
    batch_abandon(rt);
    if (!rt->sched) return;
    fql_error ignore;
    memset(&ignore, 0, sizeof ignore);
    sched_cancel(rt->sched);
    sched_run(rt->sched, &ignore);
    batch_abandon(rt);   /* anything a cancelled answer's callback queued */
}
