// The network-namespace lab (used by `npm run lab`, the e2e tests and `npm
// run bench`). Everything lives in namespaces named lvl<pid>-<role>, with
// 10.x and fd00: addresses that exist only inside them; nothing touches the host's
// own interfaces. Layout:
//
//   client  c0 10.91.0.2 ──veth── d0 10.91.0.1  director (VIPs 10.92.0.1-3 on lo)
//                                 dN 10.91.N.1 ──veth── r0 10.91.N.2  real server N (N = 1..3)
//   IPv6 alike: c0 fd00:91::2, d0 fd00:91::1, dN fd00:91:N::1, r0 fd00:91:N::2, VIPs fd00:92::1-2
//   (NAT and DR; the IPIP decapsulator is IPv4 only)
//
// The client routes 10.92.0.0/24 (the VIPs) via the director. Real servers
// route everything via the director (NAT needs it as gateway; DR/TUN replies
// go back through the director's kernel, which forwards them: accept_local
// because their source, the VIP, is also a director address). Real servers
// hold the DR/TUN VIPs on lo with arp_ignore=1/arp_announce=2 and run
// scripts/lab-rs.ts (HTTP :80 with bulk bodies both ways, UDP :7000, IPIP
// decapsulator); Lab.http, udp and bulk run its client modes in the client.

import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const VIP = { nat: '10.92.0.1', dr: '10.92.0.2', tun: '10.92.0.3' } as const;
export const RIP = (n: number): string => `10.91.${n}.2`;
export const CLIENT = '10.91.0.2';
/** The IPv6 side of the same lab (fd00:91:N::/64 links, VIPs in fd00:92::/64). */
export const VIP6 = { nat: 'fd00:92::1', dr: 'fd00:92::2' } as const;
export const RIP6 = (n: number): string => `fd00:91:${n}::2`;
export const CLIENT6 = 'fd00:91::2';
const PREFIX = 'lvl';

const hasNft = (): boolean => spawnSync('sh', ['-c', 'command -v nft'], { stdio: 'ignore' }).status === 0;

/**
 * For `npm run lab` and `npm run bench` on a fresh Debian machine: installs the
 * nft command (package nftables) when it is missing and apt-get is there, saying
 * so. lvsd itself needs nft on real interfaces; it never installs anything.
 */
export function ensureNft(say: (line: string) => void): void {
  if (process.getuid?.() !== 0 || hasNft()) return;
  if (spawnSync('sh', ['-c', 'command -v apt-get'], { stdio: 'ignore' }).status !== 0) return;
  say('nft is missing: apt-get install -y nftables');
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const install = () => spawnSync('apt-get', ['install', '-y', '-q', 'nftables'], { stdio: 'ignore', env }).status === 0;
  if (!install()) { spawnSync('apt-get', ['update', '-q'], { stdio: 'ignore', env }); install(); }
}

/** Why the lab cannot run here, or null. */
export function labUnavailable(): string | null {
  if (process.getuid?.() !== 0) return 'needs root (network namespaces, AF_PACKET, nftables)';
  if (spawnSync('ip', ['netns', 'list'], { stdio: 'ignore' }).status !== 0) return '`ip netns` is unavailable';
  if (!hasNft()) return 'nft is missing (apt-get install -y nftables)';
  return null;
}

function sh(cmd: string, args: string[], input?: string): string {
  return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'], ...(input !== undefined ? { input } : {}) });
}

function pidsIn(ns: string): number[] {
  try { return sh('ip', ['netns', 'pids', ns]).split(/\s+/).filter(Boolean).map(Number); } catch { return []; }
}

function deleteNs(ns: string): void {
  for (const p of pidsIn(ns)) { try { process.kill(p, 'SIGKILL'); } catch { /* gone */ } }
  spawnSync('ip', ['netns', 'del', ns], { stdio: 'ignore' });
}

/** Removes what a crashed lab run left: namespaces of lvl<pid>[suffix]-… whose pid is gone. */
export function cleanupStale(): string[] {
  const removed: string[] = [];
  let list = '';
  try { list = sh('ip', ['netns', 'list']); } catch { return removed; }
  for (const line of list.split('\n')) {
    const m = /^(lvl(\d+)[a-z]*-\w+)/.exec(line.trim()); // lvl<pid><tag suffix>-<role>
    if (!m) continue;
    const pid = Number(m[2]);
    let alive = true;
    try { process.kill(pid, 0); } catch { alive = false; }
    if (!alive) { deleteNs(m[1]!); removed.push(m[1]!); }
  }
  return removed;
}

