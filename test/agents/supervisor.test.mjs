// zonegate-supervisor end to end, every part a real process. Through the
// gateway: gatewayd; tool zones tools (mcpd --as-of, the clock), llm
// (deterministic), web (against test/web/webhost.mjs), kb (seeded by
// ragctl) and webslow (a search engine that never answers); the five
// agents and two more (rag-nokb, without the kb.rag_search grant; cve-hang,
// whose web zone hangs) on sim channels; the supervisor in its own zone.
// Then the no-isolation baseline's direct route: the same tool servers
// and agents on Streamable HTTP (--http), the agents and the supervisor
// calling them with --direct, and no gatewayd and no relay at all.
// Proves: a full run's report cites web pages dated inside the window the
// clock gave and knowledge-base documents, with every agent's timings; an
// agent denied by policy and one that never answers give a partial report
// (complete: false, exit 1) within the supervisor's deadline, and a report
// agent that fails gives the supervisor's own partial report; a gateway
// that cannot be reached is exit 3; bad options are refused (exit 2); the
// direct route produces the same report without any gateway.
// Env: GATEWAYD, GATEWAYCTL, MCPD, RELAY, RAGCTL, AGENT, SUPERVISOR, NODE.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { daemon as spawnDaemon, stop, waitFor } from '../common/harness.mjs';
import { QUESTION, agentZones, isCorpusDoc, pageDate, seedKb, startWebHost } from './pipeline.mjs';

const { GATEWAYD, GATEWAYCTL, MCPD, RELAY, RAGCTL, AGENT, SUPERVISOR, NODE } = process.env;
const dir = mkdtempSync(join(tmpdir(), 'zg-supervisor-'));
const env = { ...process.env, ZONEGATE_SIM_DIR: join(dir, 'sim'),
  ZONEGATE_RELAY_SOCKET: join(dir, 'no-daemon.sock') };
const daemon = (bin, args) => spawnDaemon(bin, args, env);
const cfg = join(dir, 'gatewayd.json');
const AS_OF = '2026-01-15';
const WINDOW = '2025-01-15..2026-01-15';
const ROLES = ['cve-question', 'cve', 'blog-question', 'rag', 'report'];

const procs = [];
let web, silent, silentConns = 0;
let webArgs, slowArgs; // mcpd's options of the web and webslow zones
let gatewayReport; // the gateway route's report, for the baseline's check

