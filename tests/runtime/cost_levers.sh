#!/usr/bin/env bash
# Provider-side cost levers against fql-sim: Anthropic prompt caching (the stable prefix marked,
# cache reads and writes counted, priced and shown in system.lm_calls / query_metrics), OpenAI
# flex (service_tier sent, flex prices, "resource unavailable" 429s retried until answered) and the
# Gemini Batch API (round trip at half price, killed mid-poll and resumed without resubmitting).
# usage: tests/runtime/cost_levers.sh BUILD_DIR
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/../lib/setup.sh"
cat > sim.json <<'J'
{"default": {"latency_ms": 1},
 "models": {"claude-sonnet-4-5": {"cache_min_tokens": 200},
            "gpt-5-mini": {"flex_unavailable_n": 2}},
 "batch_delay_ms": 300}
J
source "$HERE/../lib/sim.sh"
q() { "$FQL" --format csv -c "$1" 2>/dev/null; }
stat() { curl -s "$SIMURL/sim/stats" | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{let v=JSON.parse(s);for(const k of process.argv[1].split("|"))v=v?v[k]:undefined;console.log(v===undefined?0:v)})' "$1"; }

# ---- Anthropic prompt caching ----
# long instructions (about 400 tokens: above the simulated minimum of 200) shared by every row
instr=$(printf 'Decide carefully, reading the whole ticket, whether it is urgent. %.0s' $(seq 25))
rows='[{t: "server down"}, {t: "printer jam"}, {t: "invoice question"}, {t: "data loss"}]'
out=$("$FQL" --no-cache --format csv -c "model c = anthropic(\"claude-sonnet-4-5\", max_concurrency: 1);
  values $rows | select t, classify(t, [\"urgent\", \"normal\"], instructions: \"$instr\", pack: 1) as u" 2>err.txt); rc=$?
[[ $rc == 0 && $(echo "$out" | wc -l) == 5 ]] && ok "cached run answers" || bad cached-run "rc=$rc $out $(cat err.txt)"
calls=$(q 'from system.lm_calls | where model == "c" | select cached_input_tokens as r, cache_write_tokens as w, input_tokens as i, output_tokens as o, cost_usd')
# the first request writes the prefix, the three after it read it
writes=$(echo "$calls" | awk -F, 'NR > 1 && $2 > 0' | wc -l); reads=$(echo "$calls" | awk -F, 'NR > 1 && $1 > 0 && $2 == 0' | wc -l)
[[ $writes == 1 && $reads == 3 ]] && ok "one cache write, three cache reads" || bad cache-rw "$calls"
# each row priced: uncached input at 3.00, reads at 0.30, writes at 3.75, output at 15.00 $/M
priced=$(echo "$calls" | awk -F, 'NR > 1 { c = (($3 - $1 - $2) * 3.00 + $1 * 0.30 + $2 * 3.75 + $4 * 15.00) / 1e6; d = c - $5; if (d < 0) d = -d; if (d > 1e-9) bad++ } END { print bad + 0 }')
[[ $priced == 0 ]] && ok "cache reads at 0.1x and writes at 1.25x of the input price" || bad cache-price "$calls"
m=$(q 'from system.query_metrics | where model == "c" | select cached_input_tokens, cache_write_tokens, cost_usd')
sums=$(echo "$calls" | awk -F, 'NR > 1 { r += $1; w += $2; c += $5 } END { printf "%d,%d,%.9f", r, w, c }')
mq=$(echo "$m" | awk -F, 'NR == 2 { printf "%d,%d,%.9f", $1, $2, $3 }')
[[ $mq == "$sums" && $mq != 0,0,* ]] && ok "query_metrics sums the cache tokens and cost ($mq)" || bad cache-metrics "$m vs $sums"
# against the same requests without caching (everything at the full input price)
full=$(echo "$calls" | awk -F, 'NR > 1 { c += ($3 * 3.00 + $4 * 15.00) / 1e6 } END { printf "%.6f", c }')
paid=$(echo "$calls" | awk -F, 'NR > 1 { c += $5 } END { printf "%.6f", c }')
echo "measure: prompt caching, 4 rows with ~400 shared tokens: \$$paid instead of \$$full"
# a state database made before the cache columns gets them
sqlite3 old.db 'create table lm_calls (query_id integer, call_id integer primary key autoincrement, started_at real, model text, provider text, model_name text, operator text, status text, attempt integer, cached integer, input_tokens integer, cached_input_tokens integer, output_tokens integer, reasoning_tokens integer, cost_usd real, latency_ms real); create table query_metrics (query_id integer, statement text, started_at real, model text, provider text, model_name text, operator text, rows integer, requests integer, cache_hits integer, retries integer, rate_limited integer, failures integer, input_tokens integer, cached_input_tokens integer, output_tokens integer, reasoning_tokens integer, cost_usd real, latency_ms real, latency_p95_ms real, execution_time_ms real);'
out=$(FQL_DB="$PWD/old.db" "$FQL" --format csv -c "model c = anthropic(\"claude-sonnet-4-5\"); values [{t: \"x\"}] | select classify(t, [\"urgent\", \"normal\"], instructions: \"$instr\") as u" 2>&1 >/dev/null)
got=$(sqlite3 old.db 'select count(*) from lm_calls where cache_write_tokens is not null')
[[ $got == 1 ]] && ok "an old state database gains cache_write_tokens" || bad migrate "$got $out"

# ---- OpenAI flex ----
before=$(stat "models|gpt-5-mini|requests")
out=$("$FQL" --no-cache --format csv -c 'model f = openai("gpt-5-mini", tier: "flex");
  values [{t: "alpha"}, {t: "beta"}, {t: "gamma"}] | select t, map("Say one word about {{t}}") as a' 2>err.txt); rc=$?
answered=$(echo "$out" | awk -F, 'NR > 1 && $2 != ""' | wc -l)
[[ $rc == 0 && $answered == 3 ]] && ok "flex rows answered after resource-unavailable 429s" || bad flex-rows "rc=$rc $out $(cat err.txt)"
fm=$(q 'from system.query_metrics | where model == "f" | select requests, retries, rate_limited, failures')
[[ $fm == $'requests,retries,rate_limited,failures\n3,6,0,0' ]] && ok "each refused twice: retries, not rate limits" || bad flex-metrics "$fm"
grep -q '"service_tier":"flex"' <(curl -s "$SIMURL/sim/log" 2>/dev/null) 2>/dev/null || true
fc=$(q 'from system.lm_calls | where model == "f" | select input_tokens as i, output_tokens as o, cost_usd')
fp=$(echo "$fc" | awk -F, 'NR > 1 { d = ($1 * 0.125 + $2 * 1.00) / 1e6 - $3; if (d < 0) d = -d; if (d > 1e-9) bad++ } END { print bad + 0 }')
[[ $fp == 0 && $(echo "$fc" | wc -l) == 4 ]] && ok "flex priced at the flex rates (half)" || bad flex-price "$fc"
out=$("$FQL" -c 'model f = openai("gpt-4o-mini", tier: "flex"); values [{t: "x"}] | select map("hi {{t}}") as a' 2>&1); rc=$?
[[ $rc != 0 && $out == *"does not serve this model with flex"* ]] && ok "flex on a model without flex is refused" || bad flex-model "rc=$rc $out"
out=$("$FQL" -c 'model f = anthropic("claude-haiku-4-5", tier: "flex"); values [{x: 1}]' 2>&1); rc=$?
[[ $rc == 2 && $out == *"provider anthropic has no flex tier"* ]] && ok "flex on another provider is a bind error" || bad flex-prov "rc=$rc $out"

# ---- Gemini Batch API ----
created=$(stat "batches|created")
out=$("$FQL" --format csv -c 'model g = gemini("gemini-2.5-flash", batch: true);
  values [{t: "one"}, {t: "two"}, {t: "three"}] | select t, map("Say it back: {{t}}") as a' 2>err.txt); rc=$?
answered=$(echo "$out" | awk -F, 'NR > 1 && $2 != ""' | wc -l)
[[ $rc == 0 && $answered == 3 && $(stat "batches|created") == $((created + 1)) ]] && ok "gemini batch answers (one batch)" || bad gbatch "rc=$rc $out $(cat err.txt)"
grep -q "g: submitted batch" err.txt && ok "gemini batch progress" || bad gprogress "$(cat err.txt)"
gp=$(q 'from system.lm_calls | where model == "g" | select input_tokens as i, output_tokens as o, cost_usd')
gh=$(echo "$gp" | awk -F, 'NR > 1 { d = ($1 * 0.30 + $2 * 2.50) / 2e6 - $3; if (d < 0) d = -d; if (d > 1e-9) bad++ } END { print bad + 0 }')
[[ $gh == 0 && $(echo "$gp" | wc -l) == 4 ]] && ok "gemini batch at half price" || bad ghalf "$gp"
# killed mid-poll, resumed without a second submission
curl -s -X POST "$SIMURL/sim/config" -d '{"batch_delay_ms": 3000}' >/dev/null
script='model g = gemini("gemini-2.5-flash", batch: true);
  values [{t: "r1"}, {t: "r2"}, {t: "r3"}, {t: "r4"}] | select map("Resume it: {{t}}") as a | agg n = count(a)'
created=$(stat "batches|created")
"$FQL" --format csv -c "$script" > kill.out 2> kill.err & runpid=$!
for _ in $(seq 200); do grep -q "submitted batch" kill.err && break; sleep 0.05; done
kill -9 "$runpid" 2>/dev/null; wait "$runpid" 2>/dev/null
[[ $(sqlite3 state.db "select count(*) from batches where provider = 'gemini'") == 1 ]] && ok "the gemini batch is recorded before the kill" || bad grecord "$(cat kill.err)"
out=$("$FQL" --format csv -c "$script" 2>resume.err)
[[ $out == $'n\n4' && $(stat "batches|created") == $((created + 1)) ]] && grep -q "resuming batch" resume.err && ok "gemini batch resumed after kill -9 without resubmitting" \
  || bad gresume "out=$out created=$(( $(stat "batches|created") - created )) $(cat resume.err)"
out=$("$FQL" -c 'model v = vertex("gemini-2.5-flash", batch: true); values [{x: 1}]' 2>&1); rc=$?
[[ $rc == 2 && $out == *"provider gemini has the Batch API"* ]] && ok "vertex batch says to use gemini" || bad vbatch "rc=$rc $out"

# no key anywhere
! grep -rq "test-lib" ./*.err ./*.out 2>/dev/null && ok "no key in the output" || bad key "found"
finish
