/* eval.c: the expression evaluator (eval.h): a batch at a time, one Value per row. Model calls
 * (semantic operators) and functions implemented outside FQL (UDFs, asynchronous built-ins) are run
 * for the whole batch by semantic.c and udf.c. */
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <jansson.h>
#include "eval.h"
#include "ops.h"
#include "models.h"
#include "udf.h"

int64_t eval_row_base(Exec *ex, const Expr *e, size_t n)
{
    for (int i = 0; i < ex->nsem; i++)
        if (ex->sem_expr[i] == e) { int64_t b = ex->sem_rows[i]; ex->sem_rows[i] += (int64_t)n; return b; }
    if (ex->nsem < 16) { ex->sem_expr[ex->nsem] = e; ex->sem_rows[ex->nsem++] = (int64_t)n; }
    return 0;
}

/* ---- expression evaluation ---- */

int eval_error(Exec *ex, const Expr *e, size_t row, const char *msg)
{
    (void)row;
    return err_at(ex->err, FQL_ERR_RUNTIME, e->src, e->pos, "%s", msg);
}

Value *eval_vals_new(size_t n)
{
    Value *v = xmalloc((n ? n : 1) * sizeof *v);
    for (size_t i = 0; i < n; i++) v[i] = v_null();
    return v;
}

void eval_vals_free(Value *v, size_t n)
{
    if (!v) return;
    values_free(v, n);
    free(v);
}


Value *eval_batch(Exec *ex, const Expr *e, const Batch *b);

/* A field of a struct value, or of a JSON object. */
static Value index_of(Value base, Value idx);

static Value field_of(Value base, const Expr *e)
{
    if (base.kind == V_STRUCT) {
        Struct *st = base.u.st;
        if (e->ival >= 0 && (uint32_t)e->ival < st->n) return value_copy(st->fields[e->ival]);
        int fi = type_field_index(st->type, e->name);
        return fi >= 0 ? value_copy(st->fields[fi]) : v_null();
    }
    if (base.kind == V_JSON) {   /* a JSON object's member: index_of with the name as key */
        Value key = v_cstring(e->name), r = index_of(base, key);
        value_free(key);
        return r;
    }
    return v_null();
}

static Value index_of(Value base, Value idx)
{
    if (base.kind == V_LIST && idx.kind == V_INT) {
        int64_t n = base.u.l->n, i = idx.u.i;
        if (i < 0) i += n;
        return i >= 0 && i < n ? value_copy(base.u.l->items[i]) : v_null();
    }
    if (base.kind == V_STRING && idx.kind == V_INT) {
        /* a character (0-based, negative from the end) */
        const char *s = v_str(base);
        size_t n = v_strlen(base), len = utf8_len(s, n);
        int64_t i = idx.u.i;
        if (i < 0) i += (int64_t)len;
        if (i < 0 || i >= (int64_t)len) return v_null();
        size_t at = 0, k = 0;
        while (at < n) {
            size_t start = at;
            text_next(s, n, &at);
            if ((int64_t)k++ == i) return v_string(s + start, at - start);
        }
        return v_null();
    }
    if (base.kind == V_JSON) {
        json_error_t je;
        json_t *j = json_loadb(v_str(base), v_strlen(base), JSON_DECODE_ANY, &je), *f = NULL;
        Value r = v_null();
        if (j && json_is_array(j) && idx.kind == V_INT) {
            int64_t i = idx.u.i, n = (int64_t)json_array_size(j);
            if (i < 0) i += n;
            if (i >= 0 && i < n) f = json_array_get(j, (size_t)i);
        } else if (j && json_is_object(j) && idx.kind == V_STRING) {
            f = json_object_get(j, v_str(idx));
        }
        if (f && !json_is_null(f)) {
            char *txt = json_dumps(f, JSON_ENCODE_ANY | JSON_COMPACT);
            if (txt) { r = v_json_text(txt, strlen(txt)); free(txt); }
        }
        json_decref(j);
        return r;
    }
    return v_null();
}

/* Evaluate every argument of e over the batch: parts[k][row], or NULL (nothing left allocated). */
Value **eval_args(Exec *ex, const Expr *e, const Batch *b)
{
    Value **parts = xcalloc((size_t)e->nargs + 1, sizeof *parts);
    for (int k = 0; k < e->nargs; k++)
        if (!(parts[k] = eval_batch(ex, e->args[k], b))) {
            for (int q = 0; q < k; q++) eval_vals_free(parts[q], b->n);
            free(parts);
            return NULL;
        }
    return parts;
}

