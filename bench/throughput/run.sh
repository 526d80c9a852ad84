#!/usr/bin/env bash
# Throughput benchmark: N extraction-shaped chat requests (strict json_schema) against fql-sim at
# RPM requests per minute with 200-800 ms latency, sent by the FQL scheduler (fql_bench.c over
# BUILD/libfql.a) and by the official openai npm SDK with p-limit and its default retries
# (sdk.mjs). Prints, for each: time, efficiency (ideal time N/rate over actual time), 429s, rows
# lost, client CPU seconds and peak memory (GNU time).
# usage: bench/throughput/run.sh BUILD_DIR     (env: N=5000 RPM=3000 SDK_CONCURRENCY=25)
set -u
BUILD=$(cd "${1:-build}" && pwd)
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
N=${N:-5000} RPM=${RPM:-3000} CONC=${SDK_CONCURRENCY:-25}
dir=$(mktemp -d)
simpid=
cleanup() { [[ -n $simpid ]] && kill -TERM "$simpid" 2>/dev/null && wait "$simpid" 2>/dev/null; rm -rf "$dir"; }
trap cleanup EXIT
die() { echo "bench/throughput: $*" >&2; exit 1; }
[[ -x /usr/bin/time ]] || die "needs GNU time (/usr/bin/time): make deps"

cc -O2 -std=c11 -D_GNU_SOURCE -I"$ROOT/include" -I"$ROOT/src" "$HERE/fql_bench.c" "$BUILD/libfql.a" \
   $(pkg-config --cflags --libs libcurl jansson sqlite3 libpcre2-8 hiredis) -lssl -lcrypto -lm -lpthread -lreadline \
   -o "$dir/fql_bench" || die "could not build fql_bench"
if [[ ! -d $HERE/node_modules/openai || ! -d $HERE/node_modules/p-limit ]]; then
  (cd "$HERE" && npm ci --no-audit --no-fund >/dev/null 2>&1) || die "npm ci failed in bench/throughput"
fi

cat > "$dir/sim.json" <<J
{"default": {"latency_ms": 200, "jitter_ms": 600}, "models": {"gpt-4o-mini": {"rpm": $RPM}}}
J
"$BUILD/fql-sim" --port 0 --config "$dir/sim.json" > "$dir/sim.out" 2> "$dir/sim.err" & simpid=$!
for _ in $(seq 100); do [[ -s $dir/sim.out ]] && break; sleep 0.05; done
port=$(sed -n '1s/[^0-9]//gp' "$dir/sim.out")
[[ -n $port ]] || die "the simulator did not start: $(cat "$dir/sim.err")"
URL="http://127.0.0.1:$port"

echo "throughput: $N extractions against fql-sim at $RPM RPM, latency 200-800 ms (ideal $(awk "BEGIN{printf \"%.1f\", $N*60/$RPM}") s)"
echo "  running the FQL scheduler ..."
/usr/bin/time -f '%U %S %M' -o "$dir/fql.time" "$dir/fql_bench" "$URL/v1" "$N" "$RPM" > "$dir/fql.json" 2> "$dir/fql.err" \
  || { cat "$dir/fql.err" >&2; die "fql_bench failed"; }
curl -s "$URL/sim/stats" > "$dir/fql.stats"
curl -s -X POST "$URL/sim/reset" -d '{}' > /dev/null
echo "  running the openai SDK (p-limit $CONC) ..."
OPENAI_API_KEY=sk-bench OPENAI_BASE_URL="$URL/v1" /usr/bin/time -f '%U %S %M' -o "$dir/sdk.time" \
  node "$HERE/sdk.mjs" "$N" "$CONC" > "$dir/sdk.json" 2> "$dir/sdk.err" || { cat "$dir/sdk.err" >&2; die "sdk.mjs failed"; }
curl -s "$URL/sim/stats" > "$dir/sdk.stats"

node - "$dir" "$N" "$RPM" "$CONC" <<'JS'
const fs = require('fs');
const [dir, n, rpm, conc] = process.argv.slice(2);
const ideal = Number(n) * 60 / Number(rpm);
function row(name, tag) {
  const r = JSON.parse(fs.readFileSync(`${dir}/${tag}.json`, 'utf8').trim().split('\n').pop());
  const st = JSON.parse(fs.readFileSync(`${dir}/${tag}.stats`, 'utf8')).models['gpt-4o-mini'] || {};
  const [u, s, kb] = fs.readFileSync(`${dir}/${tag}.time`, 'utf8').trim().split('\n').pop().split(' ').map(Number);
  const sent = st.requests || 0, r429 = (st.status || {})['429'] || 0;
  return { name, secs: r.seconds, eff: ideal / r.seconds, r429, pct: sent ? 100 * r429 / sent : 0,
           lost: Number(n) - r.ok, cpu: u + s, mb: kb / 1024, sent };
}
const a = row('fql scheduler', 'fql'), b = row(`openai SDK + p-limit(${conc})`, 'sdk');
const pad = (s, w) => String(s).padEnd(w), num = (x, d, w) => x.toFixed(d).padStart(w);
console.log(pad('', 28) + 'time s  efficiency   sent   429s  429 %  rows lost  CPU s  peak MB');
for (const x of [a, b])
  console.log(pad(x.name, 26) + num(x.secs, 1, 8) + num(x.eff, 3, 12) + String(x.sent).padStart(7) +
              String(x.r429).padStart(7) + num(x.pct, 2, 7) + String(x.lost).padStart(11) + num(x.cpu, 2, 7) + num(x.mb, 1, 9));
console.log(`fql/SDK CPU: ${(a.cpu / b.cpu).toFixed(3)}; targets: efficiency >= 0.97 (${a.eff >= 0.97 ? 'met' : 'MISSED'}), ` +
            `rows lost 0 (${a.lost === 0 ? 'met' : 'MISSED'}), 429s < 1% (${a.pct < 1 ? 'met' : 'MISSED'}), ` +
            `CPU < 1/5 of the SDK's (${a.cpu < b.cpu / 5 ? 'met' : 'MISSED'})`);
JS
