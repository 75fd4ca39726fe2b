// Seeded random interleavings of the sharded topology (interleaving.ts): a sweep of seeds, and
// known failing seeds as short replays. SEEDS=<n> runs more seeds (npm run test:interleave),
// SEED=<n> replays one (ACTIONS=<n> for a shorter run, TRACE=<n> for a longer trace).
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { defaultActions, Failure, replay, run } from './interleaving.ts';

/** Runs seeds; returns the first few failures, each with its replay line and last steps. */
async function sweep(seeds: number[], actions: number, maxFailures: number): Promise<string[]> {
  const failures: string[] = [];
  for (const seed of seeds) {
    vi.clearAllTimers(); // deadlines of an earlier seed's calls
    try {
      await run(seed, actions);
    } catch (err) {
      if (!(err instanceof Failure)) throw new Error(`seed ${seed}: ${String(err)}\nreplay: ${replay(seed, actions)}`, { cause: err });
      failures.push(err.message);
      if (failures.length >= maxFailures) break;
    }
  }
  if (failures.length) console.error(failures[0]);
  return failures.map((f) => f.split('\n').slice(0, 2).join(' | '));
}

/**
 * FAILS on main at 125becc (the seeds below show each way), so `npm test` skips the sweep until
 * they pass; SEEDS=<n> or SEED=<n> runs it. Set to false once the known seeds pass.
 */
const knownToFail = true;

describe('sharded interleavings', () => {
  // the calls' deadlines run on the test's time, as the manual clock does
  beforeAll(() => void vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] }));
  afterAll(() => void vi.useRealTimers());
  const one = process.env.SEED;
  const first = Number(process.env.FIRST_SEED ?? 1);
  const count = one ? 1 : Number(process.env.SEEDS ?? 2000);
  const actions = Number(process.env.ACTIONS ?? defaultActions);
  const seeds = one ? [Number(one)] : Array.from({ length: count }, (_, i) => first + i);
  const asked = one !== undefined || process.env.SEEDS !== undefined;

  it.skipIf(knownToFail && !asked)(`hold the invariants for ${count} seeded interleaving${count === 1 ? '' : 's'}`, async () => {
    expect(await sweep(seeds, actions, Number(process.env.MAX_FAILURES ?? 3))).toEqual([]);
  }, 60_000 + count * 200);

  // FAILS on main at 125becc, each a short replay of one way the sweep fails (report of the
  // sharded-harness branch); unskip once it passes.
  it.skip.each([
    // c4 drops while its claim is in flight; c2's claim takes it over, and Gateway.takeOver, not
    // finding c4 open, does not wait for c4's claim to settle: c2 gets session present 0
    [31, 15, 'lost session'],
    // the same cause: two connections of x live at once [MQTT-3.1.4-3]
    [1858, 25, 'two live connections'],
    // p1:2 rides the shard's answer to gateway 2, whose arriving client (c2) closed; gateway 2
    // passes it to the session object, which queues it in its copy of the session lent to c2;
    // c2's hand-back then replaces that copy (adopt deletes first): an acknowledged QoS 2 message lost
    [355, 25, 'lost message'],
    // QoS 1 reordered for one publisher: p1:1, forwarded by the session object to the gateway of
    // an arriving claim that is then taken over, rejoins the session behind p1:2 and p1:3, which
    // the session object queued meanwhile (fails the same way with the takeover fixed)
    [21, 45, 'order'],
  ])('seed %i with %i actions (%s)', async (seed, n) => {
    expect(await sweep([seed], n, 1)).toEqual([]);
  });
});
