// Who may connect, publish and subscribe, end to end: a password file made by `npm run passwd`,
// JWTs (HS256, RS256, ES256), an ACL file, per-namespace anonymous access, failed-login
// throttling and the publish rate limit, all through MQTT.js against wrangler dev.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import mqtt, { type IClientOptions, type IConnackPacket } from 'mqtt';
import { connectMqtt, inbox, uniqueId } from './clients.ts';
import { startBroker, type BrokerServer } from './server.ts';
import { makeKey, seconds, sign, type SigningKey } from '../broker/auth/tokens.ts';
import { ScramClient } from '../broker/auth/scram-client.ts';

const acl = `user alice
topic readwrite alice/#
topic deny alice/secret/#
topic write bob/inbox
user bob
topic readwrite bob/#
pattern readwrite devices/%c/#
`;

function passwordFile(): string {
  const file = join(mkdtempSync(join(tmpdir(), 'e2e-passwd-')), 'passwords');
  for (const [user, password] of [['alice', 'wonderland'], ['bob', 'builder']]) {
    const r = spawnSync(process.execPath, ['scripts/passwd.ts', '-b', file, user, password], { encoding: 'utf8', timeout: 20_000 });
    if (r.status !== 0) throw new Error(`passwd: ${r.stderr}`);
  }
  return readFileSync(file, 'utf8');
}

/** Waits (bounded) for the server's output to show a line. */
async function logged(server: BrokerServer, line: RegExp): Promise<void> {
  for (const until = Date.now() + 5_000; !line.test(server.logs.join('')) && Date.now() < until;) await new Promise((r) => setTimeout(r, 50));
  expect(server.logs.join('')).toMatch(line);
}

/** The reason code a refused connect reports, or 0. */
async function refusal(url: string, opts: IClientOptions): Promise<number> {
  try {
    const c = await connectMqtt(url, opts);
    await c.endAsync();
    return 0;
  } catch (err) {
    return (err as { code: number }).code;
  }
}