/* A template's {% for %} (E_LOOP) over the batch: the body runs once over a batch with a row per
 * list element, holding the outer row's columns and then two more, the item and `loop` (what
 * E_LOOPVAR reads); each outer row gets its elements' texts joined (the else body where the list is
 * empty or null). Returns the strings, or NULL with the error. */
static Value *eval_loop(Exec *ex, const Expr *e, const Batch *b)
{
    size_t n = b->n, m = 0;
    Value *x = eval_batch(ex, e->args[0], b), *els = NULL;
    if (!x) return NULL;
    for (size_t i = 0; i < n; i++)
        if (x[i].kind == V_LIST) m += x[i].u.l->n;
    Type *lt;
    Batch *ib = batch_new(b->ncols + 2, m);
    ib->n = m;
    /* the `loop` struct's type: built once per evaluation (index, index0, first, last, length) */
    static const char *const names[] = { "index", "index0", "first", "last", "length" };
    lt = type_struct_new(5);
    for (int f = 0; f < 5; f++) {
        lt->fields[f].name = xstrdup(names[f]);
        lt->fields[f].type = f == 2 || f == 3 ? type_bool() : type_int();
    }
    size_t j = 0;
    for (size_t i = 0; i < n; i++) {
        if (x[i].kind != V_LIST) continue;
        uint32_t len = x[i].u.l->n;
        for (uint32_t k = 0; k < len; k++, j++) {
            for (int c = 0; c < b->ncols; c++) ib->cols[c][j] = value_copy(b->cols[c][i]);
            ib->cols[b->ncols][j] = value_copy(x[i].u.l->items[k]);
            Value lv = v_struct_new(lt);
            Struct *st = lv.u.st;
            st->fields[0] = v_int((int64_t)k + 1);
            st->fields[1] = v_int((int64_t)k);
            st->fields[2] = v_bool(k == 0);
            st->fields[3] = v_bool(k + 1 == len);
            st->fields[4] = v_int((int64_t)len);
            ib->cols[b->ncols + 1][j] = lv;
        }
    }
    type_unref(lt);
    Value *r = eval_batch(ex, e->args[1], ib), *out = NULL;
    batch_free(ib);
    if (!r) goto done;
    if (e->nargs > 2 && !(els = eval_batch(ex, e->args[2], b))) goto done;
    out = eval_vals_new(n);
    j = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t len = x[i].kind == V_LIST ? x[i].u.l->n : 0;
        if (!len && els) { out[i] = els[i]; els[i] = v_null(); continue; }
        Buf t;
        buf_init(&t);
        for (uint32_t k = 0; k < len; k++, j++)
            if (r[j].kind != V_NULL) value_to_text(&t, r[j], NULL);
        out[i] = v_string(t.data ? t.data : "", t.len);
        buf_free(&t);
    }
done:
    eval_vals_free(x, n);
    eval_vals_free(r, m);
    eval_vals_free(els, n);
    return out;
}

