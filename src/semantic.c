/* semantic.c: running the semantic operators over a batch of rows.
 *
 * For each row: pick the model (the `model:` argument, evaluated per row, or the default), render the
 * request, and look it up. Identical requests within the batch are sent once; a request answered
 * before (the response cache, keyed by provider, model, base URL and the request body) is not sent
 * at all. The rest go out through route.c: to the scheduler, which paces them under each model's
 * limits, or to the provider's Batch API (batch: true), with fallback aliases for rows that fail;
 * a model: expression picks the alias per row (route_model). Every structured answer is
 * validated against the expected type; an invalid one is asked again once with the validation
 * error ("repair"); after that the row is null and system.lm_errors says why.
 */
#include <stdlib.h>
#include <string.h>
#include <math.h>
#include <time.h>
#include <unistd.h>
#include <jansson.h>
#include "rt.h"
#include "catalog.h"
#include "metrics.h"
#include "models.h"
#include "state.h"
#include "shared.h"
#include "shared_cache.h"
#include "cache.h"
#include "semop.h"
#include "ops.h"
#include "tokenizer.h"
#include "semantic.h"
#include "replay.h"
#include "media.h"

#define REQ_BUCKETS 4096
typedef struct Req Req;

/* Requests another process sharing the state database is sending (state_claim): each is polled
 * in the cache until its answer is there, or claimed and sent here once that process let it go. */
typedef struct Deferred { Req *q; LmRequest *req; struct SemJob *job; struct Deferred *next; } Deferred;
typedef struct Waits { Deferred *head; double next_poll, backoff; } Waits;

/* What a request sent in this statement cost, kept after its Req is released, so that a later
 * stage's provenance() of the same request (then a cache hit) tells how the answer was got. */
typedef struct Sent {
    char key[65];
    const struct LmModel *m;
    int attempts;
    int64_t in_tokens, out_tokens;
    double cost, latency;
    struct Sent *next;
} Sent;

typedef struct SemStats {
    Req *reqs[REQ_BUCKETS];       /* requests of the statement still referenced (dedup), by key */
    Sent *sent[REQ_BUCKETS];      /* requests sent in the statement, by key (provenance) */
    int norphans;                 /* jobs freed early that still wait for answers */
    double spent, estimate;       /* USD so far; the estimate (explain cost), or < 0 */
    int budget_hit;
    StmtMetrics met;              /* the statement's per-model counters (metrics.c) */
    int64_t error_rows;
    Waits waits;                  /* requests claimed by another process (state.c) */
} SemStats;

static double wall_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* The counters of model m (for operator op) in the running statement, made on first use; NULL
 * when no statement runs. */
static ModelCount *count_of(Runtime *rt, LmModel *m, const char *op)
{
    return rt->sem ? metrics_model(&rt->sem->met, rt->sched, m, op) : NULL;
}

static void semantic_fallback(Runtime *rt, LmModel *from, LmModel *to, const char *op);

void semantic_begin(Runtime *rt, const char *statement)
{
    rt->on_fallback = semantic_fallback;
    if (rt->sem) semantic_end(rt, 0, 0);
    rt->sem = xcalloc(1, sizeof *rt->sem);
    metrics_begin(&rt->sem->met, statement);
    rt->sem->estimate = -1;
    rt->query_id = 0;
}

void semantic_set_estimate(Runtime *rt, double usd)
{
    if (rt->sem) rt->sem->estimate = usd;
}

void semantic_pairs(Runtime *rt, const char *alias, double est_recall, const char *note)
{
    if (rt->sem) metrics_pairs(&rt->sem->met, alias, est_recall, note);
}

void semantic_cascade(Runtime *rt, const char *cheap, const char *strong, const CascadeStats *st)
{
    if (rt->sem) metrics_cascade(&rt->sem->met, cheap, strong, st);
}

void semantic_end(Runtime *rt, double elapsed_ms, size_t rows)
{
    semantic_flush(rt);
    SemStats *sem = rt->sem;
    if (!sem) return;
    rt->sem = NULL;
    (void)rows;
    metrics_end(rt, &sem->met, elapsed_ms);
    for (int i = 0; i < REQ_BUCKETS; i++)
        for (Sent *x = sem->sent[i], *nx; x; x = nx) { nx = x->next; free(x); }
    free(sem);
}

/* rt->on_fallback while a statement runs: a fallback counted in the statement's metrics (to's rows
 * and requests, from's hand-overs). */
static void semantic_fallback(Runtime *rt, LmModel *from, LmModel *to, const char *op)
{
    ModelCount *f = count_of(rt, from, op), *t = count_of(rt, to, op);
    if (f) f->fell_back++;
    if (t) { t->rows++; t->requests++; }
}

static void draw_progress(Runtime *rt, int force)
{
    if (rt->sem) metrics_progress(rt, &rt->sem->met, force);
}

static void clear_progress(Runtime *rt)
{
    if (rt->sem) metrics_progress_clear(&rt->sem->met);
}

/* ---- prompts ---- */

static void add_examples(Buf *sys, Value ex)
{
    if (ex.kind != V_LIST || ex.u.l->n == 0) return;
    buf_puts(sys, "\n\nExamples:");
    for (uint32_t i = 0; i < ex.u.l->n; i++) {
        Value it = ex.u.l->items[i];
        if (it.kind != V_STRUCT) continue;
        for (uint32_t f = 0; f < it.u.st->n; f++) {
            buf_printf(sys, "\n%s: ", it.u.st->type->fields[f].name);
            Value fv = it.u.st->fields[f];
            if (fv.kind == V_STRING) buf_puts(sys, v_str(fv)); else value_to_json(sys, fv);
        }
        buf_putc(sys, '\n');
    }
}

static const Value *arg_row(const Expr *e, Value **args, const char *name, size_t row)
{
    for (int i = 0; e->argnames && i < e->nargs; i++)
        if (e->argnames[i] && !strcmp(e->argnames[i], name)) return &args[i][row];
    return NULL;
}

static Value positional(const Expr *e, Value **args, int k, size_t row)
{
    int seen = 0;
    for (int i = 0; i < e->nargs; i++)
        if (!e->argnames || !e->argnames[i]) {
            if (seen++ == k) return args[i][row];
        }
    return v_null();
}

static void as_text(Buf *b, Value v)
{
    if (v.kind == V_STRING) buf_append(b, v_str(v), v_strlen(v));
    else value_to_text(b, v, "");
}

/* Input tokens of text s for model m, for the rate-limit reservation and the context-window check:
 * exact for models of OpenAI's families (OpenAI, OpenRouter's openai/..., OpenAI-compatible servers
 * serving such names), whose tokenizer FQL has; bytes / 4 for the others. */
static int64_t token_estimate(const LmModel *m, const char *s)
{
    size_t n = strlen(s);
    int enc = m && (m->provider == PROV_OPENAI || m->provider == PROV_OPENROUTER) ? tok_encoding_for_model(m->model_name) : -1;
    int64_t k = enc >= 0 ? tok_count((TokEncoding)enc, s, n, NULL) : -1;
    return k >= 0 ? k : text_token_estimate(s, n);
}

/* A request with media for a model that cannot take them stops the statement before anything is
 * sent (the binder refuses literal aliases already; this catches fallbacks and routed models).
 * 0, or -1 with err naming the model. */
static int media_check(const LmModel *m, const LmRequest *req, fql_error *err)
{
    int kinds = 0;
    for (int i = 0; i < req->nimages; i++) kinds |= !strncmp(req->images[i].mime_type, "audio/", 6) ? MEDIA_AUDIO : MEDIA_IMAGE;
    char *no = kinds ? media_refusal(m->alias, m->provider_name, m->model_name, m->media, kinds) : NULL;
    if (!no) return 0;
    err_set(err, FQL_ERR_RUNTIME, "%s", no);
    free(no);
    return -1;
}

/* Build the request for one row. NULL when the row's input is null (no request: the answer is
 * null), or when its media cannot be read or sent (then *why says why: a row error; why may be NULL
 * where the caller has a request built before). An image or audio input, or one in the template's
 * text, becomes a part after the text (media.c). */
static LmRequest *build_request(const Expr *e, Value **args, size_t row, const LmModel *m, char **why)
{
    Value in = positional(e, args, 0, row);
    if (in.kind == V_NULL) return NULL;
    LmRequest *r = lm_request_new(LM_CHAT);
    Buf sys, user;
    buf_init(&sys);
    buf_init(&user);
    if (!media_kind_of_value(in)) as_text(&user, in);
    if (m && (media_kind_of_value(in) || media_has_marker(user.data))) {
        int kinds;
        char *msg = NULL, *u = media_attach(m, r, buf_take(&user), in, &kinds, &msg);
        if (!u) {
            if (why) *why = msg; else free(msg);
            buf_free(&sys);
            lm_request_free(r);
            return NULL;
        }
        buf_puts(&user, u);
        free(u);
    }
    const Value *instr = arg_row(e, args, "instructions", row);
    semop_desc(e->sem)->instruct(e, arg_row(e, args, "labels", row), &sys, r);
    if (instr && instr->kind == V_STRING) buf_printf(&sys, "\n\n%s", v_str(*instr));
    const Value *ex = arg_row(e, args, "examples", row);
    if (ex) add_examples(&sys, *ex);
    r->system = buf_take(&sys);
    r->user = buf_take(&user);
    const Value *t = arg_row(e, args, "temperature", row);
    r->temperature = t ? (t->kind == V_FLOAT ? t->u.f : t->kind == V_INT ? (double)t->u.i : NAN) : NAN;
    const Value *mo = arg_row(e, args, "max_output_tokens", row);
    r->max_output_tokens = mo && mo->kind == V_INT ? (int)mo->u.i : 0;
    if (r->schema) r->out_hint = (int)semop_output_tokens(e, r);   /* the scheduler's output ceiling */
    /* token probabilities, for the answer's confidence: asked of every model that gives them (they
     * cost nothing extra), so a value and its confidence always come from one request */
    r->logprobs = semantic_value_member(e->sem) && m && m->logprobs;
    r->est_input_tokens += token_estimate(m, r->system) + token_estimate(m, r->user) + 16;   /* + message framing; media's are in */
    return r;
}

