// The parts of raw-socket (no published types) that the ping checker uses.
declare module 'raw-socket' {
  import type { EventEmitter } from 'node:events';
  export interface RawSocket extends EventEmitter {
    send(buf: Buffer, offset: number, length: number, address: string,
      beforeCallback: ((() => void) | null), afterCallback: (error: Error | null, bytes: number) => void): void;
    close(): void;
    on(event: 'message', fn: (buf: Buffer, source: string) => void): this;
    on(event: 'error', fn: (e: Error) => void): this;
    on(event: 'close', fn: () => void): this;
  }
  export const Protocol: { ICMP: number; ICMPv6: number; [k: string]: number };
  export const AddressFamily: { IPv4: number; IPv6: number };
  export function createSocket(options: { protocol: number; addressFamily?: number; bufferSize?: number }): RawSocket;
  export function createChecksum(...buffers: (Buffer | { buffer: Buffer; offset: number; length: number })[]): number;
  export function writeChecksum(buf: Buffer, offset: number, checksum: number): Buffer;
  const raw: {
    Protocol: typeof Protocol; AddressFamily: typeof AddressFamily; createSocket: typeof createSocket;
    createChecksum: typeof createChecksum; writeChecksum: typeof writeChecksum;
  };
  export default raw;
}
