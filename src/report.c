/* report.c: the HTML report of a run (report.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <math.h>
#include <time.h>
#include <jansson.h>
#include "report.h"
#include "state.h"

/* One system.query_metrics row. */
typedef struct Metric {
    int64_t qid;
    char *statement, *model, *provider, *model_name, *op;
    double v[17];                /* the numbers, in the order of M_* below (NAN: null) */
} Metric;
enum { M_ROWS, M_REQUESTS, M_CACHE_HITS, M_RETRIES, M_RATE_LIMITED, M_FAILURES, M_INPUT, M_CACHED_INPUT, M_OUTPUT,
       M_REASONING, M_COST, M_LATENCY, M_P95, M_EXEC_MS, M_STARTED, M_RPM, M_TPM, M_N };
static const char *const metric_names[M_N] = {
    "rows", "requests", "cache_hits", "retries", "rate_limited", "failures", "input_tokens", "cached_input_tokens",
    "output_tokens", "reasoning_tokens", "cost_usd", "latency_ms", "latency_p95_ms", "execution_time_ms", "started_at",
    "rpm", "tpm" };

/* One lm_calls row (sent: when its final attempt left, Unix seconds). */
typedef struct Call { int64_t qid; char *model, *op, *status, *key; double sent, tokens, latency, row, attempt, cached; } Call;
/* One lm_errors row. */
typedef struct RowError { int64_t qid; char *model, *kind, *message; double row; } RowError;
typedef struct PlanText { int64_t qid; char *plan; } PlanText;

typedef struct Report {
    Metric *m; int nm, capm;
    Call *c; int nc, capc;
    RowError *e; int ne, cape;
    PlanText *p; int np, capp;
} Report;

#define GROW(arr, n, cap) do { if ((n) == (cap)) { (cap) = (cap) ? 2 * (cap) : 16; (arr) = xrealloc((arr), (size_t)(cap) * sizeof *(arr)); } } while (0)

static char *dup_or_empty(const char *s) { return xstrdup(s ? s : ""); }

static void on_metric(void *ud, int n, const char *const *t, const double *v)
{
    Report *r = ud;
    GROW(r->m, r->nm, r->capm);
    Metric *m = &r->m[r->nm++];
    m->qid = (int64_t)v[0];
    m->statement = dup_or_empty(t[1]);
    m->model = dup_or_empty(t[2]);
    m->provider = dup_or_empty(t[3]);
    m->model_name = dup_or_empty(t[4]);
    m->op = dup_or_empty(t[5]);
    for (int i = 0; i < M_N && 6 + i < n; i++) m->v[i] = v[6 + i];
}

static void on_call(void *ud, int n, const char *const *t, const double *v)
{
    Report *r = ud;
    (void)n;
    GROW(r->c, r->nc, r->capc);
    Call *c = &r->c[r->nc++];
    c->qid = (int64_t)v[0];
    c->model = dup_or_empty(t[1]);
    c->op = dup_or_empty(t[2]);
    c->status = dup_or_empty(t[3]);
    c->key = dup_or_empty(t[4]);
    c->sent = v[5];
    c->tokens = v[6];
    c->latency = v[7];
    c->row = v[8];
    c->attempt = v[9];
    c->cached = v[10];
}

static void on_error(void *ud, int n, const char *const *t, const double *v)
{
    Report *r = ud;
    (void)n;
    GROW(r->e, r->ne, r->cape);
    RowError *e = &r->e[r->ne++];
    e->qid = (int64_t)v[0];
    e->row = v[1];
    e->model = dup_or_empty(t[2]);
    e->kind = dup_or_empty(t[3]);
    e->message = dup_or_empty(t[4]);
}

static void on_plan(void *ud, int n, const char *const *t, const double *v)
{
    Report *r = ud;
    (void)n;
    GROW(r->p, r->np, r->capp);
    r->p[r->np].qid = (int64_t)v[0];
    r->p[r->np++].plan = dup_or_empty(t[1]);
}

static void on_max(void *ud, int n, const char *const *t, const double *v)
{
    (void)n; (void)t;
    if (!isnan(v[0])) *(int64_t *)ud = (int64_t)v[0];
}

