// The hibernation attachment stays under the runtime's 16 KiB (workerd's MAX_ATTACHMENT_SIZE,
// the same code in production) for the largest input the broker accepts, measured with V8's
// serializer, the one workerd uses; inputs that would grow it further are refused at CONNECT;
// and settings that would let a client past a platform limit are refused when a broker starts.
import { serialize } from 'node:v8';
import { describe, expect, it } from 'vitest';
import { createAuth } from '../../src/broker/auth/index.ts';
import { defaultConfig, type BrokerConfig } from '../../src/broker/index.ts';
import { platformLimits } from '../../src/broker/platform.ts';
import { snapshotBound } from '../../src/broker/snapshot.ts';
import { configFromEnv } from '../../src/edge/config.ts';
import { connectPacket, text, World } from './harness.ts';
import { makeKey, sign } from './auth/tokens.ts';

const wide = (n: number): string => '中'.repeat(n); // two bytes a unit serialized, three in UTF-8

/** A broker taking HS256 tokens and anonymous clients, with this configuration. */
async function tokenWorld(config: Partial<BrokerConfig> = {}, peer?: string) {
  const key = await makeKey('HS256');
  let w: World | undefined;
  const auth = createAuth({ namespace: 'default', allowAnonymous: true, jwt: { secret: key.secret } }, { now: () => w!.clock.now() });
  w = new World({ hooks: auth.hooks, config, peer });
  return { w, key };
}

/** The token acl claim that takes most room in the attachment: 2,048 bytes of JSON in the shortest rules. */
const widestAcl = Array.from({ length: 511 }, () => 'a');

describe('the hibernation attachment', () => {
  it('holds the largest accepted connection within its bound, and the bound within 16 KiB', async () => {
    expect(JSON.stringify(widestAcl).length).toBe(2045);
    const config = defaultConfig;
    const { w, key } = await tokenWorld({}, wide(100)); // a peer address longer than any kept
    const token = await sign(key, { sub: wide(config.maxUsernameLength), acl: widestAcl });
    const c = await w.connect({ version: 5, clientId: wide(config.maxClientIdLength), password: token });
    // every alias set to a topic of the longest length, mostly three-byte characters
    const topic = (i: number) => wide(340) + 'abc'.slice(0, config.maxTopicLength - 1020) + String(i % 10);
    for (let alias = 1; alias <= config.topicAliasMaximum; alias++) {
      expect(new TextEncoder().encode(topic(alias)).length).toBeLessThanOrEqual(config.maxTopicLength);
      await c.publish(topic(alias), 'x', { properties: { topicAlias: alias } });
    }
    c.conn.authMethod = wide(64); // as long as a method name may be
    c.expectNothing();
    const snapshot = c.conn.snapshot();
    // with the edge meter's stash beside it (src/edge/meter.ts Stash), its numbers as wide as doubles get
    const stash = [2 ** 40, ...Array.from({ length: 12 }, (_, i) => 2 ** 52 + i + 0.5)]; // its thirteen numbers
    const size = serialize({ ...snapshot, meter: stash }).length;
    expect(size).toBeLessThanOrEqual(snapshotBound(config));
    expect(snapshotBound(config)).toBeLessThanOrEqual(platformLimits.attachment.value);
    expect(size).toBeGreaterThan(snapshotBound(config) * 0.85); // the bound is not loose either

    // and a wake restores what it holds: the aliases resolve to the same topics
    const woke = w.broker.gateway.open('woke', { send: () => {}, close: () => {} }, structuredClone(snapshot));
    expect([...woke.topicAliases]).toEqual([...c.conn.topicAliases]);
    expect([woke.username, woke.clientId, woke.principal]).toEqual([c.conn.username, c.conn.clientId, c.conn.principal]);
  });

  it('stores a verified user name once', async () => {
    const { w, key } = await tokenWorld();
    const c = await w.connect({ version: 5, clientId: 'c', password: await sign(key, { sub: 'alice' }) });
    const snapshot = c.conn.snapshot();
    expect([snapshot.username, snapshot.principal?.username]).toEqual([undefined, 'alice']);
  });

  it.each([
    ['an anonymous user name of 20,000 bytes', { username: 'u'.repeat(20_000) }],
    ['an anonymous user name one unit over maxUsernameLength', { username: wide(257) }],
  ])('refuses %s: CONNACK 0x86 (3.1.1: return code 4)', async (_name, fields) => {
    const { w } = await tokenWorld();
    for (const version of [5, 4] as const) {
      const c = w.client(version);
      await c.send(connectPacket({ version, clientId: `c${version}`, ...fields }));
      expect(c.next('connack').reasonCode).toBe(version === 5 ? 0x86 : 4);
      expect(c.closed).toBe(true);
    }
  });

  it('refuses a token whose sub is over maxUsernameLength (0x86), and an acl claim over 2,048 bytes of JSON (0x87)', async () => {
    const { w, key } = await tokenWorld();
    const cases: Array<[Record<string, unknown>, number]> = [
      [{ sub: 's'.repeat(8_000) }, 0x86],
      [{ sub: 's', acl: [...widestAcl, 'a'] }, 0x87],
      [{ sub: 's', acl: ['中'.repeat(700)] }, 0x87], // 2,100 bytes of UTF-8
    ];
    for (const [claims, code] of cases) {
      const c = w.client(5);
      await c.send(connectPacket({ version: 5, password: await sign(key, claims) }));
      expect(c.next('connack').reasonCode).toBe(code);
    }
  });

  it('refuses an Authentication Method name over 64 units: CONNACK 0x8C', async () => {
    const { w } = await tokenWorld();
    const c = w.client(5);
    await c.send(connectPacket({ version: 5, properties: { authenticationMethod: 'M'.repeat(65) } }));
    expect(c.next('connack').reasonCode).toBe(0x8c);
  });
});

