#!/usr/bin/env bash
# The embedding API as an embedder uses it: `make install PREFIX=tmp`, then tests/capi/capi_test.c
# built against the installed library with pkg-config and run under valgrind (or the build's
# sanitizer), the exported-symbol check, the installed fql binary, and examples/embed.c.
# usage: tests/runtime/capi.sh BUILD_DIR
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=$(cd "${1:-build}" && pwd)
dir=$(mktemp -d)
srvpid= simpid=
cleanup() {
  [[ -n $srvpid ]] && kill -TERM "$srvpid" 2>/dev/null && wait "$srvpid" 2>/dev/null
  [[ -n $simpid ]] && kill -TERM "$simpid" 2>/dev/null && wait "$simpid" 2>/dev/null
  rm -rf "$dir"
}
trap cleanup EXIT
pass=0 fail=0
ok()  { pass=$((pass + 1)); echo "ok $1"; }
bad() { fail=$((fail + 1)); echo "FAIL $1: $2"; }
finish() { echo "$pass passed, $fail failed"; exit $(( fail > 0 )); }

# the install uses the build's own flags, so that nothing is rebuilt (a sanitizer build stays one)
flags=$(cat "$BUILD/.flags" 2>/dev/null)
stamp_before=$flags
san=$(grep -o -- '-fsanitize=[^ ]*' <<<"$flags" | head -1 | cut -d= -f2)
werror=; [[ $flags == *-Werror* ]] && werror=1
PREFIX="$dir/prefix"
# BUILD as the Makefile was given it (relative to the root): any change of the flags rebuilds all
rel=$(realpath --relative-to="$ROOT" "$BUILD")
if make -s -C "$ROOT" BUILD="$rel" SANITIZE="$san" WERROR="$werror" install PREFIX="$PREFIX" > "$dir/install.log" 2>&1; then
  ok "make install PREFIX=..."
else
  bad install "$(tail -20 "$dir/install.log")"; finish
fi
[[ $(cat "$BUILD/.flags") == "$stamp_before" ]] && ok "the install rebuilt nothing (same flags)" || bad "install flags" "the build's flags changed: $(cat "$BUILD/.flags")"
missing=
for f in bin/fql lib/libfql.a lib/libfql.so include/fql.h lib/pkgconfig/fql.pc share/fql/stdlib/models.json; do
  [[ -e $PREFIX/$f ]] || missing+=" $f"
done
[[ -z $missing ]] && ok "installed files" || bad "installed files" "missing:$missing"

# only fql_ symbols are exported
others=$(nm -D --defined-only "$PREFIX/lib/libfql.so" | awk '{print $3}' | grep -v '^fql_' | grep -v '^_init$\|^_fini$')
nexp=$(nm -D --defined-only "$PREFIX/lib/libfql.so" | awk '{print $3}' | grep -c '^fql_')
[[ -z $others && $nexp -ge 30 ]] && ok "exported symbols: $nexp, all fql_" || bad "exported symbols" "$nexp fql_ symbols; others: $(head -c 400 <<<"$others")"

export PKG_CONFIG_PATH="$PREFIX/lib/pkgconfig"
cflags=$(pkg-config --cflags fql | sed "s/ *$//") libs=$(pkg-config --libs fql | sed "s/ *$//")
[[ $cflags == "-I$PREFIX/include" && $libs == "-L$PREFIX/lib -lfql" ]] && ok "pkg-config fql" || bad pkg-config "cflags '$cflags' libs '$libs'"
extra=; [[ -n $san ]] && extra="-fsanitize=$san"
if cc -std=c11 -g -Wall -Wextra -Werror $extra -o "$dir/capi_test" "$ROOT/tests/capi/capi_test.c" $cflags $libs -lpthread 2> "$dir/cc.log"; then
  ok "capi_test builds against the installed library"
else
  bad "capi_test build" "$(head -20 "$dir/cc.log")"; finish
