/*
 * sim_state.c - fql-sim's shared mutable state: per-model sliding windows that enforce rate limits
 * and feed /sim/stats, quotas, OpenRouter credits, the request log and issued OAuth tokens.
 *
 * Each model keeps a ring of admitted requests (time, counted tokens) covering the last 60 s, with
 * running sums over the last 60 s and the last 1 s. A per-minute limit L is enforced over both
 * windows: at most L in any 60 s, and at most ceil(L/60) in any 1 s (a single request larger
 * than the 1-second allowance passes when the 1-second window is empty). The statistics report
 * the largest sums ever seen in either window, which are exact sliding-window maxima because they
 * are taken at every admission. One mutex guards it all: a request holds it for microseconds.
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

typedef struct Ev { double t; long tok, in, out; } Ev;

typedef struct Sums { long req, tok, in, out; } Sums;

typedef struct StatusCount { int status; long n; } StatusCount;

typedef struct ModelState {
    char *name;
    SimProvider provider;
    Ev *ring;
    uint64_t cap;                  /* power of two */
    uint64_t start60, start1, end; /* absolute indices into ring */
    Sums w60, w1;
    Sums max60, max1;
    long admitted, counted_tokens; /* for quotas */
    long requests, in_tokens, out_tokens;
    long limited;                  /* 429s from limits */
    StatusCount st[16];
    int nst;
} ModelState;

static pthread_mutex_t st_mu = PTHREAD_MUTEX_INITIALIZER;
static ModelState **models;
static int nmodels, capmodels;

static pthread_mutex_t log_mu = PTHREAD_MUTEX_INITIALIZER;
static FILE *log_fp;

static double credits_used;
static long batches_created, batch_requests;   /* batches created since the start or the last reset */

typedef struct Tok { char *tok; double expires; } Tok;
static Tok *toks;
static int ntoks, captoks;

/* Prepares the state (nothing to do beyond static initialisation; kept for symmetry). */
void sim_state_init(void)
{
}

/* Frees a model's state (NULL-safe). */
static void model_free(ModelState *m)
{
    if (!m) return;
    free(m->name);
    free(m->ring);
    free(m);
}

/* Returns the state of model, creating it. Called with st_mu held. */
static ModelState *model_get(const char *name, SimProvider p)
{
    if (!name) name = "";
    if (strncmp(name, "models/", 7) == 0) name += 7;
    for (int i = 0; i < nmodels; i++)
        if (strcmp(models[i]->name, name) == 0) return models[i];
    if (nmodels == capmodels) {
        capmodels = capmodels ? capmodels * 2 : 16;
        models = realloc(models, (size_t)capmodels * sizeof *models);
        if (!models) abort();
    }
    ModelState *m = calloc(1, sizeof *m);
    if (!m) abort();
    m->name = strdup(name);
    m->provider = p;
    m->cap = 1024;
    m->ring = calloc(m->cap, sizeof *m->ring);
    if (!m->ring) abort();
    models[nmodels++] = m;
    return m;
}

/* Removes event e from the window sums s. */
static void sums_sub(Sums *s, const Ev *e)
{
    s->req--; s->tok -= e->tok; s->in -= e->in; s->out -= e->out;
}

/* Adds event e to the window sums s. */
static void sums_add(Sums *s, const Ev *e)
{
    s->req++; s->tok += e->tok; s->in += e->in; s->out += e->out;
}

/* Raises each maximum of mx to the matching sum of s. */
static void sums_max(Sums *mx, const Sums *s)
{
    if (s->req > mx->req) mx->req = s->req;
    if (s->tok > mx->tok) mx->tok = s->tok;
    if (s->in > mx->in) mx->in = s->in;
    if (s->out > mx->out) mx->out = s->out;
}

/* Drops events older than the windows at time now. */
static void expire(ModelState *m, double now)
{
    /* the 1-second window first: its events must leave its sums before the 60-second window
     * drops them from the ring (after an idle minute both windows empty) */
    while (m->start1 < m->end && m->ring[m->start1 & (m->cap - 1)].t <= now - 1.0)
        sums_sub(&m->w1, &m->ring[m->start1++ & (m->cap - 1)]);
    while (m->start60 < m->end && m->ring[m->start60 & (m->cap - 1)].t <= now - 60.0)
        sums_sub(&m->w60, &m->ring[m->start60++ & (m->cap - 1)]);
}

