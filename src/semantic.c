/* semantic.c: running the semantic operators over a batch of rows.
 *
 * For each row: pick the model (the `model:` argument, evaluated per row, or the default), render the
 * request, and look it up. Identical requests within the batch are sent once; a request answered
 * before (the response cache, keyed by provider, model, base URL and the request body) is not sent
 * at all. The rest go to the scheduler, which paces them under each model's limits. Every
 * structured answer is validated against the expected type; an invalid one is asked again once with
 * the validation error ("repair"); after that the row is null and system.lm_errors says why.
 */
#include <stdlib.h>
#include <string.h>
#include <math.h>
#include <time.h>
#include <unistd.h>
#include <jansson.h>
#include "session.h"
#include "models.h"
#include "state.h"

/* Per-statement counters of one model. */
typedef struct ModelCount {
    LmModel *m;
    const char *op;
    int64_t rows, requests, cache_hits, failures;
    int64_t answered;             /* requests with a final answer (for the progress line) */
    SchedStats before;            /* the scheduler's cumulative counters at the statement's start */
    int have_before;
    struct ModelCount *next;
} ModelCount;

typedef struct SemStats {
    char *statement;
    double started_at;
    double last_draw;             /* the progress line was last drawn then */
    int drawn;
    ModelCount *models;
    int64_t error_rows;
} SemStats;

static double wall_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static ModelCount *count_of(fql_session *s, LmModel *m, const char *op)
{
    if (!s->sem) return NULL;
    for (ModelCount *c = s->sem->models; c; c = c->next)
        if (c->m == m) return c;
    ModelCount *c = xcalloc(1, sizeof *c);
    c->m = m;
    c->op = op;
    if (s->sched) {
        const SchedStats *st = sched_stats(s->sched, m);
        if (st) { c->before = *st; c->before.latencies = NULL; c->have_before = 1; }
    }
    c->next = s->sem->models;
    s->sem->models = c;
    return c;
}

void semantic_begin(fql_session *s, const char *statement)
{
    if (s->sem) semantic_end(s, 0, 0);
    s->sem = xcalloc(1, sizeof *s->sem);
    s->sem->statement = xstrdup(statement ? statement : "");
    s->sem->started_at = wall_s();
    s->query_id = 0;
}

static double p95(const SchedStats *st, int from)
{
    int n = st->nlat - from;
    if (n <= 0) return 0;
    double *v = xmalloc((size_t)n * sizeof *v);
    memcpy(v, st->latencies + from, (size_t)n * sizeof *v);
    for (int i = 1; i < n; i++) {   /* small n: insertion sort */
        double x = v[i];
        int j = i;
        while (j > 0 && v[j - 1] > x) { v[j] = v[j - 1]; j--; }
        v[j] = x;
    }
    double r = v[(int)ceil(0.95 * n) - 1];
    free(v);
    return r;
}

