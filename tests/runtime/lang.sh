#!/usr/bin/env bash
# Issue 21 (language): a script that writes a file and reads it back (the read is checked once the
# write has run), saved tables across sessions and in the shell (.tables, .schema), a pipeline fn's
# doc comment in .schema, and model: naming a derived column, routed per row against fql-sim.
# usage: tests/runtime/lang.sh BUILD_DIR
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/../lib/setup.sh"
echo '{}' > sim.json
source "$HERE/../lib/sim.sh"

# 1. write then read back in one script: the read waits for the write
cat > wr.fql <<'Q'
from values [{a: 1, b: "x"}, {a: 2, b: "y"}] | write parquet("out/x.parquet");
let back = from parquet("./out/x.parquet") | where a > 1;
back | select a, b;
from values [{a: 3}] | write csv("out/y.csv");
from csv("out/y.csv") | select a + 1 as c;
Q
out=$("$FQL" --db :memory: --format csv wr.fql 2>wr.err); rc=$?
[[ $rc == 0 && $out == *"2,y"* && $out == *"c"*"4"* ]] && ok "write then read back" || bad "write then read back" "rc=$rc $out $(cat wr.err)"

# 2. a type error in a statement after the write is found once the write has run: located, exit 2
rm -rf out
cat > wr2.fql <<'Q'
from values [{a: 1}] | write csv("out/z.csv");
from csv("out/z.csv") | select nope;
Q
"$FQL" --db :memory: wr2.fql > /dev/null 2> wr2.err; rc=$?
[[ $rc == 2 && -f out/z.csv ]] && grep -q "wr2.fql:2:32: error: unknown column 'nope' (columns: a)" wr2.err \
  && ok "an error after the write is located" || bad "an error after the write" "rc=$rc $(cat wr2.err)"

# 3. a file no statement writes is still checked before anything runs
cat > wr3.fql <<'Q'
from values [{a: 1}] | write csv("out/w.csv");
from csv("out/missing.csv");
Q
rm -rf out
"$FQL" --db :memory: wr3.fql > /dev/null 2> wr3.err; rc=$?
[[ $rc == 1 && ! -f out/w.csv ]] && grep -q "wr3.fql:2:6: error: cannot open out/missing.csv" wr3.err \
  && ok "an unwritten file is checked before anything runs" || bad "unwritten file" "rc=$rc $(cat wr3.err)"

# 4. saved tables outlive the session: another process reads them, the shell lists them
"$FQL" --db st.db -c 'save from values [{id: 1, tags: ["a"], level: cast("hi" as enum("lo", "hi"))}] as table shared;' 2> s1.err \
  || bad "save" "$(cat s1.err)"
out=$("$FQL" --db st.db --format csv -c 'from table("shared") | select id, tags[0] as t, level' 2>&1)
[[ $out == *"1,a,hi"* ]] && ok "a saved table is read by a later process" || bad "read saved" "$out"
printf '%s\n' '.tables' '.schema shared' | "$FQL" --db st.db --shell > sh.out 2>&1
grep -q 'table("shared").*saved.*id, tags, level' sh.out && grep -q 'level.*enum("lo", "hi")' sh.out \
  && ok ".tables and .schema show saved tables" || bad ".tables" "$(cat sh.out)"
"$FQL" --db st.db -c 'drop table shared;' 2>/dev/null
out=$("$FQL" --db st.db -c 'from table("shared")' 2>&1); rc=$?
[[ $rc == 2 && $out == *"unknown saved table 'shared'"* ]] && ok "drop table removes it" || bad "drop table" "rc=$rc $out"

# 5. a pipeline fn's -- comment lines are its documentation
cat > lib.fql <<'Q'
-- Tickets of one priority, newest first.
-- p: the priority
fn by_priority(p: string, n: int = 5) = from values [{id: 1, priority: "high"}] | where priority == p | limit n;
Q
printf '%s\n' '.read lib.fql' '.schema by_priority' | "$FQL" --db :memory: --shell > doc.out 2>&1
grep -q -- '^-- Tickets of one priority, newest first.$' doc.out && grep -q -- '^-- p: the priority$' doc.out \
  && grep -q '^fn by_priority(p: string, n: int = 5) = from' doc.out && ok ".schema shows a fn's doc comment" || bad ".schema fn" "$(cat doc.out)"

# 6. model: a derived column routes each row to the alias it names
before_f=$(reqs gpt-4o-mini); before_p=$(reqs gpt-4o)
out=$("$FQL" --no-cache --format csv -c 'model fast = openai("gpt-4o-mini"); model powerful = openai("gpt-4o");
from values [{id: 1, t: "short"}, {id: 2, t: "a much longer text that the powerful model should read"}, {id: 3, t: "tiny"}]
| derive model_to_use = case when token_count(t) < 5 then "fast" else "powerful" end
| derive s = summarize(t, model: model_to_use) | select id, model_to_use, s is not null as answered' 2>m.err); rc=$?
f=$(( $(reqs gpt-4o-mini) - before_f )); p=$(( $(reqs gpt-4o) - before_p ))
[[ $rc == 0 && $f == 2 && $p == 1 && $out == *"2,powerful,true"* ]] && ok "model: a derived column (fast $f, powerful $p)" \
  || bad "model column" "rc=$rc fast=$f powerful=$p $out $(cat m.err)"

# 7. an alias in the data that is not declared: that row is null with a row error, the others answered
out=$("$FQL" --no-cache --format csv -c 'model fast = openai("gpt-4o-mini");
from values [{id: 1, t: "a", m: "fast"}, {id: 2, t: "b", m: "fats"}] | select id, summarize(t, model: m) is not null as answered;
from system.lm_errors | select row, model, kind' 2>&1); rc=$?
[[ $rc == 0 && $out == *"1,true"* && $out == *"2,false"* && $out == *"1,fats,unknown_model"* ]] \
  && ok "an undeclared alias in the data is a row error" || bad "unknown alias row" "rc=$rc $out"
finish
