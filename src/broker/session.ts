// A connected client's flows: queued and in-flight QoS 1/2 messages out, packet ids, the Receive
// Maximum window [MQTT-4.9.0-1], redelivery with DUP on resume [MQTT-4.4.0-1], and the QoS 2
// packet ids received and not yet released. Every change is written through to the session's
// store before the event's output leaves: SQLite for a persistent session, memory (with
// snapshots, clean-flows.ts) for one that ends with its connection. The session holds each
// message's place, not the message: a message is read from the store when it is sent, so a long
// queue stays in SQLite.
import { Fifo } from './fifo.ts';
import type { DropReason } from './hooks.ts';
import { heldBytes, type Message, type OutboundChange, type OutboundMessage, type OutboundPlace, type SessionStore } from './ports.ts';

/** What a session needs from the connection it is delivering over. */
export interface Outlet {
  /** Client's Receive Maximum (3.x: the configured in-flight window). */
  readonly window: number;
  /** False when the message was not sent (too large for the client [MQTT-3.1.2-25]). */
  sendPublish(entry: OutboundMessage, dup: boolean): boolean;
  sendPubrel(packetId: number, reasonCode?: number): void;
  dropped(reason: DropReason): void;
  now(): number;
  /** Asks for `Session.settle` before this event's output leaves (Connection.flush). */
  settleLater(): void;
  /**
   * Asks for `Session.settle` in a later turn, once this turn's writes are stored: the next step
   * of a drain. Its output then waits only for that step's write (the output gate).
   */
  settleNextTurn(): void;
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

/**
 * A message's flow as it is enqueued: its bytes are its payload's and its properties' (heldBytes).
 * The places a store gives back at a wake count payload bytes only (SessionStore.outboundPlaces);
 * each flow is released by what it counted, and the flows of all clean sessions together are
 * counted whole by CleanFlows (MQTT_MAX_QUEUED_BYTES_TOTAL), which is what holds memory.
 */
const flow = (e: OutboundMessage): Flow => ({ seq: e.seq, packetId: e.packetId, state: e.state, qos: e.message.qos, bytes: heldBytes(e.message) });

/**
 * A message as a session keeps it until acknowledged: a payload that is a view of a much larger
 * buffer (a call's, packed.ts; a WebSocket message's) gets a copy of its own, so that what a queue
 * holds is what its bounds count (maxQueuedBytes, maxQueuedBytesTotal: payload and properties, heldBytes).
 */
function compact(message: Message): Message {
  const { payload } = message;
  return payload.buffer.byteLength > 2 * payload.byteLength + 1024 ? { ...message, payload: payload.slice() } : message;
}

/**
 * Most messages, and payload bytes (the last one may pass them), read from the store at once
 * (interleaving.test.ts shrinks it, so that drains span many turns).
 */
export const page = { messages: 128, bytes: 1 << 20 };
/**
 * Most payload bytes in flight that a drain sends without waiting for acknowledgements (the last
 * message may pass them): a client's Receive Maximum of 65,535 would otherwise let a queue of
 * large messages out all at once. The rest goes as acknowledgements come back.
 */
export const refillBytes = 8 << 20;
/**
 * Most pages one turn of a drain sends. A drain's first turn (the CONNECT's event) sends one page,
 * so its CONNACK and first messages wait for a small write; each next turn 4 times as many, so a
 * long queue costs few turns (each a durable write and a wake-up), and a client that sends each
 * PUBACK in a WebSocket message of its own (one event each, ~80 µs on workerd) holds up few turns
 * behind them: doubling instead, its drain of 10,000 took 0.3-1.2 s against 0.14-0.41 s in one event.
 */
export const maxStride = 64;

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
  /** Seqs of messages done with (acknowledged, or gone) whose rows `settle` deletes. */
  private finished: number[] = [];
  /** Bytes of the messages in flight, as their flows count them. */
  private inflightBytes = 0;
  /** Pages the drain's next turn may send (maxStride). */
  private stride = 1;
  /** The drain's next step waits for the next turn (`settleNextTurn`); other events' refills wait with it. */
  private waiting = false;

