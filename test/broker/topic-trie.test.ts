import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isSys, matches } from '../../src/broker/topic-match.ts';
import { TopicTrie } from '../../src/broker/topic-trie.ts';

const level = fc.constantFrom('a', 'b', 'c', '', '$SYS', 'x y');
const topic = fc.array(level, { minLength: 1, maxLength: 4 }).map((l) => l.join('/'));
const filter = fc
  .tuple(fc.array(fc.oneof(level, fc.constant('+')), { minLength: 1, maxLength: 4 }), fc.boolean())
  .map(([l, hash]) => (hash ? [...l, '#'] : l).join('/'));

describe('TopicTrie', () => {
  it('matches exactly what the plain definition matches, $-rule included [MQTT-4.7]', () => {
    fc.assert(
      fc.property(fc.array(filter, { maxLength: 12 }), topic, (filters, t) => {
        const trie = new TopicTrie<string>();
        filters.forEach((f, i) => trie.add(f, String(i), f));
        const expected = filters.filter((f) => matches(f, t)).sort();
        expect(trie.match(t).sort()).toEqual(expected);
      }),
      { numRuns: 2000 },
    );
  });

  it('forgets removed filters, prunes empty branches and counts what it holds', () => {
    fc.assert(
      fc.property(fc.uniqueArray(filter, { maxLength: 10 }), fc.array(topic, { maxLength: 5 }), (filters, topics) => {
        const trie = new TopicTrie<string>();
        filters.forEach((f) => trie.add(f, f, f));
        filters.forEach((f) => trie.add(f, f, f)); // replacing a value does not count it twice
        expect(trie.size).toBe(filters.length);
        const [gone, kept] = [filters.filter((_, i) => i % 2), filters.filter((_, i) => !(i % 2))];
        gone.forEach((f) => expect(trie.remove(f, f)).toBe(true));
        gone.forEach((f) => expect(trie.remove(f, f)).toBe(false));
        expect(trie.size).toBe(kept.length);
        for (const t of topics) expect(trie.match(t).sort()).toEqual(kept.filter((f) => matches(f, t)).sort());
        kept.forEach((f) => trie.remove(f, f));
        expect((trie as unknown as { root: { children: Map<string, unknown> } }).root.children.size).toBe(0);
      }),
      { numRuns: 500 },
    );
  });

  it('"#" matches the parent level and "+" matches an empty level [MQTT-4.7.1-2]', () => {
    expect(matches('a/#', 'a')).toBe(true);
    expect(matches('a/+', 'a/')).toBe(true);
    expect(matches('+', '/a')).toBe(false);
    expect(matches('+/+', '/a')).toBe(true);
    expect(matches('#', '$SYS/x')).toBe(false);
    expect(matches('$SYS/#', '$SYS/x')).toBe(true);
  });
});

describe('isSys', () => {
  it('is true for $SYS and what is under it, only', () => {
    expect(['$SYS', '$SYS/', '$SYS/broker/uptime', '$SYS//x', '$SYS/#'].map(isSys)).toEqual([true, true, true, true, true]);
    expect(['$SYSX', '$SYSX/a', 'a/$SYS', '', '$SY', '$sys/a', '#', '+/x'].map(isSys)).toEqual(Array(8).fill(false));
  });
});
