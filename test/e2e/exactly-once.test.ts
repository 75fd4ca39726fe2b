// Nothing acknowledged lost, QoS 2 exactly once [MQTT-4.3.3], across a publisher's reconnects, in
// both topologies: a publisher with a persistent session sends a burst of QoS 1 or 2 PUBLISHes and
// its connection is cut mid-burst (at a seeded random point) before it reads any acknowledgement;
// it comes back (on another gateway, when there are several) and sends the burst again with DUP=1
// and the same packet ids, as it must. Every message reaches the subscriber: QoS 2 once, QoS 1 at
// least once.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Packet } from '../../src/protocol/index.ts';
import { connectMqtt, inbox, RawClient, uniqueId } from './clients.ts';
import { startBroker, type BrokerServer } from './server.ts';
import { prng } from '../broker/sharded-world.ts';

const topologies: Array<{ name: string; vars: Record<string, string>; gateways: number }> = [
  { name: 'default topology', vars: {}, gateways: 1 },
  { name: 'sharded topology (3 gateways x 4 shards)', vars: { MQTT_GATEWAYS: '3', MQTT_SHARDS: '4', MQTT_SESSION_OBJECTS: '2' }, gateways: 3 },
];

const burst = 16;
const rounds = 8;

for (const topology of topologies) {
  describe(`QoS 2 across publisher reconnects, ${topology.name}`, () => {
    let server: BrokerServer;
    const at = (gateway: number) => `ws://127.0.0.1:${server.port}/mqtt?gateway=${gateway % topology.gateways}`;
    beforeAll(async () => {
      server = await startBroker({ vars: topology.vars });
    }, 90_000);
    afterAll(async () => {
      if (process.env.SHOW_LOGS) console.log(server?.logs.join(''));
      await server?.stop();
    });

    for (const qos of [1, 2] as const) {
      it(`QoS ${qos}: ${burst * rounds} messages, the publisher cut mid-burst ${rounds} times and sending again with DUP`, async () => {
        const seed = Number(process.env.SEED ?? 7 + qos);
        const random = prng(seed);
        const topic = `once/${uniqueId()}`;
        const sub = await connectMqtt(at(2), { protocolVersion: 5, clean: false, properties: { sessionExpiryInterval: 120 } });
        await sub.subscribeAsync(topic, { qos: 2 });
        const box = inbox(sub);
        const publisher = uniqueId('pub');
        const connect = { protocolName: 'MQTT', protocolVersion: 5 as const, clean: false, keepalive: 0, clientId: publisher, properties: { sessionExpiryInterval: 120 } };
        const publish = (round: number, i: number, dup: boolean): Packet => ({
          type: 'publish', topic, payload: new TextEncoder().encode(`r${round}-m${i}`), qos, retain: false, dup, packetId: i,
        });
        let acknowledged = 0;
        for (let round = 0; round < rounds; round++) {
          // part of the burst, then the connection is cut before any acknowledgement is read
          const first = await RawClient.connect(at(round), 5, { ...connect, clean: round === 0 });
          expect(first.connack).toMatchObject({ type: 'connack', reasonCode: 0 });
          const cutAt = 1 + Math.floor(random() * burst);
          for (let i = 1; i <= cutAt; i++) first.raw.send(publish(round, i, false));
          if (random() < 0.5) await new Promise((r) => setTimeout(r, Math.floor(random() * 30)));
          first.raw.close();
          // back, maybe elsewhere: the session is there; the whole burst goes (again) with DUP=1
          const again = await RawClient.connect(at(round + 1), 5, connect);
          expect(again.connack).toMatchObject({ type: 'connack', reasonCode: 0, sessionPresent: true });
          for (let i = 1; i <= burst; i++) again.raw.send(publish(round, i, i <= cutAt));
          const acks = new Set<number>();
          while (acks.size < burst) {
            const p = await again.raw.next(10_000);
            if (p.type === (qos === 1 ? 'puback' : 'pubrec')) acks.add(p.packetId);
          }
          if (qos === 2) {
            for (let i = 1; i <= burst; i++) again.raw.send({ type: 'pubrel', packetId: i });
            acks.clear();
            while (acks.size < burst) {
              const p = await again.raw.next(10_000);
              if (p.type === 'pubcomp') acks.add(p.packetId);
            }
          }
          acknowledged += acks.size;
          again.raw.send({ type: 'disconnect', reasonCode: 0 });
          again.raw.close();
        }
        expect(acknowledged).toBe(burst * rounds);
        const until = Date.now() + 15_000;
        const distinct = () => new Set(box.items.map((m) => m.payload)).size;
        while (distinct() < burst * rounds && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
        await new Promise((r) => setTimeout(r, 1_000)); // a duplicate would arrive by now
        const counts = new Map<string, number>();
        for (const m of box.items) counts.set(m.payload, (counts.get(m.payload) ?? 0) + 1);
        const twice = qos === 2 ? [...counts].filter(([, n]) => n > 1).map(([p]) => p) : [];
        const missing = [];
        for (let r = 0; r < rounds; r++) for (let i = 1; i <= burst; i++) if (!counts.has(`r${r}-m${i}`)) missing.push(`r${r}-m${i}`);
        expect({ seed, twice, missing }).toEqual({ seed, twice: [], missing: [] });
        if (qos === 2) expect(box.items.length).toBe(burst * rounds);
        await sub.endAsync();
      }, 120_000);
    }
  });
}
