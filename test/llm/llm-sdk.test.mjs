// mcpd --llm end to end, driven by the official TypeScript SDK client over
// stdio: the deterministic mode on the seed pipeline's texts (questions,
// extractive answers with their sources, a report), the argument caps,
// the endpoint mode against the chat completions stand-in
// (test/llm/chat-standin.mjs) in each of its behaviours, the
// configuration errors, --as-of, and that the bearer key (a random string
// made for this run) never appears in mcpd's stderr or in any result.
// Env: MCPD, NODE, NODE_MODULES.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { after, before, describe, test } from 'node:test';

const req = createRequire(join(process.env.NODE_MODULES, 'x.js'));
const load = (m) => import(pathToFileURL(req.resolve(m)).href);
const { Client } = await load('@modelcontextprotocol/sdk/client/index.js');
const { StdioClientTransport } = await load('@modelcontextprotocol/sdk/client/stdio.js');

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..', '..');
const dir = mkdtempSync(join(tmpdir(), 'zg-llm-sdk-'));
const key = `zgk-${randomBytes(18).toString('hex')}`;
const wrongKey = `zgw-${randomBytes(18).toString('hex')}`;
const keyFile = join(dir, 'llm.key');
const wrongKeyFile = join(dir, 'wrong.key');
const model = 'standin-chat';
const results = []; // every result and error seen, checked for the key
let standin, base, stderrText = '';

async function connect(extra) {
  const transport = new StdioClientTransport({
    command: process.env.MCPD, args: ['--stdio', '-v', '--llm', ...extra], stderr: 'pipe',
    env: { PATH: process.env.PATH, ...(process.env.ASAN_OPTIONS ? { ASAN_OPTIONS: process.env.ASAN_OPTIONS } : {}) },
  });
  transport.stderr.on('data', (d) => { stderrText += d; });
  const client = new Client({ name: 'llm-sdk-test', version: '1.0.0' });
  await client.connect(transport);
  return client;
}

async function chat(c, messages, maxTokens, opts) {
  const args = { messages };
  if (maxTokens !== undefined) args.max_tokens = maxTokens;
  try {
    const r = await c.callTool({ name: 'llm_chat', arguments: args }, undefined, opts);
    results.push(JSON.stringify(r));
    return r;
  } catch (e) {
    results.push(String(e.message));
    throw e;
  }
}

const sys = (content) => ({ role: 'system', content });
const user = (content) => ({ role: 'user', content });
const words = (s) => s.split(/\s+/).filter(Boolean).length;
const flat = (s) => s.replace(/\s+/g, ' ');
const question = 'Tell me about container escape vulnerabilities from the past year.';

