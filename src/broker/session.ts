// A connected client's flows: queued and in-flight QoS 1/2 messages out, packet ids, the Receive
// Maximum window [MQTT-4.9.0-1], redelivery with DUP on resume [MQTT-4.4.0-1], and the QoS 2
// packet ids received and not yet released. Every change is written through to the session's
// store before the event's output leaves: SQLite for a persistent session, memory (with
// snapshots, clean-flows.ts) for one that ends with its connection. The session holds each
// message's place, not the message: a message is read from the store when it is sent, so a long
// queue stays in SQLite.
import { Fifo } from './fifo.ts';
import type { DropReason } from './hooks.ts';
import type { Message, OutboundMessage, OutboundPlace, SessionStore } from './ports.ts';

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

export interface SessionLimits {
  /** Messages held beyond the in-flight window (MQTT_MAX_QUEUED_MESSAGES). */
  messages: number;
  /** Payload bytes held queued and in flight (MQTT_MAX_QUEUED_BYTES). */
  bytes: number;
  /** Payload bytes every session on the same store holds, and their most (MQTT_MAX_QUEUED_BYTES_TOTAL). */
  shared?: { held(): number; max: number };
}

/** A message's place in the flow; the message itself stays in the store until it is sent. */
type Flow = OutboundPlace;

const flow = (e: OutboundMessage): Flow => ({ seq: e.seq, packetId: e.packetId, state: e.state, qos: e.message.qos, bytes: e.message.payload.length });

export class Session {
  readonly clientId: string;
  private readonly inflight = new Map<number, Flow>();
  private readonly queue = new Fifo<Flow>();
  private lastPacketId = 0;
  private readonly store: SessionStore;
  /** Most messages held beyond the in-flight window, and most payload bytes held queued and in flight. */
  private readonly limits: SessionLimits;
  /** Payload bytes of the messages queued and in flight. */
  private bytes = 0;

  constructor(clientId: string, store: SessionStore, limits: SessionLimits) {
    this.clientId = clientId;
    this.store = store;
    this.limits = limits;
    for (const f of store.outboundPlaces(clientId)) { // places only: a long queue stays in the store
      this.bytes += f.bytes;
      if (f.state === 'queued' || f.packetId === undefined) this.queue.push(f);
      else this.inflight.set(f.packetId, f);
    }
  }

  /** Sends a QoS 1/2 message when the window allows, else queues it; stored either way. */
  enqueue(message: Message, subscriptionIdentifiers: number[] | undefined, out: Outlet): void {
    const { bytes, shared } = this.limits;
    if (this.bytes + message.payload.length > bytes) return out.dropped('queue-full');
    if (shared && shared.held() + message.payload.length > shared.max) return out.dropped('queue-full');
    if (this.queue.length || this.inflight.size >= out.window) {
      if (this.queue.length >= this.limits.messages) return out.dropped('queue-full');
      const entry: Omit<OutboundMessage, 'seq'> = { message, subscriptionIdentifiers, state: 'queued' };
      const queued = flow({ ...entry, seq: this.store.enqueue(this.clientId, entry) });
      this.bytes += queued.bytes;
      this.queue.push(queued);
      return;
    }
    const entry: OutboundMessage = { seq: 0, message, subscriptionIdentifiers, packetId: this.allocate(), state: 'sent' };
    if (!this.send(entry, out)) return;
    entry.seq = this.store.enqueue(this.clientId, entry);
    const sent = flow(entry);
    this.inflight.set(sent.packetId!, sent);
    this.bytes += sent.bytes;
  }

  /** Resends what was in flight, in order, from the store, then fills the window [MQTT-4.4.0-1]. */
  resume(out: Outlet): void {
    const flows = [...this.inflight.values()].sort((a, b) => a.seq - b.seq);
    for (const f of flows) {
      if (f.state === 'released') {
        out.sendPubrel(f.packetId!);
        continue;
      }
      const e = this.store.outboundEntry(this.clientId, f.seq);
      if (!e || !out.sendPublish(e, true)) this.finish(f);
    }
    this.pump(out);
  }

  puback(packetId: number, out: Outlet): void {
    const f = this.inflight.get(packetId);
    if (f?.qos !== 1) return;
    this.finish(f);
    this.pump(out);
  }

  pubrec(packetId: number, reasonCode: number, out: Outlet): void {
    const f = this.inflight.get(packetId);
    if (!f || f.qos !== 2) return out.sendPubrel(packetId, 0x92); // [MQTT-3.6.2.1] not found
    if (reasonCode >= 0x80) return void (this.finish(f), this.pump(out)); // [MQTT-4.3.3-4] ends the flow
    f.state = 'released';
    this.store.updateOutbound(this.clientId, f.seq, { packetId, state: 'released' });
    out.sendPubrel(packetId);
  }

  pubcomp(packetId: number, out: Outlet): void {
    const f = this.inflight.get(packetId);
    if (f?.state !== 'released') return;
    this.finish(f);
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

  /** Sends queued messages while the window allows, each read from the store as it goes. */
  private pump(out: Outlet): void {
    while (this.queue.length && this.inflight.size < out.window) {
      const f = this.queue.shift()!;
      const e = this.store.outboundEntry(this.clientId, f.seq);
      if (!e) {
        this.bytes -= f.bytes;
        continue;
      }
      [e.packetId, e.state] = [this.allocate(), 'sent'];
      if (!this.send(e, out)) {
        this.store.deleteOutbound(this.clientId, f.seq);
        this.bytes -= f.bytes;
        continue;
      }
      this.store.updateOutbound(this.clientId, f.seq, { packetId: e.packetId, state: 'sent' });
      [f.packetId, f.state] = [e.packetId, 'sent'];
      this.inflight.set(f.packetId, f);
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

  private finish(f: Flow): void {
    this.inflight.delete(f.packetId!);
    this.bytes -= f.bytes;
    this.store.deleteOutbound(this.clientId, f.seq);
  }

  /** Next free packet id, 1..65535 [MQTT-2.3.1-2]. */
  private allocate(): number {
    do this.lastPacketId = (this.lastPacketId % 0xffff) + 1;
    while (this.inflight.has(this.lastPacketId));
    return this.lastPacketId;
  }
}
