/* csv_test.c: CSV/TSV reader edge cases, globs, and the writers (round trip, modes).
 *
 * Prints `ok NAME` or `FAIL NAME: reason` per test and a closing `N passed, M failed`; exits
 * nonzero when a test fails. Every file lives in a mkdtemp directory removed at the end.
 */
#include <ftw.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "io.h"

static char dir[256];
static int passed, failed;
static char why[2048];
static int cur_failed;

static void fail(const char *fmt, ...)
{
    if (cur_failed) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    cur_failed = 1;
}

#define CHECK(cond) do { if (!(cond)) fail("%s:%d: %s", __FILE__, __LINE__, #cond); } while (0)
#define CHECK_STR(got, want) do { const char *g_ = (got), *w_ = (want); \
    if (!g_ || strcmp(g_, w_) != 0) fail("%s:%d: got\n%s\nwant\n%s", __FILE__, __LINE__, g_ ? g_ : "(null)", w_); } while (0)
#define CHECK_HAS(got, sub) do { const char *g_ = (got), *s_ = (sub); \
    if (!g_ || !strstr(g_, s_)) fail("%s:%d: '%s' does not contain '%s'", __FILE__, __LINE__, g_ ? g_ : "(null)", s_); } while (0)

static void run(const char *name, void (*fn)(void))
{
    cur_failed = 0;
    fn();
    if (cur_failed) { printf("FAIL %s: %s\n", name, why); failed++; }
    else { printf("ok %s\n", name); passed++; }
    fflush(stdout);
}

static char *path_of(const char *name)
{
    static char p[8][512];
    static int k;
    k = (k + 1) % 8;
    snprintf(p[k], sizeof p[k], "%s/%s", dir, name);
    return p[k];
}

/* Write bytes to dir/name (creating subdirectories); returns the path (static). */
static char *put(const char *name, const char *data, size_t n)
{
    char *p = path_of(name);
    for (char *s = strchr(p + strlen(dir) + 1, '/'); s; s = strchr(s + 1, '/')) {
        *s = 0;
        mkdir(p, 0777);
        *s = '/';
    }
    FILE *f = fopen(p, "wb");
    fwrite(data, 1, n, f);
    fclose(f);
    return p;
}
#define PUT(name, lit) put(name, lit, sizeof(lit) - 1)

static char *slurp(const char *p)
{
    FILE *f = fopen(p, "rb");
    if (!f) return NULL;
    Buf b;
    buf_init(&b);
    char tmp[4096];
    size_t n;
    while ((n = fread(tmp, 1, sizeof tmp, f)) > 0) buf_append(&b, tmp, n);
    fclose(f);
    return buf_take(&b);
}

/* Read a whole file into a Table (NULL on error, err filled). */
static Table *load(const char *p, const ReadOptions *o, fql_error *err)
{
    memset(err, 0, sizeof *err);
    Reader *r = reader_open(p, o, err);
    if (!r) return NULL;
    Table *t = table_new(schema_copy(reader_schema(r)));
    Batch *b;
    int rc;
    while ((rc = reader_next(r, &b, err)) == 1) table_add_batch(t, b);
    reader_free(r);
    if (rc < 0) { table_free(t); return NULL; }
    return t;
}

/* "name:type,..." then one line per row, cells joined by '|', null as NULL, strings quoted as
 * <text> so that "" and null differ. */
static char *dump(const Table *t)
{
    Buf b;
    buf_init(&b);
    for (int c = 0; c < t->schema->n; c++) {
        char *tn = type_to_string(t->schema->types[c]);
        buf_printf(&b, "%s%s:%s", c ? "," : "", t->schema->names[c], tn);
        free(tn);
    }
    buf_putc(&b, '\n');
    for (int i = 0; i < t->nbatches; i++) {
        Batch *bt = t->batches[i];
        for (size_t r = 0; r < bt->n; r++) {
            for (int c = 0; c < bt->ncols; c++) {
                Value v = bt->cols[c][r];
                if (c) buf_putc(&b, '|');
                if (v.kind == V_STRING) { buf_putc(&b, '<'); value_to_text(&b, v, NULL); buf_putc(&b, '>'); }
                else value_to_text(&b, v, "NULL");
            }
            buf_putc(&b, '\n');
        }
    }
    return buf_take(&b);
}

