// ipvsadm's output, as pure functions of the daemon's snapshot: the listing
// in all its modes, -S rules, connections, timeouts and sync daemons. Names
// come in already resolved (see `Names`), so nothing here waits on DNS.

import { u32ToIpv4, type Family } from '../../core/model/addr.js';
import {
  SVC_F_ONEPACKET, SVC_F_PERSISTENT, SVC_F_SCHED_MASK,
  type DestView, type FwdMethod, type Protocol, type ServiceView, type SyncDaemonSpec, type Timeouts,
} from '../../core/model/types.js';
import { ipvsadmSchedFlagsText as schedFlagsText } from './schedflags.js';
import type { ConnView, DaemonStatsView, InfoView } from '../../core/control/protocol.js';
import type { ListFormat } from './parse.js';
import { sortDests, sortServices } from './sort.js';

/** Resolved names; `null` means "print the number". */
export interface Names {
  host(family: Family, addr: string): string | null;
  service(port: number, proto: Protocol): string | null;
}

export const NUMERIC: Names = { host: () => null, service: () => null };

const padEnd = (s: string, n: number): string => s.padEnd(n);
const padStart = (s: string, n: number): string => s.padStart(n);

/**
 * addrport_to_anyname: `addr:port`, IPv6 bracketed, names unless numeric;
 * built in a 60-byte buffer, so at most 59 characters.
 */
export function addrPortName(family: Family, addr: string, port: number, proto: Protocol | null, names: Names): string {
  const host = names.host(family, addr) ?? addr;
  const svc = (proto ? names.service(port, proto) : null) ?? String(port);
  const s = family === 'inet' ? `${host}:${svc}` : `[${host}]:${svc}`;
  return s.slice(0, 59);
}

/** print_largenum: 9 wide, abbreviated with K/M/G/T unless --exact. */
export function largeNum(n: number, exact: boolean): string {
  const v = BigInt(Math.max(0, Math.trunc(n)));
  const s = v.toString();
  if (exact) return padStart(s, s.length <= 8 ? 9 : s.length + 1);
  if (v < 100000000n) return padStart(s, 9);
  if (v < 1000000000n) return padStart((v / 1000n).toString(), 8) + 'K';
  if (v < 100000000000n) return padStart((v / 1000000n).toString(), 8) + 'M';
  if (v < 100000000000000n) return padStart((v / 1000000000n).toString(), 8) + 'G';
  return padStart((v / 1000000000000n).toString(), 8) + 'T';
}

const FWD_NAME: Record<FwdMethod, string> = { masq: 'Masq', local: 'Local', tunnel: 'Tunnel', route: 'Route' };
const FWD_SWITCH: Record<FwdMethod, string> = { masq: '-m', local: '-g', tunnel: '-i', route: '-g' };
const PROTO_TITLE: Record<Protocol, string> = { tcp: 'TCP', udp: 'UDP', sctp: 'SCTP' };
const PROTO_OPT: Record<Protocol, string> = { tcp: '-t', udp: '-u', sctp: '--sctp-service' };
const TUN_FLAG_TEXT = ['-c', '+c', 'r+c'];
const TUN_FLAG_OPT = ['--tun-nocsum', '--tun-csum', '--tun-remcsum'];

export function headerLine(info: InfoView): string {
  const v = info.version;
  return `IP Virtual Server version ${(v >> 16) & 0xff}.${(v >> 8) & 0xff}.${v & 0xff} (size=${info.connTabSize})\n`;
}

