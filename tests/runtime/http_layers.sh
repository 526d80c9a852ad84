#!/usr/bin/env bash
# The lower layers hold their order (architecture.md): each file below calls only files after it,
# never one before it, measured on the library's objects with nm (file A calls B when A's object
# uses a symbol B's object defines):
#   io:        io/reader → io/remote → io/remote_hf, io/remote_s3 → io/remote_http
#   providers: provider → provider_{openai,anthropic,gemini,cohere} → vertex_auth → provider_wire
# and libcurl is set up in one place: only io/remote_http calls curl_global_init, and no provider
# adapter touches libcurl (the Vertex token exchange lives in vertex_auth.c).
# usage: tests/runtime/http_layers.sh BUILD_DIR
set -u
BUILD=$(cd "${1:-build}" && pwd)
OBJ=$BUILD/obj
pass=0 fail=0
ok()  { pass=$((pass + 1)); echo "ok $1"; }
bad() { fail=$((fail + 1)); echo "FAIL $1: $2"; }

# def[symbol] = the file whose object defines it
declare -A def=()
while read -r sym file; do
  [[ -z ${def[$sym]+x} ]] && def[$sym]=$file
done < <(cd "$OBJ" && for o in $(find . -name '*.o' | sed 's|^\./||'); do
           nm --defined-only -g "$o" 2>/dev/null | awk -v f="${o%.o}" 'NF >= 3 { print $3, f }'; done)

# check_order NAME FILE... (files ranked top to bottom; "a,b" = the same rank, which must not call each other)
check_order() {
  local name=$1; shift
  local -A rank=()
  local r=0 group f
  for group in "$@"; do
    for f in ${group//,/ }; do rank[$f]=$r; done
    r=$((r + 1))
  done
  local up="" missing=""
  for f in "${!rank[@]}"; do
    [[ -f $OBJ/$f.o ]] || { missing+="$f.o "; continue; }
    while read -r sym; do
      local to=${def[$sym]:-}
      [[ -n $to && $to != "$f" && -n ${rank[$to]+x} ]] || continue
      (( ${rank[$to]} > ${rank[$f]} )) || up+="$f -> $to ($sym); "
    done < <(nm -u "$OBJ/$f.o" | awk '{ print $NF }')
  done
  [[ -z $up && -z $missing ]] && ok "$name" || bad "$name" "${missing:+no object: $missing; }${up:+calls up or sideways: $up}"
}

check_order io-layers io/reader io/remote io/remote_hf,io/remote_s3 io/remote_http
check_order provider-layers provider provider_openai,provider_anthropic,provider_gemini,provider_cohere vertex_auth provider_wire

users=$(cd "$OBJ" && for o in $(find . -name '*.o' | sed 's|^\./||'); do nm -u "$o" | grep -qw curl_global_init && echo "${o%.o}"; done)
[[ $users == io/remote_http ]] && ok one-curl-global-init || bad one-curl-global-init "curl_global_init used by: $(echo $users)"

curly=""
for f in provider provider_openai provider_anthropic provider_gemini provider_cohere provider_wire; do
  [[ -f $OBJ/$f.o ]] && nm -u "$OBJ/$f.o" | grep -q ' curl_' && curly+="$f "
done
[[ -z $curly ]] && ok adapters-do-no-http || bad adapters-do-no-http "libcurl used by: $curly"

echo "$pass passed, $fail failed"
(( fail == 0 ))
