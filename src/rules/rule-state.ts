// A rule's live state in the engine: its definition, what its outbox and dead letters hold, its
// cursor, counters and backoff; how it is restored from the store at start and shown through the API.
import type { Rule } from './rule.ts';
import { emptyCounters, maxSlots, type Cursor, type RuleCounters, type RuleStore, type SavedState, type StoredRule, type Usage } from './store.ts';

/** One rule's live state: its definition (undefined when it no longer parses), usage and counters. */
export interface RuleState {
  stored: StoredRule;
  rule?: Rule;
  problem?: string;
  counters: RuleCounters;
  pending: Usage & { oldest?: number };
  dead: Usage;
  /** Its place in the shared outbox; undefined when no slot was left (the rule is then inactive). */
  cursor?: Cursor;
  /** No try before this (ms): the backoff after a failed batch. */
  nextAt: number;
  busy: boolean;
  dirty: boolean;
  lastError?: string;
  lastErrorAt?: number;
}

export interface RuleView {
  name: string;
  source: 'file' | 'api';
  enabled: boolean;
  topic: string;
  action: string;
  definition: Record<string, unknown>;
  /** Set when the stored definition no longer parses (the rule is inactive). */
  problem?: string;
  counters: RuleCounters;
  outbox: { messages: number; bytes: number };
  deadLetters: { messages: number; bytes: number };
  /** Age of the oldest undelivered message (ms): how far the sink is behind. */
  lagMs: number;
  nextTryAt?: number;
  lastError?: string;
  lastErrorAt?: number;
}

/** The stored rules with the file's upserted as `source: file`; a rule gone from the file is kept as an API rule. */
export function storedRules(store: RuleStore, fileRules: Rule[], log: (level: 'warn', message: string) => void): StoredRule[] {
  const stored = new Map(store.rules().map((r) => [r.name, r]));
  for (const rule of fileRules) {
    const before = stored.get(rule.name);
    const same = before?.source === 'file' && JSON.stringify(before.definition) === JSON.stringify(rule.definition);
    const entry: StoredRule = { name: rule.name, definition: rule.definition, enabled: same ? before.enabled : rule.enabled, source: 'file' };
    if (!same) store.putRule(entry);
    stored.set(rule.name, entry);
  }
  const inFile = new Set(fileRules.map((r) => r.name));
  for (const entry of stored.values()) {
    if (entry.source !== 'file' || inFile.has(entry.name)) continue;
    // gone from the file: kept as an API rule so what it holds is neither lost nor stuck
    entry.source = 'api';
    store.putRule(entry);
    log('warn', `rule "${entry.name}" is no longer in MQTT_RULES_FILE: kept as an API rule (delete it through /api/rules)`);
  }
  return [...stored.values()];
}

/** A rule's state as last saved, plus what was recorded for it after that save. */
export function restoreState(store: RuleStore, stored: StoredRule, saved: SavedState | undefined): RuleState {
  const counters = { ...emptyCounters(), ...saved?.counters };
  const pending = { count: 0, bytes: 0, ...saved?.pending };
  const cursor = saved?.cursor && { ...saved.cursor, tries: saved.cursor.tries.map(([u, a]) => [u, a] as [number, number]) };
  // after its cursor too: a slot had another rule before, whose messages it may still carry
  const since = cursor
    ? store.appendedAfter(cursor.slot, Math.max(counters.lastSeq, cursor.done))
    : { count: 0, bytes: 0, oldest: undefined, lastSeq: counters.lastSeq };
  if (since.count) {
    counters.matched += since.count;
    counters.lastSeq = since.lastSeq;
    pending.count += since.count;
    pending.bytes += since.bytes;
    pending.oldest ??= since.oldest;
  }
  return { stored, counters, pending, dead: { count: 0, bytes: 0, ...saved?.dead }, cursor, nextAt: 0, busy: false, dirty: false };
}

/** What the API and the stats show of a rule at `now`. */
export function viewOf(s: RuleState, now: number): RuleView {
  return {
    name: s.stored.name, source: s.stored.source, enabled: s.stored.enabled, topic: String(s.stored.definition.topic),
    action: String((s.stored.definition.action as { kind?: unknown } | undefined)?.kind), definition: s.stored.definition,
    ...(s.problem ? { problem: s.problem } : {}),
    counters: { ...s.counters }, outbox: { messages: s.pending.count, bytes: s.pending.bytes },
    deadLetters: { messages: s.dead.count, bytes: s.dead.bytes },
    lagMs: s.pending.oldest === undefined ? 0 : Math.max(0, now - s.pending.oldest),
    nextTryAt: s.nextAt > now ? s.nextAt : undefined, lastError: s.lastError, lastErrorAt: s.lastErrorAt,
  };
}

/** How long an action wants its outbox held before the next drain (ms; 0: now). */
export function holdFor(s: RuleState, now: number): number {
  const { kind, config } = s.rule!.action;
  return kind.hold?.(config, s.pending.oldest ?? now, { count: s.pending.count, bytes: s.pending.bytes }, now) ?? 0;
}

/** The lowest slot no rule holds (undefined: all taken). */
export function freeSlot(states: Iterable<RuleState>): number | undefined {
  const used = new Set([...states].flatMap((s) => (s.cursor ? [s.cursor.slot] : [])));
  return Array.from({ length: maxSlots }, (_, i) => i).find((i) => !used.has(i));
}

/** Each slot's cursor (`done`), for releasing what no rule needs. */
export function cursorsOf(states: Iterable<RuleState>): Map<number, number> {
  return new Map([...states].flatMap((s) => (s.cursor ? [[s.cursor.slot, s.cursor.done] as [number, number]] : [])));
}

export const noSlot = `no outbox slot is free: at most ${maxSlots} rules hold one (delete one, then restart the object)`;
