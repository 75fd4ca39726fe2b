// A server restart: workerd stops and starts again on the same local SQLite state, in both
// topologies. In the sharded one the client comes back on another gateway.
import { afterAll, describe, expect, it } from 'vitest';
import { connectMqtt, openMqtt, uniqueId } from './clients.ts';
import { startBroker, type BrokerServer } from './server.ts';

const topologies: Array<[string, Record<string, string>]> = [
  ['default topology', {}],
  ['sharded topology', { MQTT_GATEWAYS: '3', MQTT_SHARDS: '4', MQTT_SESSION_OBJECTS: '2' }],
];

describe.each(topologies)('server restart, %s', (_name, vars) => {
  let server: BrokerServer | undefined;
  afterAll(async () => {
    if (process.env.SHOW_LOGS) console.log(server?.logs.join('').split('\n').filter((l) => !/GET \/mqtt|^\s*$/.test(l)).join('\n'));
    await server?.stop();
  });
  const at = (gateway: number) => `${server!.url}?gateway=${gateway}`;

  it('keeps retained messages and persistent sessions, away or connected, with their queued QoS 1 messages', async () => {
    server = await startBroker({ vars });
    const session = { protocolVersion: 5 as const, clean: false, properties: { sessionExpiryInterval: 3600 } };
    const [away, live] = [uniqueId('survivor'), uniqueId('live')];
    const topic = uniqueId('restart');
    const sub = await connectMqtt(at(0), { ...session, clientId: away });
    await sub.subscribeAsync(topic, { qos: 1 });
    await sub.endAsync();
    const connected = await connectMqtt(at(0), { ...session, clientId: live });
    await connected.subscribeAsync(`${topic}/live`, { qos: 1 });
    const pub = await connectMqtt(at(2), { protocolVersion: 4 });
    await pub.publishAsync(`${topic}/retained`, 'kept', { qos: 1, retain: true });
    await pub.publishAsync(topic, 'queued before restart', { qos: 1 });
    await pub.endAsync();

    const { persistTo, port } = server;
    await server.stop(); // the live client's socket dies with it
    connected.end(true);
    server = await startBroker({ persistTo, port, vars });

    const { client: back, got, connack } = openMqtt(at(1), { ...session, clientId: away });
    expect((await connack).sessionPresent).toBe(true);
    expect((await got.next(10_000)).payload).toBe('queued before restart');
    await back.subscribeAsync(`${topic}/retained`, { qos: 1 });
    const retained = await got.next();
    expect([retained.payload, retained.packet.retain]).toEqual(['kept', true]);

    const again = openMqtt(at(1), { ...session, clientId: live });
    expect((await again.connack).sessionPresent).toBe(true);
    const pub2 = await connectMqtt(at(2), { protocolVersion: 4 });
    await pub2.publishAsync(`${topic}/live`, 'after restart', { qos: 1 });
    expect((await again.got.next(10_000)).payload).toBe('after restart');
    await Promise.all([back.endAsync(), again.client.endAsync(), pub2.endAsync()]);
  }, 120_000);

  it('publishes the will of a keepalive-0 client lost in a restart with no traffic to its object (the alarm wakes it)', async () => {
    await server?.stop();
    const check = { ...vars, MQTT_WILL_CHECK_INTERVAL: '2' };
    server = await startBroker({ vars: check });
    const ns = uniqueId('wills');
    const in_ = (gateway: number) => `ws://127.0.0.1:${server!.port}/mqtt/${ns}?gateway=${gateway}`;
    const session = { protocolVersion: 5 as const, clean: false, properties: { sessionExpiryInterval: 3600 } };
    const watcher = uniqueId('watcher');
    const topic = `${ns}/status`;
    const watch = await connectMqtt(in_(1), { ...session, clientId: watcher });
    await watch.subscribeAsync(topic, { qos: 1 });
    await watch.endAsync();
    const dev = await connectMqtt(in_(0), { protocolVersion: 4, keepalive: 0, will: { topic, payload: Buffer.from('dev gone'), qos: 1, retain: false } });
    // past the alarms this traffic set (the counters' save, a second to five after it): only the will check is left
    await new Promise((r) => setTimeout(r, 7_000));

    const { persistTo, port } = server;
    await server.stop();
    dev.end(true);
    server = await startBroker({ persistTo, port, vars: check });
    const gone = /connections gone since this object last ran/;
    for (const until = Date.now() + 20_000; !gone.test(server.logs.join('')) && Date.now() < until;) await new Promise((r) => setTimeout(r, 100));
    expect(server.logs.join('')).toMatch(gone); // before any client came back

    const { got, connack, client } = openMqtt(in_(1), { ...session, clientId: watcher });
    expect((await connack).sessionPresent).toBe(true);
    expect((await got.next(10_000)).payload).toBe('dev gone');
    await got.quiet(1_000);
    await client.endAsync();
  }, 120_000);
});
