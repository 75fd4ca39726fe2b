// Configured limits not covered elsewhere: topic length and depth, publish rate and bytes per
// second, time to CONNECT with a CONNECT that never completes.
import { describe, expect, it } from 'vitest';
import { encode } from '../../src/protocol/index.ts';
import { connectPacket, text, World } from './harness.ts';

describe('topic length and depth', () => {
  const config = { maxTopicLength: 16, maxTopicLevels: 3 };

  it.each([['length', 'a'.repeat(17)], ['levels', 'a/b/c/d']])('refuses a PUBLISH topic over the %s limit: v5 DISCONNECT 0x90', async (_limit, topic) => {
    const w = new World({ config });
    const c = await w.connect({ version: 5 });
    await c.publish('a'.repeat(16), 'at the limit');
    await c.publish('a/b/c', 'at the limit');
    c.expectNothing();
    await c.publish(topic, 'over');
    expect(c.next('disconnect').reasonCode).toBe(0x90);
    expect(c.closed).toBe(true);
  });

  it('closes a 3.1.1 client publishing over the limit, without a DISCONNECT', async () => {
    const w = new World({ config });
    const c = await w.connect({ version: 4 });
    await c.publish('a/b/c/d', 'over');
    expect([c.received, c.closed]).toEqual([[], true]);
  });

  it('refuses a filter over the limits: SUBACK 0x8F on v5, 0x80 on 3.1.1', async () => {
    const w = new World({ config });
    const v5 = await w.connect({ version: 5, clientId: 'v5' });
    expect(await v5.subscribe('+/+/+/#')).toEqual([0x8f]);
    expect(await v5.subscribe('x'.repeat(17))).toEqual([0x8f]);
    expect(await v5.subscribe('+/+/#')).toEqual([0]);
    const v4 = await w.connect({ version: 4, clientId: 'v4' });
    expect(await v4.subscribe('+/+/+/#')).toEqual([0x80]);
  });

  it('refuses a will topic over the limit with CONNACK 0x90', async () => {
    const w = new World({ config });
    const c = w.client(5);
    await c.send(connectPacket({ version: 5, will: { topic: 'a/b/c/d', payload: text('x'), qos: 0, retain: false } }));
    expect(c.next('connack').reasonCode).toBe(0x90);
  });
});

describe('publish rate', () => {
  it('allows a second\'s worth of publishes at once, then DISCONNECT 0x96, refilling with time', async () => {
    const w = new World({ config: { maxPublishRate: 5 } });
    const c = await w.connect({ version: 5, clientId: 'fast' });
    for (let i = 0; i < 5; i++) await c.publish('t', 'x');
    w.clock.advance(400); // two more tokens
    for (let i = 0; i < 2; i++) await c.publish('t', 'x');
    c.expectNothing();
    await c.publish('t', 'x');
    expect(c.next('disconnect').reasonCode).toBe(0x96);
    expect(c.closed).toBe(true);
  });

  it('lets a client publishing at the rate go on indefinitely', async () => {
    const w = new World({ config: { maxPublishRate: 10 } });
    const c = await w.connect({ version: 5 });
    for (let i = 0; i < 100; i++) {
      await c.publish('t', 'x');
      w.clock.advance(100);
    }
    expect(c.closed).toBe(false);
  });

  it('limits payload bytes per second (3.1.1: closed)', async () => {
    const w = new World({ config: { maxPublishBytesRate: 1000 } });
    const c = await w.connect({ version: 4 });
    await c.publish('t', 'x'.repeat(600));
    w.clock.advance(100); // 400 + 100 bytes back: not enough
    await c.publish('t', 'x'.repeat(600));
    expect(c.closed).toBe(true);
    const v5 = await w.connect({ version: 5, clientId: 'v5' });
    await v5.publish('t', 'x'.repeat(1001));
    expect(v5.next('disconnect').reasonCode).toBe(0x96);
  });

  it('keeps each client\'s buckets its own', async () => {
    const w = new World({ config: { maxPublishRate: 1 } });
    const a = await w.connect({ version: 5, clientId: 'a' });
    const b = await w.connect({ version: 5, clientId: 'b' });
    await a.publish('t', 'x');
    await b.publish('t', 'x');
    expect([a.closed, b.closed]).toEqual([false, false]);
  });
});

describe('time to CONNECT', () => {
  it('closes a connection whose CONNECT never completes, however many bytes of it arrived', async () => {
    const w = new World({ config: { connectTimeout: 3000 } });
    const c = w.client(4);
    const connect = encode(connectPacket({ clientId: 'slow' }), 4);
    for (let i = 0; i < connect.length - 1; i++) {
      await c.sendBytes(connect.subarray(i, i + 1));
      await w.advance(100);
    }
    expect(c.closed).toBe(false);
    await w.advance(3000 - 100 * (connect.length - 1));
    expect([c.received, c.closed]).toEqual([[], true]);
  });
});
