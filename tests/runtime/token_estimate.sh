#!/usr/bin/env bash
# Requests to OpenAI-family models are sized with the exact tokenizer, others with bytes / 4: the
# context-window check (which refuses a request without sending it) shows which was used. Digits
# are about one token per three bytes (more than bytes / 4); a run of spaces is a few tokens (far
# fewer). Against fql-sim over real HTTP.
# usage: tests/runtime/token_estimate.sh BUILD_DIR
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/../lib/setup.sh"
echo '{"default": {"latency_ms": 1}}' > sim.json
source "$HERE/../lib/sim.sh"

digits=$(printf '1234567890%.0s' $(seq 400))       # 4000 bytes: 1334 tokens exact, 1000 estimated
spaces="x$(printf '%4000s' '')y"                    # 4002 bytes: a few tokens exact, 1001 estimated
# run MODEL_DECL TEXT: the summary's answer ("sent") or the error kind of the row ("refused: KIND")
run() {
  local out kind
  out=$("$FQL" --no-cache --format csv -c "$1; values [{x: \"$2\"}] | select summarize(x, model: m) is not null as sent" 2>err.txt)
  if [[ $out == $'sent\ntrue' ]]; then echo sent; return; fi
  kind=$("$FQL" --format csv -c 'from system.lm_errors | select kind' 2>/dev/null | tail -n 1)
  echo "refused: $kind ($out $(cat err.txt))"
}
check() {  # name, want, got
  [[ $3 == "$2"* ]] && ok "$1" || bad "$1" "want $2, got $3"
}
check "gpt-4o: digits counted exactly (over 1200)" "refused: context_window" \
  "$(run 'model m = openai("gpt-4o", context_window: 1200)' "$digits")"
check "a local model: digits estimated (under 1200)" sent \
  "$(run 'model m = openai("local-llama", context_window: 1200)' "$digits")"
check "openrouter openai/gpt-4.1: spaces counted exactly (under 500)" sent \
  "$(run 'model m = openrouter("openai/gpt-4.1", context_window: 500)' "$spaces")"
check "gpt-3.5-turbo (cl100k_base): spaces counted exactly (under 500)" sent \
  "$(run 'model m = openai("gpt-3.5-turbo", context_window: 500)' "$spaces")"
check "a local model: spaces estimated (over 500)" "refused: context_window" \
  "$(run 'model m = openai("local-llama", context_window: 500)' "$spaces")"
finish
