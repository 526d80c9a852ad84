/* image_plugin.h: the function table between libfql (media.c) and its image plugin fql-image.so
 * (image_cairo.c, linked with cairo and libjpeg), which scales PNG and JPEG images down to a
 * provider's limits. media.c loads it with dlopen (plugin_load, io.h) the first time an image must
 * be scaled, so that start-up loads neither library. Only plain C crosses: the bytes returned are
 * malloc'd by the plugin and freed with free() by libfql.
 */
#ifndef FQL_IMAGE_PLUGIN_H
#define FQL_IMAGE_PLUGIN_H

#include <stddef.h>

#define FQL_IMAGE_ABI 1
#define FQL_IMAGE_PLUGIN "fql-image.so"
#define FQL_IMAGE_SYMBOL "fql_image_plugin"

typedef struct FqlImageApi {
    int abi;   /* FQL_IMAGE_ABI */
    /* The image data[0..n) (a PNG when png, else a JPEG) scaled to w x h and encoded again in its
     * own format (a JPEG at quality 85; an opaque PNG stays without alpha): 0 with *out (malloc'd)
     * and *outlen, or -1 when it cannot be decoded (then it is sent as it is). */
    int (*scale)(const unsigned char *data, size_t n, int png, int w, int h, unsigned char **out, size_t *outlen);
} FqlImageApi;

/* The plugin's one exported symbol. */
const FqlImageApi *fql_image_plugin(void);

#endif
