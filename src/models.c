/* models.c: resolving declared model aliases into LmModels (options, environment, the catalog in
 * stdlib/models.json), and checking their keys before the first statement that runs. */
#include <stdlib.h>
#include <string.h>
#include <math.h>
#include "http.h"
#include "rt.h"
#include "catalog.h"
#include "models.h"
#include "media.h"

typedef struct ProviderInfo {
    ProviderKind kind;
    const char *name, *key_env, *base_env, *base_default;
} ProviderInfo;

static const ProviderInfo provider_info[] = {
    { PROV_OPENAI, "openai", "OPENAI_API_KEY", "OPENAI_BASE_URL", "https://api.openai.com/v1" },
    { PROV_ANTHROPIC, "anthropic", "ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL", "https://api.anthropic.com" },
    { PROV_GEMINI, "gemini", "GEMINI_API_KEY", "GEMINI_BASE_URL", "https://generativelanguage.googleapis.com" },
    { PROV_VERTEX, "vertex", "GOOGLE_ACCESS_TOKEN", "VERTEX_BASE_URL", NULL },
    { PROV_OPENROUTER, "openrouter", "OPENROUTER_API_KEY", "OPENROUTER_BASE_URL", "https://openrouter.ai/api/v1" },
    { PROV_COHERE, "cohere", "COHERE_API_KEY", "COHERE_BASE_URL", "https://api.cohere.com" },
};

static const ProviderInfo *info_of(const char *name)
{
    for (size_t i = 0; i < sizeof provider_info / sizeof provider_info[0]; i++)
        if (!strcmp(provider_info[i].name, name)) return &provider_info[i];
    return NULL;
}

/* The option named key of a declaration (borrowed), or null. */
static Value opt(const Value opts, const char *key)
{
    if (opts.kind != V_STRUCT) return v_null();
    Struct *st = opts.u.st;
    for (uint32_t i = 0; i < st->n; i++)
        if (!strcmp(st->type->fields[i].name, key)) return st->fields[i];
    return v_null();
}

static double num(Value v, double dflt)
{
    if (v.kind == V_INT) return (double)v.u.i;
    if (v.kind == V_FLOAT) return v.u.f;
    return dflt;
}

static const char *str(Value v) { return v.kind == V_STRING ? v_str(v) : NULL; }

static json_t *catalog(Runtime *rt)
{
    if (!rt->model_catalog) {
        char *path = xasprintf("%s/models.json", rt->stdlib_dir);
        json_error_t je;
        rt->model_catalog = json_load_file(path, 0, &je);
        if (!rt->model_catalog) rt->model_catalog = json_object();
        free(path);
    }
    return rt->model_catalog;
}

/* The catalog entry for provider/model (OpenRouter "openai/gpt-4o" falls back to openai's entry). */
static json_t *catalog_entry(Runtime *rt, const char *provider, const char *model)
{
    json_t *models = json_object_get(catalog(rt), "models");
    json_t *e = json_object_get(json_object_get(models, provider), model);
    if (!e && !strcmp(provider, "openrouter")) {
        const char *slash = strchr(model, '/');
        if (slash) {
            char *prov = xstrndup(model, (size_t)(slash - model));
            if (!strcmp(prov, "google")) { free(prov); prov = xstrdup("gemini"); }
            e = json_object_get(json_object_get(models, prov), slash + 1);
            free(prov);
        }
    }
    return e;
}

static double cat_num(json_t *e, const char *key, double dflt)
{
    json_t *v = json_object_get(e, key);
    return json_is_number(v) ? json_number_value(v) : dflt;
}

