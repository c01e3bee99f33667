// An example health check: "banner" — the server must greet a new TCP
// connection with a line that matches a regular expression (an SSH, SMTP or
// Redis server announcing itself), within the timeout.
//
// Use it: put this file in a plugins folder (here: examples/plugins, laid out
// by kind), name the folder in config (`plugins: ['./examples/plugins']`) or
// with `lvsd --plugins examples/plugins`, then in config.ts:
//
//   health: { check: 'banner', expect: '^SSH-2\\.0-', interval: 5 }
//
// Contract (core/plugin.ts): `options` is a zod schema (the project's zod, from
// 'lvsd') for the checker's own options; the common ones (interval, timeout,
// retry …) are lvsd's. A bad option is a config error at its path
// (services[0].health.expect) with the schema's message, and an unknown one
// gets a "did you mean". check() gets the parsed options and must settle once
// ctx.signal aborts.

import { connect } from 'node:net';
import { defineHealthCheck, z, type HealthResult } from 'lvsd';

export default defineHealthCheck({
  name: 'banner',
  description: 'TCP connect, the first line the server sends must match a regular expression',
  options: z.object({
    /** The regular expression the first line must match (JavaScript syntax). */
    expect: z.string({ error: 'is required: a regular expression for the banner, e.g. \'^SSH-2\\.0-\'' }).transform((text, ctx) => {
      try { return new RegExp(text); } catch (e) {
        ctx.addIssue({ code: 'custom', message: `is not a valid regular expression: ${(e as Error).message}` });
        return z.NEVER;
      }
    }),
    /** Bytes read while waiting for the end of the line; default 512. */
    maxBytes: z.number().int().min(1, { error: 'must be at least 1' }).max(65536, { error: 'must be at most 65536' }).default(512),
  }),
  check: (t, o, ctx) => new Promise<HealthResult>((resolve) => {
    const where = `banner of ${t.label}`;
    const s = connect({ host: t.addr, port: t.port, family: t.family === 'inet6' ? 6 : 4, ...(t.bindto ? { localAddress: t.bindto } : {}) });
    let text = '';
    const done = (r: HealthResult): void => {
      ctx.signal.removeEventListener('abort', onAbort);
      s.destroy();
      resolve(r);
    };
    const onAbort = (): void => done({ ok: false, failure: 'timeout', reason: `${where}: no line within ${ctx.timeout} s` });
    ctx.signal.addEventListener('abort', onAbort, { once: true });
    s.setEncoding('latin1');
    const judge = (): void => {
      const line = text.split(/\r?\n/)[0]!.slice(0, o.maxBytes);
      done(o.expect.test(line)
        ? { ok: true, detail: line.slice(0, 60) }
        : { ok: false, failure: 'content', reason: `${where}: ${JSON.stringify(line.slice(0, 60))} does not match /${o.expect.source}/` });
    };
    s.on('data', (d: string) => {
      text += d;
      if (text.includes('\n') || text.length >= o.maxBytes) judge();
    });
    s.on('end', judge);
    s.on('error', (e: NodeJS.ErrnoException) => done({
      ok: false, failure: e.code === 'ECONNREFUSED' ? 'refused' : 'error', reason: `${where}: ${e.code === 'ECONNREFUSED' ? 'connection refused' : e.message}`,
    }));
  }),
});
