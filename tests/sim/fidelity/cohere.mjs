// The official cohere-ai SDK (8.x, CohereClientV2 and CohereClient) against fql-sim: v2 embed
// (float and the other embedding types, output_dimension, billed units), v1 embed, the key check,
// and errors as the SDK's typed errors (401, 400, 404, 429 per minute and per month).
import { CohereClient, CohereClientV2, Cohere, CohereError } from 'cohere-ai';
import { BASE, test, assert, done, simConfig } from './common.mjs';

const co = new CohereClientV2({ token: 'co-fidelity', baseUrl: BASE, maxRetries: 0 });
const v1 = new CohereClient({ token: 'co-fidelity', baseUrl: BASE, maxRetries: 0 });
await simConfig({});

const cosine = (a, b) => a.reduce((s, x, i) => s + x * b[i], 0) /
  Math.sqrt(a.reduce((s, x) => s + x * x, 0) * b.reduce((s, x) => s + x * x, 0));

await test('v2 embed: float vectors, texts, billed units', async () => {
  const r = await co.embed({ model: 'embed-english-v3.0', inputType: 'search_document', embeddingTypes: ['float'],
    texts: ['billing problem with my invoice', 'billing invoice problem', 'weather report'] });
  assert(typeof r.id === 'string' && r.id.length > 0, 'id');
  const f = r.embeddings.float;
  assert(f.length === 3 && f.every(v => v.length === 1024), 'shape ' + f.map(v => v.length));
  assert(Math.abs(Math.hypot(...f[0]) - 1) < 1e-6, 'unit length');
  assert(cosine(f[0], f[1]) > 0.5 && cosine(f[0], f[2]) < 0.2, 'similar texts are close');
  assert(r.texts.length === 3 && r.texts[2] === 'weather report', 'texts');
  // tok = ceil(bytes / 4): 31 → 8, 23 → 6, 14 → 4
  assert(r.meta.billedUnits.inputTokens === 18, 'billed ' + JSON.stringify(r.meta));
  assert(r.meta.apiVersion.version === '2', 'api version ' + JSON.stringify(r.meta));
});

await test('v2 embed: the same text gives the same vector on every call', async () => {
  const a = await co.embed({ model: 'embed-v4.0', inputType: 'search_query', texts: ['same text'] });
  const b = await co.embed({ model: 'embed-v4.0', inputType: 'search_query', texts: ['same text'] });
  assert(JSON.stringify(a.embeddings.float) === JSON.stringify(b.embeddings.float), 'deterministic');
  assert(a.embeddings.float[0].length === 1536, 'embed-v4.0 default dimension');
});

await test('v2 embed: output_dimension and int8 / uint8 / binary / ubinary / base64', async () => {
  const r = await co.embed({ model: 'embed-v4.0', inputType: 'clustering', outputDimension: 256,
    embeddingTypes: ['float', 'int8', 'uint8', 'binary', 'ubinary', 'base64'], texts: ['alpha beta gamma'] });
  const e = r.embeddings;
  assert(e.float[0].length === 256 && e.int8[0].length === 256 && e.uint8[0].length === 256, 'dims');
  assert(e.binary[0].length === 32 && e.ubinary[0].length === 32, 'packed bits');
  assert(e.int8[0].every(x => Number.isInteger(x) && x >= -128 && x <= 127), 'int8 range');
  assert(e.uint8[0].every(x => Number.isInteger(x) && x >= 0 && x <= 255), 'uint8 range');
  const fl = new Float32Array(new Uint8Array(Buffer.from(e.base64[0], 'base64')).buffer);
  assert(fl.length === 256 && Math.abs(fl[0] - e.float[0][0]) < 1e-6, 'base64 holds the float32 vector');
});

await test('v1 embed (CohereClient): a bare array of floats', async () => {
  const r = await v1.embed({ model: 'embed-english-v3.0', inputType: 'search_document', texts: ['one', 'two'] });
  assert(r.responseType === 'embeddings_floats' && r.embeddings.length === 2 && r.embeddings[0].length === 1024,
    JSON.stringify(r).slice(0, 200));
});

// checkApiKey through CohereClient: CohereClientV2.checkApiKey is broken in the SDK (8.1.0 calls a
// method its V2Client does not have), so FQL's key check is tested here the way v1 clients call it
await test('checkApiKey (POST /v1/check-api-key): valid', async () => {
  const r = await v1.checkApiKey();
  assert(r.valid === true && r.organizationId === 'org-sim', JSON.stringify(r));
});

await test('bad key raises UnauthorizedError 401', async () => {
  const bad = new CohereClientV2({ token: 'co-bad', baseUrl: BASE, maxRetries: 0 });
  try { await bad.embed({ model: 'embed-v4.0', inputType: 'search_query', texts: ['x'] }); throw new Error('no error'); }
  catch (e) { assert(e instanceof Cohere.UnauthorizedError && e.statusCode === 401 && /invalid api token/.test(JSON.stringify(e.body)), String(e)); }
  const badv1 = new CohereClient({ token: 'co-bad', baseUrl: BASE, maxRetries: 0 });
  try { await badv1.checkApiKey(); throw new Error('no error'); }
  catch (e) { assert(e instanceof CohereError && e.statusCode === 401, String(e)); }
});

await test('malformed requests raise BadRequestError 400 and unknown models NotFoundError 404', async () => {
  try { await co.embed({ model: 'embed-english-v3.0', inputType: 'search_query', texts: Array(97).fill('x') }); throw new Error('no error'); }
  catch (e) { assert(e instanceof Cohere.BadRequestError && /at most 96/.test(e.body.message), String(e)); }
  try { await co.embed({ model: 'embed-english-v3.0', inputType: 'search_query', outputDimension: 256, texts: ['x'] }); throw new Error('no error'); }
  catch (e) { assert(e instanceof Cohere.BadRequestError, String(e)); }
  try { await co.embed({ model: 'command-r', inputType: 'search_query', texts: ['x'] }); throw new Error('no error'); }
  catch (e) { assert(e instanceof Cohere.NotFoundError && /not found/.test(e.body.message), String(e)); }
});

await test('rate limit and monthly quota raise TooManyRequestsError 429', async () => {
  await simConfig({ models: { 'embed-v4.0': { rpm: 60, quota_requests: 3 } } });
  await co.embed({ model: 'embed-v4.0', inputType: 'search_query', texts: ['a'] });
  try { await co.embed({ model: 'embed-v4.0', inputType: 'search_query', texts: ['b'] }); throw new Error('no error'); }
  catch (e) { assert(e instanceof Cohere.TooManyRequestsError && /API calls \/ minute/.test(e.body.message), String(e)); }
  await simConfig({ models: { 'embed-v4.0': { quota_requests: 1 } } });
  await co.embed({ model: 'embed-v4.0', inputType: 'search_query', texts: ['a'] });
  try { await co.embed({ model: 'embed-v4.0', inputType: 'search_query', texts: ['b'] }); throw new Error('no error'); }
  catch (e) { assert(e instanceof Cohere.TooManyRequestsError && /API calls \/ month/.test(e.body.message), String(e)); }
  await simConfig({});
});

done();
