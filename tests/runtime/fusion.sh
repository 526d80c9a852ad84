#!/usr/bin/env bash
# Fusion (issue 15, item 5) against fql-sim in facts mode: classify, extract and predicate over the
# same text in one derive go out as ONE request a row (a pack) with a combined schema: as many
# requests as one of the calls alone, answers equal to the facts and to the run with `set fusion =
# off`, each call's answer cached under its own request (a later run of one call is all cache hits),
# and explain shows the fusion.
# usage: tests/runtime/fusion.sh BUILD_DIR
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/../lib/setup.sh"
N=50
node "$HERE/../lib/reviews.js" films "$N" reviews.csv facts.json
cat > sim.json <<'J'
{"facts": "facts.json", "models": {"gpt-4.1-mini": {"fault_rules": [{"contains": "Review 7:", "fault": "bad_schema"}]}}}
J
source "$HERE/../lib/sim.sh"
qm() {  # qm COLUMNS: of the last statement's row in system.query_metrics
  "$FQL" --format csv -c "from system.query_metrics | select $1" | tail -n 1
}
DECL='model m = openai("gpt-4o-mini"); type R = { topic: string, score: int };'
Q='from csv("reviews.csv") | derive a = classify(t, ["positive", "negative"], model: "m"), b = extract(t, R, model: "m"),
   c = predicate("Is {{t}} positive?", model: "m") | select id, sentiment, score, a, b.topic as topic, b.score as s,
   case when c then "positive" else "negative" end as c'
