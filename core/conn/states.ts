// Protocol state machines of IPVS connections (connections.md §3 TCP, §4 UDP,
// §5 SCTP): state numbers and names as the kernel has them, default timeouts,
// and the transition tables as flat typed arrays indexed
// [direction][event][state], transcribed from the spec text below so that
// the tables read exactly as the spec prints them.

// ------------------------------------------------------------------ directions
export const DIR_INPUT = 0;       // client → server (ip_vs_in)
export const DIR_OUTPUT = 1;      // server → client (NAT replies, ip_vs_out)
export const DIR_INPUT_ONLY = 2;  // input while NOOUTPUT is still set (DR/TUN)

// ------------------------------------------------------------------ connection flags (§7)
export const CF_FWD_MASK = 0x0007;
export const CF_MASQ = 0, CF_LOCALNODE = 1, CF_TUNNEL = 2, CF_DROUTE = 3, CF_BYPASS = 4;
export const CF_SYNC = 0x0020;
export const CF_HASHED = 0x0040;
export const CF_NOOUTPUT = 0x0080;
export const CF_INACTIVE = 0x0100;
export const CF_OUT_SEQ = 0x0200;
export const CF_IN_SEQ = 0x0400;
export const CF_NO_CPORT = 0x0800;
export const CF_TEMPLATE = 0x1000;
export const CF_ONE_PACKET = 0x2000;
export const CF_NFCT = 0x10000;

// ------------------------------------------------------------------ TCP
export const TCP_NONE = 0, TCP_ESTABLISHED = 1, TCP_SYN_SENT = 2, TCP_SYN_RECV = 3, TCP_FIN_WAIT = 4;
export const TCP_TIME_WAIT = 5, TCP_CLOSE = 6, TCP_CLOSE_WAIT = 7, TCP_LAST_ACK = 8, TCP_LISTEN = 9, TCP_SYNACK = 10;
export const TCP_STATES = 11;
export const TCP_STATE_NAMES: readonly string[] = [
  'NONE', 'ESTABLISHED', 'SYN_SENT', 'SYN_RECV', 'FIN_WAIT', 'TIME_WAIT', 'CLOSE', 'CLOSE_WAIT', 'LAST_ACK', 'LISTEN', 'SYNACK',
];
/** Default timeouts in seconds (tcp_timeouts[]). */
export const TCP_TIMEOUTS_S: readonly number[] = [2, 900, 120, 60, 120, 120, 10, 60, 30, 120, 120];

/** ESTABLISHED, SYN_SENT, SYN_RECV, SYNACK count as ActiveConn (Linux ≥ 4.7). */
export function tcpStateActive(s: number): boolean {
  return s === TCP_ESTABLISHED || s === TCP_SYN_SENT || s === TCP_SYN_RECV || s === TCP_SYNACK;
}

export const TEV_SYN = 0, TEV_FIN = 1, TEV_ACK = 2, TEV_RST = 3;

/** Flag index (first match wins): RST, SYN, FIN, ACK; -1 for no flag at all (→ CLOSE). */
export function tcpEvent(flags: number): number {
  if (flags & 0x04) return TEV_RST;
  if (flags & 0x02) return TEV_SYN;
  if (flags & 0x01) return TEV_FIN;
  if (flags & 0x10) return TEV_ACK;
  return -1;
}

const TCP_ABBR = ['NO', 'ES', 'SS', 'SR', 'FW', 'TW', 'CL', 'CW', 'LA', 'LI', 'SA'];

