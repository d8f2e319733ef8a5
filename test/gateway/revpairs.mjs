// Checks shared by the tests of the revision pairs through gatewayd
// (revisions.test.mjs: channel tool zones; remote26.test.mjs: remote
// ones): raw 2026-07-28 requests on a token-bound listener, the SDK 1.x
// session's answers to elicitation, the InputRequiredResult round trip
// with hostile requestState, and the SDK 2.x client through rounds. No
// daemon is started here.
import assert from 'node:assert/strict';
import { MCP_HEADERS, post2026, rpcError } from '../common/harness.mjs';

const SDK2 = await import('../node/node_modules/@modelcontextprotocol/client/dist/index.mjs');

export const REV = '2026-07-28';
export const IRR_TOOL = 'test_input_required_result_tampered_state';
export const meta = (caps = {}) => ({ 'io.modelcontextprotocol/protocolVersion': REV,
  'io.modelcontextprotocol/clientCapabilities': caps });
export const HDRS = MCP_HEADERS;

// A stateless POST through the listener at url with token: the response
// message. extra: more request headers.
export const post26 = (url, token, method, params = {}, caps = {}, extra = {}) =>
  post2026(url, token, method, params, caps, extra);

// The fixtures' elicitations answered: a name, a colour, else a yes.
export function elicitAnswer(params) {
  const p = Object.keys(params.requestedSchema?.properties ?? {})[0];
  if (p === 'name' || p === 'color')
    return { action: 'accept', content: { [p]: p === 'color' ? 'teal' : 'Ada' } };
  return { action: 'accept', content: { ok: true } };
}

// A 2026-07-28 agent gets zone's InputRequiredResult (IRR_TOOL) with the
// state sealed by the gateway; a flipped byte, the state carried to
// otherZone's tool, or used by the other agent zone (url2, token2) are
// -32602 and audited `refused` (audit(): the records); the genuine retry
// completes. Returns the first result.
export async function irrRoundTrip({ url, token, url2, token2, zone, otherZone, audit }) {
  const call = { name: `${zone}.${IRR_TOOL}`, arguments: {} };
  const caps = { elicitation: {} };
  const r1 = (await post26(url, token, 'tools/call', call, caps)).result;
  assert.equal(r1.resultType, 'input_required');
  assert.ok(Object.keys(r1.inputRequests).length > 0);
  const answer = { confirm: { action: 'accept', content: { ok: true } } };
  const st = r1.requestState;
  const flip = st.slice(0, 20) + (st[20] === 'A' ? 'B' : 'A') + st.slice(21);
  const bad = [
    await post26(url, token, 'tools/call',
      { ...call, inputResponses: answer, requestState: flip }, caps),
    await post26(url, token, 'tools/call', { name: `${otherZone}.${IRR_TOOL}`, arguments: {},
      inputResponses: answer, requestState: st }, caps),
    await post26(url2, token2, 'tools/call',
      { ...call, inputResponses: answer, requestState: st }, caps),
  ];
  for (const b of bad) {
    assert.equal(b.error?.code, -32602, JSON.stringify(b));
    const rec = audit().find((x) => x.id === b.error.data.auditId);
    assert.equal(rec?.decision, 'refused');
  }
  assert.match(bad[2].error.message, /another agent zone/);
  const r2 = await post26(url, token, 'tools/call',
    { ...call, inputResponses: answer, requestState: st }, caps);
  assert.equal(r2.result?.resultType, 'complete', JSON.stringify(r2));
  assert.match(r2.result.content[0].text, /approved amount 100/);
  return r1;
}

// The official SDK 2.x client pinned to 2026-07-28 through the listener:
// an elicitation and a three-round call on each of zones.
export async function sdk2Rounds(url, token, zones) {
  const c = new SDK2.Client({ name: 'zg-rev-2026', version: '1' }, {
    capabilities: { elicitation: {} }, versionNegotiation: { mode: { pin: REV } } });
  c.setRequestHandler('elicitation/create', async (r) => elicitAnswer(r.params));
  await c.connect(new SDK2.StreamableHTTPClientTransport(new URL(url), {
    requestInit: { headers: { authorization: `Bearer ${token}` } } }));
  try {
    for (const z of zones) {
      const hello = await c.callTool({
        name: `${z}.test_input_required_result_elicitation`, arguments: {} });
      assert.equal(hello.content[0].text, 'Hello, Ada!', z);
      const multi = await c.callTool({
        name: `${z}.test_input_required_result_multi_round`, arguments: {} });
      assert.equal(multi.content[0].text, 'Ada likes teal (three rounds)', z);
    }
  } finally {
    await c.close();
  }
}

