#!/usr/bin/env bash
# Vertex AI end to end through fql and fql-sim: the service-account JWT is exchanged for a token
# once (vertex_auth.c, over the blocking HTTP helper), before any request is built; the key check
# and the data requests carry it; a token endpoint that cannot be reached, or a token the server
# never issued, stops the statement with a message that says what to fix and shows no secret.
# usage: tests/runtime/vertex.sh BUILD_DIR
source "$(dirname "$0")/../lib/setup.sh"
FQL="$BUILD/fql"
pass=0 fail=0
ok()  { pass=$((pass + 1)); echo "ok $1"; }
bad() { fail=$((fail + 1)); echo "FAIL $1: $2"; }

openssl genrsa -out sa.pem 2048 2>/dev/null
openssl rsa -in sa.pem -pubout -out sa.pub 2>/dev/null
"$BUILD/fql-sim" --port 0 --jwt-pubkey sa.pub > sim.out 2> sim.err & simpid=$!
for _ in $(seq 100); do [[ -s sim.out ]] && break; sleep 0.05; done
port=$(sed -n '1s/[^0-9]//gp' sim.out)
[[ -n $port ]] || { echo "the simulator did not start: $(cat sim.err)"; echo "0 passed, 1 failed"; exit 1; }
SIMURL="http://127.0.0.1:$port"
export VERTEX_BASE_URL=$SIMURL FQL_DB="$dir/state.db"
unset GOOGLE_ACCESS_TOKEN
key_json=$(awk '{printf "%s\\n", $0}' sa.pem)
sa() {  # sa FILE TOKEN_URI: a service-account file as Google issues it
  cat > "$1" <<J
{"type": "service_account", "project_id": "p1", "private_key_id": "k1", "private_key": "$key_json",
 "client_email": "fql@p1.iam.gserviceaccount.com", "client_id": "1", "token_uri": "$2"}
J
}
sa sa.json "$SIMURL/token"
sa sa-down.json "http://127.0.0.1:1/token"
stat_of() {  # stat_of MODEL FIELD
  curl -s "$SIMURL/sim/stats" | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{const m=JSON.parse(s).models[process.argv[1]]||{};console.log(m[process.argv[2]]||0)})' "$1" "$2"
}
Q='model vx = vertex("gemini-2.5-flash", project: "p1");
type T = { is_technical: bool, summary: string };
values [{t: "the API returns errors"}, {t: "how do I pay an invoice"}, {t: "the checkout page is broken"}]
| derive a = extract(t, T) | select a.is_technical is not null as answered'

out=$(GOOGLE_APPLICATION_CREDENTIALS=sa.json "$FQL" --no-cache --format csv -c "$Q" 2>err.txt); rc=$?
want=$'answered\ntrue\ntrue\ntrue'
[[ $rc == 0 && $out == "$want" ]] && ok service-account-answers || bad service-account-answers "rc=$rc out=$out err=$(cat err.txt)"
n=$(stat_of gemini-2.5-flash requests)
# the 3 rows go in one packed request by default (gemini-2.5-flash has structured output; was 3)
[[ $n -ge 1 ]] && ok requests-reached-vertex || bad requests-reached-vertex "the sim saw $n requests"
grep -q -e 'BEGIN' -e 'PRIVATE' err.txt && bad no-secret-in-output "$(cat err.txt)" || ok no-secret-in-output

out=$(GOOGLE_APPLICATION_CREDENTIALS=sa-down.json "$FQL" --no-cache --format csv -c "$Q" 2>err.txt); rc=$?
[[ $rc != 0 ]] && grep -q "cannot reach the token endpoint http://127.0.0.1:1/token" err.txt && grep -q "model 'vx' (vertex)" err.txt \
  && ok unreachable-token-endpoint || bad unreachable-token-endpoint "rc=$rc err=$(cat err.txt)"

out=$(GOOGLE_ACCESS_TOKEN=ya29.never-issued-SECRET "$FQL" --no-cache --format csv -c "$Q" 2>err.txt); rc=$?
[[ $rc != 0 ]] && grep -q "model 'vx' (vertex): the key in GOOGLE_ACCESS_TOKEN was rejected (HTTP 401)" err.txt \
  && ok unissued-token-rejected-by-key-check || bad unissued-token-rejected-by-key-check "rc=$rc err=$(cat err.txt)"
grep -q "never-issued-SECRET" err.txt && bad token-not-printed "$(cat err.txt)" || ok token-not-printed

# the key check (several at once through the HTTP helper) names a server it cannot reach
out=$(VERTEX_BASE_URL=http://127.0.0.1:1 GOOGLE_ACCESS_TOKEN=ya29.x "$FQL" --no-cache --format csv -c "$Q" 2>err.txt); rc=$?
[[ $rc != 0 ]] && grep -q "model 'vx' (vertex): cannot reach http://127.0.0.1:1: Couldn't connect to server" err.txt \
  && ok key-check-unreachable || bad key-check-unreachable "rc=$rc err=$(cat err.txt)"

out=$(GOOGLE_APPLICATION_CREDENTIALS=sa.json "$FQL" --no-validate --no-cache --format csv -c "$Q" 2>err.txt); rc=$?
[[ $rc == 0 && $out == "$want" ]] && ok token-without-key-check || bad token-without-key-check "rc=$rc out=$out err=$(cat err.txt)"

echo "$pass passed, $fail failed"
(( fail == 0 ))
