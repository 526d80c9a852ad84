// sort_peers.mjs: the DuckDB and Polars sides of sort_output.sh, each run as a whole process.
// usage: node sort_peers.mjs duckdb|polars sort|top|filter|start DATA.csv [OUT.csv]
//   sort: every row ordered by category, amount desc, written to OUT.csv
//   top: the first 100 rows in that order, printed as CSV
//   filter: the rows with amount > 500, printed as CSV to standard output
//   start: one row, printed (start-up)
const [tool, task, data, out] = process.argv.slice(2);
const lit = (s) => "'" + s.replace(/'/g, "''") + "'";
const write = (s) => new Promise((ok) => (process.stdout.write(s) ? ok() : process.stdout.once('drain', ok)));

if (tool === 'duckdb') {
  const { DuckDBInstance } = await import('@duckdb/node-api');
  const db = await DuckDBInstance.create(':memory:');
  const con = await db.connect();
  const src = data ? `read_csv_auto(${lit(data)})` : '';
  if (task === 'sort') {
    await con.run(`COPY (SELECT * FROM ${src} ORDER BY category, amount DESC) TO ${lit(out)} (HEADER, DELIMITER ',')`);
  } else if (task === 'top' || task === 'filter') {
    const q = task === 'top' ? `SELECT * FROM ${src} ORDER BY category, amount DESC LIMIT 100`
                             : `SELECT * FROM ${src} WHERE amount > 500`;
    const result = await con.stream(q);   // chunk by chunk, as a printing client would
    await write(result.columnNames().join(',') + '\n');
    for (;;) {
      const chunk = await result.fetchChunk();
      if (!chunk || chunk.rowCount === 0) break;
      await write(chunk.getRows().map((r) => r.map((v) => (v === null ? '' : String(v))).join(',')).join('\n') + '\n');
    }
  } else {
    const r = await con.runAndReadAll('SELECT 1 AS a');
    await write('a\n' + r.getRows()[0][0] + '\n');
  }
} else if (tool === 'polars') {
  const pl = (await import('nodejs-polars')).default;
  if (task === 'sort') {
    pl.readCSV(data).sort(['category', 'amount'], [false, true], false, true).writeCSV(out);
  } else if (task === 'top') {
    const df = await pl.scanCSV(data).sort(['category', 'amount'], [false, true], false, true).limit(100).collect();
    await write(df.writeCSV().toString());
  } else if (task === 'filter') {
    const df = await pl.scanCSV(data).filter(pl.col('amount').gt(500)).collect();
    await write(df.writeCSV().toString());
  } else {
    await write(pl.DataFrame({ a: [1] }).writeCSV().toString());
  }
} else {
  console.error('usage: node sort_peers.mjs duckdb|polars sort|top|filter|start DATA.csv [OUT.csv]');
  process.exit(2);
}
