/* provider_wire.c: what the provider adapters (provider_*.c) have in common, below them: building
 * an HttpRequest (wire_start, wire_add_header, wire_set_json), the options every protocol sends
 * (output ceiling, temperature, schema name), reading answers (header lookup, the server's wait in
 * its many spellings, time stamps, tolerant JSON getters, filling an LmAnswer). Pure functions: no
 * I/O, no global state. It calls nothing above it: provider.c dispatches to the adapters, the
 * adapters call this file.
 */
#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include "provider_wire.h"

/* ---- durations and times ---- */

/* Parse one Go duration from s, storing the end in *end. -1 when s does not start with one. */
static double duration_prefix(const char *s, const char **end)
{
    const char *p = s;
    double total = 0;
    int parts = 0;
    if (*p == '+') p++;
    if (p[0] == '0' && !isdigit((unsigned char)p[1]) && p[1] != '.' && !isalpha((unsigned char)p[1])) {
        *end = p + 1;   /* Go writes a zero duration as "0" */
        return 0;
    }
    while (isdigit((unsigned char)*p) || (*p == '.' && isdigit((unsigned char)p[1]))) {
        char *e;
        double v = strtod(p, &e);
        if (e == p) break;
        p = e;
        double unit;
        if (!strncmp(p, "ns", 2)) { unit = 1e-9; p += 2; }
        else if (!strncmp(p, "us", 2)) { unit = 1e-6; p += 2; }
        else if (!strncmp(p, "\xc2\xb5s", 3) || !strncmp(p, "\xce\xbcs", 3)) { unit = 1e-6; p += 3; }
        else if (!strncmp(p, "ms", 2)) { unit = 1e-3; p += 2; }
        else if (*p == 's') { unit = 1; p++; }
        else if (*p == 'm') { unit = 60; p++; }
        else if (*p == 'h') { unit = 3600; p++; }
        else return -1;   /* a number without a unit */
        total += v * unit;
        parts++;
    }
    if (!parts) return -1;
    *end = p;
    return total;
}

double wire_parse_duration(const char *s)
{
    if (!s) return -1;
    while (isspace((unsigned char)*s)) s++;
    const char *end;
    double d = duration_prefix(s, &end);
    if (d < 0) return -1;
    while (isspace((unsigned char)*end)) end++;
    return *end ? -1 : d;
}