void semantic_end(fql_session *s, double elapsed_ms, size_t rows)
{
    SemStats *sem = s->sem;
    if (!sem) return;
    s->sem = NULL;
    for (ModelCount *c = sem->models, *n; c; c = n) {
        n = c->next;
        const SchedStats *st = s->sched ? sched_stats(s->sched, c->m) : NULL;
        SchedStats z;
        memset(&z, 0, sizeof z);
        if (!st) st = &z;
        const SchedStats *b = c->have_before ? &c->before : &z;
        QueryMetric q;
        memset(&q, 0, sizeof q);
        q.query_id = s->query_id;
        q.statement = sem->statement;
        q.started_at = sem->started_at;
        q.model = c->m;
        q.op = c->op;
        q.rows = c->rows;
        q.requests = c->requests;
        q.cache_hits = c->cache_hits;
        q.retries = st->retries - b->retries;
        q.rate_limited = st->rate_limited - b->rate_limited;
        q.failures = c->failures;
        q.input_tokens = st->input_tokens - b->input_tokens;
        q.cached_input_tokens = st->cached_input_tokens - b->cached_input_tokens;
        q.output_tokens = st->output_tokens - b->output_tokens;
        q.reasoning_tokens = st->reasoning_tokens - b->reasoning_tokens;
        q.cost_usd = st->cost_usd - b->cost_usd;
        if (c->m->price_in < 0 && q.cost_usd <= 0) q.cost_usd = -1;
        int64_t nl = st->latency_n - b->latency_n;
        q.latency_ms = nl > 0 ? (st->latency_ms_sum - b->latency_ms_sum) / (double)nl : 0;
        q.latency_p95_ms = p95(st, b->nlat);
        q.execution_time_ms = elapsed_ms;
        state_add_metric(s->state, &q);
        /* the one-line summary */
        char cost[32];
        if (q.cost_usd >= 0) snprintf(cost, sizeof cost, "$%.4f", q.cost_usd); else snprintf(cost, sizeof cost, "cost unknown");
        fprintf(stderr, "%s (%s %s): %lld rows in %.1fs; requests %lld (%lld cached / %lld sent / %lld retried / %lld failed); "
                        "tokens %lld in / %lld out; %s\n",
                c->m->alias, c->m->provider_name, c->m->model_name, (long long)c->rows, elapsed_ms / 1000.0,
                (long long)(c->requests + c->cache_hits), (long long)c->cache_hits, (long long)c->requests, (long long)q.retries,
                (long long)c->failures, (long long)q.input_tokens, (long long)q.output_tokens, cost);
        free(c);
    }
    (void)rows;
    state_commit(s->state);
    free(sem->statement);
    free(sem);
}

/* The progress line on standard error (a terminal only): per model, requests answered of those
 * sent, the request rate, rate-limit answers, tokens, dollars so far and an estimate of the time left. */
static void draw_progress(fql_session *s, int force)
{
    SemStats *sem = s->sem;
    if (!sem || !s->progress || !isatty(2)) return;
    double t = wall_s();
    if (!force && t - sem->last_draw < 0.1) return;
    sem->last_draw = t;
    double el = t - sem->started_at;
    Buf b;
    buf_init(&b);
    buf_puts(&b, "\r\033[K");
    for (ModelCount *c = sem->models; c; c = c->next) {
        const SchedStats *st = s->sched ? sched_stats(s->sched, c->m) : NULL;
        int64_t rl = st ? st->rate_limited - c->before.rate_limited : 0;
        int64_t tok = st ? (st->input_tokens - c->before.input_tokens) + (st->output_tokens - c->before.output_tokens) : 0;
        double usd = st ? st->cost_usd - c->before.cost_usd : 0;
        double rate = el > 0 ? (double)c->answered / el : 0;
        int64_t left = c->requests - c->answered;
        buf_printf(&b, "%s%s %lld/%lld req, %.1f/s, 429s %lld, %lld tok, $%.4f", c == sem->models ? "" : " | ", c->m->alias,
                   (long long)c->answered, (long long)c->requests, rate, (long long)rl, (long long)tok, usd);
        if (left > 0 && rate > 0) buf_printf(&b, ", ~%.0fs left", (double)left / rate);
    }
    fputs(b.data, stderr);
    fflush(stderr);
    sem->drawn = 1;
    buf_free(&b);
}

static void clear_progress(fql_session *s)
{
    if (s->sem && s->sem->drawn) { fputs("\r\033[K", stderr); fflush(stderr); s->sem->drawn = 0; }
}

/* ---- prompts ---- */

static json_t *obj_schema(const char *prop, json_t *type)
{
    json_t *o = json_object();
    json_object_set_new(o, "type", json_string("object"));
    json_t *props = json_object();
    json_object_set_new(props, prop, type);
    json_object_set_new(o, "properties", props);
    json_t *req = json_array();
    json_array_append_new(req, json_string(prop));
    json_object_set_new(o, "required", req);
    json_object_set_new(o, "additionalProperties", json_false());
    return o;
}

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

