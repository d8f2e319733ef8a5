// End to end: zones that are Kubernetes pods. gatewayd's k8s listener
// (HTTPS with a CA made by the test) maps each request's projected
// service-account token, verified offline against a JWKS file the test
// writes (RS256 and ES256 keys generated here, tokens signed here: there
// is no cluster, the test is the issuer), to the zone of its service
// account. Checks: the official SDK client lists exactly its zone's tools
// and calls them; every refusal is 401 with a Bearer challenge and a
// JSON-RPC body, and audited with a hash prefix, never the token; one
// zone's token cannot use another zone's session; a JWKS that drops a key
// revokes its tokens, a broken one keeps the old keys; zonegate-relay
// --gateway carries stdio to the listener and follows the rotation of its
// token file; a new certificate and key take effect without ending
// sessions; gatewayd --check refuses a listener off loopback without tls.
// Env: GATEWAYD, MCPD_TEST, RELAY.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { createHmac, generateKeyPairSync, sign } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import { checkedAfter, guardHooks, daemon as spawnDaemon, makeTestCerts, rpcError, sseMessages, waitFor } from '../common/harness.mjs';

// the describe block's final checks fail the run (harness.mjs)
guardHooks();

const SDK = '../node/node_modules/@modelcontextprotocol/sdk/dist/esm';
const { Client } = await import(`${SDK}/client/index.js`);
const { StreamableHTTPClientTransport } =
  await import(`${SDK}/client/streamableHttp.js`);
const { Agent, fetch: ufetch } = await import('../node/node_modules/undici/index.js');

const { GATEWAYD, MCPD_TEST, RELAY } = process.env;
const dir = mkdtempSync(join(tmpdir(), 'zg-k8s-'));
const env = { ...process.env, ZONEGATE_SIM_DIR: join(dir, 'sim') };
const daemon = (bin, args) => spawnDaemon(bin, args, env);
const cfg = join(dir, 'gatewayd.json');
const ISS = 'https://kubernetes.default.svc.cluster.local';
const HDRS = { 'content-type': 'application/json',
  accept: 'application/json, text/event-stream' };
const INIT = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize',
  params: { protocolVersion: '2025-06-18', capabilities: {},
    clientInfo: { name: 'raw', version: '1' } } });

// The cluster's signing keys (the test is the issuer) and one it never
// published (a forger's).
const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const forger = generateKeyPairSync('rsa', { modulusLength: 2048 });
const jwk = (k, kid, alg) => ({ ...k.publicKey.export({ format: 'jwk' }), kid, alg, use: 'sig' });
const JWKS_BOTH = { keys: [jwk(rsa, 'rsa-1', 'RS256'), jwk(ec, 'ec-1', 'ES256')] };
const JWKS_EC = { keys: [jwk(ec, 'ec-1', 'ES256')] };

const b64u = (b) => Buffer.from(b).toString('base64url');
let serial = 0;
// A projected service-account token as the kubelet gets it from the API
// server; o overrides claims (null removes one), h the header.
function mint(o = {}, h = {}) {
  const now = Math.floor(Date.now() / 1000);
  const ns = o.ns ?? 'agents', sa = o.sa ?? 'agent-a';
  const header = { alg: 'RS256', kid: 'rsa-1', typ: 'JWT', ...h };
  const claims = { aud: ['zonegate'], iss: ISS, iat: now, nbf: now, exp: now + 600,
    sub: `system:serviceaccount:${ns}:${sa}`, jti: `t${++serial}`,
    'kubernetes.io': { namespace: ns, serviceaccount: { name: sa, uid: 'u-1' },
      pod: { name: `${sa}-pod`, uid: 'p-1' } }, ...o.claims };
  const part = `${b64u(JSON.stringify(header))}.${b64u(JSON.stringify(claims))}`;
  let sig;
  if (header.alg === 'ES256') {
    sig = sign('sha256', Buffer.from(part), { key: (o.key ?? ec).privateKey, dsaEncoding: 'ieee-p1363' });
  } else if (header.alg === 'RS256') {
    sig = sign('sha256', Buffer.from(part), (o.key ?? rsa).privateKey);
  } else if (header.alg === 'HS256') {
    // the classic confusion: the public key as an HMAC secret
    sig = createHmac('sha256', rsa.publicKey.export({ type: 'spki', format: 'pem' })).update(part).digest();
  } else {
    sig = Buffer.alloc(0);
  }
  return `${part}.${b64u(sig)}`;
}

