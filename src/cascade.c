/* cascade.c: model cascades with guarantees (cascade.h).
 *
 * Where the thresholds are learned: over the whole input. The executor hands cascade_eval every
 * row of the stage at once (a pipeline breaker, as LOTUS's cascades are), because the guarantee is
 * about the output as a whole: a sample drawn from the first piece only would say nothing of rows
 * that come later (inputs are often sorted), and a sample per piece would send most small pieces
 * whole to the strong model.
 *
 * The bound: a one-sided Clopper-Pearson bound on the error rate of the answers a candidate
 * threshold accepts (or, for recall, on the share of the strong model's positives it loses). The
 * sample is drawn uniformly without replacement: conditioned on how many sampled rows fall in a
 * set, they are a uniform sample of it, and the binomial bound is conservative for sampling
 * without replacement. Choosing among several thresholds: fixed-sequence testing (as in "Learn then
 * Test", Angelopoulos et al. 2021): the candidates are tested from the strictest to the loosest,
 * each at level delta / targets, and the loosest one before the first failure is taken. Since the
 * order (the grid's) is fixed before any strong answer is seen, the chance that some test passes wrongly is at most delta / targets, and by a union bound
 * over the (at most two) targets, the promise fails with probability at most delta. A union bound
 * over the 20 candidates instead would test each at delta / 40 and, for the same sample, send
 * many more rows to the strong model; with fixed-sequence testing a finer grid costs almost
 * nothing (neighbouring tests pass or fail together), so it is fine near the usual thresholds.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "cascade.h"
#include "value.h"
#include "semop.h"
#include "state.h"
#include "semantic.h"

/* ---- the option ---- */

static const Value *struct_field(const Value *v, const char *name)
{
    if (v->kind != V_STRUCT) return NULL;
    for (uint32_t i = 0; i < v->u.st->n; i++)
        if (!strcmp(v->u.st->type->fields[i].name, name)) return &v->u.st->fields[i];
    return NULL;
}

static double num_field(const Value *v, const char *name, double def)
{
    const Value *f = struct_field(v, name);
    if (!f) return def;
    return f->kind == V_FLOAT ? f->u.f : f->kind == V_INT ? (double)f->u.i : def;
}

int cascade_spec(const Expr *e, CascadeSpec *s)
{
    const Expr *c = e && e->kind == E_SEMANTIC ? expr_arg(e, "cascade") : NULL;
    if (!c || c->kind != E_LIT || c->lit.kind != V_STRUCT) return 0;
    const Value *m = struct_field(&c->lit, "model");
    s->strong = m && m->kind == V_STRING ? v_str(*m) : NULL;
    s->precision = num_field(&c->lit, "precision", -1);
    s->recall = num_field(&c->lit, "recall", -1);
    s->accuracy = num_field(&c->lit, "accuracy", -1);
    s->sample = (int64_t)num_field(&c->lit, "sample", CASCADE_SAMPLE);
    s->delta = num_field(&c->lit, "delta", CASCADE_DELTA);
    return s->strong != NULL;
}

int cascade_in(const Expr *e)
{
    if (!e) return 0;
    if (e->kind == E_SEMANTIC && expr_arg(e, "cascade")) return 1;
    for (int i = 0; i < e->nargs; i++)
        if (cascade_in(e->args[i])) return 1;
    return 0;
}

/* ---- the statistics ---- */

/* P(Binomial(n, p) <= k), summed in logs (n is a sample: a few thousand at most). */
static double binom_cdf(int64_t k, int64_t n, double p)
{
    if (p <= 0) return 1;
    if (p >= 1) return k >= n ? 1 : 0;
    double lp = log(p), lq = log1p(-p), ln1 = lgamma((double)n + 1), s = 0;
    for (int64_t i = 0; i <= k; i++)
        s += exp(ln1 - lgamma((double)i + 1) - lgamma((double)(n - i) + 1) + (double)i * lp + (double)(n - i) * lq);
    return s > 1 ? 1 : s;
}

