#!/usr/bin/env bash
# CLI behaviour: script sources, output formats, exit codes, error locations, --schema-of.
# usage: tests/cli/run.sh BUILD_DIR
set -u
BUILD=$(cd "${1:-build}" && pwd)
FQL="$BUILD/fql"
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
cd "$dir"
pass=0 fail=0
ok()   { pass=$((pass + 1)); echo "ok $1"; }
bad()  { fail=$((fail + 1)); echo "FAIL $1: $2"; }
# expect NAME WANT_EXIT PATTERN(grep -E, on stdout+stderr) -- command...
expect() {
  local name=$1 want=$2 pat=$3; shift 4
  local out rc
  out=$("$@" 2>&1); rc=$?
  if [[ $rc != "$want" ]]; then bad "$name" "exit $rc, wanted $want; output: $(head -c 300 <<<"$out")"; return; fi
  if [[ -n $pat ]] && ! grep -qE -- "$pat" <<<"$out"; then bad "$name" "output lacks /$pat/: $(head -c 400 <<<"$out")"; return; fi
  ok "$name"
}

printf 'id,name,score\n1,ann,2.5\n2,bob,\n3,"c, d",4\n' > t.csv
expect version 0 '^fql [0-9]+\.[0-9]+' -- "$FQL" --version
expect help 0 'usage: fql' -- "$FQL" --help
expect bad-option 2 'unknown option --frobnicate' -- "$FQL" --frobnicate
expect dash-c 0 '│ +3 │' -- "$FQL" -c 'from csv("t.csv") | agg n = count(*)'
expect table-null 0 'NULL' -- "$FQL" -c 'from csv("t.csv") | where id == 2'
expect table-footer 0 '^3 rows$' -- "$FQL" -c 'from csv("t.csv")'
expect one-row-footer 0 '^1 row$' -- "$FQL" -c 'from csv("t.csv") | limit 1'
expect csv-format 0 '^3,"c, d",4(\.0)?$' -- "$FQL" --format csv -c 'from csv("t.csv")'
expect csv-header 0 '^id,name,score$' -- "$FQL" --format csv -c 'from csv("t.csv")'
expect tsv-format 0 $'^2\tbob\t$' -- "$FQL" --format tsv -c 'from csv("t.csv")'
expect json-format 0 '"name": ?"c, d"' -- "$FQL" --format json -c 'from csv("t.csv")'
expect jsonl-format 0 '^\{"id": ?2, ?"name": ?"bob", ?"score": ?null\}$' -- "$FQL" --format jsonl -c 'from csv("t.csv")'
expect markdown-format 0 '^\| *id *\| *name *\| *score *\|$' -- "$FQL" --format markdown -c 'from csv("t.csv")'
expect set-format 0 '^id,name$' -- "$FQL" -c 'set format = "csv"; from csv("t.csv") | select id, name'
out=$(echo 'from csv("t.csv") | select name | where name == "bob"' | "$FQL" --format csv 2>&1)
[[ $out == $'name\nbob' ]] && ok stdin-script || bad stdin-script "$out"
printf 'let t = from csv("t.csv");\nt | order by id desc | limit 1 | select name;\n' > s.fql
expect script-file 0 'c, d' -- "$FQL" s.fql
expect missing-file 1 'cannot open nope.fql' -- "$FQL" nope.fql

# errors: where, with the line quoted and a caret; exit 2 before anything runs
printf 'let t = from csv("t.csv");\nt | where id = 2;\n' > e1.fql
expect eq-suggestion 2 "^e1.fql:2:14: error: .*did you mean '=='" -- "$FQL" e1.fql
out=$("$FQL" e1.fql 2>&1)
grep -qF 't | where id = 2;' <<<"$out" && grep -qE '^ +\^$' <<<"$out" && ok caret || bad caret "$out"
printf 'from csv("t.csv") | select nmae;\n' > e2.fql
expect typo-column 2 "e2.fql:1:28: error: unknown column 'nmae'; did you mean 'name'" -- "$FQL" e2.fql
printf 'from csv("t.csv") | write csv("o.csv");\nfrom csv("t.csv") | select nope;\n' > e3.fql
"$FQL" e3.fql >/dev/null 2>&1
[[ ! -e o.csv ]] && ok nothing-runs-before-type-error || bad nothing-runs-before-type-error "o.csv was written"
expect runtime-exit-1 1 'error: .*abc' -- "$FQL" -c 'values [{x: "abc"}] | select cast(x as int)'
expect parse-exit-2 2 'error' -- "$FQL" -c 'from | |'
expect incomplete 2 'unexpected end of input' -- "$FQL" -c 'from csv("t.csv") | where'
printf 'a,b\n1,2\n3,"oops\n' > broken.csv
expect data-error-location 1 'broken.csv:3:2' -- "$FQL" -c 'from csv("broken.csv")'
expect write-then-read 0 '' -- "$FQL" -c 'from csv("t.csv") | write jsonl("out/t.jsonl")'
[[ -f out/t.jsonl && $(wc -l < out/t.jsonl) == 3 ]] && ok write-creates-dirs || bad write-creates-dirs "$(ls -R)"
expect write-error-mode 1 'already exists' -- "$FQL" -c 'from csv("t.csv") | write jsonl("out/t.jsonl")'

# --schema-of prints the JSON Schema a type becomes
printf 'type Triage = { is_technical: bool, needs_escalation: bool "true when a human must look", level: enum("low", "high"), tags: [string] };\n' > ty.fql
out=$("$FQL" --schema-of Triage ty.fql 2>&1)
if grep -q '"additionalProperties": false' <<<"$out" && grep -q '"true when a human must look"' <<<"$out" \
   && grep -q '"enum"' <<<"$out" && grep -q '"required"' <<<"$out"; then ok schema-of; else bad schema-of "$out"; fi
