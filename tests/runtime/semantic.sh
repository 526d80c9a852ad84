#!/usr/bin/env bash
# The semantic operators end to end: fql scripts against fql-sim over real HTTP.
# usage: tests/runtime/semantic.sh BUILD_DIR
set -u
BUILD=$(cd "${1:-build}" && pwd)
FQL="$BUILD/fql"
SIM="$BUILD/fql-sim"
dir=$(mktemp -d)
simpid=
cleanup() { [[ -n $simpid ]] && kill -TERM "$simpid" 2>/dev/null && wait "$simpid" 2>/dev/null; rm -rf "$dir"; }
trap cleanup EXIT
cd "$dir"
pass=0 fail=0
ok()  { pass=$((pass + 1)); echo "ok $1"; }
bad() { fail=$((fail + 1)); echo "FAIL $1: $2"; }

cat > sim.json <<'J'
{"default": {"latency_ms": 5, "jitter_ms": 10},
 "models": {"gpt-4o-mini": {"rpm": 6000},
            "bad-schema-model": {"faults": {"bad_schema": 1.0}},
            "flaky-model": {"faults": {"500": 0.2, "503": 0.1}},
            "paced-model": {"rpm": 600, "tpm": 1000000},
            "slow-model": {"latency_ms": 250},
            "quota-model": {"quota_requests": 2},
            "claude-quota": {"quota_requests": 1},
            "small-model": {"context_window": 64}}}
J
"$SIM" --port 0 --config sim.json > sim.out 2> sim.err & simpid=$!
for _ in $(seq 100); do [[ -s sim.out ]] && break; sleep 0.05; done
port=$(sed -n '1s/[^0-9]//gp' sim.out)
[[ -n $port ]] || { echo "the simulator did not start: $(cat sim.err)"; echo "0 passed, 1 failed"; exit 1; }
SIMURL="http://127.0.0.1:$port"
KEY="sk-test-SECRET-4242"
export OPENAI_API_KEY=$KEY OPENAI_BASE_URL="$SIMURL/v1"
export ANTHROPIC_API_KEY="$KEY-anthropic" ANTHROPIC_BASE_URL="$SIMURL"
export GEMINI_API_KEY="$KEY-gemini" GEMINI_BASE_URL="$SIMURL"
export OPENROUTER_API_KEY="$KEY-openrouter" OPENROUTER_BASE_URL="$SIMURL/api/v1"
export FQL_DB="$dir/state.db"
stats() { curl -s "$SIMURL/sim/stats"; }
reqs() {  # requests the sim answered for a model
  stats | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{const j=JSON.parse(s);const m=j.models[process.argv[1]];console.log(m?m.requests:0)})' "$1"
}
field() {  # field of a model's stats
  stats | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{const j=JSON.parse(s);const m=j.models[process.argv[1]]||{};let v=m;for(const k of process.argv[2].split("."))v=v?v[k]:undefined;console.log(v===undefined?0:v)})' "$1" "$2"
}

cat > tickets.csv <<'C'
id,content
1,The checkout page is broken and customers cannot pay
2,How do I update my billing address for invoices
3,Urgent: the API returns errors for every request
4,
5,Thanks for the quick fix on billing yesterday
6,The checkout page is broken and customers cannot pay
C

HEAD='model fast = openai("gpt-4o-mini");
type Triage = { is_technical: bool, needs_escalation: bool "true when an engineer must look", summary: string };'

# extract: a struct of the declared type, validated; null input gives null without a request
# (pack: 1 here and below: requests are counted per distinct row and cached per row)
out=$("$FQL" --format csv -c "$HEAD from csv(\"tickets.csv\") | derive t = extract(content, Triage, pack: 1) | select id, t.needs_escalation as esc" 2>err.txt); rc=$?
want=$'id,esc\n1,true\n2,false\n3,true\n4,\n5,false\n6,true'
[[ $rc == 0 && $out == "$want" ]] && ok extract || bad extract "rc=$rc out=$out err=$(cat err.txt)"
n=$(reqs gpt-4o-mini)
[[ $n == 4 ]] && ok "null input and identical texts are not sent (4 requests for 6 rows)" || bad dedup "sim saw $n requests, wanted 4"
grep -q 'fast (openai gpt-4o-mini): 6 rows' err.txt && ok summary-line || bad summary-line "$(cat err.txt)"

