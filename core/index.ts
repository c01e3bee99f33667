// What `import … from 'lvsd'` gives config.ts and plugins: the one public
// contract. Every built-in plugin imports from here only, exactly as an
// operator's plugin does, so whatever a plugin needs is named below, on
// purpose (no `export *` of internals): changing this list changes the
// contract.

import type { LvsdConfig } from './config/types.js';

/** Identity at run time; gives config.ts its types. */
export function defineConfig(config: LvsdConfig): LvsdConfig {
  return config;
}

// ------------------------------------------------------------------ plugin kinds
export {
  defineScheduler, defineForwarder, defineHealthCheck, defineClassifier, defineSync,
  FWD_SENT, FWD_TTL, FWD_MTU, FWD_NO_ROUTE, FWD_NO_ROOM, FWD_BAD,
} from './plugin.js';
export type {
  SchedulerPlugin, SchedService, SchedDest, SchedPacket, SchedContext, SchedFlagWords,
  ForwarderPlugin, ForwarderCaps, FrameView, FwdPacket, FwdIo, FwdDest, FwdLink,
  HealthCheckPlugin, HealthTarget, HealthResult, HealthContext, HealthFailure, HealthDefaults, HealthOptionsResult,
  ClassifierPlugin, SyncPlugin, SyncHandle,
} from './plugin.js';

// ------------------------------------------------------------------ vocabulary (ipvsadm / the kernel's uapi)
export type { Family } from './model/addr.js';
export type {
  Protocol, FwdMethod, TunType, ServiceKey, ServiceSpec, DestKey, DestSpec,
} from './model/types.js';
export {
  SVC_F_PERSISTENT, SVC_F_ONEPACKET, SVC_F_SCHED1, SVC_F_SCHED2, SVC_F_SCHED3, SVC_F_SCHED_MASK,
  TUN_FLAG_CSUM, TUN_FLAG_REMCSUM,
} from './model/types.js';
/** Addresses as the kernel hashes them (schedulers). */
export { addrWords, addrFold32 } from './model/addr.js';
/** Address text ↔ numbers and bytes (strict: dotted quads without leading zeros, IPv6 without zones; text as inet_ntop prints it). */
export { ipv4ToU32, u32ToIpv4, ipv6ToBytes, bytesToIpv6 } from './model/addr.js';

// ------------------------------------------------------------------ packets: the parse result
// FwdPacket.r / the parse of a frame: F_* are indexes into it, offsets are absolute in the buffer.
export {
  F_KIND, F_ETHERTYPE, F_VLAN_COUNT, F_VLAN0, F_VLAN1, F_FRAME_OFF, F_FRAME_LEN,
  F_L3_OFF, F_FAMILY, F_IP_HLEN, F_IP_LEN, F_PROTO, F_TTL, F_TOS, F_IP_ID, F_FRAG, F_FRAG_OFF,
  F_SRC_OFF, F_DST_OFF, F_SADDR4, F_DADDR4,
  F_L4_OFF, F_L4_LEN, F_SPORT, F_DPORT, F_TCP_FLAGS, F_L4_HLEN, F_PAYLOAD_OFF, F_CSUM_OFF,
  F_ICMP_TYPE, F_ICMP_CODE, F_ICMP_MTU, F_SCTP_CHUNK, F_SCTP_CHUNK2, F_FLAGS,
  F_IN_L3_OFF, F_IN_FAMILY, F_IN_HLEN, F_IN_PROTO, F_IN_SRC_OFF, F_IN_DST_OFF, F_IN_L4_OFF,
  F_IN_SPORT, F_IN_DPORT, F_IN_LEN, F_IN_ERR, F_IN_FRAG,
  KIND_OTHER, KIND_ARP, KIND_IPV4, KIND_IPV6,
  FRAG_DF, FRAG_MF, FRAG_IS, FRAG_NONFIRST, FRAG_ATOMIC,
  PF_VLAN, PF_IP_OPTIONS, PF_IP6_EXT, PF_ICMP_ERROR, PF_PORTS, PF_L2_PADDING, PF_IP6_ROUTING,
  TCP_FIN, TCP_SYN, TCP_RST, TCP_PSH, TCP_ACK, TCP_URG,
  IPPROTO_ICMP, IPPROTO_IPIP, IPPROTO_TCP, IPPROTO_UDP, IPPROTO_IPV6, IPPROTO_GRE, IPPROTO_ICMPV6, IPPROTO_SCTP,
  ETH_P_IP, ETH_P_IPV6,
} from './packet/parse.js';

// ------------------------------------------------------------------ packets: checksums (full sums, RFC 1624 updates)
export {
  rd16, wr16, rd32, wr32,
  inetSum, foldSum, inetChecksum, pseudoSum, l4Checksum, verifyL4Sum,
  ipv4HeaderChecksum, fillIpv4HeaderChecksum, verifyIpv4Header,
  crc32c, sctpChecksum, fillSctpChecksum, verifySctp,
  csumReplace16, csumReplace32, CSUM_NONE, CSUM_TCP, CSUM_UDP, CSUM_PARTIAL, rewrite16, rewriteAddr4, rewriteAddr6,
  decTtl4, decHopLimit6,
} from './packet/checksum.js';

// ------------------------------------------------------------------ packets: offloads (FwdPacket.gsoType / csumPartial)
export { GSO_NONE, GSO_TCPV4, GSO_TCPV6, GSO_UDP_L4, GSO_ECN, completePartial } from './packet/gso.js';

// ------------------------------------------------------------------ packets: header writers (tunnels)
export { outerTos, writeOuterIpv4, writeOuterIpv6 } from './packet/build.js';

// ------------------------------------------------------------------ control-plane plugin kinds: sync, failover
export { defineFailover } from './plugin.js';
export type {
  FailoverPlugin, ControlContext, ControlTable, ControlBus, ControlHandle, RegistryView, SyncEvent, FailoverEvent,
  ConnSync, SyncConn, VipHold,
} from './plugin.js';
export type { SyncSettings, SyncInstallCounts } from './conn/sync.js';
export { SYNC_DEFAULTS } from './conn/sync.js';
/** Connection flag bits and states as the sync protocol carries them (IP_VS_CONN_F_*). */
export {
  CF_FWD_MASK, CF_MASQ, CF_LOCALNODE, CF_TUNNEL, CF_DROUTE, CF_BYPASS, CF_SYNC, CF_HASHED, CF_NOOUTPUT, CF_INACTIVE,
  CF_OUT_SEQ, CF_IN_SEQ, CF_NO_CPORT, CF_TEMPLATE, CF_ONE_PACKET, CF_NFCT,
} from './conn/states.js';
export type { BusEvents, FailoverInstanceView } from './bus.js';
export type { TableEvent, ChangeSource } from './model/events.js';
export type { ServiceView, DestView, Timeouts, SyncDaemonSpec } from './model/types.js';
export type { ConnView, InfoView } from './control/protocol.js';
export type { Result, Errno, TableError } from './errors.js';
export type { Logger } from './log.js';
export type { Clock, TimerHandle } from './clock.js';
/** The schema library plugin options are written in (the one the config's schema uses). */
export { z } from 'zod';

// ------------------------------------------------------------------ config types; what health check plugins need
export type {
  LvsdConfig, ServiceConfig, RealServerConfig, SorryServerConfig, PersistenceConfig, TunnelConfig, SlowStartConfig,
  HealthCheckConfig, HealthCommonConfig, ScheduleConfig, ScheduleTarget, InterfaceConfig, ForwardMode, Command,
  PluginConfigKeys,
} from './config/types.js';
export { commandArgv, runProgram, type RunResult } from './health/script.js';
