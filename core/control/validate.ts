// Checks a control request's shape before anything touches the table: a
// malformed request gets a clear EPROTO reply and changes nothing.

import { canonicalAddr } from '../model/addr.js';
import type {
  DestKey, DestSpec, FwdMethod, Protocol, ServiceKey, ServiceSpec, SyncDaemonSpec, Timeouts, TunType,
} from '../model/types.js';
import type { Request } from './protocol.js';

class Bad extends Error {}

type Obj = Record<string, unknown>;

function obj(v: unknown, path: string): Obj {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Bad(`${path} must be an object`);
  return v as Obj;
}
function int(o: Obj, key: string, path: string, min: number, max: number): number {
  const v = o[key];
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    throw new Bad(`${path}.${key} must be an integer ${min}..${max}`);
  }
  return v;
}
function str(o: Obj, key: string, path: string, max = 255): string {
  const v = o[key];
  if (typeof v !== 'string' || v.length > max) throw new Bad(`${path}.${key} must be a string of at most ${max} characters`);
  return v;
}
function oneOf<T extends string>(o: Obj, key: string, path: string, values: readonly T[]): T {
  const v = o[key];
  if (typeof v !== 'string' || !(values as readonly string[]).includes(v)) {
    throw new Bad(`${path}.${key} must be one of ${values.join(', ')}`);
  }
  return v as T;
}
function address(o: Obj, path: string): { family: 'inet' | 'inet6'; addr: string } {
  const family = oneOf(o, 'family', path, ['inet', 'inet6'] as const);
  const c = canonicalAddr(str(o, 'addr', path));
  if (!c || c.family !== family) throw new Bad(`${path}.addr is not an ${family === 'inet' ? 'IPv4' : 'IPv6'} address`);
  return { family, addr: c.addr };
}

const PROTOCOLS: readonly Protocol[] = ['tcp', 'udp', 'sctp'];
const FWD: readonly FwdMethod[] = ['masq', 'local', 'tunnel', 'route'];
const TUN: readonly TunType[] = ['ipip', 'gue', 'gre'];
const U32 = 0xffffffff;

function serviceKey(v: unknown, path: string): ServiceKey {
  const o = obj(v, path);
  const fwmark = int(o, 'fwmark', path, 0, U32);
  return { ...address(o, path), protocol: oneOf(o, 'protocol', path, PROTOCOLS), port: int(o, 'port', path, 0, 65535), fwmark };
}

function serviceSpec(v: unknown, path: string): ServiceSpec {
  const o = obj(v, path);
  return {
    ...serviceKey(o, path),
    scheduler: str(o, 'scheduler', path, 15),
    flags: int(o, 'flags', path, 0, U32),
    timeout: int(o, 'timeout', path, 0, U32),
    netmask: int(o, 'netmask', path, 0, U32),
    pe: str(o, 'pe', path, 15),
  };
}

function destKey(v: unknown, path: string): DestKey {
  const o = obj(v, path);
  return { ...address(o, path), port: int(o, 'port', path, 0, 65535) };
}

function destSpec(v: unknown, path: string): DestSpec {
  const o = obj(v, path);
  return {
    ...destKey(o, path),
    fwd: oneOf(o, 'fwd', path, FWD),
    // Signed 32-bit as the kernel sees it: negative weights reach the table's ERANGE.
    weight: int(o, 'weight', path, -0x80000000, 0x7fffffff),
    uThreshold: int(o, 'uThreshold', path, 0, U32),
    lThreshold: int(o, 'lThreshold', path, 0, U32),
    tunType: oneOf(o, 'tunType', path, TUN),
    tunPort: int(o, 'tunPort', path, 0, 65535),
    tunFlags: int(o, 'tunFlags', path, 0, 2),
  };
}

function timeouts(v: unknown, path: string): Timeouts {
  const o = obj(v, path);
  return { tcp: int(o, 'tcp', path, 0, U32), tcpfin: int(o, 'tcpfin', path, 0, U32), udp: int(o, 'udp', path, 0, U32) };
}

function daemon(v: unknown, path: string): SyncDaemonSpec {
  const o = obj(v, path);
  const group = str(o, 'group', path, 64);
  if (!canonicalAddr(group)) throw new Bad(`${path}.group is not an address`);
  return {
    state: oneOf(o, 'state', path, ['master', 'backup'] as const),
    mcastIfn: str(o, 'mcastIfn', path, 15),
    syncid: int(o, 'syncid', path, 0, 255),
    maxlen: int(o, 'maxlen', path, 0, 65535),
    group,
    port: int(o, 'port', path, 0, 65535),
    ttl: int(o, 'ttl', path, 0, 255),
  };
}

/** Parses one request line; returns the typed request or an error text. */
export function parseRequest(line: string): Request | { error: string } {
  let v: unknown;
  try { v = JSON.parse(line); } catch { return { error: 'request is not valid JSON' }; }
  try {
    const o = obj(v, 'request');
    const op = o['op'];
    switch (op) {
      case 'info': case 'get-services': case 'flush': case 'get-timeouts': case 'get-daemons': case 'get-conns':
        return { op };
      case 'get-service': case 'delete-service':
        return { op, service: serviceKey(o['service'], 'service') };
      case 'add-service': case 'edit-service':
        return { op, service: serviceSpec(o['service'], 'service') };
      case 'zero':
        return o['service'] === undefined ? { op } : { op, service: serviceKey(o['service'], 'service') };
      case 'add-dest': case 'edit-dest':
        return { op, service: serviceKey(o['service'], 'service'), dest: destSpec(o['dest'], 'dest') };
      case 'delete-dest':
        return { op, service: serviceKey(o['service'], 'service'), dest: destKey(o['dest'], 'dest') };
      case 'set-timeouts':
        return { op, timeouts: timeouts(o['timeouts'], 'timeouts') };
      case 'start-daemon':
        return { op, daemon: daemon(o['daemon'], 'daemon') };
      case 'stop-daemon': {
        const state = oneOf(o, 'state', 'request', ['master', 'backup'] as const);
        return o['syncid'] === undefined ? { op, state } : { op, state, syncid: int(o, 'syncid', 'request', 0, 255) };
      }
      case 'drain': case 'fill': case 'disable': case 'enable': {
        const allowed = ['op', 'service', 'dest', ...(op === 'drain' || op === 'fill' ? ['deadline'] : [])];
        const extra = Object.keys(o).find((k) => !allowed.includes(k));
        if (extra) throw new Bad(`request.${extra} is not known for ${op} (known: ${allowed.join(', ')})`);
        const service = serviceKey(o['service'], 'service');
        const dest = destKey(o['dest'], 'dest');
        if (op === 'disable' || op === 'enable') return { op, service, dest };
        if (o['deadline'] === undefined) return { op, service, dest };
        const d = o['deadline'];
        // Seconds, fractions allowed, up to 31 days (as config.ts's drainDeadline / slowStart).
        if (typeof d !== 'number' || !Number.isFinite(d) || d <= 0 || d > 2678400) {
          throw new Bad(`request.deadline must be a number of seconds > 0..2678400`);
        }
        return { op, service, dest, deadline: d };
      }
      case 'get-health':
        return o['service'] === undefined ? { op } : { op, service: serviceKey(o['service'], 'service') };
      default:
        return { error: `unknown request op ${JSON.stringify(op)}` };
    }
  } catch (e) {
    if (e instanceof Bad) return { error: e.message };
    throw e;
  }
}
