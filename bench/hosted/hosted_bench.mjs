// What hosting adds: tools/call "echo" of server-everything, sent as raw
// newline-delimited JSON-RPC over stdio (a) to the server itself, (b) to
// mcpd --servers hosting it shared, (c) hosting it per session (the
// session's child already running). Reports p50/p99 of sequential round
// trips, throughput with 16 calls in flight, the CPU time per call of mcpd
// and of the server (all threads, from /proc/PID/task/*/schedstat), and
// apart from that the first call of a per-session session (the child's
// start-up). The three
// are measured in turn ROUNDS times; figures are medians over the rounds.
// With BASE_MCPD, another build of mcpd (say, before a change) is measured
// the same way in the same rounds.
// The server is server-everything unless HB_SERVER names another, as a
// JSON array of its command and arguments, with HB_TOOL (its tool's name),
// HB_ARGS (the call's arguments, JSON) and HB_LABEL (its name in the
// report): bench/hosted/run.sh's SERVER=native uses mcpd-test --stdio.
// Usage: node hosted_bench.mjs MCPD [N] [ROUNDS] [BASE_MCPD]  (from the
// repository root)
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';

const MCPD = resolve(process.argv[2]);
const N = Number(process.argv[3] || 2000);
const ROUNDS = Number(process.argv[4] || 3);
const BASE = process.argv[5] ? resolve(process.argv[5]) : null;
const NM = resolve('test/node/node_modules');
const NODE = join(NM, '.bin/node');
const EV = join(NM, '@modelcontextprotocol/server-everything/dist/index.js');
const SERVER = process.env.HB_SERVER ? JSON.parse(process.env.HB_SERVER) : [NODE, EV, 'stdio'];
const TOOL = process.env.HB_TOOL || 'echo';
const ARGS = process.env.HB_ARGS ? JSON.parse(process.env.HB_ARGS) : { message: 'x' };
const LABEL = process.env.HB_LABEL || 'server-everything';
const dir = mkdtempSync(join(tmpdir(), 'zg-hbench-'));

let done = false; // set before the servers are stopped

function rpc(cmd, args) {
  const p = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'ignore'], env: { PATH: process.env.PATH } });
  const waiting = new Map();
  let next = 1;
  // a server that dies would leave its calls waiting for ever
  p.on('exit', (code, sig) => {
    if (!done) { console.error(`hosted_bench: ${cmd} exited (${code ?? sig})`); process.exit(1); }
  });
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

// CPU time (ns) of process pid, all its threads (schedstat: time on a CPU).
function cpuNs(pid) {
  let ns = 0;
  try {
    for (const t of readdirSync(`/proc/${pid}/task`))
      ns += Number(readFileSync(`/proc/${pid}/task/${t}/schedstat`, 'utf8').split(' ')[0]);
  } catch { /* gone */ }
  return ns;
}
// [pid's CPU, its children's CPU] (ns): mcpd and the servers it hosts.
function treeCpu(pid) {
  let kids = 0;
  for (const p of readdirSync('/proc')) {
    if (!/^\d+$/.test(p)) continue;
    try {
      const st = readFileSync(`/proc/${p}/stat`, 'utf8');
      if (Number(st.slice(st.lastIndexOf(')') + 2).split(' ')[1]) === pid) kids += cpuNs(p);
    } catch { /* gone */ }
  }
  return [cpuNs(pid), kids];
}

const pct = (v, q) => v[Math.min(v.length - 1, Math.floor(q * v.length))];

async function measure(s, tool) {
  const args = { name: tool, arguments: ARGS };
  for (let i = 0; i < 200; i++) await s.call('tools/call', args); // warm-up
  const cpu0 = treeCpu(s.p.pid);
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
  const cpu1 = treeCpu(s.p.pid);
  // CPU per call (us) over both measurements' 2N calls
  const per = (i) => (cpu1[i] - cpu0[i]) / 1000 / (2 * N);
  return { p50: pct(lat, 0.5), p99: pct(lat, 0.99), rps: N / secs, cpu: per(0), kcpu: per(1) };
}

