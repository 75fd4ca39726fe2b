// Scale, sharded topology (3 gateways x 4 topic shards x 2 session objects): 2,000 raw MQTT
// clients (3.1.1 and 5) connected at once, pinned round-robin to the gateways, with exact and
// wildcard subscriptions on topics whose first levels land on every shard, and 49 QoS 1
// publishers. Every message must reach exactly the subscribers the subscription list says (by
// the broker's own `matches`), each once, without DUP, in its publisher's order, and nobody else.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { matches } from '../../src/broker/index.ts';
import { shardOfTopic, shardsOfFilter } from '../../src/broker/shard-key.ts';
import type { Packet, ProtocolVersion } from '../../src/protocol/index.ts';
import { RawClient } from './clients.ts';
import { startBroker, type BrokerServer } from './server.ts';

const GATEWAYS = 3;
const SHARDS = 4;
const vars = {
  MQTT_GATEWAYS: String(GATEWAYS), MQTT_SHARDS: String(SHARDS), MQTT_SESSION_OBJECTS: '2',
  // a '#' subscriber gets every message at once, faster than it acknowledges them: room to queue them all
  MQTT_MAX_QUEUED_MESSAGES: '5000',
};
const NAMESPACE = `scale-${process.pid}`;

const CLIENTS = 2_000;
const CONNECT_CONCURRENCY = 50; // connections being set up at a time (the waves)
const AREAS = ['site', 'plant', 'fleet', 'farm', 'lab', 'hub']; // first levels; together they land on every shard
const SITES = 10;
const DEVICES = 10;
const PUBLISHER_EVERY = 41; // clients 0, 41, 82, ... also publish: 49 publishers, both versions, on every gateway
const MESSAGES_PER_PUBLISHER = 18;
const PACKET_TIMEOUT = 20_000;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** A small seeded PRNG (mulberry32): the same clients and messages every run. */
function prng(seed: number): (n: number) => number {
  return (n) => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return (((t ^ (t >>> 14)) >>> 0) % n);
  };
}

interface Message {
  id: number;
  publisher: number;
  seq: number;
  topic: string;
  payload: string;
  /** Clients (by index) whose filters match the topic. */
  recipients: Set<number>;
}

interface Plan {
  index: number;
  clientId: string;
  version: ProtocolVersion;
  gateway: number;
  filters: string[];
  publishes: Message[];
}

interface Delivery {
  payload: string;
  topic: string;
  qos: number;
  dup: boolean;
  /** Date.now() on arrival. */
  at: number;
}

/**
 * Client i: 3.1.1 when i is even, 5 when odd; gateway i % 3; its filters by i % 20. Clients 0-3
 * take '#'. The even kind 18 (3.1.1 only) holds two overlapping filters: 3.1.1 delivers a
 * message once at the highest QoS of the matching subscriptions [MQTT-3.3.5-1] (5.0 would allow
 * a copy per subscription, so 5.0 clients get no overlap). Kind 19 matches nothing published.
 */
function planClients(): { plans: Plan[]; messages: Message[] } {
  const rnd = prng(20240601);
  const plans: Plan[] = [];
  for (let i = 0; i < CLIENTS; i++) {
    const area = AREAS[rnd(AREAS.length)];
    const n = rnd(SITES);
    const k = rnd(DEVICES);
    const kind = i % 20;
    const filters =
      i < 4 ? ['#']
        : kind < 11 ? [`${area}/${n}/dev/${k}/temp`]
          : kind < 14 ? [`${area}/${n}/#`]
            : kind < 16 ? [`+/${n}/dev/${k}/temp`]
              : kind < 17 ? [`+/+/dev/${k}/#`]
                : kind < 18 ? [`${area}/+/dev/${k}/+`]
                  : kind === 18 ? [`${area}/${n}/#`, `${area}/${n}/dev/${k}/temp`]
                    : [`${area}/${n}/dev/${k}/humidity`];
    plans.push({ index: i, clientId: `scale-${i}`, version: i % 2 ? 5 : 4, gateway: i % GATEWAYS, filters, publishes: [] });
  }
  // a publisher keeps to one first level, so to one shard: MQTT orders messages per topic, and
  // the broker keeps a publisher's order per shard, so its messages must arrive in its order
  const messages: Message[] = [];
  for (const plan of plans.filter((p) => p.index % PUBLISHER_EVERY === 0)) {
    const area = AREAS[(plan.index / PUBLISHER_EVERY) % AREAS.length];
    for (let seq = 0; seq < MESSAGES_PER_PUBLISHER; seq++) {
      const topic = `${area}/${rnd(SITES)}/dev/${rnd(DEVICES)}/temp`;
      const recipients = new Set(plans.filter((p) => p.filters.some((f) => matches(f, topic))).map((p) => p.index));
      const message = { id: messages.length, publisher: plan.index, seq, topic, payload: `m${plan.index}.${seq}`, recipients };
      messages.push(message);
      plan.publishes.push(message);
    }
  }
  return { plans, messages };
}

