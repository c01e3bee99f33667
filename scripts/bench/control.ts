// bench:control — does the control plane scale with the table? It runs the
// real daemon the way operators do (`scripts/lvsd.js --io memory --socket …
// --config …` as a child process) and the real `scripts/lvsadm.js`, and times:
//
//   (list, sighup and restore also give the daemon's CPU time, from /proc/PID/stat)
//   start     spawn until the socket answers with the full table
//   edit      one weight changed in config.ts until get-service shows it, minus the debounce
//   sighup    SIGHUP until the daemon logs the config applied (file unchanged)
//   list      `lvsadm -L -n` wall time (output checked for N + N×M lines)
//   info      a trivial request (`info`, a fresh connection each, as lvsadm makes), idle
//   rss       VmRSS of the daemon after start (/proc/PID/status)
//   restore   `lvsadm -R` of S services (and of N×M services × reals), with `info`
//             sampled throughout; then SIGTERM until the daemon exits
//   errors    a config with E errors written over a running one: until the daemon
//             logs the rejection, with `info` sampled throughout
//
// Configs come in two forms: `computed` (a loop in config.ts, as an operator
// writes it) and `literal` (every service written out).
//
//   npm run bench:control -- [--sizes 1000x10,10000x10] [--forms computed,literal]
//       [--restore 100000] [--restore-table 10000x10] [--errors 1000] [--repeat 3]
//       [--cases start,edit,sighup,list,info,rss,restore,errors] [--step-timeout 300]

import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, openSync, closeSync } from 'node:fs';
import { tmpdir, loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { request } from '../../core/control/client.js';
import type { InfoView } from '../../core/control/protocol.js';
import type { ServiceView } from '../../core/model/types.js';

const ROOT = resolve(import.meta.dirname, '../..');
const LVSD = join(ROOT, 'scripts/lvsd.js');
const LVSADM = join(ROOT, 'scripts/lvsadm.js');
const DEBOUNCE_MS = 100;

const { values: flags } = parseArgs({
  options: {
    sizes: { type: 'string', default: '1000x10,10000x10' },
    forms: { type: 'string', default: 'computed,literal' },
    restore: { type: 'string', default: '100000' },
    'restore-table': { type: 'string', default: '10000x10' },
    errors: { type: 'string', default: '1000' },
    repeat: { type: 'string', default: '3' },
    samples: { type: 'string', default: '100' },
    cases: { type: 'string', default: 'start,edit,sighup,list,info,rss,restore,errors' },
    'step-timeout': { type: 'string', default: '300' },
  },
});
const REPEAT = Number(flags.repeat);
const SAMPLES = Number(flags.samples);
const STEP_TIMEOUT_MS = Number(flags['step-timeout']) * 1000;
const CASES = new Set(flags.cases.split(','));
const parseSize = (s: string): { n: number; m: number } => {
  const [n, m] = s.split('x').map(Number);
  return { n: n!, m: m ?? 0 };
};

// ------------------------------------------------------------ addresses

/** The i-th VIP: 10.(i>>16).(i>>8).(i&255)+… kept unicast and distinct. */
const vip = (i: number): string => `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;
/** The j-th real server of a service (the same pool for every service, as a farm's reals usually are). */
const rip = (j: number): string => `192.168.${(j >> 8) & 255}.${(j & 255) + 1}`;

// ------------------------------------------------------------ configs

/** The real whose weight the edit case changes: in the middle of the table. */
const editTarget = (n: number, m: number): { svc: number; real: number } => ({ svc: n >> 1, real: m >> 1 });

function computedConfig(n: number, m: number, w: number): string {
  const t = editTarget(n, m);
  return `import { defineConfig } from 'lvsd';

const SERVICES = ${n};
const REALS = ${m};
const vip = (i: number): string => \`10.\${(i >> 16) & 255}.\${(i >> 8) & 255}.\${i & 255}\`;
const rip = (j: number): string => \`192.168.\${(j >> 8) & 255}.\${(j & 255) + 1}\`;
// the one line the bench edits
const special = { svc: ${t.svc}, real: ${t.real}, weight: ${w} };

export default defineConfig({
  services: Array.from({ length: SERVICES }, (_, i) => ({
    protocol: 'tcp' as const, address: vip(i), port: 80, scheduler: 'wlc', forward: 'nat' as const,
    reals: Array.from({ length: REALS }, (_, j) => ({
      address: rip(j), port: 80, weight: i === special.svc && j === special.real ? special.weight : 1,
    })),
  })),
});
`;
}

