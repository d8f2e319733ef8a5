// Helpers shared by the node end-to-end tests that start zonegate's
// daemons (gateway, relay): processes, waiting, JSON-RPC errors from SDK
// calls, and raw Streamable HTTP sessions. No SDK import here, so any
// test directory can use it.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { createServer } from 'node:http';
import { after } from 'node:test';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

// Node 22's test runner prints a failure thrown in a describe block's
// after hook but still exits 0, so a check there (a daemon's exit status,
// a sanitizer report in its log) could never fail a ctest case. A test
// file registers such hooks with checkedAfter and calls guardHooks() once
// at its top level: the top-level hook rethrows the first error, which
// does fail the run.
let hookError = null;

// after(fn) whose failure is remembered for guardHooks.
export function checkedAfter(fn) {
  return after(async (...a) => {
    try {
      return await fn(...a);
    } catch (e) {
      hookError ??= e;
      throw e;
    }
  });
}

// Registers the top-level hook that fails the run after a checkedAfter
// failure; call it at a test file's top level, outside any describe.
export function guardHooks() {
  after(() => {
    if (hookError) throw hookError;
  });
}

// Starts bin with args in env; p.log collects stderr, p.done resolves to
// the exit code.
export function daemon(bin, args, env) {
  const p = spawn(bin, args, { env, stdio: ['ignore', 'ignore', 'pipe'] });
  p.log = '';
  p.stderr.on('data', (d) => { p.log += d; });
  p.done = new Promise((res) => p.on('exit', (code) => res(code)));
  return p;
}

// Signals p unless it has already exited; resolves to its exit code.
export async function stop(p, sig = 'SIGTERM') {
  if (p && p.exitCode === null && p.signalCode === null) p.kill(sig);
  return p?.done;
}

// Polls fn (sync or async; a throw counts as not yet) until it is truthy.
export async function waitFor(what, fn, ms = 8000) {
  const end = Date.now() + ms;
  for (;;) {
    try { if (await fn()) return; } catch { /* retry */ }
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

// The error a promise (an SDK call) rejects with; fails if it resolves.
export async function rpcError(promise) {
  try {
    await promise;
  } catch (e) {
    return e;
  }
  assert.fail('expected a JSON-RPC error');
}

// The JSON-RPC messages in an SSE body (its data: lines).
export function sseMessages(text) {
  return text.split('\n').filter((l) => l.startsWith('data:'))
    .map((l) => l.slice(5).trim()).filter(Boolean).map((l) => JSON.parse(l));
}

// Reads an open SSE body (a fetch Response's body) in the background,
// pushing each data: message onto frames as it arrives; ends quietly when
// the request is aborted.
export function sseFollow(body, frames) {
  (async () => {
    const dec = new TextDecoder();
    let buf = '';
    try {
      for await (const chunk of body) {
        buf += dec.decode(chunk, { stream: true });
        let i;
        while ((i = buf.indexOf('\n')) >= 0) {
          const line = buf.slice(0, i);
          buf = buf.slice(i + 1);
          if (line.startsWith('data:') && line.length > 6) frames.push(JSON.parse(line.slice(5)));
        }
      }
    } catch { /* aborted */ }
  })();
}

export const MCP_HEADERS = { 'content-type': 'application/json',
  accept: 'application/json, text/event-stream' };

// A raw 2026-07-28 (stateless) POST to url with a bearer token: the
// revision's _meta (client capabilities caps) and headers (Mcp-Name: the
// tool or prompt name, the URI, or a tasks method's taskId; extra: more
// request headers). Returns the response's message (JSON, or an SSE
// body's last).
export async function post2026(url, token, method, params = {}, caps = {}, extra = {}) {
  const name = method.startsWith('tasks/') ? params.taskId : params.name ?? params.uri;
  const r = await fetch(url, { method: 'POST',
    headers: { ...MCP_HEADERS, authorization: `Bearer ${token}`,
      'mcp-protocol-version': '2026-07-28', 'mcp-method': method,
      ...(name ? { 'mcp-name': name } : {}), ...extra },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method,
      params: { ...params, _meta: { 'io.modelcontextprotocol/protocolVersion': '2026-07-28',
        'io.modelcontextprotocol/clientCapabilities': caps } } }) });
  const text = await r.text();
  if (r.headers.get('content-type')?.includes('text/event-stream')) return sseMessages(text).at(-1);
  return JSON.parse(text);
}

