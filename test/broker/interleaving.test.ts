// Seeded random interleavings of the sharded topology (sharded-world.ts): clients on several
// gateways connect (several at once with one client id), take over, drop, publish at QoS 0/1/2
// and leave wills and expiring sessions, while every call between objects and every answer is
// one step in a random order. Checked after every step: at most one live connection per client
// id, every CONNECT answered; at the end, every gateway still accepts, and every acknowledged
// QoS 1/2 message reached every persistent subscriber subscribed before it was sent, QoS 2
// exactly once, in each publisher's order (per QoS, as [MQTT-4.6.0-6] asks). SEEDS=<n> runs more seeds, SEED=<n> replays one.
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { encode, type ConnectPacket, type Packet, type QoS } from '../../src/protocol/index.ts';
import { connectPacket, text, World, type VirtualClient } from './harness.ts';
import { prng } from './sharded-world.ts';

const topology = { gateways: 3, shards: 2, sessions: 2 };
/** Steps a CONNECT may wait for its CONNACK while other calls run. */
const connectBound = 4000;
/** Client actions and clock moves per seed (ACTIONS: fewer, to find a short replay). */
const defaultActions = 120;
const replay = (seed: number, actions: number) =>
  `SEED=${seed}${actions === defaultActions ? '' : ` ACTIONS=${actions}`} npx vitest run --project unit test/broker/interleaving.test.ts`;

interface Device {
  id: string;
  role: 'sub' | 'pub' | 'x';
  conns: Conn[];
  /** Subscriber: QoS 2 packet ids received and not yet released (the receiver's half of exactly once). */
  qos2: Set<number>;
  /** Subscriber: the action after which its subscription stood (SUBACK). */
  subscribedAt?: number;
  deliveries: Array<{ key: string; qos: QoS }>;
  /** Publisher: the next message number. */
  next: number;
}

interface Conn {
  device: Device;
  c: VirtualClient;
  /** Scheduler steps when CONNECT was sent. */
  sentAt: number;
  answered: boolean;
  up: boolean;
  nextPacketId: number;
  /** Publisher: packet id → message key of a QoS 1/2 flow in progress. */
  flows: Map<number, string>;
}

interface Sent {
  key: string;
  publisher: string;
  n: number;
  qos: QoS;
  at: number;
}

class Failure extends Error {}

