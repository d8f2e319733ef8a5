// The tasks extension (io.modelcontextprotocol/tasks, SEP-2663) in mcpd,
// through its real interfaces: raw 2026-07-28 requests over Streamable
// HTTP and stdio (the SDK 2.x client has no task API: it only sets the
// Mcp-Name routing header). The fixtures are the conformance suite's
// (test/fixtures/conformance_tasks.c). Caps and TTL are set small with
// mcpd's --max-tasks, --max-task-bytes and --task-ttl.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { waitFor } from '../common/harness.mjs';
import { LATEST, post, rawInit, startHttp, startStdioRaw } from './lib.mjs';

const REV = '2026-07-28';
const EXT = 'io.modelcontextprotocol/tasks';
const SUB_ID = 'io.modelcontextprotocol/subscriptionId';
const WITH = { elicitation: {}, extensions: { [EXT]: {} } };
const WITHOUT = { elicitation: {} };

const req = (id, method, params = {}, caps = WITH) => ({ jsonrpc: '2.0', id, method,
  params: { ...params, _meta: { 'io.modelcontextprotocol/protocolVersion': REV,
    'io.modelcontextprotocol/clientCapabilities': caps } } });

// A stateless POST with the headers the revision requires.
async function call(url, id, method, params = {}, caps = WITH, headers = {}) {
  const name = params.name ?? params.taskId;
  const r = await post(url, req(id, method, params, caps), { version: REV,
    headers: { 'mcp-method': method, ...(name ? { 'mcp-name': name } : {}), ...headers } });
  const msg = Array.isArray(r.json) ? r.json.find((m) => m.id === id) : r.json;
  return { status: r.status, msg };
}

// Polls tasks/get until pred(task) holds; the last answer.
async function until(url, taskId, pred) {
  let last;
  await waitFor(`task ${taskId}`, async () => {
    last = (await call(url, 'g', 'tasks/get', { taskId })).msg;
    return pred(last);
  }, 15000);
  return last;
}

