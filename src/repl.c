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
 * Completion asks the parser which tokens may come next (parse_expected: keywords only where the
 * grammar has them) and, where a name may come, offers what fits there: sources after `from`,
 * model aliases after `model`, types where a type goes, otherwise the columns of the pipeline typed
 * so far (its text up to the last complete stage, bound without running) and functions.
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
#include "session.h"
#include "models.h"
#include "lexer.h"
#include "parser.h"
#include "repl.h"

#define PROMPT       "fql> "
#define PROMPT_MORE  "  -> "
#define HISTORY_MAX  1000
#define STDIN_NAME   "<stdin>"
#define MAX_TOKENS   4096          /* completion looks at no more of a statement than this */

typedef struct Shell {
    fql_session *s;
    int interactive;          /* a terminal: prompts, readline, history, completion */
    char *history;            /* the history file, or NULL for none */
    int timer;                /* .timer on */
    FILE *file;               /* .output FILE, or NULL while results go to stdout */
    Buf stmt;                 /* the statement typed so far, line by line */
    long line, stmt_line;     /* lines read; the line the statement began on */
    int failed, quit;
    struct { char *text; Schema *schema; } bound[4];   /* completion: pipelines bound lately, their schemas */
    int bound_next;           /* the slot to reuse next */
} Shell;

/* Readline's callbacks and the signal handler take no argument: they reach the shell here. */
static Shell *shell;
static volatile sig_atomic_t got_sigint, got_winch, got_tstp, sigint_ends;   /* sigint_ends: not interactive */
static fql_session *volatile running;   /* the session running a statement, for Ctrl-C */

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
static int shell_fail(Shell *sh, const char *fmt, ...) FQL_PRINTF(2, 3);
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
    if (env) sh->history = *env ? xstrdup(env) : NULL;          /* FQL_HISTORY= (empty) keeps none */
    else sh->history = home && *home ? xasprintf("%s/.fql_history", home) : NULL;
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
    char *entry = xstrndup(text, n);
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

typedef enum { STMT_EMPTY, STMT_MORE, STMT_READY } StmtState;

/* Is the text typed so far a statement to run? Ready when it parses and ends with ';', or when it
 * has an error that no more input can fix (fql_exec then reports it); more while the parser (or the
 * scanner, inside a raw string or block comment) says the input is incomplete or no ';' ends it. */
static StmtState stmt_state(const char *text, size_t len)
{
    Src src = { (char *)STDIN_NAME, NULL, (char *)text, len, NULL };
    Lexer lx;
    Token t;
    fql_error err;
    memset(&err, 0, sizeof err);
    lex_init(&lx, &src);
    int code, last = 0;
    while ((code = lex_next(&lx, &t, &err)) > 0) last = code;
    if (code < 0) return err.code == FQL_ERR_INCOMPLETE ? STMT_MORE : STMT_READY;
    if (last == 0) return STMT_EMPTY;                 /* blank lines and comments */
    Node *prog = parse_program(&src, &err);
    node_free(prog);
    if (!prog) return err.code == FQL_ERR_INCOMPLETE ? STMT_MORE : STMT_READY;
    return last == TK_SEMI ? STMT_READY : STMT_MORE;
}

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

static const char *const format_names[] = { "csv", "tsv", "json", "jsonl", "table", "markdown" };  /* by FileFormat */
_Static_assert(FMT_CSV == 0 && FMT_TSV == 1 && FMT_JSON == 2 && FMT_JSONL == 3 && FMT_TABLE == 4 && FMT_MARKDOWN == 5,
               "format_names follows FileFormat");

static const char *format_name(FileFormat f)
{
    return (size_t)f < sizeof format_names / sizeof format_names[0] ? format_names[f] : "table";
}

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
    if (argc == 1) { printf("%s\n", format_name(sh->s->format)); return 0; }
    char *msg = NULL;
    if (session_set_option(sh->s, "format", v_cstring(argv[1]), &msg)) {
        free(msg);
        const char *best = closest_name(argv[1], format_names, sizeof format_names / sizeof format_names[0]);
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
    if (argc == 1) { printf("%zu\n", sh->s->max_rows); return 0; }
    char *end;
    errno = 0;
    long long n = strtoll(argv[1], &end, 10);
    char *msg = NULL;
    if (errno || *end || end == argv[1] || session_set_option(sh->s, "max_rows", v_int(n), &msg)) {
        free(msg);
        return shell_fail(sh, ".maxrows takes a number of rows (0 shows them all), not '%s'", argv[1]);
    }
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
    sh->s->out = f ? f : stdout;
    return 0;
}

