/* media_test.c: unit tests of media.c / media_value.c: the parts media_attach makes for each
 * provider (scaled to its limits, PNG and JPEG, re-encoded in their own format; GIF and WebP as
 * they are), their token estimates, audio parts and refusals, template markers, and the
 * capabilities a model's catalog entry and options give. Prints `ok NAME` / `FAIL NAME: reason`
 * and the closing `N passed, M failed`. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cairo.h>
#include <jpeglib.h>
#include <openssl/evp.h>
#include <jansson.h>
#include "media.h"
#include "provider.h"
#include "check.h"

static char dir[] = "/tmp/fql-media-XXXXXX";

static LmModel *model(ProviderKind p, const char *name)
{
    static const char *const names[] = { "openai", "anthropic", "gemini", "vertex", "openrouter", "cohere" };
    LmModel *m = xcalloc(1, sizeof *m);
    m->alias = xstrdup("m");
    m->provider = p;
    m->provider_name = names[p];
    m->model_name = xstrdup(name);
    m->api_key = xstrdup("k");
    m->temperature = NAN;
    return m;
}

static char *path_of(const char *name) { return xasprintf("%s/%s", dir, name); }

/* A w x h JPEG of a gradient at path. */
static void write_jpeg(const char *path, int w, int h)
{
    struct jpeg_compress_struct c;
    struct jpeg_error_mgr e;
    c.err = jpeg_std_error(&e);
    jpeg_create_compress(&c);
    FILE *f = fopen(path, "wb");
    jpeg_stdio_dest(&c, f);
    c.image_width = (JDIMENSION)w;
    c.image_height = (JDIMENSION)h;
    c.input_components = 3;
    c.in_color_space = JCS_RGB;
    jpeg_set_defaults(&c);
    jpeg_start_compress(&c, TRUE);
    unsigned char *row = malloc((size_t)w * 3);
    while (c.next_scanline < c.image_height) {
        for (int x = 0; x < w; x++) { row[3 * x] = (unsigned char)x; row[3 * x + 1] = (unsigned char)c.next_scanline; row[3 * x + 2] = 90; }
        jpeg_write_scanlines(&c, &row, 1);
    }
    jpeg_finish_compress(&c);
    jpeg_destroy_compress(&c);
    fclose(f);
    free(row);
}

static void write_png(const char *path, int w, int h, cairo_format_t fmt)
{
    cairo_surface_t *s = cairo_image_surface_create(fmt, w, h);
    cairo_t *cr = cairo_create(s);
    cairo_set_source_rgba(cr, 0.2, 0.4, 0.8, 0.5);
    cairo_paint(cr);
    cairo_destroy(cr);
    cairo_surface_write_to_png(s, path);
    cairo_surface_destroy(s);
}

static void write_bytes(const char *path, const void *p, size_t n)
{
    FILE *f = fopen(path, "wb");
    fwrite(p, 1, n, f);
    fclose(f);
}

/* A 16-bit mono WAV of `seconds` at 8 kHz (silence). */
static void write_wav(const char *path, double seconds)
{
    uint32_t n = (uint32_t)(seconds * 8000) * 2;
    unsigned char h[44] = "RIFF....WAVEfmt ";
    uint32_t v;
    v = 36 + n; memcpy(h + 4, &v, 4);
    v = 16; memcpy(h + 16, &v, 4);
    h[20] = 1; h[22] = 1;
    v = 8000; memcpy(h + 24, &v, 4);
    v = 16000; memcpy(h + 28, &v, 4);
    h[32] = 2; h[34] = 16;
    memcpy(h + 36, "data", 4);
    memcpy(h + 40, &n, 4);
    unsigned char *all = calloc(1, 44 + n);
    memcpy(all, h, 44);
    write_bytes(path, all, 44 + n);
    free(all);
}

static unsigned char *unbase64(const char *s, size_t *n)
{
    size_t len = strlen(s);
    unsigned char *out = malloc(len / 4 * 3 + 1);
    int k = EVP_DecodeBlock(out, (const unsigned char *)s, (int)len);
    while (len && s[len - 1] == '=') { k--; len--; }
    *n = (size_t)k;
    return out;
}

/* The size of a JPEG (base64), or 0. */
static void jpeg_size(const char *b64, int *w, int *h)
{
    size_t n;
    unsigned char *d = unbase64(b64, &n);
    struct jpeg_decompress_struct c;
    struct jpeg_error_mgr e;
    c.err = jpeg_std_error(&e);
    jpeg_create_decompress(&c);
    jpeg_mem_src(&c, d, (unsigned long)n);
    jpeg_read_header(&c, TRUE);
    *w = (int)c.image_width;
    *h = (int)c.image_height;
    jpeg_destroy_decompress(&c);
    free(d);
}