/** print_title. */
export function titleLines(f: ListFormat): string {
  const head = 'Prot LocalAddress:Port';
  const remote = '  -> RemoteAddress:Port\n';
  const r8 = (xs: string[]): string => xs.map((x) => ' ' + padStart(x, 8)).join('');
  if (f.stats) return `${padEnd(head, 33)}${r8(['Conns', 'InPkts', 'OutPkts', 'InBytes', 'OutBytes'])}\n${remote}`;
  if (f.rate) return `${padEnd(head, 33)}${r8(['CPS', 'InPPS', 'OutPPS', 'InBPS', 'OutBPS'])}\n${remote}`;
  if (f.thresholds) return `${padEnd(head, 33)} ${['Uthreshold', 'Lthreshold', 'ActiveConn', 'InActConn'].map((x) => padEnd(x, 10)).join(' ')}\n${remote}`;
  if (f.persistentConn) {
    return `${padEnd(head, 33)} ${padEnd('Weight', 9)} ${padEnd('PersistConn', 11)} ${padEnd('ActiveConn', 10)} ${padEnd('InActConn', 10)}\n${remote}`;
  }
  if (f.tunInfo) return `${head} Scheduler Flags\n  -> RemoteAddress:Port           Forward TunnelInfo    Weight ActiveConn InActConn\n`;
  return `${head} Scheduler Flags\n  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n`;
}

/** The service's name field: `TCP  addr:port` (cut to 33 for IPv4), `FWM  n`, or the -S form. */
export function serviceName(s: ServiceView, rule: boolean, names: Names): string {
  const mark = s.fwmark | 0; // ipvsadm prints the mark with %d
  if (s.fwmark) {
    if (rule) return s.family === 'inet6' ? `-f ${mark} -6` : `-f ${mark}`;
    return s.family === 'inet6' ? `FWM  ${mark} IPv6` : `FWM  ${mark}`;
  }
  const vname = addrPortName(s.family, s.addr, s.port, s.protocol, names);
  if (rule) return `${PROTO_OPT[s.protocol]} ${vname}`;
  const n = `${padEnd(PROTO_TITLE[s.protocol], 4)} ${vname}`;
  return s.family === 'inet6' ? n : n.slice(0, 33);
}

function maskText(s: ServiceView): string {
  if (s.family === 'inet') return s.netmask >>> 0 !== 0xffffffff ? u32ToIpv4(s.netmask >>> 0) : '';
  return s.netmask !== 128 ? String(s.netmask) : '';
}

function serviceLine(s: ServiceView, name: string, f: ListFormat, rule: boolean): string {
  const st = s.stats;
  const persistent = (s.flags & SVC_F_PERSISTENT) !== 0;
  if (rule) {
    let l = `-A ${name} -s ${s.scheduler}`;
    if (persistent) {
      l += ` -p ${s.timeout >>> 0}`;
      const m = maskText(s);
      if (m) l += ` -M ${m}`;
    }
    if (s.pe) l += ` --pe ${s.pe}`;
    if (s.flags & SVC_F_ONEPACKET) l += ' -o';
    if (s.flags & SVC_F_SCHED_MASK) l += ` -b ${schedFlagsText(s)}`;
    return l + '\n';
  }
  if (f.stats) {
    return padEnd(name, 33) + [st.conns, st.inpkts, st.outpkts, st.inbytes, st.outbytes].map((v) => largeNum(v, f.exact)).join('') + '\n';
  }
  if (f.rate) {
    return padEnd(name, 33) + [st.cps, st.inpps, st.outpps, st.inbps, st.outbps].map((v) => largeNum(v, f.exact)).join('') + '\n';
  }
  let l = `${name} ${s.scheduler}`;
  if (s.flags & SVC_F_SCHED_MASK) l += ` (${schedFlagsText(s)})`;
  if (persistent) {
    l += ` persistent ${s.timeout >>> 0}`;
    const m = maskText(s);
    if (m) l += ` mask ${m}`;
    if (s.pe) l += ` pe ${s.pe}`;
  }
  if (s.flags & SVC_F_ONEPACKET) l += ' ops';
  return l + '\n';
}

function tunInfo(d: DestView): string {
  if (d.fwd !== 'tunnel') return 'n/a';
  const c = TUN_FLAG_TEXT[d.tunFlags] ?? '';
  if (d.tunType === 'gue') return `gue:${d.tunPort}:${c}`.slice(0, 15);
  if (d.tunType === 'gre') return `gre:${c}`;
  return 'ipip';
}

