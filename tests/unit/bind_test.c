/* bind_test.c: unit tests of the binder at its boundary (bind.h): a parsed program bound against a
 * Catalog, with no session, no runtime and no state database. Declarations must land in the
 * Catalog, statements come out in order, errors name the place and what to do, and a system
 * table's columns come from system.c without any database being opened or created. Prints
 * `ok NAME` or `FAIL NAME: reason` per test and a closing `N passed, M failed`. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "ast.h"
#include "bind.h"
#include "system.h"
#include "check.h"

static Catalog cat;
static fql_error err;

/* Bind text as one more script of the catalog; the statements go to *stmts (NULL: freed). Returns
 * bind_program's result, or -2 for a parse error. err holds the error. */
static int bind_text(const char *text, Stmt ***stmts, int *n)
{
    Src *x = catalog_add_src(&cat, "t.fql", NULL, text, strlen(text));
    memset(&err, 0, sizeof err);
    Node *prog = parse_program(x, &err);
    if (!prog) return -2;
    Stmt **st = NULL;
    int ns = 0;
    int rc = bind_program(&cat, prog, &st, &ns, &err);
    node_free(prog);
    if (stmts) { *stmts = st; *n = ns; }
    else { for (int i = 0; i < ns; i++) stmt_free(st[i]); free(st); }
    return rc;
}

static void free_stmts(Stmt **st, int n)
{
    for (int i = 0; i < n; i++) stmt_free(st[i]);
    free(st);
}

static void fresh(void)
{
    catalog_free(&cat);
    memset(&cat, 0, sizeof cat);
    cat.stdlib_dir = FQL_STDLIB_DIR;
}

static void t_declarations_land_in_catalog(void)
{
    fresh();
    int rc = bind_text("model fast = openai(\"gpt-4o-mini\", rpm: 500);\n"
                       "type T = {area: enum(\"billing\", \"api\"), urgent: bool};\n"
                       "fn twice(x, k = 2) = x * k;\n"
                       "let t = values [{a: 1, b: \"x\"}, {a: 2, b: \"y\"}];\n", NULL, NULL);
    CHECK(rc == 0, "bind failed: %s", err.message);
    ModelDecl *m = catalog_find_model(&cat, "fast");
    CHECK(m && !strcmp(m->provider, "openai") && !strcmp(m->model_name, "gpt-4o-mini"), "model fast not declared");
    CHECK(catalog_default_model(&cat, 0) && !strcmp(catalog_default_model(&cat, 0), "fast"), "the only model is the default");
    CHECK(catalog_default_model(&cat, 1) == NULL, "no embedding model");
    TypeDef *td = catalog_find_type(&cat, "T");
    CHECK(td && td->type->kind == TY_STRUCT && td->type->nfields == 2, "type T not declared as a struct of 2 fields");
    FnDef *f = catalog_find_fn(&cat, "twice");
    CHECK(f && f->nparams == 2 && f->defaults[0] == NULL && f->defaults[1] != NULL, "fn twice: params or defaults wrong");
    LetDef *l = catalog_find_let(&cat, "t");
    CHECK(l && l->plan->schema->n == 2 && !strcmp(l->plan->schema->names[1], "b"), "let t: schema wrong");
}

static void t_statements_in_order(void)
{
    fresh();
    Stmt **st;
    int n;
    int rc = bind_text("set format = \"csv\";\nvalues [{a: 1}] | select a + 1 as b;\nexplain values [{a: 1}];\n", &st, &n);
    CHECK(rc == 0, "bind failed: %s", err.message);
    CHECK(n == 3, "expected 3 statements, got %d", n);
    if (n == 3) {
        CHECK(st[0]->kind == ST_SET && !strcmp(st[0]->set_name, "format"), "first is the set");
        CHECK(st[1]->kind == ST_RUN && st[1]->plan && !strcmp(st[1]->plan->schema->names[0], "b"), "second runs, column b");
        CHECK(st[2]->kind == ST_EXPLAIN, "third is explain");
        CHECK(st[1]->text && strstr(st[1]->text, "select a + 1 as b"), "statement text kept for query_metrics");
    }
    free_stmts(st, n);
}

static void t_unknown_column_says_where(void)
{
    fresh();
    int rc = bind_text("let t = values [{amount: 1}];\nt | where amont > 5;\n", NULL, NULL);
    CHECK(rc == -1, "an unknown column must fail to bind");
    CHECK(err.code == FQL_ERR_TYPE, "code %d, want FQL_ERR_TYPE", err.code);
    CHECK(err.line == 2 && err.column == 11, "place %d:%d, want 2:11", err.line, err.column);
    CHECK(strstr(err.message, "amount"), "no suggestion in: %s", err.message);
}

static void t_unknown_function_no_near_name(void)
{
    /* closest_name over the semantic operators once read past its array (ASan: global-buffer-overflow) */
    fresh();
    int rc = bind_text("values [{a: 1}] | select zzzzzz(a);\n", NULL, NULL);
    CHECK(rc == -1 && strstr(err.message, "zzzzzz"), "want an unknown-function error naming zzzzzz, got rc %d: %s", rc, err.message);
}

