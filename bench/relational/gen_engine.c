/* gen_engine.c: the tables of the engine shapes (engine.sh), as CSV, deterministic (a fixed LCG).
 *   FACT: N rows (default 3,000,000) of
 *     id int, grp int (1,000 groups), k int (0..109,999: 100k match the dimension, 1 in 11 does
 *     not; 1 in 50 is empty, a null), x float, s string (20-60 characters of mixed-case words), d date
 *   DIM: 100,000 rows of dk int (0..99,999), name string, cat string (50 values)
 * Usage: gen_engine FACT.csv DIM.csv [ROWS] */
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>

static uint64_t state = 0x2545F4914F6CDD1Dull;

static uint32_t rnd(void)
{
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    return (uint32_t)(state >> 33);
}

int main(int argc, char **argv)
{
    if (argc < 3) { fprintf(stderr, "usage: gen_engine FACT.csv DIM.csv [ROWS]\n"); return 2; }
    long rows = argc > 3 ? atol(argv[3]) : 3000000;
    static const char *words[16] = { "Alpha", "beta", "GAMMA", "delta", "Echo", "fox", "Golf", "hotel",
                                     "India", "juliet", "Kilo", "lima", "MIKE", "november", "Oscar", "papa" };
    FILE *f = fopen(argv[1], "w"), *g = fopen(argv[2], "w");
    if (!f || !g) { perror("gen_engine"); return 1; }
    static char buf[1 << 20];
    setvbuf(f, buf, _IOFBF, sizeof buf);
    fputs("id,grp,k,x,s,d\n", f);
    for (long i = 1; i <= rows; i++) {
        char s[80];
        size_t n = 0, want = 20 + rnd() % 41;
        while (n < want) {
            const char *w = words[rnd() % 16];
            size_t wl = strlen(w);
            if (n) s[n++] = ' ';
            memcpy(s + n, w, wl);
            n += wl;
        }
        if (n > want) n = want;
        s[n] = 0;
        uint32_t k = rnd() % 110000, x = rnd() % 1000000;
        int day = 1 + (int)(rnd() % 28), month = 1 + (int)(rnd() % 12);
        fprintf(f, "%ld,%u,", i, rnd() % 1000);
        if (rnd() % 50) fprintf(f, "%u", k);
        fprintf(f, ",%u.%03u,%s,2024-%02d-%02d\n", x / 1000, x % 1000, s, month, day);
    }
    fputs("dk,name,cat\n", g);
    for (int k = 0; k < 100000; k++) fprintf(g, "%d,item%d,cat%02u\n", k, k, rnd() % 50);
    if (fclose(f) != 0 || fclose(g) != 0) { perror("gen_engine"); return 1; }
    return 0;
}
