// VRRP instance state machine (plugins/ha/lib/vrrp-state.ts) on a manual clock, against
// spec keepalived.md §5.3–5.4 (timings measured with keepalived 2.2.7) and §6.
import { strict as assert } from 'node:assert';
import { encodeAdvert, decodeAdvert, parseIp, type RxConfig, type RxOutcome, type VrrpVersion } from '../plugins/ha/lib/vrrp-packet.js';
import {
  VrrpInstance, masterDownMicros, resolveInstance, skewMicros, type VrrpAction, type VrrpClock, type VrrpInstanceConfig,
} from '../plugins/ha/lib/vrrp-state.js';

/** Timers fire in time order when the test advances the clock. */
class ManualClock implements VrrpClock {
  t = 0;
  private seq = 0;
  private timers = new Map<number, { at: number; fn: () => void }>();
  now(): number { return this.t; }
  setTimeout(fn: () => void, ms: number): unknown { const id = ++this.seq; this.timers.set(id, { at: this.t + ms, fn }); return id; }
  clearTimeout(h: unknown): void { this.timers.delete(h as number); }
  /** Advance by ms (fractional allowed), firing due timers in order. */
  advance(ms: number): void {
    const end = this.t + ms;
    for (;;) {
      let next: [number, { at: number; fn: () => void }] | undefined;
      for (const e of this.timers) if (e[1].at <= end + 1e-9 && (!next || e[1].at < next[1].at)) next = e;
      if (!next) break;
      this.timers.delete(next[0]);
      this.t = next[1].at;
      next[1].fn();
    }
    this.t = end;
  }
}

const ip = (s: string): Uint8Array => parseIp(s)!;
const VIP = '198.18.0.100';

function make(c: Partial<VrrpInstanceConfig> = {}): { inst: VrrpInstance; clock: ManualClock; acts: VrrpAction[]; at: number[] } {
  // keepalived's timer quirk by default here: these tests pin 2.2.7's behaviour; lvsd's own schedule has its tests below
  const r = resolveInstance({ name: 'VI_1', vrid: 51, srcAddr: '198.18.0.11', vips: [VIP], advertSchedule: 'keepalived', ...c });
  if (!r.ok) throw new Error(r.error);
  const clock = new ManualClock();
  const acts: VrrpAction[] = [], at: number[] = [];
  const inst = new VrrpInstance(r.instance, { clock, emit: (a) => { acts.push(a); at.push(clock.t); } });
  return { inst, clock, acts, at };
}

/** A decoded advert from a peer, through the real codec. */
function advert(priority: number, o: { src?: string; version?: VrrpVersion; advertInt?: number } = {}): RxOutcome {
  const version = o.version ?? 2;
  const src = ip(o.src ?? '198.18.0.12'), dst = ip('224.0.0.18');
  const advertInt = o.advertInt ?? (version === 2 ? 1 : 100);
  const pkt = encodeAdvert({ version, vrid: 51, priority, advertInt, addrs: [ip(VIP)], src, dst, ipId: 1 });
  const cfg: RxConfig = { version, vrid: 51, vips: [ip(VIP)], advertInt: version === 2 ? 1 : advertInt };
  const out = decodeAdvert(pkt, cfg);
  assert.equal(out.kind, 'accepted');
  return out;
}

const types = (acts: VrrpAction[]): string[] => acts.filter((a) => a.type !== 'log').map((a) =>
  a.type === 'state' ? `state:${a.to}` : a.type === 'advert' ? `advert:${a.priority}` : a.type === 'garp' ? `garp:${a.count}:${a.reason}` : a.type === 'notify' ? `notify:${a.state}` : a.type);
const stateAt = (acts: VrrpAction[], at: number[], to: string): number => at[acts.findIndex((a) => a.type === 'state' && a.to === to)]!;
const adverts = (acts: VrrpAction[]): Array<Extract<VrrpAction, { type: 'advert' }>> => acts.filter((a): a is Extract<VrrpAction, { type: 'advert' }> => a.type === 'advert');

