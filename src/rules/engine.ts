// The rule engine of one object (the namespace's broker, or one topic shard): matches what that
// object accepts against each rule (filter, loop marker, condition) and writes every match to the
// rule's outbox in the same event, before the publish is acknowledged; later, from the object's
// alarm, drains the outboxes in batches through the actions, retrying with backoff and moving
// messages that used up their tries to the dead letters. Deliveries never run in a publish's event.
import { parseSharedFilter } from '../protocol/index.ts';
import { ReasonCode } from '../protocol/index.ts';
import type { Clock, Message } from '../broker/ports.ts';
import { TopicTrie } from '../broker/topic-trie.ts';
import type { ActionContext, ActionKind, BatchLimits, RuleMessage } from './action.ts';
import { test } from './condition.ts';
import { drainBounds, ruleBounds } from './limits.ts';
import { loopMarker, maxHops, ruleMessage, pathOf, jsonValue } from './message.ts';
import { backoffDelay, parseRule, RuleConflict, RuleError, type Rule } from './rule.ts';
import { emptyCounters, entrySize, type DeadLetter, type OutboxEntry, type RuleCounters, type RuleStore, type SavedState, type StoredRule, type Usage } from './store.ts';

/** One rule's live state: its definition (undefined when it no longer parses), usage and counters. */
interface RuleState {
  stored: StoredRule;
  rule?: Rule;
  problem?: string;
  counters: RuleCounters;
  pending: Usage & { oldest?: number };
  dead: Usage;
  /** No try before this (ms): the backoff after a failed batch. */
  nextAt: number;
  busy: boolean;
  dirty: boolean;
  lastError?: string;
  lastErrorAt?: number;
}

export interface EngineOptions {
  store: RuleStore;
  kinds: ReadonlyMap<string, ActionKind>;
  env: Record<string, unknown>;
  clock: Clock;
  /** How the actions publish into the broker and call out. */
  context: Pick<ActionContext, 'publish' | 'fetch'>;
  log: (level: 'info' | 'warn' | 'error', message: string) => void;
}

/** Who published: the outbox records it for the sinks. */
export interface Publisher {
  clientId?: string;
  username?: string;
}

export class RuleEngine {
  private readonly states = new Map<string, RuleState>();
  private trie = new TopicTrie<RuleState>();
  private draining?: Promise<void>;
  private readonly options: EngineOptions;

