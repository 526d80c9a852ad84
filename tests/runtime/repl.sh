#!/usr/bin/env bash
# The interactive shell driven through a pseudo-terminal (tmux): multi-line entry, completion,
# history, dot commands, errors, Ctrl-C while typing and while a model statement runs (against
# fql-sim), Ctrl-D, TERM=dumb; and the shell over a pipe (--shell).
# Every wait polls the screen with a timeout; nothing relies on a fixed sleep.
# usage: tests/runtime/repl.sh BUILD_DIR
set -u
BUILD=$(cd "${1:-build}" && pwd)
FQL="$BUILD/fql"
SIM="$BUILD/fql-sim"
command -v tmux >/dev/null || { echo "tmux is not installed (make deps installs it)"; echo "0 passed, 1 failed"; exit 1; }
dir=$(mktemp -d)
sock="$dir/tmux.sock"
simpid=
T() { tmux -u -S "$sock" -f /dev/null "$@"; }   # -u: UTF-8 whatever the locale
cleanup() {
  T kill-server 2>/dev/null
  [[ -n $simpid ]] && kill -TERM "$simpid" 2>/dev/null && wait "$simpid" 2>/dev/null
  # panes end on the server's hangup a moment later: retry until nothing writes into dir any more
  for _ in $(seq 40); do rm -rf "$dir" 2>/dev/null && break; sleep 0.05; done
}
trap cleanup EXIT
cd "$dir"
pass=0 fail=0
ok()  { pass=$((pass + 1)); echo "ok $1"; }
bad() { fail=$((fail + 1)); echo "FAIL $1: $2"; }

# ---- driving a shell in tmux ----

# start NAME [VAR=VALUE...]: fql in a new 120x50 terminal; "[fql exited N]" shows when it ends
start() {
  local name=$1; shift
  T new-session -d -s "$name" -x 120 -y 50 \
    "env HOME='$dir' INPUTRC=/dev/null FQL_HISTORY='$dir/history' $* '$FQL' --db '$dir/state.db'; echo \"[fql exited \$?]\"; sleep 600"
  T set-option -t "$name" history-limit 10000 >/dev/null
}
screen() { T capture-pane -p -J -t "$1" -S -; }
# wait_for NAME REGEX [SECONDS]: until some line of the screen matches
wait_for() {
  local i
  for ((i = 0; i < ${3:-10} * 20; i++)); do
    screen "$1" | grep -qE -- "$2" && return 0
    sleep 0.05
  done
  return 1
}
# last NAME REGEX: until the last line shown matches (a key like Ctrl-C or Ctrl-Z flushes what
# the terminal holds unread, so tests wait for the shell to have shown what was typed first)
last() {
  local i l
  for ((i = 0; i < 200; i++)); do
    l=$(screen "$1" | grep -v '^$' | tail -n 1)
    [[ $l =~ $2 ]] && return 0
    sleep 0.05
  done
  return 1
}
# idle NAME: until the shell waits at a fresh "fql> "
idle() { last "$1" '^fql> ?$'; }
typ() { T send-keys -t "$1" -H $(printf '%s' "$2" | od -An -v -tx1); }    # literal text, any bytes
key() { local n=$1; shift; T send-keys -t "$n" "$@"; }
# line NAME TEXT: type a line and press Enter
line() { typ "$1" "$2"; key "$1" Enter; }
# check NAME TEST REGEX [SECONDS]: pass when the screen shows REGEX
check() {
  if wait_for "$1" "$3" "${4:-10}"; then ok "$2"
  else bad "$2" "the screen lacks /$3/; it shows:"$'\n'"$(screen "$1" | grep -v '^$' | tail -n 20)"; fi
}
check_not() {
  if screen "$1" | grep -qE -- "$3"; then bad "$2" "the screen shows /$3/:"$'\n'"$(screen "$1" | grep -v '^$' | tail -n 20)"
  else ok "$2"; fi
}

printf 'id,name,score\n1,ann,2.5\n2,bob,\n3,carol,4\n' > t.csv

# ---- a session: entry, completion, errors, dot commands ----
start a
check a banner '^FQL [0-9.]+: statements end with'
line a 'let t = from csv("t.csv");'
idle a
line a 't'
check a continuation-prompt '^  -> ?$'
line a '| where id > 1'
line a '| select name, score * 10 as s10;'
check a multi-line-statement '│ carol +│ +40\.0 │'
idle a

