// Test servers for remote paths, all on 127.0.0.1: a plain web server, a Hugging Face Hub
// look-alike and an S3-compatible store that verifies AWS Signature V4 itself.
//
// usage: node server.js ROOT          serve ROOT/web, ROOT/hub, ROOT/s3; prints {"web":P,"hub":P,"s3":P}
//        node server.js --selftest    check the SigV4 verifier against AWS's published test vectors
//
// Environment: S3_KEY / S3_SECRET (the one credential the store accepts), S3_TOKEN (then requests
// must carry and sign x-amz-security-token), S3_REGION (default us-east-1), S3_PAGE (keys per
// ListObjectsV2 page, default 2), HUB_TOKEN (the token that reads datasets of the owner
// "private-org"), HUB_PAGE (entries per tree page, default 2).
// Every server answers GET /_log with the requests it has seen (JSON) and keeps them until exit.
'use strict';
const http = require('http');
const fs = require('fs');
const path = require('path');
const crypto = require('crypto');

const sha256 = (b) => crypto.createHash('sha256').update(b).digest('hex');
const hmac = (k, s) => crypto.createHmac('sha256', k).update(s).digest();

// ---- SigV4, written from the AWS specification (independent of libcurl) ----

function awsEncode(s, keepSlash) {
  let out = '';
  for (const byte of Buffer.from(s, 'utf8')) {
    const c = String.fromCharCode(byte);
    if (/[A-Za-z0-9\-_.~]/.test(c) || (keepSlash && c === '/')) out += c;
    else out += '%' + byte.toString(16).toUpperCase().padStart(2, '0');
  }
  return out;
}

function canonicalQuery(raw) {
  if (!raw) return '';
  const pairs = raw.split('&').filter((p) => p.length).map((p) => {
    const i = p.indexOf('=');
    const k = decodeURIComponent(i < 0 ? p : p.slice(0, i));
    const v = i < 0 ? '' : decodeURIComponent(p.slice(i + 1).replace(/\+/g, '%20'));
    return [awsEncode(k, false), awsEncode(v, false)];
  });
  pairs.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0));
  return pairs.map((p) => p[0] + '=' + p[1]).join('&');
}

// S3 does not normalize paths: the canonical URI is the decoded path encoded once.
function canonicalUri(rawPath, s3) {
  if (!s3) return rawPath === '' ? '/' : rawPath;
  return awsEncode(decodeURIComponent(rawPath), true);
}

function signature(secret, date, region, service, stringToSign) {
  const kDate = hmac('AWS4' + secret, date);
  const kRegion = hmac(kDate, region);
  const kService = hmac(kRegion, service);
  const kSigning = hmac(kService, 'aws4_request');
  return crypto.createHmac('sha256', kSigning).update(stringToSign).digest('hex');
}

// req: {method, rawPath, rawQuery, headers: {lowercase: value}, payloadHash}
function expectedSignature(req, signedHeaders, amzDate, scope, secret, s3) {
  const [date, region, service] = scope;
  const canonHeaders = signedHeaders.map((h) => h + ':' + String(req.headers[h] ?? '').trim().replace(/\s+/g, ' ') + '\n').join('');
  const creq = [req.method, canonicalUri(req.rawPath, s3), canonicalQuery(req.rawQuery), canonHeaders,
    signedHeaders.join(';'), req.payloadHash].join('\n');
  const sts = ['AWS4-HMAC-SHA256', amzDate, `${date}/${region}/${service}/aws4_request`, sha256(creq)].join('\n');
  return signature(secret, date, region, service, sts);
}

const AUTH_RE = /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request, ?SignedHeaders=([a-z0-9;-]+), ?Signature=([0-9a-f]{64})$/;

function selftest() {
  // from AWS's aws-sig-v4-test-suite (service "service", us-east-1, 20150830T123600Z)
  const secret = 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY';
  const empty = sha256('');
  const cases = [
    ['get-vanilla', 'GET', '/', '', {}, empty, '5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31'],
    ['get-vanilla-query-order-key-case', 'GET', '/', 'Param2=value2&Param1=value1', {}, empty, 'b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500'],
    ['get-vanilla-query-order-key', 'GET', '/', 'Param1=value2&Param1=Value1', {}, empty, 'eedbc4e291e521cf13422ffca22be7d2eb8146eecf653089df300a15b2382bd1'],
    ['post-x-www-form-urlencoded', 'POST', '/', '', { 'content-type': 'application/x-www-form-urlencoded' }, sha256('Param1=value1'),
      'ff11897932ad3f4e8b18135d722051e5ac45fc38421b1da7b9d196a0fe09473a'],
  ];
  let bad = 0;
  for (const [name, method, p, q, extra, payload, want] of cases) {
    const headers = Object.assign({ host: 'example.amazonaws.com', 'x-amz-date': '20150830T123600Z' }, extra);
    const signed = Object.keys(headers).sort();
    const got = expectedSignature({ method, rawPath: p, rawQuery: q, headers, payloadHash: payload }, signed,
      '20150830T123600Z', ['20150830', 'us-east-1', 'service'], secret, false);
    if (got === want) console.log('ok selftest ' + name);
    else { bad++; console.log(`FAIL selftest ${name}: ${got} != ${want}`); }
  }
  process.exit(bad ? 1 : 0);
}