/* Turn a validated-or-not answer into the operator's value. Returns 0 and *out, or -1 and *why. */
static int answer_value(const Expr *e, const LmAnswer *a, Value *out, char **why)
{
    *out = v_null();
    if ((e->sem == SEM_MAP || e->sem == SEM_REDUCE) && expr_answer_type(e)->kind != TY_STRUCT) {
        if (!a->text) { *why = xstrdup("the answer has no text"); return -1; }
        size_t n = strlen(a->text);
        while (n && (a->text[n - 1] == '\n' || a->text[n - 1] == ' ')) n--;
        *out = v_string(a->text, n);
        return 0;
    }
    if (!a->json || !json_is_object(a->json)) { *why = xstrdup("the answer is not a JSON object"); return -1; }
    if (e->sem == SEM_CLASSIFY) {
        json_t *l = json_object_get(a->json, "label");
        if (!json_is_string(l)) { *why = xstrdup("\"label\" is missing or not a string"); return -1; }
        const Type *lt = expr_answer_type(e);
        for (int i = 0; i < lt->nlabels; i++)
            if (!strcmp(lt->labels[i], json_string_value(l))) { *out = v_cstring(lt->labels[i]); return 0; }
        *why = xasprintf("\"%s\" is not one of the labels", json_string_value(l));
        return -1;
    }
    if (e->sem == SEM_PREDICATE) {
        json_t *v = json_object_get(a->json, "answer");
        if (!json_is_boolean(v)) { *why = xstrdup("\"answer\" is missing or not true/false"); return -1; }
        *out = v_bool(json_is_true(v));
        return 0;
    }
    /* extract / map(schema:): every declared field must be present; types must fit */
    const Type *t = expr_answer_type(e);
    for (int i = 0; i < t->nfields; i++) {
        json_t *f = json_object_get(a->json, t->fields[i].name);
        if (!f) { *why = xasprintf("field \"%s\" is missing", t->fields[i].name); return -1; }
        if (json_is_null(f) && t->fields[i].type->nullable != TYPE_DECLARED_NULLABLE) {
            *why = xasprintf("field \"%s\" is null but the type does not allow null", t->fields[i].name);
            return -1;
        }
    }
    const char *w = NULL;
    Value v = value_from_jansson(a->json, t, &w);
    if (w) { value_free(v); *why = xasprintf("%s", w); return -1; }
    *out = v;
    return 0;
}

static void copy_answer(LmAnswer *dst, const LmAnswer *a)
{
    lm_answer_clear(dst);
    *dst = *a;
    dst->text = a->text ? xstrdup(a->text) : NULL;
    dst->json = a->json ? json_incref(a->json) : NULL;
    if (a->vectors && a->nvec > 0) {
        size_t bytes = (size_t)a->nvec * (size_t)a->dim * sizeof(float);
        dst->vectors = xmalloc(bytes);
        memcpy(dst->vectors, a->vectors, bytes);
    } else dst->vectors = NULL;
    dst->error_kind = a->error_kind ? xstrdup(a->error_kind) : NULL;
    dst->error_message = a->error_message ? xstrdup(a->error_message) : NULL;
    dst->upstream = a->upstream ? xstrdup(a->upstream) : NULL;
    dst->tokens = lm_tokens_copy(a->tokens, a->ntokens);
    dst->ntokens = dst->tokens ? a->ntokens : 0;
}

static int ensure_state(Runtime *rt, fql_error *err)
{
    return rt_state(rt, err) ? 0 : -1;
}

/* ---- jobs: the semantic work of one expression over one piece of rows ----
 *
 * A job renders its rows' requests, finds each among the requests of the statement still being
 * answered (identical requests are sent once) or in the response cache, and submits the rest to the
 * scheduler without waiting. semantic_finish then runs the scheduler until this job's rows have
 * their answers, while the requests of every other job (other pieces, other stages) go on. This is
 * what lets a second stage start on the rows the first has finished.
 *
 * A job freed while its requests are still out (the statement failed or stopped) becomes an
 * orphan: it is freed when its last answer arrives (semantic_flush cancels and drains them). */

struct Req {
    Req *hnext;                  /* chain in the statement's table of shared requests */
    char key[65];
    LmModel *m;
    int refs;                    /* rows of jobs that use it */
    int final, ok, repaired;
    LmAnswer ans;
    Value value;                 /* ok: the converted value */
    double conf;                 /* ok: the answer's probability (semantic.h), NAN when unknown */
    int64_t row;                 /* the row that first asked it (system.lm_calls.row) */
    /* provenance() of a sent answer: its request's sends, tokens, USD (< 0 unknown) and latency
     * (ms, < 0 unknown); a packed or fused answer's are the whole request's */
    int attempts;
    int64_t in_tokens, out_tokens;
    double cost, latency;
    char *why; const char *kind; /* not ok: why the rows are null */
    SemJob **waiters; int nwait, capwait;   /* one entry per waiting row */
    SemJob *owner; size_t owner_row;        /* whose arguments rebuild the request for a repair */
    OpStats *ost;
    const Expr *e;
};

typedef struct EmbText { LmModel *m; char *text; char key[65]; Value vec; int req; int idx; } EmbText;
typedef struct EmbReq { SemJob *job; LmModel *m; LmAnswer ans; int answered; } EmbReq;

struct SemJob {
    Runtime *rt;
    const Expr *e;
    size_t n;
    int64_t first_row;
    Value **args; int nargs;     /* owned: the evaluated arguments */
    Req **rows;                  /* chat operators: each row's request (a reference), or NULL */
    Value *out;                  /* computed at once (similarity), or NULL */
    EmbText *texts; int ntexts; int *row_text; EmbReq *ereqs; int nereqs;   /* embed */
    PdfJob *pdf;                 /* parse_pdf (func_doc.c) */
    int waiting;                 /* rows (or embed requests) without their final answer */
    int orphan;
    Req **pend; LmRequest **pend_req; int npend;   /* new requests of rows to pack (pack:) */
    OpStats *ost;
};

static unsigned req_bucket(const char *key)
{
    unsigned h = 0;
    for (int i = 0; i < 8; i++) h = h * 16 + (unsigned)(key[i] <= '9' ? key[i] - '0' : key[i] - 'a' + 10);
    return h % REQ_BUCKETS;
}

static Req *req_find(SemStats *sem, LmModel *m, const char *key)
{
    for (Req *q = sem->reqs[req_bucket(key)]; q; q = q->hnext)
        if (q->m == m && !strcmp(q->key, key)) return q;
    return NULL;
}

static void req_release(SemStats *sem, Req *q)
{
    if (--q->refs > 0) return;
    if (q->final && q->ok && !q->ans.from_cache) {   /* sent here: remembered for provenance() */
        Sent *x = xcalloc(1, sizeof *x);
        memcpy(x->key, q->key, sizeof x->key);
        x->m = q->ans.answered_by ? q->ans.answered_by : q->m;
        x->attempts = q->attempts;
        x->in_tokens = q->in_tokens;
        x->out_tokens = q->out_tokens;
        x->cost = q->cost;
        x->latency = q->latency;
        unsigned b = req_bucket(q->key);
        x->next = sem->sent[b];
        sem->sent[b] = x;
    }
    Req **pp = &sem->reqs[req_bucket(q->key)];
    while (*pp && *pp != q) pp = &(*pp)->hnext;
    if (*pp) *pp = q->hnext;
    lm_answer_clear(&q->ans);
    value_free(q->value);
    free(q->why);
    free(q->waiters);
    free(q);
}

static void job_really_free(SemJob *j);

static void job_row_done(SemJob *j)
{
    j->waiting--;
    if (j->orphan && j->waiting == 0) {
        j->rt->sem->norphans--;
        job_really_free(j);
    }
}

static void add_cost(Runtime *rt, OpStats *ost, LmModel *m, const LmAnswer *a, int attempts)
{
    double c = lm_answer_cost(m, a);
    if (ost) {
        ost->sent++;
        if (attempts > 1) ost->retried += attempts - 1;
        ost->input_tokens += a->input_tokens;
        ost->output_tokens += a->output_tokens;
        if (c >= 0) ost->cost_usd += c;
    }
    SemStats *sem = rt->sem;
    if (!sem || c < 0) return;
    sem->spent += c;
    if (rt->budget > 0 && sem->spent >= rt->budget && !sem->budget_hit) {
        sem->budget_hit = 1;
        if (rt->sched) sched_cancel(rt->sched);
    }
}

static void req_submit(Runtime *rt, Req *q, LmRequest *req);

/* Mark q final and wake its rows. */
static void req_final(Req *q)
{
    q->final = 1;
    int n = q->nwait;
    SemJob **w = q->waiters;
    q->waiters = NULL;
    q->nwait = q->capwait = 0;
    for (int i = 0; i < n; i++) job_row_done(w[i]);
    free(w);
}

/* An answer is in (from the cache or the provider): validate it; repair once; or give up. */
static void req_settle(Runtime *rt, Req *q, const Expr *e)
{
    char *why = NULL;
    int repairable = 0;
    if (q->ans.outcome != LM_OK) {
        repairable = q->ans.outcome == LM_ROW_ERROR && q->ans.error_kind && !strcmp(q->ans.error_kind, "invalid_json");
        if (!repairable) {
            q->kind = q->ans.error_kind ? q->ans.error_kind : "failed";
            q->why = xstrdup(q->ans.error_message ? q->ans.error_message : "the request failed");
            req_final(q);
            return;
        }
        why = xstrdup(q->ans.error_message ? q->ans.error_message : "malformed JSON");
    } else {
        Value v;
        if (answer_value(e, &q->ans, &v, &why) == 0) {
            q->value = v;
            q->ok = 1;
            q->conf = lm_answer_confidence(&q->ans, semantic_value_member(e->sem));
            req_final(q);
            return;
        }
    }
    if (!q->repaired && q->owner) {
        /* ask again, with the validation error */
        LmRequest *req = build_request(e, q->owner->args, q->owner_row, q->m, NULL);
        if (req) {
            char *u = xasprintf("%s\n\nYour previous answer was invalid: %s. Answer again, following the schema exactly.", req->user,
                                why ? why : "invalid");
            free(req->user);
            req->user = u;
            q->repaired = 1;
            free(why);
            req_submit(rt, q, req);
            return;
        }
    }
    q->kind = "invalid_answer";
    q->why = xasprintf("the answer did not match the type after one repair: %s", why ? why : "invalid");
    free(why);
    req_final(q);
}

typedef struct Ctx { Runtime *rt; const Expr *e; Req *q; } Ctx;

static void on_done(void *ud, LmRequest *req, const LmAnswer *a)
{
    Ctx *c = ud;
    Req *q = c->q;
    Runtime *rt = c->rt;
    LmModel *by = a->answered_by ? a->answered_by : q->m;   /* a fallback alias (route.c), or the one asked */
    copy_answer(&q->ans, a);
    /* store each answer as it arrives, so that a killed run keeps what it has paid for (an answer
     * that later fails validation is repaired again on a rerun, at the price of the repair only);
     * a fallback's answer is stored under its own alias's request (route.c) */
    if (rt->cache && a->outcome == LM_OK && by == q->m) tape_put(rt, q->key, q->m, a);
    if (rt->cache) state_claim_release(rt->state, q->key);   /* answered (or failed): others may go on */
    ModelCount *mc = count_of(rt, by, c->e->name);
    int cancelled = a->outcome != LM_OK && a->error_kind && !strcmp(a->error_kind, "cancelled");
    if (mc && cancelled) mc->requests--;   /* never sent */
    else if (mc && a->from_cache) { mc->requests--; mc->cache_hits++; }   /* a fallback alias's cached answer (route.c) */
    else if (mc) mc->answered++;
    if (a->from_cache) {   /* not sent, not paid again */
        if (q->ost) q->ost->cached++;
    } else if (a->outcome == LM_OK || a->input_tokens || a->output_tokens) add_cost(rt, q->ost, by, a, req->attempts);
    else if (q->ost) { q->ost->sent++; if (req->attempts > 1) q->ost->retried += req->attempts - 1; }
    draw_progress(rt, 0);
    q->attempts = req->attempts;
    q->in_tokens = a->input_tokens;
    q->out_tokens = a->output_tokens;
    q->cost = a->from_cache ? 0 : lm_answer_cost(by, a);
    q->latency = a->timed ? a->latency_ms : -1;
    CallSite at = { rt->sem ? rt->sem->met.statement : NULL, q->row, q->key };
    state_add_call_at(rt->state, rt->query_id, by, c->e->name, a, req->attempts, &at);
    const Expr *e = c->e;
    free(c);
    req_settle(rt, q, e);
}

