/* sched.c: the scheduler: sends every model request over one libcurl multi handle, paced under
 * each model's limits, retried as runtime.md says, and hands each request's final answer to its
 * callback.
 *
 * One loop serves every model (several models progress at once): libcurl's socket interface
 * (curl_multi_socket_action) over an epoll set, sleeping until a socket is ready, libcurl's own
 * timer, or the nearest moment a paced request, a backoff or a pause ends: no polling of idle
 * transfers, no busy waiting. Each model has a FIFO queue, a list of requests waiting out a
 * backoff, and its limits:
 *
 *   - Pacing. A request bucket (rpm) and a token bucket (tpm) or an input and an output bucket
 *     (input_tpm / output_tpm), refilled continuously. A request is sent when every bucket it
 *     needs has its reservation; the reservation is the estimated input tokens plus the output
 *     ceiling (providers count the requested maximum output against the limit) and is settled
 *     against the usage the answer reports (refund or debit). Providers enforce per-minute limits
 *     over windows as short as one second (fql-sim: at most ceil(L/60) in any sliding second). A
 *     bucket with capacity B and rate r lets B + r·T through in any window T, so a bucket holding
 *     a full second's worth (runtime.md's figure) would send up to twice the per-second allowance
 *     after any idle moment (the start of a run, the end of a pause, a gap between the executor's
 *     batches). The scheduler therefore paces with a capacity of BURST_S of the rate (at least one
 *     request), at the declared limit (ms->pace = PACE_START) for local buckets and at PACE (97%)
 *     for the shared ones; requests larger than the capacity pass on a full bucket and leave a debt
 *     (ratelimit.c), which paces them exactly. A local model learns the provider's window from
 *     window-edge 429s: each lowers its pace by PACE_STEP and widens its one-second window by
 *     WIN1_STEP (to PACE_MIN, WIN1_MAX) before the factor is cut (rate_limited).
 *   - Output ceilings. A structured answer with no max_output_tokens set is sent a ceiling from
 *     its expected size (LmRequest.out_hint) and the answers of its shape so far (out_auto_ceiling);
 *     cut off at it, it is resent once with a larger one (out_grow).
 *   - Budgets over time (budget.c, sched_set_budget): each send holds its estimated cost; one that
 *     does not fit stops the statement like a fatal answer (budget_hold).
 *   - A window guard: every send is logged with what it counts, and a request waits while it
 *     would overflow the declared limit over the last second or minute. This covers what a bucket
 *     cannot: requests that are a large part of the per-second allowance (a bucket lets one
 *     request through on top of its rate), and the requests that had to open a connection, which
 *     reach the server later than they were sent (their entry stays longer).
 *   - An in-flight cap: max_concurrency, else rps × latency × 1.5 + 2 (latency observed: mean
 *     plus two mean deviations), within [4, 512].
 *   - AIMD. A rate-limit answer with evidence of a limit (limit_evidence: budget figures spent,
 *     a server wait without figures, or 429s a large share of recent answers) cuts the model's
 *     factor (once per episode: answers to requests sent before the last cut do not cut again):
 *     by half, except that a lone refusal after a quiet spell (EDGE_QUIET_S) is taken for a window
 *     edge hit through network jitter and cuts by EDGE_FACTOR only. It pauses the model's queue for the server's wait (or a backoff when it
 *     gives none) and puts the request back at the head of its queue without using up an attempt.
 *     Runs of successes add GROW_STEP back, up to the declared limits. The factor scales the
 *     bucket rates, or the in-flight cap of a model with no declared limits. The server's
 *     remaining-budget figures lower the buckets when they are below them.
 *
 * A 429 without such evidence is a refusal of that request alone (lone_429): it waits in the retry
 * list like a transient failure, the model's rate unchanged.
 *
 * Retries: LM_RETRY (5xx, 408, 409, 529, timeouts, connection errors) waits a short jittered delay
 * (retry_delay: 0.05-0.1 s first, doubling) or the server's longer retry-after in the retry list,
 * holding no in-flight slot while the queue behind it flows, and is sent again (due retries first)
 * until the model's attempts are used (default 6);
 * LM_ROW_ERROR completes at once; LM_FATAL completes every pending request with that answer and
 * makes sched_run return -1. An answer body over MAX_ANSWER_BYTES is a row error (the transfer is
 * stopped: memory bounded); a 3xx is fatal, naming where it points (redirects are not followed:
 * they could carry the key elsewhere). Rate limits never use up attempts, only a wall-clock budget per
 * request (RATE_BUDGET_S). Requests that can never be sent (over the context window or the
 * per-minute token limit, by the prompt's size) fail as row errors before sending.
 *
 * Ownership: submitted requests belong to the scheduler until their callback has run; the
 * scheduler frees them afterwards. Models are borrowed. Nothing here is global but libcurl's
 * one-time initialisation.
 */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/epoll.h>
#include <curl/curl.h>
#include "runtime.h"
#include "shared.h"

#define PACE             0.97     /* fraction of each declared limit the shared buckets (Redis) run at */
#define PACE_START       1.0      /* a local model starts at its declared limits ... */
#define PACE_STEP        0.01     /* ... and each window-edge 429 lowers its pace this much */
#define PACE_MIN         0.9      /* ... down to this (repeated 429s cut the factor as well) */
#define BURST_S          0.03     /* bucket capacity, in seconds of the rate (1 - PACE) */
#define DEFAULT_OUT      1024     /* output ceiling of a chat request when nothing sets one */
#define DEFAULT_ATTEMPTS 6
#define DEFAULT_TIMEOUT  60.0
#define RATE_BUDGET_S    600.0    /* wall-clock budget per request while rate limits hold it back */
#define BACKOFF_BASE     0.5      /* a paused model's backoff when the server gives no wait */
#define BACKOFF_CAP      30.0
#define RETRY_BASE_S     0.1      /* a transient failure's first retry waits 0.05-0.1 s, doubling after */
#define RL_ALPHA         0.1      /* weight of the latest answer in the model's share of 429s */
#define RL_REPEAT_FRAC   0.25     /* a share of 429s at least this is evidence of a limit */
#define MAX_ANSWER_BYTES (64u << 20)   /* a larger answer body fails the row (as http_get_json) */
#define MAX_SERVER_WAIT  120.0    /* a longer retry-after on a transient error is clamped */
#define MIN_FACTOR       (1.0 / 64)
#define GROW_STEP        0.05     /* additive increase of the factor after a run of successes */
#define NOLIMIT_CAP      64       /* in-flight cap of a model with no declared limit */
#define MAX_POLL_MS      250      /* the longest sleep: bounds how late a cancel from another thread is noticed */
#define FATAL_DRAIN_S    30.0     /* after a fatal answer, how long transfers in flight may still bring theirs */
#define EST_MARGIN       1.2      /* body bytes/4 × this, until answers teach the model's ratio */

#define WIN1_S           1.02     /* the one-second window of the shared path, with a margin for network jitter */
#define WIN1_START       1.005    /* a local model's one-second window at first: the provider's own ... */
#define WIN1_STEP        0.01     /* ... widened this much by each window-edge 429 (learning the provider's */
#define WIN1_MAX         1.1      /* window as seen from here, jitter included), up to this */
#define WIN60_S          60.5     /* the one-minute window, likewise */
#define NEWCONN_S        0.02     /* how much later a request that opened a connection may reach the server */
#define EDGE_QUIET_S     10.0     /* a rate-limit answer after this long without one is an edge hit */
#define EDGE_FACTOR      0.9      /* ... and cuts the factor this much instead of halving it */

#define OUT_KEYS         16       /* answer shapes learned per model (by schema name) */
#define OUT_SAMPLES      64       /* the last answers' output/hint ratios kept per shape */
#define OUT_LEARN_MIN    4        /* answers of a shape before its ratios set the ceiling */
#define OUT_MARGIN       1.1      /* the learned ceiling: the largest recent ratio x this x the hint */
#define OUT_FLOOR        16       /* added to twice the hint before anything is learned */
#define OUT_MIN          4        /* the least ceiling sent */

typedef struct Job Job;
typedef struct ModelState ModelState;

/* What the answers of one shape (a schema name) of one model used: output tokens / the request's
 * out_hint, the last OUT_SAMPLES of them. */
typedef struct OutLearn { char *key; double ratio[OUT_SAMPLES]; int n, pos; } OutLearn;

/* The declared limits as providers enforce them: sliding windows of one second (at most
 * ceil(L/60)) and one minute (at most L). Each send is logged with what it counts (requests,
 * tokens, input, output); a request is held back while it would overflow either window. This
 * guards against what a bucket alone allows: a request larger than a small fraction of the
 * per-second allowance (a bucket lets one request's worth through on top of its rate). */
enum { W_REQ, W_TOK, W_IN, W_OUT, W_N };
typedef struct WinEv { double t, exp1, v[W_N]; } WinEv;   /* exp1: when it leaves the one-second window */
typedef struct Window {
    WinEv *ring;
    uint64_t cap, start60, start1, end;   /* ring positions, ever increasing */
    double span1;                /* the one-second window's length as enforced here (seconds) */
    double s60[W_N], s1[W_N];
} Window;