const SDK = '../node/node_modules/@modelcontextprotocol/sdk/dist/esm';
const { Client } = await import(`${SDK}/client/index.js`);
const { StreamableHTTPClientTransport } = await import(`${SDK}/client/streamableHttp.js`);
const { ElicitRequestSchema } = await import(`${SDK}/types.js`);

// The listener URL of agent zone in a gatewayd log.
export const listenerUrl = (log, zone) =>
  new RegExp(`listener for zone ${zone} on (http://\\S+)`).exec(log)[1];

// Two SDK 1.x sessions through the listener at url: client declares
// elicitation (its requests pushed onto elicited, answered by
// elicitAnswer), plain declares no client capability.
export async function sessions(url, token, elicited) {
  const opts = { requestInit: { headers: { Authorization: `Bearer ${token}` } } };
  const client = new Client({ name: 'zg-2025', version: '1' },
    { capabilities: { elicitation: {} } });
  client.setRequestHandler(ElicitRequestSchema, async (r) => {
    elicited.push(r.params);
    return elicitAnswer(r.params);
  });
  await client.connect(new StreamableHTTPClientTransport(new URL(url), opts));
  const plain = new Client({ name: 'zg-2025-plain', version: '1' });
  await plain.connect(new StreamableHTTPClientTransport(new URL(url), opts));
  return { client, plain };
}

// The session (client) and raw 2026-07-28 requests list the same tools,
// present included, none of the denied test_image_content.
export async function sameLists(client, url, token, present) {
  const sorted = (a) => [...a].sort();
  const want = sorted((await client.listTools()).tools.map((t) => t.name));
  for (const n of present) assert.ok(want.includes(n), n);
  assert.ok(!want.some((n) => n.endsWith('.test_image_content')));
  const l26 = await post26(url, token, 'tools/list');
  assert.deepEqual(sorted(l26.result.tools.map((t) => t.name)), want);
}

// test_simple_text on each of zones from both revisions; zone's
// test_image_content denied in both with the same code and audited deny;
// zone's test_simple_text audited allow twice.
export async function callsBothRevisions({ client, url, token, zones, zone, audit }) {
  for (const z of zones) {
    const r = await client.callTool({ name: `${z}.test_simple_text`, arguments: {} });
    assert.match(r.content[0].text, /simple text/i, z);
    const s = await post26(url, token, 'tools/call',
      { name: `${z}.test_simple_text`, arguments: {} });
    assert.equal(s.result?.resultType, 'complete', JSON.stringify(s));
    assert.match(s.result.content[0].text, /simple text/i, z);
  }
  const denied = { name: `${zone}.test_image_content`, arguments: {} };
  const e25 = await rpcError(client.callTool(denied));
  const e26 = await post26(url, token, 'tools/call', denied);
  assert.equal(e26.error.code, e25.code);
  for (const id of [e25.data.auditId, e26.error.data.auditId]) {
    const rec = audit().find((x) => x.id === id);
    assert.equal(rec?.decision, 'deny', id);
    assert.equal(rec.target, denied.name);
  }
  const ok = audit().filter((x) => x.target === `${zone}.test_simple_text` &&
    x.decision === 'allow');
  assert.equal(ok.length, 2);
}

// A session's calls to zone (2026-07-28-only) that ask for input: asked
// by elicitation on the session (one round, then three), and plain, which
// declared nothing, gets the zone's -32021 naming the capability.
export async function sessionIrr({ client, plain, zone, elicited }) {
  const r = await client.callTool({ name: `${zone}.${IRR_TOOL}`, arguments: {} });
  assert.match(r.content[0].text, /approved amount 100/);
  assert.equal(elicited.length, 1);
  // three rounds: each round's requests asked on the session in turn
  const multi = await client.callTool({
    name: `${zone}.test_input_required_result_multi_round`, arguments: {} });
  assert.equal(multi.content[0].text, 'Ada likes teal (three rounds)');
  assert.ok(elicited.length >= 3, `${elicited.length} requests`);
  const e = await rpcError(plain.callTool({ name: `${zone}.${IRR_TOOL}`, arguments: {} }));
  assert.equal(e.code, -32021, e.message);
  assert.ok(e.data.requiredCapabilities.elicitation, JSON.stringify(e.data));
}
