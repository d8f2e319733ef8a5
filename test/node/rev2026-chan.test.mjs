// The 2026-07-28 revision on a channel, real processes: `mcpd-test --chan`
// on a sim channel, a relay daemon holding the channel (its loopback HTTP
// endpoint opens a stream per session or per stateless POST), and relay
// stdio clients through the daemon, each one stream of the channel. A
// stream is a session or a pipe of independent stateless requests, as its
// first request decides (docs/protocol.md, "Stateless agents on a
// channel"). Env: MCPD_TEST, RELAY (binaries).
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';

import { Client } from '@modelcontextprotocol/client';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/client';

import { daemon, stop, waitFor } from '../common/harness.mjs';
import { LATEST, connectHttp, irrRoundTrip, rawInit, startRaw } from './lib.mjs';

const REV = '2026-07-28';
const SUB_ID = 'io.modelcontextprotocol/subscriptionId';
const RELATED = 'dev.zonegate/related-request';
const MCPD_TEST = process.env.MCPD_TEST;
const RELAY = process.env.RELAY;
const CHAN = 'sim:41:rev2026';

const meta = (caps = { elicitation: {} }, extra = {}) => ({
  'io.modelcontextprotocol/protocolVersion': REV,
  'io.modelcontextprotocol/clientCapabilities': caps, ...extra });
const req = (id, method, params = {}, caps) =>
  ({ jsonrpc: '2.0', id, method, params: { ...params, _meta: meta(caps, params._meta) } });

const dir = mkdtempSync(join(tmpdir(), 'zg-rev2026-chan-'));
const env = { ...process.env, ZONEGATE_SIM_DIR: join(dir, 'sim') };
const sock = join(dir, 'relay.sock');
let mcpd, relayd, url;

// One channel stream: a relay stdio client through the daemon.
const stream = () => startRaw(RELAY, ['--via', sock], env);

