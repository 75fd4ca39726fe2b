// Every bound of the rule engine, with its default and why it keeps a namespace inside
// Cloudflare's limits (src/broker/platform.ts holds the limits and their pages).
import { platformLimits } from '../broker/platform.ts';

export const ruleBounds = {
  /** Rules per namespace (file and API together). */
  maxRules: 50,
  /** Default and most messages waiting in one rule's outbox; past it QoS 1/2 publishes get 0x97. */
  outboxMessages: 10_000,
  maxOutboxMessages: 100_000,
  /**
   * Default and most payload bytes in one rule's outbox. Outbox and dead letters of 50 rules at
   * the most (2 × 50 × 32 MiB = 3.2 GiB) plus the retained quota (at most half) fit the 10 GB an
   * object may store.
   */
  outboxBytes: 16 * 1024 * 1024,
  maxOutboxBytes: 32 * 1024 * 1024,
  /** Dead letters per rule are bounded like its outbox (same counts); when full, the rule stalls. */
  tries: 5,
  maxTries: 100,
  backoffInitialMs: 1_000,
  backoffMaxMs: 60_000,
  maxBackoffMs: 3_600_000,
  /** A condition's JSON (bytes) and nesting: evaluating it is bounded by its size and the payload's. */
  maxConditionBytes: 4096,
  maxConditionDepth: 16,
  /** Fields a projection may name. */
  maxProjectionFields: 64,
} as const;

export const drainBounds = {
  /** Payload bytes of one batch, whatever an action allows: a batch is held in memory (128 MB per isolate). */
  batchBytes: 4 * 1024 * 1024,
  /** Messages read for one batch. */
  batchMessages: 10_000,
  /** deliver() calls per alarm: each may be one subrequest, and an alarm is one invocation. */
  callsPerDrain: Math.floor(platformLimits.subrequests.value * 0.6),
  /** deliver() calls in flight at once (one per rule: a rule's batches go in order). */
  concurrency: 4,
  /** A deliver() call not settled by then counts as failed (ms); well under 30 s CPU per event. */
  deliverDeadlineMs: 15_000,
} as const;
