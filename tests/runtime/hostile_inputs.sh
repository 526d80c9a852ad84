#!/usr/bin/env bash
# Wide and hostile inputs to the readers: a CSV header repeating one name thousands of times, a
# CSV with a million columns, a JSON object with 300,000 keys (names were deduplicated and looked
# up with linear searches: 51 s for 4,000 repeated names, 8.8 s for 60,000 keys, a million columns
# never finished), and corrupt Parquet footers (run under the sanitizers, where a leak fails the
# run: one leaked on every open). Each run has a generous time limit (a run killed by it fails); the times are printed.
# usage: tests/runtime/hostile_inputs.sh BUILD_DIR
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/../lib/setup.sh"
FQL="$BUILD/fql"
pass=0 fail=0
ok()  { pass=$((pass + 1)); echo "ok $1"; }
bad() { fail=$((fail + 1)); echo "FAIL $1: $2"; }
check() { if [[ "$2" == "$3" ]]; then ok "$1"; else bad "$1" "expected [$2], got [$3]"; fi; }
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}log_path=$dir/sanitizer"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:+$UBSAN_OPTIONS:}log_path=$dir/sanitizer"
LIMIT=${WIDE_LIMIT:-60}   # seconds a run may take: the fixed readers need a few, the old ones minutes or more
timed() {  # NAME CMD...: run with the time limit, output in out.txt, print the time
  local name=$1 t0=$EPOCHREALTIME rc; shift
  timeout "$LIMIT" "$@" > out.txt 2>&1; rc=$?
  echo "# $name: $(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.2f", b - a }') s"
  [[ $rc == 124 ]] && echo "killed after $LIMIT s" >> out.txt
  return $rc
}

# ---- CSV: duplicate names keep their naming: empty -> columnN, the first free _2, _3, ... ----
printf 'a,a,a_2,,a,b\n1,2,3,4,5,6\n' > small.csv
check "csv: duplicate and empty names" "a,a_2,a_2_2,column4,a_3,b" "$("$FQL" --db :memory: -c 'from csv("small.csv") | limit 0' --format csv 2>&1)"
printf 'a_2,a,a,a_3,a\n1,2,3,4,5\n' > small2.csv
check "csv: a suffix already taken is skipped" "a_2,a,a_3,a_3_2,a_4" "$("$FQL" --db :memory: -c 'from csv("small2.csv") | limit 0' --format csv 2>&1)"

N=8000
awk -v n=$N 'BEGIN { for (i = 1; i <= n; i++) printf "%s%s", (i > 1 ? "," : ""), "a"; print ""; for (i = 1; i <= n; i++) printf "%s%d", (i > 1 ? "," : ""), i; print "" }' > dup.csv
want=$(awk -v n=$N 'BEGIN { printf "a"; for (i = 2; i <= n; i++) printf ",a_%d", i; print "" }')
NAME="csv: $N copies of one name"
if timed "$NAME" "$FQL" --db :memory: -c 'from csv("dup.csv") | limit 0' --format csv; then
  check "$NAME: a, a_2, ..., a_$N" "$want" "$(cat out.txt)"
else bad "$NAME" "$(head -c 300 out.txt)"; fi
NAME="csv: $N copies of one name, values"
timed "$NAME" "$FQL" --db :memory: -c "from csv(\"dup.csv\") | select a, a_2, a_$N" --format csv
check "$NAME" "a,a_2,a_$N
1,2,$N" "$(cat out.txt)"

M=1000000
awk -v n=$M 'BEGIN { for (r = 0; r < 3; r++) { for (i = 1; i <= n; i++) printf "%s%s", (i > 1 ? "," : ""), (r == 0 ? "c" i : r == 1 ? "x" i : i * 2); print "" } }' > million.csv
NAME="csv: a million columns"
LIMIT=$((LIMIT * 2)) timed "$NAME" "$FQL" --db :memory: -c "from csv(\"million.csv\") | select c1, c500000, c$M" --format csv
check "$NAME" "c1,c500000,c$M
x1,x500000,x$M
2,1000000,$((2 * M))" "$(cat out.txt)"

# ---- JSON: an object with many keys ----
K=300000
awk -v n=$K 'BEGIN { printf "{"; for (i = 0; i < n; i++) printf "%s\"k%d\": %d", (i ? ", " : ""), i, i; print "}";
                     printf "{"; for (i = n - 1; i >= 0; i--) printf "%s\"k%d\": %d", (i < n - 1 ? ", " : ""), i, -i; print "}" }' > wide.jsonl
NAME="jsonl: objects with $K keys"
timed "$NAME" "$FQL" --db :memory: -c "from jsonl(\"wide.jsonl\") | select k0, k$((K - 1)), typeof(k7) as t" --format csv
check "$NAME" "k0,k$((K - 1)),t
0,$((K - 1)),int
0,-$((K - 1)),int" "$(cat out.txt)"
awk -v n=$K 'BEGIN { printf "{\"o\": {"; for (i = 0; i < n; i++) printf "%s\"k%d\": %d", (i ? ", " : ""), i, i; print "}}";
                     printf "{\"o\": {"; for (i = n - 1; i >= 0; i--) printf "%s\"k%d\": %d.5", (i < n - 1 ? ", " : ""), i, i; print "}}" }' > nested.jsonl
