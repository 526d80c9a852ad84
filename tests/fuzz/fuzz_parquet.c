/* fuzz_parquet.c: libFuzzer harness for the Parquet reader. Writes the input to a file, opens it as
 * Parquet and reads every batch (all columns, then with every other column projected away);
 * checks that a failure always fills the error record. The reader is compiled into the harness with
 * instrumentation and a low PQ_MAX_ENTRIES (so a hostile header cannot ask for gigabytes); the rest
 * of the library comes from libfql.a.
 *
 * Build and run: FUZZ_SECONDS=300 make fuzz-parquet (seeds: tests/fuzz/corpus_parquet, small files
 * written by DuckDB, Polars and fql; the corpus grows in build/fuzz_corpus_parquet).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "io.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void read_all(const char *path, int project)
{
    ReadOptions o;
    read_options_init(&o, FMT_PARQUET);
    fql_error err;
    memset(&err, 0, sizeof err);
    Reader *r = reader_open(path, &o, &err);
    if (!r) {
        if (!err.code) abort();               /* failure must fill the error */
        return;
    }
    int *need = NULL;
    if (project) {
        /* the reader reads the projection at each row group: set it on a copy of the options */
        reader_free(r);
        need = calloc(64, sizeof *need);
        for (int i = 0; i < 64; i++) need[i] = i % 2;
        o.projection = need;
        r = reader_open(path, &o, &err);
        if (!r) abort();                      /* it opened a moment ago */
        if (reader_schema(r)->n > 64) { reader_free(r); free(need); return; }
    }
    Batch *b;
    int rc;
    while ((rc = reader_next(r, &b, &err)) == 1) batch_free(b);
    if (rc < 0 && !err.code) abort();
    reader_free(r);
    free(need);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char path[64];
    if (!path[0]) snprintf(path, sizeof path, "/tmp/fql-fuzz-parquet-%d.parquet", (int)getpid());
    FILE *f = fopen(path, "wb");
    if (!f) return 0;
    fwrite(data, 1, size, f);
    fclose(f);
    read_all(path, 0);
    read_all(path, 1);
    return 0;
}
