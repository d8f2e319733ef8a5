// End to end: 2025-11-25 sessions subscribe to the resources of a
// 2026-07-28-only tool zone, which has no resources/subscribe: gatewayd
// opens one upstream subscriptions/listen per URI, shared by every session
// and stateless listen that wants it, and ends it with its last user.
// Real processes: gatewayd, one mcpd-test speaking only 2026-07-28, the
// SDK 1.x client through a token-bound listener, raw stateless listens.
// Counted in `gatewayctl status` (the zone's subscriptions: upstream
// listens, shares, streams) and in the audit log.
// Env: GATEWAYD, GATEWAYCTL, MCPD_TEST.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import { checkedAfter, guardHooks, daemon as spawnDaemon, rpcError, sseFollow, stop,
  waitFor } from '../common/harness.mjs';

guardHooks();

const SDK = '../node/node_modules/@modelcontextprotocol/sdk/dist/esm';
const { Client } = await import(`${SDK}/client/index.js`);
const { StreamableHTTPClientTransport } = await import(`${SDK}/client/streamableHttp.js`);
const { ResourceUpdatedNotificationSchema } = await import(`${SDK}/types.js`);

const { GATEWAYD, GATEWAYCTL, MCPD_TEST } = process.env;
const dir = mkdtempSync(join(tmpdir(), 'zg-gwsubs-'));
const env = { ...process.env, ZONEGATE_SIM_DIR: join(dir, 'sim') };
const cfg = join(dir, 'gatewayd.json');
const token = (zone) => `${zone.padEnd(20, 's')}Kq3-token-of-the-zone-0123456789`;
const TOKEN = token('agent');
const REV = '2026-07-28';
const WATCHED = 'test://watched-resource';
const tmpl = (n) => `test://template/${n}/data`;
const HDRS = { 'content-type': 'application/json',
  accept: 'application/json, text/event-stream', authorization: `Bearer ${TOKEN}` };

const audit = () => readFileSync(join(dir, 'audit.log'), 'utf8').trim().split('\n')
  .map((l) => JSON.parse(l));
