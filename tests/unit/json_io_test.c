/* json_io_test.c: the json and jsonl readers (schema inference, nesting, errors).
 *
 * Prints `ok NAME` or `FAIL NAME: reason` per test and a closing `N passed, M failed`; exits
 * nonzero when a test fails. Files live in a mkdtemp directory removed at the end.
 */
#include <ftw.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "io.h"

static char dir[256];
static int passed, failed, cur_failed;
static char why[2048];

static void fail(const char *fmt, ...)
{
    if (cur_failed) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    cur_failed = 1;
}

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

static char *put(const char *name, const char *data)
{
    static char p[4][512];
    static int k;
    k = (k + 1) % 4;
    snprintf(p[k], sizeof p[k], "%s/%s", dir, name);
    FILE *f = fopen(p[k], "wb");
    fputs(data, f);
    fclose(f);
    return p[k];
}

/* Read a file and dump "name:type,..." then one row per line (cells as JSON, '|' between). On
 * error returns "ERROR FILE:LINE:COL: message". Caller frees. */
static char *read_dump(const char *path, FileFormat f, const Schema *schema)
{
    ReadOptions o;
    read_options_init(&o, f);
    o.schema = schema;
    fql_error err;
    memset(&err, 0, sizeof err);
    Buf b;
    buf_init(&b);
    Reader *r = reader_open(path, &o, &err);
    if (r) {
        const Schema *s = reader_schema(r);
        for (int c = 0; c < s->n; c++) {
            char *tn = type_to_string(s->types[c]);
            buf_printf(&b, "%s%s:%s", c ? "," : "", s->names[c], tn);
            free(tn);
        }
        buf_putc(&b, '\n');
        Batch *bt;
        int rc;
        while ((rc = reader_next(r, &bt, &err)) == 1) {
            for (size_t i = 0; i < bt->n; i++) {
                for (int c = 0; c < bt->ncols; c++) {
                    if (c) buf_putc(&b, '|');
                    value_to_json(&b, bt->cols[c][i]);
                }
                buf_putc(&b, '\n');
            }
            batch_free(bt);
        }
        reader_free(r);
        if (rc == 0) return buf_take(&b);
    }
    buf_clear(&b);
    buf_printf(&b, "ERROR %s:%d:%d: %s", err.file, err.line, err.column, err.message);
    return buf_take(&b);
}

static void t_json_basic(void)
{
    char *d = read_dump(put("a.json", "[{\"id\": 1, \"name\": \"x\", \"ok\": true},\n {\"id\": 2, \"score\": 1.5, \"name\": null}]"), FMT_JSON, NULL);
    CHECK_STR(d, "id:int,name:string,ok:bool,score:float\n1|\"x\"|true|null\n2|null|null|1.5\n");
    free(d);
    d = read_dump(put("e.json", "[]"), FMT_JSON, NULL);
    CHECK_STR(d, "\n");
    free(d);
}

static void t_json_types(void)
{
    char *d = read_dump(put("t.json",
        "[{\"n\": 1, \"tags\": [\"a\"], \"o\": {\"x\": 1}, \"m\": 1, \"d\": \"2024-01-02\", \"ts\": \"2024-01-02 03:04:05\", \"nul\": null},"
        " {\"n\": 2.5, \"tags\": [], \"o\": {\"y\": \"s\", \"x\": 2.5}, \"m\": \"text\", \"d\": \"2024-02-03\", \"ts\": \"2024-01-02\"}]"), FMT_JSON, NULL);
    CHECK_STR(d, "n:float,tags:[string],o:{x: float, y: string},m:json,d:date,ts:timestamp,nul:string\n"
                 "1.0|[\"a\"]|{\"x\":1.0,\"y\":null}|1|\"2024-01-02\"|\"2024-01-02 03:04:05\"|null\n"
                 "2.5|[]|{\"x\":2.5,\"y\":\"s\"}|\"text\"|\"2024-02-03\"|\"2024-01-02 00:00:00\"|null\n");
    free(d);
}

