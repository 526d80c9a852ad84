#!/usr/bin/env bash
# Documents end to end: docs() over a real folder, pdf_metadata() and parse_pdf() over PDFs that
# $BUILD/mkpdf draws (tests/docs/mkpdf.c), and parse_pdf(describe_images: true) against fql-sim.
# usage: tests/runtime/docs.sh BUILD_DIR
set -u
BUILD=$(cd "${1:-build}" && pwd)
FQL="$BUILD/fql"
SIM="$BUILD/fql-sim"
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
dir=$(mktemp -d)
simpid=
cleanup() { [[ -n $simpid ]] && kill -TERM "$simpid" 2>/dev/null && wait "$simpid" 2>/dev/null; rm -rf "$dir"; }
trap cleanup EXIT
cd "$dir"
pass=0 fail=0
ok()  { pass=$((pass + 1)); echo "ok $1"; }
bad() { fail=$((fail + 1)); echo "FAIL $1: $2"; }
check() {  # name, expected, actual
  if [[ "$2" == "$3" ]]; then ok "$1"; else bad "$1" "expected [$2], got [$3]"; fi
}
export FQL_DB="$dir/state.db"
# under the sanitizers, reports go to files that fail the run (some outputs here are not compared)
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}log_path=$dir/sanitizer"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:+$UBSAN_OPTIONS:}log_path=$dir/sanitizer"
md_of() {  # the md column of a one-row jsonl result on stdin
  node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{for(const l of s.split("\n"))if(l)process.stdout.write(String(JSON.parse(l).md)+"\n")})'
}

"$BUILD/mkpdf" pdfs 300 || { echo "mkpdf failed"; echo "0 passed, 1 failed"; exit 1; }

# ---- docs() ----
mkdir -p notes/a/b notes/c
printf '# One\nbody\n' > notes/one.md
printf '## Two\n' > notes/a/two.md
printf 'three\n' > notes/a/b/three.md
printf 'not markdown\n' > notes/c/skip.txt
printf 'bad \xc3\x28 utf8\n' > notes/c/bad.md
touch -d '2024-02-03 04:05:06 UTC' notes/one.md
out=$("$FQL" -c 'from docs("notes/**/*.md") | select file_path, title, size, modified_at, error' --format csv 2>&1)
check "docs: ** recursion, title, size, modified_at, error row" "file_path,title,size,modified_at,error
notes/a/b/three.md,,6,$(date -u -d "@$(stat -c %Y notes/a/b/three.md)" '+%Y-%m-%d %H:%M:%S'),
notes/a/two.md,Two,7,$(date -u -d "@$(stat -c %Y notes/a/two.md)" '+%Y-%m-%d %H:%M:%S'),
notes/c/bad.md,,$(stat -c %s notes/c/bad.md),$(date -u -d "@$(stat -c %Y notes/c/bad.md)" '+%Y-%m-%d %H:%M:%S'),invalid UTF-8 at byte 5
notes/one.md,One,$(stat -c %s notes/one.md),2024-02-03 04:05:06," "$(printf '%s\n' "$out" | sed -E 's/(:[0-9]{2})\.[0-9]+,/\1,/')"

# a file without read permission is a row with an error (as root, read it as another user)
chmod 755 "$dir"
printf 'secret\n' > notes/locked.md
chmod 000 notes/locked.md
q='from docs("notes/*.md") | select file_path, content, error'
if [[ $(id -u) == 0 ]]; then
  out=$(setpriv --reuid=65534 --regid=65534 --clear-groups env FQL_DB=:memory: "$FQL" --db :memory: -c "$q" --format csv 2>&1)
else
  out=$("$FQL" --db :memory: -c "$q" --format csv 2>&1)
fi
check "docs: unreadable file is an error row" "file_path,content,error
notes/locked.md,,Permission denied
notes/one.md,\"# One
body
\"," "$out"
rm -f notes/locked.md

