/* state.c: the SQLite state database (see state.h). */
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <time.h>
#include <math.h>
#include <unistd.h>
#include <sys/stat.h>
#include <math.h>
#include <sqlite3.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include "state.h"

/* A claim lasts this long unless its owner renews it (state_claims_tick renews ours every third of
 * it); a claim whose lease ran out is taken over by the next process that wants the request. */
#define CLAIM_LEASE_S 60.0

struct State {
    sqlite3 *db;
    sqlite3_stmt *get, *put, *call, *error, *metric, *bfind;
    sqlite3_stmt *cl_ins, *cl_get, *cl_take, *cl_del, *cl_renew;   /* claims */
    int in_tx, pending;
    double last_commit, tx_started, last_renew;
    int shared;                  /* a file others may open too (not :memory:): claims are kept */
    char owner[160];             /* this process's claims: host:pid:random */
    char host[128];
    long pid;
    int64_t first_qid;           /* the first query id this process made (0: none yet) */
    StateRemote remote;          /* the shared cache behind the local one (remote.get NULL: none) */
};

static const char *const schema_sql =
    "pragma journal_mode = wal;"
    "pragma synchronous = normal;"
    "create table if not exists responses ("
    "  key text primary key, provider text, model text, text text, vectors blob, dim integer,"
    "  input_tokens integer, cached_input_tokens integer, output_tokens integer, reasoning_tokens integer,"
    "  cost_usd real, upstream text, created_at real);"
    "create table if not exists lm_calls ("
    "  query_id integer, call_id integer primary key autoincrement, started_at real, model text, provider text,"
    "  model_name text, operator text, status text, attempt integer, cached integer, input_tokens integer,"
    "  cached_input_tokens integer, output_tokens integer, reasoning_tokens integer, cost_usd real, latency_ms real,"
    "  queue_ms real, provider_cost_usd real);"
    "create table if not exists lm_errors (query_id integer, row integer, model text, kind text, message text);"
    "create table if not exists query_metrics ("
    "  query_id integer, statement text, started_at real, model text, provider text, model_name text, operator text,"
    "  rows integer, requests integer, cache_hits integer, retries integer, rate_limited integer, failures integer,"
    "  input_tokens integer, cached_input_tokens integer, output_tokens integer, reasoning_tokens integer,"
    "  cost_usd real, latency_ms real, latency_p95_ms real, execution_time_ms real, queue_ms real, est_recall real,"
    "  cascade_sample integer, cascade_thresholds text, strong_share real, est_precision real, precision_bound real,"
    "  recall_bound real, est_accuracy real, accuracy_bound real);"
    "create table if not exists queries (query_id integer primary key autoincrement, started_at real);"
    "create table if not exists batches ("
    "  batch_id text primary key, provider text, base_url text, model text, requests integer, created_at real);"
    "create table if not exists batch_requests (batch_id text, custom_id text);"
    "create index if not exists batch_requests_id on batch_requests (custom_id);"
    "create table if not exists claims (key text primary key, owner text, pid integer, host text, expires_at real);"
    "create table if not exists query_plans (query_id integer primary key, plan text);"
    /* budgets over time (budget.c): USD spent per scope (a model alias, or "*") and UTC hour */
    "create table if not exists budget_spend (scope text, hour integer, usd real, primary key (scope, hour));"
    /* saved tables (save ... as table NAME): the user's data, kept until `drop table NAME` */
    "create table if not exists saved_tables (name text primary key, columns integer, rows integer, schema text,"
    "  schema_json text, data blob, created_at real, statement text);";

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Columns added after the first release: a state database made before them gets them (null in
 * the rows it already has), so an existing state.db keeps working. */
static const char *const added_columns[][3] = {
    { "lm_calls", "queue_ms", "real" },
    { "lm_calls", "provider_cost_usd", "real" },
    { "query_metrics", "queue_ms", "real" },
    { "query_metrics", "est_recall", "real" },
    { "query_metrics", "cascade_sample", "integer" },
    { "query_metrics", "cascade_thresholds", "text" },
    { "query_metrics", "strong_share", "real" },
    { "query_metrics", "est_precision", "real" },
    { "query_metrics", "precision_bound", "real" },
    { "query_metrics", "recall_bound", "real" },
    { "query_metrics", "est_accuracy", "real" },
    { "query_metrics", "accuracy_bound", "real" },
    { "responses", "tokens", "text" },
    { "lm_calls", "statement", "text" },      /* the statement and row a call served (issue 19) */
    { "lm_calls", "row", "integer" },
    { "lm_calls", "request_key", "text" },
    { "lm_calls", "sent_at", "real" },
    { "query_metrics", "rpm", "real" },       /* the model's limits while it ran, for the report's timeline */
    { "query_metrics", "tpm", "real" },
    { "lm_calls", "cache_write_tokens", "integer" },   /* Anthropic prompt caching (issue 18) */
    { "query_metrics", "cache_write_tokens", "integer" },
};

/* Add the columns of added_columns that db lacks. 0, or -1 with *msg (sqlite3_free it). */
static int migrate(sqlite3 *db, char **msg)
{
    for (size_t i = 0; i < sizeof added_columns / sizeof added_columns[0]; i++) {
        /* unquoted: SQLite reads an unknown "quoted" name as a string literal, which would always prepare */
        char *probe = sqlite3_mprintf("select %s from %s limit 0", added_columns[i][1], added_columns[i][0]);
        sqlite3_stmt *q = NULL;
        int have = sqlite3_prepare_v2(db, probe, -1, &q, NULL) == SQLITE_OK;
        sqlite3_finalize(q);
        sqlite3_free(probe);
        if (have) continue;
        char *alter = sqlite3_mprintf("alter table \"%w\" add column \"%w\" %s", added_columns[i][0], added_columns[i][1],
                                      added_columns[i][2]);
        int rc = sqlite3_exec(db, alter, NULL, NULL, msg);
        sqlite3_free(alter);
        if (rc != SQLITE_OK) return -1;
    }
    return 0;
}

/* mkdir -p of the directory part of path. Directories made here are private (0700): the database
 * holds prompts and answers. Existing ones keep their mode. */
static void make_parent(const char *path)
{
    char *p = xstrdup(path);
    for (char *s = p + 1; *s; s++) {
        if (*s != '/') continue;
        *s = 0;
        mkdir(p, 0700);
        *s = '/';
    }
    free(p);
}

/* Create the database file readable by its owner only (0600) if it does not exist yet: SQLite
 * would make it 0644, and it gives its -wal, -shm and -journal files the database file's mode. An
 * existing file keeps its mode (never widened). */
static void create_private(const char *path)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd >= 0) close(fd);
}

