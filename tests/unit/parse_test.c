/* parse_test.c: unit tests of the front end (grammar/lexer.re, grammar/parser.y, src/ast.c):
 * valid programs from language.md checked through their AST dumps and node fields, and invalid
 * ones checked by message, line, column and error code. Prints `ok NAME` or `FAIL NAME: reason`
 * per test and a closing `N passed, M failed`; exits nonzero on failure. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "ast.h"
#include "lexer.h"
#include "parser.h"
#include "check.h"




static Src src;
static fql_error err;

/* Parse text (kept in a private NUL-terminated copy); NULL on error (err filled). */
static Node *parse(const char *text)
{
    static char *copy;
    free(copy);
    copy = xstrdup(text);
    memset(&src, 0, sizeof src);
    src.name = "t.fql";
    src.text = copy;
    src.len = strlen(copy);
    memset(&err, 0, sizeof err);
    return parse_program(&src, &err);
}

/* The dump of a whole program (caller frees). */
static char *dump(const Node *n)
{
    Buf b;
    buf_init(&b);
    node_dump(&b, n, 0);
    return buf_take(&b);
}

/* text parses and its dump equals want. */
#define DUMP_IS(text, want) dump_is(text, want, __LINE__)
static void dump_is(const char *text, const char *want, int line)
{
    Node *prog = parse(text);
    if (!prog) {
        if (!failed) snprintf(reason, sizeof reason, "line %d: parse failed: %s", line, err.message);
        failed = 1;
        return;
    }
    char *d = dump(prog);
    if (strcmp(d, want) != 0 && !failed) {
        snprintf(reason, sizeof reason, "line %d: dump differs:\n--- got\n%s--- want\n%s", line, d, want);
        failed = 1;
    }
    free(d);
    node_free(prog);
}

/* text parses and its dump contains want. */
#define DUMP_HAS(text, want) dump_has(text, want, __LINE__)
static void dump_has(const char *text, const char *want, int line)
{
    Node *prog = parse(text);
    if (!prog) {
        if (!failed) snprintf(reason, sizeof reason, "line %d: parse failed: %s", line, err.message);
        failed = 1;
        return;
    }
    char *d = dump(prog);
    if (!strstr(d, want) && !failed) {
        snprintf(reason, sizeof reason, "line %d: dump lacks [%s]:\n%s", line, want, d);
        failed = 1;
    }
    free(d);
    node_free(prog);
}

/* text fails with a message containing want at line:col with code. */
#define BAD(text, want, l, c, code) bad(text, want, l, c, code, __LINE__)
static void bad(const char *text, const char *want, int l, int c, int code, int line)
{
    Node *prog = parse(text);
    if (prog) {
        node_free(prog);
        if (!failed) snprintf(reason, sizeof reason, "line %d: [%s] parsed, want error [%s]", line, text, want);
        failed = 1;
        return;
    }
    if (failed) return;
    if (!strstr(err.message, want))
        snprintf(reason, sizeof reason, "line %d: message [%s], want [%s]", line, err.message, want), failed = 1;
    else if (err.line != l || err.column != c)
        snprintf(reason, sizeof reason, "line %d: at %d:%d, want %d:%d (%s)", line, err.line, err.column, l, c, err.message), failed = 1;
    else if (err.code != code)
        snprintf(reason, sizeof reason, "line %d: code %d, want %d (%s)", line, err.code, code, err.message), failed = 1;
    else if (strcmp(err.file, "t.fql") != 0)
        snprintf(reason, sizeof reason, "line %d: file [%s]", line, err.file), failed = 1;
}

#define P FQL_ERR_PARSE
#define INC FQL_ERR_INCOMPLETE

/* ---------------------------------------------------------------------------------------- */

static const char *top_example =
    "-- triage.fql\n"
    "model fast     = openai(\"gpt-4o-mini\", rpm: 500, tpm: 200000);\n"
    "model powerful = openai(\"gpt-4o\", rpm: 100, tpm: 100000);\n"
    "model balanced = anthropic(\"claude-3-5-haiku-latest\", rpm: 50, input_tpm: 100000, output_tpm: 50000);\n"
    "embedding model vectors = openai(\"text-embedding-3-small\", rpm: 3000, tpm: 1000000);\n"
    "default model fast;\n"
    "\n"
    "type Triage = {\n"
    "  is_technical: bool,\n"
    "  needs_escalation: bool \"true when a human engineer must look at it\",\n"
    "};\n"
    "type Details = { root_cause: string, actions: [string], timeline: string };\n"
    "\n"
    "let tickets = from csv(\"tickets.csv\");\n"
    "\n"
    "let escalated = tickets\n"
    "  | where priority == \"high\"                       -- cheap filter: runs before any LLM call\n"
    "  | derive triage = extract(content, Triage)\n"
    "  | where triage.needs_escalation\n"
    "  | derive details = extract(content, Details, model: powerful)\n"
    "  | cache;\n"
    "\n"
    "escalated | select id, triage.is_technical, details.root_cause | order by id | limit 20;\n"
    "escalated | write parquet(\"escalated.parquet\");\n"
    "from system.query_metrics | group by model agg cost = sum(cost_usd), calls = sum(requests);\n";

