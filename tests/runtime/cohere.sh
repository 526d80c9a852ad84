#!/usr/bin/env bash
# Cohere embedding models end to end against fql-sim (POST /v2/embed, the key check POST
# /v1/check-api-key): the vectors are the simulator's, lm_calls and the simulator agree on requests
# and tokens, and a base URL that does not speak Cohere's API fails at the key check, saying so.
# usage: tests/runtime/cohere.sh BUILD_DIR
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/../lib/setup.sh"
echo '{"default": {"latency_ms": 2, "jitter_ms": 3}, "models": {"embed-multilingual-v3.0": {"rpm": 120}}}' > sim.json
source "$HERE/../lib/sim.sh"
export COHERE_API_KEY="co-test-SECRET-91" COHERE_BASE_URL="$SIMURL"
q() { "$FQL" --format csv -c "$1" 2>/dev/null; }

rows='values [{id: 1, t: "billing problem"}, {id: 2, t: "weather report"}, {id: 3, t: "billing problem again"}]'
out=$("$FQL" --format csv -c "embedding model e = cohere(\"embed-english-v3.0\");
  $rows | select id, length(embed(t, model: e)) as dim, round(similarity(embed(t, model: e), embed(\"billing problem\", model: e)), 3) as s" 2>run.err); rc=$?
[[ $rc == 0 ]] && ok "cohere embeddings: the statement runs" || bad cohere-run "rc=$rc $(cat run.err)"
echo "$out" | awk -F, 'NR == 2 { a = ($2 == 1024 && $3 == 1.0) } NR == 3 { b = ($2 == 1024 && $3 == 0.0) } NR == 4 { c = ($2 == 1024 && $3 > 0.5 && $3 < 1) }
  END { exit !(NR == 4 && a && b && c) }' && ok "1024-dimension vectors; similar texts close, unrelated apart" || bad cohere-vectors "$out"

# lm_calls: one row per request sent, with the tokens Cohere billed
calls=$(q 'from system.lm_calls | where model == "e" | agg n = count(), p = max(provider), mn = max(model_name), st = max(status), tok = sum(input_tokens)')
sim_req=$(stat_of embed-english-v3.0 requests); sim_tok=$(stat_of embed-english-v3.0 input_tokens)
[[ $calls == "n,p,mn,st,tok"$'\n'"$sim_req,cohere,embed-english-v3.0,ok,$sim_tok" && $sim_req -ge 1 ]] \
  && ok "lm_calls: $sim_req requests, $sim_tok tokens, as the simulator counted" || bad cohere-lm-calls "$calls (sim: $sim_req requests, $sim_tok tokens)"

# the vector FQL stores is the one the simulator computes for that text
got=$(q "embedding model e = cohere(\"embed-english-v3.0\"); values [{t: \"weather report\"}] | select embed(t, model: e) as v" | sed -n 2p)
want=$(curl -s "$SIMURL/v2/embed" -H "Authorization: Bearer x" -d '{"model":"embed-english-v3.0","texts":["weather report"],"input_type":"search_document"}')
node -e 'const g=JSON.parse(process.argv[1].replace(/^"|"$/g,"").replace(/""/g,"\"")), w=JSON.parse(process.argv[2]).embeddings.float[0];
  process.exit(g.length===w.length && g.every((x,i)=>Math.abs(x-w[i])<1e-6) ? 0 : 1)' "$got" "$want" \
  && ok "the stored vector is the simulator's" || bad cohere-same-vector "got ${got:0:80} want ${want:0:80}"

# a rerun is answered from the cache
before=$(stat_of embed-english-v3.0 requests)
out2=$("$FQL" --format csv -c "embedding model e = cohere(\"embed-english-v3.0\");
  $rows | select id, length(embed(t, model: e)) as dim, round(similarity(embed(t, model: e), embed(\"billing problem\", model: e)), 3) as s" 2>/dev/null)
[[ $out2 == "$out" && $(stat_of embed-english-v3.0 requests) == "$before" ]] && ok "rerun from the cache" || bad cohere-cache "$out2"

# embed-v4.0 with dimensions: output_dimension is sent
out=$(q 'embedding model v4 = cohere("embed-v4.0", dimensions: 256); values [{t: "x y"}] | select length(embed(t, model: v4)) as n')
[[ $out == $'n\n256' ]] && ok "dimensions: 256 on embed-v4.0" || bad cohere-dims "$out"

# the key check: a bad key is refused before anything is embedded
out=$(COHERE_API_KEY=co-bad "$FQL" -c 'embedding model e = cohere("embed-english-v3.0"); values [{t: "key check"}] | select embed(t, model: e) as v' 2>&1); rc=$?
[[ $rc == 1 && $out == *"model 'e' (cohere): the key in COHERE_API_KEY was rejected (HTTP 401)"* ]] && ok "bad key: refused at the key check" || bad cohere-bad-key "rc=$rc $out"
# a server that does not speak Cohere's API (404 on the key check) fails there, saying so
before=$(curl -s "$SIMURL/sim/stats" | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).requests))')
out=$(COHERE_BASE_URL="$SIMURL/sim" "$FQL" -c 'embedding model e = cohere("embed-english-v3.0"); values [{t: "not cohere"}] | select embed(t, model: e) as v' 2>&1); rc=$?
after=$(curl -s "$SIMURL/sim/stats" | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).requests))')
[[ $rc == 1 && $out == *"model 'e' (cohere): the server at $SIMURL/sim does not speak Cohere's API"*"HTTP 404"*"COHERE_BASE_URL"* && $after == "$before" ]] \
  && ok "a base URL that answers 404 fails at the key check" || bad cohere-404 "rc=$rc requests $before -> $after: $out"

# a trial key's per-minute limit ("limited to 120 API calls / minute") is a rate limit, waited
# out, not the monthly quota: 60 texts in several requests, 2 allowed a second
out=$("$FQL" --format csv -c "embedding model m = cohere(\"embed-multilingual-v3.0\");
  values [{x: 1}] | derive k = $(node -e 'console.log(JSON.stringify([...Array(60).keys()]))') | explode k
  | select length(embed(\"limited text \" || k, model: m)) as n | agg rows = count(), dims = sum(n)" 2>rl.err); rc=$?
[[ $rc == 0 && $out == $'rows,dims\n60,61440' && $(stat_of embed-multilingual-v3.0 rate_limited) -ge 1 ]] \
  && ok "trial key per-minute 429s are waited out ($(stat_of embed-multilingual-v3.0 rate_limited) limited)" || bad cohere-trial-rpm "rc=$rc out=$out $(tail -2 rl.err)"

! grep -rq "SECRET-91" ./*.err 2>/dev/null && ! sqlite3 state.db .dump | grep -q "SECRET-91" && ok "no key in output or state" || bad key-leak "found"
finish