/* Load with options and compare the dump; NULL want means an error is expected containing
 * want_err. */
static void expect(const char *p, const ReadOptions *o, const char *want)
{
    fql_error err;
    Table *t = load(p, o, &err);
    if (!t) { fail("unexpected error: %s:%d:%d: %s", err.file, err.line, err.column, err.message); return; }
    char *d = dump(t);
    CHECK_STR(d, want);
    free(d);
    table_free(t);
}

static void expect_csv(const char *p, const char *want)
{
    ReadOptions o;
    read_options_init(&o, FMT_CSV);
    expect(p, &o, want);
}

/* Expect an error; returns "FILE:LINE:COL: message" in a static buffer. */
static const char *expect_error(const char *p, const ReadOptions *o)
{
    static char msg[1400];
    fql_error err;
    Table *t = load(p, o, &err);
    if (t) { table_free(t); fail("expected an error"); return ""; }
    snprintf(msg, sizeof msg, "%s:%d:%d: %s", err.file, err.line, err.column, err.message);
    return msg;
}

static const char *csv_error(const char *p)
{
    ReadOptions o;
    read_options_init(&o, FMT_CSV);
    return expect_error(p, &o);
}

static Table *sample_table(void);

/* ---- tests ---- */

static void t_basic(void)
{
    expect_csv(PUT("basic.csv", "a,b,c\n1,x,2.5\n2,y,3\n"),
               "a:int,b:string,c:float\n1|<x>|2.5\n2|<y>|3.0\n");
}

static void t_quoted_commas(void)
{
    expect_csv(PUT("q.csv", "name,note\n\"Smith, J\",\"a,b,,c\"\n"),
               "name:string,note:string\n<Smith, J>|<a,b,,c>\n");
}

static void t_doubled_quotes(void)
{
    expect_csv(PUT("dq.csv", "s\n\"say \"\"hi\"\"\"\n\"\"\"\"\n"),
               "s:string\n<say \"hi\">\n<\">\n");
}

static void t_embedded_newlines(void)
{
    expect_csv(PUT("nl.csv", "a,b\n\"line1\nline2\",1\n\"x\r\ny\",2\n"),
               "a:string,b:int\n<line1\nline2>|1\n<x\r\ny>|2\n");
}

static void t_crlf(void)
{
    expect_csv(PUT("crlf.csv", "a,b\r\n1,2\r\n3,4\r\n"), "a:int,b:int\n1|2\n3|4\n");
}

static void t_bom(void)
{
    expect_csv(PUT("bom.csv", "\xEF\xBB\xBFid,v\n1,a\n"), "id:int,v:string\n1|<a>\n");
}

static void t_no_trailing_newline(void)
{
    expect_csv(PUT("nt.csv", "a,b\n1,2\n3,4"), "a:int,b:int\n1|2\n3|4\n");
    expect_csv(PUT("nt2.csv", "a,b\n1,\"x\""), "a:int,b:string\n1|<x>\n");
}

static void t_empty_file(void)
{
    expect_csv(PUT("empty.csv", ""), "\n");
}

static void t_header_only(void)
{
    expect_csv(PUT("ho.csv", "a,b,c\n"), "a:string,b:string,c:string\n");
}

static void t_empty_vs_quoted_empty(void)
{
    expect_csv(PUT("ev.csv", "a,b,c\n,\"\",x\n\"\",,\n"),
               "a:string,b:string,c:string\nNULL|<>|<x>\n<>|NULL|NULL\n");
    /* in a typed column an empty value is null */
    expect_csv(PUT("ev2.csv", "n\n1\n\n\"\"\n3\n"), "n:int\n1\nNULL\n3\n");
}

