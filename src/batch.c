/* batch.c: the providers' asynchronous Batch APIs, for models declared with `batch: true`.
 *
 *   OpenAI:    POST /v1/files (multipart, purpose=batch, one JSONL line per request:
 *              {"custom_id","method":"POST","url":"/v1/chat/completions","body":{...}}),
 *              POST /v1/batches {"input_file_id","endpoint","completion_window":"24h"},
 *              GET /v1/batches/{id} until completed|failed|expired|cancelled, then
 *              GET /v1/files/{output_file_id,error_file_id}/content: lines
 *              {"custom_id","response":{"status_code","body"},"error"}.
 *   Anthropic: POST /v1/messages/batches {"requests":[{"custom_id","params":{...}}]},
 *              GET /v1/messages/batches/{id} until processing_status is ended, then GET results_url:
 *              lines {"custom_id","result":{"type":"succeeded|errored|canceled|expired",...}}.
 *   Gemini:    POST /v1beta/models/{model}:batchGenerateContent {"batch":{"displayName","inputConfig":
 *              {"requests":{"requests":[{"request":{...},"metadata":{"key"}}]}}}} (inline requests,
 *              at most 20 MB a batch), answered by an Operation {"name":"batches/ID","metadata":
 *              {"state","batchStats"}}; GET /v1beta/batches/{ID} until done (state
 *              BATCH_STATE_SUCCEEDED|FAILED|CANCELLED|EXPIRED), then the results inline in
 *              response (or metadata.output).inlinedResponses.inlinedResponses[{"response"|"error",
 *              "metadata":{"key"}}], or in the JSONL file named by responsesFile
 *              (GET /download/v1beta/{file}:download?alt=media).
 *
 * A request's custom_id is its response-cache key (SHA-256 of provider, model, base URL, URL and
 * body), so a result lands in the cache under the key the next run looks up, and a request that
 * is already in a submitted batch is recognised by its body. Each submitted batch is recorded in
 * the state database with the custom_ids it holds before it is polled: a run that was interrupted
 * (Ctrl-C, a kill, a crash) finds its requests there and polls that batch again instead of paying
 * for them twice. Work above a provider's per-batch limits (requests, bytes) is split into several
 * batches, polled together. Each line's body is read by the provider's ordinary parser, so an
 * answer from a batch is the same as one from the synchronous API; it is priced at the catalog's
 * batch discount. A line that failed for a transient reason (a 5xx, an expired batch) goes into
 * the next round's batch, up to the model's max_retries rounds.
 *
 * The control calls are few and slow (one upload, one create, a poll every few seconds), so they
 * are blocking transfers through the HTTP helper (http.h), retried with backoff on transient failures; polling sleeps
 * in short slices so that an interrupt is noticed at once.
 *
 * Ownership: a submitted request belongs to the queue until its callback has run; the queue lives
 * in the runtime (rt->batchq) and is empty again whenever batch_run returns.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "http.h"
#include "rt.h"
#include "catalog.h"
#include "models.h"
#include "provider.h"
#include "state.h"
#include "cache.h"

#define POLL_FIRST_S   0.5      /* the first poll; each next waits 1.5 times longer ... */
#define POLL_MAX_S     30.0     /* ... up to this (batches take minutes to hours) */
#define CALL_ATTEMPTS  6        /* tries of one control call that fails transiently */
#define LINE_OVERHEAD  64       /* bytes a request adds to a batch besides its own JSON */
#define INTERRUPTED    "interrupted: a submitted batch keeps running at the provider; run the statement again to " \
                       "collect its results without submitting it again"

/* One request waiting for a batch, from batch_submit to its callback. */
typedef struct BItem {
    LmModel *m;
    LmRequest *req;
    SchedDone done;
    void *ud;
    char id[65];                 /* custom_id = the request's cache key */
    char *json;                  /* the JSONL line (OpenAI) or the request object (Anthropic), compact */
    char *endpoint;              /* OpenAI: "/v1/chat/completions" or "/v1/embeddings" */
    int rounds;                  /* batches it has been sent in */
    int finished;
    struct BItem *next;
} BItem;

typedef struct BatchQueue { BItem *head, *tail; } BatchQueue;

/* One provider batch being polled: submitted now, or found in the state database. */
typedef struct BJob {
    LmModel *m;
    char *id;
    BItem **items; int n;        /* this run's requests in it, sorted by custom_id */
    int resumed;
    char *status;                /* the provider's word: validating, in_progress, ended ... */
    char *shown;                 /* the status last shown */
    int64_t total, ok, failed;   /* request_counts */
    int ended;
    json_t *obj;                 /* the last batch object */
    double next_poll, wait;
} BJob;

static double now_mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Sleep up to secs in short slices; 1 when the user interrupted meanwhile. */
static int nap(Runtime *rt, double secs)
{
    double until = now_mono() + secs;
    while (!rt_interrupted(rt)) {
        double left = until - now_mono();
        if (left <= 0) return 0;
        usleep((useconds_t)(fmin(left, 0.1) * 1e6));
    }
    return 1;
}

/* ---- the queue ---- */

