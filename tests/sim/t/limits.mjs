// Rate limits: bursts get each provider's 429 (body and headers), paced clients get none, and
// /sim/stats never shows a window over the limit.
import { post, get, configure, assert, eq, test, done, sleep, OA, AN, GE, OR, chat, amsg, gcontent } from './lib.mjs';

const stats = async m => (await get('/sim/stats')).json.models[m];

await test('openai burst over rpm/60 per second gets 429 with headers', async () => {
  await configure({ models: { 'gpt-4o-mini': { rpm: 120 } } });
  const rs = await Promise.all(Array.from({ length: 10 }, (_, i) => post('/v1/chat/completions', chat('burst ' + i), OA)));
  const ok = rs.filter(r => r.status === 200), lim = rs.filter(r => r.status === 429);
  eq(ok.length, 2, '2 per second admitted (120 rpm)');
  eq(lim.length, 8, '429s');
  const e = lim[0].json.error;
  eq([e.type, e.code], ['requests', 'rate_limit_exceeded'], 'error type/code');
  assert(/Rate limit reached for gpt-4o-mini .* on requests per min \(RPM\): Limit 120, Used \d+, Requested 1\. Please try again in (\d+ms|[\d.]+s)\./.test(e.message), e.message);
  assert(/^\d+$/.test(lim[0].headers.get('retry-after')), 'retry-after integer seconds');
  eq(lim[0].headers.get('x-ratelimit-limit-requests'), '120', 'limit header');
  eq(ok[0].headers.get('x-ratelimit-limit-requests'), '120', 'limit header on 200');
  const s = await stats('gpt-4o-mini');
  assert(s.max_requests_1s <= 2, 'stats 1s window ' + s.max_requests_1s);
  eq(s.status['429'], 8, 'stats 429s');
});

await test('openai paced client below the limit sees no 429 and stats stay within it', async () => {
  await configure({ models: { 'gpt-4o-mini': { rpm: 600 } } });   // 10 per second
  const t0 = Date.now();
  const rs = [];
  for (let i = 0; i < 20; i++) {    // 8 per second
    const due = t0 + i * 125;
    if (due > Date.now()) await sleep(due - Date.now());
    rs.push(post('/v1/chat/completions', chat('paced ' + i), OA));
  }
  const all = await Promise.all(rs);
  eq(all.filter(r => r.status !== 200).length, 0, 'non-200 answers');
  const s = await stats('gpt-4o-mini');
  assert(s.max_requests_1s <= 10, 'max 1s ' + s.max_requests_1s);
  eq(s.max_requests_60s, 20, 'max 60s');
  eq(Number((await post('/v1/chat/completions', chat('x'), OA)).headers.get('x-ratelimit-remaining-requests')), 600 - 21, 'remaining');
});

await test('openai per-minute window: the 4th request under rpm 3 waits for the minute', async () => {
  await configure({ models: { 'gpt-4o-mini': { rpm: 3 } } });
  for (let i = 0; i < 3; i++) {
    eq((await post('/v1/chat/completions', chat('m ' + i), OA)).status, 200, 'request ' + i);
    await sleep(1050);
  }
  const r = await post('/v1/chat/completions', chat('m 4'), OA);
  eq(r.status, 429, '4th');
  const wait = Number(r.headers.get('retry-after'));
  assert(wait >= 55 && wait <= 60, 'retry-after ~57s, got ' + wait);
  assert(/Limit 3, Used 3/.test(r.json.error.message), r.json.error.message);
  eq(r.headers.get('x-ratelimit-remaining-requests'), '0', 'remaining 0');
});

await test('openai tpm counts input + requested max output', async () => {
  await configure({ models: { 'gpt-4o-mini': { tpm: 6000 } } });   // 100 tokens per second
  const a = await post('/v1/chat/completions', chat('hi', { max_tokens: 80 }), OA);
  eq(a.status, 200, 'first fits');
  const b = await post('/v1/chat/completions', chat('hi', { max_tokens: 80 }), OA);
  eq(b.status, 429, 'second exceeds the second');
  eq(b.json.error.type, 'tokens', 'type tokens');
  assert(/tokens per min \(TPM\): Limit 6000, Used 88, Requested 88/.test(b.json.error.message), b.json.error.message);
  const s = await stats('gpt-4o-mini');
  eq(s.max_tokens_1s, 88, 'counted tokens (8 input + 80 max output)');
});

