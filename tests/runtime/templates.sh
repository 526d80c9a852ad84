#!/usr/bin/env bash
# The template language (docs/reference.md, "Templates") end to end against fql-sim: the rendered
# prompt is what is sent and what the cache keys (rows whose templates render the same text share
# one request; a rerun is all cache hits), and a malformed template stops the script before anything
# is sent, at the file, line and column of the bad byte inside the string (escapes counted).
# usage: tests/runtime/templates.sh BUILD_DIR
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/../lib/setup.sh"
echo '{"default": {"latency_ms": 1}}' > sim.json
source "$HERE/../lib/sim.sh"

cat > t.fql <<'F'
model m = openai("tpl-model");
let r = values [{id: 1, p: "high", tags: ["db", "ml"]}, {id: 2, p: "low", tags: ["db", "ml"]}, {id: 3, p: "low", tags: ["db", "ml"]}, {id: 4, p: "high", tags: []}];
from r | derive a = map("Title for a {% if p == 'high' %}URGENT {% endif %}ticket about {% for t in tags %}{{ t | upper }}{% if not loop.last %} and {% endif %}{% else %}nothing{% endfor %}") | select id, a is not null as ok | order by id;
F
out=$("$FQL" --format csv t.fql 2>err1 | tail -n +2 | paste -sd' ')
[[ $out == "1,true 2,true 3,true 4,true" ]] && ok "map over a template answers every row" || bad answers "$out $(cat err1)"
# 4 rows render 3 distinct prompts (rows 2 and 3 are the same text): 3 requests
n1=$(reqs tpl-model)
[[ $n1 == 3 ]] && ok "one request per distinct rendered prompt" || bad requests "sent $n1, want 3"
"$FQL" --format csv t.fql > /dev/null 2>err2
n2=$(reqs tpl-model)
[[ $n2 == 3 ]] && ok "a rerun is served from the cache (keyed by the rendered prompt)" || bad cache "sent $((n2 - n1)) more"
# errors: located inside the string, escapes counted; nothing sent
printf '%s\n' 'model m = openai("tpl-model");' 'let r = values [{name: "a\"b", tags: ["x"]}];' \
  'from r | select map("say \"hi\" to {{ name | uper }}") as t;' > bad1.fql
"$FQL" bad1.fql > /dev/null 2> e1; rc=$?
[[ $rc == 2 ]] && grep -q "^bad1.fql:3:46: error: template: unknown filter 'uper'; did you mean 'upper'?" e1 \
  && ok "unknown filter: file:line:column of the filter" || bad locate1 "rc $rc: $(cat e1)"
printf '%s\n' 'let r = values [{n: 1}];' 'from r | select template("""first line' '  {% if n > 0 %}pos' '  {% endfi %}""") as t;' > bad2.fql
"$FQL" bad2.fql > /dev/null 2> e2; rc=$?
[[ $rc == 2 ]] && grep -q "^bad2.fql:4:6: error: template: unknown tag 'endfi'; did you mean 'endif'?" e2 \
  && ok "a raw multi-line template: the line and column inside it" || bad locate2 "rc $rc: $(cat e2)"
printf '%s\n' 'let r = values [{n: 1}];' 'from r | select template("{% if n %}yes") as t;' > bad3.fql
"$FQL" bad3.fql > /dev/null 2> e3
grep -q "^bad3.fql:2:27: error: template: this '{% if %}' has no '{% endif %}'" e3 && grep -q '^ *\^$' e3 \
  && ok "an unclosed if points at its tag, with a caret" || bad locate3 "$(cat e3)"
n3=$(reqs tpl-model)
[[ $n3 == "$n2" ]] && ok "nothing sent for malformed templates" || bad sent "sent $((n3 - n2))"
finish
