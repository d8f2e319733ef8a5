// End to end: a tool zone's capacity in the gateway (gateway/gw_admit.c,
// docs/gateway.md "Tool zone capacity"). Two agent zones, "hog" and
// "good", call tool zones of mcpd-test on channels (each with --workers
// equal to the zone's max_inflight) through their own listeners, with
// stateless 2026-07-28 POSTs. hog plays the hostile zone: many slow calls
// (test_slow_counter, about 2 s each) at once.
// Proves: one agent zone never holds more than agent_max_inflight of a
// tool zone's slots, so another zone's call runs at once while hog's wait;
// a freed slot goes to the zone holding the fewest, not to the oldest
// waiting call; the bytes of waiting calls are capped per agent zone (the
// rest refused, gatewayd's memory bounded); a waiting call ends at its
// deadline and when its client goes, without reaching the tool zone;
// gatewayctl status and the metrics show the slots and the queue.
// Env: GATEWAYD, GATEWAYCTL, MCPD_TEST.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { checkedAfter, daemon as spawnDaemon, guardHooks, post2026, rawSession, stop, waitFor }
  from '../common/harness.mjs';

guardHooks();
const { GATEWAYD, GATEWAYCTL, MCPD_TEST } = process.env;
const dir = mkdtempSync(join(tmpdir(), 'zg-gwcap-'));
const env = { ...process.env, ZONEGATE_SIM_DIR: join(dir, 'sim') };
const daemon = (bin, args) => spawnDaemon(bin, args, env);
const TOK = { hog: `${'h'.repeat(24)}-cap-token-0123456789`,
  good: `${'g'.repeat(24)}-cap-token-0123456789` };
const SLOW = { steps: 20, interval_ms: 100 }; // about 2 s on a worker
const QUICK = { steps: 1, interval_ms: 1 }; // a millisecond on a worker

let gw, zones = [], url;
const call = (z, name, args = {}) =>
  post2026(url[z], TOK[z], 'tools/call', { name, arguments: args });
const slow = (z, zone) => call(z, `${zone}.test_slow_counter`, SLOW);
// A stateless call given up when signal aborts (its client goes).
const abortable = (z, name, signal) => fetch(url[z], { method: 'POST', signal,
  headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream',
    authorization: `Bearer ${TOK[z]}`, 'mcp-protocol-version': '2026-07-28',
    'mcp-method': 'tools/call', 'mcp-name': name },
  body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name, arguments: {},
    _meta: { 'io.modelcontextprotocol/protocolVersion': '2026-07-28',
      'io.modelcontextprotocol/clientCapabilities': {} } } }) }).then((r) => r.text(), (e) => e);
const audit = () => readFileSync(join(dir, 'audit.log'), 'utf8').trim().split('\n')
  .map((l) => JSON.parse(l));
