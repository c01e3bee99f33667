// VRRP failover, interoperating with keepalived 2.2.7 (spec keepalived.md
// §5–§6): config.ts `vrrp` declares vrrp_instances (and sync groups); each
// one elects a master among the directors on its link, and the master holds
// the VIPs. The sync daemon follows an instance (`sync: { vrrp: 'VI_1' }`)
// through the bus's ha.state, so a backup has the connections when it takes
// over.
//
// The protocol and state machine are lib/vrrp-packet.ts and lib/vrrp-state.ts,
// their wiring lib/vrrp-runner.ts, the system calls lib/vrrp-net.ts (sockets,
// rtnetlink, ARP/NA frames), the config lib/vrrp-config.ts, HMAC
// authentication lib/vrrp-auth.ts.

import { defineFailover, runProgram, type BusEvents } from 'lvsd';
import { VrrpRunner } from './lib/vrrp-runner.js';
import { serviceKeyText, toRunnerConfig, vrrpOptions, type VrrpOptions } from './lib/vrrp-config.js';
import * as net from './lib/vrrp-net.js';

/** How often the instances' counters are reported (state changes are reported at once). */
const STATUS_MS = 1000;

export default defineFailover<VrrpOptions>({
  name: 'vrrp',
  description: 'VRRP v2/v3 failover of the VIPs between directors (keepalived-compatible)',
  configKey: 'vrrp',
  options: vrrpOptions,
  /** Every instance's VIPs: the data plane leaves them to the kernel except while an instance holding them is MASTER. */
  vips: (options) => toRunnerConfig(options).instances.flatMap((i) => [...i.vips, ...i.vipsExcluded].map((v) => v.address)),
  async start(ctx, options) {
    let statusTimer: ReturnType<typeof ctx.clock.setTimeout> | undefined;
    const report = (): void => ctx.bus.emit('ha.status', { instances: runner.status() });
    const runner = new VrrpRunner(toRunnerConfig(options), {
      net,
      clock: ctx.clock,
      wallNow: () => Date.now(),
      log: ctx.log,
      onState(instance, state, reason) {
        const s: BusEvents['ha.state']['state'] | null = state === 'MASTER' ? 'master' : state === 'BACKUP' ? 'backup' : state === 'FAULT' ? 'fault' : null;
        if (s) ctx.bus.emit('ha.state', { state: s, instance, reason });
        report();
      },
      hold: (addrs, held) => ctx.vips.hold(addrs, held),
      run: async (argv, timeoutMs) => {
        const ac = new AbortController();
        const t = ctx.clock.setTimeout(() => ac.abort(), timeoutMs);
        try {
          const r = await runProgram(argv, { signal: ac.signal });
          return { status: r.status, ...(r.error ? { error: r.error } : r.timedOut ? { error: `killed after ${timeoutMs / 1000} s` } : {}) };
        } finally { ctx.clock.clearTimeout(t); }
      },
    });
    ctx.bus.on('service.quorum', (q) => runner.serviceQuorum(serviceKeyText(q.service), q.up));
    const tick = (): void => { report(); statusTimer = ctx.clock.setTimeout(tick, STATUS_MS); };
    runner.start();
    tick();
    return {
      reconfigure(next) { runner.reconfigure(toRunnerConfig(next)); report(); },
      async stop() {
        if (statusTimer) ctx.clock.clearTimeout(statusTimer);
        runner.stop();
        await runner.idle();
        ctx.bus.emit('ha.status', { instances: [] });
      },
    };
  },
});
