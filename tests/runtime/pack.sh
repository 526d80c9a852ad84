#!/usr/bin/env bash
# Row packing (pack: N | "auto") against fql-sim: fewer requests, identical answers, and a row whose
# packed answer is unusable asked again on its own.
# usage: tests/runtime/pack.sh BUILD_DIR
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/../lib/setup.sh"
cat > sim.json <<'J'
{"default": {"latency_ms": 5, "jitter_ms": 5},
 "models": {"broken-pack": {"faults": {"bad_schema": 1.0}}}}
J
source "$HERE/../lib/sim.sh"

{ echo "n,text"; for i in $(seq 1 200); do echo "$i,ticket $i: the checkout page $((i % 7)) is broken or billing question $((i % 5))"; done; } > t.csv
q() {  # q MODEL PACK: classify and predicate every row (each call alone: fusion, tests/runtime/fusion.sh, would ask the three at once)
  echo "set fusion = off; model $1 = openai(\"$1\"); from csv(\"t.csv\") | derive c = classify(text, [\"bug\", \"billing\", \"other\"], model: \"$1\"$2), u = predicate(text, instructions: \"is it urgent?\", model: \"$1\"$2), x = extract(text, T, model: \"$1\"$2)"
}
T='type T = { page: int, topic: string };'
"$FQL" --no-cache --format csv -c "$T $(q plain '')" > plain.csv 2>err1 || bad plain "$(cat err1)"
"$FQL" --no-cache --format csv -c "$T $(q ten ', pack: 10')" > ten.csv 2>err2 || bad ten "$(cat err2)"
"$FQL" --no-cache --format csv -c "$T $(q auto ', pack: "auto"')" > auto.csv 2>err3 || bad auto "$(cat err3)"
np=$(reqs plain); nt=$(reqs ten); na=$(reqs auto)
cmp -s plain.csv ten.csv && cmp -s plain.csv auto.csv && ok "packed answers are identical to single-row answers" || bad identical "$(diff plain.csv auto.csv | head -5)"
[[ $np == 600 && $nt == 60 ]] && ok "pack: 10 sends 60 requests for 600 row answers (plain: $np)" || bad pack10 "plain $np, packed $nt"
[[ $na -gt 0 && $((np / na)) -ge 5 ]] && ok "pack: auto cuts requests $((np / na))x ($na requests)" || bad auto-ratio "plain $np, auto $na"
grep -q 'auto (openai auto): 600 rows.*requests ' err3 && ok "the summary counts rows and requests separately" || bad summary "$(cat err3)"

# packed answers the sim breaks (each element loses its label): every row is asked again alone, with
# the validation error (the one repair); still broken, it is null with the reason in system.lm_errors
"$FQL" --no-cache --format csv -c "model bp = openai(\"broken-pack\"); from csv(\"t.csv\") | limit 20 | derive c = classify(text, [\"bug\", \"other\"], pack: 10, model: \"bp\") | select n, c" > bp.csv 2>err4
nb=$(reqs broken-pack)
nulls=$(grep -c ',$' bp.csv)
errs=$("$FQL" --format csv -c 'from system.lm_errors | where kind == "invalid_answer" | agg k = count(*)' | tail -1)
[[ $nb == 22 && $nulls == 20 && $errs -ge 20 ]] && ok "a malformed packed element falls back to a single-row request for that row (2 packed + 20 single)" || bad fallback "requests $nb, null rows $nulls, errors $errs"

finish
