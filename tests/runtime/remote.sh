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
mkdir -p root/web/data root/hub/acme/reviews/main/data/sub root/hub/acme/reviews/v1.0/data root/hub/acme/reviews/refs/convert/parquet/default \
         root/hub/private-org/notes/main root/s3/bucket1/logs/2024 root/s3/bucket1/logs/2025 root/s3/public-data
printf 'id,name\n1,ann\n2,bob\n' > root/web/data/people.csv
printf '{"id": 1, "tags": ["a", "b"]}\n{"id": 2, "tags": []}\n' > root/web/data/people.jsonl
printf '[{"id": 1, "ok": true}, {"id": 2, "ok": false}]\n' > root/web/data/people.json
printf 'id,name\n1,ann\n2,"bob\n' > root/web/data/bad.csv
printf 'id,stars\n1,5\n2,3\n' > root/hub/acme/reviews/main/data/a.csv
printf 'id,stars\n3,4\n' > root/hub/acme/reviews/main/data/b.csv
printf 'id,stars\n4,1\n' > root/hub/acme/reviews/main/data/sub/c.csv
printf 'id,stars\n9,9\n' > root/hub/acme/reviews/v1.0/data/a.csv
printf 'id,stars\n8,8\n' > root/hub/acme/reviews/refs/convert/parquet/default/train.csv
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
# rows NAME QUERY EXPECTED: the query succeeds, and its CSV output, lines joined by spaces, is EXPECTED
rows() {
  run "$2"
  local got; got=$(tr '\n' ' ' < out.txt)
  [[ $got == "$3" && $(cat rc.txt) == 0 ]] && ok "$1" || bad "$1" "got '$got' $(cat err.txt)"
}
# fails NAME QUERY PATTERN: the query fails with an error matching PATTERN (grep)
fails() {
  run "$2"
  grep -q -- "$3" err.txt && [[ $(cat rc.txt) != 0 ]] && ok "$1" || bad "$1" "$(cat err.txt)"
}
# check NAME CONDITION...: a condition on the servers' logs
check() { local name=$1; shift; "$@" && ok "$name" || bad "$name" "$(tail -5 err.txt)"; }
count() { log "$1" "${@:3}" | grep -c -- "$2"; }

# ---- https:// (plain http here) ----

rows "csv over http" "from csv(\"$WEB/data/people.csv\") | select name" "name ann bob "
check "one download serves both the binder and the executor" [ "$(count "$WEB" '^/data/people.csv$' url)" = 1 ]
rows "jsonl over http" "from jsonl(\"$WEB/data/people.jsonl\") | derive k = size(tags) | select id, k" "id,k 1,2 2,0 "
rows "json over http" "from json(\"$WEB/data/people.json\") | where ok | select id" "id 1 "
rows "redirects are followed" "from tsv(\"$WEB/redirect/3/data/people.csv\", delimiter: \",\") | agg n = count()" "n 2 "
check "three redirects, three requests" [ "$(count "$WEB" '^/redirect/' url)" = 3 ]

fails "404 names the URL and the status" "from csv(\"$WEB/nope.csv\")" "$WEB/nope.csv: HTTP 404 Not Found; check the URL"
# (the quoted source line below the message is the script's own text: look at the message line)
fails "errors drop user:password and redact token parameters" \
  "from csv(\"http://alice:pa55word@127.0.0.1:$(port web)/status/403?access_token=abc123&page=2\")" \
  "^<command line>:1:6: error: http://127.0.0.1:$(port web)/status/403?access_token=REDACTED&page=2: HTTP 403 Forbidden"
check "no password or token in the message" [ "$(head -1 err.txt | grep -c 'pa55word\|abc123')" = 0 ]
fails "a data error in a downloaded file names the URL, row and field" "from csv(\"$WEB/data/bad.csv\")" \
  "$WEB/data/bad.csv:3:2: unterminated quoted field"
rows "503s are retried" "from csv(\"$WEB/flaky/2/data/people.csv\") | agg n = count()" "n 2 "
check "two failures, then the answer" [ "$(count "$WEB" '^/flaky/2/' url)" = 3 ]
fails "a server that keeps failing is reported" "from csv(\"$WEB/flaky/9/data/people.csv\")" \
  "flaky/9/data/people.csv: HTTP 503 Service Unavailable; the server failed"
check "after 4 attempts" [ "$(count "$WEB" '^/flaky/9/' url)" = 4 ]
start=$(date +%s)
FQL_REMOTE_TIMEOUT=1 fails "a stalled server times out" "from csv(\"$WEB/stall\")" "$WEB/stall: no data for 1 seconds"
check "within seconds" [ $(( $(date +%s) - start )) -lt 20 ]
fails "a refused connection names the URL" 'from csv("http://127.0.0.1:1/x.csv")' "http://127.0.0.1:1/x.csv: cannot connect"

