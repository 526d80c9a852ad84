#!/usr/bin/env bash
# Remote paths end to end: fql reads https://-style URLs, hf:// datasets and s3:// objects, and
# writes s3:// objects, against the test servers of tests/remote/server.js (a web server, a Hub
# look-alike and an S3-compatible store that verifies SigV4 signatures itself), all on 127.0.0.1.
# usage: tests/runtime/remote.sh BUILD_DIR
set -u
BUILD=$(cd "${1:-build}" && pwd)
FQL="$BUILD/fql"
SERVER="$(cd "$(dirname "$0")/../remote" && pwd)/server.js"
dir=$(mktemp -d)
srvpid=
cleanup() { [[ -n $srvpid ]] && kill -TERM "$srvpid" 2>/dev/null && wait "$srvpid" 2>/dev/null; rm -rf "$dir"; }
trap cleanup EXIT
cd "$dir"
pass=0 fail=0
ok()  { pass=$((pass + 1)); echo "ok $1"; }
bad() { fail=$((fail + 1)); echo "FAIL $1: $2"; }
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy ALL_PROXY
export NO_PROXY=127.0.0.1,localhost no_proxy=127.0.0.1,localhost
unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN AWS_REGION AWS_DEFAULT_REGION AWS_ENDPOINT_URL AWS_ENDPOINT_URL_S3 HF_TOKEN HUGGING_FACE_HUB_TOKEN
export FQL_DB=":memory:" FQL_CACHE_DIR="$dir/cache"

# the secrets: none may appear in any output
AKID=AKIDTESTKEY77 SECRET=s3cr3t-SIGNING-value TOKEN=session-TOKEN-value-42 HFTOK=hf_SECRET_token_99

# ---- the servers' data ----
mkdir -p root/web/data root/hub/acme/reviews/main/data/sub root/hub/acme/reviews/v1.0/data \
         root/hub/private-org/notes/main root/s3/bucket1/logs/2024 root/s3/bucket1/logs/2025 root/s3/public-data
printf 'id,name\n1,ann\n2,bob\n' > root/web/data/people.csv
printf '{"id": 1, "tags": ["a", "b"]}\n{"id": 2, "tags": []}\n' > root/web/data/people.jsonl
printf '[{"id": 1, "ok": true}, {"id": 2, "ok": false}]\n' > root/web/data/people.json
printf 'id,name\n1,ann\n2,"bob\n' > root/web/data/bad.csv
printf 'id,stars\n1,5\n2,3\n' > root/hub/acme/reviews/main/data/a.csv
printf 'id,stars\n3,4\n' > root/hub/acme/reviews/main/data/b.csv
printf 'id,stars\n4,1\n' > root/hub/acme/reviews/main/data/sub/c.csv
printf 'id,stars\n9,9\n' > root/hub/acme/reviews/v1.0/data/a.csv
printf 'note\nconfidential\n' > root/hub/private-org/notes/main/n.csv
for i in 1 2 3 4 5; do printf 'n\n%d\n' "$i" > "root/s3/bucket1/logs/2024/part-$i.csv"; done
printf 'n\n100\n' > root/s3/bucket1/logs/2025/part-1.csv
printf 'n\nskip\n' > root/s3/bucket1/logs/2024/readme.txt
printf 'x\n7\n' > root/s3/public-data/open.csv

node "$SERVER" --selftest > selftest.out 2>&1 && grep -c '^ok' selftest.out | grep -qx 4 \
  && ok "the store's SigV4 verifier reproduces AWS's test vectors" || bad "selftest" "$(cat selftest.out)"

