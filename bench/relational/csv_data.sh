# bench/relational/csv_data.sh: what run.sh and sort_output.sh share, sourced after BUILD and HERE
# are set: the settings (BENCH_DIR, BENCH_ROWS, BENCH_RUNS), the tools they need, the generated CSV
# (gen.c, made once per row count and reused) and the peers' npm packages. Sets DIR, ROWS, RUNS,
# DATA.
DIR=${BENCH_DIR:-${TMPDIR:-/tmp}/fql-bench-relational}
ROWS=${BENCH_ROWS:-3000000}
RUNS=${BENCH_RUNS:-3}
mkdir -p "$DIR"
DATA=$DIR/data-$ROWS.csv
for need in /usr/bin/time sqlite3 node npm cc; do
  command -v "$need" >/dev/null || { echo "bench: $need is missing (apt-get install time sqlite3 nodejs npm gcc)" >&2; exit 1; }
done
[[ -x $BUILD/fql ]] || { echo "bench: $BUILD/fql not built (run make)" >&2; exit 1; }
if [[ ! -s $DATA ]]; then
  cc -O2 -o "$DIR/gen" "$HERE/gen.c"
  echo "generating $ROWS rows into $DATA ..." >&2
  "$DIR/gen" "$DATA.tmp" "$ROWS" && mv "$DATA.tmp" "$DATA"
fi
# npm install, not npm ci: the lock file cannot list nodejs-polars's versionless optional packages
if [[ ! -d $HERE/node_modules/nodejs-polars || ! -d $HERE/node_modules/@duckdb/node-api ]]; then
  (cd "$HERE" && npm install --no-audit --no-fund --silent)
fi
