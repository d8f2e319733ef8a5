// mcpd --servers end to end, driven by the official TypeScript SDK client
// over stdio: the npm servers server-everything (one child per session)
// and server-filesystem (shared) hosted by mcpd; their tools, resources,
// templates and prompts, progress, cancellation, the explicit environment,
// a child per session (and one for the shared server), a crash and
// restart, a call in flight when its child dies; the servers file's
// checks (file:line); and hostile children (silent at initialize, floods,
// non-JSON, oversize lines, death mid-call, calls never answered, a stdin
// never read) contained while mcpd serves on, other sessions included.
// Env: MCPD, NODE, NODE_MODULES.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { daemon, stop, waitFor } from '../common/harness.mjs';

const req = createRequire(join(process.env.NODE_MODULES, 'x.js'));
const load = (m) => import(pathToFileURL(req.resolve(m)).href);
const { Client } = await load('@modelcontextprotocol/sdk/client/index.js');
const { StdioClientTransport } = await load('@modelcontextprotocol/sdk/client/stdio.js');
const { StreamableHTTPClientTransport } = await load('@modelcontextprotocol/sdk/client/streamableHttp.js');

const { MCPD, NODE, NODE_MODULES } = process.env;
const here = dirname(fileURLToPath(import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'zg-hosted-'));
const everything = join(NODE_MODULES, '@modelcontextprotocol/server-everything/dist/index.js');
const filesystem = join(NODE_MODULES, '@modelcontextprotocol/server-filesystem/dist/index.js');
const hostile = join(here, 'hostile-server.mjs');
const muteSh = join(here, 'mute-server.sh');
after(() => rmSync(dir, { recursive: true, force: true }));

function writeServers(name, servers) {
  const f = join(dir, name);
  writeFileSync(f, JSON.stringify({ mcpServers: servers }, null, 2));
  return f;
}

// An SDK client on a fresh mcpd; c.log collects mcpd's stderr, c.pid.
async function start(file, extra = [], capabilities = {}) {
  const transport = new StdioClientTransport({
    command: MCPD, args: ['--stdio', '--servers', file, ...extra], stderr: 'pipe',
    env: { PATH: process.env.PATH, HOME: '/nonexistent', SECRET_OF_MCPD: 'leak',
      ...(process.env.ASAN_OPTIONS ? { ASAN_OPTIONS: process.env.ASAN_OPTIONS } : {}) },
  });
  const client = new Client({ name: 'hosted-test', version: '1.0.0' }, { capabilities });
  const log = { text: '' };
  transport.stderr.on('data', (d) => { log.text += d; });
  await client.connect(transport);
  return { client, log, pid: transport.pid, transport };
}