describe('security end to end', () => {
  let server: BrokerServer;
  let url = '';
  let keys: Record<'HS256' | 'RS256' | 'ES256', SigningKey>;
  beforeAll(async () => {
    keys = { HS256: await makeKey('HS256'), RS256: await makeKey('RS256'), ES256: await makeKey('ES256') };
    server = await startBroker({
      vars: {
        MQTT_ALLOW_ANONYMOUS: 'false', MQTT_ALLOW_ANONYMOUS__open: 'true',
        MQTT_PASSWORD_FILE: passwordFile(), MQTT_ACL_FILE: acl,
        MQTT_JWT_SECRET: keys.HS256.secret!, MQTT_JWT_PUBLIC_KEYS: `${keys.RS256.publicPem}${keys.ES256.publicPem}`,
        MQTT_LOGIN_BACKOFF: '2000', MQTT_MAX_PUBLISH_RATE: '50', MQTT_ENHANCED_AUTH: 'SCRAM-SHA-256',
      },
    });
    url = server.url;
  }, 90_000);
  afterAll(async () => server?.stop());

  it('says on a plain GET, and in the log, where anonymous clients are accepted', async () => {
    expect(await (await fetch(`http://127.0.0.1:${server.port}/mqtt`)).text()).not.toMatch(/WARNING/);
    expect(await (await fetch(`http://127.0.0.1:${server.port}/mqtt/open`)).text()).toMatch(/WARNING: namespace "open" accepts anonymous clients/);
    const anon = await connectMqtt(`ws://127.0.0.1:${server.port}/mqtt/open`);
    await anon.endAsync();
    await logged(server, /WARNING: namespace "open" accepts anonymous clients/);
  });

  it('accepts a password from the file and refuses wrong ones and anonymous clients', async () => {
    const ok = await connectMqtt(url, { username: 'alice', password: 'wonderland' });
    await ok.endAsync();
    expect(await refusal(url, { username: 'alice', password: 'builder' })).toBe(4);
    expect(await refusal(url, {})).toBe(5);
    expect(await refusal(url, { protocolVersion: 5, username: 'nobody', password: 'x' })).toBe(0x86);
    expect(await refusal(url, { protocolVersion: 5 })).toBe(0x87);
  });

  it.each(['HS256', 'RS256', 'ES256'] as const)('accepts a %s token in the password, and as the user name alone', async (alg) => {
    const token = await sign(keys[alg], { sub: 'bob', exp: seconds(Date.now()) + 60 });
    const a = await connectMqtt(url, { protocolVersion: 5, username: 'x', password: token });
    const b = await connectMqtt(url, { protocolVersion: 4, username: token });
    await Promise.all([a.endAsync(), b.endAsync()]);
    const expired = await sign(keys[alg], { sub: 'bob', exp: seconds(Date.now()) - 120 });
    expect(await refusal(url, { protocolVersion: 5, username: 'x', password: expired })).toBe(0x86);
  });

  it('runs SCRAM-SHA-256 enhanced authentication with MQTT.js: AUTH exchange, the server\'s proof in CONNACK', async () => {
    const attempt = (password: string) => {
      const scram = new ScramClient('alice', password);
      const method = 'SCRAM-SHA-256';
      const client = mqtt.connect(url, {
        protocolVersion: 5, clientId: uniqueId('scram'), reconnectPeriod: 0,
        properties: { authenticationMethod: method, authenticationData: Buffer.from(scram.first()) },
      });
      client.handleAuth = (packet, callback) => void scram.final(packet.properties!.authenticationData!).then(
        (data) => callback(undefined, { cmd: 'auth', reasonCode: 0x18, properties: { authenticationMethod: method, authenticationData: Buffer.from(data) } }),
        (err: Error) => callback(err),
      );
      const connack = new Promise<IConnackPacket>((resolve, reject) => {
        client.once('connect', resolve);
        client.once('error', reject);
      });
      return { client, scram, connack };
    };
    const good = attempt('wonderland');
    const connack = await good.connack;
    expect(good.scram.verify(connack.properties?.authenticationData)).toBe(true);
    await good.client.subscribeAsync('alice/scram', { qos: 1 });
    await good.client.endAsync();
    const bad = attempt('guess');
    await expect(bad.connack).rejects.toMatchObject({ code: 0x86 });
    bad.client.end(true);
  });

  it('enforces the ACL: v5 PUBACK 0x87, 3.1.1 dropped, SUBACK 0x87/0x80, nothing denied delivered', async () => {
    const alice = await connectMqtt(url, { protocolVersion: 5, username: 'alice', password: 'wonderland' });
    await alice.subscribeAsync('alice/#', { qos: 1 });
    const got = inbox(alice);
    const bob5 = await connectMqtt(url, { protocolVersion: 5, username: 'bob', password: 'builder' });
    await expect(bob5.publishAsync('alice/x', 'no', { qos: 1 })).rejects.toMatchObject({ code: 0x87 });
    await expect(bob5.subscribeAsync('alice/#')).rejects.toMatchObject({ packet: { granted: [0x87] } });
    const bob4 = await connectMqtt(url, { protocolVersion: 4, username: 'bob', password: 'builder' });
    await bob4.publishAsync('alice/y', 'dropped', { qos: 1 });
    await expect(bob4.subscribeAsync('#')).rejects.toMatchObject({ packet: { granted: [0x80] } });
    const token = await sign(keys.HS256, { sub: 'alice' });
    const writer = await connectMqtt(url, { protocolVersion: 5, username: 'x', password: token });
    await expect(writer.publishAsync('alice/secret/k', 'hidden', { qos: 1, retain: true })).rejects.toMatchObject({ code: 0x87 });
    await writer.publishAsync('alice/open', 'seen', { qos: 1 });
    expect((await got.next()).topic).toBe('alice/open');
    await got.quiet(300);
    await Promise.all([alice, bob5, bob4, writer].map((c) => c.endAsync()));
  });

  it('slows repeated failed logins: after the free attempts, even the right password waits out the backoff (0x9F)', async () => {
    const clientId = uniqueId('guess');
    for (let i = 0; i < 4; i++) expect(await refusal(url, { protocolVersion: 5, clientId, username: 'alice', password: `guess${i}` })).toBe(0x86);
    expect(await refusal(url, { protocolVersion: 5, clientId, username: 'alice', password: 'wonderland' })).toBe(0x9f);
    await new Promise((r) => setTimeout(r, 2_200));
    expect(await refusal(url, { protocolVersion: 5, clientId, username: 'alice', password: 'wonderland' })).toBe(0);
    await logged(server, /login (failed|throttled): client \S+ from/);
  });

  it('disconnects a client publishing faster than the rate limit with 0x96', async () => {
    const c = await connectMqtt(url, { protocolVersion: 5, username: 'bob', password: 'builder' });
    const disconnected = new Promise<number>((resolve) => c.on('disconnect', (p) => resolve(p.reasonCode ?? 0)));
    for (let i = 0; i < 200 && c.connected; i++) c.publish('bob/fast', String(i));
    expect(await disconnected).toBe(0x96);
    c.end(true);
  });
});

