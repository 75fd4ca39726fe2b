// The sharded topology's pure parts: shard keys, the load-batching caller, and a topic shard's
// routing into one batch per gateway or session object.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { Batcher } from '../../src/broker/batcher.ts';
import { Deadlines } from '../../src/broker/deadlines.ts';
import { MemoryRetainedStore } from '../../src/broker/memory/memory-retained-store.ts';
import { MemorySessionStore } from '../../src/broker/memory/memory-session-store.ts';
import { ShardHost, type Location, type Target } from '../../src/broker/roles/shard-host.ts';
import { ShardEndpoint } from '../../src/broker/roles/endpoints.ts';
import { sessionObjectOf, shardOfTopic, shardsOfFilter } from '../../src/broker/shard-key.ts';
import type { Message } from '../../src/broker/index.ts';
import { encode } from '../../src/protocol/index.ts';
import { packMessages, unpackAnswers } from '../../src/broker/packed.ts';
import { World } from './harness.ts';

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

  it('answers items pushed together with one promise, split into calls by count and by bytes', async () => {
    const calls: number[][] = [];
    const batcher = new Batcher<string, number, number>(async (_t, items) => (calls.push([...items]), items.map((i) => -i)), { items: 4, bytes: 10, size: (i) => i });
    const all = batcher.pushAll('a', [1, 2, 3, 4, 5, 6]);
    const big = [batcher.push('a', 9), batcher.push('a', 9), batcher.push('a', 1)];
    expect(await all).toEqual([-1, -2, -3, -4, -5, -6]);
    expect(await Promise.all(big)).toEqual([-9, -9, -1]);
    // a push of more than 4 items is split; 9 + 9 bytes pass 10, so each 9 goes alone (one push at least)
    expect(calls).toEqual([[1, 2, 3, 4], [5, 6], [9], [9, 1]]);
  });

  it('posts items nobody waits for among pushed ones, in order and within the limits, and a failed call fails only the pushed', async () => {
    const calls: number[][] = [];
    const batcher = new Batcher<string, number, number>(async (_t, items) => {
      calls.push([...items]);
      if (items.includes(13)) throw new Error('object reset');
      return items;
    }, { items: 4, bytes: 100, size: (i) => i });
    for (const i of [1, 2]) batcher.post('a', i);
    const pushed = batcher.push('a', 3);
    for (const i of [4, 5, 6, 7, 8, 90, 9]) batcher.post('a', i);
    expect(await pushed).toBe(3);
    await batcher.settled();
    // posts join the post before them up to 4 items and 100 bytes: [1, 2] [3] [4, 5, 6, 7] [8, 90] [9]
    expect(calls).toEqual([[1, 2, 3], [4, 5, 6, 7], [8, 90], [9]]);
    batcher.post('a', 13);
    const failed = batcher.push('a', 1);
    await expect(failed).rejects.toThrow('object reset');
    expect(calls.at(-1)).toEqual([13, 1]);
  });

  it('settles once every item pushed before was answered or failed, without a call of its own', async () => {
    let release: () => void = () => undefined;
    let calls = 0;
    const batcher = new Batcher<string, number, number>(async (_t, items) => {
      if (++calls === 1) await new Promise<void>((r) => (release = r));
      if (items.includes(2)) throw new Error('object reset');
      return items;
    });
    const first = batcher.push('a', 1);
    await Promise.resolve();
    const second = batcher.push('a', 2).catch((err: unknown) => String(err));
    let settled = false;
    const done = batcher.settled().then(() => (settled = true));
    await new Promise((r) => setTimeout(r, 5));
    expect(settled).toBe(false);
    release();
    await done;
    expect([await first, await second]).toEqual([1, 'Error: object reset']);
    expect(calls).toBe(2);
    expect(await batcher.settled()).toEqual([]);
  });
});