static void t_semantic_needs_a_model(void)
{
    fresh();
    int rc = bind_text("values [{t: \"x\"}] | derive p = predicate(\"is it about {{t}}?\");\n", NULL, NULL);
    CHECK(rc == -1, "a model call with no model declared must fail to bind");
    CHECK(strstr(err.message, "model"), "the error should say to declare a model: %s", err.message);
    fresh();
    rc = bind_text("model fast = openai(\"gpt-4o-mini\");\nvalues [{t: \"x\"}] | derive p = predicate(\"is it about {{t}}?\");\n", NULL, NULL);
    CHECK(rc == 0, "with a model it binds: %s", err.message);
}

static void t_system_table_without_database(void)
{
    fresh();
    char dir[] = "/tmp/fql-bind-XXXXXX";
    CHECK(mkdtemp(dir) != NULL, "mkdtemp");
    char cwd[4096];
    CHECK(getcwd(cwd, sizeof cwd) != NULL, "getcwd");
    CHECK(chdir(dir) == 0, "chdir");
    Stmt **st;
    int n;
    int rc = bind_text("from system.lm_calls | select model, queue_ms, latency_ms, cost_usd;\n", &st, &n);
    CHECK(rc == 0, "bind failed: %s", err.message);
    CHECK(access(".fql", F_OK) != 0, "binding a system table created .fql/ (it must not open the state database)");
    if (rc == 0 && n == 1) CHECK(st[0]->plan->schema->n == 4, "4 columns selected");
    if (rc == 0) free_stmts(st, n);
    rc = bind_text("from system.lm_call;\n", NULL, NULL);
    CHECK(rc == -1 && strstr(err.message, "system.lm_calls"), "a misspelt system table suggests the right one: %s", err.message);
    CHECK(chdir(cwd) == 0, "chdir back");
    rmdir(dir);
    Schema *sc = system_schema("system.query_metrics");
    CHECK(sc && sc->n > 10, "system.query_metrics has its columns");
    schema_free(sc);
    CHECK(system_schema("system.nothing") == NULL, "an unknown system table has no schema");
}

static void t_set_is_checked_at_bind_time(void)
{
    fresh();
    int rc = bind_text("set fromat = \"csv\";\n", NULL, NULL);
    CHECK(rc == -1 && strstr(err.message, "format"), "a misspelt setting fails before anything runs: %s", err.message);
    rc = bind_text("set budget = -1;\n", NULL, NULL);
    CHECK(rc == -1, "a negative budget fails to bind");
}

static void t_import_cycle(void)
{
    fresh();
    char dir[] = "/tmp/fql-bind-XXXXXX";
    CHECK(mkdtemp(dir) != NULL, "mkdtemp");
    char a[4200], b[4200];
    snprintf(a, sizeof a, "%s/a.fql", dir);
    snprintf(b, sizeof b, "%s/b.fql", dir);
    FILE *f = fopen(a, "w");
    if (f) { fputs("import \"b.fql\";\nset max_rows = 7;\n", f); fclose(f); }
    f = fopen(b, "w");
    if (f) { fputs("let from_b = values [{x: 1}];\n", f); fclose(f); }
    char text[4400];
    snprintf(text, sizeof text, "import \"%s\";\nfrom_b;\n", a);
    Stmt **st;
    int n;
    int rc = bind_text(text, &st, &n);
    CHECK(rc == 0, "import chain: %s", err.message);
    CHECK(catalog_find_let(&cat, "from_b") != NULL, "the imported file's let is declared");
    /* the imported file's setting runs in order, as a statement */
    if (rc == 0) {
        CHECK(n == 2 && st[0]->kind == ST_SET && st[1]->kind == ST_RUN, "want [set, run], got %d statements", n);
        free_stmts(st, n);
    }
    f = fopen(b, "w");
    if (f) { fputs("import \"a.fql\";\n", f); fclose(f); }
    rc = bind_text(text, NULL, NULL);
    CHECK(rc == -1 && strstr(err.message, "import cycle"), "a cycle of imports is an error: %s", err.message);
    unlink(a);
    unlink(b);
    rmdir(dir);
}

int main(void)
{
    run("declarations land in the catalog", t_declarations_land_in_catalog);
    run("statements come out in order", t_statements_in_order);
    run("an unknown column says where and suggests", t_unknown_column_says_where);
    run("an unknown function with no near name", t_unknown_function_no_near_name);
    run("a model call needs a declared model", t_semantic_needs_a_model);
    run("system tables bind without a database", t_system_table_without_database);
    run("settings are checked at bind time", t_set_is_checked_at_bind_time);
    run("imports: declarations, settings in order, cycles", t_import_cycle);
    catalog_free(&cat);
    return check_summary();
}
