// The pipeline's agents end to end, every part a real process on the sim
// backend: gatewayd; tool zones llm (mcpd --llm, deterministic), web (mcpd
// --web against test/web/webhost.mjs) and kb (mcpd --rag-db seeded by
// ragctl ingest from data/corpus); five zonegate-agent processes, each
// serving `ask` on its tool-side channel and calling its own tools through
// its agent-side channel; the policy grants exactly the pipeline's graph.
// A supervisor zone's SDK client (through zonegate-relay, stdio) calls each
// agent's ask through the gateway. Proves: each agent answers usefully
// from its tools (CVE ids from dated pages inside the window, KB documents
// cited), the supervisor sees only the five ask tools, an agent whose tool
// is denied by policy and an agent whose tool zone is down each return a
// clear error result (not a hang), a tool that never answers ends the ask
// at the agent's deadline, a cancelled ask frees the agent, and a bad
// input is refused.
// Env: GATEWAYD, GATEWAYCTL, MCPD, RELAY, RAGCTL, AGENT, NODE.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer } from 'node:net';
import { before, describe, test } from 'node:test';
import { checkedAfter, guardHooks, daemon as spawnDaemon, stop, waitFor } from '../common/harness.mjs';
import { QUESTION, agentZones, isCorpusDoc, pageDate, seedKb, startWebHost, textOf } from './pipeline.mjs';

// the describe block's final checks fail the run (harness.mjs)
guardHooks();

const SDK = '../node/node_modules/@modelcontextprotocol/sdk/dist/esm';
const { Client } = await import(`${SDK}/client/index.js`);
const { StdioClientTransport } = await import(`${SDK}/client/stdio.js`);

const { GATEWAYD, GATEWAYCTL, MCPD, RELAY, RAGCTL, AGENT, NODE } = process.env;
const dir = mkdtempSync(join(tmpdir(), 'zg-agents-'));
// No relay daemon of another test may take the agents' calls.
const env = { ...process.env, ZONEGATE_SIM_DIR: join(dir, 'sim'),
  ZONEGATE_RELAY_SOCKET: join(dir, 'no-daemon.sock') };
const daemon = (bin, args) => spawnDaemon(bin, args, env);
const cfg = join(dir, 'gatewayd.json');
const WINDOW = '2025-01-15..2026-01-15';

// The agents: name, tool-side domid, agent-side domid, extra options.
// rag-nokb has no grant for kb.rag_search; cve-down's web zone is down.
const AGENTS = [
  ['cve-question', 51, 61, []], ['cve', 52, 62, []],
  ['blog-question', 53, 63, []], ['rag', 54, 64, []], ['report', 55, 65, []],
  ['rag-nokb', 56, 66, ['--role', 'rag']],
  ['cve-down', 57, 67, ['--role', 'cve', '--web-zone', 'webdown']],
  ['cve-slow', 58, 68, ['--role', 'cve', '--web-zone', 'webslow']],
  ['cve-hang', 59, 69, ['--role', 'cve', '--web-zone', 'webslow']],
];
const zones = {
  supervisor: { domid: 70, role: 'agent', chan: 'sim:70:supervisor' },
  llm: { domid: 41, role: 'tool', chan: 'sim:41:llm' },
  web: { domid: 42, role: 'tool', chan: 'sim:42:web' },
  kb: { domid: 43, role: 'tool', chan: 'sim:43:kb' },
  webdown: { domid: 44, role: 'tool', chan: 'sim:44:webdown' },
  webslow: { domid: 45, role: 'tool', chan: 'sim:45:webslow' },
};
Object.assign(zones, agentZones(AGENTS));
const POLICY = `# the pipeline's graph, nothing more
supervisor           cve-question.ask   allow
supervisor           cve.ask            allow
supervisor           blog-question.ask  allow
supervisor           rag.ask            allow
supervisor           report.ask         allow
supervisor           rag-nokb.ask       allow
supervisor           cve-down.ask       allow
cve-question-agent   llm.llm_chat       allow
cve-agent            web.web_search     allow
cve-agent            web.web_fetch      allow
cve-agent            llm.llm_chat       allow
blog-question-agent  llm.llm_chat       allow
rag-agent            kb.rag_search      allow
rag-agent            llm.llm_chat       allow
report-agent         llm.llm_chat       allow
rag-nokb-agent       llm.llm_chat       allow
cve-down-agent       webdown.web_search allow
cve-down-agent       webdown.web_fetch  allow
cve-down-agent       llm.llm_chat       allow
supervisor           cve-slow.ask       allow
cve-slow-agent       webslow.web_search allow
supervisor           cve-hang.ask       allow
cve-hang-agent       webslow.web_search allow
`;

