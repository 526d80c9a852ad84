#!/usr/bin/env bash
# Long scripts: thousands of chained stages or lets, and fns nested deep, run or stop with an error
# that says where and what to do; none crashes (every pass over a plan recurses along it, so the
# binder bounds a plan's depth). Generated here; no provider needed.
# usage: tests/runtime/long_scripts.sh BUILD_DIR
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/../lib/setup.sh"
FQL="$BUILD/fql"
export FQL_DB="$PWD/state.db"
pass=0 fail=0
ok()  { pass=$((pass + 1)); echo "ok $1"; }
bad() { fail=$((fail + 1)); echo "FAIL $1: $2"; }
stages() {   # stages N STAGE: a pipeline of N copies of STAGE over one row
  local s='from values [{a: 1}]'
  s+=$(printf " | $2%.0s" $(seq "$1"))
  echo "$s;"
}
# run NAME FILE [ARGS]: stdout in NAME.out, stderr in NAME.err, exit status in rc (139 = a crash)
run() { "$FQL" --no-cache --format csv "${@:3}" "$2" > "$1.out" 2> "$1.err"; rc=$?; }

# 1. 6,000 chained stages (about 66 KB): run, explained, explained with analyze
stages 6000 'derive b = a + 1' > s6000.fql
[[ $(wc -c < s6000.fql) -gt 60000 ]] || bad gen "s6000.fql is $(wc -c < s6000.fql) bytes"
run s6000 s6000.fql
[[ $rc == 0 && $(cat s6000.out) == $'a,b\n1,2' ]] && ok "6,000 chained stages run" || bad stages "rc=$rc $(head -c 300 s6000.out s6000.err)"
{ echo -n 'explain analyze '; stages 3000 'where a > 0 | derive b = a + 1'; } > e6000.fql
run e6000 e6000.fql
[[ $rc == 0 ]] && grep -q 'actual: 1 row' e6000.out && ok "explain analyze of 6,000 stages" || bad explain "rc=$rc $(tail -c 300 e6000.err)"

# 2. 3,000 chained lets, each reading the one before, the last read twice (a join)
{ echo 'let x0 = from values [{a: 1}];'
  for i in $(seq 1 2999); do echo "let x$i = from x$((i - 1)) | where a > 0;"; done
  echo 'from x2999 | join (from x2999) as y using (a) | select a;'; } > l3000.fql
run l3000 l3000.fql
[[ $rc == 0 && $(cat l3000.out) == $'a\n1' ]] && ok "3,000 chained lets run" || bad lets "rc=$rc $(head -c 300 l3000.out l3000.err)"

# 3. deeper than the bound: an error at the stage that crosses it, saying what to do
stages 20000 'derive b = a + 1' > s20000.fql
run s20000 s20000.fql
if [[ $rc == 2 ]] && grep -q '^s20000.fql:1:[0-9]*: error: the pipeline is more than 10000 stages deep here' s20000.err &&
   grep -q 'write an intermediate result to a file' s20000.err; then ok "20,000 stages: a clear error with the place"
else bad deep-stages "rc=$rc $(head -c 400 s20000.err)"; fi
{ echo 'let x0 = from values [{a: 1}];'
  for i in $(seq 1 8000); do echo "let x$i = from x$((i - 1)) | where a > 0;"; done
  echo 'from x8000;'; } > l8000.fql
run l8000 l8000.fql
if [[ $rc == 2 ]] && grep -q '^l8000.fql:[0-9]*:[0-9]*: error: the pipeline is more than 10000 stages deep here (counting the stages of the lets it reads)' l8000.err
then ok "8,000 chained lets: a clear error at the let that crosses the bound"; else bad deep-lets "rc=$rc $(head -c 400 l8000.err)"; fi

# 4. a long expression: the parser bounds its nesting itself
{ echo -n 'from values [{a: 1}] | select '; printf 'a + %.0s' $(seq 5000); echo 'a as s;'; } > x5000.fql
run x5000 x5000.fql
[[ $rc == 2 ]] && grep -q 'nested too deeply' x5000.err && ok "a 5,000-term expression: a clear error" || bad expr "rc=$rc $(head -c 300 x5000.err)"

# 5. 200 distinct fns nested inside one another: nesting, not recursion, and it runs
{ echo 'fn f0(x) = x;'; for i in $(seq 1 199); do echo "fn f$i(x) = f$((i - 1))(x) + 1;"; done
  echo 'from values [{a: 1}] | select f199(a) as r;'; } > fn200.fql
run fn200 fn200.fql
[[ $rc == 0 && $(cat fn200.out) == $'r\n200' ]] && ok "200 nested fns run" || bad fns "rc=$rc $(head -c 300 fn200.out fn200.err)"

echo "$pass passed, $fail failed"
[[ $fail == 0 ]]
