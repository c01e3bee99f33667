// `lvsadm -L --drops` (an lvsd extension): the data plane's drop reasons and
// I/O counters through the control socket, on the memory wire (frames dropped
// for known reasons injected under a virtual clock), the drop watch's log
// lines there, the request's validation, and an lvsd without a data plane.

import { strict as assert } from 'node:assert';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import type { Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Bus } from '../core/bus.js';
import { closeControl, handleLine, listenControl } from '../core/control/server.js';
import { Daemon } from '../core/daemon.js';
import type { MemoryDataPlane } from '../core/engine/runner.js';
import { createLogger } from '../core/log.js';
import { ServiceTable } from '../core/model/table.js';
import { buildFrame } from '../core/packet/build.js';
import { TCP_ACK, TCP_SYN } from '../core/packet/parse.js';
import { builtinForwarder } from '../plugins/forwarding/lib/builtin.js';
import { builtinScheduler } from '../plugins/schedulers/lib/builtin.js';
import { isExtension, parseExtension } from '../scripts/lvsadm/extensions.js';
import { lvsadm, type Io } from '../scripts/lvsadm/main.js';
import type { NameService } from '../scripts/lvsadm/resolve.js';

const DIR_MAC = '02:00:00:00:00:01', GW_MAC = '02:00:00:00:00:fe', OTHER_MAC = '02:00:00:00:00:77';
const RS1 = '192.168.10.8', VIP = '192.168.10.100', VIP_EMPTY = '192.168.10.101', GW = '192.168.10.254';

const CONFIG = `import { defineConfig } from 'lvsd';
export default defineConfig({
  interfaces: [{ name: 'eth0', mac: '${DIR_MAC}', addresses: ['192.168.10.1/24'] }],
  neighbors: { '${RS1}': '02:00:00:00:10:08', '${GW}': '${GW_MAC}' },
  gateway: '${GW}',
  services: [
    { protocol: 'tcp', address: '${VIP}', port: 80, scheduler: 'rr', forward: 'nat', reals: [{ address: '${RS1}', port: 80 }] },
    { protocol: 'tcp', address: '${VIP_EMPTY}', port: 80, scheduler: 'rr', forward: 'nat', reals: [] },
  ],
});
`;

const ns: NameService = { hostToAddr: async () => null, addrToHost: async () => null, serviceToPort: () => null, portToService: () => null };

async function run(socket: string, ...args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '', err = '';
  const io: Io = { out: (s) => { out += s; }, err: (s) => { err += s; }, readStdin: async () => '' };
  const code = await lvsadm(['--socket', socket, ...args], 'lvsadm', io, ns);
  return { code, out, err };
}

describe('lvsadm -L --drops: parsing (an lvsd extension; ipvsadm command lines are untouched)', () => {
  it('is recognised as lvsd\'s own, and parsed', async () => {
    assert.equal(isExtension(['-L', '-n']), false);
    assert.equal(isExtension(['-L', '--drops']), true);
    assert.equal(isExtension(['-Ln', '--drops', '--per-worker']), true);
    assert.deepEqual(await parseExtension(['-L', '--drops'], ns), { ok: true, command: { op: 'get-drops', perWorker: false } });
    assert.deepEqual(await parseExtension(['--drops', '-Ln', '--per-worker'], ns), { ok: true, command: { op: 'get-drops', perWorker: true } });
  });

  it('refuses what does not go with it, saying why', async () => {
    const refused: [string[], RegExp][] = [
      [['--drops'], /--drops is a listing: use lvsadm -L --drops/],
      [['-L', '--drops', '-t', '10.0.0.1:80'], /-L --drops takes no service/],
      [['-L', '--drops', '--health'], /only one of .*--drops/],
      [['-L', '--per-worker'], /--per-worker goes with lvsadm -L --drops/],
      [['--drain', '-t', '10.0.0.1:80', '-r', '10.0.0.2', '--per-worker'], /--per-worker goes with lvsadm -L --drops/],
      [['-L', '--drops', '--stats'], /--stats: not an option of lvsadm -L --drops/],
    ];
    for (const [args, re] of refused) {
      const r = await parseExtension(args, ns);
      assert.ok(!r.ok && re.test(r.error), `${args.join(' ')} → ${JSON.stringify(r)}`);
    }
  });
});

