// HTTP_GET / SSL_GET (keepalived.md §3.4): keepalived's own request over a
// plain or TLS socket, the status line checked against the accepted codes,
// the body's MD5 against `digest`, an optional regular expression. One URL
// per attempt (the manager sequences them: `steps`).

import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { connect as tcpConnect, type Socket } from 'node:net';
import { connect as tlsConnect, type ConnectionOptions } from 'node:tls';
import { z, type HealthContext, type HealthResult, type HealthTarget } from 'lvsd';
import { bool, socketFailure, str } from './options.js';

export interface HttpUrl {
  path: string;
  /** Accepted [lo, hi] ranges. */
  status: [number, number][];
  statusText: string;
  digest?: string;
  virtualhost?: string;
  regex?: RegExp;
  regexNoMatch: boolean;
}

export interface HttpOptions {
  urls: HttpUrl[];
  protocol: '1.0' | '1.0C' | '1.1';
  virtualhost?: string;
  tls?: { verify: boolean; ca?: Buffer; cert?: Buffer; key?: Buffer; sni: boolean; sniName?: string };
}

const URL_KEYS = ['path', 'statusCode', 'digest', 'virtualhost', 'regex', 'regexNoMatch'];
/** Bodies beyond this are not read further (the status and a digest of a health page do not need more). */
const MAX_RESPONSE = 4 << 20;

function statusSet(v: unknown): { ranges: [number, number][]; text: string } | string {
  if (v === undefined) return { ranges: [[200, 299]], text: '200-299' };
  const list = Array.isArray(v) ? v : [v];
  const ranges: [number, number][] = [];
  for (const e of list) {
    let lo: number; let hi: number;
    if (typeof e === 'number') { lo = hi = e; } else if (typeof e === 'string' && /^\d{3}(-\d{3})?$/.test(e.trim())) {
      const [a, b] = e.trim().split('-');
      lo = Number(a); hi = Number(b ?? a);
    } else return `must be a status code 100..599, a range like '200-299', or a list of them (got ${JSON.stringify(e)})`;
    if (!Number.isInteger(lo) || !Number.isInteger(hi) || lo < 100 || hi > 599 || lo > hi) {
      return `must be status codes within 100..599 (got ${JSON.stringify(e)})`;
    }
    ranges.push([lo, hi]);
  }
  if (ranges.length === 0) return 'must list at least one status code';
  return { ranges, text: ranges.map(([a, b]) => (a === b ? String(a) : `${a}-${b}`)).join(',') };
}

// Option schemas. Each URL's fields (also the one-URL shorthand at the top level):
const urlFields = {
  /** URL path; default '/'. */
  path: z.unknown().refine((p) => typeof p === 'string' && p.startsWith('/') && !/[\s]/.test(p), {
    error: (iss) => `must be a URL path starting with '/' without blanks (got ${JSON.stringify(iss.input)})`,
  }).optional(),
  /** Accepted status codes: 200, '200-299', or a list of them; default 200-299. */
  statusCode: z.unknown().refine((v) => typeof statusSet(v) !== 'string', { error: (iss) => statusSet(iss.input) as string }).optional(),
  /** MD5 of the body as 32 hex digits (as keepalived's genhash prints it). */
  digest: z.unknown().refine((d) => typeof d === 'string' && /^[0-9a-f]{32}$/i.test(d), { error: 'must be an MD5 digest: 32 hex digits, as genhash or md5sum print it' }).optional(),
  virtualhost: z.unknown().refine((v) => typeof v === 'string' && v !== '', { error: 'must be a host name' }).optional(),
  /** The body must match (regex) or must not match (regexNoMatch) this JavaScript regular expression. */
  regex: z.unknown().superRefine((r, ctx) => {
    if (typeof r !== 'string') { ctx.addIssue({ code: 'custom', message: 'must be a regular expression as a string' }); return; }
    try { new RegExp(r); } catch (e) { ctx.addIssue({ code: 'custom', message: `is not a valid regular expression: ${(e as Error).message}` }); }
  }).optional(),
  regexNoMatch: z.unknown().refine((v) => typeof v === 'boolean', { error: 'must be true or false' }).optional(),
};
type UrlInput = { path?: unknown; statusCode?: unknown; digest?: unknown; virtualhost?: unknown; regex?: unknown; regexNoMatch?: unknown };

function urlOf(src: UrlInput): HttpUrl {
  const st = statusSet(src.statusCode) as { ranges: [number, number][]; text: string };
  const u: HttpUrl = { path: (src.path as string | undefined) ?? '/', status: st.ranges, statusText: st.text, regexNoMatch: (src.regexNoMatch as boolean | undefined) ?? false };
  if (src.digest !== undefined) u.digest = (src.digest as string).toLowerCase();
  if (src.virtualhost !== undefined) u.virtualhost = src.virtualhost as string;
  if (src.regex !== undefined) u.regex = new RegExp(src.regex as string);
  return u;
}