double cascade_cp_upper(int64_t k, int64_t n, double alpha)
{
    if (n <= 0 || k >= n) return 1;
    if (k < 0) k = 0;
    if (k == 0) return 1 - pow(alpha, 1.0 / (double)n);   /* closed form: (1 - p)^n = alpha */
    double lo = (double)k / (double)n, hi = 1;            /* the cdf falls as p grows */
    for (int it = 0; it < 100 && hi - lo > 1e-12; it++) {
        double mid = (lo + hi) / 2;
        if (binom_cdf(k, n, mid) > alpha) lo = mid; else hi = mid;
    }
    return hi;
}

/* Loosest first: with nested accepted sets, the first candidate that meets the target accepts the
 * most rows. 0.5 accepts every answer of a yes/no (its answer is the likelier one). */
static const double grid[] = { 0.5, 0.55, 0.6, 0.65, 0.7, 0.725, 0.75, 0.775, 0.8, 0.825, 0.85, 0.875, 0.9, 0.925, 0.95, 0.97, 0.98, 0.99, 0.995, 0.999 };
#define CASCADE_GRID ((int)(sizeof grid / sizeof grid[0]))

const double *cascade_grid(int *n)
{
    *n = CASCADE_GRID;
    return grid;
}

#define NONE 2.0   /* a threshold no confidence reaches */

static int accepted(const CascadeRow *r, double t)
{
    return !isnan(r->conf) && r->conf >= t;
}

/* Fixed-sequence testing (Learn then Test): the candidates are tested from the strictest to the
 * loosest, each at level alpha, and the loosest one before the first failure is taken. The order
 * is fixed before any strong answer is seen, so the chance that any test passes wrongly is at most
 * alpha, with no division by the number of candidates (a union bound would test each at
 * alpha / CASCADE_GRID). ok(g) runs the test of candidate g; the index taken, or -1. */
static int fixed_sequence(int (*test)(void *ud, int g), int (*tested)(void *ud, int g), void *ud)
{
    int taken = -1;
    for (int g = CASCADE_GRID - 1; g >= 0; g--) {
        if (tested && !tested(ud, g)) continue;   /* skipped, on the cheap model's confidences alone */
        if (!test(ud, g)) break;
        taken = g;
    }
    return taken;
}

/* Does threshold t accept some row's answer (code: the cheap answer wanted, or -1 any)? A
 * threshold that accepts nothing is reported as none. */
static int accepts_any(const CascadeRow *rows, size_t n, double t, int code)
{
    for (size_t i = 0; i < n; i++)
        if (rows[i].cheap >= 0 && (code < 0 || rows[i].cheap == code) && accepted(&rows[i], t)) return 1;
    return 0;
}

typedef struct Pred {
    const CascadeRow *rows; size_t n; double alpha, target;
    int64_t pos, nrows, nsampled;
    double est, lb;
} Pred;

/* Precision of the output when cheap "true" answers are accepted at grid[g]. The error rate of the
 * accepted set is at most u, bounded over its sampled rows, so it holds at most u (acc + k) answers
 * the strong model denies; the sampled ones (wrong) take the strong answer, so the output's false
 * positives are at most u (acc + k) - wrong. Its positives are at least the acc unsampled accepted
 * rows, the sampled rows the strong model says are true, and, of the um unsampled cheap "true"
 * answers not accepted (the strong model answers them), the share the strong model confirms,
 * bounded below over their sampled counterparts. The level is split 4:1 between the two bounds
 * (the test passes wrongly only when one of them fails); the first decides more (measured:
 * bench/cascades/run.sh, strong share 0.357 at 1:1, 0.343 at 4:1). */
