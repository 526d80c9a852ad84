#!/usr/bin/env bash
# The response cache and in-flight claims shared through Redis (--shared, src/shared_cache.c),
# each process with its own state database: a second run of a job by another process sends zero
# requests (token probabilities included); two processes started together on the same input send
# each request once in total; a process killed mid-run (SIGKILL) and rerun pays only for the
# answers it had not received, taking its dead claims over at once; key names and values hold no
# API key; and the reference's example of the shared cache runs as written.
# Starts its own redis-server on a free loopback port (no persistence) and stops it after.
# usage: tests/runtime/shared_cache.sh BUILD_DIR
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
source "$HERE/../lib/setup.sh"
cat > sim.json <<'J'
{"default": {"latency_ms": 5}, "models": {"slow-model": {"latency_ms": 300, "jitter_ms": 150}}}
J
source "$HERE/../lib/sim.sh"
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}log_path=$dir/sanitizer"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:+$UBSAN_OPTIONS:}log_path=$dir/sanitizer"
check() { if [[ "$2" == "$3" ]]; then ok "$1"; else bad "$1" "expected [$2], got [$3]"; fi; }
unset FQL_DB

# ---- a redis-server of our own ----
command -v redis-server > /dev/null || { bad redis "redis-server is not installed (make deps installs it)"; finish; exit 1; }
rport=$(node -e 'const s = require("net").createServer().listen(0, "127.0.0.1", () => { console.log(s.address().port); s.close(); })')
redis-server --port "$rport" --bind 127.0.0.1 --save '' --appendonly no --daemonize no > redis.log 2>&1 & redispid=$!
trap 'kill -TERM $redispid 2>/dev/null; wait $redispid 2>/dev/null; cleanup' EXIT
for _ in $(seq 100); do redis-cli -p "$rport" ping 2>/dev/null | grep -q PONG && break; sleep 0.05; done
redis-cli -p "$rport" ping | grep -q PONG || { bad redis "redis-server did not start: $(tail -5 redis.log)"; finish; exit 1; }
R="redis://127.0.0.1:$rport"
rcli() { redis-cli -p "$rport" "$@"; }
answers() { rcli -n "$1" --scan --pattern 'fql:{*}:resp' | wc -l | tr -d ' '; }
claims() { rcli -n "$1" --scan --pattern 'fql:{*}:claim' | wc -l | tr -d ' '; }

N=240
{ echo "id,text"; for i in $(seq 1 $N); do echo "$i,ticket number $i about the invoice"; done; } > tickets.csv
Q='model m = openai("slow-model", context_window: 128000, price_in: 0, price_out: 0); from csv("'"$dir"'/tickets.csv") | derive s = classify(text, ["billing", "other"]) | agg n = count(*), answered = count(s)'
want="n,answered
$N,$N"
reset() { curl -s -X POST "$SIMURL/sim/reset" > /dev/null; }
run() {  # run NAME DB REDIS_DB [fql options]: the job, its output, error and exit status in NAME.*
  local name=$1 db=$2 n=$3; shift 3
  "$FQL" --shared "$R/$n" --db "$dir/$db" --format csv "$@" -c "$Q" > "$name.out" 2> "$name.err"; echo $? > "$name.rc"
}

# ---- another process, another database: nothing sent again ----
reset
run a a.db 0
check "first run: complete" "0 $want" "$(cat a.rc) $(cat a.out)"
check "first run: each request sent once" "$N" "$(reqs slow-model)"
check "first run: every answer in Redis" "$N" "$(answers 0)"
check "first run: no claims left" "0" "$(claims 0)"
run b b.db 0
check "another process, another database: complete" "0 $want" "$(cat b.rc) $(cat b.out)"
check "another process, another database: zero requests" "$N" "$(reqs slow-model)"
check "the Redis hits are kept in its local cache" "$N" "$(sqlite3 "$dir/b.db" 'select count(*) from responses' 2>&1)"
run b2 b.db 0 --no-cache
check "--no-cache: asks again (the shared cache is a cache)" "$((2 * N))" "$(reqs slow-model)"
key=$(rcli -n 0 --scan --pattern 'fql:{*}:resp' | head -1)
check "an answer is a hash with the local row's columns" "cached_input_tokens created_at dim input_tokens model output_tokens provider reasoning_tokens text" \
  "$(rcli -n 0 hkeys "$key" | sort | tr '\n' ' ' | sed 's/ $//')"
if rcli -n 0 --scan | grep -q "$OPENAI_API_KEY" || rcli -n 0 --scan | while read -r k; do rcli -n 0 dump "$k"; done | grep -aq "$OPENAI_API_KEY"; then
  bad "no API key in Redis" "found $OPENAI_API_KEY"
else ok "no API key in Redis key names or values"; fi

# token probabilities travel with the answer: confidence() from another process's cache
CQ='model g = openai("gpt-4o-mini"); from csv("'"$dir"'/tickets.csv") | limit 20 | derive c = confidence(classify(text, ["billing", "other"], model: g, pack: 1)) | select id, c'
"$FQL" --shared "$R/0" --db "$dir/c1.db" --format csv -c "$CQ" > c1.out 2> c1.err
n1=$(reqs gpt-4o-mini)
"$FQL" --shared "$R/0" --db "$dir/c2.db" --format csv -c "$CQ" > c2.out 2> c2.err
nonnull=$(awk -F, 'NR > 1 && $2 != "" { k++ } END { print k + 0 }' c1.out)
check "confidence: 20 answers with probabilities, then none sent by another process" "20 20" "$n1 $(reqs gpt-4o-mini)"
check "confidence: the same probabilities from the shared cache" "$(cat c1.out) 20" "$(cat c2.out) $nonnull"