static void req_submit(Runtime *rt, Req *q, LmRequest *req)
{
    Ctx *c = xcalloc(1, sizeof *c);
    c->rt = rt;
    c->e = q->e;
    c->q = q;
    route_submit(rt, q->m, req, c->e->name, on_done, c);
    ModelCount *mc = count_of(rt, q->m, c->e->name);
    if (mc) mc->requests++;
}

static void row_error(SemJob *j, size_t r, const char *alias, const char *kind, const char *msg)
{
    state_add_error(j->rt->state, j->rt->query_id, j->first_row + (int64_t)r, alias, kind, msg);
    if (j->ost) j->ost->failed++;
}

/* Leave request q (its rendered req, owned from now on) to the process that claimed it. */
static void defer_req(Runtime *rt, SemJob *j, Req *q, LmRequest *req)
{
    Deferred *d = xcalloc(1, sizeof *d);
    d->q = q;
    d->req = req;
    d->job = j;
    d->next = rt->sem->waits.head;
    if (!rt->sem->waits.head) { rt->sem->waits.backoff = 0.05; rt->sem->waits.next_poll = wall_s() + 0.05; }
    rt->sem->waits.head = d;
}

/* Poll the deferred requests once: an answer in the cache settles its request; a request no one
 * holds any more is claimed and sent. Returns how many left the list. */
static int poll_deferred(Runtime *rt)
{
    int moved = 0;
    for (Deferred **pp = &rt->sem->waits.head, *d; (d = *pp);) {
        Req *q = d->q;
        int hit = tape_get(rt, q->key, q->m, &q->ans);
        if (!hit && !state_claim(rt->state, q->key)) { pp = &d->next; continue; }
        *pp = d->next;
        moved++;
        if (hit) {
            lm_request_free(d->req);
            ModelCount *mc = count_of(rt, q->m, q->e->name);
            if (mc) mc->cache_hits++;
            if (q->ost) q->ost->cached++;
            req_settle(rt, q, q->e);
        } else {
            req_submit(rt, q, d->req);
        }
        free(d);
    }
    return moved;
}

/* The job is going away (its statement failed or stopped): its deferred requests are not waited
 * for any more. */
static void drop_deferred(SemJob *j)
{
    if (!j->rt->sem) return;
    for (Deferred **pp = &j->rt->sem->waits.head, *d; (d = *pp);) {
        if (d->job != j) { pp = &d->next; continue; }
        *pp = d->next;
        lm_request_free(d->req);
        d->q->kind = "cancelled";
        free(d->q->why);
        d->q->why = xstrdup("the statement stopped");
        req_final(d->q);
        free(d);
    }
}

static int row_pack_size(const Expr *e, Value **args, size_t r, const LmRequest *req, const LmModel *m);

/* Find or create the request of row r; the row waits on it unless it is answered already. */
static int chat_row(SemJob *j, size_t r, fql_error *err)
{
    Runtime *rt = j->rt;
    const Expr *e = j->e;
    const Value *mv = arg_row(e, j->args, "model", r);
    if (!mv || mv->kind != V_STRING) {
        if (positional(e, j->args, 0, r).kind != V_NULL) row_error(j, r, "", "no_model", "the model: expression gave no alias for this row");
        return 0;
    }
    char *unknown = route_alias_problem(rt, v_str(*mv), 0);   /* an alias from the data: checked per row */
    if (unknown) { row_error(j, r, v_str(*mv), "unknown_model", unknown); free(unknown); return 0; }
    LmModel *m = route_model_named(rt, v_str(*mv), err);   /* the model asked for sizes the request */
    if (!m) return -1;
    char *bad = NULL;
    LmRequest *req = build_request(e, j->args, r, m, &bad);
    const char *why_kind = NULL;
    char *why = NULL;
    if (route_model(rt, e, v_str(*mv), req, &m, &why_kind, &why, err)) { lm_request_free(req); free(bad); return -1; }
    ModelCount *mc = count_of(rt, m, e->name);
    if (mc) mc->rows++;
    if (bad) {   /* a medium that cannot be read or sent: this row's error */
        row_error(j, r, m->alias, "media", bad);
        if (mc) mc->failures++;
        free(bad);
        return 0;
    }
    if (!req) return 0;   /* null input: null answer, no request */
    if (media_check(m, req, err)) { lm_request_free(req); free(why); return -1; }
    if (why) {   /* a request that fits no candidate's context window is not sent */
        row_error(j, r, m->alias, why_kind, why);
        if (mc) mc->failures++;
        free(why);
        lm_request_free(req);
        return 0;
    }
    char *msg = NULL;
    char key[65];
    if (cache_request_key(m, req, key, &msg)) {
        row_error(j, r, m->alias, "bad_request", msg ? msg : "cannot build the request");
        free(msg);
        lm_request_free(req);
        return 0;
    }
    Req *q = req_find(rt->sem, m, key);
    if (q) {
        lm_request_free(req);   /* identical to one of this statement: sent once */
        if (j->ost) j->ost->deduped++;
    } else {
        q = xcalloc(1, sizeof *q);
        q->conf = NAN;
        q->m = m;
        memcpy(q->key, key, 65);
        q->owner = j;
        q->owner_row = r;
        q->row = j->first_row + (int64_t)r;
        q->ost = j->ost;
        q->e = e;
        unsigned b = req_bucket(q->key);
        q->hnext = rt->sem->reqs[b];
        rt->sem->reqs[b] = q;
    }
    q->refs++;
    j->rows[r] = q;
    if (!q->final) {
        if (q->nwait == q->capwait) {
            q->capwait = q->capwait ? q->capwait * 2 : 4;
            q->waiters = xrealloc(q->waiters, (size_t)q->capwait * sizeof *q->waiters);
        }
        q->waiters[q->nwait++] = j;
        j->waiting++;
    }
    if (q->refs > 1) return 0;   /* shared: already asked */
    if (rt->cache && tape_get(rt, q->key, q->m, &q->ans)) {
        lm_request_free(req);
        if (mc) mc->cache_hits++;
        if (j->ost) j->ost->cached++;
        req_settle(rt, q, e);
        return 0;
    }
    /* --replay / --offline: nothing is sent; a request not recorded stops the statement (an alias
     * with fallbacks goes on to them: route.c refuses each send, a fallback's answer may be there) */
    if (tape_no_send(rt) && !m->nfallback) {
        lm_request_free(req);
        q->kind = "not_recorded";
        q->why = xstrdup("no recorded answer (nothing is sent)");
        req_final(q);
        return tape_miss(rt, rt->sem ? rt->sem->met.statement : "", m, j->first_row + (int64_t)r, q->key, err);
    }
    /* another process is sending it: wait for its answer (Batch API rows have their own record) */
    if (rt->cache && !m->batch && !state_claim(rt->state, q->key)) {
        defer_req(rt, j, q, req);
        return 0;
    }
    if (row_pack_size(e, j->args, r, req, m) > 1 || (rt->fuse_hold && req->schema && !req->nimages)) {   /* packed, or fused (semantic_send_fused) */
        if (!j->pend) {
            j->pend = xcalloc(j->n + 1, sizeof *j->pend);
            j->pend_req = xcalloc(j->n + 1, sizeof *j->pend_req);
        }
        j->pend[j->npend] = q;
        j->pend_req[j->npend++] = req;
        return 0;
    }
    req_submit(rt, q, req);
    return 0;
}

static int similarity_rows(SemJob *j);
static int dry_rows(SemJob *j, fql_error *err);
static void send_packs(SemJob *j);
static int embed_start(SemJob *j, fql_error *err);

SemJob *semantic_start(Runtime *rt, const Expr *e, Value **args, size_t n, int64_t first_row, OpStats *ost, fql_error *err)
{
    SemJob *j = xcalloc(1, sizeof *j);
    j->rt = rt;
    j->e = e;
    j->n = n;
    j->first_row = first_row;
    j->args = args;
    j->nargs = e->nargs;
    j->ost = ost;
    if (ost) ost->rows += (int64_t)n;
    if (e->sem == SEM_SIMILARITY) { similarity_rows(j); return j; }
    if (ensure_state(rt, err)) goto fail;
    if (!rt->query_id) rt->query_id = state_next_query_id(rt->state);
    if (!rt->sem) semantic_begin(rt, "");
    if (rt->dry) {
        if (dry_rows(j, err)) goto fail;
        return j;
    }
    if (e->sem == SEM_EMBED) {
        if (embed_start(j, err)) goto fail;
        return j;
    }
    if (e->sem == SEM_PARSE_PDF) {
        static const SemHost host = { semantic_submit, semantic_count_row };
        j->pdf = pdf_job_start(j, &host, rt, e, args, n, first_row, err);
        if (!j->pdf) goto fail;
        return j;
    }
    j->rows = xcalloc(n ? n : 1, sizeof *j->rows);
    for (size_t r = 0; r < n; r++)
        if (chat_row(j, r, err)) {
            for (int i = 0; i < j->npend; i++) req_submit(rt, j->pend[i], j->pend_req[i]);   /* already counted as waiting */
            j->npend = 0;
            goto fail;
        }
    if (!rt->fuse_hold) send_packs(j);
    draw_progress(rt, 1);
    return j;
fail:
    semantic_job_free(j);
    return NULL;
}

/* Stop the scheduler's loop when the job has its answers or the deferred requests are due for a
 * poll; keeps this process's claims alive meanwhile. */
static int job_ready(void *ud)
{
    SemJob *j = ud;
    state_claims_tick(j->rt->state);
    return j->waiting == 0 || (j->rt->sem && j->rt->sem->waits.head && wall_s() >= j->rt->sem->waits.next_poll);
}

/* The shared response cache (Redis, `set shared`) could not be reached: stop before more is sent
 * (its message names the URL; what was received is in the local cache), or, with shared_fallback
 * local, warn once and go on with this process's cache. 0 go on, -1 with err. */
static int shared_cache_check(Runtime *rt, fql_error *err)
{
    const char *e = shcache_error(rt->shcache);
    if (!e) return 0;
    if (!rt->shared_fallback) return err_set(err, FQL_ERR_RUNTIME, "the shared response cache: %s", e);
    shared_warn(shcache_conn(rt->shcache), "warning: the shared response cache: %s; shared_fallback is local: "
                "going on with this process's cache (requests may be sent by more than one process)", e);
    shcache_going_on(rt->shcache);
    return 0;
}

/* Run the scheduler until job j's rows are answered, polling the requests other processes are
 * sending in between (backing off from 50 ms to 1 s while nothing changes). */
static int wait_job(Runtime *rt, SemJob *j, fql_error *err)
{
    for (;;) {
        if (shared_cache_check(rt, err)) return -1;
        int rc = route_run_until(rt, job_ready, j, err);
        Waits *w = rt->sem ? &rt->sem->waits : NULL;
        if (rc || j->waiting == 0 || !w || !w->head) return rc;
        if (rt_interrupted(rt)) return err_set(err, FQL_ERR_RUNTIME, "interrupted");   /* Ctrl-C while only waiting */
        double now = wall_s();
        if (now < w->next_poll) {   /* nothing of ours to run: sleep until the poll */
            double dt = w->next_poll - now;
            struct timespec ts = { (time_t)dt, (long)((dt - (double)(time_t)dt) * 1e9) };
            nanosleep(&ts, NULL);
        }
        state_claims_tick(rt->state);
        w->backoff = poll_deferred(rt) ? 0.05 : (w->backoff * 2 > 1.0 ? 1.0 : w->backoff * 2);
        w->next_poll = wall_s() + w->backoff;
    }
}

