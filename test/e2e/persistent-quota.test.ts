// MQTT_MAX_PERSISTENT_SESSIONS over real sockets with MQTT.js, in both topologies. Default: the
// namespace's object counts its sessions. Sharded: each of the 2 session objects keeps half of
// the quota for the client ids that hash to it, so the same test runs with 2 and with 4.
import { afterAll, describe, expect, it } from 'vitest';
import { connectMqtt, openMqtt, uniqueId } from './clients.ts';
import { startBroker, type BrokerServer } from './server.ts';
import { sessionObjectOf } from '../../src/broker/shard-key.ts';

const topologies: Array<[string, Record<string, string>]> = [
  ['default topology', { MQTT_MAX_PERSISTENT_SESSIONS: '2' }],
  ['sharded topology', { MQTT_MAX_PERSISTENT_SESSIONS: '4', MQTT_GATEWAYS: '2', MQTT_SHARDS: '2', MQTT_SESSION_OBJECTS: '2' }],
];

/** `n` new client ids that hash to session object `object` of 2. */
function idsOf(object: number, n: number): string[] {
  const ids: string[] = [];
  for (let i = 0; ids.length < n && i < 1000; i++) {
    const id = uniqueId('quota');
    if (sessionObjectOf(id, 2) === object) ids.push(id);
  }
  return ids;
}

const v5 = { protocolVersion: 5 as const, clean: true, properties: { sessionExpiryInterval: 3600 } };
const v4 = { protocolVersion: 4 as const, clean: false };

describe.each(topologies)('persistent session quota, %s', (name, vars) => {
  let server: BrokerServer | undefined;
  afterAll(async () => {
    if (process.env.SHOW_LOGS) console.log(server?.logs.join(''));
    await server?.stop();
  });
  const at = (gateway: number) => `${server!.url}?gateway=${gateway}`;

  /** A CONNECT that must be refused: the error MQTT.js reports for its CONNACK. */
  async function refused(url: string, opts: object): Promise<unknown> {
    const { client, connack } = openMqtt(url, opts);
    try {
      return await connack.then(() => 'accepted', (err: unknown) => err);
    } finally {
      client.end(true);
    }
  }

  it('refuses a new persistent session at the quota (v5 CONNACK 0x97, 3.1.1 return code 3); existing ones come back, clean ones pass, an ended one frees its place; a restart keeps the count', async () => {
    server = await startBroker({ vars });
    const [a, b, c] = idsOf(0, 3);
    const first = await connectMqtt(at(0), { ...v5, clientId: a });
    await first.subscribeAsync(`quota/${a}`, { qos: 1 });
    await first.endAsync(); // away
    const second = await connectMqtt(at(1), { ...v4, clientId: b }); // connected
    expect(await refused(at(0), { ...v5, clientId: c })).toMatchObject({ code: 0x97 });
    expect(await refused(at(1), { ...v4, clientId: c })).toMatchObject({ code: 3 });
    const clean = await connectMqtt(at(0), { protocolVersion: 5, clientId: c }); // Session Expiry 0: no place needed
    await clean.endAsync();

    // a restart: the connected session comes back away, and the count with it
    const { persistTo, port } = server;
    await server.stop();
    second.end(true);
    server = await startBroker({ persistTo, port, vars });
    expect(await refused(at(1), { ...v5, clientId: c })).toMatchObject({ code: 0x97 });
    const { client: back, connack } = openMqtt(at(1), { ...v5, clean: false, clientId: a });
    expect(await connack).toEqual({ sessionPresent: true });
    const b2 = openMqtt(at(0), { ...v4, clientId: b });
    expect(await b2.connack).toEqual({ sessionPresent: true });
    // a ends its session: DISCONNECT with Session Expiry 0, and c takes its place
    await back.endAsync(false, { reasonCode: 0, properties: { sessionExpiryInterval: 0 } });
    const third = await connectMqtt(at(0), { ...v5, clientId: c });
    expect(await refused(at(1), { ...v5, clientId: a })).toMatchObject({ code: 0x97 });
    await Promise.all([b2.client.endAsync(), third.endAsync()]);
    if (name === 'sharded topology') {
      // the other session object keeps its own half
      const [d, e, f] = idsOf(1, 3);
      const others = await Promise.all([d, e].map((clientId, i) => connectMqtt(at(i), { ...v5, clientId })));
      expect(await refused(at(0), { ...v5, clientId: f })).toMatchObject({ code: 0x97 });
      await Promise.all(others.map((o) => o.endAsync()));
    }
  }, 180_000);
});
