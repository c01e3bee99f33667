// core/conn/sync.ts installSynced through the engine (a backup director on the
// memory wire): the captured datagrams, decoded by the wire codec, reproduce
// the kernel backup's table (fixtures/sync/capture-output.txt), plus the
// per-record rules of spec §6.
import assert from 'node:assert/strict';
import {
  CF_DROUTE, CF_HASHED, CF_IN_SEQ, CF_INACTIVE, CF_MASQ, CF_NOOUTPUT, CF_SYNC, CF_TEMPLATE, SCTP_S_ESTABLISHED,
} from '../core/conn/states.js';
import { recordsOf, type SyncConnFields, type SyncInstallCounts } from '../core/conn/sync.js';
import type { Service } from '../core/model/table.js';
import { SVC_F_PERSISTENT } from '../core/model/types.js';
import { decodeMessage, type SyncConn } from '../plugins/sync/lib/wire.js';
import { Lab, destSpec } from './engine-harness.js';
import { readHexFixture } from './sync-helpers.js';

/** The wire codec's SyncConn → core's record object (af 4|6 → family 'inet'|'inet6'). */
const fromWire = (c: SyncConn): SyncConnFields => ({
  family: c.af === 6 ? 'inet6' : 'inet', protocol: c.protocol, flags: c.flags, state: c.state, cport: c.cport, vport: c.vport,
  dport: c.dport, fwmark: c.fwmark, timeout: c.timeout, caddr: c.caddr, vaddr: c.vaddr, daddr: c.daddr,
});

type Kind = 'create' | 'update' | 'ignore' | 'full' | 'other';

/** A backup director: the engine's installSynced, one record at a time so that each one's outcome is seen. */
class Backup {
  readonly lab = new Lab();
  readonly log: Kind[] = [];
  constructor() { this.lab.wait(0); }

  service(proto: 'tcp' | 'udp', vip: string, vport: number, dests: Array<[string, number, string?]>, o: { mark?: number; persistent?: number } = {}): Service {
    const family = vip.includes(':') ? 'inet6' : 'inet';
    const over = o.mark
      ? { family, protocol: 'tcp' as const, addr: family === 'inet6' ? '::' : '0.0.0.0', port: 0, fwmark: o.mark } as const
      : { family, protocol: proto, addr: vip, port: vport } as const;
    const per = o.persistent ? { flags: SVC_F_PERSISTENT, timeout: o.persistent } : {};
    return this.lab.service({ ...over, ...per },
      dests.map(([a, p, fwd]) => destSpec(a, { port: p, fwd: (fwd ?? 'masq') as 'masq' })));
  }

  install(r: SyncConnFields, version: 0 | 1 = 1): Kind {
    const { records, invalid } = recordsOf([r]);
    assert.equal(invalid, 0);
    const c: SyncInstallCounts = this.lab.engine.installSynced(records, { version, threshold: 3, owns: () => true });
    const k: Kind = c.created ? 'create' : c.updated ? 'update' : c.ignored ? 'ignore' : c.full ? 'full' : 'other';
    this.log.push(k);
    return k;
  }

  receive(msg: Uint8Array): void {
    const d = decodeMessage(msg, msg.length, 0);
    assert.ok(d.ok);
    for (const c of d.conns) this.install(fromWire(c), d.version);
  }

  /** Live entries (the expired ones gone: an advance of 0 runs due timers). */
  entries(): number[] {
    const s = this.lab.engine.conns.s;
    const out: number[] = [];
    for (let e = 0; e < s.end; e++) if (s.af[e] !== 0) out.push(e);
    return out;
  }

  get(caddr: string, cport: number, vaddr: string, template = false): { e: number; state: number; flags: number; timeout: number; inPkts: number; expires: number; daddr: string } {
    const t = this.lab.engine.conns, s = t.s;
    const found = this.entries().filter((e) => {
      const v = t.view(e);
      return v.caddr === caddr && v.cport === cport && v.vaddr === vaddr && ((s.flags[e]! & CF_TEMPLATE) !== 0) === template && s.expires[e]! > s.now;
    });
    assert.equal(found.length, 1, `entry ${caddr}:${cport} → ${vaddr}`);
    const e = found[0]!;
    const v = t.view(e);
    return { e, state: s.state[e]!, flags: s.flags[e]! & ~CF_HASHED, timeout: s.timeout[e]! / 1000, inPkts: s.inPkts[e]!, expires: v.expires, daddr: v.daddr };
  }
}

