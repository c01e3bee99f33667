// config.ts `vrrp`: keepalived's vrrp_instance and vrrp_sync_group keywords in
// camelCase (spec keepalived.md §6), checked here with errors that name the
// field, and turned into the runner's configuration.
//
//   vrrp: [{ name: 'VI_1', interface: 'eth1', vrid: 51, priority: 150, advertInt: 1, version: 3,
//            vips: ['198.19.0.100/32', { address: '198.18.0.1/24', interface: 'eth0' }],
//            preempt: true, unicastPeers: [], track: { interfaces: [], services: [], scripts: [] },
//            notify: { master: '/usr/local/bin/on-master' } }]
//   vrrp: { instances: [...], syncGroups: [{ name: 'G1', instances: ['VI_1', 'VI_2'] }] }

import { isIP } from 'node:net';
import { bytesToIpv6, commandArgv, ipv6ToBytes, z } from 'lvsd';
import { validateHmacConfig, type HmacMode } from './vrrp-auth.js';
import { VrrpRunner, defined, type InstanceConfig, type RunnerConfig, type SyncGroupConfig, type VipConfig } from './vrrp-runner.js';

const ifname = z.string().min(1).max(15).regex(/^[^\s/:]+$/, 'must be an interface name');
const ipText = z.string().refine((s) => isIP(s) !== 0, 'must be an IPv4 or IPv6 address');
const weight = z.number().int().min(-253).max(253);
const command = z.union([z.string().min(1), z.array(z.string()).min(1)])
  .refine((v) => !('error' in (commandArgv(v) as object)), { message: 'must be a command line (string) or argv (array of strings)' });

/** `addr[/len]`; no length: a host address, as keepalived. */
const vipText = z.string().refine((s) => parseVip(s) !== null, 'must be an address with an optional /prefix length, e.g. 10.0.0.1/24');
const vip = z.union([vipText, z.object({ address: vipText, interface: ifname.optional() }).strict()]);

const trackInterface = z.union([ifname, z.object({ name: ifname, weight: weight.optional(), reverse: z.boolean().optional() }).strict()]);
const serviceText = z.string().refine((s) => serviceKeyOf(s) !== null, "must name a service: 'tcp:VIP:PORT', 'udp:[VIP6]:PORT', 'sctp:…' or 'fwm:MARK'");
const trackService = z.union([serviceText, z.object({ service: serviceText, weight: weight.optional(), reverse: z.boolean().optional() }).strict()]);
const trackScript = z.object({
  name: z.string().min(1),
  script: command,
  /** Seconds between runs [1]. */
  interval: z.number().positive().max(86400).default(1),
  /** Seconds a run may take [= interval]. */
  timeout: z.number().positive().max(86400).optional(),
  weight: weight.optional(),
  reverse: z.boolean().optional(),
  rise: z.number().int().min(1).max(1000).optional(),
  fall: z.number().int().min(1).max(1000).optional(),
  initFail: z.boolean().optional(),
}).strict();

const notify = z.object({
  master: command.optional(), backup: command.optional(), fault: command.optional(), stop: command.optional(),
  /** Run on every transition with INSTANCE <name> <state> <priority> appended (keepalived's `notify`). */
  notify: command.optional(),
  masterRxLowerPri: command.optional(),
}).strict();

