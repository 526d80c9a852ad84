/* parser.y: the FQL grammar (Lemon). Builds the AST of src/ast.h and nothing else.
 *
 * The scanner (lexer.re) feeds Lemon's own token codes. Keywords are reserved only where the
 * grammar needs them: %fallback turns most of them into ID wherever a name is expected, so a
 * column may be called `type`, `model` or `first` and functions `left(...)` or `replace(...)`.
 *
 * Errors: the first error stops the parse. %syntax_error looks at the parser's stack to learn
 * which tokens it could have accepted (expected_set) and turns that, with the previous token,
 * into "expected an expression after 'where'" style messages with a caret under the offending
 * token. An error at the end of input is FQL_ERR_INCOMPLETE so that the REPL reads more.
 *
 * Comparison operators do not chain: `a < b < c` is a syntax error ("comparisons do not chain").
 */

%include {
#include <stdlib.h>
#include <string.h>
#include <assert.h>
#include "ast.h"
#include "lexer.h"
#include "parser.h"

/* Deepest expression or type tree accepted: recursive walkers (node_free, the binder) stay far
 * from the C stack limit. */
#define PARSE_MAX_DEPTH 2000

typedef struct Parser {
    const Src *src;
    fql_error *err;
    Node *prog;
    int failed;
    Token cur;          /* the token being fed */
    int cur_code;
    Token prev;         /* the token before it (prev_code 0: none) */
    int prev_code;
    Token stmt_first;   /* first token of the current statement */
    int stmt_first_code;
    int stmt_ntok;      /* tokens seen in the current statement */
    int ntok;           /* tokens fed so far, counting the current one */
    int syn_major;      /* the syntax error: token code, value and index (syn_index 0: none) */
    Token syn_tok;
    int syn_index;
} Parser;

struct yyParser;
static void parse_fail(Parser *p, int pos, const char *fmt, ...) FQL_PRINTF(3, 4);

static void parse_fail(Parser *p, int pos, const char *fmt, ...)
{
    va_list ap;
    char msg[512];
    if (p->failed) return;
    p->failed = 1;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    err_at(p->err, p->cur_code == 0 && pos >= (int)p->src->len ? FQL_ERR_INCOMPLETE : FQL_ERR_PARSE,
           p->src, pos, "%s", msg);
}

/* A new node at token t. */
static Node *mk(Parser *p, NodeKind k, Token t)
{
    Node *n = node_new(k, p->src, t.pos);
    n->end = t.pos + t.len;
    return n;
}

/* Record the depth of n from its children, failing the parse past PARSE_MAX_DEPTH. */
static Node *deep(Parser *p, Node *n)
{
    int d = 0;
    Node *ch[3] = {n->a, n->b, n->c};
    for (int i = 0; i < 3; i++)
        if (ch[i] && ch[i]->depth > d) d = ch[i]->depth;
    for (int i = 0; i < n->nkids; i++)
        if (n->kids[i]->depth > d) d = n->kids[i]->depth;
    n->depth = d + 1;
    if (n->depth > PARSE_MAX_DEPTH)
        parse_fail(p, n->pos, "expression nested too deeply (more than %d levels)", PARSE_MAX_DEPTH);
    return n;
}

static char *name_of(Parser *p, Token t) { return lex_name_value(p->src, &t); }

/* A function name: keywords used as function names are lower-cased (`LEFT(x, 2)` calls left). */
static char *func_name(Parser *p, Token t)
{
    char *s = lex_name_value(p->src, &t);
    if (t.kw)
        for (char *q = s; *q; q++)
            if (*q >= 'A' && *q <= 'Z') *q = (char)(*q - 'A' + 'a');
    return s;
}

static Node *ident(Parser *p, Token t)
{
    Node *n = mk(p, N_IDENT, t);
    n->str = name_of(p, t);
    return deep(p, n);
}

static Node *string_node(Parser *p, Token t)
{
    Node *n = mk(p, N_STRING, t);
    size_t len = 0;
    n->str = lex_string_value(p->src, &t, &len);
    n->ival = (int64_t)len;
    return deep(p, n);
}

/* An empty N_LIST holder starting at t. */
static Node *list0(Parser *p, Token t) { return mk(p, N_LIST, t); }

/* A N_LIST holding one kid. */
static Node *list1(Node *kid)
{
    Node *l = node_new(N_LIST, kid->src, kid->pos);
    node_add(l, kid);
    return l;
}

/* Move the kids of list (an N_LIST, freed) to the end of n's kids. Returns n. */
static Node *take_kids(Node *n, Node *list)
{
    if (!list) return n;
    for (int i = 0; i < list->nkids; i++) node_add(n, list->kids[i]);
    list->nkids = 0;
    node_free(list);
    return n;
}

static Node *binop(Parser *p, int op, Node *a, Node *b)
{
    Node *n = node_new(N_BINOP, p->src, a->pos);
    n->op = op;
    n->a = a;
    n->b = b;
    n->end = b->end;
    return deep(p, n);
}

/* Check that positional arguments precede named ones. */
static void check_args(Parser *p, Node *args)
{
    int named = 0;
    for (int i = 0; i < args->nkids; i++) {
        if (args->kids[i]->kind == N_NAMED) named = 1;
        else if (named) {
            parse_fail(p, args->kids[i]->pos, "positional argument after a named argument; put positional arguments first");
            return;
        }
    }
}

static Node *call(Parser *p, Token f, Node *args, Token rp)
{
    Node *n = mk(p, N_CALL, f);
    n->str = func_name(p, f);
    n->end = rp.pos + rp.len;
    if (args) {
        check_args(p, args);
        for (int i = 0; i < args->nkids; i++)
            if (args->kids[i]->kind == N_CALL && args->kids[i]->flag == 2) {
                /* `distinct x` argument: mark the call, keep x */
                Node *d = args->kids[i];
                args->kids[i] = d->a;
                d->a = NULL;
                node_free(d);
                n->flag = 1;
            }
        take_kids(n, args);
    }
    return deep(p, n);
}

static Node *stage(Parser *p, NodeKind k, Token t) { return mk(p, k, t); }

static void set_alias(Parser *p, Node *src, Token alias)
{
    free(src->str2);
    src->str2 = name_of(p, alias);
}
}

%name fqlParse
%token_prefix TK_
%token_type {Token}
%extra_argument {Parser *p}
%default_type {Node *}
%default_destructor { node_free($$); (void)p; }
%stack_size 3000
%stack_overflow { parse_fail(p, p->cur.pos, "the input is nested too deeply"); }
%syntax_error {
    /* Only recorded here: the message is built in parse_program from the stack as it was before
     * this token caused any default reductions (see explain_syntax_error). */
    if (!p->failed) { p->failed = 1; p->syn_major = yymajor; p->syn_tok = yyminor; p->syn_index = p->ntok; }
    (void)yypParser;
}
%parse_failure { parse_fail(p, p->cur.pos, "syntax error"); }

/* Token codes are assigned in this order; the lexer uses them through parser.h. */
%token ID INTEGER FLOAT STRING.

