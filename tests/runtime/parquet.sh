#!/usr/bin/env bash
# Parquet end to end: files written by DuckDB and Polars (their npm packages, installed here into
# tests/parquet/node_modules from the pinned package-lock.json) read by fql with the same rows, files
# written by fql read back by DuckDB and Polars with the same rows and types, and bad files.
# npm must be reachable the first time: without DuckDB and Polars this suite FAILS, it does not skip.
# usage: tests/runtime/parquet.sh BUILD_DIR
set -u
BUILD=$(cd "${1:-build}" && pwd)
FQL="$BUILD/fql"
HERE=$(cd "$(dirname "$0")/../parquet" && pwd)
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
pass=0 fail=0
ok()  { pass=$((pass + 1)); echo "ok $1"; }
bad() { fail=$((fail + 1)); echo "FAIL $1: $2"; }
# check NAME EXPECTED ACTUAL
check() { if [[ "$3" == "$2" ]]; then ok "$1"; else bad "$1" "expected [$2] got [$3]"; fi; }

if [[ ! -d $HERE/node_modules/@duckdb/node-api || ! -d $HERE/node_modules/nodejs-polars-linux-x64-gnu ]]; then
  if ! (cd "$HERE" && npm install --no-audit --no-fund --loglevel=error) >"$dir/npm.log" 2>&1; then
    bad npm-ci "cannot install @duckdb/node-api and nodejs-polars (is the npm registry reachable?): $(tail -c 400 "$dir/npm.log" | tr '\n' ' ')"
    echo "$pass passed, $fail failed"
    exit 1
  fi
fi
compat() { node "$HERE/compat.mjs" "$@"; }
cd "$dir"

# ---- DuckDB's files: every codec, data page v1 and v2 (v2 also uses the DELTA encodings) ----
compat duckdb-write "$dir" 2>"$dir/duck.err" || bad duckdb-write "$(cat "$dir/duck.err")"
compat polars-write "$dir" 2>"$dir/polars.err" || bad polars-write "$(cat "$dir/polars.err")"
expect_duck='{"id": 0, "name": "name0", "amount": null, "flag": true, "day": "2024-01-01", "ts": "2024-01-01 10:00:00", "l": [0,1], "s": {"a":0,"b":"x0"}, "ls": [{"k":0,"v":"q"}], "dec": 0.0, "nested": [[0],[],null]}
{"id": 1, "name": "name1", "amount": 1.5, "flag": false, "day": "2024-01-02", "ts": "2024-01-01 10:00:01", "l": null, "s": {"a":1,"b":"x1"}, "ls": [{"k":1,"v":null}], "dec": 0.25, "nested": [[1],[],null]}
{"id": 2, "name": "name2", "amount": 3.0, "flag": true, "day": "2024-01-03", "ts": "2024-01-01 10:00:02", "l": [2,3], "s": {"a":2,"b":"x2"}, "ls": [{"k":2,"v":"q"}], "dec": 0.5, "nested": null}
{"id": 2999, "name": "name3", "amount": 4498.5, "flag": false, "day": "2032-03-18", "ts": "2024-01-01 10:49:59", "l": [2999,3000], "s": {"a":2999,"b":"x2999"}, "ls": [{"k":2999,"v":null}], "dec": 749.75, "nested": [[2999],[],null]}'
for codec in uncompressed snappy zstd gzip; do
  for v in V1 V2; do
    f=duckdb-$codec-$v.parquet
    got=$("$FQL" --format jsonl -c "from parquet(\"$f\") | where id < 3 or id == 2999" 2>&1)
    check "read $f" "$expect_duck" "$got"
    # every row: fql reads DuckDB's file and writes it again; DuckDB finds the same rows in both
    "$FQL" -c "from parquet(\"$f\") | write parquet(\"back-$f\")" 2>/dev/null
    check "all rows of $f" "same 3000" "$(compat same "$f" "back-$f" 2>&1)"
  done
done

check "read duckdb-types.parquet" '{"m": [{"key":"a","value":1},{"key":"b","value":2}], "u": "12345678-1234-5678-1234-567812345678", "ut": 255, "ui": 4000000000, "bl": "x", "tm": "10:11:12.500000", "tz": "2024-01-01 00:00:00", "fl": 1.5, "big": 1.2345678901234567e+19, "en": "hello", "ll": [[1,2],[3]], "nul": null}' \
  "$("$FQL" --format jsonl -c 'from parquet("duckdb-types.parquet")' 2>&1)"

