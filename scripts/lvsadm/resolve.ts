// Name lookups as ipvsadm does them through the C library: host names through
// /etc/hosts then DNS (gethostbyname / gethostbyaddr), port names through
// /etc/services (getservbyname / getservbyport). DNS is asked with a short
// timeout, so a box without network lists numerically instead of hanging.
//
// Test hooks (environment): LVSADM_HOSTS_FILE and LVSADM_SERVICES_FILE replace
// the two files, LVSADM_DNS=off skips DNS, LVSADM_DNS_TIMEOUT_MS sets the wait.

import { readFileSync } from 'node:fs';
import { promises as dnsPromises } from 'node:dns';
import { bytesToIpv6, ipv6ToBytes, type Family } from '../../core/model/addr.js';

export type ProtoName = 'tcp' | 'udp' | 'sctp';

/** What parsing and formatting need from the system's name services. */
export interface NameService {
  /** gethostbyname(): the first IPv4 address of a name, or null. */
  hostToAddr(name: string): Promise<string | null>;
  /** gethostbyaddr(): the canonical name of an address, or null. */
  addrToHost(family: Family, addr: string): Promise<string | null>;
  /** getservbyname(): the port of a service name for a protocol, or null. */
  serviceToPort(name: string, proto: ProtoName): number | null;
  /** getservbyport(): the official service name of a port, or null. */
  portToService(port: number, proto: ProtoName): string | null;
}

export interface HostEntry { family: Family; addr: string; names: string[] }
export interface ServEntry { name: string; aliases: string[]; port: number; proto: string }

/** /etc/hosts lines: address, canonical name, aliases; '#' starts a comment. */
export function parseHosts(text: string): HostEntry[] {
  const out: HostEntry[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.replace(/#.*/, '').trim();
    if (!line) continue;
    const [addr, ...names] = line.split(/[ \t]+/);
    if (!addr || names.length === 0) continue;
    const v4 = inetPton4(addr);
    if (v4 !== null) { out.push({ family: 'inet', addr: v4, names }); continue; }
    const v6 = ipv6ToBytes(addr);
    if (v6) out.push({ family: 'inet6', addr: bytesToIpv6(v6), names });
  }
  return out;
}

/** /etc/services lines: `name port/proto aliases...`. */
export function parseServices(text: string): ServEntry[] {
  const out: ServEntry[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.replace(/#.*/, '').trim();
    if (!line) continue;
    const [name, pp, ...aliases] = line.split(/[ \t]+/);
    const m = /^(\d+)\/(\S+)$/.exec(pp ?? '');
    if (!name || !m) continue;
    const port = Number(m[1]);
    if (port > 65535) continue;
    out.push({ name, aliases, port, proto: m[2]! });
  }
  return out;
}

/** Strict dotted quad (inet_pton AF_INET): four decimal parts, no leading zeros beyond one digit. */
export function inetPton4(s: string): string | null {
  const parts = s.split('.');
  if (parts.length !== 4) return null;
  for (const p of parts) {
    if (!/^\d{1,3}$/.test(p) || Number(p) > 255 || (p.length > 1 && p[0] === '0')) return null;
  }
  return parts.map(Number).join('.');
}

/**
 * An /etc/hosts address as glibc's files backend reads it for a lookup of
 * `family`: for IPv4, a v4-mapped line gives its IPv4 part and ::1 gives
 * 127.0.0.1 (other IPv6 lines are skipped); for IPv6, IPv4 lines are mapped.
 */
export function hostsAddrAs(e: HostEntry, family: Family): string | null {
  if (e.family === family) return e.addr;
  if (family === 'inet6') return `::ffff:${e.addr}`;
  if (e.addr === '::1') return '127.0.0.1';
  const m = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(e.addr);
  return m ? m[1]! : null;
}

/** gethostbyname() from the files backend: the first line naming it (any case). */
export function lookupHostsByName(entries: readonly HostEntry[], name: string): string | null {
  const n = name.toLowerCase();
  for (const e of entries) {
    if (!e.names.some((x) => x.toLowerCase() === n)) continue;
    const a = hostsAddrAs(e, 'inet');
    if (a !== null) return a;
  }
  return null;
}

/** gethostbyaddr() from the files backend: the canonical name of the first matching line. */
export function lookupHostsByAddr(entries: readonly HostEntry[], family: Family, addr: string): string | null {
  for (const e of entries) if (hostsAddrAs(e, family) === addr) return e.names[0] ?? null;
  return null;
}

export function lookupServByName(entries: readonly ServEntry[], name: string, proto: ProtoName): number | null {
  for (const e of entries) if (e.proto === proto && (e.name === name || e.aliases.includes(name))) return e.port;
  return null;
}

export function lookupServByPort(entries: readonly ServEntry[], port: number, proto: ProtoName): string | null {
  for (const e of entries) if (e.proto === proto && e.port === port) return e.name;
  return null;
}

function readOr(path: string): string {
  try { return readFileSync(path, 'utf8'); } catch { return ''; }
}

/** Races a promise against a timer; the timer never keeps the process alive. */
function withTimeout<T>(p: Promise<T>, ms: number, onTimeout: () => void): Promise<T | null> {
  return new Promise((resolve) => {
    const t = setTimeout(() => { onTimeout(); resolve(null); }, ms);
    t.unref();
    p.then((v) => { clearTimeout(t); resolve(v); }, () => { clearTimeout(t); resolve(null); });
  });
}

/** The real system: files first, then DNS with a short timeout. */
export function systemNameService(env: NodeJS.ProcessEnv = process.env): NameService {
  let hosts: HostEntry[] | null = null;
  let services: ServEntry[] | null = null;
  const hostsFile = (): HostEntry[] => (hosts ??= parseHosts(readOr(env['LVSADM_HOSTS_FILE'] ?? '/etc/hosts')));
  const servFile = (): ServEntry[] => (services ??= parseServices(readOr(env['LVSADM_SERVICES_FILE'] ?? '/etc/services')));
  const dnsOn = env['LVSADM_DNS'] !== 'off';
  const timeoutMs = Number(env['LVSADM_DNS_TIMEOUT_MS'] ?? '1000') || 1000;
  let resolver: dnsPromises.Resolver | null = null;
  const dns = (): dnsPromises.Resolver => (resolver ??= new dnsPromises.Resolver({ timeout: timeoutMs, tries: 1 }));

  return {
    async hostToAddr(name) {
      const f = lookupHostsByName(hostsFile(), name);
      if (f !== null) return f;
      // glibc answers all-digits-and-dots names itself: not an address means not found.
      if (!dnsOn || name === '' || /^[0-9.]+$/.test(name) || name.includes(':')) return null;
      const r = dns();
      const a = await withTimeout(r.resolve4(name), timeoutMs + 200, () => r.cancel());
      return a?.[0] ?? null;
    },
    async addrToHost(family, addr) {
      const f = lookupHostsByAddr(hostsFile(), family, addr);
      if (f !== null) return f;
      if (!dnsOn) return null;
      const r = dns();
      const names = await withTimeout(r.reverse(addr), timeoutMs + 200, () => r.cancel());
      return names?.[0] ?? null;
    },
    serviceToPort: (name, proto) => lookupServByName(servFile(), name, proto),
    portToService: (port, proto) => lookupServByPort(servFile(), port, proto),
  };
}