/* Keywords that may also serve as names (columns, functions, options, let names). The operator
 * words (and or not in is like ilike between case when then else end cast as true false null)
 * stay reserved so that a missing operand is an error, not a column. */
%fallback ID
    MODEL EMBEDDING DEFAULT TYPE LET EXPLAIN ANALYZE COST FN IMPORT SET FROM VALUES SAVE
    SELECT EXCEPT WHERE DERIVE RENAME DROP GROUP BY AGG ORDER ASC DESC NULLS FIRST LAST LIMIT OFFSET
    DISTINCT JOIN INNER LEFT RIGHT FULL CROSS OUTER ON USING SEMANTIC SIM TOP METRIC EXPLODE WITH
    INDEX UNNEST UNION ALL CLUSTER INTO CENTROID CACHE WRITE RESOLVE.

/* Precedence, lowest first. */
%left OR.
%left AND.
%right NOT.
%nonassoc EQ NE LT LE GT GE IN IS LIKE ILIKE BETWEEN.
%left CONCAT.
%left PLUS MINUS.
%left STAR SLASH PERCENT.
%right UMINUS.
%left DOT LBRACKET.

/* ---- program: statements separated by ';' (empty statements allowed) ---- */
%type program {int}
%destructor program { (void)p; }
program ::= stmtlist.
%type stmtlist {int}
%destructor stmtlist { (void)p; }
stmtlist ::= stmt_opt.
stmtlist ::= stmtlist SEMI stmt_opt.
%type stmt_opt {int}
%destructor stmt_opt { (void)p; }
stmt_opt ::= .
stmt_opt ::= stmt(S). { node_add(p->prog, S); }

/* model NAME = PROVIDER(args) / embedding model NAME = PROVIDER(args) */
stmt(A) ::= MODEL(K) ID(N) EQ_SINGLE call(C). {
    A = mk(p, N_MODEL, K); A->str = name_of(p, N); A->a = C;
}
stmt(A) ::= EMBEDDING(K) MODEL ID(N) EQ_SINGLE call(C). {
    A = mk(p, N_MODEL, K); A->str = name_of(p, N); A->a = C; A->flag = 1;
}
/* default model NAME / default embedding model NAME */
stmt(A) ::= DEFAULT(K) MODEL ID(N). { A = mk(p, N_DEFAULT, K); A->str = name_of(p, N); }
stmt(A) ::= DEFAULT(K) EMBEDDING MODEL ID(N). {
    A = mk(p, N_DEFAULT, K); A->str = name_of(p, N); A->flag = 1;
}
/* type NAME = TYPE */
stmt(A) ::= TYPE(K) ID(N) EQ_SINGLE type(T). { A = mk(p, N_TYPEDECL, K); A->str = name_of(p, N); A->a = T; }
/* let NAME = PIPELINE */
stmt(A) ::= LET(K) ID(N) EQ_SINGLE pipeline(P). { A = mk(p, N_LET, K); A->str = name_of(p, N); A->a = P; }
/* PIPELINE (run and print) */
stmt(A) ::= pipeline(P). { A = node_new(N_RUN, p->src, P->pos); A->a = P; }
/* explain [analyze | cost] PIPELINE */
stmt(A) ::= EXPLAIN(K) pipeline(P). { A = mk(p, N_EXPLAIN, K); A->a = P; }
stmt(A) ::= EXPLAIN(K) ANALYZE pipeline(P). { A = mk(p, N_EXPLAIN, K); A->a = P; A->flag = 1; }
stmt(A) ::= EXPLAIN(K) COST pipeline(P). { A = mk(p, N_EXPLAIN, K); A->a = P; A->flag = 2; }
/* fn NAME(params) = EXPR | fn NAME(params) = from SOURCE | STAGE ... (a pipeline with parameters) */
stmt(A) ::= FN(K) ID(N) LPAREN params(L) RPAREN EQ_SINGLE expr(E). {
    A = mk(p, N_FN, K); A->str = name_of(p, N); take_kids(A, L); A->a = E;
}
stmt(A) ::= FN(K) ID(N) LPAREN params(L) RPAREN EQ_SINGLE fpipe(P). {
    A = mk(p, N_FN, K); A->str = name_of(p, N); take_kids(A, L); A->a = P; A->flag = 1;
}
/* save PIPELINE as table NAME / save (PIPELINE) as table NAME ('as table' is one token) */
stmt(A) ::= SAVE(K) pipeline(P) ASTABLE ID(N). { A = mk(p, N_SAVE, K); A->str = name_of(p, N); A->a = P; }
/* drop table NAME (a saved table) */
stmt(A) ::= DROP(K) ID(T) ID(N). {
    A = mk(p, N_DROP_TABLE, K); A->str = name_of(p, N);
    if (T.len != 5 || strncasecmp(p->src->text + T.pos, "table", 5) != 0)
        parse_fail(p, T.pos, "expected 'table' after 'drop' (drop table NAME removes a saved table; "
                   "to drop columns, write '| drop a, b' as a stage)");
}
/* import "path" / import std.NAME */
stmt(A) ::= IMPORT(K) STRING(S). {
    A = mk(p, N_IMPORT, K); A->str = lex_string_value(p->src, &S, NULL);
}
stmt(A) ::= IMPORT(K) ID(M) DOT ID(N). {
    A = mk(p, N_IMPORT, K); A->str = name_of(p, N); A->flag = 1;
    if (M.len != 3 || memcmp(p->src->text + M.pos, "std", 3) != 0)
        parse_fail(p, M.pos, "expected a string path or 'std.NAME' after 'import'");
}
/* set NAME = VALUE */
stmt(A) ::= SET(K) ID(N) EQ_SINGLE expr(E). { A = mk(p, N_SET, K); A->str = name_of(p, N); A->a = E; }

params(A) ::= . { A = list0(p, p->cur); }
params(A) ::= paramlist(L). { A = L; }
paramlist(A) ::= param(P). { A = list1(P); }
paramlist(A) ::= paramlist(L) COMMA param(P). { A = L; node_add(A, P); }
/* a parameter, optionally with a default: fn f(x, n = 3) */
param(A) ::= ID(N). { A = ident(p, N); }
param(A) ::= ID(N) EQ_SINGLE expr(E). { A = ident(p, N); A->a = E; }
/* a typed parameter: fn f(p: string, n: int = 5) (b: the type) */
param(A) ::= ID(N) COLON type(T). { A = ident(p, N); A->b = T; }
param(A) ::= ID(N) COLON type(T) EQ_SINGLE expr(E). { A = ident(p, N); A->b = T; A->a = E; }