static int prec_test(void *ud, int g)
{
    Pred *p = ud;
    int64_t k = 0, wrong = 0, acc = 0, km = 0, posm = 0, um = 0;
    for (size_t i = 0; i < p->n; i++) {
        const CascadeRow *r = &p->rows[i];
        if (r->cheap != 1) continue;
        if (!accepted(r, grid[g])) {
            if (r->strong < 0) um++;
            else { km++; posm += r->strong == 1; }
            continue;
        }
        if (r->strong < 0) { acc++; continue; }
        k++;
        wrong += r->strong != 1;
    }
    double fp = cascade_cp_upper(wrong, k, p->alpha * 0.8) * (double)(acc + k) - (double)wrong;
    double rate = km ? 1 - cascade_cp_upper(km - posm, km, p->alpha * 0.2) : 0;
    double out = (double)(acc + p->pos) + (double)um * rate;
    double lb = out > 0 ? 1 - (fp > 0 ? fp : 0) / out : 1;
    if (lb > 1) lb = 1;
    if (lb < p->target) return 0;
    double est_out = (double)(acc + p->pos) + (km ? (double)um * (double)posm / (double)km : 0);
    p->est = est_out > 0 ? 1 - (k ? (double)wrong / (double)k : 0) * (double)acc / est_out : 1;
    p->lb = lb;
    return 1;
}

/* Recall of the output when cheap "false" answers are accepted at grid[g]: of all the rows the
 * strong model would say are true (Pos), the share r answered "false" with a confidence >= grid[g]
 * is bounded by u over the sampled positives (a uniform sample of them); the sampled ones among
 * them (lost) take the strong answer, so the output loses at most u Pos - lost, and recall >= 1 - u
 * + lost / Pos >= 1 - u + lost / rows. */
static int rec_test(void *ud, int g)
{
    Pred *p = ud;
    int64_t lost = 0;
    for (size_t i = 0; i < p->n; i++) {
        const CascadeRow *r = &p->rows[i];
        if (r->strong == 1 && r->cheap == 0 && accepted(r, grid[g])) lost++;
    }
    double lb = 1 - cascade_cp_upper(lost, p->pos, p->alpha) + (p->nrows ? (double)lost / (double)p->nrows : 0);
    if (lb > 1) lb = 1;
    if (lb < p->target) return 0;
    p->est = p->pos ? 1 - (double)lost / (double)p->pos : 1;
    p->lb = lb;
    return 1;
}

void cascade_choose_predicate(const CascadeRow *rows, size_t n, double precision, double recall, double delta, CascadeChoice *c)
{
    int targets = (precision >= 0) + (recall >= 0);
    Pred p = { rows, n, delta / (double)(targets ? targets : 1), 0, 0, (int64_t)n, 0, 1, 1 };
    for (size_t i = 0; i < n; i++) {
        p.pos += rows[i].strong == 1;
        p.nsampled += rows[i].strong >= 0;
    }
    c->t = NAN;
    c->est_accuracy = c->accuracy_lb = NAN;
    c->est_precision = c->precision_lb = c->est_recall = c->recall_lb = NAN;
    /* a target not asked for constrains nothing: that side's answers are all taken */
    c->t_true = precision >= 0 ? NONE : 0;
    c->t_false = recall >= 0 ? NONE : 0;
    if (precision >= 0) {
        p.target = precision;
        p.est = p.lb = 1;   /* nothing accepted: the strong model's answers only */
        int g = fixed_sequence(prec_test, NULL, &p);
        if (g >= 0 && accepts_any(rows, n, grid[g], 1)) c->t_true = grid[g];
        c->est_precision = p.est;
        c->precision_lb = p.lb;
    }
    if (recall >= 0) {
        p.target = recall;
        p.est = p.lb = 1;
        int g = fixed_sequence(rec_test, NULL, &p);
        if (g >= 0 && accepts_any(rows, n, grid[g], 0)) c->t_false = grid[g];
        c->est_recall = p.est;
        c->recall_lb = p.lb;
    }
}

typedef struct Cls { const CascadeRow *rows; size_t n; double alpha, target, est, lb; int64_t answered; } Cls;

/* Accuracy when labels are accepted at grid[g]: over all rows, the share that are accepted wrong
 * answers is at most u, bounded over the whole sample; the sampled ones (wrong) take the strong
 * answer, so the output holds at most u rows - wrong wrong answers. */
