#!/usr/bin/env bash
# Many processes, one quota (--shared): a private redis-server and fql-sim on loopback ports.
#  - four fql processes with one key (150 rows each) against a model limited to 1,200 RPM: every row answered, at
#    most 1% of requests rate-limited, the wall time within 1.1x of what the limit allows, and
#    system.query_metrics of any of them shows all four;
#  - Redis killed mid-run: a clear error naming the URL (never the key), the answers received kept
#    in the local cache: the rerun (Redis back) pays only for the rest;
#  - --shared-fallback local: Redis killed mid-run: a warning, each process paces at 1/N, every row
#    answered without a burst of 429s;
#  - a quota-exhausted answer stops every process (one of them says another one was refused);
#  - bad URLs are refused where they are given (flag, setting, environment), never echoing a password.
# usage: tests/runtime/shared_limits.sh BUILD_DIR
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/../lib/setup.sh"
cat > sim.json <<'J'
{"default": {"latency_ms": 20, "jitter_ms": 10},
 "models": {"org-model": {"rpm": 1200}, "half-model": {"rpm": 1200}, "fb-model": {"rpm": 1200}, "over-model": {"rpm": 600},
            "quota-model": {"latency_ms": 1, "jitter_ms": 0, "quota_requests": 30}}}
J
source "$HERE/../lib/sim.sh"
source "$HERE/../lib/redis.sh"
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}log_path=$dir/sanitizer"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:+$UBSAN_OPTIONS:}log_path=$dir/sanitizer"
check() { if [[ "$2" == "$3" ]]; then ok "$1"; else bad "$1" "expected [$2], got [$3]"; fi; }
export OPENAI_API_KEY="sk-shared-org-key-1234567890"   # one key for every process
now() { date +%s.%N; }
status_of() {  # status_of MODEL CODE: answers of that HTTP status the sim gave for a model
  curl -s "$SIMURL/sim/stats" | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{const m=JSON.parse(s).models[process.argv[1]]||{};console.log((m.status||{})[process.argv[2]]||0)})' "$1" "$2"
}
rows() {  # rows FILE N PREFIX: a CSV of N rows, texts unique to PREFIX
  { echo "id,text"; for i in $(seq 1 "$2"); do echo "$i,$3 ticket $i about the invoice"; done; } > "$1"
}
redis_start || { echo "0 passed, 1 failed"; exit 1; }

# ---- four processes, one key, one limit of 1,200 RPM ----
ROWS=150 P=4 RPM=1200
for k in $(seq 1 $P); do rows "t$k.csv" $ROWS "proc$k"; done
Q() { echo "model m = openai(\"org-model\", rpm: $RPM, price_in: 0, price_out: 0); from csv(\"$dir/t$1.csv\") | derive s = map(\"answer {{text}}\") | agg n = count(*), answered = count(s)"; }
t0=$(now) pids=()
for k in $(seq 1 $P); do
  FQL_DB="$dir/p$k.db" "$FQL" --no-progress --format csv --shared "$REDIS_URL" -c "$(Q $k)" > "out$k.txt" 2> "err$k.txt" & pids+=($!)
done
wait "${pids[@]}"
t1=$(now)
answered=0
for k in $(seq 1 $P); do [[ $(tail -1 "out$k.txt") == "$ROWS,$ROWS" ]] && answered=$((answered + 1)); done
check "four processes: every row answered" "$P" "$answered"
sent=$(reqs org-model) limited=$(status_of org-model 429)
(( limited * 100 <= sent )) && ok "four processes: at most 1% rate-limited ($limited of $sent)" \
  || bad "four processes: rate-limited" "$limited of $sent requests were refused (more than 1%)"
ideal=$(node -e "console.log(($P * $ROWS) / ($RPM / 60))")
ratio=$(node -e "console.log((($t1) - ($t0)) / $ideal)")
node -e "process.exit($ratio <= 1.1 ? 0 : 1)" && ok "four processes: wall time $(node -e "console.log(($t1 - $t0).toFixed(1))") s, ${ratio:0:5}x of the ${ideal} s the limit allows" \
  || bad "four processes: wall time" "$(node -e "console.log(($t1 - $t0).toFixed(1))") s is ${ratio}x of the $ideal s the limit allows (more than 1.1x)"
node -e "process.exit($ratio >= 0.95 ? 0 : 1)" && ok "four processes: not faster than the limit allows" \
  || bad "four processes: faster than the limit" "${ratio}x"
