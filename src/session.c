/* session.c: the public API (fql.h): sessions, running source text statement by statement,
 * prepared statements stepped a batch at a time, results and their metrics, the log. */
#include <stdlib.h>
#include <stdarg.h>
#include <string.h>
#include <strings.h>
#include <ctype.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <limits.h>
#include <jansson.h>
#include <time.h>
#include "session.h"
#include "bind.h"
#include "exec.h"
#include "metrics.h"
#include "optimize.h"
#include "models.h"
#include "state.h"
#include "udf.h"
#include "func.h"
#include "semop.h"
#include "replay.h"

#ifndef FQL_STDLIB_DIR
#define FQL_STDLIB_DIR "stdlib"
#endif

/* A session: its declarations (Catalog), its runtime (Runtime), where results print, and the
 * prepared statement that may be running. Private to this file: every layer below takes the
 * Catalog (the binder) or the Runtime (the executor and below). */
struct fql_session {
    fql_options opts;
    Catalog cat;
    Runtime rt;
    FILE *out;                     /* where results print (fql_options.out), or NULL */
    struct fql_stmt *open_stmt;    /* a prepared statement not yet finished: nothing else may run */
};

struct fql_result {
    Table *t;
    char **strings;          /* fql_result_string() texts, made on demand, per cell */
    fql_metrics metrics;     /* of the statement that made it */
};

/* Takes t; metrics copied (NULL = zeroes). */
static fql_result *result_new(Table *t, const fql_metrics *m)
{
    fql_result *r = xcalloc(1, sizeof *r);
    r->t = t;
    if (m) r->metrics = *m;
    return r;
}

FQL_API void fql_options_init(fql_options *o)
{
    memset(o, 0, sizeof *o);
    o->validate_keys = 1;
    o->progress = 1;
    o->cache = 1;
    o->log_level = FQL_LOG_INFO;
}

FQL_API void fql_free(void *p) { free(p); }

FQL_API const char *fql_version(void) { return FQL_VERSION; }

/* Where stdlib/ is: $FQL_STDLIB, else next to the executable's ../stdlib, else the build-time path. */
static char *find_stdlib(void)
{
    const char *env = getenv("FQL_STDLIB");
    if (env && *env) return xstrdup(env);
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = 0;
        char *slash = strrchr(exe, '/');
        if (slash) {
            *slash = 0;
            static const char *const rel[] = { "../stdlib", "../share/fql/stdlib" };
            for (int i = 0; i < 2; i++) {
                char *cand = xasprintf("%s/%s", exe, rel[i]), real[PATH_MAX];
                int found = realpath(cand, real) && access(real, R_OK) == 0;
                free(cand);
                if (found) return xstrdup(real);
            }
        }
    }
    return xstrdup(FQL_STDLIB_DIR);
}

/* stdlib/prelude.fql: the functions every session starts with (summarize, sentiment). */
static int load_prelude(fql_session *s, fql_error *err)
{
    char *path = xasprintf("%s/prelude.fql", s->rt.stdlib_dir);
    FILE *f = fopen(path, "rb");
    if (!f) { free(path); return 0; }   /* an installation without it: those functions are unknown */
    Buf b;
    buf_init(&b);
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) buf_append(&b, chunk, n);
    fclose(f);
    fql_error local;
    int rc = fql_exec(s, b.data ? b.data : "", path, NULL, err ? err : &local);
    buf_free(&b);
    free(path);
    return rc;
}

/* The binder's hooks for saved tables (catalog.h): their columns and names, from the state
 * database (when there is one). */
static Schema *saved_schema(void *ud, const char *name) { return state_table_schema(rt_state_if_exists(ud), name); }
static char **saved_names(void *ud) { return state_table_names(rt_state_if_exists(ud)); }

FQL_API fql_session *fql_open(const fql_options *o, fql_error *err)
{
    fql_session *s = xcalloc(1, sizeof *s);
    if (err) memset(err, 0, sizeof *err);
    if (o) s->opts = *o; else fql_options_init(&s->opts);
    char *stdlib_dir = find_stdlib();
    rt_init(&s->rt, &s->opts, stdlib_dir);
    free(stdlib_dir);
    s->rt.cat = &s->cat;
    s->cat.stdlib_dir = s->rt.stdlib_dir;
    s->cat.saved_schema = saved_schema;
    s->cat.saved_names = saved_names;
    s->cat.saved_ud = &s->rt;
    s->opts.db_path = s->rt.db_path;
    s->out = (FILE *)s->opts.out;
    if (s->opts.format) {
        char *msg = NULL;
        if (rt_set(&s->rt, "format", v_cstring(s->opts.format), &msg)) {
            err_set(err, FQL_ERR_RUNTIME, "%s", msg);
            free(msg);
            fql_close(s);
            return NULL;
        }
    }
    /* FQL_SHARED / FQL_SHARED_FALLBACK: as `set shared` / `set shared_fallback` before the script;
     * a bad value stops here (running unshared would send N times the limits) */
    static const char *const env_set[][2] = { { "FQL_SHARED_FALLBACK", "shared_fallback" }, { "FQL_SHARED", "shared" } };
    for (int k = 0; k < 2; k++) {
        const char *ev = getenv(env_set[k][0]);
        char *msg = NULL;
        if (ev && *ev && rt_set(&s->rt, env_set[k][1], v_cstring(ev), &msg)) {
            err_set(err, FQL_ERR_RUNTIME, "%s (from the environment variable %s)", msg, env_set[k][0]);
            free(msg);
            fql_close(s);
            return NULL;
        }
    }
    if (load_prelude(s, err)) { fql_close(s); return NULL; }
    return s;
}

