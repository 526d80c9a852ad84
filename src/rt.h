/* rt.h: the runtime context. One Runtime per session holds what a running statement needs below the
 * binder: the state database (opened in one place, rt_state), the scheduler, the Batch API queue,
 * the UDF hubs, the resolved models, the statement's counters and query id, the budget and the other
 * settings, the interruption flag and the embedder's log callback.
 *
 * Every layer below the executor takes a Runtime *, never the session (architecture.md): the session
 * (session.c) owns one Runtime and one Catalog and is the only file that sees struct fql_session.
 * A Runtime knows its Catalog only as an opaque pointer; the files at the catalog's level and above
 * (models.c, udf.c, system.c) look declarations up through catalog.h.
 *
 * Ownership: rt_close frees what rt.c itself made (the state database, the scheduler, the paths);
 * the subsystems above it (semantic, models, udf, batch) free their parts first (session.c does,
 * in fql_close).
 */
#ifndef FQL_RT_H
#define FQL_RT_H

#include "fql.h"
#include "io.h"
#include "table.h"
#include "util.h"

/* Results of cache points computed or read back in this session, by key. */
typedef struct StoredResult { char *key; Table *t; struct StoredResult *next; } StoredResult;

struct Catalog;
struct LmModel;
typedef struct Runtime {
    /* the embedder's log (fql_options.log; NULL: stderr) and the least level that is said */
    void (*log)(void *ud, int level, const char *message);
    void *log_ud;
    int log_level;
    char *db_path;                 /* the state database's path (":memory:" for none kept) */
    char *stdlib_dir;              /* stdlib/: models.json, prelude.fql, std.*.fql */
    /* the settings (`set NAME = VALUE`: rt_set) */
    FileFormat format;             /* how results print */
    size_t max_rows;               /* rows printed (0 = all) */
    int cache;                     /* use the response cache and stored results */
    int progress;                  /* the progress display on a terminal */
    int validate_keys;             /* check API keys before a statement sends */
    double budget;                 /* USD per statement; 0 = none */
    struct BudgetSet *budgets;     /* budgets over time (`set budget = {usd:, per:}`, budget.c); NULL = none */
    int part_i, part_n;            /* `set partition = "I/N"` (--partition): scans read partition I of N; part_n 0 = all rows */
    size_t memory_limit;           /* bytes a sort holds before it spills to temporary files; 0 = half of memory */
    int threads;                   /* `set threads`: threads the relational operators use; 0 = the machine's cores */
    int fusion;                    /* several structured calls of a stage over one text: one request (semantic.c) */
    int fuse_hold;                 /* semantic.c: jobs started now keep their requests for semantic_send_fused */
    char *shared_url;              /* `set shared` / --shared / FQL_SHARED: redis://HOST:PORT/DB; NULL = not shared */
    int shared_fallback;           /* `set shared_fallback = "local"`: Redis lost: pace at 1/N locally (1), or stop (0) */
    struct Catalog *cat;           /* the session's declarations (not owned; see catalog.h) */
    struct State *state;           /* opened by rt_state on first use */
    struct Scheduler *sched;       /* made by rt_init: fql_interrupt may cancel it from any thread */
    struct SharedConn *shared;     /* the connection for shared_url (shared.h), made with the setting */
    struct SharedCache *shcache;   /* the shared response cache and claims on shared (shared_cache.h), behind the state database's */
    struct BatchQueue *batchq;     /* requests waiting for the Batch API (batch.c); empty between statements */
    struct SemStats *sem;          /* the running statement's per-model counters (semantic.c) */
    struct DryRun *dry;            /* set while estimating (semantic.c) */
    struct Tape *tape;             /* --record / --replay / --offline (replay.c), or NULL */
    struct UdfHub *hubs;           /* asynchronous functions' calls in flight (udf.c) */
    struct RtModel *rtmodels;      /* resolved models, one per alias or alias.profile (models.c) */
    struct json_t *model_catalog;  /* stdlib/models.json, loaded on first use (models.c) */
    StoredResult *results;         /* cache points' results (exec.c) */
    int64_t query_id;              /* of the running statement (0: none yet) */
    int interrupted;               /* set by fql_interrupt (atomically: any thread); cleared when a run starts */
    fql_metrics metrics;           /* the running statement's counters */
    /* hooks: what a lower layer reports up, installed by the layer that counts it */
    void (*on_fallback)(struct Runtime *rt, struct LmModel *from, struct LmModel *to, const char *op);
    /* rt_state, handed to the files below rt.c that need the state database (budget.c) */
    struct State *(*open_state)(struct Runtime *rt, fql_error *err);
                                   /* route.c: model `to` takes over a request `from` failed (semantic.c counts it) */
} Runtime;

/* Fill rt from the embedder's options (db_path, log, the settings' defaults). */
void   rt_init(Runtime *rt, const fql_options *o, const char *stdlib_dir);
/* Free what rt.c made (see the ownership rule above). NULL-safe. */
void   rt_close(Runtime *rt);
/* Log a line through the embedder's callback (or to stderr), when level is at least rt's level. */
void   rt_log(Runtime *rt, int level, const char *fmt, ...) FQL_PRINTF(3, 4);
/* The state database, opened (and created) on first use: the one place it is opened. NULL with err. */
struct State *rt_state(Runtime *rt, fql_error *err);
/* The state database if one exists already (a reader of system tables never creates one); NULL when
 * there is none. */
struct State *rt_state_if_exists(Runtime *rt);
/* Row k (counted from 0 in a source's reading order) of a partitioned scan belongs to partition
 * rt_partition_of(k, n): a fixed mix of k (splitmix64) modulo n, the same on every machine and run. */
int    rt_partition_of(int64_t k, int n);
static inline int rt_interrupted(Runtime *rt) { return __atomic_load_n(&rt->interrupted, __ATOMIC_ACQUIRE); }
/* Apply `set name = v`: consumes v (an exception to value.h's rule). 0, or -1 with *msg (xasprintf'd) that names the settings. */
int    rt_set(Runtime *rt, const char *name, Value v, char **msg);
/* The shared state's connection (shared.h) when `shared` is set, else NULL. Borrowed: rt owns it
 * (it connects on first use; its calls say when Redis cannot be reached). */
struct SharedConn *rt_shared(Runtime *rt);
/* A cache point's result stored in this session (borrowed), or NULL; rt_put_result takes t. */
const Table *rt_result(Runtime *rt, const char *key);
void   rt_put_result(Runtime *rt, const char *key, Table *t);

#endif
