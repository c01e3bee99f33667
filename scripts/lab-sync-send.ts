// Sends datagrams to the sync group, for the sync e2e test (test/e2e-sync.test.ts):
//
//   lab-sync-send.ts FILE SOURCE [GROUP] [PORT]
//       FILE: one datagram per line, in hex; sent from SOURCE (an address of
//       the interface to send out of) to GROUP:PORT (224.0.0.81:8848), TTL 1,
//       one every 200 µs or so; prints "sent N" at the end.

import { createSocket } from 'node:dgram';
import { readFileSync } from 'node:fs';

const [file, source, group = '224.0.0.81', port = '8848'] = process.argv.slice(2);
if (!file || !source) { process.stderr.write('usage: lab-sync-send.ts FILE SOURCE [GROUP] [PORT]\n'); process.exit(2); }
const lines = readFileSync(file, 'utf8').split('\n').filter((l) => l.trim() !== '');
const s = createSocket('udp4');
s.bind(0, source, () => {
  s.setMulticastInterface(source);
  s.setMulticastTTL(1);
  s.setMulticastLoopback(false);
  let i = 0;
  const next = (): void => {
    if (i === lines.length) { process.stdout.write(`sent ${i}\n`); s.close(); return; }
    const b = Buffer.from(lines[i++]!, 'hex');
    s.send(b, Number(port), group, () => (i % 50 === 0 ? setTimeout(next, 10) : setImmediate(next)));
  };
  next();
});
