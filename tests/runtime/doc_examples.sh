#!/usr/bin/env bash
# The examples of docs/reference.md are tests: each ```fql block (statements ending in ';', then a
# query) and the ```text block after it become a golden record, run by `fql --test`.
# usage: tests/runtime/doc_examples.sh BUILD_DIR
set -u
BUILD=$(cd "${1:-build}" && pwd)
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
ln -s "$ROOT/examples" "$dir/examples"   # the examples read examples/data/...
awk '
  /^```fql$/  { infql = 1; nst = 0; nq = 0; next }
  /^```text$/ { intext = 1; out = ""; next }
  /^```$/ {
    if (infql) { infql = 0; next }
    if (intext) {
      intext = 0
      if (nst) { printf "statement ok\n"; for (i = 1; i <= nst; i++) print st[i]; print "" }
      printf "query\n"; for (i = 1; i <= nq; i++) print q[i]; print "----"; printf "%s", out; print ""
      next
    }
  }
  infql  { if ($0 ~ /;[ \t]*$/) st[++nst] = $0; else q[++nq] = $0; next }
  intext { out = out $0 "\n"; next }
' "$ROOT/docs/reference.md" > "$dir/reference.test"
n=$(grep -c '^query$' "$dir/reference.test")
(cd "$dir" && FQL_DB=:memory: "$BUILD/fql" --test reference.test) > "$dir/out.txt" 2>&1
tail -1 "$dir/out.txt" | grep -q " 0 failed" || { grep -v '^ok' "$dir/out.txt" | head -40; }
res=$(tail -1 "$dir/out.txt" | grep -o '[0-9]* passed, [0-9]* failed')
[[ $n -ge 90 ]] || { echo "FAIL only $n examples extracted from docs/reference.md"; echo "${res:-0 passed, 1 failed}"; exit 1; }
echo "$res"
[[ $res == *" 0 failed" ]]