static void t_top_example(void)
{
    Node *prog = parse(top_example);
    CHECK(prog, "parse failed: %s", err.message);
    if (!prog) return;
    static const NodeKind kinds[] = {N_MODEL, N_MODEL, N_MODEL, N_MODEL, N_DEFAULT, N_TYPEDECL,
                                     N_TYPEDECL, N_LET, N_LET, N_RUN, N_RUN, N_RUN};
    CHECK(prog->kind == N_PROGRAM && prog->nkids == 12, "nkids %d", prog->nkids);
    for (int i = 0; i < prog->nkids && i < 12; i++)
        CHECK(prog->kids[i]->kind == kinds[i], "statement %d is %s", i, node_kind_name(prog->kids[i]->kind));
    if (failed) { node_free(prog); return; }
    Node *m = prog->kids[0];
    CHECK(!strcmp(m->str, "fast") && m->a->kind == N_CALL && !strcmp(m->a->str, "openai"), "model 0");
    CHECK(m->a->nkids == 3 && m->a->kids[1]->kind == N_NAMED && !strcmp(m->a->kids[1]->str, "rpm") &&
          m->a->kids[1]->a->ival == 500, "model args");
    CHECK(prog->kids[3]->flag == 1 && !strcmp(prog->kids[3]->str, "vectors"), "embedding model");
    CHECK(prog->kids[4]->flag == 0 && !strcmp(prog->kids[4]->str, "fast"), "default");
    Node *tri = prog->kids[5]->a;
    CHECK(tri->kind == N_TYPE_STRUCT && tri->nkids == 2, "Triage struct");
    CHECK(!strcmp(tri->kids[1]->str2, "true when a human engineer must look at it"), "description");
    Node *esc = prog->kids[8];
    CHECK(!strcmp(esc->str, "escalated") && esc->a->kind == N_PIPELINE && esc->a->nkids == 5, "escalated");
    CHECK(esc->a->a->kind == N_SRC_NAME && !strcmp(esc->a->a->str, "tickets"), "source");
    Node *w = esc->a->kids[0];
    CHECK(w->kind == N_WHERE && w->a->kind == N_BINOP && w->a->op == OP_EQ, "where");
    /* positions: `where` on line 17 col 5; its `priority` at col 11 */
    int line, col;
    src_linecol(&src, w->pos, &line, &col);
    CHECK(line == 17 && col == 5, "where at %d:%d", line, col);
    src_linecol(&src, w->a->pos, &line, &col);
    CHECK(line == 17 && col == 11, "binop at %d:%d", line, col);
    CHECK(esc->a->kids[4]->kind == N_CACHE, "cache");
    Node *sys = prog->kids[11]->a;
    CHECK(!strcmp(sys->a->str, "system.query_metrics"), "system table [%s]", sys->a->str);
    Node *g = sys->kids[0];
    CHECK(g->kind == N_GROUP && g->a->nkids == 1 && g->b->nkids == 2, "group");
    CHECK(!strcmp(g->a->kids[0]->a->str, "model") && !strcmp(g->b->kids[0]->str, "cost"), "group names");
    node_free(prog);
}

static void t_top_example_dump(void)
{
    DUMP_HAS(top_example,
             "  LET escalated\n"
             "    PIPELINE\n"
             "      SRC_NAME tickets\n"
             "      WHERE\n"
             "        BINOP ==\n"
             "          IDENT priority\n"
             "          STRING \"high\"\n"
             "      DERIVE\n"
             "        ASSIGN triage\n"
             "          CALL extract\n"
             "            IDENT content\n"
             "            IDENT Triage\n"
             "      WHERE\n"
             "        FIELD needs_escalation\n"
             "          IDENT triage\n"
             "      DERIVE\n"
             "        ASSIGN details\n"
             "          CALL extract\n"
             "            IDENT content\n"
             "            IDENT Details\n"
             "            NAMED model\n"
             "              IDENT powerful\n"
             "      CACHE\n");
    DUMP_HAS(top_example,
             "  RUN\n"
             "    PIPELINE\n"
             "      SRC_NAME escalated\n"
             "      WRITE\n"
             "        CALL parquet\n"
             "          STRING \"escalated.parquet\"\n");
}

static void t_statements(void)
{
    DUMP_IS("model m = openrouter(\"auto\", profiles: {cost: {sort: \"price\"}}, batch: true)",
            "PROGRAM\n"
            "  MODEL m\n"
            "    CALL openrouter\n"
            "      STRING \"auto\"\n"
            "      NAMED profiles\n"
            "        STRUCT_LIT\n"
            "          ASSIGN cost\n"
            "            STRUCT_LIT\n"
            "              ASSIGN sort\n"
            "                STRING \"price\"\n"
            "      NAMED batch\n"
            "        BOOL true\n");
    DUMP_IS("default embedding model v; default model m;",
            "PROGRAM\n  DEFAULT v embedding\n  DEFAULT m\n");
    DUMP_IS("explain from t; explain analyze t; explain cost t | cache",
            "PROGRAM\n"
            "  EXPLAIN\n    PIPELINE\n      SRC_NAME t\n"
            "  EXPLAIN analyze\n    PIPELINE\n      SRC_NAME t\n"
            "  EXPLAIN cost\n    PIPELINE\n      SRC_NAME t\n      CACHE\n");
    DUMP_IS("fn add(a, b) = a + b; fn zero() = 0",
            "PROGRAM\n"
            "  FN add(a, b)\n    BINOP +\n      IDENT a\n      IDENT b\n"
            "  FN zero()\n    INT 0\n");
    DUMP_IS("import \"lib/x.fql\"; import std.text;",
            "PROGRAM\n  IMPORT \"lib/x.fql\"\n  IMPORT std.text\n");
    DUMP_IS("set cache = off; set max_rows = 50; set format = \"json\"; set progress = on",
            "PROGRAM\n"
            "  SET cache\n    IDENT off\n"
            "  SET max_rows\n    INT 50\n"
            "  SET format\n    STRING \"json\"\n"
            "  SET progress\n    IDENT on\n");
    DUMP_IS(";; ;from t;;", "PROGRAM\n  RUN\n    PIPELINE\n      SRC_NAME t\n");
    DUMP_IS("", "PROGRAM\n");
    DUMP_IS("-- only a comment\n/* and a block\n comment */", "PROGRAM\n");
    /* FN params are IDENT kids */
    Node *prog = parse("fn f(x, y) = x");
    CHECK(prog && prog->kids[0]->nkids == 2 && prog->kids[0]->kids[1]->kind == N_IDENT &&
          !strcmp(prog->kids[0]->kids[1]->str, "y"), "fn params");
    node_free(prog);
}

