// QoS 2 exactly once across a server killed with SIGKILL mid-stream [MQTT-4.3.3], in both
// topologies: a publisher with a persistent session streams QoS 2 messages (within the server's
// Receive Maximum) to a persistent subscriber; the server is killed after a seeded number of
// PUBRECs, started again on the same state, and both clients come back (on other gateways when
// there are several) and carry on as the spec says: PUBLISH again with DUP=1 what got no PUBREC,
// PUBREL again what got no PUBCOMP. The subscriber keeps its own half of QoS 2 (ids awaiting
// PUBREL) across the restart. Every message arrives exactly once.
//
// `npm test` runs KILL_SEEDS (default 4) seeds of each topology: 4 to 15 s each on the 2-core
// machine, more under load. `npm run test:kill` runs 40 seeds of each (KILL_SEEDS, from SEED,
// default 1). In the sharded topology a kill can fall between the subscriber's gateway storing a
// message and the publisher's gateway hearing that its shard routed it: the resend goes again
// under the message's id and the subscriber's session recognises it (docs/ARCHITECTURE.md,
// "Exactly once across a kill"; test/broker/restart-qos2.test.ts takes it step by step).
import { afterAll, describe, expect, it } from 'vitest';
import type { Packet } from '../../src/protocol/index.ts';
import { RawClient, uniqueId } from './clients.ts';
import { startBroker, type BrokerServer } from './server.ts';

const topologies: Array<{ name: string; vars: Record<string, string>; gateways: number }> = [
  { name: 'default topology', vars: {}, gateways: 1 },
  {
    name: 'sharded topology (3 gateways x 4 shards)', vars: { MQTT_GATEWAYS: '3', MQTT_SHARDS: '4', MQTT_SESSION_OBJECTS: '2' }, gateways: 3,
  },
];

const total = 150;
const window = 32;
const first = Number(process.env.SEED ?? 1);
const seeds = Array.from({ length: Number(process.env.KILL_SEEDS ?? 4) }, (_, i) => first + i);

