// DNS_CHECK (keepalived.md §3.6): one UDP query (random id, RD, class IN);
// success = a reply with the same id, QR set and RCODE 0. Defaults: type SOA,
// name '.', retry 3, delayBeforeRetry = interval.

import { randomBytes } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { defineHealthCheck, z, type HealthResult } from 'lvsd';
import { socketFailure, str } from './lib/options.js';

const TYPES: Record<string, number> = { A: 1, NS: 2, CNAME: 5, SOA: 6, MX: 15, TXT: 16, AAAA: 28 };
const RCODES = ['NOERROR', 'FORMERR', 'SERVFAIL', 'NXDOMAIN', 'NOTIMP', 'REFUSED'];

/** The query without its id (bytes 0-1 are filled per attempt). */
export function buildQuery(name: string, qtype: number, id: number): Buffer {
  const labels = name === '.' ? [] : name.replace(/\.$/, '').split('.');
  const parts: Buffer[] = [Buffer.from([id >> 8, id & 0xff, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0])];
  for (const l of labels) parts.push(Buffer.from([l.length]), Buffer.from(l, 'ascii'));
  parts.push(Buffer.from([0, qtype >> 8, qtype & 0xff, 0, 1]));
  return Buffer.concat(parts);
}

export default defineHealthCheck({
  name: 'dns',
  description: 'DNS query over UDP (keepalived DNS_CHECK)',
  defaults: { retry: 3, delayBeforeRetry: 'interval' },
  options: z.object({
    /** Query type (A, NS, CNAME, SOA, MX, TXT, AAAA; any case); default SOA. */
    type: str().refine((t) => t.toUpperCase() in TYPES, {
      error: (iss) => `must be one of ${Object.keys(TYPES).join(', ')} (got ${JSON.stringify(iss.input)})`,
    }).optional(),
    /** Query name; default '.' (the root). */
    name: str().refine((n) => n === '.' || /^([A-Za-z0-9_-]{1,63}\.)*[A-Za-z0-9_-]{1,63}\.?$/.test(n), {
      error: (iss) => `is not a domain name (got ${JSON.stringify(iss.input)})`,
    }).optional(),
  }).transform((o) => {
    const type = (o.type ?? 'SOA').toUpperCase();
    return { type, qtype: TYPES[type] ?? 6, name: o.name ?? '.' };
  }),
  check: (t, o, ctx) => new Promise<HealthResult>((resolve) => {
    const id = randomBytes(2).readUInt16BE(0);
    const s = createSocket({ type: t.family === 'inet6' ? 'udp6' : 'udp4' });
    const where = `DNS ${o.type} ${o.name} to ${t.label}`;
    let settled = false;
    const done = (r: HealthResult): void => {
      if (settled) return;
      settled = true;
      ctx.signal.removeEventListener('abort', onAbort);
      try { s.close(); } catch { /* closed */ }
      resolve(r);
    };
    const onAbort = (): void => done({ ok: false, failure: 'timeout', reason: `${where}: no reply within ${ctx.timeout} s` });
    ctx.signal.addEventListener('abort', onAbort, { once: true });
    s.on('error', (e) => done(socketFailure(e, where)));
    s.on('message', (m) => {
      if (m.length < 12 || m.readUInt16BE(0) !== id) return;   // not ours: keep waiting (keepalived ignores it too)
      if (!(m[2]! & 0x80)) { done({ ok: false, failure: 'protocol', reason: `${where}: reply without the QR bit` }); return; }
      const rcode = m[3]! & 0x0f;
      if (rcode !== 0) { done({ ok: false, failure: 'protocol', reason: `${where}: RCODE ${RCODES[rcode] ?? rcode}` }); return; }
      done({ ok: true });
    });
    const go = (): void => s.connect(t.port, t.addr, () => s.send(buildQuery(o.name, o.qtype, id), (e) => { if (e) done(socketFailure(e, where)); }));
    if (t.bindto || t.bindPort) s.bind({ address: t.bindto, port: t.bindPort ?? 0 }, go); else go();
  }),
});
