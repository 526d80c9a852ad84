// Generated reviews with known facts, shared by the tests and benchmarks that use fql-sim's facts
// mode (tests/sim/README.md). Writes a CSV and the simulator's facts file.
// usage: node tests/lib/reviews.js short N CSV FACTS [ERROR_RATES_JSON]
//          N one-sentence reviews "Review i: ..." (columns n,t), sentiment positive or negative
//        node tests/lib/reviews.js films N CSV FACTS [ERROR_RATES_JSON]
//          N film reviews (columns id,t,sentiment,topic,score): a sentiment, one of five topics, a
//          1-5 score that follows the sentiment, language "en"
//        node tests/lib/reviews.js pairs OUT K [COL] [REL]
//          precision, recall and F1 of the pairs "a,b" listed in the CSV OUT (after its header)
//          against the pairs of the first K rows of reviews.csv whose column COL (1-based,
//          default 3: sentiment) stands in relation REL: eq (default), ne, gt or lt (a's
//          against b's; gt and lt compare numbers)
const fs = require("fs");
const [kind, nArg, csv, facts, rates] = process.argv.slice(2);
if (kind === "pairs") {
  const out = nArg, k = +csv, col = (+facts || 3) - 1, rel = rates || "eq";
  const holds = { eq: (x, y) => x === y, ne: (x, y) => x !== y, gt: (x, y) => +x > +y, lt: (x, y) => +x < +y }[rel];
  const truth = fs.readFileSync("reviews.csv", "utf8").trim().split("\n").slice(1).map(l => l.split(",")[col]);
  const got = new Set(fs.readFileSync(out, "utf8").trim().split("\n").slice(1));
  let tp = 0, fp = 0, fn = 0;
  for (let a = 0; a < k; a++) for (let b = 0; b < k; b++) {
    const want = holds(truth[a], truth[b]), has = got.has(`${a},${b}`);
    if (want && has) tp++; else if (has) fp++; else if (want) fn++;
  }
  const p = tp / (tp + fp || 1), r = tp / (tp + fn || 1);
  console.log(p.toFixed(3), r.toFixed(3), (p + r ? 2 * p * r / (p + r) : 0).toFixed(3));
  process.exit(0);
}
const n = +nArg, texts = {}, rows = [];
if (kind === "short") {
  rows.push("n,t");
  for (let i = 1; i <= n; i++) {
    const t = i * 37 % 5 < 2 ? `Review ${i}: a wonderful cast and a moving story.` : `Review ${i}: the plot was dull and the pacing slow.`;
    texts[t] = { sentiment: /wonderful/.test(t) ? "positive" : "negative" };
    rows.push(`${i},${t}`);
  }
} else if (kind === "films") {
  const adj = { positive: ["wonderful", "a delight", "moving", "brilliant"], negative: ["dull", "a mess", "tedious", "clumsy"] };
  const topics = ["plot", "acting", "music", "pacing", "ending"];
  rows.push("id,t,sentiment,topic,score");
  for (let i = 0; i < n; i++) {
    const s = ((i * 2654435761) >>> 7) % 2 ? "positive" : "negative";
    const score = s === "positive" ? 4 + (i % 2) : 1 + (i % 3);
    const t = `Review ${i}: the ${topics[i % 5]} was ${adj[s][(i >> 1) % 4]} in this film.`;
    texts[t] = { sentiment: s, topic: topics[i % 5], score, language: "en" };
    rows.push(`${i},${t},${s},${topics[i % 5]},${score}`);
  }
} else {
  console.error("reviews.js: the kind is short or films");
  process.exit(2);
}
const doc = { texts };
if (rates) doc.error_rate = JSON.parse(rates);
fs.writeFileSync(facts, JSON.stringify(doc));
fs.writeFileSync(csv, rows.join("\n") + "\n");