static int dot_read(Shell *sh, int argc, char **argv)
{
    FILE *f = fopen(argv[1], "rb");
    if (!f) return shell_fail(sh, "cannot open %s: %s", argv[1], strerror(errno));
    Buf b;
    buf_init(&b);
    char tmp[65536];
    size_t k;
    while ((k = fread(tmp, 1, sizeof tmp, f)) > 0) buf_append(&b, tmp, k);
    fclose(f);
    int rc;
    if (memchr(b.data ? b.data : "", 0, b.len)) rc = shell_fail(sh, "%s: the script contains a NUL byte", argv[1]);
    else rc = run_source(sh, b.data ? b.data : "", argv[1]);
    buf_free(&b);
    return rc;
}

/* A new table of string columns named by the NULL-terminated cols, and a batch to fill. */
static Table *text_table(const char *const *cols, Batch **b)
{
    Schema *sc = schema_new();
    for (int i = 0; cols[i]; i++) schema_add(sc, cols[i], type_string());
    Table *t = table_new(sc);
    *b = batch_new(sc->n, 16);
    return t;
}

/* Print t (consumed, with its batch b) where results go, in the current mode. */
static void show_table(Shell *sh, Table *t, Batch *b)
{
    table_add_batch(t, b);
    session_print_result(sh->s, t);
    table_free(t);
}

/* The column names of sc, comma separated (caller frees). */
static char *column_list(const Schema *sc)
{
    Buf b;
    buf_init(&b);
    for (int i = 0; i < sc->n; i++) buf_printf(&b, "%s%s", i ? ", " : "", sc->names[i]);
    return buf_take(&b);
}

/* Rows of .tables for the lets from l on, oldest first (the session keeps them newest first). */
static void let_rows(Batch *b, const LetDef *l)
{
    if (!l) return;
    let_rows(b, l->next);
    char *names = column_list(l->plan->schema);
    Value row[3] = { v_cstring(l->name), v_cstring("let"), v_cstring(names) };
    batch_push_row(b, row);
    free(names);
}

static int dot_tables(Shell *sh, int argc, char **argv)
{
    static const char *const cols[] = { "name", "kind", "columns", NULL };
    Batch *b;
    Table *t = text_table(cols, &b);
    let_rows(b, sh->s->lets);
    for (const char *const *n = system_table_names(); *n; n++) {
        Table *st = system_table(sh->s, *n);
        char *names = st ? column_list(st->schema) : xstrdup("");
        Value row[3] = { v_cstring(*n), v_cstring("system"), v_cstring(names) };
        batch_push_row(b, row);
        free(names);
        table_free(st);
    }
    show_table(sh, t, b);
    return 0;
}

/* The text of the statement that starts at pos in src, up to its ';' (caller frees). */
static char *statement_text(const Src *src, int pos)
{
    Lexer lx;
    Token t;
    int code, end = pos;
    lex_init(&lx, src);
    lx.pos = pos;
    while ((code = lex_next(&lx, &t, NULL)) > 0 && code != TK_SEMI) end = t.pos + t.len;
    return xstrndup(src->text + pos, (size_t)(end - pos));
}

/* A declared type as it could be written: `type Name = {field: T "description", ...};`. */
static void print_type(FILE *out, const TypeDef *td)
{
    const Type *t = td->type;
    if (t->kind != TY_STRUCT) {
        char *s = type_to_string(t);
        fprintf(out, "type %s = %s;\n", td->name, s);
        free(s);
        return;
    }
    fprintf(out, "type %s = {\n", td->name);
    for (int i = 0; i < t->nfields; i++) {
        char *s = type_to_string(t->fields[i].type);
        fprintf(out, "  %s: %s", t->fields[i].name, s);
        if (t->fields[i].desc) {
            fputs(" \"", out);
            for (const char *c = t->fields[i].desc; *c; c++)
                if (*c == '"' || *c == '\\') fprintf(out, "\\%c", *c);
                else if (*c == '\n') fputs("\\n", out);
                else fputc(*c, out);
            fputc('"', out);
        }
        fputs(i + 1 < t->nfields ? ",\n" : "\n", out);
        free(s);
    }
    fputs("};\n", out);
}