function literalConfig(n: number, m: number, w: number): string {
  const t = editTarget(n, m);
  const out: string[] = [`import { defineConfig } from 'lvsd';`, '', 'export default defineConfig({', '  services: ['];
  for (let i = 0; i < n; i++) {
    out.push(`    { protocol: 'tcp', address: '${vip(i)}', port: 80, scheduler: 'wlc', forward: 'nat', reals: [`);
    for (let j = 0; j < m; j++) {
      out.push(`      { address: '${rip(j)}', port: 80, weight: ${i === t.svc && j === t.real ? w : 1} },`);
    }
    out.push('    ] },');
  }
  out.push('  ],', '});', '');
  return out.join('\n');
}

/** A config with `e` errors: every service's port is out of range. */
function errorConfig(e: number): string {
  const out: string[] = [`import { defineConfig } from 'lvsd';`, '', 'export default defineConfig({', '  services: ['];
  for (let i = 0; i < e; i++) {
    out.push(`    { protocol: 'tcp', address: '${vip(i)}', port: 70000, scheduler: 'wlc', forward: 'nat', reals: [`);
    out.push(`      { address: '${rip(0)}', port: 80, weight: 1 },`);
    out.push('    ] },');
  }
  out.push('  ],', '});', '');
  return out.join('\n');
}

const configFor = (form: string, n: number, m: number, w: number): string =>
  form === 'literal' ? literalConfig(n, m, w) : computedConfig(n, m, w);

/** `ipvsadm -S -n` style rules: n services, m reals each. */
function rules(n: number, m: number): string {
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    out.push(`-A -t ${vip(i)}:80 -s wlc`);
    for (let j = 0; j < m; j++) out.push(`-a -t ${vip(i)}:80 -r ${rip(j)}:80 -m -w 1`);
  }
  return out.join('\n') + '\n';
}

// ------------------------------------------------------------ the daemon

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

class Lvsd {
  readonly proc: ChildProcess;
  readonly sock: string;
  readonly log: string[] = [];
  private waiters: { re: RegExp; from: number; res: (i: number) => void }[] = [];
  exited: Promise<number | null>;

  constructor(dir: string, config?: string) {
    this.sock = join(dir, 'lvsd.sock');
    const args = [LVSD, '--io', 'memory', '--socket', this.sock, ...(config ? ['--config', config] : [])];
    this.proc = spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let part = '';
    this.proc.stderr!.setEncoding('utf8');
    this.proc.stderr!.on('data', (c: string) => {
      part += c;
      let nl: number;
      while ((nl = part.indexOf('\n')) >= 0) {
        this.log.push(part.slice(0, nl));
        part = part.slice(nl + 1);
      }
      this.waiters = this.waiters.filter((w) => {
        for (let i = w.from; i < this.log.length; i++) if (w.re.test(this.log[i]!)) { w.res(i); return false; }
        return true;
      });
    });
    this.exited = new Promise((r) => this.proc.on('exit', (code) => r(code)));
  }

  /** Index of the first log line from `from` on that matches. */
  waitLog(re: RegExp, from: number, timeoutMs = STEP_TIMEOUT_MS): Promise<number> {
    for (let i = from; i < this.log.length; i++) if (re.test(this.log[i]!)) return Promise.resolve(i);
    return withTimeout(new Promise((res) => this.waiters.push({ re, from, res })), timeoutMs, `log ${re}`);
  }

  rssKiB(): { rss: number; hwm: number } {
    const s = readFileSync(`/proc/${this.proc.pid}/status`, 'utf8');
    const kib = (k: string): number => Number(new RegExp(`^${k}:\\s+(\\d+)`, 'm').exec(s)?.[1] ?? NaN);
    return { rss: kib('VmRSS'), hwm: kib('VmHWM') };
  }

