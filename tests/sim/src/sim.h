/*
 * sim.h - internal header of fql-sim, the provider simulator.
 *
 * fql-sim is an HTTP server on 127.0.0.1 that answers like OpenAI, Anthropic, Gemini/Vertex and
 * OpenRouter (see shared/design/providers.md) with deterministic answers, configurable limits,
 * latency and faults. Modules:
 *   sim_main.c       CLI, libmicrohttpd daemon, delayed answers (timer thread), routing
 *   sim_util.c       buffers, hashing, token counting, time formats, base64url, forms
 *   sim_config.c     the JSON configuration and the built-in model table
 *   sim_state.c      rate-limit windows, quotas, statistics, request log, issued tokens
 *   sim_answer.c     deterministic text, structured (schema-driven) and embedding answers
 *   sim_facts.c      facts mode: known texts' properties that structured answers follow
 *   sim_openai.c     OpenAI chat/embeddings/models and the Batch API (+ OpenRouter chat)
 *   sim_anthropic.c  Anthropic messages, count_tokens, models, Message Batches
 *   sim_gemini.c     Gemini and Vertex generateContent, embeddings, models, OAuth token endpoint
 *   sim_cohere.c     Cohere embed (v2 and v1) and the key check
 *
 * Ownership: functions returning char * or json_t * return a new reference the caller frees
 * (free / json_decref) unless the comment says "borrowed". A SimResp owns its body and headers.
 * Shared mutable state (config, windows, stats, batches) lives behind sim_state's mutexes.
 */
#ifndef FQL_SIM_H
#define FQL_SIM_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

/* ---- providers and faults ---- */
typedef enum { SIM_OPENAI, SIM_ANTHROPIC, SIM_GEMINI, SIM_VERTEX, SIM_OPENROUTER, SIM_CONTROL,
               SIM_COHERE /* after SIM_CONTROL: the per-provider fallback tables end there */ } SimProvider;

typedef enum {
    SIM_FAULT_NONE = -1,
    SIM_FAULT_500, SIM_FAULT_502, SIM_FAULT_503, SIM_FAULT_529, SIM_FAULT_RESET, SIM_FAULT_HANG,
    SIM_FAULT_TRUNCATED, SIM_FAULT_BAD_SCHEMA, SIM_FAULT_REFUSAL, SIM_FAULT_429,
    /* transport faults applied by sim_main.c to a 200 answer after the provider handler ran */
    SIM_FAULT_429_BARE, SIM_FAULT_REDIRECT, SIM_FAULT_HUGE,
    SIM_FAULT_N
} SimFault;

/* What the transport does with a response. */
typedef enum { SIM_ACT_SEND, SIM_ACT_RESET, SIM_ACT_HANG, SIM_ACT_HUGE } SimAction;   /* HUGE: status and headers, then huge_mb MB of body */

const char *sim_provider_name(SimProvider p);
const char *sim_fault_name(SimFault f);
SimFault sim_fault_from_name(const char *s);

