// mcpd --web end to end, driven by the official TypeScript SDK client over
// stdio, against the local web host (test/web/webhost.mjs, loopback only):
// a page fetched with a --web-allow exception, the egress refusals (no
// exception, other port, a name that resolves to loopback, every forbidden
// address form, redirects to forbidden places, userinfo), the caps (huge
// body, gzip bomb, deadline, redirects), charsets, non-HTML types, and
// web_search through the SearXNG and Brave backends. No packet leaves
// loopback: forbidden addresses are refused before any connection.
// Env: MCPD, NODE, NODE_MODULES.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
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
const dir = mkdtempSync(join(tmpdir(), 'zg-web-sdk-'));
const keyFile = join(dir, 'brave.key');
const braveKey = 'test-key-7f3e9a';
let host, base, port, stderrText = '';

async function connect(extra, opts = {}) {
  const transport = new StdioClientTransport({
    command: process.env.MCPD, args: ['--stdio', '--web', ...extra], stderr: 'pipe',
    env: { PATH: process.env.PATH, ...(opts.env || {}), ...(process.env.ASAN_OPTIONS ? { ASAN_OPTIONS: process.env.ASAN_OPTIONS } : {}) },
  });
  transport.stderr.on('data', (d) => { stderrText += d; });
  const client = new Client({ name: 'web-sdk-test', version: '1.0.0' });
  await client.connect(transport);
  return client;
}
const allowed = () => ['--web-allow', `127.0.0.1:${port}`, '--web-timeout', '3',
  '--web-max-bytes', '1048576', '--web-search', `searxng:${base}`];
const fetchUrl = (c, url) => c.callTool({ name: 'web_fetch', arguments: { url } });

before(async () => {
  const ready = join(dir, 'ready');
  writeFileSync(keyFile, `${braveKey}\n`);
  host = spawn(process.env.NODE, [join(here, 'webhost.mjs'), '--ready', ready,
    '--brave-key', braveKey], { stdio: ['ignore', 'ignore', 'inherit'] });
  for (let i = 0; i < 600 && !existsSync(ready); i++) await new Promise((r) => setTimeout(r, 50));
  base = readFileSync(ready, 'utf8').trim();
  port = Number(new URL(base).port);
});
after(() => { host.kill(); rmSync(dir, { recursive: true, force: true }); });

