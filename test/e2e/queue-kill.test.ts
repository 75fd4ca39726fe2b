// A persistent session's offline queue across a SIGKILL of the server, in both topologies: the
// server is killed while a publisher fills the queue (many PUBLISH packets per WebSocket message,
// so one event stores many messages) and again while the subscriber drains it (its PUBACKs, many
// per WebSocket message, settle together). Counted exactly: every message the publisher had a
// PUBACK/PUBREC for reaches the subscriber; at QoS 1 only a message the publisher sent again, or
// one in flight to the subscriber at the kill, may arrive twice [MQTT-4.3.2]; at QoS 2 each
// arrives once [MQTT-4.3.3]. Two subscribers: one with a Receive Maximum of 50 (the drain takes
// many events, each refilled by PUBACKs) and one with 65,535 (the drain streams in turns of the
// object, killed between them).
import { afterEach, describe, expect, it } from 'vitest';
import { encode, type Packet } from '../../src/protocol/index.ts';
import { RawClient, uniqueId } from './clients.ts';
import { startBroker, type BrokerServer } from './server.ts';

const topologies: Array<{ name: string; vars: Record<string, string>; gateways: number }> = [
  { name: 'default topology', vars: {}, gateways: 1 },
  { name: 'sharded topology (3 gateways x 4 shards)', vars: { MQTT_GATEWAYS: '3', MQTT_SHARDS: '4', MQTT_SESSION_OBJECTS: '2' }, gateways: 3 },
];

/** PUBLISH packets per WebSocket message, and most unacknowledged. */
const [perFrame, window] = [25, 100];
/** The subscriber's Receive Maximum, and the messages queued. */
const drains = [{ receiveMaximum: 50, total: 600 }, { receiveMaximum: 65_535, total: 3_000 }];
const session = { keepalive: 0, properties: { sessionExpiryInterval: 600 } };

for (const topology of topologies) {
  describe(`an offline queue across a SIGKILL of the server, ${topology.name}`, () => {
    let server: BrokerServer | undefined;
    let vars: Record<string, string> = {};
    const restart = async () => {
      await server!.crash();
      const { persistTo, port } = server!;
      server = await startBroker({ persistTo, port, vars: { ...vars, ...topology.vars } });
    };
    afterEach(async () => {
      if (process.env.SHOW_LOGS) console.log(server?.logs.join(''));
      await server?.stop();
      server = undefined;
    });

    for (const { receiveMaximum, total } of drains) for (const qos of [1, 2] as const) {
      it(`${total} QoS ${qos} messages, killed ${qos === 1 ? 'mid-enqueue and ' : ''}mid-drain (Receive Maximum ${receiveMaximum}): none lost${qos === 2 ? ', none twice' : ''}`, async () => {
        vars = { MQTT_MAX_QUEUED_MESSAGES: String(total * 2), MQTT_RECEIVE_MAXIMUM: String(window) };
        server = await startBroker({ vars: { ...vars, ...topology.vars } });
        const at = (gateway: number) => `ws://127.0.0.1:${server!.port}/mqtt?gateway=${gateway % topology.gateways}`;
        const topic = `queue-kill/${uniqueId()}`;
        const [subId, pubId] = [uniqueId('qsub'), uniqueId('qpub')];

        // the subscriber subscribes, then goes away: what comes is queued for it
        const subscriber = new Subscriber(subId, qos, receiveMaximum);
        let sub = await subscriber.connect(at(0), true);
        sub.send({ type: 'subscribe', packetId: 1, subscriptions: [{ topicFilter: topic, qos, noLocal: false, retainAsPublished: false, retainHandling: 0 }] });
        await until(() => subscriber.subscribed, 15_000, 'SUBACK');
        sub.close();
        await until(() => sub.closeCode !== undefined, 5_000, 'the subscriber\'s close');

        // the publisher fills the queue; at QoS 1 the server is killed with a window of messages on their way
        const publisher = new Publisher(pubId, topic, qos, total);
        let pub = await publisher.connect(at(1), true);
        await publisher.stream(pub, qos === 1 ? total / 3 : total, qos === 2);
        if (qos === 1) {
          await restart();
          pub = await publisher.connect(at(2), false); // again what got no PUBACK (DUP), then the rest
          await publisher.stream(pub, total);
        }
        expect(await until(() => publisher.done(), 30_000, 'every PUBACK/PUBCOMP')).toBe(true);
        pub.close();

        // the subscriber drains a third, the server is killed, it comes back for the rest
        sub = await subscriber.connect(at(1), false);
        await until(() => subscriber.received.size >= total / 3, 30_000, 'a third of the queue');
        const atKill = subscriber.received.size;
        await restart();
        sub = await subscriber.connect(at(2), false);
        await until(() => subscriber.received.size >= total && subscriber.settled(), 60_000, 'the whole queue');
        await new Promise((r) => setTimeout(r, 1_000)); // a duplicate would arrive by now
        sub.close();

        if (process.env.SHOW_COUNTS) console.log({ atKill, resent: publisher.resent.size, inFlightAtKill: subscriber.inFlightAtKill.size, twice: [...subscriber.received.values()].filter((c) => c > 1).length });
        const missing = Array.from({ length: total }, (_, i) => i + 1).filter((n) => !subscriber.received.has(n));
        const twice = [...subscriber.received].filter(([, count]) => count > 1).map(([n]) => n);
        // QoS 1: a message may come twice only if the publisher sent it again or it was in flight at the kill
        const excused = qos === 1 ? twice.filter((n) => publisher.resent.has(n) || subscriber.inFlightAtKill.has(n)) : [];
        expect({ missing, twice: twice.filter((n) => !excused.includes(n)) }).toEqual({ missing: [], twice: [] });
        // what the server sent again: at most what was in flight to the subscriber (its Receive Maximum) and what the publisher sent again
        expect(twice.length).toBeLessThanOrEqual(receiveMaximum + publisher.resent.size);
        expect(publisher.resent.size).toBeLessThanOrEqual(window);
        expect(publisher.acknowledged.size).toBe(total);
      }, 240_000);
    }
  });
}