export interface LabOptions {
  reals?: number;
  /**
   * 'default': every link as the kernel sets it up (veth: TSO/GSO on, checksum
   * offload on; what a real NIC has). 'off': segmentation, receive and
   * checksum offloads off on every lab link (needs ethtool; the comparison variant).
   */
  offloads?: 'default' | 'off';
}

/** Why the lab cannot switch offloads off here, or null. */
export function offloadsOffUnavailable(): string | null {
  return spawnSync('sh', ['-c', 'command -v ethtool'], { stdio: 'ignore' }).status === 0 ? null : 'ethtool is missing (apt-get install -y ethtool)';
}

export class Lab {
  readonly tag: string;
  readonly c: string;
  readonly d: string;
  readonly r: string[];
  readonly dir: string;
  readonly socket: string;
  private procs: ChildProcess[] = [];
  daemon: ChildProcess | null = null;
  daemonLog = '';
  /** As built (build's option). */
  offloads: 'default' | 'off' = 'default';
  private up = false;

  constructor(opts: LabOptions = {}, tagSuffix = '') {
    this.tag = `${PREFIX}${process.pid}${tagSuffix}`;
    this.c = `${this.tag}-c`;
    this.d = `${this.tag}-d`;
    this.r = Array.from({ length: opts.reals ?? 3 }, (_, i) => `${this.tag}-r${i + 1}`);
    this.dir = mkdtempSync(join(tmpdir(), 'lvsd-lab-'));
    this.socket = join(this.dir, 'lvsd.sock');
  }

  ip(ns: string, ...args: string[]): string { return sh('ip', ['-n', ns, ...args]); }
  exec(ns: string, cmd: string, ...args: string[]): string { return sh('ip', ['netns', 'exec', ns, cmd, ...args]); }
  sysctl(ns: string, ...kv: string[]): void { for (const x of kv) this.exec(ns, 'sysctl', '-qw', x); }

