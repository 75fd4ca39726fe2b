// Authentication through the broker: the Authenticator hook behind a virtual client.
import { describe, expect, it } from 'vitest';
import { hashPassword } from '../../../src/broker/auth/index.ts';
import { connectPacket, World, type ConnectOptions } from '../harness.ts';
import { authWorld } from './world.ts';
import { makeKey, seconds, sign } from './tokens.ts';


async function connack(w: World, opts: ConnectOptions): Promise<number> {
  const c = w.client(opts.version ?? 4);
  await c.send(connectPacket(opts));
  const code = c.next('connack').reasonCode;
  if (code !== 0) expect(c.closed).toBe(true);
  return code;
}

const passwords = async () => `alice:${await hashPassword('wonderland', 1000)}\nbob:${await hashPassword('builder', 1000)}\n`;

describe('anonymous clients', () => {
  it('are refused unless allowed: 3.1.1 return code 5, v5 0x87', async () => {
    const { w } = authWorld({});
    expect(await connack(w, { version: 4 })).toBe(5);
    expect(await connack(w, { version: 5 })).toBe(0x87);
  });

  it('are accepted where allowed, and credentials nothing can check leave them anonymous', async () => {
    const { w } = authWorld({ allowAnonymous: true });
    const c = await w.connect({ clientId: 'a' });
    expect(c.conn.principal).toEqual({ method: 'anonymous' });
    const named = await w.connect({ clientId: 'b', username: 'admin', password: 'guess' });
    // the name is kept for display (API, logs) but ACLs read only the principal
    expect([named.conn.principal, named.conn.username]).toEqual([{ method: 'anonymous' }, 'admin']);
  });
});

describe('user name and password', () => {
  it('accepts the right password and refuses a wrong one or an unknown user (3.1.1 code 4, v5 0x86)', async () => {
    const { w } = authWorld({ passwordFile: await passwords(), allowAnonymous: true });
    const c = await w.connect({ clientId: 'a', username: 'alice', password: 'wonderland' });
    expect(c.conn.principal).toEqual({ method: 'password', username: 'alice' });
    expect(await connack(w, { clientId: 'b', username: 'alice', password: 'builder' })).toBe(4);
    expect(await connack(w, { version: 5, clientId: 'c', username: 'carol', password: 'x' })).toBe(0x86);
    expect(await connack(w, { version: 5, clientId: 'd', username: 'bob' })).toBe(0x86);
  });

  it('tells the client nothing about why, and the log everything', async () => {
    const { w, logs } = authWorld({ passwordFile: await passwords() });
    const c = w.client(5);
    await c.send(connectPacket({ version: 5, clientId: 'x', username: 'carol', password: 'x' }));
    expect(c.next('connack').properties?.reasonString).toBe('bad user name or password');
    expect(logs.join('\n')).toMatch(/login failed: client x .*unknown user carol/);
  });
});

describe('the failed-login log', () => {
  it('writes at most a line a second, counting the rest in the next line', async () => {
    const { w, logs } = authWorld({ passwordFile: await passwords(), loginGuard: { freeFailures: 100, freeAddressFailures: 100 } });
    for (let i = 0; i < 5; i++) await connack(w, { version: 5, clientId: `x${i}`, username: 'alice', password: 'no' });
    expect(logs).toHaveLength(1);
    w.clock.advance(1000);
    await connack(w, { version: 5, clientId: 'y', username: 'alice', password: 'no' });
    expect(logs[1]).toMatch(/client y .*\(and 4 more since the last line\)/);
  });
});

