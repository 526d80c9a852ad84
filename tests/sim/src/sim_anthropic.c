/*
 * sim_anthropic.c - the Anthropic surface of fql-sim: /v1/messages (text and forced tool use),
 * /v1/messages/count_tokens, /v1/models and Message Batches. Shapes follow providers.md.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "sim.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Returns Anthropic's error body {"type":"error","error":{type,message}} (new reference). */
json_t *sim_anthropic_error(const char *type, const char *msg)
{
    return json_pack("{s:s,s:{s:s,s:s}}", "type", "error", "error", "type", type, "message", msg);
}

/* Answers an Anthropic error with a request-id header. */
static void fail(SimCall *c, int status, const char *type, const char *msg)
{
    sim_resp_json(c->resp, status, sim_anthropic_error(type, msg));
    char *rid = sim_new_id("req_");
    sim_resp_header(c->resp, "request-id", "%s", rid);
    free(rid);
}

/* Adds anthropic-ratelimit-* headers (RFC 3339 reset times). */
void sim_anthropic_rate_headers(SimResp *r, const SimRate *rt)
{
    double now = sim_now_real();
    char *a = sim_rfc3339(now + rt->reset_req), *b = sim_rfc3339(now + rt->reset_in);
    char *c = sim_rfc3339(now + rt->reset_out), *d = sim_rfc3339(now + rt->reset_tok);
    sim_resp_header(r, "anthropic-ratelimit-requests-limit", "%.0f", rt->lim_req);
    sim_resp_header(r, "anthropic-ratelimit-requests-remaining", "%.0f", rt->rem_req);
    sim_resp_header(r, "anthropic-ratelimit-requests-reset", "%s", a);
    sim_resp_header(r, "anthropic-ratelimit-input-tokens-limit", "%.0f", rt->lim_in);
    sim_resp_header(r, "anthropic-ratelimit-input-tokens-remaining", "%.0f", rt->rem_in);
    sim_resp_header(r, "anthropic-ratelimit-input-tokens-reset", "%s", b);
    sim_resp_header(r, "anthropic-ratelimit-output-tokens-limit", "%.0f", rt->lim_out);
    sim_resp_header(r, "anthropic-ratelimit-output-tokens-remaining", "%.0f", rt->rem_out);
    sim_resp_header(r, "anthropic-ratelimit-output-tokens-reset", "%s", c);
    sim_resp_header(r, "anthropic-ratelimit-tokens-limit", "%.0f", rt->lim_tok);
    sim_resp_header(r, "anthropic-ratelimit-tokens-remaining", "%.0f", rt->rem_tok);
    sim_resp_header(r, "anthropic-ratelimit-tokens-reset", "%s", d);
    free(a); free(b); free(c); free(d);
}

/* Text of a content value: a string or the text blocks of an array (base64 image blocks go to txt,
 * when not NULL); NULL when malformed. */
static char *block_text(json_t *content, SimText *txt)
{
    if (json_is_string(content)) return strdup(json_string_value(content));
    if (!json_is_array(content)) return NULL;
    SimBuf b = {0};
    size_t i;
    json_t *p;
    json_array_foreach(content, i, p) {
        const char *t = json_string_value(json_object_get(p, "text"));
        if (!t) t = json_string_value(json_object_get(p, "content"));
        if (t) { if (b.len) sim_buf_puts(&b, "\n"); sim_buf_puts(&b, t); }
        const char *type = json_string_value(json_object_get(p, "type"));
        json_t *src = json_object_get(p, "source");
        if (txt && type && !strcmp(type, "image")) {
            const char *mt = json_string_value(json_object_get(src, "media_type"));
            const char *data = json_string_value(json_object_get(src, "data"));
            const char *why = "source: expected type base64 with media_type image/jpeg, image/png, image/gif or image/webp";
            int ok = mt && data && (!strcmp(mt, "image/jpeg") || !strcmp(mt, "image/png") || !strcmp(mt, "image/gif") || !strcmp(mt, "image/webp"));
            if (!ok || sim_text_add_image(txt, mt, data, NULL, &why)) { sim_buf_free(&b); return NULL; }
        }
    }
    if (!b.data) sim_buf_puts(&b, "");
    return b.data;
}