S3_KEY=$AKID S3_SECRET=$SECRET S3_TOKEN=$TOKEN HUB_TOKEN=$HFTOK node "$SERVER" root > ports.json 2> server.err & srvpid=$!
for _ in $(seq 100); do [[ -s ports.json ]] && break; sleep 0.05; done
port() { node -e 'console.log(JSON.parse(require("fs").readFileSync("ports.json"))[process.argv[1]])' "$1"; }
WEB="http://127.0.0.1:$(port web)" HUB="http://127.0.0.1:$(port hub)" S3="http://127.0.0.1:$(port s3)"
[[ -s ports.json ]] || { echo "the test servers did not start: $(cat server.err)"; echo "0 passed, 1 failed"; exit 1; }
# log SERVER FIELDS...: the server's requests, one per line, the given fields tab-separated
log() {
  curl -s "$1/_log" | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{
    for (const e of JSON.parse(s)) console.log(process.argv.slice(1).map(k=>String(e[k])).join("\t"))})' "${@:2}"
}
run() { "$FQL" --format csv -c "$1" > out.txt 2> err.txt; echo $? > rc.txt; cat out.txt err.txt >> all_output.txt; }
rc() { cat rc.txt; }

# ---- https:// (plain http here) ----

run "from csv(\"$WEB/data/people.csv\") | select name"
[[ $(rc) == 0 && $(tr '\n' ' ' < out.txt) == "name ann bob " ]] && ok "csv over http" || bad "csv over http" "$(cat out.txt err.txt)"
[[ $(log "$WEB" url | grep -c '^/data/people.csv$') == 1 ]] && ok "one download serves both the binder and the executor" \
  || bad "one download" "$(log "$WEB" url)"

run "from jsonl(\"$WEB/data/people.jsonl\") | derive k = size(tags) | select id, k"
[[ $(tr '\n' ' ' < out.txt) == "id,k 1,2 2,0 " ]] && ok "jsonl over http" || bad "jsonl over http" "$(cat out.txt err.txt)"
run "from json(\"$WEB/data/people.json\") | where ok | select id"
[[ $(tr '\n' ' ' < out.txt) == "id 1 " ]] && ok "json over http" || bad "json over http" "$(cat out.txt err.txt)"
run "from tsv(\"$WEB/redirect/3/data/people.csv\", delimiter: \",\") | agg n = count()"
[[ $(tr '\n' ' ' < out.txt) == "n 2 " && $(log "$WEB" url | grep -c '^/redirect/') == 3 ]] && ok "redirects are followed" \
  || bad "redirects" "$(cat out.txt err.txt)"

run "from csv(\"$WEB/nope.csv\")"
grep -q "$WEB/nope.csv: HTTP 404 Not Found; check the URL" err.txt && [[ $(rc) == 1 ]] && ok "404 names the URL and the status" \
  || bad "404" "$(cat err.txt)"
run "from csv(\"http://alice:pa55word@127.0.0.1:$(port web)/status/403?access_token=abc123&page=2\")"
# (the quoted source line below the message is the script's own text)
head -1 err.txt > first.txt
grep -q "127.0.0.1:$(port web)/status/403?access_token=REDACTED&page=2: HTTP 403 Forbidden" first.txt && ! grep -q 'pa55word\|abc123' first.txt \
  && ok "errors drop user:password and redact token parameters" || bad "redaction" "$(cat err.txt)"
run "from csv(\"$WEB/data/bad.csv\")"
grep -q "$WEB/data/bad.csv:3:2: unterminated quoted field" err.txt && ! grep -q 'fql-remote' err.txt \
  && ok "a data error in a downloaded file names the URL, row and field" || bad "data error" "$(cat err.txt)"
run "from csv(\"$WEB/flaky/2/data/people.csv\") | agg n = count()"
[[ $(tr '\n' ' ' < out.txt) == "n 2 " && $(log "$WEB" url | grep -c '^/flaky/2/') == 3 ]] && ok "503s are retried" \
  || bad "retries" "$(cat out.txt err.txt; log "$WEB" url)"
run "from csv(\"$WEB/flaky/9/data/people.csv\")"
grep -q "flaky/9/data/people.csv: HTTP 503 Service Unavailable; the server failed" err.txt && [[ $(log "$WEB" url | grep -c '^/flaky/9/') == 4 ]] \
  && ok "a server that keeps failing gives up after 4 attempts" || bad "give up" "$(cat err.txt)"