/* One submitted request, from sched_submit to its callback. */
struct Job {
    Job *next;                   /* in its model's queue or retry list */
    Job *iprev, *inext;          /* in the scheduler's in-flight list */
    ModelState *ms;
    LmRequest *req;
    SchedDone done;
    void *ud;
    /* prepared on first dispatch, kept across retries */
    int prepared;
    HttpRequest http;
    double est_in;               /* input tokens reserved */
    double out_ceiling;          /* output tokens reserved */
    int out_fixed;               /* the ceiling is sent, so the provider counts it whatever is generated */
    int out_auto;                /* the ceiling was chosen here from the answer's shape (no max_output_tokens set) */
    int out_grown;               /* it was cut off once and resent with a larger ceiling */
    double raw_in;               /* body bytes / 4 when est_in came from the body, else 0 */
    /* timing */
    double first_sent;           /* monotonic; < 0 before the first send */
    double submitted;            /* monotonic: when sched_submit queued it */
    double answered_at;          /* monotonic: when its last transfer finished; 0 before */
    double win_delayed;          /* how much later than logged libcurl sent it (its window entry was moved on) */
    int sends;                   /* times libcurl sent the current transfer's request (it resends on a dead reused connection) */
    double sent_at;
    double not_before;           /* backoff deadline (retry list) */
    int reserved;                /* holds bucket reservations */
    uint64_t win_seq;            /* its entry in the model's window log */
    int sh_taken;                /* holds a reservation in the shared buckets (Redis) */
    double budget_held;          /* USD held against the budgets over time while it is sent (> 0: held) */
    double sh_sent_us;           /* the server's time of that take */
    double win_amt[W_N];
    /* the transfer */
    CURL *easy;
    struct curl_slist *hdrs;
    Buf body, head;
    int too_large;               /* the answer body passed MAX_ANSWER_BYTES: the transfer was stopped */
    int lone_429s;               /* 429s without evidence of a limit this request has had */
    char errbuf[CURL_ERROR_SIZE];
};

struct ModelState {
    LmModel *m;
    double cfg_rpm, cfg_tpm, cfg_in, cfg_out;   /* limits the buckets were made for */
    Bucket breq, btok, bin, bout;
    Window win;
    double last_limited;         /* when the last rate-limit answer came */
    int h2;                      /* the server answered over HTTP/2 */
    double factor;               /* AIMD multiplier of the declared limits (or of the in-flight cap) */
    double pace;                 /* fraction of the limits the local buckets run at: PACE_START, lowered by window-edge 429s */
    double win1;                 /* the learned one-second window (WIN1_START ...) */
    double last_cut;             /* when the factor was last halved */
    double paused_until;
    int ok_run, rl_streak;
    double rl_frac;              /* share of 429s among recent answers (exponentially weighted) */
    Job *head, *tail;            /* FIFO of requests not yet sent */
    Job *retry;                  /* waiting out a backoff, by not_before */
    int inflight;
    double lat_mean, lat_dev;    /* seconds; exponentially weighted */
    int lat_n;
    double est_ratio;            /* input tokens per body byte/4, with a margin */
    double avg_tokens;           /* reserved tokens per request, for the in-flight cap */
    OutLearn learn[OUT_KEYS];    /* output ceilings: what answers of each shape used */
    int nlearn;
    SchedStats st;
    /* shared limits (shared.h): the buckets in Redis replace the local ones while sh_on */
    SharedLimit sl;
    int sh_local;                /* Redis was lost and shared_fallback is local: local buckets at 1/sh_div */
    double sh_div;               /* the divisor of the limits (1: not divided) */
    double sh_wait_until;        /* monotonic: the shared buckets said wait until then */
};

