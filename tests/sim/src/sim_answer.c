/*
 * sim_answer.c - the deterministic answers of fql-sim. Same request text, same answer, on every
 * run and machine; the rules are documented in tests/sim/README.md so tests can predict them:
 *   - text: "Simulated answer: " + 3..6 words of the prompt chosen by a hash of the prompt.
 *   - structured: walks the JSON schema; enums take the label the user text mentions most (ties:
 *     the first label), booleans are true when a word of the text starts with an alarm stem
 *     (urgent, critical, broken, outage, crash, escalat, emergency, asap, immediately, severe),
 *     strings and numbers come from a hash of the text and the field's path, arrays hold 1..3
 *     items (enum items: the labels mentioned, most mentioned first).
 *   - facts mode (sim_facts.c): when the text holds known fact texts, enums, booleans, numbers
 *     and strings follow those texts' properties (fact_value), with a per-model error rate.
 *   - embeddings: each word (lower-cased run of letters/digits) adds +-1 at a hashed coordinate;
 *     the vector is scaled to unit length, so texts that share words are close.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "sim.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/evp.h>

/* ---- prompt text ---- */

/* Adds one message's text to t; the token count grows by 4 + ceil(bytes/4). */
void sim_text_add(SimText *t, const char *text, int is_user)
{
    if (!text) text = "";
    if (t->all.len) sim_buf_puts(&t->all, "\n");
    sim_buf_puts(&t->all, text);
    if (is_user) {
        if (t->user.len) sim_buf_puts(&t->user, "\n");
        sim_buf_puts(&t->user, text);
        if (t->media.len) {   /* the message's media parts, as "sha256:HEX" words after its text (facts mode keys) */
            sim_buf_puts(&t->user, t->media.data);
            t->media.len = 0;
            t->media.data[0] = 0;
        }
    }
    t->tokens += 4 + sim_tokens(text);
    t->nmsg++;
}

/* Adds the per-request overhead of 3 tokens. */
void sim_text_finish(SimText *t)
{
    t->tokens += 3;
    if (!t->all.data) sim_buf_puts(&t->all, "");
    if (!t->user.data) sim_buf_puts(&t->user, "");
}

/* Returns the user text, or all text when there is no user turn (borrowed). */
const char *sim_text_user(const SimText *t)
{
    if (t->user.len) return t->user.data;
    return t->all.data ? t->all.data : "";
}

/* Frees t's buffers (NULL-safe). */
void sim_text_free(SimText *t)
{
    if (!t) return;
    sim_buf_free(&t->all);
    sim_buf_free(&t->user);
    sim_buf_free(&t->images);
    sim_buf_free(&t->media);
}

/* Note the SHA-256 of a media part's bytes, for the next user text. */
static void media_hash(SimText *t, const unsigned char *bytes, size_t n)
{
    unsigned char md[32];
    unsigned ml = 0;
    EVP_Digest(bytes, n, md, &ml, EVP_sha256(), NULL);
    sim_buf_puts(&t->media, " sha256:");
    for (int i = 0; i < 32; i++) sim_buf_printf(&t->media, "%02x", md[i]);
}

int sim_text_add_audio(SimText *t, const char *mime, const char *data, const char **why)
{
    size_t n = 0;
    unsigned char *bytes = data ? sim_b64url_decode(data, strlen(data), &n) : NULL;
    if (!bytes) { *why = "the audio data is not valid base64"; return -1; }
    uint64_t h = sim_hash(bytes, n, 0);
    media_hash(t, bytes, n);
    free(bytes);
    t->nimages++;
    if (t->images.len) sim_buf_puts(&t->images, "\n");
    sim_buf_printf(&t->images, "Audio %d: a simulated recording of %zu bytes (%s, hash %08x).", t->nimages, n,
                   mime && *mime ? mime : "unknown type", (unsigned)(h & 0xffffffffu));
    t->tokens += 100;
    return 0;
}

/* Each image is described by what the simulator can know of it: its size and a hash of its bytes. */
int sim_text_add_image(SimText *t, const char *mime, const char *data, const char *url, const char **why)
{
    size_t n = 0;
    uint64_t h;
    if (data) {
        unsigned char *bytes = sim_b64url_decode(data, strlen(data), &n);
        if (!bytes) { *why = "the image data is not valid base64"; return -1; }
        h = sim_hash(bytes, n, 0);
        media_hash(t, bytes, n);
        free(bytes);
    } else h = sim_hash_str(url ? url : "", 0);
    t->nimages++;
    if (t->images.len) sim_buf_puts(&t->images, "\n");
    if (data)
        sim_buf_printf(&t->images, "Image %d: a simulated picture of %zu bytes (%s, hash %08x).", t->nimages, n,
                       mime && *mime ? mime : "unknown type", (unsigned)(h & 0xffffffffu));
    else
        sim_buf_printf(&t->images, "Image %d: a simulated picture from a URL (hash %08x).", t->nimages, (unsigned)(h & 0xffffffffu));
    t->tokens += 85;
    return 0;
}

/* ---- words ---- */

typedef struct Words { char **w; int n, cap; } Words;

/* 1 for bytes that belong to words: ASCII letters and digits, and any non-ASCII byte. */
static int word_char(int c)
{
    return isalnum(c) || c >= 0x80;
}

/* Splits text into lower-cased words (runs of ASCII letters/digits and non-ASCII bytes). */
static void words_split(const char *text, Words *ws)
{
    const unsigned char *p = (const unsigned char *)(text ? text : "");
    while (*p) {
        while (*p && !word_char(*p)) p++;
        const unsigned char *s = p;
        while (*p && word_char(*p)) p++;
        if (p > s) {
            if (ws->n == ws->cap) {
                ws->cap = ws->cap ? ws->cap * 2 : 32;
                ws->w = realloc(ws->w, (size_t)ws->cap * sizeof *ws->w);
                if (!ws->w) abort();
            }
            char *w = strndup((const char *)s, (size_t)(p - s));
            for (char *q = w; *q; q++) *q = (char)tolower((unsigned char)*q);
            ws->w[ws->n++] = w;
        }
    }
}

/* Frees the words of ws (NULL-safe contents). */
static void words_free(Words *ws)
{
    for (int i = 0; i < ws->n; i++) free(ws->w[i]);
    free(ws->w);
}

/* ---- text answers ---- */

/* Returns the text answer for t (malloc'd): a short sentence of words of the prompt picked by
 * its hash; variant distinguishes the choices of one request (n > 1). */
