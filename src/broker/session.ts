// A connected client's flows: queued and in-flight QoS 1/2 messages out, packet ids, the Receive
// Maximum window [MQTT-4.9.0-1], redelivery with DUP on resume [MQTT-4.4.0-1], and the QoS 2
// packet ids received and not yet released. Every change is written through to the session's
// store before the event's output leaves: SQLite for a persistent session, memory (with
// snapshots, clean-flows.ts) for one that ends with its connection.
import { Fifo } from './fifo.ts';
import type { DropReason } from './hooks.ts';
import type { Message, OutboundMessage, SessionStore } from './ports.ts';

/** What a session needs from the connection it is delivering over. */
export interface Outlet {
  /** Client's Receive Maximum (3.x: the configured in-flight window). */
  readonly window: number;
  /** False when the message was not sent (too large for the client [MQTT-3.1.2-25]). */
  sendPublish(entry: OutboundMessage, dup: boolean): boolean;
  sendPubrel(packetId: number, reasonCode?: number): void;
  dropped(reason: DropReason): void;
  now(): number;
}

export class Session {
  readonly clientId: string;
  private readonly inflight = new Map<number, OutboundMessage>();
  private readonly queue = new Fifo<OutboundMessage>();
  private lastPacketId = 0;
  private readonly store: SessionStore;
  /** Most messages held beyond the in-flight window. */
  private readonly maxQueued: number;

  constructor(clientId: string, store: SessionStore, maxQueued: number) {
    this.clientId = clientId;
    this.store = store;
    this.maxQueued = maxQueued;
    for (const entry of store.outbound(clientId)) {
      if (entry.state === 'queued' || entry.packetId === undefined) this.queue.push(entry);
      else this.inflight.set(entry.packetId, entry);
    }
  }

  /** Sends a QoS 1/2 message when the window allows, else queues it; stored either way. */
  enqueue(message: Message, subscriptionIdentifiers: number[] | undefined, out: Outlet): void {
    if (this.queue.length || this.inflight.size >= out.window) {
      if (this.queue.length >= this.maxQueued) return out.dropped('queue-full');
      const entry: Omit<OutboundMessage, 'seq'> = { message, subscriptionIdentifiers, state: 'queued' };
      this.queue.push({ ...entry, seq: this.store.enqueue(this.clientId, entry) });
      return;
    }
    const entry: OutboundMessage = { seq: 0, message, subscriptionIdentifiers, packetId: this.allocate(), state: 'sent' };
    if (!this.send(entry, out)) return;
    entry.seq = this.store.enqueue(this.clientId, entry);
    this.inflight.set(entry.packetId!, entry);
  }

  /** Resends what was in flight, in order, then fills the window [MQTT-4.4.0-1]. */
  resume(out: Outlet): void {
    const entries = [...this.inflight.values()].sort((a, b) => a.seq - b.seq);
    for (const e of entries) {
      if (e.state === 'released') out.sendPubrel(e.packetId!);
      else if (!out.sendPublish(e, true)) this.finish(e);
    }
    this.pump(out);
  }

  puback(packetId: number, out: Outlet): void {
    const e = this.inflight.get(packetId);
    if (e?.message.qos !== 1) return;
    this.finish(e);
    this.pump(out);
  }

  pubrec(packetId: number, reasonCode: number, out: Outlet): void {
    const e = this.inflight.get(packetId);
    if (!e || e.message.qos !== 2) return out.sendPubrel(packetId, 0x92); // [MQTT-3.6.2.1] not found
    if (reasonCode >= 0x80) return void (this.finish(e), this.pump(out)); // [MQTT-4.3.3-4] ends the flow
    e.state = 'released';
    this.store.updateOutbound(this.clientId, e.seq, { packetId, state: 'released' });
    out.sendPubrel(packetId);
  }

  pubcomp(packetId: number, out: Outlet): void {
    const e = this.inflight.get(packetId);
    if (e?.state !== 'released') return;
    this.finish(e);
    this.pump(out);
  }

  /** A QoS 2 PUBLISH from the client was accepted: its id is held until PUBREL [MQTT-4.3.3-9]. */
  received(packetId: number): void {
    this.store.addIncoming(this.clientId, packetId);
  }

  hasReceived(packetId: number): boolean {
    return this.store.hasIncoming(this.clientId, packetId);
  }

  /** PUBREL: forgets the id; false when it was not held. */
  released(packetId: number): boolean {
    if (!this.store.hasIncoming(this.clientId, packetId)) return false;
    this.store.deleteIncoming(this.clientId, packetId);
    return true;
  }

  private pump(out: Outlet): void {
    while (this.queue.length && this.inflight.size < out.window) {
      const e = this.queue.shift()!;
      e.packetId = this.allocate();
      e.state = 'sent';
      if (!this.send(e, out)) {
        this.store.deleteOutbound(this.clientId, e.seq);
        continue;
      }
      this.store.updateOutbound(this.clientId, e.seq, { packetId: e.packetId, state: 'sent' });
      this.inflight.set(e.packetId, e);
    }
  }

  /** Sends unless expired [MQTT-3.3.2-5] or too large for the client; false when dropped. */
  private send(e: OutboundMessage, out: Outlet): boolean {
    if (e.message.expiresAt !== undefined && e.message.expiresAt <= out.now()) {
      out.dropped('expired');
      return false;
    }
    return out.sendPublish(e, false);
  }

  private finish(e: OutboundMessage): void {
    this.inflight.delete(e.packetId!);
    this.store.deleteOutbound(this.clientId, e.seq);
  }

  /** Next free packet id, 1..65535 [MQTT-2.3.1-2]. */
  private allocate(): number {
    do this.lastPacketId = (this.lastPacketId % 0xffff) + 1;
    while (this.inflight.has(this.lastPacketId));
    return this.lastPacketId;
  }
}