# the same statement again: every answer comes from the response cache
out2=$("$FQL" --format csv -c "$HEAD from csv(\"tickets.csv\") | derive t = extract(content, Triage, pack: 1) | select id, t.needs_escalation as esc" 2>err2.txt)
n2=$(reqs gpt-4o-mini)
[[ $out2 == "$want" && $n2 == 4 ]] && ok cache-rerun || bad cache-rerun "requests $n2 (wanted still 4); out=$out2"
grep -q '4 cached' err2.txt && ok cache-summary || bad cache-summary "$(cat err2.txt)"
"$FQL" --no-cache --format csv -c "$HEAD from csv(\"tickets.csv\") | derive t = extract(content, Triage, pack: 1) | select id, t" >/dev/null 2>&1
n3=$(reqs gpt-4o-mini)
[[ $n3 == 8 ]] && ok no-cache-sends || bad no-cache-sends "requests $n3, wanted 8"
# a model column that nothing reads is not computed
"$FQL" --no-cache --format csv -c "$HEAD from csv(\"tickets.csv\") | derive t = extract(content, Triage, pack: 1) | select id" >/dev/null 2>&1
n4=$(reqs gpt-4o-mini)
[[ $n4 == 8 ]] && ok unread-column-sends-none || bad unread-column-sends-none "requests $n4, wanted still 8"

# classify, predicate, map
out=$("$FQL" --format csv -c "$HEAD from csv(\"tickets.csv\") | where content is not null | select id, classify(content, [\"billing\", \"checkout\", \"api\"]) as c" 2>>stderr.txt)
want=$'id,c\n1,checkout\n2,billing\n3,api\n5,billing\n6,checkout'
[[ $out == "$want" ]] && ok classify || bad classify "$out"
out=$("$FQL" --format csv -c "$HEAD from csv(\"tickets.csv\") | where content is not null and predicate(\"Does this need an engineer? {{content}}\") | select id" 2>>stderr.txt)
want=$'id\n1\n3\n6'
[[ $out == "$want" ]] && ok predicate-in-where || bad predicate-in-where "$out"
out=$("$FQL" --format csv -c "$HEAD from csv(\"tickets.csv\") | where id == 2 | select map(\"Write a title for {{content}}\") as title" 2>>stderr.txt)
[[ $out == title$'\n'"Simulated answer:"* ]] && ok map || bad map "$out"
out=$("$FQL" --format csv -c "$HEAD from csv(\"tickets.csv\") | where id == 2 | select classify(content, {billing: \"money matters\", other: \"anything else\"}) as c, sentiment(content) as s" 2>>stderr.txt)
[[ $out == $'c,s\nbilling,'* ]] && ok classify-descriptions-and-sentiment || bad classify-descriptions-and-sentiment "$out"

