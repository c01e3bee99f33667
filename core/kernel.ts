// What lvsd reads from the host kernel for `--io afpacket`: interface MACs,
// MTUs and addresses, the neighbour table (ARP/ND) and routes, through
// iproute2's JSON output (`ip -j`). A missing neighbour is resolved by making
// the kernel resolve it (a UDP datagram to the discard port makes it ARP).

import { execFile, execFileSync } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { promisify } from 'node:util';
import { ipv4ToU32 } from './model/addr.js';

const run = promisify(execFile);

interface IpAddrJson { ifname: string; address?: string; mtu?: number; addr_info?: { family: string; local: string; prefixlen: number; scope?: string }[] }
interface IpNeighJson { dst: string; dev?: string; lladdr?: string; state?: string[] }
interface IpRouteJson { dst?: string; gateway?: string; dev?: string; prefsrc?: string }

export interface KernelInterface { name: string; mac: string; mtu: number; addresses: string[] }

async function ipJson<T>(args: string[]): Promise<T> {
  const { stdout } = await run('ip', ['-j', ...args], { maxBuffer: 64 << 20 });
  return (stdout.trim() === '' ? [] : JSON.parse(stdout)) as T;
}

/** The named interfaces as the kernel has them (global-scope addresses only). */
export async function kernelInterfaces(names: readonly string[]): Promise<KernelInterface[]> {
  const all = await ipJson<IpAddrJson[]>(['addr', 'show']);
  return names.map((n) => {
    const i = all.find((x) => x.ifname === n);
    if (!i) throw new Error(`interface ${n} does not exist`);
    return {
      name: n, mac: i.address ?? '00:00:00:00:00:00', mtu: i.mtu ?? 1500,
      addresses: (i.addr_info ?? []).filter((a) => a.scope !== 'link' && a.scope !== 'host').map((a) => `${a.local}/${a.prefixlen}`),
    };
  });
}

const USABLE = new Set(['REACHABLE', 'STALE', 'DELAY', 'PROBE', 'PERMANENT', 'NOARP']);

/** The kernel's neighbour table: address → MAC, usable entries only. */
export async function kernelNeighbors(): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const n of await ipJson<IpNeighJson[]>(['neigh', 'show'])) {
    if (n.lladdr && (n.state ?? []).some((s) => USABLE.has(s))) out[n.dst] = n.lladdr;
  }
  return out;
}

/** The default gateways (one per family). */
export async function kernelGateways(): Promise<string[]> {
  const out: string[] = [];
  for (const fam of ['-4', '-6']) {
    try {
      const r = await ipJson<IpRouteJson[]>([fam, 'route', 'show', 'default']);
      if (r[0]?.gateway) out.push(r[0].gateway);
    } catch { /* no route of that family */ }
  }
  return out;
}

/** The kernel's route to one address: next hop (the address itself when on-link) and device. */
export async function routeGet(addr: string): Promise<{ nexthop: string; dev: string; src?: string } | null> {
  try {
    const r = await ipJson<IpRouteJson[]>(['route', 'get', addr]);
    const x = r[0];
    if (!x?.dev) return null;
    return { nexthop: x.gateway ?? addr, dev: x.dev, ...(x.prefsrc ? { src: x.prefsrc } : {}) };
  } catch { return null; }
}

/**
 * Makes the kernel resolve several next hops at once: a datagram to each one's
 * discard port (a link-local IPv6 address needs its device as the zone), then
 * one reading of the neighbour table every 50 ms for all of them.
 */
export async function resolveNeighbors(hops: readonly { addr: string; dev?: string }[], timeoutMs = 1000): Promise<Map<string, string>> {
  const found = new Map<string, string>();
  const known = await kernelNeighbors();
  const todo = hops.filter((h) => { const m = known[h.addr]; if (m) found.set(h.addr, m); return !m; });
  if (todo.length === 0) return found;
  const s4 = createSocket('udp4'), s6 = createSocket('udp6');
  for (const s of [s4, s6]) s.on('error', () => { /* unreachable: the table says so */ });
  await Promise.all(todo.map((h) => new Promise<void>((res) => {
    const v4 = ipv4ToU32(h.addr) !== null;
    const to = !v4 && h.dev && /^fe80:/i.test(h.addr) ? `${h.addr}%${h.dev}` : h.addr;
    try { (v4 ? s4 : s6).send(Buffer.alloc(0), 9, to, () => res()); } catch { res(); }
  })));
  s4.close(); s6.close();
  const until = Date.now() + timeoutMs;
  let left = todo;
  while (left.length > 0 && Date.now() < until) {
    await new Promise((r) => setTimeout(r, 50));
    const k = await kernelNeighbors();
    left = left.filter((h) => { const m = k[h.addr]; if (m) found.set(h.addr, m); return !m; });
  }
  return found;
}

/** Whether a command exists on PATH. */
export function haveCommand(cmd: string): boolean {
  try { execFileSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }); return true; } catch { return false; }
}
