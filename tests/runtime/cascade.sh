#!/usr/bin/env bash
# Model cascades against fql-sim in facts mode (issue 16, item 2; cascade.c): a cheap model wrong
# on 10% of rows (gpt-4o-mini), a strong one on 1% (gpt-4o), token probabilities drawn lower for
# wrong answers. The promise holds against the strong model's own answers; the strong model
# answers at most a third of the rows; no row is dropped or asked twice; a rerun sends nothing;
# targets that cannot be met and a cheap model without confidences (Anthropic) send every row to
# the strong model and say so; explain and query_metrics show the cascade.
# usage: tests/runtime/cascade.sh BUILD_DIR
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/../lib/setup.sh"

N=2000
node "$HERE/../lib/cascade_data.js" "$N" 1 rows.csv facts.json '{"gpt-4o-mini": 0.1, "gpt-4o": 0.01}'
echo '{"facts": "facts.json"}' > sim.json
source "$HERE/../lib/sim.sh"
M='model fast = openai("gpt-4o-mini"); model strong = openai("gpt-4o");'
P='predicate("Is {{t}} positive?", model: fast, cascade: {model: strong, precision: 0.9, recall: 0.9})'
C='classify(t, ["plot", "acting", "music", "ending"], model: fast, cascade: {model: strong, accuracy: 0.95})'
at_least() { awk -v x="$1" -v y="$2" 'BEGIN { exit !(x >= y) }'; }
# metric COLUMN MODEL: the column of the last query_metrics row of MODEL
metric() { "$FQL" --format csv -c "from system.query_metrics | where model == \"$2\" | order by query_id desc | limit 1 | select $1" | sed -n 2p; }

# 1. predicate: every row answered; the strong model alone, for reference (its answers of the
#    sample and of the rows sent to it come from the cache)
"$FQL" --format csv -c "$M from csv(\"rows.csv\") | derive p = $P | select id, p" > casc.csv 2> casc.err || bad run "$(head -c 400 casc.err)"
s_casc=$(reqs gpt-4o) f_casc=$(reqs gpt-4o-mini)
share=$(metric strong_share strong) srows=$(metric rows strong) sample=$(metric cascade_sample strong)
"$FQL" --format csv -c "$M from csv(\"rows.csv\") | derive p = $P | select id, p" > again.csv 2> again.err
[[ $(reqs gpt-4o) == "$s_casc" && $(reqs gpt-4o-mini) == "$f_casc" ]] && cmp -s casc.csv again.csv \
  && ok "a rerun draws the same sample: every answer from the cache, no request, the same output" \
  || bad rerun "requests strong $s_casc -> $(reqs gpt-4o), cheap $f_casc -> $(reqs gpt-4o-mini); $(diff casc.csv again.csv | head -3)"
"$FQL" --format csv -c "$M from csv(\"rows.csv\") | derive s = predicate(\"Is {{t}} positive?\", model: strong) | select id, s" > strong.csv 2> strong.err
read -r rows nulls prec rec <<< "$(paste -d, casc.csv strong.csv | awk -F, 'NR > 1 { n++; if ($2 == "") z++; if ($2 == "true" && $4 == "true") tp++;
  else if ($2 == "true") fp++; else if ($4 == "true") fn++ } END { printf "%d %d %.4f %.4f\n", n, z, tp / (tp + fp), tp / (tp + fn) }')"
if [[ $rows == "$N" && $nulls == 0 ]] && at_least "$prec" 0.9 && at_least "$rec" 0.9; then
  ok "predicate cascade over $N rows: precision $prec, recall $rec against the strong model (targets 0.9, 0.9), no row dropped"
else bad promise "rows $rows, nulls $nulls, precision $prec, recall $rec: $(head -c 300 casc.err)"; fi
if [[ $sample == 200 ]] && at_least 0.3334 "$share" && [[ $srows == $(awk -v s="$share" -v n="$N" 'BEGIN { printf "%d", s * n + 0.5 }') ]]; then
  ok "the strong model answered $srows of $N rows (share $share, at most a third), the sample of 200 included, each row once"
