#!/usr/bin/env bash
# The HTML report (issue 19) against fql-sim, checked in headless Chromium: `fql --report FILE
# script`, `--report FILE --query-id N` from the state database afterwards, and `.report FILE` in
# the shell. The page renders with no console message, loads nothing from the network, and its
# numbers (the JSON block and the summary table's data- attributes) equal system.query_metrics;
# it has the timelines against the declared limits, the latency histograms, the plan with
# estimated and actual rows, the slowest requests and the failed rows with their reasons.
# usage: tests/runtime/report.sh BUILD_DIR
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/../lib/setup.sh"
cat > sim.json <<'J'
{"default": {"latency_ms": 5, "jitter_ms": 20},
 "models": {"gpt-4o-mini": {"fault_rules": [{"contains": "dull", "fault": "refusal"}]}}}
J
source "$HERE/../lib/sim.sh"
CHROME=$(command -v chromium || command -v chromium-browser)
[[ -n $CHROME ]] || { bad chromium "no chromium: install it (make deps)"; finish; exit 1; }

# render FILE: the DOM Chromium built (FILE.dom) and its log (FILE.log); fails when a console
# message was logged
render() {
  timeout 120 "$CHROME" --headless --disable-gpu --no-sandbox --enable-logging=stderr --v=0 \
    --user-data-dir="$PWD/chrome-profile" --dump-dom "file://$PWD/$1" > "$1.dom" 2> "$1.log" || return 1
  [[ -s $1.dom ]] && ! grep -qE 'CONSOLE|Uncaught' "$1.log"
}
# the detector sees a console error (else the checks below could not fail)
echo '<html><body><script>console.error("seen")</script></body></html>' > control.html
render control.html && bad detector "a console.error was not noticed" || ok "the console check notices a console.error (control page)"

{ echo "id,t"; for i in $(seq 1 40); do echo "$i,review $i: a good film"; done; echo "41,a dull film"; } > r.csv
cat > run.fql <<'Q'
model m = openai("gpt-4o-mini", rpm: 1200, tpm: 200000);
model h = anthropic("claude-haiku-4-5");
from csv("r.csv") | derive p = predicate("Is {{t}} positive?", model: m, pack: 1) | select id, p;
from csv("r.csv") | where id <= 10 | derive c = classify(t, ["warm", "cold"], model: h) | select id, c;
Q
"$FQL" --no-progress --format csv --report run.html run.fql > run.out 2> run.err; rc=$?
[[ $rc == 0 && -s run.html ]] && ok "--report run.html script: written" || bad run "rc $rc $(head -c 400 run.err)"
render run.html && grep -q "FQL run report" run.html.dom && ok "Chromium renders it, no console message" \
  || bad render "$(grep -E 'CONSOLE|Uncaught' run.html.log | head -3) $(head -c 200 run.html.dom)"

# nothing from the network, no script to run, no key
if grep -qiE '(src|href)=|url\(|@import' run.html || [[ $(grep -o '<script' run.html | wc -l) != 1 ]] || grep -q "sk-test-lib" run.html; then
  bad selfcontained "$(grep -oiE '(src|href)=[^ >]*|url\([^)]*\)|<script[^>]*>' run.html | head -3)"
else ok "self-contained: no src, href or url(), one JSON data block and no other script, no key"; fi

# compare the page's numbers (JSON block and data- attributes) with system.query_metrics
"$FQL" --format json -c 'from system.query_metrics | select query_id, model, rows, requests, cache_hits, failures, input_tokens, output_tokens, cost_usd' > qm.json
cmp_js='
const fs = require("fs");
const dom = fs.readFileSync(process.argv[1], "utf8"), want = JSON.parse(fs.readFileSync(process.argv[2], "utf8"))
  .filter(r => process.argv[3] === "all" || String(r.query_id) === process.argv[3]);
