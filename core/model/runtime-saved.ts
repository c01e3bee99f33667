// What lvsadm (or a plugin, a scheduled action) added to the service table at
// run time, kept across a restart as the kernel keeps ipvsadm's rules across a
// restart of its tools (README "Restarts"). config.ts brings back what it
// declares; this file brings back the rest: services added at run time with
// their real servers, and real servers added at run time to the config's
// services. Followed from the table's events (their source says who made a
// change), written to <state>/runtime.json, put back after the first config load.

import { readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ChangeSource, TableEvent } from './events.js';
import type { ServiceTable } from './table.js';
import { destKeyText, serviceKeyText, type DestSpec, type ServiceSpec } from './types.js';

const LAYOUT = 1;
export const runtimePath = (dir: string): string => join(dir, 'runtime.json');

interface Entry {
  /** The service's spec when it was added at run time; null when it is the config's (only reals were added). */
  spec: ServiceSpec | null;
  /** Its service's spec as last seen (a real added to a config service needs the key). */
  key: ServiceSpec;
  dests: Map<string, DestSpec>;
}

interface SavedFile { layout: number; services: { spec: ServiceSpec | null; key: ServiceSpec; dests: DestSpec[] }[] }

/** Whether a change was the operator's at run time (not config.ts's, not health's own placement). */
const atRunTime = (s: ChangeSource): boolean => s.by !== 'config' && s.by !== 'health' && s.by !== 'internal';

export class RuntimeAdditions {
  private readonly byService = new Map<string, Entry>();
  /** Changed since the last save. */
  dirty = false;

  /** Follows one table event. */
  follow(ev: TableEvent): void {
    switch (ev.type) {
      case 'service.added':
        if (!atRunTime(ev.source)) return;
        this.byService.set(serviceKeyText(ev.service), { spec: { ...ev.service }, key: { ...ev.service }, dests: new Map() });
        break;
      case 'service.changed': {
        const e = this.byService.get(serviceKeyText(ev.service));
        if (!e) return;
        e.key = { ...ev.service };
        if (e.spec && atRunTime(ev.source)) e.spec = { ...ev.service };
        break;
      }
      case 'service.removed':
        if (!this.byService.delete(serviceKeyText(ev.service))) return;
        break;
      case 'table.flushed':
        if (this.byService.size === 0) return;
        this.byService.clear();
        break;
      case 'dest.added': {
        if (!atRunTime(ev.source)) return;
        const k = serviceKeyText(ev.service);
        let e = this.byService.get(k);
        if (!e) { e = { spec: null, key: { ...ev.service }, dests: new Map() }; this.byService.set(k, e); }
        e.dests.set(destKeyText(ev.dest), { ...ev.dest });
        break;
      }
      case 'dest.changed': {
        const e = this.byService.get(serviceKeyText(ev.service));
        const dk = destKeyText(ev.dest);
        if (!e || !e.dests.has(dk) || !atRunTime(ev.source)) return;
        e.dests.set(dk, { ...ev.dest });
        break;
      }
      case 'dest.removed': {
        const k = serviceKeyText(ev.service);
        const e = this.byService.get(k);
        if (!e || !e.dests.delete(destKeyText(ev.dest))) return;
        if (!e.spec && e.dests.size === 0) this.byService.delete(k);
        break;
      }
      default: return;
    }
    this.dirty = true;
  }

  /** Writes <dir>/runtime.json (aside, then renamed: a crash never leaves half a file). */
  save(dir: string): void {
    const file: SavedFile = {
      layout: LAYOUT,
      services: [...this.byService.values()].map((e) => ({ spec: e.spec, key: e.key, dests: [...e.dests.values()] })),
    };
    const path = runtimePath(dir);
    writeFileSync(`${path}.tmp`, JSON.stringify(file), { mode: 0o600 });
    renameSync(`${path}.tmp`, path);
    this.dirty = false;
  }
}

/**
 * Puts back what <dir>/runtime.json holds, after the config's first load:
 * services it does not have (with their reals), and reals its services do not
 * have. Returns the lines to log (what was put back, what could not be and why).
 * A file of another layout, or unreadable, is set aside with a line, never half-read.
 */
export function restoreRuntime(table: ServiceTable, dir: string, source: ChangeSource): string[] {
  let raw: string;
  try { raw = readFileSync(runtimePath(dir), 'utf8'); } catch { return []; }
  let file: SavedFile;
  try {
    file = JSON.parse(raw) as SavedFile;
    if (file.layout !== LAYOUT || !Array.isArray(file.services)) throw new Error(`layout ${String(file.layout)}, this lvsd reads ${LAYOUT}`);
  } catch (e) {
    return [`${runtimePath(dir)}: not restored (${(e as Error).message}); the services lvsadm added before the restart are not back`];
  }
  const out: string[] = [];
  let services = 0, dests = 0;
  for (const s of file.services) {
    if (s.spec && !table.find(s.spec)) {
      const r = table.addService(s.spec, source);
      if (!r.ok) { out.push(`run-time service ${serviceKeyText(s.spec)} not restored: ${r.error.message}`); continue; }
      services++;
    }
    const svc = table.find(s.key);
    if (!svc) { if (s.dests.length) out.push(`real servers of ${serviceKeyText(s.key)} not restored: the service is gone`); continue; }
    for (const d of s.dests) {
      if (svc.findDest(d)) continue;
      const r = table.addDest(svc.spec, d, source);
      if (!r.ok) out.push(`run-time real server ${destKeyText(d)} of ${serviceKeyText(s.key)} not restored: ${r.error.message}`);
      else dests++;
    }
  }
  if (services || dests) out.unshift(`restored what lvsadm had added before the restart: ${services} services, ${dests} real servers`);
  return out;
}

/** lvsd --release: the run-time additions go with the takeover. */
export function removeRuntime(dir: string): void { rmSync(runtimePath(dir), { force: true }); }
