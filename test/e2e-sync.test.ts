// End-to-end: two lvsd directors in network namespaces (scripts/lab-pair.ts),
// the first running the master sync daemon, the second the backup, over a
// link of their own. Long-lived TCP connections through NAT and DR on the
// first; it is killed (SIGKILL) and the test moves the client's and the real
// server's routes to the second (VRRP will do that): every connection
// continues, none is reset. What the master sent, captured on the sync link,
// is read by an independent decoder (tshark's ipvs dissector) and by the
// kernel-format parser, identically. Garbage at the backup changes nothing but
// its counters. Then a backup that starts after the connections were made
// asks for the table (resync, authenticated) and takes over with nothing lost.
// Needs root, `ip netns` and nft; otherwise skipped with the reason printed.

import { strict as assert } from 'node:assert';
import { execFileSync, spawnSync, type ChildProcess } from 'node:child_process';
import { statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT, cleanupStale, labUnavailable } from '../scripts/lab-net.js';
import { PAIR, PairLab } from '../scripts/lab-pair.js';
import { echoStarted } from '../scripts/lab-echo.js';
import { decodeMessage, encodeMessage, type SyncConn } from '../plugins/sync/lib/wire.js';
import { prng, readHexFixture } from './sync-helpers.js';

const why = labUnavailable();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const PORT = 9000;
const has = (cmd: string): boolean => spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;


