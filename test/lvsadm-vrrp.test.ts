// lvsadm -L --vrrp (an lvsd extension): parsing, the listing, and the daemon's
// get-vrrp (what a failover plugin reports on the bus as ha.status).
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Daemon } from '../core/daemon.js';
import { createLogger } from '../core/log.js';
import { isExtension, parseExtension } from '../scripts/lvsadm/extensions.js';
import { lvsadm, type Io } from '../scripts/lvsadm/main.js';
import { ago, formatVrrp } from '../scripts/lvsadm/vrrp.js';
import type { NameService } from '../scripts/lvsadm/resolve.js';

const ns: NameService = { hostToAddr: async () => null, addrToHost: async () => null, serviceToPort: () => null, portToService: () => null };
const FIXTURE = new URL('./fixtures/plugins/vrrp-status', import.meta.url).pathname;

describe('lvsadm -L --vrrp', () => {
  it('parses', async () => {
    assert.equal(isExtension(['-L', '--vrrp']), true);
    assert.deepEqual(await parseExtension(['-L', '--vrrp'], ns), { ok: true, command: { op: 'get-vrrp', stats: false } });
    assert.deepEqual(await parseExtension(['-Ln', '--vrrp', '--stats'], ns), { ok: true, command: { op: 'get-vrrp', stats: true } });
    for (const [args, re] of [[['--vrrp'], /use lvsadm -L --vrrp/], [['-L', '--vrrp', '-t', '1.2.3.4:80'], /-t: not an option of lvsadm -L --vrrp/]] as const) {
      const r = await parseExtension(args, ns);
      assert.ok(!r.ok && re.test(r.error), JSON.stringify(r));
    }
  });

  it('lists state, priority (base when tracking moved it), master and the last transition', () => {
    const now = 1_000_000;
    const text = formatVrrp([
      { name: 'VI_1', interface: 'eth1', vrid: 51, version: 3, family: 4, state: 'MASTER', priority: 150, basePriority: 150, advertIntMs: 1000,
        master: '10.0.0.1', masterPriority: 150, since: now - 125_000, reason: 'Entering MASTER STATE (advertisement timeout)', counters: { tx: 3 } },
      { name: 'VI_6', interface: 'eth1', vrid: 52, version: 3, family: 6, state: 'BACKUP', priority: 90, basePriority: 100, advertIntMs: 1000,
        master: 'fe80::1', masterPriority: 200, since: now - 5_000, reason: 'Entering BACKUP STATE (init)', syncGroup: 'G1', counters: {} },
    ], true, now);
    assert.equal(text, [
      'Instance  Interface  VRID  Ver   State   Prio     Master         Since  Reason',
      'VI_1      eth1       51    3     MASTER  150      10.0.0.1 (us)  2m05s  Entering MASTER STATE (advertisement timeout)',
      '  tx 3',
      'VI_6      eth1       52    3/v6  BACKUP  90(100)  fe80::1 (200)  5s     Entering BACKUP STATE (init)',
      '  no packets yet; sync group G1',
      '',
    ].join('\n'));
    assert.deepEqual([ago(59_999), ago(3_600_000), ago(90_000_000)], ['59s', '1h00m', '1d01h']);
  });

  it('through the daemon: what the failover plugin reports, and a clear error without one', async function () {
    this.timeout(60_000);
    const dir = mkdtempSync(join(tmpdir(), 'lvsd-vrrp-ls-'));
    const run = async (socket: string, ...args: string[]) => {
      let out = '', err = '';
      const io: Io = { out: (s) => { out += s; }, err: (s) => { err += s; }, readStdin: async () => '' };
      const code = await lvsadm(['--socket', socket, ...args], 'lvsadm', io, ns);
      return { code, out, err };
    };
    const bare = new Daemon({ socket: join(dir, 'a.sock'), io: 'memory', pluginDirs: [], log: createLogger('error') });
    const fake = new Daemon({ socket: join(dir, 'b.sock'), io: 'memory', pluginDirs: [FIXTURE], log: createLogger('error') });
    try {
      await bare.start();
      const none = await run(join(dir, 'a.sock'), '-L', '--vrrp');
      assert.equal(none.code, 1);
      assert.match(none.err, /no failover runs in this lvsd: config.ts has no `vrrp`/);
      await fake.start();
      const r = await run(join(dir, 'b.sock'), '-L', '--vrrp', '--stats');
      assert.equal(r.code, 0, r.err);
      assert.match(r.out, /^VI_1 +eth1 +51 +3 +BACKUP +50\(150\) +10\.0\.0\.2 \(100\) +1m0[56]s +Entering BACKUP STATE$/m);
      assert.match(r.out, /rx 7, rx-accepted 7; sync group G1/);
    } finally {
      await bare.stop(); await fake.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
