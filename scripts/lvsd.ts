// lvsd: the daemon, plus its offline tools (--check, sched-trace, replay).

import { parseArgs } from 'node:util';
import { dropCapabilities } from '../core/security/caps.js';
import { readFileSync } from 'node:fs';
import { Daemon, type IoKind } from '../core/daemon.js';
import { socketPath } from '../core/control/protocol.js';
import { createLogger, type LogLevel } from '../core/log.js';
import { checkConfigFile } from '../core/config/check.js';
import { removeRuntime } from '../core/model/runtime-saved.js';
import { PACKAGE_ROOT } from '../core/paths.js';
import { dirname, join } from 'node:path';
import { rmSync } from 'node:fs';
import { createConnection } from 'node:net';
import { nftRemoveSync } from '../core/nft.js';
import { removeAllSnapshots } from '../core/conn/snapshot.js';
import { countersPath } from '../core/stats/saved.js';

const VERSION = (JSON.parse(readFileSync(join(PACKAGE_ROOT, 'package.json'), 'utf8')) as { version: string }).version;

const HELP = `lvsd ${VERSION} - Linux Virtual Server director in userspace

Usage:
  lvsd [--config FILE] [--socket PATH] [--io memory|afpacket] [--plugins DIR]... [--log-level LEVEL] [--keep-capabilities]
      Run the director. Without --config it starts with an empty table that
      lvsadm fills, as the kernel's IPVS is filled by ipvsadm. The config file
      is watched (with every file it imports) and re-applied as a diff when it
      changes; SIGHUP reloads it too; SIGTERM exits (restart-safe:
      connections and counters are saved, the kernel takeover stays). A
      reload applies the difference between the file and the running table:
      what the file declares is put back as declared, whatever lvsadm did in
      between. One --io afpacket lvsd per network namespace: a second one
      exits with status 1, naming the running one, having touched nothing.
  lvsd --release [--socket PATH]
      After stopping lvsd for good: give its VIPs back to the kernel (delete
      the nftables table netdev lvsd, which a stop or crash leaves so that a
      restarted lvsd keeps every connection) and forget the saved connections
      and counters (README "Restarts").
  lvsd --check FILE [--plugins DIR]...
      Validate a config and print what applying it to an empty table would do.
  lvsd replay --config FILE --in IN.pcap --out OUT.pcap [--explain]
      Run a capture's frames through the pipeline on the memory wire (clock
      from the capture), write what the director sends to OUT.pcap, print the
      final --stats listing and connection entries.
  lvsd sched-trace FILE.json|-
      Run one scheduler over a scripted scenario and print each decision.

Options:
  --config FILE     the operator's config.ts
  --socket PATH     control socket (default $LVSD_SOCKET or /run/lvsd/lvsd.sock)
  --io KIND         packet I/O: memory (in-process wire, no root) or afpacket
  --plugins DIR     an extra plugin folder (repeatable)
  --log-level L     debug, info (default), warn, error
  --keep-capabilities  as root, do not drop capabilities once started (by
                    default only cap_net_admin, cap_net_raw, cap_setuid,
                    cap_setgid and cap_kill are kept; see README "Security")
  -h, --help        this text
  -v, --version     the version
`;

function fail(msg: string, code = 2): never {
  process.stderr.write(`lvsd: ${msg}\n`);
  process.exit(code);
}

async function main(argv: string[]): Promise<void> {
  if (argv[0] === 'replay') {
    const { replayMain } = await import('./replay.js');
    process.exitCode = await replayMain(argv.slice(1));
    return;
  }
  if (argv[0] === 'sched-trace') {
    const { schedTraceMain } = await import('./sched-trace.js');
    process.exitCode = await schedTraceMain(argv.slice(1));
    return;
  }
  let values;
  try {
    ({ values } = parseArgs({
      args: argv, allowPositionals: false, strict: true,
      options: {
        config: { type: 'string' }, socket: { type: 'string' }, io: { type: 'string', default: 'memory' },
        plugins: { type: 'string', multiple: true, default: [] }, check: { type: 'string' }, release: { type: 'boolean' },
        'log-level': { type: 'string', default: 'info' }, 'keep-capabilities': { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h' }, version: { type: 'boolean', short: 'v' },
      },
    }));
  } catch (e) {
    fail(`${(e as Error).message}\nTry 'lvsd --help'.`);
  }
  if (values.help) { process.stdout.write(HELP); return; }
  if (values.version) { process.stdout.write(`lvsd ${VERSION} (IPVS 1.2.1 compatible)\n`); return; }
  const level = values['log-level'];
  if (!['debug', 'info', 'warn', 'error'].includes(level)) fail(`--log-level must be debug, info, warn or error`);
  const log = createLogger(level as LogLevel);

  if (values.check !== undefined) {
    const r = await checkConfigFile(values.check, values.plugins);
    if (!r.ok) { process.stderr.write(`${r.error}\n`); process.exitCode = 1; return; }
    process.stdout.write(`${values.check}: valid\n${r.plan}\n`);
    return;
  }
  if (values.release) {
    if (process.getuid?.() !== 0) fail('--release needs root (it deletes the nftables table netdev lvsd)', 1);
    const sock = socketPath(values.socket);
    // a running lvsd would forward on without its takeover (the kernel answering its VIPs too)
    const live = await new Promise<boolean>((res) => {
      const c = createConnection(sock);
      c.once('connect', () => { c.destroy(); res(true); });
      c.once('error', () => res(false));
    });
    if (live) fail(`lvsd is running on ${sock}: stop it first (or empty its table with lvsadm -C: the kernel then answers the VIPs again)`, 1);
    const dir = dirname(sock);
    const removed = nftRemoveSync();
    removeAllSnapshots(dir);
    rmSync(countersPath(dir), { force: true });
    removeRuntime(dir);
    process.stdout.write(`${removed ? 'nftables table netdev lvsd deleted: the kernel answers the VIPs again' : 'no nftables table netdev lvsd'}; saved connections, counters and run-time services in ${dir} removed\n`);
    return;
  }
  const io = values.io;
  if (io !== 'memory' && io !== 'afpacket') fail(`--io must be memory or afpacket (got ${io})`);

  const daemon = new Daemon({
    configFile: values.config, socket: socketPath(values.socket), io: io as IoKind,
    pluginDirs: values.plugins, log,
  });
  // the data-plane workers drop their own capabilities once their rings are open, unless told to keep them
  if (values['keep-capabilities']) process.env.LVSD_KEEP_CAPABILITIES = '1';
  try {
    await daemon.start();
  } catch (e) {
    fail((e as Error).message, 1);
  }
  // Sockets, rings and the data plane are open: keep only what running needs (README "Security").
  if (!values['keep-capabilities'] && process.geteuid?.() === 0) {
    const r = dropCapabilities();
    if (r.ok) log.info(`capabilities: kept ${r.kept.join(', ')}; the rest dropped (--keep-capabilities keeps all)`);
    else log.warn(`capabilities: could not drop them, lvsd keeps all: ${r.error}`);
  }
  let stopping = false;
  const stop = (sig: string) => {
    if (stopping) return;
    stopping = true;
    log.info(`${sig}: shutting down`);
    void daemon.stop().then(() => process.exit(0));
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGHUP', () => { log.info('SIGHUP: reloading config'); void daemon.reload(); });
}

await main(process.argv.slice(2));