static void png_size(const char *b64, int *w, int *h)
{
    size_t n;
    unsigned char *d = unbase64(b64, &n);
    *w = n > 24 ? d[16] << 24 | d[17] << 16 | d[18] << 8 | d[19] : 0;
    *h = n > 24 ? d[20] << 24 | d[21] << 16 | d[22] << 8 | d[23] : 0;
    free(d);
}

/* media_attach of one image value at name for m: the request (caller frees), or NULL with *err. */
static LmRequest *attach(LmModel *m, int kind, const char *name, char **text, char **err)
{
    char *p = path_of(name);
    Value v = media_value(kind, p);
    LmRequest *r = lm_request_new(LM_CHAT);
    int kinds;
    *err = NULL;
    *text = media_attach(m, r, NULL, v, &kinds, err);
    value_free(v);
    free(p);
    if (!*text) { lm_request_free(r); return NULL; }
    return r;
}

static void test_jpeg_scaled(void)
{
    char *p = path_of("photo.jpg");
    write_jpeg(p, 3000, 2000);
    free(p);
    struct { ProviderKind pk; int w, h; int64_t tokens; } cases[] = {
        { PROV_OPENAI, 1152, 768, 85 + 170 * 3 * 2 },         /* 2048 box, then the short side to 768 */
        { PROV_ANTHROPIC, 1342, 894, 1342 * 894 / 750 },      /* 1568 long edge and 1.2 megapixels */
        { PROV_GEMINI, 3000, 2000, 258 * 4 * 3 },             /* under 3072: as it is */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        LmModel *m = model(cases[i].pk, "x");
        char *text, *err;
        LmRequest *r = attach(m, MEDIA_IMAGE, "photo.jpg", &text, &err);
        CHECK(r, "provider %d: %s", (int)cases[i].pk, err ? err : "?");
        if (r) {
            int w, h;
            CHECK(r->nimages == 1 && !strcmp(r->images[0].mime_type, "image/jpeg"), "one JPEG part");
            jpeg_size(r->images[0].base64, &w, &h);
            CHECK(abs(w - cases[i].w) <= 1 && abs(h - cases[i].h) <= 1, "provider %d: sent %dx%d, want %dx%d", (int)cases[i].pk, w, h, cases[i].w, cases[i].h);
            CHECK(llabs(r->images[0].tokens - cases[i].tokens) <= 2, "provider %d: %lld tokens, want %lld", (int)cases[i].pk,
                  (long long)r->images[0].tokens, (long long)cases[i].tokens);
            CHECK(r->est_input_tokens == r->images[0].tokens, "the estimate counts the image");
            CHECK(!strcmp(text, "[image 1]"), "text %s", text);
        }
        free(text);
        free(err);
        lm_request_free(r);
        lm_model_free(m);
    }
}

static void test_png_alpha_kept(void)
{
    char *p = path_of("wide.png");
    write_png(p, 4000, 100, CAIRO_FORMAT_ARGB32);
    free(p);
    LmModel *m = model(PROV_GEMINI, "x");
    char *text, *err;
    LmRequest *r = attach(m, MEDIA_IMAGE, "wide.png", &text, &err);
    CHECK(r, "%s", err ? err : "?");
    if (r) {
        int w, h;
        png_size(r->images[0].base64, &w, &h);
        CHECK(w == 3072 && h == 77, "sent %dx%d, want 3072x77", w, h);
        CHECK(!strcmp(r->images[0].mime_type, "image/png"), "PNG stays PNG");
        CHECK(r->images[0].tokens == 258 * 4, "%lld tokens", (long long)r->images[0].tokens);
    }
    free(text);
    free(err);
    lm_request_free(r);
    lm_model_free(m);
}

