// A process that drives plugins/ha/lib/vrrp-net.ts inside a network namespace
// for test/vrrp-net.test.ts: JSON commands on stdin, one per line, JSON events
// on stdout. Bytes travel as hex. When stdin ends (or on {cmd:'quit'}) it
// closes what it opened and lets the process end by itself — it never calls
// process.exit, so a left-over fd, thread or timer shows as a process that
// does not exit.

import { readdirSync } from 'node:fs';
import { createInterface } from 'node:readline';
import {
  addAddress, createVmac, deleteAddress, deleteVmac, hasAddress, linkInfo, openChannel,
  sendGratuitousArp, sendUnsolicitedNa, type NetResult, type VrrpChannel,
} from '../plugins/ha/lib/vrrp-net.js';

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const unhex = (s: string) => new Uint8Array(Buffer.from(s, 'hex'));
const out = (o: object) => process.stdout.write(JSON.stringify(o) + '\n');
const fds = () => readdirSync('/proc/self/fd').length;

function res<T>(r: NetResult<T>): object {
  return r.ok ? { ok: true, value: r.value } : { ok: false, errno: r.error.errno, what: r.error.what, message: r.error.message };
}

const channels = new Map<string, VrrpChannel>();

interface Cmd {
  id?: number; cmd: string; name?: string; ifname?: string; family?: 4 | 6; group?: string;
  hex?: string; src?: string; dst?: string; addr?: string; prefix?: number; count?: number; vrid?: number;
}

/**
 * Latency from send4 on one channel to onPacket on another (two ends of a veth
 * pair in this process, so both times come from one clock): n adverts, one
 * every 5 ms; the latencies in ms.
 */
async function latency(tx: string, rx: string, n: number): Promise<object> {
  const sentAt = new Map<number, number>();
  const lat: number[] = [];
  const r = openChannel({ ifname: rx, family: 4, onPacket: (p) => {
    const id = (p.data[4]! << 8) | p.data[5]!;
    const t = sentAt.get(id);
    if (t !== undefined) lat.push(performance.now() - t);
  } });
  if (!r.ok) return res(r);
  const s = openChannel({ ifname: tx, family: 4, onPacket: () => {} });
  if (!s.ok) { r.value.close(); return res(s); }
  for (let i = 1; i <= n; i++) {
    const d = new Uint8Array(Buffer.from('45c0002000000000ff700000c612000be00000123133960100640000c6120064', 'hex'));
    d[4] = i >> 8; d[5] = i & 0xff;
    sentAt.set(i, performance.now());
    const x = s.value.send4(d);
    if (!x.ok) { r.value.close(); s.value.close(); return res(x); }
    await new Promise((res) => setTimeout(res, 5));
  }
  await new Promise((res) => setTimeout(res, 100));
  r.value.close(); s.value.close();
  return { ok: true, value: lat };
}

function handle(c: Cmd): object | Promise<object> {
  switch (c.cmd) {
    case 'open': {
      const name = c.name ?? 'ch';
      const r = openChannel({
        ifname: c.ifname!, family: c.family!, ...(c.group ? { group: c.group } : {}),
        onPacket: (p) => out({ ev: 'packet', ch: name, hex: hex(p.data), ifindex: p.ifindex, t: performance.now() }),
        onError: (e) => out({ ev: 'error', ch: name, errno: e.errno, message: e.message }),
      });
      if (r.ok) channels.set(name, r.value);
      return res(r);
    }
    case 'send4': return res(channels.get(c.name ?? 'ch')!.send4(unhex(c.hex!)));
    case 'send6': return res(channels.get(c.name ?? 'ch')!.send6(unhex(c.hex!), c.src!, c.dst!));
    case 'close': {
      const ch = channels.get(c.name ?? 'ch');
      ch?.close(); ch?.close(); // twice: harmless
      channels.delete(c.name ?? 'ch');
      return { ok: true };
    }
    case 'stats': return { ok: true, value: channels.get(c.name ?? 'ch')?.stats };
    case 'link': {
      const l = linkInfo(c.ifname!);
      return { ok: true, value: l && { ...l, mac: hex(l.mac) } };
    }
    case 'add': return res(addAddress(c.ifname!, c.addr!, c.prefix!));
    case 'del': return res(deleteAddress(c.ifname!, c.addr!, c.prefix!));
    case 'has': return { ok: true, value: hasAddress(c.ifname!, c.addr!) };
    case 'garp': return res(sendGratuitousArp(c.ifname!, c.addr!, c.count!));
    case 'na': return res(sendUnsolicitedNa(c.ifname!, c.addr!, c.count!));
    case 'vmac': return res(createVmac(c.ifname!, c.vrid!, c.family!, c.name));
    case 'unvmac': return res(deleteVmac(c.name!));
    case 'fds': return { ok: true, value: fds() };
    case 'cpu': { const u = process.cpuUsage(); return { ok: true, value: (u.user + u.system) / 1000 }; }
    case 'reopen': {
      // the first packet closes this channel from inside onPacket and opens 'r2' in its place
      const r = openChannel({
        ifname: c.ifname!, family: 4,
        onPacket: (p) => {
          out({ ev: 'packet', ch: 'r1', hex: hex(p.data), ifindex: p.ifindex });
          const me = channels.get('r1');
          if (!me) return;
          me.close();
          channels.delete('r1');
          const r2 = openChannel({ ifname: c.ifname!, family: 4, onPacket: (q) => out({ ev: 'packet', ch: 'r2', hex: hex(q.data), ifindex: q.ifindex }) });
          if (r2.ok) channels.set('r2', r2.value);
          out({ ev: 'reopened', ...res(r2) });
        },
      });
      if (r.ok) channels.set('r1', r.value);
      return res(r);
    }
    case 'latency': return latency(c.ifname!, c.name!, c.count!);
    default: return { ok: false, message: `unknown command ${c.cmd}` };
  }
}

const rl = createInterface({ input: process.stdin });
const finish = () => {
  for (const ch of channels.values()) ch.close();
  channels.clear();
  rl.close();
  process.stdin.destroy();
  out({ ev: 'bye' });
};
rl.on('line', (line) => {
  const c = JSON.parse(line) as Cmd;
  if (c.cmd === 'quit') { finish(); return; }
  let r: object | Promise<object>;
  try { r = handle(c); } catch (e) { r = { ok: false, threw: String(e) }; }
  void Promise.resolve(r).then((v) => out({ ev: 'reply', id: c.id, ...v }), (e: unknown) => out({ ev: 'reply', id: c.id, ok: false, threw: String(e) }));
});
rl.on('close', () => { if (channels.size) finish(); });
out({ ev: 'ready', fds: fds() });
