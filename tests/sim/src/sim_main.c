/*
 * sim_main.c - fql-sim's entry point: command line, the libmicrohttpd daemon on 127.0.0.1, the
 * timer thread that delivers delayed answers, request routing, key checks and /sim/ control.
 *
 * A request's life: libmicrohttpd calls on_request repeatedly; the body is gathered, then
 * process() routes it to a provider module which fills a SimResp. When the answer carries a
 * simulated latency (or is a hang) the connection is suspended and the timer thread resumes it at
 * the due time; on_request is then called once more and queues the answer (or closes the socket
 * without one, for connection resets and hangs). Polling runs on a pool of epoll threads, so a
 * slow answer never blocks another connection.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "sim.h"

#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define SIM_MAX_BODY (256u << 20)

/* One HTTP request in flight (libmicrohttpd's con_cls). */
typedef struct Req {
    SimBuf body;
    int too_big;
    int state;             /* 0 gathering, 1 answered (maybe waiting for its due time) */
    double t0;
    SimCall call;
    SimResp resp;
} Req;

static int verbose;

/* ---- timer thread: resumes suspended connections at their due time ---- */

typedef struct Due { double t; struct MHD_Connection *conn; } Due;

static pthread_mutex_t tm_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t tm_cv = PTHREAD_COND_INITIALIZER;
static Due *heap;
static size_t nheap, capheap;
static int tm_stop;
static pthread_t tm_thread;

/* Adds d to the min-heap of due times. Called with tm_mu held. */
static void heap_push(Due d)
{
    if (nheap == capheap) {
        capheap = capheap ? capheap * 2 : 256;
        heap = realloc(heap, capheap * sizeof *heap);
        if (!heap) abort();
    }
    size_t i = nheap++;
    while (i && heap[(i - 1) / 2].t > d.t) { heap[i] = heap[(i - 1) / 2]; i = (i - 1) / 2; }
    heap[i] = d;
}

/* Removes and returns the earliest entry of the non-empty heap. Called with tm_mu held. */
static Due heap_pop(void)
{
    Due top = heap[0], last = heap[--nheap];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= nheap) break;
        if (c + 1 < nheap && heap[c + 1].t < heap[c].t) c++;
        if (heap[c].t >= last.t) break;
        heap[i] = heap[c];
        i = c;
    }
    if (nheap) heap[i] = last;
    return top;
}

/* Suspends conn and schedules its resumption in delay seconds. Returns 0 when the server is
 * stopping (the caller answers at once instead). */
static int timer_schedule(struct MHD_Connection *conn, double delay)
{
    pthread_mutex_lock(&tm_mu);
    if (tm_stop) { pthread_mutex_unlock(&tm_mu); return 0; }
    MHD_suspend_connection(conn);
    Due d = {sim_now_mono() + delay, conn};
    heap_push(d);
    if (heap[0].conn == conn) pthread_cond_signal(&tm_cv);
    pthread_mutex_unlock(&tm_mu);
    return 1;
}

/* The timer thread: resumes due connections; at stop, resumes all of them. */
static void *timer_main(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&tm_mu);
    while (!tm_stop) {
        double now = sim_now_mono();
        while (nheap && heap[0].t <= now) MHD_resume_connection(heap_pop().conn);
        if (!nheap) { pthread_cond_wait(&tm_cv, &tm_mu); continue; }
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        double wait = heap[0].t - now;
        long ns = ts.tv_nsec + (long)((wait - (long)wait) * 1e9);
        ts.tv_sec += (time_t)wait + ns / 1000000000L;
        ts.tv_nsec = ns % 1000000000L;
        pthread_cond_timedwait(&tm_cv, &tm_mu, &ts);
    }
    while (nheap) MHD_resume_connection(heap_pop().conn);
    pthread_mutex_unlock(&tm_mu);
    return NULL;
}

/* Starts the timer thread (its condition variable waits on the monotonic clock). */
static void timer_start(void)
{
    pthread_condattr_t a;
    pthread_condattr_init(&a);
    pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
    pthread_cond_init(&tm_cv, &a);
    pthread_condattr_destroy(&a);
    pthread_create(&tm_thread, NULL, timer_main, NULL);
}

