// Malformed requests get the provider's own 400/404/405 answer and never hurt the server.
import { call, post, get, configure, assert, eq, test, done, OA, AN, GE, OR, PORT } from './lib.mjs';
import net from 'node:net';

await configure({});
const G = '/v1beta/models/gemini-2.5-flash:generateContent';

await test('bad JSON in each provider shape', async () => {
  let r = await post('/v1/chat/completions', '{"model": "gpt-4o-mini", "messages": [', OA);
  eq([r.status, r.json.error.type], [400, 'invalid_request_error'], 'openai');
  assert(r.headers.get('x-ratelimit-limit-requests'), 'rate-limit headers on an OpenAI error');
  r = await post('/v1/messages', 'not json', AN);
  eq([r.status, r.json.type, r.json.error.type], [400, 'error', 'invalid_request_error'], 'anthropic');
  assert(r.headers.get('anthropic-ratelimit-requests-limit'), 'rate-limit headers on an Anthropic error');
  r = await post(G, '{,}', GE);
  eq([r.status, r.json.error.status], [400, 'INVALID_ARGUMENT'], 'gemini');
  r = await post('/api/v1/chat/completions', '[1,2', OR);
  eq([r.status, r.json.error.code], [400, 400], 'openrouter');
  r = await post('/v1/embeddings', '[]', OA);
  eq(r.status, 400, 'array body');
  r = await post('/v1/chat/completions', '', OA);
  eq(r.status, 400, 'empty body');
});

await test('missing and mistyped fields', async () => {
  let r = await post('/v1/chat/completions', { messages: [{ role: 'user', content: 'x' }] }, OA);
  eq(r.status, 400, 'openai no model');
  r = await post('/v1/chat/completions', { model: 'gpt-4o-mini' }, OA);
  eq([r.status, r.json.error.param], [400, 'messages'], 'openai no messages');
  r = await post('/v1/chat/completions', { model: 'gpt-4o-mini', messages: 'hi' }, OA);
  eq(r.status, 400, 'openai messages string');
  r = await post('/v1/chat/completions', { model: 'gpt-4o-mini', messages: [{ content: 'x' }] }, OA);
  eq(r.status, 400, 'openai no role');
  r = await post('/v1/chat/completions', { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 5 }] }, OA);
  eq(r.status, 400, 'openai content number');
  r = await post('/v1/chat/completions', { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'x' }], max_tokens: 'many' }, OA);
  eq(r.status, 400, 'openai max_tokens string');
  r = await post('/v1/chat/completions', { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'x' }], stream: true }, OA);
  eq(r.status, 400, 'stream refused');
  r = await post('/v1/messages', { model: 'claude-haiku-4-5', messages: [{ role: 'user', content: 'x' }] }, AN);
  eq([r.status, r.json.error.message], [400, 'max_tokens: Field required'], 'anthropic no max_tokens');
  r = await post('/v1/messages', { model: 'claude-haiku-4-5', max_tokens: 5, messages: [{ role: 'robot', content: 'x' }] }, AN);
  eq(r.status, 400, 'anthropic bad role');
  r = await post(G, { contents: [] }, GE);
  eq([r.status, r.json.error.status], [400, 'INVALID_ARGUMENT'], 'gemini no contents');
  r = await post('/v1/batches', { endpoint: '/v1/chat/completions', completion_window: '24h' }, OA);
  eq(r.status, 400, 'batch without file');
  r = await post('/v1/files', 'x', { ...OA, 'content-type': 'text/plain' });
  eq(r.status, 400, 'file not multipart');
  r = await post('/v1/messages/batches', { requests: [{ params: {} }] }, AN);
  eq(r.status, 400, 'message batch without custom_id');
});

await test('wrong method: 405 in the provider shape', async () => {
  let r = await get('/v1/chat/completions', OA);
  eq([r.status, r.json.error.type], [405, 'invalid_request_error'], 'openai');
  r = await get('/v1/messages', AN);
  eq([r.status, r.json.type], [405, 'error'], 'anthropic');
  r = await get(G, GE);
  eq([r.status, typeof r.json.error.code], [405, 'number'], 'gemini');
  r = await call('DELETE', '/v1/embeddings', undefined, OA);
  eq(r.status, 405, 'delete');
});

await test('unknown paths: 404 in the provider shape', async () => {
  let r = await get('/v1/nothing-here', OA);
  eq([r.status, typeof r.json.error.message], [404, 'string'], 'openai');
  r = await post('/v1/messages/nothing', {}, AN);
  eq([r.status, r.json.error.type], [404, 'not_found_error'], 'anthropic');
  r = await post('/v1beta/models/gemini-2.5-flash:explode', {}, GE);
  eq([r.status, r.json.error.status], [404, 'NOT_FOUND'], 'gemini');
  r = await get('/api/v1/nothing', OR);
  eq(r.status, 404, 'openrouter');
  r = await get('/totally/unknown');
  assert(r.status === 404 || r.status === 401, 'unknown root ' + r.status);
  r = await post('/sim/config', { unknown_key: 1 });
  eq(r.status, 400, 'bad /sim/config');
  r = await post('/sim/config', { default: { faults: { lightning: 1 } } });
  eq(r.status, 400, 'unknown fault');
});

// Writes raw bytes to the server and returns whatever comes back before it closes (or 2 s).
function raw(bytes, endEarly = false) {
  return new Promise(resolve => {
    const s = net.connect(Number(PORT), '127.0.0.1');
    let out = '';
    s.on('data', d => { out += d; });
    s.on('error', () => resolve(out));
    s.on('close', () => resolve(out));
    s.setTimeout(2000, () => { s.destroy(); resolve(out); });
    s.write(bytes, () => { if (endEarly) s.destroy(); });
  });
}

await test('garbage, truncated and oversized HTTP never hurt the server', async () => {
  const g = await raw('HELLO WORLD\r\n\r\n');
  assert(g === '' || /^HTTP\/1\.[01] 4\d\d/.test(g), 'garbage answered with 4xx or closed: ' + g.slice(0, 40));
  await raw('POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{"model":', true);
  await raw('GET /v1/models HTTP/1.1\r\nHost: x\r\nX-Big: ' + 'a'.repeat(200000) + '\r\n\r\n');
  await raw('\x00\x01\x02\xff\xfe'.repeat(1000));
  await Promise.all(Array.from({ length: 50 }, () => raw('POST /v1/messages HTTP/1.1\r\nContent-Length: 5\r\n\r\n{', true)));
  const r = await post('/v1/chat/completions', { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'still here?' }] }, OA);
  eq(r.status, 200, 'alive');
});

await test('deeply nested and huge JSON', async () => {
  const deep = '['.repeat(100000) + ']'.repeat(100000);
  const r = await post('/v1/chat/completions', deep, OA);
  eq(r.status, 400, 'deep nesting');
  const big = { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'x'.repeat(3_000_000) }] };
  const b = await post('/v1/chat/completions', big, OA);
  eq([b.status, b.json.error.code], [400, 'context_length_exceeded'], 'big prompt');
});

done();