static void stmt_detach(fql_stmt *st);

FQL_API void fql_close(fql_session *s)
{
    if (!s) return;
    if (s->open_stmt) stmt_detach(s->open_stmt);
    /* the subsystems above rt.c free their parts of the runtime first (rt.h) */
    udf_free_all(&s->rt);
    if (s->rt.sem) semantic_end(&s->rt, 0, 0);
    dry_end(&s->rt);
    char *msg = NULL;
    tape_close(&s->rt, &msg);   /* a --record file is written (shell_finish reports its errors first) */
    free(msg);
    models_free_all(&s->rt);
    catalog_free(&s->cat);
    rt_close(&s->rt);
    free(s);
}

/* ---- running ---- */

/* How results print in this session: its format, max_rows, the terminal's width for a table. */
static void session_print_options(fql_session *s, PrintOptions *po)
{
    print_options_init(po);
    po->format = s->rt.format;
    po->max_rows = s->rt.max_rows;
    if (s->rt.format == FMT_TABLE && isatty(fileno(s->out))) {
        const char *cols = getenv("COLUMNS");
        po->term_width = cols ? atoi(cols) : 0;
        struct winsize ws;
        if (po->term_width <= 0 && ioctl(fileno(s->out), TIOCGWINSZ, &ws) == 0) po->term_width = ws.ws_col;
    }
}

void session_print_result(fql_session *s, const Table *t)
{
    if (!s->out) return;
    PrintOptions po;
    session_print_options(s, &po);
    print_table(s->out, t, &po);
    fflush(s->out);
}

/* exec_plan_each's sink for a statement whose result is only printed: prints and frees b. */
static void print_sink(void *printer, Batch *b)
{
    printer_batch(printer, b);
    batch_free(b);
}

/* Run plan without sending anything (semantic.c's dry run) and describe, per model, the requests,
 * tokens and dollars it would take. *total: USD (unknown prices count as 0). */
static int estimate_cost(fql_session *s, Plan *plan, Buf *out, double *total, fql_error *err)
{
    *total = 0;
    dry_begin(&s->rt);
    Table *t = exec_plan(&s->rt, plan, err);
    if (!t) { dry_end(&s->rt); return -1; }
    size_t rows = t->nrows;
    table_free(t);
    const DryModel *m = dry_models(&s->rt);
    if (!m) buf_puts(out, "cost: this statement calls no model\n");
    else buf_puts(out, "cost estimate (nothing sent; conditions on model answers are assumed to pass):\n");
    double reqs = 0, more = 0, more_reqs = 0;
    int unknown = 0;
    for (; m; m = m->next) {
        double c = dry_cost(m);
        if (m->maybe) buf_printf(out, "  %s (%s %s), on the rows a cascade's cheap model may be unsure of: up to %.0f more rows, ~%.0f requests",
                                 m->m->alias, m->m->provider_name, m->m->model_name, m->rows, m->requests < 1 && m->requests > 0 ? 1 : m->requests);
        else buf_printf(out, "  %s (%s %s): %.0f rows, ~%.0f requests", m->m->alias, m->m->provider_name, m->m->model_name, m->rows,
                        m->requests < 1 && m->requests > 0 ? 1 : m->requests);
        if (m->cached || m->deduped) buf_printf(out, " (+%.0f answered from the cache, %.0f repeated)", m->cached, m->deduped);
        buf_printf(out, ", ~%.0f input + ~%.0f output tokens, ", m->input_tokens, m->output_tokens);
        if (c >= 0) buf_printf(out, "~$%.4f\n", c); else { buf_puts(out, "cost unknown (no price)\n"); unknown = 1; }
        if (m->maybe) {   /* not in the total: sent only for the rows the thresholds leave to the strong model */
            if (c > 0) more += c;
            more_reqs += m->requests;
            continue;
        }
        if (c > 0) *total += c;
        reqs += m->requests;
    }
    if (dry_models(&s->rt)) {
        buf_printf(out, "  total: ~$%.4f%s for ~%.0f requests", *total, unknown ? " (some prices unknown)" : "", reqs);
        if (more_reqs > 0) buf_printf(out, " (up to ~$%.4f for ~%.0f when the cascades' cheap models are unsure of every row)", *total + more,
                                      reqs + more_reqs);
        buf_printf(out, "; %zu result rows\n", rows);
    }
    dry_end(&s->rt);
    return 0;
}

