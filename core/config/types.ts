// The shape of config.ts, as operators write it. `defineConfig()` gives it
// these types; core/config/schema.ts checks the evaluated object against the
// same shape at run time and turns it into table specs.

export type ForwardMode = 'nat' | 'dr' | 'tun';

export interface TunnelConfig {
  /** Encapsulation; default ipip. */
  type?: 'ipip' | 'gue' | 'gre';
  /** UDP port, required for gue. */
  port?: number;
  /** Outer checksum: none (default), csum, or remcsum (gue only). */
  checksum?: 'none' | 'csum' | 'remcsum';
}

export interface RealServerConfig {
  address: string;
  /** Defaults to the service port. For dr and tun it must equal the service port. */
  port?: number;
  /** 0..65535, default 1. 0 = quiescent: no new connections. */
  weight?: number;
  /** Overrides the service's `forward`. */
  forward?: ForwardMode;
  /** Upper/lower connection thresholds (0 = none). */
  upperThreshold?: number;
  lowerThreshold?: number;
  tunnel?: TunnelConfig;
  /**
   * This real server's own checker(s), replacing the service's `health`; the
   * common timing options (interval, timeout, retry …) it leaves out come from
   * the service's. `false`: not checked (always alive).
   */
  health?: HealthCheckConfig | HealthCheckConfig[] | false;
  /** On failure set weight 0 instead of removing the server (keepalived inhibit_on_failure); default: the service's. */
  inhibitOnFailure?: boolean;
  /** Programs run when the server goes up / down (keepalived notify_up / notify_down): a command line or an argv. */
  notifyUp?: Command;
  notifyDown?: Command;
  /** Slow start when the server (re)enters service; default: the service's. */
  slowStart?: SlowStartConfig | false;
  /**
   * Administrative state: 'active' (default), 'draining' (weight 0, removed when
   * its connections reach zero or at `drainDeadline`), 'disabled' (not in the table).
   */
  lifecycle?: 'active' | 'draining' | 'disabled';
  /** Seconds a draining server may keep connections before it is removed anyway. */
  drainDeadline?: number;
  /** Host header for HTTP/HTTPS checks of this server (keepalived real_server virtualhost). */
  virtualhost?: string;
}

/** A program: a command line (split on blanks, "double quotes" group) or an argv; no shell. */
export type Command = string | string[];

/** Weight ramp when a server enters service: from `from` × weight to its weight over `seconds`. */
export interface SlowStartConfig {
  /** 1..86400. */
  seconds: number;
  /** Starting fraction 0..1 of the configured weight; default 0.1. */
  from?: number;
}

/** Options every checker takes (keepalived's delay_loop, connect_timeout, retry …; §3.1). */
export interface HealthCommonConfig {
  /** Seconds between checks (delay_loop), > 0; default 60. */
  interval?: number;
  /** Seconds an attempt may take (connect_timeout; exec: misc_timeout); default 5 (exec: interval). */
  timeout?: number;
  /** Extra attempts before a failure counts (retry); default 1 (exec 0, dns 3). */
  retry?: number;
  /** Seconds between those attempts; default 1 (http/https 3, dns interval). */
  delayBeforeRetry?: number;
  /** Maximum random delay before the first check, seconds; default interval; 0 disables. */
  warmup?: number;
  /** Start "down" until the first success (keepalived alpha); default: the service's. */
  alpha?: boolean;
  /** Consecutive successful verdicts needed to go up (beyond keepalived); default 1. */
  rise?: number;
  /** Consecutive failed verdicts (each after its retries) needed to go down; default 1. */
  fall?: number;
  /** Spread each interval by ±jitter (0..0.5, a fraction) so checks do not fire in lockstep; default 0 (keepalived's exact timing). */
  jitter?: number;
  /** Address / port to probe instead of the real server's (connect_ip / connect_port). */
  connectIp?: string;
  connectPort?: number;
  /** Source address / port (bindto / bind_port). */
  bindto?: string;
  bindPort?: number;
  /** Log every failed attempt, not only the deciding one (log_all_failures). */
  logAllFailures?: boolean;
}

export interface TcpCheckConfig extends HealthCommonConfig { check: 'tcp' }