// A session belongs to the identity that opened it, in both topologies (sharded: the two users on
// different gateways, so the session object decides).
for (const [topology, vars] of [['default', {}], ['sharded', { MQTT_GATEWAYS: '3', MQTT_SHARDS: '4', MQTT_SESSION_OBJECTS: '2' }]] as const) {
  describe(`session ownership end to end (${topology} topology)`, () => {
    let server: BrokerServer;
    let key: SigningKey;
    const at = (gateway: number) => `ws://127.0.0.1:${server.port}/mqtt?gateway=${gateway}`;
    const bob = { username: 'bob', password: 'builder' };
    const alice = { username: 'alice', password: 'wonderland' };
    beforeAll(async () => {
      key = await makeKey('HS256');
      server = await startBroker({
        vars: { ...vars, MQTT_ALLOW_ANONYMOUS: 'false', MQTT_PASSWORD_FILE: passwordFile(), MQTT_ACL_FILE: acl, MQTT_JWT_SECRET: key.secret! },
      });
    }, 90_000);
    afterAll(async () => server?.stop());

    it('another user can neither resume a persistent session nor end it with a clean session (3.1.1 code 5); its owner gets the queued message', async () => {
      const clientId = uniqueId('bob-phone');
      const phone = await connectMqtt(at(0), { ...bob, clientId, clean: false });
      await phone.subscribeAsync('bob/inbox', { qos: 1 });
      await phone.endAsync();
      const pub = await connectMqtt(at(2), { ...bob, clientId: uniqueId('bob-pub') });
      await pub.publishAsync('bob/inbox', 'for bob', { qos: 1 });
      await pub.endAsync();

      expect(await refusal(at(1), { ...alice, clientId, clean: false })).toBe(5);
      expect(await refusal(at(1), { ...alice, clientId, clean: true })).toBe(5);
      const got: string[] = [];
      const back = mqtt.connect(at(1), { ...bob, clientId, clean: false, reconnectPeriod: 0 });
      back.on('message', (_t, payload) => got.push(String(payload)));
      const connack = await new Promise<IConnackPacket>((resolve, reject) => {
        back.once('connect', resolve);
        back.once('error', reject);
      });
      expect(connack.sessionPresent).toBe(true);
      for (let i = 0; i < 100 && !got.length; i++) await new Promise((r) => setTimeout(r, 50));
      expect(got).toEqual(['for bob']);
      await back.endAsync();
    });

    it('another user cannot take a live connection over (v5 0x87); the owner keeps it', async () => {
      const clientId = uniqueId('bob-live');
      const live = await connectMqtt(at(0), { ...bob, clientId, protocolVersion: 5, properties: { sessionExpiryInterval: 60 } });
      await live.subscribeAsync('bob/live', { qos: 1 });
      const messages = inbox(live);
      expect(await refusal(at(1), { ...alice, clientId, protocolVersion: 5 })).toBe(0x87);
      const pub = await connectMqtt(at(2), { ...bob, clientId: uniqueId('bob-pub') });
      await pub.publishAsync('bob/live', 'still here', { qos: 1 });
      expect(String((await messages.next()).payload)).toBe('still here');
      expect(live.connected).toBe(true);
      await Promise.all([live.endAsync(), pub.endAsync()]);
    });

    it('binds a session to its token\'s subject: another subject is refused, the same one resumes', async () => {
      const clientId = uniqueId('meter');
      const token = async (sub: string) => ({ username: 'token', password: await sign(key, { sub, exp: seconds(Date.now()) + 300 }) });
      const first = await connectMqtt(at(0), { ...(await token('meter-1')), clientId, clean: false });
      await first.endAsync();
      expect(await refusal(at(1), { ...(await token('meter-2')), clientId, clean: false })).toBe(5);
      expect(await refusal(at(1), { ...(await token('meter-2')), clientId, clean: true })).toBe(5);
      const again = mqtt.connect(at(2), { ...(await token('meter-1')), clientId, clean: false, reconnectPeriod: 0 });
      const connack = await new Promise<IConnackPacket>((resolve, reject) => {
        again.once('connect', resolve);
        again.once('error', reject);
      });
      expect(connack.sessionPresent).toBe(true);
      await again.endAsync();
    });
  });
}
