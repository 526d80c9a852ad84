// The official @google/genai SDK (1.x) against fql-sim: Gemini API text, responseJsonSchema,
// responseSchema, embeddings, errors; and Vertex AI with an OAuth token from fql-sim's /token.
import { GoogleGenAI, ApiError, Type } from '@google/genai';
import { generateKeyPairSync, createSign } from 'node:crypto';
import { BASE, test, assert, done, simConfig, sleep, png, wav, mediaFacts } from './common.mjs';

const ai = new GoogleGenAI({ apiKey: 'AIza-fidelity', httpOptions: { baseUrl: BASE } });
await simConfig({});

await test('generateContent text', async () => {
  const r = await ai.models.generateContent({ model: 'gemini-2.5-flash', contents: 'Hello Gemini' });
  assert(r.text.startsWith('Simulated answer:'), r.text);
  assert(r.usageMetadata.promptTokenCount === 3 + 4 + 3, JSON.stringify(r.usageMetadata));
});

await test('responseJsonSchema structured output', async () => {
  const r = await ai.models.generateContent({ model: 'gemini-2.5-flash', contents: 'A dog barked at another dog',
    config: { responseMimeType: 'application/json', responseJsonSchema: { type: 'object', properties: {
      animal: { type: 'string', enum: ['cat', 'dog'] }, count: { type: 'integer', minimum: 1, maximum: 3 } }, required: ['animal', 'count'] } } });
  const v = JSON.parse(r.text);
  assert(v.animal === 'dog' && v.count >= 1 && v.count <= 3, r.text);
});

await test('responseSchema (OpenAPI subset, Type enum)', async () => {
  const r = await ai.models.generateContent({ model: 'gemini-2.0-flash', contents: 'critical crash in production',
    config: { responseMimeType: 'application/json', responseSchema: { type: Type.OBJECT, properties: {
      urgent: { type: Type.BOOLEAN }, tags: { type: Type.ARRAY, items: { type: Type.STRING } } }, required: ['urgent', 'tags'] } } });
  const v = JSON.parse(r.text);
  assert(v.urgent === true && Array.isArray(v.tags), r.text);
});

await test('responseLogprobs: the SDK reads logprobsResult.chosenCandidates', async () => {
  const r = await ai.models.generateContent({ model: 'gemini-2.0-flash', contents: 'Is the sky blue?',
    config: { responseMimeType: 'application/json', responseLogprobs: true, logprobs: 2,
      responseJsonSchema: { type: 'object', properties: { answer: { type: 'boolean' } }, required: ['answer'] } } });
  const c = r.candidates[0], ch = c.logprobsResult.chosenCandidates;
  assert(Array.isArray(ch) && ch.length >= 3 && ch.map(t => t.token).join('') === r.text, JSON.stringify(c.logprobsResult));
  assert(ch.every(t => typeof t.logProbability === 'number' && t.logProbability <= 0), 'logProbability');
  assert(typeof c.avgLogprobs === 'number' && c.logprobsResult.topCandidates.length === ch.length, 'avgLogprobs, topCandidates');
});

await test('embedContent (batchEmbedContents) shaped', async () => {
  const r = await ai.models.embedContent({ model: 'text-embedding-004', contents: ['one text', 'two text'] });
  assert(r.embeddings.length === 2 && r.embeddings[0].values.length === 768, JSON.stringify(r).slice(0, 200));
  const d = await ai.models.embedContent({ model: 'text-embedding-004', contents: ['x'], config: { outputDimensionality: 32 } });
  assert(d.embeddings[0].values.length === 32, 'outputDimensionality');
});

await test('bad key raises ApiError 400 API_KEY_INVALID', async () => {
  const bad = new GoogleGenAI({ apiKey: 'AIza-bad', httpOptions: { baseUrl: BASE } });
  try { await bad.models.generateContent({ model: 'gemini-2.5-flash', contents: 'x' }); throw new Error('no error'); }
  catch (e) { assert(e instanceof ApiError && e.status === 400 && /API key not valid/.test(e.message), String(e)); }
});

await test('429 raises ApiError 429 RESOURCE_EXHAUSTED', async () => {
  await simConfig({ models: { 'gemini-2.5-flash': { rpm: 60 } } });
  await ai.models.generateContent({ model: 'gemini-2.5-flash', contents: 'a' });
  try { await ai.models.generateContent({ model: 'gemini-2.5-flash', contents: 'b' }); throw new Error('no error'); }
  catch (e) { assert(e instanceof ApiError && e.status === 429 && /RESOURCE_EXHAUSTED/.test(e.message), String(e)); }
  await simConfig({});
});

