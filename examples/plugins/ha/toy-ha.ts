// An example failover plugin: "toy-ha" — a VRRP instance that does not talk
// VRRP. Its role is fixed in config.ts, and changes when the config does:
//
//   toyHa: { role: 'master', follow: { real: '192.168.1.2', master: 3, backup: 0 } }
//
// It announces the role on the bus (`ha.state`, what a sync plugin follows to
// pick master or backup) and, with `follow`, sets the weight of that real
// server in every service that has it — the way a director that also serves
// takes itself out of rotation when it is not the master. Everything goes
// through the context (core/plugin.ts ControlContext): the changes it makes
// carry its name as their source ({ by: 'failover', name: 'toy-ha' }).
//
// Use it: `lvsd --plugins examples/plugins --config config.ts` with a `toyHa`
// key in config.ts. It runs while the key is there (started when it appears,
// reconfigured when it changes, stopped when it goes). The real VRRP plugin
// comes in plugins/ha/.

import { defineFailover, z, type ControlContext, type FailoverEvent } from 'lvsd';

const options = z.object({
  role: z.enum(['master', 'backup', 'fault']),
  /** The VRRP instance name it reports. */
  instance: z.string().min(1).default('VI_1'),
  /** A real server (address) whose weight follows the role. */
  follow: z.object({
    real: z.string().min(1),
    master: z.number().int().min(0).max(65535),
    backup: z.number().int().min(0).max(65535),
  }).strict().optional(),
}).strict();

type Options = z.infer<typeof options>;

/** Sets the followed real's weight in every service that has it. */
function applyWeights(ctx: ControlContext<FailoverEvent>, o: Options): void {
  if (!o.follow) return;
  const weight = o.role === 'master' ? o.follow.master : o.follow.backup;
  const services = ctx.table.services();
  if (!services.ok) return;
  for (const svc of services.value) {
    for (const d of svc.dests) {
      if (d.addr !== o.follow.real || d.weight === weight) continue;
      const { activeConns: _a, inactConns: _i, persistConns: _p, stats: _s, ...spec } = d;
      const key = { family: svc.family, protocol: svc.protocol, addr: svc.addr, port: svc.port, fwmark: svc.fwmark };
      const r = ctx.table.editDest(key, { ...spec, weight });
      if (!r.ok) ctx.log.warn(`cannot set ${d.addr}:${d.port} to weight ${weight}: ${r.error.message}`);
    }
  }
}

export default defineFailover({
  name: 'toy-ha',
  description: 'a failover whose role is fixed in config.ts (a stand-in for VRRP)',
  configKey: 'toyHa',
  options,
  async start(ctx, first) {
    let o = first;
    const announce = (reason: string): void => {
      ctx.log.info(`${o.instance} is ${o.role} (${reason})`);
      ctx.bus.emit('ha.state', { state: o.role, instance: o.instance, reason });
      applyWeights(ctx, o);
    };
    ctx.bus.on('table', (ev) => {
      if (ev.source.by !== 'failover') ctx.log.info(`saw ${ev.type} by ${ev.source.by}`);
    });
    announce('configured');
    return {
      reconfigure(next) {
        const changed = next.role !== o.role;
        o = next;
        if (changed) announce('reconfigured');
        else applyWeights(ctx, o);
      },
      stop() {
        // A real VRRP instance would send priority 0 here so a backup takes over at once.
        ctx.log.info(`${o.instance} leaves (was ${o.role})`);
      },
    };
  },
});
