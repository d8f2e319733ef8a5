// The 2026-07-28 revision against mcpd's real binaries over Streamable
// HTTP: multi round-trip requests across replicas that share a key file
// (and across a key rotation), a hostile client that tampers with or
// reuses request state, and subscriptions/listen.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';

import { mcpdPath, post, startHttp } from './lib.mjs';
import { checkedAfter, guardHooks } from '../common/harness.mjs';

// the describe blocks' final checks fail the run (harness.mjs)
guardHooks();

export const REV = '2026-07-28';
const CAPS = { elicitation: {}, sampling: {}, roots: {} };

// One stateless request; returns the post() result plus .msg (the
// JSON-RPC response).
export async function call26(url, method, params = {}, { caps = CAPS, id = 1, extra = {} } = {}) {
  const headers = { 'mcp-method': method };
  const name = method === 'resources/read' ? params.uri : params.name;
  if ((method === 'tools/call' || method === 'prompts/get' ||
       method === 'resources/read') && name !== undefined) headers['mcp-name'] = name;
  const r = await post(url, {
    jsonrpc: '2.0', id, method,
    params: { ...params, _meta: { 'io.modelcontextprotocol/protocolVersion': REV,
      'io.modelcontextprotocol/clientCapabilities': caps, ...(params._meta || {}) } },
  }, { version: REV, headers: { ...headers, ...extra } });
  const list = Array.isArray(r.json) ? r.json : [r.json];
  r.msg = list.find((m) => m && m.id === id && ('result' in m || 'error' in m));
  return r;
}

const hex = () => randomBytes(32).toString('hex');
const accept = (content) => ({ action: 'accept', content });

