// Classic BPF programs for the AF_PACKET receive sockets (core/engine/io/afpacket.ts
// attaches them):
//
// * a socket filter keeps a worker asleep for frames it cannot own;
// * a PACKET_FANOUT_CBPF program spreads flows over workers keyed on the client
//   side of a connection (so a NAT reply reaches the worker that owns the request).
//
// Built here as plain instruction lists, so tests run them (runBpf) without a socket.

/** One sock_filter: [code, jt, jf, k]. */
export type BpfInsn = [number, number, number, number];
const LD_IMM = 0x00, LD_W_ABS = 0x20, LD_H_ABS = 0x28, LD_B_ABS = 0x30, LDX_B_MSH = 0xb1, LD_W_IND = 0x40, LD_H_IND = 0x48, LD_B_IND = 0x50;
const JEQ_K = 0x15, JGE_K = 0x35, JA = 0x05, RET_K = 0x06, RET_A = 0x16, ST = 0x02, LD_MEM = 0x60, TAX = 0x07;
const ADD_X = 0x0c, ADD_K = 0x04, AND_K = 0x54, LSH_K = 0x64, XOR_X = 0xac, RSH_K = 0x74;
const ACCEPT = 0x40000;
/** The kernel's limit on a classic BPF program. */
export const BPF_MAXINSNS = 4096;
/** Ancillary load of skb->protocol (host order). */
const SKF_AD_PROTOCOL = 0xfffff000;

/** What the filters must know: IPv4 VIPs, NAT real-server addresses, and which of them key on the client IP only. */
export interface FilterSpec {
  vips: readonly number[];
  natRips: readonly number[];
  /** VIPs / RIPs of persistent services: their flows are spread by client IP alone (templates are per client). */
  ipKeyedVips: readonly number[];
  ipKeyedRips: readonly number[];
  /** Accept every IPv6 frame (there are IPv6 services). */
  ipv6: boolean;
  /** The same lists for IPv6, each address as its four 32-bit words (fanout only). */
  vips6?: readonly (readonly number[])[];
  natRips6?: readonly (readonly number[])[];
  ipKeyedVips6?: readonly (readonly number[])[];
  ipKeyedRips6?: readonly (readonly number[])[];
  /** Director-made traffic to accept too (ICMP to our addresses is left to the kernel). */
}

/** Appends "if A == k goto label" for each k; labels are resolved by `link`. */
function jeqList(p: Prog, ks: readonly number[], label: string): void {
  for (const k of ks) { p.push([JEQ_K, 0, 1, k >>> 0]); p.push(`ja:${label}`); }
}

const without = (l: readonly number[], x: readonly number[]): number[] => l.filter((a) => !x.includes(a));
const without6 = (l: readonly (readonly number[])[], x: readonly (readonly number[])[]): (readonly number[])[] =>
  l.filter((a) => !x.some((b) => b.every((w, i) => w === a[i])));

/** Appends "if the 128-bit address at [at, at+16) is a, goto label" for each a. */
function jeqList6(p: Prog, at: number, as: readonly (readonly number[])[], label: string): void {
  for (const a of as) {
    p.push([LD_W_ABS, 0, 0, at]); p.push([JEQ_K, 0, 7, a[0]! >>> 0]);
    p.push([LD_W_ABS, 0, 0, at + 4]); p.push([JEQ_K, 0, 5, a[1]! >>> 0]);
    p.push([LD_W_ABS, 0, 0, at + 8]); p.push([JEQ_K, 0, 3, a[2]! >>> 0]);
    p.push([LD_W_ABS, 0, 0, at + 12]); p.push([JEQ_K, 0, 1, a[3]! >>> 0]);
    p.push(`ja:${label}`);
  }
}

/** Instructions, labels ("@name") and jumps to them ("ja:name"), before link(). */
type Prog = (BpfInsn | string)[];

/** Label `name`: the `err` instructions when memory slot `flag` is set (an ICMP error), else the `plain` ones. */
function branch(p: Prog, name: string, flag: number, err: Prog, plain: Prog): void {
  p.push(`@${name}`, [LD_MEM, 0, 0, flag], [JEQ_K, 0, 1, 0], `ja:${name}_plain`, ...err, `@${name}_plain`, ...plain);
}

