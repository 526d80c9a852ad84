#!/usr/bin/env bash
# sim join, semantic join and cluster against fql-sim over real HTTP: answers from the simulator's
# deterministic rules (embeddings: texts sharing words are close; predicate: true when a word starts
# with urgent/broken/escalat/...), and request counts taken at the simulator.
# usage: tests/runtime/semantic_sets.sh BUILD_DIR
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/../lib/setup.sh"
echo '{"default": {"latency_ms": 1, "jitter_ms": 2}}' > sim.json
source "$HERE/../lib/sim.sh"
EMB=text-embedding-3-small CHAT=gpt-4o-mini
HEAD='model fast = openai("gpt-4o-mini"); embedding model vec = openai("text-embedding-3-small");'

cat > tickets.csv <<'C'
id,t
1,my invoices and billing address are wrong
2,the checkout page is broken
3,api requests fail with errors
4,
5,my invoices and billing address are wrong
C
cat > teams.csv <<'C'
team,about
billing,invoices billing payments refunds address
web,checkout page website
api,api requests tokens errors
oncall,escalations
C

# ---- sim join on text: each distinct text embedded once (one request a side), nearest team first
SJ="$HEAD from csv(\"tickets.csv\") | sim join csv(\"teams.csv\") on t ~ about top 2 | select id, team, round(score, 3) as s"
out=$("$FQL" --format csv -c "$SJ" 2>err.txt); rc=$?
# cosines of the simulator's word vectors: 3 shared words of 7 and 5 = 3/sqrt(35); no shared word = 0
# (ties go to the earlier team)
want=$'id,team,s\n1,billing,0.507\n1,web,0.0\n2,web,0.516\n2,billing,0.0\n3,api,0.671\n3,billing,0.0\n5,billing,0.507\n5,web,0.0'
[[ $rc == 0 && $out == "$want" ]] && ok "sim join on text" || bad "sim join on text" "rc=$rc out=$out err=$(cat err.txt)"
n=$(reqs $EMB)
[[ $n == 2 ]] && ok "sim join: one embedding request per side" || bad "sim join requests" "$n embedding requests, wanted 2"
grep -q 'vec (openai text-embedding-3-small): 8 rows' err.txt && ok "sim join: the null text is not sent" || bad "sim join rows" "$(cat err.txt)"
out2=$("$FQL" --format csv -c "$SJ" 2>err.txt)
[[ $out2 == "$want" && $(reqs $EMB) == 2 ]] && ok "sim join: embeddings come from the cache on a rerun" || bad "sim join cache" "requests $(reqs $EMB); $out2"

