/* repl.c: the interactive shell: `fql` with no script on a terminal (or `fql --shell`).
 *
 * Lines are collected into a statement until the parser no longer reports "incomplete input" and
 * the statement ends with ';' (so a pipeline may go on with `| stage` on the next line); a syntax
 * error that no further input could fix is shown at once. A line starting with '.' where a
 * statement would start is a dot command (.mode, .timer, .schema, ...).
 *
 * Lines are read with readline's callback interface: the signal handler only sets a flag, and
 * Ctrl-C is dealt with in the read loop, outside any readline callback and without longjmp. While
 * a statement runs, Ctrl-C calls fql_interrupt(); the shell itself never ends on it.
 *
 * Completion asks the library (shell_complete) for what fits where the word starts: the keywords
 * the parser accepts there and, where a name may come, sources after `from`, model aliases after
 * `model`, types where a type goes, otherwise the columns of the pipeline typed so far (its text up
 * to the last complete stage, bound without running) and functions.
 *
 * The shell is a client of the library like any embedding program: it uses include/fql.h and
 * shell.h (plain data: names through a callback, settings as text), never a struct of the library.
 * tests/cli/run.sh checks that (the headers it includes, the symbols repl.o needs).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <errno.h>
#include <signal.h>
#include <fcntl.h>
#include <unistd.h>
#include <time.h>
#include <sys/select.h>
#include <sys/resource.h>
#include <readline/readline.h>
#include <readline/history.h>
#include <stdarg.h>
#include "fql.h"
#include "shell.h"
#include "repl.h"

#define PROMPT       "fql> "
#define PROMPT_MORE  "  -> "
#define HISTORY_MAX  1000
#define STDIN_NAME   "<stdin>"

/* Text that grows (the statement typed so far, a script read by .read); NUL-terminated at len. */
typedef struct Text { char *data; size_t len, cap; } Text;

typedef struct Shell {
    fql_session *s;
    int interactive;          /* a terminal: prompts, readline, history, completion */
    char *history;            /* the history file, or NULL for none */
    int timer;                /* .timer on */
    FILE *file;               /* .output FILE, or NULL while results go to stdout */
    Text stmt;                /* the statement typed so far, line by line */
    long line, stmt_line;     /* lines read; the line the statement began on */
    int failed, quit;
    ShellCompleter *completer;   /* completion state (the pipelines bound lately), or NULL */
} Shell;

/* Readline's callbacks and the signal handler take no argument: they reach the shell here. */
static Shell *shell;
static volatile sig_atomic_t got_sigint, got_winch, got_tstp, sigint_ends;   /* sigint_ends: not interactive */
static fql_session *volatile running;   /* the session running a statement, for Ctrl-C */

/* ---- memory and text ---- */

/* p, or the end of the program when memory ran out (the shell is a program, not the library). */
static void *must(void *p)
{
    if (!p) { fputs("fql: out of memory\n", stderr); exit(1); }
    return p;
}

static char *dup_n(const char *s, size_t n) { return must(strndup(s, n)); }

static char *dup_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *dup_printf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = NULL;
    int n = vasprintf(&s, fmt, ap);
    va_end(ap);
    return must(n < 0 ? NULL : s);
}

static void text_append(Text *t, const char *s, size_t n)
{
    if (t->len + n + 1 > t->cap) {
        size_t cap = t->cap ? t->cap : 256;
        while (cap < t->len + n + 1) cap *= 2;
        t->data = must(realloc(t->data, cap));
        t->cap = cap;
    }
    memcpy(t->data + t->len, s, n);
    t->len += n;
    t->data[t->len] = 0;
}

static void text_puts(Text *t, const char *s) { text_append(t, s, strlen(s)); }
static void text_clear(Text *t) { t->len = 0; if (t->data) t->data[0] = 0; }
static void text_free(Text *t) { free(t->data); memset(t, 0, sizeof *t); }

void repl_print_error(FILE *f, const fql_error *e)
{
    if (e->line > 0) fprintf(f, "%s:%d:%d: error: %s\n", e->file, e->line, e->column, e->message);
    else if (e->file[0]) fprintf(f, "%s: error: %s\n", e->file, e->message);
    else fprintf(f, "fql: error: %s\n", e->message);
}

