// Checks a control request's shape before anything touches the table: a
// malformed request gets a clear EPROTO reply and changes nothing. One zod
// schema per op (the project's one schema library); the first issue becomes
// the reply text, naming the field (`service.port must be an integer 0..65535`).

import { z } from 'zod';
import { canonicalAddr } from '../model/addr.js';
import type { DestKey, DestSpec, ServiceKey, ServiceSpec, SyncDaemonSpec, Timeouts } from '../model/types.js';
import type { Request } from './protocol.js';

const U32 = 0xffffffff;
/** JSON nesting a request may have; real ones nest 2 deep. Deeper is refused before parsing. */
const MAX_DEPTH = 32;

const int = (min: number, max: number): z.ZodType<number> => {
  const error = `must be an integer ${min}..${max}`;
  return z.number({ error }).refine((v) => Number.isInteger(v) && v >= min && v <= max, { error });
};
const str = (max = 255): z.ZodType<string> => z.string({ error: `must be a string of at most ${max} characters` })
  .max(max, { error: `must be a string of at most ${max} characters` });
const oneOf = <const T extends readonly [string, ...string[]]>(values: T): z.ZodType<T[number]> =>
  z.enum(values, { error: `must be one of ${values.join(', ')}` });
const object = <S extends z.ZodRawShape>(shape: S): z.ZodObject<S> => z.object(shape, { error: 'must be an object' });

/** `family` + `addr` (between `before` and `after`): the address must be of that family; it is kept canonical. */
function addressed<K>(before: z.ZodRawShape, after: z.ZodRawShape): z.ZodType<K> {
  const shape = object({ ...before, family: oneOf(['inet', 'inet6']), addr: str(), ...after });
  return shape.transform((o, ctx) => {
    const { family, addr } = o as { family: 'inet' | 'inet6'; addr: string };
    const c = canonicalAddr(addr);
    if (!c || c.family !== family) {
      ctx.issues.push({ code: 'custom', input: addr, path: ['addr'], message: `is not an ${family === 'inet' ? 'IPv4' : 'IPv6'} address` });
      return z.NEVER;
    }
    return { ...o, addr: c.addr } as K;
  });
}

// Field order is the order fields are checked in: the first bad one is reported.
const keyFields = { protocol: oneOf(['tcp', 'udp', 'sctp']), port: int(0, 65535) };
const serviceKey = addressed<ServiceKey>({ fwmark: int(0, U32) }, keyFields);
const serviceSpec = addressed<ServiceSpec>({ fwmark: int(0, U32) }, {
  ...keyFields, scheduler: str(15), flags: int(0, U32), timeout: int(0, U32), netmask: int(0, U32), pe: str(15),
});
const destKey = addressed<DestKey>({}, { port: int(0, 65535) });
const destSpec = addressed<DestSpec>({}, {
  port: int(0, 65535),
  fwd: oneOf(['masq', 'local', 'tunnel', 'route']),
  // Signed 32-bit as the kernel sees it: negative weights reach the table's ERANGE.
  weight: int(-0x80000000, 0x7fffffff),
  uThreshold: int(0, U32), lThreshold: int(0, U32),
  tunType: oneOf(['ipip', 'gue', 'gre']), tunPort: int(0, 65535), tunFlags: int(0, 2),
});
const timeouts: z.ZodType<Timeouts> = object({ tcp: int(0, U32), tcpfin: int(0, U32), udp: int(0, U32) });
const daemon: z.ZodType<SyncDaemonSpec> = object({
  state: oneOf(['master', 'backup']),
  mcastIfn: str(15),
  syncid: int(0, 255),
  maxlen: int(0, 65535),
  group: str(64).refine((g) => canonicalAddr(g) !== null, { error: 'is not an address' }),
  port: int(0, 65535),
  ttl: int(0, 255),
});
/** Seconds, fractions allowed, up to 31 days (as config.ts's drainDeadline / slowStart). */
const deadline = z.number({ error: 'must be a number of seconds > 0..2678400' })
  .refine((d) => Number.isFinite(d) && d > 0 && d <= 2678400, { error: 'must be a number of seconds > 0..2678400' });

