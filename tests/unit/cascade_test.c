/* cascade_test.c: the statistics of cascades (cascade.c): the Clopper-Pearson bound against known
 * values, the sample, and the threshold choice: on simulated populations (a cheap model wrong on
 * 10% of rows, its wrong answers less confident than its right ones, with overlap), the targets
 * must hold against the strong model in at least 1 - delta of the runs, and the thresholds must
 * leave most rows to the cheap model; a cheap model no better than a coin must get no threshold. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "check.h"
#include "cascade.h"

static int near(double a, double b, double eps) { return fabs(a - b) <= eps; }

static void t_cp_upper(void)
{
    /* one-sided upper bounds, as R's binom.test(k, n, alternative = "less") gives them */
    CHECK(near(cascade_cp_upper(1, 10, 0.05), 0.394163, 1e-5), "1 of 10 at 0.05: %g", cascade_cp_upper(1, 10, 0.05));
    CHECK(near(cascade_cp_upper(5, 10, 0.025), 0.812914, 1e-5), "5 of 10 at 0.025: %g", cascade_cp_upper(5, 10, 0.025));
    CHECK(near(cascade_cp_upper(0, 10, 0.05), 0.258866, 1e-5), "0 of 10: %g", cascade_cp_upper(0, 10, 0.05));
    CHECK(near(cascade_cp_upper(3, 200, 0.05 / 28), 0.060191, 1e-5), "3 of 200: %g", cascade_cp_upper(3, 200, 0.05 / 28));
    CHECK(cascade_cp_upper(0, 0, 0.05) == 1, "no trials: no bound");
    CHECK(cascade_cp_upper(7, 7, 0.05) == 1, "all events: 1");
    /* more events, or a smaller alpha, never lower the bound */
    double prev = 0;
    for (int k = 0; k <= 20; k++) {
        double u = cascade_cp_upper(k, 50, 0.01);
        CHECK(u >= prev && u >= (double)k / 50, "monotone at k=%d: %g after %g", k, u, prev);
        CHECK(cascade_cp_upper(k, 50, 0.001) >= u, "smaller alpha at k=%d", k);
        prev = u;
    }
}

static void t_sample(void)
{
    size_t a[200], b[200];
    cascade_sample(2000, 200, a);
    cascade_sample(2000, 200, b);
    CHECK(!memcmp(a, b, sizeof a), "the same rows on a rerun");
    for (int i = 1; i < 200; i++) CHECK(a[i] > a[i - 1] && a[i] < 2000, "sorted, distinct, in range at %d", i);
    CHECK(a[199] > 1000 && a[0] < 100, "spread over the input: %zu..%zu", a[0], a[199]);
    size_t c[5];
    cascade_sample(5, 10, c);
    for (int i = 0; i < 5; i++) CHECK(c[i] == (size_t)i, "fewer rows than the sample: all of them");
}

static uint64_t rs;
static double unif(void)
{
    rs = rs * 6364136223846793005ULL + 1442695040888963407ULL;
    return (double)(rs >> 11) / 9007199254740992.0;
}

/* A population of n rows: the strong answer (truth) true with probability 0.5; the cheap model
 * wrong with probability err, its confidence drawn as fql-sim draws it (tests/sim/README.md, Token
 * probabilities): a right answer 1 - 0.45 u^2, a wrong one 0.30 + 0.55 u, overlapping in [0.55,
 * 0.85]. A sample of ns rows has its strong answer known. */
static void population(CascadeRow *r, int *truth, size_t n, size_t ns, double err, int labels)
{
    for (size_t i = 0; i < n; i++) {
        truth[i] = labels ? (int)(unif() * labels) : unif() < 0.5;
        int wrong = unif() < err;
        int k = labels ? labels : 2;
        r[i].cheap = wrong ? (truth[i] + 1 + (int)(unif() * (k - 1))) % k : truth[i];
        double u = unif();
        r[i].conf = wrong ? 0.30 + 0.55 * u : 1 - 0.45 * u * u;
        r[i].strong = -1;
    }
    size_t idx[400];
    cascade_sample(n, ns, idx);
    for (size_t i = 0; i < ns; i++) r[idx[i]].strong = truth[idx[i]];
}

/* The output's precision and recall against the truth: sampled and unaccepted rows take it. */
static void achieved(const CascadeRow *r, const int *truth, size_t n, const CascadeChoice *c, double *prec, double *rec,
                     double *strong_share)
{
    int64_t tp = 0, fp = 0, fn = 0, strong = 0;
    for (size_t i = 0; i < n; i++) {
        int ans;
        if (r[i].strong >= 0) { ans = truth[i]; strong++; }
        else if (r[i].conf >= (r[i].cheap ? c->t_true : c->t_false)) ans = r[i].cheap;
        else { ans = truth[i]; strong++; }
        tp += ans && truth[i];
        fp += ans && !truth[i];
        fn += !ans && truth[i];
    }
    *prec = tp + fp ? (double)tp / (double)(tp + fp) : 1;
    *rec = tp + fn ? (double)tp / (double)(tp + fn) : 1;
    *strong_share = (double)strong / (double)n;
}