describe('vrrp-state: timers (§5.3)', () => {
  it('skew and master-down in integer µs, as the spec examples', () => {
    assert.equal(skewMicros(2, 100, 1_000_000), 609_375);
    assert.equal(masterDownMicros(2, 100, 1_000_000), 3_609_375);
    assert.equal(skewMicros(2, 150, 1_000_000), 414_062);
    assert.equal(masterDownMicros(2, 150, 1_000_000), 3_414_062);
    // v2 skew does not depend on advert_int; v3 does.
    assert.equal(skewMicros(2, 100, 3_000_000), 609_375);
    assert.equal(skewMicros(3, 150, 500_000), 207_031);
    assert.equal(masterDownMicros(3, 150, 500_000), 1_707_031);
    assert.equal(masterDownMicros(3, 200, 1_000_000), 3_218_750);
    assert.equal(masterDownMicros(2, 100, 1_000_000, 1), 1_609_375);
  });
});

describe('vrrp-state: configuration rules (§5.4, §6)', () => {
  const res = (c: Partial<VrrpInstanceConfig>) => resolveInstance({ name: 'VI_1', vrid: 51, srcAddr: '198.18.0.11', vips: [VIP], ...c });
  it('priority and state defaults', () => {
    const a = res({ state: 'MASTER' }); assert.ok(a.ok && a.instance.basePriority === 255 && a.instance.initialState === 'MASTER');
    const b = res({}); assert.ok(b.ok && b.instance.basePriority === 100 && b.instance.initialState === 'BACKUP');
    const c = res({ priority: 255 }); assert.ok(c.ok && c.instance.initialState === 'MASTER');
    const d = res({ priority: 300 }); assert.ok(d.ok && d.instance.basePriority === 100 && d.warnings.length === 1);
  });
  it('nopreempt reset for priority 255 and state MASTER; preempt_delay cleared with state MASTER or nopreempt', () => {
    const a = res({ priority: 255, state: 'BACKUP', nopreempt: true }); assert.ok(a.ok && !a.instance.nopreempt);
    const b = res({ state: 'MASTER', priority: 150, nopreempt: true, preemptDelay: 5 }); assert.ok(b.ok && !b.instance.nopreempt && b.instance.preemptDelayUs === 0);
    const c = res({ nopreempt: true, preemptDelay: 5 }); assert.ok(c.ok && c.instance.nopreempt && c.instance.preemptDelayUs === 0);
  });
  it('IPv6 forces version 3; v3 needs VIPs; strict mode forces lower_prio_no_advert and no lower-priority GARPs', () => {
    const a = res({ srcAddr: 'fe80::1', vips: ['fd00::100'] }); assert.ok(a.ok && a.instance.version === 3 && a.instance.family === 6);
    assert.equal(res({ version: 3, vips: [] }).ok, false);
    const s = res({ strictMode: true }); assert.ok(s.ok && s.instance.lowerPrioNoAdvert && s.instance.garpLowerPrioRepeat === 0);
    const m = res({ vips: ['fd00::1'] }); assert.ok(!m.ok && /family/.test(m.error));
  });
  it('garp_lower_prio_* default to garp_master_*', () => {
    const a = res({ garpMasterRepeat: 3, garpMasterDelay: 2 });
    assert.ok(a.ok && a.instance.garpLowerPrioRepeat === 3 && a.instance.garpLowerPrioDelayUs === 2_000_000);
  });
});