static void t_inference(void)
{
    expect_csv(PUT("inf.csv",
                   "i,f,b,d,ts,s,nul,mix,neg\n"
                   "1,1.5,true,2024-01-31,2024-01-31 10:20:30,a,,1,-5\n"
                   "2,2,FALSE,2023-12-01,2024-02-01T00:00:00,007x,,2.5,+7\n"
                   ",1e3,True,,2024-03-01 01:02,b,,,-9223372036854775808\n"),
               "i:int,f:float,b:bool,d:date,ts:timestamp,s:string,nul:string,mix:float,neg:int\n"
               "1|1.5|true|2024-01-31|2024-01-31 10:20:30|<a>|NULL|1.0|-5\n"
               "2|2.0|false|2023-12-01|2024-02-01 00:00:00|<007x>|NULL|2.5|7\n"
               "NULL|1000.0|true|NULL|2024-03-01 01:02:00|<b>|NULL|NULL|-9223372036854775808\n");
    /* int overflow becomes float; a date mixed with timestamps is a timestamp; a bad date is text */
    expect_csv(PUT("inf2.csv", "big,dt,bad\n99999999999999999999,2024-01-01,2024-02-30\n1,2024-01-01 12:00:00,2024-01-01\n"),
               "big:float,dt:timestamp,bad:string\n1e+20|2024-01-01 00:00:00|<2024-02-30>\n1.0|2024-01-01 12:00:00|<2024-01-01>\n");
    /* a value in the last row widens the column (small files are scanned in full) */
    Buf b;
    buf_init(&b);
    buf_puts(&b, "n\n");
    for (int i = 0; i < 30000; i++) buf_printf(&b, "%d\n", i);
    buf_puts(&b, "oops\n");
    ReadOptions o;
    read_options_init(&o, FMT_CSV);
    fql_error err;
    Table *t = load(put("widen.csv", b.data, b.len), &o, &err);
    buf_free(&b);
    CHECK(t != NULL);
    if (t) {
        CHECK(t->schema->types[0]->kind == TY_STRING);
        CHECK(t->nrows == 30001);
        table_flatten(t);
        Value v = table_get(t, 30000, 0);
        CHECK(v.kind == V_STRING && strcmp(v_str(v), "oops") == 0);
        table_free(t);
    }
}

static void t_floats(void)
{
    ReadOptions o;
    read_options_init(&o, FMT_CSV);
    fql_error err;
    Table *t = load(PUT("fl.csv", "x\n0.1\n-2.5e-3\n123456789.123456789\n1e308\n.5\n5.\n0.30000000000000004\n"), &o, &err);
    CHECK(t != NULL);
    if (!t) return;
    double want[] = { 0.1, -2.5e-3, 123456789.123456789, 1e308, .5, 5., 0.30000000000000004 };
    table_flatten(t);
    for (int i = 0; i < 7; i++) {
        Value v = table_get(t, (size_t)i, 0);
        if (v.kind != V_FLOAT || v.u.f != want[i]) fail("row %d: got %.17g want %.17g", i, v.u.f, want[i]);
    }
    table_free(t);
}

static void t_explicit_schema(void)
{
    Schema *s = schema_new();
    schema_add(s, "age", type_int());
    schema_add(s, "zip", type_string());
    ReadOptions o;
    read_options_init(&o, FMT_CSV);
    o.schema = s;
    expect(PUT("sch.csv", "name,age,zip\nann,31,02134\nbob,,10001\n"), &o,
           "name:string,age:int,zip:string\n<ann>|31|<02134>\n<bob>|NULL|<10001>\n");
    schema_free(s);
    s = schema_new();
    schema_add(s, "age", type_int());
    o.schema = s;
    char *p = PUT("sch2.csv", "name,age\nann,31\nbob,abc\n");
    char want[600];
    snprintf(want, sizeof want, "%s:3:2: value 'abc' in column 'age' is not an int (schema says int)", p);
    CHECK_STR(expect_error(p, &o), want);
    schema_free(s);
    /* a schema naming a column the file does not have */
    s = schema_new();
    schema_add(s, "agee", type_int());
    o.schema = s;
    CHECK_HAS(expect_error(PUT("sch3.csv", "name,age\nann,3\n"), &o), "did you mean 'age'");
    schema_free(s);
}

