// The shape of config.ts, as operators write it: one zod schema per object,
// from which `defineConfig()`'s types are inferred. Each field's schema carries
// the operator's message for a bad value ("must be an integer 0..65535"; the
// `(got …)` is added where the issue is reported). What depends on other
// fields or on the plugins loaded (a dr real's port, the address family,
// scheduler and checker names, flag words) is checked by core/config/schema.ts,
// which also turns the config into table specs.
//
// The config object comes out of a node:vm context: zod's checks are typeof /
// Array.isArray based, so another realm's objects and arrays pass.

import { z } from 'zod';
import { canonicalAddr } from '../model/addr.js';
import { commandArgv } from '../health/script.js';
import { didYouMean } from '../suggest.js';

// ------------------------------------------------------------------ leaves

const U32 = 4294967295;
/** 31 days: the longest interval, timeout or deadline that makes sense. */
export const MAX_SECONDS = 2678400;

/** An integer min..max; `what` names it in the message ("a whole number of seconds"). */
export function int(min: number, max: number, what = 'an integer'): z.ZodType<number> {
  const error = `must be ${what} ${min}..${max}`;
  return z.number({ error }).refine((v) => Number.isInteger(v) && v >= min && v <= max, { error });
}

export const bool = z.boolean({ error: 'must be true or false' });

/** One of a few words; a near miss gets a hint. */
export function oneOf<const T extends readonly [string, ...string[]]>(values: T): z.ZodType<T[number]> {
  const list = values.map((a) => `'${a}'`).join(', ');
  return z.enum(values, {
    error: (iss) => {
      const hint = typeof iss.input === 'string' ? didYouMean(iss.input, values) : undefined;
      return `must be one of ${list}${hint ? ` (did you mean '${hint}'?)` : ''}`;
    },
  });
}

type Parsed = ReturnType<typeof canonicalAddr>;
/**
 * Parsed addresses, so that the schema's check and the normalisation that
 * follows parse each address text once (a large config repeats them, too).
 * Bounded: emptied when full.
 */
const parsedAddrs = new Map<string, Parsed>();

/** `[2001:db8::1]` is taken for `2001:db8::1`. */
export function parseAddress(v: string): Parsed {
  let r = parsedAddrs.get(v);
  if (r === undefined) {
    r = canonicalAddr(v.startsWith('[') && v.endsWith(']') ? v.slice(1, -1) : v);
    if (parsedAddrs.size >= 1 << 16) parsedAddrs.clear();
    parsedAddrs.set(v, r);
  }
  return r;
}

/** An IPv4 or IPv6 address as a string. */
export const address = z.string({ error: 'must be an IPv4 or IPv6 address as a string' }).refine((v) => parseAddress(v) !== null, {
  error: (iss) => {
    const v = String(iss.input);
    const hint = /:\d+$/.test(v) && canonicalAddr(v.replace(/:\d+$/, '')) ? '; give the port in `port`, not in the address' : '';
    return `is not an IPv4 or IPv6 address${hint}`;
  },
});

/** Decimal seconds (keepalived TIMER): > 0 (or ≥ 0 with allowZero), at most 31 days. */
export function seconds(allowZero = false): z.ZodType<number> {
  const error = `must be a number of seconds ${allowZero ? '0' : '> 0'}..${MAX_SECONDS} (fractions allowed)`;
  return z.number({ error }).refine((v) => Number.isFinite(v) && v >= 0 && (allowZero || v > 0) && v <= MAX_SECONDS, { error });
}

/** A fraction lo..hi. */
function fraction(lo: number, hi: number, error: string): z.ZodType<number> {
  return z.number({ error }).refine((v) => v >= lo && v <= hi, { error });
}

/** A program: a command line (split on blanks, "double quotes" group) or an argv; no shell. */
export const command = z.custom<string | string[]>((v) => Array.isArray(commandArgv(v)), {
  error: (iss) => { const r = commandArgv(iss.input); return Array.isArray(r) ? 'is not a command' : r.error; },
});