describe('vrrp-state: startup and takeover', () => {
  it('starts BACKUP (init), becomes MASTER after 3 × advert_int + skew; advert, VIPs, 5 GARPs, notify, in that order', () => {
    const { inst, clock, acts, at } = make({ state: 'MASTER', priority: 150 });
    inst.start();
    assert.equal(inst.state, 'BACKUP');
    assert.deepEqual(types(acts), ['remove-vips', 'state:BACKUP', 'notify:BACKUP']);
    clock.advance(3414.061);
    assert.equal(inst.state, 'BACKUP');
    clock.advance(0.002);
    assert.equal(inst.state, 'MASTER');
    assert.equal(stateAt(acts, at, 'MASTER'), 3414.062);
    assert.deepEqual(types(acts).slice(3), ['advert:150', 'state:MASTER', 'add-vips', 'garp:5:become-master', 'notify:MASTER']);
    const n = acts.find((a) => a.type === 'notify' && a.state === 'MASTER');
    assert.deepEqual(n && n.type === 'notify' && n.args, ['INSTANCE', 'VI_1', 'MASTER', '150']);
    // Adverts every second, IP ID 1, 2, 3…; the second GARP burst 5 s later, never a third.
    clock.advance(12_000);
    const ads = adverts(acts);
    assert.deepEqual(ads.map((a) => a.ipId), ads.map((_, i) => i + 1));
    assert.ok(ads.length >= 12);
    assert.deepEqual(acts.filter((a) => a.type === 'garp').map((a) => a.type === 'garp' && a.reason), ['become-master', 'master-delayed']);
  });
  it('owner (priority 255, state MASTER by default) is MASTER at once', () => {
    const { inst, acts } = make({ priority: 255 });
    inst.start();
    assert.equal(inst.state, 'MASTER');
    assert.deepEqual(types(acts).slice(0, 3), ['remove-vips', 'advert:255', 'state:MASTER']);
  });
  it('lower-priority adverts while BACKUP are discarded and do not stop the countdown (preemption after the full timer)', () => {
    const { inst, clock, acts, at } = make({ priority: 150 });
    inst.start();
    for (let i = 0; i < 3; i++) { clock.advance(1000); inst.receive(advert(100)); }
    assert.ok(acts.some((a) => a.type === 'log' && /received lower priority \(100\) advert from 198.18.0.12 - discarding/.test(a.text)));
    clock.advance(500);
    assert.equal(inst.state, 'MASTER');
    assert.equal(stateAt(acts, at, 'MASTER'), 3414.062);
  });
  it('higher and equal-priority adverts keep a BACKUP backup; takeover 3 × int + skew after the last', () => {
    const { inst, clock, acts, at } = make({ priority: 150 });
    inst.start();
    for (let i = 0; i < 5; i++) { clock.advance(1000); inst.receive(advert(200)); }
    assert.equal(inst.state, 'BACKUP');
    assert.equal(inst.master?.priority, 200);
    clock.advance(4000);
    assert.equal(stateAt(acts, at, 'MASTER'), 5000 + 3414.062);
  });
  it('rejected packets do not move a BACKUP\'s expiry', () => {
    const { inst, clock } = make({ priority: 100 });
    inst.start();
    const exp = inst.timerExpiry;
    clock.advance(1000);
    inst.receive({ kind: 'rejected', reason: 'checksum', text: 'Invalid VRRPv2 checksum', vrid: 51, src: ip('198.18.0.12'), priority: 200 });
    assert.equal(inst.timerExpiry, exp);
  });
});

describe('vrrp-state: preemption', () => {
  it('nopreempt: a higher-priority BACKUP stays backup under a lower-priority master', () => {
    const { inst, clock } = make({ priority: 150, nopreempt: true });
    inst.start();
    for (let i = 0; i < 15; i++) { clock.advance(1000); inst.receive(advert(100)); }
    assert.equal(inst.state, 'BACKUP');
    clock.advance(3415);
    assert.equal(inst.state, 'MASTER');
  });
  it('preempt_delay: lower-priority adverts are accepted until the delay since the first one has run out', () => {
    const { inst, clock, acts, at } = make({ priority: 150, preemptDelay: 5 });
    inst.start();
    for (let i = 1; i <= 10; i++) { clock.advance(1000); inst.receive(advert(100)); }
    // Delay started at t=1 s; adverts until t=5.999 accepted (timer reset); t=6 s onwards discarded.
    assert.equal(inst.state, 'MASTER');
    assert.equal(stateAt(acts, at, 'MASTER'), 5000 + 3414.062);
  });
  it('preempt_delay restarts after a higher-priority advert', () => {
    const { inst, clock } = make({ priority: 150, preemptDelay: 3 });
    inst.start();
    clock.advance(1000); inst.receive(advert(100));
    clock.advance(1000); inst.receive(advert(200)); // clears the delay
    for (let i = 0; i < 3; i++) { clock.advance(1000); inst.receive(advert(100)); } // restarts at t=3 s
    assert.equal(inst.state, 'BACKUP');
  });
});

