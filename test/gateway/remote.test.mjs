// End to end: remote tool zones ("url" instead of "chan"), gatewayd being
// the MCP HTTP client (mcp/client_http.c) of real servers on loopback:
// `mcpd-test --http --fixtures conformance`, server-everything in its
// Streamable HTTP mode, and an MCP server of this file that records the
// headers it gets and misbehaves on demand (slow, HTTP 500, garbage, a
// stream dropped mid-event), plus the same over TLS with a CA made here.
// The agent is the official SDK client on a TCP listener (bearer token).
// Checks: lists filtered by policy across the remote zones; calls; a
// credential from a file reaches the upstream, is reread when the file
// changes, is never in a log or the audit log, and what the agent sends
// (its own Authorization, an X-Api-Key) never reaches the upstream;
// each misbehaviour (slow, HTTP 500, garbage, a dropped stream, a body or
// an event over max_message) fails only its own call (the other zones'
// calls and the same zone's next call work); http:// to a non-loopback host is
// refused by the config check; calls are in the metrics and the audit log
// (a failed one as an upstream error), the HTTP failures in a gauge; an
// upstream that goes away is taken down (pings) and back up when it
// returns; TLS is verified (ca_file: up; without it
// the same server is refused).
// Env: GATEWAYD, GATEWAYCTL, MCPD_TEST, NODE.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, request } from 'node:http';
import { createServer as createTlsServer } from 'node:https';
import { createServer as netServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { daemon as spawnDaemon, makeTestCerts, rpcError, stop, waitFor } from '../common/harness.mjs';

const SDK = '../node/node_modules/@modelcontextprotocol/sdk/dist/esm';
const { Client } = await import(`${SDK}/client/index.js`);
const { StreamableHTTPClientTransport } =
  await import(`${SDK}/client/streamableHttp.js`);

const { GATEWAYD, GATEWAYCTL, MCPD_TEST } = process.env;
const NODE = process.env.NODE || '../node/node_modules/.bin/node';
const EVERYTHING = '../node/node_modules/.bin/mcp-server-everything';
const dir = mkdtempSync(join(tmpdir(), 'zg-gwr-'));
const env = { ...process.env, ZONEGATE_SIM_DIR: join(dir, 'sim') };
const daemon = (bin, args, e = env) => spawnDaemon(bin, args, e);
const cfg = join(dir, 'gatewayd.json');
const TOKEN = 'r'.repeat(20) + 'Qp4-listener-token-of-host-a-42';
const SECRET1 = 'Bearer upstream-secret-one-7f3a9c';
const SECRET2 = 'Bearer upstream-secret-two-c41e07';
const APIKEY = 'key-from-a-file-5d2b';
const FORGED = 'forged-by-the-agent-91ab';
const FLAKY = 'Bearer flaky-secret-0e6d2';

// ---- a small Streamable HTTP MCP server that records and misbehaves ----

// { method, headers, port } of every request the servers of this file
// got (rec, tls, flaky: one handler; port tells them apart)
const seen = [];
let recPort;
const recSeen = () => seen.filter((s) => s.port === recPort);
const held = []; // responses of `slow` calls, never answered
const bigs = []; // answers of `big` calls, held for the burst
const BIG_BURST = 12;
let sessions = 0;

function reply(res, id, result, extra = {}) {
  res.writeHead(200, { 'content-type': 'application/json', ...extra });
  res.end(JSON.stringify({ jsonrpc: '2.0', id, result }));
}

const TOOLS = ['ok', 'sse', 'slow', 'fail500', 'garbage', 'drop', 'huge', 'hugesse', 'big'].map((name) => ({
  name, description: `mode ${name}`, inputSchema: { type: 'object' } }));

function call(res, m) {
  const text = { content: [{ type: 'text', text: `mode ${m.params.name} fine` }] };
  switch (m.params.name) {
    case 'ok': return reply(res, m.id, text);
    case 'sse': // progress, then the answer, on an event stream
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write(`id: s1\ndata: ${JSON.stringify({ jsonrpc: '2.0', method: 'notifications/message',
        params: { level: 'info', data: 'on the way' } })}\n\n`);
      res.end(`id: s2\ndata: ${JSON.stringify({ jsonrpc: '2.0', id: m.id, result: text })}\n\n`);
      return undefined;
    case 'slow': held.push(res); return undefined;
    case 'fail500': res.writeHead(500, { 'content-type': 'text/plain' }); res.end('boom'); return undefined;
    case 'garbage':
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(`{"jsonrpc":"2.0","id":${JSON.stringify(m.id)},"result":{"content":[{"ty`);
      return undefined;
    case 'drop': // an event stream cut in the middle of an event
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write('id: d1\ndata: {"jsonrpc":"2.0","id":');
      setTimeout(() => res.socket.destroy(), 50);
      return undefined;
    case 'big': // 3 MiB each, under max_message, held until BIG_BURST are
      // asked and then all sent at once: more than the client lets wait
      // for the gateway (16 MiB) arrives together
      bigs.push(() => reply(res, m.id, { content: [{ type: 'text', text: 'b'.repeat(3 << 20) }] }));
      if (bigs.length === BIG_BURST) bigs.splice(0).forEach((f) => f());
      return undefined;
    case 'huge': // over max_message (4 MiB) as a JSON body
      return reply(res, m.id, { content: [{ type: 'text', text: 'x'.repeat(5 << 20) }] });
    case 'hugesse': // and as one event
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.end(`data: ${JSON.stringify({ jsonrpc: '2.0', id: m.id,
        result: { content: [{ type: 'text', text: 'y'.repeat(5 << 20) }] } })}\n\n`);
      return undefined;
    default: return reply(res, m.id, { ...text, isError: true });
  }
}

function mcpHandler(req, res) {
  seen.push({ method: req.method, headers: req.headers, port: req.socket.localPort });
  if (req.method === 'GET') { res.writeHead(405); res.end(); return; }
  if (req.method === 'DELETE') { res.writeHead(200); res.end(); return; }
  let body = '';
  req.on('data', (d) => { body += d; });
  req.on('end', () => {
    const m = JSON.parse(body);
    if (!('id' in m)) { res.writeHead(202); res.end(); return; }
    switch (m.method) {
      case 'initialize':
        return reply(res, m.id, { protocolVersion: m.params.protocolVersion,
          capabilities: { tools: {} }, serverInfo: { name: 'recorder', version: '1' } },
        { 'mcp-session-id': `rec-${++sessions}` });
      case 'tools/list': return reply(res, m.id, { tools: TOOLS });
      case 'resources/list': return reply(res, m.id, { resources: [] });
      case 'resources/templates/list': return reply(res, m.id, { resourceTemplates: [] });
      case 'prompts/list': return reply(res, m.id, { prompts: [] });
      case 'tools/call': return call(res, m);
      default:
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ jsonrpc: '2.0', id: m.id,
          error: { code: -32601, message: 'Method not found' } }));
        return undefined;
    }
  });
}