static Value *embed_finish(SemJob *j);

/* provenance(call) of a row answered by q: the struct of the binder's provenance type (bind_expr.c:
 * model, provider, model_name, cached, attempts, request_id, input and output tokens, cost,
 * latency). A packed or fused row's tokens, cost and latency are its whole request's (shared with
 * the other rows in it); a cached answer's cost is 0, its latency null (nothing was sent). */
static Value provenance_value(const SemStats *sem, const Expr *e, const Req *q)
{
    const LmAnswer *a = &q->ans;
    const LmModel *m = a->answered_by ? a->answered_by : q->m;
    Value v = v_struct_new(e->type);
    Struct *st = v.u.st;
    if (st->n < 10) return v;
    const Sent *x = NULL;   /* a cache hit of a request an earlier stage of this statement sent */
    for (x = a->from_cache && sem ? sem->sent[req_bucket(q->key)] : NULL; x; x = x->next)
        if (!strcmp(x->key, q->key)) break;
    if (x) {
        st->fields[0] = v_cstring(x->m->alias ? x->m->alias : "");
        st->fields[1] = v_cstring(x->m->provider_name ? x->m->provider_name : "");
        st->fields[2] = v_cstring(x->m->model_name ? x->m->model_name : "");
        st->fields[3] = v_bool(0);
        st->fields[4] = v_int(x->attempts);
        st->fields[5] = v_cstring(q->key);
        st->fields[6] = v_int(x->in_tokens);
        st->fields[7] = v_int(x->out_tokens);
        st->fields[8] = x->cost >= 0 ? v_float(x->cost) : v_null();
        st->fields[9] = x->latency >= 0 ? v_float(x->latency) : v_null();
        return v;
    }
    st->fields[0] = v_cstring(m->alias ? m->alias : "");
    st->fields[1] = v_cstring(m->provider_name ? m->provider_name : "");
    st->fields[2] = v_cstring(m->model_name ? m->model_name : "");
    st->fields[3] = v_bool(a->from_cache);
    st->fields[4] = v_int(a->from_cache ? 0 : q->attempts);
    st->fields[5] = v_cstring(q->key);
    st->fields[6] = v_int(a->from_cache ? a->input_tokens : q->in_tokens);   /* a cached answer: what it took when sent */
    st->fields[7] = v_int(a->from_cache ? a->output_tokens : q->out_tokens);
    double c = a->from_cache ? 0 : q->cost;
    st->fields[8] = c >= 0 ? v_float(c) : v_null();
    st->fields[9] = !a->from_cache && q->latency >= 0 ? v_float(q->latency) : v_null();
    return v;
}

Value *semantic_finish(SemJob *j, fql_error *err)
{
    Runtime *rt = j->rt;
    if (j->waiting > 0) {
        int rc = wait_job(rt, j, err);
        clear_progress(rt);
        if (rt->sem && rt->sem->budget_hit) {
            memset(err, 0, sizeof *err);   /* the scheduler said "interrupted": say why */
            char est[80] = "", spent[32], budget[32];
            if (rt->sem->estimate >= 0) {
                format_usd(spent, sizeof spent, rt->sem->estimate);
                snprintf(est, sizeof est, "; the estimate was $%s", spent);
            }
            format_usd(spent, sizeof spent, rt->sem->spent);
            format_usd(budget, sizeof budget, rt->budget);
            err_set(err, FQL_ERR_RUNTIME, "stopped: spent $%s, reaching the budget of $%s%s (answers so far are cached; "
                    "raise the budget with `set budget = ...`)", spent, budget, est);
            return NULL;
        }
        if (rc) return NULL;
        if (j->waiting > 0) { err_set(err, FQL_ERR_RUNTIME, "internal error: %s rows left without answers", j->e->name); return NULL; }
    }
    /* --replay / --offline refused a request (route.c): the statement stops, naming it */
    if (tape_failed(rt, rt->sem ? rt->sem->met.statement : "", err)) return NULL;
    if (j->out) { Value *o = j->out; j->out = NULL; return o; }
    if (j->pdf) return pdf_job_finish(j->pdf);
    if (j->texts || j->e->sem == SEM_EMBED) return embed_finish(j);
    Value *out = xcalloc(j->n ? j->n : 1, sizeof *out);
    for (size_t r = 0; r < j->n; r++) {
        Req *q = j->rows[r];
        out[r] = v_null();
        if (!q) continue;
        if (q->ok) out[r] = j->e->conf == 2 ? provenance_value(j->rt->sem, j->e, q) : !j->e->conf ? value_copy(q->value) : isnan(q->conf) ? v_null() : v_float(q->conf);
        else {
            row_error(j, r, q->m->alias, q->kind ? q->kind : "failed", q->why ? q->why : "no answer");
            ModelCount *mc = count_of(rt, q->m, j->e->name);
            if (mc) mc->failures++;
        }
    }
    return out;
}

static void job_really_free(SemJob *j)
{
    for (size_t r = 0; j->rows && r < j->n; r++)
        if (j->rows[r]) {
            if (j->rows[r]->owner == j) j->rows[r]->owner = NULL;
            req_release(j->rt->sem, j->rows[r]);
        }
    free(j->rows);
    free(j->pend);
    free(j->pend_req);
    for (int k = 0; j->args && k < j->nargs; k++) {
        for (size_t r = 0; j->args[k] && r < j->n; r++) value_free(j->args[k][r]);
        free(j->args[k]);
    }
    free(j->args);
    if (j->out) {
        for (size_t r = 0; r < j->n; r++) value_free(j->out[r]);
        free(j->out);
    }
    for (int i = 0; i < j->ntexts; i++) { free(j->texts[i].text); value_free(j->texts[i].vec); }
    free(j->texts);
    free(j->row_text);
    for (int i = 0; i < j->nereqs; i++) lm_answer_clear(&j->ereqs[i].ans);
    free(j->ereqs);
    pdf_job_free(j->pdf);
    free(j);
}

double semantic_job_confidence(const SemJob *j, size_t row)
{
    if (!j || !j->rows || row >= j->n || !j->rows[row] || !j->rows[row]->ok) return NAN;
    return j->rows[row]->conf;
}

int semantic_job_ready(const SemJob *j)
{
    return !j || j->waiting <= 0;
}

void semantic_job_free(SemJob *j)
{
    if (!j) return;
    drop_deferred(j);
    if (j->waiting > 0 && j->rt->sem) {
        /* answers are still coming: they must find the job (semantic_flush drains them). The
         * operator's statistics go with the operator, which is freed now: detach them. */
        if (j->ost && j->rows)
            for (size_t r = 0; r < j->n; r++)
                if (j->rows[r] && j->rows[r]->ost == j->ost) j->rows[r]->ost = NULL;
        j->ost = NULL;
        j->orphan = 1;
        j->rt->sem->norphans++;
        return;
    }
    job_really_free(j);
}

void semantic_flush(Runtime *rt)
{
    if (!rt->sem || rt->sem->norphans == 0) return;
    route_cancel(rt);
    clear_progress(rt);
}

Value *semantic_eval(Runtime *rt, const Expr *e, Value **args, size_t n, int64_t first_row, fql_error *err)
{
    /* the job owns its arguments: give it copies */
    Value **own = xcalloc((size_t)e->nargs + 1, sizeof *own);
    for (int k = 0; k < e->nargs; k++) {
        own[k] = xmalloc((n ? n : 1) * sizeof **own);
        for (size_t r = 0; r < n; r++) own[k][r] = value_copy(args[k][r]);
    }
    SemJob *j = semantic_start(rt, e, own, n, first_row, NULL, err);
    if (!j) return NULL;
    Value *out = semantic_finish(j, err);
    semantic_job_free(j);
    if (rt->state) state_commit(rt->state);
    return out;
}

/* ---- packing: several rows in one request (pack: N | "auto") ----
 *
 * The rows' instructions stay in the system prompt; the user text holds the inputs as sections
 * "### input K"; the answer schema is {answers: [{index: K, ...the row's answer...}]}. Each element
 * becomes that row's answer (validated as usual, and cached under the row's own single-request key
 * so a rerun, packed or not, finds it); a row whose element is missing or invalid is asked again on
 * its own. Rows are packed only with rows of the same model and system prompt. */

typedef struct Pack {
    Runtime *rt;
    const Expr *e;
    LmModel *m;
    int n;                       /* elements: rows */
    int k;                       /* fused calls per element ("task_1".."task_k"), or 0: one call's rows */
    int whole;                   /* one fused row, not packed: the answer is the element itself */
    Req **reqs;                  /* n (k == 0) or n * k, element-major */
    LmRequest **singles;         /* each row's (and call's) own request, sent if its part is missing */
} Pack;

#define PACK_MAX 50

/* The rows per request of row r's request req to model m: `pack: N` (at most 200), `pack: "auto"`
 * sized from the request, and without the option "auto" where the operator is packable, the
 * answer structured and the model answers to a schema reliably (m->structured), else 1. A job
 * packs only its own rows, so a pack is never larger than the wave of rows that started it (a
 * stage under `limit` sends small waves). */
static int row_pack_size(const Expr *e, Value **args, size_t r, const LmRequest *req, const LmModel *m)
{
    if (!semop_desc(e->sem)->packable || !req->schema) return 1;   /* text answers are not packed */
    if (req->nimages) return 1;   /* nor media: a pack's parts could not be told apart */
    const Value *pk = arg_row(e, args, "pack", r);
    if (pk && pk->kind == V_INT) return pk->u.i < 1 ? 1 : pk->u.i > PACK_MAX * 4 ? PACK_MAX * 4 : (int)pk->u.i;
    if ((!pk || pk->kind != V_STRING) && (!m->structured || m->batch)) return 1;   /* default: see semantic_pack_rows */
    /* auto: ~6,000 input and ~2,000 output tokens a request, half the context window at most */
    double in = (double)token_estimate(m, req->user) + 8;
    double out = semop_output_tokens(e, req) + 6;
    double n = 6000 / in;
    if (2000 / out < n) n = 2000 / out;
    if (m->context_window > 0 && (double)m->context_window / 2 / in < n) n = (double)m->context_window / 2 / in;
    if (n > PACK_MAX) n = PACK_MAX;
    return n < 1 ? 1 : (int)n;
}

static json_t *packed_schema(const json_t *single)
{
    json_t *item = json_deep_copy(single);
    json_t *props = json_object_get(item, "properties");
    json_object_set_new(props, "index", json_pack("{s:s}", "type", "integer"));
    json_t *req = json_object_get(item, "required");
    if (!json_is_array(req)) { req = json_array(); json_object_set_new(item, "required", req); }
    json_array_insert_new(req, 0, json_string("index"));
    json_t *arr = json_pack("{s:s, s:o}", "type", "array", "items", item);
    return semop_object_schema("answers", arr);
}

