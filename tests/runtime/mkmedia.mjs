// mkmedia.mjs: small media files for the tests (no dependencies beyond Node's zlib).
//   node mkmedia.mjs png OUT WIDTH HEIGHT RRGGBB   a PNG of that size: the colour with a diagonal stripe
//   node mkmedia.mjs noise OUT WIDTH HEIGHT        a PNG of seeded random pixels (it does not compress)
//   node mkmedia.mjs wav OUT SECONDS HZ            a 16-bit mono 8 kHz WAV of a sine tone
import { writeFileSync } from 'node:fs';
import { deflateSync } from 'node:zlib';
import { pathToFileURL } from 'node:url';

const crcTable = new Int32Array(256).map((_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c;
});
function crc32(buf) {
  let c = -1;
  for (const b of buf) c = crcTable[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ -1) >>> 0;
}
function chunk(type, data) {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const td = Buffer.concat([Buffer.from(type, 'ascii'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(td));
  return Buffer.concat([len, td, crc]);
}
export function png(w, h, hex, noise = false) {
  const [r, g, b] = [0, 2, 4].map((i) => parseInt(hex.slice(i, i + 2), 16));
  const raw = Buffer.alloc((w * 3 + 1) * h);
  let seed = 12345;
  const rnd = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) >>> 24;
  for (let y = 0; y < h; y++) {
    raw[y * (w * 3 + 1)] = 0;   // filter: none
    for (let x = 0; x < w; x++) {
      const o = y * (w * 3 + 1) + 1 + x * 3, stripe = Math.abs(x - y) < Math.max(1, w / 16);
      if (noise) { raw[o] = rnd(); raw[o + 1] = rnd(); raw[o + 2] = rnd(); continue; }
      raw[o] = stripe ? 255 - r : r; raw[o + 1] = stripe ? 255 - g : g; raw[o + 2] = stripe ? 255 - b : b;
    }
  }
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(w, 0); ihdr.writeUInt32BE(h, 4);
  ihdr[8] = 8; ihdr[9] = 2; ihdr[10] = 0; ihdr[11] = 0; ihdr[12] = 0;   // 8-bit RGB
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk('IHDR', ihdr),
                        chunk('IDAT', deflateSync(raw)), chunk('IEND', Buffer.alloc(0))]);
}
export function wav(seconds, hz) {
  const rate = 8000, n = Math.round(seconds * rate), data = Buffer.alloc(n * 2);
  for (let i = 0; i < n; i++) data.writeInt16LE(Math.round(8000 * Math.sin(2 * Math.PI * hz * i / rate)), i * 2);
  const h = Buffer.alloc(44);
  h.write('RIFF', 0); h.writeUInt32LE(36 + data.length, 4); h.write('WAVE', 8); h.write('fmt ', 12);
  h.writeUInt32LE(16, 16); h.writeUInt16LE(1, 20); h.writeUInt16LE(1, 22); h.writeUInt32LE(rate, 24);
  h.writeUInt32LE(rate * 2, 28); h.writeUInt16LE(2, 32); h.writeUInt16LE(16, 34); h.write('data', 36);
  h.writeUInt32LE(data.length, 40);
  return Buffer.concat([h, data]);
}
// also a module: the SDK fidelity tests import png() and wav()
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const [kind, out, a, b, c] = process.argv.slice(2);
  if (kind === 'png') writeFileSync(out, png(+a, +b, c || '336699'));
  else if (kind === 'noise') writeFileSync(out, png(+a, +b, '000000', true));
  else if (kind === 'wav') writeFileSync(out, wav(+a, +b || 440));
  else { console.error('usage: mkmedia.mjs png OUT W H RRGGBB | noise OUT W H | wav OUT SECONDS HZ'); process.exit(2); }
}