  constructor(options: EngineOptions, fileRules: Rule[]) {
    this.options = options;
    const { store } = options;
    const saved = store.states();
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
      if (entry.source === 'file' && !inFile.has(entry.name)) {
        // gone from the file: kept as an API rule so what it holds is neither lost nor stuck
        entry.source = 'api';
        store.putRule(entry);
        options.log('warn', `rule "${entry.name}" is no longer in MQTT_RULES_FILE: kept as an API rule (delete it through /api/rules)`);
      }
      this.states.set(entry.name, this.restore(entry, saved.get(entry.name)));
      this.define(this.states.get(entry.name)!);
    }
    this.reindex();
  }

  /** A rule's state as last saved, plus what was appended to its outbox after that save. */
  private restore(stored: StoredRule, saved: SavedState | undefined): RuleState {
    const counters = { ...emptyCounters(), ...saved?.counters };
    const pending = { count: 0, bytes: 0, ...saved?.pending };
    const since = this.options.store.appendedAfter(stored.name, counters.lastSeq);
    if (since.count) {
      counters.matched += since.count;
      counters.lastSeq = since.lastSeq;
      pending.count += since.count;
      pending.bytes += since.bytes;
      pending.oldest ??= since.oldest;
    }
    return { stored, counters, pending, dead: { count: 0, bytes: 0, ...saved?.dead }, nextAt: 0, busy: false, dirty: false };
  }

  /** Parses a stored definition; one that no longer parses (a secret removed) is kept, inactive, with its problem. */
  private define(state: RuleState): void {
    try {
      state.rule = parseRule({ ...state.stored.definition, enabled: state.stored.enabled }, this.options.kinds, this.options.env);
      state.problem = undefined;
    } catch (err) {
      state.rule = undefined;
      state.problem = (err as Error).message;
      this.options.log('error', `rule "${state.stored.name}" is inactive: ${state.problem}`);
    }
  }

  private reindex(): void {
    this.trie = new TopicTrie<RuleState>();
    for (const s of this.states.values()) {
      if (!s.rule?.enabled) continue;
      this.trie.add(parseSharedFilter(s.rule.topic)?.filter ?? s.rule.topic, s.stored.name, s);
    }
  }

  get size(): number {
    return this.states.size;
  }

  /**
   * Records a message the object is accepting in the outbox of every enabled rule it matches.
   * When a matching outbox is full: `refusable` (a QoS 1/2 publish that can still be refused)
   * records nothing and returns 0x97 Quota exceeded; otherwise the match is dropped and counted.
   */
  accept(message: Message, from: Publisher | undefined, refusable: boolean): number | undefined {
    const candidates = this.trie.match(message.topic);
    if (!candidates.length) return undefined;
    const path = pathOf(message.properties?.userProperties);
    if (path.length >= maxHops) return undefined;
    let value: unknown;
    let parsed = false;
    const matched = candidates.filter((s) => {
      if (path.includes(s.stored.name)) return false; // republished by this rule: no loop
      if (!s.rule!.condition) return true;
      if (!parsed) [value, parsed] = [jsonValue(message.payload), true];
      return value !== undefined && test(s.rule!.condition, value);
    });
    if (!matched.length) return undefined;
    const size = entrySize(message);
    const full = matched.filter((s) => s.pending.count >= s.rule!.outbox.messages || s.pending.bytes + size > s.rule!.outbox.bytes);
    if (full.length && refusable && message.qos > 0) {
      for (const s of full) [s.counters.refused, s.dirty] = [s.counters.refused + 1, true];
      return ReasonCode.QuotaExceeded;
    }
    const now = this.options.clock.now();
    for (const s of matched) {
      s.counters.matched++;
      s.dirty = true;
      if (full.includes(s)) {
        s.counters.dropped++;
        continue;
      }
      const entry: OutboxEntry = {
        seq: ++s.counters.lastSeq, topic: message.topic, payload: message.payload, qos: message.qos, retain: message.retain,
        clientId: from?.clientId ?? message.publisher, username: from?.username, receivedAt: now,
        contentType: message.properties?.contentType, userProperties: message.properties?.userProperties?.map(([k, v]) => [k, v]),
        attempts: 0,
      };
      this.options.store.append(s.stored.name, entry);
      s.pending.count++;
      s.pending.bytes += size;
      s.pending.oldest ??= now;
    }
    return undefined;
  }

  /** When the alarm should run for the engine (ms), if anything waits. */
  due(): number | undefined {
    const now = this.options.clock.now();
    let at: number | undefined;
    for (const s of this.states.values()) {
      let t: number | undefined = s.dirty ? now : undefined;
      if (s.rule?.enabled && s.pending.count > 0 && !s.busy) t = Math.min(t ?? Infinity, Math.max(s.nextAt, now + this.hold(s, now)));
      if (t !== undefined) at = Math.min(at ?? Infinity, t);
    }
    return at;
  }

  private hold(s: RuleState, now: number): number {
    const { kind, config } = s.rule!.action;
    return kind.hold?.(config, s.pending.oldest ?? now, { count: s.pending.count, bytes: s.pending.bytes }, now) ?? 0;
  }

  /**
   * Delivers what is ready: at most `drainBounds.callsPerDrain` batches in all, `concurrency`
   * rules at once, each rule's batches in seq order. Counters are saved for every changed rule.
   */
  drain(): Promise<void> {
    // one drain at a time (an alarm may fire while the last one waits on its sinks): the bounds hold for the object
    this.draining ??= this.drainOnce().finally(() => (this.draining = undefined));
    return this.draining;
  }

  private async drainOnce(): Promise<void> {
    const now = this.options.clock.now();
    const ready = [...this.states.values()].filter((s) => s.rule?.enabled && s.pending.count > 0 && !s.busy && s.nextAt <= now && this.hold(s, now) <= 0);
    let calls = drainBounds.callsPerDrain;
    let next = 0;
    const worker = async () => {
      while (next < ready.length) {
        const s = ready[next++];
        // !busy: a drain still running from an earlier alarm may hold this rule's head batch
        while (calls > 0 && s.pending.count > 0 && !s.busy && s.rule?.enabled && this.states.get(s.stored.name) === s) {
          calls--;
          if (!(await this.deliverBatch(s))) break;
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(drainBounds.concurrency, ready.length) }, worker));
    for (const s of this.states.values()) this.save(s);
  }

  private save(s: RuleState): void {
    if (!s.dirty || this.states.get(s.stored.name) !== s) return;
    this.options.store.saveState(s.stored.name, { counters: s.counters, pending: s.pending, dead: s.dead });
    s.dirty = false;
  }

  /** One batch from the head of a rule's outbox; true when it was delivered. */
  private async deliverBatch(s: RuleState): Promise<boolean> {
    const rule = s.rule!;
    const { store, clock } = this.options;
    const own = rule.action.kind.limits(rule.action.config);
    const limits: BatchLimits = { count: Math.min(own.count, drainBounds.batchMessages), bytes: Math.min(own.bytes, drainBounds.batchBytes) };
    const batch = store.head(rule.name, limits);
    if (!batch.length) return void (s.pending = { count: 0, bytes: 0 }), false;
    const last = batch[batch.length - 1].seq;
    s.busy = true;
    let error: unknown;
    try {
      const context: ActionContext = { ...this.options.context, env: this.options.env, rule: rule.name };
      await deadline(rule.action.kind.deliver(rule.action.config, batch.map((e) => ruleMessage(e, rule)), context), drainBounds.deliverDeadlineMs);
    } catch (err) {
      error = err;
    } finally {
      s.busy = false;
    }
    if (this.states.get(rule.name) !== s) return false; // deleted meanwhile
    const now = clock.now();
    s.dirty = true;
    if (error === undefined) {
      store.remove(rule.name, last);
      s.counters.delivered += batch.length;
      this.shrink(s, batch);
      s.nextAt = 0;
      this.save(s); // with the removal, in the same event: a restart counts from here
      return true;
    }
    s.counters.retried++;
    s.lastError = error instanceof Error ? error.message : String(error);
    s.lastErrorAt = now;
    const spent = store.failed(rule.name, last, rule.tries);
    const attempts = batch[0].attempts + 1;
    s.nextAt = now + backoffDelay(rule.backoff, attempts);
    if (spent.length) this.bury(s, spent, now);
    this.save(s);
    this.options.log('warn', `rule "${rule.name}": ${batch.length} messages not delivered (try ${attempts} of ${rule.tries}): ${s.lastError}`);
    return false;
  }

  /** Moves spent messages to the dead letters, unless those are full: then the rule stalls at its longest backoff. */
  private bury(s: RuleState, spent: OutboxEntry[], now: number): void {
    const rule = s.rule!;
    const bytes = spent.reduce((n, e) => n + entrySize(e), 0);
    if (s.dead.count + spent.length > rule.outbox.messages || s.dead.bytes + bytes > rule.outbox.bytes) {
      s.nextAt = now + rule.backoff.maxMs;
      this.options.log('error', `rule "${rule.name}": its dead letters are full (${s.dead.count}); delivery stalls until some are deleted or replayed`);
      return;
    }
    this.options.store.bury(rule.name, spent, s.lastError ?? 'failed', now);
    s.counters.deadLettered += spent.length;
    s.dead.count += spent.length;
    s.dead.bytes += bytes;
    this.shrink(s, spent);
    s.nextAt = now; // the next batch has had no tries yet
  }

  private shrink(s: RuleState, gone: OutboxEntry[]): void {
    s.pending.count = Math.max(0, s.pending.count - gone.length);
    s.pending.bytes = Math.max(0, s.pending.bytes - gone.reduce((n, e) => n + entrySize(e), 0));
    s.pending.oldest = s.pending.count ? this.options.store.head(s.stored.name, { count: 1, bytes: 0 })[0]?.receivedAt : undefined;
  }

  // ---- administration (the HTTP API) ----

  /** Every rule with its counters, in name order. */
  list(): RuleView[] {
    return [...this.states.values()].sort((a, b) => a.stored.name.localeCompare(b.stored.name)).map((s) => this.view(s));
  }

  /** Per-rule figures for $SYS: `$SYS/broker/rules/<name>/<figure>`. */
  sysFigures(): Array<[topic: string, value: number]> {
    return this.list().flatMap((r) => {
      const c = r.counters;
      const figures: Array<[string, number]> = [
        ['matched', c.matched], ['delivered', c.delivered], ['retried', c.retried], ['dead-lettered', c.deadLettered],
        ['dropped', c.dropped], ['refused', c.refused], ['outbox', r.outbox.messages], ['lag-ms', r.lagMs],
      ];
      return figures.map(([name, value]) => [`$SYS/broker/rules/${r.name}/${name}`, value] as [string, number]);
    });
  }

  get(name: string): RuleView | undefined {
    const s = this.states.get(name);
    return s && this.view(s);
  }

  private view(s: RuleState): RuleView {
    const now = this.options.clock.now();
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

  /** Adds or replaces an API rule; throws RuleError for a bad definition or a file rule. */
  put(definition: unknown): { created: boolean; rule: RuleView } {
    const rule = parseRule(definition, this.options.kinds, this.options.env);
    const existing = this.states.get(rule.name);
    if (existing?.stored.source === 'file') throw new RuleConflict(`rule "${rule.name}" is defined by MQTT_RULES_FILE: change the file (only enabling works here)`);
    if (!existing && this.states.size >= ruleBounds.maxRules) throw new RuleConflict(`a namespace holds at most ${ruleBounds.maxRules} rules`);
    const stored: StoredRule = { name: rule.name, definition: rule.definition, enabled: rule.enabled, source: 'api' };
    this.options.store.putRule(stored);
    const state: RuleState = existing ?? {
      stored, counters: emptyCounters(), pending: { count: 0, bytes: 0 }, dead: { count: 0, bytes: 0 }, nextAt: 0, busy: false, dirty: true,
    };
    state.stored = stored;
    state.rule = rule;
    state.problem = undefined;
    this.states.set(rule.name, state);
    this.save(state);
    this.reindex();
    return { created: !existing, rule: this.view(state) };
  }

  /** Enables or disables a rule (a disabled rule neither matches nor delivers); false when unknown. */
  setEnabled(name: string, enabled: boolean): boolean {
    const s = this.states.get(name);
    if (!s) return false;
    s.stored = { ...s.stored, enabled };
    this.options.store.putRule(s.stored);
    this.define(s);
    if (enabled) s.nextAt = 0;
    this.reindex();
    return true;
  }

  /**
   * Deletes an API rule. One still holding undelivered messages or dead letters is deleted only
   * with `discard` (they go with it); returns what was discarded, or a RuleError.
   */
  delete(name: string, discard: boolean): { outbox: number; deadLetters: number } | undefined {
    const s = this.states.get(name);
    if (!s) return undefined;
    if (s.stored.source === 'file') throw new RuleConflict(`rule "${name}" is defined by MQTT_RULES_FILE: remove it from the file`);
    if (!discard && (s.pending.count || s.dead.count)) {
      throw new RuleConflict(`rule "${name}" holds ${s.pending.count} undelivered messages and ${s.dead.count} dead letters: delete with ?discard=true to drop them`);
    }
    const { store } = this.options;
    const outbox = store.clearOutbox(name);
    const deadLetters = store.deleteDeadLetters(name).length;
    store.deleteRule(name);
    this.states.delete(name);
    this.reindex();
    return { outbox, deadLetters };
  }

  /** A page of a rule's dead letters as its action would receive them, with their tries and last error. */
  deadLetters(name: string, afterSeq: number, limit: number): Array<RuleMessage & Pick<DeadLetter, 'attempts' | 'failedAt' | 'error'>> | undefined {
    const s = this.states.get(name);
    if (!s) return undefined;
    return this.options.store.deadLetters(name, afterSeq, limit).map((d) => ({
      ...(s.rule ? ruleMessage(d, s.rule) : { ...d, value: jsonValue(d.payload) }), attempts: d.attempts, failedAt: d.failedAt, error: d.error,
    }));
  }

  /** Deletes dead letters (all, or the given seqs); `replay` puts them back at the end of the outbox first. */
  dropDeadLetters(name: string, seqs: number[] | undefined, replay: boolean): number | undefined {
    const s = this.states.get(name);
    if (!s) return undefined;
    const { store } = this.options;
    const gone = store.deleteDeadLetters(name, seqs);
    const bytes = gone.reduce((n, e) => n + entrySize(e), 0);
    s.dead = { count: Math.max(0, s.dead.count - gone.length), bytes: Math.max(0, s.dead.bytes - bytes) };
    if (replay) {
      const now = this.options.clock.now();
      for (const e of gone) store.append(name, { ...e, seq: ++s.counters.lastSeq, attempts: 0 });
      s.pending.count += gone.length;
      s.pending.bytes += bytes;
      s.pending.oldest ??= gone.length ? now : undefined;
      s.nextAt = 0;
    }
    s.dirty = true;
    this.save(s);
    return gone.length;
  }
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

/** Rejects once `ms` passed; the call itself keeps its own timeout (a webhook's fetch aborts). */
function deadline<T>(work: Promise<T>, ms: number): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
  });
  return Promise.race([work, late]).finally(() => timer !== undefined && clearTimeout(timer));
}

export { loopMarker, RuleConflict, RuleError };
export type { RuleMessage };
