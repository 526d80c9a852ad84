/* main.c: the fql command line: run a script file, -c SOURCE, a script on standard input, the golden
 * test runner (--test), or the interactive shell on a terminal. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <signal.h>
#include <readline/readline.h>
#include <readline/history.h>
#include <jansson.h>
#include "session.h"

/* Ctrl-C: the first stops the running statement (completed model answers stay cached); a second
 * one ends the program. */
static fql_session *running;
static void on_sigint(int sig)
{
    (void)sig;
    if (running) fql_interrupt(running);
    signal(SIGINT, SIG_DFL);
}

static void usage(FILE *f)
{
    fputs("usage: fql [options] [FILE.fql]\n"
          "       fql -c 'SOURCE'\n"
          "       fql --test FILE.test... [--rewrite]\n"
          "\n"
          "Runs an FQL script (a file, -c text, or standard input) and prints each result.\n"
          "With no file on a terminal, starts an interactive shell.\n"
          "\n"
          "options:\n"
          "  -c SOURCE            run SOURCE\n"
          "  --format FMT         result format: table, csv, tsv, json, jsonl, markdown\n"
          "                       (default: table on a terminal, tsv-like table otherwise)\n"
          "  --max-rows N         print at most N rows of each result (table format)\n"
          "  --db PATH            state database (default .fql/state.db; :memory: for none)\n"
          "  --no-validate        do not check model keys before running\n"
          "  --no-cache           do not use the response cache\n"
          "  --schema-of NAME     print the JSON Schema of type NAME declared in FILE\n"
          "  --ast                print the syntax tree of FILE and exit\n"
          "  --test FILE...       run golden test files; --rewrite updates their expected output\n"
          "  --help, --version\n"
          "\n"
          "exit status: 0 success, 1 runtime or data error, 2 syntax or type error\n", f);
}

static char *read_all(FILE *f, size_t *len)
{
    Buf b;
    buf_init(&b);
    char tmp[65536];
    size_t k;
    while ((k = fread(tmp, 1, sizeof tmp, f)) > 0) buf_append(&b, tmp, k);
    *len = b.len;
    return buf_take(&b);
}

static void print_error(const fql_error *e)
{
    if (e->line > 0)
        fprintf(stderr, "%s:%d:%d: error: %s\n", e->file, e->line, e->column, e->message);
    else if (e->file[0])
        fprintf(stderr, "%s: error: %s\n", e->file, e->message);
    else
        fprintf(stderr, "fql: error: %s\n", e->message);
}

static int exit_code(const fql_error *e)
{
    if (e->code == FQL_ERR_PARSE || e->code == FQL_ERR_TYPE || e->code == FQL_ERR_INCOMPLETE) return 2;
    return 1;
}

/* The interactive shell: statements may span lines; a line is added until the parser no longer
 * reports "incomplete input". */
static int repl(fql_session *s)
{
    const char *home = getenv("HOME");
    char *hist = getenv("FQL_HISTORY") ? xstrdup(getenv("FQL_HISTORY")) : home ? xasprintf("%s/.fql_history", home) : NULL;
    if (hist) read_history(hist);
    printf("FQL %s: type a pipeline ending in ';', .help for help, .quit to leave\n", FQL_VERSION);
    Buf stmt;
    buf_init(&stmt);
    for (;;) {
        char *line = readline(stmt.len ? "  -> " : "fql> ");
        if (!line) { putchar('\n'); break; }
        if (stmt.len == 0 && line[0] == '.') {
            if (!strcmp(line, ".quit") || !strcmp(line, ".exit")) { free(line); break; }
            if (!strcmp(line, ".help"))
                puts("Type FQL statements ending in ';'. .quit leaves. See docs/ for the language.");
            else
                printf("unknown command %s (.help, .quit)\n", line);
            add_history(line);
            free(line);
            continue;
        }
        buf_puts(&stmt, line);
        buf_putc(&stmt, '\n');
        free(line);
        /* is it complete? parse it once without running */
        Src probe = { (char *)"<stdin>", NULL, stmt.data, stmt.len, NULL };
        fql_error err;
        memset(&err, 0, sizeof err);
        Node *prog = parse_program(&probe, &err);
        if (!prog && err.code == FQL_ERR_INCOMPLETE) continue;
        node_free(prog);
        const char *t = stmt.data;
        while (*t == ' ' || *t == '\n' || *t == '\t') t++;
        if (*t) {
            char *h = xstrdup(stmt.data);
            size_t hl = strlen(h);
            while (hl && h[hl - 1] == '\n') h[--hl] = 0;
            add_history(h);
            free(h);
            memset(&err, 0, sizeof err);
            if (fql_exec(s, stmt.data, "<stdin>", NULL, &err)) print_error(&err);
        }
        buf_clear(&stmt);
    }
    if (hist) { write_history(hist); free(hist); }
    buf_free(&stmt);
    return 0;
}

