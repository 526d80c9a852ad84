#!/usr/bin/env bash
# A model with fallback: copies each request (route.c keeps one for the next alias): the copy must
# own its images. parse_pdf(describe_images: true) through a fallback chain against fql-sim, the
# primary answering and the primary refusing (the fallback then gets the same images).
# usage: tests/runtime/fallback_images.sh BUILD_DIR
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/../lib/setup.sh"
cat > sim.json <<'J'
{"default": {"latency_ms": 5}, "models": {"refusing-model": {"faults": {"refusal": 1.0}}}}
J
source "$HERE/../lib/sim.sh"
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}log_path=$dir/sanitizer"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:+$UBSAN_OPTIONS:}log_path=$dir/sanitizer"
check() { if [[ "$2" == "$3" ]]; then ok "$1"; else bad "$1" "expected [$2], got [$3]"; fi; }
"$BUILD/mkpdf" pdfs > /dev/null || { echo "mkpdf failed"; echo "0 passed, 1 failed"; exit 1; }

described() {  # PRIMARY_MODEL: the image descriptions of report.pdf through v = PRIMARY, fallback w; then "exit N"
  "$FQL" -c "model w = openai(\"gpt-4o\"); model v = openai(\"$1\", fallback: [\"w\"]);
from pdf_metadata(\"pdfs/report.pdf\") | select parse_pdf(file_path, describe_images: true, model: v) as md" \
    --format jsonl > out.jsonl 2> err.txt
  echo "exit $?"
  grep -oE '\[Image [12] on page [12]: a simulated picture of [0-9]+ bytes \(image/png, hash [0-9a-f]{8}\)\.\]' out.jsonl
}
primary=$(described gpt-4o-mini)
check "fallback chain, primary answers: no crash, three descriptions" "exit 0 3" "$(head -1 <<< "$primary") $(grep -c simulated <<< "$primary")"
check "fallback chain, primary answers: one request, none to the fallback" "1 0" "$(reqs gpt-4o-mini) $(reqs gpt-4o)"
fell=$(described refusing-model)
check "fallback chain, primary refuses: no crash, three descriptions" "exit 0 3" "$(head -1 <<< "$fell") $(grep -c simulated <<< "$fell")"
check "fallback chain, primary refuses: the fallback got the same images" "$(tail -n +2 <<< "$primary")" "$(tail -n +2 <<< "$fell")"
check "fallback chain, primary refuses: one request each" "1 1" "$(reqs refusing-model) $(reqs gpt-4o)"
if compgen -G "$dir/sanitizer.*" > /dev/null; then bad "sanitizer reports" "$(cat "$dir"/sanitizer.* | head -40)"; fi
finish