/** ipvsadm -L -n's columns per real server: [addr:port, ActiveConn, InActConn, PersistConn]. */
const counts = (svc: Service): Array<[string, number, number, number]> =>
  svc.dests.map((d): [string, number, number, number] => [`${d.addr}:${d.port}`, d.activeConns, d.inactConns, d.persistConns])
    .sort((x, y) => (x[0] < y[0] ? -1 : x[0] > y[0] ? 1 : 0));

/** The backup of the capture (capture.sh): the master's services, all NAT, 10.99.0.11 persistent 60. */
function captureBackup(): { b: Backup; s10: Service; s11: Service; s12: Service; s6: Service } {
  const b = new Backup();
  const s10 = b.service('tcp', '10.99.0.10', 80, [['10.201.0.2', 80], ['10.202.0.2', 80]]);
  const s11 = b.service('tcp', '10.99.0.11', 80, [['10.202.0.2', 80]], { persistent: 60 });
  const s12 = b.service('udp', '10.99.0.12', 53, [['10.203.0.2', 53]]);
  const s6 = b.service('tcp', 'fd00:99::10', 80, [['fd00:201::2', 80]]);
  return { b, s10, s11, s12, s6 };
}

describe('sync backup (core installSynced): the captured messages on a backup with the same services', () => {
  it('after v1: final states, transmitted timeouts, SYNC entries bound, InActConn 1 per server', () => {
    const { b, s10, s11, s12, s6 } = captureBackup();
    b.receive(readHexFixture('v1-msg1.hex'));
    b.receive(readHexFixture('v1-msg2.hex'));
    assert.equal(b.entries().length, 5);
    const A = b.get('10.100.0.2', 45977, '10.99.0.10');
    assert.deepEqual([A.state, A.timeout, A.inPkts, A.expires], [5, 120, 3, 120]);
    assert.equal(A.flags, CF_SYNC | CF_INACTIVE);
    const B = b.get('10.100.0.2', 49021, '10.99.0.11'), C = b.get('10.100.0.2', 40000, '10.99.0.12');
    assert.deepEqual([B.timeout, B.expires, C.timeout, C.expires], [120, 120, 300, 300]);
    const T = b.get('10.100.0.2', 0, '10.99.0.11', true);
    assert.deepEqual([T.state, T.timeout, T.expires], [1, 60, 60]);
    assert.equal(T.flags, CF_SYNC | CF_INACTIVE | CF_TEMPLATE);
    const D = b.get('fd00:100::2', 49952, 'fd00:99::10');
    assert.deepEqual([D.state, D.timeout, D.expires], [5, 120, 120]);
    // /proc/net/ip_vs_conn_sync: origin SYNC on every entry
    const s = b.lab.engine.conns.s;
    for (const e of b.entries()) assert.ok(s.flags[e]! & CF_SYNC);
    // ipvsadm -L -n on the backup: ActiveConn 0, InActConn 1 (templates only in PersistConn)
    assert.deepEqual(counts(s10), [['10.201.0.2:80', 0, 0, 0], ['10.202.0.2:80', 0, 1, 0]]);
    assert.deepEqual(counts(s11), [['10.202.0.2:80', 0, 1, 1]]);
    assert.deepEqual(counts(s12), [['10.203.0.2:53', 0, 1, 0]]);
    assert.deepEqual(counts(s6), [['fd00:201::2:80', 0, 1, 0]]);
    assert.deepEqual(b.log.slice(0, 4), ['create', 'update', 'update', 'create'], 'A created ESTABLISHED (active), then updated');
  });

  it('after v0: the backup own timeouts (TIME_WAIT 120, UDP 300) and 180 s for the template', () => {
    const { b, s10, s11, s12 } = captureBackup();
    b.receive(readHexFixture('v1-msg1.hex'));
    b.receive(readHexFixture('v0-msg1.hex'));
    const A = b.get('10.100.0.3', 47113, '10.99.0.10');
    assert.deepEqual([A.state, A.timeout, A.expires], [5, 120, 120]);
    assert.equal(b.get('10.100.0.3', 40000, '10.99.0.12').timeout, 300);
    const T = b.get('10.100.0.3', 0, '10.99.0.11', true);
    assert.deepEqual([T.timeout, T.expires], [180, 180]);
    assert.deepEqual(counts(s10), [['10.201.0.2:80', 0, 1, 0], ['10.202.0.2:80', 0, 1, 0]]);
    assert.deepEqual(counts(s11), [['10.202.0.2:80', 0, 2, 2]]);
    assert.deepEqual(counts(s12), [['10.203.0.2:53', 0, 2, 0]]);
  });
});

