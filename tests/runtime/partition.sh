#!/usr/bin/env bash
# --partition I/N and folders of partitions: the N partitions of a source cover every row exactly
# once, the same rows on every run, by the documented hash of the row number (checked against an
# independent implementation); a join's other side is read whole, so the partitions' joins add up
# to the whole join; a writer given a folder writes part-I-of-N files that fql (reading the folder),
# DuckDB and Polars read back as one data set.
# DuckDB and Polars come from tests/parquet's pinned npm packages (installed there as
# tests/runtime/parquet.sh does); without them this suite FAILS, it does not skip.
# usage: tests/runtime/partition.sh BUILD_DIR
HERE=$(cd "$(dirname "$0")" && pwd)
PQ=$(cd "$HERE/../parquet" && pwd)
source "$HERE/../lib/setup.sh"
FQL=$BUILD/fql
export FQL_DB=:memory:
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}log_path=$dir/sanitizer"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:+$UBSAN_OPTIONS:}log_path=$dir/sanitizer"
pass=0 fail=0
ok()  { pass=$((pass + 1)); echo "ok $1"; }
bad() { fail=$((fail + 1)); echo "FAIL $1: $2"; }
check() { if [[ "$2" == "$3" ]]; then ok "$1"; else bad "$1" "expected [$2], got [$3]"; fi; }

# three files read as one source by a glob: 1,000 rows in all
mkdir in
for f in 0 1 2; do
  { echo "id,name,grp"; for i in $(seq $((f * 400 + 1)) $((f == 2 ? 1000 : f * 400 + 400))); do echo "$i,name $i,$((i % 7))"; done; } > in/t$f.csv
done
{ echo "grp,label"; for g in 0 1 2 3 4 5 6; do echo "$g,group $g"; done; } > groups.csv

# ---- every row exactly once, stable ----
for i in 0 1 2 3; do
  "$FQL" --partition $i/4 --format csv -c 'from csv("in/*.csv") | select id' > p$i.txt 2> e$i.txt || bad "partition $i/4 runs" "$(cat e$i.txt)"
  "$FQL" --partition $i/4 --format csv -c 'from csv("in/*.csv") | select id' > q$i.txt 2>&1
done
all=$(cat p0.txt p1.txt p2.txt p3.txt | grep -v '^id$' | sort -n)
check "4 partitions: 1000 rows in all" "1000" "$(wc -l <<<"$all" | tr -d ' ')"
check "4 partitions: every row exactly once" "$(seq 1 1000)" "$all"
for i in 0 1 2 3; do
  n=$(grep -vc '^id$' p$i.txt)
  (( n > 180 && n < 320 )) && ok "partition $i/4 holds about a quarter ($n rows)" || bad "partition $i/4 size" "$n rows"
done
check "stable: a second run reads the same rows" "$(cat p0.txt p1.txt p2.txt p3.txt)" "$(cat q0.txt q1.txt q2.txt q3.txt)"