double now_unix(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

double parse_rfc3339(const char *s)
{
    if (!s) return -1;
    int Y, M, D, h, mi, n = 0;
    double sec;
    while (isspace((unsigned char)*s)) s++;
    if (sscanf(s, "%4d-%2d-%2d%*1[Tt ]%2d:%2d:%lf%n", &Y, &M, &D, &h, &mi, &sec, &n) != 6 || n == 0) return -1;
    if (M < 1 || M > 12 || D < 1 || D > 31 || h > 23 || mi > 59 || sec < 0 || sec >= 61) return -1;
    const char *p = s + n;
    double off = 0;
    if (*p == 'Z' || *p == 'z') p++;
    else if (*p == '+' || *p == '-') {
        int oh, om, k = 0;
        if (sscanf(p + 1, "%2d:%2d%n", &oh, &om, &k) != 2 || k == 0) return -1;
        off = (oh * 3600 + om * 60) * (*p == '-' ? -1 : 1);
        p += 1 + k;
    } else if (*p) return -1;
    while (isspace((unsigned char)*p)) p++;
    if (*p) return -1;
    struct tm tm = { 0 };
    tm.tm_year = Y - 1900;
    tm.tm_mon = M - 1;
    tm.tm_mday = D;
    tm.tm_hour = h;
    tm.tm_min = mi;
    time_t t = timegm(&tm);
    if (t == (time_t)-1) return -1;
    return (double)t + sec - off;
}

double parse_http_date(const char *s)
{
    if (!s) return -1;
    struct tm tm = { 0 };
    const char *e = strptime(s, "%a, %d %b %Y %H:%M:%S GMT", &tm);
    if (!e) return -1;
    time_t t = timegm(&tm);
    return t == (time_t)-1 ? -1 : (double)t;
}

/* ---- headers ---- */

char *hdr_get(const char *headers, const char *name)
{
    if (!headers || !name) return NULL;
    size_t nl = strlen(name);
    char *found = NULL;
    for (const char *line = headers; *line; ) {
        const char *eol = strpbrk(line, "\r\n");
        size_t len = eol ? (size_t)(eol - line) : strlen(line);
        if (len > nl && line[nl] == ':' && !strncasecmp(line, name, nl)) {
            const char *v = line + nl + 1, *ve = line + len;
            while (v < ve && (*v == ' ' || *v == '\t')) v++;
            while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t')) ve--;
            free(found);
            found = xstrndup(v, (size_t)(ve - v));
        }
        if (!eol) break;
        line = eol;
        while (*line == '\r' || *line == '\n') line++;
    }
    return found;
}

double hdr_number(const char *headers, const char *name)
{
    char *v = hdr_get(headers, name);
    if (!v) return -1;
    char *e;
    double d = strtod(v, &e);
    int ok = e != v && *e == 0 && isfinite(d);
    free(v);
    return ok ? d : -1;
}

double hdr_retry_after(const char *headers, double now)
{
    double ms = hdr_number(headers, "retry-after-ms");
    if (ms >= 0) return ms / 1000;
    char *v = hdr_get(headers, "retry-after");
    if (!v) return -1;
    double w = -1;
    char *e;
    double d = strtod(v, &e);
    if (e != v && *e == 0 && isfinite(d) && d >= 0) w = d;
    else {
        double t = parse_http_date(v);
        if (t >= 0) w = t > now ? t - now : 0;
    }
    free(v);
    return w;
}

/* The wait spelled at s: a Go duration ("1.574s", "20ms", "6m0s") or "20 seconds"; -1 if none. */
static double spelled_wait(const char *s)
{
    const char *end;
    double d = duration_prefix(s, &end);
    if (d >= 0) return d;
    char *e;
    double v = strtod(s, &e);
    if (e == s || !isfinite(v) || v < 0) return -1;
    while (*e == ' ') e++;
    if (!strncasecmp(e, "ms", 2) || !strncasecmp(e, "milli", 5)) return v / 1000;
    if (!strncasecmp(e, "s", 1)) return v;
    if (!strncasecmp(e, "min", 3)) return v * 60;
    if (!strncasecmp(e, "h", 1)) return v * 3600;
    return -1;
}

double text_try_again(const char *msg)
{
    static const char *const phrases[] = { "try again in ", "retry in " };
    for (size_t k = 0; msg && k < sizeof phrases / sizeof phrases[0]; k++)
        for (const char *p = msg; (p = strcasestr(p, phrases[k])); p++) {
            double d = spelled_wait(p + strlen(phrases[k]));
            if (d >= 0) return d;
        }
    return -1;
}

/* ---- building ---- */

void wire_start(HttpRequest *out, const char *method, char *url)
{
    out->method = method;
    out->url = url;
}

void wire_add_header(HttpRequest *out, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *h = xvasprintf(fmt, ap);
    va_end(ap);
    out->headers = xrealloc(out->headers, sizeof *out->headers * (size_t)(out->nheaders + 1));
    out->headers[out->nheaders++] = h;
}

void wire_set_json(HttpRequest *out, json_t *body)
{
    char *s = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    if (!s) s = xstrdup("{}");   /* only on out of memory */
    free(out->body);
    out->body = s;
}

int wire_max_tokens(const LmModel *m, const LmRequest *r, int dflt)
{
    if (r && r->max_output_tokens > 0) return r->max_output_tokens;
    if (m->max_output_tokens > 0) return m->max_output_tokens;
    return dflt;
}

double wire_temperature(const LmModel *m, const LmRequest *r)
{
    if (r && !isnan(r->temperature)) return r->temperature;
    return m->temperature;
}

char *wire_schema_name(const LmRequest *r)
{
    const char *n = r && r->schema_name && *r->schema_name ? r->schema_name : "answer";
    size_t len = strlen(n);
    if (len > 64) len = 64;
    char *s = xstrndup(n, len);
    for (char *p = s; *p; p++)
        if (!isalnum((unsigned char)*p) && *p != '_' && *p != '-') *p = '_';
    return s;
}

/* ---- reading ---- */

json_t *jobj(const json_t *o, const char *key)
{
    json_t *v = json_is_object(o) ? json_object_get(o, key) : NULL;
    return json_is_object(v) ? v : NULL;
}

json_t *jarr(const json_t *o, const char *key)
{
    json_t *v = json_is_object(o) ? json_object_get(o, key) : NULL;
    return json_is_array(v) ? v : NULL;
}

const char *jstr(const json_t *o, const char *key)
{
    json_t *v = json_is_object(o) ? json_object_get(o, key) : NULL;
    return json_is_string(v) ? json_string_value(v) : NULL;
}

double jnum(const json_t *o, const char *key, double dflt)
{
    json_t *v = json_is_object(o) ? json_object_get(o, key) : NULL;
    return json_is_number(v) ? json_number_value(v) : dflt;
}

int64_t jint(const json_t *o, const char *key)
{
    double d = jnum(o, key, 0);
    return d > 0 && d < 9e18 ? (int64_t)d : 0;
}

void answer_set(LmAnswer *a, LmOutcome outcome, const char *kind, const char *fmt, ...)
{
    a->outcome = outcome;
    free(a->error_kind);
    a->error_kind = kind ? xstrdup(kind) : NULL;
    free(a->error_message);
    a->error_message = NULL;
    if (fmt) {
        va_list ap;
        va_start(ap, fmt);
        a->error_message = xvasprintf(fmt, ap);
        va_end(ap);
    }
}

char *body_excerpt(const char *body, size_t len, size_t n)
{
    if (!body) return xstrdup("");
    if (len > n) len = n;
    char *s = xstrndup(body, len);
    for (char *p = s; *p; p++)
        if ((unsigned char)*p < 0x20) *p = ' ';
    size_t l = strlen(s);
    while (l > 0 && s[l - 1] == ' ') s[--l] = 0;
    return s;
}

json_t *body_json(const char *body, size_t len)
{
    if (!body || !len) return NULL;
    json_error_t je;
    return json_loadb(body, len, JSON_DECODE_ANY, &je);
}

void answer_take_json(LmAnswer *a)
{
    json_error_t je;
    json_decref(a->json);
    a->json = NULL;
    const char *t = a->text ? a->text : "";
    if (!*t) {
        answer_set(a, LM_ROW_ERROR, "invalid_json", "the structured answer is empty");
        return;
    }
    a->json = json_loads(t, JSON_DECODE_ANY, &je);
    if (!a->json)
        answer_set(a, LM_ROW_ERROR, "invalid_json", "the answer is not valid JSON: %s at line %d, column %d",
                   je.text, je.line, je.column);
}

/* x-should-retry (sent by OpenAI and Anthropic) overrides the status: "false" makes a transient
 * failure final for the row; "true" makes an ordinary row error transient. */
void wire_should_retry(const char *headers, LmAnswer *a)
{
    char *v = hdr_get(headers, "x-should-retry");
    if (!v) return;
    if (!strcasecmp(v, "false") && a->outcome == LM_RETRY) a->outcome = LM_ROW_ERROR;
    else if (!strcasecmp(v, "true") && a->outcome == LM_ROW_ERROR && a->error_kind &&
             (!strcmp(a->error_kind, "bad_request") || !strcmp(a->error_kind, "unexpected_status")))
        a->outcome = LM_RETRY;
    free(v);
}

int status_transient(long status)
{
    return status == 408 || status == 409 || status >= 500;
}

/* Token probabilities (runtime.h): here, below the adapters that fill them. */
LmTokenProb *lm_tokens_copy(const LmTokenProb *t, int n)
{
    if (!t || n <= 0) return NULL;
    LmTokenProb *c = xmalloc((size_t)n * sizeof *c);
    for (int i = 0; i < n; i++) { c[i].text = xstrdup(t[i].text ? t[i].text : ""); c[i].logprob = t[i].logprob; }
    return c;
}

void lm_answer_add_token(LmAnswer *a, const char *text, double logprob)
{
    /* grown by powers of two: capacity is implied by the count */
    int n = a->ntokens;
    if ((n & (n - 1)) == 0) a->tokens = xrealloc(a->tokens, (size_t)(n ? n * 2 : 1) * sizeof *a->tokens);
    a->tokens[n].text = xstrdup(text ? text : "");
    a->tokens[n].logprob = logprob;
    a->ntokens = n + 1;
}
