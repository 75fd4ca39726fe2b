// Seeded random interleavings of the sharded topology (interleaving.ts): a sweep of seeds, and
// known failing seeds as short replays. SEEDS=<n> runs more seeds (npm run test:interleave),
// FIRST_SEED=<n> SEEDS=1 replays one (ACTIONS=<n> for a shorter run, TRACE=<n> for a longer trace).
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { defaultActions, Failure, Known, replay, run } from './interleaving.ts';
import { page } from '../../src/broker/session.ts';

/** Runs seeds; returns the first few failures, each with its replay line and last steps. */
async function sweep(seeds: number[], actions: number, maxFailures: number, strict = false): Promise<string[]> {
  const failures: string[] = [];
  const known: string[] = [];
  for (const seed of seeds) {
    vi.clearAllTimers(); // deadlines of an earlier seed's calls
    try {
      await run(seed, actions);
    } catch (err) {
      if (err instanceof Known && !strict) {
        known.push(err.message);
        continue;
      }
      if (!(err instanceof Failure || err instanceof Known)) throw new Error(`seed ${seed}: ${String(err)}\nreplay: ${replay(seed, actions)}`, { cause: err });
      failures.push(err.message);
      if (failures.length >= maxFailures) break;
    }
  }
  if (failures.length) console.error(failures[0]);
  if (process.env.ALL_KNOWN) console.log(known.join("\n")); // every known failure, one a line
  if (known.length) console.log(`${known.length} of ${seeds.length} seeds end in a known failure (STRICT=1 fails them), e.g. ${known[0]}`);
  return failures.map((f) => f.split('\n').slice(0, 2).join(' | '));
}


describe('sharded interleavings', () => {
  // the calls' deadlines run on the test's time, as the manual clock does
  beforeAll(() => void vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] }));
  afterAll(() => void vi.useRealTimers());
  const one = process.env.SEED;
  const first = Number(process.env.FIRST_SEED ?? 1);
  const count = one ? 1 : Number(process.env.SEEDS ?? 2000);
  const actions = Number(process.env.ACTIONS ?? defaultActions);
  const seeds = one ? [Number(one)] : Array.from({ length: count }, (_, i) => first + i);

  it(`hold the invariants for ${count} seeded interleaving${count === 1 ? '' : 's'}`, async () => {
    expect(await sweep(seeds, actions, Number(process.env.MAX_FAILURES ?? 3))).toEqual([]);
  }, 60_000 + count * 200);

  // a queue of more than 2 messages drains over several turns of its gateway (session.ts, pump),
  // each a step of its own among the calls: takeovers, hand-overs and restarts fall between them
  const small = one ? seeds : seeds.slice(0, 500);
  it(`hold the invariants for ${small.length} seeded interleaving${small.length === 1 ? '' : 's'} with drains in pages of 2 messages`, async () => {
    const messages = page.messages;
    page.messages = 2;
    try {
      expect(await sweep(small, actions, Number(process.env.MAX_FAILURES ?? 3))).toEqual([]);
    } finally {
      page.messages = messages;
    }
  }, 60_000 + small.length * 200);

  // Each failed on main at 125becc, a short replay of one way the sweep failed (report of the
  // sharded-harness branch); they hold since the fixes named.
  it.each([
    // c4 drops while its claim is in flight; c2's claim takes it over, and Gateway.takeOver, not
    // finding c4 open, did not wait for c4's claim to settle: c2 got session present 0 (fixed:
    // a takeover waits for the claim of the connection it ends, open or not)
    [31, 15, 'lost session'],
    // the same cause: two connections of x live at once [MQTT-3.1.4-3]
    [1858, 25, 'two live connections'],
    // p1:2 rides the shard's answer to gateway 2, whose arriving client (c2) closed; gateway 2
    // passes it to the session object, which queues it in its copy of the session lent to c2;
    // c2's hand-back then replaced that copy (adopt deletes first): an acknowledged QoS 2 message
    // lost (fixed: a session object keeps what comes for a lent session apart, and it rejoins)
    [355, 25, 'lost message'],
    // QoS 1 reordered for one publisher: p1:1, forwarded by the session object to the gateway of
    // an arriving claim that is then taken over, rejoins the session behind p1:2 and p1:3, which
    // the session object queued meanwhile (fixed: what was kept for an arriving client joins its
    // queue as its session is adopted, before any other event)
    [21, 45, 'order'],
    // p0:1 kept on gateway 1 for an arriving claim that the session object served after another
    // claim on gateway 0, which got p0:3..p0:9 first (fixed: a gateway keeps a message only for the
    // claim it is meant for, and a queue joined by another path is put in shard-stamp order)
    [22, 120, 'order'],
    // p0:1 passed back by gateway 1 reached the session object after p0:2..p0:5 were queued there
    // (fixed: a session object puts a message older than its queue's newest in stamp order)
    [528, 120, 'order'],
    // a hand-over whose answer missed its deadline was sent again and replaced the session the
    // session object had taken in, with p0:3 queued since (fixed: a repeated hand-over is ignored)
    [804, 120, 'lost message'],
    // found once repeated hand-overs were ignored: p0:1 queued into a session on gateway 0 whose
    // hand-over answer missed its deadline, while the session object had the session already
    // (fixed: such messages go to the session object)
    [1307, 120, 'lost message'],
  ])('seed %i with %i actions (%s)', async (seed, n) => {
    expect(await sweep([seed], n, 1, true)).toEqual([]); // a replay fails on a known failure too
  });
});
