// bench/gateway/k8s_e2e.mjs: tools/call through gatewayd over HTTPS, one
// session each, sequential calls on a keep-alive connection, to compare
// a k8s listener (a service-account token verified per request) with
// the same token every call (a cache hit after the first), with a new
// token every call (minted beforehand: every check a cache miss), and a
// listener bound by a static token (a constant-time compare). Prints
// calls/s and p50/p99 in microseconds.
// Env: GATEWAYD, MCPD_TEST, CALLS (default 2000), ROUNDS (3).
import { generateKeyPairSync, sign } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { daemon, makeTestCerts, waitFor } from '../../test/common/harness.mjs';

const { Agent, fetch } = await import('../../test/node/node_modules/undici/index.js');
const { GATEWAYD, MCPD_TEST } = process.env;
const CALLS = Number(process.env.CALLS || 2000), ROUNDS = Number(process.env.ROUNDS || 3);
const ISS = 'https://kubernetes.default.svc.cluster.local';
const dir = mkdtempSync(join(tmpdir(), 'zg-k8sbench-'));
const env = { ...process.env, ZONEGATE_SIM_DIR: join(dir, 'sim') };
const certs = makeTestCerts(dir);
const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
const b64u = (b) => Buffer.from(b).toString('base64url');
const now = Math.floor(Date.now() / 1000);
const mint = (jti) => {
  const part = `${b64u(JSON.stringify({ alg: 'RS256', kid: 'r' }))}.${b64u(JSON.stringify({
    aud: ['zonegate'], iss: ISS, exp: now + 3600, iat: now, jti: `j${jti}`,
    'kubernetes.io': { namespace: 'agents', serviceaccount: { name: 'agent-a' } } }))}`;
  return `${part}.${b64u(sign('sha256', Buffer.from(part), rsa.privateKey))}`;
};
const JWT = mint(0);
let fresh = 1; // the next never-used token's jti
const STATIC = 'k'.repeat(40);

writeFileSync(join(dir, 'jwks.json'), JSON.stringify({ keys: [{ ...rsa.publicKey.export({ format: 'jwk' }), kid: 'r' }] }));
writeFileSync(join(dir, 'tok'), `${STATIC}\n`);
writeFileSync(join(dir, 'p'), 'pod-a tools.test_simple_text allow\nhost-a tools.test_simple_text allow\n');
writeFileSync(join(dir, 'gw.json'), JSON.stringify({
  zones: { 'pod-a': { role: 'agent', k8s: { namespace: 'agents', serviceAccount: 'agent-a' } },
    'host-a': { domid: 51, role: 'agent' },
    tools: { domid: 53, role: 'tool', chan: 'sim:53:tools' } },
  listeners: [
    { listen: '127.0.0.1:0', tls: { cert: 'srv.pem', key: 'srv.key' },
      k8s: { audience: 'zonegate', issuer: ISS, jwks: 'jwks.json' } },
    { listen: '127.0.0.1:0', zone: 'host-a', token_file: 'tok', tls: { cert: 'srv.pem', key: 'srv.key' } }],
  policy: 'p' }));

const tools = daemon(MCPD_TEST, ['--chan', 'sim:53:tools', '--fixtures', 'conformance'], env);
const gw = daemon(GATEWAYD, ['--config', join(dir, 'gw.json')], env);
const agent = new Agent({ connect: { ca: certs.ca }, connections: 1 });
try {
  await waitFor('gateway', () => gw.log.includes('tool zone tools up') &&
    (gw.log.match(/on https:\S+/g) || []).length === 2, 20000);
  const k8sUrl = gw.log.match(/k8s service accounts on (https:\S+)/)[1];
  const tokUrl = gw.log.match(/zone host-a on (https:\S+)/)[1];
  const H = { 'content-type': 'application/json', accept: 'application/json, text/event-stream' };
  const session = async (url, token) => {
    const h = { ...H, authorization: `Bearer ${token}` };
    const r = await fetch(url, { method: 'POST', dispatcher: agent, headers: h, body: JSON.stringify({
      jsonrpc: '2.0', id: 0, method: 'initialize', params: { protocolVersion: '2025-06-18',
        capabilities: {}, clientInfo: { name: 'bench', version: '1' } } }) });
    await r.text();
    h['mcp-session-id'] = r.headers.get('mcp-session-id');
    h['mcp-protocol-version'] = '2025-06-18';
    await (await fetch(url, { method: 'POST', dispatcher: agent, headers: h,
      body: '{"jsonrpc":"2.0","method":"notifications/initialized"}' })).text();
    return h;
  };
  // token: one for every call, or a function giving each call's
  const round = async (url, token) => {
    const each = typeof token === 'function' ? Array.from({ length: CALLS + 1 }, token) : null;
    const h = await session(url, each ? each[0] : token);
    const lat = [];
    for (let i = 1; i <= CALLS; i++) {
      if (each) h.authorization = `Bearer ${each[i]}`;
      const s = process.hrtime.bigint();
      const r = await fetch(url, { method: 'POST', dispatcher: agent, headers: h, body: JSON.stringify({
        jsonrpc: '2.0', id: i, method: 'tools/call', params: { name: 'tools.test_simple_text', arguments: {} } }) });
      const t = await r.text();
      if (r.status !== 200 || !t.includes('"result"')) throw new Error(`call failed: ${r.status} ${t}`);
      lat.push(Number(process.hrtime.bigint() - s) / 1000);
    }
    const secs = lat.reduce((a, b) => a + b, 0) / 1e6; // calls only
    lat.sort((a, b) => a - b);
    return { rate: CALLS / secs, p50: lat[Math.floor(lat.length / 2)], p99: lat[Math.floor(lat.length * 0.99)] };
  };
  const med = (xs) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const res = { k8s_cached: [], k8s_new_token_each_call: [], token: [] };
  for (let r = 0; r < ROUNDS; r++) {
    res.k8s_cached.push(await round(k8sUrl, JWT));
    res.k8s_new_token_each_call.push(await round(k8sUrl, () => mint(fresh++)));
    res.token.push(await round(tokUrl, STATIC));
  }
  console.log('listener calls_per_s p50_us p99_us (medians of rounds)');
  for (const [k, v] of Object.entries(res)) {
    console.log(`${k} ${med(v.map((x) => x.rate)).toFixed(0)} ${med(v.map((x) => x.p50)).toFixed(0)} ${med(v.map((x) => x.p99)).toFixed(0)}`);
  }
} finally {
  await agent.close();
  gw.kill('SIGTERM');
  tools.kill('SIGTERM');
  await gw.done;
  await tools.done;
  rmSync(dir, { recursive: true, force: true });
}
