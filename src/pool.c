/* pool.c: an ordered parallel map over batches and a fork-join run (pool.h says what and why).
 *
 * The map keeps a ring of W slots (the window, by default 4 a thread): a slot holds one item from the moment it is
 * pulled (QUEUED) through the work (TAKEN) until its result leaves (DONE, then EMPTY). Inputs are
 * taken in sequence order; results leave in sequence order; at most W batches are in flight, so
 * memory is bounded by the window whatever the input. One mutex guards the ring; the source and the
 * work run outside it.
 */
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "pool.h"

int pool_cores(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : n > 256 ? 256 : (int)n;
}

int pool_spawn(pthread_t *t, void *(*fn)(void *arg), void *arg)
{
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);   /* the new thread inherits the mask */
    int rc = pthread_create(t, NULL, fn, arg);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return rc;
}

enum { S_EMPTY, S_QUEUED, S_TAKEN, S_DONE };

typedef struct Slot {
    int state;
    int64_t seq;
    void *in, *out;
    int rc;
    fql_error err;           /* the work's error (rc < 0) */
} Slot;

typedef struct Worker { ParMap *m; int id; } Worker;

struct ParMap {
    int nthreads, started;   /* threads allowed (the caller's included); workers started */
    pthread_t *tids;
    Worker *wk;
    ParPull pull;
    ParWork work;
    void (*drop_in)(void *item), (*drop_out)(void *item);
    void *ctx;
    pthread_mutex_t mu;
    pthread_cond_t cv_work;  /* a slot was queued, or stop */
    pthread_cond_t cv_done;  /* a slot is done */
    Slot *ring;
    int64_t w;               /* slots */
    int64_t next_in, next_take, next_out;
    int ended;               /* the source returned 0 or -1 at sequence end_seq */
    int64_t end_seq;
    int end_rc;
    fql_error end_err;
    int stop;
};

/* Take the oldest queued slot and do its work (called with m->mu held; returns with it held). */
static void run_one(ParMap *m, int id)
{
    Slot *s = &m->ring[m->next_take % m->w];
    m->next_take++;
    s->state = S_TAKEN;
    void *in = s->in, *out = NULL;
    s->in = NULL;
    memset(&s->err, 0, sizeof s->err);
    pthread_mutex_unlock(&m->mu);
    int rc = m->work(m->ctx, id, in, &out, &s->err);
    pthread_mutex_lock(&m->mu);
    s->out = out;
    s->rc = rc;
    s->state = S_DONE;
    pthread_cond_broadcast(&m->cv_done);
}

static void *worker_main(void *arg)
{
    Worker *w = arg;
    ParMap *m = w->m;
    pthread_mutex_lock(&m->mu);
    while (!m->stop) {
        if (m->next_take < m->next_in) run_one(m, w->id);
        else pthread_cond_wait(&m->cv_work, &m->mu);
    }
    pthread_mutex_unlock(&m->mu);
    return NULL;
}

ParMap *parmap_new(int nthreads, int window, ParPull pull, ParWork work, void (*drop_in)(void *item),
                   void (*drop_out)(void *item), void *ctx)
{
    ParMap *m = xcalloc(1, sizeof *m);
    m->nthreads = nthreads < 2 ? 2 : nthreads;
    m->tids = xcalloc((size_t)m->nthreads, sizeof *m->tids);
    m->wk = xcalloc((size_t)m->nthreads, sizeof *m->wk);
    m->pull = pull;
    m->work = work;
    m->drop_in = drop_in;
    m->drop_out = drop_out;
    m->ctx = ctx;
    m->w = window > 0 ? window : 4 * (int64_t)m->nthreads;
    m->ring = xcalloc((size_t)m->w, sizeof *m->ring);
    pthread_mutex_init(&m->mu, NULL);
    pthread_cond_init(&m->cv_work, NULL);
    pthread_cond_init(&m->cv_done, NULL);
    return m;
}

/* Start the workers (with m->mu held): once a second batch is in flight. A thread that cannot be
 * made leaves fewer workers; the calling thread alone still finishes the work. */
static void start_workers(ParMap *m)
{
    for (int i = 1; i < m->nthreads; i++) {
        m->wk[i].m = m;
        m->wk[i].id = i;
        if (pool_spawn(&m->tids[m->started], worker_main, &m->wk[i])) break;
        m->started++;
    }
}

