#!/usr/bin/env bash
# bench/relational/run.sh BUILD_DIR: scan+filter+write and scan+group-by+aggregate over a generated
# 3-million-row CSV, each as a whole process, in fql, the sqlite3 CLI and DuckDB (node API).
# Prints a table: tool, task, seconds (best of BENCH_RUNS), peak RSS (MB), time ratio vs fql.
#   BENCH_DIR   where the data and outputs go (default ${TMPDIR:-/tmp}/fql-bench-relational)
#   BENCH_ROWS  rows to generate (default 3000000)
#   BENCH_RUNS  runs per measurement (default 3)
set -euo pipefail
BUILD=$(cd "${1:-build}" && pwd)
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/csv_data.sh"
MB=$(( $(stat -c %s "$DATA") / 1000000 ))

# measure NAME TASK CMD...: best wall time and the peak RSS of that run, appended to $DIR/results
measure() {
  local tool=$1 task=$2; shift 2
  local best="" rss="" t r
  for ((i = 0; i < RUNS; i++)); do
    if ! /usr/bin/time -v -o "$DIR/time.txt" "$@" >"$DIR/stdout.txt" 2>"$DIR/stderr.txt"; then
      echo "bench: $tool $task failed:" >&2; tail -5 "$DIR/stderr.txt" >&2
      echo "$tool $task - -" >>"$DIR/results"; return
    fi
    t=$(awk -F': ' '/Elapsed \(wall clock\)/ { n = split($2, p, ":"); s = 0; for (k = 1; k <= n; k++) s = s * 60 + p[k]; print s }' "$DIR/time.txt")
    r=$(awk -F': ' '/Maximum resident set size/ { printf "%.0f", $2 / 1024 }' "$DIR/time.txt")
    if [[ -z $best ]] || awk -v a="$t" -v b="$best" 'BEGIN { exit !(a < b) }'; then best=$t; rss=$r; fi
  done
  echo "$tool $task $best $rss" >>"$DIR/results"
}

: >"$DIR/results"
SQL_SCHEMA="create table t(id integer, category text, region text, amount real, qty integer, note text);"

# (a) scan + filter + write
measure fql filter "$BUILD/fql" -c "from csv(\"$DATA\") | where amount > 500 and region == \"eu\" | write csv(\"$DIR/fql-out.csv\", mode: \"overwrite\")"
measure sqlite3 filter sqlite3 :memory: -cmd "$SQL_SCHEMA" -cmd ".import --csv --skip 1 $DATA t" \
  -cmd ".headers on" -cmd ".mode csv" -cmd ".once $DIR/sqlite-out.csv" "select * from t where amount > 500 and region = 'eu';"
measure duckdb filter node "$HERE/duckdb.mjs" filter "$DATA" "$DIR/duckdb-out.csv"

# (b) scan + group by + aggregate
measure fql group "$BUILD/fql" --format csv -c "from csv(\"$DATA\") | group by category agg n = count(*), total = sum(amount), mean = avg(amount)"
measure sqlite3 group sqlite3 :memory: -cmd "$SQL_SCHEMA" -cmd ".import --csv --skip 1 $DATA t" \
  "select category, count(*), sum(amount), avg(amount) from t group by category;"
measure duckdb group node "$HERE/duckdb.mjs" group "$DATA"

# the three filters must agree on the number of rows written
counts=""
for f in fql sqlite duckdb; do counts+="$f=$(( $(wc -l <"$DIR/$f-out.csv") - 1 )) "; done
echo "data: $DATA ($ROWS rows, $MB MB); best of $RUNS runs; filter rows written: $counts"
awk '
  { tool[NR] = $1; task[NR] = $2; sec[NR] = $3; rss[NR] = $4; if ($1 == "fql") base[$2] = $3 }
  END {
    printf "%-8s %-7s %8s %13s %12s\n", "tool", "task", "seconds", "peak RSS MB", "time vs fql"
    for (i = 1; i <= NR; i++) {
      ratio = (sec[i] != "-" && base[task[i]] > 0) ? sprintf("%.2fx", sec[i] / base[task[i]]) : "-"
      printf "%-8s %-7s %8s %13s %12s\n", tool[i], task[i], sec[i], rss[i], ratio
    }
  }' "$DIR/results"