# many files stream in batches (256 files a batch)
mkdir many
for i in $(seq 1 600); do printf 'file %d\n' "$i" > "many/f$i.txt"; done
out=$("$FQL" -c 'from docs("many/*.txt") | agg n = count(*), bytes = sum(size), distinct_contents = count(distinct content)' --format csv 2>&1)
check "docs: 600 files in several batches" "n,bytes,distinct_contents
600,$(cat many/*.txt | wc -c),600" "$out"

# ---- pdf_metadata() ----
out=$("$FQL" -c 'from pdf_metadata("pdfs/*.pdf") | select file_path, title, author, creation_date, mod_date, page_count, has_forms, has_signature_fields, image_count, is_encrypted, error' --format csv 2>&1)
check "pdf_metadata: every field, error rows" "file_path,title,author,creation_date,mod_date,page_count,has_forms,has_signature_fields,image_count,is_encrypted,error
pdfs/broken.pdf,,,,,,,,,,not a readable PDF: PDF document is damaged
pdfs/encrypted.pdf,,,,,,,,,true,the PDF is encrypted and needs a password
pdfs/form.pdf,Application form,Form Office,2023-01-02 03:04:05,,1,true,true,0,false,
pdfs/notpdf.pdf,,,,,,,,,,not a readable PDF: PDF document is damaged
pdfs/plain.pdf,,,$(date -u -d "@$(stat -c %Y pdfs/plain.pdf)" '+%Y-%m-%d %H:%M:%S'),,1,false,false,0,false,
pdfs/report.pdf,Quarterly Report,Ada Tester,2024-03-05 10:20:30,2024-04-01 08:00:00,3,false,false,3,false," "$out"
out=$("$FQL" -c 'from pdf_metadata("pdfs/**/*.pdf", exclude: "many/") | select file_path, size' --format csv 2>&1)
check "pdf_metadata: exclude, size" "file_path,size
pdfs/broken.pdf,$(stat -c %s pdfs/broken.pdf)
pdfs/encrypted.pdf,$(stat -c %s pdfs/encrypted.pdf)
pdfs/form.pdf,$(stat -c %s pdfs/form.pdf)
pdfs/notpdf.pdf,$(stat -c %s pdfs/notpdf.pdf)
pdfs/plain.pdf,$(stat -c %s pdfs/plain.pdf)
pdfs/report.pdf,$(stat -c %s pdfs/report.pdf)" "$out"

# rate: filtering thousands of PDFs by metadata must be cheap
t0=$(date +%s.%N)
out=$("$FQL" -c 'from pdf_metadata("pdfs/many/*.pdf") | where page_count == 1 and error is null | agg n = count(*)' --format csv 2>&1)
t1=$(date +%s.%N)
rate=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.0f", 300 / (b - a) }')
echo "pdf_metadata: $rate PDFs/s (300 one-page PDFs)"
check "pdf_metadata: 300 PDFs" "n
300" "$out"
if (( rate >= 30 )); then ok "pdf_metadata: at least 30 PDFs/s"; else bad "pdf_metadata rate" "$rate PDFs/s"; fi

# ---- parse_pdf() without a model: markdown, no requests ----
"$FQL" -c 'from pdf_metadata("pdfs/report.pdf") | select parse_pdf(file_path) as md' --format jsonl 2>&1 | md_of > report.md
if diff -u "$ROOT/tests/docs/report.md" report.md > report.diff; then ok "parse_pdf: headings, lists, table, images, pages"
else bad "parse_pdf markdown" "$(cat report.diff)"; fi

out=$("$FQL" -c 'from pdf_metadata("pdfs/report.pdf") | select parse_pdf(file_path, page_separator: "<<{page}/{page}>>") as md' --format jsonl 2>&1 | md_of | grep -c '^<<[0-9]/[0-9]>>$')
check "parse_pdf: page_separator with {page}" "2" "$out"
out=$("$FQL" -c 'from pdf_metadata("pdfs/report.pdf") | select parse_pdf(file_path, page_separator: "") as md' --format jsonl 2>&1 | md_of | grep -c 'PAGE')
check "parse_pdf: empty separator" "0" "$out"

out=$("$FQL" -c 'from pdf_metadata("pdfs/*.pdf") | select file_path, parse_pdf(file_path) is null as failed, length(parse_pdf(file_path)) > 0 as has_text;
from system.lm_errors | select kind, message' --format csv 2>&1)
check "parse_pdf: unreadable PDFs are null with an lm_errors row" "file_path,failed,has_text
pdfs/broken.pdf,true,
pdfs/encrypted.pdf,true,
pdfs/form.pdf,false,true
pdfs/notpdf.pdf,true,
pdfs/plain.pdf,false,true
pdfs/report.pdf,false,true
kind,message
unreadable_pdf,pdfs/broken.pdf: not a readable PDF: PDF document is damaged
unreadable_pdf,pdfs/encrypted.pdf: the PDF is encrypted and needs a password
unreadable_pdf,pdfs/notpdf.pdf: not a readable PDF: PDF document is damaged
unreadable_pdf,pdfs/broken.pdf: not a readable PDF: PDF document is damaged
unreadable_pdf,pdfs/encrypted.pdf: the PDF is encrypted and needs a password
unreadable_pdf,pdfs/notpdf.pdf: not a readable PDF: PDF document is damaged" "$out"

# ---- parse_pdf(describe_images: true) against the simulator ----
cat > sim.json <<'J'
{"default": {"latency_ms": 5},
 "models": {"refusing-model": {"faults": {"refusal": 1.0}}}}
J
"$SIM" --port 0 --config sim.json > sim.out 2> sim.err & simpid=$!
for _ in $(seq 100); do [[ -s sim.out ]] && break; sleep 0.05; done
port=$(sed -n '1s/[^0-9]//gp' sim.out)
[[ -n $port ]] || { echo "the simulator did not start: $(cat sim.err)"; echo "$pass passed, $((fail + 1)) failed"; exit 1; }
SIMURL="http://127.0.0.1:$port"
KEY="sk-test-SECRET-7373"
export OPENAI_API_KEY=$KEY OPENAI_BASE_URL="$SIMURL/v1"
export ANTHROPIC_API_KEY="$KEY-anthropic" ANTHROPIC_BASE_URL="$SIMURL"
export GEMINI_API_KEY="$KEY-gemini" GEMINI_BASE_URL="$SIMURL"
requests() {  # requests the sim answered (for one model, or all)
  curl -s "$SIMURL/sim/stats" | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{const j=JSON.parse(s);const m=process.argv[1];console.log(m?((j.models[m]||{}).requests||0):j.requests)})' "${1:-}"
}

out=$("$FQL" -c 'model fast = openai("gpt-4o-mini"); from pdf_metadata("pdfs/report.pdf") | select parse_pdf(file_path) as md' --format jsonl 2>&1 | md_of)
check "parse_pdf without describe_images sends nothing" "0" "$(requests)"
check "parse_pdf without describe_images: same markdown" "$(cat "$ROOT/tests/docs/report.md")" "$out"

# explain cost: requests only for the images (report.pdf: 3 images in one request), nothing sent
out=$("$FQL" -c 'model fast = openai("gpt-4o-mini"); explain cost from pdf_metadata("pdfs/*.pdf") | derive md = parse_pdf(file_path), d = parse_pdf(file_path, describe_images: true) | select md, d' 2>&1 | grep -c 'for ~1 requests')
check "explain cost: parse_pdf counts image requests only" "1 0" "$out $(requests)"

# the expected markdown: each placeholder gets the simulator's description of the PNG it was sent
described() {  # provider("model")
  "$FQL" -c "model v = $1; from pdf_metadata(\"pdfs/report.pdf\") | select parse_pdf(file_path, describe_images: true, model: v) as md" --format jsonl 2> err.txt | md_of
}
o_md=$(described 'openai("gpt-4o-mini")')
a_md=$(described 'anthropic("claude-haiku-4-5")')
g_md=$(described 'gemini("gemini-2.5-flash")')
check "describe_images: one request each (openai, anthropic, gemini)" "1 1 1" "$(requests gpt-4o-mini) $(requests claude-haiku-4-5) $(requests gemini-2.5-flash)"
n=$(printf '%s\n' "$o_md" | grep -cE '^\[Image [12] on page [12]: a simulated picture of [0-9]+ bytes \(image/png, hash [0-9a-f]{8}\)\.\]$')
check "describe_images: three descriptions in place (openai)" "3" "$n"
check "describe_images: same image bytes in every provider's format" "$o_md" "$a_md"
check "describe_images: gemini inlineData too" "$o_md" "$g_md"
stripped=$(printf '%s\n' "$o_md" | sed -E 's/^\[(Image [0-9]+ on page [0-9]+): .*\]$/[\1]/')
check "describe_images: the rest of the markdown unchanged" "$(cat "$ROOT/tests/docs/report.md")" "$stripped"
grep -q "$KEY" err.txt && bad "key in output" "$(cat err.txt)" || ok "the key is never printed"

before=$(requests)
again=$(described 'openai("gpt-4o-mini")')
check "describe_images: cached on the second run" "$before" "$(requests)"
check "describe_images: cached answer, same markdown" "$o_md" "$again"

# a small context window: the images of the document no longer share one request
out=$("$FQL" -c 'model tiny = openai("gpt-4o-mini", context_window: 300); from pdf_metadata("pdfs/report.pdf") | select parse_pdf(file_path, describe_images: true, model: tiny, instructions: "short") as md' --format jsonl 2> err.txt | md_of | grep -c 'simulated picture')
check "describe_images: pages split across requests by the context window" "3 $((before + 3))" "$out $(requests)"

# a failed request keeps the page text and the bare placeholders, and is recorded
out=$("$FQL" -c 'model r = openai("refusing-model"); from pdf_metadata("pdfs/report.pdf") | select parse_pdf(file_path, describe_images: true, model: r) as md;
from system.lm_errors | select model, kind' --format jsonl 2> err.txt)
check "describe_images: refusal leaves placeholders" "$(cat "$ROOT/tests/docs/report.md")" "$(printf '%s\n' "$out" | head -1 | md_of)"
check "describe_images: refusal recorded in lm_errors" '{"model": "r", "kind": "refusal"}' "$(printf '%s\n' "$out" | tail -1)"

out=$("$FQL" -c 'from pdf_metadata("pdfs/report.pdf") | select parse_pdf(file_path, describe_images: true)' 2>&1)
case $out in *"parse_pdf() calls a model, but no model is declared"*) ok "describe_images needs a model";; *) bad "describe_images without model" "$out";; esac

if compgen -G "$dir/sanitizer.*" > /dev/null; then bad "sanitizer reports" "$(cat "$dir"/sanitizer.* | head -40)"; fi

echo "$pass passed, $fail failed"
(( fail == 0 ))
