/* print_test.c: print_table in every format (boxed table widths, cutting, alignment, footers).
 *
 * Prints `ok NAME` or `FAIL NAME: reason` per test and a closing `N passed, M failed`.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "io.h"

static int passed, failed, cur_failed;
static char why[4096];

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

static void run(const char *name, void (*fn)(void))
{
    cur_failed = 0;
    fn();
    if (cur_failed) { printf("FAIL %s: %s\n", name, why); failed++; }
    else { printf("ok %s\n", name); passed++; }
    fflush(stdout);
}

/* id int, name string, score float; n rows: (i, name_i, i / 2) with a null and odd texts */
static Table *make(int n)
{
    Schema *s = schema_new();
    schema_add(s, "id", type_int());
    schema_add(s, "name", type_string());
    schema_add(s, "score", type_float());
    Table *t = table_new(s);
    Batch *b = batch_new(3, 4);
    for (int i = 1; i <= n; i++) {
        char name[32];
        snprintf(name, sizeof name, "n%d", i);
        Value row[3] = { v_int(i), v_cstring(name), v_float(i / 2.0) };
        if (i == 2) { value_free(row[1]); row[1] = v_null(); }
        batch_push_row(b, row);
    }
    table_add_batch(t, b);
    return t;
}

static char *render(const Table *t, FileFormat f, int max_width, int term_width, size_t max_rows)
{
    char *s = NULL;
    size_t n = 0;
    FILE *out = open_memstream(&s, &n);
    PrintOptions o;
    print_options_init(&o);
    o.format = f;
    if (max_width >= 0) o.max_width = max_width;
    o.term_width = term_width;
    o.max_rows = max_rows;
    print_table(out, t, &o);
    fclose(out);
    return s;
}

static void check(const Table *t, FileFormat f, int mw, int tw, size_t mr, const char *want)
{
    char *got = render(t, f, mw, tw, mr);
    CHECK_STR(got, want);
    free(got);
}

static void t_box(void)
{
    Table *t = make(3);
    check(t, FMT_TABLE, -1, 0, 0,
          "┌────┬──────┬───────┐\n"
          "│ id │ name │ score │\n"
          "├────┼──────┼───────┤\n"
          "│  1 │ n1   │   0.5 │\n"
          "│  2 │ NULL │   1.0 │\n"
          "│  3 │ n3   │   1.5 │\n"
          "└────┴──────┴───────┘\n"
          "3 rows\n");
    table_free(t);
    t = make(1);
    char *got = render(t, FMT_TABLE, -1, 0, 0);
    if (!strstr(got, "\n1 row\n")) fail("footer: %s", got);
    free(got);
    table_free(t);
}

static void t_box_cut_and_unicode(void)
{
    Schema *s = schema_new();
    schema_add(s, "text", type_string());
    Table *t = table_new(s);
    Batch *b = batch_new(1, 2);
    Value r1[1] = { v_cstring("abcdefghij") };
    Value r2[1] = { v_cstring("日本語\nok") };
    batch_push_row(b, r1);
    batch_push_row(b, r2);
    table_add_batch(t, b);
    check(t, FMT_TABLE, 6, 0, 0,
          "┌────────┐\n"
          "│ text   │\n"
          "├────────┤\n"
          "│ abcde… │\n"
          "│ 日本…  │\n"
          "└────────┘\n"
          "2 rows\n");
    table_free(t);
}

static void t_box_max_rows_and_width(void)
{
    Table *t = make(10);
    check(t, FMT_TABLE, -1, 0, 4,
          "┌────┬──────┬───────┐\n"
          "│ id │ name │ score │\n"
          "├────┼──────┼───────┤\n"
          "│  1 │ n1   │   0.5 │\n"
          "│  2 │ NULL │   1.0 │\n"
          "│  ⋮ │ ⋮    │     ⋮ │\n"
          "│  9 │ n9   │   4.5 │\n"
          "│ 10 │ n10  │   5.0 │\n"
          "└────┴──────┴───────┘\n"
          "10 rows (4 shown)\n");
    check(t, FMT_TABLE, -1, 14, 2,
          "┌────┬──────┐\n"
          "│ id │ name │\n"
          "├────┼──────┤\n"
          "│  1 │ n1   │\n"
          "│  ⋮ │ ⋮    │\n"
          "│ 10 │ n10  │\n"
          "└────┴──────┘\n"
          "10 rows (2 shown) (1 column not shown)\n");
    table_free(t);
}

static void t_text_formats(void)
{
    Table *t = make(2);
    check(t, FMT_CSV, -1, 0, 0, "id,name,score\n1,n1,0.5\n2,,1.0\n");
    check(t, FMT_TSV, -1, 0, 0, "id\tname\tscore\n1\tn1\t0.5\n2\t\t1.0\n");
    check(t, FMT_JSON, -1, 0, 0, "[\n{\"id\": 1, \"name\": \"n1\", \"score\": 0.5},\n{\"id\": 2, \"name\": null, \"score\": 1.0}\n]\n");
    check(t, FMT_JSONL, -1, 0, 0, "{\"id\": 1, \"name\": \"n1\", \"score\": 0.5}\n{\"id\": 2, \"name\": null, \"score\": 1.0}\n");
    check(t, FMT_MARKDOWN, -1, 0, 0, "| id | name | score |\n| ---: | --- | ---: |\n| 1 | n1 | 0.5 |\n| 2 | NULL | 1.0 |\n");
    table_free(t);
    t = make(0);
    check(t, FMT_JSON, -1, 0, 0, "[]\n");
    check(t, FMT_TABLE, -1, 0, 0,
          "┌────┬──────┬───────┐\n│ id │ name │ score │\n├────┼──────┼───────┤\n└────┴──────┴───────┘\n0 rows\n");
    table_free(t);
    Schema *s = schema_new();
    schema_add(s, "a|b", type_string());
    t = table_new(s);
    Batch *b = batch_new(1, 1);
    Value r[1] = { v_cstring("x|y\nz") };
    batch_push_row(b, r);
    table_add_batch(t, b);
    check(t, FMT_MARKDOWN, -1, 0, 0, "| a\\|b |\n| --- |\n| x\\|y<br>z |\n");
    check(t, FMT_CSV, -1, 0, 0, "a|b\n\"x|y\nz\"\n");
    table_free(t);
}

int main(void)
{
    run("box", t_box);
    run("box_cut_and_unicode", t_box_cut_and_unicode);
    run("box_max_rows_and_width", t_box_max_rows_and_width);
    run("text_formats", t_text_formats);
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
