// Real-server handles (the numbers the connection table stores): one per
// live Dest, freed once the dest is deleted and no entry holds it, so
// add/delete churn keeps the engine's per-dest state bounded.

import { strict as assert } from 'node:assert';
import { buildFrame } from '../core/packet/build.js';
import { TCP_SYN } from '../core/packet/parse.js';
import { SVC_F_PERSISTENT } from '../core/model/types.js';
import { DIR_MAC, GW_MAC, Lab, VIP, destSpec } from './engine-harness.js';

describe('engine: real-server handles', () => {
  it('400 add/delete cycles with connections coming and going: the handle count stays bounded and returns to 0', () => {
    const lab = new Lab();
    const plain = lab.service({ port: 80 });
    const sticky = lab.service({ port: 443, flags: SVC_F_PERSISTENT, timeout: 30 });
    let sport = 1024;
    const syn = (dport: number, client: string): Uint8Array => buildFrame({ dst: DIR_MAC, src: GW_MAC }, { src: client, dst: VIP },
      { proto: 'tcp', sport: sport++, dport, flags: TCP_SYN, seq: 1, ack: 0 });
    let max = 0;
    let sent = 0;
    for (let i = 0; i < 400; i++) {
      // 60 addresses: later cycles revive trashed Dest objects as well as making new ones
      const addr = `192.168.10.${10 + (i % 60)}`;
      for (const svc of [plain, sticky]) {
        const r = lab.table.addDest(svc.spec, destSpec(addr, { port: svc.port, fwd: 'masq' }));
        assert.ok(r.ok, `add ${addr}`);
      }
      lab.engine.refresh();
      for (let k = 0; k < 3; k++) { lab.send(syn(80, `10.1.${i & 255}.${k + 1}`)); lab.send(syn(443, `10.2.${i & 255}.${k + 1}`)); sent += 2; }
      for (const svc of [plain, sticky]) {
        const d = svc.dests.find((x) => x.addr === addr)!;
        assert.ok(d.activeConns > 0, 'the new real server took connections');
        assert.ok(lab.table.deleteDest(svc.spec, { family: 'inet', addr, port: svc.port }).ok);
      }
      lab.engine.refresh();
      max = Math.max(max, lab.engine.handleCount);
      lab.wait(7);   // SYN_RECV (60 s) and the 30-s templates expire a few cycles later
    }
    assert.equal(lab.engine.dropCounts()['conn-limit'], undefined);
    assert.equal(lab.engine.dropCounts()['internal'], undefined);
    assert.ok(sent === 2400);
    // each cycle's two dests live until their entries expire (~9 cycles), not forever
    assert.ok(max <= 2 * 12, `handles bounded: max ${max}`);
    lab.wait(200);
    lab.engine.refresh();
    assert.equal(lab.conns().length, 0);
    assert.equal(lab.engine.handleCount, 0);
  });

  it('a deleted real server keeps its handle while its connections live; revived, it carries on with them', () => {
    const lab = new Lab();
    const svc = lab.service({ port: 80 }, [destSpec('192.168.10.8', { fwd: 'masq' })]);
    const dest = svc.dests[0]!;
    const syn = (sport: number): Uint8Array => buildFrame({ dst: DIR_MAC, src: GW_MAC }, { src: '10.1.2.3', dst: VIP },
      { proto: 'tcp', sport, dport: 80, flags: TCP_SYN, seq: 1, ack: 0 });
    lab.send(syn(1000));
    assert.equal(lab.engine.handleCount, 1);
    assert.ok(lab.table.deleteDest(svc.spec, { family: 'inet', addr: dest.addr, port: 80 }).ok);
    lab.engine.refresh();
    assert.equal(lab.engine.handleCount, 1, 'held by its connection');
    assert.ok(lab.table.addDest(svc.spec, destSpec('192.168.10.8', { fwd: 'masq' })).ok);
    lab.engine.refresh();
    assert.equal(svc.dests[0], dest, 'revived from the trash');
    lab.send(syn(1001));
    assert.equal(lab.engine.handleCount, 1);
    assert.equal(dest.activeConns, 2);
    lab.wait(61);
    assert.equal(dest.activeConns + dest.inactConns, 0);
    assert.equal(lab.engine.handleCount, 1, 'available: kept');
    assert.ok(lab.table.deleteDest(svc.spec, { family: 'inet', addr: dest.addr, port: 80 }).ok);
    lab.engine.refresh();
    assert.equal(lab.engine.handleCount, 0);
  });
});
