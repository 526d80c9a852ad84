#!/usr/bin/env bash
# Faults from the provider against fql-sim (issue 13, items 6 and 11): every kind of transient
# fault is retried and no row is lost; an answer body larger than the cap is a row error with
# memory bounded; a redirect is not followed nor retried and says where it points. No timing
# assertions (bench/faults/run.sh measures the time).
# usage: tests/runtime/faults.sh BUILD_DIR
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/../lib/setup.sh"
cat > sim.json <<'J'
{"default": {"latency_ms": 5, "jitter_ms": 10},
 "huge_mb": 1024,
 "models": {"flaky": {"faults": {"500": 0.07, "502": 0.06, "503": 0.06, "529": 0.06, "reset": 0.06,
                                 "429": 0.06, "429_bare": 0.06}},
            "huge": {"faults": {"huge": 1.0}},
            "moved": {"faults": {"redirect": 1.0}}}}
J
source "$HERE/../lib/sim.sh"
export OPENAI_API_KEY="sk-test-faults-Q7SECRETKEY"
st() { stat_of "$1" "$2"; }
status_of() {  # status_of MODEL CODE: answers of that status the simulator gave
  curl -s "$SIMURL/sim/stats" | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{const m=JSON.parse(s).models[process.argv[1]]||{};console.log((m.status||{})[process.argv[2]]||0)})' "$1" "$2"
}
metric() {  # metric DB MODEL COLUMN: a column of query_metrics for the model
  FQL_DB="$1" "$FQL" --format csv -c "from system.query_metrics | where model == \"$2\" | agg v = sum($3)" 2>/dev/null | tail -1
}

N=80
{ echo "id,content"; for i in $(seq 1 $N); do echo "$i,ticket $i: the checkout page $((i % 7)) fails or a billing question $((i % 5))"; done; } > t.csv

# 1. every fault kind (500, 502, 503, 529, reset, 429 with a server wait, 429 without evidence) is
# retried until the row is answered: nothing lost (max_retries raised so that a row failing 6
# times in a row by chance cannot make the test flaky)
FQL_DB="$PWD/flaky.db" "$FQL" --format csv -c "model flaky = openai(\"flaky\", rpm: 1200, max_retries: 20);
  from csv(\"t.csv\") | select id, classify(content, [\"billing\", \"checkout\"]) as label" > flaky.csv 2> flaky.err \
  || bad "flaky run" "$(head -c 500 flaky.err)"
answered=$(awk -F, 'NR > 1 && $2 != "" { n++ } END { print n + 0 }' flaky.csv)
[[ $answered == "$N" ]] && ok "every one of $N rows answered despite 42% faults" || bad lost "$answered of $N rows answered: $(head -c 300 flaky.err)"
s500=$(status_of flaky 500) s502=$(status_of flaky 502) s503=$(status_of flaky 503) s0=$(status_of flaky 0) s429=$(status_of flaky 429) s200=$(status_of flaky 200)
[[ $s500 -gt 0 && $s502 -gt 0 && $s503 -gt 0 && $s0 -gt 0 && $s429 -gt 0 ]] \
  && ok "the simulator answered 500 ($s500), 502 ($s502), 503 and 529 ($s503), 429 ($s429), resets ($s0)" \
  || bad kinds "not every fault kind happened: 500 $s500, 502 $s502, 503 $s503, 429 $s429, resets $s0"
[[ $s200 == "$N" ]] && ok "each row answered once (200s: $s200)" || bad answered-once "200s: $s200 for $N rows"
retries=$(metric "$PWD/flaky.db" flaky retries) limited=$(metric "$PWD/flaky.db" flaky rate_limited) failures=$(metric "$PWD/flaky.db" flaky failures)
[[ $retries -ge $((s500 + s502 + s503)) && $limited == "$s429" && $failures == 0 ]] \
  && ok "query_metrics counts the retries ($retries for $((s500 + s502 + s503)) 5xx and $s0 resets) and the 429s ($limited)" \
  || bad metrics "retries $retries (5xx $((s500 + s502 + s503)), resets $s0), rate_limited $limited (429s $s429), failures $failures"
errs=$(FQL_DB="$PWD/flaky.db" "$FQL" --format csv -c 'from system.lm_errors | agg n = count(*)' 2>/dev/null | tail -1)
multi=$(FQL_DB="$PWD/flaky.db" "$FQL" --format csv -c 'from system.lm_calls | where attempt > 1 | agg n = count(*)' 2>/dev/null | tail -1)
[[ $errs == 0 && $multi -gt 0 ]] && ok "no row error recorded; $multi rows took more than one attempt" || bad lm_calls "lm_errors $errs, rows with attempts > 1: $multi"

# 2. an answer of 1 GB: the row is null with the reason, not retried, and memory stays far below
# one answer's size (3 rows: 3 GB were held before the cap)
/usr/bin/time -v -o huge.time "$FQL" --format csv -c "model huge = openai(\"huge\");
  from csv(\"t.csv\") | limit 3 | select id, classify(content, [\"billing\", \"checkout\"]) as label" > huge.csv 2> huge.err
rss=$(awk -F': ' '/Maximum resident set size/ { print $2 }' huge.time)
[[ -n $rss && $rss -lt 700000 ]] && ok "memory stays bounded with 1 GB answers (max RSS $((rss / 1024)) MB)" || bad huge-rss "max RSS ${rss:-?} KB: $(head -c 300 huge.err)"
nulls=$(awk -F, 'NR > 1 && $2 == "" { n++ } END { print n + 0 }' huge.csv)
kinds=$("$FQL" --format csv -c 'from system.lm_errors | where model == "huge" | select kind, message' 2>/dev/null)
nh=$(reqs huge)
[[ $nulls == 3 && $(grep -c '^answer_too_large,.*larger than 64 MB' <<< "$kinds") == 3 && $nh == 3 ]] \
  && ok "an oversized answer is a row error (null, answer_too_large), not retried ($nh requests)" \
  || bad huge "null rows $nulls, requests $nh, errors: $(head -c 400 <<< "$kinds") $(head -c 300 huge.err)"

# 3. a redirect: not followed, not retried; the statement stops naming the status, the Location
# and base_url, without the key
"$FQL" --format csv -c "model moved = openai(\"moved\");
  from csv(\"t.csv\") | limit 3 | select id, classify(content, [\"billing\", \"checkout\"]) as label" > moved.csv 2> moved.err
rc=$?
nm=$(reqs moved) n301=$(status_of moved 301)
[[ $rc == 1 ]] && ok "a redirect stops the statement (exit 1)" || bad moved-rc "exit $rc: $(head -c 300 moved.err)"
grep -q "redirected the request (HTTP 301) to http://127.0.0.1:$port/moved/v1/chat/completions" moved.err && grep -q "check base_url" moved.err \
  && ok "the error names the redirect status, its Location and what to check" || bad moved-msg "$(head -c 500 moved.err)"
[[ $nm -ge 1 && $nm -le 3 && $n301 == "$nm" ]] && ok "a redirect is not retried ($nm requests for 3 rows)" || bad moved-retried "$nm requests, $n301 answered 301"
grep -q "SECRET" moved.err huge.err flaky.err && bad key "the key appears in an error" || ok "no error shows the key"

finish
