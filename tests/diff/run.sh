#!/usr/bin/env bash
# Differential test: the same questions asked of FQL and of the sqlite3 CLI over generated tables,
# answers compared after normalising number formatting (6 decimals) and, unless the question
# orders its rows, row order.
# usage: tests/diff/run.sh BUILD_DIR
set -u
BUILD=$(cd "${1:-build}" && pwd)
FQL="$BUILD/fql"
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
cd "$dir"

# generated data: orders (with nulls) and customers; seeds make it repeatable
gen() {  # seed rows
  awk -v seed="$1" -v n="$2" 'BEGIN {
    srand(seed);
    print "id,cust,cat,qty,price,note" > "orders.csv";
    split("red,green,blue,cyan,magenta", cats, ",");
    for (i = 1; i <= n; i++) {
      cust = int(rand() * 40) + 1; cat = cats[int(rand() * 5) + 1];
      qty = int(rand() * 20) - 3; price = sprintf("%.2f", rand() * 200);
      note = (rand() < 0.2) ? "" : "n" int(rand() * 7);
      if (rand() < 0.1) cat = "";
      if (rand() < 0.05) qty = "";
      printf "%d,%d,%s,%s,%s,%s\n", i, cust, cat, qty, price, note >> "orders.csv";
      printf "insert into orders values (%d,%d,%s,%s,%s,%s);\n", i, cust, cat == "" ? "NULL" : "\x27" cat "\x27",
             qty == "" ? "NULL" : qty, price, note == "" ? "NULL" : "\x27" note "\x27" >> "orders.sql";
    }
    print "cid,region,tier" > "customers.csv";
    split("eu,us,apac", regs, ",");
    for (c = 1; c <= 45; c += 1) {
      if (c % 7 == 0) continue;
      r = regs[int(rand() * 3) + 1]; t = int(rand() * 3);
      printf "%d,%s,%d\n", c, r, t >> "customers.csv";
      printf "insert into customers values (%d,\x27%s\x27,%d);\n", c, r, t >> "orders.sql";
    }
  }'
}

norm() {  # round numbers to 6 decimals; optionally sort
  awk -F, -v OFS=, '{ for (i = 1; i <= NF; i++) if ($i ~ /^-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?$/) { v = sprintf("%.6f", $i); if (v == "-0.000000") v = "0.000000"; $i = v } print }'
}

pass=0 fail=0
check() {  # name ordered fql sql
  local name=$1 ordered=$2 fq=$3 sq=$4 a b
  a=$("$FQL" --format csv -c "let orders = from csv(\"orders.csv\"); let customers = from csv(\"customers.csv\"); $fq" 2>&1 | tail -n +2 | norm)
  b=$(sqlite3 -csv db.sqlite "$sq" 2>&1 | norm)
  if [[ $ordered == sorted ]]; then a=$(sort <<<"$a"); b=$(sort <<<"$b"); fi
  if [[ "$a" == "$b" ]]; then pass=$((pass + 1)); echo "ok $name"
  else
    fail=$((fail + 1)); echo "FAIL $name"
    diff <(echo "$b") <(echo "$a") | head -n 10 | sed 's/^/    /'
  fi
}

