/* metrics.c: a statement's counters, its query_metrics rows and summary lines, the progress line
 * (metrics.h). */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "metrics.h"
#include "shared.h"

static double wall_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

void metrics_begin(StmtMetrics *sm, const char *statement)
{
    memset(sm, 0, sizeof *sm);
    sm->statement = xstrdup(statement ? statement : "");
    sm->started_at = wall_s();
    sm->est_recall = -1;
}

void metrics_pairs(StmtMetrics *sm, const char *alias, double est_recall, const char *note)
{
    free(sm->pair_alias);
    free(sm->pair_note);
    sm->pair_alias = xstrdup(alias ? alias : "");
    sm->pair_note = xstrdup(note ? note : "");
    sm->est_recall = est_recall;
}

void metrics_cascade(StmtMetrics *sm, const char *cheap, const char *strong, const CascadeStats *st)
{
    free(sm->casc_cheap);
    free(sm->casc_strong);
    free(sm->casc_thresholds);
    sm->casc_cheap = xstrdup(cheap);
    sm->casc_strong = xstrdup(strong);
    sm->casc_thresholds = xstrdup(st->thresholds ? st->thresholds : "");
    sm->casc = *st;
    sm->casc.thresholds = sm->casc_thresholds;
}

ModelCount *metrics_model(StmtMetrics *sm, Scheduler *sched, LmModel *m, const char *op)
{
    for (ModelCount *c = sm->models; c; c = c->next)
        if (c->m == m) return c;
    ModelCount *c = xcalloc(1, sizeof *c);
    c->m = m;
    c->op = xstrdup(op);   /* the plan (or a reduce's temporary call) may be gone by the statement's end */
    if (sched) {
        const SchedStats *st = sched_stats(sched, m);
        if (st) { c->before = *st; c->before.latencies = NULL; c->have_before = 1; }
    }
    c->next = sm->models;
    sm->models = c;
    return c;
}

/* The 95th percentile of the latencies st recorded from index from on (0 when none). */
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

void metrics_end(Runtime *rt, StmtMetrics *sm, double elapsed_ms)
{
    for (ModelCount *c = sm->models, *n; c; c = n) {
        n = c->next;
        const SchedStats *st = rt->sched ? sched_stats(rt->sched, c->m) : NULL;
        SchedStats z;
        memset(&z, 0, sizeof z);
        if (!st) st = &z;
        const SchedStats *b = c->have_before ? &c->before : &z;
        QueryMetric q;
        memset(&q, 0, sizeof q);
        q.query_id = rt->query_id;
        q.statement = sm->statement;
        q.started_at = sm->started_at;
        q.model = c->m;
        q.op = c->op;
        q.rows = c->rows;
        q.requests = st->sent - b->sent;   /* sent over HTTP (or in a batch), not merely asked */
        q.cache_hits = c->cache_hits;
        q.retries = st->retries - b->retries;
        q.rate_limited = st->rate_limited - b->rate_limited;
        q.failures = c->failures;
        q.input_tokens = st->input_tokens - b->input_tokens;
        q.cached_input_tokens = st->cached_input_tokens - b->cached_input_tokens;
        q.cache_write_tokens = st->cache_write_tokens - b->cache_write_tokens;
        q.output_tokens = st->output_tokens - b->output_tokens;
        q.reasoning_tokens = st->reasoning_tokens - b->reasoning_tokens;
        q.cost_usd = st->cost_usd - b->cost_usd;
        if (c->m->price_in < 0 && q.cost_usd <= 0) q.cost_usd = -1;
        int64_t nl = st->latency_n - b->latency_n, nq = st->queue_n - b->queue_n;
        /* a statement that sent nothing (all cached) has no latency: null, not 0 */
        q.latency_ms = nl > 0 ? (st->latency_ms_sum - b->latency_ms_sum) / (double)nl : -1;
        q.latency_p95_ms = nl > 0 ? p95(st, b->nlat) : -1;
        q.queue_ms = nq > 0 ? (st->queue_ms_sum - b->queue_ms_sum) / (double)nq : -1;
        q.execution_time_ms = elapsed_ms;
        int pairs = sm->pair_alias && !strcmp(sm->pair_alias, c->m->alias);
        q.est_recall = pairs ? sm->est_recall : -1;
        int casc = sm->casc_cheap && (!strcmp(sm->casc_cheap, c->m->alias) || !strcmp(sm->casc_strong, c->m->alias));
        if (casc) {
            q.cascade = &sm->casc;
            if (!isnan(sm->casc.est_recall)) q.est_recall = sm->casc.est_recall;
        }
        state_add_metric(rt->state, &q);
        metrics_add(&rt->metrics, &q);
        if (rt_shared(rt)) {   /* every sharing process sees the row in its system.query_metrics */
            char *origin = shared_origin(rt_shared(rt), rt->db_path), *err = NULL;
            if (shared_metrics_push(rt_shared(rt), origin, &q, &err))
                rt_log(rt, FQL_LOG_WARN, "warning: this statement's system.query_metrics row is only in the local state database: %s", err);
            free(err);
            free(origin);
        }
        /* the one-line summary */
        char cost[48] = "cost unknown";
        if (q.cost_usd >= 0) { cost[0] = '$'; format_usd(cost + 1, sizeof cost - 1, q.cost_usd); }
        char fb[64] = "", unsent[48] = "";
        if (c->fell_back) snprintf(fb, sizeof fb, "; %lld handed to a fallback", (long long)c->fell_back);
        /* requests asked = cached + sent + never sent (a fatal error or a cancel stopped the statement first) */
        int64_t never = c->requests - q.requests;
        if (never > 0) snprintf(unsent, sizeof unsent, " / %lld not sent", (long long)never);
        rt_log(rt, FQL_LOG_INFO, "%s (%s %s%s): %lld rows in %.1fs; requests %lld (%lld cached / %lld sent%s / %lld retried / %lld failed); "
                        "tokens %lld in / %lld out; %s%s%s%s",
                c->m->alias, c->m->provider_name, c->m->model_name, c->m->batch ? ", batch" : "", (long long)c->rows,
                elapsed_ms / 1000.0, (long long)(c->cache_hits + q.requests + (never > 0 ? never : 0)), (long long)c->cache_hits,
                (long long)q.requests, unsent, (long long)q.retries, (long long)c->failures, (long long)q.input_tokens,
                (long long)q.output_tokens, cost, fb, pairs ? "; " : "", pairs ? sm->pair_note : "");
        free(c->op);
        free(c);
    }
    sm->models = NULL;
    state_commit(rt->state);
    free(sm->statement);
    sm->statement = NULL;
    free(sm->pair_alias);
    free(sm->pair_note);
    sm->pair_alias = sm->pair_note = NULL;
    sm->est_recall = -1;
    free(sm->casc_cheap);
    free(sm->casc_strong);
    free(sm->casc_thresholds);
    sm->casc_cheap = sm->casc_strong = sm->casc_thresholds = NULL;
}

