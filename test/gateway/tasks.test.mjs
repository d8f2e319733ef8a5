// End to end: the tasks extension (io.modelcontextprotocol/tasks) through
// the gateway. Real processes: gatewayd; mcpd-test tool zones on channels
// serving 2026-07-28 only (t26), both revisions (dual) and 2025-11-25 only
// (t25), each with the conformance fixtures' task tools; agent zones on
// token-bound listeners, reached by raw 2026-07-28 requests and by a raw
// 2025-11-25 session.
// Proves: server/discover offers the extension only to an agent zone that
// reaches a zone offering it; a task-augmented tools/call to t26 is decided
// by policy (a denied tool: the unknown-tool error with an audit id) and
// audited; the agent's task id is the gateway's sealed one, with which it
// polls, answers (tasks/update) and cancels the zone's task; a tampered
// task id, another agent zone's and a requestState passed as a task id are
// refused -32602 and audited; a task id cannot be sent to another zone by
// a name in the request; without the extension declared tasks methods are
// -32021 and calls run as ordinary calls; the cells not carried (a dual or
// 2025-11-25-only zone, a 2025-11-25 session) run calls as ordinary calls
// and answer tasks methods with a clear error; tasks_max caps the tasks
// one agent zone keeps (beyond it a task-only tool is refused -32600, an
// optional one runs as an ordinary call) without touching other zones,
// each task counted until its id expires (with the zone's TTL); a
// policy reload that revokes the tool refuses its task's requests.
// Env: GATEWAYD, MCPD_TEST.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import { checkedAfter, guardHooks, daemon as spawnDaemon, post2026, rawSession, sseMessages,
  stop, waitFor } from '../common/harness.mjs';

guardHooks();

const { GATEWAYD, MCPD_TEST } = process.env;
const dir = mkdtempSync(join(tmpdir(), 'zg-gwtasks-'));
const env = { ...process.env, ZONEGATE_SIM_DIR: join(dir, 'sim') };
const daemon = (bin, args) => spawnDaemon(bin, args, env);
const REV = '2026-07-28';
const EXT = 'io.modelcontextprotocol/tasks';
const TOK = { agent: `${'a'.repeat(24)}-tasks-token-0123456789`,
  other: `${'b'.repeat(24)}-tasks-token-0123456789`,
  plain: `${'c'.repeat(24)}-tasks-token-0123456789`,
  short: `${'d'.repeat(24)}-tasks-token-0123456789` };
const WITH = { extensions: { [EXT]: {} }, elicitation: {} };
const audit = () => readFileSync(join(dir, 'audit.log'), 'utf8').trim().split('\n')
  .map((l) => JSON.parse(l));
const TASKS_MAX = 8; // the agent zone makes 7 tasks, other makes 8

let gw, zones, url;

// A stateless POST through zone z's listener: the response message.
const post = (z, method, params = {}, caps = WITH) =>
  post2026(url[z], TOK[z], method, params, caps);
const call = (z, name, args = {}, caps = WITH) =>
  post(z, 'tools/call', { name, arguments: args }, caps);
const get = (z, taskId) => post(z, 'tasks/get', { taskId });

// Polls tasks/get until the task leaves working (or reaches status).
async function settle(z, taskId, status) {
  let last;
  await waitFor(`task ${status ?? 'terminal'}`, async () => {
    last = (await get(z, taskId)).result;
    return status ? last?.status === status
      : ['completed', 'failed', 'cancelled'].includes(last?.status);
  }, 20000);
  return last;
}

// A refusal: -32602, its audit id, and the audit record that says why.
function refused(r, why) {
  assert.equal(r.error?.code, -32602, JSON.stringify(r));
  assert.match(r.error.message, why);
  const id = r.error.data?.auditId;
  assert.ok(id, 'an audit id');
  const rec = audit().find((a) => a.audit_id === id || a.id === id);
  assert.ok(rec, `audit record ${id}`);
  assert.equal(rec.decision, 'refused');
  return rec;
}

