// The ipvs-sync plugin inside the daemon (memory wire, sockets on lo): config.ts
// `sync` starts and stops the daemons the table lists, `vrrp` makes the role
// follow a failover instance, bad settings are config errors, and a daemon
// whose socket cannot open is not listed as running. Root only (the backup
// socket binds to its device: CAP_NET_RAW); otherwise skipped, saying why.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Daemon } from '../core/daemon.js';
import { createLogger } from '../core/log.js';
import { request } from '../core/control/client.js';
import type { SyncDaemonSpec } from '../core/model/types.js';
import type { MemoryDataPlane } from '../core/engine/runner.js';

const root = process.getuid?.() === 0;

function writeConfig(file: string, sync?: unknown): void {
  writeFileSync(file, `export default {
${sync === undefined ? '' : `  sync: ${JSON.stringify(sync)},\n`}  services: [{ protocol: 'tcp', address: '10.1.0.1', port: 80, scheduler: 'rr', forward: 'nat', reals: [{ address: '192.168.1.1', port: 80 }] }],
};
`);
}

(root ? describe : describe.skip)(`sync plugin in the daemon${root ? '' : ' (skipped: needs root for the backup socket)'}`, function () {
  this.timeout(30_000);
  let dir: string;
  let file: string;
  let lines: string[];
  let daemon: Daemon | undefined;
  const sock = () => join(dir, 'lvsd.sock');
  const saw = (re: RegExp): boolean => lines.some((l) => re.test(l));
  const daemons = async (): Promise<string[]> => {
    const r = await request<SyncDaemonSpec[]>(sock(), { op: 'get-daemons' });
    assert.ok(r.ok);
    return r.data.map((d) => `${d.state}/${d.mcastIfn}/${d.syncid}`);
  };
  const start = async (): Promise<Daemon> => {
    const d = new Daemon({ configFile: file, socket: sock(), io: 'memory', pluginDirs: [],
      log: createLogger('debug', (l) => { lines.push(l); }), watchDebounceMs: 60_000 });
    daemon = d;
    await d.start();
    return d;
  };

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'lvsd-syncplugin-'));
    file = join(dir, 'config.ts');
    lines = [];
  });
  afterEach(async () => {
    await daemon?.stop();
    daemon = undefined;
    rmSync(dir, { recursive: true, force: true });
  });

  it('config.ts sync: role both starts both daemons (kernel log lines); an edit restarts them; the key removed stops them', async () => {
    writeConfig(file, { interface: 'lo', syncid: 3, role: 'both' });
    const d = await start();
    assert.deepEqual(await daemons(), ['master/lo/3', 'backup/lo/3']);
    assert.ok(saw(/sync thread started: state = MASTER, mcast_ifn = lo, syncid = 3, id = 0/), lines.join(''));
    assert.ok(saw(/sync thread started: state = BACKUP, mcast_ifn = lo, syncid = 3, id = 0/), lines.join(''));
    writeConfig(file, { interface: 'lo', syncid: 4, role: 'master' });
    assert.equal(await d.reload(), true);
    assert.deepEqual(await daemons(), ['master/lo/4']);
    writeConfig(file);
    assert.equal(await d.reload(), true);
    assert.deepEqual(await daemons(), []);
    assert.ok(saw(/stopping master sync thread \(stopped\)/), lines.join(''));
  });

  it('ports (sync_ports): one thread per port, each on its own (id 0, 1; ports 8848, 8849); not a power of two is a config error', async () => {
    writeConfig(file, { interface: 'lo', role: 'both', ports: 2 });
    const d = await start();
    for (const st of ['MASTER', 'BACKUP']) {
      for (const id of [0, 1]) assert.ok(saw(new RegExp(`state = ${st}, mcast_ifn = lo, syncid = 0, id = ${id} .*224\\.0\\.0\\.81:${8848 + id}`)), lines.join(''));
    }
    writeConfig(file, { interface: 'lo', role: 'both', ports: 3 });
    assert.equal(await d.reload(), false);
    assert.ok(saw(/sync\.ports: must be a power of two/), lines.join(''));
  });

  it('vrrp: the role follows the failover instance (backup until it is MASTER, backup again after)', async () => {
    writeConfig(file, { interface: 'lo', syncid: 9, vrrp: 'VI_1' });
    const d = await start();
    assert.deepEqual(await daemons(), ['backup/lo/9']);
    d.bus.emit('ha.state', { state: 'master', instance: 'VI_2' });
    assert.deepEqual(await daemons(), ['backup/lo/9'], 'another instance changes nothing');
    d.bus.emit('ha.state', { state: 'master', instance: 'VI_1' });
    assert.deepEqual(await daemons(), ['master/lo/9']);
    d.bus.emit('ha.state', { state: 'fault', instance: 'VI_1' });
    assert.deepEqual(await daemons(), ['backup/lo/9']);
  });

  it('bad settings are config errors naming the field; the running config stays', async () => {
    writeConfig(file, { interface: 'lo', role: 'master' });
    const d = await start();
    for (const [bad, re] of [
      [{ role: 'master' }, /sync\.interface: interface is required/],
      [{ interface: 'lo', role: 'master', threshold: [50, 3] }, /sync\.threshold: the threshold must be below the period/],
      [{ interface: 'lo', role: 'master', retries: 4 }, /sync\.retries/],
      [{ interface: 'lo', role: 'master', auth: { key: 'short' } }, /sync\.auth\.key: the key must be at least 16 characters/],
      [{ interface: 'lo', role: 'master', vrrp: 'VI_1' }, /sync\.vrrp: give either role or vrrp/],
    ] as const) {
      writeConfig(file, bad);
      assert.equal(await d.reload(), false);
      assert.ok(saw(re), `${re}\n${lines.join('')}`);
    }
    assert.deepEqual(await daemons(), ['master/lo/0']);
  });

  it('an interface that does not exist: the table refuses the daemon (ENODEV), none is listed, the log says so', async () => {
    writeConfig(file, { interface: 'nosuch0', role: 'backup' });
    await start();
    assert.deepEqual(await daemons(), []);
    assert.ok(saw(/config sync: start backup daemon on nosuch0: /), lines.join(''));
  });

  it('backupOnly: while the backup daemon runs the data plane balances nothing; off once it stops', async () => {
    writeConfig(file, { interface: 'lo', role: 'backup', backupOnly: true });
    const d = await start();
    const engine = (): { backupOnly: boolean } => (d.dataPlane as MemoryDataPlane).engine;
    assert.equal(engine().backupOnly, true);
    writeConfig(file, { interface: 'lo', role: 'master', backupOnly: true });
    assert.equal(await d.reload(), true);
    assert.equal(engine().backupOnly, false, 'a master balances');
  });

  it('-L --daemon --stats: each running daemon\'s counters', async () => {
    writeConfig(file, { interface: 'lo', role: 'both' });
    await start();
    await new Promise((r) => setTimeout(r, 1300));
    const r = await request<{ state: string; counters: Record<string, number> }[]>(sock(), { op: 'get-daemon-stats' });
    assert.ok(r.ok);
    assert.deepEqual(r.data.map((x) => x.state), ['master', 'backup']);
    assert.equal(r.data[0]!.counters['messages sent'], 0);
    assert.equal(r.data[1]!.counters['messages received'], 0);
  });
});
