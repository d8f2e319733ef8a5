// rag_search through mcpd, driven by the official TypeScript SDK client:
// a store seeded with ragctl, mcpd --rag-db over stdio, tool listing
// (read-only unless --rag-write), search results as text and as
// structuredContent (the SDK checks them against the outputSchema),
// filters, errors, resources, concurrent calls and the write tools.
// Env: MCPD, RAGCTL (binaries), NODE_MODULES (test/node/node_modules).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { after, before, describe, test } from 'node:test';

const req = createRequire(join(process.env.NODE_MODULES, 'x.js'));
const load = (m) => import(pathToFileURL(req.resolve(m)).href);
const { Client } = await load('@modelcontextprotocol/sdk/client/index.js');
const { StdioClientTransport } = await load('@modelcontextprotocol/sdk/client/stdio.js');

const dir = mkdtempSync(join(tmpdir(), 'zg-rag-sdk-'));
const db = join(dir, 'kb.db');

async function connect(extra = []) {
  const transport = new StdioClientTransport({
    command: process.env.MCPD,
    args: ['--stdio', '--rag-db', db, ...extra],
    stderr: 'pipe',
  });
  const client = new Client({ name: 'rag-sdk-test', version: '1.0.0' });
  await client.connect(transport);
  return client;
}

before(() => {
  mkdirSync(join(dir, 'man7'));
  mkdirSync(join(dir, 'notes'));
  writeFileSync(join(dir, 'man7', 'namespaces.7.txt'),
    'namespaces - overview of Linux namespaces.\n\nA namespace wraps a global system resource in an abstraction so that processes within the namespace have their own isolated instance.');
  writeFileSync(join(dir, 'man7', 'cgroups.7.txt'),
    'cgroups - Linux control groups.\n\nControl groups organise processes hierarchically and limit memory and CPU.');
  writeFileSync(join(dir, 'notes', 'escapes.md'),
    '# Container escapes\n\nA container escape breaks out of namespace isolation, for example through a kernel bug or an overly privileged capability such as CAP_SYS_ADMIN.');
  execFileSync(process.env.RAGCTL, ['--db', db, 'ingest', '--quiet', dir]);
});

after(() => rmSync(dir, { recursive: true, force: true }));

describe('rag tools in mcpd', () => {
  test('read-only by default', async () => {
    const c = await connect();
    try {
      const names = (await c.listTools()).tools.map((t) => t.name);
      assert.ok(names.includes('rag_search'));
      assert.ok(!names.includes('rag_ingest'));
      assert.ok(!names.includes('rag_delete'));
      const t = (await c.listTools()).tools.find((x) => x.name === 'rag_search');
      assert.equal(t.annotations.readOnlyHint, true);
      assert.ok(t.outputSchema);
    } finally { await c.close(); }
  });

  test('search returns text and structuredContent', async () => {
    const c = await connect();
    try {
      const r = await c.callTool({ name: 'rag_search',
        arguments: { query: 'container escape through a privileged capability', k: 2 } });
      assert.ok(!r.isError, JSON.stringify(r));
      const res = r.structuredContent.results;
      assert.ok(res.length >= 1 && res.length <= 2);
      assert.match(res[0].source, /escapes\.md$/);
      for (const h of res) {
        assert.equal(typeof h.score, 'number');
        assert.equal(typeof h.chunk, 'number');
        assert.equal(typeof h.text, 'string');
        assert.equal(typeof h.metadata, 'object');
      }
      assert.match(r.content[0].text, /escapes\.md/);
      for (const mode of ['vector', 'bm25', 'hybrid']) {
        const m = await c.callTool({ name: 'rag_search',
          arguments: { query: 'control groups memory', mode, k: 1 } });
        assert.match(m.structuredContent.results[0].source, /cgroups/, mode);
      }
      const f = await c.callTool({ name: 'rag_search',
        arguments: { query: 'namespace isolation', k: 5, where: { dir: 'man7' } } });
      assert.ok(f.structuredContent.results.length >= 1);
      for (const h of f.structuredContent.results) assert.equal(h.metadata.dir, 'man7');
    } finally { await c.close(); }
  });

  test('bad arguments are clear errors', async () => {
    const c = await connect();
    try {
      // Arguments that break the inputSchema are execution errors the
      // model can read (MCP 2025-11-25), checked by mcpd before the handler.
      for (const args of [{ query: 'x', k: 0 }, { k: 3 }]) {
        const bad = await c.callTool({ name: 'rag_search', arguments: args });
        assert.equal(bad.isError, true);
        assert.match(bad.content[0].text, /Invalid arguments for tool rag_search/);
      }
      const r = await c.callTool({ name: 'rag_search',
        arguments: { query: 'x', where: { a: { $regex: 'y' } } } });
      assert.equal(r.isError, true);
      assert.match(r.content[0].text, /unknown operator/);
      const n = await c.callTool({ name: 'rag_search',
        arguments: { query: 'x', collection: 'nope' } });
      assert.equal(n.isError, true);
      await assert.rejects(c.callTool({ name: 'rag_ingest',
        arguments: { source: 's', text: 't' } }));
    } finally { await c.close(); }
  });

  test('resources list collections and documents', async () => {
    const c = await connect();
    try {
      const list = await c.listResources();
      assert.ok(list.resources.some((r) => r.uri === 'rag://collections'));
      const colls = JSON.parse((await c.readResource({ uri: 'rag://collections' })).contents[0].text);
      assert.equal(colls[0].name, 'default');
      assert.equal(colls[0].documents, 3);
      const docs = JSON.parse((await c.readResource(
        { uri: 'rag://collections/default/documents' })).contents[0].text);
      assert.equal(docs.length, 3);
      await assert.rejects(c.readResource({ uri: 'rag://collections/none/documents' }));
    } finally { await c.close(); }
  });

  test('concurrent searches', async () => {
    const c = await connect();
    try {
      const qs = ['namespace', 'cgroups memory', 'container escape', 'isolated instance'];
      const all = await Promise.all(Array.from({ length: 24 }, (_, i) =>
        c.callTool({ name: 'rag_search', arguments: { query: qs[i % 4], k: 3, mode: 'vector' } })));
      for (const r of all) assert.ok(!r.isError && r.structuredContent.results.length > 0);
    } finally { await c.close(); }
  });

  test('write tools only with --rag-write', async () => {
    const c = await connect(['--rag-write']);
    try {
      const names = (await c.listTools()).tools.map((t) => t.name);
      assert.ok(names.includes('rag_ingest') && names.includes('rag_delete'));
      const a = await c.callTool({ name: 'rag_ingest', arguments: {
        source: 'note:gvisor', text: 'gVisor intercepts system calls in a user-space kernel.',
        metadata: { kind: 'note' } } });
      assert.equal(a.structuredContent.added, true);
      const again = await c.callTool({ name: 'rag_ingest', arguments: {
        source: 'note:gvisor', text: 'gVisor intercepts system calls in a user-space kernel.' } });
      assert.equal(again.structuredContent.added, false);
      const s = await c.callTool({ name: 'rag_search', arguments: { query: 'gVisor user-space kernel', k: 1 } });
      assert.equal(s.structuredContent.results[0].source, 'note:gvisor');
      const d = await c.callTool({ name: 'rag_delete', arguments: { where: { kind: 'note' } } });
      assert.equal(d.structuredContent.deleted, 1);
    } finally { await c.close(); }
  });
});
