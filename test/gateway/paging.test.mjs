// End to end: pagination of the gateway's merged lists. gatewayd with
// list_page_size 3 in front of two tool zones (mcpd-test --fixtures
// conformance), one agent zone reached by the SDK client through a
// token-bound HTTP listener. Checks: following nextCursor yields every
// allowed entry of both zones exactly once, in pages of at most 3; the
// pages match what the policy allows; a malformed cursor, one past the end
// and one made before a policy reload that changed the zone's view get
// -32602, while a reload that leaves its view alone keeps its cursors. Also: the metrics
// endpoint on a unix socket (metrics, health, readiness), and that
// gatewayd and mcpd run with no_new_privs.
// Env: GATEWAYD, MCPD_TEST.
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import { checkedAfter, guardHooks, daemon as spawnDaemon, rpcError, waitFor } from '../common/harness.mjs';

// the describe block's final checks fail the run (harness.mjs)
guardHooks();

const SDK = '../node/node_modules/@modelcontextprotocol/sdk/dist/esm';
const { Client } = await import(`${SDK}/client/index.js`);
const { StreamableHTTPClientTransport } =
  await import(`${SDK}/client/streamableHttp.js`);
const { StdioClientTransport } = await import(`${SDK}/client/stdio.js`);

const { GATEWAYD, MCPD_TEST } = process.env;
const dir = mkdtempSync(join(tmpdir(), 'zg-gwpage-'));
const env = { ...process.env, ZONEGATE_SIM_DIR: join(dir, 'sim') };
const daemon = (bin, args) => spawnDaemon(bin, args, env);
const cfg = join(dir, 'gatewayd.json');
const TOKEN = 'p'.repeat(20) + 'Kk3-token-of-the-pager-01234567';
const policy = join(dir, 'gw.policy');

writeFileSync(join(dir, 'a.token'), `${TOKEN}\n`, { mode: 0o600 });
writeFileSync(cfg, JSON.stringify({
  zones: {
    pager: { domid: 71, role: 'agent' },
    one: { domid: 72, role: 'tool', chan: 'sim:72:one' },
    two: { domid: 73, role: 'tool', chan: 'sim:73:two' },
  },
  listeners: [{ listen: '127.0.0.1:0', zone: 'pager', token_file: 'a.token' }],
  policy: 'gw.policy',
  audit_log: 'audit.log',
  metrics: 'unix:metrics.sock',
  list_page_size: 3,
}, null, 2));
// every tool of zone one; of zone two only the test_* tools whose name
// has an 'e' after the prefix; every prompt of zone two
writeFileSync(policy, `pager one.*          allow
pager two.test_*e*   allow
pager prompt:two.*    allow
`);

// Every page of a list, following nextCursor.
async function allPages(list) {
  const pages = [];
  let cursor;
  do {
    const r = await list(cursor ? { cursor } : undefined);
    pages.push(r);
    cursor = r.nextCursor;
  } while (cursor && pages.length < 1000);
  return pages;
}

function glob(pat, s) {
  const re = new RegExp(`^${pat.replace(/[.+^${}()|[\]\\]/g, '\\$&')
    .replace(/\*/g, '.*').replace(/\?/g, '.')}$`);
  return re.test(s);
}

// GET over the metrics unix socket: { status, body }.
function unixGet(path) {
  return new Promise((res, rej) => {
    const r = request({ socketPath: join(dir, 'metrics.sock'), path,
      headers: { host: 'localhost' } }, (m) => {
      let b = '';
      m.on('data', (d) => { b += d; });
      m.on('end', () => res({ status: m.statusCode, body: b }));
    });
    r.on('error', rej);
    r.end();
  });
}

let gw, one, two, url, direct;