static int resolve_subqueries(fql_session *s, Plan *p, fql_error *err);

/* Run the subquery e (an E_SUBQUERY) and turn e into the E_LIT of its value. 0, or -1 with err
 * (a scalar subquery that gives no row or more than one is an error at e). */
static int resolve_subquery(fql_session *s, Expr *e, fql_error *err)
{
    Plan *own = plan_copy(e->sub);
    if (resolve_subqueries(s, own, err)) { plan_free(own); return -1; }
    Plan *opt = optimize(&s->rt, own, NULL);
    plan_free(own);
    Table *t = exec_plan(&s->rt, opt, err);
    plan_free(opt);
    if (!t) return -1;
    Value v;
    if (e->flag) {   /* in (from ...): every value of the column */
        v = v_list_new((uint32_t)t->nrows);
        for (size_t r = 0; r < t->nrows; r++) v.u.l->items[r] = value_copy(table_get(t, r, 0));
    } else if (t->nrows != 1) {   /* one row, one column, or an error (issue 21): no rows is not a silent null */
        err_at(err, FQL_ERR_RUNTIME, e->src, e->pos, "the subquery gave %zu rows; a subquery used as a value must give exactly "
               "one (%s)", t->nrows, t->nrows ? "end it with `| limit 1`, or aggregate with `| agg ...`"
                                              : "aggregate with `| agg ...`, which gives one row even from none");
        table_free(t);
        return -1;
    } else v = value_copy(table_get(t, 0, 0));
    table_free(t);
    plan_free(e->sub);
    e->sub = NULL;
    e->kind = E_LIT;
    value_free(e->lit);
    e->lit = v;
    return 0;
}

static int resolve_expr(fql_session *s, Expr *e, fql_error *err)
{
    if (!e) return 0;
    for (int i = 0; i < e->nargs; i++)
        if (resolve_expr(s, e->args[i], err)) return -1;
    return e->kind == E_SUBQUERY ? resolve_subquery(s, e, err) : 0;
}

/* Run every subquery in p (a plan this statement owns, not shared), each once, before the
 * statement: they read no column of its rows. 0, or -1 with err. */
static int resolve_subqueries(fql_session *s, Plan *p, fql_error *err)
{
    if (!p) return 0;
    for (int i = 0; i < p->nexprs; i++)
        if (resolve_expr(s, p->exprs[i], err)) return -1;
    for (int a = 0; a < p->naggs; a++)
        for (int j = 0; j < p->aggs[a].nargs; j++)
            if (resolve_expr(s, p->aggs[a].args[j], err)) return -1;
    return resolve_subqueries(s, p->child, err) || resolve_subqueries(s, p->right, err) ? -1 : 0;
}

static int expr_has_subquery(const Expr *e)
{
    if (!e) return 0;
    if (e->kind == E_SUBQUERY) return 1;
    for (int i = 0; i < e->nargs; i++)
        if (expr_has_subquery(e->args[i])) return 1;
    return 0;
}

static int plan_has_subquery(const Plan *p)
{
    if (!p) return 0;
    for (int i = 0; i < p->nexprs; i++)
        if (expr_has_subquery(p->exprs[i])) return 1;
    for (int a = 0; a < p->naggs; a++)
        for (int j = 0; j < p->aggs[a].nargs; j++)
            if (expr_has_subquery(p->aggs[a].args[j])) return 1;
    return plan_has_subquery(p->child) || plan_has_subquery(p->right);
}

/* st's plan, or (with subqueries) a copy of it whose subqueries have run: *own is set to the copy,
 * which the caller frees. NULL with err. */
static Plan *plan_to_run(fql_session *s, const Stmt *st, Plan **own, fql_error *err)
{
    *own = NULL;
    if (!plan_has_subquery(st->plan)) return st->plan;
    *own = plan_copy(st->plan);
    if (resolve_subqueries(s, *own, err)) { plan_free(*own); *own = NULL; return NULL; }
    return *own;
}

/* Start a statement that runs st's plan: keys checked, the plan optimized (*opt, which the caller
 * frees with plan_free), the budget checked before anything is sent, counters zeroed. 0 ok, -1
 * with err. */
