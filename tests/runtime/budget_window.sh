#!/usr/bin/env bash
# Budgets over time (issue 18): `set budget = {usd: N, per: "day"}` (and `model: "ALIAS"`) counts
# every run on the state database (and every process on a shared Redis); a run that would pass it
# stops before sending what it cannot afford, saying how much was spent and when the window
# resets; a later run is refused at once; `set budget = N` (per statement) still works.
# usage: tests/runtime/budget_window.sh BUILD_DIR
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/../lib/setup.sh"
cat > sim.json <<'J'
{"default": {"latency_ms": 5, "jitter_ms": 5}}
J
source "$HERE/../lib/sim.sh"
source "$HERE/../lib/redis.sh"
{ echo "n,text"; for i in $(seq 1 40); do echo "$i,ticket $i: the checkout page $((i % 7)) is broken"; done; } > t.csv
# prices of 1,000 USD per million tokens: a request costs about $0.06
M='model o = openai("gpt-4o", price_in: 1000, price_out: 1000, max_concurrency: 2); model p = openai("gpt-4o-mini", price_in: 1000, price_out: 1000, max_concurrency: 2);'
q() { echo "set fusion = off; $1 $M from csv(\"t.csv\") | derive u = predicate(text, instructions: \"$2\", model: \"$3\", pack: 1) | agg k = count(u)"; }
day=$(date -u -d tomorrow +%Y-%m-%d)

# 1. a day's budget of $1: the run stops before passing it, with what was spent and when it resets
"$FQL" --format csv -c "$(q 'set budget = {usd: 1, per: "day"};' 'is it urgent?' o)" > r1.csv 2> e1 && bad stop1 "the run did not stop"
n1=$(reqs gpt-4o)
grep -q "stopped before sending: the budget of \$1 per day is spent: \$0\.[0-9]* since $(date -u +%Y-%m-%d) 00:00 UTC.*it resets at $day 00:00 UTC" e1 \
  && ok "the run stops with what was spent and when the window resets" || bad msg1 "$(cat e1)"
spent=$("$FQL" --format csv -c 'from system.lm_calls | agg c = sum(cost_usd)' | tail -1)
[[ $n1 -gt 5 && $n1 -lt 40 ]] && node -e "process.exit($spent <= 1 && $spent > 0.8 ? 0 : 1)" \
  && ok "it spent \$$spent of \$1 ($n1 requests), no more" || bad spent1 "$n1 requests, \$$spent"

# 2. the next run (another process, another statement) is refused before sending anything new
"$FQL" --format csv -c "$(q 'set budget = {usd: 1, per: "day"};' 'is it urgent now?' o)" > r2.csv 2> e2 && bad stop2 "the second run did not stop"
[[ $(reqs gpt-4o) == "$n1" ]] && grep -q 'the budget of \$1 per day is spent' e2 && ok "a later run sends nothing once the day's budget is spent" || bad run2 "$(reqs gpt-4o) requests (was $n1); $(cat e2)"

# 3. a budget for one model leaves the others alone; raising it lets the run go on
"$FQL" --format csv -c "$(q 'set budget = {usd: 1, per: "hour", model: "o"};' 'is it urgent?' p)" > r3.csv 2> e3 \
  && [[ $(tail -1 r3.csv) == 40 ]] && ok "a budget of model o does not stop model p" || bad permodel "$(cat e3)"
np=$(reqs gpt-4o-mini)
"$FQL" --format csv -c "$(q 'set budget = {usd: 1, per: "hour", model: "p"};' 'is it urgent at all?' p)" > r4.csv 2> e4 && bad stop4 "did not stop"
grep -q "the budget of \$1 per hour for model 'p' is spent: \$2\.[0-9]* since" e4 && ok "a model's hourly budget stops it, naming the model" || bad msg4 "$(cat e4)"
[[ $(reqs gpt-4o-mini) == "$np" ]] && ok "what was spent before the budget was set counts in its window (nothing sent)" || bad before "$np -> $(reqs gpt-4o-mini)"
"$FQL" --format csv -c "$(q 'set budget = {usd: 100, per: "day"};' 'is it urgent?' o)" > r5.csv 2> e5 \
  && [[ $(tail -1 r5.csv) == 40 ]] && ok "a larger budget lets the run finish" || bad raise "$(cat e5)"

# 4. the per-statement budget still works beside it
"$FQL" --format csv -c "$(q 'set budget = 0.5;' 'is it very urgent?' o)" > r6.csv 2> e6 && bad stmt "did not stop"
grep -q 'over the budget of \$0.5\|reaching the budget of \$0.5' e6 && ok "set budget = N still bounds one statement" || bad stmt "$(cat e6)"

# 5. bad forms are refused with the usage
"$FQL" -c 'set budget = {usd: 5, per: "fortnight"}' 2> e7 && bad form "accepted"
grep -q 'per: "hour", "day", "week" or "month"' e7 && ok "a bad window is refused with the forms" || bad form "$(cat e7)"

# 6. shared (Redis): two state databases, one budget
redis_start || { echo "0 passed, 1 failed"; exit 1; }
curl -s -XPOST "$SIMURL/sim/reset" > /dev/null
FQL_DB=$dir/a.db "$FQL" --format csv -c "set shared = \"$REDIS_URL\"; $(q 'set budget = {usd: 1, per: "month"};' 'is it shared?' o)" > r8.csv 2> e8
n8=$(reqs gpt-4o)
FQL_DB=$dir/b.db "$FQL" --format csv -c "set shared = \"$REDIS_URL\"; $(q 'set budget = {usd: 1, per: "month"};' 'is it shared too?' o)" > r9.csv 2> e9 && bad shared "the second process did not stop"
[[ $(reqs gpt-4o) == "$n8" ]] && grep -q 'per month is spent' e9 && [[ -n $(redis-cli -p "$REDIS_PORT" --scan --pattern 'fql:budget:*:month:*') ]] \
  && ok "shared: another process on another database sees the month's spending in Redis" || bad shared "$n8 -> $(reqs gpt-4o); $(cat e8 e9)"
finish
