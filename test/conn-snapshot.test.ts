// Connection entries across restarts (core/conn/journal.ts, snapshot.ts): a
// worker's mapped file read back after a clean stop and as a crash leaves it,
// restored into one table or spread over two, and files that are not what
// this lvsd writes refused with a reason, never misread.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConnJournal } from '../core/conn/journal.js';
import {
  DEST_AREA_BYTES, H_LAYOUT, HEADER_BYTES, R_AF, RECORD_BYTES, readSnapshot, readSnapshots, removeSnapshotsFrom, restoreSnapshots,
  snapshotPath, SnapshotError, type DestRef, type Snapshot,
} from '../core/conn/snapshot.js';
import { CF_DROUTE, CF_MASQ, CF_NOOUTPUT, CF_TEMPLATE, DIR_INPUT, DIR_OUTPUT, TCP_ESTABLISHED } from '../core/conn/states.js';
import { COUNT_NONE, ConnTable, type ConnDests } from '../core/conn/table.js';
import { Estimator } from '../core/stats/estimator.js';
import { countersPath, restoreCounters, saveCounters } from '../core/stats/saved.js';
import { Lab, RS1, RS2, destSpec } from './engine-harness.js';

const SVC = { family: 'inet' as const, protocol: 'tcp' as const, addr: '10.0.0.1', port: 80, fwmark: 0 };
const REFS: DestRef[] = [1, 2, 3].map((n) => ({ svc: SVC, family: 'inet', addr: `10.1.0.${n}`, port: 80 }));

/** Dests 0..2 as the REFS; counts per dest and class, as the pipeline keeps them. */
class Dests implements ConnDests {
  readonly counts = [new Int32Array(4), new Int32Array(4), new Int32Array(4)];
  readonly ids = REFS.map(() => ({}));
  move(d: number, from: number, to: number): void {
    if (from !== COUNT_NONE) this.counts[d]![from]!--;
    if (to !== COUNT_NONE) this.counts[d]![to]!++;
  }
  available(): boolean { return true; }
  weight(): number { return 1; }
}

const ip = (s: string): number => s.split('.').reduce((a, b) => ((a << 8) | Number(b)) >>> 0, 0);
const tcp = (t: ConnTable, e: number, dir: number, flags: number): void => { t.update(e, dir, flags); };

/** A table with NAT and DR connections (established), a persistence template with two children, and an IPv6 entry. */
function populate(t: ConnTable): void {
  for (let i = 0; i < 40; i++) {
    const nat = i % 2 === 0;
    const e = t.create4(6, ip('192.168.0.10') + i, 40000 + i, ip('10.0.0.1'), 80, ip(`10.1.0.${(i % 3) + 1}`), 80, nat ? CF_MASQ : CF_DROUTE | CF_NOOUTPUT, i % 3, 0);
    tcp(t, e, DIR_INPUT, 0x02);
    if (nat) tcp(t, e, DIR_OUTPUT, 0x12);
    tcp(t, e, DIR_INPUT, 0x10);
  }
  const tpl = t.create4(6, ip('192.168.1.0'), 0, ip('10.0.0.1'), 80, ip('10.1.0.2'), 80, CF_MASQ | CF_TEMPLATE, 1, 0, 360_000);
  for (let i = 0; i < 2; i++) {
    const e = t.create4(6, ip('192.168.1.7'), 50000 + i, ip('10.0.0.1'), 80, ip('10.1.0.2'), 80, CF_MASQ, 1, 0);
    t.attach(e, tpl);
    tcp(t, e, DIR_INPUT, 0x02); tcp(t, e, DIR_OUTPUT, 0x12); tcp(t, e, DIR_INPUT, 0x10);
  }
  const s = t.s;
  s.ca.set([0xfd000000, 0, 0, 0x10]); s.va.set([0xfd000000, 0, 0, 1]); s.da.set([0xfd000000, 0, 1, 2]);
  const e6 = t.create6(6, 41000, 80, 80, CF_DROUTE | CF_NOOUTPUT, 2, 0);
  tcp(t, e6, DIR_INPUT, 0x02); tcp(t, e6, DIR_INPUT, 0x10);
}

/** Entries as comparable text (no entry numbers, no timers). */
function entries(t: ConnTable): string[] {
  return [...t.views()].map((v) => `${v.protocol} ${v.caddr}:${v.cport} ${v.vaddr}:${v.vport} ${v.daddr}:${v.dport} ${v.state}`).sort();
}

const handleOf = (r: DestRef): number => REFS.findIndex((x) => x.addr === r.addr && x.port === r.port);

