// The 2026-07-28 revision over stdio (mcpd --stdio chooses per request by
// the version its _meta carries, beside a legacy initialize session in the
// same process), traceparent in the request log, and the TypeScript SDK
// 2.x client (@modelcontextprotocol/client, pinned to 2026-07-28) against
// mcpd over stdio and Streamable HTTP, multi round-trip calls included.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { Client } from '@modelcontextprotocol/client';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { StdioClientTransport } from '@modelcontextprotocol/client/stdio';

import { LATEST, irrRoundTrip, mcpdPath, rawInit, startHttp, startStdioRaw } from './lib.mjs';

const REV = '2026-07-28';
const SUB_ID = 'io.modelcontextprotocol/subscriptionId';
const TP = '00-0af7651916cd43dd8448eb211c80319c-00f067aa0ba902b7-01';

const meta = (caps = { elicitation: {} }, extra = {}) => ({
  'io.modelcontextprotocol/protocolVersion': REV,
  'io.modelcontextprotocol/clientCapabilities': caps, ...extra });
const req = (id, method, params = {}, caps) =>
  ({ jsonrpc: '2.0', id, method, params: { ...params, _meta: meta(caps, params._meta) } });

describe('2026-07-28 over stdio', () => {
  test('both revisions in one process, each request by its own version', async () => {
    const io = startStdioRaw(['-v']);
    try {
      io.send(req('d1', 'server/discover'));
      const d = await io.next((m) => m.id === 'd1');
      assert.ok(d.result.supportedVersions.includes(REV));
      assert.equal(d.result.resultType, 'complete');
      // a legacy client on the same pipe
      const init = await rawInit(io, LATEST, 'i1');
      assert.equal(init.result.protocolVersion, LATEST);
      io.send({ jsonrpc: '2.0', id: 'l1', method: 'tools/list' });
      const legacyList = await io.next((m) => m.id === 'l1');
      assert.ok(legacyList.result.tools.length > 0);
      assert.equal(legacyList.result.resultType, undefined);
      // removed methods and unknown versions, stateless
      io.send(req('p1', 'ping'));
      assert.equal((await io.next((m) => m.id === 'p1')).error.code, -32601);
      io.send({ jsonrpc: '2.0', id: 'v1', method: 'tools/list', params: { _meta: {
        'io.modelcontextprotocol/protocolVersion': '2099-01-01',
        'io.modelcontextprotocol/clientCapabilities': {} } } });
      const v = await io.next((m) => m.id === 'v1');
      assert.equal(v.error.code, -32022);
      assert.equal(v.error.data.requested, '2099-01-01');
      io.send({ jsonrpc: '2.0', id: 'c1', method: 'tools/list', params: { _meta: {
        'io.modelcontextprotocol/protocolVersion': REV } } });
      assert.equal((await io.next((m) => m.id === 'c1')).error.code, -32602);
      // traceparent is kept into the request log; a malformed one is not
      io.send(req('t1', 'tools/call', { name: 'test_simple_text', arguments: {},
        _meta: { traceparent: TP } }));
      assert.ok((await io.next((m) => m.id === 't1')).result.content);
      io.send(req('t2', 'tools/call', { name: 'test_simple_text', arguments: {},
        _meta: { traceparent: '00-zz\nforged line' } }));
      assert.ok(await io.next((m) => m.id === 't2'));
      const r = await io.close();
      assert.equal(r.code, 0, io.stderr());
      const log = io.stderr();
      assert.match(log, new RegExp(`request tools/call rev ${REV} traceparent ${TP}`));
      assert.match(log, /request tools\/list rev 2025-11-25 traceparent -/);
      assert.doesNotMatch(log, /forged line/);
    } finally {
      io.proc.kill();
    }
  });

  // --protocol-versions: a 2026-only mcpd refuses initialize with -32022
  // naming what it serves; a 2025-only one treats server/discover as an
  // unknown method and a 2026 _meta as nothing special (red with the
  // option ignored: both would answer as the dual server above does).
  test('--protocol-versions serves one revision only', async () => {
    const only26 = startStdioRaw(['--protocol-versions', REV]);
    try {
      only26.send(req('d1', 'server/discover'));
      const d = await only26.next((m) => m.id === 'd1');
      assert.deepEqual(d.result.supportedVersions, [REV]);
      const init = await rawInit(only26, LATEST, 'i1');
      assert.equal(init.error.code, -32022);
      assert.deepEqual(init.error.data.supported, [REV]);
      assert.equal(init.error.data.requested, LATEST);
      only26.send(req('t1', 'tools/list'));
      assert.ok((await only26.next((m) => m.id === 't1')).result.tools.length > 0);
    } finally {
      await only26.close();
    }
    const only25 = startStdioRaw(['--protocol-versions', '2025-11-25']);
    try {
      only25.send(req('d1', 'server/discover'));
      assert.equal((await only25.next((m) => m.id === 'd1')).error.code, -32601);
      only25.send(req('t0', 'tools/list'));
      const t0 = await only25.next((m) => m.id === 't0');
      assert.ok(t0.error, 'a 2026 request before initialize is refused');
      const init = await rawInit(only25, LATEST, 'i1');
      assert.equal(init.result.protocolVersion, LATEST);
      only25.send({ jsonrpc: '2.0', id: 'l1', method: 'tools/list' });
      assert.ok((await only25.next((m) => m.id === 'l1')).result.tools.length > 0);
    } finally {
      await only25.close();
    }
  });

  test('InputRequiredResult round trip and a tampered state', async () => {
    const io = startStdioRaw();
    try {
      await irrRoundTrip(io, req);
    } finally {
      await io.close();
    }
  });

  // Several subscriptions share the pipe, told apart by their ids; a
  // cancelled one gets nothing more (red if listen_cancel is skipped).
  test('subscriptions/listen: tagged, filtered, cancelled, bounded', async () => {
    const io = startStdioRaw();
    try {
      io.send(req('L1', 'subscriptions/listen', { notifications: { toolsListChanged: true } }));
      io.send(req('L2', 'subscriptions/listen', { notifications: { promptsListChanged: true } }));
      for (const id of ['L1', 'L2']) {
        const ack = await io.next((m) => m.method === 'notifications/subscriptions/acknowledged' &&
          m.params._meta[SUB_ID] === id);
        assert.ok(ack, `ack for ${id}`);
      }
      const tagged = (method, id) => io.seen.filter((m) => m.method === method &&
        m.params?._meta?.[SUB_ID] === id).length;
      io.send(req('x1', 'tools/call', { name: 'test_trigger_tool_change', arguments: {} }));
      await io.next((m) => m.id === 'x1'); // the broadcast is written before it
      assert.equal(tagged('notifications/tools/list_changed', 'L1'), 1);
      assert.equal(tagged('notifications/tools/list_changed', 'L2'), 0);
      io.send({ jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: 'L1' } });
      io.send(req('x2', 'tools/call', { name: 'test_trigger_tool_change', arguments: {} }));
      io.send(req('x3', 'tools/call', { name: 'test_trigger_prompt_change', arguments: {} }));
      await io.next((m) => m.id === 'x3');
      assert.equal(tagged('notifications/tools/list_changed', 'L1'), 1);
      assert.equal(tagged('notifications/prompts/list_changed', 'L2'), 1);
      assert.ok(!io.seen.some((m) => m.id === 'L1'), 'a cancelled request gets no response');
      // at most 16 subscriptions per connection (L2 is one)
      for (let i = 0; i < 16; i++) {
        io.send(req(`M${i}`, 'subscriptions/listen', { notifications: { toolsListChanged: true } }));
      }
      const refused = await io.next((m) => m.id === 'M15');
      assert.equal(refused?.error?.code, -32600);
      assert.equal(io.seen.filter((m) => m.method === 'notifications/subscriptions/acknowledged').length, 2 + 15);
    } finally {
      const r = await io.close(); // EOF ends every subscription
      assert.equal(r.code, 0, io.stderr());
    }
  });
});

