// A working example: one NAT web service with two real servers and a DR
// real server, and a UDP DNS service. Edit it while lvsd runs: the change is
// applied as a diff (try changing a weight, then `lvsadm -L -n`).
import { defineConfig } from 'lvsd';

const webReals = ['192.168.10.8', '192.168.10.9'];

export default defineConfig({
  interfaces: ['eth0'],
  timeouts: { tcp: 900, tcpfin: 120, udp: 300 },
  services: [
    {
      protocol: 'tcp', address: '172.16.100.1', port: 80,
      scheduler: 'wrr', persistence: { timeout: 300, netmask: '255.255.255.0' },
      forward: 'nat',
      reals: [
        ...webReals.map((address, i) => ({ address, port: 80, weight: 3 - i * 2 })),
        { address: '192.168.10.10', weight: 1, forward: 'dr' as const },
      ],
    },
    {
      protocol: 'udp', address: '172.16.100.1', port: 53, scheduler: 'rr', forward: 'nat',
      reals: [{ address: '192.168.10.53', port: 53 }],
    },
  ],
});
