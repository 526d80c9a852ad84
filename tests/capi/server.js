// A small HTTP server for the C API and http_get_json tests. Listens on 127.0.0.1 (port 0 = any
// free one) and prints the port on its first line of output.
//   GET /score/ID[?delay=MS]  -> {"id": ID, "score": ID*10} after MS milliseconds
//   GET /flaky/KEY?fails=N    -> 503 for the first N requests of KEY, then {"ok": true, "attempts": K}
//   GET /status/CODE          -> that status with a JSON body
//   GET /text                 -> 200 with a body that is not JSON
//   GET /stats                -> {"requests": total, "max_inflight": most requests open at once}
//   GET /reset                -> zeroes the counters
const http = require('http');
let inflight = 0, maxInflight = 0, total = 0;
const flaky = new Map();
const server = http.createServer((req, res) => {
  const url = new URL(req.url, 'http://x');
  const parts = url.pathname.split('/').filter(Boolean);
  const json = (code, obj) => { res.writeHead(code, { 'content-type': 'application/json' }); res.end(JSON.stringify(obj)); };
  if (parts[0] === 'stats') return json(200, { requests: total, max_inflight: maxInflight });
  if (parts[0] === 'reset') { total = 0; maxInflight = 0; flaky.clear(); return json(200, {}); }
  total++; inflight++; maxInflight = Math.max(maxInflight, inflight);
  let finished = false;
  const done = () => { if (!finished) { finished = true; inflight--; } };
  res.on('close', done);
  const delay = Number(url.searchParams.get('delay') || 0);
  setTimeout(() => {
    if (parts[0] === 'score') return json(200, { id: Number(parts[1]), score: Number(parts[1]) * 10 });
    if (parts[0] === 'flaky') {
      const n = (flaky.get(parts[1]) || 0) + 1;
      flaky.set(parts[1], n);
      if (n <= Number(url.searchParams.get('fails') || 0)) return json(503, { error: 'busy' });
      return json(200, { ok: true, attempts: n });
    }
    if (parts[0] === 'status') return json(Number(parts[1]), { status: Number(parts[1]) });
    if (parts[0] === 'text') { res.writeHead(200, { 'content-type': 'text/plain' }); return res.end('hello, not json'); }
    json(404, { error: 'no such path' });
  }, delay);
});
server.listen(Number(process.argv[2] || 0), '127.0.0.1', () => console.log(server.address().port));
process.on('SIGTERM', () => process.exit(0));
