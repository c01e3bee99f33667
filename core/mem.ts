// Memory of lvsd's own, mapped through libc (koffi) with its address as a
// Number, so that typed arrays over it can be handed to syscalls without a
// copy: anonymous memory, a packet ring (core/engine/io/afpacket.ts) or a file
// that outlives the process (core/conn/journal.ts).

import koffi from 'koffi';

const PROT_RW = 3;
const MAP_SHARED = 1;
const MAP_PRIVATE_ANON = 0x22;

interface Libc {
  mmap(addr: null, len: number, prot: number, flags: number, fd: number, off: number): unknown;
  munmap(addr: number, len: number): number;
}

let libc: Libc | null = null;

function lib(): Libc {
  libc ??= (() => {
    const l = koffi.load('libc.so.6');
    return { mmap: l.func('void *mmap(void *, size_t, int, int, int, int64_t)'), munmap: l.func('int munmap(uintptr_t, size_t)') } as Libc;
  })();
  return libc;
}

/** `len` bytes: anonymous memory, or (fd ≥ 0) the file or ring behind fd, shared with the kernel. */
export class Mem {
  readonly addr: number;
  readonly u8: Uint8Array;
  readonly dv: DataView;
  readonly len: number;
  constructor(len: number, fd = -1) {
    const p = lib().mmap(null, len, PROT_RW, fd < 0 ? MAP_PRIVATE_ANON : MAP_SHARED, fd, 0);
    const addr = Number(koffi.address(p));
    if (addr === 0 || addr >= 2 ** 64 - 4096) throw Object.assign(new Error(`mmap: errno ${koffi.errno()}`), { errno: koffi.errno() });
    this.addr = addr;
    this.len = len;
    const ab = koffi.view(p, len);
    this.u8 = new Uint8Array(ab);
    this.dv = new DataView(ab);
  }
  free(): void { lib().munmap(this.addr, this.len); }
}