/** Runs `work` over `items`, at most `limit` at a time; stops starting new ones after a failure. */
async function pool<T>(items: T[], limit: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  let failed = false;
  const lane = async () => {
    while (next < items.length && !failed) {
      await work(items[next++]).catch((err) => {
        failed = true;
        throw err;
      });
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, lane));
}

async function waitFor(what: string, done: () => boolean, timeoutMs: number): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!done()) {
    if (Date.now() > until) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await sleep(50);
  }
}

class Device {
  readonly plan: Plan;
  readonly raw: RawClient;
  readonly received: Delivery[] = [];
  readonly unexpected: Packet[] = [];
  /** PUBACK reason codes by packet id. */
  readonly pubacks = new Map<number, number>();

  private constructor(plan: Plan, raw: RawClient) {
    this.plan = plan;
    this.raw = raw;
  }

  /** Connects, subscribes (QoS 1) and from then on acknowledges every message as it arrives. */
  static async connect(base: string, plan: Plan): Promise<Device> {
    const raw = await RawClient.open(`${base}?gateway=${plan.gateway}`, plan.version);
    raw.send({ type: 'connect', protocolName: 'MQTT', protocolVersion: plan.version, clean: true, keepalive: 0, clientId: plan.clientId });
    expect(await raw.next(PACKET_TIMEOUT)).toMatchObject({ type: 'connack', reasonCode: 0, sessionPresent: false });
    raw.send({ type: 'subscribe', packetId: 1, subscriptions: plan.filters.map((topicFilter) => ({ topicFilter, qos: 1 as const })) });
    expect(await raw.next(PACKET_TIMEOUT)).toEqual(expect.objectContaining({ type: 'suback', packetId: 1, reasonCodes: plan.filters.map(() => 1) }));
    const device = new Device(plan, raw);
    for (const p of raw.packets.splice(0)) device.take(p);
    raw.onPacket = (p) => device.take(p);
    return device;
  }

  private take(p: Packet): void {
    if (p.type === 'publish') {
      this.received.push({ payload: decoder.decode(p.payload), topic: p.topic, qos: p.qos, dup: p.dup, at: Date.now() });
      if (p.qos === 1) this.raw.send({ type: 'puback', packetId: p.packetId! });
    } else if (p.type === 'puback') {
      this.pubacks.set(p.packetId, p.reasonCode ?? 0);
    } else {
      this.unexpected.push(p);
    }
  }

  /** Sends its messages back to back (fewer than the broker's receive maximum of 64), packet ids 1.. */
  publishAll(): void {
    this.plan.publishes.forEach((m, i) => {
      this.raw.send({ type: 'publish', topic: m.topic, payload: encoder.encode(m.payload), qos: 1, retain: false, dup: false, packetId: i + 1 });
    });
  }

  close(): void {
    if (this.raw.ws.readyState !== WebSocket.OPEN) return;
    this.raw.send({ type: 'disconnect' });
    this.raw.close();
  }
}

/** Lines no broker should print (as in fuzz.test.ts). */
const failures = /uncaught|unhandled|internal error|exception|TypeError|RangeError|ReferenceError|connection [\w-]+: /i;
/** workerd's streaming tail under `wrangler dev`, not broker code (see fuzz.test.ts and ARCHITECTURE.md). */
const devTailNoise = /exception = workerd\/io\/trace-stream\.c\+\+:\d+: disconnected: jsg\.Error: The destination execution context for this tail session was canceled while the call was still running\./;
const brokerFailures = (server: BrokerServer): string[] =>
  server.logs.join('').split('\n').filter((line) => failures.test(line) && !devTailNoise.test(line));