  /** Builds the namespaces, links, addresses and routes, and starts the real servers. */
  async build(opts: LabOptions = {}): Promise<void> {
    this.up = true;
    for (const ns of [this.c, this.d, ...this.r]) { sh('ip', ['netns', 'add', ns]); this.ip(ns, 'link', 'set', 'lo', 'up'); }
    this.ip(this.d, 'link', 'add', 'd0', 'type', 'veth', 'peer', 'name', 'c0', 'netns', this.c);
    this.ip(this.d, 'addr', 'add', '10.91.0.1/24', 'dev', 'd0');
    this.ip(this.d, 'link', 'set', 'd0', 'up');
    this.ip(this.c, 'addr', 'add', `${CLIENT}/24`, 'dev', 'c0');
    this.ip(this.c, 'link', 'set', 'c0', 'up');
    this.ip(this.c, 'route', 'add', '10.92.0.0/24', 'via', '10.91.0.1');
    this.ip(this.d, 'addr', 'add', 'fd00:91::1/64', 'dev', 'd0', 'nodad');
    this.ip(this.c, 'addr', 'add', `${CLIENT6}/64`, 'dev', 'c0', 'nodad');
    this.ip(this.c, '-6', 'route', 'add', 'fd00:92::/64', 'via', 'fd00:91::1');
    this.sysctl(this.d, 'net.ipv6.conf.all.forwarding=1');
    for (const v of Object.values(VIP6)) this.ip(this.d, 'addr', 'add', `${v}/128`, 'dev', 'lo');
    this.sysctl(this.d, 'net.ipv4.ip_forward=1', 'net.ipv4.conf.all.rp_filter=0', 'net.ipv4.conf.default.rp_filter=0',
      'net.ipv4.conf.all.accept_local=1', 'net.ipv4.conf.default.accept_local=1');
    for (const v of Object.values(VIP)) this.ip(this.d, 'addr', 'add', `${v}/32`, 'dev', 'lo');
    const offloadsOff = opts.offloads === 'off';
    if (offloadsOff) { const why = offloadsOffUnavailable(); if (why) throw new Error(`lab with offloads off: ${why}`); }
    this.offloads = offloadsOff ? 'off' : 'default';
    const off = (ns: string, dev: string): void => { this.exec(ns, 'ethtool', '-K', dev, 'tso', 'off', 'gso', 'off', 'gro', 'off', 'tx', 'off', 'rx', 'off'); };
    if (offloadsOff) { off(this.c, 'c0'); off(this.d, 'd0'); }
    this.r.forEach((ns, i) => {
      const n = i + 1;
      this.ip(this.d, 'link', 'add', `d${n}`, 'type', 'veth', 'peer', 'name', 'r0', 'netns', ns);
      this.ip(this.d, 'addr', 'add', `10.91.${n}.1/24`, 'dev', `d${n}`);
      this.ip(this.d, 'link', 'set', `d${n}`, 'up');
      this.sysctl(this.d, `net.ipv4.conf.d${n}.rp_filter=0`, `net.ipv4.conf.d${n}.accept_local=1`);
      this.sysctl(ns, 'net.ipv4.conf.all.arp_ignore=1', 'net.ipv4.conf.all.arp_announce=2', 'net.ipv4.conf.all.rp_filter=0',
        'net.ipv4.conf.default.rp_filter=0', 'net.ipv4.conf.lo.rp_filter=0');
      this.ip(ns, 'addr', 'add', `${RIP(n)}/24`, 'dev', 'r0');
      this.ip(ns, 'link', 'set', 'r0', 'up');
      this.sysctl(ns, 'net.ipv4.conf.r0.arp_ignore=1', 'net.ipv4.conf.r0.arp_announce=2', 'net.ipv4.conf.r0.rp_filter=0');
      this.ip(ns, 'route', 'add', 'default', 'via', `10.91.${n}.1`);
      // IPv6: neighbour discovery answers only for the receiving link's own addresses, so the DR VIP on lo stays quiet
      this.ip(this.d, 'addr', 'add', `fd00:91:${n}::1/64`, 'dev', `d${n}`, 'nodad');
      this.ip(ns, 'addr', 'add', `${RIP6(n)}/64`, 'dev', 'r0', 'nodad');
      this.ip(ns, '-6', 'route', 'add', 'default', 'via', `fd00:91:${n}::1`);
      this.ip(ns, 'addr', 'add', `${VIP6.dr}/128`, 'dev', 'lo');
      this.ip(ns, 'addr', 'add', `${VIP.dr}/32`, 'dev', 'lo');
      this.ip(ns, 'addr', 'add', `${VIP.tun}/32`, 'dev', 'lo');
      if (offloadsOff) { off(ns, 'r0'); off(this.d, `d${n}`); }
    });
    await Promise.all(this.r.map((ns, i) => this.startHelper(ns, ['server', `rs${i + 1}`])));
  }

