/* mkpdf.c: writes the PDFs the document tests read (tests/runtime/docs.sh), so that no test PDF is
 * downloaded or committed.
 *
 * usage: mkpdf DIR [COPIES]
 *   DIR/report.pdf     3 pages drawn with cairo: title and author metadata, headings in larger
 *                      fonts, a bullet list, a numbered list, a table laid out in columns, and
 *                      three embedded images (two on page 1, one on page 2)
 *   DIR/plain.pdf      1 page of body text, no metadata, no images
 *   DIR/form.pdf       a hand-written PDF with an AcroForm: a text field and a signature field
 *   DIR/encrypted.pdf  a hand-written PDF whose /Encrypt dictionary needs a user password
 *   DIR/broken.pdf     the first half of report.pdf (truncated: no xref, no trailer)
 *   DIR/notpdf.pdf     plain text with a .pdf name
 *   DIR/many/NNNN.pdf  COPIES small one-page PDFs (for measuring pdf_metadata's rate; default 0)
 */
#include <cairo.h>
#include <cairo-pdf.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static void die(const char *what, const char *path)
{
    fprintf(stderr, "mkpdf: %s %s: %s\n", what, path, strerror(errno));
    exit(1);
}

static char *path_of(const char *dir, const char *name)
{
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = malloc(n);
    if (!p) exit(1);
    snprintf(p, n, "%s/%s", dir, name);
    return p;
}

/* A w×h image whose pixels depend on seed, so that every image has different bytes. */
static cairo_surface_t *test_image(int w, int h, int seed)
{
    cairo_surface_t *img = cairo_image_surface_create(CAIRO_FORMAT_RGB24, w, h);
    unsigned char *px = cairo_image_surface_get_data(img);
    int stride = cairo_image_surface_get_stride(img);
    cairo_surface_flush(img);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            unsigned char *p = px + y * stride + x * 4;
            p[0] = (unsigned char)(x * 255 / w);
            p[1] = (unsigned char)(y * 255 / h);
            p[2] = (unsigned char)((x + y) * seed % 256);
            p[3] = 0xff;
        }
    cairo_surface_mark_dirty(img);
    return img;
}

static void text_at(cairo_t *cr, double x, double y, double size, int bold, const char *s)
{
    cairo_select_font_face(cr, "DejaVu Sans", CAIRO_FONT_SLANT_NORMAL, bold ? CAIRO_FONT_WEIGHT_BOLD : CAIRO_FONT_WEIGHT_NORMAL);
    cairo_set_font_size(cr, size);
    cairo_move_to(cr, x, y);
    cairo_show_text(cr, s);
}

static void image_at(cairo_t *cr, double x, double y, int w, int h, int seed)
{
    cairo_surface_t *img = test_image(w, h, seed);
    cairo_set_source_surface(cr, img, x, y);
    cairo_paint(cr);
    cairo_surface_destroy(img);
    cairo_set_source_rgb(cr, 0, 0, 0);
}

static void write_report(const char *path)
{
    cairo_surface_t *s = cairo_pdf_surface_create(path, 595, 842);
    cairo_pdf_surface_set_metadata(s, CAIRO_PDF_METADATA_TITLE, "Quarterly Report");
    cairo_pdf_surface_set_metadata(s, CAIRO_PDF_METADATA_AUTHOR, "Ada Tester");
    cairo_pdf_surface_set_metadata(s, CAIRO_PDF_METADATA_CREATE_DATE, "2024-03-05T10:20:30Z");
    cairo_pdf_surface_set_metadata(s, CAIRO_PDF_METADATA_MOD_DATE, "2024-04-01T08:00:00Z");
    cairo_t *cr = cairo_create(s);
    cairo_set_source_rgb(cr, 0, 0, 0);

    /* page 1: title, paragraph, a section with a bullet list, two images */
    text_at(cr, 72, 90, 24, 1, "Quarterly Report");
    text_at(cr, 72, 130, 11, 0, "Sales grew in every region this quarter.");
    text_at(cr, 72, 145, 11, 0, "The new product line did better than planned.");
    text_at(cr, 72, 185, 16, 1, "Highlights");
    text_at(cr, 72, 210, 11, 0, "\xe2\x80\xa2 Revenue grew by twelve percent");
    text_at(cr, 72, 225, 11, 0, "\xe2\x80\xa2 Costs stayed flat");
    text_at(cr, 72, 240, 11, 0, "\xe2\x80\xa2 Two new offices opened");
    image_at(cr, 72, 270, 64, 48, 3);
    image_at(cr, 200, 270, 32, 32, 7);
    text_at(cr, 72, 350, 11, 0, "The charts above show the trend.");
    cairo_show_page(cr);

    /* page 2: a table laid out in columns, an image */
    text_at(cr, 72, 90, 16, 1, "Results by region");
    static const char *const rows[4][3] = {
        { "Region", "Revenue", "Growth" },
        { "North", "1200", "12%" },
        { "South", "950", "8%" },
        { "West", "700", "15%" },
    };
    for (int r = 0; r < 4; r++)
        for (int c = 0; c < 3; c++) text_at(cr, 72 + 150 * c, 130 + 18 * r, 11, r == 0, rows[r][c]);
    image_at(cr, 72, 230, 80, 40, 11);
    text_at(cr, 72, 300, 11, 0, "All figures are in thousands.");
    cairo_show_page(cr);

    /* page 3: a subsection and a numbered list */
    text_at(cr, 72, 90, 13, 1, "Next steps");
    text_at(cr, 72, 115, 11, 0, "1. Hire two engineers");
    text_at(cr, 72, 130, 11, 0, "2. Open the Berlin office");
    text_at(cr, 72, 160, 11, 0, "Questions go to the finance team.");
    cairo_show_page(cr);

    cairo_destroy(cr);
    cairo_surface_finish(s);
    if (cairo_surface_status(s) != CAIRO_STATUS_SUCCESS) { fprintf(stderr, "mkpdf: cairo failed on %s\n", path); exit(1); }
    cairo_surface_destroy(s);
}