describe('vrrp-state: MASTER receiving adverts', () => {
  const master = (c: Partial<VrrpInstanceConfig> = {}) => {
    const m = make({ priority: 150, ...c });
    m.inst.start();
    m.clock.advance(4000);
    assert.equal(m.inst.state, 'MASTER');
    m.acts.length = 0; m.at.length = 0;
    return m;
  };
  it('higher priority → BACKUP at once, VIPs removed, no priority-0 advert', () => {
    const { inst, acts } = master();
    inst.receive(advert(200));
    assert.equal(inst.state, 'BACKUP');
    assert.deepEqual(types(acts), ['state:BACKUP', 'remove-vips', 'notify:BACKUP']);
    assert.ok(acts.some((a) => a.type === 'log' && /higher priority 200, ours 150/.test(a.text)));
  });
  it('higher_prio_send_advert sends one advert before yielding', () => {
    const { inst, acts } = master({ higherPrioSendAdvert: true });
    inst.receive(advert(200));
    assert.deepEqual(types(acts).slice(0, 2), ['advert:150', 'state:BACKUP']);
  });
  it('equal priority: higher address wins, lower address loses', () => {
    const a = master();
    a.inst.receive(advert(150, { src: '198.18.0.50' }));
    assert.equal(a.inst.state, 'BACKUP');
    assert.ok(a.acts.some((x) => x.type === 'log' && /same priority 150 but higher IP address/.test(x.text)));
    const b = master();
    b.inst.receive(advert(150, { src: '198.18.0.5' }));
    assert.equal(b.inst.state, 'MASTER');
    assert.deepEqual(types(b.acts), ['advert:150', 'garp:5:lower-prio', 'notify-master-rx-lower-pri']);
  });
  it('lower priority → advert at once, 5 GARPs now and 5 more 5 s later, advert timer restarts from the reply', () => {
    const { inst, clock, acts, at } = master();
    clock.advance(300);
    inst.receive(advert(100));
    assert.deepEqual(types(acts), ['advert:150', 'garp:5:lower-prio', 'notify-master-rx-lower-pri']);
    clock.advance(999);
    assert.equal(adverts(acts).length, 1);
    clock.advance(1);
    assert.equal(adverts(acts).length, 2);
    clock.advance(4000);
    const g = acts.findIndex((a) => a.type === 'garp' && a.reason === 'lower-prio-delayed');
    assert.equal(at[g]! - at[0]!, 5000);
  });
  it('lower_prio_no_advert: no reply, timer not moved (GARPs and notify still, unless strict mode)', () => {
    const { inst, acts } = master({ lowerPrioNoAdvert: true });
    const exp = inst.timerExpiry;
    inst.receive(advert(100));
    assert.deepEqual(types(acts), ['garp:5:lower-prio', 'notify-master-rx-lower-pri']);
    assert.equal(inst.timerExpiry, exp);
    const s = master({ strictMode: true });
    s.inst.receive(advert(100));
    assert.deepEqual(types(s.acts), ['notify-master-rx-lower-pri']);
  });
  it('priority 0 → advert at once, stays MASTER', () => {
    const { inst, acts } = master();
    inst.receive(advert(0));
    assert.equal(inst.state, 'MASTER');
    assert.deepEqual(types(acts), ['advert:150']);
  });
  it('any rejected packet for the VRID restarts the advert timer (1.6 s gaps)', () => {
    const { inst, clock, acts, at } = master();
    clock.advance(300); // the next advert was due at 414 ms
    inst.receive({ kind: 'rejected', reason: 'ttl', text: 'invalid TTL/HL. Received 254 and expect 255', vrid: 51, src: ip('198.18.0.12'), priority: 200 });
    clock.advance(999);
    assert.equal(adverts(acts).length, 0);
    clock.advance(1);
    assert.equal(adverts(acts).length, 1);
    assert.equal(at[acts.findIndex((a) => a.type === 'advert')], 5300);
    // Ignored packets (other VRID) do nothing.
    const n = acts.length;
    inst.receive({ kind: 'ignored', reason: 'other-vrid', text: 'x' });
    assert.equal(acts.length, n);
  });
  it("lvsd's own schedule: nothing received moves the periodic adverts (replies are extra)", () => {
    const { inst, clock, acts, at } = master({ advertSchedule: 'own' });
    const start = inst.timerExpiry / 1000 - 1000; // the last periodic advert's time
    const bad = { kind: 'rejected', reason: 'checksum', text: 'Invalid VRRPv2 checksum', vrid: 51, src: ip('198.18.0.12'), priority: 200 } as const;
    // 10 packets a second for 3 s: rejected ones, lower-priority and priority-0 adverts
    for (let i = 0; i < 30; i++) {
      clock.advance(100);
      inst.receive(i % 10 === 3 ? advert(100) : i % 10 === 7 ? advert(0) : bad);
    }
    const periodic = adverts(acts).filter((a) => a.reason === 'periodic').map((a) => at[acts.indexOf(a)]! - start);
    assert.deepEqual(periodic, [1000, 2000, 3000]);
    assert.equal(adverts(acts).filter((a) => a.reason === 'lower-prio-reply').length, 3);
    assert.equal(adverts(acts).filter((a) => a.reason === 'prio0-reply').length, 3);
    assert.equal(inst.state, 'MASTER');
  });
  it('equal priority from our own address: warning only', () => {
    const { inst, acts } = master();
    inst.receive(advert(150, { src: '198.18.0.11' }));
    assert.equal(inst.state, 'MASTER');
    assert.deepEqual(types(acts), []);
    assert.ok(acts.some((a) => a.type === 'log' && a.level === 'warning'));
  });
  it('the delayed GARP burst is not cancelled: skipped while BACKUP, sent if MASTER again by then', () => {
    const a = master();
    a.clock.advance(2000); // the takeover's delayed burst is due at 8414 ms
    a.inst.receive(advert(200)); // BACKUP until 9414 ms
    a.clock.advance(3000);
    assert.equal(a.inst.state, 'BACKUP');
    assert.equal(a.acts.filter((x) => x.type === 'garp').length, 0);
    const b = make({ priority: 150, garpMasterDelay: 5 });
    b.inst.start(); b.clock.advance(3500); // master at 3414 ms, burst due at 8414
    b.inst.receive(advert(200));
    b.clock.advance(3500); // master again at 6914 ms, before 8414
    assert.equal(b.inst.state, 'MASTER');
    b.clock.advance(2000);
    assert.deepEqual(b.acts.filter((x) => x.type === 'garp').map((x) => x.type === 'garp' && x.reason),
      ['become-master', 'become-master', 'master-delayed']);
  });
  it('garp_master_refresh repeats while MASTER only', () => {
    const { inst, clock, acts } = make({ priority: 150, garpMasterDelay: 0, garpMasterRefresh: 10, garpMasterRefreshRepeat: 2 });
    inst.start(); clock.advance(3500 + 25_000);
    const refresh = acts.filter((a) => a.type === 'garp' && a.reason === 'refresh');
    assert.equal(refresh.length, 2);
    assert.ok(refresh.every((a) => a.type === 'garp' && a.count === 2));
    inst.receive(advert(200));
    const n = acts.length;
    clock.advance(2000);
    assert.equal(acts.slice(n).filter((a) => a.type === 'garp').length, 0);
  });
  it('a peer using the old unicast checksum switches our adverts to it', () => {
    const m = make({ priority: 150, version: 3 });
    m.inst.start(); m.clock.advance(4000);
    const src = ip('198.18.0.12'), dst = ip('198.18.0.11');
    const pkt = encodeAdvert({ version: 3, vrid: 51, priority: 100, advertInt: 100, addrs: [ip(VIP)], src, dst, checksumDst: ip('224.0.0.18') });
    const rx = decodeAdvert(pkt, { version: 3, vrid: 51, vips: [ip(VIP)], advertInt: 100, unicast: true });
    assert.ok(rx.kind === 'accepted' && rx.oldChecksum);
    m.acts.length = 0;
    m.inst.receive(rx);
    const ad = adverts(m.acts)[0];
    assert.ok(ad && ad.oldUnicastChecksum);
    assert.ok(m.acts.some((a) => a.type === 'log' && /Setting unicast VRRPv3 checksum to old version/.test(a.text)));
  });
  it('two owners: 2.2.7 lowers its own priority to 254 and becomes BACKUP', () => {
    const m = make({ priority: 255 });
    m.inst.start();
    m.inst.receive(advert(255, { src: '198.18.0.12' }));
    assert.equal(m.inst.state, 'BACKUP');
    assert.equal(m.inst.effectivePriority, 254);
  });
});