function link(p: Prog): BpfInsn[] {
  const labels = new Map<string, number>();
  const out: (BpfInsn | string)[] = [];
  for (const x of p) {
    if (typeof x === 'string' && x.startsWith('@')) labels.set(x.slice(1), out.length);
    else out.push(x);
  }
  return out.map((x, i) => {
    if (typeof x !== 'string') return x;
    const to = labels.get(x.slice(3));
    if (to === undefined) throw new Error(`bpf: no label ${x}`);
    return [JA, 0, 0, to - i - 1];
  });
}

/** The socket filter: IPv4 to a VIP or from a NAT real server (and IPv6 when asked); nothing else wakes a worker. */
export function socketFilter(f: FilterSpec): BpfInsn[] {
  const p: Prog = [];
  p.push([LD_H_ABS, 0, 0, 12]);
  p.push([JEQ_K, 1, 0, 0x0800]);
  p.push('ja:other');
  p.push([LD_W_ABS, 0, 0, 30]);
  jeqList(p, f.vips, 'accept');
  p.push([LD_W_ABS, 0, 0, 26]);
  jeqList(p, f.natRips, 'accept');
  p.push([RET_K, 0, 0, 0]);
  p.push('@other');
  p.push([JEQ_K, 0, 1, 0x86dd]);
  p.push([RET_K, 0, 0, f.ipv6 ? ACCEPT : 0]);
  p.push([RET_K, 0, 0, 0]);
  p.push('@accept');
  p.push([RET_K, 0, 0, ACCEPT]);
  return link(p);
}

/**
 * The fanout program: a hash of the connection's client side. Requests (to a
 * VIP) hash source address + port, replies (from a NAT real server) hash the
 * destination address + port, so both directions land on the same worker;
 * persistent services hash the client address alone. An ICMP error is hashed
 * on the packet it quotes, so it reaches the worker that owns that connection:
 * to a VIP it quotes a reply (VIP → client: its destination is the client
 * side), from a real server a request (client → RIP: its source). The kernel
 * runs the program with the packet starting at the network header (no Ethernet
 * header, unlike the socket filter), so the ethertype comes from the skb
 * (ancillary load).
 */