int parmap_next(ParMap *m, void **out, fql_error *err)
{
    *out = NULL;
    pthread_mutex_lock(&m->mu);
    for (;;) {
        if (m->ended && m->next_out == m->end_seq) {
            int rc = m->end_rc;
            if (rc < 0 && err && !err->code) *err = m->end_err;
            pthread_mutex_unlock(&m->mu);
            return rc;
        }
        Slot *s = &m->ring[m->next_out % m->w];
        if (s->state == S_DONE && s->seq == m->next_out) {
            void *o = s->out;
            int rc = s->rc;
            s->out = NULL;
            s->state = S_EMPTY;
            m->next_out++;
            if (rc < 0) {
                if (o) m->drop_out(o);
                if (err && !err->code) *err = s->err;
                /* nothing after the failure leaves: the source ends here */
                m->ended = 1;
                m->end_seq = m->next_out;
                m->end_rc = -1;
                memset(&m->end_err, 0, sizeof m->end_err);
                m->end_err.code = s->err.code ? s->err.code : FQL_ERR_RUNTIME;
                pthread_mutex_unlock(&m->mu);
                return -1;
            }
            if (!o) continue;
            pthread_mutex_unlock(&m->mu);
            *out = o;
            return 1;
        }
        if (!m->ended && m->next_in - m->next_out < m->w) {
            /* pull the next batch (outside the lock: the source is slow and serial) */
            int64_t seq = m->next_in;
            pthread_mutex_unlock(&m->mu);
            void *in = NULL;
            fql_error e;
            memset(&e, 0, sizeof e);
            int rc = m->pull(m->ctx, &in, &e);
            pthread_mutex_lock(&m->mu);
            if (rc == 1) {
                Slot *q = &m->ring[seq % m->w];
                q->state = S_QUEUED;
                q->seq = seq;
                q->in = in;
                m->next_in++;
                if (m->next_in - m->next_out >= 2 && !m->started && m->nthreads > 1) start_workers(m);
                pthread_cond_signal(&m->cv_work);
            } else {
                m->ended = 1;
                m->end_seq = seq;
                m->end_rc = rc < 0 ? -1 : 0;
                m->end_err = e;
            }
            continue;
        }
        if (m->next_take < m->next_in) { run_one(m, 0); continue; }   /* help */
        pthread_cond_wait(&m->cv_done, &m->mu);
    }
}

int parmap_threads(const ParMap *m)
{
    return m ? 1 + m->started : 1;
}

void parmap_free(ParMap *m)
{
    if (!m) return;
    pthread_mutex_lock(&m->mu);
    m->stop = 1;
    pthread_cond_broadcast(&m->cv_work);
    pthread_mutex_unlock(&m->mu);
    for (int i = 0; i < m->started; i++) pthread_join(m->tids[i], NULL);
    for (int64_t i = 0; i < m->w; i++) {
        if (m->ring[i].in) m->drop_in(m->ring[i].in);
        if (m->ring[i].out) m->drop_out(m->ring[i].out);
    }
    pthread_mutex_destroy(&m->mu);
    pthread_cond_destroy(&m->cv_work);
    pthread_cond_destroy(&m->cv_done);
    free(m->ring);
    free(m->tids);
    free(m->wk);
    free(m);
}

typedef struct RunArg { void (*fn)(void *, int); void *ctx; int id; } RunArg;

static void *run_main(void *a)
{
    RunArg *r = a;
    r->fn(r->ctx, r->id);
    return NULL;
}

void pool_run(int n, void (*fn)(void *ctx, int id), void *ctx)
{
    if (n < 1) n = 1;
    pthread_t *t = xcalloc((size_t)n, sizeof *t);
    RunArg *a = xcalloc((size_t)n, sizeof *a);
    char *made = xcalloc((size_t)n, 1);
    for (int i = 1; i < n; i++) {
        a[i] = (RunArg){ fn, ctx, i };
        made[i] = pool_spawn(&t[i], run_main, &a[i]) == 0;
    }
    fn(ctx, 0);
    /* an id whose thread could not be made runs here, after the others started */
    for (int i = 1; i < n; i++)
        if (!made[i]) fn(ctx, i);
    for (int i = 1; i < n; i++)
        if (made[i]) pthread_join(t[i], NULL);
    free(made);
    free(a);
    free(t);
}