describe('request state across replicas', () => {
  const dir = mkdtempSync(join(tmpdir(), 'zg-rev2026-'));
  const oldKey = hex();
  const newKey = hex();
  const keyFile = (name, lines, mode = 0o600) => {
    const p = join(dir, name);
    writeFileSync(p, lines.join('\n') + '\n');
    chmodSync(p, mode);
    return p;
  };
  let a, b, other, rotated, newOnly;

  before(async () => {
    const shared = keyFile('shared', [oldKey]);
    a = await startHttp(['--state-key-file', shared]);
    b = await startHttp(['--state-key-file', shared]);
    other = await startHttp(['--state-key-file', keyFile('other', [hex()])]);
    // mid-rotation: signs with the new key, still accepts the old one
    rotated = await startHttp(['--state-key-file', keyFile('rotated', [newKey, oldKey])]);
    newOnly = await startHttp(['--state-key-file', keyFile('new', [newKey])]);
  });
  checkedAfter(async () => {
    // every server is stopped even when one did not exit cleanly (a
    // throw at the first left the others running and the file hung to
    // its timeout); the first failure is then reported
    const errs = [];
    for (const s of [a, b, other, rotated, newOnly]) await s?.stop().catch((e) => errs.push(e));
    rmSync(dir, { recursive: true, force: true });
    if (errs.length) throw errs[0];
  });

  const TOOL = 'test_input_required_result_multi_round';

  test('each round may land on another replica sharing the key file', async () => {
    const r1 = (await call26(a.url, 'tools/call', { name: TOOL, arguments: {} })).msg.result;
    assert.equal(r1.resultType, 'input_required');
    assert.ok(r1.inputRequests.step1 && typeof r1.requestState === 'string');
    const r2 = (await call26(b.url, 'tools/call', { name: TOOL, arguments: {},
      inputResponses: { step1: accept({ name: 'Ada' }) }, requestState: r1.requestState }, { id: 2 })).msg.result;
    assert.equal(r2.resultType, 'input_required', JSON.stringify(r2));
    assert.ok(r2.inputRequests.step2);
    const r3 = (await call26(a.url, 'tools/call', { name: TOOL, arguments: {},
      inputResponses: { step2: accept({ color: 'green' }) }, requestState: r2.requestState }, { id: 3 })).msg.result;
    assert.equal(r3.resultType, 'complete');
    assert.match(r3.content[0].text, /Ada likes green/);
  });

  // Proves the key check: a replica with another key must refuse (red
  // with the MAC comparison disabled in rev2026_state.c).
  test('a replica with another key refuses the state', async () => {
    const r1 = (await call26(a.url, 'tools/call', { name: TOOL, arguments: {} })).msg.result;
    const r = await call26(other.url, 'tools/call', { name: TOOL, arguments: {},
      inputResponses: { step1: accept({ name: 'Ada' }) }, requestState: r1.requestState }, { id: 2 });
    assert.equal(r.msg.error?.code, -32602, r.text);
    assert.match(r.msg.error.message, /verification/);
  });

  test('rotation: old and new keys overlap, then the old one is gone', async () => {
    const oldState = (await call26(a.url, 'tools/call', { name: TOOL, arguments: {} })).msg.result.requestState;
    const resp = { step1: accept({ name: 'Bo' }) };
    const onRotated = await call26(rotated.url, 'tools/call', { name: TOOL, arguments: {},
      inputResponses: resp, requestState: oldState }, { id: 2 });
    assert.equal(onRotated.msg.result?.resultType, 'input_required', onRotated.text);
    // what the rotated replica signs, a new-key-only replica accepts
    const onNew = await call26(newOnly.url, 'tools/call', { name: TOOL, arguments: {},
      inputResponses: { step2: accept({ color: 'red' }) },
      requestState: onRotated.msg.result.requestState }, { id: 3 });
    assert.equal(onNew.msg.result?.resultType, 'complete', onNew.text);
    // and a state signed with the retired key is refused there
    const retired = await call26(newOnly.url, 'tools/call', { name: TOOL, arguments: {},
      inputResponses: resp, requestState: oldState }, { id: 4 });
    assert.equal(retired.msg.error?.code, -32602, retired.text);
  });

  test('a hostile client: changed, moved or reused state never reaches a handler', async () => {
    const T = 'test_input_required_result_tampered_state';
    const r1 = (await call26(a.url, 'tools/call', { name: T, arguments: {} })).msg.result;
    const st = r1.requestState;
    const [pre, payload, mac] = st.split('.');
    // forge the payload ({"amount":100} -> 1000000) and keep the MAC
    const doc = JSON.parse(Buffer.from(payload, 'base64url').toString());
    doc.s.amount = 1000000;
    const forged = `${pre}.${Buffer.from(JSON.stringify(doc)).toString('base64url')}.${mac}`;
    const answer = { confirm: accept({ ok: true }) };
    let r = await call26(a.url, 'tools/call', { name: T, arguments: {},
      inputResponses: answer, requestState: forged }, { id: 2 });
    assert.equal(r.msg.error?.code, -32602, r.text);
    assert.match(r.msg.error.message, /verification/);
    // the same state on another tool, or with other arguments
    r = await call26(a.url, 'tools/call', { name: 'test_input_required_result_request_state',
      arguments: {}, inputResponses: answer, requestState: st }, { id: 3 });
    assert.match(r.msg.error?.message ?? '', /another request/, r.text);
    r = await call26(a.url, 'tools/call', { name: T, arguments: { x: 1 },
      inputResponses: answer, requestState: st }, { id: 4 });
    assert.match(r.msg.error?.message ?? '', /another request/, r.text);
    // not a string, too long
    r = await call26(a.url, 'tools/call', { name: T, arguments: {},
      inputResponses: answer, requestState: 42 }, { id: 5 });
    assert.equal(r.msg.error?.code, -32602);
    r = await call26(a.url, 'tools/call', { name: T, arguments: {},
      inputResponses: answer, requestState: `zrs1.${'A'.repeat(20000)}.x` }, { id: 6 });
    assert.equal(r.msg.error?.code, -32602);
    // the genuine state still completes, with the amount the server set
    r = await call26(a.url, 'tools/call', { name: T, arguments: {},
      inputResponses: answer, requestState: st }, { id: 7 });
    assert.match(r.msg.result?.content?.[0]?.text ?? '', /approved amount 100$/, r.text);
  });

  test('no input request for an undeclared capability', async () => {
    const r = await call26(a.url, 'tools/call', { name: 'test_input_required_result_elicitation',
      arguments: {} }, { caps: { sampling: {} } });
    assert.equal(r.status, 400);
    assert.equal(r.msg.error?.code, -32021);
    assert.deepEqual(r.msg.error.data.requiredCapabilities, { elicitation: {} });
  });

  test('a key file others can read is refused at startup', () => {
    const p = keyFile('loose', [hex()], 0o644);
    const r = spawnSync(mcpdPath(), ['--http', '127.0.0.1:0', '--state-key-file', p],
      { encoding: 'utf8', timeout: 10000 });
    assert.equal(r.status, 1);
    assert.match(r.stderr, /owner only/);
  });
});