describe('vrrp-state: shutdown and priority 0', () => {
  it('MASTER stop: exactly one priority-0 advert, then VIPs removed, notify STOP', () => {
    const { inst, clock, acts } = make({ priority: 150 });
    inst.start(); clock.advance(4000);
    acts.length = 0;
    inst.stop();
    assert.deepEqual(types(acts), ['advert:0', 'remove-vips', 'state:STOP', 'notify:STOP']);
    clock.advance(20_000);
    assert.equal(adverts(acts).length, 1);
  });
  it('BACKUP stop sends nothing', () => {
    const { inst, acts } = make();
    inst.start(); acts.length = 0;
    inst.stop();
    assert.deepEqual(types(acts), ['state:STOP', 'notify:STOP']);
  });
  it('BACKUP receiving priority 0 takes over after the skew only (0.609375 s at 100, 0.414062 s at 150)', () => {
    for (const [prio, skew] of [[100, 609.375], [150, 414.062]] as const) {
      const { inst, clock, acts, at } = make({ priority: prio });
      inst.start();
      clock.advance(1000); inst.receive(advert(200));
      clock.advance(500); inst.receive(advert(0));
      clock.advance(2000);
      assert.equal(stateAt(acts, at, 'MASTER'), 1500 + skew);
    }
  });
  it('IP ID counter continues across state changes (priority-0 adverts included)', () => {
    const { inst, clock, acts } = make({ priority: 150 });
    inst.start(); clock.advance(3415 + 5000); // 1 + 5 adverts
    inst.receive(advert(200));
    clock.advance(4000); // master again
    inst.stop();
    const ids = adverts(acts).map((a) => a.ipId);
    assert.deepEqual(ids, ids.map((_, i) => i + 1));
  });
});

