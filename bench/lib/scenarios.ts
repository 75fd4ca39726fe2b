// The scenarios of `npm run bench`, each run the same way against every broker. Publishers keep
// a bounded window of messages not yet received end to end, so every broker is measured at the
// rate it sustains, not by how much it can buffer.
import type { MqttClient } from 'mqtt';
import type WebSocket from 'ws';
import { Decoder, encode, type Packet } from '../../src/protocol/index.ts';
import type { RunningBroker } from './brokers.ts';
import { connect, endAll, openRaw, type Framing } from './clients.ts';
import { awsMessages, minus, type Units } from './cost.ts';
import type { IdleCost } from './idle-scenarios.ts';
import { clock, payload, percentile, Tracker } from './tracker.ts';

export type Clients = 'MQTT.js' | 'raw';

export interface Result {
  scenario: string;
  broker: string;
  framing?: Framing;
  /** MQTT.js, or raw sockets speaking MQTT through this codec (the echo object always gets those). */
  clients?: Clients;
  /** Messages delivered per second (per receiver, summed). */
  rate?: number;
  p50?: number;
  p90?: number;
  p99?: number;
  cpuPer100k?: number;
  memPerConnection?: number;
  connectRate?: number;
  durationMs: number;
  /** Offline queue: ms from the reconnect to its CONNACK, and to the first message. */
  connack?: { ms: number; firstMessageMs: number };
  losses: number;
  duplicates: number;
  reordered: number;
  /** The edge broker's billed units while messages flowed (setup and teardown left out). */
  cost?: Cost;
  /** An idle fleet's billed units over its period (idle-scenarios.ts). */
  idle?: IdleCost;
}

export interface Cost {
  units: Units;
  delivered: number;
  /** What AWS IoT Core would meter for the same traffic (cost.ts), undefined at QoS 2. */
  awsMessages?: number;
  /** The device profile: devices run, device-minutes simulated, and how many real devices that load stands for. */
  devices?: number;
  deviceMinutes?: number;
  fleet?: number;
}

type QoS = 0 | 1 | 2;
const stallMs = 5_000;
let runId = 0;
const unique = (s: string) => `${s}-${process.pid}-${++runId}`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Something that publishes for source `source` and a set of receivers feeding the tracker. */
interface Rig {
  publish(source: number, seq: number): void;
  close(): Promise<unknown>;
}

async function mqttRig(b: RunningBroker, framing: Framing, qos: QoS, sources: number, receivers: number, tracker: Tracker): Promise<Rig> {
  const topic = unique('bench/t');
  const subs: MqttClient[] = [];
  for (let r = 0; r < receivers; r++) {
    const sub = await connect(gatewayUrl(b, r), framing, {}, (_t, data) => tracker.record(r, data));
    await sub.subscribeAsync(topic, { qos });
    subs.push(sub);
  }
  const pubs = await Promise.all(Array.from({ length: sources }, () => connect(gatewayUrl(b, 0), framing)));
  return {
    publish: (source, seq) => void pubs[source].publish(topic, payload(source, seq), { qos }),
    close: () => endAll([...subs, ...pubs]),
  };
}

/** Where client `i` connects: round the broker's first `spread` gateways, or anywhere. */
function gatewayUrl(b: RunningBroker, i: number): string {
  return b.spread ? `${b.url}?gateway=${i % b.spread}` : b.url;
}

/** A raw socket's packets, read with this codec: `on` says where they go (it may change). */
function packetsOf(ws: WebSocket): { on: (p: Packet) => void } {
  const sink = { on: (_p: Packet) => {} };
  const decoder = new Decoder({ protocolVersion: 4 });
  ws.on('message', (data: Buffer) => {
    decoder.push(data);
    for (let p = decoder.next(); p; p = decoder.next()) sink.on(p);
  });
  return sink;
}

/** Raw sockets whose PUBLISH packets go into the tracker, one receiver each. */
function rawReceivers(receivers: Array<{ on: (p: Packet) => void }>, tracker: Tracker): void {
  receivers.forEach((r, i) => (r.on = (p) => void (p.type === 'publish' && tracker.record(i, Buffer.from(p.payload)))));
}

/** Sends pre-encoded QoS 0 PUBLISH packets: one per message, or what one tick produced per message. */
function rawSender(sources: WebSocket[], framing: Framing, topic: string): Rig['publish'] {
  const batches: Uint8Array[][] = sources.map(() => []);
  const send = (source: number, bytes: Uint8Array) => {
    if (framing === 'packet') return sources[source].send(bytes);
    if (batches[source].push(bytes) === 1) setImmediate(() => sources[source].send(Buffer.concat(batches[source].splice(0))));
  };
  return (source, seq) => send(source, encode({ type: 'publish', topic, payload: payload(source, seq), qos: 0, retain: false, dup: false }, 4));
}

/**
 * The echo object's version: raw frames of the same PUBLISH bytes, relayed to every sink. At QoS 1
 * each sink answers what one frame brought with one frame of as many PUBACKs, as MQTT.js does, so
 * the object receives the frames a broker's fan-out receives.
 */