State *state_open(const char *path, fql_error *err)
{
    State *st = xcalloc(1, sizeof *st);
    st->shared = strcmp(path, ":memory:") != 0;
    if (st->shared) {
        make_parent(path);
        create_private(path);
    }
    if (sqlite3_open_v2(path, &st->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
        err_set(err, FQL_ERR_IO, "cannot open the state database %s: %s (use --db PATH or --db :memory:)", path,
                st->db ? sqlite3_errmsg(st->db) : "out of memory");
        state_close(st);
        return NULL;
    }
    sqlite3_busy_timeout(st->db, 5000);
    char *msg = NULL;
    if (sqlite3_exec(st->db, schema_sql, NULL, NULL, &msg) != SQLITE_OK || migrate(st->db, &msg)) {
        err_set(err, FQL_ERR_IO, "the state database %s is not usable: %s", path, msg ? msg : "?");
        sqlite3_free(msg);
        state_close(st);
        return NULL;
    }
    const char *sqls[] = {
        "select text, vectors, dim, input_tokens, cached_input_tokens, output_tokens, reasoning_tokens, cost_usd, upstream, tokens"
        " from responses where key = ?",
        "insert or replace into responses (key, provider, model, text, vectors, dim, input_tokens, cached_input_tokens,"
        " output_tokens, reasoning_tokens, cost_usd, upstream, created_at, tokens) values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        "insert into lm_calls (query_id, started_at, model, provider, model_name, operator, status, attempt, cached,"
        " input_tokens, cached_input_tokens, output_tokens, reasoning_tokens, cost_usd, latency_ms, queue_ms, provider_cost_usd,"
        " statement, row, request_key, sent_at, cache_write_tokens) values (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
        "insert into lm_errors values (?, ?, ?, ?, ?)",
        "insert into query_metrics (query_id, statement, started_at, model, provider, model_name, operator, rows, requests,"
        " cache_hits, retries, rate_limited, failures, input_tokens, cached_input_tokens, output_tokens, reasoning_tokens,"
        " cost_usd, latency_ms, latency_p95_ms, execution_time_ms, queue_ms, est_recall, cascade_sample, cascade_thresholds, strong_share,"
        " est_precision, precision_bound, recall_bound, est_accuracy, accuracy_bound, rpm, tpm, cache_write_tokens)"
        " values (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
        "select b.batch_id from batch_requests r join batches b on b.batch_id = r.batch_id"
        " where r.custom_id = ? and b.provider = ? and b.base_url = ? and b.model = ? limit 1",
        "insert or ignore into claims values (?1, ?2, ?3, ?4, ?5)",
        "select owner, pid, host, expires_at from claims where key = ?1",
        "update claims set owner = ?2, pid = ?3, host = ?4, expires_at = ?5 where key = ?1 and owner = ?6",
        "delete from claims where key = ?1 and owner = ?2",
        "update claims set expires_at = ?2 where owner = ?1",
    };
    sqlite3_stmt **stmts[] = { &st->get, &st->put, &st->call, &st->error, &st->metric, &st->bfind,
                               &st->cl_ins, &st->cl_get, &st->cl_take, &st->cl_del, &st->cl_renew };
    for (int i = 0; i < 11; i++)
        if (sqlite3_prepare_v2(st->db, sqls[i], -1, stmts[i], NULL) != SQLITE_OK) {
            err_set(err, FQL_ERR_IO, "the state database %s has an unexpected layout: %s (move it away to start afresh)", path, sqlite3_errmsg(st->db));
            state_close(st);
            return NULL;
        }
    unsigned char rnd[8] = { 0 };
    RAND_bytes(rnd, sizeof rnd);
    if (gethostname(st->host, sizeof st->host - 1) != 0) strcpy(st->host, "?");
    st->pid = (long)getpid();
    snprintf(st->owner, sizeof st->owner, "%s:%ld:%02x%02x%02x%02x%02x%02x%02x%02x", st->host, st->pid,
             rnd[0], rnd[1], rnd[2], rnd[3], rnd[4], rnd[5], rnd[6], rnd[7]);
    return st;
}

void state_close(State *st)
{
    if (!st) return;
    state_commit(st);
    if (st->db && st->shared && st->cl_del) {   /* our claims: released (answered or abandoned) */
        sqlite3_stmt *d = NULL;
        if (sqlite3_prepare_v2(st->db, "delete from claims where owner = ?1", -1, &d, NULL) == SQLITE_OK) {
            sqlite3_bind_text(d, 1, st->owner, -1, SQLITE_STATIC);
            sqlite3_step(d);
        }
        sqlite3_finalize(d);
    }
    sqlite3_stmt *cl[] = { st->cl_ins, st->cl_get, st->cl_take, st->cl_del, st->cl_renew };
    for (int i = 0; i < 5; i++) sqlite3_finalize(cl[i]);
    sqlite3_finalize(st->get);
    sqlite3_finalize(st->put);
    sqlite3_finalize(st->call);
    sqlite3_finalize(st->error);
    sqlite3_finalize(st->metric);
    sqlite3_finalize(st->bfind);
    sqlite3_close(st->db);
    free(st);
}

void state_hash(char out[65], const char *const *parts, int nparts)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    EVP_DigestInit_ex(c, EVP_sha256(), NULL);
    for (int i = 0; i < nparts; i++) {
        const char *p = parts[i] ? parts[i] : "";
        EVP_DigestUpdate(c, p, strlen(p) + 1);
    }
    EVP_DigestFinal_ex(c, md, &n);
    EVP_MD_CTX_free(c);
    for (unsigned i = 0; i < 32; i++) sprintf(out + 2 * i, "%02x", md[i]);
    out[64] = 0;
}

static void begin(State *st)
{
    if (!st->in_tx) {
        sqlite3_exec(st->db, "begin", NULL, NULL, NULL);
        st->in_tx = 1;
        st->tx_started = now_s();
    }
}

void state_commit(State *st)
{
    if (st && st->in_tx) {
        sqlite3_exec(st->db, "commit", NULL, NULL, NULL);
        st->in_tx = 0;
        st->pending = 0;
    }
}

/* Commit often enough that a killed run loses little: every 32 writes or every half second. */
static void maybe_commit(State *st)
{
    double t = now_s();
    if (++st->pending >= 32 || t - st->last_commit > 0.5) {
        state_commit(st);
        st->last_commit = t;
    }
}

void state_set_remote(State *st, const StateRemote *r)
{
    if (!st) return;
    if (r) st->remote = *r;
    else memset(&st->remote, 0, sizeof st->remote);
}

char *state_tokens_json(const LmAnswer *a)
{
    if (a->ntokens <= 0) return NULL;
    json_t *arr = json_array();
    for (int i = 0; i < a->ntokens; i++)
        json_array_append_new(arr, json_pack("[s, f]", a->tokens[i].text ? a->tokens[i].text : "", a->tokens[i].logprob));
    char *s = json_dumps(arr, JSON_COMPACT);
    json_decref(arr);
    return s;
}

void state_tokens_load(LmAnswer *a, const char *s)
{
    json_t *arr = json_loads(s, 0, NULL);
    size_t i;
    json_t *t;
    json_array_foreach(arr, i, t) {
        json_t *tx = json_array_get(t, 0), *lp = json_array_get(t, 1);
        if (json_is_string(tx) && json_is_number(lp)) lm_answer_add_token(a, json_string_value(tx), json_number_value(lp));
    }
    json_decref(arr);
}

static void local_put(State *st, const char *key, const LmModel *m, const LmAnswer *a);

/* The local row of key into a: 1 on a hit. */
static int local_get(State *st, const char *key, LmAnswer *a)
{
    sqlite3_reset(st->get);
    sqlite3_bind_text(st->get, 1, key, -1, SQLITE_STATIC);
    int hit = 0;
    if (sqlite3_step(st->get) == SQLITE_ROW) {
        memset(a, 0, sizeof *a);
        a->outcome = LM_OK;
        const unsigned char *t = sqlite3_column_text(st->get, 0);
        if (t) {
            a->text = xstrdup((const char *)t);
            json_error_t je;
            a->json = json_loads(a->text, JSON_DECODE_ANY, &je);   /* structured answers; NULL for text */
            if (a->json && !json_is_object(a->json)) { json_decref(a->json); a->json = NULL; }
        }
        int dim = sqlite3_column_int(st->get, 2);
        int bytes = sqlite3_column_bytes(st->get, 1);
        if (dim > 0 && bytes > 0) {
            a->dim = dim;
            a->nvec = bytes / (int)sizeof(float) / dim;
            a->vectors = xmalloc((size_t)bytes);
            memcpy(a->vectors, sqlite3_column_blob(st->get, 1), (size_t)bytes);
        }
        a->input_tokens = sqlite3_column_int64(st->get, 3);
        a->cached_input_tokens = sqlite3_column_int64(st->get, 4);
        a->output_tokens = sqlite3_column_int64(st->get, 5);
        a->reasoning_tokens = sqlite3_column_int64(st->get, 6);
        a->cost_usd = sqlite3_column_type(st->get, 7) == SQLITE_NULL ? -1 : sqlite3_column_double(st->get, 7);
        const unsigned char *u = sqlite3_column_text(st->get, 8);
        if (u) a->upstream = xstrdup((const char *)u);
        const unsigned char *tk = sqlite3_column_text(st->get, 9);
        if (tk) state_tokens_load(a, (const char *)tk);
        a->retry_after_s = a->remaining_requests = a->remaining_tokens = -1;
        a->from_cache = 1;
        a->http_status = 200;
        hit = 1;
    }
    sqlite3_reset(st->get);
    return hit;
}

/* A local miss asks the shared cache; its answer is kept locally too (provider and model from
 * its request's model m are not known here: the row names none). */
int state_cache_get(State *st, const char *key, LmAnswer *a)
{
    if (!st) return 0;
    if (local_get(st, key, a)) return 1;
    if (!st->remote.get || !st->remote.get(st->remote.ud, key, a)) return 0;
    LmModel none = { 0 };
    local_put(st, key, &none, a);
    return 1;
}

void state_cache_put(State *st, const char *key, const LmModel *m, const LmAnswer *a)
{
    if (!st || a->outcome != LM_OK) return;
    local_put(st, key, m, a);
    if (st->remote.put) st->remote.put(st->remote.ud, key, m, a);
}

static void local_put(State *st, const char *key, const LmModel *m, const LmAnswer *a)
{
    begin(st);
    sqlite3_stmt *s = st->put;
    sqlite3_reset(s);
    sqlite3_bind_text(s, 1, key, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, m->provider_name, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 3, m->model_name, -1, SQLITE_STATIC);
    if (a->text) sqlite3_bind_text(s, 4, a->text, -1, SQLITE_STATIC); else sqlite3_bind_null(s, 4);
    if (a->vectors && a->nvec > 0) sqlite3_bind_blob(s, 5, a->vectors, (int)((size_t)a->nvec * (size_t)a->dim * sizeof(float)), SQLITE_STATIC);
    else sqlite3_bind_null(s, 5);
    sqlite3_bind_int(s, 6, a->dim);
    sqlite3_bind_int64(s, 7, a->input_tokens);
    sqlite3_bind_int64(s, 8, a->cached_input_tokens);
    sqlite3_bind_int64(s, 9, a->output_tokens);
    sqlite3_bind_int64(s, 10, a->reasoning_tokens);
    if (a->cost_usd >= 0) sqlite3_bind_double(s, 11, a->cost_usd); else sqlite3_bind_null(s, 11);
    if (a->upstream) sqlite3_bind_text(s, 12, a->upstream, -1, SQLITE_STATIC); else sqlite3_bind_null(s, 12);
    sqlite3_bind_double(s, 13, now_s());
    char *tk = state_tokens_json(a);
    if (tk) sqlite3_bind_text(s, 14, tk, -1, SQLITE_TRANSIENT); else sqlite3_bind_null(s, 14);
    free(tk);
    sqlite3_step(s);
    sqlite3_reset(s);
    /* an answer is paid for: make it durable now (WAL with synchronous=normal: no fsync per commit) */
    state_commit(st);
}

int64_t state_next_query_id(State *st)
{
    if (!st) return 0;
    begin(st);
    sqlite3_exec(st->db, "insert into queries (started_at) values (julianday('now'))", NULL, NULL, NULL);
    int64_t id = sqlite3_last_insert_rowid(st->db);
    state_commit(st);
    if (!st->first_qid) st->first_qid = id;
    return id;
}

static const char *outcome_name(LmOutcome o)
{
    switch (o) {
    case LM_OK: return "ok";
    case LM_RETRY: return "failed";
    case LM_RATE_LIMITED: return "rate_limited";
    case LM_ROW_ERROR: return "row_error";
    case LM_FATAL: return "fatal";
    }
    return "?";
}

/* Bind d to parameter i, or null when d < 0 (unknown). */
static void bind_opt(sqlite3_stmt *s, int i, double d)
{
    if (d >= 0) sqlite3_bind_double(s, i, d); else sqlite3_bind_null(s, i);
}

void state_add_call(State *st, int64_t query_id, const LmModel *m, const char *op, const LmAnswer *a, int attempt)
{
    state_add_call_at(st, query_id, m, op, a, attempt, NULL);
}

void state_add_call_at(State *st, int64_t query_id, const LmModel *m, const char *op, const LmAnswer *a, int attempt,
                       const CallSite *at)
{
    if (!st) return;
    begin(st);
    sqlite3_stmt *s = st->call;
    sqlite3_reset(s);
    double now = now_s();
    sqlite3_bind_int64(s, 1, query_id);
    sqlite3_bind_double(s, 2, now);
    sqlite3_bind_text(s, 3, m->alias, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 4, m->provider_name, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 5, m->model_name, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 6, op, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 7, outcome_name(a->outcome), -1, SQLITE_STATIC);
    sqlite3_bind_int(s, 8, attempt);
    sqlite3_bind_int(s, 9, a->from_cache);
    sqlite3_bind_int64(s, 10, a->input_tokens);
    sqlite3_bind_int64(s, 11, a->cached_input_tokens);
    sqlite3_bind_int64(s, 12, a->output_tokens);
    sqlite3_bind_int64(s, 13, a->reasoning_tokens);
    /* the catalog price (at the batch discount), as query_metrics counts it; a fallback's cached
     * answer (route.c) was paid for when it was first received */
    bind_opt(s, 14, a->from_cache ? 0 : lm_answer_cost(m, a));
    bind_opt(s, 15, a->timed ? a->latency_ms : -1);
    bind_opt(s, 16, a->timed ? a->queue_ms : -1);
    /* what the provider reported (OpenRouter); batch.c's cost_usd of a batch answer is FQL's price */
    bind_opt(s, 17, m->batch ? -1 : a->cost_usd);
    if (at && at->statement) sqlite3_bind_text(s, 18, at->statement, -1, SQLITE_STATIC); else sqlite3_bind_null(s, 18);
    if (at && at->row >= 0) sqlite3_bind_int64(s, 19, at->row); else sqlite3_bind_null(s, 19);
    if (at && at->key) sqlite3_bind_text(s, 20, at->key, -1, SQLITE_STATIC); else sqlite3_bind_null(s, 20);
    /* when the final attempt left: the answer's time less the provider's latency */
    bind_opt(s, 21, a->timed && a->latency_ms >= 0 ? now - a->latency_ms / 1e3 : -1);
    sqlite3_bind_int64(s, 22, a->cache_write_tokens);
    sqlite3_step(s);
    sqlite3_reset(s);
    maybe_commit(st);
}

void state_add_error(State *st, int64_t query_id, int64_t row, const char *alias, const char *kind, const char *message)
{
    if (!st) return;
    begin(st);
    sqlite3_stmt *s = st->error;
    sqlite3_reset(s);
    sqlite3_bind_int64(s, 1, query_id);
    sqlite3_bind_int64(s, 2, row);
    sqlite3_bind_text(s, 3, alias, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 4, kind ? kind : "error", -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 5, message ? message : "", -1, SQLITE_STATIC);
    sqlite3_step(s);
    sqlite3_reset(s);
    maybe_commit(st);
}

void state_add_metric(State *st, const QueryMetric *q)
{
    if (!st) return;
    begin(st);
    sqlite3_stmt *s = st->metric;
    sqlite3_reset(s);
    sqlite3_bind_int64(s, 1, q->query_id);
    sqlite3_bind_text(s, 2, q->statement ? q->statement : "", -1, SQLITE_STATIC);
    sqlite3_bind_double(s, 3, q->started_at);
    sqlite3_bind_text(s, 4, q->model->alias, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 5, q->model->provider_name, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 6, q->model->model_name, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 7, q->op, -1, SQLITE_STATIC);
    int64_t ints[] = { q->rows, q->requests, q->cache_hits, q->retries, q->rate_limited, q->failures,
                       q->input_tokens, q->cached_input_tokens, q->output_tokens, q->reasoning_tokens };
    for (int i = 0; i < 10; i++) sqlite3_bind_int64(s, 8 + i, ints[i]);
    bind_opt(s, 18, q->cost_usd);
    bind_opt(s, 19, q->latency_ms);
    bind_opt(s, 20, q->latency_p95_ms);
    sqlite3_bind_double(s, 21, q->execution_time_ms);
    bind_opt(s, 22, q->queue_ms);
    bind_opt(s, 23, q->est_recall);
    const CascadeStats *c = q->cascade;
    if (c) {
        sqlite3_bind_int64(s, 24, c->sample);
        sqlite3_bind_text(s, 25, c->thresholds ? c->thresholds : "", -1, SQLITE_STATIC);
        sqlite3_bind_double(s, 26, c->strong_share);
        double v[] = { c->est_precision, c->precision_lb, c->recall_lb, c->est_accuracy, c->accuracy_lb };
        for (int i = 0; i < 5; i++) if (isnan(v[i])) sqlite3_bind_null(s, 27 + i); else sqlite3_bind_double(s, 27 + i, v[i]);
    } else
        for (int i = 24; i <= 31; i++) sqlite3_bind_null(s, i);
    bind_opt(s, 32, q->model->rpm > 0 ? q->model->rpm : -1);
    bind_opt(s, 33, q->model->tpm > 0 ? q->model->tpm : -1);
    sqlite3_bind_int64(s, 34, q->cache_write_tokens);
    sqlite3_step(s);
    sqlite3_reset(s);
    state_commit(st);
}

Table *state_system_table(State *st, const char *name, Schema *schema)
{
    const char *tbl = !strcmp(name, "system.query_metrics") ? "query_metrics"
                    : !strcmp(name, "system.lm_calls") ? "lm_calls"
                    : !strcmp(name, "system.lm_errors") ? "lm_errors"
                    : !strcmp(name, "system.tables") ? "saved_tables" : NULL;
    if (!tbl) { schema_free(schema); return NULL; }
    Table *t = table_new(schema);
    if (!st) return t;
    state_commit(st);
    Buf sql;
    buf_init(&sql);
    buf_puts(&sql, "select ");
    for (int i = 0; i < schema->n; i++) buf_printf(&sql, "%s\"%s\"", i ? ", " : "", schema->names[i]);
    buf_printf(&sql, " from %s order by %s", tbl, strcmp(tbl, "saved_tables") ? "rowid" : "name");
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(st->db, sql.data, -1, &s, NULL) != SQLITE_OK) { buf_free(&sql); return t; }
    buf_free(&sql);
    Batch *b = batch_new(schema->n, 64);
    Value *row = xcalloc((size_t)schema->n + 1, sizeof *row);
    while (sqlite3_step(s) == SQLITE_ROW) {
        for (int i = 0; i < schema->n; i++) {
            Value v = v_null();
            if (sqlite3_column_type(s, i) != SQLITE_NULL) {
                switch (schema->types[i]->kind) {
                case TY_INT: v = v_int(sqlite3_column_int64(s, i)); break;
                case TY_FLOAT: v = v_float(sqlite3_column_double(s, i)); break;
                case TY_BOOL: v = v_bool(sqlite3_column_int(s, i)); break;
                case TY_TIMESTAMP: v = v_timestamp((int64_t)(sqlite3_column_double(s, i) * 1e6)); break;
                default: v = v_cstring((const char *)sqlite3_column_text(s, i)); break;
                }
            }
            row[i] = v;
        }
        batch_push_row(b, row);
        if (b->n == BATCH_ROWS) { table_add_batch(t, b); b = batch_new(schema->n, 64); }
    }
    free(row);
    table_add_batch(t, b);
    sqlite3_finalize(s);
    return t;
}