describe('vrrp-state: VRRPv3 interval adoption', () => {
  it('BACKUP adopts the master\'s 50 cs: takeover 3 × 0.5 + 0.207031 s; back to its own 1 s as MASTER', () => {
    const { inst, clock, acts, at } = make({ priority: 150, version: 3 });
    inst.start();
    clock.advance(1000); inst.receive(advert(200, { version: 3, advertInt: 50 }));
    assert.equal(inst.masterAdverInterval, 500_000);
    assert.ok(acts.some((a) => a.type === 'log' && /advertisement interval updated from 1000ms to 500ms by master/.test(a.text)));
    clock.advance(2000);
    assert.equal(stateAt(acts, at, 'MASTER'), 1000 + 1707.031);
    assert.equal(inst.masterAdverInterval, 1_000_000);
    assert.ok(acts.some((a) => a.type === 'log' && /changing advert interval from 500ms to locally configured 1000ms/.test(a.text)));
    const ad = adverts(acts)[0]!;
    assert.equal(ad.advertInt, 100);
  });
  it('a yielding MASTER adopts the interval too', () => {
    const { inst, clock } = make({ priority: 150, version: 3 });
    inst.start(); clock.advance(4000);
    inst.receive(advert(200, { version: 3, advertInt: 50 }));
    assert.equal(inst.state, 'BACKUP');
    assert.equal(inst.masterAdverInterval, 500_000);
  });
  it('a priority-0 advert is not adopted from: the skew uses the interval in force', () => {
    const { inst, clock, acts, at } = make({ priority: 150, version: 3 });
    inst.start();
    clock.advance(1000); inst.receive(advert(200, { version: 3, advertInt: 100 }));
    clock.advance(500); inst.receive(advert(0, { version: 3, advertInt: 50 }));
    assert.equal(inst.masterAdverInterval, 1_000_000);
    clock.advance(1000);
    assert.equal(stateAt(acts, at, 'MASTER'), 1500 + 414.062);
  });
  it('v2 keeps its own interval', () => {
    const { inst, clock } = make({ priority: 150 });
    inst.start(); clock.advance(1000);
    inst.receive(advert(200));
    assert.equal(inst.masterAdverInterval, 1_000_000);
  });
});

