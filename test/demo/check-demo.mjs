// The README's demo as a test (ctest demo_scenario, as root): runs
// scripts/demo.mjs --json in deterministic mode (one timing run of each
// setup, the clock fixed with --as-of) and checks every claim of its
// output against the world, not against itself:
//  * the report is complete and cites at least two web pages whose own
//    date (data/web/pages, <meta name="date">) is inside the window, and at
//    least one knowledge-base document of data/corpus;
//  * every attack was observed succeeding in the baseline (the admin
//    socket is n/a there: no gateway) and failing in zonegate;
//  * the timing table has every agent and the supervisor in both setups,
//    with the operations each agent makes;
//  * every zone was sandboxed (seccomp, Landlock, a fresh root, its own
//    uid) and the audit chain verifies;
//  * no process of the run is left behind, and stdout held only the JSON.
// Seen to fail: with the pipeline's policy granting rag every tool
// (`rag *.* allow`), kb-write and ungranted-tools succeed in zonegate; the
// demo says so and exits 1, and the check fails.
// usage: node check-demo.mjs DEMO_MJS BUILD_DIR
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const [demo, build] = process.argv.slice(2);
const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
if (process.getuid() !== 0) {
  console.log('skipped: the demo runs zones as root');
  process.exit(77);
}
const AS_OF = '2026-01-15';
const WINDOW = ['2025-01-15', AS_OF];
const AGENTS = ['cve-question', 'cve', 'blog-question', 'rag', 'report'];
const ATTACKS = ['kb-write', 'read-api-key', 'read-host-secrets', 'host-fs', 'admin-socket',
  'ungranted-tools', 'tamper-other-agent', 'network'];

// Processes that belong to a demo run: a scratch path on the command line
// or a zone's uid (100000 + domid).
function demoProcs() {
  const out = [];
  for (const p of readdirSync('/proc').filter((x) => /^\d+$/.test(x))) {
    try {
      const cmd = readFileSync(`/proc/${p}/cmdline`, 'utf8').replace(/\0/g, ' ');
      const uid = Number(/^Uid:\s+(\d+)/m.exec(readFileSync(`/proc/${p}/status`, 'utf8'))[1]);
      if (cmd.includes('/tmp/zgdemo-') || (uid >= 100040 && uid <= 100060)) out.push(`${p} ${uid} ${cmd}`);
    } catch { /* gone */ }
  }
  return out;
}

const before = demoProcs();
const r = spawnSync(process.execPath, [demo, build, '--json', '--runs', '1', '--as-of', AS_OF],
  { encoding: 'utf8', timeout: 600000, maxBuffer: 64 << 20 });
process.stderr.write(r.stderr);
assert.equal(r.status, 0, `demo exited ${r.status} ${r.signal ?? ''}`);
const o = JSON.parse(r.stdout); // stdout is the JSON object and nothing else
console.log(JSON.stringify({ report: o.report.slice(0, 400), attacks: o.attacks.map((a) => `${a.name}: ${a.baseline}/${a.zonegate}`), overhead: o.timings.overhead }, null, 2));

// the report
assert.equal(o.complete, true, 'the report is partial');
assert.equal(o.window, WINDOW.join('..'));
const pages = o.sources.filter((s) => /^http:\/\/127\.0\.0\.1:\d+\/pages\/[a-z0-9-]+\.html$/.test(s));
const dated = pages.filter((u) => {
  const f = join(root, 'data/web/pages', u.split('/').pop());
  const d = existsSync(f) && /<meta name="date" content="([\d-]+)">/.exec(readFileSync(f, 'utf8'));
  return d && d[1] >= WINDOW[0] && d[1] <= WINDOW[1];
});
assert.ok(dated.length >= 2, `web pages within the window: ${dated.join(', ')}`);
for (const u of dated) assert.ok(o.report.includes(u), `${u} is not cited in the report`);
const docs = o.sources.filter((s) => s.startsWith('data/corpus/') && existsSync(join(root, s)));
assert.ok(docs.length >= 1, `knowledge-base documents: ${o.sources.join(', ')}`);
assert.match(o.report, /CVE-2025-\d{4,}/);

// the attacks
assert.deepEqual(o.attacks.map((a) => a.name).sort(), [...ATTACKS].sort());
for (const a of o.attacks) {
  assert.equal(a.baseline, a.name === 'admin-socket' ? 'n/a' : 'succeeded', `${a.name} in the baseline: ${a.evidence}`);
  assert.equal(a.zonegate, 'failed', `${a.name} in zonegate: ${a.evidence}`);
  assert.ok(a.evidence.length > 0);
}
assert.match(o.attacks.find((a) => a.name === 'kb-write').evidence, /audit id [0-9a-f]+-[0-9a-f]+/);
assert.equal(o.baseline_report_complete, true, 'the baseline pipeline after the attack');

// the timing table
assert.equal(o.timings.runs, 1);
for (const setup of ['zonegate', 'baseline']) {
  const t = o.timings[setup];
  for (const a of ['supervisor', ...AGENTS]) {
    assert.ok(t[a]?.total_ms?.n === 1 && t[a].total_ms.mean > 0, `${setup} ${a}: ${JSON.stringify(t[a])}`);
  }
  assert.ok(t.cve.ops['web search'] && t.cve.ops['web fetch'] && t.cve.ops['model call'], setup);
  assert.ok(t.rag.ops['RAG lookup'] && t.rag.ops['model call'], setup);
}
for (const a of AGENTS) assert.ok(o.timings.zonegate[a].ops['gateway hop'], `gateway hop of ${a}`);
assert.equal(typeof o.timings.overhead.end_to_end_ratio, 'number');
assert.ok(o.timings.startup_ms.zonegate > 0 && o.timings.startup_ms.baseline > 0);
assert.ok(o.config_lines > 0);

// the isolation, the audit chain
assert.deepEqual(Object.keys(o.isolation).sort(),
  ['blog-question', 'cve', 'cve-question', 'kb', 'llm', 'rag', 'report', 'supervisor', 'tools', 'web']);
for (const [z, i] of Object.entries(o.isolation)) {
  assert.equal(i.sandboxed, true, z);
  assert.match(i.isolation, /^uid 1000\d\d, ns user\+mnt\+pid\+ipc\+uts\+net\+cgroup, fresh root, seccomp yes, landlock ABI \d+, nnp yes, caps dropped$/, z);
}
assert.match(o.audit_verify, /audit chain ok/);

// nothing left behind
const after = demoProcs().filter((p) => !before.includes(p));
assert.deepEqual(after, [], 'processes left behind');
console.log('demo: every claim checked');