/* ---- stored results of cache points: rows as JSON arrays, one line each ---- */

static int results_table(State *st)
{
    return sqlite3_exec(st->db, "create table if not exists stored_results (key text primary key, rows integer, data blob, created_at real)",
                        NULL, NULL, NULL) == SQLITE_OK;
}

int state_result_info(State *st, const char *key, int64_t *rows, double *created_at)
{
    if (!st || !results_table(st)) return 0;
    sqlite3_stmt *q = NULL;
    int hit = 0;
    if (sqlite3_prepare_v2(st->db, "select rows, created_at from stored_results where key = ?", -1, &q, NULL) == SQLITE_OK) {
        sqlite3_bind_text(q, 1, key, -1, SQLITE_STATIC);
        if (sqlite3_step(q) == SQLITE_ROW) {
            hit = 1;
            if (rows) *rows = sqlite3_column_int64(q, 0);
            if (created_at) *created_at = sqlite3_column_double(q, 1);
        }
    }
    sqlite3_finalize(q);
    return hit;
}

Table *state_result_get(State *st, const char *key, const Schema *schema)
{
    if (!st || !results_table(st)) return NULL;
    sqlite3_stmt *q = NULL;
    Table *t = NULL;
    if (sqlite3_prepare_v2(st->db, "select data from stored_results where key = ?", -1, &q, NULL) != SQLITE_OK) return NULL;
    sqlite3_bind_text(q, 1, key, -1, SQLITE_STATIC);
    if (sqlite3_step(q) == SQLITE_ROW) {
        const char *d = (const char *)sqlite3_column_blob(q, 0);
        size_t len = (size_t)sqlite3_column_bytes(q, 0);
        t = table_new(schema_copy(schema));
        Batch *b = NULL;
        Value *row = xcalloc((size_t)schema->n + 1, sizeof *row);
        for (size_t at = 0; at < len && t;) {
            const char *nl = memchr(d + at, '\n', len - at);
            size_t end = nl ? (size_t)(nl - d) : len;
            json_error_t je;
            json_t *a = json_loadb(d + at, end - at, JSON_DECODE_ANY, &je);
            at = end + 1;
            if (!json_is_array(a) || (int)json_array_size(a) != schema->n) { json_decref(a); table_free(t); t = NULL; break; }
            for (int c = 0; c < schema->n; c++) {
                const char *why = NULL;
                row[c] = value_from_jansson(json_array_get(a, (size_t)c), schema->types[c], &why);
            }
            json_decref(a);
            if (!b || b->n >= BATCH_ROWS) { if (b) table_add_batch(t, b); b = batch_new(schema->n, BATCH_ROWS); }
            batch_push_row(b, row);   /* takes the values */
        }
        if (t && b) table_add_batch(t, b); else batch_free(b);
        free(row);
    }
    sqlite3_finalize(q);
    return t;
}

