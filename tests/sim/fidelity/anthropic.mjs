// The official @anthropic-ai/sdk against fql-sim: messages, forced tool use, count_tokens,
// errors and Message Batches.
import Anthropic from '@anthropic-ai/sdk';
import { BASE, test, assert, done, simConfig, sleep, png, mediaFacts } from './common.mjs';

const client = new Anthropic({ apiKey: 'sk-ant-fidelity', baseURL: BASE, maxRetries: 0, timeout: 10000 });
await simConfig({ batch_delay_ms: 300 });

await test('messages text answer', async () => {
  const m = await client.messages.create({ model: 'claude-haiku-4-5', max_tokens: 100, messages: [{ role: 'user', content: 'Hello Claude' }] });
  assert(m.content[0].type === 'text' && m.content[0].text.startsWith('Simulated answer:'), JSON.stringify(m.content));
  assert(m.usage.input_tokens === 3 + 4 + 3 && m.stop_reason === 'end_turn', JSON.stringify(m.usage));
});

await test('forced tool use gives a tool_use input object', async () => {
  const m = await client.messages.create({ model: 'claude-haiku-4-5', max_tokens: 500,
    messages: [{ role: 'user', content: 'Outage! The payment service is down.' }],
    tools: [{ name: 'triage', description: 'triage', input_schema: { type: 'object', properties: {
      severity: { type: 'string', enum: ['low', 'high'] }, escalate: { type: 'boolean' }, team: { type: 'string' } }, required: ['severity', 'escalate', 'team'] } }],
    tool_choice: { type: 'tool', name: 'triage' } });
  const b = m.content.find(x => x.type === 'tool_use');
  assert(b && b.input.escalate === true && b.input.severity === 'low' && typeof b.input.team === 'string', JSON.stringify(m.content));
});

await test('count_tokens', async () => {
  const r = await client.messages.countTokens({ model: 'claude-haiku-4-5', messages: [{ role: 'user', content: '12345678' }] });
  assert(r.input_tokens === 3 + 4 + 2, JSON.stringify(r));
});

await test('bad key raises AuthenticationError', async () => {
  const bad = new Anthropic({ apiKey: 'sk-ant-bad', baseURL: BASE, maxRetries: 0 });
  try { await bad.messages.create({ model: 'claude-haiku-4-5', max_tokens: 5, messages: [{ role: 'user', content: 'x' }] }); throw new Error('no error'); }
  catch (e) { assert(e instanceof Anthropic.AuthenticationError && e.status === 401, String(e)); }
});

await test('429 raises RateLimitError; 529 raises an overloaded APIError', async () => {
  await simConfig({ models: { 'claude-haiku-4-5': { rpm: 60 } } });
  await client.messages.create({ model: 'claude-haiku-4-5', max_tokens: 5, messages: [{ role: 'user', content: 'a' }] });
  try { await client.messages.create({ model: 'claude-haiku-4-5', max_tokens: 5, messages: [{ role: 'user', content: 'b' }] }); throw new Error('no error'); }
  catch (e) { assert(e instanceof Anthropic.RateLimitError && e.status === 429, String(e)); }
  try { await client.messages.create({ model: 'claude-opus-4-1', max_tokens: 5, messages: [{ role: 'user', content: 'c' }] }, { headers: { 'x-sim-fault': '529' } }); throw new Error('no error'); }
  catch (e) { assert(e instanceof Anthropic.APIError && e.status === 529 && e.error.error.type === 'overloaded_error', String(e)); }
  await simConfig({ batch_delay_ms: 300 });
});

await test('Message Batches: create, poll, results', async () => {
  let b = await client.messages.batches.create({ requests: [
    { custom_id: 'a', params: { model: 'claude-haiku-4-5', max_tokens: 50, messages: [{ role: 'user', content: 'first' }] } },
    { custom_id: 'b', params: { model: 'claude-haiku-4-5', messages: [{ role: 'user', content: 'no max_tokens' }] } },
  ] });
  assert(b.processing_status === 'in_progress', b.processing_status);
  for (let i = 0; i < 50 && b.processing_status !== 'ended'; i++) { await sleep(100); b = await client.messages.batches.retrieve(b.id); }
  assert(b.processing_status === 'ended' && b.request_counts.succeeded === 1 && b.request_counts.errored === 1, JSON.stringify(b));
  const res = {};
  for await (const r of await client.messages.batches.results(b.id)) res[r.custom_id] = r.result;
  assert(res.a.type === 'succeeded' && res.a.message.content[0].text.startsWith('Simulated'), JSON.stringify(res.a));
  assert(res.b.type === 'errored', JSON.stringify(res.b));
});

