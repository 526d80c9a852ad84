// duckdb.mjs: the DuckDB side of the benchmark, run as a whole process like the others.
// usage: node duckdb.mjs filter|group DATA.csv [OUT.csv]
import { DuckDBInstance } from '@duckdb/node-api';

const [task, data, out] = process.argv.slice(2);
const lit = (s) => "'" + s.replace(/'/g, "''") + "'";
const db = await DuckDBInstance.create(':memory:');
const con = await db.connect();
if (task === 'filter') {
  await con.run(`COPY (SELECT * FROM read_csv_auto(${lit(data)}) WHERE amount > 500 AND region = 'eu')
                 TO ${lit(out)} (HEADER, DELIMITER ',')`);
} else if (task === 'group') {
  const reader = await con.runAndReadAll(`SELECT category, count(*) AS n, sum(amount) AS total, avg(amount) AS mean
                                          FROM read_csv_auto(${lit(data)}) GROUP BY category`);
  const rows = reader.getRows();
  for (const r of rows) process.stdout.write(r.join(',') + '\n');
} else {
  console.error('usage: node duckdb.mjs filter|group DATA.csv [OUT.csv]');
  process.exit(2);
}
