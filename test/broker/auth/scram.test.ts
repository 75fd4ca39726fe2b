// SCRAM-SHA-256 as v5 enhanced authentication: the RFC 7677 exchange, then through the broker.
import { describe, expect, it } from 'vitest';
import { hashPassword, parseHash } from '../../../src/broker/auth/index.ts';
import { fromBase64, toBase64 } from '../../../src/broker/auth/base64.ts';
import { ScramExchange } from '../../../src/broker/auth/scram.ts';
import { connectPacket, type VirtualClient } from '../harness.ts';
import { ScramClient } from './scram-client.ts';
import { authWorld } from './world.ts';

const utf8 = new TextEncoder();
const str = (b: Uint8Array | undefined) => new TextDecoder().decode(b);
const method = 'SCRAM-SHA-256';

describe('SCRAM-SHA-256 exchange', () => {
  it('reproduces the RFC 7677 example exactly', async () => {
    const salt = fromBase64('W22ZaJ0SNY7soEsUEjb6gQ==')!;
    const key = await crypto.subtle.importKey('raw', utf8.encode('pencil'), 'PBKDF2', false, ['deriveBits']);
    const hash = new Uint8Array(await crypto.subtle.deriveBits({ name: 'PBKDF2', hash: 'SHA-256', salt, iterations: 4096 }, key, 256));
    const entry = parseHash(`$pbkdf2-sha256$4096$${toBase64(salt)}$${toBase64(hash)}`);
    const server = new ScramExchange((u) => (u === 'user' ? entry : undefined), entry, () => '%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0');
    const first = await server.step(utf8.encode('n,,n=user,r=rOprNGfwEbeRWgbNEkqO'));
    expect(str((first as { challenge: Uint8Array }).challenge)).toBe('r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096');
    const final = await server.step(utf8.encode('c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ='));
    expect(final).toMatchObject({ principal: { method: 'scram', username: 'user' } });
    expect(str((final as { data: Uint8Array }).data)).toBe('v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=');
  });

  it('refuses channel binding, authorization identities and a changed nonce', async () => {
    const entry = parseHash(await hashPassword('pw', 1000));
    const server = () => new ScramExchange(() => entry, entry);
    await expect(server().step(utf8.encode('p=tls-unique,,n=u,r=abc'))).rejects.toThrow(/channel binding/);
    await expect(server().step(utf8.encode('n,a=admin,n=u,r=abc'))).rejects.toThrow(/authorization/);
    const s = server();
    await s.step(utf8.encode('n,,n=u,r=abc'));
    await expect(s.step(utf8.encode('c=biws,r=abcXYZ,p=AAAA'))).rejects.toThrow(/nonce/);
  });
});

async function scramWorld(extra = {}) {
  const passwordFile = `alice:${await hashPassword('wonderland', 1000)}\n`;
  return authWorld({ passwordFile, enhancedAuth: [method], ...extra });
}

/** CONNECT with the method, answer the challenge; returns the client and the final packet. */
async function login(w: Awaited<ReturnType<typeof scramWorld>>['w'], user: string, password: string, clientId = 'c') {
  const scram = new ScramClient(user, 'wonderland');
  const c = w.client(5);
  await c.send(connectPacket({ version: 5, clientId, properties: { authenticationMethod: method, authenticationData: scram.first() } }));
  const challenge = c.next('auth');
  expect([challenge.reasonCode, challenge.properties?.authenticationMethod]).toEqual([0x18, method]);
  const final = await scram.final(challenge.properties!.authenticationData!, password);
  await c.send({ type: 'auth', reasonCode: 0x18, properties: { authenticationMethod: method, authenticationData: final } });
  return { c, scram, reply: c.next() };
}