static void t_types(void)
{
    DUMP_IS("type T = { a: bool, b: [string] \"desc\", c: enum(\"x\",\"y\")?, d: vector(1536), e: OtherType, "
            "f: {nested: int}, g: int?, h: [int]?, \"odd name\": json, };",
            "PROGRAM\n"
            "  TYPEDECL T\n"
            "    TYPE_STRUCT\n"
            "      TYPE_FIELD a\n        TYPE_NAME bool\n"
            "      TYPE_FIELD b \"desc\"\n        TYPE_LIST\n          TYPE_NAME string\n"
            "      TYPE_FIELD c\n        TYPE_ENUM?\n          STRING \"x\"\n          STRING \"y\"\n"
            "      TYPE_FIELD d\n        TYPE_VECTOR 1536\n"
            "      TYPE_FIELD e\n        TYPE_NAME OtherType\n"
            "      TYPE_FIELD f\n        TYPE_STRUCT\n          TYPE_FIELD nested\n            TYPE_NAME int\n"
            "      TYPE_FIELD g\n        TYPE_NAME int?\n"
            "      TYPE_FIELD h\n        TYPE_LIST?\n          TYPE_NAME int\n"
            "      TYPE_FIELD odd name\n        TYPE_NAME json\n");
    DUMP_IS("type E = {}; type L = [[date]]; type S = {x: timestamp}?",
            "PROGRAM\n"
            "  TYPEDECL E\n    TYPE_STRUCT\n"
            "  TYPEDECL L\n    TYPE_LIST\n      TYPE_LIST\n        TYPE_NAME date\n"
            "  TYPEDECL S\n    TYPE_STRUCT?\n      TYPE_FIELD x\n        TYPE_NAME timestamp\n");
    /* keyword-named fields */
    DUMP_HAS("type K = {type: string, model: string, first: int}", "TYPE_FIELD type\n");
    DUMP_HAS("from t | derive x = cast(a as vector(3))", "CAST\n            IDENT a\n            TYPE_VECTOR 3\n");
    DUMP_HAS("from t | derive x = cast(a as enum(\"p\", \"q\"))", "TYPE_ENUM\n");
}

static void t_sources(void)
{
    DUMP_IS("from (from orders | where total > 100) as o | union all csv(\"a.csv\", header: true) as c",
            "PROGRAM\n"
            "  RUN\n"
            "    PIPELINE\n"
            "      SRC_PIPE as o\n"
            "        PIPELINE\n"
            "          SRC_NAME orders\n"
            "          WHERE\n"
            "            BINOP >\n"
            "              IDENT total\n"
            "              INT 100\n"
            "      UNION all\n"
            "        SRC_CALL csv as c\n"
            "          STRING \"a.csv\"\n"
            "          NAMED header\n"
            "            BOOL true\n");
    DUMP_IS("values [{a: 1, b: \"x\"}, {a: 2, b: \"y\"},] as v",
            "PROGRAM\n"
            "  RUN\n"
            "    PIPELINE\n"
            "      SRC_VALUES as v\n"
            "        STRUCT_LIT\n          ASSIGN a\n            INT 1\n          ASSIGN b\n            STRING \"x\"\n"
            "        STRUCT_LIT\n          ASSIGN a\n            INT 2\n          ASSIGN b\n            STRING \"y\"\n");
    DUMP_HAS("from values [{a: 1}]", "SRC_VALUES\n");
    DUMP_HAS("from system.lm_calls", "SRC_NAME system.lm_calls\n");
    DUMP_HAS("from docs(\"**/*.md\", type: \"markdown\")", "SRC_CALL docs\n        STRING \"**/*.md\"\n        NAMED type\n");
    DUMP_HAS("from pdf_metadata(\"*.pdf\") as p", "SRC_CALL pdf_metadata as p\n");
    DUMP_HAS("from parquet(\"hf://datasets/o/n/f.parquet\")", "STRING \"hf://datasets/o/n/f.parquet\"");
    DUMP_HAS("let x = escalated as e | select e.id", "SRC_NAME escalated as e\n");
    DUMP_HAS("from jsonl(\"x.jsonl\") | union tsv(\"y.tsv\")", "UNION\n        SRC_CALL tsv\n");
}

