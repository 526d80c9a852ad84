/* image_cairo.c: the image plugin fql-image.so (image_plugin.h): PNG and JPEG images scaled with
 * cairo (a box filter when shrinking) and coded with cairo's PNG functions and libjpeg. Built by
 * make on its own, linked with cairo and libjpeg; libfql (media.c) loads it the first time an image
 * is over a provider's limits. Plain C only: no libfql code is linked in here.
 */
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cairo.h>
#include <jpeglib.h>
#include "image_plugin.h"

#define EXPORT __attribute__((visibility("default")))

/* A growable byte buffer (malloc'd); oom set when an allocation failed. */
typedef struct Out { unsigned char *p; size_t n, cap; int oom; } Out;

static void out_append(Out *o, const unsigned char *d, size_t n)
{
    if (o->oom) return;
    if (o->n + n > o->cap) {
        size_t cap = o->cap ? o->cap : 65536;
        while (cap < o->n + n) cap *= 2;
        unsigned char *p = realloc(o->p, cap);
        if (!p) { o->oom = 1; return; }
        o->p = p;
        o->cap = cap;
    }
    memcpy(o->p + o->n, d, n);
    o->n += n;
}

typedef struct ReadCl { const unsigned char *p; size_t n, at; } ReadCl;
static cairo_status_t png_read(void *cl, unsigned char *out, unsigned int n)
{
    ReadCl *r = cl;
    if (r->n - r->at < n) return CAIRO_STATUS_READ_ERROR;
    memcpy(out, r->p + r->at, n);
    r->at += n;
    return CAIRO_STATUS_SUCCESS;
}
static cairo_status_t png_write(void *cl, const unsigned char *data, unsigned int n)
{
    Out *o = cl;
    out_append(o, data, n);
    return o->oom ? CAIRO_STATUS_NO_MEMORY : CAIRO_STATUS_SUCCESS;
}

typedef struct JpegErr { struct jpeg_error_mgr pub; jmp_buf jb; } JpegErr;
static void jpeg_fail(j_common_ptr c) { longjmp(((JpegErr *)c->err)->jb, 1); }

/* A JPEG decoded into an RGB24 surface, or NULL. */
static cairo_surface_t *jpeg_decode(const unsigned char *d, size_t n)
{
    struct jpeg_decompress_struct c;
    JpegErr je;
    cairo_surface_t *volatile s = NULL;
    unsigned char *volatile row = NULL;
    c.err = jpeg_std_error(&je.pub);
    je.pub.error_exit = jpeg_fail;
    if (setjmp(je.jb)) {   /* libjpeg's way to report a broken file: nothing of libjpeg is left on the stack */
        jpeg_destroy_decompress(&c);
        free(row);
        if (s) cairo_surface_destroy(s);
        return NULL;
    }
    jpeg_create_decompress(&c);
    jpeg_mem_src(&c, d, (unsigned long)n);
    jpeg_read_header(&c, TRUE);
    c.out_color_space = JCS_RGB;
    jpeg_start_decompress(&c);
    s = cairo_image_surface_create(CAIRO_FORMAT_RGB24, (int)c.output_width, (int)c.output_height);
    row = malloc((size_t)c.output_width * 3);
    if (!row || cairo_surface_status(s) != CAIRO_STATUS_SUCCESS) longjmp(je.jb, 1);
    unsigned char *px = cairo_image_surface_get_data(s);
    int stride = cairo_image_surface_get_stride(s);
    while (c.output_scanline < c.output_height) {
        unsigned char *rp = row;
        unsigned y = c.output_scanline;
        jpeg_read_scanlines(&c, &rp, 1);
        uint32_t *o = (uint32_t *)(px + (size_t)y * stride);
        for (unsigned x = 0; x < c.output_width; x++)
            o[x] = 0xFF000000u | (uint32_t)row[3 * x] << 16 | (uint32_t)row[3 * x + 1] << 8 | row[3 * x + 2];
    }
    jpeg_finish_decompress(&c);
    jpeg_destroy_decompress(&c);
    free(row);
    cairo_surface_mark_dirty(s);
    return s;
}