/* Appends an admitted event and updates the maxima. */
static void push(ModelState *m, const Ev *e)
{
    if (m->end - m->start60 == m->cap) {
        uint64_t ncap = m->cap * 2;
        Ev *nr = malloc(ncap * sizeof *nr);
        if (!nr) abort();
        for (uint64_t i = m->start60; i < m->end; i++) nr[i & (ncap - 1)] = m->ring[i & (m->cap - 1)];
        free(m->ring);
        m->ring = nr;
        m->cap = ncap;
    }
    m->ring[m->end++ & (m->cap - 1)] = *e;
    sums_add(&m->w60, e);
    sums_add(&m->w1, e);
    sums_max(&m->max60, &m->w60);
    sums_max(&m->max1, &m->w1);
}

/* Seconds until enough of the window [from, end) expires (after span seconds) to free `need`
 * of the quantity picked by field (0 req, 1 tok, 2 in, 3 out). */
static double wait_for(const ModelState *m, uint64_t from, double span, double need, int field, double now)
{
    double freed = 0;
    for (uint64_t i = from; i < m->end; i++) {
        const Ev *e = &m->ring[i & (m->cap - 1)];
        freed += field == 0 ? 1 : field == 1 ? e->tok : field == 2 ? e->in : e->out;
        if (freed >= need) {
            double w = e->t + span - now;
            return w > 0.001 ? w : 0.001;
        }
    }
    return span;
}

/* Checks one per-minute limit over both windows. Returns 1 when the request fits; otherwise sets
 * *wait to the seconds until it would. */
static int fits(const ModelState *m, double limit, int field, double amount, double now, double *wait)
{
    if (limit <= 0) return 1;
    double u60 = field == 0 ? m->w60.req : field == 1 ? m->w60.tok : field == 2 ? m->w60.in : m->w60.out;
    double u1 = field == 0 ? m->w1.req : field == 1 ? m->w1.tok : field == 2 ? m->w1.in : m->w1.out;
    double per_s = ceil(limit / 60.0);
    double w = 0;
    if (u60 + amount > limit) w = wait_for(m, m->start60, 60.0, u60 + amount - limit, field, now);
    if (u1 > 0 && u1 + amount > per_s) {
        double w1 = wait_for(m, m->start1, 1.0, u1 + amount - per_s, field, now);
        if (w1 > w) w = w1;
    }
    *wait = w;
    return w == 0;
}

/* Fills the displayed figures of rate from the windows. Called with st_mu held. */
static void fill_rate(const ModelState *m, const SimModelCfg *cfg, SimRate *r)
{
    double dr = sim_config_number("display_rpm", 1000000), dt = sim_config_number("display_tpm", 1000000000);
    r->lim_req = cfg->rpm > 0 ? cfg->rpm : dr;
    r->lim_tok = cfg->tpm > 0 ? cfg->tpm : dt;
    r->lim_in = cfg->input_tpm > 0 ? cfg->input_tpm : r->lim_tok;
    r->lim_out = cfg->output_tpm > 0 ? cfg->output_tpm : r->lim_tok;
    r->rem_req = fmax(0, r->lim_req - m->w60.req);
    r->rem_tok = fmax(0, r->lim_tok - m->w60.tok);
    r->rem_in = fmax(0, r->lim_in - m->w60.in);
    r->rem_out = fmax(0, r->lim_out - m->w60.out);
    /* time for the used part to be replenished at the limit's rate, as OpenAI reports it */
    r->reset_req = fmin(60.0, m->w60.req * 60.0 / r->lim_req);
    r->reset_tok = fmin(60.0, m->w60.tok * 60.0 / r->lim_tok);
    r->reset_in = fmin(60.0, m->w60.in * 60.0 / r->lim_in);
    r->reset_out = fmin(60.0, m->w60.out * 60.0 / r->lim_out);
}

/* Admits one request of in_tok input and out_tok (requested maximum) output tokens against the
 * model's limits. Returns SIM_LIM_OK and records it, or the limit that refused it with
 * rate->retry_after set. rate is filled either way. */