describe('tasks extension over HTTP', () => {
  // Also proves the gate: tasks/* from a client that did not declare the
  // extension are -32021 (red with the declared check off).
  test('discover, task creation, polling, sync fallbacks, errors', async () => {
    const srv = await startHttp();
    try {
      const d = (await call(srv.url, 'd', 'server/discover')).msg.result;
      assert.deepEqual(d.capabilities.extensions, { [EXT]: {} });
      assert.equal(d.capabilities.tasks, undefined);
      // a task-supporting tool, from a client that declares the extension
      const c = (await call(srv.url, 1, 'tools/call',
        { name: 'slow_compute', arguments: { seconds: 1, label: 'a' } })).msg.result;
      assert.equal(c.resultType, 'task');
      assert.match(c.taskId, /^[0-9a-f]{32}$/);
      assert.equal(c.status, 'working');
      assert.equal(c.ttlMs, 900000);
      for (const k of ['result', 'error', 'inputRequests', 'requestState', 'task']) {
        assert.ok(!(k in c), `no ${k} in a CreateTaskResult`);
      }
      // durable: findable at once
      const g = (await call(srv.url, 2, 'tasks/get', { taskId: c.taskId })).msg.result;
      assert.equal(g.resultType, 'complete');
      assert.equal(g.taskId, c.taskId);
      const done = await until(srv.url, c.taskId, (t) => t.result?.status === 'completed');
      assert.equal(done.result.result.content[0].text, 'computed a in 1 s');
      // without the extension: the same tool runs as an ordinary call,
      // a task-only tool is refused, tasks/* are refused
      const sync = (await call(srv.url, 3, 'tools/call',
        { name: 'slow_compute', arguments: { seconds: 0 } }, WITHOUT)).msg.result;
      assert.equal(sync.resultType, 'complete');
      assert.equal(sync.taskId, undefined);
      const req32021 = await call(srv.url, 4, 'tools/call', { name: 'failing_job', arguments: {} },
        WITHOUT);
      assert.equal(req32021.msg.error.code, -32021);
      assert.equal(req32021.status, 400);
      assert.deepEqual(req32021.msg.error.data.requiredCapabilities, { extensions: { [EXT]: {} } });
      for (const m of ['tasks/get', 'tasks/cancel']) {
        assert.equal((await call(srv.url, 5, m, { taskId: c.taskId }, WITHOUT)).msg.error.code, -32021);
      }
      // unknown id; a routing header that does not match; removed methods
      assert.equal((await call(srv.url, 6, 'tasks/get', { taskId: 'nope' })).msg.error.code, -32602);
      const mism = await call(srv.url, 7, 'tasks/get', { taskId: c.taskId }, WITH,
        { 'mcp-name': 'other' });
      assert.equal(mism.status, 400);
      assert.equal(mism.msg.error.code, -32020);
      for (const m of ['tasks/result', 'tasks/list']) {
        assert.equal((await call(srv.url, 8, m, {})).msg.error.code, -32601);
      }
      // a failing tool: completed with isError; a JSON-RPC error: failed
      const f = (await call(srv.url, 9, 'tools/call', { name: 'failing_job', arguments: {} })).msg.result;
      const fd = await until(srv.url, f.taskId, (t) => t.result?.status !== 'working');
      assert.equal(fd.result.status, 'completed');
      assert.equal(fd.result.result.isError, true);
      const p = (await call(srv.url, 10, 'tools/call', { name: 'protocol_error_job', arguments: {} })).msg.result;
      const pd = await until(srv.url, p.taskId, (t) => t.result?.status !== 'working');
      assert.equal(pd.result.status, 'failed');
      assert.equal(pd.result.error.code, -32603);
      assert.equal(pd.result.result, undefined);
      // a 2025-11-25 session knows no tasks: the tool is an ordinary call
      const init = await post(srv.url, { jsonrpc: '2.0', id: 0, method: 'initialize',
        params: { protocolVersion: LATEST, capabilities: { extensions: { [EXT]: {} } },
          clientInfo: { name: 'x', version: '0' } } });
      const sid = init.headers.get('mcp-session-id');
      await post(srv.url, { jsonrpc: '2.0', method: 'notifications/initialized' }, { session: sid });
      const lg = await post(srv.url, { jsonrpc: '2.0', id: 1, method: 'tasks/get',
        params: { taskId: c.taskId } }, { session: sid });
      assert.equal(lg.json.error.code, -32601);
      const ls = await post(srv.url, { jsonrpc: '2.0', id: 2, method: 'tools/call',
        params: { name: 'slow_compute', arguments: { seconds: 0 } } }, { session: sid });
      assert.ok(ls.json.result.content, JSON.stringify(ls.json));
      assert.equal(ls.json.result.taskId, undefined);
    } finally {
      await srv.stop();
    }
  });

  test('cancel, input inside a task (partial answers), MRTR then a task', async () => {
    const srv = await startHttp();
    try {
      const s = (await call(srv.url, 1, 'tools/call', { name: 'slow_compute',
        arguments: { seconds: 60 } })).msg.result;
      const ack = (await call(srv.url, 2, 'tasks/cancel', { taskId: s.taskId })).msg.result;
      assert.deepEqual(ack, { resultType: 'complete' });
      await until(srv.url, s.taskId, (t) => t.result?.status === 'cancelled');
      // cancelling a finished task is the same ack
      assert.deepEqual((await call(srv.url, 3, 'tasks/cancel', { taskId: s.taskId })).msg.result,
        { resultType: 'complete' });
      // multi_input parks with two keys; one answer leaves the other
      const m = (await call(srv.url, 4, 'tools/call', { name: 'multi_input', arguments: {} })).msg.result;
      const w = await until(srv.url, m.taskId, (t) => t.result?.status === 'input_required');
      assert.deepEqual(Object.keys(w.result.inputRequests).sort(), ['first', 'second']);
      assert.equal(w.result.requestState, undefined);
      const ans = (name) => ({ action: 'accept', content: { name, confirm: true } });
      const u1 = await call(srv.url, 5, 'tasks/update', { taskId: m.taskId,
        inputResponses: { first: ans('one'), bogus: ans('x') } });
      assert.deepEqual(u1.msg.result, { resultType: 'complete' });
      const w2 = (await call(srv.url, 6, 'tasks/get', { taskId: m.taskId })).msg.result;
      assert.equal(w2.status, 'input_required');
      assert.deepEqual(Object.keys(w2.inputRequests), ['second']);
      await call(srv.url, 7, 'tasks/update', { taskId: m.taskId,
        inputResponses: { second: ans('two') } });
      const md = await until(srv.url, m.taskId, (t) => t.result?.status === 'completed');
      assert.equal(md.result.result.content[0].text, 'got one and two');
      const bad = await call(srv.url, 8, 'tasks/update', { taskId: m.taskId, inputResponses: 5 });
      assert.equal(bad.msg.error.code, -32602);
      // a key is asked once in a task's life: a tool that asks again
      // fails its task (red without the check: input_required again)
      const ra = (await call(srv.url, 11, 'tools/call', { name: 'test_task_reask',
        arguments: {} })).msg.result;
      await until(srv.url, ra.taskId, (t) => t.result?.status === 'input_required');
      await call(srv.url, 12, 'tasks/update', { taskId: ra.taskId,
        inputResponses: { again: ans('x') } });
      const rf = await until(srv.url, ra.taskId, (t) => t.result?.status === 'failed');
      assert.match(rf.result.error.message, /again for an input/);
      // InputRequiredResult first, then a task that carries the answer
      const r1 = (await call(srv.url, 9, 'tools/call', { name: 'test_tool_with_task',
        arguments: {} })).msg.result;
      assert.equal(r1.resultType, 'input_required');
      assert.equal(r1.taskId, undefined);
      const r2 = (await call(srv.url, 10, 'tools/call', { name: 'test_tool_with_task',
        arguments: {}, inputResponses: { user_name: { action: 'accept',
          content: { name: 'Alice' } } } })).msg.result;
      assert.equal(r2.resultType, 'task');
      const rd = await until(srv.url, r2.taskId, (t) => t.result?.status === 'completed');
      assert.match(rd.result.result.content[0].text, /Hello, Alice!/);
    } finally {
      await srv.stop();
    }
  });

  // The caps: one task more than --max-tasks is refused; the TTL frees a
  // task (and its place under the cap) even if nobody asks for it; a
  // result past --max-task-bytes fails its task instead of being kept,
  // and a request too large to keep makes no task.
  // (Red with the count check off, with the sweeper's expiry off, and
  // with the byte check off.)
  test('caps on tasks and stored bytes, freed at TTL', async () => {
    const srv = await startHttp(['--max-tasks', '2', '--task-ttl', '1500',
      '--max-task-bytes', '4096']);
    try {
      const ids = [];
      for (let i = 0; i < 2; i++) {
        ids.push((await call(srv.url, i, 'tools/call', { name: 'slow_compute',
          arguments: { seconds: 0 } })).msg.result.taskId);
      }
      assert.equal(ids.filter(Boolean).length, 2);
      const third = await call(srv.url, 3, 'tools/call', { name: 'slow_compute',
        arguments: { seconds: 0 } });
      assert.equal(third.msg.error?.code, -32600, JSON.stringify(third.msg));
      assert.match(third.msg.error.message, /too many tasks/);
      for (const id of ids) {
        await until(srv.url, id, (t) => t.error?.code === -32602);
      }
      // places free again; a result over the byte cap fails its task,
      // a request whose own params do not fit makes none
      const huge = await call(srv.url, 11, 'tools/call', { name: 'slow_compute',
        arguments: { seconds: 0, label: 'x'.repeat(5000) } });
      assert.equal(huge.msg.error?.code, -32600, JSON.stringify(huge.msg));
      assert.match(huge.msg.error.message, /task store is full/);
      const big = (await call(srv.url, 4, 'tools/call', { name: 'slow_compute',
        arguments: { seconds: 0, label: 'x'.repeat(2500) } })).msg.result;
      assert.equal(big.resultType, 'task');
      const bd = await until(srv.url, big.taskId, (t) => t.result?.status !== 'working');
      assert.equal(bd.result.status, 'failed');
      assert.match(bd.result.error.message, /larger than the server keeps/);
      const small = (await call(srv.url, 5, 'tools/call', { name: 'slow_compute',
        arguments: { seconds: 0, label: 's' } })).msg.result;
      const sd = await until(srv.url, small.taskId, (t) => t.result?.status !== 'working');
      assert.equal(sd.result.status, 'completed');
    } finally {
      await srv.stop();
    }
  });
});