const instance = z.object({
  name: z.string().min(1).max(64).regex(/^\S+$/, 'must not contain spaces'),
  interface: ifname,
  vrid: z.number().int().min(1).max(255),
  priority: z.number().int().min(1).max(255).optional(),
  state: z.enum(['MASTER', 'BACKUP']).optional(),
  /** Seconds [1]: v2 whole seconds, v3 in 10 ms steps up to 40.95. */
  advertInt: z.number().min(0.01).max(255).default(1),
  version: z.union([z.literal(2), z.literal(3)]).optional(),
  vips: z.array(vip).max(255),
  /** Added and removed with the others, not carried in adverts (virtual_ipaddress_excluded). */
  vipsExcluded: z.array(vip).default([]),
  /** false: keepalived's nopreempt. */
  preempt: z.boolean().default(true),
  preemptDelay: z.number().min(0).max(1000).optional(),
  mcastSrc: ipText.optional(),
  mcastGroup: ipText.optional(),
  unicastSrc: ipText.optional(),
  unicastPeers: z.array(z.union([ipText, z.object({ address: ipText, minTtl: z.number().int().min(0).max(255).optional(), maxTtl: z.number().int().min(0).max(255).optional() }).strict()])).default([]),
  unicastTtl: z.number().int().min(1).max(255).optional(),
  checkUnicastSrc: z.boolean().optional(),
  skipCheckAdvAddr: z.boolean().optional(),
  auth: z.discriminatedUnion('type', [
    z.object({ type: z.literal('pass'), password: z.string().min(1).max(8, 'keepalived sends at most 8 characters of the password') }).strict(),
    /**
     * HMAC-SHA256 trailers (draft-cassen-vrrp-auth-hmac, keepalived ≥ 2.4 auth_hmac): keys of 32..64 bytes
     * by id 1..255 (rollover: several at once), the one to send with, and the roll-out mode.
     */
    z.object({
      type: z.literal('hmac'),
      keys: z.array(z.object({ id: z.number().int().min(1).max(255), secret: z.string().min(1) }).strict()).min(1),
      sendKeyId: z.number().int().min(1).max(255),
      mode: z.enum(['receive-only', 'permissive', 'enforce']).default('enforce'),
      antiReplay: z.enum(['time', 'monotonic']).optional(),
      windowSec: z.number().int().min(1).max(300).optional(),
    }).strict().superRefine((a, ctx) => {
      const why = validateHmacConfig({ keys: a.keys, sendKeyId: a.sendKeyId, mode: a.mode as HmacMode, ...(a.antiReplay ? { antiReplay: a.antiReplay } : {}), ...(a.windowSec ? { windowSec: a.windowSec } : {}) });
      if (why) ctx.addIssue({ code: 'custom', message: why });
    }),
  ]).optional(),
  track: z.object({
    interfaces: z.array(trackInterface).default([]),
    services: z.array(trackService).default([]),
    scripts: z.array(trackScript).default([]),
  }).strict().optional(),
  notify: notify.optional(),
  garpMasterDelay: z.number().min(0).max(86400).optional(),
  garpMasterRepeat: z.number().int().min(0).max(255).optional(),
  garpLowerPrioDelay: z.number().min(0).max(86400).optional(),
  garpLowerPrioRepeat: z.number().int().min(0).max(255).optional(),
  garpMasterRefresh: z.number().min(0).max(86400).optional(),
  garpMasterRefreshRepeat: z.number().int().min(1).max(255).optional(),
  downTimerAdverts: z.number().int().min(1).max(100).optional(),
  lowerPrioNoAdvert: z.boolean().optional(),
  higherPrioSendAdvert: z.boolean().optional(),
  strict: z.boolean().optional(),
  dontTrackPrimary: z.boolean().optional(),
  /**
   * 'own' [default]: this director's adverts keep their schedule whatever it
   * receives. 'keepalived': as keepalived 2.2.7, any packet for the VRID delays
   * the next advert (a hostile peer can silence the master with one packet a second).
   */
  advertSchedule: z.enum(['own', 'keepalived']).default('own'),
  /**
   * keepalived's use_vmac: a macvlan (true: `vrrp.<VRID>`, or this name) with the
   * virtual MAC 00:00:5e:00:01:<VRID>, from which adverts and GARPs go and on which
   * the VIPs are put: clients' ARP entries stay the same across failovers.
   */
  useVmac: z.union([z.boolean(), ifname]).optional(),
}).strict().superRefine((i, ctx) => {
  if (i.useVmac) {
    if (i.unicastPeers.length > 0) ctx.addIssue({ code: 'custom', path: ['useVmac'], message: 'useVmac goes with multicast only (keepalived needs vmac_xmit_base for unicast, which lvsd does not have)' });
    if ([...i.vips, ...i.vipsExcluded].some((v) => (typeof v === 'string' ? v : v.address).includes(':'))) ctx.addIssue({ code: 'custom', path: ['useVmac'], message: 'useVmac is IPv4 only in lvsd' });
  }
  if (i.auth?.type === 'pass' && (i.version ?? 2) !== 2) ctx.addIssue({ code: 'custom', path: ['auth'], message: 'PASS authentication is VRRPv2 only' });
  if (i.auth?.type === 'pass' && i.vips.some((v) => (typeof v === 'string' ? v : v.address).includes(':'))) {
    ctx.addIssue({ code: 'custom', path: ['auth'], message: 'PASS authentication is IPv4 only' });
  }
  if (i.vips.length === 0 && i.vipsExcluded.length === 0) ctx.addIssue({ code: 'custom', path: ['vips'], message: 'an instance needs at least one VIP' });
});

const syncGroup = z.object({
  name: z.string().min(1),
  instances: z.array(z.string().min(1)).min(1),
  notify: notify.omit({ masterRxLowerPri: true }).optional(),
}).strict();

export const vrrpOptions = z.union([
  z.array(instance),
  z.object({ instances: z.array(instance), syncGroups: z.array(syncGroup).default([]) }).strict(),
]).superRefine((v, ctx) => {
  const errs = VrrpRunner.check(toRunnerConfig(v));
  for (const message of errs) ctx.addIssue({ code: 'custom', message });
});

export type VrrpOptions = z.infer<typeof vrrpOptions>;

// ---------------------------------------------------------------- normalising

export function parseVip(s: string): { address: string; prefixLen: number } | null {
  const m = /^([^/]+)(?:\/(\d{1,3}))?$/.exec(s.trim());
  if (!m) return null;
  const fam = isIP(m[1]!);
  if (fam === 0) return null;
  const max = fam === 4 ? 32 : 128;
  const len = m[2] === undefined ? max : Number(m[2]);
  if (len > max) return null;
  const address = fam === 6 ? bytesToIpv6(ipv6ToBytes(m[1]!)!) : m[1]!;
  return { address, prefixLen: len };
}