static void print_let(FILE *out, const LetDef *l)
{
    char *txt = statement_text(l->src, l->pos);
    fprintf(out, "%s;\n", txt);
    free(txt);
}

/* Every declaration from t (or l) on, oldest first. */
static void print_types(FILE *out, const TypeDef *t)
{
    if (t) { print_types(out, t->next); print_type(out, t); }
}
static void print_lets(FILE *out, const LetDef *l)
{
    if (l) { print_lets(out, l->next); print_let(out, l); }
}

/* Columns and types of a schema, as a table. */
static void show_schema(Shell *sh, const Schema *sc)
{
    static const char *const cols[] = { "column", "type", NULL };
    Batch *b;
    Table *t = text_table(cols, &b);
    for (int i = 0; i < sc->n; i++) {
        char *ty = type_to_string(sc->types[i]);
        Value row[2] = { v_cstring(sc->names[i]), v_cstring(ty) };
        batch_push_row(b, row);
        free(ty);
    }
    show_table(sh, t, b);
}

static int dot_schema(Shell *sh, int argc, char **argv)
{
    fql_session *s = sh->s;
    FILE *out = s->out;
    if (argc == 1) {
        if (!s->types && !s->lets) fputs("no types or lets declared yet\n", out);
        print_types(out, s->types);
        print_lets(out, s->lets);
        fflush(out);
        return 0;
    }
    const char *name = argv[1];
    LetDef *l = session_find_let(s, name);
    if (l) {
        print_let(out, l);
        show_schema(sh, l->plan->schema);
        return 0;
    }
    TypeDef *td = session_find_type(s, name);
    if (td) { print_type(out, td); fflush(out); return 0; }
    Table *st = !strncmp(name, "system.", 7) ? system_table(s, name) : NULL;
    if (st) { show_schema(sh, st->schema); table_free(st); return 0; }
    if (session_find_model(s, name)) return shell_fail(sh, "'%s' is a model; .models shows the models", name);
    const char *cands[512];
    size_t k = 0;
    for (LetDef *d = s->lets; d && k < 500; d = d->next) cands[k++] = d->name;
    for (TypeDef *d = s->types; d && k < 500; d = d->next) cands[k++] = d->name;
    for (const char *const *n = system_table_names(); *n && k < 510; n++) cands[k++] = *n;
    const char *best = closest_name(name, cands, k);
    if (best) return shell_fail(sh, "no let, type or system table named '%s'; did you mean '%s'?", name, best);
    return shell_fail(sh, "no let, type or system table named '%s' (.tables lists them)", name);
}

/* The prices and context window models_get() resolves for alias (options, environment, the
 * catalog; no request), copied out. The runtime model it makes is dropped again unless a statement
 * had made it already: kept, it would outlive a new declaration of the alias made before the first
 * statement that uses it. 0 ok. */
static int model_catalog(fql_session *s, const char *alias, double *price_in, double *price_out, int64_t *context)
{
    int existed = 0;
    for (RtModel *r = s->rtmodels; r; r = r->next) existed |= !strcmp(r->key, alias);
    fql_error err;
    memset(&err, 0, sizeof err);
    const LmModel *m = models_get(s, alias, NULL, &err);
    if (!m) return -1;
    *price_in = m->price_in;
    *price_out = m->price_out;
    *context = m->context_window;
    for (RtModel **p = &s->rtmodels; *p && !existed; p = &(*p)->next)
        if (!strcmp((*p)->key, alias)) {
            RtModel *r = *p;
            *p = r->next;
            lm_model_free(r->m);
            free(r->key);
            free(r);
            break;
        }
    return 0;
}

/* .models: system.models (the declared options), its limits in one column, and
 * what the catalog adds: prices (USD per million tokens) and the context window. */
