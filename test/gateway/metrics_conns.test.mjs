// End to end: idle connections cannot lock a Prometheus scraper out of
// gatewayd's metrics endpoint. 200 connections (more than the endpoint
// serves at once) that never send a byte, that send half a request, or
// that sent one request and keep the connection open,
// then five scrapes, each on a fresh connection as a scraper's would be:
// every one gets its 200 and the metrics text, on the loopback TCP
// endpoint and on a unix: endpoint. Seen to fail on both before the
// endpoint evicted idle connections (32 slots, nothing evicted). With only
// the eviction turned off, the TCP case still fails at once
// (libmicrohttpd closes connections over its limit unanswered), while on
// the unix endpoint a connection over the limit waits in the listen
// backlog until idle ones time out. Before the scrapes, the connections
// over the cap must have been closed (evicted) well before that timeout;
// with the eviction off, that wait fails on both endpoints. Also that the
// idle connections are
// all closed in the end.
// Env: GATEWAYD.
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { daemon as spawnDaemon, stop, waitFor } from '../common/harness.mjs';

const { GATEWAYD } = process.env;
// more than libmicrohttpd's own limit (128) on the endpoint, so that only
// eviction lets a scrape in
const IDLE = 200;
const dir = mkdtempSync(join(tmpdir(), 'zg-gwmet-'));
const env = { ...process.env, ZONEGATE_SIM_DIR: join(dir, 'sim') };

function start(name, metrics) {
  writeFileSync(join(dir, 'a.policy'), '# nothing\n');
  writeFileSync(join(dir, `${name}.json`), JSON.stringify({
    zones: { a: { domid: 1, role: 'agent', chan: `sim:1:${name}` } },
    policy: 'a.policy', metrics }));
  return spawnDaemon(GATEWAYD, ['--config', join(dir, `${name}.json`)], env);
}

// One GET on a new connection; resolves to { status, body }, rejects on a
// closed or reset connection (the timeout is a hang guard only).
function scrape(opts) {
  return new Promise((res, rej) => {
    const req = request({ ...opts, path: '/metrics', agent: false, timeout: 5000 },
      (r) => {
        let body = '';
        r.on('data', (d) => { body += d; });
        r.on('end', () => res({ status: r.statusCode, body }));
      });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', rej);
    req.end();
  });
}

// IDLE idle connections of three kinds; resolves once all are connected.
async function idleConnections(opts, counts) {
  const socks = [];
  for (let i = 0; i < IDLE; i++) {
    await new Promise((res) => {
      const s = createConnection(opts.socketPath ? { path: opts.socketPath } : opts);
      socks.push(s);
      s.on('error', () => {});
      s.on('close', () => { counts.closed++; res(); });
      s.on('connect', () => {
        if (i % 3 === 1) s.write('GET /metrics HTTP/1.1\r\nHost: x\r\n');
        if (i % 3 === 2) s.write('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n');
        s.resume(); // reads (and drops) any reply, sees the close
        res();
      });
    });
  }
  return socks;
}

async function lockoutCase(gw, opts) {
  const counts = { closed: 0 };
  const socks = await idleConnections(opts, counts);
  // The endpoint keeps 32 and evicts the rest at once, long before its 5 s
  // idle timeout would close them: waiting for those closes (a count)
  // also lets a loaded machine's endpoint finish closing what it evicted,
  // which still counts against libmicrohttpd's own limit until it has.
  await waitFor('idle connections over the cap evicted',
    () => counts.closed >= IDLE - 32, 4000);
  let ok = 0;
  for (let i = 0; i < 5; i++) {
    try {
      const r = await scrape(opts);
      if (r.status === 200 && /zonegate_/.test(r.body)) ok++;
    } catch { /* closed unanswered: counted as a failure */ }
  }
  assert.equal(ok, 5, 'a scraper was locked out by idle connections');
  // and the idle ones do not stay: eviction or the connection timeout
  await waitFor('every idle connection closed', () => counts.closed === socks.length, 30000);
  assert.ok(gw.exitCode === null, 'gatewayd still running');
}

describe('metrics endpoint connections', () => {
  const running = [];
  after(async () => {
    for (const p of running) await stop(p, 'SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });

  test('200 idle TCP connections do not lock out a scrape', async () => {
    const gw = start('tcp', '127.0.0.1:0');
    running.push(gw);
    await waitFor('metrics address', () => /metrics at http:\/\/127\.0\.0\.1:\d+/.test(gw.log));
    const port = Number(/metrics at http:\/\/127\.0\.0\.1:(\d+)/.exec(gw.log)[1]);
    await lockoutCase(gw, { host: '127.0.0.1', port });
  });

  test('200 idle unix connections do not lock out a scrape', async () => {
    const path = join(dir, 'm.sock');
    const gw = start('unix', `unix:${path}`);
    running.push(gw);
    await waitFor('metrics socket', () => /metrics at unix:/.test(gw.log));
    await lockoutCase(gw, { socketPath: path });
  });
});
