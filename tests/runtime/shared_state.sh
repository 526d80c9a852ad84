#!/usr/bin/env bash
# The state database is private and shared safely: .fql/ is made 0700 and state.db (with its -wal
# and -shm files) 0600 (they were 0755 and 0644: other local users could read prompts and answers),
# an existing file keeps its mode; and two processes running the same script on one database send
# each request once (claims in the database): the second waits for the first's answers.
# usage: tests/runtime/shared_state.sh BUILD_DIR
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/../lib/setup.sh"
cat > sim.json <<'J'
{"default": {"latency_ms": 5}, "models": {"slow-model": {"latency_ms": 400, "jitter_ms": 200}}}
J
source "$HERE/../lib/sim.sh"
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}log_path=$dir/sanitizer"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:+$UBSAN_OPTIONS:}log_path=$dir/sanitizer"
check() { if [[ "$2" == "$3" ]]; then ok "$1"; else bad "$1" "expected [$2], got [$3]"; fi; }
unset FQL_DB
umask 022   # the usual umask: what was created readable by all

N=300
{ echo "id,text"; for i in $(seq 1 $N); do echo "$i,ticket number $i about the invoice"; done; } > tickets.csv
Q='model m = openai("slow-model", context_window: 128000, price_in: 0, price_out: 0); from csv("'"$dir"'/tickets.csv") | derive s = classify(text, ["billing", "other"]) | agg n = count(*), answered = count(s)'

# ---- permissions ----
mkdir work && cd work
out=$("$FQL" --format csv -c "$Q" 2> err.txt)
check "default database: the statement ran" "n,answered
$N,$N" "$out"
check "modes: .fql/ 0700, state.db 0600" "700 600" "$(stat -c %a .fql .fql/state.db 2>&1 | tr '\n' ' ' | sed 's/ $//')"
"$FQL" --db new/deeper/s.db --format csv -c "$Q" > /dev/null 2>&1
check "--db in new directories: they are 0700, the file 0600" "700 700 600" "$(stat -c %a new new/deeper new/deeper/s.db | tr '\n' ' ' | sed 's/ $//')"
mkdir shared && chmod 750 shared && touch shared/s.db && chmod 640 shared/s.db
"$FQL" --db shared/s.db --format csv -c "$Q" > /dev/null 2>&1
check "an existing directory and file keep their modes" "750 640" "$(stat -c %a shared shared/s.db | tr '\n' ' ' | sed 's/ $//')"
cd ..

# ---- two processes, one database, one simulator ----
curl -s -X POST "$SIMURL/sim/reset" > /dev/null
export FQL_DB="$dir/two.db"
run() { "$FQL" --format csv -c "$Q" > "out$1.txt" 2> "err$1.txt"; echo $? > "rc$1.txt"; }
run 1 & p1=$!
# while it runs: the -wal and -shm files have the database's mode (they go when the last closes)
for _ in $(seq 100); do [[ -e $FQL_DB-shm && -e $FQL_DB-wal ]] && break; sleep 0.05; done
check "modes: state.db, -wal and -shm 0600" "600 600 600" "$(stat -c %a "$FQL_DB" "$FQL_DB-wal" "$FQL_DB-shm" 2>&1 | tr '\n' ' ' | sed 's/ $//')"
sleep 0.3   # the first has claimed its requests (each takes 400-600 ms): the second finds them claimed
run 2 & p2=$!
wait $p1 $p2
want="n,answered
$N,$N"
check "two processes: the first's result is complete" "0 $want" "$(cat rc1.txt) $(cat out1.txt)"
check "two processes: the second's result is complete" "0 $want" "$(cat rc2.txt) $(cat out2.txt)"
check "two processes: each distinct request sent once" "$N" "$(reqs slow-model)"
check "two processes: no claims left behind" "0" "$(sqlite3 "$FQL_DB" 'select count(*) from claims' 2>&1)"
"$FQL" --format csv -c "$Q" > out3.txt 2> err3.txt
check "a third run: all from the cache" "$want $N" "$(cat out3.txt) $(reqs slow-model)"

# a process killed while it holds claims: the next one takes them over at once (same host, the
# process is gone) instead of waiting for their 60 s lease
export FQL_DB="$dir/killed.db"
curl -s -X POST "$SIMURL/sim/reset" > /dev/null
"$FQL" --format csv -c "$Q" > /dev/null 2>&1 & p1=$!
for _ in $(seq 200); do [[ $(sqlite3 "$FQL_DB" 'select count(*) from claims' 2>/dev/null) -gt 0 ]] && break; sleep 0.05; done
kill -KILL $p1; wait $p1 2>/dev/null
held=$(sqlite3 "$FQL_DB" 'select count(*) from claims' 2>&1)
t0=$SECONDS
run 4
check "killed owner: its claims were left" "1" "$(( held > 0 ))"
check "killed owner: the next run completes" "0 $want" "$(cat rc4.txt) $(cat out4.txt)"
(( SECONDS - t0 < 40 )) && ok "killed owner: taken over without waiting for the lease ($((SECONDS - t0)) s)" \
  || bad "killed owner: took over late" "$((SECONDS - t0)) s"

if compgen -G "$dir/sanitizer.*" > /dev/null; then bad "sanitizer reports" "$(cat "$dir"/sanitizer.* | head -40)"; fi
finish