# cache: true keeps the download and revalidates it
rows "cache: true, first read" "from csv(\"$WEB/data/people.csv\", cache: true) | agg n = count()" "n 2 "
rows "cache: true, second read" "from csv(\"$WEB/data/people.csv\", cache: true) | agg n = count()" "n 2 "
check "the second read revalidates with If-None-Match" [ "$(log "$WEB" url inm | tail -1 | cut -f2 | cut -c1)" = '"' ]
check "the cache lives under FQL_CACHE_DIR" [ "$(find cache/remote -name people.csv | wc -l)" = 1 ]
sleep 1; printf 'id,name\n1,ann\n2,bob\n3,cy\n' > root/web/data/people.csv
rows "a changed file replaces the cached copy" "from csv(\"$WEB/data/people.csv\", cache: true) | agg n = count()" "n 3 "
rows "cache: true without an ETag" "from jsonl(\"$WEB/lm/data/people.jsonl\", cache: true) | agg n = count()" "n 2 "
rows "cache: true without an ETag, again" "from jsonl(\"$WEB/lm/data/people.jsonl\", cache: true) | agg n = count()" "n 2 "
check "revalidates with If-Modified-Since" [ "$(log "$WEB" url inm ims | tail -1 | cut -f2-)" = "null	$(date -u -r root/web/data/people.jsonl '+%a, %d %b %Y %H:%M:%S GMT')" ]
# a cache point over a remote scan is keyed by the data fetched, so it follows changes
printf 'k\n1\n2\n' > root/web/data/keys.csv
CP="from csv(\"$WEB/data/keys.csv\") | cache | agg n = count()"
FQL_DB=$dir/state.db rows "a cache point over a remote scan" "$CP" "n 2 "
FQL_DB=$dir/state.db run "explain $CP"
check "is reused while the data is the same" grep -q 'stored result will be used' out.txt
printf 'k\n1\n' > root/web/data/keys.csv
FQL_DB=$dir/state.db rows "and recomputed when it changes" "$CP" "n 1 "
fails "cache: on a local path is refused" 'from csv("data.csv", cache: true)' "cache: applies to remote paths"

# ---- hf:// ----
export HF_ENDPOINT=$HUB
rows "hf:// glob over the tree listing" 'from csv("hf://datasets/acme/reviews/data/*.csv") | select id' "id 1 2 3 "
check "the tree listing is paged through Link: rel=next" [ "$(count "$HUB" '^/api/datasets/acme/reviews/tree/main/data.*cursor=' url)" -ge 1 ]
rows "hf:// ** recurses" 'from csv("hf://datasets/acme/reviews/data/**/*.csv") | agg n = count(), s = sum(stars)' "n,s 4,13 "
rows "hf:// @revision" 'from csv("hf://datasets/acme/reviews@v1.0/data/a.csv")' "id,stars 9,9 "
rows "hf:// @refs/convert/parquet, globbed" 'from csv("hf://datasets/acme/reviews@refs/convert/parquet/default/*.csv")' "id,stars 8,8 "
fails "a missing Hub file shows the Hub's message" 'from csv("hf://datasets/acme/reviews/data/zzz.csv")' \
  'hf://datasets/acme/reviews/data/zzz.csv: HTTP 404 Not Found (data/zzz.csv does not exist on "main")'
fails "an empty hf:// glob" 'from csv("hf://datasets/acme/reviews/data/*.parquet")' 'no file matches hf://datasets/acme/reviews/data/\*.parquet'
fails "a private dataset without HF_TOKEN says to set it" 'from csv("hf://datasets/private-org/notes/n.csv")' 'HTTP 401 Unauthorized.*set HF_TOKEN'
HF_TOKEN=$HFTOK rows "HF_TOKEN reads a private dataset" 'from csv("hf://datasets/private-org/notes/*.csv", cache: true)' "note confidential "
check "the token goes to the Hub" [ "$(count "$HUB" "^/datasets/private-org/notes/resolve/main/n.csv	Bearer $HFTOK" url auth)" = 1 ]
check "not to the CDN host it redirects to" [ "$(count "$HUB" '^/cdn/private-org.*Bearer' url auth)" = 0 ]
fails "hf:// outside datasets is refused" 'from csv("hf://models/acme/m/x.csv")' 'hf:// paths name a dataset file'
unset HF_ENDPOINT

# ---- s3:// ----
export AWS_ENDPOINT_URL=$S3
rows "a public bucket reads unsigned" 'from csv("s3://public-data/open.csv")' "x 7 "
check "no Authorization header" [ "$(count "$S3" '^/public-data/open.csv	null' url auth)" = 1 ]
fails "a private bucket without credentials says what to set" 'from csv("s3://bucket1/logs/2024/part-1.csv")' \
  's3://bucket1/logs/2024/part-1.csv: HTTP 403 Forbidden (AccessDenied: Access Denied); the bucket is not public: set AWS_ACCESS_KEY_ID'