/** What each client got against what it should have got; the problems found, by kind. */
function check(devices: Device[], messages: Message[]): { received: number; problems: string[] } {
  const byPayload = new Map(messages.map((m) => [m.payload, m]));
  const problems: string[] = [];
  let received = 0;
  for (const d of devices) {
    const me = d.plan.index;
    const seen = new Set<number>();
    const lastSeq = new Map<number, number>();
    for (const r of d.received) {
      received++;
      const m = byPayload.get(r.payload);
      if (!m) {
        problems.push(`unknown payload: client ${me} ${JSON.stringify(r.payload)} on ${r.topic}`);
        continue;
      }
      const where = `client ${me} (v${d.plan.version}, gateway ${d.plan.gateway}, ${d.plan.filters.join(' + ')}) got ${m.payload} on ${m.topic}`;
      if (!m.recipients.has(me)) problems.push(`not a subscriber: ${where}`);
      if (seen.has(m.id)) problems.push(`twice: ${where}${r.dup ? ' (DUP)' : ''}`);
      else if (r.dup) problems.push(`DUP flag: ${where}`);
      if (r.topic !== m.topic) problems.push(`wrong topic ${r.topic}: ${where}`);
      if (r.qos !== 1) problems.push(`QoS ${r.qos}: ${where}`);
      if (m.seq <= (lastSeq.get(m.publisher) ?? -1)) problems.push(`out of order (after seq ${lastSeq.get(m.publisher)}): ${where}`);
      lastSeq.set(m.publisher, Math.max(m.seq, lastSeq.get(m.publisher) ?? -1));
      seen.add(m.id);
    }
    for (const p of d.unexpected) problems.push(`unexpected packet: client ${me} got ${p.type}`);
  }
  for (const m of messages) {
    for (const me of m.recipients) {
      if (!devices[me].received.some((r) => r.payload === m.payload)) {
        problems.push(`missing: client ${me} (v${devices[me].plan.version}, gateway ${devices[me].plan.gateway}, ${devices[me].plan.filters.join(' + ')}) never got ${m.payload} on ${m.topic}`);
      }
    }
  }
  return { received, problems };
}