static void apply_options(LmModel *m, Value opts)
{
    m->rpm = num(opt(opts, "rpm"), m->rpm);
    m->tpm = num(opt(opts, "tpm"), m->tpm);
    m->input_tpm = num(opt(opts, "input_tpm"), m->input_tpm);
    m->output_tpm = num(opt(opts, "output_tpm"), m->output_tpm);
    m->max_concurrency = (int)num(opt(opts, "max_concurrency"), m->max_concurrency);
    m->timeout_s = num(opt(opts, "timeout"), m->timeout_s);
    m->max_retries = (int)num(opt(opts, "max_retries"), m->max_retries);
    m->temperature = num(opt(opts, "temperature"), m->temperature);
    m->max_output_tokens = (int)num(opt(opts, "max_output_tokens"), m->max_output_tokens);
    m->dimensions = (int)num(opt(opts, "dimensions"), m->dimensions);
    m->price_in = num(opt(opts, "price_in"), m->price_in);
    m->price_out = num(opt(opts, "price_out"), m->price_out);
    m->price_cached_in = num(opt(opts, "cached_price_in"), m->price_cached_in);
    m->context_window = (int64_t)num(opt(opts, "context_window"), (double)m->context_window);
    const char *re = str(opt(opts, "reasoning_effort"));
    if (re) { free(m->reasoning_effort); m->reasoning_effort = xstrdup(re); }
    Value b = opt(opts, "batch");
    if (b.kind == V_BOOL) m->batch = b.u.b;
    Value so = opt(opts, "structured_output");
    if (so.kind == V_BOOL) m->structured = so.u.b;
    Value lp = opt(opts, "logprobs");
    if (lp.kind == V_BOOL) m->logprobs = lp.u.b;
    const char *tier = str(opt(opts, "tier"));
    if (tier) m->flex = !strcmp(tier, "flex");
    /* lowering the per-batch limits splits work into more batches (tests use it; a provider's
     * own limits are the ceiling) */
    m->batch_max_requests = (int64_t)fmin(num(opt(opts, "batch_max_requests"), (double)m->batch_max_requests), (double)m->batch_max_requests);
    m->batch_max_bytes = (int64_t)fmin(num(opt(opts, "batch_max_bytes"), (double)m->batch_max_bytes), (double)m->batch_max_bytes);
}

/* The Batch API figures of provider kind: per-batch limits (OpenAI: 50,000 requests and 200 MB per
 * input file; Anthropic: 100,000 requests and 256 MB per batch; Gemini: 20 MB of inline requests)
 * and the catalog's price factor. */
static void batch_defaults(Runtime *rt, LmModel *m)
{
    int anth = m->provider == PROV_ANTHROPIC;
    m->batch_max_requests = anth ? 100000 : 50000;
    m->batch_max_bytes = anth ? (int64_t)256 << 20 : (int64_t)200 << 20;
    if (m->provider == PROV_GEMINI) m->batch_max_bytes = (int64_t)20 << 20;   /* inline requests: 20 MB a batch */
    m->batch_discount = cat_num(json_object_get(catalog(rt), "batch_discount"), m->provider_name, 0.5);
}

/* `tier: "flex"` (OpenAI flex processing, synchronous at the Batch API's prices): the catalog's
 * flex prices for the prices no option set, and the 15-minute timeout OpenAI advises for flex
 * (its answers can be slow) unless `timeout:` says otherwise. 0, or -1 with err when the catalog
 * knows the model but lists no flex prices (OpenAI does not serve it with flex) or with batch. */
static int apply_flex(LmModel *m, json_t *e, Value opts, const char *alias, fql_error *err)
{
    if (!m->flex) return 0;
    if (m->batch) {
        err_set(err, FQL_ERR_RUNTIME, "model '%s': tier: \"flex\" and batch: true exclude each other (both are half price; "
                                      "flex answers at once, the Batch API within 24 hours): keep one", alias);
        return -1;
    }
    json_t *fx = json_object_get(e, "flex");
    if (e && !json_is_object(fx)) {
        err_set(err, FQL_ERR_RUNTIME, "model '%s' (openai \"%s\"): the catalog says OpenAI does not serve this model with flex "
                                      "processing; remove tier: \"flex\", or use a model that has it (gpt-5, gpt-5-mini, gpt-5-nano, o3, o4-mini)",
                alias, m->model_name);
        return -1;
    }
    if (fx) {
        if (opt(opts, "price_in").kind == V_NULL) m->price_in = cat_num(fx, "input", m->price_in);
        if (opt(opts, "cached_price_in").kind == V_NULL) m->price_cached_in = cat_num(fx, "input_cached", m->price_in);
        if (opt(opts, "price_out").kind == V_NULL) m->price_out = cat_num(fx, "output", m->price_out);
    }
    if (opt(opts, "timeout").kind == V_NULL) m->timeout_s = 900;
    return 0;
}

