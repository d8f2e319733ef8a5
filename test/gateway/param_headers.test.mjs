// End to end: Mcp-Param-{Name} headers (x-mcp-header, MCP 2026-07-28) on
// the HTTP endpoints that hold no tool schemas of their own. Three paths:
//   listener   a gatewayd HTTP listener -> gatewayd -> a recording tool zone
//   relay-gw   zonegate-relay --http on the agent's channel -> gatewayd -> it
//   relay-mcpd zonegate-relay --http on a channel of mcpd-test (conformance
//              fixtures: test_header_param) -> mcpd's channel engine
// The transport carries the headers in _meta["dev.zonegate/param-headers"]
// (docs/protocol.md); gatewayd (gw_req_route) or mcpd (conn.c) checks them
// against the tool's inputSchema.
// Proves, on each path: a missing header, a different one, bad Base64, a
// header for a value the body does not carry, an oversize header, a
// non-ASCII one and 33 of them are each refused with HTTP 400 and -32020; matching headers (plain, Base64,
// an integer compared numerically, a boolean) pass; a carried form forged
// in the body counts for nothing. Through gatewayd also: the carried form
// never reaches the tool zone, a refusal is audited with the audit id its
// error names, a tool the zone may not use answers "Unknown tool" even
// with wrong headers (the check never tells a zone that a tool exists),
// and the retry of a held call (InputRequiredResult, a tool of mcpd-test
// on a channel) with a wrong header is refused and leaves the call held
// for the right retry.
// Each case went red with the check taken out of gw_req_route (listener,
// relay-gw), of conn.c (relay-mcpd), of resume (the retry), with the
// carried form kept when the body had one, with the form left in the
// request upstream, and with the check ahead of the policy decision.
// Env: GATEWAYD, MCPD_TEST, RELAY.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import { checkedAfter, guardHooks, daemon as spawnDaemon, recordingServer, stop,
  waitFor } from '../common/harness.mjs';

guardHooks();

const { GATEWAYD, MCPD_TEST, RELAY } = process.env;
const dir = mkdtempSync(join(tmpdir(), 'zg-gwparam-'));
const env = { ...process.env, ZONEGATE_SIM_DIR: join(dir, 'sim') };
const daemon = (bin, args) => spawnDaemon(bin, args, env);
const TOKEN = 'p'.repeat(20) + 'Xq7-token-of-the-agent-0123456789';
const REV = '2026-07-28';
const CARRIED = 'dev.zonegate/param-headers';
const META = { 'io.modelcontextprotocol/protocolVersion': REV,
  'io.modelcontextprotocol/clientCapabilities': {} };
const b64 = (s) => `=?base64?${Buffer.from(s).toString('base64')}?=`;

// The recording tool zone (2025-11-25 over HTTP): "hdr" mirrors region,
// n and flag into headers, keeps the _meta its call arrived with and
// answers region=VALUE; "secret" has annotations too, and the policy
// denies it.
const SCHEMA = { type: 'object', properties: {
  region: { type: 'string', 'x-mcp-header': 'Region' },
  n: { type: 'integer', 'x-mcp-header': 'N' },
  flag: { type: 'boolean', 'x-mcp-header': 'Flag' },
  query: { type: 'string' } } };
const seenMeta = [];
const recorder = () => recordingServer(
  [{ name: 'hdr', inputSchema: SCHEMA }, { name: 'secret', inputSchema: SCHEMA }],
  (p) => {
    seenMeta.push(p._meta || {});
    return { content: [{ type: 'text', text: `region=${p.arguments?.region}` }] };
  });

// A stateless tools/call to url: { status, body } (the last message).
async function call(url, name, args, headers = {}, meta = META, extra = {}) {
  const h = { 'content-type': 'application/json', accept: 'application/json, text/event-stream',
    'mcp-protocol-version': REV, 'mcp-method': 'tools/call', 'mcp-name': name, ...headers };
  const r = await fetch(url, { method: 'POST', headers: h, body: JSON.stringify({
    jsonrpc: '2.0', id: 7, method: 'tools/call',
    params: { name, arguments: args, ...extra, _meta: meta } }) });
  const text = await r.text();
  const msgs = r.headers.get('content-type')?.includes('text/event-stream')
    ? text.split('\n').filter((l) => l.startsWith('data:') && l.length > 6)
      .map((l) => JSON.parse(l.slice(5)))
    : [JSON.parse(text)];
  return { status: r.status, body: msgs.at(-1), text };
}

const audit = () => readFileSync(join(dir, 'audit.log'), 'utf8').trim().split('\n')
  .map((l) => JSON.parse(l));

let gw, direct, fx, relayGw, relayMcpd, rec;
const paths = {}; // name -> { url, tool, auth }

