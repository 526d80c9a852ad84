#!/usr/bin/env bash
# Tight output ceilings (issue 18) against fql-sim, which counts a request's requested max_tokens
# against output_tpm / tpm: structured answers get a ceiling from their shape and the answers so
# far, so an output-TPM-bound job takes about the time its real tokens need; a ceiling the user
# wrote wins; an answer cut off at a chosen ceiling is resent once with a larger one.
# usage: tests/runtime/ceilings.sh BUILD_DIR
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/../lib/setup.sh"
cat > sim.json <<'J'
{"default": {"latency_ms": 5, "jitter_ms": 5},
 "models": {"claude-haiku-4-5": {"output_tpm": 6000}, "gpt-4o-mini": {"tpm": 12000},
            "claude-3-5-haiku-latest": {"output_tpm": 60000}}}
J
source "$HERE/../lib/sim.sh"
sf() { curl -s "$SIMURL/sim/stats" | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{let v=JSON.parse(s).models[process.argv[1]]||{};for(const k of process.argv[2].split("."))v=(v||{})[k];console.log(v||0)})' "$1" "$2"; }
now() { date +%s.%N; }

{ echo "n,text"; for i in $(seq 1 80); do echo "$i,ticket $i: the checkout page $((i % 7)) is broken"; done; } > t.csv

# 1. output_tpm 6,000 and 80 yes/no answers: a 1,024-token ceiling each would take 80 x 1024 / 100 = 820 s
t0=$(now)
timeout 120 "$FQL" --no-cache --format csv -c 'set fusion = off; model h = anthropic("claude-haiku-4-5", output_tpm: 6000); from csv("t.csv") | derive u = predicate(text, instructions: "is it urgent?", model: "h", pack: 1) | where u is not null | agg k = count(*)' > h.csv 2>err1
t1=$(now)
out=$(sf claude-haiku-4-5 output_tokens); counted=$(sf claude-haiku-4-5 max_60s.output_tokens); n=$(tail -1 h.csv)
ratio=$(node -e "console.log((($t1-$t0)/($out/6000*60)).toFixed(2))")
[[ $n == 80 ]] && ok "every row answered under output_tpm" || bad rows "$n rows; $(cat err1)"
node -e "process.exit($counted <= 80*24 ? 0 : 1)" && ok "ceilings sent are tight ($counted output tokens counted for $out generated)" || bad counted "$counted counted for $out generated"
node -e "process.exit($ratio <= 1.5 ? 0 : 1)" && ok "output-TPM-bound job: ${ratio}x the time its real tokens need" || bad time "${ratio}x ($out tokens, $(node -e "console.log($t1-$t0)") s)"
rl=$(sf claude-haiku-4-5 rate_limited)
[[ $rl -le 1 ]] && ok "$rl 429s (at most one window edge, which the pace learns)" || bad 429 "$rl rate-limited"

# 2. TPM-bound (OpenAI counts input + max_tokens): same rows, tpm 12,000
t0=$(now)
timeout 120 "$FQL" --no-cache --format csv -c 'set fusion = off; model o = openai("gpt-4o-mini", tpm: 12000); from csv("t.csv") | derive u = classify(text, ["bug", "billing", "other"], model: "o", pack: 1) | where u is not null | agg k = count(*)' > o.csv 2>err2
t1=$(now)
tok=$(sf gpt-4o-mini input_tokens); tok=$((tok + $(sf gpt-4o-mini output_tokens)))
ratio=$(node -e "console.log((($t1-$t0)/($tok/12000*60)).toFixed(2))")
[[ $(tail -1 o.csv) == 80 ]] && node -e "process.exit($ratio <= 1.5 ? 0 : 1)" && ok "TPM-bound job: ${ratio}x the time its real tokens need" || bad tpm "${ratio}x, $(tail -1 o.csv) rows; $(cat err2)"

# 3. what the user wrote wins: max_output_tokens: 50 is sent (and counted) on every request
"$FQL" --no-cache --format csv -c 'set fusion = off; model h2 = anthropic("claude-3-5-haiku-latest", output_tpm: 60000, max_output_tokens: 50); from csv("t.csv") | limit 10 | derive u = predicate(text, instructions: "is it urgent?", model: "h2", pack: 1) | agg k = count(u)' > h2.csv 2>err3
[[ $(sf claude-3-5-haiku-latest max_60s.output_tokens) == 500 ]] && ok "an explicit max_output_tokens is sent as written" || bad explicit "$(sf claude-3-5-haiku-latest max_60s.output_tokens) counted for 10 x 50; $(cat err3)"

# 4. an answer longer than the learned ceiling is cut off, resent once with a larger one, and kept
LONG="category $(for k in $(seq 1 60); do printf "w$k "; done)"
{ echo "n,text"; for i in $(seq 1 8); do echo "$i,a bug on page $i"; done; echo "9,$LONG"; } > cl.csv
curl -s -XPOST "$SIMURL/sim/reset" > /dev/null
"$FQL" --no-cache --format csv -c "set fusion = off; model o = openai(\"gpt-4o\", max_concurrency: 1); from csv(\"cl.csv\") | derive c = classify(text, [\"bug\", \"$LONG\"], model: \"o\", pack: 1) | derive l = length(c) | select n, l" > cl.out 2>err4
[[ $(sed -n 10p cl.out) == "9,240" && $(grep -c ',3$' cl.out) == 8 ]] && ok "a cut-off answer is resent with a larger ceiling and kept" || bad regrow "$(tr '\n' ' ' < cl.out); $(cat err4)"
[[ $(sf gpt-4o requests) == 10 ]] && grep -q '1 retried' err4 && ok "one resend, counted as a retry" || bad resend "$(sf gpt-4o requests) requests; $(cat err4)"

finish
