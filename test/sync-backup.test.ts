// plugins/sync/lib/backup.ts: the captured datagrams applied to a small in-memory
// backup reproduce the kernel backup's table (fixtures/sync/capture-output.txt),
// plus the per-record rules of spec §6.
import assert from 'node:assert/strict';
import {
  applySyncRecord, destConnFlags, linuxDefaultTimeout, syncConnKey, type BackupAction, type BackupConfig, type BackupDest,
  type BackupExisting, type BackupLookup, type DestCounter, type SyncConnKey,
} from '../plugins/sync/lib/backup.js';
import {
  decodeMessage, IP_VS_CONN_F_DROUTE, IP_VS_CONN_F_IN_SEQ, IP_VS_CONN_F_INACTIVE, IP_VS_CONN_F_MASQ, IP_VS_CONN_F_NOOUTPUT,
  IP_VS_CONN_F_SYNC, IP_VS_CONN_F_TEMPLATE, type SyncConn, type SyncVersion,
} from '../plugins/sync/lib/wire.js';
import { readHexFixture } from './sync-helpers.js';

interface Dest extends BackupDest { name: string; active: number; inactive: number; persist: number }
interface Svc { dests: Map<string, Dest> }
interface Entry { key: SyncConnKey; flags: number; state: number; timeout: number; inPkts: number; daddr: string; dport: number; fwmark: number; dest: Dest | null }

const keyStr = (k: SyncConnKey): string =>
  JSON.stringify([k.af, k.protocol, k.caddr, k.cport, k.vaddr, k.vport, k.template, k.peName ?? '', k.peData ? [...k.peData] : []]);

/** A toy backup: services, dests with counters, and a connection table applying the actions. */
class Backup implements BackupLookup<Entry, Svc, Dest> {
  readonly table = new Map<string, Entry>();
  readonly byAddr = new Map<string, Svc>();
  readonly byMark = new Map<number, Svc>();
  readonly log: string[] = [];

  service(proto: number, vip: string, vport: number, dests: Array<[string, number, number?]>, mark = 0): Svc {
    const svc: Svc = { dests: new Map() };
    for (const [addr, port, fwd] of dests) {
      svc.dests.set(`${addr}|${port}`, { name: `${addr}:${port}`, connFlags: destConnFlags(fwd ?? IP_VS_CONN_F_MASQ), active: 0, inactive: 0, persist: 0 });
    }
    if (mark) this.byMark.set(mark, svc); else this.byAddr.set(`${proto}|${vip}|${vport}`, svc);
    return svc;
  }

  private found(k: SyncConnKey): BackupExisting<Entry, Dest> | null {
    const e = this.table.get(keyStr(k));
    return e ? { conn: e, flags: e.flags, daddr: e.daddr, dport: e.dport, fwmark: e.fwmark, dest: e.dest } : null;
  }
  findConn(k: SyncConnKey): BackupExisting<Entry, Dest> | null { return this.found(k); }
  findTemplate(k: SyncConnKey): BackupExisting<Entry, Dest> | null { return this.found(k); }
  serviceByFwmark(_af: 4 | 6, mark: number): Svc | null { return this.byMark.get(mark) ?? null; }
  serviceByAddr(_af: 4 | 6, proto: number, vaddr: string, vport: number): Svc | null { return this.byAddr.get(`${proto}|${vaddr}|${vport}`) ?? null; }
  destOf(svc: Svc, daddr: string, dport: number): Dest | null { return svc.dests.get(`${daddr}|${dport}`) ?? null; }

