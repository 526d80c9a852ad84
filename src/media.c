/* media.c: images and audio in the semantic operators (media.h): the image()/audio() values, the
 * process-wide memo of their content, each provider's size limits and token estimates, and the
 * parts of a request.
 *
 * Provider rules (what the providers publish; docs/providers.md and docs/cost.md say the same):
 *   OpenAI (and OpenRouter): an image is fitted into 2048x2048, then its short side to 768 px, and
 *     costs base + tile x (512-px tiles) tokens (85 + 170 for gpt-4o; the catalog's image_tokens
 *     per model), or for the patch models min(1536, 32-px patches) x a multiplier. Audio: WAV or
 *     MP3 as input_audio, about 10 tokens a second.
 *   Anthropic: the long edge at most 1568 px and about 1.2 megapixels; w x h / 750 tokens. No audio.
 *   Gemini / Vertex: the long edge at most 3072 px; 258 tokens when both sides are at most 384 px,
 *     else 258 per 768x768 tile; audio 32 tokens a second; at most 20 MB of inline data.
 * PNG and JPEG images over a provider's limit are scaled down before upload, by the image plugin
 * fql-image.so (image_cairo.c: cairo and libjpeg, loaded on first use so that start-up loads
 * neither); GIF and WebP are sent as they are (the provider scales them).
 */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <openssl/evp.h>
#include "media.h"
#include "io.h"
#include "io/image_plugin.h"

/* the memo keeps at most MEMO_MAX_BYTES of content and prepared versions (least recently used
 * files go first); a file over MEDIA_MAX_BYTES is refused */
enum { MEMO_MAX_BYTES = 256 << 20, MEDIA_MAX_BYTES = 64 << 20 };

#define MARK '\x1e'   /* as media_value.c writes markers */

/* ---- reading and measuring ---- */

/* A version of an image prepared for one provider's limits. */
typedef struct Prepared { int box; char *mime; char *base64; int width, height; struct Prepared *next; } Prepared;

typedef struct Media {
    int refs;                    /* the memo's and each user's; under memo_lock */
    char *path;
    int64_t mtime_us, fsize;     /* a local file as read (-1: remote) */
    int kind;
    const char *mime;            /* from the content (static) */
    unsigned char *data; size_t len;
    char sha256[65];
    int width, height;           /* images: 0 when unknown */
    double seconds;              /* audio: 0 when unknown */
    Prepared *prep;              /* under memo_lock */
    size_t held;                 /* bytes held: the content and the prepared versions' base64 */
    int in_memo;                 /* counted in memo_bytes (not yet evicted) */
    struct Media *next;          /* memo list, most recent first */
} Media;

static pthread_mutex_t memo_lock = PTHREAD_MUTEX_INITIALIZER;
static Media *memo;
static size_t memo_bytes;

static void media_unref_locked(Media *md)
{
    if (!md || --md->refs > 0) return;
    for (Prepared *p = md->prep, *n; p; p = n) { n = p->next; free(p->mime); free(p->base64); free(p); }
    free(md->path);
    free(md->data);
    free(md);
}

static void media_unref(Media *md)
{
    pthread_mutex_lock(&memo_lock);
    media_unref_locked(md);
    pthread_mutex_unlock(&memo_lock);
}

static uint32_t be32(const unsigned char *p) { return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]; }
static uint32_t le32(const unsigned char *p) { return (uint32_t)p[3] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[1] << 8 | p[0]; }
static unsigned le16(const unsigned char *p) { return (unsigned)p[1] << 8 | p[0]; }

