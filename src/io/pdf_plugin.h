/* pdf_plugin.h: the function table between libfql (pdf.c) and its PDF plugin fql-pdf.so
 * (pdf_poppler.c, linked with poppler-glib and cairo). pdf.c loads the plugin with dlopen on the
 * first PDF call, so that start-up loads none of those libraries. Only plain C crosses: strings and
 * arrays are malloc'd by the side that returns them and freed with free() by the other; a document
 * is an opaque pointer.
 */
#ifndef FQL_PDF_PLUGIN_H
#define FQL_PDF_PLUGIN_H

#include <stddef.h>

#define FQL_PDF_ABI 1
#define FQL_PDF_PLUGIN "fql-pdf.so"

typedef struct FqlPdfImage { int width, height; unsigned char *png; size_t len; } FqlPdfImage;

typedef struct FqlPdfMeta {
    char *title, *author;          /* NULL when absent or empty */
    long long created, modified;   /* seconds since the epoch; -1 when absent */
    int pages, forms, sigs, restricted;   /* restricted: permissions short of full (encrypted) */
    long long images;
} FqlPdfMeta;

typedef struct FqlPdfApi {
    int abi;                                                  /* FQL_PDF_ABI */
    void *(*open)(const char *path, char **err);              /* NULL with *err (a message) */
    void  (*close)(void *doc);
    int   (*page_count)(void *doc);
    /* the images of page (1-based) in reading order, PNG scaled to fit 1568x1568: how many, *out an array */
    int   (*page_images)(void *doc, int page, FqlPdfImage **out);
    /* page as markdown; image(ud, page, k) gives the text standing for its k-th image (or NULL) */
    char *(*page_markdown)(void *doc, int page, char *(*image)(void *ud, int page, int k), void *ud);
    void  (*meta)(void *doc, FqlPdfMeta *m);
} FqlPdfApi;

/* The plugin's one exported symbol. */
const FqlPdfApi *fql_pdf_plugin(void);
typedef const FqlPdfApi *(*FqlPdfPluginFn)(void);
#define FQL_PDF_SYMBOL "fql_pdf_plugin"

#endif