describe('gatewayd: the tasks extension', { concurrency: false }, () => {
  before(async () => {
    for (const z of Object.keys(TOK))
      writeFileSync(join(dir, `${z}.token`), `${TOK[z]}\n`, { mode: 0o600 });
    writeFileSync(join(dir, 'state.keys'), `${'3c'.repeat(32)}\n`, { mode: 0o600 });
    writeFileSync(join(dir, 'gatewayd.json'), JSON.stringify({
      // agent zones 121.., tool zones 125.. on sim channels named so
      zones: Object.fromEntries(['agent', 'other', 'plain', 'short', 't26', 'dual', 't25',
        'tshort'].map((n, i) => [n, { domid: 121 + i, role: i < 4 ? 'agent' : 'tool',
          chan: `sim:${121 + i}:${n}` }])),
      listeners: Object.keys(TOK).map((z) => ({ listen: '127.0.0.1:0', zone: z,
        token_file: `${z}.token` })),
      policy: 'gw.policy', audit_log: 'audit.log', audit_flush_ms: 0,
      state_key_file: 'state.keys', tasks_max: TASKS_MAX,
    }));
    writeFileSync(join(dir, 'gw.policy'), `agent t26.protocol_error_job deny
agent *.slow_compute allow
agent *.failing_job allow
agent *.confirm_delete allow
agent *.greet allow
agent *.test_input_required_result_elicitation allow
other t26.slow_compute allow
other t26.failing_job allow
plain dual.slow_compute allow
plain t25.slow_compute allow
short tshort.slow_compute allow
`);
    const fx = ['--fixtures', 'conformance'];
    zones = [
      daemon(MCPD_TEST, ['--chan', 'sim:125:t26', ...fx, '--protocol-versions', REV]),
      daemon(MCPD_TEST, ['--chan', 'sim:126:dual', ...fx]),
      daemon(MCPD_TEST, ['--chan', 'sim:127:t25', ...fx, '--protocol-versions', '2025-11-25']),
      // its tasks live 1.9 s (not whole seconds: the token's rounding)
      daemon(MCPD_TEST, ['--chan', 'sim:128:tshort', ...fx, '--protocol-versions', REV,
        '--task-ttl', '1900']),
    ];
    gw = daemon(GATEWAYD, ['--config', join(dir, 'gatewayd.json')]);
    await waitFor('gatewayd', () => ['t26', 'dual', 't25', 'tshort'].every((z) =>
      gw.log.includes(`tool zone ${z} up`)) &&
      Object.keys(TOK).every((z) => gw.log.includes(`listener for zone ${z} on http`)));
    url = Object.fromEntries(Object.keys(TOK).map((z) => [z,
      new RegExp(`listener for zone ${z} on (http://\\S+)`).exec(gw.log)[1]]));
  });
  checkedAfter(async () => {
    // gatewayd ends cleanly (under the sanitizers: no leak, no error)
    const code = await stop(gw);
    for (const z of zones) await stop(z);
    assert.equal(code, 0, gw.log.slice(-3000));
    assert.doesNotMatch(gw.log, /AddressSanitizer|runtime error/);
  });

  test('server/discover offers the extension where a zone reached offers it', async () => {
    const a = (await post('agent', 'server/discover')).result;
    assert.deepEqual(a.capabilities.extensions, { [EXT]: {} });
    assert.equal(a.capabilities.tasks, undefined);
    // plain reaches only the dual and the 2025-11-25 zone: not carried
    const p = (await post('plain', 'server/discover')).result;
    assert.ok(p.capabilities.tools, 'it sees tools');
    assert.equal(p.capabilities.extensions, undefined);
  });

  test('a task: created, polled, completed; the id is the gateway\'s', async () => {
    const c = (await call('agent', 't26.slow_compute', { seconds: 1, label: 'gw' })).result;
    assert.equal(c.resultType, 'task', JSON.stringify(c));
    assert.ok(!/^[0-9a-f]{32}$/.test(c.taskId), 'not the zone\'s own id');
    assert.ok(c.taskId.length < 1024);
    for (const k of ['result', 'error', 'requestState', 'task']) assert.equal(c[k], undefined);
    const w = (await get('agent', c.taskId)).result;
    assert.equal(w.taskId, c.taskId);
    assert.equal(w.resultType, 'complete');
    const done = await settle('agent', c.taskId);
    assert.equal(done.status, 'completed');
    assert.equal(done.taskId, c.taskId);
    assert.match(done.result.content[0].text, /computed gw/);
    // each step audited as a call of the tool
    const recs = audit().filter((r) => r.target === 't26.slow_compute' && r.decision === 'allow');
    assert.ok(recs.some((r) => r.method === 'tools/call'));
    assert.ok(recs.some((r) => r.method === 'tasks/get'));
  });

  test('a task-only tool; input asked inside a task, answered by tasks/update', async () => {
    const f = (await call('agent', 't26.failing_job')).result;
    assert.equal(f.resultType, 'task');
    const fd = await settle('agent', f.taskId);
    assert.equal(fd.status, 'completed');
    assert.equal(fd.result.isError, true);
    const c = (await call('agent', 't26.confirm_delete', { filename: 'x.txt' })).result;
    const w = await settle('agent', c.taskId, 'input_required');
    assert.equal(w.status, 'input_required');
    const key = Object.keys(w.inputRequests)[0];
    assert.equal(w.inputRequests[key].method, 'elicitation/create');
    const u = await post('agent', 'tasks/update', { taskId: c.taskId,
      inputResponses: { [key]: { action: 'accept', content: { confirm: true } } } });
    assert.deepEqual(u.result, { resultType: 'complete' });
    const d = await settle('agent', c.taskId);
    assert.equal(d.status, 'completed');
    assert.match(d.result.content[0].text, /deleted x\.txt/);
  });

  test('cancel: an empty ack, then cancelled', async () => {
    const c = (await call('agent', 't26.slow_compute', { seconds: 60, label: 'c' })).result;
    const ack = await post('agent', 'tasks/cancel', { taskId: c.taskId });
    assert.deepEqual(ack.result, { resultType: 'complete' });
    assert.equal((await settle('agent', c.taskId)).status, 'cancelled');
  });

  test('policy: a tool the zone may not call is refused with an audit id', async () => {
    const r = await call('agent', 't26.protocol_error_job');
    assert.equal(r.error?.code, -32602);
    assert.match(r.error.message, /Unknown tool/);
    const rec = audit().find((a) => a.id === r.error.data.auditId);
    assert.equal(rec.decision, 'deny');
  });

  test('hostile task ids: tampered, another zone\'s, a requestState, redirected', async () => {
    const c = (await call('agent', 't26.slow_compute', { seconds: 60, label: 'h' })).result;
    const id = c.taskId;
    const i = Math.floor(id.length / 2);
    const flipped = id.slice(0, i) + (id[i] === 'A' ? 'B' : 'A') + id.slice(i + 1);
    refused(await get('agent', flipped), /taskId failed verification|taskId is malformed/);
    refused(await get('agent', 'deadbeef'.repeat(4)), /taskId is malformed/);
    // another agent zone may reach the same tool but not this task
    refused(await get('other', id), /another agent zone/);
    refused(await post('other', 'tasks/cancel', { taskId: id }), /another agent zone/);
    // a requestState of the same key ring is no task id
    const irr = (await call('agent', 't26.test_input_required_result_elicitation', {}, WITH)).result;
    assert.ok(irr?.requestState, JSON.stringify(irr));
    refused(await get('agent', irr.requestState), /not a task id of this gateway/);
    // nor is a task id a requestState
    refused(await post('agent', 'tools/call', { name: 't26.test_input_required_result_elicitation',
      arguments: {}, requestState: id, inputResponses: {} }), /another request/);
    // a name in the request does not move it to another zone
    const r = await post('agent', 'tasks/get', { taskId: id, name: 'dual.slow_compute' });
    assert.equal(r.result?.status, 'working', JSON.stringify(r));
    // the task is still there and the agent can cancel it
    assert.deepEqual((await post('agent', 'tasks/cancel', { taskId: id })).result,
      { resultType: 'complete' });
  });

  test('without the extension: -32021 for tasks methods, calls run as calls', async () => {
    const g = await post('agent', 'tasks/get', { taskId: 'x' }, {});
    assert.equal(g.error?.code, -32021);
    assert.deepEqual(g.error.data.requiredCapabilities, { extensions: { [EXT]: {} } });
    const r = (await call('agent', 't26.slow_compute', { seconds: 0, label: 's' }, {})).result;
    assert.equal(r.resultType, 'complete');
    assert.match(r.content[0].text, /computed s/);
  });

  test('cells not carried: dual and 2025-11-25 zones, 2025-11-25 sessions', async () => {
    for (const z of ['dual', 't25']) {
      const r = (await call('plain', `${z}.slow_compute`, { seconds: 0, label: z })).result;
      assert.equal(r.resultType, 'complete', `${z}: ${JSON.stringify(r)}`);
      assert.equal(r.taskId, undefined);
      assert.match(r.content[0].text, new RegExp(`computed ${z}`));
    }
    const s = await rawSession(url.agent, { authorization: `Bearer ${TOK.agent}` });
    const g = sseOrJson(await s.post({ jsonrpc: '2.0', id: 2, method: 'tasks/get',
      params: { taskId: 'x' } }));
    assert.equal(g.error?.code, -32601);
    assert.match(g.error.message, /tasks are carried for 2026-07-28 requests only/);
    // a 2025-11-25 task parameter is ignored: the call runs as a call
    const c = sseOrJson(await s.post({ jsonrpc: '2.0', id: 3, method: 'tools/call',
      params: { name: 't26.slow_compute', arguments: { seconds: 0, label: 'v1' },
        task: { ttl: 60000 } } }));
    assert.match(c.result?.content?.[0]?.text ?? '', /computed v1/, JSON.stringify(c));
  });

  test('tasks_max: an agent zone\'s tasks are capped, others unaffected', async () => {
    const ids = [];
    for (let i = 0; i < TASKS_MAX; i++) {
      const r = (await call('other', 't26.slow_compute', { seconds: 0, label: `m${i}` })).result;
      assert.equal(r.resultType, 'task', `task ${i}`);
      ids.push(r.taskId);
    }
    // over the cap: an optional task runs as a call, a task-only tool is refused
    const s = (await call('other', 't26.slow_compute', { seconds: 0, label: 'over' })).result;
    assert.equal(s.resultType, 'complete');
    assert.match(s.content[0].text, /computed over/);
    const f = await call('other', 't26.failing_job');
    assert.equal(f.error?.code, -32600, JSON.stringify(f));
    assert.match(f.error.message, /tasks_max/);
    assert.equal(f.error.data.tasksMax, TASKS_MAX);
    // the tasks it has stay reachable; another zone still makes tasks
    assert.equal((await settle('other', ids[0])).status, 'completed');
    assert.equal((await call('agent', 't26.slow_compute', { seconds: 0, label: 'a' }))
      .result.resultType, 'task');
  });

  test('a task id expires with its task, and its slot is freed', async () => {
    const ids = [];
    for (let i = 0; i < TASKS_MAX; i++)
      ids.push((await call('short', 'tshort.slow_compute', { seconds: 0, label: `e${i}` }))
        .result.taskId);
    assert.ok(ids.every(Boolean));
    const over = (await call('short', 'tshort.slow_compute', { seconds: 0, label: 'o' })).result;
    assert.equal(over.resultType, 'complete', 'at the cap: an ordinary call');
    // the zone forgets it after its TTL, the gateway's id expires after it
    await waitFor('expired', async () =>
      /taskId has expired/.test((await get('short', ids[0])).error?.message), 8000);
    refused(await get('short', ids[0]), /taskId has expired/);
    await waitFor('a slot free again', async () =>
      (await call('short', 'tshort.slow_compute', { seconds: 0, label: 'n' })).result
        ?.resultType === 'task', 8000);
  });

  // Proves a task id lives at least as long as its task when ttlMs is not
  // whole seconds: its expiry counts from the issuing second, so 1900 ms
  // once sealed it for 2 s, 1.05-1.15 s from late in a second, and this
  // tasks/get 1.3 s later, while the zone still keeps the task, was
  // refused as expired (red with the life rounded down, gw_tasks.c).
  test('a task id outlives a ttlMs that is not whole seconds', async () => {
    while (Date.now() % 1000 < 850 || Date.now() % 1000 > 950) {
      await new Promise((r) => setTimeout(r, 5));
    }
    const c = (await call('short', 'tshort.slow_compute', { seconds: 0, label: 'late' })).result;
    assert.equal(c.resultType, 'task', JSON.stringify(c));
    await new Promise((r) => setTimeout(r, 1300));
    const g = await get('short', c.taskId);
    assert.equal(g.error, undefined, JSON.stringify(g));
    assert.equal(g.result.taskId, c.taskId);
  });

  test('a task\'s requests are decided by its tool\'s grant: revoked, refused', async () => {
    const c = (await call('agent', 't26.slow_compute', { seconds: 60, label: 'r' })).result;
    assert.equal(c.resultType, 'task');
    const loads = () => audit().filter((r) => r.method === 'policy/reload').length;
    const before = loads();
    writeFileSync(join(dir, 'gw.policy'), 'agent *.greet allow\n');
    gw.kill('SIGHUP');
    await waitFor('policy reload', () => loads() > before);
    const r = await get('agent', c.taskId);
    assert.equal(r.error?.code, -32602, JSON.stringify(r));
    assert.match(r.error.message, /Unknown tool: t26\.slow_compute/);
    const rec = audit().find((a) => a.id === r.error.data.auditId);
    assert.equal(rec.decision, 'deny');
    assert.equal(rec.method, 'tasks/get');
  });
});

// A 2025-11-25 session's answer (JSON or SSE text).
function sseOrJson(text) {
  return text.trimStart().startsWith('{') ? JSON.parse(text) : sseMessages(text).at(-1);
}
