/* exec_topk.c: top K by "criterion {{col}}": the K rows a model ranks first, best first.
 *
 * A tournament over the rows (a heap-shaped tree of groups): the rows are the leaves, in input
 * order; each group of up to `group` nodes is one request that shows the candidates' texts and asks
 * which ranks first; its winner moves up a level, until one row is left at the root. That row is
 * the first of the output; it is taken out of its leaf and the groups on its way up are asked again
 * (only they changed), which gives the second; and so on, K times. Building asks about n / (group -
 * 1) groups (all groups of a level go out together); each later winner asks at most one group a
 * level, log_group(n) levels: at most n / (group - 1) + (K - 1) * ceil(log_group n) requests
 * (plan_topk_requests), O(n + K log n), within O(n log K).
 *
 * Every comparison is a map() call of the runtime (cached, identical requests sent once, counted,
 * priced, under the budget); the prompts depend only on the rows and their order, so a rerun asks
 * the same requests and finds them in the cache. A comparison that fails (no answer after the
 * retries) is won by the candidate listed first, which is the earliest row in input order among
 * them: no row is ever dropped (a row only ranks lower); the failures are counted in explain
 * analyze and a warning. Rows whose text is null or empty are not compared: they come after the
 * compared rows, in input order, when fewer than K rows were compared.
 */
#include <stdlib.h>
#include <string.h>
#include "exec.h"
#include "semop.h"

typedef struct TopKRun {
    Table *in;               /* the child's rows, flattened */
    Batch *rows;             /* in's one batch (NULL: no rows) */
    Value *texts;            /* per row: its candidate text */
    int64_t *leaf;           /* compared rows (their indexes into rows), in input order */
    size_t n;
    int64_t **lv;            /* lv[l][j]: the winner (an index into leaf) of node j of level l, or -1 */
    size_t *lvn;             /* nodes at each level */
    int nlv;
    Expr *cmp[TOPK_GROUP_MAX + 1];   /* the comparison of m candidates (its answer: "1".."m") */
    int64_t requests, build, failed;
} TopKRun;

/* Free the operator's state (op->priv): the rows, texts, tree and comparison calls. */
static void topk_close(Op *op)
{
    TopKRun *t = op->priv;
    if (!t) return;
    if (t->texts && t->rows)
        for (size_t i = 0; i < t->rows->n; i++) value_free(t->texts[i]);
    free(t->texts);
    free(t->leaf);
    for (int l = 0; l < t->nlv; l++) free(t->lv[l]);
    free(t->lv);
    free(t->lvn);
    for (int m = 0; m <= TOPK_GROUP_MAX; m++) expr_free(t->cmp[m]);
    table_free(t->in);
    free(t);
    op->priv = NULL;
}

/* The comparison call for m candidates: the plan's, answering one of "1".."m" (made once). */
static const Expr *cmp_of(TopKRun *t, const Plan *p, int m)
{
    if (!t->cmp[m]) {
        Expr *e = expr_copy(p->exprs[1]);
        type_unref(e->type);
        e->type = plan_topk_answer(m);
        t->cmp[m] = e;
    }
    return t->cmp[m];
}

/* The user text of a comparison of the leaves c[0..m): the criterion, then each candidate's text
 * under its number (the order they are given in: input order). Caller frees. */
static char *prompt_of(const TopKRun *t, const Plan *p, const int64_t *c, int m)
{
    Buf b;
    buf_init(&b);
    buf_printf(&b, "Rank the candidates below by this criterion: %s\n", v_str(p->exprs[2]->lit));
    for (int i = 0; i < m; i++) {
        const Value *v = &t->texts[t->leaf[c[i]]];
        buf_printf(&b, "\nCandidate %d:\n", i + 1);
        buf_append(&b, v_str(*v), v->u.s->len);
        buf_putc(&b, '\n');
    }
    buf_printf(&b, "\nAnswer with the number of the candidate that ranks first (1 to %d).", m);
    return buf_take(&b);
}

