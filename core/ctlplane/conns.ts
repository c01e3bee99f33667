// ControlContext.conns (core/plugin.ts ConnSync): the data plane's sync side
// as a control-plane plugin sees it, records turned into SyncConn objects and
// back. What a plugin follows stops with the plugin.

import type { DataPlane } from '../engine/dataplane.js';
import { SYNC_DEFAULTS, emptyInstallCounts, recordsOf, syncConnsOf, type SyncSettings } from '../conn/sync.js';
import type { ConnSync } from '../plugin.js';

/** Checks a plugin's sync settings against the kernel's ranges (sysctl validation); throws a message naming the one out of range. */
export function syncSettings(p: Partial<SyncSettings>): SyncSettings {
  const o = { ...SYNC_DEFAULTS, ...p };
  const int = (v: number, min: number, max: number): boolean => Number.isInteger(v) && v >= min && v <= max;
  if (o.version !== 0 && o.version !== 1) throw new Error(`sync version must be 0 or 1 (got ${o.version})`);
  if (!int(o.threshold, 0, 0x7fffffff) || !int(o.period, 0, 0x7fffffff) || !(o.threshold < o.period || o.period === 0)) {
    throw new Error(`sync threshold ${o.threshold} ${o.period}: the threshold must be below the period, or the period 0`);
  }
  if (!int(o.refreshPeriod, 0, 0x7fffffff)) throw new Error(`sync refresh period must be 0 or more seconds (got ${o.refreshPeriod})`);
  if (!int(o.retries, 0, 3)) throw new Error(`sync retries must be 0..3 (got ${o.retries})`);
  return o;
}

export function connSync(dataPlane: () => DataPlane | null, live: () => boolean, unsubscribe: Set<() => void>): ConnSync {
  return {
    follow(settings, onConns) {
      const o = syncSettings(settings);
      const dp = dataPlane();
      if (!dp || !live()) return () => undefined;
      let on = true;
      dp.syncOut(o, (records, dropped) => { if (on && live()) onConns(syncConnsOf(records), dropped); });
      const stop = (): void => {
        if (!on) return;
        on = false;
        unsubscribe.delete(stop);
        dataPlane()?.syncOut(null);
      };
      unsubscribe.add(stop);
      return stop;
    },
    async install(conns, o) {
      const { records, invalid } = recordsOf(conns);
      const dp = dataPlane();
      if (!dp || !live() || records.byteLength === 0) return { ...emptyInstallCounts(), invalid };
      const threshold = o.threshold ?? SYNC_DEFAULTS.threshold;
      return { ...(await dp.syncIn(records, o.version === 0 ? 0 : 1, threshold)), invalid };
    },
    async dump() {
      const dp = dataPlane();
      return dp && live() ? syncConnsOf(await dp.syncDump()) : [];
    },
    backupOnly(on) {
      if (!live()) return;
      dataPlane()?.setBackupOnly(on);
      const off = (): void => { unsubscribe.delete(off); dataPlane()?.setBackupOnly(false); };
      if (on) unsubscribe.add(off);
    },
  };
}
