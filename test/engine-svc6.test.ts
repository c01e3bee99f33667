// IPv6 service lookup: services whose addresses fold to the same 32-bit key
// share a bucket and are told apart by their full 16 bytes (kept per service
// when the index is built, not parsed per packet).

import { strict as assert } from 'node:assert';
import { buildFrame } from '../core/packet/build.js';
import { TCP_SYN } from '../core/packet/parse.js';
import { addrBytes } from '../core/model/addr.js';
import { CLIENT6, DIR_MAC, GW_MAC, Lab, RS1_6, RS2_6, VIP6, destSpec } from './engine-harness.js';

const fold = (a: string): number => {
  const b = addrBytes('inet6', a);
  let x = 0;
  for (let i = 0; i < 16; i += 4) x ^= (b[i]! << 24) | (b[i + 1]! << 16) | (b[i + 2]! << 8) | b[i + 3]!;
  return x >>> 0;
};

describe('engine: IPv6 service index', () => {
  it('services in one fold bucket: each VIP reaches its own real server; a same-fold address without a service is no-service', () => {
    const VIP6B = '2001:db8:10::100:0:0';     // same XOR fold as VIP6, different address
    const NOSVC = '2001:db8:10::1:0:101';      // same fold again, no service
    assert.equal(fold(VIP6B), fold(VIP6));
    assert.equal(fold(NOSVC), fold(VIP6));
    const lab = new Lab();
    lab.service({ family: 'inet6', addr: VIP6, netmask: 128 }, [destSpec(RS1_6, { fwd: 'masq' })]);
    lab.service({ family: 'inet6', addr: VIP6B, netmask: 128 }, [destSpec(RS2_6, { fwd: 'masq' })]);
    const syn = (dst: string, sport: number): Uint8Array => buildFrame({ dst: DIR_MAC, src: GW_MAC }, { src: CLIENT6, dst },
      { proto: 'tcp', sport, dport: 80, flags: TCP_SYN, seq: 1, ack: 0 });
    for (let i = 0; i < 3; i++) {
      lab.one(syn(VIP6, 40000 + i));
      lab.one(syn(VIP6B, 41000 + i));
    }
    const byVip = new Map<string, Set<string>>();
    for (const c of lab.conns()) {
      if (!byVip.has(c.vaddr)) byVip.set(c.vaddr, new Set());
      byVip.get(c.vaddr)!.add(c.daddr);
    }
    assert.deepEqual([...byVip.get(VIP6)!], [RS1_6]);
    assert.deepEqual([...byVip.get(VIP6B)!], [RS2_6]);
    assert.equal(lab.send(syn(NOSVC, 42000)).length, 0);
    assert.equal(lab.engine.dropCounts()['no-service'], 1);
    // the index follows a deleted service
    assert.ok(lab.table.deleteService({ family: 'inet6', protocol: 'tcp', addr: VIP6B, port: 80, fwmark: 0 }).ok);
    lab.engine.refresh();
    assert.equal(lab.send(syn(VIP6B, 43000)).length, 0);
    assert.equal(lab.engine.dropCounts()['no-service'], 2);
    lab.one(syn(VIP6, 44000));
  });
});
