import assert from 'node:assert/strict';
import { validateConfig, type ConfigIssue, type DesiredState } from '../core/config/schema.js';
import { lvsdConfigSchema } from '../core/config/types.js';
import sh from '../plugins/schedulers/sh.js';
import mh from '../plugins/schedulers/mh.js';
import { SVC_F_ONEPACKET, SVC_F_PERSISTENT, SVC_F_SCHED2, TUN_FLAG_CSUM } from '../core/model/types.js';

/** The schedulers Linux IPVS ships (shared/spec/schedulers.md), as the registry would name them. */
const KERNEL_SCHEDULERS = ['rr', 'wrr', 'lc', 'wlc', 'lblc', 'lblcr', 'dh', 'sh', 'sed', 'nq', 'fo', 'ovf', 'mh', 'twos'];
/** The sh and mh schedulers' own -b words, as their plugins declare them. */
const schedulerFlags = (n: string) => (n === 'sh' ? sh.flags : n === 'mh' ? mh.flags : undefined);
const ctx = { file: '/etc/lvsd/config.ts', knownSchedulers: (n: string) => KERNEL_SCHEDULERS.includes(n), schedulerNames: KERNEL_SCHEDULERS, schedulerFlags };

function good(raw: unknown): DesiredState {
  const r = validateConfig(raw, ctx);
  if (!r.ok) assert.fail(`expected a valid config, got:\n${r.errors.map((e) => `${e.path}: ${e.message}`).join('\n')}`);
  return r.desired;
}

function bad(raw: unknown): ConfigIssue[] {
  const r = validateConfig(raw, ctx);
  assert.equal(r.ok, false, 'expected the config to be refused');
  return r.ok ? [] : r.errors;
}

/** The single issue's `path: message`. */
function one(raw: unknown): string {
  const errs = bad(raw);
  assert.equal(errs.length, 1, `expected one issue, got ${errs.map((e) => `${e.path}: ${e.message}`).join(' | ')}`);
  return `${errs[0]!.path}: ${errs[0]!.message}`;
}

const svc = (extra: Record<string, unknown> = {}, reals: unknown[] = []): unknown =>
  ({ services: [{ address: '10.0.0.1', port: 80, reals, ...extra }] });

