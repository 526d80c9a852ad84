// Wire shapes of every provider surface of fql-sim (raw HTTP, no SDK).
import { call, post, get, configure, assert, eq, test, done, OA, AN, GE, OR, chat, amsg, gcontent } from './lib.mjs';
import { generateKeyPairSync, createSign } from 'node:crypto';

await configure({});

const ticketSchema = {
  type: 'object', additionalProperties: false, required: ['category', 'urgent', 'summary', 'score', 'tags', 'owner'],
  properties: {
    category: { type: 'string', enum: ['billing', 'bug', 'other'] },
    urgent: { type: 'boolean' },
    summary: { type: ['string', 'null'] },
    score: { type: 'integer', minimum: 1, maximum: 5 },
    tags: { type: 'array', items: { type: 'string' } },
    owner: { type: 'object', additionalProperties: false, required: ['name'], properties: { name: { type: 'string' } } },
  },
};
const ticket = 'The app crashed during checkout and now there is a bug in the bug tracker. Urgent!';

await test('openai chat text answer and headers', async () => {
  const r = await post('/v1/chat/completions', chat('Tell me about penguins in Antarctica'), OA);
  eq(r.status, 200, 'status');
  const c = r.json.choices[0];
  eq(c.message.role, 'assistant', 'role');
  assert(typeof c.message.content === 'string' && c.message.content.startsWith('Simulated answer:'), 'content');
  eq(c.finish_reason, 'stop', 'finish_reason');
  eq(r.json.object, 'chat.completion', 'object');
  for (const h of ['limit-requests', 'limit-tokens', 'remaining-requests', 'remaining-tokens', 'reset-requests', 'reset-tokens'])
    assert(r.headers.get('x-ratelimit-' + h), 'missing x-ratelimit-' + h);
  assert(/^(\d+ms|[\d.]+s|\d+m\d+s)$/.test(r.headers.get('x-ratelimit-reset-requests')), 'Go duration');
  // prompt tokens: 3 + (4 + ceil(bytes/4)) per message
  eq(r.json.usage.prompt_tokens, 3 + 4 + Math.ceil('Tell me about penguins in Antarctica'.length / 4), 'prompt_tokens');
  eq(r.json.usage.completion_tokens, Math.ceil(c.message.content.length / 4), 'completion_tokens');
  eq(r.json.usage.total_tokens, r.json.usage.prompt_tokens + r.json.usage.completion_tokens, 'total');
  eq(r.json.usage.prompt_tokens_details.cached_tokens, 0, 'cached');
});

await test('openai json_schema strict structured answer', async () => {
  const body = chat(ticket, { response_format: { type: 'json_schema', json_schema: { name: 'ticket', strict: true, schema: ticketSchema } } });
  const r = await post('/v1/chat/completions', body, OA);
  eq(r.status, 200, 'status');
  const v = JSON.parse(r.json.choices[0].message.content);
  eq(v.category, 'bug', 'enum by mentions');
  eq(v.urgent, true, 'urgent word');
  assert(v.score >= 1 && v.score <= 5 && Number.isInteger(v.score), 'score bounds');
  assert(Array.isArray(v.tags) && v.tags.length >= 1 && v.tags.length <= 3, 'tags 1..3');
  assert(typeof v.owner.name === 'string', 'nested object');
  assert(typeof v.summary === 'string', 'nullable gets a value');
});

await test('openai strict schema without additionalProperties is refused', async () => {
  const bad = { type: 'object', properties: { a: { type: 'string' } }, required: ['a'] };
  const r = await post('/v1/chat/completions', chat('x', { response_format: { type: 'json_schema', json_schema: { name: 'x', strict: true, schema: bad } } }), OA);
  eq(r.status, 400, 'status');
  assert(/additionalProperties/.test(r.json.error.message), r.text);
});

await test('openai max_tokens and max_completion_tokens cut with finish_reason length', async () => {
  for (const k of ['max_tokens', 'max_completion_tokens']) {
    const r = await post('/v1/chat/completions', chat('one two three four five six seven eight nine ten', { [k]: 2 }), OA);
    eq(r.status, 200, k);
    eq(r.json.choices[0].finish_reason, 'length', k + ' finish');
    eq(r.json.usage.completion_tokens, 2, k + ' tokens');
    assert(r.json.choices[0].message.content.length <= 8, k + ' cut');
  }
});