// Opens a subscriptions/listen stream; next(pred) resolves with the first
// message (in order) matching pred, or null after ms; close() aborts it.
export async function openListen(url, notifications, id = 1) {
  const ctl = new AbortController();
  const res = await fetch(url, {
    method: 'POST', signal: ctl.signal,
    headers: { 'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
      'mcp-protocol-version': REV, 'mcp-method': 'subscriptions/listen' },
    body: JSON.stringify({ jsonrpc: '2.0', id, method: 'subscriptions/listen',
      params: { notifications, _meta: { 'io.modelcontextprotocol/protocolVersion': REV,
        'io.modelcontextprotocol/clientCapabilities': {} } } }),
  });
  const msgs = [];
  let ended = false;
  const pump = (async () => {
    if (!(res.headers.get('content-type') || '').includes('text/event-stream')) {
      msgs.push(await res.json());
      ended = true;
      return;
    }
    const dec = new TextDecoder();
    let buf = '';
    try {
      for await (const chunk of res.body) {
        buf += dec.decode(chunk, { stream: true });
        let i;
        while ((i = buf.search(/\r?\n\r?\n/)) >= 0) {
          const ev = buf.slice(0, i);
          buf = buf.slice(i).replace(/^\r?\n\r?\n/, '');
          const data = ev.split(/\r?\n/).filter((l) => l.startsWith('data:'))
            .map((l) => l.slice(5).trim()).join('');
          if (data) msgs.push(JSON.parse(data));
        }
      }
    } catch { /* aborted */ }
    ended = true;
  })();
  let at = 0;
  return {
    status: res.status,
    msgs,
    ended: () => ended,
    async next(pred = () => true, ms = 5000) {
      const t0 = Date.now();
      for (;;) {
        while (at < msgs.length) {
          const m = msgs[at++];
          if (pred(m)) return m;
        }
        if (ended || Date.now() - t0 > ms) return null;
        await new Promise((r) => setTimeout(r, 10));
      }
    },
    async close() { ctl.abort(); await pump; },
  };
}

const SUB_ID = 'io.modelcontextprotocol/subscriptionId';

describe('subscriptions/listen', () => {
  let srv;
  before(async () => { srv = await startHttp(['--max-listens', '2']); });
  after(async () => { await srv?.stop(); });

  const trigger = (name, id = 50) => call26(srv.url, 'tools/call', { name, arguments: {} }, { id });

  test('acknowledged first, tagged, filtered', async () => {
    const l = await openListen(srv.url, { toolsListChanged: true,
      resourceSubscriptions: ['test://watched-resource'], bogusFlag: true }, 'sub-1');
    const ack = await l.next();
    assert.equal(ack?.method, 'notifications/subscriptions/acknowledged');
    assert.equal(ack.params._meta[SUB_ID], 'sub-1');
    assert.deepEqual(ack.params.notifications, { toolsListChanged: true,
      resourceSubscriptions: ['test://watched-resource'] });
    // not asked for: the prompt list change must not show up before the
    // tool list change that follows it
    await trigger('test_trigger_prompt_change');
    await trigger('test_trigger_tool_change');
    const n1 = await l.next();
    assert.equal(n1?.method, 'notifications/tools/list_changed');
    assert.equal(n1.params._meta[SUB_ID], 'sub-1');
    await trigger('test_update_watched');
    const n2 = await l.next();
    assert.equal(n2?.method, 'notifications/resources/updated');
    assert.equal(n2.params.uri, 'test://watched-resource');
    assert.equal(n2.params._meta[SUB_ID], 'sub-1');
    await l.close();
  });

  test('a malformed filter is -32602', async () => {
    const r = await call26(srv.url, 'subscriptions/listen', { notifications: { toolsListChanged: 'yes' } });
    assert.equal(r.msg?.error?.code, -32602, r.text);
    const r2 = await call26(srv.url, 'subscriptions/listen',
      { notifications: { resourceSubscriptions: Array(300).fill('x://y') } });
    assert.equal(r2.msg?.error?.code, -32602, r2.text);
  });

  // Proves the server-wide cap (red without the nlistens check in
  // rev2026_listen.c), and that a closed stream gives its place back.
  test('at most --max-listens open at once', async () => {
    const a = await openListen(srv.url, { toolsListChanged: true }, 1);
    const b = await openListen(srv.url, { toolsListChanged: true }, 2);
    assert.ok(await a.next() && await b.next());
    const c = await openListen(srv.url, { toolsListChanged: true }, 3);
    const refused = await c.next();
    assert.equal(refused?.error?.code, -32600, JSON.stringify(refused));
    await a.close();
    let d = null;
    for (let i = 0; i < 200 && !d; i++) { // the server sees the close soon
      const t = await openListen(srv.url, { toolsListChanged: true }, 4);
      const first = await t.next();
      if (first?.method) d = t; else await new Promise((r) => setTimeout(r, 20));
    }
    assert.ok(d, 'a closed listen must free its place');
    await b.close();
    await d.close();
  });
});

