// A Client's outgoing QoS 1/2 publishes: queued in order, a window in flight, put back in order
// after a reconnect [MQTT-4.4.0-1], the QoS 2 exchange PUBREC → PUBREL → PUBCOMP [MQTT-4.3.3], and
// packet ids: the caller's (the spool numbers its messages) or picked from the client's own range.
import { ack, ReasonCode, type Properties, type QoS } from './codec.ts';
import type { Connection } from './connection.ts';

export interface OutMessage {
  topic: string;
  payload: Uint8Array;
  qos: QoS;
  retain: boolean;
  properties?: Properties;
}

/** For a publish whose packet id and progress are kept by the caller (the spool). */
export interface PublishOptions {
  packetId?: number;
  /** PUBREC came in an earlier run: only PUBREL is owed [MQTT-4.3.3]. */
  released?: boolean;
  /** Awaited after PUBREC and before PUBREL goes out, so that a restart knows not to publish again. */
  onPubrec?: () => Promise<unknown>;
}

interface Pending extends PublishOptions {
  msg: OutMessage;
  /** 'pubrec': PUBREC is in, PUBREL waits for onPubrec. */
  state: 'publish' | 'pubrec' | 'pubrel';
  sent?: boolean;
  resolve(reasonCode: number): void;
  reject(err: Error): void;
}

export interface OutboundParts {
  /** The packet ids this side picks itself. */
  ids(): { from: number; to: number };
  /** The connection to send on, if any. */
  conn(): Connection | undefined;
  /** Ids in use elsewhere (SUBSCRIBE/UNSUBSCRIBE waiting for their answer). */
  busy(id: number): boolean;
  /** Each PUBLISH as it goes on the wire. */
  wire(msg: OutMessage): void;
}

export class Outbound {
  /** How many may be in flight; the broker's Receive Maximum lowers it. */
  window = 16;
  private outbox: Pending[] = [];
  private inflight = new Map<number, Pending>();
  private nextId = 0;

  constructor(private readonly parts: OutboundParts) {}

  /** Queued and in flight. */
  get size(): number {
    return this.outbox.length + this.inflight.size;
  }

  /** Resolves with the PUBACK/PUBCOMP (or refusing PUBREC) reason code. */
  push(msg: OutMessage, opts: PublishOptions): Promise<number> {
    return new Promise((resolve, reject) => {
      this.outbox.push({ ...opts, msg, state: opts.released ? 'pubrel' : 'publish', resolve, reject });
      this.pump();
    });
  }

  pump(): void {
    const conn = this.parts.conn();
    while (conn && this.outbox.length > 0 && this.inflight.size < this.window) {
      const p = this.outbox[0];
      if (p.packetId !== undefined && this.inflight.has(p.packetId)) break; // the caller's id is still busy
      this.outbox.shift();
      p.packetId ??= this.allocateId();
      this.inflight.set(p.packetId, p);
      if (p.state === 'pubrel') conn.send(ack('pubrel', p.packetId));
      else {
        this.parts.wire(p.msg);
        conn.send({ type: 'publish', ...p.msg, packetId: p.packetId, dup: p.sent === true });
      }
      p.sent = true;
    }
  }

  /** After a reconnect: in-flight messages go back to the head of the outbox, in their original order. */
  requeue(sessionPresent: boolean): void {
    const again: Pending[] = [];
    for (const p of this.inflight.values()) {
      if (p.state === 'pubrel' && !sessionPresent) p.resolve(0); // the broker had it; its session is gone
      else again.push(p);
      if (p.state === 'pubrec') p.state = 'publish'; // PUBLISH again; the broker answers PUBREC again
    }
    this.inflight.clear();
    this.outbox.unshift(...again);
  }

  pubrec(conn: Connection, packetId: number, reasonCode: number): void {
    const p = this.inflight.get(packetId);
    if (!p || p.state !== 'publish') return;
    if (reasonCode >= 0x80) return this.complete(packetId, reasonCode);
    p.state = 'pubrec';
    const release = () => {
      if (p.state !== 'pubrec' || this.parts.conn() !== conn) return; // requeued: PUBLISH goes again
      p.state = 'pubrel';
      conn.send(ack('pubrel', packetId));
    };
    // If the caller cannot record it, PUBREL goes anyway: a restart may then deliver it twice, never lose it.
    if (p.onPubrec) void p.onPubrec().then(release, release);
    else release();
  }

  /** PUBACK, PUBCOMP, or a refusing PUBREC. */
  complete(packetId: number, reasonCode: number): void {
    const p = this.inflight.get(packetId);
    if (!p) return;
    // A PUBREL for an id the broker no longer holds: it had the message already [MQTT-4.3.3].
    if (p.state === 'pubrel' && reasonCode === ReasonCode.PacketIdentifierNotFound) reasonCode = 0;
    this.inflight.delete(packetId);
    p.resolve(reasonCode);
    this.pump();
  }

  failAll(err: Error): void {
    for (const p of [...this.inflight.values(), ...this.outbox.splice(0)]) p.reject(err);
    this.inflight.clear();
  }

  allocateId(): number {
    const { from, to } = this.parts.ids();
    for (let i = 0; i <= to - from; i++) {
      this.nextId = this.nextId >= to || this.nextId < from ? from : this.nextId + 1;
      const id = this.nextId;
      if (!this.inflight.has(id) && !this.parts.busy(id) && !this.outbox.some((p) => p.packetId === id)) return id;
    }
    throw new Error('no free packet identifier');
  }
}