static void report_free(Report *r)
{
    for (int i = 0; i < r->nm; i++) {
        Metric *m = &r->m[i];
        free(m->statement); free(m->model); free(m->provider); free(m->model_name); free(m->op);
    }
    for (int i = 0; i < r->nc; i++) { free(r->c[i].model); free(r->c[i].op); free(r->c[i].status); free(r->c[i].key); }
    for (int i = 0; i < r->ne; i++) { free(r->e[i].model); free(r->e[i].kind); free(r->e[i].message); }
    for (int i = 0; i < r->np; i++) free(r->p[i].plan);
    free(r->m); free(r->c); free(r->e); free(r->p);
}

/* ---- HTML ---- */

static void esc(FILE *f, const char *s)
{
    for (; s && *s; s++) {
        switch (*s) {
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '&': fputs("&amp;", f); break;
        case '"': fputs("&quot;", f); break;
        case '\'': fputs("&#39;", f); break;
        default: fputc(*s, f);
        }
    }
}

/* A number for a table cell: integers without decimals, "" for null. */
static void num(FILE *f, double v)
{
    if (isnan(v)) return;
    if (v == floor(v) && fabs(v) < 1e15) fprintf(f, "%.0f", v);
    else fprintf(f, "%.6g", v);
}

static void usd(FILE *f, double v)
{
    if (isnan(v)) fputs("unknown", f);
    else fprintf(f, v > 0 && v < 0.01 ? "$%.6f" : "$%.4f", v);
}

/* An SVG bar chart of values y[0..n) over x (seconds from start, bucket width w), with a dashed
 * limit line at limit (per second; <= 0 or NAN: none). */
static void bar_chart(FILE *f, const char *title, const char *unit, const double *y, int n, double w, double limit, const char *xunit)
{
    const int W = 640, H = 180, L = 56, B = 28, T = 14;
    double max = 0;
    for (int i = 0; i < n; i++) if (y[i] > max) max = y[i];
    if (limit > 0 && limit * 1.1 > max) max = limit * 1.1;
    if (max <= 0) max = 1;
    fprintf(f, "<figure><figcaption>");
    esc(f, title);
    fprintf(f, "</figcaption><svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" role=\"img\">", W, H, W, H);
    fprintf(f, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" class=\"axis\"/>", L, H - B, W - 8, H - B);
    fprintf(f, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" class=\"axis\"/>", L, T, L, H - B);
    fprintf(f, "<text x=\"%d\" y=\"%d\" class=\"lbl\" text-anchor=\"end\">%.3g</text>", L - 4, T + 4, max);
    fprintf(f, "<text x=\"%d\" y=\"%d\" class=\"lbl\" text-anchor=\"end\">0</text>", L - 4, H - B);
    fprintf(f, "<text x=\"%d\" y=\"%d\" class=\"lbl\">%s</text>", L + 4, T + 4, unit);
    double bw = n > 0 ? (double)(W - 8 - L) / n : 0;
    for (int i = 0; i < n; i++) {
        double h = y[i] / max * (H - B - T);
        fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" class=\"bar\"><title>%.3g-%.3g %s: %.3g %s</title></rect>",
                L + i * bw, H - B - h, bw > 2 ? bw - 1 : bw, h, i * w, (i + 1) * w, xunit, y[i], unit);
    }
    if (n > 0) fprintf(f, "<text x=\"%d\" y=\"%d\" class=\"lbl\" text-anchor=\"end\">%.3g %s</text>", W - 8, H - B + 14, n * w, xunit);
    if (limit > 0) {
        double ly = H - B - limit / max * (H - B - T);
        fprintf(f, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" class=\"limit\"/><text x=\"%d\" y=\"%.1f\" class=\"lbl lim\" text-anchor=\"end\">limit %.3g</text>",
                L, ly, W - 8, ly, W - 8, ly - 3, limit);
    }
    fputs("</svg></figure>\n", f);
}

