// End to end: which revision gatewayd speaks to each tool zone, and
// agents of both revisions against tool zones of one revision each.
// Real processes: gatewayd; three mcpd-test tool zones on channels, one
// serving only 2025-11-25 (t25), one only 2026-07-28 (t26), one both
// (dual); one agent zone on a token-bound listener, reached by the SDK
// 1.x client (a 2025-11-25 session) and by raw 2026-07-28 requests.
// Proves: the gateway negotiates per tool zone (server/discover first,
// initialize when the zone does not list 2026-07-28 alone) and says so in
// `gatewayctl status`; a 2026-07-28-only zone is reachable from both
// revisions (its tools listed and filtered by policy like the others',
// calls allowed and denied with audit ids); an InputRequiredResult from
// such a zone is refused with a clear error, never passed on with the
// zone's own state.
// Env: GATEWAYD, GATEWAYCTL, MCPD_TEST.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import { checkedAfter, guardHooks, daemon as spawnDaemon, sseFollow, stop,
  waitFor } from '../common/harness.mjs';
import { callsBothRevisions, HDRS as MCP_HDRS, IRR_TOOL, irrRoundTrip, listenerUrl, meta,
  REV, sameLists, sdk2Rounds, sessionIrr, sessions } from './revpairs.mjs';

guardHooks();

const { GATEWAYD, GATEWAYCTL, MCPD_TEST } = process.env;
const dir = mkdtempSync(join(tmpdir(), 'zg-gwrev-'));
const env = { ...process.env, ZONEGATE_SIM_DIR: join(dir, 'sim') };
const daemon = (bin, args) => spawnDaemon(bin, args, env);
const cfg = join(dir, 'gatewayd.json');
const TOKEN = 'r'.repeat(20) + 'Qw7-token-of-the-agent-0123456789';
const TOKEN2 = 'o'.repeat(20) + 'Zx4-token-of-the-other-0123456789';
const HDRS = { ...MCP_HDRS, authorization: `Bearer ${TOKEN}` };

const audit = () => readFileSync(join(dir, 'audit.log'), 'utf8').trim().split('\n')
  .map((l) => JSON.parse(l));

let gw, t25, t26, dual, url, url2, client, plain;
const elicited = [];

