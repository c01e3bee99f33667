// The VRRP runner (plugins/ha/lib/vrrp-runner.ts) with its config schema
// (vrrp-config.ts): directors on a virtual link with a virtual clock, the
// packets made and checked by the real codec. The system side (vrrp-net.ts)
// and keepalived interop have their own tests (vrrp-net, e2e-vrrp).
import { strict as assert } from 'node:assert';
import { VirtualClock } from '../core/clock.js';
import { encodeAdvert, parseIp } from '../plugins/ha/lib/vrrp-packet.js';
import { VrrpRunner, type LinkInfo, type NetResult, type VrrpChannel, type VrrpNet, type VrrpRxPacket } from '../plugins/ha/lib/vrrp-runner.js';
import { toRunnerConfig, vrrpOptions } from '../plugins/ha/lib/vrrp-config.js';
import type { VrrpState } from '../plugins/ha/lib/vrrp-state.js';

/** One L2 segment per interface name; hosts attach channels to it. */
class Wire {
  readonly channels: Array<{ host: Host; family: 4 | 6; onPacket: (p: VrrpRxPacket) => void }> = [];
  constructor(readonly clock: VirtualClock) {}
  send(from: Host, family: 4 | 6, data: Uint8Array): void {
    if (from.cut) return;
    for (const c of this.channels) {
      if (c.host === from || c.family !== family || c.host.cut) continue;
      this.clock.setTimeout(() => c.onPacket({ data, ifindex: 2 }), 0.05);
    }
  }
}

/** A director's interfaces and addresses, and what it sent. */
class Host implements VrrpNet {
  readonly addrs = new Map<string, Set<string>>();
  readonly garps: string[] = [];
  readonly log: string[] = [];
  readonly states: Array<{ instance: string; state: VrrpState }> = [];
  up = new Map<string, boolean>();
  /** Pulled cable / killed process: nothing in or out. */
  cut = false;
  constructor(readonly wire: Wire, readonly ip: string) {
    this.up.set('eth0', true);
  }
  linkInfo(ifname: string): LinkInfo | null {
    if (!this.up.has(ifname)) return null;
    return { ifindex: 2, mac: new Uint8Array(6), up: this.up.get(ifname)!, ipv4: [this.ip], ipv6: [], ipv6LinkLocal: 'fe80::1' };
  }
  opened = 0;
  private readonly mine: Array<{ entry: Wire['channels'][number]; onError?: (e: { message: string }) => void }> = [];
  openChannel(o: { ifname: string; family: 4 | 6; onPacket(p: VrrpRxPacket): void; onError?(e: { message: string }): void }): NetResult<VrrpChannel> {
    const entry = { host: this, family: o.family, onPacket: o.onPacket };
    this.wire.channels.push(entry);
    this.opened++;
    this.mine.push({ entry, ...(o.onError ? { onError: o.onError } : {}) });
    return {
      ok: true,
      value: {
        send4: (d) => { this.wire.send(this, 4, d); return { ok: true, value: undefined }; },
        send6: () => ({ ok: true, value: undefined }),
        close: () => { const i = this.wire.channels.indexOf(entry); if (i >= 0) this.wire.channels.splice(i, 1); },
      },
    };
  }
  addAddress(ifname: string, addr: string, len: number): NetResult<'added' | 'present'> {
    const s = this.addrs.get(ifname) ?? new Set();
    this.addrs.set(ifname, s);
    const k = `${addr}/${len}`;
    if (s.has(k)) return { ok: true, value: 'present' };
    s.add(k);
    return { ok: true, value: 'added' };
  }
  deleteAddress(ifname: string, addr: string, len: number): NetResult<'deleted' | 'absent'> {
    return { ok: true, value: this.addrs.get(ifname)?.delete(`${addr}/${len}`) ? 'deleted' : 'absent' };
  }
  sendGratuitousArp(ifname: string, vip: string): NetResult<void> { this.garps.push(`${ifname} ${vip}`); return { ok: true, value: undefined }; }
  sendUnsolicitedNa(ifname: string, vip: string): NetResult<void> { this.garps.push(`${ifname} ${vip}`); return { ok: true, value: undefined }; }
  createVmac(ifname: string, vrid: number, _family: 4 | 6, name?: string): NetResult<string> {
    const n = name ?? `vrrp.${vrid}`;
    if (this.up.has(n)) return { ok: false, error: { message: `${n} exists`, errno: 17 } };
    this.up.set(n, this.up.get(ifname) ?? false);
    return { ok: true, value: n };
  }
  deleteVmac(name: string): NetResult<void> { this.up.delete(name); return { ok: true, value: undefined }; }
  /** The link went down under the sockets: they fail (ENETDOWN) and receive nothing more, as the kernel's do. */
  breakChannels(): void {
    for (const m of this.mine.splice(0)) {
      const i = this.wire.channels.indexOf(m.entry);
      if (i >= 0) this.wire.channels.splice(i, 1);
      m.onError?.({ message: 'Network is down (ENETDOWN) [recvfrom]' });
    }
  }
  has(addr: string, ifname = 'eth0'): boolean { return [...(this.addrs.get(ifname) ?? [])].some((a) => a.startsWith(`${addr}/`)); }
}