export function fanoutProgram(f: FilterSpec): BpfInsn[] {
  const p: Prog = [];
  p.push([LD_W_ABS, 0, 0, SKF_AD_PROTOCOL]);
  p.push([JEQ_K, 3, 0, 0x0800]);
  p.push([JEQ_K, 0, 1, 0x86dd]);
  p.push('ja:v6');
  p.push([RET_K, 0, 0, 0]);
  p.push([LDX_B_MSH, 0, 0, 0]);
  // M[2] = 1 for an ICMP error (destination unreachable, source quench, time exceeded,
  // parameter problem: as core/packet/parse.ts), with M[4] = the offset of the quoted
  // packet's ports; else M[2] = 0
  p.push([LD_IMM, 0, 0, 0]);
  p.push([ST, 0, 0, 2]);
  // the kernel's checker refuses a load from a slot some path has not stored to
  p.push([ST, 0, 0, 1]);
  p.push([ST, 0, 0, 4]);
  p.push([LD_B_ABS, 0, 0, 9]);
  p.push([JEQ_K, 1, 0, 1]);
  p.push('ja:classify');
  p.push([LD_B_IND, 0, 0, 0]);
  p.push([JEQ_K, 4, 0, 3]);
  p.push([JEQ_K, 3, 0, 4]);
  p.push([JEQ_K, 2, 0, 11]);
  p.push([JEQ_K, 1, 0, 12]);
  p.push('ja:classify');
  p.push([LD_IMM, 0, 0, 1]);
  p.push([ST, 0, 0, 2]);
  p.push([LD_B_IND, 0, 0, 8]);
  p.push([AND_K, 0, 0, 15]);
  p.push([LSH_K, 0, 0, 2]);
  p.push([ADD_X, 0, 0, 0]);
  p.push([ADD_K, 0, 0, 8]);
  p.push([ST, 0, 0, 4]);
  p.push('@classify');
  p.push([LD_W_ABS, 0, 0, 16]);
  jeqList(p, f.ipKeyedVips, 'in_ip');
  jeqList(p, without(f.vips, f.ipKeyedVips), 'in_port');
  p.push([LD_W_ABS, 0, 0, 12]);
  jeqList(p, f.ipKeyedRips, 'out_ip');
  p.push('ja:out_port');
  // to a VIP: the client is the source, or the quoted destination (X: the outer
  // header's length, M[4]: the quoted ports' offset); from a real server: the
  // destination, or the quoted source
  const plain4 = (addr: number, port: number | null): Prog => (port === null
    ? [[LD_W_ABS, 0, 0, addr], 'ja:mix']
    : [[LD_H_IND, 0, 0, port], [TAX, 0, 0, 0], [LD_W_ABS, 0, 0, addr], [ADD_X, 0, 0, 0], 'ja:mix']);
  const quoted4 = (addr: number, port: number | null): Prog => (port === null
    ? [[LD_W_IND, 0, 0, 8 + addr], 'ja:mix']
    : [[LD_W_IND, 0, 0, 8 + addr], [ST, 0, 0, 1], [LD_MEM, 0, 0, 4], [TAX, 0, 0, 0], [LD_H_IND, 0, 0, port], 'ja:add_m1']);
  branch(p, 'in_ip', 2, quoted4(16, null), plain4(12, null));
  branch(p, 'in_port', 2, quoted4(16, 2), plain4(12, 0));
  branch(p, 'out_ip', 2, quoted4(12, null), plain4(16, null));
  branch(p, 'out_port', 2, quoted4(12, 0), plain4(16, 2));
  // IPv6 (a fixed header; ports right after it): the client side's last address
  // word plus its port, found as for IPv4, or for an ICMPv6 error (type < 128) in
  // the packet it quotes (48 bytes in); anything else hashes to the first worker
  p.push('@v6');
  p.push([LD_IMM, 0, 0, 0]);
  p.push([ST, 0, 0, 3]);
  p.push([LD_B_ABS, 0, 0, 6]);
  p.push([JEQ_K, 0, 4, 58]);
  p.push([LD_B_ABS, 0, 0, 40]);
  p.push([JGE_K, 2, 0, 128]);
  p.push([LD_IMM, 0, 0, 1]);
  p.push([ST, 0, 0, 3]);
  jeqList6(p, 24, f.ipKeyedVips6 ?? [], 'v6_in_ip');
  jeqList6(p, 24, without6(f.vips6 ?? [], f.ipKeyedVips6 ?? []), 'v6_in_port');
  jeqList6(p, 8, f.ipKeyedRips6 ?? [], 'v6_out_ip');
  jeqList6(p, 8, without6(f.natRips6 ?? [], f.ipKeyedRips6 ?? []), 'v6_out_port');
  p.push([RET_K, 0, 0, 0]);
  // the same with absolute offsets: the quoted packet starts 48 bytes in (M[3]: an ICMPv6 error)
  const abs6 = (addr: number, port: number | null): Prog => (port === null
    ? [[LD_W_ABS, 0, 0, addr], 'ja:mix']
    : [[LD_H_ABS, 0, 0, port], [TAX, 0, 0, 0], [LD_W_ABS, 0, 0, addr], [ADD_X, 0, 0, 0], 'ja:mix']);
  branch(p, 'v6_in_ip', 3, abs6(48 + 36, null), abs6(20, null));
  branch(p, 'v6_in_port', 3, abs6(48 + 36, 48 + 42), abs6(20, 40));
  branch(p, 'v6_out_ip', 3, abs6(48 + 20, null), abs6(36, null));
  branch(p, 'v6_out_port', 3, abs6(48 + 20, 48 + 40), abs6(36, 42));
  // quoted address (M[1]) + quoted port (A)
  p.push('@add_m1');
  p.push([TAX, 0, 0, 0]);
  p.push([LD_MEM, 0, 0, 1]);
  p.push([ADD_X, 0, 0, 0]);
  p.push('@mix');
  // A ^= A >> 16; A ^= A >> 8 (the kernel takes the result modulo the group size)
  p.push([ST, 0, 0, 0]);
  p.push([RSH_K, 0, 0, 16]);
  p.push([TAX, 0, 0, 0]);
  p.push([LD_MEM, 0, 0, 0]);
  p.push([XOR_X, 0, 0, 0]);
  p.push([ST, 0, 0, 0]);
  p.push([RSH_K, 0, 0, 8]);
  p.push([TAX, 0, 0, 0]);
  p.push([LD_MEM, 0, 0, 0]);
  p.push([XOR_X, 0, 0, 0]);
  p.push([RET_A, 0, 0, 0]);
  return link(p);
}