/* GIF and WebP are measured from their headers and sent as they are. */
static void test_gif_webp_headers(void)
{
    unsigned char gif[16] = "GIF89a";
    gif[6] = 200; gif[8] = 100;   /* 200 x 100 */
    char *p = path_of("a.gif");
    write_bytes(p, gif, sizeof gif);
    free(p);
    unsigned char webp[30] = "RIFF\0\0\0\0WEBPVP8X";
    webp[24] = (unsigned char)(999 & 0xFF); webp[25] = 999 >> 8;   /* width - 1 */
    webp[27] = (unsigned char)(499 & 0xFF); webp[28] = 499 >> 8;   /* height - 1 */
    p = path_of("a.webp");
    write_bytes(p, webp, sizeof webp);
    free(p);
    LmModel *m = model(PROV_GEMINI, "x"), *a = model(PROV_ANTHROPIC, "x");
    char *text, *err;
    LmRequest *r = attach(a, MEDIA_IMAGE, "a.gif", &text, &err);
    CHECK(r && r->images[0].tokens == 200 * 100 / 750 && !strcmp(r->images[0].mime_type, "image/gif"), "gif: %s", err ? err : "tokens");
    free(text); free(err); lm_request_free(r);
    r = attach(m, MEDIA_IMAGE, "a.gif", &text, &err);
    CHECK(!r && err && strstr(err, "Gemini takes PNG, JPEG or WebP images, not GIF"), "gemini refuses GIF: %s", err ? err : "attached");
    free(err);
    r = attach(m, MEDIA_IMAGE, "a.webp", &text, &err);
    CHECK(r && r->images[0].tokens == 258 * 2, "webp 1000x500 for gemini: %s", err ? err : "tokens");
    free(text); free(err); lm_request_free(r);
    r = attach(a, MEDIA_IMAGE, "a.webp", &text, &err);
    CHECK(r && r->images[0].tokens == 1000 * 500 / 750 && !strcmp(r->images[0].mime_type, "image/webp"), "webp: %s %lld", err ? err : "",
          r ? (long long)r->images[0].tokens : -1LL);
    free(text); free(err); lm_request_free(r);
    lm_model_free(m);
    lm_model_free(a);
}

static void test_audio(void)
{
    char *p = path_of("tone.wav");
    write_wav(p, 3.0);
    free(p);
    LmModel *g = model(PROV_GEMINI, "x"), *o = model(PROV_OPENAI, "gpt-4o-audio-preview"), *a = model(PROV_ANTHROPIC, "x");
    char *text, *err;
    LmRequest *r = attach(g, MEDIA_AUDIO, "tone.wav", &text, &err);
    CHECK(r && r->images[0].tokens == 96 && !strcmp(r->images[0].mime_type, "audio/wav"), "gemini: 32 tokens a second (%s)", err ? err : "");
    free(text); free(err); lm_request_free(r);
    r = attach(o, MEDIA_AUDIO, "tone.wav", &text, &err);
    CHECK(r && r->images[0].tokens == 30, "openai: 10 tokens a second");
    if (r) {
        HttpRequest h;
        memset(&h, 0, sizeof h);
        r->user = text;
        text = NULL;
        char *e2 = NULL;
        CHECK(provider_build(o, r, &h, &e2) == 0, "build: %s", e2 ? e2 : "");
        CHECK(h.body && strstr(h.body, "\"input_audio\"") && strstr(h.body, "\"format\":\"wav\""), "input_audio part: %.300s", h.body ? h.body : "");
        http_request_free(&h);
        free(e2);
        e2 = NULL;
        CHECK(provider_build(a, r, &h, &e2) == -1 && e2 && strstr(e2, "cannot take audio"), "anthropic refuses: %s", e2 ? e2 : "built");
        http_request_free(&h);
        free(e2);
    }
    free(text); free(err); lm_request_free(r);
    r = attach(a, MEDIA_AUDIO, "tone.wav", &text, &err);
    CHECK(!r && err && strstr(err, "cannot take audio"), "attach for anthropic: %s", err ? err : "no error");
    free(text); free(err); lm_request_free(r);
    /* an MP3 of 16,000 bytes at 128 kb/s (MPEG-1 layer III frame header): one second */
    unsigned char *mp3 = calloc(1, 16000);
    memcpy(mp3, "\xFF\xFB\x90\x64", 4);
    p = path_of("beep.mp3");
    write_bytes(p, mp3, 16000);
    free(p);
    free(mp3);
    r = attach(g, MEDIA_AUDIO, "beep.mp3", &text, &err);
    CHECK(r && r->images[0].tokens == 32 && !strcmp(r->images[0].mime_type, "audio/mp3"), "gemini mp3: %s %s %lld", err ? err : "",
          r ? r->images[0].mime_type : "", r ? (long long)r->images[0].tokens : -1LL);
    free(text); free(err); lm_request_free(r);
    r = attach(o, MEDIA_AUDIO, "beep.mp3", &text, &err);
    CHECK(r && !strcmp(r->images[0].mime_type, "audio/mpeg") && r->images[0].tokens == 10, "openai mp3: %s", err ? err : "");
    free(text); free(err); lm_request_free(r);
    lm_model_free(g); lm_model_free(o); lm_model_free(a);
}

