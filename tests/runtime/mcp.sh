#!/usr/bin/env bash
# fql --mcp FILE.fql (docs/reference.md, "MCP server") with the official MCP TypeScript SDK's client
# (@modelcontextprotocol/sdk, pinned in tests/mcp/package-lock.json, installed into tests/mcp/node_modules
# the first time: npm must be reachable then; without it this suite FAILS, it does not skip).
# Checks the handshake, each pipeline fn as a tool (its typed parameters as the input schema, its
# comment as the description), rows as structured content and text, argument and runtime errors as
# tool errors with their place, an unknown tool as a protocol error, a model call through the
# session's cache (a second identical call sends nothing), and that stdout carries only the protocol.
# usage: tests/runtime/mcp.sh BUILD_DIR
HERE=$(cd "$(dirname "$0")" && pwd)
MCPDIR=$(cd "$HERE/../mcp" && pwd)
source "$HERE/../lib/setup.sh"
if [[ ! -d $MCPDIR/node_modules/@modelcontextprotocol/sdk ]]; then
  if ! (cd "$MCPDIR" && npm ci --no-audit --no-fund --ignore-scripts --loglevel=error) > npm.log 2>&1; then
    echo "FAIL npm-ci: cannot install @modelcontextprotocol/sdk (is the npm registry reachable?): $(tail -c 400 npm.log | tr '\n' ' ')"
    echo "0 passed, 1 failed"; exit 1
  fi
fi
echo '{"default": {"latency_ms": 1}}' > sim.json
source "$HERE/../lib/sim.sh"

cat > tickets.csv <<'C'
id,priority,subject
1,high,disk full on the billing server
2,low,typo on the about page
3,high,outage of the login service
4,medium,slow search
C
cat > tools.fql <<'F'
model m = openai("mcp-model");
let t = from csv("tickets.csv");
-- Tickets of one priority, newest first.
-- Returns at most n rows.
fn tickets_by_priority(p: string, n: int = 5) = from t | where priority == p | order by id desc | limit n;
-- A one-line title per ticket, written by a model.
fn titled(p: string) = from t | where priority == p | derive title = map("Title for: {{subject}}") | select id, title | order by id;
fn broken(x: string) = from csv("missing.csv") | where a == x;
t | agg n = count(*);
F
calls='[["tickets_by_priority", {"p": "high"}], ["tickets_by_priority", {"p": "high", "n": 1}], ["tickets_by_priority", {"p": 7}],
        ["tickets_by_priority", {}], ["tickets_by_priority", {"p": "low", "q": 1}], ["broken", {"x": "a"}], ["nope", {}],
        ["titled", {"p": "high"}], ["titled", {"p": "high"}]]'
node "$MCPDIR/client.mjs" "$BUILD/fql" tools.fql "$calls" > out.jsonl 2> client.err
step() { node -e 'const L=require("fs").readFileSync("out.jsonl","utf8").trim().split("\n").map(JSON.parse); const f=new Function("L", "return " + process.argv[1]); const v=f(L); console.log(typeof v === "string" ? v : JSON.stringify(v))' "$1" 2>/dev/null; }

[[ $(step 'L[0].server.name + " " + Object.keys(L[0].capabilities).join(",")') == "fql tools" ]] && ok "initialize: server fql with tools" || bad init "$(head -c 600 out.jsonl) $(cat client.err)"
[[ $(step 'L[1].tools.map(t => t.name).join(" ")') == "tickets_by_priority titled broken" ]] && ok "tools/list: each pipeline fn, in order" || bad list "$(step 'L[1]')"
[[ $(step 'JSON.stringify(L[1].tools[0].inputSchema)') == '{"type":"object","properties":{"p":{"type":"string","description":"p: string"},"n":{"type":"integer","description":"n: int","default":5}},"required":["p"],"additionalProperties":false}' ]] \
  && ok "inputSchema: typed parameters, the default, the required one" || bad schema "$(step 'L[1].tools[0].inputSchema')"
[[ $(step 'L[1].tools[0].description') == "Tickets of one priority, newest first."*"Returns at most n rows."*"tickets_by_priority(p: string, n: int = 5)" ]] \
  && ok "description: the -- comment above the fn, and its signature" || bad desc "$(step 'L[1].tools[0].description')"
[[ $(step 'L[2].result.structuredContent.rows.map(r => r.id + ":" + r.subject).join("|")') == "3:outage of the login service|1:disk full on the billing server" ]] \
  && ok "tools/call: the rows as structured content" || bad call "$(step 'L[2]')"
[[ $(step 'JSON.stringify(JSON.parse(L[2].result.content[0].text)) === JSON.stringify(L[2].result.structuredContent.rows)') == true ]] \
  && ok "the same rows as JSON text content" || bad text "$(step 'L[2].result.content')"
[[ $(step 'L[3].result.structuredContent.rows.length') == 1 ]] && ok "a parameter with a default, given" || bad n "$(step 'L[3]')"
[[ $(step 'L[4].result.isError + " " + L[4].result.content[0].text') == "true tickets_by_priority: parameter 'p' takes a string, got an integer" ]] \
  && ok "a wrong argument type: a tool error" || bad argtype "$(step 'L[4]')"
[[ $(step 'L[5].result.isError + " " + L[5].result.content[0].text') == "true tickets_by_priority: parameter 'p' is required"* ]] \
  && ok "a missing argument: a tool error" || bad missing "$(step 'L[5]')"
[[ $(step 'L[6].result.content[0].text') == "tickets_by_priority has no parameter 'q'"* ]] && ok "an unknown argument: a tool error" || bad unknown "$(step 'L[6]')"
[[ $(step 'L[7].result.isError + " " + L[7].result.content[0].text') == "true tools.fql:8:29: error: "*"missing.csv"* ]] \
  && ok "a failing body: a tool error at its place in the file" || bad located "$(step 'L[7]')"
[[ $(step 'L[8].error.code') == -32602 ]] && ok "an unknown tool: JSON-RPC error -32602" || bad unknowntool "$(step 'L[8]')"
[[ $(step 'L[9].result.structuredContent.rows.map(r => r.id + (r.title ? "+" : "-")).join(" ")') == "1+ 3+" ]] && ok "a tool that calls a model" || bad model "$(step 'L[9]')"
[[ $(reqs mcp-model) == 2 ]] && [[ $(step 'JSON.stringify(L[10].result.structuredContent) === JSON.stringify(L[9].result.structuredContent)') == true ]] \
  && ok "the same call again: served from the session's cache (2 requests in all)" || bad cache "requests $(reqs mcp-model)"

# the script's own output goes to stderr: stdout is the protocol alone
printf '%s\n' '{"jsonrpc":"2.0","id":1,"method":"ping"}' '{"jsonrpc":"2.0","id":2,"method":"nope"}' 'not json' | "$BUILD/fql" --mcp tools.fql > raw.out 2> raw.err
[[ $(wc -l < raw.out) == 3 && $(sed -n 1p raw.out) == '{"jsonrpc":"2.0","id":1,"result":{}}' && $(sed -n 2p raw.out) == *'"code":-32601'* \
   && $(sed -n 3p raw.out) == *'"code":-32700'* ]] && grep -q "4" raw.err \
  && ok "stdout: only JSON-RPC (ping, method not found, parse error); the script's result on stderr" || bad raw "$(cat raw.out) | $(cat raw.err)"
"$BUILD/fql" --mcp < /dev/null > /dev/null 2> e.txt; rc=$?
[[ $rc == 2 ]] && grep -q "needs a script" e.txt && ok "--mcp without a script: exit 2" || bad noscript "rc $rc $(cat e.txt)"
finish
