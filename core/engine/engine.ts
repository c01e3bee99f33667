// The packet pipeline (DESIGN.md "The way a packet goes"): parse → classify
// (fwmark plugins) → connection lookup → service lookup → persistence
// template → scheduler plugin → forwarding plugin → tx batch. One Engine is
// one data-plane worker: it owns its connection table; the services, real
// servers and scheduler state it reads are those of the ServiceTable it is
// given (a data-plane replica's, replica.ts), whose events it follows
// (tableEvent: its owner wires the table's onEvent to it). Nothing per packet
// allocates: the parse result, the forwarder's packet object and the
// scheduler's packet view are reused; connections live in typed arrays.
//
// Frames the pipeline cannot use are counted by reason (`drops`, drops.ts),
// never thrown. The steps that are things of their own live beside it: the
// service index (service-index.ts), real servers by handle and the batch's
// counters (handles.ts), the persistence template (persist.ts), the ICMP
// relay's rules (icmp.ts) and `--explain` tracing (explain.ts). This file
// sequences them and calls the plugins.

import { ConnTable, EXIST_DROP, EXIST_USE, loadAddr, type ConnSysctls } from '../conn/table.js';
import { CF_FWD_MASK, CF_HASHED, CF_INACTIVE, CF_ONE_PACKET, CF_TEMPLATE, DIR_INPUT, DIR_OUTPUT, sctpEvent } from '../conn/states.js';
import type { ConnView } from '../control/protocol.js';
import { bytesToIpv6, ipv4ToU32, ipv6ToBytes, u32ToIpv4 } from '../model/addr.js';
import { fillSctpChecksum, rd32 } from '../packet/checksum.js';
import type { Dest, Service, ServiceTable } from '../model/table.js';
import type { TableEvent } from '../model/events.js';
import { FWD_NUM, SVC_F_ONEPACKET, SVC_F_PERSISTENT, type Protocol } from '../model/types.js';
import {
  DROP_NONE, F_CSUM_OFF, F_DADDR4, F_DPORT, F_DST_OFF, F_FAMILY, F_FLAGS, F_FRAG, F_IP_LEN, F_KIND, F_L3_OFF, F_L4_LEN, F_L4_OFF,
  F_PAYLOAD_OFF, F_PROTO,
  F_SADDR4, F_SCTP_CHUNK, F_SCTP_CHUNK2, F_SPORT, F_SRC_OFF, F_TCP_FLAGS, FRAG_IS, IPPROTO_ICMP, IPPROTO_ICMPV6,
  IPPROTO_SCTP, IPPROTO_TCP, IPPROTO_UDP, KIND_ARP, KIND_IPV4, KIND_IPV6, PF_PORTS, SCTP_INIT, TCP_RST, TCP_SYN,
  createParseResult, parseFrame,
} from '../packet/parse.js';
import {
  FWD_NO_ROUTE, FWD_SENT,
  type ClassifierPlugin, type ForwarderPlugin, type FrameView, type FwdDest, type FwdLink, type FwdPacket,
  type SchedContext, type SchedPacket,
} from '../plugin.js';
import { FrameBatch, HEADROOM, MAX_FRAME, type TxBatch } from './batch.js';
import {
  GSO_ECN, GSO_NONE, GSO_TCPV4, GSO_TCPV6, GSO_UDP_L4, completePartial, segment, type SegmentSource,
} from '../packet/gso.js';
import {
  D_ARP, D_CONN_LIMIT, D_DEST_UNAVAILABLE, D_FRAGMENT, D_GSO_BAD, D_GSO_NO_ROOM, D_BACKUP_ONLY, D_FOREIGN_VIP, D_ICMP_NOT_NAT, D_INTERNAL, D_NOT_HOST, D_NOT_IP, D_NO_CONN, D_NO_DEST, D_NO_FORWARDER, D_NO_SERVICE, D_PORT_ZERO, D_UNKNOWN_PROTO,
  DROP_COUNT, ENGINE_DROP_NAMES, FWD_BASE,
} from './drops.js';
import { ExplainTrace, type ExplainSink } from './explain.js';
import { Handles } from './handles.js';
import type { DestRef } from '../conn/snapshot.js';
import { IcmpRelay, portUnreachable } from './icmp.js';
import { Net, type NetSpec } from './net.js';
import { Persistence, TEMPLATE_NO_KEY, persistConnDport } from './persist.js';
import { ServiceIndex, fold32 } from './service-index.js';
import { Xmit } from './xmit.js';
import { Estimator, EST_INTERVAL_MS } from '../stats/estimator.js';
import { AF_INET, AF_INET6 } from '../conn/store.js';
import {
  SYNC_REC, SyncOutbox, emptyInstallCounts, installSynced, syncConn, type InstallOptions, type SyncBinder,
  type SyncInstallCounts, type SyncSettings,
} from '../conn/sync.js';

const PROTO_NAME: Record<number, Protocol> = { 6: 'tcp', 17: 'udp', 132: 'sctp' };

function wordsToBytes(reg: Uint32Array): Uint8Array {
  const b = new Uint8Array(16);
  for (let i = 0; i < 4; i++) { const w = reg[i]!; b[i * 4] = w >>> 24; b[i * 4 + 1] = (w >>> 16) & 255; b[i * 4 + 2] = (w >>> 8) & 255; b[i * 4 + 3] = w & 255; }
  return b;
}

