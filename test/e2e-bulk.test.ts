// End-to-end bulk transfers: 8 MB bodies each way (download: GET /blob, upload:
// POST /sink; scripts/lab-rs.ts) through lvsd --io afpacket's NAT, DR and TUN
// services (and IPv6 NAT and DR) in the namespace lab (scripts/lab-net.ts),
// every byte checked, with one worker and with two.
//
// First with the lab's links as the kernel sets them up (veth: TSO/GSO and
// checksum offload on, as on a real NIC): senders hand the director GSO
// super-frames far larger than an MTU, which lvsd must carry. Then the same
// with segmentation, GRO and checksum offloads off on every link (needs
// ethtool; skipped with the reason printed otherwise).
//
// A transfer that stalls or crawls (lost super-frames leave TCP to crawl on
// retransmissions) is ended by the client within seconds and fails with the
// evidence: each transfer's outcome, `lvsadm -L -n --stats`, and the tail of
// lvsd's log after a restart, whose last lines are the workers' counters
// (rx, tx, oversize: frames larger than a ring slot, dropped).
//
// Needs root, `ip netns` and nft; otherwise skipped with the reason printed.

import { strict as assert } from 'node:assert';
import { Lab, VIP, VIP6, cleanupStale, labConfig, labUnavailable, offloadsOffUnavailable, type BulkResult } from '../scripts/lab-net.js';

const why = labUnavailable();
const BYTES = 8 << 20;
/**
 * Per transfer: 15 s in all, and at least 1 MiB in every 3 s. Unhindered, 8 MB
 * crosses this lab in well under a second; a path that drops super-frames
 * crawls at tens of KB/s, so it fails in about 3 s instead of hanging.
 */
const LIMITS = { timeout: 15, stall: 3, floor: 1 << 20 };

/**
 * Local ports for the transfers, counted up through the file so none is reused
 * (a failed transfer can leave its port in TIME_WAIT). Each batch starts on an
 * even port: the two-worker fanout hashes client address + port
 * (core/engine/io/bpf.ts), so ports 2k and 2k+1 fall to different workers, and
 * both workers carry every batch.
 */
let nextPort = 20000;
const ports = (n: number): number => { const p = nextPort; nextPort += n + (n % 2); return p; };

interface Method { name: string; url: string }
const METHODS: Method[] = [
  { name: 'NAT', url: `http://${VIP.nat}/` },
  { name: 'DR', url: `http://${VIP.dr}/` },
  { name: 'TUN', url: `http://${VIP.tun}/` },
  { name: 'IPv6 NAT', url: `http://[${VIP6.nat}]/` },
  { name: 'IPv6 DR', url: `http://[${VIP6.dr}]/` },
];

/** The workers' counters that lvsd logs when it stops: worker id → frames received. */
function workerRx(log: string): Map<number, number> {
  const m = new Map<number, number>();
  for (const x of log.matchAll(/afpacket worker (\d+): rx (\d+)/g)) m.set(Number(x[1]), Number(x[2]));
  return m;
}

/**
 * The daemon of one describe: `start` runs lvsd with `workers`; `evidence`
 * collects what explains a failed transfer and leaves lvsd running again.
 */
class Director {
  config = '';
  /** Frames each worker received, summed over lvsd's runs (each logs its counters when it stops). */
  readonly rx = new Map<number, number>();
  constructor(readonly lab: Lab, readonly workers: number) {}

  async start(): Promise<void> {
    this.config ||= this.lab.writeConfig(labConfig(this.lab, { workers: this.workers, ipv6: true }), `bulk-w${this.workers}.config.ts`);
    await this.lab.startDaemon(this.config);
  }

  /** Stops lvsd (SIGKILL if it has not exited 10 s after SIGTERM) and adds up its workers' counters. */
  async stop(): Promise<void> {
    const p = this.lab.daemon;
    if (!p) return;
    const kill = setTimeout(() => p.kill('SIGKILL'), 10_000);
    await this.lab.stopDaemon('SIGTERM');
    clearTimeout(kill);
    for (const [w, n] of workerRx(this.lab.daemonLog)) this.rx.set(w, (this.rx.get(w) ?? 0) + n);
  }