/* The image's type and pixel size from its header. The mime type (static) or NULL. */
static const char *sniff_image(const unsigned char *d, size_t n, int *w, int *h)
{
    *w = *h = 0;
    if (n >= 24 && !memcmp(d, "\x89PNG\r\n\x1a\n", 8) && !memcmp(d + 12, "IHDR", 4)) {
        *w = (int)be32(d + 16);
        *h = (int)be32(d + 20);
        return "image/png";
    }
    if (n >= 4 && d[0] == 0xFF && d[1] == 0xD8) {   /* JPEG: the first SOFn marker has the size */
        size_t i = 2;
        while (i + 9 < n) {
            if (d[i] != 0xFF) { i++; continue; }
            unsigned char mk = d[i + 1];
            if (mk == 0xFF) { i++; continue; }
            if (mk == 0xD8 || mk == 0x01 || (mk >= 0xD0 && mk <= 0xD7)) { i += 2; continue; }
            size_t len = (size_t)d[i + 2] << 8 | d[i + 3];
            if (mk >= 0xC0 && mk <= 0xCF && mk != 0xC4 && mk != 0xC8 && mk != 0xCC) {
                *h = d[i + 5] << 8 | d[i + 6];
                *w = d[i + 7] << 8 | d[i + 8];
                break;
            }
            i += 2 + len;
        }
        return "image/jpeg";
    }
    if (n >= 10 && (!memcmp(d, "GIF87a", 6) || !memcmp(d, "GIF89a", 6))) {
        *w = (int)le16(d + 6);
        *h = (int)le16(d + 8);
        return "image/gif";
    }
    if (n >= 30 && !memcmp(d, "RIFF", 4) && !memcmp(d + 8, "WEBP", 4)) {
        if (!memcmp(d + 12, "VP8X", 4)) {
            *w = (int)(1 + (d[24] | d[25] << 8 | d[26] << 16));
            *h = (int)(1 + (d[27] | d[28] << 8 | d[29] << 16));
        } else if (!memcmp(d + 12, "VP8L", 4)) {
            uint32_t b = le32(d + 21);
            *w = (int)(1 + (b & 0x3FFF));
            *h = (int)(1 + ((b >> 14) & 0x3FFF));
        } else if (!memcmp(d + 12, "VP8 ", 4)) {
            *w = (int)(le16(d + 26) & 0x3FFF);
            *h = (int)(le16(d + 28) & 0x3FFF);
        }
        return "image/webp";
    }
    return NULL;
}

/* The audio's type and duration from its header (0 seconds when unknown). */
static const char *sniff_audio(const unsigned char *d, size_t n, double *seconds)
{
    *seconds = 0;
    if (n >= 12 && !memcmp(d, "RIFF", 4) && !memcmp(d + 8, "WAVE", 4)) {
        uint32_t byte_rate = 0;
        for (size_t i = 12; i + 8 <= n;) {
            uint32_t len = le32(d + i + 4);
            if (!memcmp(d + i, "fmt ", 4) && i + 16 <= n) byte_rate = le32(d + i + 16);
            if (!memcmp(d + i, "data", 4)) {
                uint64_t avail = n - (i + 8);
                if (byte_rate) *seconds = (double)(len < avail ? len : avail) / byte_rate;
                break;
            }
            i += 8 + len + (len & 1);
        }
        return "audio/wav";
    }
    size_t off = 0;
    if (n >= 10 && !memcmp(d, "ID3", 3))   /* ID3v2 tag: a syncsafe size */
        off = 10 + ((size_t)(d[6] & 0x7F) << 21 | (size_t)(d[7] & 0x7F) << 14 | (size_t)(d[8] & 0x7F) << 7 | (d[9] & 0x7F));
    if (off + 4 <= n && d[off] == 0xFF && (d[off + 1] & 0xE0) == 0xE0) {
        static const int kbps_v1[16] = { 0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 0 };
        static const int kbps_v2[16] = { 0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160, 0 };
        int v1 = (d[off + 1] >> 3 & 3) == 3;
        int k = (v1 ? kbps_v1 : kbps_v2)[d[off + 2] >> 4];
        if (k) *seconds = (double)(n - off) * 8 / (k * 1000.0);   /* constant bit rate assumed */
        return "audio/mpeg";
    }
    if (off > 0) return "audio/mpeg";
    return NULL;
}

/* path as errors show it: a URL without its user:password@ and its query (presigned URLs carry
 * their signature there). New string. */
static char *shown_path(const char *path)
{
    const char *scheme = strstr(path, "://");
    if (!scheme) return xstrdup(path);
    const char *host = scheme + 3, *slash = strchr(host, '/'), *at = strchr(host, '@');
    if (at && (!slash || at < slash)) host = at + 1;
    size_t n = strcspn(host, "?#");
    return xasprintf("%.*s%.*s%s", (int)(scheme + 3 - path), path, (int)n, host, host[n] ? "?..." : "");
}

