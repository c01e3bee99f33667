// `npm run lab` (root): the quickest way to see lvsd forward real traffic.
// Builds the namespace lab (scripts/lab-net.ts), runs lvsd --io afpacket in
// the director namespace, sends HTTP requests through the NAT, DR and TUN
// services (and UDP through NAT), prints how many each real server answered
// and `lvsadm -L -n --stats`, and tears everything down, also on failure or
// a signal. Leftovers of a crashed run are removed first.

import { Lab, VIP, cleanupStale, labConfig, labUnavailable, ensureNft } from './lab-net.js';

ensureNft((l) => process.stdout.write(`lab: ${l}\n`));
const why = labUnavailable();
if (why) { process.stderr.write(`lab: ${why}\n`); process.exit(1); }
const stale = cleanupStale();
if (stale.length) process.stdout.write(`removed leftovers of a crashed run: ${stale.join(' ')}\n`);

const lab = new Lab();
let tearing: Promise<void> | null = null;
const teardown = (): Promise<void> => (tearing ??= lab.teardown());
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.on(sig, () => { process.stderr.write(`lab: ${sig}, tearing down\n`); void teardown().then(() => process.exit(130)); });
}

let failed = false;
try {
  process.stdout.write(`building namespaces ${lab.c} ${lab.d} ${lab.r.join(' ')}\n`);
  await lab.build();
  await lab.startDaemon(lab.writeConfig(labConfig(lab, { workers: Number(process.env.LAB_WORKERS ?? 1) })));
  process.stdout.write(`lvsd running in ${lab.d} (io afpacket)\n\n`);
  for (const [method, vip] of [['NAT', VIP.nat], ['DR', VIP.dr], ['TUN', VIP.tun]] as const) {
    const r = lab.http(`http://${vip}/`, 30, 4, true);
    process.stdout.write(`${method.padEnd(4)} http://${vip}/ x30: ${JSON.stringify(r)}\n`);
    if ((r.errors ?? 0) > 0 || Object.keys(r).length < 2) failed = true;
  }
  const u = lab.udp(VIP.nat, 7000, 9);
  process.stdout.write(`UDP  ${VIP.nat}:7000 x9: ${JSON.stringify(u)}\n\n`);
  await new Promise((r) => setTimeout(r, 600)); // one counter report from the workers
  process.stdout.write(`# lvsadm -L -n --stats\n${lab.lvsadm('-L', '-n', '--stats')}\n`);
  process.stdout.write(`# lvsadm -L -n -c (live entries)\n${lab.lvsadm('-L', '-n', '-c').split('\n').slice(0, 12).join('\n')}\n`);
} catch (e) {
  failed = true;
  process.stderr.write(`lab failed: ${(e as Error).message}\n--- lvsd log ---\n${lab.daemonLog}\n`);
} finally {
  await teardown();
  process.stdout.write('lab torn down\n');
}
process.exit(failed ? 1 : 0);
