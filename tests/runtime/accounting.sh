#!/usr/bin/env bash
# The numbers users read, against fql-sim: system.lm_calls (cost, queue time and provider
# latency, operator), system.query_metrics (requests sent, retries with connection resets, null
# latency when nothing was sent), what a fatal error keeps, an older state.db, the budget message
# and how money prints.
# usage: tests/runtime/accounting.sh BUILD_DIR
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/../lib/setup.sh"
cat > sim.json <<'J'
{"default": {"latency_ms": 20, "jitter_ms": 5},
 "models": {"quota-model": {"quota_requests": 5},
            "paced-model": {"rpm": 600},
            "queue-model": {"rpm": 600},
            "primary-model": {"fault_rules": [{"contains": "REFUSE", "fault": "refusal"}]},
            "reset-model": {"faults": {"reset": 0.25}}}}
J
source "$HERE/../lib/sim.sh"
q() { "$FQL" --format csv -c "$1" 2>>q.err | tail -n +2; }
{ echo "id,g,text"; for i in $(seq 1 40); do echo "$i,$((i % 2)),ticket number $i about the billing page"; done; } > t.csv

# 1. lm_calls.cost_usd is the catalog price of the call's tokens, for every provider; its sum is
#    query_metrics.cost_usd; provider_cost_usd is null where the provider reports none
"$FQL" -c 'model m = openai("gpt-4o-mini"); from csv("t.csv") | where id <= 4 | derive s = map("shorten {{text}}")' >/dev/null 2>err1
"$FQL" -c 'model c = anthropic("claude-haiku-4-5"); from csv("t.csv") | where id <= 2 | derive s = map("shorten {{text}}")' >/dev/null 2>>err1
out=$(q 'from system.lm_calls | where model == "m" | select input_tokens * 0.15 / 1e6 + output_tokens * 0.60 / 1e6 - cost_usd as d, provider_cost_usd')
bad_rows=$(awk -F, '$1 == "" || $1 > 1e-12 || $1 < -1e-12 || $2 != ""' <<<"$out")
[[ $(wc -l <<<"$out") == 4 && -z $bad_rows ]] && ok "lm_calls.cost_usd: tokens at gpt-4o-mini's catalog prices" || bad lm-calls-cost "$out $(cat err1)"
nul=$(q 'from system.lm_calls | where cost_usd is null | agg n = count(*)')
[[ $nul == 0 ]] && ok "no lm_calls row of a priced model has a null cost" || bad lm-calls-null "$nul rows"
sums=$(q 'from system.lm_calls | where model == "c" | agg s = sum(cost_usd)')
msum=$(q 'from system.query_metrics | where model == "c" | select cost_usd')
awk -v a="$sums" -v b="$msum" 'BEGIN { exit !(a > 0 && (a - b < 1e-12 && b - a < 1e-12)) }' && ok "anthropic: sum of lm_calls.cost_usd = query_metrics.cost_usd ($sums)" || bad cost-sum "$sums vs $msum"
"$FQL" -c 'model r = openrouter("openai/gpt-4o-mini"); from csv("t.csv") | where id == 1 | derive s = map("shorten {{text}}")' >/dev/null 2>>err1
out=$(q 'from system.lm_calls | where model == "r" | select input_tokens * 0.15 / 1e6 + output_tokens * 0.60 / 1e6 - cost_usd as d, provider_cost_usd > 0 as p')
IFS=, read -r d p <<<"$out"
awk -v d="$d" -v p="$p" 'BEGIN { exit !(d != "" && d < 1e-12 && d > -1e-12 && p == "true") }' && ok "openrouter: cost_usd at the catalog price, the reported cost in provider_cost_usd" || bad openrouter-cost "$out"

# 2. money prints in plain decimals, in the table and in CSV, and reads back the same
out=$("$FQL" --format csv -c 'values [{usd: 0.00006735}, {usd: 1.5e-7}, {usd: 1e-12}, {usd: 2.5}]' 2>&1)
[[ $out == $'usd\n0.00006735\n0.00000015\n1e-12\n2.5' ]] && ok "csv: 0.00006735, not 6.735e-05" || bad csv-plain "$out"
out=$("$FQL" -c 'values [{usd: 0.00006735}]' 2>&1)
[[ $out == *"0.00006735"* && $out != *"e-05"* ]] && ok "table: plain decimals" || bad table-plain "$out"
out=$("$FQL" --format csv -c 'values [{usd: 0.00006735}] | select usd * 2 == 0.0001347 as same, cast(usd as string) as s' 2>&1)
[[ $out == $'same,s\ntrue,6.735e-05' ]] && ok "values keep their precision; casts to string unchanged" || bad precision "$out"