/* Read a whole local file. 0, or -1 with *err. */
static int read_file(const char *path, const char *shown, unsigned char **data, size_t *len, char **err)
{
    FILE *f = fopen(path, "rb");
    if (!f) { *err = xasprintf("cannot read %s: %s", shown, strerror(errno)); return -1; }
    Buf b;
    buf_init(&b);
    char chunk[65536];
    size_t got;
    while ((got = fread(chunk, 1, sizeof chunk, f)) > 0) {
        buf_append(&b, chunk, got);
        if (b.len > MEDIA_MAX_BYTES) {
            fclose(f);
            buf_free(&b);
            *err = xasprintf("%s is larger than %d MB", shown, MEDIA_MAX_BYTES >> 20);
            return -1;
        }
    }
    int bad = ferror(f);
    fclose(f);
    if (bad) { buf_free(&b); *err = xasprintf("cannot read %s", shown); return -1; }
    *len = b.len;
    *data = (unsigned char *)(b.len ? buf_take(&b) : xstrdup(""));
    return 0;
}

/* Drop unused entries, oldest first, while the memo holds more than its budget. Under memo_lock. */
static void memo_trim(void)
{
    while (memo_bytes > MEMO_MAX_BYTES) {
        Media **pp = &memo, **last = NULL;
        for (; *pp; pp = &(*pp)->next) last = pp;
        if (!last) return;
        Media *old = *last;
        *last = old->next;
        memo_bytes -= old->held;
        old->in_memo = 0;
        media_unref_locked(old);
        if (!memo) memo_bytes = 0;
    }
}

/* The medium at path, of kind `kind`: from the memo, or read, hashed and measured now. A reference
 * (media_unref), or NULL with *err. */
static Media *media_load(const char *path, int kind, char **err)
{
    struct stat st;
    int remote = io_is_remote(path);
    int local_ok = !remote && stat(path, &st) == 0;
    int64_t mt = local_ok ? (int64_t)st.st_mtim.tv_sec * 1000000 + st.st_mtim.tv_nsec / 1000 : -1;
    int64_t sz = local_ok ? (int64_t)st.st_size : -1;
    pthread_mutex_lock(&memo_lock);
    for (Media **pp = &memo, *md; (md = *pp); pp = &md->next)
        if (!strcmp(md->path, path) && md->kind == kind && (remote || (md->mtime_us == mt && md->fsize == sz))) {
            *pp = md->next;   /* most recent first */
            md->next = memo;
            memo = md;
            md->refs++;
            pthread_mutex_unlock(&memo_lock);
            return md;
        }
    pthread_mutex_unlock(&memo_lock);

    unsigned char *data = NULL;
    size_t len = 0;
    char *shown = shown_path(path);
    if (remote) {
        fql_error fe;
        memset(&fe, 0, sizeof fe);
        RemoteFiles *rf = remote_fetch(path, 0, &fe);
        if (!rf) { *err = xasprintf("%s", fe.message[0] ? fe.message : "cannot fetch the file"); free(shown); return NULL; }
        int rc = remote_count(rf) == 1 ? read_file(remote_local(rf, 0), shown, &data, &len, err) : -1;
        if (rc && !*err) *err = xasprintf("%s names %d files; %s() takes one", shown, remote_count(rf), media_kind_name(kind));
        remote_files_free(rf);
        if (rc) { free(shown); return NULL; }
    } else if (!local_ok) {
        *err = xasprintf("cannot read %s: %s", shown, strerror(errno));
        free(shown);
        return NULL;
    } else if (read_file(path, shown, &data, &len, err)) { free(shown); return NULL; }

    Media *md = xcalloc(1, sizeof *md);
    md->refs = 2;   /* the memo's and the caller's */
    md->path = xstrdup(path);
    md->mtime_us = mt;
    md->fsize = sz;
    md->kind = kind;
    md->data = data;
    md->len = len;
    md->mime = kind == MEDIA_IMAGE ? sniff_image(data, len, &md->width, &md->height) : sniff_audio(data, len, &md->seconds);
    if (!md->mime) {
        *err = xasprintf(kind == MEDIA_IMAGE ? "%s is not an image this reader knows (PNG, JPEG, GIF or WebP)"
                                             : "%s is not audio this reader knows (WAV or MP3)", shown);
        free(shown);
        md->refs = 1;
        media_unref(md);
        return NULL;
    }
    free(shown);
    unsigned char h[32];
    unsigned hl = 0;
    EVP_Digest(data, len, h, &hl, EVP_sha256(), NULL);
    for (int i = 0; i < 32; i++) snprintf(md->sha256 + 2 * i, 3, "%02x", h[i]);
    pthread_mutex_lock(&memo_lock);
    md->next = memo;
    memo = md;
    md->held = len;
    md->in_memo = 1;
    memo_bytes += len;
    memo_trim();
    pthread_mutex_unlock(&memo_lock);
    return md;
}

