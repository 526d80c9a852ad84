/* cascade.h: model cascades with guarantees (cascade.c): predicate(..., model: fast,
 * cascade: {model: strong, precision: 0.9, recall: 0.9}) and classify(..., cascade: {model: strong,
 * accuracy: 0.95}).
 *
 * The cheap model (the call's model:) answers every row with its confidence
 * (semantic_job_confidence); a random sample of rows (fixed seed: a rerun draws the same rows and
 * finds their answers in the cache) is also answered by the strong model; thresholds on the cheap
 * model's confidence are chosen on the sample so that, against the strong model's answers, the
 * targets hold with probability 1 - delta (a one-sided Clopper-Pearson bound per candidate
 * threshold, the candidates tested in a fixed order, strictest first, each at level delta /
 * targets: fixed-sequence testing, which needs no union bound over the candidates; cascade.c);
 * the rows the cheap model is not confident enough about go to the strong model. The sample's
 * strong answers are its rows' answers (never asked twice). The layer sits between the executor
 * (exec.c calls cascade_eval over a whole input) and the semantic runtime (semantic.c).
 */
#ifndef FQL_CASCADE_H
#define FQL_CASCADE_H

#include "models.h"

/* The `cascade:` option of a call, read from its literal argument (the binder checked it). */
typedef struct CascadeSpec {
    const char *strong;          /* the strong model's alias (borrowed from the call's literal) */
    double precision, recall;    /* predicate targets; < 0: not asked */
    double accuracy;             /* classify target; < 0: not asked */
    int64_t sample;              /* rows the strong model also answers (default 200; all rows when fewer) */
    double delta;                /* failure probability of the guarantee (default 0.05) */
} CascadeSpec;

#define CASCADE_SAMPLE 200
#define CASCADE_DELTA  0.05

/* The call's cascade: option into *s (defaults filled). 1 when e has one, else 0. */
int    cascade_spec(const Expr *e, CascadeSpec *s);
/* Does e (at any depth) hold a call with a cascade: option? */
int    cascade_in(const Expr *e);

/* ---- the statistics (pure functions: tests/unit/cascade_test.c) ---- */

/* The one-sided Clopper-Pearson upper bound on a rate p from k events in n trials: the p at
 * which P(Binomial(n, p) <= k) = alpha (1 when n == 0 or k >= n). P(p > bound) <= alpha. */
double cascade_cp_upper(int64_t k, int64_t n, double alpha);
/* The candidate thresholds on the cheap model's confidence, loosest first (a fixed grid, tested
 * strictest first): *n of them. An answer is accepted when its confidence is >= the threshold. */
const double *cascade_grid(int *n);

/* One row the cheap model answered: its answer (predicate: 1 true / 0 false; classify: a label
 * index), its confidence (NAN: none), and for a sampled row the strong model's answer (-1: not
 * sampled, or the strong model failed). */
typedef struct CascadeRow { int cheap; double conf; int strong; } CascadeRow;

/* What the thresholds are and what they promise. A threshold > 1 accepts no answer. */
typedef struct CascadeChoice {
    double t_true, t_false;      /* predicate: accept a cheap "true" / "false" whose confidence is >= */
    double t;                    /* classify: accept a cheap label whose confidence is >= */
    /* point estimates on the sample and the bounds that hold with probability 1 - delta (NAN: not asked) */
    double est_precision, precision_lb, est_recall, recall_lb, est_accuracy, accuracy_lb;
} CascadeChoice;

/* Choose a predicate's thresholds from rows[0..n) (sampled and not: the unsampled rows' counts
 * size the accepted sets). Precision of the output: its false positives (accepted cheap "true"
 * answers the strong model denies, their rate bounded over the sampled accepted ones) against its
 * positives (the accepted rows, the sampled positives, and a lower bound on the positives among
 * the rows the strong model answers); recall: of the rows the strong model says are true, the
 * share lost to an accepted cheap "false", bounded over the sampled positives. The candidates are
 * tested strictest first and the loosest before the first whose bound misses the target is taken.
 * None (or one accepting no row): > 1. A target < 0 is not asked: its side takes every answer. */
void   cascade_choose_predicate(const CascadeRow *rows, size_t n, double precision, double recall, double delta,
                                CascadeChoice *c);
/* Choose a classify threshold: the output's accuracy against the strong model over all answered
 * rows, its wrong answers (accepted cheap labels the strong model disagrees with) bounded over
 * the whole sample. The same testing order as above. */
void   cascade_choose_classify(const CascadeRow *rows, size_t n, double accuracy, double delta, CascadeChoice *c);
/* k distinct indices of [0, n) drawn with a fixed seed (the same n gives the same rows), sorted
 * ascending into idx. */
void   cascade_sample(size_t n, size_t k, size_t *idx);

/* ---- running one ---- */

/* What a run did (explain analyze, query_metrics). */
typedef struct CascadeRun {
    const char *cheap, *strong;  /* aliases (borrowed from the call) */
    int predicate;               /* 1 predicate, 0 classify */
    int64_t rows;                /* rows with an input */
    int64_t sample;              /* of them, sampled (answered by both models) */
    int64_t by_cheap, by_strong; /* the rows whose answer each model gave (by_strong includes the sample) */
    int64_t cheap_failed;        /* rows the cheap model gave no answer for (sent to the strong model) */
    int all_strong;              /* the whole input went to the strong model */
    const char *why;             /* ... and why (static text), or NULL */
    CascadeChoice choice;
    CascadeSpec spec;
} CascadeRun;

/* Run call e (which has a cascade: option) over n rows: args[k][row] (consumed). The cheap model
 * answers every row; the sample and the uncertain rows go to the strong model. Returns n new
 * values and fills *run; NULL with err on a fatal error. Counted in ost (may be NULL). Logs a
 * warning when the whole input goes to the strong model, and records the run in the statement's
 * metrics (semantic_cascade). */
Value *cascade_eval(Runtime *rt, const Expr *e, Value **args, size_t n, int64_t first_row, OpStats *ost, CascadeRun *run,
                    fql_error *err);
/* One line for explain analyze (appended to b). */
void   cascade_describe(Buf *b, const CascadeRun *run);
/* The thresholds as text ("true >= 0.95, false >= 0.9"; "none" for no answer accepted). */
void   cascade_thresholds(Buf *b, const CascadeRun *run);

#endif
