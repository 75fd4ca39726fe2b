import { describe, expect, it } from 'vitest';
import { encode } from '../../src/protocol/index.ts';
import { World, connectPacket, sharded } from './harness.ts';

const observed = (config = {}) => {
  const w = new World({ observe: true, config });
  return { w, counters: w.observed!.metrics.counters };
};

describe('traffic counters', () => {
  it('count packets, PUBLISH packets and bytes each way, exactly as they crossed the wire', async () => {
    const { w, counters } = observed();
    const sub = await w.connect({ clientId: 'sub' });
    await sub.subscribe('t', 1);
    const pub = await w.connect({ clientId: 'pub' });
    const before = structuredClone(counters);
    await pub.publish('t', 'hello', { qos: 1, packetId: 5 });
    pub.next('puback');
    const delivered = sub.next('publish');
    const inBytes = encode({ type: 'publish', topic: 't', payload: new TextEncoder().encode('hello'), qos: 1, packetId: 5, retain: false, dup: false }, 4).length;
    const outBytes = 4 /* PUBACK */ + encode(delivered, 4).length;
    expect(counters.received).toEqual({
      packets: before.received.packets + 1, publishes: before.received.publishes + 1, bytes: before.received.bytes + inBytes,
    });
    expect(counters.sent).toEqual({
      packets: before.sent.packets + 2, publishes: before.sent.publishes + 1, bytes: before.sent.bytes + outBytes,
    });
  });

  it('count CONNECTs and the most clients connected at once', async () => {
    const { w, counters } = observed();
    const a = await w.connect({ clientId: 'a' });
    await w.connect({ clientId: 'b' });
    await a.drop();
    await w.connect({ clientId: 'c' });
    expect([counters.connects, counters.maxConnected]).toEqual([3, 2]);
  });

  it('count connections refused before CONNACK success, by reason: failed logins among them', async () => {
    const deny = { authenticate: (_c: unknown, p: { username?: string }) => (p.username === 'mallory' ? 0x86 : undefined) };
    const w = new World({ observe: true, hooks: [deny], config: { maxClientIdLength: 8 } });
    const counters = w.observed!.metrics.counters;
    for (const opts of [{ clientId: 'a', username: 'mallory' }, { clientId: 'b', username: 'mallory' }, { clientId: 'x'.repeat(9) }]) {
      const c = w.client(5);
      await c.send(connectPacket({ version: 5, ...opts }));
      expect(c.closed).toBe(true);
    }
    await w.connect({ clientId: 'fine' });
    expect(counters.refused).toEqual({ BadUserNameOrPassword: 2, ClientIdentifierNotValid: 1 });
    expect(counters.connects).toBe(1);
  });

  // sharded: a session object's queue-full drops reach no hook and no gateway's counters
  it.skipIf(sharded)('count drops by reason (queue full for an offline session)', async () => {
    const { w, counters } = observed({ maxQueuedMessages: 1 });
    const sub = await w.connect({ clientId: 'sub', clean: false });
    await sub.subscribe('t', 1);
    await sub.drop();
    const pub = await w.connect({ clientId: 'pub' });
    for (let i = 1; i <= 3; i++) await pub.publish('t', 'x', { qos: 1, packetId: i });
    expect(counters.dropped).toEqual({ 'queue-full': 2, expired: 0, 'too-large': 0, 'not-authorized': 0 });
    expect(w.dropped('queue-full')).toBe(2);
  });

  it('count the bytes of a packet that failed to decode, and the connection still ends', async () => {
    const { w, counters } = observed();
    const c = w.client();
    await c.sendBytes(new Uint8Array([0xf0, 0x00]));
    expect(c.closed).toBe(true);
    expect(counters.received.bytes).toBe(2);
  });

  it('carry on from saved counters after a restart, and bump `changes` on every change', async () => {
    const { w } = observed();
    await (await w.connect({ clientId: 'a' })).publish('t', 'x');
    const before = structuredClone(w.observed!.metrics.counters);
    await w.restart();
    const metrics = w.observed!.metrics;
    expect(metrics.counters).toEqual(before);
    expect(metrics.changes).toBe(0);
    const c = w.client();
    await c.send(connectPacket({ clientId: 'b' }));
    expect(metrics.changes).toBeGreaterThan(0);
    expect(metrics.counters.connects).toBe(before.connects + 1);
  });
});