describe(`scale: ${CLIENTS} clients on 3 gateways x 4 topic shards`, () => {
  let server: BrokerServer;
  let base = '';
  const { plans, messages } = planClients();
  const devices: Device[] = [];
  const expected = messages.reduce((n, m) => n + m.recipients.size, 0);

  beforeAll(async () => {
    server = await startBroker({ vars, logLevel: 'warn' });
    base = `ws://127.0.0.1:${server.port}/mqtt/${NAMESPACE}`;
  }, 90_000);

  // Closing is reported, not asserted: the close handshakes of 2,000 clients leaving at once take
  // seconds to complete, in the default topology as well (`node bench/closes.ts` measures it under
  // `npm start`: docs/BENCHMARKS.md, "Many closes at once").
  afterAll(async () => {
    const started = Date.now();
    const connected = devices.filter(Boolean); // a failed connect leaves a hole
    for (const d of connected) d.close();
    const inState = (state: number) => connected.filter((d) => d.raw.ws.readyState === state).length;
    await waitFor('clients closed', () => inState(WebSocket.CLOSED) === connected.length, 20_000).catch(() => undefined);
    console.log(`closing ${connected.length} clients: ${inState(WebSocket.CLOSED)} closed, ${inState(WebSocket.CLOSING)} closing, `
      + `${inState(WebSocket.OPEN)} open after ${((Date.now() - started) / 1000).toFixed(1)} s`);
    await server?.stop();
  }, 60_000);

  it('plans topics on every shard and filters of every kind', () => {
    expect(new Set(AREAS.map((a) => shardOfTopic(a, SHARDS))).size).toBe(SHARDS);
    const filters = plans.flatMap((p) => p.filters);
    expect(filters.filter((f) => shardsOfFilter(f, SHARDS).length === SHARDS).length).toBeGreaterThan(100); // on every shard
    expect(filters.filter((f) => !f.includes('+') && !f.includes('#')).length).toBeGreaterThan(1_000); // exact
    expect(new Set(plans.map((p) => p.gateway)).size).toBe(GATEWAYS);
    for (const m of messages) expect(m.recipients.size).toBeGreaterThan(0);
    const publishers = plans.filter((p) => p.publishes.length);
    expect(new Set(publishers.map((p) => p.gateway)).size).toBe(GATEWAYS);
    expect(new Set(publishers.map((p) => p.version)).size).toBe(2);
    expect(new Set(messages.map((m) => shardOfTopic(m.topic, SHARDS))).size).toBe(SHARDS);
  });

  it(`connects ${CLIENTS} clients at once, in waves of ${CONNECT_CONCURRENCY}, and subscribes them`, async () => {
    const started = Date.now();
    await pool(plans, CONNECT_CONCURRENCY, async (plan) => {
      devices[plan.index] = await Device.connect(base, plan);
    });
    const seconds = (Date.now() - started) / 1000;
    const perGateway = Array.from({ length: GATEWAYS }, (_, g) => devices.filter((d) => d.plan.gateway === g).length);
    const open = devices.filter((d) => d.raw.ws.readyState === WebSocket.OPEN).length;
    console.log(`connected and subscribed ${devices.length} clients (${devices.filter((d) => d.plan.version === 5).length} MQTT 5) `
      + `in ${seconds.toFixed(1)} s; per gateway ${perGateway.join(' / ')}; ${plans.flatMap((p) => p.filters).length} subscriptions`);
    expect(open).toBe(CLIENTS);
    for (const n of perGateway) expect(n).toBeGreaterThanOrEqual(Math.floor(CLIENTS / GATEWAYS));
  }, 150_000);

  it('routes every QoS 1 message exactly to its subscribers, once each, in publisher order', async () => {
    expect(devices.filter(Boolean).length).toBe(CLIENTS);
    const publishers = devices.filter((d) => d.plan.publishes.length > 0);
    const total = () => devices.reduce((n, d) => n + d.received.length, 0);
    const started = Date.now();
    for (const p of publishers) p.publishAll();

    await waitFor('PUBACKs', () => publishers.every((p) => p.pubacks.size === p.plan.publishes.length), 30_000);
    const acked = (Date.now() - started) / 1000;
    await waitFor(`deliveries (${expected} expected)`, () => total() >= expected, 60_000).catch((err) => console.log(String(err)));
    const delivered = (Date.now() - started) / 1000;
    await sleep(1_500); // anything extra, or a redelivery, would arrive meanwhile

    const { received, problems } = check(devices, messages);
    const times = devices.flatMap((d) => d.received.map((r) => (r.at - started) / 1000)).sort((a, b) => a - b);
    const at = (q: number) => (times[Math.min(times.length - 1, Math.floor(q * times.length))] ?? NaN).toFixed(1);
    console.log(`${publishers.length} publishers sent ${messages.length} QoS 1 messages: all acknowledged in ${acked.toFixed(1)} s; `
      + `deliveries expected ${expected}, received ${received}; 50% in ${at(0.5)} s, 99% in ${at(0.99)} s, all in ${delivered.toFixed(1)} s`);
    if (problems.length) {
      const kinds = new Map<string, number>();
      for (const p of problems) kinds.set(p.split(':')[0], (kinds.get(p.split(':')[0]) ?? 0) + 1);
      console.log(`problems: ${[...kinds].map(([k, n]) => `${k} ${n}`).join(', ')}\n${problems.slice(0, 30).join('\n')}`);
      console.log(`server log (failures):\n${brokerFailures(server).slice(0, 30).join('\n')}`);
    }
    expect({ problems: problems.length, first: problems.slice(0, 10) }).toEqual({ problems: 0, first: [] });
    expect(received).toBe(expected);
    for (const p of publishers) expect([...p.pubacks.values()].every((code) => code === 0)).toBe(true);
  }, 120_000);

  it('logged no failure', () => {
    const lines = server.logs.join('').split('\n');
    console.log(`server log: ${lines.length} lines, ${lines.filter((l) => devTailNoise.test(l)).length} of them workerd's dev tail noise`);
    expect(brokerFailures(server)).toEqual([]);
  });

  it('reports RPC calls on the shards and the gateways in /api/cost', async () => {
    const res = await fetch(`http://127.0.0.1:${server.port}/api/cost?ns=${NAMESPACE}`);
    expect(res.status).toBe(200);
    const cost = (await res.json()) as { total: { rpcCalls: number }; byRole: Record<string, { rpcCalls: number; requests: number; websocketMessagesIn: number }> };
    const line = (role: string) => `${role} ${cost.byRole[role]?.rpcCalls} RPC calls, ${cost.byRole[role]?.requests} requests`;
    console.log(`/api/cost: total ${cost.total.rpcCalls} RPC calls; ${['gateways', 'shards', 'sessions'].map(line).join('; ')}; `
      + `${cost.byRole.gateways?.websocketMessagesIn} WebSocket messages in`);
    expect(cost.total.rpcCalls).toBeGreaterThan(0);
    expect(cost.byRole.shards.rpcCalls).toBeGreaterThan(0);
    expect(cost.byRole.gateways.rpcCalls).toBeGreaterThan(0);
  });
});
