// The official openai npm SDK (6.x) against fql-sim: chat, structured output, embeddings,
// errors and the Batch API.
import OpenAI, { toFile } from 'openai';
import { BASE, test, assert, done, simConfig, sleep, png, wav, mediaFacts } from './common.mjs';
// Node.js 18 (Debian 12's) has File in node:buffer but not as a global, which the SDK's uploads need
globalThis.File ??= (await import('node:buffer')).File;

const client = new OpenAI({ apiKey: 'sk-fidelity', baseURL: `${BASE}/v1`, maxRetries: 0, timeout: 10000 });
await simConfig({ batch_delay_ms: 300 });

await test('chat text answer', async () => {
  const c = await client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Hello SDK' }], max_completion_tokens: 50 });
  assert(c.choices[0].message.content.startsWith('Simulated answer:'), c.choices[0].message.content);
  assert(c.usage.prompt_tokens === 3 + 4 + 3, 'usage ' + JSON.stringify(c.usage));
});

await test('structured output parsed by chat.completions.parse', async () => {
  const schema = { type: 'object', additionalProperties: false, required: ['sentiment', 'urgent'],
    properties: { sentiment: { type: 'string', enum: ['positive', 'negative'] }, urgent: { type: 'boolean' } } };
  const c = await client.chat.completions.parse({ model: 'gpt-4o-mini',
    messages: [{ role: 'user', content: 'Negative, negative experience: the site is broken' }],
    response_format: { type: 'json_schema', json_schema: { name: 'review', strict: true, schema } } });
  const p = c.choices[0].message.parsed;
  assert(p && p.sentiment === 'negative' && p.urgent === true, JSON.stringify(p));
});

await test('logprobs: the SDK reads choices[0].logprobs.content, tokens spelling the answer', async () => {
  const schema = { type: 'object', additionalProperties: false, required: ['answer'], properties: { answer: { type: 'boolean' } } };
  const c = await client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Is the sky blue?' }],
    logprobs: true, top_logprobs: 2, response_format: { type: 'json_schema', json_schema: { name: 'a', strict: true, schema } } });
  const lp = c.choices[0].logprobs.content;
  assert(Array.isArray(lp) && lp.length >= 3, JSON.stringify(c.choices[0].logprobs));
  assert(lp.map(t => t.token).join('') === c.choices[0].message.content, 'tokens spell the content');
  assert(lp.every(t => typeof t.logprob === 'number' && t.logprob <= 0 && Array.isArray(t.bytes) && Array.isArray(t.top_logprobs)), 'fields');
  const v = lp.find(t => t.token === 'true' || t.token === 'false');
  assert(v && v.logprob < 0, 'the value token has a probability below 1');
});

await test('embeddings shaped', async () => {
  const e = await client.embeddings.create({ model: 'text-embedding-3-small', input: ['alpha', 'beta'], dimensions: 64 });
  assert(e.data.length === 2 && e.data[1].index === 1 && e.data[0].embedding.length === 64, 'shape');
  const e2 = await client.embeddings.create({ model: 'text-embedding-3-small', input: 'gamma' });
  assert(e2.data[0].embedding.length === 1536, 'default dim');
  const norm = Math.sqrt(e2.data[0].embedding.reduce((s, x) => s + x * x, 0));
  assert(Math.abs(norm - 1) < 1e-4, 'unit vector through base64: ' + norm);
});

await test('models list', async () => {
  const ids = [];
  for await (const m of client.models.list()) ids.push(m.id);
  assert(ids.includes('gpt-4o'), ids.join(','));
});

await test('bad key raises AuthenticationError', async () => {
  const bad = new OpenAI({ apiKey: 'sk-bad', baseURL: `${BASE}/v1`, maxRetries: 0 });
  try { await bad.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'x' }] }); throw new Error('no error'); }
  catch (e) { assert(e instanceof OpenAI.AuthenticationError && e.status === 401 && e.code === 'invalid_api_key', String(e)); }
});

await test('429 raises RateLimitError with retries off', async () => {
  await simConfig({ models: { 'gpt-4o-mini': { rpm: 60 } } });
  await client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'first' }] });
  try { await client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'second' }] }); throw new Error('no error'); }
  catch (e) {
    assert(e instanceof OpenAI.RateLimitError && e.status === 429, String(e));
    assert(e.headers.get('x-ratelimit-limit-requests') === '60', 'headers');
  }
  await simConfig({ batch_delay_ms: 300 });
});

await test('insufficient_quota raises RateLimitError with code insufficient_quota', async () => {
  await simConfig({ default: { quota_requests: 1 } });
  await client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'q' }] });
  try { await client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'q' }] }); throw new Error('no error'); }
  catch (e) { assert(e instanceof OpenAI.RateLimitError && e.code === 'insufficient_quota', String(e)); }
  await simConfig({ batch_delay_ms: 300 });
});

