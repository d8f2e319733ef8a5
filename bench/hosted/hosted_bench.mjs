// What hosting adds: tools/call "echo" of server-everything, sent as raw
// newline-delimited JSON-RPC over stdio (a) to the server itself, (b) to
// mcpd --servers hosting it shared, (c) hosting it per session (the
// session's child already running). Reports p50/p99 of sequential round
// trips, throughput with 16 calls in flight, and apart from that the
// first call of a per-session session (the child's start-up).
// Usage: node hosted_bench.mjs MCPD [N]   (run from the repository root)
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';

const MCPD = resolve(process.argv[2]);
const N = Number(process.argv[3] || 2000);
const NM = resolve('test/node/node_modules');
const NODE = join(NM, '.bin/node');
const EV = join(NM, '@modelcontextprotocol/server-everything/dist/index.js');
const dir = mkdtempSync(join(tmpdir(), 'zg-hbench-'));

function rpc(cmd, args) {
  const p = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'ignore'], env: { PATH: process.env.PATH } });
  const waiting = new Map();
  let next = 1;
  createInterface({ input: p.stdout }).on('line', (l) => {
    const m = JSON.parse(l);
    if (m.id !== undefined && waiting.has(m.id)) { waiting.get(m.id)(m); waiting.delete(m.id); }
  });
  const call = (method, params) => new Promise((res) => {
    const id = next++;
    waiting.set(id, res);
    p.stdin.write(`${JSON.stringify({ jsonrpc: '2.0', id, method, params })}\n`);
  });
  return { p, call, note: (method) => p.stdin.write(`${JSON.stringify({ jsonrpc: '2.0', method })}\n`) };
}

async function session(cmd, args) {
  const s = rpc(cmd, args);
  await s.call('initialize', { protocolVersion: '2025-11-25', capabilities: {},
    clientInfo: { name: 'bench', version: '1' } });
  s.note('notifications/initialized');
  return s;
}

const pct = (v, q) => v[Math.min(v.length - 1, Math.floor(q * v.length))];

async function measure(label, s, tool) {
  const args = { name: tool, arguments: { message: 'x' } };
  for (let i = 0; i < 200; i++) await s.call('tools/call', args); // warm-up
  const lat = [];
  for (let i = 0; i < N; i++) {
    const t = process.hrtime.bigint();
    await s.call('tools/call', args);
    lat.push(Number(process.hrtime.bigint() - t) / 1000);
  }
  lat.sort((a, b) => a - b);
  const t0 = process.hrtime.bigint();
  let sent = 0;
  const worker = async () => { while (sent < N) { sent++; await s.call('tools/call', args); } };
  await Promise.all(Array.from({ length: 16 }, worker));
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  const r = { label, p50: pct(lat, 0.5), p99: pct(lat, 0.99), rps: N / secs };
  console.log(`${label.padEnd(28)} p50 ${r.p50.toFixed(0).padStart(6)} us  p99 ${r.p99.toFixed(0).padStart(6)} us  ${r.rps.toFixed(0).padStart(6)} calls/s`);
  return r;
}

const servers = (shared) => {
  const f = join(dir, `s${shared}.json`);
  writeFileSync(f, JSON.stringify({ mcpServers: { ev: { command: NODE, args: [EV, 'stdio'], shared } } }));
  return f;
};

const direct = await session(NODE, [EV, 'stdio']);
const a = await measure('server-everything direct', direct, 'echo');
direct.p.kill();
const sh = await session(MCPD, ['--servers', servers(true)]);
const b = await measure('mcpd --servers, shared', sh, 'ev.echo');
sh.p.kill();
const ps = await session(MCPD, ['--servers', servers(false)]);
const t = process.hrtime.bigint();
await ps.call('tools/call', { name: 'ev.echo', arguments: { message: 'first' } });
const first = Number(process.hrtime.bigint() - t) / 1000;
const c = await measure('mcpd --servers, per session', ps, 'ev.echo');
ps.p.kill();
console.log(`added at p50: shared ${(b.p50 - a.p50).toFixed(0)} us, per session ${(c.p50 - a.p50).toFixed(0)} us`);
console.log(`throughput vs direct: shared ${(100 * b.rps / a.rps).toFixed(0)}%, per session ${(100 * c.rps / a.rps).toFixed(0)}%`);
console.log(`first call of a session (starts its child): ${(first / 1000).toFixed(0)} ms`);
rmSync(dir, { recursive: true, force: true });