Value *eval_batch(Exec *ex, const Expr *e, const Batch *b)
{
    size_t n = b->n;
    Value *out = NULL, *x = NULL, *y = NULL;
    char *msg = NULL;
    switch (e->kind) {
    case E_LIT:
        out = xmalloc((n ? n : 1) * sizeof *out);
        for (size_t i = 0; i < n; i++) out[i] = value_copy(e->lit);
        return out;
    case E_COL: {
        const Value *c = b->cols[e->ival];
        out = xmalloc((n ? n : 1) * sizeof *out);
        memcpy(out, c, n * sizeof *out);
        if (!(b->plain & batch_bit((int)e->ival))) values_ref(out, n);
        return out;
    }
    case E_FIELD:
        if (!(x = eval_batch(ex, e->args[0], b))) return NULL;
        out = eval_vals_new(n);
        for (size_t i = 0; i < n; i++) out[i] = field_of(x[i], e);
        eval_vals_free(x, n);
        return out;
    case E_INDEX:
        if (!(x = eval_batch(ex, e->args[0], b))) return NULL;
        if (!(y = eval_batch(ex, e->args[1], b))) { eval_vals_free(x, n); return NULL; }
        out = eval_vals_new(n);
        for (size_t i = 0; i < n; i++) out[i] = index_of(x[i], y[i]);
        eval_vals_free(x, n);
        eval_vals_free(y, n);
        return out;
    case E_BINOP:
        if (!(x = eval_batch(ex, e->args[0], b))) return NULL;
        if (!(y = eval_batch(ex, e->args[1], b))) { eval_vals_free(x, n); return NULL; }
        out = x;   /* results overwrite the left operands (the op functions consume both) */
        for (size_t i = 0; i < n && !msg; i++) {
            Value l = x[i], r = y[i];
            y[i] = v_null();
            switch (e->op) {
            case OP_AND: out[i] = op_and(l, r); break;
            case OP_OR: out[i] = op_or(l, r); break;
            case OP_EQ: case OP_NE: case OP_LT: case OP_LE: case OP_GT: case OP_GE:
                out[i] = op_compare(e->op, l, r, &msg);
                break;
            case OP_CONCAT: out[i] = op_concat(l, r); break;
            default: out[i] = op_arith(e->op, l, r, &msg); break;
            }
        }
        eval_vals_free(y, n);
        if (msg) { eval_error(ex, e, 0, msg); free(msg); eval_vals_free(out, n); return NULL; }
        return out;
    case E_NOT: case E_NEG:
        if (!(out = eval_batch(ex, e->args[0], b))) return NULL;
        for (size_t i = 0; i < n && !msg; i++) out[i] = e->kind == E_NOT ? op_not(out[i]) : op_neg(out[i], &msg);
        if (msg) { eval_error(ex, e, 0, msg); free(msg); eval_vals_free(out, n); return NULL; }
        return out;
    case E_ISNULL:
        if (!(out = eval_batch(ex, e->args[0], b))) return NULL;
        for (size_t i = 0; i < n; i++) {
            int isnull = out[i].kind == V_NULL;
            value_free(out[i]);
            out[i] = v_bool(e->flag ? !isnull : isnull);
        }
        return out;
    case E_IN: {
        if (!(x = eval_batch(ex, e->args[0], b))) return NULL;
        out = eval_vals_new(n);
        /* SQL semantics: true if equal to some element; else null if the value or any element is null; else false */
        int *found = xcalloc(n + 1, sizeof *found), *sawnull = xcalloc(n + 1, sizeof *sawnull);
        for (int k = 1; k < e->nargs; k++) {
            if (!(y = eval_batch(ex, e->args[k], b))) { free(found); free(sawnull); eval_vals_free(x, n); eval_vals_free(out, n); return NULL; }
            for (size_t i = 0; i < n; i++) {
                if (e->flag & 2) {   /* a list of candidates (a subquery's column) */
                    for (uint32_t j = 0; y[i].kind == V_LIST && j < y[i].u.l->n; j++) {
                        Value c = y[i].u.l->items[j];
                        if (c.kind == V_NULL) sawnull[i] = 1;
                        else if (x[i].kind != V_NULL && op_cmp(x[i], c) == 0) found[i] = 1;
                    }
                } else if (y[i].kind == V_NULL) sawnull[i] = 1;
                else if (x[i].kind != V_NULL && op_cmp(x[i], y[i]) == 0) found[i] = 1;
            }
            eval_vals_free(y, n);
        }
        for (size_t i = 0; i < n; i++) {
            if (x[i].kind == V_NULL || (!found[i] && sawnull[i])) out[i] = v_null();
            else out[i] = v_bool(e->flag & 1 ? !found[i] : found[i]);
        }
        free(found); free(sawnull);
        eval_vals_free(x, n);
        return out;
    }
    case E_LIKE:
        if (!(x = eval_batch(ex, e->args[0], b))) return NULL;
        if (!(y = eval_batch(ex, e->args[1], b))) { eval_vals_free(x, n); return NULL; }
        for (size_t i = 0; i < n; i++) {
            Value r = op_like(x[i], y[i], e->op == OP_ILIKE);
            x[i] = e->flag ? op_not(r) : r;
            y[i] = v_null();
        }
        eval_vals_free(y, n);
        return x;
    case E_CASE: {
        /* evaluate branch by branch over all rows: simple and vectorised; a row takes the first
         * branch whose condition is true */
        out = eval_vals_new(n);
        char *done = xcalloc(n + 1, 1);
        int pairs = (e->nargs - e->flag) / 2;
        for (int k = 0; k < pairs; k++) {
            if (!(x = eval_batch(ex, e->args[2 * k], b))) goto case_fail;
            if (!(y = eval_batch(ex, e->args[2 * k + 1], b))) { eval_vals_free(x, n); goto case_fail; }
            for (size_t i = 0; i < n; i++)
                if (!done[i] && value_true(x[i])) { done[i] = 1; out[i] = y[i]; y[i] = v_null(); }
            eval_vals_free(x, n);
            eval_vals_free(y, n);
        }
        if (e->flag) {
            if (!(y = eval_batch(ex, e->args[e->nargs - 1], b))) goto case_fail;
            for (size_t i = 0; i < n; i++)
                if (!done[i]) { out[i] = y[i]; y[i] = v_null(); }
            eval_vals_free(y, n);
        }
        free(done);
        /* int branches in a float case become floats */
        if (e->type->kind == TY_FLOAT)
            for (size_t i = 0; i < n; i++)
                if (out[i].kind == V_INT) out[i] = v_float((double)out[i].u.i);
        return out;
case_fail:
        free(done);
        eval_vals_free(out, n);
        return NULL;
    }
    case E_LIST: {
        Value **parts = eval_args(ex, e, b);
        if (!parts) return NULL;
        out = eval_vals_new(n);
        int tofloat = e->type->elem && e->type->elem->kind == TY_FLOAT;
        for (size_t i = 0; i < n; i++) {
            out[i] = v_list_new((uint32_t)e->nargs);
            for (int k = 0; k < e->nargs; k++) {
                Value v = parts[k][i];
                if (tofloat && v.kind == V_INT) v = v_float((double)v.u.i);
                out[i].u.l->items[k] = v;
                parts[k][i] = v_null();
            }
        }
        for (int k = 0; k < e->nargs; k++) eval_vals_free(parts[k], n);
        free(parts);
        return out;
    }
    case E_STRUCT: {
        Value **parts = eval_args(ex, e, b);
        if (!parts) return NULL;
        out = eval_vals_new(n);
        for (size_t i = 0; i < n; i++) {
            out[i] = v_struct_new(e->type);
            for (int k = 0; k < e->nargs; k++) {
                out[i].u.st->fields[k] = parts[k][i];
                parts[k][i] = v_null();
            }
        }
        for (int k = 0; k < e->nargs; k++) eval_vals_free(parts[k], n);
        free(parts);
        return out;
    }
    case E_CAST:
        if (!(out = eval_batch(ex, e->args[0], b))) return NULL;
        for (size_t i = 0; i < n && !msg; i++) out[i] = value_cast(out[i], e->type, &msg);
        if (msg) { eval_error(ex, e, 0, msg); free(msg); eval_vals_free(out, n); return NULL; }
        return out;
    case E_CALL: {
        Value **parts;
        if (!e->fn || (e->fn->flags & FUNC_ASYNC)) {   /* UDFs and async built-ins: udf.c runs the batch */
            if (!(parts = eval_args(ex, e, b))) return NULL;
            out = udf_eval(ex->rt, e, parts, n, eval_row_base(ex, e, n), ex->err);
            for (int k = 0; k < e->nargs; k++) eval_vals_free(parts[k], n);
            free(parts);
            return out;
        }
        /* a built-in only reads its arguments: columns and literals are lent to it, not copied (a
         * string copy and its free are two atomic operations a row) */
        parts = xcalloc((size_t)e->nargs + 1, sizeof *parts);
        for (int k = 0; k < e->nargs; k++) {
            const Expr *ax = e->args[k];
            if (ax->kind == E_COL) parts[k] = b->cols[ax->ival];
            else if (ax->kind != E_LIT && !(parts[k] = eval_batch(ex, ax, b))) {
                for (int q = 0; q < k; q++)
                    if (e->args[q]->kind != E_COL) eval_vals_free(parts[q], n);
                free(parts);
                return NULL;
            }
        }
        out = eval_vals_new(n);
        Value *row = xcalloc((size_t)e->nargs + 1, sizeof *row);
        FuncCtx ctx = { .now_us = ex->now_us };
        int nnio = e->fn->flags & FUNC_NULL_IN_NULL_OUT;
        int req = e->fn->min_args;
        for (size_t i = 0; i < n; i++) {
            int skip = 0;
            for (int k = 0; k < e->nargs; k++) {
                row[k] = parts[k] ? parts[k][i] : e->args[k]->lit;
                if (nnio && k < req && row[k].kind == V_NULL) skip = 1;
            }
            if (skip) continue;
            out[i] = e->fn->impl(row, e->nargs, &ctx);
            if (ctx.error) break;
        }
        func_ctx_done(&ctx);
        free(row);
        for (int k = 0; k < e->nargs; k++)
            if (e->args[k]->kind != E_COL) eval_vals_free(parts[k], n);
        free(parts);
        if (ctx.error) { eval_error(ex, e, 0, ctx.error); free(ctx.error); eval_vals_free(out, n); return NULL; }
        if (e->type->kind == TY_FLOAT)   /* coalesce(int, float) and friends: one kind per column */
            for (size_t i = 0; i < n; i++)
                if (out[i].kind == V_INT) out[i] = v_float((double)out[i].u.i);
        return out;
    }
    case E_AGG: {
        const Value *c = b->cols[e->ival];
        out = xmalloc((n ? n : 1) * sizeof *out);
        memcpy(out, c, n * sizeof *out);
        if (!(b->plain & batch_bit((int)e->ival))) values_ref(out, n);
        return out;
    }
    case E_SEMANTIC: {
        if (!ex->rt) { err_at(ex->err, FQL_ERR_RUNTIME, e->src, e->pos, "%s() cannot be used in values rows", e->name); return NULL; }
        for (int i = 0; i < ex->npre; i++)
            if (ex->pre_x[i] == e && ex->pre_n == n) {
                out = xmalloc((n ? n : 1) * sizeof *out);
                for (size_t r = 0; r < n; r++) out[r] = value_copy(ex->pre_v[i][r]);
                return out;
            }
        for (int i = 0; i < ex->ncur; i++)
            if (ex->cur_x[i] == e) {
                out = semantic_finish(ex->cur_j[i], ex->err);
                if (!out && !err_failed(ex->err)) err_at(ex->err, FQL_ERR_RUNTIME, e->src, e->pos, "%s() failed", e->name);
                return out;
            }
        Value **parts = eval_args(ex, e, b);
        if (!parts) return NULL;
        out = semantic_eval(ex->rt, e, parts, n, eval_row_base(ex, e, n), ex->err);
        for (int k = 0; k < e->nargs; k++) eval_vals_free(parts[k], n);
        free(parts);
        if (!out && !err_failed(ex->err)) err_at(ex->err, FQL_ERR_RUNTIME, e->src, e->pos, "%s() failed", e->name);
        return out;
    }
    case E_LOOPVAR: {
        const Value *c = b->cols[b->ncols - (int)e->ival];
        out = xmalloc((n ? n : 1) * sizeof *out);
        for (size_t i = 0; i < n; i++) out[i] = value_copy(c[i]);
        return out;
    }
    case E_LOOP:
        return eval_loop(ex, e, b);
    case E_SUBQUERY:   /* the session runs subqueries first; one left here is in a place that is never run ahead */
        err_at(ex->err, FQL_ERR_RUNTIME, e->src, e->pos, "a subquery cannot be used here (it runs once, before its statement)");
        return NULL;
    }
    return NULL;
}

/* Evaluate an expression that reads no columns (values rows, options). */
Value eval_const(Expr *e, char **msg)
{
    fql_error err;
    memset(&err, 0, sizeof err);
    Exec ex;
    memset(&ex, 0, sizeof ex);
    ex.err = &err;
    struct timeval tv;
    gettimeofday(&tv, NULL);
    ex.now_us = (int64_t)tv.tv_sec * 1000000 + tv.tv_usec;
    Batch *b = batch_new(0, 1);
    b->n = 1;
    Value *v = eval_batch(&ex, e, b);
    batch_free(b);
    if (!v) {
        *msg = xstrdup(err.message);
        char *nl = strchr(*msg, '\n');
        if (nl) *nl = 0;
        return v_null();
    }
    Value r = v[0];
    free(v);
    return r;
}
