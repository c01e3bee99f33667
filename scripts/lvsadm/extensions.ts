// lvsd's own lvsadm commands, outside ipvsadm's interface (which has no such
// thing): real-server lifecycle, the health listing and the data plane's drops.
//
//   lvsadm --drain   -t|-u|--sctp-service VIP:PORT | -f MARK [-6]  -r RIP[:PORT] [--deadline S]
//   lvsadm --fill    (same)  [--deadline S]     slow start; S is the ramp time
//   lvsadm --disable (same)
//   lvsadm --enable  (same)
//   lvsadm -L --health [-n] [-t|-u|--sctp-service VIP:PORT | -f MARK [-6]]
//   lvsadm -L --drops [--per-worker]      drop reasons and I/O counters (-n accepted, no effect)
//   lvsadm -L --vrrp [--stats]            failover instances: state, priority, master, last transition
//
// They are recognised before ipvsadm's parser sees the command line, so every
// ipvsadm command line keeps its exact ipvsadm meaning.

import type { DestKey, Protocol, ServiceKey } from '../../core/model/types.js';
import { parseService, stringToNumber, type ProtoNum } from './parse.js';
import type { NameService } from './resolve.js';

export type LifecycleOp = 'drain' | 'fill' | 'disable' | 'enable';

export type ExtCommand =
  | { op: LifecycleOp; service: ServiceKey; dest: DestKey; deadline?: number }
  | { op: 'get-health'; service?: ServiceKey; numeric: boolean }
  | { op: 'get-drops'; perWorker: boolean }
  | { op: 'get-vrrp'; stats: boolean };

const LIFECYCLE: Record<string, LifecycleOp> = { '--drain': 'drain', '--fill': 'fill', '--disable': 'disable', '--enable': 'enable' };
const PROTO_OPTS: Record<string, [Protocol, ProtoNum]> = {
  '-t': ['tcp', 6], '--tcp-service': ['tcp', 6], '-u': ['udp', 17], '--udp-service': ['udp', 17], '--sctp-service': ['sctp', 132],
};
/** The most a drain deadline or a fill ramp may be: 31 days, as ipvsadm's timeouts. */
const MAX_DEADLINE = 86400 * 31;

/** Whether a command line is one of lvsd's own (and not ipvsadm's). */
export function isExtension(args: readonly string[]): boolean {
  return args.some((a) => a in LIFECYCLE || a === '--health' || a === '--drops' || a === '--per-worker' || a === '--vrrp');
}

/** Splits `--opt=value` and expands short bundles like `-Ln`. */
function tokens(args: readonly string[]): string[] {
  const out: string[] = [];
  for (const a of args) {
    const eq = a.startsWith('--') ? a.indexOf('=') : -1;
    if (eq > 0) out.push(a.slice(0, eq), a.slice(eq + 1));
    else if (/^-[Lln6]{2,}$/.test(a)) for (const ch of a.slice(1)) out.push(`-${ch}`);
    else out.push(a);
  }
  return out;
}