static void pack_done(Pack *pk)
{
    for (int i = 0; i < pk->n * (pk->k ? pk->k : 1); i++) lm_request_free(pk->singles[i]);
    free(pk->singles);
    free(pk->reqs);
    free(pk);
}

/* One row's (and call's) part of a packed or fused answer becomes its request's answer: cached
 * under the request's own key (a later run asking it alone finds it), then validated as usual. */
static void settle_part(Runtime *rt, Req *q, json_t *part, double conf)
{
    json_t *one = json_deep_copy(part);
    json_object_del(one, "index");
    LmAnswer row;
    memset(&row, 0, sizeof row);
    row.outcome = LM_OK;
    row.json = one;
    row.text = json_dumps(one, JSON_COMPACT);
    row.cost_usd = row.retry_after_s = row.remaining_requests = row.remaining_tokens = -1;
    row.http_status = 200;
    /* the part's value keeps its probability in the packed answer (a token of its own), cached with it */
    const char *member = semantic_value_member(q->e->sem);
    if (member) lm_answer_set_value_prob(&row, member, conf);
    copy_answer(&q->ans, &row);
    for (int i = 0; i < row.ntokens; i++) free(row.tokens[i].text);
    free(row.tokens);
    free(row.text);
    json_decref(one);
    if (rt->cache) tape_put(rt, q->key, q->m, &q->ans);
    req_settle(rt, q, q->e);
}

static void on_pack(void *ud, LmRequest *req, const LmAnswer *a)
{
    Pack *pk = ud;
    Runtime *rt = pk->rt;
    ModelCount *mc = count_of(rt, pk->m, pk->e->name);
    int cancelled = a->outcome != LM_OK && a->error_kind && !strcmp(a->error_kind, "cancelled");
    if (mc && cancelled) mc->requests--;
    else if (mc) mc->answered++;
    if (a->outcome == LM_OK || a->input_tokens || a->output_tokens) add_cost(rt, pk->reqs[0]->ost, pk->m, a, req->attempts);
    CallSite at = { rt->sem ? rt->sem->met.statement : NULL, pk->n == 1 ? pk->reqs[0]->row : -1, NULL };   /* one request, many rows */
    state_add_call_at(rt->state, rt->query_id, pk->m, pk->e->name, a, req->attempts, &at);
    for (int i = 0; i < pk->n * (pk->k ? pk->k : 1); i++) {   /* provenance(): the whole request's */
        Req *q = pk->reqs[i];
        q->attempts = req->attempts;
        q->in_tokens = a->input_tokens;
        q->out_tokens = a->output_tokens;
        q->cost = lm_answer_cost(pk->m, a);
        q->latency = a->timed ? a->latency_ms : -1;
    }
    int per = pk->k ? pk->k : 1, total = pk->n * per;
    char *got = xcalloc((size_t)total, 1);
    json_t *arr = a->outcome == LM_OK && a->json ? json_object_get(a->json, "answers") : NULL;
    if (pk->whole) arr = NULL;
    size_t nel = pk->whole ? (a->outcome == LM_OK && json_is_object(a->json) ? 1 : 0) : json_is_array(arr) ? json_array_size(arr) : 0;
    for (size_t k = 0; k < nel; k++) {
        json_t *el = pk->whole ? a->json : json_array_get(arr, k);
        json_t *ix = json_object_get(el, "index");
        if (!json_is_object(el) || (!pk->whole && !json_is_integer(ix))) continue;
        json_int_t i = pk->whole ? 0 : json_integer_value(ix);
        if (i < 0 || i >= pk->n) continue;
        for (int t = 0; t < per; t++) {
            char name[24];
            snprintf(name, sizeof name, "task_%d", t + 1);
            json_t *part = pk->k ? json_object_get(el, name) : el;
            if (!json_is_object(part) || got[i * per + t]) continue;
            got[i * per + t] = 1;
            const char *member = semantic_value_member(pk->reqs[i * per + t]->e->sem);
            double conf = NAN;
            if (member && a->ntokens > 0) {   /* the part's value tokens inside the whole answer */
                char path[96];
                if (pk->whole) snprintf(path, sizeof path, "%s/%s", name, member);
                else if (pk->k) snprintf(path, sizeof path, "answers/%zu/%s/%s", k, name, member);
                else snprintf(path, sizeof path, "answers/%zu/%s", k, member);
                conf = lm_answer_confidence(a, path);
            }
            settle_part(rt, pk->reqs[i * per + t], part, conf);
        }
    }
    int stop = a->outcome == LM_FATAL || cancelled;
    for (int i = 0; i < total; i++) {
        if (got[i]) continue;
        Req *q = pk->reqs[i];
        if (stop) {   /* the statement is ending: no second try */
            copy_answer(&q->ans, a);
            req_settle(rt, q, q->e);
        } else {      /* missing or malformed: this row alone */
            req_submit(rt, q, pk->singles[i]);
            pk->singles[i] = NULL;
        }
    }
    free(got);
    pack_done(pk);
}

/* The request that asks the n element requests rs (same system prompt and schema) at once. */
static LmRequest *pack_request(LmRequest **rs, int n)
{
    LmRequest *r = lm_request_new(LM_CHAT);
    r->system = xasprintf("%s\n\nYou are given %d inputs, each after a line \"### input K\". Answer each one on its own, exactly "
                          "as if it were the only input, and reply with {\"answers\": [...]} holding one answer object per input, "
                          "with its number K as \"index\".", rs[0]->system ? rs[0]->system : "", n);
    Buf u;
    buf_init(&u);
    int64_t est = 0;
    for (int i = 0; i < n; i++) {
        buf_printf(&u, "%s### input %d\n%s", i ? "\n\n" : "", i, rs[i]->user);
        est += rs[i]->est_input_tokens;
    }
    r->user = buf_take(&u);
    r->schema = packed_schema(rs[0]->schema);
    r->schema_name = xstrdup("packed_answers");
    r->temperature = rs[0]->temperature;
    r->logprobs = rs[0]->logprobs;
    r->max_output_tokens = rs[0]->max_output_tokens > 0 ? rs[0]->max_output_tokens * n : 0;
    for (int i = 0; i < n; i++) r->out_hint += rs[i]->out_hint + 6;   /* + its "index" */
    r->est_input_tokens = est;
    return r;
}

/* Send pk (its reqs and singles filled) as request r, counted under its first call. */
static void pack_submit(Runtime *rt, Pack *pk, LmRequest *r)
{
    route_submit(rt, pk->m, r, pk->e->name, on_pack, pk);
    ModelCount *mc = count_of(rt, pk->m, pk->e->name);
    if (mc) mc->requests++;
}

static Pack *pack_new(Runtime *rt, const Expr *e, LmModel *m, int n, int k, Req **qs, LmRequest **singles)
{
    int total = n * (k ? k : 1);
    Pack *pk = xcalloc(1, sizeof *pk);
    pk->rt = rt;
    pk->e = e;
    pk->m = m;
    pk->n = n;
    pk->k = k;
    pk->reqs = xmalloc((size_t)total * sizeof *pk->reqs);
    pk->singles = xmalloc((size_t)total * sizeof *pk->singles);
    memcpy(pk->reqs, qs, (size_t)total * sizeof *qs);
    memcpy(pk->singles, singles, (size_t)total * sizeof *singles);
    return pk;
}

static void send_pack(SemJob *j, Req **qs, LmRequest **rs, int n)
{
    Runtime *rt = j->rt;
    if (n == 1) { req_submit(rt, qs[0], rs[0]); return; }
    Pack *pk = pack_new(rt, j->e, qs[0]->m, n, 0, qs, rs);
    pack_submit(rt, pk, pack_request(rs, n));
}

static void send_packs(SemJob *j)
{
    int n = j->npend;
    char *done = xcalloc((size_t)n + 1, 1);
    Req **qs = xmalloc(((size_t)n + 1) * sizeof *qs);
    LmRequest **rs = xmalloc(((size_t)n + 1) * sizeof *rs);
    for (int i = 0; i < n; i++) {
        if (done[i]) continue;
        Req *q0 = j->pend[i];
        LmRequest *r0 = j->pend_req[i];
        int size = row_pack_size(j->e, j->args, q0->owner_row, r0, q0->m);
        int k = 0;
        for (int t = i; t < n; t++) {
            if (done[t] || j->pend[t]->m != q0->m || !r0->schema ||
                strcmp(j->pend_req[t]->system ? j->pend_req[t]->system : "", r0->system ? r0->system : "")) continue;
            done[t] = 1;
            qs[k] = j->pend[t];
            rs[k++] = j->pend_req[t];
            if (k == size) { send_pack(j, qs, rs, k); k = 0; }
        }
        if (k) send_pack(j, qs, rs, k);
        if (!done[i]) { done[i] = 1; req_submit(j->rt, q0, r0); }   /* text answers are not packed */
    }
    free(done);
    free(qs);
    free(rs);
    j->npend = 0;
}

/* ---- fusion: several calls of a stage over the same text in one request ----
 *
 * The jobs of one stage (core_start_jobs) start with rt->fuse_hold set, so each keeps its new
 * structured requests. For each row, the calls with the same model and temperature whose user
 * texts all contain the shortest one (the shared text: classify and extract send the text itself;
 * a predicate or map template that renders it once refers to it as "the input") become one
 * request: the user text is the shared text, the system prompt holds each call's instructions as
 * "task_K", and the schema is an object with one property per call, each the call's own schema
 * (with a template's question as its description). Rows whose fused requests agree in system
 * prompt and schema are packed as usual. Each part is settled as its call's own answer (settle_part:
 * cached under the call's request key, validated); a missing or invalid part is asked alone. */

typedef struct Fused { LmModel *m; LmRequest *r; char *key; int k; int first; } Fused;

/* Calls fused at most into one request: more makes the answer long and a failure costly. */
#define FUSE_MAX 8

/* The text rendered into u in place of the shared text: u with it replaced by "the input", or
 * NULL when u does not hold it exactly once. */
static char *fuse_question(const char *u, const char *shared)
{
    const char *at = strstr(u, shared);
    size_t n = strlen(shared);
    if (!at || strstr(at + 1, shared)) return NULL;
    return xasprintf("%.*sthe input%s", (int)(at - u), u, at + n);
}

/* The request of one row asking calls rs[0..k) (user texts containing shared) at once. */
static LmRequest *fused_request(const LmModel *m, LmRequest **rs, int k, const char *shared)
{
    LmRequest *r = lm_request_new(LM_CHAT);
    Buf sys;
    buf_init(&sys);
    buf_printf(&sys, "You are given one input text and %d separate tasks about it. Do each task on its own, exactly as if it "
               "were the only one, and reply with one JSON object holding each task's answer object under the task's name.", k);
    json_t *props = json_object(), *req = json_array();
    for (int t = 0; t < k; t++) {
        char name[24];
        snprintf(name, sizeof name, "task_%d", t + 1);
        buf_printf(&sys, "\n\n## %s\n%s", name, rs[t]->system ? rs[t]->system : "");
        json_t *one = json_deep_copy(rs[t]->schema);
        if (strcmp(rs[t]->user, shared)) {
            char *q = fuse_question(rs[t]->user, shared);
            buf_printf(&sys, "\nThe statement or question (\"the input\" is the input text): %s", q);
            json_object_set_new(one, "description", json_string(q));
            free(q);
        }
        json_object_set_new(props, name, one);
        json_array_append_new(req, json_string(name));
    }
    r->system = buf_take(&sys);
    r->user = xstrdup(shared);
    r->schema = json_pack("{s:s, s:o, s:o, s:b}", "type", "object", "properties", props, "required", req, "additionalProperties", 0);
    r->schema_name = xstrdup("fused_answers");
    r->temperature = rs[0]->temperature;
    for (int t = 0; t < k; t++) r->logprobs |= rs[t]->logprobs;
    int mo = 0;
    for (int t = 0; t < k; t++) mo = rs[t]->max_output_tokens > 0 && (t == 0 || mo > 0) ? mo + rs[t]->max_output_tokens : 0;
    r->max_output_tokens = mo;
    for (int t = 0; t < k; t++) r->out_hint += rs[t]->out_hint + 4;
    r->est_input_tokens = token_estimate(m, r->system) + token_estimate(m, r->user) + 16;
    return r;
}

