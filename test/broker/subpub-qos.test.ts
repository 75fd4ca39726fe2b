import { describe, expect, it } from 'vitest';
import { str, text, World } from './harness.ts';

describe('publish and subscribe by QoS', () => {
  it('delivers QoS 0 to a subscriber', async () => {
    const w = new World();
    const sub = await w.connect({ clientId: 'sub' });
    expect(await sub.subscribe('temp/random')).toEqual([0]);
    const pub = await w.connect({ clientId: 'pub' });
    await pub.publish('temp/random', '23.0');
    const p = sub.next('publish');
    expect(p).toMatchObject({ topic: 'temp/random', qos: 0, retain: false, dup: false });
    expect(str(p.payload)).toBe('23.0');
  });

  it('acknowledges QoS 1 with PUBACK and delivers with a packet id [MQTT-4.3.2-2]', async () => {
    const w = new World();
    const sub = await w.connect({ clientId: 'sub', clean: false });
    await sub.subscribe('a/b', 1);
    const pub = await w.connect({ clientId: 'pub' });
    await pub.publish('a/b', 'x', { qos: 1, packetId: 7 });
    expect(pub.next('puback').packetId).toBe(7);
    const p = sub.next('publish');
    expect(p.qos).toBe(1);
    expect(p.packetId).toBeGreaterThan(0);
    expect(w.sessions.outbound('sub')).toMatchObject([{ packetId: p.packetId, state: 'sent' }]);
    await sub.send({ type: 'puback', packetId: p.packetId! });
    expect(w.sessions.outbound('sub')).toEqual([]);
  });

  it('runs the QoS 2 exchange both ways and delivers exactly once [MQTT-4.3.3]', async () => {
    const w = new World();
    const sub = await w.connect({ clientId: 'sub', clean: false });
    await sub.subscribe('q2', 2);
    const pub = await w.connect({ clientId: 'pub' });
    await pub.publish('q2', 'once', { qos: 2, packetId: 9 });
    expect(pub.next('pubrec').packetId).toBe(9);
    await pub.publish('q2', 'once', { qos: 2, packetId: 9, dup: true }); // a retransmission
    expect(pub.next('pubrec').packetId).toBe(9);
    await pub.send({ type: 'pubrel', packetId: 9 });
    expect(pub.next('pubcomp').packetId).toBe(9);

    const p = sub.next('publish');
    sub.expectNothing();
    await sub.send({ type: 'pubrec', packetId: p.packetId! });
    expect(sub.next('pubrel').packetId).toBe(p.packetId);
    expect(w.sessions.outbound('sub')).toMatchObject([{ packetId: p.packetId, state: 'released' }]);
    await sub.send({ type: 'pubcomp', packetId: p.packetId! });
    expect(w.sessions.outbound('sub')).toEqual([]);
  });

  it('downgrades to the granted QoS [MQTT-3.8.4-8]', async () => {
    const w = new World();
    const sub = await w.connect({ clientId: 'sub' });
    await sub.subscribe('t', 0);
    const pub = await w.connect({ clientId: 'pub' });
    await pub.publish('t', 'x', { qos: 2 });
    expect(sub.next('publish').qos).toBe(0);
  });

  it('never upgrades QoS above the published one', async () => {
    const w = new World();
    const sub = await w.connect({ clientId: 'sub' });
    await sub.subscribe('t', 2);
    const pub = await w.connect({ clientId: 'pub' });
    await pub.publish('t', 'x', { qos: 1 });
    expect(sub.next('publish').qos).toBe(1);
  });

  it('keeps one publisher\'s order across QoS 1 messages [MQTT-4.6.0-2]', async () => {
    const w = new World();
    const sub = await w.connect({ clientId: 'sub' });
    await sub.subscribe('seq', 1);
    const pub = await w.connect({ clientId: 'pub' });
    for (let i = 0; i < 20; i++) await pub.publish('seq', String(i), { qos: 1, packetId: i + 1 });
    const got: string[] = [];
    for (let i = 0; i < 20; i++) {
      const p = sub.next('publish');
      got.push(str(p.payload));
      await sub.send({ type: 'puback', packetId: p.packetId! });
    }
    expect(got).toEqual(Array.from({ length: 20 }, (_, i) => String(i)));
  });

  it('bounds the queue of a connected but slow subscriber too, counting what it drops', async () => {
    const w = new World({ config: { maxInflight: 1, maxQueuedMessages: 2 } });
    const sub = await w.connect({ clientId: 'sub' });
    await sub.subscribe('t', 1);
    const pub = await w.connect({ clientId: 'pub' });
    for (let i = 0; i < 5; i++) await pub.publish('t', String(i), { qos: 1, packetId: i + 1 });
    expect(w.dropped('queue-full')).toBe(2);
    const got: string[] = [];
    for (let i = 0; i < 3; i++) {
      const p = sub.next('publish');
      got.push(str(p.payload));
      sub.expectNothing();
      await sub.send({ type: 'puback', packetId: p.packetId! });
    }
    expect(got).toEqual(['0', '1', '2']);
  });

  it('holds QoS 1 messages beyond the client\'s window until acknowledged (3.x in-flight window)', async () => {
    const w = new World({ config: { maxInflight: 2 } });
    const sub = await w.connect({ clientId: 'sub' });
    await sub.subscribe('t', 1);
    const pub = await w.connect({ clientId: 'pub' });
    for (let i = 0; i < 4; i++) await pub.publish('t', String(i), { qos: 1, packetId: i + 1 });
    const first = sub.next('publish');
    sub.next('publish');
    sub.expectNothing();
    await sub.send({ type: 'puback', packetId: first.packetId! });
    expect(str(sub.next('publish').payload)).toBe('2');
    sub.expectNothing();
  });

  it('answers PUBREL for an unknown packet id with PUBCOMP 0x92 on v5', async () => {
    const w = new World();
    const c = await w.connect({ version: 5 });
    await c.send({ type: 'pubrel', packetId: 42 });
    expect(c.next('pubcomp')).toMatchObject({ packetId: 42, reasonCode: 0x92 });
  });

  it('v5 PUBACK says 0x10 when no one subscribes', async () => {
    const w = new World();
    const c = await w.connect({ version: 5 });
    await c.publish('nobody/here', 'x', { qos: 1, packetId: 3 });
    expect(c.next('puback')).toMatchObject({ packetId: 3, reasonCode: 0x10 });
  });

  it('refuses a PUBLISH topic with wildcards (v5 DISCONNECT 0x90) [MQTT-3.3.2-2]', async () => {
    const w = new World();
    const c = await w.connect({ version: 5 });
    await c.send({ type: 'publish', topic: 'a/+', payload: text('x'), qos: 0, retain: false, dup: false });
    expect(c.next('disconnect').reasonCode).toBe(0x90);
    expect(c.closed).toBe(true);
  });

  it('closes a 3.1.1 client that publishes to a wildcard topic, without a DISCONNECT', async () => {
    const w = new World();
    const c = await w.connect();
    await c.send({ type: 'publish', topic: 'a/#', payload: text('x'), qos: 0, retain: false, dup: false });
    expect(c.received).toEqual([]);
    expect(c.closed).toBe(true);
  });

  it('delivers to the publisher itself when it subscribes (no No Local)', async () => {
    const w = new World();
    const c = await w.connect();
    await c.subscribe('echo');
    await c.publish('echo', 'hi');
    expect(str(c.next('publish').payload)).toBe('hi');
  });
});
