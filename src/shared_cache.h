/* shared_cache.h: the response cache and the claims on requests in flight, shared by the FQL
 * processes that use one Redis (`set shared`, shared.h). The state database (state.c) keeps its
 * local SQLite cache in front of it and calls these: a local miss looks here and a hit is stored
 * locally; every answer stored locally is also put here; a request is claimed here before it is
 * sent, so that two processes that meet the same request send it once.
 *
 * Keys (the request key is cache.c's SHA-256 of provider, model, base URL, request URL and body;
 * it never holds an API key):
 *   fql:{KEY}:resp   a hash: the local cache row's columns (text, vectors, dim, token counts,
 *                    cost_usd, upstream, tokens, provider, model, created_at), absent ones left out
 *   fql:{KEY}:claim  the claiming process's shared_proc_id (host:pid:random), with an expiry
 *                    (SHC_LEASE_MS) that the claimer renews while the request is in flight
 * The braces keep a request's two keys in one Redis Cluster slot (the claim script reads both).
 *
 * A claim whose holder is gone is taken over: at once when the holder ran on this host and its
 * process no longer exists (a killed run rerun), otherwise when its expiry passes.
 *
 * Errors: a call that cannot reach Redis counts as a miss (get), is skipped (put), or lets the
 * request be sent (claim); the first failure's message (naming the URL, from shared.c) is kept
 * for shcache_error, and the caller decides whether the run stops.
 *
 * Layers: the state database calls this file only through the hooks it is handed (StateRemote),
 * since shared.c uses state.c; rt.c installs them.
 *
 * Ownership: a SharedCache borrows its connection (the Runtime owns it) and owns the keys it holds
 * claims on; shcache_free releases those claims.
 */
#ifndef FQL_SHARED_CACHE_H
#define FQL_SHARED_CACHE_H

#include "runtime.h"

struct SharedConn;
typedef struct SharedCache SharedCache;

/* A claim expires this long after it was made or last renewed (renewed every third of it). */
#define SHC_LEASE_MS 30000

SharedCache *shcache_new(struct SharedConn *c);
void         shcache_free(SharedCache *sc);                  /* releases our claims; NULL-safe */
struct SharedConn *shcache_conn(const SharedCache *sc);

/* 1 and a filled (ok answer, from_cache set) when the answer of key is in Redis; else 0. */
int   shcache_get(SharedCache *sc, const char *key, LmAnswer *a);
/* Store ok answer a of model m under key (others are ignored). */
void  shcache_put(SharedCache *sc, const char *key, const LmModel *m, const LmAnswer *a);
/* Claim key before sending it: 1 if it is ours to send (also when Redis cannot be reached), 0 if
 * it has been answered or another live process holds it (poll the cache, then claim again). */
int   shcache_claim(SharedCache *sc, const char *key);
/* Release our claim of key (its answer is in, or it failed). */
void  shcache_release(SharedCache *sc, const char *key);
/* Renew our claims when a third of the lease has passed (call often while waiting). */
void  shcache_tick(SharedCache *sc);
/* The first failure to reach Redis (borrowed), or NULL. */
const char *shcache_error(const SharedCache *sc);
/* The caller goes on without the shared cache's failures (shared_fallback local, warned once):
 * the error is forgotten and later ones are not recorded (calls still try, and a Redis that is
 * back is used again). */
void  shcache_going_on(SharedCache *sc);

/* The hooks that put sc behind the state database's local cache (state_set_remote). */
struct StateRemote;
void  shcache_remote(SharedCache *sc, struct StateRemote *r);

#endif
