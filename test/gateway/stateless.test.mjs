// End to end: MCP 2026-07-28 (stateless) agents through gatewayd to tool
// zones that speak 2025-11-25 (mcpd-test on a channel; a recording HTTP
// server as a remote zone). One agent zone "agent" is reached four ways at
// once: a token-bound gateway listener (raw stateless POSTs, and the
// official SDK client with a 2025-11-25 session), and one zonegate-relay
// daemon holding the zone's channel: its HTTP endpoint (one channel stream
// per stateless request) and a stdio relay through it (stateless lines on
// one channel stream).
// Proves: server/discover is filtered like tools/list; a 2026-07-28 agent
// sees exactly the tools a 2025-11-25 agent of the zone sees, on every
// path; a denied call is denied with an audit id in both revisions, and
// the id is in the audit log; traceparent reaches the tool zone and the
// audit record (a malformed one is not logged); ping and
// logging/setLevel are refused as the revision says, subscriptions/listen
// on a channel stream is acknowledged and ended by a cancel; an
// undeclared client capability is -32021 (HTTP 400); a 2025-11-25 and a
// 2026-07-28 agent of one zone work at the same time.
// Env: GATEWAYD, MCPD_TEST, RELAY.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { before, describe, test } from 'node:test';
import { checkedAfter, guardHooks, daemon as spawnDaemon, recordingServer, rpcError, stop,
  waitFor } from '../common/harness.mjs';

// the describe block's final checks fail the run (harness.mjs)
guardHooks();

const SDK = '../node/node_modules/@modelcontextprotocol/sdk/dist/esm';
const { Client } = await import(`${SDK}/client/index.js`);
const { StreamableHTTPClientTransport } = await import(`${SDK}/client/streamableHttp.js`);

const { GATEWAYD, MCPD_TEST, RELAY } = process.env;
const dir = mkdtempSync(join(tmpdir(), 'zg-gwstl-'));
const env = { ...process.env, ZONEGATE_SIM_DIR: join(dir, 'sim') };
const daemon = (bin, args) => spawnDaemon(bin, args, env);
const cfg = join(dir, 'gatewayd.json');
const TOKEN = 's'.repeat(20) + 'Kp3-token-of-the-agent-0123456789';
const REV = '2026-07-28';
const TRACE = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
const TRACE2 = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
const META = { 'io.modelcontextprotocol/protocolVersion': REV,
  'io.modelcontextprotocol/clientCapabilities': {},
  'io.modelcontextprotocol/clientInfo': { name: 'raw-2026', version: '1' } };
const HDRS = { 'content-type': 'application/json',
  accept: 'application/json, text/event-stream' };

// The recording tool zone: a 2025-11-25 Streamable HTTP server whose one
// tool answers with the _meta its call arrived with.
const seenMeta = [];
const recorder = () => recordingServer([{ name: 'meta', inputSchema: { type: 'object' } }],
  (p) => {
    seenMeta.push(p._meta || {});
    return { content: [{ type: 'text', text: JSON.stringify(p._meta || {}) }] };
  });

// A stateless POST to url: { status, body } (JSON; SSE bodies give their
// last message).
async function post26(url, method, params = {}, { id = 1, meta = META, headers = {} } = {}) {
  const name = params.name ?? params.uri;
  const h = { ...HDRS, 'mcp-protocol-version': REV, 'mcp-method': method,
    ...(name ? { 'mcp-name': name } : {}), ...headers };
  const r = await fetch(url, { method: 'POST', headers: h,
    body: JSON.stringify({ jsonrpc: '2.0', id, method, params: { ...params, _meta: meta } }) });
  const text = await r.text();
  const msgs = r.headers.get('content-type')?.includes('text/event-stream')
    ? text.split('\n').filter((l) => l.startsWith('data:') && l.length > 6)
      .map((l) => JSON.parse(l.slice(5)))
    : [JSON.parse(text)];
  return { status: r.status, body: msgs.at(-1), all: msgs };
}

