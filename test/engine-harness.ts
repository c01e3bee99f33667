// A director on the memory wire for the engine and forwarding tests: a
// table with the built-in schedulers, the nat/dr/tun plugins, a virtual
// clock, and helpers that inject one frame and return what came out.

import { FrameBatch, MAX_AGGREGATE, TxBatch, type FrameOffload } from '../core/engine/batch.js';
import { Engine, type EngineOptions } from '../core/engine/engine.js';
import { MemoryWire, type WireFrame } from '../core/engine/io/memory.js';
import type { NetSpec } from '../core/engine/net.js';
import { ServiceTable, type Dest, type Service } from '../core/model/table.js';
import type { DestSpec, ServiceSpec } from '../core/model/types.js';
import { forwarderLookup } from '../core/plugin.js';
import { builtinScheduler } from '../plugins/schedulers/lib/builtin.js';
import nat from '../plugins/forwarding/nat.js';
import dr from '../plugins/forwarding/dr.js';
import tun from '../plugins/forwarding/tun.js';
import type { ConnView } from '../core/control/protocol.js';

export const DIR_MAC = '02:00:00:00:00:01';
export const GW_MAC = '02:00:00:00:00:fe';
export const RS1_MAC = '02:00:00:00:10:08';
export const RS2_MAC = '02:00:00:00:10:09';
export const CL2_MAC = '02:00:00:00:10:77';
export const DIR_IP = '192.168.10.1';
export const VIP = '192.168.10.100';
export const RS1 = '192.168.10.8';
export const RS2 = '192.168.10.9';
export const CLIENT = '10.1.2.3';
/** A client on the director's own link. */
export const CLIENT2 = '192.168.10.77';
export const GW = '192.168.10.254';
export const DIR_IP6 = '2001:db8:10::1';
export const VIP6 = '2001:db8:10::100';
export const RS1_6 = '2001:db8:10::8';
export const RS2_6 = '2001:db8:10::9';
export const CLIENT6 = '2001:db8:99::5';
export const GW6 = '2001:db8:10::fe';

export const NET: NetSpec = {
  interfaces: [{ name: 'eth0', mac: DIR_MAC, addresses: [`${DIR_IP}/24`, `${DIR_IP6}/64`] }],
  neighbors: {
    [RS1]: RS1_MAC, [RS2]: RS2_MAC, [GW]: GW_MAC, [CLIENT2]: CL2_MAC,
    [RS1_6]: RS1_MAC, [RS2_6]: RS2_MAC, [GW6]: GW_MAC,
  },
  gateways: [GW, GW6],
};

export function svcSpec(over: Partial<ServiceSpec> = {}): ServiceSpec {
  return { family: 'inet', protocol: 'tcp', addr: VIP, port: 80, fwmark: 0, scheduler: 'rr', flags: 0, timeout: 0,
    netmask: 0xffffffff, pe: '', ...over };
}

export function destSpec(addr: string, over: Partial<DestSpec> = {}): DestSpec {
  return { family: addr.includes(':') ? 'inet6' : 'inet', addr, port: 80, fwd: 'route', weight: 1, uThreshold: 0,
    lThreshold: 0, tunType: 'ipip', tunPort: 0, tunFlags: 0, ...over };
}

export class Lab {
  now = 1_000_000;
  readonly table: ServiceTable;
  readonly engine: Engine;
  readonly wire: MemoryWire;
  readonly rx = new FrameBatch(64, MAX_AGGREGATE, 1 << 20);
  readonly tx = new TxBatch();

  constructor(net: NetSpec = NET, opts: Partial<EngineOptions> = {}) {
    const forwarders = opts.forwarders ?? [nat, dr, tun];
    this.table = new ServiceTable({
      schedulers: builtinScheduler,
      forwarder: forwarderLookup(forwarders),
      ctx: { now: () => this.now, randomU32: () => 0x12345678, log: () => {} },
      // the engine follows the table's events, as a data-plane replica's does
      onEvent: (ev) => this.engine.tableEvent(ev),
    });
    this.engine = new Engine({ table: this.table, forwarders, net, seed: 1, ...opts });
    this.wire = new MemoryWire(this.engine.net.ifaces);
  }

  service(over: Partial<ServiceSpec> = {}, dests: DestSpec[] = []): Service {
    const r = this.table.addService(svcSpec(over));
    if (!r.ok) throw new Error(r.error.message);
    for (const d of dests) {
      const x = this.table.addDest(r.value.spec, d);
      if (!x.ok) throw new Error(x.error.message);
    }
    this.engine.refresh();
    return r.value;
  }

  dest(svc: Service, addr: string): Dest {
    return svc.dests.find((d) => d.addr === addr)!;
  }

  /** Inject frames (at the current time) and return what the director sent. */
  send(...frames: Uint8Array[]): WireFrame[] {
    for (const f of frames) this.wire.inject(f, 0, this.now);
    this.pump();
    return this.wire.take();
  }

  /** A frame with an offload state (an aggregate, a partial checksum), as the kernel hands it over; what the director sent. */
  sendOffloaded(frame: Uint8Array, offload: FrameOffload): WireFrame[] {
    this.wire.inject(frame, 0, this.now, offload);
    this.pump();
    return this.wire.take();
  }

  /** One frame in, exactly one out: its bytes. */
  one(frame: Uint8Array): Uint8Array {
    const out = this.send(frame);
    if (out.length !== 1) throw new Error(`expected one frame out, got ${out.length} (drops ${JSON.stringify(this.engine.dropCounts())})`);
    return out[0]!.frame;
  }

  pump(): void {
    while (this.wire.receive(this.rx) > 0) {
      this.tx.clear();
      this.engine.process(this.rx, this.tx, this.now);
      this.wire.transmit(this.tx);
    }
  }

  /** Move the clock forward (seconds) and run timers. */
  wait(seconds: number): void {
    this.now += seconds * 1000;
    this.engine.advance(this.now);
  }

  conns(): ConnView[] { return this.engine.connViews(); }
}

export const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
