// Counters and rates that outlive the process (README "Restarts"): the
// daemon's table is rebuilt from config on start, so its totals would begin at
// 0; they are saved beside the connection snapshots (every estimator tick and
// at stop) and put back on the services and real servers that exist again,
// with the estimator's state, so totals continue and rates do not dip or spike.

import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Counters, ServiceTable } from '../model/table.js';
import type { ServiceKey } from '../model/types.js';

/** Bumped when the file's shape changes: another version is ignored (counters start at 0), never misread. */
export const COUNTERS_LAYOUT = 1;

interface SavedCounters {
  conns: number; inpkts: number; outpkts: number; inbytes: number; outbytes: number;
  cps: number; inpps: number; outpps: number; inbps: number; outbps: number;
  est: number[] | null;
}
interface SavedFile {
  magic: 'lvsd-counters';
  layout: number;
  savedAt: number;
  total: SavedCounters;
  services: { key: ServiceKey; stats: SavedCounters; dests: { family: 'inet' | 'inet6'; addr: string; port: number; stats: SavedCounters }[] }[];
}

export const countersPath = (dir: string): string => join(dir, 'counters.json');

const out = (c: Counters): SavedCounters => ({
  conns: c.conns, inpkts: c.inpkts, outpkts: c.outpkts, inbytes: c.inbytes, outbytes: c.outbytes,
  cps: c.cps, inpps: c.inpps, outpps: c.outpps, inbps: c.inbps, outbps: c.outbps, est: c.est ? Array.from(c.est) : null,
});

/** Written whole or not at all (temporary file, then rename). */
export function saveCounters(table: ServiceTable, dir: string): void {
  const f: SavedFile = {
    magic: 'lvsd-counters', layout: COUNTERS_LAYOUT, savedAt: Date.now(), total: out(table.total),
    services: table.list().map((s) => ({
      key: { family: s.family, protocol: s.protocol, addr: s.addr, port: s.port, fwmark: s.fwmark }, stats: out(s.stats),
      dests: s.dests.map((d) => ({ family: d.family, addr: d.addr, port: d.port, stats: out(d.stats) })),
    })),
  };
  const p = countersPath(dir);
  writeFileSync(`${p}.tmp`, JSON.stringify(f), { mode: 0o600 });
  renameSync(`${p}.tmp`, p);
}

const num = (x: unknown): boolean => typeof x === 'number' && Number.isFinite(x) && x >= 0;

function valid(c: unknown): c is SavedCounters {
  if (typeof c !== 'object' || c === null) return false;
  const r = c as Record<string, unknown>;
  const est = r['est'];
  return ['conns', 'inpkts', 'outpkts', 'inbytes', 'outbytes', 'cps', 'inpps', 'outpps', 'inbps', 'outbps'].every((k) => num(r[k]))
    && (est === null || (Array.isArray(est) && est.length === 16 && est.every((x) => typeof x === 'number' && Number.isFinite(x))));
}

function put(c: Counters, s: SavedCounters): void {
  c.conns = s.conns; c.inpkts = s.inpkts; c.outpkts = s.outpkts; c.inbytes = s.inbytes; c.outbytes = s.outbytes;
  c.cps = s.cps; c.inpps = s.inpps; c.outpps = s.outpps; c.inbps = s.inbps; c.outbps = s.outbps;
  if (s.est) {
    const e = Float64Array.from(s.est);
    e[15] = c.epoch; // the estimator's epoch slot: this process's, not the saved one
    c.est = e;
  } else c.est = null;
}

/**
 * Puts saved counters back on the table's services and real servers that
 * exist again (others' are dropped). Returns what happened, for the log;
 * a missing file is no message, a bad one says why.
 */
export function restoreCounters(table: ServiceTable, dir: string): string | null {
  let raw: string;
  try { raw = readFileSync(countersPath(dir), 'utf8'); } catch { return null; }
  let f: unknown;
  try { f = JSON.parse(raw); } catch { return `${countersPath(dir)}: not JSON; counters start at 0`; }
  const g = f as Partial<SavedFile>;
  if (typeof f !== 'object' || f === null || g.magic !== 'lvsd-counters') return `${countersPath(dir)}: not an lvsd counters file; counters start at 0`;
  if (g.layout !== COUNTERS_LAYOUT) return `${countersPath(dir)}: layout version ${String(g.layout)}, this lvsd reads ${COUNTERS_LAYOUT}; counters start at 0`;
  if (!valid(g.total) || !Array.isArray(g.services)) return `${countersPath(dir)}: malformed; counters start at 0`;
  put(table.total, g.total);
  let services = 0, dests = 0;
  for (const s of g.services) {
    const svc = s && typeof s === 'object' ? table.find(s.key) : undefined;
    if (!svc || !valid(s.stats)) continue;
    put(svc.stats, s.stats);
    services++;
    for (const d of Array.isArray(s.dests) ? s.dests : []) {
      const dest = d && typeof d === 'object' ? svc.findDest(d) : undefined;
      if (!dest || !valid(d.stats)) continue;
      put(dest.stats, d.stats);
      dests++;
    }
  }
  return `counters restored for ${services} services and ${dests} real servers`;
}