fi
# a static link works too (pkg-config --static)
if cc -std=c11 $extra -o "$dir/capi_static" "$ROOT/tests/capi/capi_test.c" $cflags -L"$PREFIX/lib" -Wl,-Bstatic -lfql -Wl,-Bdynamic \
     $(pkg-config --static --libs-only-other --libs-only-l fql | sed 's/-lfql//') -lpthread 2> "$dir/cc2.log"; then
  ok "static link with pkg-config --static"
else
  bad "static link" "$(head -10 "$dir/cc2.log")"
fi

# the local HTTP server and the provider simulator
node "$ROOT/tests/capi/server.js" 0 > "$dir/srv.out" 2> "$dir/srv.err" & srvpid=$!
echo '{"default": {"latency_ms": 5}}' > "$dir/sim.json"
"$BUILD/fql-sim" --port 0 --config "$dir/sim.json" > "$dir/sim.out" 2> "$dir/sim.err" & simpid=$!
for _ in $(seq 100); do [[ -s $dir/srv.out && -s $dir/sim.out ]] && break; sleep 0.05; done
hport=$(head -1 "$dir/srv.out" | tr -dc 0-9) sport=$(sed -n '1s/[^0-9]//gp' "$dir/sim.out")
[[ -n $hport && -n $sport ]] || { bad servers "http: $(cat "$dir/srv.err") sim: $(cat "$dir/sim.err")"; finish; }
export FQL_TEST_HTTP="http://127.0.0.1:$hport" FQL_TEST_DIR="$dir" FQL_TEST_PREFIX="$PREFIX" FQL_TEST_SIM=1
export OPENAI_API_KEY="sk-test-capi" OPENAI_BASE_URL="http://127.0.0.1:$sport/v1"
export LD_LIBRARY_PATH="$PREFIX/lib"
unset FQL_STDLIB FQL_DB

# the test program: under valgrind (no leaks, no errors), or under the build's sanitizer
cd "$dir"
if [[ -z $san ]] && command -v valgrind >/dev/null; then
  valgrind -q --leak-check=full --show-leak-kinds=definite,indirect,possible --errors-for-leak-kinds=definite,indirect,possible \
    --error-exitcode=99 "$dir/capi_test" > "$dir/capi.out" 2> "$dir/capi.err"; rc=$?
  how="under valgrind"
else
  "$dir/capi_test" > "$dir/capi.out" 2> "$dir/capi.err"; rc=$?
  how="under ${san:-no checker}"
fi
grep -E '^(ok|FAIL) ' "$dir/capi.out"
last=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$dir/capi.out" | tail -1)
if [[ -n $last ]]; then
  p=${last%% passed*}; f=${last#*, }; f=${f%% failed}
  pass=$((pass + p)); fail=$((fail + f))
fi
if [[ $rc == 0 && -n $last ]]; then ok "capi_test exits 0 $how"
else bad "capi_test $how" "exit $rc; $(grep -v '^ok ' "$dir/capi.out" | tail -5) $(tail -40 "$dir/capi.err")"; fi

# the installed fql binary runs from anywhere and finds its stdlib
out=$("$PREFIX/bin/fql" --db :memory: -c 'import std.no_such_module;' 2>&1)
[[ $out == *"$PREFIX/share/fql/stdlib"* ]] && ok "installed fql finds PREFIX/share/fql/stdlib" || bad "installed fql stdlib" "$out"

# the embedding example builds against the installed library and runs
if cc -std=c11 -Wall -Wextra -Werror $extra -o "$dir/embed" "$ROOT/examples/embed.c" $cflags $libs 2> "$dir/cc3.log"; then
  out=$(cd "$ROOT" && "$dir/embed" 2>&1); rc=$?
  [[ $rc == 0 && $out == *"metrics:"* ]] && ok "examples/embed.c runs" || bad "examples/embed.c" "rc $rc: $out"
else
  bad "examples/embed.c build" "$(head -10 "$dir/cc3.log")"
fi
finish