expect_polars='{"id": 0, "name": "a", "amount": 1.5, "flag": true, "l": [1,2], "day": "2022-01-08", "ts": "1970-01-01 00:00:00"}
{"id": 1, "name": null, "amount": null, "flag": false, "l": [], "day": "2022-01-08", "ts": "1970-01-01 00:00:01"}
{"id": 2, "name": "c", "amount": -2.25, "flag": null, "l": null, "day": "2022-01-08", "ts": "1970-01-01 00:00:02"}
{"id": 3, "name": "a", "amount": 10000000000.0, "flag": true, "l": [3], "day": "2022-01-08", "ts": "1970-01-01 00:00:03"}
{"id": 4, "name": "a", "amount": 0.0, "flag": true, "l": [4,5,6], "day": "2022-01-08", "ts": "1970-01-01 00:00:04"}
{"id": 5, "name": "été", "amount": 3.0, "flag": false, "l": [7], "day": "2022-01-08", "ts": "1970-01-01 00:00:05"}'
for codec in uncompressed snappy zstd gzip; do
  f=polars-$codec.parquet
  check "read $f" "$expect_polars" "$("$FQL" --format jsonl -c "from parquet(\"$f\")" 2>&1)"
done
check "glob of polars files" "24" "$("$FQL" --format csv -c 'from parquet("polars-*.parquet") | agg n = count(*)' 2>&1 | tail -1)"

# ---- fql's files read by DuckDB and Polars ----
cat > all.fql <<'F'
let t = values [
  {b: true, i: 1, f: 1.5, s: "a", d: cast("2024-01-02" as date), ts: cast("2024-01-02 03:04:05.123456" as timestamp), l: [1, 2], st: {a: 1, b: "x"}, v: cast([1.0, 2.0] as vector(2)), ls: [{k: 1, v: "p"}]},
  {b: null, i: null, f: null, s: null, d: null, ts: null, l: null, st: null, v: null, ls: null},
  {b: false, i: -5, f: -0.25, s: "é", d: cast("1969-12-31" as date), ts: cast("1960-01-01 00:00:00" as timestamp), l: [], st: {a: null, b: null}, v: cast([3.0, 4.0] as vector(2)), ls: []}
];
F
types_duck='b BOOLEAN, i BIGINT, f DOUBLE, s VARCHAR, d DATE, ts TIMESTAMP, l BIGINT[], st STRUCT(a BIGINT, b VARCHAR), v DOUBLE[], ls STRUCT(k BIGINT, v VARCHAR)[]'
rows_duck='{"b":true,"i":1,"f":1.5,"s":"a","d":"2024-01-02","ts":"2024-01-02 03:04:05.123456","l":[1,2],"st":{"a":1,"b":"x"},"v":[1,2],"ls":[{"k":1,"v":"p"}]}
{"b":null,"i":null,"f":null,"s":null,"d":null,"ts":null,"l":null,"st":null,"v":null,"ls":null}
{"b":false,"i":-5,"f":-0.25,"s":"é","d":"1969-12-31","ts":"1960-01-01 00:00:00","l":[],"st":{"a":null,"b":null},"v":[3,4],"ls":[]}'
types_polars='b DataType(Bool), i DataType(Int64), f DataType(Float64), s DataType(String), d DataType(Date), ts DataType(Datetime(us,)), l DataType(List(DataType(Int64))), st DataType(Struct(Field("a", DataType(Int64)),Field("b", DataType(String)))), v DataType(List(DataType(Float64))), ls DataType(List(DataType(Struct(Field("k", DataType(Int64)),Field("v", DataType(String))))))'
rows_polars='{"b":true,"i":1,"f":1.5,"s":"a","d":"2024-01-02T00:00:00.000Z","ts":"2024-01-02T03:04:05.123Z","l":[1,2],"st":{"a":1,"b":"x"},"v":[1,2],"ls":[{"k":1,"v":"p"}]}
{"b":null,"i":null,"f":null,"s":null,"d":null,"ts":null,"l":null,"st":null,"v":null,"ls":null}
{"b":false,"i":-5,"f":-0.25,"s":"é","d":"1969-12-31T00:00:00.000Z","ts":"1960-01-01T00:00:00.000Z","l":[],"st":{"a":null,"b":null},"v":[3,4],"ls":[]}'
for codec in none snappy zstd gzip; do
  { cat all.fql; echo "t | write parquet(\"fql-$codec.parquet\", compression: \"$codec\");"; } > w.fql
  "$FQL" w.fql >/dev/null 2>w.err || bad "write fql-$codec" "$(cat w.err)"
  check "duckdb reads fql-$codec" "$types_duck