/** regexNoMatch without a regex says nothing. */
function needsRegex(u: UrlInput, ctx: z.RefinementCtx, at: (string | number)[]): void {
  if (u.regexNoMatch !== undefined && u.regex === undefined) ctx.addIssue({ code: 'custom', path: [...at, 'regexNoMatch'], message: 'needs a regex' });
}

const urlSchema = z.record(z.string(), z.unknown(), { error: 'must be an object { path, statusCode?, digest?, virtualhost? }' })
  .superRefine((u, ctx) => {
    for (const k of Object.keys(u)) if (!URL_KEYS.includes(k)) ctx.addIssue({ code: 'custom', path: [k], message: `unknown setting (known: ${URL_KEYS.join(', ')})` });
  })
  .pipe(z.object(urlFields).superRefine((u, ctx) => needsRegex(u, ctx, [])));

const fileText = (what: string) => str().transform((p, ctx) => {
  try { return readFileSync(p); } catch (e) {
    ctx.addIssue({ code: 'custom', message: `cannot read ${p}: ${(e as Error).message}` });
    return z.NEVER;
  }
}).optional().describe(what);

/** HTTP_GET's options; with `tls`, SSL_GET's too. */
export function httpOptions(tls: boolean) {
  const base = {
    ...urlFields,
    /** Several URLs, checked one per interval in order (keepalived url blocks). */
    urls: z.array(urlSchema, { error: 'must be a non-empty array of { path, statusCode?, digest?, virtualhost? }' })
      .min(1, { error: 'must be a non-empty array of { path, statusCode?, digest?, virtualhost? }' }).optional(),
    /** Host header (default the real server's virtualhost, else its address). */
    virtualhost: urlFields.virtualhost,
    /** '1.0' (default), '1.0C' (1.0 + Connection: close), '1.1' (with Connection: close). */
    httpProtocol: z.unknown().refine((p) => p === '1.0' || p === '1.0C' || p === '1.1', {
      error: (iss) => `must be '1.0', '1.0C' or '1.1' (got ${JSON.stringify(iss.input)})`,
    }).optional(),
  };
  const tlsFields = {
    /** Verify the server certificate (default false, as keepalived's SSL_GET without `ca`). */
    verify: bool().optional(),
    /** PEM file paths for the CA, client certificate and key. */
    ca: fileText('CA certificate file'),
    cert: fileText('client certificate file'),
    key: fileText('client key file'),
    /** Send SNI (default: when a virtualhost or sniName is set); the name (default the virtualhost). */
    enableSni: bool().optional(),
    sniName: str().optional(),
  };
  return z.object({ ...base, ...(tls ? tlsFields : {}) }).superRefine((o, ctx) => {
    if (o.urls !== undefined) {
      for (const k of ['path', 'statusCode', 'digest', 'regex', 'regexNoMatch'] as const) {
        if (o[k] !== undefined) ctx.addIssue({ code: 'custom', path: [k], message: `give either \`${k}\` or \`urls\`, not both` });
      }
    } else needsRegex(o, ctx, []);
  }).transform((o): HttpOptions => {
    const out: HttpOptions = {
      urls: o.urls ? o.urls.map((u) => urlOf(u)) : [urlOf(o)],
      protocol: (o.httpProtocol as HttpOptions['protocol'] | undefined) ?? '1.0',
    };
    if (o.virtualhost !== undefined) out.virtualhost = o.virtualhost as string;
    if (tls) {
      const t = o as typeof o & { verify?: boolean; ca?: Buffer; cert?: Buffer; key?: Buffer; enableSni?: boolean; sniName?: string };
      const opts: NonNullable<HttpOptions['tls']> = { verify: t.verify ?? false, sni: false };
      if (t.ca) opts.ca = t.ca;
      if (t.cert) opts.cert = t.cert;
      if (t.key) opts.key = t.key;
      if (t.sniName) opts.sniName = t.sniName;
      opts.sni = t.enableSni ?? (t.sniName !== undefined || o.virtualhost !== undefined);
      out.tls = opts;
    }
    return out;
  });
}