class Pkt implements FwdPacket {
  buf: Uint8Array = new Uint8Array(0);
  off = 0;
  len = 0;
  room = 0;
  r: Int32Array;
  dest!: FwdDest;
  vaddr = new Uint8Array(16);
  vaddr4 = 0;
  vport = 0;
  link!: FwdLink;
  gsoSize = 0;
  gsoType = 0;
  csumPartial = false;
  constructor(r: Int32Array) { this.r = r; }
}

/** The scheduler's view of a packet; the text addresses are made only if a scheduler asks. */
class SchedPkt implements SchedPacket {
  family: 'inet' | 'inet6' = 'inet';
  protocol: Protocol = 'tcp';
  saddr32 = 0;
  daddr32 = 0;
  sport = 0;
  dport = 0;
  buf: Uint8Array = new Uint8Array(0);
  srcOff = 0;
  dstOff = 0;
  private text(o: number): string {
    if (this.family === 'inet') return u32ToIpv4(((this.buf[o]! << 24) | (this.buf[o + 1]! << 16) | (this.buf[o + 2]! << 8) | this.buf[o + 3]!) >>> 0);
    return bytesToIpv6(this.buf.slice(o, o + 16));
  }
  get saddr(): string { return this.text(this.srcOff); }
  get daddr(): string { return this.text(this.dstOff); }
}

export interface EngineOptions {
  table: ServiceTable;
  /** Forwarding plugins; each serves its `method`. */
  forwarders: readonly ForwarderPlugin[];
  /** Firewall-mark classifiers, asked in order; the first non-zero mark wins. */
  classifiers?: readonly ClassifierPlugin[];
  net: NetSpec;
  /** Bound on tracked entries (connections + templates). */
  maxConns?: number;
  initialConns?: number;
  sysctls?: Partial<ConnSysctls>;
  /** Hash seed for the connection table (tests). */
  seed?: number;
  /** Scheduler context; default the table's. */
  ctx?: SchedContext;
  /** Frames to next hops without a MAC are held in tx (tx.hold) rather than dropped: the I/O resolves them (afpacket). */
  holdUnresolved?: boolean;
  /**
   * Bytes for the segments of aggregates the engine cuts itself (for a
   * forwarder without `aggregates`) in one batch; default 1 MiB. About the
   * receive batch's size and a quarter more (headers repeated, headroom).
   */
  segmentBytes?: number;
  /** The buffer for those segments (the I/O's memory, sent from without a copy); else one of segmentBytes. */
  segmentBuffer?: Uint8Array;
  /**
   * Run the rate estimator on the table (default true). A data-plane replica
   * does not: its host estimates on the daemon's table, where the counters are folded.
   */
  rates?: boolean;
}

export class Engine {
  readonly table: ServiceTable;
  readonly conns: ConnTable;
  net: Net;
  readonly drops = new Float64Array(DROP_COUNT);
  readonly estimator = new Estimator();
  /** Frames processed / transmitted by the pipeline. */
  frames = 0;
  /** Set while an explain sink is: the packet path's one check for tracing. */
  private trace: ExplainTrace | null = null;

  private readonly r = createParseResult();
  private readonly pkt: Pkt;
  private readonly sp = new SchedPkt();
  private readonly fv: FrameView = { buf: new Uint8Array(0), l3: 0, l4: 0, len: 0 };
  private readonly fwd: (ForwarderPlugin | undefined)[] = [];
  /** By method number: 1 when its forwarder sees replies (`replies`), so replies are looked up for it. */
  private readonly fwdReplies = new Uint8Array(CF_FWD_MASK + 1);
  /** By method number: its forwarder's `partialChecksums` and `aggregates` (1 / 0). */
  private readonly fwdPartial = new Uint8Array(CF_FWD_MASK + 1);
  private readonly fwdAggregates = new Uint8Array(CF_FWD_MASK + 1);
  /** The offload state of the frame being processed, from the receive batch (FrameOffload). */
  private inGsoType = 0;
  private inGsoSize = 0;
  private inCsumStart = -1;
  private inCsumOff = 0;
  /** Segments of the aggregates this batch cuts (for forwarders without `aggregates`), alive until the batch is sent. */
  private readonly segs: FrameBatch;
  private readonly segSrc: SegmentSource = {
    buf: new Uint8Array(0), off: 0, l3: 0, family: 4, proto: 6, l4: 0, payload: 0, end: 0, gsoSize: 0, partial: false,
  };
  /** What the segment loop runs each segment through (set per aggregate; bound once, no closure per packet). */
  private segFwd: ForwarderPlugin | null = null;
  private segDir = DIR_INPUT;
  private segPartial = false;
  private segResult = FWD_SENT;
  private readonly segPut = (len: number): number => (this.segResult === FWD_SENT ? this.segs.alloc(len) : -1);
  private readonly segEach = (o: number, len: number): void => this.segmentThrough(o, len);
  private classifiers: readonly ClassifierPlugin[];
  private readonly ctx: SchedContext;
  private xmit: Xmit;
  private readonly cliLink: FwdLink = Net.link();
  /** Real servers by handle (the conn table stores handles), and the batch's traffic by handle. */
  private readonly handles: Handles;
  /** Services by VIP and by fwmark: built from the table once, then kept by its events (tableEvent). */
  private readonly services = new ServiceIndex();
  private readonly persist: Persistence;
  private readonly relay: IcmpRelay;
  private nextEst = -1;
  private readonly rates: boolean;
  /** p.vaddr holds non-zero bytes past the first four (an IPv6 VIP was last). */
  private vaddrWide = false;
  private readonly holdUnresolved: boolean;

