#!/usr/bin/env bash
# The sort and the printed output (issue 22): order by past memory_limit (sorted runs in temporary
# files, merged, more than one level of merging) gives the rows the in-memory sort gives, ties in
# input order; the files go away; a sort that cannot spill says what to do. Results printed to
# standard output stream in every format, in memory independent of the row count. poppler loads
# with the first PDF call (the plugin fql-pdf.so), not at start-up.
# usage: tests/runtime/sort_stream.sh BUILD_DIR
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/../lib/setup.sh"
FQL="$BUILD/fql"
pass=0 fail=0
ok()  { pass=$((pass + 1)); echo "ok $1"; }
bad() { fail=$((fail + 1)); echo "FAIL $1: $2"; }

# big.csv: 300,000 rows of id, g (int, 1 in 20 null), x (float, few distinct: ties), s (a string
# longer than the sort's key words, 1 in 25 null)
awk 'BEGIN { srand(5); print "id,g,x,s";
  for (i = 1; i <= 300000; i++) {
    g = rand() < 0.05 ? "" : int(rand() * 100); x = sprintf("%.1f", int(rand() * 50) / 2 - 5);
    s = rand() < 0.04 ? "" : sprintf("a shared prefix longer than thirty-two bytes %03d", int(rand() * 300));
    print i "," g "," x "," s } }' > big.csv
Q='from csv("big.csv") | order by s desc nulls last, g nulls first, x desc'

# 1. spilled (a run per batch: about 150 runs, merged 64 at a time, then finally) = in memory
"$FQL" -c "$Q | write csv(\"mem.csv\")" 2>mem.err
mkdir tmp
TMPDIR=$PWD/tmp "$FQL" -c "set memory_limit = 1; $Q | write csv(\"spill.csv\")" 2>spill.err
if [[ -s mem.csv ]] && cmp -s mem.csv spill.csv; then ok "spilled sort = in-memory sort (300k rows)"
else bad spill-equal "$(cmp mem.csv spill.csv 2>&1) $(cat mem.err spill.err)"; fi
[[ $(wc -l <mem.csv) == 300001 ]] && ok "every row is sorted out" || bad rows "$(wc -l <mem.csv)"
# ties (equal s, g, x) keep input order (ids increasing); nulls where asked
ties=$(awk -F, 'NR > 2 && $2 == pg && $3 == px && $4 == ps && $1 + 0 < pid { n++ } { pid = $1; pg = $2; px = $3; ps = $4 } END { print n + 0 }' spill.csv)
[[ $ties == 0 ]] && ok "ties keep input order" || bad ties "$ties rows out of input order"
tail -1 spill.csv | grep -q ',$' && head -2 spill.csv | tail -1 | grep -q ' 299$' && ok "descending, nulls last" || bad nulls "$(head -2 spill.csv | tail -1) / $(tail -1 spill.csv)"
left=$(ls tmp | wc -l)
[[ $left == 0 ]] && ok "no temporary files left" || bad tmp-left "$left files in TMPDIR"
out=$(TMPDIR=$PWD/tmp "$FQL" -c "set memory_limit = \"64KB\"; explain analyze $Q | limit 2000000" 2>&1)
grep -Eq 'sorted in [0-9]+ runs on disk, merged \(memory_limit 65536 bytes\)' <<<"$out" && ok "explain analyze says the sort spilled" || bad explain "$out"

# 2. a sort that must spill where it cannot write says where and what to do
out=$(TMPDIR=$PWD/nowhere "$FQL" -c "set memory_limit = 1; $Q | write csv(\"x.csv\")" 2>&1); rc=$?
[[ $rc != 0 ]] && grep -q 'set TMPDIR to a writable directory' <<<"$out" && ok "no temporary directory: an error naming TMPDIR" || bad no-tmp "rc=$rc $out"
out=$("$FQL" -c 'set memory_limit = "lots"' 2>&1); rc=$?
[[ $rc != 0 ]] && grep -q 'set memory_limit takes a size, e.g.' <<<"$out" && ok "a bad memory_limit names the form" || bad bad-limit "rc=$rc $out"
"$FQL" -c 'set memory_limit = "1.5GB"; set memory_limit = "512 MiB"; set memory_limit = 0' >/dev/null 2>&1 && ok "sizes with units" || bad sizes "rejected"

# 3. printed results stream: the peak memory of printing 300,000 rows is that of printing 3,000
# (under AddressSanitizer freed memory waits in a quarantine that would count: none here)
rss() { ASAN_OPTIONS=quarantine_size_mb=0:thread_local_quarantine_size_kb=0 /usr/bin/time -f "%M" -o rss.txt "$FQL" "$@" >/dev/null 2>rss.err; tail -1 rss.txt; }
for f in csv tsv json jsonl table markdown; do
  small=$(rss --format $f -c 'from csv("big.csv") | limit 3000') large=$(rss --format $f -c 'from csv("big.csv") | where id > 0')
  (( large - small < 8000 )) && ok "$f: printing 300k rows takes the memory of 3k ($small KB, $large KB)" || bad "rss-$f" "3k rows: $small KB, 300k rows: $large KB $(cat rss.err)"
