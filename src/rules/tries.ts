// A rule's failed tries of the messages at the head of its outbox, kept in its saved state rather
// than on each message: runs `[upToSeq, attempts]`, seq rising and attempts falling (a batch always
// starts at the head, so a message was tried at least as often as any after it). A run covers the
// seqs above the previous run's `upTo`; messages past the last run have no failed try.
import type { Cursor } from './store.ts';

export type Tries = Cursor['tries'];

/** Failed tries of the message `seq`. */
export function attemptsAt(tries: Tries, seq: number): number {
  return tries.find(([upTo]) => seq <= upTo)?.[1] ?? 0;
}

/** The runs once a batch ending at `last` failed: one more try for each message up to it. */
export function failedUpTo(tries: Tries, last: number, limit: number): Tries {
  const out: Tries = [];
  for (const [upTo, attempts] of tries) {
    if (upTo <= last) out.push([upTo, attempts + 1]);
    else {
      if (!out.length || out[out.length - 1][0] < last) out.push([last, attempts + 1]); // the run split at the batch's end
      out.push([upTo, attempts]);
    }
  }
  if (!out.length || out[out.length - 1][0] < last) out.push([last, 1]);
  return merged(out, limit);
}

/** Runs with the same count become one, and so do those at `limit` or more (spent alike): at most `limit` runs. */
function merged(tries: Tries, limit: number): Tries {
  const out: Tries = [];
  for (const [upTo, attempts] of tries) {
    const prev = out[out.length - 1];
    if (prev && (prev[1] === attempts || (prev[1] >= limit && attempts >= limit))) out[out.length - 1] = [upTo, Math.max(prev[1], attempts)];
    else out.push([upTo, attempts]);
  }
  return out;
}

/** The runs once the cursor passed `done`. */
export function pastSeq(tries: Tries, done: number): Tries {
  return tries.filter(([upTo]) => upTo > done);
}

/** The last seq whose message used up `limit` tries (undefined: none). */
export function spentUpTo(tries: Tries, limit: number): number | undefined {
  let at: number | undefined;
  for (const [upTo, attempts] of tries) if (attempts >= limit) at = upTo;
  return at;
}