  constructor(o: EngineOptions) {
    this.table = o.table;
    this.ctx = o.ctx ?? o.table.opts.ctx;
    this.holdUnresolved = o.holdUnresolved ?? false;
    this.net = new Net(o.net, { holdUnresolved: this.holdUnresolved });
    this.classifiers = o.classifiers ?? [];
    this.setForwarders(o.forwarders);
    this.handles = new Handles(o.table, this.fwd, this.fwdReplies, this.net);
    this.conns = new ConnTable({
      maxConns: o.maxConns ?? 1 << 20, initialCapacity: o.initialConns ?? 1024, seed: o.seed, sysctls: o.sysctls,
    }, this.handles);
    this.persist = new Persistence(this.conns);
    this.relay = new IcmpRelay(this.conns);
    this.pkt = new Pkt(this.r);
    this.segs = new FrameBatch(8192, MAX_FRAME, o.segmentBuffer?.length ?? o.segmentBytes ?? 1 << 20, o.segmentBuffer ?? null);
    this.xmit = new Xmit(this.net, null as unknown as TxBatch);
    this.rates = o.rates ?? true;
    if (this.rates) this.estimator.start(o.table);
    for (const svc of o.table.list()) this.services.add(svc);
    this.setTimeouts();
  }

  /** `lvsd replay --explain`: one line per frame to this sink (null: no tracing). */
  get explain(): ExplainSink | null { return this.trace?.sink ?? null; }
  set explain(sink: ExplainSink | null) { this.trace = sink ? new ExplainTrace(sink) : null; }

  // ------------------------------------------------------------------ control side

  /** New links, neighbours or plugins (a config reload): connections are kept. */
  reconfigure(net: NetSpec, forwarders: readonly ForwarderPlugin[], classifiers: readonly ClassifierPlugin[]): void {
    this.net = new Net(net, { holdUnresolved: this.holdUnresolved });
    this.xmit.setNet(this.net);
    this.handles.net = this.net;
    this.setForwarders(forwarders);
    this.classifiers = classifiers;
    this.refresh();
  }

  private setForwarders(forwarders: readonly ForwarderPlugin[]): void {
    this.fwd.length = 0;
    this.fwdReplies.fill(0);
    this.fwdPartial.fill(0);
    this.fwdAggregates.fill(0);
    for (const f of forwarders) {
      const m = FWD_NUM[f.method];
      this.fwd[m] = f;
      this.fwdReplies[m] = f.replies === true ? 1 : 0;
      this.fwdPartial[m] = f.partialChecksums === true ? 1 : 0;
      this.fwdAggregates[m] = f.aggregates === true ? 1 : 0;
    }
  }

  /** Re-resolve real servers' link data (a new Net) and let go of handles nothing holds any more. */
  refresh(): void { this.handles.refresh(); }

  /** A handle's real server as a connection snapshot names it (core/conn/snapshot.ts); null for a freed handle. */
  destRef(h: number): DestRef | null {
    const i = this.handles.info[h];
    if (!i) return null;
    const k = i.svc.spec;
    return { svc: { family: k.family, protocol: k.protocol, addr: k.addr, port: k.port, fwmark: k.fwmark }, family: i.dest.family, addr: i.dest.addr, port: i.dest.port };
  }

  /** What a handle stands for now (a reused handle: another object), for the connection journal. */
  destIdentity(h: number): object | null { return this.handles.info[h] ?? null; }

  /** The handle of a saved entry's real server in this table, -1 when it is not there (or no longer available). */
  destHandle(ref: DestRef): number {
    const svc = this.table.find(ref.svc);
    const d = svc?.findDest(ref);
    return svc && d && d.available ? this.handles.of(d, svc) : -1;
  }

  // ------------------------------------------------------------------ sync daemon (conn/sync.ts)

  /**
   * backup_only with the backup sync daemon running (the kernel's ip_vs_in
   * returns NF_ACCEPT): client packets are not balanced here, neither new nor
   * of existing entries; NAT replies still are (ip_vs_out has no such check).
   */
  backupOnly = false;

  /**
   * VIPs a failover plugin manages and this director does not hold now (its
   * instance is BACKUP or FAULT): their client packets are left to the host
   * as with backup_only, NAT replies of entries are still handled.
   */
  private foreign4 = new Set<number>();
  private foreign6 = new Uint32Array(0);
  private nForeign = 0;

  setForeignVips(addrs: readonly string[]): void {
    const v4 = new Set<number>();
    const v6: number[] = [];
    for (const a of addrs) {
      if (!a.includes(':')) { const n = ipv4ToU32(a); if (n !== null) v4.add(n >>> 0); continue; }
      const b = ipv6ToBytes(a);
      if (b) for (let i = 0; i < 16; i += 4) v6.push(((b[i]! << 24) | (b[i + 1]! << 16) | (b[i + 2]! << 8) | b[i + 3]!) >>> 0);
    }
    this.foreign4 = v4;
    this.foreign6 = Uint32Array.from(v6);
    this.nForeign = v4.size + v6.length / 4;
  }

  private isForeign(v6: boolean, daddr: number, va: Uint32Array): boolean {
    if (!v6) return this.foreign4.has(daddr);
    const f = this.foreign6;
    for (let i = 0; i < f.length; i += 4) if (f[i] === va[0] && f[i + 1] === va[1] && f[i + 2] === va[2] && f[i + 3] === va[3]) return true;
    return false;
  }

  /** Master role: the sync settings and the records collected since the host last took them. */
  private syncOut: { o: SyncSettings; box: SyncOutbox } | null = null;

