/* replay.h: record and replay of model answers (issue 19): `--record FILE`, `--replay FILE`,
 * `--offline`.
 *
 * The semantic runtime looks answers up and stores them through tape_get and tape_put instead of
 * the response cache directly (state.c). Without a tape they are the cache's own functions. With one:
 *   record:  every answer the run used (from the cache or the provider) is kept, and at the end
 *            written to FILE as JSON lines sorted by request key: {"key", "model", "provider",
 *            "model_name", "answer", "tokens": {input, cached_input, output, reasoning}, and when
 *            present "logprobs", "vectors"}. Keys are the response cache's request keys (SHA-256 of
 *            provider, model, base URL, request URL and body), so no API key is ever written.
 *   replay:  answers come from FILE only (not the cache); nothing is sent, no key is needed.
 *   offline: answers come from the state database's cache only; nothing is sent.
 * In replay and offline a request whose answer is not there stops the statement with an error
 * naming the statement, the row and the model (tape_miss); route.c refuses any other send
 * (tape_refuse), which semantic_finish turns into the same error (tape_failed).
 */
#ifndef FQL_REPLAY_H
#define FQL_REPLAY_H

#include "rt.h"
#include "runtime.h"

typedef enum { TAPE_RECORD = 1, TAPE_REPLAY, TAPE_OFFLINE } TapeMode;

/* Attach a tape to rt (replay: FILE read now). 0, or -1 with *msg (xasprintf'd). */
int  tape_open(Runtime *rt, TapeMode mode, const char *path, char **msg);
/* Write a record tape's file and free the tape. 0, or -1 with *msg when the file cannot be written. */
int  tape_close(Runtime *rt, char **msg);

/* The answer to request key of model m into a (owned by the caller afterwards): 1 on a hit. */
int  tape_get(Runtime *rt, const char *key, const LmModel *m, LmAnswer *a);
/* An answer received for key: stored in the cache (as state_cache_put) and kept by a record tape. */
void tape_put(Runtime *rt, const char *key, const LmModel *m, const LmAnswer *a);

/* 1 when nothing may be sent (replay, offline). */
int  tape_no_send(const Runtime *rt);
/* The error for a request of statement (its text), row (< 0: unknown) of model m that has no answer: err set, -1. */
int  tape_miss(Runtime *rt, const char *statement, const LmModel *m, int64_t row, const char *key, fql_error *err);
/* route.c, before a request is sent: with a tape that sends nothing, completes it at once as a
 * failed row (kind "not_recorded"), remembers the first such request, frees req and returns 1. */
int  tape_refuse(Runtime *rt, LmModel *m, LmRequest *req, SchedDone done, void *ud);
/* A request was refused since the statement began: err set (statement, model), -1; else 0. */
int  tape_failed(Runtime *rt, const char *statement, fql_error *err);

#endif
