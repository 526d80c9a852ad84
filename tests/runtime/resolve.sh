#!/usr/bin/env bash
# resolve COLUMN [using "..."] (docs/reference.md, "resolve") against fql-sim in facts mode: company
# names spelled several ways, each spelling a fact text with an "entity" property, so the simulator
# answers "do these two name the same entity?" from the facts (tests/sim/README.md, "Facts mode").
# Measures the pairwise precision and recall of the grouping against the truth: every pair judged
# (small input) and, above max_pairs, with the embedding prefilter whose recall estimate is shown by
# explain analyze and system.query_metrics.est_recall; checks the canonical spelling, nulls, the
# cache on a rerun, a wrong model (error_rate), and the binder's errors with their place.
# usage: tests/runtime/resolve.sh BUILD_DIR
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/../lib/setup.sh"

E=60
# names.csv: id,company,entity (entity only for the check); facts.json: each spelling's entity.
# Spellings share the entity's word (the simulator's embeddings are bags of words), and a spelling's
# frequency decides the canonical one: "Word Corp" 3 times, the others once.
node -e '
const fs = require("fs"), E = +process.argv[1], facts = {}, rows = ["id,company,entity"];
const syl = ["ka","lo","mi","ra","tu","ve","zo","pe","si","no"];
let id = 0;
for (let e = 0; e < E; e++) {
  const w = syl[e % 10] + syl[Math.floor(e / 10) % 10] + "x" + syl[(e * 7) % 10];
  const W = w[0].toUpperCase() + w.slice(1);
  const sp = [W + " Corp", W.toUpperCase() + " Corporation", W + " Inc.", "The " + W + " Group"];
  for (const s of sp) facts[s] = { entity: "ent" + e };
  const uses = [sp[0], sp[1], sp[0], sp[2], sp[0], sp[3]];
  for (const s of uses) rows.push(`${++id},${s},ent${e}`);
}
rows.push(`${++id},,none`);
fs.writeFileSync("names.csv", rows.join("\n") + "\n");
fs.writeFileSync("facts.json", JSON.stringify({ error_rate: { default: 0, "gpt-4.1-nano": 0.1 }, texts: facts }));' "$E"
echo '{"facts": "facts.json"}' > sim.json
source "$HERE/../lib/sim.sh"

# pairwise precision and recall of a grouping (id,company_group rows) against names.csv's entities
score() {  # score OUT.csv -> "precision recall"
  node -e '
const fs = require("fs");
const truth = {}; fs.readFileSync("names.csv", "utf8").trim().split("\n").slice(1).forEach(l => { const p = l.split(","); truth[p[0]] = p[2]; });
const got = {}; fs.readFileSync(process.argv[1], "utf8").trim().split("\n").slice(1).forEach(l => { const p = l.split(","); if (p[1] !== "") got[p[0]] = p[1]; });
const ids = Object.keys(got); let tp = 0, fp = 0, fn = 0;
for (let i = 0; i < ids.length; i++) for (let j = i + 1; j < ids.length; j++) {
  const s = truth[ids[i]] === truth[ids[j]], g = got[ids[i]] === got[ids[j]];
  if (s && g) tp++; else if (g) fp++; else if (s) fn++;
}
console.log((tp / (tp + fp || 1)).toFixed(3), (tp / (tp + fn || 1)).toFixed(3));' "$1"
}
MODELS='model m = openai("gpt-4o-mini"); model bad = openai("gpt-4.1-nano"); embedding model vec = openai("text-embedding-3-small");'

# 1. a small input: every pair of distinct values judged (20 values, 190 pairs, packed)
"$FQL" --format csv -c "model m = openai(\"gpt-4o-mini\"); from csv(\"names.csv\") | where id <= 30 or id > $((E * 6)) | resolve company | select id, company_group, company_canonical | order by id" > small.csv 2> small.err
read -r p r < <(score small.csv)
[[ $p == 1.000 && $r == 1.000 ]] && ok "every pair judged: precision $p recall $r" || bad small "precision $p recall $r $(cat small.err)"
canon=$(awk -F, '$1 == 3 { print $3 }' small.csv) nul=$(awk -F, -v n=$((E * 6 + 1)) '$1 == n { print $2 "|" $3 }' small.csv)
want=$(sed -n 2p names.csv | cut -d, -f2)
[[ $canon == "$want" ]] && ok "canonical: the most frequent spelling ($canon)" || bad canonical "row 3: '$canon', want '$want'"
[[ $nul == "|" ]] && ok "a null value: null group and canonical" || bad null "'$nul'"
groups=$(tail -n +2 small.csv | cut -d, -f2 | grep . | sort -un | paste -sd' ')
[[ $groups == "1 2 3 4 5" ]] && ok "group numbers from 1 in order of appearance" || bad groups "$groups"
sent=$(reqs gpt-4o-mini)
"$FQL" --format csv -c "model m = openai(\"gpt-4o-mini\"); from csv(\"names.csv\") | where id <= 30 or id > $((E * 6)) | resolve company | select id, company_group, company_canonical | order by id" > small2.csv 2>/dev/null
[[ $(reqs gpt-4o-mini) == "$sent" ]] && cmp -s small.csv small2.csv && ok "a rerun: the same groups from the cache" || bad rerun "sent $(( $(reqs gpt-4o-mini) - sent )) more"