static void t_inferred_mismatch_large(void)
{
    /* beyond the full-scan size the sample decides; a later misfit is a clear error */
    ReadOptions o;
    read_options_init(&o, FMT_CSV);
    o.sample_rows = 5;
    /* small file: full scan, so no error even with a tiny sample */
    char *p = PUT("mm.csv", "n\n1\n2\n3\n4\n5\n6\nx\n");
    expect(p, &o, "n:string\n<1>\n<2>\n<3>\n<4>\n<5>\n<6>\n<x>\n");
    /* pretend the file is large: the sample of 5 rows says int, row 8 holds text */
    setenv("FQL_CSV_FULL_SCAN_BYTES", "0", 1);
    char want[700];
    snprintf(want, sizeof want, "%s:8:1: value 'x' in column 'n' is not an int (the type inferred from the first 5 rows); "
             "read the column as text with `schema: {n: string}`", p);
    CHECK_STR(expect_error(p, &o), want);
    unsetenv("FQL_CSV_FULL_SCAN_BYTES");
}

static void t_abandoned_write(void)
{
    /* a writer closed with an error pending leaves the target as it was */
    Table *t = sample_table();
    char *p = PUT("out/keep.csv", "old\n");
    fql_error err;
    memset(&err, 0, sizeof err);
    Writer *w = writer_open(p, FMT_CSV, WRITE_OVERWRITE, t->schema, &err);
    CHECK(w != NULL);
    if (w) {
        writer_write(w, t->batches[0], &err);
        err_set(&err, FQL_ERR_RUNTIME, "upstream failure");
        CHECK(writer_close(w, &err) < 0);
    }
    char *s = slurp(p);
    CHECK_STR(s, "old\n");
    free(s);
    table_free(t);
}

static void t_unterminated_quote(void)
{
    char *p = PUT("uq.csv", "a,b\n1,2\n3,\"abc\n4,5\n");
    char want[600];
    snprintf(want, sizeof want, "%s:3:2: unterminated quoted field", p);
    CHECK_HAS(csv_error(p), want);
}

static void t_invalid_utf8(void)
{
    char *p = PUT("u8.csv", "a,b\nok,fine\nx,caf\xE9\n");
    char want[600];
    snprintf(want, sizeof want, "%s:3:2: invalid UTF-8", p);
    CHECK_HAS(csv_error(p), want);
    /* valid multi-byte text passes, also inside quotes */
    expect_csv(PUT("u8ok.csv", "a\ncafé\n\"日本\"\n"), "a:string\n<café>\n<日本>\n");
    p = PUT("u8q.csv", "a\n\"x\xC3\"\n");
    snprintf(want, sizeof want, "%s:2:1: invalid UTF-8", p);
    CHECK_HAS(csv_error(p), want);
}

static void t_ragged(void)
{
    expect_csv(PUT("rag.csv", "a,b,c\n1,2\n4,5,6\n7\n"), "a:int,b:int,c:int\n1|2|NULL\n4|5|6\n7|NULL|NULL\n");
    char *p = PUT("rag2.csv", "a,b\n1,2\n3,4,5\n");
    char want[600];
    snprintf(want, sizeof want, "%s:3:3: row has 3 fields but the header has 2", p);
    CHECK_STR(csv_error(p), want);
}

static void t_header_names(void)
{
    expect_csv(PUT("hn.csv", "a,a,,b,a\n1,2,3,4,5\n"), "a:int,a_2:int,column3:int,b:int,a_3:int\n1|2|3|4|5\n");
    ReadOptions o;
    read_options_init(&o, FMT_CSV);
    o.header = 0;
    expect(PUT("nh.csv", "1,x\n2,y,3\n"), &o, "column1:int,column2:string,column3:int\n1|<x>|NULL\n2|<y>|3\n");
}

static void t_tsv(void)
{
    ReadOptions o;
    read_options_init(&o, FMT_TSV);
    expect(PUT("t.tsv", "a\tb\n1\thello, world\n2\t\"q\tq\"\n"), &o, "a:int,b:string\n1|<hello, world>\n2|<q\tq>\n");
}

