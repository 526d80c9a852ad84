/* budget.c: budgets over time: `set budget = {usd: 5, per: "day"}` (and `model: "fast"` for one
 * alias). Each budget covers a calendar window in UTC (the hour, the day, the week from Monday,
 * the month) and counts what every run on the same state database spent in it, or, when limits
 * are shared (`set shared`), every process on the same Redis. The scheduler reports every
 * answer's cost (spent) whether a budget is set or not: the state database keeps it by scope (the
 * model's alias, and "*" for all) and UTC hour (table budget_spend), so a budget set later counts
 * what was spent before it in its window. In Redis the budget's own window key
 * (fql:budget:SCOPE:PER:START, INCRBYFLOAT) counts from when a process with that budget spends. The scheduler asks before each send whether the
 * request's estimated cost fits (what was spent, plus what requests in flight hold, plus this
 * one); a request that does not stop the statement with how much was spent and when the window
 * resets (sched.c, budget_hold). The per-statement `set budget = N` is separate (rt->budget).
 *
 * Ownership: the budgets live in rt->budgets (budget_free frees them); the scheduler borrows the
 * hook and rt.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <hiredis/hiredis.h>
#include "budget.h"
#include "rt.h"
#include "runtime.h"
#include "shared.h"
#include "state.h"

typedef struct Budget {
    double usd;
    char *per;                   /* "hour", "day", "week", "month" */
    char *model;                 /* an alias, or NULL: every model */
    double held;                 /* USD held by requests in flight (this process) */
} Budget;

struct BudgetSet {
    Budget *b;
    int n;
};

/* The window of kind per that holds Unix time t: its start and end (Unix seconds, UTC). */
static void window_of(const char *per, time_t t, int64_t *start, int64_t *end)
{
    struct tm tm;
    gmtime_r(&t, &tm);
    tm.tm_sec = 0;
    if (!strcmp(per, "hour")) {
        tm.tm_min = 0;
        *start = (int64_t)timegm(&tm);
        *end = *start + 3600;
        return;
    }
    tm.tm_min = tm.tm_hour = 0;
    if (!strcmp(per, "day")) {
        *start = (int64_t)timegm(&tm);
        *end = *start + 86400;
    } else if (!strcmp(per, "week")) {
        int back = (tm.tm_wday + 6) % 7;   /* days since Monday */
        *start = (int64_t)timegm(&tm) - (int64_t)back * 86400;
        *end = *start + 7 * 86400;
    } else {   /* month */
        tm.tm_mday = 1;
        *start = (int64_t)timegm(&tm);
        tm.tm_mon += 1;
        *end = (int64_t)timegm(&tm);
    }
}

static const char *scope_of(const Budget *b) { return b->model ? b->model : "*"; }

/* What was spent in b's current window (starting at start): in Redis when shared, else in the state
 * database. -1 with *err when the store cannot be read. */
static double spent_in(Runtime *rt, const Budget *b, int64_t start, char **err)
{
    if (rt->shared) {
        redisReply *r = shared_cmd(rt->shared, err, "GET fql:budget:%s:%s:%lld", scope_of(b), b->per, (long long)start);
        if (!r) return -1;
        double v = r->type == REDIS_REPLY_STRING ? atof(r->str) : 0;
        freeReplyObject(r);
        return v;
    }
    fql_error e;
    memset(&e, 0, sizeof e);
    State *st = rt->open_state ? rt->open_state(rt, &e) : NULL;
    if (!st) {
        *err = xasprintf("%s", e.message);
        return -1;
    }
    int64_t s0, end;
    window_of(b->per, (time_t)start, &s0, &end);
    return state_budget_spent(st, scope_of(b), start, end);
}

static void fmt_time(char *out, size_t n, int64_t t)
{
    time_t tt = (time_t)t;
    struct tm tm;
    gmtime_r(&tt, &tm);
    strftime(out, n, "%Y-%m-%d %H:%M UTC", &tm);
}

/* SchedBudget.afford: hold usd against every budget that covers m, or say which one it would pass. */
static int afford(void *ud, const LmModel *m, double usd, char **msg)
{
    Runtime *rt = ud;
    BudgetSet *bs = rt->budgets;
    if (!bs) return 0;
    time_t now = time(NULL);
    for (int i = 0; i < bs->n; i++) {
        Budget *b = &bs->b[i];
        if (b->model && (!m->alias || strcmp(b->model, m->alias))) continue;
        int64_t start, end;
        window_of(b->per, now, &start, &end);
        char *err = NULL;
        double spent = spent_in(rt, b, start, &err);
        if (spent < 0) {
            *msg = xasprintf("the budget of $%g per %s cannot be checked: %s", b->usd, b->per, err ? err : "?");
            free(err);
            return -1;
        }
        if (spent + b->held + usd > b->usd) {
            char from[40], to[40], sp[32], fl[32], nx[32];
            fmt_time(from, sizeof from, start);
            fmt_time(to, sizeof to, end);
            format_usd(sp, sizeof sp, spent);
            format_usd(fl, sizeof fl, b->held);
            format_usd(nx, sizeof nx, usd);
            *msg = xasprintf("stopped before sending: the budget of $%g per %s%s%s%s is spent: $%s since %s%s%s%s, and the "
                             "next request would cost about $%s; it resets at %s (answers so far are cached; raise it "
                             "with `set budget = {usd: ..., per: \"%s\"%s%s%s}`)",
                             b->usd, b->per, b->model ? " for model '" : "", b->model ? b->model : "", b->model ? "'" : "",
                             sp, from, b->held > 0 ? " (and $" : "", b->held > 0 ? fl : "", b->held > 0 ? " in flight)" : "",
                             nx, to, b->per, b->model ? ", model: \"" : "", b->model ? b->model : "", b->model ? "\"" : "");
            return -1;
        }
    }
    for (int i = 0; i < bs->n; i++) {
        Budget *b = &bs->b[i];
        if (!b->model || (m->alias && !strcmp(b->model, m->alias))) b->held += usd;
    }
    return 0;
}