  /**
   * Starts (settings) or stops (null) reporting entries to sync after each
   * inbound packet, as a master sync daemon does; records wait in an outbox
   * for takeSynced(). Kept controllers (expiry postponed) are reported too.
   */
  setSyncOut(o: SyncSettings | null): void {
    if (!o) { this.syncOut = null; this.conns.onKeep = null; return; }
    const box = this.syncOut?.box ?? new SyncOutbox();
    this.syncOut = { o: { ...o }, box };
    this.conns.onKeep = (e) => { const so = this.syncOut; if (so) syncConn(this.conns, e, so.o.threshold, so.o, so.box); };
  }

  /** The records to sync collected so far (null when none), and how many the outbox could not keep since the last call. */
  takeSynced(): { records: Uint8Array; dropped: number } | null {
    const so = this.syncOut;
    if (!so || (so.box.count === 0 && so.box.dropped === 0)) return null;
    const dropped = so.box.dropped;
    so.box.dropped = 0;
    return { records: so.box.take(), dropped };
  }

  /** Every live entry as a sync record (a resync: a backup that joins learns the whole table at once). */
  syncDump(): Uint8Array {
    const box = new SyncOutbox(Number.MAX_SAFE_INTEGER);
    const s = this.conns.s;
    // templates first, so that a backup finds them when the connections they control arrive
    for (let pass = 0; pass < 2; pass++) {
      for (let e = 0; e < s.end; e++) {
        if (s.af[e] === 0 || (s.flags[e]! & CF_HASHED) === 0) continue;
        if ((pass === 0) !== ((s.flags[e]! & CF_TEMPLATE) !== 0)) continue;
        box.add(this.conns, e);
      }
    }
    return box.take();
  }

  /** A backup's received records into this replica's table (conn/sync.ts installSynced). */
  installSynced(records: Uint8Array, o: InstallOptions, counts: SyncInstallCounts = emptyInstallCounts()): SyncInstallCounts {
    if (records.byteLength < SYNC_REC) return counts;
    return installSynced(this.conns, records, this.binder, o, counts);
  }

  /** How a synced entry finds its real server: by the table's keys (a rare path: strings are fine). */
  private readonly binder: SyncBinder = {
    bind: (af, proto, fwmark, va, vport, da, dport) => {
      const family = af === AF_INET6 ? 'inet6' : 'inet';
      const text = (reg: Uint32Array): string => (af === AF_INET6 ? bytesToIpv6(wordsToBytes(reg)) : u32ToIpv4(reg[0]!));
      let svc = fwmark !== 0 ? this.table.find({ family, protocol: 'tcp', addr: family === 'inet6' ? '::' : '0.0.0.0', port: 0, fwmark }) : undefined;
      const protocol = PROTO_NAME[proto];
      if (!svc && protocol) svc = this.table.find({ family, protocol, addr: text(va), port: vport, fwmark: 0 });
      const d = svc?.findDest({ family, addr: text(da), port: dport });
      return svc && d && d.available ? this.handles.of(d, svc) : -1;
    },
    connFlags: (h) => (this.handles.info[h]?.connFlags ?? 0) | CF_INACTIVE,
  };

  /** Real-server handles in use (live Dest objects the engine resolves), for tests and stats. */
  get handleCount(): number { return this.handles.size; }

  /**
   * The table's own announcement of a change (its `onEvent`): the engine
   * follows it at once, in O(change), instead of looking at the table per batch.
   */
  tableEvent(ev: TableEvent): void {
    switch (ev.type) {
      case 'service.added': {
        const svc = this.table.find(ev.service);
        if (svc) this.services.add(svc);
        break;
      }
      case 'service.removed': this.services.remove(ev.service); this.handles.deleted(); break;
      case 'table.flushed':
        this.services.clear();
        this.handles.deleted();
        break;
      case 'dest.added': case 'dest.changed': {
        // a revived dest (same object, a handle held by its old connections) or a new method, address data
        const d = this.table.find(ev.service)?.findDest(ev.dest);
        if (d) this.handles.changedDest(d);
        break;
      }
      case 'dest.removed': this.handles.deleted(); break;
      case 'timeouts.changed': this.setTimeouts(); break;
      default: break;   // counters (-Z: the host's, not a replica's), sync daemons: nothing on the packet path
    }
  }

  private setTimeouts(): void {
    const t = this.table.timeouts;
    this.conns.timeouts.set(t.tcp, t.tcpfin, t.udp);
  }

  /** The real servers (with their service) whose counters or connection counts changed since the last call. */
  takeChanged(): Map<Dest, Service> { return this.handles.takeChanged(); }

  /** Live connection entries, as `lvsadm -L -c` lists them (at most `max`). */
  connViews(max = Infinity): ConnView[] {
    const out: ConnView[] = [];
    for (const v of this.conns.views()) {
      if (out.length >= max) break;
      out.push(v);
    }
    return out;
  }

  /** Drop counters by name (non-zero ones). */
  dropCounts(): Record<string, number> {
    const o: Record<string, number> = {};
    this.drops.forEach((v, i) => { if (v > 0 && i !== DROP_NONE) o[ENGINE_DROP_NAMES[i]!] = v; });
    if (this.conns.s.fullDrops > 0) o['conn-table-full'] = this.conns.s.fullDrops;
    if (this.xmit.txFull > 0) o['tx-full'] = this.xmit.txFull;
    if (this.xmit.icmpNoRoute > 0) o['icmp-no-route'] = this.xmit.icmpNoRoute;
    return o;
  }

  // ------------------------------------------------------------------ time

