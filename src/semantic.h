/* semantic.h: the confidence of semantic answers (issue 16), for the cascade and for confidence().
 *
 * A provider that returns token log probabilities (OpenAI-compatible `logprobs`, Gemini
 * `responseLogprobs`; LmAnswer.tokens) lets each answer of a predicate or classify carry a
 * probability: the product of the probabilities of the tokens that spell the value inside the JSON
 * answer ("answer": true, "label": "spam"), for packed answers each row's own value tokens. It is
 * NAN when unknown (a provider or model without probabilities, a failed row): never invented.
 * The functions below the job accessor are pure (confidence.c) and unit-tested.
 */
#ifndef FQL_SEMANTIC_H
#define FQL_SEMANTIC_H

#include <stddef.h>
#include "models.h"
#include "runtime.h"

/* The probability of row's answer in job j (semantic_finish has returned, or semantic_job_ready):
 * in [0, 1], or NAN when the row has no valid answer or the provider gave no token probabilities.
 * Defined for predicate and classify jobs; NAN for the other operators. */
double semantic_job_confidence(const SemJob *j, size_t row);

/* The member of a JSON answer holding its value, for operator op (a SemOp): "answer" for predicate,
 * "label" for classify; NULL for the others (no confidence). */
const char *semantic_value_member(int op);

/* The byte span [*start, *end) of the value at path inside the JSON text: path is members and array
 * indexes separated by '/' ("label", "answers/3/answer", "task_2/label"); a string's span is its
 * contents without the quotes. Text before the first '{' or '[' is skipped (a fence). 0, or -1 when
 * the text is not JSON this scanner follows or the path is absent. Member names are compared
 * verbatim (no escapes). */
int json_value_span(const char *text, const char *path, size_t *start, size_t *end);

/* The probability that tokens t[0..n) (their texts concatenated from offset 0) give the bytes
 * [start, end): the product of exp(logprob) of every token overlapping the span (a token that also
 * holds quotes or punctuation counts whole). NAN when no token overlaps. */
double lm_tokens_span_prob(const LmTokenProb *t, int n, size_t start, size_t end);

/* The probability of the value at path in answer a, from its tokens (their concatenation is the
 * text scanned, as generated). NAN when a has no tokens or the path is not found. */
double lm_answer_confidence(const LmAnswer *a, const char *path);

/* Give a (text set: one row's part of a packed or fused answer) tokens that carry probability p for
 * its value at path: the text before the value, the value, the text after, with log probabilities
 * 0, log p, 0, so lm_answer_confidence(a, path) == p (also after the response cache). Nothing when p
 * is NAN or the path is absent. */
void lm_answer_set_value_prob(LmAnswer *a, const char *path, double p);

#endif
