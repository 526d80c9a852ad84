#!/usr/bin/env bash
# The whole-pipeline fuzzer for CI: builds it (`make fuzz-pipeline`: the library with clang, coverage
# and ASan+UBSan, in BUILD-fuzz) and runs it for FUZZ_SECONDS (default 60) from the seeds in
# tests/fuzz/corpus_pipeline, in a scratch directory holding tests/golden/data (the seeds read it).
# Exits non-zero on a crash, a sanitizer report, a timeout or running out of memory, and prints the
# report and the input that caused it (kept in BUILD-fuzz/crashes/).
# usage: tests/fuzz/ci.sh [BUILD_DIR]
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${1:-build}
FUZZ_SECONDS=${FUZZ_SECONDS:-60}
cd "$ROOT" || exit 1
FB="$ROOT/$BUILD-fuzz"
mkdir -p "$FB"
if ! nice make --no-print-directory BUILD="$BUILD" fuzz-pipeline > "$FB/build.log" 2>&1; then
  tail -n 30 "$FB/build.log"
  echo "fuzz-pipeline: the build failed (log: $FB/build.log)"
  exit 2
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp -r tests/golden/data "$work/data"
mkdir -p "$work/corpus" "$work/artifacts" "$FB/crashes"
cd "$work" || exit 1
"$FB/fuzz_pipeline" -max_total_time="$FUZZ_SECONDS" -timeout=10 -rss_limit_mb=2048 -max_len=4096 \
  -dict="$ROOT/tests/fuzz/fql.dict" -artifact_prefix="$work/artifacts/" -print_final_stats=1 \
  corpus "$ROOT/tests/fuzz/corpus_pipeline" > fuzz.log 2>&1
rc=$?
runs=$(sed -n 's/^stat::number_of_executed_units: *//p' fuzz.log)
if [[ $rc == 0 ]]; then
  echo "fuzz-pipeline: ${runs:-?} runs in ${FUZZ_SECONDS}s, no crash"
  exit 0
fi
grep -v '^#[0-9]*\s*\(NEW\|REDUCE\|pulse\|INITED\|RELOAD\)' fuzz.log | tail -n 60
for a in "$work"/artifacts/*; do
  [[ -f $a ]] || continue
  cp "$a" "$FB/crashes/"
  echo "---- reproducer $FB/crashes/$(basename "$a") ($(wc -c < "$a") bytes):"
  cat -v "$a"; echo
  echo "---- to reproduce: cd a directory holding a copy of tests/golden/data, then run"
  echo "     $FB/fuzz_pipeline $FB/crashes/$(basename "$a")"
done
echo "fuzz-pipeline: failed after ${runs:-?} runs (exit $rc)"
exit 1