static int stmt_begin(fql_session *s, const Stmt *st, Plan **opt, struct timespec *t0, fql_error *err)
{
    *opt = NULL;
    if (s->cat.models && s->rt.validate_keys && models_validate_keys(&s->rt, err)) return -1;
    clock_gettime(CLOCK_MONOTONIC, t0);
    Plan *own, *run = plan_to_run(s, st, &own, err);
    if (!run) return -1;
    Plan *p = optimize(&s->rt, run, NULL);
    plan_free(own);
    double estimate = -1;
    if (s->rt.budget > 0 && plan_calls_models(p)) {
        /* refuse a statement whose estimate is over the budget before anything is sent */
        Buf eb;
        buf_init(&eb);
        int rc = estimate_cost(s, p, &eb, &estimate, err);
        buf_free(&eb);
        char est[32], budget[32];
        format_usd(est, sizeof est, estimate);
        format_usd(budget, sizeof budget, s->rt.budget);
        if (rc == 0 && estimate > s->rt.budget)
            rc = err_at(err, FQL_ERR_RUNTIME, st->src, st->pos, "not started: the estimate is $%s, over the budget of $%s "
                        "(see `explain cost`; raise it with `set budget = ...`)", est, budget);
        if (rc) { plan_free(p); return -1; }
    }
    memset(&s->rt.metrics, 0, sizeof s->rt.metrics);
    semantic_begin(&s->rt, st->text);
    semantic_set_estimate(&s->rt, estimate);
    *opt = p;
    return 0;
}

/* Finish it: query_metrics written, s->rt.metrics complete, summaries logged. */
static void stmt_end(fql_session *s, const struct timespec *t0, size_t rows)
{
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double ms = (double)(t1.tv_sec - t0->tv_sec) * 1e3 + (double)(t1.tv_nsec - t0->tv_nsec) / 1e6;
    semantic_end(&s->rt, ms, rows);
    s->rt.metrics.time_ms = ms;
    s->rt.metrics.rows = (int64_t)rows;
    if (s->rt.metrics.udf_failures)
        rt_log(&s->rt, FQL_LOG_WARN, "%lld function call%s failed and left %s null (why: from system.lm_errors)",
                    (long long)s->rt.metrics.udf_failures, s->rt.metrics.udf_failures == 1 ? "" : "s",
                    s->rt.metrics.udf_failures == 1 ? "its row" : "their rows");
}

/* Hand t to the caller as the latest result (freeing the one before), or free it. */
static void keep_result(fql_session *s, Table *t, fql_result **last, const fql_metrics *m)
{
    (void)s;
    if (!last) { table_free(t); return; }
    fql_result_free(*last);
    *last = result_new(t, m);
}

static int run_stmts(fql_session *s, Stmt **stmts, int from, int to, int ok, fql_result **out, fql_error *err);

