// Cohere over raw HTTP: /v2/embed and /v1/embed shapes, the key check, errors, faults, limits,
// and that Cohere's routes leave OpenAI's /v1 paths alone.
import { post, get, configure, test, assert, eq, done } from './lib.mjs';

const CO = { authorization: 'Bearer co-test' };
const body = (extra = {}) => ({ model: 'embed-english-v3.0', input_type: 'search_document', texts: ['hello world'], ...extra });

await configure({});

await test('cohere v2 embed shape', async () => {
  const r = await post('/v2/embed', body({ texts: ['hello world', 'second text here'] }), CO);
  eq(r.status, 200, 'status');
  const j = r.json;
  assert(typeof j.id === 'string' && j.embeddings.float.length === 2 && j.embeddings.float[0].length === 1024, r.text.slice(0, 200));
  eq(j.texts, ['hello world', 'second text here'], 'texts');
  eq(j.meta, { api_version: { version: '2' }, billed_units: { input_tokens: 3 + 4 } }, 'meta');
  assert(!('response_type' in j), 'v2 has no response_type');
});

await test('cohere v1 embed: bare floats, or by type when asked', async () => {
  let r = await post('/v1/embed', body(), CO);
  assert(r.status === 200 && r.json.response_type === 'embeddings_floats' && Array.isArray(r.json.embeddings[0]), r.text.slice(0, 200));
  r = await post('/v1/embed', body({ embedding_types: ['int8'] }), CO);
  assert(r.json.response_type === 'embeddings_by_type' && r.json.embeddings.int8[0].length === 1024, r.text.slice(0, 200));
});

await test('cohere key check and bad keys', async () => {
  let r = await post('/v1/check-api-key', undefined, CO);
  eq(r.json, { valid: true, organization_id: 'org-sim', owner_id: 'owner-sim' }, 'valid key');
  r = await post('/v1/check-api-key', undefined, { authorization: 'Bearer co-bad' });
  eq([r.status, r.json.message], [401, 'invalid api token'], 'bad key');
  r = await post('/v2/embed', body(), {});
  eq([r.status, r.json.message], [401, 'no api key supplied'], 'missing key');
});

await test('cohere request errors are 400 {id, message}', async () => {
  for (const [b, re] of [[{ input_type: undefined }, /input_type/], [{ texts: [] }, /non-empty/], [{ texts: Array(97).fill('a') }, /at most 96/],
                         [{ embedding_types: ['float16'] }, /embedding_types/], [{ output_dimension: 256 }, /output_dimension/],
                         [{ texts: ['word '.repeat(600)], truncate: 'NONE' }, /too long/]]) {
    const r = await post('/v2/embed', body(b), CO);
    assert(r.status === 400 && typeof r.json.id === 'string' && re.test(r.json.message), `${JSON.stringify(b).slice(0, 60)}: ${r.status} ${r.text}`);
  }
  const r = await post('/v2/embed', body({ model: 'command-r' }), CO);
  assert(r.status === 404 && /not found/.test(r.json.message), r.text);
});

await test('cohere long texts are cut at the context (truncate END) and billed so', async () => {
  const r = await post('/v2/embed', body({ texts: ['word '.repeat(1000)] }), CO);
  eq([r.status, r.json.meta.billed_units.input_tokens], [200, 512], 'billed tokens of a 1250-token text');
});

await test('cohere faults, rate limits and quota', async () => {
  let r = await post('/v2/embed', body(), { ...CO, 'x-sim-fault': '503' });
  assert(r.status === 503 && r.json.message, r.text);
  await configure({ models: { 'embed-english-v3.0': { rpm: 60 } } });
  await post('/v2/embed', body(), CO);
  r = await post('/v2/embed', body(), CO);
  assert(r.status === 429 && /limited to 60 API calls \/ minute/.test(r.json.message) && Number(r.headers.get('retry-after')) >= 1, r.text);
  await configure({ models: { 'embed-english-v3.0': { quota_requests: 1 } } });
  await post('/v2/embed', body(), CO);
  r = await post('/v2/embed', body(), CO);
  assert(r.status === 429 && /API calls \/ month/.test(r.json.message), r.text);
  const s = (await get('/sim/stats')).json.models['embed-english-v3.0'];
  assert(s.provider === 'cohere' && s.status['429'] === 1 && s.status['200'] === 1, JSON.stringify(s));
  await configure({});
});

await test('OpenAI /v1 paths are still OpenAI', async () => {
  const r = await get('/v1/models', CO);
  assert(r.status === 200 && r.json.object === 'list', r.text.slice(0, 100));
});

done();