# embeddings: many rows per request; similar texts are close
out=$("$FQL" --format csv -c 'embedding model vec = openai("text-embedding-3-small");
  from csv("tickets.csv") | where id in (1, 6, 2) | derive v = embed(content) | select id, size(v) as dim, round(similarity(v, v), 6) as self' 2>>stderr.txt)
want=$'id,dim,self\n1,1536,1.0\n2,1536,1.0\n6,1536,1.0'
[[ $out == "$want" ]] && ok embed || bad embed "$out"
n=$(reqs text-embedding-3-small)
[[ $n == 1 ]] && ok "embed packs rows (1 request)" || bad embed-packing "$n requests"

# structured answers that break the schema: one repair, then null with a recorded reason; the statement goes on
out=$("$FQL" --format csv -c 'model broken = openai("bad-schema-model");
  type T = { is_technical: bool };
  from csv("tickets.csv") | where id <= 2 | select id, extract(content, T) as t' 2>err.txt); rc=$?
[[ $rc == 0 && $out == $'id,t\n1,\n2,' ]] && ok invalid-answers-null || bad invalid-answers-null "rc=$rc $out $(cat err.txt)"
n=$(reqs bad-schema-model)
[[ $n == 4 ]] && ok "repair once (4 requests for 2 rows)" || bad repair "requests $n"
out=$("$FQL" --format csv -c 'from system.lm_errors | where model == "broken" | select row, kind' 2>>stderr.txt)
[[ $out == $'row,kind\n0,invalid_answer\n1,invalid_answer' ]] && ok lm_errors || bad lm_errors "$out"

# transient server errors are retried until every row is answered
out=$("$FQL" --format csv -c 'model flaky = openai("flaky-model", max_retries: 12, price_in: 0.1, price_out: 0.2); type T = { is_technical: bool };
  values [{x: "a b"}, {x: "c d"}, {x: "e f"}, {x: "g h"}, {x: "i j"}, {x: "k l"}, {x: "m n"}, {x: "o p"}]
  | select extract(x, T).is_technical as t | agg n = count(t)' 2>err.txt); rc=$?
[[ $rc == 0 && $out == $'n\n8' ]] && ok retries || bad retries "rc=$rc $out $(cat err.txt)"

# other providers
out=$("$FQL" --format csv -c 'model claude = anthropic("claude-haiku-4-5"); type Triage = { needs_escalation: bool };
  from csv("tickets.csv") | where id in (1, 2) | select id, extract(content, Triage).needs_escalation as e' 2>>stderr.txt)
[[ $out == $'id,e\n1,true\n2,false' ]] && ok anthropic-extract || bad anthropic-extract "$out"
out=$("$FQL" --format csv -c 'model gem = gemini("gemini-2.5-flash"); type Triage = { needs_escalation: bool };
  from csv("tickets.csv") | where id in (1, 2) | select id, extract(content, Triage).needs_escalation as e' 2>>stderr.txt)
[[ $out == $'id,e\n1,true\n2,false' ]] && ok gemini-extract || bad gemini-extract "$out"
out=$("$FQL" --format csv -c 'model router = openrouter("openai/gpt-4o-mini", profiles: {cheap: {sort: "price"}}, default_profile: "cheap");
  from csv("tickets.csv") | where id == 1 | select classify(content, ["checkout", "billing"]) as c' 2>>stderr.txt)
[[ $out == $'c\ncheckout' ]] && ok openrouter || bad openrouter "$out"
out=$("$FQL" --format csv -c 'from system.query_metrics | where model == "router" | select requests, cost_usd > 0 as paid' 2>>stderr.txt)
[[ $out == $'requests,paid\n1,true' ]] && ok openrouter-reported-cost || bad openrouter-reported-cost "$out"

# metrics: tokens as the provider counted them, cost from the catalog
out=$("$FQL" --format csv -c 'from system.query_metrics | where model == "fast" | agg req = sum(requests), hits = sum(cache_hits), inp = sum(input_tokens), outp = sum(output_tokens), cost = sum(cost_usd)' 2>>stderr.txt)
sim_in=$(field gpt-4o-mini input_tokens); sim_out=$(field gpt-4o-mini output_tokens)
IFS=, read -r req hits inp outp cost <<<"$(tail -n 1 <<<"$out")"
want_cost=$(awk -v i="$sim_in" -v o="$sim_out" 'BEGIN { printf "%.9f", (i * 0.15 + o * 0.60) / 1e6 }')
got_cost=$(awk -v c="$cost" 'BEGIN { printf "%.9f", c }')
if [[ $req == $(reqs gpt-4o-mini) && $inp == "$sim_in" && $outp == "$sim_out" && $got_cost == "$want_cost" ]]; then ok metrics
else bad metrics "fql: req=$req in=$inp out=$outp cost=$got_cost; sim: req=$(reqs gpt-4o-mini) in=$sim_in out=$sim_out cost=$want_cost"; fi

# keys: a bad key stops before any data request, naming what to fix; no key text anywhere
before=$(reqs gpt-4o-mini)
out=$(OPENAI_API_KEY="sk-bad-key-XYZ" "$FQL" -c "$HEAD from csv(\"tickets.csv\") | select extract(content, Triage)" 2>&1); rc=$?
after=$(reqs gpt-4o-mini)
[[ $rc == 1 && $out == *"'fast'"* && $out == *OPENAI_API_KEY* && $before == "$after" ]] && ok bad-key || bad bad-key "rc=$rc out=$out requests $before -> $after"
grep -q "sk-bad-key-XYZ" <<<"$out" && bad key-not-printed "the key appears in: $out" || ok key-not-printed
out=$(env -u ANTHROPIC_API_KEY "$FQL" -c 'model c = anthropic("claude-haiku-4-5"); values [{a: 1}]' 2>&1); rc=$?
[[ $rc == 1 && $out == *ANTHROPIC_API_KEY* ]] && ok missing-key || bad missing-key "rc=$rc $out"
if grep -rqa "$KEY" "$dir/state.db" "$dir"/*.txt 2>/dev/null; then bad key-not-stored "the key is in the state database or output"; else ok key-not-stored; fi

# pacing: 40 requests at 600 RPM take about 4 s, never more than 10 in any second
t0=$(date +%s.%N)
"$FQL" --no-cache -c 'model paced = openai("paced-model", rpm: 600); type T = { is_technical: bool };
  values [{x: 1}] | derive k = [0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31,32,33,34,35,36,37,38,39,40,41,42,43,44,45,46,47,48,49]
  | explode k | select extract("ticket " || k, T)' >/dev/null 2>err.txt
t1=$(date +%s.%N)
max1=$(field paced-model max_requests_1s); n=$(reqs paced-model)
elapsed=$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')
# ideal: the first second's allowance is free, then 10/s
ideal=$(awk -v n="$n" 'BEGIN { print (n - 10) / 10 }')
if [[ $n == 50 ]] && (( max1 <= 10 )) && awk -v e="$elapsed" -v i="$ideal" 'BEGIN { exit !(e <= i * 1.15 + 1.0) }'; then ok "pacing ($n requests in ${elapsed}s, at most $max1 a second)"
else bad pacing "requests=$n max_1s=$max1 elapsed=$elapsed ideal=$ideal $(cat err.txt)"; fi

# a killed run resumes from its cache: the rerun sends only what had not been answered
rows='[0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31,32,33,34,35,36,37,38,39]'
script="model slow = openai(\"slow-model\", max_concurrency: 4); type T = { is_technical: bool };
  values [{x: 1}] | derive k = $rows | explode k | select k, extract(\"resume ticket \" || k, T).is_technical as t | agg n = count(t)"
"$FQL" --format csv -c "$script" >/dev/null 2>&1 & runpid=$!
wait_for() { for _ in $(seq 400); do (( $(reqs slow-model) >= $1 )) && return; sleep 0.05; done; }   # answered requests
wait_for 8
kill -9 "$runpid" 2>/dev/null; wait "$runpid" 2>/dev/null
first=$(reqs slow-model)
out=$("$FQL" --format csv -c "$script" 2>>stderr.txt)
second=$(reqs slow-model)
if [[ $out == $'n\n40' ]] && (( first > 0 && first < 40 && second - first <= 40 - first + 4 && second <= 44 )); then ok "kill and resume ($first before the kill, $((second - first)) after)"
else bad kill-and-resume "out=$out requests before kill=$first, total=$second"; fi
"$FQL" --format csv -c "$script" >/dev/null 2>&1
[[ $(reqs slow-model) == "$second" ]] && ok "a finished run is answered from the cache" || bad resume-cached "$(reqs slow-model) vs $second"

# quota exhausted: the statement stops with what to do (exit 1); what was answered stays cached
out=$("$FQL" --format csv -c 'model q = openai("quota-model"); type T = { is_technical: bool };
  values [{x: "a"}, {x: "b"}, {x: "c"}, {x: "d"}] | select extract(x, T) as t' 2>&1); rc=$?
[[ $rc == 1 && $out == *"'q'"* && $out == *quota* ]] && ok quota-fatal || bad quota-fatal "rc=$rc $out"
out=$("$FQL" --format csv -c 'model q = anthropic("claude-quota"); type T = { is_technical: bool };
  values [{x: "a"}, {x: "b"}] | select extract(x, T) as t' 2>&1); rc=$?
[[ $rc == 1 && $out == *"'q'"* && ( $out == *credit* || $out == *quota* ) ]] && ok anthropic-credit-fatal || bad anthropic-credit-fatal "rc=$rc $out"

# a row longer than the context window is not sent: null with the reason
before=$(reqs small-model)
out=$("$FQL" --format csv -c 'model small = openai("small-model", context_window: 64); type T = { is_technical: bool };
  values [{x: "short"}, {x: "'"$(printf 'long text %.0s' $(seq 60))"'"}] | select extract(x, T).is_technical as t' 2>>stderr.txt); rc=$?
after=$(reqs small-model)
kinds=$("$FQL" --format csv -c 'from system.lm_errors | where model == "small" | select kind' 2>>stderr.txt)
[[ $rc == 0 && $out == $'t\nfalse' && $((after - before)) == 1 && $kinds == $'kind\ncontext_window' ]] && ok context-window-not-sent || bad context-window-not-sent "rc=$rc out=$out sent=$((after - before)) kinds=$kinds"

# Ctrl-C stops the statement cleanly: exit 1 with "interrupted", answers received so far kept
script2="model slow = openai(\"slow-model\", max_concurrency: 2); type T = { is_technical: bool };
  values [{x: 1}] | derive k = $rows | explode k | select extract(\"interrupt ticket \" || k, T).is_technical as t | agg n = count(t)"
before=$(reqs slow-model)
"$FQL" --format csv -c "$script2" > int.out 2> int.err & runpid=$!
wait_for $((before + 4))
kill -INT "$runpid"; wait "$runpid"; rc=$?
mid=$(reqs slow-model)
"$FQL" --format csv -c "$script2" >/dev/null 2>&1
after=$(reqs slow-model)
if [[ $rc == 1 ]] && grep -q interrupted int.err && (( mid > before && after - before <= 40 + 2 )); then ok "ctrl-c ($((mid - before)) answered before, $((after - mid)) after)"
else bad ctrl-c "rc=$rc err=$(cat int.err) before=$before mid=$mid after=$after"; fi

echo "$pass passed, $fail failed"
(( fail == 0 ))