static int run_stmt(fql_session *s, Stmt *st, fql_result **last, fql_error *err)
{
    switch (st->kind) {
    case ST_SET: {
        char *msg = NULL;
        if (rt_set(&s->rt, st->set_name, value_copy(st->set_value), &msg)) {
            err_at(err, FQL_ERR_RUNTIME, st->src, st->pos, "%s", msg);
            free(msg);
            return -1;
        }
        return 0;
    }
    case ST_EXPLAIN: {
        Buf b, rules;
        buf_init(&b);
        buf_init(&rules);
        Plan *own = NULL, *run = st->explain_mode ? plan_to_run(s, st, &own, err) : st->plan;
        if (!run) { buf_free(&b); buf_free(&rules); return -1; }
        Plan *opt = optimize(&s->rt, run, &rules);
        plan_free(own);
        plan_estimate(opt);
        size_t analyzed_rows = 0;
        if (st->explain_mode == 1) {
            if (s->cat.models && s->rt.validate_keys && models_validate_keys(&s->rt, err)) { buf_free(&b); buf_free(&rules); plan_free(opt); return -1; }
            semantic_begin(&s->rt, st->text);
            Table *t = exec_plan_analyze(&s->rt, opt, err);
            semantic_end(&s->rt, 0, t ? t->nrows : 0);
            if (!t) { buf_free(&b); buf_free(&rules); plan_free(opt); return -1; }
            analyzed_rows = t->nrows;
            table_free(t);
        }
        plan_explain(&b, opt, 0);
        if (rules.len) { buf_puts(&b, "rules:\n"); buf_append(&b, rules.data, rules.len); }
        buf_free(&rules);
        if (st->explain_mode == 1) buf_printf(&b, "(%zu rows)\n", analyzed_rows);
        else if (st->explain_mode == 2) {
            double total = 0;
            if (estimate_cost(s, opt, &b, &total, err)) { buf_free(&b); plan_free(opt); return -1; }
        }
        plan_free(opt);
        Schema *sc = schema_new();
        schema_add(sc, "plan", type_string());
        Table *t = table_new(sc);
        Batch *bt = batch_new(1, 16);
        /* one row per line */
        char *line = b.data, *nl;
        while (line && *line) {
            nl = strchr(line, '\n');
            Value v = v_string(line, nl ? (size_t)(nl - line) : strlen(line));
            batch_push_row(bt, &v);
            line = nl ? nl + 1 : NULL;
        }
        table_add_batch(t, bt);
        buf_free(&b);
        if (s->out) {
            for (size_t r = 0; r < t->nrows; r++) fprintf(s->out, "%s\n", v_str(table_get(t, r, 0)));
            fflush(s->out);
        }
        keep_result(s, t, last, NULL);
        return 0;
    }
    case ST_RUN: {
        struct timespec t0;
        Plan *opt;
        if (stmt_begin(s, st, &opt, &t0, err)) return -1;
        /* a statement that calls models keeps its plan with what each operator did, for the report */
        int keep_plan = plan_calls_models(opt);
        if (keep_plan) plan_estimate(opt);
        /* a result only printed (the caller keeps no table: the command line, the shell) streams
         * to the output a batch at a time, unless model calls draw progress on the terminal */
        int stream = !last && s->out && st->plan->kind != P_WRITE && !(keep_plan && s->rt.progress && isatty(STDERR_FILENO));
        Table *t = NULL;
        size_t streamed = 0;
        int failed = 0;
        if (stream) {
            PrintOptions po;
            session_print_options(s, &po);
            Printer *pr = printer_begin(s->out, opt->schema, &po);
            failed = exec_plan_each(&s->rt, opt, keep_plan, print_sink, pr, &streamed, err) != 0;
            if (failed) printer_free(pr); else printer_end(pr);
        } else {
            t = keep_plan ? exec_plan_analyze(&s->rt, opt, err) : exec_plan(&s->rt, opt, err);
            failed = !t;
        }
        stmt_end(s, &t0, t ? t->nrows : streamed);
        if (keep_plan && s->rt.state && s->rt.query_id) {
            Buf pb;
            buf_init(&pb);
            plan_explain(&pb, opt, 0);
            state_add_plan(s->rt.state, s->rt.query_id, pb.data ? pb.data : "");
            buf_free(&pb);
        }
        plan_free(opt);   /* after stmt_end: the per-model counters name their operator from the plan */
        if (failed) return -1;
        if (stream) return 0;
        if (st->plan->kind == P_WRITE) {
            const char *path = st->plan->path;   /* a folder: the partition's file in it (exec.c) */
            char *part = io_is_folder(path) ? io_part_path(path, st->plan->format, s->rt.part_n > 1 ? s->rt.part_i : 0,
                                                           s->rt.part_n > 1 ? s->rt.part_n : 1) : NULL;
            if (s->out) rt_log(&s->rt, FQL_LOG_INFO, "wrote %zu row%s to %s", t->nrows, t->nrows == 1 ? "" : "s", part ? part : path);
            free(part);
            table_free(t);
            return 0;
        }
        session_print_result(s, t);
        keep_result(s, t, last, &s->rt.metrics);
        return 0;
    }
    case ST_SAVE: {
        struct timespec t0;
        Plan *opt;
        if (stmt_begin(s, st, &opt, &t0, err)) return -1;
        Table *t = exec_plan(&s->rt, opt, err);
        stmt_end(s, &t0, t ? t->nrows : 0);
        plan_free(opt);
        if (!t) return -1;
        State *db = rt_state(&s->rt, err);
        char *msg = NULL;
        int rc = db ? state_table_put(db, st->table, t, st->text, &msg) : -1;
        if (rc && msg) err_at(err, FQL_ERR_RUNTIME, st->src, st->pos, "%s", msg);
        else if (rc) err_at(err, FQL_ERR_RUNTIME, st->src, st->pos, "cannot save table '%s': %s", st->table, err->message);
        free(msg);
        if (rc == 0 && s->out) rt_log(&s->rt, FQL_LOG_INFO, "saved %zu row%s as table %s", t->nrows, t->nrows == 1 ? "" : "s", st->table);
        table_free(t);
        return rc;
    }
    case ST_DROP_TABLE: {
        if (!state_table_drop(rt_state_if_exists(&s->rt), st->table))
            return err_at(err, FQL_ERR_RUNTIME, st->src, st->pos, "there is no saved table '%s' to drop (`.tables` or "
                          "system.tables lists them)", st->table);
        if (s->out) rt_log(&s->rt, FQL_LOG_INFO, "dropped table %s", st->table);
        return 0;
    }
    case ST_DEFER: {   /* the rest of the script, now that what it reads has been written */
        Stmt **more;
        int n;
        int rc = bind_program(&s->cat, st->rest, &more, &n, err);
        rc = run_stmts(s, more, 0, n, rc == 0, last, err);
        free(more);
        return rc;
    }
    case ST_NOP: return 0;
    }
    return 0;
}