  constructor(clientId: string, store: SessionStore, limits: SessionLimits) {
    this.clientId = clientId;
    this.store = store;
    this.limits = limits;
    for (const place of store.outboundPlaces(clientId)) { // places only: a long queue stays in the store
      const f: Flow = { ...place };
      this.bytes += f.bytes;
      if (f.state === 'queued' || f.packetId === undefined) this.queue.push(f);
      else this.hold(f);
    }
  }

  /** Sends a QoS 1/2 message when the window allows, else queues it; stored either way. */
  enqueue(message: Message, subscriptionIdentifiers: number[] | undefined, out: Outlet): void {
    const { bytes, shared } = this.limits;
    const size = heldBytes(message);
    if (this.bytes + size > bytes) return out.dropped('queue-full');
    if (shared && shared.held() + size > shared.max) return out.dropped('queue-full');
    message = compact(message);
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
    this.hold(sent);
    this.bytes += sent.bytes;
  }

  /** Resends what was in flight, in order, from the store, then fills the window [MQTT-4.4.0-1]. */
  resume(out: Outlet): void {
    const flows = [...this.inflight.values()].sort((a, b) => a.seq - b.seq);
    while (flows.length) {
      const batch = take(flows);
      const entries = this.read(batch.filter((f) => f.state !== 'released'));
      for (const f of batch) {
        if (f.state === 'released') out.sendPubrel(f.packetId!);
        else {
          const e = entries.get(f.seq);
          if (!e || !out.sendPublish(e, true)) this.finish(f);
        }
      }
    }
    if (this.finished.length) out.settleLater();
    this.pump(out);
  }

  /** Acknowledged: its row goes, and the window refills, at `settle` (once for every PUBACK of an event). */
  puback(packetId: number, out: Outlet): void {
    const f = this.inflight.get(packetId);
    if (f?.qos !== 1) return;
    this.finish(f);
    out.settleLater();
  }

  pubrec(packetId: number, reasonCode: number, out: Outlet): void {
    const f = this.inflight.get(packetId);
    if (!f || f.qos !== 2) return out.sendPubrel(packetId, 0x92); // [MQTT-3.6.2.1] not found
    if (reasonCode >= 0x80) return void (this.finish(f), out.settleLater()); // [MQTT-4.3.3-4] ends the flow
    f.state = 'released';
    this.store.updateOutbound(this.clientId, [{ seq: f.seq, packetId, state: 'released' }]);
    out.sendPubrel(packetId);
  }

  pubcomp(packetId: number, out: Outlet): void {
    const f = this.inflight.get(packetId);
    if (f?.state !== 'released') return;
    this.finish(f);
    out.settleLater();
  }

  /**
   * The end of an event: deletes the rows of the messages finished in it, in one write, then
   * fills the window (with `out`; without, the connection is closing and nothing more is sent).
   * While a drain waits for its next turn, an event (a WebSocket message of PUBACKs) writes
   * nothing: the turn deletes what they finished with its own write, so the acknowledgements
   * of a drain cost no commit each. A kill before that turn sends those again, with DUP (QoS 1
   * allows it; at QoS 2 what is deleted was released, and a PUBREL goes again).
   */
  settle(out?: Outlet): void {
    if (out && this.waiting) return;
    if (this.finished.length) this.store.deleteOutbound(this.clientId, this.finished.splice(0));
    if (out) this.pump(out);
  }

  /** The turn a drain waited for (`Outlet.settleNextTurn`): its next step goes at the next `settle`. */
  nextTurn(): void {
    this.waiting = false;
  }

  /** A QoS 2 PUBLISH from the client was accepted: its id is held until PUBREL [MQTT-4.3.3-9]. */
  received(packetId: number): void {
    this.store.addIncoming(this.clientId, packetId);
  }

  hasReceived(packetId: number): boolean {
    return this.store.hasIncoming(this.clientId, packetId);
  }

  /**
   * Sharded topology: a QoS 2 PUBLISH leaves for its topic shard under `id` (Message.id), recorded
   * before it leaves. A restart before the shard's answer leaves the record: the resend goes again
   * under the same id, and whoever got the first copy recognises it.
   */
  routing(packetId: number, id: number): void {
    this.store.addIncoming(this.clientId, packetId, id);
  }

