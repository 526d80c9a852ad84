#!/usr/bin/env bash
# The Batch API under the simulator's limits and quotas, end to end: batch lines are not held to
# the per-minute limits (every row answered), and a quota error inside a batch stops the statement
# as it does outside one (exit 1, the model named, what to do), keeping every answer received.
# usage: tests/runtime/batch_quota.sh BUILD_DIR
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/../lib/setup.sh"
cat > sim.json <<'J'
{"default": {"latency_ms": 2, "jitter_ms": 3},
 "models": {"gpt-4o-mini": {"rpm": 10, "tpm": 20000},
            "quota-batch": {"quota_requests": 30},
            "claude-quota-batch": {"quota_requests": 4}},
 "batch_delay_ms": 300}
J
source "$HERE/../lib/sim.sh"
stat() {  # a figure of /sim/stats by its path: "batches|requests", "models|gpt-4o|requests"
  curl -s "$SIMURL/sim/stats" | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{let v=JSON.parse(s);for(const k of process.argv[1].split("|"))v=v?v[k]:undefined;console.log(v===undefined?0:v)})' "$1"
}
rows() {  # a JSON array of N row numbers from 1
  local a="[1" i
  for ((i = 2; i <= $1; i++)); do a+=",$i"; done
  echo "$a]"
}

# 200 rows through the Batch API of a model limited to 10 requests a minute: every row answered
out=$("$FQL" --format csv -c "model fast = openai(\"gpt-4o-mini\", batch: true);
  values [{x: 1}] | derive k = $(rows 200) | explode k | select classify(\"rpm ticket \" || k, [\"a\", \"b\"]) as c
  | agg n = count(c), rows = count()" 2>rpm.err); rc=$?
[[ $rc == 0 && $out == $'n,rows\n200,200' ]] && ok "200 batch rows under rpm 10: all answered" || bad batch-rpm "rc=$rc out=$out $(tail -3 rpm.err)"
[[ $(stat "models|gpt-4o-mini|rate_limited") == 0 ]] && ok "no batch line was rate limited" || bad batch-rpm-limited "$(curl -s "$SIMURL/sim/stats")"

# quota exhausted inside an OpenAI batch: 50 rows, the quota allows 30
script="model q = openai(\"quota-batch\", batch: true);
  values [{x: 1}] | derive k = $(rows 50) | explode k | select k, classify(\"quota ticket \" || k, [\"a\", \"b\"]) as c"
before=$(stat "batches|requests")
out=$("$FQL" --format csv -c "$script" 2>q.err); rc=$?
msg=$(grep -v "^fql: q" q.err)
[[ $rc == 1 ]] && ok "quota in a batch: exit 1" || bad quota-exit "rc=$rc out=$(echo "$out" | head -3) err=$(cat q.err)"
[[ $msg == *"model 'q' (openai quota-batch, Batch API)"* && $msg == *"quota exhausted"* && $msg == *"check the plan and billing"* ]] \
  && ok "quota in a batch: says which model, that it is the quota, what to do" || bad quota-msg "$(cat q.err)"
[[ $msg == *"the 30 answers received are kept in the cache"* ]] && ok "quota in a batch: says the answers are kept" || bad quota-kept "$(cat q.err)"
[[ -z $out ]] && ok "quota in a batch: no partial table" || bad quota-table "$out"
[[ $(( $(stat "batches|requests") - before )) == 50 ]] && ok "one batch of 50 sent" || bad quota-sent "$(( $(stat "batches|requests") - before ))"
# the quota raised, the rerun pays only for the 20 rows that had no answer
curl -s -X POST "$SIMURL/sim/config" -d '{"models": {"quota-batch": {"quota_requests": 0}}}' >/dev/null
before=$(stat "batches|requests")
out=$("$FQL" --format csv -c "$script | agg n = count(c), rows = count()" 2>q2.err); rc=$?
[[ $rc == 0 && $out == $'n,rows\n50,50' ]] && ok "rerun after the quota: every row answered" || bad quota-rerun "rc=$rc out=$out $(cat q2.err)"
[[ $(( $(stat "batches|requests") - before )) == 20 ]] && grep -q "30 cached" q2.err && ok "rerun sends only the 20 unanswered rows" \
  || bad quota-rerun-sent "sent $(( $(stat "batches|requests") - before )); $(cat q2.err)"

# the same outside a batch, for comparison: exit 1 and the quota named
curl -s -X POST "$SIMURL/sim/config" -d '{"models": {"quota-batch": {"quota_requests": 1}}}' >/dev/null
curl -s -X POST "$SIMURL/sim/reset" -d '{}' >/dev/null
out=$("$FQL" --no-cache --format csv -c 'model q = openai("quota-batch");
  values [{t: "sync one"}, {t: "sync two"}, {t: "sync three"}] | select classify(t, ["a", "b"]) as c' 2>s.err); rc=$?
[[ $rc == 1 && $(cat s.err) == *"model 'q' (openai)"*"quota exhausted"* ]] && ok "outside a batch: exit 1 and the quota named (the same)" || bad sync-quota "rc=$rc $(cat s.err)"

# Anthropic Message Batches: the credit balance error is fatal the same way
out=$("$FQL" --format csv -c "model cq = anthropic(\"claude-quota-batch\", batch: true);
  values [{x: 1}] | derive k = $(rows 10) | explode k | select classify(\"credit ticket \" || k, [\"a\", \"b\"]) as c" 2>a.err); rc=$?
[[ $rc == 1 && $(cat a.err) == *"model 'cq' (anthropic claude-quota-batch, Batch API)"*"credit balance"*"Plans & Billing"* ]] \
  && ok "anthropic batch: credit balance stops the statement" || bad anthropic-quota "rc=$rc $(cat a.err)"
[[ $(cat a.err) == *"the 4 answers received are kept"* ]] && ok "anthropic batch: 4 answers kept" || bad anthropic-kept "$(cat a.err)"

finish
