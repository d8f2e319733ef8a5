// Helpers the pipeline's end-to-end tests share (agents.test.mjs,
// supervisor.test.mjs): the local web host, the knowledge base seeded by
// ragctl, and what a page's date and a KB document are, read from the
// repository's own data (data/web/pages, data/corpus).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, isAbsolute, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { daemon, waitFor } from '../common/harness.mjs';

const here = dirname(fileURLToPath(import.meta.url));
export const root = join(here, '..', '..');
export const QUESTION = 'Tell me about container escape vulnerabilities from the past year.';

// Starts test/web/webhost.mjs; resolves to { proc, base, port }.
export async function startWebHost(node, dir, env) {
  const ready = join(dir, 'web.ready');
  const proc = daemon(node, [join(root, 'test/web/webhost.mjs'), '--ready', ready], env);
  await waitFor('webhost', () => existsSync(ready));
  const base = readFileSync(ready, 'utf8').trim();
  return { proc, base, port: new URL(base).port };
}

// Seeds the knowledge base at db from data/corpus with ragctl ingest.
export function seedKb(ragctl, db, env) {
  const seed = spawnSync(ragctl, ['--db', db, 'ingest', join(root, 'data/corpus')],
    { env, encoding: 'utf8' });
  assert.equal(seed.status, 0, seed.stderr);
}

// The date (<meta name="date">) of the web host's page at url.
export function pageDate(url) {
  const html = readFileSync(join(root, 'data/web/pages', url.split('/').at(-1)), 'utf8');
  return html.match(/<meta name="date" content="([^"]*)"/)[1];
}

// True if s names a document of data/corpus (ragctl names a document by
// the path it was ingested from).
export function isCorpusDoc(s) {
  const corpus = join(root, 'data/corpus');
  const file = isAbsolute(s) ? s : join(corpus, s);
  return file.startsWith(`${corpus}/`) && existsSync(file);
}

// A CallToolResult's text.
export const textOf = (r) => r.content.filter((x) => x.type === 'text').map((x) => x.text).join('');

// The gatewayd zones of agents ([name, tool-side domid, agent-side
// domid, ...]): a zone that is both has its tool side as NAME (NAME.ask)
// and its agent side as NAME-agent, two channels under two domids
// (gateway/config.c gives each zone one role and one domid).
export function agentZones(agents) {
  const zones = {};
  for (const [n, td, ad] of agents) {
    zones[n] = { domid: td, role: 'tool', chan: `sim:${td}:${n}` };
    zones[`${n}-agent`] = { domid: ad, role: 'agent', chan: `sim:${ad}:${n}-agent` };
  }
  return zones;
}
