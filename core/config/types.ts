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
  services?: ServiceConfig[];
}