char *sim_answer_text(const SimText *t, int variant)
{
    if (t->nimages) return strdup(t->images.data);   /* a vision request: one line per image */
    const char *src = sim_text_user(t);
    uint64_t h = sim_hash_str(t->all.data, (uint64_t)variant);
    Words ws = {0};
    words_split(src, &ws);
    SimBuf b = {0};
    sim_buf_puts(&b, "Simulated answer:");
    if (ws.n == 0) {
        sim_buf_printf(&b, " %04x.", (unsigned)(h & 0xffff));
    } else {
        int k = 3 + (int)(h % 4);
        for (int i = 0; i < k; i++) {
            h = sim_mix(h);
            sim_buf_printf(&b, " %s", ws.w[h % (uint64_t)ws.n]);
        }
        sim_buf_puts(&b, ".");
    }
    words_free(&ws);
    return b.data;
}

/* Returns the refusal sentence (malloc'd). */
char *sim_refusal_text(void)
{
    return strdup("I'm sorry, but I can't help with that request.");
}

/* ---- structured answers ---- */

static const char *alarm_stems[] = {
    "urgent", "critical", "broken", "outage", "crash", "escalat", "emergency", "asap",
    "immediately", "severe", NULL,
};

/* 1 when a word of text starts with an alarm stem. */
static int text_alarming(const Words *ws)
{
    for (int i = 0; i < ws->n; i++)
        for (int j = 0; alarm_stems[j]; j++)
            if (strncmp(ws->w[i], alarm_stems[j], strlen(alarm_stems[j])) == 0) return 1;
    return 0;
}

/* Counts whole-word, case-insensitive occurrences of needle in the lower-cased text. */
static int count_mentions(const char *lower, const char *needle)
{
    size_t n = strlen(needle);
    if (n == 0) return 0;
    char *nl = strdup(needle);
    for (char *q = nl; *q; q++) *q = (char)tolower((unsigned char)*q);
    int c = 0;
    const char *p = lower;
    while ((p = strstr(p, nl)) != NULL) {
        int before = p == lower || !word_char((unsigned char)p[-1]);
        int after = !word_char((unsigned char)p[n]);
        if (before && after) c++;
        p += n;
    }
    free(nl);
    return c;
}

/* Mentions of an enum label: as written, or with '_' and '-' read as spaces. */
static int label_mentions(const char *lower, const char *label)
{
    int c = count_mentions(lower, label);
    char *alt = strdup(label);
    int changed = 0;
    for (char *q = alt; *q; q++) if (*q == '_' || *q == '-') { *q = ' '; changed = 1; }
    if (changed) { int c2 = count_mentions(lower, alt); if (c2 > c) c = c2; }
    free(alt);
    return c;
}

#define MAX_MATCHES 16

typedef struct Gen {
    json_t *root;       /* the whole schema, for $ref */
    const char *text;   /* user text */
    char *lower;        /* lower-cased text */
    Words words;
    int alarming;
    /* facts mode: the fact texts found in the text, and the question around them */
    const SimFacts *facts;
    SimFactMatch m[MAX_MATCHES];
    int nm;
    char *question;     /* lower-cased text with the matched fact texts blanked out */
    int question_words; /* 1 when the question has a word */
    const char *model;
    double rate;        /* the model's error rate */
} Gen;

/* Resolves a local $ref ("#/$defs/X", "#/definitions/X", "#/..."); returns borrowed or NULL. */
static json_t *resolve_ref(Gen *g, const char *ref)
{
    if (!ref || ref[0] != '#') return NULL;
    json_t *cur = g->root;
    const char *p = ref + 1;
    while (*p == '/' && cur) {
        p++;
        const char *e = strchr(p, '/');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        char *k = strndup(p, n);
        cur = json_object_get(cur, k);
        free(k);
        p += n;
    }
    return cur;
}

/* The schema's type in lower case, the first non-null of a union; "" when absent. */
static const char *schema_type(json_t *s, char *buf, size_t bufsz)
{
    json_t *t = json_object_get(s, "type");
    const char *ts = NULL;
    if (json_is_string(t)) ts = json_string_value(t);
    else if (json_is_array(t)) {
        size_t i;
        json_t *v;
        json_array_foreach(t, i, v) {
            if (json_is_string(v) && strcasecmp(json_string_value(v), "null") != 0) { ts = json_string_value(v); break; }
        }
        if (!ts && json_array_size(t)) ts = "null";
    }
    if (!ts) {
        if (json_object_get(s, "properties")) ts = "object";
        else if (json_object_get(s, "items")) ts = "array";
        else ts = "";
    }
    snprintf(buf, bufsz, "%s", ts);
    for (char *q = buf; *q; q++) *q = (char)tolower((unsigned char)*q);
    return buf;
}

/* A phrase of 1..4 words of the text picked by hash h (malloc'd). */
static char *hash_phrase(Gen *g, uint64_t h)
{
    if (g->words.n == 0) {
        char out[32];
        snprintf(out, sizeof out, "sim-%06llx", (unsigned long long)(h & 0xffffff));
        return strdup(out);
    }
    SimBuf b = {0};
    int k = 1 + (int)(h % 4);
    for (int i = 0; i < k; i++) {
        h = sim_mix(h);
        if (i) sim_buf_puts(&b, " ");
        sim_buf_puts(&b, g->words.w[h % (uint64_t)g->words.n]);
    }
    return b.data;
}

static json_t *gen_value(Gen *g, json_t *s, const char *path, int depth);

/* Picks the enum label mentioned most (ties: first). Returns a new reference. */
static json_t *gen_enum(Gen *g, json_t *en)
{
    size_t i, best = 0;
    int bestc = -1;
    json_t *v;
    json_array_foreach(en, i, v) {
        int c = json_is_string(v) ? label_mentions(g->lower, json_string_value(v)) : 0;
        if (c > bestc) { bestc = c; best = i; }
    }
    json_t *r = json_array_get(en, best);
    return r ? json_incref(r) : json_null();
}