const bare = object({});
const withService = object({ service: serviceKey });
const optService = object({ service: serviceKey.optional() });
/** `shape`, with unknown keys refused (a typo'd `deadlin` would silently do nothing). */
const only = (op: string, shape: z.ZodRawShape): z.ZodType => {
  const allowed = ['op', ...Object.keys(shape)];
  return z.looseObject({}).superRefine((o, ctx) => {
    const bad = Object.keys(o).find((k) => !allowed.includes(k));
    if (bad) ctx.addIssue({ code: 'custom', path: [], message: `.${bad} is not known for ${op} (known: ${allowed.join(', ')})` });
  }).pipe(object(shape));
};
const lifecycle = (op: string, extra: readonly string[]): z.ZodType =>
  only(op, { service: serviceKey, dest: destKey, ...(extra.includes('deadline') ? { deadline: deadline.optional() } : {}) });

/** The schema of each op's request (its `op` aside). */
const REQUESTS: ReadonlyMap<string, z.ZodType> = new Map<string, z.ZodType>([
  ...['info', 'get-services', 'flush', 'get-timeouts', 'get-daemons', 'get-daemon-stats', 'get-conns', 'get-vrrp'].map((op) => [op, bare] as const),
  ['get-service', withService], ['delete-service', withService],
  ['add-service', object({ service: serviceSpec })], ['edit-service', object({ service: serviceSpec })],
  ['zero', optService], ['get-health', optService],
  ['add-dest', object({ service: serviceKey, dest: destSpec })], ['edit-dest', object({ service: serviceKey, dest: destSpec })],
  ['delete-dest', object({ service: serviceKey, dest: destKey })],
  ['set-timeouts', object({ timeouts })],
  ['start-daemon', object({ daemon })],
  ['stop-daemon', object({ state: oneOf(['master', 'backup']), syncid: int(0, 255).optional() })],
  ['drain', lifecycle('drain', ['deadline'])], ['fill', lifecycle('fill', ['deadline'])],
  ['disable', lifecycle('disable', [])], ['enable', lifecycle('enable', [])],
  ['get-drops', only('get-drops', { perWorker: z.boolean({ error: 'must be true or false' }).optional() })],
]);

/** Top-level objects keep their own name in messages; top-level scalars are `request.x`. */
const NAMED = new Set(['service', 'dest', 'timeouts', 'daemon']);

function issueText(iss: z.core.$ZodIssue): string {
  const path = iss.path.map(String);
  if (iss.message.startsWith('.')) return `request${iss.message}`;
  const where = path.length === 0 ? 'request' : NAMED.has(path[0]!) ? path.join('.') : `request.${path.join('.')}`;
  return `${where} ${iss.message}`;
}

/** Whether JSON text nests deeper than `max` (strings skipped); linear, no recursion. */
function nestsDeeper(line: string, max: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < line.length; i++) {
    const c = line.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++;                 // backslash: skip the escaped character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x7b || c === 0x5b) { if (++depth > max) return true; }
    else if (c === 0x7d || c === 0x5d) depth--;
  }
  return false;
}

/** An unknown op for the error text: short, and never a walk of whatever structure a client sent. */
function describeOp(op: unknown): string {
  if (typeof op === 'string') return JSON.stringify(op.length > 40 ? `${op.slice(0, 40)}…` : op);
  if (op === undefined) return '(none)';
  if (op === null) return 'null';
  if (Array.isArray(op)) return '(an array)';
  return typeof op === 'object' ? '(an object)' : String(op).slice(0, 40);
}

/** Parses one request line; returns the typed request or an error text. */
export function parseRequest(line: string): Request | { error: string } {
  if (nestsDeeper(line, MAX_DEPTH)) return { error: `request nests deeper than ${MAX_DEPTH} levels` };
  let v: unknown;
  try { v = JSON.parse(line); } catch { return { error: 'request is not valid JSON' }; }
  return checkRequest(v);
}

/** A request already decoded (a control-plane plugin's call): the same checks as a line's, without the JSON round trip. */
export function checkRequest(v: unknown): Request | { error: string } {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return { error: 'request must be an object' };
  const op = (v as Record<string, unknown>)['op'];
  const schema = typeof op === 'string' ? REQUESTS.get(op) : undefined;
  if (!schema) return { error: `unknown request op ${describeOp(op)}` };
  const r = schema.safeParse(v);
  if (!r.success) return { error: issueText(r.error.issues[0]!) };
  return { op, ...(r.data as object) } as Request;
}