export interface HttpUrlConfig {
  path: string;
  /** Accepted status codes: 200, '200-299', or a list of them; default 200-299. */
  statusCode?: number | string | (number | string)[];
  /** MD5 of the body as 32 hex digits (as keepalived's genhash prints it). */
  digest?: string;
  virtualhost?: string;
  /** The body must match (regex) or must not match (regexNoMatch) this JavaScript regular expression. */
  regex?: string;
  regexNoMatch?: boolean;
}

export interface HttpCheckConfig extends HealthCommonConfig {
  check: 'http' | 'https';
  /** One URL (shorthand for `urls: [{ path, statusCode, digest }]`); default '/'. */
  path?: string;
  statusCode?: number | string | (number | string)[];
  digest?: string;
  regex?: string;
  regexNoMatch?: boolean;
  /** Several URLs, checked one per interval in order (keepalived url blocks). */
  urls?: HttpUrlConfig[];
  virtualhost?: string;
  /** '1.0' (default), '1.0C' (1.0 + Connection: close), '1.1' (with Connection: close). */
  httpProtocol?: '1.0' | '1.0C' | '1.1';
  /** While recovering, fetch the next URL at once instead of after `interval`. */
  fastRecovery?: boolean;
  /** https: verify the server certificate (default false, as keepalived's SSL_GET without `ca`). */
  verify?: boolean;
  /** https: PEM file paths for the CA, client certificate and key. */
  ca?: string;
  cert?: string;
  key?: string;
  /** https: send SNI (default: when a virtualhost or sniName is set); the name (default the virtualhost). */
  enableSni?: boolean;
  sniName?: string;
}

export interface UdpCheckConfig extends HealthCommonConfig {
  check: 'udp';
  /** Datagram to send, hex; default 16 random bytes. */
  payload?: string;
  /** Require a reply (true), or one starting with these hex digits (X/x nibbles match anything). */
  requireReply?: boolean | string;
  minReplyLength?: number;
  maxReplyLength?: number;
}

export interface DnsCheckConfig extends HealthCommonConfig {
  check: 'dns';
  /** Query type; default SOA. */
  type?: 'A' | 'NS' | 'CNAME' | 'SOA' | 'MX' | 'TXT' | 'AAAA';
  /** Query name; default '.' (the root). */
  name?: string;
}

export interface SmtpCheckConfig extends HealthCommonConfig {
  check: 'smtp';
  /** Default 'smtpchecker.keepalived.org'. */
  heloName?: string;
}

export interface PingCheckConfig extends HealthCommonConfig { check: 'ping' }

export interface ExecCheckConfig extends HealthCommonConfig {
  check: 'exec';
  /** The program (keepalived misc_path); exit 0 = up. */
  command: Command;
  /** misc_dynamic: exit 2..255 sets the weight to status − 2 (0 restores the configured weight). */
  dynamic?: boolean;
}

/** A checker plugin from a plugins folder: the common options plus its own. */
export interface CustomCheckConfig extends HealthCommonConfig {
  check: string & {};
  [option: string]: unknown;
}

export type HealthCheckConfig =
  | TcpCheckConfig | HttpCheckConfig | UdpCheckConfig | DnsCheckConfig | SmtpCheckConfig
  | PingCheckConfig | ExecCheckConfig | CustomCheckConfig;

/** Where a sorry server is: used while the service has lost its quorum. */
export interface SorryServerConfig {
  address: string;
  /** Default the service port (forced to it for dr/tun). */
  port?: number;
  /** Default the service's forward. */
  forward?: ForwardMode;
  /** Default 1. */
  weight?: number;
}

/** A real server as a scheduled action names it. */
export interface ScheduleTarget {
  /** 'tcp://10.0.0.1:80', 'udp://[2001:db8::1]:53' or 'fwmark://1'. */
  service: string;
  /** '192.168.10.8:80' or '[2001:db8::8]:80'. */
  real: string;
}

export interface ScheduleConfig {
  /** node-cron expression: 5 fields (minute …) or 6 (second first). */
  cron: string;
  /** IANA time zone for the expression; default the daemon's. */
  timezone?: string;
  /** For the log; default the expression and action. */
  name?: string;
  /** Exactly one action: */
  drain?: ScheduleTarget & { deadline?: number };
  fill?: ScheduleTarget & { seconds?: number };
  disable?: ScheduleTarget;
  enable?: ScheduleTarget;
  /** Sets the real server's configured weight until the next config change of that weight. */
  weight?: ScheduleTarget & { weight: number };
}