function tunnelRule(d: DestView): string {
  const c = TUN_FLAG_OPT[d.tunFlags] ?? '';
  if (d.tunType === 'gre') return ` --tun-type gre ${c}`;
  if (d.tunType === 'gue') return ` --tun-type gue --tun-port ${d.tunPort} ${c}`;
  return ' --tun-type ipip';
}

function destLine(d: DestView, svcName: string, proto: Protocol | null, f: ListFormat, rule: boolean, names: Names): string {
  let dname = addrPortName(d.family, d.addr, d.port, proto, names);
  if (!rule && d.family !== 'inet6') dname = dname.slice(0, 28);
  const u = (n: number): string => String(n >>> 0);
  const st = d.stats;
  if (rule) {
    const base = `-a ${svcName} -r ${dname} ${FWD_SWITCH[d.fwd]} -w ${d.weight | 0}`;
    return base + (d.fwd === 'tunnel' ? tunnelRule(d) : '') + '\n';
  }
  const arrow = `  -> ${padEnd(dname, 28)}`;
  if (f.stats) return arrow + [st.conns, st.inpkts, st.outpkts, st.inbytes, st.outbytes].map((v) => largeNum(v, f.exact)).join('') + '\n';
  if (f.rate) {
    const raw = [st.cps, st.inpps, st.outpps].map((v) => ' ' + padStart(String(Math.trunc(v)), 8)).join('');
    return arrow + raw + largeNum(st.inbps, f.exact) + largeNum(st.outbps, f.exact) + '\n';
  }
  if (f.thresholds) return `${arrow} ${[d.uThreshold, d.lThreshold, d.activeConns, d.inactConns].map((v) => padEnd(u(v), 10)).join(' ')}\n`;
  if (f.persistentConn) {
    return `${arrow} ${padEnd(u(d.weight), 9)} ${padEnd(u(d.persistConns), 11)} ${padEnd(u(d.activeConns), 10)} ${padEnd(u(d.inactConns), 10)}\n`;
  }
  const weight = padEnd(String(d.weight | 0), 6);
  if (f.tunInfo) {
    return `${arrow} ${padEnd(FWD_NAME[d.fwd], 7)} ${padEnd(tunInfo(d), 13)} ${weight} ${padEnd(u(d.activeConns), 10)} ${padEnd(u(d.inactConns), 10)}\n`;
  }
  return `${arrow} ${padEnd(FWD_NAME[d.fwd], 7)} ${weight} ${padEnd(u(d.activeConns), 10)} ${padEnd(u(d.inactConns), 10)}\n`;
}

/** print_service_entry: the service line and its real servers (sorted unless --nosort). */
export function serviceEntry(s: ServiceView, f: ListFormat, rule: boolean, names: Names): string {
  const name = serviceName(s, rule, names);
  // A fwmark service reports no protocol, so its ports are never named.
  const proto = s.fwmark ? null : s.protocol;
  const dests = f.nosort ? s.dests : sortDests(s.dests);
  return serviceLine(s, name, f, rule) + dests.map((d) => destLine(d, name, proto, f, rule, names)).join('');
}

/** `-L` of the whole table: header, titles, services. */
export function listAll(info: InfoView, services: readonly ServiceView[], f: ListFormat, names: Names): string {
  const svcs = f.nosort ? services : sortServices(services);
  return headerLine(info) + titleLines(f) + svcs.map((s) => serviceEntry(s, f, false, names)).join('');
}

/** `-L -t ...`: titles and the one service. */
export function listService(s: ServiceView, f: ListFormat, names: Names): string {
  return titleLines(f) + serviceEntry(s, f, false, names);
}

/** `-S`: rules only, always sorted. */
export function saveRules(services: readonly ServiceView[], f: ListFormat, names: Names): string {
  const sorted = { ...f, nosort: false };
  return sortServices(services).map((s) => serviceEntry(s, sorted, true, names)).join('');
}