describe('JWT', () => {
  const t0 = () => seconds(new World().clock.now());

  it('accepts a token in the password field, naming the client by its subject', async () => {
    const key = await makeKey('ES256');
    const { w } = authWorld({ jwt: { publicKeys: key.publicPem } });
    const token = await sign(key, { sub: 'sensor-7', exp: t0() + 60 });
    const c = await w.connect({ version: 5, clientId: 's7', username: 'ignored', password: token });
    expect([c.conn.username, c.conn.principal?.method]).toEqual(['sensor-7', 'jwt']);
  });

  it('accepts a token as the user name with no password', async () => {
    const key = await makeKey('HS256');
    const { w } = authWorld({ jwt: { secret: key.secret } });
    const c = await w.connect({ clientId: 'x', username: await sign(key, { sub: 'u' }) });
    expect(c.conn.username).toBe('u');
  });

  it('refuses expired, not-yet-valid and wrongly signed tokens (v5 0x86)', async () => {
    const [key, other] = [await makeKey('RS256'), await makeKey('RS256')];
    const { w } = authWorld({ jwt: { publicKeys: key.publicPem, leeway: 0 } });
    for (const token of [
      await sign(key, { exp: t0() - 1 }), await sign(key, { nbf: t0() + 10 }), await sign(other, {}),
    ]) expect(await connack(w, { version: 5, clientId: `c${token.length}`, username: 'u', password: token })).toBe(0x86);
  });

  it('honours the namespace and client id claims (0x87, 0x85)', async () => {
    const key = await makeKey('HS256');
    const { w } = authWorld({ namespace: 'plant-a', jwt: { secret: key.secret } });
    const pw = async (claims: Record<string, unknown>) => ({ username: 'u', password: await sign(key, claims) });
    expect(await connack(w, { version: 5, clientId: 'a', ...(await pw({ namespace: 'plant-b' })) })).toBe(0x87);
    expect(await connack(w, { version: 5, clientId: 'b', ...(await pw({ namespace: ['plant-b', 'plant-a'] })) })).toBe(0);
    expect(await connack(w, { version: 5, clientId: 'c', ...(await pw({ client_id: 'd' })) })).toBe(0x85);
    expect(await connack(w, { version: 5, clientId: 'd', ...(await pw({ client_id: 'd' })) })).toBe(0);
  });

  it('refuses a malformed or oversized acl claim (0x87)', async () => {
    const key = await makeKey('HS256');
    const { w } = authWorld({ jwt: { secret: key.secret } });
    const pw = async (acl: unknown) => ({ username: 'u', password: await sign(key, { acl }) });
    expect(await connack(w, { version: 5, clientId: 'a', ...(await pw('read #')) })).toBe(0x87);
    expect(await connack(w, { version: 5, clientId: 'b', ...(await pw(['read'])) })).toBe(0x87);
    expect(await connack(w, { version: 5, clientId: 'c', ...(await pw(Array(200).fill('read some/long/topic/name'))) })).toBe(0x87);
  });
});

describe('failed logins', () => {
  it('are counted, and after three from one client id it is refused unchecked (v5 0x9F) until the backoff passes', async () => {
    const { w, auth } = authWorld({ passwordFile: await passwords(), loginGuard: { backoff: 2000 } });
    for (let i = 0; i < 3; i++) expect(await connack(w, { version: 5, clientId: 'x', username: 'alice', password: 'no' })).toBe(0x86);
    expect(await connack(w, { version: 5, clientId: 'x', username: 'alice', password: 'no' })).toBe(0x86); // 4th: first backoff set
    expect(await connack(w, { version: 5, clientId: 'x', username: 'alice', password: 'wonderland' })).toBe(0x9f);
    expect(await connack(w, { version: 4, clientId: 'x', username: 'alice', password: 'wonderland' })).toBe(3);
    w.clock.advance(2001);
    expect(await connack(w, { version: 5, clientId: 'x', username: 'alice', password: 'wonderland' })).toBe(0);
    expect(auth.authenticator.guard.stats).toEqual({ failures: 4, refused: 2 });
  });

  it('doubles the window with each further failure, up to the maximum', async () => {
    const { w } = authWorld({ passwordFile: await passwords(), loginGuard: { freeFailures: 0, backoff: 1000, maxBackoff: 4000 } });
    const attempt = (password: string) => connack(w, { version: 5, clientId: 'x', username: 'bob', password });
    for (const wait of [1000, 2000, 4000, 4000]) {
      expect(await attempt('no')).toBe(0x86);
      w.clock.advance(wait - 1);
      expect(await attempt('builder')).toBe(0x9f);
      w.clock.advance(1);
    }
    expect(await attempt('builder')).toBe(0);
  });

  it('counts against the user name and, allowing more, the address, whatever client id is used', async () => {
    const { w } = authWorld({ passwordFile: await passwords(), loginGuard: { freeFailures: 1, freeAddressFailures: 3 } }, '192.0.2.7');
    const attempt = (clientId: string, username: string, password: string) => connack(w, { version: 5, clientId, username, password });
    expect(await attempt('r1', 'alice', 'no')).toBe(0x86);
    expect(await attempt('r2', 'alice', 'no')).toBe(0x86);
    expect(await attempt('r3', 'alice', 'wonderland')).toBe(0x9f); // the user name
    expect(await attempt('r4', 'bob', 'no')).toBe(0x86);
    expect(await attempt('r5', 'carol', 'x')).toBe(0x86);
    expect(await attempt('r6', 'bob', 'builder')).toBe(0x9f); // the address, past its three free failures
  });
});
