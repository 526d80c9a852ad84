#!/usr/bin/env bash
# Cascades benchmark (issue 16, item 2): N generated rows with known answers (tests/lib/cascade_data.js),
# a cheap model wrong on 10% of rows (gpt-4o-mini) and a strong one on 1% (gpt-4o) in fql-sim's
# facts mode, over SEEDS seeds (each seed changes every text, so the errors and confidences fall on
# other rows). For each seed: predicate(..., cascade: {model: strong, precision: 0.9, recall: 0.9})
# and classify(..., cascade: {model: strong, accuracy: 0.95}); the achieved precision, recall and
# accuracy against the strong model's own answers (the strong model run alone on every row), and
# the share of rows the strong model answered (system.query_metrics.strong_share), beside the
# oracle's (oracle.js: the least share any thresholds could leave to the strong model if every
# answer were known, with no sample). Prints a
# markdown table and a summary: in how many seeds each promise held (it must in at least 95%).
# usage: bench/cascades/run.sh BUILD_DIR     (env: N=2000 SEEDS=20 SAMPLE=200, the cascades' sample:)
set -u
BUILD=$(cd "${1:-build}" && pwd)
HERE=$(cd "$(dirname "$0")" && pwd)
N=${N:-2000} SEEDS=${SEEDS:-20} SAMPLE=${SAMPLE:-200}
dir=$(mktemp -d)
simpid=
cleanup() { [[ -n $simpid ]] && kill -TERM "$simpid" 2>/dev/null && wait "$simpid" 2>/dev/null; rm -rf "$dir"; }
trap cleanup EXIT
die() { echo "bench/cascades: $*" >&2; exit 1; }
cd "$dir"

# every seed's rows; one facts file with all their texts
for s in $(seq "$SEEDS"); do node "$HERE/../../tests/lib/cascade_data.js" "$N" "$s" "rows$s.csv" "facts$s.json"; done
node -e 'const fs = require("fs"), texts = {};
for (let s = 1; s <= +process.argv[1]; s++) Object.assign(texts, JSON.parse(fs.readFileSync(`facts${s}.json`)).texts);
fs.writeFileSync("facts.json", JSON.stringify({ texts, error_rate: { "gpt-4o-mini": 0.1, "gpt-4o": 0.01 } }));' "$SEEDS"
echo '{"facts": "facts.json"}' > sim.json
"$BUILD/fql-sim" --port 0 --config sim.json > sim.out 2> sim.err & simpid=$!
for _ in $(seq 200); do [[ -s sim.out ]] && break; sleep 0.05; done
port=$(sed -n '1s/[^0-9]//gp' sim.out)
[[ -n $port ]] || die "the simulator did not start: $(cat sim.err)"
export OPENAI_API_KEY=sk-bench OPENAI_BASE_URL="http://127.0.0.1:$port/v1" FQL_DB="$dir/state.db"

M='model fast = openai("gpt-4o-mini"); model strong = openai("gpt-4o");'
LABELS='["plot", "acting", "music", "ending"]'
q() { "$BUILD/fql" --no-progress --format csv -c "$1" 2>> err.log; }
share() { q "from system.query_metrics | where model == \"strong\" | order by query_id desc | limit 1 | select strong_share" | sed -n 2p; }
thresholds() { q "from system.query_metrics | where model == \"strong\" | order by query_id desc | limit 1 | select cascade_thresholds" | sed -n 2p | tr -d '"'; }
ge() { awk -v x="$1" -v y="$2" 'BEGIN { exit !(x >= y) }'; }

echo "| seed | predicate precision | recall | strong share | oracle | thresholds | classify accuracy | strong share | oracle | threshold |"
echo "| ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: | --- |"
held_p=0 held_c=0 sum_p=0 sum_c=0 max_p=0 max_c=0 sum_op=0 sum_oc=0
for s in $(seq "$SEEDS"); do
  R="from csv(\"rows$s.csv\")"
  q "$M $R | derive p = predicate(\"Is {{t}} positive?\", model: fast, cascade: {model: strong, precision: 0.9, recall: 0.9, sample: $SAMPLE}) | select id, p" > p.csv
  sp=$(share) tp=$(thresholds)
  q "$M $R | derive c = classify(t, $LABELS, model: fast, cascade: {model: strong, accuracy: 0.95, sample: $SAMPLE}) | select id, c" > c.csv
  sc=$(share) tc=$(thresholds)
  q "$M $R | derive p = predicate(\"Is {{t}} positive?\", model: strong), c = classify(t, $LABELS, model: strong) | select id, p, c" > s.csv
  # the cheap model alone with its confidences (answered from the cache): the oracle's input
  q "$M $R | derive p = predicate(\"Is {{t}} positive?\", model: fast), pc = confidence(p) | select id, p, pc" > fp.csv
  q "$M $R | derive c = classify(t, $LABELS, model: fast), cc = confidence(c) | select id, c, cc" > fc.csv
  op=$(node "$HERE/oracle.js" predicate fp.csv s.csv 0.9 0.9) oc=$(node "$HERE/oracle.js" classify fc.csv s.csv 0.95)
  sum_op=$(awk -v a="$sum_op" -v b="$op" 'BEGIN { print a + b }') sum_oc=$(awk -v a="$sum_oc" -v b="$oc" 'BEGIN { print a + b }')
  read -r prec rec <<< "$(paste -d, p.csv s.csv | awk -F, 'NR > 1 { if ($2 == "true" && $4 == "true") tp++; else if ($2 == "true") fp++; else if ($4 == "true") fn++ }
    END { printf "%.4f %.4f\n", tp / (tp + fp), tp / (tp + fn) }')"
  acc=$(paste -d, c.csv s.csv | awk -F, 'NR > 1 { n++; k += $2 == $5 && $2 != "" } END { printf "%.4f", k / n }')
  ge "$prec" 0.9 && ge "$rec" 0.9 && held_p=$((held_p + 1))
  ge "$acc" 0.95 && held_c=$((held_c + 1))
  sum_p=$(awk -v a="$sum_p" -v b="$sp" 'BEGIN { print a + b }') sum_c=$(awk -v a="$sum_c" -v b="$sc" 'BEGIN { print a + b }')
  ge "$sp" "$max_p" && max_p=$sp
  ge "$sc" "$max_c" && max_c=$sc
  printf "| %d | %s | %s | %.3f | %.3f | %s | %s | %.3f | %.3f | %s |\n" "$s" "$prec" "$rec" "$sp" "$op" "$tp" "$acc" "$sc" "$oc" "$tc"
done
echo
printf "predicate (precision 0.9, recall 0.9): the promise held in %d of %d seeds; strong share mean %.3f, max %.3f; oracle mean %.3f\n" \
  "$held_p" "$SEEDS" "$(awk -v a="$sum_p" -v n="$SEEDS" 'BEGIN { print a / n }')" "$max_p" "$(awk -v a="$sum_op" -v n="$SEEDS" 'BEGIN { print a / n }')"
printf "classify (accuracy 0.95): the promise held in %d of %d seeds; strong share mean %.3f, max %.3f; oracle mean %.3f\n" \
  "$held_c" "$SEEDS" "$(awk -v a="$sum_c" -v n="$SEEDS" 'BEGIN { print a / n }')" "$max_c" "$(awk -v a="$sum_oc" -v n="$SEEDS" 'BEGIN { print a / n }')"
[[ -s err.log ]] && grep -v '^\(fast\|strong\) (openai' err.log | grep -v 'every row went' | head -3 >&2
exit 0