/* Build the request for one row. NULL when the row's input is null (no request: the answer is null). */
static LmRequest *build_request(const Expr *e, Value **args, size_t row, const LmModel *m)
{
    const char *op = e->name;
    Value in = positional(e, args, 0, row);
    if (in.kind == V_NULL) return NULL;
    LmRequest *r = lm_request_new(LM_CHAT);
    Buf sys, user;
    buf_init(&sys);
    buf_init(&user);
    as_text(&user, in);
    const Value *instr = arg_row(e, args, "instructions", row);
    if (!strcmp(op, "extract") || (!strcmp(op, "map") && e->type->kind == TY_STRUCT)) {
        buf_puts(&sys, !strcmp(op, "extract")
                     ? "Extract the requested information from the input text. Answer with one JSON object that follows the schema."
                     : "Follow the instruction. Answer with one JSON object that follows the schema.");
        r->schema = type_json_schema(e->type);
        r->schema_name = xstrdup(e->type->name ? e->type->name : !strcmp(op, "extract") ? "extraction" : "answer");
    } else if (!strcmp(op, "classify") || !strcmp(op, "sentiment")) {
        json_t *labels = json_array();
        for (int i = 0; i < e->type->nlabels; i++) json_array_append_new(labels, json_string(e->type->labels[i]));
        json_t *t = json_object();
        json_object_set_new(t, "type", json_string("string"));
        json_object_set_new(t, "enum", labels);
        r->schema = obj_schema("label", t);
        r->schema_name = xstrdup(!strcmp(op, "sentiment") ? "sentiment" : "classification");
        if (!strcmp(op, "sentiment")) buf_puts(&sys, "Classify the sentiment of the input text as positive, negative or neutral.");
        else {
            buf_puts(&sys, "Classify the input text into exactly one of these labels:");
            const Value *lv = arg_row(e, args, "labels", row);
            for (int i = 0; i < e->type->nlabels; i++) {
                buf_printf(&sys, "\n- %s", e->type->labels[i]);
                if (lv && lv->kind == V_STRUCT && (uint32_t)i < lv->u.st->n && lv->u.st->fields[i].kind == V_STRING)
                    buf_printf(&sys, ": %s", v_str(lv->u.st->fields[i]));
            }
        }
        buf_puts(&sys, "\nAnswer with a JSON object {\"label\": LABEL}.");
    } else if (!strcmp(op, "predicate")) {
        buf_puts(&sys, "Decide whether the statement or question is true for the given input. Answer with a JSON object {\"answer\": true} or {\"answer\": false}.");
        r->schema = obj_schema("answer", json_pack("{s:s}", "type", "boolean"));
        r->schema_name = xstrdup("predicate");
    } else if (!strcmp(op, "summarize")) {
        const Value *w = arg_row(e, args, "words", row);
        const Value *f = arg_row(e, args, "format", row);
        int words = w && w->kind == V_INT ? (int)w->u.i : 120;
        int points = f && f->kind == V_STRING && !strcmp(v_str(*f), "key_points");
        buf_printf(&sys, "Summarize the input text in at most %d words%s. Answer with the summary only.", words,
                   points ? ", as a list of key points, one per line starting with \"- \"" : "");
    } else {   /* map: plain text */
        buf_puts(&sys, "Follow the instruction. Answer with the result only, without preamble.");
    }
    if (instr && instr->kind == V_STRING) buf_printf(&sys, "\n\n%s", v_str(*instr));
    const Value *ex = arg_row(e, args, "examples", row);
    if (ex) add_examples(&sys, *ex);
    r->system = buf_take(&sys);
    r->user = buf_take(&user);
    const Value *t = arg_row(e, args, "temperature", row);
    r->temperature = t ? (t->kind == V_FLOAT ? t->u.f : t->kind == V_INT ? (double)t->u.i : NAN) : NAN;
    const Value *mo = arg_row(e, args, "max_output_tokens", row);
    r->max_output_tokens = mo && mo->kind == V_INT ? (int)mo->u.i : 0;
    r->est_input_tokens = (int64_t)((strlen(r->system) + strlen(r->user)) / 4 + 16);
    (void)m;
    return r;
}

