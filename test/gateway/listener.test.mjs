// End to end: gatewayd's HTTP listeners for host-side clients. Two TCP
// listeners bound by token to agent zones host-a and host-b (zones with
// no channel), and a unix listener bound to host-a by the peer's uid. The
// official TypeScript SDK client connects with an Authorization header.
// Checks: lists and calls as the bound zone, denied == unknown, progress on
// the stream of the request it belongs to, 401 for a
// missing or wrong token, sessions (404 for an unknown id, DELETE), the
// uid rule (another uid gets 403), idle connections lock nobody out and
// a burst of 40 clients gets through a flood of them, the audit log names
// the zone and never the token.
// Env: GATEWAYD, MCPD_TEST.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import { checkedAfter, guardHooks, daemon as spawnDaemon, rawSession, rpcError, sseMessages, waitFor } from '../common/harness.mjs';

// the describe block's final checks fail the run (harness.mjs)
guardHooks();

const SDK = '../node/node_modules/@modelcontextprotocol/sdk/dist/esm';
const { Client } = await import(`${SDK}/client/index.js`);
const { StreamableHTTPClientTransport } =
  await import(`${SDK}/client/streamableHttp.js`);

const { GATEWAYD, MCPD_TEST } = process.env;
const dir = mkdtempSync(join(tmpdir(), 'zg-gwl-'));
const env = { ...process.env, ZONEGATE_SIM_DIR: join(dir, 'sim') };
const daemon = (bin, args) => spawnDaemon(bin, args, env);
const cfg = join(dir, 'gatewayd.json');
const TOKEN_A = 'a'.repeat(20) + 'Zq9-token-of-host-a-0123456789';
const TOKEN_B = 'b'.repeat(20) + 'Xy7-token-of-host-b-0123456789';
const TOKEN_A2 = 'c'.repeat(20) + 'Rt5-rotated-token-of-host-a-987';
const sock = join(dir, 'host-a.sock');

writeFileSync(join(dir, 'a.token'), `${TOKEN_A}\n`, { mode: 0o600 });
writeFileSync(join(dir, 'b.token'), `${TOKEN_B}\n`, { mode: 0o600 });
writeFileSync(cfg, JSON.stringify({
  zones: {
    'host-a': { domid: 51, role: 'agent' },
    'host-b': { domid: 52, role: 'agent', default_zone: 'tools' },
    tools: { domid: 53, role: 'tool', chan: 'sim:53:tools' },
  },
  listeners: [
    { listen: '127.0.0.1:0', zone: 'host-a', token_file: 'a.token' },
    { listen: '127.0.0.1:0', zone: 'host-b', token_file: 'b.token' },
    { listen: 'unix:host-a.sock', zone: 'host-a', uid: process.getuid() },
  ],
  policy: 'gw.policy',
  audit_log: 'audit.log',
  pins: 'pins.json',
  audit_flush_ms: 0,
}, null, 2));
writeFileSync(join(dir, 'gw.policy'), `host-a tools.test_simple_text allow
host-a tools.test_slow_counter allow
host-a tools.test_tool_with_logging allow
host-b tools.test_image_content allow
`);

const INIT = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize',
  params: { protocolVersion: '2025-06-18', capabilities: {},
    clientInfo: { name: 'raw', version: '1' } } });
const HDRS = { 'content-type': 'application/json',
  accept: 'application/json, text/event-stream' };

// Run by node as another uid: opens argv[2] connections, one after the
// other, to the unix socket argv[1] and never sends a byte; prints
// "ready N" (N connected), then "closed M" once the server closed them
// all (or after 30 s).
const IDLE_JS = `
const net = require('node:net');
const path = process.argv[1], n = Number(process.argv[2]);
let connected = 0, closed = 0;
const done = () => { console.log('closed', closed); process.exit(0); };
const connectOne = () => new Promise((res) => {
  const s = net.createConnection(path);
  let up = false;
  s.on('connect', () => { up = true; res(true); });
  s.on('error', () => {});
  s.on('close', () => {
    if (!up) return res(false);
    if (++closed === n) done();
  });
});
(async () => {
  // a full backlog (EAGAIN) is retried: all n get in
  for (let tries = 0; connected < n && tries < 5000; tries++) {
    if (await connectOne()) connected++;
    else await new Promise((r) => setTimeout(r, 5));
  }
  console.log('ready', connected);
  setTimeout(done, 30000);
})();
`;