/* ---- types: NAME | [T] | {field: T ["desc"], ...} | enum("a", ...) | vector(N), each with '?' ---- */
type(A) ::= tbase(T). { A = T; }
type(A) ::= tbase(T) QUESTION. { A = T; A->flag = 1; }
tbase(A) ::= ID(N). { A = mk(p, N_TYPE_NAME, N); A->str = name_of(p, N); deep(p, A); }
tbase(A) ::= LBRACKET(K) type(T) RBRACKET. { A = mk(p, N_TYPE_LIST, K); A->a = T; deep(p, A); }
tbase(A) ::= LBRACE(K) tfields(L) RBRACE. { A = mk(p, N_TYPE_STRUCT, K); take_kids(A, L); deep(p, A); }
tbase(A) ::= ID(N) LPAREN tlabels(L) RPAREN. {
    A = mk(p, N_TYPE_ENUM, N); take_kids(A, L); deep(p, A);
    if (N.len != 4 || strncasecmp(p->src->text + N.pos, "enum", 4) != 0)
        parse_fail(p, N.pos, "unknown type '%.*s(...)'; expected enum(\"a\", ...) or vector(N)", N.len, p->src->text + N.pos);
}
tbase(A) ::= ID(N) LPAREN INTEGER(D) RPAREN. {
    A = mk(p, N_TYPE_VECTOR, N); A->ival = D.ival; deep(p, A);
    if (N.len != 6 || strncasecmp(p->src->text + N.pos, "vector", 6) != 0)
        parse_fail(p, N.pos, "unknown type '%.*s(...)'; expected vector(N) or enum(\"a\", ...)", N.len, p->src->text + N.pos);
    else if (D.ival <= 0)
        parse_fail(p, D.pos, "a vector dimension must be positive");
}
tlabels(A) ::= STRING(S). { A = list1(string_node(p, S)); }
tlabels(A) ::= tlabels(L) COMMA STRING(S). { A = L; node_add(A, string_node(p, S)); }
tfields(A) ::= . { A = list0(p, p->cur); }
tfields(A) ::= tfieldlist(L). { A = L; }
tfields(A) ::= tfieldlist(L) COMMA. { A = L; }
tfieldlist(A) ::= tfield(F). { A = list1(F); }
tfieldlist(A) ::= tfieldlist(L) COMMA tfield(F). { A = L; node_add(A, F); }
tfield(A) ::= fieldname(N) COLON type(T). { A = N; A->a = T; deep(p, A); }
tfield(A) ::= fieldname(N) COLON type(T) STRING(D). {
    A = N; A->a = T; A->str2 = lex_string_value(p->src, &D, NULL); deep(p, A);
}
fieldname(A) ::= ID(N). { A = mk(p, N_TYPE_FIELD, N); A->str = name_of(p, N); }
fieldname(A) ::= STRING(S). { A = mk(p, N_TYPE_FIELD, S); A->str = lex_string_value(p->src, &S, NULL); }

/* ---- pipelines: [from] SOURCE | STAGE | ... ---- */
pipeline(A) ::= FROM(K) source(S). { A = mk(p, N_PIPELINE, K); A->a = S; }
pipeline(A) ::= source(S). { A = node_new(N_PIPELINE, p->src, S->pos); A->a = S; }
pipeline(A) ::= pipeline(P) PIPE stage(S). { A = P; node_add(A, S); A->end = S->end; }
/* a pipeline that starts with `from`: a fn's body, and a subquery in an expression */
fpipe(A) ::= FROM(K) source(S). { A = mk(p, N_PIPELINE, K); A->a = S; A->end = S->end > 0 ? S->end : A->end; }
fpipe(A) ::= fpipe(P) PIPE stage(S). { A = P; node_add(A, S); A->end = S->end; }

/* SOURCE [as ALIAS] */
source(A) ::= srcbase(S). { A = S; }
source(A) ::= srcbase(S) AS ID(N). { A = S; set_alias(p, A, N); }
srcbase(A) ::= dotted(D). { A = D; }
srcbase(A) ::= ID(F) LPAREN args(L) RPAREN. {
    A = mk(p, N_SRC_CALL, F); A->str = func_name(p, F); check_args(p, L); take_kids(A, L);
}
srcbase(A) ::= VALUES(K) LBRACKET exprs(L) RBRACKET. { A = mk(p, N_SRC_VALUES, K); take_kids(A, L); }
srcbase(A) ::= LPAREN(K) pipeline(P) RPAREN. { A = mk(p, N_SRC_PIPE, K); A->a = P; }
/* NAME or system.NAME */
dotted(A) ::= ID(N). { A = mk(p, N_SRC_NAME, N); A->str = name_of(p, N); }
dotted(A) ::= dotted(D) DOT ID(N). {
    char *s = name_of(p, N);
    A = D; char *j = xasprintf("%s.%s", A->str, s); free(A->str); free(s); A->str = j;
}

/* ---- stages ---- */
/* select EXPR [as NAME], ... | * [except (a, b)] */
stage(A) ::= SELECT(K) selitems(L). { A = stage(p, N_SELECT, K); take_kids(A, L); }
selitems(A) ::= selitem(I). { A = list1(I); }
selitems(A) ::= selitems(L) COMMA selitem(I). { A = L; node_add(A, I); }
selitem(A) ::= expr(E). { A = node_new(N_SELECT_ITEM, p->src, E->pos); A->a = E; }
selitem(A) ::= expr(E) AS ID(N). { A = node_new(N_SELECT_ITEM, p->src, E->pos); A->a = E; A->str = name_of(p, N); }
selitem(A) ::= STAR(K). { A = mk(p, N_STAR, K); }
selitem(A) ::= STAR(K) EXCEPT LPAREN idlist(L) RPAREN. { A = mk(p, N_STAR, K); take_kids(A, L); }

