// A session belongs to the identity that opened it: another user may not resume it, take its
// connection over, or end it with a clean start (MQTT 5 §5.4.2); anonymous sessions stay anyone's.
import { describe, expect, it } from 'vitest';
import { identityOf, sessionOwnerMatches } from '../../../src/broker/identity.ts';
import { hashPassword } from '../../../src/broker/auth/index.ts';
import { connectPacket, World, type ConnectOptions } from '../harness.ts';
import { createAuth, type AuthConfig } from '../../../src/broker/auth/index.ts';
import { makeKey, sign } from './tokens.ts';

const passwords = async () => `alice:${await hashPassword('wonderland', 1000)}\nbob:${await hashPassword('builder', 1000)}\n`;
const acl = 'user alice\ntopic readwrite alice/#\nuser bob\ntopic readwrite bob/#\n';
const bob = { username: 'bob', password: 'builder' };
const alice = { username: 'alice', password: 'wonderland' };

/** A world with the real auth hooks and the counters. */
function authWorld(config: Partial<AuthConfig>): { w: World } {
  let w: World | undefined;
  const auth = createAuth({ namespace: 'default', allowAnonymous: false, ...config }, { now: () => w!.clock.now() }, () => undefined);
  w = new World({ hooks: auth.hooks, observe: true });
  return { w };
}

async function connack(w: World, opts: ConnectOptions): Promise<{ code: number; closed: boolean; present?: boolean }> {
  const c = w.client(opts.version ?? 4);
  await c.send(connectPacket(opts));
  const p = c.next('connack');
  return { code: p.reasonCode, closed: c.closed, present: p.sessionPresent };
}

describe('identityOf and sessionOwnerMatches', () => {
  it('names password and SCRAM users alike, token subjects apart, anonymous clients not at all', () => {
    expect(identityOf({ method: 'password', username: 'alice' })).toBe('password:alice');
    expect(identityOf({ method: 'scram', username: 'alice' })).toBe('password:alice');
    expect(identityOf({ method: 'jwt', username: 'alice' })).toBe('jwt:alice');
    expect(identityOf({ method: 'anonymous' })).toBeUndefined();
    expect(identityOf(undefined)).toBeUndefined();
    expect(sessionOwnerMatches(undefined, 'password:bob')).toBe(true);
    expect(sessionOwnerMatches('password:bob', 'password:bob')).toBe(true);
    expect(sessionOwnerMatches('password:bob', 'password:alice')).toBe(false);
    expect(sessionOwnerMatches('password:bob', 'jwt:bob')).toBe(false);
    expect(sessionOwnerMatches('password:bob', undefined)).toBe(false);
  });
});

describe('a session belongs to its identity', () => {
  it('another user cannot resume a persistent session: 3.1.1 return code 5, and bob still gets his queued message', async () => {
    const { w } = authWorld({ passwordFile: await passwords(), aclFile: acl });
    const b = await w.connect({ clientId: 'bob-phone', clean: false, ...bob });
    await b.subscribe('bob/inbox', 1);
    await b.send({ type: 'disconnect' });
    const pub = await w.connect({ clientId: 'bob-pub', ...bob });
    await pub.publish('bob/inbox', 'for bob', { qos: 1 });

    expect(await connack(w, { clientId: 'bob-phone', clean: false, ...alice })).toEqual({ code: 5, closed: true, present: false });
    expect(w.broker.stats.dropped['not-authorized']).toBe(0);
    const back = await w.connect({ clientId: 'bob-phone', clean: false, ...bob });
    expect(back.next('publish')).toMatchObject({ topic: 'bob/inbox' });
  });

  it('another user cannot take a live connection over or end the session with Clean Start: v5 0x87', async () => {
    const { w } = authWorld({ passwordFile: await passwords(), aclFile: acl, allowAnonymous: true });
    const b = await w.connect({ version: 5, clientId: 'bob-live', ...bob, properties: { sessionExpiryInterval: 300 } });
    await b.subscribe('bob/x', 1);
    for (const who of [alice, {}]) { // another user, and an anonymous client where anonymous clients are allowed
      expect(await connack(w, { version: 5, clientId: 'bob-live', clean: true, ...who })).toMatchObject({ code: 0x87, closed: true });
    }
    expect(b.closed).toBe(false);
    expect(w.sessions.subscriptions('bob-live')).toHaveLength(1);
    expect(w.observed!.metrics.counters.refused).toEqual({ NotAuthorized: 2 });
    // bob himself may
    expect(await connack(w, { version: 5, clientId: 'bob-live', clean: false, ...bob, properties: { sessionExpiryInterval: 300 } }))
      .toMatchObject({ code: 0, present: true });
    expect(b.closed).toBe(true);
  });

  it('binds to a token\'s subject: another subject is refused, the same subject resumes', async () => {
    const key = await makeKey('HS256');
    const { w } = authWorld({ jwt: { secret: key.secret } });
    const token = async (sub: string) => ({ username: 'u', password: await sign(key, { sub }) });
    const s = await w.connect({ clientId: 'meter-1', clean: false, ...(await token('meter-1')) });
    await s.send({ type: 'disconnect' });
    expect((await connack(w, { clientId: 'meter-1', clean: false, ...(await token('meter-2')) })).code).toBe(5);
    expect((await connack(w, { clientId: 'meter-1', clean: true, ...(await token('meter-2')) })).code).toBe(5);
    expect(await connack(w, { clientId: 'meter-1', clean: false, ...(await token('meter-1')) })).toMatchObject({ code: 0, present: true });
  });

  it('leaves anonymous sessions anyone\'s, as before, and counts refusals as not authorized', async () => {
    const { w } = authWorld({ passwordFile: await passwords(), allowAnonymous: true });
    const anon = await w.connect({ clientId: 'shared', clean: false });
    await anon.send({ type: 'disconnect' });
    expect(await connack(w, { clientId: 'shared', clean: false, ...alice })).toMatchObject({ code: 0, present: true });
    // alice now owns it
    expect((await connack(w, { clientId: 'shared', clean: false })).code).toBe(5);
  });
});