/* Builds the prompt text of req; returns 0, or -1 after answering 400. */
static int build_text(SimCall *c, json_t *req, SimText *txt)
{
    json_t *msgs = json_object_get(req, "messages");
    if (!json_is_array(msgs)) { fail(c, 400, "invalid_request_error", "messages: Field required"); return -1; }
    if (json_array_size(msgs) == 0) { fail(c, 400, "invalid_request_error", "messages: at least one message is required"); return -1; }
    json_t *sys = json_object_get(req, "system");
    if (sys && !json_is_null(sys)) {
        char *t = block_text(sys, NULL);
        if (!t) { fail(c, 400, "invalid_request_error", "system: Input should be a valid string or list of text blocks"); return -1; }
        sim_text_add(txt, t, 0);
        free(t);
    }
    size_t i;
    json_t *m;
    json_array_foreach(msgs, i, m) {
        const char *role = json_string_value(json_object_get(m, "role"));
        char *t = block_text(json_object_get(m, "content"), txt);
        if (!role || (strcmp(role, "user") != 0 && strcmp(role, "assistant") != 0) || !t) {
            char msg[120];
            snprintf(msg, sizeof msg, "messages.%zu: each message needs role 'user' or 'assistant' and content", i);
            fail(c, 400, "invalid_request_error", msg);
            free(t);
            return -1;
        }
        sim_text_add(txt, t, strcmp(role, "user") == 0);
        free(t);
    }
    sim_text_finish(txt);
    return 0;
}

/* ---- prompt caching ----
 * A block marked with cache_control {"type":"ephemeral"} (a tool, a system block, a message's
 * content block) ends a cacheable prefix: everything before it in the order tools, system,
 * messages. The cache maps a prefix's hash (model included) to its token count, for 5 minutes
 * (or ttl "1h") after its last use. A request reads the longest cached prefix among its
 * breakpoints (cache_read_input_tokens) and writes the prefix up to its last breakpoint when that
 * is longer (cache_creation_input_tokens); a prefix shorter than the model's minimum cacheable
 * length is neither read nor written. Tool definitions count no tokens here (as in the
 * simulator's prompt-token count), so a prefix is measured by its system and message text. */

typedef struct PEntry { uint64_t hash; long tokens; double expires; } PEntry;
static pthread_mutex_t pc_mu = PTHREAD_MUTEX_INITIALIZER;
static PEntry *pcache;
static int npc, cappc;

/* The model's minimum cacheable prefix (Anthropic's prompt-caching guide): 4,096 tokens for
 * Haiku 4.5 and Opus 4.5 and later, 2,048 for Haiku 3 and 3.5 and Sonnet 4.6, else 1,024; the
 * model's cache_min_tokens setting overrides it. */
static long cache_min(const char *model, const SimModelCfg *cfg)
{
    if (cfg->cache_min_tokens > 0) return cfg->cache_min_tokens;
    if (strstr(model, "haiku-4") || strstr(model, "opus-4-5") || strstr(model, "opus-4-6")) return 4096;
    if (strstr(model, "haiku") || strstr(model, "sonnet-4-6")) return 2048;
    return 1024;
}

/* The TTL in seconds of a cache_control object, or 0 when it is not a valid breakpoint. */
static double cc_ttl(json_t *cc)
{
    const char *t = json_string_value(json_object_get(cc, "type"));
    if (!t || strcmp(t, "ephemeral") != 0) return 0;
    const char *ttl = json_string_value(json_object_get(cc, "ttl"));
    return ttl && strcmp(ttl, "1h") == 0 ? 3600 : 300;
}

typedef struct Breakpoint { uint64_t hash; long tokens; double ttl; } Breakpoint;

/* The breakpoints of req, in order (at most 4, as Anthropic allows): each prefix's hash and tokens.
 * -1 with *why when a cache_control is malformed or there are more than 4. */