/* An array for schema s (1..3 items; enum items: the mentioned labels). */
static json_t *gen_array(Gen *g, json_t *s, const char *path, int depth)
{
    uint64_t h = sim_hash_str(g->text, sim_hash_str(path, 7));
    json_t *mn = json_object_get(s, "minItems"), *mx = json_object_get(s, "maxItems");
    long lo = json_is_integer(mn) ? (long)json_integer_value(mn) : 1;
    long hi = json_is_integer(mx) ? (long)json_integer_value(mx) : (lo > 3 ? lo : 3);
    if (lo < 1 && hi >= 1) lo = 1;
    if (hi < lo) hi = lo;
    json_t *items = json_object_get(s, "items");
    json_t *ref = json_object_get(items, "$ref");
    if (json_is_string(ref)) items = resolve_ref(g, json_string_value(ref));
    json_t *arr = json_array();
    json_t *en = json_object_get(items, "enum");
    if (json_is_array(en) && json_array_size(en)) {
        size_t ne = json_array_size(en);
        int *cnt = calloc(ne, sizeof *cnt), *used = calloc(ne, sizeof *used);
        for (size_t i = 0; i < ne; i++) {
            json_t *v = json_array_get(en, i);
            cnt[i] = json_is_string(v) ? label_mentions(g->lower, json_string_value(v)) : 0;
        }
        while ((long)json_array_size(arr) < hi) {   /* mentioned labels, most mentioned first */
            size_t best = ne;
            for (size_t i = 0; i < ne; i++)
                if (!used[i] && cnt[i] > 0 && (best == ne || cnt[i] > cnt[best])) best = i;
            if (best == ne) break;
            used[best] = 1;
            json_array_append(arr, json_array_get(en, best));
        }
        for (size_t i = 0; i < ne && (long)json_array_size(arr) < lo; i++)
            if (!used[i]) { used[i] = 1; json_array_append(arr, json_array_get(en, i)); }
        free(cnt);
        free(used);
        return arr;
    }
    long n = lo + (long)(h % (uint64_t)(hi - lo + 1));
    if (n > 100) n = 100;
    for (long i = 0; i < n; i++) {
        char sub[512];
        snprintf(sub, sizeof sub, "%.480s[%ld]", path, i);
        json_array_append_new(arr, items ? gen_value(g, items, sub, depth + 1) : json_string("item"));
    }
    return arr;
}

/* A string for schema s at path: formats, lengths and the text's words. */
static json_t *gen_string(Gen *g, json_t *s, const char *path)
{
    uint64_t h = sim_hash_str(g->text, sim_hash_str(path, 3));
    const char *fmt = json_string_value(json_object_get(s, "format"));
    char tmp[128];
    char *v = NULL;
    if (fmt && strcmp(fmt, "date") == 0) {
        snprintf(tmp, sizeof tmp, "2024-%02d-%02d", (int)(h % 12) + 1, (int)((h >> 8) % 28) + 1);
    } else if (fmt && strcmp(fmt, "date-time") == 0) {
        snprintf(tmp, sizeof tmp, "2024-%02d-%02dT%02d:%02d:00Z", (int)(h % 12) + 1, (int)((h >> 8) % 28) + 1,
                 (int)((h >> 16) % 24), (int)((h >> 24) % 60));
    } else if (fmt && strcmp(fmt, "email") == 0) {
        snprintf(tmp, sizeof tmp, "user%04x@example.com", (unsigned)(h & 0xffff));
    } else if (fmt && (strcmp(fmt, "uri") == 0 || strcmp(fmt, "url") == 0)) {
        snprintf(tmp, sizeof tmp, "https://example.com/%06llx", (unsigned long long)(h & 0xffffff));
    } else if (fmt && strcmp(fmt, "uuid") == 0) {
        uint64_t h2 = sim_mix(h);
        snprintf(tmp, sizeof tmp, "%08x-%04x-4%03x-8%03x-%012llx", (unsigned)(h >> 32), (unsigned)(h & 0xffff),
                 (unsigned)((h >> 16) & 0xfff), (unsigned)(h2 & 0xfff), (unsigned long long)(h2 >> 16) & 0xffffffffffffULL);
    } else {
        v = hash_phrase(g, h);
    }
    if (!v) v = strdup(tmp);
    json_t *mx = json_object_get(s, "maxLength"), *mn = json_object_get(s, "minLength");
    if (json_is_integer(mx) && (long)strlen(v) > (long)json_integer_value(mx) && json_integer_value(mx) >= 0)
        v[json_integer_value(mx)] = 0;
    if (json_is_integer(mn) && (long)strlen(v) < (long)json_integer_value(mn) && json_integer_value(mn) < 10000) {
        size_t want = (size_t)json_integer_value(mn);
        char *p = realloc(v, want + 1);
        if (!p) abort();
        v = p;
        size_t l = strlen(v);
        memset(v + l, 'x', want - l);
        v[want] = 0;
    }
    json_t *r = json_string(v);
    if (!r) r = json_string("sim");   /* truncation split a UTF-8 sequence */
    free(v);
    return r;
}

/* A number or integer in the schema's bounds from a hash of the text and path. */
static json_t *gen_number(Gen *g, json_t *s, const char *path, int integer)
{
    uint64_t h = sim_hash_str(g->text, sim_hash_str(path, 5));
    json_t *jmin = json_object_get(s, "minimum"), *jmax = json_object_get(s, "maximum");
    json_t *xmin = json_object_get(s, "exclusiveMinimum"), *xmax = json_object_get(s, "exclusiveMaximum");
    int hasmin = json_is_number(jmin) || json_is_number(xmin), hasmax = json_is_number(jmax) || json_is_number(xmax);
    double step = integer ? 1 : 0.001;
    double lo = json_is_number(jmin) ? json_number_value(jmin) : json_is_number(xmin) ? json_number_value(xmin) + step : 0;
    double hi = json_is_number(jmax) ? json_number_value(jmax) : json_is_number(xmax) ? json_number_value(xmax) - step : 0;
    double span = integer ? 100 : 1;
    if (!hasmin && !hasmax) { lo = 0; hi = span; }
    else if (!hasmax) hi = lo + span;
    else if (!hasmin) lo = hi - span;
    if (hi < lo) hi = lo;
    if (integer) {
        double ilo = ceil(lo), ihi = floor(hi);
        if (ihi < ilo) ihi = ilo;
        uint64_t range = (uint64_t)(ihi - ilo) + 1;
        if (range == 0) range = 1;
        return json_integer((json_int_t)(ilo + (double)(h % range)));
    }
    double v = lo + (double)(h % 10001) / 10000.0 * (hi - lo);
    v = round(v * 1000.0) / 1000.0;
    if (v < lo) v = lo;
    if (v > hi) v = hi;
    return json_real(v);
}

/* ---- facts mode ---- */

/* Position of the first whole-word, case-insensitive mention of needle (or of it with '_' and '-'
 * read as spaces) in the lower-cased text; -1 when none. */
