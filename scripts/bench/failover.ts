// bench:failover — VRRP takeover time, lvsd's failover plugin and keepalived 2.2.7
// side by side in one run (scripts/lab-vrrp.ts: two nodes and a client on a hub
// bridge, a capture in the client). Takeover time = from the dying master's last
// advert (its priority-0 advert on SIGTERM) to the new master's first advert, read
// from the capture's timestamps. Master: node a, priority 150; backup: node b,
// priority 100; VRRPv3, one VIP. Expected (spec keepalived.md §5.3):
// SIGKILL 3 × advert_int + skew (3.609 s at 1 s, 0.361 s at 0.1 s);
// SIGTERM skew only (0.609 s / 0.061 s).
//
//   npm run bench:failover                       (3 repetitions, advert_int 1 and 0.1)
//   BENCH_REPS=5 BENCH_INTERVALS=0.1 BENCH_PAIRS=keepalived-keepalived,keepalived-lvsd npm run bench:failover
//
// Needs root, keepalived and tcpdump; without lvsd's plugin only keepalived → keepalived runs.

import { lvsdVrrpUnavailable, vrrpLabUnavailable, VLAB, VrrpLab, keepalivedVersion, type Kind, type InstanceSpec } from '../lab-vrrp.js';

const why = vrrpLabUnavailable();
if (why) { console.error(`bench:failover: ${why}`); process.exit(1); }
const noLvsd = lvsdVrrpUnavailable();
const REPS = Number(process.env['BENCH_REPS'] ?? 3);
const INTERVALS = (process.env['BENCH_INTERVALS'] ?? '1,0.1').split(',').map(Number);
const ALL_PAIRS = ['lvsd-keepalived', 'keepalived-lvsd', 'keepalived-keepalived', 'lvsd-lvsd'];
let pairs = (process.env['BENCH_PAIRS'] ?? ALL_PAIRS.join(',')).split(',');
if (noLvsd) { console.log(`(${noLvsd}: keepalived → keepalived only)`); pairs = pairs.filter((p) => !p.includes('lvsd')); }
const SIGNALS: NodeJS.Signals[] = ['SIGKILL', 'SIGTERM'];
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const A = VLAB.addr.a, B = VLAB.addr.b;

const skew = (prio: number, adv: number): number => ((256 - prio) / 256) * adv;
const expected = (sig: NodeJS.Signals, adv: number): number => (sig === 'SIGKILL' ? 3 * adv : 0) + skew(100, adv);

interface Row { pair: string; sig: NodeJS.Signals; adv: number; ms: number[]; failures: string[] }

async function once(lab: VrrpLab, master: Kind, backup: Kind, sig: NodeJS.Signals, adv: number, n: number): Promise<number> {
  const spec: InstanceSpec = { vrid: 60, priority: 100, version: 3, advertInt: adv, vips: [`${VLAB.vip}/24`] };
  const cap = await lab.capture(`b-${master}-${backup}-${sig}-${adv}-${n}`);
  try {
    const m = await lab.start(master, 'a', { ...spec, priority: 150 });
    await m.waitLog(/\(VI_1\) Entering MASTER STATE/, 15_000);
    const b = await lab.start(backup, 'b', spec);
    await b.waitLog(/\(VI_1\) Entering BACKUP STATE/, 15_000);
    await sleep(Math.max(1000, 3 * adv * 1000)); // a few adverts in BACKUP
    if (b.state() !== 'BACKUP') throw new Error(`the backup is ${b.state()}`);
    const from = b.log.length;
    await m.kill(sig);
    await b.waitLog(/\(VI_1\) Entering MASTER STATE/, 4 * adv * 1000 + 3000, from);
    await sleep(Math.max(300, 2 * adv * 1000));
    await cap.stop();
    const ads = cap.adverts();
    const first = ads.find((x) => x.src === B && x.priority > 0);
    if (!first) throw new Error('no advert from the new master');
    const before = ads.filter((x) => x.src === A && x.ts < first.ts);
    const last = before[before.length - 1];
    if (!last) throw new Error('no advert from the old master');
    if (sig === 'SIGTERM' && last.priority !== 0) throw new Error(`the old master's last advert had priority ${last.priority}, not 0`);
    return (first.ts - last.ts) * 1000;
  } finally {
    await cap.stop();
    await lab.reset();
  }
}

const fmt = (v: number): string => (v >= 100 ? v.toFixed(0) : v.toFixed(1));
const median = (a: number[]): number => { const s = [...a].sort((x, y) => x - y); const h = s.length >> 1; return s.length % 2 ? s[h]! : (s[h - 1]! + s[h]!) / 2; };

async function main(): Promise<void> {
  console.log(`bench:failover — ${keepalivedVersion() ?? 'keepalived ?'}, VRRPv3, master priority 150 on a, backup 100 on b, ${REPS} repetitions`);
  const lab = new VrrpLab('bf');
  const rows: Row[] = [];
  const stop = async (): Promise<void> => { await lab.teardown(); process.exit(130); };
  process.once('SIGINT', () => { void stop(); });
  try {
    await lab.build();
    for (const adv of INTERVALS) {
      for (const sig of SIGNALS) {
        const cur = pairs.map((pair): Row => ({ pair, sig, adv, ms: [], failures: [] }));
        rows.push(...cur);
        // interleaved: one repetition of every pair, then the next
        for (let n = 0; n < REPS; n++) {
          for (const r of cur) {
            const [master, backup] = r.pair.split('-') as [Kind, Kind];
            try {
              const ms = await once(lab, master, backup, sig, adv, n);
              r.ms.push(ms);
              process.stderr.write(`  ${r.pair} ${sig} advert_int ${adv}: ${fmt(ms)} ms\n`);
            } catch (e) {
              r.failures.push((e as Error).message.split('\n')[0]!);
              process.stderr.write(`  ${r.pair} ${sig} advert_int ${adv}: FAILED ${(e as Error).message.slice(0, 400)}\n`);
            }
          }
        }
      }
    }
  } finally {
    await lab.teardown();
  }
  console.log('');
  console.log('| dying master → new master | signal | advert_int | expected | takeover ms (each run) | median |');
  console.log('|---|---|---|---|---|---|');
  for (const r of rows) {
    const name = r.pair.replace('-', ' → ');
    const each = r.ms.map(fmt).join(' ') + (r.failures.length ? ` (${r.failures.length} failed: ${r.failures.join('; ')})` : '');
    console.log(`| ${name} | ${r.sig} | ${r.adv} s | ${fmt(expected(r.sig, r.adv) * 1000)} | ${each} | ${r.ms.length ? fmt(median(r.ms)) : '–'} |`);
  }
}

main().catch((e: unknown) => { console.error(e); process.exit(1); });
