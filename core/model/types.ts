// The service table's vocabulary, in LVS's own words. These plain, JSON-safe
// shapes travel over the control socket and come out of config.ts; the live
// objects in table.ts carry them plus the counters and scheduler state.

import type { Family } from './addr.js';

export type Protocol = 'tcp' | 'udp' | 'sctp';
export const PROTO_NUM: Record<Protocol, number> = { tcp: 6, udp: 17, sctp: 132 };

/** Forwarding method, numbered as the kernel numbers it (IP_VS_CONN_F_*). */
export type FwdMethod = 'masq' | 'local' | 'tunnel' | 'route';
export const FWD_NUM: Record<FwdMethod, number> = { masq: 0, local: 1, tunnel: 2, route: 3 };

export type TunType = 'ipip' | 'gue' | 'gre';
/** IP_VS_TUNNEL_ENCAP_FLAG_*: 0 = nocsum. */
export const TUN_FLAG_CSUM = 1;
export const TUN_FLAG_REMCSUM = 2;

/** Service flags (IP_VS_SVC_F_*). */
export const SVC_F_PERSISTENT = 0x1;
export const SVC_F_ONEPACKET = 0x4;
export const SVC_F_SCHED1 = 0x8;   // scheduler flags: what each means, and its -b word, is the scheduler's
export const SVC_F_SCHED2 = 0x10;  // (SchedulerPlugin.flags); generic words flag-1..3
export const SVC_F_SCHED3 = 0x20;
export const SVC_F_SCHED_MASK = SVC_F_SCHED1 | SVC_F_SCHED2 | SVC_F_SCHED3;

/**
 * What identifies a virtual service: (protocol, VIP, port) or a firewall mark.
 * A fwmark service has `fwmark > 0`; its protocol/addr/port are then unused
 * (kernel convention: protocol tcp, address all-zero, port 0).
 */
export interface ServiceKey {
  family: Family;
  protocol: Protocol;
  addr: string;
  port: number;
  fwmark: number;
}

/** Everything `ipvsadm -A/-E` sets on a service (ip_vs_service_user). */
export interface ServiceSpec extends ServiceKey {
  scheduler: string;
  /** SVC_F_* bits: persistent, one-packet, scheduler flags. */
  flags: number;
  /** Persistence timeout in seconds (meaningful with SVC_F_PERSISTENT). */
  timeout: number;
  /** IPv4: netmask as a host-order u32; IPv6: prefix length 1..128. */
  netmask: number;
  /** Persistence engine name, '' for none. */
  pe: string;
}

export interface DestKey {
  family: Family;
  addr: string;
  port: number;
}

/** Everything `ipvsadm -a/-e` sets on a real server (ip_vs_dest_user). */
export interface DestSpec extends DestKey {
  fwd: FwdMethod;
  weight: number;
  uThreshold: number;
  lThreshold: number;
  tunType: TunType;
  tunPort: number;
  /** 0 nocsum, TUN_FLAG_CSUM, TUN_FLAG_REMCSUM. */
  tunFlags: number;
}

/** The five 64-bit counters and their rate estimates (numbers: < 2^53 in practice). */
export interface StatsView {
  conns: number; inpkts: number; outpkts: number; inbytes: number; outbytes: number;
  cps: number; inpps: number; outpps: number; inbps: number; outbps: number;
}

export interface DestView extends DestSpec {
  activeConns: number;
  inactConns: number;
  persistConns: number;
  stats: StatsView;
}

export interface ServiceView extends ServiceSpec {
  /** Real servers in kernel order: newest added first. */
  dests: DestView[];
  stats: StatsView;
}

export interface Timeouts { tcp: number; tcpfin: number; udp: number }

export interface SyncDaemonSpec {
  state: 'master' | 'backup';
  mcastIfn: string;
  syncid: number;
  maxlen: number;
  group: string;
  port: number;
  ttl: number;
}

export function zeroStats(): StatsView {
  return { conns: 0, inpkts: 0, outpkts: 0, inbytes: 0, outbytes: 0, cps: 0, inpps: 0, outpps: 0, inbps: 0, outbps: 0 };
}

export const DEFAULT_NETMASK_V4 = 0xffffffff;
export const DEFAULT_NETMASK_V6 = 128;

/** Service key as text for logs and config: tcp://VIP:port, fwmark://1, fwmark6://1. */
export function serviceKeyText(k: ServiceKey): string {
  if (k.fwmark > 0) return `${k.family === 'inet6' ? 'fwmark6' : 'fwmark'}://${k.fwmark}`;
  return `${k.protocol}://${k.family === 'inet6' ? `[${k.addr}]` : k.addr}:${k.port}`;
}

export function destKeyText(d: DestKey): string {
  return d.family === 'inet6' ? `[${d.addr}]:${d.port}` : `${d.addr}:${d.port}`;
}
