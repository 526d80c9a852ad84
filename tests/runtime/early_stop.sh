#!/usr/bin/env bash
# Early stop and measured order, counted at fql-sim (docs/runtime.md, optimizer rules 6 and 7).
# The sim answers a yes/no question `true` when a word of the prompt starts with "urgent" or
# "severe" (tests/sim/README.md), so the pass rates below are known from the data.
# usage: tests/runtime/early_stop.sh BUILD_DIR
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/../lib/setup.sh"
cat > sim.json <<'J'
{"default": {"latency_ms": 5, "jitter_ms": 5}}
J
source "$HERE/../lib/sim.sh"

# 1000 tickets, about half urgent; for rule 7, a is severe on 90% of rows, b urgent on 10%
{ echo "n,text,a,b"
  for i in $(seq 1 1000); do
    if (( (i * 7919 % 13) < 6 )); then w=urgent; else w=routine; fi
    if (( i % 10 != 3 )); then a=severe; else a=mild; fi
    if (( i % 10 == 7 )); then b=urgent; else b=calm; fi
    echo "$i,ticket $i is $w about item $((i * 31 % 97)),note $i $a,memo $i $b"
  done; } > t.csv
M='model m1 = openai("e1"); model m2 = openai("e2"); model m3 = openai("e3"); model m4 = openai("e4");
model m5 = openai("e5"); model m6 = openai("e6"); model m7 = openai("e7"); model m8 = openai("e8"); model m9 = openai("e9");'
P='predicate("Needs attention now? {{text}}", model: "MODEL")'

# the pass rate, measured without a limit (and the requests of a job without a limit: every row)
"$FQL" --no-cache --format csv -c "$M from csv(\"t.csv\") | where ${P/MODEL/m1} | select n" >all1 2>err1
prate=$(($(wc -l < all1) - 1)); n1=$(reqs e1)
[[ $n1 == 1000 ]] && ok "no limit: a request per row (1000)" || bad no-limit "e1 saw $n1 requests, wanted 1000 ($(cat err1))"
echo "# pass rate: $prate of 1000 rows"

# 1. where predicate | limit 10: about 10 / pass rate requests, not a window of them
"$FQL" --no-cache --format csv -c "$M from csv(\"t.csv\") | where ${P/MODEL/m2} | limit 10 | select n" >lim2 2>err2
n=$(reqs e2); bound=$((3 * 10 * 1000 / prate))
echo "# where predicate | limit 10: $n requests (bound $bound = 3 x 10 / pass rate)"
[[ $n -le $bound && $n -ge 10 ]] && ok "limit 10 after a model filter: $n requests (<= $bound)" || bad early-stop "e2 saw $n requests, wanted <= $bound ($(cat err2))"
head -11 all1 | cmp -s - lim2 && ok "limit 10: the first 10 rows that pass" || bad early-rows "$(diff <(head -11 all1) lim2)"

# the cursor is closed while requests of the last wave are still in flight: their answers arrive
# after the operator is freed (a heap-use-after-free under ASan once); the same rows every time
for k in 1 2 3 4 5 6; do
  "$FQL" --no-cache --format csv -c "model w$k = openai(\"w$k\"); from csv(\"t.csv\") | where ${P/MODEL/w$k} | limit 10 | select n" >limw 2>errw || break
  cmp -s lim2 limw || break
done
cmp -s lim2 limw && ok "limit 10, closed with requests in flight: the same rows, six runs" || bad early-close "run $k: $(head -c 2000 errw)"

# explain says so
"$FQL" -c "$M explain from csv(\"t.csv\") | where ${P/MODEL/m2} | limit 10" >ex2 2>&1
grep -q 'stops early: ~10 rows wanted' ex2 && ok "explain: stops early" || bad explain-early "$(cat ex2)"

# 2. a semantic self-join of 64 rows (4096 pairs) with a limit
head -65 t.csv > s.csv
J="from csv(\"s.csv\") | semantic join csv(\"s.csv\") as r on \"Do both need attention now? {{left.text}} / {{right.text}}\" model MODEL | where n != r_n"
"$FQL" --no-cache --format csv -c "$M ${J/MODEL/m3} | limit 10 | select n, r_n" >j3 2>err3
n=$(reqs e3); rows=$(($(wc -l < j3) - 1))
echo "# semantic self-join of 64 rows | where | limit 10: $n pair requests (of 4096)"
[[ $rows == 10 && $n -le 100 ]] && ok "semantic join | limit 10: $n pair requests" || bad join-early "e3 saw $n requests, $rows rows ($(cat err3))"
"$FQL" --no-cache --format csv -c "$M ${J/MODEL/m4} | select n, r_n" >j4 2>err4
n=$(reqs e4)
# every pair, and the join decomposition's planning request (which finds none: the condition needs both)
[[ $n == 4097 ]] && ok "semantic join without a limit: every pair (4096) and 1 planning request" || bad join-all "e4 saw $n requests"
head -11 j4 | cmp -s - j3 && ok "semantic join | limit 10: the first 10 matches" || bad join-rows "$(diff <(head -11 j4) j3)"

# 3. measured order: a (passes ~90%) written before b (~10%); the fixed order sends a request per
#    row for a, then one per row that passes a for b
A='predicate("Is this bad? {{a}}", model: "m5")'
B='predicate("Is this bad? {{b}}", model: "m5")'
"$FQL" --no-cache --format csv -c "$M from csv(\"t.csv\") | where $A | select n" >a5 2>/dev/null
"$FQL" --no-cache --format csv -c "$M from csv(\"t.csv\") | where ${B/m5/m6} | select n" >b6 2>/dev/null
fixed=$((1000 + $(wc -l < a5) - 1))
before=$(reqs e5)
"$FQL" --no-cache --format csv -c "$M from csv(\"t.csv\") | where ${A/m5/m7} and ${B/m5/m7} | select n" >ab7 2>err7
n=$(reqs e7)
echo "# measured order: $n requests; fixed order (a then b): $fixed"
[[ $((n * 10)) -le $((fixed * 7)) ]] && ok "measured order: $n requests, at least 30% fewer than the fixed order's $fixed" \
  || bad measured-order "e7 saw $n requests, fixed order $fixed ($(cat err7))"
# the rows: those that pass both, in input order, whichever order ran
{ echo n; comm -12 <(tail -n +2 a5 | sort) <(tail -n +2 b6 | sort) | sort -n; } > both
cmp -s both ab7 && ok "measured order: the rows that pass both, identical" || bad order-rows "$(diff both ab7 | head)"
"$FQL" --no-cache --format csv -c "$M from csv(\"t.csv\") | where ${B/m5/m8} and ${A/m5/m8} | select n" >ba8 2>/dev/null
cmp -s ab7 ba8 && ok "measured order: same rows written in either order" || bad order-rows2 "$(diff ab7 ba8 | head)"
"$FQL" --no-cache -c "$M explain analyze from csv(\"t.csv\") | where ${A/m5/m9} and ${B/m5/m9} | select n" >ex9 2>&1
[[ $(grep -c 'measured selectivity' ex9) == 2 ]] && ok "explain analyze: a measured selectivity per model condition" || bad explain-sel "$(cat ex9)"
grep 'measured selectivity' ex9 | sed 's/^ */# /'
finish
