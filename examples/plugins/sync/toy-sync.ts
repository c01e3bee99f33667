// An example sync plugin: "toy-sync" — the connection sync daemon's control
// side, without the sockets (those come with the real one, plugins/sync/).
//
//   toySync: { mcastIfn: 'eth0', syncid: 5 }            // follows ha.state
//   toySync: { mcastIfn: 'eth0', state: 'master' }      // fixed role
//
// It does what keepalived does with `lvs_sync_daemon`: it runs the master
// sync daemon while this director is the failover master and the backup one
// otherwise, following the `ha.state` events a failover plugin emits, and
// records them in the table as `ipvsadm --start-daemon` does (lvsadm
// --list-daemon shows them; the events carry { by: 'sync', name: 'toy-sync' }).
// It reacts to 'daemon.started' / 'daemon.stopped' — whoever caused them,
// lvsadm included — where the real plugin opens and closes its sockets, and
// logs the table's other events as a real master would queue them for sync.
//
// Use it: `lvsd --plugins examples/plugins --config config.ts` with a
// `toySync` key in config.ts (started when the key appears, reconfigured when
// it changes, stopped — and its daemon with it — when it goes).

import { defineSync, z, type ControlContext, type SyncEvent } from 'lvsd';

const options = z.object({
  mcastIfn: z.string().min(1).max(15).default('lo'),
  syncid: z.number().int().min(0).max(255).default(0),
  /** A fixed role; without it the role follows ha.state. */
  state: z.enum(['master', 'backup']).optional(),
}).strict();

type Options = z.infer<typeof options>;
type Role = 'master' | 'backup' | null;

export default defineSync({
  name: 'toy-sync',
  description: 'runs the master or backup sync daemon as failover says (no sockets)',
  configKey: 'toySync',
  options,
  async start(ctx: ControlContext<SyncEvent>, first: Options) {
    let o = first;
    /** The daemon this plugin started (and so stops). */
    let mine: Role = null;
    let role: Role = o.state ?? null;

    const run = (want: Role): void => {
      if (want === mine) return;
      if (mine) {
        const r = ctx.table.stopDaemon(mine);
        if (!r.ok) ctx.log.warn(`stop ${mine} daemon: ${r.error.message}`);
        mine = null;
      }
      if (want) {
        // ipvsadm's defaults: group 224.0.0.81, port 8848, ttl 1; maxlen 0 = as the interface allows.
        const r = ctx.table.startDaemon({
          state: want, mcastIfn: o.mcastIfn, syncid: o.syncid, maxlen: 0, group: '224.0.0.81', port: 8848, ttl: 1,
        });
        if (r.ok) mine = want;
        else ctx.log.warn(`start ${want} daemon on ${o.mcastIfn}: ${r.error.message}`);
      }
    };

    ctx.bus.on('ha.state', (s) => {
      if (o.state) return;
      role = s.state === 'master' ? 'master' : s.state === 'backup' ? 'backup' : null;
      run(role);
    });
    ctx.bus.on('daemon.started', ({ daemon: d, source }) => {
      ctx.log.info(`would open the ${d.state} socket on ${d.mcastIfn} (syncid ${d.syncid}; by ${source.by})`);
      // A backup reports each batch it applies; this one has nothing to receive.
      if (d.state === 'backup') ctx.bus.emit('sync.received', { syncid: d.syncid, from: d.mcastIfn, conns: 0 });
    });
    ctx.bus.on('daemon.stopped', ({ state, source }) => {
      ctx.log.info(`would close the ${state} socket (by ${source.by})`);
      if (state === mine) mine = null;
    });
    ctx.bus.on('table', (ev) => {
      if (ev.type !== 'daemon.started' && ev.type !== 'daemon.stopped') ctx.log.info(`saw ${ev.type} by ${ev.source.by}`);
    });
    run(role);

    return {
      reconfigure(next: Options) {
        const again = next.mcastIfn !== o.mcastIfn || next.syncid !== o.syncid;
        o = next;
        if (o.state) role = o.state;
        if (again) run(null);
        run(role);
      },
      stop() {
        run(null);
      },
    };
  },
});