/* An error of the shell or of a statement typed at it. Typed statements are their own source text,
 * so on a terminal the place is the quoted line and caret alone; reading a file (--shell), the line
 * is counted from the start of the input (an error with no place gets the statement's line). */
static void shell_error(Shell *sh, const fql_error *e)
{
    int typed = !strcmp(e->file, STDIN_NAME);
    if (sh->interactive && (typed || !e->file[0])) { fprintf(stderr, "error: %s\n", e->message); return; }
    if (!e->file[0]) { fprintf(stderr, "%s:%ld: error: %s\n", STDIN_NAME, sh->stmt_line, e->message); return; }
    fql_error c = *e;
    if (typed && c.line > 0) c.line += (int)sh->stmt_line - 1;
    repl_print_error(stderr, &c);
}

/* An error of the shell itself (a dot command): about the line just read. Returns -1. */
static int shell_fail(Shell *sh, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int shell_fail(Shell *sh, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (sh->interactive) fputs("error: ", stderr);
    else fprintf(stderr, "%s:%ld:1: error: ", STDIN_NAME, sh->line);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    sh->failed = 1;
    return -1;
}

/* ---- signals ---- */

static void on_signal(int sig)
{
    if (sig == SIGWINCH) { got_winch = 1; return; }
    if (sig == SIGTSTP) { got_tstp = 1; return; }
    got_sigint = 1;
    if (running) fql_interrupt(running);
    else if (sigint_ends) {
        /* reading a file: Ctrl-C ends the program, as it does for a script */
        signal(SIGINT, SIG_DFL);
        raise(SIGINT);
    }
}

/* Send sig to on_signal (old, if not NULL, receives what was there). */
static void catch_signal(int sig, struct sigaction *old)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    /* file reads resume after the handler; select() in read_line still returns EINTR (it is never
     * restarted), which is how a key like Ctrl-C at the prompt is noticed */
    sa.sa_flags = SA_RESTART;
    sigaction(sig, &sa, old);
}

/* ---- reading lines ---- */

static char *rl_got_line;
static int rl_got;

static void on_line(char *line)
{
    rl_got_line = line;
    rl_got = 1;
    rl_callback_handler_remove();    /* the next prompt is shown when the shell asks for a line */
}

/* Ctrl-C while typing: show it, then drop the line and any half-done readline command. */
static void cancel_line(void)
{
    rl_point = rl_end;
    rl_redisplay();
    fputs("^C\n", rl_outstream);
    fflush(rl_outstream);
    rl_free_line_state();
    rl_callback_sigcleanup();
    rl_replace_line("", 0);
    rl_callback_handler_remove();
}

/* Ctrl-Z at the prompt: give the terminal back as the parent shell had it, stop, and on `fg` take
 * it again with the line as it was. (Readline's own handling is off, see readline_setup.) */
static void suspend(const char *prompt)
{
    char *text = rl_copy_text(0, rl_end);
    int point = rl_point;
    rl_callback_handler_remove();
    fputc('\n', rl_outstream);
    fflush(rl_outstream);
    struct sigaction dfl, ours;
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    sigemptyset(&dfl.sa_mask);
    sigaction(SIGTSTP, &dfl, &ours);
    raise(SIGTSTP);                         /* stopped here until continued */
    sigaction(SIGTSTP, &ours, NULL);
    rl_callback_handler_install(prompt, on_line);
    rl_insert_text(text);
    rl_point = point;
    rl_redisplay();
    free(text);
}

/* Read one line into *line (caller frees; no newline). Returns 1, 0 at the end of input, -1 when
 * Ctrl-C cancelled it. Ctrl-Z suspends the shell while it waits here (while a statement runs, the
 * default action stops it as any program). */