struct Scheduler {
    CURLM *multi;
    int epfd;                    /* the sockets libcurl asks to watch (curl_multi_socket_action) */
    double curl_deadline;        /* when libcurl wants its timeout handled; < 0 none */
    ModelState **models;
    int nmodels, capmodels;
    Job *inflight;
    CURL **pool;
    int npool, cappool;
    int cancel;                  /* set by sched_cancel from any thread: atomic loads and stores */
    int running;
    int64_t pending;             /* jobs submitted and not yet completed */
    uint64_t rng;
    SharedConn *shared;          /* sched_set_shared: the limits live in Redis (borrowed); NULL: local */
    int shared_fallback;         /* Redis lost: pace locally at 1/N (1) or stop (0) */
    const SchedBudget *budget;   /* sched_set_budget: budgets over time (borrowed); NULL none */
    void *budget_ud;
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static void curl_init_once(void) { http_global_init(); }   /* the library's one curl_global_init (http.h) */

static double mono_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* splitmix64 draw in [0,1) */
static double urand(Scheduler *s)
{
    uint64_t z = (s->rng += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    z ^= z >> 31;
    return (double)(z >> 11) / 9007199254740992.0;
}

/* ---- models ---- */

/* Set bucket b to per_minute × pace with the scheduler's narrow capacity, keeping what
 * it holds (refilled to now at the old rate). unit: the least capacity (1 for requests). */
static void bucket_retune(Bucket *b, double per_minute, double pace, double unit, double now, int fresh)
{
    double pm = per_minute * pace;
    if (fresh) bucket_init(b, pm, now);
    else bucket_give(b, 0, now);                   /* refill to now at the old rate */
    b->rate = pm > 0 ? pm / 60.0 : 0;
    double cap = b->rate * BURST_S;
    b->capacity = cap > unit ? cap : unit;
    if (fresh || b->level > b->capacity) b->level = b->capacity;
}

/* (Re)make the buckets when the declared limits changed, and apply the current factor. */
static void apply_rates(ModelState *ms, double now)
{
    LmModel *m = ms->m;
    int fresh = ms->cfg_rpm != m->rpm || ms->cfg_tpm != m->tpm || ms->cfg_in != m->input_tpm ||
                ms->cfg_out != m->output_tpm;
    if (fresh) {
        ms->cfg_rpm = m->rpm; ms->cfg_tpm = m->tpm; ms->cfg_in = m->input_tpm; ms->cfg_out = m->output_tpm;
        ms->factor = 1;
    }
    double f = ms->factor / (ms->sh_div > 1 ? ms->sh_div : 1);   /* 1/N after a fallback from shared limits */
    bucket_retune(&ms->breq, m->rpm > 0 ? m->rpm * f : 0, ms->pace, 1, now, fresh);
    bucket_retune(&ms->btok, m->tpm > 0 ? m->tpm * f : 0, ms->pace, 1, now, fresh);
    bucket_retune(&ms->bin, m->input_tpm > 0 ? m->input_tpm * f : 0, ms->pace, 1, now, fresh);
    bucket_retune(&ms->bout, m->output_tpm > 0 ? m->output_tpm * f : 0, ms->pace, 1, now, fresh);
}

static int has_limits(const LmModel *m)
{
    return m->rpm > 0 || m->tpm > 0 || m->input_tpm > 0 || m->output_tpm > 0;
}

static ModelState *model_find(Scheduler *s, const LmModel *m)
{
    for (int i = 0; i < s->nmodels; i++)
        if (s->models[i]->m == m) return s->models[i];
    return NULL;
}

static ModelState *model_get(Scheduler *s, LmModel *m)
{
    ModelState *ms = model_find(s, m);
    if (ms) {
        apply_rates(ms, mono_now());   /* a redeclared model may have new limits */
        return ms;
    }
    if (s->nmodels == s->capmodels) {
        s->capmodels = s->capmodels ? s->capmodels * 2 : 4;
        s->models = xrealloc(s->models, (size_t)s->capmodels * sizeof *s->models);
    }
    ms = xcalloc(1, sizeof *ms);
    ms->m = m;
    ms->factor = 1;
    ms->pace = PACE_START;
    ms->win1 = WIN1_START;
    ms->cfg_rpm = ms->cfg_tpm = ms->cfg_in = ms->cfg_out = -1;
    ms->last_cut = ms->last_limited = -1e18;
    ms->est_ratio = EST_MARGIN;
    apply_rates(ms, mono_now());
    s->models[s->nmodels++] = ms;
    return ms;
}

/* The most requests the model may have in flight. */
static int inflight_cap(const ModelState *ms)
{
    const LmModel *m = ms->m;
    if (!has_limits(m)) {
        int base = m->max_concurrency > 0 ? m->max_concurrency : NOLIMIT_CAP;
        int c = (int)(base * ms->factor);
        return c < 1 ? 1 : c;
    }
    if (m->max_concurrency > 0) return m->max_concurrency;
    double rps = 1e18, tok = ms->avg_tokens > 0 ? ms->avg_tokens : 1000;
    if (ms->breq.rate > 0) rps = fmin(rps, ms->breq.rate);
    if (ms->btok.rate > 0) rps = fmin(rps, ms->btok.rate / tok);
    if (ms->bin.rate > 0) rps = fmin(rps, ms->bin.rate / tok);
    if (ms->bout.rate > 0) rps = fmin(rps, ms->bout.rate / tok);
    double lat = ms->lat_n ? ms->lat_mean + 2 * ms->lat_dev : 1.0;
    double c = rps * lat * 1.5 + 2;
    if (c < 4) c = 4;
    if (c > 512) c = 512;
    return (int)c;
}

/* ---- lifecycle ---- */

/* libcurl's socket callback: watch sock for what it asks (socketp remembers it is registered). */
static int on_socket(CURL *e, curl_socket_t sock, int what, void *ud, void *socketp)
{
    Scheduler *s = ud;
    (void)e;
    if (what == CURL_POLL_REMOVE) {
        epoll_ctl(s->epfd, EPOLL_CTL_DEL, sock, NULL);
        curl_multi_assign(s->multi, sock, NULL);
        return 0;
    }
    struct epoll_event ev;
    memset(&ev, 0, sizeof ev);
    ev.events = (what & CURL_POLL_IN ? EPOLLIN : 0) | (what & CURL_POLL_OUT ? EPOLLOUT : 0);
    ev.data.fd = sock;
    if (socketp) {
        epoll_ctl(s->epfd, EPOLL_CTL_MOD, sock, &ev);
    } else {
        if (epoll_ctl(s->epfd, EPOLL_CTL_ADD, sock, &ev) != 0 && errno == EEXIST)
            epoll_ctl(s->epfd, EPOLL_CTL_MOD, sock, &ev);
        curl_multi_assign(s->multi, sock, s);
    }
    return 0;
}

/* libcurl's timer callback: when to call it back with CURL_SOCKET_TIMEOUT. */
static int on_timer(CURLM *multi, long ms, void *ud)
{
    Scheduler *s = ud;
    (void)multi;
    s->curl_deadline = ms < 0 ? -1 : mono_now() + ms / 1000.0;
    return 0;
}

Scheduler *sched_new(void)
{
    Scheduler *s = xcalloc(1, sizeof *s);
    s->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (s->epfd < 0) {
        free(s);
        return NULL;
    }
    s->curl_deadline = -1;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    s->rng = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 20) ^ (uint64_t)(uintptr_t)s;
    return s;
}

/* The multi handle, made on the first transfer (libcurl loads then: curl_lazy.c), so a statement
 * that sends nothing never loads it. 0, or -1 when libcurl could not make one. */
static int multi_ready(Scheduler *s)
{
    if (s->multi) return 0;
    pthread_once(&curl_once, curl_init_once);
    s->multi = curl_multi_init();
    if (!s->multi) return -1;
    curl_multi_setopt(s->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
    curl_multi_setopt(s->multi, CURLMOPT_SOCKETDATA, s);
    curl_multi_setopt(s->multi, CURLMOPT_TIMERFUNCTION, on_timer);
    curl_multi_setopt(s->multi, CURLMOPT_TIMERDATA, s);
    curl_multi_setopt(s->multi, CURLMOPT_MAXCONNECTS, 512L);
    curl_multi_setopt(s->multi, CURLMOPT_PIPELINING, (long)CURLPIPE_MULTIPLEX);
    return 0;
}

static void job_free(Job *j)
{
    if (!j) return;
    http_request_free(&j->http);
    if (j->hdrs) {
        for (struct curl_slist *h = j->hdrs; h; h = h->next)   /* they hold the key */
            if (h->data) memset(h->data, 0, strlen(h->data));
        curl_slist_free_all(j->hdrs);
    }
    buf_free(&j->body);
    buf_free(&j->head);
    lm_request_free(j->req);
    free(j);
}

void sched_free(Scheduler *s)
{
    if (!s) return;
    for (Job *j = s->inflight, *n; j; j = n) {
        n = j->inext;
        curl_multi_remove_handle(s->multi, j->easy);
        curl_easy_cleanup(j->easy);
        j->easy = NULL;
        job_free(j);
    }
    for (int i = 0; i < s->nmodels; i++) {
        ModelState *ms = s->models[i];
        for (Job *j = ms->head, *n; j; j = n) { n = j->next; job_free(j); }
        for (Job *j = ms->retry, *n; j; j = n) { n = j->next; job_free(j); }
        free(ms->st.latencies);
        free(ms->win.ring);
        for (int k = 0; k < ms->nlearn; k++) free(ms->learn[k].key);
        shared_limit_clear(&ms->sl);
        free(ms);
    }
    free(s->models);
    for (int i = 0; i < s->npool; i++) curl_easy_cleanup(s->pool[i]);
    free(s->pool);
    if (s->multi) curl_multi_cleanup(s->multi);
    close(s->epfd);
    free(s);
}

void sched_add_model(Scheduler *s, LmModel *m)
{
    if (s && m) model_get(s, m);
}

void sched_submit(Scheduler *s, LmModel *m, LmRequest *req, SchedDone done, void *ud)
{
    ModelState *ms = model_get(s, m);
    Job *j = xcalloc(1, sizeof *j);
    j->ms = ms;
    j->req = req;
    j->done = done;
    j->ud = ud;
    j->first_sent = -1;
    j->submitted = mono_now();
    buf_init(&j->body);
    buf_init(&j->head);
    if (ms->tail) ms->tail->next = j; else ms->head = j;
    ms->tail = j;
    s->pending++;
}

void sched_set_shared(Scheduler *s, SharedConn *c, int fallback_local)
{
    if (!s) return;
    int changed = s->shared != c;
    s->shared = c;
    s->shared_fallback = fallback_local;
    if (!changed) return;
    double now = mono_now();
    for (int i = 0; i < s->nmodels; i++) {
        ModelState *ms = s->models[i];
        shared_limit_clear(&ms->sl);
        ms->sh_local = 0;
        ms->sh_div = 1;
        ms->sh_wait_until = 0;
        apply_rates(ms, now);
    }
}

void sched_set_budget(Scheduler *s, const SchedBudget *b, void *ud)
{
    if (!s) return;
    s->budget = b;
    s->budget_ud = ud;
}

void sched_cancel(Scheduler *s)
{
    if (s) __atomic_store_n(&s->cancel, 1, __ATOMIC_RELEASE);
}

void sched_clear_cancel(Scheduler *s)
{
    if (s) __atomic_store_n(&s->cancel, 0, __ATOMIC_RELEASE);
}

const SchedStats *sched_stats(Scheduler *s, const LmModel *m)
{
    ModelState *ms = s ? model_find(s, m) : NULL;
    return ms ? &ms->st : NULL;
}

/* ---- queues ---- */

static void push_front(ModelState *ms, Job *j)
{
    j->next = ms->head;
    ms->head = j;
    if (!ms->tail) ms->tail = j;
}

static Job *pop_front(ModelState *ms)
{
    Job *j = ms->head;
    if (j) {
        ms->head = j->next;
        if (!ms->head) ms->tail = NULL;
        j->next = NULL;
    }
    return j;
}

/* Insert into the retry list, kept in not_before order (ties: first come first). */
static void retry_insert(ModelState *ms, Job *j)
{
    Job **p = &ms->retry;
    while (*p && (*p)->not_before <= j->not_before) p = &(*p)->next;
    j->next = *p;
    *p = j;
}

/* ---- completing requests ---- */

/* Release what j holds against the budgets over time, recording usd spent (< 0: nothing known). */
static void budget_release(Scheduler *s, Job *j, double usd)
{
    if (!s->budget || j->budget_held <= 0) return;
    double held = j->budget_held;
    j->budget_held = 0;
    s->budget->spent(s->budget_ud, j->ms->m, held, usd > 0 ? usd : 0);
}

/* Hand j its final answer a (borrowed by the callback), then free j. An answer that came over
 * HTTP carries its timing (provider latency and time queued in FQL, runtime.h). */
static void complete(Scheduler *s, Job *j, const LmAnswer *a)
{
    SchedStats *st = &j->ms->st;
    if (a->outcome != LM_OK) st->failures++;
    s->pending--;
    budget_release(s, j, 0);   /* never sent, or cut off by a stop: nothing more was spent */
    LmAnswer t = *a;   /* shallow: the callback borrows it */
    t.timed = 0;
    if (j->answered_at > 0 && j->first_sent >= 0) {
        t.timed = 1;
        t.latency_ms = (j->answered_at - j->sent_at) * 1000;
        t.queue_ms = fmax(0, j->sent_at - j->submitted) * 1000;
        st->queue_ms_sum += t.queue_ms;
        st->queue_n++;
    }
    if (j->done) j->done(j->ud, j->req, &t);
    job_free(j);
}

/* Complete j with a failure made here (no HTTP answer): outcome, kind and message. */
static void complete_with(Scheduler *s, Job *j, LmOutcome outcome, const char *kind, const char *msg)
{
    LmAnswer a;
    memset(&a, 0, sizeof a);
    a.outcome = outcome;
    a.cost_usd = -1;
    a.retry_after_s = -1;
    a.remaining_requests = a.remaining_tokens = -1;
    a.error_kind = (char *)kind;
    a.error_message = (char *)msg;
    complete(s, j, &a);
}

static void release_easy(Scheduler *s, Job *j)
{
    if (!j->easy) return;
    curl_multi_remove_handle(s->multi, j->easy);
    if (s->npool == s->cappool) {
        s->cappool = s->cappool ? s->cappool * 2 : 16;
        s->pool = xrealloc(s->pool, (size_t)s->cappool * sizeof *s->pool);
    }
    curl_easy_reset(j->easy);
    s->pool[s->npool++] = j->easy;
    j->easy = NULL;
    if (j->hdrs) {
        for (struct curl_slist *h = j->hdrs; h; h = h->next)
            if (h->data) memset(h->data, 0, strlen(h->data));
        curl_slist_free_all(j->hdrs);
        j->hdrs = NULL;
    }
    if (j->iprev) j->iprev->inext = j->inext; else s->inflight = j->inext;
    if (j->inext) j->inext->iprev = j->iprev;
    j->iprev = j->inext = NULL;
    j->ms->inflight--;
}

/* Complete every pending request (in flight, queued, backing off) with answer a. */
static void complete_all(Scheduler *s, const LmAnswer *a)
{
    while (s->inflight) {
        Job *j = s->inflight;
        release_easy(s, j);
        complete(s, j, a);
    }
    for (int again = 1; again; ) {   /* callbacks may submit more */
        again = 0;
        for (int i = 0; i < s->nmodels; i++) {
            ModelState *ms = s->models[i];
            Job *j;
            while ((j = pop_front(ms))) { complete(s, j, a); again = 1; }
            while ((j = ms->retry)) { ms->retry = j->next; complete(s, j, a); again = 1; }
        }
    }
}

/* ---- windows ---- */

static WinEv *win_at(const Window *w, uint64_t i) { return &w->ring[i & (w->cap - 1)]; }

/* Forget sends that left the windows (the one-second window first: whatever leaves the minute
 * has left the second). */
static void win_expire(Window *w, double now)
{
    for (; w->start1 < w->end && win_at(w, w->start1)->exp1 <= now; w->start1++)
        for (int k = 0; k < W_N; k++) w->s1[k] -= win_at(w, w->start1)->v[k];
    for (; w->start60 < w->end && win_at(w, w->start60)->t <= now - WIN60_S; w->start60++)
        for (int k = 0; k < W_N; k++) w->s60[k] -= win_at(w, w->start60)->v[k];
}

/* Seconds until enough of quantity k leaves the window starting at from to free need (span: the
 * minute's length, or 0 for the second, whose entries carry their own expiry). */
static double win_free(const Window *w, uint64_t from, int k, double need, double span, double now)
{
    double freed = 0, last = now;
    for (uint64_t i = from; i < w->end; i++) {
        const WinEv *e = win_at(w, i);
        double exp = span > 0 ? e->t + span : e->exp1;
        if (exp > last) last = exp;   /* the second's entries leave in order of their expiry, at the latest */
        freed += e->v[k];
        if (freed >= need) return fmax(last - now, 1e-4);
    }
    return span > 0 ? span : w->span1;
}

/* Seconds until amt fits under the limits lim in both windows (0 = now). A request larger than the
 * per-second allowance fits when the second is empty, as providers admit it. */
static double win_wait(Window *w, const double lim[W_N], const double amt[W_N], double now)
{
    win_expire(w, now);
    double wait = 0;
    for (int k = 0; k < W_N; k++) {
        if (lim[k] <= 0 || amt[k] <= 0) continue;
        if (w->s60[k] + amt[k] > lim[k])
            wait = fmax(wait, win_free(w, w->start60, k, w->s60[k] + amt[k] - lim[k], WIN60_S, now));
        double per_s = ceil(lim[k] / 60);
        if (w->s1[k] > 1e-9 && w->s1[k] + amt[k] > per_s)
            wait = fmax(wait, win_free(w, w->start1, k, w->s1[k] + amt[k] - per_s, 0, now));
    }
    return wait;
}

/* Log a send; returns its position. */
static uint64_t win_add(Window *w, const double amt[W_N], double now)
{
    if (w->end - w->start60 == w->cap) {
        uint64_t ncap = w->cap ? w->cap * 2 : 256;
        WinEv *nr = xmalloc(ncap * sizeof *nr);
        for (uint64_t i = w->start60; i < w->end; i++) nr[i & (ncap - 1)] = *win_at(w, i);
        free(w->ring);
        w->ring = nr;
        w->cap = ncap;
    }
    WinEv *e = &w->ring[w->end & (w->cap - 1)];
    e->t = now;
    e->exp1 = now + w->span1;
    for (int k = 0; k < W_N; k++) { e->v[k] = amt[k]; w->s60[k] += amt[k]; w->s1[k] += amt[k]; }
    return w->end++;
}

/* Send seq reached the server delay seconds after it was logged: keep it in the second longer. */
static void win_delay(Window *w, uint64_t seq, double delay)
{
    if (seq < w->start1 || seq >= w->end || delay <= 0) return;
    win_at(w, seq)->exp1 += delay;
}

/* Change what send seq counts by delta (a settlement), if it is still in the windows. */
static void win_adjust(Window *w, uint64_t seq, int k, double delta)
{
    if (seq < w->start60 || seq >= w->end) return;
    win_at(w, seq)->v[k] += delta;
    w->s60[k] += delta;
    if (seq >= w->start1) w->s1[k] += delta;
}

/* ---- reservations ---- */

/* The learning slot of r's answer shape in ms (made on first use; the oldest is reused when all
 * OUT_KEYS are taken). */
static OutLearn *out_learn(ModelState *ms, const LmRequest *r)
{
    const char *key = r->schema_name ? r->schema_name : "";
    for (int i = 0; i < ms->nlearn; i++)
        if (!strcmp(ms->learn[i].key, key)) return &ms->learn[i];
    OutLearn *L = &ms->learn[ms->nlearn < OUT_KEYS ? ms->nlearn++ : OUT_KEYS - 1];
    free(L->key);
    memset(L, 0, sizeof *L);
    L->key = xstrdup(key);
    return L;
}

/* Note that an answer of r's shape used out output tokens. */
static void out_observe(ModelState *ms, const LmRequest *r, double out)
{
    if (r->out_hint <= 0 || out <= 0) return;
    OutLearn *L = out_learn(ms, r);
    L->ratio[L->pos] = out / r->out_hint;
    L->pos = (L->pos + 1) % OUT_SAMPLES;
    if (L->n < OUT_SAMPLES) L->n++;
}

/* Whether the scheduler chooses r's output ceiling: a structured chat answer with an expected size,
 * no max_output_tokens set on the request or the model (what the user wrote wins), and a model
 * that spends no hidden reasoning tokens out of the ceiling (reasoning models, which the catalog
 * marks without logprobs, and a set reasoning_effort keep the old ceiling; so does Gemini, whose
 * 2.5 models think out of maxOutputTokens by default). */
static int out_auto_ok(const LmModel *m, const LmRequest *r)
{
    return r->kind == LM_CHAT && r->schema && r->out_hint > 0 && r->max_output_tokens <= 0 && m->max_output_tokens <= 0 &&
           !(m->reasoning_effort && *m->reasoning_effort) &&
           (m->provider == PROV_ANTHROPIC || ((m->provider == PROV_OPENAI || m->provider == PROV_OPENROUTER) && m->logprobs));
}

/* The tight ceiling of r (out_auto_ok): before OUT_LEARN_MIN answers of its shape, twice its
 * expected size plus OUT_FLOOR; after, the largest output/hint ratio of the shape's last
 * OUT_SAMPLES answers × OUT_MARGIN × its hint (the largest: a cut-off answer costs a resend;
 * answers of one shape vary little). Between OUT_MIN and max(DEFAULT_OUT, 2 × hint + OUT_FLOOR). */
static double out_auto_ceiling(ModelState *ms, const LmRequest *r)
{
    double hint = r->out_hint, c = 2 * hint + OUT_FLOOR, hi = fmax(DEFAULT_OUT, c);
    OutLearn *L = out_learn(ms, r);
    if (L->n >= OUT_LEARN_MIN) {
        double top = 0;
        for (int i = 0; i < L->n; i++) top = fmax(top, L->ratio[i]);
        c = ceil(top * OUT_MARGIN * hint);
    }
    c = fmin(hi, fmax(OUT_MIN, c));
    if (ms->m->output_tpm > 0 && c > ms->m->output_tpm) c = fmax(OUT_MIN, floor(ms->m->output_tpm));   /* sendable */
    return c;
}

/* Output ceiling of j's request: the request's, else the model's, else one chosen here from the
 * answer's shape (out_auto_ok: j->out_auto set), else a default (chat only); and whether it is sent
 * (then the provider counts all of it). Anthropic always sends its default. */
static double out_ceiling(ModelState *ms, Job *j, int *fixed)
{
    const LmModel *m = ms->m;
    const LmRequest *r = j->req;
    *fixed = 0;
    j->out_auto = 0;
    if (r->kind == LM_EMBED) return 0;
    if (r->max_output_tokens > 0) { *fixed = 1; return r->max_output_tokens; }
    if (m->max_output_tokens > 0) { *fixed = 1; return m->max_output_tokens; }
    if (out_auto_ok(m, r)) { *fixed = j->out_auto = 1; return out_auto_ceiling(ms, r); }
    *fixed = m->provider == PROV_ANTHROPIC;
    return DEFAULT_OUT;
}

/* Build j's HTTP request with output ceiling ceil sent when it was chosen here (the request itself
 * keeps max_output_tokens 0: its cache key is that of the request without it). */
static int build_http(const LmModel *m, Job *j, char **err)
{
    http_request_free(&j->http);
    memset(&j->http, 0, sizeof j->http);
    if (!j->out_auto) return provider_build(m, j->req, &j->http, err);
    j->req->max_output_tokens = (int)j->out_ceiling;
    int rc = provider_build(m, j->req, &j->http, err);
    j->req->max_output_tokens = 0;
    return rc;
}

/* Input tokens of the prompt text (bytes/4 per message plus framing, as tokenizers roughly do),
 * for the checks against hard limits: no safety margin, so no false refusals. */
static double text_tokens(const LmRequest *r)
{
    if (r->est_input_tokens > 0) return (double)r->est_input_tokens;
    double t = 3;
    if (r->system) t += 4 + ceil(strlen(r->system) / 4.0);
    if (r->user) t += 4 + ceil(strlen(r->user) / 4.0);
    for (int i = 0; i < r->ninputs; i++) t += r->inputs[i] ? ceil(strlen(r->inputs[i]) / 4.0) : 0;
    return t;
}

/* Build j's HTTP request and its reservation. Returns 0, or -1 after completing j with a row
 * error or a fatal answer (*fatal set to 1 then). */
static int prepare(Scheduler *s, Job *j, int *fatal, LmAnswer *fatal_ans)
{
    ModelState *ms = j->ms;
    LmModel *m = ms->m;
    LmRequest *r = j->req;
    char *err = NULL;
    if (m->provider == PROV_VERTEX && vertex_access_token(m, NULL, &err)) {
        memset(fatal_ans, 0, sizeof *fatal_ans);
        fatal_ans->outcome = LM_FATAL;
        fatal_ans->cost_usd = fatal_ans->retry_after_s = -1;
        fatal_ans->remaining_requests = fatal_ans->remaining_tokens = -1;
        fatal_ans->error_kind = xstrdup("auth");
        fatal_ans->error_message = err;
        *fatal = 1;
        return -1;
    }
    j->out_ceiling = out_ceiling(ms, j, &j->out_fixed);
    double tin = text_tokens(r);
    char msg[512];
    msg[0] = 0;
    if (m->context_window > 0 && tin + (j->out_fixed ? j->out_ceiling : 0) > (double)m->context_window)
        snprintf(msg, sizeof msg, "the request needs about %.0f tokens (%.0f input%s), more than the context "
                 "window of %s (%lld tokens)", tin + (j->out_fixed ? j->out_ceiling : 0), tin,
                 j->out_fixed ? " + the output ceiling" : "", m->model_name ? m->model_name : "the model",
                 (long long)m->context_window);
    if (msg[0]) {
        complete_with(s, j, LM_ROW_ERROR, "context_window", msg);
        return -1;
    }
    if ((m->tpm > 0 && tin + j->out_ceiling * j->out_fixed > m->tpm) || (m->input_tpm > 0 && tin > m->input_tpm) ||
        (m->output_tpm > 0 && j->out_fixed && j->out_ceiling > m->output_tpm)) {
        snprintf(msg, sizeof msg, "the request needs about %.0f tokens, more than the per-minute token limit of "
                 "model '%s'; it can never be sent", tin + j->out_ceiling * j->out_fixed, m->alias ? m->alias : "");
        complete_with(s, j, LM_ROW_ERROR, "request_too_large", msg);
        return -1;
    }
    if (build_http(m, j, &err)) {
        complete_with(s, j, LM_ROW_ERROR, "bad_request", err ? err : "the request could not be built");
        free(err);
        return -1;
    }
    if (r->est_input_tokens > 0) {
        j->est_in = (double)r->est_input_tokens;
        j->raw_in = 0;
    } else {
        j->raw_in = (j->http.body ? strlen(j->http.body) : 0) / 4.0;
        j->est_in = ceil(j->raw_in * ms->est_ratio);
        if (j->est_in < 1) j->est_in = 1;
    }
    j->prepared = 1;
    return 0;
}

/* What j counts against each limit: one request, its tokens, input, output. */
static void job_amounts(const Job *j, double amt[W_N])
{
    amt[W_REQ] = 1;
    amt[W_TOK] = j->est_in + j->out_ceiling;
    amt[W_IN] = j->est_in;
    amt[W_OUT] = j->out_ceiling;
}

/* Whether model ms takes from the shared buckets in Redis (then the local ones are not used). */
static int sh_on(const Scheduler *s, const ModelState *ms)
{
    return s->shared && !ms->sh_local;
}

/* Seconds until j fits the model's windows and every bucket it needs has its share (0 = now).
 * local: the local buckets count (not when the shared buckets in Redis pace the model). */
static double reserve_wait(ModelState *ms, const Job *j, double now, int local)
{
    const LmModel *m = ms->m;
    double div = ms->sh_div > 1 ? ms->sh_div : 1;
    double lim[W_N] = { m->rpm / div, m->tpm / div, m->input_tpm / div, m->output_tpm / div }, amt[W_N];
    job_amounts(j, amt);
    double w = win_wait(&ms->win, lim, amt, now);
    if (!local) return w;
    w = fmax(w, bucket_wait(&ms->breq, 1, now));
    w = fmax(w, bucket_wait(&ms->btok, j->est_in + j->out_ceiling, now));
    w = fmax(w, bucket_wait(&ms->bin, j->est_in, now));
    w = fmax(w, bucket_wait(&ms->bout, j->out_ceiling, now));
    return w;
}

/* Take j's reservation (local: from the local buckets too; the window always logs it). */
static void reserve(ModelState *ms, Job *j, double now, int local)
{
    if (local) {
        bucket_take(&ms->breq, 1, now);
        bucket_take(&ms->btok, j->est_in + j->out_ceiling, now);
        bucket_take(&ms->bin, j->est_in, now);
        bucket_take(&ms->bout, j->out_ceiling, now);
    }
    job_amounts(j, j->win_amt);
    ms->win.span1 = local ? ms->win1 : WIN1_S;
    j->win_seq = win_add(&ms->win, j->win_amt, now);
    j->reserved = 1;
    double tok = j->est_in + j->out_ceiling;
    ms->avg_tokens = ms->avg_tokens > 0 ? ms->avg_tokens * 0.9 + tok * 0.1 : tok;
}

/* Give delta = { requests, tokens, input, output } of j's shared reservation back to Redis. A
 * failure is not handled here: the next take meets it (and stops, or falls back). */
static void shared_return(Scheduler *s, ModelState *ms, Job *j, const double delta[W_N], int last)
{
    if (!j->sh_taken) return;
    if (last) j->sh_taken = 0;
    if (!sh_on(s, ms)) return;
    char *msg = NULL;
    if (shared_give(s->shared, ms->m, &ms->sl, delta, PACE, BURST_S, &msg)) free(msg);
}

/* Give back a reservation the server did not count (a rate-limit refusal). */
static void unreserve(Scheduler *s, ModelState *ms, Job *j, double now)
{
    if (!j->reserved) return;
    double all[W_N];
    job_amounts(j, all);
    shared_return(s, ms, j, all, 1);
    bucket_give(&ms->breq, 1, now);
    bucket_give(&ms->btok, j->est_in + j->out_ceiling, now);
    bucket_give(&ms->bin, j->est_in, now);
    bucket_give(&ms->bout, j->out_ceiling, now);
    for (int k = 0; k < W_N; k++) win_adjust(&ms->win, j->win_seq, k, -j->win_amt[k]);
    j->reserved = 0;
}

/* Settle j's reservation against the usage a reports: refund or debit the difference. Providers
 * count the requested ceiling when it is sent, the generated output otherwise. */
static void settle(Scheduler *s, ModelState *ms, Job *j, const LmAnswer *a, double now)
{
    if (!j->reserved) return;
    j->reserved = 0;
    if (a->input_tokens <= 0 && a->output_tokens <= 0) { j->sh_taken = 0; return; }   /* no usage: keep the estimate */
    double in = a->input_tokens > 0 ? (double)a->input_tokens : j->est_in;
    double out = j->out_fixed ? j->out_ceiling : (double)a->output_tokens;
    double delta[W_N] = { 0, (j->est_in + j->out_ceiling) - (in + out), j->est_in - in, j->out_ceiling - out };
    shared_return(s, ms, j, delta, 1);
    bucket_give(&ms->btok, (j->est_in + j->out_ceiling) - (in + out), now);
    bucket_give(&ms->bin, j->est_in - in, now);
    bucket_give(&ms->bout, j->out_ceiling - out, now);
    win_adjust(&ms->win, j->win_seq, W_TOK, (in + out) - (j->est_in + j->out_ceiling));
    win_adjust(&ms->win, j->win_seq, W_IN, in - j->est_in);
    win_adjust(&ms->win, j->win_seq, W_OUT, out - j->out_ceiling);
    if (j->raw_in > 0 && a->input_tokens > 0) {
        /* learn this model's tokens per body byte/4 (schemas and framing inflate bodies) */
        double target = a->input_tokens / j->raw_in * 1.1;
        ms->est_ratio += 0.2 * (target - ms->est_ratio);
    }
}

/* The server's view of the budget left lowers a bucket that thinks it has more. */
static void server_budget(ModelState *ms, const LmAnswer *a, double now)
{
    if (a->remaining_requests >= 0 && ms->breq.rate > 0) {
        bucket_give(&ms->breq, 0, now);
        if (ms->breq.level > a->remaining_requests) ms->breq.level = a->remaining_requests;
    }
    if (a->remaining_tokens >= 0) {
        Bucket *bs[3] = { &ms->btok, &ms->bin, &ms->bout };
        for (int i = 0; i < 3; i++) {
            if (bs[i]->rate <= 0) continue;
            bucket_give(bs[i], 0, now);
            if (bs[i]->level > a->remaining_tokens) bs[i]->level = a->remaining_tokens;
        }
    }
}

/* ---- sending ---- */

/* libcurl's write callback (ud: the Job): keeps the answer body, up to MAX_ANSWER_BYTES; a larger
 * one stops the transfer (libcurl fails it with CURLE_WRITE_ERROR) so memory stays bounded. */
static size_t on_body(char *p, size_t size, size_t n, void *ud)
{
    Job *j = ud;
    if (j->body.len + size * n > MAX_ANSWER_BYTES) {
        j->too_large = 1;
        return 0;
    }
    buf_append(&j->body, p, size * n);
    return size * n;
}

/* Called by libcurl each time it is about to send the request: more than once for one transfer
 * when it resends on a fresh connection after a reused one died (a reset), which counts as a
 * retry like any other. */
static int on_prereq(void *ud, char *conn_primary_ip, char *conn_local_ip, int conn_primary_port, int conn_local_port)
{
    Job *j = ud;
    if (++j->sends == 1 && j->reserved) {
        /* it leaves now, not when it was logged (a busy loop, a connection to open): its entry
         * stays in the one-second window from now, so that the window is the provider's */
        j->win_delayed = mono_now() - j->sent_at;
        win_delay(&j->ms->win, j->win_seq, j->win_delayed);
    }
    return CURL_PREREQFUNC_OK;
}

static size_t on_header(char *p, size_t size, size_t n, void *ud)
{
    Buf *b = ud;
    if (size * n >= 5 && !memcmp(p, "HTTP/", 5)) buf_clear(b);   /* keep the final response's block only */
    buf_append(b, p, size * n);
    return size * n;
}

/* Start j's transfer. 0, or -1 when libcurl refused (j is then still j's model's to retry). */
static int start(Scheduler *s, Job *j, double now)
{
    ModelState *ms = j->ms;
    const LmModel *m = ms->m;
    if (multi_ready(s)) return -1;
    CURL *e = s->npool ? s->pool[--s->npool] : curl_easy_init();
    if (!e) return -1;
    j->easy = e;
    buf_clear(&j->body);
    buf_clear(&j->head);
    j->too_large = 0;
    j->errbuf[0] = 0;
    for (int i = 0; i < j->http.nheaders; i++) j->hdrs = curl_slist_append(j->hdrs, j->http.headers[i]);
    j->hdrs = curl_slist_append(j->hdrs, "Expect:");
    curl_easy_setopt(e, CURLOPT_URL, j->http.url);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, j->hdrs);
    if (j->http.body && (!j->http.method || strcmp(j->http.method, "GET"))) {
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(j->http.body));
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, j->http.body);
    } else {
        curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
    }
    double tmo = m->timeout_s > 0 ? m->timeout_s : DEFAULT_TIMEOUT;
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)(tmo * 1000));
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)(fmin(tmo, 30) * 1000));
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
    /* wait for a connection that multiplexes, once the server is known to speak HTTP/2 (on an
     * HTTP/1.1 server, waiting would hold a request until another one has been answered) */
    curl_easy_setopt(e, CURLOPT_PIPEWAIT, ms->h2 ? 1L : 0L);
    curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(e, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "");
    curl_easy_setopt(e, CURLOPT_USERAGENT, "fql/0.1");
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, j);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, &j->head);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, j->errbuf);
    curl_easy_setopt(e, CURLOPT_PRIVATE, j);
    curl_easy_setopt(e, CURLOPT_PREREQFUNCTION, on_prereq);
    curl_easy_setopt(e, CURLOPT_PREREQDATA, j);
    j->sends = 0;
    j->win_delayed = 0;
    j->answered_at = 0;
    if (curl_multi_add_handle(s->multi, e) != CURLM_OK) {
        curl_easy_cleanup(e);
        j->easy = NULL;
        curl_slist_free_all(j->hdrs);
        j->hdrs = NULL;
        return -1;
    }
    j->inext = s->inflight;
    j->iprev = NULL;
    if (s->inflight) s->inflight->iprev = j;
    s->inflight = j;
    ms->inflight++;
    j->sent_at = now;
    if (j->first_sent < 0) { j->first_sent = now; ms->st.sent++; }
    j->req->attempts++;
    ms->st.requests++;
    return 0;
}

