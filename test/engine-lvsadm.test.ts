// End to end: the daemon in-process with `--io memory`, TCP and UDP
// conversations through NAT and DR injected on its wire under a virtual
// clock, and the real `scripts/lvsadm.js --socket S` listing what they left:
// `-L -n` (ActiveConn / InActConn), `-L -n -c` (states, expiry), `--stats`,
// `--exact --stats`, `--rate` after one estimator tick, and `-Z`. Every output
// is compared byte for byte with text written from ipvsadm.md §5.
import { strict as assert } from 'node:assert';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Daemon } from '../core/daemon.js';
import type { MemoryDataPlane } from '../core/engine/runner.js';
import { createLogger } from '../core/log.js';
import { buildFrame, type IpSpec, type L4Spec } from '../core/packet/build.js';
import { TCP_ACK, TCP_FIN, TCP_SYN } from '../core/packet/parse.js';

const ROOT = new URL('..', import.meta.url).pathname;
const LVSADM = join(ROOT, 'scripts', 'lvsadm.js');
const run = promisify(execFile);

const DIR_MAC = '02:00:00:00:00:01', GW_MAC = '02:00:00:00:00:fe', RS1_MAC = '02:00:00:00:10:08', RS2_MAC = '02:00:00:00:10:09';
const VIP = '192.168.10.100', RS1 = '192.168.10.8', RS2 = '192.168.10.9', C1 = '10.1.2.3', C2 = '10.1.2.4';

const CONFIG = `import { defineConfig } from 'lvsd';
export default defineConfig({
  interfaces: [{ name: 'eth0', mac: '${DIR_MAC}', addresses: ['192.168.10.1/24'] }],
  neighbors: { '${RS1}': '${RS1_MAC}', '${RS2}': '${RS2_MAC}', '192.168.10.254': '${GW_MAC}' },
  gateway: '192.168.10.254',
  services: [
    { protocol: 'tcp', address: '${VIP}', port: 80, scheduler: 'rr', forward: 'nat', reals: [{ address: '${RS1}', port: 8080 }] },
    { protocol: 'tcp', address: '${VIP}', port: 443, scheduler: 'rr', forward: 'dr', reals: [{ address: '${RS2}', port: 443 }] },
    { protocol: 'udp', address: '${VIP}', port: 53, scheduler: 'rr', forward: 'nat', reals: [{ address: '${RS1}', port: 5353 }] },
    { protocol: 'udp', address: '${VIP}', port: 123, scheduler: 'rr', forward: 'dr', reals: [{ address: '${RS2}', port: 123 }] },
  ],
});
`;

const tcp = (sport: number, dport: number, flags: number, n = 0): L4Spec =>
  ({ proto: 'tcp', sport, dport, flags, seq: 1, ack: 1, payload: new Uint8Array(n) });
const udp = (sport: number, dport: number, n: number): L4Spec => ({ proto: 'udp', sport, dport, payload: new Uint8Array(n) });
const fromGw = (src: string, l4: L4Spec): Uint8Array => buildFrame({ dst: DIR_MAC, src: GW_MAC }, { src, dst: VIP } as IpSpec, l4);
const fromRs1 = (dst: string, l4: L4Spec): Uint8Array => buildFrame({ dst: DIR_MAC, src: RS1_MAC }, { src: RS1, dst } as IpSpec, l4);