const runs: string[][] = [];
function runner(host: Host, config: unknown, clock: VirtualClock, status: (argv: string[]) => number = () => 0): VrrpRunner {
  const parsed = vrrpOptions.safeParse(config);
  if (!parsed.success) throw new Error(parsed.error.message);
  return new VrrpRunner(toRunnerConfig(parsed.data), {
    net: host, clock, wallNow: () => clock.now(),
    log: { info: (m) => host.log.push(m), warn: (m) => host.log.push(m), error: (m) => host.log.push(`ERROR ${m}`) },
    onState: (instance, state) => host.states.push({ instance, state }),
    run: async (argv) => { runs.push(argv); return { status: status(argv) }; },
  });
}

const inst = (priority: number, extra: Record<string, unknown> = {}) => [{
  name: 'VI_1', interface: 'eth0', vrid: 51, priority, version: 3, vips: ['10.0.0.100/24'], ...extra,
}];

function lab() {
  const clock = new VirtualClock();
  const wire = new Wire(clock);
  const a = new Host(wire, '10.0.0.1'), b = new Host(wire, '10.0.0.2');
  return { clock, wire, a, b };
}

const stateOf = (r: VrrpRunner, name = 'VI_1'): string => r.status().find((s) => s.name === name)!.state;

describe('vrrp runner: two directors on a link', () => {
  it('the higher priority becomes MASTER and holds the VIP; the other stays BACKUP', async () => {
    const { clock, a, b } = lab();
    a.addAddress('eth0', '10.0.0.100', 24); // left behind by a crashed predecessor
    const ra = runner(a, inst(150), clock), rb = runner(b, inst(100), clock);
    ra.start(); rb.start();
    assert.equal(a.has('10.0.0.100'), false, 'stale VIP removed before any role');
    await clock.advance(5000);
    assert.equal(stateOf(ra), 'MASTER');
    assert.equal(stateOf(rb), 'BACKUP');
    assert.ok(a.has('10.0.0.100') && !b.has('10.0.0.100'));
    assert.equal(a.garps.length, 5);
    const s = rb.status()[0]!;
    assert.equal(s.master, '10.0.0.1');
    assert.equal(s.masterPriority, 150);
    assert.ok((s.counters['rx-accepted'] ?? 0) >= 1);
    assert.ok(a.log.some((l) => l.includes('(VI_1) Entering MASTER STATE')));
    ra.stop(); rb.stop();
  });

  it('a stopping MASTER sends priority 0: the BACKUP takes over after its skew (0.61 s at priority 100)', async () => {
    const { clock, a, b } = lab();
    const ra = runner(a, inst(150), clock), rb = runner(b, inst(100), clock);
    ra.start(); rb.start();
    await clock.advance(5000);
    const t0 = clock.now();
    ra.stop();
    assert.equal(a.has('10.0.0.100'), false);
    await clock.advance(600);
    assert.equal(stateOf(rb), 'BACKUP');
    await clock.advance(20);
    assert.equal(stateOf(rb), 'MASTER');
    assert.ok(b.has('10.0.0.100'));
    assert.ok(clock.now() - t0 < 700);
    rb.stop();
  });

  it('a MASTER that dies (no priority 0) is replaced after the master-down time, and preempts again when back', async () => {
    const { clock, a, b } = lab();
    let ra = runner(a, inst(150), clock);
    const rb = runner(b, inst(100), clock);
    ra.start(); rb.start();
    await clock.advance(5000);
    a.cut = true; // SIGKILL: the VIP stays on a, nothing is sent
    // the last advert went out up to 1 s before: master down (3.609 s) ends 2.6..3.61 s from here
    await clock.advance(2550);
    assert.equal(stateOf(rb), 'BACKUP');
    await clock.advance(1100);
    assert.equal(stateOf(rb), 'MASTER');
    // the dead process leaves its VIP behind; a comes back as a new process, which removes it first and preempts after its own down timer
    ra.stop();
    a.addAddress('eth0', '10.0.0.100', 24);
    ra = runner(a, inst(150), clock);
    a.cut = false;
    ra.start();
    assert.equal(a.has('10.0.0.100'), false);
    await clock.advance(3600);
    assert.equal(stateOf(ra), 'MASTER');
    assert.equal(stateOf(rb), 'BACKUP');
    assert.ok(a.has('10.0.0.100') && !b.has('10.0.0.100'));
    ra.stop(); rb.stop();
  });

  it('malformed adverts at 10/s for 10 s change nothing: the MASTER keeps its schedule', async () => {
    const { clock, wire, a, b } = lab();
    const ra = runner(a, inst(150), clock), rb = runner(b, inst(100), clock);
    ra.start(); rb.start();
    await clock.advance(5000);
    const evil = new Host(wire, '10.0.0.66');
    const good = encodeAdvert({ version: 3, vrid: 51, priority: 250, advertInt: 100, addrs: [parseIp('10.0.0.100')!], src: parseIp('10.0.0.66')!, dst: parseIp('224.0.0.18')!, ipId: 1 });
    const bad: Uint8Array[] = [];
    const copy = (f: (p: Uint8Array) => void): Uint8Array => { const p = good.slice(); f(p); return p; };
    bad.push(copy((p) => { p[8] = 254; }));            // TTL
    bad.push(copy((p) => { p[26] = p[26]! ^ 0xff; }));          // VRRP checksum
    bad.push(copy((p) => { p[20] = 0x21; }));           // version 2 to a v3 instance
    bad.push(good.subarray(0, 24));                     // truncated
    bad.push(copy((p) => { p[23] = 2; }));              // count
    bad.push(Uint8Array.from({ length: 40 }, (_, i) => (i * 37) & 0xff)); // garbage
    const txBefore = ra.status()[0]!.counters.tx ?? 0;
    for (let i = 0; i < 100; i++) {
      wire.send(evil, 4, bad[i % bad.length] as Uint8Array);
      await clock.advance(100);
    }
    assert.equal(stateOf(ra), 'MASTER');
    assert.equal(stateOf(rb), 'BACKUP');
    assert.deepEqual(a.states.filter((s) => s.state !== 'MASTER' && s.state !== 'BACKUP'), []);
    assert.ok(b.states.every((s) => s.state === 'BACKUP'), 'the backup never took over');
    const sent = (ra.status()[0]!.counters.tx ?? 0) - txBefore;
    assert.ok(sent >= 9 && sent <= 11, `one advert a second whatever arrives (${sent})`);
    assert.ok((ra.status()[0]!.counters['rx-rejected'] ?? 0) >= 60, JSON.stringify(ra.status()[0]!.counters));
    ra.stop(); rb.stop();
  });

  it("a tracked interface going down sends the MASTER to FAULT: VIPs removed, the peer takes over", async () => {
    const { clock, a, b } = lab();
    a.up.set('eth1', true);
    const ra = runner(a, inst(150, { track: { interfaces: ['eth1'] } }), clock), rb = runner(b, inst(100), clock);
    ra.start(); rb.start();
    await clock.advance(5000);
    assert.equal(stateOf(ra), 'MASTER');
    a.up.set('eth1', false);
    await clock.advance(200);
    assert.equal(stateOf(ra), 'FAULT');
    assert.equal(a.has('10.0.0.100'), false);
    await clock.advance(1000); // priority-0 adverts on the way to FAULT: the peer's skew
    assert.equal(stateOf(rb), 'MASTER');
    a.up.set('eth1', true);
    await clock.advance(4000);
    assert.equal(stateOf(ra), 'MASTER', 'back and preempting');
    ra.stop(); rb.stop();
  });

  it('a link that goes down and up: the broken socket is opened again, so the BACKUP hears the master (no second master)', async () => {
    const { clock, a, b } = lab();
    const ra = runner(a, inst(150), clock), rb = runner(b, inst(100), clock);
    ra.start(); rb.start();
    await clock.advance(5000);
    b.up.set('eth0', false);
    b.breakChannels();
    await clock.advance(300);
    assert.equal(stateOf(rb), 'FAULT');
    b.up.set('eth0', true);
    await clock.advance(10_000);
    assert.equal(stateOf(rb), 'BACKUP', 'hears the master again');
    assert.equal(b.opened, 2);
    assert.ok(b.log.some((l) => /open again/.test(l)));
    ra.stop(); rb.stop();
  });

  it('a VRRP socket that cannot be opened (no CAP_NET_RAW): FAULT with the reason, said once; running once it opens', async () => {
    const { clock, a, b } = lab();
    let refuse = true;
    const open = a.openChannel.bind(a);
    a.openChannel = (o) => (refuse ? { ok: false, error: { message: 'vrrp socket on eth0: Operation not permitted (EPERM) [socket(AF_PACKET)]', errno: 1 } } : open(o));
    const ra = runner(a, inst(150), clock), rb = runner(b, inst(100), clock);
    ra.start(); rb.start();
    await clock.advance(5000);
    const s = ra.status()[0]!;
    assert.equal(s.state, 'FAULT', 'not MASTER on its own timer while deaf and mute');
    assert.match(s.reason, /its VRRP socket on eth0 could not be opened: .*EPERM/);
    assert.equal(a.states.length, 1, 'reported once');
    assert.equal(stateOf(rb), 'MASTER');
    refuse = false;
    await clock.advance(5000);
    assert.equal(stateOf(ra), 'MASTER', 'opened on a later poll: runs, and preempts');
    ra.stop(); rb.stop();
  });

  it('a tracked service losing quorum lowers the priority by its weight and the peer preempts', async () => {
    const { clock, a, b } = lab();
    const ra = runner(a, inst(150, { track: { services: [{ service: 'tcp:10.0.0.100:80', weight: -100 }] } }), clock);
    const rb = runner(b, inst(100), clock);
    ra.start(); rb.start();
    await clock.advance(5000);
    ra.serviceQuorum('tcp:10.0.0.100:80', true);
    assert.equal(ra.status()[0]!.priority, 150);
    ra.serviceQuorum('tcp:10.0.0.100:80', false);
    assert.equal(ra.status()[0]!.priority, 50);
    await clock.advance(4000);
    assert.equal(stateOf(rb), 'MASTER');
    assert.equal(stateOf(ra), 'BACKUP');
    ra.stop(); rb.stop();
  });

  it('a weight-0 track script: FAULT after `fall` failures, back after `rise` successes; counted foreign packets', async () => {
    const { clock, wire, a, b } = lab();
    let ok = true;
    const script = { name: 'chk', script: '/usr/local/bin/chk --fast', interval: 1, fall: 2, rise: 1 };
    const ra = runner(a, inst(150, { track: { scripts: [script] } }), clock, (argv) => (argv[0] === '/usr/local/bin/chk' && ok ? 0 : 1));
    const rb = runner(b, inst(100), clock);
    ra.start(); rb.start();
    await clock.advance(5000);
    assert.equal(stateOf(ra), 'MASTER');
    assert.ok(runs.some((r) => r.join(' ') === '/usr/local/bin/chk --fast'));
    ok = false;
    await clock.advance(1100);
    assert.equal(stateOf(ra), 'MASTER', 'one failure is not enough');
    await clock.advance(1000);
    assert.equal(stateOf(ra), 'FAULT');
    await clock.advance(1000);
    assert.equal(stateOf(rb), 'MASTER');
    ok = true;
    await clock.advance(1100);
    assert.equal(stateOf(ra), 'BACKUP');
    // another VRID on the link is counted, not taken
    wire.send(new Host(wire, '10.0.0.7'), 4, encodeAdvert({ version: 3, vrid: 99, priority: 100, advertInt: 100, addrs: [parseIp('10.0.0.99')!], src: parseIp('10.0.0.7')!, dst: parseIp('224.0.0.18')!, ipId: 1 }));
    await clock.advance(10);
    assert.equal(ra.status()[0]!.counters['rx-ignored-other-vrid'], 1);
    ra.stop(); rb.stop();
  });

  it('HMAC: peers with the key elect as usual; an unsigned or wrongly keyed sender is rejected in enforce, an unsigned one accepted in permissive', async () => {
    const { clock, wire, a, b } = lab();
    const key = (mode: string, secret = 'k'.repeat(32)) => ({ type: 'hmac', keys: [{ id: 1, secret }], sendKeyId: 1, mode });
    const ra = runner(a, inst(150, { auth: key('enforce') }), clock), rb = runner(b, inst(100, { auth: key('enforce') }), clock);
    ra.start(); rb.start();
    await clock.advance(5000);
    assert.equal(stateOf(ra), 'MASTER');
    assert.equal(stateOf(rb), 'BACKUP');
    assert.ok((rb.status()[0]!.counters['rx-accepted'] ?? 0) > 0);
    // a higher priority without a (valid) trailer changes nothing
    const intruder = new Host(wire, '10.0.0.66');
    const plain = encodeAdvert({ version: 3, vrid: 51, priority: 250, advertInt: 100, addrs: [parseIp('10.0.0.100')!], src: parseIp('10.0.0.66')!, dst: parseIp('224.0.0.18')!, ipId: 1 });
    for (let i = 0; i < 5; i++) { wire.send(intruder, 4, plain); await clock.advance(100); }
    assert.equal(stateOf(ra), 'MASTER');
    assert.equal(ra.status()[0]!.counters['rx-rejected-hmac-missing'], 5);
    ra.stop(); rb.stop();
    // permissive: the unsigned advert counts (roll-out: peers not signing yet)
    const c = lab();
    const rc = runner(c.a, inst(150, { auth: key('permissive') }), c.clock);
    rc.start();
    await c.clock.advance(5000);
    c.wire.send(new Host(c.wire, '10.0.0.66'), 4, plain);
    await c.clock.advance(10);
    assert.equal(stateOf(rc), 'BACKUP', 'accepted: a higher priority');
    rc.stop();
  });

  it('sync group: members change state together; notify programs get keepalived arguments', async () => {
    const { clock, a, b } = lab();
    a.up.set('eth1', true); b.up.set('eth1', true);
    const two = (p1: number, p2: number) => ({
      instances: [
        { name: 'VI_1', interface: 'eth0', vrid: 51, priority: p1, version: 3, vips: ['10.0.0.100'], notify: { notify: '/bin/true' } },
        { name: 'VI_2', interface: 'eth0', vrid: 52, priority: p2, version: 3, vips: [{ address: '10.1.0.254/24', interface: 'eth1' }] },
      ],
      syncGroups: [{ name: 'G1', instances: ['VI_1', 'VI_2'] }],
    });
    runs.length = 0;
    const ra = runner(a, two(150, 150), clock), rb = runner(b, two(100, 100), clock);
    ra.start(); rb.start();
    await clock.advance(5000);
    assert.deepEqual([stateOf(ra, 'VI_1'), stateOf(ra, 'VI_2')], ['MASTER', 'MASTER']);
    assert.ok(a.has('10.1.0.254', 'eth1'));
    assert.ok(runs.some((r) => r.join(' ') === '/bin/true INSTANCE VI_1 MASTER 150'), JSON.stringify(runs));
    // VI_1 alone loses (a better VI_1 master appears elsewhere): VI_2 follows to BACKUP at once
    const wire = a.wire;
    const better = new Host(wire, '10.0.0.9');
    wire.send(better, 4, encodeAdvert({ version: 3, vrid: 51, priority: 200, advertInt: 100, addrs: [parseIp('10.0.0.100')!], src: parseIp('10.0.0.9')!, dst: parseIp('224.0.0.18')!, ipId: 1 }));
    await clock.advance(10);
    assert.deepEqual([stateOf(ra, 'VI_1'), stateOf(ra, 'VI_2')], ['BACKUP', 'BACKUP']);
    assert.equal(a.has('10.1.0.254', 'eth1'), false);
    ra.stop(); rb.stop();
  });

  it('sync group: a member in FAULT takes the group into FAULT, and out with it (the peer holds both meanwhile)', async () => {
    const { clock, a, b } = lab();
    for (const h of [a, b]) h.up.set('eth1', true);
    const two = (p: number) => ({
      instances: [
        { name: 'VI_1', interface: 'eth0', vrid: 51, priority: p, version: 3, vips: ['10.0.0.100'] },
        { name: 'VI_2', interface: 'eth1', vrid: 52, priority: p, version: 3, vips: ['10.1.0.254/24'] },
      ],
      syncGroups: [{ name: 'G1', instances: ['VI_1', 'VI_2'] }],
    });
    const ra = runner(a, two(150), clock), rb = runner(b, two(100), clock);
    ra.start(); rb.start();
    await clock.advance(5000);
    assert.deepEqual([stateOf(ra, 'VI_1'), stateOf(ra, 'VI_2')], ['MASTER', 'MASTER']);
    a.up.set('eth1', false); // VI_2's own link: FAULT, and VI_1 with it
    await clock.advance(200);
    assert.deepEqual([stateOf(ra, 'VI_1'), stateOf(ra, 'VI_2')], ['FAULT', 'FAULT']);
    assert.equal(a.has('10.0.0.100'), false);
    await clock.advance(5000);
    assert.deepEqual([stateOf(ra, 'VI_1'), stateOf(ra, 'VI_2')], ['FAULT', 'FAULT'], 'VI_1 does not retake MASTER while VI_2 is in FAULT');
    assert.deepEqual([stateOf(rb, 'VI_1'), stateOf(rb, 'VI_2')], ['MASTER', 'MASTER']);
    a.up.set('eth1', true);
    await clock.advance(200);
    assert.deepEqual([stateOf(ra, 'VI_1'), stateOf(ra, 'VI_2')], ['BACKUP', 'BACKUP']);
    await clock.advance(4000);
    assert.deepEqual([stateOf(ra, 'VI_1'), stateOf(ra, 'VI_2')], ['MASTER', 'MASTER'], 'preempted back');
    ra.stop(); rb.stop();
  });

  it('use_vmac: the macvlan is made at start (again if a predecessor left it), the VIPs go on it, it goes at stop', async () => {
    const { clock, a, b } = lab();
    a.up.set('vrrp.51', true); // left behind
    const ra = runner(a, inst(150, { useVmac: true }), clock), rb = runner(b, inst(100, { useVmac: true }), clock);
    ra.start(); rb.start();
    assert.ok(b.up.has('vrrp.51'), 'made on every node');
    await clock.advance(5000);
    assert.equal(stateOf(ra), 'MASTER');
    assert.ok(a.has('10.0.0.100', 'vrrp.51') && !a.has('10.0.0.100'));
    assert.ok(a.garps.every((g) => g.startsWith('vrrp.51 ')));
    assert.ok(a.log.some((l) => /Success creating VMAC interface vrrp.51/.test(l)));
    ra.stop(); rb.stop();
    assert.equal(a.up.has('vrrp.51'), false);
  });

  it('reconfigure: an unchanged instance keeps running (no flap); a changed one restarts', async () => {
    const { clock, a } = lab();
    const cfg = vrrpOptions.parse(inst(150));
    const r = runner(a, inst(150), clock);
    r.start();
    await clock.advance(5000);
    const n = a.states.length;
    r.reconfigure(toRunnerConfig(cfg));
    await clock.advance(100);
    assert.equal(a.states.length, n);
    r.reconfigure(toRunnerConfig(vrrpOptions.parse(inst(200))));
    assert.equal(r.status()[0]!.basePriority, 200);
    r.stop();
  });
});