// ---- helpers ----

function collect(req) {
  return new Promise((resolve) => {
    const parts = [];
    req.on('data', (d) => parts.push(d));
    req.on('end', () => resolve(Buffer.concat(parts)));
  });
}

function walk(dir, base = '') {
  let out = [];
  if (!fs.existsSync(dir)) return out;
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const rel = base ? base + '/' + e.name : e.name;
    if (e.isDirectory()) out = out.concat(walk(path.join(dir, e.name), rel));
    else out.push(rel);
  }
  return out.sort();
}

const etagOf = (buf) => '"' + crypto.createHash('md5').update(buf).digest('hex') + '"';
const xmlEsc = (s) => String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

function serveFile(req, res, buf, mtime, noEtag) {
  const etag = noEtag ? undefined : etagOf(buf);
  const lm = new Date(Math.floor(mtime / 1000) * 1000).toUTCString();
  const validators = noEtag ? { 'Last-Modified': lm } : { ETag: etag, 'Last-Modified': lm };
  if ((etag && req.headers['if-none-match'] === etag) || (!req.headers['if-none-match'] && req.headers['if-modified-since'] === lm)) {
    res.writeHead(304, validators);
    return res.end();
  }
  res.writeHead(200, Object.assign({ 'Content-Length': buf.length }, validators));
  res.end(req.method === 'HEAD' ? undefined : buf);
}

function server(log, handler) {
  return http.createServer(async (req, res) => {
    if (req.url === '/_log') { res.writeHead(200, { 'Content-Type': 'application/json' }); return res.end(JSON.stringify(log)); }
    const body = await collect(req);
    const entry = { method: req.method, url: req.url, auth: req.headers.authorization || null,
      inm: req.headers['if-none-match'] || null, ims: req.headers['if-modified-since'] || null };
    log.push(entry);
    try { await handler(req, res, body, entry); } catch (e) { res.writeHead(500); res.end(String(e.stack)); }
  });
}

// ---- web: files under ROOT/web, plus /status/N, /redirect/N/PATH, /flaky/K/PATH, /stall, and
// /lm/PATH (the file with Last-Modified but no ETag) ----

function webHandler(root) {
  const hits = {};
  return (req, res) => {
    const u = new URL(req.url, 'http://x');
    let m;
    if ((m = u.pathname.match(/^\/status\/(\d+)$/))) { res.writeHead(+m[1]); return res.end('no\n'); }
    if ((m = u.pathname.match(/^\/redirect\/(\d+)(\/.*)$/))) {
      const n = +m[1];
      res.writeHead(302, { Location: n > 1 ? `/redirect/${n - 1}${m[2]}` : m[2] });
      return res.end();
    }
    if ((m = u.pathname.match(/^\/flaky\/(\d+)(\/.*)$/))) {   // fails K times with 503, then serves
      hits[u.pathname] = (hits[u.pathname] || 0) + 1;
      if (hits[u.pathname] <= +m[1]) { res.writeHead(503); return res.end('busy\n'); }
      u.pathname = m[2];
    }
    if (u.pathname === '/stall') { res.writeHead(200, { 'Content-Length': 100 }); res.write('a,b\n'); return; }
    const noEtag = u.pathname.startsWith('/lm/');
    if (noEtag) u.pathname = u.pathname.slice(3);
    const file = path.join(root, decodeURIComponent(u.pathname));
    if (!file.startsWith(root) || !fs.existsSync(file) || fs.statSync(file).isDirectory()) { res.writeHead(404); return res.end('not found\n'); }
    serveFile(req, res, fs.readFileSync(file), fs.statSync(file).mtimeMs, noEtag);
  };
}

// ---- hub: ROOT/hub/OWNER/NAME/REVISION/FILES ----

