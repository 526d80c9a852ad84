/*
 * sim_openrouter.c - OpenRouter's provider routing in fql-sim. Every model is served by the same
 * five simulated upstreams, each cheapest, fastest to first token or fastest in throughput:
 *
 *   name       price factor  latency  throughput
 *   OpenAI     1.00          450 ms    70 tok/s
 *   Azure      1.10          320 ms    90 tok/s
 *   Together   0.80          600 ms   200 tok/s   <- sort=throughput
 *   DeepInfra  0.60          900 ms    60 tok/s   <- sort=price (and the default)
 *   Fireworks  0.90          250 ms   120 tok/s   <- sort=latency
 *
 * The routing object: only/ignore filter, order picks the first listed upstream that is left
 * (then, unless allow_fallbacks is false, the sort decides), sort picks the best by its measure.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "sim.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

typedef struct Upstream { const char *name, *slug; double price, latency_ms, tps; } Upstream;

static const Upstream ups[] = {
    {"OpenAI", "openai", 1.00, 450, 70},
    {"Azure", "azure", 1.10, 320, 90},
    {"Together", "together", 0.80, 600, 200},
    {"DeepInfra", "deepinfra", 0.60, 900, 60},
    {"Fireworks", "fireworks", 0.90, 250, 120},
};
#define N_UPS ((int)(sizeof ups / sizeof ups[0]))

/* 1 when string s names upstream u (name or slug, any case). */
static int names(const Upstream *u, const char *s)
{
    return s && (strcasecmp(s, u->name) == 0 || strcasecmp(s, u->slug) == 0);
}

/* 1 when array a (borrowed) holds a string naming u. */
static int listed(json_t *a, const Upstream *u)
{
    size_t i;
    json_t *v;
    json_array_foreach(a, i, v) if (names(u, json_string_value(v))) return 1;
    return 0;
}

/* Picks the upstream for the routing object prov (borrowed, may be NULL). Returns its name
 * (static) with its price factor in *price_factor, or NULL with err filled. */
const char *sim_openrouter_route(json_t *prov, double *price_factor, char *err, size_t errsz)
{
    int ok[N_UPS];
    json_t *only = json_object_get(prov, "only"), *ignore = json_object_get(prov, "ignore");
    json_t *order = json_object_get(prov, "order");
    json_t *sortj = json_object_get(prov, "sort");
    const char *sort = json_is_string(sortj) ? json_string_value(sortj) : json_string_value(json_object_get(sortj, "by"));
    int fallbacks = !json_is_false(json_object_get(prov, "allow_fallbacks"));
    int left = 0;
    for (int i = 0; i < N_UPS; i++) {
        ok[i] = (!json_is_array(only) || listed(only, &ups[i])) && !(json_is_array(ignore) && listed(ignore, &ups[i]));
        left += ok[i];
    }
    if (!left) {
        snprintf(err, errsz, "No allowed providers are available for the selected model.");
        return NULL;
    }
    if (sort && strcmp(sort, "price") != 0 && strcmp(sort, "latency") != 0 && strcmp(sort, "throughput") != 0) {
        snprintf(err, errsz, "Invalid provider.sort '%.40s': expected price, latency or throughput.", sort);
        return NULL;
    }
    const Upstream *pick = NULL;
    if (json_is_array(order)) {
        size_t i;
        json_t *v;
        json_array_foreach(order, i, v) {
            for (int k = 0; k < N_UPS && !pick; k++)
                if (ok[k] && names(&ups[k], json_string_value(v))) pick = &ups[k];
            if (pick) break;
        }
        if (!pick && !fallbacks) {
            snprintf(err, errsz, "No allowed providers are available for the selected model.");
            return NULL;
        }
    }
    if (!pick) {
        for (int k = 0; k < N_UPS; k++) {
            if (!ok[k]) continue;
            if (!pick) { pick = &ups[k]; continue; }
            if (sort && strcmp(sort, "latency") == 0 ? ups[k].latency_ms < pick->latency_ms
                : sort && strcmp(sort, "throughput") == 0 ? ups[k].tps > pick->tps
                : ups[k].price < pick->price)
                pick = &ups[k];
        }
    }
    *price_factor = pick->price;
    return pick->name;
}