export const hostName = z.string({ error: 'must be a host name (no blanks)' }).refine((v) => v !== '' && !/[\s\r\n]/.test(v), { error: 'must be a host name (no blanks)' });

const MAC_RE = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i;
const mac = z.string({ error: 'must be a MAC address like "02:00:00:00:00:01"' }).regex(MAC_RE, { error: 'must be a MAC address like "02:00:00:00:00:01"' });

/** A config object: unknown keys are refused (core/config/schema.ts words them with a "did you mean"). */
function object<S extends z.ZodRawShape>(shape: S): z.ZodObject<S, z.core.$strict> {
  return z.strictObject(shape, { error: 'must be an object' });
}
function array<T extends z.ZodType>(item: T): z.ZodArray<T> {
  return z.array(item, { error: 'must be an array' });
}

// ------------------------------------------------------------------ objects

export const forwardMode = oneOf(['nat', 'dr', 'tun']);
export type ForwardMode = z.infer<typeof forwardMode>;

export const tunnelShape = {
  /** Encapsulation; default ipip. */
  type: oneOf(['ipip', 'gue', 'gre']).optional(),
  /** UDP port, required for gue. */
  port: int(1, 65535).optional(),
  /** Outer checksum: none (default), csum, or remcsum (gue only). */
  checksum: oneOf(['none', 'csum', 'remcsum']).optional(),
};
export const tunnelSchema = object(tunnelShape);
export type TunnelConfig = z.input<typeof tunnelSchema>;

export const slowStartShape = {
  /** 1..86400. */
  seconds: seconds(),
  /** Starting fraction 0..1 of the configured weight; default 0.1. */
  from: fraction(0, 1, 'must be a fraction 0..1 of the weight').optional(),
};
/** Weight ramp when a server enters service: from `from` × weight to its weight over `seconds`. */
export const slowStartSchema = object(slowStartShape);
export type SlowStartConfig = z.input<typeof slowStartSchema>;

export type Command = z.input<typeof command>;

/** Options every checker takes (keepalived's delay_loop, connect_timeout, retry …; §3.1). */
export const healthCommonShape = {
  /** Which checker: a health check plugin's name (tcp, http … or an operator's). */
  check: z.string().regex(/^[a-z0-9][a-z0-9_.-]{0,14}$/i),
  /** Seconds between checks (delay_loop), > 0; default 60. */
  interval: seconds().optional(),
  /** Seconds an attempt may take (connect_timeout; exec: misc_timeout); default 5 (exec: interval). */
  timeout: seconds().optional(),
  /** Extra attempts before a failure counts (retry); default 1 (exec 0, dns 3). */
  retry: int(0, U32).optional(),
  /** Seconds between those attempts; default 1 (http/https 3, dns interval). */
  delayBeforeRetry: seconds(true).optional(),
  /** Maximum random delay before the first check, seconds; default interval; 0 disables. */
  warmup: seconds(true).optional(),
  /** Start "down" until the first success (keepalived alpha); default: the service's. */
  alpha: bool.optional(),
  /** Consecutive successful verdicts needed to go up (beyond keepalived); default 1. */
  rise: int(1, 1000).optional(),
  /** Consecutive failed verdicts (each after its retries) needed to go down; default 1. */
  fall: int(1, 1000).optional(),
  /** Spread each interval by ±jitter (0..0.5, a fraction) so checks do not fire in lockstep; default 0 (keepalived's exact timing). */
  jitter: fraction(0, 0.5, 'must be a fraction 0..0.5 of the interval').optional(),
  /** Address / port to probe instead of the real server's (connect_ip / connect_port). */
  connectIp: address.optional(),
  connectPort: int(1, 65535).optional(),
  /** Source address / port (bindto / bind_port). */
  bindto: address.optional(),
  bindPort: int(1, 65535).optional(),
  /** Host header for HTTP checks (keepalived virtualhost). */
  virtualhost: hostName.optional(),
  /** Log every failed attempt, not only the deciding one (log_all_failures). */
  logAllFailures: bool.optional(),
  /** While recovering, run the next step at once instead of after `interval` (HTTP URLs). */
  fastRecovery: bool.optional(),
};
/**
 * One checker: the common options plus the checker plugin's own (each plugin
 * declares their schema; they are checked once the plugins are loaded).
 */
