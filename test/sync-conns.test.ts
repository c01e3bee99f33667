// The data plane's side of connection sync (core/conn/sync.ts): what a master
// reports per inbound packet (spec sync.md §4, against the records of the
// captures in §2.6 and §3), and what a backup makes of them (§6), through
// the engine on the memory wire; then a takeover: the backup forwards the
// next packet of a synced connection.

import { strict as assert } from 'node:assert';
import { buildFrame, type IpSpec, type L4Spec } from '../core/packet/build.js';
import { TCP_ACK, TCP_FIN, TCP_SYN } from '../core/packet/parse.js';
import { SVC_F_PERSISTENT } from '../core/model/types.js';
import { nftRules } from '../core/nft.js';
import { SYNC_DEFAULTS, recordsOf, syncConnsOf, type SyncConnFields, type SyncSettings } from '../core/conn/sync.js';
import { CLIENT, CLIENT6, DIR_MAC, GW_MAC, Lab, RS1, RS1_6, RS1_MAC, VIP, VIP6, destSpec } from './engine-harness.js';

const fromGw = (ip: IpSpec, l4: L4Spec): Uint8Array => buildFrame({ dst: DIR_MAC, src: GW_MAC }, ip, l4);
const fromRs = (ip: IpSpec, l4: L4Spec): Uint8Array => buildFrame({ dst: DIR_MAC, src: RS1_MAC }, ip, l4);
const tcp = (sport: number, dport: number, flags: number): L4Spec => ({ proto: 'tcp', sport, dport, flags, seq: 1000, ack: 0 });
const udp = (sport: number, dport: number): L4Spec => ({ proto: 'udp', sport, dport, payload: new Uint8Array(8) });
const c2s = (src = CLIENT, dst = VIP): IpSpec => ({ src, dst, ttl: 64 });
const s2c = (dst = CLIENT): IpSpec => ({ src: RS1, dst, ttl: 64 });

/** A master director: NAT services as in the captures' setup, reporting what to sync. */
function master(o: Partial<SyncSettings> = {}): { lab: Lab; taken: () => SyncConnFields[] } {
  const lab = new Lab();
  lab.service({ port: 80 }, [destSpec(RS1, { fwd: 'masq' })]);
  lab.service({ port: 443, flags: SVC_F_PERSISTENT, timeout: 60, netmask: 0xffffffff }, [destSpec(RS1, { fwd: 'masq', port: 443 })]);
  lab.service({ protocol: 'udp', port: 53 }, [destSpec(RS1, { fwd: 'masq', port: 53 })]);
  lab.service({ family: 'inet6', addr: VIP6, port: 80 }, [destSpec(RS1_6, { fwd: 'masq' })]);
  lab.engine.setSyncOut({ ...SYNC_DEFAULTS, ...o });
  const taken = (): SyncConnFields[] => syncConnsOf(lab.engine.takeSynced()?.records ?? new Uint8Array(0));
  return { lab, taken };
}

/** A short HTTP/1.0 exchange through NAT (the server closes after its answer), client port `cport`. */
function http(lab: Lab, cport: number, vport: number, v6 = false): void {
  const [cl, vip, rs] = v6 ? [CLIENT6, VIP6, RS1_6] : [CLIENT, VIP, RS1];
  const inb = (flags: number) => lab.send(fromGw(c2s(cl, vip), tcp(cport, vport, flags)));
  const out = (flags: number) => lab.send(fromRs({ src: rs, dst: cl, ttl: 64 }, tcp(vport, cport, flags)));
  inb(TCP_SYN);                 // 1
  out(TCP_SYN | TCP_ACK);
  inb(TCP_ACK);                 // 2: ESTABLISHED, not yet sent
  inb(TCP_ACK);                 // 3: the request: sent (pkts % 50 == 3)
  out(TCP_ACK | TCP_FIN);       // the answer and the server's FIN: CLOSE_WAIT, noticed at the next client packet
  inb(TCP_ACK | TCP_FIN);       // 4: the client's FIN: sent, CLOSE_WAIT
  out(TCP_ACK);
  inb(TCP_ACK);                 // 5
}

const row = (c: SyncConnFields): string =>
  `${c.protocol} ${c.caddr}:${c.cport}>${c.vaddr}:${c.vport}>${c.daddr}:${c.dport} f=${c.flags.toString(16)} s=${c.state} t=${c.timeout}`;