expect schema-of-unknown 1 "declares no type 'Nope'" -- "$FQL" --schema-of Nope ty.fql

# the golden runner's own behaviour: a failing record is reported with its place, and the closing line
printf 'query\nvalues [{a: 1}]\n----\n2\n' > g.test
out=$("$FQL" --test g.test 2>&1); rc=$?
[[ $rc == 1 ]] && grep -q 'Test #1 at g.test:1' <<<"$out" && grep -q '^0 passed, 1 failed$' <<<"$out" && ok golden-failure || bad golden-failure "$out"
"$FQL" --test --rewrite g.test >/dev/null 2>&1
out=$("$FQL" --test g.test 2>&1)
grep -q '^1 passed, 0 failed$' <<<"$out" && ok golden-rewrite || bad golden-rewrite "$out"

# nothing crashes on odd input
for src in '' ';' ';;;' '"' '`' '/*' '(((((' 'from' 'values [' '{' '-- only a comment' 'select' 'from x |' $'\x01'; do
  "$FQL" -c "$src" >/dev/null 2>&1; rc=$?
  (( rc <= 2 )) || { bad "odd-input" "exit $rc on: $src"; continue; }
done
ok odd-inputs

# the shared library exports only the public fql_ API
if command -v nm >/dev/null; then
  extra=$(nm -D --defined-only "$BUILD/libfql.so" | awk '{print $3}' | grep -vE '^(fql_|_init$|_fini$|_edata$|_end$|__bss_start$)' | head -5)
  [[ -z $extra ]] && ok exported-symbols || bad exported-symbols "non-API symbols exported: $extra"
fi

# The shell (src/repl.c) is a client of the library: it includes fql.h, shell.h (the one internal
# header made for it), its own repl.h and system or readline headers, and it needs from the
# library only public fql_ functions and the shell_ ones of src/shell.c (never a struct's fields).
bad_inc=$(grep -E '^[[:space:]]*#[[:space:]]*include' "$ROOT/src/repl.c" | while read -r line; do
  h=$(sed -E 's/.*include[[:space:]]*[<"]([^>"]+)[>"].*/\1/' <<<"$line")
  case $line in *'"'*) [[ $h == fql.h || $h == shell.h || $h == repl.h ]] || echo "$h";;
    *) [[ $h != fql.h && ( -e $ROOT/src/$h || -e $ROOT/include/$h || -e $BUILD/gen/$h ) ]] && echo "$h";; esac
done)
[[ -z $bad_inc ]] && ok repl-includes || bad repl-includes "src/repl.c includes internal headers: $(echo $bad_inc)"
# what the compiler read (make's dependency file, so headers included by headers count too)
if [[ -f $BUILD/obj/repl.d ]]; then
  bad_dep=$(cd "$ROOT" && sed -e 's/\\$//' -e 's/:$//' "$BUILD/obj/repl.d" | tr ' ' '\n' | grep -v '^$' | tail -n +2 | sort -u |
    while read -r f; do
      case $f in /*) [[ $f == "$ROOT"/* ]] && f=${f#"$ROOT"/} || continue;; esac
      [[ $f == src/repl.c || $f == src/repl.h || $f == src/shell.h || $f == include/fql.h ]] || echo "$f"
    done)
  [[ -z $bad_dep ]] && ok repl-header-closure || bad repl-header-closure "compiling src/repl.c reads: $(echo $bad_dep)"
else bad repl-header-closure "no $BUILD/obj/repl.d"; fi
if command -v nm >/dev/null && [[ -f $BUILD/obj/repl.o && -f $BUILD/obj/shell.o ]]; then
  nm -g --defined-only "$BUILD/libfql.a" 2>/dev/null | awk 'NF == 3 {print $3}' | sort -u > lib.syms
  nm -D --defined-only "$BUILD/libfql.so" | awk '$3 ~ /^fql_/ {print $3}' | sort -u > api.syms
  nm -g --defined-only "$BUILD/obj/shell.o" | awk 'NF == 3 && $3 ~ /^shell_/ {print $3}' | sort -u > shell.syms
  # a symbol repl.o needs that the library defines must be public API or shell.c's
  internal=$(nm -u "$BUILD/obj/repl.o" | awk '{print $2}' | sort -u | comm -12 - lib.syms | comm -23 - api.syms | comm -23 - shell.syms)
  [[ -z $internal ]] && ok repl-symbols || bad repl-symbols "src/repl.c uses library internals: $(echo $internal | head -c 400)"
else bad repl-symbols "nm, $BUILD/obj/repl.o or $BUILD/obj/shell.o missing"; fi

# out of memory at any allocation is reported, never a crash (FQL_FAIL_ALLOC=N fails the Nth)
oom_ok=1
for n in 1 2 3 5 8 13 21 34 55 89 144; do
  out=$(FQL_FAIL_ALLOC=$n ASAN_OPTIONS=detect_leaks=0 "$FQL" -c 'values [{a: 1, b: "x"}] | derive c = a + 1 | select b, c' 2>&1); rc=$?
  if (( rc != 0 )) && ! grep -q 'out of memory' <<<"$out"; then oom_ok=0; bad out-of-memory "N=$n exit $rc: $out"; break; fi
  (( rc > 1 )) && { oom_ok=0; bad out-of-memory "N=$n exit $rc"; break; }
done
(( oom_ok )) && ok out-of-memory

# the examples run
expect quickstart 0 'rows' -- bash -c "cd '$ROOT' && '$FQL' examples/quickstart.fql"
echo "$pass passed, $fail failed"
(( fail == 0 ))