/* Take j's reservation from the shared buckets in Redis. 0 taken; 2 wait (*wake lowered); 1 Redis
 * is lost and the model now paces locally at 1/N (shared_fallback = local; warned); -1 stop:
 * fatal_ans filled (Redis lost, or another process met an exhausted quota). */
static int shared_reserve(Scheduler *s, ModelState *ms, Job *j, double now, double *wake, LmAnswer *fatal_ans)
{
    if (now < ms->sh_wait_until) {   /* the last answer said wait: no round trip before then */
        *wake = fmin(*wake, ms->sh_wait_until);
        return 2;
    }
    double amt[W_N], wait = 0, sent = 0;
    char *msg = NULL;
    job_amounts(j, amt);
    SharedTake t = shared_take(s->shared, ms->m, &ms->sl, amt, PACE, BURST_S, &wait, &sent, &msg);
    if (t != SHL_ERROR && ms->sl.factor != ms->factor) {
        ms->factor = ms->sl.factor;
        apply_rates(ms, now);
    }
    if (t == SHL_GO) {
        free(msg);
        j->sh_taken = 1;
        j->sh_sent_us = sent;
        return 0;
    }
    if (t == SHL_WAIT) {
        free(msg);
        ms->sh_wait_until = now + fmax(wait, 1e-4);
        *wake = fmin(*wake, ms->sh_wait_until);
        return 2;
    }
    if (t == SHL_ERROR && s->shared_fallback && shared_down(s->shared)) {
        ms->sh_local = 1;
        ms->sh_div = ms->sl.procs > 1 ? ms->sl.procs : 1;
        apply_rates(ms, now);
        shared_warn(s->shared, "warning: model '%s': %s; shared_fallback is local: this process now paces itself at "
                    "1/%.0f of the model's limits (the processes last seen sharing them)",
                    ms->m->alias ? ms->m->alias : "?", msg ? msg : "Redis lost", ms->sh_div);
        free(msg);
        return 1;
    }
    memset(fatal_ans, 0, sizeof *fatal_ans);
    fatal_ans->outcome = LM_FATAL;
    fatal_ans->cost_usd = fatal_ans->retry_after_s = -1;
    fatal_ans->remaining_requests = fatal_ans->remaining_tokens = -1;
    fatal_ans->error_kind = xstrdup(t == SHL_STOP ? "quota" : "shared");
    fatal_ans->error_message = msg ? msg : xstrdup("the shared state failed");
    return -1;
}

