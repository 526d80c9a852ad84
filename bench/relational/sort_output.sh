#!/usr/bin/env bash
# bench/relational/sort_output.sh BUILD_DIR: the sort and output shapes of issue 22 over the
# generated CSV of run.sh (gen.c: id, category, region, amount, qty, note; 3M rows by default),
# each a whole process: fql against DuckDB and Polars (node APIs, sort_peers.mjs), runs alternated
# between the tools, the median time and the peak RSS of that run per tool and shape.
#   sort:   every row ordered by category, amount desc, written to a CSV file
#   top:    order by category, amount desc | limit 100, printed as CSV
#   filter: where amount > 500 (half the rows) printed as CSV to standard output (a file)
#   spill:  fql's sort with set memory_limit = "100MB" (sorted runs on disk, merged)
#   (fql-1: the sort with `set threads = 1`; its file must equal the threaded sort's)
#   start:  one row printed: fql -c 'values [{a: 1}] | select a'; the peers' start includes node's;
#           sqlite3 :memory: 'select 1' for reference
# Prints: shape, tool, median seconds, peak RSS MB, fql time / faster peer's time.
#   BENCH_DIR, BENCH_ROWS (3000000), BENCH_RUNS (3) as run.sh
set -euo pipefail
BUILD=$(cd "${1:-build}" && pwd)
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/csv_data.sh"

PEERS=$HERE/sort_peers.mjs
Q_SORT='from csv("'$DATA'") | order by category, amount desc'
argv_of() {  # argv_of TOOL SHAPE: the command of one measurement, into the array argv
  case $1:$2 in
    fql:sort)   argv=("$BUILD/fql" -c "$Q_SORT | write csv(\"$DIR/sorted-fql.csv\", mode: \"overwrite\")") ;;
    fql-1:sort) argv=("$BUILD/fql" -c "set threads = 1; $Q_SORT | write csv(\"$DIR/sorted-fql-1.csv\", mode: \"overwrite\")") ;;
    fql:spill)  argv=("$BUILD/fql" -c "set memory_limit = \"100MB\"; $Q_SORT | write csv(\"$DIR/spilled-fql.csv\", mode: \"overwrite\")") ;;
    fql:top)    argv=("$BUILD/fql" --format csv -c "$Q_SORT | limit 100") ;;
    fql:filter) argv=("$BUILD/fql" --format csv -c "from csv(\"$DATA\") | where amount > 500") ;;
    fql:start)  argv=("$BUILD/fql" -c "values [{a: 1}] | select a") ;;
    sqlite3:start) argv=(sqlite3 :memory: "select 1") ;;
    *:sort)     argv=(node "$PEERS" "$1" sort "$DATA" "$DIR/sorted-$1.csv") ;;
    *:start)    argv=(node "$PEERS" "$1" start) ;;
    *)          argv=(node "$PEERS" "$1" "$2" "$DATA") ;;
  esac
}
: >"$DIR/sort-results"
run_one() {  # run_one TOOL SHAPE: one run, its seconds and peak RSS appended to sort-results
  local -a argv; argv_of "$1" "$2"
  if ! /usr/bin/time -f "%e %M" -o "$DIR/time.txt" "${argv[@]}" >"$DIR/out-$1-$2" 2>"$DIR/err.txt"; then
    echo "bench: $1 $2 failed: $(tail -3 "$DIR/err.txt")" >&2; return
  fi
  read -r sec kb <"$DIR/time.txt"
  echo "$2 $1 $sec $((kb / 1024))" >>"$DIR/sort-results"
}
for ((i = 0; i < RUNS; i++)); do
  for shape in sort top filter start; do
    for tool in fql duckdb polars; do run_one "$tool" "$shape"; done
  done
  run_one fql spill
  run_one fql-1 sort
  run_one sqlite3 start
done

# the tools agree: the same rows sorted (ties may differ: fql's sort is stable), 100 top rows, the filter's rows
f=()
for t in fql duckdb polars; do
  n=$(wc -l <"$DIR/sorted-$t.csv"); [[ $n == $((ROWS + 1)) ]] || echo "bench: $t sort wrote $n lines" >&2
  n=$(wc -l <"$DIR/out-$t-filter"); f[${#f[@]}]="$t=$((n - 1))"
done
cmp -s "$DIR/sorted-fql.csv" "$DIR/spilled-fql.csv" || echo "bench: fql's spilled sort differs from its in-memory sort" >&2
cmp -s "$DIR/sorted-fql.csv" "$DIR/sorted-fql-1.csv" || echo "bench: fql's sort on one thread differs from its sort on threads" >&2
echo "data: $DATA ($ROWS rows); median of $RUNS alternating runs; filter rows printed: ${f[*]}"
awk '
  { k = $1 " " $2; n[k]++; t[k, n[k]] = $3; m[k, n[k]] = $4; if (!(k in seen)) { seen[k] = 1; order[++no] = k } }
  END {
    for (i = 1; i <= no; i++) {
      k = order[i]; c = n[k]
      for (a = 1; a <= c; a++) for (b = a + 1; b <= c; b++) if (t[k, b] < t[k, a]) { x = t[k, a]; t[k, a] = t[k, b]; t[k, b] = x; x = m[k, a]; m[k, a] = m[k, b]; m[k, b] = x }
      mid = int((c + 1) / 2); med[k] = t[k, mid]; mem[k] = m[k, mid]
    }
    printf "%-7s %-8s %8s %8s %16s\n", "shape", "tool", "seconds", "RSS MB", "fql/faster peer"
    for (i = 1; i <= no; i++) {
      k = order[i]; split(k, p, " "); r = "-"
      if (p[2] == "fql") {
        s = p[1] == "spill" ? "sort" : p[1]; best = ""
        for (j = 1; j <= no; j++) { split(order[j], q, " "); if (q[1] == s && (q[2] == "duckdb" || q[2] == "polars") && (best == "" || med[order[j]] < best)) best = med[order[j]] }
        if (best != "" && best > 0) r = sprintf("%.2fx", med[k] / best)
      }
      printf "%-7s %-8s %8s %8s %16s\n", p[1], p[2], med[k], mem[k], r
    }
  }' "$DIR/sort-results"