/* ---- growable byte buffer ---- */
typedef struct SimBuf { char *data; size_t len, cap; } SimBuf;
void sim_buf_add(SimBuf *b, const void *p, size_t n);
void sim_buf_puts(SimBuf *b, const char *s);
void sim_buf_printf(SimBuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void sim_buf_free(SimBuf *b);

/* ---- a response under construction ---- */
#define SIM_MAX_HEADERS 24
typedef struct SimResp {
    int status;
    char *body;                 /* owned, malloc'd */
    size_t len;
    char *hname[SIM_MAX_HEADERS], *hvalue[SIM_MAX_HEADERS];   /* owned */
    int nhdr;
    const char *ctype;          /* static string; default application/json */
    SimAction action;
    double delay_s;             /* simulated latency before the answer */
} SimResp;

void sim_resp_header(SimResp *r, const char *name, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Sets status and body from a JSON value (consumed). */
void sim_resp_json(SimResp *r, int status, json_t *body);
/* Sets status and a raw body (copied). */
void sim_resp_raw(SimResp *r, int status, const char *ctype, const char *body, size_t len);
void sim_resp_clear(SimResp *r);

/* ---- one API call as the provider modules see it ---- */
typedef struct SimCall {
    SimProvider provider;
    const char *method;         /* borrowed */
    const char *path;           /* borrowed, without query */
    const char *body;           /* borrowed request body */
    size_t body_len;
    const char *key;            /* borrowed API key or token; NULL when absent */
    const char *fault_hdr;      /* borrowed x-sim-fault header or NULL */
    const char *host;           /* borrowed Host header or NULL */
    const char *ctype;          /* borrowed Content-Type or NULL */
    const char *batch_delay_hdr; /* borrowed x-sim-batch-delay-ms header or NULL (batch creation) */
    int batch;                  /* 1 inside a batch: no per-minute limits (the quota counts), no random faults, no latency */
    SimFault drawn;             /* set by sim_draw_fault: the transport faults are applied after the handler */
    /* filled by the handler for logging and statistics */
    char endpoint[48];
    char model[128];
    long in_tokens, out_tokens;
    SimResp *resp;
} SimCall;

/* ---- util ---- */
uint64_t sim_hash(const void *p, size_t n, uint64_t seed);
uint64_t sim_hash_str(const char *s, uint64_t seed);
uint64_t sim_mix(uint64_t x);
long sim_tokens(const char *s);          /* ceil(bytes/4) */
double sim_now_mono(void);               /* seconds, monotonic */
double sim_now_real(void);               /* seconds since the epoch */
char *sim_go_duration(double s);         /* "1s", "12ms", "6m0s" */
char *sim_rfc3339(double epoch);         /* "2024-01-02T03:04:05Z" */
char *sim_rfc3339_ms(double epoch);
char *sim_seconds_str(double s);         /* "1.5s" (Gemini retryDelay) */
unsigned char *sim_b64url_decode(const char *s, size_t n, size_t *out_len);
char *sim_form_value(const char *body, const char *name);   /* urlencoded form field, decoded */
char *sim_new_id(const char *prefix);    /* prefix + 24 hex chars, unique */
double sim_rand01(void);                 /* thread-local uniform [0,1) */
char *sim_key_fingerprint(const char *key);   /* 8 hex chars of SHA-256, or "-" */
int sim_path_match(const char *path, const char *prefix, const char *suffix, char *mid, size_t midsz);

/* ---- configuration (sim_config.c) ---- */
#define SIM_MAX_RULES 8
typedef struct SimModelCfg {
    double rpm, tpm, input_tpm, output_tpm;   /* 0 = unlimited */
    double latency_ms, jitter_ms, output_tps;
    double fault[SIM_FAULT_N];
    long context_window;                      /* 0 = the model table's */
    long max_output;                          /* 0 = the model table's */
    long quota_requests, quota_tokens;        /* 0 = no quota */
    int embedding_dim;                        /* 0 = the model table's */
    long cache_min_tokens;                    /* Anthropic prompt caching: the shortest cacheable prefix; 0 = the model's */
    long flex_unavailable_n;                  /* OpenAI flex: each distinct request is refused (429 resource unavailable) this many times */
    double flex_unavailable;                  /* ... or refused with this probability */
    /* fault_rules: a request whose user text contains `contains` gets `fault` (first match) */
    struct { char contains[96]; SimFault fault; } rule[SIM_MAX_RULES];
    int nrules;
} SimModelCfg;

typedef struct SimModelInfo {
    const char *id;
    SimProvider provider;
    long context_window, max_output;
    int embedding_dim;                        /* 0 for chat models */
    double price_in, price_out;               /* USD per million tokens */
} SimModelInfo;

int sim_config_init(const char *file, json_t *flags_default, char *err, size_t errsz);
/* Merges (or replaces) the configuration with obj (borrowed). 0 on success, else fills err. */
int sim_config_update(json_t *obj, int replace, char *err, size_t errsz);
json_t *sim_config_json(void);           /* a copy of the current configuration */
void sim_config_model(const char *model, SimModelCfg *out);
double sim_config_number(const char *key, double dflt);
char *sim_config_string(const char *key); /* malloc'd or NULL */
const SimModelInfo *sim_model_info(const char *model, SimProvider p);   /* never NULL */
const SimModelInfo *sim_model_table(int *n);
void sim_config_free(void);

/* ---- state (sim_state.c) ---- */
typedef enum { SIM_LIM_OK, SIM_LIM_RPM, SIM_LIM_TPM, SIM_LIM_ITPM, SIM_LIM_OTPM, SIM_LIM_TOO_LARGE } SimLimit;

/* Rate-limit figures for the x-ratelimit-* / anthropic-ratelimit-* headers. */
typedef struct SimRate {
    double lim_req, lim_tok, lim_in, lim_out;        /* displayed limits */
    double rem_req, rem_tok, rem_in, rem_out;
    double reset_req, reset_tok, reset_in, reset_out; /* seconds */
    double retry_after;                               /* seconds, when limited */
    double used;                                      /* the limited quantity's current use */
    double requested;                                 /* what this request asked for */
} SimRate;

void sim_state_init(void);
void sim_state_free(void);
/* Admits one request of tokens (in + out) against the model's limits; fills rate. */
SimLimit sim_admit(const char *model, SimProvider p, const SimModelCfg *cfg, long in_tok, long out_tok,
                   SimRate *rate);
/* Admits one line of a batch: never refused by the per-minute limits, not entered in their
 * windows, counted towards the quota. Always SIM_LIM_OK. */
SimLimit sim_admit_batch(const char *model, SimProvider p, const SimModelCfg *cfg, long in_tok, long out_tok,
                         SimRate *rate);
/* Displayed rate figures without admitting (for answers that were not rate checked). */
void sim_rate_peek(const char *model, const SimModelCfg *cfg, SimRate *rate);
/* 1 when the model's quota (requests or tokens) is exhausted. */
int sim_quota_exhausted(const char *model, const SimModelCfg *cfg);
/* Records a finished call's status and tokens in the per-model statistics. */
void sim_record(const char *model, SimProvider p, int status, long in_tok, long out_tok);
json_t *sim_stats_json(void);
void sim_state_reset(void);
void sim_log_open(const char *file);
void sim_log_call(const SimCall *c, int status, double latency_s);
/* OpenRouter credit accounting (USD). */
int sim_credits_exhausted(void);
void sim_credits_spend(double usd);
double sim_credits_used(void);
/* OAuth access tokens issued by the token endpoint. */
char *sim_token_issue(double ttl);
int sim_token_valid(const char *tok);

/* ---- answers (sim_answer.c) ---- */
typedef struct SimText {
    SimBuf all;     /* every message's text, joined by newlines */
    SimBuf user;    /* user messages' text, joined (what structured answers look at) */
    long tokens;    /* prompt tokens: 3 + sum over messages of (4 + ceil(bytes/4)) + 85 per image */
    int nmsg;
    SimBuf images;  /* one "Image K: ..." (or "Audio K: ...") line per media part, in order */
    int nimages;
    SimBuf media;   /* " sha256:HEX" of each media part not yet in a user text (sim_text_add appends them) */
} SimText;
/* Adds an audio part (input_audio data, or inline audio): like an image, counted and hashed. 0, or
 * -1 with *why (static text) when the data is not base64. */
int sim_text_add_audio(SimText *t, const char *mime, const char *data, const char **why);
/* Adds an image part: base64 (or base64url) data of a mime type. 0, or -1 with *why (static text)
 * when the data is not base64. A NULL data (an image given by URL) is described by url's hash. */
int sim_text_add_image(SimText *t, const char *mime, const char *data, const char *url, const char **why);
/* Adds one message's text (borrowed) to t; is_user marks user turns. */
void sim_text_add(SimText *t, const char *text, int is_user);
/* Adds the per-request overhead once all messages are in. */
void sim_text_finish(SimText *t);
const char *sim_text_user(const SimText *t);   /* borrowed: user text, or all text if none */
void sim_text_free(SimText *t);
char *sim_answer_text(const SimText *t, int variant);
/* A JSON value matching schema (borrowed) for the user text, asked of model (its error rate in
 * facts mode; may be NULL); broken=1 yields one that violates it. */
json_t *sim_answer_structured(json_t *schema, const char *text, const char *model, int broken);
/* The tokens of answer content (as sent) to request text with log probabilities: a new array of
 * {"token", "logprob"} in order, spelling content. For a structured answer to schema (NULL for
 * text), each value's probability is drawn lower when it differs from the error-free answer (facts
 * mode: a wrong answer). */
json_t *sim_answer_tokens(json_t *schema, const char *text, const char *model, const char *content);
/* A unit vector of dim floats for text. */
json_t *sim_embedding(const char *text, int dim);
json_t *sim_embedding_b64(const char *text, int dim);
void sim_embedding_vec(const char *text, int dim, double *v);
char *sim_refusal_text(void);

/* ---- facts mode (sim_facts.c) ---- */
typedef struct SimFacts SimFacts;
typedef struct SimFactMatch { int fact; size_t pos, len; } SimFactMatch;
/* Sets the facts from the configuration's "facts" value (borrowed; null = off, a string = a file,
 * an object = the document). 0, or -1 with err filled and the facts unchanged. */
int sim_facts_set(json_t *spec, char *err, size_t errsz);
SimFacts *sim_facts_get(void);            /* a reference, or NULL when facts mode is off */
void sim_facts_put(SimFacts *f);          /* releases it (NULL-safe) */
void sim_facts_free(void);
/* The occurrences of fact texts in text, left to right, not overlapping; returns how many (<= max). */
int sim_facts_find(const SimFacts *f, const char *text, SimFactMatch *out, int max);
json_t *sim_facts_props(const SimFacts *f, int i);       /* borrowed */
int sim_facts_count(const SimFacts *f);                  /* texts known (0 for NULL) */
const char *sim_facts_text(const SimFacts *f, int i);    /* borrowed */
double sim_facts_error_rate(const SimFacts *f, const char *model);

/* ---- provider handlers: each fills c->resp ---- */
void sim_openai_handle(SimCall *c);
void sim_openrouter_handle(SimCall *c);
void sim_anthropic_handle(SimCall *c);
void sim_gemini_handle(SimCall *c);
void sim_oauth_handle(SimCall *c);
void sim_cohere_handle(SimCall *c);
/* Cohere's 401 for a missing or bad key. */
void sim_cohere_bad_key(SimCall *c, int missing);

/* Shared pieces of the providers. */
json_t *sim_openai_error(const char *msg, const char *type, const char *param, const char *code);
json_t *sim_anthropic_error(const char *type, const char *msg);
json_t *sim_gemini_error(int code, const char *status, const char *msg);
void sim_openai_chat_core(SimCall *c, json_t *req);        /* also used by batches */
void sim_anthropic_message_core(SimCall *c, json_t *req);  /* also used by batches */
/* Draws a fault for cfg, honouring the x-sim-fault header and the fault rules (text: the
 * request's user text, or NULL). */
SimFault sim_draw_fault(SimCall *c, const SimModelCfg *cfg, const char *text);
/* Batches: the delay of a batch being created (x-sim-batch-delay-ms, else batch_delay_ms), in
 * seconds, and the count of batches created and the requests in them (GET /sim/stats). */
double sim_batch_delay(const SimCall *c);
void sim_batch_created(long nrequests);
/* Latency for an answer of out_tok tokens under cfg. */
double sim_latency(const SimModelCfg *cfg, long out_tok);
/* Truncates the response body in place to make broken JSON. */
void sim_truncate_body(SimResp *r);
/* OpenRouter routing: picks the upstream for the request's "provider" object (borrowed, may be
 * NULL). Returns the upstream's display name (static) and its price factor, or NULL with err. */
const char *sim_openrouter_route(json_t *prov, double *price_factor, char *err, size_t errsz);
/* Adds OpenAI's x-ratelimit-* headers for rate. */
void sim_openai_rate_headers(SimResp *r, const SimRate *rate);
/* Adds Anthropic's anthropic-ratelimit-* headers for rate. */
void sim_anthropic_rate_headers(SimResp *r, const SimRate *rate);
/* Truncates s to at most max bytes on a UTF-8 boundary; returns the new length. */
size_t sim_utf8_cut(const char *s, size_t len, size_t max);
/* Forget stored files and batches (POST /sim/reset). */
void sim_openai_reset(void);
void sim_anthropic_reset(void);
void sim_gemini_reset(void);
/* Serialisation flags for every JSON answer. */
#define SIM_JSON_FLAGS (JSON_COMPACT | JSON_REAL_PRECISION(10))

#endif
