// A DNS server for the rebinding test, run inside the test's own network
// namespace: the first A query for a name gets a public address
// (8.8.8.8, unreachable there: the namespace has only loopback), every
// later one 127.0.0.1, as a rebinding attacker's server would answer.
// AAAA and others get an empty answer. Each A query is logged on stdout.
// Usage: node dns-rebind.mjs [PORT]
import { createSocket } from 'node:dgram';

const sock = createSocket('udp4');
let aQueries = 0;

sock.on('message', (q, peer) => {
  if (q.length < 17) return;
  let i = 12;
  while (i < q.length && q[i] !== 0) i += q[i] + 1;
  if (i + 5 > q.length) return;
  const qtype = q.readUInt16BE(i + 1);
  const question = q.subarray(12, i + 5);
  const header = Buffer.alloc(12);
  q.copy(header, 0, 0, 2); // id
  header.writeUInt16BE(0x8180, 2); // response, recursion available, NOERROR
  header.writeUInt16BE(1, 4);
  let answer = Buffer.alloc(0);
  if (qtype === 1) {
    aQueries++;
    const ip = aQueries === 1 ? [8, 8, 8, 8] : [127, 0, 0, 1];
    console.log(`A ${aQueries} ${ip.join('.')}`);
    answer = Buffer.from([0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 0, 0, 4, ...ip]);
    header.writeUInt16BE(1, 6);
  }
  sock.send(Buffer.concat([header, question, answer]), peer.port, peer.address);
});
sock.bind(Number(process.argv[2] || '53'), '127.0.0.1');