/* Hold j's estimated cost against the budgets over time (its input estimate and output ceiling at
 * the model's prices; a model without prices holds nothing). 0 held (or nothing to hold); -1 it
 * cannot be afforded: fatal_ans filled (kind "budget", the budget's message). */
static int budget_hold(Scheduler *s, Job *j, LmAnswer *fatal_ans)
{
    const LmModel *m = j->ms->m;
    if (j->budget_held > 0 || m->price_in < 0) return 0;
    double usd = (j->est_in * m->price_in + j->out_ceiling * fmax(m->price_out, 0)) / 1e6;
    if (usd <= 0) return 0;
    char *msg = NULL;
    if (s->budget->afford(s->budget_ud, m, usd, &msg) == 0) {
        j->budget_held = usd;
        return 0;
    }
    memset(fatal_ans, 0, sizeof *fatal_ans);
    fatal_ans->outcome = LM_FATAL;
    fatal_ans->cost_usd = fatal_ans->retry_after_s = -1;
    fatal_ans->remaining_requests = fatal_ans->remaining_tokens = -1;
    fatal_ans->error_kind = xstrdup("budget");
    fatal_ans->error_message = msg ? msg : xstrdup("the budget is spent");
    return -1;
}

/* Send what model ms may send now. Lowers *wake to when it may send more. Returns the number of
 * transfers started; sets *fatal when preparing a request hit a fatal error. */
