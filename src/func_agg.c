/* func_agg.c: the built-in aggregates (reduce, which calls a model, lives with the semantic
 * operators).
 *
 * Protocol (func.h): the executor allocates state_size zeroed bytes, calls init, step once per
 * row with borrowed args (or step_batch once for a batch's rows, where an aggregate has one: count,
 * sum, avg, min and max, the same effect without a call a row), and either final (which returns
 * the result and releases the state) or destroy (on error). Nulls are ignored by every aggregate
 * except count(*).
 *
 * Choices (to be mirrored in the user docs):
 * - sum of ints is an int; overflow is the runtime error "integer overflow in sum". A sum that
 *   sees a float is a float (Neumaier-compensated). No non-null rows: null.
 * - avg is a float (compensated sum / count); stddev is the sample standard deviation (Welford),
 *   null for fewer than two values.
 * - first/last are the first/last NON-NULL values in input order (as pandas' first/last); null
 *   when every value is null.
 * - collect is the list of non-null values in input order ([] when there are none).
 * - string_agg(x, sep = ",") joins the text of non-null values; null when there are none.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "func.h"
#include "ops.h"

static void agg_error(FuncCtx *c, const char *msg)
{
    if (c && !c->error) c->error = xstrdup(msg);
}

/* ---- count ---- */

typedef struct { int64_t n; } CountState;

static void count_init(void *s) { ((CountState *)s)->n = 0; }

static void count_step(void *s, const Value *a, int n, FuncCtx *c)
{
    if (n == 0 || a[0].kind != V_NULL) ((CountState *)s)->n++;
}

static long count_batch(char *states, size_t stride, const int64_t *gid, Value *const *args, int nargs, size_t n, FuncCtx *c)
{
    if (nargs == 0)
        for (size_t r = 0; r < n; r++) ((CountState *)(states + (size_t)gid[r] * stride))->n++;
    else
        for (size_t r = 0; r < n; r++) ((CountState *)(states + (size_t)gid[r] * stride))->n += args[0][r].kind != V_NULL;
    return -1;
}

static Value count_final(void *s, const Type *t) { return v_int(((CountState *)s)->n); }
static void noop_destroy(void *s) { (void)s; }

static Type *count_type(Type **a, int n, char **m) { return type_int(); }

/* ---- sum and avg ---- */

typedef struct {
    int64_t isum;              /* exact int sum while only ints are seen */
    double fsum, comp;         /* Neumaier sum of all values as floats */
    int64_t count;
    int is_float, overflow;
} SumState;

static void sum_init(void *s) { memset(s, 0, sizeof(SumState)); }

/* Neumaier's compensated summation. */
static void neumaier(SumState *st, double x)
{
    double t = st->fsum + x;
    if (fabs(st->fsum) >= fabs(x)) st->comp += (st->fsum - t) + x;
    else st->comp += (x - t) + st->fsum;
    st->fsum = t;
}

static void sum_step(void *s, const Value *a, int n, FuncCtx *c)
{
    SumState *st = s;
    Value v = a[0];
    if (v.kind == V_INT) {
        if (!st->overflow && __builtin_add_overflow(st->isum, v.u.i, &st->isum)) st->overflow = 1;
        neumaier(st, (double)v.u.i);
    } else if (v.kind == V_FLOAT) {
        st->is_float = 1;
        neumaier(st, v.u.f);
    } else if (v.kind == V_BOOL) {
        st->isum += v.u.b;
        neumaier(st, v.u.b);
    } else {
        return;
    }
    st->count++;
}

static Value sum_final_common(SumState *st, const Type *t, FuncCtx *c)
{
    if (st->count == 0) return v_null();
    int want_float = st->is_float || (t && t->kind == TY_FLOAT);
    if (want_float) return v_float(st->fsum + st->comp);
    if (st->overflow) {
        agg_error(c, "integer overflow in sum");
        return v_null();
    }
    return v_int(st->isum);
}

/* final has no context, so an int overflow is reported by the step that caused it. */
static void sum_step_checked(void *s, const Value *a, int n, FuncCtx *c)
{
    SumState *st = s;
    int before = st->overflow;
    sum_step(s, a, n, c);
    if (!before && st->overflow && !st->is_float && a[0].kind == V_INT) agg_error(c, "integer overflow in sum");
}

/* sum and avg over a batch: floats and ints inline, anything else through sum_step. checked:
 * sum's int overflow is an error at its row (sum_step_checked); avg's is not. */