/* where EXPR */
stage(A) ::= WHERE(K) expr(E). { A = stage(p, N_WHERE, K); A->a = E; }
/* derive NAME = EXPR, ... */
stage(A) ::= DERIVE(K) assigns(L). { A = stage(p, N_DERIVE, K); take_kids(A, L); }
assigns(A) ::= assign(I). { A = list1(I); }
assigns(A) ::= assigns(L) COMMA assign(I). { A = L; node_add(A, I); }
assign(A) ::= ID(N) EQ_SINGLE expr(E). { A = mk(p, N_ASSIGN, N); A->str = name_of(p, N); A->a = E; }
/* rename OLD as NEW, ... */
stage(A) ::= RENAME(K) renames(L). { A = stage(p, N_RENAME, K); take_kids(A, L); }
renames(A) ::= renitem(I). { A = list1(I); }
renames(A) ::= renames(L) COMMA renitem(I). { A = L; node_add(A, I); }
renitem(A) ::= ID(O) AS ID(N). { A = mk(p, N_RENAME_ITEM, O); A->str = name_of(p, O); A->str2 = name_of(p, N); }
/* drop a, b */
stage(A) ::= DROP(K) idlist(L). { A = stage(p, N_DROP, K); take_kids(A, L); }
idlist(A) ::= ID(N). { A = list1(ident(p, N)); }
idlist(A) ::= idlist(L) COMMA ID(N). { A = L; node_add(A, ident(p, N)); }
/* group by KEY [as NAME], ... [agg NAME = AGG, ...] | agg NAME = AGG, ... */
stage(A) ::= GROUP(K) BY gkeys(G) AGG assigns(L). {
    A = stage(p, N_GROUP, K); A->a = G; A->b = node_new(N_LIST, p->src, L->pos); take_kids(A->b, L);
}
stage(A) ::= GROUP(K) BY gkeys(G). { A = stage(p, N_GROUP, K); A->a = G; A->b = list0(p, p->cur); }
stage(A) ::= AGG(K) assigns(L). { A = stage(p, N_GROUP, K); A->b = node_new(N_LIST, p->src, L->pos); take_kids(A->b, L); }
gkeys(A) ::= gkey(I). { A = list1(I); }
gkeys(A) ::= gkeys(L) COMMA gkey(I). { A = L; node_add(A, I); }
gkey(A) ::= expr(E). { A = node_new(N_SELECT_ITEM, p->src, E->pos); A->a = E; }
gkey(A) ::= expr(E) AS ID(N). { A = node_new(N_SELECT_ITEM, p->src, E->pos); A->a = E; A->str = name_of(p, N); }
/* order by EXPR [asc | desc] [nulls first | nulls last], ... */
stage(A) ::= ORDER(K) BY orditems(L). { A = stage(p, N_ORDER, K); take_kids(A, L); }
orditems(A) ::= orditem(I). { A = list1(I); }
orditems(A) ::= orditems(L) COMMA orditem(I). { A = L; node_add(A, I); }
orditem(A) ::= expr(E) orddir(D) ordnulls(N). {
    A = node_new(N_ORDER_ITEM, p->src, E->pos); A->a = E; A->flag = D; A->ival = N;
}
%type orddir {int}
%destructor orddir { (void)p; }
orddir(A) ::= . { A = 0; }
orddir(A) ::= ASC. { A = 0; }
orddir(A) ::= DESC. { A = 1; }
%type ordnulls {int}
%destructor ordnulls { (void)p; }
ordnulls(A) ::= . { A = 0; }
ordnulls(A) ::= NULLS FIRST. { A = 1; }
ordnulls(A) ::= NULLS LAST. { A = 2; }
/* limit N [offset M] */
stage(A) ::= LIMIT(K) expr(E). { A = stage(p, N_LIMIT, K); A->a = E; }
stage(A) ::= LIMIT(K) expr(E) OFFSET expr(F). { A = stage(p, N_LIMIT, K); A->a = E; A->b = F; }
/* distinct [EXPR, ...] */
stage(A) ::= DISTINCT(K). { A = stage(p, N_DISTINCT, K); }
stage(A) ::= DISTINCT(K) exprlist(L). { A = stage(p, N_DISTINCT, K); take_kids(A, L); }
/* [inner | left | right | full | cross] join SOURCE (on EXPR | using (a, b)) */
stage(A) ::= jointype(T) JOIN(K) source(S). {
    A = stage(p, N_JOIN, K); A->flag = T; A->a = S;
    if (T != JOIN_CROSS)
        parse_fail(p, p->cur.pos, "expected 'on EXPR' or 'using (columns)' after the join source");
}
stage(A) ::= jointype(T) JOIN(K) source(S) ON expr(E). { A = stage(p, N_JOIN, K); A->flag = T; A->a = S; A->b = E; }
stage(A) ::= jointype(T) JOIN(K) source(S) USING LPAREN(U) idlist(L) RPAREN. {
    A = stage(p, N_JOIN, K); A->flag = T; A->a = S; A->c = mk(p, N_LIST, U); take_kids(A->c, L);
}
%type jointype {int}
%destructor jointype { (void)p; }
jointype(A) ::= . { A = JOIN_INNER; }
jointype(A) ::= INNER. { A = JOIN_INNER; }
jointype(A) ::= LEFT outer. { A = JOIN_LEFT; }
jointype(A) ::= RIGHT outer. { A = JOIN_RIGHT; }
jointype(A) ::= FULL outer. { A = JOIN_FULL; }
jointype(A) ::= CROSS. { A = JOIN_CROSS; }
%type outer {int}
%destructor outer { (void)p; }
outer(A) ::= . { A = 0; }
outer(A) ::= OUTER. { A = 1; }
/* semantic join SOURCE on "template" [model NAME] [NAME: EXPR ...] */
stage(A) ::= SEMANTIC(K) JOIN source(S) ON STRING(T) semopts(L). {
    A = stage(p, N_SEMJOIN, K); A->a = S; A->str = lex_string_value(p->src, &T, NULL); take_kids(A, L);
}
/* resolve COLUMN [using "criterion"] [model NAME] [NAME: EXPR ...] */
stage(A) ::= RESOLVE(K) ID(N) semopts(L). {
    A = stage(p, N_RESOLVE, K); A->str2 = name_of(p, N); A->a = mk(p, N_IDENT, N); A->a->str = name_of(p, N); take_kids(A, L);
}
stage(A) ::= RESOLVE(K) ID(N) USING STRING(T) semopts(L). {
    A = stage(p, N_RESOLVE, K); A->str2 = name_of(p, N); A->a = mk(p, N_IDENT, N); A->a->str = name_of(p, N);
    A->str = lex_string_value(p->src, &T, NULL); take_kids(A, L);
}
semopts(A) ::= . { A = list0(p, p->cur); }
semopts(A) ::= semopts(L) semopt(O). { A = L; node_add(A, O); }
semopts(A) ::= semopts(L) COMMA semopt(O). { A = L; node_add(A, O); }
semopt(A) ::= MODEL(K) modelref(R). { A = mk(p, N_NAMED, K); A->str = xstrdup("model"); A->a = R; }
semopt(A) ::= MODEL(K) COLON expr(E). { A = mk(p, N_NAMED, K); A->str = xstrdup("model"); A->a = E; }
semopt(A) ::= ID(N) COLON expr(E). { A = mk(p, N_NAMED, N); A->str = name_of(p, N); A->a = E; }
/* prefilter: embed top K -> N_NAMED "prefilter" with a: N_CALL "embed" (kids: N_INT K) */
semopt(A) ::= ID(N) COLON ID(M) TOP INTEGER(K). {
    A = mk(p, N_NAMED, N); A->str = name_of(p, N);
    A->a = mk(p, N_CALL, M); A->a->str = name_of(p, M);
    Node *k = mk(p, N_INT, K); k->ival = K.ival; node_add(A->a, k);
}
modelref(A) ::= ID(N). { A = ident(p, N); }
modelref(A) ::= modelref(R) DOT ID(N). { A = node_new(N_FIELD, p->src, R->pos); A->a = R; A->str = name_of(p, N); deep(p, A); }
/* top K by "criterion {{col}}" [model NAME] [NAME: EXPR ...]: the K rows a model ranks first */
stage(A) ::= TOP(K) INTEGER(N) BY STRING(T) semopts(L). {
    A = stage(p, N_TOPK, K); A->ival = N.ival; A->str = lex_string_value(p->src, &T, NULL); take_kids(A, L);
    if (N.ival <= 0) parse_fail(p, N.pos, "'top' needs a positive number of rows, e.g. top 10 by \"...\"");
}
/* sim join SOURCE on LEFT ~ RIGHT [top K] [metric NAME] [as SCORE] */
stage(A) ::= SIM(K) JOIN source(S) ON expr(L) TILDE expr(R) simopts(O). {
    A = O; A->pos = K.pos; A->a = S; A->b = L; A->c = R;
}
simopts(A) ::= . { A = mk(p, N_SIMJOIN, p->cur); }
simopts(A) ::= simopts(O) TOP INTEGER(N). { A = O; A->ival = N.ival; if (N.ival <= 0) parse_fail(p, N.pos, "'top' needs a positive count"); }
simopts(A) ::= simopts(O) METRIC ID(N). { A = O; free(A->str); A->str = name_of(p, N); }
simopts(A) ::= simopts(O) AS ID(N). { A = O; free(A->str2); A->str2 = name_of(p, N); }
/* explode [outer] COL [with index as NAME] */
stage(A) ::= EXPLODE(K) outer(O) expr(E) withindex(W). {
    A = stage(p, N_EXPLODE, K); A->flag = O; A->a = E; A->str2 = W;
}
%type withindex {char *}
%destructor withindex { free($$); (void)p; }
withindex(A) ::= . { A = NULL; }
withindex(A) ::= WITH INDEX AS ID(N). { A = name_of(p, N); }
/* unnest COL */
stage(A) ::= UNNEST(K) expr(E). { A = stage(p, N_UNNEST, K); A->a = E; }
/* union [all] SOURCE */
stage(A) ::= UNION(K) source(S). { A = stage(p, N_UNION, K); A->a = S; }
stage(A) ::= UNION(K) ALL source(S). { A = stage(p, N_UNION, K); A->a = S; A->flag = 1; }
/* cluster by EXPR into K as NAME [centroid as NAME] [NAME: EXPR, ...] */
stage(A) ::= CLUSTER(K) BY expr(E) INTO INTEGER(N) AS ID(L) centroid(C) clopts(O). {
    A = stage(p, N_CLUSTER, K); A->a = E; A->ival = N.ival; A->str = name_of(p, L); A->str2 = C;
    take_kids(A, O);
    if (N.ival <= 0) parse_fail(p, N.pos, "'into' needs a positive number of clusters");
}
%type centroid {char *}
%destructor centroid { free($$); (void)p; }
centroid(A) ::= . { A = NULL; }
centroid(A) ::= CENTROID AS ID(N). { A = name_of(p, N); }
clopts(A) ::= . { A = list0(p, p->cur); }
clopts(A) ::= clopts(L) namedarg(O). { A = L; node_add(A, O); }
clopts(A) ::= clopts(L) COMMA namedarg(O). { A = L; node_add(A, O); }
/* cache */
stage(A) ::= CACHE(K). { A = stage(p, N_CACHE, K); }
/* write FORMAT("path", options) */
stage(A) ::= WRITE(K) call(C). { A = stage(p, N_WRITE, K); A->a = C; }

