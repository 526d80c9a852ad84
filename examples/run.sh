#!/usr/bin/env bash
# Runs the example scripts. Without OPENAI_API_KEY the model calls go to the provider simulator
# (build/fql-sim on 127.0.0.1), and the output says so.
# usage: examples/run.sh BUILD_DIR [--all]
#   (default) quickstart.fql and triage.fql: the README's first run
#   --all     every examples/*.fql (make examples), then examples/embed.c when it is built
set -eu
BUILD=${1:-build}
ALL=${2:-}
cd "$(dirname "$0")/.."
echo "== examples/quickstart.fql (no model calls)"
"$BUILD/fql" examples/quickstart.fql
simpid=
label=""
if [[ -z ${OPENAI_API_KEY:-} ]]; then
  out=$(mktemp)
  "$BUILD/fql-sim" --port 0 > "$out" 2>/dev/null & simpid=$!
  trap 'kill -TERM $simpid 2>/dev/null; rm -f "$out"' EXIT
  for _ in $(seq 100); do [[ -s $out ]] && break; sleep 0.05; done
  port=$(sed -n '1s/[^0-9]//gp' "$out")
  export OPENAI_API_KEY=sim-key OPENAI_BASE_URL="http://127.0.0.1:$port/v1"
  export ANTHROPIC_API_KEY=sim-key ANTHROPIC_BASE_URL="http://127.0.0.1:$port"
  export FQL_DB=$(mktemp -d)/state.db
  label=": SIMULATED (no OPENAI_API_KEY is set, so the answers come from build/fql-sim, a local stand-in for the providers; set the keys to use the real ones)"
fi
scripts=(examples/triage.fql)
if [[ $ALL == --all ]]; then
  scripts=(examples/triage.fql examples/escalation.fql examples/moderation.fql examples/market.fql examples/cost_report.fql)
fi
for f in "${scripts[@]}"; do
  echo
  echo "== $f$label"
  label=""
  "$BUILD/fql" "$f"
done
if [[ $ALL == --all && -x $BUILD/examples/embed ]]; then
  echo
  echo "== examples/embed.c (the C API)"
  "$BUILD/examples/embed"
fi
