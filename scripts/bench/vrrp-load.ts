// bench:vrrp-load — does sub-second VRRP (v3, advert_int 0.1 s: a backup takes
// over after 0.36 s of silence) stay stable while the director forwards at full
// speed? The namespace lab (scripts/lab-net.ts): lvsd --io afpacket on the
// director, VRRP master on d0 (priority 150); keepalived 2.2.7 in the client
// namespace as the backup (priority 100, same VRID), so a late advert shows as a
// takeover. Bulk NAT/DR transfers from the client keep the data plane busy
// (one worker; 2 cores in all). A capture on the client's link times every
// advert of the master.
//
// Side by side, the same run with keepalived as the master in the director
// namespace (lvsd still forwarding the same load, without `vrrp`): the
// reference for "stable under load".
//
//   BENCH_SECONDS=30 npm run bench:vrrp-load

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Lab, VIP, labConfig, labUnavailable } from '../lab-net.js';

const SECONDS = Number(process.env['BENCH_SECONDS'] ?? 30);
const INT = Number(process.env['BENCH_ADVERT_INT'] ?? 0.1);
const VRID = 77;
const VVIP = '10.91.0.100';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function keepalivedConf(name: string, prio: number, dev: string): string {
  return `global_defs { router_id ${name} }
vrrp_instance VI_L {
  interface ${dev}
  virtual_router_id ${VRID}
  priority ${prio}
  version 3
  advert_int ${INT}
  virtual_ipaddress { ${VVIP}/24 }
}
`;
}

function keepalived(lab: Lab, ns: string, name: string, prio: number, dev: string): { p: ChildProcess; log: () => string } {
  const conf = join(lab.dir, `${name}.conf`);
  writeFileSync(conf, keepalivedConf(name, prio, dev));
  let log = '';
  const p = spawn('ip', ['netns', 'exec', ns, 'keepalived', '-P', '-n', '-l', '-D', '-f', conf,
    '-p', join(lab.dir, `${name}.pid`), '-r', join(lab.dir, `${name}.vpid`)], { stdio: ['ignore', 'pipe', 'pipe'] });
  p.stdout!.on('data', (d: Buffer) => { log += d.toString(); });
  p.stderr!.on('data', (d: Buffer) => { log += d.toString(); });
  return { p, log: () => log };
}

/** Transfers back to back until `until`, `conc` at a time, NAT and DR alternately; returns the bytes moved. */
async function load(lab: Lab, until: number): Promise<number> {
  let bytes = 0, i = 0;
  while (Date.now() < until) {
    const url = `http://${i++ % 2 === 0 ? VIP.nat : VIP.dr}/blob`;
    const r = await lab.bulk('download', url, 32 << 20, { n: 4, conc: 4, timeout: 20 });
    bytes += r.transfers.reduce((n, t) => n + t.bytes, 0);
  }
  return bytes;
}

interface Phase { name: string; adverts: number; median: number; p99: number; max: number; takeovers: number; mbps: number }

/** Gaps between the master's adverts in a capture (tcpdump -tt text lines). */
function gaps(text: string, src: string): number[] {
  const t = text.split('\n').filter((l) => l.includes(`${src} > 224.0.0.18`) && /prio [1-9]/.test(l)).map((l) => Number(l.split(' ')[0]));
  const g: number[] = [];
  for (let i = 1; i < t.length; i++) g.push((t[i]! - t[i - 1]!) * 1000);
  return g;
}

function stats(name: string, g: number[], takeovers: number, bytes: number, secs: number): Phase {
  const s = [...g].sort((a, b) => a - b);
  const q = (p: number): number => s[Math.min(s.length - 1, Math.floor(p * s.length))] ?? NaN;
  return { name, adverts: g.length + 1, median: q(0.5), p99: q(0.99), max: s[s.length - 1] ?? NaN, takeovers, mbps: (bytes * 8) / secs / 1e6 };
}

async function phase(lab: Lab, name: string, withLoad: boolean, backupLog: () => string): Promise<Phase> {
  const cap = join(lab.dir, `${name.replace(/\W+/g, "-")}.txt`);
  const before = (backupLog().match(/Entering MASTER STATE/g) ?? []).length;
  const td = spawn('sh', ['-c', `exec ip netns exec ${lab.c} tcpdump -i c0 -n -tt -l vrrp > ${cap} 2>/dev/null`]);
  await sleep(500);
  const until = Date.now() + SECONDS * 1000;
  const bytes = withLoad ? await load(lab, until) : (await sleep(SECONDS * 1000), 0);
  await sleep(300);
  td.kill('SIGTERM');
  await sleep(300);
  const after = (backupLog().match(/Entering MASTER STATE/g) ?? []).length;
  return stats(name, gaps(readFileSync(cap, 'utf8'), '10.91.0.1'), after - before, bytes, SECONDS);
}

async function main(): Promise<void> {
  const why = labUnavailable() ?? (spawnSync('sh', ['-c', 'command -v keepalived && command -v tcpdump'], { stdio: 'ignore' }).status === 0 ? null : 'keepalived and tcpdump are needed');
  if (why) { console.log(`bench:vrrp-load skipped: ${why}`); return; }
  const rows: Phase[] = [];
  for (const master of ['lvsd', 'keepalived'] as const) {
    const lab = new Lab({ reals: 3 });
    try {
      await lab.build();
      const cfg = { ...labConfig(lab, { workers: 1 }) as Record<string, unknown>,
        ...(master === 'lvsd' ? { vrrp: [{ name: 'VI_L', interface: 'd0', vrid: VRID, priority: 150, version: 3, advertInt: INT, vips: [`${VVIP}/24`] }] } : {}) };
      await lab.startDaemon(lab.writeConfig(cfg));
      const km = master === 'keepalived' ? keepalived(lab, lab.d, 'kmaster', 150, 'd0') : null;
      const backup = keepalived(lab, lab.c, 'kbackup', 100, 'c0');
      // both start as BACKUP and wait their master-down time; the master's comes first
      for (let i = 0; i < 100 && !/Entering MASTER STATE/.test(master === 'lvsd' ? lab.daemonLog : km!.log()); i++) await sleep(100);
      await sleep(1000);
      rows.push(await phase(lab, `${master} idle`, false, backup.log));
      rows.push(await phase(lab, `${master} forwarding`, true, backup.log));
      backup.p.kill('SIGKILL'); km?.p.kill('SIGKILL');
    } finally { await lab.teardown(); }
  }
  console.log(`\nVRRP v3, advert_int ${INT} s (backup priority 100: master down after ${(3 * INT + (156 / 256) * INT).toFixed(3)} s), ${SECONDS} s per phase`);
  console.log('| master | adverts | median gap | p99 gap | max gap | backup takeovers | load (Mbit/s) |');
  console.log('|---|---|---|---|---|---|---|');
  for (const r of rows) console.log(`| ${r.name} | ${r.adverts} | ${r.median.toFixed(1)} ms | ${r.p99.toFixed(1)} ms | ${r.max.toFixed(1)} ms | ${r.takeovers} | ${r.mbps ? r.mbps.toFixed(0) : '—'} |`);
}

await main();