/* NAME(args): provider and writer calls */
call(A) ::= ID(F) LPAREN args(L) RPAREN(R). { A = call(p, F, L, R); }

/* ---- expressions ---- */
expr(A) ::= INTEGER(T). { A = mk(p, N_INT, T); A->ival = T.ival; deep(p, A); }
expr(A) ::= FLOAT(T). { A = mk(p, N_FLOAT, T); A->fval = T.fval; deep(p, A); }
expr(A) ::= STRING(T). { A = string_node(p, T); }
expr(A) ::= TRUE(T). { A = mk(p, N_BOOL, T); A->ival = 1; deep(p, A); }
expr(A) ::= FALSE(T). { A = mk(p, N_BOOL, T); A->ival = 0; deep(p, A); }
expr(A) ::= NULL(T). { A = mk(p, N_NULL, T); deep(p, A); }
expr(A) ::= ID(T). { A = ident(p, T); }
expr(A) ::= ID(F) LPAREN args(L) RPAREN(R). { A = call(p, F, L, R); }
expr(A) ::= LPAREN expr(E) RPAREN. { A = E; }
/* a scalar subquery: (from ... | ...) gives its one row's one column */
expr(A) ::= LPAREN(K) fpipe(P) RPAREN(R). { A = mk(p, N_SUBQUERY, K); A->a = P; A->end = R.pos + 1; deep(p, A); }
expr(A) ::= expr(E) DOT ID(N). {
    A = node_new(N_FIELD, p->src, E->pos); A->a = E; A->str = name_of(p, N); A->end = N.pos + N.len; deep(p, A);
}
expr(A) ::= expr(E) LBRACKET expr(I) RBRACKET(R). {
    A = node_new(N_INDEX, p->src, E->pos); A->a = E; A->b = I; A->end = R.pos + 1; deep(p, A);
}
expr(A) ::= LBRACKET(K) exprs(L) RBRACKET(R). { A = mk(p, N_LIST_LIT, K); take_kids(A, L); A->end = R.pos + 1; deep(p, A); }
expr(A) ::= LBRACE(K) sfields(L) RBRACE(R). { A = mk(p, N_STRUCT_LIT, K); take_kids(A, L); A->end = R.pos + 1; deep(p, A); }
expr(A) ::= CASE(K) whens(L) END(R). { A = mk(p, N_CASE, K); take_kids(A, L); A->end = R.pos + R.len; deep(p, A); }
expr(A) ::= CASE(K) whens(L) ELSE expr(E) END(R). {
    A = mk(p, N_CASE, K); take_kids(A, L); A->a = E; A->end = R.pos + R.len; deep(p, A);
}
expr(A) ::= CAST(K) LPAREN expr(E) AS type(T) RPAREN(R). {
    A = mk(p, N_CAST, K); A->a = E; A->b = T; A->end = R.pos + 1; deep(p, A);
}
/* -literal folds to a negative literal */
expr(A) ::= MINUS(K) expr(E). [UMINUS] {
    if (E->kind == N_INT && E->ival != INT64_MIN) { A = E; A->ival = -A->ival; A->pos = K.pos; }
    else if (E->kind == N_FLOAT) { A = E; A->fval = -A->fval; A->pos = K.pos; }
    else { A = mk(p, N_UNOP, K); A->op = OP_NEG; A->a = E; A->end = E->end; deep(p, A); }
}
expr(A) ::= NOT(K) expr(E). { A = mk(p, N_UNOP, K); A->op = OP_NOT; A->a = E; A->end = E->end; deep(p, A); }
expr(A) ::= expr(X) OR expr(Y). { A = binop(p, OP_OR, X, Y); }
expr(A) ::= expr(X) AND expr(Y). { A = binop(p, OP_AND, X, Y); }
expr(A) ::= expr(X) EQ expr(Y). { A = binop(p, OP_EQ, X, Y); }
expr(A) ::= expr(X) NE expr(Y). { A = binop(p, OP_NE, X, Y); }
expr(A) ::= expr(X) LT expr(Y). { A = binop(p, OP_LT, X, Y); }
expr(A) ::= expr(X) LE expr(Y). { A = binop(p, OP_LE, X, Y); }
expr(A) ::= expr(X) GT expr(Y). { A = binop(p, OP_GT, X, Y); }
expr(A) ::= expr(X) GE expr(Y). { A = binop(p, OP_GE, X, Y); }
expr(A) ::= expr(X) CONCAT expr(Y). { A = binop(p, OP_CONCAT, X, Y); }
expr(A) ::= expr(X) PLUS expr(Y). { A = binop(p, OP_ADD, X, Y); }
expr(A) ::= expr(X) MINUS expr(Y). { A = binop(p, OP_SUB, X, Y); }
expr(A) ::= expr(X) STAR expr(Y). { A = binop(p, OP_MUL, X, Y); }
expr(A) ::= expr(X) SLASH expr(Y). { A = binop(p, OP_DIV, X, Y); }
expr(A) ::= expr(X) PERCENT expr(Y). { A = binop(p, OP_MOD, X, Y); }
/* x is [not] null */
expr(A) ::= expr(X) IS NULL(R). { A = node_new(N_ISNULL, p->src, X->pos); A->a = X; A->end = R.pos + R.len; deep(p, A); }
expr(A) ::= expr(X) IS NOT NULL(R). [IS] {
    A = node_new(N_ISNULL, p->src, X->pos); A->a = X; A->flag = 1; A->end = R.pos + R.len; deep(p, A);
}
/* x [not] in (a, b) */
expr(A) ::= expr(X) IN LPAREN exprlist(L) RPAREN(R). {
    A = node_new(N_IN, p->src, X->pos); A->a = X; take_kids(A, L); A->end = R.pos + 1; deep(p, A);
}
expr(A) ::= expr(X) NOT IN LPAREN exprlist(L) RPAREN(R). [IN] {
    A = node_new(N_IN, p->src, X->pos); A->a = X; take_kids(A, L); A->flag = 1; A->end = R.pos + 1; deep(p, A);
}
/* x [not] in (from ...): the subquery's one column (b: the pipeline) */
expr(A) ::= expr(X) IN LPAREN fpipe(P) RPAREN(R). {
    A = node_new(N_IN, p->src, X->pos); A->a = X; A->b = P; A->end = R.pos + 1; deep(p, A);
}
expr(A) ::= expr(X) NOT IN LPAREN fpipe(P) RPAREN(R). [IN] {
    A = node_new(N_IN, p->src, X->pos); A->a = X; A->b = P; A->flag = 1; A->end = R.pos + 1; deep(p, A);
}
/* x [not] like|ilike y */
expr(A) ::= expr(X) LIKE expr(Y). { A = node_new(N_LIKE, p->src, X->pos); A->op = OP_LIKE; A->a = X; A->b = Y; deep(p, A); }
expr(A) ::= expr(X) ILIKE expr(Y). { A = node_new(N_LIKE, p->src, X->pos); A->op = OP_ILIKE; A->a = X; A->b = Y; deep(p, A); }
expr(A) ::= expr(X) NOT LIKE expr(Y). [LIKE] {
    A = node_new(N_LIKE, p->src, X->pos); A->op = OP_LIKE; A->flag = 1; A->a = X; A->b = Y; deep(p, A);
}
expr(A) ::= expr(X) NOT ILIKE expr(Y). [LIKE] {
    A = node_new(N_LIKE, p->src, X->pos); A->op = OP_ILIKE; A->flag = 1; A->a = X; A->b = Y; deep(p, A);
}
/* x [not] between a and b */
expr(A) ::= expr(X) BETWEEN expr(Y) AND expr(Z). [BETWEEN] {
    A = node_new(N_BETWEEN, p->src, X->pos); A->a = X; A->b = Y; A->c = Z; deep(p, A);
}
expr(A) ::= expr(X) NOT BETWEEN expr(Y) AND expr(Z). [BETWEEN] {
    A = node_new(N_BETWEEN, p->src, X->pos); A->a = X; A->b = Y; A->c = Z; A->flag = 1; deep(p, A);
}