keys=$(redis-cli -p "$REDIS_PORT" --scan --pattern '*' | sort | tr '\n' ' ')
[[ $keys != *"$OPENAI_API_KEY"* && $keys == *"org-model"* ]] && ok "Redis keys name the model, never the key ($keys)" \
  || bad "Redis keys" "$keys"
# every process's rows from any one of them (each has its own state database)
m=$(FQL_DB="$dir/p2.db" "$FQL" --format csv --shared "$REDIS_URL" -c 'from system.query_metrics | where model_name == "org-model" | agg n = count(*), requests = sum(requests), rows = sum(rows)' 2>&1)
check "system.query_metrics shows the four processes' rows" "n,requests,rows
$P,$((P * ROWS)),$((P * ROWS))" "$m"
m=$(FQL_DB="$dir/p2.db" "$FQL" --format csv -c 'from system.query_metrics | where model_name == "org-model" | agg n = count(*)' 2>&1)
check "... and only its own without --shared" "n
1" "$m"

# ---- Redis killed mid-run: a clear error, nothing lost ----
rows kill.csv 60 kill
KQ="model m = openai(\"half-model\", rpm: 600, price_in: 0, price_out: 0); from csv(\"$dir/kill.csv\") | derive s = map(\"answer {{text}}\") | agg n = count(*), answered = count(s)"
export FQL_DB="$dir/kill.db"
"$FQL" --no-progress --format csv --shared "$REDIS_URL" -c "$KQ" > kout1.txt 2> kerr1.txt & p1=$!
sleep 2
redis_kill
wait $p1; rc=$?
first=$(reqs half-model)
check "Redis killed: the run fails" "1" "$(( rc != 0 ))"
grep -q "the shared state at redis://127.0.0.1:$REDIS_PORT/0" kerr1.txt && grep -q "half-model\|'m'" kerr1.txt \
  && ok "Redis killed: the error names the URL ($(head -c 200 kerr1.txt | tr '\n' ' ')...)" || bad "Redis killed: error" "$(cat kerr1.txt)"
grep -q "$OPENAI_API_KEY" kerr1.txt kout1.txt && bad "Redis killed: the key" "appears in the output" || ok "Redis killed: the key appears nowhere"
(( first > 5 && first < 60 )) && ok "Redis killed: $first of 60 answers received before" || bad "Redis killed mid-run" "$first requests were sent"
redis_start "$REDIS_PORT" || bad "redis restart" "did not start"
"$FQL" --no-progress --format csv --shared "$REDIS_URL" -c "$KQ" > kout2.txt 2> kerr2.txt; rc=$?
check "Redis back: the rerun answers every row" "0 60,60" "$rc $(tail -1 kout2.txt)"
check "Redis back: the rerun paid only for the rest" "60" "$(reqs half-model)"
unset FQL_DB

# ---- --shared-fallback local: a warning, then 1/N each ----
FB=80
for k in 1 2; do rows "fb$k.csv" $FB "fb$k"; done
FQ() { echo "model m = openai(\"fb-model\", rpm: 1200, price_in: 0, price_out: 0); from csv(\"$dir/fb$1.csv\") | derive s = map(\"answer {{text}}\") | agg n = count(*), answered = count(s)"; }
pids=()
for k in 1 2; do
  FQL_DB="$dir/fb$k.db" "$FQL" --no-progress --format csv --shared "$REDIS_URL" --shared-fallback local -c "$(FQ $k)" > "fout$k.txt" 2> "ferr$k.txt" & pids+=($!)
done
sleep 2
redis_kill
wait "${pids[@]}"
ans=0 warned=0
for k in 1 2; do
  [[ $(tail -1 "fout$k.txt") == "$FB,$FB" ]] && ans=$((ans + 1))
  grep -q "the shared state at redis://127.0.0.1:$REDIS_PORT/0 .*shared_fallback is local: this process now paces itself at 1/2 of the model's limits" "ferr$k.txt" && warned=$((warned + 1))
done
check "fallback: every row answered" "2" "$ans"
check "fallback: each process warned it paces at 1/2" "2" "$warned"
sent=$(reqs fb-model) limited=$(status_of fb-model 429)
# each process at the whole limit after the loss would draw 429s by the dozen: 1/N each draws none
(( limited * 100 <= sent )) && ok "fallback: at most 1% rate-limited ($limited of $sent)" || bad "fallback: rate-limited" "$limited of $sent"

