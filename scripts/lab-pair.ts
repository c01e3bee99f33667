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
//
// With `{ vrrp: true }` (test/e2e-failover.test.ts) the VIPs are a failover
// instance's instead: nothing on lo, no hand-moved routes. The outside VIPs
// (PAIR_VRRP.vip, 10.93.0.100 NAT and .101 DR) sit in the client's subnet on
// the active director's f0, the inside gateway VIP (10.93.1.254) on its b0;
// the client reaches the VIPs on-link (ARP), the real server routes everything
// via the gateway VIP and holds the DR VIP on lo. Whoever runs VRRP (lvsd's
// plugin, or keepalived for comparison) adds and removes them.

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

/** The VRRP layout's addresses ({ vrrp: true }). */
export const PAIR_VRRP = {
  vip: { nat: '10.93.0.100', dr: '10.93.0.101' }, gw: '10.93.1.254',
} as const;

export interface PairOptions {
  /** VRRP-managed VIPs (see the header) instead of VIPs on lo and hand-moved routes. */
  vrrp?: boolean;
}

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
  readonly vrrp: boolean;

  constructor(tagSuffix = 'p', opts: PairOptions = {}) {
    this.vrrp = opts.vrrp ?? false;
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
      if (!this.vrrp) for (const v of Object.values(PAIR.vip)) this.ip(x.ns, 'addr', 'add', `${v}/32`, 'dev', 'lo');
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
    if (this.vrrp) {
      this.ip(this.r, 'addr', 'add', `${PAIR_VRRP.vip.dr}/32`, 'dev', 'lo');
      this.ip(this.r, 'route', 'add', 'default', 'via', PAIR_VRRP.gw);
      return;
    }
    this.ip(this.r, 'addr', 'add', `${PAIR.vip.dr}/32`, 'dev', 'lo');
    this.activate(0);
  }

  /** The links of a director. */
  static readonly LINKS = ['f0', 'b0', 's0'] as const;

  /**
   * A director dies: every process in its namespace SIGKILLed (lvsd, its
   * workers, whatever else runs there), then its links down. What it
   * configured (addresses, nftables) stays, as after a crash.
   */
  async crash(i: 0 | 1): Promise<void> {
    const x = this.d[i];
    let pids: number[] = [];
    try { pids = sh('ip', ['netns', 'pids', x.ns]).split(/\s+/).filter(Boolean).map(Number); } catch { /* none */ }
    const exited = x.daemon && x.daemon.exitCode === null && x.daemon.signalCode === null
      ? new Promise<void>((res) => x.daemon!.once('exit', () => res())) : Promise.resolve();
    for (const p of pids) { try { process.kill(p, 'SIGKILL'); } catch { /* gone */ } }
    for (const dev of PairLab.LINKS) this.ip(x.ns, 'link', 'set', dev, 'down');
    await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
    x.daemon = null;
  }

  /** The links of a crashed director up again (its addresses as it left them). */
  restore(i: 0 | 1): void {
    for (const dev of PairLab.LINKS) this.ip(this.d[i].ns, 'link', 'set', dev, 'up');
  }

  /** IPv4 addresses on `dev` in namespace `ns` (a.b.c.d/len). */
  addrs(ns: string, dev: string): string[] {
    return [...this.ip(ns, '-4', '-o', 'addr', 'show', 'dev', dev).matchAll(/inet (\S+)/g)].map((m) => m[1]!);
  }

  /** The MAC address of `dev` in namespace `ns`. */
  mac(ns: string, dev: string): string {
    return /link\/ether (\S+)/.exec(this.ip(ns, 'link', 'show', 'dev', dev))?.[1] ?? '';
  }

  /** The neighbour entry (MAC) `ns` has for `addr`, or null. */
  neighbour(ns: string, addr: string): string | null {
    return /lladdr (\S+)/.exec(this.ip(ns, 'neigh', 'show', addr))?.[1] ?? null;
  }

  /**
   * Resolves once `re` matches director `i`'s log from offset `from` on (a
   * position in `log`, e.g. its length before the event); rejects after `ms`.
   * Returns the offset just past the match.
   */
  async waitLog(i: 0 | 1, re: RegExp, ms: number, from = 0): Promise<number> {
    const x = this.d[i];
    const until = Date.now() + ms;
    for (;;) {
      const m = re.exec(x.log.slice(from));
      if (m) return from + m.index + m[0].length;
      if (Date.now() > until) throw new Error(`d${i + 1}: no ${re} in ${ms} ms; its log from there:\n${x.log.slice(from).slice(-4000)}`);
      await new Promise((r) => setTimeout(r, 50));
    }
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

  /** As spawn, with its stdin a pipe. */
  spawnPiped(ns: string, script: string, ...args: string[]): ChildProcess {
    const p = spawn('ip', ['netns', 'exec', ns, process.execPath, '--import', 'tsx', join(ROOT, script), ...args],
      { cwd: ROOT, stdio: ['pipe', 'pipe', 'pipe'] });
    this.procs.push(p);
    return p;
  }

  /** Spawns a command on director `i` whose output goes to that director's log (killed at teardown). */
  spawnLogged(i: 0 | 1, cmd: string, ...args: string[]): ChildProcess {
    const x = this.d[i];
    const p = spawn('ip', ['netns', 'exec', x.ns, cmd, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    p.stdout!.on('data', (d: Buffer) => { x.log += d.toString(); });
    p.stderr!.on('data', (d: Buffer) => { x.log += d.toString(); });
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
