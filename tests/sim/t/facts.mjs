// Facts mode: answers follow a table of known texts (tests/sim/README.md, "Facts mode") across
// question shapes (a label, a yes/no on a property, a pair's same/opposite, an extraction with a
// score, packed rows) and across every chat protocol and both Batch APIs, with a per-model error
// rate; texts the facts do not hold are answered as without facts.
import { post, get, call, configure, test, assert, eq, done, sleep, OA, AN, GE, OR, chat, amsg, gcontent } from './lib.mjs';

const SENT = ['positive', 'negative'];
const TOPICS = ['plot', 'acting', 'music'];
const ADJ = { positive: ['a delight', 'wonderful', 'moving', 'brilliant'], negative: ['dull', 'a mess', 'tedious', 'clumsy'] };

// n generated reviews with known labels: text -> {sentiment, topic, score, language}
function makeFacts(n) {
  const texts = {};
  for (let i = 0; i < n; i++) {
    const sentiment = SENT[(i * 7 + (i >> 2)) % 2];
    const topic = TOPICS[i % 3];
    const score = sentiment === 'positive' ? 4 + (i % 2) : 1 + (i % 3);
    texts[`Review ${i}: the ${topic} was ${ADJ[sentiment][i % 4]} in this film.`] = { sentiment, topic, score, language: 'en' };
  }
  return texts;
}
const TEXTS = makeFacts(200);
const T = Object.keys(TEXTS);
const SPOILER = 'Spoiler: the butler did it, and the ending is superb.';
const FACTS = { error_rate: { default: 0 }, texts: { ...TEXTS, [SPOILER]: { sentiment: 'positive', topic: 'plot', score: 5, spoiler: true } } };

const jsonSchema = (schema, name = 'answer') => ({ response_format: { type: 'json_schema', json_schema: { name, strict: true, schema } } });
const obj = (props) => ({ type: 'object', properties: props, required: Object.keys(props), additionalProperties: false });
const LABEL = obj({ label: { type: 'string', enum: ['positive', 'negative'] } });
const ANSWER = obj({ answer: { type: 'boolean' } });
const REVIEW = obj({ score: { type: 'integer' }, topic: { type: 'string' }, language: { type: 'string', enum: ['de', 'en', 'fr'] }, summary: { type: 'string' } });

// The structured answer of an OpenAI chat completion (model: gpt-4o-mini unless given).
async function openai(user, schema, model = 'gpt-4o-mini', sys) {
  const messages = sys ? [{ role: 'system', content: sys }, { role: 'user', content: user }] : [{ role: 'user', content: user }];
  const r = await post('/v1/chat/completions', { model, messages, ...jsonSchema(schema) }, OA);
  assert(r.status === 200, `status ${r.status}: ${r.text}`);
  return JSON.parse(r.json.choices[0].message.content);
}

await configure({ facts: FACTS });

await test('config: the facts are part of the configuration; a bad facts document is refused and changes nothing', async () => {
  const c = (await get('/sim/config')).json;
  assert(c.facts && c.facts.texts[T[0]], 'GET /sim/config shows the facts');
  for (const bad of [{ texts: { x: 'not an object' } }, { texts: {}, error_rate: { m: 2 } }, { texts: {}, colour: 1 },
                     { texts: { '': {} } }, { texts: { a: { p: [1] } } }, 5, '/nonexistent/facts.json']) {
    const r = await post('/sim/config', { facts: bad });
    assert(r.status === 400 && /facts/.test(r.json.error), `refused ${JSON.stringify(bad)}: ${r.status} ${r.text}`);
  }
  eq((await openai(T[1], LABEL)).label, TEXTS[T[1]].sentiment, 'facts still loaded after refusals');
});

await test('classify: an enum field takes the text\'s own label, for every fact (case of the enum kept)', async () => {
  for (const t of T.slice(0, 40)) {
    eq((await openai(t, LABEL)).label, TEXTS[t].sentiment, t);
    eq((await openai(t, obj({ label: { type: 'string', enum: ['Plot', 'Acting', 'Music'] } }))).label,
      TEXTS[t].topic[0].toUpperCase() + TEXTS[t].topic.slice(1), 'topic of ' + t);
  }
});

