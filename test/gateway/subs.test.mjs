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
const TOKEN = 's'.repeat(20) + 'Kq3-token-of-the-agent-0123456789';
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

let gw, zone, url;
const sessions = [];

// An SDK 1.x session through the listener that counts the
// resources/updated it hears, per URI.
async function session() {
  const c = new Client({ name: 'zg-subs', version: '1' });
  const transport = new StreamableHTTPClientTransport(new URL(url), {
    requestInit: { headers: { Authorization: `Bearer ${TOKEN}` } } });
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
async function listen(uris) {
  const ac = new AbortController();
  const r = await fetch(url, { method: 'POST', signal: ac.signal,
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
    writeFileSync(join(dir, 'a.token'), `${TOKEN}\n`, { mode: 0o600 });
    writeFileSync(join(dir, 'gw.policy'), `agent resource:z26.${WATCHED} allow
agent resource:z26.test://template/* allow
agent z26.test_update_watched allow
`);
    writeFileSync(cfg, JSON.stringify({
      zones: {
        agent: { domid: 91, role: 'agent', chan: 'sim:91:agent' },
        z26: { domid: 92, role: 'tool', chan: 'sim:92:z26' },
      },
      listeners: [{ listen: '127.0.0.1:0', zone: 'agent', token_file: 'a.token' }],
      admin_socket: 'gatewayd.sock', policy: 'gw.policy', audit_log: 'audit.log',
      audit_flush_ms: 0,
    }));
    zone = spawnDaemon(MCPD_TEST, ['--chan', 'sim:92:z26', '--fixtures', 'conformance',
      '--protocol-versions', REV], env);
    gw = spawnDaemon(GATEWAYD, ['--config', cfg], env);
    await waitFor('gatewayd', () => /tool zone z26 up: .*, revision 2026-07-28/.test(gw.log) &&
      /listener for zone agent on http/.test(gw.log));
    url = /listener for zone agent on (http:\/\/\S+)/.exec(gw.log)[1];
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

  // The 257th subscription of a session, and a new URI of a zone that
  // already has a share of 256 upstream listens, are refused with -32000
  // and a limit record; a URI another session holds is shared and costs
  // the zone nothing. Red with each cap raised by one in turn.
  test('caps: 256 per session, 256 upstream listens per agent zone', async () => {
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
    await c.end();
    await d.end();
    await waitFor('all closed', () => subs().listens === 0);
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
    mkdirSync(d2, { recursive: true });
    writeFileSync(join(d2, 'a.token'), `${TOKEN}\n`, { mode: 0o600 });
    writeFileSync(join(d2, 'gw.policy'), '* * allow\n');
    writeFileSync(cfg2, JSON.stringify({
      zones: {
        agent: { domid: 93, role: 'agent', chan: 'sim:93:agent' },
        z26: { domid: 94, role: 'tool', chan: 'sim:94:z26' },
      },
      listeners: [{ listen: '127.0.0.1:0', zone: 'agent', token_file: 'a.token' }],
      admin_socket: 'gatewayd.sock', policy: 'gw.policy', audit_log: 'audit.log',
      audit_flush_ms: 0,
    }));
    zone2 = spawnDaemon(MCPD_TEST, ['--chan', 'sim:94:z26', '--fixtures', 'conformance',
      '--protocol-versions', REV, '--max-listens', '1'], env2);
    gw2 = spawnDaemon(GATEWAYD, ['--config', cfg2], env2);
    await waitFor('gatewayd 2', () => /tool zone z26 up: .*, revision 2026-07-28/.test(gw2.log) &&
      /listener for zone agent on http/.test(gw2.log));
    const url2 = /listener for zone agent on (http:\/\/\S+)/.exec(gw2.log)[1];
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