// A raw Streamable HTTP session at url: initialize (protocol 2025-06-18)
// and notifications/initialized. Returns { headers, post(body) -> text }.
export async function rawSession(url, extra = {}) {
  const base = { ...MCP_HEADERS, ...extra };
  const r = await fetch(url, { method: 'POST', headers: base,
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize',
      params: { protocolVersion: '2025-06-18', capabilities: {},
        clientInfo: { name: 'raw', version: '1' } } }) });
  assert.equal(r.status, 200, await r.clone().text());
  const headers = { ...base, 'mcp-session-id': r.headers.get('mcp-session-id'),
    'mcp-protocol-version': '2025-06-18' };
  await r.text();
  const post = async (body) => (await fetch(url, { method: 'POST', headers,
    body: JSON.stringify(body) })).text();
  await post({ jsonrpc: '2.0', method: 'notifications/initialized' });
  return { headers, post };
}

// A test CA (ca.pem) and a certificate for localhost / 127.0.0.1 it signed
// (srv.pem, srv.key), made with the openssl command in dir; returns the
// PEM texts { key, cert, ca }.
export function makeTestCerts(dir) {
  const ossl = (...a) => {
    const r = spawnSync('openssl', a, { cwd: dir, encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
  };
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  ossl('req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '1',
    '-subj', '/CN=zonegate test CA');
  ossl('req', ...ec, '-keyout', 'srv.key', '-out', 'srv.csr', '-subj', '/CN=localhost');
  writeFileSync(join(dir, 'srv.ext'), 'subjectAltName=DNS:localhost,IP:127.0.0.1\n');
  ossl('x509', '-req', '-in', 'srv.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key',
    '-CAcreateserial', '-out', 'srv.pem', '-days', '1', '-extfile', 'srv.ext');
  return { key: readFileSync(join(dir, 'srv.key')), cert: readFileSync(join(dir, 'srv.pem')),
    ca: readFileSync(join(dir, 'ca.pem')) };
}

// A recording tool zone for a gateway's remote (`url`) upstream: a
// 2025-11-25 Streamable HTTP server (JSON answers, session id "rec-1")
// listing tools, whose tools/call is answered with onCall(params) (the
// result); the other lists are empty, other methods -32601. Not started:
// the caller listens.
export function recordingServer(tools, onCall) {
  const lists = { 'tools/list': () => ({ tools }), 'resources/list': () => ({ resources: [] }),
    'resources/templates/list': () => ({ resourceTemplates: [] }),
    'prompts/list': () => ({ prompts: [] }) };
  return createServer((req, res) => {
    let body = '';
    req.on('data', (d) => { body += d; });
    req.on('end', () => {
      if (req.method !== 'POST') { res.writeHead(405); res.end(); return; }
      const m = JSON.parse(body);
      if (!('id' in m)) { res.writeHead(202); res.end(); return; }
      const out = (msg, extra = {}) => {
        res.writeHead(200, { 'content-type': 'application/json', ...extra });
        res.end(JSON.stringify({ jsonrpc: '2.0', id: m.id, ...msg }));
      };
      if (m.method === 'initialize') {
        out({ result: { protocolVersion: m.params.protocolVersion, capabilities: { tools: {} },
          serverInfo: { name: 'rec', version: '1' } } }, { 'mcp-session-id': 'rec-1' });
      } else if (m.method === 'tools/call') {
        out({ result: onCall(m.params) });
      } else if (lists[m.method]) {
        out({ result: lists[m.method]() });
      } else {
        out({ error: { code: -32601, message: 'Method not found' } });
      }
    });
  });
}