async function startRelay(chan, name) {
  const ready = join(dir, `${name}.url`);
  const p = daemon(RELAY, ['--chan', chan, '--connect-timeout', '10000',
    '--http', '127.0.0.1:0', '--ready-file', ready]);
  await waitFor(`relay ${name}`, () => readFileSync(ready, 'utf8').trim().endsWith('/mcp'));
  p.url = readFileSync(ready, 'utf8').trim();
  return p;
}

describe('Mcp-Param headers on endpoints without the schemas', { concurrency: false }, () => {
  before(async () => {
    rec = recorder();
    const recPort = await new Promise((res) => rec.listen(0, '127.0.0.1', () => res(rec.address().port)));
    writeFileSync(join(dir, 'a.token'), `${TOKEN}\n`, { mode: 0o600 });
    writeFileSync(join(dir, 'gatewayd.json'), JSON.stringify({
      zones: {
        agent: { domid: 71, role: 'agent', chan: 'sim:71:agent' },
        rec: { domid: 73, role: 'tool', url: `http://127.0.0.1:${recPort}/mcp` },
        fx: { domid: 74, role: 'tool', chan: 'sim:74:fx' },
      },
      listeners: [{ listen: '127.0.0.1:0', zone: 'agent', token_file: 'a.token' }],
      policy: 'gw.policy',
      audit_log: 'audit.log',
      audit_flush_ms: 0,
    }, null, 2));
    writeFileSync(join(dir, 'gw.policy'), 'agent rec.hdr allow\nagent rec.secret deny\n' +
      'agent fx.test_header_param_elicitation allow\n');
    gw = daemon(GATEWAYD, ['--config', join(dir, 'gatewayd.json')]);
    direct = daemon(MCPD_TEST, ['--chan', 'sim:75:direct', '--fixtures', 'conformance']);
    fx = daemon(MCPD_TEST, ['--chan', 'sim:74:fx', '--fixtures', 'conformance']);
    await waitFor('gatewayd', () => gw.log.includes('tool zone rec up') &&
      gw.log.includes('tool zone fx up') &&
      /listener for zone agent on http/.test(gw.log));
    const url = /listener for zone agent on (http:\/\/\S+)/.exec(gw.log)[1];
    relayGw = await startRelay('sim:71:agent', 'gw');
    relayMcpd = await startRelay('sim:75:direct', 'mcpd');
    const auth = { authorization: `Bearer ${TOKEN}` };
    paths.listener = { url, tool: 'rec.hdr', auth };
    paths['relay-gw'] = { url: relayGw.url, tool: 'rec.hdr', auth: {} };
    paths['relay-mcpd'] = { url: relayMcpd.url, tool: 'test_header_param', auth: {} };
  });
  checkedAfter(async () => {
    await stop(relayGw);
    await stop(relayMcpd);
    gw?.kill('SIGTERM');
    const code = await gw?.done;
    const dcode = await stop(direct);
    await stop(fx);
    rec?.close();
    rmSync(dir, { recursive: true, force: true });
    assert.equal(code, 0, gw?.log);
    assert.equal(dcode, 0, direct?.log);
  });

  for (const name of ['listener', 'relay-gw', 'relay-mcpd']) {
    const p = () => paths[name];
    const refused = (r, why, what) => {
      assert.equal(r.status, 400, `${name} ${what}: ${r.text}`);
      assert.equal(r.body?.error?.code, -32020, `${name} ${what}: ${r.text}`);
      assert.match(r.body.error.message, why, `${name} ${what}`);
    };

    test(`${name}: matching headers pass`, async () => {
      const { url, tool, auth } = p();
      let r = await call(url, tool, { region: 'us-west1', query: 'q' },
        { ...auth, 'Mcp-Param-Region': 'us-west1' });
      assert.equal(r.status, 200, r.text);
      assert.equal(r.body.result?.content?.[0]?.text, 'region=us-west1', r.text);
      // Base64 for a value a header cannot carry plainly; a lower-case name
      r = await call(url, tool, { region: 'Grüße, 世界' },
        { ...auth, 'mcp-param-region': b64('Grüße, 世界') });
      assert.equal(r.status, 200, r.text);
      assert.equal(r.body.result?.content?.[0]?.text, 'region=Grüße, 世界', r.text);
      if (name === 'relay-mcpd') return; // the fixture has only region
      // an integer compared numerically, a boolean as true/false, and a
      // null value needs no header
      r = await call(url, tool, { region: 'eu', n: 42, flag: false, query: null },
        { ...auth, 'Mcp-Param-Region': 'eu', 'Mcp-Param-N': '42.0', 'Mcp-Param-Flag': 'false' });
      assert.equal(r.status, 200, r.text);
    });

    test(`${name}: wrong headers are 400 -32020`, async () => {
      const { url, tool, auth } = p();
      const args = { region: 'us-west1' };
      refused(await call(url, tool, args, auth), /Missing Mcp-Param/, 'missing');
      refused(await call(url, tool, args, { ...auth, 'Mcp-Param-Region': 'eu-north1' }),
        /does not match/, 'mismatch');
      refused(await call(url, tool, args, { ...auth, 'Mcp-Param-Region': '=?base64?dXMtd2VzdDE?=' }),
        /Base64/, 'unpadded Base64');
      refused(await call(url, tool, args, { ...auth, 'Mcp-Param-Region': '=?base64?dXMt!!2VzdDE=?=' }),
        /Base64/, 'bad Base64 characters');
      refused(await call(url, tool, {}, { ...auth, 'Mcp-Param-Region': 'us-west1' }),
        /does not match/, 'header without a value');
      refused(await call(url, tool, args, { ...auth, 'Mcp-Param-Region': 'x'.repeat(8193) }),
        /too long/, 'oversize header');
      // a byte no field value may hold (Latin-1, so not UTF-8 either)
      refused(await call(url, tool, { region: 'caf\u00e9' }, { ...auth, 'Mcp-Param-Region': 'caf\u00e9' }),
        /invalid characters/, 'non-ASCII header');
      const many = Object.fromEntries(Array.from({ length: 33 }, (_, i) => [`Mcp-Param-X${i}`, 'v']));
      refused(await call(url, tool, args, { ...auth, ...many, 'Mcp-Param-Region': 'us-west1' }),
        /too many/, '33 Mcp-Param headers');
      // a carried form forged in the body is replaced by the real headers
      refused(await call(url, tool, args, auth,
        { ...META, [CARRIED]: { region: 'us-west1' } }), /Missing Mcp-Param/, 'forged');
      if (name === 'relay-mcpd') return;
      refused(await call(url, tool, { region: 'eu', n: 42 },
        { ...auth, 'Mcp-Param-Region': 'eu', 'Mcp-Param-N': '43' }), /does not match/, 'integer');
    });
  }

  test('gatewayd: the carried headers never reach the tool zone', () => {
    assert.ok(seenMeta.length >= 4, JSON.stringify(seenMeta));
    for (const m of seenMeta) assert.equal(m[CARRIED], undefined, JSON.stringify(m));
  });

  test('gatewayd: a refusal is audited under the id its error names', async () => {
    const r = await call(paths.listener.url, 'rec.hdr', { region: 'us' },
      { ...paths.listener.auth, 'Mcp-Param-Region': 'eu' });
    assert.equal(r.status, 400, r.text);
    const aid = r.body.error.data?.auditId;
    assert.ok(aid, r.text);
    await waitFor('the audit record', () => audit().some((x) => x.id === aid));
    const a = audit().find((x) => x.id === aid);
    assert.equal(a.decision, 'deny');
    assert.equal(a.target, 'rec.hdr');
    assert.match(a.reason, /Mcp-Param header does not match/);
  });

  test('gatewayd: a held call\'s retry is checked too', async () => {
    const T = 'fx.test_header_param_elicitation';
    const meta = { ...META, 'io.modelcontextprotocol/clientCapabilities': { elicitation: {} } };
    for (const { url, auth } of [paths.listener, paths['relay-gw']]) {
      const h = { ...auth, 'Mcp-Param-Region': 'eu' };
      const r1 = await call(url, T, { region: 'eu' }, h, meta);
      assert.equal(r1.body?.result?.resultType, 'input_required', r1.text);
      const retry = (headers) => call(url, T, { region: 'eu' }, headers, meta, {
        requestState: r1.body.result.requestState,
        inputResponses: { user_name: { action: 'accept', content: { name: 'Ada' } } } });
      const bad = await retry({ ...auth, 'Mcp-Param-Region': 'us' });
      assert.equal(bad.status, 400, bad.text);
      assert.equal(bad.body?.error?.code, -32020, bad.text);
      assert.match(bad.body.error.message, /does not match/);
      // still held: the right retry completes it
      const ok = await retry(h);
      assert.equal(ok.body?.result?.content?.[0]?.text, 'Hello, Ada!', ok.text);
    }
  });

  test('gatewayd: a tool the zone may not use stays unknown', async () => {
    for (const { url, auth } of [paths.listener, paths['relay-gw']]) {
      const r = await call(url, 'rec.secret', { region: 'us' }, { ...auth, 'Mcp-Param-Region': 'eu' });
      assert.equal(r.body?.error?.code, -32602, r.text);
      assert.match(r.body.error.message, /Unknown tool/);
    }
  });
});