// One POST to 127.0.0.1:port on a fresh connection; resolves { status, body }.
function tcpPost(port, body, headers = {}, timeout = 0) {
  return new Promise((res, rej) => {
    const r = request({ host: '127.0.0.1', port, path: '/mcp', method: 'POST', timeout,
      agent: false, headers: { ...HDRS, ...headers } }, (m) => {
      let b = '';
      m.on('data', (d) => { b += d; });
      m.on('end', () => res({ status: m.statusCode, body: b }));
    });
    r.on('error', rej);
    r.on('timeout', () => r.destroy(new Error('timed out')));
    r.end(body);
  });
}

// One HTTP request over the unix socket; resolves { status, headers, body }.
// Each on a fresh connection (no keep-alive pool).
function unixPost(path, body, headers = {}, timeout = 0) {
  return new Promise((res, rej) => {
    const r = request({ socketPath: path, path: '/mcp', method: 'POST', timeout,
      agent: false, headers: { host: 'localhost', ...HDRS, ...headers } }, (m) => {
      let b = '';
      m.on('data', (d) => { b += d; });
      m.on('end', () => res({ status: m.statusCode, headers: m.headers, body: b }));
    });
    r.on('error', rej);
    r.on('timeout', () => r.destroy(new Error('timed out')));
    r.end(body);
  });
}

let gw, tools, urlA, urlB;

async function connect(url, token) {
  const c = new Client({ name: 'zg-host', version: '1.0.0' });
  await c.connect(new StreamableHTTPClientTransport(new URL(url), {
    requestInit: { headers: { Authorization: `Bearer ${token}` } } }));
  return c;
}

