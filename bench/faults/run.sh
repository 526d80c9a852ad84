#!/usr/bin/env bash
# Faults benchmark (issue 13, item 6): N rows classified through one model whose limit is RPM
# requests a minute, against fql-sim injecting random faults, for two fault mixes:
#   429s:  5% of requests answered 429 without any rate-limit evidence (fault 429_bare)
#   mixed: 15% 500, 10% 503, 5% connection resets, 5% 429_bare
# and, for comparison, 429-wait: 5% answered the simulator's 429 fault (a retry-after of 1 s, but
# rate-limit headers showing budget left).
# Prints, for each mix, the elapsed time, the ideal (rows / limit), the ratio, the rows lost (null
# answers: must be 0), the requests the simulator saw and the sends the limit alone needs
# (requests / limit: every request, failed or not, counts against the limit). Measured, not asserted.
# usage: bench/faults/run.sh BUILD_DIR     (env: N=100 RPM=1200 RUNS=1)
set -u
BUILD=$(cd "${1:-build}" && pwd)
N=${N:-100} RPM=${RPM:-1200} RUNS=${RUNS:-1}
dir=$(mktemp -d)
simpid=
cleanup() { [[ -n $simpid ]] && kill -TERM "$simpid" 2>/dev/null && wait "$simpid" 2>/dev/null; rm -rf "$dir"; }
trap cleanup EXIT
die() { echo "bench/faults: $*" >&2; exit 1; }

awk -v n="$N" 'BEGIN {
  split("I was charged twice for my billing plan|The checkout page fails when I press pay|Every api call returns an error|I cannot log in to my account", text, "|")
  print "id,content"
  for (i = 1; i <= n; i++) printf "%d,\"Ticket %d: %s.\"\n", i, i, text[(i * 7) % 4 + 1]
}' > "$dir/tickets.csv"

echo "{\"default\": {\"latency_ms\": 20, \"jitter_ms\": 30, \"rpm\": $RPM}}" > "$dir/sim.json"
"$BUILD/fql-sim" --port 0 --config "$dir/sim.json" > "$dir/sim.out" 2> "$dir/sim.err" & simpid=$!
for _ in $(seq 100); do [[ -s $dir/sim.out ]] && break; sleep 0.05; done
port=$(sed -n '1s/[^0-9]//gp' "$dir/sim.out")
[[ -n $port ]] || die "the simulator did not start: $(cat "$dir/sim.err")"
SIMURL="http://127.0.0.1:$port"
export OPENAI_API_KEY=sk-bench OPENAI_BASE_URL="$SIMURL/v1"

sim_requests() {
  curl -s "$SIMURL/sim/stats" | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{const m=JSON.parse(s).models["gpt-4o-mini"]||{};console.log(m.requests||0)})'
}

# run NAME FAULTS_JSON: one fresh run; prints a result line
run() {
  local name=$1 faults=$2 t0 t1 k
  for k in $(seq "$RUNS"); do
    curl -s -X POST "$SIMURL/sim/config" -d "{\"default\": {\"faults\": null}}" > /dev/null
    curl -s -X POST "$SIMURL/sim/config" -d "{\"default\": {\"faults\": $faults}}" > /dev/null
    curl -s -X POST "$SIMURL/sim/reset" -d '{}' > /dev/null
    rm -f "$dir/$name.db"*
    t0=$(date +%s.%N)
    FQL_DB="$dir/$name.db" "$BUILD/fql" --no-progress --format csv -c "model m = openai(\"gpt-4o-mini\", rpm: $RPM);
      from csv(\"$dir/tickets.csv\") | select id, classify(content, [\"billing\", \"checkout\", \"api\", \"account\"], pack: 1) as label" \
      > "$dir/$name.csv" 2> "$dir/$name.err" || echo "($name: fql failed: $(head -c 300 "$dir/$name.err"))"
    t1=$(date +%s.%N)
    local rows lost sent
    rows=$(($(wc -l < "$dir/$name.csv") - 1))
    lost=$(awk -F, 'NR > 1 && $2 == "" { n++ } END { print n + 0 }' "$dir/$name.csv")
    lost=$((lost + N - rows))
    sent=$(sim_requests)
    awk -v name="$name" -v t0="$t0" -v t1="$t1" -v n="$N" -v rpm="$RPM" -v lost="$lost" -v sent="$sent" 'BEGIN {
      el = t1 - t0; ideal = n / (rpm / 60); floor = sent / (rpm / 60)
      printf "%-8s %8.2f s  ideal %5.2f s  ratio %5.2f  rows lost %d  requests %d (limit alone: %.2f s)\n",
             name, el, ideal, el / ideal, lost, sent, floor }'
  done
}

echo "faults: $N classifications at $RPM requests/min (fql-sim enforces the same limit; latency 20-50 ms)"
run 429s '{"429_bare": 0.05}'
run mixed '{"500": 0.15, "503": 0.10, "reset": 0.05, "429_bare": 0.05}'
run 429-wait '{"429": 0.05}'
