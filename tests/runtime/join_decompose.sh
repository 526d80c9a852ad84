#!/usr/bin/env bash
# Join decomposition (issue 15, item 3) against fql-sim in facts mode: a semantic self-join whose
# condition compares one property of each side runs, planned by one request to the model (or
# declared with `decompose: {property, labels, relation}`), as
# a classification of each side's texts plus a literally judged validation sample, and gives the
# pairs the facts make (F1 against the truth computed here); when the sample disagrees (a model
# with an error rate, or a condition that compares another property) the literal plan runs and
# says so; `rewrite: off` runs literally.
# usage: tests/runtime/join_decompose.sh BUILD_DIR
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/../lib/setup.sh"

N=256
# reviews.csv: id,t,sentiment,topic; facts.json: the same facts for the simulator
node "$HERE/../lib/reviews.js" films "$N" reviews.csv facts.json '{"default": 0, "gpt-4.1-nano": 0.2}'
echo '{"default": {"latency_ms": 0, "jitter_ms": 0}, "facts": "facts.json"}' > sim.json
source "$HERE/../lib/sim.sh"

DEC='decompose: {property: "sentiment", labels: ["positive", "negative"], relation: "equal"}'
SAME='Do these two reviews have the same sentiment? First: {{left.t}} Second: {{right.t}}'
# join MODEL K TEMPLATE OPTIONS: the self-join of the first K rows, as id,r2_id
join() {
  echo "model m = openai(\"$1\"); from csv(\"reviews.csv\") | where id < $2 | semantic join (from csv(\"reviews.csv\") | where id < $2) as r2
    on \"$3\" model m $4 | select id, r2_id"
}
# quality FILE K COL: precision recall f1 of FILE's pairs against the pairs whose COL (3 sentiment, 4 topic) is equal
quality() { node "$HERE/../lib/reviews.js" pairs "$1" "$2" "${3:-3}" "${4:-eq}"; }
ge() { awk -v x="$1" -v y="$2" 'BEGIN { exit !(x >= y) }'; }
tokens() { echo $(( $(stat_of "$1" input_tokens) + $(stat_of "$1" output_tokens) )); }

# ---- 256 rows, 65,536 pairs: decomposed, validated, the truth
before=$(reqs gpt-4o-mini)
"$FQL" --format csv -c "$(join gpt-4o-mini $N "$SAME" "$DEC")" > dec.csv 2> dec.err; rc=$?
n=$(( $(reqs gpt-4o-mini) - before ))
read -r p r f <<<"$(quality dec.csv $N)"
[[ $rc == 0 ]] && ge "$f" 0.95 && ok "decomposed: precision $p recall $r F1 $f" || bad "decomposed quality" "rc=$rc p=$p r=$r f=$f $(cat dec.err)"
# distinct texts + a validation sample of 100 pairs (no planning request: the decomposition is declared)
[[ $n -gt 0 && $n -le $((N + 100)) ]] && ok "decomposed: $n requests for $((N * N)) pairs (at most $((N + 100)))" || bad "decomposed requests" "$n"
grep -q "decomposed by sentiment (equal): $N + $N rows classified, [0-9]* pairs matched; agreement 1.000 on 100 sampled pairs judged literally (target 0.95)" dec.err \
  && ok "the summary line says it ran decomposed and the agreement" || bad "summary decomposed" "$(cat dec.err)"
out=$("$FQL" --format csv -c 'from system.query_metrics | where model == "m" | order by query_id desc | limit 1 | select requests' 2>&1)
[[ $out == $'requests\n'"$n" ]] && ok "query_metrics counts the decomposed plan's requests" || bad "query_metrics" "$out (sent $n)"

# ---- explain: both plans with their estimates, which one runs is decided at run time
q=$(join gpt-4o-mini $N "$SAME" "$DEC")
out=$("$FQL" -c "${q/; from/; explain from}" 2>&1)
grep -q 'decompose: sentiment (equal) \["positive", "negative"\], used when 100 pairs judged literally agree at 0.95 or more (~[0-9]* requests); else the literal plan (~[0-9]* requests for the pairs, the sample.s answers reused); which runs is decided at run time' <<<"$out" \
  && ok "explain shows both plans and their estimates" || bad "explain" "$out"
out=$("$FQL" -c "${q/; from/; explain analyze from}" 2>&1)
grep -A1 '^ *semantic join on' <<<"$out" | grep -q '| actual: .*decomposed by sentiment (equal): .*agreement 1.000 on 100 sampled pairs' \
  && ok "explain analyze says which plan ran and the agreement" || bad "explain analyze" "$out"

# ---- a model that errs (rate 0.2): the sample disagrees, the literal plan runs, with the literal answers
K=64
"$FQL" --format csv -c "$(join gpt-4.1-nano $K "$SAME" "rewrite: off")" > lit.csv 2> lit.err
before=$(reqs gpt-4.1-nano)
"$FQL" --format csv -c "$(join gpt-4.1-nano $K "$SAME" "$DEC")" > fb.csv 2> fb.err; rc=$?
n=$(( $(reqs gpt-4.1-nano) - before ))
grep -q 'decomposition by sentiment (equal) not used: it agreed with [0-9]* of 100 sampled pairs judged literally (0\.[0-9]*, below agreement 0.95), so the literal plan ran; every pair a candidate (4096)' fb.err \
  && ok "error rate 0.2: falls back to the literal plan and says so" || bad "fallback note" "$(cat fb.err)"
