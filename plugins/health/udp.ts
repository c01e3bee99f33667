// UDP_CHECK (keepalived.md §3.8): one datagram to the real server. Without
// requireReply, success = no ICMP error (port/host unreachable) before the
// timeout — so the attempt lasts the whole timeout; with it, a reply of an
// acceptable length (and matching prefix; X nibbles match anything).

import { randomBytes } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { defineHealthCheck, z, type HealthResult } from 'lvsd';
import { int, parseHex, socketFailure, str } from './lib/options.js';

interface UdpOptions {
  payload?: Buffer;
  require: boolean;
  prefix?: { bytes: Buffer; mask: Buffer };
  min: number;
  max: number;
}

export default defineHealthCheck({
  name: 'udp',
  description: 'UDP datagram, optional expected reply (keepalived UDP_CHECK)',
  options: z.object({
    /** Datagram to send, hex; default 16 random bytes. */
    payload: str().refine((p) => parseHex(p) !== null, { error: (iss) => `must be hex bytes like '01ff' (got ${JSON.stringify(iss.input)})` }).optional(),
    /** Require a reply (true), or one starting with these hex digits (X/x nibbles match anything). */
    requireReply: z.union([z.boolean(), z.string()], { error: 'must be true, false or hex bytes' })
      .refine((r) => typeof r !== 'string' || parseHex(r, true) !== null, {
        error: (iss) => `must be true or hex bytes (X nibbles match anything) like '0102XX' (got ${JSON.stringify(iss.input)})`,
      }).optional(),
    minReplyLength: int(0, 65507).optional(),
    maxReplyLength: int(0, 65507).optional(),
  }).superRefine((o, ctx) => {
    const max = o.maxReplyLength ?? 255;
    if ((o.minReplyLength ?? 0) > max) ctx.addIssue({ code: 'custom', path: ['minReplyLength'], message: `must not be above maxReplyLength (${max})` });
  }).transform((o): UdpOptions => {
    const out: UdpOptions = { require: false, min: o.minReplyLength ?? 0, max: o.maxReplyLength ?? 255 };
    if (o.payload !== undefined) out.payload = parseHex(o.payload)!.bytes;
    if (o.requireReply === true) out.require = true;
    else if (typeof o.requireReply === 'string') { out.require = true; out.prefix = parseHex(o.requireReply, true)!; }
    return out;
  }),
  check: (t, o, ctx) => new Promise<HealthResult>((resolve) => {
    const s = createSocket({ type: t.family === 'inet6' ? 'udp6' : 'udp4' });
    const where = `UDP to ${t.label}`;
    let settled = false;
    const done = (r: HealthResult): void => {
      if (settled) return;
      settled = true;
      ctx.signal.removeEventListener('abort', onAbort);
      try { s.close(); } catch { /* already closed */ }
      resolve(r);
    };
    const onAbort = (): void => done(o.require
      ? { ok: false, failure: 'timeout', reason: `${where}: no reply within ${ctx.timeout} s` }
      : { ok: true, detail: 'no ICMP error' });
    ctx.signal.addEventListener('abort', onAbort, { once: true });
    s.on('error', (e) => done(socketFailure(e, where)));
    s.on('message', (msg) => {
      if (!o.require) return;
      if (msg.length < o.min || msg.length > o.max) {
        done({ ok: false, failure: 'content', reason: `${where}: reply of ${msg.length} bytes, expected ${o.min}..${o.max}` });
        return;
      }
      if (o.prefix) {
        const { bytes, mask } = o.prefix;
        const okPrefix = msg.length >= bytes.length && bytes.every((b, i) => (msg[i]! & mask[i]!) === (b & mask[i]!));
        if (!okPrefix) { done({ ok: false, failure: 'content', reason: `${where}: reply ${msg.subarray(0, 16).toString('hex')} does not start as expected` }); return; }
      }
      done({ ok: true, detail: `reply of ${msg.length} bytes` });
    });
    const go = (): void => {
      s.connect(t.port, t.addr, () => s.send(o.payload ?? randomBytes(16), (e) => { if (e) done(socketFailure(e, where)); }));
    };
    if (t.bindto || t.bindPort) s.bind({ address: t.bindto, port: t.bindPort ?? 0 }, go); else go();
  }),
});
