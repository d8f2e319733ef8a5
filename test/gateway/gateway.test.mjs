// End to end with real processes on the sim backend: gatewayd between two
// agent zones and two tool zones. Each agent zone runs zonegate-relay
// (Streamable HTTP on loopback, one channel stream per session) and the
// official TypeScript SDK client talks to it. Checks: per-zone lists,
// allowed and denied calls (denied == unknown, plus an audit id), identity
// claims that change nothing, limits, progress and sampling through the
// gateway, a tool zone killed mid-call and coming back, pin drift
// quarantine, policy reload (broken file kept out), the audit chain and
// tamper detection, metrics.
// Env: GATEWAYD, GATEWAYCTL, MCPD, MCPD_TEST (mcpd-test), RELAY.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { checkedAfter, guardHooks, daemon as spawnDaemon, rpcError, stop, waitFor } from '../common/harness.mjs';

// the describe block's final checks fail the run (harness.mjs)
guardHooks();

const SDK = '../node/node_modules/@modelcontextprotocol/sdk/dist/esm';
const { Client } = await import(`${SDK}/client/index.js`);
const { StreamableHTTPClientTransport } =
  await import(`${SDK}/client/streamableHttp.js`);
const { CreateMessageRequestSchema } = await import(`${SDK}/types.js`);

const { GATEWAYD, GATEWAYCTL, MCPD, MCPD_TEST, RELAY } = process.env;
const dir = mkdtempSync(join(tmpdir(), 'zg-gw-'));
const env = { ...process.env, ZONEGATE_SIM_DIR: join(dir, 'sim') };
const daemon = (bin, args) => spawnDaemon(bin, args, env);
const cfg = join(dir, 'gatewayd.json');
const pol = join(dir, 'policy.d');

writeFileSync(cfg, JSON.stringify({
  zones: {
    'agent-a': { domid: 11, role: 'agent', tags: ['researcher'], chan: 'sim:11:agent-a' },
    'agent-b': { domid: 12, role: 'agent', tags: ['restricted'], chan: 'sim:12:agent-b' },
    rag: { domid: 21, role: 'tool', chan: 'sim:21:rag' },
    tools: { domid: 22, role: 'tool', chan: 'sim:22:tools' },
  },
  policy: 'policy.d',
  admin_socket: 'gatewayd.sock',
  audit_log: 'audit.log',
  pins: 'pins.json',
  metrics: '127.0.0.1:0',
  reload_interval_ms: 200,
  audit_flush_ms: 0,
}, null, 2));
mkdirSync(pol);
const BASE = `# e2e policy
agent-a         tools.test_slow_counter       allow timeout=1s
agent-a         tools.test_simple_text        allow
agent-a         tools.test_tool_with_progress allow
agent-a         tools.test_sampling           allow
@tag:researcher rag.*                         allow
agent-b         tools.time_now                allow rate=2/s
agent-b         tools.test_image_content      allow max-bytes=150
agent-b         rag.*                         deny
`;
writeFileSync(join(pol, '10-e2e.policy'), BASE);

function ctl(...args) {
  const r = spawnSync(GATEWAYCTL, ['--config', cfg, ...args], { env, encoding: 'utf8' });
  return { rc: r.status, out: r.stdout + r.stderr };
}

function status() {
  const r = ctl('status');
  assert.equal(r.rc, 0, r.out);
  return JSON.parse(r.out);
}

async function startRelay(addr, name) {
  const ready = join(dir, `${name}.url`);
  const p = daemon(RELAY, ['--chan', addr, '--connect-timeout', '10000',
    '--http', '127.0.0.1:0', '--ready-file', ready]);
  let url;
  await waitFor(`relay ${name}`, () => {
    url = readFileSync(ready, 'utf8').trim();
    return url.endsWith('/mcp');
  });
  p.url = url;
  return p;
}

async function connect(relay, info = { name: 'zg-gw-test', version: '1.0.0' },
  caps = {}) {
  const c = new Client(info, { capabilities: caps });
  await c.connect(new StreamableHTTPClientTransport(new URL(relay.url)));
  return c;
}

const names = async (c) => (await c.listTools()).tools.map((t) => t.name).sort();
const textOf = (r) => r.content.filter((x) => x.type === 'text').map((x) => x.text).join('');

let gw, rag, tools, relayA, relayB;