static long first_mention(const char *lower, const char *needle)
{
    long best = -1;
    for (int alt = 0; alt < 2; alt++) {
        char *nl = strdup(needle);
        for (char *q = nl; *q; q++) {
            *q = (char)tolower((unsigned char)*q);
            if (alt && (*q == '_' || *q == '-')) *q = ' ';
        }
        size_t n = strlen(nl);
        for (const char *p = n ? strstr(lower, nl) : NULL; p; p = strstr(p + 1, nl)) {
            int before = p == lower || !word_char((unsigned char)p[-1]);
            if (before && !word_char((unsigned char)p[n])) {
                if (best < 0 || p - lower < best) best = p - lower;
                break;
            }
        }
        free(nl);
    }
    return best;
}

/* Position of the first mention of a property name, or of its plural ("sentiments"); -1 when none. */
static long name_mention(const char *lower, const char *name)
{
    long a = first_mention(lower, name);
    char *pl = NULL;
    if (asprintf(&pl, "%ss", name) < 0) abort();
    long b = first_mention(lower, pl);
    free(pl);
    return a < 0 ? b : b < 0 ? a : a < b ? a : b;
}

/* A fact value as the words a question would use: strings as they are, integral numbers without
 * decimals (malloc'd; NULL for booleans). */
static char *fact_words(json_t *v)
{
    char tmp[64];
    if (json_is_string(v)) return strdup(json_string_value(v));
    if (json_is_integer(v)) { snprintf(tmp, sizeof tmp, "%lld", (long long)json_integer_value(v)); return strdup(tmp); }
    if (json_is_real(v)) {
        double d = json_real_value(v);
        if (d == floor(d) && fabs(d) < 1e15) snprintf(tmp, sizeof tmp, "%.0f", d);
        else snprintf(tmp, sizeof tmp, "%g", d);
        return strdup(tmp);
    }
    return NULL;
}

/* Set while the error-free answer is generated (sim_answer_tokens compares against it). */
static __thread int no_errors;

/* 1 when this answer (field path) is to be wrong: a hash of model, text and path under the rate. */
static int fact_wrong(Gen *g, const char *path)
{
    if (g->rate <= 0) return 0;
    uint64_t h = sim_hash_str(g->text, sim_hash_str(path, sim_hash_str(g->model ? g->model : "", 17)));
    return (double)(h >> 11) / 9007199254740992.0 < g->rate;
}

/* Another index than k among n, picked by a hash of the text and path. */
static size_t other_index(Gen *g, const char *path, size_t k, size_t n)
{
    uint64_t h = sim_hash_str(g->text, sim_hash_str(path, 19));
    size_t o = (size_t)(h % (uint64_t)(n - 1));
    return o >= k ? o + 1 : o;
}

/* The property of the first matched fact named like the field (any case), or NULL (borrowed). */
static json_t *fact_named(Gen *g, const char *name)
{
    json_t *props = sim_facts_props(g->facts, g->m[0].fact);
    json_t *v = json_object_get(props, name);
    if (v) return v;
    const char *k;
    json_object_foreach(props, k, v) if (strcasecmp(k, name) == 0) return v;
    return NULL;
}

/* The enum label the first matched fact has: the property of the field's name when its value is a
 * label, else the first property (in the file's order) whose value is a label; compared in any
 * case. Returns the label's index, or -1. */
static long fact_enum_index(Gen *g, json_t *en, const char *name)
{
    json_t *props = sim_facts_props(g->facts, g->m[0].fact);
    json_t *named = fact_named(g, name);
    const char *k;
    json_t *v;
    for (int pass = 0; pass < 2; pass++) {
        json_object_foreach(props, k, v) {
            if (pass == 0 && v != named) continue;
            char *w = fact_words(v);
            if (!w) continue;
            size_t i;
            json_t *l;
            json_array_foreach(en, i, l) {
                if (json_is_string(l) && strcasecmp(json_string_value(l), w) == 0) { free(w); return (long)i; }
            }
            free(w);
        }
    }
    return -1;
}

/* Words that make a pair question a comparison: 1 the first's value greater ("higher", "more",
 * ...), -1 less ("lower", "less", ...), 0 none (the last word of either kind found wins). */
static const char *const gt_words[] = {"higher", "more", "greater", "larger", "bigger", "above", "exceeds", "better", NULL};
static const char *const lt_words[] = {"lower", "less", "smaller", "fewer", "below", "cheaper", "worse", NULL};
static int compare_words(const char *lower)
{
    long at = -1;
    int r = 0;
    for (int k = 0; k < 2; k++)
        for (int i = 0; (k ? lt_words : gt_words)[i]; i++) {
            long m = first_mention(lower, (k ? lt_words : gt_words)[i]);
            if (m > at) { at = m; r = k ? -1 : 1; }
        }
    return r;
}

/* The yes/no answer the facts give to the question around the matched texts, or -1 when they
 * give none. One text: a boolean property named in the question is the answer; else true iff a
 * value of the text's properties is mentioned. Two or more texts (a pair): the property compared
 * is the one whose name the question mentions first, else the one whose value it mentions first;
 * the answer is whether all texts have the same value of it, negated when the question says
 * opposite, different, ... */
static int fact_boolean(Gen *g)
{
    if (!g->question_words) return -1;
    const char *q = g->question;
    json_t *p0 = sim_facts_props(g->facts, g->m[0].fact);
    const char *k;
    json_t *v;
    if (g->nm == 1) {
        long best = -1;
        int ans = -1;
        json_object_foreach(p0, k, v) {
            long at;
            if (json_is_boolean(v) && (at = name_mention(q, k)) >= 0 && (best < 0 || at < best)) { best = at; ans = json_is_true(v); }
        }
        if (ans >= 0) return ans;
        json_object_foreach(p0, k, v) {
            char *w = fact_words(v);
            long at = w && *w ? first_mention(q, w) : -1;
            free(w);
            if (at >= 0) return 1;
        }
        return 0;
    }
    const char *prop = NULL;
    long best = -1;
    for (int i = 0; i < g->nm; i++) {   /* a property named */
        json_object_foreach(sim_facts_props(g->facts, g->m[i].fact), k, v) {
            long at = name_mention(q, k);
            if (at >= 0 && (best < 0 || at < best)) { best = at; prop = k; }
        }
    }
    for (int i = 0; !prop && i < g->nm; i++) {   /* else a value mentioned */
        json_object_foreach(sim_facts_props(g->facts, g->m[i].fact), k, v) {
            char *w = fact_words(v);
            long at = w && *w ? first_mention(q, w) : -1;
            free(w);
            if (at >= 0 && (best < 0 || at < best)) { best = at; prop = k; }
        }
    }
    if (!prop) return -1;
    json_t *first = json_object_get(p0, prop);
    /* a comparison of a number between two texts: the first's against the second's */
    json_t *second = g->nm == 2 ? json_object_get(sim_facts_props(g->facts, g->m[1].fact), prop) : NULL;
    int cmp = compare_words(q);
    if (cmp && json_is_number(first) && json_is_number(second)) {
        double a = json_number_value(first), b = json_number_value(second);
        return cmp > 0 ? a > b : a < b;
    }
    int equal = first != NULL;
    for (int i = 1; equal && i < g->nm; i++) {
        json_t *o = json_object_get(sim_facts_props(g->facts, g->m[i].fact), prop);
        equal = o && json_equal(o, first);
        if (!equal && o && json_is_string(o) && json_is_string(first)) equal = strcasecmp(json_string_value(o), json_string_value(first)) == 0;
    }
    static const char *neg[] = {"opposite", "opposed", "different", "differ", "differs", "differing", "difference",
                                "contrasting", "contrary", "disagree", "disagreeing", "unlike", "mismatch", "mismatched", NULL};
    for (int i = 0; neg[i]; i++) if (first_mention(q, neg[i]) >= 0) return !equal;
    return equal;
}

