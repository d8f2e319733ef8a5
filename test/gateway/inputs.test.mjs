// End to end: what gatewayd accepts as its files. Config inputs (policy
// files, token files, pins) are opened without blocking and must be
// regular files once symlinks are followed: a FIFO is refused at once by
// --check and by a running gatewayd's reload (which keeps the old policy
// and still serves and stops on SIGTERM), while a Kubernetes-ConfigMap
// style symlink to a regular file is read. An admin_socket or unix:
// metrics path naming an existing non-socket file is refused and the file
// is left as it was. An admin client that never reads its (large) reply
// does not hold up the loop: another admin client is answered meanwhile,
// and the slow one still gets its whole reply when it reads. Also
// gatewayctl's stats --json, and unknown options are errors (exit 2). A
// FIFO as audit_log is refused without blocking, by gatewayd and by
// gatewayctl audit verify.
// Env: GATEWAYD, GATEWAYCTL.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync,
  writeFileSync } from 'node:fs';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { daemon as spawnDaemon, stop, waitFor } from '../common/harness.mjs';

const { GATEWAYD, GATEWAYCTL } = process.env;
const dir = mkdtempSync(join(tmpdir(), 'zg-gwin-'));
const env = { ...process.env, ZONEGATE_SIM_DIR: join(dir, 'sim') };
const TOKEN = 't'.repeat(20) + 'Kq3-token-for-the-inputs-test-01';

// A config in its own directory d with policy directory pol.d.
function setup(name, extra = {}, zones = {}) {
  const d = join(dir, name);
  mkdirSync(join(d, 'pol.d'), { recursive: true });
  writeFileSync(join(d, 'pol.d', '10-a.policy'), 'a t.x allow\n');
  writeFileSync(join(d, 'gw.json'), JSON.stringify({
    zones: { a: { domid: 1, role: 'agent', chan: `sim:1:${name}-a` }, ...zones },
    policy: 'pol.d', ...extra }));
  return d;
}

const mkfifo = (p) => assert.equal(spawnSync('mkfifo', [p]).status, 0);

// gatewayd --check, with a guard: a hang is a failure, not a stuck suite.
function check(d) {
  return spawnSync(GATEWAYD, ['--check', '--config', join(d, 'gw.json')],
    { env, encoding: 'utf8', timeout: 10000 });
}

