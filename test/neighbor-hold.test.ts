// Frames to a next hop with no MAC yet: recorded as a miss for the I/O to
// resolve, and, when the engine holds them (afpacket), kept until the MAC is
// known, then sent in order; dropped after the time limit or past the bounds.
import { strict as assert } from 'node:assert';
import { TxBatch } from '../core/engine/batch.js';
import { Net } from '../core/engine/net.js';
import { HeldFrames } from '../core/engine/neighbor-hold.js';
import { buildFrame, type L4Spec } from '../core/packet/build.js';
import { TCP_ACK, TCP_SYN } from '../core/packet/parse.js';
import { CL2_MAC, CLIENT2, DIR_MAC, GW_MAC, Lab, NET, RS1, RS1_MAC, VIP, destSpec, hex } from './engine-harness.js';

const tcp = (sport: number, dport: number, flags: number): L4Spec => ({ proto: 'tcp', sport, dport, seq: 1, ack: 0, flags, window: 1000 });
const macText = (b: Uint8Array): string => Array.from(b, (x) => x.toString(16).padStart(2, '0')).join(':');

/** The harness's network without the on-link client's neighbour entry. */
const NET_NO_CLIENT = { ...NET, neighbors: Object.fromEntries(Object.entries(NET.neighbors).filter(([a]) => a !== CLIENT2)) };

describe('neighbour resolution: misses and held frames', () => {
  it('Net: a next hop without a MAC is a miss; refused (ok false) unless holding, then ok with `unresolved` set', () => {
    for (const hold of [false, true]) {
      const net = new Net(NET_NO_CLIENT, { holdUnresolved: hold });
      const link = Net.link();
      assert.equal(net.resolve4(0xc0a80a4d, link), hold); // 192.168.10.77: on link, unknown
      assert.equal(link.unresolved, hold ? CLIENT2 : null);
      assert.equal(net.resolve4(0x0a010203, link), true); // off link: via the gateway, known
      assert.equal(link.unresolved, null);
      assert.equal(macText(link.mac), GW_MAC);
      assert.equal(net.missed, true);
      assert.deepEqual(net.takeMisses(), [CLIENT2]);
      assert.equal(net.missed, false);
      assert.equal(macText(net.macOf(RS1)!), RS1_MAC);
      assert.equal(net.macOf(CLIENT2), undefined);
    }
  });

  it('a NAT reply to an unresolved client is held, then sent with its MAC once known', () => {
    const lab = new Lab(NET_NO_CLIENT, { holdUnresolved: true });
    lab.service({}, [destSpec(RS1, { fwd: 'masq' })]);
    const syn = lab.one(buildFrame({ dst: DIR_MAC, src: CL2_MAC }, { src: CLIENT2, dst: VIP, ttl: 64 }, tcp(40000, 80, TCP_SYN)));
    assert.equal(hex(syn.subarray(0, 6)), RS1_MAC.replaceAll(':', ''));
    // the reply: the engine queues it in tx, marked as held for the client
    lab.wire.inject(buildFrame({ dst: DIR_MAC, src: RS1_MAC }, { src: RS1, dst: CLIENT2, ttl: 64 }, tcp(80, 40000, TCP_SYN | TCP_ACK)), 0, lab.now);
    lab.wire.receive(lab.rx);
    lab.tx.clear();
    lab.engine.process(lab.rx, lab.tx, lab.now);
    assert.equal(lab.tx.count, 1);
    assert.equal(lab.tx.held, 1);
    assert.equal(lab.tx.hold[0], CLIENT2);
    assert.deepEqual(lab.engine.net.takeMisses(), [CLIENT2]);
    assert.deepEqual(lab.engine.dropCounts(), {});

    const held = new HeldFrames();
    held.take(lab.tx, lab.now);
    assert.equal(lab.tx.count, 0);
    assert.equal(held.size, 1);
    const tx = new TxBatch(8);
    held.release(() => undefined, tx, lab.now + 1000); // still unknown: kept
    assert.equal(tx.count, 0);
    assert.equal(held.size, 1);
    const mac = Uint8Array.from(CL2_MAC.split(':').map((x) => parseInt(x, 16)));
    held.release((hop) => (hop === CLIENT2 ? mac : undefined), tx, lab.now + 1500);
    assert.equal(tx.count, 1);
    assert.equal(held.size, 0);
    const out = tx.bufs[0]!.subarray(tx.off[0]!, tx.off[0]! + tx.len[0]!);
    assert.equal(macText(out.subarray(0, 6)), CL2_MAC);
    assert.equal(macText(out.subarray(6, 12)), DIR_MAC);
    assert.equal(out[26], 192); // source rewritten to the VIP (192.168.10.100)
    assert.equal(out[29], 100);
  });

  it('held frames keep their order, expire after 3 s, and are bounded per next hop', () => {
    const held = new HeldFrames(2, 10, 3000);
    const tx = new TxBatch(8);
    for (let i = 0; i < 4; i++) {
      const f = new Uint8Array(20).fill(i);
      tx.add(f, 0, 20, 0);
      if (i !== 1) tx.holdLast('10.0.0.9');
    }
    held.take(tx, 0);
    assert.equal(tx.count, 1); // frame 1 was not held and stays
    assert.equal(tx.bufs[0]![6], 1);
    assert.equal(held.size, 2);
    assert.equal(held.dropped, 1); // the third one for the same next hop
    const out = new TxBatch(8);
    held.release(() => new Uint8Array(6).fill(0xaa), out, 100);
    assert.deepEqual([out.bufs[0]![6], out.bufs[1]![6]], [0, 2]);
    assert.equal(out.bufs[0]![0], 0xaa);

    const t2 = new TxBatch(4);
    t2.add(new Uint8Array(20), 0, 20, 0);
    t2.holdLast('10.0.0.8');
    held.take(t2, 0);
    held.release(() => undefined, out, 3001);
    assert.equal(held.size, 0);
    assert.equal(held.dropped, 2);
  });
});