static int read_line(Shell *sh, const char *prompt, char **line)
{
    *line = NULL;
    if (!sh->interactive) {
        size_t cap = 0;
        ssize_t n = getline(line, &cap, stdin);
        if (n < 0) { free(*line); *line = NULL; return 0; }
        while (n > 0 && ((*line)[n - 1] == '\n' || (*line)[n - 1] == '\r')) (*line)[--n] = 0;
        sh->line++;
        return 1;
    }
    got_sigint = got_tstp = 0;
    rl_got = 0;
    rl_got_line = NULL;
    struct sigaction old_tstp;
    catch_signal(SIGTSTP, &old_tstp);
    rl_callback_handler_install(prompt, on_line);
    int r = 1;
    while (!rl_got) {
        fd_set fds;
        FD_ZERO(&fds);
        FD_SET(STDIN_FILENO, &fds);
        int n = select(STDIN_FILENO + 1, &fds, NULL, NULL, NULL);
        if (got_winch) { got_winch = 0; rl_resize_terminal(); }
        if (got_tstp) { got_tstp = 0; suspend(prompt); continue; }
        if (got_sigint) { cancel_line(); r = -1; break; }
        if (n < 0 && errno != EINTR) { rl_callback_handler_remove(); r = 0; break; }
        if (n > 0) rl_callback_read_char();
    }
    sigaction(SIGTSTP, &old_tstp, NULL);
    if (r <= 0) return r;
    *line = rl_got_line;
    sh->line++;
    return *line ? 1 : 0;
}

/* ---- history ---- */

static void history_open(Shell *sh)
{
    const char *env = getenv("FQL_HISTORY"), *home = getenv("HOME");
    if (env) sh->history = *env ? dup_n(env, strlen(env)) : NULL;          /* FQL_HISTORY= (empty) keeps none */
    else sh->history = home && *home ? dup_printf("%s/.fql_history", home) : NULL;
    /* Each entry is written after a "#TIME" line, so an entry may span lines (a multi-line
     * statement comes back as one). */
    history_comment_char = '#';
    history_write_timestamps = 1;
    history_multiline_entries = 1;
    stifle_history(HISTORY_MAX);
    if (sh->history) read_history(sh->history);
}

/* Remember an entry: in memory for Up/Ctrl-R, and appended to the file at once (so a crash or two
 * shells at a time lose nothing). The same entry twice in a row is kept once. */
static void history_remember(Shell *sh, const char *text)
{
    size_t n = strlen(text);
    while (n > 0 && strchr(" \t\r\n", text[n - 1])) n--;
    if (!sh->interactive || n == 0) return;
    char *entry = dup_n(text, n);
    HIST_ENTRY *last = history_length > 0 ? history_get(history_base + history_length - 1) : NULL;
    if (!last || strcmp(last->line, entry)) {
        add_history(entry);
        if (sh->history) {
            int fd = open(sh->history, O_WRONLY | O_CREAT | O_APPEND, 0600);   /* append_history needs the file */
            if (fd >= 0) { close(fd); append_history(1, sh->history); }
        }
    }
    free(entry);
}

/* ---- statements ---- */

static double seconds(struct timeval tv) { return (double)tv.tv_sec + (double)tv.tv_usec / 1e6; }

/* Run source text (named name in errors) as the shell does: Ctrl-C interrupts it, an error is
 * shown and the shell goes on, the timer reports. 0 ok, -1 failed. */
