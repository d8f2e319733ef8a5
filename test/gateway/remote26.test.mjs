// End to end: remote (`url`) tool zones that speak MCP 2026-07-28.
// Real processes: gatewayd; `mcpd-test --http --protocol-versions
// 2026-07-28` (r26, reached through a recording pass-through proxy of this
// file, so every HTTP request the gateway makes to it is seen), a dual
// `mcpd-test --http` (rdual) and a 2025-11-25-only one (r25); two agent
// zones on token-bound listeners, reached by the SDK 1.x client (a
// 2025-11-25 session), the SDK 2.x client pinned to 2026-07-28 and raw
// 2026-07-28 requests.
// Proves: the gateway probes a remote zone with server/discover like a
// channel zone (r26 spoken to in 2026-07-28, the dual and the
// 2025-11-25-only ones in 2025-11-25, all in `gatewayctl status`); r26
// gets stateless POSTs only (no initialize, no session id, no GET, no
// DELETE; MCP-Protocol-Version, Mcp-Method and Mcp-Name mirroring each
// body); its tools are listed and
// filtered by policy, allowed and denied with audit ids, from both
// revisions; a tool's x-mcp-header parameter reaches r26 as the
// Mcp-Param header mcpd checks (plain and Base64 forms); an
// InputRequiredResult goes both ways (a session is asked by elicitation,
// a 2026-07-28 agent gets the zone's state sealed by the gateway, and a
// tampered or foreign state is refused and audited); a cancelled call's
// POST is closed (no notifications/cancelled goes up); list changes reach
// a listen through the control listen, which outlives the POST deadline.
// Env: GATEWAYD, GATEWAYCTL, MCPD_TEST.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { checkedAfter, guardHooks, daemon as spawnDaemon, rpcError, sseFollow, stop,
  waitFor } from '../common/harness.mjs';
import { callsBothRevisions, HDRS, IRR_TOOL, irrRoundTrip, listenerUrl, meta, post26 as post26of,
  REV, sameLists, sdk2Rounds, sessionIrr, sessions } from './revpairs.mjs';

guardHooks();

const { GATEWAYD, GATEWAYCTL, MCPD_TEST } = process.env;
const dir = mkdtempSync(join(tmpdir(), 'zg-gwr26-'));
const env = { ...process.env, ZONEGATE_SIM_DIR: join(dir, 'sim') };
const daemon = (bin, args) => spawnDaemon(bin, args, env);
const cfg = join(dir, 'gatewayd.json');
const TOKEN = 'r'.repeat(20) + 'Rm6-token-of-the-agent-0123456789';
const TOKEN2 = 'o'.repeat(20) + 'Ko3-token-of-the-other-0123456789';
// the POST deadline is call_timeout_ms + 5 s: the control listen must
// outlive it
const CALL_TIMEOUT_MS = 1000;
// A stateless POST through a listener (agent zone's token unless given).
const post26 = (url, method, params = {}, caps = {}, token = TOKEN, extra = {}) =>
  post26of(url, token, method, params, caps, extra);

const audit = () => readFileSync(join(dir, 'audit.log'), 'utf8').trim().split('\n')
  .map((l) => JSON.parse(l));

// ---- a recording pass-through proxy in front of r26 ----

// { method, headers, body } of every HTTP request the gateway sent r26
const seen = [];
// ids of the requests whose POST the gateway closed before the answer
const closedEarly = [];

function proxy(port) {
  return createServer((req, res) => {
    const chunks = [];
    req.on('data', (d) => chunks.push(d));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      let msg = null;
      try { msg = body.length ? JSON.parse(body) : null; } catch { /* recorded as null */ }
      seen.push({ method: req.method, headers: req.headers, body: msg });
      const up = request({ host: '127.0.0.1', port, path: req.url, method: req.method,
        headers: req.headers }, (ur) => {
        res.writeHead(ur.statusCode, ur.headers);
        ur.pipe(res);
      });
      up.on('error', () => res.destroy());
      res.on('close', () => {
        if (!res.writableFinished) closedEarly.push(msg?.id);
        up.destroy();
      });
      up.end(body);
    });
  });
}

const listenOn = (srv) => new Promise((res) => srv.listen(0, '127.0.0.1',
  () => res(srv.address().port)));