[[ $rc == 0 ]] && cmp -s fb.csv lit.csv && ok "the fallback's pairs are the literal plan's" || bad "fallback rows" "rc=$rc $(diff fb.csv lit.csv | head -5)"
[[ $n -le $((K + 100)) ]] && ok "the fallback reuses the literal answers from the cache ($n requests: the classification and the sample)" || bad "fallback requests" "$n"

# ---- a condition that compares another property: the sample disagrees, the literal plan runs
TOPIC='Are these two reviews about the same topic? First: {{left.t}} Second: {{right.t}}'
"$FQL" --format csv -c "$(join gpt-4o-mini $K "$TOPIC" "$DEC")" > tp.csv 2> tp.err; rc=$?
read -r p r f <<<"$(quality tp.csv $K 4)"
[[ $rc == 0 ]] && grep -q 'decomposition by sentiment (equal) not used' tp.err && [[ $f == 1.000 ]] \
  && ok "a condition on another property: the literal plan ran (F1 $f on topic)" || bad "topic" "rc=$rc f=$f $(cat tp.err)"

# ---- rewrite: off runs literally: no classification, every pair judged
before=$(reqs gpt-4o-mini)
"$FQL" --no-cache --format csv -c "$(join gpt-4o-mini $K "$SAME" "$DEC rewrite: off")" > off.csv 2> off.err; rc=$?
n=$(( $(reqs gpt-4o-mini) - before ))
read -r p r f <<<"$(quality off.csv $K)"
[[ $rc == 0 && $f == 1.000 ]] && ! grep -q 'decompos' off.err && grep -q 'every pair a candidate (4096)' off.err \
  && ok "rewrite: off runs the literal plan ($n requests, F1 $f)" || bad "rewrite off" "rc=$rc f=$f $(cat off.err)"
q=$(join gpt-4o-mini $K "$SAME" "$DEC rewrite: off")
out=$("$FQL" -c "${q/; from/; explain from}" 2>&1)
grep -q 'decompose: off (rewrite: off)' <<<"$out" && ok "explain says rewrite: off" || bad "explain rewrite off" "$out"

# ---- few pairs: the classifications and the sample would cost more than the pairs, so it is not tried
before=$(reqs gpt-4o-mini)
"$FQL" --no-cache --format csv -c "$(join gpt-4o-mini 8 "$SAME" "$DEC")" > few.csv 2> few.err; rc=$?
n=$(( $(reqs gpt-4o-mini) - before ))
# (the 64 pairs go out packed by default: a few requests, at most one a pair)
[[ $rc == 0 && $n -ge 1 && $n -le 64 ]] && grep -q 'decomposition by sentiment (equal) not tried: 64 pairs are no more requests than its 80' few.err \
  && grep -q 'every pair a candidate (64)' few.err && ok "8 x 8 rows: not tried, the 64 pairs judged literally ($n requests)" || bad "few pairs" "rc=$rc n=$n $(cat few.err)"

# ---- errors say what to write
out=$("$FQL" -c "$(join gpt-4o-mini 4 "$SAME" 'decompose: {property: "sentiment", relation: "equal"}')" 2>&1); rc=$?
[[ $rc != 0 && $out == *'decompose: takes {property: "sentiment", labels: ["positive", "negative"], relation: "equal"}'* ]] \
  && ok "decompose: without labels says what to write" || bad "decompose error" "$out"
out=$("$FQL" -c "$(join gpt-4o-mini 4 "$SAME" 'decompose: {property: "s", labels: ["a", "b"], relation: "like"}')" 2>&1); rc=$?
[[ $rc != 0 && $out == *'relation: equal, not equal, less or greater'* ]] && ok "an unknown relation is refused" || bad "relation error" "$out"
out=$("$FQL" -c "$(join gpt-4o-mini 4 "$SAME" "$DEC agreement: 2")" 2>&1); rc=$?
[[ $rc != 0 && $out == *'agreement: takes a fraction above 0 and at most 1'* ]] && ok "agreement: out of range is refused" || bad "agreement error" "$out"