/* Stops the timer thread after it has resumed every suspended connection. */
static void timer_stop(void)
{
    pthread_mutex_lock(&tm_mu);
    tm_stop = 1;
    pthread_cond_signal(&tm_cv);
    pthread_mutex_unlock(&tm_mu);
    pthread_join(tm_thread, NULL);
    free(heap);
    heap = NULL;
}

/* ---- keys ---- */

/* Returns the token of an "Authorization: Bearer X" header (borrowed), or NULL. */
static const char *bearer(struct MHD_Connection *conn)
{
    const char *a = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "authorization");
    if (!a) return NULL;
    if (strncasecmp(a, "Bearer ", 7) == 0) a += 7;
    while (*a == ' ') a++;
    return a;
}

/* Answers a missing or bad key in the provider's own words. Returns 1 when the call may go on. */
static int check_key(SimCall *c)
{
    SimResp *r = c->resp;
    int missing = !c->key || !*c->key;
    int bad = !missing && strstr(c->key, "bad") != NULL;
    if (c->provider == SIM_VERTEX) {
        if (!missing && !bad && sim_token_valid(c->key)) return 1;
        sim_resp_json(r, 401, sim_gemini_error(401, "UNAUTHENTICATED",
            "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or "
            "other valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project."));
        return 0;
    }
    if (!missing && !bad) return 1;
    switch (c->provider) {
    case SIM_ANTHROPIC:
        sim_resp_json(r, 401, sim_anthropic_error("authentication_error",
                      missing ? "x-api-key header is required" : "invalid x-api-key"));
        sim_resp_header(r, "request-id", "req_sim_auth");
        break;
    case SIM_GEMINI:
        if (missing) {
            sim_resp_json(r, 401, sim_gemini_error(401, "UNAUTHENTICATED",
                "Method doesn't allow unregistered callers (callers without established identity). "
                "Please use API Key or other form of API consumer identity to call this API."));
        } else {
            json_t *e = sim_gemini_error(400, "INVALID_ARGUMENT", "API key not valid. Please pass a valid API key.");
            json_object_set_new(json_object_get(e, "error"), "details", json_pack("[{s:s,s:s,s:s,s:{s:s}}]",
                "@type", "type.googleapis.com/google.rpc.ErrorInfo", "reason", "API_KEY_INVALID",
                "domain", "googleapis.com", "metadata", "service", "generativelanguage.googleapis.com"));
            sim_resp_json(r, 400, e);
        }
        break;
    case SIM_COHERE:
        sim_cohere_bad_key(c, missing);
        break;
    case SIM_OPENROUTER:
        sim_resp_json(r, 401, json_pack("{s:{s:i,s:s}}", "error", "code", 401,
                      "message", missing ? "No auth credentials found" : "User not found."));
        break;
    default: {
        char msg[200];
        if (missing)
            snprintf(msg, sizeof msg, "You didn't provide an API key. You need to provide your API key in an "
                     "Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).");
        else
            snprintf(msg, sizeof msg, "Incorrect API key provided: %.6s****. You can find your API key at "
                     "https://platform.openai.com/account/api-keys.", c->key);
        sim_resp_json(r, 401, sim_openai_error(msg, "invalid_request_error", NULL, missing ? NULL : "invalid_api_key"));
    }
    }
    return 0;
}

/* ---- /sim/ control endpoints ---- */

