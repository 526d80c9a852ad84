/* report.h: the HTML report of a run (issue 19): `fql --report run.html script.fql`, `.report FILE`
 * in the shell, `fql --report run.html --query-id N` after the fact.
 *
 * Everything comes from the state database (system.query_metrics, lm_calls, lm_errors and the
 * table query_plans), so a report written later says what one written at the end of the run says.
 * The page is one self-contained file: inline CSS and SVG drawn here, no script and no network.
 * Its numbers are also in a JSON block (<script type="application/json" id="fql-metrics">, one
 * object per query_metrics row) and in data- attributes of the summary table, for tests.
 */
#ifndef FQL_REPORT_H
#define FQL_REPORT_H

#include "rt.h"

/* Write the report of query query_id, or (0) of every query this process ran, to path.
 * 0, or -1 with *msg (xasprintf'd): no state database, no such query, the file not writable. */
int report_write(Runtime *rt, const char *path, int64_t query_id, char **msg);

#endif