# completion: a keyword, a stage, a function, a column (inside the call), a let name
typ a 't | whe'; key a Tab
check a complete-stage 'fql> t \| where $'
line a 'id == 2 | select name;'
check a complete-stage-runs '│ bob +│'
idle a
typ a 't | where id == 1 | select upp'; key a Tab
check a complete-function 'select upper\($'
typ a 'na'; key a Tab
check a complete-column-in-call 'select upper\(name $'
line a ') as shout;'
check a complete-function-runs '│ ANN +│'
idle a
line a 'let high_scores = t | where score > 3;'
idle a
typ a 'from high_'; key a Tab
check a complete-let-name 'fql> from high_scores $'
line a '| select name as winner;'
check a complete-let-runs '│ carol +│'
idle a
typ a 'values [{doc: {title: "x", tags: 2}}] | select doc.ti'; key a Tab
check a complete-struct-field 'select doc\.title $'
line a ';'
idle a
# tab_case TEST TEXT REGEX: Tab after TEXT makes the line match REGEX; then the line is dropped
tab_case() { typ a "$2"; key a Tab; check a "$1" "$3"; key a C-c; idle a; }
tab_case complete-file-name 'from csv("t.c' 'from csv\("t\.csv"$'
tab_case complete-type-name 'type Verdict = {ok: boo' '\{ok: bool $'
printf 'cust_id,region\n1,north\n' > regions.csv
tab_case complete-join-source-column 't | join csv("regions.csv") on id == cust' 'on id == cust_id $'
tab_case complete-cast-type 't | select cast(id as str' 'cast\(id as string $'
tab_case complete-model-option 'model m1 = openai("gpt-4o-mini", max_con' 'max_concurrency: $'
tab_case complete-dot-command '.ti' 'fql> \.timer $'
# several candidates: the second Tab lists them (columns and functions starting with "s")
typ a 't | select s'; key a Tab Tab
check a complete-list-column '^score +[a-z]'
check a complete-list-function ' substr\( '
key a C-c; idle a

# a table wider than the terminal (120 columns) is cut, with a note
w=$(printf 'x%.0s' $(seq 30))
line a "values [{c1: \"$w\", c2: \"$w\", c3: \"$w\", c4: \"$w\", c5: \"$w\"}];"
check a wide-table-cut '^1 row \(2 columns not shown\)$'
idle a
widest=$(screen a | grep -E '^[│┌]' | LC_ALL=C.UTF-8 bash -c 'm=0; while IFS= read -r l; do (( ${#l} > m )) && m=${#l}; done; echo $m')
(( widest >= 90 && widest <= 120 )) && ok "wide table fits the terminal ($widest of 120 columns)" || bad wide-table-fits "widest line $widest columns"

# an error shows the caret and the session goes on
line a 't | select nmae;'
check a error-message "error: unknown column 'nmae'; did you mean 'name'\?"
check a error-caret '^ +\^$'
line a 't | agg total = count(*) + 1000;'
check a alive-after-error '│ +1003 │'
idle a
line a 't | whre id == 1;'
check a syntax-error-at-once "unknown stage 'whre'; did you mean 'where'"
idle a

# Ctrl-C on a half-typed statement (one line, then several) clears it; the shell stays
typ a 't | where id >'
last a 'where id >$'
key a C-c
check a ctrl-c-typing 't \| where id >\^C$'
idle a
line a 't'
line a '| where id == 3'
wait_for a '^  -> \| where id == 3$'
last a '^  -> ?$'
key a C-c
idle a
line a 'values [{fresh: 4242}];'
check a ctrl-c-clears-buffer '│ +4242 │'
idle a
key a C-c; key a C-c
line a 'values [{still: 77}];'
check a ctrl-c-at-prompt-stays '│ +77 │'
idle a