const servers = (shared) => {
  const f = join(dir, `s${shared}.json`);
  writeFileSync(f, JSON.stringify({ mcpServers: { ev: { command: SERVER[0], args: SERVER.slice(1), shared } } }));
  return f;
};

// All three sessions stay open; every round measures each in turn, so
// that load from elsewhere on the machine hits them alike.
const direct = await session(SERVER[0], SERVER.slice(1));
const sh = await session(MCPD, ['--servers', servers(true)]);
const ps = await session(MCPD, ['--servers', servers(false)]);
const t = process.hrtime.bigint();
await ps.call('tools/call', { name: `ev.${TOOL}`, arguments: ARGS });
const first = Number(process.hrtime.bigint() - t) / 1000;
const runs = [[`${LABEL} direct`, direct, TOOL],
  ['mcpd --servers, shared', sh, `ev.${TOOL}`],
  ['mcpd --servers, per session', ps, `ev.${TOOL}`]];
if (BASE) {
  const bsh = await session(BASE, ['--servers', servers(true)]);
  const bps = await session(BASE, ['--servers', servers(false)]);
  await bps.call('tools/call', { name: `ev.${TOOL}`, arguments: ARGS });
  runs.push(['base build, shared', bsh, `ev.${TOOL}`], ['base build, per session', bps, `ev.${TOOL}`]);
}
const res = runs.map(() => []);
for (let r = 0; r < ROUNDS; r++)
  for (let i = 0; i < runs.length; i++) res[i].push(await measure(runs[i][1], runs[i][2]));
const med = (v) => { const w = [...v].sort((a, b) => a - b); return w[Math.floor((w.length - 1) / 2)]; };
const m = res.map((rs) => ({ p50: med(rs.map((x) => x.p50)), p99: med(rs.map((x) => x.p99)),
  rps: med(rs.map((x) => x.rps)), cpu: med(rs.map((x) => x.cpu)), kcpu: med(rs.map((x) => x.kcpu)) }));
runs.forEach(([label], i) => console.log(`${label.padEnd(29)} p50 ${m[i].p50.toFixed(0).padStart(6)} us  p99 ${m[i].p99.toFixed(0).padStart(6)} us  ${m[i].rps.toFixed(0).padStart(6)} calls/s`));
const added = (i) => res[i].map((x, r) => (x.p50 - res[0][r].p50).toFixed(0)).join(' ');
console.log(`added at p50 per round (us): shared ${added(1)}; per session ${added(2)}`);
console.log(`added at p50, median of rounds: shared ${(m[1].p50 - m[0].p50).toFixed(0)} us, per session ${(m[2].p50 - m[0].p50).toFixed(0)} us`);
console.log(`throughput vs direct: shared ${(100 * m[1].rps / m[0].rps).toFixed(0)}%, per session ${(100 * m[2].rps / m[0].rps).toFixed(0)}%`);
if (BASE) {
  console.log(`base build, added at p50 per round (us): shared ${added(3)}; per session ${added(4)}`);
  console.log(`base build, added at p50, median of rounds: shared ${(m[3].p50 - m[0].p50).toFixed(0)} us, per session ${(m[4].p50 - m[0].p50).toFixed(0)} us`);
}
// what the machine's load does not move much: CPU time per call
const cpuOf = (i) => `${m[i].cpu.toFixed(1)} + server ${m[i].kcpu.toFixed(1)}`;
console.log(`CPU per call (us, medians): server directly ${m[0].cpu.toFixed(1)}; ` +
  `mcpd shared ${cpuOf(1)}; mcpd per session ${cpuOf(2)}` +
  (BASE ? `; base shared ${cpuOf(3)}; base per session ${cpuOf(4)}` : ''));
console.log(`first call of a session (starts its child): ${(first / 1000).toFixed(0)} ms`);
done = true;
for (const [, s] of runs) s.p.kill();
rmSync(dir, { recursive: true, force: true });