/** Runs a classic BPF program over a packet (tests; the subset the generators emit); `protocol` answers the ancillary load. */
export function runBpf(prog: readonly BpfInsn[], b: Uint8Array, protocol = 0): number {
  let A = 0, X = 0;
  const M = new Uint32Array(16);
  // a load past the end ends the program with 0, as in the kernel
  let past = false;
  const rd = (o: number, n: number) => { if (o + n > b.length) { past = true; return 0; } let v = 0; for (let i = 0; i < n; i++) v = (v * 256) + b[o + i]!; return v >>> 0; };
  for (let pc = 0; pc < prog.length; pc++) {
    if (past) return 0;
    const [c, jt, jf, k] = prog[pc]!;
    switch (c) {
      case LD_W_ABS: A = k === SKF_AD_PROTOCOL ? protocol : rd(k, 4); break;
      case LD_H_ABS: A = rd(k, 2); break;
      case LD_B_ABS: A = rd(k, 1); break;
      case LD_IMM: A = k >>> 0; break;
      case LD_W_IND: A = rd(X + k, 4); break;
      case LD_H_IND: A = rd(X + k, 2); break;
      case LD_B_IND: A = rd(X + k, 1); break;
      case LDX_B_MSH: X = ((b[k] ?? 0) & 0xf) * 4; break;
      case JEQ_K: pc += A === k ? jt : jf; break;
      case JGE_K: pc += A >= k ? jt : jf; break;
      case JA: pc += k; break;
      case RET_K: return k;
      case RET_A: return A;
      case ST: M[k] = A; break;
      case LD_MEM: A = M[k]!; break;
      case TAX: X = A; break;
      case ADD_X: A = (A + X) >>> 0; break;
      case ADD_K: A = (A + k) >>> 0; break;
      case AND_K: A = (A & k) >>> 0; break;
      case LSH_K: A = (A << k) >>> 0; break;
      case XOR_X: A = (A ^ X) >>> 0; break;
      case RSH_K: A = A >>> k; break;
      default: throw new Error(`bpf: opcode ${c}`);
    }
  }
  return 0;
}

/**
 * The worker a client→VIP packet of a connection goes to, as the kernel picks
 * it (the fanout program's result modulo the group size): restored connection
 * entries go where their packets will. `pkt` is scratch of at least 44 bytes;
 * `ca`/`va` are 4 words (IPv4: word 0).
 */
export function fanoutIndex(prog: readonly BpfInsn[], pkt: Uint8Array, workers: number, af: number, proto: number,
  ca: Uint32Array, cport: number, va: Uint32Array, vport: number): number {
  pkt.fill(0);
  const put32 = (o: number, w: number): void => { pkt[o] = w >>> 24; pkt[o + 1] = (w >>> 16) & 255; pkt[o + 2] = (w >>> 8) & 255; pkt[o + 3] = w & 255; };
  const put16 = (o: number, v: number): void => { pkt[o] = v >>> 8; pkt[o + 1] = v & 255; };
  if (af === 4) {
    pkt[0] = 0x45; pkt[9] = proto;
    put32(12, ca[0]!); put32(16, va[0]!);
    put16(20, cport); put16(22, vport);
    return runBpf(prog, pkt.subarray(0, 24), 0x0800) % workers;
  }
  pkt[0] = 0x60; pkt[6] = proto;
  for (let i = 0; i < 4; i++) { put32(8 + i * 4, ca[i]!); put32(24 + i * 4, va[i]!); }
  put16(40, cport); put16(42, vport);
  return runBpf(prog, pkt.subarray(0, 44), 0x86dd) % workers;
}