/* Turn a validated-or-not answer into the operator's value. Returns 0 and *out, or -1 and *why. */
static int answer_value(const Expr *e, const LmAnswer *a, Value *out, char **why)
{
    const char *op = e->name;
    *out = v_null();
    if (!strcmp(op, "summarize") || (!strcmp(op, "map") && e->type->kind != TY_STRUCT)) {
        if (!a->text) { *why = xstrdup("the answer has no text"); return -1; }
        size_t n = strlen(a->text);
        while (n && (a->text[n - 1] == '\n' || a->text[n - 1] == ' ')) n--;
        *out = v_string(a->text, n);
        return 0;
    }
    if (!a->json || !json_is_object(a->json)) { *why = xstrdup("the answer is not a JSON object"); return -1; }
    if (!strcmp(op, "classify") || !strcmp(op, "sentiment")) {
        json_t *l = json_object_get(a->json, "label");
        if (!json_is_string(l)) { *why = xstrdup("\"label\" is missing or not a string"); return -1; }
        for (int i = 0; i < e->type->nlabels; i++)
            if (!strcmp(e->type->labels[i], json_string_value(l))) { *out = v_cstring(e->type->labels[i]); return 0; }
        *why = xasprintf("\"%s\" is not one of the labels", json_string_value(l));
        return -1;
    }
    if (!strcmp(op, "predicate")) {
        json_t *v = json_object_get(a->json, "answer");
        if (!json_is_boolean(v)) { *why = xstrdup("\"answer\" is missing or not true/false"); return -1; }
        *out = v_bool(json_is_true(v));
        return 0;
    }
    /* extract / map(schema:): every declared field must be present; types must fit */
    const Type *t = e->type;
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

/* ---- one batch ---- */

typedef struct Slot {
    LmModel *m;
    LmRequest *req;              /* owned until submitted */
    char key[65];
    LmAnswer ans;                /* final answer (copied) */
    int answered, repaired, sent;
    Value value;                 /* the converted value, when valid */
    char *why;                   /* why the row is null */
    const char *kind;
} Slot;

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
}

typedef struct Ctx { fql_session *s; const Expr *e; Slot *slot; double t0; } Ctx;

static void on_done(void *ud, LmRequest *req, const LmAnswer *a)
{
    Ctx *c = ud;
    copy_answer(&c->slot->ans, a);
    c->slot->answered = 1;
    c->slot->sent = req->attempts;
    /* store each answer as it arrives, so that a killed run keeps what it has paid for (an answer
     * that later fails validation is repaired again on a rerun, at the price of the repair only) */
    if (c->s->cache && a->outcome == LM_OK && c->slot->key[0]) state_cache_put(c->s->state, c->slot->key, c->slot->m, a);
    ModelCount *mc = count_of(c->s, c->slot->m, c->e->name);
    if (mc) mc->answered++;
    draw_progress(c->s, 0);
    state_add_call(c->s->state, c->s->query_id, c->slot->m, c->e->name, a, req->attempts, (wall_s() - c->t0) * 1000.0);
    free(c);
}

static Scheduler *the_sched(fql_session *s)
{
    if (!s->sched) s->sched = sched_new();
    return s->sched;
}

static int ensure_state(fql_session *s, fql_error *err)
{
    if (s->state) return 0;
    s->state = state_open(s->db_path, err);
    return s->state ? 0 : -1;
}

static char *request_key(LmModel *m, const LmRequest *r, char **msg)
{
    HttpRequest h;
    memset(&h, 0, sizeof h);
    if (m->provider == PROV_VERTEX && vertex_access_token(m, NULL, msg)) return NULL;
    if (provider_build(m, r, &h, msg)) { http_request_free(&h); return NULL; }
    char *k = xmalloc(65);
    const char *parts[] = { m->provider_name, m->model_name, m->base_url, h.url, h.body ? h.body : "" };
    state_hash(k, parts, 5);
    http_request_free(&h);
    return k;
}

