/* parquet_test.c: the pieces of the Parquet reader and writer with no language surface: the
 * RLE/bit-packed hybrid codec, Thrift compact round trips, and column projection (a column not
 * needed is left null and never decoded).
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "io.h"
#include "io/parquet.h"
#include "io/thrift.h"
#include "check.h"

static void hybrid_round_trip(void)
{
    srand(7);
    for (int width = 0; width <= 32 && !failed; width++) {
        size_t n = 1000 + (size_t)width * 37;
        uint32_t *v = malloc(n * sizeof *v), *back = malloc(n * sizeof *back);
        uint64_t mask = width == 32 ? 0xffffffffu : (1ull << width) - 1;
        for (size_t i = 0; i < n; i++)       /* runs and noise mixed */
            v[i] = (uint32_t)(((i / 50) % 2 ? (uint64_t)(i / 50) : (uint64_t)rand() * 2654435761u) & mask);
        Buf b;
        buf_init(&b);
        pq_hybrid_encode(&b, v, n, width);
        const char *why = pq_hybrid_decode((const uint8_t *)b.data, b.len, width, back, n);
        CHECK(!why, "width %d: %s", width, why);
        for (size_t i = 0; i < n && !why && !failed; i++) CHECK(v[i] == back[i], "width %d value %zu: %u != %u", width, i, v[i], back[i]);
        /* one value short of the data is an error, not a read past the end */
        if (b.len > 1) CHECK(pq_hybrid_decode((const uint8_t *)b.data, 1, width, back, n) != NULL, "width %d: truncated data decoded", width);
        buf_free(&b);
        free(v);
        free(back);
    }
}

static void thrift_round_trip(void)
{
    Buf b;
    buf_init(&b);
    ThriftOut o = { &b, 0 };
    thrift_i32(&o, 1, -5);
    thrift_i64(&o, 40, INT64_MIN);            /* a jump over 15 field ids: the long field header */
    thrift_bin(&o, 41, "abc", 3);
    thrift_boolf(&o, 42, 1);
    thrift_put_field(&o, 43, TT_LIST);
    thrift_put_list(&b, TT_I32, 20);
    for (int i = 0; i < 20; i++) thrift_put_int(&b, i * 1000);
    thrift_put_stop(&o);
    ThriftIn in = { (const uint8_t *)b.data, (const uint8_t *)b.data + b.len, NULL, 0 };
    int last = 0, id, t;
    t = thrift_field(&in, &last, &id);
    CHECK(t == TT_I32 && id == 1 && thrift_int(&in) == -5, "field 1");
    t = thrift_field(&in, &last, &id);
    CHECK(t == TT_I64 && id == 40 && thrift_int(&in) == INT64_MIN, "field 40");
    t = thrift_field(&in, &last, &id);
    size_t n;
    const uint8_t *s = thrift_binary(&in, &n);
    CHECK(t == TT_BINARY && id == 41 && n == 3 && !memcmp(s, "abc", 3), "field 41");
    t = thrift_field(&in, &last, &id);
    CHECK(id == 42 && thrift_bool(t), "field 42");
    t = thrift_field(&in, &last, &id);
    CHECK(t == TT_LIST && id == 43, "field 43");
    thrift_skip(&in, TT_LIST);
    CHECK(thrift_field(&in, &last, &id) == TT_STOP && !in.bad, "end: %s", in.bad ? in.bad : "");
    /* every truncation fails cleanly */
    for (size_t cut = 0; cut < b.len; cut++) {
        ThriftIn tr = { (const uint8_t *)b.data, (const uint8_t *)b.data + cut, NULL, 0 };
        thrift_skip(&tr, TT_STRUCT);
        CHECK(tr.bad != NULL, "truncated at %zu parsed", cut);
    }
    buf_free(&b);
}

/* Write rows {id, name, tags} in several row groups; read them with name not projected. */
static void projection(void)
{
    char path[] = "/tmp/fql-pq-unit-XXXXXX";
    int fd = mkstemp(path);
    close(fd);
    Schema *s = schema_new();
    schema_add(s, "id", type_int());
    schema_add(s, "name", type_string());
    schema_add(s, "tags", type_list(type_string()));
    fql_error err;
    memset(&err, 0, sizeof err);
    WriteOptions wo = { COMPRESS_SNAPPY, 1000 };
    Writer *w = writer_open_opts(path, FMT_PARQUET, WRITE_OVERWRITE, s, &wo, &err);
    CHECK(w != NULL, "open: %s", err.message);
    if (!w) { schema_free(s); return; }
    Batch *b = batch_new(3, 5000);
    for (int64_t i = 0; i < 5000; i++) {
        Value row[3];
        char name[32];
        snprintf(name, sizeof name, "n%d", (int)(i % 10));
        row[0] = v_int(i);
        row[1] = v_cstring(name);
        row[2] = v_list_new(i % 3 ? 1 : 0);
        if (i % 3) row[2].u.l->items[0] = v_cstring(name);
        batch_push_row(b, row);
    }
    CHECK(writer_write(w, b, &err) == 0, "write");
    CHECK(writer_close(w, &err) == 0, "close: %s", err.message);
    batch_free(b);

    ReadOptions ro;
    read_options_init(&ro, FMT_PARQUET);
    int need[3] = { 1, 0, 1 };
    ro.projection = need;
    Reader *r = reader_open(path, &ro, &err);
    CHECK(r != NULL, "read: %s", err.message);
    int64_t next = 0;
    Batch *got;
    while (r && !failed && reader_next(r, &got, &err) == 1) {
        for (size_t k = 0; k < got->n && !failed; k++, next++) {
            CHECK(got->cols[0][k].kind == V_INT && got->cols[0][k].u.i == next, "id at %lld", (long long)next);
            CHECK(got->cols[1][k].kind == V_NULL, "name at %lld is not null", (long long)next);
            CHECK(got->cols[2][k].kind == V_LIST && got->cols[2][k].u.l->n == (next % 3 ? 1u : 0u), "tags at %lld", (long long)next);
        }
        batch_free(got);
    }
    CHECK(next == 5000 && !err.code, "read %lld rows: %s", (long long)next, err.message);
    reader_free(r);
    schema_free(s);
    unlink(path);
}

int main(void)
{
    run("hybrid_round_trip", hybrid_round_trip);
    run("thrift_round_trip", thrift_round_trip);
    run("projection", projection);
    return check_summary();
}