// The tool zone's subscriptions in gatewayctl status.
function subs() {
  const r = spawnSync(GATEWAYCTL, ['--config', cfg, 'status'], { env, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout).zones.find((z) => z.zone === 'z26').subscriptions;
}

// gatewayd in d with agent zone "agent" (and the extra ones, each on a
// listener with a token of its own) and a 2026-07-28-only mcpd-test
// z26 (args added; rev: the one revision it speaks), policy text pol;
// domids from base. Resolves to
// { gw, zone, url (agent's), urls (by zone), cfg, env }.
async function start(d, base, pol, extra = [], args = [], rev = REV) {
  const envd = { ...process.env, ZONEGATE_SIM_DIR: join(d, 'sim') };
  const agents = ['agent', ...extra];
  const zones = { z26: { domid: base, role: 'tool', chan: `sim:${base}:z26` } };
  const listeners = [];
  mkdirSync(d, { recursive: true });
  agents.forEach((a, i) => {
    zones[a] = { domid: base + 1 + i, role: 'agent', chan: `sim:${base + 1 + i}:${a}` };
    writeFileSync(join(d, `${a}.token`), `${token(a)}\n`, { mode: 0o600 });
    listeners.push({ listen: '127.0.0.1:0', zone: a, token_file: `${a}.token` });
  });
  writeFileSync(join(d, 'gw.policy'), pol);
  const c = join(d, 'gatewayd.json');
  writeFileSync(c, JSON.stringify({ zones, listeners, admin_socket: 'gatewayd.sock',
    policy: 'gw.policy', audit_log: 'audit.log', audit_flush_ms: 0 }));
  const z = spawnDaemon(MCPD_TEST, ['--chan', `sim:${base}:z26`, '--fixtures', 'conformance',
    '--protocol-versions', rev, ...args], envd);
  const g = spawnDaemon(GATEWAYD, ['--config', c], envd);
  const on = (a) => new RegExp(`listener for zone ${a} on (http://\\S+)`);
  await waitFor('gatewayd', () => g.log.includes(`revision ${rev}`) &&
    agents.every((a) => on(a).test(g.log)));
  const urls = Object.fromEntries(agents.map((a) => [a, on(a).exec(g.log)[1]]));
  return { gw: g, zone: z, url: urls.agent, urls, cfg: c, env: envd };
}

let gw, zone, url, urls;
const sessions = [];

// An SDK 1.x session through the listener that counts the
// resources/updated it hears, per URI.
async function session(zone = 'agent') {
  const c = new Client({ name: 'zg-subs', version: '1' });
  const transport = new StreamableHTTPClientTransport(new URL(urls[zone]), {
    requestInit: { headers: { Authorization: `Bearer ${token(zone)}` } } });
  c.heard = {};
  c.setNotificationHandler(ResourceUpdatedNotificationSchema, (n) => {
    c.heard[n.params.uri] = (c.heard[n.params.uri] ?? 0) + 1;
  });
  await c.connect(transport);
  c.end = async () => { await transport.terminateSession(); await c.close(); };
  sessions.push(c);
  return c;
}
const heard = (c, uri = WATCHED) => c.heard[uri] ?? 0;
// test_update_watched makes the zone send resources/updated for WATCHED.
const update = (c) => c.callTool({ name: 'z26.test_update_watched', arguments: {} });

// A raw 2026-07-28 subscriptions/listen through the listener.
async function listen(uris, at = url) {
  const ac = new AbortController();
  const r = await fetch(at, { method: 'POST', signal: ac.signal,
    headers: { ...HDRS, 'mcp-protocol-version': REV, 'mcp-method': 'subscriptions/listen' },
    body: JSON.stringify({ jsonrpc: '2.0', id: 'L1', method: 'subscriptions/listen',
      params: { notifications: { resourceSubscriptions: uris },
        _meta: { 'io.modelcontextprotocol/protocolVersion': REV,
          'io.modelcontextprotocol/clientCapabilities': {} } } }) });
  const out = { frames: [], close: () => ac.abort() };
  sseFollow(r.body, out.frames);
  await waitFor('acknowledged', () => out.frames.length >= 1);
  return out;
}

describe('gatewayd: 2025-11-25 subscriptions to a 2026-07-28 zone', { concurrency: false }, () => {
  before(async () => {
    ({ gw, zone, url, urls } = await start(dir, 91, `* resource:z26.${WATCHED} allow
* resource:z26.test://template/* allow
* z26.test_update_watched allow
`, ['other', 'third']));
  });
  checkedAfter(async () => {
    for (const c of sessions) await c.close().catch(() => {});
    gw.kill('SIGTERM');
    const code = await gw.done;
    await stop(zone);
    assert.equal(code, 0, gw.log);
  });

  let a, b;

  // Red with the subscribe sent to the zone as before (-32601).
  test('a session subscribes and hears resources/updated', async () => {
    a = await session();
    assert.deepEqual(await a.subscribeResource({ uri: WATCHED }), {});
    assert.deepEqual(subs(), { listens: 1, shares: 1, streams: 1 });
    await update(a);
    await waitFor('update heard', () => heard(a) === 1);
    const rec = audit().find((x) => x.method === 'resources/subscribe');
    assert.equal(rec.decision, 'allow');
    assert.equal(rec.target, `z26.${WATCHED}`);
  });

  // Red with gw_req_route's policy decision skipped for
  // resources/subscribe (the URI is let through to gw_subs_request).
  test('a URI the zone may not read: refused with an audit id, nothing upstream', async () => {
    const e = await rpcError(a.subscribeResource({ uri: 'test://static-text' }));
    assert.equal(e.code, -32002);
    const rec = audit().find((x) => x.id === e.data.auditId);
    assert.equal(rec?.decision, 'deny');
    assert.equal(rec.method, 'resources/subscribe');
    assert.deepEqual(subs(), { listens: 1, shares: 1, streams: 1 });
  });

  // Red without the sharing (sub_find finding nothing): a listen
  // upstream per share; and with listen_free not dropping the stateless
  // listen's share (it stays until the zone's shared session ends).
  test('two sessions and a stateless listen share one upstream listen', async () => {
    b = await session();
    await b.subscribeResource({ uri: WATCHED });
    const l = await listen([WATCHED]);
    try {
      assert.deepEqual(l.frames[0].params.notifications.resourceSubscriptions, [WATCHED]);
      assert.deepEqual(subs(), { listens: 1, shares: 3, streams: 1 });
      await update(a);
      await waitFor('updates heard', () => heard(a) === 2 && heard(b) === 1 &&
        l.frames.filter((f) => f.method === 'notifications/resources/updated').length === 1);
    } finally {
      l.close();
    }
    // the stateless listen's share ends with it (it used to stay until
    // the zone's shared session ended)
    await waitFor('listen share dropped', () => subs().shares === 2);
  });

  // Red with resources/unsubscribe answered without dropping the share
  // (a keeps hearing updates).
  test('unsubscribe stops the updates', async () => {
    assert.deepEqual(await a.unsubscribeResource({ uri: WATCHED }), {});
    assert.deepEqual(subs(), { listens: 1, shares: 1, streams: 1 });
    await update(b);
    await waitFor('b heard', () => heard(b) === 2);
    await a.ping();
    await update(b); // one more round trip through both zones
    await waitFor('b heard again', () => heard(b) === 3);
    assert.equal(heard(a), 2);
  });

  // Red without gw_subs_session_end: the listen stays open upstream.
  test("the session's end closes the upstream listen", async () => {
    await b.end();
    await waitFor('listen closed', () => subs().listens === 0);
    assert.deepEqual(subs(), { listens: 0, shares: 0, streams: 0 });
  });

  // A reload that revokes a zone's read of the URI silences its shares
  // (the policy is asked at each update); another zone's go on. Red
  // without may_hear.
  test('a revoked read: no more updates for that zone', async () => {
    const pol = readFileSync(join(dir, 'gw.policy'), 'utf8');
    const reload = () => {
      const r = spawnSync(GATEWAYCTL, ['--config', cfg, 'reload'], { env, encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
    };
    const x = await session();
    const o = await session('other');
    await x.subscribeResource({ uri: WATCHED });
    await o.subscribeResource({ uri: WATCHED });
    await update(o);
    await waitFor('both heard', () => heard(x) === 1 && heard(o) === 1);
    writeFileSync(join(dir, 'gw.policy'),
      pol.replace(`* resource:z26.${WATCHED}`, `other resource:z26.${WATCHED}`));
    reload();
    await update(o);
    await waitFor('o heard', () => heard(o) === 2);
    await x.ping();
    await update(o);
    await waitFor('o heard again', () => heard(o) === 3);
    assert.equal(heard(x), 1);
    writeFileSync(join(dir, 'gw.policy'), pol);
    reload();
    await x.end();
    await o.end();
    await waitFor('closed', () => subs().listens === 0);
  });

  // The 257th subscription of a session, a new URI of an agent zone that
  // already has a share of 256 upstream listens, and one of a tool zone
  // with 512 are refused with -32000 and a limit record; a URI another
  // session holds is shared and costs nothing. Red with each cap raised
  // by one in turn.
  test('caps: 256 per session, 256 per agent zone, 512 per tool zone', async () => {
    const c = await session();
    for (let i = 0; i < 256; i++)
      await c.subscribeResource({ uri: tmpl(i) });
    assert.deepEqual(subs(), { listens: 256, shares: 256, streams: 16 });
    const e1 = await rpcError(c.subscribeResource({ uri: tmpl(256) }));
    assert.equal(e1.code, -32000);
    assert.match(e1.message, /too many subscriptions open on this session/);
    assert.equal(audit().find((x) => x.id === e1.data.auditId)?.decision, 'limit');
    const d = await session();
    const e2 = await rpcError(d.subscribeResource({ uri: tmpl(257) }));
    assert.match(e2.message, /too many subscriptions open for this agent zone/);
    assert.deepEqual(await d.subscribeResource({ uri: tmpl(7) }), {});
    assert.deepEqual(subs(), { listens: 256, shares: 257, streams: 16 });
    const o = await session('other');
    for (let i = 300; i < 556; i++)
      await o.subscribeResource({ uri: tmpl(i) });
    const t3 = await session('third');
    const e3 = await rpcError(t3.subscribeResource({ uri: tmpl(600) }));
    assert.match(e3.message, /too many subscriptions open on this tool zone/);
    assert.equal(audit().find((x) => x.id === e3.data.auditId)?.decision, 'limit');
    assert.deepEqual(await t3.subscribeResource({ uri: tmpl(7) }), {});
    assert.deepEqual(subs(), { listens: 512, shares: 514, streams: 32 });
    for (const x of [c, d, o, t3]) await x.end();
    await waitFor('all closed', () => subs().listens === 0);
  });

  // A tool zone removed by a config reload takes its listens with it;
  // its sessions' shares go, and the zone, added again, starts from
  // none. Red under ASan without gw_subs_zone_gone in up_teardown (the
  // session's end frees its share's listen through the removed zone).
  test('a zone removed by a reload ends its listens', async () => {
    const e = await session();
    await e.subscribeResource({ uri: WATCHED });
    assert.deepEqual(subs(), { listens: 1, shares: 1, streams: 1 });
    const full = readFileSync(cfg, 'utf8');
    const c = JSON.parse(full);
    delete c.zones.z26;
    writeFileSync(cfg, JSON.stringify(c));
    const ctl = () => spawnSync(GATEWAYCTL, ['--config', cfg, 'reload'],
      { env, encoding: 'utf8' });
    let r = ctl();
    assert.equal(r.status, 0, r.stderr);
    await waitFor('z26 removed', () => /tool zone z26 removed/.test(gw.log));
    await e.end();
    writeFileSync(cfg, full);
    r = ctl();
    assert.equal(r.status, 0, r.stderr);
    await waitFor('z26 back', () => gw.log.split('tool zone z26 up').length === 3);
    const f = await session();
    await f.subscribeResource({ uri: WATCHED });
    assert.deepEqual(subs(), { listens: 1, shares: 1, streams: 1 });
    await f.end();
    await waitFor('closed', () => subs().listens === 0);
  });

  // The zone going ends its listens: every share is dropped. Red without
  // gw_subs_closed in tz_close and gw_subs_zone_gone in up_teardown (the
  // listens stay counted, their streams gone with the channel).
  test("the zone's going ends its listens", async () => {
    const e = await session();
    await e.subscribeResource({ uri: WATCHED });
    const l = await listen([WATCHED]);
    try {
      assert.deepEqual(subs(), { listens: 1, shares: 2, streams: 1 });
      await stop(zone);
      await waitFor('zone down', () => /tool zone z26 down/.test(gw.log));
      assert.deepEqual(subs(), { listens: 0, shares: 0, streams: 0 });
    } finally {
      l.close();
    }
  });
});

// A zone that refuses the listen (mcpd-test --max-listens 1: the
// gateway's listen on its control stream is the one it allows): the
// session's subscribe is answered only once the zone has answered the
// listen, so it gets the refusal, not {}. Red with the subscribe answered
// at once (gw_subs_request not waiting for the acknowledgment).
describe('gatewayd: a subscription the 2026-07-28 zone refuses', { concurrency: false }, () => {
  const d2 = join(dir, 'two');
  const env2 = { ...process.env, ZONEGATE_SIM_DIR: join(d2, 'sim') };
  const cfg2 = join(d2, 'gatewayd.json');
  let gw2, zone2, c;

  before(async () => {
    let url2;
    ({ gw: gw2, zone: zone2, url: url2 } = await start(d2, 94, '* * allow\n', [],
      ['--max-listens', '1']));
    c = new Client({ name: 'zg-subs-refused', version: '1' });
    await c.connect(new StreamableHTTPClientTransport(new URL(url2), {
      requestInit: { headers: { Authorization: `Bearer ${TOKEN}` } } }));
  });
  checkedAfter(async () => {
    await c?.close();
    gw2.kill('SIGTERM');
    const code = await gw2.done;
    await stop(zone2);
    rmSync(dir, { recursive: true, force: true });
    assert.equal(code, 0, gw2.log);
  });

  test('the refusal reaches the session, nothing stays open', async () => {
    const e = await rpcError(c.subscribeResource({ uri: WATCHED }));
    assert.equal(e.code, -32000);
    assert.match(e.message, /tool zone z26 refused: too many subscriptions/);
    const r = spawnSync(GATEWAYCTL, ['--config', cfg2, 'status'], { env: env2, encoding: 'utf8' });
    const z = JSON.parse(r.stdout).zones.find((x) => x.zone === 'z26');
    assert.deepEqual(z.subscriptions, { listens: 0, shares: 0, streams: 0 });
    const rec = readFileSync(join(d2, 'audit.log'), 'utf8').trim().split('\n')
      .map((l) => JSON.parse(l)).find((x) => x.id === e.data.auditId);
    assert.equal(rec?.method, 'resources/subscribe');
    assert.equal(rec.reason, 'upstream error');
  });

});

// Stateless listens to a 2025-11-25 zone: the gateway subscribes the
// zone's shared session upstream (resources/subscribe) and, once the last
// listen of the agent zone that wants the URI ends, unsubscribes it (the
// subscription used to stay until the shared session ended). Counted in
// the audit log: one resources/unsubscribe for two listens of one URI.
// Red without unsubscribe_up (none), without its listens_hold check (one
// at the first listen's end) and without its check for a URI listed twice
// (two).
describe('gatewayd: stateless listens to a 2025-11-25 zone', { concurrency: false }, () => {
  const d3 = join(dir, 'three');
  let gw3, zone3, url3;
  const records = (m) => readFileSync(join(d3, 'audit.log'), 'utf8').trim().split('\n')
    .map((l) => JSON.parse(l)).filter((x) => x.method === m);

  before(async () => {
    ({ gw: gw3, zone: zone3, url: url3 } = await start(d3, 96, '* * allow\n', [], [],
      '2025-11-25'));
  });
  checkedAfter(async () => {
    gw3.kill('SIGTERM');
    const code = await gw3.done;
    await stop(zone3);
    assert.equal(code, 0, gw3.log);
  });

  // the agent zone's open listens in gatewayctl status
  const listens = () => JSON.parse(spawnSync(GATEWAYCTL, ['--config', join(d3, 'gatewayd.json'),
    'status'], { env: { ...process.env, ZONEGATE_SIM_DIR: join(d3, 'sim') }, encoding: 'utf8' })
    .stdout).zones.find((z) => z.zone === 'agent').listens;
  // a round trip on the agent zone's shared session, after anything the
  // gateway sent on it before
  const read = () => fetch(url3, { method: 'POST', headers: { ...HDRS,
    'mcp-protocol-version': REV, 'mcp-method': 'resources/read', 'mcp-name': WATCHED },
  body: JSON.stringify({ jsonrpc: '2.0', id: 5, method: 'resources/read',
    params: { uri: WATCHED, _meta: { 'io.modelcontextprotocol/protocolVersion': REV,
      'io.modelcontextprotocol/clientCapabilities': {} } } }) }).then((r) => r.text());

  test('the upstream subscription ends with the last listen of the URI', async () => {
    const l1 = await listen([WATCHED], url3);
    const l2 = await listen([WATCHED, WATCHED], url3);
    await waitFor('subscribed', () => records('resources/subscribe').length === 3);
    assert.equal(listens(), 2);
    l1.close();
    await waitFor('l1 gone', () => listens() === 1);
    await read();
    assert.equal(records('resources/unsubscribe').length, 0);
    l2.close();
    await waitFor('unsubscribed', () => records('resources/unsubscribe').length >= 1);
    await read();
    const u = records('resources/unsubscribe');
    assert.equal(u.length, 1);
    assert.equal(u[0].decision, 'allow');
    assert.equal(u[0].session, 'agent/stateless');
    assert.equal(u[0].target, `z26.${WATCHED}`);
  });
});