for (const topology of topologies) {
  describe(`QoS 2 across a SIGKILL of the server, ${topology.name}`, () => {
    // one server for the seeds: each kills it and leaves the restarted one to the next (its own
    // topic and client ids), so a seed costs one start
    let server: BrokerServer | undefined;
    afterAll(async () => {
      if (process.env.SHOW_LOGS) console.log(server?.logs.join(''));
      await server?.stop();
    });

    it.each(seeds)(`${total} messages, the server killed mid-stream: each delivered once (seed %i)`, async (seed) => {
      server ??= await startBroker({ vars: topology.vars });
      const at = (gateway: number) => `ws://127.0.0.1:${server!.port}/mqtt?gateway=${gateway % topology.gateways}`;
      const topic = `kill/${uniqueId()}`;
      const session = { clean: false, keepalive: 0, properties: { sessionExpiryInterval: 600 } };
      const subId = uniqueId('ksub');
      const pubId = uniqueId('kpub');
      const killAfter = 40 + (seed * 37) % 60;

      // the subscriber: QoS 2 receiver state kept across its reconnect [MQTT-4.3.3-9..-12]
      const delivered: string[] = [];
      const awaitingRel = new Set<number>();
      // for a failure's report: each PUBLISH of a message the subscriber got, and when
      const seen = new Map<string, string[]>();
      let phase = 'before the kill';
      const receive = (raw: RawClient) => (p: Packet) => {
        if (p.type === 'publish') {
          const m = new TextDecoder().decode(p.payload);
          seen.set(m, [...(seen.get(m) ?? []), `${phase}: packet id ${p.packetId}${p.dup ? ' DUP' : ''}`]);
          if (!awaitingRel.has(p.packetId!)) delivered.push(m);
          awaitingRel.add(p.packetId!);
          raw.send({ type: 'pubrec', packetId: p.packetId! });
        } else if (p.type === 'pubrel') {
          awaitingRel.delete(p.packetId);
          raw.send({ type: 'pubcomp', packetId: p.packetId });
        }
      };
      const subscriber = async (gateway: number, first: boolean) => {
        const raw = await bounded(RawClient.open(at(gateway), 5), 'the subscriber\'s WebSocket');
        raw.onPacket = receive(raw);
        const connacked = new Promise<void>((resolve) => {
          const handle = raw.onPacket!;
          raw.onPacket = (p) => (p.type === 'connack' ? resolve() : handle(p));
        });
        raw.send({ type: 'connect', protocolName: 'MQTT', protocolVersion: 5, clientId: subId, ...session, clean: first });
        await bounded(connacked, 'the subscriber\'s CONNACK');
        if (first) raw.send({ type: 'subscribe', packetId: 1, subscriptions: [{ topicFilter: topic, qos: 2, noLocal: false, retainAsPublished: false, retainHandling: 0 }] });
        return raw;
      };
      let sub = await subscriber(2, true);

      // the publisher: its half of QoS 2, kept across its reconnect
      const recs = new Set<number>();
      const comps = new Set<number>();
      let sent = 0;
      const publish = (raw: RawClient, n: number, dup: boolean) =>
        raw.send({ type: 'publish', topic, payload: new TextEncoder().encode(`m${n}`), qos: 2, retain: false, dup, packetId: n });
      const publisher = async (gateway: number, first: boolean) => {
        const raw = await bounded(RawClient.open(at(gateway), 5), 'the publisher\'s WebSocket');
        let connacked!: () => void;
        const ready = new Promise<void>((resolve) => (connacked = resolve));
        raw.onPacket = (p) => {
          if (p.type === 'connack') connacked();
          else if (p.type === 'pubrec') {
            recs.add(p.packetId);
            raw.send({ type: 'pubrel', packetId: p.packetId });
          } else if (p.type === 'pubcomp') comps.add(p.packetId);
        };
        raw.send({ type: 'connect', protocolName: 'MQTT', protocolVersion: 5, clientId: pubId, ...session, clean: first });
        await bounded(ready, 'the publisher\'s CONNACK');
        return raw;
      };
      const inFlight = () => sent - comps.size;
      const until = (done: () => boolean, ms: number) => (async () => {
        const end = Date.now() + ms;
        do await new Promise((r) => setTimeout(r, 5)); while (!done() && Date.now() < end);
        return done();
      })();

      let pub = await publisher(0, true);
      while (recs.size < killAfter && sent < total) {
        while (sent < total && inFlight() < window) publish(pub, ++sent, false);
        if (!(await until(() => inFlight() < window || recs.size >= killAfter, 10_000))) break;
      }
      // SIGKILL: no chance to save anything the runtime had not made durable
      const killed = `after ${sent} sent, ${recs.size} PUBRECs and ${comps.size} PUBCOMPs received`;
      const { persistTo, port } = server;
      await server.crash();
      server = undefined; // should the start fail, the next seed starts a server of its own
      phase = 'after';
      await until(() => pub.closeCode !== undefined && sub.closeCode !== undefined, 5_000);
      server = await startBroker({ persistTo, port, vars: topology.vars });

      sub = await subscriber(1, false);
      pub = await publisher(1, false);
      // [MQTT-4.4.0-1]: PUBLISH again (DUP) what got no PUBREC, PUBREL again what got no PUBCOMP, in order
      for (let n = 1; n <= sent; n++) {
        if (comps.has(n)) continue;
        if (recs.has(n)) pub.send({ type: 'pubrel', packetId: n });
        else publish(pub, n, true);
      }
      while (sent < total) {
        while (sent < total && inFlight() < window) publish(pub, ++sent, false);
        if (!(await until(() => inFlight() < window, 15_000))) break;
      }
      await until(() => comps.size === total, 15_000);
      expect(comps.size).toBe(total);
      await until(() => delivered.length >= total, 15_000);
      await new Promise((r) => setTimeout(r, 1_000)); // a duplicate would arrive by now
      const counts = new Map<string, number>();
      for (const m of delivered) counts.set(m, (counts.get(m) ?? 0) + 1);
      const missing = Array.from({ length: total }, (_, i) => `m${i + 1}`).filter((m) => !counts.has(m));
      const twice = [...counts].filter(([, n]) => n > 1).map(([m]) => m);
      const report = Object.fromEntries(twice.map((m) => [m, seen.get(m)]));
      expect({ killAfter, killed, missing, twice: report }).toEqual({ killAfter, killed, missing: [], twice: {} });
      pub.close();
      sub.close();
    }, 180_000);
  });
}

/** A promise that fails after 15 s, naming what did not come. */
function bounded<T>(promise: Promise<T>, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const expiry = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what} did not come within 15 s`)), 15_000)));
  return Promise.race([promise, expiry]).finally(() => clearTimeout(timer));
}
