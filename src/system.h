/* system.h: the system.* tables: query_metrics, lm_calls and lm_errors (read from the state
 * database) and models (the declarations). */
#ifndef FQL_SYSTEM_H
#define FQL_SYSTEM_H

#include "rt.h"

/* The names system_table() knows ("system.models", ...), NULL-terminated. */
const char *const *system_table_names(void);
/* The columns of a system table, or NULL when name is not one (new; the caller frees it). The
 * binder uses this: it never reads a table to learn its columns. */
Schema *system_schema(const char *name);
/* A system table's rows (an empty table when there is no state database yet), or NULL when name
 * is not one. */
Table *system_table(Runtime *rt, const char *name);

#endif