await test('openai request larger than the TPM is "Request too large"', async () => {
  await configure({ models: { 'gpt-4o-mini': { tpm: 1000 } } });
  const r = await post('/v1/chat/completions', chat('x'.repeat(400), { max_tokens: 950 }), OA);
  eq(r.status, 429, 'status');
  assert(/^Request too large for gpt-4o-mini .* on tokens per min \(TPM\): Limit 1000, Requested 1057/.test(r.json.error.message), r.json.error.message);
  eq(r.json.error.code, 'rate_limit_exceeded', 'code');
  eq(r.headers.get('retry-after'), null, 'no retry-after');
});

await test('anthropic 429 rate_limit_error with retry-after and anthropic-ratelimit headers', async () => {
  await configure({ models: { 'claude-haiku-4-5': { rpm: 60, input_tpm: 30000, output_tpm: 6000 } } });
  const rs = await Promise.all([0, 1, 2].map(i => post('/v1/messages', amsg('a ' + i, { max_tokens: 50 }), AN)));
  eq(rs.map(r => r.status).sort(), [200, 429, 429], 'statuses');
  const l = rs.find(r => r.status === 429);
  eq([l.json.type, l.json.error.type], ['error', 'rate_limit_error'], 'shape');
  assert(/^\d+$/.test(l.headers.get('retry-after')), 'retry-after');
  eq(l.headers.get('anthropic-ratelimit-requests-limit'), '60', 'requests-limit');
  eq(l.headers.get('anthropic-ratelimit-input-tokens-limit'), '30000', 'input-tokens-limit');
  eq(l.headers.get('anthropic-ratelimit-output-tokens-limit'), '6000', 'output-tokens-limit');
  await configure({ models: { 'claude-haiku-4-5': { output_tpm: 6000 } } });
  const big = await post('/v1/messages', amsg('b', { max_tokens: 100 }), AN);
  eq(big.status, 200, 'output tpm: one request per second of 100 fits');
  const big2 = await post('/v1/messages', amsg('c', { max_tokens: 100 }), AN);
  eq(big2.status, 429, 'output tokens per second exceeded');
  assert(/output tokens per minute/.test(big2.json.error.message), big2.json.error.message);
});

await test('gemini 429 RESOURCE_EXHAUSTED with RetryInfo and QuotaFailure', async () => {
  await configure({ models: { 'gemini-2.5-flash': { rpm: 60 } } });
  const rs = await Promise.all([0, 1, 2].map(i => post('/v1beta/models/gemini-2.5-flash:generateContent', gcontent('g ' + i), GE)));
  const l = rs.find(r => r.status === 429);
  assert(l, 'a 429');
  eq(l.json.error.status, 'RESOURCE_EXHAUSTED', 'status');
  const ri = l.json.error.details.find(d => d['@type'] === 'type.googleapis.com/google.rpc.RetryInfo');
  assert(ri && /^\d+(\.\d+)?s$/.test(ri.retryDelay), 'retryDelay ' + JSON.stringify(ri));
  const qf = l.json.error.details.find(d => d['@type'] === 'type.googleapis.com/google.rpc.QuotaFailure');
  assert(/PerMinute/.test(qf.violations[0].quotaId), 'per-minute quota id');
  eq(l.headers.get('x-ratelimit-limit-requests'), null, 'no rate-limit headers on Gemini');
});

await test('openrouter 429 shape', async () => {
  await configure({ models: { 'openai/gpt-4o-mini': { rpm: 60 } } });
  const body = { model: 'openai/gpt-4o-mini', messages: [{ role: 'user', content: 'x' }] };
  const rs = await Promise.all([0, 1].map(() => post('/api/v1/chat/completions', body, OR)));
  const l = rs.find(r => r.status === 429);
  eq(l.json.error.code, 429, 'code');
});

await test('limits changed at run time by POST /sim/config apply at once', async () => {
  await configure({});
  const rs = await Promise.all(Array.from({ length: 30 }, () => post('/v1/chat/completions', chat('free'), OA)));
  eq(rs.filter(r => r.status === 200).length, 30, 'no limit');
  const c = await post('/sim/config', { default: { rpm: 60 } });
  eq(c.status, 200, 'config');
  const r2 = await Promise.all(Array.from({ length: 3 }, () => post('/v1/chat/completions', chat('limited'), { authorization: 'Bearer sk-z' })));
  assert(r2.filter(r => r.status === 429).length >= 2, 'limit applied');
});

done();