SimLimit sim_admit(const char *model, SimProvider p, const SimModelCfg *cfg, long in_tok, long out_tok,
                   SimRate *rate)
{
    double now = sim_now_mono();
    long tok = in_tok + out_tok;
    memset(rate, 0, sizeof *rate);
    pthread_mutex_lock(&st_mu);
    ModelState *m = model_get(model, p);
    expire(m, now);
    SimLimit res = SIM_LIM_OK;
    double w = 0, wmax = 0;
    if ((cfg->tpm > 0 && tok > cfg->tpm) || (cfg->input_tpm > 0 && in_tok > cfg->input_tpm) ||
        (cfg->output_tpm > 0 && out_tok > cfg->output_tpm)) {
        res = SIM_LIM_TOO_LARGE;
        rate->requested = tok;
        rate->used = cfg->tpm > 0 && tok > cfg->tpm ? cfg->tpm : cfg->input_tpm > 0 && in_tok > cfg->input_tpm ? cfg->input_tpm : cfg->output_tpm;
    } else {
        if (!fits(m, cfg->rpm, 0, 1, now, &w)) { res = SIM_LIM_RPM; wmax = w; rate->used = m->w60.req; rate->requested = 1; }
        if (!fits(m, cfg->tpm, 1, (double)tok, now, &w) && w > wmax) {
            res = SIM_LIM_TPM; wmax = w; rate->used = m->w60.tok; rate->requested = tok;
        }
        if (!fits(m, cfg->input_tpm, 2, (double)in_tok, now, &w) && w > wmax) {
            res = SIM_LIM_ITPM; wmax = w; rate->used = m->w60.in; rate->requested = in_tok;
        }
        if (!fits(m, cfg->output_tpm, 3, (double)out_tok, now, &w) && w > wmax) {
            res = SIM_LIM_OTPM; wmax = w; rate->used = m->w60.out; rate->requested = out_tok;
        }
    }
    if (res == SIM_LIM_OK) {
        Ev e = {now, tok, in_tok, out_tok};
        push(m, &e);
        m->admitted++;
        m->counted_tokens += tok;
    } else {
        m->limited++;
    }
    fill_rate(m, cfg, rate);
    rate->retry_after = wmax;
    pthread_mutex_unlock(&st_mu);
    return res;
}

/* Admits one line of a batch: the Batch APIs have their own limits (requests and enqueued tokens
 * per batch), so a line is never refused by the per-minute limits and does not enter the windows
 * that enforce them (a batch does not use up a synchronous client's minute). It counts towards
 * the quota like any request. Always SIM_LIM_OK; rate holds the displayed figures. */
SimLimit sim_admit_batch(const char *model, SimProvider p, const SimModelCfg *cfg, long in_tok, long out_tok,
                         SimRate *rate)
{
    memset(rate, 0, sizeof *rate);
    pthread_mutex_lock(&st_mu);
    ModelState *m = model_get(model, p);
    expire(m, sim_now_mono());
    m->admitted++;
    m->counted_tokens += in_tok + out_tok;
    fill_rate(m, cfg, rate);
    pthread_mutex_unlock(&st_mu);
    return SIM_LIM_OK;
}

/* Fills rate with the model's current figures without admitting anything. */
void sim_rate_peek(const char *model, const SimModelCfg *cfg, SimRate *rate)
{
    memset(rate, 0, sizeof *rate);
    pthread_mutex_lock(&st_mu);
    ModelState *m = model_get(model, SIM_CONTROL);
    expire(m, sim_now_mono());
    fill_rate(m, cfg, rate);
    pthread_mutex_unlock(&st_mu);
}

/* Returns 1 when the model has used up quota_requests admitted requests or quota_tokens counted
 * tokens. */
int sim_quota_exhausted(const char *model, const SimModelCfg *cfg)
{
    if (cfg->quota_requests <= 0 && cfg->quota_tokens <= 0) return 0;
    pthread_mutex_lock(&st_mu);
    ModelState *m = model_get(model, SIM_CONTROL);
    int r = (cfg->quota_requests > 0 && m->admitted >= cfg->quota_requests) ||
            (cfg->quota_tokens > 0 && m->counted_tokens >= cfg->quota_tokens);
    pthread_mutex_unlock(&st_mu);
    return r;
}

