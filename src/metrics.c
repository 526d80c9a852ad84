/* metrics.c: the statement's counters (metrics.h). */
#include "metrics.h"

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
