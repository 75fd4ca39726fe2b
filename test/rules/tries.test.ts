// A rule's failed tries as runs over its outbox head (src/rules/tries.ts).
import { describe, expect, it } from 'vitest';
import { attemptsAt, failedUpTo, pastSeq, spentUpTo } from '../../src/rules/tries.ts';

describe('tries runs', () => {
  it('counts one more try for every message up to the batch end, splitting a run the batch cuts', () => {
    let tries = failedUpTo([], 5, 5);
    expect(tries).toEqual([[5, 1]]);
    tries = failedUpTo(tries, 8, 5); // the batch grew: 6..8 tried once
    expect(tries).toEqual([[5, 2], [8, 1]]);
    tries = failedUpTo(tries, 6, 5); // a shorter batch cuts the run of 6..8
    expect(tries).toEqual([[5, 3], [6, 2], [8, 1]]);
    expect([4, 5, 6, 7, 8, 9].map((s) => attemptsAt(tries, s))).toEqual([3, 3, 2, 1, 1, 0]);
  });

  it('merges runs with the same count, and the spent ones, so there are at most `limit` runs', () => {
    let tries = failedUpTo([[5, 1]], 5, 3);
    expect(tries).toEqual([[5, 2]]);
    for (let end = 6; end < 20; end++) tries = failedUpTo(tries, end, 3);
    expect(tries.length).toBeLessThanOrEqual(3);
    expect(spentUpTo(tries, 3)).toBe(17); // 18 was in two batches, 19 in one
    expect([attemptsAt(tries, 18), attemptsAt(tries, 19)]).toEqual([2, 1]);
  });

  it('drops the runs the cursor passed and says what used up its tries', () => {
    const tries: Array<[number, number]> = [[5, 4], [7, 2], [9, 1]];
    expect(spentUpTo(tries, 3)).toBe(5);
    expect(spentUpTo(tries, 5)).toBeUndefined();
    expect(pastSeq(tries, 5)).toEqual([[7, 2], [9, 1]]);
    expect(pastSeq(tries, 8)).toEqual([[9, 1]]);
  });
});