done
# ... and print what a whole table would: the files written and the formats printed agree
"$FQL" -c 'from csv("big.csv") | where g > 90 | write csv("w.csv")' 2>/dev/null
"$FQL" -c 'from csv("big.csv") | where g > 90 | write jsonl("w.jsonl")' 2>/dev/null
"$FQL" --format csv -c 'from csv("big.csv") | where g > 90' > p.csv 2>&1
"$FQL" --format jsonl -c 'from csv("big.csv") | where g > 90' > p.jsonl 2>&1
cmp -s w.csv p.csv && cmp -s w.jsonl p.jsonl && ok "printed csv and jsonl = written" || bad printed-written "$(cmp w.csv p.csv; cmp w.jsonl p.jsonl)"
"$FQL" --format json -c 'from csv("big.csv") | where g > 90' > p.json 2>&1
node -e 'const a = JSON.parse(require("fs").readFileSync("p.json", "utf8")); const n = require("fs").readFileSync("w.jsonl", "utf8").trim().split("\n").length; process.exit(a.length === n && a.length > 2048 ? 0 : 1)' \
  && ok "printed json: one array of every row" || bad json "$(head -c 300 p.json)"
[[ $("$FQL" --format json -c 'from csv("big.csv") | where id < 0') == "[]" ]] && ok "printed json: no rows is []" || bad json-empty "$("$FQL" --format json -c 'from csv("big.csv") | where id < 0' 2>&1)"
# the table past the rows that size it: widths from the first 2,048 rows, a longer string later
# cut with "…", a number never cut, the footer counts every row
awk 'BEGIN { print "n,t"; for (i = 1; i <= 3000; i++) print (i == 2500 ? 123456789 : i) "," (i == 2600 ? "a much longer text than any before it" : "short text") }' > w.csv
"$FQL" -c 'from csv("w.csv")' > tbl.txt 2>&1
grep -q '^│ 123456789 │ short text │$' tbl.txt && grep -q '^│ 2600 │ a much lo… │$' tbl.txt && [[ $(tail -1 tbl.txt) == "3000 rows" && $(grep -c '^│' tbl.txt) == 3001 ]] \
  && ok "table: streamed past 2,048 rows, long text cut, numbers whole" || bad table-stream "$(grep -n 'much\|123456789012' tbl.txt; tail -2 tbl.txt)"
"$FQL" -c 'set max_rows = 10; from csv("big.csv")' > tbl.txt 2>&1
[[ $(tail -1 tbl.txt) == "300000 rows (10 shown)" ]] && grep -q '│ 300000 │' tbl.txt && grep -q '^│ *1 │' tbl.txt \
  && ok "table with max_rows: first and last rows of a streamed result" || bad table-maxrows "$(cat tbl.txt)"

# 4. poppler loads with the first PDF call, not at start-up (the plugin fql-pdf.so), and cairo and
# libjpeg with the first image to scale (fql-image.so)
n=$(LD_DEBUG=files "$FQL" -c 'values [{a: 1}] | select a' 2>&1 >/dev/null | grep -c 'poppler\|fql-pdf\|cairo\|jpeg\|fql-image')
[[ $n == 0 ]] && ok "start-up loads no poppler, cairo or libjpeg and no plugin" || bad startup-libs "$n lines name them"
# libcurl (and the TLS, Kerberos and LDAP libraries it pulls in) loads with the first transfer
n=$(LD_DEBUG=files "$FQL" -c 'values [{a: 1}] | select a' 2>&1 >/dev/null | grep -c 'libcurl\|gnutls')
[[ $n == 0 ]] && ok "start-up loads no libcurl" || bad startup-curl "$n lines name it"
LD_DEBUG=files "$FQL" -c 'from csv("http://127.0.0.1:9/none.csv")' > curl.out 2>&1
grep -q 'file=libcurl.so.4 .*dynamically loaded' curl.out && grep -q "error: .*127.0.0.1:9" curl.out \
  && ok "the first transfer loads libcurl (and fails as before on a closed port)" || bad curl-load "$(grep -v '^ *[0-9]*:' curl.out | head -3)"
"$BUILD/mkpdf" pdfs 300 >/dev/null 2>&1
out=$(LD_DEBUG=files "$FQL" --format csv -c 'from pdf_metadata("pdfs/plain.pdf") | select page_count, error' 2>ld.txt)
grep -q 'fql-pdf.so.*dynamically loaded' ld.txt && [[ $(tail -1 <<<"$out") =~ ^[1-9][0-9]*,$ ]] \
  && ok "the first PDF call loads the plugin and reads the PDF" || bad pdf-load "$out $(grep -m3 'fql-pdf\|poppler' ld.txt)"
mkdir plug && cp "$BUILD/fql-pdf.so" plug/
FQL_PLUGIN_DIR=$PWD/plug LD_DEBUG=files "$FQL" -c 'from pdf_metadata("pdfs/plain.pdf") | select page_count' 2>ld.txt >/dev/null
grep -q "file=$PWD/plug/fql-pdf.so" ld.txt && ok "FQL_PLUGIN_DIR is looked in first" || bad plugin-dir "$(grep -m2 fql-pdf ld.txt)"

echo "$pass passed, $fail failed"
(( fail == 0 ))