  /** Advance the clock (ms): connection expiry and, every 2 s, the rate estimator. */
  advance(now: number): void {
    if (this.nextEst < 0) this.nextEst = now + EST_INTERVAL_MS;
    this.conns.advance(now);
    while (now >= this.nextEst) {
      if (this.rates) this.estimator.tick(this.table);
      this.nextEst += EST_INTERVAL_MS;
    }
  }

  // ------------------------------------------------------------------ data path

  /** Runs a receive batch through the pipeline into `tx` at time `now` (ms). */
  process(rx: FrameBatch, tx: TxBatch, now: number): void {
    this.advance(now);
    this.xmit.tx = tx;
    this.segs.clear();
    const n = rx.count;
    this.frames += n;
    if (this.trace) this.processExplain(rx);
    else {
      // The guard is around the loop, not each frame: a frame that throws (a
      // bug) is counted and the loop resumes with the next one.
      let i = 0;
      while (i < n) {
        try {
          for (; i < n; i++) {
            this.offloadOf(rx, i);
            this.frame(rx.buf, rx.off[i]!, rx.len[i]!, rx.port[i]!, rx.room(i));
          }
        } catch {
          this.drops[D_INTERNAL] = this.drops[D_INTERNAL]! + 1;
          i++;
        }
      }
    }
    this.handles.flush(this.table.total);
  }

  /** `lvsd replay --explain`: one line per frame. */
  private processExplain(rx: FrameBatch): void {
    for (let i = 0; i < rx.count; i++) {
      try {
        this.offloadOf(rx, i);
        this.frame(rx.buf, rx.off[i]!, rx.len[i]!, rx.port[i]!, rx.room(i));
      } catch (e) {
        this.drops[D_INTERNAL] = this.drops[D_INTERNAL]! + 1;
        this.trace?.internal(e);
      }
      this.trace?.end();
    }
  }

  private offloadOf(rx: FrameBatch, i: number): void {
    this.inGsoType = rx.gsoType[i]!;
    this.inGsoSize = rx.gsoSize[i]!;
    this.inCsumStart = rx.csumStart[i]!;
    this.inCsumOff = rx.csumOff[i]!;
  }

  /**
   * The frame's offload state onto the packet: a partial checksum stays
   * partial only where the parse found the TCP/UDP checksum field it names
   * (else it is completed here, as skb_checksum_help would: SCTP's CRC32c,
   * anything else as an internet checksum); an aggregate must be TCP
   * (GSO_TCPV4/6) or UDP (GSO_UDP_L4) of its family. False: dropped.
   */
  private offloads(buf: Uint8Array, off: number, r: Int32Array, proto: number): boolean {
    const p = this.pkt;
    p.csumPartial = false;
    p.gsoSize = 0;
    p.gsoType = GSO_NONE;
    const cs = this.inCsumStart;
    const end = r[F_L3_OFF]! + r[F_IP_LEN]!;
    if (cs >= 0) {
      const start = off + cs, field = start + this.inCsumOff;
      if (start === r[F_L4_OFF] && field === r[F_CSUM_OFF] && (proto === IPPROTO_TCP || proto === IPPROTO_UDP)) p.csumPartial = true;
      else if (proto === IPPROTO_SCTP && start === r[F_L4_OFF]) fillSctpChecksum(buf, start, r[F_L4_LEN]!);
      else completePartial(buf, start, field, end);
    }
    const gs = this.inGsoSize;
    const gt = this.inGsoType & ~GSO_ECN;
    if (gs === 0 || gt === GSO_NONE) return true;
    const v6 = r[F_FAMILY] === 6;
    const ok = gt === GSO_UDP_L4 ? proto === IPPROTO_UDP : proto === IPPROTO_TCP && gt === (v6 ? GSO_TCPV6 : GSO_TCPV4);
    if (!ok || r[F_PAYLOAD_OFF]! <= 0) { this.drop(D_GSO_BAD); return false; }
    // one segment's worth or less is a plain packet
    if (end - r[F_PAYLOAD_OFF]! <= gs) return true;
    p.gsoSize = gs;
    p.gsoType = this.inGsoType;
    return true;
  }

  private drop(reason: number): void {
    this.drops[reason] = this.drops[reason]! + 1;
    this.trace?.drop(reason);
  }