describe('vrrp-state: tracking', () => {
  it('primary interface down → FAULT (priority-0 adverts from MASTER, VIPs removed); up → BACKUP with the full timer', () => {
    const { inst, clock, acts, at } = make({ priority: 150 });
    inst.start(); clock.advance(4000);
    acts.length = 0; at.length = 0;
    inst.setInterfaceUp(false);
    assert.equal(inst.state, 'FAULT');
    // keepalived 2.2.7 sends two priority-0 adverts here (fixtures/vrrp/track-experiment.txt).
    assert.deepEqual(types(acts), ['state:FAULT', 'advert:0', 'advert:0', 'remove-vips', 'notify:FAULT']);
    clock.advance(10_000);
    assert.equal(adverts(acts).length, 2);
    inst.receive(advert(100)); // ignored in FAULT
    inst.setInterfaceUp(true);
    assert.equal(inst.state, 'BACKUP');
    clock.advance(3414.062);
    assert.equal(inst.state, 'MASTER');
    assert.ok(Math.abs(stateAt(acts, at, 'MASTER') - stateAt(acts, at, 'BACKUP') - 3414.062) < 1e-6);
  });
  it('dont_track_primary ignores the primary interface', () => {
    const { inst } = make({ dontTrackPrimary: true });
    inst.start(); inst.setInterfaceUp(false);
    assert.equal(inst.state, 'BACKUP');
  });
  it('track_interface weight 0 → FAULT; a weighted one changes the priority', () => {
    const { inst } = make({ priority: 100, trackInterfaces: [{ name: 'eth1' }, { name: 'eth2', weight: -30 }, { name: 'eth3', weight: 20 }] });
    inst.start();
    inst.setTrackedInterface('eth3', true);
    assert.equal(inst.effectivePriority, 120);
    inst.setTrackedInterface('eth2', false);
    assert.equal(inst.effectivePriority, 90);
    assert.equal(inst.state, 'BACKUP');
    inst.setTrackedInterface('eth1', false);
    assert.equal(inst.state, 'FAULT');
    inst.setTrackedInterface('eth1', true);
    assert.equal(inst.state, 'BACKUP');
  });
  it('fault at start: FAULT instead of BACKUP', () => {
    const { inst } = make({ trackInterfaces: [{ name: 'eth1' }] });
    inst.setTrackedInterface('eth1', false);
    inst.start();
    assert.equal(inst.state, 'FAULT');
  });
  it('track_script weight with rise/fall; the priority is clamped to 1..254 and applies to the next adverts', () => {
    const { inst, clock, acts } = make({ priority: 240, trackScripts: [{ name: 'chk', weight: 30, rise: 2, fall: 3 }] });
    inst.start(); clock.advance(4000);
    assert.equal(inst.state, 'MASTER');
    inst.scriptResult('chk', true); // first result decides
    assert.equal(inst.effectivePriority, 254);
    inst.scriptResult('chk', false); inst.scriptResult('chk', false);
    assert.equal(inst.scriptStatus('chk'), 'up');
    inst.scriptResult('chk', false);
    assert.equal(inst.scriptStatus('chk'), 'down');
    assert.equal(inst.effectivePriority, 240);
    inst.scriptResult('chk', true);
    assert.equal(inst.scriptStatus('chk'), 'down');
    inst.scriptResult('chk', true);
    assert.equal(inst.scriptStatus('chk'), 'up');
    acts.length = 0;
    clock.advance(1000);
    assert.equal(adverts(acts)[0]?.priority, 254);
  });
  it('negative script weight is subtracted while failing; the lowered MASTER loses to a 120 backup', () => {
    const { inst, clock } = make({ priority: 150, trackScripts: [{ name: 'chk', weight: -50 }] });
    inst.start(); clock.advance(4000);
    inst.scriptResult('chk', false);
    assert.equal(inst.effectivePriority, 100);
    inst.receive(advert(120));
    assert.equal(inst.state, 'BACKUP');
  });
  it('track_script weight 0 → FAULT after `fall` failures, back after `rise` successes; init_fail starts failed', () => {
    const { inst } = make({ trackScripts: [{ name: 'chk', fall: 2, rise: 2 }] });
    inst.start();
    inst.scriptResult('chk', true);
    inst.scriptResult('chk', false);
    assert.equal(inst.state, 'BACKUP');
    inst.scriptResult('chk', false);
    assert.equal(inst.state, 'FAULT');
    inst.scriptResult('chk', true);
    assert.equal(inst.state, 'FAULT');
    inst.scriptResult('chk', true);
    assert.equal(inst.state, 'BACKUP');
    const f = make({ trackScripts: [{ name: 'chk', initFail: true }] });
    f.inst.start();
    assert.equal(f.inst.state, 'FAULT');
  });
  it('reverse negates a weight, and inverts a weight-0 object (track_process quorum)', () => {
    const { inst } = make({ priority: 100, trackObjects: [{ name: 'proc', weight: 10, reverse: true }, { name: 'neg', weight: -10, reverse: true }, { name: 'quorum' }, { name: 'rq', reverse: true }] });
    inst.start();
    inst.setTrackedObject('proc', false);
    assert.equal(inst.effectivePriority, 100);
    inst.setTrackedObject('proc', true);
    assert.equal(inst.effectivePriority, 90);
    inst.setTrackedObject('neg', false);
    assert.equal(inst.effectivePriority, 100);
    inst.setTrackedObject('quorum', false);
    assert.equal(inst.state, 'FAULT');
    inst.setTrackedObject('quorum', true);
    assert.equal(inst.state, 'BACKUP');
    inst.setTrackedObject('rq', true);
    assert.equal(inst.state, 'FAULT');
  });
  it('weight-0 scripts hold the instance in INIT until their first result', () => {
    const a = make({ trackScripts: [{ name: 'chk' }] });
    a.inst.start();
    assert.equal(a.inst.state, 'INIT');
    a.clock.advance(10_000);
    assert.equal(a.inst.state, 'INIT');
    a.inst.scriptResult('chk', true);
    assert.equal(a.inst.state, 'BACKUP');
    const b = make({ trackScripts: [{ name: 'chk' }] });
    b.inst.start();
    b.inst.scriptResult('chk', false);
    assert.equal(b.inst.state, 'FAULT');
    // A weighted script does not hold the start.
    const c = make({ trackScripts: [{ name: 'chk', weight: 10 }] });
    c.inst.start();
    assert.equal(c.inst.state, 'BACKUP');
  });
  it('an owner whose weight-0 script fails first: FAULT, then BACKUP on success, MASTER 3 s later (measured)', () => {
    const { inst, clock } = make({ priority: 255, trackScripts: [{ name: 'chk' }] });
    inst.start();
    inst.scriptResult('chk', false);
    assert.equal(inst.state, 'FAULT');
    clock.advance(3000);
    inst.scriptResult('chk', true);
    assert.equal(inst.state, 'BACKUP');
    clock.advance(3003.906);
    assert.equal(inst.state, 'MASTER');
  });
  it('an owner leaving FAULT goes to BACKUP and waits its down timer', () => {
    const { inst, clock } = make({ priority: 255 });
    inst.start();
    assert.equal(inst.state, 'MASTER');
    inst.setInterfaceUp(false);
    assert.equal(inst.state, 'FAULT');
    inst.setInterfaceUp(true);
    assert.equal(inst.state, 'BACKUP');
    clock.advance(3003.906);
    assert.equal(inst.state, 'MASTER');
  });
  it('a priority change while BACKUP moves the running countdown by the change of the skew', () => {
    const { inst, clock, acts, at } = make({ priority: 100, trackObjects: [{ name: 'x', weight: 50 }] });
    inst.start();
    clock.advance(1000);
    inst.setTrackedObject('x', true); // 100 → 150: skew 609.375 → 414.062 ms
    clock.advance(5000);
    assert.equal(stateAt(acts, at, 'MASTER'), 3414.062);
  });
  it('…and a priority drop lengthens it (measured: fixtures/vrrp/countdown-*.txt)', () => {
    const { inst, clock, acts, at } = make({ priority: 100, trackObjects: [{ name: 'x', weight: 50 }] });
    inst.setTrackedObject('x', true);
    inst.start();
    clock.advance(1000); inst.receive(advert(200)); // master seen; countdown 3414 ms from here
    clock.advance(1000);
    inst.setTrackedObject('x', false); // 150 → 100
    clock.advance(5000);
    assert.ok(Math.abs(stateAt(acts, at, 'MASTER') - (1000 + 3609.375)) < 1e-6);
  });
  it('an owner\'s priority is never adjusted', () => {
    const { inst } = make({ priority: 255, trackInterfaces: [{ name: 'eth2', weight: -30 }] });
    inst.start();
    inst.setTrackedInterface('eth2', false);
    assert.equal(inst.effectivePriority, 255);
  });
});
