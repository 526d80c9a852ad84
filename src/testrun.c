/* testrun.c: the golden test runner (`fql --test FILE...`), in the spirit of sqllogictest and jq.test.
 *
 * A .test file holds records separated by blank lines. Each record is a header line, the FQL text,
 * and, after a `----` line, the expected output:
 *
 *   statement ok              the text runs without error (its results are not checked)
 *   statement error           the text fails; the lines after ---- must appear in the error text
 *   query [rowsort]           the text's last result, one row per line, columns separated by tabs,
 *                             null as NULL, an empty string as (empty); rowsort sorts the rows first
 *   explain                   the text is a pipeline; its plan (explain output) must match
 *
 * Lines starting with `#` between records are comments. All records of a file share one session, and
 * run with the file's directory as the current directory (so that csv("data.csv") finds its data).
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <limits.h>
#include <libgen.h>
#include "session.h"

Table *fql_result_table(const fql_result *r);

typedef struct Record {
    int line;                 /* 1-based line of the header */
    char *header;
    char *text;
    char *expected;           /* NULL when there is no ---- */
    int has_sep;
} Record;


/* explain analyze prints measured times ("3.2 ms"), which differ run to run: compare them as "_ ms". */
static void mask_times(char *s)
{
    char *w = s;
    for (char *r = s; *r;) {
        char *q = r;
        while ((*q >= '0' && *q <= '9') || *q == '.') q++;
        if (q > r && !strncmp(q, " ms", 3) && (r == s || r[-1] == ' ')) { *w++ = '_'; r = q; continue; }
        if (q > r) { while (r < q) *w++ = *r++; continue; }
        *w++ = *r++;
    }
    *w = 0;
}

static char **split_lines(char *data, int *n)
{
    int cap = 64;
    char **lines = xmalloc((size_t)cap * sizeof *lines);
    *n = 0;
    char *p = data;
    while (p && *p) {
        char *nl = strchr(p, '\n');
        if (nl) *nl = 0;
        size_t len = strlen(p);
        if (len && p[len - 1] == '\r') p[len - 1] = 0;
        if (*n == cap) { cap *= 2; lines = xrealloc(lines, (size_t)cap * sizeof *lines); }
        lines[(*n)++] = p;
        p = nl ? nl + 1 : NULL;
    }
    return lines;
}

static int blank(const char *s)
{
    while (*s == ' ' || *s == '\t') s++;
    return *s == 0;
}

/* Parse records. Returns count; *recs allocated. */
static int parse_records(char **lines, int n, Record **recs)
{
    int cap = 16, k = 0, i = 0;
    *recs = xcalloc((size_t)cap, sizeof **recs);
    while (i < n) {
        if (blank(lines[i]) || lines[i][0] == '#') { i++; continue; }
        if (k == cap) { cap *= 2; *recs = xrealloc(*recs, (size_t)cap * sizeof **recs); }
        Record *r = &(*recs)[k++];
        memset(r, 0, sizeof *r);
        r->line = i + 1;
        r->header = xstrdup(lines[i++]);
        Buf text, exp;
        buf_init(&text);
        buf_init(&exp);
        while (i < n && !blank(lines[i]) && strcmp(lines[i], "----")) {
            buf_puts(&text, lines[i++]);
            buf_putc(&text, '\n');
        }
        if (i < n && !strcmp(lines[i], "----")) {
            r->has_sep = 1;
            i++;
            while (i < n && !blank(lines[i])) {
                buf_puts(&exp, lines[i++]);
                buf_putc(&exp, '\n');
            }
        }
        r->text = buf_take(&text);
        r->expected = buf_take(&exp);
    }
    return k;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Render a result as test text. */
static char *render(const Table *t, int rowsort)
{
    size_t n = t ? t->nrows : 0;
    char **rows = xcalloc(n + 1, sizeof *rows);
    for (size_t r = 0; r < n; r++) {
        Buf b;
        buf_init(&b);
        for (int c = 0; c < t->schema->n; c++) {
            if (c) buf_putc(&b, '\t');
            Value v = table_get(t, r, c);
            if ((v.kind == V_STRING) && v_strlen(v) == 0) buf_puts(&b, "(empty)");
            else {
                size_t at = b.len;
                value_to_text(&b, v, "NULL");
                /* keep one row per line */
                for (size_t q = at; q < b.len; q++)
                    if (b.data[q] == '\n') b.data[q] = ' ';
            }
        }
        rows[r] = buf_take(&b);
    }
    if (rowsort) qsort(rows, n, sizeof *rows, cmp_str);
    Buf out;
    buf_init(&out);
    for (size_t r = 0; r < n; r++) {
        buf_puts(&out, rows[r]);
        buf_putc(&out, '\n');
        free(rows[r]);
    }
    free(rows);
    return buf_take(&out);
}

static char *format_error(const fql_error *e)
{
    if (e->line > 0) return xasprintf("%s:%d:%d: %s", e->file, e->line, e->column, e->message);
    if (e->file[0]) return xasprintf("%s: %s", e->file, e->message);
    return xstrdup(e->message);
}

/* Does every expected line occur in the error, in order? */
static int error_matches(const char *err, const char *expected)
{
    char *copy = xstrdup(expected), *save = NULL;
    const char *at = err;
    int ok = 1;
    for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        const char *f = strstr(at, line);
        if (!f) { ok = 0; break; }
        at = f + strlen(line);
    }
    free(copy);
    return ok;
}