/* case when C then V ... */
whens(A) ::= when(W). { A = list1(W); }
whens(A) ::= whens(L) when(W). { A = L; node_add(A, W); }
when(A) ::= WHEN(K) expr(C) THEN expr(V). { A = mk(p, N_WHEN, K); A->a = C; A->b = V; deep(p, A); }

/* call arguments: EXPR | NAME: EXPR | * | distinct EXPR */
args(A) ::= . { A = list0(p, p->cur); }
args(A) ::= arglist(L). { A = L; }
args(A) ::= arglist(L) COMMA. { A = L; }
arglist(A) ::= arg(X). { A = list1(X); }
arglist(A) ::= arglist(L) COMMA arg(X). { A = L; node_add(A, X); }
arg(A) ::= expr(E). { A = E; }
arg(A) ::= namedarg(N). { A = N; }
arg(A) ::= STAR(K). { A = mk(p, N_STAR, K); }
/* marked with flag 2 here; call() unwraps it and sets the call's distinct flag */
arg(A) ::= DISTINCT(K) expr(E). { A = mk(p, N_CALL, K); A->flag = 2; A->a = E; }
namedarg(A) ::= ID(N) COLON expr(E). { A = mk(p, N_NAMED, N); A->str = name_of(p, N); A->a = E; deep(p, A); }

/* EXPR, ... (at least one) */
exprlist(A) ::= expr(E). { A = list1(E); }
exprlist(A) ::= exprlist(L) COMMA expr(E). { A = L; node_add(A, E); }
/* list elements: possibly empty, trailing comma allowed */
exprs(A) ::= . { A = list0(p, p->cur); }
exprs(A) ::= exprlist(L). { A = L; }
exprs(A) ::= exprlist(L) COMMA. { A = L; }
/* struct literal fields: NAME: EXPR or "name": EXPR, trailing comma allowed */
sfields(A) ::= . { A = list0(p, p->cur); }
sfields(A) ::= sfieldlist(L). { A = L; }
sfields(A) ::= sfieldlist(L) COMMA. { A = L; }
sfieldlist(A) ::= sfield(F). { A = list1(F); }
sfieldlist(A) ::= sfieldlist(L) COMMA sfield(F). { A = L; node_add(A, F); }
sfield(A) ::= ID(N) COLON expr(E). { A = mk(p, N_ASSIGN, N); A->str = name_of(p, N); A->a = E; deep(p, A); }
sfield(A) ::= STRING(N) COLON expr(E). { A = mk(p, N_ASSIGN, N); A->str = lex_string_value(p->src, &N, NULL); A->a = E; deep(p, A); }

