// HTTP_GET / SSL_GET (keepalived.md §3.4): keepalived's own request over a
// plain or TLS socket, the status line checked against the accepted codes,
// the body's MD5 against `digest`, an optional regular expression. One URL
// per attempt (the manager sequences them: `steps`).

import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { connect as tcpConnect, type Socket } from 'node:net';
import { connect as tlsConnect, type ConnectionOptions } from 'node:tls';
import type { HealthContext, HealthOptionsResult, HealthResult, HealthTarget } from '../../../core/plugin.js';
import { Opts, socketFailure } from './opts.js';

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
const HTTP_KEYS = ['path', 'statusCode', 'digest', 'regex', 'regexNoMatch', 'urls', 'virtualhost', 'httpProtocol'];
const TLS_KEYS = ['verify', 'ca', 'cert', 'key', 'enableSni', 'sniName'];
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

function urlOf(o: Opts, src: Record<string, unknown>, field: (k: string) => string): HttpUrl | undefined {
  const path = src.path === undefined ? '/' : src.path;
  if (typeof path !== 'string' || !path.startsWith('/') || /[\s]/.test(path)) return o.bad(field('path'), `must be a URL path starting with '/' without blanks (got ${JSON.stringify(path)})`);
  const st = statusSet(src.statusCode);
  if (typeof st === 'string') return o.bad(field('statusCode'), st);
  const u: HttpUrl = { path, status: st.ranges, statusText: st.text, regexNoMatch: false };
  if (src.digest !== undefined) {
    if (typeof src.digest !== 'string' || !/^[0-9a-f]{32}$/i.test(src.digest)) return o.bad(field('digest'), 'must be an MD5 digest: 32 hex digits, as genhash or md5sum print it');
    u.digest = src.digest.toLowerCase();
  }
  if (src.virtualhost !== undefined) {
    if (typeof src.virtualhost !== 'string' || src.virtualhost === '') return o.bad(field('virtualhost'), 'must be a host name');
    u.virtualhost = src.virtualhost;
  }
  if (src.regex !== undefined) {
    if (typeof src.regex !== 'string') return o.bad(field('regex'), 'must be a regular expression as a string');
    try { u.regex = new RegExp(src.regex); } catch (e) { return o.bad(field('regex'), `is not a valid regular expression: ${(e as Error).message}`); }
  }
  if (src.regexNoMatch !== undefined) {
    if (typeof src.regexNoMatch !== 'boolean') return o.bad(field('regexNoMatch'), 'must be true or false');
    if (!u.regex) return o.bad(field('regexNoMatch'), 'needs a regex');
    u.regexNoMatch = src.regexNoMatch;
  }
  return u;
}

export function httpOptions(raw: Record<string, unknown>, tls: boolean): HealthOptionsResult<HttpOptions> {
  const o = new Opts(raw, tls ? [...HTTP_KEYS, ...TLS_KEYS] : HTTP_KEYS);
  const out: HttpOptions = { urls: [], protocol: '1.0' };
  const proto = o.str('httpProtocol', '1.0');
  if (proto !== '1.0' && proto !== '1.0C' && proto !== '1.1') o.bad('httpProtocol', `must be '1.0', '1.0C' or '1.1' (got ${JSON.stringify(proto)})`);
  else out.protocol = proto;
  const vh = o.str('virtualhost');
  if (vh !== undefined) out.virtualhost = vh;
  if (raw.urls !== undefined) {
    for (const k of ['path', 'statusCode', 'digest', 'regex', 'regexNoMatch']) {
      if (raw[k] !== undefined) o.bad(k, `give either \`${k}\` or \`urls\`, not both`);
    }
    if (!Array.isArray(raw.urls) || raw.urls.length === 0) o.bad('urls', 'must be a non-empty array of { path, statusCode?, digest?, virtualhost? }');
    else {
      raw.urls.forEach((u, i) => {
        if (typeof u !== 'object' || u === null || Array.isArray(u)) { o.bad(`urls[${i}]`, 'must be an object { path, statusCode?, digest?, virtualhost? }'); return; }
        const uo = u as Record<string, unknown>;
        for (const k of Object.keys(uo)) if (!URL_KEYS.includes(k)) o.bad(`urls[${i}].${k}`, `unknown setting (known: ${URL_KEYS.join(', ')})`);
        const url = urlOf(o, uo, (k) => `urls[${i}].${k}`);
        if (url) out.urls.push(url);
      });
    }
  } else {
    const url = urlOf(o, raw, (k) => k);
    if (url) out.urls.push(url);
  }
  if (tls) {
    const file = (k: string): Buffer | undefined => {
      const p = o.str(k);
      if (p === undefined) return undefined;
      try { return readFileSync(p); } catch (e) { return o.bad(k, `cannot read ${p}: ${(e as Error).message}`); }
    };
    const t: NonNullable<HttpOptions['tls']> = { verify: o.bool('verify', false), sni: false };
    const ca = file('ca'); if (ca) t.ca = ca;
    const cert = file('cert'); if (cert) t.cert = cert;
    const key = file('key'); if (key) t.key = key;
    const sniName = o.str('sniName');
    if (sniName) t.sniName = sniName;
    t.sni = o.bool('enableSni', sniName !== undefined || vh !== undefined);
    out.tls = t;
  }
  return o.done(out);
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
