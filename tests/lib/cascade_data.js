// Generated rows with known answers for the cascade tests and bench (tests/runtime/cascade.sh,
// bench/cascades/run.sh), as fql-sim's facts mode reads them (tests/sim/README.md).
// usage: node tests/lib/cascade_data.js N SEED CSV FACTS [ERROR_RATES_JSON]
//   N rows id,t,sentiment,topic: a sentiment (positive or negative, about half each) and one of
//   four topics (plot, acting, music, ending). SEED goes into every text, so the simulator's
//   error draws (a hash of the model and the text) fall on other rows for another seed.
const fs = require("fs");
const [nArg, seedArg, csv, facts, rates] = process.argv.slice(2);
const n = +nArg, seed = +seedArg;
const words = { positive: ["wonderful", "a delight", "moving", "brilliant"], negative: ["dull", "a mess", "tedious", "clumsy"] };
const topics = ["plot", "acting", "music", "ending"];
const texts = {}, rows = ["id,t,sentiment,topic"];
let h = (seed * 2654435761 + 12345) >>> 0;
const next = () => { h ^= h << 13; h >>>= 0; h ^= h >>> 17; h ^= h << 5; h >>>= 0; return h; };
for (let i = 0; i < n; i++) {
  const s = next() % 2 ? "positive" : "negative", topic = topics[next() % 4], w = words[s][next() % 4];
  const t = `Note ${seed}-${i}: the ${topic} was ${w}`;
  texts[t] = { sentiment: s, topic };
  rows.push(`${i},${t},${s},${topic}`);
}
fs.writeFileSync(csv, rows.join("\n") + "\n");
const doc = { texts };
if (rates) doc.error_rate = JSON.parse(rates);
fs.writeFileSync(facts, JSON.stringify(doc));
