// The protocol between the daemon and its data-plane workers (`--io afpacket`).
// A worker holds a replica of the service table: it gets the whole table as a
// snapshot (services with their specs, real servers in kernel order,
// timeouts) and reconciles its replica to it, so the same add/edit/delete
// rules apply on both sides and a worker keeps its connections and scheduler
// state across changes. Plugins travel as module paths (the loader compiles
// them to importable .mjs files). Counters come back as deltas, connection
// counts per real server as absolutes, connection entries as views.

import type { ConnView } from '../control/protocol.js';
import { addrWords } from '../model/addr.js';
import type { Counters, ServiceTable } from '../model/table.js';
import {
  SVC_F_PERSISTENT, destKeyText, serviceKeyText, type DestSpec, type FwdMethod, type ServiceSpec, type Timeouts,
} from '../model/types.js';
import type { PluginRegistry } from '../plugins/loader.js';
import type { FilterSpec } from './io/bpf.js';
import type { NetSpec } from './net.js';

export interface TableSnapshot {
  services: { spec: ServiceSpec; dests: DestSpec[] }[];
  timeouts: Timeouts;
}

export interface PluginModules {
  schedulers: Record<string, string>;
  forwarders: string[];
  classifiers: string[];
}

export interface WorkerInterface { name: string; ifindex: number; mac: string; mtu: number }

export interface WorkerInit {
  id: number;
  interfaces: WorkerInterface[];
  net: NetSpec;
  modules: PluginModules;
  snapshot: TableSnapshot;
  /** Fanout group base (one group per interface), null with one worker. */
  fanoutGroup: number | null;
  maxConns?: number;
  statsMs: number;
  /** Connection entries sent back at most this many per report. */
  connViewsMax: number;
}

export type ToWorker =
  | { t: 'table'; snapshot: TableSnapshot }
  | { t: 'net'; net: NetSpec; modules: PluginModules }
  /** List the connection entries (lvsadm -L -c), answered with the same `req`. */
  | { t: 'conns'; req: number }
  | { t: 'stop' };

/** Five counters: conns, inpkts, outpkts, inbytes, outbytes. */
export type Five = [number, number, number, number, number];

export interface DestReport { key: string; c: Five; active: number; inact: number; persist: number }
export interface StatsReport {
  t: 'stats'; id: number;
  total: Five;
  services: { key: string; c: Five; dests: DestReport[] }[];
  drops: Record<string, number>;
  rx: number; tx: number; txErrors: number; csumCompleted: number; oversize: number; ringDrops: number; conns: number;
}

export type FromWorker =
  | { t: 'ready'; id: number }
  | { t: 'error'; id: number; message: string }
  | { t: 'log'; id: number; message: string }
  | StatsReport
  | { t: 'conns'; id: number; req: number; views: ConnView[]; truncated: boolean }
  /** Next hops the worker found no MAC for: the daemon has the kernel resolve them and sends a new net. */
  | { t: 'resolve'; id: number; addrs: string[] };

/** A real server's identity within a service, as worker messages name it. */
export const destKey = destKeyText;
export const svcKey = (s: ServiceSpec): string => serviceKeyText(s);

export function tableSnapshot(table: ServiceTable): TableSnapshot {
  return {
    services: table.list().map((s) => ({ spec: { ...s.spec }, dests: s.dests.map((d) => ({ ...d.spec })) })),
    timeouts: { ...table.timeouts },
  };
}

export function pluginModules(reg: PluginRegistry): PluginModules {
  const mod = (k: 'scheduler' | 'forwarder' | 'classifier', n: string) => reg.get(k, n)!.module;
  return {
    schedulers: Object.fromEntries(reg.names('scheduler').map((n) => [n, mod('scheduler', n)])),
    forwarders: reg.names('forwarder').map((n) => mod('forwarder', n)),
    classifiers: reg.names('classifier').map((n) => mod('classifier', n)),
  };
}

const same = (a: object, b: object): boolean => JSON.stringify(a) === JSON.stringify(b);

