/* runtime.h: the provider runtime's contracts: resolved models, model requests and answers, the
 * provider adapters (one per wire protocol) and the scheduler that sends requests over libcurl.
 *
 *   executor ──LmRequest──► scheduler ──(adapter builds HttpRequest)──► libcurl multi ──► provider
 *            ◄──LmAnswer───           ◄──(adapter parses the HTTP answer into an LmAnswer)──
 *
 * Nothing here knows FQL syntax; nothing above the scheduler knows HTTP.
 * Ownership: an LmRequest handed to sched_submit belongs to the scheduler until its callback has
 * run (the callback gets it back, borrowed); an LmAnswer passed to a callback is borrowed for the
 * duration of the call (copy what you keep). Every *_free is NULL-safe.
 * Secrets: LmModel.api_key is never printed, logged, put in an error message or a cache key.
 */
#ifndef FQL_RUNTIME_H
#define FQL_RUNTIME_H

#include <stdint.h>
#include <jansson.h>
#include "util.h"

/* ---- models ---- */

typedef enum { PROV_OPENAI, PROV_ANTHROPIC, PROV_GEMINI, PROV_VERTEX, PROV_OPENROUTER, PROV_COHERE } ProviderKind;

/* A declared alias with every option resolved (catalog defaults, environment, script options). */
typedef struct LmModel {
    char *alias;                 /* "fast" */
    ProviderKind provider;
    const char *provider_name;   /* "openai" ... (static) */
    char *model_name;            /* "gpt-4o-mini" */
    int embedding;               /* declared with `embedding model` */
    char *base_url;              /* e.g. "https://api.openai.com/v1" (OpenAI, OpenRouter: with /v1 or /api/v1; others: host only) */
    char *api_key;               /* secret; NULL when none is needed (local OpenAI-compatible servers) */
    char *api_key_env;           /* the variable it came from, for messages: "OPENAI_API_KEY" */
    char *project, *location;    /* vertex */
    /* limits (0 = not set) */
    double rpm, tpm, input_tpm, output_tpm;
    int max_concurrency;         /* 0 = derived from the limits */
    double timeout_s;            /* per request, default 60 */
    int max_retries;             /* default 6 attempts in all */
    /* generation */
    double temperature;          /* NAN = provider default */
    int max_output_tokens;       /* 0 = catalog default / provider default */
    char *reasoning_effort;
    int dimensions;              /* embeddings; 0 = model default */
    json_t *routing;             /* openrouter `provider` object (from the selected profile), or NULL */
    /* catalog */
    double price_in, price_cached_in, price_out;   /* USD per million tokens; < 0 unknown */
    double price_cache_write;    /* USD per million input tokens written to the provider's prompt cache
                                  * (Anthropic: 1.25x price_in, catalog input_cache_write); < 0: price_in */
    int flex;                    /* `tier: "flex"` (OpenAI): service_tier "flex", the catalog's flex prices,
                                  * "resource unavailable" 429s retried with a longer backoff */
    int64_t context_window;      /* tokens; 0 unknown */
    int structured;              /* 1: answers to a JSON Schema reliably (catalog "structured", or the
                                  * `structured_output:` option): the row-wise operators pack rows by default */
    int logprobs;                /* 1: the provider returns token log probabilities for this model (catalog
                                  * "logprobs", or the `logprobs:` option); reasoning models and Anthropic: 0 */
    int media;                   /* MEDIA_IMAGE | MEDIA_AUDIO bits (media.h) the model takes: catalog "vision"
                                  * and "audio", or the `vision:` / `audio:` options */
    json_t *image_tokens;        /* catalog "image_tokens" of an OpenAI model ({"base","tile"} or {"patch"}), or NULL */
    /* vertex: the OAuth2 access token in use (secret, like api_key) and when it expires (Unix
     * seconds; 0 = unknown, e.g. from GOOGLE_ACCESS_TOKEN). Filled by vertex_access_token. */
    char *access_token;
    double token_expiry;
    /* cost levers (batch.c, route.c) */
    int batch;                   /* `batch: true`: requests go through the provider's Batch API */
    double batch_discount;       /* price factor of batch requests (catalog batch_discount; 0.5) */
    int64_t batch_max_requests;  /* per submitted batch: the provider's limit unless an option lowers it */
    int64_t batch_max_bytes;     /* per input file (OpenAI) / request body (Anthropic) */
    char **fallback; int nfallback;   /* `fallback: [...]`: aliases tried in order for rows that failed */
} LmModel;

