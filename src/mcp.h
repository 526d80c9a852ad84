/* mcp.h: `fql --mcp FILE.fql`, the Model Context Protocol server over stdio (mcp.c). Part of the
 * library, not exported (no FQL_API): the program fql links the static library. */
#ifndef FQL_MCP_H
#define FQL_MCP_H

#include <stdio.h>
#include "fql.h"

/* Serve the pipeline fns of session s (its script already run) as MCP tools: read JSON-RPC
 * messages a line at a time from in until its end, answer on out. Returns 0. */
int mcp_serve(fql_session *s, FILE *in, FILE *out);

#endif