for seed in 1 2 3; do
  rm -f orders.csv customers.csv orders.sql db.sqlite
  gen "$seed" 500
  { echo "create table orders (id integer, cust integer, cat text, qty integer, price real, note text);"
    echo "create table customers (cid integer, region text, tier integer);"
    echo "begin;"; cat orders.sql; echo "commit;"; } | sqlite3 db.sqlite
  s="[seed $seed]"
  check "$s filter" sorted 'from orders | where qty > 5 and price < 100 | select id, qty, price' \
    'select id, qty, price from orders where qty > 5 and price < 100'
  check "$s null filter" sorted 'from orders | where cat is null or qty is null | select id, cat, qty' \
    'select id, cat, qty from orders where cat is null or qty is null'
  check "$s three-valued not" sorted 'from orders | where not (qty > 3) | select id' \
    'select id from orders where not (qty > 3)'
  check "$s in list" sorted 'from orders | where cat in ("red", "blue") and note not in ("n1", "n2") | select id' \
    "select id from orders where cat in ('red','blue') and note not in ('n1','n2')"
  check "$s between like" sorted 'from orders | where price between 20 and 80 and note like "n%" | select id, note' \
    "select id, note from orders where price between 20 and 80 and note like 'n%'"
  check "$s arithmetic" sorted 'from orders | where qty is not null | select id, qty * price as total, qty + 1 as q1, price - qty as d' \
    'select id, qty * price, qty + 1, price - qty from orders where qty is not null'
  check "$s group agg" sorted 'from orders | group by cat agg n = count(*), nq = count(qty), s = sum(qty), a = avg(price), lo = min(price), hi = max(price)' \
    'select cat, count(*), count(qty), sum(qty), avg(price), min(price), max(price) from orders group by cat'
  check "$s group two keys" sorted 'from orders | group by cust, cat agg n = count(*), s = sum(price)' \
    'select cust, cat, count(*), sum(price) from orders group by cust, cat'
  check "$s count distinct" sorted 'from orders | group by cat agg d = count(distinct cust)' \
    'select cat, count(distinct cust) from orders group by cat'
  check "$s global agg" ordered 'from orders | agg n = count(*), s = sum(qty), m = max(id)' \
    'select count(*), sum(qty), max(id) from orders'
  check "$s empty agg" ordered 'from orders | where id < 0 | agg n = count(*), s = sum(qty)' \
    'select count(*), sum(qty) from orders where id < 0'
  check "$s order limit" ordered 'from orders | order by price desc, id | limit 15 offset 3 | select id, price' \
    'select id, price from orders order by price desc, id limit 15 offset 3'
  check "$s top-n keys" ordered 'from orders | order by cat nulls last, qty desc nulls last, id | limit 123 offset 7 | select id, cat, qty' \
    'select id, cat, qty from orders order by cat nulls last, qty desc nulls last, id limit 123 offset 7'
  check "$s order nulls" ordered 'from orders | order by qty nulls first, id | select id, qty | limit 40' \
    'select id, qty from orders order by qty nulls first, id limit 40'
  check "$s order desc nulls last" ordered 'from orders | order by cat desc nulls last, id desc | select id, cat' \
    'select id, cat from orders order by cat desc nulls last, id desc'
  # the sort (exec_sort.c): ties keep input order (sqlite3 is told so by id), nulls as written,
  # several keys, descending, strings longer than the sort's key words (compared by value)
  check "$s sort ties stable" ordered 'from orders | order by cat | select id, cat' \
    'select id, cat from orders order by cat nulls last, id'
  check "$s sort keys desc nulls" ordered 'from orders | order by qty desc nulls last, price, note nulls first | select id, qty, price, note' \
    'select id, qty, price, note from orders order by qty desc nulls last, price, note nulls first, id'
  check "$s sort float desc ties" ordered 'from orders | derive p = round(price / 10) | order by p desc, cat desc | select id, p, cat' \
    'select id, round(price / 10), cat from orders order by round(price / 10) desc, cat desc nulls first, id'
  check "$s sort long strings" ordered 'from orders | derive k = "a_key_much_longer_than_the_words_of_the_sort_" || coalesce(note, "-") || cust | order by k desc, qty nulls first | select id, k, qty' \
    "select id, 'a_key_much_longer_than_the_words_of_the_sort_' || coalesce(note, '-') || cust as k, qty from orders order by k desc, qty nulls first, id"
  check "$s sort spilled" ordered 'set memory_limit = "1KB"; from orders | order by note desc nulls last, cat nulls first | select id, note, cat' \
    'select id, note, cat from orders order by note desc nulls last, cat nulls first, id'
  check "$s distinct" sorted 'from orders | select cat, note | distinct' \
    'select distinct cat, note from orders'
  check "$s inner join" sorted 'from orders | join customers on orders.cust == customers.cid | select id, region, tier' \
    'select id, region, tier from orders join customers on orders.cust = customers.cid'
  check "$s left join" sorted 'from orders | left join customers on cust == cid | select id, cust, region' \
    'select id, cust, region from orders left join customers on cust = cid'
  check "$s join filter group" sorted 'from orders | join customers on cust == cid | where tier > 0 | group by region agg n = count(*), t = sum(price)' \
    'select region, count(*), sum(price) from orders join customers on cust = cid where tier > 0 group by region'
  check "$s non-equi join" sorted 'from customers as a | join customers as b on a.cid < b.cid and a.region == b.region | select a.cid, b.cid as other' \
    'select a.cid, b.cid from customers a join customers b on a.cid < b.cid and a.region = b.region'
  # the hash join and aggregation (keytab.c): duplicate keys on either side, null keys, residual
  # conditions, outer joins, string keys; count(distinct) with nulls; many groups
  check "$s join duplicate build keys" sorted 'from customers | join orders on cid == cust | select cid, id, region, qty' \
    'select cid, id, region, qty from customers join orders on cid = cust'
  check "$s left join null keys" sorted 'from orders as a | left join orders as b on a.qty == b.qty and a.cat == b.cat | select a.id, b.id as bid' \
    'select a.id, b.id from orders a left join orders b on a.qty = b.qty and a.cat = b.cat'
  check "$s right join" sorted 'from customers | right join orders on cid == cust | select id, cid, region' \
    'select id, cid, region from customers right join orders on cid = cust'
  check "$s full join residual" sorted 'from customers | full join orders on cid == cust and price > 150 | select cid, id, price' \
    'select cid, id, price from customers full join orders on cid = cust and price > 150'
  check "$s join residual" sorted 'from orders | join customers on cust == cid and tier < qty | select id, cid, tier, qty' \
    'select id, cid, tier, qty from orders join customers on cust = cid and tier < qty'
  check "$s join string keys" sorted 'from customers as a | join customers as b on a.region == b.region and a.tier == b.tier | select a.cid, b.cid as other' \
    'select a.cid, b.cid from customers a join customers b on a.region = b.region and a.tier = b.tier'
  check "$s join then group distinct" sorted 'from orders | join customers on cust == cid | group by region, tier agg n = count(*), d = count(distinct cat), q = count(distinct qty)' \
    'select region, tier, count(*), count(distinct cat), count(distinct qty) from orders join customers on cust = cid group by region, tier'
  check "$s count distinct nulls" sorted 'from orders | group by cat agg n = count(*), q = count(distinct qty), t = count(distinct note), p = count(distinct price), s = sum(distinct qty)' \
    'select cat, count(*), count(distinct qty), count(distinct note), count(distinct price), sum(distinct qty) from orders group by cat'
  check "$s global count distinct" ordered 'from orders | agg c = count(distinct cust), t = count(distinct cat), q = count(distinct qty)' \
    'select count(distinct cust), count(distinct cat), count(distinct qty) from orders'
  check "$s many groups" sorted 'from orders | group by id agg n = count(*), d = count(distinct cust), s = sum(price)' \
    'select id, count(*), count(distinct cust), sum(price) from orders group by id'
  check "$s null and float group keys" sorted 'from orders | group by qty, note agg n = count(*), d = count(distinct cat)' \
    'select qty, note, count(*), count(distinct cat) from orders group by qty, note'
  check "$s float group key" sorted 'from orders | group by price agg n = count(*)' \
    'select price, count(*) from orders group by price'
  check "$s case and search" sorted 'from orders | select id, lower(cat || "X") as l, upper(note) as u, case when contains(note, "1") then 1 else 0 end as c, length(lower(note)) as n' \
    "select id, lower(cat || 'X'), upper(note), case when instr(note, '1') > 0 then 1 else 0 end, length(lower(note)) from orders"
  check "$s union" sorted 'from orders | where qty > 10 | select cust | union (from customers | select cid)' \
    'select cust from orders where qty > 10 union select cid from customers'
  check "$s union all" sorted 'from orders | where qty > 15 | select cust | union all (from orders | where qty < -1 | select cust)' \
    'select cust from orders where qty > 15 union all select cust from orders where qty < -1'
  check "$s case" sorted 'from orders | select id, case when price > 150 then "high" when price > 50 then "mid" else "low" end as band' \
    "select id, case when price > 150 then 'high' when price > 50 then 'mid' else 'low' end from orders"
  check "$s string funcs" sorted 'from orders | where note is not null | select id, upper(note) as u, length(note) as l, substr(note, 2) as s, note || "-" || cat as c' \
    "select id, upper(note), length(note), substr(note, 2), note || '-' || cat from orders where note is not null"
  check "$s coalesce" sorted 'from orders | select id, coalesce(cat, note, "none") as c' \
    "select id, coalesce(cat, note, 'none') from orders"
  check "$s having-like" sorted 'from orders | group by cust agg n = count(*) | where n > 14' \
    'select cust, count(*) as n from orders group by cust having n > 14'
  check "$s derive chain" sorted 'from orders | derive t = price * 2, u = t + 1 | where u > 300 | select id, u' \
    'select id, price * 2 + 1 from orders where price * 2 + 1 > 300'
  check "$s abs round" sorted 'from orders | select id, abs(qty) as a, round(price) as r, round(price, 1) as r1' \
    'select id, abs(qty), round(price), round(price, 1) from orders'
