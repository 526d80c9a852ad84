#!/usr/bin/env bash
# bench/parquet/run.sh BUILD_DIR: write and read Parquet with 3 million rows, each as a whole
# process, in fql and DuckDB (node API). Prints a table: tool, task, seconds (best of BENCH_RUNS),
# CPU seconds (user + system) of that run, peak RSS (MB), time ratio vs fql. On a shared machine
# the CPU seconds say more than the wall time (DuckDB uses several threads: its CPU time can
# exceed its wall time).
#   write    CSV -> Parquet (zstd), every column
#   read     Parquet -> filter (amount > 500 and region == "eu") -> count (DuckDB reads only the
#            two columns it needs; fql reads every column)
#   readall  Parquet -> CSV, every column
# Both tools read the file fql wrote (so DuckDB also checks it at scale: the counts must agree).
#   BENCH_DIR   where the data and outputs go (default ${TMPDIR:-/tmp}/fql-bench-parquet)
#   BENCH_ROWS  rows to generate (default 3000000)
#   BENCH_RUNS  runs per measurement (default 3)
set -euo pipefail
BUILD=$(cd "${1:-build}" && pwd)
HERE=$(cd "$(dirname "$0")" && pwd)
DIR=${BENCH_DIR:-${TMPDIR:-/tmp}/fql-bench-parquet}
ROWS=${BENCH_ROWS:-3000000}
RUNS=${BENCH_RUNS:-3}
mkdir -p "$DIR"
DATA=$DIR/data-$ROWS.csv

for need in /usr/bin/time node npm cc; do
  command -v "$need" >/dev/null || { echo "bench: $need is missing (apt-get install time nodejs npm gcc)" >&2; exit 1; }
done
[[ -x $BUILD/fql ]] || { echo "bench: $BUILD/fql not built (run make)" >&2; exit 1; }

if [[ ! -s $DATA ]]; then
  cc -O2 -o "$DIR/gen" "$HERE/../relational/gen.c"
  echo "generating $ROWS rows into $DATA ..." >&2
  "$DIR/gen" "$DATA.tmp" "$ROWS" && mv "$DATA.tmp" "$DATA"
fi
if [[ ! -d $HERE/node_modules/@duckdb/node-api ]]; then
  (cd "$HERE" && npm ci --no-audit --no-fund --silent)
fi

# measure NAME TASK CMD...: best wall time and the peak RSS of that run, appended to $DIR/results
measure() {
  local tool=$1 task=$2; shift 2
  local best="" rss="" cpu="" t r c
  for ((i = 0; i < RUNS; i++)); do
    if ! /usr/bin/time -v -o "$DIR/time.txt" "$@" >"$DIR/stdout-$tool-$task.txt" 2>"$DIR/stderr.txt"; then
      echo "bench: $tool $task failed:" >&2; tail -5 "$DIR/stderr.txt" >&2
      echo "$tool $task - - -" >>"$DIR/results"; return
    fi
    t=$(awk -F': ' '/Elapsed \(wall clock\)/ { n = split($2, p, ":"); s = 0; for (k = 1; k <= n; k++) s = s * 60 + p[k]; print s }' "$DIR/time.txt")
    r=$(awk -F': ' '/Maximum resident set size/ { printf "%.0f", $2 / 1024 }' "$DIR/time.txt")
    c=$(awk -F': ' '/User time|System time/ { s += $2 } END { printf "%.2f", s }' "$DIR/time.txt")
    if [[ -z $best ]] || awk -v a="$t" -v b="$best" 'BEGIN { exit !(a < b) }'; then best=$t; rss=$r; cpu=$c; fi
  done
  echo "$tool $task $best $cpu $rss" >>"$DIR/results"
}

: >"$DIR/results"
PQ=$DIR/fql.parquet
measure fql write "$BUILD/fql" -c "from csv(\"$DATA\") | write parquet(\"$PQ\", mode: \"overwrite\")"
measure duckdb write node "$HERE/duckdb.mjs" write "$DATA" "$DIR/duckdb.parquet"
measure fql read "$BUILD/fql" --format csv -c "from parquet(\"$PQ\") | where amount > 500 and region == \"eu\" | agg n = count(*)"
measure duckdb read node "$HERE/duckdb.mjs" read "$PQ"
measure fql readall "$BUILD/fql" -c "from parquet(\"$PQ\") | write csv(\"$DIR/fql-out.csv\", mode: \"overwrite\")"
measure duckdb readall node "$HERE/duckdb.mjs" readall "$PQ" "$DIR/duckdb-out.csv"

fqln=$(tail -1 "$DIR/stdout-fql-read.txt"); duckn=$(tail -1 "$DIR/stdout-duckdb-read.txt")
[[ $fqln == "$duckn" ]] || echo "bench: the read counts differ: fql $fqln, duckdb $duckn" >&2
echo "data: $DATA ($ROWS rows); parquet sizes: fql $(( $(stat -c %s "$PQ") / 1000000 )) MB, duckdb $(( $(stat -c %s "$DIR/duckdb.parquet") / 1000000 )) MB; best of $RUNS runs; read count: fql=$fqln duckdb=$duckn"
awk '
  { tool[NR] = $1; task[NR] = $2; sec[NR] = $3; cpu[NR] = $4; rss[NR] = $5; if ($1 == "fql") base[$2] = $3 }
  END {
    printf "%-8s %-8s %8s %8s %13s %12s\n", "tool", "task", "seconds", "cpu s", "peak RSS MB", "time vs fql"
    for (i = 1; i <= NR; i++) {
      ratio = (sec[i] != "-" && base[task[i]] > 0) ? sprintf("%.2fx", sec[i] / base[task[i]]) : "-"
      printf "%-8s %-8s %8s %8s %13s %12s\n", tool[i], task[i], sec[i], cpu[i], rss[i], ratio
    }
  }' "$DIR/results"
