// core/packet: parse in place, checksums (full, incremental, CRC32c), builders, pcap.
export * from './parse.js';
export * from './checksum.js';
export * from './build.js';
export * from './pcap.js';