describe('web tools in mcpd', () => {
  let c;
  before(async () => { c = await connect(allowed()); });
  after(async () => { await c.close(); });

  test('tools listed with output schemas', async () => {
    const tools = (await c.listTools()).tools;
    for (const n of ['web_fetch', 'web_search']) {
      const t = tools.find((x) => x.name === n);
      assert.ok(t && t.outputSchema, n);
      assert.equal(t.annotations.readOnlyHint, true);
    }
  });

  // Proves: an excepted host is reached, and HTML becomes text with its
  // title, scripts and styles gone (structuredContent checked by the SDK
  // against the outputSchema).
  test('a local page through its --web-allow exception', async () => {
    const r = await fetchUrl(c, `${base}/pages/runc-cve-2024-21626.html`);
    assert.ok(!r.isError, JSON.stringify(r));
    const s = r.structuredContent;
    assert.match(s.title, /CVE-2024-21626/);
    assert.match(s.text, /runc 1\.1\.12/);
    assert.match(s.text, /host's cgroup directory/); // &#39; decoded
    assert.doesNotMatch(s.text, /analytics|font-family|<p>/);
    assert.equal(s.status, 200);
    assert.equal(s.charset, 'utf-8');
    assert.match(r.content[0].text, /^Title: runc CVE-2024-21626/);
  });

  test('a redirect inside the exception is followed and counted', async () => {
    const r = await fetchUrl(c, `${base}/t/redirect?to=/pages/kernel-cve-2024-1086.html`);
    assert.ok(!r.isError, JSON.stringify(r));
    assert.equal(r.structuredContent.redirects, 1);
    assert.match(r.structuredContent.final_url, /kernel-cve-2024-1086/);
  });

  // Proves that every hop is checked: each target would answer (the same
  // web host under another name or port) or is forbidden; all are refused.
  test('redirects to forbidden places are refused', async () => {
    const targets = [`http://localhost:${port}/pages/runc-cve-2024-21626.html`,
      `http://[::ffff:127.0.0.1]:${port}/`, `http://2130706433:${port + 1}/`,
      'http://169.254.169.254/latest/meta-data/', 'http://[fd00:ec2::254]/',
      'http://10.0.0.1/', `http://user:pw@127.0.0.1:${port}/`, 'file:///etc/passwd'];
    for (const to of targets) {
      const r = await fetchUrl(c, `${base}/t/redirect?to=${encodeURIComponent(to)}`);
      assert.ok(r.isError, `${to}: ${JSON.stringify(r)}`);
      assert.match(r.content[0].text, /redirect to .*(refused|credentials|http and https)/, to);
    }
  });

  test('a name that resolves to loopback is refused', async () => {
    const r = await fetchUrl(c, `http://localhost:${port}/pages/runc-cve-2024-21626.html`);
    assert.ok(r.isError);
    assert.match(r.content[0].text, /localhost resolves to 127\.0\.0\.1, a loopback address/);
  });

  // Each form names a forbidden address (the loopback spellings on a port
  // the exception does not name: an exception for 127.0.0.1 covers every
  // spelling of that address); refused before any connection.
  test('every forbidden address form is refused', async () => {
    const p1 = port + 1;
    const forms = [`127.0.0.1:${p1}`, `2130706433:${p1}`, `0x7f000001:${p1}`,
      `0177.0.0.1:${p1}`, `127.1:${p1}`, `0x7f.1:${p1}`, `[::1]:${port}`, `[::ffff:7f00:1]:${port}`,
      '0.0.0.0', '[::]', '10.1.2.3', '172.16.0.1', '192.168.0.1', '100.64.0.1',
      '169.254.0.1', '169.254.169.254', '100.100.100.200', '[fd00:ec2::254]', '224.0.0.1',
      '[ff02::1]', '[fe80::1]', '[fc00::1]', '[64:ff9b::a9fe:a9fe]', '[2002:a00:1::]',
      '255.255.255.255'];
    for (const f of forms) {
      const r = await fetchUrl(c, `http://${f}/`);
      assert.ok(r.isError, f);
      assert.match(r.content[0].text, /refused: .* address \(no --web-allow/, f);
    }
  });

  test('userinfo and other schemes are refused', async () => {
    for (const u of [`http://user@127.0.0.1:${port}/`, `http://u:p@127.0.0.1:${port}/`]) {
      const r = await fetchUrl(c, u);
      assert.ok(r.isError);
      assert.match(r.content[0].text, /credentials/);
    }
    for (const u of ['file:///etc/passwd', 'ftp://127.0.0.1/', 'gopher://127.0.0.1/']) {
      const r = await fetchUrl(c, u);
      assert.ok(r.isError);
      assert.match(r.content[0].text, /only http and https/);
    }
  });

  // Proves the caps: a 256 MiB body and a gzip bomb (64 MiB decoded from
  // ~64 KiB) both stop at --web-max-bytes; a server that never finishes
  // meets the deadline.
  test('huge bodies, gzip bombs and slow servers hit the caps', { timeout: 90000 }, async () => {
    for (const p of ['/t/big', '/t/gzipbomb']) {
      const r = await fetchUrl(c, `${base}${p}`);
      assert.ok(r.isError, p);
      assert.match(r.content[0].text, /larger than 1048576 bytes/, p);
    }
    const r = await fetchUrl(c, `${base}/t/slow`);
    assert.ok(r.isError);
    assert.match(r.content[0].text, /deadline/);
  });

  test('charsets: declared, in <meta>, missing and unknown', async () => {
    const get = async (p) => {
      const r = await fetchUrl(c, `${base}${p}`);
      assert.ok(!r.isError, JSON.stringify(r));
      return r.structuredContent;
    };
    let s = await get('/t/latin1');
    assert.equal(s.charset, 'iso-8859-1');
    assert.match(s.text, /café crème/);
    s = await get('/t/meta1252');
    assert.equal(s.charset, 'windows-1252');
    assert.match(s.text, /\u201cquoted\u201d \u20ac/);
    s = await get('/t/nocharset');
    assert.equal(s.charset, 'windows-1252');
    assert.match(s.text, /naïve résumé/);
    s = await get('/t/badcharset');
    assert.match(s.charset, /unknown x-no-such-charset/);
    assert.match(s.text, /ok é \uFFFD end/);
  });

  test('non-HTML types: text types pass, others are refused', async () => {
    let r = await fetchUrl(c, `${base}/t/json`);
    assert.ok(!r.isError);
    assert.match(r.structuredContent.text, /CVE-2024-21626/);
    r = await fetchUrl(c, `${base}/t/png`);
    assert.ok(r.isError);
    assert.match(r.content[0].text, /content type image\/png is not text/);
  });

  test('web_search through the SearXNG backend, then fetch a result', async () => {
    const r = await c.callTool({ name: 'web_search', arguments: { query: 'runc container escape', count: 3 } });
    assert.ok(!r.isError, JSON.stringify(r));
    const res = r.structuredContent.results;
    assert.ok(res.length >= 1 && res.length <= 3);
    assert.ok(res.every((x) => x.url.startsWith(`${base}/pages/`) && x.title && x.snippet));
    assert.ok(res.some((x) => /runc/.test(x.title) && x.date));
    const p = await fetchUrl(c, res[0].url);
    assert.ok(!p.isError);
    assert.match(p.structuredContent.text, /runc/);
    const none = await c.callTool({ name: 'web_search', arguments: { query: 'zzqqxx' } });
    assert.equal(none.structuredContent.results.length, 0);
  });
});

// Proves that a cancelled call stops its transfer: the slow answer's
// connection closes although the deadline is a minute away (the web host
// counts its open slow answers; we wait for the count, not for a time).
test('a cancelled fetch closes its connection', { timeout: 60000 }, async () => {
  const c = await connect(['--web-allow', `127.0.0.1:${port}`, '--web-timeout', '60']);
  const open = async () => Number(await (await fetch(`${base}/t/slow-open`)).text());
  try {
    const ac = new AbortController();
    const call = c.callTool({ name: 'web_fetch', arguments: { url: `${base}/t/slow` } },
      undefined, { signal: ac.signal });
    while (await open() === 0) await new Promise((r) => setTimeout(r, 50));
    ac.abort();
    await assert.rejects(call);
    while (await open() > 0) await new Promise((r) => setTimeout(r, 50));
    const r = await fetchUrl(c, `${base}/t/json`); // the session still works
    assert.ok(!r.isError);
  } finally { await c.close(); }
});

describe('web tools without exceptions', () => {
  test('the local host itself is refused', async () => {
    const c = await connect([]);
    try {
      const r = await fetchUrl(c, `${base}/pages/runc-cve-2024-21626.html`);
      assert.ok(r.isError);
      assert.match(r.content[0].text, /127\.0\.0\.1 is a loopback address/);
      const names = (await c.listTools()).tools.map((t) => t.name);
      assert.ok(!names.includes('web_search')); // no backend configured
    } finally { await c.close(); }
  });

  test('--web-hosts refuses hosts outside the list', async () => {
    const c = await connect([...allowed(), '--web-hosts', '*.example.org']);
    try {
      const r = await fetchUrl(c, `${base}/`);
      assert.ok(r.isError);
      assert.match(r.content[0].text, /not in --web-hosts/);
    } finally { await c.close(); }
  });

  test('a failing or garbled search backend is a tool error', async () => {
    for (const [path, re] of [['/t/broken', /HTTP status 500/], ['/t/garbage', /not a JSON object/]]) {
      const c = await connect(['--web-allow', `127.0.0.1:${port}`, '--web-search', `searxng:${base}${path}`]);
      try {
        const r = await c.callTool({ name: 'web_search', arguments: { query: 'runc' } });
        assert.ok(r.isError, path);
        assert.match(r.content[0].text, re);
      } finally { await c.close(); }
    }
  });

  // The key is sent (the Brave-shaped endpoint answers only with it) and
  // never appears in mcpd's stderr, even with -v.
  test('the Brave backend sends its key and never logs it', async () => {
    stderrText = '';
    const c = await connect(['-v', '--web-allow', `127.0.0.1:${port}`,
      '--web-search', `brave:${base}/t/brave`, '--web-search-key-file', keyFile]);
    try {
      const r = await c.callTool({ name: 'web_search', arguments: { query: 'NVIDIA toolkit', count: 2 } });
      assert.ok(!r.isError, JSON.stringify(r));
      assert.equal(r.structuredContent.results.length, 2);
      assert.match(r.structuredContent.results[0].title, /NVIDIA/);
    } finally { await c.close(); }
    const c2 = await connect(['--web-allow', `127.0.0.1:${port}`, '--web-search', `brave:${base}/t/brave`],
      { env: { BRAVE_API_KEY: 'wrong-key' } });
    try {
      const r = await c2.callTool({ name: 'web_search', arguments: { query: 'runc' } });
      assert.ok(r.isError);
      assert.match(r.content[0].text, /HTTP status 401/);
      assert.doesNotMatch(r.content[0].text, /wrong-key/);
    } finally { await c2.close(); }
    assert.ok(!stderrText.includes(braveKey));
    assert.ok(!stderrText.includes('wrong-key'));
  });
});
