// Shared helpers of the sync tests: hex, a seeded PRNG, the spec §2.6 records.
import { readFileSync } from 'node:fs';
import { IP_VS_CONN_F_INACTIVE as INACT, IP_VS_CONN_F_TEMPLATE as TPL, type SyncConn } from '../plugins/sync/lib/wire.js';

export const FIX = new URL('./fixtures/sync/', import.meta.url);

export const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
export const unhex = (s: string): Uint8Array => new Uint8Array(Buffer.from(s.replace(/[^0-9a-f]/gi, ''), 'hex'));

/** Hex fixture: '#' comment lines ignored, the rest is one datagram. */
export function readHexFixture(name: string): Uint8Array {
  const text = readFileSync(new URL(name, FIX), 'utf8');
  return unhex(text.split('\n').filter((l) => !l.startsWith('#')).join(''));
}

export { prng } from './prng.js';

const tcp = (caddr: string, cport: number, vaddr: string, daddr: string, flags: number, state: number, timeout: number): SyncConn =>
  ({ af: 4, protocol: 6, flags, state, cport, vport: 80, dport: 80, fwmark: 0, timeout, caddr, vaddr, daddr });

/** Spec §2.6 message 1: the 14 records, in order. */
export function specMsg1(): SyncConn[] {
  const A = (f: number, s: number, t: number): SyncConn => tcp('10.100.0.2', 60800, '10.99.0.10', '10.202.0.2', f, s, t);
  const B = (f: number, s: number, t: number): SyncConn => tcp('10.100.0.2', 35554, '10.99.0.11', '10.202.0.2', f, s, t);
  const T = (s: number): SyncConn => tcp('10.100.0.2', 0, '10.99.0.11', '10.202.0.2', TPL | INACT, s, 60);
  const C: SyncConn = {
    af: 4, protocol: 17, flags: INACT, state: 0, cport: 40000, vport: 53, dport: 53, fwmark: 0, timeout: 300,
    caddr: '10.100.0.2', vaddr: '10.99.0.12', daddr: '10.203.0.2',
  };
  return [A(0, 1, 900), A(INACT, 7, 60), A(INACT, 5, 120), T(0), T(1), B(0, 1, 900), T(1), B(INACT, 7, 60), T(1), T(1), T(1), B(INACT, 5, 120), T(1), C];
}

/** Spec §2.6 message 2: the IPv6 connection D. */
export function specMsg2(): SyncConn[] {
  const D = (f: number, s: number, t: number): SyncConn => ({
    af: 6, protocol: 6, flags: f, state: s, cport: 33958, vport: 80, dport: 80, fwmark: 0, timeout: t,
    caddr: 'fd00:100::2', vaddr: 'fd00:99::10', daddr: 'fd00:201::2',
  });
  return [D(0, 1, 900), D(INACT, 7, 60), D(INACT, 5, 120)];
}

const T4 = (caddr: string, cport: number, vaddr: string, daddr: string) =>
  (flags: number, state: number, timeout: number): SyncConn =>
    ({ af: 4, protocol: 6, flags, state, cport, vport: 80, dport: 80, fwmark: 0, timeout, caddr, vaddr, daddr });

/**
 * The records of the captured messages (fixtures/sync/capture-output.txt):
 * v1 message 1 (13 records): A 10.100.0.2:45977 → 10.99.0.10:80 → 10.202.0.2:80,
 * the template of B, B 10.100.0.2:49021 → 10.99.0.11:80 (persistent 60),
 * UDP C 10.100.0.2:40000 → 10.99.0.12:53 → 10.203.0.2:53.
 */
export function capturedV1Msg1(): SyncConn[] {
  const A = T4('10.100.0.2', 45977, '10.99.0.10', '10.202.0.2');
  const B = T4('10.100.0.2', 49021, '10.99.0.11', '10.202.0.2');
  const T = (s: number): SyncConn => T4('10.100.0.2', 0, '10.99.0.11', '10.202.0.2')(TPL | INACT, s, 60);
  const C: SyncConn = {
    af: 4, protocol: 17, flags: INACT, state: 0, cport: 40000, vport: 53, dport: 53, fwmark: 0, timeout: 300,
    caddr: '10.100.0.2', vaddr: '10.99.0.12', daddr: '10.203.0.2',
  };
  return [A(0, 1, 900), A(INACT, 7, 60), A(INACT, 5, 120), T(0), T(1), B(0, 1, 900), T(1), B(INACT, 7, 60), T(1), T(1), B(INACT, 5, 120), T(1), C];
}

/** v1 message 2: IPv6 connection D [fd00:100::2]:49952 → [fd00:99::10]:80 → [fd00:201::2]:80. */
export function capturedV1Msg2(): SyncConn[] {
  const D = (flags: number, state: number, timeout: number): SyncConn => ({
    af: 6, protocol: 6, flags, state, cport: 49952, vport: 80, dport: 80, fwmark: 0, timeout,
    caddr: 'fd00:100::2', vaddr: 'fd00:99::10', daddr: 'fd00:201::2',
  });
  return [D(0, 1, 900), D(INACT, 7, 60), D(INACT, 5, 120)];
}

/** v0 message (10 records): A' 10.100.0.3:47113 → 10.99.0.10 → 10.201.0.2, B' :60163 with its template, C'. */
export function capturedV0(): SyncConn[] {
  const A = T4('10.100.0.3', 47113, '10.99.0.10', '10.201.0.2');
  const B = T4('10.100.0.3', 60163, '10.99.0.11', '10.202.0.2');
  const T = (): SyncConn => T4('10.100.0.3', 0, '10.99.0.11', '10.202.0.2')(TPL | INACT, 1, 0);
  const C: SyncConn = {
    af: 4, protocol: 17, flags: INACT, state: 0, cport: 40000, vport: 53, dport: 53, fwmark: 0, timeout: 0,
    caddr: '10.100.0.3', vaddr: '10.99.0.12', daddr: '10.203.0.2',
  };
  return [A(0, 1, 0), A(INACT, 7, 0), A(INACT, 5, 0), B(0, 1, 0), T(), B(INACT, 7, 0), T(), B(INACT, 5, 0), T(), C];
}
