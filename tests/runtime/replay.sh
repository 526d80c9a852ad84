#!/usr/bin/env bash
# --record, --replay and --offline against fql-sim (issue 19): a recorded run replays with no key
# and no request, the same rows; the file is stable (sorted, the same for the same run) and holds
# no key; a changed prompt is an error naming the statement, row and model (exit 1), sending
# nothing; --offline answers from the cache only; provenance() says cached or sent.
# usage: tests/runtime/replay.sh BUILD_DIR
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/../lib/setup.sh"
echo '{}' > sim.json
source "$HERE/../lib/sim.sh"

printf 'id,t\n1,a good film\n2,a bad film\n3,great fun\n4,dull\n5,a fine cast\n6,too long\n' > r.csv
cat > p.fql <<'Q'
model m = openai("gpt-4o-mini");
embedding model e = openai("text-embedding-3-small");
from csv("r.csv")
| derive pos = predicate("Is {{t}} positive?", model: m), tone = classify(t, ["warm", "cold"], model: m, pack: 1),
    v = embed(t, model: e)
| select id, pos, tone, similarity(v, v) > 0.99 as self;
Q

# 1. record: every answer used, sorted by key, no key in it
"$FQL" --no-progress --format csv --record rec.jsonl p.fql > rec.csv 2> rec.err || bad record "$(head -c 400 rec.err)"
sent=$(reqs gpt-4o-mini)
lines=$(wc -l < rec.jsonl)
sorted=$(node -e 'const ls=require("fs").readFileSync("rec.jsonl","utf8").trim().split("\n").map(JSON.parse);
  const ks=ls.map(l=>l.key); const ok=ks.every((k,i)=>i==0||ks[i-1]<k) && ls.every(l=>/^[0-9a-f]{64}$/.test(l.key) && l.model && l.provider && ("answer" in l || "vectors" in l) && l.tokens);
  console.log(ok?"yes":"no")')
if [[ $lines -ge 18 && $sorted == yes ]] && ! grep -q "sk-test-lib" rec.jsonl; then ok "record: $lines answers as JSON lines, sorted by request key, with model and tokens, no API key"
else bad record-file "lines $lines sorted $sorted $(head -c 300 rec.jsonl)"; fi

# 2. recording the same run again (from the cache now) writes the same file
"$FQL" --no-progress --format csv --record rec2.jsonl p.fql > rec2.csv 2> rec2.err
cmp -s rec.jsonl rec2.jsonl && cmp -s rec.csv rec2.csv && [[ $(reqs gpt-4o-mini) == "$sent" ]] \
  && ok "a second record (answers from the cache, nothing sent) writes the same file" || bad stable "$(diff rec.jsonl rec2.jsonl | head -c 300)"

# 3. replay with no key and a fresh database: the same rows, nothing sent
before=$(curl -s "$SIMURL/sim/stats" | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{let n=0;for(const m of Object.values(JSON.parse(s).models))n+=m.requests||0;console.log(n)})')
env -u OPENAI_API_KEY -u ANTHROPIC_API_KEY -u GEMINI_API_KEY -u OPENROUTER_API_KEY \
  "$FQL" --no-progress --format csv --db fresh.db --replay rec.jsonl p.fql > rep.csv 2> rep.err; rc=$?
after=$(curl -s "$SIMURL/sim/stats" | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{let n=0;for(const m of Object.values(JSON.parse(s).models))n+=m.requests||0;console.log(n)})')
[[ $rc == 0 && $before == "$after" ]] && cmp -s rec.csv rep.csv && ok "replay without any API key: the recorded rows ($(($(wc -l < rep.csv) - 1))), no request sent" \
  || bad replay "rc $rc, requests $before -> $after; $(diff rec.csv rep.csv | head -4) $(head -c 300 rep.err)"

# 4. a changed prompt: an error naming the statement, row and model, exit 1, nothing sent
sed 's/Is {{t}} positive?/Is {{t}} upbeat?/' p.fql > changed.fql
env -u OPENAI_API_KEY "$FQL" --no-progress --db fresh.db --replay rec.jsonl changed.fql > ch.out 2> ch.err; rc=$?
after2=$(curl -s "$SIMURL/sim/stats" | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{let n=0;for(const m of Object.values(JSON.parse(s).models))n+=m.requests||0;console.log(n)})')
if [[ $rc == 1 && $after2 == "$after" ]] && grep -q 'statement `from csv("r.csv")' ch.err && grep -q "row 0, model 'm' (openai \"gpt-4o-mini\")" ch.err \
   && grep -q "no recorded answer in the replay file rec.jsonl" ch.err; then ok "a changed prompt under --replay: exit 1, statement, row and model named, nothing sent"
else bad changed "rc $rc, requests $after -> $after2: $(head -c 400 ch.err)"; fi

# 5. --offline: from the state database's cache; a request not there is the same error
env -u OPENAI_API_KEY "$FQL" --no-progress --format csv --offline p.fql > off.csv 2> off.err; rc=$?
[[ $rc == 0 ]] && cmp -s rec.csv off.csv && ok "--offline answers from the cache, no key" || bad offline "rc $rc $(head -c 300 off.err)"
env -u OPENAI_API_KEY "$FQL" --no-progress --offline changed.fql > off2.out 2> off2.err; rc=$?
[[ $rc == 1 ]] && grep -q "no recorded answer in the response cache (--offline)" off2.err && grep -q "row 0, model 'm'" off2.err \
  && ok "--offline with a request not in the cache: exit 1, named" || bad offline-miss "rc $rc $(head -c 300 off2.err)"
env -u OPENAI_API_KEY "$FQL" --no-progress --db empty.db --offline -c 'embedding model e = openai("text-embedding-3-small");
  from csv("r.csv") | derive v = embed(t, model: e) | select id, similarity(v, v) as s' > off3.out 2> off3.err; rc=$?
[[ $rc == 1 ]] && grep -q "model 'e'" off3.err && ok "--offline embeddings not in the cache: exit 1, the model named" || bad offline-embed "rc $rc $(head -c 300 off3.err)"

# 6. provenance(): sent once, then cached; request_id is the record's key
P='model m = openai("gpt-4o-mini");
  from csv("r.csv") | derive p = predicate("Is {{t}} kind?", model: m, pack: 1),
    pv = provenance(predicate("Is {{t}} kind?", model: m, pack: 1))
  | select id, p, pv.model, pv.provider, pv.cached, pv.attempts, pv.request_id, pv.input_tokens, pv.output_tokens, pv.cost_usd, pv.latency_ms'
n0=$(reqs gpt-4o-mini)
"$FQL" --no-progress --format csv --record prov.jsonl -c "$P" > prov1.csv 2> prov1.err
n1=$(reqs gpt-4o-mini)
"$FQL" --no-progress --format csv -c "$P" > prov2.csv 2> prov2.err
first=$(awk -F, 'NR > 1 && $3 == "m" && $4 == "openai" && $5 == "false" && $6 == 1 && $8 > 0 && $9 > 0 && $10 > 0 && $11 > 0 { k++ } END { print k + 0 }' prov1.csv)
second=$(awk -F, 'NR > 1 && $5 == "true" && $6 == 0 && $8 > 0 && $10 == 0 && $11 == "" { k++ } END { print k + 0 }' prov2.csv)
keys=$(awk -F, 'NR > 1 { print $7 }' prov1.csv | sort | tr '\n' ' ')
reck=$(node -e 'console.log(require("fs").readFileSync("prov.jsonl","utf8").trim().split("\n").map(l=>JSON.parse(l).key).sort().join(" ")+" ")')
[[ $((n1 - n0)) == 6 && $first == 6 && $second == 6 && $keys == "$reck" ]] \
  && ok "provenance(): 6 rows in 6 requests (shared with the plain call), sent with tokens, cost, latency; then cached (cost 0, no latency); request_id = the record's key" \
  || bad provenance "requests $((n1 - n0)), sent rows $first, cached rows $second; $(head -3 prov1.csv) $(head -3 prov2.csv) $(head -c 300 prov1.err)"

# 6b. provenance(col) of a column a predicate computed in an earlier stage: how that answer was got
#     (sent in this statement: cached false, one attempt), with no request of its own
n0=$(reqs gpt-4o-mini)
"$FQL" --no-progress --format csv --no-cache -c 'model m = openai("gpt-4o-mini");
  from csv("r.csv") | derive p = predicate("Is {{t}} nice?", model: m, pack: 1) | where id >= 0 | select id, t, p
  | derive pv = provenance(p) | select id, pv.cached, pv.attempts, pv.model' > pcol.csv 2> pcol.err
n1=$(reqs gpt-4o-mini)
sent=$(awk -F, 'NR > 1 && $2 == "false" && $3 == 1 && $4 == "m" { k++ } END { print k + 0 }' pcol.csv)
[[ $sent == 6 && $((n1 - n0)) == 6 ]] && ok "provenance(column): the column's own answers (sent, 1 attempt), 6 requests for 6 rows" \
  || bad provenance-col "rows $sent, requests $((n1 - n0)): $(head -3 pcol.csv) $(head -c 300 pcol.err)"

# 7. system.lm_calls rows carry the statement and the row they served
"$FQL" --format csv -c 'from system.lm_calls | where statement like "%Is {{t}} kind?%" | select row, request_key | order by row' > calls.csv
rows=$(awk -F, 'NR > 1 { printf "%s ", $1 }' calls.csv)
[[ $rows == "0 1 2 3 4 5 " ]] && ok "system.lm_calls: statement and row (0..5) of each call" || bad lm_calls "$(head -5 calls.csv)"

# 8. flags: one of --record/--replay/--offline at a time; a missing replay file is named
"$FQL" --offline --replay rec.jsonl -c '1' > x.out 2> x.err; rc=$?
[[ $rc == 2 ]] && grep -q "one at a time" x.err && ok "--offline with --replay: refused (exit 2)" || bad flags "rc $rc $(cat x.err)"
"$FQL" --record r.jsonl --no-cache -c '1' > z.out 2> z.err; rc=$?
[[ $rc == 2 ]] && grep -q "drop --no-cache" z.err && ok "--record with --no-cache: refused (exit 2)" || bad record-nocache "rc $rc $(cat z.err)"
"$FQL" --replay nosuch.jsonl -c '1' > y.out 2> y.err; rc=$?
[[ $rc == 1 ]] && grep -q "cannot read the replay file nosuch.jsonl" y.err && ok "a missing replay file: exit 1, named" || bad nofile "rc $rc $(cat y.err)"
finish
