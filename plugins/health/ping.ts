// PING_CHECK (keepalived.md §3.9): an ICMP / ICMPv6 echo request with an
// incrementing sequence number; success = the matching echo reply within the
// timeout. Needs a raw socket (root or CAP_NET_RAW): without one the check
// fails with a reason that says so.

import { randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import { defineHealthCheck, z, type HealthResult } from 'lvsd';
import type * as RawSocketModule from 'raw-socket';

// Loaded lazily: a native addon, only needed when a ping check runs.
let rawMod: typeof RawSocketModule | null = null;
function raw(): typeof RawSocketModule {
  rawMod ??= createRequire(import.meta.url)('raw-socket') as typeof RawSocketModule;
  return rawMod;
}

export function echoRequest(v6: boolean, id: number, seq: number, payload: Buffer): Buffer {
  const b = Buffer.alloc(8 + payload.length);
  b[0] = v6 ? 128 : 8;
  b.writeUInt16BE(id, 4);
  b.writeUInt16BE(seq, 6);
  payload.copy(b, 8);
  return b;
}

export default defineHealthCheck({
  name: 'ping',
  description: 'ICMP echo (keepalived PING_CHECK)',
  options: z.object({}),
  check: (t, _o, ctx) => new Promise<HealthResult>((resolve) => {
    const v6 = t.family === 'inet6';
    const where = `ping ${t.addr}`;
    const st = ctx.state as { id?: number; seq?: number };
    st.id ??= randomBytes(2).readUInt16BE(0);
    st.seq = ((st.seq ?? 0) + 1) & 0xffff;
    const id = st.id;
    const seq = st.seq;
    let sock: RawSocketModule.RawSocket;
    const r = raw();
    try {
      sock = r.createSocket({ protocol: v6 ? r.Protocol.ICMPv6 : r.Protocol.ICMP, addressFamily: v6 ? r.AddressFamily.IPv6 : r.AddressFamily.IPv4 });
    } catch (e) {
      resolve({ ok: false, failure: 'error', reason: `${where}: cannot open a raw socket (needs root or CAP_NET_RAW): ${(e as Error).message}` });
      return;
    }
    let settled = false;
    const done = (res: HealthResult): void => {
      if (settled) return;
      settled = true;
      ctx.signal.removeEventListener('abort', onAbort);
      try { sock.close(); } catch { /* closed */ }
      resolve(res);
    };
    const onAbort = (): void => done({ ok: false, failure: 'timeout', reason: `${where}: no echo reply within ${ctx.timeout} s` });
    ctx.signal.addEventListener('abort', onAbort, { once: true });
    sock.on('error', (e) => done({ ok: false, failure: 'error', reason: `${where}: ${e.message}` }));
    sock.on('message', (buf, source) => {
      // IPv4 raw sockets deliver the IP header; ICMPv6 ones do not.
      const off = v6 ? 0 : (buf[0]! & 0x0f) * 4;
      if (buf.length < off + 8) return;
      const type = buf[off]!;
      if (type === (v6 ? 129 : 0) && buf.readUInt16BE(off + 4) === id && buf.readUInt16BE(off + 6) === seq) {
        done({ ok: true, detail: `echo reply from ${source}` });
      } else if (type === (v6 ? 1 : 3) && buf.length >= off + 8 + (v6 ? 48 : 28)) {
        // Destination unreachable quoting our request.
        const q = off + 8 + (v6 ? 40 : (buf[off + 8]! & 0x0f) * 4);
        if (buf.length >= q + 8 && buf.readUInt16BE(q + 4) === id && buf.readUInt16BE(q + 6) === seq) {
          done({ ok: false, failure: 'unreachable', reason: `${where}: destination unreachable (from ${source})` });
        }
      }
    });
    const pkt = echoRequest(v6, id, seq, Buffer.from('lvsd-ping-check!'));
    if (!v6) r.writeChecksum(pkt, 2, r.createChecksum(pkt));   // the kernel sums ICMPv6 itself
    sock.send(pkt, 0, pkt.length, t.addr, null, (err) => {
      if (err) done({ ok: false, failure: 'unreachable', reason: `${where}: ${err.message}` });
    });
  }),
});
