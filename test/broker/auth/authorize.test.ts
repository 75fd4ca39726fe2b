// ACLs through the broker: publish, subscribe and delivery, retained and queued messages included.
import { describe, expect, it } from 'vitest';
import { hashPassword } from '../../../src/broker/auth/index.ts';
import { connectPacket, str, text } from '../harness.ts';
import { authWorld } from './world.ts';
import { makeKey, sign } from './tokens.ts';

const acl = `
topic read public/#
user alice
topic readwrite alice/#
topic deny alice/secret/#
topic read public/#
user bob
topic write alice/inbox
topic read bob/#
user carol
topic write alice/#
pattern readwrite devices/%c/#
`;

const users = { alice: 'a', bob: 'b', carol: 'c' };

async function world() {
  const lines = await Promise.all(Object.entries(users).map(async ([u, p]) => `${u}:${await hashPassword(p, 1000)}`));
  return authWorld({ passwordFile: lines.join('\n'), aclFile: acl, allowAnonymous: true });
}

describe('ACL on publish', () => {
  it('answers a denied v5 publish with PUBACK or PUBREC 0x87, and nothing reaches anyone', async () => {
    const { w } = await world();
    const alice = await w.connect({ version: 5, clientId: 'alice', username: 'alice', password: 'a' });
    await alice.subscribe('alice/#', 2);
    const bob = await w.connect({ version: 5, clientId: 'bob', username: 'bob', password: 'b' });
    await bob.publish('alice/x', 'nope', { qos: 1, packetId: 1 });
    expect(bob.next('puback').reasonCode).toBe(0x87);
    await bob.publish('alice/x', 'nope', { qos: 2, packetId: 2 });
    expect(bob.next('pubrec').reasonCode).toBe(0x87);
    await bob.publish('alice/x', 'nope');
    await bob.publish('alice/inbox', 'yes', { qos: 1, packetId: 3 });
    expect(bob.next('puback').reasonCode).toBeUndefined(); // success
    expect(str(alice.next('publish').payload)).toBe('yes');
    alice.expectNothing();
    expect(bob.closed).toBe(false);
  });

  it('drops a denied 3.1.1 publish silently but still acknowledges it, as mosquitto does', async () => {
    const { w } = await world();
    const alice = await w.connect({ clientId: 'alice', username: 'alice', password: 'a' });
    await alice.subscribe('alice/#', 1);
    const bob = await w.connect({ clientId: 'bob', username: 'bob', password: 'b' });
    await bob.publish('alice/x', 'nope', { qos: 1, packetId: 7 });
    const ack = bob.next('puback');
    expect([ack.packetId, ack.reasonCode]).toEqual([7, undefined]);
    await bob.publish('alice/x', 'nope', { qos: 2, packetId: 8 });
    expect(bob.next('pubrec').packetId).toBe(8);
    alice.expectNothing();
  });

  it('retains nothing from a denied publish', async () => {
    const { w } = await world();
    const bob = await w.connect({ version: 5, clientId: 'bob', username: 'bob', password: 'b' });
    await bob.publish('alice/x', 'nope', { qos: 1, retain: true });
    expect(bob.next('puback').reasonCode).toBe(0x87);
    expect(w.retained.count()).toBe(0);
  });

  it('refuses a will the client may not publish (v5 0x87, 3.1.1 code 5)', async () => {
    const { w } = await world();
    const will = { topic: 'alice/will', payload: text('x'), qos: 0 as const, retain: false };
    for (const [version, code] of [[5, 0x87], [4, 5]] as const) {
      const c = w.client(version);
      await c.send(connectPacket({ version, clientId: `b${version}`, username: 'bob', password: 'b', will }));
      expect(c.next('connack').reasonCode).toBe(code);
    }
    await w.connect({ clientId: 'a', username: 'alice', password: 'a', will });
  });
});