static int run_source(Shell *sh, const char *text, const char *name)
{
    struct timespec t0, t1;
    struct rusage r0, r1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    getrusage(RUSAGE_SELF, &r0);
    fql_error err;
    got_sigint = 0;
    running = sh->s;
    int rc = fql_exec(sh->s, text, name, NULL, &err);
    running = NULL;
    if (rc) { shell_error(sh, &err); sh->failed = 1; }
    if (got_sigint && !sh->interactive) sh->quit = 1;    /* reading a file, Ctrl-C stops it all, as for a script */
    if (sh->timer) {
        clock_gettime(CLOCK_MONOTONIC, &t1);
        getrusage(RUSAGE_SELF, &r1);
        printf("Run Time: real %.3f user %.3f sys %.3f\n",
               (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9,
               seconds(r1.ru_utime) - seconds(r0.ru_utime), seconds(r1.ru_stime) - seconds(r0.ru_stime));
        fflush(stdout);
    }
    return rc ? -1 : 0;
}

/* ---- dot commands ---- */

typedef struct DotCmd {
    const char *name, *args, *help;
    int (*run)(Shell *sh, int argc, char **argv);     /* argv[0] is the command; 0 ok, -1 failed */
    int minargs, maxargs;
} DotCmd;

static const DotCmd *dot_commands(size_t *n);

/* The modes .mode takes (fql's result formats), for completion and "did you mean". */
static const char *const format_names[] = { "csv", "tsv", "json", "jsonl", "table", "markdown" };

static int dot_help(Shell *sh, int argc, char **argv)
{
    size_t n;
    const DotCmd *cmds = dot_commands(&n);
    FILE *out = stdout;
    fputs("Statements end with ';' and may span lines. Dot commands, at the start of a line:\n", out);
    for (size_t i = 0; i < n; i++) {
        char head[64];
        snprintf(head, sizeof head, ".%s %s", cmds[i].name, cmds[i].args);
        fprintf(out, "  %-26s %s\n", head, cmds[i].help);
    }
    fputs("Keys: Tab completes (keywords, stages, functions, columns, let names, models, types, files);\n"
          "  Up/Down and Ctrl-R search the history (~/.fql_history, or $FQL_HISTORY);\n"
          "  Ctrl-C cancels the statement being typed or the one running; Ctrl-D on an empty line leaves.\n"
          "The language: docs/language.md; this shell: docs/repl.md.\n", out);
    return 0;
}

static int dot_quit(Shell *sh, int argc, char **argv) { sh->quit = 1; return 0; }

static int dot_mode(Shell *sh, int argc, char **argv)
{
    if (argc == 1) {
        char mode[32];
        shell_get_option(sh->s, "format", mode, sizeof mode);
        printf("%s\n", mode);
        return 0;
    }
    if (shell_set_option(sh->s, "format", argv[1])) {
        const char *best = shell_closest_name(argv[1], format_names, sizeof format_names / sizeof format_names[0]);
        return shell_fail(sh, "unknown mode '%s'%s%s%s (modes: table, csv, tsv, json, jsonl, markdown)", argv[1],
                          best ? "; did you mean '" : "", best ? best : "", best ? "'?" : "");
    }
    return 0;
}

/* "on"/"off" (also 1/0, yes/no, true/false) into *on. */
static int parse_switch(const char *s, int *on)
{
    static const char *const yes[] = { "on", "1", "yes", "true" }, *const no[] = { "off", "0", "no", "false" };
    for (int i = 0; i < 4; i++) {
        if (!strcasecmp(s, yes[i])) { *on = 1; return 0; }
        if (!strcasecmp(s, no[i])) { *on = 0; return 0; }
    }
    return -1;
}

static int dot_timer(Shell *sh, int argc, char **argv)
{
    if (argc == 1) { printf("%s\n", sh->timer ? "on" : "off"); return 0; }
    if (parse_switch(argv[1], &sh->timer)) return shell_fail(sh, ".timer takes on or off, not '%s'", argv[1]);
    return 0;
}

static int dot_maxrows(Shell *sh, int argc, char **argv)
{
    if (argc == 1) {
        char rows[32];
        shell_get_option(sh->s, "max_rows", rows, sizeof rows);
        printf("%s\n", rows);
        return 0;
    }
    if (shell_set_option(sh->s, "max_rows", argv[1]))
        return shell_fail(sh, ".maxrows takes a number of rows (0 shows them all), not '%s'", argv[1]);
    return 0;
}

static int dot_output(Shell *sh, int argc, char **argv)
{
    FILE *f = NULL;
    if (argc == 2 && strcmp(argv[1], "stdout")) {
        f = fopen(argv[1], "w");
        if (!f) return shell_fail(sh, "cannot open %s for writing: %s", argv[1], strerror(errno));
    }
    if (sh->file) fclose(sh->file);
    sh->file = f;
    shell_set_output(sh->s, f ? f : stdout);
    return 0;
}

static int dot_read(Shell *sh, int argc, char **argv)
{
    FILE *f = fopen(argv[1], "rb");
    if (!f) return shell_fail(sh, "cannot open %s: %s", argv[1], strerror(errno));
    Text b = { 0 };
    char tmp[65536];
    size_t k;
    while ((k = fread(tmp, 1, sizeof tmp, f)) > 0) text_append(&b, tmp, k);
    fclose(f);
    int rc;
    if (memchr(b.data ? b.data : "", 0, b.len)) rc = shell_fail(sh, "%s: the script contains a NUL byte", argv[1]);
    else rc = run_source(sh, b.data ? b.data : "", argv[1]);
    text_free(&b);
    return rc;
}

static int dot_tables(Shell *sh, int argc, char **argv)
{
    shell_print_tables(sh->s);
    return 0;
}

static int dot_schema(Shell *sh, int argc, char **argv)
{
    char *msg = NULL;
    if (shell_print_schema(sh->s, argc > 1 ? argv[1] : NULL, &msg) == 0) return 0;
    shell_fail(sh, "%s", msg);
    free(msg);
    return -1;
}

static int dot_models(Shell *sh, int argc, char **argv)
{
    shell_print_models(sh->s);
    return 0;
}

/* .report FILE [QUERY_ID]: the HTML report of this session's queries, or of one query. */
static int dot_report(Shell *sh, int argc, char **argv)
{
    long long qid = 0;
    if (argc == 3) {
        char *end;
        qid = strtoll(argv[2], &end, 10);
        if (*end || qid <= 0) return shell_fail(sh, ".report takes a file and, optionally, a query id (a positive number), not '%s'", argv[2]);
    }
    char *msg = NULL;
    if (shell_report(sh->s, argv[1], qid, &msg) == 0) { printf("wrote %s\n", argv[1]); return 0; }
    shell_fail(sh, "%s", msg);
    free(msg);
    return -1;
}

static const DotCmd dot_table[] = {
    { "exit", "", "leave the shell (also .quit or Ctrl-D)", dot_quit, 0, 0 },
    { "help", "", "show this help", dot_help, 0, 0 },
    { "maxrows", "[N]", "rows a table shows, first and last (0: all)", dot_maxrows, 0, 1 },
    { "mode", "[MODE]", "result format: table, csv, tsv, json, jsonl, markdown", dot_mode, 0, 1 },
    { "models", "", "declared models: provider, model, limits, prices (USD/1M tokens)", dot_models, 0, 0 },
    { "output", "[FILE]", "send results to FILE; alone, back to the terminal", dot_output, 0, 1 },
    { "quit", "", "leave the shell", dot_quit, 0, 0 },
    { "read", "FILE", "run the script in FILE", dot_read, 1, 1 },
    { "report", "FILE [QUERY_ID]", "write an HTML report of this session's queries (or of one)", dot_report, 1, 2 },
    { "schema", "[NAME]", "a let's definition and columns, a type, a system table", dot_schema, 0, 1 },
    { "tables", "", "let names and system tables, with their columns", dot_tables, 0, 0 },
    { "timer", "[on|off]", "show how long each statement takes", dot_timer, 0, 1 },
};

static const DotCmd *dot_commands(size_t *n)
{
    *n = sizeof dot_table / sizeof dot_table[0];
    return dot_table;
}

/* Split line into words at blanks; "..." or '...' quotes a word with blanks. Returns the count
 * (at most max; the rest is left in the last word). Modifies line. */
static int split_words(char *line, char **argv, int max)
{
    int argc = 0;
    char *p = line;
    while (argc < max) {
        while (*p == ' ' || *p == '\t') p++;
        if (!*p) break;
        if (*p == '"' || *p == '\'') {
            char q = *p++;
            argv[argc++] = p;
            while (*p && *p != q) p++;
        } else {
            argv[argc++] = p;
            while (*p && *p != ' ' && *p != '\t') p++;
        }
        if (*p) *p++ = 0;
    }
    return argc;
}

/* Does line (at its '.') name a dot command exactly (".mode", ".mode csv"; not ".modes")? */
static int is_dot_command(const char *line)
{
    size_t n, len = strcspn(line + 1, " \t");
    const DotCmd *cmds = dot_commands(&n);
    for (size_t i = 0; i < n; i++)
        if (strlen(cmds[i].name) == len && !strncmp(cmds[i].name, line + 1, len)) return 1;
    return 0;
}

static void dot_command(Shell *sh, char *line)
{
    char *argv[4];
    int argc = split_words(line + 1, argv, 4);
    if (argc == 0) { shell_fail(sh, "a '.' alone is not a command (.help lists them)"); return; }
    size_t n;
    const DotCmd *cmds = dot_commands(&n);
    for (size_t i = 0; i < n; i++) {
        if (strcmp(cmds[i].name, argv[0])) continue;
        if (argc - 1 < cmds[i].minargs || argc - 1 > cmds[i].maxargs)
            shell_fail(sh, "usage: .%s %s", cmds[i].name, cmds[i].args);
        else
            cmds[i].run(sh, argc, argv);
        return;
    }
    const char *names[32];
    for (size_t i = 0; i < n; i++) names[i] = cmds[i].name;
    const char *best = shell_closest_name(argv[0], names, n);
    if (best) shell_fail(sh, "unknown command '.%s'; did you mean '.%s'? (.help lists the commands)", argv[0], best);
    else shell_fail(sh, "unknown command '.%s' (.help lists the commands)", argv[0]);
}

/* ---- completion ---- */

typedef struct Cands { char **v; size_t n, cap; } Cands;

static void cand_add(Cands *c, const char *s, const char *suffix)
{
    if (c->n == c->cap) {
        c->cap = c->cap ? c->cap * 2 : 64;
        c->v = must(realloc(c->v, c->cap * sizeof *c->v));
    }
    c->v[c->n++] = dup_printf("%s%s", s, suffix);
}

/* A ShellNameFn: a name from the library, into the candidates ud (a Cands). */
static void on_name(void *ud, const char *name, const char *suffix) { cand_add(ud, name, suffix); }

static void cands_free(Cands *c)
{
    for (size_t i = 0; i < c->n; i++) free(c->v[i]);
    free(c->v);
    memset(c, 0, sizeof *c);
}

/* Candidates for the arguments of a dot command; returns 1 when file names fit there. */
static int dot_cands(Shell *sh, const char *line, int start, Cands *c)
{
    char cmd[32];
    int n = 0;
    const char *p = line;
    while (*p == ' ' || *p == '\t') p++;
    p++;                                   /* the '.' */
    while (*p && *p != ' ' && *p != '\t' && n < 31) cmd[n++] = *p++;
    cmd[n] = 0;
    if (line + start <= p) {               /* the command itself: the word includes its '.' */
        size_t nc;
        const DotCmd *cmds = dot_commands(&nc);
        for (size_t i = 0; i < nc; i++) cand_add(c, ".", cmds[i].name);
        return 0;
    }
    if (!strcmp(cmd, "read") || !strcmp(cmd, "output")) return 1;
    if (!strcmp(cmd, "mode")) {
        for (size_t i = 0; i < sizeof format_names / sizeof format_names[0]; i++) cand_add(c, format_names[i], "");
    } else if (!strcmp(cmd, "timer")) {
        cand_add(c, "on", "");
        cand_add(c, "off", "");
    } else if (!strcmp(cmd, "schema")) {
        shell_names(sh->s, SHELL_LETS | SHELL_TYPES | SHELL_SYSTEM, on_name, c);
    }
    return 0;
}

static Cands completing;        /* the candidates of the completion in progress */
static size_t completing_next;

static char *next_match(const char *text, int state)
{
    if (state == 0) completing_next = 0;
    size_t len = strlen(text);
    while (completing_next < completing.n) {
        const char *s = completing.v[completing_next++];
        if (!strncasecmp(s, text, len)) return strdup(s);     /* readline frees it */
    }
    return NULL;
}

/* Readline's completion entry: the matches for text, which spans rl_line_buffer[start..end). */
static char **on_complete(const char *text, int start, int end)
{
    Shell *sh = shell;
    rl_attempted_completion_over = 1;       /* no file names unless asked for below */
    if (rl_completion_quote_character) {    /* inside a string: a file name, closed by its quote */
        rl_filename_completion_desired = 1;
        rl_completion_append_character = 0;
        return rl_completion_matches(text, rl_filename_completion_function);
    }
    cands_free(&completing);
    const char *first = rl_line_buffer;
    while (*first == ' ' || *first == '\t') first++;
    if (sh->stmt.len == 0 && *first == '.') {
        if (dot_cands(sh, rl_line_buffer, start, &completing)) { rl_attempted_completion_over = 0; return NULL; }
    } else {
        Text before = { 0 };
        text_append(&before, sh->stmt.data ? sh->stmt.data : "", sh->stmt.len);
        text_append(&before, rl_line_buffer, (size_t)start);
        if (!sh->completer) sh->completer = shell_completer_new(sh->s);
        shell_complete(sh->completer, before.data, before.len, on_name, &completing);
        text_free(&before);
    }
    char **m = rl_completion_matches(text, next_match);
    /* a function's "(" or a struct's "." is where typing goes on: no space after it */
    if (m && !m[1] && m[0][0] && strchr("(.", m[0][strlen(m[0]) - 1])) rl_completion_append_character = 0;
    return m;
}

/* Dot commands take file names with dots and slashes: only blanks separate their words. */
static char *word_breaks(void)
{
    const char *p = rl_line_buffer;
    while (*p == ' ' || *p == '\t') p++;
    return shell && shell->stmt.len == 0 && *p == '.' ? (char *)" \t\n" : NULL;
}

static void readline_setup(void)
{
    rl_readline_name = "fql";                 /* for $if fql in ~/.inputrc */
    rl_catch_signals = 0;                     /* the shell handles Ctrl-C, Ctrl-Z and resizes (on_signal) */
    rl_catch_sigwinch = 0;
    rl_attempted_completion_function = on_complete;
    rl_completion_word_break_hook = word_breaks;
    rl_basic_word_break_characters = (char *)" \t\n\"'`@$><=;|&{}()[],.:+-*/%!~";
    rl_completer_word_break_characters = rl_basic_word_break_characters;
    rl_completer_quote_characters = "\"'";
    rl_variable_bind("completion-ignore-case", "on");   /* keywords are case-insensitive */
}

/* ---- the loop ---- */

/* One line of input: a dot command, or part of a statement (run when it is complete). */
static void handle_line(Shell *sh, char *line)
{
    char *p = line;
    while (*p == ' ' || *p == '\t') p++;
    /* On a continuation line only a command's exact name counts (`.field` may go on with an
     * expression); the statement typed so far is kept, as psql does. */
    if (*p == '.' && (sh->stmt.len == 0 || is_dot_command(p))) {
        history_remember(sh, p);
        dot_command(sh, p);
        return;
    }
    if (sh->stmt.len == 0) {
        if (!*p) return;
        sh->stmt_line = sh->line;
    }
    text_puts(&sh->stmt, line);
    text_puts(&sh->stmt, "\n");
    ShellStmtState st = shell_stmt_state(sh->stmt.data, sh->stmt.len);
    if (st == SHELL_STMT_MORE) return;
    if (st == SHELL_STMT_READY) {
        history_remember(sh, sh->stmt.data);
        run_source(sh, sh->stmt.data, STDIN_NAME);
    }
    text_clear(&sh->stmt);
}

int repl_run(fql_session *s, int interactive)
{
    Shell sh;
    memset(&sh, 0, sizeof sh);
    sh.s = s;
    sh.interactive = interactive;
    shell = &sh;
    sigint_ends = !interactive;
    if (!shell_output(s)) shell_set_output(s, stdout);
    struct sigaction old_int, old_winch;
    catch_signal(SIGINT, &old_int);
    catch_signal(SIGWINCH, &old_winch);
    if (interactive) {
        readline_setup();
        history_open(&sh);
        printf("FQL %s: statements end with ';'. .help for help, Ctrl-D or .quit to leave.\n", FQL_VERSION);
    }
    while (!sh.quit) {
        char *line;
        int r = read_line(&sh, sh.stmt.len ? PROMPT_MORE : PROMPT, &line);
        if (r < 0) { text_clear(&sh.stmt); continue; }
        if (r == 0) {
            /* the end of a file: its last statement may omit ';'. Ctrl-D on a terminal: leave. */
            while (sh.stmt.len > 0 && sh.stmt.data[sh.stmt.len - 1] == '\n') sh.stmt.data[--sh.stmt.len] = 0;
            if (!interactive && shell_stmt_state(sh.stmt.data ? sh.stmt.data : "", sh.stmt.len) != SHELL_STMT_EMPTY)
                run_source(&sh, sh.stmt.data, STDIN_NAME);
            if (interactive) putchar('\n');
            break;
        }
        handle_line(&sh, line);
        free(line);
    }
    if (interactive) {
        if (sh.history) history_truncate_file(sh.history, HISTORY_MAX);
        rl_callback_handler_remove();
    }
    if (sh.file) { fclose(sh.file); shell_set_output(s, stdout); }
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGWINCH, &old_winch, NULL);
    cands_free(&completing);
    shell_completer_free(sh.completer);
    free(sh.history);
    text_free(&sh.stmt);
    shell = NULL;
    return !interactive && sh.failed ? 1 : 0;
}
