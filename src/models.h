/* models.h: declared aliases resolved into runtime models (models.c), and the semantic operators'
 * execution over a batch (semantic.c). */
#ifndef FQL_MODELS_H
#define FQL_MODELS_H

#include "runtime.h"
#include "plan.h"

#include "rt.h"

/* One resolved model per alias (or alias.profile), owned by the session. */
typedef struct RtModel { char *key; LmModel *m; struct RtModel *next; } RtModel;

/* The runtime model of alias (optionally a profile of it). Borrowed; NULL with err. */
LmModel *models_get(Runtime *rt, const char *alias, const char *profile, fql_error *err);
void     models_free_all(Runtime *rt);
/* The prices (USD per million tokens, < 0 unknown) and context window (0 unknown) alias resolves
 * to, sending nothing; a runtime model made for it only now is not kept. 0, or -1 with err. */
int      models_describe(Runtime *rt, const char *alias, double *price_in, double *price_out, int64_t *context, fql_error *err);
/* Check the keys of every declared model not yet checked, in parallel. 0 ok; -1 with err. */
int      models_validate_keys(Runtime *rt, fql_error *err);

/* What one plan operator's semantic work did (explain analyze). */
typedef struct OpStats {
    int64_t rows, cached, deduped, sent, retried, failed, input_tokens, output_tokens;
    double cost_usd;
} OpStats;

/* The semantic work of one expression over a piece of rows, running in the background. */
typedef struct SemJob SemJob;
/* Render, dedup, look up the cache and submit without waiting. args (args[k][row], one array per
 * argument of e) become the job's. ost (may be NULL) accumulates counters. NULL with err on a fatal
 * error (unknown model, state database). */
SemJob *semantic_start(Runtime *rt, const Expr *e, Value **args, size_t n, int64_t first_row, OpStats *ost, fql_error *err);
/* Fusion: with rt->fuse_hold set, jobs started keep their new structured requests; this sends those
 * of jobs[0..n) (the calls of one stage over the same rows), each row's calls of one model whose
 * texts agree as ONE request (packed as usual), answered, validated and cached per call, and the
 * rest as semantic_start would. Clears rt->fuse_hold. */
void    semantic_send_fused(Runtime *rt, SemJob **jobs, int n);
/* Wait (running the scheduler, which also moves every other job on) for the job's answers; returns
 * n new values, or NULL with err (a fatal provider error, an interrupt, the budget reached). */
Value  *semantic_finish(SemJob *j, fql_error *err);
void    semantic_job_free(SemJob *j);     /* NULL-safe; a job with answers still due is freed when they arrive */
/* Are all of the job's answers in (semantic_finish will not wait)? NULL-safe (1). */
int     semantic_job_ready(const SemJob *j);
/* Cancel and drain the requests of jobs freed early (a failed or stopped statement). */
void    semantic_flush(Runtime *rt);

/* Estimating without sending (explain cost, set budget): between dry_begin and dry_end,
 * semantic_start counts what it would send per model instead of sending it. */
typedef struct DryModel {
    LmModel *m;
    double rows, requests, cached, deduped, input_tokens, output_tokens;
    int maybe;               /* counted while dry_maybe was on: requests that run only on some answers (a cascade's) */
    struct DryModel *next;
} DryModel;
typedef struct DryRun DryRun;
void   dry_begin(Runtime *rt);
void   dry_end(Runtime *rt);
const DryModel *dry_models(const Runtime *rt);   /* in the order met; borrowed */
double dry_cost(const DryModel *m);                         /* USD, or -1 when the price is unknown */
/* While on, the dry run counts requests apart (DryModel.maybe) as ones that may or may not be sent
 * (a cascade's strong model on the rows its cheap one may be unsure of), and does not let them
 * stand in for later identical requests. */
void   dry_maybe(Runtime *rt, int on);

/* Evaluate a semantic operator (E_SEMANTIC) over n rows whose arguments are evaluated already
 * (args[k][row], borrowed). Returns n new values, or NULL with err (a fatal provider error).
 * Row-level failures are null values with a row in system.lm_errors. */
Value   *semantic_eval(Runtime *rt, const Expr *e, Value **args, size_t n, int64_t first_row, fql_error *err);
/* The rows a piece of input should hold for operator e to fill its packs: 200 when e packs rows
 * (`pack: N` > 1 gives max(N, 8); `pack: "auto"`, or no pack: option where e is packable and every
 * candidate of its model: expression answers to a schema, m->structured, and is not a
 * `batch: true` model), else 0 (no preference).
 * Sends nothing; an alias that cannot be resolved counts as not packing. */
size_t   semantic_pack_rows(Runtime *rt, const Expr *e);
/* Rows a request of call e carries, as an estimate assumes: 1 unpacked, N for pack: N, else the
 * most an automatic pack holds (fewer when the texts are long: explain cost renders them). */
int      semantic_pack_hint(Runtime *rt, const Expr *e);
/* reduce(): for each of n groups, one answer to instruction from all of the group's texts (lists[g]
 * is a list of strings, borrowed), packed into as few prompts as the model's context window allows
 * and reduced hierarchically. An empty group gives null. NULL with err on a fatal error. */