describe('ACL on subscribe', () => {
  it('gives an anonymous client that names itself alice none of alice\'s rules', async () => {
    const { w } = authWorld({ aclFile: acl, allowAnonymous: true }); // no password file: names cannot be checked
    const c = await w.connect({ version: 5, clientId: 'impostor', username: 'alice' });
    expect(c.conn.username).toBe('alice'); // kept for display only
    expect(await c.subscribe('alice/#', 1)).toEqual([0x87]);
    expect(await c.subscribe('public/#', 1)).toEqual([1]);
  });

  it('refuses a filter no read rule covers: SUBACK 0x80 on 3.1.1, 0x87 on v5, keeping the others', async () => {
    const { w } = await world();
    const bob4 = await w.connect({ clientId: 'b4', username: 'bob', password: 'b' });
    await bob4.send({ type: 'subscribe', packetId: 1, subscriptions: [{ topicFilter: 'bob/#', qos: 1 }, { topicFilter: '#', qos: 1 }] });
    expect(bob4.next('suback').reasonCodes).toEqual([1, 0x80]);
    const bob5 = await w.connect({ version: 5, clientId: 'b5', username: 'bob', password: 'b' });
    expect(await bob5.subscribe('alice/inbox')).toEqual([0x87]);
    expect(await bob5.subscribe('$share/g/bob/x', 1)).toEqual([1]);
  });
});

describe('ACL at delivery', () => {
  it('holds back messages a deny rule covers, live and retained', async () => {
    const { w } = await world();
    const pub = await w.connect({ clientId: 'pub', username: 'carol', password: 'c' });
    await pub.publish('alice/secret/key', 'k', { retain: true });
    await pub.publish('alice/open', 'o', { retain: true });
    const alice = await w.connect({ clientId: 'alice', username: 'alice', password: 'a' });
    expect(await alice.subscribe('alice/#')).toEqual([0]);
    expect(str(alice.next('publish').payload)).toBe('o');
    alice.expectNothing();
    await pub.publish('alice/secret/key', 'k2');
    await pub.publish('alice/open', 'o2');
    expect(str(alice.next('publish').payload)).toBe('o2');
    alice.expectNothing();
    expect(w.dropped('not-authorized')).toBe(2);
  });

  it('checks a persistent session\'s queue as the principal it comes back with', async () => {
    const key = await makeKey('HS256');
    const { w } = authWorld({ jwt: { secret: key.secret } });
    const wide = await sign(key, { acl: ['read feed/#'] });
    const narrow = await sign(key, { acl: ['read feed/public/#'] });
    const sub = await w.connect({ clientId: 'sub', clean: false, username: 'u', password: wide });
    await sub.subscribe('feed/#', 1);
    await sub.drop();
    const pub = await w.connect({ clientId: 'pub', username: 'u', password: await sign(key, { acl: ['write feed/#'] }) });
    await pub.publish('feed/private/1', 'p', { qos: 1, packetId: 1 });
    await pub.publish('feed/public/1', 'q', { qos: 1, packetId: 2 });
    const back = w.client(4);
    await back.send(connectPacket({ clientId: 'sub', clean: false, username: 'u', password: narrow }));
    back.next('connack');
    expect(back.next('publish').topic).toBe('feed/public/1');
    back.expectNothing();
    expect(w.sessions.outboundCount('sub')).toBe(1); // the one in flight; the denied one is gone
  });

  it('lets patterns give each client its own subtree, and a wildcard client id no more', async () => {
    const { w } = await world();
    const dev = await w.connect({ version: 5, clientId: 'd1' });
    expect(await dev.subscribe('devices/d1/#')).toEqual([0]);
    expect(await dev.subscribe('devices/d2/#')).toEqual([0x87]);
    expect(await dev.subscribe('public/news')).toEqual([0]);
    const sneaky = await w.connect({ version: 5, clientId: '+' });
    expect(await sneaky.subscribe('devices/+/#')).toEqual([0x87]);
  });

  it('keeps the principal in the connection snapshot, so ACLs hold after a wake', async () => {
    const key = await makeKey('HS256');
    const { w } = authWorld({ jwt: { secret: key.secret } });
    const c = await w.connect({ version: 5, clientId: 'c', username: 'u', password: await sign(key, { sub: 's', acl: ['read a/#'] }) });
    const snapshot = JSON.parse(JSON.stringify(c.conn.snapshot()));
    expect(snapshot.principal).toEqual({ method: 'jwt', username: 's', acl: [{ access: 'read', topic: 'a/#' }] });
    const woke = w.broker.gateway.open('woke', { send: () => {}, close: () => {} }, snapshot);
    expect(woke.client.principal).toEqual(snapshot.principal);
    expect(woke.client.username).toBe('s');
  });
});