static int dot_models(Shell *sh, int argc, char **argv)
{
    fql_session *s = sh->s;
    Table *sm = system_table(s, "system.models");
    if (!sm || sm->nrows == 0) {
        table_free(sm);
        fputs("no models declared yet; declare one with: model fast = openai(\"gpt-4o-mini\");\n", stdout);
        return 0;
    }
    table_flatten(sm);
    static const char *const kept[] = { "alias", "kind", "provider", "model_name", "is_default" };
    static const char *const limits[] = { "rpm", "tpm", "input_tpm", "output_tpm", "max_concurrency" };
    int kc[5], lc[5];
    Schema *sc = schema_new();
    for (int k = 0; k < 5; k++) {
        kc[k] = schema_find(sm->schema, kept[k]);
        lc[k] = schema_find(sm->schema, limits[k]);
        schema_add(sc, kept[k], type_ref(sm->schema->types[kc[k]]));
    }
    schema_add(sc, "limits", type_string());
    schema_add(sc, "price_in", type_float());
    schema_add(sc, "price_out", type_float());
    schema_add(sc, "context_window", type_int());
    Table *t = table_new(sc);
    Batch *b = batch_new(sc->n, sm->nrows);
    for (size_t r = 0; r < sm->nrows; r++) {
        Value row[9];
        for (int k = 0; k < 5; k++) row[k] = value_copy(table_get(sm, r, kc[k]));
        Buf lim;
        buf_init(&lim);
        for (int k = 0; k < 5; k++) {
            Value v = table_get(sm, r, lc[k]);
            if (v.kind == V_INT && v.u.i > 0) buf_printf(&lim, "%s%s %lld", lim.len ? ", " : "", limits[k], (long long)v.u.i);
        }
        row[5] = lim.len ? v_cstring(lim.data) : v_null();
        buf_free(&lim);
        double pin = -1, pout = -1;
        int64_t context = 0;
        int ok = model_catalog(s, v_str(row[0]), &pin, &pout, &context) == 0;
        row[6] = ok && pin >= 0 ? v_float(pin) : v_null();
        row[7] = ok && pout >= 0 ? v_float(pout) : v_null();
        row[8] = ok && context > 0 ? v_int(context) : v_null();
        batch_push_row(b, row);
    }
    table_free(sm);
    show_table(sh, t, b);
    return 0;
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
    const char *best = closest_name(argv[0], names, n);
    if (best) shell_fail(sh, "unknown command '.%s'; did you mean '.%s'? (.help lists the commands)", argv[0], best);
    else shell_fail(sh, "unknown command '.%s' (.help lists the commands)", argv[0]);
}

/* ---- completion ---- */

typedef struct Cands { char **v; size_t n, cap; } Cands;

static void cand_add(Cands *c, const char *s, const char *suffix)
{
    if (c->n == c->cap) {
        c->cap = c->cap ? c->cap * 2 : 64;
        c->v = xrealloc(c->v, c->cap * sizeof *c->v);
    }
    c->v[c->n++] = xasprintf("%s%s", s, suffix);
}

static void cand_add_all(Cands *c, const char *const *names, const char *suffix)
{
    for (; *names; names++) cand_add(c, *names, suffix);
}

static void cands_free(Cands *c)
{
    for (size_t i = 0; i < c->n; i++) free(c->v[i]);
    free(c->v);
    memset(c, 0, sizeof *c);
}

/* The output schema of the pipeline in text (a source and complete stages), bound but not run;
 * NULL if it does not bind. Only a lone pipeline is bound, so nothing is declared by accident. The
 * last few answers are kept: Tab pressed again on one stage does not read its files again.
 * Borrowed (valid until four other pipelines have been bound). */
static const Schema *pipeline_schema(Shell *sh, const char *text, size_t len)
{
    for (int i = 0; i < 4; i++)
        if (sh->bound[i].text && strlen(sh->bound[i].text) == len && !memcmp(sh->bound[i].text, text, len))
            return sh->bound[i].schema;
    int slot = sh->bound_next;
    sh->bound_next = (slot + 1) % 4;
    free(sh->bound[slot].text);
    schema_free(sh->bound[slot].schema);
    sh->bound[slot].text = xstrndup(text, len);
    sh->bound[slot].schema = NULL;
    Src src = { (char *)"<completion>", NULL, sh->bound[slot].text, len, NULL };
    fql_error err;
    memset(&err, 0, sizeof err);
    Node *prog = parse_program(&src, &err);
    if (prog && prog->nkids == 1 && prog->kids[0]->kind == N_RUN) {
        Stmt **stmts = NULL;
        int n = 0;
        if (bind_program(sh->s, prog, &stmts, &n, &err) == 0 && n == 1 && stmts[0]->plan)
            sh->bound[slot].schema = schema_copy(stmts[0]->plan->schema);
        for (int i = 0; i < n; i++) stmt_free(stmts[i]);
        free(stmts);
    }
    node_free(prog);
    return sh->bound[slot].schema;
}

