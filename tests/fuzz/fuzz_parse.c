/* fuzz_parse.c: libFuzzer harness for the front end. Feeds arbitrary bytes to parse_program and,
 * when it parses, dumps and clones the tree; checks that a failure always fills the error record.
 *
 * Build and run (about 10 minutes; the corpus grows in a scratch directory, seeds stay clean):
 *   make build/libfql.a   # generates build/gen/lexer.c and parser.c
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -std=c11 -D_GNU_SOURCE -Iinclude -Isrc -Ibuild/gen \
 *     tests/fuzz/fuzz_parse.c src/ast.c src/util.c build/gen/lexer.c build/gen/parser.c -o build/fuzz_parse
 *   mkdir -p /tmp/fuzz_corpus && build/fuzz_parse -max_total_time=600 -timeout=5 /tmp/fuzz_corpus tests/fuzz/corpus_parse
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "ast.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);          /* the parser needs a NUL after the text */
    memcpy(text, data, size);
    text[size] = 0;
    Src src;
    memset(&src, 0, sizeof src);
    src.name = "fuzz.fql";
    src.text = text;
    src.len = size;
    fql_error err;
    memset(&err, 0, sizeof err);
    Node *prog = parse_program(&src, &err);
    if (prog) {
        if (err.code) abort();               /* success must leave the error empty */
        Buf b;
        buf_init(&b);
        node_dump(&b, prog, 0);
        Node *copy = node_clone(prog);
        Buf c;
        buf_init(&c);
        node_dump(&c, copy, 0);
        if (b.len != c.len || memcmp(b.data, c.data, b.len) != 0) abort();   /* clone is exact */
        buf_free(&b);
        buf_free(&c);
        node_free(copy);
        node_free(prog);
    } else if (err.code != FQL_ERR_PARSE && err.code != FQL_ERR_INCOMPLETE) {
        abort();                             /* a failure always says why */
    } else if (err.line < 1 || err.column < 1 || !err.message[0]) {
        abort();
    }
    free(text);
    return 0;
}
