// Shared bits of the SDK fidelity tests: the simulator's address and a result printer.
export const PORT = process.env.SIM_PORT;
export const BASE = `http://127.0.0.1:${PORT}`;
let failed = 0;
export async function test(name, fn) {
  try { await fn(); console.log(`ok ${name}`); }
  catch (e) { failed++; console.log(`FAIL ${name}: ${String(e && e.stack || e).replace(/\s+/g, ' ').slice(0, 300)}`); }
}
export function assert(c, m) { if (!c) throw new Error(m); }
export function done() { process.exitCode = failed ? 1 : 0; }
export async function simConfig(cfg) {
  const r = await fetch(`${BASE}/sim/config?replace=1`, { method: 'POST', body: JSON.stringify(cfg) });
  if (r.status !== 200) throw new Error('config: ' + await r.text());
  await fetch(`${BASE}/sim/reset`, { method: 'POST', body: '{}' });
}
export const sleep = ms => new Promise(r => setTimeout(r, ms));
// Media for the image and audio tests (tests/runtime/mkmedia.mjs writes the same files) and the
// facts that make the simulator answer from their content: its key is "sha256:" + the bytes' hash.
export { png, wav } from '../../runtime/mkmedia.mjs';
export async function mediaFacts(entries) {   // entries: [[Buffer, {property: value}], ...]
  const { createHash } = await import('node:crypto');
  const texts = {};
  for (const [buf, props] of entries) texts['sha256:' + createHash('sha256').update(buf).digest('hex')] = props;
  await simConfig({ facts: { texts } });
}