static int dispatch(Scheduler *s, ModelState *ms, double now, double *wake, int *fatal, LmAnswer *fatal_ans,
                    ModelState **fatal_ms)
{
    int started = 0;
    if (now < ms->paused_until) {
        if (ms->head || ms->retry) *wake = fmin(*wake, ms->paused_until);
        return 0;
    }
    int cap = inflight_cap(ms);
    while (ms->inflight < cap) {
        Job *j;
        int from_retry = ms->retry && ms->retry->not_before <= now;
        if (from_retry) j = ms->retry;
        else if (ms->head) j = ms->head;
        else {
            if (ms->retry) *wake = fmin(*wake, ms->retry->not_before);
            break;
        }
        if (!j->prepared) {
            if (from_retry) ms->retry = j->next; else pop_front(ms);
            j->next = NULL;
            if (prepare(s, j, fatal, fatal_ans)) {
                if (*fatal) {
                    if (from_retry) retry_insert(ms, j); else push_front(ms, j);
                    *fatal_ms = ms;
                    return started;
                }
                continue;   /* completed as a row error */
            }
            if (from_retry) retry_insert(ms, j); else push_front(ms, j);
        }
        int local = !sh_on(s, ms);
        double w = reserve_wait(ms, j, now, local);
        if (w > 0) {
            *wake = fmin(*wake, now + w);
            break;
        }
        if (s->budget && budget_hold(s, j, fatal_ans)) {   /* over a budget over time: stop */
            *fatal = 1;
            *fatal_ms = ms;
            return started;
        }
        if (!local) {
            int r = shared_reserve(s, ms, j, now, wake, fatal_ans);
            if (r == 1) continue;      /* fell back to local pacing: look again */
            if (r == 2) break;         /* wait */
            if (r < 0) { *fatal = 1; *fatal_ms = ms; return started; }
        }
        if (from_retry) ms->retry = j->next; else pop_front(ms);
        j->next = NULL;
        reserve(ms, j, now, local);
        if (start(s, j, now)) {
            unreserve(s, ms, j, now);
            j->not_before = now + 0.1;
            retry_insert(ms, j);
            *wake = fmin(*wake, j->not_before);
            break;
        }
        started++;
    }
    return started;
}

/* ---- answers ---- */

double lm_answer_cost(const LmModel *m, const LmAnswer *a)
{
    if (a->cost_usd >= 0 && (m->batch || m->price_in < 0)) return a->cost_usd;
    if (m->price_in < 0) return -1;
    double cached = (double)a->cached_input_tokens, wr = (double)a->cache_write_tokens, in = (double)a->input_tokens - cached - wr;
    double pc = m->price_cached_in >= 0 ? m->price_cached_in : m->price_in;
    double pw = m->price_cache_write >= 0 ? m->price_cache_write : m->price_in;   /* prompt-cache writes */
    return (in * m->price_in + cached * pc + wr * pw + (double)a->output_tokens * fmax(m->price_out, 0)) / 1e6;
}

static void record_usage(const LmModel *m, SchedStats *st, const LmAnswer *a)
{
    st->input_tokens += a->input_tokens;
    st->cached_input_tokens += a->cached_input_tokens;
    st->cache_write_tokens += a->cache_write_tokens;
    st->output_tokens += a->output_tokens;
    st->reasoning_tokens += a->reasoning_tokens;
    double c = lm_answer_cost(m, a);
    if (c >= 0) st->cost_usd += c;
}

void sched_account(Scheduler *s, LmModel *m, const LmAnswer *a)
{
    ModelState *ms = model_get(s, m);
    ms->st.requests++;
    ms->st.sent++;
    if (a->outcome != LM_OK) ms->st.failures++;
    record_usage(m, &ms->st, a);
    double c = lm_answer_cost(m, a);
    if (s->budget && c > 0) s->budget->spent(s->budget_ud, m, 0, c);
}