  /** The counters, then lvsd stopped so that it logs its workers' counters, then lvsd started afresh for the next test. */
  async evidence(): Promise<string> {
    let stats: string;
    try { stats = this.lab.lvsadm('-L', '-n', '--stats'); } catch (e) { stats = `(lvsadm failed: ${(e as Error).message})`; }
    await this.stop();
    const log = this.lab.daemonLog.trimEnd().split('\n').slice(-12).join('\n');
    let restart = '';
    try { await this.start(); } catch (e) { restart = `\n(lvsd did not start again: ${(e as Error).message})`; }
    return `--- lvsadm -L -n --stats ---\n${stats.trimEnd()}\n--- lvsd log (tail; the workers' counters at its stop: oversize = frames larger than a ring slot, dropped) ---\n${log}${restart}`;
  }
}

function describeTransfers(r: BulkResult): string {
  if (r.error) return `  ${r.error}`;
  return r.transfers.map((t, i) => `  #${i} from port ${t.localPort} → ${t.rs || '(no server answered)'}: ${t.bytes} bytes in ${t.seconds.toFixed(2)} s${t.ok ? ' ok' : `: ${t.error ?? 'failed'}`}`).join('\n');
}

/** n transfers of 8 MB at once; fails with the evidence unless every byte arrived and both real servers answered. */
async function transfer(d: Director, kind: 'download' | 'upload', m: Method, n: number): Promise<void> {
  const r = await d.lab.bulk(kind, m.url, BYTES, { n, conc: n, port: ports(n), ...LIMITS });
  const head = `${m.name} ${kind} of ${n} x ${BYTES} bytes with ${d.workers} worker(s), links' offloads ${d.lab.offloads}`;
  if (!r.ok) assert.fail(`${head} failed:\n${describeTransfers(r)}\n${await d.evidence()}`);
  assert.deepEqual(Object.keys(r.servedBy).sort(), ['rs1', 'rs2'], `${head}: both real servers answer (rr)\n${describeTransfers(r)}`);
}

/** One worker count's tests: every method, both ways. */
function suite(getLab: () => Lab, workers: number, n: number, methods: readonly Method[]): void {
  describe(`${workers} worker${workers > 1 ? 's' : ''}, ${n} transfers at once`, function () {
    let d: Director;
    before(async function () {
      this.timeout(60_000);
      d = new Director(getLab(), workers);
      await d.start();
    });
    after(async function () {
      this.timeout(30_000);
      await d?.stop();
    });

    for (const m of methods) {
      it(`${m.name}: download`, async () => { await transfer(d, 'download', m, n); });
      it(`${m.name}: upload`, async () => { await transfer(d, 'upload', m, n); });
    }
    if (workers > 1) {
      it('both workers carried transfers (their counters at lvsd\'s stops)', async () => {
        await d.stop();
        // one 8 MB transfer alone is some 5 800 full-sized frames, or (offloads on) ~130
        // aggregates and their ACKs; a worker that carried none sees a few stray frames
        const least = d.lab.offloads === 'off' ? 5000 : 300;
        const rx = Array.from({ length: workers }, (_, w) => d.rx.get(w) ?? 0);
        assert.ok(rx.every((n) => n > least), `frames received by each worker: ${rx.join(', ')} (each more than ${least})`);
      });
    }
  });
}

/** A lab of two real servers with the given offloads, built before and torn down after its tests, also when they fail. */
function labSuite(title: string, offloads: 'default' | 'off', tag: string, body: (getLab: () => Lab) => void): void {
  describe(title, function () {
    this.timeout(60_000);
    // made in `before`: a Lab makes a folder at once, and a skipped describe runs no `after`
    let lab: Lab | null = null;
    before(async function () {
      this.timeout(90_000);
      cleanupStale();
      lab = new Lab({ reals: 2 }, tag);
      await lab.build({ offloads });
    });
    after(async function () {
      this.timeout(30_000);
      await lab?.teardown();
    });
    body(() => lab!);
  });
}

(why ? describe.skip : describe)(`e2e bulk: 8 MB each way through lvsd --io afpacket${why ? ` (skipped: ${why})` : ''}`, function () {
  labSuite('links with the offloads the kernel gives them (veth: TSO/GSO, checksum offload)', 'default', 'bk', (lab) => {
    suite(lab, 1, 2, METHODS);
    suite(lab, 2, 4, METHODS);
  });

  const offWhy = offloadsOffUnavailable();
  if (offWhy) {
    describe.skip(`links with offloads off (skipped: ${offWhy})`, () => { it('needs ethtool', () => {}); });
  } else {
    labSuite('links with segmentation, GRO and checksum offloads off (ethtool)', 'off', 'bo', (lab) => {
      suite(lab, 2, 4, METHODS);
    });
  }
});