describe('config schema: normalisation', () => {
  it('applies the defaults: wlc, dr, weight 1, real port = VIP port', () => {
    const d = good(svc({}, [{ address: '192.168.10.8' }]));
    assert.deepEqual(d.services[0]!.spec, {
      family: 'inet', protocol: 'tcp', addr: '10.0.0.1', port: 80, fwmark: 0,
      scheduler: 'wlc', flags: 0, timeout: 0, netmask: 0xffffffff, pe: '',
    });
    assert.deepEqual(d.services[0]!.dests, [{
      family: 'inet', addr: '192.168.10.8', port: 80, fwd: 'route', weight: 1,
      uThreshold: 0, lThreshold: 0, tunType: 'ipip', tunPort: 0, tunFlags: 0,
    }]);
    assert.deepEqual(d.timeouts, {});
    assert.deepEqual(d.plugins, []);
    assert.deepEqual(d.interfaces, []);
    assert.deepEqual(d.neighbors, {});
    assert.equal(d.workers, undefined);
  });

  it('maps nat/dr/tun to masq/route/tunnel; a real overrides the service default', () => {
    const d = good(svc({ forward: 'nat' }, [
      { address: '192.168.10.8', port: 8080 },
      { address: '192.168.10.9', forward: 'dr' },
      { address: '192.168.10.10', forward: 'tun' },
    ]));
    assert.deepEqual(d.services[0]!.dests.map((x) => [x.fwd, x.port]), [['masq', 8080], ['route', 80], ['tunnel', 80]]);
  });

  it('canonicalises addresses and MACs, resolves plugin folders', () => {
    const d = good({
      interfaces: ['eth0', { name: 'eth1', mac: '02:00:00:00:00:AB' }],
      plugins: ['plugins', '/opt/lvsd/plugins', '../shared'],
      neighbors: { '2001:DB8:0:0::8': '02:00:00:00:00:0A' },
      services: [{ address: '2001:0db8::0001', port: 443, reals: [{ address: '2001:db8:0:0:0:0:0:10' }] }],
    });
    assert.equal(d.services[0]!.spec.addr, '2001:db8::1');
    assert.equal(d.services[0]!.spec.family, 'inet6');
    assert.equal(d.services[0]!.spec.netmask, 128);
    assert.equal(d.services[0]!.dests[0]!.addr, '2001:db8::10');
    assert.deepEqual(d.interfaces, [{ name: 'eth0' }, { name: 'eth1', mac: '02:00:00:00:00:ab' }]);
    assert.deepEqual(d.neighbors, { '2001:db8::8': '02:00:00:00:00:0a' });
    assert.deepEqual(d.plugins, ['/etc/lvsd/plugins', '/opt/lvsd/plugins', '/etc/shared']);
  });

  it('persistence: true gives 360 s and a /32 mask; an object sets timeout, netmask, engine', () => {
    let s = good(svc({ persistence: true })).services[0]!.spec;
    assert.equal(s.flags, SVC_F_PERSISTENT);
    assert.equal(s.timeout, 360);
    assert.equal(s.netmask, 0xffffffff);
    s = good(svc({ port: 0, persistence: { timeout: 60, netmask: '255.255.255.0', engine: 'sip' }, protocol: 'udp' })).services[0]!.spec;
    assert.deepEqual([s.flags, s.timeout, s.netmask, s.pe, s.port], [SVC_F_PERSISTENT, 60, 0xffffff00, 'sip', 0]);
    s = good(svc({ persistence: { netmask: 16 } })).services[0]!.spec;
    assert.equal(s.netmask, 0xffff0000);
    s = good({ services: [{ address: '2001:db8::1', port: 80, persistence: { netmask: 64 } }] }).services[0]!.spec;
    assert.equal(s.netmask, 64);
  });

  it('fwmark services, one-packet scheduling, scheduler flags, tunnels, thresholds', () => {
    const d = good({
      timeouts: { tcp: 600, udp: 30 },
      workers: 4,
      maxConnections: 4_000_000,
      services: [
        { fwmark: 7, ipv6: true, scheduler: 'sh', schedFlags: ['sh-port'], onePacket: true,
          reals: [{ address: '2001:db8::7', port: 8080, forward: 'nat' }] },
        { protocol: 'udp', address: '10.0.0.1', port: 53, onePacket: true,
          reals: [{ address: '2001:db8::53', forward: 'tun', tunnel: { type: 'gre', checksum: 'csum' }, upperThreshold: 100, lowerThreshold: 10 }] },
      ],
    });
    const [fw, udp] = d.services;
    assert.deepEqual([fw!.spec.family, fw!.spec.addr, fw!.spec.port, fw!.spec.fwmark], ['inet6', '::', 0, 7]);
    assert.equal(fw!.spec.flags, SVC_F_ONEPACKET | SVC_F_SCHED2);
    assert.equal(fw!.dests[0]!.port, 8080);
    assert.deepEqual([udp!.dests[0]!.tunType, udp!.dests[0]!.tunFlags, udp!.dests[0]!.uThreshold, udp!.dests[0]!.lThreshold],
      ['gre', TUN_FLAG_CSUM, 100, 10]);
    assert.deepEqual(d.timeouts, { tcp: 600, udp: 30 });
    assert.equal(d.workers, 4);
    assert.equal(d.maxConnections, 4_000_000);
  });

  it('accepts objects from another realm (node:vm)', async () => {
    const vm = await import('node:vm');
    const raw = vm.runInNewContext('({ services: [{ address: "10.0.0.1", port: 80, reals: [{ address: "10.0.1.1" }] }] })');
    assert.equal(good(raw).services[0]!.dests.length, 1);
    // The zod shape itself takes another realm's objects and arrays (the fast path).
    const full = vm.runInNewContext(`({
      interfaces: ['eth0', { name: 'eth1', mac: '02:00:00:00:00:01', addresses: ['192.168.10.1/24'] }],
      neighbors: { '10.0.0.9': '02:00:00:00:00:09' }, gateway: ['10.0.0.254'], timeouts: { tcp: 600 },
      services: [{ address: '10.0.0.1', port: 80, persistence: { timeout: 60, netmask: 24 }, schedFlags: ['flag-1'],
        health: [{ check: 'tcp', interval: 2 }], sorryServer: { address: '10.0.0.9' }, slowStart: { seconds: 10 },
        reals: [{ address: '10.0.1.1', health: false, slowStart: false, notifyUp: ['/bin/true'] }] }],
      schedule: [{ cron: '0 2 * * *', drain: { service: 'tcp://10.0.0.1:80', real: '10.0.1.1:80' } }],
    })`);
    assert.equal(lvsdConfigSchema.safeParse(full).success, true);
    assert.equal(good(full).services[0]!.health!.reals[0]!.checkers.length, 0);
  });
});