# 3. the budget message gives the budget as set, not rounded to cents
out=$("$FQL" -c 'set budget = 0.001; model m = openai("gpt-4o"); from csv("t.csv") | derive s = map("write a long essay on {{text}}")' 2>&1); rc=$?
[[ $rc != 0 && $out == *"over the budget of \$0.001 "* ]] && ok "budget: 'over the budget of \$0.001'" || bad budget "rc=$rc $out"

# 4. a fatal error (quota of 5, 40 rows) keeps the answers received: cached and recorded ok with
#    their tokens; the rerun sends only the rest; requests counts what was sent
"$FQL" -c 'model qm = openai("quota-model", price_in: 1, price_out: 2); from csv("t.csv") | derive s = map("shorten {{text}}")' >/dev/null 2>err4; rc=$?
sent1=$(reqs quota-model)
[[ $rc == 1 ]] && grep -q "quota" err4 && ok "quota exhausted: the statement stops (exit 1)" || bad quota-stop "rc=$rc $(cat err4)"
okrows=$(q 'from system.lm_calls | where model == "qm" and status == "ok" and input_tokens > 0 and output_tokens > 0 | agg n = count(*)')
[[ $okrows == 5 ]] && ok "the 5 answers received are in lm_calls as ok with their tokens" || bad quota-ok "$okrows ok rows; $(q 'from system.lm_calls | where model == "qm" | group by status agg n = count(*)')"
mreq=$(q 'from system.query_metrics | where model == "qm" | select requests')
[[ $mreq == "$sent1" ]] && ok "query_metrics.requests = requests the provider saw ($sent1)" || bad quota-requests "metrics $mreq, sim $sent1"
curl -s -X POST "$SIMURL/sim/config" -d '{"models": {"quota-model": {"quota_requests": 0}}}' >/dev/null
"$FQL" -c 'model qm = openai("quota-model", price_in: 1, price_out: 2); from csv("t.csv") | derive s = map("shorten {{text}}")' >/dev/null 2>err4b; rc=$?
sent2=$(( $(reqs quota-model) - sent1 ))
[[ $rc == 0 && $sent2 == 35 ]] && ok "the rerun sends the 35 missing requests" || bad quota-rerun "rc=$rc sent $sent2 $(cat err4b)"
# a fatal error before most requests are sent (a paced model): requests counts only those sent
curl -s -X POST "$SIMURL/sim/config" -d '{"models": {"paced-model": {"quota_requests": 3}}}' >/dev/null
"$FQL" -c 'model pm = openai("paced-model", rpm: 600, price_in: 1, price_out: 2); from csv("t.csv") | derive s = map("shorten {{text}}")' >/dev/null 2>err4c
psent=$(reqs paced-model)
preq=$(q 'from system.query_metrics | where model == "pm" | select requests')
[[ $psent -lt 40 && $preq == "$psent" ]] && ok "paced model stopped early: requests $preq = sent, not 40 submitted" || bad paced-requests "metrics $preq, sim $psent"
grep -q "not sent" err4c && ok "the summary line says how many were not sent" || bad not-sent "$(cat err4c)"

# 5. latencies: lm_calls and query_metrics both have queue_ms (waiting in FQL) and latency_ms
#    (the provider's); a paced model queues, the provider does not take longer for it
"$FQL" -c 'model pm2 = openai("queue-model", rpm: 600, price_in: 1, price_out: 2); from csv("t.csv") | where id <= 20 | derive s = map("pace {{text}}")' >/dev/null 2>err5
out=$(q 'from system.lm_calls | where model == "pm2" | agg lat = avg(latency_ms), qu = avg(queue_ms), n = count(*)')
IFS=, read -r lat qu n <<<"$out"
awk -v l="$lat" -v q="$qu" -v n="$n" 'BEGIN { exit !(n == 20 && l >= 15 && l < 300 && q > 300) }' && ok "lm_calls: latency_ms is the provider's ($lat ms), queue_ms the wait in FQL ($qu ms)" || bad lm-latency "$out"
out=$(q 'from system.query_metrics | where model == "pm2" | select latency_ms, queue_ms')
IFS=, read -r mlat mqu <<<"$out"
awk -v l="$mlat" -v q="$mqu" -v a="$lat" -v b="$qu" 'BEGIN { exit !((l - a)^2 < 1 && (q - b)^2 < 1) }' && ok "query_metrics: the same latency_ms and queue_ms" || bad metrics-latency "$out vs $lat,$qu"
"$FQL" -c 'model pm2 = openai("queue-model", rpm: 600, price_in: 1, price_out: 2); from csv("t.csv") | where id <= 20 | derive s = map("pace {{text}}")' >/dev/null 2>err5b
out=$(q 'from system.query_metrics | where model == "pm2" | select cache_hits, requests, latency_ms is null, latency_p95_ms is null, queue_ms is null' | tail -n 1)
[[ $out == "20,0,true,true,true" ]] && ok "a statement answered from the cache: latencies null, not 0.0" || bad cached-latency "$out"