export const healthCheckSchema = z.looseObject(healthCommonShape, { error: 'must be an object' });
export type HealthCommonConfig = Omit<z.input<typeof healthCheckSchema>, 'check'>;
/** A checker: `check` names the plugin; its own options sit beside the common ones. */
export type HealthCheckConfig = z.input<typeof healthCheckSchema> & { [option: string]: unknown };
/** Options every checker takes. */
export const HEALTH_COMMON_KEYS: readonly string[] = Object.keys(healthCommonShape);

export const realShape = {
  address,
  /** Defaults to the service port. For dr and tun it must equal the service port. */
  port: int(0, 65535).optional(),
  /** 0..2147483647, default 1. 0 = quiescent: no new connections. */
  weight: int(0, 2147483647).optional(),
  /** Overrides the service's `forward`. */
  forward: forwardMode.optional(),
  /** Upper/lower connection thresholds (0 = none). */
  upperThreshold: int(0, 2147483647).optional(),
  lowerThreshold: int(0, 2147483647).optional(),
  tunnel: tunnelSchema.optional(),
  /**
   * This real server's own checker(s), replacing the service's `health`; the
   * common timing options (interval, timeout, retry …) it leaves out come from
   * the service's. `false`: not checked (always alive).
   */
  health: z.union([healthCheckSchema, array(healthCheckSchema), z.literal(false)]).optional(),
  /** On failure set weight 0 instead of removing the server (keepalived inhibit_on_failure); default: the service's. */
  inhibitOnFailure: bool.optional(),
  /** Programs run when the server goes up / down (keepalived notify_up / notify_down): a command line or an argv. */
  notifyUp: command.optional(),
  notifyDown: command.optional(),
  /** Slow start when the server (re)enters service; default: the service's. */
  slowStart: z.union([slowStartSchema, z.literal(false)]).optional(),
  /**
   * Administrative state: 'active' (default), 'draining' (weight 0, removed when
   * its connections reach zero or at `drainDeadline`), 'disabled' (not in the table).
   */
  lifecycle: oneOf(['active', 'draining', 'disabled']).optional(),
  /** Seconds a draining server may keep connections before it is removed anyway. */
  drainDeadline: seconds().optional(),
  /** Host header for HTTP/HTTPS checks of this server (keepalived real_server virtualhost). */
  virtualhost: hostName.optional(),
};
export const realSchema = object(realShape);
export type RealServerConfig = z.input<typeof realSchema>;

export const sorryShape = {
  address,
  /** Default the service port (forced to it for dr/tun). */
  port: int(0, 65535).optional(),
  /** Default the service's forward. */
  forward: forwardMode.optional(),
  /** Default 1. */
  weight: int(0, 2147483647).optional(),
};
/** Where a sorry server is: used while the service has lost its quorum. */
export const sorrySchema = object(sorryShape);
export type SorryServerConfig = z.input<typeof sorrySchema>;

export const persistenceShape = {
  /** Seconds, 1..2678400; default 360 (as ipvsadm's -p). */
  timeout: int(1, 2678400, 'a whole number of seconds').optional(),
  /**
   * Which clients share a persistence template: an IPv4 dotted netmask
   * ('255.255.255.0') or prefix length 0..32; for IPv6 a prefix length 1..128.
   * Default: each client on its own (/32, /128).
   */
  netmask: z.union([z.string(), z.number()]).optional(),
  /** Persistence engine, e.g. 'sip'. */
  engine: z.string({ error: 'must be a persistence engine name' }).optional(),
};
export const persistenceSchema = object(persistenceShape);
export type PersistenceConfig = z.input<typeof persistenceSchema>;

