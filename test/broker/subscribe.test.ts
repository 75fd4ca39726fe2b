import { describe, expect, it } from 'vitest';
import { str, World } from './harness.ts';

describe('subscriptions', () => {
  it('matches + and # wildcards [MQTT-4.7.1]', async () => {
    const w = new World();
    const plus = await w.connect({ clientId: 'plus' });
    await plus.subscribe('sensors/+/temp');
    const hash = await w.connect({ clientId: 'hash' });
    await hash.subscribe('sensors/#');
    const pub = await w.connect({ clientId: 'pub' });
    await pub.publish('sensors/kitchen/temp', '21');
    await pub.publish('sensors', 'root');
    await pub.publish('sensors/kitchen/humidity', '40');
    expect(plus.next('publish').topic).toBe('sensors/kitchen/temp');
    plus.expectNothing();
    expect([hash.next('publish').topic, hash.next('publish').topic, hash.next('publish').topic])
      .toEqual(['sensors/kitchen/temp', 'sensors', 'sensors/kitchen/humidity']);
  });

  it('does not match $-topics with a leading wildcard [MQTT-4.7.2-1]', async () => {
    const w = new World();
    const all = await w.connect({ clientId: 'all', gateway: 0 }); // $SYS belongs to each gateway
    await all.subscribe('#');
    await all.subscribe('+/x');
    const sys = await w.connect({ clientId: 'sys', gateway: 0 });
    await sys.subscribe('$SYS/#');
    const pub = await w.connect({ clientId: 'pub', gateway: 0 });
    await pub.publish('$SYS/x', 'hidden');
    all.expectNothing();
    expect(sys.next('publish').topic).toBe('$SYS/x');
  });

  it('delivers one copy for overlapping subscriptions, at the highest QoS, with every identifier [MQTT-3.3.4-2, -3]', async () => {
    const w = new World();
    const c = await w.connect({ version: 5, clientId: 'c' });
    await c.subscribe('a/+', 0, {}, { subscriptionIdentifiers: [1] });
    await c.subscribe('a/#', 1, {}, { subscriptionIdentifiers: [2] });
    const pub = await w.connect({ clientId: 'pub' });
    await pub.publish('a/b', 'x', { qos: 1 });
    const p = c.next('publish');
    expect(p.qos).toBe(1);
    expect(p.properties?.subscriptionIdentifiers?.sort()).toEqual([1, 2]);
    c.expectNothing();
  });

  it('routes by the current subscriptions after subscribing and unsubscribing between publishes', async () => {
    const w = new World();
    const a = await w.connect({ clientId: 'a' });
    const b = await w.connect({ clientId: 'b' });
    const pub = await w.connect({ clientId: 'pub' });
    await a.subscribe('s/+');
    await pub.publish('s/1', 'one');
    expect(str(a.next('publish').payload)).toBe('one');
    await b.subscribe('s/#');
    await pub.publish('s/1', 'two');
    expect([str(a.next('publish').payload), str(b.next('publish').payload)]).toEqual(['two', 'two']);
    await a.send({ type: 'unsubscribe', packetId: 2, topicFilters: ['s/+'] });
    a.next('unsuback');
    await pub.publish('s/1', 'three');
    a.expectNothing();
    expect(str(b.next('publish').payload)).toBe('three');
  });

  it('replaces a subscription on the same filter instead of adding one [MQTT-3.8.4-3]', async () => {
    const w = new World();
    const c = await w.connect({ clientId: 'c' });
    await c.subscribe('t', 0);
    await c.subscribe('t', 1);
    expect(w.sessions.subscriptions('c')).toHaveLength(1);
    const pub = await w.connect({ clientId: 'pub' });
    await pub.publish('t', 'x', { qos: 1 });
    expect(c.next('publish').qos).toBe(1);
    c.expectNothing();
  });

  it('refuses invalid filters with SUBACK 0x8F on v5 and 0x80 on 3.1.1, keeping the valid ones [MQTT-3.8.4-…]', async () => {
    const w = new World();
    const v5 = await w.connect({ version: 5, clientId: 'v5' });
    await v5.send({ type: 'subscribe', packetId: 2, subscriptions: [
      { topicFilter: 'a/#/b', qos: 0 }, { topicFilter: 'ok/+', qos: 1 }, { topicFilter: 'a+', qos: 0 },
    ] });
    expect(v5.next('suback').reasonCodes).toEqual([0x8f, 1, 0x8f]);
    const v4 = await w.connect({ clientId: 'v4' });
    expect(await v4.subscribe('x/#/y')).toEqual([0x80]);
  });

  it('refuses subscriptions beyond the per-client limit with 0x97 (3.1.1: 0x80)', async () => {
    const w = new World({ config: { maxSubscriptionsPerClient: 2 } });
    const c = await w.connect({ version: 5 });
    await c.subscribe('a');
    await c.subscribe('b');
    expect(await c.subscribe('c')).toEqual([0x97]);
    expect(await c.subscribe('a', 1)).toEqual([1]); // replacing is not adding
  });

  it('unsubscribes with UNSUBACK codes 0x00 and 0x11 on v5 [MQTT-3.11.3-1]', async () => {
    const w = new World();
    const c = await w.connect({ version: 5, clientId: 'c' });
    await c.subscribe('t');
    await c.send({ type: 'unsubscribe', packetId: 4, topicFilters: ['t', 'never'] });
    expect(c.next('unsuback')).toMatchObject({ packetId: 4, reasonCodes: [0x00, 0x11] });
    const pub = await w.connect({ clientId: 'pub' });
    await pub.publish('t', 'x');
    c.expectNothing();
  });

  it('answers 3.1.1 UNSUBSCRIBE with a bare UNSUBACK [MQTT-3.10.4-4]', async () => {
    const w = new World();
    const c = await w.connect();
    await c.send({ type: 'unsubscribe', packetId: 5, topicFilters: ['x'] });
    expect(c.next('unsuback')).toMatchObject({ packetId: 5 });
  });

  it('No Local keeps a client\'s own messages from it [MQTT-3.8.3-3]', async () => {
    const w = new World();
    const c = await w.connect({ version: 5, clientId: 'c' });
    await c.subscribe('chat', 0, { noLocal: true });
    const other = await w.connect({ version: 5, clientId: 'o' });
    await other.subscribe('chat');
    await c.publish('chat', 'mine');
    c.expectNothing();
    expect(str(other.next('publish').payload)).toBe('mine');
  });

  it('Retain As Published keeps the retain flag on forwarded messages [MQTT-3.3.1-12, -13]', async () => {
    const w = new World();
    const rap = await w.connect({ version: 5, clientId: 'rap' });
    await rap.subscribe('r', 0, { retainAsPublished: true });
    const plain = await w.connect({ version: 5, clientId: 'plain' });
    await plain.subscribe('r');
    const pub = await w.connect({ clientId: 'pub' });
    await pub.publish('r', 'x', { retain: true });
    expect(rap.next('publish').retain).toBe(true);
    expect(plain.next('publish').retain).toBe(false);
  });
});

