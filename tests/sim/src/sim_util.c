/*
 * sim_util.c - small helpers of fql-sim: buffers, responses, hashing, token counting, time formats,
 * base64url, urlencoded forms, ids and key fingerprints.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "sim.h"

#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <openssl/sha.h>

/* Returns the provider's name as it appears in logs and statistics (static string). */
const char *sim_provider_name(SimProvider p)
{
    switch (p) {
    case SIM_OPENAI: return "openai";
    case SIM_ANTHROPIC: return "anthropic";
    case SIM_GEMINI: return "gemini";
    case SIM_VERTEX: return "vertex";
    case SIM_OPENROUTER: return "openrouter";
    case SIM_COHERE: return "cohere";
    default: return "sim";
    }
}

static const char *fault_names[SIM_FAULT_N] = {
    "500", "502", "503", "529", "reset", "hang", "truncated", "bad_schema", "refusal", "429",
    "429_bare", "redirect", "huge",
};

/* Returns the configuration name of a fault (static string). */
const char *sim_fault_name(SimFault f)
{
    return (f >= 0 && f < SIM_FAULT_N) ? fault_names[f] : "none";
}

/* Returns the fault named s, or SIM_FAULT_NONE. */
SimFault sim_fault_from_name(const char *s)
{
    if (!s) return SIM_FAULT_NONE;
    for (int i = 0; i < SIM_FAULT_N; i++)
        if (strcmp(s, fault_names[i]) == 0) return (SimFault)i;
    return SIM_FAULT_NONE;
}

/* ---- buffers ---- */

/* Appends n bytes to b, keeping a NUL after the data; aborts on out-of-memory. */
void sim_buf_add(SimBuf *b, const void *p, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1) cap *= 2;
        char *d = realloc(b->data, cap);
        if (!d) { fputs("fql-sim: out of memory\n", stderr); abort(); }
        b->data = d;
        b->cap = cap;
    }
    if (n) memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = 0;
}

/* Appends a C string to b. */
void sim_buf_puts(SimBuf *b, const char *s)
{
    sim_buf_add(b, s, strlen(s));
}