await test('Message Batches: x-sim-batch-delay-ms, processing counts, fault rules', async () => {
  await simConfig({ batch_delay_ms: 300, models: { 'claude-haiku-4-5': { fault_rules: [{ contains: 'poison', fault: 'refusal' }] } } });
  const t0 = Date.now();
  let b = await client.messages.batches.create({ requests: ['one', 'two', 'poison pill'].map((w, i) => (
    { custom_id: `r${i}`, params: { model: 'claude-haiku-4-5', max_tokens: 50, messages: [{ role: 'user', content: w }] } })) },
    { headers: { 'x-sim-batch-delay-ms': '1000' } });
  const processing = new Set();
  for (let i = 0; i < 60 && b.processing_status !== 'ended'; i++) {
    await sleep(100); b = await client.messages.batches.retrieve(b.id);
    if (b.processing_status === 'in_progress') processing.add(b.request_counts.processing);
  }
  assert(b.processing_status === 'ended' && Date.now() - t0 >= 900, `ended after ${Date.now() - t0} ms`);
  assert(processing.size >= 2, 'request_counts.processing did not move: ' + [...processing]);
  const res = {};
  for await (const r of await client.messages.batches.results(b.id)) res[r.custom_id] = r.result;
  assert(res.r2.type === 'succeeded' && res.r2.message.stop_reason === 'refusal', JSON.stringify(res.r2));
  assert(res.r0.type === 'succeeded' && res.r0.message.stop_reason === 'end_turn', JSON.stringify(res.r0));
  const st = await (await fetch(`${BASE}/sim/stats`)).json();
  assert(st.batches.created === 1 && st.batches.requests === 3, JSON.stringify(st.batches));
  await simConfig({ batch_delay_ms: 300 });
});

await test('prompt caching: cache_control on system, written once then read', async () => {
  await simConfig({ models: { 'claude-haiku-4-5': { cache_min_tokens: 100 } } });
  const sys = [{ type: 'text', text: 'Stable instructions. '.repeat(60), cache_control: { type: 'ephemeral' } }];
  const ask = t => client.messages.create({ model: 'claude-haiku-4-5', max_tokens: 50, system: sys, messages: [{ role: 'user', content: t }] });
  const a = await ask('first row'), b = await ask('second row');
  assert(a.usage.cache_creation_input_tokens > 100 && a.usage.cache_read_input_tokens === 0, JSON.stringify(a.usage));
  assert(b.usage.cache_read_input_tokens === a.usage.cache_creation_input_tokens && b.usage.cache_creation_input_tokens === 0, JSON.stringify(b.usage));
  assert(b.usage.input_tokens < a.usage.cache_creation_input_tokens, 'input_tokens leaves the cached part out');
  const short = await client.messages.create({ model: 'claude-haiku-4-5', max_tokens: 50,
    system: [{ type: 'text', text: 'short', cache_control: { type: 'ephemeral' } }], messages: [{ role: 'user', content: 'x' }] });
  assert(short.usage.cache_creation_input_tokens === 0 && short.usage.cache_read_input_tokens === 0, 'below the minimum: no caching');
});

await test('a base64 image block: the forced tool answer follows the facts of its bytes', async () => {
  const cat = png(24, 16, 'cc6633'), dog = png(24, 16, '3366cc');
  await mediaFacts([[cat, { animal: 'cat' }], [dog, { animal: 'dog' }]]);
  const got = [];
  for (const b of [cat, dog]) {
    const m = await client.messages.create({ model: 'claude-haiku-4-5', max_tokens: 100,
      tools: [{ name: 'answer', description: 'the answer', input_schema: { type: 'object', required: ['animal'], properties: { animal: { type: 'string', enum: ['cat', 'dog'] } } } }],
      tool_choice: { type: 'tool', name: 'answer' },
      messages: [{ role: 'user', content: [{ type: 'image', source: { type: 'base64', media_type: 'image/png', data: b.toString('base64') } },
                                           { type: 'text', text: 'Which animal is in [image 1]?' }] }] });
    got.push(m.content.find(c => c.type === 'tool_use').input.animal);
  }
  assert(got.join() === 'cat,dog', got.join());
});

done();