else bad share "share $share, strong rows $srows, sample $sample"; fi

# 2. where: the same rows as the derived column says
"$FQL" --format csv -c "$M from csv(\"rows.csv\") | where $P | select id" > where.csv 2> where.err
awk -F, 'NR == 1 || $2 == "true" { print $1 }' casc.csv > want.csv
cmp -s where.csv want.csv && ok "where with a cascade keeps the rows its answers say ($(($(wc -l < where.csv) - 1)))" \
  || bad where "$(diff where.csv want.csv | head -3) $(head -c 300 where.err)"

# 3. query_metrics: the thresholds, the estimates and their bounds, on both models' rows
th=$(metric cascade_thresholds fast)
read -r ep pb er rb <<< "$(metric 'est_precision, precision_bound, est_recall, recall_bound' fast | tr ',' ' ')"
if [[ $th == *"false >= "* && $(metric cascade_thresholds strong) == "$th" ]] && at_least "$pb" 0.9 && at_least "$rb" 0.9 && at_least "$ep" "$pb" && at_least "$er" "$rb"; then
  ok "query_metrics of both models: thresholds ($th), estimates with bounds (precision $ep >= $pb, recall $er >= $rb)"
else bad metrics "$th; $(metric 'est_precision, precision_bound, est_recall, recall_bound' fast)"; fi

# 4. explain shows the cascade; explain analyze what it did
"$FQL" -c "$M explain from csv(\"rows.csv\") | where $P" > ex.txt 2>&1
grep -q "cascade: 'fast' answers every row with its confidence; 'strong' answers a sample of 200 rows" ex.txt && grep -q "precision >= 0.9, recall >= 0.9 against 'strong' with probability 0.95; reads its whole input first" ex.txt \
  && ok "explain shows the cascade and its targets" || bad explain "$(cat ex.txt)"
grep -q "~40 requests + ~4 to ~40 for the cascade's strong model" ex.txt \
  && ok "explain counts the strong model's requests: its sample's to every row's" || bad "explain strong" "$(cat ex.txt)"
"$FQL" --no-cache -c "$M explain cost from csv(\"rows.csv\") | where $P" > exc.txt 2>&1
grep -q "^  strong (openai gpt-4o): 200 rows" exc.txt \
  && grep -q "^  strong (openai gpt-4o), on the rows a cascade's cheap model may be unsure of: up to 1800 more rows" exc.txt \
  && grep -q "total: .* (up to ~\$[0-9.]* for ~80 when the cascades' cheap models are unsure of every row)" exc.txt \
  && ok "explain cost: the sample, and apart, what the unsure rows may add" || bad "explain cost" "$(cat exc.txt)"
"$FQL" -c "$M explain analyze from csv(\"rows.csv\") | where $P" > exa.txt 2>&1
grep -q "cascade fast -> strong: sample 200 of $N rows; confidence thresholds true" exa.txt && grep -q "by strong $srows (" exa.txt \
  && grep -Eq "precision 0\.[0-9]+ \(>= 0\.9[0-9]*\), recall" exa.txt \
  && ok "explain analyze shows the sample, thresholds, each model's share and the estimates with bounds" || bad analyze "$(grep cascade exa.txt | head -c 600)"

# 5. classify with an accuracy target
"$FQL" --format csv -c "$M from csv(\"rows.csv\") | derive c = $C | select id, c" > cls.csv 2> cls.err || bad classify "$(head -c 300 cls.err)"
cshare=$(metric strong_share strong) cb=$(metric accuracy_bound strong)
"$FQL" --format csv -c "$M from csv(\"rows.csv\") | derive s = classify(t, [\"plot\", \"acting\", \"music\", \"ending\"], model: strong) | select id, s" > clsstrong.csv 2> /dev/null
acc=$(paste -d, cls.csv clsstrong.csv | awk -F, 'NR > 1 { n++; k += $2 == $4 && $2 != "" } END { printf "%.4f", k / n }')
# (200 sampled rows bound the accuracy loosely: 0.385 of the rows go to the strong model on average
# over bench/cascades/run.sh's 20 seeds, at most 0.49, docs/cost.md; this seed's sample sends 0.46)
if at_least "$acc" 0.95 && at_least 0.5 "$cshare" && at_least "$cb" 0.95; then
  ok "classify cascade: accuracy $acc against the strong model (target 0.95, bound $cb), strong share $cshare"
