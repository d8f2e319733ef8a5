// End to end: InputRequiredResult through the gateway. 2026-07-28 agents
// (raw POSTs, and the official SDK 2.x client @modelcontextprotocol/client)
// call tools of a tool zone that speaks 2025-11-25 (mcpd-test on a
// channel), whose sampling / elicitation / roots requests the gateway turns
// into InputRequiredResults while it holds the upstream call open.
// Proves: the round trip (elicitation, sampling, roots, a prompt), several
// rounds, several requests at once, the tool's own input keys, answers
// sent up front; a hostile agent's requestState is refused with -32602
// when a byte is flipped, when it was issued to another agent zone, to
// another gatewayd replica, or already used (replayed after the call
// completed, or an earlier round's); held calls are capped per
// agent zone (held_max) and forgotten, cancelled upstream, after
// held_idle_ms without their retry; every step has its audit record.
// And subscriptions/listen through the gateway: server/discover offers it;
// a listen gets list_changed only of the kinds it asked for and only when
// its zone's view changed, resources/updated only for URIs its zone may
// read; at most 16 listens per agent zone.
// Env: GATEWAYD, MCPD_TEST.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { daemon as spawnDaemon, sseFollow, stop, waitFor } from '../common/harness.mjs';

const { Client, StreamableHTTPClientTransport } = await import(
  '../node/node_modules/@modelcontextprotocol/client/dist/index.mjs');

const { GATEWAYD, MCPD_TEST } = process.env;
const dir = mkdtempSync(join(tmpdir(), 'zg-gwirr-'));
const env = { ...process.env, ZONEGATE_SIM_DIR: join(dir, 'sim') };
const daemon = (bin, args) => spawnDaemon(bin, args, env);
const REV = '2026-07-28';
const TOK = ['a', 'b'].map((c) => `${c.repeat(24)}-irr-token-0123456789`);
const KEY = `${'5a'.repeat(32)}\n`;
const ALL = { elicitation: {}, sampling: {}, roots: {} };
const meta = (caps = ALL) => ({ 'io.modelcontextprotocol/protocolVersion': REV,
  'io.modelcontextprotocol/clientCapabilities': caps });
const T = (n) => `test_input_required_result_${n}`;

// A stateless POST: the response's message (JSON or the SSE's last).
async function post(url, token, method, params, { id = 1, caps } = {}) {
  const r = await fetch(url, { method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream',
      authorization: `Bearer ${token}`, 'mcp-protocol-version': REV, 'mcp-method': method,
      ...(params.name ? { 'mcp-name': params.name } : {}) },
    body: JSON.stringify({ jsonrpc: '2.0', id, method, params: { ...params, _meta: meta(caps) } }) });
  const text = await r.text();
  if (!r.headers.get('content-type')?.includes('text/event-stream')) return JSON.parse(text);
  return text.split('\n').filter((l) => l.startsWith('data:') && l.length > 6)
    .map((l) => JSON.parse(l.slice(5))).at(-1);
}
const call = (url, token, name, extra = {}, opts = {}) =>
  post(url, token, 'tools/call', { name, arguments: {}, ...extra }, opts);
const accept = (content) => ({ action: 'accept', content });
const audit = (d) => readFileSync(join(d, 'audit.log'), 'utf8').trim().split('\n')
  .map((l) => JSON.parse(l));
const decisions = (d, what) => audit(d).filter((r) => r.decision === what);

// subscriptions/listen on a listener: frames as they come; close() ends it.
async function listen(url, token, notifications, caps = {}) {
  const ac = new AbortController();
  const r = await fetch(url, { method: 'POST', signal: ac.signal,
    headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream',
      authorization: `Bearer ${token}`, 'mcp-protocol-version': REV,
      'mcp-method': 'subscriptions/listen' },
    body: JSON.stringify({ jsonrpc: '2.0', id: 'L1', method: 'subscriptions/listen',
      params: { notifications, _meta: meta(caps) } }) });
  const out = { frames: [], status: r.status, close: () => ac.abort() };
  if (!r.headers.get('content-type')?.includes('text/event-stream')) {
    out.frames.push(await r.json());
    return out;
  }
  sseFollow(r.body, out.frames);
  return out;
}
const methods = (l) => l.frames.map((f) => f.method ?? 'response');

