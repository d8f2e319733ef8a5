// The demo's policy graph (data/demo/): each zone's tools/list through a
// real gatewayd is exactly what the pipeline's graph grants (docs/pipeline.md,
// issue text): the supervisor the clock and the five asks; cve the web
// tools and the model; rag the knowledge base's search and the model; the
// question agents and report the model only. No agent sees another
// agent's ask, the knowledge base's write tools (kb serves them here, as
// in the demo) or a tool zone it was not given. The expected lists are
// written out below, not derived from the policy file. Real processes on
// the sim backend: gatewayd with data/demo/zonegate.json (its run blocks
// ignored, as gatewayd does) and data/demo/policy.d, mcpd tool zones,
// the five zonegate-agent processes serving ask on their tool sides, and
// one SDK client per agent zone through zonegate-relay on its agent side.
// Seen to fail: with `rag kb.rag_*  allow` in the policy, rag's list has
// kb.rag_ingest and kb.rag_delete and the test fails.
// Env: GATEWAYD, MCPD, RELAY, RAGCTL, AGENT, NODE.
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { daemon as spawnDaemon, stop, waitFor } from '../common/harness.mjs';
import { root, seedKb, startWebHost } from './pipeline.mjs';

const SDK = '../node/node_modules/@modelcontextprotocol/sdk/dist/esm';
const { Client } = await import(`${SDK}/client/index.js`);
const { StdioClientTransport } = await import(`${SDK}/client/stdio.js`);

const { GATEWAYD, MCPD, RELAY, RAGCTL, AGENT, NODE } = process.env;
const dir = mkdtempSync(join(tmpdir(), 'zg-graph-'));
const env = { ...process.env, ZONEGATE_SIM_DIR: join(dir, 'sim'),
  ZONEGATE_RELAY_SOCKET: join(dir, 'no-daemon.sock') };
const daemon = (bin, args) => spawnDaemon(bin, args, env);
const ROLES = ['cve-question', 'cve', 'blog-question', 'rag', 'report'];
// The graph, written out.
const GRAPH = {
  supervisor: ['tools.time_now', ...ROLES.map((r) => `${r}.ask`)],
  'cve-question': ['llm.llm_chat'],
  cve: ['web.web_search', 'web.web_fetch', 'llm.llm_chat'],
  'blog-question': ['llm.llm_chat'],
  rag: ['kb.rag_search', 'llm.llm_chat'],
  report: ['llm.llm_chat'],
};
const procs = [];
let web;
let cfg;

before(async () => {
  const demo = JSON.parse(readFileSync(join(root, 'data/demo/zonegate.json'), 'utf8'));
  for (const z of Object.values(demo.zones)) delete z.run;
  cfg = join(dir, 'zonegate.json');
  writeFileSync(cfg, JSON.stringify(demo, null, 2));
  cpSync(join(root, 'data/demo/policy.d'), join(dir, 'policy.d'), { recursive: true });
  let base;
  let port;
  ({ proc: web, base, port } = await startWebHost(NODE, dir, env));
  seedKb(RAGCTL, join(dir, 'kb.db'), env);
  const chan = (z) => demo.zones[z].chan;
  procs.push(daemon(MCPD, ['--chan', chan('tools'), '--as-of', '2026-01-15']));
  procs.push(daemon(MCPD, ['--chan', chan('llm'), '--llm']));
  procs.push(daemon(MCPD, ['--chan', chan('web'), '--web', '--web-search', `searxng:${base}`,
    '--web-allow', `127.0.0.1:${port}`]));
  procs.push(daemon(MCPD, ['--chan', chan('kb'), '--rag-db', join(dir, 'kb.db'), '--rag-write']));
  for (const r of ROLES) {
    procs.push(daemon(AGENT, ['--role', r, '--serve', demo.zones[r].tool_chan, '--relay', RELAY]));
  }
  procs.push(daemon(GATEWAYD, ['--config', cfg, '--ready-file', join(dir, 'gw.ready')]));
  await waitFor('gatewayd', () => readFileSync(join(dir, 'gw.ready'), 'utf8'), 20000);
  // every tool side up (4 tool zones, 5 agents' ask)
  const { spawnSync } = await import('node:child_process');
  const gwctl = join(GATEWAYD, '..', 'gatewayctl');
  await waitFor('tool sides up', () => {
    const s = spawnSync(gwctl, ['--config', cfg, 'status'], { env, encoding: 'utf8' });
    try {
      return JSON.parse(s.stdout).zones.filter((z) => z.role === 'tool' && z.health === 'up').length === 9;
    } catch { return false; }
  }, 30000);
});

after(async () => {
  for (const p of procs) await stop(p);
  await stop(web);
  rmSync(dir, { recursive: true, force: true });
});

// Proves: each zone's view is its grants, nothing more, nothing less.
for (const [zone, want] of Object.entries(GRAPH)) {
  test(`${zone} sees exactly its grants`, async () => {
    const demo = JSON.parse(readFileSync(cfg, 'utf8'));
    const c = new Client({ name: `graph-${zone}`, version: '1' });
    await c.connect(new StdioClientTransport({ command: RELAY,
      args: ['--chan', demo.zones[zone].chan, '--connect-timeout', '10000'], env }));
    try {
      const names = [];
      let cursor;
      do {
        const r = await c.listTools(cursor ? { cursor } : {});
        names.push(...r.tools.map((t) => t.name));
        cursor = r.nextCursor;
      } while (cursor);
      assert.deepEqual(names.sort(), [...want].sort());
    } finally {
      await c.close();
    }
  });
}
