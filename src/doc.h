/* doc.h: PDF documents through poppler-glib (src/io/pdf.c): page text as markdown and page images,
 * for parse_pdf() (func_doc.c). pdf_metadata() is a reader (io.h, FMT_PDF_META).
 *
 * Pages are numbered from 1. Images of a page are numbered from 1 in reading order (top to bottom,
 * then left to right), the same order in pdf_page_images() and in the markdown.
 */
#ifndef FQL_DOC_H
#define FQL_DOC_H

#include "util.h"

typedef struct PdfDoc PdfDoc;

/* Open path. NULL with *err (xasprintf'd: "the PDF is encrypted and needs a password", "not a
 * readable PDF: PDF document is damaged", errno's text) when it cannot be read. */
PdfDoc *pdf_open(const char *path, char **err);
void    pdf_close(PdfDoc *d);                 /* NULL-safe */
int     pdf_page_count(const PdfDoc *d);

typedef struct PdfImage {
    int page, index;              /* 1-based */
    int width, height;            /* pixels of the PNG (large images are scaled to fit 1568×1568) */
    unsigned char *png; size_t len;
} PdfImage;
/* The images of page as PNG. Returns how many (*out: array, free with pdf_images_free). */
int  pdf_page_images(PdfDoc *d, int page, PdfImage **out);
void pdf_images_free(PdfImage *v, int n);

/* Appends page's text as markdown to out: lines in larger fonts become headings (the largest size
 * in the document #, the next ##, ...), bullet and numbered lines list items, runs of lines whose
 * text falls into the same number of columns a table, other lines paragraphs. Image k of the page
 * is written by image(ud, page, k, out) where it stands on the page. */
typedef void (*PdfImageText)(void *ud, int page, int k, Buf *out);
void pdf_page_markdown(PdfDoc *d, int page, Buf *out, PdfImageText image, void *ud);

#endif