# vectors on one side, text on the other
out=$("$FQL" --format csv -c "$HEAD let v = from csv(\"teams.csv\") | select team, embed(about) as e;
  from csv(\"tickets.csv\") | where id == 3 | sim join v on t ~ e | select id, team" 2>>stderr.txt)
[[ $out == $'id,team\n3,api' ]] && ok "sim join: text against stored vectors" || bad "sim join mixed" "$out"

# ---- semantic join: one predicate answer per distinct pair, packed by default (12 pairs in one
# request; the count was 12 before packing became the default); true pairs kept
before=$(reqs $CHAT)
SEM="$HEAD from csv(\"tickets.csv\") | where id <= 3 | semantic join csv(\"teams.csv\") on \"Should team {{right.team}} ({{about}}) handle this ticket: {{left.t}}\" model fast | select id, team"
out=$("$FQL" --format csv -c "$SEM" 2>err.txt); rc=$?
want=$'id,team\n1,oncall\n2,billing\n2,web\n2,api\n2,oncall\n3,oncall'
[[ $rc == 0 && $out == "$want" ]] && ok "semantic join" || bad "semantic join" "rc=$rc out=$out err=$(cat err.txt)"
n=$(( $(reqs $CHAT) - before ))
[[ $n == 1 ]] && ok "semantic join: 1 packed request for 3 x 4 pairs" || bad "semantic join requests" "$n"
"$FQL" --format csv -c "$SEM" >/dev/null 2>&1
n=$(( $(reqs $CHAT) - before ))
[[ $n == 1 ]] && ok "semantic join: a rerun is answered from the cache" || bad "semantic join cache" "$n requests"
out=$("$FQL" --format csv -c 'from system.query_metrics | where model == "fast" | order by query_id desc | limit 1 | select operator, rows, requests, cache_hits' 2>>stderr.txt)
[[ $out == $'operator,rows,requests,cache_hits\npredicate,12,0,12' ]] && ok "semantic join: query_metrics" || bad "semantic join metrics" "$out"

out=$("$FQL" --format csv --no-cache -c "${SEM/model fast |/model fast, pack: 1 |}" 2>err.txt); rc=$?
n=$(( $(reqs $CHAT) - before ))
[[ $rc == 0 && $out == "$want" && $n == 13 ]] && ok "semantic join with pack: 1: 12 requests, the same pairs" || bad "semantic join pack 1" "rc=$rc requests=$n out=$out"

# packed: 4 pairs a request, the same answers
before=$(reqs $CHAT)
out=$("$FQL" --format csv --no-cache -c "${SEM/model fast |/model fast, pack: 4 |}" 2>err.txt); rc=$?
n=$(( $(reqs $CHAT) - before ))
[[ $rc == 0 && $out == "$want" && $n == 3 ]] && ok "semantic join with pack: 4 (3 requests, the same pairs)" || bad "semantic join pack" "rc=$rc requests=$n out=$out $(cat err.txt)"

# ---- prefilter: embed top 1 sends one request per left row: its nearest team
before_c=$(reqs $CHAT) before_e=$(reqs $EMB)
out=$("$FQL" --format csv --no-cache -c "$HEAD from csv(\"tickets.csv\") | semantic join csv(\"teams.csv\") on \"Is {{left.t}} for team {{right.team}}: {{right.about}}?\" prefilter: embed top 1, pack: 1 | select id, team" 2>err.txt); rc=$?
[[ $rc == 0 && $out == $'id,team\n2,web' ]] && ok "prefilter: embed top 1" || bad "prefilter top 1" "rc=$rc out=$out $(cat err.txt)"
n=$(( $(reqs $CHAT) - before_c )); ne=$(( $(reqs $EMB) - before_e ))
# 5 left rows: the null text has no candidate, the duplicate rows make one request: 3 requests
# (pack: 1: one request a candidate pair)
[[ $n == 3 && $ne == 2 ]] && ok "prefilter: 3 predicate requests, 2 embedding requests" || bad "prefilter requests" "predicate $n, embedding $ne"

out=$("$FQL" --no-cache -c "$HEAD explain analyze from csv(\"tickets.csv\") | semantic join csv(\"teams.csv\") on \"Is {{left.t}} for team {{right.team}}: {{right.about}}?\" prefilter: embed top 1" 2>/dev/null)
grep -A1 '^semantic join' <<<"$out" | grep -q '| actual: 1 row, [0-9.]* ms; requests [1-9]' && ok "explain analyze: the join's rows and requests" || bad "explain analyze" "$out"

# ---- prefilter auto: 101 x 100 = 10,100 pairs is above max_pairs 10,000: a sample of pairs is judged
# to learn a similarity threshold; none matches here (no urgent word), so the statement stops
# before the bulk and says what to write, instead of keeping each left row's 10 nearest silently
# (pack: 1 here and below: requests counted per pair)
GEN='let r = values [{x: 1}] | derive k = [0,1,2,3,4,5,6,7,8,9] | explode k | derive k2 = [0,1,2,3,4,5,6,7,8,9] | explode k2
  | select "item " || (k * 10 + k2) || " word" || k || " other" || k2 as about;
let l = values [{x: 1}] | derive k = [0,1,2,3,4,5,6,7,8,9,10] | explode k | derive k2 = [0,1,2,3,4,5,6,7,8,9] | explode k2
  | where k * 10 + k2 <= 100 | select "ticket " || (k * 10 + k2) || " word" || k2 || " other" || k as t;'
before_c=$(reqs $CHAT)
out=$("$FQL" --format csv -c "$HEAD $GEN from l | semantic join r on \"Does {{left.t}} match {{right.about}}?\" pack: 1 | agg n = count(*)" 2>err.txt); rc=$?
n=$(( $(reqs $CHAT) - before_c ))
# (plus the planning request of the join decomposition, which finds none here)
[[ $rc == 1 && $out == "" && $n -gt 0 && $n -le 201 && $(cat err.txt) == *"none of the $((n - 1)) sampled pairs"*"prefilter: off"* ]] \
  && ok "prefilter auto: stops after the judged sample ($n requests, not 10100) and says what to write" \
  || bad "prefilter auto" "rc=$rc out=$out requests=$n $(cat err.txt)"
out=$("$FQL" -c "$HEAD $GEN explain from l | semantic join r on \"Does {{left.t}} match {{right.about}}?\"" 2>&1)
[[ $out == *"prefilter: auto (every pair up to max_pairs 10000; above, the pairs over a similarity threshold for recall 0.95"* ]] && ok "explain shows the prefilter" || bad "explain prefilter" "$out"

# without an embedding model the auto prefilter cannot run: an error before any pair is judged (the
# one request that may be sent is the join decomposition's planning request, cached above, which finds none)
before_c=$(reqs $CHAT)
out=$("$FQL" --format csv -c "model fast = openai(\"gpt-4o-mini\"); $GEN from l | semantic join r on \"Does {{left.t}} match {{right.about}}?\"" 2>&1); rc=$?
n=$(( $(reqs $CHAT) - before_c ))
[[ $rc == 1 && $out == *"10100 candidate pairs"* && $out == *"prefilter: off"* && $n -le 1 ]] && ok "prefilter auto needs an embedding model" || bad "prefilter auto error" "rc=$rc requests=$n $out"
# below the limit every pair is sent
before_c=$(reqs $CHAT)
out=$("$FQL" --format csv -c "model fast = openai(\"gpt-4o-mini\"); $GEN from l | limit 20 | semantic join (from r | limit 30) on \"Is {{left.t}} like {{right.about}}?\" pack: 1 | agg n = count(*)" 2>&1); rc=$?
n=$(( $(reqs $CHAT) - before_c ))
# (and the planning request of the join decomposition, which finds none)
[[ $rc == 0 && $n == 601 ]] && ok "below 10,000 pairs every pair is sent (600, and 1 planning request)" || bad "no prefilter" "rc=$rc requests=$n $out"

# a limit after the join stops it early: pairs go out in waves sized from the pass rate measured,
# the first as large as the rows wanted (at least 8); here every answer is true
before_c=$(reqs $CHAT)
out=$("$FQL" --format csv -c "model fast = openai(\"gpt-4o-mini\"); $GEN from l | semantic join r on \"Urgent: is {{left.t}} about {{right.about}}?\" prefilter: off, pack: 1 | limit 3 | agg n = count(*)" 2>&1); rc=$?
n=$(( $(reqs $CHAT) - before_c ))
[[ $rc == 0 && $out == *$'n\n3'* && $n -ge 3 && $n -le 8 ]] && ok "limit 3 stops the join after the first wave of pairs ($n of 10100 sent)" || bad "limit" "rc=$rc requests=$n $out"

# ---- cluster by embed(text): three topics, three clusters
cat > texts.csv <<'C'
id,topic,text
1,billing,invoice payment refund billing charge
2,web,checkout page website browser button
3,billing,refund invoice billing charge card
4,api,api token request endpoint latency
5,web,website checkout browser page login
6,api,endpoint api request token timeout
7,billing,billing payment charge invoice receipt
8,web,page browser checkout website cart
9,api,api latency endpoint token request
C
out=$("$FQL" --format csv -c "$HEAD from csv(\"texts.csv\") | cluster by embed(text) into 3 as k centroid as c | group by k agg n = count(*), topics = count(distinct topic), dim = max(size(c)) | order by k" 2>>stderr.txt)
[[ $out == $'k,n,topics,dim\n0,3,1,1536\n1,3,1,1536\n2,3,1,1536' ]] && ok "cluster by embed(text)" || bad "cluster by embed" "$out"

finish