static void item_free(BItem *it)
{
    if (!it) return;
    lm_request_free(it->req);
    free(it->json);
    free(it->endpoint);
    free(it);
}

/* Give it its final answer a (usage counted and priced at the batch discount), then free it. */
static void item_finish(Runtime *rt, BItem *it, LmAnswer *a)
{
    if (a->cost_usd < 0 && (a->input_tokens || a->output_tokens)) {
        double c = lm_answer_cost(it->m, a);
        if (c >= 0) a->cost_usd = c * it->m->batch_discount;
    }
    if (!rt->sched) rt->sched = sched_new();
    sched_account(rt->sched, it->m, a);
    it->req->attempts = it->rounds;
    it->finished = 1;
    if (it->done) it->done(it->ud, it->req, a);
}

static void item_fail(Runtime *rt, BItem *it, LmOutcome o, const char *kind, const char *msg)
{
    LmAnswer a;
    memset(&a, 0, sizeof a);
    a.cost_usd = a.retry_after_s = a.remaining_requests = a.remaining_tokens = -1;
    answer_set(&a, o, kind, "%s", msg);
    item_finish(rt, it, &a);
    lm_answer_clear(&a);
}

/* The path of url after the model's API base, as the batch line's "url" ("/v1/chat/completions"). */
static char *endpoint_of(const LmModel *m, const char *url)
{
    size_t bl = strlen(m->base_url);
    const char *rest = !strncmp(url, m->base_url, bl) ? url + bl : strrchr(url, '/');
    return xasprintf("/v1%s", rest ? rest : "");
}