async function run(seed: number, actions: number): Promise<void> {
  const random = prng(seed);
  const pick = <T>(xs: T[]): T => xs[Math.floor(random() * xs.length)];
  const w = new World({ topology, seed: seed ^ 0x5eed });
  const ns = w.sharded!;
  const trace = ns.scheduler.trace;
  const devices: Device[] = [
    ...['s0', 's1'].map((id) => device(id, 'sub')),
    ...['p0', 'p1'].map((id) => device(id, 'pub')),
    device('x', 'x'),
  ];
  const sent = new Map<string, Sent>();
  const acked = new Set<string>();
  let now = 0; // actions so far
  /** What a connection's receive threw (it never should). */
  const thrown: string[] = [];

  const fail = (why: string): never => {
    const late = w.logs.filter((l) => l.includes('timed out')).length;
    throw new Failure(`seed ${seed}: ${why}${late ? ` (${late} calls missed their deadline)` : ''}\nreplay: ${replay(seed, actions)}\nlast steps:\n  ${trace.slice(-Number(process.env.TRACE ?? 60)).join('\n  ')}`);
  };

  function device(id: string, role: Device['role']): Device {
    return { id, role, conns: [], qos2: new Set(), deliveries: [], next: 1 };
  }

  function send(conn: Conn, packet: Packet): void {
    if (conn.c.closed) return;
    void conn.c.conn.receive(encode(packet, conn.c.version)).catch((err: unknown) => void thrown.push(`${conn.c.conn.id}: ${String(err)}`));
  }

  function connect(d: Device, gateway: number): void {
    const version = d.role === 'pub' && random() < 0.5 ? 4 : 5;
    let packet: ConnectPacket;
    if (d.role === 'sub') packet = connectPacket({ version: 5, clientId: d.id, clean: false, properties: { sessionExpiryInterval: 0xffffffff } });
    else if (d.role === 'pub') packet = connectPacket({ version, clientId: d.id, clean: true });
    else {
      const willDelay = pick([undefined, 0, 2]);
      packet = connectPacket({
        version: 5, clientId: d.id, clean: random() < 0.5, keepalive: pick([0, 0, 3]),
        properties: { sessionExpiryInterval: pick([0, 3, 100]) },
        will: random() < 0.6 ? { topic: 'will/x', payload: text('gone'), qos: pick([0, 1, 2] as QoS[]), retain: random() < 0.3, properties: willDelay === undefined ? undefined : { willDelayInterval: willDelay } } : undefined,
      });
    }
    const c = w.client(packet.protocolVersion, gateway);
    const conn: Conn = { device: d, c, sentAt: ns.scheduler.steps, answered: false, up: false, nextPacketId: 1, flows: new Map() };
    d.conns.push(conn);
    trace.push(`action ${now}: ${d.id} CONNECT on gateway${gateway} as ${c.conn.id}${packet.clean ? ' clean' : ''}`);
    send(conn, packet);
  }

  function publish(d: Device): void {
    const conn = d.conns.find((k) => k.up && !k.c.closed);
    if (!conn) return;
    const qos = pick([0, 1, 2] as QoS[]);
    const n = d.next++;
    const key = `${d.id}:${n}`;
    const packetId = qos ? conn.nextPacketId++ : undefined;
    if (packetId) conn.flows.set(packetId, key);
    sent.set(key, { key, publisher: d.id, n, qos, at: now });
    trace.push(`action ${now}: ${d.id} PUBLISH ${key} QoS ${qos} on ${conn.c.conn.id}`);
    send(conn, { type: 'publish', topic: `t/${d.id}`, payload: text(key), qos, retain: false, dup: false, packetId });
  }

  /** The client's side of every packet the broker sent: acknowledgements, flows, bookkeeping. */
  function read(conn: Conn): void {
    const d = conn.device;
    for (let p = conn.c.received.shift(); p; p = conn.c.received.shift()) {
      switch (p.type) {
        case 'connack':
          if (conn.answered) fail(`${conn.c.conn.id}: a second CONNACK`);
          conn.answered = true;
          conn.up = p.reasonCode === 0;
          if (d.role === 'sub' && conn.up && d.subscribedAt !== undefined && !p.sessionPresent) fail(`${d.id} lost its session (CONNACK session present 0 on ${conn.c.conn.id})`);
          if (d.role === 'sub' && conn.up && d.subscribedAt === undefined) {
            send(conn, { type: 'subscribe', packetId: conn.nextPacketId++, subscriptions: [{ topicFilter: 't/#', qos: 2 }] });
          }
          break;
        case 'suback':
          if (p.reasonCodes.every((r) => r < 0x80)) d.subscribedAt ??= now;
          break;
        case 'publish': {
          const key = new TextDecoder().decode(p.payload);
          trace.push(`${d.id} got ${key} QoS ${p.qos}${p.dup ? ' (dup)' : ''} on ${conn.c.conn.id}`);
          if (p.qos < 2 || !d.qos2.has(p.packetId!)) {
            if (p.qos === 2 && d.deliveries.some((x) => x.key === key && x.qos === 2)) fail(`${d.id} got QoS 2 ${key} twice`);
            d.deliveries.push({ key, qos: p.qos });
          }
          if (p.qos === 1) send(conn, { type: 'puback', packetId: p.packetId!, reasonCode: 0 });
          if (p.qos === 2) {
            d.qos2.add(p.packetId!);
            send(conn, { type: 'pubrec', packetId: p.packetId!, reasonCode: 0 });
          }
          break;
        }
        case 'pubrel':
          d.qos2.delete(p.packetId);
          send(conn, { type: 'pubcomp', packetId: p.packetId, reasonCode: 0 });
          break;
        case 'pubrec':
          if ((p.reasonCode ?? 0) < 0x80) send(conn, { type: 'pubrel', packetId: p.packetId, reasonCode: 0 });
          else conn.flows.delete(p.packetId);
          break;
        case 'puback':
        case 'pubcomp': {
          const key = conn.flows.get(p.packetId);
          conn.flows.delete(p.packetId);
          if (key && (p.reasonCode ?? 0) < 0x80) acked.add(key);
          break;
        }
        default:
          break;
      }
    }
  }

  /** After every step: each client reads what it got; at most one live connection per client id; no CONNECT waits too long. */
  function check(): void {
    if (thrown.length) fail(`receive threw: ${thrown[0]}`);
    ns.flush();
    for (const d of devices) for (const conn of d.conns) read(conn);
    const live = new Map<string, string[]>();
    for (const g of ns.gateways) {
      for (const conn of g.gateway.connections.values()) {
        if (conn.state === 'active') live.set(conn.clientId, [...(live.get(conn.clientId) ?? []), conn.id]);
      }
    }
    for (const [id, conns] of live) if (conns.length > 1) fail(`${id} has ${conns.length} live connections: ${conns.join(', ')}`);
    for (const d of devices) {
      for (const conn of d.conns) {
        if (!conn.answered && !conn.c.closed && ns.scheduler.steps - conn.sentAt > connectBound) fail(`${conn.c.conn.id} (${d.id}): no CONNACK after ${connectBound} steps`);
      }
    }
  }

  const settle = () => new Promise<void>((resolve) => setImmediate(resolve));

  /** Runs every call to its end (random order), then: every CONNECT still open must have its answer. */
  async function drain(): Promise<void> {
    for (let i = 0; i < 50_000; i++) {
      await settle();
      check();
      if (!ns.scheduler.step()) break;
    }
    if (ns.scheduler.pending) fail('calls between objects never drained');
    for (const d of devices) {
      for (const conn of d.conns) if (!conn.answered && !conn.c.closed) fail(`deadlock: ${conn.c.conn.id} (${d.id}) has no CONNACK and nothing is left to run`);
    }
  }

  const gateways = Array.from({ length: topology.gateways }, (_, i) => i);
  for (now = 0; now < actions; now++) {
    const r = random();
    if (r < 0.45) {
      for (let k = Math.floor(random() * 4); k >= 0 && ns.scheduler.step(); k--) {
        await settle();
        check();
      }
    } else if (r < 0.55) {
      connect(pick(devices), pick(gateways));
    } else if (r < 0.6) {
      // one client id connecting several times at once, two of them on one gateway (the e2e storm)
      const d = pick(devices.filter((x) => x.role !== 'pub'));
      const g = pick(gateways);
      for (const at of [g, g, pick(gateways), pick(gateways)].slice(0, 3 + Math.floor(random() * 2))) connect(d, at);
    } else if (r < 0.85) {
      publish(pick(devices.filter((x) => x.role === 'pub')));
    } else if (r < 0.93) {
      const open = devices.flatMap((d) => d.conns.filter((c) => !c.c.closed));
      if (open.length) {
        const conn = pick(open);
        trace.push(`action ${now}: ${conn.device.id} ${conn.up ? 'DISCONNECT or drop' : 'drop'} ${conn.c.conn.id}`);
        if (conn.up && random() < 0.5) send(conn, { type: 'disconnect', reasonCode: 0 });
        else conn.c.conn.lost();
      }
    } else {
      trace.push(`action ${now}: clock +1s`);
      w.clock.advance(1000);
      vi.advanceTimersByTime(1000); // the calls' deadlines
      ns.tick();
    }
    await settle();
    check();
  }

  // the end: every call runs out, every persistent subscriber comes back for its queue
  now = actions;
  await drain();
  for (const d of devices.filter((x) => x.role === 'sub')) {
    if (!d.conns.some((c) => c.up && !c.c.closed)) connect(d, pick(gateways));
  }
  await drain();
  for (const d of devices.filter((x) => x.role === 'sub')) {
    if (!d.conns.some((c) => c.up && !c.c.closed)) fail(`${d.id} could not come back`);
  }
  // every gateway keeps accepting, a contended client id too
  const fresh = gateways.map((g) => device(`fresh${g}`, 'pub'));
  devices.push(...fresh);
  fresh.forEach((d, g) => connect(d, g));
  connect(devices.find((d) => d.role === 'x')!, pick(gateways));
  await drain();
  for (const d of [...fresh, devices.find((x) => x.role === 'x')!]) {
    const last = d.conns.at(-1)!;
    if (!last.up) fail(`${last.c.conn.id} (${d.id}) on a drained namespace was not accepted`);
  }

  // every acknowledged QoS 1/2 message reached every subscriber subscribed before it was sent
  for (const d of devices.filter((x) => x.role === 'sub' && x.subscribedAt !== undefined)) {
    const got = new Map<string, number>();
    for (const { key } of d.deliveries) got.set(key, (got.get(key) ?? 0) + 1);
    const owed = [...sent.values()].filter((m) => m.qos > 0 && acked.has(m.key) && m.at > d.subscribedAt!);
    for (const m of owed) {
      const times = got.get(m.key) ?? 0;
      if (times === 0) fail(`${d.id} never got ${m.key} (QoS ${m.qos}, acknowledged, sent at action ${m.at}, subscribed at ${d.subscribedAt})`);
      if (m.qos === 2 && times > 1) fail(`${d.id} got QoS 2 ${m.key} ${times} times`);
    }
    // in each publisher's order, per QoS [MQTT-4.6.0-6]: first deliveries of acknowledged messages
    const owedKeys = new Set(owed.map((m) => m.key));
    const last = new Map<string, number>();
    const seen = new Set<string>();
    for (const { key } of d.deliveries) {
      if (!owedKeys.has(key) || seen.has(key)) continue;
      seen.add(key);
      const m = sent.get(key)!;
      const stream = `${m.publisher} QoS ${m.qos}`;
      if ((last.get(stream) ?? 0) > m.n) fail(`${d.id} got ${key} after ${m.publisher}:${last.get(stream)} (${stream})`);
      last.set(stream, m.n);
    }
  }
}