await test('predicate: one text, true iff a value of its facts is named in the question', async () => {
  for (const t of T.slice(0, 40)) {
    eq((await openai(`Is ${t} positive?`, ANSWER)).answer, TEXTS[t].sentiment === 'positive', 'positive? ' + t);
    eq((await openai(`Is the review "${t}" negative?`, ANSWER)).answer, TEXTS[t].sentiment === 'negative', 'negative? ' + t);
    eq((await openai(`Does ${t} talk about the acting?`, ANSWER)).answer, TEXTS[t].topic === 'acting', 'acting? ' + t);
  }
  eq((await openai(`Does this review contain a spoiler? ${SPOILER}`, ANSWER)).answer, true, 'a boolean fact named');
  eq((await openai(`Does this review contain a spoiler? ${T[0]}`, ANSWER)).answer, false, 'no value named');
});

await test('semantic join pairs: same / opposite sentiment compares the two texts\' facts', async () => {
  let n = 0;
  for (const a of T.slice(0, 12)) for (const b of T.slice(0, 12)) {
    const same = TEXTS[a].sentiment === TEXTS[b].sentiment;
    eq((await openai(`Do these two reviews have the same sentiment?\nLeft: ${a}\nRight: ${b}`, ANSWER)).answer, same, `same ${a} | ${b}`);
    eq((await openai(`Do ${a} and ${b} express opposite sentiments?`, ANSWER)).answer, !same, `opposite ${a} | ${b}`);
    n++;
  }
  // a value word names the property; "different" negates
  eq((await openai(`Are both positive? ${T[0]} / ${T[3]}`, ANSWER)).answer, TEXTS[T[0]].sentiment === TEXTS[T[3]].sentiment, 'value word');
  eq((await openai(`Are ${T[0]} and ${T[1]} about different topics?`, ANSWER)).answer, TEXTS[T[0]].topic !== TEXTS[T[1]].topic, 'topic differs');
  assert(n === 144, 'pairs');
});

await test('extract: fields take the facts of the same name; other fields are the ordinary answer', async () => {
  const plain = T.map(t => t.replace('Review', 'Critique'));   // not in the facts
  for (let i = 0; i < 20; i++) {
    const t = T[i], got = await openai(t, REVIEW);
    eq([got.score, got.topic, got.language], [TEXTS[t].score, TEXTS[t].topic, 'en'], t);
    assert(typeof got.summary === 'string' && got.summary.length > 0, 'summary filler');
  }
  await configure({});
  const without = await openai(plain[0], REVIEW), withoutKnown = await openai(T[0], REVIEW);
  await configure({ facts: FACTS });
  eq(await openai(plain[0], REVIEW), without, 'a text not in the facts is answered as without facts');
  eq((await openai(T[0], REVIEW)).summary, withoutKnown.summary, 'a field without a fact is answered as without facts');
  const r = await openai(T[5], obj({ rating: { type: 'integer', minimum: 1, maximum: 5 } }));
  eq(r.rating, TEXTS[T[5]].score, 'a rating field takes the score');
});

await test('packed rows: each item answered as its own row, by index', async () => {
  const rows = T.slice(20, 30);
  const user = rows.map((t, i) => `### input ${i}\nIs ${t} positive?`).join('\n\n');
  const item = { type: 'object', properties: { index: { type: 'integer' }, answer: { type: 'boolean' } }, required: ['index', 'answer'], additionalProperties: false };
  const got = await openai(user, obj({ answers: { type: 'array', items: item } }), 'gpt-4o-mini', 'You are given 10 inputs.');
  eq(got.answers.map(a => [a.index, a.answer]), rows.map((t, i) => [i, TEXTS[t].sentiment === 'positive']), 'answers');
  const user2 = rows.map((t, i) => `### input ${i}\n${t}`).join('\n\n');
  const item2 = { type: 'object', properties: { index: { type: 'integer' }, label: { type: 'string', enum: SENT } }, required: ['index', 'label'], additionalProperties: false };
  const got2 = await openai(user2, obj({ answers: { type: 'array', items: item2 } }));
  eq(got2.answers.map(a => a.label), rows.map(t => TEXTS[t].sentiment), 'labels');
});

