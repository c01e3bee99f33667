// `lvsd sched-trace [--plugins DIR]... FILE.json|-`: runs one scheduler over a
// scripted scenario (see scripts/sched-trace/scenario.ts) and prints one line per decision.
// Scheduler log lines ("IPVS: rr: TCP ... - no destination available") go to stderr.

import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { runSchedTrace } from './sched-trace/scenario.js';
import type { SchedulerLookup } from '../core/model/table.js';
import { builtinScheduler } from '../plugins/schedulers/lib/builtin.js';

const USAGE = 'usage: lvsd sched-trace [--plugins DIR]... FILE.json|-\n';

export async function schedTraceMain(argv: string[]): Promise<number> {
  let values: { plugins: string[]; help?: boolean; quiet?: boolean };
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({
      args: argv, allowPositionals: true, strict: true,
      options: {
        plugins: { type: 'string', multiple: true, default: [] },
        quiet: { type: 'boolean', short: 'q' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (e) {
    process.stderr.write(`lvsd sched-trace: ${(e as Error).message}\n${USAGE}`);
    return 2;
  }
  if (values.help) { process.stdout.write(USAGE); return 0; }
  if (positionals.length !== 1) { process.stderr.write(USAGE); return 2; }
  const file = positionals[0]!;
  let text: string;
  try {
    text = readFileSync(file === '-' ? 0 : file, 'utf8');
  } catch (e) {
    process.stderr.write(`lvsd sched-trace: cannot read ${file}: ${(e as Error).message}\n`);
    return 1;
  }
  let scenario: unknown;
  try {
    scenario = JSON.parse(text);
  } catch (e) {
    process.stderr.write(`lvsd sched-trace: ${file}: invalid JSON: ${(e as Error).message}\n`);
    return 1;
  }
  let schedulers: SchedulerLookup = builtinScheduler;
  if (values.plugins.length > 0) {
    // Operator plugin folders: go through the real loader (compile + contract check).
    const { loadPlugins } = await import('../core/plugins/loader.js');
    try {
      const reg = await loadPlugins(values.plugins);
      schedulers = (n) => reg.scheduler(n);
    } catch (e) {
      process.stderr.write(`lvsd sched-trace: ${(e as Error).message}\n`);
      return 1;
    }
  }
  const r = runSchedTrace(scenario, { schedulers });
  if (!r.ok) {
    process.stderr.write(`lvsd sched-trace: ${file}: ${r.error}\n`);
    return 1;
  }
  if (!values.quiet) for (const l of r.logs) process.stderr.write(`${l}\n`);
  process.stdout.write(r.lines.map((l) => `${l}\n`).join(''));
  return 0;
}

// Run directly: node --import tsx scripts/sched-trace.ts FILE
if (import.meta.url === `file://${process.argv[1]}`) {
  schedTraceMain(process.argv.slice(2)).then((c) => { process.exitCode = c; }, (e: unknown) => {
    process.stderr.write(`lvsd sched-trace: ${(e as Error).stack ?? String(e)}\n`);
    process.exitCode = 1;
  });
}
