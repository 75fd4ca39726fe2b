// Cloudflare limits that workerd enforces locally, reached on purpose over real sockets with the
// largest input the broker accepts: the 16 KiB WebSocket attachment (workerd's
// MAX_ATTACHMENT_SIZE, the same code in production). What the broker refuses must be refused
// with its reason code and the socket closed, never an exception in webSocketMessage.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defaultConfig } from '../../src/broker/index.ts';
import { encode } from '../../src/protocol/index.ts';
import { makeKey, sign, type SigningKey } from '../broker/auth/tokens.ts';
import { RawClient, uniqueId } from './clients.ts';
import { startBroker, type BrokerServer } from './server.ts';

const wide = (n: number): string => '中'.repeat(n); // two bytes a unit in V8's serializer
const idleEviction = 15_000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('the WebSocket attachment limit on workerd', () => {
  let server: BrokerServer;
  let key: SigningKey;
  beforeAll(async () => {
    key = await makeKey('HS256');
    server = await startBroker({ vars: { MQTT_JWT_SECRET: key.secret! } });
  }, 90_000);
  afterAll(async () => server?.stop());

  const uncaught = () => server.logs.join('').match(/attachment.*cannot be larger|Uncaught/g) ?? [];

  it('carries the largest accepted connection across messages and a hibernation wake', { timeout: 60_000 }, async () => {
    const { maxUsernameLength, maxClientIdLength, topicAliasMaximum } = defaultConfig;
    const acl = ['#', ...Array.from({ length: 510 }, () => 'a')]; // the widest claim the broker keeps (2,048 bytes of JSON)
    const token = await sign(key, { sub: wide(maxUsernameLength), acl });
    const clientId = wide(maxClientIdLength - 1) + String(process.pid % 10);
    const { raw: pub, connack } = await RawClient.connect(server.url, 5, { clientId, password: new TextEncoder().encode(token) });
    expect(connack).toMatchObject({ type: 'connack', reasonCode: 0 });
    const { raw: sub } = await RawClient.connect(server.url, 5, { clientId: uniqueId('sub') });
    const prefix = uniqueId('a');
    const topic = (alias: number) => `${prefix}/${wide(330)}/${alias}`.padEnd(1024 - 2 * 330, 'x');
    sub.send({ type: 'subscribe', packetId: 1, subscriptions: [{ topicFilter: `${prefix}/#`, qos: 0 }] });
    expect(await sub.next()).toMatchObject({ type: 'suback', reasonCodes: [0] });
    for (let alias = 1; alias <= topicAliasMaximum; alias++) {
      expect(new TextEncoder().encode(topic(alias)).length).toBe(1024);
      pub.send({ type: 'publish', topic: topic(alias), payload: new Uint8Array([alias]), qos: 0, retain: false, dup: false, properties: { topicAlias: alias } });
      expect(await sub.next()).toMatchObject({ type: 'publish', topic: topic(alias) });
    }
    await sleep(idleEviction); // the object hibernates; the attachment is all that is left of the connection
    pub.send({ type: 'publish', topic: '', payload: new Uint8Array([7]), qos: 0, retain: false, dup: false, properties: { topicAlias: 7 } });
    expect(await sub.next(10_000)).toMatchObject({ type: 'publish', topic: topic(7) });
    // the log line travels workerd → the launcher → this process, so it may trail the message
    const woke = () => /woke from hibernation/.test(server.logs.join(''));
    for (let i = 0; i < 200 && !woke(); i++) await sleep(50);
    expect(woke()).toBe(true);
    expect(uncaught()).toEqual([]);
    pub.close();
    sub.close();
  });

  it.each([
    ['an anonymous user name of 20,000 bytes', () => ({ username: 'u'.repeat(20_000) })],
    ['a token whose sub has 8,000 characters', async () => ({ password: new TextEncoder().encode(await sign(key, { sub: 's'.repeat(8_000) })) })],
  ])('refuses %s with CONNACK 0x86 and closes the socket', async (_name, fields) => {
    const { raw, connack } = await RawClient.connect(server.url, 5, await fields());
    expect(connack).toMatchObject({ type: 'connack', reasonCode: 0x86 });
    expect(await raw.closedWithin()).toBe(true);
    expect(uncaught()).toEqual([]);
  });

  it('writes one event\'s packets as messages of at most 256 KiB, cut between packets', async () => {
    const prefix = uniqueId('frames');
    const { raw: pub } = await RawClient.connect(server.url, 5);
    for (let i = 0; i < 12; i++) {
      pub.send({ type: 'publish', topic: `${prefix}/${i}`, payload: new Uint8Array(100_000), qos: 1, packetId: i + 1, retain: true, dup: false });
      expect(await pub.next()).toMatchObject({ type: 'puback' });
    }
    const { raw: sub } = await RawClient.connect(server.url, 5);
    sub.frameSizes.length = 0;
    sub.send({ type: 'subscribe', packetId: 1, subscriptions: [{ topicFilter: `${prefix}/#`, qos: 0 }] });
    for (let i = 0; i < 13; i++) await sub.next(10_000); // SUBACK and 12 retained messages
    expect(sub.frameSizes.length).toBeGreaterThanOrEqual(5);
    expect(Math.max(...sub.frameSizes)).toBeLessThanOrEqual(256 * 1024);
    for (let i = 0; i < 12; i++) pub.send({ type: 'publish', topic: `${prefix}/${i}`, payload: new Uint8Array(0), qos: 0, retain: true, dup: false });
    pub.close();
    sub.close();
  });

  it('accepts a packet of exactly MQTT_MAX_PACKET_SIZE in one WebSocket message, stored retained, and refuses one byte more: 0x95', async () => {
    const topic = uniqueId('max');
    const size = (payload: number) => encode({ type: 'publish', topic, payload: new Uint8Array(payload), qos: 1, packetId: 1, retain: true, dup: false }, 5).length;
    const overhead = size(0);
    const fits = defaultConfig.maxPacketSize - overhead - 2; // the remaining length takes two more bytes at this size
    expect(size(fits)).toBe(defaultConfig.maxPacketSize);
    const { raw: pub } = await RawClient.connect(server.url, 5);
    pub.send({ type: 'publish', topic, payload: new Uint8Array(fits), qos: 1, packetId: 1, retain: true, dup: false });
    expect(await pub.next(10_000)).toMatchObject({ type: 'puback', packetId: 1 });
    const { raw: sub } = await RawClient.connect(server.url, 5);
    sub.send({ type: 'subscribe', packetId: 1, subscriptions: [{ topicFilter: topic, qos: 1 }] });
    expect(await sub.next()).toMatchObject({ type: 'suback' });
    const got = await sub.next(10_000);
    expect(got).toMatchObject({ type: 'publish', topic, retain: true });
    expect((got as { payload: Uint8Array }).payload.length).toBe(fits);
    pub.send({ type: 'publish', topic, payload: new Uint8Array(fits + 1), qos: 1, packetId: 2, retain: true, dup: false });
    expect(await pub.next(10_000)).toMatchObject({ type: 'disconnect', reasonCode: 0x95 });
    pub.send({ type: 'publish', topic, payload: new Uint8Array(0), qos: 0, retain: true, dup: false });
    sub.close();
    expect(uncaught()).toEqual([]);
  });

  it('refuses to start a namespace with settings over the attachment, naming both', async () => {
    const other = await startBroker({ vars: { MQTT_TOPIC_ALIAS_MAXIMUM: '20' } });
    try {
      const raw = await RawClient.open(`${other.url}/${uniqueId('ns')}`, 5).catch(() => undefined);
      raw?.close();
      const until = Date.now() + 10_000;
      const said = () => /MQTT_TOPIC_ALIAS_MAXIMUM 20 × MQTT_MAX_TOPIC_LENGTH 1024.*16384 bytes/.test(other.logs.join(''));
      while (!said() && Date.now() < until) await sleep(100);
      expect(said()).toBe(true);
    } finally {
      await other.stop();
    }
  }, 90_000);
});