void state_result_put(State *st, const char *key, const Table *t)
{
    if (!st || !results_table(st)) return;
    Buf d;
    buf_init(&d);
    for (int i = 0; i < t->nbatches; i++) {
        const Batch *b = t->batches[i];
        for (size_t r = 0; b && r < b->n; r++) {
            buf_putc(&d, '[');
            for (int c = 0; c < b->ncols; c++) {
                if (c) buf_putc(&d, ',');
                value_to_json(&d, b->cols[c][r]);
            }
            buf_puts(&d, "]\n");
        }
    }
    sqlite3_stmt *q = NULL;
    if (sqlite3_prepare_v2(st->db, "insert or replace into stored_results values (?, ?, ?, ?)", -1, &q, NULL) == SQLITE_OK) {
        begin(st);
        sqlite3_bind_text(q, 1, key, -1, SQLITE_STATIC);
        sqlite3_bind_int64(q, 2, (sqlite3_int64)t->nrows);
        sqlite3_bind_blob(q, 3, d.data ? d.data : "", (int)d.len, SQLITE_STATIC);
        sqlite3_bind_double(q, 4, now_s());
        sqlite3_step(q);
        state_commit(st);
    }
    sqlite3_finalize(q);
    buf_free(&d);
}

/* ---- Batch API jobs ---- */

