#!/usr/bin/env bash
# The optimizer and streaming, counted at fql-sim: how many requests a script makes, and how long
# two stages on two providers take together.
# usage: tests/runtime/optimizer.sh BUILD_DIR
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/../lib/setup.sh"
cat > sim.json <<'J'
{"default": {"latency_ms": 5, "jitter_ms": 5},
 "models": {"stage-a": {"rpm": 1200, "latency_ms": 40},
            "claude-stage-b": {"rpm": 1200, "latency_ms": 40}}}
J
source "$HERE/../lib/sim.sh"

# 40 tickets, 4 distinct texts
{ echo "n,text"; for i in $(seq 1 40); do echo "$i,ticket about topic $((i % 4)) that needs an answer"; done; } > t.csv
M='model m1 = openai("m1"); model m2 = openai("m2"); model m3 = openai("m3"); model m4 = openai("m4");
model m5 = openai("m5"); model m6 = openai("m6"); model m7 = openai("m7"); model m8 = openai("m8");'

# 1. a cheap filter written after the model stage runs first: requests = rows that pass
"$FQL" --no-cache -c "$M from csv(\"t.csv\") | derive c = classify(concat(text, ' #', n), [\"bug\", \"billing\"], model: \"m1\") | where n % 4 == 0" >out1 2>err1
n=$(reqs m1); [[ $n == 10 ]] && ok "cheap filter first: 10 requests for the 10 rows that pass" || bad filter-first "m1 saw $n requests, wanted 10 ($(cat err1))"

# 2. limit 5 sends at most 5
"$FQL" --no-cache -c "$M from csv(\"t.csv\") | derive s = map(concat(text, ' #', n), instructions: \"shorten\", model: \"m2\") | limit 5" >out2 2>err2
n=$(reqs m2); rows=$(grep -c '│' out2)
[[ $n == 5 ]] && ok "limit 5: 5 requests" || bad limit "m2 saw $n requests, wanted 5 ($(cat err2))"

# 3. an unread model column sends nothing
"$FQL" --no-cache -c "$M from csv(\"t.csv\") | derive s = map(text, instructions: \"shorten\", model: \"m3\") | select n" >out3 2>err3
n=$(reqs m3); [[ $n == 0 ]] && ok "unread model column: no request" || bad prune "m3 saw $n requests, wanted 0"

# 4. repeated texts are sent once (40 rows, 4 texts)
"$FQL" --no-cache -c "$M from csv(\"t.csv\") | derive c = classify(text, [\"bug\", \"billing\"], model: \"m4\")" >out4 2>err4
n=$(reqs m4); [[ $n == 4 ]] && ok "repeated texts: 4 requests for 40 rows" || bad dedup "m4 saw $n requests, wanted 4"

# 5. a let with model calls used twice is computed once (the response cache is off, so only the
#    materialized let can prevent the second round)
cat > let.fql <<F
$M
let labeled = from csv("t.csv") | derive c = classify(concat(text, ' #', n), ["bug", "billing"], model: "m5");
from labeled | group by c agg k = count(*);
from labeled | where n < 3 | select n, c;
F
"$FQL" --no-cache let.fql >out5 2>err5; rc=$?
n=$(reqs m5); [[ $rc == 0 && $n == 40 ]] && ok "reused let: computed once (40 requests)" || bad let-once "rc=$rc m5 saw $n requests, wanted 40 ($(cat err5))"
"$FQL" --no-cache -c "$(cat let.fql) explain from labeled | select n, c;" > ex5 2>&1
grep -q 'cache  .*-- result computed earlier in this session will be used' ex5 && ok "explain marks the reused let's cache point" || bad explain-let "$(cat ex5)"