/* A ranking question (FQL's top K by): an enum field named `best` whose labels are "1".."n", n
 * being the number of texts found (two or more), the candidates in the order they appear. The
 * answer is the position of the text with the highest value of the compared property: the numeric
 * property whose name the question mentions first, else `score`; the lowest when the question has
 * a word `least`, `lowest`, `worst` or `fewest`; ties go to the earlier text. Returns the label's
 * index, or -1 when this is not such a question or a text lacks the property. */
static long fact_best_index(Gen *g, json_t *en, const char *name)
{
    size_t n = json_array_size(en);
    if (strcmp(name, "best") != 0 || g->nm < 2 || n != (size_t)g->nm) return -1;
    for (size_t i = 0; i < n; i++) {
        json_t *l = json_array_get(en, i);
        char want[24];
        snprintf(want, sizeof want, "%zu", i + 1);
        if (!json_is_string(l) || strcmp(json_string_value(l), want) != 0) return -1;
    }
    const char *prop = "score", *k;
    long at = -1;
    json_t *v;
    for (int i = 0; i < g->nm; i++)
        json_object_foreach(sim_facts_props(g->facts, g->m[i].fact), k, v) {
            long a = json_is_number(v) ? name_mention(g->question, k) : -1;
            if (a >= 0 && (at < 0 || a < at)) { at = a; prop = k; }
        }
    int low = 0;
    static const char *const lows[] = {"least", "lowest", "worst", "fewest", NULL};
    for (int i = 0; lows[i]; i++) low |= first_mention(g->question, lows[i]) >= 0;
    long best = -1;
    double bx = 0;
    for (int i = 0; i < g->nm; i++) {
        json_t *x = json_object_get(sim_facts_props(g->facts, g->m[i].fact), prop);
        if (!json_is_number(x)) return -1;
        double d = json_number_value(x);
        if (best < 0 || (low ? d < bx : d > bx)) { best = i; bx = d; }
    }
    return best;
}

/* The value the facts give for schema s at path (a new reference), or NULL when they give none
 * (the ordinary answer is used). t is the schema's type. */
static json_t *fact_value(Gen *g, json_t *s, const char *path, const char *t)
{
    const char *dot = strrchr(path, '.');
    const char *name = dot ? dot + 1 : "";
    json_t *en = json_object_get(s, "enum");
    if (json_is_array(en) && json_array_size(en)) {
        long i = fact_best_index(g, en, name);
        if (i < 0) i = fact_enum_index(g, en, name);
        if (i < 0) return NULL;
        if (json_array_size(en) > 1 && fact_wrong(g, path)) i = (long)other_index(g, path, (size_t)i, json_array_size(en));
        return json_incref(json_array_get(en, (size_t)i));
    }
    if (strcmp(t, "boolean") == 0) {
        json_t *named = *name ? fact_named(g, name) : NULL;
        int b = g->nm == 1 && json_is_boolean(named) && !g->question_words ? json_is_true(named) : fact_boolean(g);
        if (b < 0) return NULL;
        return json_boolean(fact_wrong(g, path) ? !b : b);
    }
    if (strcmp(t, "integer") == 0 || strcmp(t, "number") == 0) {
        json_t *v = *name ? fact_named(g, name) : NULL;
        if (!json_is_number(v) && (strcasestr(name, "score") || strcasestr(name, "rating"))) v = fact_named(g, "score");
        if (!json_is_number(v)) return NULL;
        double x = json_number_value(v);
        if (fact_wrong(g, path)) {   /* one step up or down, inside the schema's bounds */
            json_t *mn = json_object_get(s, "minimum"), *mx = json_object_get(s, "maximum");
            int up = (int)(sim_hash_str(g->text, sim_hash_str(path, 23)) & 1);
            if (up && json_is_number(mx) && x + 1 > json_number_value(mx)) up = 0;
            else if (!up && json_is_number(mn) && x - 1 < json_number_value(mn)) up = 1;
            x += up ? 1 : -1;
        }
        return strcmp(t, "integer") == 0 ? json_integer((json_int_t)llround(x)) : json_real(x);
    }
    if (strcmp(t, "string") == 0 && !json_object_get(s, "format")) {
        json_t *v = *name ? fact_named(g, name) : NULL;
        char *w = v ? fact_words(v) : NULL;
        if (!w) return NULL;
        json_t *r = fact_wrong(g, path) ? NULL : json_string(w);   /* wrong: the ordinary filler */
        free(w);
        return r;
    }
    if (strcmp(t, "array") == 0) {   /* a list of labels: every property value that is a label */
        json_t *items = json_object_get(s, "items");
        json_t *ien = json_object_get(items, "enum");
        if (!json_is_array(ien) || !json_array_size(ien)) return NULL;
        json_t *arr = json_array();
        const char *k;
        json_t *v;
        json_object_foreach(sim_facts_props(g->facts, g->m[0].fact), k, v) {
            char *w = fact_words(v);
            size_t i;
            json_t *l;
            json_array_foreach(ien, i, l) {
                if (w && json_is_string(l) && strcasecmp(json_string_value(l), w) == 0) {
                    size_t j;
                    json_t *have;
                    int dup = 0;
                    json_array_foreach(arr, j, have) if (json_equal(have, l)) dup = 1;
                    if (!dup) json_array_append(arr, l);
                }
            }
            free(w);
        }
        if (json_array_size(arr) == 0) { json_decref(arr); return NULL; }
        return arr;
    }
    return NULL;
}