void state_batch_add(State *st, const char *batch_id, const LmModel *m, const char *const *ids, int n)
{
    if (!st) return;
    state_commit(st);
    begin(st);
    sqlite3_stmt *s = NULL;
    sqlite3_prepare_v2(st->db, "insert or replace into batches values (?, ?, ?, ?, ?, ?)", -1, &s, NULL);
    sqlite3_bind_text(s, 1, batch_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, m->provider_name, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 3, m->base_url, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 4, m->model_name, -1, SQLITE_STATIC);
    sqlite3_bind_int(s, 5, n);
    sqlite3_bind_double(s, 6, now_s());
    sqlite3_step(s);
    sqlite3_finalize(s);
    sqlite3_prepare_v2(st->db, "insert into batch_requests values (?, ?)", -1, &s, NULL);
    for (int i = 0; i < n; i++) {
        sqlite3_reset(s);
        sqlite3_bind_text(s, 1, batch_id, -1, SQLITE_STATIC);
        sqlite3_bind_text(s, 2, ids[i], -1, SQLITE_STATIC);
        sqlite3_step(s);
    }
    sqlite3_finalize(s);
    state_commit(st);   /* durable before the first poll: a killed run must find it */
}

char *state_batch_find(State *st, const LmModel *m, const char *id)
{
    if (!st) return NULL;
    sqlite3_stmt *s = st->bfind;
    sqlite3_reset(s);
    sqlite3_bind_text(s, 1, id, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, m->provider_name, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 3, m->base_url, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 4, m->model_name, -1, SQLITE_STATIC);
    char *r = NULL;
    if (sqlite3_step(s) == SQLITE_ROW) r = xstrdup((const char *)sqlite3_column_text(s, 0));
    sqlite3_reset(s);
    return r;
}

void state_batch_done(State *st, const char *batch_id)
{
    if (!st) return;
    begin(st);
    const char *sqls[] = { "delete from batch_requests where batch_id = ?", "delete from batches where batch_id = ?" };
    for (int i = 0; i < 2; i++) {
        sqlite3_stmt *s = NULL;
        sqlite3_prepare_v2(st->db, sqls[i], -1, &s, NULL);
        sqlite3_bind_text(s, 1, batch_id, -1, SQLITE_STATIC);
        sqlite3_step(s);
        sqlite3_finalize(s);
    }
    state_commit(st);
}

/* ---- claims: requests in flight, shared by the processes using one database ---- */

/* 1 if the process that holds a claim (not ours) is gone: same host and no such process, or our
 * own pid (an earlier process that had it). A claim of another host is trusted until its lease
 * runs out. */