function hubHandler(root, cdnBase) {
  const page = +(process.env.HUB_PAGE || 2);
  const error = (res, status, code, msg) => {
    res.writeHead(status, { 'X-Error-Code': code, 'X-Error-Message': msg, 'Content-Type': 'application/json' });
    res.end(JSON.stringify({ error: msg }));
  };
  const allowed = (req, owner) => owner !== 'private-org' || req.headers.authorization === 'Bearer ' + process.env.HUB_TOKEN;
  return (req, res) => {
    const u = new URL(req.url, 'http://x');
    const parts = u.pathname.split('/').map(decodeURIComponent);
    let m;
    if (parts[1] === 'cdn') {                     // the redirect target of resolve
      const file = path.join(root, ...parts.slice(2));
      if (!fs.existsSync(file)) { res.writeHead(404); return res.end(); }
      return serveFile(req, res, fs.readFileSync(file), fs.statSync(file).mtimeMs);
    }
    if (parts[1] === 'api' && parts[2] === 'datasets' && parts[5] === 'tree') {
      const [owner, name, rev] = [parts[3], parts[4], parts[6]];
      const dir = parts.slice(7).join('/');
      if (!allowed(req, owner)) return error(res, 401, 'RepoNotFound', 'Repository not found');
      const repo = path.join(root, owner, name);
      if (!fs.existsSync(repo)) return error(res, 404, 'RepoNotFound', 'Repository not found');
      if (!fs.existsSync(path.join(repo, rev))) return error(res, 404, 'RevisionNotFound', `Invalid rev id: ${rev}`);
      const base = path.join(repo, rev, dir);
      if (!fs.existsSync(base)) return error(res, 404, 'EntryNotFound', `${dir} does not exist on "${rev}"`);
      const recursive = u.searchParams.get('recursive') === 'true';
      let entries = [];
      const list = (d, rel) => {
        for (const e of fs.readdirSync(d, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
          const p = rel ? rel + '/' + e.name : e.name;
          if (e.isDirectory()) { entries.push({ type: 'directory', oid: 'd', size: 0, path: p }); if (recursive) list(path.join(d, e.name), p); }
          else {
            const buf = fs.readFileSync(path.join(d, e.name));
            entries.push({ type: 'file', oid: crypto.createHash('sha1').update(buf).digest('hex'), size: buf.length, path: p });
          }
        }
      };
      list(base, dir);
      const cursor = +(u.searchParams.get('cursor') || 0);
      const headers = { 'Content-Type': 'application/json' };
      if (cursor + page < entries.length) {
        const next = new URL(u.toString());
        next.searchParams.set('cursor', String(cursor + page));
        // absolute, on the public Hub's host, as a mirror may answer: the client must stay on its endpoint
        headers.Link = `<https://huggingface.co${next.pathname}${next.search}>; rel="next"`;
      }
      res.writeHead(200, headers);
      return res.end(JSON.stringify(entries.slice(cursor, cursor + page)));
    }
    if (parts[1] === 'datasets' && parts[4] === 'resolve') {
      const [owner, name, rev] = [parts[2], parts[3], parts[5]];
      const file = parts.slice(6).join('/');
      if (!allowed(req, owner)) return error(res, 401, 'RepoNotFound', 'Repository not found');
      const p = path.join(root, owner, name, rev, file);
      if (!fs.existsSync(p)) return error(res, 404, 'EntryNotFound', `${file} does not exist on "${rev}"`);
      res.writeHead(302, { Location: `${cdnBase}/cdn/${[owner, name, rev].map(encodeURIComponent).join('/')}/${file.split('/').map(encodeURIComponent).join('/')}` });
      return res.end();
    }
    res.writeHead(404);
    res.end();
  };
}

// ---- s3: buckets from ROOT/s3/BUCKET/..., path-style, SigV4 verified ----

function s3Handler(root, log) {
  const key = process.env.S3_KEY, secret = process.env.S3_SECRET, token = process.env.S3_TOKEN;
  const region = process.env.S3_REGION || 'us-east-1';
  const page = +(process.env.S3_PAGE || 2);
  const buckets = {};
  for (const b of fs.existsSync(root) ? fs.readdirSync(root) : []) {
    buckets[b] = new Map();
    for (const f of walk(path.join(root, b))) buckets[b].set(f, { data: fs.readFileSync(path.join(root, b, f)), mtime: Date.now() });
  }
  const uploads = new Map();
  let nextUpload = 1;
  const xmlError = (res, status, code, msg) => {
    res.writeHead(status, { 'Content-Type': 'application/xml' });
    res.end(`<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${xmlEsc(msg)}</Message></Error>`);
  };

  // null when the request is properly signed (or anonymous on the public bucket), else [status, code, message]
  function authenticate(req, body, bucket, entry) {
    const auth = req.headers.authorization;
    if (!auth) return bucket === 'public-data' && (req.method === 'GET' || req.method === 'HEAD') ? null : [403, 'AccessDenied', 'Access Denied'];
    const m = auth.match(AUTH_RE);
    if (!m) return [400, 'AuthorizationHeaderMalformed', 'bad Authorization header'];
    const [, akid, date, reg, service, signedList, sig] = m;
    if (akid !== key) return [403, 'InvalidAccessKeyId', 'The AWS Access Key Id you provided does not exist in our records.'];
    if (reg !== region || service !== 's3') return [400, 'AuthorizationHeaderMalformed', `scope ${reg}/${service}, expected ${region}/s3`];
    const amzDate = req.headers['x-amz-date'];
    if (!amzDate || !amzDate.startsWith(date)) return [403, 'AccessDenied', 'x-amz-date missing or not the credential date'];
    const t = Date.UTC(+amzDate.slice(0, 4), +amzDate.slice(4, 6) - 1, +amzDate.slice(6, 8), +amzDate.slice(9, 11), +amzDate.slice(11, 13), +amzDate.slice(13, 15));
    if (Math.abs(Date.now() - t) > 15 * 60 * 1000) return [403, 'RequestTimeTooSkewed', 'The difference between the request time and the current time is too large.'];
    const signed = signedList.split(';');
    for (const h of ['host', 'x-amz-date', 'x-amz-content-sha256']) if (!signed.includes(h)) return [403, 'AccessDenied', `${h} is not signed`];
    const payload = req.headers['x-amz-content-sha256'];
    if (payload !== 'UNSIGNED-PAYLOAD' && payload !== sha256(body)) return [400, 'XAmzContentSHA256Mismatch', 'The provided x-amz-content-sha256 header does not match what was computed.'];
    if (token && (req.headers['x-amz-security-token'] !== token || !signed.includes('x-amz-security-token')))
      return [403, 'InvalidToken', 'The provided token is malformed or otherwise invalid.'];
    const q = req.url.indexOf('?');
    const want = expectedSignature({ method: req.method, rawPath: q < 0 ? req.url : req.url.slice(0, q), rawQuery: q < 0 ? '' : req.url.slice(q + 1),
      headers: req.headers, payloadHash: payload }, signed, amzDate, [date, reg, service], secret, true);
    if (want !== sig) return [403, 'SignatureDoesNotMatch', 'The request signature we calculated does not match the signature you provided.'];
    entry.signed = true;
    return null;
  }

  return (req, res, body, entry) => {
    const u = new URL(req.url, 'http://x');
    const slash = u.pathname.indexOf('/', 1);
    const bucket = decodeURIComponent(slash < 0 ? u.pathname.slice(1) : u.pathname.slice(1, slash));
    const objKey = slash < 0 ? '' : decodeURIComponent(u.pathname.slice(slash + 1));
    const qs = u.searchParams;
    const denied = authenticate(req, body, bucket, entry);
    if (denied) return xmlError(res, ...denied);
    const objects = buckets[bucket];
    if (!objects) return xmlError(res, 404, 'NoSuchBucket', 'The specified bucket does not exist');
    if (!objKey && req.method === 'GET' && qs.get('list-type') === '2') {
      entry.op = 'list';
      const prefix = qs.get('prefix') || '';
      const max = Math.min(+(qs.get('max-keys') || 1000), page);
      const after = qs.get('continuation-token') ? Buffer.from(qs.get('continuation-token'), 'base64').toString() : '';
      const keys = [...objects.keys()].filter((k) => k.startsWith(prefix) && k > after).sort();
      const shown = keys.slice(0, max);
      const truncated = keys.length > max;
      let xml = `<?xml version="1.0" encoding="UTF-8"?>\n<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>${xmlEsc(bucket)}</Name><Prefix>${xmlEsc(prefix)}</Prefix><KeyCount>${shown.length}</KeyCount><MaxKeys>${max}</MaxKeys><IsTruncated>${truncated}</IsTruncated>`;
      for (const k of shown) xml += `<Contents><Key>${xmlEsc(k)}</Key><Size>${objects.get(k).data.length}</Size><ETag>${xmlEsc(etagOf(objects.get(k).data))}</ETag></Contents>`;
      if (truncated) xml += `<NextContinuationToken>${Buffer.from(shown[shown.length - 1]).toString('base64')}</NextContinuationToken>`;
      res.writeHead(200, { 'Content-Type': 'application/xml' });
      return res.end(xml + '</ListBucketResult>');
    }
    if (req.method === 'POST' && qs.has('uploads')) {
      entry.op = 'create-multipart';
      const id = 'up' + nextUpload++ + '/x+y=';        // characters that must be encoded in later queries
      uploads.set(id, { bucket, key: objKey, parts: new Map() });
      res.writeHead(200, { 'Content-Type': 'application/xml' });
      return res.end(`<?xml version="1.0" encoding="UTF-8"?>\n<InitiateMultipartUploadResult><Bucket>${xmlEsc(bucket)}</Bucket><Key>${xmlEsc(objKey)}</Key><UploadId>${xmlEsc(id)}</UploadId></InitiateMultipartUploadResult>`);
    }
    if (qs.has('uploadId')) {
      const up = uploads.get(qs.get('uploadId'));
      if (!up) return xmlError(res, 404, 'NoSuchUpload', 'The specified upload does not exist.');
      if (req.method === 'PUT') {
        entry.op = 'upload-part';
        const n = +qs.get('partNumber');
        if (objKey.includes('fail-part') && n === 2) return xmlError(res, 500, 'InternalError', 'injected part failure');
        up.parts.set(n, body);
        res.writeHead(200, { ETag: etagOf(body) });
        return res.end();
      }
      if (req.method === 'DELETE') { entry.op = 'abort-multipart'; uploads.delete(qs.get('uploadId')); res.writeHead(204); return res.end(); }
      if (req.method === 'POST') {
        entry.op = 'complete-multipart';
        const parts = [...body.toString().matchAll(/<Part><PartNumber>(\d+)<\/PartNumber><ETag>([^<]*)<\/ETag><\/Part>/g)].map((m) => [+m[1], m[2].replace(/&quot;/g, '"')]);
        if (!parts.length) return xmlError(res, 400, 'MalformedXML', 'no parts');
        const bufs = [];
        for (let i = 0; i < parts.length; i++) {
          const [n, etag] = parts[i];
          const data = up.parts.get(n);
          if (!data || etagOf(data) !== etag || n !== i + 1) return xmlError(res, 400, 'InvalidPart', `part ${n}`);
          if (i < parts.length - 1 && data.length < 5 * 1024 * 1024) return xmlError(res, 400, 'EntityTooSmall', `part ${n} is ${data.length} bytes`);
          bufs.push(data);
        }
        objects.set(objKey, { data: Buffer.concat(bufs), mtime: Date.now() });
        uploads.delete(qs.get('uploadId'));
        res.writeHead(200, { 'Content-Type': 'application/xml' });
        return res.end(`<?xml version="1.0" encoding="UTF-8"?>\n<CompleteMultipartUploadResult><Key>${xmlEsc(objKey)}</Key></CompleteMultipartUploadResult>`);
      }
    }
    if (req.method === 'PUT') {
      entry.op = 'put';
      objects.set(objKey, { data: body, mtime: Date.now() });
      res.writeHead(200, { ETag: etagOf(body) });
      return res.end();
    }
    if (req.method === 'GET' || req.method === 'HEAD') {
      entry.op = req.method === 'GET' ? 'get' : 'head';
      const o = objects.get(objKey);
      if (!o) return req.method === 'HEAD' ? (res.writeHead(404), res.end()) : xmlError(res, 404, 'NoSuchKey', 'The specified key does not exist.');
      return serveFile(req, res, o.data, o.mtime);
    }
    xmlError(res, 405, 'MethodNotAllowed', req.method);
  };
}

function main() {
  if (process.argv[2] === '--selftest') return selftest();
  const root = path.resolve(process.argv[2] || '.');
  const logs = { web: [], hub: [], s3: [] };
  const ports = {};
  const listen = (name, handler) => new Promise((resolve) => {
    const s = server(logs[name], handler);
    s.listen(0, '127.0.0.1', () => { ports[name] = s.address().port; resolve(s); });
  });
  listen('web', webHandler(path.join(root, 'web'))).then(() => {
    // the Hub redirects downloads to "localhost": another host name, so a client must drop Authorization
    const hub = server(logs.hub, (req, res, body, entry) => handler(req, res, body, entry));
    let handler;
    hub.listen(0, '127.0.0.1', () => {
      ports.hub = hub.address().port;
      handler = hubHandler(path.join(root, 'hub'), `http://localhost:${ports.hub}`);
      listen('s3', s3Handler(path.join(root, 's3'), logs.s3)).then(() => console.log(JSON.stringify(ports)));
    });
  });
}

main();
