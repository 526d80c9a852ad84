#!/usr/bin/env bash
# Cost benchmark (issue 6): the same N-row classification run plain (one request per row through
# the scheduler), packed (pack: "auto": many rows per request) and through the OpenAI Batch API
# (batch: true), against fql-sim. Prints, for each: requests, tokens, dollars (from
# system.query_metrics, at the catalog's prices; batch at its discount) and wall time, and checks
# that the answers are identical.
# usage: bench/cost/run.sh BUILD_DIR     (env: N=2000 BATCH_DELAY_MS=2000)
set -u
BUILD=$(cd "${1:-build}" && pwd)
N=${N:-2000} DELAY=${BATCH_DELAY_MS:-2000}
dir=$(mktemp -d)
simpid=
cleanup() { [[ -n $simpid ]] && kill -TERM "$simpid" 2>/dev/null && wait "$simpid" 2>/dev/null; rm -rf "$dir"; }
trap cleanup EXIT
die() { echo "bench/cost: $*" >&2; exit 1; }

# N support tickets, each one distinct, about one of four topics
awk -v n="$N" 'BEGIN {
  split("billing|checkout|api|account", topic, "|")
  split("I was charged twice for my billing plan this month|The checkout page fails when I press pay|Every api call returns an error since this morning|I cannot log in to my account after the reset", text, "|")
  split("please help|thanks in advance|this is urgent|any idea why|we are a small team|it worked last week", tail, "|")
  print "id,content"
  for (i = 1; i <= n; i++) printf "%d,\"Ticket %d: %s, %s.\"\n", i, i, text[(i * 7) % 4 + 1], tail[(i * 13) % 6 + 1]
}' > "$dir/tickets.csv"

cat > "$dir/sim.json" <<J
{"default": {"latency_ms": 20, "jitter_ms": 30}, "batch_delay_ms": $DELAY}
J
"$BUILD/fql-sim" --port 0 --config "$dir/sim.json" > "$dir/sim.out" 2> "$dir/sim.err" & simpid=$!
for _ in $(seq 100); do [[ -s $dir/sim.out ]] && break; sleep 0.05; done
port=$(sed -n '1s/[^0-9]//gp' "$dir/sim.out")
[[ -n $port ]] || die "the simulator did not start: $(cat "$dir/sim.err")"
export OPENAI_API_KEY=sk-bench OPENAI_BASE_URL="http://127.0.0.1:$port/v1"

# run NAME MODEL_OPTIONS CALL_OPTIONS: classify every ticket with a fresh state database; answers
# in NAME.csv, metrics in NAME.metrics (requests, input tokens, output tokens, dollars, seconds)
run() {
  local name=$1 opts=$2 call=$3 t0 t1
  t0=$(date +%s.%N)
  FQL_DB="$dir/$name.db" "$BUILD/fql" --no-progress --format csv -c "model m = openai(\"gpt-4o-mini\"$opts);
    from csv(\"$dir/tickets.csv\") | select id, classify(content, [\"billing\", \"checkout\", \"api\", \"account\"]$call) as label" \
    > "$dir/$name.csv" 2> "$dir/$name.err" || die "$name run failed: $(cat "$dir/$name.err")"
  t1=$(date +%s.%N)
  FQL_DB="$dir/$name.db" "$BUILD/fql" --format csv -c 'from system.query_metrics
    | agg r = sum(requests), i = sum(input_tokens), o = sum(output_tokens), usd = sum(cost_usd)' 2>/dev/null \
    | tail -1 | awk -F, -v s="$(echo "$t1 - $t0" | bc)" '{ print $1, $2, $3, $4, s }' > "$dir/$name.metrics"
}

echo "cost: $N classifications (gpt-4o-mini prices) against fql-sim; batch delay ${DELAY} ms"
run plain "" ", pack: 1"   # one row a request (packing is the default on gpt-4o-mini)
run packed "" ", pack: \"auto\""
run batch ", batch: true" ""
cmp -s "$dir/plain.csv" "$dir/batch.csv" && cmp -s "$dir/plain.csv" "$dir/packed.csv" && same=yes || same=NO
printf '%-10s %10s %12s %12s %12s %9s\n' run requests "tokens in" "tokens out" dollars seconds
for r in plain packed batch; do
  read -r req tin tout usd secs < "$dir/$r.metrics"
  printf '%-10s %10d %12d %12d %12.6f %9.1f\n' "$r" "$req" "$tin" "$tout" "$usd" "$secs"
done
read -r preq _ _ pusd _ < "$dir/plain.metrics"; read -r kreq _ _ _ _ < "$dir/packed.metrics"; read -r _ _ _ busd _ < "$dir/batch.metrics"
echo "answers identical: $same; packed requests: plain / $(awk -v a="$preq" -v b="$kreq" 'BEGIN { printf "%.1f", a / b }');" \
     "batch cost / plain cost = $(awk -v a="$busd" -v b="$pusd" 'BEGIN { printf "%.3f", a / b }')"
echo "batches submitted: $(curl -s "http://127.0.0.1:$port/sim/stats" | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).batches.created))')"