describe('gatewayd end to end (sim channels, real processes)', () => {
  before(async () => {
    rag = daemon(MCPD, ['--chan', 'sim:21:rag']);
    tools = daemon(MCPD_TEST, ['--chan', 'sim:22:tools', '--fixtures', 'conformance']);
    gw = daemon(GATEWAYD, ['--config', cfg, '--ready-file', join(dir, 'gw.ready')]);
    await waitFor('gatewayd', () => readFileSync(join(dir, 'gw.ready'), 'utf8'));
    await waitFor('tool zones up', () =>
      status().zones.filter((z) => z.role === 'tool' && z.health === 'up').length === 2);
    relayA = await startRelay('sim:11:agent-a', 'a');
    relayB = await startRelay('sim:12:agent-b', 'b');
  });
  checkedAfter(async () => {
    await stop(relayA);
    await stop(relayB);
    const code = await stop(gw);
    await stop(rag);
    await stop(tools);
    if (code !== 0) console.error(gw.log);
    rmSync(dir, { recursive: true, force: true });
    // a clean exit: under the sanitizer build this also means no leaks
    assert.equal(code, 0, 'gatewayd exit status');
  });

  test('--check validates; errors say file:line', () => {
    let r = spawnSync(GATEWAYD, ['--check', '--config', cfg], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /ok: 4 zones, 8 rules/);
    const bad = join(dir, 'bad.json');
    writeFileSync(bad, '{\n "zones": {},\n "policy": "policy.d"\n}\n');
    r = spawnSync(GATEWAYD, ['--check', '--config', bad], { encoding: 'utf8' });
    assert.equal(r.status, 1);
    assert.match(r.stderr, /bad\.json:2: zones must be/);
  });

  test('each zone sees exactly the tools it may call', async () => {
    const a = await connect(relayA);
    const b = await connect(relayB);
    assert.deepEqual(await names(a), ['rag.time_now', 'tools.test_sampling',
      'tools.test_simple_text', 'tools.test_slow_counter', 'tools.test_tool_with_progress']);
    assert.deepEqual(await names(b), ['tools.test_image_content', 'tools.time_now']);
    await a.close();
    await b.close();
  });

  test('allowed calls succeed; denied calls look like unknown tools', async () => {
    const a = await connect(relayA);
    const b = await connect(relayB);
    assert.match(textOf(await a.callTool({ name: 'tools.test_simple_text', arguments: {} })),
      /simple text/);
    assert.match(textOf(await b.callTool({ name: 'tools.time_now', arguments: {} })), /UTC/);
    const denied = await rpcError(b.callTool({ name: 'tools.test_simple_text', arguments: {} }));
    const unknown = await rpcError(b.callTool({ name: 'tools.no_such_tool', arguments: {} }));
    const nozone = await rpcError(b.callTool({ name: 'nozone.x', arguments: {} }));
    for (const e of [denied, unknown, nozone]) {
      assert.equal(e.code, -32602);
      assert.match(e.message, /Unknown tool: /);
      assert.deepEqual(Object.keys(e.data), ['auditId']);
    }
    assert.equal(denied.message.replace('test_simple_text', 'X'),
      unknown.message.replace('no_such_tool', 'X'));
    // the reason is in the audit log only
    const line = readFileSync(join(dir, 'audit.log'), 'utf8').split('\n')
      .find((l) => l.includes(denied.data.auditId));
    const rec = JSON.parse(line);
    assert.equal(rec.zone, 'agent-b');
    assert.equal(rec.decision, 'deny');
    assert.equal(rec.reason, 'no rule allows it');
    // a deny rule on a tool zone the zone could otherwise use
    const d2 = await rpcError(b.callTool({ name: 'rag.time_now', arguments: {} }));
    assert.equal(d2.code, -32602);
    const r2 = JSON.parse(readFileSync(join(dir, 'audit.log'), 'utf8').split('\n')
      .find((l) => l.includes(d2.data.auditId)));
    assert.equal(r2.rule, 'policy.d/10-e2e.policy:9');
    await a.close();
    await b.close();
  });

  test('a zone that claims another identity stays itself', async () => {
    const b = await connect(relayB, { name: 'agent-a', version: 'zone=agent-a' });
    const e = await rpcError(b.callTool({ name: 'tools.test_simple_text', arguments: {},
      _meta: { zone: 'agent-a', 'io.zonegate/zone': 'agent-a', domid: 11 } }));
    assert.equal(e.code, -32602);
    assert.deepEqual(await names(b), ['tools.test_image_content', 'tools.time_now']);
    const rec = JSON.parse(readFileSync(join(dir, 'audit.log'), 'utf8').split('\n')
      .find((l) => l.includes(e.data.auditId)));
    assert.equal(rec.zone, 'agent-b');
    await b.close();
  });

  test('limits: rate, response bytes, deadline', async () => {
    const a = await connect(relayA);
    const b = await connect(relayB);
    await sleep(1100); // refill agent-b's bucket
    const r = await Promise.allSettled([1, 2, 3, 4].map(() =>
      b.callTool({ name: 'tools.time_now', arguments: {} })));
    const limited = r.filter((x) => x.status === 'rejected');
    assert.ok(limited.length >= 1, 'rate=2/s refuses some of 4 quick calls');
    assert.match(limited[0].reason.message, /rate limit exceeded/);
    const big = await rpcError(b.callTool({ name: 'tools.test_image_content', arguments: {} }));
    assert.match(big.message, /response too large/);
    const t0 = Date.now();
    const slow = await rpcError(a.callTool({ name: 'tools.test_slow_counter',
      arguments: { steps: 50, interval_ms: 100 } }, undefined, { timeout: 20000 }));
    assert.equal(slow.code, -32001);
    assert.match(slow.message, /timed out/);
    assert.ok(Date.now() - t0 < 4000, 'the gateway deadline (1s) fired');
    await a.close();
    await b.close();
  });

  test('progress and sampling pass through both ways', async () => {
    const a = await connect(relayA, undefined, { sampling: {} });
    a.setRequestHandler(CreateMessageRequestSchema, async () => ({
      model: 'test-model', role: 'assistant',
      content: { type: 'text', text: 'sampled through the gateway' },
    }));
    const progress = [];
    await a.callTool({ name: 'tools.test_tool_with_progress', arguments: {} }, undefined,
      { onprogress: (p) => progress.push(p.progress) });
    assert.ok(progress.length >= 1);
    const s = await a.callTool({ name: 'tools.test_sampling', arguments: { prompt: 'hi' } });
    assert.match(JSON.stringify(s), /sampled through the gateway/);
    await a.close();
  });

  test('cancellation from the agent reaches the tool zone', async () => {
    const a = await connect(relayA);
    const ac = new AbortController();
    const p = a.callTool({ name: 'tools.test_slow_counter', arguments: { steps: 30, interval_ms: 20 } },
      undefined, { signal: ac.signal });
    p.catch(() => {});
    await sleep(150);
    ac.abort('stop');
    await assert.rejects(p);
    await waitFor('cancel audited', () =>
      readFileSync(join(dir, 'audit.log'), 'utf8').includes('"reason":"cancelled by the client"'));
    // the session goes on
    assert.match(textOf(await a.callTool({ name: 'tools.test_simple_text', arguments: {} })),
      /simple text/);
    await a.close();
  });

  test('a tool zone killed mid-call: clean error, others unaffected, it comes back', async () => {
    const a = await connect(relayA);
    const b = await connect(relayB);
    const pending = a.callTool({ name: 'tools.test_slow_counter',
      arguments: { steps: 8, interval_ms: 100 } });
    pending.catch(() => {});
    await sleep(250);
    await stop(tools, 'SIGKILL');
    const e = await rpcError(pending);
    console.error('kill: pending ->', e.message);
    assert.equal(e.code, -32000);
    assert.match(e.message, /tool zone tools is unavailable/);
    await waitFor('tools hidden', async () => (await names(a)).join() === 'rag.time_now');
    // the other tool zone is unaffected
    assert.match(textOf(await a.callTool({ name: 'rag.time_now', arguments: {} })), /UTC/);
    const down = await rpcError(b.callTool({ name: 'tools.time_now', arguments: {} }));
    assert.match(down.message, /tool zone tools is unavailable/);
    tools = daemon(MCPD_TEST, ['--chan', 'sim:22:tools', '--fixtures', 'conformance']);
    console.error('kill: waiting for tools back');
    await waitFor('tools back', async () => (await names(a)).length === 5);
    console.error('kill: tools back');
    assert.match(textOf(await a.callTool({ name: 'tools.test_simple_text', arguments: {} })),
      /simple text/);
    await a.close();
    await b.close();
  });

  test('pin drift quarantines a tool zone until re-pinned', async () => {
    let r = ctl('pin', 'tools');
    assert.equal(r.rc, 0, r.out);
    await stop(tools);
    tools = daemon(MCPD, ['--chan', 'sim:22:tools']); // other definitions
    await waitFor('quarantine', () =>
      status().zones.find((z) => z.zone === 'tools').quarantined === true);
    const b = await connect(relayB);
    assert.deepEqual(await names(b), []);
    const e = await rpcError(b.callTool({ name: 'tools.time_now', arguments: {} }));
    assert.equal(e.code, -32602);
    assert.ok(readFileSync(join(dir, 'audit.log'), 'utf8').includes('"decision":"quarantine"'));
    r = ctl('pin', 'tools');
    assert.equal(r.rc, 0, r.out);
    assert.deepEqual(await names(b), ['tools.time_now']);
    await b.close();
  });

  test('policy reload: a broken file is refused, a good one applies', async () => {
    const b = await connect(relayB);
    writeFileSync(join(pol, '20-broken.policy'), 'agent-b tools.* allow\nagent-b tools.x sometimes\n');
    await waitFor('reload refused', () => status().policy.reload_errors > 0);
    assert.match(status().policy.last_error, /policy.d\/20-broken.policy:2: bad action/);
    assert.deepEqual(await names(b), ['tools.time_now']); // old policy in force
    rmSync(join(pol, '20-broken.policy'));
    let r = ctl('allow', 'agent-b', 'tools.time_*', '--file', '20-more.policy');
    assert.equal(r.rc, 0, r.out);
    r = ctl('reload');
    assert.equal(r.rc, 0, r.out);
    assert.equal(status().policy.reload_errors, 0);
    const loads = status().policy.loads;
    gw.kill('SIGHUP');
    await waitFor('SIGHUP reload', () => status().policy.loads > loads);
    await b.close();
  });

  test('admin socket: only root, our user or the admin group may change things', async (t) => {
    if (process.getuid() !== 0 || spawnSync('setpriv', ['--version']).error) {
      t.skip('needs root and setpriv to switch users');
      return;
    }
    chmodSync(dir, 0o755);
    chmodSync(join(dir, 'gatewayd.sock'), 0o666);
    const as = (...args) => spawnSync('setpriv', ['--reuid=65534', '--regid=65534',
      '--clear-groups', GATEWAYCTL, '--config', cfg, ...args], { env, encoding: 'utf8' });
    const st = as('status');
    assert.equal(st.status, 0, st.stderr);
    for (const cmd of [['reload'], ['pin', 'tools'], ['unpin', 'tools']]) {
      const r = as(...cmd);
      assert.equal(r.status, 1);
      assert.match(r.stderr, /permission denied/);
    }
    chmodSync(join(dir, 'gatewayd.sock'), 0o660);
  });

  test('audit chain verifies and detects an edited line; metrics and stats', async () => {
    let r = ctl('audit', 'verify');
    assert.equal(r.rc, 0, r.out);
    assert.match(r.out, /audit chain ok/);
    r = ctl('logs', 'agent-b');
    assert.ok(r.out.split('\n').filter(Boolean).every((l) => JSON.parse(l).zone === 'agent-b'));
    r = ctl('stats');
    assert.match(r.out, /agent-a\s+tools.test_simple_text/);
    const m = await (await fetch(status().metrics_url)).text();
    assert.match(m, /zonegate_calls_total\{zone="agent-a",tool="tools.test_simple_text"\}/);
    assert.match(m, /zonegate_tool_zone_up\{zone="rag"\} 1/);
    // tamper: flip one decision on a copy and verify the copy
    const log = readFileSync(join(dir, 'audit.log'), 'utf8').split('\n');
    const i = log.findIndex((l) => l.includes('"decision":"deny"'));
    log[i] = log[i].replace('"decision":"deny"', '"decision":"allow"');
    const c2 = join(dir, 'tampered.json');
    const conf = JSON.parse(readFileSync(cfg, 'utf8'));
    conf.audit_log = 'tampered.log';
    conf.admin_socket = 'x.sock';
    writeFileSync(join(dir, 'tampered.log'), log.join('\n'));
    writeFileSync(c2, JSON.stringify(conf));
    const t = spawnSync(GATEWAYCTL, ['--config', c2, 'audit', 'verify'], { encoding: 'utf8' });
    assert.equal(t.status, 1);
    assert.match(t.stdout, new RegExp(`tampered.log:${i + 1}: hash mismatch`));
    assert.match(t.stdout, /audit chain BROKEN: 1 problem/);
  });
});