const listen = (srv) => new Promise((res) => srv.listen(0, '127.0.0.1', () => res(srv.address().port)));

function freePort() {
  return new Promise((res) => {
    const s = netServer();
    s.listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => res(port)); });
  });
}

// A test CA and a certificate for localhost / 127.0.0.1 it signed.
function makeCerts() {
  const { key, cert } = makeTestCerts(dir);
  return { key, cert };
}

function ctl(...args) {
  const r = spawnSync(GATEWAYCTL, ['--config', cfg, ...args], { env, encoding: 'utf8' });
  return { rc: r.status, out: r.stdout + r.stderr };
}

function zoneStatus(name) {
  const r = ctl('status');
  assert.equal(r.rc, 0, r.out);
  return JSON.parse(r.out).zones.find((z) => z.zone === name);
}

// GET /metrics over the metrics unix socket: its body.
function metrics() {
  return new Promise((res, rej) => {
    const r = request({ socketPath: join(dir, 'metrics.sock'), path: '/metrics',
      headers: { host: 'localhost' } }, (m) => {
      let b = '';
      m.on('data', (d) => { b += d; });
      m.on('end', () => res(b));
    });
    r.on('error', rej);
    r.end();
  });
}

const textOf = (r) => r.content.map((c) => c.text).join('');

