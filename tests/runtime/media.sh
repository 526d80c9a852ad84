#!/usr/bin/env bash
# Images and audio in the semantic operators (issue 20), end to end against fql-sim in facts mode:
# generated PNG and WAV files whose facts are keyed by the SHA-256 of their bytes, so an answer is
# right only when the file's content reached the model. classify/predicate/extract/map over
# image()/audio() values and docs(), {{col}} of a media column in templates and semantic joins,
# OpenAI/Anthropic/Gemini wire forms, estimates in explain cost and the budget gate, downscaling,
# refusals before anything is sent, unreadable files as row errors, cache keys from the content.
# usage: tests/runtime/media.sh BUILD_DIR
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/../lib/setup.sh"
MK="$HERE/mkmedia.mjs"

# 8 animals: 4 cats (warm colours), 4 dogs (cool ones); cute: the first two of each
mkdir pets sounds
colors=(cc6633 dd7722 ee8844 bb5511 3366cc 2277dd 4488ee 1155bb)
texts=""
for i in "${!colors[@]}"; do
  animal=$([[ $i -lt 4 ]] && echo cat || echo dog)
  cute=$([[ $((i % 4)) -lt 2 ]] && echo true || echo false)
  node "$MK" png "pets/p$i.png" 40 30 "${colors[$i]}"
  h=$(sha256sum "pets/p$i.png" | cut -c1-64)
  texts+="\"sha256:$h\": {\"animal\": \"$animal\", \"cute\": $cute, \"legs\": 4},"
  echo "p$i.png,$animal,$cute" >> truth.csv
done
node "$MK" wav sounds/bark.wav 2.5 300
node "$MK" wav sounds/meow.wav 1.5 900
hb=$(sha256sum sounds/bark.wav | cut -c1-64) hm=$(sha256sum sounds/meow.wav | cut -c1-64)
texts+="\"sha256:$hb\": {\"animal\": \"dog\"}, \"sha256:$hm\": {\"animal\": \"cat\"}"
echo "{\"texts\": {$texts}}" > facts.json
node "$MK" png big.png 3000 1000 22aa22
node "$MK" png small.png 64 48 22aa22
echo '{"facts": "facts.json"}' > sim.json
source "$HERE/../lib/sim.sh"
sort truth.csv > truth.sorted

