#!/usr/bin/env bash
# token_count() against the npm package tiktoken (the one whose ranks are compiled in), on a varied
# corpus: code, many scripts, emoji, combining marks, whitespace runs, numbers, long words, "".
# Every text is counted with both encodings; each count is one check. Then the speed on 20 MB of
# text (printed, not checked: the machine is shared) and a 2 MB text's count against tiktoken's.
# usage: tests/runtime/tokenizer.sh BUILD_DIR
set -u
BUILD=$(cd "${1:-build}" && pwd)
FQL="$BUILD/fql"
HERE=$(cd "$(dirname "$0")" && pwd)
export NODE_PATH="$BUILD/npm/node_modules"
[[ -f $NODE_PATH/tiktoken/package.json ]] || { echo "tiktoken is not installed in $NODE_PATH (make builds it)"; echo "0 passed, 1 failed"; exit 1; }
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
cd "$dir"

node "$HERE/tokenizer_ref.js" corpus . || { echo "0 passed, 1 failed"; exit 1; }
"$FQL" --format jsonl -c 'jsonl("corpus.jsonl") | select id, token_count(text) as o200k, token_count(text, encoding: "cl100k_base") as cl100k' > fql.jsonl 2> fql.err ||
  { cat fql.err; echo "0 passed, 1 failed"; exit 1; }
out=$(node "$HERE/tokenizer_ref.js" compare . fql.jsonl)
printf '%s\n' "$out" | grep -v '^[0-9]* passed'
pass=$(printf '%s\n' "$out" | sed -n 's/^\([0-9]*\) passed, \([0-9]*\) failed$/\1/p')
fail=$(printf '%s\n' "$out" | sed -n 's/^\([0-9]*\) passed, \([0-9]*\) failed$/\2/p')
[[ -n $pass && -n $fail ]] || { echo "the comparison gave no result"; pass=0 fail=1; }

# Speed: this repository's docs and C sources repeated to 10 MB, read with length() and with
# token_count(); the difference is the tokenizer's time.
src=("$HERE"/../../docs/*.md "$HERE"/../../src/*.c)
node "$HERE/tokenizer_ref.js" big big.jsonl 10 "${src[@]}"
now() { date +%s.%N; }
t0=$(now); "$FQL" --format csv -c 'jsonl("big.jsonl") | select length(text) as n' > /dev/null
t1=$(now); tokens=$("$FQL" --format csv -c 'jsonl("big.jsonl") | select token_count(text) as n' | tail -n 1)
t2=$(now)
awk -v a="$t0" -v b="$t1" -v c="$t2" -v n="$tokens" 'BEGIN { t = (c - b) - (b - a);
  printf "speed: %d tokens of source and docs in %.2f s of tokenizing: %.1f M tokens/s (reading took %.2f s)\n", n, t, n / t / 1e6, b - a }'
node "$HERE/tokenizer_ref.js" big mid.jsonl 2 "${src[@]}"
want=$(node "$HERE/tokenizer_ref.js" count mid.jsonl)
have=$("$FQL" --format csv -c 'jsonl("mid.jsonl") | select token_count(text) as n' | tail -n 1)
if [[ $have == "$want" && -n $want ]]; then pass=$((pass + 1)); echo "ok 2 MB of source and docs: $have tokens"
else fail=$((fail + 1)); echo "FAIL 2 MB of source and docs: fql $have, tiktoken $want"; fi
echo "$pass passed, $fail failed"
(( fail == 0 ))
