#!/usr/bin/env bash
# reduce() against fql-sim: one answer per group, hierarchical when a group is larger than the
# model's context window, a group of one value, an empty group, order_by.
# usage: tests/runtime/reduce.sh BUILD_DIR
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/../lib/setup.sh"
echo '{"default": {"latency_ms": 5, "jitter_ms": 5}}' > sim.json
source "$HERE/../lib/sim.sh"

{ echo "g,n,text"; for i in $(seq 1 60); do echo "$((i % 3)),$i,review number $i says the product is quite good but shipping was slow and support was kind"; done
  echo "7,100,the only review of group seven"; echo "9,99,"; } > r.csv
Q='from csv("r.csv") | group by g agg s = reduce("Summarize the reviews in one sentence", text, order_by: n), k = count(*) | order by g'
"$FQL" --no-cache --format csv -c "model small = openai(\"small-window\", context_window: 400); $Q" > small.csv 2>err1; rc=$?
ns=$(reqs small-window)
"$FQL" --format csv -c "model big = openai(\"big-window\", context_window: 128000); $Q" > big.csv 2>err2
nb=$(reqs big-window)
[[ $rc == 0 && $(wc -l < small.csv) == 6 ]] && ok "one row per group" || bad rows "rc=$rc $(cat small.csv) $(cat err1)"
[[ $nb == 4 ]] && ok "groups that fit the window: one request each (4)" || bad big "big-window saw $nb requests"
[[ $ns -gt 6 ]] && ok "groups larger than a 400-token window: reduced hierarchically ($ns requests)" || bad hierarchical "small-window saw $ns requests"
grep -q '^7,Simulated' big.csv && ok "a group of one value gets an answer" || bad one "$(cat big.csv)"
grep -q '^9,,1$' big.csv && ok "a group with no values is null" || bad empty "$(cat big.csv)"
for f in small.csv big.csv; do [[ $(grep -c '^[0-2],Simulated' $f) == 3 ]] || bad answers "$f: $(cat $f)"; done && ok "every group's answer is the model's"
# order_by decides the order of the items in the prompt: a different order is a different request
# (with the response cache on: the group of one value is answered from it)
"$FQL" --format csv -c "model big = openai(\"big-window\", context_window: 128000); ${Q/order_by: n/order_by: -n}" > rev.csv 2>/dev/null
nb2=$(reqs big-window)
[[ $nb2 == 7 ]] && ok "order_by changes the prompt (3 new requests for the 3 multi-value groups)" || bad order "requests $nb2, wanted 7"
out=$("$FQL" -c "model big = openai(\"big-window\"); from csv(\"r.csv\") | derive x = reduce(\"a\", text)" 2>&1)
[[ $out == *"reduce() is an aggregate"* ]] && ok "reduce outside agg: a clear error" || bad outside "$out"
finish