// zonegate-relay in stdio mode on the agent's channel: request(msg)
// resolves with the response of the same id; every line is kept.
function stdioRelay() {
  const p = spawn(RELAY, ['--via', join(dir, 'relay.sock')],
    { env, stdio: ['pipe', 'pipe', 'pipe'] });
  const waiting = new Map();
  p.lines = [];
  p.log = '';
  p.stderr.on('data', (d) => { p.log += d; });
  createInterface({ input: p.stdout }).on('line', (l) => {
    const m = JSON.parse(l);
    p.lines.push(m);
    if ('id' in m && waiting.has(m.id)) { waiting.get(m.id)(m); waiting.delete(m.id); }
  });
  p.done = new Promise((res) => p.on('exit', (code) => res(code)));
  p.request = (msg) => new Promise((res) => {
    waiting.set(msg.id, res);
    p.stdin.write(`${JSON.stringify(msg)}\n`);
  });
  return p;
}

const stl = (id, method, params = {}, meta = META) =>
  ({ jsonrpc: '2.0', id, method, params: { ...params, _meta: meta } });
const audit = () => readFileSync(join(dir, 'audit.log'), 'utf8').trim().split('\n')
  .map((l) => JSON.parse(l));
const sorted = (a) => [...a].sort();

let gw, tools, rec, relayIo, relayHttp, url, relayUrl, client;