let gw, r26, rdual, r25, prox, url, url2, client, plain;
const elicited = [];

describe('gatewayd: remote tool zones of 2026-07-28', { concurrency: false }, () => {
  before(async () => {
    writeFileSync(join(dir, 'a.token'), `${TOKEN}\n`, { mode: 0o600 });
    writeFileSync(join(dir, 'o.token'), `${TOKEN2}\n`, { mode: 0o600 });
    const fx = ['--http', '127.0.0.1:0', '--fixtures', 'conformance'];
    r26 = daemon(MCPD_TEST, [...fx, '--protocol-versions', REV,
      '--ready-file', join(dir, 'r26.ready')]);
    rdual = daemon(MCPD_TEST, [...fx, '--ready-file', join(dir, 'rdual.ready')]);
    r25 = daemon(MCPD_TEST, [...fx, '--protocol-versions', '2025-11-25',
      '--ready-file', join(dir, 'r25.ready')]);
    const ready = (f) => readFileSync(join(dir, f), 'utf8').trim();
    await waitFor('mcpd-test', () => ready('r26.ready').includes('/mcp') &&
      ready('rdual.ready').includes('/mcp') && ready('r25.ready').includes('/mcp'));
    prox = proxy(Number(new URL(ready('r26.ready')).port));
    const pport = await listenOn(prox);
    writeFileSync(cfg, JSON.stringify({
      zones: {
        agent: { domid: 91, role: 'agent' },
        other: { domid: 95, role: 'agent' },
        r26: { domid: 92, role: 'tool', url: `http://127.0.0.1:${pport}/mcp` },
        rdual: { domid: 93, role: 'tool', url: ready('rdual.ready') },
        r25: { domid: 94, role: 'tool', url: ready('r25.ready') },
      },
      listeners: [{ listen: '127.0.0.1:0', zone: 'agent', token_file: 'a.token' },
        { listen: '127.0.0.1:0', zone: 'other', token_file: 'o.token' }],
      admin_socket: 'gatewayd.sock',
      policy: 'gw.policy',
      audit_log: 'audit.log',
      audit_flush_ms: 0,
      call_timeout_ms: CALL_TIMEOUT_MS,
    }, null, 2));
    writeFileSync(join(dir, 'gw.policy'), `agent r26.test_image_content deny
agent rdual.test_image_content deny
agent *.test_simple_text allow
agent *.test_header_param allow
agent *.${IRR_TOOL} allow
agent *.test_input_required_result_elicitation allow
agent *.test_input_required_result_multi_round allow
agent r26.test_trigger_tool_change allow
agent r26.test_temporary_tool allow
agent r26.test_slow_counter allow
agent r26.test_update_watched allow
agent resource:r26.test://watched-resource allow
other *.${IRR_TOOL} allow
`);
    gw = daemon(GATEWAYD, ['--config', cfg]);
    await waitFor('gatewayd', () => ['r26', 'rdual', 'r25'].every((z) =>
      gw.log.includes(`tool zone ${z} up`)) && /listener for zone agent on http/.test(gw.log) &&
      /listener for zone other on http/.test(gw.log), 15000);
    url = listenerUrl(gw.log, 'agent');
    url2 = listenerUrl(gw.log, 'other');
    ({ client, plain } = await sessions(url, TOKEN, elicited));
  });
  checkedAfter(async () => {
    await client?.close();
    await plain?.close();
    gw.kill('SIGTERM');
    const code = await gw.done;
    prox?.closeAllConnections?.();
    prox?.close();
    await stop(r26);
    await stop(rdual);
    await stop(r25);
    rmSync(dir, { recursive: true, force: true });
    assert.equal(code, 0, gw.log);
  });

  // Red without the probe for remote zones (r26 never comes up: it
  // refuses initialize) and with every zone that lists 2026-07-28 taken
  // as one (rdual would show 2026-07-28).
  test('negotiated per remote zone, shown by gatewayctl status', () => {
    const r = spawnSync(GATEWAYCTL, ['--config', cfg, 'status'], { env, encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const zones = JSON.parse(r.stdout).zones;
    const z = (n) => zones.find((x) => x.zone === n);
    assert.equal(z('r26').revision, REV);
    assert.equal(z('rdual').revision, '2025-11-25'); // both eras: the session era
    // 2025-11-25 only: its refusal of the stateless probe, then initialize
    assert.equal(z('r25').revision, '2025-11-25');
    for (const n of ['r26', 'rdual', 'r25']) {
      assert.equal(z(n).health, 'up');
      assert.ok(z(n).remote, n);
    }
    assert.match(gw.log, /tool zone r26 up: .*, revision 2026-07-28/);
  });

  // Red with the lists or the links to r26 opened as sessions
  // (initialize: refused by r26, its tools never listed).
  test('both revisions list the same tools, filtered by policy', () =>
    sameLists(client, url, TOKEN,
      ['r26.test_simple_text', 'rdual.test_simple_text', 'r26.test_header_param']));

  test('calls allowed and denied with audit ids from both revisions', () =>
    callsBothRevisions({ client, url, token: TOKEN, zones: ['r26', 'rdual'], zone: 'r26',
      audit }));

  // An x-mcp-header parameter: mcpd refuses a call without the right
  // Mcp-Param-Region (-32020), so each result proves the header came, in
  // the plain form and, for text a header cannot hold, the Base64 one. A
  // 2025-11-25 session sends no headers: the gateway makes them from the
  // catalogue. Red with the client's Mcp-Param code (param_line) off.
  test('x-mcp-header parameters reach the remote zone as Mcp-Param headers', async () => {
    const plainRegion = await client.callTool({ name: 'r26.test_header_param',
      arguments: { region: 'us-west1' } });
    assert.equal(plainRegion.content[0].text, 'region=us-west1', JSON.stringify(plainRegion));
    const odd = ' zürich\t1 ';
    const r2 = await client.callTool({ name: 'r26.test_header_param', arguments: { region: odd } });
    assert.equal(r2.content[0].text, `region=${odd}`, JSON.stringify(r2));
    const r3 = await post26(url, 'tools/call', { name: 'r26.test_header_param',
      arguments: { region: 'eu-1' } }, {}, TOKEN, { 'mcp-param-region': 'eu-1' });
    assert.equal(r3.result?.content[0].text, 'region=eu-1', JSON.stringify(r3));
    const calls = seen.filter((s) => s.body?.params?.name === 'test_header_param');
    assert.equal(calls.length, 3);
    assert.equal(calls[0].headers['mcp-param-region'], 'us-west1');
    assert.equal(calls[1].headers['mcp-param-region'],
      `=?base64?${Buffer.from(odd).toString('base64')}?=`);
    assert.equal(calls[2].headers['mcp-param-region'], 'eu-1');
  });

  // A call the agent cancels: the revision cancels by closing the
  // request's connection, so the gateway closes the call's POST and sends
  // r26 no notifications/cancelled. Red with the cancellation POSTed as
  // on a session.
  test('a cancelled call closes its POST', async () => {
    const ac = new AbortController();
    const before = seen.length;
    const p = client.callTool({ name: 'r26.test_slow_counter',
      arguments: { steps: 10000, interval_ms: 10 } }, undefined, { signal: ac.signal });
    await waitFor('the call upstream', () => seen.slice(before).some((s) =>
      s.body?.params?.name === 'test_slow_counter'));
    const up = seen.slice(before).find((s) => s.body?.params?.name === 'test_slow_counter');
    ac.abort();
    await rpcError(p);
    await waitFor('the POST closed', () => closedEarly.includes(up.body.id));
    assert.ok(!seen.some((s) => s.body?.method === 'notifications/cancelled'));
  });

  // What r26 got: stateless POSTs only, each mirrored in its headers.
  // Red with the links opened as sessions and with the mirror headers off
  // (mcpd also refuses those requests).
  test('the 2026-07-28 zone gets stateless POSTs with the mirror headers', () => {
    assert.ok(seen.length > 5, `${seen.length} requests`);
    for (const s of seen) {
      assert.equal(s.method, 'POST', JSON.stringify(s.headers));
      assert.equal(s.headers['mcp-session-id'], undefined);
      assert.equal(s.headers['mcp-protocol-version'], REV);
      assert.notEqual(s.body?.method, 'initialize');
      assert.equal(s.headers['mcp-method'], s.body.method);
      const name = ['tools/call', 'prompts/get'].includes(s.body.method) ? s.body.params.name
        : s.body.method === 'resources/read' ? s.body.params.uri : undefined;
      assert.equal(s.headers['mcp-name'], name, JSON.stringify(s.body));
      if ('id' in s.body)
        assert.equal(s.body.params._meta['io.modelcontextprotocol/protocolVersion'], REV);
    }
    assert.equal(seen[0].body.method, 'server/discover');
  });

  // A 2025-11-25 session's call to r26 that asks for input: the gateway
  // asks the session (elicitation/create) and retries with the zone's
  // state; a session that declared nothing gets the zone's -32021 (its
  // HTTP 400 body passed on). Red with the client's 4xx bodies dropped
  // (the session then gets "upstream: HTTP status 400").
  test('2025-11-25 session, remote 2026-07-28 zone: InputRequiredResult as elicitation', () =>
    sessionIrr({ client, plain, zone: 'r26', elicited }));

  // A 2026-07-28 agent gets r26's InputRequiredResult with the state
  // sealed by the gateway; a flipped byte, the state carried to another
  // zone's tool or used by another agent zone: -32602, audited `refused`;
  // the genuine retry completes.
  test('2026-07-28 agent, remote 2026-07-28 zone: InputRequiredResult round trip', async () => {
    const r1 = await irrRoundTrip({ url, token: TOKEN, url2, token2: TOKEN2, zone: 'r26',
      otherZone: 'rdual', audit });
    const payload = JSON.parse(Buffer.from(r1.requestState.split('.')[1], 'base64url'));
    assert.equal(payload.s.z, 'agent'); // the gateway's seal, naming the agent zone
    assert.equal(payload.s.t, 'r26');
  });

  test('the SDK 2.x client pinned to 2026-07-28 through elicitation rounds', () =>
    sdk2Rounds(url, TOKEN, ['r26']));

  // The control listen to r26 is a POST that must outlive the POST
  // deadline (call_timeout_ms + 5 s): after that long the zone has not
  // reconnected, and a tool change still reaches an agent's listen. Red
  // with the deadline applied to listens (the zone reconnects: connects 2;
  // the agent's upstream listen for the URI is cut, no resources/updated).
  test('list changes reach a listen through the control listen', async () => {
    const started = Date.now();
    const ac = new AbortController();
    const r = await fetch(url, { method: 'POST', signal: ac.signal,
      headers: { ...HDRS, authorization: `Bearer ${TOKEN}`, 'mcp-protocol-version': REV,
        'mcp-method': 'subscriptions/listen' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 'L1', method: 'subscriptions/listen',
        params: { notifications: { toolsListChanged: true,
          resourceSubscriptions: ['test://watched-resource'] }, _meta: meta() } }) });
    const frames = [];
    sseFollow(r.body, frames);
    try {
      await waitFor('ack', () => frames.length === 1);
      assert.equal(frames[0].method, 'notifications/subscriptions/acknowledged');
      await sleep(Math.max(0, CALL_TIMEOUT_MS + 6000 - (Date.now() - started)));
      const st = spawnSync(GATEWAYCTL, ['--config', cfg, 'status'], { env, encoding: 'utf8' });
      const z = JSON.parse(st.stdout).zones.find((x) => x.zone === 'r26');
      assert.equal(z.connects, 1, JSON.stringify(z));
      assert.equal(z.health, 'up');
      await post26(url, 'tools/call', { name: 'r26.test_trigger_tool_change', arguments: {} });
      await waitFor('tools list_changed', () => frames.some((f) =>
        f.method === 'notifications/tools/list_changed'), 10000);
      // resources/updated by the listen the gateway opened upstream
      await post26(url, 'tools/call', { name: 'r26.test_update_watched', arguments: {} });
      await waitFor('resources/updated', () => frames.some((f) =>
        f.method === 'notifications/resources/updated' &&
        f.params.uri === 'test://watched-resource'), 10000);
      assert.ok(seen.some((x) => x.body?.method === 'subscriptions/listen' &&
        x.body.params.notifications.resourceSubscriptions?.includes('test://watched-resource')));
    } finally {
      ac.abort();
    }
  });
});