// Child processes of pid whose command line contains match, oldest first
// (by start time: pids may wrap around).
function children(pid, match) {
  const found = [];
  for (const p of readdirSync('/proc')) {
    if (!/^\d+$/.test(p)) continue;
    try {
      const stat = readFileSync(`/proc/${p}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(f[1]) === pid && readFileSync(`/proc/${p}/cmdline`, 'utf8').includes(match))
        found.push({ pid: Number(p), start: Number(f[19]) });
    } catch { /* gone */ }
  }
  return found.sort((a, b) => a.start - b.start || a.pid - b.pid).map((c) => c.pid);
}

const text = (r) => r.content.map((c) => c.text).join('');

// An SDK client in a new session of mcpd --http at url: { c, t }.
async function connectHttp(url, name) {
  const c = new Client({ name, version: '1.0.0' });
  const t = new StreamableHTTPClientTransport(new URL(url));
  await c.connect(t);
  return { c, t };
}

describe('servers file checks', () => {
  const check = (servers, raw) => {
    const f = join(dir, 'bad.json');
    writeFileSync(f, raw ?? JSON.stringify({ mcpServers: servers }, null, 2));
    const r = spawnSync(MCPD, ['--servers', f], { input: '', encoding: 'utf8' });
    assert.notEqual(r.status, 0);
    return r.stderr;
  };
  // Proves: a typo is an error naming its line, never silently ignored.
  test('unknown key, at its line', () => {
    const e = check({ a: { command: 'true' }, b: { command: 'true', argz: [] } });
    assert.match(e, /bad\.json:8: unknown key 'argz'/);
  });
  test('names, commands, types and caps', () => {
    assert.match(check({ 'a.b': { command: 'true' } }), /server name 'a\.b'/);
    assert.match(check({ a: { args: [] } }), /a: no command/);
    assert.match(check({ a: { command: 'no-such-command-zg' } }), /not found on PATH/);
    assert.match(check({ a: { command: 'true', type: 'sse' } }), /only "stdio"/);
    assert.match(check({ a: { command: 'true', env: { 'A=B': 'x' } } }), /env: A=B/);
    assert.match(check({ a: { command: 'true', args: Array(65).fill('x') } }), /at most 64/);
    const many = {};
    for (let i = 0; i < 33; i++) many[`s${i}`] = { command: 'true' };
    assert.match(check(many), /at most 32 servers/);
    assert.match(check(null, '{"mcpServers": {\n"a": {"command": }}}'), /bad\.json:2:/);
  });
});

describe('hosted server-everything and server-filesystem', () => {
  let m;
  const files = join(dir, 'files');
  before(async () => {
    spawnSync('mkdir', ['-p', files]);
    writeFileSync(join(files, 'note.txt'), 'hosted hello\n');
    const f = writeServers('servers.json', {
      ev: { command: NODE, args: [everything, 'stdio'], env: { ZG_MARK: 'm1' } },
      fs: { command: NODE, args: [filesystem, files], shared: true },
    });
    m = await start(f, [], { sampling: {} });
  });
  after(async () => { await m.client.close(); });

  // Proves: a server request of the session's child (sampling) reaches
  // this session's client during the call, and its answer the child.
  test('sampling requests of a child reach the client', async () => {
    const { CreateMessageRequestSchema } = await load('@modelcontextprotocol/sdk/types.js');
    const asked = [];
    m.client.setRequestHandler(CreateMessageRequestSchema, (r) => {
      asked.push(r.params.messages[0].content.text);
      return { role: 'assistant', model: 'test-model', content: { type: 'text', text: 'sampled 42' } };
    });
    const r = await m.client.callTool({ name: 'ev.trigger-sampling-request',
      arguments: { prompt: 'what is six times seven', maxTokens: 10 } });
    assert.match(text(r), /sampled 42/);
    assert.equal(asked.length, 1);
    assert.match(asked[0], /what is six times seven/);
  });

  // Proves: a subscription reaches the session's child, and its updates
  // reach this client (server-everything sends them every 5 s once
  // toggled on).
  test('resource subscriptions pass through', async () => {
    const { ResourceUpdatedNotificationSchema } = await load('@modelcontextprotocol/sdk/types.js');
    const uri = 'demo://resource/dynamic/text/1';
    const updates = [];
    m.client.setNotificationHandler(ResourceUpdatedNotificationSchema, (n) => updates.push(n.params.uri));
    await m.client.callTool({ name: 'ev.echo', arguments: { message: 'start my child' } });
    await m.client.subscribeResource({ uri });
    await m.client.callTool({ name: 'ev.toggle-subscriber-updates', arguments: {} });
    await waitFor('an update', () => updates.length > 0, 15000);
    assert.equal(updates[0], uri);
    await m.client.callTool({ name: 'ev.toggle-subscriber-updates', arguments: {} });
    await m.client.unsubscribeResource({ uri });
  });

  test('tools, resources, templates and prompts listed next to mcpd\'s own', async () => {
    const tools = (await m.client.listTools()).tools.map((t) => t.name);
    for (const n of ['time_now', 'ev.echo', 'ev.get-env', 'fs.read_text_file', 'fs.list_directory'])
      assert.ok(tools.includes(n), n);
    assert.ok(tools.every((n) => n === 'time_now' || /^(ev|fs)\./.test(n)));
    const res = (await m.client.listResources()).resources.map((r) => r.uri);
    assert.ok(res.some((u) => u.startsWith('demo://resource/static/')), res.join());
    const tpl = (await m.client.listResourceTemplates()).resourceTemplates.map((t) => t.uriTemplate);
    assert.ok(tpl.includes('demo://resource/dynamic/text/{resourceId}'));
    const prompts = (await m.client.listPrompts()).prompts.map((p) => p.name);
    assert.ok(prompts.includes('ev.args-prompt'));
  });

  test('calls, reads and prompts reach the servers', async () => {
    assert.equal(text(await m.client.callTool({ name: 'ev.echo', arguments: { message: 'hi' } })), 'Echo: hi');
    const r = await m.client.callTool({ name: 'fs.read_text_file',
      arguments: { path: join(files, 'note.txt') } });
    assert.match(text(r), /hosted hello/);
    const t = await m.client.readResource({ uri: 'demo://resource/dynamic/text/7' });
    assert.match(t.contents[0].text, /Resource 7/);
    const p = await m.client.getPrompt({ name: 'ev.args-prompt', arguments: { city: 'Oslo' } });
    assert.match(JSON.stringify(p.messages), /Oslo/);
    const c = await m.client.complete({ ref: { type: 'ref/prompt', name: 'ev.completable-prompt' },
      argument: { name: 'department', value: 'Eng' } });
    assert.deepEqual(c.completion.values, ['Engineering']);
  });

  // Proves: progress notifications of the child reach the client, each.
  test('progress passes through', async () => {
    const seen = [];
    const r = await m.client.callTool({ name: 'ev.trigger-long-running-operation',
      arguments: { duration: 1, steps: 4 } }, undefined, { onprogress: (p) => seen.push(p.progress) });
    assert.match(text(r), /completed/);
    // the SDK over stdio drops a notification that arrives in the same
    // read as the response (docs/conformance.md), so the last may be lost
    assert.deepEqual(seen, [1, 2, 3, 4].slice(0, seen.length));
    assert.ok(seen.length >= 3, JSON.stringify(seen));
  });

  // Proves: a hosted server sees its entry's variables and PATH, nothing
  // of mcpd's environment (HOME, SECRET_OF_MCPD are set for mcpd).
  test('the environment is explicit', async () => {
    const env = JSON.parse(text(await m.client.callTool({ name: 'ev.get-env', arguments: {} })));
    assert.equal(env.ZG_MARK, 'm1');
    assert.equal(env.SECRET_OF_MCPD, undefined);
    assert.equal(env.HOME, undefined);
    assert.deepEqual(Object.keys(env).filter((k) => !['ZG_MARK', 'PATH'].includes(k)), []);
  });

  // Proves: each session gets its own child of a per-session server (the
  // listing child plus one per session), a shared server has one, and a
  // session's child ends with its session.
  test('one child per session; shared: one for all', async () => {
    const ev0 = children(m.pid, 'server-everything');
    assert.equal(ev0.length, 2, 'listing child and this session\'s');
    assert.equal(children(m.pid, 'server-filesystem').length, 1);
  });

  test('cancellation passes through; the session goes on', async () => {
    const ac = new AbortController();
    let started;
    const first = new Promise((res) => { started = res; });
    const call = m.client.callTool({ name: 'ev.trigger-long-running-operation',
      arguments: { duration: 20, steps: 20 } }, undefined,
    { signal: ac.signal, onprogress: () => started() });
    await first;
    ac.abort('enough');
    await assert.rejects(call);
    assert.equal(text(await m.client.callTool({ name: 'ev.echo', arguments: { message: 'after' } })), 'Echo: after');
  });

  // Proves: a call in flight when its child dies fails with a clear error,
  // and the next call gets a restarted child (after the back-off).
  test('a child that dies mid-call: clear error, then restart', async () => {
    let started;
    const first = new Promise((res) => { started = res; });
    const call = m.client.callTool({ name: 'ev.trigger-long-running-operation',
      arguments: { duration: 30, steps: 30 } }, undefined, { onprogress: () => started() });
    await first;
    const [, mine] = children(m.pid, 'server-everything');
    process.kill(mine, 'SIGKILL');
    const r = await call;
    assert.equal(r.isError, true);
    assert.match(text(r), /server ev stopped \(killed by signal 9\)/);
    await waitFor('a restarted child', async () =>
      !(await m.client.callTool({ name: 'ev.echo', arguments: { message: 'x' } })).isError, 15000);
    await waitFor('the log line', () =>
      /\[ev\] stopped \(killed by signal 9\) in a session; restarting in 1 s/.test(m.log.text));
  });

  // Proves: while the listing child is down its entries leave the lists
  // (list_changed), and come back when it is restarted.
  test('the listing child crashes: tools leave and come back', async () => {
    const changes = [];
    m.client.setNotificationHandler((await load('@modelcontextprotocol/sdk/types.js'))
      .ToolListChangedNotificationSchema, () => changes.push(1));
    const [main] = children(m.pid, 'server-everything');
    process.kill(main, 'SIGKILL');
    await waitFor('ev tools gone', async () =>
      !(await m.client.listTools()).tools.some((t) => t.name.startsWith('ev.')));
    await waitFor('ev tools back', async () =>
      (await m.client.listTools()).tools.some((t) => t.name === 'ev.echo'), 15000);
    assert.ok(changes.length >= 2, `list_changed seen ${changes.length} times`);
    assert.ok((await m.client.listTools()).tools.some((t) => t.name === 'fs.read_text_file'));
  });

  test('stderr lines carry the server\'s name', async () => {
    await waitFor('the log line', () =>
      /mcpd: \[fs\] Secure MCP Filesystem Server running on stdio/.test(m.log.text));
  });
});

describe('hostile children are contained', () => {
  let m;
  before(async () => {
    const h = (mode, extra = {}) => ({ command: NODE, args: [hostile, mode], ...extra });
    const f = writeServers('hostile.json', {
      silent: h('silent', { init_timeout: 1 }), nolist: h('nolist', { init_timeout: 1 }),
      flood: h('flood'), garbage: h('garbage', { call_timeout: 5 }),
      oversize: h('oversize'), exit: h('exit'), ok: h('ok'), deaf: h('deaf'),
      slow: h('mute', { call_timeout: 1 }), mute: h('mute'),
    });
    m = await start(f, ['--max-message', '1048576']);
  });
  after(async () => { await m.client.close(); });

  // Proves: a server that never answers initialize does not hold mcpd up
  // (the deadline), and is retried.
  test('silent at initialize: deadline, reported', async () => {
    await waitFor('the log line', () =>
      /\[silent\] cannot start: server silent did not answer initialize within 1 s/.test(m.log.text));
    const tools = (await m.client.listTools()).tools.map((t) => t.name);
    assert.ok(!tools.some((n) => n.startsWith('silent.')));
    assert.ok(tools.includes('ok.go'));
  });

  // Proves: a server that never answers its lists holds nothing up either
  // (they have the initialize deadline).
  test('silent at tools/list: deadline, reported', async () => {
    await waitFor('the log line', () =>
      /\[nolist\] tools\/list: server nolist did not answer tools\/list within 1 s/.test(m.log.text));
    const tools = (await m.client.listTools()).tools.map((t) => t.name);
    assert.ok(!tools.some((n) => n.startsWith('nolist.')));
    assert.ok((await m.client.listResources()).resources.some((r) => r.uri === 'own://nolist'));
  });

  test('an invalid tool name is refused with a log line, never renamed', async () => {
    await waitFor('the log line', () =>
      /\[ok\] tool 'bad name!' refused: not a valid MCP name/.test(m.log.text));
    const tools = (await m.client.listTools()).tools.map((t) => t.name);
    assert.ok(!tools.some((n) => /bad/.test(n)), tools.join());
  });

  // Proves: a URI two servers claim is served by neither (a log line
  // says so), and each server's own URIs are read from it.
  test('a URI two servers claim is refused for both', async () => {
    await waitFor('the log line', () =>
      /resource 'twin:\/\/shared' refused: claimed by another hosted server too/.test(m.log.text));
    const uris = (await m.client.listResources()).resources.map((r) => r.uri);
    assert.ok(uris.includes('own://ok') && uris.includes('own://exit'), uris.join());
    assert.ok(!uris.includes('twin://shared'), uris.join());
    const r = await m.client.readResource({ uri: 'own://ok' });
    assert.equal(r.contents[0].text, 'read by ok');
    await assert.rejects(m.client.readResource({ uri: 'twin://shared' }), /-32002|not found/i);
  });

  // Proves: a session's child's log messages reach it filtered by the
  // level the session set (mcpd answers logging/setLevel itself).
  test('child log messages follow the session\'s level', async () => {
    const { LoggingMessageNotificationSchema } = await load('@modelcontextprotocol/sdk/types.js');
    const got = [];
    m.client.setNotificationHandler(LoggingMessageNotificationSchema, (n) => got.push(n.params.level));
    await m.client.setLoggingLevel('warning');
    assert.equal(text(await m.client.callTool({ name: 'ok.go', arguments: {} })), 'fine');
    await waitFor('five messages', () => got.length >= 5);
    await m.client.callTool({ name: 'time_now', arguments: {} }); // anything late is in by now
    assert.deepEqual(got, ['warning', 'error', 'critical', 'alert', 'emergency']);
    await m.client.setLoggingLevel('debug');
  });

  // Proves: a child that stops reading its stdin cannot block the calls
  // that write to it: after the write deadline it is stopped, and both the
  // call it sat on and the one whose write it blocked fail with the reason.
  test('deaf: a child that stops reading is stopped', async () => {
    const first = m.client.callTool({ name: 'deaf.go', arguments: {} });
    // the session's own child has stopped reading (the listing child
    // says "in mode deaf" too, long before): only then can the next
    // message be stuck in its pipe
    await waitFor('the child paused', () => /deaf: no longer reading stdin/.test(m.log.text));
    const big = m.client.callTool({ name: 'deaf.go', arguments: { pad: 'z'.repeat(600000) } });
    for (const r of await Promise.all([first, big])) {
      assert.equal(r.isError, true);
      assert.match(text(r), /server deaf stopped \(does not read its stdin\)/);
    }
    assert.match(m.log.text, /\[deaf\] does not read its stdin; stopping it/);
    assert.equal(text(await m.client.callTool({ name: 'ok.go', arguments: {} })), 'fine');
  });

  // A call to a running child is sent from the transport's thread with no
  // thread waiting for it (mcp/hosted.c, tool_async): its deadline and
  // its cancellation are the ticker's. The first call of each server
  // starts the session's child (on a worker); the next is sent that way.
  // Proves: such a call that the child never answers ends at its
  // call_timeout with a clear error, and the child is told
  // (notifications/cancelled, reason timeout).
  test('a call never answered: its deadline ends it, the child is told', async () => {
    assert.equal(text(await m.client.callTool({ name: 'slow.go', arguments: { answer: true } })), 'fine');
    const r = await m.client.callTool({ name: 'slow.go', arguments: {} });
    assert.equal(r.isError, true);
    assert.match(text(r), /server slow did not answer tools\/call within 1 s/);
    const id = [...m.log.text.matchAll(/\[slow\] mute: call (\d+)/g)].pop()[1];
    await waitFor('the child told', () =>
      m.log.text.includes(`[slow] mute: cancelled ${id} (timeout)`));
  });

  // Proves: cancelling such a call tells the child which request it was,
  // and the session goes on.
  test('a call cancelled by its client: the child is told', async () => {
    assert.equal(text(await m.client.callTool({ name: 'mute.go', arguments: { answer: true } })), 'fine');
    const before = [...m.log.text.matchAll(/\[mute\] mute: call (\d+)/g)].length;
    const ac = new AbortController();
    const call = m.client.callTool({ name: 'mute.go', arguments: {} }, undefined, { signal: ac.signal });
    await waitFor('the call at the child', () =>
      [...m.log.text.matchAll(/\[mute\] mute: call (\d+)/g)].length > before);
    const id = [...m.log.text.matchAll(/\[mute\] mute: call (\d+)/g)].pop()[1];
    ac.abort('enough');
    await assert.rejects(call);
    await waitFor('the child told', () =>
      m.log.text.includes(`[mute] mute: cancelled ${id} (cancelled)`));
    assert.equal(text(await m.client.callTool({ name: 'mute.go', arguments: { answer: true } })), 'fine');
  });

  const cases = [
    ['flood', /server flood stopped \(flooding: over 2000 unsolicited messages in a second\)/],
    ['garbage', /server garbage stopped \(16 messages that are not JSON-RPC/],
    ['oversize', /server oversize stopped \(a message over 1048576 bytes\)/],
    ['exit', /server exit stopped \(exit status 3\)/],
  ];
  for (const [name, why] of cases) {
    // Proves: the misbehaving child is stopped for its own fault, its
    // call fails with the reason, and mcpd and the other servers go on.
    test(`${name}: stopped, reported, mcpd serves on`, async () => {
      const r = await m.client.callTool({ name: `${name}.go`, arguments: {} });
      assert.equal(r.isError, true);
      assert.match(text(r), why);
      await waitFor('the log line', () => new RegExp(`\\[${name}\\] stopped`).test(m.log.text));
      assert.equal(text(await m.client.callTool({ name: 'ok.go', arguments: {} })), 'fine');
      assert.ok(!(await m.client.callTool({ name: 'time_now', arguments: {} })).isError);
    });
  }
});

// Proves: per-session children are capped per server (max_children), so
// clients opening sessions cannot make mcpd start processes without end;
// a session that ends frees its place.
describe('per-session children are capped', () => {
  let d, url;
  before(async () => {
    const f = writeServers('capped.json', { ok: { command: NODE, args: [hostile, 'ok'], max_children: 1 } });
    const ready = join(dir, 'capped.ready');
    d = daemon(MCPD, ['--http', '127.0.0.1:0', '--ready-file', ready, '--servers', f],
      { PATH: process.env.PATH, ...(process.env.ASAN_OPTIONS ? { ASAN_OPTIONS: process.env.ASAN_OPTIONS } : {}) });
    await waitFor('mcpd listening', () => readFileSync(ready, 'utf8').includes('/mcp'), 15000);
    url = readFileSync(ready, 'utf8').trim();
  });
  after(async () => { await stop(d); });

  test('max_children: one session with a child, the next refused until it ends', async () => {
    const connect = () => connectHttp(url, 'capped');
    const a = await connect();
    const b = await connect();
    assert.equal(text(await a.c.callTool({ name: 'ok.go', arguments: {} })), 'fine');
    const r = await b.c.callTool({ name: 'ok.go', arguments: {} });
    assert.equal(r.isError, true);
    assert.match(text(r), /hosted server ok has 1 sessions with a child of their own already/);
    assert.equal(children(d.pid, 'hostile-server').length, 2, 'listing child and a\'s');
    await a.t.terminateSession();
    await a.c.close();
    await waitFor('a\'s child gone', () => children(d.pid, 'hostile-server').length === 1);
    assert.equal(text(await b.c.callTool({ name: 'ok.go', arguments: {} })), 'fine');
    await b.t.terminateSession();
    await b.c.close();
  });
});

// A call to a running child is written by the transport's thread (one
// thread for every HTTP session), so that write must never wait.
// Proves: session a's child stops reading and a pile of a's calls fills
// its pipe; every one of them still leaves the transport's thread at once
// (the request log shows them all: the calls that found the pipe full
// wait on workers), session b is served meanwhile, and a's calls end at
// the write deadline with the reason.
describe('a child that stops reading holds up no other session', () => {
  let d, url;
  before(async () => {
    const f = writeServers('stall.json', {
      deaf: { command: NODE, args: [hostile, 'deaf'] }, ok: { command: NODE, args: [hostile, 'ok'] },
    });
    const ready = join(dir, 'stall.ready');
    d = daemon(MCPD, ['--http', '127.0.0.1:0', '--ready-file', ready, '-v', '--workers', '128',
      '--servers', f],
      { PATH: process.env.PATH, ...(process.env.ASAN_OPTIONS ? { ASAN_OPTIONS: process.env.ASAN_OPTIONS } : {}) });
    await waitFor('mcpd listening', () => readFileSync(ready, 'utf8').includes('/mcp'), 15000);
    url = readFileSync(ready, 'utf8').trim();
  });
  after(async () => { await stop(d); });

  test('a full pipe of one session\'s child, another session served', async () => {
    const connect = () => connectHttp(url, 'stall');
    const calls = () => (d.log.match(/mcpd: request tools\/call/g) || []).length;
    const a = await connect();
    const b = await connect();
    const settled = [];
    const track = (p) => p.then((r) => { settled.push(r); return r; }, (e) => { settled.push(e); throw e; });
    const pending = [track(a.c.callTool({ name: 'deaf.go', arguments: {} }, undefined, { timeout: 60000 }))];
    await waitFor('a\'s child paused', () => /deaf: no longer reading stdin/.test(d.log));
    // 60 lines of 4 KB each (just under PIPE_BUF, so sent from the
    // transport's thread when there is room): far more than the 64 KiB
    // pipe and what the child buffered before it stopped can take, so
    // that many wait for room (on workers: --workers 128, so that b's
    // call finds one free) and one of them meets the write deadline
    for (let i = 0; i < 60; i++)
      pending.push(track(a.c.callTool({ name: 'deaf.go', arguments: { pad: 'z'.repeat(3900) } },
        undefined, { timeout: 60000 })));
    await waitFor('all of a\'s calls dispatched', () => calls() >= 61);
    assert.equal(text(await b.c.callTool({ name: 'ok.go', arguments: {} })), 'fine');
    assert.equal(settled.length, 0, 'a\'s calls still wait for the deaf child');
    for (const r of await Promise.all(pending)) {
      assert.equal(r.isError, true);
      assert.match(text(r), /server deaf stopped \(does not read its stdin\)/);
    }
    for (const x of [a, b]) { await x.t.terminateSession(); await x.c.close(); }
  });
});

// A daemon mcpd --http with the servers of file: { d, url }.
async function httpMcpd(name, file, extra = []) {
  const ready = join(dir, `${name}.ready`);
  const d = daemon(MCPD, ['--http', '127.0.0.1:0', '--ready-file', ready, ...extra, '--servers', file],
    { PATH: process.env.PATH, ...(process.env.ASAN_OPTIONS ? { ASAN_OPTIONS: process.env.ASAN_OPTIONS } : {}) });
  await waitFor('mcpd listening', () => readFileSync(ready, 'utf8').includes('/mcp'), 15000);
  return { d, url: readFileSync(ready, 'utf8').trim() };
}

// The deadlines and cancellations of calls sent from the transport's
// thread are the ticker's (mcp/hosted.c), one thread for every session
// and server, which pins 64 busy slots per pass and makes as many passes
// as it takes. Proves: with 70 sessions each with such a call in flight
// (never answered, long deadline), the cancellations of the 6 sessions
// whose slots come last (slots are kept newest first: these started their
// children first) reach their children, counted in the children's log
// lines (seen red with a single pass of 64: those 6 were never looked at
// while the 64 others stayed busy, and no notice arrived).
describe('the ticker checks every busy session, past 64', () => {
  const N = 70, LATE = 6;
  let m;
  before(async () => {
    const f = writeServers('many.json', {
      mute: { command: '/bin/sh', args: [muteSh], call_timeout: 120, max_children: 128 },
    });
    m = await httpMcpd('many', f, ['--max-sessions', '128']);
  });
  after(async () => { await stop(m.d); });

  test(`${N} busy sessions: the cancellations of the last ${LATE} reach their children`, async () => {
    const sessions = [];
    for (let i = 0; i < N; i++) sessions.push(await connectHttp(m.url, `busy${i}`));
    // one at a time, so that the slots' order is the sessions' order;
    // each first call starts its child (and is answered), so that the
    // next is sent from the transport's thread
    for (const x of sessions)
      assert.equal(text(await x.c.callTool({ name: 'mute.wait', arguments: { answer: true } },
        undefined, { timeout: 60000 })), 'fine');
    const aborts = sessions.map(() => new AbortController());
    const calls = sessions.map((x, i) => x.c.callTool({ name: 'mute.wait', arguments: {} },
      undefined, { timeout: 120000, signal: aborts[i].signal }).catch((e) => e));
    await waitFor('every call at its child', () =>
      (m.d.log.match(/\[mute\] mute-sh: call \d+/g) || []).length >= 2 * N, 30000);
    for (let i = 0; i < LATE; i++) aborts[i].abort('enough');
    await Promise.all(calls.slice(0, LATE));
    const told = () => (m.d.log.match(/\[mute\] mute-sh: cancelled \d+/g) || []).length;
    await waitFor(`${LATE} children told`, () => told() >= LATE, 15000);
    assert.equal(told(), LATE);
  });
});

// The ticker tells a child about a call past its deadline (or cancelled)
// with notifications/cancelled. Proves: when one child's stdin is held
// (a worker waits, up to the 10 s write deadline, to write a large call
// into the full pipe of a child that stopped reading), the ticker does not
// wait with it: the notice to that child is dropped with a log line, and
// a call to another server still ends at its 2 s deadline while that
// child is not yet stopped (seen red with the ticker's writes waiting:
// the other call ended only after the stuck child was stopped, 10 s on).
describe('the ticker never waits for a child\'s stdin', () => {
  let m;
  before(async () => {
    // deaf first: the ticker looks at it before slow
    const f = writeServers('tickwait.json', {
      deaf: { command: NODE, args: [hostile, 'deaf'], call_timeout: 2 },
      slow: { command: NODE, args: [hostile, 'mute'], call_timeout: 2 },
    });
    m = await httpMcpd('tickwait', f, ['--workers', '8']);
  });
  after(async () => { await stop(m.d); });

  test('a full pipe of one child holds up no other call\'s deadline', async () => {
    const { c, t } = await connectHttp(m.url, 'tickwait');
    // start both children (a read starts deaf's without a call)
    await c.readResource({ uri: 'own://deaf' });
    assert.equal(text(await c.callTool({ name: 'slow.go', arguments: { answer: true } })), 'fine');
    // a call to the running deaf child, sent from the transport's thread:
    // it stops reading; its deadline is the ticker's
    const first = c.callTool({ name: 'deaf.go', arguments: {} }, undefined, { timeout: 60000 });
    await waitFor('deaf paused', () => /deaf: no longer reading stdin/.test(m.d.log));
    // over PIPE_BUF: written by a worker that waits for room, holding
    // the child's stdin until the write deadline
    const big = c.callTool({ name: 'deaf.go', arguments: { pad: 'z'.repeat(600000) } },
      undefined, { timeout: 60000 });
    const r = await c.callTool({ name: 'slow.go', arguments: {} }, undefined, { timeout: 60000 });
    assert.equal(r.isError, true);
    assert.match(text(r), /server slow did not answer tools\/call within 2 s/);
    assert.doesNotMatch(m.d.log, /\[deaf\] does not read its stdin; stopping it/,
      'the other call ended before the stuck child was stopped');
    await waitFor('the dropped notice logged', () =>
      /\[deaf\] stdin full or busy: message not sent \(.*notifications\/cancelled/.test(m.d.log));
    for (const x of await Promise.all([first, big])) {
      assert.equal(x.isError, true);
      assert.match(text(x), /server deaf (did not answer|stopped)/);
    }
    await t.terminateSession();
    await c.close();
  });
});

// One thread reads every child's stdout (mcp/hosted_child.c, hpoll) and
// answers the children's pings there. Proves: a child that stops reading
// its stdin and pings mcpd until the answers overflow its pipe does not
// hold that thread up: another server's call is answered while that
// child is not yet stopped, and the answers that did not fit are dropped
// with a log line (seen red with that thread's writes waiting: the other
// call was answered only once the pinging child was stopped at the 10 s
// write deadline).
describe('a child that pings without reading holds up no other child', () => {
  let m;
  before(async () => {
    const f = writeServers('pingdeaf.json', {
      pingdeaf: { command: NODE, args: [hostile, 'pingdeaf'], call_timeout: 60 },
      ok: { command: NODE, args: [hostile, 'ok'] },
    });
    m = await start(f);
  });
  after(async () => { await m.client.close(); });

  test('its pings\' answers are dropped, not waited for', async () => {
    assert.equal(text(await m.client.callTool({ name: 'ok.go', arguments: {} })), 'fine');
    const stuck = m.client.callTool({ name: 'pingdeaf.go', arguments: {} }, undefined,
      { timeout: 120000 }).catch((e) => e);
    await waitFor('the pings sent', () => /pingdeaf: 1500 pings sent/.test(m.log.text));
    assert.equal(text(await m.client.callTool({ name: 'ok.go', arguments: {} })), 'fine');
    assert.doesNotMatch(m.log.text, /\[pingdeaf\] does not read its stdin/);
    await waitFor('the dropped answers logged', () =>
      /\[pingdeaf\] stdin full or busy: message not sent \(\{"jsonrpc":"2.0","id":"ppp/.test(m.log.text));
    void stuck;
  });
});
