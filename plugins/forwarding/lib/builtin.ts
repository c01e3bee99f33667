// The built-in forwarders as static imports, for tools and tests that build a
// service table or an engine without the plugin loader (replay, sched-trace,
// benchmarks). The daemon itself loads plugins/forwarding/*.ts through core/plugins/loader.ts.

import type { ForwarderPlugin, FwdMethod } from 'lvsd';
import nat from '../nat.js';
import dr from '../dr.js';
import tun from '../tun.js';

export const BUILTIN_FORWARDERS: readonly ForwarderPlugin<unknown>[] = [nat, dr, tun] as ForwarderPlugin<unknown>[];

/** The built-in forwarder of a method (what a table's `forwarder` lookup gives without the loader). */
export function builtinForwarder(method: FwdMethod): ForwarderPlugin<unknown> | undefined {
  return BUILTIN_FORWARDERS.find((f) => f.method === method);
}