/* The timeline of one query and model: requests and tokens sent per second against its limits. */
static void timeline(FILE *f, const Report *r, const Metric *m)
{
    double t0 = INFINITY, t1 = -INFINITY;
    int n = 0;
    for (int i = 0; i < r->nc; i++) {
        const Call *c = &r->c[i];
        if (c->qid != m->qid || strcmp(c->model, m->model) || isnan(c->sent)) continue;
        if (c->sent < t0) t0 = c->sent;
        if (c->sent > t1) t1 = c->sent;
        n++;
    }
    if (n == 0) { fputs("<p class=\"note\">No request was sent (every answer came from the cache or none was needed).</p>\n", f); return; }
    double span = t1 - t0, w = span / 40;
    if (w < 0.1) w = 0.1;
    int nb = (int)(span / w) + 1;
    if (nb > 400) nb = 400;
    double *req = xcalloc((size_t)nb, sizeof *req), *tok = xcalloc((size_t)nb, sizeof *tok);
    for (int i = 0; i < r->nc; i++) {
        const Call *c = &r->c[i];
        if (c->qid != m->qid || strcmp(c->model, m->model) || isnan(c->sent)) continue;
        int b = (int)((c->sent - t0) / w);
        if (b >= nb) b = nb - 1;
        req[b] += 1 / w;
        if (!isnan(c->tokens)) tok[b] += c->tokens / w;
    }
    char title[256];
    snprintf(title, sizeof title, "requests sent per second (%d sent)%s", n, m->v[M_RPM] > 0 ? ", limit: rpm / 60" : ", no rpm declared");
    bar_chart(f, title, "req/s", req, nb, w, m->v[M_RPM] / 60, "s");
    snprintf(title, sizeof title, "tokens sent and received per second%s", m->v[M_TPM] > 0 ? ", limit: tpm / 60" : ", no tpm declared");
    bar_chart(f, title, "tok/s", tok, nb, w, m->v[M_TPM] / 60, "s");
    /* the progress line's count over time: requests answered so far (sent + latency) */
    double *done = xcalloc((size_t)nb, sizeof *done);
    for (int i = 0; i < r->nc; i++) {
        const Call *c = &r->c[i];
        if (c->qid != m->qid || strcmp(c->model, m->model) || isnan(c->sent)) continue;
        int b = (int)((c->sent + (isnan(c->latency) ? 0 : c->latency / 1e3) - t0) / w);
        done[b >= nb ? nb - 1 : b] += 1;
    }
    for (int b = 1; b < nb; b++) done[b] += done[b - 1];
    snprintf(title, sizeof title, "progress: requests answered so far (%d in all)", n);
    bar_chart(f, title, "answered", done, nb, w, NAN, "s");
    free(done);
    free(req);
    free(tok);
}

/* The latency histogram of one query and model's requests sent. */
static void latency_histogram(FILE *f, const Report *r, const Metric *m)
{
    double max = 0;
    int n = 0;
    for (int i = 0; i < r->nc; i++) {
        const Call *c = &r->c[i];
        if (c->qid != m->qid || strcmp(c->model, m->model) || isnan(c->latency)) continue;
        if (c->latency > max) max = c->latency;
        n++;
    }
    if (n == 0) return;
    enum { NB = 20 };
    double h[NB] = { 0 }, w = max > 0 ? max / NB : 1;
    for (int i = 0; i < r->nc; i++) {
        const Call *c = &r->c[i];
        if (c->qid != m->qid || strcmp(c->model, m->model) || isnan(c->latency)) continue;
        int b = (int)(c->latency / w);
        h[b >= NB ? NB - 1 : b] += 1;
    }
    char title[160];
    snprintf(title, sizeof title, "latency of %d requests (ms; bars of %.3g ms; p95 %.3g ms)", n, w, isnan(m->v[M_P95]) ? 0 : m->v[M_P95]);
    bar_chart(f, title, "requests", h, NB, w, NAN, "ms");
}

static const char *const css =
    "body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#222}h1{font-size:20px}h2{font-size:17px;margin-top:28px}"
    "h3{font-size:15px}table{border-collapse:collapse;margin:8px 0}td,th{border:1px solid #ccc;padding:3px 7px;text-align:right}"
    "td.t,th.t{text-align:left}pre{background:#f6f6f6;padding:8px;overflow:auto}figure{margin:8px 0}"
    "figcaption{font-size:12px;color:#555}.axis{stroke:#888}.bar{fill:#4a7bd0}.limit{stroke:#c33;stroke-dasharray:5 4}"
    ".lbl{font-size:11px;fill:#555}.lim{fill:#c33}.note{color:#666}code{background:#f3f3f3}";

