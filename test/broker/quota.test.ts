// Per-namespace quotas on what clients can make the broker store: retained messages (count and
// payload bytes) and sessions that outlive their connection. A client over it is told 0x97 where it can be, and the refusal is counted.
import { describe, expect, it } from 'vitest';
import { adminPublish } from '../../src/broker/admin/publish.ts';
import { sessionObjectOf } from '../../src/broker/shard-key.ts';
import { World, connectPacket, sharded, text, type VirtualClient } from './harness.ts';

// sharded, a publisher is not told 0x97 (each shard keeps its part of the quota: below)
describe.skipIf(sharded)('retained message quota', () => {
  it('refuses a new retained message beyond maxRetainedMessages: PUBACK 0x97, nothing stored or routed, counted', async () => {
    const w = new World({ config: { maxRetainedMessages: 2 }, observe: true });
    const sub = await w.connect({ version: 5, clientId: 'sub' });
    await sub.subscribe('r/#');
    const c = await w.connect({ version: 5, clientId: 'pub' });
    await c.publish('r/1', 'a', { qos: 1, retain: true, packetId: 1 });
    await c.publish('r/2', 'b', { qos: 1, retain: true, packetId: 2 });
    await c.publish('r/3', 'c', { qos: 1, retain: true, packetId: 3 });
    expect(c.received.map((p) => p.type === 'puback' && (p.reasonCode ?? 0))).toEqual([0, 0, 0x97]);
    expect(sub.received.filter((p) => p.type === 'publish')).toHaveLength(2);
    expect(w.retained.count()).toBe(2);
    expect(w.observed!.metrics.counters.dropped['retained-quota']).toBe(1);
    // replacing or clearing one is always allowed, and clearing makes room
    c.received.length = 0;
    await c.publish('r/1', 'a2', { qos: 1, retain: true, packetId: 4 });
    await c.publish('r/2', '', { qos: 1, retain: true, packetId: 5 });
    await c.publish('r/3', 'c', { qos: 1, retain: true, packetId: 6 });
    expect(c.received.map((p) => p.type === 'puback' && (p.reasonCode ?? 0))).toEqual([0, 0, 0]);
    expect(w.retained.count()).toBe(2);
  });

  it('refuses a retained message that would pass maxRetainedBytes; 3.1.1 gets its PUBACK and the message is dropped', async () => {
    const w = new World({ config: { maxRetainedBytes: 10 } });
    const c = await w.connect({ version: 4, clientId: 'pub' });
    await c.publish('r/1', '12345678', { qos: 1, retain: true });
    await c.publish('r/2', '1234', { qos: 1, retain: true, packetId: 2 });
    expect(c.received.map((p) => p.type)).toEqual(['puback', 'puback']);
    expect(w.stores.retained.usage()).toEqual({ count: 1, bytes: 8 });
    expect(w.broker.stats.dropped['retained-quota']).toBe(1);
    await c.publish('r/1', '12', { qos: 1, retain: true, packetId: 3 }); // smaller replacement: room for r/2
    await c.publish('r/2', '1234', { qos: 1, retain: true, packetId: 4 });
    expect(w.stores.retained.usage()).toEqual({ count: 2, bytes: 6 });
  });

  it('keeps its totals across a restart, from the store, and holds the HTTP API and wills to it', async () => {
    const w = new World({ config: { maxRetainedMessages: 1 } });
    const c = await w.connect({ version: 5, clientId: 'pub' });
    await c.publish('r/1', 'a', { qos: 1, retain: true });
    w.restart();
    expect(() => adminPublish(w.broker, { topic: 'r/2', payload: text('b'), qos: 0, retain: true })).toThrow(/retained/);
    const will = await w.connect({ version: 5, clientId: 'dies', will: { topic: 'r/will', payload: text('x'), qos: 0, retain: true } });
    will.drop();
    expect(w.retained.count()).toBe(1);
    expect(w.broker.stats.dropped['retained-quota']).toBe(1);
  });
});