async function echoRig(b: RunningBroker, framing: Framing, qos: QoS, sources: number, receivers: number, tracker: Tracker): Promise<Rig> {
  const sinks = await Promise.all(Array.from({ length: receivers }, () => openRaw(b.url, 'sink')));
  rawReceivers(sinks.map(packetsOf), tracker);
  if (qos > 0) for (const sink of sinks) sink.on('message', (data: Buffer) => sink.send(pubacks(data)));
  const srcs = await Promise.all(Array.from({ length: sources }, () => openRaw(b.url, 'source')));
  return { publish: rawSender(srcs, framing, 'bench/echo'), close: async () => [...sinks, ...srcs].forEach((ws) => ws.close()) };
}

/** One PUBACK per PUBLISH packet in `frame` (their packet ids do not matter to the echo object). */
function pubacks(frame: Buffer): Buffer {
  let count = 0;
  for (let at = 0, size = 0; at < frame.length; at += size) {
    let length = 0;
    let i = 1;
    for (let shift = 0; i < 5 && at + i < frame.length; i++, shift += 7) {
      length += (frame[at + i] & 0x7f) << shift;
      if (!(frame[at + i] & 0x80)) break;
    }
    size = 1 + i + length;
    if (frame[at] >> 4 === 3) count++;
  }
  return Buffer.concat(Array.from({ length: count }, () => Buffer.from([0x40, 0x02, 0x00, 0x01])));
}

/** A raw socket speaking MQTT 3.1.1 through this codec, connected, and subscribed at QoS 0 to `topic` if given. */
async function rawMqtt(b: RunningBroker, topic?: string, keepalive = 0): Promise<{ ws: WebSocket; packets: { on: (p: Packet) => void } }> {
  const ws = await openRaw(b.url, 'source');
  const packets = packetsOf(ws);
  // a broker may split a packet over several WebSocket messages: wait for packets, not messages
  const ready = new Promise<void>((resolve) => (packets.on = (p) => void ((p.type === 'suback' || (!topic && p.type === 'connack')) && resolve())));
  ws.send(encode({ type: 'connect', protocolName: 'MQTT', protocolVersion: 4, clean: true, keepalive, clientId: unique('raw') }, 4));
  if (topic) ws.send(encode({ type: 'subscribe', packetId: 1, subscriptions: [{ topicFilter: topic, qos: 0 }] }, 4));
  await ready;
  return { ws, packets };
}

/** An MQTT broker driven like the echo object: raw sockets speaking MQTT 3.1.1 through this codec, QoS 0. */
async function rawMqttRig(b: RunningBroker, framing: Framing, sources: number, receivers: number, tracker: Tracker): Promise<Rig> {
  const topic = unique('bench/raw');
  const sinks = await Promise.all(Array.from({ length: receivers }, () => rawMqtt(b, topic)));
  rawReceivers(sinks.map((s) => s.packets), tracker);
  const srcs = (await Promise.all(Array.from({ length: sources }, () => rawMqtt(b)))).map((s) => s.ws);
  const all = [...sinks.map((s) => s.ws), ...srcs];
  return { publish: rawSender(srcs, framing, topic), close: async () => all.forEach((ws) => ws.close()) };
}

/** Each source sends `perSource` messages, keeping at most `window` of them unreceived. */
async function drive(rig: Rig, tracker: Tracker, sources: number, perSource: number, window: number, receivers: number): Promise<void> {
  await Promise.all(Array.from({ length: sources }, async (_, source) => {
    for (let seq = 0; seq < perSource; seq++) {
      while (seq - Math.floor(tracker.received[source] / receivers) >= window) {
        if (!(await tracker.arrival(stallMs))) return;
      }
      rig.publish(source, seq);
    }
  }));
  await tracker.done(stallMs);
}

async function measure(b: RunningBroker, run: () => Promise<Tracker>): Promise<{ tracker: Tracker; ms: number; cpu: number; units?: Units }> {
  const units0 = await b.units?.();
  const cpu0 = b.usage().cpuSeconds;
  const t0 = clock();
  const tracker = await run();
  const done = { tracker, ms: (tracker.lastAt || clock()) - t0, cpu: b.usage().cpuSeconds - cpu0 };
  if (!units0) return done;
  await sleep(250); // the last acknowledgements reach the broker
  return { ...done, units: minus(await b.units!(), units0) };
}

type Measured = Awaited<ReturnType<typeof measure>> & { clients: Clients };

/** `receivers` got each published message; `qos` is the subscription's and the publish's. */
function summary(scenario: string, b: RunningBroker, framing: Framing | undefined, m: Measured, qos: QoS, receivers: number): Result {
  const { tracker, ms, cpu, clients, units } = m;
  const delivered = tracker.total;
  return {
    scenario, broker: b.name, framing, clients, rate: delivered / (ms / 1000),
    p50: percentile(tracker.latencies, 50), p90: percentile(tracker.latencies, 90), p99: percentile(tracker.latencies, 99),
    cpuPer100k: delivered ? (cpu / delivered) * 100_000 : undefined,
    durationMs: ms, losses: tracker.losses, duplicates: tracker.duplicates, reordered: tracker.reordered,
    cost: units && { units, delivered, awsMessages: awsMessages(qos, delivered / receivers, delivered) },
  };
}