static void write_plain(const char *path, const char *line)
{
    cairo_surface_t *s = cairo_pdf_surface_create(path, 595, 842);
    cairo_t *cr = cairo_create(s);
    text_at(cr, 72, 90, 11, 0, line);
    cairo_show_page(cr);
    cairo_destroy(cr);
    cairo_surface_destroy(s);
}

/* A PDF written object by object, with a correct xref table. objs[i] is object i+1's body. */
static void write_raw(const char *path, const char *const *objs, int n, const char *trailer_extra)
{
    FILE *f = fopen(path, "wb");
    if (!f) die("cannot write", path);
    long *off = calloc((size_t)n, sizeof *off);
    fputs("%PDF-1.4\n%\xe2\xe3\xcf\xd3\n", f);
    for (int i = 0; i < n; i++) {
        off[i] = ftell(f);
        fprintf(f, "%d 0 obj\n%s\nendobj\n", i + 1, objs[i]);
    }
    long xref = ftell(f);
    fprintf(f, "xref\n0 %d\n0000000000 65535 f \n", n + 1);
    for (int i = 0; i < n; i++) fprintf(f, "%010ld 00000 n \n", off[i]);
    fprintf(f, "trailer\n<< /Size %d /Root 1 0 R %s >>\nstartxref\n%ld\n%%%%EOF\n", n + 1, trailer_extra, xref);
    free(off);
    if (fclose(f)) die("cannot write", path);
}

static void write_form(const char *path)
{
    static const char content[] = "BT /F1 12 Tf 72 760 Td (Please fill in and sign.) Tj ET";
    char stream[200];
    snprintf(stream, sizeof stream, "<< /Length %zu >>\nstream\n%s\nendstream", strlen(content), content);
    const char *const objs[] = {
        "<< /Type /Catalog /Pages 2 0 R /AcroForm << /Fields [5 0 R 6 0 R] >> >>",
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R "
        "/Resources << /Font << /F1 7 0 R >> >> /Annots [5 0 R 6 0 R] >>",
        stream,
        "<< /Type /Annot /Subtype /Widget /FT /Tx /T (name) /V (Ada) /Rect [72 700 300 720] /P 3 0 R >>",
        "<< /Type /Annot /Subtype /Widget /FT /Sig /T (signature) /Rect [72 640 300 680] /P 3 0 R >>",
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        "<< /Title (Application form) /Author (Form Office) /CreationDate (D:20230102030405Z) >>",
    };
    write_raw(path, objs, 8, "/Info 8 0 R");
}

/* /Encrypt with the standard handler and /O, /U values no password produces: poppler cannot open
 * it without the (non-existent) user password, as with any PDF that needs one. */
static void write_encrypted(const char *path)
{
    const char *const objs[] = {
        "<< /Type /Catalog /Pages 2 0 R >>",
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] >>",
        "<< /Filter /Standard /V 1 /R 2 /P -44 "
        "/O <0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef> "
        "/U <fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210> >>",
    };
    write_raw(path, objs, 4, "/Encrypt 4 0 R /ID [<00112233445566778899aabbccddeeff> <00112233445566778899aabbccddeeff>]");
}

static void write_truncated(const char *from, const char *to)
{
    FILE *f = fopen(from, "rb");
    if (!f) die("cannot read", from);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n);
    if (!buf || fread(buf, 1, (size_t)n, f) != (size_t)n) die("cannot read", from);
    fclose(f);
    FILE *g = fopen(to, "wb");
    if (!g || fwrite(buf, 1, (size_t)(n / 2), g) != (size_t)(n / 2) || fclose(g)) die("cannot write", to);
    free(buf);
}

int main(int argc, char **argv)
{
    if (argc < 2) { fprintf(stderr, "usage: mkpdf DIR [COPIES]\n"); return 2; }
    const char *dir = argv[1];
    int copies = argc > 2 ? atoi(argv[2]) : 0;
    mkdir(dir, 0777);
    char *report = path_of(dir, "report.pdf");
    write_report(report);
    char *p;
    write_plain(p = path_of(dir, "plain.pdf"), "Just one line of plain text."); free(p);
    write_form(p = path_of(dir, "form.pdf")); free(p);
    write_encrypted(p = path_of(dir, "encrypted.pdf")); free(p);
    write_truncated(report, p = path_of(dir, "broken.pdf")); free(p);
    FILE *f = fopen(p = path_of(dir, "notpdf.pdf"), "w");
    if (!f || fputs("this is not a PDF\n", f) < 0 || fclose(f)) die("cannot write", p);
    free(p);
    free(report);
    if (copies > 0) {
        char *many = path_of(dir, "many");
        mkdir(many, 0777);
        for (int i = 0; i < copies; i++) {
            char name[32], line[64];
            snprintf(name, sizeof name, "%04d.pdf", i);
            snprintf(line, sizeof line, "Document number %d.", i);
            write_plain(p = path_of(many, name), line);
            free(p);
        }
        free(many);
    }
    return 0;
}