describe('vrrp config (config.ts `vrrp`)', () => {
  const err = (v: unknown): string => {
    const r = vrrpOptions.safeParse(v);
    assert.equal(r.success, false, 'should be refused');
    return r.error!.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
  };
  it('takes the issue example, both forms', () => {
    assert.ok(vrrpOptions.safeParse([{ name: 'VI_1', interface: 'eth1', vrid: 51, priority: 150, advertInt: 1, version: 3,
      vips: ['198.19.0.100/32', { address: '198.18.0.1/24', interface: 'eth0' }], preempt: true, unicastPeers: [], auth: undefined,
      track: { interfaces: [], services: [], scripts: [] }, notify: { master: '/usr/local/bin/on-master' } }]).success);
    assert.ok(vrrpOptions.safeParse({ instances: inst(100), syncGroups: [{ name: 'G', instances: ['VI_1'] }] }).success);
  });
  it('refuses what cannot run, naming the field', () => {
    assert.match(err(inst(100, { vrid: 0 })), /0\.vrid/);
    assert.match(err(inst(100, { vips: ['10.0.0.300'] })), /0\.vips\.0: must be an address/);
    assert.match(err(inst(100, { auth: { type: 'pass', password: 'x' } })), /VRRPv2 only/);
    assert.match(err([...inst(100), { ...inst(100)[0], name: 'VI_2' }]), /VRID 51 on eth0 \(IPv4\) is already used by VI_1/);
    assert.match(err({ instances: inst(100), syncGroups: [{ name: 'G', instances: ['VI_9'] }] }), /no instance named VI_9/);
    assert.match(err(inst(100, { vips: ['10.0.0.1', 'fd00::1'] })), /one family/);
    assert.match(err(inst(100, { track: { services: ['tcp:nowhere'] } })), /must name a service/);
    assert.match(err(inst(100, { bogus: 1 })), /bogus/);
    assert.match(err(inst(100, { useVmac: true, unicastPeers: ['10.0.0.2'] })), /useVmac goes with multicast only/);
  });
});
