// The rule engine of one object (the namespace's broker, or one topic shard): matches what that
// object accepts against each rule (filter, loop marker, condition) and writes a matched message
// once to the shared outbox, with the slots of the rules it matched, in the same event, before the
// publish is acknowledged; later, from the object's alarm, drains each rule's part of the outbox in
// batches through its action behind the rule's cursor, retrying with backoff and moving messages
// that used up their tries to the dead letters. Deliveries never run in a publish's event.
import { parseSharedFilter, ReasonCode } from '../protocol/index.ts';
import type { Clock, Message } from '../broker/ports.ts';
import { TopicTrie } from '../broker/topic-trie.ts';
import { platformLimits, storedRowBound } from '../broker/platform.ts';
import type { ActionContext, ActionKind, RuleMessage } from './action.ts';
import { test } from './condition.ts';
import { deliverBatch, type DeliveryParts } from './delivery.ts';
import { drainBounds, ruleBounds } from './limits.ts';
import { loopMarker, maxHops, ruleMessage, pathOf, jsonValue } from './message.ts';
import { parseRule, RuleConflict, RuleError, type Rule } from './rule.ts';
import { cursorsOf, freeSlot, holdFor, noSlot, restoreState, storedRules, viewOf, type RuleState, type RuleView } from './rule-state.ts';
import { emptyCounters, entrySize, type DeadLetter, type OutboxMessage, type StoredRule, type RuleStore } from './store.ts';

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
  /** The last seq given to a message in the outbox (the object's, shared by its rules). */
  private seq: number;

  /** What deliverBatch needs: the store, the clock, the actions' context, and this engine's save. */
  private readonly parts: DeliveryParts;

  constructor(options: EngineOptions, fileRules: Rule[]) {
    this.options = options;
    this.parts = {
      ...options, alive: (s) => this.states.get(s.stored.name) === s, save: (s) => this.save(s), release: (from, to) => this.release(from, to),
    };
    const saved = options.store.states();
    this.seq = Math.max(options.store.lastSeq(), ...[...saved.values()].flatMap((v) => [v.counters.lastSeq, v.cursor?.done ?? 0]));
    for (const entry of storedRules(options.store, fileRules, options.log)) this.states.set(entry.name, restoreState(options.store, entry, saved.get(entry.name)));
    for (const s of this.states.values()) {
      // a rule new to the store gets its slot saved before any message can carry it
      if (!s.cursor) this.placeNew(s);
      this.define(s);
    }
    this.reindex();
  }

  /** Gives a rule without one a slot, its cursor at the outbox's end, and saves it (none left: it stays without). */
  private placeNew(s: RuleState): void {
    const slot = freeSlot(this.states.values());
    if (slot === undefined) return;
    s.cursor = { slot, done: this.seq, tries: [] };
    s.dirty = true;
    this.save(s);
  }

  /** Deletes the messages with seq in (from, to] that no rule needs any more. */
  private release(from: number, to: number): void {
    if (to > from) this.options.store.release(from, to, cursorsOf(this.states.values()));
  }

  /** Parses a stored definition; one that no longer parses (a secret removed) is kept, inactive, with its problem. */
  private define(state: RuleState): void {
    try {
      if (!state.cursor) throw new RuleConflict(noSlot);
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
    if (this.trie.size === 0) return undefined; // no rule: nothing to match (it runs once per message)
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
    // a message that could not be one outbox row (its properties as JSON) counts as not fitting
    const fits = (message.payload.length < 64 * 1024 && !message.properties) || storedRowBound(message.topic, message.payload, message.properties) <= platformLimits.row.value;
    const full = matched.filter((s) => !fits || s.pending.count >= s.rule!.outbox.messages || s.pending.bytes + size > s.rule!.outbox.bytes);
    if (full.length && refusable && message.qos > 0) {
      for (const s of full) [s.counters.refused, s.dirty] = [s.counters.refused + 1, true];
      return ReasonCode.QuotaExceeded;
    }
    const recorded = matched.filter((s) => !full.includes(s));
    for (const s of matched) [s.counters.matched, s.counters.dropped, s.dirty] = [s.counters.matched + 1, s.counters.dropped + (recorded.includes(s) ? 0 : 1), true];
    if (recorded.length) this.record(message, from, recorded, size);
    return undefined;
  }

  /** One outbox row for every rule that recorded the message: the bits of their slots. */
  private record(message: Message, from: Publisher | undefined, recorded: RuleState[], size: number): void {
    const now = this.options.clock.now();
    const entry: OutboxMessage = {
      seq: ++this.seq, topic: message.topic, payload: message.payload, qos: message.qos, retain: message.retain,
      clientId: from?.clientId ?? message.publisher, username: from?.username, receivedAt: now,
      contentType: message.properties?.contentType, userProperties: message.properties?.userProperties?.map(([k, v]) => [k, v]),
    };
    this.options.store.append(entry, recorded.reduce((rules, s) => rules + 2 ** s.cursor!.slot, 0));
    for (const s of recorded) {
      s.counters.lastSeq = entry.seq;
      s.pending.count++;
      s.pending.bytes += size;
      s.pending.oldest ??= now;
    }
  }

  /** When the alarm should run for the engine (ms), if anything waits. */
  due(): number | undefined {
    const now = this.options.clock.now();
    let at: number | undefined;
    for (const s of this.states.values()) {
      let t: number | undefined = s.dirty ? now : undefined;
      if (s.rule?.enabled && s.pending.count > 0 && !s.busy) t = Math.min(t ?? Infinity, Math.max(s.nextAt, now + holdFor(s, now)));
      if (t !== undefined) at = Math.min(at ?? Infinity, t);
    }
    return at;
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
    const ready = [...this.states.values()].filter((s) => s.rule?.enabled && s.pending.count > 0 && !s.busy && s.nextAt <= now && holdFor(s, now) <= 0);
    let calls = drainBounds.callsPerDrain;
    let next = 0;
    const worker = async () => {
      while (next < ready.length) {
        const s = ready[next++];
        // !busy: a drain still running from an earlier alarm may hold this rule's head batch
        while (calls > 0 && s.pending.count > 0 && !s.busy && s.rule?.enabled && this.states.get(s.stored.name) === s) {
          calls--;
          if (!(await deliverBatch(s, this.parts))) break;
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(drainBounds.concurrency, ready.length) }, worker));
    for (const s of this.states.values()) this.save(s);
  }

  private save(s: RuleState): void {
    if (!s.dirty || this.states.get(s.stored.name) !== s) return;
    this.options.store.saveState(s.stored.name, { counters: s.counters, pending: s.pending, dead: s.dead, cursor: s.cursor });
    s.dirty = false;
  }

  // ---- administration (the HTTP API) ----

  /** Every rule with its counters, in name order. */
  list(): RuleView[] {
    return [...this.states.values()].sort((a, b) => a.stored.name.localeCompare(b.stored.name)).map((s) => viewOf(s, this.options.clock.now()));
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
    return s && viewOf(s, this.options.clock.now());
  }

  /** Adds or replaces an API rule; throws RuleError for a bad definition or a file rule. */
  put(definition: unknown): { created: boolean; rule: RuleView } {
    const rule = parseRule(definition, this.options.kinds, this.options.env);
    const existing = this.states.get(rule.name);
    if (existing?.stored.source === 'file') throw new RuleConflict(`rule "${rule.name}" is defined by MQTT_RULES_FILE: change the file (only enabling works here)`);
    if (!existing && this.states.size >= ruleBounds.maxRules) throw new RuleConflict(`a namespace holds at most ${ruleBounds.maxRules} rules`);
    const slot = existing?.cursor?.slot ?? freeSlot(this.states.values());
    if (slot === undefined) throw new RuleConflict(noSlot);
    const stored: StoredRule = { name: rule.name, definition: rule.definition, enabled: rule.enabled, source: 'api' };
    this.options.store.putRule(stored);
    const state: RuleState = existing ?? {
      stored, counters: emptyCounters(), pending: { count: 0, bytes: 0 }, dead: { count: 0, bytes: 0 }, nextAt: 0, busy: false, dirty: true,
    };
    state.stored = stored;
    state.rule = rule;
    state.problem = undefined;
    if (!state.cursor) [state.cursor, state.dirty] = [{ slot, done: this.seq, tries: [] }, true];
    this.states.set(rule.name, state);
    this.save(state);
    this.reindex();
    return { created: !existing, rule: viewOf(state, this.options.clock.now()) };
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
    const outbox = s.pending.count;
    const deadLetters = store.deleteDeadLetters(name).length;
    store.deleteRule(name);
    this.states.delete(name);
    if (s.cursor) this.release(s.cursor.done, this.seq); // its slot is free: what only it held goes
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
    if (replay && !s.cursor) throw new RuleConflict(`rule "${name}" is inactive: ${s.problem}`);
    const { store } = this.options;
    const gone = store.deleteDeadLetters(name, seqs);
    const bytes = gone.reduce((n, e) => n + entrySize(e), 0);
    s.dead = { count: Math.max(0, s.dead.count - gone.length), bytes: Math.max(0, s.dead.bytes - bytes) };
    if (replay) {
      const now = this.options.clock.now();
      for (const { attempts: _, failedAt: _at, error: _e, ...message } of gone) {
        s.counters.lastSeq = ++this.seq;
        store.append({ ...message, seq: this.seq }, 2 ** s.cursor!.slot);
      }
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

export { loopMarker, RuleConflict, RuleError };
export type { RuleMessage, RuleView };