  /** The id a QoS 2 message was on its way under when the shard's answer was lost (a restart), if it was. */
  routingId(packetId: number): number | undefined {
    return this.store.routingId(this.clientId, packetId);
  }

  /** PUBREL: forgets the id; false when it was not held. `routing`: forgets it on its way too (the shard refused it). */
  released(packetId: number, routing = false): boolean {
    if (!this.store.hasIncoming(this.clientId, packetId) && !(routing && this.routingId(packetId) !== undefined)) return false;
    this.store.deleteIncoming(this.clientId, packetId);
    return true;
  }

  /**
   * Sends queued messages while the window allows and less than `refillBytes` is in flight, read
   * from the store a page at a time, each page marked sent in one write before it leaves. One turn
   * sends `stride` pages at most; the drain goes on in the next turn (`settleNextTurn`).
   */
  private pump(out: Outlet): void {
    if (this.waiting) return;
    const room = () => this.queue.length && this.inflight.size < out.window && this.inflightBytes < refillBytes;
    for (let pages = 0; room(); pages++) {
      if (pages === this.stride) {
        this.stride = Math.min(4 * this.stride, maxStride);
        this.waiting = true;
        return out.settleNextTurn();
      }
      this.sendPage(out);
    }
    this.stride = 1; // the window is full, or the queue empty: the next drain starts small again
  }

  /** Sends one page of the queue: one read, one write marking the sent (and one deleting the dropped). */
  private sendPage(out: Outlet): void {
    const batch = take(this.queue, out.window - this.inflight.size);
    const entries = this.read(batch);
    const sent: OutboundChange[] = [];
    const dropped: number[] = [];
    for (const f of batch) {
      const e = entries.get(f.seq);
      if (!e) {
        this.bytes -= f.bytes;
        continue;
      }
      [e.packetId, e.state] = [this.allocate(), 'sent'];
      if (!this.send(e, out)) {
        dropped.push(f.seq);
        this.bytes -= f.bytes;
        continue;
      }
      sent.push({ seq: f.seq, packetId: e.packetId, state: 'sent' });
      [f.packetId, f.state] = [e.packetId, 'sent'];
      this.hold(f);
    }
    this.store.deleteOutbound(this.clientId, dropped);
    this.store.updateOutbound(this.clientId, sent);
  }

  /** The stored messages of `flows`, by seq: one read. */
  private read(flows: Flow[]): Map<number, OutboundMessage> {
    return new Map(this.store.outboundEntries(this.clientId, flows.map((f) => f.seq)).map((e) => [e.seq, e]));
  }

  /** Sends unless expired [MQTT-3.3.2-5] or too large for the client; false when dropped. */
  private send(e: OutboundMessage, out: Outlet): boolean {
    if (e.message.expiresAt !== undefined && e.message.expiresAt <= out.now()) {
      out.dropped('expired');
      return false;
    }
    return out.sendPublish(e, false);
  }

  /** In flight under its packet id. */
  private hold(f: Flow): void {
    this.inflight.set(f.packetId!, f);
    this.inflightBytes += f.bytes;
  }

  private finish(f: Flow): void {
    this.inflight.delete(f.packetId!);
    this.inflightBytes -= f.bytes;
    this.bytes -= f.bytes;
    this.finished.push(f.seq);
  }

  /** Next free packet id, 1..65535 [MQTT-2.3.1-2]. */
  private allocate(): number {
    do this.lastPacketId = (this.lastPacketId % 0xffff) + 1;
    while (this.inflight.has(this.lastPacketId));
    return this.lastPacketId;
  }
}

/** Takes the first flows of `from`: up to `most`, a page's messages, and a page's bytes (passed by the last one at most). */
function take(from: { length: number; shift(): Flow | undefined }, most = Infinity): Flow[] {
  const batch: Flow[] = [];
  for (let bytes = 0; from.length && batch.length < Math.min(most, page.messages) && bytes < page.bytes;) {
    const f = from.shift()!;
    bytes += f.bytes;
    batch.push(f);
  }
  return batch;
}