export function timeoutLine(t: Timeouts): string {
  return `Timeout (tcp tcpfin udp): ${t.tcp | 0} ${t.tcpfin | 0} ${t.udp | 0}\n`;
}

/**
 * list_daemon: master then backup; optional parts only when reported. With
 * `stats` (lvsd's -L --daemon --stats), each daemon's counters follow its line,
 * indented, in the order its plugin gives them.
 */
export function daemonLines(ds: readonly SyncDaemonSpec[], stats?: readonly DaemonStatsView[]): string {
  const order = [...ds.filter((d) => d.state === 'master'), ...ds.filter((d) => d.state === 'backup')].slice(0, 2);
  return order.map((d) => {
    let l = `${d.state} sync daemon (mcast=${d.mcastIfn}, syncid=${d.syncid}`;
    if (d.maxlen) l += `, maxlen=${d.maxlen}`;
    if (d.group) l += `, group=${d.group}`;
    if (d.port) l += `, port=${d.port}`;
    if (d.ttl) l += `, ttl=${d.ttl}`;
    l += ')\n';
    if (stats) {
      const c = Object.entries(stats.find((s) => s.state === d.state)?.counters ?? {});
      l += c.length ? `  ${c.map(([k, v]) => `${k} ${v}`).join(', ')}\n` : '  (no counters reported)\n';
    }
    return l;
  }).join('');
}

const CONN_PROTO: Record<ConnView['protocol'], string> = { tcp: 'TCP', udp: 'UDP', sctp: 'SCTP', ip: 'IP' };

/** list_conn: the two title lines and one row per entry, in the order given. */
export function connLines(conns: readonly ConnView[], f: ListFormat, names: Names): string {
  let out = 'IPVS connection entries\n';
  out += f.persistentConn
    ? `pro expire ${padEnd('state', 11)} ${padEnd('source', 18)} ${padEnd('virtual', 18)} ${padEnd('destination', 18)} ${padEnd('pe name', 16)} pe_data\n`
    : `pro expire ${padEnd('state', 11)} ${padEnd('source', 18)} ${padEnd('virtual', 18)} destination\n`;
  for (const c of conns) {
    const proto: Protocol | null = c.protocol === 'ip' ? null : c.protocol;
    const dfam: Family = c.daddr.includes(':') ? 'inet6' : 'inet';
    const cname = addrPortName(c.family, c.caddr, c.cport, proto, names);
    const vname = addrPortName(c.family, c.vaddr, c.vport, proto, names);
    const dname = addrPortName(dfam, c.daddr, c.dport, proto, names);
    const secs = Math.max(0, Math.trunc(c.expires));
    const expire = `${String(Math.floor(secs / 60)).padStart(2, '0')}:${String(secs % 60).padStart(2, '0')}`;
    const head = `${padEnd(CONN_PROTO[c.protocol], 3)} ${padEnd(expire, 6)} ${padEnd(c.state, 11)} ${padEnd(cname, 18)} ${padEnd(vname, 18)}`;
    // The PE columns swap widths relative to their titles, as ipvsadm prints them.
    out += f.persistentConn && c.peName && c.peData
      ? `${head} ${padEnd(dname, 16)} ${padEnd(c.peName, 18)} ${c.peData ?? ''}\n`
      : `${head} ${dname}\n`;
  }
  return out;
}

/** Every address a listing would show, so they can be resolved up front. */
export function addressesOf(services: readonly ServiceView[]): { family: Family; addr: string }[] {
  const out: { family: Family; addr: string }[] = [];
  for (const s of services) {
    if (!s.fwmark) out.push({ family: s.family, addr: s.addr });
    for (const d of s.dests) out.push({ family: d.family, addr: d.addr });
  }
  return out;
}

export function connAddresses(conns: readonly ConnView[]): { family: Family; addr: string }[] {
  return conns.flatMap((c) => [
    { family: c.family, addr: c.caddr }, { family: c.family, addr: c.vaddr },
    { family: (c.daddr.includes(':') ? 'inet6' : 'inet') as Family, addr: c.daddr },
  ]);
}