describe('connection snapshots (restarts)', () => {
  let dir = '';
  beforeEach(() => { dir = mkdtempSync(join(tmpdir(), 'lvsd-snap-')); });
  afterEach(() => { rmSync(dir, { recursive: true, force: true }); });

  const journaled = (worker: number, workers: number): { t: ConnTable; d: Dests; j: ConnJournal } => {
    const d = new Dests();
    const t = new ConnTable({ maxConns: 4096, seed: 1 }, d);
    const j = new ConnJournal({ dir, worker, workers, generation: 3, slots: 4096 }, t.s, { ref: (h) => REFS[h] ?? null, identity: (h) => d.ids[h] ?? null });
    t.s.journal = j;
    j.publish();
    return { t, d, j };
  };
  const fresh = (): { t: ConnTable; d: Dests } => { const d = new Dests(); return { t: new ConnTable({ maxConns: 4096, seed: 99 }, d), d }; };
  const read = (file: string): Snapshot => {
    const s = readSnapshot(file);
    if (s instanceof SnapshotError) throw s;
    return s;
  };

  it('a clean stop: every entry back in a table (same worker count), with its state, dest counts, template and time left', () => {
    const { t, d, j } = journaled(0, 1);
    populate(t);
    t.advance(5000);
    j.finish(Date.now());
    j.close();
    const snap = read(snapshotPath(dir, 0));
    assert.equal(snap.clean, true);
    assert.equal(snap.generation, 3);
    assert.equal(snap.torn, 0);
    const n = fresh();
    const r = restoreSnapshots(n.t, [snap], { handle: handleOf, owns: () => true, wallNow: Date.now() });
    assert.equal(r.restored, 44);
    assert.deepEqual(entries(n.t), entries(t));
    assert.deepEqual(n.d.counts, d.counts, 'ActiveConn / InActConn / PersistConn per real server');
    // the template controls its two children again: it outlives them
    const tplE = n.t.lookupTemplate4(6, ip('192.168.1.0'), ip('10.0.0.1'), 80);
    assert.ok(tplE >= 0);
    assert.equal(n.t.s.nControl[tplE], 2);
    // lookups work (new hash seed): a NAT reply finds its entry
    assert.ok(n.t.lookupOut4(6, ip('10.1.0.1'), 80, ip('192.168.0.10'), 40000) >= 0);
    assert.ok(n.t.lookupIn4(6, ip('192.168.0.10') + 1, 40001, ip('10.0.0.1'), 80) >= 0);
    // ESTABLISHED: 900 s, less the 5 s already run
    const e = n.t.lookupIn4(6, ip('192.168.0.10'), 40000, ip('10.0.0.1'), 80);
    assert.equal(n.t.s.state[e], TCP_ESTABLISHED);
    const left = n.t.s.expires[e]! - n.t.s.now;
    assert.ok(left <= 895_000 + 50 && left > 890_000, String(left));
  });

  it('a crash: the mapped file as last written (no finish) restores every entry; freed ones stay gone', () => {
    const { t, j } = journaled(0, 1);
    populate(t);
    const gone = t.lookupIn4(6, ip('192.168.0.10') + 3, 40003, ip('10.0.0.1'), 80);
    t.del(gone);
    // no j.finish(): the process "dies" here; the page cache holds what was written
    const snap = read(snapshotPath(dir, 0));
    assert.equal(snap.clean, false);
    const n = fresh();
    const r = restoreSnapshots(n.t, [snap], { handle: handleOf, owns: () => true, wallNow: Date.now() });
    assert.equal(r.restored, 43);
    assert.deepEqual(entries(n.t), entries(t));
    j.close();
  });

  it('another worker count: two workers share the saved entries without loss or duplicates; a template goes with its connections', () => {
    const { t, j } = journaled(0, 1);
    populate(t);
    j.finish(Date.now());
    j.close();
    const snap = read(snapshotPath(dir, 0));
    // a stand-in fanout: by client port parity (the worker uses the BPF program's own hash, io/bpf.ts fanoutIndex)
    const parts = [0, 1].map((w) => {
      const n = fresh();
      restoreSnapshots(n.t, [snap], { handle: handleOf, owns: (_af, _p, _ca, cport) => cport % 2 === w, wallNow: Date.now() });
      return n;
    });
    const conns = (x: string[]): string[] => x.filter((l) => !l.includes(':0 '));
    assert.deepEqual(conns([...entries(parts[0]!.t), ...entries(parts[1]!.t)]).sort(), conns(entries(t)));
    // the template's children have ports 50000 and 50001: each worker got a copy of it for its child
    for (const p of parts) assert.ok(p.t.lookupTemplate4(6, ip('192.168.1.0'), ip('10.0.0.1'), 80) >= 0);
    // one table restored from two files holding the same entry keeps it once
    const n = fresh();
    const r = restoreSnapshots(n.t, [snap, snap], { handle: handleOf, owns: () => true, wallNow: Date.now() });
    assert.equal(r.duplicate, 44);
    assert.equal(n.t.count, 44);
  });

  it('time down counts: entries whose time ran out while lvsd was down are not restored; gone real servers drop theirs', () => {
    const { t, j } = journaled(0, 1);
    populate(t);
    j.finish(Date.now());
    j.close();
    const snap = read(snapshotPath(dir, 0));
    const n = fresh();
    const r = restoreSnapshots(n.t, [snap], { handle: (x) => (x.addr === '10.1.0.3' ? -1 : handleOf(x)), owns: () => true, wallNow: Date.now() });
    assert.ok(r.noDest > 0);
    assert.equal(r.restored + r.noDest, 44);
    const m = fresh();
    const late = restoreSnapshots(m.t, [snap], { handle: handleOf, owns: () => true, wallNow: Date.now() + 3_600_000 });
    assert.equal(late.restored, 0);
    assert.equal(late.expired, 44);
  });

  it('refused with a reason: another layout version, a foreign file, a truncated one; a torn record is left out alone', () => {
    const { t, j } = journaled(0, 1);
    populate(t);
    j.finish(Date.now());
    j.close();
    const file = snapshotPath(dir, 0);
    const good = readFileSync(file);
    // a torn record (a crash mid-write): that record only
    const torn = Buffer.from(good);
    torn[HEADER_BYTES + 5 * RECORD_BYTES + R_AF] = 9;
    writeFileSync(file, torn);
    const ts = read(file);
    assert.equal(ts.torn, 1);
    assert.equal(restoreSnapshots(fresh().t, [ts], { handle: handleOf, owns: () => true, wallNow: Date.now() }).restored, 43);
    // another layout
    const other = Buffer.from(good);
    other.writeUInt32BE(99, H_LAYOUT);
    writeFileSync(file, other);
    const a = readSnapshot(file);
    assert.ok(a instanceof SnapshotError);
    assert.match(a.message, /layout version 99 .*this lvsd reads version \d+.*not restored/);
    // foreign
    writeFileSync(file, 'not a connection table at all, but long enough to hold a header of sixty-four bytes......');
    const b = readSnapshot(file);
    assert.ok(b instanceof SnapshotError);
    assert.match(b.message, /bad magic/);
    // truncated
    writeFileSync(file, good.subarray(0, good.length - DEST_AREA_BYTES));
    const c = readSnapshot(file);
    assert.ok(c instanceof SnapshotError);
    assert.match(c.message, /truncated/);
    // a damaged real-server list: the other copy is used
    writeFileSync(file, good);
    const listAt = HEADER_BYTES + 4096 * RECORD_BYTES;
    const damaged = Buffer.from(good);
    for (let w = 0; w < 2; w++) damaged[listAt + w * DEST_AREA_BYTES + 20] = damaged[listAt + w * DEST_AREA_BYTES + 20]! ^ 0xff;
    writeFileSync(file, damaged);
    const dm = read(file);
    assert.equal(dm.dests.length, 0, 'both lists damaged: no real server is known');
    assert.ok(dm.torn > 0, 'records naming unknown real servers are left out');
    // readSnapshots: the refused ones listed, the good ones kept
    writeFileSync(file, good);
    writeFileSync(snapshotPath(dir, 1), 'junk');
    const all = readSnapshots(dir);
    assert.equal(all.snapshots.length, 1);
    assert.equal(all.refused.length, 1);
    removeSnapshotsFrom(dir, 1);
    assert.throws(() => statSync(snapshotPath(dir, 1)));
    assert.ok(statSync(file).size > 0);
  });
});

