// MQTT.js drains a persistent session's offline queue, in both topologies: the queue goes out in
// turns of the object (its first page with the CONNACK), in order, each message once, and what
// MQTT.js acknowledged is gone (a reconnect gets nothing). MQTT.js 5 advertises no Receive
// Maximum, so the window is 65,535 and the turns, not acknowledgements, pace the drain.
import { afterAll, describe, expect, it } from 'vitest';
import { connectMqtt, openMqtt, uniqueId } from './clients.ts';
import { startBroker, type BrokerServer } from './server.ts';

const topologies: Array<[string, Record<string, string>]> = [
  ['default topology', {}],
  ['sharded topology', { MQTT_GATEWAYS: '3', MQTT_SHARDS: '4', MQTT_SESSION_OBJECTS: '2' }],
];
const count = 3_000;

describe.each(topologies)('an offline queue drained by MQTT.js, %s', (_name, vars) => {
  let server: BrokerServer | undefined;
  afterAll(async () => {
    await server?.stop();
  });
  const at = (gateway: number) => `${server!.url}?gateway=${gateway}`;

  it(`${count} QoS 1 messages arrive in order, each once, and are gone once acknowledged`, async () => {
    server = await startBroker({ vars: { ...vars, MQTT_MAX_QUEUED_MESSAGES: String(2 * count) } });
    const session = { protocolVersion: 5 as const, clean: false, clientId: uniqueId('drained'), properties: { sessionExpiryInterval: 600 } };
    const topic = uniqueId('drain');
    const away = await connectMqtt(at(0), session);
    await away.subscribeAsync(topic, { qos: 1 });
    await away.endAsync();
    const pub = await connectMqtt(at(1), { protocolVersion: 4 });
    let next = 0;
    await Promise.all(Array.from({ length: 100 }, async () => {
      while (next < count) await pub.publishAsync(topic, String(next++), { qos: 1 });
    }));
    await pub.endAsync();

    const { client, got, connack } = openMqtt(at(2), session);
    expect((await connack).sessionPresent).toBe(true);
    for (let i = 0; i < count; i++) {
      const m = await got.next(20_000);
      expect([m.payload, m.packet.dup]).toEqual([String(i), false]);
    }
    await got.quiet(500);
    await client.endAsync(); // after its PUBACKs

    const again = openMqtt(at(0), session);
    expect((await again.connack).sessionPresent).toBe(true);
    await again.got.quiet(1_000); // every message was acknowledged: nothing is sent again
    await again.client.endAsync();
  }, 180_000);
});
