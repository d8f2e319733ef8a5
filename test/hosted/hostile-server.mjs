// A hostile stdio MCP server for the hosted-server tests. Mode (argv[2]):
// silent: never answers initialize; nolist: never answers tools/list;
// otherwise it initializes, lists one
// tool "go" (and one invalid name), resources own://MODE and twin://shared,
// and on tools/call misbehaves: flood (notifications without
// end), garbage (non-JSON lines, then nothing), oversize (a 2 MiB
// response line), deaf (stops reading its stdin), exit (dies mid-call),
// mute (answers a call only when its arguments say answer: true, and
// says on stderr which calls and cancellations it got), pingdeaf (stops
// reading its stdin, then sends 1500 pings with 200-byte ids, whose
// answers are far more than its stdin pipe holds). No dependencies.
import { createInterface } from 'node:readline';

const mode = process.argv[2];
const out = (m) => process.stdout.write(`${JSON.stringify(m)}\n`);
process.stderr.write(`hostile server in mode ${mode}\n`);

function misbehave(id) {
  switch (mode) {
    case 'flood': {
      const note = JSON.stringify({ jsonrpc: '2.0', method: 'notifications/message',
        params: { level: 'info', data: 'x'.repeat(100) } });
      const burst = `${note}\n`.repeat(1000);
      const pump = () => { while (process.stdout.write(burst)); process.stdout.once('drain', pump); };
      pump();
      break;
    }
    case 'garbage':
      for (let i = 0; i < 100; i++) process.stdout.write(`this is not json ${i}\n`);
      break;
    case 'oversize':
      out({ jsonrpc: '2.0', id, result: { content: [{ type: 'text', text: 'y'.repeat(2 << 20) }] } });
      break;
    case 'deaf': // stops reading its stdin and never answers
      rl.pause();
      process.stdin.pause();
      process.stderr.write('deaf: no longer reading stdin\n');
      setInterval(() => {}, 1000); // stays alive

      break;
    case 'pingdeaf': {
      rl.pause();
      process.stdin.pause();
      const pad = 'p'.repeat(200);
      for (let i = 0; i < 1500; i++) out({ jsonrpc: '2.0', id: `${pad}${i}`, method: 'ping' });
      process.stderr.write('pingdeaf: 1500 pings sent\n');
      setInterval(() => {}, 1000); // stays alive
      break;
    }
    case 'exit':
      process.exit(3);
      break;
    default: // a log message at every level, then the answer
      for (const level of ['debug', 'info', 'notice', 'warning', 'error', 'critical', 'alert', 'emergency'])
        out({ jsonrpc: '2.0', method: 'notifications/message', params: { level, data: level } });
      out({ jsonrpc: '2.0', id, result: { content: [{ type: 'text', text: 'fine' }] } });
  }
}

const rl = createInterface({ input: process.stdin });
rl.on('line', (line) => {
  const m = JSON.parse(line);
  if (m.method === 'initialize') {
    if (mode === 'silent') return;
    out({ jsonrpc: '2.0', id: m.id, result: { protocolVersion: '2025-11-25',
      capabilities: { tools: {}, resources: {} }, serverInfo: { name: `hostile-${mode}`, version: '1' } } });
  } else if (m.method === 'tools/list' && mode === 'nolist') {
    // never answers its lists
  } else if (m.method === 'tools/list') {
    out({ jsonrpc: '2.0', id: m.id, result: { tools: [
      { name: 'go', inputSchema: { type: 'object' } },
      { name: 'bad name!', inputSchema: { type: 'object' } }] } });
  } else if (m.method === 'resources/list') {
    // one URI of its own, one that every hostile server claims
    out({ jsonrpc: '2.0', id: m.id, result: { resources: [
      { uri: `own://${mode}`, name: 'own' }, { uri: 'twin://shared', name: 'twin' }] } });
  } else if (m.method === 'resources/read') {
    out({ jsonrpc: '2.0', id: m.id, result: { contents: [
      { uri: m.params.uri, text: `read by ${mode}` }] } });
  } else if (m.method === 'tools/call' && mode === 'mute') {
    process.stderr.write(`mute: call ${m.id}\n`);
    if (m.params.arguments?.answer)
      out({ jsonrpc: '2.0', id: m.id, result: { content: [{ type: 'text', text: 'fine' }] } });
  } else if (m.method === 'notifications/cancelled') {
    process.stderr.write(`${mode}: cancelled ${m.params.requestId} (${m.params.reason})\n`);
  } else if (m.method === 'tools/call') {
    misbehave(m.id);
  } else if (m.id !== undefined) {
    out({ jsonrpc: '2.0', id: m.id, result: {} });
  }
});