/* Send the slots that need it, wait for their answers. -1 on a fatal error. */
static int send_pending(fql_session *s, const Expr *e, Slot *slots, int n, fql_error *err)
{
    int any = 0;
    for (int i = 0; i < n; i++) {
        Slot *sl = &slots[i];
        if (!sl->req || sl->answered) continue;
        Ctx *c = xcalloc(1, sizeof *c);
        c->s = s;
        c->e = e;
        c->slot = sl;
        c->t0 = wall_s();
        sched_add_model(the_sched(s), sl->m);
        sched_submit(s->sched, sl->m, sl->req, on_done, c);
        sl->req = NULL;   /* the scheduler owns it now */
        ModelCount *mc = count_of(s, sl->m, e->name);
        if (mc) mc->requests++;
        any = 1;
    }
    if (!any) return 0;
    draw_progress(s, 1);
    int rc = sched_run(s->sched, err);
    clear_progress(s);
    return rc;
}

static Value *embed_eval(fql_session *s, const Expr *e, Value **args, size_t n, int64_t first_row, fql_error *err);

Value *semantic_eval(fql_session *s, const Expr *e, Value **args, size_t n, int64_t first_row, fql_error *err)
{
    Value *out = xcalloc(n ? n : 1, sizeof *out);
    if (!strcmp(e->name, "similarity")) {
        for (size_t r = 0; r < n; r++) {
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
        return out;
    }
    if (ensure_state(s, err)) { free(out); return NULL; }
    if (!s->query_id) s->query_id = state_next_query_id(s->state);
    if (!strcmp(e->name, "embed")) { free(out); return embed_eval(s, e, args, n, first_row, err); }

    /* one slot per distinct request; rows point at slots */
    Slot *slots = xcalloc(n ? n : 1, sizeof *slots);
    int nslots = 0;
    int *row_slot = xmalloc((n ? n : 1) * sizeof *row_slot);
    int rc = 0;
    for (size_t r = 0; r < n && rc == 0; r++) {
        row_slot[r] = -1;
        out[r] = v_null();
        const Value *mv = arg_row(e, args, "model", r);
        if (!mv || mv->kind != V_STRING) {
            if (positional(e, args, 0, r).kind != V_NULL)
                state_add_error(s->state, s->query_id, first_row + (int64_t)r, "", "no_model", "the model: expression gave no alias for this row");
            continue;
        }
        char *alias = xstrdup(v_str(*mv)), *dot = strchr(alias, '.');
        if (dot) *dot = 0;
        LmModel *m = models_get(s, alias, dot ? dot + 1 : NULL, err);
        free(alias);
        if (!m) { rc = -1; break; }
        ModelCount *mc = count_of(s, m, e->name);
        if (mc) mc->rows++;
        LmRequest *req = build_request(e, args, r, m);
        if (!req) continue;   /* null input: null answer, no request */
        /* a request that cannot fit the context window is not sent */
        if (m->context_window > 0 && req->est_input_tokens > m->context_window) {
            state_add_error(s->state, s->query_id, first_row + (int64_t)r, m->alias, "context_window",
                            "the input is longer than the model's context window");
            if (mc) mc->failures++;
            lm_request_free(req);
            continue;
        }
        char *msg = NULL;
        char *key = request_key(m, req, &msg);
        if (!key) {
            state_add_error(s->state, s->query_id, first_row + (int64_t)r, m->alias, "bad_request", msg ? msg : "cannot build the request");
            free(msg);
            lm_request_free(req);
            continue;
        }
        int found = -1;
        for (int i = 0; i < nslots && found < 0; i++)
            if (slots[i].m == m && !strcmp(slots[i].key, key)) found = i;
        if (found >= 0) { row_slot[r] = found; lm_request_free(req); free(key); continue; }
        Slot *sl = &slots[nslots];
        sl->m = m;
        memcpy(sl->key, key, 65);
        free(key);
        sl->req = req;
        if (s->cache && state_cache_get(s->state, sl->key, &sl->ans)) {
            sl->answered = 1;
            lm_request_free(sl->req);
            sl->req = NULL;
            if (mc) mc->cache_hits++;
        }
        row_slot[r] = nslots++;
    }
    if (rc == 0) rc = send_pending(s, e, slots, nslots, err);
    /* validate; repair once */
    for (int pass = 0; pass < 2 && rc == 0; pass++) {
        int need = 0;
        for (int i = 0; i < nslots; i++) {
            Slot *sl = &slots[i];
            if (!sl->answered || sl->value.kind != V_NULL || sl->why) continue;
            if (sl->ans.outcome != LM_OK) {
                sl->kind = sl->ans.error_kind ? sl->ans.error_kind : "failed";
                sl->why = xstrdup(sl->ans.error_message ? sl->ans.error_message : "the request failed");
                if (sl->ans.outcome == LM_ROW_ERROR && sl->ans.error_kind && !strcmp(sl->ans.error_kind, "invalid_json") && pass == 0) {
                    free(sl->why); sl->why = NULL;   /* malformed JSON is repaired like an invalid answer */
                } else continue;
            }
            char *why = NULL;
            Value v;
            if (!sl->why && answer_value(e, &sl->ans, &v, &why) == 0) {
                sl->value = v;
                continue;
            }
            if (pass == 0) {
                /* ask again, with the validation error */
                size_t r0 = 0;
                while (r0 < n && row_slot[r0] != i) r0++;
                LmRequest *req = build_request(e, args, r0, sl->m);
                if (req) {
                    char *u = xasprintf("%s\n\nYour previous answer was invalid: %s. Answer again, following the schema exactly.",
                                        req->user, why ? why : (sl->ans.error_message ? sl->ans.error_message : "malformed JSON"));
                    free(req->user);
                    req->user = u;
                    sl->req = req;
                    sl->answered = 0;
                    sl->repaired = 1;
                    need = 1;
                }
                free(why);
            } else {
                sl->kind = "invalid_answer";
                sl->why = xasprintf("the answer did not match the type after one repair: %s", why ? why : "invalid");
                free(why);
            }
        }
        if (pass == 0 && need) rc = send_pending(s, e, slots, nslots, err);
        if (!need) break;
    }
    if (rc == 0) {
        for (size_t r = 0; r < n; r++) {
            int k = row_slot[r];
            if (k < 0) continue;
            Slot *sl = &slots[k];
            if (sl->value.kind != V_NULL) out[r] = value_copy(sl->value);
            else {
                state_add_error(s->state, s->query_id, first_row + (int64_t)r, sl->m->alias, sl->kind ? sl->kind : "failed",
                                sl->why ? sl->why : "no answer");
                ModelCount *mc = count_of(s, sl->m, e->name);
                if (mc) mc->failures++;
            }
        }
    }
    for (int i = 0; i < nslots; i++) {
        lm_request_free(slots[i].req);
        lm_answer_clear(&slots[i].ans);
        value_free(slots[i].value);
        free(slots[i].why);
    }
    free(slots);
    free(row_slot);
    state_commit(s->state);
    if (rc) {
        for (size_t r = 0; r < n; r++) value_free(out[r]);
        free(out);
        return NULL;
    }
    return out;
}

/* embed: one vector per distinct text, many texts per request, each text cached on its own. */
static Value *embed_eval(fql_session *s, const Expr *e, Value **args, size_t n, int64_t first_row, fql_error *err)
{
    Value *out = xcalloc(n ? n : 1, sizeof *out);
    typedef struct Text { LmModel *m; char *text; char key[65]; Value vec; int req; int idx; } Text;
    Text *texts = xcalloc(n ? n : 1, sizeof *texts);
    int *row_text = xmalloc((n ? n : 1) * sizeof *row_text);
    int nt = 0, rc = 0;
    for (size_t r = 0; r < n && rc == 0; r++) {
        row_text[r] = -1;
        Value in = positional(e, args, 0, r);
        const Value *mv = arg_row(e, args, "model", r);
        if (in.kind == V_NULL || !mv || mv->kind != V_STRING) continue;
        LmModel *m = models_get(s, v_str(*mv), NULL, err);
        if (!m) { rc = -1; break; }
        ModelCount *mc = count_of(s, m, "embed");
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
        if (found >= 0) { row_text[r] = found; buf_free(&t); continue; }
        Text *x = &texts[nt];
        x->m = m;
        x->text = buf_take(&t);
        memcpy(x->key, key, 65);
        x->req = -1;
        LmAnswer a;
        if (s->cache && state_cache_get(s->state, key, &a)) {
            if (a.vectors && a.nvec == 1) {
                x->vec = v_list_new((uint32_t)a.dim);
                for (int d = 0; d < a.dim; d++) x->vec.u.l->items[d] = v_float(a.vectors[d]);
                if (mc) mc->cache_hits++;
            }
            lm_answer_clear(&a);
        }
        row_text[r] = nt++;
    }
    /* pack the misses: up to 100 texts (Gemini's limit; OpenAI's is 2048) and ~250k tokens a request */
    int nreq = 0;
    Slot *slots = xcalloc((size_t)nt + 1, sizeof *slots);
    for (int i = 0; i < nt && rc == 0; i++) {
        Text *x = &texts[i];
        if (x->vec.kind != V_NULL || x->req >= 0) continue;
        LmRequest *req = lm_request_new(LM_EMBED);
        int64_t tokens = 0;
        int cap = x->m->provider == PROV_OPENAI || x->m->provider == PROV_OPENROUTER ? 512 : 100;
        for (int j = i; j < nt && req->ninputs < cap; j++) {
            Text *y = &texts[j];
            if (y->m != x->m || y->vec.kind != V_NULL || y->req >= 0) continue;
            int64_t tk = (int64_t)strlen(y->text) / 4 + 1;
            if (req->ninputs > 0 && tokens + tk > 250000) break;
            tokens += tk;
            req->inputs = xrealloc(req->inputs, (size_t)(req->ninputs + 1) * sizeof *req->inputs);
            req->inputs[req->ninputs] = xstrdup(y->text);
            y->req = nreq;
            y->idx = req->ninputs++;
        }
        req->est_input_tokens = tokens;
        slots[nreq].m = x->m;
        slots[nreq].req = req;
        nreq++;
    }
    if (rc == 0) rc = send_pending(s, e, slots, nreq, err);
    if (rc == 0) {
        for (int i = 0; i < nt; i++) {
            Text *x = &texts[i];
            if (x->vec.kind != V_NULL || x->req < 0) continue;
            Slot *sl = &slots[x->req];
            if (sl->ans.outcome == LM_OK && sl->ans.vectors && x->idx < sl->ans.nvec) {
                int dim = sl->ans.dim;
                x->vec = v_list_new((uint32_t)dim);
                for (int d = 0; d < dim; d++) x->vec.u.l->items[d] = v_float(sl->ans.vectors[(size_t)x->idx * (size_t)dim + (size_t)d]);
                /* cache this text's vector on its own (usage is counted once, on the request) */
                LmAnswer one;
                memset(&one, 0, sizeof one);
                one.outcome = LM_OK;
                one.vectors = sl->ans.vectors + (size_t)x->idx * (size_t)dim;
                one.nvec = 1;
                one.dim = dim;
                one.cost_usd = -1;
                if (s->cache) state_cache_put(s->state, x->key, x->m, &one);
            }
        }
        for (size_t r = 0; r < n; r++) {
            int k = row_text[r];
            if (k < 0) { out[r] = v_null(); continue; }
            Text *x = &texts[k];
            if (x->vec.kind != V_NULL) out[r] = value_copy(x->vec);
            else {
                Slot *sl = x->req >= 0 ? &slots[x->req] : NULL;
                state_add_error(s->state, s->query_id, first_row + (int64_t)r, x->m->alias,
                                sl && sl->ans.error_kind ? sl->ans.error_kind : "failed",
                                sl && sl->ans.error_message ? sl->ans.error_message : "no vector in the answer");
                ModelCount *mc = count_of(s, x->m, "embed");
                if (mc) mc->failures++;
            }
        }
    }
    for (int i = 0; i < nreq; i++) { lm_request_free(slots[i].req); lm_answer_clear(&slots[i].ans); }
    free(slots);
    for (int i = 0; i < nt; i++) { free(texts[i].text); value_free(texts[i].vec); }
    free(texts);
    free(row_text);
    state_commit(s->state);
    if (rc) { free(out); return NULL; }
    return out;
}