await test('ranking (top K by): an enum `best` of "1".."n" over n texts names the one with the highest score', async () => {
  const best = (n) => obj({ best: { type: 'string', enum: Array.from({ length: n }, (_, i) => String(i + 1)) } });
  let n = 0;
  for (let g = 2; g <= 5; g++) for (let start = 0; start < 40; start += 3) {
    const c = T.slice(start, start + g);
    const user = 'Rank the candidates below by this criterion: Which review is most enthusiastic?\n' +
      c.map((t, i) => `\nCandidate ${i + 1}:\n${t}\n`).join('') + `\nAnswer with the number of the candidate that ranks first (1 to ${g}).`;
    const sc = c.map(t => TEXTS[t].score);
    const hi = sc.indexOf(Math.max(...sc)), lo = sc.indexOf(Math.min(...sc));   // ties: the earlier text
    eq((await openai(user, best(g))).best, String(hi + 1), `highest of ${sc}`);
    eq((await openai(user.replace('most enthusiastic', 'the least enthusiastic'), best(g))).best, String(lo + 1), `least of ${sc}`);
    n++;
  }
  assert(n > 40, 'groups asked');
  // labels that are not the candidates' numbers: the ordinary enum rule (the first text's label)
  eq((await openai(`Which is better?\n1: ${T[0]}\n2: ${T[1]}`, obj({ best: { type: 'string', enum: ['positive', 'negative'] } }))).best,
     TEXTS[T[0]].sentiment, 'not a ranking question');
});

await test('every protocol: Anthropic tool and output_format, Gemini responseSchema, OpenRouter, OpenAI function', async () => {
  for (const t of T.slice(40, 50)) {
    const want = TEXTS[t].sentiment;
    const a = await post('/v1/messages', amsg(t, { tools: [{ name: 'classify', input_schema: LABEL }], tool_choice: { type: 'tool', name: 'classify' } }), AN);
    eq(a.json.content[0].input.label, want, 'anthropic tool');
    const a2 = await post('/v1/messages', amsg(`Is ${t} positive?`, { output_format: { type: 'json_schema', schema: ANSWER } }), AN);
    eq(JSON.parse(a2.json.content[0].text).answer, want === 'positive', 'anthropic output_format');
    const g = await post('/v1beta/models/gemini-2.5-flash:generateContent', gcontent(t, { generationConfig: { responseMimeType: 'application/json',
      responseSchema: { type: 'OBJECT', properties: { label: { type: 'STRING', enum: SENT }, score: { type: 'INTEGER' } } } } }), GE);
    eq(JSON.parse(g.json.candidates[0].content.parts[0].text), { label: want, score: TEXTS[t].score }, 'gemini');
    const o = await post('/api/v1/chat/completions', { ...chat(`Is ${t} negative?`, jsonSchema(ANSWER)), model: 'openai/gpt-4o-mini' }, OR);
    eq(JSON.parse(o.json.choices[0].message.content).answer, want === 'negative', 'openrouter');
    const f = await post('/v1/chat/completions', chat(t, { tools: [{ type: 'function', function: { name: 'c', parameters: LABEL } }],
      tool_choice: { type: 'function', function: { name: 'c' } } }), OA);
    eq(JSON.parse(f.json.choices[0].message.tool_calls[0].function.arguments).label, want, 'openai function');
  }
});