static long sum_batch_common(char *states, size_t stride, const int64_t *gid, const Value *v, size_t n, FuncCtx *c, int checked)
{
    for (size_t r = 0; r < n; r++) {
        SumState *st = (SumState *)(states + (size_t)gid[r] * stride);
        if (v[r].kind == V_FLOAT) {
            st->is_float = 1;
            neumaier(st, v[r].u.f);
            st->count++;
        } else if (v[r].kind == V_INT) {
            if (!st->overflow && __builtin_add_overflow(st->isum, v[r].u.i, &st->isum)) {
                st->overflow = 1;
                if (checked && !st->is_float) {
                    agg_error(c, "integer overflow in sum");
                    return (long)r;
                }
            }
            neumaier(st, (double)v[r].u.i);
            st->count++;
        } else if (v[r].kind != V_NULL)
            sum_step(st, &v[r], 1, c);
    }
    return -1;
}

static long sum_batch(char *states, size_t stride, const int64_t *gid, Value *const *args, int nargs, size_t n, FuncCtx *c)
{
    return sum_batch_common(states, stride, gid, args[0], n, c, 1);
}

static long avg_batch(char *states, size_t stride, const int64_t *gid, Value *const *args, int nargs, size_t n, FuncCtx *c)
{
    return sum_batch_common(states, stride, gid, args[0], n, c, 0);
}

static Value sum_final(void *s, const Type *t) { return sum_final_common(s, t, NULL); }

static Value avg_final(void *s, const Type *t)
{
    SumState *st = s;
    if (st->count == 0) return v_null();
    return v_float((st->fsum + st->comp) / (double)st->count);
}

static int numeric_arg(const char *fn, Type **a, int n, char **m)
{
    if (n < 1 || !a[0]) return 1;
    TypeKind k = a[0]->kind;
    if (k == TY_INT || k == TY_FLOAT || k == TY_NULL || k == TY_ANY) return 1;
    char *got = type_to_string(a[0]);
    *m = xasprintf("%s expects a numeric argument, got %s", fn, got);
    free(got);
    return 0;
}

static Type *sum_type(Type **a, int n, char **m)
{
    if (!numeric_arg("sum", a, n, m)) return NULL;
    if (n >= 1 && a[0] && a[0]->kind == TY_FLOAT) return type_float();
    if (n >= 1 && a[0] && a[0]->kind == TY_ANY) return type_any();
    return type_int();
}

static Type *avg_type(Type **a, int n, char **m) { return numeric_arg("avg", a, n, m) ? type_float() : NULL; }

/* ---- min, max, first, last ---- */

typedef struct { Value v; int have; } KeepState;

static void keep_init(void *s) { memset(s, 0, sizeof(KeepState)); }

static void keep_destroy(void *s)
{
    KeepState *st = s;
    if (st->have) value_free(st->v);
    st->have = 0;
}

static Value keep_final(void *s, const Type *t)
{
    KeepState *st = s;
    Value v = st->have ? st->v : v_null();
    st->have = 0;
    return v;
}

static void keep_if(KeepState *st, Value v, int replace)
{
    if (v.kind == V_NULL) return;
    if (!st->have) {
        st->v = value_copy(v);
        st->have = 1;
    } else if (replace) {
        value_free(st->v);
        st->v = value_copy(v);
    }
}

static void min_step(void *s, const Value *a, int n, FuncCtx *c)
{
    KeepState *st = s;
    keep_if(st, a[0], st->have && value_cmp(a[0], st->v) < 0);
}

static void max_step(void *s, const Value *a, int n, FuncCtx *c)
{
    KeepState *st = s;
    keep_if(st, a[0], st->have && value_cmp(a[0], st->v) > 0);
}

/* min and max over a batch: a number against a number of the same kind inline (value_cmp's
 * order for them), anything else through keep_if. */
static long keep_batch(char *states, size_t stride, const int64_t *gid, const Value *v, size_t n, int sign)
{
    for (size_t r = 0; r < n; r++) {
        KeepState *st = (KeepState *)(states + (size_t)gid[r] * stride);
        if (v[r].kind == V_NULL) continue;
        if (st->have && st->v.kind == v[r].kind && v[r].kind == V_INT) {
            if (sign < 0 ? v[r].u.i < st->v.u.i : v[r].u.i > st->v.u.i) st->v = v[r];
        } else if (st->have && st->v.kind == v[r].kind && v[r].kind == V_FLOAT && !isnan(v[r].u.f) && !isnan(st->v.u.f)) {
            if (sign < 0 ? v[r].u.f < st->v.u.f : v[r].u.f > st->v.u.f) st->v = v[r];
        } else
            keep_if(st, v[r], st->have && value_cmp(v[r], st->v) * sign > 0);
    }
    return -1;
}

static long min_batch(char *states, size_t stride, const int64_t *gid, Value *const *args, int nargs, size_t n, FuncCtx *c)
{
    return keep_batch(states, stride, gid, args[0], n, -1);
}

static long max_batch(char *states, size_t stride, const int64_t *gid, Value *const *args, int nargs, size_t n, FuncCtx *c)
{
    return keep_batch(states, stride, gid, args[0], n, 1);
}