static int breakpoints(json_t *req, const char *model, Breakpoint *bp, const char **why)
{
    int n = 0;
    uint64_t h = sim_hash_str(model, 77);
    long tokens = 3;          /* the request's overhead, as in sim_text_finish */
    size_t i, j;
    json_t *t, *b;
    json_array_foreach(json_object_get(req, "tools"), i, t) {
        char *s = json_dumps(t, JSON_COMPACT | JSON_SORT_KEYS);
        if (s) { h = sim_hash(s, strlen(s), h); free(s); }
        json_t *cc = json_object_get(t, "cache_control");
        if (cc) {
            if (!cc_ttl(cc)) { *why = "tools: cache_control.type must be \"ephemeral\""; return -1; }
            if (n == 4) { *why = "A maximum of 4 blocks with cache_control may be provided."; return -1; }
            bp[n++] = (Breakpoint){ h, tokens, cc_ttl(cc) };
        }
    }
    json_t *sys = json_object_get(req, "system");
    size_t sys_bytes = 0;
    if (json_is_string(sys)) {
        const char *s = json_string_value(sys);
        h = sim_hash(s, strlen(s), h);
        tokens += 4 + sim_tokens(s);
    } else if (json_is_array(sys)) {
        json_array_foreach(sys, i, b) {
            const char *s = json_string_value(json_object_get(b, "text"));
            if (!s) s = "";
            h = sim_hash(s, strlen(s), h);
            sys_bytes += strlen(s) + (i ? 1 : 0);
            json_t *cc = json_object_get(b, "cache_control");
            if (cc) {
                if (!cc_ttl(cc)) { *why = "system: cache_control.type must be \"ephemeral\""; return -1; }
                if (n == 4) { *why = "A maximum of 4 blocks with cache_control may be provided."; return -1; }
                bp[n++] = (Breakpoint){ h, tokens + 4 + (long)((sys_bytes + 3) / 4), cc_ttl(cc) };
            }
        }
        if (json_array_size(sys)) tokens += 4 + (long)((sys_bytes + 3) / 4);
    }
    json_array_foreach(json_object_get(req, "messages"), i, t) {
        json_t *content = json_object_get(t, "content");
        size_t bytes = 0;
        if (json_is_string(content)) {
            const char *s = json_string_value(content);
            h = sim_hash(s, strlen(s), h);
            bytes = strlen(s);
        } else {
            json_array_foreach(content, j, b) {
                char *s = json_dumps(b, JSON_COMPACT | JSON_SORT_KEYS);
                const char *txt = json_string_value(json_object_get(b, "text"));
                if (s) { h = sim_hash(s, strlen(s), h); free(s); }
                bytes += (txt ? strlen(txt) : 0) + (j ? 1 : 0);
                json_t *cc = json_object_get(b, "cache_control");
                if (cc) {
                    if (!cc_ttl(cc)) { *why = "messages: cache_control.type must be \"ephemeral\""; return -1; }
                    if (n == 4) { *why = "A maximum of 4 blocks with cache_control may be provided."; return -1; }
                    bp[n++] = (Breakpoint){ h, tokens + 4 + (long)((bytes + 3) / 4), cc_ttl(cc) };
                }
            }
        }
        tokens += 4 + (long)((bytes + 3) / 4);
    }
    return n;
}

/* Looks up and fills the cache for a request's breakpoints; sets *read and *written (tokens). */
static void prompt_cache(const Breakpoint *bp, int n, long min, long *read, long *written)
{
    *read = *written = 0;
    if (n == 0) return;
    double now = sim_now_mono();
    pthread_mutex_lock(&pc_mu);
    int hit = -1;
    for (int k = n - 1; k >= 0 && hit < 0; k--) {
        if (bp[k].tokens < min) continue;
        for (int e = 0; e < npc; e++)
            if (pcache[e].hash == bp[k].hash && pcache[e].expires > now) {
                hit = k;
                pcache[e].expires = now + bp[k].ttl;   /* a read refreshes the entry */
                break;
            }
    }
    if (hit >= 0) *read = bp[hit].tokens;
    for (int k = hit + 1; k < n; k++) {
        if (bp[k].tokens < min) continue;
        int e = 0;
        while (e < npc && pcache[e].expires > now) e++;   /* reuse an expired slot */
        if (e == npc) {
            if (npc == cappc) {
                cappc = cappc ? cappc * 2 : 64;
                pcache = realloc(pcache, (size_t)cappc * sizeof *pcache);
                if (!pcache) abort();
            }
            npc++;
        }
        pcache[e] = (PEntry){ bp[k].hash, bp[k].tokens, now + bp[k].ttl };
    }
    /* what is written is the part of the last cacheable prefix beyond what was read */
    for (int k = n - 1; k > hit; k--)
        if (bp[k].tokens >= min) { *written = bp[k].tokens - *read; break; }
    pthread_mutex_unlock(&pc_mu);
}