// Proves that a stateless request ends when its client goes while it
// waits for its answer (in 2026-07-28 the connection is the request: no
// session, no notifications/cancelled): mcpd cancels the call and its
// worker is free. With one worker, a call that would run for hours is
// abandoned, and the next call is answered. Red with the janitor's tick
// of waiting POSTs off (http_post_answer: the client's going was seen
// only when the answer was written) and with the calls of a freed
// session told only by the job that frees it (sess_free: that job waited
// for the one worker, which the call held): the first call kept the
// worker and the second got none.
describe('a stateless request ends with its connection', () => {
  let srv;
  before(async () => { srv = await startHttp(['--workers', '1']); });
  after(async () => { await srv?.stop(); });

  test('an abandoned call is cancelled and frees its worker', async () => {
    const ac = new AbortController();
    const body = { jsonrpc: '2.0', id: 1, method: 'tools/call',
      params: { name: 'test_slow_counter', arguments: { steps: 10000, interval_ms: 10000 },
        _meta: { 'io.modelcontextprotocol/protocolVersion': REV,
          'io.modelcontextprotocol/clientCapabilities': {} } } };
    const long = fetch(srv.url, { method: 'POST', signal: ac.signal,
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream',
        'mcp-protocol-version': REV, 'mcp-method': 'tools/call', 'mcp-name': 'test_slow_counter' },
      body: JSON.stringify(body) }).catch((e) => e);
    await new Promise((r) => setTimeout(r, 300));
    ac.abort();
    await long;
    const next = await Promise.race([
      call26(srv.url, 'tools/call', { name: 'test_slow_counter',
        arguments: { steps: 1, interval_ms: 1 } }, { caps: {}, id: 2 }),
      new Promise((r) => setTimeout(() => r(null), 20000)),
    ]);
    assert.ok(next, 'the next call got no worker in 20 s');
    assert.match(next.msg.result.content[0].text, /counted to 1/);
  });
});

describe('subscriptions/listen on shutdown', () => {
  test('mcpd ends open subscriptions with their response and exits', async () => {
    const srv = await startHttp();
    const l = await openListen(srv.url, { toolsListChanged: true }, 'bye');
    assert.ok(await l.next());
    const stopped = srv.stop(); // throws unless mcpd exits cleanly
    const end = await l.next((m) => 'result' in m);
    assert.equal(end?.id, 'bye');
    assert.equal(end.result.resultType, 'complete');
    assert.equal(end.result._meta[SUB_ID], 'bye');
    await stopped;
    await l.close();
  });
});

// Mcp-Param-{Name} headers (x-mcp-header): each proves the check in
// mcp_rev2026_check_params (red with it skipped in http.c).
describe('x-mcp-header parameters', () => {
  let srv;
  before(async () => { srv = await startHttp(); });
  after(async () => { await srv?.stop(); });
  const T = 'test_header_param';
  const b64 = (s) => `=?base64?${Buffer.from(s).toString('base64')}?=`;
  const callWith = (region, extra, id = 1) =>
    call26(srv.url, 'tools/call', { name: T, arguments: { region } }, { id, extra });

  test('a matching header, plain or Base64, is accepted', async () => {
    let r = await callWith('us-west1', { 'Mcp-Param-Region': 'us-west1' });
    assert.equal(r.msg?.result?.content?.[0]?.text, 'region=us-west1', r.text);
    r = await callWith('Grüße, 世界', { 'mcp-param-region': b64('Grüße, 世界') }, 2);
    assert.equal(r.status, 200, r.text);
    // an encoded Mcp-Name is decoded before the comparison too
    r = await callWith('eu', { 'Mcp-Param-Region': 'eu', 'mcp-name': b64(T) }, 3);
    assert.equal(r.status, 200, r.text);
  });

  test('missing, different or badly encoded headers are 400 -32020', async () => {
    for (const [extra, why] of [
      [{}, /Missing Mcp-Param/],
      [{ 'Mcp-Param-Region': 'eu-north1' }, /does not match/],
      [{ 'Mcp-Param-Region': '=?base64?dXMtd2VzdDE?=' }, /Base64/], // unpadded
      [{ 'Mcp-Param-Region': '=?base64?dXMt!!!2VzdDE=?=' }, /Base64/],
    ]) {
      const r = await callWith('us-west1', extra);
      assert.equal(r.status, 400, `${JSON.stringify(extra)}: ${r.text}`);
      assert.equal(r.msg?.error?.code, -32020);
      assert.match(r.msg.error.message, why);
    }
    // a header for a value the body does not carry
    const r = await call26(srv.url, 'tools/call', { name: T, arguments: {} },
      { extra: { 'Mcp-Param-Region': 'us' } });
    assert.equal(r.status, 400, r.text);
  });
});
