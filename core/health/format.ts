// `lvsadm -L --health`: one line per service (quorum), one per real server
// (lifecycle, health, weights, connections, checks). Not an ipvsadm format:
// ipvsadm has no such listing, so this one is lvsd's own, in ipvsadm's style.
// Pure: no name lookups; `numeric: false` only names well-known ports.

import type { DestKey, ServiceKey } from '../model/types.js';
import type { RealHealthView, ServiceHealthView } from './types.js';

/** A few /etc/services names (what ipvsadm prints without -n for common ports). */
const PORT_NAMES: Record<number, string> = {
  21: 'ftp', 22: 'ssh', 25: 'smtp', 53: 'domain', 80: 'http', 110: 'pop3', 143: 'imap', 389: 'ldap',
  443: 'https', 465: 'submissions', 587: 'submission', 993: 'imaps', 995: 'pop3s', 3306: 'mysql', 5432: 'postgresql',
  6379: 'redis', 8080: 'http-alt',
};

function hostPort(addr: string, family: string, port: number, numeric: boolean): string {
  const a = family === 'inet6' ? `[${addr}]` : addr;
  return `${a}:${numeric ? port : PORT_NAMES[port] ?? port}`;
}

function serviceText(k: ServiceKey, numeric: boolean): string {
  if (k.fwmark > 0) return `FWM  ${k.fwmark}${k.family === 'inet6' ? ' IPv6' : ''}`;
  return `${k.protocol.toUpperCase().padEnd(4)} ${hostPort(k.addr, k.family, k.port, numeric)}`;
}

function destText(d: DestKey, numeric: boolean): string {
  return hostPort(d.addr, d.family, d.port, numeric);
}

function checkText(c: RealHealthView['checks'][number]): string {
  if (!c.up) return `${c.check} DOWN (${c.reason || c.last})`;
  if (c.runs === 0) return `${c.check} pending`;
  // Up, but the last attempt failed: a retry is under way.
  return c.last.startsWith('ok') ? `${c.check} ok` : `${c.check} up, retrying (${c.last})`;
}

function checksText(r: RealHealthView): string {
  const parts = r.checks.map(checkText);
  if (r.remaining !== undefined) parts.push(`${r.remaining}s left`);
  return parts.join('; ') || '-';
}

function row(cols: string[]): string {
  const [addr, life, health, weight, cfg, act, inact, checks] = cols;
  return `  -> ${addr!.padEnd(28)} ${life!.padEnd(9)} ${health!.padEnd(9)} ${weight!.padStart(6)} ${cfg!.padStart(6)} ${act!.padStart(10)} ${inact!.padStart(10)}  ${checks}`;
}

/** The listing for `lvsadm -L --health` (with `-n`: numeric = true). */
export function formatHealthListing(views: readonly ServiceHealthView[], numeric: boolean): string {
  const out: string[] = [
    'Prot LocalAddress:Port Quorum',
    row(['RemoteAddress:Port', 'Lifecycle', 'Health', 'Weight', 'Cfg', 'ActiveConn', 'InActConn', 'Checks']).replace(/\s+$/, ''),
  ];
  for (const v of views) {
    const q = `${v.quorumUp ? 'up' : 'LOST'} ${v.aliveWeight}/${v.quorum}${v.hysteresis ? `±${v.hysteresis}` : ''}`;
    out.push(`${serviceText(v.service, numeric)} ${q}${v.sorryActive ? ' (sorry server active)' : ''}`);
    for (const r of v.reals) {
      const eff = r.effectiveWeight !== r.configuredWeight ? `${r.configuredWeight}>${r.effectiveWeight}` : String(r.configuredWeight);
      out.push(row([destText(r.dest, numeric), r.lifecycle, r.health, r.inTable ? String(r.weight) : '-', eff,
        String(r.activeConns), String(r.inactConns), checksText(r)]).replace(/\s+$/, ''));
    }
    if (v.sorryServer) {
      out.push(row([destText(v.sorryServer, numeric), 'sorry', v.sorryActive ? 'active' : 'standby', '', '', '', '', '']).replace(/\s+$/, ''));
    }
  }
  return `${out.join('\n')}\n`;
}