  private frame(buf: Uint8Array, off: number, len: number, port: number, room: number): void {
    const r = this.r;
    const why = parseFrame(buf, off, len, r, 0);
    if (why !== DROP_NONE) return this.drop(why);
    const kind = r[F_KIND]!;
    if (kind !== KIND_IPV4 && kind !== KIND_IPV6) return this.drop(kind === KIND_ARP ? D_ARP : D_NOT_IP);
    if (!this.net.isHost(port, buf, off)) return this.drop(D_NOT_HOST);
    if ((r[F_FRAG]! & FRAG_IS) !== 0) return this.drop(D_FRAGMENT);
    const p = this.pkt;
    p.buf = buf; p.off = off; p.len = len; p.room = room;
    const proto = r[F_PROTO]!;
    if (!this.offloads(buf, off, r, proto)) return;
    if (proto === IPPROTO_ICMP || proto === IPPROTO_ICMPV6) return this.icmp(buf, r, proto);
    if ((proto !== IPPROTO_TCP && proto !== IPPROTO_UDP && proto !== IPPROTO_SCTP) || (r[F_FLAGS]! & PF_PORTS) === 0) {
      return this.drop(D_UNKNOWN_PROTO);
    }
    const v6 = r[F_FAMILY] === 6;
    const sport = r[F_SPORT]!, dport = r[F_DPORT]!;
    const s = this.conns.s;
    const saddr = r[F_SADDR4]! >>> 0, daddr = r[F_DADDR4]! >>> 0;
    let e: number;
    if (!v6) e = this.conns.lookupIn4(proto, saddr, sport, daddr, dport);
    else {
      loadAddr(s.ca, buf, r[F_SRC_OFF]!, 6); loadAddr(s.va, buf, r[F_DST_OFF]!, 6);
      e = this.conns.lookupIn6(proto, sport, dport);
    }
    if (this.backupOnly || (this.nForeign > 0 && this.isForeign(v6, daddr, s.va))) {
      // only a NAT reply is ours now (below, the usual path otherwise)
      const why = this.backupOnly ? D_BACKUP_ONLY : D_FOREIGN_VIP;
      if (!v6) e = this.conns.lookupOut4(proto, saddr, sport, daddr, dport);
      else { loadAddr(s.da, buf, r[F_SRC_OFF]!, 6); loadAddr(s.ca, buf, r[F_DST_OFF]!, 6); e = this.conns.lookupOut6(proto, sport, dport); }
      if (e >= 0 && this.fwdReplies[s.flags[e]! & CF_FWD_MASK] === 1) return this.outbound(e, proto);
      return this.drop(why);
    }
    const tflags = r[F_TCP_FLAGS]!;
    const newConn = proto === IPPROTO_TCP ? (tflags & TCP_SYN) !== 0 && (tflags & TCP_RST) === 0
      : proto === IPPROTO_SCTP ? r[F_SCTP_CHUNK] === SCTP_INIT : false;
    if (e >= 0) {
      const d = this.conns.decideExisting(e, newConn, false);
      if (d === EXIST_DROP) return this.drop(D_DEST_UNAVAILABLE);
      if (d === EXIST_USE) {
        this.trace?.say('connection hit');
        return this.inbound(e, proto);
      }
      this.trace?.say('old entry expired, rescheduling');
    } else {
      // a reply from a real server whose method sees replies (NAT)?
      if (!v6) e = this.conns.lookupOut4(proto, saddr, sport, daddr, dport);
      else {
        loadAddr(s.da, buf, r[F_SRC_OFF]!, 6); loadAddr(s.ca, buf, r[F_DST_OFF]!, 6);
        e = this.conns.lookupOut6(proto, sport, dport);
      }
      if (e >= 0 && this.fwdReplies[s.flags[e]! & CF_FWD_MASK] === 1) return this.outbound(e, proto);
      if (v6) { loadAddr(s.ca, buf, r[F_SRC_OFF]!, 6); loadAddr(s.va, buf, r[F_DST_OFF]!, 6); }
    }
    // new connection
    const mark = this.classifiers.length > 0 ? this.classify(buf, len, r) : 0;
    const svc = this.services.find(v6, proto, buf, r[F_DST_OFF]!, daddr, dport, mark);
    if (!svc) return this.drop(D_NO_SERVICE);
    this.trace?.service(svc, v6);
    if (proto === IPPROTO_UDP ? false : !newConn) return this.drop(D_NO_CONN);
    this.schedule(svc, v6, proto, buf, r, saddr, sport, daddr, dport, mark);
  }

  private classify(buf: Uint8Array, len: number, r: Int32Array): number {
    const fv = this.fv;
    fv.buf = buf; fv.l3 = r[F_L3_OFF]!; fv.l4 = r[F_L4_OFF]!; fv.len = len;
    for (const c of this.classifiers) {
      const m = c.classify(fv) >>> 0;
      if (m !== 0) return m;
    }
    return 0;
  }

  private pickDest(svc: Service, v6: boolean, proto: number, buf: Uint8Array, r: Int32Array, saddr: number, sport: number, daddr: number, dport: number): Dest | null {
    if (!svc.sched) return null;
    const sp = this.sp;
    sp.family = v6 ? 'inet6' : 'inet';
    sp.protocol = PROTO_NAME[proto]!;
    sp.buf = buf; sp.srcOff = r[F_SRC_OFF]!; sp.dstOff = r[F_DST_OFF]!;
    sp.saddr32 = v6 ? fold32(buf, sp.srcOff) : saddr;
    sp.daddr32 = v6 ? fold32(buf, sp.dstOff) : daddr;
    sp.sport = sport; sp.dport = dport;
    const d = svc.sched.schedule(svc, svc.schedState, sp, this.ctx);
    return d ? d as Dest : null;
  }

  /** schedulers.md §0.5: no real server: ICMP (v6) port unreachable to the client, packet dropped. */
  private noDest(): void {
    portUnreachable(this.xmit, this.pkt, this.r);
    this.drop(D_NO_DEST);
  }

