// Checksum completion for frames the kernel hands over as CHECKSUM_PARTIAL
// (TP_STATUS_CSUMNOTREADY on an AF_PACKET ring: veth / local senders with
// checksum offload). The engine updates L4 checksums incrementally, so they
// must be whole first; nothing then relies on offloads being off.

import { inetChecksum } from '../../packet/checksum.js';

/**
 * Completes a CHECKSUM_PARTIAL frame (TP_STATUS_CSUMNOTREADY): the TCP/UDP
 * checksum field holds the folded pseudo-header sum; the full checksum is the
 * complement of the sum over the whole segment. Returns false when the frame
 * is not one it knows (left as it is).
 */
export function completeChecksum(b: Uint8Array, off: number, len: number): boolean {
  let l3 = off + 14;
  let et = (b[off + 12]! << 8) | b[off + 13]!;
  while ((et === 0x8100 || et === 0x88a8) && l3 + 4 <= off + len) { et = (b[l3 + 2]! << 8) | b[l3 + 3]!; l3 += 4; }
  let l4: number, proto: number, end: number;
  if (et === 0x0800) {
    const ihl = (b[l3]! & 15) * 4;
    proto = b[l3 + 9]!;
    l4 = l3 + ihl;
    end = Math.min(off + len, l3 + ((b[l3 + 2]! << 8) | b[l3 + 3]!));
  } else if (et === 0x86dd) {
    proto = b[l3 + 6]!;
    l4 = l3 + 40;
    end = Math.min(off + len, l4 + ((b[l3 + 4]! << 8) | b[l3 + 5]!));
  } else return false;
  const co = proto === 6 ? 16 : proto === 17 ? 6 : -1;
  if (co < 0 || l4 + co + 2 > end) return false;
  let c = inetChecksum(b, l4, end - l4);
  if (proto === 17 && c === 0) c = 0xffff;
  b[l4 + co] = c >>> 8;
  b[l4 + co + 1] = c & 255;
  return true;
}