  /** CPU time (user + system) the daemon has used so far, ms: less noisy than wall time on a shared machine. */
  cpuMs(): number {
    const f = readFileSync(`/proc/${this.proc.pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return ((Number(f[11]) + Number(f[12])) * 1000) / 100;   // utime, stime in clock ticks (USER_HZ 100)
  }

  async stop(): Promise<number> {
    const t0 = performance.now();
    if (this.proc.exitCode === null && this.proc.signalCode === null) this.proc.kill('SIGTERM');
    const r = await Promise.race([this.exited, sleep(30_000).then(() => 'timeout' as const)]);
    if (r === 'timeout') this.proc.kill('SIGKILL');
    return performance.now() - t0;
  }
}

class Timeout extends Error {}

async function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let t: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([p, new Promise<T>((_, rej) => { t = setTimeout(() => rej(new Timeout(`${what}: no result within ${ms / 1000} s`)), ms); })]);
  } finally { clearTimeout(t); }
}

/** Polls `info` until the socket answers. */
async function waitSocket(sock: string, d: Lvsd): Promise<void> {
  const deadline = performance.now() + STEP_TIMEOUT_MS;
  for (;;) {
    if (d.proc.exitCode !== null) throw new Error(`lvsd exited:\n${d.log.join('\n')}`);
    try {
      const r = await request<InfoView>(sock, { op: 'info' }, 60_000);
      if (r.ok) return;
    } catch { /* not up yet */ }
    if (performance.now() > deadline) throw new Timeout('the socket never answered');
    await sleep(10);
  }
}

const svcKey = (i: number) => ({ family: 'inet' as const, protocol: 'tcp' as const, addr: vip(i), port: 80, fwmark: 0 });

async function getService(sock: string, i: number): Promise<ServiceView | null> {
  const r = await request<ServiceView>(sock, { op: 'get-service', service: svcKey(i) }, 60_000);
  return r.ok ? r.data : null;
}

/** One `info` round trip on a fresh connection, ms. */
async function infoOnce(sock: string): Promise<number> {
  const t0 = performance.now();
  const r = await request(sock, { op: 'info' }, 120_000);
  if (!r.ok) throw new Error('info failed');
  return performance.now() - t0;
}

/** Samples `info` back to back (a short pause between) until `stop` resolves. */
async function sampleWhile(sock: string, running: Promise<unknown>): Promise<number[]> {
  let done = false;
  running.then(() => { done = true; }, () => { done = true; });
  const out: number[] = [];
  while (!done) {
    try { out.push(await infoOnce(sock)); } catch { break; }
    await sleep(20);
  }
  return out;
}

function runLvsadm(sock: string, args: string[], stdinFile?: string): Promise<{ code: number | null; ms: number; out: string; err: string }> {
  return new Promise((res) => {
    const fd = stdinFile ? openSync(stdinFile, 'r') : 'ignore';
    const t0 = performance.now();
    const p = spawn(process.execPath, [LVSADM, '--socket', sock, ...args], { stdio: [fd, 'pipe', 'pipe'] });
    if (typeof fd === 'number') closeSync(fd);
    const out: string[] = [];
    const err: string[] = [];
    p.stdout!.setEncoding('utf8').on('data', (c: string) => out.push(c));
    p.stderr!.setEncoding('utf8').on('data', (c: string) => err.push(c));
    p.on('close', (code) => res({ code, ms: performance.now() - t0, out: out.join(''), err: err.join('') }));
  });
}

// ------------------------------------------------------------ results

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : s.length % 2 ? s[s.length >> 1]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
const fmtMs = (ms: number): string => (ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${ms.toFixed(ms < 10 ? 2 : 0)} ms`);
const runs = (xs: number[]): string => (xs.length > 1 ? ` [${xs.map(fmtMs).join(' ')}]` : '');

const rows: [string, string, string][] = [];
function record(what: string, value: string, target = ''): void {
  rows.push([what, value, target]);
  console.error(`  ${what}: ${value}`);
}

/** Runs a step; a step that times out or fails is recorded as such and the bench goes on. */
async function step(what: string, f: () => Promise<void>): Promise<void> {
  try { await f(); } catch (e) { record(what, e instanceof Timeout ? `timed out (${(e as Error).message})` : `failed: ${(e as Error).message.split('\n')[0]}`); }
}

// ------------------------------------------------------------ cases

let baseRssKiB = NaN;

async function tableCases(dir: string, form: string, n: number, m: number): Promise<void> {
  const tag = `${n}×${m} ${form}`;
  const cfg = join(dir, `config-${form}-${n}x${m}.ts`);
  let w = 1;
  const t = editTarget(n, m);
  writeFileSync(cfg, configFor(form, n, m, w));
  const t0 = performance.now();
  const d = new Lvsd(dir, cfg);
  try {
    await withTimeout(waitSocket(d.sock, d), STEP_TIMEOUT_MS, 'start');
    const s = await getService(d.sock, n - 1);
    if (!s || s.dests.length !== m) throw new Error('the table is not complete once the socket answers');
    const startMs = performance.now() - t0;
    if (CASES.has('start')) record(`${tag}: start until the socket answers with the full table`, fmtMs(startMs), n >= 10000 ? '< 2 s' : '');
    if (CASES.has('rss')) {
      const { rss, hwm } = d.rssKiB();
      const per = Number.isNaN(baseRssKiB) ? '' : `; (RSS − empty daemon) / services = ${(((rss - baseRssKiB) * 1024) / n).toFixed(0)} B per service with its ${m} reals`;
      record(`${tag}: RSS after start`, `${(rss / 1024).toFixed(0)} MiB (peak ${(hwm / 1024).toFixed(0)} MiB)${per}`, 'proportional');
    }
    if (CASES.has('info')) {
      await step(`${tag}: info latency, idle (${SAMPLES} requests)`, async () => {
        const xs: number[] = [];
        for (let i = 0; i < SAMPLES; i++) xs.push(await infoOnce(d.sock));
        record(`${tag}: info latency, idle (${SAMPLES} requests)`, `median ${fmtMs(median(xs))}, max ${fmtMs(Math.max(...xs))}`, '< 5 ms');
      });
    }
    if (CASES.has('edit')) {
      await step(`${tag}: one-weight edit applied, after the debounce`, async () => {
        const xs: number[] = [];
        for (let r = 0; r < REPEAT; r++) {
          w = w === 1 ? 7 : 1;
          const from = d.log.length;
          const te = performance.now();
          writeFileSync(cfg, configFor(form, n, m, w));
          for (;;) {
            const v = await getService(d.sock, t.svc);
            // dests are listed newest first: real j is at index m-1-j
            if (v?.dests[m - 1 - t.real]?.weight === w) break;
            if (performance.now() - te > STEP_TIMEOUT_MS) throw new Timeout('the edit never showed');
            await sleep(2);
          }
          xs.push(performance.now() - te - DEBOUNCE_MS);
          await d.waitLog(/config .* applied/, from);
          await sleep(300);
        }
        record(`${tag}: one-weight edit applied, after the debounce`, `median ${fmtMs(median(xs))}${runs(xs)}`, n <= 1000 ? '< 100 ms' : n >= 10000 ? '< 1 s' : '');
      });
    }
    if (CASES.has('sighup')) {
      await step(`${tag}: SIGHUP reload (file unchanged)`, async () => {
        const xs: number[] = [];
        const cpu: number[] = [];
        for (let r = 0; r < REPEAT; r++) {
          const from = d.log.length;
          const th = performance.now();
          const c0 = d.cpuMs();
          d.proc.kill('SIGHUP');
          await d.waitLog(/config .* applied|reload failed/, from);
          xs.push(performance.now() - th);
          cpu.push(d.cpuMs() - c0);
        }
        record(`${tag}: SIGHUP reload (file unchanged)`, `median ${fmtMs(median(xs))}${runs(xs)}; daemon CPU median ${fmtMs(median(cpu))}`, n >= 10000 ? '< 1 s' : '');
      });
    }
    if (CASES.has('list')) {
      await step(`${tag}: lvsadm -L -n`, async () => {
        const xs: number[] = [];
        const cpu: number[] = [];
        for (let r = 0; r < REPEAT; r++) {
          const c0 = d.cpuMs();
          const l = await withTimeout(runLvsadm(d.sock, ['-L', '-n']), STEP_TIMEOUT_MS, 'lvsadm -L -n');
          cpu.push(d.cpuMs() - c0);
          if (l.code !== 0) throw new Error(`lvsadm -L -n: exit ${l.code}: ${l.err}`);
          const lines = l.out.split('\n').length - 1;
          if (lines !== 3 + n + n * m) throw new Error(`lvsadm -L -n printed ${lines} lines`);
          xs.push(l.ms);
        }
        record(`${tag}: lvsadm -L -n (wall, incl. lvsadm's own start)`, `median ${fmtMs(median(xs))}${runs(xs)}; daemon CPU median ${fmtMs(median(cpu))}`, n >= 10000 ? '< 1 s' : '');
      });
    }
    if (CASES.has('errors') && form === 'computed' && n === Math.min(...sizes.map((x) => x.n))) {
      await errorsCase(d, cfg);
    }
  } finally {
    await d.stop();
  }
}

async function errorsCase(d: Lvsd, cfg: string): Promise<void> {
  const e = Number(flags.errors);
  const what = `config with ${e} errors written over a running one: until the rejection is logged`;
  await step(what, async () => {
    const good = readFileSync(cfg, 'utf8');
    const from = d.log.length;
    const t0 = performance.now();
    writeFileSync(cfg, errorConfig(e));
    const logged = d.waitLog(/config reload failed/, from);
    const lat = await sampleWhile(d.sock, logged);
    await logged;
    const ms = performance.now() - t0 - DEBOUNCE_MS;
    record(what, `${fmtMs(ms)} after the debounce; info during it: ${lat.length} answered, median ${fmtMs(median(lat))}, max ${fmtMs(Math.max(...lat))}`, 'no freeze');
    const from2 = d.log.length;
    writeFileSync(cfg, good);
    await d.waitLog(/config .* applied/, from2);
  });
}

async function restoreCase(dir: string, n: number, m: number): Promise<void> {
  const tag = `lvsadm -R of ${n} services × ${m} reals (${n + n * m} lines)`;
  const file = join(dir, `rules-${n}x${m}`);
  writeFileSync(file, rules(n, m));
  const d = new Lvsd(dir);
  try {
    await waitSocket(d.sock, d);
    await step(tag, async () => {
      const t0 = performance.now();
      const c0 = d.cpuMs();
      const run = withTimeout(runLvsadm(d.sock, ['-R'], file), STEP_TIMEOUT_MS, 'lvsadm -R');
      const lat = await sampleWhile(d.sock, run);
      const r = await run;
      const ms = performance.now() - t0;
      if (r.code !== 0) throw new Error(`lvsadm -R: exit ${r.code}: ${r.err.slice(0, 200)}`);
      const last = await getService(d.sock, n - 1);
      if (!last || last.dests.length !== m) throw new Error('the table is not complete after -R');
      const cpu = d.cpuMs() - c0;
      record(tag, `${fmtMs(ms)} (daemon CPU ${fmtMs(cpu)}); info during it: ${lat.length} answered, median ${fmtMs(median(lat))}, max ${fmtMs(Math.max(...lat))}`, n >= 100000 ? 'seconds; responsive' : '');
      if (CASES.has('rss')) {
        const { rss } = d.rssKiB();
        record(`  RSS after that -R`, `${(rss / 1024).toFixed(0)} MiB; (RSS − empty daemon) = ${(((rss - baseRssKiB) * 1024) / n).toFixed(0)} B per service with its ${m} reals`);
      }
      if (CASES.has('list')) {
        const l = await withTimeout(runLvsadm(d.sock, ['-L', '-n']), STEP_TIMEOUT_MS, 'lvsadm -L -n');
        record(`  lvsadm -L -n after that -R`, fmtMs(l.ms));
      }
      const idle: number[] = [];
      for (let i = 0; i < SAMPLES; i++) idle.push(await infoOnce(d.sock));
      record(`  info latency after that -R, idle`, `median ${fmtMs(median(idle))}, max ${fmtMs(Math.max(...idle))}`, '< 5 ms');
    });
  } finally {
    const ms = await d.stop();
    record(`  SIGTERM until lvsd exits (${n}×${m} table)`, fmtMs(ms));
  }
}

// ------------------------------------------------------------ main

const sizes = flags.sizes.split(',').filter(Boolean).map(parseSize);
const forms = flags.forms.split(',').filter(Boolean);

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'lvsd-bench-control-'));
  const la0 = loadavg();
  console.error(`bench:control in ${dir} (node ${process.version}, load average ${la0.map((x) => x.toFixed(1)).join(' ')})`);
  try {
    {
      const d = new Lvsd(dir);
      await waitSocket(d.sock, d);
      baseRssKiB = d.rssKiB().rss;
      record('empty daemon (no config): RSS', `${(baseRssKiB / 1024).toFixed(0)} MiB`);
      await d.stop();
    }
    for (const { n, m } of sizes) for (const form of forms) await tableCases(dir, form, n, m);
    if (CASES.has('restore')) {
      for (const spec of [flags.restore, flags['restore-table']]) {
        if (!spec) continue;
        const { n, m } = parseSize(spec);
        await restoreCase(dir, n, m);
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const la1 = loadavg();
  const w0 = Math.max(...rows.map((r) => r[0].length), 4);
  const w1 = Math.max(...rows.map((r) => r[1].length), 5);
  console.log(`\n${'case'.padEnd(w0)} | ${'value'.padEnd(w1)} | target`);
  console.log(`${'-'.repeat(w0)}-|-${'-'.repeat(w1)}-|-------`);
  for (const [a, b, c] of rows) console.log(`${a.padEnd(w0)} | ${b.padEnd(w1)} | ${c}`);
  console.log(`\nload average before ${la0.map((x) => x.toFixed(1)).join(' ')}, after ${la1.map((x) => x.toFixed(1)).join(' ')}`);
}

await main();