/* The fallback aliases of declaration options opts (a list of strings, or one string). */
static void set_fallback(LmModel *m, Value fb)
{
    uint32_t n = fb.kind == V_LIST ? fb.u.l->n : fb.kind == V_STRING ? 1 : 0;
    m->fallback = n ? xcalloc(n, sizeof *m->fallback) : NULL;
    for (uint32_t i = 0; i < n; i++) {
        Value a = fb.kind == V_LIST ? fb.u.l->items[i] : fb;
        if (a.kind == V_STRING) m->fallback[m->nfallback++] = xstrdup(v_str(a));
    }
}

LmModel *models_get(Runtime *rt, const char *alias, const char *profile, fql_error *err)
{
    char *full = profile ? xasprintf("%s.%s", alias, profile) : xstrdup(alias);
    for (RtModel *r = rt->rtmodels; r; r = r->next)
        if (!strcmp(r->key, full)) { free(full); return r->m; }
    ModelDecl *d = catalog_find_model(rt->cat, alias);
    if (!d) {
        err_set(err, FQL_ERR_RUNTIME, "unknown model '%s'", alias);
        free(full);
        return NULL;
    }
    const ProviderInfo *pi = info_of(d->provider);
    LmModel *m = xcalloc(1, sizeof *m);
    m->alias = xstrdup(full);
    m->provider = pi->kind;
    m->provider_name = pi->name;
    m->model_name = xstrdup(d->model_name);
    m->embedding = d->embedding;
    m->temperature = NAN;
    m->timeout_s = 60;
    m->max_retries = 6;
    m->price_in = m->price_out = m->price_cached_in = m->price_cache_write = -1;
    json_t *e = catalog_entry(rt, pi->name, d->model_name);
    if (e) {
        m->price_in = cat_num(e, "input", -1);
        m->price_out = cat_num(e, "output", m->price_in >= 0 ? 0 : -1);
        m->price_cached_in = cat_num(e, "input_cached", m->price_in);
        m->price_cache_write = cat_num(e, "input_cache_write", -1);
        m->context_window = (int64_t)cat_num(e, "context_window", 0);
        m->structured = json_is_true(json_object_get(e, "structured"));
        m->logprobs = json_is_true(json_object_get(e, "logprobs"));
        m->dimensions = 0;
        m->image_tokens = json_incref(json_object_get(e, "image_tokens"));
    }
    m->media = media_caps(pi->name, d->embedding, e, d->opts);
    batch_defaults(rt, m);
    apply_options(m, d->opts);
    set_fallback(m, opt(d->opts, "fallback"));
    if (m->batch && (m->provider == PROV_VERTEX || m->provider == PROV_COHERE || m->provider == PROV_OPENROUTER ||
                     (m->provider == PROV_GEMINI && m->embedding))) {
        err_set(err, FQL_ERR_RUNTIME, "model '%s' (%s \"%s\"): batch: true is served for OpenAI, Anthropic and Gemini "
                                      "language models%s; remove batch: true", alias, pi->name, d->model_name,
                m->provider == PROV_VERTEX ? " (Vertex AI's batch prediction reads its input from Cloud Storage or BigQuery; "
                                             "declare the model with provider gemini for the Gemini Batch API)" : "");
        lm_model_free(m);
        free(full);
        return NULL;
    }
    if (m->batch && json_is_false(json_object_get(e, "batch"))) {
        err_set(err, FQL_ERR_RUNTIME, "model '%s' (%s \"%s\"): the catalog says this model is not served by the Batch API; "
                                      "remove batch: true", alias, pi->name, d->model_name);
        lm_model_free(m);
        free(full);
        return NULL;
    }
    /* a profile's settings override the alias's */
    const char *prof = profile ? profile : str(opt(d->opts, "default_profile"));
    Value profiles = opt(d->opts, "profiles");
    if (prof && profiles.kind == V_STRUCT) {
        Value p = opt(profiles, prof);
        if (p.kind == V_STRUCT) {
            if (m->provider == PROV_OPENROUTER) m->routing = value_to_jansson(p);
            else apply_options(m, p);
        } else if (profile) {
            err_set(err, FQL_ERR_RUNTIME, "model '%s' has no profile '%s'", alias, profile);
            lm_model_free(m);
            free(full);
            return NULL;
        }
    } else if (profile) {
        err_set(err, FQL_ERR_RUNTIME, "model '%s' declares no profiles (add profiles: {%s: {...}})", alias, profile);
        lm_model_free(m);
        free(full);
        return NULL;
    }
    if (apply_flex(m, e, d->opts, alias, err)) {
        lm_model_free(m);
        free(full);
        return NULL;
    }
    /* Anthropic bills prompt-cache writes (5-minute entries) at 1.25x the input price */
    if (m->price_cache_write < 0 && m->provider == PROV_ANTHROPIC && m->price_in >= 0) m->price_cache_write = 1.25 * m->price_in;
    /* where and who: option > environment > default */
    const char *base = str(opt(d->opts, "base_url"));
    if (!base) base = getenv(pi->base_env);
    if (base && !*base) base = NULL;
    if (!base && m->provider == PROV_VERTEX) {
        const char *loc = str(opt(d->opts, "location"));
        char *b = xasprintf("https://%s-aiplatform.googleapis.com", loc ? loc : "us-central1");
        m->base_url = b;
    } else {
        m->base_url = xstrdup(base ? base : pi->base_default);
    }
    size_t bl = strlen(m->base_url);
    while (bl > 0 && m->base_url[bl - 1] == '/') m->base_url[--bl] = 0;
    const char *kenv = str(opt(d->opts, "api_key_env"));
    m->api_key_env = xstrdup(kenv ? kenv : pi->key_env);
    const char *key = getenv(m->api_key_env);
    if (!key && m->provider == PROV_GEMINI && !kenv) key = getenv("GOOGLE_API_KEY");
    m->api_key = key && *key ? xstrdup(key) : NULL;
    const char *proj = str(opt(d->opts, "project"));
    const char *loc = str(opt(d->opts, "location"));
    m->project = proj ? xstrdup(proj) : getenv("GOOGLE_CLOUD_PROJECT") ? xstrdup(getenv("GOOGLE_CLOUD_PROJECT")) : NULL;
    m->location = xstrdup(loc ? loc : getenv("GOOGLE_CLOUD_LOCATION") ? getenv("GOOGLE_CLOUD_LOCATION") : "us-central1");
    if (m->price_in < 0 && m->provider != PROV_OPENROUTER)
        rt_log(rt, FQL_LOG_WARN, "fql: warning: model '%s' (%s \"%s\") is not in the catalog (stdlib/models.json): its cost is "
                        "counted as unknown; give price_in and price_out (USD per million tokens) to count it",
                m->alias, m->provider_name, m->model_name);
    RtModel *r = xcalloc(1, sizeof *r);
    r->key = full;
    r->m = m;
    r->next = rt->rtmodels;
    rt->rtmodels = r;
    return m;
}