/* Parse and bind src: the statements to run go to *stmts. 0 ok, -1 with err (filled afresh). */
static int compile(fql_session *s, const char *src, const char *filename, Stmt ***stmts, int *n, fql_error *err)
{
    memset(err, 0, sizeof *err);
    *stmts = NULL;
    *n = 0;
    if (!s || !src) return err_set(err, FQL_ERR_RUNTIME, "no session or no source text");
    if (s->open_stmt) return err_set(err, FQL_ERR_RUNTIME, "the session has a prepared statement still running: step it to the end or fql_finalize it first");
    /* a new run: an interrupt aimed at an earlier one is forgotten */
    __atomic_store_n(&s->rt.interrupted, 0, __ATOMIC_RELEASE);
    sched_clear_cancel(s->rt.sched);
    size_t len = strlen(src);
    char real[PATH_MAX];
    const char *path = NULL;
    if (filename && filename[0] != '<' && realpath(filename, real)) path = real;
    Src *x = catalog_add_src(&s->cat, filename ? filename : "<input>", path, src, len);
    size_t bad;
    if (!utf8_valid(x->text, x->len, &bad)) return err_at(err, FQL_ERR_PARSE, x, (int)bad, "invalid UTF-8 in the source text");
    Node *prog = parse_program(x, err);
    if (!prog) return -1;
    int rc = bind_program(&s->cat, prog, stmts, n, err);
    node_free(prog);
    return rc ? -1 : 0;
}

/* Run stmts[from, to) (all freed, run or not), stopping at the first failure. */
static int run_stmts(fql_session *s, Stmt **stmts, int from, int to, int ok, fql_result **out, fql_error *err)
{
    for (int i = from; i < to; i++) {
        if (ok && run_stmt(s, stmts[i], out, err)) ok = 0;
        stmt_free(stmts[i]);
    }
    return ok ? 0 : -1;
}

FQL_API int fql_exec(fql_session *s, const char *src, const char *filename, fql_result **out, fql_error *err)
{
    fql_error local;
    if (!err) err = &local;
    if (out) *out = NULL;
    Stmt **stmts;
    int n;
    int rc = compile(s, src, filename, &stmts, &n, err);
    rc = run_stmts(s, stmts, 0, n, rc == 0, out, err);
    free(stmts);
    if (rc && out) { fql_result_free(*out); *out = NULL; }
    return rc;
}

FQL_API void fql_interrupt(fql_session *s)
{
    if (!s) return;
    __atomic_store_n(&s->rt.interrupted, 1, __ATOMIC_RELEASE);
    sched_cancel(s->rt.sched);
}

/* ---- prepared statements ---- */

struct fql_stmt {
    fql_session *s;              /* NULL once its session was closed under it */
    Stmt *st;                    /* the statement stepped through (owned), or NULL */
    Plan *plan;                  /* its optimized plan (owned) */
    ExecCursor *cur;             /* the plan's executor while it runs */
    fql_error err;               /* the executor's error record */
    fql_result *ready;           /* the result of a last statement that does not stream, handed out by the first step */
    struct timespec t0;
    size_t rows;
    fql_metrics metrics;
    int done;
};

/* Stop the statement's run (if it runs): the session is free for other statements again. */
static void stmt_stop(fql_stmt *st)
{
    if (st->cur) {
        exec_close(st->cur);
        st->cur = NULL;
        stmt_end(st->s, &st->t0, st->rows);
        st->metrics = st->s->rt.metrics;
    }
    if (st->s && st->s->open_stmt == st) st->s->open_stmt = NULL;
    st->done = 1;
}

/* Its session is closing: stop it; a later fql_finalize only frees it. */
static void stmt_detach(fql_stmt *st)
{
    stmt_stop(st);
    st->s = NULL;
}

FQL_API int fql_prepare(fql_session *s, const char *src, const char *filename, fql_stmt **out, fql_error *err)
{
    fql_error local;
    if (!err) err = &local;
    if (out) *out = NULL;
    if (!out) return err_set(err, FQL_ERR_RUNTIME, "fql_prepare: out is NULL");
    Stmt **stmts;
    int n;
    int rc = compile(s, src, filename, &stmts, &n, err);
    fql_stmt *st = xcalloc(1, sizeof *st);
    st->s = s;
    if (n > 0) {
        Stmt *last = stmts[n - 1];
        rc = run_stmts(s, stmts, 0, n - 1, rc == 0, NULL, err);
        if (rc == 0 && last->kind == ST_RUN && last->plan->kind != P_WRITE) {
            st->st = last;
            if (stmt_begin(s, last, &st->plan, &st->t0, err)) rc = -1;
            else {
                st->cur = exec_open(&s->rt, st->plan, &st->err);
                s->open_stmt = st;
            }
        } else {
            rc = run_stmts(s, stmts, n - 1, n, rc == 0, &st->ready, err);
            if (st->ready) st->metrics = st->ready->metrics;
        }
    }
    free(stmts);
    if (rc) { fql_finalize(st); return -1; }
    *out = st;
    return 0;
}