describe('sync: what a master reports (spec §4)', () => {
  it('a TCP connection: ESTABLISHED at its 3rd inbound packet, then every change of state into the closing ones, INACTIVE once inactive', () => {
    const { lab, taken } = master();
    http(lab, 60800, 80);
    const got = taken().map(row);
    assert.equal(got[0], `6 ${CLIENT}:60800>${VIP}:80>${RS1}:80 f=0 s=1 t=900`);
    assert.ok(got.length >= 2, got.join('\n'));
    for (const r of got.slice(1)) assert.match(r, / f=100 s=(4|5|6|7) /, got.join('\n'));
    // nothing twice for the same state: a record means a change (or the period)
    assert.equal(new Set(got).size, got.length);
  });

  it('the period: a long connection again at its 53rd and 103rd inbound packet; the threshold 0 0 / refresh rules', () => {
    const { lab, taken } = master();
    lab.send(fromGw(c2s(), tcp(40001, 80, TCP_SYN)));
    lab.send(fromRs(s2c(), tcp(80, 40001, TCP_SYN | TCP_ACK)));
    const at: number[] = [];
    for (let p = 2; p <= 110; p++) {
      lab.send(fromGw(c2s(), tcp(40001, 80, TCP_ACK)));
      if (taken().length) at.push(p);
    }
    assert.deepEqual(at, [3, 53, 103]);
  });

  it('a persistent service: its template (TEMPLATE|INACTIVE, cport 0, the persistence timeout) with every evaluation, state 0 until a connection is ESTABLISHED', () => {
    const { lab, taken } = master();
    lab.send(fromGw(c2s(), tcp(35554, 443, TCP_SYN)));
    const first = taken();
    assert.deepEqual(first.map(row), [`6 ${CLIENT}:0>${VIP}:443>${RS1}:443 f=1100 s=0 t=60`]);
    lab.send(fromRs(s2c(), tcp(443, 35554, TCP_SYN | TCP_ACK)));
    lab.send(fromGw(c2s(), tcp(35554, 443, TCP_ACK)));
    assert.deepEqual(taken().map(row), [`6 ${CLIENT}:0>${VIP}:443>${RS1}:443 f=1100 s=1 t=60`]);
    lab.send(fromGw(c2s(), tcp(35554, 443, TCP_ACK)));
    // the connection, then its template right after it
    assert.deepEqual(taken().map(row), [`6 ${CLIENT}:35554>${VIP}:443>${RS1}:443 f=0 s=1 t=900`, `6 ${CLIENT}:0>${VIP}:443>${RS1}:443 f=1100 s=1 t=60`]);
  });

  it('UDP: one record at the 3rd datagram (INACTIVE, state 0, 300 s), none for the 4th', () => {
    const { lab, taken } = master();
    const counts: number[] = [];
    for (let i = 0; i < 4; i++) { lab.send(fromGw(c2s(), udp(40000, 53))); counts.push(taken().length); }
    assert.deepEqual(counts, [0, 0, 1, 0]);
  });

  it('IPv6 in v1 (72-byte records on the wire); v0 reports IPv4 only, and a template only right after its connection', () => {
    const v1 = master();
    http(v1.lab, 33958, 80, true);
    const six = v1.taken();
    assert.equal(six[0]!.family, 'inet6');
    assert.equal(row(six[0]!), `6 ${CLIENT6}:33958>${VIP6}:80>${RS1_6}:80 f=0 s=1 t=900`);
    const v0 = master({ version: 0 });
    http(v0.lab, 33958, 80, true);
    assert.deepEqual(v0.taken(), []);
    v0.lab.send(fromGw(c2s(), tcp(35555, 443, TCP_SYN)));
    v0.lab.send(fromRs(s2c(), tcp(443, 35555, TCP_SYN | TCP_ACK)));
    v0.lab.send(fromGw(c2s(), tcp(35555, 443, TCP_ACK)));
    assert.deepEqual(v0.taken(), [], 'v0: no template without its connection');
    v0.lab.send(fromGw(c2s(), tcp(35555, 443, TCP_ACK)));
    assert.deepEqual(v0.taken().map((c) => c.flags.toString(16)), ['0', '1100']);
  });

  it('sync_persist_mode 1: connections of a persistent service are not sent, their templates are', () => {
    const { lab, taken } = master({ persistMode: true });
    lab.send(fromGw(c2s(), tcp(35556, 443, TCP_SYN)));
    lab.send(fromRs(s2c(), tcp(443, 35556, TCP_SYN | TCP_ACK)));
    for (let i = 0; i < 3; i++) lab.send(fromGw(c2s(), tcp(35556, 443, TCP_ACK)));
    assert.ok(taken().every((c) => (c.flags & 0x1000) !== 0));
  });

  it('stopped, it reports nothing', () => {
    const { lab, taken } = master();
    lab.engine.setSyncOut(null);
    http(lab, 60801, 80);
    assert.deepEqual(taken(), []);
  });
});