describe('gatewayd: 2026-07-28 agents, 2025-11-25 tool zones', { concurrency: false }, () => {
  before(async () => {
    rec = recorder();
    const recPort = await new Promise((res) => rec.listen(0, '127.0.0.1', () => res(rec.address().port)));
    writeFileSync(join(dir, 'a.token'), `${TOKEN}\n`, { mode: 0o600 });
    writeFileSync(cfg, JSON.stringify({
      zones: {
        agent: { domid: 61, role: 'agent', chan: 'sim:61:agent' },
        // its mcpd-test runs 256 calls at once (--workers): all the
        // gateway may send it, all for one agent zone
        tools: { domid: 62, role: 'tool', chan: 'sim:62:tools', max_inflight: 256,
          agent_max_inflight: 256 },
        rec: { domid: 63, role: 'tool', url: `http://127.0.0.1:${recPort}/mcp` },
      },
      listeners: [{ listen: '127.0.0.1:0', zone: 'agent', token_file: 'a.token' }],
      policy: 'gw.policy',
      audit_log: 'audit.log',
      audit_flush_ms: 0,
    }, null, 2));
    // tools only: the zone may use no resource and no prompt
    writeFileSync(join(dir, 'gw.policy'), `agent tools.test_image_content deny
agent tools.test_simple_text allow
agent tools.test_tool_with_logging allow
agent tools.test_tool_with_progress allow
agent tools.test_missing_capability allow
agent tools.test_slow_counter allow
agent rec.meta allow
`);
    tools = daemon(MCPD_TEST, ['--chan', 'sim:62:tools', '--fixtures', 'conformance',
      '--workers', '256']);
    gw = daemon(GATEWAYD, ['--config', cfg]);
    await waitFor('gatewayd', () => gw.log.includes('tool zone tools up') &&
      gw.log.includes('tool zone rec up') && /listener for zone agent on http/.test(gw.log));
    url = /listener for zone agent on (http:\/\/\S+)/.exec(gw.log)[1];
    const ready = join(dir, 'relay.url');
    relayHttp = daemon(RELAY, ['--chan', 'sim:61:agent', '--connect-timeout', '10000',
      '--daemon', '--socket', join(dir, 'relay.sock'),
      '--http', '127.0.0.1:0', '--ready-file', ready]);
    await waitFor('relay --http', () => readFileSync(ready, 'utf8').trim().endsWith('/mcp'));
    relayUrl = readFileSync(ready, 'utf8').trim();
    relayIo = stdioRelay();
    client = new Client({ name: 'zg-2025', version: '1' });
    await client.connect(new StreamableHTTPClientTransport(new URL(url), {
      requestInit: { headers: { Authorization: `Bearer ${TOKEN}` } } }));
  });
  checkedAfter(async () => {
    await client?.close();
    relayIo?.stdin.end();
    await stop(relayIo);
    await stop(relayHttp);
    gw.kill('SIGTERM');
    const code = await gw.done;
    await stop(tools);
    rec.close();
    rmSync(dir, { recursive: true, force: true });
    assert.equal(code, 0, gw.log);
  });

  const auth = { headers: { authorization: `Bearer ${TOKEN}` } };

  test('server/discover offers what the zone may see, and no more', async () => {
    const { status, body } = await post26(url, 'server/discover', {}, auth);
    assert.equal(status, 200);
    const r = body.result;
    assert.ok(r.supportedVersions.includes(REV) && r.supportedVersions.includes('2025-11-25'));
    assert.equal(r.resultType, 'complete');
    assert.equal(r.cacheScope, 'private'); // a per-zone view: never "public"
    assert.equal(r._meta['io.modelcontextprotocol/serverInfo'].name, 'zonegate-gateway');
    // the tool zone serves resources and prompts; this zone may use none
    assert.deepEqual(Object.keys(r.capabilities), ['tools']);
    // on the channel (relay stdio) the same
    const c = await relayIo.request(stl(2, 'server/discover'));
    assert.deepEqual(c.result.capabilities, r.capabilities);
  });

  test('the same tools in both revisions, on every path', async () => {
    const want = sorted((await client.listTools()).tools.map((t) => t.name));
    assert.ok(want.includes('tools.test_simple_text') && want.includes('rec.meta'));
    assert.ok(!want.includes('tools.test_image_content'));
    const viaListener = await post26(url, 'tools/list', {}, auth);
    const viaRelayHttp = await post26(relayUrl, 'tools/list');
    const viaRelayIo = await relayIo.request(stl(3, 'tools/list'));
    for (const r of [viaListener.body, viaRelayHttp.body, viaRelayIo]) {
      assert.deepEqual(sorted(r.result.tools.map((t) => t.name)), want);
      assert.equal(r.result.resultType, 'complete');
      assert.equal(r.result.cacheScope, 'private');
    }
    // the lists the zone may not use are empty in both revisions
    const res26 = await post26(url, 'prompts/list', {}, auth);
    assert.deepEqual(res26.body.result.prompts, []);
    assert.deepEqual((await client.listPrompts()).prompts, []);
  });

  test('a denied call is denied with an audit id in both revisions', async () => {
    const e25 = await rpcError(client.callTool({ name: 'tools.test_image_content', arguments: {} }));
    const r26 = await post26(url, 'tools/call', { name: 'tools.test_image_content', arguments: {} },
      { ...auth, meta: { ...META, traceparent: TRACE2 } });
    const c26 = await relayIo.request(stl(4, 'tools/call',
      { name: 'tools.test_image_content', arguments: {} }));
    const ids = [e25.data.auditId, r26.body.error.data.auditId, c26.error.data.auditId];
    assert.equal(r26.body.error.code, e25.code);
    assert.equal(c26.error.code, e25.code);
    assert.equal(r26.body.error.message, e25.message.replace(/^MCP error -?\d+: /, ''));
    for (const id of ids) assert.match(id, /\S/);
    const recs = audit();
    for (const id of ids) {
      const r = recs.find((x) => x.id === id);
      assert.ok(r, `audit record ${id}`);
      assert.equal(r.decision, 'deny');
      assert.equal(r.target, 'tools.test_image_content');
    }
    // the 2026 denial carries its traceparent in the record
    assert.equal(recs.find((x) => x.id === ids[1]).traceparent, TRACE2);
  });

  test('traceparent reaches the tool zone and the audit record', async () => {
    const r = await post26(url, 'tools/call', { name: 'rec.meta', arguments: {} },
      { ...auth, meta: { ...META, traceparent: TRACE, tracestate: 'zg=1' } });
    assert.equal(r.status, 200);
    assert.equal(r.body.result.resultType, 'complete');
    const up = seenMeta.at(-1);
    assert.equal(up.traceparent, TRACE);
    assert.equal(up.tracestate, 'zg=1');
    // the upstream is a 2025-11-25 session: the revision's own keys stay here
    assert.equal(up['io.modelcontextprotocol/protocolVersion'], undefined);
    const recd = audit().filter((x) => x.target === 'rec.meta' && x.decision === 'allow');
    assert.equal(recd.at(-1).traceparent, TRACE);
    assert.equal(recd.at(-1).session, 'agent/stateless');
    // a malformed one (a zone's text) is passed on but never logged
    const bad = `${TRACE.slice(0, 54)}"`;
    await relayIo.request(stl(5, 'tools/call', { name: 'rec.meta', arguments: {} },
      { ...META, traceparent: bad }));
    assert.equal(seenMeta.at(-1).traceparent, bad);
    assert.equal(audit().filter((x) => x.target === 'rec.meta').at(-1).traceparent, undefined);
    // the 2025-11-25 session's traceparent is recorded the same way
    await client.callTool({ name: 'rec.meta', arguments: {}, _meta: { traceparent: TRACE2 } });
    // (picked by its session: the stateless requests' records above may
    // land after it in the file under load)
    const mine = () => audit().filter((x) => x.target === 'rec.meta' && x.session !== 'agent/stateless');
    await waitFor('the session call\'s record', () => mine().length > 0, 5000);
    assert.equal(mine().at(-1).traceparent, TRACE2);
  });

  test('removed methods are refused; subscriptions/listen on a stream', async () => {
    for (const m of ['ping', 'logging/setLevel', 'initialize', 'resources/subscribe']) {
      const r = await post26(url, m, m === 'logging/setLevel' ? { level: 'info' } : {}, auth);
      assert.equal(r.status, 404, m);
      assert.equal(r.body.error.code, -32601, m);
      const c = await relayIo.request(stl(6, m, m === 'logging/setLevel' ? { level: 'info' } : {}));
      assert.equal(c.error.code, -32601, m);
    }
    // subscriptions/listen is offered (tests in irr.test.mjs); on a
    // channel stream too: acknowledged, then ended by the client's cancel
    const bad = await relayIo.request(stl(7, 'subscriptions/listen', { notifications: 'all' }));
    assert.equal(bad.error.code, -32602);
    relayIo.stdin.write(`${JSON.stringify(stl(16, 'subscriptions/listen',
      { notifications: { toolsListChanged: true } }))}\n`);
    await waitFor('the ack', () => relayIo.lines.some((l) =>
      l.method === 'notifications/subscriptions/acknowledged' &&
      l.params._meta['io.modelcontextprotocol/subscriptionId'] === 16));
    relayIo.stdin.write(`${JSON.stringify({ jsonrpc: '2.0', method: 'notifications/cancelled',
      params: { requestId: 16 } })}\n`);
    const v = await relayIo.request(stl(8, 'tools/list', {},
      { ...META, 'io.modelcontextprotocol/protocolVersion': '2099-01-01' }));
    assert.equal(v.error.code, -32022);
    assert.ok(v.error.data.supported.includes(REV));
    const nc = await relayIo.request(stl(9, 'tools/list', {},
      { 'io.modelcontextprotocol/protocolVersion': REV }));
    assert.equal(nc.error.code, -32602);
    // hostile _meta shapes: a clear error each, the stream goes on
    for (const [meta, code] of [[{ ...META, 'io.modelcontextprotocol/protocolVersion': 7 }, -32022],
      [{ ...META, 'io.modelcontextprotocol/clientCapabilities': [] }, -32602],
      [{ ...META, traceparent: { x: 1 } }, null]]) {
      const h = await relayIo.request(stl(14, 'tools/list', {}, meta));
      if (code === null) assert.equal(h.result.resultType, 'complete');
      else assert.equal(h.error.code, code);
    }
    const arr = await relayIo.request({ jsonrpc: '2.0', id: 15, method: 'tools/list', params: { _meta: 'x' } });
    assert.equal(arr.error.code, -32602);
    // the stream is stateless from its first request on: a later
    // initialize does not make it a session
    const init = await relayIo.request({ jsonrpc: '2.0', id: 12, method: 'initialize',
      params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'x', version: '1' } } });
    assert.equal(init.error.code, -32602);
    const after = await relayIo.request(stl(13, 'tools/list'));
    assert.equal(after.result.resultType, 'complete');
  });

  test('an undeclared client capability is -32021, HTTP 400', async () => {
    const r = await post26(url, 'tools/call', { name: 'tools.test_missing_capability', arguments: {} }, auth);
    assert.equal(r.status, 400);
    assert.equal(r.body.error.code, -32021);
    assert.deepEqual(r.body.error.data.requiredCapabilities, { sampling: {} });
  });

  test('log messages only when the request asks for them, with their request', async () => {
    const quiet = await relayIo.request(stl(10, 'tools/call', { name: 'tools.test_tool_with_logging', arguments: {} }));
    assert.equal(quiet.result.resultType, 'complete');
    const n0 = relayIo.lines.filter((m) => m.method === 'notifications/message').length;
    assert.equal(n0, 0);
    await relayIo.request(stl(11, 'tools/call', { name: 'tools.test_tool_with_logging', arguments: {} },
      { ...META, 'io.modelcontextprotocol/logLevel': 'info' }));
    const logs = relayIo.lines.filter((m) => m.method === 'notifications/message');
    assert.ok(logs.length > 0);
    for (const l of logs) assert.equal(l.params._meta['dev.zonegate/related-request'], 11);
  });

  // 300 slow calls at once on one stream: 256 (the per-stream cap) run,
  // all at the same time although mcpd takes at most 64 calls per session
  // (the zone's stateless calls are spread over several upstream
  // sessions); the other 44 are refused by the gateway. Red with one
  // shared session (mcpd refuses beyond 64) and without the stream cap.
  test('a stream has at most 256 open requests, and they are not capped at one upstream session\'s', async () => {
    const s = stdioRelay();
    const out = await Promise.all(Array.from({ length: 300 }, (_, i) =>
      s.request(stl(1000 + i, 'tools/call',
        { name: 'tools.test_slow_counter', arguments: { steps: 1, interval_ms: 3000 } }))));
    s.stdin.end();
    await s.done;
    const ok = out.filter((r) => r.result && /counted to 1/.test(r.result.content[0].text));
    const capped = out.filter((r) => r.error && r.error.message === 'too many requests in flight');
    // On a failure, what the daemons said: a call once went unanswered
    // here for the gateway's whole timeout under parallel load (rare).
    const bad = out.find((r) => (!r.result || r.result.isError) && r.error?.code !== -32600 &&
      r.error?.message !== 'too many requests in flight');
    assert.equal(ok.length, 256, bad ? `${JSON.stringify(bad)}\ngatewayd:\n${gw.log.slice(-6000)}` +
      `\nmcpd-test:\n${tools.log.slice(-6000)}` : JSON.stringify(out.find((r) => !r.result)));
    assert.equal(capped.length, 44);
  });

  test('a 2025-11-25 and a 2026-07-28 agent of one zone at the same time', async () => {
    const N = 12;
    const calls = [];
    for (let i = 0; i < N; i++) {
      calls.push(client.callTool({ name: 'tools.test_simple_text', arguments: {} }));
      calls.push(post26(url, 'tools/call', { name: 'tools.test_simple_text', arguments: {} },
        { ...auth, id: 100 + i }).then((r) => r.body.result));
      calls.push(relayIo.request(stl(200 + i, 'tools/call',
        { name: 'tools.test_simple_text', arguments: {} })).then((r) => r.result));
    }
    const out = await Promise.all(calls);
    for (const r of out) assert.match(r.content[0].text, /simple text/);
    const recs = audit().filter((x) => x.target === 'tools.test_simple_text' && x.decision === 'allow');
    assert.ok(recs.filter((x) => x.session === 'agent/stateless').length >= 2 * N);
    assert.ok(recs.filter((x) => x.session !== 'agent/stateless').length >= N);
    // the 2025-11-25 session still works after all that
    assert.ok((await client.listTools()).tools.length > 0);
  });
});
