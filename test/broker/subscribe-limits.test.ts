// What one SUBSCRIBE or UNSUBSCRIBE may cost: filters per packet, store reads per packet (not per
// filter), and the retained messages it sends, in count, bytes and stored messages examined.
import { describe, expect, it, vi } from 'vitest';
import type { Subscription } from '../../src/protocol/index.ts';
import type { StoredSubscription } from '../../src/broker/index.ts';
import { MemoryRetainedStore } from '../../src/broker/memory/memory-retained-store.ts';
import { TopicShard } from '../../src/broker/roles/topic-shard.ts';
import { World, sharded } from './harness.ts';

const filters = (n: number, name = (i: number) => `f/${i}`): Subscription[] => Array.from({ length: n }, (_, i) => ({ topicFilter: name(i), qos: 0 }));

// these read one broker's stores; sharded, subscriptions and retained messages are spread over the shards
describe.skipIf(sharded)('filters per packet', () => {
  it('refuses a SUBSCRIBE naming more filters than a client may hold, whole: v5 DISCONNECT 0x97, nothing stored', async () => {
    const w = new World({ config: { maxSubscriptionsPerClient: 8 } });
    const c = await w.connect({ version: 5, clientId: 'c' });
    await c.send({ type: 'subscribe', packetId: 1, subscriptions: filters(8) });
    expect(c.next('suback').reasonCodes).toEqual(Array(8).fill(0));
    const writes = vi.spyOn(w.stores.sessions, 'putSubscription');
    await c.send({ type: 'subscribe', packetId: 2, subscriptions: filters(9, (i) => `g/${i}`) });
    expect(c.next('disconnect').reasonCode).toBe(0x97);
    expect([c.closed, writes.mock.calls.length]).toEqual([true, 0]);
  });

  it('refuses an UNSUBSCRIBE naming more filters than a client may hold; 3.1.1 is closed', async () => {
    const w = new World({ config: { maxSubscriptionsPerClient: 8 } });
    const c = await w.connect({ version: 4, clientId: 'c' });
    await c.send({ type: 'unsubscribe', packetId: 1, topicFilters: filters(9).map((f) => f.topicFilter) });
    expect([c.received, c.closed]).toEqual([[], true]);
  });

  it('reads what the client holds once per SUBSCRIBE, however many filters it refuses [0x97 per filter over the limit]', async () => {
    const w = new World();
    const c = await w.connect({ version: 5, clientId: 'c' });
    await c.send({ type: 'subscribe', packetId: 1, subscriptions: filters(255) });
    c.next('suback');
    const reads = vi.spyOn(w.sessions, 'subscriptions');
    await c.send({ type: 'subscribe', packetId: 2, subscriptions: filters(256, (i) => `g/${i}`) });
    const codes = c.next('suback').reasonCodes;
    expect([codes[0], codes.slice(1).every((r) => r === 0x97)]).toEqual([0, true]);
    expect(reads.mock.calls.length).toBe(1);
  });

  it('replaces a filter named twice in one SUBSCRIBE: the last wins, stored once', async () => {
    const w = new World();
    const c = await w.connect({ version: 5, clientId: 'c' });
    await c.send({ type: 'subscribe', packetId: 1, subscriptions: [{ topicFilter: 'a', qos: 0 }, { topicFilter: 'a', qos: 1 }] });
    expect(c.next('suback').reasonCodes).toEqual([0, 1]);
    expect(w.sessions.subscriptions('c').map((s) => [s.topicFilter, s.qos])).toEqual([['a', 1]]);
  });
});

describe.skipIf(sharded)('retained messages sent for one SUBSCRIBE', () => {
  async function world(config: object, retained = 10, payload = 'abcd') {
    const w = new World({ config, observe: true });
    const pub = await w.connect({ clientId: 'pub' });
    for (let i = 0; i < retained; i++) await pub.publish(`r/${i}`, payload, { retain: true });
    return { w, c: await w.connect({ version: 5, clientId: 'sub' }) };
  }
  const publishes = (c: { received: Array<{ type: string }> }) => c.received.filter((p) => p.type === 'publish').length;

  it('sends at most maxRetainedPerSubscribe, across the filters of the packet, and counts the rest as retained-limit drops', async () => {
    const { w, c } = await world({ maxRetainedPerSubscribe: 4 });
    await c.send({ type: 'subscribe', packetId: 1, subscriptions: [{ topicFilter: 'r/#', qos: 0 }, { topicFilter: 'r/+', qos: 0 }] });
    expect(c.next('suback').reasonCodes).toEqual([0, 0]);
    expect(publishes(c)).toBe(4);
    expect(w.broker.stats.dropped['retained-limit']).toBe(16);
    expect(w.observed!.metrics.counters.dropped['retained-limit']).toBe(16);
  });

  it('sends at most maxRetainedBytesPerSubscribe of payload', async () => {
    const { c } = await world({ maxRetainedBytesPerSubscribe: 10 });
    await c.subscribe('r/#');
    expect(publishes(c)).toBe(2);
  });

  it('examines at most maxRetainedScanPerSubscribe stored messages, its filters together', async () => {
    const { w, c } = await world({ maxRetainedScanPerSubscribe: 15 });
    const rowsBefore: Array<number | undefined> = [];
    const match = w.stores.retained.match.bind(w.stores.retained);
    vi.spyOn(w.stores.retained, 'match').mockImplementation((filter, budget) => (rowsBefore.push(budget?.rows), match(filter, budget)));
    await c.send({ type: 'subscribe', packetId: 1, subscriptions: filters(4, (i) => `+/nomatch${i}`) });
    expect(c.next('suback').reasonCodes).toEqual([0, 0, 0, 0]);
    expect(rowsBefore).toEqual([15, 5, 0, 0]); // the first examines all 10, the second 5, the others none
    expect(w.broker.stats.dropped['retained-limit']).toBe(3);
  });
});