/* Serves one message request req (borrowed). Used directly and by batches. */
void sim_anthropic_message_core(SimCall *c, json_t *req)
{
    snprintf(c->endpoint, sizeof c->endpoint, "messages");
    const char *model = json_string_value(json_object_get(req, "model"));
    if (!model || !*model) { fail(c, 400, "invalid_request_error", "model: Field required"); return; }
    snprintf(c->model, sizeof c->model, "%s", model);
    json_t *jmax = json_object_get(req, "max_tokens");
    if (!jmax) { fail(c, 400, "invalid_request_error", "max_tokens: Field required"); return; }
    if (!json_is_integer(jmax) || json_integer_value(jmax) < 1) {
        fail(c, 400, "invalid_request_error", "max_tokens: Input should be a valid integer greater than or equal to 1");
        return;
    }
    if (json_is_true(json_object_get(req, "stream"))) {
        fail(c, 400, "invalid_request_error", "fql-sim does not implement streaming; send stream=false.");
        return;
    }
    long max_out = (long)json_integer_value(jmax);
    SimText txt;
    memset(&txt, 0, sizeof txt);
    if (build_text(c, req, &txt) < 0) { sim_text_free(&txt); return; }
    c->in_tokens = txt.tokens;

    /* forced tool use, or the structured-output beta's output_format */
    json_t *tools = json_object_get(req, "tools"), *tc = json_object_get(req, "tool_choice");
    const char *tct = json_string_value(json_object_get(tc, "type"));
    const char *tool_name = NULL;
    json_t *tool_schema = NULL;
    if (tct && (strcmp(tct, "tool") == 0 || strcmp(tct, "any") == 0)) {
        const char *want = strcmp(tct, "tool") == 0 ? json_string_value(json_object_get(tc, "name")) : NULL;
        size_t i;
        json_t *t;
        json_array_foreach(tools, i, t) {
            const char *nm = json_string_value(json_object_get(t, "name"));
            if (nm && (!want || strcmp(nm, want) == 0)) { tool_name = nm; tool_schema = json_object_get(t, "input_schema"); break; }
        }
        if (!tool_name) {
            char msg[200];
            snprintf(msg, sizeof msg, "tool_choice: tool '%.100s' was not found in tools", want ? want : "");
            fail(c, 400, "invalid_request_error", msg);
            sim_text_free(&txt);
            return;
        }
        if (!json_is_object(tool_schema)) {
            fail(c, 400, "invalid_request_error", "tools.0.input_schema: Field required");
            sim_text_free(&txt);
            return;
        }
    }
    json_t *of = json_object_get(req, "output_format");
    json_t *out_schema = json_is_object(of) ? json_object_get(of, "schema") : NULL;

    SimModelCfg cfg;
    sim_config_model(model, &cfg);
    Breakpoint bp[4];
    const char *why = NULL;
    int nbp = breakpoints(req, model, bp, &why);
    if (nbp < 0) {
        fail(c, 400, "invalid_request_error", why);
        sim_text_free(&txt);
        return;
    }
    const SimModelInfo *info = sim_model_info(model, SIM_ANTHROPIC);
    long ctx = cfg.context_window ? cfg.context_window : info->context_window;
    long maxcap = cfg.max_output ? cfg.max_output : info->max_output;
    char msg[400];
    if (maxcap > 0 && max_out > maxcap) {
        snprintf(msg, sizeof msg, "max_tokens: %ld > %ld, which is the maximum allowed number of output tokens for %.100s",
                 max_out, maxcap, model);
        fail(c, 400, "invalid_request_error", msg);
        sim_text_free(&txt);
        return;
    }
    if (txt.tokens > ctx) {
        snprintf(msg, sizeof msg, "prompt is too long: %ld tokens > %ld maximum", txt.tokens, ctx);
        fail(c, 400, "invalid_request_error", msg);
        sim_text_free(&txt);
        return;
    }
    if (txt.tokens + max_out > ctx) {
        snprintf(msg, sizeof msg, "input length and `max_tokens` exceed context limit: %ld + %ld > %ld, decrease input "
                 "length or `max_tokens` and try again", txt.tokens, max_out, ctx);
        fail(c, 400, "invalid_request_error", msg);
        sim_text_free(&txt);
        return;
    }
    if (sim_quota_exhausted(model, &cfg)) {
        fail(c, 400, "invalid_request_error", "Your credit balance is too low to access the Anthropic API. Please go to "
             "Plans & Billing to upgrade or purchase credits.");
        sim_text_free(&txt);
        return;
    }

    SimFault fault = sim_draw_fault(c, &cfg, sim_text_user(&txt));
    json_t *content = json_array();
    const char *stop = "end_turn";
    long out_tokens = 0;
    if (fault == SIM_FAULT_REFUSAL) {
        stop = "refusal";
    } else if (tool_name) {
        json_t *input = sim_answer_structured(tool_schema, sim_text_user(&txt), c->model, fault == SIM_FAULT_BAD_SCHEMA);
        char *s = json_dumps(input, JSON_COMPACT | JSON_ENCODE_ANY);
        out_tokens = sim_tokens(s) + 10;
        free(s);
        if (out_tokens > max_out) { out_tokens = max_out; stop = "max_tokens"; json_decref(input); input = json_object(); }
        else stop = "tool_use";
        char *id = sim_new_id("toolu_");
        json_array_append_new(content, json_pack("{s:s,s:s,s:s,s:o}", "type", "tool_use", "id", id, "name", tool_name,
                                                 "input", input));
        free(id);
    } else {
        char *text;
        if (out_schema) {
            json_t *v = sim_answer_structured(out_schema, sim_text_user(&txt), c->model, fault == SIM_FAULT_BAD_SCHEMA);
            text = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY | JSON_REAL_PRECISION(10));
            json_decref(v);
        } else {
            text = sim_answer_text(&txt, 0);
        }
        out_tokens = sim_tokens(text);
        if (out_tokens < 1) out_tokens = 1;
        if (out_tokens > max_out) {
            out_tokens = max_out;
            text[sim_utf8_cut(text, strlen(text), (size_t)max_out * 4)] = 0;
            stop = "max_tokens";
        }
        json_t *s = json_string(text);
        json_array_append_new(content, json_pack("{s:s,s:o}", "type", "text", "text", s ? s : json_string("")));
        free(text);
    }
    c->out_tokens = out_tokens;

    SimRate rate;
    SimLimit lim = (c->batch ? sim_admit_batch : sim_admit)(model, SIM_ANTHROPIC, &cfg, txt.tokens, max_out, &rate);
    if (lim == SIM_LIM_OK && fault == SIM_FAULT_429) { lim = SIM_LIM_RPM; rate.retry_after = 1; }
    if (lim != SIM_LIM_OK) {
        const char *what = lim == SIM_LIM_RPM ? "requests" : lim == SIM_LIM_ITPM ? "input tokens"
                         : lim == SIM_LIM_OTPM ? "output tokens" : "tokens";
        double l = lim == SIM_LIM_RPM ? rate.lim_req : lim == SIM_LIM_ITPM ? rate.lim_in
                 : lim == SIM_LIM_OTPM ? rate.lim_out : rate.lim_tok;
        if (lim == SIM_LIM_TOO_LARGE)
            snprintf(msg, sizeof msg, "Request too large: this request (%.0f tokens) exceeds the rate limit for your "
                     "organization (org-sim) of %.0f tokens per minute on its own. Please reduce the prompt length or the "
                     "maximum tokens requested.", rate.requested, rate.used);
        else
            snprintf(msg, sizeof msg, "This request would exceed the rate limit for your organization (org-sim) of %.0f %s "
                     "per minute. For details, refer to: https://docs.claude.com/en/api/rate-limits. You can see the "
                     "response headers for current usage. Please reduce the prompt length or the maximum tokens requested, "
                     "or try again later.", l, what);
        fail(c, 429, "rate_limit_error", msg);
        if (lim != SIM_LIM_TOO_LARGE) {
            sim_resp_header(c->resp, "retry-after", "%.0f", ceil(rate.retry_after));
            sim_resp_header(c->resp, "x-should-retry", "true");
        } else {
            sim_resp_header(c->resp, "x-should-retry", "false");
        }
        c->out_tokens = 0;
        json_decref(content);
    } else if (fault == SIM_FAULT_500 || fault == SIM_FAULT_502 || fault == SIM_FAULT_503 || fault == SIM_FAULT_529) {
        if (fault == SIM_FAULT_500) fail(c, 500, "api_error", "Internal server error");
        else if (fault == SIM_FAULT_502) fail(c, 502, "api_error", "Bad gateway");
        else if (fault == SIM_FAULT_503) fail(c, 503, "api_error", "Service unavailable");
        else fail(c, 529, "overloaded_error", "Overloaded");
        c->out_tokens = 0;
        json_decref(content);
    } else {
        char *id = sim_new_id("msg_sim");
        long cread, cwrite;
        prompt_cache(bp, nbp, cache_min(model, &cfg), &cread, &cwrite);
        if (cread + cwrite > txt.tokens) cwrite = txt.tokens - cread > 0 ? txt.tokens - cread : 0;
        /* input_tokens leaves out what was read from or written to the cache */
        json_t *ans = json_pack("{s:s,s:s,s:s,s:s,s:o,s:s,s:n,s:{s:I,s:I,s:I,s:I,s:s}}", "id", id, "type", "message",
            "role", "assistant", "model", model, "content", content, "stop_reason", stop, "stop_sequence",
            "usage", "input_tokens", (json_int_t)(txt.tokens - cread - cwrite), "output_tokens", (json_int_t)out_tokens,
            "cache_creation_input_tokens", (json_int_t)cwrite, "cache_read_input_tokens", (json_int_t)cread,
            "service_tier", c->batch ? "batch" : "standard");
        free(id);
        sim_resp_json(c->resp, 200, ans);
        char *rid = sim_new_id("req_");
        sim_resp_header(c->resp, "request-id", "%s", rid);
        free(rid);
        if (fault == SIM_FAULT_TRUNCATED) sim_truncate_body(c->resp);
        if (fault == SIM_FAULT_RESET) c->resp->action = SIM_ACT_RESET;
        if (fault == SIM_FAULT_HANG) c->resp->action = SIM_ACT_HANG;
        if (!c->batch) c->resp->delay_s = sim_latency(&cfg, out_tokens);
    }
    sim_anthropic_rate_headers(c->resp, &rate);
    sim_text_free(&txt);
}

