// The comparison server for bench/mcp: the official TypeScript SDK
// (McpServer + StreamableHTTPServerTransport, stateful sessions, one
// transport per session as in the SDK's own examples) exposing the same
// trivial tool as mcpd's fixtures, test_simple_text. Plain node:http, no
// framework, so the numbers are the SDK's and not express's.
// --v2: the SDK 2.x (@modelcontextprotocol/server) for 2026-07-28 instead,
// as its serving guide shows for plain node:http: createMcpHandler (a
// fresh McpServer per request, no sessions) wrapped once with toNodeHandler
// from @modelcontextprotocol/node.
//
// usage: node sdk_server.mjs --port N [--ready-file F] [--sse | --v2]
//   default: enableJsonResponse=true (plain JSON answers, the SDK's fast
//   path for request/response tools); --sse: the SDK default (every POST
//   answered with an SSE stream).
import { randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import http from 'node:http';
import { createRequire } from 'node:module';

// The SDK is installed under test/node (scripts/setup.sh), not next to us.
const require = createRequire(new URL('../../test/node/package.json', import.meta.url));

const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : dflt;
};
const port = Number(opt('--port', '0'));
const readyFile = opt('--ready-file', null);
const json = !args.includes('--sse');
const v2 = args.includes('--v2');
const MAX_BODY = 4 * 1024 * 1024;
const TOOL = ['test_simple_text', { description: 'Tests simple text content response' },
  async () => ({ content: [{ type: 'text', text: 'This is a simple text response for testing.' }] })];

// SDK 2.x: one handler for every request.
function v2Handler() {
  const { McpServer, createMcpHandler } = require('@modelcontextprotocol/server');
  const { toNodeHandler } = require('@modelcontextprotocol/node');
  const serve = toNodeHandler(createMcpHandler(() => {
    const server = new McpServer({ name: 'sdk2-bench-server', version: '1.0.0' });
    server.registerTool(...TOOL);
    return server;
  }));
  return (req, res) => {
    if (!req.url.startsWith('/mcp')) { res.writeHead(404).end(); return; }
    serve(req, res);
  };
}

const transports = new Map();

function newSession() {
  const { McpServer } = require('@modelcontextprotocol/sdk/server/mcp.js');
  const { StreamableHTTPServerTransport } = require('@modelcontextprotocol/sdk/server/streamableHttp.js');
  const server = new McpServer({ name: 'sdk-bench-server', version: '1.0.0' });
  server.registerTool(...TOOL);
  const transport = new StreamableHTTPServerTransport({
    sessionIdGenerator: () => randomUUID(),
    enableJsonResponse: json,
    onsessioninitialized: (sid) => { transports.set(sid, transport); },
  });
  transport.onclose = () => {
    if (transport.sessionId) transports.delete(transport.sessionId);
  };
  return { server, transport };
}

function reply(res, status, msg) {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ jsonrpc: '2.0', error: { code: -32000, message: msg }, id: null }));
}

function readBody(req) {
  return new Promise((resolve, reject) => {
    const parts = [];
    let n = 0;
    req.on('data', (d) => {
      n += d.length;
      if (n > MAX_BODY) { reject(new Error('too large')); req.destroy(); return; }
      parts.push(d);
    });
    req.on('end', () => resolve(Buffer.concat(parts).toString('utf8')));
    req.on('error', reject);
  });
}

const httpServer = http.createServer(v2 ? v2Handler() : async (req, res) => {
  try {
    if (!req.url.startsWith('/mcp')) { reply(res, 404, 'not found'); return; }
    const sid = req.headers['mcp-session-id'];
    if (req.method === 'POST') {
      let body;
      try {
        body = JSON.parse(await readBody(req));
      } catch {
        reply(res, 400, 'bad body');
        return;
      }
      let t = sid ? transports.get(sid) : undefined;
      if (!t) {
        if (sid || body?.method !== 'initialize') {
          reply(res, sid ? 404 : 400, 'no such session');
          return;
        }
        const s = newSession();
        await s.server.connect(s.transport);
        t = s.transport;
      }
      await t.handleRequest(req, res, body);
      return;
    }
    const t = sid ? transports.get(sid) : undefined;
    if (!t) { reply(res, sid ? 404 : 400, 'no such session'); return; }
    await t.handleRequest(req, res);
  } catch (e) {
    if (!res.headersSent) reply(res, 500, String(e));
  }
});

httpServer.listen(port, '127.0.0.1', () => {
  const url = `http://127.0.0.1:${httpServer.address().port}/mcp`;
  process.stderr.write(`sdk_server: listening on ${url} (${v2 ? 'v2' : json ? 'json' : 'sse'})\n`);
  if (readyFile) writeFileSync(readyFile, url);
});
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => process.exit(0));