describe('mcpd --chan speaks 2026-07-28 per stream', () => {
  before(async () => {
    mcpd = daemon(MCPD_TEST, ['--chan', CHAN, '--fixtures', 'conformance', '-v'], env);
    const ready = join(dir, 'url');
    relayd = daemon(RELAY, ['--daemon', '--socket', sock, '--chan', CHAN,
      '--http', '127.0.0.1:0', '--ready-file', ready], env);
    await waitFor('relay daemon', () => {
      url = readFileSync(ready, 'utf8').trim();
      return url.endsWith('/mcp');
    });
    await waitFor('channel up', () => /channel sim:41:rev2026 up/.test(relayd.log));
  });
  after(async () => {
    await stop(relayd);
    assert.equal(await stop(mcpd), 0, mcpd.log);
    rmSync(dir, { recursive: true, force: true });
  });

  // Many independent requests on one stream, answered by id; progress
  // names its request (red without MCP_CONN_RELATE on the stateless
  // sessions); the stream never becomes a session.
  test('a stateless stream: discover, lists, calls, progress, no initialize', async () => {
    const io = stream();
    try {
      io.send(req('d', 'server/discover'));
      io.send(req('l', 'tools/list'));
      io.send(req('p', 'tools/call', { name: 'test_tool_with_progress', arguments: {},
        _meta: { progressToken: 'tok' } }));
      const d = await io.next((m) => m.id === 'd');
      assert.ok(d.result.supportedVersions.includes(REV), JSON.stringify(d));
      assert.equal(d.result.resultType, 'complete');
      const l = await io.next((m) => m.id === 'l');
      assert.equal(l.result.resultType, 'complete');
      assert.equal(l.result.cacheScope, 'private');
      assert.ok(l.result.tools.some((t) => t.name === 'test_simple_text'));
      const p = await io.next((m) => m.id === 'p');
      assert.equal(p.result.resultType, 'complete');
      const prog = io.seen.filter((m) => m.method === 'notifications/progress');
      assert.ok(prog.length > 0, 'progress came on the stream');
      for (const m of prog) assert.equal(m.params._meta?.[RELATED], 'p');
      // removed methods, an unknown version, a missing _meta; initialize
      // is refused on a stateless stream, with or without the _meta
      io.send(req('ping', 'ping'));
      assert.equal((await io.next((m) => m.id === 'ping')).error.code, -32601);
      io.send({ jsonrpc: '2.0', id: 'v', method: 'tools/list', params: { _meta: {
        'io.modelcontextprotocol/protocolVersion': '2099-01-01',
        'io.modelcontextprotocol/clientCapabilities': {} } } });
      assert.equal((await io.next((m) => m.id === 'v')).error.code, -32022);
      const init = await rawInit(io, LATEST, 'i');
      assert.equal(init.error?.code, -32602, JSON.stringify(init));
      io.send(req('i2', 'initialize', { protocolVersion: LATEST, capabilities: {},
        clientInfo: { name: 'x', version: '0' } }));
      assert.equal((await io.next((m) => m.id === 'i2')).error.code, -32601);
      io.send({ jsonrpc: '2.0', id: 'after', method: 'tools/list' });
      assert.equal((await io.next((m) => m.id === 'after')).error.code, -32602,
        'still stateless after an initialize');
    } finally {
      await io.close();
    }
  });

  test('InputRequiredResult round trip and a tampered state on a channel', async () => {
    const io = stream();
    try {
      await irrRoundTrip(io, req);
    } finally {
      await io.close();
    }
  });

  // Also over the relay's HTTP endpoint (a stream per POST): the retry
  // lands on another stream than the first round, with nothing kept.
  test('InputRequiredResult over HTTP, each round its own stream', async () => {
    const post = async (id, params) => {
      const body = req(id, 'tools/call', params);
      const r = await fetch(url, { method: 'POST', body: JSON.stringify(body), headers: {
        'content-type': 'application/json', accept: 'application/json, text/event-stream',
        'mcp-protocol-version': REV, 'mcp-method': 'tools/call', 'mcp-name': params.name } });
      const text = await r.text();
      const line = text.split('\n').find((x) => x.startsWith('data: '));
      return JSON.parse(line ? line.slice(6) : text);
    };
    const T = 'test_input_required_result_tampered_state';
    const r1 = (await post(1, { name: T, arguments: {} })).result;
    assert.equal(r1.resultType, 'input_required');
    const r2 = await post(2, { name: T, arguments: {}, requestState: r1.requestState,
      inputResponses: { confirm: { action: 'accept', content: { ok: true } } } });
    assert.match(r2.result.content[0].text, /approved amount 100/);
  });

  // The subscription lives on the stream of its request, tagged with its
  // id; cancelling it ends it without a response; closing the stream ends
  // the others.
  test('subscriptions/listen on a channel stream', async () => {
    const io = stream();
    const other = stream();
    try {
      io.send(req('L1', 'subscriptions/listen', { notifications: { toolsListChanged: true } }));
      io.send(req('L2', 'subscriptions/listen', { notifications: { promptsListChanged: true } }));
      for (const id of ['L1', 'L2']) {
        assert.ok(await io.next((m) => m.method === 'notifications/subscriptions/acknowledged' &&
          m.params._meta[SUB_ID] === id), `ack for ${id}`);
      }
      const tagged = (method, id) => io.seen.filter((m) => m.method === method &&
        m.params?._meta?.[SUB_ID] === id).length;
      // a change made from another stream reaches the subscription
      other.send(req('x1', 'tools/call', { name: 'test_trigger_tool_change', arguments: {} }));
      await other.next((m) => m.id === 'x1');
      assert.ok(await io.next((m) => m.method === 'notifications/tools/list_changed'));
      assert.equal(tagged('notifications/tools/list_changed', 'L1'), 1);
      assert.equal(tagged('notifications/tools/list_changed', 'L2'), 0);
      assert.equal(io.seen.find((m) => m.method === 'notifications/tools/list_changed')
        .params._meta[RELATED], 'L1');
      io.send({ jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: 'L1' } });
      io.send(req('y', 'tools/list'));
      await io.next((m) => m.id === 'y');
      other.send(req('x2', 'tools/call', { name: 'test_trigger_tool_change', arguments: {} }));
      other.send(req('x3', 'tools/call', { name: 'test_trigger_prompt_change', arguments: {} }));
      await other.next((m) => m.id === 'x3');
      await waitFor('prompt change', () => tagged('notifications/prompts/list_changed', 'L2') === 1);
      assert.equal(tagged('notifications/tools/list_changed', 'L1'), 1, 'cancelled: nothing more');
      assert.ok(!io.seen.some((m) => m.id === 'L1'), 'a cancelled request gets no response');
    } finally {
      await io.close();
      await other.close();
    }
  });

  // The per-stream caps of the shared connection code hold on a channel:
  // 16 subscriptions on one stream, the 17th refused, another stream
  // unaffected.
  test('at most 16 subscriptions per stream', async () => {
    const io = stream();
    const other = stream();
    try {
      for (let i = 0; i < 17; i++) {
        io.send(req(`M${i}`, 'subscriptions/listen', { notifications: { toolsListChanged: true } }));
      }
      const refused = await io.next((m) => m.id === 'M16');
      assert.equal(refused?.error?.code, -32600, JSON.stringify(refused));
      assert.equal(io.seen.filter((m) => m.method === 'notifications/subscriptions/acknowledged')
        .length, 16);
      other.send(req('o', 'subscriptions/listen', { notifications: { toolsListChanged: true } }));
      assert.ok(await other.next((m) => m.method === 'notifications/subscriptions/acknowledged'));
    } finally {
      await io.close();
      await other.close();
    }
  });

  // Both revisions on one channel at once: a 2025-11-25 SDK session over
  // HTTP, a raw session stream whose later 2026 _meta changes nothing, a
  // stateless stream, and stateless POSTs (SDK 2.x client).
  test('a 2025-11-25 session and stateless requests share the channel', async () => {
    const { client: legacy } = await connectHttp(url);
    const sess = stream();
    const sl = stream();
    const c2 = new Client({ name: 'zg-2026', version: '1.0.0' }, {
      versionNegotiation: { mode: { pin: REV } } });
    try {
      const init = await rawInit(sess, LATEST, 'i');
      assert.equal(init.result.protocolVersion, LATEST);
      sess.send(req('s1', 'tools/list'));
      const s1 = await sess.next((m) => m.id === 's1');
      assert.ok(s1.result.tools.length > 0);
      assert.equal(s1.result.resultType, undefined, 'a session stream stays 2025-11-25');
      sess.send(req('s2', 'server/discover'));
      assert.equal((await sess.next((m) => m.id === 's2')).error.code, -32601);
      await c2.connect(new StreamableHTTPClientTransport(new URL(url)));
      const calls = [];
      for (let i = 0; i < 8; i++) {
        calls.push(legacy.callTool({ name: 'test_simple_text', arguments: {} }));
        calls.push(c2.callTool({ name: 'test_simple_text', arguments: {} }));
        sl.send(req(`c${i}`, 'tools/call', { name: 'test_simple_text', arguments: {} }));
        sess.send({ jsonrpc: '2.0', id: `c${i}`, method: 'tools/call',
          params: { name: 'test_simple_text', arguments: {} } });
      }
      for (const r of await Promise.all(calls)) assert.ok(r.content.length > 0);
      for (let i = 0; i < 8; i++) {
        assert.equal((await sl.next((m) => m.id === `c${i}`)).result.resultType, 'complete');
        const r = await sess.next((m) => m.id === `c${i}`);
        assert.ok(r.result.content.length > 0);
        assert.equal(r.result.resultType, undefined);
      }
    } finally {
      await legacy.close();
      await c2.close();
      await sess.close();
      await sl.close();
    }
  });
});
