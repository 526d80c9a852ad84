// The benchmark's peer: the same 5,000 extractions sent with the official openai SDK (default
// retries: 2, honouring retry-after) and p-limit, as a careful user would write it. Prints one JSON
// line: {"ok", "lost", "seconds"}. usage: node sdk.mjs N CONCURRENCY (OPENAI_BASE_URL set)
import OpenAI from 'openai';
import pLimit from 'p-limit';

const n = Number(process.argv[2] || 5000), conc = Number(process.argv[3] || 25);
const words = ['alpha', 'bravo', 'charlie', 'delta', 'echo', 'foxtrot', 'golf', 'hotel',
               'india', 'juliet', 'kilo', 'lima', 'mike', 'november', 'oscar', 'papa'];
function ticket(i) {       // the same text as fql_bench.c
  let s = `Ticket ${i}:`;
  for (let k = 0; s.length < 160; k++) s += ' ' + words[(i * 7 + k * 3) % 16];
  return s;
}
const schema = {
  type: 'object',
  properties: {
    customer: { type: 'string' },
    priority: { type: 'string', enum: ['low', 'normal', 'high'] },
    urgent: { type: 'boolean' },
  },
  required: ['customer', 'priority', 'urgent'],
  additionalProperties: false,
};
const client = new OpenAI({ apiKey: process.env.OPENAI_API_KEY || 'sk-bench', baseURL: process.env.OPENAI_BASE_URL });
const limit = pLimit(conc);
let ok = 0, lost = 0;
const t0 = performance.now();
await Promise.all(Array.from({ length: n }, (_, i) => limit(async () => {
  try {
    const r = await client.chat.completions.create({
      model: 'gpt-4o-mini',
      messages: [{ role: 'system', content: 'Extract the fields of the support ticket.' },
                 { role: 'user', content: ticket(i) }],
      response_format: { type: 'json_schema', json_schema: { name: 'ticket', strict: true, schema } },
    });
    JSON.parse(r.choices[0].message.content);
    ok++;
  } catch (e) {
    lost++;
  }
})));
console.log(JSON.stringify({ ok, lost, seconds: (performance.now() - t0) / 1000 }));