else bad classify "accuracy $acc, share $cshare, bound $cb: $(head -c 300 cls.err)"; fi

# 6. targets the sample cannot support: every row to the strong model, said in a warning
"$FQL" --format csv -c "$M from csv(\"rows.csv\") | derive p = predicate(\"Is {{t}} positive?\", model: fast,
  cascade: {model: strong, precision: 0.999, recall: 0.999}) | select id, p" > hard.csv 2> hard.err
hshare=$(metric strong_share strong) hth=$(metric cascade_thresholds strong)
grep -q "every row went to strong: no threshold meets the targets on the sample" hard.err && [[ $hshare == 1.0 || $hshare == 1 ]] \
  && [[ $(awk -F, 'NR > 1 && $2 != ""' hard.csv | wc -l) == "$N" ]] \
  && ok "targets 0.999 cannot be promised: every row to the strong model, with a warning ($hth)" \
  || bad unmet "share $hshare: $(head -c 300 hard.err)"

# 7. a cheap model without token probabilities (Anthropic) is not asked: every row to the strong model
a0=$(reqs claude-haiku-4-5)
"$FQL" --format csv -c "model fast = anthropic(\"claude-haiku-4-5\"); model strong = openai(\"gpt-4o\");
  explain analyze from csv(\"rows.csv\") | where predicate(\"Is {{t}} positive?\", model: fast, cascade: {model: strong, precision: 0.9})" > anth.txt 2>&1
grep -q "every row went to strong: the cheap model gives no confidences" anth.txt && grep -q "by strong $N (100.0%" anth.txt && [[ $(reqs claude-haiku-4-5) == "$a0" ]] \
  && ok "Anthropic as the cheap model: no request to it, every row to the strong model, said in explain analyze and a warning" \
  || bad anthropic "$(grep -i cascade anth.txt | head -c 500)"

# 8. options: sample: and delta:
"$FQL" --format csv -c "$M from csv(\"rows.csv\") | where predicate(\"Is {{t}} positive?\", model: fast,
  cascade: {model: strong, precision: 0.9, sample: 300, delta: 0.1}) | select id" > opt.csv 2> opt.err
[[ $(metric cascade_sample strong) == 300 ]] && ok "sample: 300 draws 300 rows" || bad sample "$(metric cascade_sample strong) $(head -c 300 opt.err)"

# 9. a state database made before the cascade columns gains them and keeps its rows
sqlite3 old.db "create table query_metrics (query_id integer, statement text, started_at real, model text, provider text,
  model_name text, operator text, rows integer, requests integer, cache_hits integer, retries integer, rate_limited integer,
  failures integer, input_tokens integer, cached_input_tokens integer, output_tokens integer, reasoning_tokens integer,
  cost_usd real, latency_ms real, latency_p95_ms real, execution_time_ms real, queue_ms real, est_recall real);
  insert into query_metrics (query_id, model) values (7, 'old');"
head -101 rows.csv > few.csv
"$FQL" --db old.db -c "$M from csv(\"few.csv\") | where predicate(\"Is {{t}} positive?\", model: fast, cascade: {model: strong, recall: 0.9})" > /dev/null 2> old.err
out=$("$FQL" --db old.db --format csv -c 'from system.query_metrics | order by query_id desc | select model, cascade_sample, recall_bound is null as nb' 2>&1)
[[ $(sed -n 2p <<<"$out") == "old,,true" && $(grep -c ',100,false' <<<"$out") == 2 ]] \
  && ok "an older state.db gains the cascade columns (null on its old rows; 100 rows, all sampled)" || bad migrate "$out $(head -c 300 old.err)"