/* Serves the /sim/ control endpoints (stats, reset, config, health). */
static void control(SimCall *c, struct MHD_Connection *conn)
{
    SimResp *r = c->resp;
    snprintf(c->endpoint, sizeof c->endpoint, "%.40s", c->path);
    int get = strcmp(c->method, "GET") == 0, post = strcmp(c->method, "POST") == 0;
    if (strcmp(c->path, "/sim/stats") == 0 && get) {
        sim_resp_json(r, 200, sim_stats_json());
    } else if (strcmp(c->path, "/sim/reset") == 0 && post) {
        sim_state_reset();
        sim_openai_reset();
        sim_anthropic_reset();
        sim_gemini_reset();
        sim_resp_json(r, 200, json_pack("{s:b}", "ok", 1));
    } else if (strcmp(c->path, "/sim/config") == 0 && get) {
        sim_resp_json(r, 200, sim_config_json());
    } else if (strcmp(c->path, "/sim/config") == 0 && post) {
        json_error_t je;
        json_t *o = json_loadb(c->body, c->body_len, 0, &je);
        const char *rep = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "replace");
        char err[300];
        if (!o) {
            snprintf(err, sizeof err, "bad JSON: %s", je.text);
            sim_resp_json(r, 400, json_pack("{s:s}", "error", err));
        } else if (sim_config_update(o, rep && strcmp(rep, "0") != 0, err, sizeof err) < 0) {
            sim_resp_json(r, 400, json_pack("{s:s}", "error", err));
        } else {
            sim_resp_json(r, 200, sim_config_json());
        }
        json_decref(o);
    } else if (strcmp(c->path, "/sim/health") == 0) {
        sim_resp_json(r, 200, json_pack("{s:b}", "ok", 1));
    } else {
        sim_resp_json(r, 404, json_pack("{s:s}", "error", "unknown /sim/ endpoint or method"));
    }
}

/* ---- routing ---- */

/* Gives every OpenAI and Anthropic answer rate-limit headers, as the providers do: answers that
 * went through the limiter have them already; the others (errors, listings) get the model's
 * (or the default's) current figures. */
static void add_rate_headers(SimCall *c)
{
    if (c->provider != SIM_OPENAI && c->provider != SIM_ANTHROPIC) return;
    const char *prefix = c->provider == SIM_OPENAI ? "x-ratelimit-" : "anthropic-ratelimit-";
    for (int i = 0; i < c->resp->nhdr; i++)
        if (strncmp(c->resp->hname[i], prefix, strlen(prefix)) == 0) return;
    SimModelCfg cfg;
    SimRate rate;
    sim_config_model(c->model, &cfg);
    sim_rate_peek(c->model, &cfg, &rate);
    if (c->provider == SIM_OPENAI) sim_openai_rate_headers(c->resp, &rate);
    else sim_anthropic_rate_headers(c->resp, &rate);
}

/* Applies the transport fault drawn for c to its 200 answer: 429_bare (a 429 with no retry-after
 * and no rate-limit headers, as a proxy or an overloaded front end sends), redirect (301 to
 * /moved + the path on the same host) or huge (the answer's status and headers, then huge_mb MB
 * of body, streamed). Other answers are left as they are. */
static void transport_fault(SimCall *c)
{
    SimResp *r = c->resp;
    if (r->action != SIM_ACT_SEND || r->status != 200) return;
    if (c->drawn == SIM_FAULT_429_BARE) {
        const char *msg = "Too many requests. Please slow down.";
        sim_resp_clear(r);
        if (c->provider == SIM_ANTHROPIC) sim_resp_json(r, 429, sim_anthropic_error("rate_limit_error", msg));
        else if (c->provider == SIM_GEMINI || c->provider == SIM_VERTEX)
            sim_resp_json(r, 429, sim_gemini_error(429, "RESOURCE_EXHAUSTED", msg));
        else sim_resp_json(r, 429, sim_openai_error(msg, "requests", NULL, "rate_limit_exceeded"));
        c->out_tokens = 0;
    } else if (c->drawn == SIM_FAULT_REDIRECT) {
        sim_resp_clear(r);
        sim_resp_raw(r, 301, "text/html", "<html><body>Moved Permanently</body></html>", 44);
        sim_resp_header(r, "location", "http://%s/moved%s", c->host ? c->host : "127.0.0.1", c->path);
        c->out_tokens = 0;
    } else if (c->drawn == SIM_FAULT_HUGE) {
        r->action = SIM_ACT_HUGE;
    }
}

/* libmicrohttpd's content reader of a huge answer (cls: its size in bytes): an unterminated JSON
 * string. */
static ssize_t huge_reader(void *cls, uint64_t pos, char *buf, size_t max)
{
    uint64_t size = (uint64_t)(uintptr_t)cls;
    if (pos >= size) return MHD_CONTENT_READER_END_OF_STREAM;
    if (max > size - pos) max = (size_t)(size - pos);
    memset(buf, 'a', max);
    if (pos == 0 && max >= 6) memcpy(buf, "{\"x\":\"", 6);
    return (ssize_t)max;
}

