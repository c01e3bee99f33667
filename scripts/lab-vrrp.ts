// The VRRP interop lab: lvsd's failover plugin and keepalived 2.2.7 side by side
// in network namespaces (test/e2e-vrrp.test.ts, scripts/bench/failover.ts).
// Namespaces are named lvv<pid><tag>-<role>; addresses exist only inside them:
//
//   node a  e0 10.95.0.1  ─┐
//   node b  e0 10.95.0.2  ─┼── br0 (in lvv…-sw, a hub: ageing 0, every frame flooded)
//   client  e0 10.95.0.10 ─┘   VIP 10.95.0.100 (IPv6: fd00:95::100 / link-locals)
//
// The bridge floods every frame to every port, so a capture in the client
// sees both nodes' multicast and unicast adverts and their ARPs. Fixed MACs
// (02:95:00:00:00:NN) give fixed IPv6 link-locals (fe80::95:ff:fe00:NN).
//
// Also a command, run in a namespace by the lab:
//   lab-vrrp.ts inject DEV FILE EVERY_MS   sends FILE's Ethernet frames (hex, one a
//       line) out of DEV through AF_PACKET, one every EVERY_MS, then prints "sent N".

import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ROOT } from './lab-net.js';

export const VLAB = {
  dev: 'e0',
  addr: { a: '10.95.0.1', b: '10.95.0.2', c: '10.95.0.10' },
  mac: { a: '02:95:00:00:00:01', b: '02:95:00:00:00:02', c: '02:95:00:00:00:0a' },
  ll: { a: 'fe80::95:ff:fe00:1', b: 'fe80::95:ff:fe00:2', c: 'fe80::95:ff:fe00:a' },
  vip: '10.95.0.100',
  vip6: 'fd00:95::100',
} as const;

export type NodeName = 'a' | 'b';
const PREFIX = 'lvv';
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function sh(cmd: string, args: string[]): string {
  return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'] });
}
const has = (cmd: string): boolean => spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;

/** Why the VRRP lab cannot run here, or null. */
export function vrrpLabUnavailable(): string | null {
  if (process.getuid?.() !== 0) return 'needs root (network namespaces, raw sockets)';
  if (spawnSync('ip', ['netns', 'list'], { stdio: 'ignore' }).status !== 0) return '`ip netns` is unavailable';
  if (!has('keepalived')) return 'keepalived is missing (apt-get install -y keepalived)';
  if (!has('tcpdump')) return 'tcpdump is missing (apt-get install -y tcpdump)';
  return null;
}

/** The keepalived version string ("Keepalived v2.2.7 …"), or null. */
export function keepalivedVersion(): string | null {
  const r = spawnSync('keepalived', ['--version'], { encoding: 'utf8' });
  const m = /Keepalived v[\d.]+/.exec(`${r.stdout}${r.stderr}`);
  return m ? m[0] : null;
}

function deleteNs(ns: string): void {
  let pids: number[] = [];
  try { pids = sh('ip', ['netns', 'pids', ns]).split(/\s+/).filter(Boolean).map(Number); } catch { /* none */ }
  for (const p of pids) { try { process.kill(p, 'SIGKILL'); } catch { /* gone */ } }
  spawnSync('ip', ['netns', 'del', ns], { stdio: 'ignore' });
}

/** Removes namespaces a crashed run left (lvv<pid>…-… whose pid is gone). */
export function cleanupStaleVrrp(): string[] {
  const removed: string[] = [];
  let list = '';
  try { list = sh('ip', ['netns', 'list']); } catch { return removed; }
  for (const line of list.split('\n')) {
    const m = new RegExp(`^(${PREFIX}(\\d+)[a-z]*-\\w+)`).exec(line.trim());
    if (!m) continue;
    let alive = true;
    try { process.kill(Number(m[2]), 0); } catch { alive = false; }
    if (!alive) { deleteNs(m[1]!); removed.push(m[1]!); }
  }
  return removed;
}