export const serviceShape = {
  /** tcp, udp or sctp (not for fwmark services). Default tcp. */
  protocol: oneOf(['tcp', 'udp', 'sctp']).optional(),
  /** VIP (IPv4 or IPv6); not for fwmark services. */
  address: address.optional(),
  /** 0..65535; required, except that a persistent service may leave it out or use 0 (all ports). */
  port: int(0, 65535).optional(),
  /** A firewall-mark service instead of protocol/address/port. */
  fwmark: int(1, U32).optional(),
  /** For fwmark services: IPv6 (like ipvsadm's -6). */
  ipv6: bool.optional(),
  /** Scheduler plugin name; default wlc. */
  scheduler: z.string({ error: 'must be a scheduler name such as \'wlc\'' }).min(1, { error: 'must be a scheduler name such as \'wlc\'' })
    .max(15, { error: 'is longer than 15 characters' }).optional(),
  /** The scheduler's flag words (ipvsadm -b): flag-1..3, or the scheduler's own (sh-fallback, mh-port …). */
  schedFlags: array(z.string()).optional(),
  /** Persistence (-p/-M/--pe); true for the defaults (360 s, one template per client); false or absent: off. */
  persistence: z.union([persistenceSchema, z.boolean()]).optional(),
  /** One-packet scheduling (UDP and fwmark services only). */
  onePacket: bool.optional(),
  /** Default forwarding method of this service's real servers; default dr (ipvsadm's -g). */
  forward: forwardMode.optional(),
  reals: array(realSchema).optional(),
  /** Health checker(s) for every real server of this service (each real may override). */
  health: z.union([healthCheckSchema, array(healthCheckSchema)]).optional(),
  /** On failure set weight 0 instead of removing (keepalived inhibit_on_failure); default false. */
  inhibitOnFailure: bool.optional(),
  /** Sum of alive weights needed for the pool to be usable; default 1. */
  quorum: int(1, U32).optional(),
  /** Quorum is gained at quorum + hysteresis and lost below quorum − hysteresis; default 0. */
  hysteresis: int(0, U32).optional(),
  /** Programs run when the quorum is gained / lost. */
  quorumUp: command.optional(),
  quorumDown: command.optional(),
  /** Installed (alone) while the quorum is lost. */
  sorryServer: sorrySchema.optional(),
  /** Keep the sorry server in the table with weight 0 while not needed (sorry_server_inhibit). */
  sorryServerInhibit: bool.optional(),
  /** Servers start down until their first successful check (keepalived alpha). */
  alpha: bool.optional(),
  /** At shutdown also run quorumDown and the notifyDown of alive servers (keepalived omega). */
  omega: bool.optional(),
  /** Host header default for HTTP/HTTPS checks (keepalived virtualhost). */
  virtualhost: hostName.optional(),
  /** Slow start for every real server of this service. */
  slowStart: slowStartSchema.optional(),
};
export const serviceSchema = object(serviceShape);
export type ServiceConfig = z.input<typeof serviceSchema>;

export const scheduleTargetShape = {
  /** 'tcp://10.0.0.1:80', 'udp://[2001:db8::1]:53' or 'fwmark://1'. */
  service: z.string(),
  /** '192.168.10.8:80' or '[2001:db8::8]:80'. */
  real: z.string(),
};
export const SCHEDULE_ACTIONS = ['drain', 'fill', 'disable', 'enable', 'weight'] as const;
export const scheduleActionShapes = {
  drain: { ...scheduleTargetShape, deadline: seconds().optional() },
  fill: { ...scheduleTargetShape, seconds: seconds().optional() },
  disable: scheduleTargetShape,
  enable: scheduleTargetShape,
  weight: { ...scheduleTargetShape, weight: int(0, 2147483647) },
};
export type ScheduleTarget = z.input<z.ZodObject<typeof scheduleTargetShape>>;