# 1. classify and predicate over docs() images give the facts, with each provider's wire form
for decl in 'openai("gpt-4o-mini")' 'anthropic("claude-haiku-4-5")' 'gemini("gemini-2.5-flash")'; do
  "$FQL" --no-cache --format csv -c "model m = $decl;
    from docs(\"pets/*.png\") | select replace(file_path, \"pets/\", \"\") as f,
      classify(content, [\"cat\", \"dog\"], model: m) as a, predicate(\"Is the animal in {{content}} cute?\", model: m) as c" \
    > q.csv 2> q.err
  tail -n +2 q.csv | sort > q.sorted
  if cmp -s q.sorted truth.sorted; then ok "$decl: classify and predicate over 8 images match the facts of their bytes"
  else bad "facts $decl" "$(diff q.sorted truth.sorted | head -4) $(head -c 300 q.err)"; fi
done

# 1b. the Batch APIs carry the same parts (JSONL lines, message batches, inline Gemini requests)
for decl in 'openai("gpt-4o-mini", batch: true)' 'anthropic("claude-haiku-4-5", batch: true)' 'gemini("gemini-2.5-flash", batch: true)'; do
  "$FQL" --no-cache --format csv -c "model m = $decl;
    from docs(\"pets/p[0-7].png\") | select replace(file_path, \"pets/\", \"\") as f, classify(content, [\"cat\", \"dog\"], model: m) as a" > b.csv 2> b.err
  if [[ $(tail -n +2 b.csv | sort) == "$(cut -d, -f1,2 truth.sorted)" ]]; then ok "$decl: images through the Batch API follow the facts"
  else bad "batch $decl" "$(head -c 300 b.csv) $(tail -c 300 b.err)"; fi
done

# 2. extract and map take an image value; map's text answer shows the bytes that were sent
out=$("$FQL" --no-cache --format csv -c 'model m = openai("gpt-4o"); type A = {animal: string, legs: int};
  from values [{p: "pets/p5.png"}] | derive img = image(p) | select extract(img, A, model: m).animal as animal, map("Describe {{img}}", model: m) as d' 2>&1)
size=$(stat -c %s pets/p5.png)
[[ $out == *'dog,"Image 1: a simulated picture of '"$size"' bytes (image/png'* ]] \
  && ok "extract(image) follows the facts; map's {{img}} sends the image's $size bytes" || bad extract-map "$out"

# 3. audio: Gemini and an audio model of OpenAI take WAV; answers follow the facts
for decl in 'gemini("gemini-2.5-flash")' 'openai("gpt-4o-audio-preview")'; do
  out=$("$FQL" --no-cache --format csv -c "model m = $decl;
    from docs(\"sounds/*.wav\") | select replace(file_path, \"sounds/\", \"\") as f, classify(content, [\"cat\", \"dog\"], model: m) as a" 2>&1)
  [[ $out == *'bark.wav,dog'* && $out == *'meow.wav,cat'* ]] && ok "$decl: classify over audio follows the facts" || bad "audio $decl" "$out"
done

# 4. models that cannot take the medium: an error before any request, naming the model
before=$(curl -s "$SIMURL/sim/stats" | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{let n=0;for(const m of Object.values(JSON.parse(s).models||{}))n+=m.requests||0;console.log(n)})')
refuse() {  # refuse NAME SCRIPT WANT
  local o rc
  o=$("$FQL" --no-cache -c "$2" 2>&1); rc=$?
  [[ $rc != 0 && $o == *"$3"* ]] && ok "refused: $1" || bad "refuse $1" "rc=$rc $o"
}
refuse "audio to Anthropic" 'model claude = anthropic("claude-haiku-4-5"); from docs("sounds/*.wav") | select classify(content, ["cat", "dog"], model: claude)' \
  "model 'claude' (anthropic \"claude-haiku-4-5\") cannot take audio: Anthropic's Messages API has no audio input"
refuse "audio to gpt-4o-mini" 'model mini = openai("gpt-4o-mini"); from values [{p: "sounds/bark.wav"}] | derive a = audio(p) | select predicate("Is {{a}} a dog?", model: mini)' \
  "model 'mini' (openai \"gpt-4o-mini\") cannot take audio"
refuse "images to a model declared vision: false" 'model local = openai("my-local-model", vision: false); from docs("pets/*.png") | select classify(content, ["cat", "dog"], model: local)' \
  "model 'local' (openai \"my-local-model\") cannot take images"
refuse "images to an audio-only model" 'model au = openai("gpt-4o-audio-preview"); from docs("pets/*.png") | select classify(content, ["cat", "dog"], model: au)' \
  "model 'au' (openai \"gpt-4o-audio-preview\") cannot take images"
refuse "audio with an Anthropic fallback" 'model claude = anthropic("claude-haiku-4-5"); model flash = gemini("gemini-2.5-flash", fallback: ["claude"]); from docs("sounds/*.wav") | select classify(content, ["cat", "dog"], model: flash)' \
  "classify() is given audio, and 'flash' falls back to 'claude': model 'claude' (anthropic \"claude-haiku-4-5\") cannot take audio"
refuse "audio: true on Anthropic" 'model c = anthropic("claude-haiku-4-5", audio: true); from values [{x: 1}] | select x' \
  "audio: true needs a provider with audio input"
after=$(curl -s "$SIMURL/sim/stats" | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{let n=0;for(const m of Object.values(JSON.parse(s).models||{}))n+=m.requests||0;console.log(n)})')
[[ $before == "$after" ]] && ok "nothing was sent for the refused statements" || bad refused-sent "$before -> $after requests"

# 5. estimates before sending: each provider's image rule (3000x1000 vs 64x48: the same text), audio per second
est() {  # est DECL FILE FN: the input tokens explain cost estimates
  "$FQL" -c "model m = $1; explain cost from values [{p: \"$2\"}] | select classify($3(p), [\"cat\", \"dog\"], model: m)" 2>&1 \
    | sed -n 's/.*requests, ~\([0-9]*\) input.*/\1/p'
}
check_est() {  # check_est NAME DECL WANT_DIFF: big.png minus small.png
  local b s
  b=$(est "$2" big.png image) s=$(est "$2" small.png image)
  [[ -n $b && -n $s && $((b - s)) == "$3" ]] && ok "explain cost: $1 ($b vs $s input tokens)" || bad "estimate $1" "big $b small $s, want a difference of $3"
}
check_est "OpenAI gpt-4o tiles: 3000x1000 fits 2048x682, 8 tiles (85+170x8) vs 1 tile" 'openai("gpt-4o")' 1190
check_est "gpt-4o-mini's own tile rule (2833 + 5667 a tile)" 'openai("gpt-4o-mini")' $((5667 * 7))
check_est "gpt-4.1-mini's 32-px patches x 1.62 (2048x682: 64x22 vs 2x2)" 'openai("gpt-4.1-mini")' $(( (1408 * 162 + 99) / 100 - (4 * 162 + 99) / 100 ))
check_est "Anthropic w*h/750 after the 1568-px cap (1568x523 vs 64x48)" 'anthropic("claude-haiku-4-5")' $(( 1568 * 523 / 750 - 64 * 48 / 750 ))
check_est "Gemini 258 a 768-px tile (4x2 tiles vs one small image)" 'gemini("gemini-2.5-flash")' $(( 258 * 8 - 258 ))
a=$(est 'gemini("gemini-2.5-flash")' sounds/bark.wav audio) b=$(est 'gemini("gemini-2.5-flash")' sounds/meow.wav audio)
[[ -n $a && -n $b && $((a - b)) == 32 ]] && ok "explain cost: Gemini audio at 32 tokens a second (2.5 s vs 1.5 s)" || bad audio-estimate "$a vs $b"

# 6. the budget gate counts the image tokens: refused before sending
out=$("$FQL" --no-cache -c 'set budget = 0.002; model m = openai("gpt-4o"); from values [{p: "big.png"}, {p: "pets/p0.png"}] | select classify(image(p), ["cat", "dog"], model: m)' 2>&1); rc=$?
[[ $rc != 0 && $out == *"over the budget of \$0.002"* ]] && ok "set budget: the images' tokens put the estimate over the budget" || bad budget "rc=$rc $out"

# 7. downscaling: a 2400x1000 PNG of noise (it does not compress: bytes follow pixels) is sent
# scaled down to OpenAI (1843x768) and Anthropic (1568x653), as it is to Gemini (under 3072 px)
node "$MK" noise noise.png 2400 1000
sent() {  # sent DECL: the bytes of noise.png as the model got them
  "$FQL" --no-cache --format csv -c "model m = $1; from values [{p: \"noise.png\"}] | derive i = image(p) | select map(\"Describe {{i}}\", model: m) as d" 2>/dev/null \
    | sed -n 's/.*picture of \([0-9]*\) bytes.*/\1/p'
}
full=$(stat -c %s noise.png) so=$(sent 'openai("gpt-4o")') sa=$(sent 'anthropic("claude-haiku-4-5")') sg=$(sent 'gemini("gemini-2.5-flash")')
# about pixels x 3 bytes: at most 2% over (PNG framing, a filter byte a row), and under by what the
# smoothing of the scaling lets zlib save (measured: 2% to 7%)
near() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a > b * 0.85 && a < b * 1.02) }'; }
if [[ -n $so && -n $sa ]] && near "$so" $((1843 * 768 * 3)) && near "$sa" $((1568 * 653 * 3)) && [[ $sg == "$full" ]]; then
  ok "downscaled before upload: $full bytes -> OpenAI $so (1843x768), Anthropic $sa (1568x653); Gemini $sg (as it is)"
else bad downscale "file $full, openai $so, anthropic $sa, gemini $sg"; fi

# 8. cache keys from the content: a renamed file is answered from the cache; an edited one is not
q='model m = openai("gpt-4o-mini"); from docs("pets/p1.png") | select classify(content, ["cat", "dog"], model: m) as a'
"$FQL" -c "$q" > /dev/null 2>&1
mv pets/p1.png pets/renamed.png
out=$("$FQL" --format csv -c "${q//p1.png/renamed.png}" 2>&1)
[[ $out == *cat* && $out == *"(1 cached / 0 sent"* ]] && ok "cache: the renamed image is answered from the cache (key from its bytes)" || bad cache-rename "$out"
node "$MK" png pets/renamed.png 40 30 3366cc   # now p4's bytes: a dog
out=$("$FQL" --format csv -c "${q//p1.png/renamed.png}" 2>&1)
[[ $out == *dog* ]] && ok "cache: the same path with new bytes is asked again (a dog now)" || bad cache-edit "$out"

# 9. unreadable files are row errors; the other rows are answered
out=$("$FQL" --no-cache --format csv -c 'model m = openai("gpt-4o-mini");
  from values [{p: "missing.png"}, {p: "facts.json"}, {p: "pets/p0.png"}] | select p, classify(image(p), ["cat", "dog"], model: m) as a' 2>&1)
errs=$("$FQL" --format csv -c 'from system.lm_errors | where kind == "media" | select message' 2>&1)
[[ $out == *'missing.png,'$'\n'* && $out == *'pets/p0.png,cat'* && $errs == *'cannot read missing.png'* && $errs == *'facts.json is not an image'* ]] \
  && ok "a missing file and a non-image are null with their error in system.lm_errors" || bad unreadable "$out / $errs"

# 10. a semantic join: images against labels, and images against images
out=$("$FQL" --no-cache --format csv -c 'model m = openai("gpt-4o-mini");
  from docs("pets/p[0-7].png") | semantic join (from values [{label: "cat"}, {label: "dog"}]) as r
    on "Does {{left.content}} show a {{r.label}}?" model m prefilter: off | select replace(file_path, "pets/", "") as f, label' 2> join.err)
want=$(grep -v '^p1' truth.sorted | cut -d, -f1,2 | sort)
got=$(tail -n +2 <<<"$out" | sort)
[[ $got == "$want" ]] && ok "semantic join of images with labels: every image with its animal" || bad join "$(diff <(echo "$got") <(echo "$want") | head -5) $out"

out=$("$FQL" --no-cache -c 'model m = openai("gpt-4o-mini"); embedding model v = openai("text-embedding-3-small");
  from docs("pets/p[0-7].png") | semantic join (from values [{label: "cat"}]) as r on "Does {{left.content}} show a {{r.label}}?" model m prefilter: embed' 2>&1)
out2=$("$FQL" --no-cache --format csv -c 'model m = openai("gpt-4o-mini"); embedding model v = openai("text-embedding-3-small");
  from docs("pets/p[0-7].png") | semantic join (from values [{label: "cat"}, {label: "dog"}]) as r
    on "Does {{left.content}} show a {{r.label}}?" model m | select replace(file_path, "pets/", "") as f, label' 2> join2.err)
[[ $out == *"prefilter: embed compares text embeddings, but the template names an image or audio column"* && $(tail -n +2 <<<"$out2" | sort) == "$want" ]] \
  && ok "semantic join: no text-embedding prefilter over images (refused when asked, off by default)" || bad join-prefilter "$out / $out2"
out=$("$FQL" --no-cache -c 'embedding model v = openai("text-embedding-3-small"); from docs("pets/*.png") | select embed(content)' 2>&1)
[[ $out == *"model 'v' (openai \"text-embedding-3-small\") cannot take images"* ]] && ok "embed(image) is refused at bind time" || bad embed-image "$out"

# 12. remote media: http(s) and s3:// (tests/remote/server.js), read once, answered by their bytes
mkdir -p root/web/img root/hub root/s3/bucket1/img
cp pets/p0.png root/web/img/cat.png
cp pets/p6.png root/s3/bucket1/img/dog.png
S3_KEY=AKIDMEDIA S3_SECRET=media-secret node "$HERE/../remote/server.js" root > ports.json 2> server.err & srvpid=$!
for _ in $(seq 100); do [[ -s ports.json ]] && break; sleep 0.05; done
rport() { node -e 'console.log(JSON.parse(require("fs").readFileSync("ports.json"))[process.argv[1]])' "$1"; }
WEB="http://127.0.0.1:$(rport web)"
out=$(AWS_ENDPOINT_URL="http://127.0.0.1:$(rport s3)" AWS_ACCESS_KEY_ID=AKIDMEDIA AWS_SECRET_ACCESS_KEY=media-secret AWS_REGION=us-east-1 \
  FQL_CACHE_DIR="$PWD/rcache" "$FQL" --no-cache --format csv -c "model m = openai(\"gpt-4o-mini\");
  from values [{u: \"$WEB/img/cat.png\"}, {u: \"s3://bucket1/img/dog.png\"}, {u: \"$WEB/img/cat.png\"}]
  | derive i = image(u) | select classify(i, [\"cat\", \"dog\"], model: m) as a, predicate(\"Is {{i}} cute?\", model: m) as c" 2>&1)
outs3=$(AWS_ENDPOINT_URL="http://127.0.0.1:$(rport s3)" AWS_ACCESS_KEY_ID=AKIDMEDIA AWS_SECRET_ACCESS_KEY=media-secret AWS_REGION=us-east-1 \
  FQL_CACHE_DIR="$PWD/rcache" "$FQL" --no-cache --format csv -c 'model m = openai("gpt-4o-mini");
  from docs("s3://bucket1/img/*.png") | select file_path, content.path as p, classify(content, ["cat", "dog"], model: m) as a' 2>&1)
[[ $outs3 == *'s3://bucket1/img/dog.png,s3://bucket1/img/dog.png,dog'* ]] \
  && ok "docs() over s3://: rows and image values name the URL (not the scan's temporary copy) and are answered" || bad docs-s3 "$outs3"
printf 'not a picture\n' > root/web/img/notes.png
leak=$(FQL_CACHE_DIR="$PWD/rcache" "$FQL" --no-cache -c "model m = openai(\"gpt-4o-mini\");
  from values [{u: \"http://user:PASSWD@127.0.0.1:$(rport web)/img/notes.png?X-Amz-Signature=SECRETSIG\"}] | select classify(image(u), [\"cat\", \"dog\"], model: m)" 2>&1;
  "$FQL" --format csv -c 'from system.lm_errors | where kind == "media" | select message' 2>&1)
gets=$(curl -s "$WEB/_log" | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).filter(e=>String(e.path||e.url).includes("cat.png")).length))')
kill "$srvpid" 2>/dev/null; wait "$srvpid" 2>/dev/null
[[ $out == *$'a,c\ncat,true\ndog,false\ncat,true'* && $gets == 1 ]] \
  && ok "image() of an http URL and an s3:// object: answered from their bytes; the URL fetched once for 4 uses" || bad remote "gets=$gets $out $(head -c 300 server.err)"
[[ $leak == *"img/notes.png?... is not an image"* && $leak != *SECRETSIG* && $leak != *PASSWD* ]] \
  && ok "errors about a URL show it without its password and query" || bad redact "$leak"

out=$("$FQL" --no-cache -c 'model m = openai("gpt-4o-mini"); from docs("pets/*.png") | group by size > 0 as k agg s = reduce("Summarize", content, model: m)' 2>&1)
[[ $out == *"reduce() takes text, not images or audio"* ]] && ok "reduce() over images is refused (it would send their paths as text)" || bad reduce "$out"
out=$("$FQL" --no-cache --format csv -c 'model m = openai("gpt-4o-mini"); from docs("pets/p[0-7].png") | top 1 by "Which animal is the cutest? {{content}}" model m | select file_path' 2> topk.err)
out2=$("$FQL" --no-cache -c 'model nv = openai("gpt-4o-mini", vision: false); from docs("pets/p[0-7].png") | top 1 by "Which animal is the cutest? {{content}}" model nv' 2>&1)
[[ $out == *pets/p* && $out2 == *"model 'nv' (openai \"gpt-4o-mini\") cannot take images"* && $out2 == *"(0 cached / 0 sent"* ]] \
  && ok "top K by over images: the candidates are sent as images (a model without vision is stopped before sending)" || bad topk "$out $(cat topk.err) / $out2"

# 11. docs() lists images and audio with a value column; explain shows their type
out=$("$FQL" --format csv -c 'from docs("sounds/*.wav") | select file_path, content.mime as mime, size' 2>&1)
out2=$("$FQL" --format jsonl -c 'from docs("pets/p0.png") | select content' 2>&1)
out3=$("$FQL" --format csv -c 'from docs("sounds/*", type: "audio") | select content.path as p' 2>&1)
[[ $out == *'sounds/bark.wav,audio/wav,40044'* && $out2 == *'{"path":"pets/p0.png","mime":"image/png"}'* && $out3 == *sounds/meow.wav* ]] \
  && ok "docs(): image and audio files with a value column (path, mime), by extension or type:" || bad docs "$out / $out2 / $out3"

finish
