#!/usr/bin/env bash
# The cost levers end to end against fql-sim: the Batch API (OpenAI and Anthropic: round trip,
# discounted cost, free reruns, splitting above the per-batch limits, interruption and resume
# without a second submission), per-row model choice, and model fallback.
# usage: tests/runtime/batch.sh BUILD_DIR
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/../lib/setup.sh"
cat > sim.json <<'J'
{"default": {"latency_ms": 2, "jitter_ms": 3},
 "models": {"gpt-4o-mini": {"fault_rules": [{"contains": "poison", "fault": "refusal"}, {"contains": "boom", "fault": "500"}]},
            "quota-model": {"quota_requests": 1}},
 "batch_delay_ms": 600}
J
source "$HERE/../lib/sim.sh"
# keys with a marker, to check that none is ever written anywhere
export OPENAI_API_KEY="sk-test-SECRET-77" ANTHROPIC_API_KEY="sk-ant-SECRET-77" GEMINI_API_KEY="gk-SECRET-77"
stat() {  # a figure of /sim/stats by its path: "batches|created", "models|gpt-4o|requests"
  curl -s "$SIMURL/sim/stats" | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{let v=JSON.parse(s);for(const k of process.argv[1].split("|"))v=v?v[k]:undefined;console.log(v===undefined?0:v)})' "$1"
}
q() { "$FQL" --format csv -c "$1" 2>/dev/null; }

cat > tickets.csv <<'C'
id,content
1,The checkout page is broken and customers cannot pay
2,How do I update my billing address for invoices
3,The API returns errors for every request
4,
5,Thanks for the quick fix on billing yesterday
6,The checkout page is broken and customers cannot pay
C
CLS='classify(content, ["billing", "checkout", "api"])'
want=$'id,c\n1,checkout\n2,billing\n3,api\n4,\n5,billing\n6,checkout'

# the answers without the Batch API, for comparison (and their cost at the full price); not
# cached, or the batch run below would be answered from the cache
# pack: 1: the plain run sends the batch's requests one by one, so the two compare token for token
plain=$("$FQL" --no-cache --format csv -c "model plain = openai(\"gpt-4o-mini\"); from csv(\"tickets.csv\") | select id, ${CLS%)}, pack: 1) as c" 2>/dev/null)
[[ $plain == "$want" ]] && ok "plain classify" || bad plain "$plain"

# OpenAI Batch API round trip: one batch for the 4 distinct texts, the same answers, half the price
created=$(stat "batches|created")
out=$("$FQL" --format csv -c "model fast = openai(\"gpt-4o-mini\", batch: true); from csv(\"tickets.csv\") | select id, $CLS as c" 2>err.txt); rc=$?
[[ $rc == 0 && $out == "$want" ]] && ok "openai batch answers" || bad openai-batch "rc=$rc out=$out err=$(cat err.txt)"
[[ $(stat "batches|created") == $((created + 1)) && $(stat "batches|requests") == 4 ]] && ok "one batch of 4 requests" || bad batch-count "$(curl -s "$SIMURL/sim/stats")"
grep -q "fast: submitted batch batch_" err.txt && grep -q "fast batch batch_.* completed 4/4 done" err.txt && ok "batch progress lines" || bad progress "$(cat err.txt)"
grep -q "fast (openai gpt-4o-mini, batch): 6 rows" err.txt && ok "summary line says batch" || bad summary "$(cat err.txt)"
costs=$(q 'from system.query_metrics | where model == "plain" or model == "fast" | select model, cost_usd, input_tokens, output_tokens')
half=$(echo "$costs" | awk -F, 'NR > 1 { c[$1] = $2; t[$1] = $3 "/" $4 } END { r = c["plain"] / c["fast"]; print (t["plain"] == t["fast"] && r > 1.999 && r < 2.001) ? "yes" : "no " r }')
[[ $half == yes ]] && ok "batch cost is half the plain cost for the same tokens" || bad discount "$half: $costs"
calls=$(q 'from system.lm_calls | where model == "fast" | select status, cost_usd > 0 as priced | distinct')
[[ $calls == $'status,priced\nok,true' ]] && ok "lm_calls rows priced at the discount" || bad lm-calls "$calls"

# a rerun is free: everything from the response cache, no batch
created=$(stat "batches|created")
out=$("$FQL" --format csv -c "model fast = openai(\"gpt-4o-mini\", batch: true); from csv(\"tickets.csv\") | select id, $CLS as c" 2>err.txt)
[[ $out == "$want" && $(stat "batches|created") == "$created" ]] && grep -q "4 cached" err.txt && ok "rerun from the cache" || bad rerun "created $(stat "batches|created") vs $created; $(cat err.txt)"

