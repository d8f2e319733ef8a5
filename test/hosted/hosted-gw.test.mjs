// Hosted servers behind the gateway: gatewayd in front of a tool zone
// `files` that is `mcpd --chan --servers` hosting server-everything (ev,
// one child per session) and server-filesystem (fs, shared); the SDK
// client reaches it through a token-bound HTTP listener of the agent zone.
// The policy grants some hosted tools, one prompt and the dynamic
// resources, and nothing else: lists show exactly those, granted calls
// (with progress) go through, the rest is refused and never reaches the
// server (a refused write leaves no file).
// Env: GATEWAYD, MCPD, NODE.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import { checkedAfter, guardHooks, daemon as spawnDaemon, rpcError, waitFor } from '../common/harness.mjs';

// the describe block's final checks fail the run (harness.mjs)
guardHooks();

const SDK = '../node/node_modules/@modelcontextprotocol/sdk/dist/esm';
const { Client } = await import(`${SDK}/client/index.js`);
const { StreamableHTTPClientTransport } = await import(`${SDK}/client/streamableHttp.js`);

const { GATEWAYD, MCPD, NODE } = process.env;
const NM = new URL('../node/node_modules/', import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), 'zg-hostedgw-'));
const files = join(dir, 'files');
const env = { ...process.env, ZONEGATE_SIM_DIR: join(dir, 'sim') };
const daemon = (bin, args) => spawnDaemon(bin, args, env);
const TOKEN = 'h'.repeat(20) + 'Zq7-token-of-the-hosted-agent-0';

mkdirSync(files);
writeFileSync(join(files, 'note.txt'), 'behind the gateway\n');
writeFileSync(join(dir, 'a.token'), `${TOKEN}\n`, { mode: 0o600 });
writeFileSync(join(dir, 'servers.json'), JSON.stringify({ mcpServers: {
  ev: { command: NODE, args: [join(NM, '@modelcontextprotocol/server-everything/dist/index.js'), 'stdio'] },
  fs: { command: NODE, args: [join(NM, '@modelcontextprotocol/server-filesystem/dist/index.js'), files],
    shared: true },
} }, null, 2));
writeFileSync(join(dir, 'gatewayd.json'), JSON.stringify({
  zones: {
    agent: { domid: 81, role: 'agent' },
    files: { domid: 82, role: 'tool', chan: 'sim:82:files' },
  },
  listeners: [{ listen: '127.0.0.1:0', zone: 'agent', token_file: 'a.token' }],
  policy: 'gw.policy',
  audit_log: 'audit.log',
}, null, 2));
writeFileSync(join(dir, 'gw.policy'), `agent files.fs.read_text_file     allow
agent files.fs.list_*             allow
agent files.ev.echo               allow
agent files.ev.trigger-long-*     allow
agent prompt:files.ev.simple-prompt allow
agent resource:files.demo://resource/dynamic/* allow
`);

let gw, mcpd, url;

describe('hosted servers through gatewayd, by policy', () => {
  before(async () => {
    mcpd = daemon(MCPD, ['--chan', 'sim:82:files', '--servers', join(dir, 'servers.json')]);
    gw = daemon(GATEWAYD, ['--config', join(dir, 'gatewayd.json')]);
    await waitFor('tool zone and listener', () => gw.log.includes('tool zone files up') &&
      /listener for zone agent on http:\/\/\S+/.test(gw.log), 30000);
    url = gw.log.match(/listener for zone agent on (http:\/\/\S+)/)[1];
  });
  checkedAfter(async () => {
    gw.kill('SIGTERM');
    const code = await gw.done;
    mcpd.kill('SIGTERM');
    const mcode = await mcpd.done;
    rmSync(dir, { recursive: true, force: true });
    assert.equal(code, 0, gw.log);
    assert.equal(mcode, 0, mcpd.log);
  });

  async function connect() {
    const c = new Client({ name: 'zg-hosted-agent', version: '1.0.0' });
    await c.connect(new StreamableHTTPClientTransport(new URL(url), {
      requestInit: { headers: { Authorization: `Bearer ${TOKEN}` } } }));
    return c;
  }

  // Proves: policy globs over SERVER.NAME select hosted tools one by one.
  test('lists show exactly what the policy grants', async () => {
    const c = await connect();
    const tools = (await c.listTools()).tools.map((t) => t.name).sort();
    assert.deepEqual(tools, ['files.ev.echo', 'files.ev.trigger-long-running-operation',
      'files.fs.list_allowed_directories', 'files.fs.list_directory',
      'files.fs.list_directory_with_sizes', 'files.fs.read_text_file']);
    const prompts = (await c.listPrompts()).prompts.map((p) => p.name);
    assert.deepEqual(prompts, ['files.ev.simple-prompt']);
    const tpl = (await c.listResourceTemplates()).resourceTemplates.map((t) => t.uriTemplate);
    assert.ok(tpl.includes('demo://resource/dynamic/text/{resourceId}'), tpl.join());
    const res = (await c.listResources()).resources;
    assert.ok(res.every((r) => r.uri.startsWith('demo://resource/dynamic/')), JSON.stringify(res));
    await c.close();
  });

  test('granted calls, a prompt and a resource go through, with progress', async () => {
    const c = await connect();
    const e = await c.callTool({ name: 'files.ev.echo', arguments: { message: 'via gw' } });
    assert.equal(e.content[0].text, 'Echo: via gw');
    const r = await c.callTool({ name: 'files.fs.read_text_file',
      arguments: { path: join(files, 'note.txt') } });
    assert.match(r.content[0].text, /behind the gateway/);
    const seen = [];
    await c.callTool({ name: 'files.ev.trigger-long-running-operation',
      arguments: { duration: 1, steps: 3 } }, undefined, { onprogress: (p) => seen.push(p.progress) });
    assert.deepEqual(seen, [1, 2, 3]);
    const p = await c.getPrompt({ name: 'files.ev.simple-prompt' });
    assert.ok(p.messages.length > 0);
    const t = await c.readResource({ uri: 'demo://resource/dynamic/text/2' });
    assert.match(t.contents[0].text, /Resource 2/);
    await c.close();
  });

  // Proves: what the policy does not grant is refused at the gateway and
  // never reaches the hosted server (the write would create the file).
  test('the rest is refused and never reaches the server', async () => {
    const c = await connect();
    const target = join(files, 'written.txt');
    const w = await rpcError(c.callTool({ name: 'files.fs.write_file',
      arguments: { path: target, content: 'no' } }));
    assert.ok(w.code < 0, String(w));
    assert.equal(existsSync(target), false);
    await rpcError(c.callTool({ name: 'files.ev.get-env', arguments: {} }));
    await rpcError(c.getPrompt({ name: 'files.ev.args-prompt', arguments: { city: 'x' } }));
    await rpcError(c.readResource({ uri: 'demo://resource/static/document/features.md' }));
    await c.close();
  });
});