describe('Deadlines', () => {
  afterEach(() => void vi.useRealTimers());

  it('runs each deadline once at least its time passed, an eighth of it late at most, on one timer while any is pending', () => {
    vi.useFakeTimers();
    const deadlines = new Deadlines(100);
    const fired: string[] = [];
    deadlines.add(800, () => fired.push('a'));
    vi.advanceTimersByTime(50);
    deadlines.add(800, () => fired.push('b'));
    deadlines.add(1600, () => fired.push('c'));
    const cancel = deadlines.add(1600, () => fired.push('d'));
    expect(vi.getTimerCount()).toBe(1);
    vi.advanceTimersByTime(749); // 799 ms
    expect(fired).toEqual([]);
    vi.advanceTimersByTime(101); // 900 ms: a (due 800 to 900) and b (850 to 950)
    expect(fired).toEqual(['a', 'b']);
    cancel();
    vi.advanceTimersByTime(749); // 1,649 ms
    expect(fired).toEqual(['a', 'b']);
    vi.advanceTimersByTime(51); // 1,700 ms: c (1,650 to 1,750); d was cancelled
    expect(fired).toEqual(['a', 'b', 'c']);
    expect([deadlines.size, vi.getTimerCount()]).toEqual([0, 0]);
    deadlines.add(100, () => fired.push('e'));
    vi.advanceTimersByTime(199);
    expect(fired).toEqual(['a', 'b', 'c']);
    vi.advanceTimersByTime(1);
    expect(fired).toEqual(['a', 'b', 'c', 'e']);
  });
});

describe('one WebSocket message of publishes, sharded', () => {
  it('carries one WebSocket message\'s publishes in one call, and sends what its answer brings in one WebSocket message per subscriber', async () => {
    const w = new World({ topology: { gateways: 2, shards: 2, sessions: 1 } });
    const subscriber = await w.connect({ clientId: 'sub', gateway: 0 });
    await subscriber.subscribe('t/x', 0);
    const publisher = await w.connect({ clientId: 'pub', gateway: 0 });
    const before = subscriber.frames.length;
    const publishes = [1, 2, 3, 4, 5].map((i) => encode({ type: 'publish', topic: 't/x', payload: text(`m${i}`), qos: 0, retain: false, dup: false }, 4));
    await publisher.sendBytes(Buffer.concat(publishes));
    expect(subscriber.received.map((p) => p.type === 'publish' && new TextDecoder().decode(p.payload))).toEqual(['m1', 'm2', 'm3', 'm4', 'm5']);
    expect(subscriber.frames.length - before).toBe(1);
    // and the five travelled to their shard in one call, not the first in a call of its own
    const calls = w.sharded!.scheduler.trace.filter((l) => l.includes('.publish t/x=m') && !l.endsWith('answered'));
    expect(calls).toEqual([expect.stringContaining('t/x=m1,t/x=m2,t/x=m3,t/x=m4,t/x=m5')]);
  });
});