  apply(actions: BackupAction<Entry, Dest>[]): void {
    const bump = (d: Dest, c: DestCounter, n: number): void => { d[c] += n; assert.ok(d[c] >= 0, `${d.name} ${c} below 0`); };
    for (const a of actions) {
      this.log.push(a.kind);
      if (a.kind === 'ignore') continue;
      if (a.kind === 'expire') {
        const e = a.conn;
        if (e.dest) bump(e.dest, e.key.template ? 'persist' : e.flags & IP_VS_CONN_F_INACTIVE ? 'inactive' : 'active', -1);
        this.table.delete(keyStr(e.key));
        continue;
      }
      if (a.kind === 'create') {
        const e: Entry = { key: a.key, flags: a.flags, state: a.state, timeout: a.timeout, inPkts: a.inPkts, daddr: a.daddr, dport: a.dport, fwmark: a.fwmark, dest: null };
        if (a.bind) { e.dest = a.bind.dest; bump(a.bind.dest, a.bind.count, 1); }
        this.table.set(keyStr(a.key), e);
        continue;
      }
      const e = a.conn;
      if (a.move) { bump(a.move.dest, a.move.from, -1); bump(a.move.dest, a.move.to, 1); }
      if (a.bind) { e.dest = a.bind.dest; bump(a.bind.dest, a.bind.count, 1); }
      Object.assign(e, { flags: a.flags, state: a.state, timeout: a.timeout, inPkts: a.inPkts });
    }
  }

  receive(msg: Uint8Array, cfg: BackupConfig = CFG): void {
    const d = decodeMessage(msg, msg.length, 0);
    assert.ok(d.ok);
    for (const c of d.conns) this.apply(applySyncRecord(c, d.version, cfg, this));
  }

  get(caddr: string, cport: number, vaddr: string, template = false): Entry {
    const e = [...this.table.values()].find((x) => x.key.caddr === caddr && x.key.cport === cport && x.key.vaddr === vaddr && x.key.template === template);
    assert.ok(e, `no entry ${caddr}:${cport} → ${vaddr}`);
    return e;
  }
}

const CFG: BackupConfig = { syncThreshold: 3, protoTimeout: linuxDefaultTimeout };

/** The backup of the capture: the same services as the master. */
function captureBackup(): { b: Backup; s10: Svc; s11: Svc; s12: Svc; s6: Svc } {
  const b = new Backup();
  const s10 = b.service(6, '10.99.0.10', 80, [['10.201.0.2', 80], ['10.202.0.2', 80]]);
  const s11 = b.service(6, '10.99.0.11', 80, [['10.202.0.2', 80]]);
  const s12 = b.service(17, '10.99.0.12', 53, [['10.203.0.2', 53]]);
  const s6 = b.service(6, 'fd00:99::10', 80, [['fd00:201::2', 80]]);
  return { b, s10, s11, s12, s6 };
}

const counts = (s: Svc): Array<[string, number, number, number]> => [...s.dests.values()].map((d) => [d.name, d.active, d.inactive, d.persist]);

describe('sync backup: the captured messages on a backup with the same services', () => {
  it('after v1: final states, transmitted timeouts, SYNC entries bound, InActConn 1 per server', () => {
    const { b, s10, s11, s12, s6 } = captureBackup();
    b.receive(readHexFixture('v1-msg1.hex'));
    b.receive(readHexFixture('v1-msg2.hex'));
    assert.equal(b.table.size, 5);
    const A = b.get('10.100.0.2', 45977, '10.99.0.10');
    assert.deepEqual([A.state, A.timeout, A.inPkts], [5, 120, 3]);
    assert.equal(A.flags, IP_VS_CONN_F_SYNC | IP_VS_CONN_F_INACTIVE);
    assert.deepEqual([b.get('10.100.0.2', 49021, '10.99.0.11').timeout, b.get('10.100.0.2', 40000, '10.99.0.12').timeout], [120, 300]);
    const T = b.get('10.100.0.2', 0, '10.99.0.11', true);
    assert.deepEqual([T.state, T.timeout], [1, 60]);
    assert.equal(T.flags, IP_VS_CONN_F_SYNC | IP_VS_CONN_F_INACTIVE | IP_VS_CONN_F_TEMPLATE);
    assert.equal(b.get('fd00:100::2', 49952, 'fd00:99::10').timeout, 120);
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
    assert.deepEqual([A.state, A.timeout], [5, 120]);
    assert.equal(b.get('10.100.0.3', 40000, '10.99.0.12').timeout, 300);
    assert.equal(b.get('10.100.0.3', 0, '10.99.0.11', true).timeout, 180);
    assert.deepEqual(counts(s10), [['10.201.0.2:80', 0, 1, 0], ['10.202.0.2:80', 0, 1, 0]]);
    assert.deepEqual(counts(s11), [['10.202.0.2:80', 0, 2, 2]]);
    assert.deepEqual(counts(s12), [['10.203.0.2:53', 0, 2, 0]]);
  });
});