/* POST /v1/messages/count_tokens. */
static void count_tokens(SimCall *c, json_t *req)
{
    snprintf(c->endpoint, sizeof c->endpoint, "count_tokens");
    const char *model = json_string_value(json_object_get(req, "model"));
    if (!model) { fail(c, 400, "invalid_request_error", "model: Field required"); return; }
    SimText txt;
    memset(&txt, 0, sizeof txt);
    if (build_text(c, req, &txt) == 0) sim_resp_json(c->resp, 200, json_pack("{s:I}", "input_tokens", (json_int_t)txt.tokens));
    sim_text_free(&txt);
}

/* ---- Message Batches ---- */

typedef struct ABatch {
    char *id;
    json_t *requests;     /* the submitted requests */
    SimBuf results;       /* JSONL once ended */
    double created, created_mono, ended_at, delay;   /* delay: seconds in progress */
    int ended, canceled;
    long succeeded, errored, ncanceled;
} ABatch;

static pthread_mutex_t ab_mu = PTHREAD_MUTEX_INITIALIZER;
static ABatch **abatches;
static int nab, capab;

/* Returns the batch with id (borrowed) or NULL. Called with ab_mu held. */
static ABatch *ab_find(const char *id)
{
    for (int i = 0; i < nab; i++) if (strcmp(abatches[i]->id, id) == 0) return abatches[i];
    return NULL;
}

