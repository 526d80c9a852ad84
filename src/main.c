/* main.c: the fql command line: run a script file, -c SOURCE, a script on standard input, the golden
 * test runner (--test), or the interactive shell on a terminal. */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <signal.h>
#include "fql.h"
#include "shell.h"
#include "repl.h"
#include "mcp.h"

#ifdef __SANITIZE_ADDRESS__
/* Built with AddressSanitizer (make SANITIZE=address): the runtime's defaults for this program.
 * LeakSanitizer's tracking of dynamic TLS (intercept_tls_get_addr) misreads the blocks of
 * libraries loaded with dlopen (libcurl, the PDF and image plugins) on this glibc whenever a block
 * happens to start 16 bytes into a page, and its tracer then crashes at exit ("Tracer caught
 * signal 11", a known sanitizer bug: google/sanitizers#1322). Without it, leaks are still searched
 * from the heap, globals, stacks and static TLS: a pointer held only in a plugin's dynamic TLS
 * would be reported as a leak, never hidden. ASAN_OPTIONS still overrides it. Here, not in the
 * library, which exports only fql_ symbols (tests/run.sh sets it for the other test programs). */
__attribute__((visibility("default"), used)) const char *__asan_default_options(void);
const char *__asan_default_options(void) { return "intercept_tls_get_addr=0"; }
#endif

/* Ctrl-C: the first stops the running statement (completed model answers stay cached); a second
 * one ends the program. */
static fql_session *running;
static void on_sigint(int sig)
{
    (void)sig;
    if (running) fql_interrupt(running);
    signal(SIGINT, SIG_DFL);
}

/* The library's panic (memory ran out where no statement can report it): the program says so and
 * ends with status 1, as for any runtime error. */
static void on_panic(void *ud, const char *message)
{
    (void)ud;
    fprintf(stderr, "fql: error: %s\n", message);
    exit(1);
}

static void usage(FILE *f)
{
    fputs("usage: fql [options] [FILE.fql]\n"
          "       fql -c 'SOURCE'\n"
          "       fql --test FILE.test... [--rewrite]\n"
          "\n"
          "Runs an FQL script (a file, -c text, or standard input) and prints each result.\n"
          "With no file on a terminal, starts the interactive shell (see docs/repl.md).\n"
          "\n"
          "options:\n"
          "  -c SOURCE            run SOURCE\n"
          "  --shell              read standard input as the interactive shell does (dot commands,\n"
          "                       one statement at a time, errors do not stop it) even if it is\n"
          "                       not a terminal\n"
          "  --format FMT         result format: table, csv, tsv, json, jsonl, markdown\n"
          "                       (default: table on a terminal, tsv-like table otherwise)\n"
          "  --max-rows N         print at most N rows of each result (table format)\n"
          "  --db PATH            state database (default .fql/state.db; :memory: for none)\n"
          "  --no-validate        do not check model keys before running\n"
          "  --no-cache           do not use the response cache\n"
          "  --record FILE        write every model answer the run used to FILE (JSON lines)\n"
          "  --replay FILE        answer only from FILE (made by --record); send nothing, need no key\n"
          "  --offline            answer only from the state database's cache; send nothing\n"
          "  --report FILE.html   write an HTML report of the run (requests, cost, timeline,\n"
          "                       latencies, plan, slow and failed rows)\n"
          "  --query-id N         with --report and no script: the report of query N, from the\n"
          "                       state database\n"
          "  --partition I/N      read partition I of N (I from 0 to N-1) of every source; a writer\n"
          "                       given a folder writes part-I-of-N into it (set partition = \"I/N\")\n"
          "  --shared URL         share the models' limits with other fql processes through Redis\n"
          "                       (redis://HOST:PORT/DB; also FQL_SHARED, or set shared = \"...\")\n"
          "  --shared-fallback M  when Redis is lost: error (stop; the default) or local (pace each\n"
          "                       process at 1/N of the limits, with a warning)\n"
          "  --schema-of NAME     print the JSON Schema of type NAME declared in FILE\n"
          "  --ast                print the syntax tree of FILE and exit\n"
          "  --mcp                serve the pipeline fns of FILE as Model Context Protocol tools over\n"
          "                       standard input and output (JSON-RPC 2.0; see docs/reference.md)\n"
          "  --test FILE...       run golden test files; --rewrite updates their expected output\n"
          "  --help, --version\n"
          "\n"
          "exit status: 0 success, 1 runtime or data error, 2 syntax or type error\n", f);
}

/* The whole of f (NUL-terminated; *len without the NUL), or NULL when memory runs out. */
static char *read_all(FILE *f, size_t *len)
{
    size_t cap = 65536, n = 0, k;
    char *text = malloc(cap + 1);
    while (text && (k = fread(text + n, 1, cap - n, f)) > 0) {
        n += k;
        if (n == cap) {
            char *more = realloc(text, 2 * cap + 1);
            if (!more) { free(text); text = NULL; break; }
            text = more;
            cap *= 2;
        }
    }
    if (!text) { fputs("fql: error: out of memory reading the script\n", stderr); exit(1); }
    text[n] = 0;
    *len = n;
    return text;
}