/* Generates a value for schema s at path (a new reference). */
static json_t *gen_value(Gen *g, json_t *s, const char *path, int depth)
{
    if (!json_is_object(s) || depth > 32) return json_null();
    json_t *ref = json_object_get(s, "$ref");
    if (json_is_string(ref)) {
        json_t *t = resolve_ref(g, json_string_value(ref));
        return t && t != s ? gen_value(g, t, path, depth + 1) : json_null();
    }
    json_t *c = json_object_get(s, "const");
    if (c) return json_incref(c);
    const char *alts[] = {"anyOf", "oneOf", "allOf"};
    for (int i = 0; i < 3; i++) {
        json_t *a = json_object_get(s, alts[i]);
        if (json_is_array(a) && json_array_size(a)) {
            size_t j;
            json_t *b;
            char tb[32];
            json_array_foreach(a, j, b) {
                if (strcmp(schema_type(b, tb, sizeof tb), "null") != 0) return gen_value(g, b, path, depth + 1);
            }
            return json_null();
        }
    }
    char tb[32];
    const char *t = schema_type(s, tb, sizeof tb);
    if (g->nm) {
        json_t *fv = fact_value(g, s, path, t);
        if (fv) return fv;
    }
    json_t *en = json_object_get(s, "enum");
    if (json_is_array(en) && json_array_size(en)) return gen_enum(g, en);
    if (strcmp(t, "object") == 0) {
        json_t *o = json_object();
        json_t *props = json_object_get(s, "properties");
        const char *k;
        json_t *v;
        json_object_foreach(props, k, v) {
            char sub[512];
            snprintf(sub, sizeof sub, "%.300s.%.200s", path, k);
            /* facts mode: a property's description is its own question (a fused request asks
             * several questions about one text, each in its property's description) */
            json_t *d = g->nm ? json_object_get(v, "description") : NULL;
            char *saved = g->question;
            int saved_words = g->question_words;
            if (json_is_string(d)) {
                g->question = strdup(json_string_value(d));
                g->question_words = 0;
                for (char *q = g->question; *q; q++) {
                    *q = (char)tolower((unsigned char)*q);
                    if (word_char((unsigned char)*q)) g->question_words = 1;
                }
            }
            json_object_set_new(o, k, gen_value(g, v, sub, depth + 1));
            if (g->question != saved) { free(g->question); g->question = saved; g->question_words = saved_words; }
        }
        return o;
    }
    if (strcmp(t, "array") == 0) return gen_array(g, s, path, depth);
    if (strcmp(t, "boolean") == 0) return json_boolean(g->alarming);
    if (strcmp(t, "integer") == 0) return gen_number(g, s, path, 1);
    if (strcmp(t, "number") == 0) return gen_number(g, s, path, 0);
    if (strcmp(t, "null") == 0) return json_null();
    return gen_string(g, s, path);
}

/* Makes v violate schema s: drops a required property of an object, or changes the type. */
static json_t *break_value(json_t *s, json_t *v)
{
    if (json_is_object(v) && json_object_size(v)) {
        json_t *req = json_object_get(s, "required");
        const char *drop = json_is_array(req) && json_array_size(req) ? json_string_value(json_array_get(req, 0)) : NULL;
        if (drop && json_object_get(v, drop)) { json_object_del(v, drop); return v; }
        json_decref(v);
        return json_string("schema violation");
    }
    int was_string = json_is_string(v);
    json_decref(v);
    return was_string ? json_integer(42) : json_string("schema violation");
}

/* Packed rows (fql's `pack:`): a schema {answers: [{index, ...}]} and a text of "### input K"
 * sections. Each section is answered as if it were asked alone (so packed and single answers are
 * identical), with its index. NULL when the request is not of that shape. */
static json_t *answer_packed(json_t *schema, const char *text, const char *model, int broken)
{
    json_t *arr = json_object_get(json_object_get(schema, "properties"), "answers");
    json_t *item = json_object_get(arr, "items");
    if (!json_is_object(item) || !json_object_get(json_object_get(item, "properties"), "index")) return NULL;
    if (strncmp(text, "### input ", 10) != 0) return NULL;
    json_t *single = json_deep_copy(item);
    json_object_del(json_object_get(single, "properties"), "index");
    json_t *req = json_object_get(single, "required");
    for (size_t i = 0; json_is_array(req) && i < json_array_size(req); i++)
        if (!strcmp(json_string_value(json_array_get(req, i)) ? json_string_value(json_array_get(req, i)) : "", "index")) { json_array_remove(req, i); break; }
    json_t *answers = json_array();
    const char *p = text;
    while (!strncmp(p, "### input ", 10)) {
        long k = strtol(p + 10, NULL, 10);
        const char *body = strchr(p, '\n');
        if (!body) break;
        body++;
        const char *next = strstr(body, "\n\n### input ");
        size_t len = next ? (size_t)(next - body) : strlen(body);
        while (!next && len > 0 && body[len - 1] == '\n') len--;
        char *t = strndup(body, len);
        json_t *v = sim_answer_structured(single, t, model, broken);
        free(t);
        if (json_is_object(v)) json_object_set_new(v, "index", json_integer(k));
        json_array_append_new(answers, v);
        if (!next) break;
        p = next + 2;
    }
    json_decref(single);
    json_t *out = json_object();
    json_object_set_new(out, "answers", answers);
    return out;
}

/* ---- a join's planning question (FQL's join decomposition, issue 15) ----
 * A structured request whose schema has the properties "decomposable", "property" and "relation"
 * asks whether a join condition (the user text) compares one property of each side. Facts mode
 * answers from the facts' properties: the property the condition names first (or whose value it
 * mentions first), its kind ("number" when every known value is a number, else "label" with its
 * distinct string values in the file's order), and the relation its words say (opposite,
 * different, ... -> "not equal"; higher, more, ... -> "greater"; lower, less, ... -> "less"; else
 * "equal"). A boolean property, no property named, or no facts: not decomposable. */
static int is_join_plan(json_t *schema)
{
    json_t *props = json_object_get(schema, "properties");
    return json_is_object(props) && json_object_get(props, "decomposable") && json_object_get(props, "property")
           && json_object_get(props, "relation");
}