static int owner_dead(const State *st, const char *host, long pid)
{
    if (!host || strcmp(host, st->host) || pid <= 0) return 0;
    if (pid == st->pid) return 1;
    return kill((pid_t)pid, 0) != 0 && errno == ESRCH;
}

/* Bind a claim of key by this process until expires: ?1 key, ?2 owner, ?3 pid, ?4 host, ?5 lease end. */
static void bind_claim(sqlite3_stmt *s, const State *st, const char *key, double expires)
{
    sqlite3_bind_text(s, 1, key, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, st->owner, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 3, st->pid);
    sqlite3_bind_text(s, 4, st->host, -1, SQLITE_STATIC);
    sqlite3_bind_double(s, 5, expires);
}

static int local_claim(State *st, const char *key);
static void local_release(State *st, const char *key);

/* See state.h: the local claim (processes sharing this database), then the shared one (processes
 * sharing the Redis); a request another process holds in either is not ours. */
int state_claim(State *st, const char *key)
{
    if (!st) return 1;
    if (!local_claim(st, key)) return 0;
    if (st->remote.claim && !st->remote.claim(st->remote.ud, key)) {
        local_release(st, key);
        return 0;
    }
    return 1;
}

void state_claim_release(State *st, const char *key)
{
    if (!st) return;
    local_release(st, key);
    if (st->remote.release) st->remote.release(st->remote.ud, key);
}

void state_claims_tick(State *st)
{
    if (!st) return;
    if (st->remote.tick) st->remote.tick(st->remote.ud);
    if (!st->shared) return;
    double now = now_s();
    /* an open transaction holds the write lock: another process claiming would wait on it */
    if (st->in_tx && now - st->tx_started > 0.2) state_commit(st);
    if (now - st->last_renew < CLAIM_LEASE_S / 3) return;
    st->last_renew = now;
    state_commit(st);
    sqlite3_reset(st->cl_renew);
    sqlite3_bind_text(st->cl_renew, 1, st->owner, -1, SQLITE_STATIC);
    sqlite3_bind_double(st->cl_renew, 2, now + CLAIM_LEASE_S);
    sqlite3_step(st->cl_renew);
    sqlite3_reset(st->cl_renew);
}

/* The claim in this database: one immediate transaction that looks for an answer, inserts the
 * claim, or reads the holder and takes the claim over if it is ours, late or dead. 1 if ours. */
static int local_claim(State *st, const char *key)
{
    if (!st->shared) return 1;
    state_commit(st);   /* our queued writes first: the claim is a transaction of its own */
    if (sqlite3_exec(st->db, "begin immediate", NULL, NULL, NULL) != SQLITE_OK) return 1;   /* busy: send, as before claims */
    double now = now_s();
    int mine = 0;
    /* answered since the caller looked in the cache (and released): not to be sent again */
    sqlite3_reset(st->get);
    sqlite3_bind_text(st->get, 1, key, -1, SQLITE_STATIC);
    int answered = sqlite3_step(st->get) == SQLITE_ROW;
    sqlite3_reset(st->get);
    if (answered) {
        sqlite3_exec(st->db, "commit", NULL, NULL, NULL);
        return 0;
    }
    sqlite3_reset(st->cl_ins);
    bind_claim(st->cl_ins, st, key, now + CLAIM_LEASE_S);
    if (sqlite3_step(st->cl_ins) == SQLITE_DONE && sqlite3_changes(st->db) == 1) mine = 1;
    sqlite3_reset(st->cl_ins);
    if (!mine) {
        sqlite3_reset(st->cl_get);
        sqlite3_bind_text(st->cl_get, 1, key, -1, SQLITE_STATIC);
        if (sqlite3_step(st->cl_get) == SQLITE_ROW) {
            const char *owner = (const char *)sqlite3_column_text(st->cl_get, 0);
            char *held = xstrdup(owner ? owner : "");
            long pid = (long)sqlite3_column_int64(st->cl_get, 1);
            const char *host = (const char *)sqlite3_column_text(st->cl_get, 2);
            double expires = sqlite3_column_double(st->cl_get, 3);
            int take = !strcmp(held, st->owner) || expires < now || owner_dead(st, host, pid);
            sqlite3_reset(st->cl_get);
            if (take) {   /* ours already, or its owner is gone or late: take it over */
                sqlite3_reset(st->cl_take);
                bind_claim(st->cl_take, st, key, now + CLAIM_LEASE_S);
                sqlite3_bind_text(st->cl_take, 6, held, -1, SQLITE_STATIC);
                mine = sqlite3_step(st->cl_take) == SQLITE_DONE && sqlite3_changes(st->db) == 1;
                sqlite3_reset(st->cl_take);
            }
            free(held);
        } else {
            mine = 1;   /* the insert failed otherwise (no row, and none can vanish in this transaction): send */
        }
        sqlite3_reset(st->cl_get);
    }
    sqlite3_exec(st->db, "commit", NULL, NULL, NULL);
    return mine;
}

/* Deletes our claim of key in this database (a no-op for another's). */
static void local_release(State *st, const char *key)
{
    if (!st->shared) return;
    state_commit(st);
    sqlite3_reset(st->cl_del);
    sqlite3_bind_text(st->cl_del, 1, key, -1, SQLITE_STATIC);
    sqlite3_bind_text(st->cl_del, 2, st->owner, -1, SQLITE_STATIC);
    sqlite3_step(st->cl_del);   /* autocommit: visible to the others at once */
    sqlite3_reset(st->cl_del);
}

/* ---- for the report (report.c) ---- */

void state_add_plan(State *st, int64_t query_id, const char *plan)
{
    if (!st || !query_id) return;
    sqlite3_stmt *q = NULL;
    if (sqlite3_prepare_v2(st->db, "insert or replace into query_plans values (?, ?)", -1, &q, NULL) == SQLITE_OK) {
        begin(st);
        sqlite3_bind_int64(q, 1, query_id);
        sqlite3_bind_text(q, 2, plan, -1, SQLITE_STATIC);
        sqlite3_step(q);
        state_commit(st);
    }
    sqlite3_finalize(q);
}

int64_t state_first_query_id(const State *st)
{
    return st ? st->first_qid : 0;
}

