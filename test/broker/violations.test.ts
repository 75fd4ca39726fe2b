// Every protocol violation the spec names for a server to catch, and the reaction: on v5 a
// DISCONNECT (after CONNECT) or CONNACK (before) with the reason code, then the close; on
// 3.1.1 a plain close, or a CONNACK return code where 3.1.1 has one [MQTT-4.13.1-1].
import { describe, expect, it } from 'vitest';
import { connectPacket, World } from './harness.ts';
import { activeCases, openingCases, violationConfig } from './violation-cases.ts';

const config = violationConfig;

describe('protocol violations after CONNECT', () => {
  for (const [name, v5, code, v4] of activeCases) {
    if (v5) it(`v5: ${name} → DISCONNECT 0x${code.toString(16)}`, async () => {
      const w = new World({ config });
      const c = await w.connect({ version: 5 });
      await c.sendBytes(v5);
      expect(c.next('disconnect').reasonCode).toBe(code);
      expect(c.closed).toBe(true);
    });
    if (v4) it(`3.1.1: ${name} → closed`, async () => {
      const w = new World({ config });
      const c = await w.connect({ version: 4 });
      await c.sendBytes(v4);
      expect([c.received, c.closed]).toEqual([[], true]);
    });
  }
});

describe('protocol violations in the opening', () => {
  for (const [name, v5, code, v4, v4code] of openingCases) {
    if (v5) it(`v5: ${name} → ${code === undefined ? 'closed' : `CONNACK 0x${code.toString(16)}`}`, async () => {
      const c = new World({ config }).client(5);
      await c.sendBytes(v5);
      expect(c.received.map((p) => (p.type === 'connack' ? p.reasonCode : p.type))).toEqual(code === undefined ? [] : [code]);
      expect(c.closed).toBe(true);
    });
    if (v4) it(`3.1.1: ${name} → ${v4code === undefined ? 'closed' : `CONNACK ${v4code}`}`, async () => {
      const c = new World({ config }).client(4);
      await c.sendBytes(v4);
      expect(c.received.map((p) => (p.type === 'connack' ? p.reasonCode : p.type))).toEqual(v4code === undefined ? [] : [v4code]);
      expect(c.closed).toBe(true);
    });
  }
});

describe('a violation is one connection\'s end', () => {
  it('leaves other clients, their subscriptions and retained messages as they were', async () => {
    const w = new World({ config });
    const sub = await w.connect({ version: 5, clientId: 'sub' });
    await sub.subscribe('t', 1);
    const pub = await w.connect({ version: 4, clientId: 'pub' });
    await pub.publish('t', 'kept', { retain: true });
    sub.next('publish');
    for (const [, v5] of activeCases) {
      if (!v5) continue;
      const bad = await w.connect({ version: 5, clientId: 'bad' });
      await bad.sendBytes(v5);
      expect(bad.closed).toBe(true);
    }
    await pub.publish('t', 'after', { qos: 1 });
    expect(sub.next('publish').topic).toBe('t');
    expect(w.retained.get('t')?.payload).toEqual(new TextEncoder().encode('kept'));
    expect([sub.closed, pub.closed]).toEqual([false, false]);
  });
});

describe('malformed filters in UNSUBSCRIBE', () => {
  it('answer UNSUBACK 0x8F on v5 and a plain UNSUBACK on 3.1.1, the connection staying up', async () => {
    const w = new World();
    const v5 = await w.connect({ version: 5, clientId: 'v5' });
    await v5.send({ type: 'unsubscribe', packetId: 3, topicFilters: ['a/#/b', 'x'] });
    expect(v5.next('unsuback').reasonCodes).toEqual([0x8f, 0x11]);
    const v4 = await w.connect({ version: 4, clientId: 'v4' });
    await v4.send({ type: 'unsubscribe', packetId: 4, topicFilters: ['a/#/b'] });
    expect(v4.next('unsuback').packetId).toBe(4);
    expect([v5.closed, v4.closed]).toEqual([false, false]);
  });
});