# the documented rule: row k (from 0, in reading order) goes to splitmix64(k) mod N
want=$(node -e '
const M = (1n << 64n) - 1n;
for (let k = 0n; k < 1000n; k++) {
  let z = (k + 0x9e3779b97f4a7c15n) & M;
  z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & M;
  z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & M;
  z ^= z >> 31n;
  if (z % 4n === 2n) console.log(String(k + 1n));   // ids are row numbers + 1
}')
check "partition 2/4 is the documented hash of the row number" "$want" "$(grep -v '^id$' p2.txt)"

# set partition in a script, and the errors
check "set partition = \"1/4\" in a script" "$(cat p1.txt)" "$("$FQL" --format csv -c 'set partition = "1/4"; from csv("in/*.csv") | select id' 2>&1)"
out=$("$FQL" --partition 4/4 -c 'from csv("in/*.csv")' 2>&1); rc=$?
check "--partition 4/4: refused (I counts from 0)" "2 fql: --partition takes I/N: partition I of N, I counted from 0 to N-1 (e.g. --partition 0/4 ... 3/4); got 4/4" "$rc $out"
out=$("$FQL" -c 'set partition = "2"' 2>&1)
[[ $out == *'set partition takes "I/N"'*'got 2'* ]] && ok "set partition = \"2\": says the form" || bad "set partition error" "$out"

# ---- a join: the other side is read whole ----
J='from csv("in/*.csv") | join (from csv("groups.csv")) using (grp) | select id, label | order by id'
whole=$("$FQL" --format csv -c "$J" 2>&1)
parts=$(for i in 0 1 2; do "$FQL" --partition $i/3 --format csv -c "$J" 2>&1 | grep -v '^id,'; done | sort -n)
check "join: the partitions' results add up to the whole join" "$(grep -v '^id,' <<<"$whole")" "$parts"

# ---- a folder of partitions ----
for i in 0 1 2 3; do
  "$FQL" --partition $i/4 -c 'from csv("in/*.csv") | write parquet("out/")' 2> w$i.txt || bad "write partition $i" "$(cat w$i.txt)"
  "$FQL" --partition $i/4 -c 'from csv("in/*.csv") | write csv("outc/")' 2>/dev/null
done
check "folder: one file per partition" "part-00000-of-00004.parquet part-00001-of-00004.parquet part-00002-of-00004.parquet part-00003-of-00004.parquet" "$(ls out | tr '\n' ' ' | sed 's/ $//')"
check "folder: the log names the partition's file" "wrote $(grep -vc '^id$' p1.txt) rows to out/part-00001-of-00004.parquet" "$(cat w1.txt)"
check "fql reads the folder as one data set" "n,s,d
1000,500500,1000" "$("$FQL" --format csv -c 'from parquet("out/") | agg n = count(*), s = sum(id), d = count(distinct id)' 2>&1)"
check "fql reads the CSV folder as one data set" "n,s
1000,500500" "$("$FQL" --format csv -c 'from csv("outc/") | agg n = count(*), s = sum(id)' 2>&1)"
check "the parts hold the partitions' rows" "$(cat p3.txt)" "$("$FQL" --format csv -c 'from parquet("out/part-00003-of-00004.parquet") | select id' 2>&1)"
out=$("$FQL" --partition 1/4 -c 'from csv("in/*.csv") | write parquet("out/")' 2>&1)
check "mode error: an existing part is refused" "fql: error: out/part-00001-of-00004.parquet already exists; use mode: \"overwrite\" or \"append\"" "$out"
"$FQL" --partition 1/4 -c 'from csv("in/*.csv") | where id < 0 | write parquet("out/", mode: "overwrite")' 2>/dev/null
check "an empty partition still writes its file (0 rows)" "n
$(( 1000 - $(grep -vc '^id$' p1.txt) ))" "$("$FQL" --format csv -c 'from parquet("out/") | agg n = count(*)' 2>&1)"
"$FQL" --partition 1/4 -c 'from csv("in/*.csv") | write parquet("out/", mode: "overwrite")' 2>/dev/null
"$FQL" -c 'from csv("in/t0.csv") | write jsonl("one/")' 2>/dev/null
check "no --partition: the folder gets part 0 of 1" "part-00000-of-00001.jsonl" "$(ls one 2>&1)"

# DuckDB and Polars read the folder as one data set
if [[ ! -d $PQ/node_modules/@duckdb/node-api || ! -d $PQ/node_modules/nodejs-polars-linux-x64-gnu ]]; then
  (cd "$PQ" && npm install --no-audit --no-fund --loglevel=error) > npm.log 2>&1 || bad npm "cannot install DuckDB and Polars: $(tail -c 300 npm.log)"
fi
duck=$(cd "$PQ" && node -e '
const { DuckDBInstance } = require("@duckdb/node-api");
(async () => {
  const c = await (await DuckDBInstance.create(":memory:")).connect();
  for (const q of [`SELECT count(*), sum(id), count(DISTINCT id) FROM read_parquet(${JSON.stringify(process.argv[1] + "/out/*.parquet")})`,
                   `SELECT count(*), sum(id), count(DISTINCT id) FROM read_csv(${JSON.stringify(process.argv[1] + "/outc/*.csv")})`]) {
    const r = await c.runAndReadAll(q);
    console.log(r.getRows()[0].map(String).join(","));
  }
})().catch(e => { console.log(String(e)); });' "$dir" 2>&1)
check "DuckDB reads out/*.parquet and outc/*.csv as one data set" "1000,500500,1000
1000,500500,1000" "$duck"
polars=$(cd "$PQ" && node -e '
const pl = require("nodejs-polars");
const df = pl.scanParquet(process.argv[1] + "/out/*.parquet").select(pl.col("id").count().alias("n"), pl.col("id").sum().alias("s")).collectSync();
console.log(df.getColumn("n").get(0) + "," + df.getColumn("s").get(0));' "$dir" 2>&1)
check "Polars scan_parquet reads out/*.parquet as one data set" "1000,500500" "$polars"

if compgen -G "$dir/sanitizer.*" > /dev/null; then bad "sanitizer reports" "$(cat "$dir"/sanitizer.* | head -40)"; fi
echo "$pass passed, $fail failed"
[[ $fail == 0 ]]