  private schedule(svc: Service, v6: boolean, proto: number, buf: Uint8Array, r: Int32Array,
    saddr: number, sport: number, daddr: number, dport: number, mark: number): void {
    const conns = this.conns;
    const s = conns.s;
    const persistent = (svc.flags & SVC_F_PERSISTENT) !== 0;
    if (!persistent && svc.fwmark === 0 && svc.port === 0) return this.drop(D_PORT_ZERO);
    let dest: Dest | null = null;
    let ct = -1;
    let h: number;
    if (persistent) {
      const pe = this.persist;
      ct = pe.lookup(svc, v6, proto, saddr, daddr, dport);
      if (ct === TEMPLATE_NO_KEY) return this.drop(D_NO_SERVICE);
      if (ct >= 0) {
        h = s.dest[ct]!;
        dest = this.handles.info[h]!.dest;
        this.trace?.template(dest);
      } else {
        dest = this.pickDest(svc, v6, proto, buf, r, saddr, sport, daddr, dport);
        if (!dest) return this.noDest();
        h = this.handles.of(dest, svc);
        ct = pe.create(svc, v6, h, this.handles.info[h]!, mark);
        if (ct < 0) return this.drop(D_CONN_LIMIT);
        this.trace?.scheduled(svc, dest, ' (new template)');
      }
      if (v6) pe.restore(buf, r[F_SRC_OFF]!, r[F_DST_OFF]!);
    } else {
      dest = this.pickDest(svc, v6, proto, buf, r, saddr, sport, daddr, dport);
      if (!dest) return this.noDest();
      h = this.handles.of(dest, svc);
      this.trace?.scheduled(svc, dest, '');
    }
    const info = this.handles.info[h]!;
    const cdport = persistent ? persistConnDport(dport, svc.port, dest.port) : dest.port !== 0 ? dest.port : dport;
    const onePacket = (svc.flags & SVC_F_ONEPACKET) !== 0 && proto === IPPROTO_UDP;
    const flags = info.connFlags | (onePacket ? CF_ONE_PACKET : 0);
    let e: number;
    if (!v6) e = conns.create4(proto, saddr, sport, daddr, dport, info.fwd.addr4, cdport, flags, h, mark);
    else {
      loadAddr(s.da, info.fwd.addr, 0, info.fwd.family === 6 ? 6 : 4);
      e = conns.create6(proto, sport, dport, cdport, flags, h, mark);
    }
    if (e < 0) return this.drop(D_CONN_LIMIT);
    if (ct >= 0) { conns.attach(e, ct); conns.touchTemplate(ct); }
    dest.stats.conns++; info.svc.stats.conns++; this.table.total.conns++;
    this.inbound(e, proto);
    if (onePacket) conns.releaseOnePacket(e);
  }

  private l4Event(proto: number): number {
    const r = this.r;
    if (proto === IPPROTO_TCP) return r[F_TCP_FLAGS]!;
    if (proto === IPPROTO_SCTP) return sctpEvent(r[F_SCTP_CHUNK]!, r[F_SCTP_CHUNK2]!);
    return 0;
  }

  /** Client → real server on entry `e`: state, stats, forwarder. */
  private inbound(e: number, proto: number): void {
    const s = this.conns.s;
    const h = s.dest[e]!;
    this.conns.update(e, DIR_INPUT, this.l4Event(proto));
    // a master's sync decision, with the state this packet left (ip_vs_in; one-packet entries count as the threshold)
    const so = this.syncOut;
    if (so !== null) syncConn(this.conns, e, (s.flags[e]! & CF_ONE_PACKET) ? so.o.threshold : s.inPkts[e]!, so.o, so.box);
    const info = this.handles.info[h]!;
    this.handles.count(h, true, this.r[F_IP_LEN]!);
    const method = s.flags[e]! & CF_FWD_MASK;
    const fwd = this.fwd[method];
    if (!fwd) return this.drop(D_NO_FORWARDER);
    const p = this.pkt;
    p.dest = info.fwd;
    p.link = info.link;
    this.setVaddr(e);
    if (!p.link.ok) return this.drop(FWD_BASE + FWD_NO_ROUTE);
    this.forward(fwd, method, DIR_INPUT);
  }

  /**
   * Runs the forwarder on the packet, in the state it can take: a partial
   * checksum completed first unless it keeps them (`partialChecksums`); an
   * aggregate cut into segments first unless it sends them on (`aggregates`)
   * and they fit the link (an IPv4 aggregate without DF whose segments exceed
   * the MTU is cut, then each is fragmented, as the kernel's GSO then does).
   */
  private forward(fwd: ForwarderPlugin, method: number, dir: number): void {
    const p = this.pkt, r = this.r;
    if (p.csumPartial && this.fwdPartial[method] === 0) {
      completePartial(p.buf, r[F_L4_OFF]!, r[F_CSUM_OFF]!, r[F_L3_OFF]! + r[F_IP_LEN]!);
      p.csumPartial = false;
    }
    if (p.gsoSize > 0) {
      const l3 = r[F_L3_OFF]!;
      const v4 = r[F_FAMILY] === 4;
      const tooBig = v4 && (p.buf[l3 + 6]! & 0x40) === 0 && r[F_PAYLOAD_OFF]! - l3 + p.gsoSize > p.link.mtu;
      if (this.fwdAggregates[method] === 0 || tooBig) return this.segmented(fwd, dir);
    }
    this.result(dir === DIR_INPUT ? fwd.inbound(p, this.xmit) : fwd.outbound!(p, this.xmit), fwd.name);
  }

  /** Cuts the aggregate (core/packet/gso.ts) and runs the forwarder on each segment, in order. */
  private segmented(fwd: ForwarderPlugin, dir: number): void {
    const p = this.pkt, r = this.r, src = this.segSrc;
    src.buf = p.buf; src.off = p.off; src.l3 = r[F_L3_OFF]!; src.family = r[F_FAMILY]!; src.proto = r[F_PROTO]!;
    src.l4 = r[F_L4_OFF]!; src.payload = r[F_PAYLOAD_OFF]!; src.end = src.l3 + r[F_IP_LEN]!;
    src.gsoSize = p.gsoSize;
    src.partial = p.csumPartial;
    this.segFwd = fwd;
    this.segDir = dir;
    this.segPartial = p.csumPartial;
    this.segResult = FWD_SENT;
    const total = Math.ceil((src.end - src.payload) / src.gsoSize);
    const n = segment(src, this.segs.buf, this.segPut, this.segEach);
    this.segFwd = null;
    if (n < 0) return this.drop(D_GSO_BAD);
    // a segment refused (too big for the tunnel: ICMP sent once, as for the whole GSO packet) ends the aggregate
    if (this.segResult !== FWD_SENT) return;
    if (n < total) this.drop(D_GSO_NO_ROOM);
  }