describe('gatewayd: the revision spoken to each tool zone', { concurrency: false }, () => {
  before(async () => {
    writeFileSync(join(dir, 'a.token'), `${TOKEN}\n`, { mode: 0o600 });
    writeFileSync(join(dir, 'o.token'), `${TOKEN2}\n`, { mode: 0o600 });
    writeFileSync(cfg, JSON.stringify({
      zones: {
        agent: { domid: 71, role: 'agent', chan: 'sim:71:agent' },
        other: { domid: 75, role: 'agent', chan: 'sim:75:other' },
        t25: { domid: 72, role: 'tool', chan: 'sim:72:t25' },
        t26: { domid: 73, role: 'tool', chan: 'sim:73:t26' },
        dual: { domid: 74, role: 'tool', chan: 'sim:74:dual' },
      },
      listeners: [{ listen: '127.0.0.1:0', zone: 'agent', token_file: 'a.token' },
        { listen: '127.0.0.1:0', zone: 'other', token_file: 'o.token' }],
      admin_socket: 'gatewayd.sock',
      policy: 'gw.policy',
      audit_log: 'audit.log',
      audit_flush_ms: 0,
    }, null, 2));
    writeFileSync(join(dir, 'gw.policy'), `agent t26.test_image_content deny
agent t25.test_image_content deny
agent *.test_simple_text allow
agent *.${IRR_TOOL} allow
agent *.test_input_required_result_elicitation allow
agent *.test_input_required_result_multi_round allow
other *.${IRR_TOOL} allow
`);
    const fx = ['--fixtures', 'conformance'];
    t25 = daemon(MCPD_TEST, ['--chan', 'sim:72:t25', ...fx, '--protocol-versions', '2025-11-25']);
    t26 = daemon(MCPD_TEST, ['--chan', 'sim:73:t26', ...fx, '--protocol-versions', REV]);
    dual = daemon(MCPD_TEST, ['--chan', 'sim:74:dual', ...fx]);
    gw = daemon(GATEWAYD, ['--config', cfg]);
    await waitFor('gatewayd', () => ['t25', 't26', 'dual'].every((z) =>
      gw.log.includes(`tool zone ${z} up`)) && /listener for zone agent on http/.test(gw.log) &&
      /listener for zone other on http/.test(gw.log));
    url = listenerUrl(gw.log, 'agent');
    url2 = listenerUrl(gw.log, 'other');
    ({ client, plain } = await sessions(url, TOKEN, elicited));
  });
  checkedAfter(async () => {
    await client?.close();
    await plain?.close();
    gw.kill('SIGTERM');
    const code = await gw.done;
    await stop(t25);
    await stop(t26);
    await stop(dual);
    rmSync(dir, { recursive: true, force: true });
    assert.equal(code, 0, gw.log);
  });

  // Red without the discover probe (t26 never comes up: its initialize is
  // refused) and with every zone that lists 2026-07-28 taken as one.
  test('negotiated per zone, shown by gatewayctl status', () => {
    const r = spawnSync(GATEWAYCTL, ['--config', cfg, 'status'], { env, encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const zones = JSON.parse(r.stdout).zones;
    const rev = (z) => zones.find((x) => x.zone === z).revision;
    assert.equal(rev('t25'), '2025-11-25');
    assert.equal(rev('t26'), REV);
    assert.equal(rev('dual'), '2025-11-25'); // both eras: the session era
    for (const z of ['t25', 't26', 'dual'])
      assert.equal(zones.find((x) => x.zone === z).health, 'up');
    assert.match(gw.log, /tool zone t26 up: .*, revision 2026-07-28/);
  });

  // Red with the catalogue requests to t26 sent without the revision's
  // _meta (t26 refuses them, its tools never listed).
  test('both revisions list the same tools, filtered by policy', () =>
    sameLists(client, url, TOKEN,
      ['t25.test_simple_text', 't26.test_simple_text', 'dual.test_simple_text']));

  // Red with links to t26 opened by initialize (the zone refuses it and
  // the call ends "initialize refused").
  test('calls to a 2026-07-28-only zone from both revisions', () =>
    callsBothRevisions({ client, url, token: TOKEN, zones: ['t25', 't26'], zone: 't26',
      audit }));

  // A 2025-11-25 session's call to a 2026-07-28-only zone that asks for
  // input: the gateway asks the agent (elicitation/create on its session)
  // and sends the call again with inputResponses and the zone's state; a
  // session without the capability gets the zone's -32021 naming it. Red
  // with gw_up_irr_result off (the session gets a result it cannot read)
  // and with the retry sent without the zone's requestState.
  test('2025-11-25 session, 2026-07-28 zone: InputRequiredResult as elicitation', async () => {
    await sessionIrr({ client, plain, zone: 't26', elicited });
    const recs = audit().filter((x) => x.target === `t26.${IRR_TOOL}` && x.decision === 'allow');
    assert.equal(recs.length, 2);
  });

  // A 2026-07-28 agent gets the zone's InputRequiredResult with the state
  // sealed by the gateway and retries through it; a flipped byte, the
  // state carried to another zone's tool or by another agent zone are
  // -32602 and audited `refused`. Red without wrap_state (the agent then
  // holds the zone's own state, which no retry through the gateway can
  // use) and without the agent-zone check of unwrap_check (the other agent
  // zone's retry goes through).
  test('2026-07-28 agent, 2026-07-28 zone: InputRequiredResult round trip', () =>
    irrRoundTrip({ url, token: TOKEN, url2, token2: TOKEN2, zone: 't26', otherZone: 'dual',
      audit }));

  // The official SDK 2.x client pinned to 2026-07-28, both mixed pairs and
  // the 2026 pair through one listener: an elicitation and a three-round
  // call on the 2025-11-25-only zone (the gateway's held calls) and on the
  // 2026-07-28-only one (the zone's own InputRequiredResults, sealed by
  // the gateway). Red without wrap_state (the SDK's retry to t26 refused).
  test('the SDK 2.x client against both kinds of zone', () =>
    sdk2Rounds(url, TOKEN, ['t25', 't26']));
});

// subscriptions/listen of a 2026-07-28 agent to a 2026-07-28-only zone,
// through a gatewayd of its own (one tool zone: a URI names one zone):
// list changes come by the gateway's listen on the zone's control stream,
// resources/updated by a listen the gateway opens upstream for the URI.
// Red without ctl_listen (no tools list_changed) and with the zone's
// resources/subscribe sent instead of listen_up (no resources/updated).
describe('gatewayd: subscriptions/listen to a 2026-07-28 zone', { concurrency: false }, () => {
  const d2 = join(dir, 'two');
  const env2 = { ...process.env, ZONEGATE_SIM_DIR: join(d2, 'sim') };
  let gw2, zone, url3;

  async function listen(notifications) {
    const ac = new AbortController();
    const r = await fetch(url3, { method: 'POST', signal: ac.signal,
      headers: { ...HDRS, 'mcp-protocol-version': REV, 'mcp-method': 'subscriptions/listen' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 'L1', method: 'subscriptions/listen',
        params: { notifications, _meta: meta() } }) });
    const out = { frames: [], close: () => ac.abort() };
    sseFollow(r.body, out.frames);
    return out;
  }
  const call = async (name) => {
    const r = await fetch(url3, { method: 'POST',
      headers: { ...HDRS, 'mcp-protocol-version': REV, 'mcp-method': 'tools/call', 'mcp-name': name },
      body: JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'tools/call',
        params: { name, arguments: {}, _meta: meta() } }) });
    return r.text();
  };

  before(async () => {
    mkdirSync(d2, { recursive: true });
    writeFileSync(join(d2, 'a.token'), `${TOKEN}\n`, { mode: 0o600 });
    writeFileSync(join(d2, 'gw.policy'), '* * allow\n');
    writeFileSync(join(d2, 'gatewayd.json'), JSON.stringify({
      zones: {
        agent: { domid: 81, role: 'agent', chan: 'sim:81:agent', default_zone: 'z26' },
        z26: { domid: 82, role: 'tool', chan: 'sim:82:z26' },
      },
      listeners: [{ listen: '127.0.0.1:0', zone: 'agent', token_file: 'a.token' }],
      policy: 'gw.policy', audit_log: 'audit.log', audit_flush_ms: 0,
    }));
    zone = spawnDaemon(MCPD_TEST, ['--chan', 'sim:82:z26', '--fixtures', 'conformance',
      '--protocol-versions', REV], env2);
    gw2 = spawnDaemon(GATEWAYD, ['--config', join(d2, 'gatewayd.json')], env2);
    await waitFor('gatewayd 2', () => /tool zone z26 up: .*, revision 2026-07-28/.test(gw2.log) &&
      /listener for zone agent on http/.test(gw2.log));
    url3 = /listener for zone agent on (http:\/\/\S+)/.exec(gw2.log)[1];
  });
  checkedAfter(async () => {
    gw2.kill('SIGTERM');
    const code = await gw2.done;
    await stop(zone);
    rmSync(dir, { recursive: true, force: true });
    assert.equal(code, 0, gw2.log);
  });

  test('list changes and resources/updated reach the listen', async () => {
    const l = await listen({ toolsListChanged: true,
      resourceSubscriptions: ['test://watched-resource'] });
    try {
      await waitFor('ack', () => l.frames.length === 1);
      assert.equal(l.frames[0].method, 'notifications/subscriptions/acknowledged');
      await call('test_update_watched');
      await waitFor('resources/updated', () => l.frames.some((f) =>
        f.method === 'notifications/resources/updated'), 10000);
      await call('test_trigger_tool_change');
      await waitFor('tools list_changed', () => l.frames.some((f) =>
        f.method === 'notifications/tools/list_changed'), 10000);
    } finally {
      l.close();
    }
  });
});
