/* replay.c: record and replay of model answers (replay.h). */
#include <stdlib.h>
#include <string.h>
#include <stdio.h>
#include <errno.h>
#include <jansson.h>
#include "replay.h"
#include "state.h"

struct Tape {
    TapeMode mode;
    char *path;
    json_t *answers;             /* request key -> the line's object (record: kept; replay: read) */
    char *refused;               /* the first request refused since the statement began, or NULL */
};

/* A JSON line of answer a to key from model m. */
static json_t *answer_json(const char *key, const LmModel *m, const LmAnswer *a)
{
    json_t *o = json_object();
    json_object_set_new(o, "key", json_string(key));
    json_object_set_new(o, "model", json_string(m->alias ? m->alias : ""));
    json_object_set_new(o, "provider", json_string(m->provider_name ? m->provider_name : ""));
    json_object_set_new(o, "model_name", json_string(m->model_name ? m->model_name : ""));
    if (a->text) json_object_set_new(o, "answer", json_string(a->text));
    json_object_set_new(o, "tokens", json_pack("{s:I, s:I, s:I, s:I}", "input", (json_int_t)a->input_tokens,
                                               "cached_input", (json_int_t)a->cached_input_tokens, "output",
                                               (json_int_t)a->output_tokens, "reasoning", (json_int_t)a->reasoning_tokens));
    if (a->ntokens > 0) {
        json_t *lp = json_array();
        for (int i = 0; i < a->ntokens; i++)
            json_array_append_new(lp, json_pack("[s, f]", a->tokens[i].text ? a->tokens[i].text : "", a->tokens[i].logprob));
        json_object_set_new(o, "logprobs", lp);
    }
    if (a->vectors && a->nvec > 0 && a->dim > 0) {
        json_t *vs = json_array();
        for (int v = 0; v < a->nvec; v++) {
            json_t *one = json_array();
            for (int d = 0; d < a->dim; d++) json_array_append_new(one, json_real(a->vectors[(size_t)v * (size_t)a->dim + (size_t)d]));
            json_array_append_new(vs, one);
        }
        json_object_set_new(o, "vectors", vs);
    }
    return o;
}

/* Fill a from a line made by answer_json (as a cache hit). 0, or -1 when the line is malformed. */
static int answer_from_json(const json_t *o, LmAnswer *a)
{
    memset(a, 0, sizeof *a);
    a->outcome = LM_OK;
    const char *t = json_string_value(json_object_get(o, "answer"));
    if (t) {
        a->text = xstrdup(t);
        a->json = json_loads(t, JSON_DECODE_ANY, NULL);
        if (a->json && !json_is_object(a->json)) { json_decref(a->json); a->json = NULL; }
    }
    json_t *tk = json_object_get(o, "tokens");
    a->input_tokens = json_integer_value(json_object_get(tk, "input"));
    a->cached_input_tokens = json_integer_value(json_object_get(tk, "cached_input"));
    a->output_tokens = json_integer_value(json_object_get(tk, "output"));
    a->reasoning_tokens = json_integer_value(json_object_get(tk, "reasoning"));
    size_t i;
    json_t *x;
    json_array_foreach(json_object_get(o, "logprobs"), i, x) {
        json_t *tx = json_array_get(x, 0), *lp = json_array_get(x, 1);
        if (json_is_string(tx) && json_is_number(lp)) lm_answer_add_token(a, json_string_value(tx), json_number_value(lp));
    }
    json_t *vs = json_object_get(o, "vectors");
    if (json_is_array(vs) && json_array_size(vs) > 0) {
        int dim = (int)json_array_size(json_array_get(vs, 0)), n = (int)json_array_size(vs);
        if (dim <= 0) { lm_answer_clear(a); return -1; }
        a->vectors = xcalloc((size_t)n * (size_t)dim, sizeof(float));
        a->nvec = n;
        a->dim = dim;
        for (int v = 0; v < n; v++) {
            json_t *one = json_array_get(vs, (size_t)v);
            if ((int)json_array_size(one) != dim) { lm_answer_clear(a); return -1; }
            for (int d = 0; d < dim; d++) a->vectors[(size_t)v * (size_t)dim + (size_t)d] = (float)json_number_value(json_array_get(one, (size_t)d));
        }
    }
    a->cost_usd = a->retry_after_s = a->remaining_requests = a->remaining_tokens = -1;
    a->from_cache = 1;
    a->http_status = 200;
    return 0;
}

/* Read a replay file into t->answers. 0, or -1 with *msg. */
static int read_tape(struct Tape *t, char **msg)
{
    FILE *f = fopen(t->path, "r");
    if (!f) { *msg = xasprintf("cannot read the replay file %s: %s", t->path, strerror(errno)); return -1; }
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    int lineno = 0, rc = 0;
    while ((len = getline(&line, &cap, f)) >= 0) {
        lineno++;
        if (len <= 1) continue;
        json_error_t je;
        json_t *o = json_loads(line, 0, &je);
        const char *key = json_string_value(json_object_get(o, "key"));
        if (!json_is_object(o) || !key) {
            *msg = xasprintf("%s:%d: not an answer of a --record file (%s)", t->path, lineno, o ? "no \"key\"" : je.text);
            json_decref(o);
            rc = -1;
            break;
        }
        json_object_set_new(t->answers, key, o);
    }
    free(line);
    fclose(f);
    return rc;
}