/* s (RGB24) as a JPEG of quality 85 into o. 0, or -1. */
static int jpeg_encode(cairo_surface_t *s, Out *o)
{
    struct jpeg_compress_struct c;
    JpegErr je;
    unsigned char *volatile out = NULL;
    unsigned long outlen = 0;
    unsigned char *volatile row = NULL;
    c.err = jpeg_std_error(&je.pub);
    je.pub.error_exit = jpeg_fail;
    if (setjmp(je.jb)) {
        jpeg_destroy_compress(&c);
        free(row);
        free(out);
        return -1;
    }
    jpeg_create_compress(&c);
    unsigned char *mem = NULL;
    jpeg_mem_dest(&c, &mem, &outlen);
    int w = cairo_image_surface_get_width(s), h = cairo_image_surface_get_height(s), stride = cairo_image_surface_get_stride(s);
    c.image_width = (JDIMENSION)w;
    c.image_height = (JDIMENSION)h;
    c.input_components = 3;
    c.in_color_space = JCS_RGB;
    jpeg_set_defaults(&c);
    jpeg_set_quality(&c, 85, TRUE);
    jpeg_start_compress(&c, TRUE);
    row = malloc((size_t)w * 3);
    if (!row) longjmp(je.jb, 1);
    cairo_surface_flush(s);
    const unsigned char *px = cairo_image_surface_get_data(s);
    while (c.next_scanline < c.image_height) {
        const uint32_t *in = (const uint32_t *)(px + (size_t)c.next_scanline * stride);
        for (int x = 0; x < w; x++) { row[3 * x] = in[x] >> 16 & 0xFF; row[3 * x + 1] = in[x] >> 8 & 0xFF; row[3 * x + 2] = in[x] & 0xFF; }
        unsigned char *rp = row;
        jpeg_write_scanlines(&c, &rp, 1);
    }
    jpeg_finish_compress(&c);
    out = mem;
    out_append(o, out, outlen);
    jpeg_destroy_compress(&c);
    free(row);
    free(out);
    return o->oom ? -1 : 0;
}

static int scale(const unsigned char *data, size_t n, int png, int ow, int oh, unsigned char **out, size_t *outlen)
{
    cairo_surface_t *src = NULL;
    if (png) {
        ReadCl rc = { data, n, 0 };
        src = cairo_image_surface_create_from_png_stream(png_read, &rc);
    } else src = jpeg_decode(data, n);
    if (!src || cairo_surface_status(src) != CAIRO_STATUS_SUCCESS) { if (src) cairo_surface_destroy(src); return -1; }
    int sw = cairo_image_surface_get_width(src), sh = cairo_image_surface_get_height(src);
    /* the source's format: an opaque PNG stays RGB (no alpha channel to store) */
    cairo_surface_t *dst = cairo_image_surface_create(cairo_image_surface_get_format(src) == CAIRO_FORMAT_ARGB32 ? CAIRO_FORMAT_ARGB32
                                                      : CAIRO_FORMAT_RGB24, ow, oh);
    cairo_t *cr = cairo_create(dst);
    cairo_scale(cr, (double)ow / sw, (double)oh / sh);
    cairo_set_source_surface(cr, src, 0, 0);
    cairo_pattern_set_filter(cairo_get_source(cr), CAIRO_FILTER_GOOD);   /* a box filter when shrinking */
    cairo_paint(cr);
    cairo_destroy(cr);
    cairo_surface_destroy(src);
    Out o = { 0 };
    int rc = png ? (cairo_surface_write_to_png_stream(dst, png_write, &o) == CAIRO_STATUS_SUCCESS ? 0 : -1) : jpeg_encode(dst, &o);
    cairo_surface_destroy(dst);
    if (rc || !o.n || o.oom) { free(o.p); return -1; }
    *out = o.p;
    *outlen = o.n;
    return 0;
}

static const FqlImageApi api = { FQL_IMAGE_ABI, scale };

EXPORT const FqlImageApi *fql_image_plugin(void)
{
    return &api;
}