await test('Batch API round trip', async () => {
  const lines = ['billing', 'bug'].map((w, i) => JSON.stringify({ custom_id: `row-${i}`, method: 'POST', url: '/v1/chat/completions',
    body: { model: 'gpt-4o-mini', messages: [{ role: 'user', content: `a ${w} ${w} question` }],
      response_format: { type: 'json_schema', json_schema: { name: 'c', strict: true, schema: { type: 'object', additionalProperties: false,
        required: ['c'], properties: { c: { type: 'string', enum: ['billing', 'bug'] } } } } } } }));
  lines.push(JSON.stringify({ custom_id: 'row-bad', method: 'POST', url: '/v1/chat/completions', body: { model: 'gpt-4o-mini' } }));
  const f = await client.files.create({ file: await toFile(Buffer.from(lines.join('\n') + '\n'), 'batch.jsonl'), purpose: 'batch' });
  assert(f.id.startsWith('file-') && f.purpose === 'batch', JSON.stringify(f));
  let b = await client.batches.create({ input_file_id: f.id, endpoint: '/v1/chat/completions', completion_window: '24h' });
  assert(['validating', 'in_progress'].includes(b.status), b.status);
  for (let i = 0; i < 50 && b.status !== 'completed'; i++) { await sleep(100); b = await client.batches.retrieve(b.id); }
  assert(b.status === 'completed', 'status ' + b.status);
  assert(b.request_counts.total === 3 && b.request_counts.completed === 2 && b.request_counts.failed === 1, JSON.stringify(b.request_counts));
  const out = (await (await client.files.content(b.output_file_id)).text()).trim().split('\n').map(JSON.parse);
  const byId = Object.fromEntries(out.map(o => [o.custom_id, JSON.parse(o.response.body.choices[0].message.content).c]));
  assert(byId['row-0'] === 'billing' && byId['row-1'] === 'bug', JSON.stringify(byId));
  const err = (await (await client.files.content(b.error_file_id)).text()).trim().split('\n').map(JSON.parse);
  assert(err[0].custom_id === 'row-bad' && err[0].response.status_code === 400, JSON.stringify(err[0]));
});

await test('Batch API: x-sim-batch-delay-ms holds a batch in progress, counts move, fault rules fail lines', async () => {
  await simConfig({ batch_delay_ms: 300, models: { 'gpt-4o-mini': { fault_rules: [{ contains: 'poison', fault: '500' }] } } });
  const lines = ['one', 'two', 'three', 'poison pill'].map((w, i) => JSON.stringify({ custom_id: `r${i}`, method: 'POST',
    url: '/v1/chat/completions', body: { model: 'gpt-4o-mini', messages: [{ role: 'user', content: w }] } }));
  const f = await client.files.create({ file: await toFile(Buffer.from(lines.join('\n')), 'b.jsonl'), purpose: 'batch' });
  const t0 = Date.now();
  let b = await client.batches.create({ input_file_id: f.id, endpoint: '/v1/chat/completions', completion_window: '24h' },
    { headers: { 'x-sim-batch-delay-ms': '1200' } });
  const seen = new Set();
  for (let i = 0; i < 60 && b.status !== 'completed'; i++) {
    await sleep(100); b = await client.batches.retrieve(b.id);
    if (b.status === 'in_progress') seen.add(b.request_counts.completed);
  }
  assert(b.status === 'completed' && Date.now() - t0 >= 1100, `completed after ${Date.now() - t0} ms (wanted >= 1200)`);
  assert(seen.size >= 2, 'request_counts.completed did not move while in progress: ' + [...seen]);
  assert(b.request_counts.completed === 3 && b.request_counts.failed === 1, JSON.stringify(b.request_counts));
  const err = (await (await client.files.content(b.error_file_id)).text()).trim().split('\n').map(JSON.parse);
  assert(err.length === 1 && err[0].custom_id === 'r3' && err[0].response.status_code === 500, JSON.stringify(err));
  const st = await (await fetch(`${BASE}/sim/stats`)).json();
  assert(st.batches.created === 1 && st.batches.requests === 4, JSON.stringify(st.batches));
  await simConfig({ batch_delay_ms: 300 });
});

await test('service_tier flex: echoed; resource-unavailable 429 when flex has no capacity', async () => {
  await simConfig({ models: { 'gpt-5-mini': { flex_unavailable_n: 1 } } });
  const c0 = new OpenAI({ apiKey: 'sk-fidelity', baseURL: `${BASE}/v1`, maxRetries: 0 });
  const ask = () => c0.chat.completions.create({ model: 'gpt-5-mini', service_tier: 'flex', messages: [{ role: 'user', content: 'flex me' }] });
  try { await ask(); throw new Error('no 429'); }
  catch (e) { assert(e instanceof OpenAI.APIError && e.status === 429 && e.code === 'resource_unavailable', String(e)); }
  const r = await ask();
  assert(r.service_tier === 'flex' && r.choices[0].message.content, JSON.stringify(r).slice(0, 200));
});

await test('an image as a data URL and audio as input_audio: answers follow the facts of their bytes', async () => {
  const cat = png(24, 16, 'cc6633'), dog = png(24, 16, '3366cc'), bark = wav(0.5, 600);
  await mediaFacts([[cat, { animal: 'cat' }], [dog, { animal: 'dog' }], [bark, { animal: 'dog' }]]);
  const schema = { type: 'object', additionalProperties: false, required: ['animal'], properties: { animal: { type: 'string', enum: ['cat', 'dog'] } } };
  const ask = (part) => client.chat.completions.create({ model: 'gpt-4o-mini',
    messages: [{ role: 'user', content: [{ type: 'text', text: 'Which animal is in [image 1]?' }, part] }],
    response_format: { type: 'json_schema', json_schema: { name: 'a', strict: true, schema } } });
  const url = (b) => ({ type: 'image_url', image_url: { url: 'data:image/png;base64,' + b.toString('base64') } });
  const a = [await ask(url(cat)), await ask(url(dog)), await ask({ type: 'input_audio', input_audio: { data: bark.toString('base64'), format: 'wav' } })];
  const got = a.map(c => JSON.parse(c.choices[0].message.content).animal);
  assert(got.join() === 'cat,dog,dog', got.join());
  assert(a[0].usage.prompt_tokens > 85, 'an image is counted: ' + JSON.stringify(a[0].usage));
});

done();
