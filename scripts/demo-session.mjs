// The README's demo: drives mcpd with the official MCP TypeScript SDK client
// over stdio and over Streamable HTTP, shows what a session looks like
// (initialize, tools/list, tools/call), shows a DNS-rebinding request being
// refused, and prints a per-step timing table.
//
// usage: node scripts/demo-session.mjs BUILD_DIR [extra mcpd args...]
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, existsSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const sdk = join(root, 'test/node/node_modules/@modelcontextprotocol/sdk/dist/esm');
const { Client } = await import(pathToFileURL(join(sdk, 'client/index.js')));
const { StdioClientTransport } = await import(pathToFileURL(join(sdk, 'client/stdio.js')));
const { StreamableHTTPClientTransport } =
  await import(pathToFileURL(join(sdk, 'client/streamableHttp.js')));

const build = resolve(process.argv[2] || join(root, 'build'));
const extra = process.argv.slice(3);
const mcpd = join(build, 'bin/mcpd');
const rows = [];
const color = process.stdout.isTTY;
const bold = (s) => (color ? `\x1b[1m${s}\x1b[0m` : s);

async function timed(transport, step, fn) {
  const t0 = process.hrtime.bigint();
  const out = await fn();
  rows.push({ transport, step, ms: Number(process.hrtime.bigint() - t0) / 1e6 });
  return out;
}

function show(title, obj) {
  console.log(`${bold(title)}\n${JSON.stringify(obj, null, 2)}\n`);
}

async function session(label, transport, callArgs) {
  const client = new Client({ name: 'zonegate-demo', version: '1.0.0' });
  await timed(label, 'initialize', () => client.connect(transport));
  const info = client.getServerVersion();
  const version = transport.protocolVersion ? `, protocol ${transport.protocolVersion}` : '';
  console.log(`${bold(`[${label}]`)} connected to ${info.name} ${info.version}${version}`);
  const { tools } = await timed(label, 'tools/list', () => client.listTools());
  console.log(`${bold(`[${label}]`)} tools: ${tools.map((t) => t.name).join(', ')}`);
  for (const [name, args] of callArgs(tools)) {
    const res = await timed(label, `tools/call ${name}`,
      () => client.callTool({ name, arguments: args }));
    show(`[${label}] tools/call ${name} ${JSON.stringify(args)} ->`, res);
  }
  await timed(label, 'ping', () => client.ping());
  await client.close();
}

// A request as a web page on another origin would send it after a DNS
// rebinding: refused before any session exists.
function rebinding(url) {
  const u = new URL(url);
  return new Promise((ok, fail) => {
    const req = http.request({
      host: u.hostname, port: u.port, path: u.pathname, method: 'POST',
      headers: {
        Host: 'evil.example.com', Origin: 'http://evil.example.com',
        'Content-Type': 'application/json',
        Accept: 'application/json, text/event-stream',
      },
    }, (res) => {
      let body = '';
      res.on('data', (d) => { body += d; });
      res.on('end', () => ok({ status: res.statusCode, body }));
    });
    req.on('error', fail);
    req.end(JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize',
      params: { protocolVersion: '2025-11-25', capabilities: {},
        clientInfo: { name: 'evil', version: '0' } } }));
  });
}

function pickCalls(tools) {
  const calls = [['time_now', {}]];
  if (tools.some((t) => t.name === 'rag_search')) {
    calls.push(['rag_search', { query: 'container escape vulnerabilities', k: 3 }]);
  }
  return calls;
}

async function waitFile(path, child) {
  for (let i = 0; i < 200; i++) {
    if (existsSync(path)) {
      const url = readFileSync(path, 'utf8').trim();
      if (url.endsWith('/mcp')) return url;
    }
    if (child.exitCode !== null) throw new Error('mcpd exited early');
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error('mcpd did not start');
}

const work = mkdtempSync(join(tmpdir(), 'zg-demo-'));
let httpd;
try {
  console.log(bold('== mcpd over stdio (the way an MCP client runs a local server) ==\n'));
  await session('stdio', new StdioClientTransport({
    command: mcpd, args: ['--stdio', ...extra], stderr: 'inherit' }), pickCalls);

  console.log(bold('== mcpd over Streamable HTTP on loopback ==\n'));
  const ready = join(work, 'ready');
  httpd = spawn(mcpd, ['--http', '127.0.0.1:0', '--ready-file', ready, ...extra],
    { stdio: ['ignore', 'inherit', 'inherit'] });
  const url = await waitFile(ready, httpd);
  await session('http', new StreamableHTTPClientTransport(new URL(url)), pickCalls);

  const r = await timed('http', 'rebinding attempt', () => rebinding(url));
  console.log(`${bold('[http] DNS-rebinding request (Host/Origin evil.example.com):')} ` +
    `HTTP ${r.status} ${r.body}\n`);
  if (r.status !== 403) throw new Error('rebinding request was not refused');

  console.log(bold('== timings =='));
  console.log('| transport | step | ms |\n| --- | --- | ---: |');
  for (const row of rows) console.log(`| ${row.transport} | ${row.step} | ${row.ms.toFixed(2)} |`);
} finally {
  if (httpd) httpd.kill('SIGTERM');
  rmSync(work, { recursive: true, force: true });
}