  /** One segment of `segmented`: parsed where it was written, then through the forwarder. */
  private segmentThrough(o: number, len: number): void {
    const segs = this.segs, p = this.pkt, r = this.r;
    segs.commit(o, len, 0, 0);
    const why = parseFrame(segs.buf, o, len, r, 0);
    if (why !== DROP_NONE) { this.segResult = -1; return this.drop(why); }
    p.buf = segs.buf; p.off = o; p.len = len; p.room = o - HEADROOM;
    p.gsoSize = 0; p.gsoType = GSO_NONE;
    // each segment as segment() left it (a forwarder may have completed the last one's)
    p.csumPartial = this.segPartial;
    const fwd = this.segFwd!;
    const c = this.segDir === DIR_INPUT ? fwd.inbound(p, this.xmit) : fwd.outbound!(p, this.xmit);
    this.result(c, fwd.name);
    if (c !== FWD_SENT) this.segResult = c;
  }

  private result(c: number, name: string): void {
    if (c !== FWD_SENT) return this.drop(FWD_BASE + c);
    this.trace?.sent(name, this.pkt.link, this.net);
  }

  private setVaddr(e: number): void {
    const s = this.conns.s;
    const p = this.pkt;
    p.vport = s.vport[e]!;
    const v = p.vaddr;
    if (s.af[e] === AF_INET) {
      const w = s.vaddr[e]!;
      v[0] = w >>> 24; v[1] = (w >>> 16) & 255; v[2] = (w >>> 8) & 255; v[3] = w & 255;
      if (this.vaddrWide) { v.fill(0, 4); this.vaddrWide = false; }
      p.vaddr4 = w;
      return;
    }
    for (let i = 0; i < 4; i++) {
      const w = s.addrWord(e, 1, i);
      v[i * 4] = w >>> 24; v[i * 4 + 1] = (w >>> 16) & 255; v[i * 4 + 2] = (w >>> 8) & 255; v[i * 4 + 3] = w & 255;
    }
    this.vaddrWide = true;
    p.vaddr4 = s.addrWord(e, 1, 0);
  }

  /** Resolves the next hop towards the client (a reply's destination) into cliLink. */
  private clientLink(buf: Uint8Array, dstOff: number, v6: boolean): FwdLink {
    const l = this.cliLink;
    if (v6) this.net.resolve6(buf, dstOff, l); else this.net.resolve4(rd32(buf, dstOff), l);
    return l;
  }

  /** Real server → client on entry `e`, whose forwarder sees replies (NAT). */
  private outbound(e: number, proto: number): void {
    const s = this.conns.s;
    const h = s.dest[e]!;
    const info = this.handles.info[h]!;
    this.trace?.say('NAT reply');
    this.conns.update(e, DIR_OUTPUT, this.l4Event(proto));
    this.handles.count(h, false, this.r[F_IP_LEN]!);
    const fwd = this.fwd[s.flags[e]! & CF_FWD_MASK];
    if (!fwd?.outbound) return this.drop(D_NO_FORWARDER);
    const p = this.pkt;
    p.dest = info.fwd;
    this.setVaddr(e);
    p.link = this.clientLink(p.buf, this.r[F_DST_OFF]!, this.r[F_FAMILY] === 6);
    if (!p.link.ok) return this.drop(FWD_BASE + FWD_NO_ROUTE);
    this.forward(fwd, s.flags[e]! & CF_FWD_MASK, DIR_OUTPUT);
  }

  /** An ICMP error about one of our connections (icmp.ts finds it): on through the connection's forwarder. */
  private icmp(buf: Uint8Array, r: Int32Array, proto: number): void {
    const relay = this.relay;
    const e = relay.find(buf, r, proto);
    if (e < 0) return this.drop(-e);
    const s = this.conns.s;
    const p = this.pkt;
    const h = s.dest[e]!;
    const info = this.handles.info[h]!;
    if (relay.fromReal) {
      // about a request: back to the client, as a reply (only a forwarder that sees replies relays it)
      const fwd = this.fwd[s.flags[e]! & CF_FWD_MASK];
      if (!fwd?.icmpOut) return this.drop(D_ICMP_NOT_NAT);
      this.trace?.say('ICMP error from real server');
      this.handles.count(h, false, r[F_IP_LEN]!);
      p.dest = info.fwd;
      this.setVaddr(e);
      p.link = this.clientLink(buf, r[F_DST_OFF]!, proto === IPPROTO_ICMPV6);
      if (!p.link.ok) return this.drop(FWD_BASE + FWD_NO_ROUTE);
      return this.result(fwd.icmpOut(p, this.xmit), fwd.name);
    }
    // about a reply: on to the real server, as a request
    if (!info.dest.available) return this.drop(D_DEST_UNAVAILABLE);
    const fwd = this.fwd[s.flags[e]! & CF_FWD_MASK];
    if (!fwd) return this.drop(D_NO_FORWARDER);
    this.trace?.say('ICMP error from client');
    this.handles.count(h, true, r[F_IP_LEN]!);
    p.dest = info.fwd;
    p.link = info.link;
    this.setVaddr(e);
    if (!p.link.ok) return this.drop(FWD_BASE + FWD_NO_ROUTE);
    this.result(fwd.icmpIn ? fwd.icmpIn(p, this.xmit) : fwd.inbound(p, this.xmit), fwd.name);
  }
}