/**
 * A service as the tracking and the bus name it: `tcp:10.0.0.1:80`,
 * `udp:[2001:db8::1]:53`, `fwm:5` (`fwm6:5` for an IPv6 firewall-mark service).
 */
export function serviceKeyOf(s: string): string | null {
  const f = /^fwm(6?):(\d+)$/.exec(s);
  if (f) return Number(f[2]) > 0 && Number(f[2]) <= 0xffffffff ? `fwm${f[1]}:${Number(f[2])}` : null;
  const m = /^(tcp|udp|sctp):(?:\[([^\]]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(s);
  if (!m) return null;
  const port = Number(m[4]);
  if (port > 65535) return null;
  if (m[2] !== undefined) {
    const b = ipv6ToBytes(m[2]);
    return b ? `${m[1]}:[${bytesToIpv6(b)}]:${port}` : null;
  }
  return isIP(m[3]!) === 4 ? `${m[1]}:${m[3]}:${port}` : null;
}

/** The bus's ServiceKey in the same form. */
export function serviceKeyText(k: { family: string; protocol: string; addr: string; port: number; fwmark: number }): string {
  if (k.fwmark > 0) return `fwm${k.family === 'inet6' ? '6' : ''}:${k.fwmark}`;
  return k.family === 'inet6' ? `${k.protocol}:[${k.addr}]:${k.port}` : `${k.protocol}:${k.addr}:${k.port}`;
}

const argv = (v: string | string[]): string[] => {
  const a = commandArgv(v);
  return Array.isArray(a) ? a : [];
};

function vipOf(v: z.infer<typeof vip>): VipConfig {
  const text = typeof v === 'string' ? v : v.address;
  const p = parseVip(text) ?? { address: text, prefixLen: 32 };
  return typeof v === 'string' || v.interface === undefined ? p : { ...p, interface: v.interface };
}

function instanceOf(i: z.infer<typeof instance>): InstanceConfig {
  const t = i.track ?? { interfaces: [], services: [], scripts: [] };
  const n = i.notify ?? {};
  const notifyOut: InstanceConfig['notify'] = {};
  for (const k of ['master', 'backup', 'fault', 'stop', 'notify', 'masterRxLowerPri'] as const) { const v = n[k]; if (v !== undefined) notifyOut[k] = argv(v); }
  const garp = defined({ masterDelay: i.garpMasterDelay, masterRepeat: i.garpMasterRepeat, lowerPrioDelay: i.garpLowerPrioDelay,
    lowerPrioRepeat: i.garpLowerPrioRepeat, masterRefresh: i.garpMasterRefresh, masterRefreshRepeat: i.garpMasterRefreshRepeat });
  return {
    name: i.name, interface: i.interface, vrid: i.vrid, advertInt: i.advertInt,
    vips: i.vips.map(vipOf), vipsExcluded: i.vipsExcluded.map(vipOf), preempt: i.preempt,
    unicastPeers: i.unicastPeers.map((p) => (typeof p === 'string' ? { address: p } : p)),
    trackInterfaces: t.interfaces.map((x) => (typeof x === 'string' ? { name: x } : x)),
    trackServices: t.services.map((x) => (typeof x === 'string' ? { service: serviceKeyOf(x) ?? x } : { ...x, service: serviceKeyOf(x.service) ?? x.service })),
    trackScripts: t.scripts.map((s) => ({
      name: s.name, argv: argv(s.script), interval: s.interval, timeout: s.timeout ?? s.interval,
      ...defined({ weight: s.weight, reverse: s.reverse, rise: s.rise, fall: s.fall, initFail: s.initFail }),
    })),
    notify: notifyOut, garp, advertSchedule: i.advertSchedule,
    ...defined({
      priority: i.priority, state: i.state, version: i.version, preemptDelay: i.preemptDelay, mcastSrc: i.mcastSrc, mcastGroup: i.mcastGroup,
      unicastSrc: i.unicastSrc, unicastTtl: i.unicastTtl, checkUnicastSrc: i.checkUnicastSrc, skipCheckAdvAddr: i.skipCheckAdvAddr, auth: i.auth,
      downTimerAdverts: i.downTimerAdverts, lowerPrioNoAdvert: i.lowerPrioNoAdvert, higherPrioSendAdvert: i.higherPrioSendAdvert,
      strict: i.strict, dontTrackPrimary: i.dontTrackPrimary,
      useVmac: i.useVmac === true ? `vrrp.${i.vrid}` : i.useVmac === false ? undefined : i.useVmac,
    }),
  };
}

export function toRunnerConfig(v: VrrpOptions | undefined): RunnerConfig {
  if (v === undefined) return { instances: [], syncGroups: [] };
  const list = Array.isArray(v) ? v : v.instances;
  const groups = Array.isArray(v) ? [] : v.syncGroups;
  return {
    instances: list.map(instanceOf),
    syncGroups: groups.map((g): SyncGroupConfig => {
      const n: SyncGroupConfig['notify'] = {};
      for (const k of ['master', 'backup', 'fault', 'stop', 'notify'] as const) { const x = g.notify?.[k]; if (x !== undefined) n[k] = argv(x); }
      return { name: g.name, instances: g.instances, notify: n };
    }),
  };
}
