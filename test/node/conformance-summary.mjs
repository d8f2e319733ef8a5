// Summarises a conformance run saved with `conformance server -o DIR`: one
// line per scenario with its SUCCESS/FAILURE/WARNING counts, the text of
// every failure and warning, and exit status 1 unless every expected
// scenario ran and none has a FAILURE check.
// The expected scenarios are the server scenarios the requirement set REV
// runs, scored or not (or just SCENARIO when given).
// Usage: node conformance-summary.mjs DIR SUITE_JS REV [SCENARIO]
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const [dir, suiteJs, rev, only] = process.argv.slice(2);

// `list --requirements REV` prints the scored server scenarios under
// "Server scenarios", then the unscored ones tagged "[server]".
function expected() {
  if (only) return [only];
  const out = execFileSync(process.execPath, [suiteJs, 'list', '--server', '--requirements', rev], {
    encoding: 'utf8',
  });
  const scored = /Server scenarios[^\n]*\n((?:\s+- \S+\n)+)/.exec(out);
  const names = scored ? [...scored[1].matchAll(/- (\S+)/g)].map((m) => m[1]) : [];
  const unscored = [...out.matchAll(/^\s+- (\S+) \[server\]$/gm)].map((m) => m[1]);
  if (!names.length) throw new Error(`no server scenarios listed for ${rev}`);
  return [...names, ...unscored];
}

const results = new Map();
for (const d of existsSync(dir) ? readdirSync(dir) : []) {
  const m = /^server-(.+)-\d{4}-\d\d-\d\dT[\d-]+Z$/.exec(d);
  const f = join(dir, d, 'checks.json');
  if (m && existsSync(f)) results.set(m[1], JSON.parse(readFileSync(f, 'utf8')));
}

let bad = 0;
const notes = [];
console.log('scenario                              ok  fail  warn');
for (const s of expected()) {
  const checks = results.get(s);
  if (!checks) {
    console.log(`${s.padEnd(36)}  --  MISSING (scenario did not run)`);
    bad++;
    continue;
  }
  const n = (st) => checks.filter((c) => c.status === st).length;
  const fail = n('FAILURE');
  const warn = n('WARNING');
  if (fail) bad++;
  console.log(`${s.padEnd(36)} ${String(n('SUCCESS')).padStart(3)} ${String(fail).padStart(5)} ${String(warn).padStart(5)}${fail ? '  FAIL' : ''}`);
  for (const c of checks) {
    if (c.status === 'FAILURE' || c.status === 'WARNING') {
      notes.push(`  ${c.status} ${s}/${c.id}: ${c.errorMessage || c.description}`);
    }
  }
}
if (notes.length) console.log(`\n${notes.join('\n')}`);
console.log(bad ? `\nconformance: ${bad} scenario(s) failed` : '\nconformance: all scenarios passed');
process.exit(bad ? 1 : 0);