describe('enhanced authentication through the broker [MQTT-4.12]', () => {
  it('completes SCRAM-SHA-256: AUTH 0x18, then CONNACK with the server\'s proof', async () => {
    const { w } = await scramWorld();
    const { c, scram, reply } = await login(w, 'alice', 'wonderland');
    expect(reply).toMatchObject({ type: 'connack', reasonCode: 0, properties: { authenticationMethod: method } });
    expect(scram.verify((reply as { properties: { authenticationData: Uint8Array } }).properties.authenticationData)).toBe(true);
    expect(c.conn.principal).toEqual({ method: 'scram', username: 'alice' });
  });

  it('refuses a wrong password or an unknown user only at the end, with CONNACK 0x86', async () => {
    const { w } = await scramWorld();
    for (const [user, password] of [['alice', 'nope'], ['mallory', 'wonderland']]) {
      const { c, reply } = await login(w, user, password, user);
      expect(reply).toMatchObject({ type: 'connack', reasonCode: 0x86 });
      expect(c.closed).toBe(true);
    }
  });

  it('refuses a method that is not configured with 0x8C [MQTT-4.12.0-1]', async () => {
    const { w } = await scramWorld({ enhancedAuth: [] });
    const c = w.client(5);
    await c.send(connectPacket({ version: 5, properties: { authenticationMethod: method, authenticationData: new ScramClient('alice', 'x').first() } }));
    expect(c.next('connack').reasonCode).toBe(0x8c);
  });

  it.each([
    ['AUTH with another method [MQTT-4.12.0-5]', { type: 'auth', reasonCode: 0x18, properties: { authenticationMethod: 'OTHER' } }],
    ['a second CONNECT mid-exchange [MQTT-3.1.0-2]', connectPacket({ version: 5 })],
    ['a PUBLISH before the exchange ends [MQTT-3.1.0-1]', { type: 'publish', topic: 't', payload: new Uint8Array(), qos: 0, retain: false, dup: false }],
  ] as const)('treats %s as a protocol error (CONNACK 0x82)', async (_name, packet) => {
    const { w } = await scramWorld();
    const c = w.client(5);
    await c.send(connectPacket({ version: 5, properties: { authenticationMethod: method, authenticationData: new ScramClient('alice', 'x').first() } }));
    c.next('auth');
    await c.send(packet as never);
    expect(c.next('connack').reasonCode).toBe(0x82);
    expect(c.closed).toBe(true);
  });

  it('re-authenticates on AUTH 0x19 (AUTH 0x00 on success), and disconnects with 0x87 when it fails [MQTT-4.12.1]', async () => {
    const { w } = await scramWorld();
    const { c } = await login(w, 'alice', 'wonderland');
    for (const [password, ok] of [['wonderland', true], ['nope', false]] as const) {
      const scram = new ScramClient('alice', 'wonderland');
      await c.send({ type: 'auth', reasonCode: 0x19, properties: { authenticationMethod: method, authenticationData: scram.first() } });
      const challenge = c.next('auth');
      await c.send({ type: 'auth', reasonCode: 0x18, properties: { authenticationMethod: method, authenticationData: await scram.final(challenge.properties!.authenticationData!, password) } });
      const reply = c.next();
      if (ok) expect(reply.type === 'auth' && reply.reasonCode === 0 && scram.verify(reply.properties?.authenticationData)).toBe(true);
      else expect(reply).toMatchObject({ type: 'disconnect', reasonCode: 0x87 });
    }
    expect(c.closed).toBe(true);
  });

  it('counts SCRAM failures with the other failed logins', async () => {
    const { w } = await scramWorld();
    for (let i = 0; i < 4; i++) expect((await login(w, 'alice', 'nope', 'same')).reply).toMatchObject({ reasonCode: 0x86 });
    const c = w.client(5) as VirtualClient;
    await c.send(connectPacket({ version: 5, clientId: 'same', properties: { authenticationMethod: method, authenticationData: new ScramClient('alice', 'x').first() } }));
    expect(c.next('connack').reasonCode).toBe(0x9f);
  });
});