int media_info(const char *path, int kind, char sha256[65], int64_t *bytes, int *width, int *height, double *seconds, char **err)
{
    Media *md = media_load(path, kind, err);
    if (!md) return -1;
    memcpy(sha256, md->sha256, 65);
    *bytes = (int64_t)md->len;
    *width = md->width;
    *height = md->height;
    *seconds = md->seconds;
    media_unref(md);
    return 0;
}

/* ---- scaling ---- */

enum { BOX_OPENAI, BOX_ANTHROPIC, BOX_GEMINI };

static int box_of(const LmModel *m)
{
    return m->provider == PROV_ANTHROPIC ? BOX_ANTHROPIC : m->provider == PROV_GEMINI || m->provider == PROV_VERTEX ? BOX_GEMINI : BOX_OPENAI;
}

/* The size an image of w x h is sent at under box: scaled down only, never up. */
static void fit(int box, int w, int h, int *ow, int *oh)
{
    double k = 1;
    int lo = w > h ? w : h, sh = w < h ? w : h;
    if (box == BOX_OPENAI) {
        if (lo > 2048) k = 2048.0 / lo;
        if (sh * k > 768) k = 768.0 / sh;
    } else if (box == BOX_ANTHROPIC) {
        if (lo > 1568) k = 1568.0 / lo;
        double px = (double)w * h * k * k;
        if (px > 1200000) k *= sqrt(1200000 / px);
    } else if (lo > 3072) k = 3072.0 / lo;
    *ow = k < 1 ? (int)(w * k + 0.5) : w;   /* nearest: 3000 x 1568/3000 is 1568, not 1567 */
    *oh = k < 1 ? (int)(h * k + 0.5) : h;
    if (*ow < 1) *ow = 1;
    if (*oh < 1) *oh = 1;
}

/* The image plugin (fql-image.so: cairo and libjpeg), loaded the first time an image is scaled. */
static const FqlImageApi *image_api;
static char *image_err;          /* why it did not load, then */
static pthread_once_t image_once = PTHREAD_ONCE_INIT;

static void load_image_plugin(void)
{
    char *tried = NULL;
    image_api = plugin_load(FQL_IMAGE_PLUGIN, FQL_IMAGE_SYMBOL, FQL_IMAGE_ABI, &tried);
    if (!image_api)
        image_err = xasprintf("scaling images needs the plugin %s (built by make with cairo and libjpeg; installed by make "
                              "install), and it was not found or did not load: tried %s. Set FQL_PLUGIN_DIR to the directory "
                              "that holds it", FQL_IMAGE_PLUGIN, tried);
    free(tried);
}

/* Does md (an image) need scaling for box, by the plugin (PNG or JPEG over the box)? */
static int needs_scaling(const Media *md, int box)
{
    int ow, oh;
    if (!md->width || !md->height || (strcmp(md->mime, "image/png") && strcmp(md->mime, "image/jpeg"))) return 0;
    fit(box, md->width, md->height, &ow, &oh);
    return ow != md->width || oh != md->height;
}

static char *base64(const unsigned char *p, size_t n)
{
    char *out = xmalloc(4 * ((n + 2) / 3) + 1);
    EVP_EncodeBlock((unsigned char *)out, p, (int)n);
    return out;
}

/* md scaled to fit box, re-encoded in its own format (PNG or JPEG); NULL when md fits already or
 * cannot be decoded here (GIF, WebP, a broken file): then it is sent as it is. */
