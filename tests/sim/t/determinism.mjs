// Deterministic answers: the rules of tests/sim/README.md, checked the way a client test would
// predict them.
import { post, configure, assert, eq, test, done, OA, AN, GE, chat, amsg, gcontent } from './lib.mjs';

await configure({});
const structured = async (text, schema) => JSON.parse((await post('/v1/chat/completions',
  chat(text, { response_format: { type: 'json_schema', json_schema: { name: 's', strict: false, schema } } }), OA)).json.choices[0].message.content);
const obj = properties => ({ type: 'object', properties, required: Object.keys(properties), additionalProperties: false });

await test('same request, same answer (every provider)', async () => {
  const a1 = await post('/v1/chat/completions', chat('What is the capital of France?'), OA);
  const a2 = await post('/v1/chat/completions', chat('What is the capital of France?'), OA);
  eq(a1.json.choices, a2.json.choices, 'openai');
  const b1 = await post('/v1/messages', amsg('What is the capital of France?'), AN);
  const b2 = await post('/v1/messages', amsg('What is the capital of France?'), AN);
  eq(b1.json.content, b2.json.content, 'anthropic');
  const g1 = await post('/v1beta/models/gemini-2.5-flash:generateContent', gcontent('What is the capital of France?'), GE);
  const g2 = await post('/v1beta/models/gemini-2.5-flash:generateContent', gcontent('What is the capital of France?'), GE);
  eq(g1.json.candidates, g2.json.candidates, 'gemini');
  const d = await post('/v1/chat/completions', chat('What is the capital of Spain?'), OA);
  assert(d.json.choices[0].message.content !== a1.json.choices[0].message.content, 'different prompt, different answer');
});

await test('golden text answer (changes here break client tests)', async () => {
  const r = await post('/v1/chat/completions', chat('The quick brown fox jumps over the lazy dog'), OA);
  eq(r.json.choices[0].message.content, 'Simulated answer: the dog brown lazy jumps.', 'answer');
});

await test('text answers use words of the prompt', async () => {
  const r = await post('/v1/chat/completions', chat('zebras giraffes elephants'), OA);
  const words = r.json.choices[0].message.content.replace(/^Simulated answer: /, '').replace(/\.$/, '').split(' ');
  assert(words.length >= 3 && words.length <= 6, 'count ' + words.length);
  assert(words.every(w => ['zebras', 'giraffes', 'elephants'].includes(w)), words.join(','));
});

await test('enum: the label mentioned most; ties and none pick the first', async () => {
  const s = obj({ c: { type: 'string', enum: ['billing', 'bug', 'feature_request'] } });
  eq((await structured('bug bug billing', s)).c, 'bug', 'most');
  eq((await structured('bug and billing', s)).c, 'billing', 'tie -> first');
  eq((await structured('nothing relevant', s)).c, 'billing', 'none -> first');
  eq((await structured('a feature request, please', s)).c, 'feature_request', 'underscore read as space');
  eq((await structured('BUGS are not bug... BUG', s)).c, 'bug', 'whole words, any case');
});

await test('booleans true on alarm words only', async () => {
  const s = obj({ flag: { type: 'boolean' } });
  for (const w of ['urgent', 'URGENTLY', 'critical', 'broken', 'outage', 'crashed', 'escalate', 'escalation', 'emergency', 'asap', 'immediately', 'severe'])
    eq((await structured(`this is ${w} now`, s)).flag, true, w);
  eq((await structured('a calm day, all good', s)).flag, false, 'calm');
});

await test('strings and numbers from a hash of text and field; bounds respected', async () => {
  const s = obj({ a: { type: 'string' }, b: { type: 'string' }, n: { type: 'integer', minimum: 10, maximum: 12 },
    x: { type: 'number', minimum: 0, maximum: 1 }, d: { type: 'string', format: 'date' }, short: { type: 'string', maxLength: 3 } });
  const v1 = await structured('alpha beta gamma delta', s), v2 = await structured('alpha beta gamma delta', s);
  eq(v1, v2, 'stable');
  assert(v1.n >= 10 && v1.n <= 12 && Number.isInteger(v1.n), 'integer bounds');
  assert(v1.x >= 0 && v1.x <= 1, 'number bounds');
  assert(/^\d{4}-\d\d-\d\d$/.test(v1.d), 'date');
  assert(v1.short.length <= 3, 'maxLength');
  assert(v1.a.split(' ').every(w => ['alpha', 'beta', 'gamma', 'delta'].includes(w)), 'words of the text');
});

