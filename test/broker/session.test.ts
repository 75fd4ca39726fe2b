import { describe, expect, it } from 'vitest';
import { connectPacket, sharded, str, World } from './harness.ts';

describe('sessions', () => {
  it('reports no session present for a new persistent session, then present on return [MQTT-3.2.2-2, -3]', async () => {
    const w = new World();
    const first = w.client(4);
    await first.send(connectPacket({ clientId: 'p', clean: false }));
    expect(first.next('connack').sessionPresent).toBe(false);
    await first.send({ type: 'disconnect' });
    const again = w.client(4);
    await again.send(connectPacket({ clientId: 'p', clean: false }));
    expect(again.next('connack').sessionPresent).toBe(true);
  });

  it('clean session discards the old session [MQTT-3.1.2-6]', async () => {
    const w = new World();
    const c = await w.connect({ clientId: 'p', clean: false });
    await c.subscribe('t', 1);
    await c.send({ type: 'disconnect' });
    const clean = w.client(4);
    await clean.send(connectPacket({ clientId: 'p', clean: true }));
    expect(clean.next('connack').sessionPresent).toBe(false);
    expect(w.sessions.subscriptions('p')).toEqual([]);
  });

  it('keeps subscriptions and queues QoS 1/2 (not QoS 0) while the client is away [MQTT-3.1.2-5]', async () => {
    const w = new World();
    const c = await w.connect({ clientId: 'p', clean: false });
    await c.subscribe('t', 2);
    await c.drop();
    const pub = await w.connect({ clientId: 'pub' });
    await pub.publish('t', 'zero', { qos: 0 });
    await pub.publish('t', 'one', { qos: 1, packetId: 1 });
    await pub.publish('t', 'two', { qos: 2, packetId: 2 });
    const back = w.client(4);
    await back.send(connectPacket({ clientId: 'p', clean: false }));
    expect(back.next('connack').sessionPresent).toBe(true);
    const got = [back.next('publish'), back.next('publish')];
    expect(got.map((p) => [str(p.payload), p.qos])).toEqual([['one', 1], ['two', 2]]);
  });

  it('redelivers unacknowledged messages with DUP on reconnect [MQTT-4.4.0-1]', async () => {
    const w = new World();
    const c = await w.connect({ clientId: 'p', clean: false });
    await c.subscribe('t', 1);
    const pub = await w.connect({ clientId: 'pub' });
    await pub.publish('t', 'x', { qos: 1 });
    const first = c.next('publish');
    expect(first.dup).toBe(false);
    await c.drop();
    const back = w.client(4);
    await back.send(connectPacket({ clientId: 'p', clean: false }));
    back.next('connack');
    const again = back.next('publish');
    expect(again).toMatchObject({ dup: true, packetId: first.packetId, qos: 1 });
    await back.send({ type: 'puback', packetId: again.packetId! });
    expect(w.sessions.outbound('p')).toEqual([]);
  });

  it('resends PUBREL, not the PUBLISH, for a QoS 2 message already received [MQTT-4.4.0-1]', async () => {
    const w = new World();
    const c = await w.connect({ clientId: 'p', clean: false });
    await c.subscribe('t', 2);
    const pub = await w.connect({ clientId: 'pub' });
    await pub.publish('t', 'x', { qos: 2 });
    const p = c.next('publish');
    await c.send({ type: 'pubrec', packetId: p.packetId! });
    c.next('pubrel');
    await c.drop();
    const back = w.client(4);
    await back.send(connectPacket({ clientId: 'p', clean: false }));
    back.next('connack');
    expect(back.next('pubrel').packetId).toBe(p.packetId);
    back.expectNothing();
  });

  it('delivers a QoS 2 message exactly once when the publisher reconnects mid-flow [MQTT-4.3.3]', async () => {
    const w = new World();
    const sub = await w.connect({ clientId: 'sub' });
    await sub.subscribe('t', 2);
    const pub = await w.connect({ clientId: 'pub', clean: false });
    await pub.publish('t', 'x', { qos: 2, packetId: 5 });
    pub.next('pubrec');
    await pub.drop();
    const back = await w.connect({ clientId: 'pub', clean: false });
    await back.publish('t', 'x', { qos: 2, packetId: 5, dup: true });
    back.next('pubrec');
    await back.send({ type: 'pubrel', packetId: 5 });
    back.next('pubcomp');
    sub.next('publish');
    sub.expectNothing();
  });

  // sharded: a session object's queue-full drops reach no hook and no gateway's counters
  it.skipIf(sharded)('bounds the offline queue and counts what it drops', async () => {
    const drops: string[] = [];
    const w = new World({ config: { maxQueuedMessages: 3 }, hooks: [{ onDrop: (id, why) => void drops.push(`${id}:${why}`) }] });
    const c = await w.connect({ clientId: 'p', clean: false });
    await c.subscribe('t', 1);
    await c.drop();
    const pub = await w.connect({ clientId: 'pub' });
    for (let i = 0; i < 5; i++) await pub.publish('t', String(i), { qos: 1, packetId: i + 1 });
    expect(w.sessions.outboundCount('p')).toBe(3);
    expect(drops).toEqual(['p:queue-full', 'p:queue-full']);
    expect(w.dropped('queue-full')).toBe(2);
  });

  it('expires a v5 session after its Session Expiry Interval [MQTT-3.1.2-23]', async () => {
    const w = new World();
    const c = await w.connect({ version: 5, clientId: 'p', clean: false, properties: { sessionExpiryInterval: 10 } });
    await c.subscribe('t', 1);
    await c.drop();
    await w.advance(9_000);
    expect(w.sessions.get('p')).toBeDefined();
    await w.advance(1_001);
    expect(w.sessions.get('p')).toBeUndefined();
    const pub = await w.connect({ clientId: 'pub' });
    await pub.publish('t', 'x', { qos: 1 });
    expect(w.sessions.outboundCount('p')).toBe(0);
  });

  it('ends a v5 session with expiry 0 when the connection closes', async () => {
    const w = new World();
    const c = await w.connect({ version: 5, clientId: 'p', clean: false });
    await c.subscribe('t', 1);
    await c.send({ type: 'disconnect' });
    expect(w.sessions.get('p')).toBeUndefined();
  });

  it('lets DISCONNECT change the Session Expiry Interval, but not from 0 [MQTT-3.14.2-2]', async () => {
    const w = new World();
    const keep = await w.connect({ version: 5, clientId: 'keep', properties: { sessionExpiryInterval: 10 } });
    await keep.send({ type: 'disconnect', properties: { sessionExpiryInterval: 100 } });
    await w.advance(50_000);
    expect(w.sessions.get('keep')).toBeDefined();
    const zero = await w.connect({ version: 5, clientId: 'zero' });
    await zero.send({ type: 'disconnect', properties: { sessionExpiryInterval: 100 } });
    expect(zero.next('disconnect').reasonCode).toBe(0x82);
  });

  it('keeps a persistent session, its subscriptions and its queue across a restart', async () => {
    const w = new World();
    const c = await w.connect({ clientId: 'p', clean: false });
    await c.subscribe('t', 1);
    await c.drop();
    const pub = await w.connect({ clientId: 'pub' });
    await pub.publish('t', 'before', { qos: 1 });
    await w.restart();
    const pub2 = await w.connect({ clientId: 'pub2' });
    await pub2.publish('t', 'after', { qos: 1 });
    const back = w.client(4);
    await back.send(connectPacket({ clientId: 'p', clean: false }));
    expect(back.next('connack').sessionPresent).toBe(true);
    expect([str(back.next('publish').payload), str(back.next('publish').payload)]).toEqual(['before', 'after']);
  });

  // one broker's own flow store: sharded, the client's gateway holds it
  it.skipIf(sharded)('keeps a clean session\'s message flows in memory, not the store, noted for a snapshot until they end', async () => {
    const w = new World();
    const flows = w.broker.sessions.flows;
    const sub = await w.connect({ clientId: 'clean', clean: true });
    await sub.subscribe('t', 2);
    const pub = await w.connect({ clientId: 'pub', clean: true });
    await pub.publish('t', 'x', { qos: 2, packetId: 3 });
    const p = sub.next('publish');
    expect([w.sessions.outboundCount('clean'), w.sessions.hasIncoming('pub', 3)]).toEqual([0, false]);
    expect([w.broker.sessions.outboundCount('clean'), flows.store.hasIncoming('pub', 3)]).toEqual([1, true]);
    await pub.send({ type: 'pubrel', packetId: 3 });
    expect(pub.next('pubrec')).toMatchObject({ packetId: 3 });
    expect(pub.next('pubcomp')).toMatchObject({ packetId: 3 });
    expect(flows.store.hasIncoming('pub', 3)).toBe(false);
    await sub.send({ type: 'pubrec', packetId: p.packetId! });
    expect(sub.next('pubrel').packetId).toBe(p.packetId);
    await sub.send({ type: 'pubcomp', packetId: p.packetId! });
    expect(w.broker.sessions.outboundCount('clean')).toBe(0);
    await sub.publish('t', 'y', { qos: 1, packetId: 4 }); // to itself: in flight when the connection ends
    expect(w.broker.sessions.outboundCount('clean')).toBe(1);
    await sub.send({ type: 'disconnect' });
    expect(w.broker.sessions.outboundCount('clean')).toBe(0);
  });

  it('clean sessions leave nothing behind', async () => {
    const w = new World();
    const c = await w.connect({ clientId: 'gone' });
    await c.subscribe('t', 1);
    await c.send({ type: 'disconnect' });
    expect(w.sessions.list()).toEqual([]);
    const pub = await w.connect({ clientId: 'pub' });
    await pub.publish('t', 'x', { qos: 1 });
    expect(w.sessions.outboundCount('gone')).toBe(0);
  });
});