/* Records a finished call in the per-model statistics. */
void sim_record(const char *model, SimProvider p, int status, long in_tok, long out_tok)
{
    pthread_mutex_lock(&st_mu);
    ModelState *m = model_get(model, p);
    if (m->provider == SIM_CONTROL) m->provider = p;
    m->requests++;
    m->in_tokens += in_tok;
    m->out_tokens += out_tok;
    int i = 0;
    while (i < m->nst && m->st[i].status != status) i++;
    if (i == m->nst && m->nst < 16) m->st[m->nst++].status = status;
    if (i < 16) m->st[i].n++;
    pthread_mutex_unlock(&st_mu);
}

/* The sums s as a JSON object (new reference). */
static json_t *sums_json(const Sums *s)
{
    return json_pack("{s:I,s:I,s:I,s:I}", "requests", (json_int_t)s->req, "tokens", (json_int_t)s->tok,
                     "input_tokens", (json_int_t)s->in, "output_tokens", (json_int_t)s->out);
}

/* Returns the statistics document of GET /sim/stats (new reference). */
json_t *sim_stats_json(void)
{
    json_t *out = json_object(), *ms = json_object();
    long treq = 0;
    pthread_mutex_lock(&st_mu);
    double now = sim_now_mono();
    for (int i = 0; i < nmodels; i++) {
        ModelState *m = models[i];
        if (!m->requests && !m->admitted && !m->limited) continue;
        expire(m, now);
        json_t *st = json_object();
        for (int j = 0; j < m->nst; j++) {
            char k[16];
            snprintf(k, sizeof k, "%d", m->st[j].status);
            json_object_set_new(st, k, json_integer(m->st[j].n));
        }
        json_t *o = json_pack("{s:s,s:I,s:o,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:o,s:o,s:o,s:o}",
            "provider", sim_provider_name(m->provider), "requests", (json_int_t)m->requests, "status", st,
            "admitted", (json_int_t)m->admitted, "rate_limited", (json_int_t)m->limited,
            "input_tokens", (json_int_t)m->in_tokens, "output_tokens", (json_int_t)m->out_tokens,
            "max_requests_60s", (json_int_t)m->max60.req, "max_tokens_60s", (json_int_t)m->max60.tok,
            "max_requests_1s", (json_int_t)m->max1.req, "max_tokens_1s", (json_int_t)m->max1.tok,
            "max_60s", sums_json(&m->max60), "max_1s", sums_json(&m->max1),
            "window_60s", sums_json(&m->w60), "window_1s", sums_json(&m->w1));
        json_object_set_new(ms, m->name, o);
        treq += m->requests;
    }
    pthread_mutex_unlock(&st_mu);
    json_object_set_new(out, "models", ms);
    json_object_set_new(out, "requests", json_integer(treq));
    pthread_mutex_lock(&st_mu);
    json_object_set_new(out, "batches", json_pack("{s:I,s:I}", "created", (json_int_t)batches_created,
                                                   "requests", (json_int_t)batch_requests));
    pthread_mutex_unlock(&st_mu);
    json_object_set_new(out, "openrouter_credits_used", json_real(sim_credits_used()));
    return out;
}

/* Forgets statistics, windows, quotas, credits and issued tokens (the configuration stays). */
void sim_state_reset(void)
{
    pthread_mutex_lock(&st_mu);
    for (int i = 0; i < nmodels; i++) model_free(models[i]);
    nmodels = 0;
    credits_used = 0;
    batches_created = batch_requests = 0;
    pthread_mutex_unlock(&st_mu);
}

/* Frees everything (at exit). */
void sim_state_free(void)
{
    sim_state_reset();
    pthread_mutex_lock(&st_mu);
    free(models);
    models = NULL;
    capmodels = 0;
    for (int i = 0; i < ntoks; i++) free(toks[i].tok);
    free(toks);
    toks = NULL;
    ntoks = captoks = 0;
    pthread_mutex_unlock(&st_mu);
    pthread_mutex_lock(&log_mu);
    if (log_fp) fclose(log_fp);
    log_fp = NULL;
    pthread_mutex_unlock(&log_mu);
}