const js = JSON.parse(dom.match(/<script type="application\/json" id="fql-metrics">([\s\S]*?)<\/script>/)[1]);
const attrs = [...dom.matchAll(/<tr class="metric" ([^>]*)>/g)].map(m => Object.fromEntries([...m[1].matchAll(/data-([a-z_-]+)="([^"]*)"/g)].map(a => [a[1], a[2]])));
const keys = ["rows", "requests", "cache_hits", "failures", "input_tokens", "output_tokens"];
let bad = [];
if (js.length !== want.length || attrs.length !== want.length) bad.push(`rows: page ${js.length}/${attrs.length}, query_metrics ${want.length}`);
want.forEach((w, i) => {
  const j = js[i] || {}, a = attrs[i] || {};
  if (j.query_id !== w.query_id || j.model !== w.model || a["query-id"] !== String(w.query_id) || a.model !== w.model) bad.push(`row ${i}: ${j.query_id}/${j.model} vs ${w.query_id}/${w.model}`);
  for (const k of keys) if (j[k] !== w[k] || Number(a[k]) !== w[k]) bad.push(`${w.query_id} ${w.model} ${k}: json ${j[k]}, attr ${a[k]}, query_metrics ${w[k]}`);
  if (Math.abs((j.cost_usd ?? -1) - (w.cost_usd ?? -1)) > 1e-12 || Math.abs(Number(a.cost_usd ?? -1) - (w.cost_usd ?? -1)) > 1e-9) bad.push(`${w.model} cost ${j.cost_usd}/${a.cost_usd} vs ${w.cost_usd}`);
});
console.log(bad.length ? bad.join("; ") : `same ${want.length}`);'
res=$(node -e "$cmp_js" run.html.dom qm.json all)
[[ $res == "same 2" ]] && ok "the page's numbers equal system.query_metrics (2 rows: requests, cache hits, rows, failures, tokens, cost)" || bad numbers "$res"

# the parts: timelines with the declared limits, latency histograms, plan, slowest, failed rows
svgs=$(grep -o '<svg' run.html.dom | wc -l)
limits=$(grep -o 'class="limit"' run.html.dom | wc -l)
[[ $svgs -ge 6 && $limits -ge 2 ]] && grep -q 'requests sent per second (41 sent), limit: rpm / 60' run.html.dom && grep -q 'latency of 41 requests' run.html.dom \
  && ok "timelines (requests and tokens per second) against rpm/60 and tpm/60, latency histograms: $svgs charts, $limits limit lines" \
  || bad charts "svgs $svgs, limits $limits $(grep -o 'requests sent per second[^<]*' run.html.dom | head -2)"
grep -A8 'class="plan"' run.html.dom | grep -q 'actual: 41 rows' && grep -q 'derive p = predicate(.*\[~41 rows, ~41 requests\]' run.html.dom \
  && ok "the plan: estimated (~41 rows, ~41 requests) and actual rows, requests and cost" || bad plan "$(grep -A6 'class="plan"' run.html.dom | head -8)"
frow=$(node -e 'const d=require("fs").readFileSync(process.argv[1],"utf8"); const t=d.match(/<table id="failed"[\s\S]*?<\/table>/); console.log(t ? [...t[0].matchAll(/<tr class="failed"><td>(\d+)<\/td><td>(\d+)<\/td><td class="t">(\w+)<\/td><td class="t">(\w+)<\/td>/g)].map(m=>m.slice(2).join(" ")).join(";") : "none")' run.html.dom)
errs=$("$FQL" --format csv -c 'from system.lm_errors | select row, model, kind' | tail -n +2 | tr ',' ' ' | paste -sd';')
[[ $frow == "$errs" && $frow == "40 m refusal" ]] && grep -q 'data-kind="refusal" data-count="1"' run.html.dom \
  && ok "failed rows with their reasons (row 40, refusal), errors by kind in the summary, as system.lm_errors" || bad failed "page '$frow', lm_errors '$errs'"
slow=$(node -e 'const d=require("fs").readFileSync(process.argv[1],"utf8"); const t=d.match(/<table id="slowest">[\s\S]*?<\/table>/)[0];
  const l=[...t.matchAll(/<tr><td>\d+<\/td><td>\d*<\/td><td class="t">\w+<\/td><td class="t">\w+<\/td><td>([\d.]+)<\/td>/g)].map(m=>+m[1]);
  console.log(l.length + " " + l.every((x,i)=>i==0||l[i-1]>=x))' run.html.dom)
maxlat=$("$FQL" --format csv -c 'from system.lm_calls | agg m = max(latency_ms) | select round(m, 1)' | tail -1)
[[ $slow == "10 true" ]] && grep -q "<td>$maxlat</td>" <(sed -n '/id="slowest"/,/<\/table>/p' run.html.dom | head -3) \
  && ok "the 10 slowest requests, slowest first (the slowest: $maxlat ms, as system.lm_calls)" || bad slowest "$slow, max $maxlat"

# after the fact, from the state database: one query's report
q2=$("$FQL" --format csv -c 'from system.query_metrics | where model == "h" | select query_id' | tail -1)
"$FQL" --report q2.html --query-id "$q2" > q2.out 2> q2.err; rc=$?
render q2.html && [[ $rc == 0 ]] && res=$(node -e "$cmp_js" q2.html.dom qm.json "$q2") && [[ $res == "same 1" ]] && grep -q 'classify' q2.html.dom \
  && ok "--report FILE --query-id $q2 (no script): that query alone, its numbers as system.query_metrics" || bad query-id "rc $rc $res $(cat q2.err)"
"$FQL" --report none.html --query-id 999 > none.out 2> none.err; rc=$?
[[ $rc == 1 ]] && grep -q "no query 999 in system.query_metrics" none.err && ok "--query-id of no query: exit 1, said" || bad no-query "rc $rc $(cat none.err)"
"$FQL" --db nodb/state.db --report none.html --query-id 1 > nodb.out 2> nodb.err; rc=$?
[[ $rc == 1 && ! -e nodb/state.db ]] && grep -q "no state database" nodb.err && ok "--query-id without a state database: exit 1, none created" || bad no-db "rc $rc $(cat nodb.err)"

# the shell: .report FILE writes this session's queries
printf 'model m = openai("gpt-4o-mini");\nfrom csv("r.csv") | where id <= 5 | derive p = predicate("Is {{t}} long?", model: m) | select id, p;\n.report sh.html\n' \
  | "$FQL" --no-progress --shell > sh.out 2> sh.err
render sh.html && res=$(node -e "$cmp_js" sh.html.dom <("$FQL" --format json -c 'from system.query_metrics | select query_id, model, rows, requests, cache_hits, failures, input_tokens, output_tokens, cost_usd | order by query_id desc | limit 1') all) \
  && [[ $res == "same 1" ]] && grep -q "wrote sh.html" sh.out && ok ".report FILE in the shell: this session's query, rendered, numbers as system.query_metrics" || bad shell "$res $(head -c 300 sh.err)"

# an older state database (no new columns) is migrated and still makes a report
sqlite3 old.db 'create table lm_calls (query_id integer, call_id integer primary key autoincrement, started_at real, model text, provider text, model_name text, operator text, status text, attempt integer, cached integer, input_tokens integer, cached_input_tokens integer, output_tokens integer, reasoning_tokens integer, cost_usd real, latency_ms real);
  create table query_metrics (query_id integer, statement text, started_at real, model text, provider text, model_name text, operator text, rows integer, requests integer, cache_hits integer, retries integer, rate_limited integer, failures integer, input_tokens integer, cached_input_tokens integer, output_tokens integer, reasoning_tokens integer, cost_usd real, latency_ms real, latency_p95_ms real, execution_time_ms real);
  insert into query_metrics values (7, "from x", 0, "m", "openai", "gpt-4o-mini", "predicate", 3, 3, 0, 0, 0, 0, 30, 0, 6, 0, 0.001, 5, 6, 20);
  insert into lm_calls (query_id, started_at, model, status, attempt, cached, input_tokens, output_tokens, latency_ms) values (7, 100.0, "m", "ok", 1, 0, 10, 2, 5);'
"$FQL" --db old.db --report old.html --query-id 7 > old.out 2> old.err; rc=$?
render old.html && [[ $rc == 0 ]] && grep -q 'data-requests="3"' old.html.dom && ok "a state database made before these columns: migrated, reported" || bad old-db "rc $rc $(cat old.err)"
finish