# dot commands
line a '.help'
check a dot-help '^  \.mode \[MODE\] +result format'
idle a
line a '.tables'
check a dot-tables-let '│ high_scores +│ let +│ id, name, score'
check a dot-tables-system '│ system\.query_metrics │ system'
idle a
line a '.schema t'
check a dot-schema-text '^let t = from csv\("t\.csv"\);$'
check a dot-schema-columns '│ score +│ float +│'
idle a
line a '.schema nosuch'
check a dot-schema-unknown "no let, type or system table named 'nosuch'"
idle a
# mode_case MODE STATEMENT REGEX: in that mode the statement's output shows REGEX
mode_case() { line a ".mode $1"; line a "$2"; check a "dot-mode-$1" "$3"; idle a; }
mode_case csv 't | where id == 2 | select id, name;' '^2,bob$'
mode_case json 't | where id == 3 | select name;' '"name": ?"carol"'
mode_case jsonl 't | where id == 1 | select id;' '^\{"id": ?1\}$'
mode_case markdown 't | where id == 1 | select name as md_name;' '^\| md_name \|$'
line a '.mode'
check a dot-mode-shows '^markdown$'
# a dot command on a continuation line runs and keeps the statement typed so far
line a 't | where id == 2'
line a '.mode csv'
check a dot-command-keeps-statement '^  -> ?$'
line a '| select name as cont_mode;'
check a dot-command-on-continuation-line '^cont_mode$'
idle a
line a '.mode tabel'
check a dot-mode-unknown "unknown mode 'tabel'; did you mean 'table'"
line a '.mode table'
line a '.maxrows 2'
line a 't | select id as row_id;'
check a dot-maxrows '^3 rows \(2 shown\)$'
idle a
line a '.maxrows 0'
line a '.timer on'
line a 'values [{timed: 1}];'
check a dot-timer '^Run Time: real [0-9]+\.[0-9]{3} user'
idle a
line a '.timer off'
line a '.output out.csv'
line a '.mode csv'
line a 't | select name as to_file;'
idle a
line a '.output'
line a 'values [{back: 5}];'
check a dot-output-back '^back$'
idle a
if [[ -f out.csv && $(cat out.csv) == $'to_file\nann\nbob\ncarol' ]]; then ok dot-output-file; else bad dot-output-file "out.csv: $(cat out.csv 2>&1)"; fi
check_not a dot-output-not-on-screen '^to_file$'
line a '.mode table'
printf 'let from_file = values [{f: 1}, {f: 2}];\nfrom_file | agg read_sum = sum(f);\n' > script.fql
line a '.read script.fql'
check a dot-read '│ +3 │'
idle a
printf 'values [{a: 1}] | select b;\n' > broken.fql
line a '.read broken.fql'
check a dot-read-error-place "broken\.fql:1:26: error: unknown column 'b'"
idle a
line a '.mdoe csv'
check a dot-unknown "unknown command '\.mdoe'; did you mean '\.mode'\?"
idle a
line a '.models'
check a dot-models-none 'no models declared yet'
idle a
line a 'model fast = openai("gpt-4o-mini", rpm: 500, tpm: 200000);'
idle a
line a '.models'
check a dot-models '│ fast +│ language │ openai +│ gpt-4o-mini │ true +│ rpm 500, tpm 200000 │ +0\.15 │ +0\.6 │ +128000 │'
idle a
line a '.quit'
check a dot-quit '^\[fql exited 0\]$'

# ---- history: kept in $FQL_HISTORY, a multi-line statement as one entry, reloaded ----
if grep -qxF 'let t = from csv("t.csv");' history && grep -qxF '| where id > 1' history; then ok history-written
else bad history-written "$(cat history 2>&1)"; fi
# each entry follows a "#TIME" line: the three lines of the multi-line statement are one entry
awk '/^#[0-9]+$/ { if (n) print n; n = 0; next } { n++ } END { print n }' history | grep -qx 3 && ok history-multiline-one-entry \
  || bad history-multiline-one-entry "$(cat history)"
start b
wait_for b '^fql> ?$' || true
line b 'let t = from csv("t.csv");'
idle b
# Up goes back past `.quit`, `.models`, ... to the model declaration; search instead: Ctrl-R
key b C-r; typ b 'score * 10'
check b history-search '\| select name, score \* 10 as s10;'
key b Enter
check b history-rerun '│ carol +│ +40\.0 │'
idle b
key b C-d
check b ctrl-d-exits '^\[fql exited 0\]$'

# ---- TERM=dumb: no cursor movement, still multi-line entry and completion ----
start c TERM=dumb
wait_for c '^fql> ?$' || true
line c 'values [{alpha: 1, beta: 2}]'
typ c '| sel'; key c Tab; typ c 'be'; key c Tab; line c ';'
check c term-dumb '│ +2 │'
idle c
line c '.exit'
check c term-dumb-exits '^\[fql exited 0\]$'

# ---- Ctrl-Z at the prompt stops the shell (job control); fg brings it back with the line as it was ----
T new-session -d -s e -x 120 -y 50 \
  "env -i PATH='$PATH' TERM=screen HOME='$dir' INPUTRC=/dev/null FQL_HISTORY='$dir/history' HISTFILE= PS1='job\$ ' bash --norc --noprofile -i"
wait_for e '^job\$' || true
line e "'$FQL' --db :memory:"
wait_for e '^fql> ?$' || true
typ e 'values [{zz: 1}] | sel'
last e '\| sel$'
key e C-z
check e ctrl-z-suspends 'Stopped.*fql'
line e 'fg'
check e fg-restores-line 'fql> values \[\{zz: 1\}\] \| sel$'
line e 'ect zz + 99 as back;'
check e fg-goes-on '│ +100 │'

