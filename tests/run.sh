#!/usr/bin/env bash
# Runs every test suite and sums their closing lines ("N passed, M failed") into one.
# usage: tests/run.sh BUILD_DIR
set -u
BUILD=${1:-build}
cd "$(dirname "$0")/.."
# sanitizer builds: LeakSanitizer must not track dynamic TLS (docs/testing.md; the fql program sets
# this itself, the unit and C API test programs get it here)
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}intercept_tls_get_addr=0"
total_pass=0 total_fail=0
failed_suites=()

run_suite() {   # name, command...
  local name=$1; shift
  local out rc last p f
  out=$("$@" 2>&1); rc=$?
  last=$(printf '%s\n' "$out" | grep -E '^[0-9]+ passed, [0-9]+ failed$' | tail -n 1)
  if [[ -z $last ]]; then
    printf '%s\n' "$out" | tail -n 30
    echo "suite $name: no closing line (exit $rc)"
    total_fail=$((total_fail + 1)); failed_suites+=("$name"); return
  fi
  p=${last%% passed*}; f=${last#*, }; f=${f%% failed}
  total_pass=$((total_pass + p)); total_fail=$((total_fail + f))
  if (( f > 0 || rc != 0 )); then
    printf '%s\n' "$out" | grep -vE '^ok ' | tail -n 60
    failed_suites+=("$name")
    (( f == 0 )) && total_fail=$((total_fail + 1))
  fi
  echo "suite $name: $last"
}

run_suite golden "$BUILD/fql" --test tests/golden/*.test
run_suite layers bash tests/layers.sh "$BUILD"
for t in "$BUILD"/unit/*; do
  [[ -x $t ]] && run_suite "unit/$(basename "$t")" "$t"
done
run_suite differential bash tests/diff/run.sh "$BUILD"
run_suite cli bash tests/cli/run.sh "$BUILD"
for t in tests/runtime/*.sh; do
  [[ -f $t ]] && run_suite "runtime/$(basename "$t" .sh)" bash "$t" "$BUILD"
done
if [[ -f tests/sim/run_tests.sh ]]; then
  run_suite sim env BUILD="$BUILD" bash tests/sim/run_tests.sh
fi
(( ${#failed_suites[@]} )) && echo "failing suites: ${failed_suites[*]}"
echo "$total_pass passed, $total_fail failed"
(( total_fail == 0 ))
