/* gen.c: writes the benchmark table: N rows (default 3,000,000) of
 *   id int, category string (50 distinct), region string (10), amount float, qty int, note text
 * (a date column would push the file well past the 80 MB the benchmark calls for)
 * as CSV to the file named by argv[1]. Deterministic (a fixed LCG seed), about 80 MB at 3M rows.
 * Usage: gen OUT.csv [ROWS] */
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>

static uint64_t state = 0x9E3779B97F4A7C15ull;

static uint32_t rnd(void)
{
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    return (uint32_t)(state >> 33);
}

int main(int argc, char **argv)
{
    if (argc < 2) { fprintf(stderr, "usage: gen OUT.csv [ROWS]\n"); return 2; }
    long rows = argc > 2 ? atol(argv[2]) : 3000000;
    static const char *regions[10] = { "eu", "us", "ap", "la", "me", "uk", "ca", "jp", "in", "au" };
    static const char *notes[8] = { "", "", "", "", "rush", "gift", "fragile, dry", "\"vip\"" };
    char cats[50][8];
    for (int i = 0; i < 50; i++) snprintf(cats[i], sizeof cats[i], "cat%02d", i);
    FILE *f = fopen(argv[1], "w");
    if (!f) { perror(argv[1]); return 1; }
    static char buf[1 << 20];
    setvbuf(f, buf, _IOFBF, sizeof buf);
    fputs("id,category,region,amount,qty,note\n", f);
    for (long i = 1; i <= rows; i++) {
        uint32_t a = rnd() % 100000;            /* amount in cents: 0.00 .. 999.99 */
        const char *note = notes[rnd() % 8];
        fprintf(f, "%ld,%s,%s,%u.%02u,%u,", i, cats[rnd() % 50], regions[rnd() % 10],
                a / 100, a % 100, 1 + rnd() % 20);
        if (note[0] == '"') fputs("\"\"\"vip\"\"\"", f);
        else if (strchr(note, ',')) fprintf(f, "\"%s\"", note);
        else fputs(note, f);
        fputc('\n', f);
    }
    if (fclose(f) != 0) { perror(argv[1]); return 1; }
    return 0;
}
