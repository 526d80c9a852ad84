// duckdb.mjs: the DuckDB side of the Parquet benchmark, run as a whole process like fql.
// usage: node duckdb.mjs write DATA.csv OUT.parquet | read FILE.parquet | readall FILE.parquet OUT.csv
import { DuckDBInstance } from '@duckdb/node-api';

const [task, a, b] = process.argv.slice(2);
const lit = (s) => "'" + s.replace(/'/g, "''") + "'";
const db = await DuckDBInstance.create(':memory:');
const con = await db.connect();
if (task === 'write') {
  await con.run(`COPY (SELECT * FROM read_csv_auto(${lit(a)})) TO ${lit(b)} (FORMAT parquet, COMPRESSION zstd)`);
} else if (task === 'read') {
  const r = await con.runAndReadAll(`SELECT count(*) FROM read_parquet(${lit(a)}) WHERE amount > 500 AND region = 'eu'`);
  console.log(String(r.getRows()[0][0]));
} else if (task === 'readall') {
  await con.run(`COPY (SELECT * FROM read_parquet(${lit(a)})) TO ${lit(b)} (HEADER, DELIMITER ',')`);
} else {
  console.error('usage: node duckdb.mjs write DATA.csv OUT.parquet | read FILE.parquet | readall FILE.parquet OUT.csv');
  process.exit(2);
}
