#!/usr/bin/env bash
# Runs every test of the provider simulator: shell tests of the process itself, node tests over
# raw HTTP (tests/sim/t/*.mjs) and the SDK fidelity tests (tests/sim/fidelity/*.mjs).
# Prints "ok NAME" or "FAIL NAME: reason" per test, then "N passed, M failed"; exits 1 on failure.
# Usage: BUILD=build bash tests/sim/run_tests.sh   (expects $BUILD/fql-sim and $BUILD/sim-loadgen)
set -u
cd "$(dirname "$0")/../.." || exit 2
BUILD=${BUILD:-build}
SIM=$BUILD/fql-sim
LOADGEN=$BUILD/sim-loadgen
TMP=$(mktemp -d)
PASS=0
FAILN=0
SIM_PID=
SIM_PORT=
# under -fsanitize=address a leak at exit makes fql-sim exit non-zero, which the clean-exit checks catch
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1}

ok() { echo "ok $1"; PASS=$((PASS + 1)); }
fail() { echo "FAIL $1: $2"; FAILN=$((FAILN + 1)); }

# Starts fql-sim with the given arguments; sets SIM_PID and SIM_PORT. Returns 1 on failure.
start_sim() {
    : > "$TMP/sim.out"
    "$SIM" --port 0 "$@" > "$TMP/sim.out" 2> "$TMP/sim.err" &
    SIM_PID=$!
    for _ in $(seq 1 100); do
        if [ -s "$TMP/sim.out" ]; then
            SIM_PORT=$(sed -n '1s/^{"port": \([0-9]*\)}$/\1/p' "$TMP/sim.out")
            [ -n "$SIM_PORT" ] && return 0
        fi
        kill -0 "$SIM_PID" 2>/dev/null || return 1
        sleep 0.05
    done
    return 1
}

# Stops fql-sim with signal $1 (TERM); returns its exit status (124 when it did not stop in 10 s).
stop_sim() {
    local sig=${1:-TERM} pid=$SIM_PID
    [ -n "$pid" ] || return 0
    kill -"$sig" "$pid" 2>/dev/null
    for _ in $(seq 1 200); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.05
    done
    if kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid"; wait "$pid" 2>/dev/null; SIM_PID=; return 124; fi
    wait "$pid"
    local rc=$?
    SIM_PID=
    return $rc
}

cleanup() { [ -n "$SIM_PID" ] && kill -KILL "$SIM_PID" 2>/dev/null; rm -rf "$TMP"; }
trap cleanup EXIT

# Runs a node test file against a fresh simulator; relays its ok/FAIL lines.
run_node() {
    local name=$1 file=$2
    shift 2
    if ! start_sim "$@"; then fail "$name" "fql-sim did not start: $(head -c 300 "$TMP/sim.err")"; return; fi
    SIM_PORT=$SIM_PORT timeout 120 node "$file" > "$TMP/node.out" 2> "$TMP/node.err"
    local rc=$? lines
    lines=$(grep -E '^(ok|FAIL) ' "$TMP/node.out")
    if [ -n "$lines" ]; then
        while IFS= read -r l; do
            case $l in
                ok\ *) ok "$name/${l#ok }" ;;
                FAIL\ *) echo "FAIL $name/${l#FAIL }"; FAILN=$((FAILN + 1)) ;;
            esac
        done <<< "$lines"
    fi
    if [ $rc -ne 0 ] && ! grep -q '^FAIL ' "$TMP/node.out"; then
        fail "$name" "node exited $rc: $(tail -c 400 "$TMP/node.err" | tr '\n' ' ')"
    fi
    stop_sim TERM
    local src=$?
    if [ $src -ne 0 ]; then fail "$name/clean-exit" "fql-sim exited $src: $(tail -c 600 "$TMP/sim.err" | tr '\n' ' ')"; fi
    if grep -qE 'runtime error|AddressSanitizer|LeakSanitizer' "$TMP/sim.err"; then
        fail "$name/sanitizers" "$(grep -m1 -E 'runtime error|AddressSanitizer' "$TMP/sim.err")"
    fi
}

if [ ! -x "$SIM" ] || [ ! -x "$LOADGEN" ]; then
    fail build "$SIM or $LOADGEN missing (make $SIM $LOADGEN)"
    echo "$PASS passed, $FAILN failed"
    exit 1
fi

# ---- the process: first line, loopback only, signals ----
if start_sim; then
    if head -1 "$TMP/sim.out" | grep -qE '^\{"port": [0-9]+\}$'; then ok lifecycle/port-line; else fail lifecycle/port-line "$(head -1 "$TMP/sim.out")"; fi
    hexport=$(printf '%04X' "$SIM_PORT")
    listen4=$(awk -v p=":$hexport\$" '$4 == "0A" && $2 ~ p {print $2}' /proc/net/tcp)
    listen6=$(awk -v p=":$hexport\$" '$4 == "0A" && $2 ~ p {print $2}' /proc/net/tcp6 2>/dev/null)
    if [ "$listen4" = "0100007F:$hexport" ] && [ -z "$listen6" ]; then
        ok lifecycle/binds-127.0.0.1-only
    else
        fail lifecycle/binds-127.0.0.1-only "listening socket not on 127.0.0.1 alone"
    fi
    stop_sim TERM && ok lifecycle/sigterm-exits-0 || fail lifecycle/sigterm-exits-0 "exit $?"
else
    fail lifecycle/start "$(head -c 300 "$TMP/sim.err")"
fi
if start_sim; then
    stop_sim INT && ok lifecycle/sigint-exits-0 || fail lifecycle/sigint-exits-0 "exit $?"