// connections.md §3, verbatim (rows syn fin ack rst; columns NO ES SS SR FW TW CL CW LA LI SA)
const TCP_NORMAL = `
INPUT
 syn  SR ES ES SR SR SR SR SR SR SR SR
 fin  CL CW SS TW TW TW CL CW LA LI TW
 ack  ES ES SS ES FW TW CL CW CL LI ES
 rst  CL CL CL SR CL CL CL CL LA LI SR
OUTPUT
 syn  SS ES SS SR SS SS SS SS SS LI SR
 fin  TW FW SS TW FW TW CL TW LA LI TW
 ack  ES ES SS ES FW TW CL CW LA ES ES
 rst  CL CL SS CL CL TW CL CL CL CL CL
INPUT-ONLY
 syn  SR ES ES SR SR SR SR SR SR SR SR
 fin  CL FW SS TW FW TW CL CW LA LI TW
 ack  ES ES SS ES FW TW CL CW CL LI ES
 rst  CL CL CL SR CL CL CL CL LA LI CL
`;
// connections.md §3, the secure_tcp table
const TCP_SECURE = `
INPUT
 syn  SR ES ES SR SR SR SR SR SR SR SA
 fin  CL CW SS TW TW TW CL CW LA LI SA
 ack  ES ES SS SR FW TW CL CW CL LI SA
 rst  CL CL CL SR CL CL CL CL LA LI CL
OUTPUT
 syn  SS ES SS SA SS SS SS SS SS LI SA
 fin  TW FW SS TW FW TW CL TW LA LI TW
 ack  ES ES SS ES FW TW CL CW LA ES ES
 rst  CL CL SS CL CL TW CL CL CL CL CL
INPUT-ONLY
 syn  SA ES ES SR SA SA SA SA SA SA SA
 fin  CL FW SS TW FW TW CL CW LA LI TW
 ack  ES ES SS ES FW TW CL CW CL LI ES
 rst  CL CL CL SR CL CL CL CL LA LI CL
`;

/** Parse a spec table into [dir][event][state] → next state. */
function parseTable(text: string, abbr: readonly string[], events: readonly string[]): Uint8Array {
  const n = abbr.length;
  const t = new Uint8Array(3 * events.length * n);
  const dirs = ['INPUT', 'OUTPUT', 'INPUT-ONLY'];
  let dir = -1;
  let rows = 0;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line) continue;
    const d = dirs.indexOf(line);
    if (d >= 0) { dir = d; continue; }
    const [ev, ...cells] = line.split(/\s+/);
    const e = events.indexOf(ev!);
    if (dir < 0 || e < 0 || cells.length !== n) throw new Error(`bad state table line: ${line}`);
    cells.forEach((c, s) => {
      const v = abbr.indexOf(c);
      if (v < 0) throw new Error(`bad state ${c}`);
      t[(dir * events.length + e) * n + s] = v;
    });
    rows++;
  }
  if (rows !== 3 * events.length) throw new Error('incomplete state table');
  return t;
}

export const TCP_TABLE = parseTable(TCP_NORMAL, TCP_ABBR, ['syn', 'fin', 'ack', 'rst']);
export const TCP_TABLE_SECURE = parseTable(TCP_SECURE, TCP_ABBR, ['syn', 'fin', 'ack', 'rst']);

/** Next TCP state; `event` from tcpEvent() (−1: no flags → CLOSE). */
export function tcpNext(table: Uint8Array, dir: number, event: number, state: number): number {
  if (event < 0) return TCP_CLOSE;
  return table[(dir * 4 + event) * TCP_STATES + state]!;
}

// ------------------------------------------------------------------ UDP
export const UDP_NORMAL = 0;
export const UDP_STATE_NAMES: readonly string[] = ['UDP'];
export const UDP_TIMEOUTS_S: readonly number[] = [300];

// ------------------------------------------------------------------ SCTP
export const SCTP_S_NONE = 0, SCTP_S_INIT1 = 1, SCTP_S_INIT = 2, SCTP_S_COOKIE_SENT = 3, SCTP_S_COOKIE_REPLIED = 4;
export const SCTP_S_COOKIE_WAIT = 5, SCTP_S_COOKIE = 6, SCTP_S_COOKIE_ECHOED = 7, SCTP_S_ESTABLISHED = 8;
export const SCTP_S_SHUTDOWN_SENT = 9, SCTP_S_SHUTDOWN_RECEIVED = 10, SCTP_S_SHUTDOWN_ACK_SENT = 11;
export const SCTP_S_REJECTED = 12, SCTP_S_CLOSED = 13;
export const SCTP_STATES = 14;
export const SCTP_STATE_NAMES: readonly string[] = [
  'NONE', 'INIT1', 'INIT', 'C-SENT', 'C-REPLIED', 'C-WAIT', 'COOKIE', 'C-ECHOED', 'ESTABLISHED', 'S-SENT',
  'S-RECEIVED', 'S-ACK-SENT', 'REJECTED', 'CLOSED',
];
export const SCTP_TIMEOUTS_S: readonly number[] = [2, 4, 61, 61, 61, 61, 61, 61, 900, 61, 61, 61, 4, 61];