# 2. above max_pairs (240 values, 28,680 pairs > 10,000): the prefilter learns a similarity threshold
# for recall 0.95 from a judged sample, and says so
before=$(reqs gpt-4o-mini)
"$FQL" --format csv -c "$MODELS from csv(\"names.csv\") | resolve company model m | select id, company_group | order by id" > big.csv 2> big.err; rc=$?
read -r p r < <(score big.csv)
n=$(( $(reqs gpt-4o-mini) - before ))
echo "# prefilter auto: precision $p recall $r, $n requests; $(grep -o 'est. recall [^)]*' big.err | head -1)"
# the estimate comes from the sampled pairs the model judged the same (few: matching pairs are rare
# among all pairs), so its lower bound is what holds; the groups join through any chain of pairs kept
low=$(grep -o 'lower bound [0-9.]*' big.err | head -1 | cut -d' ' -f3)
[[ $rc == 0 ]] && awk -v p="$p" -v r="$r" -v l="$low" 'BEGIN { exit !(p >= 0.99 && l != "" && r >= l) }' \
  && ok "prefilter auto: precision $p, recall $r at or above the stated lower bound $low" || bad big "rc $rc precision $p recall $r bound $low $(cat big.err)"
grep -q "est. recall [01]\.[0-9]* (lower bound 0\.[0-9]*, target 0.95" big.err && ok "the summary states the recall estimate and its bound" || bad summary "$(cat big.err)"
er=$("$FQL" --format csv -c 'from system.query_metrics | where operator != "" | order by query_id desc | limit 1 | select est_recall' 2>&1 | tail -1)
awk -v e="$er" 'BEGIN { exit !(e + 0 >= 0.9 && e + 0 <= 1) }' && ok "query_metrics.est_recall $er" || bad est_recall "'$er'"
out=$("$FQL" -c "$MODELS explain analyze from csv(\"names.csv\") | resolve company model m | agg n = count(distinct company_group)" 2>&1)
[[ $out == *"resolve company into company_group, company_canonical"* && $out =~ "240 distinct values in "[0-9]+" groups" && $out == *"est. recall"* ]] \
  && ok "explain analyze: the groups and the prefilter's recall estimate" || bad explain "$out"

# 3. a wrong model (10% of answers wrong): a wrong "same" merges two groups, so precision drops
"$FQL" --format csv -c "model bad = openai(\"gpt-4.1-nano\"); from csv(\"names.csv\") | where id <= 60 | resolve company | select id, company_group | order by id" > wrong.csv 2> wrong.err
read -r p r < <(score wrong.csv)
echo "# error rate 0.1, every pair judged: precision $p recall $r"
awk -v p="$p" -v r="$r" 'BEGIN { exit !(p < 1 || r < 1) }' && ok "a wrong model shows in the measured quality (precision $p recall $r)" || bad wrong "precision $p recall $r"

# 4. errors, before anything is sent
before=$(reqs gpt-4o-mini)
chk() {  # chk NAME 'QUERY' 'EXPECTED'
  "$FQL" -c "model m = openai(\"gpt-4o-mini\"); $2" > /dev/null 2> e.txt; local rc=$?
  [[ $rc == 2 ]] && grep -qF -- "$3" e.txt && ok "$1" || bad "$1" "rc $rc: $(cat e.txt)"
}
chk "unknown column" 'from csv("names.csv") | resolve compny' "<command line>:1:66: error: unknown column 'compny'; did you mean 'company'?"
chk "a column that is not text" 'from csv("names.csv") | resolve id' "resolve groups the values of a text column; 'id' is int"
chk "an existing output name" 'from csv("names.csv") | derive company_group = 1 | resolve company' "resolve: a column named 'company_group' already exists"
chk "an option resolve does not take" 'from csv("names.csv") | resolve company decompose: auto' "resolve has no option 'decompose'"
chk "a malformed using template" 'from csv("names.csv") | resolve company using "Same as {{left.company | uper}}?"' "unknown filter 'uper'"
[[ $(reqs gpt-4o-mini) == "$before" ]] && ok "nothing sent for the errors" || bad sent "$(( $(reqs gpt-4o-mini) - before ))"
finish