/* Write the report r (queries lo..hi) to f. */
static void write_html(FILE *f, const Report *r, int64_t lo, int64_t hi)
{
    fputs("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>FQL run report</title><style>", f);
    fputs(css, f);
    fputs("</style></head><body>\n<h1>FQL run report</h1>\n", f);
    double cost = 0, reqs = 0, hits = 0, tin = 0, tout = 0;
    int unknown = 0;
    for (int i = 0; i < r->nm; i++) {
        const Metric *m = &r->m[i];
        if (isnan(m->v[M_COST])) unknown = 1; else cost += m->v[M_COST];
        reqs += m->v[M_REQUESTS];
        hits += m->v[M_CACHE_HITS];
        tin += m->v[M_INPUT];
        tout += m->v[M_OUTPUT];
    }
    fprintf(f, "<p id=\"totals\" data-requests=\"%.0f\" data-cache-hits=\"%.0f\" data-cost-usd=\"%.6f\">Queries %lld", reqs, hits, cost,
            (long long)lo);
    if (hi != lo) fprintf(f, " to %lld", (long long)hi);
    fprintf(f, ": %.0f requests, %.0f cache hits, %.0f input and %.0f output tokens, $%.4f%s.</p>\n", reqs, hits, tin, tout, cost,
            unknown ? " (some prices unknown)" : "");
    if (r->nm == 0) fputs("<p class=\"note\">No statement of these queries called a model.</p>\n", f);

    /* the summary: per statement and model */
    fputs("<h2>Statements and models</h2>\n<table id=\"summary\"><tr><th>query</th><th class=\"t\">statement</th><th class=\"t\">model</th>"
          "<th class=\"t\">operator</th><th>rows</th><th>requests</th><th>cache hits</th><th>retries</th><th>rate limited</th>"
          "<th>failed rows</th><th>input tokens</th><th>output tokens</th><th>cost</th><th>latency ms</th><th>p95 ms</th>"
          "<th>time ms</th><th class=\"t\">errors by kind</th></tr>\n", f);
    for (int i = 0; i < r->nm; i++) {
        const Metric *m = &r->m[i];
        fprintf(f, "<tr class=\"metric\" data-query-id=\"%lld\" data-model=\"", (long long)m->qid);
        esc(f, m->model);
        fputc('"', f);
        for (int k = 0; k < M_N; k++) {
            if (isnan(m->v[k]) || k == M_STARTED) continue;
            fprintf(f, " data-%s=\"", metric_names[k]);
            num(f, m->v[k]);
            fputc('"', f);
        }
        fprintf(f, "><td>%lld</td><td class=\"t\"><code>", (long long)m->qid);
        esc(f, m->statement);
        fputs("</code></td><td class=\"t\">", f);
        esc(f, m->model);
        fputs(" (", f);
        esc(f, m->provider);
        fputc(' ', f);
        esc(f, m->model_name);
        fputs(")</td><td class=\"t\">", f);
        esc(f, m->op);
        fputs("</td>", f);
        int cols[] = { M_ROWS, M_REQUESTS, M_CACHE_HITS, M_RETRIES, M_RATE_LIMITED, M_FAILURES, M_INPUT, M_OUTPUT };
        for (size_t k = 0; k < sizeof cols / sizeof cols[0]; k++) { fputs("<td>", f); num(f, m->v[cols[k]]); fputs("</td>", f); }
        fputs("<td>", f);
        usd(f, m->v[M_COST]);
        fputs("</td>", f);
        int more[] = { M_LATENCY, M_P95, M_EXEC_MS };
        for (size_t k = 0; k < 3; k++) { fputs("<td>", f); if (!isnan(m->v[more[k]])) fprintf(f, "%.1f", m->v[more[k]]); fputs("</td>", f); }
        /* errors by kind: the failed rows of lm_errors */
        fputs("<td class=\"t\">", f);
        int first = 1;
        for (int e = 0; e < r->ne; e++) {
            const RowError *x = &r->e[e];
            if (x->qid != m->qid || strcmp(x->model, m->model)) continue;
            int seen = 0;
            for (int p = 0; p < e && !seen; p++) seen = r->e[p].qid == x->qid && !strcmp(r->e[p].model, x->model) && !strcmp(r->e[p].kind, x->kind);
            if (seen) continue;
            int count = 0;
            for (int p = e; p < r->ne; p++) count += r->e[p].qid == x->qid && !strcmp(r->e[p].model, x->model) && !strcmp(r->e[p].kind, x->kind);
            fprintf(f, "%s<span class=\"ekind\" data-kind=\"", first ? "" : ", ");
            esc(f, x->kind);
            fprintf(f, "\" data-count=\"%d\">", count);
            esc(f, x->kind);
            fprintf(f, " %d</span>", count);
            first = 0;
        }
        fputs("</td></tr>\n", f);
    }
    fputs("</table>\n", f);

    /* per query: plan, then per model the timeline and the latencies */
    for (int i = 0; i < r->nm; i++) {
        const Metric *m = &r->m[i];
        if (i == 0 || r->m[i - 1].qid != m->qid) {
            fprintf(f, "<h2 id=\"q%lld\">Query %lld</h2>\n<pre>", (long long)m->qid, (long long)m->qid);
            esc(f, m->statement);
            fputs("</pre>\n", f);
            for (int p = 0; p < r->np; p++)
                if (r->p[p].qid == m->qid) {
                    fputs("<h3>Plan: estimated and actual rows, requests and cost</h3>\n<pre class=\"plan\">", f);
                    esc(f, r->p[p].plan);
                    fputs("</pre>\n", f);
                }
        }
        fputs("<h3>", f);
        esc(f, m->model);
        fputs(" (", f);
        esc(f, m->op);
        fputs(")</h3>\n", f);
        timeline(f, r, m);
        latency_histogram(f, r, m);
    }

    /* the slowest requests and the failed rows */
    fputs("<h2>Slowest requests</h2>\n", f);
    int *order = xcalloc((size_t)r->nc + 1, sizeof *order), n = 0;
    for (int i = 0; i < r->nc; i++) if (!isnan(r->c[i].latency)) order[n++] = i;
    for (int a = 1; a < n; a++)   /* insertion sort by latency, slowest first (stable) */
        for (int b = a; b > 0 && r->c[order[b]].latency > r->c[order[b - 1]].latency; b--) { int t = order[b]; order[b] = order[b - 1]; order[b - 1] = t; }
    if (n == 0) fputs("<p class=\"note\">No request was sent.</p>\n", f);
    else {
        fputs("<table id=\"slowest\"><tr><th>query</th><th>row</th><th class=\"t\">model</th><th class=\"t\">operator</th><th>latency ms</th>"
              "<th>attempts</th><th class=\"t\">status</th><th class=\"t\">request key</th></tr>\n", f);
        for (int k = 0; k < n && k < 10; k++) {
            const Call *c = &r->c[order[k]];
            fprintf(f, "<tr><td>%lld</td><td>", (long long)c->qid);
            num(f, c->row);
            fputs("</td><td class=\"t\">", f);
            esc(f, c->model);
            fputs("</td><td class=\"t\">", f);
            esc(f, c->op);
            fprintf(f, "</td><td>%.1f</td><td>", c->latency);
            num(f, c->attempt);
            fputs("</td><td class=\"t\">", f);
            esc(f, c->status);
            fputs("</td><td class=\"t\"><code>", f);
            esc(f, c->key);
            fputs("</code></td></tr>\n", f);
        }
        fputs("</table>\n", f);
    }
    free(order);
    fprintf(f, "<h2>Failed rows</h2>\n");
    if (r->ne == 0) fputs("<p class=\"note\">No row failed.</p>\n", f);
    else {
        fprintf(f, "<table id=\"failed\" data-count=\"%d\"><tr><th>query</th><th>row</th><th class=\"t\">model</th><th class=\"t\">kind</th>"
                "<th class=\"t\">reason</th></tr>\n", r->ne);
        for (int e = 0; e < r->ne && e < 200; e++) {
            const RowError *x = &r->e[e];
            fprintf(f, "<tr class=\"failed\"><td>%lld</td><td>", (long long)x->qid);
            num(f, x->row);
            fputs("</td><td class=\"t\">", f);
            esc(f, x->model);
            fputs("</td><td class=\"t\">", f);
            esc(f, x->kind);
            fputs("</td><td class=\"t\">", f);
            esc(f, x->message);
            fputs("</td></tr>\n", f);
        }
        fputs("</table>\n", f);
        if (r->ne > 200) fprintf(f, "<p class=\"note\">%d more in system.lm_errors.</p>\n", r->ne - 200);
    }

    /* the numbers, for programs: one object per query_metrics row */
    json_t *arr = json_array();
    for (int i = 0; i < r->nm; i++) {
        const Metric *m = &r->m[i];
        json_t *o = json_pack("{s:I, s:s, s:s, s:s}", "query_id", (json_int_t)m->qid, "model", m->model, "operator", m->op,
                              "statement", m->statement);
        for (int k = 0; k < M_N; k++)
            json_object_set_new(o, metric_names[k], isnan(m->v[k]) ? json_null()
                                : k == M_COST || k >= M_LATENCY ? json_real(m->v[k]) : json_integer((json_int_t)m->v[k]));
        json_array_append_new(arr, o);
    }
    char *js = json_dumps(arr, JSON_COMPACT | JSON_ESCAPE_SLASH | JSON_ENSURE_ASCII);   /* no "</script>" inside */
    json_decref(arr);
    fprintf(f, "<script type=\"application/json\" id=\"fql-metrics\">%s</script>\n</body></html>\n", js ? js : "[]");
    free(js);
}

