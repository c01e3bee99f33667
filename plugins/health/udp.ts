// UDP_CHECK (keepalived.md §3.8): one datagram to the real server. Without
// requireReply, success = no ICMP error (port/host unreachable) before the
// timeout — so the attempt lasts the whole timeout; with it, a reply of an
// acceptable length (and matching prefix; X nibbles match anything).

import { randomBytes } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { defineHealthCheck, type HealthResult } from '../../core/plugin.js';
import { Opts, parseHex, socketFailure } from './lib/opts.js';

interface UdpOptions {
  payload?: Buffer;
  require: boolean;
  prefix?: { bytes: Buffer; mask: Buffer };
  min: number;
  max: number;
}

export default defineHealthCheck<UdpOptions>({
  name: 'udp',
  description: 'UDP datagram, optional expected reply (keepalived UDP_CHECK)',
  options(raw) {
    const o = new Opts(raw, ['payload', 'requireReply', 'minReplyLength', 'maxReplyLength']);
    const out: UdpOptions = { require: false, min: o.int('minReplyLength', 0, 65507, 0), max: o.int('maxReplyLength', 0, 65507, 255) };
    const p = o.str('payload');
    if (p !== undefined) {
      const h = parseHex(p);
      if (!h) o.bad('payload', `must be hex bytes like '01ff' (got ${JSON.stringify(p)})`);
      else out.payload = h.bytes;
    }
    const rr = raw.requireReply;
    if (rr === true) out.require = true;
    else if (typeof rr === 'string') {
      const h = parseHex(rr, true);
      if (!h) o.bad('requireReply', `must be true or hex bytes (X nibbles match anything) like '0102XX' (got ${JSON.stringify(rr)})`);
      else { out.require = true; out.prefix = h; }
    } else if (rr !== undefined && rr !== false) o.bad('requireReply', 'must be true, false or hex bytes');
    if (out.min > out.max) o.bad('minReplyLength', `must not be above maxReplyLength (${out.max})`);
    return o.done(out);
  },
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