// ---------------------------------------------------------------- instance settings, both ways

/** One VRRP instance, said once and written as keepalived.conf or as lvsd's config. */
export interface InstanceSpec {
  name?: string;
  vrid: number;
  priority: number;
  state?: 'MASTER' | 'BACKUP';
  /** Seconds [1]. */
  advertInt?: number;
  version?: 2 | 3;
  /** With mask or without (/32, /128). */
  vips: string[];
  /** v2 PASS. */
  authPass?: string;
  unicastSrc?: string;
  unicastPeers?: string[];
  nopreempt?: boolean;
  garpMasterDelay?: number;
  garpMasterRepeat?: number;
}

export function keepalivedConf(s: InstanceSpec, dev: string = VLAB.dev, routerId = 'lvv'): string {
  const l: string[] = [];
  l.push('global_defs {', `  router_id ${routerId}`, '}');
  l.push(`vrrp_instance ${s.name ?? 'VI_1'} {`, `  interface ${dev}`, `  virtual_router_id ${s.vrid}`, `  priority ${s.priority}`);
  if (s.state) l.push(`  state ${s.state}`);
  if (s.advertInt !== undefined) l.push(`  advert_int ${s.advertInt}`);
  if (s.version !== undefined) l.push(`  version ${s.version}`);
  if (s.nopreempt) l.push('  nopreempt');
  if (s.garpMasterDelay !== undefined) l.push(`  garp_master_delay ${s.garpMasterDelay}`);
  if (s.garpMasterRepeat !== undefined) l.push(`  garp_master_repeat ${s.garpMasterRepeat}`);
  if (s.authPass !== undefined) l.push('  authentication {', '    auth_type PASS', `    auth_pass ${s.authPass}`, '  }');
  if (s.unicastSrc) l.push(`  unicast_src_ip ${s.unicastSrc}`);
  if (s.unicastPeers?.length) l.push('  unicast_peer {', ...s.unicastPeers.map((p) => `    ${p}`), '  }');
  l.push('  virtual_ipaddress {', ...s.vips.map((v) => `    ${v}`), '  }', '}');
  return `${l.join('\n')}\n`;
}

/** lvsd's config.ts object for the same instance (root key `vrrp`, the plugin's camelCase keywords). */
export function lvsdConfig(s: InstanceSpec, dev: string = VLAB.dev): object {
  const i: Record<string, unknown> = { name: s.name ?? 'VI_1', interface: dev, vrid: s.vrid, priority: s.priority, vips: s.vips };
  if (s.state) i['state'] = s.state;
  if (s.advertInt !== undefined) i['advertInt'] = s.advertInt;
  if (s.version !== undefined) i['version'] = s.version;
  if (s.nopreempt) i['preempt'] = false;
  if (s.garpMasterDelay !== undefined) i['garpMasterDelay'] = s.garpMasterDelay;
  if (s.garpMasterRepeat !== undefined) i['garpMasterRepeat'] = s.garpMasterRepeat;
  if (s.authPass !== undefined) i['auth'] = { type: 'pass', password: s.authPass };
  if (s.unicastSrc) i['unicastSrc'] = s.unicastSrc;
  if (s.unicastPeers?.length) i['unicastPeers'] = s.unicastPeers;
  return { services: [], vrrp: [i] };
}

/** Whether this checkout has lvsd's VRRP failover plugin (plugins/ha/vrrp.ts), or why not. */
export function lvsdVrrpUnavailable(): string | null {
  try { statSync(join(ROOT, 'plugins/ha/vrrp.ts')); return null; } catch { return 'lvsd has no VRRP failover plugin here (plugins/ha/vrrp.ts)'; }
}

// ---------------------------------------------------------------- daemons

export type Kind = 'keepalived' | 'lvsd';