/** Runs seeds; returns the first few failures, each with its replay line and last steps. */
async function sweep(seeds: number[], actions: number, maxFailures: number): Promise<string[]> {
  const failures: string[] = [];
  for (const seed of seeds) {
    vi.clearAllTimers(); // deadlines of an earlier seed's calls
    try {
      await run(seed, actions);
    } catch (err) {
      if (!(err instanceof Failure)) throw new Error(`seed ${seed}: ${String(err)}\nreplay: ${replay(seed, actions)}`, { cause: err });
      failures.push(err.message);
      if (failures.length >= maxFailures) break;
    }
  }
  if (failures.length) console.error(failures[0]);
  return failures.map((f) => f.split('\n').slice(0, 2).join(' | '));
}

/**
 * FAILS on main at 125becc (the seeds below show each way), so `npm test` skips the sweep until
 * they pass; SEEDS=<n> or SEED=<n> runs it. Set to false once the known seeds pass.
 */
const knownToFail = true;

describe('sharded interleavings', () => {
  // the calls' deadlines run on the test's time, as the manual clock does
  beforeAll(() => void vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] }));
  afterAll(() => void vi.useRealTimers());
  const one = process.env.SEED;
  const first = Number(process.env.FIRST_SEED ?? 1);
  const count = one ? 1 : Number(process.env.SEEDS ?? 2000);
  const actions = Number(process.env.ACTIONS ?? defaultActions);
  const seeds = one ? [Number(one)] : Array.from({ length: count }, (_, i) => first + i);
  const asked = one !== undefined || process.env.SEEDS !== undefined;

  it.skipIf(knownToFail && !asked)(`hold the invariants for ${count} seeded interleaving${count === 1 ? '' : 's'}`, async () => {
    expect(await sweep(seeds, actions, Number(process.env.MAX_FAILURES ?? 3))).toEqual([]);
  }, 60_000 + count * 200);

  // FAILS on main at 125becc, each a short replay of one way the sweep fails (report of the
  // sharded-harness branch); unskip once it passes.
  it.skip.each([
    // c4 drops while its claim is in flight; c2's claim takes it over, and Gateway.takeOver, not
    // finding c4 open, does not wait for c4's claim to settle: c2 gets session present 0
    [31, 15, 'lost session'],
    // the same cause: two connections of x live at once [MQTT-3.1.4-3]
    [1858, 25, 'two live connections'],
    // p1:2 rides the shard's answer to gateway 2, whose arriving client (c2) closed; gateway 2
    // passes it to the session object, which queues it in its copy of the session lent to c2;
    // c2's hand-back then replaces that copy (adopt deletes first): an acknowledged QoS 2 message lost
    [355, 25, 'lost message'],
    // QoS 1 reordered for one publisher: p1:1, forwarded by the session object to the gateway of
    // an arriving claim that is then taken over, rejoins the session behind p1:2 and p1:3, which
    // the session object queued meanwhile (fails the same way with the takeover fixed)
    [21, 45, 'order'],
  ])('seed %i with %i actions (%s)', async (seed, n) => {
    expect(await sweep([seed], n, 1)).toEqual([]);
  });
});
