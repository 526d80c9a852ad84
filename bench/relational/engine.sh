#!/usr/bin/env bash
# bench/relational/engine.sh BUILD_DIR: the engine shapes of issue 22 on a generated fact table
# (BENCH_ROWS, default 3,000,000 rows) and a 100,000-row dimension, read from Parquet, each as a
# whole process in fql, DuckDB and Polars (their npm packages), runs alternating between the tools.
# Prints per shape and tool: the median wall seconds, the CPU seconds (user + system) and peak RSS
# (MB) of that run, and wall time / the faster peer's (DuckDB or Polars).
#   BENCH_DIR   where the data goes (default ${TMPDIR:-/tmp}/fql-bench-engine)
#   BENCH_ROWS  fact rows (default 3000000)
#   BENCH_RUNS  runs per measurement (default 3; the median is reported)
#   BENCH_TASKS which shapes (default "strings join distinct group")
#   BENCH_BASE  another build directory, measured as tool "fql-base" in the same runs (before/after)
# fql runs with its default threads (every core) and, as tool "fql-1", with `set threads = 1`.
set -euo pipefail
BUILD=$(cd "${1:-build}" && pwd)
HERE=$(cd "$(dirname "$0")" && pwd)
DIR=${BENCH_DIR:-${TMPDIR:-/tmp}/fql-bench-engine}
ROWS=${BENCH_ROWS:-3000000}
RUNS=${BENCH_RUNS:-3}
TASKS=${BENCH_TASKS:-strings join distinct group}
BASE=${BENCH_BASE:+$(cd "$BENCH_BASE" && pwd)}
TOOLS="fql fql-1${BASE:+ fql-base} duckdb polars"
mkdir -p "$DIR"
FACT=$DIR/fact-$ROWS.parquet DIM=$DIR/dim-$ROWS.parquet

for need in /usr/bin/time node npm cc; do
  command -v "$need" >/dev/null || { echo "bench: $need is missing (apt-get install time nodejs npm gcc)" >&2; exit 1; }
done
[[ -x $BUILD/fql ]] || { echo "bench: $BUILD/fql not built (run make)" >&2; exit 1; }
if [[ ! -d $HERE/node_modules/@duckdb/node-api || ! -d $HERE/node_modules/nodejs-polars-linux-x64-gnu ]]; then
  (cd "$HERE" && npm install --no-audit --no-fund --silent)
fi
if [[ ! -s $FACT || ! -s $DIM ]]; then
  cc -O2 -o "$DIR/gen_engine" "$HERE/gen_engine.c"
  echo "generating $ROWS rows into $DIR ..." >&2
  "$DIR/gen_engine" "$DIR/fact.csv" "$DIR/dim.csv" "$ROWS"
  node "$HERE/peers.mjs" prep "$DIR/fact.csv" "$DIR/dim.csv" "$FACT.tmp" "$DIM.tmp"
  mv "$FACT.tmp" "$FACT" && mv "$DIM.tmp" "$DIM" && rm -f "$DIR/fact.csv" "$DIR/dim.csv"
fi

fql_query() {
  case $1 in
    strings) echo "from parquet(\"$FACT\") | agg la = sum(length(lower(s))), nc = sum(case when contains(s, \"ta\") then 1 else 0 end), lr = sum(length(regexp_replace(s, \"[aeiou]+\", \"-\")))" ;;
    join) echo "from parquet(\"$FACT\") | join parquet(\"$DIM\") on k == dk | group by cat agg n = count(*), t = sum(x) | order by cat" ;;
    distinct) echo "from parquet(\"$FACT\") | group by grp agg n = count(distinct k) | order by grp" ;;
    group) echo "from parquet(\"$FACT\") | group by grp agg n = count(*), t = sum(x), m = avg(x) | order by grp" ;;
  esac
}