/** A running keepalived or lvsd in a node's namespace, with its log. */
export class Daemon {
  log = '';
  exited: Promise<void>;
  private exitedFlag = false;
  constructor(readonly kind: Kind, readonly node: NodeName, readonly child: ChildProcess, private readonly vrrpPidFile?: string) {
    child.stdout?.on('data', (d: Buffer) => { this.log += d.toString(); });
    child.stderr?.on('data', (d: Buffer) => { this.log += d.toString(); });
    this.exited = new Promise((res) => child.once('exit', () => { this.exitedFlag = true; res(); }));
  }
  get running(): boolean { return !this.exitedFlag; }

  /** Waits for a log line matching `re` after offset `from`; the match's offset, or throws. */
  async waitLog(re: RegExp, ms: number, from = 0): Promise<number> {
    const until = Date.now() + ms;
    for (;;) {
      const m = new RegExp(re.source, re.flags.replace('g', '')).exec(this.log.slice(from));
      if (m) return from + m.index + m[0].length;
      if (!this.running) throw new Error(`${this.kind} on ${this.node} exited before ${re}:\n${this.log}`);
      if (Date.now() > until) throw new Error(`${this.kind} on ${this.node}: no ${re} within ${ms} ms:\n${this.log.slice(-4000)}`);
      await sleep(50);
    }
  }

  /** The last state the daemon logged for the instance (MASTER, BACKUP, FAULT), or null. */
  state(name = 'VI_1'): string | null {
    const re = new RegExp(`\\(${name}\\) Entering (MASTER|BACKUP|FAULT) STATE`, 'g');
    let last: string | null = null;
    for (const m of this.log.matchAll(re)) last = m[1]!;
    return last;
  }

  /**
   * Sends `signal`. For keepalived, SIGKILL kills the VRRP child (which sends the adverts)
   * first and then the parent, as a crash of the whole daemon: killing the parent alone makes
   * the child stop cleanly (a priority-0 advert).
   */
  async kill(signal: NodeJS.Signals): Promise<void> {
    if (!this.running) return;
    if (this.kind === 'keepalived' && signal === 'SIGKILL' && this.vrrpPidFile) {
      try { process.kill(Number(readFileSync(this.vrrpPidFile, 'utf8').trim()), 'SIGKILL'); } catch { /* not there */ }
    }
    this.child.kill(signal);
    await this.exited;
  }
}

// ---------------------------------------------------------------- captures

export interface Frame { ts: number; data: Uint8Array }

/** The frames of a pcap file (Ethernet, µs or ns timestamps); a partly written last record is left out. */
export function readPcap(file: string): Frame[] {
  const b = readFileSync(file);
  if (b.length < 24) return [];
  const magic = b.readUInt32LE(0);
  const le = magic === 0xa1b2c3d4 || magic === 0xa1b23c4d;
  const nano = magic === 0xa1b23c4d || magic === 0x4d3cb2a1;
  const u32 = (o: number): number => (le ? b.readUInt32LE(o) : b.readUInt32BE(o));
  const out: Frame[] = [];
  for (let o = 24; o + 16 <= b.length;) {
    const sec = u32(o), frac = u32(o + 4), incl = u32(o + 8);
    if (o + 16 + incl > b.length) break;
    out.push({ ts: sec + frac / (nano ? 1e9 : 1e6), data: new Uint8Array(b.subarray(o + 16, o + 16 + incl)) });
    o += 16 + incl;
  }
  return out;
}

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const macText = (b: Uint8Array): string => [...b].map((x) => x.toString(16).padStart(2, '0')).join(':');
const ip4Text = (b: Uint8Array): string => [...b].join('.');

/** A VRRP advert as seen on the wire (IPv4 or IPv6), or an ARP frame. */
export type Seen =
  | { kind: 'vrrp'; ts: number; frame: Uint8Array; srcMac: string; dstMac: string; family: 4 | 6; src: string; dst: string;
    /** The IP packet (IPv4 datagram / IPv6 packet). */ ip: Uint8Array; vrid: number; priority: number; version: number; ipId: number; ttl: number }
  | { kind: 'arp'; ts: number; frame: Uint8Array; srcMac: string; dstMac: string; op: number; senderIp: string; targetIp: string }
  /** An ICMPv6 neighbour advertisement (keepalived's unsolicited NA for an IPv6 VIP). */
  | { kind: 'na'; ts: number; frame: Uint8Array; srcMac: string; dstMac: string; target: string }
  | { kind: 'other'; ts: number; frame: Uint8Array };

