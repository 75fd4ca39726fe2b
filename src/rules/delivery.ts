// Delivering one batch from the head of a rule's outbox: the action's call under a deadline,
// then, in the same synchronous block, the rule's cursor moved and saved with its state and the
// messages no rule needs any more released (when delivered); a try counted, backoff set and spent
// messages buried when not.
import type { ActionContext, BatchLimits } from './action.ts';
import { drainBounds } from './limits.ts';
import { ruleMessage } from './message.ts';
import { backoffDelay } from './rule.ts';
import type { RuleState } from './rule-state.ts';
import { entrySize, type OutboxEntry, type RuleStore } from './store.ts';
import { attemptsAt, failedUpTo, pastSeq, spentUpTo } from './tries.ts';
import type { Clock } from '../broker/ports.ts';

/** What a delivery needs from its engine. */
export interface DeliveryParts {
  store: RuleStore;
  clock: Clock;
  env: Record<string, unknown>;
  context: Pick<ActionContext, 'publish' | 'fetch'>;
  log: (level: 'info' | 'warn' | 'error', message: string) => void;
  /** Whether the rule still is this state (not deleted or replaced meanwhile). */
  alive(s: RuleState): boolean;
  /** Saves the rule's state (its counters, usage and cursor). */
  save(s: RuleState): void;
  /** Deletes the messages in (from, to] that no rule needs any more. */
  release(from: number, to: number): void;
}

/** One batch; true when it was delivered. */
export async function deliverBatch(s: RuleState, d: DeliveryParts): Promise<boolean> {
  const rule = s.rule!;
  const cursor = s.cursor!;
  const own = rule.action.kind.limits(rule.action.config);
  const limits: BatchLimits = { count: Math.min(own.count, drainBounds.batchMessages), bytes: Math.min(own.bytes, drainBounds.batchBytes) };
  const head = d.store.head(cursor.slot, cursor.done, limits);
  const batch: OutboxEntry[] = head.map((m) => ({ ...m, attempts: attemptsAt(cursor.tries, m.seq) }));
  if (!batch.length) return void (s.pending = { count: 0, bytes: 0 }), false;
  const last = batch[batch.length - 1].seq;
  s.busy = true;
  let error: unknown;
  try {
    const context: ActionContext = { ...d.context, env: d.env, rule: rule.name };
    await deadline(rule.action.kind.deliver(rule.action.config, batch.map((e) => ruleMessage(e, rule)), context), drainBounds.deliverDeadlineMs);
  } catch (err) {
    error = err;
  } finally {
    s.busy = false;
  }
  if (!d.alive(s)) return false; // deleted meanwhile
  const now = d.clock.now();
  s.dirty = true;
  if (error === undefined) {
    s.counters.delivered += batch.length;
    s.nextAt = 0;
    advance(s, batch, d); // a restart counts from here
    return true;
  }
  s.counters.retried++;
  s.lastError = error instanceof Error ? error.message : String(error);
  s.lastErrorAt = now;
  cursor.tries = failedUpTo(cursor.tries, last, rule.tries);
  const attempts = attemptsAt(cursor.tries, batch[0].seq);
  s.nextAt = now + backoffDelay(rule.backoff, attempts);
  const spentTo = spentUpTo(cursor.tries, rule.tries) ?? 0;
  const spent = batch.filter((e) => e.seq <= spentTo).map((e) => ({ ...e, attempts: attemptsAt(cursor.tries, e.seq) }));
  if (!spent.length || !bury(s, spent, now, d)) d.save(s);
  d.log('warn', `rule "${rule.name}": ${batch.length} messages not delivered (try ${attempts} of ${rule.tries}): ${s.lastError}`);
  return false;
}

/**
 * Copies spent messages to the dead letters and moves past them; false when those are full: the
 * rule then stalls at its longest backoff.
 */
function bury(s: RuleState, spent: OutboxEntry[], now: number, d: DeliveryParts): boolean {
  const rule = s.rule!;
  const bytes = spent.reduce((n, e) => n + entrySize(e), 0);
  if (s.dead.count + spent.length > rule.outbox.messages || s.dead.bytes + bytes > rule.outbox.bytes) {
    s.nextAt = now + rule.backoff.maxMs;
    d.log('error', `rule "${rule.name}": its dead letters are full (${s.dead.count}); delivery stalls until some are deleted or replayed`);
    return false;
  }
  d.store.bury(rule.name, spent, s.lastError ?? 'failed', now);
  s.counters.deadLettered += spent.length;
  s.dead.count += spent.length;
  s.dead.bytes += bytes;
  s.nextAt = now; // the next batch has had no tries yet
  advance(s, spent, d);
  return true;
}

/** Moves the rule's cursor past `gone` (the head of its outbox), saves its state and releases what no rule needs. */
function advance(s: RuleState, gone: OutboxEntry[], d: DeliveryParts): void {
  const cursor = s.cursor!;
  const from = cursor.done;
  cursor.done = gone[gone.length - 1].seq;
  cursor.tries = pastSeq(cursor.tries, cursor.done);
  shrink(s, gone, d.store);
  d.save(s);
  d.release(from, cursor.done);
}

function shrink(s: RuleState, gone: OutboxEntry[], store: RuleStore): void {
  s.pending.count = Math.max(0, s.pending.count - gone.length);
  s.pending.bytes = Math.max(0, s.pending.bytes - gone.reduce((n, e) => n + entrySize(e), 0));
  const { slot, done } = s.cursor!;
  s.pending.oldest = s.pending.count ? store.head(slot, done, { count: 1, bytes: 0 })[0]?.receivedAt : undefined;
}

/** Rejects once `ms` passed; the call itself keeps its own timeout (a webhook's fetch aborts). */
function deadline<T>(work: Promise<T>, ms: number): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
  });
  return Promise.race([work, late]).finally(() => timer !== undefined && clearTimeout(timer));
}
