#!/usr/bin/env bash
# Runs the example scripts. Without OPENAI_API_KEY the model calls go to the provider simulator
# (build/fql-sim on 127.0.0.1), and the output says so.
# usage: examples/run.sh BUILD_DIR
set -eu
BUILD=${1:-build}
cd "$(dirname "$0")/.."
echo "== examples/quickstart.fql (no model calls)"
"$BUILD/fql" examples/quickstart.fql
simpid=
if [[ -z ${OPENAI_API_KEY:-} ]]; then
  out=$(mktemp)
  "$BUILD/fql-sim" --port 0 > "$out" 2>/dev/null & simpid=$!
  trap 'kill -TERM $simpid 2>/dev/null; rm -f "$out"' EXIT
  for _ in $(seq 100); do [[ -s $out ]] && break; sleep 0.05; done
  port=$(sed -n '1s/[^0-9]//gp' "$out")
  export OPENAI_API_KEY=sim-key OPENAI_BASE_URL="http://127.0.0.1:$port/v1"
  export FQL_DB=$(mktemp -d)/state.db
  echo
  echo "== examples/triage.fql: SIMULATED (no OPENAI_API_KEY is set, so the answers come from build/fql-sim,"
  echo "   a local stand-in for the provider; set OPENAI_API_KEY to use the real one)"
else
  echo
  echo "== examples/triage.fql (OpenAI)"
fi
"$BUILD/fql" examples/triage.fql