// One gatewayd with agent zones "agent" and "other" (a listener each) and
// tool zone "tools" (mcpd-test, 2025-11-25 on a channel) in its own
// directory; extra config keys from cfg, the policy from policy.
async function gateway(name, domid, cfg, policy = '* * allow\n') {
  const d = join(dir, name);
  const sim = `sim:${domid}:tools`;
  rmSync(d, { recursive: true, force: true });
  const { mkdirSync } = await import('node:fs');
  mkdirSync(d);
  writeFileSync(join(d, 'a.token'), `${TOK[0]}\n`, { mode: 0o600 });
  writeFileSync(join(d, 'b.token'), `${TOK[1]}\n`, { mode: 0o600 });
  writeFileSync(join(d, 'state.keys'), KEY, { mode: 0o600 });
  writeFileSync(join(d, 'gw.policy'), policy);
  writeFileSync(join(d, 'gatewayd.json'), JSON.stringify({
    zones: {
      agent: { domid: domid + 1, role: 'agent', chan: `sim:${domid + 1}:agent`,
        default_zone: 'tools' },
      other: { domid: domid + 2, role: 'agent', chan: `sim:${domid + 2}:other`,
        default_zone: 'tools' },
      tools: { domid, role: 'tool', chan: sim },
    },
    listeners: [{ listen: '127.0.0.1:0', zone: 'agent', token_file: 'a.token' },
      { listen: '127.0.0.1:0', zone: 'other', token_file: 'b.token' }],
    policy: 'gw.policy', audit_log: 'audit.log', audit_flush_ms: 0,
    state_key_file: 'state.keys', ...cfg,
  }));
  const tools = daemon(MCPD_TEST, ['--chan', sim, '--fixtures', 'conformance', '--workers', '64']);
  const gw = daemon(GATEWAYD, ['--config', join(d, 'gatewayd.json')]);
  await waitFor(name, () => gw.log.includes('tool zone tools up') &&
    /zone other on http/.test(gw.log));
  const url = (z) => new RegExp(`listener for zone ${z} on (http://\\S+)`).exec(gw.log)[1];
  return { d, gw, tools, a: url('agent'), b: url('other') };
}

function sdkClient() {
  const c = new Client({ name: 'zg-irr', version: '1' }, {
    capabilities: { elicitation: {}, sampling: {}, roots: {} },
    versionNegotiation: { mode: { pin: REV } } });
  c.setRequestHandler('elicitation/create', async (r) => {
    const p = Object.keys(r.params.requestedSchema?.properties ?? {})[0];
    return accept({ [p]: p === 'color' ? 'teal' : 'Ada' });
  });
  c.setRequestHandler('sampling/createMessage', async () => ({ role: 'assistant',
    content: { type: 'text', text: 'Paris' }, model: 'm', stopReason: 'endTurn' }));
  c.setRequestHandler('roots/list', async () => ({ roots: [{ uri: 'file:///w', name: 'w' }] }));
  return c;
}

let g1, g2, g3, g4;