describe('gatewayd: paginated merged lists', () => {
  before(async () => {
    one = daemon(MCPD_TEST, ['--chan', 'sim:72:one', '--fixtures', 'conformance']);
    two = daemon(MCPD_TEST, ['--chan', 'sim:73:two', '--fixtures', 'conformance']);
    gw = daemon(GATEWAYD, ['--config', cfg]);
    await waitFor('tool zones and listener', () =>
      gw.log.includes('tool zone one up') && gw.log.includes('tool zone two up') &&
      /listener for zone pager on http:\/\/\S+/.test(gw.log));
    url = gw.log.match(/listener for zone pager on (http:\/\/\S+)/)[1];
    // what the tool zones offer, straight from mcpd over stdio
    direct = new Client({ name: 'zg-direct', version: '1.0.0' });
    await direct.connect(new StdioClientTransport({ command: MCPD_TEST,
      args: ['--stdio', '--fixtures', 'conformance'], stderr: 'ignore' }));
  });
  checkedAfter(async () => {
    await direct.close();
    gw.kill('SIGTERM');
    const code = await gw.done;
    for (const p of [one, two]) { p.kill('SIGTERM'); await p.done; }
    rmSync(dir, { recursive: true, force: true });
    assert.equal(code, 0, gw.log);
  });

  async function connect() {
    const c = new Client({ name: 'zg-pager', version: '1.0.0' });
    await c.connect(new StreamableHTTPClientTransport(new URL(url), {
      requestInit: { headers: { Authorization: `Bearer ${TOKEN}` } } }));
    return c;
  }

  test('tools: every allowed tool of both zones once, in pages of 3', async () => {
    const c = await connect();
    const pages = await allPages((p) => c.listTools(p));
    const names = pages.flatMap((p) => p.tools.map((t) => t.name));
    const offered = (await direct.listTools()).tools.map((t) => t.name);
    const want = [...offered.map((n) => `one.${n}`),
      ...offered.filter((n) => glob('test_*e*', n)).map((n) => `two.${n}`)];
    assert.ok(want.length > 6, 'enough tools for several pages');
    assert.deepEqual(names, want);
    assert.equal(pages.length, Math.ceil(want.length / 3));
    for (const p of pages.slice(0, -1)) assert.equal(p.tools.length, 3);
    assert.equal(pages.at(-1).nextCursor, undefined);
    await c.close();
  });

  test('prompts: only zone two, paged the same way', async () => {
    const c = await connect();
    const pages = await allPages((p) => c.listPrompts(p));
    const names = pages.flatMap((p) => p.prompts.map((t) => t.name));
    const offered = (await direct.listPrompts()).prompts.map((t) => t.name);
    assert.deepEqual(names, offered.map((n) => `two.${n}`));
    assert.ok(pages.every((p) => p.prompts.length <= 3));
    await c.close();
  });

  test('least privilege: the daemons cannot gain privileges', () => {
    for (const p of [gw, one, two]) {
      const st = readFileSync(`/proc/${p.pid}/status`, 'utf8');
      assert.match(st, /^NoNewPrivs:\s+1$/m, `pid ${p.pid}`);
    }
    if (process.getuid() === 0) assert.match(gw.log, /running as root; run it as its own/);
  });

  test('metrics, health and readiness on a unix socket', async () => {
    const c = await connect();
    await c.callTool({ name: 'one.test_simple_text', arguments: {} });
    await c.close();
    assert.equal((await unixGet('/healthz')).status, 200);
    // readiness follows the state snapshot, refreshed every second
    await waitFor('readiness', async () => (await unixGet('/readyz')).status === 200);
    assert.equal((await unixGet('/nothing')).status, 404);
    let m;
    await waitFor('the call in the metrics', async () => {
      m = await unixGet('/metrics');
      return /zone="pager"[^\n]*tool="one\.test_simple_text"[^\n]* [1-9]/.test(m.body);
    });
    assert.equal(m.status, 200);
    assert.match(m.body, /^# TYPE \S+ histogram$/m);
  });

  test('a malformed cursor, one past the end and a stale one: -32602', async () => {
    const c = await connect();
    for (const cursor of ['garbage', '0.x', '.3', '1', '99999999999999999999.3', '']) {
      const e = await rpcError(c.listTools({ cursor }));
      assert.equal(e.code, -32602, `cursor ${JSON.stringify(cursor)}`);
    }
    const first = await c.listTools();
    const [gen] = first.nextCursor.split('.');
    const past = await rpcError(c.listTools({ cursor: `${gen}.100000` }));
    assert.equal(past.code, -32602);
    // a reload that leaves the zone's view as it was keeps its cursors
    const reload = async (text) => {
      const loads = (gw.log.match(/policy loaded/g) || []).length;
      writeFileSync(policy, text);
      gw.kill('SIGHUP');
      await waitFor('the reload', () => (gw.log.match(/policy loaded/g) || []).length > loads);
    };
    const rules = readFileSync(policy, 'utf8');
    const second = await c.listTools({ cursor: first.nextCursor });
    await reload(`${rules}# reloaded\nnobody one.* allow\n`);
    assert.deepEqual(await c.listTools({ cursor: first.nextCursor }), second);
    // one that changes what the zone sees makes them stale: it starts over
    await reload(`pager one.${first.tools[0].name.split('.')[1]} deny\n${rules}`);
    const stale = await rpcError(c.listTools({ cursor: first.nextCursor }));
    assert.equal(stale.code, -32602);
    assert.match(stale.message, /stale cursor/);
    const again = await c.listTools();
    assert.deepEqual(again.tools.slice(0, 2), first.tools.slice(1, 3));
    assert.notEqual(again.nextCursor, first.nextCursor);
    await reload(rules);
    await c.close();
  });
});
