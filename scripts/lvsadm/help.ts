// lvsadm's own help and version text. The help covers ipvsadm's commands and
// options in ipvsadm's order, in lvsadm's words.

export const LVSADM_VERSION = '0.1.0';
export const LVSADM_DATE = '2026/11/23';

/** The one-line form ipvsadm uses, naming the IPVS version lvsadm speaks. */
export function versionLine(): string {
  return `lvsadm v${LVSADM_VERSION} ${LVSADM_DATE} (compiled with tsx and IPVS v1.2.1)\n`;
}

export function helpText(prog: string): string {
  const p = prog;
  return `${versionLine()}Usage:
  ${p} -A|E virtual-service [-s scheduler] [-p [timeout]] [-M netmask] [--pe engine] [-b sched-flags]
  ${p} -D virtual-service
  ${p} -C
  ${p} -R
  ${p} -S [-n]
  ${p} -a|e virtual-service -r server-address [options]
  ${p} -d virtual-service -r server-address
  ${p} -L|l [virtual-service] [options]
  ${p} -Z [virtual-service]
  ${p} --set tcp tcpfin udp
  ${p} --start-daemon {master|backup} [daemon-options]
  ${p} --stop-daemon {master|backup}
  ${p} -h

Commands (long or short form):
  --add-service     -A     create a virtual service
  --edit-service    -E     redefine a virtual service (unset options go back to defaults)
  --delete-service  -D     remove a virtual service and its real servers
  --clear           -C     remove every virtual service
  --restore         -R     run the commands read from standard input, one per line
  --save            -S     print the table as commands that --restore reads back
  --add-server      -a     add a real server to a virtual service
  --edit-server     -e     redefine a real server (unset options go back to defaults)
  --delete-server   -d     remove a real server
  --list            -L|-l  show the table, one service, connections, timeouts or daemons
  --zero            -Z     reset the counters of one service, or of all of them
  --set tcp tcpfin udp     set the TCP, TCP FIN_WAIT and UDP timeouts (seconds, 0 = keep)
  --start-daemon           start the connection sync daemon as master or backup
  --stop-daemon            stop the connection sync daemon
  --help            -h     print this text

virtual-service:
  --tcp-service|-t  host[:port]    a TCP service
  --udp-service|-u  host[:port]    a UDP service
  --sctp-service    host[:port]    an SCTP service
  --fwmark-service|-f mark         packets carrying firewall mark 'mark' (1 or more)

Options:
  --ipv6         -6               the fwmark service is IPv6 (give it after -f)
  --scheduler    -s name          rr|wrr|lc|wlc|lblc|lblcr|dh|sh|sed|nq|fo|ovf|mh and plugins;
                                  wlc when not given
  --pe           engine           persistence engine (sip); none when not given
  --persistent   -p [seconds]     keep a client on the same real server (360 s when no value)
  --netmask      -M mask          group clients by this mask for persistence (IPv4 dotted or IPv6 length)
  --real-server  -r host[:port]   the real server (the service's port when none given)
  --gatewaying   -g               forward by direct routing (the default)
  --ipip         -i               forward through a tunnel
  --masquerading -m               forward by NAT
  --tun-type     type             ipip|gue|gre, ipip when not given
  --tun-port     port             the tunnel's destination port (gue)
  --tun-nocsum                    tunnel without checksum
  --tun-csum                      tunnel with checksum
  --tun-remcsum                   tunnel with remote checksum offload
  --weight       -w weight        the real server's share (1 when not given)
  --u-threshold  -x count         stop sending new connections above this many
  --l-threshold  -y count         resume below this many
  --connection   -c               list the connection entries
  --timeout                       list the timeouts (tcp tcpfin udp)
  --daemon                        list the sync daemons
  --stats                         list counters
  --rate                          list rates
  --exact                         print counters and rates in full
  --thresholds                    list thresholds
  --persistent-conn               list persistent connections
  --tun-info                      list tunnel settings
  --nosort                        list in the daemon's order, unsorted
  --sort                          sort the listing (always done; kept for scripts)
  --ops          -o               one-packet scheduling (UDP and fwmark services)
  --numeric      -n               print addresses and ports as numbers
  --sched-flags  -b flags         scheduler flags, comma-separated (flag-1..3, sh-fallback,
                                  sh-port, mh-fallback, mh-port)
Daemon Options:
  --syncid id                     sync id, 0..255 (0 when not given)
  --sync-maxlen length            largest sync message (from the interface MTU when not given)
  --mcast-interface name          interface the sync messages use (eth0 when not given)
  --mcast-group address           IPv4 or IPv6 multicast group (224.0.0.81 when not given)
  --mcast-port port               UDP port (8848 when not given)
  --mcast-ttl ttl                 multicast TTL (1 when not given)

lvsd's own commands (not in ipvsadm):
  --drain   virtual-service -r server [--deadline S]  stop new connections; remove the real
                                  server when its connections end (or after S seconds)
  --fill    virtual-service -r server [--deadline S]  slow start: ramp the weight up over S
                                  seconds (the configured slowStart when not given)
  --disable virtual-service -r server                 take the real server out now
  --enable  virtual-service -r server                 put it back
  -L --health [-n] [virtual-service]                  health, lifecycle and quorum listing
  -L --drops [--per-worker]                           the data plane's drop reasons and I/O
                                  counters since lvsd started (each worker's with --per-worker)
  -L --vrrp [--stats]                                 failover (VRRP) instances: state, priority,
                                  master, last transition (packet counters with --stats)

lvsadm talks to lvsd over its control socket: --socket PATH, else $LVSD_SOCKET,
else /run/lvsd/lvsd.sock.
`;
}