static Prepared *scale_image(const Media *md, int box)
{
    int ow, oh;
    if (!needs_scaling(md, box)) return NULL;   /* fits already, or GIF/WebP: the provider scales them */
    fit(box, md->width, md->height, &ow, &oh);
    int png = !strcmp(md->mime, "image/png");
    pthread_once(&image_once, load_image_plugin);   /* attach_one has failed the row if it did not load */
    unsigned char *out = NULL;
    size_t outlen = 0;
    if (!image_api || image_api->scale(md->data, md->len, png, ow, oh, &out, &outlen)) return NULL;
    if (!outlen) { free(out); return NULL; }
    Prepared *p = xcalloc(1, sizeof *p);
    p->box = box;
    p->mime = xstrdup(md->mime);
    p->base64 = base64(out, outlen);
    p->width = ow;
    p->height = oh;
    free(out);   /* the plugin's malloc'd bytes */
    return p;
}

/* The version of md sent to providers of box: scaled once and kept with md. Borrowed from md. */
static const Prepared *prepared(Media *md, int box)
{
    pthread_mutex_lock(&memo_lock);
    for (Prepared *p = md->prep; p; p = p->next)
        if (p->box == box) { pthread_mutex_unlock(&memo_lock); return p; }
    pthread_mutex_unlock(&memo_lock);
    Prepared *p = md->kind == MEDIA_IMAGE ? scale_image(md, box) : NULL;
    if (!p) {   /* as it is */
        p = xcalloc(1, sizeof *p);
        p->box = box;
        p->mime = xstrdup(md->mime);
        p->base64 = base64(md->data, md->len);
        p->width = md->width;
        p->height = md->height;
    }
    pthread_mutex_lock(&memo_lock);
    for (Prepared *q = md->prep; q; q = q->next)
        if (q->box == box) {   /* another thread was first */
            pthread_mutex_unlock(&memo_lock);
            free(p->mime); free(p->base64); free(p);
            return q;
        }
    p->next = md->prep;
    md->prep = p;
    size_t n = strlen(p->base64);
    md->held += n;
    if (md->in_memo) {   /* the caller's reference keeps md (and p) alive if this evicts it */
        memo_bytes += n;
        memo_trim();
    }
    pthread_mutex_unlock(&memo_lock);
    return p;
}

/* ---- token estimates ---- */

static double jnum(json_t *o, const char *k, double d)
{
    json_t *v = json_object_get(o, k);
    return json_is_number(v) ? json_number_value(v) : d;
}

/* Input tokens of an image sent at w x h to m (the size after fit()). */
static int64_t image_tokens(const LmModel *m, int w, int h)
{
    if (w <= 0 || h <= 0) {   /* size unknown: the most the provider charges for one image */
        w = 2048;
        h = 2048;
        fit(box_of(m), w, h, &w, &h);
    }
    switch (box_of(m)) {
    case BOX_ANTHROPIC: {
        int64_t t = (int64_t)w * h / 750;
        return t > 0 ? t : 1;
    }
    case BOX_GEMINI:
        if (w <= 384 && h <= 384) return 258;
        return (int64_t)((w + 767) / 768) * ((h + 767) / 768) * 258;
    default: {
        double patch = jnum(m->image_tokens, "patch", 0);
        if (patch > 0) {   /* 32-px patches, at most 1536 (the image is shrunk to fit that many) */
            double n = ceil(w / 32.0) * ceil(h / 32.0);
            if (n > 1536) n = 1536;
            return (int64_t)ceil(n * patch);
        }
        double base = jnum(m->image_tokens, "base", 85), tile = jnum(m->image_tokens, "tile", 170);
        return (int64_t)(base + tile * (double)((w + 511) / 512) * (double)((h + 511) / 512));
    }
    }
}

static int64_t audio_tokens(const LmModel *m, double seconds)
{
    if (seconds <= 0) seconds = 60;   /* unknown length: a minute */
    return (int64_t)ceil(seconds * (box_of(m) == BOX_GEMINI ? 32 : 10));
}

/* ---- parts ---- */