/* The winners of several groups at once: groups g (nq of them), group i being the leaves
 * c[i * W ..] of which cnt[i] (two or more) are given; win[i] receives the winner. The requests of
 * groups of the same size go out together. 0, or -1 with the error set. */
static int judge(Op *op, TopKRun *t, const int64_t *c, const int *cnt, size_t nq, int64_t *win)
{
    const Plan *p = op->p;
    int W = p->group;
    for (int m = 2; m <= W; m++) {
        Batch *b = NULL;
        size_t *which = NULL, nb = 0;
        for (size_t i = 0; i < nq; i++) {
            if (cnt[i] != m) continue;
            if (!b) { b = batch_new(1, 16); which = xmalloc(nq * sizeof *which); }
            char *txt = prompt_of(t, p, c + i * (size_t)W, m);
            Value v = v_cstring(txt);
            free(txt);
            batch_push_row(b, &v);
            which[nb++] = i;
        }
        if (!b) continue;
        Value *ans = core_eval_op(op, cmp_of(t, p, m), b);
        batch_free(b);
        if (!ans) { free(which); return -1; }
        for (size_t k = 0; k < nb; k++) {
            size_t i = which[k];
            int pick = 0;   /* a failed comparison: the first listed (the earliest row) wins */
            const Value *a = &ans[k];
            if (a->kind == V_STRUCT && a->u.st->n >= 1 && a->u.st->fields[0].kind == V_STRING) {
                int x = atoi(v_str(a->u.st->fields[0]));
                if (x >= 1 && x <= m) pick = x - 1;
                else t->failed++;
            } else if (!op->ex->rt->dry) t->failed++;
            win[i] = c[i * (size_t)W + (size_t)pick];
            value_free(ans[k]);
        }
        t->requests += (int64_t)nb;
        free(ans);
        free(which);
    }
    return 0;
}

/* Group j of level l: its non-empty members in order into c (up to W), their count returned. */
static int members(const TopKRun *t, int W, int l, size_t j, int64_t *c)
{
    int m = 0;
    for (size_t x = j * (size_t)W; x < t->lvn[l] && x < (j + 1) * (size_t)W; x++)
        if (t->lv[l][x] >= 0) c[m++] = t->lv[l][x];
    return m;
}

/* Build the tree: every group of a level judged together, level by level. */
static int build(Op *op, TopKRun *t)
{
    int W = op->p->group;
    t->lv = xcalloc(64, sizeof *t->lv);
    t->lvn = xcalloc(64, sizeof *t->lvn);
    t->lv[0] = xmalloc((t->n ? t->n : 1) * sizeof **t->lv);
    for (size_t i = 0; i < t->n; i++) t->lv[0][i] = (int64_t)i;
    t->lvn[0] = t->n;
    t->nlv = 1;
    while (t->lvn[t->nlv - 1] > 1) {
        int l = t->nlv - 1;
        size_t ng = (t->lvn[l] + (size_t)W - 1) / (size_t)W;
        int64_t *c = xmalloc(ng * (size_t)W * sizeof *c), *win = xmalloc(ng * sizeof *win), *up = xmalloc(ng * sizeof *up);
        int *cnt = xmalloc(ng * sizeof *cnt);
        for (size_t j = 0; j < ng; j++) {
            cnt[j] = members(t, W, l, j, c + j * (size_t)W);
            up[j] = cnt[j] ? c[j * (size_t)W] : -1;   /* a group of one: its member moves up unasked */
            win[j] = up[j];
        }
        int rc = judge(op, t, c, cnt, ng, win);
        for (size_t j = 0; j < ng; j++)
            if (cnt[j] >= 2) up[j] = win[j];
        free(c);
        free(win);
        free(cnt);
        if (rc) { free(up); return -1; }
        t->lv[t->nlv] = up;
        t->lvn[t->nlv++] = ng;
    }
    t->build = t->requests;
    return 0;
}