int state_each_row(State *st, const char *sql, int64_t a, int64_t b, StateRowFn fn, void *ud)
{
    if (!st) return -1;
    state_commit(st);
    sqlite3_stmt *q = NULL;
    if (sqlite3_prepare_v2(st->db, sql, -1, &q, NULL) != SQLITE_OK) return -1;
    if (sqlite3_bind_parameter_count(q) >= 1) sqlite3_bind_int64(q, 1, a);
    if (sqlite3_bind_parameter_count(q) >= 2) sqlite3_bind_int64(q, 2, b);
    int n = sqlite3_column_count(q);
    const char **txt = xcalloc((size_t)n + 1, sizeof *txt);
    double *num = xcalloc((size_t)n + 1, sizeof *num);
    int rows = 0;
    while (sqlite3_step(q) == SQLITE_ROW) {
        for (int i = 0; i < n; i++) {
            int null = sqlite3_column_type(q, i) == SQLITE_NULL;
            num[i] = null ? NAN : sqlite3_column_double(q, i);
            txt[i] = null ? NULL : (const char *)sqlite3_column_text(q, i);
        }
        fn(ud, n, txt, num);
        rows++;
    }
    free(txt);
    free(num);
    sqlite3_finalize(q);
    return rows;
}

/* ---- saved tables: `save PIPELINE as table NAME` ---- */

/* t as JSON: {"k": kind, "n": nullable, "name": declared name, "elem"/"fields"/"labels"/"dim"}. */
static json_t *type_to_j(const Type *t)
{
    static const char *const kinds[] = { [TY_NULL] = "null", [TY_BOOL] = "bool", [TY_INT] = "int", [TY_FLOAT] = "float",
        [TY_STRING] = "string", [TY_DATE] = "date", [TY_TIMESTAMP] = "timestamp", [TY_JSON] = "json", [TY_LIST] = "list",
        [TY_STRUCT] = "struct", [TY_ENUM] = "enum", [TY_VECTOR] = "vector", [TY_ANY] = "any" };
    json_t *j = json_object();
    json_object_set_new(j, "k", json_string(kinds[t->kind]));
    json_object_set_new(j, "n", json_integer(t->nullable));
    if (t->name) json_object_set_new(j, "name", json_string(t->name));
    if (t->kind == TY_LIST) json_object_set_new(j, "elem", type_to_j(t->elem));
    if (t->kind == TY_VECTOR) json_object_set_new(j, "dim", json_integer(t->dim));
    if (t->kind == TY_ENUM) {
        json_t *l = json_array();
        for (int i = 0; i < t->nlabels; i++) json_array_append_new(l, json_string(t->labels[i]));
        json_object_set_new(j, "labels", l);
    }
    if (t->kind == TY_STRUCT) {
        json_t *f = json_array();
        for (int i = 0; i < t->nfields; i++) {
            json_t *o = json_object();
            json_object_set_new(o, "name", json_string(t->fields[i].name));
            json_object_set_new(o, "type", type_to_j(t->fields[i].type));
            if (t->fields[i].desc) json_object_set_new(o, "desc", json_string(t->fields[i].desc));
            json_array_append_new(f, o);
        }
        json_object_set_new(j, "fields", f);
    }
    return j;
}

/* The Type of type_to_j's JSON j (a new reference), or NULL when j is not one. */
static Type *type_from_j(const json_t *j)
{
    const char *k = json_string_value(json_object_get(j, "k"));
    if (!k) return NULL;
    Type *t = NULL;
    if (!strcmp(k, "null")) t = type_null();
    else if (!strcmp(k, "bool")) t = type_bool();
    else if (!strcmp(k, "int")) t = type_int();
    else if (!strcmp(k, "float")) t = type_float();
    else if (!strcmp(k, "string")) t = type_string();
    else if (!strcmp(k, "date")) t = type_date();
    else if (!strcmp(k, "timestamp")) t = type_timestamp();
    else if (!strcmp(k, "json")) t = type_json();
    else if (!strcmp(k, "any")) t = type_any();
    else if (!strcmp(k, "vector")) t = type_vector((int)json_integer_value(json_object_get(j, "dim")));
    else if (!strcmp(k, "list")) {
        Type *e = type_from_j(json_object_get(j, "elem"));
        if (!e) return NULL;
        t = type_list(e);
    } else if (!strcmp(k, "enum")) {
        const json_t *l = json_object_get(j, "labels");
        int n = (int)json_array_size(l);
        char **labels = xcalloc((size_t)n + 1, sizeof *labels);
        for (int i = 0; i < n; i++) {
            const char *x = json_string_value(json_array_get(l, (size_t)i));
            labels[i] = xstrdup(x ? x : "");
        }
        t = type_enum_new(n, labels);
    } else if (!strcmp(k, "struct")) {
        const json_t *f = json_object_get(j, "fields");
        int n = (int)json_array_size(f);
        t = type_struct_new(n);
        for (int i = 0; i < n; i++) {
            const json_t *o = json_array_get(f, (size_t)i);
            const char *name = json_string_value(json_object_get(o, "name"));
            const char *desc = json_string_value(json_object_get(o, "desc"));
            Type *ft = type_from_j(json_object_get(o, "type"));
            t->fields[i].name = xstrdup(name ? name : "?");
            t->fields[i].type = ft ? ft : type_any();
            t->fields[i].desc = desc ? xstrdup(desc) : NULL;
        }
    } else return NULL;
    const char *name = json_string_value(json_object_get(j, "name"));
    if (name && t->refcnt >= 0 && !t->name) t->name = xstrdup(name);
    const json_t *nn = json_object_get(j, "n");
    if (nn && (int)json_integer_value(nn) != t->nullable) t = type_with_nullable(t, (int)json_integer_value(nn));
    return t;
}

static Schema *schema_from_text(const char *text)
{
    json_error_t je;
    json_t *j = text ? json_loads(text, 0, &je) : NULL;
    if (!json_is_array(j)) { json_decref(j); return NULL; }
    Schema *sc = schema_new();
    for (size_t i = 0; i < json_array_size(j); i++) {
        const json_t *c = json_array_get(j, i);
        const char *name = json_string_value(json_object_get(c, "name"));
        Type *t = type_from_j(json_object_get(c, "type"));
        if (!name || !t) { type_unref(t); schema_free(sc); json_decref(j); return NULL; }
        schema_add(sc, name, t);
    }
    json_decref(j);
    return sc;
}

