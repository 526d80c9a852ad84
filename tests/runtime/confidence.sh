#!/usr/bin/env bash
# confidence() against fql-sim (issue 16, items 1 and 4): token probabilities asked of the models
# that give them (OpenAI logprobs, Gemini responseLogprobs), one request for a value and its
# confidence, probabilities kept by the response cache, packed rows, null for Anthropic with
# explain saying so, and in facts mode wrong answers less confident than right ones.
# usage: tests/runtime/confidence.sh BUILD_DIR
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/../lib/setup.sh"

N=200
node "$HERE/../lib/reviews.js" films "$N" reviews.csv facts.json '{"default": 0.2}'
echo '{"facts": "facts.json"}' > sim.json
source "$HERE/../lib/sim.sh"
within() { awk -v x="$1" -v lo="$2" -v hi="$3" 'BEGIN { exit !(x >= lo && x <= hi) }'; }

# 1. a label and its confidence, in one request a row (OpenAI-compatible logprobs)
Q='model m = openai("gpt-4o-mini");
  from csv("reviews.csv") | derive l = classify(t, ["positive", "negative"], model: m, pack: 1),
    c = confidence(classify(t, ["positive", "negative"], model: m, pack: 1))
  | select id, sentiment, l, c'
"$FQL" --format csv -c "$Q" > one.csv 2> one.err || bad run "$(head -c 400 one.err)"
n=$(reqs gpt-4o-mini)
rows=$(awk -F, 'NR > 1 && $4 != "" && $4 > 0 && $4 <= 1 { k++ } END { print k + 0 }' one.csv)
[[ $n == "$N" && $rows == "$N" ]] && ok "classify and confidence(classify) of $N rows: $n requests, every confidence in (0, 1]" \
  || bad one-request "requests $n, rows with a confidence $rows: $(head -3 one.csv) $(head -c 300 one.err)"

# 2. wrong answers (against the facts) are less confident on average, with overlap
read -r mr mw nw minr maxw <<< "$(awk -F, 'NR > 1 { if ($2 == $3) { r += $4; nr++; if (minr == "" || $4 < minr) minr = $4 }
  else { w += $4; nw++; if ($4 > maxw) maxw = $4 } } END { printf "%.3f %.3f %d %s %s\n", r / nr, w / (nw ? nw : 1), nw, minr, maxw }' one.csv)"
if [[ $nw -gt 10 ]] && awk -v a="$mr" -v b="$mw" 'BEGIN { exit !(a > b + 0.1) }' && awk -v a="$minr" -v b="$maxw" 'BEGIN { exit !(a < b) }'; then
  ok "facts mode, error rate 0.2: mean confidence right $mr > wrong $mw ($nw wrong), overlapping (right min $minr < wrong max $maxw)"
else bad calibration "right $mr, wrong $mw ($nw wrong), right min $minr, wrong max $maxw"; fi

# 3. a rerun answers from the cache with the same confidences (the tokens are stored with the answer)
"$FQL" --format csv -c "$Q" > again.csv 2> again.err
n2=$(reqs gpt-4o-mini)
cmp -s one.csv again.csv && [[ $n2 == "$n" ]] && ok "a rerun from the response cache gives the same confidences, no request" \
  || bad cache "requests $n -> $n2; $(diff one.csv again.csv | head -4)"

