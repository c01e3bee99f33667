// MISC_CHECK (keepalived.md §3.7): run a program; exit 0 = up, anything else
// down; with `dynamic` (misc_dynamic) exit 2..255 = up with weight status − 2
// and 0 restores the configured weight. The timeout (misc_timeout, default
// the interval) kills it: SIGTERM, then SIGKILL. Default retry 0.

import { commandArgv, defineHealthCheck, runProgram, z, type HealthResult } from 'lvsd';
import { bool } from './lib/options.js';

export default defineHealthCheck({
  name: 'exec',
  description: 'run a program; its exit status decides (keepalived MISC_CHECK)',
  defaults: { retry: 0, timeout: 'interval' },
  options: z.object({
    /** The program (keepalived misc_path): a command line or an argv; exit 0 = up. */
    command: z.custom<string | string[]>((v) => Array.isArray(commandArgv(v)), {
      error: (iss) => {
        if (iss.input === undefined) return 'is required: the program to run, e.g. \'/usr/local/bin/check-web 192.168.10.8\'';
        const a = commandArgv(iss.input);
        return Array.isArray(a) ? 'is not a program' : a.error;
      },
    }),
    /** misc_dynamic: exit 2..255 sets the weight to status − 2 (0 restores the configured weight). */
    dynamic: bool().optional(),
  }).transform((o) => ({ argv: commandArgv(o.command) as string[], dynamic: o.dynamic ?? false })),
  async check(t, o, ctx): Promise<HealthResult> {
    // runProgram adds PATH only: nothing of the daemon's environment reaches the program
    const env = { LVSD_REAL_ADDR: t.addr, LVSD_REAL_PORT: String(t.port) };
    const r = await runProgram(o.argv, { signal: ctx.signal, env });
    const what = `${o.argv[0]} for ${t.label}`;
    if (r.timedOut) return { ok: false, failure: 'timeout', reason: `${what}: still running after ${ctx.timeout} s, killed` };
    if (r.error) return { ok: false, failure: 'error', reason: `${what}: ${r.error}` };
    if (r.status === null) return { ok: false, failure: 'exit', reason: `${what}: killed by ${r.signal}` };
    if (r.status === 0) return { ok: true, detail: 'exit 0' };
    if (o.dynamic && r.status >= 2) return { ok: true, weight: r.status - 2, detail: `exit ${r.status}: weight ${r.status - 2}` };
    return { ok: false, failure: 'exit', reason: `${what}: exited with status ${r.status}` };
  },
});
