/* metrics.h: a statement's counters: per model (rows, requests, cache hits, failures, hand-overs),
 * the rows of system.query_metrics written at its end with the one-line summary per model, the
 * embedder's fql_metrics summed from them, and the progress line on a terminal.
 *
 * The semantic runtime (semantic.c) counts into a StmtMetrics it keeps for the running statement;
 * the scheduler's cumulative counters (sched_stats) give what was sent, retried, rate-limited, the
 * tokens, dollars and latencies, as differences from the statement's start.
 */
#ifndef FQL_METRICS_H
#define FQL_METRICS_H

#include "fql.h"
#include "rt.h"
#include "runtime.h"
#include "state.h"

/* Per-statement counters of one model. */
typedef struct ModelCount {
    LmModel *m;
    char *op;
    int64_t rows, requests, cache_hits, failures;
    int64_t answered;             /* requests with a final answer (for the progress line) */
    int64_t fell_back;            /* requests handed to a fallback alias (route.c) */
    SchedStats before;            /* the scheduler's cumulative counters at the statement's start */
    int have_before;
    struct ModelCount *next;
} ModelCount;

/* One statement's counters. */
typedef struct StmtMetrics {
    char *statement;              /* its text (query_metrics.statement) */
    double started_at;            /* Unix seconds */
    double last_draw;             /* the progress line was last drawn then */
    int drawn;                    /* the progress line is on the screen */
    ModelCount *models;
    /* a semantic join's candidate pairs (metrics_pairs): the model that judged them, what the
     * prefilter did (for the summary line) and its estimated recall (< 0: none) */
    char *pair_alias, *pair_note;
    double est_recall;
    /* a cascade (metrics_cascade): its two models and what it did; the last of a statement wins */
    char *casc_cheap, *casc_strong, *casc_thresholds;
    CascadeStats casc;
} StmtMetrics;

/* Start counting a statement (its text copied). */
void        metrics_begin(StmtMetrics *sm, const char *statement);
/* The counters of model m in sm, made on first use (op names the operator: the first one met). */
ModelCount *metrics_model(StmtMetrics *sm, Scheduler *sched, LmModel *m, const char *op);
/* Record what a semantic join's prefilter did (note, copied) for model alias's row and summary
 * line; est_recall < 0 when not estimated. The last call of a statement wins. */
void        metrics_pairs(StmtMetrics *sm, const char *alias, double est_recall, const char *note);
/* Record what a cascade did (copied) for the query_metrics rows of its models cheap and strong. */
void        metrics_cascade(StmtMetrics *sm, const char *cheap, const char *strong, const CascadeStats *st);
/* End the statement: one system.query_metrics row per model, added to rt->metrics, and one summary
 * line per model logged; sm's counters freed. */
void        metrics_end(Runtime *rt, StmtMetrics *sm, double elapsed_ms);
/* The progress line on standard error (when rt->progress and it is a terminal): per model,
 * requests answered of those sent, the rate, 429s, tokens, dollars and the time left. At most
 * every 0.1 s unless force. */
void        metrics_progress(Runtime *rt, StmtMetrics *sm, int force);
void        metrics_progress_clear(StmtMetrics *sm);
/* Add one model's per-statement row q to m (cost stays unknown, -1, once a part is unknown). */
void        metrics_add(fql_metrics *m, const QueryMetric *q);

#endif