/** The echo object always gets raw sockets; an MQTT broker MQTT.js unless `clients` says raw (QoS 0 only). */
function rig(b: RunningBroker, framing: Framing, qos: QoS, sources: number, receivers: number, tracker: Tracker, clients: Clients) {
  if (b.echo) return echoRig(b, framing, qos, sources, receivers, tracker);
  if (clients === 'raw') return rawMqttRig(b, framing, sources, receivers, tracker);
  return mqttRig(b, framing, qos, sources, receivers, tracker);
}

async function flow(b: RunningBroker, framing: Framing, qos: QoS, shape: { sources: number; receivers: number; perSource: number; window: number }, clients: Clients): Promise<Measured> {
  const { sources, receivers, perSource, window } = shape;
  const tracker = new Tracker(sources, sources * perSource * receivers);
  const r = await rig(b, framing, qos, sources, receivers, tracker, clients);
  const m = await measure(b, async () => {
    await drive(r, tracker, sources, perSource, window, receivers);
    return tracker;
  });
  await r.close();
  return { ...m, clients: b.echo ? 'raw' : clients };
}

/** 4 publishers, 1 subscriber, 64 B payloads. */
export async function throughput(b: RunningBroker, qos: QoS, framing: Framing, total: number, clients: Clients = 'MQTT.js'): Promise<Result> {
  const shape = { sources: 4, receivers: 1, perSource: Math.ceil(total / 4), window: 100 };
  return summary(`QoS ${qos} throughput`, b, framing, await flow(b, framing, qos, shape, clients), qos, 1);
}

/** 1 publisher, `subscribers` subscribers. */
export async function fanout(b: RunningBroker, qos: QoS, framing: Framing, messages: number, subscribers = 100): Promise<Result> {
  const shape = { sources: 1, receivers: subscribers, perSource: messages, window: 10 };
  return summary(`fan-out 1 to ${subscribers}, QoS ${qos}`, b, framing, await flow(b, framing, qos, shape, 'MQTT.js'), qos, subscribers);
}

/** One message at a time, spaced out: latency with nothing queued. */
export async function latency(b: RunningBroker, framing: Framing, messages: number, gapMs = 10): Promise<Result> {
  const tracker = new Tracker(1, messages);
  const r = await rig(b, framing, 0, 1, 1, tracker, 'MQTT.js');
  const m = await measure(b, async () => {
    for (let seq = 0; seq < messages; seq++) {
      r.publish(0, seq);
      await new Promise((r) => setTimeout(r, gapMs));
    }
    await tracker.done(stallMs);
    return tracker;
  });
  await r.close();
  return { ...summary('low-rate latency, QoS 0', b, framing, { ...m, clients: b.echo ? 'raw' : 'MQTT.js' }, 0, 1), rate: undefined, cpuPer100k: undefined };
}

/**
 * The idle-ish device of the cost figures: keepalive 60 s, so one PINGREQ a minute, and one QoS 1
 * PUBLISH a minute (topic `d<device>/...`, so devices spread over topic shards) that one backend
 * subscriber receives at QoS 1. A minute lasts `minuteMs` here, each device's two packets spread
 * evenly over it: `count` devices load the broker as `count × 60 s / minuteMs` real ones would.
 */
export async function devices(b: RunningBroker, count: number, minutes = 15, minuteMs = 1_000): Promise<Result> {
  const run = unique('devices');
  const tracker = new Tracker(count, count * minutes);
  const backend = await connect(b.url, 'packet', {}, (_t, data) => tracker.record(0, data));
  await backend.subscribeAsync(`+/${run}`, { qos: 1 });
  const fleet: WebSocket[] = [];
  while (fleet.length < count) {
    const batch = Array.from({ length: Math.min(50, count - fleet.length) }, async () => (await rawMqtt(b, undefined, 60)).ws);
    fleet.push(...(await Promise.all(batch)));
  }
  const m = await measure(b, async () => {
    const t0 = clock();
    for (let slot = 0; slot < 2 * count * minutes; slot++) {
      const wait = t0 + (slot * minuteMs) / (2 * count) - clock();
      if (wait > 0) await sleep(wait);
      const [minute, device, ping] = [Math.floor(slot / (2 * count)), slot % count, slot % (2 * count) >= count];
      fleet[device].send(encode(ping ? { type: 'pingreq' }
        : { type: 'publish', topic: `d${device}/${run}`, payload: payload(device, minute), qos: 1, packetId: minute + 1, retain: false, dup: false }, 4));
    }
    await tracker.done(stallMs);
    return tracker;
  });
  fleet.forEach((ws) => ws.close());
  await backend.endAsync(true);
  const result = summary(`idle-ish devices, ${count} x (1 ping + 1 QoS 1 publish) per ${minuteMs / 1000} s`, b, 'packet', { ...m, clients: 'raw' }, 1, 1);
  if (result.cost) Object.assign(result.cost, { devices: count, deviceMinutes: count * minutes, fleet: (count * 60_000) / minuteMs });
  return result;
}