# 6. resets that are retried count as retries: the retries in query_metrics are the requests
#    the provider saw beyond one per row
#    (few connections, reused: libcurl itself resends a request whose reused connection was reset)
"$FQL" -c 'model rm = openai("reset-model", max_concurrency: 4, max_retries: 12); from csv("t.csv") | derive s = map("reset {{text}}")' >/dev/null 2>err6; rc=$?
seen=$(reqs reset-model)
out=$(q 'from system.query_metrics | where model == "rm" | select requests, retries')
IFS=, read -r rreq rret <<<"$out"
[[ $rc == 0 && $rreq == 40 && $((rreq + rret)) == "$seen" ]] && ok "resets: requests 40 + retries $rret = $seen the provider saw" || bad resets "rc=$rc metrics $out, sim $seen $(cat err6)"

# 7. reduce calls are recorded as operator reduce
"$FQL" -c 'model m7 = openai("gpt-4o-mini"); from csv("t.csv") | group by g agg s = reduce("Summarize", text)' >/dev/null 2>err7
out=$(q 'from system.lm_calls | where model == "m7" | group by operator agg n = count(*)')
[[ $out == reduce,2 ]] && ok "lm_calls: 2 calls of operator reduce for 2 groups" || bad reduce-calls "$out $(cat err7)"
out=$(q 'from system.query_metrics | where model == "m7" | select operator, requests')
[[ $out == reduce,2 ]] && ok "query_metrics: operator reduce" || bad reduce-metrics "$out"

# 8. a fallback alias's answer found in its cache on a rerun is a cache hit: not sent, cost 0
FB='model backup = openai("gpt-4o-mini"); model prim = openai("primary-model", price_in: 1, price_out: 1, fallback: ["backup"]);
  values [{t: "REFUSE this one"}, {t: "a fine one"}] | select map("fb {{t}}", model: "prim") as a'
"$FQL" -c "$FB" >/dev/null 2>err8a
"$FQL" -c "$FB" >/dev/null 2>err8b
grep -q 'backup (openai gpt-4o-mini): 1 rows in [0-9.]*s; requests 1 (1 cached / 0 sent / 0 retried' err8b && ok "fallback from the cache: the summary says 1 cached, 0 sent" || bad fb-summary "$(cat err8b)"
out=$(q 'from system.lm_calls | where model == "backup" and cached == 1 | select cost_usd')
[[ $out == 0.0 ]] && ok "fallback from the cache: lm_calls cost 0" || bad fb-cost "$out"

# 9. a state database made before queue_ms and provider_cost_usd keeps working
sqlite3 old.db "create table lm_calls (query_id integer, call_id integer primary key autoincrement, started_at real, model text,
  provider text, model_name text, operator text, status text, attempt integer, cached integer, input_tokens integer,
  cached_input_tokens integer, output_tokens integer, reasoning_tokens integer, cost_usd real, latency_ms real);
  create table query_metrics (query_id integer, statement text, started_at real, model text, provider text, model_name text,
  operator text, rows integer, requests integer, cache_hits integer, retries integer, rate_limited integer, failures integer,
  input_tokens integer, cached_input_tokens integer, output_tokens integer, reasoning_tokens integer, cost_usd real,
  latency_ms real, latency_p95_ms real, execution_time_ms real);
  insert into lm_calls (query_id, model, status, latency_ms) values (1, 'old', 'ok', 12.5);"
"$FQL" --db old.db -c 'model m = openai("gpt-4o-mini"); from csv("t.csv") | where id == 1 | derive s = map("old {{text}}")' >/dev/null 2>err8; rc=$?
out=$("$FQL" --db old.db --format csv -c 'from system.lm_calls | select model, queue_ms is null as qn, latency_ms' 2>&1)
[[ $rc == 0 && $(sed -n 2p <<<"$out") == "old,true,12.5" && $(sed -n 3p <<<"$out") == m,false,* ]] && ok "an older state.db gains the new columns and keeps its rows" || bad migrate "rc=$rc $out $(cat err8)"
out=$("$FQL" --db old.db --format csv -c 'from system.query_metrics | where model == "m" | select est_recall is null as rn' 2>&1)
[[ $out == $'rn\ntrue' ]] && ok "an older state.db gains query_metrics.est_recall (null where no semantic join estimated it)" || bad migrate-recall "$out"
finish