int main(int argc, char **argv)
{
    fql_options o;
    fql_options_init(&o);
    const char *code = NULL, *file = NULL, *schema_of = NULL;
    int test = 0, rewrite = 0, ast = 0;
    const char **tests = xcalloc((size_t)argc + 1, sizeof *tests);
    int ntests = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) { usage(stdout); free(tests); return 0; }
        if (!strcmp(a, "--version")) { printf("fql %s\n", FQL_VERSION); free(tests); return 0; }
        if (!strcmp(a, "-c") && i + 1 < argc) { code = argv[++i]; continue; }
        if (!strcmp(a, "--format") && i + 1 < argc) { o.format = argv[++i]; continue; }
        if (!strncmp(a, "--format=", 9)) { o.format = a + 9; continue; }
        if (!strcmp(a, "--db") && i + 1 < argc) { o.db_path = argv[++i]; continue; }
        if (!strcmp(a, "--max-rows") && i + 1 < argc) { o.max_rows = atoi(argv[++i]); continue; }
        if (!strcmp(a, "--no-validate")) { o.validate_keys = 0; continue; }
        if (!strcmp(a, "--no-cache")) { o.cache = 0; continue; }
        if (!strcmp(a, "--no-progress")) { o.progress = 0; continue; }
        if (!strcmp(a, "--schema-of") && i + 1 < argc) { schema_of = argv[++i]; continue; }
        if (!strcmp(a, "--ast")) { ast = 1; continue; }
        if (!strcmp(a, "--test")) { test = 1; continue; }
        if (!strcmp(a, "--rewrite")) { rewrite = 1; continue; }
        if (a[0] == '-' && a[1]) {
            fprintf(stderr, "fql: unknown option %s (try --help)\n", a);
            free(tests);
            return 2;
        }
        if (test) tests[ntests++] = a;
        else if (!file) file = a;
        else { fprintf(stderr, "fql: more than one script given (%s and %s)\n", file, a); free(tests); return 2; }
    }
    if (test) {
        if (ntests == 0) { fprintf(stderr, "fql: --test needs test files\n"); free(tests); return 2; }
        int failed = fql_test_files(tests, ntests, rewrite, stdout);
        free(tests);
        return failed ? 1 : 0;
    }
    free(tests);

    char *text = NULL;
    size_t len = 0;
    const char *name;
    if (code) { text = xstrdup(code); len = strlen(text); name = "<command line>"; }
    else if (file) {
        FILE *f = fopen(file, "rb");
        if (!f) { fprintf(stderr, "fql: error: cannot open %s\n", file); return 1; }
        text = read_all(f, &len);
        fclose(f);
        name = file;
    } else if (!isatty(0)) {
        text = read_all(stdin, &len);
        name = "<stdin>";
    } else name = NULL;

    if (text && memchr(text, 0, len)) {
        fprintf(stderr, "%s: error: the script contains a NUL byte\n", name);
        free(text);
        return 2;
    }
    fql_error err;
    if (ast) {
        if (!text) { fprintf(stderr, "fql: --ast needs a script\n"); return 2; }
        Src src = { (char *)name, NULL, text, len, NULL };
        memset(&err, 0, sizeof err);
        Node *prog = parse_program(&src, &err);
        if (!prog) { print_error(&err); free(text); return 2; }
        Buf b;
        buf_init(&b);
        node_dump(&b, prog, 0);
        fputs(b.data ? b.data : "", stdout);
        buf_free(&b);
        node_free(prog);
        free(text);
        return 0;
    }
    o.out = stdout;
    fql_session *s = fql_open(&o, &err);
    if (!s) { print_error(&err); free(text); return 1; }
    int rc = 0;
    if (schema_of) {
        if (!text) { fprintf(stderr, "fql: --schema-of needs a script that declares the type\n"); fql_close(s); return 2; }
        /* run the declarations, then print the type's schema */
        fql_options_init(&o);
        if (fql_exec(s, text, name, NULL, &err)) { print_error(&err); rc = exit_code(&err); }
        else {
            TypeDef *td = session_find_type(s, schema_of);
            if (!td) { fprintf(stderr, "fql: error: %s declares no type '%s'\n", name, schema_of); rc = 1; }
            else {
                json_t *j = type_json_schema(td->type);
                char *txt = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
                printf("%s\n", txt);
                free(txt);
                json_decref(j);
            }
        }
    } else if (text) {
        running = s;
        signal(SIGINT, on_sigint);
        if (fql_exec(s, text, name, NULL, &err)) { print_error(&err); rc = exit_code(&err); }
        signal(SIGINT, SIG_DFL);
        running = NULL;
    } else {
        rc = repl(s);
    }
    fql_close(s);
    free(text);
    return rc;
}
