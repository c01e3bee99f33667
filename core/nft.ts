// The kernel must not also answer what lvsd forwards: lvsd keeps its own
// nftables table (netdev family, one ingress chain per interface) dropping
// exactly the frames its AF_PACKET sockets take over — IPv4/IPv6 to a VIP and
// port of a service, and for NAT the replies of real servers (not those to the
// director's own addresses: health checks still work). AF_PACKET taps see
// frames before the ingress hook. The table is replaced atomically (one `nft
// -f` transaction) when services change. It outlives lvsd (a stop or a crash:
// the kernel must not reset lvsd's connections before the next lvsd runs) and
// the next start replaces it; `lvsd --release` deletes it (README "Restarts").
// Nothing else is touched.

import { execFile, execFileSync, spawnSync } from 'node:child_process';
import { promisify } from 'node:util';
import type { ServiceTable } from './model/table.js';
import type { FwdMethod } from './model/types.js';
import { haveCommand } from './kernel.js';

const run = promisify(execFile);
export const NFT_TABLE = 'lvsd';

export class NftMissingError extends Error {}

/** Throws a clear error when `nft` (Debian: apt-get install -y nftables) is not installed. */
export function requireNft(): void {
  if (!haveCommand('nft')) {
    throw new NftMissingError('--io afpacket needs nftables to keep the kernel off the traffic lvsd forwards: install it (Debian/Ubuntu: apt-get install -y nftables)');
  }
}

const l4 = (p: string): string => (p === 'sctp' ? 'sctp' : p === 'udp' ? 'udp' : 'tcp');

/**
 * The rules one ingress chain holds for the table's current services.
 * `replies`: the methods whose forwarders see replies (plugin.ts replyMethods).
 * `vips: false` (backup_only on a sync backup): the VIPs stay the kernel's; NAT replies are still lvsd's.
 * `foreign`: VIPs a failover plugin holds on another director now: the table never holds a VIP this director does not own.
 */
export function nftRules(table: ServiceTable, own: readonly string[], replies: ReadonlySet<FwdMethod>,
  o: { vips: boolean; foreign?: ReadonlySet<string> } = { vips: true }): string[] {
  const rules = new Set<string>();
  const own4 = own.filter((a) => !a.includes(':'));
  const own6 = own.filter((a) => a.includes(':'));
  for (const s of table.list()) {
    if (s.fwmark > 0) continue; // fwmark services: a classifier decides; the kernel keeps those frames
    const ipf = s.family === 'inet' ? 'ip' : 'ip6';
    const p = l4(s.protocol);
    if (o.vips && !o.foreign?.has(s.addr)) rules.add(s.port === 0 ? `${ipf} daddr ${s.addr} meta l4proto ${p} drop` : `${ipf} daddr ${s.addr} ${p} dport ${s.port} drop`);
    for (const d of s.dests) {
      if (!replies.has(d.spec.fwd)) continue;
      const df = d.family === 'inet' ? 'ip' : 'ip6';
      const mine = d.family === 'inet' ? own4 : own6;
      const notOwn = mine.length > 0 ? ` ${df} daddr != { ${mine.join(', ')} }` : '';
      const port = d.port === 0 ? `meta l4proto ${p}` : `${p} sport ${d.port}`;
      rules.add(`${df} saddr ${d.addr} ${port}${notOwn} drop`);
    }
  }
  return [...rules];
}

export function nftScript(devices: readonly string[], rules: readonly string[]): string {
  const chains = devices.map((dev, i) => [
    `  chain in${i} {`,
    `    type filter hook ingress device ${JSON.stringify(dev)} priority -500; policy accept;`,
    ...rules.map((r) => `    ${r}`),
    '  }',
  ].join('\n'));
  // "table …" first so that the delete never fails: replace in one transaction
  return `table netdev ${NFT_TABLE}\ndelete table netdev ${NFT_TABLE}\ntable netdev ${NFT_TABLE} {\n${chains.join('\n')}\n}\n`;
}

/** Installs (or replaces) lvsd's table. */
export async function nftApply(devices: readonly string[], rules: readonly string[]): Promise<void> {
  const child = execFile('nft', ['-f', '-']);
  const done = new Promise<void>((res, rej) => {
    let err = '';
    child.stderr?.on('data', (d: Buffer) => { err += d.toString(); });
    child.on('error', rej);
    child.on('close', (code) => (code === 0 ? res() : rej(new Error(`nft: ${err.trim() || `exit ${code}`}`))));
  });
  child.stdin?.end(nftScript(devices, rules));
  await done;
}

/** Whether lvsd's table exists (a stale one after a crash, before start). */
export function nftTableExists(): boolean {
  return spawnSync('nft', ['list', 'table', 'netdev', NFT_TABLE], { stdio: 'ignore' }).status === 0;
}

/** Removes lvsd's table; synchronous so that it can run in an exit handler. */
export function nftRemoveSync(): boolean {
  try { execFileSync('nft', ['delete', 'table', 'netdev', NFT_TABLE], { stdio: 'ignore' }); return true; } catch { return false; }
}

export async function nftRemove(): Promise<void> {
  try { await run('nft', ['delete', 'table', 'netdev', NFT_TABLE]); } catch { /* not there */ }
}
