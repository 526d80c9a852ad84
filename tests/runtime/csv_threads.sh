#!/usr/bin/env bash
# CSV read on threads (issue 22): a file is cut into blocks of whole records that workers tokenize
# and convert. Whatever the file holds (quoted fields with delimiters, doubled quotes and line
# breaks inside, blank lines, CRLF or lone CR line ends, a BOM, no final line break, no header),
# `set threads = 3` gives the bytes `set threads = 1` gives, and a bad value deep in the file is
# the same error at the same line.
# usage: tests/runtime/csv_threads.sh BUILD_DIR
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/../lib/setup.sh"
FQL="$BUILD/fql"
pass=0 fail=0
ok()  { pass=$((pass + 1)); echo "ok $1"; }
bad() { fail=$((fail + 1)); echo "FAIL $1: $2"; }

# gen ROWS SEED: id, g (int), x (float), s (text: quoted with commas, "" and line breaks inside,
# a quote inside an unquoted field, UTF-8), t (mostly empty); a blank line now and then
gen() {
  awk -v rows="$1" -v seed="$2" 'BEGIN { srand(seed); print "id,g,x,s,t";
    for (i = 1; i <= rows; i++) {
      r = rand(); s = "plain" int(rand() * 50)
      if (r < 0.05) s = "\"with, comma " i "\""
      else if (r < 0.08) s = "\"say \"\"hi\"\" " i "\""
      else if (r < 0.11) s = "\"two\nlines " i "\""
      else if (r < 0.12) s = "\"crlf\r\ninside\""
      else if (r < 0.13) s = "mid\"quote"
      else if (r < 0.14) s = "caf\xc3\xa9 " i
      else if (r < 0.16) s = "\"\""
      t = rand() < 0.9 ? "" : "note " i
      print i "," int(rand() * 100) "," sprintf("%.2f", rand() * 1000) "," s "," t
      if (rand() < 0.002) print "" } }'
}
gen 150000 7 > lf.csv
awk 'BEGIN { ORS = "\r\n" } { print }' lf.csv > crlf.csv       # CRLF (and \r\r\n inside quotes)
awk 'BEGIN { ORS = "\r" } { print }' lf.csv > cr.csv           # lone CR line ends
{ printf '\xef\xbb\xbf'; head -c -1 lf.csv; } > bom.csv          # BOM, no final line break
tail -n +2 lf.csv > nohead.csv

# same FILE OPTS: threads 1 and 3 write the same file
same() {
  local f=$1 opts=$2 name=$3
  "$FQL" -c "set threads = 1; from csv(\"$f\"$opts) | write csv(\"one.out\", mode: \"overwrite\")" 2>one.err
  "$FQL" -c "set threads = 3; from csv(\"$f\"$opts) | write csv(\"three.out\", mode: \"overwrite\")" 2>three.err
  if [[ -s one.out ]] && cmp -s one.out three.out; then ok "$name: threads 3 = threads 1 ($(wc -l <one.out) lines)"
  else bad "$name" "$(cmp one.out three.out 2>&1 | head -1) $(head -3 one.err three.err)"; fi
}
same lf.csv "" "LF"
same crlf.csv "" "CRLF"
same cr.csv "" "lone CR"
same bom.csv "" "BOM, no final line break"
same nohead.csv ", header: false" "no header"

# the rows: 150,000 records whatever the line ends
for f in lf crlf cr bom; do
  n=$("$FQL" --format csv -c "set threads = 3; from csv(\"$f.csv\") | agg n = count(*), s = sum(id)")
  [[ $n == $'n,s\n150000,11250075000' ]] && ok "$f: every record read once" || bad "$f-count" "$n"
done

# explain analyze names the threads that took part: none for a file of one block
out=$("$FQL" -c "set threads = 3; explain analyze from csv(\"lf.csv\") | agg n = count(*)" 2>&1)
grep -q 'records converted on [23] threads' <<<"$out" && ok "explain analyze: records converted on threads" || bad explain-threads "$out"
head -5 lf.csv > small.csv
out=$("$FQL" -c "set threads = 3; explain analyze from csv(\"small.csv\") | agg n = count(*)" 2>&1)
grep -q 'actual: 4 rows' <<<"$out" && ! grep -q 'threads' <<<"$out" && ok "explain analyze: one block, no threads named" || bad explain-one "$out"

# errors deep in the file name the line one thread names (types inferred from the first 10,000
# rows, so that the rows are first read past them; the first line of the message, without the
# query it quotes)
errs() {
  local f=$1 name=$2
  FQL_CSV_FULL_SCAN_BYTES=0 "$FQL" -c "set threads = 1; from csv(\"$f\") | write csv(\"one.out\", mode: \"overwrite\")" >/dev/null 2>one.err
  local rc1=$?
  FQL_CSV_FULL_SCAN_BYTES=0 "$FQL" -c "set threads = 3; from csv(\"$f\") | write csv(\"three.out\", mode: \"overwrite\")" >/dev/null 2>three.err
  local rc3=$?
  local e1 e3
  e1=$(head -1 one.err | sed 's/^<command line>:[0-9:]* //') e3=$(head -1 three.err | sed 's/^<command line>:[0-9:]* //')
  if (( rc1 != 0 && rc3 != 0 )) && [[ -n $e1 && $e1 == "$e3" && $e1 == *"$f:$3:"* ]]; then ok "$name: $e1"
  else bad "$name" "rc $rc1/$rc3: $e1 | $e3"; fi
}
awk 'NR == 120001 { print "1,2,3,4,5,6"; next } { print }' lf.csv > wide.csv
errs wide.csv "too many fields at a late line" 120001
awk 'NR == 100001 { print "x,1,2.5,\"bad\"after,t"; next } { print }' lf.csv > quote.csv
errs quote.csv "text after a closing quote" 100001
awk 'NR == 90001 { print "5,7,1.5,\xff\xfe,t"; next } { print }' lf.csv > utf.csv
errs utf.csv "invalid UTF-8" 90001
awk 'NR == 130001 { print "5,seven,1.5,s,t"; next } { print }' lf.csv > type.csv
errs type.csv "a value not of the sampled type" 130001
{ cat lf.csv; printf '9,9,9.5,"never closed\n1,2,3,4,5\n'; } > open.csv
errs open.csv "an unterminated quote at the end" 156329

echo "$pass passed, $fail failed"
[[ $fail == 0 ]]