const procs = [];
let web, sup, silent, silentConns = 0;

function status() {
  const r = spawnSync(GATEWAYCTL, ['--config', cfg, 'status'], { env, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stdout + r.stderr);
  return JSON.parse(r.stdout);
}
const ask = (name, input) => sup.callTool({ name: `${name}.ask`, arguments: { input } },
  undefined, { timeout: 60000 });
const inWindow = (d) => d >= '2025-01' && d <= '2026-01-15';

describe('the pipeline agents through gatewayd', () => {
  before(async () => {
    let base, port;
    ({ proc: web, base, port } = await startWebHost(NODE, dir, env));
    seedKb(RAGCTL, join(dir, 'kb.db'), env);
    writeFileSync(cfg, JSON.stringify({ zones, policy: 'pipeline.policy',
      admin_socket: 'gw.sock', audit_log: 'audit.log', audit_flush_ms: 0 }, null, 2));
    writeFileSync(join(dir, 'pipeline.policy'), POLICY);
    procs.push(daemon(MCPD, ['--chan', 'sim:41:llm', '--llm']));
    procs.push(daemon(MCPD, ['--chan', 'sim:42:web', '--web', '--web-search',
      `searxng:${base}`, '--web-allow', `127.0.0.1:${port}`]));
    procs.push(daemon(MCPD, ['--chan', 'sim:43:kb', '--rag-db', join(dir, 'kb.db')]));
    // webslow: a search engine that accepts and never answers
    silent = createServer(() => { silentConns++; });
    await new Promise((res) => silent.listen(0, '127.0.0.1', res));
    const sp = silent.address().port;
    procs.push(daemon(MCPD, ['--chan', 'sim:45:webslow', '--web', '--web-search',
      `searxng:http://127.0.0.1:${sp}`, '--web-allow', `127.0.0.1:${sp}`, '--web-timeout', '120']));
    for (const [n, td, ad, extra] of AGENTS) {
      procs.push(daemon(AGENT, ['--role', n, ...extra, '--serve', `sim:${td}:${n}`,
        '--chan', `sim:${ad}:${n}-agent`, '--relay', RELAY,
        '--deadline-ms', { 'cve-slow': '1500', 'cve-hang': '600000' }[n] ?? '30000']));
    }
    procs.push(daemon(GATEWAYD, ['--config', cfg, '--ready-file', join(dir, 'gw.ready')]));
    await waitFor('gatewayd', () => readFileSync(join(dir, 'gw.ready'), 'utf8'));
    // every tool zone but webdown (never started)
    await waitFor('tool zones up', () => status().zones.filter((z) =>
      z.role === 'tool' && z.health === 'up').length === 4 + AGENTS.length, 20000);
    sup = new Client({ name: 'supervisor-test', version: '1' });
    await sup.connect(new StdioClientTransport({ command: RELAY,
      args: ['--chan', 'sim:70:supervisor', '--connect-timeout', '10000'], env }));
  });
  checkedAfter(async () => {
    await sup?.close();
    for (const p of procs) await stop(p);
    await stop(web);
    silent?.close();
    const logs = procs.map((p) => p.log).join('');
    // AGENTS_LOG=FILE keeps every daemon's stderr and exit status
    if (process.env.AGENTS_LOG) writeFileSync(process.env.AGENTS_LOG, logs + procs.map((p) => `${p.spawnargs.slice(0, 3)} ${p.exitCode} ${p.signalCode}\n`).join(''));
    rmSync(dir, { recursive: true, force: true });
    // no agent and no tool zone's mcpd crashed or leaked: a sanitizer
    // report would show here (proves that the llm, web and rag tool sets
    // free their contexts with the server: red under ASan without the
    // mcp_server_on_free cleanups)
    const agentLogs = procs.filter((p) => p.spawnargs[0] === AGENT || p.spawnargs[0] === MCPD)
      .map((p) => p.log).join('');
    assert.doesNotMatch(agentLogs, /AddressSanitizer|LeakSanitizer|runtime error/);
  });

  // Proves: the supervisor's zone sees exactly the agents' ask tools.
  test('the supervisor sees only the ask tools', async () => {
    const names = (await sup.listTools()).tools.map((t) => t.name).sort();
    assert.deepEqual(names, AGENTS.map(([n]) => `${n}.ask`).sort());
  });

  // Proves: cve-question goes through llm.llm_chat with the window.
  test('cve-question: a question about CVEs in the window', async () => {
    const r = await ask('cve-question', JSON.stringify({ question: QUESTION, window: WINDOW }));
    assert.ok(!r.isError, textOf(r));
    assert.match(textOf(r), /^Which CVEs about container escape vulnerabilities were disclosed between 2025-01-15 and 2026-01-15\?/);
    assert.deepEqual(r.structuredContent.ops.map((o) => o.tool), ['llm.llm_chat']);
    // the second ask goes over the session the first one opened
    const r2 = await ask('cve-question', JSON.stringify({ question: QUESTION, window: WINDOW }));
    assert.equal(textOf(r2), textOf(r));
  });

  test('blog-question: a knowledge-base query, no date', async () => {
    const r = await ask('blog-question', QUESTION);
    assert.ok(!r.isError, textOf(r));
    assert.match(textOf(r), /^How do container escape vulnerabilities work/);
    assert.doesNotMatch(textOf(r), /20\d\d-/);
  });

  // Proves: cve searches, fetches pages and answers only from the pages
  // dated inside the window, naming their CVE ids; the fetched URLs are
  // its sources. The pages outside the window (2022, 2024) are left out.
  test('cve: CVE ids from dated pages within the window', async (tc) => {
    const q = `Which CVEs about container escape vulnerabilities were disclosed between 2025-01-15 and 2026-01-15?`;
    const r = await ask('cve', JSON.stringify({ question: q, window: WINDOW }));
    const t = textOf(r);
    tc.diagnostic(t);
    assert.ok(!r.isError, t);
    const ops = r.structuredContent.ops.map((o) => o.tool);
    assert.equal(ops[0], 'web.web_search');
    assert.ok(ops.filter((o) => o === 'web.web_fetch').length >= 2, ops.join());
    assert.equal(ops.at(-1), 'llm.llm_chat');
    const ids = [...new Set(t.match(/CVE-\d{4}-\d{4,}/g) || [])];
    assert.ok(ids.length >= 1, t);
    // each CVE named is on a cited page dated within the window
    const cited = [...t.matchAll(/\[source: ([^\]]+)\]/g)].map((m) => m[1]);
    assert.ok(new Set(cited).size >= 2, t);
    assert.match(t, /^Note: \d+ source\(s\) dated outside/m);
    for (const url of cited) {
      assert.ok(r.structuredContent.sources.includes(url), url);
      const date = pageDate(url);
      assert.ok(inWindow(date), `${url} dated ${date} is outside ${WINDOW}`);
    }
    for (const id of ids) assert.ok(/^CVE-202[56]-/.test(id), `${id} in ${t}`);
  });

  // Proves: rag answers from kb.rag_search with KB documents cited.
  test('rag: an answer citing knowledge-base documents', async () => {
    const q = 'How do container escape vulnerabilities work, and which isolation mechanisms (namespaces, capabilities, seccomp, cgroups) do they involve?';
    const r = await ask('rag', JSON.stringify({ question: q }));
    const t = textOf(r);
    assert.ok(!r.isError, t);
    assert.deepEqual(r.structuredContent.ops.map((o) => o.tool), ['kb.rag_search', 'llm.llm_chat']);
    const cited = [...t.matchAll(/\[source: ([^\]]+)\]/g)].map((m) => m[1]);
    assert.ok(cited.length >= 1, t);
    for (const s of cited) {
      assert.ok(r.structuredContent.sources.includes(s), s);
      assert.ok(isCorpusDoc(s), `${s} is not a corpus document`);
    }
  });

  test('report: numbered sources from two sections', async () => {
    const r = await ask('report', JSON.stringify({ question: QUESTION, sections: [
      { title: 'CVEs in the window', text: 'CVE-2025-23266 lets a container escape to the host. [source: http://x/a.html]' },
      { title: 'What the knowledge base says', text: 'Seccomp filters limit the system calls a process can make. [source: notes/seccomp.md]' },
    ] }));
    const t = textOf(r);
    assert.ok(!r.isError, t);
    assert.match(t, /CVEs named: CVE-2025-23266/);
    assert.deepEqual(r.structuredContent.sources, ['http://x/a.html', 'notes/seccomp.md']);
  });

  // Proves: a tool the policy does not grant is a clear error result
  // naming the tool, not a hang and not an answer.
  test('an agent whose tool is denied returns a clear error', async (tc) => {
    const r = await ask('rag-nokb', 'How do namespaces isolate containers?');
    tc.diagnostic(textOf(r));
    assert.equal(r.isError, true);
    assert.match(textOf(r), /^rag agent: kb\.rag_search: .*(Unknown tool|denied)/);
    assert.deepEqual(r.structuredContent.ops.map((o) => [o.tool, o.ok]), [['kb.rag_search', false]]);
    // the audit id in the message is the gateway's record of the denial
    const id = textOf(r).match(/audit id ([0-9a-f]+-[0-9a-f]+)/)[1];
    const show = spawnSync(GATEWAYCTL, ['--config', cfg, 'audit', 'show', id], { env, encoding: 'utf8' });
    assert.equal(show.status, 0, show.stderr);
    const rec = JSON.parse(show.stdout.trim().split('\n')[0]);
    assert.equal(rec.zone, 'rag-nokb-agent', show.stdout);
    assert.equal(rec.decision, 'deny', show.stdout);
  });

  // Proves: a tool zone that is down is a clear error result in time.
  test('an agent whose tool zone is down returns a clear error', async (tc) => {
    const r = await ask('cve-down', JSON.stringify({ question: 'Which CVEs?', window: WINDOW }));
    tc.diagnostic(textOf(r));
    assert.equal(r.isError, true);
    // the gateway's own answer, not the agent's deadline running out
    assert.match(textOf(r), /^cve agent: webdown\.web_search: .*(unavailable|Unknown tool)/);
    assert.doesNotMatch(textOf(r), /deadline/);
  });

  // Proves: a tool that never answers ends the ask at the agent's own
  // deadline (--deadline-ms 1500) with an error result, not a hang
  // (the gateway's call timeout is 60 s, the web tool's 120 s).
  test('an agent whose tool hangs returns an error at its deadline', async (tc) => {
    const r = await ask('cve-slow', JSON.stringify({ question: 'Which CVEs?', window: WINDOW }));
    tc.diagnostic(textOf(r));
    assert.equal(r.isError, true);
    assert.match(textOf(r), /^cve agent: webslow\.web_search: no answer within the deadline/);
    // the agent is not left stuck: the next ask is served the same way
    const r2 = await ask('cve-slow', JSON.stringify({ question: 'Which CVEs?', window: WINDOW }));
    assert.match(textOf(r2), /^cve agent: webslow\.web_search: no answer within the deadline/);
  });

  // Proves: a cancelled ask stops at once and frees the agent: cve-hang
  // (deadline 10 min) is cancelled while its search hangs, and the next
  // ask, which needs the agent's one-ask-at-a-time lock, is answered
  // (with the cancel hook off it waited behind the hung one: seen red).
  test('a cancelled ask frees the agent for the next', async () => {
    const before = silentConns;
    const ac = new AbortController();
    const hung = sup.callTool({ name: 'cve-hang.ask', arguments: { input:
      JSON.stringify({ question: 'Which CVEs?', window: WINDOW }) } }, undefined,
    { signal: ac.signal, timeout: 60000 }).catch((e) => e);
    await waitFor('the search under way', () => silentConns > before, 20000);
    ac.abort();
    assert.match(String(await hung), /abort/i);
    const r = await sup.callTool({ name: 'cve-hang.ask', arguments: { input:
      JSON.stringify({ question: 'x', window: 'now' }) } }, undefined, { timeout: 20000 });
    assert.match(textOf(r), /"window" must be/);
  });

  test('bad inputs are refused with a reason', async () => {
    let r = await ask('cve', JSON.stringify({ question: 'x', window: '2025-01-15' }));
    assert.equal(r.isError, true);
    assert.match(textOf(r), /"window" must be "YYYY-MM-DD\.\.YYYY-MM-DD"/);
    r = await ask('report', JSON.stringify({ question: 'x' }));
    assert.match(textOf(r), /needs "sections"/);
    r = await sup.callTool({ name: 'cve.ask', arguments: { input: 'x'.repeat(300000) } });
    assert.equal(r.isError, true);
  });
});