function ip6Text(b: Uint8Array): string {
  const w: string[] = [];
  for (let i = 0; i < 16; i += 2) w.push(((b[i]! << 8) | b[i + 1]!).toString(16));
  return w.join(':').replace(/(^|:)0(:0)+(:|$)/, '::').replace(/:{3,}/, '::');
}

export function classify(f: Frame): Seen {
  const d = f.data;
  if (d.length < 14) return { kind: 'other', ts: f.ts, frame: d };
  const dstMac = macText(d.subarray(0, 6)), srcMac = macText(d.subarray(6, 12));
  const type = (d[12]! << 8) | d[13]!;
  if (type === 0x0806 && d.length >= 42) {
    return { kind: 'arp', ts: f.ts, frame: d, srcMac, dstMac, op: (d[20]! << 8) | d[21]!, senderIp: ip4Text(d.subarray(28, 32)), targetIp: ip4Text(d.subarray(38, 42)) };
  }
  if (type === 0x0800 && d.length >= 34 && d[23] === 112) {
    const ihl = (d[14]! & 0x0f) * 4, tot = (d[16]! << 8) | d[17]!;
    const ip = d.slice(14, 14 + Math.min(tot, d.length - 14));
    const m = ip.subarray(ihl);
    return { kind: 'vrrp', ts: f.ts, frame: d, srcMac, dstMac, family: 4, src: ip4Text(ip.subarray(12, 16)), dst: ip4Text(ip.subarray(16, 20)),
      ip, vrid: m[1] ?? -1, priority: m[2] ?? -1, version: (m[0] ?? 0) >> 4, ipId: (ip[4]! << 8) | ip[5]!, ttl: ip[8]! };
  }
  if (type === 0x86dd && d.length >= 62 && d[20] === 112) {
    const plen = (d[18]! << 8) | d[19]!;
    const ip = d.slice(14, 14 + Math.min(40 + plen, d.length - 14));
    const m = ip.subarray(40);
    return { kind: 'vrrp', ts: f.ts, frame: d, srcMac, dstMac, family: 6, src: ip6Text(ip.subarray(8, 24)), dst: ip6Text(ip.subarray(24, 40)),
      ip, vrid: m[1] ?? -1, priority: m[2] ?? -1, version: (m[0] ?? 0) >> 4, ipId: 0, ttl: ip[7]! };
  }
  if (type === 0x86dd && d.length >= 78 && d[20] === 58 && d[54] === 136) {
    return { kind: 'na', ts: f.ts, frame: d, srcMac, dstMac, target: ip6Text(d.subarray(62, 78)) };
  }
  return { kind: 'other', ts: f.ts, frame: d };
}

export type Advert = Extract<Seen, { kind: 'vrrp' }>;
export type Arp = Extract<Seen, { kind: 'arp' }>;
export type Na = Extract<Seen, { kind: 'na' }>;

/** A tcpdump writing a pcap, started and stopped by the lab. */
export class Capture {
  constructor(readonly file: string, private readonly child: ChildProcess) {}
  /** Everything captured so far. */
  frames(): Seen[] { return readPcap(this.file).map(classify); }
  adverts(): Advert[] { return this.frames().filter((x): x is Advert => x.kind === 'vrrp'); }
  arps(): Arp[] { return this.frames().filter((x): x is Arp => x.kind === 'arp'); }
  nas(): Na[] { return this.frames().filter((x): x is Na => x.kind === 'na'); }
  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    await sleep(200);
    const done = new Promise((r) => this.child.once('exit', r));
    this.child.kill('SIGINT');
    await done;
  }
}

