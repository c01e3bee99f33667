// `lvsadm -L --vrrp [--stats]` (an lvsd extension): each failover instance's
// state, priority, the master it knows and its last transition with the
// reason, one line each; --stats adds the instance's packet counters below it.
//
//   Instance  Interface  VRID  Ver  State    Prio  Master              Since  Reason
//   VI_1      eth1       51    3    MASTER   150   10.0.0.1 (us)       2m05s  Entering MASTER STATE (advertisement timeout)

import type { FailoverInstanceView } from '../../core/bus.js';

/** 65 s → "1m05s"; days and hours for long ones. */
export function ago(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  if (s < 86400) return `${Math.floor(s / 3600)}h${String(Math.floor(s / 60) % 60).padStart(2, '0')}m`;
  return `${Math.floor(s / 86400)}d${String(Math.floor(s / 3600) % 24).padStart(2, '0')}h`;
}

function prio(v: FailoverInstanceView): string {
  return v.priority === v.basePriority ? String(v.priority) : `${v.priority}(${v.basePriority})`;
}

function master(v: FailoverInstanceView): string {
  if (v.state === 'MASTER') return `${v.master} (us)`;
  if (!v.master) return '-';
  return `${v.master} (${v.masterPriority})`;
}

export function formatVrrp(list: readonly FailoverInstanceView[], stats: boolean, now: number): string {
  const head = ['Instance', 'Interface', 'VRID', 'Ver', 'State', 'Prio', 'Master', 'Since', 'Reason'];
  const rows = list.map((v) => [v.name, v.interface, String(v.vrid), `${v.version}${v.family === 6 ? '/v6' : ''}`, v.state, prio(v), master(v), ago(now - v.since), v.reason]);
  const width = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (r: readonly string[]): string => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(width[i]!))).join('  ').trimEnd();
  const out = [line(head)];
  list.forEach((v, i) => {
    out.push(line(rows[i]!));
    if (stats) {
      const c = Object.entries(v.counters).sort(([a], [b]) => a.localeCompare(b));
      out.push(`  ${c.length ? c.map(([k, n]) => `${k} ${n}`).join(', ') : 'no packets yet'}${v.syncGroup ? `; sync group ${v.syncGroup}` : ''}`);
    }
  });
  return `${out.join('\n')}\n`;
}
