// Faults: each kind, forced by the x-sim-fault header or drawn from configured rates, in each
// provider's own shape; quotas, context windows, latency.
import { BASE as BASE_URL, call, post, get, configure, assert, eq, test, done, OA, AN, GE, OR, chat, amsg, gcontent } from './lib.mjs';

await configure({ hang_s: 3 });
const F = f => ({ 'x-sim-fault': f });
const oa = (f, body = chat('fault test')) => post('/v1/chat/completions', body, { ...OA, ...F(f) });
const an = (f, body = amsg('fault test')) => post('/v1/messages', body, { ...AN, ...F(f) });
const ge = (f, body = gcontent('fault test')) => post('/v1beta/models/gemini-2.5-flash:generateContent', body, { ...GE, ...F(f) });
const orr = (f) => post('/api/v1/chat/completions', { model: 'openai/gpt-4o', messages: [{ role: 'user', content: 'x' }] }, { ...OR, ...F(f) });

const schema = { type: 'object', additionalProperties: false, required: ['label', 'n'],
  properties: { label: { type: 'string', enum: ['a', 'b'] }, n: { type: 'integer' } } };

await test('server errors 500/502/503 in each shape', async () => {
  let r = await oa('500');
  eq([r.status, r.json.error.type], [500, 'server_error'], 'openai 500');
  r = await oa('502');
  eq(r.status, 502, 'openai 502');
  r = await oa('503');
  eq([r.status, r.json.error.code], [503, 'server_is_overloaded'], 'openai 503');
  r = await an('500');
  eq([r.status, r.json.error.type], [500, 'api_error'], 'anthropic 500');
  r = await an('502');
  eq(r.status, 502, 'anthropic 502');
  r = await ge('500');
  eq([r.status, r.json.error.status], [500, 'INTERNAL'], 'gemini 500');
  r = await ge('503');
  eq([r.status, r.json.error.status], [503, 'UNAVAILABLE'], 'gemini 503');
  r = await orr('502');
  eq([r.status, r.json.error.code], [502, 502], 'openrouter 502');
});

await test('anthropic 529 overloaded_error', async () => {
  const r = await an('529');
  eq([r.status, r.json.type, r.json.error.type], [529, 'error', 'overloaded_error'], 'shape');
});

await test('connection reset: the socket closes with no answer', async () => {
  for (const f of [oa, an, ge]) {
    let err = null;
    try { await f('reset'); } catch (e) { err = e; }
    assert(err && /fetch failed|socket|ECONNRESET|other side closed/i.test(String(err) + String(err.cause)), 'expected a network error, got ' + err);
  }
  eq((await get('/sim/health')).status, 200, 'alive');
});

await test('hang: no answer until the client gives up', async () => {
  const t0 = Date.now();
  let err = null;
  try { await call('POST', '/v1/chat/completions', chat('hang'), { ...OA, ...F('hang') }, 600); } catch (e) { err = e; }
  assert(err && /timeout|abort/i.test(err.name + err.message), 'expected a timeout, got ' + err);
  assert(Date.now() - t0 >= 550, 'waited');
  const r = await post('/v1/chat/completions', chat('after hang'), OA);
  eq(r.status, 200, 'others still served');
});

await test('truncated JSON answer', async () => {
  for (const f of [oa, an, ge]) {
    const r = await f('truncated');
    eq(r.status, 200, 'status');
    eq(r.json, undefined, 'body must not parse: ' + r.text.slice(0, 60));
    assert(r.text.length > 10, 'some body');
  }
});

await test('structured answer that breaks the schema', async () => {
  const good = JSON.parse((await oa('none', chat('pick a', { response_format: { type: 'json_schema', json_schema: { name: 's', strict: true, schema } } }))).json.choices[0].message.content);
  eq(Object.keys(good), ['label', 'n'], 'normal answer complete');
  const r = await oa('bad_schema', chat('pick a', { response_format: { type: 'json_schema', json_schema: { name: 's', strict: true, schema } } }));
  const v = JSON.parse(r.json.choices[0].message.content);
  assert(!('label' in v), 'required property dropped: ' + JSON.stringify(v));
  const a = await an('bad_schema', amsg('pick a', { tools: [{ name: 't', input_schema: schema }], tool_choice: { type: 'tool', name: 't' } }));
  assert(!('label' in a.json.content[0].input), 'anthropic tool input broken');
  const g = await ge('bad_schema', gcontent('pick a', { generationConfig: { responseMimeType: 'application/json', responseJsonSchema: schema } }));
  assert(!('label' in JSON.parse(g.json.candidates[0].content.parts[0].text)), 'gemini broken');
});

await test('refusals in each shape', async () => {
  const r = await oa('refusal');
  eq(r.json.choices[0].message.content, null, 'openai content null');
  assert(r.json.choices[0].message.refusal, 'openai refusal text');
  const a = await an('refusal');
  eq(a.json.stop_reason, 'refusal', 'anthropic stop_reason');
  const g = await ge('refusal');
  eq(g.json.candidates[0].finishReason, 'SAFETY', 'gemini finishReason');
  eq(g.json.candidates[0].content, undefined, 'gemini no content');
});