/** keepalived's request (CRLF line ends). */
export function buildRequest(t: HealthTarget, opts: HttpOptions, url: HttpUrl): string {
  const host = url.virtualhost ?? opts.virtualhost ?? t.virtualhost
    ?? (t.family === 'inet6' ? `[${t.addr}]:${t.port}` : `${t.addr}:${t.port}`);
  const lines = [`GET ${url.path} HTTP/1.${opts.protocol === '1.1' ? 1 : 0}`, 'User-Agent: KeepAliveClient'];
  if (opts.protocol !== '1.0') lines.push('Connection: close');
  lines.push(`Host: ${host}`, '', '');
  return lines.join('\r\n');
}

/** Judges a complete response against one URL's rules. */
export function judge(resp: Buffer, url: HttpUrl, where: string): HealthResult {
  if (resp.length === 0) return { ok: false, failure: 'protocol', reason: `${where}: no data received` };
  const headEnd = resp.indexOf('\r\n\r\n');
  const head = resp.subarray(0, headEnd < 0 ? resp.length : headEnd).toString('latin1');
  const m = /^HTTP\/\d(?:\.\d)?\s+(\d{3})/.exec(head);
  if (!m) return { ok: false, failure: 'protocol', reason: `${where}: not an HTTP response (${JSON.stringify(head.slice(0, 40))})` };
  const status = Number(m[1]);
  if (!url.status.some(([lo, hi]) => status >= lo && status <= hi)) {
    return { ok: false, failure: 'status', reason: `${where}: status ${status}, expected ${url.statusText}` };
  }
  const body = headEnd < 0 ? Buffer.alloc(0) : resp.subarray(headEnd + 4);
  if (url.digest) {
    const got = createHash('md5').update(body).digest('hex');
    if (got !== url.digest) return { ok: false, failure: 'digest', reason: `${where}: MD5 digest ${got} of the body, expected ${url.digest}` };
  }
  if (url.regex) {
    const hit = url.regex.test(body.toString('utf8'));
    if (hit === url.regexNoMatch) {
      return { ok: false, failure: 'content', reason: `${where}: body ${hit ? 'matches' : 'does not match'} /${url.regex.source}/` };
    }
  }
  return { ok: true, detail: `status ${status}` };
}

export function httpCheck(t: HealthTarget, opts: HttpOptions, ctx: HealthContext): Promise<HealthResult> {
  const url = opts.urls[ctx.step % opts.urls.length]!;
  const where = `${opts.tls ? 'https' : 'http'} GET ${url.path} on ${t.label}`;
  return new Promise<HealthResult>((resolve) => {
    const base = {
      host: t.addr, port: t.port, family: t.family === 'inet6' ? 6 : 4,
      ...(t.bindto ? { localAddress: t.bindto } : {}), ...(t.bindPort ? { localPort: t.bindPort } : {}),
    };
    let sock: Socket;
    if (opts.tls) {
      const tl = opts.tls;
      const servername = tl.sniName ?? url.virtualhost ?? opts.virtualhost ?? t.virtualhost;
      const o: ConnectionOptions = { ...base, rejectUnauthorized: tl.verify };
      if (tl.ca) o.ca = tl.ca;
      if (tl.cert) o.cert = tl.cert;
      if (tl.key) o.key = tl.key;
      // SNI only when asked for (keepalived enable_sni); a name is still needed to verify.
      if (tl.sni && servername) o.servername = servername;
      else if (tl.verify && servername) { o.servername = servername; }
      else o.servername = '';
      sock = tlsConnect(o, () => sock.write(buildRequest(t, opts, url)));
    } else {
      sock = tcpConnect(base, () => sock.write(buildRequest(t, opts, url)));
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let settled = false;
    const done = (r: HealthResult): void => {
      if (settled) return;
      settled = true;
      ctx.signal.removeEventListener('abort', onAbort);
      sock.destroy();
      resolve(r);
    };
    const onAbort = (): void => done({ ok: false, failure: 'timeout', reason: `${where}: no complete answer within ${ctx.timeout} s` });
    ctx.signal.addEventListener('abort', onAbort, { once: true });
    sock.on('data', (b: Buffer) => {
      chunks.push(b);
      size += b.length;
      if (size > MAX_RESPONSE) done(judge(Buffer.concat(chunks), { ...url, digest: undefined, regex: undefined } as HttpUrl, where));
    });
    sock.on('end', () => done(judge(Buffer.concat(chunks), url, where)));
    sock.on('close', () => done(judge(Buffer.concat(chunks), url, where)));
    sock.on('error', (e) => {
      const code = (e as NodeJS.ErrnoException).code;
      if (size > 0 && (code === 'ECONNRESET' || code === 'EPIPE')) { done(judge(Buffer.concat(chunks), url, where)); return; }
      if (opts.tls && !code?.startsWith('E')) { done({ ok: false, failure: 'protocol', reason: `${where}: TLS: ${e.message}` }); return; }
      done(socketFailure(e, where));
    });
  });
}