/* A template's markers become "[image N]" and parts, in order. */
static void test_markers(void)
{
    char *p = path_of("photo.jpg"), *q = path_of("tone.wav");
    Value a = media_value(MEDIA_IMAGE, p), b = media_value(MEDIA_AUDIO, q);
    char *ma = media_marker(a), *mb = media_marker(b);
    char *text = xasprintf("Compare %s with %s and %s.", ma, mb, ma);
    CHECK(media_has_marker(text) && !media_has_marker("plain"), "markers seen");
    LmModel *g = model(PROV_GEMINI, "x");
    LmRequest *r = lm_request_new(LM_CHAT);
    int kinds;
    char *err = NULL, *out = media_attach(g, r, text, v_null(), &kinds, &err);
    CHECK(out && !strcmp(out, "Compare [image 1] with [audio 1] and [image 2]."), "text: %s", out ? out : err);
    CHECK(r->nimages == 3 && kinds == (MEDIA_IMAGE | MEDIA_AUDIO), "parts %d kinds %d", r->nimages, kinds);
    free(out); free(err); free(ma); free(mb); free(p); free(q);
    value_free(a); value_free(b);
    lm_request_free(r);
    lm_model_free(g);
}

static void test_caps(void)
{
    json_t *no = json_pack("{s:b}", "vision", 0), *yes = json_pack("{s:b, s:b}", "vision", 1, "audio", 1);
    CHECK(media_caps("openai", 0, no, v_null()) == 0, "catalog says no");
    CHECK(media_caps("openai", 0, NULL, v_null()) == (MEDIA_IMAGE | MEDIA_AUDIO), "unknown model: what the API takes");
    CHECK(media_caps("anthropic", 0, yes, v_null()) == MEDIA_IMAGE, "Anthropic never takes audio");
    CHECK(media_caps("openai", 1, yes, v_null()) == 0 && media_caps("cohere", 0, NULL, v_null()) == 0, "embedding models take none");
    char *why = media_refusal("fast", "openai", "gpt-4o-mini", MEDIA_IMAGE, MEDIA_AUDIO);
    CHECK(why && strstr(why, "model 'fast' (openai \"gpt-4o-mini\") cannot take audio"), "%s", why ? why : "");
    free(why);
    CHECK(!media_refusal("fast", "openai", "gpt-4o", MEDIA_IMAGE, MEDIA_IMAGE), "no refusal when it takes them");
    json_decref(no);
    json_decref(yes);
    const char *mime;
    CHECK(media_kind_of_path("s3://b/x/PHOTO.JPEG", &mime) == MEDIA_IMAGE && !strcmp(mime, "image/jpeg"), "by extension");
    CHECK(media_kind_of_path("https://h/a.mp3?sig=1", &mime) == MEDIA_AUDIO && !strcmp(mime, "audio/mpeg"), "URL query ignored");
    CHECK(media_kind_of_path("dir.png/file", &mime) == 0, "a directory's dot is not an extension");
}

static void test_not_an_image(void)
{
    char *p = path_of("notes.png");
    write_bytes(p, "hello", 5);
    free(p);
    LmModel *m = model(PROV_OPENAI, "x");
    char *text, *err;
    LmRequest *r = attach(m, MEDIA_IMAGE, "notes.png", &text, &err);
    CHECK(!r && err && strstr(err, "is not an image this reader knows"), "%s", err ? err : "no error");
    free(err);
    r = attach(m, MEDIA_IMAGE, "nowhere.png", &text, &err);
    CHECK(!r && err && strstr(err, "cannot read"), "%s", err ? err : "no error");
    free(err);
    lm_model_free(m);
}

int main(void)
{
    if (!mkdtemp(dir)) { perror("mkdtemp"); return 1; }
    run("JPEG scaled to each provider's limit and priced by its rule", test_jpeg_scaled);
    run("PNG with alpha scaled for Gemini stays PNG", test_png_alpha_kept);
    run("GIF and WebP measured from their headers", test_gif_webp_headers);
    run("audio parts: estimates, OpenAI input_audio, Anthropic refuses", test_audio);
    run("template markers become [image N] / [audio N] and parts", test_markers);
    run("capabilities from the catalog and the provider", test_caps);
    run("unreadable and non-image files are errors", test_not_an_image);
    char *cmd = xasprintf("rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
    free(cmd);
    return check_summary();
}