void metrics_progress(Runtime *rt, StmtMetrics *sm, int force)
{
    if (!rt->progress || !isatty(2)) return;
    double t = wall_s();
    if (!force && t - sm->last_draw < 0.1) return;
    sm->last_draw = t;
    double el = t - sm->started_at;
    Buf b;
    buf_init(&b);
    buf_puts(&b, "\r\033[K");
    for (ModelCount *c = sm->models; c; c = c->next) {
        const SchedStats *st = rt->sched ? sched_stats(rt->sched, c->m) : NULL;
        int64_t rl = st ? st->rate_limited - c->before.rate_limited : 0;
        int64_t tok = st ? (st->input_tokens - c->before.input_tokens) + (st->output_tokens - c->before.output_tokens) : 0;
        double usd = st ? st->cost_usd - c->before.cost_usd : 0;
        double rate = el > 0 ? (double)c->answered / el : 0;
        int64_t left = c->requests - c->answered;
        buf_printf(&b, "%s%s %lld/%lld req, %.1f/s, 429s %lld, %lld tok, $%.4f", c == sm->models ? "" : " | ", c->m->alias,
                   (long long)c->answered, (long long)c->requests, rate, (long long)rl, (long long)tok, usd);
        if (left > 0 && rate > 0) buf_printf(&b, ", ~%.0fs left", (double)left / rate);
    }
    fputs(b.data, stderr);   /* the progress display (fql_options.progress), not a log line */
    fflush(stderr);
    sm->drawn = 1;
    buf_free(&b);
}

void metrics_progress_clear(StmtMetrics *sm)
{
    if (sm->drawn) { fputs("\r\033[K", stderr); fflush(stderr); sm->drawn = 0; }
}

void metrics_add(fql_metrics *m, const QueryMetric *q)
{
    m->requests += q->requests;
    m->cache_hits += q->cache_hits;
    m->retries += q->retries;
    m->failures += q->failures;
    m->input_tokens += q->input_tokens;
    m->output_tokens += q->output_tokens;
    if (m->cost_usd >= 0) m->cost_usd = q->cost_usd < 0 ? -1 : m->cost_usd + q->cost_usd;
}