describe('ShardEndpoint.publish', () => {
  function endpoint(backlogged: boolean) {
    const shard = new ShardHost({
      retained: new MemoryRetainedStore(), subscriptions: new MemorySessionStore(), clock: { now: () => 1000 },
      locations: { all: () => [], set: () => undefined, delete: () => undefined }, sessionObjectOf: () => 0,
    });
    shard.subscribe('far', 1, [sub('t/x')], [false]);
    shard.subscribe('near', 0, [sub('t/x', 0)], [false]);
    let arrive: () => void = () => undefined;
    const delivered = new Promise<void>((r) => (arrive = r));
    return { shard: new ShardEndpoint(shard, { route: () => delivered, backlogged: () => backlogged }), arrive };
  }
  const answered = async (p: Promise<unknown>) => Promise.race([p.then(() => true), new Promise((r) => setTimeout(() => r(false), 20))]);

  it('answers QoS 0 only once routed, before they arrived; QoS 1/2, or a backlog, once they arrived', async () => {
    const early = endpoint(false);
    const answer = early.shard.accept([msg('t/x', 0), msg('t/x', 0)], 0);
    expect(await answered(answer)).toBe(true);
    const [a, b] = unpackAnswers(await answer);
    expect(a).toMatchObject({ reached: 2, here: [{ clientId: 'near' }] });
    expect(b.here).toHaveLength(1);
    for (const [messages, backlogged] of [[[msg('t/x', 0), msg('t/x', 1)], false], [[msg('t/x', 0)], true]] as const) {
      const late = endpoint(backlogged);
      const waiting = late.shard.accept([...messages], 0);
      expect(await answered(waiting)).toBe(false);
      late.arrive();
      expect(await answered(waiting)).toBe(true);
    }
  });

  it('answers a call with its answers packed: the deliveries for the caller once, whatever the count', async () => {
    const { shard, arrive } = endpoint(false);
    arrive();
    const packed = await shard.publish(packMessages([msg('t/x', 0), msg('t/y', 0), msg('t/x', 0), msg('t/y', 0), msg('t/x', 1)]), 0);
    expect(packed.lists.map((l) => l.map((d) => d.clientId))).toEqual([['near']]);
    const answers = unpackAnswers(structuredClone(packed));
    expect(answers.map((a) => [a.reached, a.here.map((d) => d.clientId)])).toEqual([[2, ['near']], [0, []], [2, ['near']], [0, []], [2, ['near']]]);
    expect(answers[2].here).toBe(answers[0].here);
    expect(answers[3]).toBe(answers[1]); // an answer that only counts is one object per count
    expect([...packed.stamps].every((s, i) => s > (packed.stamps[i - 1] ?? 0))).toBe(true);
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

  it('lets messages of a batch that go to the same sessions the same way share their deliveries', () => {
    const shard = host([['a1', 0], ['b1', 0]]);
    shard.subscribe('a1', 0, [sub('t/#')], [false]);
    shard.subscribe('b1', 0, [sub('t/x', 0)], [false]);
    const { targets } = shard.publish([msg('t/x'), msg('t/x'), msg('t/y'), msg('t/y'), msg('t/x')]);
    const lists = targets.get('gateway:0')!.map((r) => r.deliveries);
    expect(lists.map((l) => l.map((d) => d.clientId))).toEqual([['a1', 'b1'], ['a1', 'b1'], ['a1'], ['a1'], ['a1', 'b1']]);
    expect(lists[1]).toBe(lists[0]);
    expect(lists[3]).toBe(lists[2]);
    expect(lists[2]).not.toBe(lists[0]);
    expect(lists[4]).toBe(lists[0]); // a topic's messages from one publisher take the way found for the first
  });

  it('routes each message of a batch by its own publisher, QoS and shared groups\' turns', () => {
    const shard = host();
    shard.subscribe('a1', 0, [sub('$share/g/t/x')], [false]);
    shard.subscribe('b1', 1, [sub('$share/g/t/x')], [false]);
    shard.subscribe('c1', 0, [{ ...sub('t/x'), noLocal: true }], [false]);
    shard.subscribe('d2', 'away', [sub('t/x')], [false]);
    const from = (publisher: string, qos: 0 | 1 = 1): Message => ({ ...msg('t/x', qos), publisher });
    const { reached, targets } = shard.publish([from('c1'), from('c1'), from('x'), from('x', 0), from('c1', 0), from('x')]);
    expect(reached).toEqual([2, 2, 3, 3, 2, 3]); // the group, d2 and c1, which gets nothing of its own [MQTT-3.8.3-3]
    const to = (target: Target) => targets.get(target)!.map((r) => `${r.message.publisher}${r.message.qos}:${r.deliveries.map((d) => d.clientId).join('+')}`);
    // the group takes turns message by message: b1, a1, b1, a1, b1, a1
    expect(to('gateway:0')).toEqual(['c11:a1', 'x1:c1', 'x0:c1+a1', 'x1:c1+a1']);
    expect(to('gateway:1')).toEqual(['c11:b1', 'x1:b1', 'c10:b1']);
    expect(to('session:1')).toEqual(['c11:d2', 'c11:d2', 'x1:d2', 'x1:d2']); // QoS 1 only to a session away
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