describe('sync: what a backup makes of it (spec §6)', () => {
  /** The backup: the same services, the same real server. */
  const backup = (): Lab => { const b = master().lab; b.wait(0); return b; };

  it('v1: the entries in their received state, flagged SYNC, the transmitted timeouts, counted in InActConn; a takeover continues them (NAT)', () => {
    const m = master();
    http(m.lab, 60800, 80);
    m.lab.send(fromGw(c2s(), tcp(35554, 443, TCP_SYN)));
    m.lab.send(fromRs(s2c(), tcp(443, 35554, TCP_SYN | TCP_ACK)));
    for (let i = 0; i < 3; i++) m.lab.send(fromGw(c2s(), tcp(35554, 443, TCP_ACK)));
    for (let i = 0; i < 3; i++) m.lab.send(fromGw(c2s(), udp(40000, 53)));
    const sent = m.taken();
    const b = backup();
    const { records } = recordsOf(sent);
    const counts = b.engine.installSynced(records, { version: 1, threshold: 3, owns: () => true });
    assert.equal(counts.created, 4);   // A, B, B's template, C
    assert.equal(counts.unbound, 0);
    const views = b.conns().map((c) => `${c.protocol} ${c.cport}>${c.vport} ${c.state} ${c.expires}`).sort();
    // each in its last state sent, with that state's whole timeout (the captured backup: TIME_WAIT 120, UDP 300, template 60)
    assert.deepEqual(views, ['tcp 0>443 ASSURED 60', 'tcp 35554>443 ESTABLISHED 900', 'tcp 60800>80 TIME_WAIT 120', 'udp 40000>53 UDP 300']);
    const s = b.engine.conns.s;
    for (let e = 0; e < s.end; e++) if (s.af[e]) assert.ok(s.flags[e]! & 0x20, 'flagged SYNC');
    const d80 = b.table.list().find((x) => x.port === 80)!.dests[0]!;
    assert.equal(d80.inactConns, 1);
    assert.equal(d80.activeConns, 0);
    const d443 = b.table.list().find((x) => x.port === 443)!.dests[0]!;
    assert.equal(d443.activeConns, 1);
    assert.equal(d443.persistConns, 1);
    // the takeover: the established connection's next packets, both ways, through the backup
    const fwd = b.send(fromGw(c2s(), tcp(35554, 443, TCP_ACK)));
    assert.equal(fwd.length, 1);
    const reply = b.send(fromRs(s2c(), tcp(443, 35554, TCP_ACK)));
    assert.equal(reply.length, 1, 'the NAT reply is rewritten back to the VIP');
    assert.equal(b.engine.dropCounts()['no-conn'] ?? 0, 0);
  });

  it('v0: the backup\'s own timeouts, templates 180 s; an update changes only the activity bits and moves the counts', () => {
    const b = backup();
    const base: SyncConnFields = { family: 'inet', protocol: 6, flags: 0, state: 1, cport: 1234, vport: 80, dport: 80, fwmark: 0, timeout: 0,
      caddr: CLIENT, vaddr: VIP, daddr: RS1 };
    const tpl: SyncConnFields = { ...base, flags: 0x1100, state: 1, cport: 0, vport: 443, dport: 443 };
    b.engine.installSynced(recordsOf([base, tpl]).records, { version: 0, threshold: 3, owns: () => true });
    const v = b.conns().map((c) => `${c.cport} ${c.state} ${c.expires}`).sort();
    assert.deepEqual(v, ['0 ASSURED 180', '1234 ESTABLISHED 900']);
    const d = b.table.list().find((x) => x.port === 80)!.dests[0]!;
    assert.deepEqual([d.activeConns, d.inactConns], [1, 0]);
    b.engine.installSynced(recordsOf([{ ...base, flags: 0x100, state: 5, timeout: 120 }]).records, { version: 1, threshold: 3, owns: () => true });
    assert.deepEqual([d.activeConns, d.inactConns], [0, 1]);
    assert.deepEqual(b.conns().filter((c) => c.cport === 1234).map((c) => `${c.state} ${c.expires}`), ['TIME_WAIT 120']);
  });

  it('a record for a connection now to another real server: inactive, an old expiry notice, ignored; active, it replaces the entry', () => {
    const b = backup();
    const base: SyncConnFields = { family: 'inet', protocol: 6, flags: 0, state: 1, cport: 1, vport: 80, dport: 80, fwmark: 0, timeout: 900,
      caddr: CLIENT, vaddr: VIP, daddr: RS1 };
    const opts = { version: 1, threshold: 3, owns: () => true };
    b.engine.installSynced(recordsOf([base]).records, opts);
    const c1 = b.engine.installSynced(recordsOf([{ ...base, daddr: '192.168.10.50', flags: 0x100, state: 5 }]).records, opts);
    assert.equal(c1.ignored, 1);
    const c2 = b.engine.installSynced(recordsOf([{ ...base, daddr: '192.168.10.50' }]).records, opts);
    assert.deepEqual([c2.created, c2.unbound], [1, 1]);
    b.wait(0.1);
    assert.deepEqual(b.conns().map((c) => c.daddr), ['192.168.10.50']);
  });

  it('entries of a service or real server this director does not have are created unbound; invalid objects change nothing', () => {
    const b = backup();
    const x: SyncConnFields = { family: 'inet', protocol: 6, flags: 0, state: 1, cport: 9, vport: 8080, dport: 8080, fwmark: 0, timeout: 900,
      caddr: CLIENT, vaddr: VIP, daddr: RS1 };
    const r = recordsOf([x, { ...x, caddr: 'not an address' }, { ...x, state: -1 }, { ...x, family: 'ipx' as 'inet' }]);
    assert.equal(r.invalid, 3);
    const c = b.engine.installSynced(r.records, { version: 1, threshold: 3, owns: () => true });
    assert.deepEqual([c.created, c.unbound], [1, 1]);
  });
});

