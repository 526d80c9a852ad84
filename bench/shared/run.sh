#!/usr/bin/env bash
# Shared limits benchmark (issue 17): N fql processes (N = 1, 2, 4, 8) share one key's limits
# through a private redis-server (--shared), each answering ROWS rows against fql-sim:
#   same:  one limit of RPM requests a minute whatever N: the processes together must stay at the
#          limit (throughput / limit near 0.97, the scheduler's pace), not multiply it;
#   grows: a limit of RPM_PER × N: the throughput must grow with N (throughput / limit stays).
# Prints per run the wall time, the throughput (requests a second), the ideal (the limit), their
# ratio and the 429s the simulator gave. Measured, not asserted.
# usage: bench/shared/run.sh BUILD_DIR     (env: ROWS=50 RPM=1200 RPM_PER=300 NS="1 2 4 8")
set -u
BUILD=$(cd "${1:-build}" && pwd)
ROWS=${ROWS:-50} RPM=${RPM:-1200} RPM_PER=${RPM_PER:-300} NS=${NS:-1 2 4 8}
dir=$(mktemp -d)
simpid=
cleanup() { [[ -n $simpid ]] && kill -TERM "$simpid" 2>/dev/null && wait "$simpid" 2>/dev/null; rm -rf "$dir"; }
source "$(dirname "$0")/../../tests/lib/redis.sh"   # wraps cleanup: it stops redis-server first
trap cleanup EXIT
die() { echo "bench/shared: $*" >&2; exit 1; }

# one simulated model per run, each with its own limit (fresh windows)
models=""
for n in $NS; do
  models+="\"same-$n\": {\"rpm\": $RPM}, \"grows-$n\": {\"rpm\": $((RPM_PER * n))},"
done
echo "{\"default\": {\"latency_ms\": 20, \"jitter_ms\": 30}, \"models\": {${models%,}}}" > "$dir/sim.json"
"$BUILD/fql-sim" --port 0 --config "$dir/sim.json" > "$dir/sim.out" 2> "$dir/sim.err" & simpid=$!
for _ in $(seq 100); do [[ -s $dir/sim.out ]] && break; sleep 0.05; done
port=$(sed -n '1s/[^0-9]//gp' "$dir/sim.out")
[[ -n $port ]] || die "the simulator did not start: $(cat "$dir/sim.err")"
SIMURL="http://127.0.0.1:$port"
export OPENAI_API_KEY="sk-bench-shared" OPENAI_BASE_URL="$SIMURL/v1"
redis_start > /dev/null || die "redis-server did not start"

stat() {  # stat MODEL FIELD [STATUS]
  curl -s "$SIMURL/sim/stats" | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{const m=JSON.parse(s).models[process.argv[1]]||{};console.log(process.argv[3]?((m.status||{})[process.argv[3]]||0):(m[process.argv[2]]||0))})' "$@"
}

printf "%-6s %3s %10s %9s %8s %10s %10s %7s %5s\n" mode N limit_rpm requests wall_s req_per_s ideal_rps ratio 429s
for mode in same grows; do
  for n in $NS; do
    model="$mode-$n"
    lim=$([[ $mode == same ]] && echo "$RPM" || echo $((RPM_PER * n)))
    pids=()
    t0=$(date +%s.%N)
    for k in $(seq 1 "$n"); do
      { echo "id,text"; for i in $(seq 1 "$ROWS"); do echo "$i,$model process $k row $i"; done; } > "$dir/in-$model-$k.csv"
      FQL_DB="$dir/$model-$k.db" "$BUILD/fql" --no-progress --format csv --shared "$REDIS_URL" \
        -c "model m = openai(\"$model\", rpm: $lim, price_in: 0, price_out: 0); from csv(\"$dir/in-$model-$k.csv\") | derive s = map(\"answer {{text}}\") | agg n = count(s)" \
        > "$dir/out-$model-$k" 2> "$dir/err-$model-$k" & pids+=($!)
    done
    wait "${pids[@]}"
    t1=$(date +%s.%N)
    for k in $(seq 1 "$n"); do
      [[ $(tail -1 "$dir/out-$model-$k") == "$ROWS" ]] || echo "  (process $k of $model lost rows: $(tail -3 "$dir/err-$model-$k"))"
    done
    req=$(stat "$model" requests) r429=$(stat "$model" x 429)
    node -e "const w=$t1-$t0, tp=$req/w, ideal=$lim/60; console.log([\"$mode\".padEnd(6), String($n).padStart(3), String($lim).padStart(10), String($req).padStart(9), w.toFixed(2).padStart(8), tp.toFixed(2).padStart(10), ideal.toFixed(2).padStart(10), (tp/ideal).toFixed(3).padStart(7), String($r429).padStart(5)].join(' '))"
  done
done
