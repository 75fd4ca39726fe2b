// Where the rule engine keeps what must survive a restart: rules defined through the API, the
// outbox (each matched message stored once, with the rules it matched as a set of slots), each
// rule's dead letters and its saved state (counters, usage and its cursor in the outbox). The
// product is SQLite (src/edge/sqlite/rule-store.ts); memory-store.ts is the reference for tests.
// Synchronous, like the broker's stores: an outbox write lands in the event that accepts a publish.
import type { BatchLimits, RuleMessage } from './action.ts';

/** One matched message as the outbox keeps it: as an action receives it, before its projection. */
export type OutboxMessage = Omit<RuleMessage, 'value'>;

/** A message of one rule's outbox with that rule's failed tries of it so far. */
export interface OutboxEntry extends OutboxMessage {
  attempts: number;
}

export interface DeadLetter extends OutboxEntry {
  /** When it was given up (ms) and the last try's error. */
  failedAt: number;
  error: string;
}

/** A rule as stored: its definition (JSON) and where it came from. */
export interface StoredRule {
  name: string;
  definition: Record<string, unknown>;
  enabled: boolean;
  /** `file`: MQTT_RULES_FILE (read-only through the API but for enabling); `api`: the admin API. */
  source: 'file' | 'api';
}

export interface RuleCounters {
  matched: number;
  delivered: number;
  /** Failed tries (each one retried later or dead-lettered). */
  retried: number;
  deadLettered: number;
  /** Matches not recorded because the outbox was full (QoS 0, or a publish that could not be refused). */
  dropped: number;
  /** Publishes refused with 0x97 because the outbox was full. */
  refused: number;
  /** The seq of the last message recorded for this rule (seqs are the object's, shared by its rules). */
  lastSeq: number;
}

export interface Usage {
  count: number;
  bytes: number;
}

/**
 * A rule's place in the shared outbox: its slot (bit `2 ** slot` of a message's rule set), the seq
 * every message of it up to which was delivered or buried, and the failed tries of the messages
 * after that as runs `[upToSeq, attempts]` (attempts falling with seq: batches start at the head).
 */
export interface Cursor {
  slot: number;
  done: number;
  tries: Array<[upTo: number, attempts: number]>;
}

/** What is saved of a rule's state, in the same event as every move of its cursor. */
export interface SavedState {
  counters: RuleCounters;
  /** The outbox as of the save: messages recorded later (seq > counters.lastSeq) are counted at start. */
  pending: Usage & { oldest?: number };
  dead: Usage;
  cursor?: Cursor;
}

/** Slots a message's rule set may name: bits of an integer a double holds exactly. */
export const maxSlots = 53;

export interface RuleStore {
  rules(): StoredRule[];
  putRule(rule: StoredRule): void;
  /** Removes the rule's definition and saved state (its dead letters are the caller's). */
  deleteRule(name: string): void;

  /** Stores a message once for the rules whose slots are bits of `rules`. */
  append(message: OutboxMessage, rules: number): void;
  /** The slot's messages with seq above `after`, in seq order: at least one, then as many as fit `limits`. */
  head(slot: number, after: number, limits: BatchLimits): OutboxMessage[];
  /** The slot's messages with seq above `after`: a read of those rows only. */
  appendedAfter(slot: number, after: number): Usage & { oldest?: number; lastSeq: number };
  /**
   * Deletes the messages with seq in (from, to] that every rule they matched is past: `cursors`
   * maps a slot to its rule's `done`; a slot it lacks has no rule (past every message).
   */
  release(from: number, to: number, cursors: ReadonlyMap<number, number>): void;
  /** The highest seq the outbox holds (0 when empty). */
  lastSeq(): number;

  /** Copies entries to a rule's dead letters. */
  bury(rule: string, entries: OutboxEntry[], error: string, at: number): void;
  deadLetters(rule: string, afterSeq: number, limit: number): DeadLetter[];
  /** Deletes dead letters (all, or those seqs); returns the entries deleted. */
  deleteDeadLetters(rule: string, seqs?: number[]): DeadLetter[];

  states(): Map<string, SavedState>;
  saveState(rule: string, state: SavedState): void;
}

export const emptyCounters = (): RuleCounters => ({ matched: 0, delivered: 0, retried: 0, deadLettered: 0, dropped: 0, refused: 0, lastSeq: 0 });

/** Bytes a message counts for in the outbox bounds: payload and topic. */
export const entrySize = (e: { payload: Uint8Array; topic: string }): number => e.payload.length + e.topic.length;

/** Whether slot `slot` is a bit of the rule set `rules` (arithmetic: JS bit operators are 32-bit). */
export const hasSlot = (rules: number, slot: number): boolean => Math.floor(rules / 2 ** slot) % 2 === 1;