describe('sync backup (core installSynced): per-record rules (§6)', () => {
  const rec = (over: Partial<SyncConnFields> = {}): SyncConnFields => ({
    family: 'inet', protocol: 6, flags: 0, state: 1, cport: 1234, vport: 80, dport: 80, fwmark: 0, timeout: 900,
    caddr: '10.100.0.9', vaddr: '10.99.0.10', daddr: '10.201.0.2', ...over,
  });

  it('existing entry on another real server: active record expires it and creates anew, inactive one is ignored', () => {
    const { b, s10 } = captureBackup();
    b.install(rec());
    assert.equal(b.install(rec({ daddr: '10.202.0.2', flags: CF_INACTIVE, state: 7 })), 'ignore');
    assert.equal(b.install(rec({ daddr: '10.202.0.2' })), 'create');
    // ip_vs_conn_expire_now: the old entry goes (and leaves its server's counts) at the next timer run (a tick away)
    b.lab.wait(0.1);
    assert.deepEqual(counts(s10), [['10.201.0.2:80', 0, 0, 0], ['10.202.0.2:80', 1, 0, 0]]);
    assert.equal(b.entries().length, 1);
    assert.equal(b.get('10.100.0.9', 1234, '10.99.0.10').daddr, '10.202.0.2');
  });

  it('update replaces only INACTIVE and SEQ bits and moves one count on INACTIVE changes', () => {
    const { b, s10 } = captureBackup();
    b.install(rec({ flags: CF_INACTIVE, state: 3 }));
    assert.deepEqual(counts(s10)[0], ['10.201.0.2:80', 0, 1, 0]);
    const { e } = b.get('10.100.0.9', 1234, '10.99.0.10');
    const s = b.lab.engine.conns.s;
    s.flags[e] = s.flags[e]! | 0x10000; // a local-only bit stays
    assert.equal(b.install(rec({ flags: CF_IN_SEQ | CF_DROUTE | CF_NOOUTPUT })), 'update');
    const x = b.get('10.100.0.9', 1234, '10.99.0.10');
    assert.equal(x.flags, CF_SYNC | CF_IN_SEQ | 0x10000, 'received DROUTE/NOOUTPUT not taken; local MASQ kept');
    assert.deepEqual(counts(s10)[0], ['10.201.0.2:80', 1, 0, 0]);
    assert.deepEqual([x.state, x.timeout, x.inPkts], [1, 900, 3]);
  });

  it('new entry: bound entries take the local forwarding method and NOOUTPUT, keep the received INACTIVE', () => {
    const b = new Backup();
    const svc = b.service('tcp', '10.99.0.20', 80, [['10.201.0.5', 80, 'route']]);
    assert.equal(b.install(rec({ vaddr: '10.99.0.20', daddr: '10.201.0.5', flags: CF_MASQ })), 'create');
    assert.equal(b.get('10.100.0.9', 1234, '10.99.0.20').flags, CF_SYNC | CF_DROUTE | CF_NOOUTPUT);
    b.install(rec({ cport: 2, vaddr: '10.99.0.20', daddr: '10.201.0.5', flags: CF_INACTIVE, state: 5 }));
    assert.deepEqual(counts(svc), [['10.201.0.5:80', 1, 1, 0]]);
  });

  it('fwmark service first for a non-zero v1 fwmark; non-NAT tries port 0 first, then dport; v0 ignores the mark', () => {
    const b = new Backup();
    const fw = b.service('tcp', '', 0, [['10.201.0.7', 0, 'route']], { mark: 5 });
    const byAddr = b.service('tcp', '10.99.0.30', 443, [['10.201.0.7', 443, 'route']]);
    const r = rec({ vaddr: '10.99.0.30', vport: 443, dport: 443, daddr: '10.201.0.7', fwmark: 5, flags: CF_DROUTE });
    b.install(r);
    assert.deepEqual(counts(fw), [['10.201.0.7:0', 1, 0, 0]]);
    b.install({ ...r, cport: 99 }, 0);
    assert.deepEqual(counts(byAddr), [['10.201.0.7:443', 1, 0, 0]], 'v0: no mark, service by address');
    assert.equal(b.lab.engine.conns.s.fwmark[b.get('10.100.0.9', 99, '10.99.0.30').e], 0, 'v0: the entry has no mark either');
    // NAT with a mark: dport first, then 0
    const nat = new Backup();
    const fwn = nat.service('tcp', '', 0, [['10.201.0.8', 0], ['10.201.0.8', 443]], { mark: 6 });
    nat.install({ ...r, fwmark: 6, daddr: '10.201.0.8', flags: 0 });
    assert.deepEqual(counts(fwn).map((x) => x[1]), [0, 1]);
    // non-NAT with a mark and no port-0 server: then dport
    const dr = new Backup();
    const fwd = dr.service('tcp', '', 0, [['10.201.0.9', 443, 'route']], { mark: 7 });
    dr.install({ ...r, fwmark: 7, daddr: '10.201.0.9' });
    assert.deepEqual(counts(fwd), [['10.201.0.9:443', 1, 0, 0]]);
    // without a mark: dport, then port 0 (ip_vs_find_dest's `port ^ dport`)
    const p0 = new Backup();
    const any = p0.service('tcp', '10.99.0.31', 443, [['10.201.0.9', 0, 'route']]);
    p0.install(rec({ vaddr: '10.99.0.31', vport: 443, dport: 443, daddr: '10.201.0.9', flags: CF_DROUTE }));
    assert.deepEqual(counts(any), [['10.201.0.9:0', 1, 0, 0]]);
  });

  it('no local service: created unbound; a later update binds it (ip_vs_try_bind_dest)', () => {
    const b = new Backup();
    assert.equal(b.install(rec({ vaddr: '10.99.0.40' })), 'create');
    assert.equal(b.get('10.100.0.9', 1234, '10.99.0.40').flags, CF_SYNC);
    const svc = b.service('tcp', '10.99.0.40', 80, [['10.201.0.2', 80, 'route']]);
    assert.equal(b.install(rec({ vaddr: '10.99.0.40', flags: CF_INACTIVE, state: 7 })), 'update');
    assert.equal(b.get('10.100.0.9', 1234, '10.99.0.40').flags, CF_SYNC | CF_INACTIVE | CF_DROUTE | CF_NOOUTPUT);
    assert.deepEqual(counts(svc), [['10.201.0.2:80', 0, 1, 0]]);
  });

  it('an unbound template binds with its own real server, not the one a later record names', () => {
    const b = new Backup();
    const t = rec({ cport: 0, flags: CF_TEMPLATE, state: 0, timeout: 60, vaddr: '10.99.0.41', daddr: '10.201.0.2' });
    b.install(t);
    const svc = b.service('tcp', '10.99.0.41', 80, [['10.201.0.2', 80], ['10.201.0.3', 80]], { persistent: 60 });
    assert.equal(b.install({ ...t, daddr: '10.201.0.3', state: 1 }), 'update');
    assert.deepEqual(counts(svc), [['10.201.0.2:80', 0, 0, 1], ['10.201.0.3:80', 0, 0, 0]]);
  });

  it('templates: PersistConn, INACTIVE from the dest flags, 180 s when the timeout is 0', () => {
    const b = new Backup();
    const svc = b.service('tcp', '10.99.0.11', 80, [['10.202.0.2', 80]], { persistent: 60 });
    const t = rec({ cport: 0, flags: CF_TEMPLATE, state: 0, timeout: 0, vaddr: '10.99.0.11', daddr: '10.202.0.2' });
    assert.equal(b.install(t), 'create');
    const T = b.get('10.100.0.9', 0, '10.99.0.11', true);
    assert.equal(T.flags, CF_SYNC | CF_TEMPLATE | CF_INACTIVE);
    assert.equal(T.timeout, 180);
    assert.equal(b.install({ ...t, state: 1 }), 'update', 'the same template');
    assert.deepEqual(counts(svc), [['10.202.0.2:80', 0, 0, 1]]);
  });

  it('timeouts: v1 seconds capped; 0 → local protocol timeout for the state; no table (ESP) → 180', () => {
    const b = new Backup();
    let port = 100;
    const to = (r: SyncConnFields, v: 0 | 1 = 1): number => {
      const cport = port++;
      b.install({ ...r, cport }, v);
      return b.get(r.caddr, cport, r.vaddr).timeout;
    };
    assert.equal(to(rec({ timeout: 4000000000 })), Math.floor(0x7fffffff / 1000), 'capped (2^31 ms)');
    assert.equal(to(rec({ timeout: 0, state: 1 })), 900);
    assert.equal(to(rec({ timeout: 77, state: 1 }), 0), 900, 'v0 never uses the received timeout');
    assert.equal(to(rec({ timeout: 0, protocol: 132, state: SCTP_S_ESTABLISHED })), 900);
    assert.equal(to(rec({ timeout: 0, protocol: 50, state: 0 })), 180);
  });
});