await test('openai n choices and forced function call', async () => {
  const r = await post('/v1/chat/completions', chat('hello there', { n: 3 }), OA);
  eq(r.json.choices.length, 3, 'n');
  const t = await post('/v1/chat/completions', chat(ticket, {
    tools: [{ type: 'function', function: { name: 'file_ticket', parameters: ticketSchema } }],
    tool_choice: { type: 'function', function: { name: 'file_ticket' } },
  }), OA);
  const tc = t.json.choices[0].message.tool_calls[0];
  eq(tc.function.name, 'file_ticket', 'tool name');
  eq(JSON.parse(tc.function.arguments).category, 'bug', 'tool args');
  eq(t.json.choices[0].finish_reason, 'tool_calls', 'finish');
});

const cos = (a, b) => a.reduce((s, x, i) => s + x * b[i], 0);
await test('openai embeddings: shape, unit length, dimensions, similarity', async () => {
  const r = await post('/v1/embeddings', { model: 'text-embedding-3-small', input: ['red apple pie', 'apple pie recipe', 'quantum physics lecture'] }, OA);
  eq(r.status, 200, 'status');
  eq(r.json.data.length, 3, 'count');
  eq(r.json.data.map(d => d.index), [0, 1, 2], 'indexes');
  const [a, b, c] = r.json.data.map(d => d.embedding);
  eq(a.length, 1536, 'default dim');
  assert(Math.abs(cos(a, a) - 1) < 1e-6, 'unit length');
  assert(cos(a, b) > 0.5 && Math.abs(cos(a, c)) < 0.3, `similarity ${cos(a, b)} vs ${cos(a, c)}`);
  eq(r.json.usage.prompt_tokens, [13, 16, 23].reduce((s, n) => s + Math.ceil(n / 4), 0), 'usage');
  const d = await post('/v1/embeddings', { model: 'text-embedding-3-small', input: 'single', dimensions: 256 }, OA);
  eq(d.json.data[0].embedding.length, 256, 'dimensions');
  const e = await post('/v1/embeddings', { model: 'text-embedding-3-small', input: [] }, OA);
  eq(e.status, 400, 'empty input');
});

await test('openai models list', async () => {
  const r = await get('/v1/models', OA);
  eq(r.status, 200, 'status');
  assert(r.json.data.some(m => m.id === 'gpt-4o-mini'), 'lists gpt-4o-mini');
});

await test('anthropic messages text, usage and rate headers', async () => {
  const r = await post('/v1/messages', amsg('Write about mountains and rivers', { system: 'Be brief.' }), AN);
  eq(r.status, 200, 'status');
  eq(r.json.type, 'message', 'type');
  eq(r.json.content[0].type, 'text', 'block');
  eq(r.json.stop_reason, 'end_turn', 'stop');
  eq(r.json.usage.input_tokens, 3 + (4 + 3) + (4 + Math.ceil('Write about mountains and rivers'.length / 4)), 'input tokens');
  for (const k of ['requests', 'input-tokens', 'output-tokens', 'tokens']) {
    assert(r.headers.get(`anthropic-ratelimit-${k}-limit`), k + ' limit');
    assert(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/.test(r.headers.get(`anthropic-ratelimit-${k}-reset`)), k + ' reset RFC 3339');
  }
});

await test('anthropic forced tool use returns tool_use input object', async () => {
  const r = await post('/v1/messages', amsg(ticket, {
    tools: [{ name: 'ticket', description: 'file it', input_schema: ticketSchema }],
    tool_choice: { type: 'tool', name: 'ticket' },
  }), AN);
  eq(r.status, 200, 'status');
  const b = r.json.content.find(x => x.type === 'tool_use');
  assert(b, 'tool_use block');
  eq(b.name, 'ticket', 'name');
  eq(b.input.category, 'bug', 'input.category');
  eq(r.json.stop_reason, 'tool_use', 'stop');
});

await test('anthropic count_tokens and models', async () => {
  const r = await post('/v1/messages/count_tokens', { model: 'claude-haiku-4-5', messages: [{ role: 'user', content: 'abcd' }] }, AN);
  eq(r.json, { input_tokens: 3 + 4 + 1 }, 'count');
  const m = await get('/v1/models', AN);
  assert(m.json.data.some(x => x.id === 'claude-haiku-4-5' && x.type === 'model'), 'models');
});