describe('subscriptions a routing index holds (MQTT_MAX_SUBSCRIPTIONS: what a wake loads)', () => {
  // default topology: the namespace's one index; sharded: each topic shard's own (2 shards here)
  const indexes = sharded ? 2 : 1;

  it('refuses a new subscription past the quota: SUBACK 0x97 (3.1.1: 0x80), counted, nothing stored or routed', async () => {
    const w = new World({ config: { maxSubscriptions: 3 } });
    const c = await w.connect({ version: 5, clientId: 'c' });
    await c.send({ type: 'subscribe', packetId: 1, subscriptions: filters(10) });
    const codes = c.next('suback').reasonCodes;
    const taken = codes.filter((r) => r === 0).length;
    expect(taken).toBeGreaterThanOrEqual(3);
    expect(taken).toBeLessThanOrEqual(3 * indexes);
    expect(codes.filter((r) => r === 0x97).length).toBe(10 - taken);
    expect(refused(w)).toBe(10 - taken);
    expect(w.sessions.subscriptions('c').length).toBe(taken);
    const p = await w.connect({ version: 5, clientId: 'p' });
    for (let i = 0; i < 10; i++) await p.send({ type: 'publish', topic: `f/${i}`, payload: new Uint8Array([i]), qos: 0, retain: false, dup: false });
    await w.settle();
    expect(c.received.flatMap((m) => (m.type === 'publish' ? [m.payload[0]] : [])).sort()).toEqual(codes.flatMap((r, i) => (r === 0 ? [i] : [])));
    const old = await w.connect({ version: 4, clientId: 'old' });
    await old.send({ type: 'subscribe', packetId: 1, subscriptions: filters(10) });
    expect(old.next('suback').reasonCodes.every((r) => r === 0x80)).toBe(true);
  });

  it('a subscription the client holds is replaced when the index is full; one unsubscribed makes room', async () => {
    const w = new World({ config: { maxSubscriptions: 1 } });
    const c = await w.connect({ version: 5, clientId: 'c' });
    await c.send({ type: 'subscribe', packetId: 1, subscriptions: [{ topicFilter: 'x', qos: 0 }] });
    expect(c.next('suback').reasonCodes).toEqual([0]);
    await c.send({ type: 'subscribe', packetId: 2, subscriptions: [{ topicFilter: 'x', qos: 1 }] });
    expect(c.next('suback').reasonCodes).toEqual([1]);
    const d = await w.connect({ version: 5, clientId: 'd' });
    await d.send({ type: 'subscribe', packetId: 1, subscriptions: [{ topicFilter: 'x', qos: 0 }] });
    expect(d.next('suback').reasonCodes).toEqual([0x97]);
    await c.send({ type: 'unsubscribe', packetId: 3, topicFilters: ['x'] });
    c.next('unsuback');
    await d.send({ type: 'subscribe', packetId: 2, subscriptions: [{ topicFilter: 'x', qos: 0 }] });
    expect(d.next('suback').reasonCodes).toEqual([0]);
  });

  it('a wake loads every stored subscription even past a quota lowered since; new ones are refused', () => {
    const stored: Array<[string, StoredSubscription]> = ['a', 'b', 'c'].map((f) => ['c', { topicFilter: f, qos: 0 }]);
    const index = new TopicShard(new MemoryRetainedStore(), stored, undefined, 2);
    expect(index.size).toBe(3);
    expect(index.add('c', { topicFilter: 'a', qos: 1 })).toBe(true); // held: replaced
    expect(index.add('c', { topicFilter: 'd', qos: 0 })).toBe(false);
    expect(index.size).toBe(3);
  });
});

function refused(w: World): number {
  return w.sharded ? w.sharded.gateways.reduce((n, g) => n + g.stats.refused.subscriptions, 0) : w.broker.stats.refused.subscriptions;
}
