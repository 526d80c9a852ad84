// peers.mjs: the DuckDB and Polars sides of engine.sh, each run as a whole process like fql.
// usage: node peers.mjs prep FACT.csv DIM.csv FACT.parquet DIM.parquet   (DuckDB converts the tables)
//        node peers.mjs duckdb|polars strings|join|distinct|group FACT.parquet DIM.parquet
// Each task prints its small result as CSV lines (engine.sh compares them with fql's).
import { DuckDBInstance } from '@duckdb/node-api';

const [tool, task, fact, dim, a] = process.argv.slice(2);
const lit = (s) => "'" + s.replace(/'/g, "''") + "'";
const SQL = {
  strings: (f) => `SELECT sum(length(lower(s))) AS la, sum(CASE WHEN contains(s, 'ta') THEN 1 ELSE 0 END) AS nc,
                   sum(length(regexp_replace(s, '[aeiou]+', '-', 'g'))) AS lr FROM read_parquet(${lit(f)})`,
  join: (f, d) => `SELECT cat, count(*) AS n, sum(x) AS t FROM read_parquet(${lit(f)}) JOIN read_parquet(${lit(d)}) ON k = dk
                   GROUP BY cat ORDER BY cat`,
  distinct: (f) => `SELECT grp, count(DISTINCT k) AS n FROM read_parquet(${lit(f)}) GROUP BY grp ORDER BY grp`,
  group: (f) => `SELECT grp, count(*) AS n, sum(x) AS t, avg(x) AS m FROM read_parquet(${lit(f)}) GROUP BY grp ORDER BY grp`,
};
const print = (rows) => { for (const r of rows) process.stdout.write(r.map(String).join(',') + '\n'); };

if (tool === 'prep') {
  const db = await DuckDBInstance.create(':memory:');
  const con = await db.connect();
  const [fcsv, dcsv, fpq, dpq] = [task, fact, dim, a];   // prep takes four paths
  await con.run(`COPY (SELECT * FROM read_csv_auto(${lit(fcsv)})) TO ${lit(fpq)} (FORMAT parquet)`);
  await con.run(`COPY (SELECT * FROM read_csv_auto(${lit(dcsv)})) TO ${lit(dpq)} (FORMAT parquet)`);
} else if (tool === 'duckdb' && SQL[task]) {
  const db = await DuckDBInstance.create(':memory:');
  const con = await db.connect();
  print((await con.runAndReadAll(SQL[task](fact, dim))).getRows());
} else if (tool === 'polars' && SQL[task]) {
  const pl = (await import('nodejs-polars')).default;
  const F = pl.scanParquet(fact);
  let q;
  if (task === 'strings') {
    q = F.select(pl.col('s').str.toLowerCase().str.lengths().cast(pl.Int64).sum().alias('la'),
                 pl.col('s').str.contains('ta', true).cast(pl.Int64).sum().alias('nc'),
                 pl.col('s').str.replaceAll('[aeiou]+', '-').str.lengths().cast(pl.Int64).sum().alias('lr'));
  } else if (task === 'join') {
    q = F.join(pl.scanParquet(dim), { leftOn: 'k', rightOn: 'dk' })
         .groupBy('cat').agg(pl.len().alias('n'), pl.col('x').sum().alias('t')).sort('cat');
  } else if (task === 'distinct') {
    q = F.groupBy('grp').agg(pl.col('k').dropNulls().nUnique().alias('n')).sort('grp');
  } else {
    q = F.groupBy('grp').agg(pl.len().alias('n'), pl.col('x').sum().alias('t'), pl.col('x').mean().alias('m')).sort('grp');
  }
  const df = await q.collect();
  print(df.rows());
} else {
  console.error('usage: node peers.mjs prep FACT.csv DIM.csv FACT.parquet DIM.parquet | duckdb|polars strings|join|distinct|group FACT.parquet DIM.parquet');
  process.exit(2);
}