/* The batch object as GET returns it; host builds results_url. */
static json_t *ab_json(const ABatch *b, const char *host)
{
    char *created = sim_rfc3339(b->created), *expires = sim_rfc3339(b->created + 86400);
    long n = (long)json_array_size(b->requests);
    /* while in progress, requests succeed evenly over the batch's delay (a client shows progress) */
    double part = b->delay > 0 ? (sim_now_mono() - b->created_mono) / b->delay : 1;
    long going = b->ended ? 0 : n - (long)((double)n * (part < 1 ? part : 1));
    json_t *j = json_pack("{s:s,s:s,s:s,s:{s:I,s:I,s:I,s:I,s:I},s:s,s:s,s:n}", "id", b->id, "type", "message_batch",
        "processing_status", b->ended ? "ended" : "in_progress", "request_counts",
        "processing", (json_int_t)going, "succeeded", (json_int_t)(b->ended ? b->succeeded : n - going),
        "errored", (json_int_t)b->errored, "canceled", (json_int_t)b->ncanceled, "expired", (json_int_t)0,
        "created_at", created, "expires_at", expires, "archived_at");
    if (b->ended) {
        char *e = sim_rfc3339(b->ended_at);
        char url[400];
        snprintf(url, sizeof url, "http://%.200s/v1/messages/batches/%.100s/results", host ? host : "127.0.0.1", b->id);
        json_object_set_new(j, "ended_at", json_string(e));
        json_object_set_new(j, "results_url", json_string(url));
        free(e);
    } else {
        json_object_set_new(j, "ended_at", json_null());
        json_object_set_new(j, "results_url", json_null());
    }
    json_object_set_new(j, "cancel_initiated_at", b->canceled ? json_string(created) : json_null());
    free(created);
    free(expires);
    return j;
}

