// `lvsd replay --explain`: what the pipeline did with each frame, as one
// line ("service TCP 10.0.0.1:80, scheduler rr → 10.0.1.2:80, dr → … on eth0").
// The engine holds an ExplainTrace only while a sink is set, so the packet
// path pays one null check per step when nobody asks, and all the text is
// made here.

import type { Dest, Service } from '../model/table.js';
import type { FwdLink } from '../plugin.js';
import { ENGINE_DROP_NAMES } from './drops.js';
import type { Net } from './net.js';

/** One line per frame for `lvsd replay --explain`. */
export type ExplainSink = (line: string) => void;

export class ExplainTrace {
  /** The current frame's line so far. */
  private note = '';

  constructor(readonly sink: ExplainSink) {}

  say(text: string): void {
    this.note += this.note ? `, ${text}` : text;
  }

  /** The frame was dropped for `reason` (a drops.ts index). */
  drop(reason: number): void {
    this.say(`dropped: ${ENGINE_DROP_NAMES[reason]}`);
  }

  /** A bug caught for this frame: the line says only that. */
  internal(e: unknown): void {
    this.note = `internal error: ${(e as Error).message}`;
  }

  /** The frame is done: its line goes to the sink. */
  end(): void {
    this.sink(this.note);
    this.note = '';
  }

  service(svc: Service, v6: boolean): void {
    this.say(`service ${svc.fwmark ? `FWM ${svc.fwmark}` : `${svc.protocol.toUpperCase()} ${v6 ? `[${svc.addr}]` : svc.addr}:${svc.port}`}`);
  }

  /** The scheduler's pick (`how`: '' or ' (new template)'). */
  scheduled(svc: Service, dest: Dest, how: string): void {
    this.say(`scheduler ${svc.spec.scheduler} → ${dest.addr}:${dest.port}${how}`);
  }

  template(dest: Dest): void {
    this.say(`persistence template → ${dest.addr}:${dest.port}`);
  }

  /** Forwarder `name` sent the frame on `link`. */
  sent(name: string, link: FwdLink, net: Net): void {
    this.say(`${name} → ${Array.from(link.mac, (x) => x.toString(16).padStart(2, '0')).join(':')} on ${net.ifaces[link.port]?.name ?? link.port}`);
  }
}
