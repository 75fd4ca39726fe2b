// The sharded topology's pure parts: shard keys, the load-batching caller, and a topic shard's
// routing into one batch per gateway or session object.
import { describe, expect, it } from 'vitest';
import { Batcher } from '../../src/broker/batcher.ts';
import { MemoryRetainedStore } from '../../src/broker/memory/memory-retained-store.ts';
import { MemorySessionStore } from '../../src/broker/memory/memory-session-store.ts';
import { ShardHost, type Location } from '../../src/broker/roles/shard-host.ts';
import { sessionObjectOf, shardOfTopic, shardsOfFilter } from '../../src/broker/shard-key.ts';
import type { Message } from '../../src/broker/index.ts';

const text = (s: string) => new TextEncoder().encode(s);
const msg = (topic: string, qos: 0 | 1 | 2 = 1, retain = false): Message => ({ topic, payload: text(topic), qos, retain });
const sub = (topicFilter: string, qos: 0 | 1 | 2 = 1) => ({ topicFilter, qos, noLocal: false, retainAsPublished: false, retainHandling: 0 as const });

describe('shard keys', () => {
  it('puts a topic on the shard of its first level, and a filter where its topics can be', () => {
    expect(shardOfTopic('plant/a/b', 4)).toBe(shardOfTopic('plant', 4));
    expect(shardsOfFilter('plant/+/temp', 4)).toEqual([shardOfTopic('plant', 4)]);
    expect(shardsOfFilter('$share/g/plant/#', 4)).toEqual([shardOfTopic('plant', 4)]);
    expect(shardsOfFilter('+/temp', 4)).toEqual([0, 1, 2, 3]);
    expect(shardsOfFilter('#', 3)).toEqual([0, 1, 2]);
    expect(shardOfTopic('anything', 1)).toBe(0);
    const spread = new Set(Array.from({ length: 100 }, (_, i) => shardOfTopic(`site${i}`, 4)));
    expect(spread.size).toBe(4);
    expect(sessionObjectOf('client-1', 1)).toBe(0);
    expect(sessionObjectOf('client-1', 5)).toBe(sessionObjectOf('client-1', 5));
  });
});

describe('Batcher', () => {
  it('sends one call per target while idle and batches what arrives during a call, in order', async () => {
    const calls: Array<[string, number[]]> = [];
    let release: () => void = () => undefined;
    const batcher = new Batcher<string, number, number>(async (target, items) => {
      calls.push([target, [...items]]);
      if (calls.length === 1) await new Promise<void>((r) => (release = r));
      return items.map((i) => i * 10);
    });
    const first = batcher.push('a', 1);
    await Promise.resolve();
    await Promise.resolve();
    const rest = [2, 3, 4].map((i) => batcher.push('a', i));
    const other = batcher.push('b', 9);
    release();
    expect(await Promise.all([first, ...rest, other])).toEqual([10, 20, 30, 40, 90]);
    expect(calls).toEqual([['a', [1]], ['b', [9]], ['a', [2, 3, 4]]]);
    expect(batcher.stats).toEqual({ calls: 3, items: 5 });
  });

  it('fails every item of a failed call, and carries on with the next', async () => {
    let fail = true;
    const batcher = new Batcher<string, number, number>(async (_t, items) => {
      if (fail) throw new Error('object reset');
      return items;
    });
    const failed = batcher.push('a', 1);
    await expect(failed).rejects.toThrow('object reset');
    fail = false;
    expect(await batcher.push('a', 2)).toBe(2);
  });

  it('splits a backlog into calls of at most maxBatch items', async () => {
    const sizes: number[] = [];
    const batcher = new Batcher<string, number, number>(async (_t, items) => (sizes.push(items.length), items), 3);
    await Promise.all(Array.from({ length: 7 }, (_, i) => batcher.push('a', i)));
    expect(sizes).toEqual([3, 3, 1]);
  });
});

describe('ShardHost', () => {
  function host(locations: Array<[string, Location]> = []) {
    const stored = new Map(locations);
    return new ShardHost({
      retained: new MemoryRetainedStore(), subscriptions: new MemorySessionStore(), clock: { now: () => 1000 },
      locations: { all: () => [...stored], set: (c, w) => void stored.set(c, w), delete: (c) => void stored.delete(c) },
      sessionObjectOf: (clientId) => (clientId.endsWith('2') ? 1 : 0),
    });
  }

  it('routes a batch into one list per gateway, and QoS 1/2 only to the session objects of sessions away', () => {
    const shard = host();
    shard.subscribe('a1', 0, [sub('t/#')], [false]);
    shard.subscribe('b1', 0, [sub('t/x', 0)], [false]);
    shard.subscribe('c1', 1, [sub('t/+')], [false]);
    shard.subscribe('d2', 'away', [sub('t/x')], [false]);
    const { reached, targets } = shard.publish([msg('t/x'), msg('t/y', 0)]);
    expect(reached).toEqual([4, 2]);
    expect([...targets.keys()].sort()).toEqual(['gateway:0', 'gateway:1', 'session:1']);
    expect(targets.get('gateway:0')!.map((r) => [r.message.topic, r.deliveries.map((d) => d.clientId)])).toEqual([['t/x', ['a1', 'b1']], ['t/y', ['a1']]]);
    expect(targets.get('session:1')!.map((r) => r.message.topic)).toEqual(['t/x']); // t/y is QoS 0
  });

  it('moves a client between gateways and away, and forgets it with its last subscription', () => {
    const shard = host();
    shard.subscribe('a1', 0, [sub('t/x'), sub('t/y')], [false, false]);
    shard.subscribe('a1', 2, [sub('t/x')], [false]);
    expect([...shard.publish([msg('t/x')]).targets.keys()]).toEqual(['gateway:2']);
    shard.unsubscribe('a1', ['t/x', 't/y']);
    expect(shard.publish([msg('t/x')]).reached).toEqual([0]);
    expect(shard.size).toBe(0);
  });

  it('keeps and answers retained messages, dropping expired ones', () => {
    const shard = host([['a1', 0]]);
    shard.publish([msg('r/1', 1, true), { ...msg('r/2', 1, true), expiresAt: 500 }]);
    expect(shard.subscribe('a1', 0, [sub('r/+'), sub('r/1')], [true, false]).map((ms) => ms?.map((m) => m.topic))).toEqual([['r/1'], []]);
    shard.publish([{ ...msg('r/1', 0, true), payload: new Uint8Array() }]);
    expect(shard.retained.count()).toBe(0);
  });

  it('starts from its stores: subscriptions and where their clients are', () => {
    const subscriptions = new MemorySessionStore();
    subscriptions.putSubscription('a1', sub('t/x'));
    const shard = new ShardHost({
      retained: new MemoryRetainedStore(), subscriptions, clock: { now: () => 0 }, sessionObjectOf: () => 0,
      locations: { all: () => [['a1', 'away']], set: () => undefined, delete: () => undefined },
    });
    expect([...shard.publish([msg('t/x')]).targets.keys()]).toEqual(['session:0']);
  });
});
