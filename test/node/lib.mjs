// Shared helpers for the node end-to-end tests of mcpd: start mcpd on an
// ephemeral loopback port (or over stdio), connect SDK clients, speak raw
// HTTP/JSON-RPC. The binary is mcpd-test (mcpd plus the conformance
// fixtures), from the MCPD_TEST environment variable (set by
// test/node/CMakeLists.txt).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';

export const LATEST = '2025-11-25';

export function mcpdPath() {
  const p = process.env.MCPD_TEST;
  if (!p) throw new Error('MCPD_TEST is not set (path of the mcpd-test binary)');
  return p;
}

// Starts `mcpd-test --http 127.0.0.1:0 --ready-file F --fixtures conformance`
// plus extra args; resolves once the ready file holds the URL.
export async function startHttp(extra = [], env = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'zg-mcpd-'));
  const ready = join(dir, 'ready');
  const args = ['--http', '127.0.0.1:0', '--ready-file', ready,
    '--fixtures', 'conformance', ...extra];
  const proc = spawn(mcpdPath(), args, {
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...process.env, ...env },
  });
  let stderr = '';
  proc.stderr.on('data', (d) => { stderr += d; });
  let exited = null;
  proc.on('exit', (code, sig) => { exited = { code, sig }; });

  const deadline = Date.now() + 15000;
  let url = '';
  while (Date.now() < deadline) {
    if (exited) break;
    try {
      url = readFileSync(ready, 'utf8').trim();
    } catch { /* not yet */ }
    if (url.endsWith('/mcp')) break;
    await sleep(20);
  }
  if (!url.endsWith('/mcp')) {
    proc.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`mcpd did not become ready (exit ${JSON.stringify(exited)}): ${stderr}`);
  }
  // Stops mcpd with SIGTERM; a clean exit (status 0, so also no sanitizer
  // report) within 5 s is part of every test that uses a server.
  const stop = async () => {
    let hung = false;
    if (!exited) {
      proc.kill('SIGTERM');
      const t0 = Date.now();
      while (!exited && Date.now() - t0 < 5000) await sleep(20);
      if (!exited) {
        hung = true;
        proc.kill('SIGKILL');
        while (!exited) await sleep(20);
      }
    }
    rmSync(dir, { recursive: true, force: true });
    if (hung || exited.code !== 0) {
      throw new Error(`mcpd did not exit cleanly on SIGTERM (${hung ? 'hung' : JSON.stringify(exited)}): ${stderr.slice(-4000)}`);
    }
    return exited;
  };
  return { url, proc, stop, stderr: () => stderr, exited: () => exited };
}

export function newClient(capabilities = { sampling: {}, elicitation: {} }) {
  return new Client({ name: 'zonegate-node-test', version: '1.0.0' },
    { capabilities });
}

export async function connectHttp(url, capabilities) {
  const client = newClient(capabilities);
  const transport = new StreamableHTTPClientTransport(new URL(url));
  await client.connect(transport);
  return { client, transport };
}

export async function connectStdio({ env = {}, capabilities, args = [] } = {}) {
  const client = newClient(capabilities);
  const transport = new StdioClientTransport({
    command: mcpdPath(),
    args: ['--stdio', '--fixtures', 'conformance', ...args],
    env: { ...process.env, ...env },
    stderr: 'pipe',
  });
  await client.connect(transport);
  return { client, transport };
}