await test('gemini generateContent text and responseJsonSchema', async () => {
  const r = await post('/v1beta/models/gemini-2.5-flash:generateContent', gcontent('Describe the moon'), GE);
  eq(r.status, 200, 'status');
  const c = r.json.candidates[0];
  eq(c.finishReason, 'STOP', 'finish');
  assert(c.content.parts[0].text.startsWith('Simulated answer:'), 'text');
  eq(r.json.usageMetadata.promptTokenCount, 3 + 4 + Math.ceil('Describe the moon'.length / 4), 'promptTokenCount');
  const s = await post('/v1beta/models/gemini-2.5-flash:generateContent', gcontent(ticket, {
    generationConfig: { responseMimeType: 'application/json', responseJsonSchema: ticketSchema } }), GE);
  eq(JSON.parse(s.json.candidates[0].content.parts[0].text).category, 'bug', 'json schema');
});

await test('gemini responseSchema with OpenAPI upper-case types', async () => {
  const schema = { type: 'OBJECT', properties: { label: { type: 'STRING', enum: ['cat', 'dog'] }, n: { type: 'INTEGER' },
    ok: { type: 'BOOLEAN' }, xs: { type: 'ARRAY', items: { type: 'NUMBER' } } }, required: ['label', 'n', 'ok', 'xs'] };
  const r = await post('/v1beta/models/gemini-2.0-flash:generateContent', gcontent('my dog and another dog met a cat', {
    generationConfig: { responseMimeType: 'application/json', responseSchema: schema } }), GE);
  const v = JSON.parse(r.json.candidates[0].content.parts[0].text);
  eq(v.label, 'dog', 'enum');
  assert(Number.isInteger(v.n) && v.ok === false && v.xs.every(x => typeof x === 'number'), JSON.stringify(v));
});

await test('gemini batchEmbedContents and models', async () => {
  const r = await post('/v1beta/models/text-embedding-004:batchEmbedContents', {
    requests: ['a b c', 'a b d'].map(t => ({ model: 'models/text-embedding-004', content: { parts: [{ text: t }] } })) }, GE);
  eq(r.status, 200, 'status');
  eq(r.json.embeddings.length, 2, 'count');
  eq(r.json.embeddings[0].values.length, 768, 'dim');
  const m = await get('/v1beta/models', GE);
  assert(m.json.models.some(x => x.name === 'models/gemini-2.5-flash'), 'models');
  const tooMany = await post('/v1beta/models/text-embedding-004:batchEmbedContents', {
    requests: Array.from({ length: 101 }, () => ({ content: { parts: [{ text: 'x' }] } })) }, GE);
  eq(tooMany.status, 400, '101 requests');
});

await test('vertex: RS256 JWT exchanged at /token, then generateContent with the token', async () => {
  const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const pem = publicKey.export({ type: 'spki', format: 'pem' });
  const cfg = await post('/sim/config', { jwt_public_key: pem });
  eq(cfg.status, 200, 'config');
  const b64 = o => Buffer.from(JSON.stringify(o)).toString('base64url');
  const now = Math.floor(Date.now() / 1000);
  const unsigned = b64({ alg: 'RS256', typ: 'JWT' }) + '.' + b64({ iss: 'sa@p.iam.gserviceaccount.com',
    scope: 'https://www.googleapis.com/auth/cloud-platform', aud: 'https://oauth2.googleapis.com/token', iat: now, exp: now + 3600 });
  const sig = createSign('RSA-SHA256').update(unsigned).sign(privateKey).toString('base64url');
  const form = a => `grant_type=${encodeURIComponent('urn:ietf:params:oauth:grant-type:jwt-bearer')}&assertion=${a}`;
  const ct = { 'content-type': 'application/x-www-form-urlencoded' };
  const tok = await post('/token', form(unsigned + '.' + sig), ct);
  eq(tok.status, 200, 'token status ' + tok.text);
  eq(tok.json.token_type, 'Bearer', 'token_type');
  assert(tok.json.expires_in > 3000, 'expires_in');
  const forged = await post('/token', form(unsigned + '.' + sig.slice(0, -4) + 'AAAA'), ct);
  eq(forged.status, 400, 'forged signature');
  eq(forged.json.error, 'invalid_grant', 'invalid_grant');
  const path = '/v1/projects/p1/locations/us-central1/publishers/google/models/gemini-2.5-flash:generateContent';
  const ok = await post(path, gcontent('hello vertex'), { authorization: 'Bearer ' + tok.json.access_token });
  eq(ok.status, 200, 'vertex answer');
  const no = await post(path, gcontent('hello vertex'), { authorization: 'Bearer ya29.not-issued' });
  eq(no.status, 401, 'unissued token');
  eq(no.json.error.status, 'UNAUTHENTICATED', 'status');
});