await test('Vertex AI: service-account JWT -> /token -> generateContent', async () => {
  const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  await simConfig({ jwt_public_key: publicKey.export({ type: 'spki', format: 'pem' }) });
  // an auth client in google-auth-library's shape whose token comes from fql-sim's token endpoint
  const authClient = {
    async getRequestHeaders() {
      const b64 = o => Buffer.from(JSON.stringify(o)).toString('base64url');
      const now = Math.floor(Date.now() / 1000);
      const u = b64({ alg: 'RS256', typ: 'JWT' }) + '.' + b64({ iss: 'sim@p.iam.gserviceaccount.com',
        scope: 'https://www.googleapis.com/auth/cloud-platform', aud: `${BASE}/token`, iat: now, exp: now + 3600 });
      const jwt = u + '.' + createSign('RSA-SHA256').update(u).sign(privateKey).toString('base64url');
      const r = await fetch(`${BASE}/token`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ grant_type: 'urn:ietf:params:oauth:grant-type:jwt-bearer', assertion: jwt }) });
      const t = await r.json();
      if (!t.access_token) throw new Error('token: ' + JSON.stringify(t));
      return new Headers({ authorization: `Bearer ${t.access_token}` });
    },
  };
  const vx = new GoogleGenAI({ vertexai: true, project: 'sim-project', location: 'us-central1', apiVersion: 'v1',
    httpOptions: { baseUrl: BASE }, googleAuthOptions: { authClient } });
  const r = await vx.models.generateContent({ model: 'gemini-2.5-flash', contents: 'Hello Vertex' });
  assert(r.text.startsWith('Simulated answer:'), r.text);
});

await test('Batch API: batches.create (inline), get until succeeded, read the inlined responses', async () => {
  await simConfig({ batch_delay_ms: 300 });
  const job = await ai.batches.create({ model: 'gemini-2.5-flash', src: [
    { contents: [{ role: 'user', parts: [{ text: 'first batch line' }] }], metadata: { key: 'k1' } },
    { contents: [{ role: 'user', parts: [{ text: 'second batch line' }] }], metadata: { key: 'k2' },
      config: { responseMimeType: 'application/json', responseJsonSchema: { type: 'object', properties: { ok: { type: 'boolean' } }, required: ['ok'] } } },
  ], config: { displayName: 'fidelity' } });
  assert(/^batches\/[^/]+$/.test(job.name) && ['JOB_STATE_PENDING', 'JOB_STATE_RUNNING'].includes(job.state), JSON.stringify(job));
  let got = job;
  for (let i = 0; i < 50 && !['JOB_STATE_SUCCEEDED', 'JOB_STATE_FAILED'].includes(got.state); i++) {
    await sleep(100);
    got = await ai.batches.get({ name: job.name });
  }
  assert(got.state === 'JOB_STATE_SUCCEEDED' && got.displayName === 'fidelity', JSON.stringify(got).slice(0, 300));
  const rs = got.dest.inlinedResponses;
  assert(rs.length === 2 && rs[0].metadata.key === 'k1' && rs[1].metadata.key === 'k2', JSON.stringify(rs).slice(0, 300));
  const text = r => r.response.candidates[0].content.parts[0].text;
  assert(text(rs[0]).startsWith('Simulated answer:') && typeof JSON.parse(text(rs[1])).ok === 'boolean', 'texts');
  assert(rs[0].response.usageMetadata.promptTokenCount > 0, 'usage');
});

await test('Batch API: an unknown batch is NOT_FOUND', async () => {
  try { await ai.batches.get({ name: 'batches/nope' }); throw new Error('no error'); }
  catch (e) { assert(e instanceof ApiError && e.status === 404, String(e)); }
});

await test('inlineData image and audio parts: the JSON answer follows the facts of their bytes', async () => {
  const cat = png(24, 16, 'cc6633'), dog = png(24, 16, '3366cc'), meow = wav(0.5, 900);
  await mediaFacts([[cat, { animal: 'cat' }], [dog, { animal: 'dog' }], [meow, { animal: 'cat' }]]);
  const got = [];
  for (const [b, mt] of [[cat, 'image/png'], [dog, 'image/png'], [meow, 'audio/wav']]) {
    const r = await ai.models.generateContent({ model: 'gemini-2.5-flash',
      contents: [{ role: 'user', parts: [{ text: 'Which animal is in [image 1]?' }, { inlineData: { mimeType: mt, data: b.toString('base64') } }] }],
      config: { responseMimeType: 'application/json', responseJsonSchema: { type: 'object', required: ['animal'], properties: { animal: { type: 'string', enum: ['cat', 'dog'] } } } } });
    got.push(JSON.parse(r.text).animal);
  }
  assert(got.join() === 'cat,dog,cat', got.join());
});

done();