/* Runs every request of b through the message core. Called with ab_mu held. */
static void ab_run(ABatch *b)
{
    size_t i;
    json_t *r;
    json_array_foreach(b->requests, i, r) {
        const char *cid = json_string_value(json_object_get(r, "custom_id"));
        json_t *line;
        if (b->canceled) {
            line = json_pack("{s:s,s:{s:s}}", "custom_id", cid, "result", "type", "canceled");
            b->ncanceled++;
        } else {
            SimResp resp;
            memset(&resp, 0, sizeof resp);
            SimCall sub;
            memset(&sub, 0, sizeof sub);
            sub.provider = SIM_ANTHROPIC;
            sub.batch = 1;
            sub.resp = &resp;
            sim_anthropic_message_core(&sub, json_object_get(r, "params"));
            json_t *body = json_loadb(resp.body ? resp.body : "{}", resp.len, 0, NULL);
            if (!body) body = json_object();
            if (resp.status == 200) {
                line = json_pack("{s:s,s:{s:s,s:o}}", "custom_id", cid, "result", "type", "succeeded", "message", body);
                b->succeeded++;
            } else {
                line = json_pack("{s:s,s:{s:s,s:o}}", "custom_id", cid, "result", "type", "errored", "error", body);
                b->errored++;
            }
            sim_resp_clear(&resp);
        }
        char *s = json_dumps(line, SIM_JSON_FLAGS);
        sim_buf_puts(&b->results, s);
        sim_buf_puts(&b->results, "\n");
        free(s);
        json_decref(line);
    }
    if (!b->results.data) sim_buf_puts(&b->results, "");
    b->ended = 1;
    b->ended_at = sim_now_real();
}

/* POST /v1/messages/batches. */
static void ab_create(SimCall *c, json_t *req)
{
    snprintf(c->endpoint, sizeof c->endpoint, "messages.batches");
    json_t *reqs = json_object_get(req, "requests");
    if (!json_is_array(reqs) || json_array_size(reqs) == 0) {
        fail(c, 400, "invalid_request_error", "requests: Field required (a non-empty list)");
        return;
    }
    if (json_array_size(reqs) > 100000) { fail(c, 400, "invalid_request_error", "requests: at most 100,000 requests"); return; }
    size_t i;
    json_t *r;
    json_array_foreach(reqs, i, r) {
        if (!json_is_string(json_object_get(r, "custom_id")) || !json_is_object(json_object_get(r, "params"))) {
            char msg[120];
            snprintf(msg, sizeof msg, "requests.%zu: custom_id and params are required", i);
            fail(c, 400, "invalid_request_error", msg);
            return;
        }
    }
    ABatch *b = calloc(1, sizeof *b);
    if (!b) abort();
    b->id = sim_new_id("msgbatch_");
    b->requests = json_incref(reqs);
    b->created = sim_now_real();
    b->created_mono = sim_now_mono();
    b->delay = sim_batch_delay(c);
    sim_batch_created((long)json_array_size(reqs));
    pthread_mutex_lock(&ab_mu);
    if (nab == capab) {
        capab = capab ? capab * 2 : 16;
        abatches = realloc(abatches, (size_t)capab * sizeof *abatches);
        if (!abatches) abort();
    }
    abatches[nab++] = b;
    json_t *j = ab_json(b, c->host);
    pthread_mutex_unlock(&ab_mu);
    sim_resp_json(c->resp, 200, j);
}

/* GET /v1/messages/batches/{id}, its /results, and POST .../cancel. */
static void ab_get(SimCall *c, const char *id, int what)
{
    snprintf(c->endpoint, sizeof c->endpoint, what == 1 ? "messages.batches.results" : what == 2 ? "messages.batches.cancel"
                                                                                                 : "messages.batches.get");
    pthread_mutex_lock(&ab_mu);
    ABatch *b = ab_find(id);
    if (!b) {
        pthread_mutex_unlock(&ab_mu);
        fail(c, 404, "not_found_error", "Message batch not found");
        return;
    }
    if (what == 2 && !b->ended) b->canceled = 1;
    if (!b->ended && (b->canceled || sim_now_mono() - b->created_mono >= b->delay)) ab_run(b);
    if (what == 1) {
        if (!b->ended) {
            pthread_mutex_unlock(&ab_mu);
            fail(c, 400, "invalid_request_error", "Batch is still in progress: results are not available yet");
            return;
        }
        sim_resp_raw(c->resp, 200, "application/binary", b->results.data, b->results.len);
    } else {
        sim_resp_json(c->resp, 200, ab_json(b, c->host));
    }
    pthread_mutex_unlock(&ab_mu);
}