static void t_custom_delim_quote(void)
{
    ReadOptions o;
    read_options_init(&o, FMT_CSV);
    o.delimiter = ';';
    o.quote = '\'';
    expect(PUT("cd.csv", "a;b\n'x;y';'it''s'\n\"z\";2\n"), &o, "a:string,b:string\n<x;y>|<it's>\n<\"z\">|<2>\n");
    o.quote = 0;
    expect(PUT("nq.csv", "a;b\n\"x;y\"\n"), &o, "a:string,b:string\n<\"x>|<y\">\n");
}

static void t_blank_lines_and_cr(void)
{
    expect_csv(PUT("bl.csv", "a,b\n\n1,2\r\n\r\n3,4\r5,6\n"), "a:int,b:int\n1|2\n3|4\n5|6\n");
}

static void t_bad_after_quote(void)
{
    char *p = PUT("baq.csv", "a,b\n\"x\"y,2\n");
    char want[600];
    snprintf(want, sizeof want, "%s:2:1: unexpected character 'y'", p);
    CHECK_HAS(csv_error(p), want);
}

static void t_many_rows_and_big_field(void)
{
    /* rows straddle the 1 MB buffer; one field is larger than the buffer */
    Buf b;
    buf_init(&b);
    buf_puts(&b, "id,text\n");
    for (int i = 0; i < 100000; i++) buf_printf(&b, "%d,\"row %d, \"\"q\"\"\nline\"\n", i, i);
    buf_puts(&b, "100000,\"");
    for (int i = 0; i < 3 * 1024 * 1024; i++) buf_putc(&b, 'a' + i % 26);
    buf_puts(&b, "\"\n");
    ReadOptions o;
    read_options_init(&o, FMT_CSV);
    fql_error err;
    Table *t = load(put("many.csv", b.data, b.len), &o, &err);
    buf_free(&b);
    CHECK(t != NULL);
    if (!t) { fail("%s", err.message); return; }
    CHECK(t->nrows == 100001);
    CHECK(t->batches[0]->n == BATCH_ROWS);
    table_flatten(t);
    for (size_t r = 0; r < 100000; r += 777) {
        char want[64];
        snprintf(want, sizeof want, "row %zu, \"q\"\nline", r);
        Value id = table_get(t, r, 0), tx = table_get(t, r, 1);
        if (id.kind != V_INT || id.u.i != (int64_t)r || tx.kind != V_STRING || strcmp(v_str(tx), want) != 0) {
            fail("row %zu wrong", r);
            break;
        }
    }
    Value big = table_get(t, 100000, 1);
    CHECK(big.kind == V_STRING && v_strlen(big) == 3 * 1024 * 1024);
    table_free(t);
}

static void t_projection(void)
{
    ReadOptions o;
    read_options_init(&o, FMT_CSV);
    int proj[3] = { 0, 1, 0 };
    o.projection = proj;
    expect(PUT("proj.csv", "a,b,c\n1,x,2\n"), &o, "a:int,b:string,c:int\nNULL|<x>|NULL\n");
}

static void t_glob(void)
{
    PUT("g/a.csv", "k,v\n1,a\n");
    PUT("g/sub/b.csv", "k,v\n2,b\n");
    PUT("g/sub/deep/c.csv", "k,v\n3,c\n");
    PUT("g/sub/deep/skip.txt", "nope\n");
    PUT("g/.hidden/d.csv", "k,v\n9,z\n");
    char pat[600];
    snprintf(pat, sizeof pat, "%s/g/**/*.csv", dir);
    expect_csv(pat, "k:int,v:string\n1|<a>\n2|<b>\n3|<c>\n");
    char **paths;
    int n = io_glob(pat, &paths);
    CHECK(n == 3);
    if (n == 3) CHECK(strstr(paths[0], "g/a.csv") && strstr(paths[1], "g/sub/b.csv") && strstr(paths[2], "deep/c.csv"));
    for (int i = 0; i < n; i++) free(paths[i]);
    free(paths);
    snprintf(pat, sizeof pat, "%s/g/sub/?.csv", dir);
    expect_csv(pat, "k:int,v:string\n2|<b>\n");
    snprintf(pat, sizeof pat, "%s/g/[ab].csv", dir);
    expect_csv(pat, "k:int,v:string\n1|<a>\n");
    /* different headers */
    PUT("h/1.csv", "k,v\n1,a\n");
    PUT("h/2.csv", "k,w\n2,b\n");
    snprintf(pat, sizeof pat, "%s/h/*.csv", dir);
    const char *e = csv_error(pat);
    CHECK_HAS(e, "h/2.csv (k,w) differs from the header of");
    CHECK_HAS(e, "h/1.csv (k,v)");
    snprintf(pat, sizeof pat, "%s/nothing/*.csv", dir);
    CHECK_HAS(csv_error(pat), "no file matches");
    CHECK_HAS(csv_error(path_of("missing.csv")), "cannot open");
}

