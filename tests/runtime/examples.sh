#!/usr/bin/env bash
# make examples: every example script runs to the end against fql-sim (no keys in the environment).
# usage: tests/runtime/examples.sh BUILD_DIR
set -u
BUILD=$(cd "${1:-build}" && pwd)
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
out=$(env -u OPENAI_API_KEY -u ANTHROPIC_API_KEY -u GEMINI_API_KEY bash "$ROOT/examples/run.sh" "$BUILD" --all 2>&1); rc=$?
pass=0 fail=0
if [[ $rc == 0 ]]; then pass=$((pass + 1)); echo "ok every example runs"; else fail=$((fail + 1)); echo "FAIL examples: rc=$rc $(echo "$out" | tail -5)"; fi
for f in triage escalation moderation market cost_report; do
  if grep -q "== examples/$f.fql" <<<"$out"; then pass=$((pass + 1)); echo "ok $f ran"; else fail=$((fail + 1)); echo "FAIL $f did not run"; fi
done
grep -q "== examples/embed.c" <<<"$out" && grep -q "^metrics: " <<<"$out" && { pass=$((pass + 1)); echo "ok examples/embed.c ran"; } || { fail=$((fail + 1)); echo "FAIL examples/embed.c did not run (make examples builds it)"; }
grep -q SIMULATED <<<"$out" && { pass=$((pass + 1)); echo "ok the output says the answers are simulated"; } || { fail=$((fail + 1)); echo "FAIL no SIMULATED label"; }
echo "$pass passed, $fail failed"
[[ $fail == 0 ]]