// sharded, each session object keeps its share of the quota: below
describe.skipIf(sharded)('persistent session quota', () => {
  const persistent = { sessionExpiryInterval: 60 };

  it('refuses a new persistent session beyond maxPersistentSessions: CONNACK 0x97 (3.1.1: return code 3); resuming one and clean ones pass', async () => {
    const w = new World({ config: { maxPersistentSessions: 2 }, observe: true });
    const a = await w.connect({ version: 5, clientId: 'a', properties: persistent });
    await w.connect({ version: 4, clientId: 'b', clean: false });
    for (const [version, code] of [[5, 0x97], [4, 3]] as const) {
      const c = w.client(version);
      await c.send(connectPacket({ version, clientId: `c${version}`, clean: version === 5, properties: version === 5 ? persistent : undefined }));
      expect(c.next('connack').reasonCode).toBe(code);
    }
    expect(w.observed!.metrics.counters.refused.QuotaExceeded).toBe(2);
    const clean = await w.connect({ version: 5, clientId: 'clean' }); // expiry 0: no quota
    // refused before a live connection of the client id is taken over: it stays
    const again = w.client(5);
    await again.send(connectPacket({ version: 5, clientId: 'clean', properties: persistent }));
    expect([again.next('connack').reasonCode, clean.closed]).toEqual([0x97, false]);
    a.drop();
    await w.connect({ version: 5, clientId: 'a', clean: false, properties: persistent }); // resumes its own
    const ended = await w.connect({ version: 5, clientId: 'b', clean: true }); // b's session ends: room again
    ended.drop();
    await w.connect({ version: 5, clientId: 'd', properties: persistent });
  });
});

describe('bytes a clean session holds', () => {
  it('drops a QoS 1 message that would take its queued and in-flight payload past maxQueuedBytes (queue-full), and takes more once acknowledged', async () => {
    const w = new World({ config: { maxQueuedBytes: 10 } });
    const sub = await w.connect({ version: 5, clientId: 'sub' });
    await sub.subscribe('t', 1);
    const pub = await w.connect({ version: 5, clientId: 'pub' });
    for (let i = 0; i < 3; i++) await pub.publish('t', '1234', { qos: 1, packetId: i + 1 });
    const got = sub.received.filter((p) => p.type === 'publish');
    expect(got).toHaveLength(2);
    expect(w.broker.stats.dropped['queue-full']).toBe(1);
    await sub.send({ type: 'puback', packetId: (got[0] as { packetId: number }).packetId });
    await pub.publish('t', '1234', { qos: 1, packetId: 9 });
    expect(sub.received.filter((p) => p.type === 'publish')).toHaveLength(3);
  });

  it('refuses at start a memory budget over a quarter of an isolate', () => {
    expect(() => new World({ config: { maxQueuedBytes: 64 * 1024 * 1024 } })).toThrow(/maxQueuedBytes 67108864 .*134217728 bytes/);
  });
});

// sharded: each topic shard keeps 1/shards of the retained quota (2 shards here); a message a shard
// will not retain is still routed, its publisher gets its PUBACK, and the refusal is counted at the gateway
describe.runIf(sharded)('retained message quota, sharded', () => {
  it('holds the namespace to maxRetainedMessages in total, each shard to its half', async () => {
    const w = new World({ config: { maxRetainedMessages: 4 } });
    const c = await w.connect({ version: 5, clientId: 'pub' });
    for (let i = 0; i < 20; i++) await c.publish(`r${i}/x`, 'x', { qos: 1, retain: true, packetId: i + 1 });
    await w.settle();
    const kept = w.sharded!.stores.shards.map((s) => s.retained.count());
    expect(kept).toEqual([2, 2]);
    expect(w.dropped('retained-quota')).toBe(16);
    expect(c.received.filter((p) => p.type === 'puback').length).toBe(20);
  });

  it('divides the bytes quota the same way', async () => {
    const w = new World({ config: { maxRetainedBytes: 10 } });
    const c = await w.connect({ version: 5, clientId: 'pub' });
    for (let i = 0; i < 20; i++) await c.publish(`r${i}/x`, '12345', { qos: 1, retain: true, packetId: i + 1 });
    await w.settle();
    expect(w.sharded!.stores.shards.map((s) => s.retained.usage().bytes)).toEqual([5, 5]);
  });
});