AWS_ACCESS_KEY_ID=$AKID fails "half the credentials" 'from csv("s3://bucket1/x.csv")' 'AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not'
export AWS_ACCESS_KEY_ID=$AKID AWS_SECRET_ACCESS_KEY=$SECRET AWS_SESSION_TOKEN=$TOKEN
rows "s3:// glob (ListObjectsV2), signed" 'from csv("s3://bucket1/logs/**/part-*.csv") | agg n = count(), s = sum(n)' "n,s 6,115 "
check "the listing follows continuation tokens" [ "$(count "$S3" '^list	.*continuation-token=' op url)" -ge 2 ]
check "every listing request was signed" [ "$(count "$S3" '^list	true' op signed)" = "$(count "$S3" '^list' op)" ]
fails "a missing key" 'from csv("s3://bucket1/logs/2024/part-9.csv")' 's3://bucket1/logs/2024/part-9.csv: HTTP 404 Not Found (NoSuchKey'
AWS_SECRET_ACCESS_KEY=wrong-secret fails "a wrong secret fails the store's signature check" 'from csv("s3://bucket1/logs/2024/part-1.csv")' 'SignatureDoesNotMatch'
AWS_SESSION_TOKEN=other-token fails "the session token is sent and signed" 'from csv("s3://bucket1/logs/2024/part-1.csv")' 'InvalidToken'

run 'from csv("s3://bucket1/logs/2024/part-*.csv") | write csv("s3://bucket1/out/all parts+1.csv")'
rows "write csv to s3:// and read it back" 'from csv("s3://bucket1/out/all parts+1.csv") | agg n = count(), s = sum(n)' "n,s 5,15 "
check "a small object is one PUT" [ "$(count "$S3" '^put$' op)" = 1 ]
fails "mode error refuses an existing object" 'from csv("s3://public-data/open.csv") | write csv("s3://bucket1/out/all parts+1.csv")' \
  's3://bucket1/out/all parts+1.csv already exists; use mode: "overwrite"'
run 'from csv("s3://public-data/open.csv") | write jsonl("s3://bucket1/out/all parts+1.csv", mode: "overwrite")'
rows "overwrite with another format" 'from jsonl("s3://bucket1/out/all parts+1.csv")' "x 7 "
fails "append to s3:// is refused" 'from csv("s3://public-data/open.csv") | write csv("s3://bucket1/out/x.csv", mode: "append")' \
  'mode: "append" is not possible for s3:// targets'
fails "https:// targets are refused" "from csv(\"s3://public-data/open.csv\") | write csv(\"$WEB/x.csv\")" 'only s3:// targets can be written'

awk 'BEGIN { print "id,text"; for (i = 1; i <= 200000; i++) printf "%d,row %d padded with enough text to pass 8 MiB\n", i, i }' > big.csv
run 'from csv("big.csv") | write csv("s3://bucket1/big/big.csv")'
rows "a large object reads back whole" 'from csv("s3://bucket1/big/big.csv") | agg n = count(), s = sum(id)' "n,s 200000,20000100000 "
ops=$(log "$S3" op url | grep 'big/big.csv' | cut -f1 | tr '\n' ' ')
check "a large write is a multipart upload" [ "$ops" = "head create-multipart upload-part upload-part complete-multipart get " ]
fails "a failed part fails the write" 'from csv("big.csv") | write csv("s3://bucket1/big/fail-part.csv")' \
  's3://bucket1/big/fail-part.csv: HTTP 500 Internal Server Error (InternalError'
check "and aborts the multipart upload" [ "$(count "$S3" '^abort-multipart	.*fail-part' op url)" = 1 ]
fails "no object is left after an abort" 'from csv("s3://bucket1/big/fail-part.csv")' 'NoSuchKey'

# ---- secrets ----
check "no sanitizer report" [ "$(grep -c 'Sanitizer' all_output.txt)" = 0 ]
leaks=$(grep -l -r -e "$SECRET" -e "$TOKEN" -e "$HFTOK" all_output.txt cache 2>/dev/null)
[[ -z $leaks ]] && ok "no secret in any output or in the cache" || bad "leak" "$leaks"
[[ -z $(find "${TMPDIR:-/tmp}" -maxdepth 1 -name 'fql-remote-*' -newer ports.json 2>/dev/null) ]] \
  && ok "temporary downloads are removed" || bad "temp files" "$(find "${TMPDIR:-/tmp}" -maxdepth 1 -name 'fql-remote-*' -newer ports.json)"

echo "$pass passed, $fail failed"
[[ $fail == 0 ]]