static int run_file(const char *file, int rewrite, FILE *out, int *passed, int *failed)
{
    FILE *f = fopen(file, "rb");
    if (!f) {
        fprintf(out, "cannot open %s\n", file);
        (*failed)++;
        return -1;
    }
    Buf data;
    buf_init(&data);
    char tmp[65536];
    size_t k;
    while ((k = fread(tmp, 1, sizeof tmp, f)) > 0) buf_append(&data, tmp, k);
    fclose(f);
    if (!data.data) buf_puts(&data, "");
    int nlines;
    char **lines = split_lines(data.data, &nlines);
    Record *recs;
    int nrec = parse_records(lines, nlines, &recs);
    free(lines);

    char cwd[PATH_MAX], abs[PATH_MAX];
    if (!getcwd(cwd, sizeof cwd)) cwd[0] = 0;
    if (!realpath(file, abs)) snprintf(abs, sizeof abs, "%s", file);
    char dirbuf[PATH_MAX];
    snprintf(dirbuf, sizeof dirbuf, "%s", abs);
    char *dir = dirname(dirbuf);
    const char *base = strrchr(file, '/') ? strrchr(file, '/') + 1 : file;
    if (chdir(dir) != 0) { /* keep going in the current directory */ }

    fql_options o;
    fql_options_init(&o);
    o.db_path = ":memory:";
    o.validate_keys = 0;
    o.progress = 0;
    fql_error err;
    fql_session *s = fql_open(&o, &err);
    char **actuals = xcalloc((size_t)nrec + 1, sizeof *actuals);
    for (int i = 0; i < nrec; i++) {
        Record *r = &recs[i];
        fql_result *res = NULL;
        memset(&err, 0, sizeof err);
        /* an explain record holds the pipeline; the runner asks for its plan */
        char *text = !strncmp(r->header, "explain", 7) ? xasprintf("explain %s", r->text) : xstrdup(r->text);
        int rc = fql_exec(s, text, base, &res, &err);
        free(text);
        char *got = NULL;
        int ok;
        const char *what = "";
        if (!strncmp(r->header, "statement ok", 12)) {
            ok = rc == 0;
            if (!ok) { got = format_error(&err); what = "expected success, got an error"; }
        } else if (!strncmp(r->header, "statement error", 15)) {
            if (rc == 0) { ok = 0; what = "expected an error, but the statement succeeded"; got = xstrdup("(no error)\n"); }
            else {
                got = format_error(&err);
                ok = error_matches(got, r->expected);
                what = "error text differs";
                if (rewrite && !ok) {
                    /* keep the first line of the message (without the caret) as the new expectation */
                    char *nl = strchr(err.message, '\n');
                    actuals[i] = nl ? xstrndup(err.message, (size_t)(nl - err.message)) : xstrdup(err.message);
                    char *withnl = xasprintf("%s\n", actuals[i]);
                    free(actuals[i]);
                    actuals[i] = withnl;
                }
            }
        } else if (!strncmp(r->header, "query", 5) || !strncmp(r->header, "explain", 7)) {
            if (rc != 0) { ok = 0; got = format_error(&err); what = "query failed"; }
            else {
                got = render(fql_result_table(res), strstr(r->header, "rowsort") != NULL);
                if (!strncmp(r->header, "explain", 7) || strstr(r->text, "explain analyze")) mask_times(got);
                ok = !strcmp(got, r->expected);
                what = "result differs";
                if (rewrite) actuals[i] = xstrdup(got);
            }
        } else {
            ok = 0;
            what = "unknown record header (statement ok, statement error, query [rowsort], explain)";
        }
        fql_result_free(res);
        if (ok) (*passed)++;
        else {
            (*failed)++;
            fprintf(out, "Test #%d at %s:%d: %s\n", i + 1, file, r->line, what);
            fprintf(out, "  %s", r->text);
            if (r->expected && r->expected[0]) fprintf(out, "  expected:\n%s", r->expected);
            if (got) fprintf(out, "  got:\n%s%s", got, got[0] && got[strlen(got) - 1] == '\n' ? "" : "\n");
        }
        free(got);
    }
    fql_close(s);
    if (cwd[0] && chdir(cwd) != 0) { /* nothing to do */ }

    if (rewrite) {
        Buf o2;
        buf_init(&o2);
        /* Rewrite: regenerate the file from its records, replacing expected outputs. Comments
         * are kept only where they precede a record (the common layout). */
        FILE *rf = fopen(file, "rb");
        Buf orig;
        buf_init(&orig);
        while (rf && (k = fread(tmp, 1, sizeof tmp, rf)) > 0) buf_append(&orig, tmp, k);
        if (rf) fclose(rf);
        int nl2;
        char *origdata = orig.data ? orig.data : xstrdup("");
        char **l2 = split_lines(origdata, &nl2);
        int ri = 0;
        for (int li = 0; li < nl2;) {
            if (ri < nrec && li + 1 == recs[ri].line) {
                Record *r = &recs[ri];
                buf_printf(&o2, "%s\n%s", r->header, r->text);
                /* skip the original record's lines */
                li++;
                while (li < nl2 && !blank(l2[li]) && strcmp(l2[li], "----")) li++;
                if (li < nl2 && !strcmp(l2[li], "----")) {
                    li++;
                    while (li < nl2 && !blank(l2[li])) li++;
                }
                const char *exp = actuals[ri] ? actuals[ri] : r->expected;
                if (r->has_sep || actuals[ri]) buf_printf(&o2, "----\n%s", exp ? exp : "");
                ri++;
                continue;
            }
            buf_printf(&o2, "%s\n", l2[li]);
            li++;
        }
        free(l2);
        if (origdata != orig.data) free(origdata);
        buf_free(&orig);
        FILE *wf = fopen(file, "wb");
        if (wf) { fwrite(o2.data, 1, o2.len, wf); fclose(wf); }
        buf_free(&o2);
    }
    for (int i = 0; i < nrec; i++) {
        free(recs[i].header); free(recs[i].text); free(recs[i].expected); free(actuals[i]);
    }
    free(actuals);
    free(recs);
    buf_free(&data);
    return 0;
}

FQL_API int fql_test_files(const char *const *files, int nfiles, int rewrite, void *outp)
{
    FILE *out = outp ? (FILE *)outp : stdout;
    int passed = 0, failed = 0;
    for (int i = 0; i < nfiles; i++) run_file(files[i], rewrite, out, &passed, &failed);
    fprintf(out, "%d passed, %d failed\n", passed, failed);
    fflush(out);
    return failed;
}