/* Take the root's row out and ask again the groups on its way up. */
static int replay(Op *op, TopKRun *t, int64_t w)
{
    int W = op->p->group;
    int64_t c[TOPK_GROUP_MAX];
    size_t pos = (size_t)w;
    t->lv[0][pos] = -1;
    for (int l = 0; l + 1 < t->nlv; l++) {
        size_t j = pos / (size_t)W;
        int m = members(t, W, l, j, c);
        int64_t win = m ? c[0] : -1;
        if (m >= 2 && judge(op, t, c, &m, 1, &win)) return -1;
        t->lv[l + 1][j] = win;
        pos = j;
    }
    return 0;
}

/* The first call drains the child, runs the tournament and materializes the K rows (op->mat);
 * every call then hands out its batches. 1 with a batch, 0 at the end, -1 with the error set. */
int topk_next(Op *op, Batch **out)
{
    const Plan *p = op->p;
    if (op->priv) return core_next_mat(op, out);
    TopKRun *t = op->priv = xcalloc(1, sizeof *t);
    op->close = topk_close;
    if (!op->ex->rt)
        return err_at(op->ex->err, FQL_ERR_RUNTIME, p->src, p->pos, "top %lld by: no runtime to ask a model", (long long)p->k);
    t->in = core_drain(op->child);
    if (!t->in) return -1;
    table_flatten(t->in);
    t->rows = t->in->nbatches ? t->in->batches[0] : NULL;
    op->mat = table_new(schema_copy(p->schema));
    size_t nrows = t->rows ? t->rows->n : 0;
    if (nrows) {
        t->texts = core_eval_op(op, p->exprs[0], t->rows);
        if (!t->texts) return -1;
        t->leaf = xmalloc(nrows * sizeof *t->leaf);
        for (size_t i = 0; i < nrows; i++)
            if (t->texts[i].kind == V_STRING && t->texts[i].u.s->len) t->leaf[t->n++] = (int64_t)i;
    }
    int64_t want = p->k < (int64_t)nrows ? p->k : (int64_t)nrows;
    Batch *o = batch_new(p->schema->n, (size_t)(want ? want : 1));
    char *taken = xcalloc(nrows ? nrows : 1, 1);
    int rc = 0;
    if (t->n && build(op, t)) rc = -1;
    for (int64_t i = 0; !rc && i < want && (size_t)i < t->n; i++) {
        int64_t w = t->lv[t->nlv - 1][0];
        if (w < 0) break;
        size_t r = (size_t)t->leaf[w];
        batch_copy_row(o, t->rows, r);
        taken[r] = 1;
        if (i + 1 < want && (size_t)i + 1 < t->n && replay(op, t, w)) rc = -1;
    }
    /* rows not compared (null or empty text) after the compared ones, in input order */
    for (size_t r = 0; !rc && r < nrows && (int64_t)o->n < want; r++)
        if (!taken[r]) batch_copy_row(o, t->rows, r);
    free(taken);
    if (rc) { batch_free(o); return -1; }
    table_add_batch(op->mat, o);
    Runtime *rt = op->ex->rt;
    free(op->detail);
    op->detail = xasprintf("tournament of %zu compared rows (%zu not compared: no text), %d candidates a request: "
                           "%lld comparison requests (%lld building, %lld after each winner); %lld failed (won by the earliest row)",
                           t->n, nrows - t->n, p->group, (long long)t->requests, (long long)t->build,
                           (long long)(t->requests - t->build), (long long)t->failed);
    if (t->failed && !rt->dry)
        rt_log(rt, FQL_LOG_WARN, "fql: warning: top %lld by: %lld of %lld comparisons failed; each was won by its earliest row "
               "(input order), so the order of the output may be off there (see system.lm_errors)",
               (long long)p->k, (long long)t->failed, (long long)t->requests);
    return core_next_mat(op, out);
}