/* ---- request log ---- */

/* Opens the request log (appending); exits the program when it cannot. */
void sim_log_open(const char *file)
{
    log_fp = fopen(file, "a");
    if (!log_fp) { perror(file); exit(2); }
}

/* Writes one JSON line for a finished call: time, provider, endpoint, model, status, tokens,
 * latency and the key's fingerprint (never the key). */
void sim_log_call(const SimCall *c, int status, double latency_s)
{
    if (!log_fp || c->provider == SIM_CONTROL) return;
    char *fp = sim_key_fingerprint(c->key);
    char *t = sim_rfc3339_ms(sim_now_real());
    json_t *o = json_pack("{s:s,s:s,s:s,s:s,s:i,s:{s:I,s:I},s:f,s:s}", "time", t,
                          "provider", sim_provider_name(c->provider), "endpoint", c->endpoint,
                          "model", c->model, "status", status, "tokens", "input", (json_int_t)c->in_tokens,
                          "output", (json_int_t)c->out_tokens, "latency_ms", round(latency_s * 1e6) / 1e3, "key", fp);
    char *line = o ? json_dumps(o, SIM_JSON_FLAGS) : NULL;
    if (line) {
        pthread_mutex_lock(&log_mu);
        fputs(line, log_fp);
        fputc('\n', log_fp);
        fflush(log_fp);
        pthread_mutex_unlock(&log_mu);
    }
    free(line);
    json_decref(o);
    free(t);
    free(fp);
}

/* ---- batches ---- */

/* Counts a batch created with nrequests requests (OpenAI and Anthropic alike). */
void sim_batch_created(long nrequests)
{
    pthread_mutex_lock(&st_mu);
    batches_created++;
    batch_requests += nrequests;
    pthread_mutex_unlock(&st_mu);
}

/* ---- OpenRouter credits ---- */

/* 1 when the credits of the configuration (openrouter_credits, default 100 USD) are spent. */
int sim_credits_exhausted(void)
{
    double lim = sim_config_number("openrouter_credits", 100.0);
    pthread_mutex_lock(&st_mu);
    int r = credits_used >= lim;
    pthread_mutex_unlock(&st_mu);
    return r;
}

/* Adds usd to the credits used. */
void sim_credits_spend(double usd)
{
    pthread_mutex_lock(&st_mu);
    credits_used += usd;
    pthread_mutex_unlock(&st_mu);
}

/* Returns the credits used so far (USD). */
double sim_credits_used(void)
{
    pthread_mutex_lock(&st_mu);
    double r = credits_used;
    pthread_mutex_unlock(&st_mu);
    return r;
}

/* ---- OAuth tokens ---- */

/* Issues an access token valid for ttl seconds and returns a malloc'd copy of it. */
char *sim_token_issue(double ttl)
{
    char *t = sim_new_id("ya29.sim-");
    pthread_mutex_lock(&st_mu);
    double now = sim_now_mono();
    int j = 0;   /* drop expired tokens */
    for (int i = 0; i < ntoks; i++) {
        if (toks[i].expires > now) toks[j++] = toks[i];
        else free(toks[i].tok);
    }
    ntoks = j;
    if (ntoks == captoks) {
        captoks = captoks ? captoks * 2 : 16;
        toks = realloc(toks, (size_t)captoks * sizeof *toks);
        if (!toks) abort();
    }
    toks[ntoks].tok = strdup(t);
    toks[ntoks].expires = now + ttl;
    ntoks++;
    pthread_mutex_unlock(&st_mu);
    return t;
}

/* Returns 1 when tok was issued by this server and has not expired. */
int sim_token_valid(const char *tok)
{
    if (!tok) return 0;
    int ok = 0;
    pthread_mutex_lock(&st_mu);
    double now = sim_now_mono();
    for (int i = 0; i < ntoks && !ok; i++)
        if (strcmp(toks[i].tok, tok) == 0 && toks[i].expires > now) ok = 1;
    pthread_mutex_unlock(&st_mu);
    return ok;
}