FQL_API int fql_step(fql_stmt *st, fql_result **batch, fql_error *err)
{
    fql_error local;
    if (!err) err = &local;
    memset(err, 0, sizeof *err);
    if (batch) *batch = NULL;
    if (!st || !batch) return err_set(err, FQL_ERR_RUNTIME, "fql_step: no statement or no place for the batch");
    if (st->ready) { *batch = st->ready; st->ready = NULL; st->done = 1; return 1; }
    if (st->done || !st->cur) { st->done = 1; return 0; }
    Batch *b;
    int rc = exec_next(st->cur, &b);
    if (rc == 1) {
        st->rows += b->n;
        Table *t = table_new(schema_copy(st->plan->schema));
        table_add_batch(t, b);
        st->metrics = st->s->rt.metrics;
        st->metrics.rows = (int64_t)st->rows;
        *batch = result_new(t, &st->metrics);
        return 1;
    }
    if (rc < 0) *err = st->err;
    stmt_stop(st);
    return rc < 0 ? -1 : 0;
}

static const Schema *stmt_schema(const fql_stmt *st)
{
    if (st && st->plan) return st->plan->schema;
    return st && st->ready && st->ready->t ? st->ready->t->schema : NULL;
}

FQL_API size_t fql_stmt_cols(const fql_stmt *st) { const Schema *sc = stmt_schema(st); return sc ? (size_t)sc->n : 0; }
FQL_API const char *fql_stmt_column_name(const fql_stmt *st, size_t col)
{
    const Schema *sc = stmt_schema(st);
    return sc && col < (size_t)sc->n ? sc->names[col] : NULL;
}
static fql_type type_of(const Type *t);
FQL_API fql_type fql_stmt_column_type(const fql_stmt *st, size_t col)
{
    const Schema *sc = stmt_schema(st);
    return sc && col < (size_t)sc->n ? type_of(sc->types[col]) : FQL_TYPE_NULL;
}

FQL_API int fql_stmt_metrics(const fql_stmt *st, fql_metrics *m)
{
    if (!st || !m) return -1;
    *m = st->metrics;
    return 0;
}

FQL_API void fql_finalize(fql_stmt *st)
{
    if (!st) return;
    if (st->s) stmt_stop(st);
    if (st->st) stmt_free(st->st);
    plan_free(st->plan);
    fql_result_free(st->ready);
    free(st);
}

/* ---- results ---- */

static Value cell(const fql_result *r, size_t row, size_t col)
{
    if (!r || !r->t || col >= (size_t)r->t->schema->n || row >= r->t->nrows) return v_null();
    return table_get(r->t, row, (int)col);
}

FQL_API size_t fql_result_rows(const fql_result *r) { return r && r->t ? r->t->nrows : 0; }
FQL_API size_t fql_result_cols(const fql_result *r) { return r && r->t ? (size_t)r->t->schema->n : 0; }
FQL_API const char *fql_result_column_name(const fql_result *r, size_t col)
{
    return r && r->t && col < (size_t)r->t->schema->n ? r->t->schema->names[col] : NULL;
}
static fql_type type_of(const Type *t)
{
    switch (t->kind) {
    case TY_BOOL: return FQL_TYPE_BOOL;
    case TY_INT: return FQL_TYPE_INT;
    case TY_FLOAT: return FQL_TYPE_FLOAT;
    case TY_STRING: case TY_ENUM: return FQL_TYPE_STRING;
    case TY_DATE: return FQL_TYPE_DATE;
    case TY_TIMESTAMP: return FQL_TYPE_TIMESTAMP;
    case TY_JSON: case TY_ANY: return FQL_TYPE_JSON;
    case TY_LIST: return FQL_TYPE_LIST;
    case TY_STRUCT: return FQL_TYPE_STRUCT;
    case TY_VECTOR: return FQL_TYPE_VECTOR;
    default: return FQL_TYPE_NULL;
    }
}

FQL_API fql_type fql_result_column_type(const fql_result *r, size_t col)
{
    if (!r || !r->t || col >= (size_t)r->t->schema->n) return FQL_TYPE_NULL;
    return type_of(r->t->schema->types[col]);
}
FQL_API int fql_result_is_null(const fql_result *r, size_t row, size_t col) { return cell(r, row, col).kind == V_NULL; }
/* A json cell holding a number or a boolean reads as that scalar (json answers of http_get_json,
 * fields of untyped json). */
static Value scalar_cell(const fql_result *r, size_t row, size_t col)
{
    Value v = cell(r, row, col);
    if (v.kind != V_JSON) return v;
    const char *t = v_str(v);
    if (!strcmp(t, "true") || !strcmp(t, "false")) return v_bool(t[0] == 't');
    char *end;
    long long i = strtoll(t, &end, 10);
    if (end != t && !*end) return v_int(i);
    double f = strtod(t, &end);
    return end != t && !*end ? v_float(f) : v_null();
}