describe('config schema: refusals', () => {
  it('the default export must be an object', () => {
    assert.match(one(undefined), /default export of config.ts must be the config object/);
    assert.match(one([]), /\(got an array of 0\)/);
  });

  it('unknown keys, with a suggestion', () => {
    assert.equal(one({ workerz: 2 }), "workerz: unknown setting; did you mean 'workers'?");
    assert.equal(one(svc({}, [{ address: '192.168.10.8', wieght: 2 }])), "services[0].reals[0].wieght: unknown setting; did you mean 'weight'?");
    assert.equal(one(svc({ schedular: 'rr' })), "services[0].schedular: unknown setting; did you mean 'scheduler'?");
    assert.match(one(svc({ frobnicate: 1 })), /^services\[0\]\.frobnicate: unknown setting \(known here: protocol, address/);
  });

  it('types and ranges name the field and the value', () => {
    assert.equal(one(svc({}, [{ address: '192.168.10.8', weight: 2147483648 }])),
      'services[0].reals[0].weight: must be an integer 0..2147483647 (got 2147483648)');
    assert.equal(one(svc({}, [{ address: '192.168.10.8', weight: 1.5 }])),
      'services[0].reals[0].weight: must be an integer 0..2147483647 (got 1.5)');
    assert.equal(one(svc({}, [{ address: '192.168.10.8', weight: '3' }])),
      'services[0].reals[0].weight: must be an integer 0..2147483647 (got "3")');
    assert.equal(one(svc({ port: 65536 })), 'services[0].port: must be an integer 0..65535 (got 65536)');
    assert.equal(one(svc({}, [{ address: '192.168.10.8', upperThreshold: -1 }])),
      'services[0].reals[0].upperThreshold: must be an integer 0..2147483647 (got -1)');
    assert.equal(one({ workers: 0 }), 'workers: must be an integer 1..1024 (got 0)');
    assert.equal(one({ maxConnections: 100 }), 'maxConnections: must be an integer 1024..16777216 (got 100)');
    assert.equal(one({ timeouts: { tcp: 0 } }), 'timeouts.tcp: must be a whole number of seconds 1..2678400 (got 0)');
    assert.equal(one({ services: {} }), 'services: must be an array (got an object)');
    assert.equal(one(svc({ protocol: 'tpc' })), "services[0].protocol: must be one of 'tcp', 'udp', 'sctp' (did you mean 'tcp'?) (got \"tpc\")");
    assert.equal(one(svc({ forward: 'direct' })), "services[0].forward: must be one of 'nat', 'dr', 'tun' (got \"direct\")");
  });

  it('addresses', () => {
    assert.equal(one(svc({ address: '10.0.0.256' })), 'services[0].address: is not an IPv4 or IPv6 address (got "10.0.0.256")');
    assert.equal(one(svc({ address: '10.0.0.1:80' })),
      'services[0].address: is not an IPv4 or IPv6 address; give the port in `port`, not in the address (got "10.0.0.1:80")');
    assert.equal(one({ services: [{ port: 80 }] }), 'services[0].address: is required (the VIP), unless the service is a fwmark service');
    assert.equal(one(svc({}, [{ address: '224.0.0.1' }])), 'services[0].reals[0].address: is a multicast address, not a unicast address (got "224.0.0.1")');
    assert.match(one({ services: [{ address: '2001:db8::1', port: 80, reals: [{ address: 'fe80::1' }] }] }), /link-local/);
    assert.equal(one(svc({}, [{ port: 80 }])), "services[0].reals[0].address: is required (the real server's IP)");
  });

  it('port 0 only with persistence', () => {
    assert.equal(one(svc({ port: 0 })), 'services[0].port: is 0 (all ports), which is only allowed for a persistent service (add `persistence`)');
    assert.equal(one({ services: [{ address: '10.0.0.1' }] }), 'services[0].port: is required: port 0 (all ports) is only allowed for a persistent service');
    good(svc({ port: 0, persistence: true }));
  });

  it('one-packet scheduling only for UDP and fwmark services', () => {
    assert.equal(one(svc({ onePacket: true })), 'services[0].onePacket: one-packet scheduling is only for UDP and fwmark services (this one is tcp)');
    good(svc({ onePacket: true, protocol: 'udp' }));
    good({ services: [{ fwmark: 1, onePacket: true }] });
  });

  it('fwmark services have no address/port/protocol; ipv6 only for them', () => {
    const errs = bad({ services: [{ fwmark: 1, address: '10.0.0.1', port: 80 }] }).map((e) => e.path);
    assert.deepEqual(errs, ['services[0].address', 'services[0].port']);
    assert.equal(one({ services: [{ fwmark: 0 }] }), 'services[0].fwmark: must be an integer 1..4294967295 (got 0)');
    assert.equal(one(svc({ ipv6: true })), 'services[0].ipv6: is only for fwmark services (the VIP already says its family)');
  });

  it('scheduler: unknown names and flags that need another scheduler', () => {
    assert.equal(one(svc({ scheduler: 'wrrr' })), "services[0].scheduler: unknown scheduler; did you mean 'wrr'? (got \"wrrr\")");
    assert.equal(one(svc({ scheduler: 'fancy' })), 'services[0].scheduler: unknown scheduler (got "fancy")');
    assert.equal(one(svc({ schedFlags: ['sh-port'] })), "services[0].schedFlags[0]: 'sh-port' is only for the sh scheduler (this service uses wlc)");
    assert.match(one(svc({ schedFlags: ['sh-prot'], scheduler: 'sh' })), /^services\[0\]\.schedFlags\[0\]: must be one of .* \(did you mean 'sh-port'\?\)/);
    good(svc({ scheduler: 'mh', schedFlags: ['mh-fallback', 'mh-port'] }));
    good(svc({ scheduler: 'none' }));
  });

  it('persistence: timeout, netmask and engine', () => {
    assert.equal(one(svc({ persistence: { timeout: 0 } })), 'services[0].persistence.timeout: must be a whole number of seconds 1..2678400 (got 0)');
    assert.equal(one(svc({ persistence: { timeout: 2678401 } })), 'services[0].persistence.timeout: must be a whole number of seconds 1..2678400 (got 2678401)');
    assert.equal(one(svc({ persistence: { netmask: '255.0.255.0' } })), 'services[0].persistence.netmask: is not a contiguous netmask (got "255.0.255.0")');
    assert.equal(one(svc({ persistence: { netmask: 'x' } })),
      'services[0].persistence.netmask: must be a dotted netmask like "255.255.255.0" or a prefix length 0..32 (got "x")');
    assert.equal(one({ services: [{ address: '::1', port: 1, persistence: { netmask: 129 } }] }),
      'services[0].persistence.netmask: must be an IPv6 prefix length 1..128 (got 129)');
    assert.equal(one(svc({ persistence: { engine: 'http' } })), 'services[0].persistence.engine: unknown persistence engine (known: sip) (got "http")');
    assert.equal(one(svc({ persistence: 'yes' })), 'services[0].persistence: must be an object (got "yes")');
  });

  it('dr and tun reals cannot change the port (ipvsadm would force it silently)', () => {
    assert.equal(one(svc({}, [{ address: '192.168.10.8', port: 8080 }])),
      "services[0].reals[0].port: a dr real server cannot change the port: it must be the service port 80 (or be left out); use forward: 'nat' to map to another port (got 8080)");
    assert.match(one(svc({ forward: 'tun' }, [{ address: '192.168.10.8', port: 8080 }])), /a tun real server cannot change the port/);
    good(svc({}, [{ address: '192.168.10.8', port: 80 }]));
    good({ services: [{ fwmark: 3, reals: [{ address: '192.168.10.8', port: 8080 }] }] });
  });

  it('thresholds: lower above upper is refused', () => {
    assert.equal(one(svc({}, [{ address: '192.168.10.8', lowerThreshold: 5 }])),
      'services[0].reals[0].lowerThreshold: must not be above upperThreshold (0 = none); the kernel refuses it (got 5)');
  });

  it('mixed address families only for tunnelling', () => {
    assert.equal(one(svc({}, [{ address: '2001:db8::8' }])),
      "services[0].reals[0].address: is IPv6 but the service is IPv4; a different address family is allowed only for tunnelling (forward: 'tun') (got \"2001:db8::8\")");
    good(svc({}, [{ address: '2001:db8::8', forward: 'tun' }]));
  });

  it('tunnel options per tunnel type', () => {
    const tun = (tunnel: unknown, forward = 'tun'): unknown => svc({}, [{ address: '192.168.10.8', forward, tunnel }]);
    assert.equal(one(tun({ type: 'ipip' }, 'dr')), "services[0].reals[0].tunnel: tunnel options are only for forward: 'tun' (this real server uses dr)");
    assert.equal(one(tun({ type: 'gue' })), 'services[0].reals[0].tunnel.port: is required for a gue tunnel (the UDP port)');
    assert.equal(one(tun({ type: 'gue', port: 0 })), 'services[0].reals[0].tunnel.port: must be an integer 1..65535 (got 0)');
    assert.equal(one(tun({ port: 6080 })), 'services[0].reals[0].tunnel.port: is only for a gue tunnel (this one is ipip) (got 6080)');
    assert.equal(one(tun({ type: 'gre', port: 6080 })), 'services[0].reals[0].tunnel.port: is only for a gue tunnel (this one is gre) (got 6080)');
    assert.equal(one(tun({ checksum: 'csum' })), 'services[0].reals[0].tunnel.checksum: is only for gue and gre tunnels (got "csum")');
    assert.equal(one(tun({ type: 'gre', checksum: 'remcsum' })), "services[0].reals[0].tunnel.checksum: 'remcsum' is only for a gue tunnel (got \"remcsum\")");
    assert.equal(one(tun({ type: 'gue', port: 6080, extra: 1 })), 'services[0].reals[0].tunnel.extra: unknown setting (known here: type, port, checksum)');
    good(tun({ type: 'gue', port: 6080, checksum: 'remcsum' }));
  });

  it('duplicate services and duplicate reals', () => {
    assert.equal(one({ services: [{ address: '10.0.0.1', port: 80 }, { address: '10.0.0.2', port: 80 }, { address: '10.0.0.01'.replace('01', '1'), port: 80, protocol: 'tcp' }] }),
      'services[2]: service tcp://10.0.0.1:80 is listed twice (also services[0])');
    good({ services: [{ address: '10.0.0.1', port: 80 }, { address: '10.0.0.1', port: 80, protocol: 'udp' }] });
    assert.equal(one(svc({ forward: 'nat' }, [{ address: '192.168.10.8', port: 80 }, { address: '192.168.10.9' }, { address: '192.168.10.8' }])),
      'services[0].reals[2]: real server 192.168.10.8:80 is listed twice (also reals[0])');
    assert.equal(one({ services: [{ fwmark: 1 }, { fwmark: 1 }] }), 'services[1]: service fwmark://1 is listed twice (also services[0])');
    good({ services: [{ fwmark: 1 }, { fwmark: 1, ipv6: true }] });
  });

  it('interfaces, neighbours, plugins', () => {
    assert.equal(one({ interfaces: ['eth0', 'eth0'] }), 'interfaces[1]: interface eth0 is listed twice');
    assert.equal(one({ interfaces: ['a-very-long-interface-name'] }),
      "interfaces[0]: must be an interface name (1..15 characters, no spaces, '/' or ':') (got \"a-very-long-interface-name\")");
    assert.equal(one({ interfaces: [{ name: 'eth0', mac: 'zz' }] }), 'interfaces[0].mac: must be a MAC address like "02:00:00:00:00:01" (got "zz")');
    assert.equal(one({ neighbors: { 'host-a': '02:00:00:00:00:01' } }), 'neighbors["host-a"]: the key must be an IPv4 or IPv6 address (got "host-a")');
    assert.equal(one({ plugins: ['a', './a'] }), 'plugins[1]: folder /etc/lvsd/a is listed twice');
  });

  it('reports every problem at once', () => {
    const errs = bad({ workerz: 1, services: [{ address: 'x', port: 80, reals: [{ address: '10.1.1.1', weight: -1 }] }, 5] });
    assert.deepEqual(errs.map((e) => e.path), ['workerz', 'services[0].address', 'services[0].reals[0].weight', 'services[1]']);
  });
});

describe('config schema: what plugins add', () => {
  it('control-plane plugins own root keys: parsed into pluginConfig, errors with their path, typos suggest them', async () => {
    const { z } = await import('zod');
    const pluginKeys = new Map<string, import('zod').ZodType>([['sync', z.strictObject({
      interface: z.string({ error: 'must be an interface name' }),
      syncid: z.number().int().min(0).max(255).default(0),
    })]]);
    const c = { ...ctx, pluginKeys };
    const ok = validateConfig({ sync: { interface: 'eth0' }, services: [] }, c);
    assert.ok(ok.ok);
    assert.deepEqual(ok.desired.pluginConfig, { sync: { interface: 'eth0', syncid: 0 } });
    const r = validateConfig({ sync: { interface: 3 }, syncc: 1 }, c);
    assert.ok(!r.ok);
    assert.deepEqual(r.errors.map((e) => `${e.path}: ${e.message}`), [
      "syncc: unknown setting; did you mean 'sync'?",
      'sync.interface: must be an interface name',
    ]);
    // Without the plugin, its key is an unknown setting as any other.
    assert.equal(one({ sync: {} }), 'sync: unknown setting (known here: interfaces, timeouts, plugins, neighbors, gateway, workers, maxConnections, scriptUser, services, schedule)');
  });

  it('scheduler flag words come from the scheduler plugins', () => {
    const flags: Record<string, Record<string, number>> = { sh: { 'sh-fallback': 0x8, 'sh-port': 0x10 }, mh: { 'mh-fallback': 0x8, 'mh-port': 0x10 } };
    const c = { ...ctx, schedulerFlags: (n: string) => flags[n] };
    const v = validateConfig(svc({ scheduler: 'sh', schedFlags: ['sh-port', 'flag-3'] }), c);
    assert.ok(v.ok);
    assert.equal(v.desired.services[0]!.spec.flags, 0x10 | 0x20);
    const bad = (raw: unknown): string => {
      const r = validateConfig(raw, c);
      assert.ok(!r.ok);
      return r.errors.map((e) => `${e.path}: ${e.message}`).join(' | ');
    };
    assert.equal(bad(svc({ schedFlags: ['sh-port'] })), "services[0].schedFlags[0]: 'sh-port' is only for the sh scheduler (this service uses wlc)");
    assert.match(bad(svc({ scheduler: 'sh', schedFlags: ['sh-prot'] })), /^services\[0\]\.schedFlags\[0\]: must be one of .*'mh-port'.* \(did you mean 'sh-port'\?\) \(got "sh-prot"\)$/);
  });

  it('health check names in messages come from the registry', () => {
    const c = { ...ctx, checkNames: ['http', 'tcp'] };
    const r = validateConfig(svc({ health: { interval: 3 } }), c);
    assert.ok(!r.ok);
    assert.equal(`${r.errors[0]!.path}: ${r.errors[0]!.message}`, "services[0].health.check: is required: which checker (http, tcp or a plugin's name)");
  });

  it('a config that fails the shape reports the same as one checked field by field: 1 000 errors, quickly', () => {
    const reals = Array.from({ length: 10 }, (_, j) => ({ address: `192.168.0.${j + 1}`, weight: -1 }));
    const services = Array.from({ length: 100 }, (_, i) => ({ address: `10.0.${i >> 8}.${i & 255}`, port: 80, reals }));
    const t0 = performance.now();
    const errs = bad({ services });
    assert.equal(errs.length, 1000);
    assert.equal(`${errs[999]!.path}: ${errs[999]!.message}`, 'services[99].reals[9].weight: must be an integer 0..2147483647 (got -1)');
    assert.ok(performance.now() - t0 < 2000);
  });
});

describe('config schema: the zod shape and the field-by-field walk agree', () => {
  // A config that passes the shape is not checked field by field again: so the
  // shape must refuse whatever the field checks refuse. Every leaf of a rich
  // config is replaced by odd values and both ways must give the same answer.
  const base = {
    interfaces: ['eth0', { name: 'eth1', mac: '02:00:00:00:00:01', mtu: 1500, addresses: ['192.168.10.1/24'] }],
    neighbors: { '10.0.0.9': '02:00:00:00:00:09' }, gateway: '10.0.0.254', timeouts: { tcp: 600, tcpfin: 60, udp: 30 },
    workers: 2, maxConnections: 4096, plugins: ['p'],
    services: [{
      protocol: 'tcp', address: '10.0.0.1', port: 80, scheduler: 'wlc', schedFlags: ['flag-1'], forward: 'nat',
      persistence: { timeout: 60, netmask: 24, engine: 'sip' }, onePacket: false,
      health: { check: 'tcp', interval: 2, timeout: 1, retry: 1, delayBeforeRetry: 1, warmup: 0, alpha: true, rise: 2, fall: 2,
        jitter: 0.1, connectIp: '10.0.1.9', connectPort: 81, bindto: '10.0.0.2', bindPort: 1000, virtualhost: 'a.example',
        logAllFailures: true, fastRecovery: false },
      inhibitOnFailure: true, quorum: 2, hysteresis: 1, quorumUp: 'up.sh', quorumDown: ['down.sh', 'x'],
      sorryServer: { address: '10.0.0.9', port: 8080, forward: 'nat', weight: 2 }, sorryServerInhibit: true,
      alpha: false, omega: true, virtualhost: 'b.example', slowStart: { seconds: 10, from: 0.2 },
      reals: [
        { address: '10.0.1.1', port: 8080, weight: 3, upperThreshold: 10, lowerThreshold: 5, inhibitOnFailure: false,
          notifyUp: 'n.sh', notifyDown: ['n.sh'], slowStart: { seconds: 5 }, lifecycle: 'draining', drainDeadline: 30, virtualhost: 'c.example',
          health: [{ check: 'tcp', interval: 3 }] },
        { address: '10.0.1.2', forward: 'tun', port: 80, tunnel: { type: 'gue', port: 6080, checksum: 'remcsum' }, health: false, slowStart: false },
      ],
    }],
    schedule: [
      { cron: '0 2 * * *', timezone: 'UTC', name: 'night', drain: { service: 'tcp://10.0.0.1:80', real: '10.0.1.1:8080', deadline: 60 } },
      { cron: '0 3 * * *', weight: { service: 'tcp://10.0.0.1:80', real: '10.0.1.1:8080', weight: 5 } },
      { cron: '0 4 * * *', fill: { service: 'tcp://10.0.0.1:80', real: '10.0.1.1:8080', seconds: 5 } },
    ],
  };
  const odd: unknown[] = [undefined, null, -1, 0, 1.5, 2 ** 31, NaN, '', 'x', '10.0.0.1', true, [], {}, ['x']];

  function leaves(v: unknown, path: (string | number)[] = []): (string | number)[][] {
    if (Array.isArray(v)) return [path, ...v.flatMap((e, i) => leaves(e, [...path, i]))];
    if (typeof v === 'object' && v !== null) return [path, ...Object.entries(v).flatMap(([k, e]) => leaves(e, [...path, k]))];
    return [path];
  }
  function withValue(path: (string | number)[], value: unknown): unknown {
    const copy = structuredClone(base) as Record<string | number, unknown>;
    if (path.length === 0) return value;
    let o = copy;
    for (const seg of path.slice(0, -1)) o = o[seg] as Record<string | number, unknown>;
    o[path[path.length - 1]!] = value;
    return copy;
  }
  const summary = (r: ReturnType<typeof validateConfig>): string => (r.ok ? JSON.stringify(r.desired) : r.errors.map((e) => `${e.path}: ${e.message}`).join('\n'));

  it('the rich config is valid both ways', () => {
    const shape = lvsdConfigSchema.safeParse(base);
    assert.ok(shape.success, shape.success ? '' : JSON.stringify(shape.error.issues));
    const a = validateConfig(base, ctx);
    if (!a.ok) assert.fail(summary(a));
    assert.equal(summary(a), summary(validateConfig(base, ctx, { trustShape: false })));
  });

  it('every leaf replaced by an odd value: the same answer both ways', () => {
    let n = 0;
    for (const path of leaves(base)) {
      for (const value of odd) {
        const raw = withValue(path, value);
        const fast = summary(validateConfig(raw, ctx));
        const slow = summary(validateConfig(raw, ctx, { trustShape: false }));
        assert.equal(fast, slow, `${path.join('.')} = ${String(value)}`);
        n++;
      }
    }
    assert.ok(n > 1000);
  });
});
