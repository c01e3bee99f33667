// End-to-end: two lvsd directors in network namespaces (scripts/lab-pair.ts),
// the first running the master sync daemon, the second the backup, over a
// link of their own. Long-lived TCP connections through NAT and DR on the
// first; it is killed (SIGKILL) and the test moves the client's and the real
// server's routes to the second (VRRP will do that): every connection
// continues, none is reset. Needs root, `ip netns` and nft; otherwise
// skipped with the reason printed.

import { strict as assert } from 'node:assert';
import type { ChildProcess } from 'node:child_process';
import { cleanupStale, labUnavailable } from '../scripts/lab-net.js';
import { PAIR, PairLab } from '../scripts/lab-pair.js';

const why = labUnavailable();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const PORT = 9000;

interface EchoResult { opened: number; ok: number; failures: string[]; maxLatencyMs: number }

(why ? describe.skip : describe)(`e2e: a backup director takes over synced connections${why ? ` (skipped: ${why})` : ''}`, function () {
  this.timeout(120_000);
  const lab = why ? (null as unknown as PairLab) : new PairLab('s');
  const config = (role: 'master' | 'backup'): string => lab.writeConfig(`${role}.config.ts`, {
    interfaces: ['f0', 'b0'],
    services: [
      { protocol: 'tcp', address: PAIR.vip.nat, port: PORT, scheduler: 'rr', forward: 'nat', reals: [{ address: PAIR.rip, port: PORT }] },
      { protocol: 'tcp', address: PAIR.vip.dr, port: PORT, scheduler: 'rr', forward: 'dr', reals: [{ address: PAIR.rip, port: PORT }] },
    ],
    sync: { interface: 's0', syncid: 7, role },
  });

  before(async function () {
    this.timeout(90_000);
    cleanupStale();
    lab.build();
    await lab.helper(lab.r, 'scripts/lab-echo.ts', 'server', String(PORT));
    await lab.start(0, config('master'));
    await lab.start(1, config('backup'));
  });
  after(async function () {
    this.timeout(30_000);
    await lab.teardown();
  });

  it('the daemons run as lvsadm lists them, with the kernel\'s log lines', () => {
    assert.match(lab.lvsadm(0, '-L', '--daemon'), /master sync daemon \(mcast=s0, syncid=7, maxlen=1472, group=224\.0\.0\.81, port=8848, ttl=1\)/);
    assert.match(lab.lvsadm(1, '-L', '--daemon'), /backup sync daemon \(mcast=s0, syncid=7, maxlen=1472, group=224\.0\.0\.81, port=8848, ttl=1\)/);
    assert.match(lab.d[0].log, /sync thread started: state = MASTER, mcast_ifn = s0, syncid = 7/);
    assert.match(lab.d[1].log, /sync thread started: state = BACKUP, mcast_ifn = s0, syncid = 7/);
  });

  it('20 NAT + 20 DR connections: the master is killed, the backup continues every one', async function () {
    const client: ChildProcess = lab.spawn(lab.c, 'scripts/lab-echo.ts', 'client',
      JSON.stringify({ targets: [{ addr: PAIR.vip.nat, port: PORT, n: 20 }, { addr: PAIR.vip.dr, port: PORT, n: 20 }], seconds: 14, everyMs: 200 }));
    let out = '', err = '';
    client.stdout!.on('data', (d: Buffer) => { out += d.toString(); });
    client.stderr!.on('data', (d: Buffer) => { err += d.toString(); });
    const done = new Promise<EchoResult>((res, rej) => client.once('exit', (c) => {
      try { res(JSON.parse(out.trim()) as EchoResult); } catch { rej(new Error(`echo client (${c}): ${out}${err}`)); }
    }));
    while (!/opened/.test(err) && client.exitCode === null) await sleep(50);
    // the master sends a partly filled message once it is 2 s old (checked each second): 3 s and a margin
    const synced = (): string[] => lab.lvsadm(1, '-L', '-n', '-c').split('\n').filter((l) => /ESTABLISHED/.test(l));
    const until = Date.now() + 8000;
    while (synced().length < 40 && Date.now() < until) await sleep(250);
    assert.equal(synced().length, 40, `the backup's entries:\n${lab.lvsadm(1, '-L', '-n', '-c')}\nmaster log:\n${lab.d[0].log}\nbackup log:\n${lab.d[1].log}`);
    // counted in InActConn as the kernel's backup counts them (synced, not yet seen)
    assert.match(lab.lvsadm(1, '-L', '-n'), new RegExp(`${PAIR.rip.replace(/\./g, '\\.')}:${PORT}\\s+Masq\\s+1\\s+\\d+\\s+\\d+`));

    await lab.kill(0, 'SIGKILL');
    lab.activate(1);
    const r = await done;
    assert.equal(r.opened, 40);
    assert.deepEqual(r.failures, [], `backup log:\n${lab.d[1].log}`);
    assert.equal(r.ok, 40);
    console.log(`      (longest echo across the failover: ${r.maxLatencyMs} ms)`);
    // the backup forwarded them (its counters moved) and never saw them as new
    const stats = lab.lvsadm(1, '-L', '-n', '--stats', '--exact');
    assert.match(stats, new RegExp(`TCP  ${PAIR.vip.nat.replace(/\./g, '\\.')}:${PORT}\\s+0\\s+[1-9]`), stats);
  });
});