/** Parses one of lvsd's own command lines; the error is a sentence for stderr. */
export async function parseExtension(args: readonly string[], ns: NameService): Promise<{ ok: true; command: ExtCommand } | { ok: false; error: string }> {
  const t = tokens(args);
  if (t.includes('--vrrp')) return parseVrrpListing(t);
  let op: LifecycleOp | 'get-health' | 'get-drops' | null = null;
  let list = false;
  let perWorker = false;
  let numeric = false;
  let svcText: { text: string; proto: Protocol; num: ProtoNum } | null = null;
  let fwmark = 0;
  let v6 = false;
  let real: string | null = null;
  let deadline: number | undefined;
  const listing = t.includes('--drops') ? '-L --drops' : '-L --health';
  const setOp = (o: LifecycleOp | 'get-health' | 'get-drops'): string | null => {
    if (op !== null && op !== o) return 'only one of --drain, --fill, --disable, --enable, --health, --drops may be given';
    op = o;
    return null;
  };
  for (let i = 0; i < t.length; i++) {
    const a = t[i]!;
    const value = (): string | null => (i + 1 < t.length ? t[++i]! : null);
    let err: string | null = null;
    if (a in LIFECYCLE) err = setOp(LIFECYCLE[a]!);
    else if (a === '--health') err = setOp('get-health');
    else if (a === '--drops') err = setOp('get-drops');
    else if (a === '--per-worker') perWorker = true;
    else if (a === '-L' || a === '-l' || a === '--list') list = true;
    else if (a === '-n' || a === '--numeric') numeric = true;
    else if (a === '-6' || a === '--ipv6') v6 = true;
    else if (a in PROTO_OPTS) {
      const v = value();
      if (v === null) return { ok: false, error: `${a} needs VIP:PORT` };
      if (svcText || fwmark) return { ok: false, error: 'only one service may be given' };
      const [proto, num] = PROTO_OPTS[a]!;
      svcText = { text: v, proto, num };
    } else if (a === '-f' || a === '--fwmark-service') {
      const v = value();
      const n = v === null ? -1 : stringToNumber(v, 1, 0xffffffff);
      if (n < 1) return { ok: false, error: `invalid fwmark value \`${v ?? ''}' specified` };
      if (svcText || fwmark) return { ok: false, error: 'only one service may be given' };
      fwmark = n;
    } else if (a === '-r' || a === '--real-server') {
      real = value();
      if (real === null) return { ok: false, error: `${a} needs RIP[:PORT]` };
    } else if (a === '--deadline') {
      const v = value();
      const n = v === null ? -1 : stringToNumber(v, 0, MAX_DEADLINE);
      if (n < 0) return { ok: false, error: `--deadline takes seconds 0..${MAX_DEADLINE} (got ${v ?? 'nothing'})` };
      deadline = n;
    } else {
      return { ok: false, error: `${a}: not an option of lvsadm ${op === 'get-health' || op === 'get-drops' || list ? listing : `--${op ?? 'drain'}`}` };
    }
    if (err) return { ok: false, error: err };
  }
  if (op === null) return { ok: false, error: perWorker ? '--per-worker goes with lvsadm -L --drops' : 'no command given' };
  if (op === 'get-drops') {
    if (!list) return { ok: false, error: '--drops is a listing: use lvsadm -L --drops' };
    if (svcText || fwmark || v6 || real !== null || deadline !== undefined) return { ok: false, error: '-L --drops takes no service, -r or --deadline: it lists the whole data plane' };
    return { ok: true, command: { op, perWorker } };
  }
  if (perWorker) return { ok: false, error: '--per-worker goes with lvsadm -L --drops' };

  let service: ServiceKey | undefined;
  if (svcText) {
    const s = await parseService(svcText.text, svcText.num, ns);
    if (!s || s.port === null) return { ok: false, error: 'illegal virtual server address[:port] specified' };
    service = { family: s.family, protocol: svcText.proto, addr: s.addr, port: s.port, fwmark: 0 };
  } else if (fwmark) {
    service = v6
      ? { family: 'inet6', protocol: 'tcp', addr: '::', port: 0, fwmark }
      : { family: 'inet', protocol: 'tcp', addr: '0.0.0.0', port: 0, fwmark };
  }
  if (v6 && !fwmark) return { ok: false, error: '-6 goes with -f only' };

  if (op === 'get-health') {
    if (!list) return { ok: false, error: '--health is a listing: use lvsadm -L --health' };
    if (real !== null || deadline !== undefined) return { ok: false, error: '-L --health takes no -r or --deadline' };
    return { ok: true, command: service ? { op, service, numeric } : { op, numeric } };
  }
  if (list) return { ok: false, error: `--${op} cannot be combined with -L` };
  if (!service) return { ok: false, error: `--${op} needs a service (-t, -u, --sctp-service or -f)` };
  if (real === null) return { ok: false, error: `--${op} needs a real server (-r RIP[:PORT])` };
  const r = await parseService(real, svcText ? svcText.num : 0, ns);
  if (!r) return { ok: false, error: 'illegal real server address[:port] specified' };
  const dest: DestKey = { family: r.family, addr: r.addr, port: r.port ?? service.port };
  if ((op === 'disable' || op === 'enable') && deadline !== undefined) {
    return { ok: false, error: `--${op} takes no --deadline` };
  }
  return { ok: true, command: deadline === undefined ? { op, service, dest } : { op, service, dest, deadline } };
}

/** `-L --vrrp [--stats] [-n]`: nothing else goes with it. */
function parseVrrpListing(t: readonly string[]): { ok: true; command: ExtCommand } | { ok: false; error: string } {
  let list = false, stats = false;
  for (const a of t) {
    if (a === '-L' || a === '-l' || a === '--list') list = true;
    else if (a === '--stats') stats = true;
    else if (a === '-n' || a === '--numeric' || a === '--vrrp') continue;
    else return { ok: false, error: `${a}: not an option of lvsadm -L --vrrp` };
  }
  if (!list) return { ok: false, error: '--vrrp is a listing: use lvsadm -L --vrrp' };
  return { ok: true, command: { op: 'get-vrrp', stats } };
}
