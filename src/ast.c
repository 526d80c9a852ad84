/* ast.c: syntax tree nodes: construction, deep copy, destruction and the text dump used by parser
 * tests (`fql --ast`).
 *
 * Dump format (stable: golden tests compare it): one node per line, two spaces of indentation per
 * depth, the kind name (node_kind_name, without the N_ prefix) and then its fields, e.g.
 *     BINOP ==
 *       IDENT priority
 *       STRING "high"
 * After the header come the children a, b, c (those present) and then the kids in order; except
 * that FN lists its parameters on its header line and CASE puts its else value after the WHENs.
 */
#include <stdlib.h>
#include <string.h>
#include "ast.h"

Node *node_new(NodeKind kind, const Src *src, int pos)
{
    Node *n = xcalloc(1, sizeof *n);
    n->kind = kind;
    n->src = src;
    n->pos = pos;
    return n;
}

void node_add(Node *parent, Node *kid)
{
    if (parent->nkids == parent->capkids) {
        parent->capkids = parent->capkids ? parent->capkids * 2 : 4;
        parent->kids = xrealloc(parent->kids, (size_t)parent->capkids * sizeof *parent->kids);
    }
    parent->kids[parent->nkids++] = kid;
}

void node_free(Node *n)
{
    if (!n) return;
    node_free(n->a);
    node_free(n->b);
    node_free(n->c);
    for (int i = 0; i < n->nkids; i++) node_free(n->kids[i]);
    free(n->kids);
    free(n->str);
    free(n->str2);
    free(n);
}

static char *dup_bytes(const char *s, int64_t len, NodeKind kind)
{
    if (!s) return NULL;
    /* strings may hold NULs: copy ival bytes for N_STRING */
    if (kind == N_STRING && len >= 0) {
        char *d = xmalloc((size_t)len + 1);
        memcpy(d, s, (size_t)len);
        d[len] = 0;
        return d;
    }
    return xstrdup(s);
}

Node *node_clone(const Node *n)
{
    if (!n) return NULL;
    Node *c = xmalloc(sizeof *c);
    *c = *n;
    c->str = dup_bytes(n->str, n->ival, n->kind);
    c->str2 = n->str2 ? xstrdup(n->str2) : NULL;
    c->a = node_clone(n->a);
    c->b = node_clone(n->b);
    c->c = node_clone(n->c);
    c->kids = NULL;
    c->nkids = c->capkids = 0;
    for (int i = 0; i < n->nkids; i++) node_add(c, node_clone(n->kids[i]));
    return c;
}

const char *node_kind_name(NodeKind k)
{
    static const char *const names[] = {
        [N_PROGRAM] = "PROGRAM", [N_MODEL] = "MODEL", [N_DEFAULT] = "DEFAULT",
        [N_TYPEDECL] = "TYPEDECL", [N_LET] = "LET", [N_RUN] = "RUN", [N_EXPLAIN] = "EXPLAIN",
        [N_FN] = "FN", [N_IMPORT] = "IMPORT", [N_SET] = "SET",
        [N_TYPE_NAME] = "TYPE_NAME", [N_TYPE_LIST] = "TYPE_LIST", [N_TYPE_STRUCT] = "TYPE_STRUCT",
        [N_TYPE_FIELD] = "TYPE_FIELD", [N_TYPE_ENUM] = "TYPE_ENUM", [N_TYPE_VECTOR] = "TYPE_VECTOR",
        [N_PIPELINE] = "PIPELINE", [N_SRC_NAME] = "SRC_NAME", [N_SRC_PIPE] = "SRC_PIPE",
        [N_SRC_CALL] = "SRC_CALL", [N_SRC_VALUES] = "SRC_VALUES",
        [N_SELECT] = "SELECT", [N_SELECT_ITEM] = "SELECT_ITEM", [N_STAR] = "STAR",
        [N_WHERE] = "WHERE", [N_DERIVE] = "DERIVE", [N_ASSIGN] = "ASSIGN", [N_RENAME] = "RENAME",
        [N_RENAME_ITEM] = "RENAME_ITEM", [N_DROP] = "DROP", [N_GROUP] = "GROUP",
        [N_ORDER] = "ORDER", [N_ORDER_ITEM] = "ORDER_ITEM", [N_LIMIT] = "LIMIT",
        [N_DISTINCT] = "DISTINCT", [N_JOIN] = "JOIN", [N_SEMJOIN] = "SEMJOIN",
        [N_SIMJOIN] = "SIMJOIN", [N_EXPLODE] = "EXPLODE", [N_UNNEST] = "UNNEST",
        [N_UNION] = "UNION", [N_CLUSTER] = "CLUSTER", [N_TOPK] = "TOPK", [N_RESOLVE] = "RESOLVE", [N_CACHE] = "CACHE", [N_WRITE] = "WRITE",
        [N_INT] = "INT", [N_FLOAT] = "FLOAT", [N_STRING] = "STRING", [N_BOOL] = "BOOL",
        [N_NULL] = "NULL", [N_IDENT] = "IDENT", [N_FIELD] = "FIELD", [N_INDEX] = "INDEX",
        [N_CALL] = "CALL", [N_NAMED] = "NAMED", [N_BINOP] = "BINOP", [N_UNOP] = "UNOP",
        [N_ISNULL] = "ISNULL", [N_IN] = "IN", [N_BETWEEN] = "BETWEEN", [N_LIKE] = "LIKE",
        [N_CASE] = "CASE", [N_WHEN] = "WHEN", [N_LIST_LIT] = "LIST_LIT",
        [N_STRUCT_LIT] = "STRUCT_LIT", [N_CAST] = "CAST", [N_LIST] = "LIST",
        [N_SUBQUERY] = "SUBQUERY", [N_SAVE] = "SAVE", [N_DROP_TABLE] = "DROP_TABLE",
    };
    if ((unsigned)k < sizeof names / sizeof names[0] && names[k]) return names[k];
    return "?";
}