// Runs the supervisor with args; resolves to { status, stdout, stderr,
// json }. A run that outlives guardMs is killed (status null): a hang.
function supervise(args, guardMs = 60000) {
  return new Promise((res) => {
    const p = spawn(SUPERVISOR, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '', stderr = '';
    p.stdout.on('data', (d) => { stdout += d; });
    p.stderr.on('data', (d) => { stderr += d; });
    const guard = setTimeout(() => p.kill('SIGKILL'), guardMs);
    p.on('close', (status) => {
      clearTimeout(guard);
      let json;
      try { json = JSON.parse(stdout); } catch { /* text output */ }
      // no crash or leak of the supervisor (sanitizer build)
      assert.doesNotMatch(stderr, /AddressSanitizer|LeakSanitizer|runtime error/);
      res({ status, stdout, stderr, json });
    });
  });
}

// Checks a complete report of the plan: web pages cited from inside the
// window and at least one KB document among its sources, all five agents
// timed with their ops in every run.
function checkComplete(r, runs) {
  assert.equal(r.status, 0, r.stderr + r.stdout);
  const o = r.json;
  assert.equal(o.complete, true, JSON.stringify(o.errors));
  assert.deepEqual(o.errors, []);
  assert.equal(o.question, QUESTION);
  assert.equal(o.now, AS_OF);
  assert.equal(o.window, WINDOW);
  const urls = o.sources.filter((s) => /^https?:/.test(s));
  const docs = o.sources.filter((s) => !/^https?:/.test(s));
  assert.ok(urls.length >= 2, o.report);
  for (const u of urls) {
    assert.ok(o.report.includes(u), `${u} is not cited in the report`);
    const d = pageDate(u);
    assert.ok(d >= '2025-01-15' && d <= AS_OF, `${u} dated ${d} is outside ${WINDOW}`);
  }
  assert.ok(docs.length >= 1, o.report);
  for (const d of docs) assert.ok(isCorpusDoc(d), `${d} is not a corpus document`);
  assert.equal(o.runs.length, runs);
  for (const run of o.runs) {
    // milliseconds to the microsecond: a hop takes well under one
    const ms = (x) => typeof x === 'number' && x >= 0 && Math.abs(Math.round(x * 1000) - x * 1000) < 1e-6;
    assert.ok(ms(run.total_ms) && ms(run.clock_ms), JSON.stringify(run));
    assert.ok(run.total_ms >= run.clock_ms);
    assert.deepEqual(Object.keys(run.agents).sort(), [...ROLES].sort());
    for (const [role, a] of Object.entries(run.agents)) {
      assert.equal(a.ok, true, role);
      assert.ok(ms(a.ms) && a.ops.every((op) => ms(op.ms)), role);
      assert.ok(a.ops.length >= 1 && a.ops.every((op) => op.ok && /^[a-z-]+\.[a-z_]+$/.test(op.tool)),
        `${role}: ${JSON.stringify(a.ops)}`);
    }
    assert.deepEqual(run.agents.rag.ops.map((op) => op.tool), ['kb.rag_search', 'llm.llm_chat']);
    assert.equal(run.agents.cve.ops[0].tool, 'web.web_search');
  }
}

before(async () => {
  let base, port;
  ({ proc: web, base, port } = await startWebHost(NODE, dir, env));
  seedKb(RAGCTL, join(dir, 'kb.db'), env);
  // webslow: a search engine that accepts and never answers
  silent = createServer(() => { silentConns++; });
  await new Promise((res) => silent.listen(0, '127.0.0.1', res));
  webArgs = ['--web', '--web-search', `searxng:${base}`, '--web-allow', `127.0.0.1:${port}`];
  slowArgs = ['--web', '--web-search', `searxng:http://127.0.0.1:${silent.address().port}`,
    '--web-allow', `127.0.0.1:${silent.address().port}`, '--web-timeout', '120'];
});

after(async () => {
  for (const p of procs) await stop(p);
  await stop(web);
  silent?.close();
  if (process.env.AGENTS_LOG) writeFileSync(process.env.AGENTS_LOG, procs.map((p) => p.log).join(''));
  rmSync(dir, { recursive: true, force: true });
  const agentLogs = procs.filter((p) => p.spawnargs[0] === AGENT).map((p) => p.log).join('');
  assert.doesNotMatch(agentLogs, /AddressSanitizer|LeakSanitizer|runtime error/);
});

describe('zonegate-supervisor through gatewayd', () => {
  // name, tool-side domid, agent-side domid, extra options
  const AGENTS = [
    ['cve-question', 51, 61, []], ['cve', 52, 62, []],
    ['blog-question', 53, 63, []], ['rag', 54, 64, []], ['report', 55, 65, []],
    ['rag-nokb', 56, 66, ['--role', 'rag']],
    ['cve-hang', 59, 69, ['--role', 'cve', '--web-zone', 'webslow', '--deadline-ms', '600000']],
  ];
  const zones = {
    supervisor: { domid: 70, role: 'agent', chan: 'sim:70:supervisor' },
    tools: { domid: 40, role: 'tool', chan: 'sim:40:tools' },
    'tools-leap': { domid: 46, role: 'tool', chan: 'sim:46:tools-leap' },
    llm: { domid: 41, role: 'tool', chan: 'sim:41:llm' },
    web: { domid: 42, role: 'tool', chan: 'sim:42:web' },
    kb: { domid: 43, role: 'tool', chan: 'sim:43:kb' },
    webslow: { domid: 45, role: 'tool', chan: 'sim:45:webslow' },
    // a report agent hosted by a tool zone's mcpd (--servers) as server
    // "agent": its tool is hosted.agent.ask; its own calls come from
    // agent zone hosted-agent
    hosted: { domid: 47, role: 'tool', chan: 'sim:47:hosted' },
    'hosted-agent': { domid: 48, role: 'agent', chan: 'sim:48:hosted-agent' },
  };
  Object.assign(zones, agentZones(AGENTS));
  // the pipeline's graph; the supervisor is granted the clocks and the
  // agents' ask tools, nothing else (no report-x.ask)
  const POLICY = ['supervisor tools.time_now allow', 'supervisor tools-leap.time_now allow',
    ...AGENTS.map(([n]) => `supervisor ${n}.ask allow`),
    'cve-question-agent llm.llm_chat allow',
    'cve-agent web.web_search allow', 'cve-agent web.web_fetch allow', 'cve-agent llm.llm_chat allow',
    'blog-question-agent llm.llm_chat allow',
    'rag-agent kb.rag_search allow', 'rag-agent llm.llm_chat allow',
    'report-agent llm.llm_chat allow',
    'rag-nokb-agent llm.llm_chat allow',
    'cve-hang-agent webslow.web_search allow',
    'supervisor hosted.agent.ask allow', 'hosted-agent llm.llm_chat allow'].join('\n') + '\n';
  const sup = (args, guard) => supervise(['--chan', 'sim:70:supervisor', '--relay', RELAY,
    '--connect-timeout', '10000', ...args], guard);

  before(async () => {
    writeFileSync(cfg, JSON.stringify({ zones, policy: 'pipeline.policy',
      admin_socket: 'gw.sock', audit_log: 'audit.log', audit_flush_ms: 0 }, null, 2));
    writeFileSync(join(dir, 'pipeline.policy'), POLICY);
    procs.push(daemon(MCPD, ['--chan', 'sim:40:tools', '--as-of', AS_OF]));
    procs.push(daemon(MCPD, ['--chan', 'sim:46:tools-leap', '--as-of', '2024-02-29T10:00:00Z']));
    procs.push(daemon(MCPD, ['--chan', 'sim:41:llm', '--llm']));
    procs.push(daemon(MCPD, ['--chan', 'sim:42:web', ...webArgs]));
    procs.push(daemon(MCPD, ['--chan', 'sim:43:kb', '--rag-db', join(dir, 'kb.db')]));
    procs.push(daemon(MCPD, ['--chan', 'sim:45:webslow', ...slowArgs]));
    writeFileSync(join(dir, 'servers.json'), JSON.stringify({ mcpServers: { agent: { command: AGENT,
      args: ['--role', 'report', '--stdio', '--chan', 'sim:48:hosted-agent', '--relay', RELAY],
      env: { ZONEGATE_SIM_DIR: env.ZONEGATE_SIM_DIR, ZONEGATE_RELAY_SOCKET: env.ZONEGATE_RELAY_SOCKET,
        ...(process.env.ASAN_OPTIONS ? { ASAN_OPTIONS: process.env.ASAN_OPTIONS } : {}) } } } }));
    procs.push(daemon(MCPD, ['--chan', 'sim:47:hosted', '--servers', join(dir, 'servers.json')]));
    for (const [n, td, ad, extra] of AGENTS) {
      procs.push(daemon(AGENT, ['--role', n, '--serve', `sim:${td}:${n}`,
        '--chan', `sim:${ad}:${n}-agent`, '--relay', RELAY, '--deadline-ms', '30000', ...extra]));
    }
    procs.push(daemon(GATEWAYD, ['--config', cfg, '--ready-file', join(dir, 'gw.ready')]));
    await waitFor('gatewayd', () => readFileSync(join(dir, 'gw.ready'), 'utf8'));
    await waitFor('tool zones up', () => {
      const r = spawnSync(GATEWAYCTL, ['--config', cfg, 'status'], { env, encoding: 'utf8' });
      return JSON.parse(r.stdout).zones.filter((z) => z.role === 'tool' && z.health === 'up')
        .length === 7 + AGENTS.length;
    }, 20000);
  });

  // Proves: the whole plan through the gateway: the window from the
  // clock (mcpd --as-of), a report citing dated pages inside it and KB
  // documents, two runs timed with each agent's own ops; --out holds the
  // same object.
  test('a full run, twice, --json and --out', async (tc) => {
    const out = join(dir, 'files.out', 'supervisor.json');
    rmSync(join(dir, 'files.out'), { recursive: true, force: true });
    spawnSync('mkdir', [join(dir, 'files.out')]);
    const r = await sup(['--json', '--runs', '2', '--out', out]);
    tc.diagnostic(r.json?.report ?? r.stdout);
    checkComplete(r, 2);
    assert.match(r.json.report, /CVE-2025-/);
    assert.deepEqual(JSON.parse(readFileSync(out, 'utf8')), r.json);
    gatewayReport = r.json.report;
  });

  // Proves: --agent ROLE=ZONE.SERVER names an agent hosted by a tool
  // zone's mcpd (--servers): the supervisor calls hosted.agent.ask.
  test('an agent hosted by mcpd --servers (--agent report=hosted.agent)', async () => {
    const r = await sup(['--json', '--agent', 'report=hosted.agent']);
    checkComplete(r, 1);
    assert.match(r.json.report, /CVE-2025-/);
  });

  // Proves: the window is computed from the clock's date, not a constant
  // (a leap day's year starts on 28 February).
  test('the window follows the clock', async () => {
    const r = await sup(['--json', '--clock-zone', 'tools-leap']);
    assert.equal(r.json.now, '2024-02-29', r.stderr);
    assert.equal(r.json.window, '2023-02-28..2024-02-29');
    assert.equal(r.json.runs.length, 1);
  });

  test('text output: the report, its sources, the timings', async () => {
    writeFileSync(join(dir, 'q.txt'), `${QUESTION}\n`);
    const r = await sup(['--question-file', join(dir, 'q.txt')]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /container escape/);
    assert.match(r.stdout, /\nSources:\n {2}http:\/\/127\.0\.0\.1:\d+\/pages\//);
    assert.match(r.stdout, /\nTiming \(window 2025-01-15\.\.2026-01-15\):\n {2}run 1: total \d+\.\d{3} ms, clock \d+\.\d{3} ms, cve-question \d+\.\d{3} ms/);
  });

  // Proves: an agent whose tool is denied by policy fails its section
  // with a fixed notice, the rest of the plan still runs, the report is
  // marked partial and the exit status is 1.
  test('a denied agent: partial report, exit 1', async () => {
    const r = await sup(['--json', '--agent', 'rag=rag-nokb']);
    assert.equal(r.status, 1, r.stderr);
    const o = r.json;
    assert.equal(o.complete, false);
    assert.equal(o.errors.length, 1, JSON.stringify(o.errors));
    assert.equal(o.errors[0].agent, 'rag');
    assert.match(o.errors[0].error, /^rag agent: kb\.rag_search: .*(Unknown tool|denied)/);
    assert.equal(o.runs[0].agents.rag.ok, false);
    assert.deepEqual(o.runs[0].agents.rag.ops.map((op) => [op.tool, op.ok]), [['kb.rag_search', false]]);
    // the report agent still wrote the report, from the CVE section
    assert.equal(o.runs[0].agents.report.ok, true);
    assert.ok(o.sources.some((s) => /^http:/.test(s)), o.report);
    assert.ok(!o.sources.some((s) => isCorpusDoc(s)), o.report);
  });

  // Proves: an agent that never answers (its web zone's search hangs, its
  // own deadline 10 minutes) is given up at the supervisor's deadline
  // (--deadline-ms 2000), and the plan goes on: a partial report, exit 1,
  // not a hang (with the deadline taken away the run outlived the guard:
  // seen red).
  test('a hung agent: given up at the deadline, exit 1', async () => {
    const before = silentConns;
    const r = await sup(['--json', '--agent', 'cve=cve-hang', '--deadline-ms', '2000'], 40000);
    assert.notEqual(r.status, null, 'the supervisor hung');
    assert.equal(r.status, 1, r.stderr);
    assert.ok(silentConns > before, 'the search never started');
    const o = r.json;
    assert.equal(o.complete, false);
    assert.deepEqual(o.errors.map((e) => e.agent), ['cve']);
    assert.match(o.errors[0].error, /no answer within the deadline/);
    // the deadline counts whole milliseconds, the timing microseconds
    assert.ok(o.runs[0].agents.cve.ms >= 1999 && o.runs[0].agents.cve.ms < 30000);
    // later steps ran on a new session
    for (const role of ['blog-question', 'rag', 'report']) assert.equal(o.runs[0].agents[role].ok, true, role);
    assert.match(o.report, /\(not available: no answer within the deadline\)|not available/);
  });

  // Proves: when report itself fails (the gateway denies report-x.ask:
  // no grant), the supervisor writes its own partial report: the fixed
  // template with both sections as received and the error, and the
  // sources of cve and rag.
  test('a failed report: the supervisor\'s partial report', async () => {
    const r = await sup(['--json', '--agent', 'report=report-x']);
    assert.equal(r.status, 1, r.stderr);
    const o = r.json;
    assert.equal(o.complete, false);
    assert.deepEqual(o.errors.map((e) => e.agent), ['report']);
    assert.match(o.errors[0].error, /Unknown tool: report-x\.ask.*audit id/);
    assert.match(o.report, /^Partial report \(written by the supervisor: the report agent failed\)\n\nQuestion: Tell me about/);
    assert.match(o.report, /\n## CVEs in the window\n\n.*\[source: http/);
    assert.match(o.report, /\n## What the knowledge base says\n\n/);
    assert.match(o.report, /\nError: report: Unknown tool: report-x\.ask/);
    assert.ok(o.sources.filter((s) => /^http:/.test(s)).length >= 2, JSON.stringify(o.sources));
    assert.ok(o.sources.some((s) => isCorpusDoc(s)), JSON.stringify(o.sources));
  });

  // Proves: a clock the gateway denies (no grant for clock-x.time_now)
  // leaves no window: the CVE steps are not asked, their section is the
  // notice, the knowledge-base steps and the report still run.
  test('a denied clock: no window, the rest still runs', async () => {
    const r = await sup(['--json', '--clock-zone', 'clock-x']);
    assert.equal(r.status, 1, r.stderr);
    const o = r.json;
    assert.equal(o.now, null);
    assert.equal(o.window, null);
    assert.deepEqual(o.errors.map((e) => e.agent), ['clock']);
    assert.match(o.errors[0].error, /^clock-x\.time_now: Unknown tool/);
    assert.deepEqual(Object.keys(o.runs[0].agents), ['blog-question', 'rag', 'report']);
    assert.ok(o.runs[0].agents.report.ok);
    assert.ok(o.sources.some((s) => isCorpusDoc(s)), JSON.stringify(o.sources));
  });

  // Proves: no gateway at the end of the channel is exit 3, at once.
  test('no gateway: exit 3', async () => {
    const r = await supervise(['--chan', 'sim:99:nothing', '--relay', RELAY,
      '--connect-timeout', '300', '--json'], 30000);
    assert.equal(r.status, 3, r.stderr + r.stdout);
    assert.match(r.stderr, /cannot reach the gateway/);
    assert.equal(r.stdout, '');
  });
});

describe('the baseline: the direct route, no gateway', () => {
  const urls = {};
  const ready = (name) => join(dir, `${name}.url`);
  const url = (name) => readFileSync(ready(name), 'utf8').trim();
  const http = (name) => ['--http', '127.0.0.1:0', '--ready-file', ready(name)];

  before(async () => {
    procs.push(daemon(MCPD, [...http('d-tools'), '--as-of', AS_OF]));
    procs.push(daemon(MCPD, [...http('d-llm'), '--llm']));
    procs.push(daemon(MCPD, [...http('d-web'), ...webArgs]));
    procs.push(daemon(MCPD, [...http('d-kb'), '--rag-db', join(dir, 'kb.db')]));
    for (const n of ['tools', 'llm', 'web', 'kb']) {
      await waitFor(`mcpd ${n}`, () => existsSync(ready(`d-${n}`)));
      urls[n] = url(`d-${n}`);
    }
    // no relay exists: every call must go direct
    for (const role of ROLES) {
      procs.push(daemon(AGENT, ['--role', role, ...http(`a-${role}`), '--relay', join(dir, 'no-relay'),
        '--direct', `llm=${urls.llm}`, '--direct', `web=${urls.web}`, '--direct', `kb=${urls.kb}`]));
    }
    for (const role of ROLES) {
      await waitFor(`agent ${role}`, () => existsSync(ready(`a-${role}`)));
      urls[role] = url(`a-${role}`);
    }
  });

  // Proves: the same plan with every call made directly on the zones'
  // HTTP servers (no gatewayd runs in this part, and the relay binary
  // does not exist) gives the same report as through the gateway.
  test('a full run with --direct: the same report', async (tc) => {
    const r = await supervise(['--json', '--runs', '2', '--relay', join(dir, 'no-relay'),
      '--direct', `tools=${urls.tools}`, ...ROLES.flatMap((n) => ['--direct', `${n}=${urls[n]}`])]);
    tc.diagnostic(r.stderr);
    checkComplete(r, 2);
    if (gatewayReport !== undefined) assert.equal(r.json.report, gatewayReport);
  });

  // Proves: an agent's --direct zone that no server answers is a clear
  // error of that agent (cannot reach), not a hang.
  test('a direct zone that is down', async () => {
    const r = await supervise(['--json', '--relay', join(dir, 'no-relay'),
      '--direct', `tools=${urls.tools}`, '--direct', 'cve-question=http://127.0.0.1:1/mcp',
      ...ROLES.slice(1).flatMap((n) => ['--direct', `${n}=${urls[n]}`])]);
    assert.equal(r.status, 1, r.stderr);
    assert.equal(r.json.errors[0].agent, 'cve-question');
    assert.match(r.json.errors[0].error, /cannot reach cve-question at http:\/\/127\.0\.0\.1:1\/mcp: initialize/);
    assert.match(r.json.report, /\(not available: cannot reach cve-question/);
  });
});

describe('options', () => {
  // Proves: each bad option is refused with a reason and exit 2, before
  // anything is called (no gateway runs for these).
  test('bad options: exit 2', async () => {
    const big = join(dir, 'big.txt');
    writeFileSync(big, 'x'.repeat(64 * 1024 + 1));
    writeFileSync(join(dir, 'empty.txt'), '\n');
    const cases = [
      [['--runs', '0'], /--runs: expected 1\.\.100/],
      [['--runs', '101'], /--runs: expected 1\.\.100/],
      [['--deadline-ms', '5'], /--deadline-ms/],
      [['--agent', 'boss=x'], /'boss' is not a role/],
      [['--agent', 'cve'], /expected ROLE=ZONE/],
      [['--agent', 'cve=Bad_Zone'], /not a zone name/],
      [['--agent', 'cve=a.b.c'], /not a zone name \(or ZONE.SERVER\)/],
      [['--agent', 'cve=.agent'], /not a zone name/],
      [['--clock-zone', '-x'], /not a zone name/],
      [['--direct', 'cve'], /expected ZONE=URL/],
      [['--direct', 'cve=http://10.0.0.1/mcp'], /--direct: cve: /],
      [['--direct', 'cve=http://127.0.0.1:1/mcp', '--direct', 'cve=http://127.0.0.1:2/mcp'], /given twice/],
      [['--question', ''], /--question/],
      [['--question', 'a', '--question-file', big], /one --question or --question-file/],
      [['--question-file', big], /over 64 KiB/],
      [['--question-file', join(dir, 'empty.txt')], /empty/],
      [['--question-file', join(dir, 'none.txt')], /No such file/],
      [['extra'], /unexpected argument/],
      [['--bogus'], /usage:/],
    ];
    for (const [args, re] of cases) {
      const r = spawnSync(SUPERVISOR, args, { env, encoding: 'utf8', timeout: 10000 });
      assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, re, args.join(' '));
      assert.equal(r.stdout, '', args.join(' '));
    }
    const ag = [
      [['--role', 'cve', '--direct', 'llm'], /expected ZONE=URL/],
      [['--role', 'cve', '--direct', 'llm=ftp://127.0.0.1/x'], /--direct: llm: /],
      [['--role', 'cve', '--http', 'nowhere'], /--http/],
      [['--role', 'cve', '--ready-file', 'x'], /--ready-file needs --http/],
    ];
    for (const [args, re] of ag) {
      const r = spawnSync(AGENT, args, { env, encoding: 'utf8', timeout: 10000 });
      assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, re, args.join(' '));
    }
  });

  test('--help and --version', () => {
    let r = spawnSync(SUPERVISOR, ['--help'], { encoding: 'utf8' });
    assert.equal(r.status, 0);
    for (const o of ['--question', '--question-file', '--agent', '--clock-zone', '--direct',
      '--chan', '--relay', '--deadline-ms', '--connect-timeout', '--runs', '--json', '--out']) {
      assert.ok(r.stdout.includes(o), o);
    }
    r = spawnSync(SUPERVISOR, ['--version'], { encoding: 'utf8' });
    assert.equal(r.status, 0);
    assert.match(r.stdout, /^zonegate-supervisor \S+\n$/);
  });
});