function sdkClient() {
  const client = new Client({ name: 'zonegate-sdk2-test', version: '1.0.0' }, {
    capabilities: { elicitation: {}, sampling: {} },
    versionNegotiation: { mode: { pin: REV } },
  });
  client.setRequestHandler('elicitation/create', async (request) => {
    const props = Object.keys(request.params.requestedSchema?.properties ?? {});
    return { action: 'accept', content: { [props[0]]: props[0] === 'color' ? 'teal' : 'Ada' } };
  });
  client.setRequestHandler('sampling/createMessage', async () => ({
    role: 'assistant', content: { type: 'text', text: 'Paris' }, model: 'm', stopReason: 'endTurn' }));
  return client;
}

async function exercise(client) {
  assert.equal(client.protocolVersion ?? REV, REV);
  const tools = await client.listTools();
  assert.ok(tools.tools.some((t) => t.name === 'test_input_required_result_multi_round'));
  const hello = await client.callTool({ name: 'test_input_required_result_elicitation', arguments: {} });
  assert.equal(hello.content[0].text, 'Hello, Ada!');
  // three rounds, the state changing hands twice, inside one callTool()
  const multi = await client.callTool({ name: 'test_input_required_result_multi_round', arguments: {} });
  assert.equal(multi.content[0].text, 'Ada likes teal (three rounds)');
  const sampled = await client.callTool({ name: 'test_input_required_result_sampling', arguments: {} });
  assert.match(sampled.content[0].text, /Paris/);
  const prompt = await client.getPrompt({ name: 'test_input_required_result_prompt' });
  assert.match(prompt.messages[0].content.text, /context in mind: Ada/);
  // on HTTP the client mirrors the x-mcp-header parameter; mcpd checks it
  const region = await client.callTool({ name: 'test_header_param', arguments: { region: 'ap-south1' } });
  assert.equal(region.content[0].text, 'region=ap-south1');
}

describe('SDK 2.x client, 2026-07-28', () => {
  test('over stdio', async () => {
    const client = sdkClient();
    await client.connect(new StdioClientTransport({ command: mcpdPath(),
      args: ['--stdio', '--fixtures', 'conformance'], stderr: 'pipe' }));
    try {
      await exercise(client);
    } finally {
      await client.close();
    }
  });

  test('over Streamable HTTP', async () => {
    const srv = await startHttp();
    const client = sdkClient();
    try {
      await client.connect(new StreamableHTTPClientTransport(new URL(srv.url)));
      await exercise(client);
      await client.close();
    } finally {
      await srv.stop();
    }
  });
});