# ---- two processes started together, one input: each request sent once in total ----
reset
run t1 t1.db 1 & p1=$!
run t2 t2.db 1 & p2=$!
wait $p1 $p2
check "together: the first's result is complete" "0 $want" "$(cat t1.rc) $(cat t1.out)"
check "together: the second's result is complete" "0 $want" "$(cat t2.rc) $(cat t2.out)"
check "together: each request sent once in total" "$N" "$(reqs slow-model)"
check "together: no claims left" "0" "$(claims 1)"

# ---- killed mid-run and rerun: pays only for what it had not received ----
reset
"$FQL" --shared "$R/2" --db "$dir/k.db" --format csv -c "$Q" > /dev/null 2>&1 & pk=$!
for _ in $(seq 400); do (( $(answers 2) >= N / 3 )) && break; sleep 0.02; done
kill -KILL $pk; wait $pk 2>/dev/null
got=$(answers 2) held=$(claims 2) sent=$(reqs slow-model)
(( got > 0 && got < N && held > 0 )) && ok "killed: $got answers stored, $held claims left behind" \
  || bad "killed mid-run" "answers $got, claims $held (want some of each)"
t0=$SECONDS
run k2 k2.db 2
check "rerun by another process: complete" "0 $want" "$(cat k2.rc) $(cat k2.out)"
check "rerun: pays only for the answers the killed run had not received" "$((N - got))" "$(( $(reqs slow-model) - sent ))"
(( SECONDS - t0 < 20 )) && ok "rerun: the dead process's claims taken over at once ($((SECONDS - t0)) s, lease 30 s)" \
  || bad "rerun waited for the claims' lease" "$((SECONDS - t0)) s"

# ---- Redis unreachable: a clear error naming the URL before anything is sent, or (fallback
# local) a warning and the job done with the local cache ----
reset
dport=$(node -e 'const s = require("net").createServer().listen(0, "127.0.0.1", () => { console.log(s.address().port); s.close(); })')
"$FQL" --shared "redis://127.0.0.1:$dport/0" --db "$dir/d.db" --format csv -c "$Q" > d.out 2> d.err; rc=$?
[[ $rc == 1 && $(cat d.err) == *"the shared response cache: the shared state at redis://127.0.0.1:$dport/0 cannot be reached"* ]] \
  && ok "Redis unreachable: the statement stops, naming the URL" || bad "Redis unreachable" "rc $rc: $(head -c 400 d.err)"
check "Redis unreachable: nothing sent" "0" "$(reqs slow-model)"
"$FQL" --shared "redis://127.0.0.1:$dport/0" --shared-fallback local --db "$dir/d.db" --format csv -c "$Q" > d2.out 2> d2.err; rc=$?
check "fallback local: the job completes with the local cache" "0 $want" "$rc $(cat d2.out)"
check "fallback local: warned once" "1" "$(grep -c 'warning: the shared response cache: .*redis://127.0.0.1:'"$dport"'/0.*shared_fallback is local' d2.err)"

# ---- Redis lost mid-run: the statement stops naming the URL; what was received is in the local
# cache, and a rerun (Redis back) pays only for the rest ----
reset
rcli -n 3 flushdb > /dev/null
"$FQL" --shared "$R/3" --db "$dir/l.db" --format csv -c "$Q" > l.out 2> l.err & pl=$!
for _ in $(seq 400); do (( $(answers 3) >= N / 4 )) && break; sleep 0.02; done
kill -TERM $redispid; wait $redispid 2>/dev/null
wait $pl; rc=$?
[[ $rc == 1 && $(cat l.err) == *"the shared state at $R/3"* ]] && ok "Redis lost mid-run: the statement stops, naming the URL" \
  || bad "Redis lost mid-run" "rc $rc: $(head -c 400 l.err)"
kept=$(sqlite3 "$dir/l.db" 'select count(*) from responses' 2>&1) sent=$(reqs slow-model)
redis-server --port "$rport" --bind 127.0.0.1 --save '' --appendonly no --daemonize no > redis2.log 2>&1 & redispid=$!
for _ in $(seq 100); do rcli ping 2>/dev/null | grep -q PONG && break; sleep 0.05; done
run l2 l.db 3
check "Redis back: the rerun completes" "0 $want" "$(cat l2.rc) $(cat l2.out)"
(( kept > 0 )) && check "Redis back: the rerun pays only for what the local cache lacks ($kept kept)" "$((N - kept))" "$(( $(reqs slow-model) - sent ))" \
  || bad "Redis lost mid-run: nothing kept locally" "$kept"

# ---- the reference's example, as written there (the URL pointed at this test's Redis) ----
reset
rcli -n 0 flushdb > /dev/null
ex=$(awk '/^### the shared cache/ { on = 1 } on && /^```sh$/ { inb = 1; next } inb && /^```$/ { exit } inb' "$ROOT/docs/reference.md")
[[ -n $ex ]] || bad "reference example" "no sh block under '### the shared cache' in docs/reference.md"
mkdir ex && printf '%s;\n' "$Q" > ex/job.fql
(cd ex && sed "s#redis://127.0.0.1:6379/0#$R/0#g" <<<"$ex" | PATH="$BUILD:$PATH" bash) > ex.out 2> ex.err
check "reference example: both runs complete, the second sends nothing" "$want
$want $N" "$(cat ex.out) $(reqs slow-model)"

if compgen -G "$dir/sanitizer.*" > /dev/null; then bad "sanitizer reports" "$(cat "$dir"/sanitizer.* | head -40)"; fi
finish