describe('gatewayd config inputs', () => {
  const running = [];
  after(async () => {
    for (const p of running) await stop(p, 'SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });

  test('a FIFO as a policy file or token file is refused, without hanging', () => {
    const d = setup('fifo', { listeners: [{ listen: '127.0.0.1:0', zone: 'a',
      token_file: 'a.token' }] });
    writeFileSync(join(d, 'a.token'), `${TOKEN}\n`, { mode: 0o600 });
    assert.equal(check(d).status, 0, check(d).stderr);
    mkfifo(join(d, 'pol.d', '20-fifo.policy'));
    let r = check(d);
    assert.equal(r.error, undefined, 'gatewayd --check hung on a FIFO');
    assert.equal(r.status, 1);
    assert.match(r.stderr, /20-fifo\.policy: not a regular file/);
    rmSync(join(d, 'pol.d', '20-fifo.policy'));
    rmSync(join(d, 'a.token'));
    mkfifo(join(d, 'a.token'));
    r = check(d);
    assert.equal(r.error, undefined, 'gatewayd --check hung on a FIFO token');
    assert.equal(r.status, 1);
    assert.match(r.stderr, /a\.token: not a regular file/);
  });

  // The audit log is opened like the config inputs: a FIFO there (or a
  // symlink to one) used to hang gatewayd at start-up (reading the last
  // record blocked) and `gatewayctl audit verify FILE` (fopen blocked).
  test('a FIFO as audit_log is refused at once, by gatewayd and by audit verify', () => {
    const d = setup('afifo', { audit_log: 'audit.log' });
    mkfifo(join(d, 'audit.log'));
    let r = spawnSync(GATEWAYD, ['--config', join(d, 'gw.json')],
      { env, encoding: 'utf8', timeout: 10000 });
    assert.equal(r.error, undefined, 'gatewayd hung on a FIFO audit_log');
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /audit\.log: not a regular file/);
    rmSync(join(d, 'audit.log'));
    mkfifo(join(d, 'pipe'));
    symlinkSync('pipe', join(d, 'audit.log'));
    r = spawnSync(GATEWAYD, ['--config', join(d, 'gw.json')],
      { env, encoding: 'utf8', timeout: 10000 });
    assert.equal(r.error, undefined, 'gatewayd hung on a symlink to a FIFO');
    assert.match(r.stderr, /not a regular file/);
    r = spawnSync(GATEWAYCTL, ['--config', join(d, 'gw.json'), 'audit', 'verify',
      join(d, 'pipe')], { env, encoding: 'utf8', timeout: 10000 });
    assert.equal(r.error, undefined, 'audit verify hung on a FIFO');
    assert.notEqual(r.status, 0);
    assert.match(r.stdout + r.stderr, /pipe: not a regular file/);
  });

  test('--check warns, with FILE:LINE, about rules lint finds (exit still 0)', () => {
    const d = setup('lint');
    writeFileSync(join(d, 'pol.d', '20-x.policy'), 'bobb t.x allow\na t.x deny\n');
    const r = check(d);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /pol\.d\/20-x\.policy:1: warning: source: no zone 'bobb'/);
    assert.match(r.stderr, /pol\.d\/10-a\.policy:1: warning: target: no tool zone named 't'/);
    assert.match(r.stderr, /pol\.d\/20-x\.policy:2: warning: never decides anything: pol\.d\/10-a\.policy:1/);
    assert.match(r.stdout, /5 warnings/); // t is no tool zone: 3 of them
  });

  test('symlinks to regular files are read (ConfigMap layout)', () => {
    const d = setup('cm');
    // kubelet's layout: ..2026_x/FILE, ..data -> ..2026_x, FILE -> ..data/FILE
    mkdirSync(join(d, 'cm', '..2026_x'), { recursive: true });
    writeFileSync(join(d, 'cm', '..2026_x', '10-a.policy'), 'a t.x allow\na t.y allow\n');
    symlinkSync('..2026_x', join(d, 'cm', '..data'));
    symlinkSync('..data/10-a.policy', join(d, 'cm', '10-a.policy'));
    writeFileSync(join(d, 'gw.json'), JSON.stringify({
      zones: { a: { domid: 1, role: 'agent', chan: 'sim:1:cm-a' } }, policy: 'cm' }));
    const r = check(d);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /2 rules/);
    // a symlink to a FIFO is still a FIFO
    mkfifo(join(d, 'pipe'));
    symlinkSync('../pipe', join(d, 'cm', '20-p.policy'));
    const r2 = check(d);
    assert.equal(r2.error, undefined, 'hung on a symlink to a FIFO');
    assert.equal(r2.status, 1);
  });

  test('a running gatewayd refuses a FIFO on reload, keeps serving, stops on SIGTERM', async () => {
    const d = setup('run', { admin_socket: 'adm.sock', reload_interval_ms: 100 });
    const gw = spawnDaemon(GATEWAYD, ['--config', join(d, 'gw.json')], env);
    running.push(gw);
    await waitFor('gatewayd serving', () => gw.log.includes('serving'));
    mkfifo(join(d, 'pol.d', '20-fifo.policy'));
    await waitFor('reload refused', () => /policy NOT reloaded.*20-fifo\.policy: not a regular file/.test(gw.log));
    const st = spawnSync(GATEWAYCTL, ['--config', join(d, 'gw.json'), 'status'],
      { encoding: 'utf8', timeout: 10000 });
    assert.equal(st.status, 0, st.stderr);
    assert.equal(JSON.parse(st.stdout).policy.rules, 1);
    // stats --json is JSON (it used to be ignored); unknown options are errors
    const ctl = (...a) => spawnSync(GATEWAYCTL, ['--config', join(d, 'gw.json'), ...a],
      { encoding: 'utf8', timeout: 10000 });
    const sj = ctl('stats', '--json');
    assert.equal(sj.status, 0, sj.stderr);
    assert.ok(Array.isArray(JSON.parse(sj.stdout)), sj.stdout);
    assert.match(ctl('stats').stdout, /^zone +tool +calls/);
    for (const bad of [['stats', '--jsn'], ['status', '-x'], ['reload', '--now'], ['list', '--all'],
      ['lint', '--quiet'], ['check', 'a', 't.x', '--jsn'], ['--bogus', 'status']]) {
      const r = ctl(...bad);
      assert.equal(r.status, 2, `${bad.join(' ')}: ${r.stdout}${r.stderr}`);
    }
    gw.kill('SIGTERM');
    assert.equal(await gw.done, 0, gw.log);
  });

  test('admin_socket or unix: metrics naming a non-socket file: refused, file kept', async () => {
    for (const [key, val] of [['admin_socket', 'precious.txt'], ['metrics', 'unix:precious.txt']]) {
      const d = setup(`ns-${key}`, { [key]: val });
      writeFileSync(join(d, 'precious.txt'), 'do not delete\n');
      const gw = spawnDaemon(GATEWAYD, ['--config', join(d, 'gw.json')], env);
      running.push(gw);
      // a gatewayd that starts serving here has deleted the file
      await waitFor('gatewayd to refuse and exit', () => gw.exitCode !== null);
      const log = gw.log;
      assert.equal(gw.exitCode, 1, log);
      assert.match(log, /precious\.txt: exists and is not a socket/);
      assert.equal(readFileSync(join(d, 'precious.txt'), 'utf8'), 'do not delete\n');
    }
  });

  test('an admin client that does not read its reply holds up nobody', async () => {
    // 1000 tool zones make the status reply larger than a unix socket's
    // send buffer (wmem_default), so the reply cannot go out at once.
    const wmem = Number(readFileSync('/proc/sys/net/core/wmem_default', 'utf8'));
    const zones = {};
    for (let i = 0; i < 1000; i++)
      zones[`tool-zone-with-a-long-name-${i}`] = { domid: 100 + i, role: 'tool',
        chan: `sim:${100 + i}:big-t${i}` };
    const d = setup('big', { admin_socket: 'adm.sock' }, zones);
    const gw = spawnDaemon(GATEWAYD, ['--config', join(d, 'gw.json')], env);
    running.push(gw);
    await waitFor('gatewayd serving', () => gw.log.includes('serving'));
    // the slow client: asks, then does not read
    const slow = createConnection(join(d, 'adm.sock'));
    await new Promise((res) => slow.on('connect', res));
    slow.pause();
    slow.write('{"cmd":"status"}\n');
    await new Promise((res) => setTimeout(res, 300));
    // meanwhile another admin client is answered
    const st = spawnSync(GATEWAYCTL, ['--config', join(d, 'gw.json'), 'status'],
      { encoding: 'utf8', timeout: 10000, maxBuffer: 64 << 20 });
    assert.equal(st.error, undefined, 'the second admin client was not answered');
    assert.equal(st.status, 0, st.stderr);
    const size = Buffer.byteLength(st.stdout);
    // and the slow one gets the whole reply once it reads
    let got = '';
    slow.on('data', (x) => { got += x; });
    const ended = new Promise((res) => slow.on('end', res));
    slow.resume();
    await ended;
    assert.ok(got.length > wmem, `reply of ${got.length} bytes (want > ${wmem})`);
    const rep = JSON.parse(got);
    assert.equal(rep.ok, true);
    assert.equal(rep.zones.length, 1001);
    assert.ok(size > wmem);
    gw.kill('SIGTERM');
    assert.equal(await gw.done, 0, gw.log);
    assert.ok(!existsSync(join(d, 'adm.sock')));
  });
});