/* Routes one complete request and fills r->resp. */
static void process(Req *r, struct MHD_Connection *conn, const char *url, const char *method)
{
    SimCall *c = &r->call;
    c->resp = &r->resp;
    c->method = method;
    c->path = url;
    c->body = r->body.data ? r->body.data : "";
    c->body_len = r->body.len;
    c->fault_hdr = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "x-sim-fault");
    c->host = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "host");
    c->ctype = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "content-type");
    c->batch_delay_hdr = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "x-sim-batch-delay-ms");
    snprintf(c->endpoint, sizeof c->endpoint, "%.40s", url);
    c->drawn = SIM_FAULT_NONE;

    int is_oauth = 0;
    if (strncmp(url, "/sim/", 5) == 0) c->provider = SIM_CONTROL;
    else if (strncmp(url, "/v1beta/", 8) == 0) c->provider = SIM_GEMINI;
    else if (strncmp(url, "/v1/projects/", 13) == 0 || strncmp(url, "/v1beta1/projects/", 18) == 0) c->provider = SIM_VERTEX;
    else if (strncmp(url, "/api/v1/", 8) == 0) c->provider = SIM_OPENROUTER;
    else if (strcmp(url, "/token") == 0 || strncmp(url, "/oauth2/", 8) == 0) { c->provider = SIM_VERTEX; is_oauth = 1; }
    else if (strncmp(url, "/v2/", 4) == 0 || strcmp(url, "/v1/embed") == 0 || strcmp(url, "/v1/check-api-key") == 0)
        c->provider = SIM_COHERE;
    else if (strncmp(url, "/v1/messages", 12) == 0) c->provider = SIM_ANTHROPIC;
    else if (strcmp(url, "/v1/models") == 0 && (MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "x-api-key") ||
             MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "anthropic-version")))
        c->provider = SIM_ANTHROPIC;
    else if (strncmp(url, "/v1/models/", 11) == 0 && MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "anthropic-version"))
        c->provider = SIM_ANTHROPIC;
    else c->provider = SIM_OPENAI;

    switch (c->provider) {
    case SIM_ANTHROPIC:
        c->key = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "x-api-key");
        if (!c->key) c->key = bearer(conn);
        break;
    case SIM_GEMINI:
        c->key = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "x-goog-api-key");
        if (!c->key) c->key = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "key");
        if (!c->key) c->key = bearer(conn);
        break;
    default:
        c->key = bearer(conn);
    }

    if (r->too_big) {
        const char *msg = "Request body too large for the simulator (256 MB).";
        if (c->provider == SIM_ANTHROPIC) sim_resp_json(c->resp, 413, sim_anthropic_error("request_too_large", msg));
        else if (c->provider == SIM_GEMINI || c->provider == SIM_VERTEX)
            sim_resp_json(c->resp, 413, sim_gemini_error(413, "INVALID_ARGUMENT", msg));
        else sim_resp_json(c->resp, 413, sim_openai_error(msg, "invalid_request_error", NULL, NULL));
        return;
    }
    if (c->provider == SIM_CONTROL) { control(c, conn); return; }
    if (is_oauth) { sim_oauth_handle(c); return; }
    /* the OpenRouter key check is public: /api/v1/key answers a bad key with 401 like the rest */
    if (!check_key(c)) {
        snprintf(c->endpoint, sizeof c->endpoint, "auth");
        add_rate_headers(c);
        return;
    }
    switch (c->provider) {
    case SIM_ANTHROPIC: sim_anthropic_handle(c); break;
    case SIM_GEMINI: case SIM_VERTEX: sim_gemini_handle(c); break;
    case SIM_OPENROUTER: sim_openrouter_handle(c); break;
    case SIM_COHERE: sim_cohere_handle(c); break;
    default: sim_openai_handle(c); break;
    }
    add_rate_headers(c);
    transport_fault(c);
    if (c->model[0]) {
        int st = c->resp->action == SIM_ACT_SEND || c->resp->action == SIM_ACT_HUGE ? c->resp->status : 0;
        sim_record(c->model, c->provider, st, c->in_tokens, c->out_tokens);
    }
}

