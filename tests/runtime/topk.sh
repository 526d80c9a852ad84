#!/usr/bin/env bash
# top K by "criterion {{col}}" (issue 16, item 3; docs/reference.md, "top K by") against fql-sim in
# facts mode: 200 reviews with distinct known scores; the simulator answers a ranking question with
# the candidate of the highest score (tests/sim/README.md, "Facts mode"). Checks the top 10 against
# the facts (error rate 0: exact; 0.1: mostly), the requests against the tournament's bound and
# explain's estimate, the cache on a rerun, pairwise groups, fewer rows than K, failed comparisons,
# the budget, and parse and bind errors with their place.
# usage: tests/runtime/topk.sh BUILD_DIR
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/../lib/setup.sh"

N=200 K=10
# rank.csv: id,t,score with distinct scores; facts.json: the same, as the simulator reads them
node -e '
const fs = require("fs"), n = +process.argv[1], texts = {}, rows = ["id,t,score"];
for (let i = 0; i < n; i++) {
  const s = (i * 7919 + 13) % 1009, t = `Review ${i}: a film the critic rated at level ${s}.`;
  texts[t] = { score: s };
  rows.push(`${i},${t},${s}`);
}
fs.writeFileSync("rank.csv", rows.join("\n") + "\n");
fs.writeFileSync("facts.json", JSON.stringify({ error_rate: { default: 0, "gpt-4.1-nano": 0.1 }, texts }));' "$N"
echo '{"facts": "facts.json"}' > sim.json
source "$HERE/../lib/sim.sh"

# the true order: ids by score, highest first
truth() { tail -n +2 rank.csv | sort -t, -k3,3nr | head -"$1" | cut -d, -f1 | paste -sd' '; }
# the tournament's bound (docs/reference.md): n / (g - 1) groups building, then (K - 1) x levels
bound() {  # bound N K G
  awk -v n="$1" -v k="$2" -v g="$3" 'BEGIN { b = 0; d = 0; for (m = n; m > 1; m = int((m + g - 1) / g)) { b += int((m + g - 1) / g) - (m % g == 1); d++ }
    if (k > n) k = n; print b + (k - 1) * d }'
}
Q="top $K by \"Which review is most enthusiastic? {{t}}\""
run() {  # run MODEL EXTRA OUT [FLAGS]: the ids, in the order top K gives them
  "$FQL" ${4:-} --format csv -c "model m = openai(\"$1\"); from csv(\"rank.csv\") $2 | $Q model m ${5:-} | select id" > "$3.csv" 2> "$3.err"
  tail -n +2 "$3.csv" | paste -sd' '
}

# 1. error rate 0: exactly the true top 10, best first, within the bound and O(n log K)
want=$(truth $K) b4=$(bound $N $K 4)
before=$(reqs gpt-4o-mini)
got=$(run gpt-4o-mini "" exact)
sent=$(( $(reqs gpt-4o-mini) - before ))
nlogk=$(awk -v n=$N -v k=$K 'BEGIN { printf "%d", n * log(k) / log(2) }')
[[ $got == "$want" ]] && ok "error rate 0: the top $K by score, best first ($got)" || bad exact "got '$got', want '$want': $(head -c 300 exact.err)"
[[ $sent -gt 0 && $sent -le $b4 && $sent -le $nlogk ]] \
  && ok "$N rows, K = $K, group 4: $sent requests sent (bound $b4; n log2 K = $nlogk)" \
  || bad requests "$sent requests sent, bound $b4, n log2 K $nlogk"

# 2. explain: the stage and its requests at most; explain cost counts the dry run's; analyze the actual
"$FQL" -c "model m = openai(\"gpt-4o-mini\"); explain from csv(\"rank.csv\") | $Q model m" > explain.txt 2>&1
grep -q "top $K by \"Which review is most enthusiastic? {{t}}\" model m group: 4 .*\[~$K rows, ~$b4 requests\]" explain.txt \
  && ok "explain: the stage and ~$b4 requests" || bad explain "$(cat explain.txt)"