static int cls_test(void *ud, int g)
{
    Cls *p = ud;
    int64_t k = 0, wrong = 0, acc = 0, sampled = 0;
    for (size_t i = 0; i < p->n; i++) {
        const CascadeRow *r = &p->rows[i];
        sampled += r->strong >= 0;
        if (r->cheap < 0 || !accepted(r, grid[g])) continue;
        if (r->strong >= 0) { k++; wrong += r->strong != r->cheap; }
        else acc++;
    }
    double bad = cascade_cp_upper(wrong, sampled, p->alpha) * (double)p->n - (double)wrong;
    double lb = 1 - (bad > 0 ? bad : 0) / (double)p->answered;
    if (lb > 1) lb = 1;
    if (lb < p->target) return 0;
    p->est = 1 - (k ? (double)wrong / (double)k : 0) * (double)acc / (double)p->answered;
    p->lb = lb;
    return 1;
}

void cascade_choose_classify(const CascadeRow *rows, size_t n, double accuracy, double delta, CascadeChoice *c)
{
    c->t_true = c->t_false = NAN;
    c->est_precision = c->precision_lb = c->est_recall = c->recall_lb = NAN;
    c->t = NONE;
    c->est_accuracy = c->accuracy_lb = 1;
    if (accuracy < 0) { c->t = 0; c->est_accuracy = c->accuracy_lb = NAN; return; }
    Cls p = { rows, n, delta, accuracy, 1, 1, 0 };
    for (size_t i = 0; i < n; i++) p.answered += rows[i].cheap >= 0 || rows[i].strong >= 0;
    if (!p.answered) return;
    int g = fixed_sequence(cls_test, NULL, &p);
    if (g >= 0 && accepts_any(rows, n, grid[g], -1)) c->t = grid[g];
    c->est_accuracy = p.est;
    c->accuracy_lb = p.lb;
}