static int exit_code(const fql_error *e)
{
    if (e->code == FQL_ERR_PARSE || e->code == FQL_ERR_TYPE || e->code == FQL_ERR_INCOMPLETE) return 2;
    return 1;
}

int main(int argc, char **argv)
{
    fql_set_panic(on_panic, NULL);
    /* The engine allocates and frees a batch's columns (hundreds of KB to MB) thousands of times a
     * statement. glibc's default hands each such block to mmap and back, and trims the heap's top
     * as soon as it is free, so every batch faulted its pages in again: a third of a group by's
     * time on 3M rows went to the kernel (bench/relational). Blocks up to 32 MB now come from the
     * heap, and up to 256 MB of free heap is kept for the next batch. The program's choice, not the
     * library's: an embedding program keeps its own malloc policy. */
    mallopt(M_MMAP_THRESHOLD, 32 << 20);
    mallopt(M_TRIM_THRESHOLD, 256 << 20);
    fql_options o;
    fql_options_init(&o);
    const char *code = NULL, *file = NULL, *schema_of = NULL, *shared = NULL, *shared_fallback = NULL, *partition = NULL;
    int test = 0, rewrite = 0, ast = 0, mcp = 0, shell = 0, max_rows_given = 0, offline = 0;
    const char *record = NULL, *replay = NULL, *report = NULL;
    long long query_id = 0;
    const char **tests = calloc((size_t)argc + 1, sizeof *tests);
    if (!tests) { fputs("fql: error: out of memory\n", stderr); return 1; }
    int ntests = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) { usage(stdout); free(tests); return 0; }
        if (!strcmp(a, "--version")) { printf("fql %s\n", FQL_VERSION); free(tests); return 0; }
        if (!strcmp(a, "-c") && i + 1 < argc) { code = argv[++i]; continue; }
        if (!strcmp(a, "--format") && i + 1 < argc) { o.format = argv[++i]; continue; }
        if (!strncmp(a, "--format=", 9)) { o.format = a + 9; continue; }
        if (!strcmp(a, "--db") && i + 1 < argc) { o.db_path = argv[++i]; continue; }
        if (!strcmp(a, "--max-rows") && i + 1 < argc) { o.max_rows = atoi(argv[++i]); max_rows_given = 1; continue; }
        if (!strcmp(a, "--no-validate")) { o.validate_keys = 0; continue; }
        if (!strcmp(a, "--no-cache")) { o.cache = 0; continue; }
        if (!strcmp(a, "--no-progress")) { o.progress = 0; continue; }
        if (!strcmp(a, "--partition") && i + 1 < argc) { partition = argv[++i]; continue; }
        if (!strncmp(a, "--partition=", 12)) { partition = a + 12; continue; }
        if (!strcmp(a, "--shared") && i + 1 < argc) { shared = argv[++i]; continue; }
        if (!strncmp(a, "--shared=", 9)) { shared = a + 9; continue; }
        if (!strcmp(a, "--shared-fallback") && i + 1 < argc) { shared_fallback = argv[++i]; continue; }
        if (!strncmp(a, "--shared-fallback=", 18)) { shared_fallback = a + 18; continue; }
        if (!strcmp(a, "--schema-of") && i + 1 < argc) { schema_of = argv[++i]; continue; }
        if (!strcmp(a, "--record") && i + 1 < argc) { record = argv[++i]; continue; }
        if (!strcmp(a, "--replay") && i + 1 < argc) { replay = argv[++i]; continue; }
        if (!strcmp(a, "--offline")) { offline = 1; continue; }
        if (!strcmp(a, "--report") && i + 1 < argc) { report = argv[++i]; continue; }
        if (!strcmp(a, "--query-id") && i + 1 < argc) {
            char *end;
            query_id = strtoll(argv[++i], &end, 10);
            if (*end || query_id <= 0) { fprintf(stderr, "fql: --query-id takes a query id (a positive number, from system.query_metrics)\n"); free(tests); return 2; }
            continue;
        }
        if (!strcmp(a, "--ast")) { ast = 1; continue; }
        if (!strcmp(a, "--mcp")) { mcp = 1; continue; }
        if (!strcmp(a, "--shell")) { shell = 1; continue; }
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
    if ((!!record + !!replay + offline) > 1) { fprintf(stderr, "fql: --record, --replay and --offline go one at a time\n"); return 2; }
    if (record && !o.cache) { fprintf(stderr, "fql: --record keeps the answers the response cache looks up and stores: drop --no-cache\n"); return 2; }
    if (query_id && !report) { fprintf(stderr, "fql: --query-id goes with --report FILE.html\n"); return 2; }
    if (query_id && (code || file)) { fprintf(stderr, "fql: --report with --query-id writes a past query's report: give no script\n"); return 2; }

    char *text = NULL;
    size_t len = 0;
    const char *name;
    if (code) { len = strlen(code); text = malloc(len + 1); if (!text) { fputs("fql: error: out of memory\n", stderr); return 1; } memcpy(text, code, len + 1); name = "<command line>"; }
    else if (file) {
        FILE *f = fopen(file, "rb");
        if (!f) { fprintf(stderr, "fql: error: cannot open %s\n", file); return 1; }
        text = read_all(f, &len);
        fclose(f);
        name = file;
    } else if (!isatty(0) && !shell && !query_id && !mcp) {   /* --query-id: a past report; --mcp: stdin is the protocol */
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
        int bad = shell_print_ast(stdout, name, text, len, &err);
        if (bad) repl_print_error(stderr, &err);
        free(text);
        return bad ? 2 : 0;
    }
    /* --mcp: standard output carries the protocol; what the script prints goes to standard error */
    if (mcp && !text) { fprintf(stderr, "fql: --mcp needs a script (fql --mcp FILE.fql) whose pipeline fns become the tools\n"); return 2; }
    o.out = mcp ? stderr : stdout;
    if (mcp) o.progress = 0;
    fql_session *s = fql_open(&o, &err);
    if (!s) { repl_print_error(stderr, &err); free(text); return 1; }
    /* the flags override FQL_SHARED / FQL_SHARED_FALLBACK (read by fql_open); a script's `set` overrides both */
    const char *const flag_names[2] = { "--shared-fallback", "--shared" }, *flag_vals[2] = { shared_fallback, shared };
    for (int k = 0; k < 2; k++) {
        char *msg = NULL;
        if (flag_vals[k] && shell_set_option_msg(s, k ? "shared" : "shared_fallback", flag_vals[k], &msg)) {
            const char *m = msg ? msg : "invalid value", *colon = strstr(m, ": ");
            if (!strncmp(m, "set ", 4) && colon) m = colon + 2;   /* "set shared: ..." names the setting, not the flag */
            fprintf(stderr, "fql: %s: %s\n", flag_names[k], m);
            free(msg);
            fql_close(s);
            free(text);
            return 2;
        }
        free(msg);
    }
    if (partition && shell_set_option(s, "partition", partition)) {
        fprintf(stderr, "fql: --partition takes I/N: partition I of N, I counted from 0 to N-1 (e.g. --partition 0/4 ... 3/4); got %s\n", partition);
        fql_close(s);
        free(text);
        return 2;
    }
    int rc = 0;
    char *msg = NULL;
    if (query_id) {   /* a past query's report, from the state database */
        if (shell_report(s, report, query_id, &msg)) { fprintf(stderr, "fql: error: %s\n", msg); rc = 1; }
        free(msg);
        fql_close(s);
        free(text);
        return rc;
    }
    if ((record || replay || offline) && shell_tape(s, record ? "record" : replay ? "replay" : "offline", record ? record : replay, &msg)) {
        fprintf(stderr, "fql: error: %s\n", msg);
        free(msg);
        fql_close(s);
        free(text);
        return 1;
    }
    if (schema_of) {
        if (!text) { fprintf(stderr, "fql: --schema-of needs a script that declares the type\n"); fql_close(s); return 2; }
        /* run the declarations, then print the type's schema */
        fql_options_init(&o);
        if (fql_exec(s, text, name, NULL, &err)) { repl_print_error(stderr, &err); rc = exit_code(&err); }
        else {
            char *txt = shell_type_schema(s, schema_of);
            if (!txt) { fprintf(stderr, "fql: error: %s declares no type '%s'\n", name, schema_of); rc = 1; }
            else printf("%s\n", txt);
            free(txt);
        }
    } else if (mcp) {
        if (fql_exec(s, text, name, NULL, &err)) { repl_print_error(stderr, &err); rc = exit_code(&err); }
        else rc = mcp_serve(s, stdin, stdout);
    } else if (text) {
        running = s;
        signal(SIGINT, on_sigint);
        if (fql_exec(s, text, name, NULL, &err)) { repl_print_error(stderr, &err); rc = exit_code(&err); }
        signal(SIGINT, SIG_DFL);
        running = NULL;
    } else {
        /* a terminal shows 40 rows of a long result (first and last) unless --max-rows says */
        if (isatty(0) && !max_rows_given) shell_set_option(s, "max_rows", "40");
        rc = repl_run(s, isatty(0));
    }
    /* written also after a failed statement: what ran is what the report and the record show */
    if (record && shell_tape_close(s, &msg)) { fprintf(stderr, "fql: error: %s\n", msg); rc = rc ? rc : 1; }
    free(msg);
    msg = NULL;
    if (report && shell_report(s, report, 0, &msg)) { fprintf(stderr, "fql: error: %s\n", msg); rc = rc ? rc : 1; }
    free(msg);
    fql_close(s);
    free(text);
    return rc;
}
