#!/usr/bin/env bash
# Join decomposition against fql-sim in facts mode: a semantic self-join of 256 generated reviews
# on "same sentiment" (65,536 pairs, half match), decomposed (declared with `decompose:`, or
# planned by one request when nothing is declared) and literal
# (`rewrite: off prefilter: off`, every pair judged), at a model error rate of 0 and 0.05 (where
# the validation sample disagrees and the literal plan runs). Requests, tokens and quality
# (precision, recall, F1 against the facts), each run on a fresh model name and a fresh state
# database (the cache is on: the self-join's two sides ask the same classifications once).
# usage: bench/plans/join_decompose.sh [BUILD_DIR] [ROWS]
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/../../tests/lib/setup.sh"
N=${2:-256}
node "$HERE/../../tests/lib/reviews.js" films "$N" reviews.csv facts.json '{"default": 0, "e3": 0.05, "e4": 0.05, "e6": 0.05}'
echo '{"default": {"latency_ms": 0, "jitter_ms": 0, "rpm": 10000000, "tpm": 10000000000}, "facts": "facts.json"}' > sim.json
source "$HERE/../../tests/lib/sim.sh"
quality() { node "$HERE/../../tests/lib/reviews.js" pairs "$1" "$2" "${3:-3}"; }
k=0
run() {  # run LABEL OPTIONS (a fresh model name eK and state database; e3, e4 and e6 err at a rate of 0.05)
  k=$((k + 1))
  FQL_DB="$PWD/state$k.db" "$FQL" --format csv -c "model m = openai(\"e$k\"); from csv(\"reviews.csv\") | semantic join csv(\"reviews.csv\") as r2
    on \"Do these two reviews have the same sentiment? First: {{left.t}} Second: {{right.t}}\" model m $2 | select id, r2_id" > out.$k 2> err.$k
  read -r p r f <<<"$(quality out.$k "$N")"
  local ran=literal
  grep -q 'decomposed by' err.$k && ran=decomposed
  printf '| %-44s | %-10s | %6d | %9d | %5s | %5s | %5s |\n' "$1" "$ran" "$(stat_of "e$k" requests)" \
    "$(( $(stat_of "e$k" input_tokens) + $(stat_of "e$k" output_tokens) ))" "$p" "$r" "$f"
}
DEC='decompose: {property: "sentiment", labels: ["positive", "negative"], relation: "equal"}'
echo "| $N x $N self-join, same sentiment | plan ran | requests | tokens | precision | recall | F1 |"
echo "| --- | --- | ---: | ---: | ---: | ---: | ---: |"
run "decompose, error rate 0" "$DEC"
run "rewrite: off (literal, every pair), error rate 0" "$DEC rewrite: off prefilter: off"
run "decompose, error rate 0.05 (falls back)" "$DEC prefilter: off"
run "rewrite: off, error rate 0.05" "$DEC rewrite: off prefilter: off"
run "planned (nothing declared), error rate 0" ""
run "planned, error rate 0.05 (falls back)" "prefilter: off"