static json_t *join_plan(const SimFacts *f, const char *lower)
{
    json_t *out = json_pack("{s:b, s:s, s:s, s:[], s:s}", "decomposable", 0, "property", "", "kind", "label", "labels", "relation", "equal");
    const char *prop = NULL, *k;
    json_t *v;
    long best = -1;
    int n = sim_facts_count(f);
    for (int i = 0; i < n; i++)
        json_object_foreach(sim_facts_props(f, i), k, v) {
            long at = name_mention(lower, k);
            if (at >= 0 && (best < 0 || at < best)) { best = at; prop = k; }
        }
    for (int i = 0; !prop && i < n; i++)
        json_object_foreach(sim_facts_props(f, i), k, v) {
            char *w = fact_words(v);
            long at = w && *w ? first_mention(lower, w) : -1;
            free(w);
            if (at >= 0 && (best < 0 || at < best)) { best = at; prop = k; }
        }
    if (!prop) return out;
    json_t *labels = json_array();
    int numbers = 1, any = 0;
    for (int i = 0; i < n; i++) {
        json_t *x = json_object_get(sim_facts_props(f, i), prop);
        if (!x) continue;
        if (json_is_boolean(x)) { json_decref(labels); return out; }
        any = 1;
        if (!json_is_number(x)) numbers = 0;
        if (!json_is_string(x)) continue;
        size_t j;
        json_t *l;
        int seen = 0;
        json_array_foreach(labels, j, l) if (strcasecmp(json_string_value(l), json_string_value(x)) == 0) seen = 1;
        if (!seen) json_array_append(labels, x);
    }
    if (!any) { json_decref(labels); return out; }
    static const char *neg[] = {"opposite", "opposed", "different", "differ", "differs", "differing", "difference",
                                "contrasting", "contrary", "disagree", "disagreeing", "unlike", "mismatch", "mismatched", NULL};
    const char *rel = "equal";
    for (int i = 0; neg[i]; i++) if (first_mention(lower, neg[i]) >= 0) rel = "not equal";
    int cmp = compare_words(lower);
    if (cmp) rel = cmp > 0 ? "greater" : "less";
    json_object_set_new(out, "decomposable", json_true());
    json_object_set_new(out, "property", json_string(prop));
    json_object_set_new(out, "kind", json_string(numbers ? "number" : "label"));
    json_object_set_new(out, "labels", numbers ? json_array() : labels);
    if (numbers) json_decref(labels);
    json_object_set_new(out, "relation", json_string(rel));
    return out;
}

/* Returns a value that matches schema (borrowed) given the request's user text and model (facts
 * mode: the fact texts found in the text decide the values they can, model's error rate makes some
 * wrong); with broken set, one that violates it. New reference. */
json_t *sim_answer_structured(json_t *schema, const char *text, const char *model, int broken)
{
    json_t *packed = text ? answer_packed(schema, text, model, broken) : NULL;
    if (packed) return packed;
    Gen g;
    memset(&g, 0, sizeof g);
    g.root = schema;
    g.text = text ? text : "";
    g.lower = strdup(g.text);
    for (char *q = g.lower; *q; q++) *q = (char)tolower((unsigned char)*q);
    words_split(g.text, &g.words);
    g.alarming = text_alarming(&g.words);
    SimFacts *facts = sim_facts_get();
    if (facts) {
        g.nm = sim_facts_find(facts, g.text, g.m, MAX_MATCHES);
        g.facts = facts;
        g.model = model;
        g.rate = no_errors ? 0 : sim_facts_error_rate(facts, model);
        g.question = strdup(g.lower);
        for (int i = 0; i < g.nm; i++) memset(g.question + g.m[i].pos, ' ', g.m[i].len);
        for (const char *q = g.question; *q; q++) if (word_char((unsigned char)*q)) { g.question_words = 1; break; }
    }
    json_t *v = is_join_plan(schema) ? join_plan(facts, g.lower) : gen_value(&g, schema, "$", 0);
    if (broken) v = break_value(schema, v);
    words_free(&g.words);
    free(g.lower);
    free(g.question);
    sim_facts_put(facts);
    return v;
}

/* ---- embeddings ---- */

/* Fills v[0..dim) with the unit vector of the text's hashed word features. */
void sim_embedding_vec(const char *text, int dim, double *v)
{
    memset(v, 0, (size_t)dim * sizeof *v);
    Words ws = {0};
    words_split(text, &ws);
    for (int i = 0; i < ws.n; i++) {
        uint64_t h = sim_hash_str(ws.w[i], 11);
        v[h % (uint64_t)dim] += (h >> 63) ? 1.0 : -1.0;
    }
    if (ws.n == 0) v[sim_hash_str(text, 13) % (uint64_t)dim] = 1.0;
    double norm = 0;
    for (int i = 0; i < dim; i++) norm += v[i] * v[i];
    if (norm == 0) { v[0] = 1.0; norm = 1.0; }   /* every word cancelled out */
    norm = sqrt(norm);
    for (int i = 0; i < dim; i++) v[i] /= norm;
    words_free(&ws);
}

/* Returns a JSON array of dim numbers: the unit vector of the text's hashed word features. */
json_t *sim_embedding(const char *text, int dim)
{
    if (dim < 1) dim = 1;
    double *v = malloc((size_t)dim * sizeof *v);
    if (!v) abort();
    sim_embedding_vec(text, dim, v);
    json_t *arr = json_array();
    for (int i = 0; i < dim; i++) json_array_append_new(arr, json_real(v[i]));
    free(v);
    return arr;
}

/* Returns the embedding as OpenAI's encoding_format=base64 sends it: little-endian float32s in
 * base64 (a new JSON string). */
json_t *sim_embedding_b64(const char *text, int dim)
{
    if (dim < 1) dim = 1;
    double *v = malloc((size_t)dim * sizeof *v);
    unsigned char *raw = malloc((size_t)dim * 4);
    char *out = malloc(((size_t)dim * 4 + 2) / 3 * 4 + 1);
    if (!v || !raw || !out) abort();
    sim_embedding_vec(text, dim, v);
    for (int i = 0; i < dim; i++) {
        float f = (float)v[i];
        uint32_t u;
        memcpy(&u, &f, 4);
        raw[4 * i] = (unsigned char)u; raw[4 * i + 1] = (unsigned char)(u >> 8);
        raw[4 * i + 2] = (unsigned char)(u >> 16); raw[4 * i + 3] = (unsigned char)(u >> 24);
    }
    EVP_EncodeBlock((unsigned char *)out, raw, dim * 4);
    json_t *s = json_string(out);
    free(v);
    free(raw);
    free(out);
    return s;
}