# 10. no row is dropped: rows the cheap model gave no answer for (a refusal) go to the strong model
curl -s -X POST "$SIMURL/sim/config" -d '{"models": {"gpt-4o-mini": {"fault_rules": [{"contains": "Note 1-5:", "fault": "refusal"}, {"contains": "Note 1-7:", "fault": "refusal"}]}}}' > /dev/null
"$FQL" --db fault.db --format csv -c "$M explain analyze from csv(\"few.csv\") | derive p = predicate(\"Is {{t}} positive?\", model: fast, pack: 1,
  cascade: {model: strong, precision: 0.9, sample: 20})" > fault.txt 2>&1
"$FQL" --db fault.db --format csv -c "$M from csv(\"few.csv\") | derive p = predicate(\"Is {{t}} positive?\", model: fast, pack: 1,
  cascade: {model: strong, precision: 0.9, sample: 20}) | where p is null | select id" > nulls.csv 2>> fault.txt
grep -Eq "[12] cheap answers? missing, asked of strong" fault.txt && [[ $(wc -l < nulls.csv) == 1 ]] \
  && ok "rows the cheap model refused are answered by the strong model (the unsampled ones counted as missing), none null" || bad dropped "$(grep -o 'cascade fast.*' fault.txt | head -c 400) $(cat nulls.csv)"

# 11. a semantic join's pairs: the 60 x 60 pairs of a self-join on the same sentiment
curl -s -X POST "$SIMURL/sim/config" -d '{"models": {"gpt-4o-mini": {"fault_rules": null}}}' > /dev/null
head -61 rows.csv > j.csv
J='from csv("j.csv") | semantic join (from csv("j.csv")) as r on "Do these two notes have the same sentiment? First: {{left.t}} Second: {{right.t}}"'
"$FQL" --format csv -c "$M $J model fast prefilter: off cascade: {model: strong, precision: 0.9, recall: 0.9} | select id, r_id" > jc.csv 2> jc.err
jshare=$(metric strong_share strong)
"$FQL" --format csv -c "$M $J model strong prefilter: off | select id, r_id" > js.csv 2> js.err
read -r jp jr <<< "$(awk -F, 'FNR == 1 { next } NR == FNR { s[$0] = 1; ns++; next } { nc++; if ($0 in s) tp++ } END { printf "%.4f %.4f\n", tp / nc, tp / ns }' js.csv jc.csv)"
if at_least "$jp" 0.9 && at_least "$jr" 0.9 && at_least 0.3334 "$jshare"; then
  ok "semantic join, 3600 pairs: precision $jp, recall $jr against the strong model's pairs; strong share $jshare"
else bad join "precision $jp, recall $jr, share $jshare: $(head -c 300 jc.err)"; fi
"$FQL" -c "$M explain $J model fast prefilter: off cascade: {model: strong, recall: 0.95}" > jx.txt 2>&1
grep -q "cascade: 'fast' answers every pair with its confidence.*recall >= 0.95 against 'strong'" jx.txt && ok "explain shows a semantic join's cascade" || bad join-explain "$(cat jx.txt)"

# 12. explain cost: the cheap model on every row and the strong model on the sample (the least the
#     cascade costs); with a cheap model without token probabilities, the strong model on every row
"$FQL" -c "$M explain cost from csv(\"rows.csv\") | where $P" > cost.txt 2>&1
"$FQL" -c "model fast = anthropic(\"claude-haiku-4-5\"); model strong = openai(\"gpt-4o\");
  explain cost from csv(\"rows.csv\") | where predicate(\"Is {{t}} positive?\", model: fast, cascade: {model: strong, recall: 0.9})" > cost2.txt 2>&1
grep -q "fast (openai gpt-4o-mini): $N rows" cost.txt && grep -q "strong (openai gpt-4o): 200 rows" cost.txt \
  && grep -q "strong (openai gpt-4o): $N rows" cost2.txt && ! grep -q "fast (anthropic" cost2.txt \
  && ok "explain cost counts the cheap model's $N rows and the strong model's 200 sampled (Anthropic cheap: the strong model's $N)" \
  || bad cost "$(grep -A3 'cost estimate' cost.txt cost2.txt)"
finish