describe('shared subscriptions', () => {
  it('spreads a group\'s messages across its members, each message to one [MQTT-4.8.2-3]', async () => {
    const w = new World();
    const a = await w.connect({ version: 5, clientId: 'a' });
    const b = await w.connect({ clientId: 'b' }); // accepted from 3.1.1 clients too
    expect(await a.subscribe('$share/g/jobs/+', 1)).toEqual([1]);
    expect(await b.subscribe('$share/g/jobs/+', 1)).toEqual([1]);
    const pub = await w.connect({ clientId: 'pub' });
    for (let i = 0; i < 10; i++) await pub.publish('jobs/x', String(i));
    expect(a.received.length + b.received.length).toBe(10);
    expect(a.received.length).toBeGreaterThan(0);
    expect(b.received.length).toBeGreaterThan(0);
  });

  it('gives each group its own copy, and plain subscribers theirs', async () => {
    const w = new World();
    const g1 = await w.connect({ clientId: 'g1' });
    await g1.subscribe('$share/one/t');
    const g2 = await w.connect({ clientId: 'g2' });
    await g2.subscribe('$share/two/t');
    const plain = await w.connect({ clientId: 'plain' });
    await plain.subscribe('t');
    const pub = await w.connect({ clientId: 'pub' });
    await pub.publish('t', 'x');
    expect([g1.received.length, g2.received.length, plain.received.length]).toEqual([1, 1, 1]);
  });

  it('sends no retained messages on a shared subscription [MQTT-3.8.4-…]', async () => {
    const w = new World();
    const pub = await w.connect({ clientId: 'pub' });
    await pub.publish('t', 'kept', { retain: true });
    const c = await w.connect({ clientId: 'c' });
    await c.subscribe('$share/g/t');
    c.expectNothing();
  });

  it('refuses malformed share names with 0x8F', async () => {
    const w = new World();
    const c = await w.connect({ version: 5 });
    expect(await c.subscribe('$share/g+/t')).toEqual([0x8f]);
    expect(await c.subscribe('$share//t')).toEqual([0x8f]);
  });

  it('treats No Local on a shared subscription as a protocol error [MQTT-3.8.3-4]', async () => {
    const w = new World();
    const c = await w.connect({ version: 5 });
    await c.send({ type: 'subscribe', packetId: 1, subscriptions: [{ topicFilter: '$share/g/t', qos: 0, noLocal: true }] });
    expect(c.next('disconnect').reasonCode).toBe(0x82);
  });
});
