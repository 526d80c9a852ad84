/* keytab_test.c: the hash tables of keytab.c against a plain scan with value_equal: the ints
 * layout, its change to the general one (1 and 1.0 are one key), nulls, growth, borrowed keys
 * (a join's build side) and the pair set of count(distinct). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "keytab.h"
#include "check.h"

/* The id a plain scan gives key v among keys[0..n) (first equal), or -1. */
static int64_t scan(const Value *keys, size_t n, Value v)
{
    for (size_t i = 0; i < n; i++)
        if (value_equal(keys[i], v)) return (int64_t)i;
    return -1;
}

/* Ints, then nulls, then a float equal to an int and strings: the layout changes mid-way and
 * every id stays the one a scan gives. */
static void test_ids_match_scan(void)
{
    KeyTable kt;
    kt_init(&kt, 1);
    enum { N = 5000 };
    Value *rows = calloc(N, sizeof *rows), *seen = calloc(N, sizeof *seen);
    size_t nseen = 0;
    for (int i = 0; i < N; i++) {
        int m = i % 7;
        rows[i] = i < 2000 ? (m == 3 ? v_null() : v_int((i * 37) % 1500))
                : m == 0 ? v_float((double)((i * 37) % 1500))
                : m == 1 ? v_cstring(i % 2 ? "x" : "y")
                : v_int((i * 91) % 3000);
    }
    for (int c0 = 0; c0 < N; c0 += 700) {   /* batches of 700 */
        int cn = N - c0 < 700 ? N - c0 : 700;
        int64_t ids[700];
        Value *col = rows + c0;
        kt_ids(&kt, &col, (size_t)cn, 1, 0, ids);
        for (int i = 0; i < cn; i++) {
            Value v = rows[c0 + i];
            int64_t want = scan(seen, nseen, v);
            if (want < 0) { want = (int64_t)nseen; seen[nseen++] = v; }
            CHECK(ids[i] == want, "row %d: id %lld, want %lld", c0 + i, (long long)ids[i], (long long)want);
        }
        CHECK(kt.n == nseen, "keys %zu, want %zu", kt.n, nseen);
    }
    CHECK(!kt.ints, "the table left the ints layout");
    for (size_t i = 0; i < nseen; i++) CHECK(value_equal(kt_key(&kt, 0, i), seen[i]), "key %zu", i);
    /* a probe that does not add: absent keys are -1, a float finds its int */
    int64_t id;
    Value probe[3] = { v_int(123456), v_float(37.0), v_null() }, *pc = probe;
    int64_t got[3];
    kt_ids(&kt, &pc, 3, 0, 0, got);
    CHECK(got[0] == -1 && got[1] == scan(seen, nseen, v_int(37)) && got[2] == scan(seen, nseen, v_null()), "probes: %lld %lld %lld",
          (long long)got[0], (long long)got[1], (long long)got[2]);
    kt_ids(&kt, &pc, 3, 0, 1, got);
    CHECK(got[2] == -1, "skipnull: a null key is never found");
    Value x = v_cstring("x");
    id = kt_lookup(&kt, &x, 0, NULL);
    CHECK(id == scan(seen, nseen, x), "lookup of a string");
    value_free(x);
    kt_free(&kt);
    for (int i = 0; i < N; i++) value_free(rows[i]);
    free(rows);
    free(seen);
}

/* Two-key tuples and the null key of the ints layout. */
static void test_tuples_and_null(void)
{
    KeyTable kt;
    kt_init(&kt, 2);
    Value a[4] = { v_int(1), v_int(1), v_null(), v_int(1) }, b[4] = { v_cstring("p"), v_cstring("q"), v_cstring("p"), v_cstring("p") };
    Value *cols[2] = { a, b };
    int64_t ids[4];
    kt_ids(&kt, cols, 4, 1, 0, ids);
    CHECK(ids[0] == 0 && ids[1] == 1 && ids[2] == 2 && ids[3] == 0 && kt.n == 3, "tuples: %lld %lld %lld %lld",
          (long long)ids[0], (long long)ids[1], (long long)ids[2], (long long)ids[3]);
    kt_ids(&kt, cols, 4, 0, 1, ids);
    CHECK(ids[2] == -1 && ids[3] == 0, "skipnull on tuples");
    kt_free(&kt);
    for (int i = 0; i < 4; i++) value_free(b[i]);

    kt_init(&kt, 1);
    Value c[5] = { v_null(), v_int(4), v_null(), v_int(4), v_int(-1) }, *cc = c;
    int64_t i5[5], j5[5];
    kt_ids(&kt, &cc, 5, 1, 0, j5);
    kt_ids(&kt, &cc, 5, 0, 0, i5);
    CHECK(kt.ints && i5[0] == i5[2] && i5[1] == i5[3] && i5[0] != i5[1] && i5[4] >= 0 && kt.n == 3, "null key in the ints layout");
    Value sv = v_cstring("s");
    kt_lookup(&kt, &sv, 1, NULL);   /* to the general layout: the null key stays */
    value_free(sv);
    kt_ids(&kt, &cc, 5, 0, 0, j5);
    CHECK(!kt.ints && memcmp(j5, i5, sizeof i5) == 0 && kt.n == 4, "null key after the change of layout");
    kt_free(&kt);
}

