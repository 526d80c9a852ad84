#!/usr/bin/env bash
# provider_live.sh BUILD_DIR: the provider adapters against fql-sim, one real request per provider
# and operation (tests/runtime/provider_live.c), including Vertex with a freshly generated
# service-account key. Prints ok/FAIL lines and `N passed, M failed`; exits nonzero on failure.
set -u
BUILD=${1:-build}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
for f in "$BUILD/libfql.a" "$BUILD/fql-sim"; do
    [ -e "$f" ] || { echo "FAIL provider_live: $f is missing (make $f)"; echo "0 passed, 1 failed"; exit 1; }
done
TMP=$(mktemp -d)
pid=
cleanup() {
    if [ -n "$pid" ]; then kill -TERM "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; fi
    rm -rf "$TMP"
}
trap cleanup EXIT INT TERM

# The driver, with the library's own sanitizer flags when it was built with them.
SAN=$(grep -o -- '-fsanitize=[^ ]*' "$BUILD/.flags" 2>/dev/null | head -1)
CC=${CC:-cc}
if ! $CC -O1 -g -std=c11 -D_GNU_SOURCE -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
        -Wno-unused-parameter $SAN -Iinclude -Isrc $(pkg-config --cflags libcurl jansson) \
        tests/runtime/provider_live.c "$BUILD/libfql.a" \
        $(pkg-config --libs libcurl jansson sqlite3 libpcre2-8 hiredis) -lssl -lcrypto -lm -lpthread -lreadline \
        -o "$TMP/provider_live" 2> "$TMP/cc.err"; then
    cat "$TMP/cc.err"
    echo "FAIL provider_live: the driver does not compile"; echo "0 passed, 1 failed"; exit 1
fi

# A service-account key pair: the sim verifies JWTs with the public half.
openssl genrsa -out "$TMP/sa.pem" 2048 2>/dev/null
openssl rsa -in "$TMP/sa.pem" -pubout -out "$TMP/sa.pub" 2>/dev/null

"$BUILD/fql-sim" --port 0 --jwt-pubkey "$TMP/sa.pub" > "$TMP/sim.out" 2> "$TMP/sim.err" &
pid=$!
for _ in $(seq 1 200); do [ -s "$TMP/sim.out" ] && break; sleep 0.05; done
port=$(sed -n '1s/[^0-9]//gp' "$TMP/sim.out")
if [ -z "$port" ]; then
    cat "$TMP/sim.err"; echo "FAIL provider_live: fql-sim did not start"; echo "0 passed, 1 failed"; exit 1
fi

# The credentials file, as Google issues it, with token_uri pointing at the sim.
key_json=$(awk '{printf "%s\\n", $0}' "$TMP/sa.pem")
cat > "$TMP/sa.json" <<EOF
{"type": "service_account", "project_id": "fql-test", "private_key_id": "k1",
 "private_key": "$key_json", "client_email": "fql@fql-test.iam.gserviceaccount.com",
 "client_id": "1", "token_uri": "http://127.0.0.1:$port/token"}
EOF

GOOGLE_APPLICATION_CREDENTIALS="$TMP/sa.json" "$TMP/provider_live" "$port" 2> "$TMP/driver.err" | tee "$TMP/out"
rc=${PIPESTATUS[0]}
if [ -s "$TMP/driver.err" ]; then
    cat "$TMP/driver.err" >&2
    # a sanitizer report fails the run even when every check passed
    grep -q 'Sanitizer' "$TMP/driver.err" && rc=1
fi
# the keys never appear in anything the driver printed
if grep -q -e 'sk-live-test-key' -e 'sk-bad-SECRET-777' "$TMP/out" "$TMP/driver.err"; then
    echo "FAIL key_never_printed"; rc=1
fi
exit $rc
