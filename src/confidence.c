/* confidence.c: answer probabilities from token log probabilities (semantic.h). Pure functions: no
 * I/O, no runtime state. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "semantic.h"
#include "semop.h"

const char *semantic_value_member(int op)
{
    return op == SEM_PREDICATE ? "answer" : op == SEM_CLASSIFY ? "label" : NULL;
}

static void skip_ws(const char *s, size_t *p)
{
    while (s[*p] == ' ' || s[*p] == '\n' || s[*p] == '\t' || s[*p] == '\r') (*p)++;
}

/* Skip the JSON value at *p; when path is not NULL, follow it: "" means this value is the target
 * (its span goes to *st, *en). 0, or -1 on text that is not JSON. Depth is bounded by the caller's
 * answers (model output under a schema); limited anyway so hostile text cannot exhaust the stack. */
static int scan(const char *s, size_t *p, const char *path, size_t *st, size_t *en, int depth)
{
    if (depth > 64) return -1;
    skip_ws(s, p);
    size_t b = *p;
    char c = s[*p];
    if (c == '"') {
        (*p)++;
        while (s[*p] && s[*p] != '"') {
            if (s[*p] == '\\' && s[*p + 1]) (*p)++;
            (*p)++;
        }
        if (s[*p] != '"') return -1;
        (*p)++;
        if (path && !*path) { *st = b + 1; *en = *p - 1; }
        return 0;
    }
    if (c == '{' || c == '[') {
        int obj = c == '{';
        char close = obj ? '}' : ']';
        (*p)++;
        const char *comp = path && *path ? path : NULL;
        size_t clen = comp ? strcspn(comp, "/") : 0;
        const char *rest = comp ? (comp[clen] == '/' ? comp + clen + 1 : comp + clen) : NULL;
        long want = -1;
        if (comp && !obj && clen > 0 && strspn(comp, "0123456789") == clen) want = strtol(comp, NULL, 10);
        skip_ws(s, p);
        if (s[*p] == close) (*p)++;
        else
            for (long idx = 0;; idx++) {
                const char *sub = NULL;
                if (obj) {
                    skip_ws(s, p);
                    if (s[*p] != '"') return -1;
                    size_t kb = *p + 1, d1, d2;
                    if (scan(s, p, NULL, &d1, &d2, depth + 1)) return -1;
                    size_t ke = *p - 1;
                    if (comp && ke - kb == clen && !strncmp(s + kb, comp, clen)) sub = rest;
                    skip_ws(s, p);
                    if (s[*p] != ':') return -1;
                    (*p)++;
                } else if (idx == want) {
                    sub = rest;
                }
                if (scan(s, p, sub, st, en, depth + 1)) return -1;
                skip_ws(s, p);
                if (s[*p] == ',') { (*p)++; continue; }
                if (s[*p] == close) { (*p)++; break; }
                return -1;
            }
        if (path && !*path) { *st = b; *en = *p; }
        return 0;
    }
    while (s[*p] && !strchr(",]}: \t\r\n", s[*p])) (*p)++;   /* true, false, null, a number */
    if (*p == b) return -1;
    if (path && !*path) { *st = b; *en = *p; }
    return 0;
}

int json_value_span(const char *text, const char *path, size_t *start, size_t *end)
{
    if (!text || !path) return -1;
    size_t p = strcspn(text, "{[");
    if (!text[p]) return -1;
    size_t st = SIZE_MAX, en = SIZE_MAX;
    if (scan(text, &p, path, &st, &en, 0) || st == SIZE_MAX) return -1;
    *start = st;
    *end = en;
    return 0;
}

double lm_tokens_span_prob(const LmTokenProb *t, int n, size_t start, size_t end)
{
    double lp = 0;
    int any = 0;
    size_t at = 0;
    for (int i = 0; i < n && at < end + (start == end); i++) {
        size_t len = t[i].text ? strlen(t[i].text) : 0;
        /* overlap with [start, end); an empty value ("") is given by the token holding its place */
        int hit = start < end ? (at < end && at + len > start) : (at <= start && at + len > start);
        if (hit) { lp += t[i].logprob; any = 1; }
        at += len;
    }
    if (!any) return NAN;
    double p = exp(lp);
    return p > 1 ? 1 : p;
}

/* The concatenated texts of a's tokens (malloc'd). */
static char *tokens_text(const LmAnswer *a)
{
    size_t n = 0;
    for (int i = 0; i < a->ntokens; i++) n += a->tokens[i].text ? strlen(a->tokens[i].text) : 0;
    char *s = xmalloc(n + 1), *w = s;
    for (int i = 0; i < a->ntokens; i++) {
        size_t k = a->tokens[i].text ? strlen(a->tokens[i].text) : 0;
        memcpy(w, a->tokens[i].text ? a->tokens[i].text : "", k);
        w += k;
    }
    *w = 0;
    return s;
}

double lm_answer_confidence(const LmAnswer *a, const char *path)
{
    if (!a || a->ntokens <= 0 || !path) return NAN;
    char *text = tokens_text(a);
    size_t st, en;
    double p = json_value_span(text, path, &st, &en) ? NAN : lm_tokens_span_prob(a->tokens, a->ntokens, st, en);
    free(text);
    return p;
}

void lm_answer_set_value_prob(LmAnswer *a, const char *path, double p)
{
    size_t st, en;
    if (isnan(p) || !a->text || json_value_span(a->text, path, &st, &en)) return;
    for (int i = 0; i < a->ntokens; i++) free(a->tokens[i].text);
    free(a->tokens);
    a->tokens = NULL;
    a->ntokens = 0;
    char *pre = xstrndup(a->text, st), *val = xstrndup(a->text + st, en - st);
    lm_answer_add_token(a, pre, 0);
    lm_answer_add_token(a, val, p > 0 ? log(p) : -1e300);
    lm_answer_add_token(a, a->text + en, 0);
    free(pre);
    free(val);
}
