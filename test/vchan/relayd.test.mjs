// End to end, real processes: one agent zone's relay daemon
// (`zonegate-relay --daemon`) holds the zone's channel to gatewayd and
// serves every MCP client of the zone: two stdio clients (the official
// SDK client running `zonegate-relay` as its server command, which
// reaches the daemon over its unix socket) and one Streamable HTTP client
// of the daemon's endpoint, all calling tools at once, each with its own
// gateway session (seen in the audit log). Hostile clients of the socket
// (garbage, an oversize line, one that never reads, one that dies in the
// middle of a message) disturb no one else; the client cap holds; only
// our own uid may connect.
// Env: GATEWAYD, MCPD_TEST (mcpd-test), RELAY.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { daemon as spawnDaemon, stop, waitFor } from '../common/harness.mjs';

const SDK = '../node/node_modules/@modelcontextprotocol/sdk/dist/esm';
const { Client } = await import(`${SDK}/client/index.js`);
const { StdioClientTransport } = await import(`${SDK}/client/stdio.js`);
const { StreamableHTTPClientTransport } =
  await import(`${SDK}/client/streamableHttp.js`);

const { GATEWAYD, MCPD_TEST, RELAY } = process.env;
const dir = mkdtempSync(join(tmpdir(), 'zg-relayd-'));
const env = { ...process.env, ZONEGATE_SIM_DIR: join(dir, 'sim') };
delete env.ZONEGATE_RELAY_SOCKET;
delete env.ZONEGATE_CHAN;
const daemon = (bin, args, extra = {}) => spawnDaemon(bin, args, { ...env, ...extra });
const sockA = join(dir, 'a.sock');
const sockB = join(dir, 'b.sock');
const audit = join(dir, 'audit.log');

writeFileSync(join(dir, 'gw.json'), JSON.stringify({
  zones: { a: { domid: 11, role: 'agent', chan: 'sim:11:a' },
    b: { domid: 13, role: 'agent', chan: 'sim:13:b' },
    t1: { domid: 12, role: 'tool', chan: 'sim:12:t1' } },
  policy: 'p.policy', audit_log: 'audit.log', audit_flush_ms: 0, audit_args: true }));
writeFileSync(join(dir, 'p.policy'), 'a  t1.*  allow\nb  t1.*  allow\n');

const INIT = { jsonrpc: '2.0', id: 'init', method: 'initialize',
  params: { protocolVersion: '2025-06-18', capabilities: {},
    clientInfo: { name: 'raw', version: '1' } } };
const sum = (id, a, b) => ({ jsonrpc: '2.0', id, method: 'tools/call',
  params: { name: 't1.test_structured_output', arguments: { a, b } } });

// A raw client of a daemon's socket: s.msgs collects its lines (parsed),
// s.send(obj or text) writes one line, s.reply(id) waits for an answer.
function rawClient(path) {
  const s = connect(path);
  s.buf = '';
  s.msgs = [];
  s.ended = false;
  s.on('data', (d) => {
    s.buf += d;
    for (let i; (i = s.buf.indexOf('\n')) >= 0;) {
      const line = s.buf.slice(0, i);
      s.buf = s.buf.slice(i + 1);
      if (line.trim()) s.msgs.push(JSON.parse(line));
    }
  });
  s.on('end', () => { s.ended = true; });
  s.on('close', () => { s.ended = true; });
  s.on('error', () => {});
  s.send = (o) => s.write(`${typeof o === 'string' ? o : JSON.stringify(o)}\n`);
  s.reply = async (id) => {
    let m;
    await waitFor(`reply ${JSON.stringify(id)}`, () => (m = s.msgs.find((x) => x.id === id)));
    return m;
  };
  return s;
}

// A raw client past initialize.
async function rawSession(path) {
  const s = rawClient(path);
  await once(s, 'connect');
  s.send(INIT);
  assert.ok((await s.reply('init')).result, 'initialized');
  s.send({ jsonrpc: '2.0', method: 'notifications/initialized' });
  return s;
}