describe('sync backup: per-record rules (§6)', () => {
  const rec = (over: Partial<SyncConn> = {}): SyncConn => ({
    af: 4, protocol: 6, flags: 0, state: 1, cport: 1234, vport: 80, dport: 80, fwmark: 0, timeout: 900,
    caddr: '10.100.0.9', vaddr: '10.99.0.10', daddr: '10.201.0.2', ...over,
  });
  const run = (b: Backup, r: SyncConn, v: SyncVersion = 1, cfg = CFG): BackupAction<Entry, Dest>[] => {
    const a = applySyncRecord(r, v, cfg, b);
    b.apply(a);
    return a;
  };

  it('existing entry on another real server: active record expires it and creates anew, inactive one is ignored', () => {
    const { b, s10 } = captureBackup();
    run(b, rec());
    assert.deepEqual(run(b, rec({ daddr: '10.202.0.2', flags: IP_VS_CONN_F_INACTIVE, state: 7 })).map((a) => a.kind), ['ignore']);
    assert.deepEqual(run(b, rec({ daddr: '10.202.0.2' })).map((a) => a.kind), ['expire', 'create']);
    assert.deepEqual(counts(s10), [['10.201.0.2:80', 0, 0, 0], ['10.202.0.2:80', 1, 0, 0]]);
    assert.equal(b.get('10.100.0.9', 1234, '10.99.0.10').daddr, '10.202.0.2');
  });

  it('update replaces only INACTIVE and SEQ bits and moves one count on INACTIVE changes', () => {
    const { b, s10 } = captureBackup();
    run(b, rec({ flags: IP_VS_CONN_F_INACTIVE, state: 3 }));
    assert.deepEqual(counts(s10)[0], ['10.201.0.2:80', 0, 1, 0]);
    const e = b.get('10.100.0.9', 1234, '10.99.0.10');
    e.flags |= 0x10000; // a local-only bit stays
    const [u] = run(b, rec({ flags: IP_VS_CONN_F_IN_SEQ | IP_VS_CONN_F_DROUTE | IP_VS_CONN_F_NOOUTPUT, seq: { in: { initSeq: 1, delta: 2, prevDelta: 3 }, out: { initSeq: 4, delta: 5, prevDelta: 6 } } }));
    assert.ok(u?.kind === 'update');
    assert.deepEqual(u.move?.from, 'inactive');
    assert.equal(u.seq?.in.initSeq, 1);
    assert.equal(e.flags, IP_VS_CONN_F_SYNC | IP_VS_CONN_F_IN_SEQ | 0x10000, 'received DROUTE/NOOUTPUT not taken; local MASQ kept');
    assert.deepEqual(counts(s10)[0], ['10.201.0.2:80', 1, 0, 0]);
    assert.deepEqual([e.state, e.timeout, e.inPkts], [1, 900, 3]);
  });

  it('new entry: bound entries take the local forwarding method and NOOUTPUT, keep the received INACTIVE', () => {
    const b = new Backup();
    const svc = b.service(6, '10.99.0.20', 80, [['10.201.0.5', 80, IP_VS_CONN_F_DROUTE]]);
    const [c] = run(b, rec({ vaddr: '10.99.0.20', daddr: '10.201.0.5', flags: IP_VS_CONN_F_MASQ }));
    assert.ok(c?.kind === 'create' && c.bind);
    assert.equal(c.flags, IP_VS_CONN_F_SYNC | IP_VS_CONN_F_DROUTE | IP_VS_CONN_F_NOOUTPUT);
    run(b, rec({ cport: 2, vaddr: '10.99.0.20', daddr: '10.201.0.5', flags: IP_VS_CONN_F_INACTIVE, state: 5 }));
    assert.deepEqual(counts(svc), [['10.201.0.5:80', 1, 1, 0]]);
  });

  it('fwmark service first for a non-zero v1 fwmark; non-NAT tries port 0 first, then dport; v0 ignores the mark', () => {
    const b = new Backup();
    const fw = b.service(0, '', 0, [['10.201.0.7', 0, IP_VS_CONN_F_DROUTE]], 5);
    const byAddr = b.service(6, '10.99.0.30', 443, [['10.201.0.7', 443, IP_VS_CONN_F_DROUTE]]);
    const r = rec({ vaddr: '10.99.0.30', vport: 443, dport: 443, daddr: '10.201.0.7', fwmark: 5, flags: IP_VS_CONN_F_DROUTE });
    run(b, r);
    assert.deepEqual(counts(fw), [['10.201.0.7:0', 1, 0, 0]]);
    run(b, { ...r, cport: 99 }, 0);
    assert.deepEqual(counts(byAddr), [['10.201.0.7:443', 1, 0, 0]], 'v0: no mark, service by address');
    // NAT with a mark: dport first, then 0
    const nat = new Backup();
    const fwn = nat.service(0, '', 0, [['10.201.0.8', 0], ['10.201.0.8', 443]], 6);
    run(nat, { ...r, fwmark: 6, daddr: '10.201.0.8', flags: 0 });
    assert.deepEqual(counts(fwn).map((x) => x[1]), [0, 1]);
  });

  it('no local service: created unbound; a later update binds it (ip_vs_try_bind_dest)', () => {
    const b = new Backup();
    const [c] = run(b, rec({ vaddr: '10.99.0.40' }));
    assert.ok(c?.kind === 'create' && c.bind === null);
    assert.equal(c.flags, IP_VS_CONN_F_SYNC);
    const svc = b.service(6, '10.99.0.40', 80, [['10.201.0.2', 80, IP_VS_CONN_F_DROUTE]]);
    const [u] = run(b, rec({ vaddr: '10.99.0.40', flags: IP_VS_CONN_F_INACTIVE, state: 7 }));
    assert.ok(u?.kind === 'update' && u.bind && u.move === null);
    assert.equal(u.flags, IP_VS_CONN_F_SYNC | IP_VS_CONN_F_INACTIVE | IP_VS_CONN_F_DROUTE | IP_VS_CONN_F_NOOUTPUT);
    assert.deepEqual(counts(svc), [['10.201.0.2:80', 0, 1, 0]]);
  });

  it('templates: PersistConn, INACTIVE from the dest flags, PE data in the key, 180 s when the timeout is 0', () => {
    const b = new Backup();
    const svc = b.service(6, '10.99.0.11', 80, [['10.202.0.2', 80]]);
    const t = rec({ cport: 0, flags: IP_VS_CONN_F_TEMPLATE, state: 0, timeout: 0, vaddr: '10.99.0.11', daddr: '10.202.0.2', peData: Uint8Array.of(1), peName: 'sip' });
    const [c] = run(b, t);
    assert.ok(c?.kind === 'create');
    assert.equal(c.flags, IP_VS_CONN_F_SYNC | IP_VS_CONN_F_TEMPLATE | IP_VS_CONN_F_INACTIVE);
    assert.equal(c.timeout, 180);
    assert.deepEqual(syncConnKey(t).peData, Uint8Array.of(1));
    run(b, { ...t, peData: Uint8Array.of(2) });
    assert.equal(b.table.size, 2, 'another Call-ID is another template');
    assert.deepEqual(counts(svc), [['10.202.0.2:80', 0, 0, 2]]);
  });

  it('timeouts: v1 seconds capped; 0 → local protocol timeout for the state; no table (ESP) → 180', () => {
    const b = new Backup();
    const to = (r: SyncConn, v: SyncVersion = 1, cfg = CFG): number => {
      const a = applySyncRecord(r, v, cfg, b);
      return (a[a.length - 1] as { timeout: number }).timeout;
    };
    assert.equal(to(rec({ timeout: 4000000000 }), 1, { ...CFG, maxTimeout: 1000000 }), 1000000);
    assert.equal(to(rec({ timeout: 0, state: 1 })), 900);
    assert.equal(to(rec({ timeout: 77, state: 1 }), 0), 900, 'v0 never uses the received timeout');
    assert.equal(to(rec({ timeout: 0, protocol: 132, state: 6 })), 900);
    assert.equal(to(rec({ timeout: 0, protocol: 50, state: 0 })), 180);
  });
});
