/* pool.h: running the relational operators' work on threads (`set threads`), with results in the
 * order a single thread gives.
 *
 * - An ordered parallel map (ParMap): the calling thread pulls input batches from a serial source
 *   (each gets the next sequence number), workers apply a pure function to them, and the results
 *   leave in sequence order. The calling thread helps with the work when it has nothing to pull
 *   and the oldest result is not in, so N threads are N busy threads. The first failure by
 *   sequence number wins: the results before it leave first, then its error, as on one thread.
 * - A fork-join run (pool_run): a function called on N threads at once (ids 0..N-1, 0 being the
 *   caller's), returning when every one has finished.
 *
 * Nothing here knows the executor: the source and the work are callbacks (exec.c's). The callbacks
 * of one map are called with a worker id (0: the calling thread, 1..N-1: the workers), so that
 * they can keep per-thread state (an evaluation context) in an array indexed by it.
 */
#ifndef FQL_POOL_H
#define FQL_POOL_H

#include <pthread.h>
#include "table.h"

/* The threads `set threads = 0` means (and the default): the machine's online cores (sysconf). */
int pool_cores(void);

/* The items are the caller's (batches, or anything else: a Parquet row group to decode).
 * The source: 1 with a new item in *in (the map's), 0 at the end, or -1 with err filled. Called on
 * the calling thread only, never at the same time as itself. */
typedef int (*ParPull)(void *ctx, void **in, fql_error *err);
/* The work on one item (taken: the work frees or reuses it): 0 with *out (NULL for nothing to
 * pass on), or -1 with err filled (err is the item's own, empty at the call). */
typedef int (*ParWork)(void *ctx, int worker, void *in, void **out, fql_error *err);

typedef struct ParMap ParMap;
/* A map on up to nthreads threads (>= 2; the calling thread is one), at most window items in
 * flight (0: 4 a thread). drop_in and drop_out free an input or a result left in flight when the
 * map is freed early. Workers start when a second item is in flight, so a one-item input costs no
 * thread. */
ParMap *parmap_new(int nthreads, int window, ParPull pull, ParWork work, void (*drop_in)(void *item),
                   void (*drop_out)(void *item), void *ctx);
/* The next result in sequence order: 1 with *out (the caller's), 0 at the end, -1 with err filled
 * (the source's or the work's error, whichever comes first by sequence). */
int     parmap_next(ParMap *m, void **out, fql_error *err);
/* Threads that took part so far (the calling thread included). */
int     parmap_threads(const ParMap *m);
/* Stop the workers (the work in progress finishes first) and free what is left. NULL-safe. */
void    parmap_free(ParMap *m);

/* Start a thread running fn(arg) with every signal blocked (signals stay the calling thread's: a
 * Ctrl-C is handled where it always was). 0, or an errno from pthread_create. */
int     pool_spawn(pthread_t *t, void *(*fn)(void *arg), void *arg);

/* Call fn(ctx, id) for id 0..n-1, on n threads (id 0 on the calling one); return when all did. */
void    pool_run(int n, void (*fn)(void *ctx, int id), void *ctx);

#endif