static int same_temperature(double a, double b)
{
    return (isnan(a) && isnan(b)) || a == b;
}

void semantic_send_fused(Runtime *rt, SemJob **jobs, int nj)
{
    rt->fuse_hold = 0;
    size_t n = nj > 0 && jobs[0] ? jobs[0]->n : 0;
    int fusible = nj >= 2;
    for (int t = 0; t < nj; t++) fusible &= jobs[t] && jobs[t]->n == n && jobs[t]->rows;
    Fused *fu = NULL;
    int nfu = 0;
    Req **fq = NULL;            /* per fused request: its calls' requests (FUSE_MAX each) */
    LmRequest **fs = NULL;      /* and their own requests */
    const Expr **fe = NULL;
    if (fusible) {
        int **at = xcalloc((size_t)nj, sizeof *at);   /* at[t][row]: the pending index of call t's row, or -1 */
        for (int t = 0; t < nj; t++) {
            at[t] = xmalloc((n ? n : 1) * sizeof **at);
            for (size_t r = 0; r < n; r++) at[t][r] = -1;
            for (int i = 0; i < jobs[t]->npend; i++)
                if (jobs[t]->pend[i]->owner == jobs[t]) at[t][jobs[t]->pend[i]->owner_row] = i;
        }
        fu = xcalloc(n ? n : 1, sizeof *fu);
        fq = xcalloc((n ? n : 1) * FUSE_MAX, sizeof *fq);
        fs = xcalloc((n ? n : 1) * FUSE_MAX, sizeof *fs);
        fe = xcalloc((n ? n : 1) * FUSE_MAX, sizeof *fe);
        for (size_t r = 0; r < n; r++) {
            const char *shared = NULL;
            LmModel *m = NULL;
            double temp = NAN;
            for (int t = 0; t < nj; t++) {   /* the first call's model; the shortest text among its calls */
                if (at[t][r] < 0) continue;
                LmRequest *q = jobs[t]->pend_req[at[t][r]];
                if (!m) { m = jobs[t]->pend[at[t][r]]->m; temp = q->temperature; }
                if (jobs[t]->pend[at[t][r]]->m == m && same_temperature(q->temperature, temp) &&
                    (!shared || strlen(q->user) < strlen(shared)))
                    shared = q->user;
            }
            if (!shared || !*shared) continue;
            int pick[FUSE_MAX], k = 0;
            for (int t = 0; t < nj && k < FUSE_MAX; t++) {
                if (at[t][r] < 0) continue;
                LmRequest *q = jobs[t]->pend_req[at[t][r]];
                if (jobs[t]->pend[at[t][r]]->m != m || !same_temperature(q->temperature, temp)) continue;
                char *qq = strcmp(q->user, shared) ? fuse_question(q->user, shared) : NULL;
                if (strcmp(q->user, shared) && !qq) continue;
                free(qq);
                pick[k++] = t;
            }
            if (k < 2) continue;
            Fused *f = &fu[nfu];
            LmRequest *rs[FUSE_MAX];
            for (int i = 0; i < k; i++) {
                SemJob *j = jobs[pick[i]];
                int p = at[pick[i]][r];
                fq[(size_t)nfu * FUSE_MAX + (size_t)i] = j->pend[p];
                fs[(size_t)nfu * FUSE_MAX + (size_t)i] = rs[i] = j->pend_req[p];
                fe[(size_t)nfu * FUSE_MAX + (size_t)i] = j->e;
                j->pend[p] = NULL;   /* taken */
                j->pend_req[p] = NULL;
            }
            f->m = m;
            f->k = k;
            f->r = fused_request(m, rs, k, shared);
            char *sch = json_dumps(f->r->schema, JSON_COMPACT | JSON_SORT_KEYS);
            f->key = xasprintf("%s\n%s", f->r->system, sch);
            free(sch);
            f->first = (int)r;
            nfu++;
        }
        for (int t = 0; t < nj; t++) free(at[t]);
        free(at);
    }
    /* each job's requests not fused go out as semantic_start would have sent them */
    for (int t = 0; t < nj; t++) {
        SemJob *j = jobs[t];
        if (!j) continue;
        int w = 0;
        for (int i = 0; i < j->npend; i++)
            if (j->pend[i]) { j->pend[w] = j->pend[i]; j->pend_req[w++] = j->pend_req[i]; }
        j->npend = w;
        send_packs(j);
    }
    /* the fused requests, packed with those of the same system prompt and schema */
    char *done = xcalloc((size_t)nfu + 1, 1);
    int *grp = xmalloc(((size_t)nfu + 1) * sizeof *grp);
    for (int i = 0; i < nfu; i++) {
        if (done[i]) continue;
        Fused *f0 = &fu[i];
        /* rows a request: the fewest any of its calls packs; sized by "auto" (no `pack: N`), also
         * ~2,000 output tokens of the combined answers */
        int size = PACK_MAX * 4, fixed = 0;
        double out = 0;
        for (int c = 0; c < f0->k; c++) {
            const SemJob *j = NULL;
            for (int t = 0; t < nj; t++) if (jobs[t]->e == fe[(size_t)i * FUSE_MAX + (size_t)c]) j = jobs[t];
            int ps = j ? row_pack_size(j->e, j->args, (size_t)f0->first, fs[(size_t)i * FUSE_MAX + (size_t)c], f0->m) : 1;
            const Value *pv = j ? arg_row(j->e, j->args, "pack", (size_t)f0->first) : NULL;
            if (pv && pv->kind == V_INT) fixed = 1;
            if (ps < size) size = ps;
            out += semop_output_tokens(fe[(size_t)i * FUSE_MAX + (size_t)c], fs[(size_t)i * FUSE_MAX + (size_t)c]) + 6;
        }
        if (!fixed && out > 0 && 2000 / out < size) size = (int)(2000 / out);
        if (size < 1) size = 1;
        int g = 0;
        for (int t = i; t < nfu; t++) {
            if (done[t] || fu[t].m != f0->m || fu[t].k != f0->k || strcmp(fu[t].key, f0->key)) continue;
            done[t] = 1;
            grp[g++] = t;
        }
        /* send the group in pieces of size */
        for (int s0 = 0; s0 < g; s0 += size) {
            int cnt = g - s0 < size ? g - s0 : size;
            int k = f0->k;
            Req **qs = xmalloc((size_t)cnt * (size_t)k * sizeof *qs);
            LmRequest **ss = xmalloc((size_t)cnt * (size_t)k * sizeof *ss);
            LmRequest **rs = xmalloc((size_t)cnt * sizeof *rs);
            for (int e = 0; e < cnt; e++) {
                Fused *f = &fu[grp[s0 + e]];
                for (int c = 0; c < k; c++) {
                    qs[e * k + c] = fq[(size_t)grp[s0 + e] * FUSE_MAX + (size_t)c];
                    ss[e * k + c] = fs[(size_t)grp[s0 + e] * FUSE_MAX + (size_t)c];
                }
                rs[e] = f->r;
            }
            Pack *pk = pack_new(rt, fe[(size_t)i * FUSE_MAX], f0->m, cnt, k, qs, ss);
            if (cnt == 1) {
                pk->whole = 1;
                fu[grp[s0]].r = NULL;   /* sent as it is */
                pack_submit(rt, pk, rs[0]);
            } else pack_submit(rt, pk, pack_request(rs, cnt));
            free(qs);
            free(ss);
            free(rs);
        }
    }
    for (int i = 0; i < nfu; i++) { lm_request_free(fu[i].r); free(fu[i].key); }
    free(done);
    free(grp);
    free(fu);
    free(fq);
    free(fs);
    free(fe);
}

/* Does call e's input carry images or audio (an image()/audio() value, or {{col}} of one)? */
static int expr_has_media(const Expr *e)
{
    if (!e) return 0;
    if (media_kind_of_type(e->type)) return 1;
    for (int i = 0; i < e->nargs; i++)
        if ((e->kind != E_SEMANTIC || !e->argnames || !e->argnames[i]) && expr_has_media(e->args[i])) return 1;
    return 0;
}

size_t semantic_pack_rows(Runtime *rt, const Expr *e)
{
    if (e->kind != E_SEMANTIC || !semop_desc(e->sem)->packable) return 0;
    if (e->sem == SEM_MAP && (!expr_answer_type(e) || expr_answer_type(e)->kind != TY_STRUCT)) return 0;   /* text answers are not packed */
    if (expr_has_media(e)) return 0;   /* nor images and audio (row_pack_size) */
    const Expr *pk = expr_arg(e, "pack");
    if (pk && pk->kind == E_LIT && pk->lit.kind == V_INT) return pk->lit.u.i > 1 ? (size_t)(pk->lit.u.i < 200 ? pk->lit.u.i : 200) : 0;
    if (pk) return 200;
    const Expr *mv = expr_arg(e, "model");
    if (!mv) return 0;
    const Expr *cands[16];
    int nc = route_candidates(mv, cands, 16);
    if (nc < 1 || nc > 16) return 0;
    for (int i = 0; i < nc; i++) {
        if (cands[i]->kind != E_LIT || cands[i]->lit.kind != V_STRING) return 0;
        fql_error err;
        memset(&err, 0, sizeof err);
        LmModel *m = route_model_named(rt, v_str(cands[i]->lit), &err);   /* its error comes again when a row asks */
        if (!m || !m->structured || m->batch) return 0;   /* Batch API rows stay one a request unless pack: says */
    }
    return 200;
}

int semantic_pack_hint(Runtime *rt, const Expr *e)
{
    size_t n = semantic_pack_rows(rt, e);
    if (n < 2) return 1;
    const Expr *pk = expr_arg(e, "pack");
    if (pk && pk->kind == E_LIT && pk->lit.kind == V_INT) return (int)n;
    return PACK_MAX;
}

/* ---- requests made by other operators (parse_pdf) ---- */

typedef struct Submitted { SemJob *job; LmModel *m; char key[65]; SemDone done; void *ud; } Submitted;

static void on_submitted(void *ud, LmRequest *req, const LmAnswer *a)
{
    Submitted *u = ud;
    SemJob *j = u->job;
    Runtime *rt = j->rt;
    LmModel *by = a->answered_by ? a->answered_by : u->m;   /* a fallback alias (route.c), or the one asked */
    if (rt->cache && a->outcome == LM_OK && by == u->m) tape_put(rt, u->key, u->m, a);
    ModelCount *mc = count_of(rt, by, j->e->name);
    if (mc) {
        mc->answered++;
        if (a->outcome != LM_OK) mc->failures++;
    }
    add_cost(rt, j->ost, by, a, req->attempts);
    draw_progress(rt, 0);
    CallSite at = { rt->sem ? rt->sem->met.statement : NULL, -1, u->key };
    state_add_call_at(rt->state, rt->query_id, by, j->e->name, a, req->attempts, &at);
    u->done(u->ud, a);
    free(u);
    job_row_done(j);
}