/* SchedBudget.spent: release held from every budget that covers m, and record usd: in the state
 * database by hour for m's alias and for "*" (when a database is open, or a budget needs one), and
 * in Redis under each shared budget's window. */
static void spent(void *ud, const LmModel *m, double held, double usd)
{
    Runtime *rt = ud;
    BudgetSet *bs = rt->budgets;
    int nb = bs ? bs->n : 0;
    time_t now = time(NULL);
    for (int i = 0; i < nb; i++) {
        Budget *b = &bs->b[i];
        if (b->model && (!m->alias || strcmp(b->model, m->alias))) continue;
        b->held = fmax(0, b->held - held);
        if (usd <= 0 || !rt->shared) continue;
        int64_t start, end;
        window_of(b->per, now, &start, &end);
        char *err = NULL;
        char key[256], val[64];
        snprintf(key, sizeof key, "fql:budget:%s:%s:%lld", scope_of(b), b->per, (long long)start);
        snprintf(val, sizeof val, "%.12f", usd);
        redisReply *r = shared_cmd(rt->shared, &err, "INCRBYFLOAT %s %s", key, val);
        if (r) freeReplyObject(r);
        free(err);   /* a lost Redis stops the next check (afford) with its message */
        err = NULL;
        r = shared_cmd(rt->shared, &err, "EXPIRE %s %lld", key, (long long)(end - start + 86400));
        if (r) freeReplyObject(r);
        free(err);
    }
    if (usd <= 0) return;
    fql_error e;
    memset(&e, 0, sizeof e);
    State *st = rt->state ? rt->state : nb && rt->open_state ? rt->open_state(rt, &e) : NULL;
    if (!st) return;
    int64_t hour = (int64_t)now - (int64_t)now % 3600;
    if (m->alias) state_budget_add(st, m->alias, hour, usd);
    state_budget_add(st, "*", hour, usd);
}

static const SchedBudget hook = { afford, spent };

/* The field name of struct value v, or NULL. */
static const Value *field(const Value *v, const char *name)
{
    const Struct *s = v->u.st;
    for (uint32_t i = 0; s->type && i < s->n && i < (uint32_t)s->type->nfields; i++)
        if (!strcmp(s->type->fields[i].name, name)) return &s->fields[i];
    return NULL;
}

int budget_set(Runtime *rt, const Value *v, char **msg)
{
    static const char *const usage = "set budget takes an amount in USD per statement (set budget = 5.00) or a budget over "
                                     "time: set budget = {usd: 5, per: \"day\"} (per: \"hour\", \"day\", \"week\" or \"month\"; "
                                     "model: \"ALIAS\" for one model; usd: 0 removes it)";
    const Value *u = field(v, "usd"), *p = field(v, "per"), *mo = field(v, "model");
    for (uint32_t i = 0; v->u.st->type && i < v->u.st->n; i++) {
        const char *f = v->u.st->type->fields[i].name;
        if (strcmp(f, "usd") && strcmp(f, "per") && strcmp(f, "model")) {
            *msg = xasprintf("set budget: unknown field '%s'; %s", f, usage);
            return -1;
        }
    }
    if (!u || (u->kind != V_INT && u->kind != V_FLOAT) || !p || p->kind != V_STRING || (mo && mo->kind != V_STRING)) {
        *msg = xstrdup(usage);
        return -1;
    }
    double usd = u->kind == V_INT ? (double)u->u.i : u->u.f;
    const char *per = v_str(*p);
    if (usd < 0 || (strcmp(per, "hour") && strcmp(per, "day") && strcmp(per, "week") && strcmp(per, "month"))) {
        *msg = xstrdup(usage);
        return -1;
    }
    const char *model = mo ? v_str(*mo) : NULL;
    if (!rt->sched) return 0;   /* the binder's probe (bind_decl.c): validated only, as set shared does */
    if (!rt->budgets) rt->budgets = xcalloc(1, sizeof *rt->budgets);
    BudgetSet *bs = rt->budgets;
    int k;
    for (k = 0; k < bs->n; k++)   /* the same window and scope: replaced */
        if (!strcmp(bs->b[k].per, per) && ((!model && !bs->b[k].model) || (model && bs->b[k].model && !strcmp(model, bs->b[k].model))))
            break;
    if (usd == 0) {   /* removed */
        if (k < bs->n) {
            free(bs->b[k].per);
            free(bs->b[k].model);
            bs->b[k] = bs->b[--bs->n];
        }
    } else {
        if (k == bs->n) {
            bs->b = xrealloc(bs->b, (size_t)(bs->n + 1) * sizeof *bs->b);
            memset(&bs->b[k], 0, sizeof bs->b[k]);
            bs->b[k].per = xstrdup(per);
            bs->b[k].model = model ? xstrdup(model) : NULL;
            bs->n++;
        }
        bs->b[k].usd = usd;
    }
    return 0;
}

const SchedBudget *budget_hook(void) { return &hook; }

void budget_free(BudgetSet *bs)
{
    if (!bs) return;
    for (int i = 0; i < bs->n; i++) { free(bs->b[i].per); free(bs->b[i].model); }
    free(bs->b);
    free(bs);
}