/* Queues the answer of r on conn, or closes the socket without one. */
static enum MHD_Result respond(Req *r, struct MHD_Connection *conn)
{
    SimResp *sr = &r->resp;
    double lat = sim_now_mono() - r->t0;
    if (sr->action != SIM_ACT_SEND && sr->action != SIM_ACT_HUGE) {
        sim_log_call(&r->call, 0, lat);
        if (sr->action == SIM_ACT_RESET) {
            const union MHD_ConnectionInfo *ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
            if (ci) {   /* an RST rather than a FIN */
                struct linger lg = {1, 0};
                setsockopt(ci->connect_fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
            }
        }
        return MHD_NO;
    }
    if (!sr->body) sim_resp_raw(sr, sr->status ? sr->status : 500, "application/json", "{}", 2);
    struct MHD_Response *resp;
    if (sr->action == SIM_ACT_HUGE) {
        double mb = sim_config_number("huge_mb", 1024);
        uint64_t size = (uint64_t)((mb > 0 ? mb : 1) * 1048576.0);
        resp = MHD_create_response_from_callback(size, 64 * 1024, huge_reader, (void *)(uintptr_t)size, NULL);
    } else {
        resp = MHD_create_response_from_buffer(sr->len, sr->body, MHD_RESPMEM_MUST_FREE);
        sr->body = NULL;
    }
    MHD_add_response_header(resp, "Content-Type", sr->ctype ? sr->ctype : "application/json");
    for (int i = 0; i < sr->nhdr; i++) MHD_add_response_header(resp, sr->hname[i], sr->hvalue[i]);
    enum MHD_Result ok = MHD_queue_response(conn, (unsigned)sr->status, resp);
    MHD_destroy_response(resp);
    sim_log_call(&r->call, sr->status, lat);
    return ok;
}

/* libmicrohttpd's access handler: gathers the body, routes the request once, waits for its
 * simulated latency (suspended), then answers. Returns MHD_NO to close without an answer. */
static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                                  const char *version, const char *upload_data, size_t *upload_data_size,
                                  void **con_cls)
{
    (void)cls; (void)version;
    Req *r = *con_cls;
    if (!r) {
        r = calloc(1, sizeof *r);
        if (!r) return MHD_NO;
        r->t0 = sim_now_mono();
        *con_cls = r;
        return MHD_YES;
    }
    if (*upload_data_size) {
        if (r->body.len + *upload_data_size > SIM_MAX_BODY) r->too_big = 1;
        else if (!r->too_big) sim_buf_add(&r->body, upload_data, *upload_data_size);
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (r->state == 0) {
        r->state = 1;
        process(r, conn, url, method);
        double delay = r->resp.delay_s;
        if (r->resp.action == SIM_ACT_HANG) delay = sim_config_number("hang_s", 300);
        if (delay > 0 && timer_schedule(conn, delay)) return MHD_YES;
    }
    return respond(r, conn);
}

/* libmicrohttpd's completion callback: frees the request state. */
static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls, enum MHD_RequestTerminationCode toe)
{
    (void)cls; (void)conn; (void)toe;
    Req *r = *con_cls;
    if (!r) return;
    sim_buf_free(&r->body);
    sim_resp_clear(&r->resp);
    free(r);
    *con_cls = NULL;
}

/* ---- command line ---- */

/* Prints the command-line summary to f. */
static void usage(FILE *f)
{
    fputs("usage: fql-sim [--port N] [--config FILE] [--log FILE] [--threads N] [--jwt-pubkey PEMFILE]\n"
          "               [--rpm N] [--tpm N] [--latency-ms N] [--jitter-ms N] [--batch-delay-ms N]\n"
          "               [--facts FILE] [--verbose]\n"
          "Simulates OpenAI, Anthropic, Gemini/Vertex and OpenRouter on 127.0.0.1 (see tests/sim/README.md).\n"
          "Prints {\"port\": N} as its first line; stops on SIGTERM or SIGINT.\n", f);
}