void semantic_count_row(Runtime *rt, const Expr *e, LmModel *m)
{
    ModelCount *mc = count_of(rt, m, e->name);
    if (mc) mc->rows++;
}

void semantic_submit(SemJob *j, LmModel *m, LmRequest *req, SemDone done, void *ud)
{
    Runtime *rt = j->rt;
    ModelCount *mc = count_of(rt, m, j->e->name);
    char *msg = NULL, keybuf[65];
    char *key = cache_request_key(m, req, keybuf, &msg) == 0 ? keybuf : NULL;
    LmAnswer a;
    memset(&a, 0, sizeof a);
    if (!key) {
        a.outcome = LM_ROW_ERROR;
        a.error_kind = "bad_request";
        a.error_message = msg ? msg : "cannot build the request";
        done(ud, &a);
        free(msg);
        lm_request_free(req);
        return;
    }
    if (rt->cache && tape_get(rt, key, m, &a)) {
        if (mc) mc->cache_hits++;
        if (j->ost) j->ost->cached++;
        done(ud, &a);
        lm_answer_clear(&a);
        lm_request_free(req);
        return;
    }
    Submitted *u = xcalloc(1, sizeof *u);
    u->job = j;
    u->m = m;
    memcpy(u->key, key, 65);
    u->done = done;
    u->ud = ud;
    j->waiting++;
    route_submit(rt, m, req, j->e->name, on_submitted, u);
    if (mc) mc->requests++;
}

/* similarity: pure arithmetic, no model */
static int similarity_rows(SemJob *j)
{
    const Expr *e = j->e;
    Value **args = j->args;
    Value *out = xcalloc(j->n ? j->n : 1, sizeof *out);
    for (size_t r = 0; r < j->n; r++) {
        Value a = positional(e, args, 0, r), b = positional(e, args, 1, r);
        out[r] = v_null();
        if (a.kind != V_LIST || b.kind != V_LIST || a.u.l->n != b.u.l->n || a.u.l->n == 0) continue;
        const Value *metric = arg_row(e, args, "metric", r);
        const char *mt = metric && metric->kind == V_STRING ? v_str(*metric) : "cosine";
        double dot = 0, na = 0, nb = 0, l2 = 0;
        for (uint32_t i = 0; i < a.u.l->n; i++) {
            Value x = a.u.l->items[i], y = b.u.l->items[i];
            double xf = x.kind == V_FLOAT ? x.u.f : x.kind == V_INT ? (double)x.u.i : 0;
            double yf = y.kind == V_FLOAT ? y.u.f : y.kind == V_INT ? (double)y.u.i : 0;
            dot += xf * yf; na += xf * xf; nb += yf * yf; l2 += (xf - yf) * (xf - yf);
        }
        if (!strcmp(mt, "dot")) out[r] = v_float(dot);
        else if (!strcmp(mt, "l2")) out[r] = v_float(sqrt(l2));
        else out[r] = na > 0 && nb > 0 ? v_float(dot / sqrt(na * nb)) : v_null();
    }
    j->out = out;
    return 0;
}

/* ---- embed: one vector per distinct text, many texts per request, each text cached on its own ---- */

static void on_embed(void *ud, LmRequest *req, const LmAnswer *a)
{
    EmbReq *er = ud;
    SemJob *j = er->job;
    Runtime *rt = j->rt;
    copy_answer(&er->ans, a);
    er->answered = 1;
    ModelCount *mc = count_of(rt, er->m, "embed");
    if (mc) mc->answered++;
    add_cost(rt, j->ost, er->m, a, req->attempts);
    draw_progress(rt, 0);
    state_add_call(rt->state, rt->query_id, er->m, "embed", a, req->attempts);
    job_row_done(j);
}

static int embed_start(SemJob *j, fql_error *err)
{
    Runtime *rt = j->rt;
    const Expr *e = j->e;
    size_t n = j->n;
    j->texts = xcalloc(n ? n : 1, sizeof *j->texts);
    j->row_text = xmalloc((n ? n : 1) * sizeof *j->row_text);
    EmbText *texts = j->texts;
    int nt = 0;
    for (size_t r = 0; r < n; r++) {
        j->row_text[r] = -1;
        Value in = positional(e, j->args, 0, r);
        const Value *mv = arg_row(e, j->args, "model", r);
        if (in.kind == V_NULL || !mv || mv->kind != V_STRING) continue;
        char *bad = route_alias_problem(rt, v_str(*mv), 1);
        if (bad) { row_error(j, r, v_str(*mv), "unknown_model", bad); free(bad); continue; }
        LmModel *m = models_get(rt, v_str(*mv), NULL, err);
        if (!m) return -1;
        ModelCount *mc = count_of(rt, m, "embed");
        if (mc) mc->rows++;
        Buf t;
        buf_init(&t);
        as_text(&t, in);
        if (t.len == 0) { buf_free(&t); continue; }   /* providers refuse empty input: null */
        char dims[16];
        snprintf(dims, sizeof dims, "%d", m->dimensions);
        const char *parts[] = { m->provider_name, m->model_name, m->base_url, dims, t.data };
        char key[65];
        state_hash(key, parts, 5);
        int found = -1;
        for (int i = 0; i < nt && found < 0; i++)
            if (texts[i].m == m && !strcmp(texts[i].key, key)) found = i;
        if (found >= 0) { j->row_text[r] = found; buf_free(&t); continue; }
        EmbText *x = &texts[nt];
        x->m = m;
        x->text = buf_take(&t);
        memcpy(x->key, key, 65);
        x->req = -1;
        LmAnswer a;
        if (rt->cache && tape_get(rt, key, m, &a)) {
            if (a.vectors && a.nvec == 1) {
                x->vec = v_list_new((uint32_t)a.dim);
                for (int d = 0; d < a.dim; d++) x->vec.u.l->items[d] = v_float(a.vectors[d]);
                if (mc) mc->cache_hits++;
                if (j->ost) j->ost->cached++;
            }
            lm_answer_clear(&a);
        }
        j->row_text[r] = nt++;
    }
    j->ntexts = nt;
    /* pack the misses: up to 100 texts (Gemini's limit; OpenAI's is 2048) and ~250k tokens a request */
    j->ereqs = xcalloc((size_t)nt + 1, sizeof *j->ereqs);
    for (int i = 0; i < nt; i++) {
        EmbText *x = &texts[i];
        if (x->vec.kind != V_NULL || x->req >= 0) continue;
        LmRequest *req = lm_request_new(LM_EMBED);
        int64_t tokens = 0;
        int cap = x->m->provider == PROV_OPENAI || x->m->provider == PROV_OPENROUTER ? 512 : 100;
        for (int k = i; k < nt && req->ninputs < cap; k++) {
            EmbText *y = &texts[k];
            if (y->m != x->m || y->vec.kind != V_NULL || y->req >= 0) continue;
            int64_t tk = token_estimate(y->m, y->text) + 1;
            if (req->ninputs > 0 && tokens + tk > 250000) break;
            tokens += tk;
            req->inputs = xrealloc(req->inputs, (size_t)(req->ninputs + 1) * sizeof *req->inputs);
            req->inputs[req->ninputs] = xstrdup(y->text);
            y->req = j->nereqs;
            y->idx = req->ninputs++;
        }
        req->est_input_tokens = tokens;
        EmbReq *er = &j->ereqs[j->nereqs++];
        er->job = j;
        er->m = x->m;
        j->waiting++;
        route_submit(rt, x->m, req, "embed", on_embed, er);
        ModelCount *mc = count_of(rt, x->m, "embed");
        if (mc) mc->requests++;
    }
    return 0;
}

static Value *embed_finish(SemJob *j)
{
    Runtime *rt = j->rt;
    Value *out = xcalloc(j->n ? j->n : 1, sizeof *out);
    for (int i = 0; i < j->ntexts; i++) {
        EmbText *x = &j->texts[i];
        if (x->vec.kind != V_NULL || x->req < 0) continue;
        EmbReq *er = &j->ereqs[x->req];
        if (er->ans.outcome == LM_OK && er->ans.vectors && x->idx < er->ans.nvec) {
            int dim = er->ans.dim;
            x->vec = v_list_new((uint32_t)dim);
            for (int d = 0; d < dim; d++) x->vec.u.l->items[d] = v_float(er->ans.vectors[(size_t)x->idx * (size_t)dim + (size_t)d]);
            /* cache this text's vector on its own (usage is counted once, on the request) */
            LmAnswer one;
            memset(&one, 0, sizeof one);
            one.outcome = LM_OK;
            one.vectors = er->ans.vectors + (size_t)x->idx * (size_t)dim;
            one.nvec = 1;
            one.dim = dim;
            one.cost_usd = -1;
            if (rt->cache) tape_put(rt, x->key, x->m, &one);
        }
    }
    for (size_t r = 0; r < j->n; r++) {
        int k = j->row_text[r];
        out[r] = v_null();
        if (k < 0) continue;
        EmbText *x = &j->texts[k];
        if (x->vec.kind != V_NULL) out[r] = value_copy(x->vec);
        else {
            EmbReq *er = x->req >= 0 ? &j->ereqs[x->req] : NULL;
            row_error(j, r, x->m->alias, er && er->ans.error_kind ? er->ans.error_kind : "failed",
                      er && er->ans.error_message ? er->ans.error_message : "no vector in the answer");
            ModelCount *mc = count_of(rt, x->m, "embed");
            if (mc) mc->failures++;
        }
    }
    return out;
}

/* ---- estimates without sending (explain cost, set budget) ----
 *
 * With rt->dry set, semantic_start renders every row's request as it would be sent, finds it in the
 * statement (dedup) or the response cache (a cached answer is used as it is: free), and counts the
 * rest: input tokens from the rendered text, output tokens from the answer's type. The row gets a
 * placeholder answer (a predicate is true, so the estimate is an upper bound on later stages). */

struct DryRun {
    DryModel *models;
    char **keys; size_t nkeys, capkeys;   /* distinct requests seen (open addressing on the hash) */
    int maybe;                            /* dry_maybe: counted apart, keys looked up but not added */
};

static int dry_seen(DryRun *d, const char *key)
{
    if (d->nkeys * 2 >= d->capkeys) {
        size_t cap = d->capkeys ? d->capkeys * 2 : 1024;
        char **nk = xcalloc(cap, sizeof *nk);
        for (size_t i = 0; i < d->capkeys; i++)
            if (d->keys[i]) {
                size_t h = req_bucket(d->keys[i]) * 2654435761u % cap;
                while (nk[h]) h = (h + 1) % cap;
                nk[h] = d->keys[i];
            }
        free(d->keys);
        d->keys = nk;
        d->capkeys = cap;
    }
    size_t h = req_bucket(key) * 2654435761u % d->capkeys;
    for (; d->keys[h]; h = (h + 1) % d->capkeys)
        if (!strcmp(d->keys[h], key)) return 1;
    if (d->maybe) return 0;
    d->keys[h] = xstrdup(key);
    d->nkeys++;
    return 0;
}

