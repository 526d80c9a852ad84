// The reference side of tests/runtime/tokenizer.sh: the corpus, and the counts of the npm package
// tiktoken (the package whose ranks are compiled into fql) to compare fql's with.
// usage: node tokenizer_ref.js corpus DIR        writes DIR/corpus.jsonl ({id, text} per line)
//        node tokenizer_ref.js compare DIR FQL_OUT  compares FQL_OUT (jsonl {id, o200k, cl100k}) with tiktoken
//        node tokenizer_ref.js big FILE MB SRC...   writes FILE: {text} of about MB megabytes: the SRC files, repeated
//        node tokenizer_ref.js count FILE           prints tiktoken's o200k_base count of FILE's {text}
"use strict";
const fs = require("fs");
const path = require("path");

// A small deterministic generator (mulberry32), so a failure names an item that exists next time.
function rng(seed) {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const code = [
  'int main(void) {\n    printf("hello, %s\\n", argv[1]);\n    return 0;\n}\n',
  "def f(x):\n\treturn [i ** 2 for i in range(x) if i % 3 == 0]  # squares\n\n\nprint(f(10))\n",
  '{"id": 12345, "name": "Ünïcödé", "tags": ["a", "b"], "nested": {"k": null, "v": 3.14e-10}}',
  "<html><body><div class=\"x\">&nbsp;Hello&amp;goodbye</div></body></html>",
  "SELECT a.id, COUNT(*) AS n FROM t AS a LEFT JOIN u ON u.id=a.id WHERE x >= 10 GROUP BY 1;",
  "fn main() -> Result<(), Box<dyn Error>> { let v: Vec<u8> = vec![0xFF; 1024]; Ok(()) }",
  "    if (a&&b||!c) { x += y >> 2; } // comment\r\n    else { y--; }\r\n",
  "$ ls -la /usr/local/bin | grep -E '^-r.x' | awk '{print $9}' > /tmp/out.txt 2>&1",
  "https://example.com/path/to/resource?query=value&other=123#fragment",
  "const camelCaseVariable = someObject?.deeplyNested?.HTTPServerError ?? DEFAULT_VALUE;",
];
const unicode = [
  "日本語のテキストです。東京は大きな都市です。", "中文文本，包括标点符号！还有数字123和English。",
  "한국어 텍스트입니다. 안녕하세요!", "Привет, мир! Как дела? ЁЖИК и ёжик.", "Ελληνικά: Καλημέρα κόσμε",
  "नमस्ते दुनिया, यह हिंदी है।", "مرحبا بالعالم، هذا نص عربي.", "שלום עולם", "สวัสดีชาวโลก ภาษาไทย",
  "Tiếng Việt có dấu: người, được, những", "e\u0301te\u0301 cafe\u0301 n\u0303 a\u030a\u0323",
  "\u0301\u0302\u0303 combining marks alone", "👍🏽 👨‍👩‍👧‍👦 🇫🇷🇯🇵 ❤️ 🏳️‍🌈 😀😃😄", "emoji🙂inside🙃words",
  "ǅungla ǈ ǋ titlecase ᾈ", "modifier ʰʲʷ ˆ letters ꜟ", "ﬁ ﬂ ligatures ＡＢＣ fullwidth １２３",
  "math 𝐀𝐁𝐂 𝕏 ∑∫∂ √2 ≈ 1.414", "Zero\u200bwidth\u200cjoin\u200dchars\ufeffBOM",
  "nbsp\u00a0here em\u2003space ideographic\u3000space nel\u0085line ls\u2028ps\u2029end",
  "I'm, you're, he'S, THEY'RE, we'VE, I'LL, she'd, 'tis, ſ 'ſ 'K", "don't won't can't y'all o'clock",
  "<|endoftext|> and <|endofprompt|> as plain text", "Ⅻ Ⅷ ½ ¾ ² ³ ٣٤٥ ๑๒๓ numerals",
];
const space = [
  "", " ", "  ", "\n", "\n\n", "\r\n", "\t", " \n ", "  \n  ", "a  b", "a   \n\n   b", "end with spaces   ",
  "   start with spaces", "\n\n\n\nnewlines\n\n\n\n", " ".repeat(1000), "\t \t \t\n".repeat(50),
  "x" + " ".repeat(333) + "y", "line1\r\nline2\r\n\r\nline3", "word \u00a0\u00a0 word", " \n".repeat(100) + "z",
];
const numbers = [
  "0", "12", "123", "1234", "1234567890123", "3.14159265358979", "1,000,000.00", "-42", "+7e10",
  "12abc34def5678", "2024-11-27T21:16:50Z", "IPv4 192.168.100.200", "phone +1 (555) 123-4567", "0x1F2E3D4C",
];
const long = [
  "a".repeat(5000), "ab".repeat(3000), "supercalifragilisticexpialidocious".repeat(50),
  "Pneumonoultramicroscopicsilicovolcanoconiosis", "日本語".repeat(1500),
  "=".repeat(2000), "-_-".repeat(700) + "\n", "🙂".repeat(800), "é".repeat(1200), "A1b2C3".repeat(400),
];

function corpus() {
  const items = [...code, ...unicode, ...space, ...numbers, ...long];
  // a base64-looking blob and mixed random strings from pools of every kind of character
  const r = rng(20261127);
  const b64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  let blob = "";
  for (let i = 0; i < 3000; i++) blob += b64[Math.floor(r() * 64)];
  items.push(blob);
  const pools = [
    "abcdefghijklmnopqrstuvwxyz", "ABCDEFGHIJKLMNOPQRSTUVWXYZ", "0123456789", " ", "  \t", "\n\r",
    ".,;:!?'\"()[]{}<>/\\|-_=+*&^%$#@~`", "éèêëàâäôöûüçñßøåæœ", "日本語中文한국어テキスト", "🙂👍🏽🇫🇷❤️",
    "\u0301\u0308\u0327", "ǅʰˆ", "\u00a0\u2003\u3000\u0085", "'s'T'RE've'M'll'D",
  ];
  for (let k = 0; k < 400; k++) {
    const len = 1 + Math.floor(r() * (k % 10 === 0 ? 2000 : 200));
    let s = "";
    while (s.length < len) {
      const pool = [...pools[Math.floor(r() * pools.length)]];
      const run = 1 + Math.floor(r() * 8);
      for (let i = 0; i < run; i++) s += pool[Math.floor(r() * pool.length)];
    }
    items.push(s);
  }
  // every piece of the corpus so far glued together: pieces meet in new ways
  items.push(items.slice(0, 80).join(""));
  return items;
}

function encoders() {
  const { get_encoding } = require("tiktoken");
  return { o200k: get_encoding("o200k_base"), cl100k: get_encoding("cl100k_base") };
}

const [mode, a, b] = process.argv.slice(2);
if (mode === "corpus") {
  const out = corpus().map((text, id) => JSON.stringify({ id, text })).join("\n") + "\n";
  fs.writeFileSync(path.join(a, "corpus.jsonl"), out);
} else if (mode === "big") {
  const src = process.argv.slice(5).map((f) => fs.readFileSync(f, "utf8")).join("\n");
  const parts = [];
  for (let size = 0; size < Number(b) * 1e6; size += src.length) parts.push(src);
  fs.writeFileSync(a, JSON.stringify({ text: parts.join("\n") }) + "\n");
} else if (mode === "count") {
  console.log(encoders().o200k.encode_ordinary(JSON.parse(fs.readFileSync(a, "utf8")).text).length);
} else if (mode === "compare") {
  const items = fs.readFileSync(path.join(a, "corpus.jsonl"), "utf8").trim().split("\n").map((l) => JSON.parse(l));
  const got = new Map();
  for (const line of fs.readFileSync(b, "utf8").split("\n")) {
    if (!line.trim()) continue;
    const row = JSON.parse(line);
    got.set(row.id, row);
  }
  const enc = encoders();
  let pass = 0, fail = 0;
  for (const { id, text } of items) {
    const row = got.get(id);
    for (const name of ["o200k", "cl100k"]) {
      const want = enc[name].encode_ordinary(text).length;
      const have = row ? row[name] : undefined;
      if (have === want) { pass++; continue; }
      fail++;
      console.log(`FAIL item ${id} ${name}: fql ${have}, tiktoken ${want}: ${JSON.stringify(text.slice(0, 80))}`);
    }
  }
  console.log(`ok ${pass} counts equal tiktoken's over ${items.length} texts`);
  console.log(`${pass} passed, ${fail} failed`);
} else {
  console.error("usage: node tokenizer_ref.js corpus DIR | compare DIR FQL_OUT | big FILE MB SRC... | count FILE");
  process.exit(2);
}