/* The tokens of a statement typed so far. */
typedef struct Toks { const Src *src; Token t[MAX_TOKENS]; int code[MAX_TOKENS]; int n; } Toks;

static int tok_is(const Toks *k, int i, const char *word)
{
    return i >= 0 && i < k->n && (size_t)k->t[i].len == strlen(word) && !strncasecmp(k->src->text + k->t[i].pos, word, strlen(word));
}

/* Where the pipeline around the end of the tokens starts and its last '|' at the same depth (-1:
 * none, the end is still in its source). A '(' or '[' opens a level: a pipeline in parentheses has
 * its own stages; inside a call's parentheses the enclosing pipeline's columns are in scope, so
 * the innermost level that has a '|' is the one that counts. */
static void find_pipeline(const Toks *k, int *start, int *pipe)
{
    int st[64], last[64], d = 0, deeper = 0;      /* deeper: levels past the 64 tracked */
    st[0] = 0;
    last[0] = -1;
    if (tok_is(k, 0, "let")) st[0] = 3;                               /* let NAME = */
    if (tok_is(k, 0, "explain")) st[0] = tok_is(k, 1, "analyze") || tok_is(k, 1, "cost") ? 2 : 1;
    for (int i = 0; i < k->n; i++) {
        int c = k->code[i];
        if (c == TK_LPAREN || c == TK_LBRACKET || c == TK_LBRACE) {
            if (d < 63) { d++; st[d] = i + 1; last[d] = -1; }
            else deeper++;
        } else if (c == TK_RPAREN || c == TK_RBRACKET || c == TK_RBRACE) {
            if (deeper > 0) deeper--;
            else if (d > 0) d--;
        } else if (c == TK_PIPE && !deeper) last[d] = i;
    }
    while (d > 0 && last[d] < 0) d--;
    *start = st[d];
    *pipe = last[d];
}

/* The columns of the pipeline being typed, or NULL. */
static const Schema *columns_here(Shell *sh, const Toks *k)
{
    int start, pipe;
    find_pipeline(k, &start, &pipe);
    if (pipe <= start) return NULL;
    int from = k->t[start].pos, to = k->t[pipe].pos;
    return pipeline_schema(sh, k->src->text + from, (size_t)(to - from));
}

/* In a join stage past its source (`| left join SOURCE on ...`), the columns of that source. */
static const Schema *join_columns(Shell *sh, const Toks *k)
{
    int start, pipe, j, end, depth = 0;
    find_pipeline(k, &start, &pipe);
    if (pipe < 0) return NULL;
    for (j = pipe + 1; j < k->n && j <= pipe + 3 && k->code[j] != TK_JOIN; j++) {}
    if (j >= k->n || k->code[j] != TK_JOIN) return NULL;
    for (end = j + 1; end < k->n; end++) {
        int c = k->code[end];
        if (depth == 0 && (c == TK_ON || c == TK_USING)) break;
        if (c == TK_LPAREN || c == TK_LBRACKET || c == TK_LBRACE) depth++;
        if (c == TK_RPAREN || c == TK_RBRACKET || c == TK_RBRACE) depth--;
    }
    if (end >= k->n || end == j + 1) return NULL;     /* the source is still being typed */
    Buf b;
    buf_init(&b);
    buf_puts(&b, "from ");
    buf_append(&b, k->src->text + k->t[j + 1].pos, (size_t)(k->t[end].pos - k->t[j + 1].pos));
    const Schema *sc = pipeline_schema(sh, b.data, b.len);
    buf_free(&b);
    return sc;
}

/* Names after "a.b." (the tokens end with ID DOT [ID DOT ...]): system tables after `system.`, the
 * fields of a struct column, or the pipeline's columns after a qualifier. */
