/* fuzz_pipeline.c: libFuzzer harness for the whole pipeline. Each input is a script: a fresh
 * session (state database in memory, response cache off) parses, binds, optimizes and runs it,
 * printing results to /dev/null, and closes. Checks that a failure always fills the error record.
 *
 * Nothing reaches the network and nothing is written:
 *   - the session runs in the estimating mode of `explain cost` (semantic.c's dry run): model
 *     functions render their requests and get placeholder answers, `write` writes nothing;
 *   - inputs naming what would leave that mode or the process are skipped (REFUSED below: `explain
 *     cost` and `set budget` end the dry run, http_get_json and URLs fetch, paths outside the
 *     working directory);
 *   - in case something slips through anyway, every provider's base URL and every proxy variable
 *     curl reads point at a closed loopback port (127.0.0.1:9).
 * Run it from a scratch directory holding the data files the seeds read (tests/fuzz/ci.sh does).
 *
 * Build and run: tests/fuzz/ci.sh (FUZZ_SECONDS=60 by default), or `make fuzz-pipeline` to build
 * only ($(BUILD)-fuzz/fuzz_pipeline).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "fql.h"
#include "session.h"
#include "models.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Inputs containing one of these (in any case) are not run. */
static const char *const REFUSED[] = {
    "cost", "budget", "validate",         /* leave the dry run, or check keys with the providers */
    "http", "://", "remote",              /* fetch */
    "write",                              /* (the dry run writes nothing; belt and braces) */
    "\"/", "'/", "..", "~", "\\",         /* absolute paths, parent directories, escapes that spell them */
    NULL
};

static FILE *devnull;

static void quiet(void *ud, int level, const char *message)
{
    (void)ud; (void)level; (void)message;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc; (void)argv;
    static const char *const closed[][2] = {
        { "OPENAI_BASE_URL", "http://127.0.0.1:9/v1" }, { "ANTHROPIC_BASE_URL", "http://127.0.0.1:9" },
        { "GEMINI_BASE_URL", "http://127.0.0.1:9" }, { "VERTEX_BASE_URL", "http://127.0.0.1:9" },
        { "OPENROUTER_BASE_URL", "http://127.0.0.1:9/api/v1" }, { "COHERE_BASE_URL", "http://127.0.0.1:9" },
        { "OPENAI_API_KEY", "sk-fuzz" }, { "ANTHROPIC_API_KEY", "sk-ant-fuzz" }, { "GEMINI_API_KEY", "gm-fuzz" },
        { "GOOGLE_ACCESS_TOKEN", "ya29.fuzz" }, { "OPENROUTER_API_KEY", "sk-or-fuzz" }, { "COHERE_API_KEY", "co-fuzz" },
        { "http_proxy", "http://127.0.0.1:9" }, { "HTTPS_PROXY", "http://127.0.0.1:9" }, { "https_proxy", "http://127.0.0.1:9" },
        { "ALL_PROXY", "http://127.0.0.1:9" }, { "all_proxy", "http://127.0.0.1:9" }, { "FQL_DB", ":memory:" },
    };
    for (size_t i = 0; i < sizeof closed / sizeof closed[0]; i++) setenv(closed[i][0], closed[i][1], 1);
    unsetenv("NO_PROXY");
    unsetenv("no_proxy");
    unsetenv("GOOGLE_APPLICATION_CREDENTIALS");
    unsetenv("HF_TOKEN");
    devnull = fopen("/dev/null", "w");
    return 0;
}

/* Is the input one the harness runs (see REFUSED)? */
static int allowed(const char *text)
{
    for (int i = 0; REFUSED[i]; i++)
        if (strcasestr(text, REFUSED[i])) return 0;
    return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 65536) return 0;                 /* long inputs: tests/runtime/long_scripts.sh */
    char *text = malloc(size + 1);
    memcpy(text, data, size);
    text[size] = 0;
    if (strlen(text) != size || !allowed(text)) { free(text); return 0; }
    fql_options o;
    fql_options_init(&o);
    o.db_path = ":memory:";
    o.validate_keys = 0;
    o.progress = 0;
    o.cache = 0;
    o.out = devnull;
    o.log = quiet;
    fql_error err;
    memset(&err, 0, sizeof err);
    fql_session *s = fql_open(&o, &err);
    if (!s) abort();                            /* an in-memory session always opens */
    dry_begin(session_runtime(s));                /* nothing is sent, nothing written */
    fql_result *r = NULL;
    memset(&err, 0, sizeof err);
    int rc = fql_exec(s, text, "fuzz.fql", &r, &err);
    if (rc == 0 && err.code) abort();           /* success leaves the error empty */
    if (rc != 0 && (!err.code || !err.message[0])) abort();   /* a failure says why */
    if (rc != 0 && r) abort();                  /* and hands out no result */
    if (r) {
        size_t rows = fql_result_rows(r), cols = fql_result_cols(r);
        for (size_t i = 0; i < rows && i < 16; i++)
            for (size_t j = 0; j < cols; j++) {
                char *json = fql_result_json(r, i, j);
                fql_free(json);
            }
        fql_result_free(r);
    }
    fql_close(s);
    free(text);
    return 0;
}
