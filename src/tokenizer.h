/* tokenizer.h: OpenAI's byte-pair encodings (o200k_base, cl100k_base), exact.
 *
 * Text is cut into pieces by the encoding's pre-tokenizer pattern (PCRE2, Unicode properties), and
 * each piece is encoded by merging byte pairs in rank order, as tiktoken does. The ranks and the
 * patterns come from the npm package tiktoken at build time (tools/tiktoken/gen_ranks.js writes
 * $(BUILD)/gen/tiktoken_ranks.c), so the library needs no file at run time.
 *
 * Text is ordinary text: special tokens such as <|endoftext|> are counted as the text they are
 * (tiktoken's encode_ordinary). Bytes that are not valid UTF-8 match no pattern; each run of them is
 * encoded as one piece (tiktoken itself only takes valid strings).
 * The tables are built on first use (thread-safe); everything else is reentrant.
 */
#ifndef FQL_TOKENIZER_H
#define FQL_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>

typedef enum { TOK_O200K, TOK_CL100K, TOK_NENC } TokEncoding;

/* One encoding as generated from the package: the token of rank r is lens[r] bytes (0: no token
 * has rank r) at the sum of the lengths before it in bytes. */
typedef struct TokData {
    const char *name;            /* "o200k_base" */
    uint32_t nranks;
    uint32_t nbytes;
    const char *pattern;         /* the pre-tokenizer regex (tiktoken's pat_str) */
    const unsigned char *lens;
    const unsigned char *bytes;
} TokData;

extern const TokData tok_data_o200k_base, tok_data_cl100k_base;

/* The encoding called name[0..n) ("o200k_base", "cl100k_base"), or -1. */
int tok_encoding_named(const char *name, size_t n);
const char *tok_encoding_name(TokEncoding e);

/* The encoding OpenAI's tokenizer uses for a model name ("gpt-4o-mini", "openai/gpt-4.1", "o3"):
 * o200k_base for gpt-4o, gpt-4.1, gpt-4.5, gpt-5, o1/o3/o4 and later; cl100k_base for gpt-4,
 * gpt-3.5 and text-embedding-*; -1 for names it does not know. */
int tok_encoding_for_model(const char *model);

/* The number of tokens of s[0..n), or -1 if the tokenizer could not be set up (out of memory;
 * *err then says why, when err is not NULL: a static string). */
int64_t tok_count(TokEncoding e, const char *s, size_t n, const char **err);

/* The tokens of s[0..n), as spans: tokens[i] ends at byte ends[i] (and starts where tokens[i-1]
 * ended); piece_end[i] is 1 when token i ends a pre-tokenizer piece. Arrays are malloc'ed and
 * owned by the caller (tok_spans_free). Returns 0, or -1 as tok_count does. */
typedef struct TokSpans { size_t n; size_t *ends; unsigned char *piece_end; } TokSpans;
int  tok_spans(TokEncoding e, const char *s, size_t n, TokSpans *out, const char **err);
void tok_spans_free(TokSpans *t);

#endif
