// The least share of rows a cascade could leave to the strong model if every answer were known
// (bench/cascades/run.sh): over every threshold on the cheap model's confidence (for a predicate,
// one for "true" answers and one for "false"), the smallest share of rows below them such that the
// output (the cheap answer above, the strong answer below) meets the targets against the strong
// model's answers. No sample, no bound: what the answer needs, to set beside what the guarantee
// costs.
// usage: node oracle.js predicate CHEAP.csv STRONG.csv PRECISION RECALL
//        node oracle.js classify CHEAP.csv STRONG.csv ACCURACY
// CHEAP.csv: id,answer,confidence (the cheap model alone); STRONG.csv: id,...,answer (column given below)
const fs = require("fs");
const [kind, cheapCsv, strongCsv, a, b] = process.argv.slice(2);
const read = f => fs.readFileSync(f, "utf8").trim().split("\n").slice(1).map(l => l.split(","));
const cheap = read(cheapCsv), strong = new Map(read(strongCsv).map(r => [r[0], kind === "predicate" ? r[1] : r[2]]));
const rows = cheap.map(r => ({ ans: r[1], conf: r[2] === "" ? -1 : +r[2], s: strong.get(r[0]) }));
const n = rows.length;
const cuts = [...new Set(rows.map(r => r.conf))].sort((x, y) => x - y).concat([Infinity]);
let best = 1;
if (kind === "classify") {
  for (const t of cuts) {   // the loosest threshold that meets the target sends the fewest rows
    let wrong = 0, below = 0;
    for (const r of rows) { if (r.conf >= t) wrong += r.ans !== r.s; else below++; }
    if (1 - wrong / n >= +a) { best = below / n; break; }
  }
} else {
  const pos = rows.filter(r => r.s === "true").length;
  const T = rows.filter(r => r.ans === "true").sort((x, y) => x.conf - y.conf);
  const F = rows.filter(r => r.ans !== "true").sort((x, y) => x.conf - y.conf);
  // F's rows below cut j (the j least confident) go to the strong model: its positives among them
  const fpos = [0];
  for (const r of F) fpos.push(fpos[fpos.length - 1] + (r.s === "true"));
  for (let i = 0; i <= T.length; i++) {   // T's i least confident rows go to the strong model
    let tp = 0, fp = 0;
    for (let k = 0; k < T.length; k++) { if (k >= i && T[k].s !== "true") fp++; else tp += T[k].s === "true"; }
    if (i > 0 && i < T.length && T[i].conf === T[i - 1].conf) continue;   // a threshold cuts between distinct confidences
    for (let j = 0; j <= F.length; j++) {   // the fewest F rows that meet both targets
      if (j > 0 && j < F.length && F[j].conf === F[j - 1].conf) continue;
      const ftp = fpos[j], prec = tp + fp + ftp ? (tp + ftp) / (tp + fp + ftp) : 1, rec = pos ? (tp + ftp) / pos : 1;
      if (prec >= +a && rec >= +b) { best = Math.min(best, (i + j) / n); break; }
    }
  }
}
console.log(best.toFixed(3));
