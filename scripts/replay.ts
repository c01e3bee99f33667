// `lvsd replay --config FILE --in IN.pcap --out OUT.pcap [--explain]`: the
// frames of a capture through the pipeline on the memory wire, with the
// clock taken from the capture's timestamps. Every transmitted frame goes to
// OUT.pcap (stamped with the time of the frame that caused it); at the end
// the final state is printed as `lvsadm -L -n --stats` and `-L -n -c` print it.

import { readFileSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { prepareConfig } from '../core/config/check.js';
import { applyPlan, planDiff } from '../core/config/diff.js';
import { FrameBatch, TxBatch } from '../core/engine/batch.js';
import { Engine } from '../core/engine/engine.js';
import { MemoryWire } from '../core/engine/io/memory.js';
import { dataPlanePlugins } from '../core/engine/runner.js';
import { CONN_TAB_SIZE, IPVS_VERSION, ServiceTable } from '../core/model/table.js';
import { isPcapError, LINKTYPE_ETHERNET, PcapWriter, readPcap } from '../core/packet/pcap.js';
import { connLines, listAll, NUMERIC } from './lvsadm/format.js';
import type { ListFormat } from './lvsadm/parse.js';

const USAGE = 'usage: lvsd replay --config FILE --in IN.pcap --out OUT.pcap [--explain] [--plugins DIR]...\n';

const FMT: ListFormat = {
  numeric: true, stats: false, rate: false, thresholds: false, persistentConn: false, nosort: false, exact: false, tunInfo: false,
};

export interface ReplayIo { out(s: string): void; err(s: string): void }

export async function replayMain(argv: string[], io: ReplayIo = {
  out: (s) => process.stdout.write(s), err: (s) => process.stderr.write(s),
}): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv, allowPositionals: false, strict: true,
      options: {
        config: { type: 'string' }, in: { type: 'string' }, out: { type: 'string' },
        explain: { type: 'boolean', default: false }, plugins: { type: 'string', multiple: true, default: [] },
      },
    }));
  } catch (e) {
    io.err(`lvsd replay: ${(e as Error).message}\n${USAGE}`);
    return 2;
  }
  if (!values.config || !values.in || !values.out) { io.err(USAGE); return 2; }

  const prepared = await prepareConfig(values.config, values.plugins);
  if (!prepared.ok) { io.err(`${prepared.error}\n`); return 1; }
  const { desired, registry } = prepared;

  let input: Uint8Array;
  try { input = readFileSync(values.in); } catch (e) { io.err(`lvsd replay: ${(e as Error).message}\n`); return 1; }
  const pcap = readPcap(input);
  if (isPcapError(pcap)) { io.err(`lvsd replay: ${values.in}: not a pcap file (${pcap.error})\n`); return 1; }
  if (pcap.linktype !== LINKTYPE_ETHERNET) { io.err(`lvsd replay: ${values.in}: link type ${pcap.linktype}, only Ethernet (1) is supported\n`); return 1; }
  if (pcap.error) io.err(`lvsd replay: ${values.in}: ${pcap.error} after ${pcap.records.length} frames; replaying those\n`);

  const first = pcap.records[0];
  let now = first ? first.sec * 1000 + (pcap.nano ? first.frac / 1e6 : first.frac / 1e3) : 0;
  let rnd = 0x2545f491;
  const table = new ServiceTable({
    schedulers: (n) => registry.scheduler(n),
    forwarder: (m) => registry.forwarder(m),
    ctx: {
      now: () => now,
      // deterministic: a replay gives the same output every time
      randomU32: () => { rnd ^= rnd << 13; rnd ^= rnd >>> 17; rnd ^= rnd << 5; return rnd >>> 0; },
      log: (m) => { if (values.explain) io.out(`# ${m}\n`); },
    },
  });
  const applied = applyPlan(table, planDiff(null, desired));
  if (!applied.ok) { io.err(`${values.config}: ${applied.error}\n`); return 1; }
  const { forwarders, classifiers } = dataPlanePlugins(registry);
  const engine = new Engine({
    table, forwarders, classifiers, seed: 1,
    net: { interfaces: desired.interfaces, neighbors: desired.neighbors, gateways: desired.gateways ?? [] },
  });
  const wire = new MemoryWire(engine.net.ifaces);
  const writer = new PcapWriter({ nano: pcap.nano });
  let sec = 0, frac = 0, idx = 0;
  wire.onTransmit = (_ifname, frame) => writer.addRaw(frame, sec, frac);
  if (values.explain) {
    engine.explain = (line) => {
      const t = `${sec}.${String(frac).padStart(pcap.nano ? 9 : 6, '0')}`;
      io.out(`${idx} ${t} ${line || 'passed'}\n`);
    };
  }
  const rx = new FrameBatch(1);
  const tx = new TxBatch();
  for (const rec of pcap.records) {
    idx++;
    sec = rec.sec; frac = rec.frac;
    now = rec.sec * 1000 + (pcap.nano ? rec.frac / 1e6 : rec.frac / 1e3);
    // one frame per batch: every output frame carries its cause's timestamp, explain lines stay in order
    rx.clear();
    if (!rx.push(rec.data, 0, now)) {
      if (values.explain) io.out(`${idx} ${sec}.${frac} dropped: frame larger than a receive slot\n`);
      continue;
    }
    tx.clear();
    engine.process(rx, tx, now);
    wire.transmit(tx);
  }
  engine.advance(now);
  writeFileSync(values.out, writer.toBytes());
  // the estimator publishes rates every 2 s; totals are live, so the listing shows the final counters
  const info = { version: IPVS_VERSION, connTabSize: CONN_TAB_SIZE };
  io.out(listAll(info, table.snapshot(), { ...FMT, stats: true }, NUMERIC));
  io.out(connLines(engine.connViews(), FMT, NUMERIC));
  const drops = engine.dropCounts();
  if (Object.keys(drops).length > 0 && values.explain) {
    io.out(`# drops: ${Object.entries(drops).map(([k, v]) => `${k}=${v}`).join(' ')}\n`);
  }
  return 0;
}