%code {
/* ---- error reporting ---- */

/* 1 if the parser, from its current stack, would shift terminal t as itself (not as the ID it
 * falls back to) after whatever reductions t causes. Simulates the automaton on an overlay of the stack; the real stack is not touched. */
static int accepts(yyParser *pp, int t)
{
    int ov[256], nov = 0;
    int rtop = (int)(pp->yytos - pp->yystack);
    int state = pp->yytos->stateno;
    for (int steps = 0; steps < 4096; steps++) {
        /* yy_find_shift_action without %fallback: a keyword counts only where it is a keyword */
        YYACTIONTYPE act;
        if (state > YY_MAX_SHIFT) act = (YYACTIONTYPE)state;
        else {
            int i = yy_shift_ofst[state] + t;
            act = yy_lookahead[i] == t ? yy_action[i] : yy_default[state];
        }
        if (act <= YY_MAX_SHIFTREDUCE || act == YY_ACCEPT_ACTION) return 1;
        if (act < YY_MIN_REDUCE) return 0;                 /* error or no action */
        unsigned rule = (unsigned)(act - YY_MIN_REDUCE);
        int pop = -yyRuleInfoNRhs[rule];
        while (pop > 0 && nov > 0) { nov--; pop--; }
        rtop -= pop;
        if (rtop < 0 || nov >= (int)(sizeof ov / sizeof ov[0])) return 0;
        int below = nov > 0 ? ov[nov - 1] : pp->yystack[rtop].stateno;
        if (below > YY_MAX_SHIFT) return 0;
        state = yy_find_reduce_action((YYACTIONTYPE)below, yyRuleInfoLhs[rule]);
        ov[nov++] = state;
    }
    return 0;
}

/* The token's text for a message: at most ~24 bytes of one line, "..." when cut. */
static void tok_text(const Parser *p, Token t, char *out, size_t n)
{
    const char *s = p->src->text + t.pos;
    int len = t.len, cut = 0;
    for (int i = 0; i < len; i++)
        if (s[i] == '\n' || s[i] == '\r') { len = i; cut = 1; break; }
    if (len > 24) {
        len = 24;
        while (len > 0 && ((unsigned char)s[len] & 0xC0) == 0x80) len--;
        cut = 1;
    }
    snprintf(out, n, "%.*s%s", len, s, cut ? "..." : "");
}

static const char *const stage_names[] = {
    "select", "where", "derive", "rename", "drop", "group", "agg", "order", "limit", "distinct",
    "join", "inner", "left", "right", "full", "cross", "semantic", "sim", "explode", "unnest",
    "union", "cluster", "cache", "write", "top", "resolve",
};
static const char *const stmt_names[] = {
    "model", "embedding", "default", "type", "let", "explain", "fn", "import", "set", "from", "values", "save",
};

static int is_stage_kw(int c)
{
    switch (c) {
    case TK_SELECT: case TK_WHERE: case TK_DERIVE: case TK_RENAME: case TK_DROP: case TK_GROUP:
    case TK_AGG: case TK_ORDER: case TK_LIMIT: case TK_DISTINCT: case TK_JOIN: case TK_INNER:
    case TK_LEFT: case TK_RIGHT: case TK_FULL: case TK_CROSS: case TK_SEMANTIC: case TK_SIM:
    case TK_EXPLODE: case TK_UNNEST: case TK_UNION: case TK_CLUSTER: case TK_CACHE: case TK_WRITE: case TK_TOP: case TK_RESOLVE:
        return 1;
    }
    return 0;
}

static int is_stmt_kw(int c)
{
    switch (c) {
    case TK_MODEL: case TK_EMBEDDING: case TK_DEFAULT: case TK_TYPE: case TK_LET: case TK_EXPLAIN:
    case TK_FN: case TK_IMPORT: case TK_SET: case TK_FROM: case TK_SAVE:
        return 1;
    }
    return 0;
}

static int is_comparison(int c)
{
    switch (c) {
    case TK_EQ: case TK_NE: case TK_LT: case TK_LE: case TK_GT: case TK_GE:
    case TK_IN: case TK_IS: case TK_LIKE: case TK_ILIKE: case TK_BETWEEN:
        return 1;
    }
    return 0;
}

/* Tokens that continue an expression (listed last in "expected ..." messages). */
static int is_operator(int c)
{
    switch (c) {
    case TK_OR: case TK_AND: case TK_NOT: case TK_CONCAT: case TK_PLUS: case TK_MINUS: case TK_STAR:
    case TK_SLASH: case TK_PERCENT: case TK_DOT: case TK_LBRACKET: case TK_LPAREN:
        return 1;
    }
    return is_comparison(c);
}

static int is_closer(int c)
{
    return c == TK_RPAREN || c == TK_RBRACKET || c == TK_RBRACE || c == TK_END;
}

/* The statement keyword the statement's first word (a plain name) looks like a typo of, or NULL. */
static const char *stmt_typo(const Parser *p)
{
    char first[48];
    if (p->src->text[p->stmt_first.pos] == '`') return NULL;
    tok_text(p, p->stmt_first, first, sizeof first);
    return closest_name(first, stmt_names, sizeof stmt_names / sizeof stmt_names[0]);
}

/* Fill p->err for the syntax error at token major/tok, given pp: a parser that has been fed every
 * token before it (so its stack shows what it expected there). */
static void explain_syntax_error(yyParser *pp, Parser *p, int major, Token tok)
{
    unsigned char ex[YYNTOKEN];
    char got[64], prev[64], what[160], msg[512];
    int eof = major == 0;
    int pos = eof ? (int)p->src->len : tok.pos;
    const char *sug;

    for (int t = 0; t < YYNTOKEN; t++) ex[t] = (unsigned char)accepts(pp, t);
    if (eof) snprintf(got, sizeof got, "end of input");
    else {
        char tx[48];
        tok_text(p, tok, tx, sizeof tx);
        snprintf(got, sizeof got, "'%s'", tx);
    }
    prev[0] = 0;
    if (p->prev_code) {
        char tx[48];
        tok_text(p, p->prev, tx, sizeof tx);
        snprintf(prev, sizeof prev, " after '%s'", tx);
    }
    what[0] = 0;
    msg[0] = 0;

    if (major == TK_EQ_SINGLE && p->stmt_ntok == 2 && p->stmt_first_code == TK_ID) {
        snprintf(msg, sizeof msg, "unexpected '='; to name a pipeline write 'let NAME = ...'");
    } else if (major == TK_EQ_SINGLE && ex[TK_EQ]) {
        snprintf(msg, sizeof msg, "unexpected '=' in an expression; did you mean '=='?");
    } else if (is_comparison(major) && ex[TK_AND] && !ex[major]) {
        snprintf(msg, sizeof msg, "comparisons do not chain; write 'a < b and b < c' (got %s%s)", got, prev);
    } else if (p->prev_code == TK_PIPE && ex[TK_SELECT]) {
        if (!eof && (major == TK_ID || tok.kw)) {
            char name[48];
            tok_text(p, tok, name, sizeof name);
            sug = closest_name(name, stage_names, sizeof stage_names / sizeof stage_names[0]);
            if (sug) snprintf(msg, sizeof msg, "unknown stage '%s'; did you mean '%s'?", name, sug);
            else snprintf(msg, sizeof msg, "unknown stage '%s'; expected a stage such as select, where, derive, "
                          "group, order, limit, distinct, join, union or write", name);
        } else snprintf(what, sizeof what, "a stage (select, where, derive, group, order, limit, join, ...)");
    } else if (p->stmt_ntok == 2 && is_stage_kw(p->stmt_first_code) && !ex[major]) {
        char first[48];
        tok_text(p, p->stmt_first, first, sizeof first);
        snprintf(msg, sizeof msg, "a statement cannot start with '%s'; a pipeline starts with its source: "
                 "from SOURCE | %s ...", first, first);
        pos = p->stmt_first.pos;
    } else if (p->stmt_ntok == 2 && p->stmt_first_code == TK_ID && !eof && (sug = stmt_typo(p))) {
        char first[48];
        tok_text(p, p->stmt_first, first, sizeof first);
        snprintf(msg, sizeof msg, "unknown statement '%s'; did you mean '%s'?", first, sug);
        pos = p->stmt_first.pos;
    } else if (!eof && ex[TK_SEMI] && is_stmt_kw(major)) {
        snprintf(msg, sizeof msg, "expected ';' before %s (statements end with ';')", got);
    } else if (!eof && ex[TK_PIPE] && is_stage_kw(major)) {
        snprintf(msg, sizeof msg, "expected '|' before %s (stages are separated by '|')", got);
    } else if (ex[TK_PIPE] && (ex[TK_SEMI] || ex[TK_RPAREN])) {
        snprintf(what, sizeof what, "%s or '|'", ex[TK_SEMI] ? "';'" : "')'");
        snprintf(prev, sizeof prev, " after the pipeline");
    } else if (ex[TK_INTEGER] && ex[TK_ID]) {
        snprintf(what, sizeof what, "an expression");
    } else if (ex[TK_VALUES] && ex[TK_LPAREN] && ex[TK_ID]) {
        snprintf(what, sizeof what, "a source (a let name, a reader call such as csv(\"file.csv\"), "
                 "a parenthesized pipeline or values [...])");
    } else if (ex[TK_LBRACE] && ex[TK_LBRACKET] && ex[TK_ID]) {
        snprintf(what, sizeof what, "a type (string, int, float, bool, date, timestamp, json, [T], {field: T}, "
                 "enum(\"a\", ...), vector(N) or a declared type)");
    } else if (ex[TK_LET] && ex[TK_MODEL]) {
        snprintf(what, sizeof what, "a statement (let, model, type, from ..., ...)");
    } else if (ex[TK_ID] && (p->prev_code == TK_DERIVE || p->prev_code == TK_AGG)) {
        snprintf(what, sizeof what, "'NAME = EXPRESSION'");
    } else {
        /* list what it accepts: closers (and ',') first, else everything if it is short */
        int list[YYNTOKEN], n = 0, closers = 0, structural = 0;
        for (int t = 1; t < YYNTOKEN; t++) {
            if (ex[t] && is_closer(t)) closers = 1;
            if (ex[t] && !is_operator(t)) structural++;
        }
        for (int t = 1; t < YYNTOKEN; t++) {
            if (!ex[t]) continue;
            if (closers && !is_closer(t) && t != TK_COMMA) continue;
            if (structural && structural <= 5 && is_operator(t)) continue;
            list[n++] = t;
        }
        if (n > 0 && n <= 5) {
            size_t w = 0;
            for (int i = 0; i < n && w < sizeof what; i++)
                w += (size_t)snprintf(what + w, sizeof what - w, "%s%s",
                                      i == 0 ? "" : i == n - 1 ? " or " : ", ", lex_token_desc(list[i]));
        }
    }

    if (!msg[0]) {
        if (what[0] && eof) snprintf(msg, sizeof msg, "unexpected end of input; expected %s%s", what, prev);
        else if (what[0]) snprintf(msg, sizeof msg, "expected %s%s, got %s", what, prev, got);
        else if (eof) snprintf(msg, sizeof msg, "unexpected end of input%s", prev);
        else snprintf(msg, sizeof msg, "unexpected %s%s", got, prev);
    }
    err_at(p->err, eof ? FQL_ERR_INCOMPLETE : FQL_ERR_PARSE, p->src, pos, "%s", msg);
}

/* Re-parse the tokens before the one that failed into a fresh parser, and explain the error from
 * its stack. Costs one more pass over the input, only when there is an error. */
static void report_syntax_error(Parser *p)
{
    Parser q;
    Lexer lx;
    Token t;
    memset(&q, 0, sizeof q);
    q.src = p->src;
    q.err = NULL;
    q.prog = node_new(N_PROGRAM, p->src, 0);
    void *pp = fqlParseAlloc(xmalloc);
    lex_init(&lx, p->src);
    for (int i = 1; i < p->syn_index; i++) {
        int code = lex_next(&lx, &t, NULL);
        if (code <= 0) break;
        q.cur = t;
        q.cur_code = code;
        q.ntok = i;
        fqlParse(pp, code, t, &q);
        if (q.failed) break;
    }
    if (!q.failed) explain_syntax_error((yyParser *)pp, p, p->syn_major, p->syn_tok);
    else err_at(p->err, FQL_ERR_PARSE, p->src, p->syn_tok.pos, "syntax error");
    fqlParseFree(pp, free);
    node_free(q.prog);
}

/* The terminals the parser would accept after the whole of src (see ast.h). Feeds every token to a
 * parser with no error record, then asks accepts() about each terminal. */
int parse_expected(const Src *src, unsigned char *ex, int n)
{
    Parser q;
    Lexer lx;
    Token t;
    memset(&q, 0, sizeof q);
    q.src = src;
    q.prog = node_new(N_PROGRAM, src, 0);
    void *pp = fqlParseAlloc(xmalloc);
    lex_init(&lx, src);
    int code;
    while ((code = lex_next(&lx, &t, NULL)) > 0 && !q.failed) {
        q.cur = t;
        q.cur_code = code;
        q.ntok++;
        fqlParse(pp, code, t, &q);
    }
    int rc = code < 0 || q.failed ? -1 : 0;
    for (int k = 0; k < n; k++) ex[k] = (unsigned char)(rc == 0 && k < YYNTOKEN && accepts((yyParser *)pp, k));
    fqlParseFree(pp, free);
    node_free(q.prog);
    return rc;
}

/* Parse the whole of src. See ast.h. */
Node *parse_program(const Src *src, fql_error *err)
{
    Parser p;
    Lexer lx;
    size_t bad = 0;

    memset(&p, 0, sizeof p);
    p.src = src;
    p.err = err;
    if (src->len >= (size_t)1 << 30) {
        err_at(err, FQL_ERR_PARSE, src, 0, "the source is too large (over 1 GiB)");
        return NULL;
    }
    if (!utf8_valid(src->text, src->len, &bad)) {
        err_at(err, FQL_ERR_PARSE, src, (int)bad, "invalid UTF-8 in the source (byte 0x%02X)",
               (unsigned char)src->text[bad]);
        return NULL;
    }
    p.prog = node_new(N_PROGRAM, src, 0);
    void *pp = fqlParseAlloc(xmalloc);
    lex_init(&lx, src);
    for (;;) {
        Token t;
        int code = lex_next(&lx, &t, err);
        if (code < 0) { p.failed = 1; break; }
        p.cur = t;
        p.cur_code = code;
        p.ntok++;
        if (code != TK_SEMI) {
            if (p.stmt_ntok == 0) { p.stmt_first = t; p.stmt_first_code = code; }
            p.stmt_ntok++;
        }
        fqlParse(pp, code, t, &p);
        if (p.failed || code == 0) break;
        p.prev = t;
        p.prev_code = code;
        if (code == TK_SEMI) p.stmt_ntok = 0;
    }
    fqlParseFree(pp, free);
    if (p.syn_index) report_syntax_error(&p);
    if (p.failed) {
        if (err && !err->code) err_at(err, FQL_ERR_PARSE, src, p.cur.pos, "syntax error");
        node_free(p.prog);
        return NULL;
    }
    p.prog->end = (int)src->len;
    return p.prog;
}
}
