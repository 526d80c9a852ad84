// A real MCP client for `fql --mcp` (tests/runtime/mcp.sh): the official TypeScript SDK's Client over
// its stdio transport, pinned in package-lock.json. Starts `FQL --mcp FILE`, lists the tools and
// makes the calls given as JSON on the command line; prints one JSON line per step for the shell
// test to check.
// usage: node client.mjs FQL FILE '[["tool", {args}], ...]'
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";

const [fql, file, callsJson] = process.argv.slice(2);
const transport = new StdioClientTransport({ command: fql, args: ["--mcp", file], env: process.env, stderr: "pipe" });
let stderr = "";
transport.stderr?.on("data", (d) => { stderr += d; });
const client = new Client({ name: "fql-test", version: "1.0.0" });
try {
  await client.connect(transport);
  const v = client.getServerVersion();
  console.log(JSON.stringify({ step: "initialize", server: v, capabilities: client.getServerCapabilities() }));
  const { tools } = await client.listTools();
  console.log(JSON.stringify({ step: "tools/list", tools }));
  for (const [name, args] of JSON.parse(callsJson || "[]")) {
    try {
      const r = await client.callTool({ name, arguments: args });
      console.log(JSON.stringify({ step: "tools/call", name, result: r }));
    } catch (e) {
      console.log(JSON.stringify({ step: "tools/call", name, error: { code: e.code, message: e.message } }));
    }
  }
  await client.close();
} catch (e) {
  console.log(JSON.stringify({ step: "failed", message: String(e), stderr }));
  process.exitCode = 1;
}