static DryModel *dry_model(DryRun *d, LmModel *m)
{
    for (DryModel *x = d->models; x; x = x->next)
        if (x->m == m && x->maybe == d->maybe) return x;
    DryModel *x = xcalloc(1, sizeof *x);
    x->m = m;
    x->maybe = d->maybe;
    DryModel **pp = &d->models;   /* keep the order models are met */
    while (*pp) pp = &(*pp)->next;
    *pp = x;
    return x;
}

static Value placeholder(const Expr *e)
{
    if (e->conf) return v_null();
    if (e->sem == SEM_PREDICATE) return v_bool(1);
    if (e->sem == SEM_CLASSIFY && e->type->nlabels) return v_cstring(e->type->labels[0]);
    if (e->type->kind == TY_STRING) return v_cstring("");
    return v_null();
}

static int dry_rows(SemJob *j, fql_error *err)
{
    Runtime *rt = j->rt;
    const Expr *e = j->e;
    DryRun *d = rt->dry;
    Value *out = xcalloc(j->n ? j->n : 1, sizeof *out);
    j->out = out;
    int embed = e->sem == SEM_EMBED;
    for (size_t r = 0; r < j->n; r++) {
        out[r] = v_null();
        const Value *mv = arg_row(e, j->args, "model", r);
        Value in = positional(e, j->args, 0, r);
        if (!mv || mv->kind != V_STRING || in.kind == V_NULL) continue;
        char *unknown = route_alias_problem(rt, v_str(*mv), embed);
        if (unknown) { free(unknown); continue; }   /* a row error when it runs; nothing sent */
        char *alias = xstrdup(v_str(*mv)), *dot = strchr(alias, '.');
        if (dot) *dot = 0;
        LmModel *m = models_get(rt, alias, dot ? dot + 1 : NULL, err);
        free(alias);
        if (!m) return -1;
        DryModel *dm = dry_model(d, m);
        dm->rows++;
        if (e->sem == SEM_PARSE_PDF) {   /* requests only for images, sized by the PDF's */
            const Value *di = arg_row(e, j->args, "describe_images", r);
            if (in.kind == V_STRING && di && value_true(*di)) pdf_dry_estimate(v_str(in), dm);
            continue;
        }
        if (embed) {
            Buf t;
            buf_init(&t);
            as_text(&t, in);
            dm->input_tokens += (double)token_estimate(m, t.data ? t.data : "");
            dm->requests += 1.0 / (m->provider == PROV_OPENAI || m->provider == PROV_OPENROUTER ? 512 : 100);
            buf_free(&t);
            continue;
        }
        char *bad = NULL;
        LmRequest *req = build_request(e, j->args, r, m, &bad);
        free(bad);   /* the row would fail: nothing is sent */
        if (!req) continue;
        if (media_check(m, req, err)) { lm_request_free(req); return -1; }
        const char *unfit_kind = NULL;   /* the model a model: expression and the row's size pick */
        char *unfit = NULL;
        if (route_model(rt, e, v_str(*mv), req, &m, &unfit_kind, &unfit, err)) { lm_request_free(req); return -1; }
        if (unfit) { free(unfit); lm_request_free(req); continue; }   /* fits no candidate: never sent */
        dm = dry_model(d, m);
        char *msg = NULL, keybuf[65];
        char *key = cache_request_key(m, req, keybuf, &msg) == 0 ? keybuf : NULL;
        free(msg);
        if (key && dry_seen(d, key)) { dm->deduped++; out[r] = placeholder(e); }
        else if (key) {
            LmAnswer a;
            Value v;
            char *why = NULL;
            if (rt->cache && tape_get(rt, key, m, &a)) {
                dm->cached++;
                out[r] = answer_value(e, &a, &v, &why) == 0 ? v : placeholder(e);
                free(why);
                lm_answer_clear(&a);
            } else {
                /* a packed row pays its share of the instructions, its own text under "### input K",
                 * and an "index" in its answer */
                int size = row_pack_size(e, j->args, r, req, m);
                double sys = (double)token_estimate(m, req->system) + 7 + (size > 1 ? 60 : 0);
                dm->requests += 1.0 / size;
                dm->input_tokens += sys / size + (double)token_estimate(m, req->user) + (size > 1 ? 6 : 0);
                for (int i = 0; i < req->nimages; i++) dm->input_tokens += (double)req->images[i].tokens;   /* media: media.c's estimate */
                dm->output_tokens += semop_output_tokens(e, req) + (size > 1 ? 6 : 0);
                out[r] = placeholder(e);
            }
        }
        lm_request_free(req);
    }
    return 0;
}

void dry_begin(Runtime *rt)
{
    dry_end(rt);
    rt->dry = xcalloc(1, sizeof *rt->dry);
}

void dry_maybe(Runtime *rt, int on)
{
    if (rt->dry) rt->dry->maybe = on;
}

const DryModel *dry_models(const Runtime *rt)
{
    return rt->dry ? rt->dry->models : NULL;
}

void dry_end(Runtime *rt)
{
    DryRun *d = rt->dry;
    if (!d) return;
    rt->dry = NULL;
    for (DryModel *m = d->models, *n; m; m = n) { n = m->next; free(m); }
    for (size_t i = 0; i < d->capkeys; i++) free(d->keys[i]);
    free(d->keys);
    free(d);
}

double dry_cost(const DryModel *m)
{
    if (m->m->price_in < 0) return -1;
    return (m->input_tokens * m->m->price_in + m->output_tokens * (m->m->price_out > 0 ? m->m->price_out : 0)) / 1e6;
}

/* ---- reduce: many values, one answer ----
 *
 * Each round packs every group's items (its texts, then its partial answers) greedily into chunks
 * that fit the model's context window with room left for the answer, and asks `map`-style
 * requests for all chunks of all groups at once (so they share the scheduler, the cache and
 * retries). A group whose items fit in one chunk has its answer; the others go another round with
 * their partial answers as items. */
Value *semantic_reduce(Runtime *rt, const char *instruction, const char *alias, const Value *lists, size_t n, fql_error *err)
{
    LmModel *m = models_get(rt, alias, NULL, err);
    if (!m) return NULL;
    int64_t window = m->context_window > 0 ? m->context_window : 8192;
    int64_t room = m->max_output_tokens > 0 ? m->max_output_tokens : (window > 16384 ? 4096 : window / 4);
    int64_t budget = window - room - 120 - token_estimate(m, instruction);
    if (budget < 32) budget = 32;
    /* items per group: owned text values */
    Value **items = xcalloc(n + 1, sizeof *items);
    size_t *nitems = xcalloc(n + 1, sizeof *nitems);
    for (size_t g = 0; g < n; g++) {
        if (lists[g].kind != V_LIST) continue;
        nitems[g] = lists[g].u.l->n;
        items[g] = xcalloc(nitems[g] + 1, sizeof **items);
        for (size_t i = 0; i < nitems[g]; i++) items[g][i] = value_copy(lists[g].u.l->items[i]);
    }
    Value *out = xcalloc(n + 1, sizeof *out);
    char *sys = xasprintf("%s\n\nThe input holds one or more items separated by lines \"---\" (they may be partial answers "
                          "from earlier parts of the same data). Answer for all of them together.", instruction);
    Expr *e = expr_new(E_SEMANTIC, type_string(), NULL);
    e->name = xstrdup(semop_desc(SEM_REDUCE)->name);   /* asked as a plain-text map; recorded as reduce */
    e->sem = SEM_REDUCE;
    expr_add_named(e, NULL, expr_new(E_LIT, type_string(), NULL));
    expr_add_named(e, "instructions", expr_new(E_LIT, type_string(), NULL));
    expr_add_named(e, "model", expr_new(E_LIT, type_string(), NULL));
    int failed = 0;
    for (int round = 0; !failed; round++) {
        /* chunk every unfinished group */
        size_t nch = 0, capch = 16;
        Value *texts = xcalloc(capch, sizeof *texts);
        size_t *owner = xcalloc(capch, sizeof *owner);
        int any = 0;
        for (size_t g = 0; g < n; g++) {
            if (!nitems[g]) continue;
            any = 1;
            Buf b;
            buf_init(&b);
            int64_t used = 0;
            for (size_t i = 0; i <= nitems[g]; i++) {
                int64_t t = i < nitems[g] ? token_estimate(m, v_str(items[g][i])) + 2 : 0;
                if (i == nitems[g] || (b.len && used + t > budget)) {
                    if (nch == capch) {
                        capch *= 2;
                        texts = xrealloc(texts, capch * sizeof *texts);
                        owner = xrealloc(owner, capch * sizeof *owner);
                    }
                    texts[nch] = v_string(b.data ? b.data : "", b.len);
                    owner[nch++] = g;
                    buf_free(&b);
                    buf_init(&b);
                    used = 0;
                    if (i == nitems[g]) break;
                }
                if (b.len) buf_puts(&b, "\n---\n");
                buf_append(&b, v_str(items[g][i]), v_strlen(items[g][i]));
                used += t;
            }
            buf_free(&b);
        }
        if (!any) { free(texts); free(owner); break; }
        Value *args[3];
        args[0] = texts;
        args[1] = xcalloc(nch + 1, sizeof *args[1]);
        args[2] = xcalloc(nch + 1, sizeof *args[2]);
        for (size_t c = 0; c < nch; c++) { args[1][c] = v_cstring(sys); args[2][c] = v_cstring(alias); }
        Value *ans = semantic_eval(rt, e, args, nch, 0, err);
        for (int k = 0; k < 3; k++) {
            for (size_t c = 0; c < nch; c++) value_free(args[k][c]);
            free(args[k]);
        }
        if (!ans) { free(owner); failed = 1; break; }
        /* the answers become each group's items; a group with one chunk is done */
        for (size_t g = 0; g < n; g++) {
            if (!nitems[g]) continue;
            for (size_t i = 0; i < nitems[g]; i++) value_free(items[g][i]);
            nitems[g] = 0;
        }
        for (size_t c = 0; c < nch; c++) {
            size_t g = owner[c];
            items[g] = xrealloc(items[g], (nitems[g] + 1) * sizeof **items);
            items[g][nitems[g]++] = ans[c];
        }
        free(ans);
        free(owner);
        for (size_t g = 0; g < n; g++) {
            if (nitems[g] != 1 && !(nitems[g] > 1 && round > 30)) {
                /* a null partial (a failed chunk) makes the group's answer null */
                for (size_t i = 0; i < nitems[g]; i++)
                    if (items[g][i].kind == V_NULL) {
                        for (size_t q = 0; q < nitems[g]; q++) value_free(items[g][q]);
                        nitems[g] = 0;
                        break;
                    }
                continue;
            }
            out[g] = items[g][0];
            for (size_t i = 1; i < nitems[g]; i++) value_free(items[g][i]);
            nitems[g] = 0;
        }
    }
    for (size_t g = 0; g < n; g++) {
        for (size_t i = 0; i < nitems[g]; i++) value_free(items[g][i]);
        free(items[g]);
    }
    free(items);
    free(nitems);
    free(sys);
    expr_free(e);
    if (failed) {
        for (size_t g = 0; g < n; g++) value_free(out[g]);
        free(out);
        return NULL;
    }
    return out;
}
