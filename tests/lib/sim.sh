# Shared by runtime tests that talk to fql-sim: source it with BUILD set and a sim.json in the
# current directory. Starts the simulator, points every provider at it, and defines ok/bad/stat_of.
FQL="$BUILD/fql"
SIM="$BUILD/fql-sim"
pass=0 fail=0
ok()  { pass=$((pass + 1)); echo "ok $1"; }
bad() { fail=$((fail + 1)); echo "FAIL $1: $2"; }
"$SIM" --port 0 --config sim.json > sim.out 2> sim.err & simpid=$!
for _ in $(seq 100); do [[ -s sim.out ]] && break; sleep 0.05; done
port=$(sed -n '1s/[^0-9]//gp' sim.out)
[[ -n $port ]] || { echo "the simulator did not start: $(cat sim.err)"; echo "0 passed, 1 failed"; exit 1; }
SIMURL="http://127.0.0.1:$port"
export OPENAI_API_KEY="sk-test-lib" OPENAI_BASE_URL="$SIMURL/v1"
export ANTHROPIC_API_KEY="sk-ant-test-lib" ANTHROPIC_BASE_URL="$SIMURL"
export GEMINI_API_KEY="gm-test-lib" GEMINI_BASE_URL="$SIMURL"
export OPENROUTER_API_KEY="sk-or-test-lib" OPENROUTER_BASE_URL="$SIMURL/api/v1"
export FQL_DB="$PWD/state.db"
stat_of() {  # stat_of MODEL FIELD: a field of the sim's statistics for a model (0 if none)
  curl -s "$SIMURL/sim/stats" | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{const m=JSON.parse(s).models[process.argv[1]]||{};console.log(m[process.argv[2]]||0)})' "$1" "$2"
}
reqs() { stat_of "$1" requests; }
finish() { echo "$pass passed, $fail failed"; [[ $fail == 0 ]]; }