static void t_json_errors(void)
{
    char *p = put("bad.json", "[{\"a\": 1},\n {\"a\": }]");
    char *d = read_dump(p, FMT_JSON, NULL);
    char want[700];
    snprintf(want, sizeof want, "ERROR %s:2:", p);
    CHECK_HAS(d, want);
    CHECK_HAS(d, "invalid JSON");
    free(d);
    d = read_dump(put("obj.json", "{\"a\": 1}"), FMT_JSON, NULL);
    CHECK_HAS(d, "one array of objects");
    free(d);
    d = read_dump(put("notobj.json", "[{\"a\": 1}, 3]"), FMT_JSON, NULL);
    CHECK_HAS(d, "item 2 of the array is not an object");
    free(d);
}

/* blank lines (also with spaces), CRLF and a last line without a newline */
static void t_jsonl(void)
{
    char *d = read_dump(put("a.jsonl", "{\"a\": 1, \"b\": \"x\"}\n\n   \n{\"b\": \"y\", \"c\": [1, 2.5]}\r\n{\"a\": 3}"), FMT_JSONL, NULL);
    CHECK_STR(d, "a:int,b:string,c:[float]\n1|\"x\"|null\nnull|\"y\"|[1.0,2.5]\n3|null|null\n");
    free(d);
}

static void t_jsonl_rows(void)
{
    char *d = read_dump(put("r.jsonl", "{\"a\": 1, \"b\": \"x\"}\n\n{\"b\": \"y\", \"c\": [1, 2.5]}\n{\"a\": 3}\n"), FMT_JSONL, NULL);
    CHECK_STR(d, "a:int,b:string,c:[float]\n1|\"x\"|null\nnull|\"y\"|[1.0,2.5]\n3|null|null\n");
    free(d);
}

static void t_jsonl_bad_line(void)
{
    char *p = put("bad.jsonl", "{\"a\": 1}\n\n{\"a\": 2,, }\n");
    char *d = read_dump(p, FMT_JSONL, NULL);
    char want[700];
    snprintf(want, sizeof want, "ERROR %s:3:9: invalid JSON", p);
    CHECK_HAS(d, want);
    free(d);
    d = read_dump(put("arr.jsonl", "[1, 2]\n"), FMT_JSONL, NULL);
    CHECK_HAS(d, "one object");
    free(d);
}

static void t_json_explicit_schema(void)
{
    Schema *s = schema_new();
    schema_add(s, "a", type_int());
    schema_add(s, "extra", type_string());
    char *d = read_dump(put("s.jsonl", "{\"a\": 1}\n{\"a\": \"7\"}\n"), FMT_JSONL, s);
    CHECK_STR(d, "a:int,extra:string\n1|null\n7|null\n");
    free(d);
    char *p = put("s2.jsonl", "{\"a\": 1}\n{\"a\": \"seven\"}\n");
    d = read_dump(p, FMT_JSONL, s);
    char want[700];
    snprintf(want, sizeof want, "ERROR %s:2:1: column 'a': expected an integer, got a string (schema says int)", p);
    CHECK_STR(d, want);
    free(d);
    schema_free(s);
}

static int rm_entry(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st; (void)flag; (void)ftw;
    return remove(p);
}

int main(void)
{
    char tmpl[] = "/tmp/fql_json_test_XXXXXX";
    if (!mkdtemp(tmpl)) { perror("mkdtemp"); return 1; }
    snprintf(dir, sizeof dir, "%s", tmpl);
    run("json_basic", t_json_basic);
    run("json_types", t_json_types);
    run("json_errors", t_json_errors);
    run("jsonl", t_jsonl);
    run("jsonl_rows", t_jsonl_rows);
    run("jsonl_bad_line", t_jsonl_bad_line);
    run("json_explicit_schema", t_json_explicit_schema);
    nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