// ---------------------------------------------------------------- the lab

export class VrrpLab {
  readonly tag: string;
  readonly ns: { a: string; b: string; c: string; sw: string };
  readonly dir: string;
  private procs: ChildProcess[] = [];
  private daemons: Daemon[] = [];
  private up = false;
  private seq = 0;

  constructor(tagSuffix = 'v') {
    this.tag = `${PREFIX}${process.pid}${tagSuffix}`;
    this.ns = { a: `${this.tag}-a`, b: `${this.tag}-b`, c: `${this.tag}-c`, sw: `${this.tag}-sw` };
    this.dir = mkdtempSync(join(tmpdir(), 'lvsd-vrrp-'));
  }

  ip(ns: string, ...args: string[]): string { return sh('ip', ['-n', ns, ...args]); }
  exec(ns: string, cmd: string, ...args: string[]): string { return sh('ip', ['netns', 'exec', ns, cmd, ...args]); }

  /** Namespaces, the hub bridge and the three links; returns once IPv6 link-locals are usable. */
  async build(): Promise<void> {
    this.up = true;
    for (const ns of Object.values(this.ns)) {
      sh('ip', ['netns', 'add', ns]);
      this.ip(ns, 'link', 'set', 'lo', 'up');
      this.exec(ns, 'sysctl', '-qw', 'net.ipv6.conf.all.accept_dad=0', 'net.ipv6.conf.default.accept_dad=0',
        'net.ipv6.conf.default.router_solicitations=0', 'net.ipv6.conf.all.router_solicitations=0');
    }
    // ageing 0: nothing is learnt, every frame goes to every port (a capture anywhere sees all)
    this.ip(this.ns.sw, 'link', 'add', 'br0', 'type', 'bridge', 'ageing_time', '0', 'mcast_snooping', '0');
    this.ip(this.ns.sw, 'link', 'set', 'br0', 'up');
    for (const role of ['a', 'b', 'c'] as const) {
      const port = `p${role}`, ns = this.ns[role];
      this.ip(this.ns.sw, 'link', 'add', port, 'type', 'veth', 'peer', 'name', VLAB.dev, 'netns', ns);
      this.ip(this.ns.sw, 'link', 'set', port, 'master', 'br0');
      this.ip(this.ns.sw, 'link', 'set', port, 'up');
      this.ip(ns, 'link', 'set', VLAB.dev, 'address', VLAB.mac[role]);
      this.ip(ns, 'addr', 'add', `${VLAB.addr[role]}/24`, 'dev', VLAB.dev);
      this.ip(ns, 'link', 'set', VLAB.dev, 'up');
    }
    // link-locals appear once the links are up (DAD off)
    const until = Date.now() + 5000;
    while (Date.now() < until) {
      if ((['a', 'b', 'c'] as const).every((r) => this.ip(this.ns[r], '-6', 'addr', 'show', 'dev', VLAB.dev).includes(VLAB.ll[r]))) return;
      await sleep(100);
    }
  }