await test('quota exhaustion after N requests in each shape', async () => {
  await configure({ default: { quota_requests: 2 }, openrouter_credits: 1000 });
  for (let i = 0; i < 2; i++) eq((await oa('none')).status, 200, 'openai within quota');
  let r = await oa('none');
  eq([r.status, r.json.error.type, r.json.error.code], [429, 'insufficient_quota', 'insufficient_quota'], 'openai');
  for (let i = 0; i < 2; i++) await an('none');
  r = await an('none');
  eq(r.status, 400, 'anthropic 400');
  assert(/credit balance is too low/.test(r.json.error.message), 'anthropic message');
  for (let i = 0; i < 2; i++) await orr('none');
  r = await orr('none');
  eq([r.status, r.json.error.code], [402, 402], 'openrouter 402');
  for (let i = 0; i < 2; i++) await ge('none');
  r = await ge('none');
  eq([r.status, r.json.error.status], [429, 'RESOURCE_EXHAUSTED'], 'gemini');
  const qf = r.json.error.details.find(d => /QuotaFailure/.test(d['@type']));
  assert(/PerDay/.test(qf.violations[0].quotaId), 'per-day quota id');
});

await test('quota exhaustion after N tokens', async () => {
  await configure({ models: { 'gpt-4o-mini': { quota_tokens: 100 } } });
  eq((await oa('none', chat('x', { max_tokens: 60 }))).status, 200, 'first');
  eq((await oa('none', chat('x', { max_tokens: 60 }))).status, 200, 'second (used 67 < 100)');
  eq((await oa('none', chat('x', { max_tokens: 60 }))).json.error.code, 'insufficient_quota', 'third');
});

await test('openrouter credits run out: 402', async () => {
  await configure({ openrouter_credits: 0.0000001 });
  eq((await orr('none')).status, 200, 'first spends');
  const r = await orr('none');
  eq(r.status, 402, 'then 402');
});

await test('context window per model', async () => {
  await configure({ default: { context_window: 100 } });
  const long = 'word '.repeat(100);
  let r = await oa('none', chat(long));
  eq([r.status, r.json.error.code], [400, 'context_length_exceeded'], 'openai');
  assert(/maximum context length is 100 tokens/.test(r.json.error.message), r.json.error.message);
  r = await an('none', amsg(long, { max_tokens: 10 }));
  eq([r.status, r.json.error.type], [400, 'invalid_request_error'], 'anthropic');
  assert(/prompt is too long/.test(r.json.error.message), 'anthropic message');
  r = await ge('none', gcontent(long));
  eq([r.status, r.json.error.status], [400, 'INVALID_ARGUMENT'], 'gemini');
  r = await oa('none', chat('short', { max_tokens: 95 }));
  eq(r.status, 400, 'openai counts max_tokens into the window');
});

await test('fault rates drawn from the configuration', async () => {
  await configure({ default: { faults: { 500: 0.3, 503: 0.2 } } });
  const rs = await Promise.all(Array.from({ length: 300 }, (_, i) => post('/v1/chat/completions', chat('r' + i), OA)));
  const n500 = rs.filter(r => r.status === 500).length, n503 = rs.filter(r => r.status === 503).length;
  assert(n500 > 55 && n500 < 125, '500s: ' + n500);
  assert(n503 > 30 && n503 < 90, '503s: ' + n503);
  eq(n500 + n503 + rs.filter(r => r.status === 200).length, 300, 'only 200/500/503');
});

await test('latency: base, jitter and output speed', async () => {
  await configure({ default: { latency_ms: 150, jitter_ms: 50 }, models: { 'gpt-4o': { output_tps: 50 } } });
  let t0 = Date.now();
  await post('/v1/chat/completions', chat('slow'), OA);
  let dt = Date.now() - t0;
  assert(dt >= 145 && dt < 1000, 'latency ' + dt);
  t0 = Date.now();
  const r = await post('/v1/chat/completions', { model: 'gpt-4o', messages: [{ role: 'user', content: 'one two three four five six' }] }, OA);
  dt = Date.now() - t0;
  const expect = 150 + r.json.usage.completion_tokens / 50 * 1000;
  assert(dt >= expect - 5 && dt < expect + 600, `tps latency ${dt} vs ${expect}`);
});

await test('429_bare, redirect and huge replace a 200 answer', async () => {
  await configure({ huge_mb: 2 });
  let r = await oa('429_bare');
  eq([r.status, r.json.error.code, r.headers.get('retry-after'), r.headers.get('x-ratelimit-remaining-requests')],
     [429, 'rate_limit_exceeded', null, null], 'openai 429_bare: no retry-after, no rate-limit headers');
  assert(!/try again in/i.test(r.json.error.message), 'no wait in the message');
  r = await an('429_bare');
  eq([r.status, r.json.error.type, r.headers.get('retry-after'), r.headers.get('anthropic-ratelimit-requests-remaining')],
     [429, 'rate_limit_error', null, null], 'anthropic 429_bare');
  r = await ge('429_bare');
  eq([r.status, r.json.error.status, r.json.error.details], [429, 'RESOURCE_EXHAUSTED', undefined], 'gemini 429_bare');
  const m = await fetch(BASE_URL + '/v1/chat/completions', { method: 'POST', redirect: 'manual',
    headers: { ...OA, 'x-sim-fault': 'redirect', 'content-type': 'application/json' }, body: JSON.stringify(chat('x')) });
  eq([m.status, m.headers.get('location')], [301, BASE_URL + '/moved/v1/chat/completions'], 'redirect');
  r = await oa('huge');
  eq([r.status, r.text.length, r.text.slice(0, 8)], [200, 2 * 1048576, '{"x":"aa'], 'huge: 2 MB of unterminated JSON');
  const st = (await get('/sim/stats')).json.models['gpt-4o-mini'].status;
  eq([st['429'], st['301'], st['200']], [1, 1, 1], 'statistics count the statuses sent');
});

done();
