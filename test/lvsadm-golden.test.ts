// Replays the recordings of the real ipvsadm 1.31 on Linux 6.1 (test/fixtures/golden)
// against lvsadm + lvsd: for each case a fresh daemon, `ipvsadm` on PATH being
// lvsadm, every recorded line run through bash, and stdout, stderr and the exit
// status compared byte for byte. Cases run side by side (each has its own
// daemon); the lines of one case run in order.

import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import {
  GOLDEN, ipvsadmBinDir, lvsadmEnv, parseGolden, runLineAsync, startDaemon, type GoldenRecord, type Outcome,
} from './lvsadm-harness.js';

/** Recorded lines that cannot be reproduced outside the reference VM, and why. */
const NOT_REPLAYABLE: { match: RegExp; why: string }[] = [
  { match: /^ipvsadm --version$/, why: 'lvsadm prints its own name and version (checked in lvsadm-cli.test.ts)' },
  { match: /^uname -r$/, why: 'the reference VM kernel release' },
  { match: /^lsmod$/, why: 'kernel modules of the reference VM' },
  { match: /\/proc\/|\/sys\//, why: 'kernel /proc and /sys files, which lvsd does not provide' },
];

function whyNot(cmd: string): string | null {
  return NOT_REPLAYABLE.find((n) => n.match.test(cmd))?.why ?? null;
}

/** The case's lines in order: setup (@) lines and recorded ones. */
function caseLines(name: string): { setup: boolean; cmd: string }[] {
  return readFileSync(join(GOLDEN, 'cases', `${name}.cmds`), 'utf8').split('\n')
    .filter((l) => l.trim() !== '' && !l.startsWith('#'))
    .map((l) => (l.startsWith('@') ? { setup: true, cmd: l.slice(1) } : { setup: false, cmd: l }));
}

const show = (o: Outcome): string => `exit ${o.exit}\n--- stdout\n${o.stdout}--- stderr\n${o.stderr}`;

interface CaseResult { replayed: number; mismatches: string[]; error?: string }

async function replay(name: string): Promise<CaseResult> {
  const lines = caseLines(name);
  const records: GoldenRecord[] = parseGolden(readFileSync(join(GOLDEN, `${name}.txt`), 'utf8'));
  if (lines.filter((l) => !l.setup).length !== records.length) return { replayed: 0, mismatches: [], error: 'commands and records do not line up' };
  const d = await startDaemon();
  try {
    const env = lvsadmEnv(d.socket, ipvsadmBinDir(d.dir));
    const res: CaseResult = { replayed: 0, mismatches: [] };
    let rec = 0;
    for (const l of lines) {
      // Files the recording wrote under /tmp go to this case's own directory.
      const cmd = l.cmd.replaceAll('/tmp/', `${d.dir}/`);
      if (l.setup) { await runLineAsync(cmd, env, d.dir); continue; }
      const want = records[rec++]!;
      if (want.cmd !== l.cmd) return { ...res, error: `record ${rec} is for "${want.cmd}", not "${l.cmd}"` };
      if (whyNot(l.cmd) !== null) continue;
      const got = await runLineAsync(cmd, env, d.dir);
      res.replayed++;
      if (got.stdout !== want.stdout || got.stderr !== want.stderr || got.exit !== want.exit) {
        res.mismatches.push(`$ ${l.cmd}\n=== want\n${show(want)}=== got\n${show(got)}`);
      }
    }
    return res;
  } finally {
    await d.stop();
  }
}

/** Runs the cases with at most `n` at a time. */
async function replayAll(names: string[], n: number): Promise<Map<string, CaseResult>> {
  const out = new Map<string, CaseResult>();
  const queue = [...names];
  await Promise.all(Array.from({ length: Math.max(1, n) }, async () => {
    for (let name = queue.shift(); name !== undefined; name = queue.shift()) {
      try { out.set(name, await replay(name)); } catch (e) { out.set(name, { replayed: 0, mismatches: [], error: String(e) }); }
    }
  }));
  return out;
}

const cases = readdirSync(join(GOLDEN, 'cases')).filter((f) => f.endsWith('.cmds')).map((f) => f.slice(0, -5)).sort();

describe('lvsadm: golden replay against ipvsadm 1.31 recordings', function () {
  let results: Map<string, CaseResult>;
  before(async function () {
    this.timeout(300_000);
    results = await replayAll(cases, Math.min(cases.length, availableParallelism()));
  });

  for (const name of cases) {
    it(`${name}: every replayable line matches`, () => {
      const r = results.get(name)!;
      assert.equal(r.error, undefined, r.error);
      assert.ok(r.replayed > 0);
      assert.deepEqual(r.mismatches, [], `${r.mismatches.length} line(s) differ:\n${r.mismatches.join('\n')}`);
    });
  }

  it('leaves out only the lines listed with a reason', () => {
    const skipped = cases.flatMap((name) => caseLines(name)
      .filter((l) => !l.setup && whyNot(l.cmd) !== null).map((l) => `${name}: ${l.cmd}`));
    // Of the lines calling ipvsadm, only --version (lvsadm's own text) stays out.
    assert.deepEqual(skipped.filter((s) => /ipvsadm/.test(s)), ['01-empty: ipvsadm --version']);
    assert.equal(skipped.length, 16, skipped.join('\n'));
  });
});
