// One lvsd per network namespace (core/instance.ts): the abstract-socket lock,
// exercised in a network namespace of its own (unshare -n, root) so that it
// never meets a real lvsd or another test run. The daemon-level test (a second
// lvsd refused, the first still forwarding) is in test/e2e-lab.test.ts.
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';

const ROOT = new URL('..', import.meta.url).pathname;
const PROBE = join(ROOT, 'test/fixtures/instance/probe.ts');

function unavailable(): string | null {
  if (process.getuid?.() !== 0) return 'needs root (unshare -n)';
  if (spawnSync('unshare', ['-n', 'true']).status !== 0) return 'unshare -n failed';
  return null;
}
const why = unavailable();

interface Outcome { acquired: boolean; stale: { stale: boolean; owner?: { pid: number; socket: string } | null }; message?: string; owner?: { pid: number; socket: string; io: string } }

(why ? describe.skip : describe)(`instance lock: one lvsd per network namespace${why ? ` (skipped: ${why})` : ''}`, function () {
  this.timeout(60_000);
  let holder: ChildProcess | null = null;
  afterEach(() => { holder?.kill('SIGKILL'); holder = null; });

  /** A shell in a new network namespace: `hold` in the background, then the `try`s, all in that one namespace. */
  function inNamespace(script: string): string {
    const node = `${process.execPath} --import tsx ${PROBE}`;
    const r = spawnSync('unshare', ['-n', 'sh', '-c', script.replaceAll('PROBE', node)], { cwd: ROOT, encoding: 'utf8', timeout: 50_000 });
    assert.equal(r.status, 0, r.stderr);
    return r.stdout;
  }

  it('a second holder is refused, naming the first (pid and control socket); after SIGKILL the lock is free', () => {
    const out = inNamespace([
      'PROBE hold /run/a.sock > hold.out & H=$!',
      'while ! grep -q held hold.out 2>/dev/null; do sleep 0.1; done',
      'echo "pid $H"',
      'PROBE try /run/b.sock',
      'kill -9 $H; wait $H 2>/dev/null',
      'PROBE try /run/b.sock',
      'rm -f hold.out',
    ].join('\n').replaceAll('hold.out', join(process.env.TMPDIR ?? '/tmp', `lvsd-instance-${process.pid}.out`)));
    const [pidLine, busyLine, freeLine] = out.trim().split('\n');
    const pid = Number(/^pid (\d+)$/.exec(pidLine!)![1]);
    const busy = JSON.parse(busyLine!) as Outcome;
    assert.equal(busy.acquired, false);
    assert.deepEqual(busy.owner, { pid, socket: '/run/a.sock', io: 'afpacket' });
    assert.equal(busy.message?.startsWith(`another lvsd runs in this network namespace (pid ${pid}, control socket /run/a.sock, io afpacket)`), true, busy.message);
    assert.deepEqual(busy.stale, { stale: false, owner: { pid, socket: '/run/a.sock', io: 'afpacket' } }, 'a live owner\'s table is not stale');
    const free = JSON.parse(freeLine!) as Outcome;
    assert.deepEqual(free, { acquired: true, stale: { stale: true } }, 'the killed holder\'s lock died with it');
  });

  it('another network namespace has its own lock', async () => {
    holder = spawn('unshare', ['-n', process.execPath, '--import', 'tsx', PROBE, 'hold', '/run/a.sock'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise<void>((res) => holder!.stdout!.once('data', () => res()));
    const out = inNamespace('PROBE try /run/b.sock');
    assert.equal((JSON.parse(out) as Outcome).acquired, true);
  });
});