# Anthropic Message Batches
created=$(stat "batches|created")
out=$("$FQL" --format csv -c "model claude = anthropic(\"claude-haiku-4-5\", batch: true); from csv(\"tickets.csv\") | select id, $CLS as c" 2>err.txt); rc=$?
[[ $rc == 0 && $out == "$want" && $(stat "batches|created") == $((created + 1)) ]] && ok "anthropic message batch" || bad anthropic "rc=$rc out=$out err=$(cat err.txt)"
cost=$(q 'from system.query_metrics | where model == "claude" | select round(cost_usd * 1e9) as c, input_tokens, output_tokens')
# claude-haiku-4-5: $1 / $5 per million, halved
echo "$cost" | awk -F, 'NR == 2 { want = ($2 * 1.0 + $3 * 5.0) / 2 / 1e6 * 1e9; exit !($1 > 0 && ($1 - want) ^ 2 < 4) }' && ok "anthropic batch priced at half" || bad anthropic-cost "$cost"

# embeddings through the OpenAI Batch API (/v1/embeddings lines)
created=$(stat "batches|created")
out=$(q 'embedding model v = openai("text-embedding-3-small", batch: true, dimensions: 8);
  values [{t: "billing problem"}, {t: "weather report"}] | select t, round(similarity(embed(t), embed("billing problem")), 3) as s')
[[ $out == $'t,s\nbilling problem,1.0\nweather report,0.0' && $(stat "batches|created") -gt "$created" ]] && ok "embeddings through the Batch API" || bad embed-batch "$out"

# above the per-batch limits the work is split (limits lowered by options)
rows='[0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24]'
created=$(stat "batches|created")
out=$(q "model fast = openai(\"gpt-4o-mini\", batch: true, batch_max_requests: 10);
  values [{x: 1}] | derive k = $rows | explode k | select classify(\"split ticket \" || k, [\"a\", \"b\"]) as c | agg n = count(c)")
[[ $out == $'n\n25' && $(stat "batches|created") == $((created + 3)) ]] && ok "25 requests, 10 a batch: 3 batches" || bad split-requests "out=$out created=$(( $(stat "batches|created") - created ))"
created=$(stat "batches|created")
out=$(q "model claude = anthropic(\"claude-haiku-4-5\", batch: true, batch_max_bytes: 3000);
  values [{x: 1}] | derive k = $rows | explode k | select classify(\"bytes ticket \" || k, [\"a\", \"b\"]) as c | agg n = count(c)")
n=$(( $(stat "batches|created") - created ))
[[ $out == $'n\n25' ]] && (( n >= 3 )) && ok "a byte limit splits too ($n batches)" || bad split-bytes "out=$out batches=$n"

# interruption: kill -9 while the batch is in progress; the next run polls the same batch
curl -s -X POST "$SIMURL/sim/config" -d '{"batch_delay_ms": 4000}' >/dev/null
script="model fast = openai(\"gpt-4o-mini\", batch: true);
  values [{x: 1}] | derive k = $rows | explode k | select classify(\"resume ticket \" || k, [\"a\", \"b\"]) as c | agg n = count(c)"
created=$(stat "batches|created")
"$FQL" --format csv -c "$script" > kill.out 2> kill.err & runpid=$!
for _ in $(seq 200); do grep -q "submitted batch" kill.err && break; sleep 0.05; done
kill -9 "$runpid" 2>/dev/null; wait "$runpid" 2>/dev/null
recorded=$(sqlite3 state.db 'select count(*) from batch_requests')
[[ $recorded == 25 ]] && ok "the submitted batch is in the state database before the kill" || bad recorded "$recorded $(cat kill.err)"
out=$("$FQL" --format csv -c "$script" 2>resume.err)
[[ $out == $'n\n25' && $(stat "batches|created") == $((created + 1)) ]] && grep -q "resuming batch" resume.err && ok "resumed after kill -9 without a second submission" \
  || bad resume "out=$out created=$(( $(stat "batches|created") - created )) $(cat resume.err)"
[[ $(sqlite3 state.db 'select count(*) from batches') == 0 ]] && ok "a collected batch is forgotten" || bad forget "$(sqlite3 state.db 'select * from batches')"

# Ctrl-C: the run stops at once, says how to resume, and the next run resumes
script="${script//resume ticket/interrupt ticket}"
created=$(stat "batches|created")
"$FQL" --format csv -c "$script" > int.out 2> int.err & runpid=$!
for _ in $(seq 200); do grep -q "submitted batch" int.err && break; sleep 0.05; done
t0=$(date +%s%N); kill -INT "$runpid"; wait "$runpid"; rc=$?; ms=$(( ($(date +%s%N) - t0) / 1000000 ))
[[ $rc == 1 ]] && (( ms < 1500 )) && grep -q "interrupted: a submitted batch keeps running" int.err && ok "ctrl-c stops polling (${ms} ms)" || bad ctrl-c "rc=$rc ms=$ms $(cat int.err)"
out=$("$FQL" --format csv -c "$script" 2>resume.err)
[[ $out == $'n\n25' && $(stat "batches|created") == $((created + 1)) ]] && ok "resumed after ctrl-c" || bad resume-int "out=$out $(cat resume.err)"

# a recorded batch the provider does not know (the server forgot it) is submitted again
script="${script//interrupt ticket/forgotten ticket}"
"$FQL" --format csv -c "$script" > f.out 2> f.err & runpid=$!
for _ in $(seq 200); do grep -q "submitted batch" f.err && break; sleep 0.05; done
kill -9 "$runpid" 2>/dev/null; wait "$runpid" 2>/dev/null
curl -s -X POST "$SIMURL/sim/reset" -d '{}' >/dev/null
curl -s -X POST "$SIMURL/sim/config" -d '{"batch_delay_ms": 300}' >/dev/null
out=$("$FQL" --format csv -c "$script" 2>f2.err)
[[ $out == $'n\n25' && $(stat "batches|created") == 1 ]] && grep -q "unknown to the provider" f2.err && ok "a forgotten batch is submitted again" || bad forgotten "out=$out $(cat f2.err)"

# no key in any output, log or state row
! grep -rq "SECRET-77" ./*.err ./*.out 2>/dev/null && ! sqlite3 state.db .dump | grep -q "SECRET-77" && ok "no key in output or state" || bad key-leak "found"

# models without a Batch API: a clear error when the script is bound
out=$("$FQL" -c 'model g = vertex("gemini-2.5-flash", batch: true); values [{x: 1}]' 2>&1); rc=$?
[[ $rc == 2 && $out == *"batch: true needs a provider whose Batch API"* && $out == *"provider gemini"* && $out == *"1:"* ]] && ok "batch on vertex is a bind error" || bad vertex "rc=$rc $out"
out=$("$FQL" -c 'model b = openai("gpt-4o", batch: "yes"); values [{x: 1}]' 2>&1); rc=$?
[[ $rc == 2 && $out == *"takes true or false"* ]] && ok "batch takes a bool" || bad batch-bool "rc=$rc $out"

# per-row model choice: short rows to fast, longer ones to long; a row that fits no window is null
# (pack: 1: requests are counted per row)
long=$(printf 'word %.0s' $(seq 100))
huge=$(printf 'word %.0s' $(seq 400))
before_fast=$(stat "models|gpt-4o-mini|requests"); before_long=$(stat "models|gpt-4o|requests")
out=$("$FQL" --format csv -c "model fast = openai(\"gpt-4o-mini\", context_window: 150);
  model long = openai(\"gpt-4o\", context_window: 400);
  values [{id: 1, t: \"short api one\"}, {id: 2, t: \"short billing two\"}, {id: 3, t: \"$long\"}, {id: 4, t: \"$huge\"}, {id: 5, t: \"route short three\"}]
  | select id, classify(t, [\"api\", \"billing\", \"word\"], model: if(length(t) < 100, \"fast\", \"long\"), pack: 1) as c" 2>route.err); rc=$?
d_fast=$(( $(stat "models|gpt-4o-mini|requests") - before_fast )); d_long=$(( $(stat "models|gpt-4o|requests") - before_long ))
[[ $rc == 0 && $out == $'id,c\n1,api\n2,billing\n3,word\n4,\n5,api' && $d_fast == 3 && $d_long == 1 ]] && ok "per-row routing (fast 3, long 1)" \
  || bad routing "rc=$rc out=$out fast=$d_fast long=$d_long $(cat route.err)"
err=$(q 'from system.lm_errors | where kind == "context_window" | select row, message | limit 1')
[[ $err == *"every candidate model (fast: 150, long: 400)"* ]] && ok "too long for every candidate: null with the reason" || bad too-long "$err"
# a row the expression sends to fast but that only long can hold goes to long (200 words: about 230
# tokens counted exactly, gpt-4o being an OpenAI model)
before_long=$(stat "models|gpt-4o|requests")
out=$(q "model fast = openai(\"gpt-4o-mini\", context_window: 150); model long = openai(\"gpt-4o\", context_window: 400);
  values [{t: \"$long $long reroute\"}] | select classify(t, [\"api\", \"word\"], model: if(true, \"fast\", \"long\")) as c")
[[ $out == $'c\nword' && $(( $(stat "models|gpt-4o|requests") - before_long )) == 1 ]] && ok "a row too long for its alias goes to a candidate that holds it" || bad reroute "$out"
out=$("$FQL" -c 'model fast = openai("gpt-4o-mini"); values [{t: "x", m: "fast"}] | select classify(t, ["a"], model: m)' 2>&1); rc=$?
[[ $rc == 0 && $out == *"│ a "* ]] && ok "model: from a column is routed per row (issue 21)" || bad model-col "rc=$rc $out"
out=$("$FQL" -c 'model fast = openai("gpt-4o-mini"); model long = openai("gpt-4o"); values [{t: "x"}] | select classify(t, ["a"], model: if(length(t) < 3, "fast", "lnog"))' 2>&1); rc=$?
[[ $rc == 2 && $out == *"unknown model 'lnog'; did you mean 'long'?"* ]] && ok "an unknown candidate is a bind error" || bad model-typo "rc=$rc $out"

# fallback: rows that fail on primary (a refusal; a 500 that outlives the retries) go to backup
# (pack: 1: the sim's faults pick rows by their text, one row a request)
before_b=$(stat "models|gpt-4o|requests")
out=$("$FQL" --format csv -c 'model backup = openai("gpt-4o");
  model primary = openai("gpt-4o-mini", max_retries: 2, fallback: ["backup"]);
  values [{id: 1, t: "fine api"}, {id: 2, t: "poison api"}, {id: 3, t: "boom billing"}, {id: 4, t: "fine billing"}]
  | select id, classify(t, ["api", "billing"], model: primary, pack: 1) as c' 2>fb.err); rc=$?
[[ $rc == 0 && $out == $'id,c\n1,api\n2,api\n3,billing\n4,billing' && $(( $(stat "models|gpt-4o|requests") - before_b )) == 2 ]] && ok "fallback answers the failed rows" \
  || bad fallback "rc=$rc out=$out $(cat fb.err)"
calls=$(q 'from system.lm_calls | where model == "backup" or model == "primary" | group by model, status agg n = count() | order by model, status')
[[ $calls == $'model,status,n\nbackup,ok,2\nprimary,failed,1\nprimary,ok,2\nprimary,row_error,1' ]] && ok "lm_calls say which alias answered" || bad fallback-calls "$calls"
grep -q "primary (openai gpt-4o-mini): 4 rows.*2 handed to a fallback" fb.err && grep -q "backup (openai gpt-4o): 2 rows" fb.err && ok "summary lines name the fallback" || bad fallback-summary "$(cat fb.err)"
m=$(q 'from system.query_metrics | where model == "backup" | select rows, requests | limit 1')
[[ $m == $'rows,requests\n2,2' ]] && ok "query_metrics count the fallback alias" || bad fallback-metrics "$m"
# fatal errors do not fall back: quota exhausted stops the statement
before_b=$(stat "models|gpt-4o|requests")
out=$("$FQL" --format csv -c 'model backup = openai("gpt-4o"); model q = openai("quota-model", fallback: ["backup"]);
  values [{t: "a"}, {t: "b"}, {t: "c"}] | select classify(t, ["a", "b"], model: q) as c' 2>&1); rc=$?
[[ $rc == 1 && $out == *quota* && $(stat "models|gpt-4o|requests") == "$before_b" ]] && ok "no fallback on a fatal error" || bad fatal-fallback "rc=$rc $out"
out=$("$FQL" -c 'model a = openai("gpt-4o", fallback: ["nope"]); values [{x: 1}]' 2>&1); rc=$?
[[ $rc == 2 && $out == *"fallback: unknown model 'nope'"* ]] && ok "unknown fallback alias is a bind error" || bad fallback-unknown "rc=$rc $out"
out=$("$FQL" -c 'model a = openai("gpt-4o", fallback: ["a"]); values [{x: 1}]' 2>&1); rc=$?
[[ $rc == 2 && $out == *"own fallback"* ]] && ok "self fallback is a bind error" || bad fallback-self "rc=$rc $out"

# fallback into a batch model: the failed rows go through the Batch API
created=$(stat "batches|created")
out=$(q 'model bb = anthropic("claude-haiku-4-5", batch: true); model p2 = openai("gpt-4o-mini", fallback: ["bb"]);
  values [{t: "poison billing again"}, {t: "fine api again"}] | select classify(t, ["api", "billing"], model: p2, pack: 1) as c')
[[ $out == $'c\nbilling\napi' && $(stat "batches|created") == $((created + 1)) && $(stat "batches|requests") -ge 1 ]] && ok "fallback to a batch model" || bad fallback-batch "$out"

finish