await test('batch lines: OpenAI and Anthropic batches answer from the facts', async () => {
  const rows = T.slice(50, 60);
  const fd = new FormData();
  fd.append('purpose', 'batch');
  fd.append('file', new Blob([rows.map((t, i) => JSON.stringify({ custom_id: `r${i}`, method: 'POST', url: '/v1/chat/completions',
    body: { model: 'gpt-4o-mini', messages: [{ role: 'user', content: t }], ...jsonSchema(LABEL) } })).join('\n') + '\n']), 'in.jsonl');
  const up = await (await fetch(`http://127.0.0.1:${process.env.SIM_PORT}/v1/files`, { method: 'POST', headers: OA, body: fd })).json();
  let b = (await post('/v1/batches', { input_file_id: up.id, endpoint: '/v1/chat/completions', completion_window: '24h' }, { ...OA, 'x-sim-batch-delay-ms': '0' })).json;
  for (let i = 0; i < 100 && b.status !== 'completed'; i++) { await sleep(20); b = (await get(`/v1/batches/${b.id}`, OA)).json; }
  const out = (await get(`/v1/files/${b.output_file_id}/content`, OA)).text.trim().split('\n').map(JSON.parse);
  eq(out.map(l => [l.custom_id, JSON.parse(l.response.body.choices[0].message.content).label]), rows.map((t, i) => [`r${i}`, TEXTS[t].sentiment]), 'openai batch');
  const requests = rows.map((t, i) => ({ custom_id: `a${i}`, params: amsg(`Is ${t} positive?`, { output_format: { type: 'json_schema', schema: ANSWER } }) }));
  let ab = (await post('/v1/messages/batches', { requests }, { ...AN, 'x-sim-batch-delay-ms': '0' })).json;
  for (let i = 0; i < 100 && ab.processing_status !== 'ended'; i++) { await sleep(20); ab = (await get(`/v1/messages/batches/${ab.id}`, AN)).json; }
  const res = (await call('GET', new URL(ab.results_url).pathname, undefined, AN)).text.trim().split('\n').map(JSON.parse);
  eq(res.map(r => JSON.parse(r.result.message.content[0].text).answer), rows.map(t => TEXTS[t].sentiment === 'positive'), 'anthropic batch');
});

await test('error rate: about that share of answers is wrong, per model, the same on every ask', async () => {
  await configure({ facts: { ...FACTS, error_rate: { default: 0, 'gpt-4o-mini': 0.2 } } });
  let right = 0, rightScore = 0, rightPred = 0;
  const first = [];
  for (const t of T) {
    const l = (await openai(t, LABEL)).label;
    assert(SENT.includes(l), 'a wrong label is another label');
    first.push(l);
    if (l === TEXTS[t].sentiment) right++;
    const s = (await openai(t, obj({ score: { type: 'integer', minimum: 1, maximum: 5 } }))).score;
    assert(s === TEXTS[t].score || Math.abs(s - TEXTS[t].score) === 1, `a wrong score is one off: ${s} vs ${TEXTS[t].score}`);
    assert(s >= 1 && s <= 5, 'within the schema bounds');
    if (s === TEXTS[t].score) rightScore++;
    if ((await openai(`Is ${t} positive?`, ANSWER)).answer === (TEXTS[t].sentiment === 'positive')) rightPred++;
  }
  for (const [k, v] of [['labels', right], ['scores', rightScore], ['predicates', rightPred]])
    assert(v >= 0.72 * T.length && v <= 0.88 * T.length, `${k} right ${v} of ${T.length}, expected about 80%`);
  for (let i = 0; i < 30; i++) eq((await openai(T[i], LABEL)).label, first[i], 'deterministic');
  let other = 0;   // a model without an entry takes "default" (0)
  for (const t of T.slice(0, 50)) if ((await openai(t, LABEL, 'gpt-4o')).label === TEXTS[t].sentiment) other++;
  eq(other, 50, 'gpt-4o right');
});

await test('counting, tokens and limits work as without facts', async () => {
  await configure({ facts: FACTS, models: { 'gpt-4o-mini': { quota_requests: 3 } } });
  const codes = [];
  for (let i = 0; i < 4; i++) {
    const r = await post('/v1/chat/completions', chat(T[i], jsonSchema(LABEL)), OA);
    codes.push(r.status);
    if (r.status === 200) eq(r.json.usage.completion_tokens, Math.ceil(r.json.choices[0].message.content.length / 4), 'completion tokens');
  }
  eq(codes, [200, 200, 200, 429], 'a quota of 3 requests');
  eq((await get('/sim/stats')).json.models['gpt-4o-mini'].requests, 4, 'requests counted');
  await configure({ facts: FACTS });
  const f = await post('/v1/chat/completions', chat(T[0], jsonSchema(LABEL)), { ...OA, 'x-sim-fault': 'bad_schema' });
  assert(f.status === 200 && !('label' in JSON.parse(f.json.choices[0].message.content)), 'faults still apply: ' + f.text);
});

done();
