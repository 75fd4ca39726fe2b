// The scenarios of `npm run bench`, each run the same way against every broker. Publishers keep
// a bounded window of messages not yet received end to end, so every broker is measured at the
// rate it sustains, not by how much it can buffer.
import type { MqttClient } from 'mqtt';
import type WebSocket from 'ws';
import { Decoder, encode } from '../../src/protocol/index.ts';
import type { RunningBroker } from './brokers.ts';
import { connect, endAll, openRaw, type Framing } from './clients.ts';
import { clock, payload, percentile, Tracker } from './tracker.ts';

export interface Result {
  scenario: string;
  broker: string;
  framing?: Framing;
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

/** The echo object's version: raw frames of the same PUBLISH bytes, relayed to every sink. */
async function echoRig(b: RunningBroker, framing: Framing, sources: number, receivers: number, tracker: Tracker): Promise<Rig> {
  const sinks: WebSocket[] = [];
  for (let r = 0; r < receivers; r++) {
    const sink = await openRaw(b.url, 'sink');
    const decoder = new Decoder({ protocolVersion: 4 });
    sink.on('message', (data: Buffer) => {
      decoder.push(data);
      for (let p = decoder.next(); p; p = decoder.next()) if (p.type === 'publish') tracker.record(r, Buffer.from(p.payload));
    });
    sinks.push(sink);
  }
  const srcs = await Promise.all(Array.from({ length: sources }, () => openRaw(b.url, 'source')));
  const batches: Uint8Array[][] = srcs.map(() => []);
  const send = (source: number, bytes: Uint8Array) => {
    if (framing === 'packet') return srcs[source].send(bytes);
    if (batches[source].push(bytes) === 1) setImmediate(() => srcs[source].send(Buffer.concat(batches[source].splice(0))));
  };
  return {
    publish: (source, seq) => send(source, encode({ type: 'publish', topic: 'bench/echo', payload: payload(source, seq), qos: 0, retain: false, dup: false }, 4)),
    close: async () => [...sinks, ...srcs].forEach((ws) => ws.close()),
  };
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

function summary(scenario: string, b: RunningBroker, framing: Framing | undefined, m: { tracker: Tracker; ms: number; cpu: number }): Result {
  const { tracker, ms, cpu } = m;
  const delivered = tracker.total;
  return {
    scenario, broker: b.name, framing, rate: delivered / (ms / 1000),
    p50: percentile(tracker.latencies, 50), p90: percentile(tracker.latencies, 90), p99: percentile(tracker.latencies, 99),
    cpuPer100k: delivered ? (cpu / delivered) * 100_000 : undefined,
    durationMs: ms, losses: tracker.losses, duplicates: tracker.duplicates, reordered: tracker.reordered,
  };
}

async function flow(b: RunningBroker, framing: Framing, qos: QoS, sources: number, receivers: number, perSource: number, window: number) {
  const tracker = new Tracker(sources, sources * perSource * receivers);
  const rig = b.echo ? await echoRig(b, framing, sources, receivers, tracker) : await mqttRig(b, framing, qos, sources, receivers, tracker);
  const m = await measure(b, async () => {
    await drive(rig, tracker, sources, perSource, window, receivers);
    return tracker;
  });
  await rig.close();
  return m;
}

/** 4 publishers, 1 subscriber, 64 B payloads. */
export async function throughput(b: RunningBroker, qos: QoS, framing: Framing, total: number): Promise<Result> {
  return summary(`QoS ${qos} throughput`, b, framing, await flow(b, framing, qos, 4, 1, Math.ceil(total / 4), 100));
}

/** 1 publisher, `subscribers` subscribers. */
export async function fanout(b: RunningBroker, qos: QoS, framing: Framing, messages: number, subscribers = 100): Promise<Result> {
  return summary(`fan-out 1 to ${subscribers}, QoS ${qos}`, b, framing, await flow(b, framing, qos, 1, subscribers, messages, 10));
}

/** One message at a time, spaced out: latency with nothing queued. */
export async function latency(b: RunningBroker, framing: Framing, messages: number, gapMs = 10): Promise<Result> {
  const tracker = new Tracker(1, messages);
  const rig = b.echo ? await echoRig(b, framing, 1, 1, tracker) : await mqttRig(b, framing, 0, 1, 1, tracker);
  const m = await measure(b, async () => {
    for (let seq = 0; seq < messages; seq++) {
      rig.publish(0, seq);
      await new Promise((r) => setTimeout(r, gapMs));
    }
    await tracker.done(stallMs);
    return tracker;
  });
  await rig.close();
  return { ...summary('low-rate latency, QoS 0', b, framing, m), rate: undefined, cpuPer100k: undefined };
}
