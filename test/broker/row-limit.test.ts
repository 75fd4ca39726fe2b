// A message the broker may store (retained, queued for a session, a will) must fit one SQLite row
// of 2 MB, which production enforces and local workerd does not. Properties are stored as JSON,
// where a control character takes six bytes and binary four per three: the wire size alone does
// not bound the row, so the stored size is bounded before the message is accepted.
import { describe, expect, it } from 'vitest';
import { connectPacket, World } from './harness.ts';

const controls = (n: number) => '\u0001'.repeat(n);

describe('the SQLite row limit', () => {
  it('refuses a QoS 1 or retained PUBLISH whose properties would pass 2 MB as stored: DISCONNECT 0x95; at QoS 0 it is delivered (never stored)', async () => {
    const w = new World();
    const sub = await w.connect({ version: 5, clientId: 'sub' });
    await sub.subscribe('t', 1);
    const pub = await w.connect({ version: 5, clientId: 'pub' });
    const userProperties = Array.from({ length: 7 }, (): [string, string] => ['k', controls(60_000)]);
    const properties = { userProperties }; // 420 KB on the wire, 2.5 MB as JSON
    await pub.publish('t', 'x', { qos: 0, properties });
    expect(sub.next('publish').qos).toBe(0);
    await pub.publish('t', 'x', { qos: 1, properties });
    expect(pub.next('disconnect').reasonCode).toBe(0x95);
    sub.expectNothing();
    const again = await w.connect({ version: 5, clientId: 'pub2' });
    await again.publish('t', 'x', { qos: 0, retain: true, properties });
    expect(again.next('disconnect').reasonCode).toBe(0x95);
    expect(w.retained.count()).toBe(0);
  });

  it('refuses a will whose properties would pass a session row as JSON: CONNACK 0x95; the largest payload (64 KiB) passes', async () => {
    const w = new World();
    const will = (pairs: number, size = 10) => ({
      topic: 'w', payload: new Uint8Array(size), qos: 0 as const, retain: false,
      properties: { userProperties: Array.from({ length: pairs }, (): [string, string] => ['k', controls(60_000)]) },
    });
    const ok = w.client(5);
    await ok.send(connectPacket({ version: 5, clientId: 'ok', will: will(1, 65_535) }));
    expect(ok.next('connack').reasonCode).toBe(0);
    const big = w.client(5);
    await big.send(connectPacket({ version: 5, clientId: 'big', will: will(7) }));
    expect(big.next('connack').reasonCode).toBe(0x95);
  });
});
