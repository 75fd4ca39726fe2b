// The rule store's contract, run on the memory reference (test/rules) and on SQLite inside
// workerd (test/edge/rule-store.test.ts): outbox order and bounds of a head read, failed tries,
// dead letters, saved state, and the rules themselves.
import { describe, expect, it } from 'vitest';
import type { OutboxEntry, RuleStore } from '../../src/rules/store.ts';
import { emptyCounters } from '../../src/rules/store.ts';

type Run = (body: (store: RuleStore) => void) => Promise<void>;

const entry = (seq: number, payload = `p${seq}`, extra: Partial<OutboxEntry> = {}): OutboxEntry => ({
  seq, topic: 't/x', payload: new TextEncoder().encode(payload), qos: 1, retain: false, receivedAt: 1000 + seq, attempts: 0, ...extra,
});
const texts = (entries: Array<{ payload: Uint8Array }>) => entries.map((e) => new TextDecoder().decode(e.payload));

export function runRuleStoreSuite(name: string, run: Run): void {
  describe(`rule store (${name})`, () => {
    it('keeps rules with their definition, flag and source', () => run((store) => {
      store.putRule({ name: 'a', definition: { topic: 'x', action: { kind: 'webhook' } }, enabled: true, source: 'file' });
      store.putRule({ name: 'a', definition: { topic: 'y', action: { kind: 'webhook' } }, enabled: false, source: 'api' });
      expect(store.rules()).toEqual([{ name: 'a', definition: { topic: 'y', action: { kind: 'webhook' } }, enabled: false, source: 'api' }]);
      store.deleteRule('a');
      expect(store.rules()).toEqual([]);
    }));

    it('reads the head in seq order within the count and bytes asked, at least one entry', () => run((store) => {
      for (const s of [1, 2, 3, 4]) store.append('r', entry(s, 'x'.repeat(10)));
      store.append('other', entry(1));
      expect(store.head('r', { count: 3, bytes: 1000 }).map((e) => e.seq)).toEqual([1, 2, 3]);
      expect(store.head('r', { count: 10, bytes: 25 }).map((e) => e.seq)).toEqual([1, 2]);
      expect(store.head('r', { count: 10, bytes: 1 }).map((e) => e.seq)).toEqual([1]);
    }));

    it('keeps every field of an entry', () => run((store) => {
      const e = entry(7, 'body', { qos: 2, retain: true, clientId: 'c', username: 'u', contentType: 'application/json', userProperties: [['k', 'v'], ['k', 'w']] });
      store.append('r', e);
      expect(store.head('r', { count: 1, bytes: 100 })).toEqual([e]);
    }));

    it('removes delivered entries and counts what was appended since a seq', () => run((store) => {
      for (const s of [1, 2, 3]) store.append('r', entry(s));
      store.remove('r', 2);
      expect(texts(store.head('r', { count: 10, bytes: 1000 }))).toEqual(['p3']);
      expect(store.appendedAfter('r', 2)).toEqual({ count: 1, bytes: 2 + 3, oldest: 1003, lastSeq: 3 });
      expect(store.appendedAfter('r', 3)).toEqual({ count: 0, bytes: 0, oldest: undefined, lastSeq: 3 });
    }));

    it('counts failed tries and moves spent entries to the dead letters', () => run((store) => {
      for (const s of [1, 2, 3]) store.append('r', entry(s));
      expect(store.failed('r', 2, 2)).toEqual([]);
      const spent = store.failed('r', 2, 2);
      expect(spent.map((e) => [e.seq, e.attempts])).toEqual([[1, 2], [2, 2]]);
      store.bury('r', spent, 'HTTP 500', 5000);
      expect(store.head('r', { count: 10, bytes: 1000 }).map((e) => [e.seq, e.attempts])).toEqual([[3, 0]]);
      const dead = store.deadLetters('r', 0, 10);
      expect(dead.map((d) => [d.seq, d.attempts, d.error, d.failedAt])).toEqual([[1, 2, 'HTTP 500', 5000], [2, 2, 'HTTP 500', 5000]]);
      expect(store.deadLetters('r', 1, 10).map((d) => d.seq)).toEqual([2]);
      expect(store.deleteDeadLetters('r', [2]).map((d) => d.seq)).toEqual([2]);
      expect(store.deleteDeadLetters('r').map((d) => d.seq)).toEqual([1]);
      expect(store.deadLetters('r', 0, 10)).toEqual([]);
      expect(store.clearOutbox('r')).toBe(1);
    }));

    it('saves and reads a rule\'s state', () => run((store) => {
      const state = { counters: { ...emptyCounters(), matched: 5, lastSeq: 9 }, pending: { count: 2, bytes: 20, oldest: 77 }, dead: { count: 1, bytes: 3 } };
      store.saveState('r', state);
      store.saveState('r', { ...state, counters: { ...state.counters, delivered: 3 } });
      expect(store.states().get('r')).toEqual({ ...state, counters: { ...state.counters, delivered: 3 } });
    }));
  });
}