Value   *semantic_reduce(Runtime *rt, const char *instruction, const char *alias, const Value *lists, size_t n, fql_error *err);
/* For operators that make their own requests (parse_pdf): send req (consumed) to m on behalf of
 * job j through the response cache and the scheduler; done(ud, answer) runs with the final answer
 * (at once when it is cached; the answer is borrowed) and j waits for it. Counted as one row of m. */
typedef void (*SemDone)(void *ud, const LmAnswer *a);
void     semantic_submit(SemJob *j, LmModel *m, LmRequest *req, SemDone done, void *ud);
void     semantic_count_row(Runtime *rt, const Expr *e, LmModel *m);
/* What the semantic runtime lends an operator that lives below it (parse_pdf in func_doc.c): its
 * two entry points above, as function pointers, so the lower file never calls up. */
typedef struct SemHost {
    void (*submit)(SemJob *j, LmModel *m, LmRequest *req, SemDone done, void *ud);
    void (*count_row)(Runtime *rt, const Expr *e, LmModel *m);
} SemHost;

/* parse_pdf() as a job (func_doc.c): start renders each row's PDF, or submits its images for
 * description first (semantic_submit); finish renders the rest once the answers are in. */
typedef struct PdfJob PdfJob;
PdfJob  *pdf_job_start(SemJob *j, const SemHost *host, Runtime *rt, const Expr *e, Value **args, size_t n, int64_t first_row, fql_error *err);
Value   *pdf_job_finish(PdfJob *p);    /* n new values */
/* explain cost of parse_pdf(path, describe_images: true): adds the requests and input tokens that
 * describing path's images would take to dm (nothing when it is unreadable or has no images). */
void     pdf_dry_estimate(const char *path, DryModel *dm);
void     pdf_job_free(PdfJob *p);      /* NULL-safe */
/* Statement bookkeeping: start (clears per-statement counters) and finish (writes query_metrics,
 * prints the summary line). */
void     semantic_begin(Runtime *rt, const char *statement);
void     semantic_end(Runtime *rt, double elapsed_ms, size_t rows);
/* The statement's cost estimate (USD, < 0 none), named when the budget stops it. */
void     semantic_set_estimate(Runtime *rt, double usd);
/* What a semantic join's prefilter did, for the summary line and query_metrics.est_recall of
 * model alias (metrics_pairs). */
void     semantic_pairs(Runtime *rt, const char *alias, double est_recall, const char *note);
struct CascadeStats;
/* What a cascade did (cascade.c), for the query_metrics rows of models cheap and strong (metrics_cascade). */
void     semantic_cascade(Runtime *rt, const char *cheap, const char *strong, const struct CascadeStats *st);


/* ---- where requests go (route.c) ----
 * route_submit sends req (consumed) for model m: to the Batch API queue when m has batch: true,
 * else to the scheduler; a request that fails on m for a row-level reason is tried on m's
 * fallback aliases in order (the answer's answered_by says which one answered). op names the
 * operator, for metrics. done is called exactly once: when the answer is in, or with a
 * "cancelled" answer from route_cancel.
 * route_run_until runs the scheduler and the Batch API queue until stop(ud) is true or nothing is
 * left (like sched_run_until); 0, or -1 with err (a fatal answer, an interrupt).
 * route_cancel completes everything outstanding as cancelled (a statement that stopped). */
void     route_submit(Runtime *rt, LmModel *m, LmRequest *req, const char *op, SchedDone done, void *ud);
int      route_run_until(Runtime *rt, int (*stop)(void *ud), void *ud, fql_error *err);
void     route_cancel(Runtime *rt);
/* The model for one row of semantic operator e: alias (what its model: argument gave the row),
 * unless req does not fit that alias's context window: then the candidate of the model:
 * expression with the smallest window that holds it. 0 with *m; when no candidate can take the
 * row, also *kind and *why (malloc'd): the row's error. -1 with err when an alias cannot be
 * resolved. req may be NULL (a null input: no size check). */
int      route_model(Runtime *rt, const Expr *e, const char *alias, const LmRequest *req, LmModel **m,
                     const char **kind, char **why, fql_error *err);
/* The result positions of a model: expression (if/case branches, coalesce arguments, or the
 * expression itself), up to max into out; returns how many there are. The binder requires each
 * to be an alias literal, so the candidates are known before the statement runs. */
/* The runtime model of "alias" or "alias.profile". NULL with err. */
LmModel *route_model_named(Runtime *rt, const char *name, fql_error *err);
/* Is name (an alias or alias.profile a model: expression gave for a row) a declared model of the
 * kind the operator needs (embedding 1: an embedding model)? NULL when it is; else why not (caller
 * frees), which the row's error records. */
char    *route_alias_problem(Runtime *rt, const char *name, int embedding);
int      route_candidates(const Expr *e, const Expr **out, int max);

/* ---- the providers' Batch APIs (batch.c) ----
 * batch_submit queues req (consumed) for m; batch_run submits the queue as batches (resuming
 * batches recorded in the state database that hold some of its requests), polls them and hands
 * each request its answer; 0, or -1 with err (interrupted, or a control call failed for good:
 * the requests without an answer then fail as "cancelled"). batch_abandon fails whatever is
 * queued (the statement stopped before batch_run). */
void     batch_submit(Runtime *rt, LmModel *m, LmRequest *req, SchedDone done, void *ud);
int      batch_pending(Runtime *rt);
int      batch_run(Runtime *rt, fql_error *err);
void     batch_abandon(Runtime *rt);

#endif