static void member_cands(Shell *sh, const Toks *k, Cands *c)
{
    int i = k->n - 2;
    while (i >= 2 && k->code[i - 1] == TK_DOT && k->code[i - 2] == TK_ID) i -= 2;
    if (i < 0 || k->code[i] != TK_ID) return;
    if (i == k->n - 2 && tok_is(k, i, "system")) {
        for (const char *const *n = system_table_names(); *n; n++) cand_add(c, *n + 7, "");
        return;
    }
    const Schema *sc = columns_here(sh, k);
    if (!sc) return;
    char *name = lex_name_value(k->src, &k->t[i]);
    int col = schema_find(sc, name);
    free(name);
    if (col < 0) {                        /* a qualifier: t.col */
        for (int j = 0; j < sc->n; j++) cand_add(c, sc->names[j], "");
        return;
    }
    const Type *t = sc->types[col];
    for (int j = i + 2; t && j < k->n; j += 2) {   /* a.b.c: down through the struct types */
        char *f = lex_name_value(k->src, &k->t[j]);
        int fi = type_field_index(t, f);
        free(f);
        t = fi >= 0 ? t->fields[fi].type : NULL;
    }
    for (int j = 0; t && t->kind == TY_STRUCT && j < t->nfields; j++) cand_add(c, t->fields[j].name, "");
}

static void type_cands(Shell *sh, Cands *c)
{
    static const char *const base[] = { "string", "int", "float", "bool", "date", "timestamp", "json", NULL };
    cand_add_all(c, base, "");
    cand_add(c, "vector", "(");
    cand_add(c, "enum", "(");
    for (TypeDef *t = sh->s->types; t; t = t->next) cand_add(c, t->name, "");
}

static void model_cands(Shell *sh, Cands *c)
{
    for (ModelDecl *m = sh->s->models; m; m = m->next) cand_add(c, m->alias, "");
}

/* Sources: let names, system tables and the file readers. */
static void source_cands(Shell *sh, Cands *c)
{
    static const char *const readers[] = { "csv", "tsv", "json", "jsonl", "parquet", NULL };
    for (LetDef *l = sh->s->lets; l; l = l->next) cand_add(c, l->name, "");
    cand_add_all(c, system_table_names(), "");
    cand_add_all(c, readers, "(");
}

/* Names in an expression: columns (of a join's source too), functions, aggregates, model
 * operators, fns and types. */
static void expr_cands(Shell *sh, const Toks *k, Cands *c)
{
    const Schema *sc = columns_here(sh, k);
    for (int i = 0; sc && i < sc->n; i++) cand_add(c, sc->names[i], "");
    sc = join_columns(sh, k);
    for (int i = 0; sc && i < sc->n; i++) cand_add(c, sc->names[i], "");
    cand_add_all(c, func_names(), "(");
    cand_add_all(c, agg_names(), "(");
    cand_add_all(c, bind_semantic_names(), "(");
    for (FnDef *f = sh->s->fns; f; f = f->next) cand_add(c, f->name, "(");
    for (TypeDef *t = sh->s->types; t; t = t->next) cand_add(c, t->name, "");   /* extract(x, Type) */
}

/* What a name at the end of the tokens may be, given what the parser expects there (ex). */
static void name_cands(Shell *sh, const Toks *k, const unsigned char *ex, Cands *c)
{
    int n = k->n, prev = n > 0 ? k->code[n - 1] : 0;
    if (prev == TK_DOT) { member_cands(sh, k, c); return; }
    if (ex[TK_LBRACE] && ex[TK_LBRACKET] && !ex[TK_INTEGER]) { type_cands(sh, c); return; }    /* also cast(x as */
    if (prev == TK_LET || prev == TK_TYPE || prev == TK_FN || prev == TK_AS) return;   /* a new name */
    if (prev == TK_MODEL || (prev == TK_COLON && tok_is(k, n - 2, "model"))) { model_cands(sh, c); return; }
    if (prev == TK_EQ_SINGLE && (tok_is(k, 0, "model") || tok_is(k, 0, "embedding")) && n <= 4) {
        cand_add_all(c, bind_provider_names(), "(");
        return;
    }
    if (prev == TK_DEFAULT || prev == TK_EMBEDDING) return;
    if (prev == TK_COMMA && (tok_is(k, 0, "model") || tok_is(k, 0, "embedding"))) {     /* model x = p("m", rpm: 500) */
        cand_add_all(c, bind_model_option_names(), ":");
        return;
    }
    if (ex[TK_VALUES]) { source_cands(sh, c); return; }                       /* only a source starts with values */
    expr_cands(sh, k, c);
}