int models_describe(Runtime *rt, const char *alias, double *price_in, double *price_out, int64_t *context, fql_error *err)
{
    int existed = 0;
    for (RtModel *r = rt->rtmodels; r; r = r->next) existed |= !strcmp(r->key, alias);
    const LmModel *m = models_get(rt, alias, NULL, err);
    if (!m) return -1;
    *price_in = m->price_in;
    *price_out = m->price_out;
    *context = m->context_window;
    if (existed) return 0;
    /* forget it: kept, it would outlive a new declaration of the alias made before the first
     * statement that uses it */
    for (RtModel **p = &rt->rtmodels; *p; p = &(*p)->next)
        if (!strcmp((*p)->key, alias)) {
            RtModel *r = *p;
            *p = r->next;
            lm_model_free(r->m);
            free(r->key);
            free(r);
            break;
        }
    return 0;
}

void models_free_all(Runtime *rt)
{
    for (RtModel *r = rt->rtmodels, *n; r; r = n) {
        n = r->next;
        lm_model_free(r->m);
        free(r->key);
        free(r);
    }
    rt->rtmodels = NULL;
    json_decref(rt->model_catalog);
    rt->model_catalog = NULL;
}

/* Is a key needed? Local OpenAI-compatible servers (a base_url that is not api.openai.com) take none. */
static int key_required(const LmModel *m)
{
    if (m->provider == PROV_OPENAI) return strstr(m->base_url, "api.openai.com") != NULL;
    if (m->provider == PROV_VERTEX) return 0;   /* a token or a service-account file, checked by the adapter */
    return 1;
}

typedef struct KeyCheck { LmModel *m; HttpRequest req; struct curl_slist *hl; } KeyCheck;