"$FQL" --no-cache -c "model m = openai(\"gpt-4o-mini\"); explain cost from csv(\"rank.csv\") | $Q model m" > cost.txt 2>&1
c=$(grep -o 'total: ~\$[0-9.]* for ~[0-9]* requests' cost.txt | grep -o '[0-9]* requests' | grep -o '[0-9]*')
[[ -n $c && $c -ge $((b4 * 8 / 10)) && $c -le $b4 ]] && ok "explain cost counts the comparisons (~$c requests)" || bad cost "$(cat cost.txt)"
before=$(reqs gpt-4o-mini)
"$FQL" --no-cache -c "model m = openai(\"gpt-4o-mini\"); explain analyze from csv(\"rank.csv\") | $Q model m" > analyze.txt 2>&1
sent=$(( $(reqs gpt-4o-mini) - before ))
grep -q "requests $sent (0 cached / 0 repeated / $sent sent .*tournament of $N compared rows.*$sent comparison requests" analyze.txt \
  && ok "explain analyze: the $sent requests sent, building and after each winner" || bad analyze "sent $sent: $(cat analyze.txt)"

# 3. a rerun asks the same requests: all from the cache, the same answer
before=$(reqs gpt-4o-mini)
again=$(run gpt-4o-mini "" again)
sent=$(( $(reqs gpt-4o-mini) - before ))
[[ $again == "$want" && $sent == 0 ]] && grep -q "0 sent" again.err \
  && ok "a rerun is answered from the cache (0 sent, the same rows)" || bad rerun "$sent sent, '$again': $(cat again.err)"

# 3b. a limit above asks for no more rows: top 3, the first 3 of the top 10 (its prompts: all cached)
"$FQL" -c "model m = openai(\"gpt-4o-mini\"); explain from csv(\"rank.csv\") | $Q model m | select id | limit 3" > lexplain.txt 2>&1
before=$(reqs gpt-4o-mini)
got=$(run gpt-4o-mini "" limited "" "| limit 3")
sent=$(( $(reqs gpt-4o-mini) - before ))
b3=$(bound $N 3 4)
[[ $got == "$(truth 3)" && $sent == 0 ]] && grep -q "top 3 by .*\[~3 rows, ~$b3 requests\]  -- top 3 by the limit above (written top $K)" lexplain.txt \
  && ok "limit 3 above top $K: top 3 (~$b3 requests), the first 3 rows, every prompt already cached" || bad limit "'$got', $sent sent: $(cat lexplain.txt)"

# 4. pairwise (group: 2): the same top 10, within its bound
b2=$(bound $N $K 2)
before=$(reqs gpt-4o-mini)
got=$(run gpt-4o-mini "" pair --no-cache "group: 2")
sent=$(( $(reqs gpt-4o-mini) - before ))
[[ $got == "$want" && $sent -le $b2 && $sent -gt $b4 ]] && ok "group: 2 (pairwise): the same top $K, $sent requests (bound $b2)" \
  || bad pairwise "got '$got' with $sent requests (bound $b2): $(head -c 300 pair.err)"

# 5. error rate 0.1: mostly right, and the same on a rerun (deterministic prompts, cached). Which
# comparisons err depends on the prompt's hash, so one wording is one draw: four wordings, and the
# true top K found on average (a tournament loses a row when a comparison on its way up errs)
hits=0 got1=
for w in "Which review is most enthusiastic?" "Which review is the most enthusiastic?" "Which film review is most enthusiastic?" "Most enthusiastic review?"; do
  Q="top $K by \"$w {{t}}\""
  got=$(run gpt-4.1-nano "" noisy)
  [[ -z $got1 ]] && got1=$got q1=$Q
  [[ $(wc -w <<< "$got") == "$K" ]] || hits=-999
  hits=$(( hits + $(comm -12 <(tr ' ' '\n' <<< "$got" | sort) <(tr ' ' '\n' <<< "$want" | sort) | wc -l) ))
