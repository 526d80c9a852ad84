#!/usr/bin/env bash
# A semantic self-join above the exact-pair budget (max_pairs) against fql-sim: prefilter auto
# either reaches the recall it states, measured against the truth (every pair judged once with
# prefilter: off; the simulator answers deterministically), or stops after the judged sample and
# says what to write. It never drops matching pairs silently (it used to keep each left row's 10
# nearest right rows: 8% of the matches here).
# usage: tests/runtime/pair_recall.sh BUILD_DIR
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/../lib/setup.sh"
echo '{"default": {"latency_ms": 1, "jitter_ms": 1}}' > sim.json
source "$HERE/../lib/sim.sh"
CHAT=gpt-4o-mini
HEAD='model fast = openai("gpt-4o-mini"); embedding model vec = openai("text-embedding-3-small");'

# 110 rows (12,100 pairs, above 10,000): 31 urgent rows share ten words; the others have words of
# their own and one of the ten. The simulator's predicate is true when the pair's text has an
# urgent word, so a pair matches when either row is urgent (5,859 pairs, about half); urgent rows
# are the more similar by embedding, so a similarity threshold can keep the matches.
{ echo "id,t"
  for k in $(seq 1 110); do
    if (( k % 7 == 0 || k % 7 == 3 )); then echo "$k,urgent outage id$k v0 v1 v2 v3 v4 v5 v6 v7 v8 v9"
    else echo "$k,id$k a$k b$k v$((k % 10))"; fi
  done; } > rows.csv
JOIN="from csv(\"rows.csv\") | semantic join csv(\"rows.csv\") as r2 on \"Does {{left.t}} relate to {{right.t}}?\""

# recall of got.csv against truth.csv (sorted pair lists): matching pairs found / all matching pairs
recall_of() { node -e 'const [a,b]=process.argv.slice(1).map(Number);console.log(b?(a/b).toFixed(4):0)' "$(comm -12 "$1" truth.csv | wc -l)" "$(wc -l < truth.csv)"; }
ge() { node -e 'process.exit(Number(process.argv[1])>=Number(process.argv[2])?0:1)' "$1" "$2"; }

# ---- the truth: every pair judged once (its own state database, so the runs below pay their own way)
FQL_DB="$PWD/truth.db" "$FQL" --format csv -c "$HEAD $JOIN prefilter: off | select id, r2_id" 2>err.txt | tail -n +2 | sort > truth.csv
nt=$(wc -l < truth.csv)
[[ $nt == 5859 ]] && ok "the truth: 5859 of 12100 pairs match" || bad "truth" "$nt pairs; $(cat err.txt)"

# ---- default (recall: 0.95, max_pairs: 10000): a threshold learned from the sample, recall reached
before=$(reqs $CHAT)
"$FQL" --format csv -c "$HEAD $JOIN | select id, r2_id" 2>err.txt | tail -n +2 | sort > got.csv
n=$(( $(reqs $CHAT) - before ))
r=$(recall_of got.csv)
extra=$(comm -23 got.csv truth.csv | wc -l)
ge "$r" 0.95 && [[ $extra == 0 ]] && ok "prefilter auto reaches recall 0.95 (measured $r)" || bad "recall" "measured $r, $extra pairs not in the truth; $(cat err.txt)"
echo "# default (packed): $n requests for 12100 pairs, recall $r; $(grep -o "prefilter: [0-9]* of 12100 pairs[^;]*" err.txt)"
[[ $n -le 10000 && $n -gt 0 ]] && ok "within max_pairs: $n requests of 12100 pairs" || bad "requests" "$n"
grep -q 'fast (openai gpt-4o-mini): .*; prefilter: [0-9]* of 12100 pairs at similarity .*est. recall [01]\.[0-9]* (lower bound [01]\.[0-9]*, target 0.95' err.txt \
  && ok "the summary line says the estimated recall and its bound" || bad "summary" "$(cat err.txt)"
out=$("$FQL" --format csv -c 'from system.query_metrics | where model == "fast" | order by query_id desc | limit 1 | select est_recall >= 0.95 as ok' 2>&1)
[[ $out == $'ok\ntrue' ]] && ok "system.query_metrics.est_recall" || bad "est_recall" "$out"
out=$("$FQL" --format csv -c 'from system.query_metrics | where model == "vec" | order by query_id desc | limit 1 | select est_recall is null as ok' 2>&1)
[[ $out == $'ok\ntrue' ]] && ok "est_recall is null on the embedding model's row" || bad "est_recall null" "$out"
out=$("$FQL" -c "$HEAD explain analyze $JOIN" 2>/dev/null)
grep -A1 '^semantic join' <<<"$out" | grep -q '| actual: .*; prefilter: [0-9]* of 12100 pairs.*est. recall [01]\.[0-9]* (lower bound [01]\.[0-9]*' \
  && ok "explain analyze shows the estimated recall and its bound" || bad "explain analyze" "$out"

# ---- a budget the target does not fit in: stop after the sample, say what to write, no rows
before=$(reqs $CHAT)
out=$("$FQL" --format csv --no-cache -c "$HEAD $JOIN max_pairs: 5000 | select id, r2_id" 2>err.txt); rc=$?
n=$(( $(reqs $CHAT) - before ))
msg=$(cat err.txt)
[[ $rc == 1 && -z $out && $n -le 200 && $msg == *"more than max_pairs 5000; to reach recall 0.95"*"write \`max_pairs: "*"\`prefilter: off\` to send all 12100 pairs, or a lower \`recall:\`"* ]] \
  && ok "over the budget: stops after the sample ($n requests) and says what to write" || bad "stop" "rc=$rc requests=$n out=$out $msg"
# writing what it says runs and reaches the target
want=$(sed -n 's/.*write `max_pairs: \([0-9]*\)`.*/\1/p' err.txt | head -1)
"$FQL" --format csv --no-cache -c "$HEAD $JOIN max_pairs: ${want:-0} | select id, r2_id" 2>err.txt | tail -n +2 | sort > got2.csv
r=$(recall_of got2.csv)
ge "$r" 0.95 && ok "max_pairs: $want as suggested reaches recall 0.95 (measured $r)" || bad "suggested budget" "measured $r; $(cat err.txt)"

# ---- at or under max_pairs every pair is a candidate: the whole truth
"$FQL" --format csv -c "$HEAD $JOIN max_pairs: 12100 | select id, r2_id" 2>err.txt | tail -n +2 | sort > got3.csv
cmp -s got3.csv truth.csv && grep -q 'every pair a candidate (12100)' err.txt && ok "max_pairs: 12100 sends every pair" || bad "exact" "$(cat err.txt)"

# ---- prefilter: embed top K is the user's choice, and says that it may drop pairs
"$FQL" --format csv -c "$HEAD $JOIN prefilter: embed top 10 | select id, r2_id" 2>err.txt | tail -n +2 | sort > got4.csv
r=$(recall_of got4.csv)
grep -q 'prefilter: embed top 10 kept 1100 of 12100 pairs and may have dropped matching pairs' err.txt \
  && ok "embed top 10 says it may drop pairs (measured recall $r)" || bad "embed top K" "$(cat err.txt)"
out=$("$FQL" --format csv -c 'from system.query_metrics | where model == "fast" | order by query_id desc | limit 1 | select est_recall is null as ok' 2>&1)
[[ $out == $'ok\ntrue' ]] && ok "embed top K: no recall estimate recorded" || bad "embed est_recall" "$out"

finish