/* Forgets every message batch and the prompt cache. */
void sim_anthropic_reset(void)
{
    pthread_mutex_lock(&pc_mu);
    free(pcache);
    pcache = NULL;
    npc = cappc = 0;
    pthread_mutex_unlock(&pc_mu);
    pthread_mutex_lock(&ab_mu);
    for (int i = 0; i < nab; i++) {
        free(abatches[i]->id);
        json_decref(abatches[i]->requests);
        sim_buf_free(&abatches[i]->results);
        free(abatches[i]);
    }
    free(abatches);
    abatches = NULL;
    nab = capab = 0;
    pthread_mutex_unlock(&ab_mu);
}

/* GET /v1/models and /v1/models/{id}. */
static void models(SimCall *c, const char *one)
{
    snprintf(c->endpoint, sizeof c->endpoint, "models");
    int n;
    const SimModelInfo *t = sim_model_table(&n);
    json_t *data = json_array();
    const char *first = NULL, *last = NULL;
    for (int i = 0; i < n; i++) {
        if (t[i].provider != SIM_ANTHROPIC) continue;
        json_t *m = json_pack("{s:s,s:s,s:s,s:s}", "type", "model", "id", t[i].id, "display_name", t[i].id,
                              "created_at", "2025-01-01T00:00:00Z");
        if (one && strcmp(one, t[i].id) == 0) { sim_resp_json(c->resp, 200, m); json_decref(data); return; }
        json_array_append_new(data, m);
        if (!first) first = t[i].id;
        last = t[i].id;
    }
    if (one) {
        json_decref(data);
        char msg[200];
        snprintf(msg, sizeof msg, "model: %.100s", one);
        fail(c, 404, "not_found_error", msg);
        return;
    }
    sim_resp_json(c->resp, 200, json_pack("{s:o,s:b,s:s?,s:s?}", "data", data, "has_more", 0, "first_id", first,
                                          "last_id", last));
}

/* Serves every Anthropic path. */
void sim_anthropic_handle(SimCall *c)
{
    const char *p = c->path;
    int post = strcmp(c->method, "POST") == 0, get = strcmp(c->method, "GET") == 0;
    char id[160];
    int known = 1, method_ok = 0;
    json_t *req = NULL;
    int body = 0, kind = 0;
    if (strcmp(p, "/v1/messages") == 0) { method_ok = post; body = 1; kind = 1; }
    else if (strcmp(p, "/v1/messages/count_tokens") == 0) { method_ok = post; body = 1; kind = 2; }
    else if (strcmp(p, "/v1/messages/batches") == 0) { method_ok = post; body = 1; kind = 3; }
    else if (strcmp(p, "/v1/models") == 0) { method_ok = get; kind = 4; }
    else if (sim_path_match(p, "/v1/models/", "", id, sizeof id)) { method_ok = get; kind = 5; }
    else if (sim_path_match(p, "/v1/messages/batches/", "/results", id, sizeof id)) { method_ok = get; kind = 6; }
    else if (sim_path_match(p, "/v1/messages/batches/", "/cancel", id, sizeof id)) { method_ok = post; kind = 7; }
    else if (sim_path_match(p, "/v1/messages/batches/", "", id, sizeof id)) { method_ok = get; kind = 8; }
    else known = 0;
    if (!known) { fail(c, 404, "not_found_error", "Not found"); return; }
    if (!method_ok) { fail(c, 405, "invalid_request_error", "Method not allowed"); return; }
    if (body) {
        json_error_t je;
        req = json_loadb(c->body, c->body_len, 0, &je);
        if (!json_is_object(req)) {
            char msg[300];
            snprintf(msg, sizeof msg, "Invalid JSON in request body: %s", req ? "expected an object" : je.text);
            fail(c, 400, "invalid_request_error", msg);
            json_decref(req);
            return;
        }
    }
    switch (kind) {
    case 1: sim_anthropic_message_core(c, req); break;
    case 2: count_tokens(c, req); break;
    case 3: ab_create(c, req); break;
    case 4: models(c, NULL); break;
    case 5: models(c, id); break;
    case 6: ab_get(c, id, 1); break;
    case 7: ab_get(c, id, 2); break;
    default: ab_get(c, id, 0); break;
    }
    json_decref(req);
}
