// The sharded topology under simultaneous CONNECTs of one client id on pinned gateways (a device
// retrying while its first attempt is open, two tabs, a reconnect storm): every CONNECT is
// answered, exactly one connection is left, and every gateway keeps accepting new clients.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Packet, ProtocolVersion } from '../../src/protocol/index.ts';
import { RawClient, uniqueId } from './clients.ts';
import { startBroker, type BrokerServer } from './server.ts';

const shardedVars = { MQTT_GATEWAYS: '3', MQTT_SHARDS: '4', MQTT_SESSION_OBJECTS: '2' };

/** The packets a client got within `ms`, and whether the server closed it. */
async function outcome(raw: RawClient, ms: number): Promise<{ packets: Packet[]; closed: boolean }> {
  const closed = await raw.closedWithin(ms);
  return { packets: [...raw.packets], closed };
}

describe('simultaneous CONNECTs of one client id across gateways', () => {
  let server: BrokerServer;
  const at = (gateway: number) => `ws://127.0.0.1:${server.port}/mqtt?gateway=${gateway}`;
  beforeAll(async () => {
    server = await startBroker({ vars: shardedVars });
  }, 90_000);
  afterAll(async () => {
    if (process.env.SHOW_LOGS) console.log(server?.logs.join(''));
    await server?.stop();
  });

  const storms: Array<{ gateways: number[]; version: ProtocolVersion; clean: boolean }> = [
    { gateways: [0, 0, 1, 2], version: 4, clean: true },
    { gateways: [1, 1, 1], version: 5, clean: false },
    { gateways: [0, 0, 2], version: 4, clean: false },
    { gateways: [2, 1, 2, 1], version: 5, clean: true },
  ];

  for (const { gateways, version, clean } of storms) {
    it(`gateways ${gateways.join(',')}, MQTT ${version === 5 ? '5' : '3.1.1'}, clean ${clean}: one connection left, every CONNECT answered, every gateway still accepts`, async () => {
      const clientId = uniqueId('storm');
      const raws = await Promise.all(gateways.map((g) => RawClient.open(at(g), version)));
      const properties = version === 5 && !clean ? { sessionExpiryInterval: 30 } : undefined;
      for (const raw of raws) {
        raw.send({
          type: 'connect', protocolName: 'MQTT', protocolVersion: version, clean, keepalive: 0, clientId, properties,
          will: { topic: `will/${clientId}`, payload: new TextEncoder().encode('gone'), qos: 1, retain: false },
        });
      }
      // every CONNECT is answered [MQTT-3.1.4-2]: a CONNACK within the deadline
      const results = await Promise.all(raws.map(async (raw) => {
        const first = await raw.next(15_000).catch(() => undefined);
        return first;
      }));
      expect(results.map((p) => p?.type)).toEqual(raws.map(() => 'connack'));
      // exactly one connection stays: the others are told 0x8E (v5) and closed, or were refused
      const after = await Promise.all(raws.map((raw) => outcome(raw, 3_000)));
      const open = after.filter((o) => !o.closed);
      expect(open.length).toBe(1);
      const winner = raws[after.findIndex((o) => !o.closed)];
      expect((results[raws.indexOf(winner)] as Packet & { type: 'connack' }).reasonCode).toBe(0);
      if (version === 5) {
        for (const [i, o] of after.entries()) {
          if (!o.closed) continue;
          const connack = results[i] as Packet & { type: 'connack' };
          // accepted then taken over: DISCONNECT 0x8E; refused: the CONNACK says why
          if (connack.reasonCode === 0) expect(o.packets).toContainEqual(expect.objectContaining({ type: 'disconnect', reasonCode: 0x8e }));
        }
      }
      // the winner still works: PINGREQ answered
      winner.send({ type: 'pingreq' });
      expect((await winner.next(5_000)).type).toBe('pingresp');

      // every gateway keeps accepting: 6 new clients, two per gateway
      const fresh = await Promise.all([0, 1, 2, 0, 1, 2].map((g) => RawClient.connect(at(g), 4, { clientId: uniqueId('after') })));
      expect(fresh.map((f) => (f.connack as Packet & { type: 'connack' }).reasonCode)).toEqual([0, 0, 0, 0, 0, 0]);
      // and the client id itself connects again, on another gateway, taking the winner over
      const again = await RawClient.connect(at((gateways[0] + 1) % 3), version, { clientId, clean: true });
      expect((again.connack as Packet & { type: 'connack' }).reasonCode).toBe(0);
      expect(await winner.closedWithin(5_000)).toBe(true);
      for (const raw of [...raws, ...fresh.map((f) => f.raw), again.raw]) raw.close();
    });
  }

  it('a client publishing QoS 1 to its own subscription while another connection takes it over: every acknowledged message reaches its session', async () => {
    const clientId = uniqueId('self');
    const topic = `self/${clientId}`;
    const v5 = { protocolName: 'MQTT', protocolVersion: 5 as const, clean: false, keepalive: 0, clientId, properties: { sessionExpiryInterval: 60 } };
    const old = await RawClient.connect(at(0), 5, { ...v5, clean: true });
    old.raw.send({ type: 'subscribe', packetId: 1, subscriptions: [{ topicFilter: topic, qos: 1, noLocal: false, retainAsPublished: false, retainHandling: 0 }] });
    expect((await old.raw.next()).type).toBe('suback');
    const payloads = new Set<string>();
    const acked = new Set<number>();
    const seen = (p: Packet) => {
      if (p.type === 'publish') payloads.add(new TextDecoder().decode(p.payload));
      if (p.type === 'puback') acked.add(p.packetId);
    };
    old.raw.onPacket = seen;
    const count = 60;
    for (let i = 1; i <= count; i++) {
      old.raw.send({ type: 'publish', topic, payload: new TextEncoder().encode(`m${i}`), qos: 1, retain: false, dup: false, packetId: i });
    }
    // the takeover lands mid-stream, from another gateway
    const fresh = await RawClient.open(at(1), 5);
    fresh.onPacket = (p) => {
      seen(p);
      if (p.type === 'publish' && p.qos === 1) fresh.send({ type: 'puback', packetId: p.packetId! });
    };
    fresh.send({ type: 'connect', ...v5 });
    expect(await old.raw.closedWithin(15_000)).toBe(true);
    // every message the old connection got PUBACK for reaches the session: on the old connection
    // before the takeover, or on the new one after
    const until = Date.now() + 15_000;
    const missing = () => [...acked].filter((i) => !payloads.has(`m${i}`));
    while (missing().length && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
    expect({ acknowledged: acked.size > 0, missing: missing() }).toEqual({ acknowledged: true, missing: [] });
    fresh.close();
  });
});
