// One suite for every SessionStore/RetainedStore implementation (hono's common.case style):
// the memory reference runs it in Node, the SQLite stores inside workerd.
import { describe, expect, it } from 'vitest';
import type { Message, OutboundMessage, RetainedBudget, RetainedStore, SessionStore } from '../../src/broker/index.ts';

export interface Stores {
  sessions: SessionStore;
  retained: RetainedStore;
}

const bytes = (s: string) => new TextEncoder().encode(s);

const rich: Message = {
  topic: 'a/b', payload: bytes('payload'), qos: 2, retain: false, expiresAt: 1_700_000_123_000, publisher: 'pub',
  properties: {
    contentType: 'text/plain', correlationData: new Uint8Array([0, 1, 255]), responseTopic: 'reply/here',
    payloadFormatIndicator: 1, userProperties: [['k', 'v'], ['k', 'v2']],
  },
};

/** Runs a test body with fresh stores, wherever they must be used (inside a Durable Object for SQLite). */
export type WithStores = (body: (stores: Stores) => void) => Promise<void>;

export function runStoreSuite(name: string, withStores: WithStores): void {
  describe(`${name}: SessionStore`, () => {
    it('counts the sessions that outlive their connection', () => withStores(({ sessions }) => {
      sessions.put({ clientId: 'clean', expiryInterval: 0, connectionId: 'x' });
      sessions.put({ clientId: 'kept', expiryInterval: 60, connectionId: 'y' });
      sessions.put({ clientId: 'away', expiryInterval: 0xffffffff, disconnectedAt: 5 });
      expect(sessions.persistentCount()).toBe(2);
      // kept as sessions change: a resume with expiry 0, a clean one made persistent, a rewrite, an end
      sessions.put({ clientId: 'kept', expiryInterval: 0, connectionId: 'z' });
      sessions.put({ clientId: 'clean', expiryInterval: 30, connectionId: 'x' });
      sessions.put({ clientId: 'clean', expiryInterval: 40 });
      expect(sessions.persistentCount()).toBe(2);
      sessions.delete('away');
      sessions.delete('kept');
      expect(sessions.persistentCount()).toBe(1);
    }));

    it('puts, gets, lists and deletes session state', () => withStores(({ sessions }) => {
      expect(sessions.get('c')).toBeUndefined();
      sessions.put({ clientId: 'c', expiryInterval: 60, connectionId: 'x', owner: 'password:alice' });
      expect(sessions.get('c')).toEqual({ clientId: 'c', expiryInterval: 60, connectionId: 'x', owner: 'password:alice' });
      sessions.put({ clientId: 'c', expiryInterval: 60, connectionId: 'x' });
      sessions.put({ clientId: 'd', expiryInterval: 0xffffffff, disconnectedAt: 5, will: { topic: 'w', payload: bytes('bye'), qos: 1, retain: true, at: 9, properties: { willDelayInterval: 3 } } });
      expect(sessions.get('c')).toEqual({ clientId: 'c', expiryInterval: 60, connectionId: 'x' });
      expect(sessions.get('d')).toEqual({ clientId: 'd', expiryInterval: 0xffffffff, disconnectedAt: 5, will: { topic: 'w', payload: bytes('bye'), qos: 1, retain: true, at: 9, properties: { willDelayInterval: 3 } } });
      expect(sessions.list().map((s) => s.clientId).sort()).toEqual(['c', 'd']);
      sessions.put({ clientId: 'c', expiryInterval: 10 });
      expect(sessions.get('c')).toEqual({ clientId: 'c', expiryInterval: 10 });
      sessions.delete('c');
      expect(sessions.get('c')).toBeUndefined();
    }));

    it('returns copies: changing what it returned changes nothing stored', () => withStores(({ sessions }) => {
      sessions.put({ clientId: 'c', expiryInterval: 60 });
      sessions.get('c')!.expiryInterval = 1;
      expect(sessions.get('c')!.expiryInterval).toBe(60);
    }));

    it('stores subscriptions, replacing by topic filter [MQTT-3.8.4-3]', () => withStores(({ sessions }) => {
      sessions.putSubscription('c', { topicFilter: 'a/+', qos: 1 });
      sessions.putSubscription('c', { topicFilter: 'a/+', qos: 2, noLocal: true, retainAsPublished: true, retainHandling: 2, identifier: 7 });
      sessions.putSubscription('c', { topicFilter: '$share/g/b', qos: 0 });
      sessions.putSubscription('d', { topicFilter: '#', qos: 0 });
      expect(sessions.subscriptions('c').sort((a, b) => a.topicFilter.localeCompare(b.topicFilter))).toEqual([
        { topicFilter: '$share/g/b', qos: 0 },
        { topicFilter: 'a/+', qos: 2, noLocal: true, retainAsPublished: true, retainHandling: 2, identifier: 7 },
      ]);
      expect([...sessions.allSubscriptions()]).toHaveLength(3);
      expect(sessions.deleteSubscription('c', 'a/+')).toBe(true);
      expect(sessions.deleteSubscription('c', 'a/+')).toBe(false);
      expect(sessions.subscriptions('c')).toEqual([{ topicFilter: '$share/g/b', qos: 0 }]);
    }));

    it('keeps outbound messages in order with every field intact', () => withStores(({ sessions }) => {
      const a = sessions.enqueue('c', { message: rich, subscriptionIdentifiers: [1, 5], state: 'queued' });
      const b = sessions.enqueue('c', { message: { topic: 't', payload: new Uint8Array(), qos: 1, retain: true }, state: 'queued' });
      sessions.enqueue('other', { message: rich, state: 'queued' });
      expect(b).toBeGreaterThan(a);
      expect(sessions.outboundCount('c')).toBe(2);
      expect(sessions.outboundTotal()).toBe(3);
      const [first, second] = sessions.outbound('c');
      expect(first).toEqual({ seq: a, message: rich, subscriptionIdentifiers: [1, 5], state: 'queued' } satisfies OutboundMessage);
      expect(second).toEqual({ seq: b, message: { topic: 't', payload: new Uint8Array(), qos: 1, retain: true }, state: 'queued' });
      sessions.updateOutbound('c', [{ seq: a, packetId: 42, state: 'sent' }]);
      expect(sessions.outbound('c')[0]).toMatchObject({ packetId: 42, state: 'sent' });
      sessions.updateOutbound('c', [{ seq: a, packetId: 42, state: 'released' }]);
      expect(sessions.outbound('c')[0].state).toBe('released');
      expect(sessions.outboundEntries('c', [a])).toEqual([{ seq: a, message: rich, subscriptionIdentifiers: [1, 5], packetId: 42, state: 'released' }]);
      sessions.deleteOutbound('c', [a]);
      expect(sessions.outbound('c').map((e) => e.seq)).toEqual([b]);
      expect([sessions.outboundEntries('c', [a]), sessions.outboundEntries('other', [b])]).toEqual([[], []]);
      expect(sessions.outboundTotal()).toBe(2);
    }));

    it('moves one client\'s outbound messages to another, in place: seqs, fields and order kept', () => withStores(({ sessions }) => {
      const a = sessions.enqueue('from', { message: rich, subscriptionIdentifiers: [3], packetId: 9, state: 'sent' });
      const b = sessions.enqueue('to', { message: rich, state: 'queued' });
      const c = sessions.enqueue('from', { message: rich, state: 'queued' });
      expect(sessions.moveOutbound('from', 'to')).toBe(2);
      expect(sessions.outbound('to').map((e) => e.seq)).toEqual([a, b, c]);
      expect(sessions.outboundEntries('to', [a])[0]).toEqual({ seq: a, message: rich, subscriptionIdentifiers: [3], packetId: 9, state: 'sent' });
      expect([sessions.outboundCount('from'), sessions.moveOutbound('from', 'to'), sessions.outboundTotal()]).toEqual([0, 0, 3]);
    }));

    it('reads outbound messages a page at a time: those after a seq, as many as fit the bytes (one at least)', () => withStores(({ sessions }) => {
      const big = { topic: 'ab', payload: new Uint8Array(1000), qos: 1 as const, retain: false };
      const seqs = [0, 1, 2, 3].map(() => sessions.enqueue('c', { message: big, state: 'queued' }));
      const each = 1000 + 2 * 3 + 256; // outboundBytes
      expect(sessions.outboundPage('c', 0, 2 * each).outbound.map((e) => e.seq)).toEqual(seqs.slice(0, 2));
      expect(sessions.outboundPage('c', 0, 2 * each).more).toBe(true);
      expect(sessions.outboundPage('c', seqs[1], 10).outbound).toEqual([{ seq: seqs[2], message: big, state: 'queued' }]);
      expect(sessions.outboundPage('c', seqs[1], 10 * each)).toMatchObject({ more: false, outbound: [{ seq: seqs[2] }, { seq: seqs[3] }] });
      expect(sessions.outboundPage('none', 0, each)).toEqual({ outbound: [], more: false });
    }));

    it('counts a message\'s properties in a page\'s bytes: empty payloads with 128 KB of user properties fill a page as 128 KB payloads do', () => withStores(({ sessions }) => {
      const userProperties = [['k', 'v'.repeat(64_000)], ['l', 'w'.repeat(64_000)]] as Array<[string, string]>;
      const heavy = { topic: 'ab', payload: new Uint8Array(0), qos: 1 as const, retain: false, properties: { userProperties } };
      for (let i = 0; i < 10; i++) sessions.enqueue('c', { message: heavy, state: 'queued' });
      const page = sessions.outboundPage('c', 0, 512 * 1024);
      expect([page.outbound.length, page.more]).toEqual([4, true]); // before: all 10, as if they held nothing
    }));

    it('gives every session\'s times without its will\'s message, for a wake', () => withStores(({ sessions }) => {
      const will = { topic: 'w', payload: new Uint8Array(1000), qos: 1 as const, retain: false, at: 9_000 };
      sessions.put({ clientId: 'away', expiryInterval: 60, disconnectedAt: 5, will });
      sessions.put({ clientId: 'live', expiryInterval: 0, connectionId: 'k' });
      const times = [...sessions.times()].sort((a, b) => a.clientId.localeCompare(b.clientId));
      expect(times.map((t) => Object.fromEntries(Object.entries(t).filter(([, v]) => v !== undefined)))).toEqual([
        { clientId: 'away', expiryInterval: 60, disconnectedAt: 5, willAt: 9_000 },
        { clientId: 'live', expiryInterval: 0, connectionId: 'k' },
      ]);
    }));

    it('gives the places of outbound messages without their payloads', () => withStores(({ sessions }) => {
      const a = sessions.enqueue('c', { message: { ...rich, qos: 2 }, packetId: 7, state: 'sent' });
      const b = sessions.enqueue('c', { message: { topic: 't', payload: new Uint8Array(10), qos: 1, retain: false }, state: 'queued' });
      expect(sessions.outboundPlaces('c').map((p) => Object.fromEntries(Object.entries(p).filter(([, v]) => v !== undefined)))).toEqual([
        { seq: a, packetId: 7, state: 'sent', qos: 2, bytes: rich.payload.length },
        { seq: b, state: 'queued', qos: 1, bytes: 10 },
      ]);
      expect(sessions.outboundPlaces('none')).toEqual([]);
    }));

    it('gives the places with their stamps only when asked (SQLite: a JSON field read per row)', () => withStores(({ sessions }) => {
      const seq = sessions.enqueue('c', { message: { topic: 't', payload: new Uint8Array(3), qos: 1, retain: false, stamp: 123_456 }, state: 'queued' });
      expect(sessions.outboundPlaces('c')[0].stamp).toBeUndefined();
      expect(sessions.outboundPlaces('c', true)).toEqual([{ seq, state: 'queued', packetId: undefined, qos: 1, bytes: 3, stamp: 123_456 }]);
    }));

    it('writes, reads, updates and deletes many outbound messages at once, each to its own client', () => withStores(({ sessions }) => {
      // 25 rows: more than one INSERT of the SQLite store (11 rows each), and a last one part full
      const entries = Array.from({ length: 25 }, (_, i): Omit<OutboundMessage, 'seq'> => ({
        message: { ...rich, topic: `t/${i}`, payload: bytes('x'.repeat(i)) }, subscriptionIdentifiers: i % 2 ? [i] : undefined, state: 'queued',
      }));
      const seqs = sessions.enqueueAll('c', entries);
      sessions.enqueue('other', { message: rich, state: 'queued' });
      expect(seqs).toHaveLength(25);
      expect(seqs.every((seq, i) => i === 0 || seq > seqs[i - 1])).toBe(true);
      expect(sessions.enqueueAll('c', [])).toEqual([]);
      expect([sessions.outboundCount('c'), sessions.outboundTotal()]).toEqual([25, 26]);
      expect(sessions.outbound('c')).toEqual(entries.map((e, i) => (e.subscriptionIdentifiers ? { ...e, seq: seqs[i] } : { message: e.message, state: 'queued', seq: seqs[i] })));
      expect(sessions.outboundPlaces('c')).toEqual(seqs.map((seq, i) => ({ seq, state: 'queued', packetId: undefined, qos: 2, bytes: i })));

      // a page in seq order whatever the order asked; seqs of other clients and unknown ones are left out
      const other = sessions.outbound('other')[0].seq;
      const page = sessions.outboundEntries('c', [seqs[9], seqs[2], other, 999_999, seqs[24]]);
      expect(page.map((e) => e.message.topic)).toEqual(['t/2', 't/9', 't/24']);
      expect(sessions.outboundEntries('c', [])).toEqual([]);

      sessions.updateOutbound('c', [{ seq: seqs[0], packetId: 1, state: 'sent' }, { seq: seqs[1], packetId: 65535, state: 'released' }, { seq: other, packetId: 9, state: 'sent' }]);
      sessions.updateOutbound('c', []);
      expect(sessions.outboundPlaces('c').slice(0, 3)).toEqual([
        { seq: seqs[0], state: 'sent', packetId: 1, qos: 2, bytes: 0 }, { seq: seqs[1], state: 'released', packetId: 65535, qos: 2, bytes: 1 },
        { seq: seqs[2], state: 'queued', packetId: undefined, qos: 2, bytes: 2 },
      ]);
      expect(sessions.outbound('other')[0]).toMatchObject({ state: 'queued' }); // another client's seq is not touched

      sessions.deleteOutbound('c', [...seqs.slice(0, 20), other, 999_999]);
      sessions.deleteOutbound('c', []);
      expect(sessions.outbound('c').map((e) => e.seq)).toEqual(seqs.slice(20));
      expect([sessions.outboundCount('c'), sessions.outboundCount('other'), sessions.outboundTotal()]).toEqual([5, 1, 6]);
    }));

    it('counts sessions whose client is away as they connect, leave and go', () => withStores(({ sessions }) => {
      sessions.put({ clientId: 'c', expiryInterval: 60, connectionId: 'x' });
      sessions.put({ clientId: 'd', expiryInterval: 60 });
      expect(sessions.awayCount()).toBe(1);
      sessions.put({ clientId: 'c', expiryInterval: 60, disconnectedAt: 5 });
      sessions.put({ clientId: 'c', expiryInterval: 30, disconnectedAt: 6 });
      expect(sessions.awayCount()).toBe(2);
      sessions.put({ clientId: 'd', expiryInterval: 60, connectionId: 'y' });
      expect(sessions.awayCount()).toBe(1);
      sessions.delete('c');
      sessions.delete('d');
      sessions.delete('never');
      expect(sessions.awayCount()).toBe(0);
    }));

    it('keeps received QoS 2 packet ids per client [MQTT-4.3.3-9]', () => withStores(({ sessions }) => {
      sessions.addIncoming('c', 7);
      sessions.addIncoming('c', 7);
      expect(sessions.hasIncoming('c', 7)).toBe(true);
      expect(sessions.hasIncoming('d', 7)).toBe(false);
      sessions.addIncoming('c', 9);
      expect(sessions.incoming('c').sort()).toEqual([7, 9]);
      expect(sessions.incoming('d')).toEqual([]);
      sessions.deleteIncoming('c', 9);
      sessions.deleteIncoming('c', 7);
      expect(sessions.hasIncoming('c', 7)).toBe(false);
    }));

    it('keeps a QoS 2 packet id on its way under a message id apart from the received ones, until it is received', () => withStores(({ sessions }) => {
      const id = 2 ** 52 + 12345; // 53 bits, as Message.id
      sessions.addIncoming('c', 7, id);
      sessions.addIncoming('c', 8);
      expect([sessions.hasIncoming('c', 7), sessions.routingId('c', 7), sessions.incoming('c'), sessions.routing('c')])
        .toEqual([false, id, [8], [[7, id]]]);
      expect([sessions.routingId('c', 8), sessions.routingId('c', 9), sessions.routingId('d', 7)]).toEqual([undefined, undefined, undefined]);
      sessions.addIncoming('c', 7); // the shard answered: received
      expect([sessions.hasIncoming('c', 7), sessions.routingId('c', 7), sessions.incoming('c').sort(), sessions.routing('c')])
        .toEqual([true, undefined, [7, 8], []]);
    }));

    it('recognises a QoS 2 message id it noted, the last `window` per publisher, and merges ids brought along', () => withStores(({ sessions }) => {
      const bounds = { window: 3, publishers: 3 };
      expect([1, 2, 3, 4].map((id) => sessions.recognise('c', 'p', id, bounds, id))).toEqual([false, false, false, false]);
      expect([2, 3, 4].map((id) => sessions.recognise('c', 'p', id, bounds, 10))).toEqual([true, true, true]);
      expect(sessions.recognise('c', 'p', 1, bounds, 11)).toBe(false); // forgotten past the window: noted again
      expect(sessions.recognise('c', 'q', 2, bounds, 12)).toBe(false); // per publisher
      expect(sessions.recognise('d', 'p', 2, bounds, 13)).toBe(false); // per session
      const byPublisher = (c: string) => sessions.recognised(c).sort((a, b) => a.publisher.localeCompare(b.publisher));
      expect(byPublisher('c')).toEqual([{ publisher: 'p', ids: [3, 4, 1], at: 11 }, { publisher: 'q', ids: [2], at: 12 }]);
      sessions.addRecognised('c', [{ publisher: 'p', ids: [4, 9], at: 5 }, { publisher: 'r', ids: [5], at: 14 }], bounds);
      expect([sessions.recognise('c', 'p', 9, bounds, 15), sessions.recognise('c', 'p', 1, bounds, 15), sessions.recognise('c', 'p', 3, bounds, 15)])
        .toEqual([true, true, false]);
      expect(sessions.recognise('c', 'r', 5, bounds, 16)).toBe(true);
    }));

    it('keeps the publishers noted most recently, within the bound', () => withStores(({ sessions }) => {
      const bounds = { window: 2, publishers: 2 };
      sessions.recognise('c', 'a', 1, bounds, 1);
      sessions.recognise('c', 'b', 1, bounds, 2);
      sessions.recognise('c', 'a', 2, bounds, 3); // a is now the most recent
      sessions.recognise('c', 'z', 1, bounds, 4); // b goes
      expect(sessions.recognised('c').map((r) => r.publisher).sort()).toEqual(['a', 'z']);
      expect(sessions.recognise('c', 'b', 1, bounds, 5)).toBe(false); // forgotten
      sessions.addRecognised('c', [{ publisher: 'x', ids: [7], at: 100 }, { publisher: 'y', ids: [8], at: 0 }], bounds);
      expect(sessions.recognised('c').map((r) => r.publisher).sort()).toEqual(['b', 'x']);
    }));

    it('deletes a session with its subscriptions, messages and QoS 2 ids', () => withStores(({ sessions }) => {
      sessions.put({ clientId: 'c', expiryInterval: 60 });
      sessions.putSubscription('c', { topicFilter: 't', qos: 1 });
      sessions.enqueue('c', { message: rich, state: 'queued' });
      sessions.addIncoming('c', 1);
      sessions.addIncoming('c', 2, 99);
      sessions.recognise('c', 'p', 5, { window: 64, publishers: 1024 }, 1);
      sessions.delete('c');
      expect([sessions.get('c'), sessions.subscriptions('c'), sessions.outboundCount('c'), sessions.hasIncoming('c', 1), sessions.routing('c'), sessions.recognised('c')])
        .toEqual([undefined, [], 0, false, [], []]);
      expect(sessions.outboundTotal()).toBe(0);
    }));
  });

  describe(`${name}: RetainedStore`, () => {
    const retain = (topic: string, payload = topic): Message => ({ topic, payload: bytes(payload), qos: 1, retain: true });

    it('stores, replaces and deletes one message per topic [MQTT-3.3.1-5]', () => withStores(({ retained }) => {
      const { publisher: _, ...message } = { ...rich, retain: true };
      retained.set(message);
      expect(retained.get('a/b')).toEqual(message);
      retained.set(retain('a/b', 'second'));
      expect(new TextDecoder().decode(retained.get('a/b')!.payload)).toBe('second');
      expect(retained.count()).toBe(1);
      retained.delete('a/b');
      retained.delete('a/b');
      expect([retained.get('a/b'), retained.count()]).toEqual([undefined, 0]);
    }));

    it('matches filters with wildcards, the $-rule and parent levels [MQTT-4.7.1-2, MQTT-4.7.2-1]', () => withStores(({ retained }) => {
      for (const t of ['a', 'a/b', 'a/b/c', 'a/bc', 'ab', 'a0', 'a/', '/a', '$SYS/x', 'b/b']) retained.set(retain(t));
      const topics = (filter: string) => retained.match(filter).map((m) => m.topic).sort();
      expect(topics('a/b')).toEqual(['a/b']);
      expect(topics('a/#')).toEqual(['a', 'a/', 'a/b', 'a/b/c', 'a/bc']);
      expect(topics('a/+')).toEqual(['a/', 'a/b', 'a/bc']);
      expect(topics('+/b')).toEqual(['a/b', 'b/b']);
      expect(topics('#')).toEqual(['/a', 'a', 'a/', 'a/b', 'a/b/c', 'a/bc', 'a0', 'ab', 'b/b']);
      expect(topics('$SYS/#')).toEqual(['$SYS/x']);
      expect(topics('+/+')).toEqual(['/a', 'a/', 'a/b', 'a/bc', 'b/b']);
      expect(topics('nothing/#')).toEqual([]);
    }));

    it('tells the payload size of one topic and the usage of all, for the retained quota', () => withStores(({ retained }) => {
      expect([retained.size('a'), retained.usage()]).toEqual([undefined, { count: 0, bytes: 0 }]);
      retained.set({ ...retain('a'), payload: bytes('12345') });
      retained.set({ ...retain('b'), payload: bytes('12') });
      expect([retained.size('a'), retained.usage()]).toEqual([5, { count: 2, bytes: 7 }]);
    }));

    it('keeps a look-up to its budget: messages, payload bytes, stored messages examined; counts what it left out', () => withStores(({ retained }) => {
      for (let i = 0; i < 10; i++) retained.set({ ...retain(`b/${i}`), payload: bytes('1234') });
      retained.set(retain('c/x'));
      const budget = (over: Partial<RetainedBudget>): RetainedBudget => ({ messages: 100, bytes: 1000, rows: 100, skipped: 0, ...over });
      const few = budget({ messages: 3 });
      expect(retained.match('b/#', few)).toHaveLength(3);
      expect(few).toMatchObject({ messages: 0, skipped: 7 });
      const small = budget({ bytes: 10 });
      expect(retained.match('b/+', small)).toHaveLength(2);
      expect(small).toMatchObject({ bytes: 2, skipped: 8 });
      // a scan cut short by rows counts one: what else would have matched is not known
      const short = budget({ rows: 4 });
      expect(retained.match('+/1', short).length).toBeLessThanOrEqual(1);
      expect(short).toMatchObject({ rows: 0, skipped: 1 });
      const shared = budget({ messages: 4 });
      expect([retained.match('b/#', shared).length, retained.match('c/#', shared).length]).toEqual([4, 0]);
      expect(shared.skipped).toBe(7);
    }));
  });
}
