// `lvsadm -L --drops`: the data plane's drop reasons and I/O counters, one
// per line, for operators and scripts alike. The layout is fixed: a title
// line, a header line, then `KIND NAME COUNT [W0 W1 …]` rows in whitespace-
// separated columns (no field holds a space), engine drop reasons first (only
// those that counted something), then every I/O counter, each list in the
// daemon's order. Counts are exact integers, never scaled.
//
//   Data plane afpacket: 2 workers, counting for 3725 s
//   Kind Name                            Count
//   drop no-service                       1024
//   io   rx                             123456
//   io   oversize                          189

import type { DropsView } from '../../core/control/protocol.js';

/** Name column width, at least (longer names widen it for the whole listing). */
const NAME_WIDTH = 24;
const COUNT_WIDTH = 12;

export function formatDrops(v: DropsView): string {
  const n = v.workers.length;
  const who = v.plane === 'memory' ? 'the in-process wire' : `${n} worker${n === 1 ? '' : 's'}`;
  const perWorker = v.counters.some((c) => c.workers !== undefined);
  const nameW = Math.max(NAME_WIDTH, ...v.counters.map((c) => c.name.length + 1));
  const countW = Math.max(COUNT_WIDTH, ...v.counters.flatMap((c) => [c.count, ...(c.workers ?? [])].map((x) => String(x).length + 1)));
  const cols = (kind: string, name: string, values: string[]): string =>
    `${kind.padEnd(4)} ${name.padEnd(nameW)}${values.map((x) => x.padStart(countW)).join('')}`.trimEnd();
  const lines = [
    `Data plane ${v.plane}: ${who}, counting for ${v.seconds} s`,
    cols('Kind', 'Name', ['Count', ...(perWorker ? v.workers.map((id) => `w${id}`) : [])]),
    ...v.counters.map((c) => cols(c.kind, c.name, [c.count, ...(c.workers ?? [])].map(String))),
  ];
  return `${lines.join('\n')}\n`;
}
