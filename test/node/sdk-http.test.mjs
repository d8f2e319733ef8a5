// mcpd over Streamable HTTP, driven by the official TypeScript SDK client
// (StreamableHTTPClientTransport): sessions, tools, notifications on SSE
// streams (progress, logging, resource updates), sampling and elicitation
// through the POST stream, cancellation, concurrency, DELETE and expiry.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import {
  CreateMessageRequestSchema, ElicitRequestSchema,
  LoggingMessageNotificationSchema, ResourceUpdatedNotificationSchema,
} from '@modelcontextprotocol/sdk/types.js';

import {
  connectHttp, LATEST, post, rawSession, sleep, startHttp, waitFor,
} from './lib.mjs';

describe('SDK client over Streamable HTTP', () => {
  let srv;
  let c;
  const logs = [];
  const updates = [];
  let lastElicit = null;

  before(async () => {
    srv = await startHttp();
    c = await connectHttp(srv.url);
    c.client.setNotificationHandler(LoggingMessageNotificationSchema, (n) => logs.push(n));
    c.client.setNotificationHandler(ResourceUpdatedNotificationSchema, (n) => updates.push(n));
    c.client.setRequestHandler(CreateMessageRequestSchema, async (req) => ({
      role: 'assistant', model: 'm', stopReason: 'endTurn',
      content: { type: 'text', text: `re:${req.params.messages[0].content.text}` },
    }));
    c.client.setRequestHandler(ElicitRequestSchema, async (req) => {
      lastElicit = req;
      return { action: 'decline' };
    });
  });
  after(async () => {
    await c?.client.close();
    await srv?.stop(); // throws unless mcpd exits cleanly
  });

  test('session and version', () => {
    assert.ok(c.transport.sessionId, 'mcp-session-id issued');
    assert.ok(/^[\x21-\x7e]+$/.test(c.transport.sessionId), 'session id is visible ASCII');
    assert.equal(c.transport.protocolVersion, LATEST);
  });

  test('tools/list and calls', async () => {
    const r = await c.client.listTools();
    assert.ok(r.tools.some((t) => t.name === 'test_simple_text'));
    const js = r.tools.find((t) => t.name === 'json_schema_2020_12_tool');
    assert.equal(js.inputSchema.$schema, 'https://json-schema.org/draft/2020-12/schema');
    assert.equal(js.inputSchema.additionalProperties, false);
    const s = await c.client.callTool({ name: 'test_simple_text' });
    assert.equal(s.content[0].text, 'This is a simple text response for testing.');
    const so = await c.client.callTool({ name: 'test_structured_output', arguments: { a: 1, b: 2 } });
    assert.deepEqual(so.structuredContent, { sum: 3 });
    const e = await c.client.callTool({ name: 'test_error_handling' });
    assert.equal(e.isError, true);
  });

  test('progress arrives before the response', async () => {
    const seen = [];
    await c.client.callTool({ name: 'test_tool_with_progress', arguments: {} }, undefined,
      { onprogress: (p) => seen.push(p.progress) });
    assert.deepEqual(seen, [0, 50, 100]);
  });

  test('logs arrive during the call', async () => {
    await c.client.setLoggingLevel('debug');
    logs.length = 0;
    await c.client.callTool({ name: 'test_tool_with_logging', arguments: {} });
    const data = logs.map((n) => n.params.data);
    assert.deepEqual(data.filter((d) => typeof d === 'string' && d.startsWith('Tool ')),
      ['Tool execution started', 'Tool processing data', 'Tool execution completed']);
  });

  test('sampling and elicitation over the POST stream', async () => {
    const s = await c.client.callTool({ name: 'test_sampling', arguments: { prompt: 'p' } });
    assert.equal(s.content[0].text, 'LLM response: re:p');
    const e = await c.client.callTool({ name: 'test_elicitation_sep1034_defaults', arguments: {} });
    assert.match(e.content[0].text, /action=decline/);
    const props = lastElicit.params.requestedSchema.properties;
    assert.equal(props.age.default, 30);
    assert.equal(props.score.default, 95.5);
    assert.equal(props.verified.default, true);
  });

  test('cancellation with AbortSignal', async () => {
    const ac = new AbortController();
    const t0 = Date.now();
    const p = c.client.callTool({ name: 'test_slow_counter',
      arguments: { steps: 1000, interval_ms: 10 } }, undefined, { signal: ac.signal });
    setTimeout(() => ac.abort('test abort'), 100);
    await assert.rejects(p);
    assert.ok(Date.now() - t0 < 2000);
    const r = await c.client.callTool({ name: 'test_simple_text' });
    assert.equal(r.content[0].type, 'text');
  });

  test('concurrent calls on one session', async () => {
    const calls = [];
    for (let i = 0; i < 24; i++) {
      calls.push(c.client.callTool({ name: 'test_structured_output', arguments: { a: i, b: 1 } }));
    }
    const res = await Promise.all(calls);
    res.forEach((r, i) => assert.equal(r.structuredContent.sum, i + 1));
  });

  test('resource updates reach a subscribed session', async () => {
    await c.client.subscribeResource({ uri: 'test://watched-resource' });
    await c.client.callTool({ name: 'test_update_watched', arguments: {} });
    assert.ok(await waitFor(() => updates.length > 0, 3000),
      'notifications/resources/updated (standalone GET stream)');
    assert.equal(updates[0].params.uri, 'test://watched-resource');
  });

  test('DELETE ends the session: its id then gets 404, a new client works', async () => {
    const d = await connectHttp(srv.url);
    const sid = d.transport.sessionId;
    await d.transport.terminateSession();
    await d.client.close();
    const r = await post(srv.url, { jsonrpc: '2.0', id: 1, method: 'tools/list' }, { session: sid });
    assert.equal(r.status, 404);
    const again = await connectHttp(srv.url);
    assert.notEqual(again.transport.sessionId, sid);
    assert.ok((await again.client.listTools()).tools.length > 0);
    await again.client.close();
  });

  test('two sessions are isolated', async () => {
    const a = await connectHttp(srv.url);
    const b = await connectHttp(srv.url);
    try {
      assert.notEqual(a.transport.sessionId, b.transport.sessionId);
      const r = await post(srv.url, { jsonrpc: '2.0', id: 5, method: 'ping' },
        { session: a.transport.sessionId });
      assert.equal(r.status, 200);
    } finally {
      await a.client.close();
      await b.client.close();
    }
  });
});

