#!/usr/bin/env bash
# FQL end to end against fql-sim in facts mode (issue 15, item 7; tests/sim/README.md, "Facts
# mode"): 200 generated reviews with known sentiment and score; classify, predicate, extract with a
# score field (single and packed requests) and a semantic self-join on "same sentiment" give the
# known answers when the model's error rate is 0, and about 1 - rate of them at a rate of 0.2.
# usage: tests/runtime/facts.sh BUILD_DIR
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/../lib/setup.sh"

N=200
# reviews.csv: id,t,sentiment,score; facts.json: the same facts, as the simulator reads them
node "$HERE/../lib/reviews.js" films "$N" reviews.csv facts.json '{"default": 0, "gpt-4.1-nano": 0.2}'
echo '{"facts": "facts.json"}' > sim.json
source "$HERE/../lib/sim.sh"

# share FILE COL_GOT COL_WANT: the share of rows of a CSV whose two columns agree (3 decimals)
share() {
  awk -F, -v g="$2" -v w="$3" 'NR > 1 { n++; if ($g == $w) k++ } END { printf "%.3f\n", n ? k / n : 0 }' "$1"
}
# the row-wise calls: label, the predicate as a label, the score; truth alongside
rowwise() {  # rowwise MODEL PACK OUT
  "$FQL" --no-cache --format csv -c "model m = openai(\"$1\"); type R = { score: int };
    from csv(\"reviews.csv\") | derive l = classify(t, [\"positive\", \"negative\"], model: \"m\", pack: $2),
      p = predicate(\"Is {{t}} positive?\", model: \"m\", pack: $2), x = extract(t, R, model: \"m\", pack: $2)
    | select id, sentiment, l, case when p then \"positive\" else \"negative\" end as p, score, x.score as s" > "$3" 2> "$3.err"
}
# the semantic self-join of the first K rows on the same sentiment: precision, recall and the
# share of pairs judged right, against the pairs the facts make
join_quality() {  # join_quality MODEL K OUT
  "$FQL" --format csv -c "model m = openai(\"$1\");
    from csv(\"reviews.csv\") | where id < $2 | semantic join (from csv(\"reviews.csv\") | where id < $2) as r2
      on \"Do these two reviews have the same sentiment? First: {{left.t}} Second: {{right.t}}\" model m prefilter: off
    | select id, r2_id" > "$3" 2> "$3.err"
  node -e '
const fs = require("fs"), k = +process.argv[2];
const truth = fs.readFileSync("reviews.csv", "utf8").trim().split("\n").slice(1).map(l => l.split(",")[2]);
const got = new Set(fs.readFileSync(process.argv[1], "utf8").trim().split("\n").slice(1));
let tp = 0, fp = 0, fn = 0, right = 0;
for (let a = 0; a < k; a++) for (let b = 0; b < k; b++) {
  const want = truth[a] === truth[b], has = got.has(`${a},${b}`);
  if (want && has) tp++; else if (has) fp++; else if (want) fn++;
  if (want === has) right++;
}
console.log((tp / (tp + fp)).toFixed(3), (tp / (tp + fn)).toFixed(3), (right / (k * k)).toFixed(3));' "$3" "$2"
}
within() { awk -v x="$1" -v lo="$2" -v hi="$3" 'BEGIN { exit !(x >= lo && x <= hi) }'; }

# 1. error rate 0: every answer is the fact, single requests and packed ones alike
rowwise gpt-4o-mini 1 exact.csv
rows=$(($(wc -l < exact.csv) - 1))
l=$(share exact.csv 3 2) p=$(share exact.csv 4 2) s=$(share exact.csv 6 5)
[[ $rows == "$N" && $l == 1.000 && $p == 1.000 && $s == 1.000 ]] \
  && ok "error rate 0: classify, predicate and extract's score match the facts on all $N rows" \
  || bad exact "rows $rows, labels $l, predicates $p, scores $s: $(head -c 300 exact.csv.err)"
rowwise gpt-4o-mini 8 packed.csv
sent=$(grep -o 'requests [0-9]* ([0-9]* cached / [0-9]* sent' packed.csv.err | head -1)
if cmp -s exact.csv packed.csv && [[ $sent =~ ^requests\ ([0-9]+)\  && ${BASH_REMATCH[1]} -le 90 ]]; then
  ok "packed requests (pack: 8) give the same answers ($sent)"
else bad packed "$(diff exact.csv packed.csv | head -5) $(head -c 300 packed.csv.err)"; fi
read -r prec rec acc <<< "$(join_quality gpt-4o-mini 24 join.csv)"
[[ $prec == 1.000 && $rec == 1.000 ]] && ok "semantic self-join on the same sentiment, 24 x 24 pairs: precision $prec, recall $rec" \
  || bad join "precision $prec, recall $rec: $(head -c 300 join.csv.err)"

# 2. error rate 0.2 (gpt-4.1-nano): about 80% right, each kind of answer
rowwise gpt-4.1-nano 1 noisy.csv
l=$(share noisy.csv 3 2) p=$(share noisy.csv 4 2) s=$(share noisy.csv 6 5)
if within "$l" 0.72 0.88 && within "$p" 0.72 0.88 && within "$s" 0.72 0.88; then
  ok "error rate 0.2: labels $l, predicates $p, scores $s right (about 0.8)"
else bad noisy "labels $l, predicates $p, scores $s (wanted 0.72..0.88): $(head -c 300 noisy.csv.err)"; fi
off=$(awk -F, 'NR > 1 && $6 != $5 { d = $6 - $5; if (d != 1 && d != -1) n++ } END { print n + 0 }' noisy.csv)
[[ $off == 0 ]] && ok "a wrong score is one off" || bad score-off "$off scores off by more than one"
read -r prec rec acc <<< "$(join_quality gpt-4.1-nano 24 noisyjoin.csv)"
if within "$acc" 0.72 0.88; then ok "error rate 0.2: the self-join judges $acc of 576 pairs right (precision $prec, recall $rec)"
else bad noisy-join "pairs right $acc, precision $prec, recall $rec: $(head -c 300 noisyjoin.csv.err)"; fi
finish
