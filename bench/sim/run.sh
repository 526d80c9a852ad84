#!/usr/bin/env bash
# Requests per second fql-sim sustains on loopback with 200 concurrent keep-alive clients.
# Usage: BUILD=build bash bench/sim/run.sh [SECONDS] [CONNECTIONS]
# Prints the loadgen's JSON lines and a closing "fql-sim: N requests/s ..." line per workload.
set -u
cd "$(dirname "$0")/../.." || exit 2
BUILD=${BUILD:-build}
SECS=${1:-5}
CONNS=${2:-200}
SIM=$BUILD/fql-sim
LOADGEN=$BUILD/sim-loadgen
[ -x "$SIM" ] && [ -x "$LOADGEN" ] || { echo "build $SIM and $LOADGEN first (make bench-sim)"; exit 2; }
OUT=$(mktemp)
"$SIM" --port 0 > "$OUT" &
PID=$!
trap 'kill $PID 2>/dev/null; rm -f "$OUT"' EXIT
for _ in $(seq 1 100); do [ -s "$OUT" ] && break; sleep 0.05; done
PORT=$(sed -n '1s/[^0-9]//gp' "$OUT")
[ -n "$PORT" ] || { echo "fql-sim did not start"; exit 1; }

run() {   # name, then loadgen arguments
    local name=$1
    shift
    "$LOADGEN" -p "$PORT" -c "$CONNS" -d 1 "$@" > /dev/null   # warm-up
    local line rps
    line=$("$LOADGEN" -p "$PORT" -c "$CONNS" -d "$SECS" "$@")
    echo "$line"
    rps=$(echo "$line" | sed -n 's/.*"rps":\([0-9]*\).*/\1/p')
    echo "fql-sim: $rps requests/s ($name, $CONNS connections, ${SECS}s)"
}
run "chat completions, simple answers"
run "anthropic messages" --path /v1/messages \
    --body '{"model":"claude-haiku-4-5","max_tokens":64,"messages":[{"role":"user","content":"Say hello to the benchmark"}]}'
run "embeddings, 256 dimensions" --path /v1/embeddings \
    --body '{"model":"text-embedding-3-small","input":"the benchmark text","dimensions":256}'