async function stdioClient(args, extra = {}) {
  const transport = new StdioClientTransport({ command: RELAY, args,
    env: { ...env, ...extra }, stderr: 'pipe' });
  const client = new Client({ name: 'zg-relayd', version: '1.0.0' });
  await client.connect(transport);
  return client;
}

async function httpClient(url) {
  const c = new Client({ name: 'zg-relayd-http', version: '1.0.0' });
  await c.connect(new StreamableHTTPClientTransport(new URL(url)));
  return c;
}

const auditRecords = () => readFileSync(audit, 'utf8').split('\n').filter(Boolean)
  .map((l) => JSON.parse(l));

// n calls of client (a = base + i), each checked against its own sum.
async function calls(client, base, n) {
  for (let i = 0; i < n; i++) {
    const r = await client.callTool({ name: 't1.test_structured_output',
      arguments: { a: base + i, b: 0.5 } });
    assert.equal(r.structuredContent.sum, base + i + 0.5);
  }
}

describe('one relay daemon serves every MCP client of its zone', () => {
  let mcpd, gw, relayd, relaydB, url;
  before(async () => {
    mcpd = daemon(MCPD_TEST, ['--chan', 'sim:12:t1', '--fixtures', 'conformance']);
    gw = spawnDaemon(GATEWAYD, ['--config', join(dir, 'gw.json')], env);
    await waitFor('gatewayd up', () => / up: /.test(gw.log));
    const ready = join(dir, 'url');
    // The channel comes from ZONEGATE_CHAN, as zonectl sets it.
    relayd = daemon(RELAY, ['--daemon', '--socket', sockA, '--http', '127.0.0.1:0',
      '--ready-file', ready, '--max-message', '65536', '--client-queue', '262144'],
    { ZONEGATE_CHAN: 'sim:11:a' });
    relaydB = daemon(RELAY, ['--daemon', '--socket', sockB, '--chan', 'sim:13:b',
      '--max-clients', '2']);
    await waitFor('relay daemon', () => {
      url = readFileSync(ready, 'utf8').trim();
      return url.endsWith('/mcp');
    });
    await waitFor('channels up', () => /channel sim:11:a up/.test(relayd.log) &&
      /channel sim:13:b up/.test(relaydB.log));
    // the tool zone's catalogue is at the gateway
    const probe = await rawSession(sockA);
    await waitFor('t1 listed', async () => {
      probe.msgs.length = 0;
      probe.send({ jsonrpc: '2.0', id: 'l', method: 'tools/list' });
      const r = await probe.reply('l');
      return r.result.tools.some((t) => t.name === 't1.test_structured_output');
    }, 15000);
    probe.end();
  });
  after(async () => {
    await stop(relayd);
    await stop(relaydB);
    await stop(gw);
    await stop(mcpd);
    rmSync(dir, { recursive: true, force: true });
  });

  test('the socket is ours alone, mode 0600', () => {
    const st = statSync(sockA);
    assert.ok(st.isSocket());
    assert.equal(st.mode & 0o777, 0o600);
    assert.equal(st.uid, process.getuid());
  });

  test('a second daemon on a live socket, or on a file that is no socket, does not start', async () => {
    // (Proves the liveness check: without it the second one takes the
    // socket path over and runs; the bound on the wait turns that into
    // a failure.)
    const second = daemon(RELAY, ['--daemon', '--socket', sockA, '--chan', 'sim:11:a']);
    const ended = await Promise.race([second.done, sleep(5000).then(() => 'still running')]);
    await stop(second);
    assert.equal(ended, 1, second.log);
    assert.match(second.log, /another relay daemon is serving/);
    const file = join(dir, 'not-a-socket');
    writeFileSync(file, 'keep me');
    const third = daemon(RELAY, ['--daemon', '--socket', file, '--chan', 'sim:11:a']);
    assert.equal(await third.done, 1);
    assert.match(third.log, /not a socket/);
    assert.equal(readFileSync(file, 'utf8'), 'keep me');
    assert.ok(statSync(sockA).isSocket(), 'the first daemon keeps its socket');
  });

  test('two stdio clients and one HTTP client at once, each its own session', async () => {
    // One stdio client finds the daemon at ZONEGATE_RELAY_SOCKET (the
    // agent's config names just `zonegate-relay`); the other names it.
    const s1 = await stdioClient([], { ZONEGATE_RELAY_SOCKET: sockA });
    const s2 = await stdioClient(['--via', sockA]);
    const h = await httpClient(url);
    const before = auditRecords().length;
    await Promise.all([calls(s1, 1000, 12), calls(s2, 2000, 12), calls(h, 3000, 12)]);
    // Each client's calls are one gateway session of zone a: three
    // distinct sessions, and each session carries one client's calls only.
    const bySession = new Map();
    for (const r of auditRecords().slice(before)) {
      if (r.method !== 'tools/call' || r.zone !== 'a') continue;
      const base = Math.floor(r.args.a / 1000);
      if (!bySession.has(r.session)) bySession.set(r.session, new Set());
      bySession.get(r.session).add(base);
    }
    assert.equal(bySession.size, 3, JSON.stringify([...bySession.keys()]));
    assert.deepEqual([...bySession.values()].map((v) => [...v]).sort(), [[1], [2], [3]]);
    // No relay of its own opened the zone's channel (it is the daemon's).
    await Promise.all([s1.close(), s2.close(), h.close()]);
  });

  test('hostile clients of the socket do not disturb the others', async () => {
    const good = [await stdioClient(['--via', sockA]), await httpClient(url)];
    const work = Promise.all(good.map((c, i) => calls(c, 5000 + 1000 * i, 20)));

    // garbage: answered by the gateway as a parse error; then it works
    const garbage = await rawSession(sockA);
    garbage.send('this is not json \u0000\u0001\u00ff');
    await waitFor('parse error', () => garbage.msgs.some((m) => m.error?.code === -32700));
    garbage.send(sum('g', 40, 2));
    assert.equal((await garbage.reply('g')).result.structuredContent.sum, 42);

    // an oversize line (over --max-message 65536): -32600, and the
    // connection goes on, and nothing of the line was read beyond the cap.
    // (Proves the cap: without it the daemon buffers the whole line and
    // answers the request only once the channel refuses it.)
    const big = await rawSession(sockA);
    const req = sum('big', 1, 2);
    req.params.arguments.pad = 'x'.repeat(100 * 1024);
    big.send(req);
    let e;
    await waitFor('oversize refused', () => (e = big.msgs.find((m) => m.error)));
    assert.equal(e.error.code, -32600, JSON.stringify(e));
    assert.match(e.error.message, /too large/);
    assert.ok(!big.msgs.some((m) => m.id === 'big'), 'the oversize request was not served');
    big.send(sum('after', 2, 3));
    assert.equal((await big.reply('after')).result.structuredContent.sum, 5);

    // one that never reads: 400 lists (several KiB each) pile up; past
    // --client-queue (256 KiB) beyond what the socket holds it is cut
    // off instead of growing the daemon. (Proves the per-client cap:
    // without it the daemon keeps every answer and never cuts it off.)
    const deaf = await rawSession(sockA);
    deaf.pause();
    for (let i = 0; i < 400; i++) deaf.send({ jsonrpc: '2.0', id: `l${i}`, method: 'tools/list' });
    await waitFor('cut off', () => /does not read .* cut off/.test(relayd.log), 20000);
    deaf.resume();
    await waitFor('deaf client closed', () => deaf.ended);
    assert.ok(deaf.msgs.length < 400, `${deaf.msgs.length} answers reached it`);

    // one that dies in the middle of a message: the whole call, not
    // newline-terminated, is not executed (a message ends at its
    // newline), and only its own stream ends. (Proves it: when the
    // unterminated tail counted, the call ran and was audited.)
    const half = await rawSession(sockA);
    half.write(JSON.stringify(sum('half', 424242, 1)));
    await new Promise((res) => setTimeout(res, 20));
    half.destroy();
    await work;
    // a later call on a fresh client is served after the dead one's end
    const later = await rawSession(sockA);
    later.send(sum('later', 1, 1));
    assert.equal((await later.reply('later')).result.structuredContent.sum, 2);
    assert.ok(!auditRecords().some((r) => r.args?.a === 424242),
      'the half message was executed');
    await waitFor('its stream ended', () => /ended in the middle of a message/.test(relayd.log));
    for (const s of [garbage, big, later]) s.end();
    await Promise.all(good.map((c) => c.close()));
  });

  test('the client cap: one over --max-clients is refused, the others go on', async () => {
    // (Proves the cap: without it the third client is served.)
    const a = await rawSession(sockB);
    const b = await rawSession(sockB);
    const c = rawClient(sockB);
    await waitFor('refused', () => c.msgs.length && c.ended);
    assert.equal(c.msgs[0].error.code, -32000);
    assert.match(c.msgs[0].error.message, /too many clients/);
    a.send(sum(1, 1, 1));
    b.send(sum(1, 2, 2));
    assert.equal((await a.reply(1)).result.structuredContent.sum, 2);
    assert.equal((await b.reply(1)).result.structuredContent.sum, 4);
    // a slot freed is a slot again
    a.end();
    await waitFor('slot free', async () => {
      const d = rawClient(sockB);
      await once(d, 'connect');
      d.send(INIT);
      await waitFor('an answer', () => d.msgs.length || d.ended);
      d.end();
      return d.msgs[0]?.result;
    });
    b.end();
  });

  test('the gateway restarts: the old sessions end, the daemon stays and serves new ones', async () => {
    const old = await rawSession(sockA);
    await stop(gw);
    // its session went with the channel: it is ended, not left hanging
    await waitFor('old client ended', () => old.ended);
    // a client that comes while the channel is down waits for it
    const waiting = stdioClient(['--via', sockA]);
    gw = spawnDaemon(GATEWAYD, ['--config', join(dir, 'gw.json')], env);
    const s = await waiting;
    await waitFor('served again', async () =>
      (await s.callTool({ name: 't1.test_structured_output', arguments: { a: 1, b: 2 } }))
        .structuredContent?.sum === 3, 20000);
    const h = await httpClient(url);
    await Promise.all([calls(s, 8000, 3), calls(h, 9000, 3)]);
    assert.equal(relayd.exitCode, null, 'the daemon is still running');
    assert.equal((relayd.log.match(/channel sim:11:a up/g) || []).length, 2);
    await Promise.all([s.close(), h.close()]);
  });

  test('another uid is refused (SO_PEERCRED, apart from the mode)', { skip: process.getuid() !== 0 && 'needs root' }, async () => {
    // The socket's mode is the first line; open it (and the way to it)
    // so that the daemon's peer check stands alone. (Proves the check:
    // without it uid 65534 is served.)
    chmodSync(dir, 0o711);
    chmodSync(sockA, 0o666);
    try {
      const py = `import socket,json,sys
s=socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])
s.settimeout(5)
try: s.sendall((json.dumps(${JSON.stringify(INIT)})+"\\n").encode())
except Exception: pass
d=b""
while True:
    try: c=s.recv(65536)
    except Exception: break
    if not c: break
    d+=c
print(len(d))`;
      const r = spawnSync('python3', ['-c', py, sockA], { uid: 65534, gid: 65534, encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
      assert.equal(r.stdout.trim(), '0', 'a foreign uid got an answer');
      await waitFor('refusal logged', () => /a client of uid 65534 refused/.test(relayd.log));
    } finally {
      chmodSync(sockA, 0o600);
      chmodSync(dir, 0o700);
    }
  });
});