describe('pagination over HTTP', () => {
  test('tools/list and resources/list follow nextCursor to the end', async () => {
    const srv = await startHttp([], { ZG_FIXTURES_PAGE_SIZE: '4' });
    const c = await connectHttp(srv.url);
    try {
      const walk = async (fn, key) => {
        const out = [];
        let cursor;
        let pages = 0;
        do {
          const r = await fn(cursor ? { cursor } : {});
          assert.ok(r[key].length <= 4, 'page size honoured');
          out.push(...r[key]);
          cursor = r.nextCursor;
          pages++;
        } while (cursor && pages < 100);
        return { out, pages };
      };
      const t = await walk((p) => c.client.listTools(p), 'tools');
      assert.ok(t.pages >= 4, `tool pages: ${t.pages}`);
      const names = t.out.map((x) => x.name);
      assert.equal(new Set(names).size, names.length);
      assert.ok(names.includes('json_schema_2020_12_tool'));
      const r = await walk((p) => c.client.listResources(p), 'resources');
      assert.ok(r.out.some((x) => x.uri === 'test://watched-resource'));
    } finally {
      await c.client.close();
      await srv.stop();
    }
  });
});

describe('version negotiation over HTTP', () => {
  test('a supported older version is kept, an unknown one gets the latest', async () => {
    const srv = await startHttp();
    try {
      for (const [asked, want] of [['2025-06-18', '2025-06-18'],
        ['2025-03-26', '2025-03-26'], ['1999-01-01', LATEST]]) {
        const r = await post(srv.url, {
          jsonrpc: '2.0', id: 1, method: 'initialize',
          params: { protocolVersion: asked, capabilities: {}, clientInfo: { name: 'v', version: '0' } },
        }, { version: null });
        assert.equal(r.status, 200);
        const got = (Array.isArray(r.json) ? r.json[0] : r.json)?.result?.protocolVersion;
        assert.equal(got, want, `asked ${asked}`);
        const sid = r.headers.get('mcp-session-id');
        const note = await post(srv.url, { jsonrpc: '2.0', method: 'notifications/initialized' },
          { session: sid, version: want });
        assert.equal(note.status, 202);
        const list = await post(srv.url, { jsonrpc: '2.0', id: 2, method: 'tools/list' },
          { session: sid, version: want });
        assert.equal(list.status, 200);
      }
    } finally {
      await srv.stop();
    }
  });
});

describe('session limits', () => {
  test('idle sessions expire with 404 and the client re-initializes', async () => {
    const srv = await startHttp(['--session-timeout', '1']);
    try {
      const c = await connectHttp(srv.url);
      const sid = c.transport.sessionId;
      await c.client.close();
      const raw = await rawSession(srv.url);
      // --session-timeout has whole-second granularity and mcpd's janitor
      // runs once a second: an idle session is gone within 3 s.
      await sleep(3500);
      for (const s of [sid, raw]) {
        const r = await post(srv.url, { jsonrpc: '2.0', id: 2, method: 'tools/list' }, { session: s });
        assert.equal(r.status, 404, `expired session ${s}`);
      }
      const c2 = await connectHttp(srv.url);
      assert.notEqual(c2.transport.sessionId, sid);
      assert.ok((await c2.client.callTool({ name: 'test_simple_text' })).content.length);
      await c2.client.close();
    } finally {
      await srv.stop();
    }
  });

  test('--max-sessions bounds live sessions', async () => {
    const srv = await startHttp(['--max-sessions', '2']);
    try {
      const s1 = await rawSession(srv.url);
      const s2 = await rawSession(srv.url);
      const init = await post(srv.url, {
        jsonrpc: '2.0', id: 1, method: 'initialize',
        params: { protocolVersion: LATEST, capabilities: {}, clientInfo: { name: 'x', version: '0' } },
      }, { version: null });
      if (init.status === 200) {
        // The server evicted an older session to make room.
        let live = 0;
        for (const s of [s1, s2, init.headers.get('mcp-session-id')]) {
          const r = await post(srv.url, { jsonrpc: '2.0', id: 3, method: 'ping' }, { session: s });
          if (r.status === 200) live++;
        }
        assert.ok(live <= 2, `at most 2 live sessions, found ${live}`);
      } else {
        assert.ok(init.status >= 400, `refused with ${init.status}`);
      }
    } finally {
      await srv.stop();
    }
  });
});