/** Brings a replica table to a snapshot with the table's own operations; returns the errors (there should be none). */
export function reconcile(table: ServiceTable, snap: TableSnapshot): string[] {
  const errs: string[] = [];
  const note = (r: { ok: boolean; error?: { message: string } }) => { if (!r.ok) errs.push(r.error!.message); };
  const want = new Set(snap.services.map((s) => svcKey(s.spec)));
  for (const s of [...table.list()]) if (!want.has(svcKey(s.spec))) note(table.deleteService(s.spec));
  for (const { spec, dests } of snap.services) {
    const cur = table.find(spec);
    if (!cur) note(table.addService(spec));
    else if (!same(cur.spec, spec)) note(table.editService(spec));
    const svc = table.find(spec);
    if (!svc) continue;
    const keep = new Set(dests.map(destKey));
    for (const d of [...svc.dests]) if (!keep.has(destKey(d))) note(table.deleteDest(spec, d.spec));
    // snapshot order is the kernel's (newest first): add oldest first to keep it
    for (let i = dests.length - 1; i >= 0; i--) {
      const d = dests[i]!;
      const have = svc.findDest(d);
      if (!have) note(table.addDest(spec, d));
      else if (!same(have.spec, d)) note(table.editDest(spec, d));
    }
  }
  if (!same(table.timeouts, snap.timeouts)) note(table.setTimeouts(snap.timeouts));
  return errs;
}

/**
 * What the socket filter and the fanout program must know, from a snapshot.
 * `replies`: the methods whose forwarders see replies (plugin.ts replyMethods).
 */
export function filterSpec(snap: TableSnapshot, replies: ReadonlySet<FwdMethod>): FilterSpec {
  const v4 = familySpec(snap, 'inet', replies), v6 = familySpec(snap, 'inet6', replies);
  const one = (l: number[][]) => l.map((w) => w[0]!);
  return {
    vips: one(v4.vips), natRips: one(v4.rips), ipKeyedVips: one(v4.ipVips), ipKeyedRips: one(v4.ipRips),
    ipv6: snap.services.some((s) => s.spec.family === 'inet6'),
    vips6: v6.vips, natRips6: v6.rips, ipKeyedVips6: v6.ipVips, ipKeyedRips6: v6.ipRips,
  };
}

/** One family's VIPs and NAT real servers (as address words), and which of them key on the client address alone. */
function familySpec(snap: TableSnapshot, family: 'inet' | 'inet6', replies: ReadonlySet<FwdMethod>): { vips: number[][]; rips: number[][]; ipVips: number[][]; ipRips: number[][] } {
  const vips = new Set<string>(), rips = new Set<string>(), ipVips = new Set<string>(), ipRips = new Set<string>();
  const svcs = snap.services.filter((s) => s.spec.fwmark === 0 && s.spec.family === family);
  const natOf = (dests: readonly DestSpec[]) => dests.filter((d) => replies.has(d.fwd) && d.family === family).map((d) => d.addr);
  for (const { spec, dests } of svcs) {
    vips.add(spec.addr);
    if (spec.flags & SVC_F_PERSISTENT) ipVips.add(spec.addr);
    for (const r of natOf(dests)) rips.add(r);
  }
  // A real server of a persistent service keys replies by client address; so
  // then must every VIP it serves, and so on until nothing changes.
  for (let changed = true; changed;) {
    changed = false;
    for (const { spec, dests } of svcs) {
      const nat = natOf(dests);
      if (!ipVips.has(spec.addr) && !nat.some((r) => ipRips.has(r))) continue;
      if (!ipVips.has(spec.addr)) { ipVips.add(spec.addr); changed = true; }
      for (const r of nat) if (!ipRips.has(r)) { ipRips.add(r); changed = true; }
    }
  }
  const words = (set: Set<string>) => [...set].map((a) => addrWords(family, a));
  return { vips: words(vips), rips: words(rips), ipVips: words(ipVips), ipRips: words(ipRips) };
}

/** Counter deltas since the last report, per Counters object. */
export class DeltaTracker {
  private last = new WeakMap<Counters, Five>();
  delta(c: Counters): Five {
    const now: Five = [c.conns, c.inpkts, c.outpkts, c.inbytes, c.outbytes];
    const prev = this.last.get(c) ?? [0, 0, 0, 0, 0];
    this.last.set(c, now);
    return [now[0] - prev[0], now[1] - prev[1], now[2] - prev[2], now[3] - prev[3], now[4] - prev[4]];
  }
}

export function addFive(c: Counters, d: Five): void {
  c.conns += d[0]; c.inpkts += d[1]; c.outpkts += d[2]; c.inbytes += d[3]; c.outbytes += d[4];
}
