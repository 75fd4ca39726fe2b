// Where the rule engine keeps what must survive a restart: rules defined through the API, each
// rule's outbox (matched messages not yet delivered), its dead letters and its counters. The
// product is SQLite (src/edge/sqlite/rule-store.ts); memory-store.ts is the reference for tests.
// Synchronous, like the broker's stores: an outbox write lands in the event that accepts a publish.
import type { BatchLimits, RuleMessage } from './action.ts';

/** One matched message as the outbox keeps it: as an action receives it, before its projection. */
export interface OutboxEntry extends Omit<RuleMessage, 'value'> {
  /** Failed tries so far. */
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
  /** The highest outbox seq ever given, so seqs keep increasing across restarts. */
  lastSeq: number;
}

export interface Usage {
  count: number;
  bytes: number;
}

/** What is saved of a rule's state, in the same event as every outbox removal. */
export interface SavedState {
  counters: RuleCounters;
  /** The outbox as of the save: entries appended later (seq > counters.lastSeq) are counted at start. */
  pending: Usage & { oldest?: number };
  dead: Usage;
}

export interface RuleStore {
  rules(): StoredRule[];
  putRule(rule: StoredRule): void;
  /** Removes the rule's definition and saved state (its outbox and dead letters are the caller's). */
  deleteRule(name: string): void;

  append(rule: string, entry: OutboxEntry): void;
  /** The oldest entries, in seq order: at least one, then as many as fit `limits`. */
  head(rule: string, limits: BatchLimits): OutboxEntry[];
  /** Deletes the entries up to and including `lastSeq`. */
  remove(rule: string, lastSeq: number): void;
  /** Counts a failed try on the entries up to `lastSeq`; returns those that reached `tries`. */
  failed(rule: string, lastSeq: number, tries: number): OutboxEntry[];
  /** Moves entries from the outbox to the dead letters. */
  bury(rule: string, entries: OutboxEntry[], error: string, at: number): void;
  /** Entries with seq above `seq` (appended since the last save): a read of those rows only. */
  appendedAfter(rule: string, seq: number): Usage & { oldest?: number; lastSeq: number };
  /** Drops a rule's outbox (rule deleted); returns how many entries went. */
  clearOutbox(rule: string): number;

  deadLetters(rule: string, afterSeq: number, limit: number): DeadLetter[];
  /** Deletes dead letters (all, or those seqs); returns the entries deleted. */
  deleteDeadLetters(rule: string, seqs?: number[]): DeadLetter[];

  states(): Map<string, SavedState>;
  saveState(rule: string, state: SavedState): void;
}

export const emptyCounters = (): RuleCounters => ({ matched: 0, delivered: 0, retried: 0, deadLettered: 0, dropped: 0, refused: 0, lastSeq: 0 });

/** Bytes an entry counts for in the outbox bounds: payload and topic. */
export const entrySize = (e: { payload: Uint8Array; topic: string }): number => e.payload.length + e.topic.length;