describe('settings checked against the platform at start', () => {
  it('refuses topic aliases × topic length that would let an attachment pass 16 KiB, naming both', () => {
    expect(() => new World({ config: { topicAliasMaximum: 20 } })).toThrow(/topicAliasMaximum 20 × maxTopicLength 1024.*16384 bytes/);
    expect(() => new World({ config: { topicAliasMaximum: 5, maxTopicLength: 2048, maxSubscriptions: 8_000 } })).not.toThrow();
    expect(() => configFromEnv({ MQTT_MAX_USERNAME_LENGTH: '4000' })).toThrow(/MQTT_MAX_USERNAME_LENGTH 4000.*attachment/);
  });

  it('refuses a packet size that would let a stored message pass the 2 MB SQLite row, naming both', () => {
    expect(() => configFromEnv({ MQTT_MAX_PACKET_SIZE: '4194304' })).toThrow(/MQTT_MAX_PACKET_SIZE 4194304 .*2000000 bytes.*durable-objects\/platform\/limits/);
    expect(() => new World({ config: { maxPacketSize: 1_900_000 } })).not.toThrow();
    expect(configFromEnv({ MQTT_MAX_PACKET_SIZE: '1900000' })).toEqual({ maxPacketSize: 1_900_000 });
  });

  it('refuses a subscription quota whose routing index, loaded whole at a wake, could pass half of 128 MB, naming both settings', () => {
    expect(() => configFromEnv({ MQTT_MAX_SUBSCRIPTIONS: '100000' }))
      .toThrow(/MQTT_MAX_SUBSCRIPTIONS 100000 filters of up to MQTT_MAX_TOPIC_LENGTH 1024 .*134217728 bytes.*workers\/platform\/limits/);
    expect(() => configFromEnv({ MQTT_MAX_TOPIC_LENGTH: '4096' })).toThrow(/MQTT_MAX_SUBSCRIPTIONS 10000/);
    expect(configFromEnv({ MQTT_MAX_SUBSCRIPTIONS: '30000', MQTT_MAX_TOPIC_LENGTH: '64' })).toEqual({ maxSubscriptions: 30_000, maxTopicLength: 64 });
  });

  it('refuses a retained quota over half of an object\'s 10 GB', () => {
    expect(() => configFromEnv({ MQTT_MAX_RETAINED_BYTES: '6000000000' })).toThrow(/MQTT_MAX_RETAINED_BYTES 6000000000 .*10000000000 bytes/);
  });
});
