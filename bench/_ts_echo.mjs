// The official TypeScript SDK's Streamable HTTP server with one tool, echo(text) -> text:
// the SDK's own McpServer, StreamableHTTPServerTransport (JSON responses, one transport per
// session, as in the SDK's jsonResponseStreamableHttp example) and its Express app.
// node _ts_echo.mjs PORT   (run from .cache/bench-node, where the SDK is installed)
import { randomUUID } from "node:crypto";
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { StreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/streamableHttp.js";
import { createMcpExpressApp } from "@modelcontextprotocol/sdk/server/express.js";
import { isInitializeRequest } from "@modelcontextprotocol/sdk/types.js";
import * as z from "zod/v4";

const sessions = new Map();

function newServer() {
  const server = new McpServer({ name: "bench-echo", version: "0" });
  server.registerTool(
    "echo",
    { description: "Returns its input.", inputSchema: { text: z.string() } },
    async ({ text }) => ({ content: [{ type: "text", text }] }),
  );
  return server;
}

const app = createMcpExpressApp();
app.post("/mcp", async (req, res) => {
  const id = req.headers["mcp-session-id"];
  if (id && sessions.has(id)) {
    await sessions.get(id).handleRequest(req, res, req.body);
    return;
  }
  if (id || !isInitializeRequest(req.body)) {
    res.status(404).json({ jsonrpc: "2.0", error: { code: -32001, message: "Session not found" }, id: null });
    return;
  }
  const transport = new StreamableHTTPServerTransport({
    sessionIdGenerator: () => randomUUID(),
    enableJsonResponse: true,
    onsessioninitialized: (sid) => sessions.set(sid, transport),
  });
  await newServer().connect(transport);
  await transport.handleRequest(req, res, req.body);
});
app.listen(Number(process.argv[2]), "127.0.0.1");