export const scheduleShape = {
  /** node-cron expression: 5 fields (minute …) or 6 (second first). */
  cron: z.string(),
  /** IANA time zone for the expression; default the daemon's. */
  timezone: z.string({ error: 'must be an IANA time zone such as \'Europe/Berlin\'' }).optional(),
  /** For the log; default the expression and action. */
  name: z.string({ error: 'must be a string' }).optional(),
  /** Exactly one action: */
  drain: object(scheduleActionShapes.drain).optional(),
  fill: object(scheduleActionShapes.fill).optional(),
  disable: object(scheduleActionShapes.disable).optional(),
  enable: object(scheduleActionShapes.enable).optional(),
  /** Sets the real server's configured weight until the next config change of that weight. */
  weight: object(scheduleActionShapes.weight).optional(),
};
export const scheduleSchema = object(scheduleShape);
export type ScheduleConfig = z.input<typeof scheduleSchema>;

export const interfaceShape = {
  name: z.string(),
  mac: mac.optional(),
  /** Link MTU (68..65535), default 1500: forwarded packets larger than this are fragmented or refused (ICMP). */
  mtu: int(68, 65535).optional(),
  /** The director's own addresses on this link with their prefix ('192.168.10.1/24'): on-link routes, tunnel source. */
  addresses: array(z.string()).optional(),
};
export const interfaceSchema = object(interfaceShape);
export type InterfaceConfig = z.input<typeof interfaceSchema>;

export const timeoutsShape = {
  tcp: int(1, 2678400, 'a whole number of seconds').optional(),
  tcpfin: int(1, 2678400, 'a whole number of seconds').optional(),
  udp: int(1, 2678400, 'a whole number of seconds').optional(),
};

export const lvsdShape = {
  interfaces: array(z.union([z.string(), interfaceSchema])).optional(),
  /**
   * Connection timeouts in seconds (1..2678400), as `ipvsadm --set tcp tcpfin udp`.
   * One left out keeps the default (900, 120, 300); removing one on a reload restores its default.
   */
  timeouts: object(timeoutsShape).optional(),
  /** Extra plugin folders; relative ones are relative to the config file's folder. */
  plugins: array(z.string()).optional(),
  /** Neighbour table for the memory wire: IP → MAC. */
  neighbors: z.record(z.string(), z.string(), { error: 'must be an object' }).optional(),
  /** Default gateway(s), one per address family: the next hop for addresses not on a configured link. */
  gateway: z.union([z.string(), array(z.string())]).optional(),
  /** Data-plane worker threads, 1..1024. */
  workers: int(1, 1024).optional(),
  /**
   * Connection entries (connections and persistence templates) each data-plane
   * worker may hold, 1024..16777216; default 1048576 (about 115 MB each when
   * full). New connections beyond it are dropped and counted. Read at start-up.
   */
  maxConnections: int(1024, 1 << 24).optional(),
  /**
   * The user notify programs and exec checks run as (keepalived's script_user);
   * default when lvsd runs as root: lvsd-script if that user exists, else
   * nobody. 'root' only if you mean it. See README "Security".
   */
  scriptUser: z.string().regex(/^[a-z_][a-z0-9_.-]{0,31}\$?$|^\d+$/i, { error: 'must be a user name or a numeric uid' }).optional(),
  services: array(serviceSchema).optional(),
  /** Scheduled actions (drain at night, weights during business hours …). */
  schedule: array(scheduleSchema).optional(),
};
/** The whole config.ts export (control-plane plugins' own root keys aside). */
export const lvsdConfigSchema = object(lvsdShape);
export type LvsdConfig = z.input<typeof lvsdConfigSchema> & Partial<PluginConfigKeys>;

/**
 * Root keys owned by control-plane plugins (`sync`, `vrrp` …), checked at run
 * time by their schemas. A plugin types its key by augmenting this interface:
 * `declare module 'lvsd' { interface PluginConfigKeys { sync: SyncConfig } }`.
 */
// eslint-disable-next-line @typescript-eslint/no-empty-interface
export interface PluginConfigKeys {}