describe('saved counters (restarts)', () => {
  let dir = '';
  beforeEach(() => { dir = mkdtempSync(join(tmpdir(), 'lvsd-ctr-')); });
  afterEach(() => { rmSync(dir, { recursive: true, force: true }); });

  it('totals and rates continue on the services and real servers that exist again; a bad file starts them at 0 with a reason', () => {
    const a = new Lab();
    const svc = a.service({}, [destSpec(RS1), destSpec(RS2)]);
    const est = new Estimator();
    est.start(a.table);
    svc.stats.conns = 1234; svc.stats.inbytes = 5_000_000;
    a.dest(svc, RS1).stats.conns = 1000;
    a.table.total.conns = 1234;
    for (let i = 0; i < 5; i++) { svc.stats.conns += 100; est.tick(a.table); }
    saveCounters(a.table, dir);

    // the next daemon: the table from config (RS2 no longer in it), its estimator started first
    const b = new Lab();
    const svc2 = b.service({}, [destSpec(RS1)]);
    const est2 = new Estimator();
    est2.start(b.table);
    assert.match(restoreCounters(b.table, dir) ?? '', /1 services and 1 real servers/);
    assert.equal(svc2.stats.conns, 1734);
    assert.equal(svc2.stats.inbytes, 5_000_000);
    assert.equal(b.dest(svc2, RS1).stats.conns, 1000);
    assert.equal(b.table.total.conns, 1234);
    const cps = svc2.stats.cps;
    assert.ok(cps > 0);
    // no traffic for a tick: the rate decays from where it was (no spike from the restored totals, no restart from 0)
    est2.tick(b.table);
    assert.ok(svc2.stats.cps < cps && svc2.stats.cps > 0, `${cps} → ${svc2.stats.cps}`);

    writeFileSync(countersPath(dir), JSON.stringify({ magic: 'lvsd-counters', layout: 999 }));
    assert.match(restoreCounters(new Lab().table, dir) ?? '', /layout version 999, this lvsd reads 1; counters start at 0/);
    writeFileSync(countersPath(dir), '{');
    assert.match(restoreCounters(new Lab().table, dir) ?? '', /not JSON/);
    rmSync(countersPath(dir));
    assert.equal(restoreCounters(new Lab().table, dir), null);
  });
});
