// A director pair in network namespaces (the sync e2e test; failover next).
// Everything lives in namespaces named lvl<pid><tag>-<role>, with 10.x
// addresses that exist only inside them. Layout:
//
//   client c0 10.93.0.2 ─┐                       ┌─ f0 10.93.0.1   director 1 (d1)   b0 10.93.1.1 ─┐
//                        ├── front bridge (sw) ──┤                                                 ├── back bridge (sw) ── r0 10.93.1.2  real server
//                        │                       └─ f0 10.93.0.11  director 2 (d2)   b0 10.93.1.11 ─┘
//   d1 s0 10.250.0.1 ──veth── d2 s0 10.250.0.2   (the sync link)
//
// Both directors hold the VIPs (10.94.0.1 NAT, 10.94.0.2 DR) on lo; the real
// server holds the DR VIP on lo (arp_ignore/arp_announce). The client routes
// the VIPs via the active director, the real server everything via it;
// failover (the test's, until VRRP) moves both routes to the other one.

import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT } from './lab-net.js';

export const PAIR = {
  client: '10.93.0.2', rip: '10.93.1.2',
  vip: { nat: '10.94.0.1', dr: '10.94.0.2' },
  front: ['10.93.0.1', '10.93.0.11'], back: ['10.93.1.1', '10.93.1.11'], sync: ['10.250.0.1', '10.250.0.2'],
} as const;

function sh(cmd: string, args: string[]): string {
  return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'] });
}

function deleteNs(ns: string): void {
  let pids: number[] = [];
  try { pids = sh('ip', ['netns', 'pids', ns]).split(/\s+/).filter(Boolean).map(Number); } catch { /* none */ }
  for (const p of pids) { try { process.kill(p, 'SIGKILL'); } catch { /* gone */ } }
  spawnSync('ip', ['netns', 'del', ns], { stdio: 'ignore' });
}

/** One director of the pair: its namespace, socket and daemon. */
export interface PairDirector { ns: string; socket: string; daemon: ChildProcess | null; log: string }

export class PairLab {
  readonly tag: string;
  readonly c: string;
  readonly sw: string;
  readonly r: string;
  readonly d: [PairDirector, PairDirector];
  readonly dir: string;
  private procs: ChildProcess[] = [];
  private up = false;

  constructor(tagSuffix = 'p') {
    this.tag = `lvl${process.pid}${tagSuffix}`;
    this.c = `${this.tag}-c`;
    this.sw = `${this.tag}-sw`;
    this.r = `${this.tag}-r1`;
    this.dir = mkdtempSync(join(tmpdir(), 'lvsd-pair-'));
    // a folder each: a daemon keeps its state (connection journal, counters) beside its socket
    const director = (n: number): PairDirector => {
      mkdirSync(join(this.dir, `d${n}`));
      return { ns: `${this.tag}-d${n}`, socket: join(this.dir, `d${n}`, 'lvsd.sock'), daemon: null, log: '' };
    };
    this.d = [director(1), director(2)];
  }

  ip(ns: string, ...args: string[]): string { return sh('ip', ['-n', ns, ...args]); }
  exec(ns: string, cmd: string, ...args: string[]): string { return sh('ip', ['netns', 'exec', ns, cmd, ...args]); }
  private sysctl(ns: string, ...kv: string[]): void { for (const x of kv) this.exec(ns, 'sysctl', '-qw', x); }

  /** Builds namespaces, bridges, links, addresses and routes; director 1 is the active one. */
  build(): void {
    this.up = true;
    const all = [this.c, this.sw, this.r, ...this.d.map((x) => x.ns)];
    for (const ns of all) { sh('ip', ['netns', 'add', ns]); this.ip(ns, 'link', 'set', 'lo', 'up'); }
    for (const br of ['brf', 'brb']) {
      this.ip(this.sw, 'link', 'add', br, 'type', 'bridge');
      this.ip(this.sw, 'link', 'set', br, 'up');
    }
    // a port of bridge `br` named `port` in the switch, its peer `dev` in `ns`
    const plug = (br: string, port: string, ns: string, dev: string, addr: string): void => {
      this.ip(this.sw, 'link', 'add', port, 'type', 'veth', 'peer', 'name', dev, 'netns', ns);
      this.ip(this.sw, 'link', 'set', port, 'master', br);
      this.ip(this.sw, 'link', 'set', port, 'up');
      this.ip(ns, 'addr', 'add', addr, 'dev', dev);
      this.ip(ns, 'link', 'set', dev, 'up');
    };
    plug('brf', 'pc', this.c, 'c0', `${PAIR.client}/24`);
    plug('brb', 'pr', this.r, 'r0', `${PAIR.rip}/24`);
    this.d.forEach((x, i) => {
      plug('brf', `pf${i + 1}`, x.ns, 'f0', `${PAIR.front[i]}/24`);
      plug('brb', `pb${i + 1}`, x.ns, 'b0', `${PAIR.back[i]}/24`);
      this.sysctl(x.ns, 'net.ipv4.ip_forward=1', 'net.ipv4.conf.all.rp_filter=0', 'net.ipv4.conf.default.rp_filter=0',
        'net.ipv4.conf.all.accept_local=1', 'net.ipv4.conf.default.accept_local=1', 'net.ipv4.conf.f0.rp_filter=0', 'net.ipv4.conf.b0.rp_filter=0');
      for (const v of Object.values(PAIR.vip)) this.ip(x.ns, 'addr', 'add', `${v}/32`, 'dev', 'lo');
    });
    this.ip(this.d[0].ns, 'link', 'add', 's0', 'type', 'veth', 'peer', 'name', 's0', 'netns', this.d[1].ns);
    this.d.forEach((x, i) => {
      this.ip(x.ns, 'addr', 'add', `${PAIR.sync[i]}/24`, 'dev', 's0');
      this.ip(x.ns, 'link', 'set', 's0', 'up');
      // the sync multicast goes out of s0 (the kernel's master socket sets the interface; a route makes it sure)
      this.ip(x.ns, 'route', 'add', '224.0.0.0/4', 'dev', 's0');
    });
    this.sysctl(this.r, 'net.ipv4.conf.all.arp_ignore=1', 'net.ipv4.conf.all.arp_announce=2', 'net.ipv4.conf.r0.arp_ignore=1',
      'net.ipv4.conf.r0.arp_announce=2', 'net.ipv4.conf.all.rp_filter=0', 'net.ipv4.conf.r0.rp_filter=0', 'net.ipv4.conf.lo.rp_filter=0');
    this.ip(this.r, 'addr', 'add', `${PAIR.vip.dr}/32`, 'dev', 'lo');
    this.activate(0);
  }