static void record_latency(ModelState *ms, double secs)
{
    SchedStats *st = &ms->st;
    st->latency_ms_sum += secs * 1000;
    st->latency_n++;
    if (st->nlat == st->caplat) {
        st->caplat = st->caplat ? st->caplat * 2 : 256;
        st->latencies = xrealloc(st->latencies, (size_t)st->caplat * sizeof *st->latencies);
    }
    st->latencies[st->nlat++] = secs * 1000;
    if (!ms->lat_n) { ms->lat_mean = secs; ms->lat_dev = secs / 4; }
    else {
        ms->lat_dev += 0.1 * (fabs(secs - ms->lat_mean) - ms->lat_dev);
        ms->lat_mean += 0.1 * (secs - ms->lat_mean);
    }
    ms->lat_n++;
}

/* The delay before the nth send of a request that failed transiently (n >= 1): RETRY_BASE_S
 * doubling with each failure up to BACKOFF_CAP, drawn in its upper half (a small but nonzero first
 * wait, spread so that requests failed together do not come back together). */
static double retry_delay(Scheduler *s, int n)
{
    double hi = backoff_delay(n - 1, RETRY_BASE_S, BACKOFF_CAP, 1.0);
    return hi * (0.5 + 0.5 * urand(s));
}

/* Whether the 429 a says the model is over a limit (then the whole model slows down): the
 * server's budget figures (x-ratelimit-remaining-*, anthropic-ratelimit-*) show a budget spent or
 * too small for j; without figures, the server gave a wait (retry-after, RetryInfo, "try again
 * in"); or 429s have become a large share of the model's recent answers. A 429 whose figures show
 * budget left, or with neither figures nor a wait, is taken for a refusal of that request alone. */
static int limit_evidence(const ModelState *ms, const Job *j, const LmAnswer *a)
{
    if (ms->rl_frac >= RL_REPEAT_FRAC) return 1;
    if (a->remaining_requests >= 0 || a->remaining_tokens >= 0) {
        int left = (a->remaining_requests < 0 || a->remaining_requests >= 1) &&
                   (a->remaining_tokens < 0 || a->remaining_tokens >= j->est_in + j->out_ceiling);
        return !left;
    }
    return a->retry_after_s >= 0;
}

/* A 429 without evidence of a limit: j alone waits (the server's wait, else a short jittered
 * delay growing with its lone 429s) in the retry list, holding no slot and leaving the queue to
 * flow; the model's rate is unchanged. Not an attempt, bounded by RATE_BUDGET_S; the reservation
 * stands (the server may have counted the request). */
static void lone_429(Scheduler *s, Job *j, LmAnswer *a, double now)
{
    ModelState *ms = j->ms;
    ms->st.rate_limited++;
    j->req->attempts--;
    settle(s, ms, j, a, now);
    double wait = retry_delay(s, ++j->lone_429s);
    if (a->retry_after_s >= 0) wait = fmax(wait, fmin(a->retry_after_s, MAX_SERVER_WAIT));
    if (now + wait > j->first_sent + RATE_BUDGET_S) {
        char *msg = xasprintf("still refused with 429 after %.0f s; gave up: %s", now - j->first_sent,
                              a->error_message ? a->error_message : "rate limit");
        free(a->error_message);
        a->error_message = msg;
        complete(s, j, a);
        return;
    }
    j->not_before = now + wait;
    retry_insert(ms, j);
}

/* Where a redirect points, fit for a message: without user info, query and fragment (they may
 * hold credentials) and never with the model's key or token in it. Returns a new string. */
static char *redirect_target(const char *loc, const LmModel *m)
{
    if (!loc || !*loc) return xstrdup("an address it did not give (no Location header)");
    Buf b;
    buf_init(&b);
    const char *p = loc, *auth = strstr(loc, "://");
    if (auth) {
        auth += 3;
        buf_append(&b, loc, (size_t)(auth - loc));
        const char *at = memchr(auth, '@', strcspn(auth, "/?#"));
        p = at ? at + 1 : auth;
    }
    buf_append(&b, p, strcspn(p, "?#"));
    char *t = buf_take(&b);
    const char *secrets[2] = { m->api_key, m->access_token };
    for (int i = 0; i < 2; i++)
        if (secrets[i] && strlen(secrets[i]) >= 4 && strstr(t, secrets[i])) {
            free(t);
            return xstrdup("an address that holds the API key");
        }
    return t;
}

/* Fill a with a failure found here rather than by the provider's adapter (msg is taken). */
static void answer_here(LmAnswer *a, LmOutcome outcome, long status, const char *kind, char *msg)
{
    memset(a, 0, sizeof *a);
    a->outcome = outcome;
    a->cost_usd = a->retry_after_s = -1;
    a->remaining_requests = a->remaining_tokens = -1;
    a->http_status = status;
    a->error_kind = xstrdup(kind);
    a->error_message = msg;
}

/* A rate-limit answer: halve the factor once per episode, pause the queue for the server's wait,
 * and put j back at the head of its queue (not an attempt). */
static void rate_limited(Scheduler *s, Job *j, LmAnswer *a, double now)
{
    ModelState *ms = j->ms;
    ms->st.rate_limited++;
    j->req->attempts--;
    unreserve(s, ms, j, now);
    double wait = a->retry_after_s >= 0 ? a->retry_after_s : backoff_delay(ms->rl_streak, BACKOFF_BASE, BACKOFF_CAP, urand(s));
    if (sh_on(s, ms)) {
        /* every process slows down and pauses: the factor and the pause live in Redis */
        char *msg = NULL;
        if (shared_rate_limited(s->shared, ms->m, &ms->sl, j->sh_sent_us, wait, EDGE_FACTOR, EDGE_QUIET_S, MIN_FACTOR, &msg))
            free(msg);
        else if (ms->sl.factor != ms->factor) {
            ms->factor = ms->sl.factor;
            ms->last_cut = now;
            apply_rates(ms, now);
        }
    } else if (j->sent_at >= ms->last_cut) {
        /* a lone refusal after a quiet spell is taken as a window edge (network jitter bunched a
         * few requests): the model learns the provider's window as seen from here (a slightly
         * lower pace, a slightly longer second) and stays there; once PACE_MIN is reached, or for
         * a refusal soon after another one, the factor is cut (by EDGE_FACTOR, or by half) */
        int edge = now - ms->last_limited > EDGE_QUIET_S;
        if (edge && ms->pace > PACE_MIN + 1e-9) {
            ms->pace = fmax(PACE_MIN, ms->pace - PACE_STEP);
            ms->win1 = fmin(WIN1_MAX, ms->win1 + WIN1_STEP);
        } else {
            ms->factor = fmax(MIN_FACTOR, ms->factor * (edge ? EDGE_FACTOR : 0.5));
        }
        ms->last_cut = now;
        apply_rates(ms, now);
    }
    ms->last_limited = now;
    ms->ok_run = 0;
    ms->rl_streak++;
    if (now + wait > j->first_sent + RATE_BUDGET_S) {
        char *msg = xasprintf("still rate limited after %.0f s; gave up: %s", now - j->first_sent,
                              a->error_message ? a->error_message : "rate limit");
        free(a->error_message);
        a->error_message = msg;
        complete(s, j, a);
        return;
    }
    if (now + wait > ms->paused_until) ms->paused_until = now + wait;
    push_front(ms, j);
}

/* j's answer was cut off at the ceiling chosen here: resend it at once with a larger one
 * (max(DEFAULT_OUT, 4 × the ceiling), within the model's per-minute token limits), counted as a retry, not an attempt; the shape learns that
 * it needed more. 1 queued; 0 the request could not be rebuilt (the cut-off answer stands). */
static int out_grow(ModelState *ms, Job *j, double now)
{
    out_observe(ms, j->req, j->out_ceiling * 2);
    j->out_grown = 1;
    double c = fmax(DEFAULT_OUT, 4 * j->out_ceiling);
    const LmModel *m = ms->m;   /* within the per-minute limits, or it could never be sent */
    if (m->output_tpm > 0) c = fmin(c, m->output_tpm);
    if (m->tpm > 0) c = fmin(c, m->tpm - j->est_in);
    if (c <= j->out_ceiling) return 0;
    j->out_ceiling = floor(c);
    char *err = NULL;
    if (build_http(ms->m, j, &err)) { free(err); return 0; }
    j->req->attempts--;
    j->not_before = now;
    retry_insert(ms, j);
    return 1;
}

