// QoS 2 exactly once across a publisher's reconnects [MQTT-4.3.3], in both topologies: a publisher
// with a persistent session sends a burst of QoS 2 PUBLISHes and its connection drops before the
// PUBRECs; it comes back (on another gateway, when there are several) and sends the burst again
// with DUP=1 and the same packet ids, as it must. Every message reaches the subscriber once.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Packet } from '../../src/protocol/index.ts';
import { connectMqtt, inbox, RawClient, uniqueId } from './clients.ts';
import { startBroker, type BrokerServer } from './server.ts';

const topologies = [
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

    it(`delivers each of ${burst * rounds} messages once when the publisher drops mid-burst and resends with DUP`, async () => {
      const topic = `once/${uniqueId()}`;
      const sub = await connectMqtt(at(2), { protocolVersion: 5, clean: false, properties: { sessionExpiryInterval: 120 } });
      await sub.subscribeAsync(topic, { qos: 2 });
      const box = inbox(sub);
      const publisher = uniqueId('pub');
      const connect = { protocolName: 'MQTT', protocolVersion: 5 as const, clean: false, keepalive: 0, clientId: publisher, properties: { sessionExpiryInterval: 120 } };
      const publish = (round: number, i: number, dup: boolean): Packet => ({
        type: 'publish', topic, payload: new TextEncoder().encode(`r${round}-m${i}`), qos: 2, retain: false, dup, packetId: i,
      });
      let acknowledged = 0;
      for (let round = 0; round < rounds; round++) {
        // the burst, then the connection drops before any PUBREC is read
        const first = await RawClient.connect(at(round), 5, { ...connect, clean: round === 0 });
        expect(first.connack).toMatchObject({ type: 'connack', reasonCode: 0 });
        for (let i = 1; i <= burst; i++) first.raw.send(publish(round, i, false));
        first.raw.close();
        // back, maybe elsewhere: the session is there, and the whole burst goes again with DUP=1
        const again = await RawClient.connect(at(round + 1), 5, connect);
        expect(again.connack).toMatchObject({ type: 'connack', reasonCode: 0, sessionPresent: true });
        for (let i = 1; i <= burst; i++) again.raw.send(publish(round, i, true));
        const recs = new Set<number>();
        while (recs.size < burst) {
          const p = await again.raw.next(10_000);
          if (p.type === 'pubrec') recs.add(p.packetId);
        }
        for (let i = 1; i <= burst; i++) again.raw.send({ type: 'pubrel', packetId: i });
        const comps = new Set<number>();
        while (comps.size < burst) {
          const p = await again.raw.next(10_000);
          if (p.type === 'pubcomp') comps.add(p.packetId);
        }
        acknowledged += comps.size;
        again.raw.send({ type: 'disconnect', reasonCode: 0 });
        again.raw.close();
      }
      expect(acknowledged).toBe(burst * rounds);
      const until = Date.now() + 15_000;
      while (box.items.length < burst * rounds && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
      await new Promise((r) => setTimeout(r, 1_000)); // a duplicate would arrive by now
      const counts = new Map<string, number>();
      for (const m of box.items) counts.set(m.payload, (counts.get(m.payload) ?? 0) + 1);
      const twice = [...counts].filter(([, n]) => n > 1).map(([p]) => p);
      const missing = [];
      for (let r = 0; r < rounds; r++) for (let i = 1; i <= burst; i++) if (!counts.has(`r${r}-m${i}`)) missing.push(`r${r}-m${i}`);
      expect({ delivered: box.items.length, twice, missing }).toEqual({ delivered: burst * rounds, twice: [], missing: [] });
      await sub.endAsync();
    }, 120_000);
  });
}
