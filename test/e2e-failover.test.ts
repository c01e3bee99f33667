// End-to-end, seed 002: a director pair with VRRP failover and the connection
// sync daemon following the VRRP instance (scripts/lab-pair.ts, { vrrp: true }).
//
//   client 10.93.0.2 ── front ── d1 f0 (VIPs 10.93.0.100 NAT, 10.93.0.101 DR while MASTER)
//                             └─ d2 f0
//   real server 10.93.1.2 ── back ── d1 b0 / d2 b0 (gateway VIP 10.93.1.254 while MASTER)
//   d1 s0 ── d2 s0 (sync multicast)
//
// One instance VI_1 (f0, VRID 51) carries the three VIPs, the gateway VIP on
// b0; or (the second run) VI_1 on f0 with the outside VIPs and VI_2 (b0, VRID
// 52) with the gateway VIP, in a sync group; d1 priority 150, d2 100, preempt.
// The sync daemon follows VI_1 (master while MASTER, backup otherwise; resync:
// a daemon that starts as backup asks the master for its whole table). d1
// comes back without its connection journal in the first run (only the sync
// daemon can give it the connections), with it in the second. 20 NAT + 20 DR connections echo every
// 0.2 s (scripts/lab-echo-gaps.ts). The master crashes (every process in its
// namespace SIGKILLed, its links down): d2 takes over, every connection goes
// on. d1 comes back (links up, lvsd started) and preempts, d2 steps down:
// every connection goes on. The longest silence per connection around each
// transition is printed. Then d1 loses its back link (b0 down: FAULT by
// track_interface, or by the sync group) and gets it back; and, in the
// one-instance run, d1 is stopped (SIGTERM: a priority-0 advert, d2 takes over
// in skew time). Each transition waits for the log lines
// (`(VI_1) Entering MASTER STATE` …), then for every connection to echo again.
// LVSD_E2E_LOGS=1 prints both directors' logs at the end.
//
// The same scenario runs with keepalived moving the VIPs (and lvsd's sync
// daemons in role 'both') when LVSD_E2E_KEEPALIVED=1: the reference for the
// lab itself (layout, GARPs, gateway VIP, sync), independent of lvsd's plugin.
// Needs root, `ip netns`, nft and tcpdump; otherwise skipped with the reason printed.

import { strict as assert } from 'node:assert';
import { execFileSync, spawnSync, type ChildProcess } from 'node:child_process';
import { statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cleanupStale, labUnavailable } from '../scripts/lab-net.js';
import { PAIR, PAIR_VRRP, PairLab } from '../scripts/lab-pair.js';
import { gapsStarted, type GapsClient, type GapsResult } from '../scripts/lab-echo-gaps.js';

const has = (cmd: string): boolean => spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
const why = labUnavailable() ?? (has('tcpdump') ? null : 'tcpdump is missing (apt-get install -y tcpdump)');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const PORT = 9000;
const EVERY_MS = 200;
const PRIO = [150, 100] as const;

type Driver = 'lvsd' | 'keepalived';

/** A transition's silences in words. */
function said(g: { ms: number; conn: string; perConn: number[] }): string {
  if (!g.ms) return `under ${2 * EVERY_MS} ms (none longer than two echo intervals)`;
  const sorted = [...g.perConn].sort((a, b) => a - b);
  return `${g.ms} ms (${g.conn}); median over the connections ${sorted[Math.floor(sorted.length / 2)]} ms`;
}
/** One instance carrying every VIP (the gateway VIP on b0), or two (outside VI_1 on f0, inside VI_2 on b0) in a sync group. */
type Layout = 'one' | 'group';

/**
 * The longest silence per connection that began in [from, to) (a silence
 * begins at the last echo before it, so both ends two echo intervals earlier),
 * max over the connections, and whose it is.
 */
export function longestGap(r: GapsResult, from: number, to: number): { ms: number; conn: string; perConn: number[] } {
  let ms = 0, conn = '';
  const perConn = r.conns.map((c) => {
    let m = 0;
    // the last echo before an event may come up to two intervals before it
    for (const [a, b] of c.gaps) if (a >= from - 2 * EVERY_MS && a < to - 2 * EVERY_MS) m = Math.max(m, b - a);
    if (m > ms) { ms = m; conn = c.name; }
    return m;
  });
  return { ms, conn, perConn };
}