/* ---- writers ---- */

static Table *sample_table(void)
{
    Schema *s = schema_new();
    schema_add(s, "id", type_int());
    schema_add(s, "name", type_string());
    schema_add(s, "score", type_float());
    schema_add(s, "ok", type_bool());
    schema_add(s, "day", type_date());
    Table *t = table_new(s);
    Batch *b = batch_new(5, 4);
    Value r1[5] = { v_int(1), v_cstring("plain"), v_float(1.5), v_bool(1), v_date(19723) };
    Value r2[5] = { v_int(2), v_cstring("with, comma \"and\" quote\nnewline"), v_float(-0.25), v_bool(0), v_null() };
    Value r3[5] = { v_int(3), v_cstring(""), v_null(), v_null(), v_date(0) };
    Value r4[5] = { v_null(), v_null(), v_float(1e10), v_bool(1), v_date(-1) };
    batch_push_row(b, r1);
    batch_push_row(b, r2);
    batch_push_row(b, r3);
    batch_push_row(b, r4);
    table_add_batch(t, b);
    return t;
}

static int write_table(const char *p, FileFormat f, WriteMode m, const Table *t, fql_error *err)
{
    memset(err, 0, sizeof *err);
    Writer *w = writer_open(p, f, m, t->schema, err);
    if (!w) return -1;
    for (int i = 0; i < t->nbatches; i++)
        if (writer_write(w, t->batches[i], err) < 0) { writer_close(w, err); return -1; }
    return writer_close(w, err);
}

static void roundtrip(FileFormat f, const char *name)
{
    Table *t = sample_table();
    fql_error err;
    char *p = path_of(name);
    if (write_table(p, f, WRITE_OVERWRITE, t, &err) < 0) { fail("write: %s", err.message); table_free(t); return; }
    ReadOptions o;
    read_options_init(&o, f);
    Table *back = load(p, &o, &err);
    if (!back) { fail("read back: %s", err.message); table_free(t); return; }
    char *a = dump(t), *b = dump(back);
    CHECK_STR(b, a);
    free(a);
    free(b);
    table_free(t);
    table_free(back);
}

static void t_roundtrip_csv(void) { roundtrip(FMT_CSV, "out/rt.csv"); }
static void t_roundtrip_tsv(void) { roundtrip(FMT_TSV, "out/rt.tsv"); }
static void t_roundtrip_json(void) { roundtrip(FMT_JSON, "out/rt.json"); }
static void t_roundtrip_jsonl(void) { roundtrip(FMT_JSONL, "out/rt.jsonl"); }

static void t_write_csv_text(void)
{
    Table *t = sample_table();
    fql_error err;
    char *p = path_of("out/text.csv");
    CHECK(write_table(p, FMT_CSV, WRITE_OVERWRITE, t, &err) == 0);
    char *s = slurp(p);
    CHECK_STR(s, "id,name,score,ok,day\n"
                 "1,plain,1.5,true,2024-01-01\n"
                 "2,\"with, comma \"\"and\"\" quote\nnewline\",-0.25,false,\n"
                 "3,\"\",,,1970-01-01\n"
                 ",,10000000000.0,true,1969-12-31\n");
    free(s);
    table_free(t);
}

