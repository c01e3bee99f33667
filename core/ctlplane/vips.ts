// Which VIPs this director holds, when a failover plugin moves them between
// directors. A failover plugin declares the VIPs it manages (its `vips` hook,
// from its options); the data plane leaves every managed VIP it does not hold
// to the kernel (workers do not balance its packets, the nftables takeover
// table has no rule for it), from the data plane's start on, so the takeover
// table never holds a VIP this director does not own. The plugin holds a VIP
// (ctx.vips.hold) before it adds the address and lets go after removing it.

import type { DataPlane } from '../engine/dataplane.js';
import type { Logger } from '../log.js';
import type { PluginRegistry } from '../plugins/loader.js';

/** The VIPs the loaded failover plugins manage under this config (their `vips` hooks). A hook that throws manages nothing (logged). */
export function managedVips(registry: PluginRegistry | null, pluginConfig: Readonly<Record<string, unknown>>, log: Logger): string[] {
  const out = new Set<string>();
  for (const { plugin } of registry?.control() ?? []) {
    if (plugin.kind !== 'failover' || typeof plugin.vips !== 'function') continue;
    const key = plugin.configKey;
    const options = key === undefined ? undefined : pluginConfig[key];
    if (key !== undefined && options === undefined && plugin.always !== true) continue;
    try {
      for (const a of plugin.vips(options)) out.add(a);
    } catch (e) { log.error(`failover ${plugin.name}: vips() failed: ${(e as Error).message}`); }
  }
  return [...out].sort();
}

export class VipOwnership {
  private managed = new Set<string>();
  /** Held VIPs, with how many holders (contexts) hold each. */
  private readonly held = new Map<string, number>();
  constructor(private readonly dataPlane: () => DataPlane | null) {}

  /** Managed and not held: what the data plane leaves to the kernel. */
  foreign(): string[] { return [...this.managed].filter((a) => !this.held.has(a)).sort(); }

  setManaged(addrs: readonly string[]): Promise<void> {
    this.managed = new Set(addrs);
    return this.push();
  }

  hold(addrs: readonly string[], on: boolean): Promise<void> {
    for (const a of addrs) {
      const n = this.held.get(a) ?? 0;
      if (on) this.held.set(a, n + 1);
      else if (n <= 1) this.held.delete(a);
      else this.held.set(a, n - 1);
    }
    return this.push();
  }

  private push(): Promise<void> {
    return this.dataPlane()?.setForeignVips(this.foreign()) ?? Promise.resolve();
  }
}
