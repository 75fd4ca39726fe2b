// A server restart: workerd stops and starts again on the same local SQLite state.
import { afterAll, describe, expect, it } from 'vitest';
import { connectMqtt, openMqtt, uniqueId } from './clients.ts';
import { startBroker, type BrokerServer } from './server.ts';

describe('server restart', () => {
  let server: BrokerServer | undefined;
  afterAll(async () => server?.stop());

  it('keeps retained messages, persistent sessions and their queued QoS 1 messages', async () => {
    server = await startBroker();
    const clientId = uniqueId('survivor');
    const topic = uniqueId('restart');
    const sub = await connectMqtt(server.url, { protocolVersion: 5, clientId, clean: false, properties: { sessionExpiryInterval: 3600 } });
    await sub.subscribeAsync(topic, { qos: 1 });
    await sub.endAsync();
    const pub = await connectMqtt(server.url, { protocolVersion: 4 });
    await pub.publishAsync(`${topic}/retained`, 'kept', { qos: 1, retain: true });
    await pub.publishAsync(topic, 'queued before restart', { qos: 1 });
    await pub.endAsync();

    const { persistTo, port } = server;
    await server.stop();
    server = await startBroker({ persistTo, port });

    const { client: back, got, connack } = openMqtt(server.url, { protocolVersion: 5, clientId, clean: false, properties: { sessionExpiryInterval: 3600 } });
    expect((await connack).sessionPresent).toBe(true);
    expect((await got.next(10_000)).payload).toBe('queued before restart');
    await back.subscribeAsync(`${topic}/retained`, { qos: 1 });
    const retained = await got.next();
    expect([retained.payload, retained.packet.retain]).toEqual(['kept', true]);
    await back.endAsync();
  }, 120_000);
});