// sharded: each session object keeps ceil(max / session objects) places for the client ids that
// hash to it, counting the persistent sessions it holds (away or lent to a connection) and the
// new ones live on gateways; 2 session objects here, so maxPersistentSessions 4 is 2 places each
describe('persistent session quota, sharded', () => {
  const topology = { gateways: 2, shards: 2, sessions: 2 };
  const persistent = { sessionExpiryInterval: 60 };
  /** `n` client ids that hash to session object `object`. */
  const idsOf = (object: number, n: number, prefix = 'p'): string[] => {
    const ids: string[] = [];
    for (let i = 0; ids.length < n; i++) if (sessionObjectOf(`${prefix}${i}`, 2) === object) ids.push(`${prefix}${i}`);
    return ids;
  };
  const refusal = async (w: World, version: 4 | 5, clientId: string, gateway = 0): Promise<VirtualClient> => {
    const c = w.client(version, gateway);
    await c.send(connectPacket({ version, clientId, clean: version === 5, properties: version === 5 ? persistent : undefined }));
    return c;
  };

  it('refuses a new persistent session past its session object\'s share: CONNACK 0x97 (3.1.1: return code 3), counted, nothing left or claimed', async () => {
    const w = new World({ topology, config: { maxPersistentSessions: 4 }, observe: true });
    const [a, b, c, d] = idsOf(0, 4);
    await w.connect({ version: 5, clientId: a, properties: persistent });
    await w.connect({ version: 4, clientId: b, clean: false });
    // d is connected with a clean session on the other gateway: a refused CONNECT must not take it over
    const live = await w.connect({ version: 5, clientId: d, gateway: 1 });
    for (const [version, clientId, code] of [[5, c, 0x97], [4, d, 3]] as const) {
      const refused = await refusal(w, version, clientId);
      expect(refused.next('connack').reasonCode).toBe(code);
      expect(refused.closed).toBe(true);
    }
    expect(w.observed!.metrics.counters.refused.QuotaExceeded).toBe(2);
    expect(live.closed).toBe(false);
    await live.send({ type: 'pingreq' });
    expect(live.next('pingresp')).toBeDefined();
    const object = w.sharded!.stores.sessions[0];
    expect(object.attachments.get(c)).toBeUndefined();
    expect(object.attachments.get(d)?.connectionId).toBe(live.conn.id);
    expect(w.sessions.get(c)).toBeUndefined();
    // clean sessions take no place
    await w.connect({ version: 5, clientId: c });
    await w.connect({ version: 4, clientId: idsOf(0, 5)[4] });
  });

  it('an existing session reconnects at the quota: away, lent to a connection on another gateway, or new and live there', async () => {
    const w = new World({ topology, config: { maxPersistentSessions: 4 } });
    const [a, b] = idsOf(0, 2);
    const first = await w.connect({ version: 5, clientId: a, properties: persistent, gateway: 0 });
    await first.subscribe('t/a', 1);
    await first.drop(); // away at its session object
    const newOne = await w.connect({ version: 4, clientId: b, clean: false, gateway: 1 }); // new, live on gateway 1
    await expect(refusal(w, 5, idsOf(0, 3)[2]).then((c) => c.next('connack').reasonCode)).resolves.toBe(0x97);
    // a resumes on gateway 1, then is taken over by itself on gateway 0; b is taken over from gateway 1
    const back = await w.connect({ version: 5, clientId: a, clean: false, properties: persistent, gateway: 1 });
    expect(w.sharded!.gateways[1].gateway.byClientId.get(a)).toBe(back.conn);
    await w.connect({ version: 5, clientId: a, clean: false, properties: persistent, gateway: 0 });
    expect(back.closed).toBe(true);
    await w.connect({ version: 4, clientId: b, clean: false, gateway: 0 });
    expect(newOne.closed).toBe(true);
    expect(w.sessions.subscriptions(a).map((s) => s.topicFilter)).toEqual(['t/a']);
    // and still full
    await expect(refusal(w, 5, idsOf(0, 3)[2]).then((c) => c.next('connack').reasonCode)).resolves.toBe(0x97);
  });

  it('a session that ends frees its place: a clean start, a DISCONNECT with expiry 0, expiry; a restart keeps the count', async () => {
    const w = new World({ topology, config: { maxPersistentSessions: 4 } });
    const [a, b, c, d] = idsOf(0, 4);
    const connackOf = async (clientId: string) => (await refusal(w, 5, clientId)).next('connack').reasonCode;
    await w.connect({ version: 5, clientId: a, properties: persistent });
    const second = await w.connect({ version: 5, clientId: b, properties: persistent });
    expect(await connackOf(c)).toBe(0x97);
    // a clean start with expiry 0 ends a's session: its place is free once that connection ends
    const clean = await w.connect({ version: 5, clientId: a, clean: true, gateway: 1 });
    await clean.send({ type: 'disconnect', reasonCode: 0 });
    await w.settle();
    const third = await w.connect({ version: 5, clientId: c, properties: persistent });
    expect(await connackOf(d)).toBe(0x97);
    // b disconnects with Session Expiry 0: its session ends
    await second.send({ type: 'disconnect', reasonCode: 0, properties: { sessionExpiryInterval: 0 } });
    await w.settle();
    await w.connect({ version: 5, clientId: d, properties: { sessionExpiryInterval: 3600 } });
    expect(await connackOf(b)).toBe(0x97);
    // c's session expires a minute after it went away (d's, away since the restart, an hour after)
    await third.drop();
    await w.restart(); // the counts survive: still full
    expect(await connackOf(b)).toBe(0x97);
    await w.advance(61_000);
    await w.connect({ version: 5, clientId: b, properties: persistent });
    expect(await connackOf(c)).toBe(0x97);
  });

  it('clients spread across session objects: each object refuses past its share, the namespace holds at most the quota', async () => {
    const w = new World({ topology, config: { maxPersistentSessions: 4 } });
    const zero = idsOf(0, 3, 'z');
    const one = idsOf(1, 3, 'o');
    for (const id of [...zero.slice(0, 2), ...one.slice(0, 2)]) await w.connect({ version: 4, clientId: id, clean: false });
    for (const id of [zero[2], one[2]]) {
      const c = await refusal(w, 4, id, 1);
      expect(c.next('connack').reasonCode).toBe(3);
    }
    expect(w.sessions.list().filter((s) => s.expiryInterval > 0)).toHaveLength(4);
    // with 3 places each (5 shared by 2, rounded up), each takes one more
    const roomier = new World({ topology, config: { maxPersistentSessions: 5 } });
    for (const id of [...zero, ...one]) await roomier.connect({ version: 4, clientId: id, clean: false });
  });
  it('a claim waiting on a takeover holds the place it took: a new session claimed meanwhile is refused', async () => {
    const w = new World({ topology, manual: true, config: { maxPersistentSessions: 2 } }); // 1 place each
    const calls = w.sharded!.scheduler;
    const [x, y] = idsOf(0, 2);
    const clean = w.client(5, 1);
    void clean.send(connectPacket({ version: 5, clientId: x }));
    await calls.runUntil();
    expect(clean.next('connack').reasonCode).toBe(0);
    // x asks for a persistent session on gateway 0: its claim waits on the takeover of x on gateway 1
    const claiming = w.client(5, 0);
    const claimed = claiming.send(connectPacket({ version: 5, clientId: x, properties: persistent }));
    await calls.runUntil(`attach ${x}/`);
    expect(calls.labels().some((l) => l.includes('gateway1.takeover'))).toBe(true);
    const late = w.client(5, 0);
    const refused = late.send(connectPacket({ version: 5, clientId: y, properties: persistent }));
    const other = async () => {
      await new Promise((resolve) => setImmediate(resolve)); // the calls this CONNECT makes
      return calls.labels().find((l) => !l.includes('takeover'));
    };
    for (let label = await other(); label; label = await other()) await calls.deliver(label);
    await refused;
    expect(late.next('connack').reasonCode).toBe(0x97);
    await calls.runUntil();
    await claimed;
    expect(claiming.next('connack').reasonCode).toBe(0);
    expect(clean.closed).toBe(true);
  });
});