await test('openrouter routing: sort, order, only, ignore; cost; key', async () => {
  const ask = async provider => (await post('/api/v1/chat/completions', { model: 'openai/gpt-4o-mini',
    messages: [{ role: 'user', content: 'route me' }], ...(provider ? { provider } : {}) }, OR)).json;
  eq((await ask({ sort: 'price' })).provider, 'DeepInfra', 'price');
  eq((await ask({ sort: 'latency' })).provider, 'Fireworks', 'latency');
  eq((await ask({ sort: 'throughput' })).provider, 'Together', 'throughput');
  eq((await ask({ order: ['azure', 'openai'] })).provider, 'Azure', 'order');
  eq((await ask({ only: ['openai', 'azure'], sort: 'price' })).provider, 'OpenAI', 'only');
  eq((await ask({ ignore: ['deepinfra'] })).provider, 'Together', 'ignore');
  const a = await ask(null);
  assert(a.usage.cost > 0 && a.usage.prompt_tokens > 0, 'cost');
  const none = await post('/api/v1/chat/completions', { model: 'openai/gpt-4o-mini', messages: [{ role: 'user', content: 'x' }],
    provider: { only: ['nobody'] } }, OR);
  eq(none.status, 503, 'no provider');
  const k = await get('/api/v1/key', OR);
  assert(k.json.data.usage > 0 && k.json.data.limit === 100, 'key usage ' + k.text);
});

await test('keys: bad and missing keys get each provider\'s answer', async () => {
  let r = await post('/v1/chat/completions', chat('x'), { authorization: 'Bearer sk-bad-key' });
  eq([r.status, r.json.error.code], [401, 'invalid_api_key'], 'openai bad');
  r = await post('/v1/chat/completions', chat('x'));
  eq(r.status, 401, 'openai missing');
  r = await get('/v1/models', { authorization: 'Bearer bad' });
  eq(r.status, 401, 'openai models bad');
  r = await post('/v1/messages', amsg('x'), { 'x-api-key': 'badkey', 'anthropic-version': '2023-06-01' });
  eq([r.status, r.json.type, r.json.error.type], [401, 'error', 'authentication_error'], 'anthropic bad');
  r = await post('/v1/messages', amsg('x'), { 'anthropic-version': '2023-06-01' });
  eq(r.status, 401, 'anthropic missing');
  r = await post('/v1beta/models/gemini-2.5-flash:generateContent', gcontent('x'), { 'x-goog-api-key': 'bad' });
  eq([r.status, r.json.error.status, r.json.error.details[0].reason], [400, 'INVALID_ARGUMENT', 'API_KEY_INVALID'], 'gemini bad');
  r = await post('/v1beta/models/gemini-2.5-flash:generateContent?key=AIza-good', gcontent('x'));
  eq(r.status, 200, 'gemini ?key=');
  r = await post('/v1beta/models/gemini-2.5-flash:generateContent', gcontent('x'));
  eq(r.status, 401, 'gemini missing');
  r = await post('/api/v1/chat/completions', chat('x'), { authorization: 'Bearer sk-or-bad' });
  eq([r.status, r.json.error.code], [401, 401], 'openrouter bad');
});

await test('stats count requests by model and status', async () => {
  await post('/sim/reset', {});
  await post('/v1/chat/completions', chat('a'), OA);
  await post('/v1/chat/completions', chat('b'), OA);
  await post('/v1/chat/completions', { model: 'gpt-4o-mini', messages: [] }, OA);
  const s = (await get('/sim/stats')).json.models['gpt-4o-mini'];
  eq(s.status, { 200: 2, 400: 1 }, 'status counts');
  eq(s.max_requests_60s, 2, 'max 60s');
  eq(s.provider, 'openai', 'provider');
});

done();
