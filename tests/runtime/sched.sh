#!/usr/bin/env bash
# The scheduler against fql-sim: builds tests/runtime/sched_test.c against BUILD/libfql.a, starts
# the simulator on a free port and runs the tests (rate limits of each kind, faults, fatal errors,
# AIMD, cancel). usage: tests/runtime/sched.sh BUILD_DIR [TEST...]
set -u
BUILD=$(cd "${1:-build}" && pwd)
shift || true
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
dir=$(mktemp -d)
simpid=
cleanup() { [[ -n $simpid ]] && kill -TERM "$simpid" 2>/dev/null && wait "$simpid" 2>/dev/null; rm -rf "$dir"; }
trap cleanup EXIT
fail() { echo "FAIL $1"; echo "0 passed, 1 failed"; exit 1; }

SAN=$(grep -o -- '-fsanitize=[^ ]*' "$BUILD/.flags" 2>/dev/null | head -1)
cc -g -std=c11 -D_GNU_SOURCE -I"$ROOT/include" -I"$ROOT/src" $SAN "$ROOT/tests/runtime/sched_test.c" "$BUILD/libfql.a" \
   $(pkg-config --cflags --libs libcurl jansson sqlite3 libpcre2-8 hiredis) -lssl -lcrypto -lm -lpthread -lreadline \
   -o "$dir/sched_test" 2> "$dir/cc.err" || fail "build: $(head -c 2000 "$dir/cc.err")"

echo '{}' > "$dir/sim.json"
"$BUILD/fql-sim" --port 0 --config "$dir/sim.json" > "$dir/sim.out" 2> "$dir/sim.err" & simpid=$!
for _ in $(seq 100); do [[ -s $dir/sim.out ]] && break; sleep 0.05; done
port=$(sed -n '1s/[^0-9]//gp' "$dir/sim.out")
[[ -n $port ]] || fail "the simulator did not start: $(cat "$dir/sim.err")"
"$dir/sched_test" "http://127.0.0.1:$port" "$@"