  private startHelper(ns: string, args: string[]): Promise<void> {
    const p = spawn('ip', ['netns', 'exec', ns, process.execPath, '--import', 'tsx', join(ROOT, 'scripts/lab-rs.ts'), ...args],
      { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
    this.procs.push(p);
    return new Promise((res, rej) => {
      p.stdout!.once('data', () => res());
      p.once('exit', (c) => rej(new Error(`lab helper in ${ns} exited (${c})`)));
    });
  }

  /** Writes a config file for the daemon (a plain object: defineConfig is only types). */
  writeConfig(cfg: object, name = 'lab.config.ts'): string {
    const f = join(this.dir, name);
    writeFileSync(f, `export default ${JSON.stringify(cfg, null, 2)};\n`);
    return f;
  }

  /** Starts lvsd --io afpacket in the director namespace; resolves when its control socket answers. */
  async startDaemon(configFile: string, extra: string[] = []): Promise<void> {
    this.daemonLog = '';
    const p = spawn('ip', ['netns', 'exec', this.d, process.execPath, '--import', 'tsx', join(ROOT, 'scripts/lvsd.ts'),
      '--config', configFile, '--io', 'afpacket', '--socket', this.socket, ...extra], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    this.daemon = p;
    p.stdout!.on('data', (d: Buffer) => { this.daemonLog += d.toString(); });
    p.stderr!.on('data', (d: Buffer) => { this.daemonLog += d.toString(); });
    const until = Date.now() + 30_000;
    while (Date.now() < until) {
      if (p.exitCode !== null) throw new Error(`lvsd exited (${p.exitCode}):\n${this.daemonLog}`);
      if (/afpacket: \d+ worker/.test(this.daemonLog) && /listening on/.test(this.daemonLog)) return;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`lvsd did not start:\n${this.daemonLog}`);
  }

  async stopDaemon(signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null> {
    const p = this.daemon;
    if (!p || p.exitCode !== null || p.signalCode !== null) return p?.exitCode ?? null;
    // ip netns exec execs node: the child pid is the daemon's
    const done = new Promise<number | null>((res) => p.once('exit', (c) => res(c)));
    p.kill(signal);
    const code = await done;
    this.daemon = null;
    return code;
  }

  /**
   * A final stop's second half: `lvsd --release` gives the VIPs back to the
   * kernel (a stop keeps lvsd's nftables takeover for the next lvsd; README
   * "Restarts"). Call after stopDaemon, before the kernel is to forward itself.
   */
  releaseDaemon(): void {
    this.exec(this.d, process.execPath, '--import', 'tsx', join(ROOT, 'scripts/lvsd.ts'), '--release', '--socket', this.socket);
  }

  lvsadm(...args: string[]): string {
    return execFileSync(process.execPath, [join(ROOT, 'scripts/lvsadm.js'), ...args], {
      encoding: 'utf8', env: { ...process.env, LVSD_SOCKET: this.socket }, timeout: 30_000, // a stuck daemon fails a test, never hangs it
    });
  }

  /** HTTP GETs from the client namespace: answer counts by real server name, and errors. */
  http(url: string, n: number, conc = 4, close = true): Record<string, number> {
    const out = this.exec(this.c, process.execPath, '--import', 'tsx', join(ROOT, 'scripts/lab-rs.ts'), 'client', url, String(n), String(conc), close ? 'close' : 'keep');
    return JSON.parse(out.trim()) as Record<string, number>;
  }

  udp(addr: string, port: number, n: number): Record<string, number> {
    const out = this.exec(this.c, process.execPath, '--import', 'tsx', join(ROOT, 'scripts/lab-rs.ts'), 'udp', addr, String(port), String(n));
    return JSON.parse(out.trim()) as Record<string, number>;
  }

  /**
   * Bulk transfers from the client namespace (lab-rs.ts download|upload): `n`
   * transfers of `bytes` each to URL (http://VIP/), `conc` at a time, each
   * ended as failed when under `floor` bytes moved in `stall` s, or after
   * `timeout` s in all.
   * Never throws for a failed transfer: the result says what happened (a
   * client that died or hung past every deadline is reported as a failure too).
   */
  bulk(kind: 'download' | 'upload', url: string, bytes: number, o: BulkOptions = {}): Promise<BulkResult> {
    const n = o.n ?? 1, conc = o.conc ?? 1, timeout = o.timeout ?? 30, stall = o.stall ?? 5;
    const args = [`n=${n}`, `conc=${conc}`, `timeout=${timeout}`, `stall=${stall}`, `floor=${o.floor ?? 1}`, `seed=${o.seed ?? 1}`, ...(o.port ? [`port=${o.port}`] : [])];
    const p = spawn('ip', ['netns', 'exec', this.c, process.execPath, '--import', 'tsx', join(ROOT, 'scripts/lab-rs.ts'), kind, url, String(bytes), ...args],
      { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '', err = '';
    p.stdout!.on('data', (d: Buffer) => { out += d.toString(); });
    p.stderr!.on('data', (d: Buffer) => { err += d.toString(); });
    // the client's own watchdogs end every transfer; this guard only catches a client that is itself stuck
    const guard = setTimeout(() => p.kill('SIGKILL'), (Math.ceil(n / conc) * timeout + 20) * 1000);
    return new Promise((res) => {
      p.once('exit', (code, sig) => {
        clearTimeout(guard);
        try { res(JSON.parse(out.trim()) as BulkResult); } catch {
          const error = `client ${sig ? `killed (${sig})` : `exited ${code}`}: ${(err || out).trim().slice(-500)}`;
          res({ mode: kind, url, bytes, ok: false, seconds: 0, servedBy: {}, transfers: [], error });
        }
      });
    });
  }

  nftTables(): string {
    try { return this.exec(this.d, 'nft', 'list', 'tables'); } catch { return ''; }
  }

  /** Stops everything this lab started and deletes its namespaces; safe to call twice. */
  async teardown(): Promise<void> {
    if (this.daemon) { try { await Promise.race([this.stopDaemon('SIGTERM'), new Promise((r) => setTimeout(r, 5000))]); } catch { /* */ } }
    if (this.daemon) { try { this.daemon.kill('SIGKILL'); } catch { /* */ } }
    for (const p of this.procs) { try { p.kill('SIGKILL'); } catch { /* */ } }
    this.procs = [];
    if (this.up) for (const ns of [this.c, this.d, ...this.r]) deleteNs(ns);
    this.up = false;
    rmSync(this.dir, { recursive: true, force: true });
  }
}

export interface BulkOptions {
  /** Transfers (1), how many at once (1). */
  n?: number;
  conc?: number;
  /** Seconds: a transfer's whole time (30); the window in which at least `floor` bytes (1) must move (5). */
  timeout?: number;
  stall?: number;
  floor?: number;
  /** The first transfer's body pattern; the i-th uses seed + i (1). */
  seed?: number;
  /** Bind the i-th transfer to local port `port` + i (else the kernel picks). */
  port?: number;
}

/** One bulk transfer as the client saw it (scripts/lab-rs.ts). */
export interface BulkTransfer {
  /** The real server that answered (x-rs), '' if none did. */
  rs: string;
  /** Bytes that arrived: at the client (download) or at the server (upload). */
  bytes: number;
  ok: boolean;
  sha256ok: boolean;
  seconds: number;
  localPort: number;
  error?: string;
  /** Download: the first byte that differs from the pattern. */
  badOffset?: number;
}

export interface BulkResult {
  mode: string;
  url: string;
  bytes: number;
  ok: boolean;
  seconds: number;
  /** Transfers answered per real server. */
  servedBy: Record<string, number>;
  transfers: BulkTransfer[];
  /** The client itself failed (no transfers reported). */
  error?: string;
}

/** The lab's services: NAT, DR and TUN web services (and UDP through NAT) over the real servers; with ipv6, IPv6 NAT and DR web services too. */
export function labConfig(lab: Lab, o: { workers?: number; scheduler?: string; weights?: number[]; ipv6?: boolean } = {}): object {
  const reals = (fwd?: string) => lab.r.map((_, i) => ({ address: RIP(i + 1), port: 80, weight: o.weights?.[i] ?? 1, ...(fwd ? { forward: fwd } : {}) }));
  const reals6 = () => lab.r.map((_, i) => ({ address: RIP6(i + 1), port: 80, weight: o.weights?.[i] ?? 1 }));
  return {
    interfaces: ['d0', ...lab.r.map((_, i) => `d${i + 1}`)],
    ...(o.workers ? { workers: o.workers } : {}),
    services: [
      { protocol: 'tcp', address: VIP.nat, port: 80, scheduler: o.scheduler ?? 'rr', forward: 'nat', reals: reals() },
      { protocol: 'udp', address: VIP.nat, port: 7000, scheduler: 'rr', forward: 'nat', reals: lab.r.map((_, i) => ({ address: RIP(i + 1), port: 7000 })) },
      { protocol: 'tcp', address: VIP.dr, port: 80, scheduler: o.scheduler ?? 'rr', forward: 'dr', reals: reals() },
      { protocol: 'tcp', address: VIP.tun, port: 80, scheduler: o.scheduler ?? 'rr', forward: 'tun', reals: reals() },
      ...(o.ipv6 ? [
        { protocol: 'tcp', address: VIP6.nat, port: 80, scheduler: o.scheduler ?? 'rr', forward: 'nat', reals: reals6() },
        { protocol: 'tcp', address: VIP6.dr, port: 80, scheduler: o.scheduler ?? 'rr', forward: 'dr', reals: reals6() },
      ] : []),
    ],
  };
}
