#!/usr/bin/env bash
# The one-way rule of the architecture (docs/architecture.md), checked on the library's objects:
#  - the file graph (A -> B when A's object uses a symbol B's object defines, read with nm) has no
#    cycle: every strongly connected set of two or more files is printed and fails the check;
#  - no library object calls exit() (the library never ends its host; see fql_set_panic).
# usage: tests/layers.sh BUILD_DIR    (prints "N passed, M failed" like the other suites)
set -u
BUILD=$(cd "${1:-build}" 2>/dev/null && pwd) || { echo "no build directory ${1:-build}"; echo "0 passed, 1 failed"; exit 1; }
cd "$(dirname "$0")/.." || exit 1
OBJ=$BUILD/obj
pass=0 fail=0
ok()  { echo "ok $1"; pass=$((pass + 1)); }
bad() { echo "FAIL $1: $2"; fail=$((fail + 1)); }

# the library's objects: everything in obj/ but the programs (main.c, repl.c), and but objects left
# from a source file that no longer exists (an older build directory)
mapfile -t objs < <(find "$OBJ" -name '*.o' ! -name main.o ! -name repl.o | sort | while read -r o; do
  f=${o#"$OBJ"/}; f=${f%.o}
  [[ -f src/$f.c || $f == lexer || $f == parser || $f == tiktoken_ranks ]] && echo "$o"
done)
if (( ${#objs[@]} < 10 )); then bad objects "only ${#objs[@]} objects under $OBJ (build first)"; echo "$pass passed, $fail failed"; exit 1; fi

# "D file symbol" for each defined global symbol, "U file symbol" for each undefined one
edges=$(for o in "${objs[@]}"; do
  f=${o#"$OBJ"/}; f=${f%.o}
  nm --defined-only -g "$o" | awk -v f="$f" 'NF >= 3 { print "D", f, $3 }'
  nm -u "$o" | awk -v f="$f" 'NF >= 1 { print "U", f, $NF }'
done)

# Tarjan's strongly connected components over the file graph, iteratively (awk has no deep stack).
cycles=$(awk '
  $1 == "D" { if (!($3 in def)) def[$3] = $2; files[$2] = 1; next }
  $1 == "U" { use[++nu] = $2 SUBSEP $3; files[$2] = 1 }
  END {
    for (i = 1; i <= nu; i++) {
      split(use[i], p, SUBSEP); a = p[1]; s = p[2]
      if ((s in def) && def[s] != a && !((a, def[s]) in seen)) {
        seen[a, def[s]] = 1; deg[a]++; adj[a, deg[a]] = def[s]
      }
    }
    n = 0
    for (f in files) order[++n] = f
    idx = 0; top = 0
    for (k = 1; k <= n; k++) {
      v0 = order[k]
      if (v0 in ix) continue
      cs = 1; cv[1] = v0; ci[1] = 0
      ix[v0] = low[v0] = idx++; stack[++top] = v0; on[v0] = 1
      while (cs > 0) {
        v = cv[cs]
        if (ci[cs] < deg[v]) {
          w = adj[v, ++ci[cs]]
          if (!(w in ix)) {
            ix[w] = low[w] = idx++; stack[++top] = w; on[w] = 1
            cv[++cs] = w; ci[cs] = 0
          } else if (on[w] && ix[w] < low[v]) low[v] = ix[w]
        } else {
          if (low[v] == ix[v]) {
            comp = ""; m = 0
            do { w = stack[top--]; on[w] = 0; comp = comp " " w; m++ } while (w != v)
            if (m > 1) print m ":" comp
          }
          cs--
          if (cs > 0 && low[v] < low[cv[cs]]) low[cv[cs]] = low[v]
        }
      }
    }
  }' <<<"$edges")
if [[ -z $cycles ]]; then ok "no cycle between the library's ${#objs[@]} files"
else
  while IFS= read -r c; do
    n=${c%%:*}; members=${c#*: }
    bad "cycle of $n files" "$members (find the calls up with nm -u; a lower file reaches up only through a hook it is handed)"
  done <<<"$cycles"
fi

exits=$(awk '$1 == "U" && ($3 == "exit" || $3 == "_exit" || $3 == "quick_exit") { print $2 }' <<<"$edges" | sort -u | tr '\n' ' ')
[[ -z $exits ]] && ok "no library file calls exit()" || bad "exit() in the library" "$exits(use fql_set_panic's path or return an error)"

echo "$pass passed, $fail failed"
(( fail == 0 ))