/* splitmix64: a small generator with a fixed seed, so the sample is the same on every run */
static uint64_t mix(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static int cmp_size(const void *a, const void *b)
{
    size_t x = *(const size_t *)a, y = *(const size_t *)b;
    return x < y ? -1 : x > y;
}

void cascade_sample(size_t n, size_t k, size_t *idx)
{
    if (k > n) k = n;
    size_t *perm = xmalloc((n ? n : 1) * sizeof *perm);
    for (size_t i = 0; i < n; i++) perm[i] = i;
    uint64_t s = 0x46514c0000000016ULL;   /* "FQL", issue 16 */
    for (size_t i = 0; i < k; i++) {      /* a partial Fisher-Yates shuffle */
        size_t j = i + (size_t)(mix(&s) % (uint64_t)(n - i));
        size_t t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
    }
    memcpy(idx, perm, k * sizeof *idx);
    qsort(idx, k, sizeof *idx, cmp_size);
    free(perm);
}

/* ---- running one ---- */

/* The index of e's first positional argument (the row's input), or -1. */
static int input_arg(const Expr *e)
{
    for (int i = 0; i < e->nargs; i++)
        if (!e->argnames || !e->argnames[i]) return i;
    return -1;
}

static int model_arg(const Expr *e)
{
    for (int i = 0; e->argnames && i < e->nargs; i++)
        if (e->argnames[i] && !strcmp(e->argnames[i], "model")) return i;
    return -1;
}

/* The answer of value v as a CascadeRow code: predicate 1/0, classify the label's index; -1 none. */
static int answer_code(const Expr *e, Value v)
{
    if (e->sem == SEM_PREDICATE) return v.kind == V_BOOL ? (int)v.u.b : -1;
    const Type *t = expr_answer_type(e);
    if (v.kind != V_STRING) return -1;
    for (int i = 0; i < t->nlabels; i++)
        if (!strcmp(t->labels[i], v_str(v))) return i;
    return -1;
}

/* Run e over the rows idx[0..m) of args with the strong model: m new values, or NULL with err. */
static Value *run_strong(Runtime *rt, const Expr *e, Value **args, const size_t *idx, size_t m, int64_t first_row, OpStats *ost,
                         const char *strong, fql_error *err)
{
    int ma = model_arg(e);
    Value **sub = xcalloc((size_t)e->nargs + 1, sizeof *sub);
    for (int k = 0; k < e->nargs; k++) {
        sub[k] = xmalloc((m ? m : 1) * sizeof **sub);
        for (size_t i = 0; i < m; i++) sub[k][i] = k == ma ? v_cstring(strong) : value_copy(args[k][idx[i]]);
    }
    /* row numbers in system.lm_errors: the rows are not contiguous; the first one's is kept */
    SemJob *j = semantic_start(rt, e, sub, m, first_row + (m ? (int64_t)idx[0] : 0), ost, err);
    if (!j) return NULL;
    Value *out = semantic_finish(j, err);
    semantic_job_free(j);
    return out;
}

static void free_args(Value **args, int nargs, size_t n)
{
    if (!args) return;
    for (int k = 0; k < nargs; k++) {
        if (!args[k]) continue;
        for (size_t r = 0; r < n; r++) value_free(args[k][r]);
        free(args[k]);
    }
    free(args);
}

static void vals_free(Value *v, size_t n)
{
    if (!v) return;
    for (size_t i = 0; i < n; i++) value_free(v[i]);
    free(v);
}

/* What the run records in the statement's metrics (query_metrics of both models). */
static void record(Runtime *rt, const CascadeRun *run)
{
    CascadeStats st;
    memset(&st, 0, sizeof st);
    st.sample = run->sample;
    st.strong_share = run->rows ? (double)run->by_strong / (double)run->rows : 0;
    st.est_precision = run->choice.est_precision;
    st.precision_lb = run->choice.precision_lb;
    st.est_recall = run->choice.est_recall;
    st.recall_lb = run->choice.recall_lb;
    st.est_accuracy = run->choice.est_accuracy;
    st.accuracy_lb = run->choice.accuracy_lb;
    Buf b;
    buf_init(&b);
    cascade_thresholds(&b, run);
    if (run->all_strong && run->why) buf_printf(&b, " (all rows to %s: %s)", run->strong, run->why);
    st.thresholds = b.data;
    semantic_cascade(rt, run->cheap, run->strong, &st);
    buf_free(&b);
}

Value *cascade_eval(Runtime *rt, const Expr *e, Value **args, size_t n, int64_t first_row, OpStats *ost, CascadeRun *run,
                    fql_error *err)
{
    memset(run, 0, sizeof *run);
    cascade_spec(e, &run->spec);
    run->predicate = e->sem == SEM_PREDICATE;
    run->strong = run->spec.strong;
    int in = input_arg(e);
    const Expr *cm = expr_arg(e, "model");
    run->cheap = cm && cm->kind == E_LIT && cm->lit.kind == V_STRING ? v_str(cm->lit) : "its model: expression";
    Value *out = NULL, *cheap = NULL, *samp = NULL, *mid = NULL;
    size_t nm = 0;
    double *conf = xmalloc((n ? n : 1) * sizeof *conf);
    size_t *rows = xmalloc((n ? n : 1) * sizeof *rows), *sidx = NULL, *midx = NULL;
    CascadeRow *cr = NULL;
    size_t nrows = 0;
    char *pick = xcalloc(n ? n : 1, 1);   /* 0 cheap, 1 sampled, 2 strong */

    /* a cheap model known to give no token probabilities (Anthropic, reasoning models) is not asked:
     * its answers could not be weighed, so every row goes to the strong model */
    int no_conf = 0;
    if (cm && cm->kind == E_LIT && cm->lit.kind == V_STRING) {
        LmModel *m = route_model_named(rt, v_str(cm->lit), err);
        if (!m) goto done;
        no_conf = !m->logprobs;
    }
    /* 1. the cheap model answers every row, with its confidence (the job keeps args: copies) */
    if (no_conf) {
        cheap = xmalloc((n ? n : 1) * sizeof *cheap);
        for (size_t r = 0; r < n; r++) { cheap[r] = v_null(); conf[r] = NAN; }
    } else {
        Value **own = xcalloc((size_t)e->nargs + 1, sizeof *own);
        for (int k = 0; k < e->nargs; k++) {
            own[k] = xmalloc((n ? n : 1) * sizeof **own);
            for (size_t r = 0; r < n; r++) own[k][r] = value_copy(args[k][r]);
        }
        SemJob *j = semantic_start(rt, e, own, n, first_row, ost, err);
        if (!j) goto done;
        cheap = semantic_finish(j, err);
        for (size_t r = 0; r < n; r++) conf[r] = cheap ? semantic_job_confidence(j, r) : NAN;
        semantic_job_free(j);
        if (!cheap) goto done;
    }
    for (size_t r = 0; r < n; r++)
        if (in < 0 || args[in][r].kind != V_NULL) rows[nrows++] = r;
    run->rows = (int64_t)nrows;
    int any_conf = rt->dry && !no_conf;   /* estimating: the sample is counted, nothing is answered */
    for (size_t i = 0; i < nrows; i++) any_conf |= !isnan(conf[rows[i]]);

    /* 2. the strong model answers a sample of the rows with an input */
    size_t ns = run->spec.sample < 0 ? 0 : (size_t)run->spec.sample;
    if (ns > nrows) ns = nrows;
    if (!any_conf) ns = 0;   /* every row goes to the strong model: no sample needed */
    sidx = xmalloc((ns ? ns : 1) * sizeof *sidx);
    cascade_sample(nrows, ns, sidx);
    for (size_t i = 0; i < ns; i++) sidx[i] = rows[sidx[i]];
    if (ns) {
        samp = run_strong(rt, e, args, sidx, ns, first_row, ost, run->strong, err);
        if (!samp) goto done;
    }
    run->sample = (int64_t)ns;
    if (rt->dry) {   /* explain cost: every row to the cheap model, the sample to the strong one, and the rest as "maybe" */
        if (no_conf && nrows) {   /* ... or every row to the strong one */
            Value *all = run_strong(rt, e, args, rows, nrows, first_row, ost, run->strong, err);
            if (!all) goto done;
            for (size_t i = 0; i < nrows; i++) {   /* the strong model's placeholders in their rows */
                value_free(cheap[rows[i]]);
                cheap[rows[i]] = all[i];
            }
            free(all);
        }
        if (!no_conf && nrows > ns) {   /* what the rows the cheap model may be unsure of would add: counted apart */
            size_t *rest = xmalloc((nrows - ns) * sizeof *rest), nr = 0;
            for (size_t i = 0, k = 0; i < nrows; i++) {   /* rows and sidx are both in row order */
                if (k < ns && sidx[k] == rows[i]) { k++; continue; }
                rest[nr++] = rows[i];
            }
            dry_maybe(rt, 1);
            Value *more = run_strong(rt, e, args, rest, nr, first_row, ost, run->strong, err);
            dry_maybe(rt, 0);
            free(rest);
            if (!more) goto done;
            for (size_t i = 0; i < nr; i++) value_free(more[i]);
            free(more);
        }
        out = cheap;
        cheap = NULL;
        goto done;
    }

    /* 3. thresholds, learned over every row (the unsampled ones size the accepted sets) */
    cr = xmalloc((nrows ? nrows : 1) * sizeof *cr);
    {
        size_t s = 0;
        for (size_t i = 0; i < nrows; i++) {
            size_t r = rows[i];
            cr[i].cheap = answer_code(e, cheap[r]);
            cr[i].conf = conf[r];
            cr[i].strong = -1;
            if (s < ns && sidx[s] == r) { cr[i].strong = answer_code(e, samp[s]); pick[r] = 1; s++; }
        }
    }
    if (run->predicate) cascade_choose_predicate(cr, nrows, run->spec.precision, run->spec.recall, run->spec.delta, &run->choice);
    else cascade_choose_classify(cr, nrows, run->spec.accuracy, run->spec.delta, &run->choice);
    if (!any_conf && nrows) {
        run->all_strong = 1;
        run->why = no_conf ? "the cheap model gives no confidences (its provider returns no token probabilities): it was not asked"
                           : "the cheap model gave no confidences (no token probabilities in its answers)";
        run->choice.t_true = run->choice.t_false = run->choice.t = NONE;
    }

    /* 4. the rows the cheap model is not sure of (or gave no answer for) go to the strong model */
    midx = xmalloc((nrows ? nrows : 1) * sizeof *midx);
    for (size_t i = 0; i < nrows; i++) {
        size_t r = rows[i];
        if (pick[r]) continue;
        int code = cr[i].cheap, ok;
        if (code < 0) { run->cheap_failed += !no_conf; ok = 0; }
        else if (run->predicate) ok = accepted(&cr[i], code ? run->choice.t_true : run->choice.t_false);
        else ok = accepted(&cr[i], run->choice.t);
        if (run->all_strong) ok = 0;
        if (!ok) { pick[r] = 2; midx[nm++] = r; }
    }
    int none = run->predicate ? run->choice.t_true > 1 && run->choice.t_false > 1 : run->choice.t > 1;
    if (nrows && none && !run->all_strong) {
        run->all_strong = 1;
        run->why = "no threshold meets the targets on the sample";
    }
    if (nm) {
        mid = run_strong(rt, e, args, midx, nm, first_row, ost, run->strong, err);
        if (!mid) goto done;
    }

    /* 5. each row's answer: the strong model's for the sampled and uncertain rows, else the cheap one's */
    out = xmalloc((n ? n : 1) * sizeof *out);
    {
        size_t s = 0, m = 0;
        for (size_t r = 0; r < n; r++) {
            if (pick[r] == 1) { out[r] = value_copy(samp[s++]); run->by_strong++; }
            else if (pick[r] == 2) { out[r] = value_copy(mid[m++]); run->by_strong++; }
            else { out[r] = value_copy(cheap[r]); run->by_cheap += in < 0 || args[in][r].kind != V_NULL; }
        }
    }
    if (run->all_strong)
        rt_log(rt, FQL_LOG_WARN, "%s(..., cascade: {model: %s}): every row went to %s: %s", e->name, run->strong, run->strong, run->why);
    record(rt, run);

done:
    vals_free(cheap, n);
    vals_free(samp, run->sample > 0 ? (size_t)run->sample : 0);
    vals_free(mid, nm);
    free(conf);
    free(rows);
    free(sidx);
    free(midx);
    free(cr);
    free(pick);
    free_args(args, e->nargs, n);
    return out;
}

static void threshold(Buf *b, const char *what, double t)
{
    if (t > 1) buf_printf(b, "%s: none accepted", what);
    else if (t <= 0.5) buf_printf(b, "%s: all accepted", what);
    else buf_printf(b, "%s >= %g", what, t);
}

void cascade_thresholds(Buf *b, const CascadeRun *run)
{
    if (run->predicate) {
        threshold(b, "true", run->choice.t_true);
        buf_puts(b, ", ");
        threshold(b, "false", run->choice.t_false);
    } else threshold(b, "label", run->choice.t);
}

/* "0.97 (>= 0.91)": a point estimate and the bound that holds with probability 1 - delta */
static void estimate(Buf *b, const char *what, double est, double lb)
{
    if (isnan(est)) return;
    buf_printf(b, ", %s %.3f (>= %.3f)", what, est, lb);
}

void cascade_describe(Buf *b, const CascadeRun *run)
{
    double share = run->rows ? (double)run->by_strong / (double)run->rows : 0;
    buf_printf(b, "cascade %s -> %s: sample %lld of %lld rows; confidence thresholds ", run->cheap, run->strong,
               (long long)run->sample, (long long)run->rows);
    cascade_thresholds(b, run);
    buf_printf(b, "; answered by %s %lld (%.1f%%), by %s %lld (%.1f%%, the sample included)", run->cheap, (long long)run->by_cheap,
               run->rows ? 100.0 * (double)run->by_cheap / (double)run->rows : 0, run->strong, (long long)run->by_strong, 100.0 * share);
    if (run->cheap_failed)
        buf_printf(b, "; %lld cheap answer%s missing, asked of %s", (long long)run->cheap_failed, run->cheap_failed == 1 ? "" : "s", run->strong);
    if (!isnan(run->choice.est_precision) || !isnan(run->choice.est_recall) || !isnan(run->choice.est_accuracy)) {
        buf_printf(b, "; against %s with probability %g", run->strong, 1 - run->spec.delta);
        estimate(b, "precision", run->choice.est_precision, run->choice.precision_lb);
        estimate(b, "recall", run->choice.est_recall, run->choice.recall_lb);
        estimate(b, "accuracy", run->choice.est_accuracy, run->choice.accuracy_lb);
    }
    if (run->all_strong) buf_printf(b, "; every row went to %s: %s", run->strong, run->why);
}