/* Parses flags, loads the configuration, serves until SIGTERM/SIGINT, then frees everything. */
int main(int argc, char **argv)
{
    int port = 0, threads = 0;
    const char *config = NULL, *logfile = NULL, *pubkey = NULL, *facts = NULL;
    json_t *flags = json_object();
    double batch_delay = -1;
    static const struct option opts[] = {
        {"port", required_argument, 0, 'p'}, {"config", required_argument, 0, 'c'},
        {"log", required_argument, 0, 'l'}, {"threads", required_argument, 0, 't'},
        {"jwt-pubkey", required_argument, 0, 'k'}, {"rpm", required_argument, 0, 1},
        {"tpm", required_argument, 0, 2}, {"latency-ms", required_argument, 0, 3},
        {"jitter-ms", required_argument, 0, 4}, {"batch-delay-ms", required_argument, 0, 5},
        {"facts", required_argument, 0, 6},
        {"verbose", no_argument, 0, 'v'}, {"help", no_argument, 0, 'h'}, {0, 0, 0, 0},
    };
    int o;
    while ((o = getopt_long(argc, argv, "p:c:l:t:k:vh", opts, NULL)) != -1) {
        switch (o) {
        case 'p': port = atoi(optarg); break;
        case 'c': config = optarg; break;
        case 'l': logfile = optarg; break;
        case 't': threads = atoi(optarg); break;
        case 'k': pubkey = optarg; break;
        case 1: json_object_set_new(flags, "rpm", json_real(atof(optarg))); break;
        case 2: json_object_set_new(flags, "tpm", json_real(atof(optarg))); break;
        case 3: json_object_set_new(flags, "latency_ms", json_real(atof(optarg))); break;
        case 4: json_object_set_new(flags, "jitter_ms", json_real(atof(optarg))); break;
        case 5: batch_delay = atof(optarg); break;
        case 6: facts = optarg; break;
        case 'v': verbose = 1; break;
        case 'h': usage(stdout); json_decref(flags); return 0;
        default: usage(stderr); json_decref(flags); return 2;
        }
    }
    if (port < 0 || port > 65535) { fprintf(stderr, "fql-sim: bad port\n"); return 2; }
    char err[400];
    if (sim_config_init(config, flags, err, sizeof err) < 0) {
        fprintf(stderr, "fql-sim: config: %s\n", err);
        json_decref(flags);
        return 2;
    }
    json_decref(flags);
    json_t *extra = json_object();
    if (batch_delay >= 0) json_object_set_new(extra, "batch_delay_ms", json_real(batch_delay));
    if (pubkey) json_object_set_new(extra, "jwt_public_key_file", json_string(pubkey));
    if (facts) json_object_set_new(extra, "facts", json_string(facts));
    if (json_object_size(extra) && sim_config_update(extra, 0, err, sizeof err) < 0) {
        fprintf(stderr, "fql-sim: %s\n", err);
        json_decref(extra);
        sim_config_free();
        return 2;
    }
    json_decref(extra);
    if (logfile) sim_log_open(logfile);
    sim_state_init();

    struct rlimit rl;   /* 1000+ concurrent connections need descriptors */
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    if (threads <= 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        threads = n > 0 ? (int)n : 2;
        if (threads > 8) threads = 8;
    }

    /* signals are taken synchronously by main; every other thread inherits the mask */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

    timer_start();
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    unsigned flagsd = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_TURBO;
    if (verbose) flagsd |= MHD_USE_ERROR_LOG;
    struct MHD_Daemon *d = MHD_start_daemon(flagsd, (uint16_t)port, NULL, NULL, on_request, NULL,
        MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
        MHD_OPTION_THREAD_POOL_SIZE, (unsigned)threads,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)16384,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)900,
        MHD_OPTION_LISTEN_BACKLOG_SIZE, (unsigned)4096,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(128 * 1024),
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL,
        MHD_OPTION_END);
    if (!d) {
        fprintf(stderr, "fql-sim: cannot listen on 127.0.0.1:%d: %s\n", port, strerror(errno));
        timer_stop();
        return 1;
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    printf("{\"port\": %u}\n", di ? (unsigned)di->port : (unsigned)port);
    fflush(stdout);

    int sig = 0;
    while (sigwait(&set, &sig) != 0) {}
    if (verbose) fprintf(stderr, "fql-sim: signal %d, stopping\n", sig);
    timer_stop();   /* resumes every suspended connection: libmicrohttpd refuses to stop with any */
    MHD_stop_daemon(d);
    sim_openai_reset();
    sim_anthropic_reset();
    sim_gemini_reset();
    sim_state_free();
    sim_config_free();
    sim_facts_free();
    return 0;
}