static void t_stages(void)
{
    DUMP_IS("from t | select *, * except (a, b), x + 1 as y",
            "PROGRAM\n  RUN\n    PIPELINE\n      SRC_NAME t\n"
            "      SELECT\n"
            "        STAR\n"
            "        STAR except\n          IDENT a\n          IDENT b\n"
            "        SELECT_ITEM as y\n          BINOP +\n            IDENT x\n            INT 1\n");
    DUMP_IS("from t | derive a = 1, b = a * 2 | rename a as x, b as y | drop x, y",
            "PROGRAM\n  RUN\n    PIPELINE\n      SRC_NAME t\n"
            "      DERIVE\n        ASSIGN a\n          INT 1\n        ASSIGN b\n          BINOP *\n            IDENT a\n            INT 2\n"
            "      RENAME\n        RENAME_ITEM a as x\n        RENAME_ITEM b as y\n"
            "      DROP\n        IDENT x\n        IDENT y\n");
    DUMP_IS("from t | group by lower(a) as k, b agg n = count(*), d = count(distinct x) | agg total = sum(n) | group by z",
            "PROGRAM\n  RUN\n    PIPELINE\n      SRC_NAME t\n"
            "      GROUP\n"
            "        LIST\n"
            "          SELECT_ITEM as k\n            CALL lower\n              IDENT a\n"
            "          SELECT_ITEM\n            IDENT b\n"
            "        LIST\n"
            "          ASSIGN n\n            CALL count\n              STAR\n"
            "          ASSIGN d\n            CALL count distinct\n              IDENT x\n"
            "      GROUP\n        LIST\n          ASSIGN total\n            CALL sum\n              IDENT n\n"
            "      GROUP\n        LIST\n          SELECT_ITEM\n            IDENT z\n        LIST\n");
    DUMP_IS("from t | order by a desc nulls last, b asc, c nulls first, d | limit 10 offset 5 | limit 3",
            "PROGRAM\n  RUN\n    PIPELINE\n      SRC_NAME t\n"
            "      ORDER\n"
            "        ORDER_ITEM desc nulls last\n          IDENT a\n"
            "        ORDER_ITEM\n          IDENT b\n"
            "        ORDER_ITEM nulls first\n          IDENT c\n"
            "        ORDER_ITEM\n          IDENT d\n"
            "      LIMIT\n        INT 10\n        INT 5\n"
            "      LIMIT\n        INT 3\n");
    DUMP_IS("from t | distinct | distinct a, b.c",
            "PROGRAM\n  RUN\n    PIPELINE\n      SRC_NAME t\n"
            "      DISTINCT\n"
            "      DISTINCT\n        IDENT a\n        FIELD c\n          IDENT b\n");
    DUMP_IS("from t | join u on t.id == u.id | left outer join v using (a, b) | right join w on x "
            "| full outer join y on z | cross join q | inner join r on s | left join k on j",
            "PROGRAM\n  RUN\n    PIPELINE\n      SRC_NAME t\n"
            "      JOIN inner\n        SRC_NAME u\n        BINOP ==\n          FIELD id\n            IDENT t\n          FIELD id\n            IDENT u\n"
            "      JOIN left\n        SRC_NAME v\n        LIST\n          IDENT a\n          IDENT b\n"
            "      JOIN right\n        SRC_NAME w\n        IDENT x\n"
            "      JOIN full\n        SRC_NAME y\n        IDENT z\n"
            "      JOIN cross\n        SRC_NAME q\n"
            "      JOIN inner\n        SRC_NAME r\n        IDENT s\n"
            "      JOIN left\n        SRC_NAME k\n        IDENT j\n");
    DUMP_IS("from t | semantic join u on \"{{left.a}} ~ {{right.b}}\" model fast.cost | semantic join v on 'x' "
            "| semantic join w on \"y\" model: m, prefilter: 0.5",
            "PROGRAM\n  RUN\n    PIPELINE\n      SRC_NAME t\n"
            "      SEMJOIN \"{{left.a}} ~ {{right.b}}\"\n        SRC_NAME u\n        NAMED model\n          FIELD cost\n            IDENT fast\n"
            "      SEMJOIN \"x\"\n        SRC_NAME v\n"
            "      SEMJOIN \"y\"\n        SRC_NAME w\n        NAMED model\n          IDENT m\n        NAMED prefilter\n          FLOAT 0.5\n");
    DUMP_IS("from t | semantic join u on \"{{a}} {{b}}\" prefilter: embed top 5, model fast",
            "PROGRAM\n  RUN\n    PIPELINE\n      SRC_NAME t\n"
            "      SEMJOIN \"{{a}} {{b}}\"\n        SRC_NAME u\n        NAMED prefilter\n          CALL embed\n            INT 5\n"
            "        NAMED model\n          IDENT fast\n");
    DUMP_IS("from t | sim join u on embed(a) ~ b top 5 metric cosine as score | sim join v on x ~ y",
            "PROGRAM\n  RUN\n    PIPELINE\n      SRC_NAME t\n"
            "      SIMJOIN top 5 metric cosine as score\n        SRC_NAME u\n        CALL embed\n          IDENT a\n        IDENT b\n"
            "      SIMJOIN\n        SRC_NAME v\n        IDENT x\n        IDENT y\n");
    DUMP_IS("from t | explode tags | explode outer tags with index as i | unnest s | union u | union all v",
            "PROGRAM\n  RUN\n    PIPELINE\n      SRC_NAME t\n"
            "      EXPLODE\n        IDENT tags\n"
            "      EXPLODE outer index i\n        IDENT tags\n"
            "      UNNEST\n        IDENT s\n"
            "      UNION\n        SRC_NAME u\n"
            "      UNION all\n        SRC_NAME v\n");
    DUMP_IS("from t | cluster by emb into 8 as c centroid as ctr seed: 42 | cluster by embed(x) into 2 as k | cache",
            "PROGRAM\n  RUN\n    PIPELINE\n      SRC_NAME t\n"
            "      CLUSTER 8 as c centroid ctr\n        IDENT emb\n        NAMED seed\n          INT 42\n"
            "      CLUSTER 2 as k\n        CALL embed\n          IDENT x\n"
            "      CACHE\n");
    DUMP_IS("from t | write csv(\"out.csv\", mode: \"append\")",
            "PROGRAM\n  RUN\n    PIPELINE\n      SRC_NAME t\n"
            "      WRITE\n        CALL csv\n          STRING \"out.csv\"\n          NAMED mode\n            STRING \"append\"\n");
    /* keywords as column names, function names and option names */
    DUMP_HAS("from t | select type, model, first, last, values, cache, index, set, union, group, order, date, on",
             "SELECT_ITEM\n          IDENT type\n        SELECT_ITEM\n          IDENT model\n");
    DUMP_HAS("from t | derive type = 1, first = left(s, 2), r = RIGHT(s, 1), x = replace(a, b, c)",
             "ASSIGN first\n          CALL left\n");
    DUMP_HAS("from t | derive r = RIGHT(s, 1)", "CALL right\n");
    DUMP_HAS("from t | group by model agg cost = sum(cost_usd)", "ASSIGN cost\n");
    DUMP_HAS("from t | order by first desc", "ORDER_ITEM desc\n          IDENT first\n");
    /* keywords are case-insensitive; identifiers are not */
    DUMP_IS("FROM t | SELECT A | Where B",
            "PROGRAM\n  RUN\n    PIPELINE\n      SRC_NAME t\n      SELECT\n        SELECT_ITEM\n          IDENT A\n"
            "      WHERE\n        IDENT B\n");
}

