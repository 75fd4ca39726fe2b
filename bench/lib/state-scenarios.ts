// Scenarios about held state rather than flow: many idle connections, a large retained set, and a
// persistent session's offline queue drained on reconnect.
import type { MqttClient } from 'mqtt';
import type WebSocket from 'ws';
import type { RunningBroker } from './brokers.ts';
import { connect, endAll, openRaw } from './clients.ts';
import type { Result } from './scenarios.ts';
import { clock, payload, Tracker } from './tracker.ts';

let runId = 0;
const unique = (s: string) => `${s}-${process.pid}-${++runId}`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Opens `count` idle connections, `parallel` at a time; connect rate and memory per connection. */
export async function idle(b: RunningBroker, count: number, parallel = 50): Promise<Result> {
  await sleep(1_000);
  const before = b.usage().rssBytes;
  const held: Array<MqttClient | WebSocket> = [];
  const t0 = clock();
  for (let i = 0; i < count; i += parallel) {
    const batch = Array.from({ length: Math.min(parallel, count - i) }, () =>
      b.echo ? echoPeer(b.url) : connect(b.url, 'coalesce', { keepalive: 600 }));
    held.push(...(await Promise.all(batch)));
  }
  const ms = clock() - t0;
  await sleep(2_000);
  const after = b.usage().rssBytes;
  await Promise.all(held.map((c) => ('endAsync' in c ? c.endAsync(true) : c.close())));
  return {
    scenario: `${count} idle connections`, broker: b.name, connectRate: count / (ms / 1000), memPerConnection: (after - before) / count,
    durationMs: ms, losses: 0, duplicates: 0, reordered: 0,
  };
}

/** The echo object's idle connection: one frame each way, as CONNECT and CONNACK are. */
async function echoPeer(url: string): Promise<WebSocket> {
  const ws = await openRaw(url, 'peer');
  const answered = new Promise((r) => ws.once('message', r));
  ws.send(Buffer.from([0x10, 0x0c, 0x00, 0x04, 0x4d, 0x51, 0x54, 0x54, 0x04, 0x02, 0x02, 0x58, 0x00, 0x00]));
  await answered;
  return ws;
}

/** `count` retained messages, then one wildcard subscribe that fetches them all. */
export async function retained(b: RunningBroker, count: number): Promise<Result> {
  const base = unique('bench/retained');
  const pub = await connect(b.url, 'coalesce');
  await windowed(count, 100, (i) => pub.publishAsync(`${base}/${i}`, payload(0, i), { qos: 1, retain: true }));
  const tracker = new Tracker(1, count);
  const t0 = clock();
  const sub = await connect(b.url, 'coalesce', {}, (_t, data) => tracker.record(0, data));
  await sub.subscribeAsync(`${base}/#`, { qos: 1 });
  await tracker.done(5_000);
  const ms = tracker.lastAt - t0;
  await endAll([pub, sub]);
  return {
    scenario: `${count} retained, one wildcard subscribe`, broker: b.name, rate: tracker.total / (ms / 1000), durationMs: ms,
    losses: tracker.losses, duplicates: tracker.duplicates, reordered: 0,
  };
}

/** A persistent session away while `count` QoS 1 messages arrive, then drained on reconnect. */
export async function offlineQueue(b: RunningBroker, count: number): Promise<Result> {
  const topic = unique('bench/queue');
  const clientId = unique('queue');
  const session = { clientId, clean: false };
  const first = await connect(b.url, 'coalesce', session);
  await first.subscribeAsync(topic, { qos: 1 });
  await first.endAsync();
  const pub = await connect(b.url, 'coalesce');
  await windowed(count, 100, (i) => pub.publishAsync(topic, payload(0, i), { qos: 1 }));
  const tracker = new Tracker(1, count);
  const cpu0 = b.usage().cpuSeconds;
  const t0 = clock();
  let firstAt = 0;
  const back = await connect(b.url, 'coalesce', session, (_t, data) => {
    firstAt ||= clock();
    tracker.record(0, data);
  });
  // the messages in CONNACK's WebSocket message may be handled before this line
  const connackAt = Math.min(clock(), firstAt || Infinity);
  await tracker.done(5_000);
  const ms = (tracker.lastAt || clock()) - t0;
  const cpu = b.usage().cpuSeconds - cpu0; // the last PUBACKs may land after: the drain's CPU, give or take them
  await endAll([pub, back]);
  return {
    scenario: `offline queue of ${count} QoS 1 drained`, broker: b.name, rate: tracker.total / (ms / 1000), durationMs: ms,
    connack: { ms: connackAt - t0, firstMessageMs: firstAt - t0 },
    cpuPer100k: tracker.total ? (cpu / tracker.total) * 100_000 : undefined, losses: tracker.losses, duplicates: tracker.duplicates, reordered: tracker.reordered,
  };
}

/** Runs `task(i)` for i < count with at most `window` unfinished. */
async function windowed(count: number, window: number, task: (i: number) => Promise<unknown>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: window }, async () => {
    while (next < count) await task(next++);
  }));
}
