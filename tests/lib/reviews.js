// Generated reviews with known facts, shared by the tests and benchmarks that use fql-sim's facts
// mode (tests/sim/README.md). Writes a CSV and the simulator's facts file.
// usage: node tests/lib/reviews.js short N CSV FACTS [ERROR_RATES_JSON]
//          N one-sentence reviews "Review i: ..." (columns n,t), sentiment positive or negative
//        node tests/lib/reviews.js films N CSV FACTS [ERROR_RATES_JSON]
//          N film reviews (columns id,t,sentiment,topic), with a sentiment and one of five topics
const fs = require("fs");
const [kind, nArg, csv, facts, rates] = process.argv.slice(2);
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
  rows.push("id,t,sentiment,topic");
  for (let i = 0; i < n; i++) {
    const s = ((i * 2654435761) >>> 7) % 2 ? "positive" : "negative";
    const t = `Review ${i}: the ${topics[i % 5]} was ${adj[s][(i >> 1) % 4]} in this film.`;
    texts[t] = { sentiment: s, topic: topics[i % 5] };
    rows.push(`${i},${t},${s},${topics[i % 5]}`);
  }
} else {
  console.error("reviews.js: the kind is short or films");
  process.exit(2);
}
const doc = { texts };
if (rates) doc.error_rate = JSON.parse(rates);
fs.writeFileSync(facts, JSON.stringify(doc));
fs.writeFileSync(csv, rows.join("\n") + "\n");