export const SEV_DATA = 0, SEV_INIT = 1, SEV_INIT_ACK = 2, SEV_COOKIE_ECHO = 3, SEV_COOKIE_ACK = 4, SEV_SHUTDOWN = 5;
export const SEV_SHUTDOWN_ACK = 6, SEV_SHUTDOWN_COMPLETE = 7, SEV_ERROR = 8, SEV_ABORT = 9;
const SCTP_EVENTS = ['d', 'i', 'i_a', 'c_e', 'c_a', 's', 's_a', 's_c', 'err', 'ab'];
const SCTP_ABBR = ['NO', 'I1', 'IN', 'CS', 'CR', 'CW', 'CO', 'CE', 'ES', 'SS', 'SR', 'SA', 'RJ', 'CL'];

// connections.md §5, verbatim
const SCTP_TEXT = `
INPUT
 d    ES I1 IN CS CR CW CO CE ES SS SR SA RJ CL
 i    I1 IN IN CS CR CW CO CE ES SS SR SA IN IN
 i_a  CW CW CW CS CR CO CO CE ES SS SR SA RJ CL
 c_e  CR IN IN CR CR CW CO CE ES SS SR SA RJ CL
 c_a  ES I1 IN CS CR CW CO ES ES SS SR SA RJ CL
 s    SR I1 IN CS CR CW CO CE SR SS SR SA RJ CL
 s_a  CL IN IN CS CR CW CO CE ES CL SR CL RJ CL
 s_c  CL CL CL CS CR CW CO CE ES SS SR CL RJ CL
 err  CL I1 IN CS CR CW CO CL ES SS SR SA RJ CL
 ab   CL CL CL CL CL RJ CL CL CL CL CL CL CL CL
OUTPUT
 d    ES I1 IN CS CR CW CO CE ES SS SR SA RJ CL
 i    CW CW CW CW CW CW CW CW ES CW CW CW CW CW
 i_a  CS CS CS CS CR CW CO CE ES SS SR SA RJ CL
 c_e  CE CE CE CE CE CE CE CE ES SS SR SA RJ CL
 c_a  ES ES ES ES ES ES ES ES ES SS SR SA RJ CL
 s    SS SS SS SS SS SS SS SS SS SS SR SA RJ CL
 s_a  SA SA SA SA SA CW CO CE ES SA SA SA RJ CL
 s_c  CL I1 IN CS CR CW CO CE ES SS SR SA RJ CL
 err  CL CL CL CL CL CW CO CE ES SS SR SA RJ CL
 ab   CL RJ CL CL CL CL CL CL CL CL CL CL CL CL
INPUT-ONLY
 d    ES I1 IN CS CR ES CO CE ES SS SR SA RJ CL
 i    I1 IN IN IN IN IN CO CE ES SS SR SA IN IN
 i_a  CE CE CE CE CE CE CO CE ES SS SR SA RJ CL
 c_e  ES ES ES ES ES ES CO CE ES SS SR SA RJ CL
 c_a  ES I1 IN ES ES CW ES ES ES SS SR SA RJ CL
 s    SR I1 IN CS CR CW CO CE SR SS SR SA RJ CL
 s_a  CL IN IN CS CR CW CO CE CL CL SR CL RJ CL
 s_c  CL CL CL CL CL CW CO CE ES SS CL CL RJ CL
 err  CL I1 IN CS CR CW CO CE ES SS SR SA RJ CL
 ab   CL CL CL CL CL RJ CL CL CL CL CL CL CL CL
`;
export const SCTP_TABLE = parseTable(SCTP_TEXT, SCTP_ABBR, SCTP_EVENTS);

