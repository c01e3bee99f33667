// End-to-end: long-lived TCP connections through NAT, DR and TUN survive an
// lvsd restart (SIGTERM, then start with another worker count) and a crash
// (SIGKILL, then start again), README "Restarts". Needs root, `ip netns` and
// nft; otherwise skipped with the reason printed.

import { strict as assert } from 'node:assert';
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { Lab, RIP, ROOT, VIP, cleanupStale, labConfig, labUnavailable } from '../scripts/lab-net.js';
import { echoStarted } from '../scripts/lab-echo.js';

const why = labUnavailable();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const PORT = 9000;


(why ? describe.skip : describe)(`e2e: connections survive lvsd restarts${why ? ` (skipped: ${why})` : ''}`, function () {
  this.timeout(110_000);
  const lab = why ? (null as unknown as Lab) : new Lab({}, 'r');
  const procs: ChildProcess[] = [];
  const config = (workers: number): string => {
    const base = labConfig(lab, { workers }) as { services: object[] };
    const reals = (fwd: string) => lab.r.map((_, i) => ({ address: RIP(i + 1), port: PORT, forward: fwd }));
    base.services.push(
      { protocol: 'tcp', address: VIP.nat, port: PORT, scheduler: 'rr', forward: 'nat', reals: reals('nat') },
      { protocol: 'tcp', address: VIP.dr, port: PORT, scheduler: 'rr', forward: 'dr', reals: reals('dr') },
      { protocol: 'tcp', address: VIP.tun, port: PORT, scheduler: 'rr', forward: 'tun', reals: reals('tun') },
    );
    return lab.writeConfig(base, `restart-${workers}.config.ts`);
  };
  const node = (ns: string, ...args: string[]): ChildProcess => {
    const p = spawn('ip', ['netns', 'exec', ns, process.execPath, '--import', 'tsx', join(ROOT, 'scripts/lab-echo.ts'), ...args],
      { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    procs.push(p);
    return p;
  };

  before(async function () {
    this.timeout(90_000);
    cleanupStale();
    await lab.build();
    const up = lab.r.map((ns) => new Promise<void>((res, rej) => {
      const p = node(ns, 'server', String(PORT));
      p.stdout!.once('data', () => res());
      p.once('exit', (c) => rej(new Error(`echo server in ${ns} exited (${c})`)));
    }));
    await Promise.all(up);
    await lab.startDaemon(config(2));
  });
  after(async function () {
    this.timeout(30_000);
    for (const p of procs) { try { p.kill('SIGKILL'); } catch { /* gone */ } }
    await lab.teardown();
  });

  /** Starts an echo client; resolves once its connections are open, with its result to come. */
  const echo = (targets: { addr: string; port: number; n: number }[], seconds: number) =>
    echoStarted(node(lab.c, 'client', JSON.stringify({ targets, seconds, everyMs: 200 })));

  it('20 NAT + 20 DR + 10 TUN connections: a SIGTERM restart (2 → 1 workers) and a SIGKILL restart (1 → 2) lose none', async function () {
    const t0 = Date.now();
    const at = (what: string): void => { console.log(`      ${((Date.now() - t0) / 1000).toFixed(1)} s: ${what}`); };
    const { done } = await echo([{ addr: VIP.nat, port: PORT, n: 20 }, { addr: VIP.dr, port: PORT, n: 20 }, { addr: VIP.tun, port: PORT, n: 10 }], 30);
    await sleep(2000);
    const stats = (): string => lab.lvsadm('-L', '-n', '--stats', '--exact');
    const conns = (s: string): number => Number(new RegExp(`TCP  ${VIP.nat.replace(/\./g, '\\.')}:${PORT}\\s+(\\d+)`).exec(s)?.[1] ?? -1);
    assert.equal(conns(stats()), 20, stats());

    // a planned restart, with fewer workers: the takeover stays, the entries are re-spread
    at('SIGTERM');
    assert.equal(await lab.stopDaemon('SIGTERM'), 0);
    at('stopped');
    assert.match(lab.nftTables(), /table netdev lvsd/, 'a stop keeps the takeover table (no resets in the gap)');
    await sleep(500);
    await lab.startDaemon(config(1));
    at('started');
    assert.match(lab.daemonLog, /connection entries restored/);
    await sleep(3000);
    assert.equal(conns(stats()), 20, `the counters continue: ${stats()}`);

    console.log(`      ${lab.daemonLog.split('\n').filter((l) => /restored/.test(l)).join('\n      ')}`);
    // a crash, then a start with more workers; some connections opened just before it (the journal has them at once)
    const { done: late } = await echo([{ addr: VIP.nat, port: PORT, n: 5 }, { addr: VIP.dr, port: PORT, n: 5 }], 10);
    at('SIGKILL');
    await lab.stopDaemon('SIGKILL');
    await sleep(500);
    await lab.startDaemon(config(2));
    at('started');
    console.log(`      ${lab.daemonLog.split('\n').filter((l) => /restored/.test(l)).join('\n      ')}`);
    await sleep(2000);
    const listing = lab.lvsadm('-L', '-n', '-c');
    const established = listing.split('\n').filter((l) => /ESTABLISHED/.test(l) && l.includes(`${VIP.nat}:${PORT}`) || /ESTABLISHED/.test(l) && (l.includes(`${VIP.dr}:${PORT}`) || l.includes(`${VIP.tun}:${PORT}`)));
    assert.equal(established.length, 60, listing);

    const l = await late;
    assert.deepEqual(l.failures, [], 'connections opened just before the crash');
    assert.equal(l.ok, 10);
    const r = await done;
    assert.equal(r.opened, 50);
    assert.deepEqual(r.failures, []);
    assert.equal(r.ok, 50);
    // what the gaps cost: TCP's retransmission backoff over the daemon's start (a few seconds on a busy box)
    assert.ok(r.maxLatencyMs < 12_000, `longest echo ${r.maxLatencyMs} ms`);
    console.log(`      (longest echo across the restarts: ${r.maxLatencyMs} ms)`);

    // a final stop: lvsd --release gives the VIPs back to the kernel (refused while lvsd runs)
    const release = (): string => lab.exec(lab.d, process.execPath, '--import', 'tsx', join(ROOT, 'scripts/lvsd.ts'), '--release', '--socket', lab.socket);
    assert.throws(release, /lvsd is running/);
    assert.equal(await lab.stopDaemon('SIGTERM'), 0);
    assert.match(release(), /table netdev lvsd deleted/);
    assert.doesNotMatch(lab.nftTables(), /lvsd/);
  });
});