run() {  # run SETTING OUT [cache|nocache [OPTIONS]]: the three calls over the N reviews, OPTIONS after each model:
  local c=--no-cache q=${Q//model: \"m\"/model: \"m\"${4:-}}; [[ ${3:-} == cache ]] && c=
  "$FQL" $c --format csv -c "$1 $DECL $q" > "$2" 2> "$2.err" || bad "$2" "$(head -c 300 "$2.err")"
}
ONE='from csv("reviews.csv") | derive a = classify(t, ["positive", "negative"], model: "m") | select id, a'
# 1. the default packing: the combined answers are larger, so a pack holds fewer rows (~2,000
#    output tokens a request), yet far fewer requests and tokens than the calls asked apart
before=$(reqs gpt-4o-mini)
"$FQL" --no-cache --format csv -c "$DECL $ONE" > one.csv 2> one.err
one=$(( $(reqs gpt-4o-mini) - before ))
before=$(reqs gpt-4o-mini)
run "" fused.csv
fused=$(( $(reqs gpt-4o-mini) - before )); read -r ftok < <(qm 'input_tokens + output_tokens')
before=$(reqs gpt-4o-mini)
run "set fusion = off;" unfused.csv
unfused=$(( $(reqs gpt-4o-mini) - before )); read -r utok < <(qm 'input_tokens + output_tokens')
echo "# $N rows, default packing: fused $fused requests, $ftok tokens; fusion off $unfused requests, $utok tokens; classify alone $one"
[[ $fused -ge 1 && $fused -lt $unfused && $fused -le $((2 * one)) && $ftok -lt $utok ]] \
  && ok "default packing: $fused fused requests ($ftok tokens) against $unfused ($utok tokens) with fusion off" \
  || bad default "fused $fused ($ftok tokens), classify alone $one, unfused $unfused ($utok tokens): $(head -c 300 fused.csv.err)"
# 2. the same pack size (pack: 10): exactly the requests of one call alone, not three times as many
before=$(reqs gpt-4o-mini)
"$FQL" --no-cache --format csv -c "$DECL ${ONE//model: \"m\"/model: \"m\", pack: 10}" > /dev/null 2> one10.err
one10=$(( $(reqs gpt-4o-mini) - before ))
before=$(reqs gpt-4o-mini)
run "" fused10.csv nocache ', pack: 10'
f10=$(( $(reqs gpt-4o-mini) - before )); read -r f10tok < <(qm 'input_tokens + output_tokens')
before=$(reqs gpt-4o-mini)
run "set fusion = off;" unfused10.csv nocache ', pack: 10'
u10=$(( $(reqs gpt-4o-mini) - before )); read -r u10tok < <(qm 'input_tokens + output_tokens')
echo "# pack: 10: fused $f10 requests, $f10tok tokens; fusion off $u10, $u10tok tokens; classify alone $one10"
[[ $one10 == 5 && $f10 == "$one10" && $u10 == $((3 * one10)) ]] && cmp -s fused10.csv fused.csv \
  && ok "pack: 10: $f10 fused requests, as many as classify alone ($one10); $u10 with fusion off; same answers" \
  || bad pack10 "fused $f10, classify alone $one10, unfused $u10: $(head -c 300 fused10.csv.err)"
# 3. one row a request (pack: 1): a fused answer missing a call's part (bad_schema drops the first,
#    classify's) settles the other calls and asks that call alone (then once repaired: still broken, null)
before=$(reqs gpt-4.1-mini)
"$FQL" --no-cache --format csv -c "${DECL//gpt-4o-mini/gpt-4.1-mini} ${Q//model: \"m\"/model: \"m\", pack: 1}" > part.csv 2> part.err
npart=$(( $(reqs gpt-4.1-mini) - before ))
row7=$(awk -F, '$1 == 7' part.csv)
others=$(awk -F, 'NR > 1 && $1 != 7 && $4 == $2 && $7 == $2 && $6 == $3 { k++ } END { print k + 0 }' part.csv)
[[ $npart == $((N + 2)) && $row7 =~ ^7,([a-z]+),([0-9]),,music,([0-9]),([a-z]+)$ && ${BASH_REMATCH[3]} == "${BASH_REMATCH[2]}" &&
   ${BASH_REMATCH[4]} == "${BASH_REMATCH[1]}" && $others == $((N - 1)) ]] \
  && ok "pack: 1: $N fused requests + classify of row 7 asked alone and repaired ($npart); its extract and predicate kept" \
  || bad part "$npart requests, row 7: $row7, $others other rows right: $(head -c 300 part.err)"
rows=$(($(wc -l < fused.csv) - 1))
right=$(awk -F, 'NR > 1 && $4 == $2 && $7 == $2 && $6 == $3 && $5 != "" { k++ } END { print k + 0 }' fused.csv)
[[ $rows == "$N" && $right == "$N" ]] && ok "fused answers are the facts on all $N rows (label, extract's score, predicate)" \
  || bad facts "$right of $rows rows right: $(head -3 fused.csv)"
cmp -s fused.csv unfused.csv && ok "fused and unfused runs give the same columns" || bad same "$(diff fused.csv unfused.csv | head -5)"
# each call's part is cached under its own request: classify alone afterwards sends nothing
run "" warm.csv cache
before=$(reqs gpt-4o-mini)
"$FQL" --format csv -c "$DECL $ONE" > alone.csv 2> alone.err
after=$(reqs gpt-4o-mini)
read -r hits < <(qm 'cache_hits')
[[ $after == "$before" && $hits == "$N" ]] && cmp -s alone.csv one.csv \
  && ok "a later run of classify alone: $hits cache hits, no request" || bad cached "$((after - before)) requests, hits $hits: $(head -c 300 alone.err)"
ex=$("$FQL" -c "$DECL explain $Q" 2>&1)
# one request a row for the three calls, packed: ~N / 50 requests (a fused pack holds fewer rows, so the run may send more)
grep -q "~$N rows, ~$(( (N + 49) / 50 )) requests\].*fused: a, b, c (one request a row); packed: up to 50 rows a request" <<< "$ex" \
  && ok "explain shows the fusion and the packing, ~$(( (N + 49) / 50 )) requests" || bad explain "$ex"
exoff=$("$FQL" -c "set fusion = off; $DECL explain $Q" 2>&1)
! grep -q 'fused:' <<< "$exoff" && ok "set fusion = off: explain shows no fusion" || bad explain_off "$exoff"
finish