/* Appends formatted text to b. */
void sim_buf_printf(SimBuf *b, const char *fmt, ...)
{
    char tmp[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    if ((size_t)n < sizeof tmp) { sim_buf_add(b, tmp, (size_t)n); return; }
    char *big = malloc((size_t)n + 1);
    if (!big) abort();
    va_start(ap, fmt);
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    va_end(ap);
    sim_buf_add(b, big, (size_t)n);
    free(big);
}

/* Frees b's storage (NULL-safe); b is left empty. */
void sim_buf_free(SimBuf *b)
{
    if (!b) return;
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

/* ---- responses ---- */

/* Adds a header to r; name is copied, value formatted. Extra headers past the limit are dropped. */
void sim_resp_header(SimResp *r, const char *name, const char *fmt, ...)
{
    if (r->nhdr >= SIM_MAX_HEADERS) return;
    char tmp[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    r->hname[r->nhdr] = strdup(name);
    r->hvalue[r->nhdr] = strdup(tmp);
    r->nhdr++;
}

/* Sets r's status and body to the compact serialisation of body, which is consumed. */
void sim_resp_json(SimResp *r, int status, json_t *body)
{
    free(r->body);
    r->body = json_dumps(body, SIM_JSON_FLAGS);
    r->len = r->body ? strlen(r->body) : 0;
    r->status = status;
    r->ctype = "application/json";
    json_decref(body);
}

/* Sets r's status and body to a copy of the given bytes. */
void sim_resp_raw(SimResp *r, int status, const char *ctype, const char *body, size_t len)
{
    free(r->body);
    r->body = malloc(len + 1);
    if (!r->body) abort();
    memcpy(r->body, body, len);
    r->body[len] = 0;
    r->len = len;
    r->status = status;
    r->ctype = ctype;
}

/* Frees everything r owns (NULL-safe) and zeroes it. */
void sim_resp_clear(SimResp *r)
{
    if (!r) return;
    free(r->body);
    for (int i = 0; i < r->nhdr; i++) { free(r->hname[i]); free(r->hvalue[i]); }
    memset(r, 0, sizeof *r);
}

/* Cuts the body of r to about half its length: JSON that does not parse. */
void sim_truncate_body(SimResp *r)
{
    if (r->len > 2) {
        r->len = r->len / 2;
        r->body[r->len] = 0;
    }
}

/* ---- hashing ---- */

/* A 64-bit finaliser (splitmix64); returns the mixed value. */
uint64_t sim_mix(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

/* FNV-1a over n bytes, seeded and finalised; stable across runs and machines. */
uint64_t sim_hash(const void *p, size_t n, uint64_t seed)
{
    const unsigned char *s = p;
    uint64_t h = 0xcbf29ce484222325ULL ^ sim_mix(seed);
    for (size_t i = 0; i < n; i++) { h ^= s[i]; h *= 0x100000001b3ULL; }
    return sim_mix(h);
}

/* sim_hash of a C string (NULL hashes as ""). */
uint64_t sim_hash_str(const char *s, uint64_t seed)
{
    return sim_hash(s ? s : "", s ? strlen(s) : 0, seed);
}

/* Token estimate of a text: ceil(bytes / 4). */
long sim_tokens(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    return (long)((n + 3) / 4);
}

/* ---- time ---- */

/* Seconds on the monotonic clock. */
double sim_now_mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Seconds since the Unix epoch. */
double sim_now_real(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Formats s seconds as a Go duration the way OpenAI's x-ratelimit-reset-* do: "12ms", "1s",
 * "1.5s", "6m0s", "1h2m3s". Returns a malloc'd string. */
char *sim_go_duration(double s)
{
    char out[64];
    if (s < 0) s = 0;
    if (s < 1.0) {
        long ms = (long)ceil(s * 1000.0);
        snprintf(out, sizeof out, "%ldms", ms);
    } else if (s < 60.0) {
        double r = ceil(s * 1000.0) / 1000.0;
        snprintf(out, sizeof out, "%.3f", r);
        char *e = out + strlen(out) - 1;   /* trim zeros: 1.500 -> 1.5, 2.000 -> 2 */
        while (*e == '0') *e-- = 0;
        if (*e == '.') *e = 0;
        strcat(out, "s");
    } else {
        long t = (long)ceil(s);
        long h = t / 3600, m = (t % 3600) / 60, sec = t % 60;
        if (h) snprintf(out, sizeof out, "%ldh%ldm%lds", h, m, sec);
        else snprintf(out, sizeof out, "%ldm%lds", m, sec);
    }
    return strdup(out);
}

/* Formats an epoch time as RFC 3339 UTC with whole seconds. Returns a malloc'd string. */
char *sim_rfc3339(double epoch)
{
    time_t t = (time_t)ceil(epoch);
    struct tm tm;
    gmtime_r(&t, &tm);
    char out[40];
    strftime(out, sizeof out, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return strdup(out);
}

/* Formats an epoch time as RFC 3339 UTC with milliseconds. Returns a malloc'd string. */
char *sim_rfc3339_ms(double epoch)
{
    time_t t = (time_t)floor(epoch);
    int ms = (int)((epoch - floor(epoch)) * 1000.0);
    if (ms > 999) ms = 999;
    struct tm tm;
    gmtime_r(&t, &tm);
    char out[80], base[40];
    strftime(base, sizeof base, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out, sizeof out, "%s.%03dZ", base, ms);
    return strdup(out);
}

/* Formats seconds the way google.rpc.RetryInfo's retryDelay does: "47s", "1.5s". Malloc'd. */
char *sim_seconds_str(double s)
{
    char out[48];
    if (s < 0) s = 0;
    snprintf(out, sizeof out, "%.3f", ceil(s * 1000.0) / 1000.0);
    char *e = out + strlen(out) - 1;
    while (*e == '0') *e-- = 0;
    if (*e == '.') *e = 0;
    strcat(out, "s");
    return strdup(out);
}

/* ---- base64url ---- */

/* The value of a base64 or base64url digit, or -1. */
static int b64val(int c)
{
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '-' || c == '+') return 62;
    if (c == '_' || c == '/') return 63;
    return -1;
}

/* Decodes n chars of base64url (padding optional). Returns malloc'd bytes and their count in
 * *out_len, or NULL on a bad character. */
unsigned char *sim_b64url_decode(const char *s, size_t n, size_t *out_len)
{
    while (n && s[n - 1] == '=') n--;
    unsigned char *out = malloc(n * 3 / 4 + 4);
    if (!out) return NULL;
    size_t o = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < n; i++) {
        int v = b64val((unsigned char)s[i]);
        if (v < 0) { free(out); return NULL; }
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) { bits -= 8; out[o++] = (unsigned char)(acc >> bits); }
    }
    *out_len = o;
    return out;
}

/* ---- forms ---- */

/* The value of a hex digit, or -1. */
static int hexval(int c)
{
    if (c >= '0' && c <= '9') return c - '0';
    c = tolower(c);
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

/* Returns the decoded value of field name in an application/x-www-form-urlencoded body
 * (malloc'd), or NULL when absent. */
char *sim_form_value(const char *body, const char *name)
{
    size_t nl = strlen(name);
    const char *p = body;
    while (p && *p) {
        const char *amp = strchr(p, '&');
        size_t seg = amp ? (size_t)(amp - p) : strlen(p);
        if (seg > nl && strncmp(p, name, nl) == 0 && p[nl] == '=') {
            const char *v = p + nl + 1;
            size_t vl = seg - nl - 1;
            char *out = malloc(vl + 1);
            if (!out) return NULL;
            size_t o = 0;
            for (size_t i = 0; i < vl; i++) {
                if (v[i] == '+') out[o++] = ' ';
                else if (v[i] == '%' && i + 2 < vl && hexval((unsigned char)v[i + 1]) >= 0 &&
                         hexval((unsigned char)v[i + 2]) >= 0) {
                    out[o++] = (char)(hexval((unsigned char)v[i + 1]) * 16 + hexval((unsigned char)v[i + 2]));
                    i += 2;
                } else out[o++] = v[i];
            }
            out[o] = 0;
            return out;
        }
        p = amp ? amp + 1 : NULL;
    }
    return NULL;
}

/* ---- ids, randomness, fingerprints ---- */

static uint64_t id_counter;

/* Returns prefix followed by 24 hex characters that are unique in this process (malloc'd). */
char *sim_new_id(const char *prefix)
{
    uint64_t n = __atomic_add_fetch(&id_counter, 1, __ATOMIC_RELAXED);
    uint64_t h = sim_mix(n ^ (uint64_t)time(NULL) << 20);
    char out[96];
    snprintf(out, sizeof out, "%s%016llx%08llx", prefix, (unsigned long long)h,
             (unsigned long long)(n & 0xffffffffULL));
    return strdup(out);
}

static __thread uint64_t rng_state;

/* A uniform double in [0,1) from a per-thread generator. */
double sim_rand01(void)
{
    if (!rng_state) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        rng_state = sim_mix((uint64_t)ts.tv_nsec ^ ((uint64_t)(uintptr_t)&rng_state << 7)) | 1;
    }
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (double)(rng_state >> 11) / 9007199254740992.0;
}

/* Returns the first 8 hex chars of SHA-256(key), or "-" for no key (malloc'd). The key itself
 * never leaves this function. */
char *sim_key_fingerprint(const char *key)
{
    if (!key || !*key) return strdup("-");
    unsigned char md[SHA256_DIGEST_LENGTH];
    SHA256((const unsigned char *)key, strlen(key), md);
    char out[16];
    snprintf(out, sizeof out, "%02x%02x%02x%02x", md[0], md[1], md[2], md[3]);
    return strdup(out);
}

/* Matches path against prefix + MID + suffix where MID has no '/'; copies MID into mid.
 * Returns 1 on a match. */
int sim_path_match(const char *path, const char *prefix, const char *suffix, char *mid, size_t midsz)
{
    size_t pl = strlen(prefix), sl = strlen(suffix), n = strlen(path);
    if (n < pl + sl + 1 || strncmp(path, prefix, pl) != 0 || strcmp(path + n - sl, suffix) != 0)
        return 0;
    size_t ml = n - pl - sl;
    if (ml >= midsz || memchr(path + pl, '/', ml)) return 0;
    memcpy(mid, path + pl, ml);
    mid[ml] = 0;
    return 1;
}

/* Returns the largest length <= max (and <= len) that does not split a UTF-8 sequence of s. */
size_t sim_utf8_cut(const char *s, size_t len, size_t max)
{
    if (len <= max) return len;
    size_t n = max;
    while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80) n--;
    return n;
}
