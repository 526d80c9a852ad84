#!/usr/bin/env bash
# bench/relational/all.sh BUILD_DIR: issue 22's whole comparison in one run: every shape of
# engine.sh (strings, join, count(distinct), group by, over Parquet) and of sort_output.sh (a full
# sort written to CSV, top-N, a filter printed to standard output, start-up; fql's spilled sort),
# at each size of BENCH_SIZES (default 3,000,000 and 10,000,000 rows), fql against DuckDB and
# Polars. Then one table: per size and shape, fql's median seconds and peak MB, the faster peer's,
# the ratio, and whether fql is no slower (within 5%, the runs' noise) and under 200 MB wherever
# a peer is (issue 22's rule; a sort may spill, `set memory_limit`: the spill row is fql's sort
# under 100 MB).
#   BENCH_SIZES  row counts (default "3000000 10000000")
#   BENCH_RUNS   runs per measurement (default 3; the median is reported)
# The sizes' data are generated once into the scripts' BENCH_DIRs and reused.
set -euo pipefail
BUILD=$(cd "${1:-build}" && pwd)
HERE=$(cd "$(dirname "$0")" && pwd)
SIZES=${BENCH_SIZES:-3000000 10000000}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

echo "load before: $(cut -d' ' -f1-3 /proc/loadavg), $(nproc) cores"
for rows in $SIZES; do
  echo "== $rows rows: engine shapes"
  BENCH_ROWS=$rows bash "$HERE/engine.sh" "$BUILD" | tee "$out/engine-$rows"
  echo "== $rows rows: sort and output"
  BENCH_ROWS=$rows bash "$HERE/sort_output.sh" "$BUILD" | tee "$out/sort-$rows"
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"

# records "rows shape tool seconds mb" from both tables (engine: shape tool seconds cpu mb ...;
# sort_output: shape tool seconds mb ...)
for rows in $SIZES; do
  awk -v r="$rows" '$2 ~ /^(fql|duckdb|polars)$/ && $3 ~ /^[0-9.]+$/ { print r, $1, $2, $3, $5 }' "$out/engine-$rows"
  awk -v r="$rows" '$2 ~ /^(fql|duckdb|polars)$/ && $3 ~ /^[0-9.]+$/ { print r, $1, $2, $3, $4 }' "$out/sort-$rows"
done >"$out/records"

echo
echo "| rows | shape | fql s | fql MB | faster peer | peer s | peer MB (min) | fql / peer | verdict |"
echo "| ---: | --- | ---: | ---: | --- | ---: | ---: | ---: | --- |"
awk '
  { k = $1 " " $2; if (!(k in seen)) { seen[k] = 1; order[++n] = k }
    if ($3 == "fql") { fs[k] = $4; fm[k] = $5 }
    else { if (!(k in ps) || $4 < ps[k]) { ps[k] = $4; pn[k] = $3 }; if (!(k in pm) || $5 < pm[k]) pm[k] = $5 } }
  END {
    bad = 0
    for (i = 1; i <= n; i++) {
      k = order[i]; split(k, a, " ")
      if (!(k in fs)) continue
      if (!(k in ps)) { printf "| %s | %s | %s | %s | - | - | - | - | fql only |\n", a[1], a[2], fs[k], fm[k]; continue }
      ratio = ps[k] > 0 ? fs[k] / ps[k] : 0
      fast = fs[k] <= ps[k] * 1.05 || fs[k] - ps[k] < 0.02
      memok = fm[k] <= 200 || pm[k] > 200   # under 200 MB wherever a peer is
      v = fast && memok ? "ok" : (!fast ? "slower" : "") (!fast && !memok ? ", " : "") (!memok ? "memory" : "")
      bad += v != "ok"
      printf "| %s | %s | %.2f | %d | %s | %.2f | %d | %.2fx | %s |\n", a[1], a[2], fs[k], fm[k], pn[k], ps[k], pm[k], ratio, v
    }
    printf "\n%d of the shapes miss (slower than the faster peer by more than 5%%, or over the memory rule)\n", bad
  }' "$out/records"
