#!/usr/bin/env bash
# Packing by default against fql-sim in facts mode: 200 one-sentence reviews (sentiment known)
# through predicate, classify and extract, with the default (packed on gpt-4o-mini) and with
# `pack: 1`: requests, tokens a row and accuracy against the facts.
# usage: bench/plans/pack.sh [BUILD_DIR]
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/../../tests/lib/setup.sh"
node "$HERE/../../tests/lib/reviews.js" short 200 r.csv facts.json
echo '{"default": {"latency_ms": 2, "jitter_ms": 2}, "facts": "facts.json"}' > sim.json
source "$HERE/../../tests/lib/sim.sh"
awk -F, 'NR > 1 { print $1 "," ($2 ~ /wonderful/ ? "positive" : "negative") }' r.csv > truth.csv
k=0
run() {  # run LABEL EXPR PACK: EXPR's answer per row mapped to positive/negative by the query
  k=$((k + 1))
  local e=${2//MODEL/m$k}; e=${e//PACK/$3}
  "$FQL" --no-cache --format csv -c "type S = { sentiment: string }; model m$k = openai(\"gpt-4o-mini\"); from csv(\"r.csv\") | derive a = $e | select n, a" > out.$k 2>/dev/null
  local met acc
  met=$("$FQL" --format csv -c "from system.query_metrics | where model == \"m$k\" | select requests, rows, input_tokens, output_tokens" | tail -n 1)
  IFS=, read -r rq rows it ot <<< "$met"
  acc=$(tail -n +2 out.$k | paste -d, - truth.csv | awk -F, '{ n++; if ($2 == $4) c++ } END { printf "%.3f", c / n }')
  printf '| %-34s | %-9s | %5d | %7d + %5d | %5.1f | %s |\n' "$1" "$(p=${3#, }; echo "${p:-default}")" "$rq" "$it" "$ot" "$(echo "($it + $ot) / $rows" | bc -l)" "$acc"
}
echo "| operator | pack | requests | input + output tokens | tokens/row | accuracy |"
echo "| --- | --- | ---: | ---: | ---: | ---: |"
P='if(predicate("Is this review positive? {{t}}", model: "MODEL"PACK), "positive", "negative")'
C='classify(t, ["positive", "negative"], model: "MODEL"PACK)'
X='extract(t, S, model: "MODEL"PACK).sentiment'
for e in P C X; do
  name=$([[ $e == P ]] && echo "predicate (one-sentence review)" || { [[ $e == C ]] && echo classify || echo "extract {sentiment}"; })
  run "$name" "${!e}" ''
  run "$name" "${!e}" ', pack: 1'
done
kill -TERM $simpid; wait $simpid