# ---- Ctrl-C while a model statement runs (fql-sim answers slowly) ----
cat > sim.json <<'J'
{"default": {"latency_ms": 5}, "models": {"slow-model": {"latency_ms": 500}}}
J
"$SIM" --port 0 --config sim.json > sim.out 2> sim.err & simpid=$!
for _ in $(seq 100); do [[ -s sim.out ]] && break; sleep 0.05; done
port=$(sed -n '1s/[^0-9]//gp' sim.out)
if [[ -z $port ]]; then bad simulator "did not start: $(cat sim.err)"
else
  SIMURL="http://127.0.0.1:$port"
  reqs() {  # requests the simulator answered for a model
    curl -s "$SIMURL/sim/stats" | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{const m=JSON.parse(s).models[process.argv[1]];console.log(m?m.requests:0)})' "$1"
  }
  start d OPENAI_API_KEY=sk-test-repl OPENAI_BASE_URL="$SIMURL/v1"
  wait_for d '^fql> ?$' || true
  line d 'model slow = openai("slow-model", max_concurrency: 2); type T = { is_technical: bool };'
  idle d
  stmt='values [{x: 1}] | derive k = ['"$(seq -s, 0 59)"'] | explode k | select extract("repl ticket " || k, T).is_technical as t | agg answered = count(t);'
  line d "$stmt"
  for _ in $(seq 200); do (( $(reqs slow-model) >= 4 )) && break; sleep 0.05; done
  key d C-c
  check d ctrl-c-running '^error: interrupted' 15
  idle d && ok ctrl-c-running-back-at-prompt || bad ctrl-c-running-back-at-prompt "$(screen d | tail -n 5)"
  sleep 0.7   # let requests that were in flight finish at the simulator before counting
  mid=$(reqs slow-model)
  line d 'values [{after_interrupt: 31}];'
  check d alive-after-interrupt '│ +31 │'
  idle d
  line d "$stmt"
  check d rerun-completes '│ +60 │' 30
  kill -0 "$simpid" 2>/dev/null || bad simulator-alive "fql-sim ended: $(tail -n 5 sim.err)"
  after=$(reqs slow-model)
  # the rerun asks only for what had not been answered (in-flight requests at the interrupt may be lost)
  if (( mid >= 4 && mid < 60 && after - mid <= 60 - mid + 2 )); then ok "answers before Ctrl-C stay cached ($mid before, $((after - mid)) after)"
  else bad interrupt-cache "requests before the interrupt $mid, rerun sent $((after - mid))"; fi
  line d '.models'
  check d dot-models-limits '│ slow +│ language │ openai +│ slow-model +│ true +│ max_concurrency 2 │ +NULL │'
  key d C-d
  check d ctrl-d-exits-after-run '^\[fql exited 0\]$'
fi

# ---- not a terminal ----
out=$(printf '.mode csv\nvalues [{a: 1}]\n| select a + 1 as b;\nvalues [{a: 1}] | select c;\n.nope\nvalues [{z: 9}]\n' | "$FQL" --shell --db :memory: 2>err.txt); rc=$?
[[ $out == $'b\n2\nz\n9' ]] && ok shell-pipe-runs-on || bad shell-pipe-runs-on "out=$out"
grep -q '^<stdin>:4:26: error: unknown column' err.txt && grep -q "^<stdin>:5:1: error: unknown command '.nope'" err.txt \
  && ok shell-pipe-error-lines || bad shell-pipe-error-lines "$(cat err.txt)"
[[ $rc == 1 ]] && ok shell-pipe-exit-status || bad shell-pipe-exit-status "exit $rc"
grep -q 'fql>' <<<"$out$(cat err.txt)" && bad shell-pipe-no-prompt "a prompt was printed" || ok shell-pipe-no-prompt
# .models resolves prices without keeping the runtime model: a new declaration shows at once
out=$(printf '.mode csv\nmodel fast = openai("gpt-4o-mini");\n.models\nmodel fast = openai("gpt-4o");\n.models\n' | "$FQL" --shell --db :memory: 2>&1)
[[ $(tail -n 1 <<<"$out") == fast,language,openai,gpt-4o,true,,2.5,10.0,128000 ]] && ok dot-models-after-redeclaration \
  || bad dot-models-after-redeclaration "$out"
out=$(printf 'values [{a: 1}]\n| select a;\n' | "$FQL" --format csv --db :memory: 2>&1); rc=$?
[[ $rc == 0 && $out == $'a\n1' ]] && ok stdin-script-unchanged || bad stdin-script-unchanged "rc=$rc $out"

echo "$pass passed, $fail failed"
(( fail == 0 ))
