// The built-in schedulers as static imports, for tools that must run
// synchronously without the plugin loader (sched-trace, tests, benchmarks).
// The daemon itself loads plugins/schedulers/*.ts through core/plugins/loader.ts.

import type { SchedulerPlugin } from 'lvsd';
import rr from '../rr.js';
import wrr from '../wrr.js';
import lc from '../lc.js';
import wlc from '../wlc.js';
import sed from '../sed.js';
import nq from '../nq.js';
import fo from '../fo.js';
import ovf from '../ovf.js';
import lblc from '../lblc.js';
import lblcr from '../lblcr.js';
import dh from '../dh.js';
import sh from '../sh.js';
import mh from '../mh.js';
import twos from '../twos.js';

export const BUILTIN_SCHEDULERS: readonly SchedulerPlugin<unknown>[] = [
  rr, wrr, lc, wlc, sed, nq, fo, ovf, lblc, lblcr, dh, sh, mh, twos,
] as SchedulerPlugin<unknown>[];

export function builtinScheduler(name: string): SchedulerPlugin<unknown> | undefined {
  return BUILTIN_SCHEDULERS.find((s) => s.name === name);
}