NAME="jsonl: nested objects with $K keys"
timed "$NAME" "$FQL" --db :memory: -c "from jsonl(\"nested.jsonl\") | select o.k0 as a, o.k$((K - 1)) as b, typeof(o.k3) as t" --format csv
check "$NAME" "a,b,t
0.0,$((K - 1)).0,float
0.5,$((K - 1)).5,float" "$(cat out.txt)"

# ---- Parquet: a footer holding its schema list twice (after the row groups, again) ----
# (the second list built a second schema tree over the first: leaked on every open, and the file
# then failed with "column chunk lies outside the file"); the first list is the schema.
cat > dup_schema.js <<'JS'
// Rewrite a Parquet file's footer so that its schema list appears twice: FileMetaData field 2 again
// after field 4 (the row groups), in the long form (type byte, then the zigzag id).
const fs = require('fs');
const [src, dst] = process.argv.slice(2);
const d = fs.readFileSync(src);
const mlen = d.readUInt32LE(d.length - 8), start = d.length - 8 - mlen;
const m = d.subarray(start, d.length - 8);
let p = 0;
const varint = () => { let v = 0n, s = 0n, b; do { b = m[p++]; v |= BigInt(b & 127) << s; s += 7n; } while (b & 128); return v; };
function skip(t) {
  switch (t) {
  case 1: case 2: return;                          // bool in the type
  case 3: p++; return;                             // byte
  case 4: case 5: case 6: varint(); return;        // i16 i32 i64
  case 7: p += 8; return;                          // double
  case 8: { const n = Number(varint()); p += n; return; }   // binary
  case 9: case 10: { const h = m[p++]; let n = h >> 4; const et = h & 15; if (n == 15) n = Number(varint()); for (let i = 0; i < n; i++) skip(et == 1 || et == 2 ? 3 : et); return; }
  case 12: { let last = 0; for (;;) { const h = m[p++]; if (h == 0) return; const dl = h >> 4; if (!dl) varint(); skip(h & 15); } }
  default: throw new Error('type ' + t);
  }
}
let last = 0, schema = null, after4 = -1;
for (;;) {
  const at = p, h = m[p++];
  if (h == 0) break;
  const dl = h >> 4, id = dl ? last + dl : Number(varint()) >> 1;  // zigzag of a small positive id
  const vstart = p;
  skip(h & 15);
  if (id == 2) schema = m.subarray(vstart, p);
  if (id == 4) after4 = p;
  last = id;
}
if (!schema || after4 < 0) throw new Error('no schema or row groups');
// after field 4: field 2 again (long form: list type 9, zigzag(2) = 4), then the rest, whose
// short-form deltas now count from 2 (the reader skips fields it does not know by their type)
const meta = Buffer.concat([m.subarray(0, after4), Buffer.from([0x09, 0x04]), schema, m.subarray(after4)]);
const len = Buffer.alloc(4); len.writeUInt32LE(meta.length);
fs.writeFileSync(dst, Buffer.concat([d.subarray(0, start), meta, len, Buffer.from('PAR1')]));
JS
"$FQL" --db :memory: -c 'values [{a: 1, b: "x"}, {a: 2, b: "y"}] | write parquet("w.parquet")' > /dev/null 2>&1
if node dup_schema.js w.parquet dup.parquet 2> out.txt; then
  check "parquet: a second schema list is ignored" "a,b
1,x
2,y" "$("$FQL" --db :memory: -c 'from parquet("dup.parquet")' --format csv 2>&1)"
else bad "parquet: make the file" "$(cat out.txt)"; fi
# a corrupt footer that fails to open: the root claims 9 children where 2 follow
node -e '
const fs = require("fs"); const d = Buffer.from(fs.readFileSync("w.parquet"));
const mlen = d.readUInt32LE(d.length - 8), start = d.length - 8 - mlen;
const i = d.indexOf(Buffer.from("schema"), start) + 6;   // the root element: its name, then num_children
if (d[i] != 0x15 || d[i + 1] != 0x04) throw new Error("unexpected layout " + d.subarray(i, i + 2).toString("hex"));
d[i + 1] = 0x12;                                         // zigzag 9
fs.writeFileSync("bad.parquet", d);' 2> out.txt || bad "parquet: make the corrupt file" "$(cat out.txt)"
out=$("$FQL" --db :memory: -c 'from parquet("bad.parquet")' --format csv 2>&1)
case $out in *"bad.parquet: the schema has fewer elements than its groups claim"*) ok "parquet: a corrupt schema is an error naming the file";;
  *) bad "parquet: corrupt schema" "$out";; esac

if compgen -G "$dir/sanitizer.*" > /dev/null; then bad "sanitizer reports" "$(cat "$dir"/sanitizer.* | head -40)"; fi
echo "$pass passed, $fail failed"
[[ $fail == 0 ]]
