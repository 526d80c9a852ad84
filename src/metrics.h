/* metrics.h: a statement's counters as the embedder reads them (fql_metrics), summed from the
 * per-model rows written to system.query_metrics. */
#ifndef FQL_METRICS_H
#define FQL_METRICS_H

#include "fql.h"
#include "state.h"

/* Add one model's per-statement row q to m (cost stays unknown, -1, once a part is unknown). */
void metrics_add(fql_metrics *m, const QueryMetric *q);

#endif