$rows_duck" "$(compat duckdb-read "fql-$codec.parquet" 2>&1)"
  check "polars reads fql-$codec" "$types_polars
$rows_polars" "$(compat polars-read "fql-$codec.parquet" 2>&1)"
  { cat all.fql; echo "t;"; } > r.fql
  check "fql reads fql-$codec" "$("$FQL" --format jsonl r.fql)" "$("$FQL" --format jsonl -c "from parquet(\"fql-$codec.parquet\")" 2>&1)"
done

# json columns carry the JSON logical type: DuckDB reads JSON, fql reads json back
"$FQL" -c 'values [{j: to_json({x: [1, 2]})}, {j: null}] | write parquet("json.parquet")' 2>/dev/null
check "duckdb reads json" 'j JSON
{"j":"{\"x\":[1,2]}"}
{"j":null}' "$(compat duckdb-read json.parquet 2>&1)"
check "fql reads json" "json" "$("$FQL" --format csv -c 'from parquet("json.parquet") | select typeof(j) | limit 1' 2>&1 | tail -1)"

# many row groups, dictionary-encoded strings, statistics DuckDB can use
seq 1 25000 | awk 'BEGIN { print "id,city,score" } { printf "%d,city%d,%s\n", $1, $1 % 13, ($1 % 10 == 0 ? "" : $1 / 4) }' > rows.csv
"$FQL" -c 'from csv("rows.csv") | write parquet("groups.parquet", row_group_size: 4000, compression: "snappy")' 2>/dev/null
check "row groups: fql rereads" "25000,312512500,13" "$("$FQL" --format csv -c 'from parquet("groups.parquet") | agg n = count(*), s = sum(id), c = count(distinct city)' 2>&1 | tail -1)"
check "row groups: duckdb" "7 13 2500" "$(node -e '
const { DuckDBInstance } = require(process.argv[1]);
(async () => {
  const con = await (await DuckDBInstance.create(":memory:")).connect();
  const g = await con.runAndReadAll(`SELECT count(DISTINCT row_group_id) FROM parquet_metadata(${JSON.stringify(process.argv[2]).replace(/"/g, "\x27")})`);
  const c = await con.runAndReadAll(`SELECT count(DISTINCT city), count(*) FILTER (WHERE score IS NULL) FROM read_parquet(${JSON.stringify(process.argv[2]).replace(/"/g, "\x27")})`);
  console.log(`${g.getRows()[0][0]} ${c.getRows()[0][0]} ${c.getRows()[0][1]}`);
})();' "$HERE/node_modules/@duckdb/node-api" groups.parquet 2>&1)"
check "row groups: statistics" "city0 city9 2500" "$(node -e '
const { DuckDBInstance } = require(process.argv[1]);
(async () => {
  const con = await (await DuckDBInstance.create(":memory:")).connect();
  const r = await con.runAndReadAll(`SELECT stats_min_value, stats_max_value, sum(stats_null_count) OVER () FROM parquet_metadata(\x27${process.argv[2]}\x27) WHERE path_in_schema = \x27city\x27 LIMIT 1`);
  const s = await con.runAndReadAll(`SELECT sum(stats_null_count) FROM parquet_metadata(\x27${process.argv[2]}\x27) WHERE path_in_schema = \x27score\x27`);
  console.log(`${r.getRows()[0][0]} ${r.getRows()[0][1]} ${s.getRows()[0][0]}`);
})();' "$HERE/node_modules/@duckdb/node-api" groups.parquet 2>&1)"

