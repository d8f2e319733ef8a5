// mcpd's Streamable HTTP transport is event-driven: a few event threads
// serve every connection, and a request that waits (on a worker, or an
// SSE stream on its events) suspends its connection instead of holding a
// thread. These cases count threads and order completions, never time.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import { after, before, describe, test } from 'node:test';

import { LATEST, post, rawSession, responseFor, startHttp, waitFor } from './lib.mjs';

const threads = (pid) =>
  Number(/^Threads:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1]);

// Opens the session's standalone GET stream; resolves once its headers
// arrived (the stream then stays open, with nothing to send).
function openGet(url, session) {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const req = http.request({ host: u.hostname, port: u.port, path: u.pathname,
      method: 'GET', headers: { accept: 'text/event-stream', 'mcp-session-id': session,
        'mcp-protocol-version': LATEST } }, (res) => resolve({ res, req }));
    req.on('error', reject);
    req.end();
  });
}

const call = (url, session, id, name, args = {}) => post(url,
  { jsonrpc: '2.0', id, method: 'tools/call', params: { name, arguments: args } },
  { session });

describe('event-driven HTTP transport', () => {
  let srv;
  before(async () => { srv = await startHttp(['--max-sessions', '128']); });
  after(async () => { await srv?.stop(); });

  // Proves waiting streams hold no thread each: red with libmicrohttpd's
  // thread-per-connection mode (MHD_USE_THREAD_PER_CONNECTION in
  // mcp/http.c), where 48 open streams are 48 more threads.
  test('48 open SSE streams add no threads', async () => {
    const pid = srv.proc.pid;
    const sessions = [];
    for (let i = 0; i < 48; i++) sessions.push(await rawSession(srv.url));
    const before = threads(pid);
    const streams = [];
    for (const s of sessions) streams.push(await openGet(srv.url, s));
    for (const { res } of streams) assert.equal(res.statusCode, 200);
    const during = threads(pid);
    // the streams are served: a call on another session is answered
    const r = await call(srv.url, sessions[0], 7, 'test_simple_text');
    assert.ok(responseFor(r, 7)?.result, r.text);
    assert.ok(during - before < 8, `threads ${before} -> ${during} with 48 streams`);
    for (const { req } of streams) req.destroy();
    for (const s of sessions) {
      await fetch(srv.url, { method: 'DELETE',
        headers: { 'mcp-session-id': s, 'mcp-protocol-version': LATEST } });
    }
  });

  // Proves a request waiting on a worker suspends its connection instead
  // of holding its event thread: red when http_post_answer waits on the
  // event thread, since then the quick calls queue behind the slow ones.
  test('calls waiting on workers do not hold up other connections', async () => {
    const slow = [];
    let slowDone = 0;
    for (let i = 0; i < 8; i++) {
      const s = await rawSession(srv.url);
      slow.push(call(srv.url, s, 1, 'test_slow_counter', { steps: 1, interval_ms: 3000 })
        .then((r) => { slowDone++; return r; }));
    }
    const quick = await rawSession(srv.url);
    for (let i = 0; i < 20; i++) {
      const r = await call(srv.url, quick, 100 + i, 'test_simple_text');
      assert.ok(responseFor(r, 100 + i)?.result, r.text);
    }
    assert.equal(slowDone, 0, 'the quick calls waited for the slow ones');
    for (const r of await Promise.all(slow)) assert.ok(responseFor(r, 1)?.result, r.text);
    await waitFor(() => slowDone === 8);
  });
});