# 6. a cache stage is stored: the next run reads it back (no model work at all), and explain says so
CS="from csv(\"t.csv\") | derive c = classify(concat(text, ' #', n), [\"bug\", \"billing\"], model: \"m6\") | cache | select n, c"
"$FQL" --format csv -c "$M $CS" >out6a 2>err6a
n=$(reqs m6)
"$FQL" -c "$M explain $CS" >ex6 2>&1 || true
"$FQL" --format csv -c "$M $CS" >out6b 2>err6b
n2=$(reqs m6)
if [[ $n == 40 && $n2 == 40 ]] && cmp -s out6a out6b && ! grep -q '^m6 (openai' err6b; then ok "cache stage: the second run reads the stored rows (no model work)"
else bad cache-stage "requests $n then $n2; second stderr: $(cat err6b)"; fi
grep -q 'stored result will be used' ex6 && ok "explain: the stored result will be used" || bad explain-cache "$(cat ex6)"
touch -d '2001-01-01' t.csv
"$FQL" -c "$M explain $CS" >ex6c 2>&1 || true
grep -q 'computed once and stored' ex6c && ok "a changed input invalidates the stored result" || bad cache-invalidate "$(cat ex6c)"

# 7. explain cost within 25% of the tokens measured at the simulator
CO="$M from csv(\"t.csv\") | derive c = classify(concat(text, ' #', n), [\"bug\", \"billing\", \"other\"], model: \"m7\")"
"$FQL" -c "explain $CO" > /dev/null 2>&1   # (statement form check)
est=$("$FQL" -c "${CO/from csv/explain cost from csv}" 2>&1)
est_tok=$(echo "$est" | sed -n 's/.*~\([0-9]*\) input + ~\([0-9]*\) output tokens.*/\1 \2/p' | head -1)
"$FQL" --no-cache -c "$CO" >/dev/null 2>err7
in=$(stat_of m7 input_tokens); out=$(stat_of m7 output_tokens)
read -r ein eout <<<"$est_tok"
if [[ -n ${ein:-} ]] && node -e "const e=$ein+$eout, m=$in+$out; process.exit(Math.abs(e-m)/m <= 0.25 ? 0 : 1)"; then
  ok "explain cost: ~$((ein + eout)) tokens estimated, $((in + out)) measured"
else bad explain-cost "estimate '$est_tok' vs measured $in + $out: $est"; fi
echo "$est" | grep -q '40 rows, ~40 requests' && ok "explain cost counts the requests" || bad explain-cost-requests "$est"

# 8. the budget: refused when the estimate is over it; stopped when the spend reaches it
BM='model m8 = openai("gpt-4o", price_in: 2000, price_out: 8000);'
out=$("$FQL" --no-cache -c "$BM set budget = 0.01; from csv(\"t.csv\") | derive c = classify(concat(text, ' #', n), [\"bug\"], model: \"m8\")" 2>&1); rc=$?
n=$(reqs gpt-4o)
[[ $rc != 0 && $out == *"not started: the estimate is"* && $n == 0 ]] && ok "budget: an over-estimate is refused before sending" || bad budget-refuse "rc=$rc n=$n $out"
# summaries come out longer than the estimate assumes: the estimate passes, the spend crosses the budget
SM='model m9 = openai("gpt-4o", price_in: 1000, price_out: 10000, rpm: 600);'
out=$("$FQL" --no-cache -c "$SM set budget = 6; from csv(\"t.csv\") | derive s = summarize(concat(text, n), words: 5, model: \"m9\")" 2>&1); rc=$?
n=$(stat_of gpt-4o requests)
if [[ $out == *"not started"* ]]; then bad budget-stop "the estimate refused it: $out"
elif [[ $rc != 0 && $out == *"stopped: spent"*"budget of \$6.00; the estimate was"* && $n -lt 40 ]]; then ok "budget: the run stops when the spend reaches it ($n of 40 sent)"
else bad budget-stop "rc=$rc n=$n $out"; fi

# 9. two stages on two providers stream into each other: about as long as one stage
{ echo "n,text"; for i in $(seq 1 120); do echo "$i,message $i"; done; } > s.csv
ST='model a = openai("stage-a", rpm: 1200); model b = anthropic("claude-stage-b", rpm: 1200);'
start=$(date +%s.%N)
"$FQL" --no-cache --format csv -c "$ST from csv(\"s.csv\") | derive x = map(text, instructions: \"first\", model: \"a\") | derive y = classify(x, [\"p\", \"q\"], model: \"b\") | select n, y" >out9 2>err9; rc=$?
end=$(date +%s.%N)
ideal=6.0   # 120 rows at 1200 requests a minute, each stage
ratio=$(node -e "console.log((($end-$start)/$ideal).toFixed(2))")
lines=$(wc -l < out9)
na=$(reqs stage-a); nb=$(reqs claude-stage-b)
if [[ $rc == 0 && $lines == 121 && $na == 120 && $nb -le 120 && $nb -ge 100 ]] && node -e "process.exit($ratio <= 1.3 ? 0 : 1)"; then
  ok "two stages, two providers: ${ratio}x one stage's ideal time"
