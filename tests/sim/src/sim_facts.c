/*
 * sim_facts.c - facts mode of fql-sim: a table of known texts and their properties (labels and
 * numbers) that structured answers follow, so that a row's label, a yes/no on a property, a pair's
 * same/different and a score agree with each other (tests/sim/README.md, "Facts mode").
 *
 * The facts document ({"error_rate": {MODEL: rate, "default": rate}, "texts": {TEXT: {PROP:
 * VALUE}}}) comes from --facts FILE or the configuration's "facts" key (a file name or the
 * document itself). The loaded table is shared by every worker thread and replaced as a whole when
 * the configuration changes: readers hold a reference (sim_facts_get / sim_facts_put), so a table
 * is freed only when the last request using it is done.
 *
 * Lookup: every fact text found as an exact substring of a request's user text. Texts are indexed
 * by a hash of their first FACT_KEY bytes, so a lookup is one hash probe per byte of the prompt
 * (shorter texts are searched one by one).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "sim.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FACT_KEY 8

struct SimFacts {
    int refs;                   /* under facts_mu */
    json_t *doc;                /* the parsed document: texts' property objects are borrowed from it */
    int n;
    const char **text;          /* borrowed keys of doc.texts */
    size_t *len;
    json_t **props;             /* borrowed */
    int *next;                  /* hash chains of texts at least FACT_KEY bytes long */
    int *bucket;
    size_t nbucket;             /* a power of two */
    int *shortf;                /* texts shorter than FACT_KEY */
    int nshort;
    json_t *rates;              /* borrowed error_rate object, or NULL */
};

static pthread_mutex_t facts_mu = PTHREAD_MUTEX_INITIALIZER;
static SimFacts *facts_cur;     /* NULL: facts mode off */
static json_t *facts_spec;      /* the "facts" value it was loaded from, to skip reloading it */

/* Frees f (the caller held the last reference). */
static void facts_free(SimFacts *f)
{
    if (!f) return;
    free(f->text);
    free(f->len);
    free(f->props);
    free(f->next);
    free(f->bucket);
    free(f->shortf);
    json_decref(f->doc);
    free(f);
}

/* Checks and indexes a facts document (consumed). Returns the table, or NULL with err filled
 * (where names the file or "facts"). */
static SimFacts *facts_build(json_t *doc, const char *where, char *err, size_t errsz)
{
    const char *k;
    json_t *v;
    if (!json_is_object(doc)) { snprintf(err, errsz, "%s: expected an object {\"error_rate\", \"texts\"}", where); json_decref(doc); return NULL; }
    json_object_foreach(doc, k, v) {
        if (strcmp(k, "error_rate") && strcmp(k, "texts")) {
            snprintf(err, errsz, "%s: unknown key '%s' (expected \"error_rate\" and \"texts\")", where, k);
            json_decref(doc);
            return NULL;
        }
    }
    json_t *rates = json_object_get(doc, "error_rate");
    if (rates && !json_is_null(rates)) {
        if (!json_is_object(rates)) { snprintf(err, errsz, "%s.error_rate: expected {MODEL: rate, ...}", where); json_decref(doc); return NULL; }
        json_object_foreach(rates, k, v) {
            if (!json_is_number(v) || json_number_value(v) < 0 || json_number_value(v) > 1) {
                snprintf(err, errsz, "%s.error_rate.%.100s: expected a rate in [0,1]", where, k);
                json_decref(doc);
                return NULL;
            }
        }
    } else rates = NULL;
    json_t *texts = json_object_get(doc, "texts");
    if (!json_is_object(texts)) { snprintf(err, errsz, "%s.texts: expected {TEXT: {PROPERTY: VALUE, ...}, ...}", where); json_decref(doc); return NULL; }
    json_object_foreach(texts, k, v) {
        const char *pk;
        json_t *pv;
        if (!*k) { snprintf(err, errsz, "%s.texts: a text is empty", where); json_decref(doc); return NULL; }
        if (!json_is_object(v)) { snprintf(err, errsz, "%s.texts[\"%.60s\"]: expected an object of properties", where, k); json_decref(doc); return NULL; }
        json_object_foreach(v, pk, pv) {
            if (!json_is_string(pv) && !json_is_number(pv) && !json_is_boolean(pv)) {
                snprintf(err, errsz, "%s.texts[\"%.60s\"].%.60s: expected a string, number or boolean", where, k, pk);
                json_decref(doc);
                return NULL;
            }
        }
    }
    SimFacts *f = calloc(1, sizeof *f);
    if (!f) abort();
    f->doc = doc;
    f->rates = rates;
    f->n = (int)json_object_size(texts);
    size_t n = (size_t)f->n + 1;
    f->text = calloc(n, sizeof *f->text);
    f->len = calloc(n, sizeof *f->len);
    f->props = calloc(n, sizeof *f->props);
    f->next = calloc(n, sizeof *f->next);
    f->shortf = calloc(n, sizeof *f->shortf);
    f->nbucket = 16;
    while (f->nbucket < 2 * n) f->nbucket *= 2;
    f->bucket = malloc(f->nbucket * sizeof *f->bucket);
    if (!f->text || !f->len || !f->props || !f->next || !f->shortf || !f->bucket) abort();
    for (size_t b = 0; b < f->nbucket; b++) f->bucket[b] = -1;
    int i = 0;
    json_object_foreach(texts, k, v) {
        f->text[i] = k;
        f->len[i] = strlen(k);
        f->props[i] = v;
        if (f->len[i] < FACT_KEY) f->shortf[f->nshort++] = i;
        else {
            size_t b = sim_hash(k, FACT_KEY, 0) & (f->nbucket - 1);
            f->next[i] = f->bucket[b];
            f->bucket[b] = i;
        }
        i++;
    }
    return f;
}