describe('get-drops: the control request', () => {
  const table = new ServiceTable({ schedulers: builtinScheduler, forwarder: builtinForwarder, ctx: { now: () => 0, randomU32: () => 1, log: () => {} } });
  const view = { plane: 'memory' as const, seconds: 3, workers: [0], counters: [{ kind: 'io' as const, name: 'rx', count: 1 }] };

  it('checks its input: a clear EPROTO for a bad or unknown field', () => {
    const deps = { table, bus: new Bus(), drops: () => view };
    const cases: [object, string][] = [
      [{ op: 'get-drops', perWorker: 'yes' }, 'request.perWorker must be true or false'],
      [{ op: 'get-drops', perWorker: 1 }, 'request.perWorker must be true or false'],
      [{ op: 'get-drops', workers: true }, 'request.workers is not known for get-drops (known: op, perWorker)'],
    ];
    for (const [req, message] of cases) assert.deepEqual(handleLine(JSON.stringify(req), deps), { ok: false, errno: 'EPROTO', message });
    assert.deepEqual(handleLine('{"op":"get-drops"}', deps), { ok: true, data: view });
    let asked: boolean | null = null;
    handleLine('{"op":"get-drops","perWorker":true}', { ...deps, drops: (p: boolean) => { asked = p; return view; } });
    assert.equal(asked, true);
  });

  it('without a data plane: ENODEV with a sentence, never an empty success', () => {
    for (const deps of [{ table, bus: new Bus() }, { table, bus: new Bus(), drops: () => null }]) {
      const r = handleLine('{"op":"get-drops"}', deps);
      assert.equal(r.ok, false);
      if (!r.ok) { assert.equal(r.errno, 'ENODEV'); assert.match(r.message, /without a data plane/); }
    }
  });

  it('lvsadm -L --drops against an lvsd without a data plane: the reason on stderr, exit status 1', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'lvsd-nodp-'));
    const socket = join(dir, 'lvsd.sock');
    const server: Server = await listenControl(socket, { table, bus: new Bus() });
    try {
      const r = await run(socket, '-L', '--drops');
      assert.equal(r.code, 1);
      assert.equal(r.out, '');
      assert.equal(r.err, 'lvsadm: lvsd runs without a data plane: no frames are forwarded, so none are counted or dropped\n');
    } finally {
      await closeControl(server, socket);
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('lvsadm -L --drops: a daemon on the memory wire', function () {
  this.timeout(60_000);
  let dir: string;
  let socket: string;
  let daemon: Daemon;
  let dp: MemoryDataPlane;
  let clock = 1_000_000;
  const log: string[] = [];
  let sport = 30000;

  const tcp = (dst: string, flags: number, dstMac = DIR_MAC): void => {
    dp.wire.inject(buildFrame({ dst: dstMac, src: GW_MAC }, { src: '10.1.2.3', dst }, { proto: 'tcp', sport: ++sport, dport: 80, flags, seq: 1, ack: 0 }), 0, clock);
  };
  /** The listing with its first line's seconds taken out. */
  const drops = async (...extra: string[]): Promise<string> => {
    const r = await run(socket, '-L', '--drops', ...extra);
    assert.equal(r.code, 0, r.err);
    assert.equal(r.err, '');
    return r.out.replace(/counting for \d+ s/, 'counting for N s');
  };

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'lvsd-drops-'));
    socket = join(dir, 'lvsd.sock');
    writeFileSync(join(dir, 'config.ts'), CONFIG);
    daemon = new Daemon({ configFile: join(dir, 'config.ts'), socket, io: 'memory', pluginDirs: [],
      log: createLogger('debug', (l) => { log.push(l); }), watchDebounceMs: 60_000 });
    await daemon.start();
    dp = daemon.memoryPlane!;
    dp.now = () => clock;
  });
  after(async () => {
    await daemon?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('nothing dropped yet: the I/O counters only', async () => {
    dp.poll();
    assert.equal(await drops(), [
      'Data plane memory: the in-process wire, counting for N s',
      'Kind Name                           Count',
      'io   rx                                 0',
      'io   tx                                 0',
      '',
    ].join('\n'));
  });

  it('frames dropped for known reasons: each reason once, in the registry\'s order, with the frames received and sent', async () => {
    for (let i = 0; i < 3; i++) tcp('192.168.10.77', TCP_SYN);      // no virtual service there
    for (let i = 0; i < 2; i++) tcp(VIP, TCP_SYN, OTHER_MAC);       // another host's MAC
    tcp(VIP, TCP_ACK);                                               // no SYN, no connection
    tcp(VIP_EMPTY, TCP_SYN);                                         // no real server: port unreachable sent
    tcp(VIP, TCP_SYN);                                               // forwarded to RS1
    dp.poll();
    assert.deepEqual(dp.wire.take().length, 2);
    assert.equal(await drops(), [
      'Data plane memory: the in-process wire, counting for N s',
      'Kind Name                           Count',
      'drop not-host                           2',
      'drop no-service                         3',
      'drop no-conn                            1',
      'drop no-dest                            1',
      'io   rx                                 8',
      'io   tx                                 2',
      '',
    ].join('\n'));
    assert.equal(await drops('--per-worker'), [
      'Data plane memory: the in-process wire, counting for N s',
      'Kind Name                           Count          w0',
      'drop not-host                           2           2',
      'drop no-service                         3           3',
      'drop no-conn                            1           1',
      'drop no-dest                            1           1',
      'io   rx                                 8           8',
      'io   tx                                 2           2',
      '',
    ].join('\n'));
    // -Ln, as ipvsadm users type it, is taken (numbers are all there is)
    assert.match(await drops('-n'), /^drop no-dest +1$/m);
  });

  it('the daemon logs the reasons that started to climb, by weight: a loss warns, background is not logged', () => {
    clock += 1000;
    dp.poll();
    clock += 1000;
    dp.poll();
    const lines = log.filter((l) => l.includes('data plane: ')).map((l) => l.trimEnd().replace(/ in [\d.]+ s/, ' in T'));
    assert.deepEqual(lines.map((l) => l.replace(/\(first.*$/, '…')), [
      'lvsd: data plane: no-conn +1 in T …',
      'lvsd: warn: data plane: no-dest +1 in T …',
    ]);
    assert.match(lines[1]!, /\(first since lvsd started; 1 in all\): the scheduler found no real server/);
    // more of the same within the minute: nothing more
    for (let i = 0; i < 50; i++) tcp(VIP_EMPTY, TCP_SYN);
    dp.poll();
    clock += 1000;
    dp.poll();
    assert.equal(log.filter((l) => l.includes('data plane: no-dest')).length, 1);
    // once the minute is over, the climb is told with all it added
    clock += 60_000;
    dp.poll();
    const later = log.filter((l) => l.includes('data plane: no-dest'));
    assert.equal(later.length, 2);
    assert.match(later[1]!, /^lvsd: warn: data plane: no-dest \+50 in 1m0\ds \(about 0\.00\d+\/s before; 51 in all\)/);
  });
});