fi
echo '{"default": {"rpm": 60, "nonsense": 1}}' > "$TMP/bad.json"
"$SIM" --port 0 --config "$TMP/bad.json" > /dev/null 2> "$TMP/bad.err"
rc=$?
if [ $rc -eq 2 ] && grep -q nonsense "$TMP/bad.err"; then ok lifecycle/bad-config-refused; else fail lifecycle/bad-config-refused "exit $rc"; fi

# ---- facts mode from the command line: --facts FILE, and a bad facts file refused ----
echo '{"error_rate": {"default": 0}, "texts": {"The plot was dull and slow.": {"sentiment": "negative", "score": 2}}}' > "$TMP/facts.json"
if start_sim --facts "$TMP/facts.json"; then
    ans=$(curl -s "http://127.0.0.1:$SIM_PORT/v1/chat/completions" -H 'Authorization: Bearer sk-t' -d '{"model":"gpt-4o-mini",
        "messages":[{"role":"user","content":"Is The plot was dull and slow. positive?"}],"response_format":{"type":"json_schema",
        "json_schema":{"name":"p","schema":{"type":"object","properties":{"answer":{"type":"boolean"},"score":{"type":"integer"}},
        "required":["answer","score"],"additionalProperties":false}}}}')
    if echo "$ans" | grep -qF '"content":"{\"answer\":false,\"score\":2}"'; then ok facts/flag-loads-file; else fail facts/flag-loads-file "$ans"; fi
    stop_sim TERM || fail facts/clean-exit "exit $?"
else
    fail facts/start "$(head -c 300 "$TMP/sim.err")"
fi
echo '{"texts": {"a text": "not an object"}}' > "$TMP/badfacts.json"
"$SIM" --port 0 --facts "$TMP/badfacts.json" > /dev/null 2> "$TMP/badfacts.err"
rc=$?
if [ $rc -eq 2 ] && grep -q 'badfacts.json.texts\["a text"\]: expected an object' "$TMP/badfacts.err"; then ok facts/bad-file-refused; else fail facts/bad-file-refused "exit $rc: $(cat "$TMP/badfacts.err")"; fi

# ---- config file and request log (key fingerprint, never the key) ----
if start_sim --config tests/sim/examples/limits.json --log "$TMP/req.log"; then
    cfg=$(curl -s "http://127.0.0.1:$SIM_PORT/sim/config")
    if echo "$cfg" | grep -q '"rpm": *600'; then ok config/file-loaded; else fail config/file-loaded "$cfg"; fi
    curl -s -o /dev/null "http://127.0.0.1:$SIM_PORT/v1/chat/completions" -H 'Authorization: Bearer sk-secret-4242' \
        -d '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"log me"}]}'
    curl -s -o /dev/null "http://127.0.0.1:$SIM_PORT/v1/messages" -H 'x-api-key: sk-bad' \
        -d '{"model":"claude-haiku-4-5","max_tokens":5,"messages":[{"role":"user","content":"x"}]}'
    sleep 0.2
    fp=$(printf '%s' sk-secret-4242 | sha256sum | cut -c1-8)
    if [ "$(wc -l < "$TMP/req.log")" -ge 2 ] && ! grep -q secret-4242 "$TMP/req.log" &&
       grep -q "\"key\":\"$fp\"" "$TMP/req.log" &&
       node -e 'const l=require("fs").readFileSync(process.argv[1],"utf8").trim().split("\n").map(JSON.parse);
                const a=l[0]; if(!(a.provider==="openai"&&a.model==="gpt-4o-mini"&&a.status===200&&a.tokens.input>0&&
                typeof a.latency_ms==="number"&&a.time&&a.endpoint)) process.exit(1);
                if(l[1].status!==401||l[1].provider!=="anthropic") process.exit(1)' "$TMP/req.log"; then
        ok log/json-lines-with-fingerprint
    else
        fail log/json-lines-with-fingerprint "$(head -c 400 "$TMP/req.log")"
    fi
    stop_sim TERM || fail log/clean-exit "exit $?"
else
    fail config/start "$(head -c 300 "$TMP/sim.err")"
fi

# ---- 1,000 concurrent connections, each with a request in flight at once ----
if start_sim --latency-ms 400; then
    out=$("$LOADGEN" -p "$SIM_PORT" -c 1000 --once -d 20)
    if echo "$out" | grep -q '"ok":1000,"errors":0'; then ok concurrency/1000-connections; else fail concurrency/1000-connections "$out"; fi
    h=$(curl -s "http://127.0.0.1:$SIM_PORT/sim/health")
    [ "$h" = '{"ok":true}' ] && ok concurrency/alive-after || fail concurrency/alive-after "$h"
    stop_sim TERM && ok concurrency/clean-exit || fail concurrency/clean-exit "exit $?"
else
    fail concurrency/start "$(head -c 300 "$TMP/sim.err")"
fi

# ---- node tests over raw HTTP ----
for f in tests/sim/t/*.mjs; do
    n=$(basename "$f" .mjs)
    [ "$n" = lib ] && continue
    run_node "$n" "$f"
done

# ---- SDK fidelity (official npm SDKs, pinned by package-lock.json) ----
FID=tests/sim/fidelity
if [ ! -d "$FID/node_modules/openai" ] || [ "$FID/package-lock.json" -nt "$FID/node_modules/.package-lock.json" ]; then
    (cd "$FID" && npm ci --no-audit --no-fund --loglevel=error > "$TMP/npm.log" 2>&1)
fi
if [ -d "$FID/node_modules/openai" ]; then
    for f in "$FID"/*.mjs; do
        run_node "fidelity-$(basename "$f" .mjs)" "$f"
    done
else
    fail fidelity/npm-ci "$(tail -c 400 "$TMP/npm.log" 2>/dev/null | tr '\n' ' ')"
fi

echo "$PASS passed, $FAILN failed"
[ $FAILN -eq 0 ]
