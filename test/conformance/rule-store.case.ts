// The rule store's contract, run on the memory reference (test/rules) and on SQLite inside
// workerd (test/edge/rule-store.test.ts): the shared outbox (a message once, with its rules'
// slots), each slot's head read in seq order within its bounds, releasing what no rule needs,
// dead letters, saved state, and the rules themselves.
import { describe, expect, it } from 'vitest';
import type { OutboxEntry, OutboxMessage, RuleStore } from '../../src/rules/store.ts';
import { emptyCounters } from '../../src/rules/store.ts';

type Run = (body: (store: RuleStore) => void) => Promise<void>;

const message = (seq: number, payload = `p${seq}`, extra: Partial<OutboxMessage> = {}): OutboxMessage => ({
  seq, topic: 't/x', payload: new TextEncoder().encode(payload), qos: 1, retain: false, receivedAt: 1000 + seq, ...extra,
});
const entry = (seq: number, attempts: number): OutboxEntry => ({ ...message(seq), attempts });
const texts = (entries: Array<{ payload: Uint8Array }>) => entries.map((e) => new TextDecoder().decode(e.payload));
const all = { count: 100, bytes: 1 << 20 };
const bit = (slot: number) => 2 ** slot;

export function runRuleStoreSuite(name: string, run: Run): void {
  describe(`rule store (${name})`, () => {
    it('keeps rules with their definition, flag and source', () => run((store) => {
      store.putRule({ name: 'a', definition: { topic: 'x', action: { kind: 'webhook' } }, enabled: true, source: 'file' });
      store.putRule({ name: 'a', definition: { topic: 'y', action: { kind: 'webhook' } }, enabled: false, source: 'api' });
      expect(store.rules()).toEqual([{ name: 'a', definition: { topic: 'y', action: { kind: 'webhook' } }, enabled: false, source: 'api' }]);
      store.deleteRule('a');
      expect(store.rules()).toEqual([]);
    }));

    it('reads a slot\'s head after its cursor in seq order within the count and bytes asked, at least one message', () => run((store) => {
      for (const s of [1, 2, 3, 4, 5]) store.append(message(s, 'x'.repeat(10)), s === 3 ? bit(1) : bit(0) + bit(1));
      expect(store.head(0, 0, { count: 3, bytes: 1000 }).map((e) => e.seq)).toEqual([1, 2, 4]);
      expect(store.head(0, 0, { count: 10, bytes: 25 }).map((e) => e.seq)).toEqual([1, 2]);
      expect(store.head(0, 0, { count: 10, bytes: 1 }).map((e) => e.seq)).toEqual([1]);
      expect(store.head(0, 2, all).map((e) => e.seq)).toEqual([4, 5]);
      expect(store.head(1, 2, all).map((e) => e.seq)).toEqual([3, 4, 5]);
      expect(store.head(2, 0, all)).toEqual([]);
      expect(store.lastSeq()).toBe(5);
    }));

    it('keeps every field of a message, once for all its rules', () => run((store) => {
      const m = message(7, 'body', { qos: 2, retain: true, clientId: 'c', username: 'u', contentType: 'application/json', userProperties: [['k', 'v'], ['k', 'w']] });
      store.append(m, bit(0) + bit(3));
      expect(store.head(0, 0, all)).toEqual([m]);
      expect(store.head(3, 0, all)).toEqual([m]);
    }));

    it('uses slots past 32 bits: up to slot 52', () => run((store) => {
      store.append(message(1), bit(52) + bit(31));
      store.append(message(2), bit(32));
      expect(store.head(52, 0, all).map((e) => e.seq)).toEqual([1]);
      expect(store.head(31, 0, all).map((e) => e.seq)).toEqual([1]);
      expect(store.head(32, 0, all).map((e) => e.seq)).toEqual([2]);
      store.release(0, 2, new Map([[52, 0], [32, 2]]));
      expect([store.head(52, 0, all).length, store.head(32, 0, all).length]).toEqual([1, 0]);
    }));

    it('counts what a slot holds after a seq', () => run((store) => {
      for (const s of [1, 2, 3]) store.append(message(s), bit(0));
      store.append(message(4), bit(1));
      expect(store.appendedAfter(0, 1)).toEqual({ count: 2, bytes: 2 * (2 + 3), oldest: 1002, lastSeq: 3 });
      expect(store.appendedAfter(0, 3)).toEqual({ count: 0, bytes: 0, oldest: undefined, lastSeq: 3 });
      expect(store.appendedAfter(1, 0)).toMatchObject({ count: 1, lastSeq: 4 });
    }));

    it('releases, in the range asked, the messages every rule they matched is past, and keeps the rest', () => run((store) => {
      // slot 0 matched 1..6, slot 1 matched the even ones, slot 2 (no rule any more) matched 5
      for (const s of [1, 2, 3, 4, 5, 6]) store.append(message(s), bit(0) + (s % 2 === 0 ? bit(1) : 0) + (s === 5 ? bit(2) : 0));
      store.release(0, 5, new Map([[0, 5], [1, 2]]));
      expect(store.head(0, 0, all).map((e) => e.seq)).toEqual([4, 6]); // 4 waits for slot 1; 6 is past the range
      expect(store.head(1, 0, all).map((e) => e.seq)).toEqual([4, 6]);
      store.release(2, 6, new Map([[0, 6], [1, 6]]));
      expect(store.head(0, 0, all)).toEqual([]);
      expect(store.lastSeq()).toBe(0);
    }));

    it('keeps a message the range covers while any rule it matched is behind it', () => run((store) => {
      store.append(message(1), bit(0) + bit(1));
      store.append(message(2), bit(1));
      store.release(0, 2, new Map([[0, 1], [1, 0]]));
      expect(store.head(1, 0, all).map((e) => e.seq)).toEqual([1, 2]);
      store.release(0, 1, new Map([[0, 1], [1, 1]]));
      expect(store.head(1, 0, all).map((e) => e.seq)).toEqual([2]);
    }));

    it('keeps dead letters per rule with their tries and error, pages and deletes them', () => run((store) => {
      store.bury('r', [entry(1, 2), entry(2, 2)], 'HTTP 500', 5000);
      store.bury('other', [entry(1, 1)], 'x', 1);
      const dead = store.deadLetters('r', 0, 10);
      expect(dead.map((d) => [d.seq, d.attempts, d.error, d.failedAt])).toEqual([[1, 2, 'HTTP 500', 5000], [2, 2, 'HTTP 500', 5000]]);
      expect(texts(dead)).toEqual(['p1', 'p2']);
      expect(store.deadLetters('r', 1, 10).map((d) => d.seq)).toEqual([2]);
      expect(store.deadLetters('r', 0, 1).map((d) => d.seq)).toEqual([1]);
      expect(store.deleteDeadLetters('r', [2]).map((d) => d.seq)).toEqual([2]);
      expect(store.deleteDeadLetters('r').map((d) => d.seq)).toEqual([1]);
      expect(store.deadLetters('r', 0, 10)).toEqual([]);
      expect(store.deadLetters('other', 0, 10).map((d) => d.seq)).toEqual([1]);
    }));

    it('saves and reads a rule\'s state with its cursor', () => run((store) => {
      const state = {
        counters: { ...emptyCounters(), matched: 5, lastSeq: 9 }, pending: { count: 2, bytes: 20, oldest: 77 }, dead: { count: 1, bytes: 3 },
        cursor: { slot: 4, done: 7, tries: [[8, 3], [9, 1]] as Array<[number, number]> },
      };
      store.saveState('r', state);
      store.saveState('r', { ...state, counters: { ...state.counters, delivered: 3 } });
      expect(store.states().get('r')).toEqual({ ...state, counters: { ...state.counters, delivered: 3 } });
    }));
  });
}