describe('tasks extension over stdio', () => {
  // notifications/tasks come on the subscription that listens for the
  // task, tagged with its id, each a whole DetailedTask.
  test('status notifications through subscriptions/listen', async () => {
    const io = startStdioRaw();
    try {
      io.send(req(1, 'tools/call', { name: 'confirm_delete', arguments: { filename: 'f' } }));
      const c = (await io.next((m) => m.id === 1)).result;
      assert.equal(c.resultType, 'task');
      io.send(req('L', 'subscriptions/listen', { notifications: { taskIds: [c.taskId, 'unknown'] } }));
      const ack = await io.next((m) => m.method === 'notifications/subscriptions/acknowledged');
      assert.deepEqual(ack.params.notifications.taskIds, [c.taskId]);
      io.send(req('L2', 'subscriptions/listen', { notifications: { taskIds: [c.taskId] } }, WITHOUT));
      assert.equal((await io.next((m) => m.id === 'L2')).error.code, -32021);
      // wait for the input request, answer it, see it complete
      let asked = null;
      await waitFor('input_required', () => {
        io.send(req(`g${io.seen.length}`, 'tasks/get', { taskId: c.taskId }));
        const seen = io.seen.filter((m) => String(m.id).startsWith('g') &&
          m.result?.taskId === c.taskId);
        asked = seen.find((m) => m.result.status === 'input_required');
        return asked;
      }, 10000);
      assert.ok(asked?.result.inputRequests.confirm);
      io.send(req(2, 'tasks/update', { taskId: c.taskId,
        inputResponses: { confirm: { action: 'accept', content: { confirm: true } } } }));
      const fin = await io.next((m) => m.method === 'notifications/tasks' &&
        m.params.status === 'completed', 10000);
      assert.ok(fin, 'a completed notification');
      assert.equal(fin.params._meta[SUB_ID], 'L');
      assert.equal(fin.params.taskId, c.taskId);
      assert.equal(fin.params.result.content[0].text, 'deleted f');
      const statuses = io.seen.filter((m) => m.method === 'notifications/tasks')
        .map((m) => m.params.status);
      assert.ok(statuses.includes('working'), statuses.join());
    } finally {
      await io.close();
    }
  });

  test('a 2025-11-25 session on the same pipe knows no tasks/get', async () => {
    const io = startStdioRaw();
    try {
      await rawInit(io, LATEST, 'i');
      io.send({ jsonrpc: '2.0', id: 'x', method: 'tasks/get', params: { taskId: 'a' } });
      assert.equal((await io.next((m) => m.id === 'x')).error.code, -32601);
    } finally {
      await io.close();
    }
  });
});