/* Candidates for a word that starts at byte `at` of the statement text before[0..at). */
static void stmt_cands(Shell *sh, const char *before, size_t at, Cands *c)
{
    Src src = { (char *)"<completion>", NULL, xstrndup(before, at), at, NULL };
    Toks *k = xcalloc(1, sizeof *k);
    k->src = &src;
    Lexer lx;
    Token t;
    int code, end = 0;
    lex_init(&lx, &src);
    while ((code = lex_next(&lx, &t, NULL)) > 0) {
        end = t.pos + t.len;
        if (code == TK_SEMI) { k->n = 0; continue; }         /* the statement being typed starts after the last ';' */
        if (k->n < MAX_TOKENS) { k->t[k->n] = t; k->code[k->n] = code; k->n++; }
    }
    /* inside a comment (text after the last token), or the scanner failed: nothing to offer */
    int in_comment = 0;
    for (size_t i = (size_t)end; i < at; i++)
        if (!strchr(" \t\r\n", before[i])) in_comment = 1;
    if (code == 0 && !in_comment && k->n < MAX_TOKENS) {
        /* what the parser expects after this statement's tokens */
        int from = k->n ? k->t[0].pos : (int)at;
        Src stmt = { (char *)"<completion>", NULL, src.text + from, at - (size_t)from, NULL };
        unsigned char ex[256];
        int ok = parse_expected(&stmt, ex, (int)sizeof ex) == 0;    /* all zeros when not ok */
        for (size_t i = 0; lex_keyword_name(i); i++) {
            const char *kw = lex_keyword_name(i);
            if (ex[lex_keyword(kw, strlen(kw))]) cand_add(c, kw, "");
        }
        if (!ok || ex[TK_ID]) name_cands(sh, k, ex, c);
    }
    free(k);
    free(src.text);
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
        for (LetDef *l = sh->s->lets; l; l = l->next) cand_add(c, l->name, "");
        for (TypeDef *t = sh->s->types; t; t = t->next) cand_add(c, t->name, "");
        cand_add_all(c, system_table_names(), "");
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
        Buf before;
        buf_init(&before);
        buf_append(&before, sh->stmt.data ? sh->stmt.data : "", sh->stmt.len);
        buf_append(&before, rl_line_buffer, (size_t)start);
        stmt_cands(sh, before.data, before.len, &completing);
        buf_free(&before);
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
    buf_puts(&sh->stmt, line);
    buf_putc(&sh->stmt, '\n');
    StmtState st = stmt_state(sh->stmt.data, sh->stmt.len);
    if (st == STMT_MORE) return;
    if (st == STMT_READY) {
        history_remember(sh, sh->stmt.data);
        run_source(sh, sh->stmt.data, STDIN_NAME);
    }
    buf_clear(&sh->stmt);
}

int repl_run(fql_session *s, int interactive)
{
    Shell sh;
    memset(&sh, 0, sizeof sh);
    sh.s = s;
    sh.interactive = interactive;
    buf_init(&sh.stmt);
    shell = &sh;
    sigint_ends = !interactive;
    if (!s->out) s->out = stdout;
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
        if (r < 0) { buf_clear(&sh.stmt); continue; }
        if (r == 0) {
            /* the end of a file: its last statement may omit ';'. Ctrl-D on a terminal: leave. */
            while (sh.stmt.len > 0 && sh.stmt.data[sh.stmt.len - 1] == '\n') sh.stmt.data[--sh.stmt.len] = 0;
            if (!interactive && stmt_state(sh.stmt.data ? sh.stmt.data : "", sh.stmt.len) != STMT_EMPTY)
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
    if (sh.file) { fclose(sh.file); s->out = stdout; }
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGWINCH, &old_winch, NULL);
    cands_free(&completing);
    for (int i = 0; i < 4; i++) { free(sh.bound[i].text); schema_free(sh.bound[i].schema); }
    free(sh.history);
    buf_free(&sh.stmt);
    shell = NULL;
    return !interactive && sh.failed ? 1 : 0;
}