export interface PersistenceConfig {
  /** Seconds, 1..2678400; default 360 (as ipvsadm's -p). */
  timeout?: number;
  /**
   * Which clients share a persistence template: an IPv4 dotted netmask
   * ('255.255.255.0') or prefix length 0..32; for IPv6 a prefix length 1..128.
   * Default: each client on its own (/32, /128).
   */
  netmask?: string | number;
  /** Persistence engine, e.g. 'sip'. */
  engine?: string;
}

export interface ServiceConfig {
  /** tcp, udp or sctp (not for fwmark services). Default tcp. */
  protocol?: 'tcp' | 'udp' | 'sctp';
  /** VIP (IPv4 or IPv6); not for fwmark services. */
  address?: string;
  /** 0..65535; required, except that a persistent service may leave it out or use 0 (all ports). */
  port?: number;
  /** A firewall-mark service instead of protocol/address/port. */
  fwmark?: number;
  /** For fwmark services: IPv6 (like ipvsadm's -6). */
  ipv6?: boolean;
  /** Scheduler plugin name; default wlc. */
  scheduler?: string;
  /** sh-fallback, sh-port, mh-fallback, mh-port, flag-1, flag-2, flag-3. */
  schedFlags?: string[];
  /** Persistence (-p/-M/--pe); true for the defaults (360 s, one template per client); false or absent: off. */
  persistence?: PersistenceConfig | boolean;
  /** One-packet scheduling (UDP and fwmark services only). */
  onePacket?: boolean;
  /** Default forwarding method of this service's real servers; default dr (ipvsadm's -g). */
  forward?: ForwardMode;
  reals?: RealServerConfig[];
  /** Health checker(s) for every real server of this service (each real may override). */
  health?: HealthCheckConfig | HealthCheckConfig[];
  /** On failure set weight 0 instead of removing (keepalived inhibit_on_failure); default false. */
  inhibitOnFailure?: boolean;
  /** Sum of alive weights needed for the pool to be usable; default 1. */
  quorum?: number;
  /** Quorum is gained at quorum + hysteresis and lost below quorum − hysteresis; default 0. */
  hysteresis?: number;
  /** Programs run when the quorum is gained / lost. */
  quorumUp?: Command;
  quorumDown?: Command;
  /** Installed (alone) while the quorum is lost. */
  sorryServer?: SorryServerConfig;
  /** Keep the sorry server in the table with weight 0 while not needed (sorry_server_inhibit). */
  sorryServerInhibit?: boolean;
  /** Servers start down until their first successful check (keepalived alpha). */
  alpha?: boolean;
  /** At shutdown also run quorumDown and the notifyDown of alive servers (keepalived omega). */
  omega?: boolean;
  /** Host header default for HTTP/HTTPS checks (keepalived virtualhost). */
  virtualhost?: string;
  /** Slow start for every real server of this service. */
  slowStart?: SlowStartConfig;
}

export interface InterfaceConfig {
  name: string;
  mac?: string;
  /** Link MTU (68..65535), default 1500: forwarded packets larger than this are fragmented or refused (ICMP). */
  mtu?: number;
  /** The director's own addresses on this link with their prefix ('192.168.10.1/24'): on-link routes, tunnel source. */
  addresses?: string[];
}

export interface LvsdConfig {
  interfaces?: (string | InterfaceConfig)[];
  /**
   * Connection timeouts in seconds (1..2678400), as `ipvsadm --set tcp tcpfin udp`.
   * One left out keeps the default (900, 120, 300); removing one on a reload restores its default.
   */
  timeouts?: { tcp?: number; tcpfin?: number; udp?: number };
  /** Extra plugin folders; relative ones are relative to the config file's folder. */
  plugins?: string[];
  /** Neighbour table for the memory wire: IP → MAC. */
  neighbors?: Record<string, string>;
  /** Default gateway(s), one per address family: the next hop for addresses not on a configured link. */
  gateway?: string | string[];
  /** Data-plane worker threads, 1..1024. */
  workers?: number;
  /**
   * Connection entries (connections and persistence templates) each data-plane
   * worker may hold, 1024..16777216; default 1048576 (about 115 MB each when
   * full). New connections beyond it are dropped and counted. Read at start-up.
   */
  maxConnections?: number;
  services?: ServiceConfig[];
  /** Scheduled actions (drain at night, weights during business hours …). */
  schedule?: ScheduleConfig[];
}
