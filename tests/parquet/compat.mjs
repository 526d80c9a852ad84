// compat.mjs: the DuckDB and Polars side of tests/runtime/parquet.sh.
//   node compat.mjs duckdb-write DIR      files written by DuckDB, one per codec and page version
//   node compat.mjs polars-write DIR      files written by Polars, one per codec
//   node compat.mjs duckdb-read FILE      column types, then one JSON line per row, as DuckDB reads FILE
//   node compat.mjs polars-read FILE      the same as Polars reads it
//   node compat.mjs same A B              DuckDB compares two files' rows: "same N" or how they differ
import { DuckDBInstance } from '@duckdb/node-api';

const [cmd, arg] = process.argv.slice(2);
// Polars is loaded only by the commands that use it
const pl = cmd && cmd.startsWith('polars') ? (await import('nodejs-polars')).default : null;
const lit = (s) => "'" + s.replace(/'/g, "''") + "'";

// One query, read back by fql with the same rows whatever the codec: flat columns with nulls,
// dates, timestamps, decimals, lists, structs, lists of structs.
const QUERY = `SELECT i AS id, 'name' || (i % 7) AS name,
    CASE WHEN i % 3 = 0 THEN NULL ELSE i * 1.5 END AS amount, i % 2 = 0 AS flag,
    DATE '2024-01-01' + i::INTEGER AS day, TIMESTAMP '2024-01-01 10:00:00' + INTERVAL (i) SECOND AS ts,
    CASE WHEN i % 4 = 1 THEN NULL ELSE [i, i + 1] END AS l, {'a': i, 'b': 'x' || i} AS s,
    [{'k': i, 'v': CASE WHEN i % 2 = 0 THEN 'q' END}] AS ls, (i / 4)::DECIMAL(10,2) AS dec,
    CASE WHEN i % 5 = 2 THEN NULL ELSE [[i], [], NULL] END AS nested
  FROM range(3000) t(i)`;

async function duckdb() {
  const db = await DuckDBInstance.create(':memory:');
  return db.connect();
}

function show(x) {
  if (x === null || x === undefined) return null;
  if (typeof x === 'bigint') return Number(x);
  if (Array.isArray(x)) return x.map(show);
  if (x instanceof Date) return x.toISOString();
  if (typeof x === 'object') {
    if ('items' in x && Array.isArray(x.items)) return x.items.map(show);
    if ('entries' in x && typeof x.entries === 'object') return Object.fromEntries(Object.entries(x.entries).map(([k, v]) => [k, show(v)]));
    if (typeof x.toString === 'function' && x.toString !== Object.prototype.toString) return x.toString();
    return Object.fromEntries(Object.entries(x).map(([k, v]) => [k, show(v)]));
  }
  return x;
}

if (cmd === 'duckdb-write') {
  const con = await duckdb();
  // the other types DuckDB writes: maps, UUID, unsigned, TIME, TIMESTAMPTZ, FLOAT, wide DECIMAL, ENUM, BLOB
  await con.run(`COPY (SELECT MAP {'a': 1, 'b': 2} AS m, uuid '12345678-1234-5678-1234-567812345678' AS u,
      255::UTINYINT AS ut, 4000000000::UINTEGER AS ui, 'x'::BLOB AS bl, TIME '10:11:12.5' AS tm,
      TIMESTAMPTZ '2024-01-01 00:00:00+00' AS tz, 1.5::FLOAT AS fl, 12345678901234567890.5::DECIMAL(38,2) AS big,
      'hello'::ENUM('hello', 'world') AS en, [[1, 2], [3]] AS ll, NULL::INTEGER AS nul)
    TO ${lit(`${arg}/duckdb-types.parquet`)} (FORMAT parquet)`);
  for (const codec of ['uncompressed', 'snappy', 'zstd', 'gzip'])
    for (const v of ['V1', 'V2'])
      await con.run(`COPY (${QUERY}) TO ${lit(`${arg}/duckdb-${codec}-${v}.parquet`)}
                     (FORMAT parquet, COMPRESSION ${codec}, PARQUET_VERSION ${v}, ROW_GROUP_SIZE 1000)`);
} else if (cmd === 'polars-write') {
  const df = pl.DataFrame({
    id: [0, 1, 2, 3, 4, 5].map(BigInt),
    name: ['a', null, 'c', 'a', 'a', 'été'],
    amount: [1.5, null, -2.25, 1e10, 0, 3],
    flag: [true, false, null, true, true, false],
    l: [[1, 2], [], null, [3], [4, 5, 6], [7]],
  }).withColumns(
    pl.col('l').cast(pl.List(pl.Int64)),
    pl.lit(19000).cast(pl.Date).alias('day'),
    pl.col('id').mul(1000000).cast(pl.Datetime('us')).alias('ts'),
  );
  for (const codec of ['uncompressed', 'snappy', 'gzip', 'zstd'])
    df.writeParquet(`${arg}/polars-${codec}.parquet`, { compression: codec });
} else if (cmd === 'duckdb-read') {
  const con = await duckdb();
  const types = await con.runAndReadAll(`SELECT column_name, column_type FROM (DESCRIBE SELECT * FROM read_parquet(${lit(arg)}))`);
  console.log(types.getRows().map((r) => `${r[0]} ${r[1]}`).join(', '));
  const rows = await con.runAndReadAll(`SELECT * FROM read_parquet(${lit(arg)})`);
  const names = rows.columnNames();
  for (const r of rows.getRows()) console.log(JSON.stringify(Object.fromEntries(r.map((v, i) => [names[i], show(v)]))));
} else if (cmd === 'polars-read') {
  const df = pl.readParquet(arg);
  console.log(df.columns.map((c) => `${c} ${df.getColumn(c).dtype}`).join(', '));
  for (const r of df.toRecords()) console.log(JSON.stringify(Object.fromEntries(Object.entries(r).map(([k, v]) => [k, show(v)]))));
} else if (cmd === 'same') {
  const con = await duckdb();
  const b = process.argv[4];
  const q = async (sql) => Number((await con.runAndReadAll(sql)).getRows()[0][0]);
  const n = await q(`SELECT count(*) FROM read_parquet(${lit(arg)})`);
  const onlyA = await q(`SELECT count(*) FROM (FROM read_parquet(${lit(arg)}) EXCEPT ALL FROM read_parquet(${lit(b)}))`);
  const onlyB = await q(`SELECT count(*) FROM (FROM read_parquet(${lit(b)}) EXCEPT ALL FROM read_parquet(${lit(arg)}))`);
  console.log(onlyA || onlyB ? `differ: ${onlyA} rows only in the first, ${onlyB} only in the second` : `same ${n}`);
} else {
  console.error('usage: node compat.mjs duckdb-write|polars-write DIR | duckdb-read|polars-read FILE');
  process.exit(2);
}
