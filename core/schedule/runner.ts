// Scheduled actions from config.ts (`schedule: [...]`): node-cron fires each
// entry, which runs a lifecycle action (drain, fill, disable, enable, weight)
// through the health manager, like the control socket does; the table
// changes it makes carry the source 'schedule'. Each run is logged. The cron
// source is injectable so tests fire entries by hand.

import { createTask } from 'node-cron';
import type { Logger } from '../log.js';
import type { ChangeSource } from '../model/events.js';
import { destKeyText, serviceKeyText } from '../model/types.js';
import type { HealthManager } from '../health/manager.js';
import type { ScheduleEntry } from '../health/types.js';

/** The source of the table changes a scheduled action makes (its later steps, a ramp or a drain completing, are health's). */
const SCHEDULE: ChangeSource = { by: 'schedule' };

export interface CronJob { stop(): void }
export type CronSource = (expr: string, fn: () => void, opts: { timezone?: string; name: string }) => CronJob;

export const nodeCronSource: CronSource = (expr, fn, opts) => {
  const task = createTask(expr, () => { fn(); }, { name: opts.name, noOverlap: true, ...(opts.timezone ? { timezone: opts.timezone } : {}) });
  void task.start();
  return { stop: () => { void task.destroy(); } };
};

export class ScheduleRunner {
  private jobs: { entry: ScheduleEntry; key: string; job: CronJob }[] = [];
  private readonly health: HealthManager;
  private readonly log: Logger;
  private readonly cron: CronSource;

  constructor(deps: { health: HealthManager; log: Logger; cron?: CronSource }) {
    this.health = deps.health;
    this.log = deps.log;
    this.cron = deps.cron ?? nodeCronSource;
  }

  /** Runs one entry now (what the cron job does). */
  run(entry: ScheduleEntry): boolean {
    const r = this.health.lifecycle({ service: entry.service, dest: entry.dest, op: entry.action }, `schedule "${entry.name}"`, SCHEDULE);
    const what = `${entry.action.op} ${destKeyText(entry.dest)} in ${serviceKeyText(entry.service)}`;
    if (r.ok) this.log.info(`schedule "${entry.name}" (${entry.path}, ${entry.cron}): ${what}: done, now ${r.value.lifecycle} weight ${r.value.weight}`);
    else this.log.warn(`schedule "${entry.name}" (${entry.path}, ${entry.cron}): ${what} failed: ${r.error.message}`);
    return r.ok;
  }

  /** Replaces the entries; unchanged ones keep their cron job. */
  update(entries: readonly ScheduleEntry[]): void {
    const keyOf = (e: ScheduleEntry): string => JSON.stringify([e.cron, e.timezone, e.name, e.service, e.dest, e.action]);
    const want = new Map(entries.map((e) => [keyOf(e), e]));
    const keep: typeof this.jobs = [];
    for (const j of this.jobs) {
      if (want.has(j.key)) { keep.push(j); want.delete(j.key); } else j.job.stop();
    }
    for (const [key, entry] of want) {
      keep.push({ entry, key, job: this.cron(entry.cron, () => { this.run(entry); }, { name: entry.name, ...(entry.timezone ? { timezone: entry.timezone } : {}) }) });
    }
    this.jobs = keep;
    if (entries.length) this.log.info(`schedule: ${entries.length} action${entries.length === 1 ? '' : 's'} armed`);
  }

  entries(): ScheduleEntry[] { return this.jobs.map((j) => j.entry); }

  stop(): void {
    for (const j of this.jobs) j.job.stop();
    this.jobs = [];
  }
}
