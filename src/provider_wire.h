/* provider_wire.h: the helpers the provider adapters share (provider_wire.c, below the adapters):
 * building an HttpRequest, the options every protocol sends, reading HTTP answers.
 *
 * Ownership: helpers that return char * return a new string the caller frees; json_t * results of
 * the j* getters are borrowed from their parent.
 */
#ifndef FQL_PROVIDER_WIRE_H
#define FQL_PROVIDER_WIRE_H

#include "runtime.h"

/* ---- building requests ---- */

/* Start out as METHOD url (url is taken over). */
void wire_start(HttpRequest *out, const char *method, char *url);
/* Append a "Name: value" header. */
void wire_add_header(HttpRequest *out, const char *fmt, ...) FQL_PRINTF(2, 3);
/* Set out->body to the compact JSON of body (consumed; key order kept: a schema's property order
 * matters to strict structured output). */
void wire_set_json(HttpRequest *out, json_t *body);
/* The output ceiling of r on m: r's, else m's, else dflt (0 = none). */
int wire_max_tokens(const LmModel *m, const LmRequest *r, int dflt);
/* The temperature to send, NAN for the provider's default. */
double wire_temperature(const LmModel *m, const LmRequest *r);
/* r->schema_name made safe for every provider: [A-Za-z0-9_-]{1,64}, "answer" when unset. */
char *wire_schema_name(const LmRequest *r);

/* ---- reading answers ---- */

/* The value of header name (any case) in a raw block "Name: value\r\n...", trimmed; the last one
 * wins when repeated. NULL when absent. */
char *hdr_get(const char *headers, const char *name);
/* Header name as a number (strtod of the whole value); -1 when absent or not a number. */
double hdr_number(const char *headers, const char *name);
/* The server's wait from retry-after-ms, then retry-after (seconds or an HTTP date); -1 if none. */
double hdr_retry_after(const char *headers, double now);
/* "... Please try again in 1.574s." / "in 20ms" / "in 6m0s" / Gemini's "Please retry in 47.5s." ->
 * seconds; -1 if no such phrase. */
double text_try_again(const char *msg);
/* Parse a Go duration ("1s", "6m0s", "12ms", "1.5s") into seconds; -1 if invalid. */
double wire_parse_duration(const char *s);
/* RFC 3339 / ISO 8601 time ("2026-01-02T03:04:05.678Z", "+01:00" offsets) -> Unix seconds; -1. */
double parse_rfc3339(const char *s);
/* HTTP date ("Wed, 21 Oct 2015 07:28:00 GMT") -> Unix seconds; -1. */
double parse_http_date(const char *s);
/* Wall-clock now, Unix seconds. */
double now_unix(void);

/* Borrowed getters that tolerate NULL, missing keys and wrong types. */
json_t     *jobj(const json_t *o, const char *key);     /* an object, else NULL */
json_t     *jarr(const json_t *o, const char *key);     /* an array, else NULL */
const char *jstr(const json_t *o, const char *key);     /* a string, else NULL */
int64_t     jint(const json_t *o, const char *key);     /* a number (truncated), else 0 */
double      jnum(const json_t *o, const char *key, double dflt);

/* Set a's outcome, kind and message (printf-style; NULL fmt = no message). Replaces earlier ones. */
void answer_set(LmAnswer *a, LmOutcome outcome, const char *kind, const char *fmt, ...) FQL_PRINTF(4, 5);
/* The first n bytes of a body as a printable one-line string (for messages about odd answers). */
char *body_excerpt(const char *body, size_t len, size_t n);
/* Parse body as JSON (NULL on failure). */
json_t *body_json(const char *body, size_t len);
/* Parse the JSON text of a structured answer into a->json; on failure a row error "invalid_json"
 * whose message says where the JSON broke. a->text must hold the text. */
void answer_take_json(LmAnswer *a);
/* x-should-retry (OpenAI, Anthropic): "false" makes a transient failure final for the row, "true"
 * makes an ordinary row error (bad_request) transient. */
void wire_should_retry(const char *headers, LmAnswer *a);
/* Status codes that are retried with backoff whatever the body says. */
int status_transient(long status);

#endif