else bad streaming "rc=$rc rows=$lines a=$na b=$nb ratio=$ratio (limit 1.3) $(tail -3 err9)"; fi
head -4 out9 | tail -3 | cut -d, -f1 | tr '\n' ' ' | grep -q '^1 2 3 $' && ok "streamed rows keep the input order" || bad order "$(head -4 out9)"

# 10. explain analyze: per operator rows, time, requests, tokens and cost (pack: 1: one request a
# distinct row)
out=$("$FQL" --no-cache -c "model ma = openai(\"gpt-4o-mini\"); explain analyze from csv(\"t.csv\") | where n <= 10 | derive c = classify(text, [\"bug\", \"billing\"], model: \"ma\", pack: 1)" 2>/dev/null)
if echo "$out" | grep -q '| actual: 10 rows, [0-9.]* ms; requests 10 (0 cached / 6 repeated / 4 sent / 0 retried / 0 failed rows); tokens [1-9][0-9]* in / [1-9][0-9]* out; \$0\.0' &&
   echo "$out" | grep -q '| actual: 40 rows'; then ok "explain analyze: rows, time, requests, tokens and cost per operator"
else bad explain-analyze "$out"; fi

# 11. stacked filters are one conjunction: as few requests as the same conditions joined by `and`.
#     30 tickets, 10 of priority low: the extract runs on those 10 only, both spellings
{ echo "id,priority,text"; for i in $(seq 1 30); do echo "$i,$( ((i % 3 == 0)) && echo low || echo high),ticket $i about an invoice"; done; } > p.csv
SF='model s1 = openai("stack-1"); model s2 = openai("stack-2"); type Area = { area: string };'
"$FQL" --no-cache -c "$SF from csv(\"p.csv\") | derive x = extract(text, Area, model: \"s1\") | where priority == \"low\" | where x.area == \"billing\"" >out11a 2>err11a
"$FQL" --no-cache -c "$SF from csv(\"p.csv\") | derive x = extract(text, Area, model: \"s2\") | where priority == \"low\" and x.area == \"billing\"" >out11b 2>err11b
n1=$(reqs stack-1); n2=$(reqs stack-2)
[[ $n1 == 10 && $n2 == 10 ]] && ok "stacked filters: 10 extract requests, as with \`and\`" || bad stacked "stacked sent $n1, \`and\` sent $n2, wanted 10 each ($(cat err11a err11b))"

# 12. a model predicate written after a cheap filter never runs below it: 300 rows, 10 with id <= 10,
#     10 predicate requests; the extract above them sees at most those 10
{ echo "id,text"; for i in $(seq 1 300); do echo "$i,message number $i"; done; } > q.csv
SP='model e1 = openai("stack-extract"); model p1 = openai("stack-pred"); type Area = { area: string };'
"$FQL" --no-cache -c "$SP from csv(\"q.csv\") | derive e = extract(text, Area, model: \"e1\") | where id <= 10 | where predicate(text, instructions: \"is it urgent?\", model: \"p1\")" >out12 2>err12; rc=$?
np=$(reqs stack-pred); ne=$(reqs stack-extract)
[[ $rc == 0 && $np == 10 && $ne -le 10 ]] && ok "a predicate after a cheap filter: 10 requests for the 10 rows that pass (extract: $ne)" || bad pred-after-filter "rc=$rc predicate $np requests (wanted 10), extract $ne (at most 10) ($(cat err12))"
ex=$("$FQL" -c "$SP explain from csv(\"q.csv\") | derive e = extract(text, Area, model: \"e1\") | where id <= 10 | where predicate(text, instructions: \"is it urgent?\", model: \"p1\")" 2>&1)
echo "$ex" | grep -A1 '^  where predicate' | grep -q '^    where (id <= 10)' && ok "explain: the predicate stage is above the cheap filter" || bad explain-pred-order "$ex"

finish