# ---- an exhausted quota stops every process ----
redis_start "$REDIS_PORT" || bad "redis restart" "did not start"
for k in 1 2; do rows "q$k.csv" 50 "q$k"; done
pids=()
for k in 1 2; do
  FQL_DB="$dir/q$k.db" "$FQL" --no-progress --format csv --shared "$REDIS_URL" \
    -c "model m = openai(\"quota-model\", rpm: 600, price_in: 0, price_out: 0); from csv(\"$dir/q$k.csv\") | derive s = map(\"answer {{text}}\")" > "qout$k.txt" 2> "qerr$k.txt" & pids+=($!)
done
wait "${pids[@]}"
stopped=$(cat qerr1.txt qerr2.txt | grep -c "another process sharing the limits at redis://127.0.0.1:$REDIS_PORT/0 was refused")
(( stopped >= 1 )) && ok "quota: a process stopped because another was refused" || bad "quota: no shared stop" "$(cat qerr1.txt qerr2.txt)"
refused=$(status_of quota-model 429)
(( refused <= 2 )) && ok "quota: $refused quota refusals in all" || bad "quota refusals" "$refused (each process went on asking)"

# ---- a 429 seen by one process slows all: limits declared twice what the provider allows ----
for k in 1 2; do rows "o$k.csv" 60 "o$k"; done
pids=()
for k in 1 2; do
  FQL_DB="$dir/o$k.db" "$FQL" --no-progress --format csv --shared "$REDIS_URL" \
    -c "model m = openai(\"over-model\", rpm: 1200, price_in: 0, price_out: 0); from csv(\"$dir/o$k.csv\") | derive s = map(\"answer {{text}}\") | agg n = count(*), answered = count(s)" > "oout$k.txt" 2> "oerr$k.txt" & pids+=($!)
done
wait "${pids[@]}"
check "over-declared limit: every row answered" "60,60 60,60" "$(tail -1 oout1.txt) $(tail -1 oout2.txt)"
key=$(redis-cli -p "$REDIS_PORT" --scan --pattern '*over-model}:lim')
cut=$(redis-cli -p "$REDIS_PORT" hget "$key" cut) pause=$(redis-cli -p "$REDIS_PORT" hget "$key" pause) f=$(redis-cli -p "$REDIS_PORT" hget "$key" f)
[[ -n $cut && -n $pause ]] && node -e "process.exit($f > 0 && $f < 1 ? 0 : 1)" 2>/dev/null \
  && ok "over-declared limit: the 429s cut the shared factor (now $f) and paused both processes" || bad "shared factor" "cut [$cut] pause [$pause] f [$f] in [$key]"
sent=$(reqs over-model) limited=$(status_of over-model 429)
# one process alone with these limits draws about 12% (AIMD probes upward), two unshared about 18%: a sanity bound
(( limited * 100 <= 20 * sent )) && ok "over-declared limit: $limited of $sent requests refused, as one process alone" \
  || bad "over-declared limit: refusals" "$limited of $sent"

# ---- bad URLs ----
err=$("$FQL" --shared http://127.0.0.1:1/0 -c '1' 2>&1); rc=$?
check "--shared http://...: refused" "2 fql: --shared: unsupported address scheme 'http://' (expected redis://HOST:PORT/DB, e.g. redis://127.0.0.1:6379/0)" "$rc $err"
err=$(FQL_SHARED="redis://:s3cretpw@127.0.0.1:99999/0" "$FQL" -c '1' 2>&1)
[[ $err == *"port must be a number from 1 to 65535"*"FQL_SHARED"* && $err != *s3cretpw* ]] && ok "FQL_SHARED with a bad port: refused, no password shown" || bad "FQL_SHARED" "$err"
err=$("$FQL" -c 'set shared = "redis://:s3cretpw@127.0.0.1:1/0"; model m = openai("org-model"); values [{x: "a"}] | select map("hi {{x}}") as s' 2>&1); rc=$?
[[ $rc != 0 && $err == *"the shared state at redis://127.0.0.1:1/0 cannot be reached"* && $err != *s3cretpw* ]] \
  && ok "unreachable Redis: refused naming the URL without its password" || bad "unreachable Redis" "$rc $err"
err=$("$FQL" -c 'set shared_fallback = "maybe"' 2>&1)
[[ $err == *'set shared_fallback takes "local"'* ]] && ok "set shared_fallback: a bad value is refused" || bad "shared_fallback" "$err"

if compgen -G "$dir/sanitizer.*" > /dev/null; then bad "sanitizer reports" "$(cat "$dir"/sanitizer.* | head -40)"; fi
finish