static const char *op_text(int op)
{
    static const char *const ops[] = {
        [OP_OR] = "or", [OP_AND] = "and", [OP_NOT] = "not", [OP_EQ] = "==", [OP_NE] = "!=",
        [OP_LT] = "<", [OP_LE] = "<=", [OP_GT] = ">", [OP_GE] = ">=", [OP_CONCAT] = "||",
        [OP_ADD] = "+", [OP_SUB] = "-", [OP_MUL] = "*", [OP_DIV] = "/", [OP_MOD] = "%",
        [OP_NEG] = "-", [OP_LIKE] = "like", [OP_ILIKE] = "ilike",
    };
    if ((unsigned)op < sizeof ops / sizeof ops[0] && ops[op]) return ops[op];
    return "?";
}

/* Append s[0..n) in double quotes with \" \\ \n \t \r and \xNN for other control bytes. */
static void put_quoted(Buf *b, const char *s, size_t n)
{
    buf_putc(b, '"');
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        switch (c) {
        case '"': buf_puts(b, "\\\""); break;
        case '\\': buf_puts(b, "\\\\"); break;
        case '\n': buf_puts(b, "\\n"); break;
        case '\t': buf_puts(b, "\\t"); break;
        case '\r': buf_puts(b, "\\r"); break;
        default:
            if (c < 0x20 || c == 0x7f) buf_printf(b, "\\x%02X", c);
            else buf_putc(b, (char)c);
        }
    }
    buf_putc(b, '"');
}

static void put_alias(Buf *b, const char *alias)
{
    if (alias) buf_printf(b, " as %s", alias);
}