static void first_step(void *s, const Value *a, int n, FuncCtx *c) { keep_if(s, a[0], 0); }
static void last_step(void *s, const Value *a, int n, FuncCtx *c) { keep_if(s, a[0], 1); }

static Type *same_type(Type **a, int n, char **m) { return n >= 1 && a[0] ? type_ref(a[0]) : type_null(); }

/* ---- stddev (sample), Welford ---- */

typedef struct { int64_t n; double mean, m2; } WelfordState;

static void welford_init(void *s) { memset(s, 0, sizeof(WelfordState)); }

static void welford_step(void *s, const Value *a, int n, FuncCtx *c)
{
    WelfordState *st = s;
    double x;
    if (a[0].kind == V_INT) x = (double)a[0].u.i;
    else if (a[0].kind == V_FLOAT) x = a[0].u.f;
    else return;
    st->n++;
    double d = x - st->mean;
    st->mean += d / (double)st->n;
    st->m2 += d * (x - st->mean);
}

static Value stddev_final(void *s, const Type *t)
{
    WelfordState *st = s;
    if (st->n < 2) return v_null();
    return v_float(sqrt(st->m2 / (double)(st->n - 1)));
}

static Type *stddev_type(Type **a, int n, char **m) { return numeric_arg("stddev", a, n, m) ? type_float() : NULL; }

/* ---- collect ---- */

typedef struct { Value *items; uint32_t n, cap; } CollectState;

static void collect_init(void *s) { memset(s, 0, sizeof(CollectState)); }

static void collect_step(void *s, const Value *a, int n, FuncCtx *c)
{
    CollectState *st = s;
    if (a[0].kind == V_NULL) return;
    if (st->n == st->cap) {
        st->cap = st->cap ? st->cap * 2 : 8;
        st->items = xrealloc(st->items, st->cap * sizeof(Value));
    }
    st->items[st->n++] = value_copy(a[0]);
}

static Value collect_final(void *s, const Type *t)
{
    CollectState *st = s;
    Value l = v_list_new(st->n);
    if (st->n) memcpy(l.u.l->items, st->items, st->n * sizeof(Value));
    free(st->items);
    memset(st, 0, sizeof *st);
    return l;
}

static void collect_destroy(void *s)
{
    CollectState *st = s;
    for (uint32_t i = 0; i < st->n; i++) value_free(st->items[i]);
    free(st->items);
    memset(st, 0, sizeof *st);
}

static Type *collect_type(Type **a, int n, char **m)
{
    return type_list(n >= 1 && a[0] ? type_ref(a[0]) : type_any());
}

/* ---- string_agg ---- */

typedef struct { Buf b; int have; } StrAggState;

static void stragg_init(void *s) { StrAggState *st = s; buf_init(&st->b); st->have = 0; }

static void stragg_step(void *s, const Value *a, int n, FuncCtx *c)
{
    StrAggState *st = s;
    if (a[0].kind == V_NULL) return;
    if (st->have) {
        if (n > 1 && a[1].kind != V_NULL) value_to_text(&st->b, a[1], NULL);
        else if (n < 2) buf_putc(&st->b, ',');
    }
    value_to_text(&st->b, a[0], NULL);
    st->have = 1;
}

static Value stragg_final(void *s, const Type *t)
{
    StrAggState *st = s;
    Value v = st->have ? v_string(st->b.data ? st->b.data : "", st->b.len) : v_null();
    buf_free(&st->b);
    st->have = 0;
    return v;
}

static void stragg_destroy(void *s) { buf_free(&((StrAggState *)s)->b); }

static Type *stragg_type(Type **a, int n, char **m)
{
    if (n >= 2 && a[1] && a[1]->kind != TY_STRING && a[1]->kind != TY_ENUM && a[1]->kind != TY_NULL && a[1]->kind != TY_ANY) {
        char *got = type_to_string(a[1]);
        *m = xasprintf("string_agg expects a string for 'sep', got %s", got);
        free(got);
        return NULL;
    }
    return type_string();
}

/* ---- registry ---- */

/* ---- reduce: collects the group's texts (in order_by order); the executor then asks the model
 * (semantic_reduce) and the collected list is replaced by the answer ---- */

typedef struct { Value *texts; Value *keys; size_t n, cap; } ReduceState;