// One raw JSON-RPC POST. Returns {status, headers, text, json}; for SSE
// bodies json is the list of JSON-RPC messages in the stream.
export async function post(url, body, { session, version = LATEST,
  headers = {}, raw = false } = {}) {
  const h = {
    'content-type': 'application/json',
    accept: 'application/json, text/event-stream',
    ...(session ? { 'mcp-session-id': session } : {}),
    ...(version ? { 'mcp-protocol-version': version } : {}),
    ...headers,
  };
  for (const k of Object.keys(h)) if (h[k] === null) delete h[k];
  const res = await fetch(url, {
    method: 'POST', headers: h,
    body: raw ? body : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, headers: res.headers, text, json: parseBody(res, text) };
}

export function parseBody(res, text) {
  const ct = res.headers.get('content-type') || '';
  try {
    if (ct.includes('text/event-stream')) {
      const out = [];
      for (const ev of text.split(/\r?\n\r?\n/)) {
        const data = ev.split(/\r?\n/).filter((l) => l.startsWith('data:'))
          .map((l) => l.slice(5).replace(/^ /, '')).join('\n');
        if (data.trim()) out.push(JSON.parse(data));
      }
      return out;
    }
    if (text) return JSON.parse(text);
  } catch { /* not JSON */ }
  return null;
}

// The JSON-RPC response with the given id in a post() result.
export function responseFor(r, id) {
  const list = Array.isArray(r.json) ? r.json : [r.json];
  return list.find((m) => m && m.id === id && ('result' in m || 'error' in m));
}

// Raw initialize + notifications/initialized; returns the session id.
export async function rawSession(url, version = LATEST) {
  const init = await post(url, {
    jsonrpc: '2.0', id: 1, method: 'initialize',
    params: { protocolVersion: version, capabilities: {},
      clientInfo: { name: 'raw', version: '0' } },
  }, { version: null });
  const session = init.headers.get('mcp-session-id');
  if (init.status !== 200 || !session) {
    throw new Error(`initialize failed: ${init.status} ${init.text}`);
  }
  const note = await post(url, { jsonrpc: '2.0', method: 'notifications/initialized' },
    { session, version });
  if (note.status !== 202) throw new Error(`initialized: ${note.status}`);
  return session;
}

export async function waitFor(pred, ms = 3000, step = 10) {
  const t0 = Date.now();
  while (Date.now() - t0 < ms) {
    if (pred()) return true;
    await sleep(step);
  }
  return pred();
}

export { sleep };

// mcpd over stdio without the SDK: send() writes one JSON line, next()
// resolves with the first message matching pred (or null after ms).
export function startStdioRaw(args = [], env = {}) {
  return startRaw(mcpdPath(), ['--stdio', '--fixtures', 'conformance', ...args], env);
}

// The same for any program that speaks newline-delimited JSON-RPC on its
// stdin/stdout (e.g. zonegate-relay, one channel stream).
export function startRaw(bin, args = [], env = {}) {
  const proc = spawn(bin, args, {
    stdio: ['pipe', 'pipe', 'pipe'],
    env: { ...process.env, ...env },
  });
  const seen = [];
  let buf = '';
  let stderr = '';
  proc.stderr.on('data', (d) => { stderr += d; });
  proc.stdout.on('data', (d) => {
    buf += d;
    let nl;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl).trim();
      buf = buf.slice(nl + 1);
      if (!line) continue;
      try { seen.push(JSON.parse(line)); } catch { seen.push({ unparsable: line }); }
    }
  });
  let exited = null;
  const exitP = new Promise((r) => proc.on('exit', (code, sig) => { exited = { code, sig }; r(exited); }));
  return {
    proc,
    seen,
    stderr: () => stderr,
    sendRaw(text) { proc.stdin.write(text); },
    send(obj) { proc.stdin.write(`${JSON.stringify(obj)}\n`); },
    async next(pred, ms = 3000) {
      const ok = await waitFor(() => seen.some(pred), ms);
      return ok ? seen.find(pred) : null;
    },
    async close() {
      proc.stdin.end();
      const t = setTimeout(() => proc.kill('SIGKILL'), 5000);
      const r = await exitP;
      clearTimeout(t);
      return r;
    },
    exited: () => exited,
  };
}

// The 2026-07-28 InputRequiredResult round trip on a raw stream io: the
// first call asks, a retry with a tampered requestState is -32602, the
// retry with the state as issued completes. req(id, method, params) makes
// a 2026-07-28 request.
export async function irrRoundTrip(io, req) {
  const T = 'test_input_required_result_tampered_state';
  io.send(req(1, 'tools/call', { name: T, arguments: {} }));
  const r1 = (await io.next((m) => m.id === 1)).result;
  assert.equal(r1.resultType, 'input_required');
  const answer = { confirm: { action: 'accept', content: { ok: true } } };
  io.send(req(2, 'tools/call', { name: T, arguments: {}, inputResponses: answer,
    requestState: `${r1.requestState}x` }));
  assert.equal((await io.next((m) => m.id === 2)).error.code, -32602);
  io.send(req(3, 'tools/call', { name: T, arguments: {}, inputResponses: answer,
    requestState: r1.requestState }));
  assert.match((await io.next((m) => m.id === 3)).result.content[0].text, /approved amount 100/);
}

export async function rawInit(io, version = LATEST, id = 0, capabilities = {}) {
  io.send({ jsonrpc: '2.0', id, method: 'initialize',
    params: { protocolVersion: version, capabilities,
      clientInfo: { name: 'raw', version: '0' } } });
  const r = await io.next((m) => m.id === id);
  io.send({ jsonrpc: '2.0', method: 'notifications/initialized' });
  return r;
}
