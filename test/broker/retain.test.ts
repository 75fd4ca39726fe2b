import { describe, expect, it } from 'vitest';
import { str, World } from './harness.ts';

describe('retained messages', () => {
  it('stores a retained message and delivers it on subscribe with retain set [MQTT-3.3.1-5, -8]', async () => {
    const w = new World();
    const pub = await w.connect({ clientId: 'pub' });
    await pub.publish('temp/random', '23.0', { retain: true, qos: 1 });
    pub.next('puback');
    const sub = await w.connect({ clientId: 'sub' });
    await sub.subscribe('temp/random', 1);
    const p = sub.next('publish');
    expect(p).toMatchObject({ topic: 'temp/random', retain: true, qos: 1 });
    expect(str(p.payload)).toBe('23.0');
  });

  it('replaces the retained message on a topic [MQTT-3.3.1-5]', async () => {
    const w = new World();
    const pub = await w.connect({ clientId: 'pub' });
    await pub.publish('t', 'one', { retain: true });
    await pub.publish('t', 'two', { retain: true });
    const sub = await w.connect({ clientId: 'sub' });
    await sub.subscribe('t');
    expect(str(sub.next('publish').payload)).toBe('two');
    sub.expectNothing();
  });

  it('clears the retained message with an empty payload, which is not itself retained [MQTT-3.3.1-6, -7]', async () => {
    const w = new World();
    const pub = await w.connect({ clientId: 'pub' });
    await pub.publish('t', 'one', { retain: true });
    await pub.publish('t', '', { retain: true });
    expect(w.retained.count()).toBe(0);
    const sub = await w.connect({ clientId: 'sub' });
    await sub.subscribe('t');
    sub.expectNothing();
  });

  it('delivers every retained message a wildcard subscription matches', async () => {
    const w = new World();
    const pub = await w.connect({ clientId: 'pub' });
    for (const room of ['kitchen', 'hall', 'attic']) await pub.publish(`home/${room}/temp`, room, { retain: true });
    await pub.publish('home/hall/light', 'on', { retain: true });
    const sub = await w.connect({ clientId: 'sub' });
    await sub.subscribe('home/+/temp');
    expect(sub.received.map((p) => p.type === 'publish' && p.topic).sort()).toEqual(
      ['home/attic/temp', 'home/hall/temp', 'home/kitchen/temp'],
    );
  });

  it('downgrades a retained message to the subscription QoS', async () => {
    const w = new World();
    const pub = await w.connect({ clientId: 'pub' });
    await pub.publish('t', 'x', { retain: true, qos: 2 });
    const sub = await w.connect({ clientId: 'sub' });
    await sub.subscribe('t', 0);
    expect(sub.next('publish').qos).toBe(0);
  });

  it('Retain Handling 1 sends retained messages only for a new subscription, 2 never [MQTT-3.3.1-10, -11]', async () => {
    const w = new World();
    const pub = await w.connect({ clientId: 'pub' });
    await pub.publish('t', 'x', { retain: true });
    const c = await w.connect({ version: 5, clientId: 'c' });
    await c.subscribe('t', 0, { retainHandling: 1 });
    c.next('publish');
    await c.subscribe('t', 0, { retainHandling: 1 });
    c.expectNothing();
    await c.subscribe('t', 0, { retainHandling: 0 });
    c.next('publish');
    const never = await w.connect({ version: 5, clientId: 'never' });
    await never.subscribe('t', 0, { retainHandling: 2 });
    never.expectNothing();
  });

  it('honours Message Expiry on retained messages [MQTT-3.3.2-5]', async () => {
    const w = new World();
    const pub = await w.connect({ version: 5, clientId: 'pub' });
    await pub.publish('t', 'x', { retain: true, properties: { messageExpiryInterval: 10 } });
    await w.advance(4_000);
    const early = await w.connect({ version: 5, clientId: 'early' });
    await early.subscribe('t');
    expect(early.next('publish').properties?.messageExpiryInterval).toBe(6); // [MQTT-3.3.2-6]
    await w.advance(7_000);
    const late = await w.connect({ version: 5, clientId: 'late' });
    await late.subscribe('t');
    late.expectNothing();
  });

  it('keeps retained messages across a restart', async () => {
    const w = new World();
    const pub = await w.connect({ clientId: 'pub' });
    await pub.publish('t', 'kept', { retain: true });
    await w.restart();
    const sub = await w.connect({ clientId: 'sub' });
    await sub.subscribe('#');
    expect(str(sub.next('publish').payload)).toBe('kept');
  });
});