  /** Points the client's VIP route and the real server's default route at director `i` (0 or 1). */
  activate(i: 0 | 1): void {
    this.ip(this.c, 'route', 'replace', '10.94.0.0/24', 'via', PAIR.front[i]);
    this.ip(this.r, 'route', 'replace', 'default', 'via', PAIR.back[i]);
  }

  /** Starts a helper program (scripts/…) in a namespace; resolves on its first line of output. */
  helper(ns: string, script: string, ...args: string[]): Promise<ChildProcess> {
    const p = spawn('ip', ['netns', 'exec', ns, process.execPath, '--import', 'tsx', join(ROOT, script), ...args],
      { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    this.procs.push(p);
    return new Promise((res, rej) => {
      p.stdout!.once('data', () => res(p));
      p.once('exit', (c) => rej(new Error(`${script} in ${ns} exited (${c})`)));
    });
  }

  /** Spawns a program in a namespace without waiting (killed at teardown). */
  spawn(ns: string, script: string, ...args: string[]): ChildProcess {
    const p = spawn('ip', ['netns', 'exec', ns, process.execPath, '--import', 'tsx', join(ROOT, script), ...args],
      { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    this.procs.push(p);
    return p;
  }

  /** Spawns a command in a namespace (killed at teardown). */
  spawnCmd(ns: string, cmd: string, ...args: string[]): ChildProcess {
    const p = spawn('ip', ['netns', 'exec', ns, cmd, ...args], { stdio: 'ignore' });
    this.procs.push(p);
    return p;
  }

  writeConfig(name: string, cfg: object): string {
    const f = join(this.dir, name);
    writeFileSync(f, `export default ${JSON.stringify(cfg, null, 2)};\n`);
    return f;
  }

  /** Starts lvsd --io afpacket on director `i`; resolves when its control socket answers. */
  async start(i: 0 | 1, configFile: string): Promise<void> {
    const x = this.d[i];
    x.log = '';
    const p = spawn('ip', ['netns', 'exec', x.ns, process.execPath, '--import', 'tsx', join(ROOT, 'scripts/lvsd.ts'),
      '--config', configFile, '--io', 'afpacket', '--socket', x.socket],
    { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    x.daemon = p;
    p.stdout!.on('data', (d: Buffer) => { x.log += d.toString(); });
    p.stderr!.on('data', (d: Buffer) => { x.log += d.toString(); });
    const until = Date.now() + 30_000;
    while (Date.now() < until) {
      if (p.exitCode !== null) throw new Error(`lvsd on d${i + 1} exited (${p.exitCode}):\n${x.log}`);
      if (/afpacket: \d+ worker/.test(x.log) && /listening on/.test(x.log)) return;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`lvsd on d${i + 1} did not start:\n${x.log}`);
  }

  /** Forgets what director `i` kept across restarts (connection journal, counters): its next start begins empty. */
  clearState(i: 0 | 1): void {
    const dir = join(this.dir, `d${i + 1}`);
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir);
  }

  async kill(i: 0 | 1, signal: NodeJS.Signals): Promise<void> {
    const p = this.d[i].daemon;
    if (!p || p.exitCode !== null || p.signalCode !== null) return;
    const done = new Promise<void>((res) => p.once('exit', () => res()));
    p.kill(signal);
    await done;
    this.d[i].daemon = null;
  }

  lvsadm(i: 0 | 1, ...args: string[]): string {
    return execFileSync(process.execPath, [join(ROOT, 'scripts/lvsadm.js'), ...args], {
      encoding: 'utf8', env: { ...process.env, LVSD_SOCKET: this.d[i].socket }, timeout: 30_000,
    });
  }

  /** Stops everything and deletes the namespaces; safe to call twice. */
  async teardown(): Promise<void> {
    for (const i of [0, 1] as const) { try { await Promise.race([this.kill(i, 'SIGTERM'), new Promise((r) => setTimeout(r, 5000))]); } catch { /* */ } }
    for (const x of this.d) { try { x.daemon?.kill('SIGKILL'); } catch { /* */ } }
    for (const p of this.procs) { try { p.kill('SIGKILL'); } catch { /* */ } }
    this.procs = [];
    if (this.up) for (const ns of [this.c, this.sw, this.r, ...this.d.map((x) => x.ns)]) deleteNs(ns);
    this.up = false;
    rmSync(this.dir, { recursive: true, force: true });
  }
}