/* The fields that follow the kind name on a node's line. */
static void dump_header(Buf *b, const Node *n)
{
    buf_puts(b, node_kind_name(n->kind));
    switch (n->kind) {
    case N_MODEL: case N_DEFAULT:
        buf_printf(b, " %s%s", n->str ? n->str : "", n->flag ? " embedding" : "");
        break;
    case N_TYPEDECL: case N_LET: case N_SET: case N_ASSIGN: case N_IDENT: case N_FIELD:
    case N_NAMED: case N_TYPE_NAME: case N_SRC_NAME: case N_SRC_CALL:
        if (n->str) buf_printf(b, " %s", n->str);
        if (n->kind == N_TYPE_NAME && n->flag) buf_putc(b, '?');
        if (n->kind == N_SRC_NAME || n->kind == N_SRC_CALL) put_alias(b, n->str2);
        break;
    case N_SRC_PIPE: case N_SRC_VALUES:
        put_alias(b, n->str2);
        break;
    case N_EXPLAIN:
        if (n->flag == 1) buf_puts(b, " analyze");
        else if (n->flag == 2) buf_puts(b, " cost");
        break;
    case N_FN:
        buf_printf(b, " %s(", n->str ? n->str : "");
        for (int i = 0; i < n->nkids; i++)
            buf_printf(b, "%s%s", i ? ", " : "", n->kids[i]->str ? n->kids[i]->str : "");
        buf_putc(b, ')');
        break;
    case N_IMPORT:
        if (n->flag) buf_printf(b, " std.%s", n->str ? n->str : "");
        else { buf_putc(b, ' '); put_quoted(b, n->str ? n->str : "", n->str ? strlen(n->str) : 0); }
        break;
    case N_TYPE_LIST: case N_TYPE_STRUCT: case N_TYPE_ENUM:
        if (n->flag) buf_putc(b, '?');
        break;
    case N_TYPE_VECTOR:
        buf_printf(b, " %lld%s", (long long)n->ival, n->flag ? "?" : "");
        break;
    case N_TYPE_FIELD:
        buf_printf(b, " %s", n->str ? n->str : "");
        if (n->str2) { buf_putc(b, ' '); put_quoted(b, n->str2, strlen(n->str2)); }
        break;
    case N_SELECT_ITEM:
        put_alias(b, n->str);
        break;
    case N_STAR:
        if (n->nkids) buf_puts(b, " except");
        break;
    case N_RENAME_ITEM:
        buf_printf(b, " %s as %s", n->str ? n->str : "", n->str2 ? n->str2 : "");
        break;
    case N_ORDER_ITEM:
        if (n->flag) buf_puts(b, " desc");
        if (n->ival == 1) buf_puts(b, " nulls first");
        else if (n->ival == 2) buf_puts(b, " nulls last");
        break;
    case N_JOIN: {
        static const char *const kinds[] = {"inner", "left", "right", "full", "cross"};
        buf_printf(b, " %s", (unsigned)n->flag < 5 ? kinds[n->flag] : "?");
        break;
    }
    case N_RESOLVE:
        buf_printf(b, " %s", n->str2 ? n->str2 : "?");
        if (n->str) { buf_puts(b, " using "); put_quoted(b, n->str, strlen(n->str)); }
        break;
    case N_TOPK:
    case N_SEMJOIN:
        if (n->kind == N_TOPK) buf_printf(b, " %lld", (long long)n->ival);
        buf_putc(b, ' ');
        put_quoted(b, n->str ? n->str : "", n->str ? strlen(n->str) : 0);
        break;
    case N_SIMJOIN:
        if (n->ival) buf_printf(b, " top %lld", (long long)n->ival);
        if (n->str) buf_printf(b, " metric %s", n->str);
        put_alias(b, n->str2);
        break;
    case N_EXPLODE:
        if (n->flag) buf_puts(b, " outer");
        if (n->str2) buf_printf(b, " index %s", n->str2);
        break;
    case N_UNION:
        if (n->flag) buf_puts(b, " all");
        break;
    case N_CLUSTER:
        buf_printf(b, " %lld as %s", (long long)n->ival, n->str ? n->str : "");
        if (n->str2) buf_printf(b, " centroid %s", n->str2);
        break;
    case N_INT:
        buf_printf(b, " %lld", (long long)n->ival);
        break;
    case N_FLOAT: {
        /* the shortest of %.15g / %.17g that reads back exactly */
        char tmp[40];
        snprintf(tmp, sizeof tmp, "%.15g", n->fval);
        if (strtod(tmp, NULL) != n->fval) snprintf(tmp, sizeof tmp, "%.17g", n->fval);
        buf_printf(b, " %s", tmp);
        break;
    }
    case N_STRING:
        buf_putc(b, ' ');
        put_quoted(b, n->str ? n->str : "", n->str ? (size_t)n->ival : 0);
        break;
    case N_BOOL:
        buf_puts(b, n->ival ? " true" : " false");
        break;
    case N_CALL:
        buf_printf(b, " %s%s", n->str ? n->str : "", n->flag ? " distinct" : "");
        break;
    case N_BINOP: case N_UNOP:
        buf_printf(b, " %s", op_text(n->op));
        break;
    case N_ISNULL: case N_IN: case N_BETWEEN:
        if (n->flag) buf_puts(b, " not");
        break;
    case N_LIKE:
        buf_printf(b, "%s %s", n->flag ? " not" : "", op_text(n->op));
        break;
    default:
        break;
    }
}

void node_dump(Buf *b, const Node *n, int indent)
{
    if (!n) return;
    for (int i = 0; i < indent; i++) buf_puts(b, "  ");
    dump_header(b, n);
    buf_putc(b, '\n');
    if (n->kind != N_CASE) node_dump(b, n->a, indent + 1);
    node_dump(b, n->b, indent + 1);
    node_dump(b, n->c, indent + 1);
    if (n->kind == N_FN) return;   /* parameters are on the header line */
    for (int i = 0; i < n->nkids; i++) node_dump(b, n->kids[i], indent + 1);
    if (n->kind == N_CASE) node_dump(b, n->a, indent + 1);   /* else after the whens */
}