void lm_model_free(LmModel *m);

/* Vertex (vertex_auth.c): make m->access_token a valid token, the one the adapter sends:
 * GOOGLE_ACCESS_TOKEN (m->api_key) when set, else a service-account file named by
 * GOOGLE_APPLICATION_CREDENTIALS, whose RS256-signed JWT is exchanged at its token_uri (blocking
 * I/O through the HTTP helper, only when no cached token is valid for 5 more minutes). Called
 * before requests are built, never by an adapter.
 * Not const: the token is cached in m. 0 ok (and *token = a copy the caller frees, when token is
 * not NULL); -1 with *err (xasprintf'd; never contains a secret). */
int vertex_access_token(LmModel *m, char **token, char **err);

/* ---- requests and answers ---- */

typedef enum { LM_CHAT, LM_EMBED } LmKind;

/* A medium sent with the user text of an LM_CHAT request: base64 of the bytes. An image
 * (image/png, image/jpeg, ...) for vision models, or audio (audio/wav, audio/mpeg) for models that
 * take it (media.c prepares both). tokens: the input tokens it is estimated to cost (0 unknown). */
typedef struct LmImage { char *mime_type; char *base64; int64_t tokens; } LmImage;

typedef struct LmRequest {
    LmKind kind;
    char *system;                /* instructions, or NULL */
    char *user;                  /* the rendered prompt (LM_CHAT) */
    json_t *schema;              /* JSON Schema of a structured answer (an object), or NULL for text */
    char *schema_name;           /* [A-Za-z0-9_-]{1,64} */
    char **inputs; int ninputs;  /* LM_EMBED: texts, one vector each */
    LmImage *images; int nimages;   /* LM_CHAT: images after the user text, in order (owned) */
    int max_output_tokens;       /* 0 = the model's */
    int out_hint;                /* the answer's expected output tokens from its shape (semop_output_tokens; a
                                  * pack: the sum of its rows'), 0 unknown. With no max_output_tokens set (here
                                  * or on the model), the scheduler sends a tight ceiling derived from it and
                                  * from the answers so far (sched.c, "Output ceilings"); not part of the cache key */
    double temperature;          /* NAN = the model's */
    int logprobs;                /* 1: ask for the answer's token log probabilities (OpenAI-compatible
                                  * `logprobs`, Gemini `responseLogprobs`); part of the body, so of the
                                  * cache key. Adapters of providers without them ignore it. */
    /* bookkeeping for the scheduler */
    int64_t est_input_tokens;    /* estimate used for the TPM reservation */
    int attempts;                /* sends so far (rate-limit 429s not counted) */
} LmRequest;

LmRequest *lm_request_new(LmKind kind);
void       lm_request_free(LmRequest *r);
LmRequest *lm_request_copy(const LmRequest *r);   /* a deep copy, attempts reset */

typedef enum {
    LM_OK,             /* an answer */
    LM_RETRY,          /* transient: 408/409/5xx/529/timeout/reset: retry with backoff */
    LM_RATE_LIMITED,   /* 429 rate limit: wait (retry_after_s if known), slow down, retry; not an attempt */
    LM_ROW_ERROR,      /* this request can never succeed: context window, request too large, refusal, content filter, invalid answer */
    LM_FATAL           /* stop the statement: bad key, unknown model, quota/credits exhausted */
} LmOutcome;

/* One generated token of an answer and its natural log probability (<= 0). */
typedef struct LmTokenProb { char *text; double logprob; } LmTokenProb;