FQL_API int64_t fql_result_int(const fql_result *r, size_t row, size_t col)
{
    Value v = scalar_cell(r, row, col);
    if (v.kind == V_FLOAT) return (int64_t)v.u.f;
    if (v.kind == V_BOOL) return v.u.b;
    return v.kind == V_INT || v.kind == V_DATE || v.kind == V_TIMESTAMP ? v.u.i : 0;
}
FQL_API double fql_result_float(const fql_result *r, size_t row, size_t col)
{
    Value v = scalar_cell(r, row, col);
    if (v.kind == V_INT) return (double)v.u.i;
    return v.kind == V_FLOAT ? v.u.f : 0.0;
}
FQL_API int fql_result_bool(const fql_result *r, size_t row, size_t col)
{
    Value v = scalar_cell(r, row, col);
    return v.kind == V_BOOL ? v.u.b : 0;
}
FQL_API const char *fql_result_string(const fql_result *r, size_t row, size_t col)
{
    Value v = cell(r, row, col);
    if (v.kind == V_NULL) return NULL;
    if (v.kind == V_STRING || v.kind == V_JSON) return v_str(v);
    /* other kinds: render once and keep the text with the result */
    fql_result *m = (fql_result *)r;
    size_t ncells = r->t->nrows * (size_t)r->t->schema->n;
    if (!m->strings) m->strings = xcalloc(ncells ? ncells : 1, sizeof *m->strings);
    size_t k = row * (size_t)r->t->schema->n + col;
    if (!m->strings[k]) {
        Buf b;
        buf_init(&b);
        value_to_text(&b, v, "");
        m->strings[k] = buf_take(&b);
    }
    return m->strings[k];
}
FQL_API char *fql_result_json(const fql_result *r, size_t row, size_t col)
{
    Buf b;
    buf_init(&b);
    value_to_json(&b, cell(r, row, col));
    return buf_take(&b);
}
FQL_API int fql_result_metrics(const fql_result *r, fql_metrics *m)
{
    if (!r || !m) return -1;
    *m = r->metrics;
    return 0;
}

FQL_API void fql_result_free(fql_result *r)
{
    if (!r) return;
    if (r->strings) {
        size_t ncells = r->t->nrows * (size_t)r->t->schema->n;
        for (size_t i = 0; i < ncells; i++) free(r->strings[i]);
        free(r->strings);
    }
    table_free(r->t);
    free(r);
}

/* ---- inside the library (session.h) ---- */

Table *fql_result_table(const fql_result *r) { return r ? r->t : NULL; }
Catalog *session_catalog(fql_session *s) { return &s->cat; }
Runtime *session_runtime(fql_session *s) { return &s->rt; }
FILE *session_output(fql_session *s) { return s->out; }
void session_set_output(fql_session *s, FILE *out) { s->out = out; }

/* ---- user-defined functions (fql_register_udf) ---- */

static int valid_name(const char *name)
{
    if (!isalpha((unsigned char)name[0]) && name[0] != '_') return 0;
    for (const char *p = name; *p; p++)
        if (!isalnum((unsigned char)*p) && *p != '_') return 0;
    return 1;
}

/* Names the binder resolves before it looks for a UDF (built-in functions and aggregates, semantic
 * operators and special forms: semop_reserved): a UDF of that name could never be called. */
static int reserved_name(const char *name)
{
    return func_lookup(name) || agg_lookup(name) || semop_reserved(name);
}

FQL_API int fql_register_udf(fql_session *s, const char *name, const fql_udf_spec *spec, fql_error *err)
{
    if (err) memset(err, 0, sizeof *err);
    if (!s || !name || !spec) return err_set(err, FQL_ERR_RUNTIME, "fql_register_udf: no session, name or spec");
    Catalog *cat = &s->cat;
    if (!valid_name(name)) return err_set(err, FQL_ERR_RUNTIME, "fql_register_udf: '%s' is not a valid function name (letters, digits and _)", name);
    if (reserved_name(name)) return err_set(err, FQL_ERR_RUNTIME, "fql_register_udf: '%s' is a built-in function; pick another name", name);
    if (catalog_find_fn(cat, name))   /* an FQL fn (the prelude's, or declared) would win at every call */
        return err_set(err, FQL_ERR_RUNTIME, "fql_register_udf: '%s' is already a function written in FQL (fn); pick another name", name);
    if (!spec->fn == !spec->async_fn)
        return err_set(err, FQL_ERR_RUNTIME, "fql_register_udf: %s: set exactly one of fn (synchronous) and async_fn (asynchronous)", name);
    if (spec->return_type == FQL_TYPE_NULL || (unsigned)spec->return_type > FQL_TYPE_JSON)
        return err_set(err, FQL_ERR_RUNTIME, "fql_register_udf: %s: return_type must be a type other than FQL_TYPE_NULL", name);
    if (spec->max_concurrency < 0 || spec->timeout < 0 || spec->retries < 0)
        return err_set(err, FQL_ERR_RUNTIME, "fql_register_udf: %s: max_concurrency, timeout and retries cannot be negative", name);
    UdfDef *u = catalog_find_udf(cat, name);
    if (!u) {
        u = xcalloc(1, sizeof *u);
        u->name = xstrdup(name);
        u->next = cat->udfs;
        cat->udfs = u;
    }
    u->spec = *spec;
    return 0;
}

