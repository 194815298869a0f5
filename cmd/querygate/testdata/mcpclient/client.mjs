// The official MCP TypeScript SDK's client against querygate's /mcp, for
// cmd/querygate/mcp_ts_test.go. It reads a plan on stdin:
//   {"url": "...", "sessions": [{"token": "...", "calls": [{"name": "...", "arguments": {...}}]}]}
// and for each session (one token) connects (initialize), lists the tools
// and makes the calls, then prints one JSON report on stdout:
//   {"sessions": [{"tools": [...], "results": [{"isError", "text", "structuredContent"} | {"protocolError"}]}],
//    "raw": "every response body received, for the leak sweep"}
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";

let input = "";
for await (const chunk of process.stdin) input += chunk;
const plan = JSON.parse(input);

const raw = [];
// Keeps a copy of every response body (the SDK reads the original).
const recordingFetch = async (url, init) => {
  const resp = await fetch(url, init);
  raw.push(await resp.clone().text());
  return resp;
};

const report = { sessions: [], raw: "" };
for (const s of plan.sessions) {
  const transport = new StreamableHTTPClientTransport(new URL(plan.url), {
    requestInit: { headers: { Authorization: `Bearer ${s.token}` } },
    fetch: recordingFetch,
  });
  const client = new Client({ name: "querygate-ts-test", version: "1.0.0" });
  await client.connect(transport);
  const { tools } = await client.listTools();
  const out = { tools: tools.map((t) => t.name).sort(), schemas: Object.fromEntries(tools.map((t) => [t.name, t.inputSchema])), results: [] };
  for (const c of s.calls) {
    try {
      const r = await client.callTool({ name: c.name, arguments: c.arguments ?? {} });
      out.results.push({ isError: r.isError === true, text: r.content?.[0]?.text ?? "", structuredContent: r.structuredContent ?? null });
    } catch (e) {
      out.results.push({ protocolError: String(e?.message ?? e) });
    }
  }
  await client.close();
  report.sessions.push(out);
}
report.raw = raw.join("\n");
process.stdout.write(JSON.stringify(report));
