#!/usr/bin/env bash
# Packing by default (issue 15, item 4) against fql-sim in facts mode: the structured row-wise
# operators pack rows on a model with structured output, a one-sentence review through predicate
# costs at most 50 tokens a row, the answers are those of `pack: 1`, and a model without structured
# output (not in the catalog, or `structured_output: false`) is asked one row a request.
# usage: tests/runtime/pack_default.sh BUILD_DIR
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/../lib/setup.sh"
# 200 one-sentence reviews, their sentiment known to the simulator
node "$HERE/../lib/reviews.js" short 200 r.csv facts.json
cat > sim.json <<'J'
{"default": {"latency_ms": 2, "jitter_ms": 2}, "facts": "facts.json"}
J
source "$HERE/../lib/sim.sh"
qm() {  # qm ALIAS COLUMNS: a column of system.query_metrics for alias
  "$FQL" --format csv -c "from system.query_metrics | where model == \"$1\" | select $2" | tail -n 1
}
P='predicate("Is this review positive? {{t}}", model: "MODEL"PACK)'
run() {  # run ALIAS DECL PACK OUT: the 200 reviews through predicate
  local q=${P//MODEL/$1}; q=${q//PACK/$3}
  "$FQL" --no-cache --format csv -c "model $1 = $2; from csv(\"r.csv\") | derive p = $q | select n, p" > "$4" 2> "$4.err" || bad "$1" "$(cat "$4.err")"
}
run d 'openai("gpt-4o-mini")' '' def.csv
run s 'openai("gpt-4o-mini")' ', pack: 1' one.csv
read -r dreq drows dtok < <(qm d 'requests, rows, input_tokens + output_tokens' | tr , ' ')
read -r sreq srows stok < <(qm s 'requests, rows, input_tokens + output_tokens' | tr , ' ')
echo "# default: $dreq requests, $dtok tokens for $drows rows ($((dtok / drows))/row); pack: 1: $sreq requests, $stok tokens ($((stok / srows))/row)"
[[ $drows == 200 && $dreq -le 10 && $dtok -le $((50 * 200)) ]] && ok "predicate packs by default: $dreq requests, $((dtok / drows)) tokens a row (<= 50)" || bad default "$dreq requests, $dtok tokens, $drows rows"
[[ $sreq == 200 && $stok -gt $((60 * 200)) ]] && ok "pack: 1 sends one request a row ($sreq, $((stok / srows)) tokens a row)" || bad pack1 "$sreq requests, $stok tokens"
cmp -s def.csv one.csv && ok "packed answers are identical to pack: 1 (200 rows)" || bad identical "$(diff def.csv one.csv | head -4)"
truth=$(awk -F, 'NR > 1 { print $1 "," ($2 ~ /wonderful/ ? "true" : "false") }' r.csv)
[[ $(tail -n +2 def.csv) == "$truth" ]] && ok "the packed answers agree with the facts on every row" || bad facts "$(diff <(tail -n +2 def.csv) <(echo "$truth") | head -4)"

# classify and extract pack by default too, with the answers of pack: 1
T='type S = { sentiment: string };'
ce() {  # ce ALIAS PACK OUT (each call alone: fusion would ask both at once, tests/runtime/fusion.sh)
  "$FQL" --no-cache --format csv -c "set fusion = off; $T model $1 = openai(\"gpt-4o-mini\"); from csv(\"r.csv\") | derive c = classify(t, [\"positive\", \"negative\"], model: \"$1\"$2), x = extract(t, S, model: \"$1\"$2) | select n, c, x.sentiment as xs" > "$3" 2> "$3.err" || bad "$1" "$(cat "$3.err")"
}
ce cd '' ce_def.csv
ce c1 ', pack: 1' ce_one.csv
creq=$("$FQL" --format csv -c 'from system.query_metrics | where model == "cd" | agg r = sum(requests)' | tail -n 1)
c1req=$("$FQL" --format csv -c 'from system.query_metrics | where model == "c1" | agg r = sum(requests)' | tail -n 1)
[[ $creq -le 20 && $c1req == 400 ]] && ok "classify and extract pack by default ($creq requests for 400 answers; pack: 1: $c1req)" || bad ce-default "default $creq, pack: 1 $c1req"
cmp -s ce_def.csv ce_one.csv && ok "classify and extract answers are identical packed and unpacked" || bad ce-identical "$(diff ce_def.csv ce_one.csv | head -4)"
[[ $(awk -F, 'NR > 1 && $2 != $3 { n++ } END { print n + 0 }' ce_def.csv) == 0 && $(grep -c ',positive,positive$' ce_def.csv) -gt 0 ]] \
  && ok "classify and extract agree with each other and the facts" || bad ce-facts "$(head -3 ce_def.csv)"

# map with a schema packs by default (pieces of 200 rows, packs up to 50); map to text does not
mp() {  # mp ALIAS ARGS OUT
  "$FQL" --no-cache --format csv -c "$T model $1 = openai(\"gpt-4o-mini\"); from csv(\"r.csv\") | derive m = map(\"Tag this review: {{t}}\", model: \"$1\"$2) | select n, m" > "$3" 2> "$3.err" || bad "$1" "$(cat "$3.err")"
}
mp ms ', schema: S' ms.csv
mp m1 ', schema: S, pack: 1' m1.csv
mp mt '' mt.csv
msreq=$(qm ms requests); m1req=$(qm m1 requests); mtreq=$(qm mt requests)
[[ $msreq -le 5 && $m1req == 200 && $mtreq == 200 ]] && cmp -s ms.csv m1.csv && ok "map(schema:) packs by default ($msreq requests, pack: 1 $m1req, same answers); map to text does not ($mtreq)" \
  || bad map "schema $msreq, pack: 1 $m1req, text $mtreq $(diff ms.csv m1.csv | head -3)"

# no structured output: a model the catalog does not know (a local server's), or declared so
run l 'openai("local-llama", price_in: 0, price_out: 0)' '' l.csv
run f 'openai("gpt-4o-mini", structured_output: false)' '' f.csv
run y 'openai("local-llama", price_in: 0, price_out: 0, structured_output: true)' '' y.csv
lreq=$(qm l requests); freq=$(qm f requests); yreq=$(qm y requests)
[[ $lreq == 200 && $freq == 200 ]] && ok "a model without structured output is not packed (unknown model: $lreq, structured_output: false: $freq)" || bad no-structured "unknown $lreq, declared false $freq"
[[ $yreq -le 10 ]] && ok "structured_output: true packs a model the catalog does not know ($yreq requests)" || bad declared "$yreq requests"
bad_decl=$("$FQL" -c 'model z = openai("gpt-4o-mini", structured_output: 1); from csv("r.csv") | limit 1' 2>&1)
[[ $bad_decl == *"structured_output' takes true or false"* ]] && ok "structured_output: takes a boolean" || bad decl "$bad_decl"

# under a limit a pack never holds more rows than the wave: limit 10 asks about tens of rows, not 200
"$FQL" --no-cache --format csv -c "model w = openai(\"gpt-4o-mini\"); from csv(\"r.csv\") | where predicate(\"Is this review positive? {{t}}\", model: \"w\") | limit 10 | select n" > w.csv 2> w.err || bad limit "$(cat w.err)"
read -r wreq wrows < <(qm w 'requests, rows' | tr , ' ')
[[ $(($(wc -l < w.csv) - 1)) == 10 && $wrows -le 60 ]] && ok "limit 10 over packed rows asks about $wrows rows in $wreq requests" || bad limit "$(wc -l < w.csv) lines, $wrows rows asked, $wreq requests"

# explain cost's estimate counts packs (nothing sent)
ex() { "$FQL" -c "model e = openai(\"gpt-4o-mini\"); explain cost from csv(\"r.csv\") | derive p = predicate(\"Is this review positive? {{t}}\", model: \"e\"$1)" 2>&1 | grep "(openai" | sed -n 's/.*200 rows, ~\([0-9]*\) requests.*/\1/p'; }
e0=$(ex ''); e1=$(ex ', pack: 1')
[[ -n $e0 && $e0 -le 10 && $e1 == 200 ]] && ok "explain cost estimates packed requests ($e0; pack: 1: $e1)" || bad explain "default '$e0', pack: 1 '$e1'"

kill -TERM $simpid; wait $simpid
finish