int report_write(Runtime *rt, const char *path, int64_t query_id, char **msg)
{
    *msg = NULL;
    State *st = rt->state ? rt->state : rt_state_if_exists(rt);
    if (!st) {
        *msg = xasprintf("no state database at %s: the report is made from it (run the script first, or give --db PATH)",
                         rt->db_path ? rt->db_path : "?");
        return -1;
    }
    int64_t lo = query_id, hi = query_id;
    if (!query_id) {
        lo = state_first_query_id(st);
        state_each_row(st, "select max(query_id) from queries", 0, 0, on_max, &hi);
        if (!lo) lo = hi + 1;   /* this session called no model: an empty report */
    }
    Report r;
    memset(&r, 0, sizeof r);
    state_each_row(st, "select query_id, statement, model, provider, model_name, operator, rows, requests, cache_hits, retries,"
                   " rate_limited, failures, input_tokens, cached_input_tokens, output_tokens, reasoning_tokens, cost_usd, latency_ms,"
                   " latency_p95_ms, execution_time_ms, started_at, rpm, tpm from query_metrics where query_id between ?1 and ?2"
                   " order by query_id, rowid", lo, hi, on_metric, &r);
    if (query_id && r.nm == 0) {
        report_free(&r);
        *msg = xasprintf("no query %lld in system.query_metrics of %s (see `from system.query_metrics | select query_id, statement`)",
                         (long long)query_id, rt->db_path ? rt->db_path : "the state database");
        return -1;
    }
    state_each_row(st, "select query_id, model, operator, status, request_key, coalesce(sent_at, started_at - latency_ms / 1000.0),"
                   " input_tokens + output_tokens, latency_ms, row, attempt, cached from lm_calls"
                   " where query_id between ?1 and ?2 order by call_id", lo, hi, on_call, &r);
    state_each_row(st, "select query_id, row, model, kind, message from lm_errors where query_id between ?1 and ?2 order by query_id, row, rowid",
                   lo, hi, on_error, &r);
    state_each_row(st, "select query_id, plan from query_plans where query_id between ?1 and ?2 order by query_id", lo, hi, on_plan, &r);
    FILE *f = fopen(path, "w");
    if (!f) {
        *msg = xasprintf("cannot write the report %s: %s", path, strerror(errno));
        report_free(&r);
        return -1;
    }
    write_html(f, &r, lo, hi);
    report_free(&r);
    if (fclose(f) != 0) { *msg = xasprintf("cannot write the report %s: %s", path, strerror(errno)); return -1; }
    return 0;
}