static Type *reduce_type(Type **a, int n, char **msg)
{
    if (a[0] && a[0]->kind != TY_STRING && a[0]->kind != TY_NULL) { *msg = xstrdup("reduce's instruction must be a string"); return NULL; }
    return type_string();
}
static void reduce_init(void *s) { memset(s, 0, sizeof(ReduceState)); }
static void reduce_step(void *s, const Value *a, int n, FuncCtx *c)
{
    ReduceState *st = s;
    if (n < 2 || a[1].kind == V_NULL) return;
    if (st->n == st->cap) {
        st->cap = st->cap ? st->cap * 2 : 8;
        st->texts = xrealloc(st->texts, st->cap * sizeof *st->texts);
        st->keys = xrealloc(st->keys, st->cap * sizeof *st->keys);
    }
    if (a[1].kind == V_STRING) st->texts[st->n] = value_copy(a[1]);
    else {
        Buf b;
        buf_init(&b);
        value_to_text(&b, a[1], "");
        st->texts[st->n] = v_string(b.data ? b.data : "", b.len);
        buf_free(&b);
    }
    st->keys[st->n++] = n > 2 ? value_copy(a[2]) : v_null();
}
static void reduce_destroy(void *s)
{
    ReduceState *st = s;
    for (size_t i = 0; i < st->n; i++) { value_free(st->texts[i]); value_free(st->keys[i]); }
    free(st->texts);
    free(st->keys);
    memset(st, 0, sizeof *st);
}
static Value reduce_final(void *s, const Type *t)
{
    ReduceState *st = s;
    /* stable insertion order by key (nulls last); groups are usually small */
    size_t *ix = xmalloc((st->n + 1) * sizeof *ix);
    for (size_t i = 0; i < st->n; i++) {
        size_t j = i;
        while (j > 0) {
            Value a = st->keys[ix[j - 1]], b = st->keys[i];
            int c = a.kind != V_NULL && b.kind != V_NULL ? op_cmp(a, b) : 0;
            int gt = c > 0 && c != 2;
            if (a.kind == V_NULL && b.kind != V_NULL) gt = 1;
            if (!gt) break;
            ix[j] = ix[j - 1];
            j--;
        }
        ix[j] = i;
    }
    Value l = v_list_new((uint32_t)st->n);
    for (size_t i = 0; i < st->n; i++) { l.u.l->items[i] = st->texts[ix[i]]; st->texts[ix[i]] = v_null(); }
    free(ix);
    reduce_destroy(s);
    (void)t;
    return l;
}

static const AggDef aggs[] = {
    {"reduce", 2, 4, sizeof(ReduceState), reduce_type, reduce_init, reduce_step, reduce_final, reduce_destroy,
     "reduce(\"instruction\", x [, order_by: e, model: m]) -> string: one model answer from all of a group's values", NULL},
    {"count", 0, 1, sizeof(CountState), count_type, count_init, count_step, count_final, noop_destroy,
     "count(*) -> int: rows; count(x) -> int: rows where x is not null", count_batch},
    {"sum", 1, 1, sizeof(SumState), sum_type, sum_init, sum_step_checked, sum_final, noop_destroy,
     "sum(x) -> int or float: total of the non-null values (null if none)", sum_batch},
    {"avg", 1, 1, sizeof(SumState), avg_type, sum_init, sum_step, avg_final, noop_destroy,
     "avg(x) -> float: mean of the non-null values", avg_batch},
    {"min", 1, 1, sizeof(KeepState), same_type, keep_init, min_step, keep_final, keep_destroy,
     "min(x) -> smallest non-null value", min_batch},
    {"max", 1, 1, sizeof(KeepState), same_type, keep_init, max_step, keep_final, keep_destroy,
     "max(x) -> largest non-null value", max_batch},
    {"first", 1, 1, sizeof(KeepState), same_type, keep_init, first_step, keep_final, keep_destroy,
     "first(x) -> the first non-null value in input order", NULL},
    {"last", 1, 1, sizeof(KeepState), same_type, keep_init, last_step, keep_final, keep_destroy,
     "last(x) -> the last non-null value in input order", NULL},
    {"stddev", 1, 1, sizeof(WelfordState), stddev_type, welford_init, welford_step, stddev_final, noop_destroy,
     "stddev(x) -> float: sample standard deviation (null for fewer than 2 values)", NULL},
    {"collect", 1, 1, sizeof(CollectState), collect_type, collect_init, collect_step, collect_final, collect_destroy,
     "collect(x) -> [T]: the non-null values in input order", NULL},
    {"string_agg", 1, 2, sizeof(StrAggState), stragg_type, stragg_init, stragg_step, stragg_final, stragg_destroy,
     "string_agg(x, sep) -> string: the non-null values' text joined by sep (default \",\")", NULL},
};

#define NAGGS (sizeof aggs / sizeof aggs[0])

const AggDef *agg_lookup(const char *name)
{
    if (!name) return NULL;
    for (size_t i = 0; i < NAGGS; i++)
        if (strcmp(aggs[i].name, name) == 0) return &aggs[i];
    return NULL;
}

static const char *const agg_name_list[] = {
    "count", "sum", "avg", "min", "max", "first", "last", "stddev", "collect", "string_agg", NULL
};

const char *const *agg_names(void) { return agg_name_list; }