describe('gatewayd HTTP listeners (host-side clients)', () => {
  before(async () => {
    tools = daemon(MCPD_TEST, ['--chan', 'sim:53:tools', '--fixtures', 'conformance']);
    gw = daemon(GATEWAYD, ['--config', cfg]);
    await waitFor('listeners and tool zone', () =>
      gw.log.includes('tool zone tools up') &&
      (gw.log.match(/listener for zone host-. on http:\/\/\S+/g) || []).length === 2);
    const urls = [...gw.log.matchAll(/listener for zone (host-.) on (http:\/\/\S+)/g)];
    urlA = urls.find((m) => m[1] === 'host-a')[2];
    urlB = urls.find((m) => m[1] === 'host-b')[2];
  });
  checkedAfter(async () => {
    gw.kill('SIGTERM');
    const code = await gw.done;
    tools.kill('SIGTERM');
    await tools.done;
    rmSync(dir, { recursive: true, force: true });
    assert.equal(code, 0, gw.log);
  });

  test('a token-bound client acts as its zone: lists and calls', async () => {
    const a = await connect(urlA, TOKEN_A);
    const names = (await a.listTools()).tools.map((t) => t.name);
    assert.deepEqual(names, ['tools.test_simple_text', 'tools.test_tool_with_logging',
      'tools.test_slow_counter']);
    const r = await a.callTool({ name: 'tools.test_simple_text', arguments: {} });
    assert.ok(r.content[0].text.length > 0);
    const denied = await rpcError(a.callTool({ name: 'tools.test_image_content', arguments: {} }));
    const unknown = await rpcError(a.callTool({ name: 'tools.no_such_tool', arguments: {} }));
    assert.equal(denied.code, unknown.code);
    assert.equal(denied.message.replace('test_image_content', 'X'),
      unknown.message.replace('no_such_tool', 'X'));
    await a.close();
  });

  test('a second listener binds another zone with its own rights', async () => {
    const b = await connect(urlB, TOKEN_B);
    assert.deepEqual((await b.listTools()).tools.map((t) => t.name), ['test_image_content']);
    const r = await b.callTool({ name: 'test_image_content', arguments: {} });
    assert.equal(r.content[0].type, 'image');
    const e = await rpcError(b.callTool({ name: 'test_simple_text', arguments: {} }));
    assert.match(e.message, /Unknown tool/);
    await b.close();
    // host-b's token is not host-a's: the listener refuses it.
    const r2 = await fetch(urlA, { method: 'POST', headers: { ...HDRS,
      authorization: `Bearer ${TOKEN_B}` }, body: INIT });
    assert.equal(r2.status, 401);
  });

  test('a missing or wrong token gets 401 with a Bearer challenge', async () => {
    for (const h of [{}, { authorization: `Bearer ${TOKEN_A}x` },
      { authorization: `Bearer ${TOKEN_A.slice(0, -1)}` }, { authorization: TOKEN_A }]) {
      const r = await fetch(urlA, { method: 'POST', headers: { ...HDRS, ...h }, body: INIT });
      assert.equal(r.status, 401);
      assert.equal(r.headers.get('www-authenticate'), 'Bearer');
      // a JSON-RPC error body saying why, for clients to show
      const body = await r.json();
      assert.equal(body.jsonrpc, '2.0');
      assert.match(body.error.message, /^Unauthorized: .*Authorization: Bearer/);
    }
    const c = new Client({ name: 'zg-host', version: '1.0.0' });
    await assert.rejects(c.connect(new StreamableHTTPClientTransport(new URL(urlA))));
  });

  test('sessions: ids, 404 for unknown ones, DELETE, Host checks', async () => {
    const auth = { ...HDRS, authorization: `Bearer ${TOKEN_A}` };
    const r = await fetch(urlA, { method: 'POST', headers: auth, body: INIT });
    assert.equal(r.status, 200);
    const sid = r.headers.get('mcp-session-id');
    assert.match(sid, /^[0-9a-f]{32}$/);
    const ping = JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'ping' });
    const bad = await fetch(urlA, { method: 'POST', headers: { ...auth,
      'mcp-session-id': 'f'.repeat(32) }, body: ping });
    assert.equal(bad.status, 404);
    const ctl = new AbortController();
    const get = await fetch(urlA, { headers: { ...auth, accept: 'text/event-stream',
      'mcp-session-id': sid }, signal: ctl.signal });
    assert.equal(get.status, 200);
    assert.match(get.headers.get('content-type'), /^text\/event-stream/);
    ctl.abort();
    const del = await fetch(urlA, { method: 'DELETE', headers: { ...auth, 'mcp-session-id': sid } });
    assert.ok(del.status === 200 || del.status === 204, `DELETE ${del.status}`);
    const gone = await fetch(urlA, { method: 'POST', headers: { ...auth,
      'mcp-session-id': sid }, body: ping });
    assert.equal(gone.status, 404);
    // fetch cannot set Host: a raw request plays the rebinding browser.
    const u = new URL(urlA);
    const reb = await new Promise((res, rej) => {
      const q = request({ host: '127.0.0.1', port: u.port, path: '/mcp', method: 'POST',
        headers: { ...auth, host: `evil.example:${u.port}` } }, (m) => {
        m.resume();
        m.on('end', () => res(m.statusCode));
      });
      q.on('error', rej);
      q.end(INIT);
    });
    assert.equal(reb, 403);
  });

  test('progress and log messages go on the stream of their request', async () => {
    const { headers: h, post } = await rawSession(urlA,
      { authorization: `Bearer ${TOKEN_A}` });
    const call = (id, token) => post({ jsonrpc: '2.0', id, method: 'tools/call',
      params: { name: 'tools.test_slow_counter', arguments: { steps: 3, interval_ms: 80 },
        _meta: { progressToken: token } } });
    // two calls at once on one session: each POST's stream carries its
    // own progress, then its own response
    const texts = await Promise.all([call(11, 'tok-11'), call(12, 'tok-12')]);
    for (const [text, id] of [[texts[0], 11], [texts[1], 12]]) {
      const msgs = sseMessages(text);
      const prog = msgs.filter((m) => m.method === 'notifications/progress');
      assert.deepEqual(prog.map((m) => m.params.progressToken), Array(3).fill(`tok-${id}`), text);
      assert.deepEqual(prog.map((m) => m.params.progress), [1, 2, 3]);
      assert.equal(msgs.at(-1).id, id);
      assert.equal(msgs.at(-1).result.content[0].text, 'counted to 3');
    }
    // log messages carry no token: mcpd names their call, the gateway
    // translates the name, and each goes on its own call's stream
    const logCall = (id) => post({ jsonrpc: '2.0', id, method: 'tools/call',
      params: { name: 'tools.test_tool_with_logging', arguments: {} } });
    const logs = await Promise.all([logCall(13), logCall(14), logCall(15)]);
    for (const [text, id] of [[logs[0], 13], [logs[1], 14], [logs[2], 15]]) {
      const msgs = sseMessages(text);
      const log = msgs.filter((m) => m.method === 'notifications/message');
      assert.equal(log.length, 3, text);
      for (const m of log) assert.equal(m.params._meta['dev.zonegate/related-request'], id);
      assert.equal(msgs.at(-1).id, id);
    }
    await fetch(urlA, { method: 'DELETE', headers: h });
  });

  test('a unix listener admits its uid and refuses any other (403)', async () => {
    const ok = await unixPost(sock, INIT);
    assert.equal(ok.status, 200, ok.body);
    assert.match(ok.headers['mcp-session-id'], /^[0-9a-f]{32}$/);
    if (process.getuid() !== 0) return; // cannot become another uid
    chmodSync(dir, 0o711);
    const r = spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups',
      'curl', '-s', '-o', '/dev/null', '-w', '%{http_code}', '--unix-socket', sock,
      '-H', 'content-type: application/json', '-H', 'accept: application/json, text/event-stream',
      '--data', INIT, 'http://localhost/mcp'], { encoding: 'utf8' });
    const b = spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups',
      'curl', '-s', '--unix-socket', sock, '-H', 'content-type: application/json',
      '-H', 'accept: application/json, text/event-stream', '--data', INIT,
      'http://localhost/mcp'], { encoding: 'utf8' });
    chmodSync(dir, 0o700);
    assert.equal(r.stdout, '403', r.stderr);
    assert.match(JSON.parse(b.stdout).error.message, /^Forbidden: /, b.stdout);
  });

  test('idle unauthenticated connections cannot lock out the token holder', async () => {
    // 200 connections that never send a byte, on the TCP listener and
    // (when run as root: from uid 65534, another local user) on the
    // uid-bound unix listener, more than the 128 connections each listener
    // serves: the token (uid) holder still gets every request through,
    // each on a new connection, since unauthenticated connections have a
    // cap of their own (a new one evicts the oldest), slots stay reserved
    // for authenticated clients and a unix peer with the right uid is
    // admitted at accept; and every idle connection is closed (by
    // eviction or the 10 s header deadline), not left for the 120 s idle
    // timeout.
    const port = Number(new URL(urlA).port);
    const idle = [];
    let closed = 0;
    const openIdle = (opts) => new Promise((res) => {
      const s = createConnection(opts);
      idle.push(s);
      s.on('error', () => {});
      s.on('close', () => { closed++; res(); });
      s.on('connect', res);
    });
    for (let i = 0; i < 200; i++) await openIdle({ host: '127.0.0.1', port });
    let holder = null, out = '';
    if (process.getuid() === 0) {
      chmodSync(dir, 0o711);
      holder = spawn('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups',
        process.execPath, '-e', IDLE_JS, sock, '200'], { stdio: ['ignore', 'pipe', 'inherit'] });
      holder.stdout.on('data', (d) => { out += d; });
      await waitFor('200 idle unix connections of another uid', () => /ready 200/.test(out));
    }
    let okTcp = 0, okUnix = 0;
    for (let i = 0; i < 5; i++) {
      try {
        // a fresh connection each time, as a new client's would be
        // (the timeout is a hang guard: a locked-out client waits forever)
        const r = await tcpPost(port, INIT, { authorization: `Bearer ${TOKEN_A}` }, 5000);
        if (r.status === 200) okTcp++;
      } catch { /* refused: counted as a failure */ }
      try {
        if ((await unixPost(sock, INIT, {}, 5000)).status === 200) okUnix++;
      } catch { /* refused */ }
    }
    assert.deepEqual({ okTcp, okUnix }, { okTcp: 5, okUnix: 5 },
      'the token (uid) holder was locked out');
    await waitFor('the header deadline to close every idle connection',
      () => closed === idle.length, 30000);
    if (holder) {
      await waitFor('the unix idle connections closed', () => /closed \d+/.test(out), 35000);
      chmodSync(dir, 0o700);
      assert.match(out, /closed 200\b/);
    }
  });

  test('a client whose request is on its way outlives silent connections opened after it', async () => {
    // The token holder's connection sends the first line of its request
    // and a header, then 100 connections that never send a byte are
    // opened after it (all within the 2 s grace, so the burst room of 64
    // fills and each newer one evicts a pending one); then the holder
    // sends the rest of its request and gets its 200. Proves that of the
    // pending connections the one evicted is the oldest that has sent
    // nothing, so a flood of silent connections cannot push out a client
    // before its request is read. When the oldest pending one was evicted
    // whatever it had sent, the holder's connection was the first to go
    // (its request then met a closed connection).
    const port = Number(new URL(urlA).port);
    const holder = createConnection({ host: '127.0.0.1', port });
    let reply = '';
    const closed = new Promise((r) => holder.on('close', r));
    holder.on('error', () => {});
    holder.on('data', (d) => { reply += d; });
    await new Promise((r) => holder.on('connect', r));
    holder.write(`POST /mcp HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n`);
    const silent = [];
    try {
      for (let i = 0; i < 100; i++) {
        await new Promise((res) => {
          const s = createConnection({ host: '127.0.0.1', port });
          silent.push(s);
          s.on('error', () => {});
          s.on('close', res);
          s.on('connect', res);
        });
      }
      holder.write(`Content-Type: application/json\r\n` +
        `Accept: application/json, text/event-stream\r\n` +
        `Authorization: Bearer ${TOKEN_A}\r\nConnection: close\r\n` +
        `Content-Length: ${Buffer.byteLength(INIT)}\r\n\r\n${INIT}`);
      // a hang guard: a closed connection ends at once
      await Promise.race([closed, new Promise((r) => setTimeout(r, 20000).unref())]);
      assert.match(reply, /^HTTP\/1\.1 200/, `the holder's connection was cut: '${reply.slice(0, 80)}'`);
    } finally {
      holder.destroy();
      for (const s of silent) s.destroy();
    }
  });

  test('a burst of clients gets through a flood of idle connections', async () => {
    // 200 hostile connections to the TCP listener (150 send nothing, 50
    // send half a request's headers and stop) are open when 40 legitimate
    // clients connect at once, each with its own connection(s), and make
    // a call; then the token holder sends one more request on a fresh
    // connection. All 41 get through: an unauthenticated connection is
    // evicted only once it has been pending longer than a short grace
    // (the hostile ones), and fresh ones beyond the pending cap wait in a
    // bounded burst room instead of evicting each other. Evicting the
    // oldest pending connection regardless of its age cuts the burst off.
    const port = Number(new URL(urlA).port);
    const hostile = [];
    let closed = 0;
    const openHostile = (half) => new Promise((res) => {
      const s = createConnection({ host: '127.0.0.1', port });
      hostile.push(s);
      s.on('error', () => {});
      s.on('close', () => { closed++; res(); });
      s.on('connect', () => {
        if (half) s.write(`POST /mcp HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nContent-Type: appl`);
        res();
      });
    });
    for (let i = 0; i < 200; i++) await openHostile(i % 4 === 0);
    // a flood that is open, not one being opened this instant: past the
    // transport's 2 s grace (a flood of brand-new connections is the
    // previous test's case)
    await new Promise((r) => setTimeout(r, 2500));
    const guard = (p) => Promise.race([p, new Promise((_, rej) =>
      setTimeout(() => rej(new Error('hung')), 20000).unref())]);
    const clients = [];
    const one = async () => {
      try {
        const c = await guard(connect(urlA, TOKEN_A));
        clients.push(c);
        const r = await guard(c.callTool({ name: 'tools.test_simple_text', arguments: {} }));
        return r.content[0].text.length > 0 ? 1 : 0;
      } catch {
        return 0;
      }
    };
    const results = await Promise.all(Array.from({ length: 40 }, one));
    const ok = results.reduce((a, b) => a + b, 0);
    // while the 40 are still connected (their streams hold connections)
    let holder = 0;
    try {
      const r = await tcpPost(port, INIT, { authorization: `Bearer ${TOKEN_A}` }, 5000);
      if (r.status === 200) holder = 1;
    } catch { /* refused: counted as a failure */ }
    // DELETE ends each session and its stream: the listener frees those
    // connections now, not at the stream's next keep-alive
    await Promise.all(clients.map(async (c) => {
      await c.transport.terminateSession().catch(() => {});
      await c.close().catch(() => {});
    }));
    assert.deepEqual({ ok, holder }, { ok: 40, holder: 1 }, 'the burst was cut off');
    await waitFor('the header deadline to close every hostile connection',
      () => closed === hostile.length, 30000);
  });

  test('--check reads token files and refuses a short token', () => {
    const c2 = join(dir, 'short.json');
    const conf = JSON.parse(readFileSync(cfg, 'utf8'));
    conf.listeners[0].token_file = 'short.token';
    writeFileSync(c2, JSON.stringify(conf, null, 1));
    writeFileSync(join(dir, 'short.token'), 'tooshort-secret\n', { mode: 0o600 });
    const r = spawnSync(GATEWAYD, ['--check', '--config', c2], { env, encoding: 'utf8' });
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, /short\.json:\d+: .*must be 32\.\.1024 characters/);
    assert.ok(!r.stderr.includes('tooshort-secret'));
    const ok = spawnSync(GATEWAYD, ['--check', '--config', cfg], { env, encoding: 'utf8' });
    assert.equal(ok.status, 0, ok.stderr);
  });

  test('a rewritten token file replaces the token; a broken one keeps the old', async () => {
    const status = async (token) => (await fetch(urlA, { method: 'POST',
      headers: { ...HDRS, authorization: `Bearer ${token}` }, body: INIT })).status;
    const tokFile = join(dir, 'a.token');
    // rotated by editing the file: the old token stops working
    writeFileSync(tokFile, `${TOKEN_A2}\n`, { mode: 0o600 });
    await waitFor('the new token', async () => (await status(TOKEN_A2)) === 200);
    assert.equal(await status(TOKEN_A), 401);
    assert.match(gw.log, /listener 127\.0\.0\.1:0 \(zone host-a\): new token in force/);
    // a token file that is no longer valid: the old token stays in force
    writeFileSync(tokFile, 'tooshort-secret\n', { mode: 0o600 });
    await waitFor('the rejection', () => gw.log.includes('token NOT reloaded'));
    assert.equal(await status(TOKEN_A2), 200);
    assert.equal(await status('tooshort-secret'), 401);
    assert.ok(!gw.log.includes('tooshort-secret'));
    // SIGHUP rereads it too (back to the first token)
    writeFileSync(tokFile, `${TOKEN_A}\n`, { mode: 0o600 });
    gw.kill('SIGHUP');
    await waitFor('the first token again', async () => (await status(TOKEN_A)) === 200);
    assert.equal(await status(TOKEN_A2), 401);
    const log = readFileSync(join(dir, 'audit.log'), 'utf8');
    assert.match(log, /"zone":"host-a","method":"listener\/token","target":"127\.0\.0\.1:0","decision":"loaded"/);
    assert.match(log, /"method":"listener\/token","target":"127\.0\.0\.1:0","decision":"rejected","reason":"[^"]*must be 32\.\.1024 characters/);
  });

  test('the audit log names the zone and never the token', async () => {
    await waitFor('audit', () => readFileSync(join(dir, 'audit.log'), 'utf8').includes('"zone":"host-b"'));
    const log = readFileSync(join(dir, 'audit.log'), 'utf8');
    assert.match(log, /"zone":"host-a","session":"host-a\/http0\/\d+"/);
    for (const t of [TOKEN_A, TOKEN_B, TOKEN_A2, 'tooshort-secret']) {
      assert.ok(!log.includes(t) && !gw.log.includes(t), 'a token was logged');
    }
  });
});