  /** Addresses on the node's e0 (without prefix length). */
  addrs(node: NodeName | 'c'): string[] {
    return this.ip(this.ns[node], '-o', 'addr', 'show', 'dev', VLAB.dev).split('\n')
      .map((l) => /inet6? ([0-9a-f.:]+)\//.exec(l)?.[1]).filter((x): x is string => !!x);
  }
  hasVip(node: NodeName, vip: string = VLAB.vip): boolean { return this.addrs(node).includes(vip); }

  /** Starts keepalived (VRRP only, foreground, own pid files) on a node. */
  startKeepalived(node: NodeName, spec: InstanceSpec): Daemon {
    const d = join(this.dir, `ka-${node}-${++this.seq}`);
    mkdirSync(d);
    const conf = join(d, 'keepalived.conf');
    writeFileSync(conf, keepalivedConf(spec, VLAB.dev, `lvv_${node}`));
    const vrrpPid = join(d, 'vrrp.pid');
    const p = spawn('ip', ['netns', 'exec', this.ns[node], 'keepalived', '-P', '-n', '-l', '-D', '-R',
      '-f', conf, '-p', join(d, 'keepalived.pid'), '-r', vrrpPid], { stdio: ['ignore', 'pipe', 'pipe'] });
    const dm = new Daemon('keepalived', node, p, vrrpPid);
    this.daemons.push(dm);
    return dm;
  }

  /** Starts lvsd (--io memory: VRRP uses the real interface all the same) on a node; resolves once it listens. */
  async startLvsd(node: NodeName, spec: InstanceSpec): Promise<Daemon> {
    const d = join(this.dir, `lvsd-${node}`);
    mkdirSync(d, { recursive: true });
    const cfg = join(d, `config-${++this.seq}.ts`);
    writeFileSync(cfg, `export default ${JSON.stringify(lvsdConfig(spec), null, 2)};\n`);
    const p = spawn('ip', ['netns', 'exec', this.ns[node], process.execPath, '--import', 'tsx', join(ROOT, 'scripts/lvsd.ts'),
      '--config', cfg, '--io', 'memory', '--socket', join(d, 'lvsd.sock')], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    const dm = new Daemon('lvsd', node, p);
    this.daemons.push(dm);
    await dm.waitLog(/listening on/, 30_000);
    return dm;
  }

  /** Starts the kind of daemon named on a node. */
  async start(kind: Kind, node: NodeName, spec: InstanceSpec): Promise<Daemon> {
    return kind === 'lvsd' ? this.startLvsd(node, spec) : this.startKeepalived(node, spec);
  }

  /** tcpdump in the client namespace (it sees every frame: the bridge is a hub); resolves once capturing. */
  async capture(name: string, filter: string[] = ['vrrp', 'or', 'arp', 'or', 'ip6', 'proto', '112', 'or', '(icmp6', 'and', 'ip6[40]', '==', '136)']): Promise<Capture> {
    const file = join(this.dir, `${name}.pcap`);
    const p = spawn('ip', ['netns', 'exec', this.ns.c, 'tcpdump', '-Z', 'root', '--immediate-mode', '-i', VLAB.dev, '-U', '-w', file, ...filter],
      { stdio: ['ignore', 'ignore', 'pipe'] });
    this.procs.push(p);
    let err = '';
    p.stderr!.on('data', (d: Buffer) => { err += d.toString(); });
    const until = Date.now() + 5000;
    while (!/listening on/.test(err)) {
      if (p.exitCode !== null) throw new Error(`tcpdump exited: ${err}`);
      if (Date.now() > until) throw new Error(`tcpdump did not start: ${err}`);
      await sleep(50);
    }
    return new Capture(file, p);
  }

  /** Sends Ethernet frames from the client, one every `everyMs`; resolves with the count sent. */
  async inject(frames: Uint8Array[], everyMs: number): Promise<number> {
    const file = join(this.dir, `inject-${++this.seq}.hex`);
    writeFileSync(file, frames.map(hex).join('\n') + '\n');
    const p = spawn('ip', ['netns', 'exec', this.ns.c, process.execPath, '--import', 'tsx', join(ROOT, 'scripts/lab-vrrp.ts'),
      'inject', VLAB.dev, file, String(everyMs)], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    this.procs.push(p);
    let out = '';
    p.stdout!.on('data', (d: Buffer) => { out += d.toString(); });
    p.stderr!.on('data', (d: Buffer) => { out += d.toString(); });
    const code = await new Promise<number | null>((r) => p.once('exit', r));
    const m = /sent (\d+)/.exec(out);
    if (code !== 0 || !m) throw new Error(`injector failed (${code}): ${out}`);
    return Number(m[1]);
  }

  /** Stops every daemon (SIGKILL) and removes leftovers (VIPs) so the next case starts clean. */
  async reset(): Promise<void> {
    for (const d of this.daemons) { try { await Promise.race([d.kill('SIGKILL'), sleep(3000)]); } catch { /* */ } }
    this.daemons = [];
    for (const p of this.procs) { try { p.kill('SIGKILL'); } catch { /* */ } }
    this.procs = [];
    if (!this.up) return;
    for (const n of ['a', 'b'] as const) {
      for (const a of this.addrs(n)) {
        if (a !== VLAB.addr[n] && !a.startsWith('fe80:')) spawnSync('ip', ['-n', this.ns[n], 'addr', 'del', a.includes(':') ? `${a}/128` : `${a}/32`, 'dev', VLAB.dev], { stdio: 'ignore' });
      }
      // whatever mask it was added with
      for (const a of this.addrs(n)) {
        if (a !== VLAB.addr[n] && !a.startsWith('fe80:')) {
          const line = this.ip(this.ns[n], '-o', 'addr', 'show', 'dev', VLAB.dev).split('\n').find((l) => l.includes(` ${a}/`));
          const cidr = line && /inet6? (\S+)/.exec(line)?.[1];
          if (cidr) spawnSync('ip', ['-n', this.ns[n], 'addr', 'del', cidr, 'dev', VLAB.dev], { stdio: 'ignore' });
        }
      }
    }
  }

  /** Stops everything and deletes the namespaces and the temp dir; safe to call twice. */
  async teardown(keepDir = false): Promise<void> {
    await this.reset();
    if (this.up) for (const ns of Object.values(this.ns)) deleteNs(ns);
    this.up = false;
    if (!keepDir) rmSync(this.dir, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------- the injector (run in the client namespace)

async function injectMain(dev: string, file: string, everyMs: number): Promise<void> {
  const { default: koffi } = await import('koffi');
  const libc = koffi.load('libc.so.6');
  const socket = libc.func('int socket(int, int, int)');
  const sendto = libc.func('long sendto(int, const uint8_t *, size_t, int, const uint8_t *, uint32_t)');
  const ifIndex = libc.func('unsigned int if_nametoindex(const char *)');
  const AF_PACKET = 17, SOCK_RAW = 3, ETH_P_ALL_BE = 0x0300;
  const fd = socket(AF_PACKET, SOCK_RAW, 0) as number;
  if (fd < 0) throw new Error(`socket(AF_PACKET): errno ${koffi.errno()}`);
  const idx = ifIndex(dev) as number;
  if (!idx) throw new Error(`no interface ${dev}`);
  // struct sockaddr_ll: family, protocol (be), ifindex, hatype, pkttype, halen, addr[8]
  const sll = Buffer.alloc(20);
  sll.writeUInt16LE(AF_PACKET, 0); sll.writeUInt16LE(ETH_P_ALL_BE, 2); sll.writeInt32LE(idx, 4); sll[11] = 6;
  const frames = readFileSync(file, 'utf8').split('\n').filter((l) => l.trim() !== '').map((l) => Buffer.from(l.trim(), 'hex'));
  let sent = 0;
  const t0 = Date.now();
  for (let i = 0; i < frames.length; i++) {
    const wait = t0 + i * everyMs - Date.now();
    if (wait > 0) await sleep(wait);
    const f = frames[i]!;
    sll.set(f.subarray(0, 6), 12);
    const r = sendto(fd, f, f.length, 0, sll, sll.length) as number;
    if (r === f.length) sent++;
    else process.stderr.write(`sendto: ${r} errno ${koffi.errno()}\n`);
  }
  process.stdout.write(`sent ${sent}\n`);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const [cmd, dev, file, every] = process.argv.slice(2);
  if (cmd !== 'inject' || !dev || !file) {
    process.stderr.write('usage: lab-vrrp.ts inject DEV FILE EVERY_MS\n');
    process.exit(2);
  }
  injectMain(dev, file, Number(every ?? '100')).catch((e: unknown) => { process.stderr.write(`${(e as Error).message}\n`); process.exit(1); });
}
