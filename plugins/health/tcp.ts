// TCP_CHECK (keepalived.md §3.3): success = the TCP connection completes
// within the timeout; it is closed at once.

import { connect } from 'node:net';
import { defineHealthCheck, z, type HealthResult } from 'lvsd';
import { socketFailure } from './lib/options.js';

export default defineHealthCheck({
  name: 'tcp',
  description: 'TCP connect (keepalived TCP_CHECK)',
  options: z.object({}),
  check: (t, _o, ctx) => new Promise<HealthResult>((resolve) => {
    const s = connect({
      host: t.addr, port: t.port, family: t.family === 'inet6' ? 6 : 4,
      ...(t.bindto ? { localAddress: t.bindto } : {}), ...(t.bindPort ? { localPort: t.bindPort } : {}),
    });
    const done = (r: HealthResult): void => { ctx.signal.removeEventListener('abort', onAbort); s.destroy(); resolve(r); };
    const onAbort = (): void => done({ ok: false, failure: 'timeout', reason: `connect to ${t.label} timed out after ${ctx.timeout} s` });
    ctx.signal.addEventListener('abort', onAbort, { once: true });
    s.once('connect', () => done({ ok: true }));
    s.once('error', (e) => done(socketFailure(e, `connect to ${t.label}`)));
  }),
});