static void t_expressions(void)
{
    /* precedence: or < and < not < comparison < || < + - < * / % < unary - < postfix */
    DUMP_IS("from t | where not a or b and c == 1 + 2 * -x.y[0]",
            "PROGRAM\n  RUN\n    PIPELINE\n      SRC_NAME t\n"
            "      WHERE\n"
            "        BINOP or\n"
            "          UNOP not\n            IDENT a\n"
            "          BINOP and\n"
            "            IDENT b\n"
            "            BINOP ==\n"
            "              IDENT c\n"
            "              BINOP +\n"
            "                INT 1\n"
            "                BINOP *\n"
            "                  INT 2\n"
            "                  UNOP -\n"
            "                    INDEX\n"
            "                      FIELD y\n"
            "                        IDENT x\n"
            "                      INT 0\n");
    DUMP_IS("from t | where not a == b", "PROGRAM\n  RUN\n    PIPELINE\n      SRC_NAME t\n"
            "      WHERE\n        UNOP not\n          BINOP ==\n            IDENT a\n            IDENT b\n");
    DUMP_HAS("from t | derive x = a || b + c", "BINOP ||\n            IDENT a\n            BINOP +\n");
    DUMP_HAS("from t | derive x = a - b - c", "BINOP -\n            BINOP -\n              IDENT a\n              IDENT b\n            IDENT c\n");
    DUMP_HAS("from t | where x in (1, 2) and y not in (\"a\")",
             "IN\n            IDENT x\n            INT 1\n            INT 2\n          IN not\n            IDENT y\n");
    DUMP_HAS("from t | where a is null or b is not null", "ISNULL\n            IDENT a\n          ISNULL not\n");
    DUMP_HAS("from t | where s like 'a%' or s not like 'b' or s ilike 'c' or s not ilike 'd'", "LIKE not ilike\n");
    DUMP_HAS("from t | where s like 'a%'", "LIKE like\n          IDENT s\n          STRING \"a%\"\n");
    DUMP_HAS("from t | where n between 1 and 10 and m not between -1 and 2.5",
             "BINOP and\n          BETWEEN\n            IDENT n\n            INT 1\n            INT 10\n"
             "          BETWEEN not\n            IDENT m\n            INT -1\n            FLOAT 2.5\n");
    DUMP_HAS("from t | where a <> b and c != d and e <= f and g >= h and i < j and k > l",
             "BINOP !=\n");
    DUMP_HAS("from t | derive x = case when a > 1 then \"big\" when a < 0 then \"neg\" else \"small\" end",
             "CASE\n            WHEN\n              BINOP >\n                IDENT a\n                INT 1\n              STRING \"big\"\n"
             "            WHEN\n              BINOP <\n                IDENT a\n                INT 0\n              STRING \"neg\"\n"
             "            STRING \"small\"\n");
    DUMP_HAS("from t | derive x = case when a then 1 end", "CASE\n            WHEN\n              IDENT a\n              INT 1\n");
    DUMP_HAS("from t | derive x = if(a, b, c)", "CALL if\n            IDENT a\n            IDENT b\n            IDENT c\n");
    DUMP_HAS("from t | derive x = [1, [2, 3],], y = [], z = {}, w = {a: 1, \"b c\": 2,}",
             "LIST_LIT\n            INT 1\n            LIST_LIT\n              INT 2\n              INT 3\n");
    DUMP_HAS("from t | derive w = {a: 1, \"b c\": 2,}", "STRUCT_LIT\n            ASSIGN a\n              INT 1\n            ASSIGN b c\n");
    DUMP_HAS("from t | derive x = cast(y as [int]?)", "CAST\n            IDENT y\n            TYPE_LIST?\n              TYPE_NAME int\n");
    DUMP_HAS("from t | derive x = f(a, b, key: 1, model: m)", "CALL f\n            IDENT a\n            IDENT b\n            NAMED key\n");
    DUMP_HAS("from t | derive x = chunk(text, size: 1000, overlap: 100, by: \"words\")", "NAMED by\n");
    DUMP_HAS("from t | derive s = summarize(c, words: 120, format: \"key_points\")", "NAMED format\n");
    DUMP_HAS("from t | derive e = extract(c, T, examples: [{input: \"a\", output: \"b\"}])", "NAMED examples\n              LIST_LIT\n");
    DUMP_HAS("from t | agg r = reduce(\"themes\", c, order_by: ts)", "CALL reduce\n");
    DUMP_HAS("from t | where predicate(\"Is {{text}} about billing?\")", "CALL predicate\n");
    DUMP_HAS("from t | derive c = classify(x, {bug: \"a bug\", feature: \"new\"})", "STRUCT_LIT\n              ASSIGN bug\n");
    DUMP_HAS("from t | select `weird col`, `select`", "IDENT weird col\n        SELECT_ITEM\n          IDENT select\n");
    /* parentheses and trailing commas in calls */
    DUMP_HAS("from t | derive x = (a + b) * c", "BINOP *\n            BINOP +\n");
    DUMP_HAS("from t | derive x = f(a,)", "CALL f\n            IDENT a\n");
}