(why ? describe.skip : describe)(`e2e: a backup director takes over synced connections${why ? ` (skipped: ${why})` : ''}`, function () {
  this.timeout(150_000);
  const lab = why ? (null as unknown as PairLab) : new PairLab('s');
  // two workers each: a backup installs each entry in the worker the fanout gives its flow
  const config = (name: string, sync: object): string => lab.writeConfig(`${name}.config.ts`, {
    interfaces: ['f0', 'b0'],
    workers: 2,
    services: [
      { protocol: 'tcp', address: PAIR.vip.nat, port: PORT, scheduler: 'rr', forward: 'nat', reals: [{ address: PAIR.rip, port: PORT }] },
      { protocol: 'tcp', address: PAIR.vip.dr, port: PORT, scheduler: 'rr', forward: 'dr', reals: [{ address: PAIR.rip, port: PORT }] },
    ],
    sync: { interface: 's0', syncid: 7, ...sync },
  });

  /** 20 NAT + 20 DR echo connections from the client for `seconds`; resolves once they are open. */
  const echo = (seconds: number) => echoStarted(lab.spawn(lab.c, 'scripts/lab-echo.ts', 'client',
    JSON.stringify({ targets: [{ addr: PAIR.vip.nat, port: PORT, n: 20 }, { addr: PAIR.vip.dr, port: PORT, n: 20 }], seconds, everyMs: 200 })));
  const established = (i: 0 | 1): string[] => lab.lvsadm(i, '-L', '-n', '-c').split('\n').filter((l) => /ESTABLISHED/.test(l));
  const waitFor = async (what: () => boolean, ms: number): Promise<void> => {
    const until = Date.now() + ms;
    while (!what() && Date.now() < until) await sleep(250);
  };

  before(async function () {
    this.timeout(90_000);
    cleanupStale();
    lab.build();
    await lab.helper(lab.r, 'scripts/lab-echo.ts', 'server', String(PORT));
    await lab.start(0, config('master', { role: 'master' }));
    await lab.start(1, config('backup', { role: 'backup' }));
  });
  after(async function () {
    this.timeout(30_000);
    await lab.teardown();
  });

  it('the daemons run as lvsadm lists them, with the kernel\'s log lines', () => {
    assert.match(lab.lvsadm(0, '-L', '--daemon'), /^master sync daemon \(mcast=s0, syncid=7, maxlen=1472, group=224\.0\.0\.81, port=8848, ttl=1\)\n$/);
    assert.match(lab.lvsadm(1, '-L', '--daemon'), /^backup sync daemon \(mcast=s0, syncid=7, maxlen=1472, group=224\.0\.0\.81, port=8848, ttl=1\)\n$/);
    assert.match(lab.d[0].log, /sync thread started: state = MASTER, mcast_ifn = s0, syncid = 7, id = 0/);
    assert.match(lab.d[1].log, /sync thread started: state = BACKUP, mcast_ifn = s0, syncid = 7, id = 0/);
  });

  let captured: string | null = null;

  it('20 NAT + 20 DR connections: the master is killed, the backup continues every one', async function () {
    // what crosses the sync link, for the decoder test below
    let dump: ChildProcess | null = null;
    if (has('tcpdump')) {
      captured = join(lab.dir, 'sync.pcap');
      dump = lab.spawnCmd(lab.d[1].ns, 'tcpdump', '-Z', 'root', '--immediate-mode', '-i', 's0', '-U', '-w', captured, 'udp', 'port', '8848');
      // capturing once the file has its header
      await waitFor(() => { try { return statSync(captured!).size >= 24; } catch { return false; } }, 5000);
      await sleep(300);
    }
    const { done } = await echo(14);
    // the master sends a partly filled message once it is 2 s old (checked each second): 3 s and a margin
    await waitFor(() => established(1).length >= 40, 8000);
    assert.equal(established(1).length, 40, `the backup's entries:\n${lab.lvsadm(1, '-L', '-n', '-c')}\nmaster log:\n${lab.d[0].log}\nbackup log:\n${lab.d[1].log}`);
    // packets handed over at once (--immediate-mode), and a moment for the last ones before it stops
    if (dump) { await sleep(300); dump.kill('SIGINT'); await new Promise((r) => dump!.once('exit', r)); }
    // counted as the kernel's backup counts them: the activity as received (ESTABLISHED: ActiveConn)
    assert.match(lab.lvsadm(1, '-L', '-n'), new RegExp(`${PAIR.rip.replace(/\./g, '\\.')}:${PORT}\\s+Masq\\s+1\\s+20\\s+0`));
    // lvsd's extension: the daemons' counters
    await sleep(1200);
    assert.match(lab.lvsadm(0, '-L', '--daemon', '--stats'), /^master sync daemon \(.*\)\n  records \d+, messages sent [1-9]\d*, bytes sent [1-9]\d*, /);
    assert.match(lab.lvsadm(1, '-L', '--daemon', '--stats'), /^backup sync daemon \(.*\)\n  messages received [1-9]\d*, messages truncated 0, records created (4\d|[5-9]\d|\d{3,}), /);

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

  it('what the master sent reads the same in tshark\'s ipvs dissector and in the kernel-format parser, and names the connections the backup has', function () {
    if (!captured) { console.log('      tcpdump not installed (apt-get install tcpdump): skipped'); this.skip(); }
    if (!has('tshark')) { console.log('      tshark not installed (apt-get install tshark): skipped'); this.skip(); }
    const fields = ['ipvs.syncid', 'ipvs.conncount', 'ipvs.version', 'ipvs.cport', 'ipvs.vport', 'ipvs.dport', 'ipvs.caddr', 'ipvs.vaddr', 'ipvs.daddr',
      'ipvs.flags.v1', 'ipvs.state', 'ipvs.timeout', 'udp.payload'];
    const out = execFileSync('tshark', ['-r', captured!, '-d', 'udp.port==8848,ipvs', '-T', 'fields', '-E', 'separator=|', ...fields.flatMap((f) => ['-e', f])],
      { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 60_000 });
    const rows = out.trim().split('\n').filter(Boolean).map((l) => Object.fromEntries(l.split('|').map((v, i) => [fields[i]!, v])));
    assert.ok(rows.length >= 1, `the master sent messages on s0 (capture of ${statSync(captured!).size} bytes; tshark said: ${out.slice(0, 300)})`);
    const seen = new Set<string>();
    for (const r of rows) {
      const msg = Uint8Array.from(Buffer.from(r['udp.payload']!.replace(/:/g, ''), 'hex'));
      const d = decodeMessage(msg, msg.length, 7);
      if (!d.ok) assert.fail(`a message the parser refuses: ${d.reason}`);
      assert.equal(d.dropped, null);
      assert.equal(r['ipvs.syncid'], '7');
      assert.equal(r['ipvs.version'], '1');
      assert.equal(r['ipvs.conncount'], String(d.conns.length));
      const list = (f: (c: SyncConn) => string): string => d.conns.map(f).join(',');
      const h = (n: number, w: number): string => `0x${n.toString(16).padStart(w, '0')}`;
      assert.equal(r['ipvs.cport'], list((c) => String(c.cport)));
      assert.equal(r['ipvs.vport'], list((c) => String(c.vport)));
      assert.equal(r['ipvs.dport'], list((c) => String(c.dport)));
      assert.equal(r['ipvs.caddr'], list((c) => c.caddr));
      assert.equal(r['ipvs.vaddr'], list((c) => c.vaddr));
      assert.equal(r['ipvs.daddr'], list((c) => c.daddr));
      assert.equal(r['ipvs.flags.v1'], list((c) => h(c.flags, 8)));
      assert.equal(r['ipvs.state'], list((c) => h(c.state, 4)));
      assert.equal(r['ipvs.timeout'], list((c) => String(c.timeout)));
      // byte for byte as the parser's records re-encode
      const again = encodeMessage(1, 7, d.conns);
      assert.ok(again.ok && Buffer.from(again.bytes).equals(Buffer.from(msg)));
      for (const c of d.conns) seen.add(`${c.caddr}:${c.cport} ${c.vaddr}:${c.vport}`);
    }
    // every entry the backup has (closed since, with the client) came in these messages
    const backup = new Set(lab.lvsadm(1, '-L', '-n', '-c').split('\n').filter((l) => l.startsWith('TCP')).map((l) => { const f = l.trim().split(/\s+/); return `${f[3]} ${f[4]}`; }));
    assert.equal(backup.size, 40);
    for (const k of backup) assert.ok(seen.has(k), `${k} not in the capture`);
  });

  it('garbage at the backup (bad sizes, truncations, bad versions and types, foreign syncids, random bytes) changes nothing but its counters', async function () {
    const before = lab.lvsadm(1, '-L', '-n', '-c').split('\n').sort().join('\n');
    const rnd = prng(13);
    const good = readHexFixture('v1-msg1.hex');
    const lines: string[] = [];
    const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
    for (let i = 0; i < 300; i++) {
      const m = Uint8Array.from(good);
      m[1] = 1 + (i % 6);                                                     // syncid 1..6: another cluster's, every field mutated
      const at = 8 + Math.floor(rnd() * (m.length - 8));
      m[at] = Math.floor(rnd() * 256);
      lines.push(hex(m));
    }
    for (let i = 1; i < good.length; i += 7) lines.push(hex(good.subarray(0, i)));  // truncated: the size no longer matches
    const big = new Uint8Array(3000); big.set(good); lines.push(hex(big));          // oversized for maxlen
    for (let i = 0; i < 200; i++) {
      const m = Uint8Array.from(good);
      m[1] = 7;
      // the size field, the version nibble of a record, an even record type, a record running past the end
      const k = i % 4;
      if (k === 0) { m[2] = Math.floor(rnd() * 256); m[3] = Math.floor(rnd() * 256); if (m[2] === good[2] && m[3] === good[3]) m[3] = m[3]! ^ 1; }
      if (k === 1) m[8 + 2] = m[8 + 2]! | 0x10;
      if (k === 2) m[8] = 2 + 2 * Math.floor(rnd() * 100);
      if (k === 3) { m[8 + 2] = 0x0f; m[8 + 3] = 0xff; }
      lines.push(hex(m));
    }
    for (let i = 0; i < 300; i++) lines.push(hex(Uint8Array.from({ length: 1 + Math.floor(rnd() * 1400) }, () => Math.floor(rnd() * 256))));
    const file = join(lab.dir, 'garbage.hex');
    writeFileSync(file, lines.join('\n'));
    // from director 1's side of the sync link (its lvsd is gone)
    assert.match(lab.exec(lab.d[0].ns, process.execPath, '--import', 'tsx', join(ROOT, 'scripts/lab-sync-send.ts'), file, PAIR.sync[0]), /sent \d+/);
    await sleep(1500);
    assert.equal(lab.d[1].daemon?.exitCode, null, 'the backup is running');
    const after = lab.lvsadm(1, '-L', '-n', '-c').split('\n').sort().join('\n');
    // the same entries (their timers aside)
    const keys = (s: string): string[] => s.split('\n').map((l) => l.replace(/^\S+\s+\S+\s+/, ''));
    assert.deepEqual(keys(after), keys(before));
    const stats = lab.lvsadm(1, '-L', '--daemon', '--stats');
    assert.match(stats, /messages dropped [1-9]/, stats);
    assert.match(stats, /bogus message size[^,]* [1-9]/, stats);
    assert.match(lab.d[1].log, /sync message from 10\.250\.0\.1 (partly )?dropped: /);
  });

  it('a backup started after the connections were made asks for the table (resync, authenticated, two sync ports) and takes over with nothing lost', async function () {
    const key = { key: 'a shared secret of the pair' };
    // director 2 takes the master role now; director 1 comes back empty, as a late backup
    await lab.kill(1, 'SIGTERM');
    lab.clearState(1);
    lab.clearState(0);
    // and two sync threads (sync_ports 2): ports 8848 and 8849
    await lab.start(1, config('master2', { role: 'master', resync: true, auth: key, ports: 2 }));
    const { done } = await echo(14);
    await waitFor(() => established(1).length >= 40, 5000);
    assert.equal(established(1).length, 40, lab.lvsadm(1, '-L', '-n', '-c'));
    await lab.start(0, config('backup2', { role: 'backup', resync: true, auth: key, ports: 2 }));
    // the whole table at once: long before any connection's next periodic sync (its 53rd packet, ~10 s)
    await waitFor(() => established(0).length >= 40, 6000);
    assert.equal(established(0).length, 40, `late backup:\n${lab.lvsadm(0, '-L', '-n', '-c')}\n${lab.d[0].log}\nmaster:\n${lab.d[1].log}`);
    // the master's line reaches us through its stdout pipe, which may lag the backup's table
    await waitFor(() => /resync asked by 10\.250\.0\.1: \d+ entries sent/.test(lab.d[1].log), 3000);
    assert.match(lab.d[1].log, /resync asked by 10\.250\.0\.1: \d+ entries sent/);
    assert.match(lab.d[0].log, /state = BACKUP, mcast_ifn = s0, syncid = 7, id = 1 \(on 224\.0\.0\.81:8849, authenticated\)/);
    await lab.kill(1, 'SIGKILL');
    lab.activate(0);
    const r = await done;
    assert.equal(r.opened, 40);
    assert.deepEqual(r.failures, [], `late backup log:\n${lab.d[0].log}\n${lab.lvsadm(0, '-L', '--drops', '--per-worker')}\n${lab.lvsadm(0, '-L', '-n', '-c')}`);
    assert.equal(r.ok, 40);
    console.log(`      (longest echo across the second failover: ${r.maxLatencyMs} ms)`);
  });
});
