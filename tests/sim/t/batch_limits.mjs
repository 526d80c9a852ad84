// Batch lines and the simulator's limits: as at OpenAI and Anthropic, whose Batch APIs have their
// own limits (requests and enqueued tokens per batch), lines of a batch are not held to the
// synchronous per-minute limits (rpm, tpm, input_tpm, output_tpm) and do not use up their
// windows; the account's quota (quota_requests, quota_tokens) counts them as it counts anything.
import { post, get, call, configure, test, assert, eq, done, sleep, OA, AN } from './lib.mjs';

// Uploads lines (objects) as a batch input file and creates an OpenAI batch of them; returns the
// finished batch object with its output and error lines.
async function openaiBatch(lines, endpoint = '/v1/chat/completions') {
  const fd = new FormData();
  fd.append('purpose', 'batch');
  fd.append('file', new Blob([lines.map(l => JSON.stringify(l)).join('\n') + '\n']), 'in.jsonl');
  const r = await fetch(`http://127.0.0.1:${process.env.SIM_PORT}/v1/files`, { method: 'POST', headers: OA, body: fd });
  const f = await r.json();
  assert(r.status === 200 && f.id, 'upload: ' + JSON.stringify(f));
  let b = (await post('/v1/batches', { input_file_id: f.id, endpoint, completion_window: '24h' },
    { ...OA, 'x-sim-batch-delay-ms': '0' })).json;
  for (let i = 0; i < 100 && b.status !== 'completed'; i++) { await sleep(20); b = (await get(`/v1/batches/${b.id}`, OA)).json; }
  assert(b.status === 'completed', 'batch status ' + b.status);
  const lines_of = async id => id ? (await get(`/v1/files/${id}/content`, OA)).text.trim().split('\n').map(JSON.parse) : [];
  return { b, out: await lines_of(b.output_file_id), err: await lines_of(b.error_file_id) };
}

const chatLine = (i, model = 'gpt-4o-mini') => ({ custom_id: `r${i}`, method: 'POST', url: '/v1/chat/completions',
  body: { model, messages: [{ role: 'user', content: `batch ticket ${i}` }], max_completion_tokens: 20 } });

await test('openai batch: 200 lines under rpm 10 and tpm 2000 all answered 200', async () => {
  await configure({ models: { 'gpt-4o-mini': { rpm: 10, tpm: 2000 } } });
  const { b, out, err } = await openaiBatch(Array.from({ length: 200 }, (_, i) => chatLine(i)));
  eq(b.request_counts, { total: 200, completed: 200, failed: 0 }, 'request_counts');
  eq(out.length, 200, 'output lines');
  eq(err.length, 0, 'error lines');
  assert(out.every(o => o.response.status_code === 200), 'a line was not answered 200');
});

await test('openai batch lines leave the per-minute windows to synchronous calls', async () => {
  await configure({ models: { 'gpt-4o-mini': { rpm: 10 } } });
  await openaiBatch(Array.from({ length: 30 }, (_, i) => chatLine(i)));
  // the minute's 10 requests are all still there: the first synchronous call passes
  const r = await post('/v1/chat/completions', { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'after' }] }, OA);
  eq(r.status, 200, 'synchronous call after the batch');
  const s = (await get('/sim/stats')).json.models['gpt-4o-mini'];
  eq(s.max_requests_60s, 1, 'max_requests_60s (synchronous requests only)');
  eq(s.rate_limited || 0, 0, 'rate_limited');
});

await test('openai embeddings batch under rpm 1 all answered', async () => {
  await configure({ models: { 'text-embedding-3-small': { rpm: 1 } } });
  const lines = Array.from({ length: 20 }, (_, i) => ({ custom_id: `e${i}`, method: 'POST', url: '/v1/embeddings',
    body: { model: 'text-embedding-3-small', input: `text ${i}`, dimensions: 8 } }));
  const { b, err } = await openaiBatch(lines, '/v1/embeddings');
  eq(b.request_counts.completed, 20, 'completed');
  eq(err.length, 0, 'error lines');
});

await test('openai batch: the quota counts batch lines (insufficient_quota after 5)', async () => {
  await configure({ models: { 'gpt-4o-mini': { rpm: 2, quota_requests: 5 } } });
  const { b, out, err } = await openaiBatch(Array.from({ length: 8 }, (_, i) => chatLine(i)));
  eq([b.request_counts.completed, b.request_counts.failed], [5, 3], 'completed/failed');
  eq(out.length, 5, 'output lines');
  assert(err.every(e => e.response.status_code === 429 && e.response.body.error.code === 'insufficient_quota'),
    'error lines: ' + JSON.stringify(err[0]));
});

await test('anthropic message batch: 60 requests under rpm 5 and output_tpm 100 all succeed', async () => {
  await configure({ models: { 'claude-haiku-4-5': { rpm: 5, output_tpm: 100 } } });
  const requests = Array.from({ length: 60 }, (_, i) => ({ custom_id: `a${i}`,
    params: { model: 'claude-haiku-4-5', max_tokens: 50, messages: [{ role: 'user', content: `message ${i}` }] } }));
  let b = (await post('/v1/messages/batches', { requests }, { ...AN, 'x-sim-batch-delay-ms': '0' })).json;
  for (let i = 0; i < 100 && b.processing_status !== 'ended'; i++) { await sleep(20); b = (await get(`/v1/messages/batches/${b.id}`, AN)).json; }
  eq(b.processing_status, 'ended', 'processing_status');
  const res = (await call('GET', new URL(b.results_url).pathname, undefined, AN)).text.trim().split('\n').map(JSON.parse);
  eq(res.filter(r => r.result.type === 'succeeded').length, 60, 'succeeded');
  eq(b.request_counts.succeeded, 60, 'request_counts.succeeded');
});

done();