static void t_literals(void)
{
    DUMP_HAS("from t | select 42, -7, 3.14, 1e-3, .5, 1_000_000, 2E+2, true, false, null",
             "INT 42\n        SELECT_ITEM\n          INT -7\n        SELECT_ITEM\n          FLOAT 3.14\n"
             "        SELECT_ITEM\n          FLOAT 0.001\n        SELECT_ITEM\n          FLOAT 0.5\n"
             "        SELECT_ITEM\n          INT 1000000\n        SELECT_ITEM\n          FLOAT 200\n"
             "        SELECT_ITEM\n          BOOL true\n        SELECT_ITEM\n          BOOL false\n        SELECT_ITEM\n          NULL\n");
    DUMP_HAS("from t | select 9223372036854775807, -9223372036854775807", "INT 9223372036854775807\n");
    DUMP_HAS("from t | select 'a\\'b', \"c\\\"d\", 'it''s', \"tab\\there\\n\\r\\\\\"",
             "STRING \"a'b\"\n        SELECT_ITEM\n          STRING \"c\\\"d\"\n        SELECT_ITEM\n          STRING \"it's\"\n"
             "        SELECT_ITEM\n          STRING \"tab\\there\\n\\r\\\\\"\n");
    DUMP_HAS("from t | select \"\\u{1F600}\\u{e9}\"", "STRING \"\xF0\x9F\x98\x80\xC3\xA9\"\n");
    DUMP_HAS("from t | select \"\"\"multi\n  \"line\" \\n\n\"\"\"", "STRING \"multi\\n  \\\"line\\\" \\\\n\\n\"\n");
    DUMP_HAS("from t | select \"\", ''", "STRING \"\"\n        SELECT_ITEM\n          STRING \"\"\n");
    /* a string holding NUL bytes keeps its length */
    Node *prog = parse("from t | select \"a\\0b\\u{0}\"");
    CHECK(prog, "parse: %s", err.message);
    if (prog) {
        Node *s = prog->kids[0]->a->kids[0]->kids[0]->a;
        CHECK(s->kind == N_STRING && s->ival == 4 && !memcmp(s->str, "a\0b\0", 4), "NUL string len %lld", (long long)s->ival);
        Node *c = node_clone(prog);
        char *d1 = dump(prog), *d2 = dump(c);
        CHECK(!strcmp(d1, d2), "clone dump differs");
        CHECK(c->kids[0]->a->kids[0]->kids[0]->a->ival == 4 &&
              !memcmp(c->kids[0]->a->kids[0]->kids[0]->a->str, "a\0b\0", 4), "clone keeps NULs");
        free(d1); free(d2);
        node_free(c);
        node_free(prog);
    }
    /* the unary minus on a non-literal stays a UNOP; on a literal it folds */
    prog = parse("from t | select -x, -(2), - 2.5");
    CHECK(prog, "parse: %s", err.message);
    if (prog) {
        Node *sel = prog->kids[0]->a->kids[0];
        CHECK(sel->kids[0]->a->kind == N_UNOP && sel->kids[0]->a->op == OP_NEG, "-x");
        CHECK(sel->kids[1]->a->kind == N_INT && sel->kids[1]->a->ival == -2, "-(2)");
        CHECK(sel->kids[2]->a->kind == N_FLOAT && sel->kids[2]->a->fval == -2.5, "- 2.5");
        CHECK(sel->kids[2]->a->pos == 26, "folded literal starts at the minus (%d)", sel->kids[2]->a->pos);
        node_free(prog);
    }
}

static void t_positions(void)
{
    Node *prog = parse("let x = from t\n  | where a == 1;\nx | select b");
    CHECK(prog, "parse: %s", err.message);
    if (!prog) return;
    Node *let = prog->kids[0];
    CHECK(let->pos == 0 && let->a->pos == 8, "let %d pipeline %d", let->pos, let->a->pos);
    Node *w = let->a->kids[0];
    CHECK(w->pos == 19 && w->a->pos == 25 && w->a->b->pos == 30, "where %d binop %d rhs %d", w->pos, w->a->pos, w->a->b->pos);
    CHECK(w->a->end == 31, "binop end %d", w->a->end);
    Node *run = prog->kids[1];
    CHECK(run->pos == 33 && run->a->a->pos == 33 && run->a->kids[0]->pos == 37, "run %d", run->pos);
    CHECK(run->src == &src && w->src == &src, "src pointer");
    node_free(prog);
}

static void t_errors_common(void)
{
    BAD("from t | where", "unexpected end of input; expected an expression after 'where'", 1, 15, INC);
    BAD("from t | where | select a", "expected an expression after 'where', got '|'", 1, 16, P);
    BAD("from t | select", "expected an expression after 'select'", 1, 16, INC);
    BAD("from t | derive", "expected 'NAME = EXPRESSION' after 'derive'", 1, 16, INC);
    BAD("from t | derive x == 1", "expected '=' after 'x', got '=='", 1, 19, P);
    BAD("from t | derive x = ", "expected an expression after '='", 1, 21, INC);
    BAD("from t | group by | select a", "expected an expression after 'by'", 1, 19, P);
    BAD("from t | order by", "expected an expression after 'by'", 1, 18, INC);
    BAD("from t | where a = 1", "unexpected '=' in an expression; did you mean '=='?", 1, 18, P);
    BAD("from t\n  | where a.b = \"x\" and c", "did you mean '=='?", 2, 15, P);
    BAD("from t | selct a", "unknown stage 'selct'; did you mean 'select'?", 1, 10, P);
    BAD("from t | wher a", "unknown stage 'wher'; did you mean 'where'?", 1, 10, P);
    BAD("from t | frobnicate a", "unknown stage 'frobnicate'; expected a stage such as select", 1, 10, P);
    BAD("from t |", "unexpected end of input; expected a stage", 1, 9, INC);
    BAD("from | select a", "expected a source", 1, 6, P);
    BAD("from", "unexpected end of input; expected a source", 1, 5, INC);
    BAD("from t | join", "expected a source", 1, 14, INC);
    BAD("from t | where f(a, b;", "expected ')' or ',' after 'b', got ';'", 1, 22, P);
    BAD("from t | where (a + b", "unexpected end of input; expected ')' after 'b'", 1, 22, INC);
    BAD("from t | where [1, 2", "expected ',' or ']' after '2'", 1, 21, INC);
    BAD("from t | where [1, 2;", "expected ',' or ']' after '2', got ';'", 1, 21, P);
    BAD("from t | select {a: 1", "expected ',' or '}' after '1'", 1, 22, INC);
    BAD("from t | select a b", "expected ';' or '|' after the pipeline, got 'b'", 1, 19, P);
    BAD("from t | where x == 1 foo", "expected ';' or '|' after the pipeline, got 'foo'", 1, 23, P);
    BAD("from (from t | where x y)", "expected ')' or '|' after the pipeline, got 'y'", 1, 24, P);
    BAD("from t where x", "expected '|' before 'where'", 1, 8, P);
    BAD("let a = from t\nlet b = from a", "expected ';' before 'let'", 2, 1, P);
    BAD("select * from t", "a statement cannot start with 'select'; a pipeline starts with its source", 1, 1, P);
    BAD("modle fast = openai(\"x\")", "unknown statement 'modle'; did you mean 'model'?", 1, 1, P);
    BAD("x = from t", "to name a pipeline write 'let NAME = ...'", 1, 3, P);
    BAD("from t | where a < b < c", "comparisons do not chain", 1, 22, P);
    BAD("from t | where a == b == c", "comparisons do not chain", 1, 23, P);
    BAD("from t | where a and and b", "expected an expression after 'and', got 'and'", 1, 22, P);
    BAD("from t | where case when a then 1", "expected 'end'", 1, 34, INC);
    BAD("from t | where a not b", "expected 'in', 'like', 'ilike' or 'between' after 'not'", 1, 22, P);
    BAD("from t | sim join u on a b", "expected '~' after 'a', got 'b'", 1, 26, P);
    BAD("from t | order by x desc nulls", "expected 'first' or 'last' after 'nulls'", 1, 31, INC);
    BAD("from t | join u | select a", "expected 'on EXPR' or 'using (columns)' after the join source", 1, 17, P);
    BAD("from t | join u", "expected 'on EXPR' or 'using (columns)'", 1, 16, INC);
    BAD("model = openai()", "expected a name after 'model', got '='", 1, 7, P);
    BAD("let t = ", "unexpected end of input; expected a source", 1, 9, INC);
    BAD("fn f(a, 1) = a", "expected a name after ',', got '1'", 1, 9, P);
    BAD("fn f(a, b = a", "unexpected end of input; expected ')' or ','", 1, 14, INC);
    BAD("from t | derive x = f(a: 1, b)", "positional argument after a named argument", 1, 29, P);
    BAD("import foo.bar", "expected a string path or 'std.NAME' after 'import'", 1, 8, P);
    BAD("from t | limit", "expected an expression after 'limit'", 1, 15, INC);
    BAD("from t | cluster by e into 0 as c", "positive number of clusters", 1, 28, P);
    /* multi-line: the caret is on the right line */
    BAD("let x = from t\n  | where\n  | select a;", "expected an expression after 'where', got '|'", 3, 3, P);
    CHECK(strstr(err.message, "\n    | select a;\n    ^") != NULL, "caret: [%s]", err.message);
}

