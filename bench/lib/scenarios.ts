// The scenarios of `npm run bench`, each run the same way against every broker. Publishers keep
// a bounded window of messages not yet received end to end, so every broker is measured at the
// rate it sustains, not by how much it can buffer.
import type { MqttClient } from 'mqtt';
import type WebSocket from 'ws';
import { Decoder, encode, type Packet } from '../../src/protocol/index.ts';
import type { RunningBroker } from './brokers.ts';
import { connect, endAll, openRaw, type Framing } from './clients.ts';
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
  losses: number;
  duplicates: number;
  reordered: number;
}

type QoS = 0 | 1 | 2;
const stallMs = 5_000;
let runId = 0;
const unique = (s: string) => `${s}-${process.pid}-${++runId}`;

/** Something that publishes for source `source` and a set of receivers feeding the tracker. */
interface Rig {
  publish(source: number, seq: number): void;
  close(): Promise<unknown>;
}

async function mqttRig(b: RunningBroker, framing: Framing, qos: QoS, sources: number, receivers: number, tracker: Tracker): Promise<Rig> {
  const topic = unique('bench/t');
  const subs: MqttClient[] = [];
  for (let r = 0; r < receivers; r++) {
    const sub = await connect(b.url, framing, {}, (_t, data) => tracker.record(r, data));
    await sub.subscribeAsync(topic, { qos });
    subs.push(sub);
  }
  const pubs = await Promise.all(Array.from({ length: sources }, () => connect(b.url, framing)));
  return {
    publish: (source, seq) => void pubs[source].publish(topic, payload(source, seq), { qos }),
    close: () => endAll([...subs, ...pubs]),
  };
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

/** The echo object's version: raw frames of the same PUBLISH bytes, relayed to every sink. */
async function echoRig(b: RunningBroker, framing: Framing, sources: number, receivers: number, tracker: Tracker): Promise<Rig> {
  const sinks = await Promise.all(Array.from({ length: receivers }, () => openRaw(b.url, 'sink')));
  rawReceivers(sinks.map(packetsOf), tracker);
  const srcs = await Promise.all(Array.from({ length: sources }, () => openRaw(b.url, 'source')));
  return { publish: rawSender(srcs, framing, 'bench/echo'), close: async () => [...sinks, ...srcs].forEach((ws) => ws.close()) };
}

/** An MQTT broker driven like the echo object: raw sockets speaking MQTT 3.1.1 through this codec, QoS 0. */
async function rawMqttRig(b: RunningBroker, framing: Framing, sources: number, receivers: number, tracker: Tracker): Promise<Rig> {
  const topic = unique('bench/raw');
  // a broker may split a packet over several WebSocket messages: wait for packets, not messages
  const open = async (subscribe: boolean) => {
    const ws = await openRaw(b.url, 'source');
    const packets = packetsOf(ws);
    const ready = new Promise<void>((resolve) => (packets.on = (p) => void ((p.type === 'suback' || (!subscribe && p.type === 'connack')) && resolve())));
    ws.send(encode({ type: 'connect', protocolName: 'MQTT', protocolVersion: 4, clean: true, keepalive: 0, clientId: unique('raw') }, 4));
    if (subscribe) ws.send(encode({ type: 'subscribe', packetId: 1, subscriptions: [{ topicFilter: topic, qos: 0 }] }, 4));
    await ready;
    return { ws, packets };
  };
  const sinks = await Promise.all(Array.from({ length: receivers }, () => open(true)));
  rawReceivers(sinks.map((s) => s.packets), tracker);
  const srcs = (await Promise.all(Array.from({ length: sources }, () => open(false)))).map((s) => s.ws);
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

async function measure(b: RunningBroker, run: () => Promise<Tracker>): Promise<{ tracker: Tracker; ms: number; cpu: number }> {
  const cpu0 = b.usage().cpuSeconds;
  const t0 = clock();
  const tracker = await run();
  return { tracker, ms: (tracker.lastAt || clock()) - t0, cpu: b.usage().cpuSeconds - cpu0 };
}

type Measured = { tracker: Tracker; ms: number; cpu: number; clients: Clients };

function summary(scenario: string, b: RunningBroker, framing: Framing | undefined, m: Measured): Result {
  const { tracker, ms, cpu, clients } = m;
  const delivered = tracker.total;
  return {
    scenario, broker: b.name, framing, clients, rate: delivered / (ms / 1000),
    p50: percentile(tracker.latencies, 50), p90: percentile(tracker.latencies, 90), p99: percentile(tracker.latencies, 99),
    cpuPer100k: delivered ? (cpu / delivered) * 100_000 : undefined,
    durationMs: ms, losses: tracker.losses, duplicates: tracker.duplicates, reordered: tracker.reordered,
  };
}

/** The echo object always gets raw sockets; an MQTT broker MQTT.js unless `clients` says raw (QoS 0 only). */
function rig(b: RunningBroker, framing: Framing, qos: QoS, sources: number, receivers: number, tracker: Tracker, clients: Clients) {
  if (b.echo) return echoRig(b, framing, sources, receivers, tracker);
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
  return summary(`QoS ${qos} throughput`, b, framing, await flow(b, framing, qos, shape, clients));
}

/** 1 publisher, `subscribers` subscribers. */
export async function fanout(b: RunningBroker, qos: QoS, framing: Framing, messages: number, subscribers = 100): Promise<Result> {
  const shape = { sources: 1, receivers: subscribers, perSource: messages, window: 10 };
  return summary(`fan-out 1 to ${subscribers}, QoS ${qos}`, b, framing, await flow(b, framing, qos, shape, 'MQTT.js'));
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
  return { ...summary('low-rate latency, QoS 0', b, framing, { ...m, clients: b.echo ? 'raw' : 'MQTT.js' }), rate: undefined, cpuPer100k: undefined };
}