describe('gatewayd remote upstreams', { concurrency: false }, () => {
  let mcpd, every, gw, client, rec, tls, gwUrl, flaky, flakyPort;

  before(async () => {
    const certs = makeCerts();
    rec = createServer(mcpHandler);
    tls = createTlsServer(certs, mcpHandler);
    recPort = await listen(rec);
    const tlsPort = await listen(tls);
    flaky = createServer(mcpHandler);
    flakyPort = await listen(flaky);
    mcpd = daemon(MCPD_TEST, ['--http', '127.0.0.1:0', '--fixtures', 'conformance',
      '--ready-file', join(dir, 'mcpd.ready')]);
    const evPort = await freePort();
    every = daemon(NODE, [EVERYTHING, 'streamableHttp'], { ...env, PORT: String(evPort) });
    await waitFor('mcpd', () => readFileSync(join(dir, 'mcpd.ready'), 'utf8').includes('/mcp'));
    await waitFor('server-everything', () => every.log.includes('listening'), 20000);
    writeFileSync(join(dir, 'a.token'), `${TOKEN}\n`, { mode: 0o600 });
    writeFileSync(join(dir, 'rec.auth'), `${SECRET1}\n`, { mode: 0o600 });
    writeFileSync(join(dir, 'rec.key'), `${APIKEY}\n`, { mode: 0o600 });
    writeFileSync(join(dir, 'flaky.auth'), `${FLAKY}\n`, { mode: 0o600 });
    writeFileSync(cfg, JSON.stringify({
      zones: {
        'host-a': { domid: 61, role: 'agent' },
        conf: { domid: 62, role: 'tool',
          url: readFileSync(join(dir, 'mcpd.ready'), 'utf8').trim() },
        every: { domid: 63, role: 'tool', url: `http://localhost:${evPort}/mcp` },
        rec: { domid: 64, role: 'tool', url: `http://127.0.0.1:${recPort}/mcp`,
          headers_from: { Authorization: 'rec.auth', 'X-Api-Key': 'rec.key' } },
        tls: { domid: 65, role: 'tool', url: `https://localhost:${tlsPort}/mcp`,
          ca_file: 'ca.pem' },
        tlsnoca: { domid: 66, role: 'tool', url: `https://localhost:${tlsPort}/mcp` },
        flaky: { domid: 67, role: 'tool', url: `http://127.0.0.1:${flakyPort}/mcp`,
          headers_from: { Authorization: 'flaky.auth' } },
      },
      listeners: [{ listen: '127.0.0.1:0', zone: 'host-a', token_file: 'a.token' }],
      policy: 'gw.policy',
      audit_log: 'audit.log',
      admin_socket: 'admin.sock',
      metrics: 'unix:metrics.sock',
      audit_flush_ms: 0,
    }, null, 2));
    writeFileSync(join(dir, 'gw.policy'), `host-a conf.test_simple_text allow
host-a every.echo allow
host-a every.get-sum allow
host-a rec.slow allow timeout=2s
host-a rec.* allow
host-a tls.* allow
host-a tlsnoca.* allow
host-a flaky.* allow
`);
    gw = daemon(GATEWAYD, ['--config', cfg]);
    await waitFor('the listener', () => /listener for zone host-a on (\S+)/.test(gw.log));
    gwUrl = gw.log.match(/listener for zone host-a on (\S+)/)[1];
    for (const z of ['conf', 'every', 'rec', 'tls', 'flaky'])
      await waitFor(`tool zone ${z}`, () => gw.log.includes(`tool zone ${z} up`), 20000);
    client = new Client({ name: 'remote-test', version: '1' });
    await client.connect(new StreamableHTTPClientTransport(new URL(gwUrl), {
      requestInit: { headers: { authorization: `Bearer ${TOKEN}`, 'x-api-key': FORGED } } }));
  });

  after(async () => {
    await client?.close().catch(() => {});
    for (const r of held) r.socket?.destroy();
    await stop(gw);
    await stop(mcpd);
    await stop(every, 'SIGKILL');
    rec?.close();
    rec?.closeAllConnections?.();
    flaky?.close();
    flaky?.closeAllConnections?.();
    tls?.close();
    tls?.closeAllConnections?.();
    rmSync(dir, { recursive: true, force: true });
  });

  test('lists: the remote zones\' tools, filtered by policy', async () => {
    const names = (await client.listTools()).tools.map((t) => t.name);
    for (const n of ['conf.test_simple_text', 'every.echo', 'every.get-sum', 'rec.ok', 'rec.slow', 'tls.ok'])
      assert.ok(names.includes(n), `${n} in ${names}`);
    for (const n of ['conf.test_image_content', 'every.get-env', 'tlsnoca.ok'])
      assert.ok(!names.includes(n), `${n} not listed`);
  });

  test('calls reach mcpd --http, server-everything and the recorder', async () => {
    let r = await client.callTool({ name: 'conf.test_simple_text', arguments: {} });
    assert.match(textOf(r), /simple text/i);
    r = await client.callTool({ name: 'every.echo', arguments: { message: 'over http' } });
    assert.match(textOf(r), /over http/);
    r = await client.callTool({ name: 'every.get-sum', arguments: { a: 2, b: 40 } });
    assert.match(textOf(r), /42/);
    r = await client.callTool({ name: 'rec.sse', arguments: {} });
    assert.equal(textOf(r), 'mode sse fine');
    const denied = await rpcError(client.callTool({ name: 'every.get-env', arguments: {} }));
    assert.match(String(denied.message), /not found|denied|unknown/i);
  });

  test('a credential from a file reaches the upstream, nothing of the agent does', async () => {
    seen.length = 0;
    await client.callTool({ name: 'rec.ok', arguments: {} });
    assert.ok(recSeen().length > 0);
    for (const s of recSeen()) {
      assert.equal(s.headers.authorization, SECRET1);
      assert.equal(s.headers['x-api-key'], APIKEY);
      assert.ok(!JSON.stringify(s.headers).includes(TOKEN), 'agent token forwarded');
      assert.ok(!JSON.stringify(s.headers).includes(FORGED), 'agent header forwarded');
    }
    // the agent never sees it: not in what it is answered, listed or told
    const tools = JSON.stringify(await client.listTools());
    assert.ok(!tools.includes('upstream-secret'));
  });

  test('the credential file is reread when it changes; a bad one keeps the old', async () => {
    writeFileSync(join(dir, 'rec.auth'), `${SECRET2}\n`);
    await waitFor('the new credential upstream', async () => {
      seen.length = 0;
      await client.callTool({ name: 'rec.ok', arguments: {} });
      return recSeen().some((s) => s.method === 'POST' && s.headers.authorization === SECRET2);
    }, 10000);
    writeFileSync(join(dir, 'rec.auth'), `Bearer bad\u0001value\n`);
    await waitFor('the refusal logged', () => gw.log.includes('credentials not (re)read'), 10000);
    seen.length = 0;
    await client.callTool({ name: 'rec.ok', arguments: {} });
    const other = recSeen().filter((s) => s.headers.authorization !== SECRET2);
    assert.equal(other.length, 0, `${other.length} requests without it (${
      other.map((s) => `${s.method} ${s.port}`).join(', ')})\n${gw.log.slice(-1500)}`);
    writeFileSync(join(dir, 'rec.auth'), `${SECRET1}\n`);
    assert.equal(ctl('reload').rc, 0);
  });

  test('each misbehaviour fails its own call only', async () => {
    const slow = rpcError(client.callTool({ name: 'rec.slow', arguments: {} }));
    // while the slow call waits, other zones and the same zone answer
    for (let i = 0; i < 10; i++) {
      const r = await client.callTool({ name: 'every.get-sum', arguments: { a: i, b: 1 } });
      assert.match(textOf(r), new RegExp(`${i + 1}`));
      assert.match(textOf(await client.callTool({ name: 'conf.test_simple_text', arguments: {} })), /simple text/i);
    }
    assert.equal(textOf(await client.callTool({ name: 'rec.ok', arguments: {} })), 'mode ok fine');
    const e = await slow;
    assert.match(String(e.message), /timed out/i);
    for (const [mode, why] of [['fail500', /HTTP status 500/], ['garbage', /not a JSON-RPC message/],
      ['drop', /upstream/], ['huge', /over the size cap/], ['hugesse', /over the size cap/]]) {
      const err = await rpcError(client.callTool({ name: `rec.${mode}`, arguments: {} }));
      assert.match(String(err.message), why, mode);
      assert.equal(textOf(await client.callTool({ name: 'rec.ok', arguments: {} })), 'mode ok fine');
      assert.match(textOf(await client.callTool({ name: 'every.echo', arguments: { message: mode } })),
        new RegExp(mode));
    }
    const st = zoneStatus('rec');
    assert.equal(st.health, 'up');
    assert.ok(st.remote.http_failures >= 5, JSON.stringify(st));
  });

  // 12 answers of 3 MiB sent at once: the client pauses a transfer while
  // 16 MiB wait for the gateway, so all arrive. (Without the pause, seen:
  // answers were cut with an error or lost on the way to the agent, and
  // the burst's calls hung until the SDK's timeout.)
  test('a burst of large answers: all arrive (the client waits, it does not drop)', async () => {
    const rs = await Promise.all(Array.from({ length: BIG_BURST },
      () => client.callTool({ name: 'rec.big', arguments: {} })))
      .catch((e) => assert.fail(`${e.message}\n${gw.log.slice(-2000)}\n${JSON.stringify(zoneStatus('rec'))}`));
    for (const r of rs) assert.equal(textOf(r).length, 3 << 20);
  });

  test('metrics and audit: remote calls counted like any other', async () => {
    let m;
    await waitFor('the metrics', async () => {
      m = await metrics();
      return /zonegate_tool_zone_http_failures\{zone="rec"\} ([5-9]|[1-9]\d+)\n/.test(m);
    });
    assert.match(m, /zone="host-a"[^\n]*tool="every\.get-sum"[^\n]* [1-9]/);
    assert.match(m, /zonegate_tool_zone_up\{zone="every"\} 1/);
    assert.match(m, /zonegate_tool_zone_up\{zone="tlsnoca"\} 0/);
    const audit = readFileSync(join(dir, 'audit.log'), 'utf8');
    assert.match(audit, /"target":"every\.get-sum"/);
    assert.match(audit, /"target":"rec\.fail500"[^\n]*"reason":"upstream error"/);
  });

  test('an upstream that goes away is down, and up again when it is back', async () => {
    assert.equal(textOf(await client.callTool({ name: 'flaky.ok', arguments: {} })), 'mode ok fine');
    flaky.close();
    flaky.closeAllConnections();
    // its pings fail: the zone is down, its tools leave the list, its
    // calls fail at once, the other zones go on
    await waitFor('flaky down', () => zoneStatus('flaky').health !== 'up', 15000);
    // a bad credential file while it is down: the reconnect keeps the
    // last good value
    writeFileSync(join(dir, 'flaky.auth'), 'Bearer \u0001bad\n');
    await waitFor('the refusal', () => gw.log.includes('tool zone flaky: credentials not (re)read'));
    assert.ok(!(await client.listTools()).tools.some((t) => t.name.startsWith('flaky.')));
    await rpcError(client.callTool({ name: 'flaky.ok', arguments: {} }));
    assert.match(textOf(await client.callTool({ name: 'every.echo', arguments: { message: 'still' } })), /still/);
    seen.length = 0;
    flaky = createServer(mcpHandler);
    await new Promise((res) => flaky.listen(flakyPort, '127.0.0.1', res));
    await waitFor('flaky up again', () => zoneStatus('flaky').health === 'up', 15000);
    assert.ok(zoneStatus('flaky').connects >= 2);
    assert.equal(textOf(await client.callTool({ name: 'flaky.ok', arguments: {} })), 'mode ok fine');
    const after = seen.filter((r) => r.port === flakyPort);
    assert.ok(after.length > 0);
    for (const r of after) assert.equal(r.headers.authorization, FLAKY);
    writeFileSync(join(dir, 'flaky.auth'), `${FLAKY}\n`);
  });

  test('TLS: verified with ca_file, refused without', async () => {
    assert.equal(textOf(await client.callTool({ name: 'tls.ok', arguments: {} })), 'mode ok fine');
    const st = zoneStatus('tlsnoca');
    assert.notEqual(st.health, 'up');
    assert.match(JSON.stringify(st), /certificate|SSL/i);
  });

  test('no log line and no audit record holds a credential', () => {
    const logs = gw.log + readFileSync(join(dir, 'audit.log'), 'utf8') + ctl('status').out;
    for (const s of [SECRET1, SECRET2, APIKEY, FLAKY, 'upstream-secret', 'flaky-secret', TOKEN])
      assert.ok(!logs.includes(s), `${s} in a log`);
  });

  test('config: http:// only to loopback unless insecure_http; no user info', () => {
    const base = JSON.parse(readFileSync(cfg, 'utf8'));
    const check = (zone) => {
      const c = join(dir, 'check.json');
      writeFileSync(c, JSON.stringify({ ...base, zones: { ...base.zones, far: { domid: 70, role: 'tool', ...zone } } }));
      const r = spawnSync(GATEWAYD, ['--config', c, '--check'], { env, encoding: 'utf8' });
      return { rc: r.status, out: r.stdout + r.stderr };
    };
    let r = check({ url: 'http://192.0.2.7/mcp' });
    assert.notEqual(r.rc, 0);
    assert.match(r.out, /http:\/\/ is refused except to loopback/);
    r = check({ url: 'http://192.0.2.7/mcp', insecure_http: true });
    assert.equal(r.rc, 0, r.out);
    r = check({ url: 'https://user:pw@192.0.2.7/mcp' });
    assert.match(r.out, /user info/);
    r = check({ url: 'ftp://192.0.2.7/mcp' });
    assert.match(r.out, /http or https|http\(s\)/);
    r = check({ url: 'https://192.0.2.7/mcp', chan: 'sim:70:x' });
    assert.match(r.out, /instead of chan/);
    r = check({ chan: 'sim:70:x', ca_file: 'ca.pem' });
    assert.match(r.out, /need url/);
    r = check({ url: 'https://192.0.2.7/mcp', headers_from: { 'Mcp-Session-Id': 'rec.key' } });
    assert.match(r.out, /not a header name it may set/);
    // nor the mirror of a 2026-07-28 body (a credential cannot forge it)
    for (const h of ['Mcp-Method', 'mcp-name', 'Mcp-Param-Region']) {
      r = check({ url: 'https://192.0.2.7/mcp', headers_from: { [h]: 'rec.key' } });
      assert.match(r.out, /not a header name it may set/, h);
    }
    // --check reads the credential files: a missing one is named, and
    // the content of a bad one never shown
    r = check({ url: 'https://192.0.2.7/mcp', headers_from: { Authorization: 'missing.auth' } });
    assert.notEqual(r.rc, 0);
    assert.match(r.out, /missing\.auth/);
    writeFileSync(join(dir, 'bad.auth'), 'Bearer two\u0007lines-secret\n');
    r = check({ url: 'https://192.0.2.7/mcp', headers_from: { Authorization: 'bad.auth' } });
    assert.match(r.out, /bad\.auth: the value must be one line of printable text/);
    assert.doesNotMatch(r.out, /lines-secret/);
  });

  test('gatewayd stops cleanly (sanitizers: no leak, no error)', async () => {
    await client.close();
    client = null;
    const code = await stop(gw);
    assert.equal(code, 0, gw.log.slice(-3000));
    assert.doesNotMatch(gw.log, /Sanitizer|runtime error/);
  });
});