static void t_errors_types(void)
{
    BAD("type T = { a: };", "expected a type (string, int", 1, 15, P);
    BAD("type T = { a: string b: int };", "expected ',' or '}' after 'string', got 'b'", 1, 22, P);
    BAD("type T = { a string };", "expected ':' after 'a', got 'string'", 1, 14, P);
    BAD("type T = foo(1);", "unknown type 'foo(...)'", 1, 10, P);
    BAD("type T = vector(0);", "a vector dimension must be positive", 1, 17, P);
    BAD("type T = enum();", "expected an integer or a string after '(', got ')'", 1, 15, P);
    BAD("from t | derive x = cast(a as )", "expected a type", 1, 31, P);
    BAD("type T = {a: [int}", "expected ']' after 'int', got '}'", 1, 18, P);
    BAD("type T = ", "unexpected end of input; expected a type", 1, 10, INC);
}

static void t_errors_lexical(void)
{
    BAD("from t | where \"abc", "unterminated string", 1, 16, P);
    BAD("from t | where 'abc\n'", "unterminated string", 1, 16, P);
    BAD("from t | where \"a\\qb\"", "invalid escape '\\q' in a string", 1, 18, P);
    BAD("from t | where \"\\u{110000}\"", "invalid unicode escape", 1, 17, P);
    BAD("from t | where \"\\u{D800}\"", "invalid unicode escape", 1, 17, P);
    BAD("from t | where \"\\u00e9\"", "invalid unicode escape", 1, 17, P);
    BAD("from t | where \"\\u{}\"", "invalid unicode escape", 1, 17, P);
    BAD("/* abc", "unterminated block comment", 1, 1, INC);
    BAD("from t /* abc\n */ | where /* x", "unterminated block comment", 2, 13, INC);
    BAD("from t | where \"\"\"abc\n def", "unterminated raw string", 1, 16, INC);
    BAD("from t | where 99999999999999999999", "integer literal too large", 1, 16, P);
    BAD("from t | where 9223372036854775808", "integer literal too large", 1, 16, P);
    BAD("from t | where 12abc", "invalid number '12abc'", 1, 16, P);
    BAD("from t | where 1_", "invalid number '1_'", 1, 16, P);
    BAD("from t | where a # b", "unexpected character '#'", 1, 18, P);
    BAD("from t | where a @ b", "unexpected character '@'", 1, 18, P);
    BAD("from t | where a \xC3\xA9 b", "unexpected character '\xC3\xA9'", 1, 18, P);
    BAD("from t | select `a b`, `c", "unterminated quoted name", 1, 24, P);
    BAD("from t | select ``", "empty quoted name", 1, 17, P);
    BAD("from t | where a == \"\xff\"", "invalid UTF-8", 1, 22, P);
    BAD("from t | where a == \"\xC3\"", "invalid UTF-8", 1, 22, P);
    /* an embedded NUL is a stray character, not the end */
    {
        static const char text[] = "from t\0 | x";
        memset(&src, 0, sizeof src);
        src.name = "t.fql";
        src.text = (char *)text;
        src.len = sizeof text - 1;
        memset(&err, 0, sizeof err);
        Node *prog = parse_program(&src, &err);
        CHECK(!prog && strstr(err.message, "unexpected character '\\x00'") && err.column == 7, "NUL: %s", err.message);
        node_free(prog);
    }
}