int state_table_put(State *st, const char *name, const Table *t, const char *statement, char **msg)
{
    if (!st) { *msg = xstrdup("no state database (saved tables live in it: run without --db :memory:)"); return -1; }
    json_t *cols = json_array();
    Buf types;
    buf_init(&types);
    buf_putc(&types, '{');
    for (int c = 0; c < t->schema->n; c++) {
        json_t *o = json_object();
        json_object_set_new(o, "name", json_string(t->schema->names[c]));
        json_object_set_new(o, "type", type_to_j(t->schema->types[c]));
        json_array_append_new(cols, o);
        char *ts = type_to_string(t->schema->types[c]);
        buf_printf(&types, "%s%s: %s", c ? ", " : "", t->schema->names[c], ts);
        free(ts);
    }
    buf_putc(&types, '}');
    char *sj = json_dumps(cols, JSON_COMPACT);
    json_decref(cols);
    Buf d;
    buf_init(&d);
    for (int i = 0; i < t->nbatches; i++) {
        const Batch *b = t->batches[i];
        for (size_t r = 0; b && r < b->n; r++) {
            buf_putc(&d, '[');
            for (int c = 0; c < b->ncols; c++) {
                if (c) buf_putc(&d, ',');
                value_to_json(&d, b->cols[c][r]);
            }
            buf_puts(&d, "]\n");
        }
    }
    state_commit(st);
    sqlite3_stmt *q = NULL;
    int rc = -1;
    if (sqlite3_prepare_v2(st->db, "insert or replace into saved_tables values (?, ?, ?, ?, ?, ?, ?, ?)", -1, &q, NULL) == SQLITE_OK) {
        sqlite3_bind_text(q, 1, name, -1, SQLITE_STATIC);
        sqlite3_bind_int(q, 2, t->schema->n);
        sqlite3_bind_int64(q, 3, (sqlite3_int64)t->nrows);
        sqlite3_bind_text(q, 4, types.data, -1, SQLITE_STATIC);
        sqlite3_bind_text(q, 5, sj, -1, SQLITE_STATIC);
        sqlite3_bind_blob(q, 6, d.data ? d.data : "", (int)d.len, SQLITE_STATIC);
        sqlite3_bind_double(q, 7, now_s());
        if (statement) sqlite3_bind_text(q, 8, statement, -1, SQLITE_STATIC); else sqlite3_bind_null(q, 8);
        rc = sqlite3_step(q) == SQLITE_DONE ? 0 : -1;
    }
    if (rc) *msg = xasprintf("cannot save table '%s': %s", name, sqlite3_errmsg(st->db));
    sqlite3_finalize(q);
    free(sj);
    buf_free(&types);
    buf_free(&d);
    return rc;
}

Schema *state_table_schema(State *st, const char *name)
{
    if (!st) return NULL;
    state_commit(st);
    sqlite3_stmt *q = NULL;
    Schema *sc = NULL;
    if (sqlite3_prepare_v2(st->db, "select schema_json from saved_tables where name = ?", -1, &q, NULL) == SQLITE_OK) {
        sqlite3_bind_text(q, 1, name, -1, SQLITE_STATIC);
        if (sqlite3_step(q) == SQLITE_ROW) sc = schema_from_text((const char *)sqlite3_column_text(q, 0));
    }
    sqlite3_finalize(q);
    return sc;
}

Table *state_table_get(State *st, const char *name)
{
    if (!st) return NULL;
    state_commit(st);
    sqlite3_stmt *q = NULL;
    Table *t = NULL;
    if (sqlite3_prepare_v2(st->db, "select schema_json, data from saved_tables where name = ?", -1, &q, NULL) != SQLITE_OK) return NULL;
    sqlite3_bind_text(q, 1, name, -1, SQLITE_STATIC);
    Schema *schema = sqlite3_step(q) == SQLITE_ROW ? schema_from_text((const char *)sqlite3_column_text(q, 0)) : NULL;
    if (schema) {
        const char *d = (const char *)sqlite3_column_blob(q, 1);
        size_t len = (size_t)sqlite3_column_bytes(q, 1);
        t = table_new(schema);
        Batch *b = NULL;
        Value *row = xcalloc((size_t)schema->n + 1, sizeof *row);
        for (size_t at = 0; at < len;) {
            const char *nl = memchr(d + at, '\n', len - at);
            size_t end = nl ? (size_t)(nl - d) : len;
            json_error_t je;
            json_t *a = json_loadb(d + at, end - at, JSON_DECODE_ANY, &je);
            at = end + 1;
            if (!json_is_array(a) || (int)json_array_size(a) != schema->n) { json_decref(a); continue; }
            for (int c = 0; c < schema->n; c++) {
                const char *why = NULL;
                row[c] = value_from_jansson(json_array_get(a, (size_t)c), schema->types[c], &why);
            }
            json_decref(a);
            if (!b || b->n >= BATCH_ROWS) { if (b) table_add_batch(t, b); b = batch_new(schema->n, BATCH_ROWS); }
            batch_push_row(b, row);
        }
        if (b) table_add_batch(t, b);
        free(row);
    }
    sqlite3_finalize(q);
    return t;
}

int state_table_drop(State *st, const char *name)
{
    if (!st) return 0;
    state_commit(st);
    sqlite3_stmt *q = NULL;
    int n = 0;
    if (sqlite3_prepare_v2(st->db, "delete from saved_tables where name = ?", -1, &q, NULL) == SQLITE_OK) {
        sqlite3_bind_text(q, 1, name, -1, SQLITE_STATIC);
        if (sqlite3_step(q) == SQLITE_DONE) n = sqlite3_changes(st->db);
    }
    sqlite3_finalize(q);
    return n > 0;
}

char **state_table_names(State *st)
{
    char **names = xcalloc(1, sizeof *names);
    if (!st) return names;
    state_commit(st);
    sqlite3_stmt *q = NULL;
    size_t n = 0;
    if (sqlite3_prepare_v2(st->db, "select name from saved_tables order by name", -1, &q, NULL) == SQLITE_OK)
        while (sqlite3_step(q) == SQLITE_ROW) {
            names = xrealloc(names, (n + 2) * sizeof *names);
            names[n++] = xstrdup((const char *)sqlite3_column_text(q, 0));
            names[n] = NULL;
        }
    sqlite3_finalize(q);
    return names;
}

/* ---- budgets over time (budget.c) ---- */

double state_budget_spent(State *st, const char *scope, int64_t from, int64_t to)
{
    if (!st) return 0;
    sqlite3_stmt *s = NULL;
    double usd = 0;
    if (sqlite3_prepare_v2(st->db, "select coalesce(sum(usd), 0) from budget_spend where scope = ? and hour >= ? and hour < ?",
                           -1, &s, NULL) == SQLITE_OK) {
        sqlite3_bind_text(s, 1, scope, -1, SQLITE_STATIC);
        sqlite3_bind_int64(s, 2, from);
        sqlite3_bind_int64(s, 3, to);
        if (sqlite3_step(s) == SQLITE_ROW) usd = sqlite3_column_double(s, 0);
    }
    sqlite3_finalize(s);
    return usd;
}

void state_budget_add(State *st, const char *scope, int64_t hour, double usd)
{
    if (!st || usd <= 0) return;
    begin(st);
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(st->db, "insert into budget_spend (scope, hour, usd) values (?, ?, ?) "
                           "on conflict (scope, hour) do update set usd = usd + excluded.usd", -1, &s, NULL) == SQLITE_OK) {
        sqlite3_bind_text(s, 1, scope, -1, SQLITE_STATIC);
        sqlite3_bind_int64(s, 2, hour);
        sqlite3_bind_double(s, 3, usd);
        sqlite3_step(s);
    }
    sqlite3_finalize(s);
    maybe_commit(st);
}