typedef struct LmAnswer {
    LmOutcome outcome;
    char *text;                  /* LM_CHAT: the answer text (for structured answers, the JSON text) */
    json_t *json;                /* LM_CHAT with schema: the parsed object (not yet validated against the type) */
    float *vectors; int nvec, dim;   /* LM_EMBED: nvec * dim floats, in input order */
    /* LM_CHAT asked with logprobs: the tokens of text, in order (their texts concatenated spell
     * the answer), owned; NULL/0 when the provider gave none. Stored with the answer in the
     * response cache (state.c), so a cache hit has them too. */
    LmTokenProb *tokens; int ntokens;
    /* input_tokens counts every input token; cached_input_tokens of them were read from the
     * provider's prompt cache, cache_write_tokens written to it (Anthropic's cache_creation_input_tokens) */
    int64_t input_tokens, cached_input_tokens, output_tokens, reasoning_tokens, cache_write_tokens;
    double cost_usd;             /* reported by the provider (OpenRouter), else < 0 */
    double retry_after_s;        /* server's wait for LM_RATE_LIMITED / LM_RETRY, else < 0 */
    /* what the server says is left (x-ratelimit-remaining-*, anthropic-ratelimit-*); < 0 unknown */
    double remaining_requests, remaining_tokens;
    char *error_kind;            /* short: "rate_limit", "context_window", "refusal", "auth", "quota", "server_error", ... */
    char *error_message;         /* the provider's message (never contains the key) */
    char *upstream;              /* OpenRouter: which provider answered */
    long http_status;            /* 0 for a transport error */
    int from_cache;
    /* timing, set by the scheduler when the answer came over HTTP (timed = 1; else unknown):
     * latency_ms from sending the final attempt to its answer (the provider's time), queue_ms from
     * the request's submission to that send (waiting in FQL: pacing, in-flight cap, backoffs) */
    int timed;
    double latency_ms, queue_ms;
    struct LmModel *answered_by; /* a fallback alias that gave this answer (route.c); NULL: the alias asked */
} LmAnswer;

void lm_answer_clear(LmAnswer *a);   /* frees the contents, zeroes it */
/* A copy of the n tokens t (NULL when n == 0), to own. */
LmTokenProb *lm_tokens_copy(const LmTokenProb *t, int n);
/* Append a token (text copied) to a->tokens. */
void lm_answer_add_token(LmAnswer *a, const char *text, double logprob);
/* USD of an answer: its tokens at m's catalog prices (input, cached input, cache writes, output); for a model
 * with batch: true the Batch API's discounted price that batch.c set in cost_usd; for a model
 * without prices the provider's own figure (OpenRouter's usage.cost); -1 when unknown. */
double lm_answer_cost(const LmModel *m, const LmAnswer *a);

/* ---- provider adapters (provider_*.c): pure functions, no I/O ---- */

typedef struct HttpRequest {
    char *url;
    const char *method;          /* "GET" or "POST" */
    char **headers; int nheaders;   /* "Name: value" */
    char *body;                  /* NULL for GET */
} HttpRequest;

void http_request_free(HttpRequest *h);

/* Build the HTTP request for r. 0 ok; -1 with *err (xasprintf'd) for a request that cannot be sent. */
int provider_build(const LmModel *m, const LmRequest *r, HttpRequest *out, char **err);
/* The cheapest authenticated call, to check a key (GET /v1/models, /api/v1/key, ...). */
int provider_build_key_check(const LmModel *m, HttpRequest *out, char **err);
/* Classify and parse an HTTP answer (status 0 = transport error, described in body).
 * headers is the raw header block ("Name: value\r\n..."). Fills out (zeroed first). */
void provider_parse(const LmModel *m, const LmRequest *r, long status, const char *headers,
                    const char *body, size_t body_len, LmAnswer *out);

/* ---- the scheduler (sched.c, ratelimit.c) ---- */

/* libcurl's global setup, once per process (io/remote_http.c; declared in http.h too): the
 * scheduler calls it before it makes its multi handle. */
void http_global_init(void);

typedef struct Scheduler Scheduler;
/* Called once per submitted request, on the thread that runs sched_run, when the request has its
 * final answer (ok, row error after retries, or fatal). The request is borrowed. */
typedef void (*SchedDone)(void *ud, LmRequest *req, const LmAnswer *ans);