// A page of data/web/pages as readable text (what web_fetch returns),
// with its URL marker.
function page(file) {
  const html = readFileSync(join(root, 'data/web/pages', file), 'utf8');
  const text = html.replace(/<(script|style|title)[^>]*>[\s\S]*?<\/\1>/g, '')
    .replace(/<\/(p|h1|h2|li|nav)>/g, '\n').replace(/<[^>]+>/g, '').replace(/&#39;/g, "'");
  return `Title: ${file}\nURL: http://web.test/pages/${file}\n\n${text.trim()}`;
}
// A knowledge-base note in rag_search's result format.
const note = (f, i) => `[${i}] notes/${f} #0 (score 0.5)\n${readFileSync(join(root, 'data/corpus/notes', f), 'utf8')}`;

before(async () => {
  writeFileSync(keyFile, `${key}\n`);
  writeFileSync(wrongKeyFile, `${wrongKey}\n`);
  const ready = join(dir, 'ready');
  standin = spawn(process.env.NODE, [join(here, 'chat-standin.mjs'), '--ready', ready, '--key', key,
    '--model', model], { stdio: ['ignore', 'ignore', 'inherit'] });
  for (let i = 0; i < 600 && !existsSync(ready); i++) await new Promise((r) => setTimeout(r, 50));
  base = readFileSync(ready, 'utf8').trim();
});
after(() => { standin.kill(); rmSync(dir, { recursive: true, force: true }); });

describe('deterministic mode', () => {
  let c;
  before(async () => { c = await connect([]); });
  after(async () => { await c.close(); });

  test('llm_chat is listed with its output schema', async () => {
    const t = (await c.listTools()).tools.find((x) => x.name === 'llm_chat');
    assert.ok(t && t.outputSchema && t.inputSchema.properties.messages);
  });

  // The seed question becomes a CVE question bounded by the window the
  // system message gives, and a knowledge-base query on the same topic.
  test('question:cve and question:kb from the seed question', async () => {
    let r = await chat(c, [sys('task: question:cve\nwindow: 2025-01-15..2026-01-15'), user(question)]);
    assert.ok(!r.isError, JSON.stringify(r));
    assert.equal(r.content[0].text,
      'Which CVEs about container escape vulnerabilities were disclosed between 2025-01-15 and 2026-01-15?');
    const s = r.structuredContent;
    assert.equal(s.mode, 'deterministic');
    assert.equal(s.usage.prompt_tokens, words('task: question:cve\nwindow: 2025-01-15..2026-01-15') + words(question));
    assert.equal(s.usage.completion_tokens, words(s.text));
    assert.equal(s.usage.total_tokens, s.usage.prompt_tokens + s.usage.completion_tokens);
    r = await chat(c, [sys('task: question:cve'), user(question)]);
    assert.match(r.content[0].text, /container escape vulnerabilities were disclosed in the past year\?$/);
    r = await chat(c, [sys('task: question:kb'), user(question)]);
    assert.match(r.content[0].text, /^How do container escape vulnerabilities work, .*namespaces/);
    assert.doesNotMatch(r.content[0].text, /past year/);
  });

  // Every line of an answer is a sentence of one given source, ending
  // with that source's marker; a page dated outside the window is left
  // out; the same input gives the same answer.
  test('answer: extractive, with source markers, within the window', async () => {
    const files = ['runc-2025-mount-races.html', 'nvidia-cve-2025-23266.html', 'runc-cve-2024-21626.html'];
    const input = 'Question: Which CVEs about container escape vulnerabilities were disclosed between 2025-01-15 and 2026-01-15?\n\n' +
      files.map(page).join('\n\n');
    const msgs = [sys('task: answer\nwindow: 2025-01-15..2026-01-15'), user(input)];
    const r = await chat(c, msgs, 400);
    assert.ok(!r.isError, JSON.stringify(r));
    const lines = r.content[0].text.split('\n');
    const cited = new Set();
    for (const l of lines.filter((x) => !x.startsWith('Note:'))) {
      const m = l.match(/^(.*) \[source: (\S+)\]$/);
      assert.ok(m, l);
      assert.ok(flat(input).includes(m[1]), `not from the input: ${m[1]}`);
      cited.add(m[2]);
    }
    assert.deepEqual([...cited], files.slice(0, 2).map((f) => `http://web.test/pages/${f}`));
    assert.match(r.content[0].text, /CVE-2025-31133/);
    assert.match(r.content[0].text, /Note: 1 source\(s\) dated outside 2025-01-15\.\.2026-01-15 left out/);
    assert.ok(r.structuredContent.usage.completion_tokens <= 400);
    assert.equal((await chat(c, msgs, 400)).content[0].text, r.content[0].text);
    const short = await chat(c, msgs, 30);
    assert.equal(short.structuredContent.finish_reason, 'length');
    assert.ok(short.structuredContent.usage.completion_tokens <= 30);
  });

  test('answer from knowledge-base results, and a report of two answers', async () => {
    const kb = await chat(c, [sys('task: answer'), user('Question: How do container escape vulnerabilities ' +
      'work, and which isolation mechanisms (namespaces, capabilities, seccomp, cgroups) do they involve?\n\n' +
      [note('container-escapes.md', 1), note('seccomp.md', 2)].join('\n'))]);
    assert.ok(!kb.isError);
    assert.match(kb.content[0].text, /\[source: notes\/container-escapes\.md\]/);
    assert.match(kb.content[0].text, /\[source: notes\/seccomp\.md\]/);
    const web = await chat(c, [sys('task: answer'), user(`Question: container escape CVE\n\n${page('nvidia-cve-2025-23266.html')}`)]);
    const r = await chat(c, [sys('task: report'), user(`Question: ${question}\nSection: CVEs\n${web.content[0].text}\n` +
      `Section: Mechanisms\n${kb.content[0].text}`)], 2000);
    assert.ok(!r.isError, JSON.stringify(r));
    const t = r.content[0].text;
    assert.match(t, /^Report: Tell me about container escape vulnerabilities from the past year\./);
    assert.match(t, /CVEs named: CVE-2025-23266/);
    assert.match(t, /\nCVEs:\n- .*\[1\]/);
    assert.match(t, /\nMechanisms:\n- /);
    const sources = t.slice(t.indexOf('Sources:\n') + 9).trim().split('\n');
    assert.deepEqual(sources, ['[1] http://web.test/pages/nvidia-cve-2025-23266.html',
      '[2] notes/container-escapes.md', '[3] notes/seccomp.md']);
    assert.doesNotMatch(t, /\[source:/);
  });

  test('unknown task and no task', async () => {
    const r = await chat(c, [sys('task: poem'), user('x')]);
    assert.ok(r.isError);
    assert.match(r.content[0].text, /unknown task 'poem'/);
    const s = await chat(c, [user('First sentence here is long. Second one follows it now. Third.')], 10);
    assert.equal(s.content[0].text, 'First sentence here is long. Second one follows it now.');
  });

  // Caps and types: each refused with a clear tool error (the schema's
  // cases by mcpd's argument check, the others by llm_chat itself).
  test('argument caps and wrong types', async () => {
    const many = Array.from({ length: 65 }, () => user('x'));
    const cases = [
      [{ messages: 'hi' }, /messages/], [{ messages: [] }, /messages/], [{ messages: many }, /messages/],
      [{ messages: [{ role: 'tool', content: 'x' }] }, /role/], [{ messages: [{ role: 'user', content: 5 }] }, /content/],
      [{ messages: [user('x')], max_tokens: 0 }, /max_tokens/], [{ messages: [user('x')], max_tokens: 9000 }, /max_tokens/],
      [{ messages: [user('x')], max_tokens: '5' }, /max_tokens/],
      [{ messages: [user('a'.repeat(600000)), user('b'.repeat(600000))] }, /more than 1048576 bytes/],
    ];
    for (const [args, re] of cases) {
      const r = await c.callTool({ name: 'llm_chat', arguments: args });
      assert.ok(r.isError, JSON.stringify(args).slice(0, 80));
      assert.match(r.content[0].text, re);
    }
  });
});

// A new mcpd on the stand-in, in one mode; tag keeps request counts apart.
const endpoint = (mode, tag, extra = []) => connect(['--llm-url', `${base}/${mode}/${tag}/v1`, '--llm-model', model,
  '--llm-key-file', keyFile, '--llm-backoff-ms', '20', '--llm-timeout', '20', ...extra]);
const count = async (mode, tag) => (await (await fetch(`${base}/count?p=/${mode}/${tag}`)).json()).count;
const msgs = [sys('You are terse.'), user('Say hello.')];

describe('endpoint mode against the stand-in', () => {
  // The stand-in answers only a well-formed request with the right key.
  test('a normal answer: text, model, usage', async () => {
    const c = await endpoint('ok', 't1');
    try {
      const r = await chat(c, msgs, 64);
      assert.ok(!r.isError, JSON.stringify(r));
      assert.equal(r.content[0].text, 'You said: Say hello.');
      assert.deepEqual(r.structuredContent.usage, { prompt_tokens: 12, completion_tokens: 4, total_tokens: 16 });
      assert.equal(r.structuredContent.model, `${model}-0001`);
      assert.equal(r.structuredContent.mode, 'endpoint');
      assert.equal(await count('ok', 't1'), 1);
    } finally { await c.close(); }
  });

  // Proves the key scrubbing: the endpoint echoes the key it was sent
  // (the right one, then a wrong one); neither reaches the result.
  test('HTTP 401 with the key echoed: status and message, key masked', async () => {
    for (const [mode, file, k] of [['echokey', keyFile, key], ['ok', wrongKeyFile, wrongKey]]) {
      const c = await connect(['--llm-url', `${base}/${mode}/t2/v1`, '--llm-model', model, '--llm-key-file', file]);
      try {
        const r = await chat(c, msgs);
        assert.ok(r.isError);
        assert.match(r.content[0].text, /HTTP 401: Incorrect API key provided: \*{20,}\. Check your key\. \(1 attempt\)/);
        assert.ok(!r.content[0].text.includes(k));
      } finally { await c.close(); }
    }
  });

  // Counted, not timed: a 429 with Retry-After: 1 is retried once; a
  // Retry-After over the cap ends the call at once.
  test('429: Retry-After honoured within its cap', async () => {
    let c = await endpoint('429once', 't3');
    try {
      const r = await chat(c, msgs);
      assert.ok(!r.isError, JSON.stringify(r));
      assert.equal(await count('429once', 't3'), 2);
    } finally { await c.close(); }
    c = await endpoint('429long', 't4');
    try {
      const r = await chat(c, msgs);
      assert.ok(r.isError);
      assert.match(r.content[0].text, /HTTP 429: Rate limit reached \(Retry-After 3600 s is over the 30 s cap\) \(1 attempt\)/);
      assert.equal(await count('429long', 't4'), 1);
    } finally { await c.close(); }
  });

  // 5xx: retried (--llm-retries, default 2: three attempts); the message
  // is cut on a character boundary.
  test('500: bounded retries, message cut UTF-8-safely', async () => {
    let c = await endpoint('500', 't5');
    try {
      const r = await chat(c, msgs);
      assert.ok(r.isError);
      const t = r.content[0].text;
      assert.match(t, /HTTP 500: Serverfehler: (überlastet, )+(ü|überlast\w*)?\.\.\. \(3 attempts\)$/u);
      assert.ok(!t.includes('\uFFFD') && !t.includes('Ende'));
      assert.ok(Buffer.byteLength(t) < 420);
      assert.equal(await count('500', 't5'), 3);
    } finally { await c.close(); }
    c = await endpoint('500', 't6', ['--llm-retries', '0']);
    try {
      assert.match((await chat(c, msgs)).content[0].text, /\(1 attempt\)/);
      assert.equal(await count('500', 't6'), 1);
    } finally { await c.close(); }
    c = await endpoint('500once', 't7');
    try {
      const r = await chat(c, msgs);
      assert.ok(!r.isError);
      assert.equal(await count('500once', 't7'), 2);
    } finally { await c.close(); }
  });

  test('garbage, no content, oversize: clear errors, no retry', async () => {
    for (const [mode, re] of [['garbage', /the answer is not JSON/], ['nocontent', /no choices\[0\]\.message\.content/],
      ['oversize', /the answer is larger than 65536 bytes/]]) {
      const c = await endpoint(mode, 't8', ['--llm-max-response', '65536']);
      try {
        const r = await chat(c, msgs);
        assert.ok(r.isError, mode);
        assert.match(r.content[0].text, re);
        assert.match(r.content[0].text, /\(1 attempt\)$/);
      } finally { await c.close(); }
      assert.equal(await count(mode, 't8'), 1);
    }
  });

  test('a connection dropped mid-body or refused is retried, then an error', async () => {
    for (const mode of ['drop', 'close']) {
      const c = await endpoint(mode, 't9');
      try {
        const r = await chat(c, msgs);
        assert.ok(r.isError);
        assert.match(r.content[0].text, /connection failed: .* \(3 attempts\)$/);
      } finally { await c.close(); }
      assert.equal(await count(mode, 't9'), 3);
    }
    const free = spawnSync(process.env.NODE, ['-e',
      "const s=require('net').createServer().listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})"]);
    const c = await connect(['--llm-url', `http://127.0.0.1:${String(free.stdout).trim()}/v1`, '--llm-model', model,
      '--llm-backoff-ms', '20']);
    try {
      const r = await chat(c, msgs);
      assert.match(r.content[0].text, /connection failed: Couldn't connect to server \(3 attempts\)/);
    } finally { await c.close(); }
  });

  test('a slow endpoint meets the deadline', async () => {
    const c = await endpoint('slow', 't10', ['--llm-timeout', '1']);
    try {
      const r = await chat(c, msgs);
      assert.ok(r.isError);
      assert.match(r.content[0].text, /no answer within the 1000 ms deadline \(1 attempt\)/);
    } finally { await c.close(); }
  });

  // Proves cancellation: the slow answer's connection closes once the
  // client cancels (the stand-in counts open slow answers).
  test('a cancelled call closes its connection', async () => {
    const c = await endpoint('slow', 't11', ['--llm-timeout', '60']);
    const open = async () => (await (await fetch(`${base}/slow-open`)).json()).open;
    try {
      const ac = new AbortController();
      const call = chat(c, msgs, 8, { signal: ac.signal });
      while (await open() === 0) await new Promise((r) => setTimeout(r, 50));
      ac.abort();
      await assert.rejects(call);
      while (await open() > 0) await new Promise((r) => setTimeout(r, 50));
    } finally { await c.close(); }
  });
});

describe('configuration', () => {
  const run = (args) => {
    const r = spawnSync(process.env.MCPD, ['--stdio', ...args], { input: '', encoding: 'utf8',
      env: { PATH: process.env.PATH, ...(process.env.ASAN_OPTIONS ? { ASAN_OPTIONS: process.env.ASAN_OPTIONS } : {}) } });
    stderrText += r.stderr;
    return r;
  };
  test('bad options are refused at start', () => {
    const cases = [
      [['--llm-url', base], /--llm-\* options need --llm/],
      [['--llm', '--llm-url', base], /--llm-url needs --llm-model/],
      [['--llm', '--llm-model', 'm'], /need --llm-url/],
      [['--llm', '--llm-proxy', '/run/x.sock'], /need --llm-url/],
      [['--llm', '--llm-url', base, '--llm-model', 'm', '--llm-proxy', 'relative.sock'], /--llm-proxy: an absolute/],
      [['--llm', '--llm-url', `http://user:${key}@127.0.0.1:1/v1`, '--llm-model', 'm'], /without credentials/],
      [['--llm', '--llm-url', 'file:///etc/passwd', '--llm-model', 'm'], /only http/],
      [['--llm', '--llm-url', base, '--llm-model', 'm', '--llm-key-file', join(dir, 'none')], /No such file/],
      [['--llm', '--llm-url', base, '--llm-model', 'm', '--llm-timeout', '0'], /--llm-timeout: expected 1\.\.600/],
      [['--as-of', '2026-02-30'], /--as-of: expected YYYY-MM-DD/],
      [['--as-of', '2026-01-15T25:00:00Z'], /--as-of/],
    ];
    for (const [args, re] of cases) {
      const r = run(args);
      assert.notEqual(r.status, 0, args.join(' '));
      assert.match(r.stderr, re, args.join(' '));
    }
    const empty = join(dir, 'empty.key');
    writeFileSync(empty, '\n');
    assert.match(run(['--llm', '--llm-url', base, '--llm-model', 'm', '--llm-key-file', empty]).stderr,
      /first line must hold the key/);
  });

  // time_now of an mcpd started with --as-of DATE.
  async function timeAt(date) {
    const transport = new StdioClientTransport({ command: process.env.MCPD, args: ['--stdio', '--as-of', date],
      env: { PATH: process.env.PATH, ...(process.env.ASAN_OPTIONS ? { ASAN_OPTIONS: process.env.ASAN_OPTIONS } : {}) } });
    const c = new Client({ name: 'llm-sdk-test', version: '1.0.0' });
    await c.connect(transport);
    try {
      return await c.callTool({ name: 'time_now', arguments: {} });
    } finally { await c.close(); }
  }

  test('--as-of fixes time_now and says so', async () => {
    const r = await timeAt('2026-01-15');
    assert.deepEqual(r.structuredContent, { utc: '2026-01-15T00:00:00Z', unix: 1768435200, fixed: true });
    assert.match(r.content[0].text, /2026-01-15T00:00:00Z \(fixed by mcpd --as-of: not the real time\)/);
    assert.equal((await timeAt('2025-06-30T12:34:56Z')).structuredContent.utc, '2025-06-30T12:34:56Z');
  });
});

// Runs last: the key was used in every endpoint case above (and a wrong
// one, and one in a refused URL); none may appear in what mcpd printed or
// returned. Seen to fail with mcpd printing the key at start.
test('the key never appears in stderr or any result', () => {
  assert.ok(results.length > 20);
  assert.match(stderrText, /llm_chat: endpoint mode, model standin-chat, bearer key set/);
  for (const k of [key, wrongKey]) {
    assert.ok(!stderrText.includes(k), 'key in mcpd stderr');
    for (const r of results) assert.ok(!r.includes(k), `key in a result: ${r.slice(0, 200)}`);
  }
  assert.ok(readdirSync(dir).length >= 3);
});