describe('engine + lvsadm: listings of a daemon carrying traffic', function () {
  this.timeout(60_000);
  let dir: string;
  let socket: string;
  let daemon: Daemon;
  let dp: MemoryDataPlane;
  let clock = 1_000_000;            // virtual ms, far beyond the real time the data plane started at

  const lvsadm = async (...args: string[]): Promise<string> => {
    const r = await run(process.execPath, [LVSADM, '--socket', socket, ...args], { cwd: ROOT, env: { ...process.env, LVSD_SOCKET: '' } });
    assert.equal(r.stderr, '');
    return r.stdout;
  };
  /** Frames in at the current virtual time; how many came out. */
  const inject = (...frames: Uint8Array[]): number => {
    for (const f of frames) dp.wire.inject(f, 0, clock);
    dp.poll();
    return dp.wire.take().length;
  };
  const at = (ms: number): void => { clock = ms; dp.poll(); };

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'lvsd-engine-lvsadm-'));
    socket = join(dir, 'lvsd.sock');
    writeFileSync(join(dir, 'config.ts'), CONFIG);
    daemon = new Daemon({ configFile: join(dir, 'config.ts'), socket, io: 'memory', pluginDirs: [], log: createLogger('error', () => {}) });
    await daemon.start();
    dp = daemon.memoryPlane!;
    // the data plane's clock becomes the test's: its own poll timer then runs on it too
    dp.now = () => clock;
    at(clock);
  });
  after(async () => {
    await daemon?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('drives the conversations (every frame forwarded)', () => {
    const T0 = 1_000_000;
    at(T0);
    let n = 0;
    // NAT TCP, client closes first: ends in TIME_WAIT (inactive)
    n += inject(fromGw(C1, tcp(40000, 80, TCP_SYN)), fromRs1(C1, tcp(8080, 40000, TCP_SYN | TCP_ACK)),
      fromGw(C1, tcp(40000, 80, TCP_ACK)), fromGw(C1, tcp(40000, 80, TCP_ACK, 100)), fromRs1(C1, tcp(8080, 40000, TCP_ACK, 200)),
      fromGw(C1, tcp(40000, 80, TCP_ACK | TCP_FIN)), fromRs1(C1, tcp(8080, 40000, TCP_ACK)),
      fromRs1(C1, tcp(8080, 40000, TCP_ACK | TCP_FIN)), fromGw(C1, tcp(40000, 80, TCP_ACK)));
    // NAT TCP, left ESTABLISHED (active)
    n += inject(fromGw(C1, tcp(40001, 80, TCP_SYN)), fromRs1(C1, tcp(8080, 40001, TCP_SYN | TCP_ACK)), fromGw(C1, tcp(40001, 80, TCP_ACK)));
    // DR TCP: SYN, ACK, then 40 data segments of 100 bytes (ESTABLISHED, active)
    n += inject(fromGw(C2, tcp(40002, 443, TCP_SYN)), fromGw(C2, tcp(40002, 443, TCP_ACK)));
    for (let i = 0; i < 40; i++) n += inject(fromGw(C2, tcp(40002, 443, TCP_ACK, 100)));
    // NAT UDP: query and answer; DR UDP: two datagrams from one client port
    n += inject(fromGw(C1, udp(5000, 53, 2)), fromRs1(C1, udp(5353, 5000, 4)));
    n += inject(fromGw(C2, udp(6000, 123, 48)), fromGw(C2, udp(6000, 123, 48)));
    assert.equal(n, 9 + 3 + 42 + 2 + 2);
    assert.deepEqual(daemon.memoryPlane!.engine.dropCounts(), {});
  });

  // ipvsadm.md §5: header lines, then service / server lines in sorted order
  const HEAD = 'IP Virtual Server version 1.2.1 (size=4096)';
  const lines = (...l: string[]): string => `${l.join('\n')}\n`;
  /** Service and server lines for the stats / rate modes: name left-justified to 33 / `  -> ` + 28, then 9-wide columns. */
  const table = (title: string, rows: [string, number[]][]): string => lines(HEAD,
    `Prot LocalAddress:Port${title}`, '  -> RemoteAddress:Port',
    ...rows.map(([name, v]) => (name.startsWith('->') ? `  ${name.slice(0, 2)} ${name.slice(3).padEnd(28)}` : name.padEnd(33))
      + v.map((x) => String(x).padStart(9)).join('')));
  const STATS = '               Conns   InPkts  OutPkts  InBytes OutBytes';
  const RATE = '                 CPS    InPPS   OutPPS    InBPS   OutBPS';
  const NAMES = ['TCP  192.168.10.100:80', '-> 192.168.10.8:8080', 'TCP  192.168.10.100:443', '-> 192.168.10.9:443',
    'UDP  192.168.10.100:53', '-> 192.168.10.8:5353', 'UDP  192.168.10.100:123', '-> 192.168.10.9:123'];
  const per = (...v: number[][]): [string, number[]][] => NAMES.map((n, i) => [n, v[i >> 1]!]);
  const zeros = per([0, 0, 0, 0, 0], [0, 0, 0, 0, 0], [0, 0, 0, 0, 0], [0, 0, 0, 0, 0]);

  it('-L -n: ActiveConn / InActConn (TIME_WAIT and UDP inactive, ESTABLISHED active)', async () => {
    at(1_000_300);
    assert.equal(await lvsadm('-L', '-n'), lines(HEAD,
      'Prot LocalAddress:Port Scheduler Flags',
      '  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn',
      'TCP  192.168.10.100:80 rr',
      '  -> 192.168.10.8:8080            Masq    1      1          1         ',
      'TCP  192.168.10.100:443 rr',
      '  -> 192.168.10.9:443             Route   1      1          0         ',
      'UDP  192.168.10.100:53 rr',
      '  -> 192.168.10.8:5353            Masq    1      0          1         ',
      'UDP  192.168.10.100:123 rr',
      '  -> 192.168.10.9:123             Route   1      0          1         '));
  });

  it('-L -n -c: states and expiry 0.3 s after the packets (connections.md "checked against Linux 6.1")', async () => {
    assert.equal(await lvsadm('-L', '-n', '-c'), lines(
      'IPVS connection entries',
      'pro expire state       source             virtual            destination',
      'TCP 01:59  TIME_WAIT   10.1.2.3:40000     192.168.10.100:80  192.168.10.8:8080',
      'TCP 14:59  ESTABLISHED 10.1.2.3:40001     192.168.10.100:80  192.168.10.8:8080',
      'TCP 14:59  ESTABLISHED 10.1.2.4:40002     192.168.10.100:443 192.168.10.9:443',
      'UDP 04:59  UDP         10.1.2.3:5000      192.168.10.100:53  192.168.10.8:5353',
      'UDP 04:59  UDP         10.1.2.4:6000      192.168.10.100:123 192.168.10.9:123'));
  });

  // whole IP packets: NAT TCP in 40+40+140+40+40 + 40+40 = 380, out 40+240+40+40 + 40 = 400;
  // DR TCP in 40+40+40×140 = 5680; UDP "q\n"-sized 30 in, 32 out; DR UDP 2×76 = 152
  const COUNTS = per([2, 7, 5, 380, 400], [1, 42, 0, 5680, 0], [1, 1, 1, 30, 32], [1, 2, 0, 152, 0]);

  it('--stats and --exact --stats', async () => {
    assert.equal(await lvsadm('-L', '-n', '--stats'), table(STATS, COUNTS));
    assert.equal(await lvsadm('-L', '-n', '--stats', '--exact'), table(STATS, COUNTS));
  });

  it('--rate: 0 before the first estimator tick; after it, a quarter of the 2-s rate, rounded (connections.md §12)', async () => {
    assert.equal(await lvsadm('-L', '-n', '--rate'), table(RATE, zeros));
    at(1_002_000);
    // e.g. NAT TCP: inpps (7<<9)/4 = 896 → (896+0x1ff)>>10 = 1; inbps (380<<4)/4 = 1520 → (1520+0xf)>>5 = 47
    assert.equal(await lvsadm('-L', '-n', '--rate'), table(RATE,
      per([0, 1, 1, 47, 50], [0, 5, 0, 710, 0], [0, 0, 0, 4, 4], [0, 0, 0, 19, 0])));
    // the clock moved 2 s: every expiry with it
    assert.equal(await lvsadm('-L', '-n', '-c'), lines(
      'IPVS connection entries',
      'pro expire state       source             virtual            destination',
      'TCP 01:58  TIME_WAIT   10.1.2.3:40000     192.168.10.100:80  192.168.10.8:8080',
      'TCP 14:58  ESTABLISHED 10.1.2.3:40001     192.168.10.100:80  192.168.10.8:8080',
      'TCP 14:58  ESTABLISHED 10.1.2.4:40002     192.168.10.100:443 192.168.10.9:443',
      'UDP 04:58  UDP         10.1.2.3:5000      192.168.10.100:53  192.168.10.8:5353',
      'UDP 04:58  UDP         10.1.2.4:6000      192.168.10.100:123 192.168.10.9:123'));
  });

  it('-Z zeroes counters and rates; the next tick estimates from the new totals', async () => {
    assert.equal(await lvsadm('-Z'), '');
    assert.equal(await lvsadm('-L', '-n', '--stats'), table(STATS, zeros));
    assert.equal(await lvsadm('-L', '-n', '--rate'), table(RATE, zeros));
    // 10 more DR data segments, then a tick: inpps (10<<9)/4 = 1280 → 1; inbps (1400<<4)/4 = 5600 → 175
    for (let i = 0; i < 10; i++) inject(fromGw(C2, tcp(40002, 443, TCP_ACK, 100)));
    at(1_004_000);
    assert.equal(await lvsadm('-L', '-n', '--rate'), table(RATE,
      per([0, 0, 0, 0, 0], [0, 1, 0, 175, 0], [0, 0, 0, 0, 0], [0, 0, 0, 0, 0])));
    assert.equal(await lvsadm('-L', '-n', '--stats'), table(STATS,
      per([0, 0, 0, 0, 0], [0, 10, 0, 1400, 0], [0, 0, 0, 0, 0], [0, 0, 0, 0, 0])));
    // -Z leaves connections (and ActiveConn / InActConn) alone
    assert.match(await lvsadm('-L', '-n'), /Route {3}1 {6}1 {10}0 {9}\n/);
  });
});