/** A persistent subscriber counting each message by its number; QoS 2 keeps its half across reconnects. */
class Subscriber {
  readonly received = new Map<number, number>();
  /** Messages received and not yet seen PUBREL'd (QoS 2) or, at the last kill, possibly unacknowledged (QoS 1). */
  readonly inFlightAtKill = new Set<number>();
  subscribed = false;
  private readonly awaitingRel = new Map<number, number>();
  private readonly clientId: string;
  private readonly qos: 1 | 2;
  private readonly receiveMaximum: number;

  constructor(clientId: string, qos: 1 | 2, receiveMaximum: number) {
    [this.clientId, this.qos, this.receiveMaximum] = [clientId, qos, receiveMaximum];
  }

  /** Every QoS 2 flow ended (no PUBREL owed). */
  settled(): boolean {
    return this.awaitingRel.size === 0;
  }

  async connect(url: string, first: boolean): Promise<RawClient> {
    // whatever it received so far may be unacknowledged as far as the server knows
    for (const n of this.received.keys()) this.inFlightAtKill.add(n);
    const raw = await bounded(RawClient.open(url, 5), 'the subscriber\'s WebSocket');
    const acks: Packet[] = [];
    let connacked!: () => void;
    const ready = new Promise<void>((r) => (connacked = r));
    raw.onPacket = (p) => {
      if (p.type === 'connack') return connacked();
      if (p.type === 'suback') this.subscribed = true;
      if (p.type === 'publish') {
        const n = Number(new TextDecoder().decode(p.payload));
        if (this.qos === 1 || !this.awaitingRel.has(p.packetId!)) this.received.set(n, (this.received.get(n) ?? 0) + 1);
        if (this.qos === 2) this.awaitingRel.set(p.packetId!, n);
        acks.push({ type: this.qos === 1 ? 'puback' : 'pubrec', packetId: p.packetId! });
      } else if (p.type === 'pubrel') {
        this.awaitingRel.delete(p.packetId);
        acks.push({ type: 'pubcomp', packetId: p.packetId });
      }
      // the acknowledgements of one WebSocket message leave together, as one
      if (acks.length === 1) queueMicrotask(() => raw.ws.readyState === 1 && raw.ws.send(frame(acks.splice(0))));
    };
    raw.send({ type: 'connect', protocolName: 'MQTT', protocolVersion: 5, clientId: this.clientId, clean: first, ...session, properties: { ...session.properties, receiveMaximum: this.receiveMaximum } });
    await bounded(ready, 'the subscriber\'s CONNACK');
    return raw;
  }
}