# ---- planned (no decompose: written): one planning request finds the property, the labels (or a
#      number) and the relation; distinct texts + 1 + the validation sample, F1 against the facts
OPP='Do these two reviews have opposite sentiments? First: {{left.t}} Second: {{right.t}}'
HIGHER='Does the first review give a higher score than the second? First: {{left.t}} Second: {{right.t}}'
# run NAME MODEL K TEMPLATE OPTIONS: the join into NAME.csv / NAME.err; sets rc and n (requests sent)
run() {
  local before; before=$(reqs "$2")
  "$FQL" --format csv -c "$(join "$2" "$3" "$4" "$5")" > "$1.csv" 2> "$1.err"; rc=$?
  n=$(( $(reqs "$2") - before ))
}
for c in "same|$SAME|3|eq" "opposite|$OPP|3|ne" "higher|$HIGHER|5|gt"; do
  IFS='|' read -r name tpl col rel <<<"$c"
  run "auto-$name" gpt-4o-mini $N "$tpl" ""
  read -r p r f <<<"$(quality "auto-$name.csv" $N "$col" "$rel")"
  [[ $rc == 0 ]] && ge "$f" 0.95 && [[ $n -ge 1 && $n -le $((N + 1 + 100)) ]] && grep -q "^m (openai gpt-4o-mini): .*decomposed by " "auto-$name.err" \
    && ok "planned decomposition ($name): F1 $f (precision $p, recall $r) in $n requests (at most $((N + 1 + 100)))" \
    || bad "planned $name" "rc=$rc n=$n p=$p r=$r f=$f $(cat "auto-$name.err")"
done
grep -q 'decomposed by sentiment (not equal) planned \["negative", "positive"\]: 256 + 256 rows classified' auto-opposite.err \
  && ok "the summary says what the planning request answered" || bad "planned summary" "$(cat auto-opposite.err)"
grep -q 'decomposed by score (greater) planned as a number: 256 + 256 rows measured' auto-higher.err \
  && ok "a number compared: each side measured once" || bad "planned number" "$(cat auto-higher.err)"
# a rerun answers the planning request, the classifications and the sample from the cache
run auto-again gpt-4o-mini $N "$OPP" ""
[[ $rc == 0 && $n == 0 ]] && cmp -s auto-again.csv auto-opposite.csv && ok "rerun: nothing sent, the same pairs" || bad "rerun" "rc=$rc n=$n"
# the planned plan and the literal plan give the same pairs on 64 rows
run lit-opp gpt-4o-mini 64 "$OPP" "rewrite: off"
run auto-opp64 gpt-4o-mini 64 "$OPP" ""
[[ $rc == 0 ]] && cmp -s lit-opp.csv auto-opp64.csv && grep -q 'decomposed by sentiment' auto-opp64.err \
  && ok "64 rows: the planned decomposition's pairs are the literal plan's" || bad "planned vs literal" "$(diff lit-opp.csv auto-opp64.csv | head -3) $(cat auto-opp64.err)"
q=$(join gpt-4o-mini $N "$OPP" "")
out=$("$FQL" -c "${q/; from/; explain from}" 2>&1)
grep -q 'decompose: auto (one planning request asks the model whether the condition compares one property of each side, and which), used when 100 pairs judged literally agree at 0.95 or more (~[0-9]* requests); else the literal plan (~[0-9]* requests for the pairs' <<<"$out" \
  && ok "explain: the planned decomposition and both plans' estimates" || bad "explain planned" "$out"
out=$("$FQL" -c "${q/; from/; explain analyze from}" 2>&1)
grep -A1 '^ *semantic join on' <<<"$out" | grep -q '| actual: .*decomposed by sentiment (not equal) planned \["negative", "positive"\]' \
  && ok "explain analyze: the planning request's answer and which plan ran" || bad "explain analyze planned" "$out"
# a condition that needs both texts: the planning request finds no decomposition, the literal plan runs
REPLY='Does the first review answer the second? First: {{left.t}} Second: {{right.t}}'
run reply gpt-4o-mini 64 "$REPLY" ""
[[ $rc == 0 && $n -le $((64 * 64 + 1)) ]] && grep -q 'decomposition not used: the planning request answered that the condition does not compare one property of each side, so the literal plan ran; every pair a candidate (4096)' reply.err \
  && ok "no property compared: the literal plan ran and says why" || bad "not decomposable" "rc=$rc n=$n $(cat reply.err)"
# a model that errs (rate 0.2): planned, but the sample disagrees: the literal plan's pairs
run nano-lit gpt-4.1-nano 64 "$OPP" "rewrite: off"
run nano gpt-4.1-nano 64 "$OPP" ""
[[ $rc == 0 ]] && cmp -s nano.csv nano-lit.csv && grep -q 'decomposition by sentiment (not equal) planned .* not used: it agreed with' nano.err \
  && ok "error rate 0.2: the planned decomposition is refused by its sample, the literal pairs" || bad "planned fallback" "$(cat nano.err)"
# limit 10 after the 256-row self-join (half the pairs match): early stop, not the decomposition
before=$(reqs gpt-4o-mini)
"$FQL" --no-cache --format csv -c "model m = openai(\"gpt-4o-mini\"); from csv(\"reviews.csv\") | semantic join csv(\"reviews.csv\") as r2
  on \"$OPP\" model m | where id != r2_id | limit 10 | select id, r2_id" > lim.csv 2> lim.err; rc=$?
n=$(( $(reqs gpt-4o-mini) - before ))
[[ $rc == 0 && $(wc -l < lim.csv) == 11 && $n -le 40 ]] && grep -q 'decomposition not tried: a limit wants' lim.err \
  && ok "limit 10 after a 256-row self-join: $n requests (at most 40)" || bad "limit 10" "rc=$rc n=$n $(cat lim.err)"

finish
