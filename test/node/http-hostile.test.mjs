// Hostile and malformed HTTP input against mcpd's Streamable HTTP
// transport, with plain fetch and node:http: every case must get a clear
// status (and JSON-RPC error where one applies) and leave mcpd serving.
import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, describe, test } from 'node:test';

import { LATEST, post, rawSession, responseFor, startHttp } from './lib.mjs';

const MAX_BODY = 65536;

// A request with full control over headers (fetch forbids Host).
function rawRequest(url, { method = 'POST', headers = {}, body = '' } = {}) {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const req = http.request({ host: u.hostname, port: u.port, path: u.pathname,
      method, headers, setHost: !('Host' in headers) }, (res) => {
      let text = '';
      res.on('data', (d) => { text += d; });
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

describe('hostile HTTP input', () => {
  let srv;
  let sid;
  const ping = (id = 1) => ({ jsonrpc: '2.0', id, method: 'ping' });

  before(async () => {
    srv = await startHttp(['--max-body', String(MAX_BODY)]);
    sid = await rawSession(srv.url);
  });
  after(async () => {
    await srv?.stop(); // throws unless mcpd exits cleanly
  });

  test('invalid JSON is a -32700 parse error', async () => {
    const r = await post(srv.url, '{"jsonrpc":"2.0","id":1,"method":', { session: sid, raw: true });
    assert.ok(r.status === 400 || r.status === 200, `status ${r.status}`);
    assert.equal(r.json?.error?.code, -32700);
    assert.equal(r.json?.id, null);
  });

  test('a JSON value that is not a message is -32600', async () => {
    const r = await post(srv.url, '"just a string"', { session: sid, raw: true });
    assert.ok(r.status >= 400 || r.json?.error?.code === -32600, `status ${r.status} ${r.text}`);
  });

  test('batch arrays are rejected', async () => {
    const r = await post(srv.url, [ping(1), ping(2)], { session: sid });
    const ok = (Array.isArray(r.json) ? r.json : [r.json]).some((m) => m && 'result' in m);
    assert.ok(!ok, 'batch must not be executed');
    assert.ok(r.status >= 400 || r.json?.error?.code === -32600, `status ${r.status} ${r.text}`);
  });

  test('a request id already in flight on the session is refused (409)', async () => {
    const slow = { jsonrpc: '2.0', id: 77, method: 'tools/call',
      params: { name: 'test_slow_counter', arguments: { steps: 5, interval_ms: 100 } } };
    const first = post(srv.url, slow, { session: sid });
    await new Promise((r) => setTimeout(r, 100));
    const dup = await post(srv.url, slow, { session: sid });
    assert.equal(dup.status, 409);
    assert.equal(dup.json?.error?.code, -32600);
    const r = await first; // the first call is unaffected
    assert.equal(r.status, 200);
    const resp = (Array.isArray(r.json) ? r.json : [r.json]).find((m) => m?.id === 77);
    assert.equal(resp?.result?.content?.[0]?.text, 'counted to 5');
  });

  test('wrong Content-Type is 415/4xx', async () => {
    const r = await post(srv.url, ping(), { session: sid,
      headers: { 'content-type': 'text/plain' } });
    assert.ok(r.status >= 400 && r.status < 500, `status ${r.status}`);
  });

  test('Accept without JSON or SSE is 406/4xx', async () => {
    const r = await post(srv.url, ping(), { session: sid, headers: { accept: 'text/html' } });
    assert.ok(r.status >= 400 && r.status < 500, `status ${r.status}`);
  });

  test('oversize body is 413', async () => {
    const big = JSON.stringify({ jsonrpc: '2.0', id: 9, method: 'ping',
      params: { pad: 'x'.repeat(MAX_BODY * 2) } });
    let status;
    try {
      status = (await post(srv.url, big, { session: sid, raw: true })).status;
    } catch (e) {
      // A server may answer 413 and close before the upload ends.
      status = `connection error: ${e.cause?.code || e.message}`;
    }
    assert.equal(status, 413);
  });

  test('unknown session id is 404', async () => {
    const r = await post(srv.url, ping(), { session: 'no-such-session-0000' });
    assert.equal(r.status, 404);
  });

  test('non-initialize POST without session is 400', async () => {
    const r = await post(srv.url, ping(), {});
    assert.equal(r.status, 400);
  });

  test('foreign Origin is 403, localhost Origin is fine', async () => {
    const bad = await post(srv.url, ping(), { session: sid,
      headers: { origin: 'http://evil.example.com' } });
    assert.equal(bad.status, 403);
    const good = await post(srv.url, ping(2), { session: sid,
      headers: { origin: new URL(srv.url).origin } });
    assert.equal(good.status, 200);
  });

  test('foreign Host is rejected (DNS rebinding)', async () => {
    const body = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize',
      params: { protocolVersion: LATEST, capabilities: {}, clientInfo: { name: 'x', version: '0' } } });
    const r = await rawRequest(srv.url, { body, headers: { Host: 'evil.example.com',
      'Content-Type': 'application/json', Accept: 'application/json, text/event-stream' } });
    assert.ok(r.status >= 400 && r.status < 500, `status ${r.status}`);
    assert.ok(!r.headers['mcp-session-id'], 'no session for a rebinding request');
  });

  test('MCP-Protocol-Version: missing is accepted, unsupported is 400', async () => {
    const none = await post(srv.url, ping(3), { session: sid, version: null });
    assert.equal(none.status, 200);
    assert.deepEqual(responseFor(none, 3)?.result, {});
    const old = await post(srv.url, ping(4), { session: sid, version: '2025-03-26' });
    assert.equal(old.status, 200);
    const bad = await post(srv.url, ping(5), { session: sid, version: '1999-01-01' });
    assert.equal(bad.status, 400);
  });

  test('notifications and responses get 202', async () => {
    const r = await post(srv.url, { jsonrpc: '2.0', method: 'notifications/roots/list_changed' },
      { session: sid });
    assert.equal(r.status, 202);
    const resp = await post(srv.url, { jsonrpc: '2.0', id: 'not-pending', result: {} },
      { session: sid });
    assert.ok(resp.status === 202 || (resp.status >= 400 && resp.status < 500),
      `stray response: ${resp.status}`);
  });

  test('GET and DELETE without a session are 400/405', async () => {
    for (const method of ['GET', 'DELETE']) {
      const r = await fetch(srv.url, { method, headers: { accept: 'text/event-stream' } });
      await r.body?.cancel();
      assert.ok(r.status === 400 || r.status === 405, `${method}: ${r.status}`);
    }
  });

  test('GET with an unknown session is 404 (or 405 without GET streams)', async () => {
    const r = await fetch(srv.url, { headers: { accept: 'text/event-stream',
      'mcp-session-id': 'nope', 'mcp-protocol-version': LATEST } });
    await r.body?.cancel();
    assert.ok(r.status === 404 || r.status === 405, `status ${r.status}`);
  });

  test('other paths and methods', async () => {
    const p = await fetch(new URL('/not-mcp', srv.url), { method: 'POST',
      headers: { 'content-type': 'application/json' }, body: '{}' });
    await p.body?.cancel();
    assert.equal(p.status, 404);
    const m = await fetch(srv.url, { method: 'PUT', body: '{}' });
    await m.body?.cancel();
    assert.equal(m.status, 405);
  });

  test('a slow, truncated upload does not wedge the server', async () => {
    const u = new URL(srv.url);
    await new Promise((resolve) => {
      const req = http.request({ host: u.hostname, port: u.port, path: u.pathname,
        method: 'POST', headers: { 'Content-Type': 'application/json',
          'Content-Length': '1000', 'mcp-session-id': sid } });
      req.on('error', () => resolve());
      req.write('{"jsonrpc":"2.0"');
      setTimeout(() => { req.destroy(); resolve(); }, 50);
    });
    const r = await post(srv.url, ping(6), { session: sid });
    assert.equal(r.status, 200);
  });

  test('deep nesting, bad UTF-8 and odd ids are errors, not crashes', async () => {
    const deep = `${'['.repeat(20000)}${']'.repeat(20000)}`;
    const d = await post(srv.url, `{"jsonrpc":"2.0","id":1,"method":"ping","params":${deep}}`,
      { session: sid, raw: true });
    assert.ok(d.status >= 400 || d.json?.error, `deep: ${d.status}`);
    const utf = await post(srv.url, Buffer.from([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x3a, 0x31, 0x7d]),
      { session: sid, raw: true });
    assert.ok(utf.status >= 400 || utf.json?.error, `utf8: ${utf.status}`);
    const oid = await post(srv.url, { jsonrpc: '2.0', id: { x: 1 }, method: 'ping' }, { session: sid });
    assert.ok(oid.status >= 400 || oid.json?.error?.code === -32600, `object id: ${oid.status} ${oid.text}`);
    const nover = await post(srv.url, { id: 3, method: 'ping' }, { session: sid });
    assert.ok(nover.status >= 400 || nover.json?.error?.code === -32600, `no jsonrpc: ${nover.text}`);
  });

  test('a huge header block is refused', async () => {
    let status;
    try {
      const r = await rawRequest(srv.url, { body: '{}', headers: {
        'Content-Type': 'application/json', 'X-Big': 'a'.repeat(256 * 1024) } });
      status = r.status;
    } catch (e) {
      status = e.code; // closing the connection is an acceptable refusal
    }
    assert.ok((typeof status === 'number' && status >= 400) || typeof status === 'string',
      `status ${status}`);
  });

  test('GET resume with a bogus Last-Event-ID is handled', async () => {
    const ac = new AbortController();
    const r = await fetch(srv.url, { signal: ac.signal, headers: { accept: 'text/event-stream',
      'mcp-session-id': sid, 'mcp-protocol-version': LATEST, 'last-event-id': '../../999_x' } });
    assert.ok(r.status === 200 || r.status === 400 || r.status === 404 || r.status === 405,
      `status ${r.status}`);
    ac.abort();
    await r.body?.cancel().catch(() => {});
  });

  // Event ids are parsed by the shared bounded parser (zg_parse_uint):
  // a sign, a space or a '+' in either number is a malformed id (400 with
  // that reason), where strtoull read "1_-1" as sequence 2^64-1.
  for (const id of ['1_-1', '1_+0', '1_ 0', '-1_0', '1_18446744073709551616']) {
    test(`GET resume with Last-Event-ID ${JSON.stringify(id)} is malformed`, async () => {
      const r = await fetch(srv.url, { headers: { accept: 'text/event-stream',
        'mcp-session-id': sid, 'mcp-protocol-version': LATEST, 'last-event-id': id } });
      const body = await r.text();
      assert.equal(r.status, 400);
      assert.equal(body, 'bad Last-Event-ID');
    });
  }

  test('the server still answers after all of the above', async () => {
    const r = await post(srv.url, { jsonrpc: '2.0', id: 77, method: 'tools/call',
      params: { name: 'test_simple_text', arguments: {} } }, { session: sid });
    assert.equal(r.status, 200);
    assert.equal(responseFor(r, 77)?.result?.content?.[0]?.text,
      'This is a simple text response for testing.');
  });
});

describe('stateless revision (2026-07-28)', () => {
  const REV = '2026-07-28';
  const meta = { 'io.modelcontextprotocol/protocolVersion': REV,
    'io.modelcontextprotocol/clientCapabilities': {} };
  let srv;
  before(async () => {
    srv = await startHttp(['--max-sessions', '2']);
  });
  after(async () => {
    await srv?.stop();
  });
  const call = (id, headers = {}) => post(srv.url, { jsonrpc: '2.0', id, method: 'tools/call',
    params: { name: 'test_simple_text', arguments: {}, _meta: meta } },
  { version: REV, headers: { 'mcp-method': 'tools/call', 'mcp-name': 'test_simple_text',
    ...headers } });

  // Proves that a stateless request never takes a place in the session
  // table: with --max-sessions 2 both places hold idle 2025-11-25
  // sessions, so a stateless request that entered the table would evict
  // one of them (LRU) and its next request would get 404.
  test('stateless requests take no session and evict none', async () => {
    const sids = [await rawSession(srv.url), await rawSession(srv.url)];
    for (let i = 0; i < 4; i++) {
      const rs = await Promise.all([1, 2, 3, 4, 5].map((k) => call(i * 10 + k)));
      for (const r of rs) {
        assert.equal(r.status, 200, r.text);
        assert.equal(r.headers.get('mcp-session-id'), null);
        assert.equal(r.json?.result?.resultType, 'complete');
      }
    }
    for (const [k, sid] of sids.entries()) {
      const r = await post(srv.url, { jsonrpc: '2.0', id: 100 + k, method: 'ping' },
        { session: sid });
      assert.equal(r.status, 200, `session ${k}: ${r.status}`);
    }
  });

  test('header rules: mismatch is 400 -32020 with the request id', async () => {
    const r = await call(9, { 'mcp-name': 'other_tool' });
    assert.equal(r.status, 400);
    assert.equal(r.json?.error?.code, -32020);
    assert.equal(r.json?.id, 9);
    const nometh = await call(10, { 'mcp-method': null });
    assert.equal(nometh.status, 400);
    assert.equal(nometh.json?.error?.code, -32020);
  });

  test('no GET stream, no DELETE; notifications are 202', async () => {
    for (const method of ['GET', 'DELETE']) {
      const r = await fetch(srv.url, { method, headers: { accept: 'text/event-stream',
        'mcp-protocol-version': REV } });
      await r.body?.cancel();
      assert.equal(r.status, 405, method);
    }
    const n = await post(srv.url, { jsonrpc: '2.0', method: 'notifications/cancelled',
      params: { requestId: 1, _meta: meta } }, { version: REV,
      headers: { 'mcp-method': 'notifications/cancelled' } });
    assert.equal(n.status, 202);
  });
});

describe('connection limits', () => {
  test('more sockets than --max-connections do not take mcpd down', async () => {
    const srv = await startHttp(['--max-connections', '8']);
    const net = await import('node:net');
    const u = new URL(srv.url);
    const socks = [];
    try {
      for (let i = 0; i < 40; i++) {
        const s = net.connect(Number(u.port), u.hostname);
        s.on('error', () => {});
        socks.push(s);
      }
      await new Promise((r) => setTimeout(r, 200));
      for (const s of socks) s.destroy();
      await new Promise((r) => setTimeout(r, 200));
      const sid = await rawSession(srv.url);
      const r = await post(srv.url, { jsonrpc: '2.0', id: 1, method: 'ping' }, { session: sid });
      assert.equal(r.status, 200);
    } finally {
      for (const s of socks) s.destroy();
      await srv.stop();
    }
  });
});

describe('--allowed-origin', () => {
  test('an allowed browser origin passes, others get 403', async () => {
    const srv = await startHttp(['--allowed-origin', 'https://app.example.com']);
    try {
      const sid = await rawSession(srv.url);
      const ok = await post(srv.url, { jsonrpc: '2.0', id: 1, method: 'ping' },
        { session: sid, headers: { origin: 'https://app.example.com' } });
      assert.equal(ok.status, 200);
      const bad = await post(srv.url, { jsonrpc: '2.0', id: 2, method: 'ping' },
        { session: sid, headers: { origin: 'https://app.example.com.evil.example' } });
      assert.equal(bad.status, 403);
    } finally {
      await srv.stop();
    }
  });
});
