/* shared_metrics.c: the rows of system.query_metrics of every process sharing one Redis.
 *
 * Each process writes its rows to its own state database as always, and with `shared` set also
 * appends each row (a JSON object named by the table's columns) to the Redis stream
 * "fql:metrics", tagged with the origin: which state database it is in (host + the database's
 * real path; a process without one is its own origin). A reader lists its state database's rows,
 * then the stream's rows of every other origin: each row once, whether the processes share a
 * state database or not. The stream keeps the last METRICS_MAX rows.
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <jansson.h>
#include <openssl/evp.h>
#include "shared.h"
#include "state.h"
#include "table.h"

#define METRICS_KEY "fql:metrics"
#define METRICS_MAX "100000"

char *shared_origin(const SharedConn *c, const char *db_path)
{
    char real[PATH_MAX];
    if (!db_path || !strcmp(db_path, ":memory:") || !realpath(db_path, real)) return xstrdup(shared_proc_id(c));
    char host[64] = "host";
    gethostname(host, sizeof host - 1);
    host[sizeof host - 1] = 0;
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    char *id = xasprintf("%s:%s", host, real);
    EVP_Digest(id, strlen(id), md, &n, EVP_sha256(), NULL);
    free(id);
    char h[33];
    for (unsigned i = 0; i < 16; i++) sprintf(h + 2 * i, "%02x", md[i]);
    return xasprintf("%s:%s", host, h);
}

/* A number, or null when unknown (< 0). */
static json_t *opt(double v) { return v < 0 ? json_null() : json_real(v); }

int shared_metrics_push(SharedConn *c, const char *origin, const QueryMetric *q, char **err)
{
    json_t *o = json_object();
    const LmModel *m = q->model;
    json_object_set_new(o, "query_id", json_integer(q->query_id));
    json_object_set_new(o, "statement", json_string(q->statement ? q->statement : ""));
    json_object_set_new(o, "started_at", json_real(q->started_at));
    json_object_set_new(o, "model", json_string(m && m->alias ? m->alias : ""));
    json_object_set_new(o, "provider", json_string(m && m->provider_name ? m->provider_name : ""));
    json_object_set_new(o, "model_name", json_string(m && m->model_name ? m->model_name : ""));
    json_object_set_new(o, "operator", q->op ? json_string(q->op) : json_null());
    const char *ik[] = { "rows", "requests", "cache_hits", "retries", "rate_limited", "failures", "input_tokens",
                         "cached_input_tokens", "output_tokens", "reasoning_tokens" };
    const int64_t iv[] = { q->rows, q->requests, q->cache_hits, q->retries, q->rate_limited, q->failures, q->input_tokens,
                           q->cached_input_tokens, q->output_tokens, q->reasoning_tokens };
    for (int i = 0; i < 10; i++) json_object_set_new(o, ik[i], json_integer(iv[i]));
    json_object_set_new(o, "cost_usd", opt(q->cost_usd));
    json_object_set_new(o, "queue_ms", opt(q->queue_ms));
    json_object_set_new(o, "latency_ms", opt(q->latency_ms));
    json_object_set_new(o, "latency_p95_ms", opt(q->latency_p95_ms));
    json_object_set_new(o, "execution_time_ms", json_real(q->execution_time_ms));
    json_object_set_new(o, "est_recall", opt(q->est_recall));
    char *text = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    const char *argv[] = { "XADD", METRICS_KEY, "MAXLEN", "~", METRICS_MAX, "*", "origin", origin, "row", text };
    redisReply *r = shared_cmdargv(c, 10, argv, NULL, err);
    free(text);
    if (!r) return -1;
    freeReplyObject(r);
    return 0;
}

/* The Value of JSON v for a column of type t (null when it does not fit). */
static Value to_value(const json_t *v, const Type *t)
{
    if (!v || json_is_null(v)) return v_null();
    switch (t->kind) {
    case TY_INT: return json_is_number(v) ? v_int((int64_t)json_number_value(v)) : v_null();
    case TY_FLOAT: return json_is_number(v) ? v_float(json_number_value(v)) : v_null();
    case TY_TIMESTAMP: return json_is_number(v) ? v_timestamp((int64_t)(json_number_value(v) * 1e6)) : v_null();
    case TY_BOOL: return json_is_boolean(v) ? v_bool(json_is_true(v)) : v_null();
    default: return json_is_string(v) ? v_cstring(json_string_value(v)) : v_null();
    }
}

int shared_metrics_append(SharedConn *c, const char *skip_origin, Table *t, char **err)
{
    const char *argv[] = { "XRANGE", METRICS_KEY, "-", "+" };
    redisReply *r = shared_cmdargv(c, 4, argv, NULL, err);
    if (!r) return -1;
    const Schema *sc = t->schema;
    Batch *b = batch_new(sc->n, 64);
    Value *row = xcalloc((size_t)sc->n + 1, sizeof *row);
    for (size_t i = 0; r->type == REDIS_REPLY_ARRAY && i < r->elements; i++) {
        const redisReply *e = r->element[i];   /* [id, [field, value, ...]] */
        if (e->type != REDIS_REPLY_ARRAY || e->elements < 2 || e->element[1]->type != REDIS_REPLY_ARRAY) continue;
        const redisReply *f = e->element[1];
        const char *origin = NULL, *text = NULL;
        for (size_t k = 0; k + 1 < f->elements; k += 2) {
            if (f->element[k]->type != REDIS_REPLY_STRING || f->element[k + 1]->type != REDIS_REPLY_STRING) continue;
            if (!strcmp(f->element[k]->str, "origin")) origin = f->element[k + 1]->str;
            else if (!strcmp(f->element[k]->str, "row")) text = f->element[k + 1]->str;
        }
        if (!text || (origin && skip_origin && !strcmp(origin, skip_origin))) continue;
        json_t *o = json_loads(text, 0, NULL);
        if (!json_is_object(o)) { json_decref(o); continue; }
        for (int k = 0; k < sc->n; k++) row[k] = to_value(json_object_get(o, sc->names[k]), sc->types[k]);
        json_decref(o);
        batch_push_row(b, row);
        if (b->n == BATCH_ROWS) { table_add_batch(t, b); b = batch_new(sc->n, 64); }
    }
    free(row);
    table_add_batch(t, b);
    freeReplyObject(r);
    return 0;
}