done

# spilled runs: 12,000 rows come as several batches, each a sorted run of its own under a tiny
# memory_limit, merged; ties and nulls as in memory
rm -f orders.csv customers.csv orders.sql db.sqlite
gen 7 12000
{ echo "create table orders (id integer, cust integer, cat text, qty integer, price real, note text);"
  echo "create table customers (cid integer, region text, tier integer);"
  echo "begin;"; cat orders.sql; echo "commit;"; } | sqlite3 db.sqlite
check "[12k] sort in memory" ordered 'from orders | order by cat desc, qty nulls first | select id, cat, qty' \
  'select id, cat, qty from orders order by cat desc nulls first, qty nulls first, id'
check "[12k] sort spilled runs" ordered 'set memory_limit = "64KB"; from orders | order by cat desc, qty nulls first | select id, cat, qty' \
  'select id, cat, qty from orders order by cat desc nulls first, qty nulls first, id'
check "[12k] sort spilled, all columns" ordered 'set memory_limit = 1; from orders | order by note nulls first, price desc' \
  'select * from orders order by note nulls first, price desc, id'

# threads (`set threads`, pool.c): 12,000 rows are six batches, so a parallel stage spreads them over
# its threads. Each question runs with 1 thread, 2 (the machine's cores here) and 5 (more than the
# cores): every answer must match sqlite3's, and the threaded runs' output (rows in their order,
# and any error) must be byte-identical to the single thread's.
check_t() {  # name ordered fql sql
  local name=$1 ordered=$2 fq=$3 sq=$4 one out t
  for t in 1 2 5; do
    if [[ $ordered == error ]]; then   # sq: the error message expected after the rows before it
      out=$("$FQL" --format csv -c "let orders = from csv(\"orders.csv\"); set threads = $t;
$fq" 2>&1)
      if [[ $? != 0 && "$out" == *"$sq"* ]]; then pass=$((pass + 1)); echo "ok [12k threads $t] $name: fails with '$sq'"
      else fail=$((fail + 1)); echo "FAIL [12k threads $t] $name: expected a failure with '$sq', got: $(tail -n 3 <<<"$out")"; fi
    else
      check "[12k threads $t] $name" "$ordered" "set threads = $t;
$fq" "$sq"
    fi
    out=$("$FQL" --format csv -c "let orders = from csv(\"orders.csv\"); let customers = from csv(\"customers.csv\"); set threads = $t;
$fq" 2>&1)
    if [[ $t == 1 ]]; then one=$out
    elif [[ "$out" == "$one" ]]; then pass=$((pass + 1)); echo "ok [12k threads $t] $name: same output as one thread"
    else
      fail=$((fail + 1)); echo "FAIL [12k threads $t] $name: output differs from one thread's"
      diff <(echo "$one") <(echo "$out") | head -n 10 | sed 's/^/    /'
    fi
  done
}
# written on threads (writer_format): CSV, TSV and JSON Lines files byte-identical to one thread's,
# the CSV's rows those of sqlite3
want=$(sqlite3 -csv db.sqlite "select id, cat, price, note from orders where qty > 5 order by rowid" | norm)
for f in csv tsv jsonl; do
  for t in 1 2 5; do
    "$FQL" -c "let orders = from csv(\"orders.csv\"); set threads = $t; from orders | where qty > 5 | select id, cat, price, note | write $f(\"w$t.$f\")" >/dev/null 2>&1
  done
  if [[ -s w1.$f ]] && cmp -s w1.$f w2.$f && cmp -s w1.$f w5.$f; then pass=$((pass + 1)); echo "ok [12k threads 2, 5] write $f: the file one thread writes"
  else fail=$((fail + 1)); echo "FAIL [12k threads 2, 5] write $f: $(cmp w1.$f w2.$f 2>&1; cmp w1.$f w5.$f 2>&1)"; fi
done
if [[ "$(tail -n +2 w5.csv | norm)" == "$want" ]]; then pass=$((pass + 1)); echo "ok [12k threads 5] write csv: sqlite3's rows"
else fail=$((fail + 1)); echo "FAIL [12k threads 5] write csv: rows differ from sqlite3's"; fi

check_t "filter" ordered 'from orders | where qty > 5 and price < 100 | select id, qty, price' \
  'select id, qty, price from orders where qty > 5 and price < 100 order by rowid'
check_t "derive chain functions" ordered 'from orders | derive t = price * 2, u = t + 1 | where u > 100 | select id, u, upper(note) as n, lower(cat || "X") as c, coalesce(qty, -1) as q, round(price, 1) as r' \
  "select id, price * 2 + 1, upper(note), lower(cat || 'X'), coalesce(qty, -1), round(price, 1) from orders where price * 2 + 1 > 100 order by rowid"
check_t "case in like" ordered 'from orders | where cat in ("red", "blue") or note like "n1%" | select id, case when price > 150 then "high" when price > 50 then "mid" else "low" end as band, contains(note, "1") as c' \
  "select id, case when price > 150 then 'high' when price > 50 then 'mid' else 'low' end, case when note is null then null when instr(note, '1') > 0 then 'true' else 'false' end from orders where cat in ('red', 'blue') or note like 'n1%' order by rowid"
check_t "inner join" ordered 'from orders | join customers on cust == cid | select id, region, tier' \
  'select id, region, tier from orders join customers on cust = cid order by orders.rowid'
check_t "left join, then filter" ordered 'from orders | left join customers on cust == cid | where qty is null or qty > 3 | select id, cust, region' \
  'select id, cust, region from orders left join customers on cust = cid where qty is null or qty > 3 order by orders.rowid'
check_t "join residual" ordered 'from orders | join customers on cust == cid and tier < qty | select id, cid, tier, qty' \
  'select id, cid, tier, qty from orders join customers on cust = cid and tier < qty order by orders.rowid'
check_t "join duplicate build keys, string key" ordered 'from orders as a | join (from customers | select region, tier) as c on a.note == c.region || "x" or true | where a.id < 50 | select a.id, c.region' \
  'select a.id, c.region from orders a join customers c where a.id < 50 order by a.rowid, c.rowid'
check_t "left join null string keys" ordered 'from orders as a | where a.id % 40 == 0 | left join (from orders | where id < 400) as b on a.note == b.note and a.cat == b.cat | select a.id, b.id as bid' \
  'select a.id, b.id from orders a left join (select * from orders where id < 400) b on a.note = b.note and a.cat = b.cat where a.id % 40 = 0 order by a.rowid, b.rowid'
check_t "right join (one thread)" sorted 'from customers | right join orders on cid == cust | select id, cid, region' \
  'select id, cid, region from customers right join orders on cid = cust'
check_t "join, filter, group" sorted 'from orders | join customers on cust == cid | where tier > 0 | group by region agg n = count(*), t = sum(price)' \
  'select region, count(*), sum(price) from orders join customers on cust = cid where tier > 0 group by region'
check_t "under a limit" ordered 'from orders | where qty > 2 | select id, qty | limit 5000 offset 10' \
  'select id, qty from orders where qty > 2 order by rowid limit 5000 offset 10'
check_t "order by after a stage" ordered 'from orders | where price > 20 | derive p = round(price / 10) | order by p desc, cat desc | select id, p, cat' \
  'select id, round(price / 10), cat from orders where price > 20 order by round(price / 10) desc, cat desc nulls first, rowid'
check_t "distinct after a stage" ordered 'from orders | select cat, note | distinct' \
  'select cat, note from orders group by cat, note order by min(rowid)'
# group by on threads (exec_agg.c): groups partitioned by key among the threads; the groups in
# order of first appearance (sqlite3 is told so by each group's first rowid), float sums to the last
# digit (sqlite3's answers are compared at 6 decimals: the exact check is against one thread)
check_t "group order, float sums" ordered 'from orders | group by cat agg n = count(*), nq = count(qty), s = sum(qty), t = sum(price), a = avg(price), lo = min(price), hi = max(price)' \
  'select cat, count(*), count(qty), sum(qty), sum(price), avg(price), min(price), max(price) from orders group by cat order by min(rowid)'
check_t "group two keys, first and last" ordered 'from orders | group by cust, note agg n = count(*), s = sum(price), f = first(id), l = last(id)' \
  'select cust, note, count(*), sum(price), min(id), max(id) from orders group by cust, note order by min(rowid)'
check_t "group count distinct" ordered 'from orders | group by cat agg d = count(distinct cust), q = count(distinct qty), t = count(distinct note), p = count(distinct price), s = sum(distinct qty)' \
  'select cat, count(distinct cust), count(distinct qty), count(distinct note), count(distinct price), sum(distinct qty) from orders group by cat order by min(rowid)'
check_t "many groups" ordered 'from orders | group by id % 3000 agg n = count(*), d = count(distinct cust), s = sum(price)' \
  'select id % 3000, count(*), count(distinct cust), sum(price) from orders group by id % 3000 order by min(rowid)'
check_t "group by expressions, args" ordered 'from orders | group by lower(cat || "x") agg n = count(*), s = sum(qty * price), c = sum(case when note like "n1%" then 1 else 0 end)' \
  "select lower(cat || 'x'), count(*), sum(qty * price), sum(case when note like 'n1%' then 1 else 0 end) from orders group by lower(cat || 'x') order by min(rowid)"
check_t "null and float group keys" ordered 'from orders | group by qty, round(price / 50) agg n = count(*), d = count(distinct cat)' \
  'select qty, round(price / 50), count(*), count(distinct cat) from orders group by qty, round(price / 50) order by min(rowid)'
check_t "join then group on threads" ordered 'from orders | join customers on cust == cid | group by region, tier agg n = count(*), t = sum(price), d = count(distinct cat)' \
  'select region, tier, count(*), sum(price), count(distinct cat) from orders join customers on cust = cid group by region, tier order by min(orders.rowid)'
check_t "global agg (one thread)" ordered 'from orders | agg n = count(*), s = sum(price), d = count(distinct cust)' \
  'select count(*), sum(price), count(distinct cust) from orders'
check_t "integer overflow in a later batch" error 'from orders | group by cat agg s = sum(case when id > 9000 then 9223372036854775807 else 1 end)' \
  "integer overflow in sum"
check_t "integer overflow, column arguments (partitions)" error 'from orders | derive big = case when id > 9000 then 9223372036854775807 else 1 end | group by cat agg s = sum(big)' \
  "integer overflow in sum"
check_t "argument error in a later batch" error 'from orders | group by cust agg s = sum(cast(case when id > 9000 then note else "1" end as int))' \
  "error: cannot cast 'n"
check_t "key error in a later batch" error 'from orders | group by cast(case when id > 9000 then note else "1" end as int) agg n = count(*)' \
  "error: cannot cast 'n"
# Parquet row groups decoded on threads (parquet_read.c): the orders as 7 row groups of 1,700 rows
# (the last shorter), read back in file order whatever the threads
"$FQL" -c 'from csv("orders.csv") | write parquet("orders.parquet", row_group_size: 1700)' >/dev/null 2>&1
check_t "parquet scan, filter" ordered 'from parquet("orders.parquet") | where qty > 5 or note is null | select id, cat, qty, price, note' \
  'select id, cat, qty, price, note from orders where qty > 5 or note is null order by rowid'
check_t "parquet scan, join, group" ordered 'from parquet("orders.parquet") | join customers on cust == cid | group by region agg n = count(*), t = sum(price), d = count(distinct cat)' \
  'select region, count(*), sum(price), count(distinct cat) from orders join customers on cust = cid group by region order by min(orders.rowid)'
# explain analyze says the threads an operator used
check_explain() {  # name query pattern
  local out
  out=$("$FQL" -c "let orders = from csv(\"orders.csv\"); let customers = from csv(\"customers.csv\"); set threads = 2; explain analyze $2" 2>&1)
  if grep -qF -- "$3" <<<"$out"; then pass=$((pass + 1)); echo "ok [12k] explain analyze $1"
  else fail=$((fail + 1)); echo "FAIL [12k] explain analyze $1: no '$3' in:"; sed 's/^/    /' <<<"$out" | head -20; fi
}
check_explain "stage" 'from orders | where qty > 2 | derive t = price * 2 | select id, t' "2 threads, one parallel stage with the 2 operators below"
check_explain "parquet scan" 'from parquet("orders.parquet") | where qty > 2' "row groups decoded on 2 threads"
check_explain "aggregate arguments" 'from orders | group by cat agg s = sum(qty * price)' "2 threads (keys and arguments evaluated on them)"
# an error in a later batch: the rows of the batches before it print first, then the single
# thread's message (the same output on every thread count)
check_t "error in a later batch" error 'from orders | select id, cast(case when id > 9000 then note else "1" end as int) as v' \
  "error: cannot cast 'n5' to int"
# the sort on threads (exec_sort.c): 70,000 rows (more than a sort takes to use threads), each
# thread sorts a range of rows and the ranges are merged: ties in input order, nulls as written,
# strings longer than the sort's words compared by value, as one thread sorts them
rm -f orders.csv customers.csv orders.sql db.sqlite orders.parquet
gen 11 70000
{ echo "create table orders (id integer, cust integer, cat text, qty integer, price real, note text);"
  echo "create table customers (cid integer, region text, tier integer);"
  echo "begin;"; cat orders.sql; echo "commit;"; } | sqlite3 db.sqlite
check_t "[70k] sort ties stable" ordered 'from orders | order by cat | select id, cat' \
  'select id, cat from orders order by cat nulls last, id'
check_t "[70k] sort keys desc nulls" ordered 'from orders | order by qty desc nulls last, price, note nulls first | select id, qty, price, note' \
  'select id, qty, price, note from orders order by qty desc nulls last, price, note nulls first, id'
check_t "[70k] sort long strings" ordered 'from orders | derive k = "a_key_much_longer_than_the_words_of_the_sort_" || coalesce(note, "-") || cust | order by k desc, qty nulls first | select id, k, qty' \
  "select id, 'a_key_much_longer_than_the_words_of_the_sort_' || coalesce(note, '-') || cust as k, qty from orders order by k desc, qty nulls first, id"
check_explain "sort" 'from orders | order by cat' "sorted on 2 threads"
# count(distinct) of ints (exec_agg.c): small values are bits per group, others pairs; values
# past 2^26, negative and 10^12 values, nulls, and a bitmap width that stops growing (frozen) once
# every group's bitmap would not fit its budget: each pair counted once wherever it went
rm -f orders.csv orders.sql db.sqlite
awk 'BEGIN { srand(5); print "id,cust,cat,qty,price,note" > "orders.csv"
  for (i = 1; i <= 40000; i++) {
    m = rand(); g = int(rand() * 300)
    q = m < 0.4 ? int(rand() * 5000) : m < 0.55 ? -int(rand() * 50) - 1 : m < 0.7 ? int(rand() * 2^27) \
      : m < 0.8 ? 1000000000000 + int(rand() * 100) : m < 0.85 ? "" : int(rand() * 70000000)
    if (i < 400 && q != "") q = q % 3000   # the first rows: a narrow width first, then growing
    printf "%d,%d,c,%s,1.0,n\n", i, g, q >> "orders.csv"
    printf "insert into orders values (%d,%d,\x27c\x27,%s,1.0,\x27n\x27);\n", i, g, q == "" ? "NULL" : q >> "orders.sql"
  } }'
{ echo "create table orders (id integer, cust integer, cat text, qty integer, price real, note text);"
  echo "begin;"; cat orders.sql; echo "commit;"; } | sqlite3 db.sqlite
check_t "[40k] count distinct wide ints" sorted 'from orders | group by cust agg d = count(distinct qty), n = count(qty), s = sum(distinct qty)' \
  'select cust, count(distinct qty), count(qty), sum(distinct qty) from orders group by cust'
check_t "[40k] global count distinct wide ints" ordered 'from orders | agg d = count(distinct qty), c = count(distinct cust)' \
  'select count(distinct qty), count(distinct cust) from orders'
echo "$pass passed, $fail failed"
(( fail == 0 ))