/** Chunk type → event (sctp_events[]); unknown chunk types count as DATA. */
const SCTP_CHUNK_EVENT = Uint8Array.of(
  SEV_DATA, SEV_INIT, SEV_INIT_ACK, SEV_DATA, SEV_DATA, SEV_DATA, SEV_ABORT, SEV_SHUTDOWN, SEV_SHUTDOWN_ACK,
  SEV_ERROR, SEV_COOKIE_ECHO, SEV_COOKIE_ACK, SEV_DATA, SEV_DATA, SEV_SHUTDOWN_COMPLETE,
);

/**
 * SCTP event of a packet from its first chunk type and, when the first is
 * COOKIE-ECHO or COOKIE-ACK, the type of the next chunk (−1 when none): a
 * following ABORT makes the event ABORT.
 */
export function sctpEvent(firstChunk: number, nextChunk: number): number {
  if ((firstChunk === 10 || firstChunk === 11) && nextChunk === 6) return SEV_ABORT;
  return firstChunk >= 0 && firstChunk < SCTP_CHUNK_EVENT.length ? SCTP_CHUNK_EVENT[firstChunk]! : SEV_DATA;
}

export function sctpNext(dir: number, event: number, state: number): number {
  return SCTP_TABLE[(dir * 10 + event) * SCTP_STATES + state]!;
}

// ------------------------------------------------------------------ templates
export const CTPL_NONE = 0, CTPL_ASSURED = 1;
export const CTPL_STATE_NAMES: readonly string[] = ['NONE', 'ASSURED'];

/** The state name ipvsadm -Lc prints for an entry. */
export function stateName(proto: number, flags: number, state: number): string {
  if (flags & CF_TEMPLATE) return CTPL_STATE_NAMES[state] ?? 'ERR!';
  if (proto === 6) return TCP_STATE_NAMES[state] ?? 'ERR!';
  if (proto === 17) return UDP_STATE_NAMES[state] ?? 'ERR!';
  if (proto === 132) return SCTP_STATE_NAMES[state] ?? 'ERR!';
  return proto === 0 ? 'NONE' : 'ERR!';
}

// ------------------------------------------------------------------ timeouts

/** Per-state timeouts in milliseconds, per protocol; `--set` changes three cells. */
export class Timeouts {
  readonly tcp = Uint32Array.from(TCP_TIMEOUTS_S, (s) => s * 1000);
  readonly udp = Uint32Array.from(UDP_TIMEOUTS_S, (s) => s * 1000);
  readonly sctp = Uint32Array.from(SCTP_TIMEOUTS_S, (s) => s * 1000);

  /** ipvsadm --set tcp tcpfin udp (seconds; 0 leaves that cell unchanged). */
  set(tcp: number, tcpfin: number, udp: number): void {
    if (tcp > 0) this.tcp[TCP_ESTABLISHED] = tcp * 1000;
    if (tcpfin > 0) this.tcp[TCP_FIN_WAIT] = tcpfin * 1000;
    if (udp > 0) this.udp[UDP_NORMAL] = udp * 1000;
  }

  /** The timeout of `state` for protocol number `proto`, ms (0 for a protocol without states here). */
  of(proto: number, state: number): number {
    const t = proto === 6 ? this.tcp : proto === 17 ? this.udp : proto === 132 ? this.sctp : null;
    return t?.[state] ?? t?.[0] ?? 0;
  }

  /** What ipvsadm -L --timeout prints: seconds. */
  get(): { tcp: number; tcpfin: number; udp: number } {
    return { tcp: this.tcp[TCP_ESTABLISHED]! / 1000, tcpfin: this.tcp[TCP_FIN_WAIT]! / 1000, udp: this.udp[UDP_NORMAL]! / 1000 };
  }
}