describe('gatewayd: InputRequiredResult to 2025-11-25 tool zones', { concurrency: false }, () => {
  before(async () => {
    g1 = await gateway('g1', 80, { held_max: 2 });
    // a second replica with the same key: held calls live in one replica;
    // held_idle_ms 0: a held call is forgotten at the zone's next request
    // its zone "other" sees one tool and one resource only
    g2 = await gateway('g2', 90, { held_idle_ms: 0 }, `agent * allow
other tools.test_simple_text allow
other resource:tools.test://static-text allow
`);
    // a third whose calls time out fast and whose held calls are idle at
    // once: the deadline pass (below)
    g3 = await gateway('g3', 100, { held_idle_ms: 0, call_timeout_ms: 400 });
    // a fourth whose held_idle_ms is not whole seconds
    g4 = await gateway('g4', 110, { held_idle_ms: 1500 });
  });
  after(async () => {
    for (const g of [g1, g2, g3, g4]) {
      if (!g) continue;
      g.gw.kill('SIGTERM');
      const code = await g.gw.done;
      await stop(g.tools);
      assert.equal(code, 0, g.gw.log);
    }
    rmSync(dir, { recursive: true, force: true });
  });

  test('a round trip: the tool asks, the agent answers in its retry', async () => {
    const r1 = await call(g1.a, TOK[0], T('elicitation'));
    assert.equal(r1.result.resultType, 'input_required', JSON.stringify(r1));
    // the tool's own key (2025-11-25 requests name it in _meta)
    assert.deepEqual(Object.keys(r1.result.inputRequests), ['user_name']);
    assert.equal(r1.result.inputRequests.user_name.method, 'elicitation/create');
    assert.equal(r1.result.inputRequests.user_name.params._meta, undefined);
    const r2 = await call(g1.a, TOK[0], T('elicitation'), { requestState: r1.result.requestState,
      inputResponses: { user_name: accept({ name: 'Ada' }), stray: accept({}) } }, { id: 2 });
    assert.equal(r2.result.content[0].text, 'Hello, Ada!');
    assert.equal(r2.result.resultType, 'complete');
    // the call's record, its round and its resumption, under one audit id
    // (the call's own record is written when its answer leaves)
    const aid = decisions(g1.d, 'input_required')[0].id;
    const mine = () => audit(g1.d).filter((r) => r.id === aid);
    await waitFor('the call record', () => mine().length === 3);
    assert.deepEqual(mine().map((r) => r.decision).sort(), ['allow', 'input_required', 'resumed']);
  });

  test('the SDK 2.x client: elicitation, sampling, roots, a prompt, three rounds', async () => {
    const c = sdkClient();
    await c.connect(new StreamableHTTPClientTransport(new URL(g1.a), {
      requestInit: { headers: { authorization: `Bearer ${TOK[0]}` } } }));
    try {
      const hello = await c.callTool({ name: T('elicitation'), arguments: {} });
      assert.equal(hello.content[0].text, 'Hello, Ada!');
      const sampled = await c.callTool({ name: T('sampling'), arguments: {} });
      assert.match(sampled.content[0].text, /Paris/);
      const roots = await c.callTool({ name: T('list_roots'), arguments: {} });
      assert.equal(roots.content[0].text, 'The client has 1 root(s).');
      const multi = await c.callTool({ name: T('multi_round'), arguments: {} });
      assert.equal(multi.content[0].text, 'Ada likes teal (three rounds)');
      const prompt = await c.getPrompt({ name: T('prompt') });
      assert.match(prompt.messages[0].content.text, /context in mind: Ada/);
    } finally {
      await c.close();
    }
  });

  test('several requests at once: one InputRequiredResult, one retry', async () => {
    // the tool sends three requests concurrently and says so (its batch);
    // the gateway asks for all three together
    const r1 = await call(g1.a, TOK[0], T('multiple_inputs'));
    assert.deepEqual(Object.keys(r1.result.inputRequests).sort(),
      ['client_roots', 'greeting', 'user_name']);
    const r2 = await call(g1.a, TOK[0], T('multiple_inputs'), { requestState: r1.result.requestState,
      inputResponses: { user_name: accept({ name: 'Ada' }), client_roots: { roots: [] },
        greeting: { role: 'assistant', content: { type: 'text', text: 'Hi' }, model: 'm' } } });
    assert.equal(r2.result.content[0].text, 'Hi (for Ada, 0 root(s))');
  });

  test('a missing answer is asked again; an undeclared capability is not asked', async () => {
    const r1 = await call(g1.a, TOK[0], T('elicitation'));
    const r2 = await call(g1.a, TOK[0], T('elicitation'),
      { requestState: r1.result.requestState, inputResponses: { wrong: accept({}) } });
    assert.equal(r2.result.resultType, 'input_required');
    assert.deepEqual(Object.keys(r2.result.inputRequests), ['user_name']);
    assert.notEqual(r2.result.requestState, r1.result.requestState);
    const r3 = await call(g1.a, TOK[0], T('elicitation'), { requestState: r2.result.requestState,
      inputResponses: { user_name: accept({ name: 'Bo' }) } });
    assert.equal(r3.result.content[0].text, 'Hello, Bo!');
    // sampling only: the tool's elicitation and roots requests are refused
    const c1 = await call(g1.a, TOK[0], T('capabilities'), {}, { caps: { sampling: {} } });
    assert.deepEqual(Object.values(c1.result.inputRequests).map((q) => q.method),
      ['sampling/createMessage']);
    const c2 = await call(g1.a, TOK[0], T('capabilities'), { requestState: c1.result.requestState,
      inputResponses: { question: { role: 'assistant', content: { type: 'text', text: 'hi' },
        model: 'm' } } }, { caps: { sampling: {} } });
    assert.equal(c2.result.content[0].text, 'Thanks for the input.');
  });

  test('hostile: flipped, replayed and earlier-round requestState are refused', async () => {
    const r1 = await call(g1.a, TOK[0], T('multi_round'));
    const s1 = r1.result.requestState;
    const i = s1.length - 5;
    const flipped = s1.slice(0, i) + (s1[i] === 'A' ? 'B' : 'A') + s1.slice(i + 1);
    const bad = await call(g1.a, TOK[0], T('multi_round'),
      { requestState: flipped, inputResponses: { step1: accept({ name: 'Eve' }) } });
    assert.equal(bad.error?.code, -32602, JSON.stringify(bad));
    assert.match(bad.error.message, /failed verification/);
    // refusals are denials: audited (aggregated over the zone's rate)
    await waitFor('its record', () => audit(g1.d).some((r) => r.id === bad.error.data.auditId &&
      r.decision === 'refused'));
    // the state is bound to its tool and arguments too
    const moved = await call(g1.a, TOK[0], T('elicitation'),
      { requestState: s1, inputResponses: { step1: accept({ name: 'Eve' }) } });
    assert.match(moved.error?.message ?? '', /another request/);
    // the held call is untouched by those: the real retry goes on
    const r2 = await call(g1.a, TOK[0], T('multi_round'),
      { requestState: s1, inputResponses: { step1: accept({ name: 'Ada' }) } });
    assert.deepEqual(Object.keys(r2.result.inputRequests), ['step2']);
    const again = await call(g1.a, TOK[0], T('multi_round'),
      { requestState: s1, inputResponses: { step1: accept({ name: 'Eve' }) } });
    assert.equal(again.error?.code, -32602);
    assert.match(again.error.message, /already used/);
    const r3 = await call(g1.a, TOK[0], T('multi_round'),
      { requestState: r2.result.requestState, inputResponses: { step2: accept({ color: 'red' }) } });
    assert.equal(r3.result.content[0].text, 'Ada likes red (three rounds)');
    const late = await call(g1.a, TOK[0], T('multi_round'),
      { requestState: r2.result.requestState, inputResponses: { step2: accept({ color: 'x' }) } });
    assert.equal(late.error?.code, -32602);
    assert.match(late.error.message, /held call is gone/);
    const refused = decisions(g1.d, 'refused').filter((r) => r.target === T('multi_round'));
    assert.equal(refused.length, 3);
  });

  test("hostile: another zone's or another replica's requestState is refused", async () => {
    const r1 = await call(g1.a, TOK[0], T('tampered_state'));
    const ans = { confirm: accept({ ok: true }) };
    const st = r1.result.requestState;
    const z = await call(g1.b, TOK[1], T('tampered_state'), { requestState: st, inputResponses: ans });
    assert.equal(z.error?.code, -32602);
    assert.match(z.error.message, /another agent zone/);
    // g2 holds the same key: the state verifies, and names g1
    const rep = await call(g2.a, TOK[0], T('tampered_state'), { requestState: st, inputResponses: ans });
    assert.equal(rep.error?.code, -32602);
    assert.match(rep.error.message, /another gatewayd replica/);
    const ok = await call(g1.a, TOK[0], T('tampered_state'), { requestState: st, inputResponses: ans });
    assert.equal(ok.result.content[0].text, 'approved amount 100');
  });

  test('held calls: at most held_max per agent zone', async () => {
    const h1 = await call(g1.a, TOK[0], T('elicitation'));
    const h2 = await call(g1.a, TOK[0], T('sampling'));
    assert.equal(h1.result.resultType, 'input_required');
    assert.equal(h2.result.resultType, 'input_required');
    const before = decisions(g1.d, 'refused').length;
    // a third: its tool's request is refused, so it cannot ask (the
    // fixture gives up after its rounds); the other zone is not affected
    const h3 = await call(g1.a, TOK[0], T('list_roots'));
    assert.equal(h3.result?.isError, true, JSON.stringify(h3));
    const capped = decisions(g1.d, 'refused').slice(before);
    assert.ok(capped.length >= 1 && capped.every((r) => /held_max/.test(r.reason)),
      JSON.stringify(capped));
    const o = await call(g1.b, TOK[1], T('list_roots'));
    assert.equal(o.result.resultType, 'input_required');
    // finishing one frees its place
    const d1 = await call(g1.a, TOK[0], T('elicitation'), { requestState: h1.result.requestState,
      inputResponses: { user_name: accept({ name: 'Cy' }) } });
    assert.equal(d1.result.content[0].text, 'Hello, Cy!');
    const h4 = await call(g1.a, TOK[0], T('list_roots'));
    assert.equal(h4.result.resultType, 'input_required');
    for (const [h, tok, url] of [[h2, TOK[0], g1.a], [h4, TOK[0], g1.a], [o, TOK[1], g1.b]]) {
      const key = Object.keys(h.result.inputRequests)[0];
      const name = h === h2 ? T('sampling') : T('list_roots');
      const ansr = h === h2 ? { role: 'assistant', content: { type: 'text', text: 'x' }, model: 'm' }
        : { roots: [] };
      const done = await call(url, tok, name, { requestState: h.result.requestState,
        inputResponses: { [key]: ansr } });
      assert.equal(done.result.resultType, 'complete', JSON.stringify(done));
    }
  });

  test('held calls: forgotten and cancelled upstream after held_idle_ms', async () => {
    // held_idle_ms 0 seals requestState for 1 s counted from the issuing
    // second: starting early in a second keeps the retry within it, so it
    // reaches the held-call lookup (not the state's own expiry)
    while (Date.now() % 1000 > 500) await new Promise((r) => setTimeout(r, 20));
    const h = await call(g2.a, TOK[0], T('elicitation'));
    assert.equal(h.result.resultType, 'input_required');
    // held_idle_ms is 0 here: this retry comes too late
    const late = await call(g2.a, TOK[0], T('elicitation'), { requestState: h.result.requestState,
      inputResponses: { user_name: accept({ name: 'Late' }) } });
    assert.equal(late.error?.code, -32602);
    assert.match(late.error.message, /held call is gone/);
    assert.equal(decisions(g2.d, 'expired').length, 1);
    // its upstream call was cancelled: the audit says so
    const rec = audit(g2.d).filter((r) => r.reason === 'cancelled by the client');
    assert.equal(rec.length, 1, JSON.stringify(audit(g2.d)));
  });

  // Proves a requestState lasts as long as its held call when
  // held_idle_ms is not whole seconds: its expiry counts from the issuing
  // second, so 1500 ms once sealed it for 2 s, which is 1.15 s from late
  // in a second, and this retry 1.25 s later, well within held_idle_ms,
  // was refused as expired (red with the ttl rounded down).
  test('held calls: requestState outlives a held_idle_ms of 1.5 s', async () => {
    while (Date.now() % 1000 < 850 || Date.now() % 1000 > 950) {
      await new Promise((r) => setTimeout(r, 5));
    }
    const h = await call(g4.a, TOK[0], T('elicitation'));
    assert.equal(h.result.resultType, 'input_required');
    await new Promise((r) => setTimeout(r, 1250));
    const done = await call(g4.a, TOK[0], T('elicitation'), { requestState: h.result.requestState,
      inputResponses: { user_name: accept({ name: 'Slow' }) } });
    assert.equal(done.result?.content?.[0]?.text, 'Hello, Slow!', JSON.stringify(done));
  });

  // Proves the held calls' idle deadline runs on the loop's timer: with no
  // further request from the zone (the sweep once ran only at the zone's
  // next request, and inside deliveries, where its cancellations freed
  // requests under their callers), the held call is still expired and
  // cancelled upstream. Red with gw_stl_sweep_due left out of the loop.
  test('held calls: expired on the timer with no later request', async () => {
    const before = decisions(g2.d, 'expired').length;
    const cancels = () => audit(g2.d).filter((r) => r.reason === 'cancelled by the client').length;
    const c0 = cancels();
    const h = await call(g2.a, TOK[0], T('elicitation'));
    assert.equal(h.result.resultType, 'input_required');
    await waitFor('the held call to expire', () => decisions(g2.d, 'expired').length === before + 1);
    await waitFor('its upstream call to be cancelled', () => cancels() === c0 + 1);
  });

  // gw_req_deadlines used to walk a snapshot of the calls in flight while
  // expiring them: a timed-out call's error reaches the zone's shared
  // session, whose sweep cancels idle held calls upstream and frees their
  // calls, which the walk then touched (a double free in gatewayd; a
  // use after free under ASan). Red (gatewayd died) with the walk over
  // the snapshot's pointers and the sweep run inside deliveries; now the
  // sweep runs only on the loop's timer and at a zone's request, and the
  // pass takes expired calls one at a time off the core's list.
  test('held calls idle when calls time out: gatewayd survives the deadline pass', async () => {
    const slow = [];
    for (let i = 0; i < 6; i++) {
      slow.push(call(g3.a, TOK[0], 'test_slow_counter',
        { arguments: { steps: 50, interval_ms: 100 } }, { id: 100 + i }));
    }
    const h = await call(g3.a, TOK[0], T('elicitation'), {}, { id: 200 });
    assert.equal(h.result?.resultType, 'input_required', JSON.stringify(h));
    for (const r of await Promise.all(slow)) assert.equal(r.error?.code, -32001, JSON.stringify(r));
    // alive and serving
    const ok = await call(g3.a, TOK[0], 'test_simple_text', {}, { id: 300 });
    assert.equal(ok.result?.resultType, 'complete', JSON.stringify(ok));
    assert.equal(g3.gw.exitCode, null, g3.gw.log);
  });

  test('subscriptions/listen: offered, acknowledged, list changes by kind', async () => {
    const d = await post(g1.a, TOK[0], 'server/discover', {});
    assert.equal(d.result.capabilities.tools.listChanged, true);
    assert.equal(d.result.capabilities.resources.subscribe, true);
    const tools = await listen(g1.a, TOK[0], { toolsListChanged: true });
    const prompts = await listen(g1.a, TOK[0], { promptsListChanged: true });
    try {
      await waitFor('acks', () => tools.frames.length === 1 && prompts.frames.length === 1);
      const ack = tools.frames[0];
      assert.equal(ack.method, 'notifications/subscriptions/acknowledged');
      assert.deepEqual(ack.params.notifications, { toolsListChanged: true });
      assert.equal(ack.params._meta['io.modelcontextprotocol/subscriptionId'], 'L1');
      await call(g1.a, TOK[0], 'test_trigger_tool_change');
      await waitFor('tools list_changed', () => tools.frames.length === 2, 10000);
      assert.equal(tools.frames[1].method, 'notifications/tools/list_changed');
      assert.equal(tools.frames[1].params._meta['io.modelcontextprotocol/subscriptionId'], 'L1');
      await call(g1.a, TOK[0], 'test_trigger_prompt_change');
      await waitFor('prompts list_changed', () => prompts.frames.length === 2, 10000);
      // each stream got its own kind only
      assert.deepEqual(methods(prompts), ['notifications/subscriptions/acknowledged',
        'notifications/prompts/list_changed']);
      assert.deepEqual(methods(tools), ['notifications/subscriptions/acknowledged',
        'notifications/tools/list_changed']);
    } finally {
      tools.close();
      prompts.close();
    }
  });

  test("subscriptions/listen: only the zone's view, only URIs it may read", async () => {
    const mine = await listen(g2.a, TOK[0], { toolsListChanged: true,
      resourceSubscriptions: ['test://watched-resource'] });
    const theirs = await listen(g2.b, TOK[1], { toolsListChanged: true,
      resourceSubscriptions: ['test://watched-resource', 'test://static-text'] });
    try {
      await waitFor('acks', () => mine.frames.length === 1 && theirs.frames.length === 1);
      // "other" may not read the watched resource: not agreed to
      assert.deepEqual(theirs.frames[0].params.notifications,
        { toolsListChanged: true, resourceSubscriptions: ['test://static-text'] });
      await call(g2.a, TOK[0], 'test_update_watched');
      await waitFor('resources/updated', () => mine.frames.length === 2, 10000);
      assert.equal(mine.frames[1].method, 'notifications/resources/updated');
      assert.equal(mine.frames[1].params.uri, 'test://watched-resource');
      // the temporary tool is outside other's view: its list did not change
      await call(g2.a, TOK[0], 'test_trigger_tool_change');
      await waitFor('tools list_changed', () => mine.frames.length === 3, 10000);
      await call(g2.b, TOK[1], 'test_simple_text'); // a round trip on its side
      assert.deepEqual(methods(theirs), ['notifications/subscriptions/acknowledged']);
    } finally {
      mine.close();
      theirs.close();
    }
  });

  test('subscriptions/listen: at most 16 per agent zone', async () => {
    const open = [];
    try {
      for (let i = 0; i < 16; i++) open.push(await listen(g1.b, TOK[1], { toolsListChanged: true }));
      await waitFor('acks', () => open.every((l) => l.frames.length === 1));
      const over = await listen(g1.b, TOK[1], { toolsListChanged: true });
      assert.equal(over.frames[0].error?.code, -32600, JSON.stringify(over.frames));
      // the other zone's are its own
      const a = await listen(g1.a, TOK[0], { toolsListChanged: true });
      await waitFor('ack', () => a.frames.length === 1);
      assert.equal(a.frames[0].method, 'notifications/subscriptions/acknowledged');
      a.close();
      // one ends: there is room again
      open.pop().close();
      let again;
      await waitFor('room', async () => {
        again = await listen(g1.b, TOK[1], { toolsListChanged: true });
        await waitFor('frame', () => again.frames.length === 1);
        if (again.frames[0].error) return false;
        open.push(again);
        return true;
      });
    } finally {
      for (const l of open) l.close();
    }
  });
});