Scheduler *sched_new(void);
void       sched_free(Scheduler *s);
/* Register a model (borrowed; must outlive the scheduler's use of it). */
void       sched_add_model(Scheduler *s, LmModel *m);
/* Queue a request (consumed) for model m. */
void       sched_submit(Scheduler *s, LmModel *m, LmRequest *req, SchedDone done, void *ud);
/* Send everything queued, pacing each model under its limits, retrying as runtime.md says, until no
 * work is left. Returns 0, or -1 after a fatal answer (then the remaining requests are completed
 * with that fatal answer and err says which alias failed and what to do). */
int        sched_run(Scheduler *s, fql_error *err);
/* Like sched_run, but returns (0) as soon as stop(ud) is true, leaving the other requests queued or
 * in flight for a later call: this is how semantic stages wait for their own rows while the work of
 * other stages keeps going. stop is checked after each batch of completions. */
int        sched_run_until(Scheduler *s, int (*stop)(void *ud), void *ud, fql_error *err);
/* Ask sched_run to stop soon (from a signal handler or another thread): queued requests are
 * completed as failed with kind "cancelled". */
void       sched_cancel(Scheduler *s);
/* Share the limits of every model through Redis (shared.h; c borrowed, NULL: local limits only).
 * fallback_local: when Redis is lost, pace at 1/N of each limit locally with a warning instead of
 * stopping with an error. */
struct SharedConn;
void       sched_set_shared(Scheduler *s, struct SharedConn *c, int fallback_local);
/* Budgets over time (budget.c): before each send the scheduler asks afford with the request's
 * estimated cost (its input estimate and output ceiling at the model's prices); 0: the amount is
 * held, -1: it cannot be afforded, and the statement stops with *msg (xasprintf'd) as a fatal
 * answer of kind "budget" (nothing more is sent; the transfers in flight are waited for). After
 * each transfer (and for every answer counted by sched_account) spent releases what was held and
 * records the answer's cost (0 when unknown). NULL b: no budget. b and ud are borrowed. */
typedef struct SchedBudget {
    int  (*afford)(void *ud, const LmModel *m, double usd, char **msg);
    void (*spent)(void *ud, const LmModel *m, double held, double usd);
} SchedBudget;
void       sched_set_budget(Scheduler *s, const SchedBudget *b, void *ud);
/* Forget a cancel that arrived while no sched_run was running (a new statement starts). */
void       sched_clear_cancel(Scheduler *s);

typedef struct SchedStats {
    int64_t requests;              /* HTTP sends, retries and libcurl's own resends included */
    int64_t sent;                  /* requests sent over HTTP at least once (or in a batch) */
    int64_t retries, rate_limited, failures;
    int64_t input_tokens, cached_input_tokens, output_tokens, reasoning_tokens, cache_write_tokens;
    double cost_usd;
    double latency_ms_sum; int64_t latency_n;
    double queue_ms_sum; int64_t queue_n;   /* queue_ms of answers that came over HTTP */
    double *latencies; int nlat, caplat;   /* for p95 */
} SchedStats;
/* Cumulative statistics of model m since the scheduler was made (borrowed). */
const SchedStats *sched_stats(Scheduler *s, const LmModel *m);
/* Count an answer obtained outside the scheduler (the Batch API) in m's statistics: a request,
 * its usage and its cost (a->cost_usd when set, else the catalog price). */
void       sched_account(Scheduler *s, LmModel *m, const LmAnswer *a);


/* Token bucket (ratelimit.c), exposed for unit tests. Refills continuously at rate per second up
 * to capacity. */
typedef struct Bucket { double rate, capacity, level, last; } Bucket;
void   bucket_init(Bucket *b, double per_minute, double now);
int    bucket_take(Bucket *b, double amount, double now);        /* 1 if taken */
double bucket_wait(const Bucket *b, double amount, double now);  /* seconds until amount is available */
void   bucket_give(Bucket *b, double amount, double now);        /* refund (capped at capacity) */
/* Backoff with full jitter: uniform in [0, min(cap, base * 2^attempt)]; u in [0,1). */
double backoff_delay(int attempt, double base, double cap, double u);

#endif