/**
 * How d1 comes back: 'fresh' without what its lvsd kept (connection journal,
 * counters; a replaced box): only the sync daemon (resync) gives it the
 * connections before it preempts; 'journal' with it (its entries as of the crash, then synced).
 */
type Comeback = 'fresh' | 'journal';

function scenario(driver: Driver, layout: Layout, comeback: Comeback, graceful = false): void {
  const reason = why ?? (driver === 'keepalived' && !has('keepalived') ? 'keepalived is missing (apt-get install -y keepalived)' : null);
  const title = driver === 'lvsd'
    ? 'e2e: seed 002, a VRRP director pair (lvsd\'s failover plugin) loses no connection when the master dies and when it comes back'
    : 'e2e: the seed 002 lab with keepalived moving the VIPs (reference)';
  const names = layout === 'one' ? ['VI_1'] : ['VI_1', 'VI_2'];
  const layoutTitle = `${layout === 'one' ? ', one instance' : ', two instances in a sync group'}, d1 back ${comeback === 'fresh' ? 'without its journal' : 'with its journal'}`;
  (reason ? describe.skip : describe)(`${title}${layoutTitle}${reason ? ` (skipped: ${reason})` : ''}`, function () {
    this.timeout(150_000);
    const lab = reason ? (null as unknown as PairLab) : new PairLab(`${driver === 'lvsd' ? 'f' : 'k'}${layout === 'one' ? 'a' : 'b'}`, { vrrp: true });
    const vips = [`${PAIR_VRRP.vip.nat}/24`, `${PAIR_VRRP.vip.dr}/24`];
    const gw = `${PAIR_VRRP.gw}/24`;
    const config = (i: 0 | 1): string => lab.writeConfig(`d${i + 1}.config.ts`, {
      interfaces: ['f0', 'b0'],
      workers: 2,
      services: [
        { protocol: 'tcp', address: PAIR_VRRP.vip.nat, port: PORT, scheduler: 'rr', forward: 'nat', reals: [{ address: PAIR.rip, port: PORT }] },
        { protocol: 'tcp', address: PAIR_VRRP.vip.dr, port: PORT, scheduler: 'rr', forward: 'dr', reals: [{ address: PAIR.rip, port: PORT }] },
      ],
      ...(driver === 'lvsd'
        ? {
          vrrp: layout === 'one'
            ? [{
              name: 'VI_1', interface: 'f0', vrid: 51, priority: PRIO[i], state: 'BACKUP', advertInt: 1, preempt: true,
              vips: [...vips, { address: gw, interface: 'b0' }],
              track: { interfaces: ['b0'] },
            }]
            : {
              instances: [
                { name: 'VI_1', interface: 'f0', vrid: 51, priority: PRIO[i], state: 'BACKUP', advertInt: 1, preempt: true, vips },
                { name: 'VI_2', interface: 'b0', vrid: 52, priority: PRIO[i], state: 'BACKUP', advertInt: 1, preempt: true, vips: [gw] },
              ],
              syncGroups: [{ name: 'VG_1', instances: ['VI_1', 'VI_2'] }],
            },
          sync: { interface: 's0', syncid: 7, vrrp: 'VI_1', resync: true },
        }
        : { sync: { interface: 's0', syncid: 7, role: 'both', resync: true } }),
    });
    const ka: (ChildProcess | null)[] = [null, null];
    const keepalived = (i: 0 | 1): void => {
      const dir = join(lab.dir, `d${i + 1}`);
      const conf = join(dir, 'keepalived.conf');
      const inst = (name: string, dev: string, vrid: number, addrs: string[], track: string): string =>
        `vrrp_instance ${name} {\n  state BACKUP\n  interface ${dev}\n  virtual_router_id ${vrid}\n  priority ${PRIO[i]}\n  advert_int 1\n`
        + `${track ? `  track_interface {\n    ${track}\n  }\n` : ''}  virtual_ipaddress {\n${addrs.map((v) => `    ${v}\n`).join('')}  }\n}\n`;
      writeFileSync(conf, `global_defs {\n  router_id d${i + 1}\n}\n` + (layout === 'one'
        ? inst('VI_1', 'f0', 51, [...vips.map((v) => `${v} dev f0`), `${gw} dev b0`], 'b0')
        : `vrrp_sync_group VG_1 {\n  group {\n    VI_1\n    VI_2\n  }\n}\n${inst('VI_1', 'f0', 51, vips.map((v) => `${v} dev f0`), '')}${inst('VI_2', 'b0', 52, [`${gw} dev b0`], '')}`));
      ka[i] = lab.spawnLogged(i, 'keepalived', '-n', '-l', '-D', '-P', '-f', conf, '-p', join(dir, 'keepalived.pid'), '-r', join(dir, 'vrrp.pid'));
    };
    /** Stops director i's VRRP gracefully (SIGTERM): lvsd, or keepalived in the reference. */
    const stopVrrp = async (i: 0 | 1): Promise<void> => {
      if (driver === 'lvsd') { await lab.kill(i, 'SIGTERM'); return; }
      const p = ka[i];
      if (!p || p.exitCode !== null) return;
      const exited = new Promise((r) => p.once('exit', r));
      p.kill('SIGTERM');
      await exited;
    };
    /** Starts director i: lvsd, and keepalived after it in the reference. */
    const start = async (i: 0 | 1): Promise<void> => {
      await lab.start(i, config(i));
      if (driver === 'keepalived') keepalived(i);
    };

    const established = (i: 0 | 1): number => lab.lvsadm(i, '-L', '-n', '-c').split('\n').filter((l) => /ESTABLISHED/.test(l)).length;
    const waitFor = async (what: () => boolean, ms: number): Promise<boolean> => {
      const until = Date.now() + ms;
      while (!what() && Date.now() < until) await sleep(100);
      return what();
    };
    const holds = (i: 0 | 1): { f0: boolean; dr: boolean; b0: boolean } => {
      const f0 = lab.addrs(lab.d[i].ns, 'f0'), b0 = lab.addrs(lab.d[i].ns, 'b0');
      return { f0: f0.includes(vips[0]!), dr: f0.includes(vips[1]!), b0: b0.includes(gw) };
    };
    const state = (): string => [0, 1].map((i) => {
      const x = lab.d[i]!;
      let addrs = '';
      try { addrs = `f0 ${lab.addrs(x.ns, 'f0').join(' ')}; b0 ${lab.addrs(x.ns, 'b0').join(' ')}`; } catch (e) { addrs = String(e); }
      return `d${i + 1}: ${addrs}\n  log tail:\n${x.log.slice(-3000)}`;
    }).join('\n') + `\nclient neigh:\n${lab.ip(lab.c, 'neigh')}\nreal server neigh:\n${lab.ip(lab.r, 'neigh')}\nthe client's capture (ARP, VRRP), last lines:\n${capture(['arp', 'or', 'ip', 'proto', '112']).slice(-40).join('\n')}`;
    const capture = (filter: string[] = []): string[] => {
      try { return execFileSync('tcpdump', ['-r', pcap, '-n', '-e', '-tt', ...filter], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).split('\n').filter(Boolean); } catch { return []; }
    };
    /** A director's entries and drop counters, for a failure's report. */
    const table = (i: 0 | 1): string => {
      try { return `d${i + 1} entries:\n${lab.lvsadm(i, '-L', '-n', '-c')}\nd${i + 1} drops:\n${lab.lvsadm(i, '-L', '--drops', '--per-worker')}`; } catch (e) { return `d${i + 1}: ${(e as Error).message.split('\n')[0]}`; }
    };
    /** Resolves once every connection echoed after `t`; fails naming the silent or failed ones, with the TCP the client saw of them. */
    const allEchoedAfter = async (client: GapsClient, t: number, ms: number): Promise<void> => {
      const until = Date.now() + ms;
      for (;;) {
        const s = await client.status();
        const bad = s.names.map((n, k) => ({ n, port: s.ports[k] ?? null, last: s.lastEcho[k] ?? null, failed: s.failed[k] ?? null }))
          .filter((c) => c.failed || c.last === null || c.last <= t);
        const failed = bad.filter((c) => c.failed);
        if (bad.length === 0) return;
        if (failed.length || Date.now() > until) {
          const tcp = bad.slice(0, 3).map((c) => `client port ${c.port}:\n${capture(['tcp', 'port', String(c.port)]).slice(-15).join('\n')}`).join('\n');
          assert.fail(`${failed.length ? `connections failed: ${failed.map((c) => `${c.n} (port ${c.port}): ${c.failed}`).join('; ')}`
            : `${bad.length} connections silent since ${new Date(t).toISOString()} (${ms} ms): ${bad.map((c) => `${c.n} (port ${c.port}, last echo ${c.last === null ? 'never' : new Date(c.last).toISOString()})`).join(', ')}`}`
            + `\n${state()}\n${table(0)}\n${table(1)}\n${tcp}`);
        }
        await sleep(100);
      }
    };

    /** Waits for every instance's `Entering STATE` line on director i (from offset `from`). */
    const entering = async (i: 0 | 1, st: 'MASTER' | 'BACKUP', ms: number, from = 0): Promise<void> => {
      for (const n of names) await lab.waitLog(i, new RegExp(`\\(${n}\\) Entering ${st} STATE`), ms, from);
    };

    /** lvsd's plugin only: the sync daemon each director runs follows VI_1. */
    const syncRoles = (want: ['master' | 'backup', 'master' | 'backup']): void => {
      if (driver !== 'lvsd') return;
      for (const i of [0, 1] as const) {
        const out = lab.lvsadm(i, '-L', '--daemon');
        assert.match(out, new RegExp(`^${want[i]} sync daemon \\(mcast=s0, syncid=7`), `d${i + 1} runs the ${want[i]} daemon:\n${out}`);
        assert.doesNotMatch(out, new RegExp(`${want[i] === 'master' ? 'backup' : 'master'} sync daemon`), `d${i + 1} runs only the ${want[i]} daemon:\n${out}`);
      }
    };

    /** Director i has an ESTABLISHED entry for each of these client ports. */
    const syncedOn = (i: 0 | 1, ports: (number | null)[]): boolean => {
      const t = lab.lvsadm(i, '-L', '-n', '-c').split('\n').filter((l) => /ESTABLISHED/.test(l)).join('\n');
      return ports.every((p) => t.includes(`${PAIR.client}:${p} `));
    };
    /** 20 NAT + 20 DR echo connections from the client, open. */
    const echo = (): Promise<GapsClient> => gapsStarted(lab.spawnPiped(lab.c, 'scripts/lab-echo-gaps.ts',
      JSON.stringify({ targets: [{ addr: PAIR_VRRP.vip.nat, port: PORT, n: 20 }, { addr: PAIR_VRRP.vip.dr, port: PORT, n: 20 }], everyMs: EVERY_MS, maxSeconds: 100 })));

    let pcap = '';
    let dump: ChildProcess | null = null;

    before(async function () {
      this.timeout(90_000);
      cleanupStale();
      lab.build();
      await lab.helper(lab.r, 'scripts/lab-echo.ts', 'server', String(PORT));
      // what the client sees (ARP, VRRP, TCP), for the GARP checks and for a failure's report
      pcap = join(lab.dir, 'client.pcap');
      dump = lab.spawnCmd(lab.c, 'tcpdump', '-Z', 'root', '--immediate-mode', '-i', 'c0', '-U', '-w', pcap, 'arp', 'or', 'ip', 'proto', '112', 'or', 'tcp');
      await waitFor(() => { try { return statSync(pcap).size >= 24; } catch { return false; } }, 5000);
      await start(0);
      await entering(0, 'MASTER', 15_000);
      await start(1);
      await entering(1, 'BACKUP', 15_000);
    });
    after(async function () {
      this.timeout(30_000);
      // LVSD_E2E_LOGS=1: both directors' logs (since their last start), e.g. to see where d1's entries came from
      if (process.env.LVSD_E2E_LOGS === '1') for (const [i, x] of lab.d.entries()) console.log(`--- d${i + 1} log\n${x.log}`);
      await lab.teardown();
    });

    it('d1 (priority 150) is MASTER and holds the VIPs, d2 BACKUP holds none', () => {
      assert.deepEqual(holds(0), { f0: true, dr: true, b0: true }, state());
      // the backup never had them
      assert.deepEqual(holds(1), { f0: false, dr: false, b0: false }, state());
      assert.doesNotMatch(lab.d[1].log, /\(VI_\d\) Entering MASTER STATE/);
      if (driver !== 'lvsd') return;
      // lvsadm's view (not its columns): each instance's state; the sync daemon as the instance says
      const v1 = lab.lvsadm(0, '-L', '--vrrp'), v2 = lab.lvsadm(1, '-L', '--vrrp');
      for (const n of names) {
        assert.match(v1, new RegExp(`${n}\\b.*MASTER`), v1);
        assert.match(v2, new RegExp(`${n}\\b.*BACKUP`), v2);
      }
      syncRoles(['master', 'backup']);
    });

    it('20 NAT + 20 DR connections: the master crashes, d2 takes over; d1 comes back and preempts; not one connection is lost', async function () {
      const client = await echo();
      try {
        const t0 = Date.now();
        await allEchoedAfter(client, t0, 5000);
        // the backup has every connection (a partly filled sync message goes out once 2 s old)
        const synced = await waitFor(() => established(1) >= 40, 8000);
        assert.ok(synced, `d2's entries: ${established(1)}\n${lab.lvsadm(1, '-L', '-n', '-c')}\n${state()}`);
        const macs = lab.d.map((x) => ({ f0: lab.mac(x.ns, 'f0'), b0: lab.mac(x.ns, 'b0') }));
        assert.equal(lab.neighbour(lab.c, PAIR_VRRP.vip.nat), macs[0]!.f0);
        assert.equal(lab.neighbour(lab.r, PAIR_VRRP.gw), macs[0]!.b0);
        await sleep(1000);

        // 1: d1 dies
        const from2 = lab.d[1].log.length;
        const tKill = Date.now();
        await lab.crash(0);
        await entering(1, 'MASTER', 15_000, from2);
        const tMaster2 = Date.now();
        assert.ok(await waitFor(() => { const h = holds(1); return h.f0 && h.dr && h.b0; }, 3000), `d2 took the VIPs\n${state()}`);
        await allEchoedAfter(client, tMaster2, 20_000);
        // the client and the real server follow d2's gratuitous ARPs
        assert.equal(lab.neighbour(lab.c, PAIR_VRRP.vip.nat), macs[1]!.f0, state());
        assert.equal(lab.neighbour(lab.c, PAIR_VRRP.vip.dr), macs[1]!.f0, state());
        assert.equal(lab.neighbour(lab.r, PAIR_VRRP.gw), macs[1]!.b0, state());
        const takeover = tMaster2 - tKill;
        if (driver === 'lvsd') {
          const out = lab.lvsadm(1, '-L', '--daemon');
          assert.match(out, /^master sync daemon/, `d2 runs the master sync daemon once MASTER:\n${out}`);
        }
        await sleep(1000);

        // 2: d1 comes back (links up with the VIPs it left, lvsd again) and preempts
        lab.restore(0);
        if (comeback === 'fresh') lab.clearState(0);
        const from2b = lab.d[1].log.length;
        const tBack = Date.now();
        await start(0);
        await entering(0, 'BACKUP', 15_000);
        const tInit = Date.now();
        // what the crash left on d1's links is gone before it takes over (else two hosts answer ARP for the VIPs)
        assert.deepEqual(holds(0), { f0: false, dr: false, b0: false }, `d1 in BACKUP (init) holds no VIP\n${state()}`);
        await entering(0, 'MASTER', 20_000);
        const tMaster1 = Date.now();
        // how many entries d1 had when it took over (resync from d2)
        const d1Entries = established(0);
        await entering(1, 'BACKUP', 5000, from2b);
        assert.ok(await waitFor(() => { const h = holds(1); return !h.f0 && !h.dr && !h.b0; }, 3000), `d2 removed the VIPs\n${state()}`);
        assert.ok(await waitFor(() => { const h = holds(0); return h.f0 && h.dr && h.b0; }, 3000), `d1 holds the VIPs\n${state()}`);
        await allEchoedAfter(client, tMaster1, 20_000);
        assert.equal(lab.neighbour(lab.c, PAIR_VRRP.vip.nat), macs[0]!.f0, state());
        assert.equal(lab.neighbour(lab.r, PAIR_VRRP.gw), macs[0]!.b0, state());
        syncRoles(['master', 'backup']);
        const preempt = tMaster1 - tInit;
        // everyone echoes well after the last transition
        const tEnd = Date.now();
        await sleep(1500);
        await allEchoedAfter(client, tEnd, 5000);

        const r = await client.stop();
        assert.equal(r.opened, 40);
        const failed = r.conns.filter((c) => c.failed);
        assert.deepEqual(failed.map((c) => `${c.name}: ${c.failed}`), [], state());
        for (const c of r.conns) assert.ok(c.lastEcho !== null && c.lastEcho > tEnd, `${c.name} echoed after the last transition`);
        const g1 = longestGap(r, tKill, tBack);
        const g2 = longestGap(r, tBack, tEnd);
        console.log(`      (d1 crash → d2 MASTER in ${takeover} ms; longest silence of a connection ${said(g1)})`);
        console.log(`      (d1 back: BACKUP (init) → MASTER in ${preempt} ms, with ${d1Entries} ESTABLISHED entries then; longest silence of a connection ${said(g2)})`);
      } finally {
        void client.stop().catch(() => undefined);
      }
    });

    {
      // The sync-group run guards a fixed bug (main 715b19b): on d1's b0 down VI_2
      // went FAULT but the group only put VI_1 in BACKUP, which then discarded
      // d2's lower-priority adverts and retook MASTER ~3.4 s later while VI_2
      // was still FAULT (d1 held the outside VIPs without a back link, d2's
      // VI_2/VI_1 flapped every ~3.4 s, every connection stalled until b0 came
      // back). keepalived 2.2.7: `VRRP_Group(VG_1) Syncing instances to FAULT state`.
      const what = layout === 'group' ? 'VI_2 goes FAULT and takes VI_1 with it (sync group)' : 'VI_1 goes FAULT (track_interface b0)';
      it(`d1 loses its back link: ${what}, d2 takes over; the link back, d1 preempts; not one connection is lost`, async function () {
        const d1 = lab.d[0];
        if (!d1.daemon) this.skip();
        const client = await echo();
        try {
          await allEchoedAfter(client, Date.now(), 5000);
          // d2 has these connections too (a partly filled message goes out once 2 s old)
          const ports = (await client.status()).ports;
          assert.ok(await waitFor(() => syncedOn(1, ports), 8000), `d2 has the new connections:\n${lab.lvsadm(1, '-L', '-n', '-c')}`);
          await sleep(1000);
          const from1 = d1.log.length, from2 = lab.d[1].log.length;
          const tDown = Date.now();
          lab.ip(d1.ns, 'link', 'set', 'b0', 'down');
          if (layout === 'group') await lab.waitLog(0, /\(VI_2\) Entering FAULT STATE/, 5000, from1);
          await lab.waitLog(0, layout === 'group' ? /\(VI_1\) Entering (FAULT|BACKUP) STATE/ : /\(VI_1\) Entering FAULT STATE/, 5000, from1);
          await entering(1, 'MASTER', 10_000, from2);
          const tMaster2 = Date.now();
          assert.ok(await waitFor(() => { const h = holds(0); return !h.f0 && !h.dr && !h.b0; }, 3000), `d1 removed its VIPs\n${state()}`);
          assert.ok(await waitFor(() => { const h = holds(1); return h.f0 && h.dr && h.b0; }, 3000), `d2 took the VIPs\n${state()}`);
          await allEchoedAfter(client, tMaster2, 20_000);
          await sleep(1000);
          const from1b = d1.log.length, from2b = lab.d[1].log.length;
          const tUp = Date.now();
          lab.ip(d1.ns, 'link', 'set', 'b0', 'up');
          await entering(0, 'MASTER', 15_000, from1b);
          const tMaster1 = Date.now();
          await entering(1, 'BACKUP', 5000, from2b);
          assert.ok(await waitFor(() => { const h = holds(1); return !h.f0 && !h.dr && !h.b0; }, 3000), `d2 removed the VIPs\n${state()}`);
          assert.ok(await waitFor(() => { const h = holds(0); return h.f0 && h.dr && h.b0; }, 3000), `d1 holds the VIPs\n${state()}`);
          await allEchoedAfter(client, tMaster1, 20_000);
          const tEnd = Date.now();
          await sleep(1500);
          await allEchoedAfter(client, tEnd, 5000);
          const r = await client.stop();
          assert.deepEqual(r.conns.filter((c) => c.failed).map((c) => `${c.name}: ${c.failed}`), [], state());
          console.log(`      (d1 b0 down → d2 MASTER in ${tMaster2 - tDown} ms; longest silence of a connection ${said(longestGap(r, tDown, tUp))})`);
          console.log(`      (d1 b0 up → d1 MASTER in ${tMaster1 - tUp} ms; longest silence of a connection ${said(longestGap(r, tUp, tEnd))})`);
        } finally {
          void client.stop().catch(() => undefined);
        }
      });
    }

    if (graceful) {
      it('d1 is stopped (SIGTERM): its priority-0 advert hands over at once (skew time, not 3 × advert_int + skew); not one connection is lost', async function () {
        if (!lab.d[0].daemon) this.skip();
        const client = await echo();
        try {
          await allEchoedAfter(client, Date.now(), 5000);
          const ports = (await client.status()).ports;
          assert.ok(await waitFor(() => syncedOn(1, ports), 8000), `d2 has the new connections:\n${lab.lvsadm(1, '-L', '-n', '-c')}`);
          await sleep(1000);
          const from2 = lab.d[1].log.length, from1 = lab.d[0].log.length;
          const tTerm = Date.now();
          await stopVrrp(0);
          const stopLog = lab.d[0].log.slice(from1);
          await entering(1, 'MASTER', 5000, from2);
          const tMaster2 = Date.now();
          for (const n of names) assert.match(stopLog, new RegExp(`\\(${n}\\) sent 0 priority`), stopLog);
          assert.match(lab.d[1].log.slice(from2), /\(VI_1\) Backup received priority 0 advertisement/, lab.d[1].log.slice(from2));
          assert.deepEqual(holds(0), { f0: false, dr: false, b0: false }, `d1 stopped removed its VIPs\n${state()}`);
          assert.ok(await waitFor(() => { const h = holds(1); return h.f0 && h.dr && h.b0; }, 3000), `d2 took the VIPs\n${state()}`);
          await allEchoedAfter(client, tMaster2, 20_000);
          const tEnd = Date.now();
          await sleep(1500);
          await allEchoedAfter(client, tEnd, 5000);
          const r = await client.stop();
          assert.deepEqual(r.conns.filter((c) => c.failed).map((c) => `${c.name}: ${c.failed}`), [], state());
          console.log(`      (d1 stopped (SIGTERM) → d2 MASTER in ${tMaster2 - tTerm} ms; longest silence of a connection ${said(longestGap(r, tTerm, tEnd))})`);
        } finally {
          void client.stop().catch(() => undefined);
        }
      });
    }

    it('the client saw gratuitous ARPs for both VIPs from d2 after the crash and from d1 after it came back', async function () {
      if (dump) { await sleep(300); dump.kill('SIGINT'); await new Promise((r) => dump!.once('exit', r)); dump = null; }
      const out = capture(['arp']).join('\n');
      const macs = lab.d.map((x) => lab.mac(x.ns, 'f0'));
      for (const vip of Object.values(PAIR_VRRP.vip)) {
        for (const [i, mac] of macs.entries()) {
          const v = vip.replace(/\./g, '\\.');
          const garps = out.split('\n').filter((l) => l.includes(` ${mac} > `) && new RegExp(`Request who-has ${v}( \\(\\S+\\))? tell ${v},`).test(l));
          assert.ok(garps.length >= 1, `no gratuitous ARP for ${vip} from d${i + 1} (${mac}):\n${out.slice(-3000)}`);
        }
      }
    });
  });
}

scenario('lvsd', 'one', 'fresh', true);
scenario('lvsd', 'group', 'journal');
if (process.env.LVSD_E2E_KEEPALIVED === '1') { scenario('keepalived', 'one', 'fresh', true); scenario('keepalived', 'group', 'fresh'); }