start=$(date +%s)
FQL_REMOTE_TIMEOUT=1 "$FQL" -c "from csv(\"$WEB/stall\")" > out.txt 2> err.txt
(( $(date +%s) - start < 20 )) && grep -q "$WEB/stall: no data for 1 seconds" err.txt && ok "a stalled server times out" \
  || bad "stall" "$(cat err.txt)"
run "from csv(\"http://127.0.0.1:1/x.csv\")"
grep -q "http://127.0.0.1:1/x.csv: cannot connect" err.txt && ok "a refused connection names the URL" || bad "connect" "$(cat err.txt)"

# cache: true keeps the download and revalidates it
run "from csv(\"$WEB/data/people.csv\", cache: true) | agg n = count()"
run "from csv(\"$WEB/data/people.csv\", cache: true) | agg n = count()"
last=$(log "$WEB" url inm | grep '^/data/people.csv' | tail -1)
[[ $(tr '\n' ' ' < out.txt) == "n 2 " && $last == /data/people.csv$'\t'\"* ]] && ok "cache: true revalidates with If-None-Match (304 reuses the copy)" \
  || bad "cache revalidation" "$last $(cat out.txt err.txt)"
[[ $(find cache/remote -name people.csv | wc -l) == 1 && -f $(find cache/remote -name meta.json | head -1) ]] \
  && ok "the cache lives under FQL_CACHE_DIR" || bad "cache dir" "$(find cache)"
sleep 1; printf 'id,name\n1,ann\n2,bob\n3,cy\n' > root/web/data/people.csv
run "from csv(\"$WEB/data/people.csv\", cache: true) | agg n = count()"
[[ $(tr '\n' ' ' < out.txt) == "n 3 " ]] && ok "a changed file replaces the cached copy" || bad "cache refresh" "$(cat out.txt err.txt)"
run "from csv(\"data.csv\", cache: true)"
grep -q "cache: applies to remote paths" err.txt && ok "cache: on a local path is refused" || bad "cache local" "$(cat err.txt)"

# ---- hf:// ----
export HF_ENDPOINT=$HUB
run 'from csv("hf://datasets/acme/reviews/data/*.csv") | select id'
[[ $(tr '\n' ' ' < out.txt) == "id 1 2 3 " ]] && ok "hf:// glob over the tree listing" || bad "hf glob" "$(cat out.txt err.txt)"
[[ $(log "$HUB" url | grep -c '^/api/datasets/acme/reviews/tree/main/data.*cursor=') -ge 1 ]] && ok "the tree listing is paged through Link: rel=next" \
  || bad "hf paging" "$(log "$HUB" url)"
run 'from csv("hf://datasets/acme/reviews/data/**/*.csv") | agg n = count(), s = sum(stars)'
[[ $(tr '\n' ' ' < out.txt) == "n,s 4,13 " ]] && ok "hf:// ** recurses" || bad "hf **" "$(cat out.txt err.txt)"
run 'from csv("hf://datasets/acme/reviews@v1.0/data/a.csv")'
[[ $(tr '\n' ' ' < out.txt) == "id,stars 9,9 " ]] && ok "hf:// @revision" || bad "hf revision" "$(cat out.txt err.txt)"
run 'from csv("hf://datasets/acme/reviews/data/zzz.csv")'
grep -q 'hf://datasets/acme/reviews/data/zzz.csv: HTTP 404 Not Found (data/zzz.csv does not exist on "main")' err.txt \
  && ok "a missing Hub file shows the Hub's message" || bad "hf 404" "$(cat err.txt)"
run 'from csv("hf://datasets/acme/reviews/data/*.parquet")'
grep -q 'no file matches hf://datasets/acme/reviews/data/\*.parquet' err.txt && ok "an empty hf:// glob" || bad "hf no match" "$(cat err.txt)"
run 'from csv("hf://datasets/private-org/notes/n.csv")'
grep -q 'HTTP 401 Unauthorized.*set HF_TOKEN' err.txt && ok "a private dataset without HF_TOKEN says to set it" || bad "hf 401" "$(cat err.txt)"
HF_TOKEN=$HFTOK run 'from csv("hf://datasets/private-org/notes/*.csv", cache: true)'
[[ $(tr '\n' ' ' < out.txt) == "note confidential " ]] && ok "HF_TOKEN reads a private dataset" || bad "hf token" "$(cat out.txt err.txt)"
[[ $(log "$HUB" url auth | grep -c "^/datasets/private-org/notes/resolve/main/n.csv	Bearer $HFTOK") == 1 ]] \
  && [[ $(log "$HUB" url auth | grep '^/cdn/private-org' | grep -c Bearer) == 0 ]] \
  && ok "the token goes to the Hub, not to the CDN host it redirects to" || bad "hf token scope" "$(log "$HUB" url auth)"
run 'from csv("hf://models/acme/m/x.csv")'
grep -q 'hf:// paths name a dataset file' err.txt && ok "hf:// outside datasets is refused" || bad "hf models" "$(cat err.txt)"
unset HF_ENDPOINT

# ---- s3:// ----
export AWS_ENDPOINT_URL=$S3
run 'from csv("s3://public-data/open.csv")'
[[ $(tr '\n' ' ' < out.txt) == "x 7 " && $(log "$S3" url auth | grep -c $'^/public-data/open.csv\tnull') == 1 ]] \
  && ok "a public bucket reads unsigned" || bad "s3 public" "$(cat out.txt err.txt)"
run 'from csv("s3://bucket1/logs/2024/part-1.csv")'
grep -q 's3://bucket1/logs/2024/part-1.csv: HTTP 403 Forbidden (AccessDenied: Access Denied); the bucket is not public: set AWS_ACCESS_KEY_ID' err.txt \
  && ok "a private bucket without credentials says what to set" || bad "s3 403" "$(cat err.txt)"
AWS_ACCESS_KEY_ID=$AKID run 'from csv("s3://bucket1/x.csv")'
grep -q 'AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not' err.txt && ok "half the credentials" || bad "half creds" "$(cat err.txt)"
export AWS_ACCESS_KEY_ID=$AKID AWS_SECRET_ACCESS_KEY=$SECRET AWS_SESSION_TOKEN=$TOKEN
run 'from csv("s3://bucket1/logs/**/part-*.csv") | agg n = count(), s = sum(n)'
[[ $(tr '\n' ' ' < out.txt) == "n,s 6,115 " ]] && ok "s3:// glob (ListObjectsV2), signed" || bad "s3 glob" "$(cat out.txt err.txt)"
[[ $(log "$S3" op url | grep -c $'^list\t.*continuation-token=') -ge 2 && $(log "$S3" op signed | grep -c $'^list\ttrue') -ge 3 ]] \
  && ok "the listing follows continuation tokens" || bad "s3 continuation" "$(log "$S3" op url)"
run 'from csv("s3://bucket1/logs/2024/part-9.csv")'
grep -q 's3://bucket1/logs/2024/part-9.csv: HTTP 404 Not Found (NoSuchKey' err.txt && ok "a missing key" || bad "s3 404" "$(cat err.txt)"
AWS_SECRET_ACCESS_KEY=wrong-secret run 'from csv("s3://bucket1/logs/2024/part-1.csv")'
grep -q 'SignatureDoesNotMatch' err.txt && ok "a wrong secret fails the store's signature check" || bad "bad secret" "$(cat err.txt)"
AWS_SESSION_TOKEN=other-token run 'from csv("s3://bucket1/logs/2024/part-1.csv")'
grep -q 'InvalidToken' err.txt && ok "the session token is sent and signed" || bad "token" "$(cat err.txt)"

run 'from csv("s3://bucket1/logs/2024/part-*.csv") | write csv("s3://bucket1/out/all parts+1.csv")'
run 'from csv("s3://bucket1/out/all parts+1.csv") | agg n = count(), s = sum(n)'
[[ $(tr '\n' ' ' < out.txt) == "n,s 5,15 " && $(log "$S3" op | grep -c '^put$') == 1 ]] && ok "write csv to s3:// (one PUT) and read it back" \
  || bad "s3 write" "$(cat out.txt err.txt)"
run 'from csv("s3://public-data/open.csv") | write csv("s3://bucket1/out/all parts+1.csv")'
grep -q 's3://bucket1/out/all parts+1.csv already exists; use mode: "overwrite"' err.txt && ok "mode error refuses an existing object" \
  || bad "s3 exists" "$(cat err.txt)"
run 'from csv("s3://public-data/open.csv") | write jsonl("s3://bucket1/out/all parts+1.csv", mode: "overwrite")'
run 'from jsonl("s3://bucket1/out/all parts+1.csv")'
[[ $(tr '\n' ' ' < out.txt) == "x 7 " ]] && ok "overwrite with another format" || bad "s3 overwrite" "$(cat out.txt err.txt)"
run 'from csv("s3://public-data/open.csv") | write csv("s3://bucket1/out/x.csv", mode: "append")'
grep -q 'mode: "append" is not possible for s3:// targets' err.txt && ok "append to s3:// is refused" || bad "s3 append" "$(cat err.txt)"
run "from csv(\"s3://public-data/open.csv\") | write csv(\"$WEB/x.csv\")"
grep -q 'only s3:// targets can be written' err.txt && ok "https:// targets are refused" || bad "https write" "$(cat err.txt)"

awk 'BEGIN { print "id,text"; for (i = 1; i <= 200000; i++) printf "%d,row %d padded with enough text to pass 8 MiB\n", i, i }' > big.csv
run 'from csv("big.csv") | write csv("s3://bucket1/big/big.csv")'
run 'from csv("s3://bucket1/big/big.csv") | agg n = count(), s = sum(id)'
ops=$(log "$S3" op url | grep 'big/big.csv' | cut -f1 | tr '\n' ' ')
[[ $(tr '\n' ' ' < out.txt) == "n,s 200000,20000100000 " && $ops == "head create-multipart upload-part upload-part complete-multipart get " ]] \
  && ok "a large write is a multipart upload" || bad "multipart" "$ops $(cat out.txt err.txt)"
run 'from csv("big.csv") | write csv("s3://bucket1/big/fail-part.csv")'
ops=$(log "$S3" op url | grep 'fail-part' | cut -f1 | sort | uniq -c | tr -s ' ' | tr '\n' ' ')
grep -q 's3://bucket1/big/fail-part.csv: HTTP 500 Internal Server Error (InternalError' err.txt && ! grep -q wrote out.txt err.txt \
  && [[ $ops == *"1 abort-multipart"* ]] && ok "a failed part aborts the multipart upload" || bad "abort" "$ops $(cat err.txt)"
run 'from csv("s3://bucket1/big/fail-part.csv")'
grep -q 'NoSuchKey' err.txt && ok "no object is left after an abort" || bad "after abort" "$(cat err.txt)"

# ---- secrets ----
leaks=$(grep -l -r -e "$SECRET" -e "$TOKEN" -e "$HFTOK" all_output.txt cache 2>/dev/null)
[[ -z $leaks ]] && ok "no secret in any output or in the cache" || bad "leak" "$leaks"
[[ -z $(find "${TMPDIR:-/tmp}" -maxdepth 1 -name 'fql-remote-*' -newer ports.json 2>/dev/null) ]] \
  && ok "temporary downloads are removed" || bad "temp files" "$(find "${TMPDIR:-/tmp}" -maxdepth 1 -name 'fql-remote-*' -newer ports.json)"

echo "$pass passed, $fail failed"
[[ $fail == 0 ]]