/* Borrowed keys: rows claim slots; the first row of each key is kept, duplicates chain. */
static void test_borrowed(void)
{
    enum { N = 3000 };
    Value *col = calloc(N, sizeof *col);
    for (int i = 0; i < N; i++) col[i] = i % 10 == 9 ? v_cstring("s") : v_int(i % 1000);
    KeyTable kt;
    kt_init_borrowed(&kt, 1, &col);
    int64_t *chain = malloc(N * sizeof *chain);
    for (int r = N; r-- > 0;) {
        KtSlot *s = kt_claim(&kt, (size_t)r);
        chain[r] = s->id;
        s->id = r;
    }
    Value probe[2] = { v_float(5.0), v_cstring("s") }, *pc = probe;
    int64_t head[2];
    kt_ids(&kt, &pc, 2, 0, 1, head);
    int n5 = 0, ns = 0, ok = 1;
    int64_t last = -1;
    for (int64_t r = head[0]; r >= 0; r = chain[r]) { ok &= value_equal(col[r], v_int(5)) && r > last; last = r; n5++; }
    for (int64_t r = head[1]; r >= 0; r = chain[r]) ns++;
    CHECK(ok && n5 == 3 && ns == N / 10, "chains: %d rows of 5 (in order: %d), %d of \"s\"", n5, ok, ns);
    value_free(probe[1]);
    kt_free(&kt);
    for (int i = 0; i < N; i++) value_free(col[i]);
    free(col);
    free(chain);
}

static void test_pairset(void)
{
    PairSet s;
    pairset_init(&s);
    int fresh = 0, again = 0;
    for (int i = 0; i < 20000; i++) fresh += pairset_add(&s, i % 13, (i * 7) % 5000);
    for (int i = 0; i < 20000; i++) again += pairset_add(&s, i % 13, (i * 7) % 5000);
    /* pairs (i % 13, 7i % 5000): distinct while i < lcm(13, 5000) = 65000 */
    CHECK(fresh == 20000 && again == 0 && s.n == 20000, "fresh %d again %d n %zu", fresh, again, s.n);
    CHECK(pairset_add(&s, 0, -5) == 1 && pairset_add(&s, 0, -5) == 0, "negative values");
    pairset_free(&s);
}

/* The direct map of small int keys (owned: filled as keys come; borrowed: kt_freeze): small,
 * negative, large and null keys in one column, every id the one a scan gives, before and after the
 * map grows; a borrowed table of a dimension's keys answers through its map as through its slots,
 * misses included. */
static void test_direct_map(void)
{
    KeyTable kt;
    kt_init(&kt, 1);
    enum { N = 20000 };
    Value *rows = calloc(N, sizeof *rows), *seen = calloc(N, sizeof *seen);
    size_t nseen = 0;
    for (int i = 0; i < N; i++) {
        int m = i % 11;
        rows[i] = m == 0 ? v_null() : m == 1 ? v_int(-(i % 13)) : m == 2 ? v_int(1000000007LL * (i % 5))
                : v_int(i < N / 2 ? (i * 37) % 900 : (i * 53) % 9000);   /* the range grows half-way */
    }
    int ok = 1;
    for (int c0 = 0; c0 < N; c0 += 1000) {
        int64_t ids[1000];
        Value *col = rows + c0;
        kt_ids(&kt, &col, 1000, 1, 0, ids);
        for (int i = 0; i < 1000; i++) {
            Value v = rows[c0 + i];
            int64_t want = scan(seen, nseen, v);
            if (want < 0) { want = (int64_t)nseen; seen[nseen++] = v; }
            ok &= ids[i] == want;
        }
    }
    CHECK(ok && kt.n == nseen && kt.direct != NULL, "owned: ids match a scan (%zu keys, direct map %zu)", nseen, kt.ndirect);
    kt_free(&kt);
    /* borrowed: keys 0..99,999 but every 11th missing; probes of 0..120,000 */
    enum { D = 100000 };
    Value *dim = calloc(D, sizeof *dim);
    for (int i = 0; i < D; i++) dim[i] = v_int(i % 11 == 5 ? -1 : i);
    kt_init_borrowed(&kt, 1, &dim);
    for (int r = D; r-- > 0;) kt_claim(&kt, (size_t)r)->id = r;
    Value *pr = calloc(120000, sizeof *pr);
    for (int i = 0; i < 120000; i++) pr[i] = v_int(i);
    int64_t *a = malloc(120000 * sizeof *a), *b = malloc(120000 * sizeof *b);
    kt_ids(&kt, &pr, 120000, 0, 1, a);   /* through the slots */
    kt_freeze(&kt);
    int mapped = kt.direct != NULL;
    kt_ids(&kt, &pr, 120000, 0, 1, b);   /* through the map */
    ok = 1;
    for (int i = 0; i < 120000; i++) ok &= a[i] == b[i] && b[i] == (i < D && i % 11 != 5 ? i : -1);
    CHECK(mapped && ok, "borrowed: the map answers as the slots (map built: %d)", mapped);
    kt_free(&kt);
    free(dim); free(pr); free(a); free(b); free(rows); free(seen);
}

int main(void)
{
    run("direct_map", test_direct_map);
    run("ids_match_scan", test_ids_match_scan);
    run("tuples_and_null", test_tuples_and_null);
    run("borrowed", test_borrowed);
    run("pairset", test_pairset);
    return check_summary();
}