void batch_submit(Runtime *rt, LmModel *m, LmRequest *req, SchedDone done, void *ud)
{
    BItem *it = xcalloc(1, sizeof *it);
    it->m = m;
    it->req = req;
    it->done = done;
    it->ud = ud;
    HttpRequest h;
    memset(&h, 0, sizeof h);
    char *msg = NULL;
    json_error_t je;
    json_t *body = NULL;
    if (provider_build(m, req, &h, &msg) || !(body = json_loads(h.body ? h.body : "", 0, &je))) {
        item_fail(rt, it, LM_ROW_ERROR, "bad_request", msg ? msg : "cannot build the request");
        free(msg);
        http_request_free(&h);
        item_free(it);
        return;
    }
    cache_http_key(m, &h, it->id);
    json_t *line;
    if (m->provider == PROV_ANTHROPIC) {
        line = json_pack("{s:s, s:o}", "custom_id", it->id, "params", body);
    } else if (m->provider == PROV_GEMINI) {
        line = json_pack("{s:o, s:{s:s}}", "request", body, "metadata", "key", it->id);
    } else {
        it->endpoint = endpoint_of(m, h.url);
        line = json_pack("{s:s, s:s, s:s, s:o}", "custom_id", it->id, "method", "POST", "url", it->endpoint, "body", body);
    }
    it->json = json_dumps(line, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(line);
    http_request_free(&h);
    if (!rt->batchq) rt->batchq = xcalloc(1, sizeof *rt->batchq);
    BatchQueue *q = rt->batchq;
    if (q->tail) q->tail->next = it; else q->head = it;
    q->tail = it;
}

int batch_pending(Runtime *rt)
{
    return rt->batchq && rt->batchq->head;
}

/* ---- HTTP ---- */

typedef struct Resp { long status; Buf body, head; } Resp;

/* The API base ("https://api.openai.com/v1", "https://api.anthropic.com/v1") and the
 * authentication headers of m, taken from its key check (GET {base}/models), so that the way each
 * provider wants its key is written once, in its adapter. 0, or -1 with err. */
static int api_base(const LmModel *m, HttpRequest *auth, fql_error *err)
{
    memset(auth, 0, sizeof *auth);
    char *msg = NULL;
    if (provider_build_key_check(m, auth, &msg)) {
        err_set(err, FQL_ERR_RUNTIME, "model '%s' (%s): %s", m->alias, m->provider_name, msg ? msg : "no API base");
        free(msg);
        return -1;
    }
    size_t n = strlen(auth->url);
    if (n >= 7 && !strcmp(auth->url + n - 7, "/models")) auth->url[n - 7] = 0;
    return 0;
}

/* One transfer: method url with m's authentication and either a JSON body or a JSONL file
 * uploaded for purpose=batch, through the blocking HTTP helper (10 s to connect, 10 minutes in
 * all). Fills r (status 0 and the error text on a transport failure). */
static void transfer(const HttpRequest *auth, const char *method, const char *url, const char *json,
                     const char *file, size_t file_len, Resp *r)
{
    struct curl_slist *hl = NULL;
    for (int i = 0; i < auth->nheaders; i++) hl = curl_slist_append(hl, auth->headers[i]);
    HttpPart parts[2] = { { "purpose", NULL, NULL, "batch", CURL_ZERO_TERMINATED },
                          { "file", "fql-batch.jsonl", "application/jsonl", file, file_len } };
    HttpReq rq = { .method = file || !strcmp(method, "POST") ? "POST" : "GET", .url = url, .headers = hl };
    rq.policy.connect_timeout_ms = 10000;
    rq.policy.timeout_ms = 600000;
    if (file) {
        rq.parts = parts;
        rq.nparts = 2;
    } else if (!strcmp(method, "POST")) {
        rq.body = json ? json : "{}";
        rq.body_len = strlen(rq.body);
        rq.content_type = "application/json";
    }
    HttpResp resp;
    Http *h = http_new();
    if (h) http_do(h, &rq, &resp, NULL);
    else {
        memset(&resp, 0, sizeof resp);
        resp.failed = CURLE_FAILED_INIT;
        snprintf(resp.error, sizeof resp.error, "cannot start libcurl");
    }
    http_free(h);
    buf_clear(&r->body);
    buf_clear(&r->head);
    r->status = resp.failed ? 0 : resp.status;
    if (resp.failed) buf_puts(&r->body, resp.error);
    else {
        if (resp.body.len) buf_append(&r->body, resp.body.data, resp.body.len);
        if (resp.head.len) buf_append(&r->head, resp.head.data, resp.head.len);
    }
    http_resp_free(&resp);
    for (struct curl_slist *x = hl; x; x = x->next)   /* they hold the key */
        if (x->data) memset(x->data, 0, strlen(x->data));
    curl_slist_free_all(hl);
}

/* A control call, retried with backoff while it fails transiently. 0 with r filled (2xx), or -1
 * with err naming the model and what the provider said. */
static int call(Runtime *rt, const LmModel *m, const char *what, const char *method, const char *url,
                const char *json, const char *file, size_t file_len, Resp *r, fql_error *err)
{
    HttpRequest auth;
    if (api_base(m, &auth, err)) return -1;
    int rc = -1;
    for (int attempt = 0; attempt < CALL_ATTEMPTS; attempt++) {
        transfer(&auth, method, url, json, file, file_len, r);
        if (r->status >= 200 && r->status < 300) { rc = 0; break; }
        LmAnswer a;
        memset(&a, 0, sizeof a);
        if (r->status == 0) answer_set(&a, LM_RETRY, "connection", "%s", r->body.data ? r->body.data : "no answer");
        else provider_parse(m, NULL, r->status, r->head.data ? r->head.data : "", r->body.data ? r->body.data : "", r->body.len, &a);
        int transient = a.outcome == LM_RETRY || a.outcome == LM_RATE_LIMITED;
        if (!transient || attempt == CALL_ATTEMPTS - 1) {
            err_set(err, FQL_ERR_RUNTIME, "model '%s' (%s): the Batch API refused to %s (HTTP %ld): %s", m->alias, m->provider_name,
                    what, r->status, a.error_message ? a.error_message : "no message");
            lm_answer_clear(&a);
            break;
        }
        double wait = a.retry_after_s >= 0 ? fmin(a.retry_after_s, 60) : backoff_delay(attempt, 0.5, 30, (double)rand() / RAND_MAX);
        lm_answer_clear(&a);
        if (nap(rt, wait)) { err_set(err, FQL_ERR_RUNTIME, INTERRUPTED); break; }
    }
    http_request_free(&auth);
    return rc;
}

static json_t *resp_json(const Resp *r)
{
    json_error_t je;
    return r->body.data ? json_loadb(r->body.data, r->body.len, 0, &je) : NULL;
}

/* ---- submitting ---- */

static int cmp_item(const void *a, const void *b)
{
    return strcmp((*(BItem *const *)a)->id, (*(BItem *const *)b)->id);
}

static BJob *job_new(LmModel *m, char *id, BItem **items, int n, int resumed)
{
    BJob *j = xcalloc(1, sizeof *j);
    j->m = m;
    j->id = id;
    j->items = items;
    j->n = n;
    j->resumed = resumed;
    j->status = xstrdup(resumed ? "resumed" : "submitted");
    j->total = n;
    j->wait = POLL_FIRST_S;
    j->next_poll = now_mono() + (resumed ? 0 : POLL_FIRST_S);
    qsort(j->items, (size_t)j->n, sizeof *j->items, cmp_item);
    return j;
}

static void job_free(BJob *j)
{
    if (!j) return;
    free(j->id);
    free(j->items);
    free(j->status);
    free(j->shown);
    json_decref(j->obj);
    free(j);
}

/* Submit items[0..n) of one model and endpoint as one batch. The new job, or NULL with err. */
static BJob *submit(Runtime *rt, BItem **items, int n, fql_error *err)
{
    LmModel *m = items[0]->m;
    Buf data;
    buf_init(&data);
    int gem = m->provider == PROV_GEMINI, inline_list = m->provider == PROV_ANTHROPIC || gem;
    if (m->provider == PROV_ANTHROPIC) buf_puts(&data, "{\"requests\":[");
    if (gem) buf_puts(&data, "{\"batch\":{\"displayName\":\"fql\",\"inputConfig\":{\"requests\":{\"requests\":[");
    for (int i = 0; i < n; i++) {
        if (inline_list && i) buf_putc(&data, ',');
        buf_puts(&data, items[i]->json);
        if (!inline_list) buf_putc(&data, '\n');
    }
    if (m->provider == PROV_ANTHROPIC) buf_puts(&data, "]}");
    if (gem) buf_puts(&data, "]}}}}");
    HttpRequest auth;
    if (api_base(m, &auth, err)) { buf_free(&data); return NULL; }
    Resp r = { 0 };
    buf_init(&r.body);
    buf_init(&r.head);
    char *id = NULL;
    json_t *o = NULL;
    if (m->provider == PROV_ANTHROPIC) {
        char *url = xasprintf("%s/messages/batches", auth.url);
        if (call(rt, m, "create a message batch", "POST", url, data.data, NULL, 0, &r, err) == 0) o = resp_json(&r);
        free(url);
    } else if (gem) {
        const char *mid = m->model_name ? m->model_name : "";
        if (!strncmp(mid, "models/", 7)) mid += 7;
        char *url = xasprintf("%s/models/%s:batchGenerateContent", auth.url, mid);
        if (call(rt, m, "create a batch", "POST", url, data.data, NULL, 0, &r, err) == 0) o = resp_json(&r);
        free(url);
        /* the Operation's name is "batches/ID": the ID is what is recorded and polled */
        const char *name = jstr(o, "name");
        const char *slash = name ? strrchr(name, '/') : NULL;
        if (slash && slash[1]) id = xstrdup(slash + 1);
    } else {
        char *url = xasprintf("%s/files", auth.url);
        int rc = call(rt, m, "take the batch input file", "POST", url, NULL, data.data, data.len, &r, err);
        free(url);
        json_t *f = rc == 0 ? resp_json(&r) : NULL;
        const char *fid = jstr(f, "id");
        if (rc == 0 && !fid) err_set(err, FQL_ERR_RUNTIME, "model '%s' (openai): the file upload answered without an id", m->alias);
        if (fid) {
            json_t *req = json_pack("{s:s, s:s, s:s}", "input_file_id", fid, "endpoint", items[0]->endpoint, "completion_window", "24h");
            char *body = json_dumps(req, JSON_COMPACT);
            url = xasprintf("%s/batches", auth.url);
            if (call(rt, m, "create a batch", "POST", url, body, NULL, 0, &r, err) == 0) o = resp_json(&r);
            free(url);
            free(body);
            json_decref(req);
        }
        json_decref(f);
    }
    if (!id && o && jstr(o, "id")) id = xstrdup(jstr(o, "id"));
    if (!id && !err_failed(err)) err_set(err, FQL_ERR_RUNTIME, "model '%s' (%s): the batch was created without an id", m->alias, m->provider_name);
    json_decref(o);
    buf_free(&r.body);
    buf_free(&r.head);
    buf_free(&data);
    http_request_free(&auth);
    if (!id) return NULL;
    const char **ids = xmalloc((size_t)n * sizeof *ids);
    for (int i = 0; i < n; i++) ids[i] = items[i]->id;
    state_batch_add(rt->state, id, m, ids, n);
    free(ids);
    BItem **mine = xmalloc((size_t)n * sizeof *mine);
    memcpy(mine, items, (size_t)n * sizeof *mine);
    if (rt->progress)
        rt_log(rt, FQL_LOG_INFO, "fql: %s: submitted batch %s (%d request%s); if this run is interrupted, the next one resumes it",
               m->alias, id, n, n == 1 ? "" : "s");
    return job_new(m, id, mine, n, 0);
}

/* ---- polling and results ---- */

/* Google's int64 fields arrive as JSON strings ("12"); numbers are taken too. 0 when absent. */
static int64_t gint(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    if (json_is_string(v)) return strtoll(json_string_value(v), NULL, 10);
    return json_is_integer(v) ? (int64_t)json_integer_value(v) : 0;
}

/* The status and counts of job j from its batch object. 1 when the batch has ended. */
static int read_status(BJob *j, json_t *o)
{
    json_decref(j->obj);
    j->obj = json_incref(o);
    json_t *rc = jobj(o, "request_counts");
    const char *st;
    int ended;
    if (j->m->provider == PROV_GEMINI) {
        /* an Operation whose metadata is the GenerateContentBatch (int64 counts are JSON strings) */
        json_t *md = jobj(o, "metadata") ? jobj(o, "metadata") : o;
        json_t *bs = jobj(md, "batchStats");
        st = jstr(md, "state");
        ended = json_is_true(json_object_get(o, "done")) ||
                (st && (strstr(st, "SUCCEEDED") || strstr(st, "FAILED") || strstr(st, "CANCELLED") || strstr(st, "EXPIRED")));
        j->ok = gint(bs, "successfulRequestCount");
        j->failed = gint(bs, "failedRequestCount");
        j->total = gint(bs, "requestCount");
        if (!j->total) j->total = j->n;
    } else if (j->m->provider == PROV_ANTHROPIC) {
        st = jstr(o, "processing_status");
        ended = st && !strcmp(st, "ended");
        j->ok = jint(rc, "succeeded");
        j->failed = jint(rc, "errored") + jint(rc, "canceled") + jint(rc, "expired");
        j->total = j->ok + j->failed + jint(rc, "processing");
    } else {
        st = jstr(o, "status");
        ended = st && (!strcmp(st, "completed") || !strcmp(st, "failed") || !strcmp(st, "expired") || !strcmp(st, "cancelled"));
        j->ok = jint(rc, "completed");
        j->failed = jint(rc, "failed");
        j->total = jint(rc, "total");
    }
    free(j->status);
    j->status = xstrdup(st ? st : "unknown");
    return ended;
}

/* The HTTP status an Anthropic error type stands for (batch results carry the type only). */
static long anthropic_status(const char *type)
{
    static const struct { const char *t; long s; } map[] = {
        { "invalid_request_error", 400 }, { "authentication_error", 401 }, { "permission_error", 403 },
        { "not_found_error", 404 }, { "request_too_large", 413 }, { "rate_limit_error", 429 },
        { "api_error", 500 }, { "overloaded_error", 529 },
    };
    for (size_t i = 0; type && i < sizeof map / sizeof map[0]; i++)
        if (!strcmp(map[i].t, type)) return map[i].s;
    return 500;
}

/* Parse one result line of job j into the answer for its request r (NULL when this run does not
 * wait for it: then only its cache entry matters). */
static void parse_line(const LmModel *m, const LmRequest *r, json_t *line, LmAnswer *a)
{
    memset(a, 0, sizeof *a);
    a->cost_usd = a->retry_after_s = a->remaining_requests = a->remaining_tokens = -1;
    LmRequest dummy;
    memset(&dummy, 0, sizeof dummy);
    if (!r) r = &dummy;   /* parsers want the request only for its schema and kind */
    json_t *body = NULL;
    long status = 0;
    const char *none = NULL;
    if (m->provider == PROV_GEMINI) {
        /* {"response": GenerateContentResponse} or {"error": Status} (a JSONL line has "key" too) */
        json_t *e = jobj(line, "error");
        if (jobj(line, "response")) { status = 200; body = jobj(line, "response"); }
        else if (e) {
            status = json_is_integer(json_object_get(e, "code")) ? (long)json_integer_value(json_object_get(e, "code")) : 500;
            if (status < 400 || status > 599) status = 500;   /* not an HTTP status */
            body = line;   /* gemini_parse reads {"error": {...}} */
        } else none = "missing";
    } else if (m->provider == PROV_ANTHROPIC) {
        json_t *res = jobj(line, "result");
        const char *type = jstr(res, "type");
        if (type && !strcmp(type, "succeeded")) { status = 200; body = jobj(res, "message"); }
        else if (type && !strcmp(type, "errored")) {
            body = jobj(res, "error");
            status = anthropic_status(jstr(jobj(body, "error"), "type"));
        } else none = type ? type : "missing";
    } else {
        json_t *resp = jobj(line, "response");
        if (resp) { status = jint(resp, "status_code"); body = json_object_get(resp, "body"); }
        else none = jstr(jobj(line, "error"), "code") ? jstr(jobj(line, "error"), "code") : "missing";
    }
    if (none) {
        int expired = strstr(none, "expired") != NULL;
        answer_set(a, expired ? LM_RETRY : LM_ROW_ERROR, expired ? "batch_expired" : "batch_cancelled",
                   "the batch %s before this request ran", expired ? "expired" : "was cancelled");
        return;
    }
    char *text = body ? json_dumps(body, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY) : NULL;
    provider_parse(m, r, status, "", text ? text : "", text ? strlen(text) : 0, a);
    free(text);
}

/* Move it (finished in its job) into a new item on q, for the next round. */
static void requeue(BItem *it, BatchQueue *q)
{
    BItem *again = xcalloc(1, sizeof *again);
    *again = *it;
    again->next = NULL;
    it->req = NULL;
    it->json = it->endpoint = NULL;
    it->done = NULL;
    it->finished = 1;
    if (q->tail) q->tail->next = again; else q->head = again;
    q->tail = again;
}

static BItem *find_item(BJob *j, const char *id)
{
    BItem key, *kp = &key;
    snprintf(key.id, sizeof key.id, "%s", id);
    BItem **hit = bsearch(&kp, j->items, (size_t)j->n, sizeof *j->items, cmp_item);
    return hit ? *hit : NULL;
}

/* What the results handed out so far say: answers received, and the first fatal answer of a
 * request of this run (quota exhausted, key revoked: the statement stops, as it does outside a
 * batch; fatal.outcome is LM_FATAL then, and the caller clears it). */
typedef struct Outcome { int received; LmAnswer fatal; } Outcome;

/* The custom_id of a result line: custom_id (OpenAI, Anthropic), Gemini's metadata.key (inline) or
 * key (a JSONL file). Borrowed; NULL when absent. */
static const char *line_id(json_t *line)
{
    const char *cid = jstr(line, "custom_id");
    if (!cid) cid = jstr(jobj(line, "metadata"), "key");
    if (!cid) cid = jstr(line, "key");
    return cid;
}

/* Hand one result line to its request. */
static void take_line(Runtime *rt, BJob *j, json_t *line, BatchQueue *retry, Outcome *oc)
{
        const char *cid = line_id(line);
        BItem *it = cid ? find_item(j, cid) : NULL;
        if (cid && !(it && it->finished)) {
            LmAnswer a;
            parse_line(j->m, it ? it->req : NULL, line, &a);
            /* an answer paid for is kept even when this run did not ask for it (a resumed batch
             * holds requests of the run that submitted it); the asker's callback stores its own */
            if (rt->cache && a.outcome == LM_OK && !it) state_cache_put(rt->state, cid, j->m, &a);
            if (it && (a.outcome == LM_RETRY || a.outcome == LM_RATE_LIMITED) && it->rounds < j->m->max_retries) {
                requeue(it, retry);
            } else if (it) {
                item_finish(rt, it, &a);   /* an answer is cached by its asker before anything stops */
                if (a.outcome == LM_OK) oc->received++;
                if (a.outcome == LM_FATAL && oc->fatal.outcome != LM_FATAL) {
                    oc->fatal = a;         /* moved */
                    memset(&a, 0, sizeof a);
                }
            }
            lm_answer_clear(&a);
        }
}

/* Fetch url and hand every JSONL line to its request. -1 with err when it cannot be fetched. */
static int take_results(Runtime *rt, BJob *j, const char *url, BatchQueue *retry, Outcome *oc, fql_error *err)
{
    Resp r = { 0 };
    buf_init(&r.body);
    buf_init(&r.head);
    int rc = call(rt, j->m, "hand over the batch results", "GET", url, NULL, NULL, 0, &r, err);
    for (char *p = r.body.data, *e; rc == 0 && p && *p; p = e ? e + 1 : NULL) {
        e = strchr(p, '\n');
        if (e) *e = 0;
        json_error_t je;
        json_t *line = json_loads(p, 0, &je);
        take_line(rt, j, line, retry, oc);
        json_decref(line);
    }
    buf_free(&r.body);
    buf_free(&r.head);
    return rc;
}

/* Collect the results of ended job j; requests missing from them fail. */
static int collect(Runtime *rt, BJob *j, BatchQueue *retry, HttpRequest *auth, Outcome *oc, fql_error *err)
{
    int rc = 0;
    if (j->m->provider == PROV_GEMINI) {
        /* the output: the Operation's response, else the batch's output (metadata.output) */
        json_t *out = jobj(j->obj, "response");
        if (!out) out = jobj(jobj(j->obj, "metadata"), "output");
        json_t *lines = jarr(jobj(out, "inlinedResponses"), "inlinedResponses");
        const char *file = jstr(out, "responsesFile");
        size_t i;
        json_t *line;
        json_array_foreach(lines, i, line) take_line(rt, j, line, retry, oc);
        if (file) {   /* files/ID: its content from the download endpoint */
            size_t bl = strlen(auth->url);
            const char *ver = bl >= 7 && !strcmp(auth->url + bl - 7, "/v1beta") ? "/v1beta" : "";
            char *url = xasprintf("%.*s/download%s/%s:download?alt=media", (int)(bl - strlen(ver)), auth->url, ver, file);
            rc = take_results(rt, j, url, retry, oc, err);
            free(url);
        }
    } else if (j->m->provider == PROV_ANTHROPIC) {
        const char *u = jstr(j->obj, "results_url");
        char *url = u ? xstrdup(u) : xasprintf("%s/messages/batches/%s/results", auth->url, j->id);
        rc = take_results(rt, j, url, retry, oc, err);
        free(url);
    } else {
        const char *files[] = { jstr(j->obj, "output_file_id"), jstr(j->obj, "error_file_id") };
        for (int i = 0; i < 2 && rc == 0; i++) {
            if (!files[i]) continue;
            char *url = xasprintf("%s/files/%s/content", auth->url, files[i]);
            rc = take_results(rt, j, url, retry, oc, err);
            free(url);
        }
    }
    if (rc) return -1;
    /* a batch that failed as a whole (OpenAI: the input did not validate) says why in errors.data */
    json_t *errs = jarr(jobj(j->obj, "errors"), "data");
    const char *why = jstr(json_array_get(errs, 0), "message");
    if (!why) why = jstr(jobj(j->obj, "error"), "message");   /* Gemini: the Operation's error */
    for (int i = 0; i < j->n; i++)
        if (!j->items[i]->finished) {
            char *msg = xasprintf("batch %s ended (%s) without an answer for this request%s%s", j->id, j->status,
                                  why ? ": " : "", why ? why : "");
            item_fail(rt, j->items[i], LM_ROW_ERROR, "batch_failed", msg);
            free(msg);
        }
    state_batch_done(rt->state, j->id);
    return 0;
}

/* Where the batches stand: the progress line on a terminal (every batch, redrawn), else one log
 * line for each batch whose status changed since it was last shown. */
static void show(Runtime *rt, BJob **jobs, int nj)
{
    if (!rt->progress) return;
    int tty = isatty(2);
    Buf b;
    buf_init(&b);
    for (int i = 0; i < nj; i++) {
        BJob *j = jobs[i];
        if (!tty && j->shown && !strcmp(j->shown, j->status)) continue;
        if (tty) buf_puts(&b, i ? " | " : "\r\033[K");
        else b.len = 0;
        buf_printf(&b, "%s batch %s %s %lld/%lld done", j->m->alias, j->id, j->status, (long long)(j->ok + j->failed),
                   (long long)j->total);
        if (j->failed) buf_printf(&b, " (%lld failed)", (long long)j->failed);
        if (!tty) rt_log(rt, FQL_LOG_INFO, "fql: %s", b.data);
        free(j->shown);
        j->shown = xstrdup(j->status);
    }
    if (tty && b.len) { fputs(b.data, stderr); fflush(stderr); }   /* the progress display (fql_options.progress) */
    buf_free(&b);
}

/* A resumed batch the provider does not know (another server, deleted, long expired) is
 * forgotten; its requests of this run go into the next round's batch. */
static void forget(Runtime *rt, BJob *j, BatchQueue *retry)
{
    state_batch_done(rt->state, j->id);
    rt_log(rt, FQL_LOG_WARN, "fql: %s: batch %s is unknown to the provider; its requests are submitted again", j->m->alias, j->id);
    j->ended = 1;
    for (int i = 0; i < j->n; i++)
        if (!j->items[i]->finished) requeue(j->items[i], retry);
}

/* Poll every job until each has ended and its results are handed out (transient failures into
 * retry). -1 with err: interrupted, a control call failed for good, or a result was fatal (then
 * the batches still running stay recorded, for the next run to collect). */
static int poll_all(Runtime *rt, BJob **jobs, int nj, BatchQueue *retry, fql_error *err)
{
    int left = nj, rc = 0;
    Outcome oc;
    memset(&oc, 0, sizeof oc);
    show(rt, jobs, nj);
    while (left > 0 && rc == 0) {
        double now = now_mono(), soonest = INFINITY;
        for (int i = 0; i < nj && rc == 0; i++) {
            BJob *j = jobs[i];
            if (j->ended) continue;
            if (j->next_poll > now) { soonest = fmin(soonest, j->next_poll); continue; }
            HttpRequest auth;
            if (api_base(j->m, &auth, err)) { rc = -1; break; }
            char *url = xasprintf("%s/%s/%s", auth.url, j->m->provider == PROV_ANTHROPIC ? "messages/batches" : "batches", j->id);   /* Gemini too */
            Resp r = { 0 };
            buf_init(&r.body);
            buf_init(&r.head);
            fql_error perr;
            memset(&perr, 0, sizeof perr);
            rc = call(rt, j->m, "report on the batch", "GET", url, NULL, NULL, 0, &r, &perr);
            json_t *o = rc == 0 ? resp_json(&r) : NULL;
            if (rc && j->resumed && r.status == 404) {
                forget(rt, j, retry);
                left--;
                rc = 0;
            } else if (rc) {
                if (!err_failed(err)) *err = perr;
            } else if (read_status(j, o)) {
                j->ended = 1;
                left--;
                rc = collect(rt, j, retry, &auth, &oc, err);
                if (rc == 0 && oc.fatal.outcome == LM_FATAL) {
                    char *kept = rt->cache && oc.received > 0
                        ? xasprintf(" (the %d answer%s received %s kept in the cache: the next run does not pay for %s again)",
                                    oc.received, oc.received == 1 ? "" : "s", oc.received == 1 ? "is" : "are",
                                    oc.received == 1 ? "it" : "them")
                        : xstrdup("");
                    err_set(err, FQL_ERR_RUNTIME, "model '%s' (%s %s, Batch API): %s%s", j->m->alias, j->m->provider_name,
                            j->m->model_name ? j->m->model_name : "",
                            oc.fatal.error_message ? oc.fatal.error_message : "the provider refused the request", kept);
                    free(kept);
                    rc = -1;
                }
            }
            json_decref(o);
            free(url);
            buf_free(&r.body);
            buf_free(&r.head);
            http_request_free(&auth);
            j->next_poll = now_mono() + j->wait;
            j->wait = fmin(j->wait * 1.5, POLL_MAX_S);
            soonest = fmin(soonest, j->next_poll);
        }
        show(rt, jobs, nj);
        if (rc == 0 && left > 0 && nap(rt, fmax(0, soonest - now_mono()))) {
            err_set(err, FQL_ERR_RUNTIME, INTERRUPTED);
            rc = -1;
        }
    }
    if (rt->progress && isatty(2)) { fputs("\r\033[K", stderr); fflush(stderr); }
    lm_answer_clear(&oc.fatal);
    return rc;
}

/* Split the queued items of one model and endpoint into batches within the model's limits,
 * resuming recorded batches that hold some of them. Adds jobs to *jobs. */
static int plan_jobs(Runtime *rt, BItem **items, int n, BJob ***jobs, int *nj, fql_error *err)
{
    LmModel *m = items[0]->m;
    BItem **fresh = xmalloc((size_t)n * sizeof *fresh);
    int nfresh = 0;
    for (int i = 0; i < n; i++) {
        char *bid = items[i]->rounds == 0 ? state_batch_find(rt->state, m, items[i]->id) : NULL;
        if (!bid) { fresh[nfresh++] = items[i]; continue; }
        BJob *j = NULL;
        for (int k = 0; k < *nj && !j; k++)
            if (!strcmp((*jobs)[k]->id, bid)) j = (*jobs)[k];
        if (j) {
            free(bid);
            j->items = xrealloc(j->items, (size_t)(j->n + 1) * sizeof *j->items);
            j->items[j->n++] = items[i];
            continue;
        }
        BItem **one = xmalloc(sizeof *one);
        one[0] = items[i];
        *jobs = xrealloc(*jobs, (size_t)(*nj + 1) * sizeof **jobs);
        (*jobs)[(*nj)++] = job_new(m, bid, one, 1, 1);
        if (rt->progress) rt_log(rt, FQL_LOG_INFO, "fql: %s: resuming batch %s submitted by an earlier run", m->alias, bid);
    }
    for (int k = 0; k < *nj; k++)   /* resumed jobs grew one item at a time: sort them now */
        qsort((*jobs)[k]->items, (size_t)(*jobs)[k]->n, sizeof *(*jobs)[k]->items, cmp_item);
    int rc = 0;
    for (int start = 0; start < nfresh && rc == 0; ) {
        int64_t bytes = 0;
        int k = start;
        while (k < nfresh && k - start < m->batch_max_requests) {
            int64_t add = (int64_t)strlen(fresh[k]->json) + LINE_OVERHEAD;
            if (k > start && bytes + add > m->batch_max_bytes) break;
            bytes += add;
            k++;
        }
        BJob *j = submit(rt, fresh + start, k - start, err);
        if (!j) { rc = -1; break; }
        for (int q = start; q < k; q++) fresh[q]->rounds++;
        *jobs = xrealloc(*jobs, (size_t)(*nj + 1) * sizeof **jobs);
        (*jobs)[(*nj)++] = j;
        start = k;
    }
    free(fresh);
    return rc;
}

/* Do a and b go into the same batch (one model, one endpoint)? */
static int same_batch(const BItem *a, const BItem *b)
{
    return a->m == b->m && !strcmp(a->endpoint ? a->endpoint : "", b->endpoint ? b->endpoint : "");
}

/* Take the queue: its items as an array (*n of them), the queue left empty. */
static BItem **take_queue(Runtime *rt, int *n)
{
    *n = 0;
    for (BItem *it = rt->batchq->head; it; it = it->next) (*n)++;
    BItem **items = xmalloc((size_t)*n * sizeof *items);
    int k = 0;
    for (BItem *it = rt->batchq->head, *nx; it; it = nx) {
        nx = it->next;
        it->next = NULL;
        items[k++] = it;
    }
    rt->batchq->head = rt->batchq->tail = NULL;
    return items;
}

int batch_run(Runtime *rt, fql_error *err)
{
    int rc = 0;
    while (rc == 0 && batch_pending(rt)) {
        int n;
        BItem **items = take_queue(rt, &n);
        BJob **jobs = NULL;
        int nj = 0;
        /* one group per model and endpoint, in the order they first appear */
        BItem **grp = xmalloc((size_t)n * sizeof *grp);
        char *taken = xcalloc((size_t)n, 1);
        for (int i = 0; i < n && rc == 0; i++) {
            if (taken[i]) continue;
            int ng = 0;
            for (int q = i; q < n; q++)
                if (!taken[q] && same_batch(items[q], items[i])) { grp[ng++] = items[q]; taken[q] = 1; }
            rc = plan_jobs(rt, grp, ng, &jobs, &nj, err);
        }
        free(grp);
        free(taken);
        BatchQueue retry = { 0 };
        if (rc == 0) rc = poll_all(rt, jobs, nj, &retry, err);
        /* whatever has no answer now gets none in this run */
        for (int i = 0; i < n; i++) {
            if (!items[i]->finished) item_fail(rt, items[i], LM_ROW_ERROR, "cancelled", "cancelled: the statement stopped");
            item_free(items[i]);
        }
        for (int i = 0; i < nj; i++) job_free(jobs[i]);
        free(jobs);
        free(items);
        if (retry.head) {   /* before anything callbacks queued meanwhile */
            retry.tail->next = rt->batchq->head;
            rt->batchq->head = retry.head;
            if (!rt->batchq->tail) rt->batchq->tail = retry.tail;
        }
    }
    if (rc) batch_abandon(rt);
    free(rt->batchq);
    rt->batchq = NULL;
    return rc;
}

void batch_abandon(Runtime *rt)
{
    while (batch_pending(rt)) {   /* a callback may queue more; a cancelled answer is not retried */
        int n;
        BItem **items = take_queue(rt, &n);
        for (int i = 0; i < n; i++) {
            item_fail(rt, items[i], LM_ROW_ERROR, "cancelled", "cancelled: the statement stopped");
            item_free(items[i]);
        }
        free(items);
    }
    free(rt->batchq);
    rt->batchq = NULL;
}