/* Check every declared model's key once, all in parallel, with the provider's cheapest call. */
int models_validate_keys(Runtime *rt, fql_error *err)
{
    int n = 0;
    for (ModelDecl *d = rt->cat->models; d; d = d->next) n++;
    if (n == 0) return 0;
    KeyCheck *kc = xcalloc((size_t)n, sizeof *kc);
    int k = 0, rc = 0;
    for (ModelDecl *d = rt->cat->models; d && rc == 0; d = d->next) {
        if (d->key_checked) continue;
        LmModel *m = models_get(rt, d->alias, NULL, err);
        if (!m) { rc = -1; break; }
        if (!m->api_key && key_required(m)) {
            err_set(err, FQL_ERR_RUNTIME, "model '%s' (%s): no API key: set the environment variable %s (or `set validate_keys = off` to skip this check)",
                    d->alias, m->provider_name, m->api_key_env);
            rc = -1;
            break;
        }
        char *msg = NULL;
        if (m->provider == PROV_VERTEX && vertex_access_token(m, NULL, &msg)) {
            err_set(err, FQL_ERR_RUNTIME, "model '%s' (vertex): %s", d->alias, msg ? msg : "no access token");
            free(msg);
            rc = -1;
            break;
        }
        if (provider_build_key_check(m, &kc[k].req, &msg)) {
            err_set(err, FQL_ERR_RUNTIME, "model '%s' (%s): %s", d->alias, m->provider_name, msg ? msg : "cannot check the key");
            free(msg);
            http_request_free(&kc[k].req);
            rc = -1;
            break;
        }
        kc[k].m = m;
        k++;
    }
    if (rc == 0 && k > 0) {
        /* all at once, through the HTTP helper: 15 s each, 10 s to connect */
        HttpReq *rqs = xcalloc((size_t)k, sizeof *rqs);
        HttpResp *resps = xcalloc((size_t)k, sizeof *resps);
        for (int i = 0; i < k; i++) {
            KeyCheck *c = &kc[i];
            for (int j = 0; j < c->req.nheaders; j++) c->hl = curl_slist_append(c->hl, c->req.headers[j]);
            rqs[i].method = c->req.method;
            rqs[i].url = c->req.url;
            rqs[i].headers = c->hl;
            rqs[i].body = c->req.body;
            rqs[i].body_len = c->req.body ? strlen(c->req.body) : 0;
            rqs[i].policy.timeout_ms = 15000;
            rqs[i].policy.connect_timeout_ms = 10000;
        }
        http_do_many(rqs, resps, k);
        for (int i = 0; i < k && rc == 0; i++) {
            KeyCheck *c = &kc[i];
            HttpResp *r = &resps[i];
            long status = r->failed ? 0 : r->status;
            if (status == 0) {
                err_set(err, FQL_ERR_RUNTIME, "model '%s' (%s): cannot reach %s: %s", c->m->alias, c->m->provider_name,
                        c->m->base_url, r->failed ? curl_easy_strerror((CURLcode)r->failed) : "no answer");
                rc = -1;
                break;
            }
            LmAnswer a;
            provider_parse(c->m, NULL, status, r->head.data ? r->head.data : "", r->body.data ? r->body.data : "", r->body.len, &a);
            /* a fatal answer stops even with a 2xx: the adapter found no key check in it (not its provider) */
            if (a.outcome == LM_FATAL || status == 401 || status == 403) {
                if (!strcmp(a.error_kind ? a.error_kind : "", "auth") || status == 401 || status == 403)
                    err_set(err, FQL_ERR_RUNTIME, "model '%s' (%s): the key in %s was rejected (HTTP %ld); set a valid key in %s",
                            c->m->alias, c->m->provider_name, c->m->api_key_env, status, c->m->api_key_env);
                else
                    err_set(err, FQL_ERR_RUNTIME, "model '%s' (%s): %s", c->m->alias, c->m->provider_name,
                            a.error_message ? a.error_message : "the key check failed");
                rc = -1;
            }
            lm_answer_clear(&a);
        }
        for (int i = 0; i < k; i++) {
            http_resp_free(&resps[i]);
            curl_slist_free_all(kc[i].hl);
        }
        free(rqs);
        free(resps);
    }
    for (int i = 0; i < n; i++) http_request_free(&kc[i].req);
    free(kc);
    if (rc == 0)
        for (ModelDecl *d = rt->cat->models; d; d = d->next) d->key_checked = 1;
    return rc;
}