# run TOOL TASK: one run; appends "TOOL TASK seconds rss_mb" to $DIR/runs and keeps the output
run() {
  local tool=$1 task=$2
  local cmd=(node "$HERE/peers.mjs" "$tool" "$task" "$FACT" "$DIM")
  [[ $tool == fql ]] && cmd=("$BUILD/fql" --format csv -c "$(fql_query "$task")")
  [[ $tool == fql-1 ]] && cmd=("$BUILD/fql" --format csv -c "set threads = 1; $(fql_query "$task")")
  [[ $tool == fql-base ]] && cmd=("$BASE/fql" --format csv -c "$(fql_query "$task")")
  if ! /usr/bin/time -v -o "$DIR/time.txt" "${cmd[@]}" >"$DIR/out-$tool-$task.txt" 2>"$DIR/stderr.txt"; then
    echo "bench: $tool $task failed:" >&2; tail -5 "$DIR/stderr.txt" >&2; exit 1
  fi
  awk -v tool="$tool" -v task="$task" -F': ' '
    /Elapsed \(wall clock\)/ { n = split($2, p, ":"); s = 0; for (k = 1; k <= n; k++) s = s * 60 + p[k] }
    /Maximum resident set size/ { r = $2 / 1024 }
    /User time \(seconds\)|System time \(seconds\)/ { cpu += $2 }
    END { printf "%s %s %.2f %.0f %.2f\n", tool, task, s, r, cpu }' "$DIR/time.txt" >>"$DIR/runs"
}

: >"$DIR/runs"
for task in $TASKS; do
  for ((i = 0; i < RUNS; i++)); do for tool in $TOOLS; do run "$tool" "$task"; done; done
  # the three must agree (numbers to a relative 1e-9: float sums differ in the last digits; fql prints a header)
  # one thread and all cores: the same bytes
  cmp -s "$DIR/out-fql-$task.txt" "$DIR/out-fql-1-$task.txt" || { echo "bench: fql with threads 1 and fql disagree on $task" >&2; exit 1; }
  for tool in duckdb polars; do
    if ! tail -n +2 "$DIR/out-fql-$task.txt" | paste -d"|" - "$DIR/out-$tool-$task.txt" | awk -F"|" '
        { na = split($1, a, ","); nb = split($2, b, ","); if (na != nb) exit 1
          for (i = 1; i <= na; i++) if (a[i] != b[i] && !(a[i] ~ /^-?[0-9.]+$/ && (a[i] - b[i]) ^ 2 <= 1e-18 * b[i] ^ 2)) exit 1 }'; then
      echo "bench: fql and $tool disagree on $task (see $DIR/out-*-$task.txt)" >&2; exit 1
    fi
  done
done
echo "data: $FACT ($ROWS rows) and a 100,000-row dimension; median of $RUNS runs, alternating; results agree"
sort -k2,2 -k1,1 -k3,3n "$DIR/runs" | awk '
  { key = $2 " " $1; n[key]++; t[key, n[key]] = $3; m[key, n[key]] = $4; u[key, n[key]] = $5; if (!($2 in seen)) { seen[$2] = 1; order[++nt] = $2 }
    if (!($1 in tseen)) { tseen[$1] = 1; tools[++ntools] = $1 } }
  function med(a, key,   c) { c = n[key]; return a[key, int((c + 1) / 2)] }
  END {
    printf "%-9s %-9s %8s %8s %8s %15s\n", "shape", "tool", "seconds", "cpu s", "peak MB", "vs faster peer"
    for (i = 1; i <= nt; i++) {
      s = order[i]; d = med(t, s " duckdb"); p = med(t, s " polars"); best = d < p ? d : p
      for (j = 1; j <= ntools; j++) {
        k = s " " tools[j]; if (!(k in n)) continue
        printf "%-9s %-9s %8.2f %8.2f %8s %14.2fx\n", s, tools[j], med(t, k), med(u, k), med(m, k), (best > 0 ? med(t, k) / best : 0)
      }
    }
  }'