static void t_depth(void)
{
    /* deep nesting is an error, not a crash */
    Buf b;
    buf_init(&b);
    buf_puts(&b, "from t | where ");
    for (int i = 0; i < 5000; i++) buf_putc(&b, '(');
    buf_puts(&b, "1");
    Node *prog = parse(b.data);
    CHECK(!prog && strstr(err.message, "nested too deeply"), "parens: %s", err.message);
    buf_clear(&b);
    buf_puts(&b, "from t | where 1");
    for (int i = 0; i < 3000; i++) buf_puts(&b, " + 1");
    prog = parse(b.data);
    CHECK(!prog && strstr(err.message, "nested too deeply"), "chain: %s", prog ? "parsed" : err.message);
    node_free(prog);
    buf_clear(&b);
    buf_puts(&b, "from t | where 1");
    for (int i = 0; i < 1000; i++) buf_puts(&b, " + 1");
    prog = parse(b.data);
    CHECK(prog != NULL, "1000 terms: %s", err.message);
    node_free(prog);
    /* a long flat list is not deep */
    buf_clear(&b);
    buf_puts(&b, "values [");
    for (int i = 0; i < 5000; i++) buf_puts(&b, "{a: 1 + 2},");
    buf_puts(&b, "]");
    prog = parse(b.data);
    CHECK(prog != NULL && prog->kids[0]->a->a->nkids == 5000, "values: %s", err.message);
    node_free(prog);
    buf_free(&b);
}

static void t_lexer_api(void)
{
    static const char text[] = "select `a b` 'x' -- c\n 1.5e2 <> <= = == ?";
    Src s = {0};
    s.name = "lex";
    s.text = (char *)text;
    s.len = sizeof text - 1;
    Lexer lx;
    Token t;
    lex_init(&lx, &s);
    int want[] = {TK_SELECT, TK_ID, TK_STRING, TK_FLOAT, TK_NE, TK_LE, TK_EQ_SINGLE, TK_EQ, TK_QUESTION, 0};
    for (int i = 0; i < (int)(sizeof want / sizeof want[0]); i++) {
        int code = lex_next(&lx, &t, NULL);
        CHECK(code == want[i], "token %d: %d, want %d", i, code, want[i]);
        if (i == 0) CHECK(t.kw == 1 && t.pos == 0 && t.len == 6, "select token");
        if (i == 1) {
            char *n = lex_name_value(&s, &t);
            CHECK(!strcmp(n, "a b"), "name [%s]", n);
            free(n);
        }
        if (i == 3) CHECK(t.fval == 150.0, "float %g", t.fval);
    }
    CHECK(lex_keyword("WhErE", 5) == TK_WHERE && lex_keyword("wheres", 6) == 0, "lex_keyword");
    CHECK(!strcmp(lex_token_desc(TK_RPAREN), "')'") && !strcmp(lex_token_desc(TK_SELECT), "'select'"), "desc");
    /* after an error the lexer moves on (for highlighters) */
    static const char text2[] = "a # b";
    s.text = (char *)text2;
    s.len = sizeof text2 - 1;
    lex_init(&lx, &s);
    CHECK(lex_next(&lx, &t, NULL) == TK_ID && lex_next(&lx, &t, NULL) == -1 && t.pos == 2 &&
          lex_next(&lx, &t, NULL) == TK_ID && lex_next(&lx, &t, NULL) == 0, "resume after error");
}

/* parse_expected (the REPL's completion): what may follow a statement cut short. */
static unsigned char ex[256];
static int expected(const char *text)
{
    node_free(parse(""));
    src.text = (char *)text;
    src.len = strlen(text);
    return parse_expected(&src, ex, (int)sizeof ex);
}

static void t_expected(void)
{
    CHECK(expected("") == 0 && ex[TK_LET] && ex[TK_MODEL] && ex[TK_FROM] && ex[TK_ID] && !ex[TK_WHERE], "statement start");
    CHECK(expected("from t |") == 0 && ex[TK_SELECT] && ex[TK_WHERE] && ex[TK_ORDER] && !ex[TK_ID] && !ex[TK_LET], "after '|': stages only");
    CHECK(expected("from t | order by x") == 0 && ex[TK_DESC] && ex[TK_NULLS] && ex[TK_PIPE] && ex[TK_SEMI], "after an order key");
    CHECK(expected("from t | where a") == 0 && ex[TK_AND] && ex[TK_LIKE] && !ex[TK_SELECT] && !ex[TK_INTEGER], "after an operand");
    CHECK(expected("from t | where") == 0 && ex[TK_ID] && ex[TK_INTEGER] && ex[TK_NOT] && !ex[TK_SELECT], "an expression: keywords that are names are not offered");
    CHECK(expected("type T = {a: ") == 0 && ex[TK_ID] && ex[TK_LBRACE] && ex[TK_LBRACKET] && !ex[TK_INTEGER], "a type");
    CHECK(expected("default") == 0 && ex[TK_MODEL] && ex[TK_EMBEDDING] && !ex[TK_ID], "default model");
    CHECK(expected("from t | selcet x") == -1 && !ex[TK_ID] && !ex[TK_PIPE], "a syntax error before the end");
    CHECK(expected("from 'unterminated") == -1, "a lexical error");
    size_t n = 0;
    while (lex_keyword_name(n)) {
        const char *kw = lex_keyword_name(n++);
        CHECK(lex_keyword(kw, strlen(kw)) > 0, "keyword %s", kw);
    }
    CHECK(n > 60 && !strcmp(lex_keyword_name(0), "agg"), "lex_keyword_name lists %zu keywords", n);
}

int main(void)
{
    run("top_example", t_top_example);
    run("top_example_dump", t_top_example_dump);
    run("statements", t_statements);
    run("types", t_types);
    run("sources", t_sources);
    run("stages", t_stages);
    run("expressions", t_expressions);
    run("literals", t_literals);
    run("positions", t_positions);
    run("errors_common", t_errors_common);
    run("errors_types", t_errors_types);
    run("errors_lexical", t_errors_lexical);
    run("depth", t_depth);
    run("lexer_api", t_lexer_api);
    run("expected", t_expected);
    node_free(parse(""));   /* frees the last private copy */
    return check_summary();
}