/** A persistent publisher numbering its messages 1..total, `perFrame` PUBLISH packets per WebSocket message. */
class Publisher {
  readonly acknowledged = new Set<number>();
  /** Sent again after a reconnect: no PUBACK/PUBREC had come. */
  readonly resent = new Set<number>();
  private readonly recs = new Set<number>();
  private sent = 0;
  private readonly clientId: string;
  private readonly topic: string;
  private readonly qos: 1 | 2;
  private readonly total: number;

  constructor(clientId: string, topic: string, qos: 1 | 2, total: number) {
    [this.clientId, this.topic, this.qos, this.total] = [clientId, topic, qos, total];
  }

  done(): boolean {
    return this.acknowledged.size === this.sent && this.sent === this.total;
  }

  async connect(url: string, first: boolean): Promise<RawClient> {
    const raw = await bounded(RawClient.open(url, 5), 'the publisher\'s WebSocket');
    let connacked!: () => void;
    const ready = new Promise<void>((r) => (connacked = r));
    raw.onPacket = (p) => {
      if (p.type === 'connack') connacked();
      else if (p.type === 'puback') this.acknowledged.add(p.packetId);
      else if (p.type === 'pubrec') {
        this.recs.add(p.packetId);
        raw.send({ type: 'pubrel', packetId: p.packetId });
      } else if (p.type === 'pubcomp') this.acknowledged.add(p.packetId);
    };
    raw.send({ type: 'connect', protocolName: 'MQTT', protocolVersion: 5, clientId: this.clientId, clean: first, ...session });
    await bounded(ready, 'the publisher\'s CONNACK');
    if (first) return raw;
    // [MQTT-4.4.0-1]: again what was not acknowledged, in order: PUBREL after a PUBREC, else the PUBLISH with DUP
    const again: Packet[] = [];
    for (let n = 1; n <= this.sent; n++) {
      if (this.acknowledged.has(n)) continue;
      if (this.recs.has(n)) again.push({ type: 'pubrel', packetId: n });
      else {
        this.resent.add(n);
        again.push(this.publish(n, true));
      }
    }
    for (let i = 0; i < again.length; i += perFrame) raw.ws.send(frame(again.slice(i, i + perFrame)));
    return raw;
  }

  /** Sends up to message `upTo`, `perFrame` at a time, at most `window` unacknowledged; resolves once they are sent, or (`all`) acknowledged. */
  async stream(raw: RawClient, upTo: number, all = true): Promise<void> {
    while (this.sent < upTo) {
      await until(() => this.sent - this.acknowledged.size + perFrame <= window, 15_000, 'room in the window');
      const batch: Packet[] = [];
      while (batch.length < perFrame && this.sent < upTo) batch.push(this.publish(++this.sent, false));
      raw.ws.send(frame(batch));
    }
    if (all) await until(() => this.acknowledged.size >= upTo, 15_000, `${upTo} acknowledged`);
  }

  private publish(n: number, dup: boolean): Packet {
    return { type: 'publish', topic: this.topic, payload: new TextEncoder().encode(String(n)), qos: this.qos, retain: false, dup, packetId: n };
  }
}

/** Packets in one WebSocket message. */
function frame(packets: Packet[]): Uint8Array {
  const parts = packets.map((p) => encode(p, 5));
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  parts.reduce((at, p) => (out.set(p, at), at + p.length), 0);
  return out;
}

/** Polls `done` every 5 ms until it holds; throws, naming `what`, after `ms`. */
async function until(done: () => boolean, ms: number, what: string): Promise<true> {
  const end = Date.now() + ms;
  while (!done()) {
    if (Date.now() > end) throw new Error(`${what} did not come within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 5));
  }
  return true;
}

function bounded<T>(promise: Promise<T>, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const expiry = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what} did not come within 15 s`)), 15_000)));
  return Promise.race([promise, expiry]).finally(() => clearTimeout(timer));
}