# 4. packed rows: each row's own value tokens; the same confidences as single requests
"$FQL" --no-cache --format csv -c "model m = openai(\"gpt-4o-mini\");
  from csv(\"reviews.csv\") | derive c = confidence(classify(t, [\"positive\", \"negative\"], model: m, pack: 10)) | select id, c" > packed.csv 2> packed.err
n3=$(reqs gpt-4o-mini)
cut -d, -f1,4 one.csv > single.csv
cmp -s single.csv packed.csv && [[ $((n3 - n2)) == 20 ]] && ok "pack: 10 (20 requests): each row's confidence from its own tokens, as asked alone" \
  || bad packed "requests $((n3 - n2)); $(diff single.csv packed.csv | head -4) $(head -c 300 packed.err)"

# 5. predicate: the probability of the answer given; Gemini's responseLogprobs
"$FQL" --no-cache --format csv -c "model g = gemini(\"gemini-2.0-flash\");
  from csv(\"reviews.csv\") | where id < 50 | derive p = predicate(\"Is {{t}} positive?\", model: g, pack: 1),
    c = confidence(predicate(\"Is {{t}} positive?\", model: g, pack: 1)) | select id, p, c" > gem.csv 2> gem.err
ng=$(reqs gemini-2.0-flash)
gr=$(awk -F, 'NR > 1 && $3 != "" && $3 > 0 && $3 <= 1 { k++ } END { print k + 0 }' gem.csv)
[[ $ng == 50 && $gr == 50 ]] && ok "Gemini (responseLogprobs): predicate and its confidence, 50 rows in 50 requests" \
  || bad gemini "requests $ng, rows $gr: $(head -3 gem.csv) $(head -c 300 gem.err)"

# 6. Anthropic gives no token probabilities: confidence is null (never invented), explain says so
AM='model a = anthropic("claude-haiku-4-5");'
A='from csv("reviews.csv") | where id < 5 | derive c = confidence(predicate("Is {{t}} positive?", model: a)) | select id, c'
"$FQL" --no-cache --format csv -c "$AM $A" > anth.csv 2> anth.err
nulls=$(awk -F, 'NR > 1 && $2 == "" { k++ } END { print k + 0 }' anth.csv)
[[ $nulls == 5 ]] && ok "Anthropic: confidence is null on every row" || bad anthropic "$(cat anth.csv) $(head -c 300 anth.err)"
"$FQL" -c "$AM explain $A" > explain.txt 2>&1
grep -q "confidence(predicate) is null: model 'a' (anthropic \"claude-haiku-4-5\") gives no token probabilities" explain.txt \
  && ok "explain says Anthropic's model gives no token probabilities" || bad explain "$(cat explain.txt)"
"$FQL" -c 'model m = openai("gpt-4o-mini"); explain from csv("reviews.csv") | derive c = confidence(classify(t, ["a", "b"], model: m))' > explain2.txt 2>&1
grep -q "confidence(classify): token probabilities of 'm'" explain2.txt && ok "explain names the model whose token probabilities are used" \
  || bad explain2 "$(cat explain2.txt)"

# 7. confidence() takes a predicate or classify call
"$FQL" -c 'model m = openai("gpt-4o-mini"); from csv("reviews.csv") | derive c = confidence(t)' > e.txt 2>&1
grep -q "confidence() takes one predicate(...) or classify(...) call" e.txt && ok "confidence(t) of a plain column is refused with what to write" || bad refuse "$(cat e.txt)"
# confidence(x) of a column x a classify computed, in the same stage and after a select: the same
# request (nothing more sent) and the same numbers as confidence(classify(...)) next to the call
before=$(reqs gpt-4o-mini)
"$FQL" --format csv -c 'model m = openai("gpt-4o-mini"); from csv("reviews.csv") | where id < 20
  | derive s = classify(t, ["positive", "negative"], model: m), c1 = confidence(s) | select id, t, s as lab, c1
  | derive c2 = confidence(lab), c3 = confidence(classify(t, ["positive", "negative"], model: m)) | select id, c1, c2, c3' > cc.csv 2> cc.err
n=$(( $(reqs gpt-4o-mini) - before ))
same=$(awk -F, 'NR > 1 && $2 != "" && $2 == $3 && $3 == $4 { k++ } END { print k + 0 }' cc.csv)
[[ $same == 20 && $n -le 1 ]] && ok "confidence(column): 20 rows equal to confidence(call), $n request(s)" || bad conf-col "same $same, requests $n: $(head -3 cc.csv) $(head -c 300 cc.err)"
"$FQL" -c 'model m = openai("gpt-4o-mini"); from csv("reviews.csv") | derive s = classify(t, ["a", "b"], model: m) | derive t = upper(t) | derive c = confidence(s)' > e3.txt 2>&1
grep -q "confidence(s): the call that computed 's' reads columns that a later stage drops or recomputes" e3.txt \
  && ok "confidence(column) whose call's input was recomputed is refused, located" || bad conf-col-refused "$(cat e3.txt)"
"$FQL" -c 'model a = anthropic("claude-haiku-4-5", logprobs: true); from csv("reviews.csv") | select id' > e2.txt 2>&1
grep -q "logprobs: true needs a provider that returns token probabilities" e2.txt && ok "logprobs: true is refused for Anthropic" || bad refuse2 "$(cat e2.txt)"
finish