await test('arrays 1..3 items; enum items are the labels mentioned; $ref and anyOf resolved', async () => {
  const s = { type: 'object', additionalProperties: false, required: ['tags', 'items', 'who'],
    properties: {
      tags: { type: 'array', items: { type: 'string', enum: ['red', 'green', 'blue'] } },
      items: { type: 'array', items: { $ref: '#/$defs/item' } },
      who: { anyOf: [{ type: 'null' }, { $ref: '#/$defs/item' }] } },
    $defs: { item: { type: 'object', additionalProperties: false, required: ['id'], properties: { id: { type: 'integer' } } } } };
  const v = await structured('blue sky, green grass, blue sea', s);
  eq(v.tags, ['blue', 'green'], 'mentioned labels, most first');
  assert(v.items.length >= 1 && v.items.length <= 3 && v.items.every(i => Number.isInteger(i.id)), JSON.stringify(v.items));
  assert(Number.isInteger(v.who.id), 'anyOf -> non-null branch');
});

await test('embeddings: same text same vector; shared words closer', async () => {
  const e = async input => (await post('/v1/embeddings', { model: 'text-embedding-3-small', input }, OA)).json.data.map(d => d.embedding);
  const [a, b] = await e(['the cat sat', 'the cat sat']);
  eq(a, b, 'same vector');
  const [x, y, z] = await e(['machine learning models', 'learning machine models today', 'banana bread']);
  const cos = (p, q) => p.reduce((s, v, i) => s + v * q[i], 0);
  assert(cos(x, y) > cos(x, z) + 0.5, `${cos(x, y)} vs ${cos(x, z)}`);
});

await test('images: one line per image from its bytes, in every provider format', async () => {
  const png = Buffer.from('not really a png, but bytes').toString('base64');
  const jpg = Buffer.from([0xff, 0xd8, 0xff, 0xe0, 1, 2, 3]).toString('base64');
  const o = await post('/v1/chat/completions', chat([{ type: 'text', text: 'Describe' },
    { type: 'image_url', image_url: { url: `data:image/png;base64,${png}` } },
    { type: 'image_url', image_url: { url: `data:image/jpeg;base64,${jpg}` } }]), OA);
  const lines = o.json.choices[0].message.content.split('\n');
  eq(lines.length, 2, 'two lines');
  assert(/^Image 1: a simulated picture of 27 bytes \(image\/png, hash [0-9a-f]{8}\)\.$/.test(lines[0]), lines[0]);
  assert(/^Image 2: a simulated picture of 7 bytes \(image\/jpeg, hash [0-9a-f]{8}\)\.$/.test(lines[1]), lines[1]);
  const a = await post('/v1/messages', amsg([{ type: 'image', source: { type: 'base64', media_type: 'image/png', data: png } },
    { type: 'image', source: { type: 'base64', media_type: 'image/jpeg', data: jpg } }, { type: 'text', text: 'Describe' }]), AN);
  eq(a.json.content[0].text, o.json.choices[0].message.content, 'anthropic: same bytes, same lines');
  const g = await post('/v1beta/models/gemini-2.5-flash:generateContent', { contents: [{ role: 'user', parts: [{ text: 'Describe' },
    { inlineData: { mimeType: 'image/png', data: png } }, { inline_data: { mime_type: 'image/jpeg', data: jpg } }] }] }, GE);
  eq(g.json.candidates[0].content.parts[0].text, o.json.choices[0].message.content, 'gemini: same bytes, same lines');
  const t = await post('/v1/chat/completions', chat([{ type: 'text', text: 'Describe' },
    { type: 'image_url', image_url: { url: `data:image/png;base64,${png}` } }]), OA);
  eq(t.json.usage.prompt_tokens - (await post('/v1/chat/completions', chat('Describe'), OA)).json.usage.prompt_tokens, 85, 'an image counts 85 tokens');
  eq((await post('/v1/chat/completions', chat([{ type: 'image_url', image_url: { url: 'data:image/png;base64,@@@' } }]), OA)).status, 400, 'openai: bad base64');
  eq((await post('/v1/messages', amsg([{ type: 'image', source: { type: 'base64', media_type: 'image/tiff', data: png } }]), AN)).status, 400, 'anthropic: tiff');
  eq((await post('/v1beta/models/gemini-2.5-flash:generateContent', { contents: [{ role: 'user', parts: [{ inlineData: { mimeType: 'image/png', data: '@@' } }] }] }, GE)).status, 400, 'gemini: bad base64');
});

done();