static void t_predicate_promise(void)
{
    enum { N = 2000, S = 200, RUNS = 200 };
    static CascadeRow r[N];
    static int truth[N];
    int kept = 0;
    double share = 0;
    rs = 16;
    for (int run_i = 0; run_i < RUNS; run_i++) {
        population(r, truth, N, S, 0.10, 0);
        CascadeChoice c;
        cascade_choose_predicate(r, N, 0.9, 0.9, 0.05, &c);
        double p, rec, sh;
        achieved(r, truth, N, &c, &p, &rec, &sh);
        kept += p >= 0.9 && rec >= 0.9;
        share += sh;
        CHECK(c.precision_lb <= c.est_precision && c.recall_lb <= c.est_recall, "a bound above its estimate");
        CHECK(c.precision_lb >= 0.9 && c.recall_lb >= 0.9, "the bounds meet the targets when thresholds are chosen");
    }
    printf("# predicate: promise kept in %d of %d runs; strong share %.3f\n", kept, RUNS, share / RUNS);
    CHECK(kept >= RUNS * 95 / 100, "the promise held in %d of %d runs", kept, RUNS);
    CHECK(share / RUNS < 1.0 / 3, "the strong model answered %.2f of the rows on average", share / RUNS);
}

static void t_predicate_unmet(void)
{
    enum { N = 1000, S = 200 };
    static CascadeRow r[N];
    static int truth[N];
    rs = 7;
    /* a cheap model no better than a coin, as sure of its wrong answers as of its right ones */
    for (int i = 0; i < N; i++) {
        truth[i] = unif() < 0.5;
        r[i].cheap = unif() < 0.5;
        r[i].conf = 0.5 + 0.5 * unif();
        r[i].strong = -1;
    }
    size_t idx[S];
    cascade_sample(N, S, idx);
    for (int i = 0; i < S; i++) r[idx[i]].strong = truth[idx[i]];
    CascadeChoice c;
    cascade_choose_predicate(r, N, 0.9, 0.9, 0.05, &c);
    /* only the few surest answers may be taken, so few that the strong model's answers of the rest
     * keep the promise */
    int took = 0, tp = 0, fp = 0, fn = 0;
    for (int i = 0; i < N; i++) {
        int cheap = r[i].strong < 0 && r[i].conf >= (r[i].cheap ? c.t_true : c.t_false);
        int ans = cheap ? r[i].cheap : truth[i];
        took += cheap;
        tp += ans && truth[i];
        fp += ans && !truth[i];
        fn += !ans && truth[i];
    }
    CHECK(took < N / 10, "a coin's answers taken for %d of %d rows (thresholds %g %g)", took, N, c.t_true, c.t_false);
    CHECK(tp >= 9 * fp && tp >= 9 * fn, "the promise kept: %d true, %d false positives, %d false negatives", tp, fp, fn);
    /* targets no threshold meets: nothing accepted */
    cascade_choose_predicate(r, N, 0.999, 0.999, 0.05, &c);
    CHECK(c.t_true > 1 && c.t_false > 1, "0.999: thresholds %g %g", c.t_true, c.t_false);
    /* without confidences nothing is accepted either */
    for (int i = 0; i < N; i++) r[i].conf = NAN;
    cascade_choose_predicate(r, N, 0.9, 0.9, 0.05, &c);
    CHECK(c.t_true > 1 && c.t_false > 1, "no confidences: no threshold");
    /* a target not asked for takes every answer of its side */
    for (int i = 0; i < N; i++) r[i].conf = 0.99;
    cascade_choose_predicate(r, N, 0.9, -1, 0.05, &c);
    CHECK(c.t_false == 0 && isnan(c.est_recall), "recall not asked: every false accepted (%g)", c.t_false);
}

static void t_classify_promise(void)
{
    enum { N = 2000, S = 200, RUNS = 200 };
    static CascadeRow r[N];
    static int truth[N];
    int kept = 0;
    double share = 0;
    rs = 99;
    for (int run_i = 0; run_i < RUNS; run_i++) {
        population(r, truth, N, S, 0.10, 4);
        CascadeChoice c;
        cascade_choose_classify(r, N, 0.95, 0.05, &c);
        int64_t right = 0, strong = 0;
        for (int i = 0; i < N; i++) {
            int from_cheap = r[i].strong < 0 && r[i].conf >= c.t;
            right += from_cheap ? r[i].cheap == truth[i] : 1;
            strong += !from_cheap;
        }
        kept += (double)right / N >= 0.95;
        share += (double)strong / N;
        CHECK(c.t <= 1 && c.accuracy_lb >= 0.95 && c.accuracy_lb <= c.est_accuracy, "a threshold: %g (%g <= %g)", c.t, c.accuracy_lb,
              c.est_accuracy);
    }
    printf("# classify: promise kept in %d of %d runs; strong share %.3f\n", kept, RUNS, share / RUNS);
    CHECK(kept >= RUNS * 95 / 100, "the promise held in %d of %d runs", kept, RUNS);
    CHECK(share / RUNS < 0.4, "the strong model answered %.2f of the rows on average", share / RUNS);
    /* a target the sample cannot support: 0.999 accuracy with 10% wrong answers everywhere */
    for (int i = 0; i < N; i++) r[i].conf = 0.9;
    CascadeChoice c;
    cascade_choose_classify(r, N, 0.999, 0.05, &c);
    CHECK(c.t > 1, "0.999 cannot be promised: threshold %g", c.t);
}

int main(void)
{
    run("clopper-pearson upper bound", t_cp_upper);
    run("sample: fixed seed, distinct rows", t_sample);
    run("predicate thresholds keep precision and recall", t_predicate_promise);
    run("predicate: targets unmet, no confidences, a target not asked", t_predicate_unmet);
    run("classify threshold keeps accuracy", t_classify_promise);
    return check_summary();
}
