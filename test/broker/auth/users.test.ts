// The user store through the broker: users the password file does not hold, found through a
// UserDirectory (here a map behind a promise, as a sharded gateway's call would be), with their
// own ACL rules, for passwords and for SCRAM; and the checks the admin API runs on its input.
import { describe, expect, it } from 'vitest';
import { CachedDirectory, checkUsername, hashPassword, parseAclRules, toStoredUser, type StoredUser, type UserDirectory } from '../../../src/broker/auth/index.ts';
import { connectPacket, type ConnectOptions, type World } from '../harness.ts';
import { authWorld } from './world.ts';
import { ScramClient } from './scram-client.ts';

const method = 'SCRAM-SHA-256';

async function store(users: Record<string, { password: string; acl?: string[] }>): Promise<UserDirectory & { users: Map<string, StoredUser> }> {
  const map = new Map<string, StoredUser>();
  for (const [name, u] of Object.entries(users)) map.set(name, toStoredUser({ hash: await hashPassword(u.password, 1000), acl: u.acl }));
  return { users: map, lookup: async (name) => map.get(name) };
}

async function connack(w: World, opts: ConnectOptions): Promise<number> {
  const c = w.client(opts.version ?? 4);
  await c.send(connectPacket(opts));
  return c.next('connack').reasonCode;
}

describe('user store', () => {
  it('lets a stored user in with its password and refuses a wrong one or an unknown user', async () => {
    const { w } = authWorld({ users: await store({ dev1: { password: 'p1' } }) });
    const c = await w.connect({ clientId: 'a', username: 'dev1', password: 'p1' });
    expect(c.conn.principal).toEqual({ method: 'password', username: 'dev1' });
    expect(await connack(w, { clientId: 'b', username: 'dev1', password: 'p2' })).toBe(4);
    expect(await connack(w, { version: 5, clientId: 'c', username: 'dev2', password: 'p1' })).toBe(0x86);
    expect(await connack(w, { version: 5, clientId: 'd' })).toBe(0x87);
  });

  it('asks the password file first: a name in both is the file\'s', async () => {
    const passwordFile = `dev1:${await hashPassword('from-file', 1000)}\n`;
    const { w } = authWorld({ passwordFile, users: await store({ dev1: { password: 'from-store' }, dev2: { password: 'two' } }) });
    expect(await connack(w, { clientId: 'a', username: 'dev1', password: 'from-file' })).toBe(0);
    expect(await connack(w, { clientId: 'b', username: 'dev1', password: 'from-store' })).toBe(4);
    expect(await connack(w, { clientId: 'c', username: 'dev2', password: 'two' })).toBe(0);
  });

  it('where anonymous clients may connect, a name no one holds is anonymous, a stored one is checked', async () => {
    const { w } = authWorld({ allowAnonymous: true, users: await store({ dev1: { password: 'p1' } }) });
    expect((await w.connect({ clientId: 'a', username: 'nobody', password: 'x' })).conn.principal).toEqual({ method: 'anonymous' });
    expect(await connack(w, { clientId: 'b', username: 'dev1', password: 'wrong' })).toBe(4);
  });

  it('applies a stored user\'s ACL rules in place of the ACL file\'s', async () => {
    const users = await store({ dev1: { password: 'p1', acl: ['readwrite devices/%c/#'] }, dev2: { password: 'p2' } });
    const { w } = authWorld({ users, aclFile: 'user dev2\ntopic readwrite shared/#\n' });
    const one = await w.connect({ clientId: 'd1', username: 'dev1', password: 'p1' });
    expect(one.conn.principal).toMatchObject({ acl: [{ access: 'readwrite', topic: 'devices/%c/#' }] });
    expect(await one.subscribe('devices/d1/#', 1)).toEqual([1]);
    expect(await one.subscribe('shared/#', 1)).toEqual([0x80]);
    const two = await w.connect({ clientId: 'd2', username: 'dev2', password: 'p2' });
    expect(await two.subscribe('shared/#', 1)).toEqual([1]);
    expect(await two.subscribe('devices/d2/#', 1)).toEqual([0x80]);
  });

  it('runs SCRAM-SHA-256 over a stored user\'s hash, its rules in the principal', async () => {
    const { w } = authWorld({ users: await store({ dev1: { password: 'p1', acl: ['read a/#'] } }), enhancedAuth: [method] });
    for (const [password, code] of [['p1', 0], ['nope', 0x86]] as const) {
      const scram = new ScramClient('dev1', password);
      const c = w.client(5);
      await c.send(connectPacket({ version: 5, clientId: `s-${password}`, properties: { authenticationMethod: method, authenticationData: scram.first() } }));
      const challenge = c.next('auth');
      await c.send({ type: 'auth', reasonCode: 0x18, properties: { authenticationMethod: method, authenticationData: await scram.final(challenge.properties!.authenticationData!) } });
      expect(c.next('connack').reasonCode).toBe(code);
      if (code === 0) expect(c.conn.principal).toEqual({ method: 'scram', username: 'dev1', acl: [{ access: 'read', topic: 'a/#' }] });
    }
  });

  it('checks what the admin API stores: user names, hashes and rules', async () => {
    expect(checkUsername('dev-1/é')).toBe('dev-1/é');
    for (const bad of ['', 'x'.repeat(257), 'a\u0000b', 'a\nb']) expect(() => checkUsername(bad)).toThrow(/user name/);
    expect(checkUsername('é'.repeat(128))).toHaveLength(128);
    expect(() => checkUsername('é'.repeat(129))).toThrow(/256 bytes/);
    expect(parseAclRules(['read a/#', 'deny a/b'])).toEqual([{ access: 'read', topic: 'a/#' }, { access: 'deny', topic: 'a/b' }]);
    for (const bad of ['read a/#', [1], ['read'], [`read ${'x'.repeat(2048)}`]]) expect(() => parseAclRules(bad)).toThrow();
    expect(() => toStoredUser({ hash: 'plain' })).toThrow(/pbkdf2/);
    expect(() => toStoredUser({ hash: '$pbkdf2-sha256$200000$AAAA$AAAA' })).toThrow(/iterations/);
  });
});

describe('a user directory read through calls (sharded gateways)', () => {
  it('keeps found users for the ttl, at most max of them, and asks again for unknown names', async () => {
    const hash = await hashPassword('p', 1000);
    const asked: string[] = [];
    let now = 0;
    const records = new Map([['a', { username: 'a', hash }], ['b', { username: 'b', hash, acl: ['read x'] }], ['c', { username: 'c', hash }]]);
    const dir = new CachedDirectory(async (name) => (asked.push(name), records.get(name)), () => now, 1_000, 2);
    expect(await dir.lookup('a')).toMatchObject({ hash: { iterations: 1000 } });
    expect((await dir.lookup('b'))?.acl).toEqual([{ access: 'read', topic: 'x' }]);
    await dir.lookup('a');
    expect(asked).toEqual(['a', 'b']);
    expect(await dir.lookup('z')).toBeUndefined();
    expect(await dir.lookup('z')).toBeUndefined();
    await dir.lookup('c'); // a third user: the oldest (a) goes
    await dir.lookup('a');
    expect(asked).toEqual(['a', 'b', 'z', 'z', 'c', 'a']);
    records.delete('c');
    now = 999;
    expect(await dir.lookup('c')).toBeDefined(); // still kept: a deleted user may log in until the ttl passes
    now = 1_000;
    expect(await dir.lookup('c')).toBeUndefined();
    expect(asked).toEqual(['a', 'b', 'z', 'z', 'c', 'a', 'c']);
  });
});