function writeAtomic(name, text) {
  writeFileSync(join(dir, `${name}.new`), text);
  renameSync(join(dir, `${name}.new`), join(dir, name));
}

const certs = makeTestCerts(dir);
let agent = new Agent({ connect: { ca: certs.ca } });
const tfetch = (u, init = {}) => ufetch(u, { ...init, dispatcher: agent });

writeFileSync(join(dir, 'jwks.json'), JSON.stringify(JWKS_BOTH));
writeFileSync(cfg, JSON.stringify({
  zones: {
    'pod-a': { role: 'agent', k8s: { namespace: 'agents', serviceAccount: 'agent-a' } },
    'pod-b': { role: 'agent', k8s: { namespace: 'agents', serviceAccount: 'agent-b' } },
    tools: { domid: 53, role: 'tool', chan: 'sim:53:tools' },
  },
  listeners: [{ listen: '127.0.0.1:0', tls: { cert: 'srv.pem', key: 'srv.key' },
    k8s: { audience: 'zonegate', issuer: ISS, jwks: 'jwks.json' } }],
  policy: 'gw.policy',
  audit_log: 'audit.log',
  pins: 'pins.json',
  audit_flush_ms: 0,
  reload_interval_ms: 200,
}, null, 2));
writeFileSync(join(dir, 'gw.policy'), `pod-a tools.test_simple_text allow
pod-a tools.test_slow_counter allow
pod-b tools.test_image_content allow
`);

let gw, tools, url;

const auditLines = () => readFileSync(join(dir, 'audit.log'), 'utf8').split('\n')
  .filter(Boolean).map((l) => JSON.parse(l));
const authRefusals = () => auditLines().filter((r) => r.method === 'listener/auth');

// zonegate-relay --gateway url: send(msg) writes a line to its stdin,
// answer(id) waits for the line answering id; out and err collect.
function startRelay(u, tokenFile, ca) {
  const p = spawn(RELAY, ['--gateway', u, '--token-file', tokenFile, '--ca-file', ca],
    { env, stdio: ['pipe', 'pipe', 'pipe'] });
  const r = { p, out: '', err: '' };
  p.stdout.on('data', (d) => { r.out += d; });
  p.stderr.on('data', (d) => { r.err += d; });
  r.done = new Promise((res) => p.on('exit', (c) => res(c)));
  const line = (id) => r.out.split('\n').find((l) => l.includes(`"id":${id}`));
  r.answer = async (id) => {
    await waitFor(`answer ${id}`, () => line(id), 15000);
    return JSON.parse(line(id));
  };
  r.send = (m) => p.stdin.write(`${JSON.stringify(m)}\n`);
  return r;
}

async function connect(token) {
  const c = new Client({ name: 'zg-pod', version: '1.0.0' });
  await c.connect(new StreamableHTTPClientTransport(new URL(url), { fetch: tfetch,
    requestInit: { headers: { Authorization: `Bearer ${token}` } } }));
  return c;
}

async function post(token, body, extra = {}) {
  const h = { ...HDRS, ...extra };
  if (token !== undefined) h.authorization = `Bearer ${token}`;
  const r = await tfetch(url, { method: 'POST', headers: h, body });
  return { status: r.status, headers: r.headers, text: await r.text() };
}

