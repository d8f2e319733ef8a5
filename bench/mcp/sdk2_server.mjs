// The 2026-07-28 comparison server for bench/mcp: the official TypeScript
// SDK 2.x (@modelcontextprotocol/server) serving the same trivial tool as
// mcpd's fixtures, test_simple_text, the way its serving guide shows for
// plain node:http: createMcpHandler (a fresh McpServer per request, no
// sessions) wrapped once with toNodeHandler from @modelcontextprotocol/node.
//
// usage: node sdk2_server.mjs --port N [--ready-file F]
import { writeFileSync } from 'node:fs';
import http from 'node:http';
import { createRequire } from 'node:module';

// The SDK is installed under test/node (scripts/setup.sh), not next to us.
const require = createRequire(new URL('../../test/node/package.json', import.meta.url));
const { McpServer, createMcpHandler } = require('@modelcontextprotocol/server');
const { toNodeHandler } = require('@modelcontextprotocol/node');

const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : dflt;
};
const port = Number(opt('--port', '0'));
const readyFile = opt('--ready-file', null);

function newServer() {
  const server = new McpServer({ name: 'sdk2-bench-server', version: '1.0.0' });
  server.registerTool('test_simple_text', {
    description: 'Tests simple text content response',
  }, async () => ({
    content: [{ type: 'text', text: 'This is a simple text response for testing.' }],
  }));
  return server;
}

const handler = createMcpHandler(newServer);
const serve = toNodeHandler(handler);
const httpServer = http.createServer((req, res) => {
  if (!req.url.startsWith('/mcp')) {
    res.writeHead(404).end();
    return;
  }
  serve(req, res);
});

httpServer.listen(port, '127.0.0.1', () => {
  const url = `http://127.0.0.1:${httpServer.address().port}/mcp`;
  process.stderr.write(`sdk2_server: listening on ${url}\n`);
  if (readyFile) writeFileSync(readyFile, url);
});
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => process.exit(0));
