#!/usr/bin/env bash
# Early stop and measured order against fql-sim (latency 40 ms): requests and wall time of a
# model filter over 4,000 rows with and without `limit 10`, a semantic self-join of 64 rows with and
# without `limit 10`, and two predicates written in the bad order.
# usage: bench/plans/early_stop.sh [BUILD_DIR]
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/../../tests/lib/setup.sh"
cat > sim.json <<'J'
{"default": {"latency_ms": 40, "jitter_ms": 10, "rpm": 100000}}
J
source "$HERE/../../tests/lib/sim.sh"
{ echo "n,text,a,b"
  for i in $(seq 1 4000); do
    if (( (i * 7919 % 13) < 6 )); then w=urgent; else w=routine; fi
    if (( i % 10 != 3 )); then a=severe; else a=mild; fi
    if (( i % 10 == 7 )); then b=urgent; else b=calm; fi
    echo "$i,ticket $i is $w about item $((i * 31 % 97)),note $i $a,memo $i $b"
  done; } > t.csv
head -65 t.csv > s.csv
k=0
run() {  # run LABEL QUERY (MODEL in the query is replaced by a fresh model name)
  k=$((k + 1))
  local t0 t1
  t0=$(date +%s.%N)
  "$FQL" --no-cache --format csv -c "model m$k = openai(\"b$k\"); ${2//MODEL/m$k}" > out.$k 2>/dev/null
  t1=$(date +%s.%N)
  printf '| %-52s | %6d | %6d | %7.2f s |\n' "$1" "$(($(wc -l < out.$k) - 1))" "$(reqs b$k)" "$(echo "$t1 - $t0" | bc)"
}
echo "| query | rows | requests | time |"
echo "| --- | ---: | ---: | ---: |"
P='predicate("Needs attention now? {{text}}", model: "MODEL")'
run "4000 rows, where predicate (no limit)" "from csv(\"t.csv\") | where $P | select n"
run "4000 rows, where predicate, limit 10" "from csv(\"t.csv\") | where $P | limit 10 | select n"
J='from csv("s.csv") | semantic join csv("s.csv") as r on "Do both need attention now? {{left.text}} / {{right.text}}" model MODEL | where n != r_n'
run "semantic self-join, 64 rows (no limit)" "$J | select n, r_n"
run "semantic self-join, 64 rows, limit 10" "$J | limit 10 | select n, r_n"
A='predicate("Is this bad? {{a}}", model: "MODEL")'; B='predicate("Is this bad? {{b}}", model: "MODEL")'
run "where a (90%) and b (10%), measured order" "from csv(\"t.csv\") | where $A and $B | select n"
run "where a alone (the fixed order sends this + a's rows)" "from csv(\"t.csv\") | where $A | select n"