describe('zones that are pods: the k8s listener', () => {
  before(async () => {
    tools = daemon(MCPD_TEST, ['--chan', 'sim:53:tools', '--fixtures', 'conformance']);
    gw = daemon(GATEWAYD, ['--config', cfg]);
    await waitFor('listener and tool zone', () => gw.log.includes('tool zone tools up') &&
      /listener for k8s service accounts on https:\/\/\S+/.test(gw.log));
    url = gw.log.match(/listener for k8s service accounts on (https:\/\/\S+)/)[1];
  });
  checkedAfter(async () => {
    gw.kill('SIGTERM');
    const code = await gw.done;
    tools.kill('SIGTERM');
    await tools.done;
    await agent.close();
    rmSync(dir, { recursive: true, force: true });
    assert.equal(code, 0, gw.log);
  });

  test('an RS256 token of agents/agent-a acts as pod-a: its tools only', async () => {
    const a = await connect(mint());
    assert.deepEqual((await a.listTools()).tools.map((t) => t.name),
      ['tools.test_simple_text', 'tools.test_slow_counter']);
    const r = await a.callTool({ name: 'tools.test_simple_text', arguments: {} });
    assert.ok(r.content[0].text.length > 0);
    const denied = await rpcError(a.callTool({ name: 'tools.test_image_content', arguments: {} }));
    assert.match(denied.message, /Unknown tool/);
    await a.close();
    await waitFor('audit of the call', () => auditLines().some((l) =>
      l.zone === 'pod-a' && l.method === 'tools/call' && l.decision === 'allow'));
  });

  test('an ES256 token of agents/agent-b acts as pod-b', async () => {
    const b = await connect(mint({ sa: 'agent-b' }, { alg: 'ES256', kid: 'ec-1' }));
    assert.deepEqual((await b.listTools()).tools.map((t) => t.name), ['tools.test_image_content']);
    const r = await b.callTool({ name: 'tools.test_image_content', arguments: {} });
    assert.equal(r.content[0].type, 'image');
    await b.close();
  });

  // What it proves: each check of the token is made (seen to fail with the
  // audience, issuer, expiry, signature and mapping checks each off).
  test('every refusal is 401 with a Bearer challenge, audited without the token', async () => {
    const now = Math.floor(Date.now() / 1000);
    const good = mint();
    const flip = (t) => { const s = t.split('.'); s[2] = (s[2][5] === 'A' ? 'B' : 'A') + s[2].slice(1); return s.join('.'); };
    const cases = [
      ['expired', mint({ claims: { exp: now - 120, iat: now - 720, nbf: now - 720 } })],
      ['audience', mint({ claims: { aud: ['https://kubernetes.default.svc'] } })],
      ['audience', mint({ claims: { aud: 'zonegate-other' } })],
      ['issuer', mint({ claims: { iss: 'https://evil.example' } })],
      ['unknown kid', mint({}, { kid: 'rsa-2' })],
      ['signature', mint({ key: forger })],
      ['signature', flip(mint({ sa: 'agent-b' }, { alg: 'ES256', kid: 'ec-1' }))],
      ['signature', `${good.split('.')[0]}.${b64u(JSON.stringify({ aud: ['zonegate'], iss: ISS,
        exp: now + 600, 'kubernetes.io': { namespace: 'agents', serviceaccount: { name: 'agent-b' } } }))}.${good.split('.')[2]}`],
      ['not yet valid', mint({ claims: { nbf: now + 600, iat: now + 600 } })],
      ['algorithm', mint({}, { alg: 'none' })],
      ['algorithm', mint({}, { alg: 'HS256' })],
      ['unmapped service account', mint({ sa: 'agent-x' })],
      ['unmapped service account', mint({ ns: 'other' })],
      ['subject', mint({ claims: { sub: 'system:serviceaccount:agents:agent-b' } })],
      ['malformed', 'abc.def'],
      ['malformed', `${good}.x`],
      ['malformed (token too long)', `${good}${'A'.repeat(9000)}`],
      ['no bearer token', undefined],
    ];
    const before = authRefusals().length;
    for (const [why, tok] of cases) {
      const r = await post(tok, INIT);
      assert.equal(r.status, 401, `${why}: ${r.status} ${r.text}`);
      assert.equal(r.headers.get('www-authenticate'), 'Bearer');
      const body = JSON.parse(r.text);
      assert.equal(body.jsonrpc, '2.0');
      assert.match(body.error.message, /^Unauthorized/);
    }
    await waitFor('refusals audited', () => authRefusals().length === before + cases.length);
    const got = authRefusals().slice(before);
    assert.deepEqual(got.map((r) => r.reason), cases.map((c) => c[0]));
    for (const r of got) {
      assert.equal(r.decision, 'denied');
      assert.equal(r.status, 401);
      assert.match(r.token, /^sha256:([0-9a-f]{12}|-)$/);
    }
    assert.equal(got.find((r) => r.reason === 'unmapped service account').k8s, 'agents/agent-x');
    // no token (nor any of its parts) in the audit log or gatewayd's log
    const log = readFileSync(join(dir, 'audit.log'), 'utf8');
    for (const [, tok] of cases) {
      for (const p of (tok ?? '').split('.').filter((x) => x.length > 20)) {
        assert.ok(!log.includes(p) && !gw.log.includes(p), 'a token part was logged');
      }
    }
  });

  test("a token of pod-b cannot use pod-a's session, nor name another zone", async () => {
    const ta = mint(), tb = mint({ sa: 'agent-b' });
    const r = await post(ta, INIT);
    assert.equal(r.status, 200);
    const sid = r.headers.get('mcp-session-id');
    const list = JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'tools/list' });
    const h = { 'mcp-session-id': sid, 'mcp-protocol-version': '2025-06-18' };
    assert.equal((await post(ta, JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' }), h)).status, 202);
    // B's token on A's session: no such session for B
    assert.equal((await post(tb, list, h)).status, 404);
    // A's own token lists A's tools, whatever the client claims to be
    const mine = await post(ta, list, { ...h, 'x-zone': 'pod-b' });
    assert.equal(mine.status, 200);
    const msg = mine.text.startsWith('{') ? JSON.parse(mine.text) : sseMessages(mine.text).at(-1);
    assert.deepEqual(msg.result.tools.map((t) => t.name),
      ['tools.test_simple_text', 'tools.test_slow_counter']);
  });

  // What it proves: the relay rereads its token file (seen to fail with
  // the reread off: the old token's key is gone, its calls get 401).
  test('zonegate-relay --gateway follows the rotation of its token file; a dropped key revokes', async () => {
    const tok1 = mint();
    writeFileSync(join(dir, 'token'), `${tok1}\n`);
    const relay = startRelay(url, join(dir, 'token'), join(dir, 'ca.pem'));
    const { answer, send, done } = relay;
    send(JSON.parse(INIT));
    assert.ok((await answer(1)).result.serverInfo, relay.out + relay.err);
    send({ jsonrpc: '2.0', method: 'notifications/initialized' });
    send({ jsonrpc: '2.0', id: 2, method: 'tools/list' });
    assert.deepEqual((await answer(2)).result.tools.map((t) => t.name),
      ['tools.test_simple_text', 'tools.test_slow_counter']);
    // the kubelet rotates the token (now an ES256 one), then the cluster
    // drops the RSA key
    // as the kubelet writes it: no newline at the end
    writeAtomic('token', mint({}, { alg: 'ES256', kid: 'ec-1' }));
    await waitFor('relay took the new token', () => relay.err.includes('new token from'), 15000);
    const loads = (gw.log.match(/new JWKS in force/g) || []).length;
    writeAtomic('jwks.json', JSON.stringify(JWKS_EC));
    await waitFor('gateway took the new JWKS', () =>
      (gw.log.match(/new JWKS in force/g) || []).length === loads + 1, 15000);
    send({ jsonrpc: '2.0', id: 3, method: 'tools/call', params: { name: 'tools.test_simple_text', arguments: {} } });
    const r3 = await answer(3);
    assert.ok(r3.result && r3.result.content[0].text.length > 0, JSON.stringify(r3));
    // the old token is refused now (its key is gone), even though it was cached
    assert.equal((await post(tok1, INIT)).status, 401);
    relay.p.stdin.end();
    assert.equal(await done, 0, relay.err);
    assert.ok(!relay.err.includes(tok1.split('.')[2]), 'the relay logged its token');
    assert.ok(auditLines().some((l) => l.method === 'listener/jwks' && l.decision === 'loaded'));
  });

  // What it proves: the listener rereads its certificate and key (seen to
  // fail with the reload off: new connections still get the old one).
  test('a new certificate and key take effect for new connections; sessions stay', async () => {
    const es = () => mint({}, { alg: 'ES256', kid: 'ec-1' }); // the RSA key is gone
    const d2 = join(dir, 'ca2');
    mkdirSync(d2);
    const c2 = makeTestCerts(d2);
    const both = new Agent({ connect: { ca: [certs.ca, c2.ca] } });
    const only2 = new Agent({ connect: { ca: c2.ca } });
    const c = new Client({ name: 'zg-pod', version: '1.0.0' });
    const tr = new StreamableHTTPClientTransport(new URL(url), {
      fetch: (u, init = {}) => ufetch(u, { ...init, dispatcher: both }),
      requestInit: { headers: { Authorization: `Bearer ${es()}` } } });
    await c.connect(tr);
    const sid = tr.sessionId;
    const loads = (gw.log.match(/new TLS certificate in force/g) || []).length;
    // a key that is not the certificate's: refused, the old pair stays
    writeAtomic('srv.key', readFileSync(join(d2, 'srv.key')));
    await waitFor('refused pair', () => auditLines().some((l) =>
      l.method === 'listener/tls' && l.decision === 'rejected'), 15000);
    assert.equal((await post(es(), INIT)).status, 200);
    writeAtomic('srv.pem', c2.cert);
    await waitFor('new certificate', () =>
      (gw.log.match(/new TLS certificate in force/g) || []).length === loads + 1, 15000);
    const r = await ufetch(url, { method: 'POST', dispatcher: only2,
      headers: { ...HDRS, authorization: `Bearer ${es()}` }, body: INIT });
    assert.equal(r.status, 200);
    await r.text();
    await assert.rejects(ufetch(url, { method: 'POST', dispatcher: new Agent({ connect: { ca: certs.ca } }),
      headers: { ...HDRS, authorization: `Bearer ${es()}` }, body: INIT }));
    // the session opened before goes on
    const t = await c.callTool({ name: 'tools.test_simple_text', arguments: {} });
    assert.ok(t.content[0].text.length > 0);
    assert.equal(tr.sessionId, sid);
    await c.close();
    await both.close();
    await only2.close();
    // later tests trust the new CA
    certs.ca = c2.ca;
    agent = new Agent({ connect: { ca: c2.ca } });
  });

  // What it proves: a pod's zone is not replaced under its HTTP sessions
  // (seen to fail, and crash the loop later, without the check).
  test('a reload that removes a pod zone is refused; pod-b keeps working', async () => {
    const tb = mint({ sa: 'agent-b' }, { alg: 'ES256', kid: 'ec-1' });
    const b = await connect(tb);
    const orig = readFileSync(cfg, 'utf8');
    const c = JSON.parse(orig);
    delete c.zones['pod-b'];
    writeFileSync(cfg, JSON.stringify(c, null, 2));
    const n = (gw.log.match(/is bound to it/g) || []).length;
    gw.kill('SIGHUP');
    await waitFor('reload refused', () => (gw.log.match(/zone pod-b: listener \S+ is bound to it/g) || []).length === n + 1);
    writeFileSync(cfg, orig);
    const r = await b.callTool({ name: 'tools.test_image_content', arguments: {} });
    assert.equal(r.content[0].type, 'image');
    await b.close();
  });

  test('a broken JWKS file keeps the old keys in force', async () => {
    const before = auditLines().filter((l) => l.method === 'listener/jwks' && l.decision === 'rejected').length;
    writeAtomic('jwks.json', '{"keys": [{"kty": "RSA", "kid": "x", "n": "AQAB", "e": "AQAB"}]}');
    await waitFor('rejected', () => auditLines().filter((l) =>
      l.method === 'listener/jwks' && l.decision === 'rejected').length === before + 1, 15000);
    assert.equal((await post(mint({}, { alg: 'ES256', kid: 'ec-1' }), INIT)).status, 200);
    writeAtomic('jwks.json', JSON.stringify(JWKS_BOTH));
  });

  // What it proves: the relay opens a new session with the client's own
  // initialize when the gateway lost it (seen to fail with the reopen
  // off: the relay exits when the restarted gateway answers 404).
  test('zonegate-relay --gateway opens a new session when the gateway restarts', async () => {
    const port = await new Promise((res) => {
      const sv = createServer();
      sv.listen(0, '127.0.0.1', () => { const p = sv.address().port; sv.close(() => res(p)); });
    });
    const c = JSON.parse(readFileSync(cfg, 'utf8'));
    c.listeners[0].listen = `127.0.0.1:${port}`;
    writeFileSync(cfg, JSON.stringify(c, null, 2));
    const restart = async () => {
      gw.kill('SIGTERM');
      assert.equal(await gw.done, 0, gw.log);
      gw = daemon(GATEWAYD, ['--config', cfg]);
      await waitFor('gateway back', () => gw.log.includes('tool zone tools up') &&
        gw.log.includes(`https://127.0.0.1:${port}/mcp`), 15000);
    };
    await restart();
    const u = `https://127.0.0.1:${port}/mcp`;
    writeFileSync(join(dir, 'token2'), `${mint({}, { alg: 'ES256', kid: 'ec-1' })}\n`);
    const relay = startRelay(u, join(dir, 'token2'), join(dir, 'ca2', 'ca.pem'));
    const { answer, send, done } = relay;
    send(JSON.parse(INIT));
    assert.ok((await answer(1)).result, relay.out + relay.err);
    send({ jsonrpc: '2.0', method: 'notifications/initialized' });
    send({ jsonrpc: '2.0', id: 2, method: 'tools/list' });
    assert.ok((await answer(2)).result);
    await restart();
    // the first request after the restart may be the one that finds the
    // session gone (an error saying so); a retry works
    let id = 10, r;
    for (; id < 13; id++) {
      send({ jsonrpc: '2.0', id, method: 'tools/list' });
      r = await answer(id);
      if (r.result) break;
      assert.match(r.error.message, /lost the session/);
    }
    assert.deepEqual(r.result.tools.map((t) => t.name),
      ['tools.test_simple_text', 'tools.test_slow_counter'], relay.out + relay.err);
    assert.match(relay.err, /a new session is open/);
    assert.ok(!relay.out.includes('zonegate-relay-reinit'), 'the relay passed on its own answer');
    relay.p.stdin.end();
    assert.equal(await done, 0, relay.err);
  });
});

test('gatewayd --check refuses a listener off loopback without tls', () => {
  const d = mkdtempSync(join(tmpdir(), 'zg-k8s-check-'));
  const c = join(d, 'gw.json');
  writeFileSync(join(d, 'p'), '');
  writeFileSync(join(d, 'jwks.json'), JSON.stringify(JWKS_BOTH));
  const conf = (l) => JSON.stringify({ zones: {
    a: { role: 'agent', k8s: { namespace: 'n', serviceAccount: 's' } },
    t: { domid: 2, role: 'tool', chan: 'sim:2:t' } }, policy: 'p',
  listeners: [{ listen: '0.0.0.0:8443', k8s: { audience: 'zonegate', issuer: ISS, jwks: 'jwks.json' }, ...l }] }, null, 1);
  writeFileSync(c, conf({}));
  let r = spawnSync(GATEWAYD, ['--check', '--config', c], { encoding: 'utf8' });
  assert.equal(r.status, 1);
  assert.match(r.stderr, /gw\.json:\d+: listeners: 0\.0\.0\.0:8443 is not a loopback address: a listener off loopback needs tls/);
  // with tls it passes (the files are read: a missing key fails)
  writeFileSync(join(d, 'c.pem'), certs.cert);
  writeFileSync(join(d, 'k.pem'), certs.key);
  writeFileSync(c, conf({ tls: { cert: 'c.pem', key: 'k.pem' } }));
  r = spawnSync(GATEWAYD, ['--check', '--config', c], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  writeFileSync(c, conf({ tls: { cert: 'c.pem', key: 'missing.pem' } }));
  r = spawnSync(GATEWAYD, ['--check', '--config', c], { encoding: 'utf8' });
  assert.equal(r.status, 1);
  assert.match(r.stderr, /missing\.pem/);
  rmSync(d, { recursive: true, force: true });
});