static void t_write_modes(void)
{
    Table *t = sample_table();
    fql_error err;
    char *p = path_of("modes/m.csv");
    CHECK(write_table(p, FMT_CSV, WRITE_ERROR, t, &err) == 0);
    CHECK(write_table(p, FMT_CSV, WRITE_ERROR, t, &err) < 0);
    char want[600];
    snprintf(want, sizeof want, "%s already exists; use mode: \"overwrite\" or \"append\"", p);
    CHECK_HAS(err.message, want);
    CHECK(write_table(p, FMT_CSV, WRITE_APPEND, t, &err) == 0);
    ReadOptions o;
    read_options_init(&o, FMT_CSV);
    Table *back = load(p, &o, &err);
    CHECK(back && back->nrows == 8);
    table_free(back);
    CHECK(write_table(p, FMT_CSV, WRITE_OVERWRITE, t, &err) == 0);
    back = load(p, &o, &err);
    CHECK(back && back->nrows == 4);
    table_free(back);
    /* append to a file whose header differs */
    char *q = PUT("modes/other.csv", "x,y\n1,2\n");
    CHECK(write_table(q, FMT_CSV, WRITE_APPEND, t, &err) < 0);
    CHECK_HAS(err.message, "header");
    /* append to a missing file creates it with a header */
    char *r = path_of("modes/new/fresh.csv");
    CHECK(write_table(r, FMT_CSV, WRITE_APPEND, t, &err) == 0);
    back = load(r, &o, &err);
    CHECK(back && back->nrows == 4);
    table_free(back);
    /* JSON and JSONL append */
    char *j = path_of("modes/m.json");
    CHECK(write_table(j, FMT_JSON, WRITE_ERROR, t, &err) == 0);
    CHECK(write_table(j, FMT_JSON, WRITE_APPEND, t, &err) == 0);
    read_options_init(&o, FMT_JSON);
    back = load(j, &o, &err);
    CHECK(back && back->nrows == 8);
    table_free(back);
    char *jl = path_of("modes/m.jsonl");
    CHECK(write_table(jl, FMT_JSONL, WRITE_APPEND, t, &err) == 0);
    CHECK(write_table(jl, FMT_JSONL, WRITE_APPEND, t, &err) == 0);
    read_options_init(&o, FMT_JSONL);
    back = load(jl, &o, &err);
    CHECK(back && back->nrows == 8);
    table_free(back);
    table_free(t);
}

static int rm_entry(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st; (void)flag; (void)ftw;
    return remove(p);
}

int main(void)
{
    char tmpl[] = "/tmp/fql_csv_test_XXXXXX";
    if (!mkdtemp(tmpl)) { perror("mkdtemp"); return 1; }
    snprintf(dir, sizeof dir, "%s", tmpl);

    run("basic", t_basic);
    run("quoted_commas", t_quoted_commas);
    run("doubled_quotes", t_doubled_quotes);
    run("embedded_newlines", t_embedded_newlines);
    run("crlf", t_crlf);
    run("bom", t_bom);
    run("no_trailing_newline", t_no_trailing_newline);
    run("empty_file", t_empty_file);
    run("header_only", t_header_only);
    run("empty_vs_quoted_empty", t_empty_vs_quoted_empty);
    run("inference", t_inference);
    run("floats", t_floats);
    run("explicit_schema", t_explicit_schema);
    run("inferred_mismatch", t_inferred_mismatch_large);
    run("unterminated_quote", t_unterminated_quote);
    run("invalid_utf8", t_invalid_utf8);
    run("ragged_rows", t_ragged);
    run("header_names", t_header_names);
    run("tsv", t_tsv);
    run("custom_delimiter_quote", t_custom_delim_quote);
    run("blank_lines_and_cr", t_blank_lines_and_cr);
    run("bad_after_quote", t_bad_after_quote);
    run("many_rows_and_big_field", t_many_rows_and_big_field);
    run("projection", t_projection);
    run("glob", t_glob);
    run("write_csv_text", t_write_csv_text);
    run("roundtrip_csv", t_roundtrip_csv);
    run("roundtrip_tsv", t_roundtrip_tsv);
    run("roundtrip_json", t_roundtrip_json);
    run("roundtrip_jsonl", t_roundtrip_jsonl);
    run("write_modes", t_write_modes);
    run("abandoned_write", t_abandoned_write);

    nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
