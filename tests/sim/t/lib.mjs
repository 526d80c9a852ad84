// Helpers for the fql-sim tests: HTTP calls to the simulator under test (127.0.0.1 only) and
// a tiny test harness that prints "ok NAME" or "FAIL NAME: reason" per test.
export const PORT = process.env.SIM_PORT;
export const BASE = `http://127.0.0.1:${PORT}`;
if (!PORT) { console.log('FAIL setup: SIM_PORT is not set'); process.exit(1); }

// Sends a request; body objects are sent as JSON, strings as they are. Returns
// {status, headers, text, json} (json is undefined when the body does not parse).
export async function call(method, path, body, headers = {}, timeoutMs = 10000) {
  const h = { ...headers };
  let data;
  if (body !== undefined) {
    data = typeof body === 'string' ? body : JSON.stringify(body);
    if (!Object.keys(h).some(k => k.toLowerCase() === 'content-type')) h['content-type'] = 'application/json';
  }
  const r = await fetch(BASE + path, { method, headers: h, body: data, signal: AbortSignal.timeout(timeoutMs) });
  const text = await r.text();
  let json;
  try { json = JSON.parse(text); } catch { json = undefined; }
  return { status: r.status, headers: r.headers, text, json };
}
export const post = (path, body, headers) => call('POST', path, body, headers);
export const get = (path, headers) => call('GET', path, undefined, headers);

export const OA = { authorization: 'Bearer sk-test' };
export const AN = { 'x-api-key': 'sk-ant-test', 'anthropic-version': '2023-06-01' };
export const GE = { 'x-goog-api-key': 'AIza-test' };
export const OR = { authorization: 'Bearer sk-or-test' };

// Replaces the simulator's configuration and forgets its statistics.
export async function configure(cfg) {
  const r = await call('POST', '/sim/config?replace=1', cfg);
  if (r.status !== 200) throw new Error(`config rejected: ${r.text}`);
  await post('/sim/reset', {});
}

export function assert(cond, msg) { if (!cond) throw new Error(msg); }
export function eq(a, b, what) {
  const sa = JSON.stringify(a), sb = JSON.stringify(b);
  if (sa !== sb) throw new Error(`${what}: expected ${sb}, got ${sa}`);
}

let failed = 0;
// Runs one named test; prints its result line.
export async function test(name, fn) {
  try {
    await fn();
    console.log(`ok ${name}`);
  } catch (e) {
    failed++;
    console.log(`FAIL ${name}: ${String(e && e.message || e).replace(/\s+/g, ' ').slice(0, 300)}`);
  }
}
export function done() { process.exitCode = failed ? 1 : 0; }
export const sleep = ms => new Promise(r => setTimeout(r, ms));

export const chat = (content, extra = {}) => ({ model: 'gpt-4o-mini', messages: [{ role: 'user', content }], ...extra });
export const amsg = (content, extra = {}) => ({ model: 'claude-haiku-4-5', max_tokens: 256, messages: [{ role: 'user', content }], ...extra });
export const gcontent = (text, extra = {}) => ({ contents: [{ role: 'user', parts: [{ text }] }], ...extra });