/* Sets the facts from the configuration's "facts" value (borrowed): null or absent switches facts
 * mode off, a string names a facts file, an object is the facts document itself. An unchanged
 * value keeps the loaded table. Returns 0, or -1 with err filled and the facts unchanged. */
int sim_facts_set(json_t *spec, char *err, size_t errsz)
{
    pthread_mutex_lock(&facts_mu);
    int same = (facts_spec == NULL && (spec == NULL || json_is_null(spec))) ||
               (facts_spec && spec && json_equal(facts_spec, spec) && !json_is_string(spec));
    pthread_mutex_unlock(&facts_mu);
    if (same) return 0;
    SimFacts *f = NULL;
    if (spec && json_is_string(spec)) {
        json_error_t je;
        json_t *doc = json_load_file(json_string_value(spec), 0, &je);
        if (!doc) { snprintf(err, errsz, "facts: %.200s:%d: %.150s", json_string_value(spec), je.line, je.text); return -1; }
        f = facts_build(doc, json_string_value(spec), err, errsz);
        if (!f) return -1;
    } else if (spec && json_is_object(spec)) {
        f = facts_build(json_deep_copy(spec), "facts", err, errsz);
        if (!f) return -1;
    } else if (spec && !json_is_null(spec)) {
        snprintf(err, errsz, "facts: expected a file name, a facts object or null");
        return -1;
    }
    if (f) f->refs = 1;
    pthread_mutex_lock(&facts_mu);
    SimFacts *old = facts_cur;
    facts_cur = f;
    json_decref(facts_spec);
    facts_spec = spec && !json_is_null(spec) ? json_deep_copy(spec) : NULL;
    int last = old && --old->refs == 0;
    pthread_mutex_unlock(&facts_mu);
    if (last) facts_free(old);
    return 0;
}

/* Returns a reference to the current facts (release with sim_facts_put), or NULL when off. */
SimFacts *sim_facts_get(void)
{
    pthread_mutex_lock(&facts_mu);
    SimFacts *f = facts_cur;
    if (f) f->refs++;
    pthread_mutex_unlock(&facts_mu);
    return f;
}

/* Releases a reference from sim_facts_get (NULL-safe). */
void sim_facts_put(SimFacts *f)
{
    if (!f) return;
    pthread_mutex_lock(&facts_mu);
    int last = --f->refs == 0;
    pthread_mutex_unlock(&facts_mu);
    if (last) facts_free(f);
}

/* Drops the facts at exit. */
void sim_facts_free(void)
{
    json_t *none = json_null();
    char err[8];
    sim_facts_set(none, err, sizeof err);
    json_decref(none);
}

/* Orders matches by position, longer first at the same position. */
static int match_cmp(const void *a, const void *b)
{
    const SimFactMatch *x = a, *y = b;
    if (x->pos != y->pos) return x->pos < y->pos ? -1 : 1;
    return x->len > y->len ? -1 : x->len < y->len ? 1 : 0;
}

/* Finds the fact texts that occur in text: every occurrence, left to right, not overlapping (at a
 * position where several texts start the longest wins, and a text inside an earlier match is not
 * counted). Fills at most max matches; returns how many. */
int sim_facts_find(const SimFacts *f, const char *text, SimFactMatch *out, int max)
{
    if (!f || !text || max <= 0) return 0;
    size_t tl = strlen(text);
    int cap = 64, n = 0;
    SimFactMatch *all = malloc((size_t)cap * sizeof *all);
    if (!all) abort();
#define ADD_MATCH(I, P) do { \
        if (n == cap) { cap *= 2; all = realloc(all, (size_t)cap * sizeof *all); if (!all) abort(); } \
        all[n].fact = (I); all[n].pos = (P); all[n].len = f->len[I]; n++; } while (0)
    for (size_t p = 0; p + FACT_KEY <= tl; p++) {
        size_t b = sim_hash(text + p, FACT_KEY, 0) & (f->nbucket - 1);
        for (int i = f->bucket[b]; i >= 0; i = f->next[i])
            if (f->len[i] <= tl - p && memcmp(text + p, f->text[i], f->len[i]) == 0) ADD_MATCH(i, p);
        if (n > 4096) break;   /* a prompt of thousands of facts: enough */
    }
    for (int s = 0; s < f->nshort && n <= 4096; s++) {
        int i = f->shortf[s];
        for (const char *q = strstr(text, f->text[i]); q; q = strstr(q + f->len[i], f->text[i])) ADD_MATCH(i, (size_t)(q - text));
    }
#undef ADD_MATCH
    qsort(all, (size_t)n, sizeof *all, match_cmp);
    int k = 0;
    size_t end = 0;
    for (int i = 0; i < n && k < max; i++) {
        if (k && all[i].pos < end) continue;
        out[k++] = all[i];
        end = all[i].pos + all[i].len;
    }
    free(all);
    return k;
}

/* The properties of fact i (borrowed) and its text (borrowed). */
json_t *sim_facts_props(const SimFacts *f, int i) { return f->props[i]; }
int sim_facts_count(const SimFacts *f) { return f ? f->n : 0; }
const char *sim_facts_text(const SimFacts *f, int i) { return f->text[i]; }

/* The error rate of model: its own entry of error_rate (a "models/" prefix ignored), else
 * "default", else 0. */
double sim_facts_error_rate(const SimFacts *f, const char *model)
{
    if (!f || !f->rates) return 0;
    if (model && strncmp(model, "models/", 7) == 0) model += 7;
    json_t *r = model ? json_object_get(f->rates, model) : NULL;
    if (!json_is_number(r)) r = json_object_get(f->rates, "default");
    return json_is_number(r) ? json_number_value(r) : 0;
}