# ---- bad files: an error naming the file (and the column), never a crash ----
printf 'hello, this is not parquet at all' > notpq.parquet
check "wrong magic" "1" "$("$FQL" -c 'from parquet("notpq.parquet")' 2>&1 | grep -c 'notpq.parquet: not a Parquet file')"
head -c 2000 duckdb-zstd-V1.parquet > trunc.parquet
check "truncated" "1" "$("$FQL" -c 'from parquet("trunc.parquet")' 2>&1 | grep -c 'trunc.parquet: not a Parquet file')"
# the data cut out from the middle, the footer kept: the first chunk past the end is named
mlen=$(od -An -tu4 -j $(( $(stat -c %s fql-none.parquet) - 8 )) -N4 fql-none.parquet | tr -d ' ')
{ head -c 100 fql-none.parquet; tail -c $(( mlen + 8 )) fql-none.parquet; } > hollow.parquet
check "hollow" "1" "$("$FQL" -c 'from parquet("hollow.parquet")' 2>&1 | grep -c 'hollow.parquet: column [a-z.]*: its column chunk lies outside the file')"
# an encoding fql does not know: the first data page header's encoding (PLAIN, 0) patched to 20
node -e '
const fs = require("fs"), d = fs.readFileSync(process.argv[1]);
let i = d.indexOf(Buffer.from([0x2c, 0x15]), 4) + 2;   // DataPageHeader struct, its num_values field
while (i >= 2 && d[i] & 0x80) i++;                      // skip the num_values varint
if (i < 2 || d[i + 1] !== 0x15 || d[i + 2] !== 0x00) { console.error("no PLAIN data page header"); process.exit(1); }
d[i + 2] = 40;                                          // zigzag 20
fs.writeFileSync(process.argv[2], d);' fql-none.parquet unknown-enc.parquet
check "unknown encoding" "1" "$("$FQL" -c 'from parquet("unknown-enc.parquet")' 2>&1 | grep -c 'unknown-enc.parquet: column b: the column uses an unknown encoding')"
# corrupt the first data page of column id (just after its page header)
cp fql-none.parquet corrupt.parquet
printf '\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff' | dd of=corrupt.parquet bs=1 seek=4 conv=notrunc 2>/dev/null
out=$("$FQL" -c 'from parquet("corrupt.parquet")' 2>&1); rc=$?
check "corrupt page" "1 1" "$rc $(grep -c 'corrupt.parquet: column b: ' <<<"$out")"
"$FQL" -c 'values [{a: 1}] | write parquet("one.parquet")' 2>/dev/null
out=$("$FQL" -c 'values [{a: 2}] | write parquet("one.parquet", mode: "append")' 2>&1)
check "no append" "1" "$(grep -c 'cannot append to one.parquet' <<<"$out")"
out=$("$FQL" -c 'values [{a: 2}] | write parquet("x.parquet", compression: "lz4")' 2>&1)
check "bad compression" "1" "$(grep -c 'compression: takes' <<<"$out")"
# a codec fql does not read (Polars writes LZ4): the error names the file and the column
node -e '
const pl = require(process.argv[1]);
pl.DataFrame({ a: [1, 2, 3] }).writeParquet("lz4.parquet", { compression: "lz4" });' "$HERE/node_modules/nodejs-polars" 2>/dev/null
out=$("$FQL" -c 'from parquet("lz4.parquet")' 2>&1)
check "unsupported codec" "1" "$(grep -c 'lz4.parquet: column a: LZ4 compression is not supported' <<<"$out")"
# every truncation of a small file gives an error, never a crash
"$FQL" -c 'from parquet("polars-snappy.parquet") | write parquet("small.parquet", compression: "snappy")' 2>/dev/null
size=$(stat -c %s small.parquet) crashes=0
for ((n = 0; n < size; n += 7)); do
  head -c "$n" small.parquet > cut.parquet
  "$FQL" -c 'from parquet("cut.parquet")' >/dev/null 2>&1; rc=$?
  (( rc == 1 )) || { crashes=$((crashes + 1)); echo "  truncated at $n: exit $rc"; }
done
check "truncations" "0" "$crashes"

echo "$pass passed, $fail failed"
[[ $fail -eq 0 ]]