int tape_open(Runtime *rt, TapeMode mode, const char *path, char **msg)
{
    *msg = NULL;
    if (rt->tape) { *msg = xasprintf("--record, --replay and --offline go one at a time"); return -1; }
    struct Tape *t = xcalloc(1, sizeof *t);
    t->mode = mode;
    t->path = path ? xstrdup(path) : NULL;
    t->answers = json_object();
    if (mode == TAPE_REPLAY && read_tape(t, msg)) {
        json_decref(t->answers);
        free(t->path);
        free(t);
        return -1;
    }
    rt->tape = t;
    if (mode != TAPE_RECORD) {
        rt->cache = 1;           /* answers are looked up (in the file, or the cache) */
        rt->validate_keys = 0;   /* nothing is sent: no key is needed */
    }
    return 0;
}

/* Compare two keys for qsort. */
static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

int tape_close(Runtime *rt, char **msg)
{
    *msg = NULL;
    struct Tape *t = rt->tape;
    if (!t) return 0;
    rt->tape = NULL;
    int rc = 0;
    if (t->mode == TAPE_RECORD) {
        /* sorted by key: the same run writes the same file */
        size_t n = json_object_size(t->answers), k = 0;
        const char **keys = xcalloc(n + 1, sizeof *keys);
        const char *key;
        json_t *v;
        json_object_foreach(t->answers, key, v) keys[k++] = key;
        qsort(keys, n, sizeof *keys, cmp_str);
        FILE *f = fopen(t->path, "w");
        if (!f) rc = -1;
        for (size_t i = 0; f && i < n; i++) {
            char *line = json_dumps(json_object_get(t->answers, keys[i]), JSON_COMPACT | JSON_SORT_KEYS | JSON_ENSURE_ASCII);
            if (line) { fputs(line, f); fputc('\n', f); }
            free(line);
        }
        if (f && fclose(f) != 0) rc = -1;
        if (rc) *msg = xasprintf("cannot write the record file %s: %s", t->path, strerror(errno));
        free(keys);
    }
    json_decref(t->answers);
    free(t->refused);
    free(t->path);
    free(t);
    return rc;
}

int tape_get(Runtime *rt, const char *key, const LmModel *m, LmAnswer *a)
{
    struct Tape *t = rt->tape;
    if (t && t->mode == TAPE_REPLAY) {
        json_t *o = json_object_get(t->answers, key);
        return o && answer_from_json(o, a) == 0;
    }
    int hit = state_cache_get(rt->state, key, a);
    if (hit && t && t->mode == TAPE_RECORD) json_object_set_new(t->answers, key, answer_json(key, m, a));
    return hit;
}

void tape_put(Runtime *rt, const char *key, const LmModel *m, const LmAnswer *a)
{
    struct Tape *t = rt->tape;
    if (t && t->mode == TAPE_REPLAY) return;   /* the file is the only source: the cache is not written */
    state_cache_put(rt->state, key, m, a);
    if (t && t->mode == TAPE_RECORD && a->outcome == LM_OK) json_object_set_new(t->answers, key, answer_json(key, m, a));
}

int tape_no_send(const Runtime *rt)
{
    return rt->tape && rt->tape->mode != TAPE_RECORD;
}

/* Where the answers come from, for messages. */
static char *source_text(const struct Tape *t)
{
    return t->mode == TAPE_REPLAY ? xasprintf("the replay file %s", t->path)
                                  : xasprintf("the response cache (--offline)");
}

/* The statement's first line, at most 80 bytes, for messages (a new string). */
static char *short_statement(const char *s)
{
    if (!s) s = "";
    while (*s == ' ' || *s == '\n' || *s == '\t') s++;
    size_t n = strcspn(s, "\n");
    if (n > 80) n = 80;
    return xasprintf("%.*s%s", (int)n, s, s[n] ? " ..." : "");
}

int tape_miss(Runtime *rt, const char *statement, const LmModel *m, int64_t row, const char *key, fql_error *err)
{
    char *src = source_text(rt->tape), *st = short_statement(statement);
    char rowtxt[48] = "";
    if (row >= 0) snprintf(rowtxt, sizeof rowtxt, "row %lld, ", (long long)row);
    err_set(err, FQL_ERR_RUNTIME, "statement `%s`: %smodel '%s' (%s \"%s\"): no recorded answer in %s for this request "
            "(key %.12s): the prompt, model or options changed since it was recorded; record again with --record FILE",
            st, rowtxt, m->alias, m->provider_name, m->model_name ? m->model_name : "", src, key ? key : "?");
    free(src);
    free(st);
    return -1;
}

int tape_refuse(Runtime *rt, LmModel *m, LmRequest *req, SchedDone done, void *ud)
{
    if (!tape_no_send(rt)) return 0;
    struct Tape *t = rt->tape;
    char *src = source_text(t);
    if (!t->refused && !m->nfallback)   /* an alias with fallbacks hands the row on: a fallback's answer may be recorded */
        t->refused = xasprintf("model '%s' (%s \"%s\"): a request with no recorded answer in %s: the prompt, model or options "
                               "changed since it was recorded; record again with --record FILE",
                               m->alias, m->provider_name, m->model_name ? m->model_name : "", src);
    LmAnswer a;
    memset(&a, 0, sizeof a);
    a.outcome = LM_ROW_ERROR;
    a.error_kind = "not_recorded";
    a.error_message = xasprintf("no recorded answer in %s (nothing is sent)", src);
    a.cost_usd = a.retry_after_s = a.remaining_requests = a.remaining_tokens = -1;
    free(src);
    done(ud, req, &a);
    free(a.error_message);
    lm_request_free(req);
    return 1;
}

int tape_failed(Runtime *rt, const char *statement, fql_error *err)
{
    struct Tape *t = rt->tape;
    if (!t || !t->refused) return 0;
    char *st = short_statement(statement);
    err_set(err, FQL_ERR_RUNTIME, "statement `%s`: %s", st, t->refused);
    free(st);
    free(t->refused);
    t->refused = NULL;
    return -1;
}
