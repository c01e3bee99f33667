// SMTP_CHECK (keepalived.md §3.5): banner 220, HELO <heloName> → 250, QUIT.

import { connect } from 'node:net';
import { defineHealthCheck, z, type HealthResult } from 'lvsd';
import { socketFailure, str } from './lib/options.js';

export default defineHealthCheck({
  name: 'smtp',
  description: 'SMTP banner and HELO (keepalived SMTP_CHECK)',
  options: z.object({
    /** Default 'smtpchecker.keepalived.org'. */
    heloName: str().refine((h) => /^[\x21-\x7e]+$/.test(h), { error: 'must be a host name without blanks' }).optional(),
  }).transform((o) => ({ helo: o.heloName ?? 'smtpchecker.keepalived.org' })),
  check: (t, o, ctx) => new Promise<HealthResult>((resolve) => {
    const where = `SMTP on ${t.label}`;
    const s = connect({
      host: t.addr, port: t.port, family: t.family === 'inet6' ? 6 : 4,
      ...(t.bindto ? { localAddress: t.bindto } : {}), ...(t.bindPort ? { localPort: t.bindPort } : {}),
    });
    let buf = '';
    let stage: 'banner' | 'helo' | 'quit' = 'banner';
    let settled = false;
    const done = (r: HealthResult): void => {
      if (settled) return;
      settled = true;
      ctx.signal.removeEventListener('abort', onAbort);
      s.destroy();
      resolve(r);
    };
    const onAbort = (): void => done({ ok: false, failure: 'timeout', reason: `${where}: no answer ${stage === 'banner' ? 'with a banner' : `to ${stage.toUpperCase()}`} within ${ctx.timeout} s` });
    ctx.signal.addEventListener('abort', onAbort, { once: true });
    s.setEncoding('latin1');
    s.on('data', (d: string) => {
      buf += d;
      // A reply is complete at a line "NNN text" (multi-line replies use "NNN-").
      for (;;) {
        const nl = buf.indexOf('\n');
        if (nl < 0) return;
        const line = buf.slice(0, nl).replace(/\r$/, '');
        buf = buf.slice(nl + 1);
        if (/^\d{3}-/.test(line)) continue;
        const code = Number(line.slice(0, 3));
        if (stage === 'banner') {
          if (code !== 220) { done({ ok: false, failure: 'status', reason: `${where}: banner status ${line.slice(0, 3) || '?'}, expected 220` }); return; }
          stage = 'helo';
          s.write(`HELO ${o.helo}\r\n`);
        } else if (stage === 'helo') {
          if (code !== 250) { done({ ok: false, failure: 'status', reason: `${where}: HELO answered ${line.slice(0, 3) || '?'}, expected 250` }); return; }
          stage = 'quit';
          s.write('QUIT\r\n');
        } else { done({ ok: true }); return; }
      }
    });
    s.on('end', () => done(stage === 'quit' ? { ok: true } : { ok: false, failure: 'protocol', reason: `${where}: connection closed during ${stage}` }));
    s.on('error', (e) => done(socketFailure(e, where)));
  }),
});