/* The transfer of j finished with curl result rc. May set *fatal (with the answer in fatal_ans). */
static void finish(Scheduler *s, Job *j, CURLcode rc, int *fatal, LmAnswer *fatal_ans, ModelState **fatal_ms)
{
    ModelState *ms = j->ms;
    const LmModel *m = ms->m;
    long status = 0, nconn = 0;
    curl_off_t pre = 0;
    if (rc == CURLE_OK || j->too_large) curl_easy_getinfo(j->easy, CURLINFO_RESPONSE_CODE, &status);
    char *redirect = NULL;   /* a 3xx: where to (libcurl follows no redirect: it would resend the key) */
    if (rc == CURLE_OK && status >= 300 && status < 400) {
        char *loc = NULL;
        curl_easy_getinfo(j->easy, CURLINFO_REDIRECT_URL, &loc);
        redirect = redirect_target(loc, m);
    }
    curl_easy_getinfo(j->easy, CURLINFO_NUM_CONNECTS, &nconn);
    curl_easy_getinfo(j->easy, CURLINFO_PRETRANSFER_TIME_T, &pre);
    if (rc == CURLE_OK) {
        long ver = 0;
        curl_easy_getinfo(j->easy, CURLINFO_HTTP_VERSION, &ver);
        ms->h2 = ver >= CURL_HTTP_VERSION_2_0;
    }
    /* a request that had to connect (TCP, TLS) reached the server later than it was logged, and
     * servers are slower with a connection's first request: its window entry stays longer */
    if (j->reserved) win_delay(&ms->win, j->win_seq, pre / 1e6 + (nconn > 0 ? NEWCONN_S : 0) - j->win_delayed);
    release_easy(s, j);
    double now = mono_now();
    j->answered_at = now;
    if (j->sends > 1) {   /* libcurl resent it after a reset: retries the provider saw */
        ms->st.requests += j->sends - 1;
        ms->st.retries += j->sends - 1;
    }
    LmAnswer a;
    if (j->too_large) {
        /* not retried: the same request would get the same answer */
        answer_here(&a, LM_ROW_ERROR, status, "answer_too_large",
                    xasprintf("HTTP %ld: the answer is larger than %u MB; fql stopped reading it (check that base_url "
                              "points at the model's API)", status, MAX_ANSWER_BYTES >> 20));
    } else if (redirect) {
        /* every request to this address would be redirected: stop, and say where to */
        answer_here(&a, LM_FATAL, status, "redirect",
                    xasprintf("the server redirected the request (HTTP %ld) to %s; fql does not follow redirects "
                              "(they could carry the API key to another address): check base_url (use the address it "
                              "redirects to if that is the provider's API)", status, redirect));
        free(redirect);
    } else if (rc == CURLE_OK) {
        provider_parse(m, j->req, status, j->head.data ? j->head.data : "", j->body.data, j->body.len, &a);
    } else {
        const char *what = j->errbuf[0] ? j->errbuf : curl_easy_strerror(rc);
        char *desc = rc == CURLE_OPERATION_TIMEDOUT
            ? xasprintf("timeout: no answer within %.0f s (%s)", m->timeout_s > 0 ? m->timeout_s : DEFAULT_TIMEOUT, what)
            : xasprintf("%s", what);
        provider_parse(m, j->req, 0, "", desc, strlen(desc), &a);
        free(desc);
        if (rc == CURLE_OPERATION_TIMEDOUT) { free(a.error_kind); a.error_kind = xstrdup("timeout"); }
    }
    buf_clear(&j->body);
    buf_clear(&j->head);
    server_budget(ms, &a, now);
    record_usage(m, &ms->st, &a);
    budget_release(s, j, lm_answer_cost(m, &a));
    ms->rl_frac += RL_ALPHA * ((a.outcome == LM_RATE_LIMITED) - ms->rl_frac);
    switch (a.outcome) {
    case LM_OK:
        settle(s, ms, j, &a, now);
        out_observe(ms, j->req, (double)a.output_tokens);
        record_latency(ms, now - j->sent_at);
        ms->rl_streak = 0;
        if (j->sent_at > ms->last_cut && ms->factor < 1) {
            /* additive increase after a run of successes (about every half second of traffic; shared:
             * each process counts its own successes, so together they grow the factor as one would) */
            double rps = ms->breq.rate > 0 ? ms->breq.rate : 10;
            int run = (int)fmax(5, rps * 0.5);
            if (++ms->ok_run >= run) {
                ms->ok_run = 0;
                char *msg = NULL;
                if (!sh_on(s, ms)) ms->factor = fmin(1, ms->factor + GROW_STEP);
                else if (!j->sh_sent_us || shared_grow(s->shared, ms->m, &ms->sl, j->sh_sent_us, GROW_STEP, &msg)) free(msg);
                else ms->factor = ms->sl.factor;
                apply_rates(ms, now);
            }
        }
        complete(s, j, &a);
        break;
    case LM_RATE_LIMITED:
        if (limit_evidence(ms, j, &a)) rate_limited(s, j, &a, now);
        else lone_429(s, j, &a, now);
        break;
    case LM_RETRY: {
        settle(s, ms, j, &a, now);
        int max = m->max_retries > 0 ? m->max_retries : DEFAULT_ATTEMPTS;
        if (j->req->attempts >= max) {
            complete(s, j, &a);
            break;
        }
        double d = retry_delay(s, j->req->attempts);
        if (a.retry_after_s >= 0) d = fmax(d, fmin(a.retry_after_s, MAX_SERVER_WAIT));
        j->not_before = now + d;
        ms->st.retries++;
        retry_insert(ms, j);
        break;
    }
    case LM_ROW_ERROR:
        settle(s, ms, j, &a, now);
        if (j->out_auto && !j->out_grown && a.error_kind && !strcmp(a.error_kind, "max_tokens") && out_grow(ms, j, now)) {
            ms->st.retries++;
            break;
        }
        complete(s, j, &a);
        break;
    case LM_FATAL:
        settle(s, ms, j, &a, now);
        if (sh_on(s, ms) && a.error_kind && !strcmp(a.error_kind, "quota")) {
            /* an exhausted quota stops every process that shares it */
            char *msg = NULL;
            if (shared_stop(s->shared, m, &ms->sl, a.error_message, &msg)) free(msg);
        }
        if (!*fatal) {
            *fatal = 1;
            *fatal_ans = a;          /* moved: completes every pending request */
            *fatal_ms = ms;
            memset(&a, 0, sizeof a);
        }
        complete(s, j, fatal_ans);
        break;
    }
    lm_answer_clear(&a);
}

/* ---- the loop ---- */

int sched_run(Scheduler *s, fql_error *err)
{
    return sched_run_until(s, NULL, NULL, err);
}

int sched_run_until(Scheduler *s, int (*stop)(void *ud), void *ud, fql_error *err)
{
    if (s->running) return err_set(err, FQL_ERR_RUNTIME, "internal error: sched_run called from a callback");
    s->running = 1;
    int rc = 0, fatal = 0;
    LmAnswer fatal_ans;
    memset(&fatal_ans, 0, sizeof fatal_ans);
    ModelState *fatal_ms = NULL;
    int still;
    double drain_until = 0;
    s->curl_deadline = -1;
    if (multi_ready(s)) {
        s->running = 0;
        return err_set(err, FQL_ERR_RUNTIME, "libcurl could not make a transfer handle (out of memory?)");
    }
    curl_multi_socket_action(s->multi, CURL_SOCKET_TIMEOUT, 0, &still);
    for (;;) {
        CURLMsg *msg;
        int left;
        while ((msg = curl_multi_info_read(s->multi, &left))) {
            if (msg->msg != CURLMSG_DONE) continue;
            char *priv = NULL;
            curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &priv);
            Job *j = (Job *)priv;
            finish(s, j, msg->data.result, &fatal, &fatal_ans, &fatal_ms);
        }
        /* after a fatal answer nothing more is sent, but the requests in flight were paid for:
         * their answers are taken (and cached by the callbacks) until they are in or time is up */
        if (fatal && !drain_until) drain_until = mono_now() + FATAL_DRAIN_S;
        if (fatal && (!s->inflight || mono_now() >= drain_until)) break;
        if (__atomic_load_n(&s->cancel, __ATOMIC_ACQUIRE)) break;
        if (s->pending == 0) break;
        if (!fatal && stop && stop(ud)) break;
        double now = mono_now(), wake = now + MAX_POLL_MS / 1000.0;
        int started = 0;
        for (int i = 0; i < s->nmodels && !fatal; i++)
            started += dispatch(s, s->models[i], now, &wake, &fatal, &fatal_ans, &fatal_ms);
        if (fatal && !s->inflight) break;
        if (s->pending == 0) break;
        (void)started;
        /* sleep until a socket is ready, libcurl's timeout, or the next send may go */
        now = mono_now();
        if (s->curl_deadline >= 0 && s->curl_deadline <= now) {
            s->curl_deadline = -1;   /* one-shot: libcurl sets the next one */
            curl_multi_socket_action(s->multi, CURL_SOCKET_TIMEOUT, 0, &still);
            continue;
        }
        if (s->curl_deadline >= 0 && s->curl_deadline < wake) wake = s->curl_deadline;
        double dt = (wake - now) * 1000;
        int tmo = dt <= 0 ? 0 : (int)ceil(dt);
        struct epoll_event evs[64];
        int n = epoll_wait(s->epfd, evs, 64, tmo);
        for (int i = 0; i < n; i++) {
            int mask = (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLRDHUP) ? CURL_CSELECT_IN : 0) |
                       (evs[i].events & EPOLLOUT ? CURL_CSELECT_OUT : 0) | (evs[i].events & EPOLLERR ? CURL_CSELECT_ERR : 0);
            curl_multi_socket_action(s->multi, evs[i].data.fd, mask, &still);
        }
        if (s->curl_deadline >= 0 && s->curl_deadline <= mono_now()) {
            s->curl_deadline = -1;
            curl_multi_socket_action(s->multi, CURL_SOCKET_TIMEOUT, 0, &still);
        }
    }
    if (fatal) {
        /* name the model; the adapter's message says what to do (and never holds the key) */
        const char *alias = fatal_ms ? fatal_ms->m->alias : NULL;
        const char *prov = fatal_ms ? fatal_ms->m->provider_name : NULL;
        err_set(err, FQL_ERR_RUNTIME, "model '%s' (%s): %s", alias ? alias : "?", prov ? prov : "?",
                fatal_ans.error_message ? fatal_ans.error_message : "the provider refused the request");
        complete_all(s, &fatal_ans);
        lm_answer_clear(&fatal_ans);
        rc = -1;
    } else if (__atomic_load_n(&s->cancel, __ATOMIC_ACQUIRE)) {
        LmAnswer a;
        memset(&a, 0, sizeof a);
        a.outcome = LM_ROW_ERROR;
        a.cost_usd = a.retry_after_s = -1;
        a.remaining_requests = a.remaining_tokens = -1;
        a.error_kind = (char *)"cancelled";
        a.error_message = (char *)"cancelled";
        complete_all(s, &a);
        err_set(err, FQL_ERR_RUNTIME, "interrupted");
        rc = -1;
    }
    __atomic_store_n(&s->cancel, 0, __ATOMIC_RELEASE);
    s->running = 0;
    return rc;
}