describe('sync: backup_only (the backup role running)', () => {
  it('no client packet is balanced here, new or of an entry (the host has them); a NAT reply of an entry still is', () => {
    const { lab } = master();
    lab.engine.setSyncOut(null);
    lab.send(fromGw(c2s(), tcp(50000, 80, TCP_SYN)));
    assert.equal(lab.conns().length, 1);
    lab.engine.backupOnly = true;
    assert.equal(lab.send(fromGw(c2s(), tcp(50001, 80, TCP_SYN))).length, 0, 'no new connection');
    assert.equal(lab.send(fromGw(c2s(), tcp(50000, 80, TCP_ACK))).length, 0, 'nor a packet of an existing one');
    assert.equal(lab.engine.dropCounts()['backup-only'], 2);
    assert.equal(lab.send(fromRs(s2c(), tcp(80, 50000, TCP_SYN | TCP_ACK))).length, 1, 'the NAT reply goes out');
    assert.equal(lab.conns().length, 1);
    lab.engine.backupOnly = false;
    assert.equal(lab.send(fromGw(c2s(), tcp(50001, 80, TCP_SYN))).length, 1);
  });

  it('on real interfaces the VIPs go back to the kernel meanwhile: the takeover keeps only the NAT reply rules', () => {
    const { lab } = master();
    const all = nftRules(lab.table, [], new Set(['masq']));
    const backupOnly = nftRules(lab.table, [], new Set(['masq']), { vips: false });
    assert.ok(all.some((r) => r.startsWith(`ip daddr ${VIP} tcp dport 80 drop`)));
    assert.deepEqual(backupOnly, all.filter((r) => / saddr /.test(r)));
    assert.ok(backupOnly.length > 0 && backupOnly.every((r) => !/ daddr [^!]/.test(r.replace(/daddr != \{[^}]*\}/, ''))));
  });
});