done
Q=$q1 again=$(run gpt-4.1-nano "" noisy2)
Q="top $K by \"Which review is most enthusiastic? {{t}}\""
[[ $hits -ge $((4 * K * 65 / 100)) && $again == "$got1" ]] \
  && ok "error rate 0.1: $hits of 4 x the true top $K found; a rerun gives the same rows" || bad noisy "$hits of 4 x $K right; '$got1', again '$again'"

# 6. fewer rows than K: all of them, ordered; no request for a single row
got=$(run gpt-4o-mini "| where id < 6" few --no-cache)
w6=$(tail -n +2 rank.csv | awk -F, '$1 < 6' | sort -t, -k3,3nr | cut -d, -f1 | paste -sd' ')
before=$(reqs gpt-4o-mini)
one=$(run gpt-4o-mini "| where id == 3" one --no-cache)
sent=$(( $(reqs gpt-4o-mini) - before ))
[[ $got == "$w6" && $one == 3 && $sent == 0 ]] && ok "fewer rows than K: all 6 ordered ($got); one row: no request" \
  || bad fewer "got '$got' want '$w6'; one row '$one' with $sent requests"

# 7. failed comparisons: no row dropped, the earliest row wins them, a warning and analyze say so
curl -s -X POST "$SIMURL/sim/config" -d '{"models": {"gpt-4o": {"fault_rules": [{"contains": "Review 132:", "fault": "refusal"}]}}}' > /dev/null
got=$(run gpt-4o "" failed --no-cache)
"$FQL" --no-cache -c "model m = openai(\"gpt-4o\"); explain analyze from csv(\"rank.csv\") | $Q model m" > fanalyze.txt 2>&1
nf=$(grep -o '[0-9]* failed (won by the earliest row)' fanalyze.txt | grep -o '^[0-9]*')
[[ $(wc -w <<< "$got") == "$K" && ${nf:-0} -ge 1 ]] && grep -q "warning: top $K by: $nf of [0-9]* comparisons failed; each was won by its earliest row" failed.err \
  && ok "failed comparisons: $K rows still out, $nf failed counted, a warning" || bad failed "got '$got', failed '$nf': $(cat failed.err fanalyze.txt)"

# 8. the budget gates the comparisons before anything is sent
before=$(reqs gpt-4o-mini)
"$FQL" --no-cache -c "model m = openai(\"gpt-4o-mini\"); set budget = 0.0001; from csv(\"rank.csv\") | $Q model m" > budget.txt 2>&1; rc=$?
sent=$(( $(reqs gpt-4o-mini) - before ))
[[ $rc != 0 && $sent == 0 ]] && grep -q "not started: the estimate is" budget.txt && ok "set budget refuses it before sending" \
  || bad budget "rc $rc, $sent sent: $(cat budget.txt)"

# 9. errors point at the place: file:line:column
printf 'model m = openai("gpt-4o-mini");\nfrom csv("rank.csv")\n  | top by "x {{t}}"\n' > bad.fql
"$FQL" bad.fql > bad.txt 2>&1
printf 'model m = openai("gpt-4o-mini");\nfrom csv("rank.csv") | top 3 by "x {{t}}" group: 11\n' > bad2.fql
"$FQL" bad2.fql > bad2.txt 2>&1
printf 'model m = openai("gpt-4o-mini");\nfrom csv("rank.csv") | top 3 by "no column named"\n' > bad3.fql
"$FQL" bad3.fql > bad3.txt 2>&1
grep -q "^bad.fql:3:9: error: expected an integer after 'top', got 'by'" bad.txt \
  && grep -q "^bad2.fql:2:50: error: group: takes the candidates compared in one request, 2 (pairwise) to 10" bad2.txt \
  && grep -q "^bad3.fql:2:24: error: top 3 by needs a criterion that names what a row is judged by in {{...}}" bad3.txt \
  && ok "errors name file:line:column (syntax, group:, a criterion without a column)" || bad errors "$(cat bad.txt bad2.txt bad3.txt)"

finish