/* ---- token log probabilities (logprobs / responseLogprobs) ----
 *
 * The answer text is cut into tokens: the JSON punctuation and member names between values (log
 * probability 0: a schema-constrained decoder has no choice there), and each value (a string's
 * words, a literal whole). A value's first token carries the answer's probability p; the others
 * 0.999 each. p is drawn from a hash of model, request text and the value's path, as the error draw
 * is: a value that differs from the error-free answer (facts mode: a wrong one) draws p = 0.30 +
 * 0.55u (mean 0.575), any other p = 1 - 0.45u^2 (mean 0.85, at least 0.55), so wrong answers are
 * less confident on average, with overlap. */

typedef struct TokGen {
    json_t *toks; SimBuf pend; const char *text, *model;
    char **sections; int nsections;   /* packed requests: each "### input K" section's text, in order */
} TokGen;

/* The sections of a packed request text, in order, as answer_packed reads them (none when the
 * text is not packed). */
static void split_sections(TokGen *tg, const char *text)
{
    const char *p = text;
    while (p && !strncmp(p, "### input ", 10)) {
        const char *body = strchr(p, '\n');
        if (!body) break;
        body++;
        const char *next = strstr(body, "\n\n### input ");
        size_t len = next ? (size_t)(next - body) : strlen(body);
        while (!next && len > 0 && body[len - 1] == '\n') len--;
        tg->sections = realloc(tg->sections, (size_t)(tg->nsections + 1) * sizeof *tg->sections);
        tg->sections[tg->nsections++] = strndup(body, len);
        p = next ? next + 2 : NULL;
    }
}

static void tok_emit(TokGen *tg, const char *s, size_t n, double lp)
{
    if (!n) return;
    char *t = strndup(s, n);
    json_t *js = json_string(t);
    free(t);
    if (!js) js = json_string("");
    json_array_append_new(tg->toks, json_pack("{s:o,s:f}", "token", js, "logprob", lp));
}

static void tok_flush(TokGen *tg)
{
    tok_emit(tg, tg->pend.data ? tg->pend.data : "", tg->pend.len, 0);
    tg->pend.len = 0;
}

static void tok_punct(TokGen *tg, const char *s) { sim_buf_puts(&tg->pend, s); }

static double value_prob(TokGen *tg, const char *text, const char *path, int wrong)
{
    uint64_t h = sim_hash_str(text, sim_hash_str(path, sim_hash_str(tg->model ? tg->model : "", 29)));
    double u = (double)(h >> 11) / 9007199254740992.0;
    return wrong ? 0.30 + 0.55 * u : 1 - 0.45 * u * u;
}

static void tok_value(TokGen *tg, json_t *v, json_t *truth, const char *path, int depth, const char *text)
{
    char sub[512];
    if (json_is_object(v) && depth < 32) {
        tok_punct(tg, "{");
        const char *k;
        json_t *x;
        int first = 1;
        json_object_foreach(v, k, x) {
            if (!first) tok_punct(tg, ",");
            first = 0;
            json_t *kj = json_string(k);
            char *ks = kj ? json_dumps(kj, JSON_ENCODE_ANY) : NULL;
            json_decref(kj);
            tok_punct(tg, ks ? ks : "\"\"");
            free(ks);
            tok_punct(tg, ":");
            snprintf(sub, sizeof sub, "%s.%s", path, k);
            tok_value(tg, x, json_object_get(truth, k), sub, depth + 1, text);
        }
        tok_punct(tg, "}");
        return;
    }
    if (json_is_array(v) && depth < 32) {
        tok_punct(tg, "[");
        size_t i;
        json_t *x;
        json_array_foreach(v, i, x) {
            if (i) tok_punct(tg, ",");
            snprintf(sub, sizeof sub, "%s[%zu]", path, i);
            /* a packed answer's element: drawn as the section's own answer would be */
            int packed = !strcmp(path, "$.answers") && (int)i < tg->nsections;
            tok_value(tg, x, json_array_get(truth, i), packed ? "$" : sub, depth + 1, packed ? tg->sections[i] : text);
        }
        tok_punct(tg, "]");
        return;
    }
    char *lit = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY | JSON_REAL_PRECISION(10));
    if (!lit) return;
    int wrong = truth != NULL && !json_equal(v, truth);
    double lp = log(value_prob(tg, text, path, wrong));
    const char *p = lit, *end = lit + strlen(lit);
    if (json_is_string(v)) { tok_punct(tg, "\""); p++; end--; }
    tok_flush(tg);
    int firsttok = 1;
    while (p < end) {   /* words: a token starts at a space */
        const char *q = p + 1;
        while (q < end && *q != ' ') q++;
        tok_emit(tg, p, (size_t)(q - p), firsttok ? lp : log(0.999));
        firsttok = 0;
        p = q;
    }
    if (json_is_string(v)) tok_punct(tg, "\"");
    free(lit);
}

json_t *sim_answer_tokens(json_t *schema, const char *text, const char *model, const char *content)
{
    json_t *toks = json_array();
    json_t *v = content ? json_loads(content, JSON_DECODE_ANY, NULL) : NULL;
    TokGen tg = { toks, {0}, text ? text : "", model, NULL, 0 };
    if (text) split_sections(&tg, text);
    if (v && schema) {
        no_errors = 1;
        json_t *truth = sim_answer_structured(schema, text, model, 0);
        no_errors = 0;
        tok_value(&tg, v, truth, "$", 0, tg.text);
        tok_flush(&tg);
        json_decref(truth);
        /* the tokens must spell the content exactly (a cut answer does not): else plain pieces */
        SimBuf all = {0};
        size_t i;
        json_t *t;
        json_array_foreach(toks, i, t) sim_buf_puts(&all, json_string_value(json_object_get(t, "token")));
        int same = all.len == strlen(content) && (!all.len || !memcmp(all.data, content, all.len));
        sim_buf_free(&all);
        if (!same) json_array_clear(toks);
    }
    json_decref(v);
    sim_buf_free(&tg.pend);
    for (int i = 0; i < tg.nsections; i++) free(tg.sections[i]);
    free(tg.sections);
    if (json_array_size(toks) == 0 && content) {   /* text answers: 4-byte pieces (UTF-8 kept whole), p 0.9 */
        size_t n = strlen(content), at = 0;
        while (at < n) {
            size_t k = at + 4 < n ? at + 4 : n;
            while (k < n && ((unsigned char)content[k] & 0xC0) == 0x80) k++;
            tok_emit(&tg, content + at, k - at, log(0.9));
            at = k;
        }
    }
    return toks;
}