/* Attach medium v (a media value) to r as prepared for m. 0, or -1 with *err. */
static int attach_one(const LmModel *m, LmRequest *r, Value v, char **err)
{
    int kind = media_kind_of_value(v);
    const char *path = v_str(v.u.st->fields[0]);
    Media *md = media_load(path, kind, err);
    if (!md) return -1;
    char *shown = shown_path(path);
    int box = box_of(m);
    int rc = 0;
    if (kind == MEDIA_AUDIO && box == BOX_ANTHROPIC) {
        *err = xasprintf("model '%s' (anthropic) cannot take audio (%s)", m->alias, shown);
        rc = -1;
    } else if (kind == MEDIA_AUDIO && box == BOX_OPENAI && strcmp(md->mime, "audio/wav") && strcmp(md->mime, "audio/mpeg")) {
        *err = xasprintf("%s: OpenAI's input_audio takes WAV or MP3", shown);
        rc = -1;
    } else if (box == BOX_GEMINI && !strcmp(md->mime, "image/gif")) {   /* Gemini's image types: PNG, JPEG, WebP, HEIC */
        *err = xasprintf("%s: Gemini takes PNG, JPEG or WebP images, not GIF (convert it, e.g. to PNG)", shown);
        rc = -1;
    }
    if (!rc && kind == MEDIA_IMAGE && needs_scaling(md, box)) {
        pthread_once(&image_once, load_image_plugin);
        if (!image_api) {
            *err = xasprintf("%s (%d x %d) is over the provider's limits for model '%s' and must be scaled: %s", shown, md->width,
                             md->height, m->alias, image_err);
            rc = -1;
        }
    }
    const Prepared *p = rc ? NULL : prepared(md, box);
    if (p) {
        size_t raw = strlen(p->base64) / 4 * 3;
        size_t limit = box == BOX_ANTHROPIC ? (size_t)5 << 20 : (size_t)20 << 20;
        if (raw > limit) {
            *err = xasprintf("%s is %.1f MB as sent; %s takes at most %zu MB per %s inline (FQL sends media inline, "
                             "not through a files API): use a smaller file", shown, raw / 1048576.0,
                             box == BOX_ANTHROPIC ? "Anthropic" : box == BOX_GEMINI ? "Gemini" : "OpenAI", limit >> 20,
                             box == BOX_GEMINI ? "request" : kind == MEDIA_AUDIO ? "audio part" : "image");
            rc = -1;
        }
    }
    if (!rc) {
        r->images = xrealloc(r->images, (size_t)(r->nimages + 1) * sizeof *r->images);
        LmImage *im = &r->images[r->nimages++];
        /* Gemini names MP3 audio/mp3 (its list of audio types); the others audio/mpeg */
        im->mime_type = xstrdup(box == BOX_GEMINI && !strcmp(p->mime, "audio/mpeg") ? "audio/mp3" : p->mime);
        im->base64 = xstrdup(p->base64);
        im->tokens = kind == MEDIA_IMAGE ? image_tokens(m, p->width, p->height) : audio_tokens(m, md->seconds);
        r->est_input_tokens += im->tokens;
    }
    media_unref(md);
    free(shown);
    return rc;
}

char *media_attach(const LmModel *m, LmRequest *r, char *text, Value v, int *kinds, char **err)
{
    *kinds = 0;
    int k = media_kind_of_value(v);
    if (k) {
        free(text);
        *kinds = k;
        if (attach_one(m, r, v, err)) return NULL;
        return xasprintf("[%s 1]", media_kind_name(k));
    }
    Buf out;
    buf_init(&out);
    int n[3] = { 0, 0, 0 };
    const char *p = text;
    for (;;) {
        const char *a = strchr(p, MARK), *b = a ? strchr(a + 1, MARK) : NULL;
        if (!a || !b) { buf_puts(&out, p); break; }
        buf_append(&out, p, (size_t)(a - p));
        json_t *j = json_loadb(a + 1, (size_t)(b - a - 1), 0, NULL);
        const char *kn = json_string_value(json_object_get(j, "kind")), *path = json_string_value(json_object_get(j, "path"));
        int kk = kn && !strcmp(kn, "audio") ? MEDIA_AUDIO : kn && !strcmp(kn, "image") ? MEDIA_IMAGE : 0;
        if (!kk || !path) {   /* not ours: the text as it was */
            buf_append(&out, a, (size_t)(b - a));
            p = b;
            json_decref(j);
            continue;
        }
        Value mv = media_value(kk, path);
        int rc = attach_one(m, r, mv, err);
        value_free(mv);
        json_decref(j);
        if (rc) { buf_free(&out); free(text); return NULL; }
        *kinds |= kk;
        buf_printf(&out, "[%s %d]", media_kind_name(kk), ++n[kk]);
        p = b + 1;
    }
    free(text);
    return buf_take(&out);
}
