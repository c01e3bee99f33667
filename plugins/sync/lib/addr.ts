// Address text <-> bytes for sync records. Records carry addresses as strings in
// canonical form (IPv4 dotted quad, IPv6 RFC 5952: lowercase, compressed), so
// the integrator can compare them with ===. Self-contained on purpose: plugins
// do not reach into core/.

/** Canonical text of 4 (IPv4) or 16 (IPv6) network-order bytes. */
export function addrFromBytes(b: Uint8Array): string {
  if (b.length === 4) return `${b[0]}.${b[1]}.${b[2]}.${b[3]}`;
  const g: number[] = [];
  for (let i = 0; i < 16; i += 2) g.push((b[i]! << 8) | b[i + 1]!);
  // RFC 5952 §4.2: compress the longest run (>= 2) of zero groups, the first on ties.
  let best = -1, bestLen = 1;
  for (let i = 0; i < 8;) {
    if (g[i] !== 0) { i++; continue; }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) { best = i; bestLen = j - i; }
    i = j;
  }
  const hex = (a: number[]): string => a.map((x) => x.toString(16)).join(':');
  if (best < 0) return hex(g);
  return `${hex(g.slice(0, best))}::${hex(g.slice(best + bestLen))}`;
}

function parse4(s: string): Uint8Array | null {
  const p = s.split('.');
  if (p.length !== 4) return null;
  const out = new Uint8Array(4);
  for (let i = 0; i < 4; i++) {
    const t = p[i]!;
    if (!/^(0|[1-9][0-9]{0,2})$/.test(t) || Number(t) > 255) return null;
    out[i] = Number(t);
  }
  return out;
}

function parse6(s: string): Uint8Array | null {
  let text = s;
  // An embedded IPv4 tail (::ffff:1.2.3.4) is rewritten as its two hex groups.
  const lastColon = text.lastIndexOf(':');
  if (lastColon >= 0 && text.slice(lastColon + 1).includes('.')) {
    const v4 = parse4(text.slice(lastColon + 1));
    if (!v4) return null;
    const hi = ((v4[0]! << 8) | v4[1]!).toString(16), lo = ((v4[2]! << 8) | v4[3]!).toString(16);
    text = `${text.slice(0, lastColon + 1)}${hi}:${lo}`;
  }
  const halves = text.split('::');
  if (halves.length > 2) return null;
  const groups = (h: string): number[] | null => {
    if (h === '') return [];
    const out: number[] = [];
    for (const t of h.split(':')) {
      if (!/^[0-9a-fA-F]{1,4}$/.test(t)) return null;
      out.push(parseInt(t, 16));
    }
    return out;
  };
  const head = groups(halves[0]!);
  const rest = halves.length === 2 ? groups(halves[1]!) : [];
  if (!head || !rest) return null;
  const right = rest;
  let all: number[];
  if (halves.length === 2) {
    const fill = 8 - head.length - right.length;
    if (fill < 1) return null;
    all = [...head, ...new Array<number>(fill).fill(0), ...right];
  } else {
    all = [...head, ...right];
  }
  if (all.length !== 8) return null;
  const out = new Uint8Array(16);
  all.forEach((x, i) => { out[2 * i] = x >> 8; out[2 * i + 1] = x & 0xff; });
  return out;
}

/** Bytes of an address of the given family, or null if the text is not one. */
export function addrToBytes(af: 4 | 6, s: string): Uint8Array | null {
  return af === 4 ? parse4(s) : parse6(s);
}