function status() {
  const r = spawnSync(GATEWAYCTL, ['--config', join(dir, 'gw.json'), 'status'],
    { env, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout);
}
const capacity = (zone) => {
  const st = status();
  const zs = Array.isArray(st) ? st : st.zones;
  return zs.find((z) => z.zone === zone && z.role === 'tool').capacity;
};
// Calls started now, each recording when it was answered (an order).
function tracker() {
  let n = 0;
  const done = [];
  const track = (who, pr) => pr.then((r) => { done.push({ who, at: n++, r }); return r; });
  return { done, track };
}

describe('gatewayd: a tool zone\'s capacity shared among agent zones', { concurrency: false }, () => {
  checkedAfter(async () => {
    const code = await stop(gw);
    for (const z of zones) await stop(z);
    assert.equal(code, 0, gw?.log.slice(-3000));
    assert.doesNotMatch(gw.log, /AddressSanitizer|runtime error/);
    rmSync(dir, { recursive: true, force: true });
  });

  test('start: three tool zones of 4, 4 and 1 slots', async () => {
    mkdirSync(join(dir, 'sim'), { recursive: true });
    for (const z of Object.keys(TOK)) writeFileSync(join(dir, `${z}.token`), `${TOK[z]}\n`, { mode: 0o600 });
    // good's calls of one tool of "tight" have a deadline of 1.5 s
    writeFileSync(join(dir, 'gw.policy'), `good tight.test_image_content allow timeout=1500ms
* * allow
`);
    writeFileSync(join(dir, 'gw.json'), JSON.stringify({
      zones: {
        hog: { domid: 151, role: 'agent', chan: 'sim:151:hog' },
        good: { domid: 152, role: 'agent', chan: 'sim:152:good' },
        // agent_max_inflight not given: 3 of 4 (a quarter kept)
        tools: { domid: 153, role: 'tool', chan: 'sim:153:tools', max_inflight: 4 },
        // one zone may take every slot: only the fair order helps
        fair: { domid: 154, role: 'tool', chan: 'sim:154:fair', max_inflight: 4,
          agent_max_inflight: 4 },
        tight: { domid: 155, role: 'tool', chan: 'sim:155:tight', max_inflight: 1 },
      },
      listeners: Object.keys(TOK).map((z) => ({ listen: '127.0.0.1:0', zone: z,
        token_file: `${z}.token` })),
      policy: 'gw.policy', audit_log: 'audit.log', audit_flush_ms: 0,
      admin_socket: 'gw.sock', metrics: '127.0.0.1:0',
    }));
    const fx = ['--fixtures', 'conformance'];
    zones = [
      daemon(MCPD_TEST, ['--chan', 'sim:153:tools', ...fx, '--workers', '4']),
      daemon(MCPD_TEST, ['--chan', 'sim:154:fair', ...fx, '--workers', '4']),
      daemon(MCPD_TEST, ['--chan', 'sim:155:tight', ...fx, '--workers', '1']),
    ];
    gw = daemon(GATEWAYD, ['--config', join(dir, 'gw.json')]);
    await waitFor('gatewayd', () => ['tools', 'fair', 'tight'].every((z) =>
      gw.log.includes(`tool zone ${z} up`)) &&
      Object.keys(TOK).every((z) => gw.log.includes(`listener for zone ${z} on http`)), 15000);
    url = Object.fromEntries(Object.keys(TOK).map((z) => [z,
      new RegExp(`listener for zone ${z} on (http://\\S+)`).exec(gw.log)[1]]));
    assert.deepEqual(capacity('tools'),
      { max_inflight: 4, agent_max_inflight: 3, inflight: 0, queued: 0, queued_bytes: 0 });
  });

  // Proves agent_max_inflight: hog's 8 slow calls (2 s) hold 3 of tools' 4
  // slots and wait for the rest, so good's call goes into the fourth at
  // once, answered before any of hog's. Red with agent_max_inflight
  // equal to max_inflight (good's call waited in the gateway for hog's
  // first) and without admission (it waited in mcpd's queue for a worker).
  test('one zone holds at most agent_max_inflight: another\'s call runs at once', async () => {
    const { done, track } = tracker();
    const hog = Array.from({ length: 8 }, () => track('hog', slow('hog', 'tools')));
    let held;
    await waitFor('hog to hold its slots', () => {
      held = capacity('tools');
      return held.inflight >= 3 && held.inflight + held.queued === 8;
    });
    // a quick call that runs on one of mcpd's workers, as web_fetch or a
    // RAG search does (test_simple_text runs on mcpd's I/O thread)
    const g = await track('good', call('good', 'tools.test_slow_counter', QUICK));
    assert.match(g.result.content[0].text, /counted to 1/, JSON.stringify(g));
    assert.equal(done.filter((d) => d.who === 'hog').length, 0,
      'good answered before any of hog\'s calls');
    assert.equal(held.inflight, 3, JSON.stringify(held));
    // the metrics say the same (their gauges are a snapshot, taken often)
    const murl = status().metrics_url;
    await waitFor('the metrics', async () => {
      const m = await (await fetch(murl)).text();
      return /zonegate_tool_zone_inflight\{zone="tools"\} 3\n/.test(m) &&
        /zonegate_tool_zone_queued\{zone="tools"\} [1-5]\n/.test(m);
    });
    for (const r of await Promise.all(hog)) assert.equal(r.result?.isError, undefined, JSON.stringify(r));
    assert.deepEqual(capacity('tools'),
      { max_inflight: 4, agent_max_inflight: 3, inflight: 0, queued: 0, queued_bytes: 0 });
  });

  // Proves the fair order: hog sends 12 slow calls to "fair" (4 slots,
  // and hog may take all 4), good then 2. As slots free, each goes to the
  // waiting zone that holds the fewest, so good's two run in the second
  // round, before hog's 9th..12th. Red with the oldest waiting call first
  // (good's then ran in the fourth round, after all of hog's).
  test('a freed slot goes to the zone holding the fewest', async () => {
    const { done, track } = tracker();
    const hog = [];
    for (let i = 0; i < 12; i++) hog.push(track('hog', slow('hog', 'fair')));
    await waitFor('hog\'s calls to wait', () => capacity('fair').queued === 8);
    const good = [track('good', slow('good', 'fair')), track('good', slow('good', 'fair'))];
    await waitFor('good\'s calls to wait', () => capacity('fair').queued === 10);
    await Promise.all([...hog, ...good]);
    const lastGood = Math.max(...done.filter((d) => d.who === 'good').map((d) => d.at));
    const hogBefore = done.filter((d) => d.who === 'hog' && d.at < lastGood).length;
    assert.ok(hogBefore <= 8, `hog answered ${hogBefore} calls before good's last (order ${
      done.map((d) => d.who[0]).join('')})`);
    for (const d of done) assert.equal(d.r.result?.isError, undefined, JSON.stringify(d.r));
  });

  // Proves the waiting calls' byte cap (the link budget, 16 MiB per agent
  // zone): with tight's one slot held, hog sends 24 calls of 1 MiB of
  // arguments; 15 wait (at most 16 MiB held, status queued_bytes) and the
  // rest are refused -32000 at once, each audited. good, whose budget is
  // its own, still gets its call queued and answered. Red with the
  // budget check off in gw_admit_queue (every call waited).
  test('the bytes of waiting calls are capped per agent zone', async () => {
    // held long enough for 24 MiB to arrive under the sanitizers
    const held = call('hog', 'tight.test_slow_counter', { steps: 50, interval_ms: 100 });
    await waitFor('tight to be busy', () => capacity('tight').inflight === 1);
    const big = 'x'.repeat(1 << 20);
    let most = 0;
    const calls = Array.from({ length: 24 }, () =>
      call('hog', 'tight.test_simple_text', { pad: big }));
    await waitFor('the calls to wait', () => {
      const cap = capacity('tight');
      most = Math.max(most, cap.queued_bytes);
      return cap.queued >= 14;
    }, 15000);
    const g = call('good', 'tight.test_simple_text');
    const out = await Promise.all(calls);
    const refused = out.filter((r) => r.error?.code === -32000);
    const ran = out.filter((r) => r.result);
    assert.ok(refused.length >= 6 && refused.length <= 10,
      `${refused.length} refused: ${JSON.stringify(out.find((r) => !r.result))}`);
    assert.match(refused[0].error.message, /too many calls waiting/);
    assert.equal(refused.length + ran.length, 24);
    assert.ok(most <= 16 << 20 && most > 14 << 20, `${most} bytes waited`);
    assert.match((await g).result.content[0].text, /simple text/);
    await held;
    const recs = audit().filter((a) => a.reason === 'tool zone queue full');
    assert.equal(recs.length, refused.length);
  });

  // Proves a waiting call keeps its deadline (good's rule: 1.5 s) and
  // ends there with -32001, and that one its client cancels is dropped:
  // neither reaches the tool zone (their audit records show no upstream
  // time), and the slot's next call still runs.
  test('a waiting call ends at its deadline or when its client cancels it', async () => {
    const held = call('hog', 'tight.test_slow_counter', { steps: 25, interval_ms: 100 });
    await waitFor('tight to be busy', () => capacity('tight').inflight === 1);
    const late = call('good', 'tight.test_image_content');
    // a 2025-11-25 session's call, cancelled while it waits
    const sess = await rawSession(url.good, { authorization: `Bearer ${TOK.good}` });
    const gone = sess.post({ jsonrpc: '2.0', id: 7, method: 'tools/call',
      params: { name: 'tight.test_simple_text', arguments: {} } });
    await waitFor('both to wait', () => capacity('tight').queued === 2);
    await sess.post({ jsonrpc: '2.0', method: 'notifications/cancelled',
      params: { requestId: 7, reason: 'changed my mind' } });
    await waitFor('the cancelled call to go', () => capacity('tight').queued === 1);

    const l = await late;
    assert.equal(l.error?.code, -32001, JSON.stringify(l));
    await held;
    const recs = audit().filter((a) => a.zone === 'good' && a.target.startsWith('tight.') &&
      ['deadline exceeded', 'cancelled by the client'].includes(a.reason));
    assert.equal(recs.length, 2, JSON.stringify(recs));
    for (const r of recs) assert.equal(r.t_upstream_us, 0, JSON.stringify(r));
    await gone;
    assert.match((await call('good', 'tight.test_simple_text')).result.content[0].text, /simple text/);
    assert.deepEqual(capacity('tight'),
      { max_inflight: 1, agent_max_inflight: 1, inflight: 0, queued: 0, queued_bytes: 0 });
  });

  // Proves a stateless (2026-07-28) call whose client goes while it
  // waits is taken off the queue: the listener sees the connection go
  // within a second (the transport's tick of waiting POSTs), and the
  // gateway drops the call; before, it waited its turn and ran for no one.
  test('a stateless call whose client goes while it waits is dropped', async () => {
    const held = call('hog', 'tight.test_slow_counter', { steps: 40, interval_ms: 100 });
    await waitFor('tight to be busy', () => capacity('tight').inflight === 1);
    const ac = new AbortController();
    const left = abortable('good', 'tight.test_simple_text', ac.signal);
    await waitFor('it to wait', () => capacity('tight').queued === 1);
    ac.abort();
    await left;
    await waitFor('the abandoned call to go', () => capacity('tight').queued === 0);
    assert.equal(capacity('tight').inflight, 1, 'the held call still runs');
    assert.match((await held).result.content[0].text, /counted to 40/);
  });

  test('a reload applies new values to the zone it keeps', () => {
    const cfg = JSON.parse(readFileSync(join(dir, 'gw.json'), 'utf8'));
    cfg.zones.tools.max_inflight = 8;
    writeFileSync(join(dir, 'gw.json'), JSON.stringify(cfg));
    const r = spawnSync(GATEWAYCTL, ['--config', join(dir, 'gw.json'), 'reload'],
      { env, encoding: 'utf8' });
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.deepEqual(capacity('tools'),
      { max_inflight: 8, agent_max_inflight: 6, inflight: 0, queued: 0, queued_bytes: 0 });
    assert.ok(gw.log.includes('tool zone tools up'));
  });

  test('a broken capacity in the config is refused with its line', () => {
    const bad = join(dir, 'bad.json');
    for (const [zone, msg] of [
      [{ domid: 160, role: 'tool', chan: 'sim:160:x', max_inflight: 0 }, /max_inflight must be an integer in 1\.\.65536/],
      [{ domid: 160, role: 'tool', chan: 'sim:160:x', max_inflight: 'many' }, /max_inflight must be an integer/],
      [{ domid: 160, role: 'tool', chan: 'sim:160:x', max_inflight: 4, agent_max_inflight: 5 },
        /agent_max_inflight 5 is more than max_inflight 4/],
      [{ domid: 160, role: 'agent', chan: 'sim:160:x', max_inflight: 4 }, /are for tool zones/],
    ]) {
      writeFileSync(bad, JSON.stringify({ zones: { x: zone }, policy: 'gw.policy' }, null, 1));
      const r = spawnSync(GATEWAYD, ['--config', bad, '--check'], { env, encoding: 'utf8' });
      assert.notEqual(r.status, 0);
      assert.match(r.stderr, msg);
      assert.match(r.stderr, /bad\.json:\d+/);
    }
  });
});
