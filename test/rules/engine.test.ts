// The engine on the memory store and a manual clock: matching, the outbox bounds, retries with
// backoff, dead letters, replay, loop protection and a restart from the store.
import { describe, expect, it } from 'vitest';
import { ReasonCode } from '../../src/protocol/index.ts';
import type { ActionKind, RuleMessage } from '../../src/rules/action.ts';
import { RuleEngine } from '../../src/rules/engine.ts';
import { MemoryRuleStore } from '../../src/rules/memory-store.ts';
import { loopMarker, markedBy } from '../../src/rules/message.ts';
import { parseRule } from '../../src/rules/rule.ts';
import type { Message } from '../../src/broker/ports.ts';

/** A sink that records batches and fails while `failing` is set. */
function sink() {
  const batches: RuleMessage[][] = [];
  const state = { failing: false, batches };
  const kind: ActionKind<{ count: number; bytes: number }> = {
    kind: 'test',
    parse: (c) => ({ count: typeof c.count === 'number' ? c.count : 10, bytes: typeof c.bytes === 'number' ? c.bytes : 1 << 20 }),
    limits: (c) => ({ count: c.count, bytes: c.bytes }),
    async deliver(_c, batch) {
      if (state.failing) throw new Error('sink down');
      batches.push(batch);
    },
  };
  return { state, kinds: new Map([['test', kind as ActionKind]]) };
}

function setup(defs: Record<string, unknown>[], store = new MemoryRuleStore(), s = sink()) {
  const clock = { t: 1_000_000, now() { return this.t; } };
  const logs: string[] = [];
  const rules = defs.map((d) => parseRule({ action: { kind: 'test' }, ...d }, s.kinds, {}));
  const make = () => new RuleEngine({ store, kinds: s.kinds, env: {}, clock, context: { publish: async () => {}, fetch }, log: (_l, m) => logs.push(m) }, rules);
  return { engine: make(), make, store, clock, sink: s.state, logs };
}

const utf8 = new TextEncoder();
const msg = (topic: string, payload: unknown, qos: 0 | 1 | 2 = 1, extra: Partial<Message> = {}): Message =>
  ({ topic, payload: utf8.encode(typeof payload === 'string' ? payload : JSON.stringify(payload)), qos, retain: false, ...extra });
const payloads = (batches: RuleMessage[][]) => batches.flat().map((m) => new TextDecoder().decode(m.payload));

describe('rule engine', () => {
  it('records each matching message once per rule, shared filters included, then delivers in order', async () => {
    const { engine, sink } = setup([{ name: 'a', topic: 's/#' }, { name: 'b', topic: '$share/g/s/+' }, { name: 'c', topic: 'other' }]);
    for (let i = 0; i < 5; i++) engine.accept(msg('s/1', i), { clientId: 'c1' }, true);
    engine.accept(msg('s/1/deep', 'x'), undefined, true);
    await engine.drain();
    const byRule = engine.list().map((r) => [r.name, r.counters.matched, r.counters.delivered]);
    expect(byRule).toEqual([['a', 6, 6], ['b', 5, 5], ['c', 0, 0]]);
    expect(payloads(sink.batches.filter((b) => b.length === 6))).toEqual(['0', '1', '2', '3', '4', 'x']);
    expect(sink.batches.flat().every((m, i, all) => i === 0 || m.seq > all[i - 1].seq || m.seq === 1)).toBe(true);
  });

  it('matches the condition on the JSON payload and gives actions the projection', async () => {
    const { engine, sink } = setup([{ name: 'hot', topic: 't', condition: { '>': [{ var: 'temp' }, 30] }, projection: { celsius: 'temp', from: '$clientId' } }]);
    for (const p of [{ temp: 20 }, { temp: 35 }, 'not json', { temp: 31, other: 1 }]) engine.accept(msg('t', p), { clientId: 'dev' }, true);
    await engine.drain();
    expect(sink.batches.flat().map((m) => m.value)).toEqual([{ celsius: 35, from: 'dev' }, { celsius: 31, from: 'dev' }]);
  });

  it('refuses a QoS 1/2 publish with 0x97 when the outbox is full, drops and counts QoS 0 and unrefusable ones', async () => {
    const { engine } = setup([{ name: 'small', topic: 't', outbox: { messages: 2 } }]);
    expect(engine.accept(msg('t', 1), undefined, true)).toBeUndefined();
    expect(engine.accept(msg('t', 2), undefined, true)).toBeUndefined();
    expect(engine.accept(msg('t', 3), undefined, true)).toBe(ReasonCode.QuotaExceeded);
    expect(engine.accept(msg('t', 4, 0), undefined, true)).toBeUndefined();
    expect(engine.accept(msg('t', 5, 1), undefined, false)).toBeUndefined();
    const [r] = engine.list();
    expect(r.outbox.messages).toBe(2);
    expect(r.counters).toMatchObject({ matched: 4, refused: 1, dropped: 2 });
  });

  it('does not record a message that could not be one SQLite row (2 MB), whatever the outbox holds', () => {
    const { engine } = setup([{ name: 'row', topic: 't' }]);
    const properties = { userProperties: [['k', '\u0001'.repeat(400_000)]] as [string, string][] }; // 2.4 MB as JSON
    expect(engine.accept(msg('t', 'x', 0, { properties }), undefined, true)).toBeUndefined();
    expect(engine.list()[0]).toMatchObject({ counters: { matched: 1, dropped: 1 }, outbox: { messages: 0 } });
  });

  it('bounds the outbox in bytes', () => {
    const { engine } = setup([{ name: 'bytes', topic: 't', outbox: { bytes: 1024 } }]);
    expect(engine.accept(msg('t', 'x'.repeat(1000)), undefined, true)).toBeUndefined();
    expect(engine.accept(msg('t', 'x'.repeat(100)), undefined, true)).toBe(ReasonCode.QuotaExceeded);
  });

  it('retries a failed batch with doubling backoff and loses nothing when the sink recovers', async () => {
    const { engine, sink, clock } = setup([{ name: 'r', topic: 't', tries: 10, backoff: { initialMs: 1000, maxMs: 4000 } }]);
    for (let i = 0; i < 3; i++) engine.accept(msg('t', i), undefined, true);
    sink.failing = true;
    const waits: number[] = [];
    for (let i = 0; i < 4; i++) {
      await engine.drain();
      waits.push(engine.due()! - clock.t);
      clock.t = engine.due()!;
    }
    expect(waits).toEqual([1000, 2000, 4000, 4000]);
    sink.failing = false;
    await engine.drain();
    expect(payloads(sink.batches)).toEqual(['0', '1', '2']);
    expect(engine.list()[0].counters).toMatchObject({ retried: 4, delivered: 3, deadLettered: 0 });
    expect(engine.due()).toBeUndefined();
  });

  it('moves messages to the dead letters after the configured tries, then replays them', async () => {
    const { engine, sink, clock } = setup([{ name: 'd', topic: 't', tries: 3, backoff: { initialMs: 100, maxMs: 100 } }]);
    engine.accept(msg('t', 'lost?'), undefined, true);
    sink.failing = true;
    for (let i = 0; i < 3; i++) {
      await engine.drain();
      clock.t += 100;
    }
    let [r] = engine.list();
    expect(r.counters).toMatchObject({ retried: 3, deadLettered: 1 });
    expect(r.outbox.messages).toBe(0);
    const dead = engine.deadLetters('d', 0, 10)!;
    expect(dead.map((d) => [new TextDecoder().decode(d.payload), d.attempts, d.error])).toEqual([['lost?', 3, 'sink down']]);
    sink.failing = false;
    expect(engine.dropDeadLetters('d', undefined, true)).toBe(1);
    await engine.drain();
    expect(payloads(sink.batches)).toEqual(['lost?']);
    [r] = engine.list();
    expect(r.deadLetters.messages).toBe(0);
  });

  it('stalls instead of discarding when the dead letters are full', async () => {
    const { engine, sink, clock, logs } = setup([{ name: 'f', topic: 't', tries: 1, outbox: { messages: 1 }, backoff: { initialMs: 100, maxMs: 500 } }]);
    sink.failing = true;
    engine.accept(msg('t', 1), undefined, true);
    await engine.drain();
    clock.t += 100;
    engine.accept(msg('t', 2), undefined, true);
    await engine.drain();
    const [r] = engine.list();
    expect([r.deadLetters.messages, r.outbox.messages]).toEqual([1, 1]);
    expect(logs.some((l) => /dead letters are full/.test(l))).toBe(true);
    expect(engine.due()! - clock.t).toBe(500);
  });

  it('never matches a message republished by the same rule, and caps chains at 8 hops', () => {
    const { engine } = setup([{ name: 'loop', topic: '#' }, { name: 'other', topic: '#' }]);
    engine.accept(msg('x', 1, 1, { properties: { userProperties: markedBy('loop', undefined) } }), undefined, true);
    expect(engine.list().map((r) => r.counters.matched)).toEqual([0, 1]);
    const long = [[loopMarker, 'a,b,c,d,e,f,g,h']] as [string, string][];
    engine.accept(msg('x', 1, 1, { properties: { userProperties: long } }), undefined, true);
    expect(engine.list().map((r) => r.counters.matched)).toEqual([0, 1]);
    expect(markedBy('r2', [['k', 'v'], [loopMarker, 'r1']])).toEqual([['k', 'v'], [loopMarker, 'r1,r2']]);
  });

  it('a restart from the store delivers what was accepted and not yet delivered, with its counters', async () => {
    const { engine, make, sink } = setup([{ name: 'p', topic: 't' }]);
    engine.accept(msg('t', 1), undefined, true);
    await engine.drain();
    engine.accept(msg('t', 2), undefined, true);
    engine.accept(msg('t', 3), undefined, true); // not drained: the object restarts here
    const again = make();
    expect(again.list()[0]).toMatchObject({ outbox: { messages: 2 }, counters: { matched: 3, delivered: 1, lastSeq: 3 } });
    await again.drain();
    expect(payloads(sink.batches)).toEqual(['1', '2', '3']);
    again.accept(msg('t', 4), undefined, true);
    await again.drain();
    expect(sink.batches.flat().map((m) => m.seq)).toEqual([1, 2, 3, 4]);
  });

  it('a disabled rule neither matches nor delivers; enabling resumes its outbox', async () => {
    const { engine, sink } = setup([{ name: 'e', topic: 't' }]);
    engine.accept(msg('t', 1), undefined, true);
    engine.setEnabled('e', false);
    engine.accept(msg('t', 2), undefined, true);
    await engine.drain();
    expect(sink.batches).toEqual([]);
    engine.setEnabled('e', true);
    await engine.drain();
    expect(payloads(sink.batches)).toEqual(['1']);
  });

  it('API rules: added, replaced, refused over file rules, deleted only with discard when holding messages', async () => {
    const { engine } = setup([{ name: 'file', topic: 't' }]);
    expect(() => engine.put({ name: 'file', topic: 'x', action: { kind: 'test' } })).toThrow(/defined by MQTT_RULES_FILE/);
    expect(engine.put({ name: 'api', topic: 'x', action: { kind: 'test' } }).created).toBe(true);
    expect(engine.put({ name: 'api', topic: 'y', action: { kind: 'test' } }).created).toBe(false);
    engine.accept(msg('y', 1), undefined, true);
    expect(() => engine.delete('api', false)).toThrow(/holds 1 undelivered messages/);
    expect(engine.delete('api', true)).toEqual({ outbox: 1, deadLetters: 0 });
    expect(engine.list().map((r) => r.name)).toEqual(['file']);
  });

  it('spends at most its per-drain call budget', async () => {
    const { engine, sink } = setup([{ name: 'busy', topic: 't', action: { kind: 'test', count: 1 }, outbox: { messages: 1000 } }]);
    for (let i = 0; i < 100; i++) engine.accept(msg('t', i), undefined, true);
    await engine.drain();
    expect(sink.batches.length).toBe(30);
    expect(engine.due()).toBeDefined();
  });
});

describe('rule engine bounds', () => {
  it('keeps at most `concurrency` deliveries in flight, one per rule, and two drains never share a rule\'s batch', async () => {
    const kinds = new Map<string, ActionKind>();
    let inFlight = 0;
    let most = 0;
    const seen: number[] = [];
    const release: Array<() => void> = [];
    kinds.set('test', {
      kind: 'test', parse: () => ({}), limits: () => ({ count: 100, bytes: 1 << 20 }),
      async deliver(_c, batch) {
        most = Math.max(most, ++inFlight);
        seen.push(...batch.map((m) => m.seq));
        await new Promise<void>((r) => release.push(r));
        inFlight--;
      },
    });
    const store = new MemoryRuleStore();
    const rules = Array.from({ length: 10 }, (_, i) => parseRule({ name: `r${i}`, topic: 't', action: { kind: 'test' } }, kinds, {}));
    const engine = new RuleEngine({ store, kinds, env: {}, clock: { now: () => 0 }, context: { publish: async () => {}, fetch }, log: () => {} }, rules);
    engine.accept(msg('t', 1), undefined, true);
    const first = engine.drain();
    const second = engine.drain(); // an alarm that fired while the first drain waits on its sinks
    for (let i = 0; i < 20 && (release.length || inFlight); i++) {
      await new Promise((r) => setTimeout(r, 1));
      release.splice(0).forEach((r) => r());
    }
    await Promise.all([first, second]);
    expect(most).toBe(4);
    expect(seen.length).toBe(10); // each rule's one message delivered once
    expect(engine.list().every((r) => r.counters.delivered === 1)).toBe(true);
  });

  it('cuts batches at the action\'s message and byte limits and at the engine\'s 4 MiB', async () => {
    const s = sink();
    const { engine } = setup([{ name: 'b', topic: 't', action: { kind: 'test', count: 3 } }], new MemoryRuleStore(), s);
    for (let i = 0; i < 7; i++) engine.accept(msg('t', i), undefined, true);
    await engine.drain();
    expect(s.state.batches.map((b) => b.length)).toEqual([3, 3, 1]);
    const store = new MemoryRuleStore();
    const big = setup([{ name: 'big', topic: 't', outbox: { bytes: 32 * 1024 * 1024 }, action: { kind: 'test', count: 100, bytes: 64 << 20 } }], store);
    const mib = 'x'.repeat(1024 * 1024 - 10);
    for (let i = 0; i < 6; i++) big.engine.accept(msg('t', mib), undefined, true);
    await big.engine.drain();
    expect(big.sink.batches.map((b) => b.length)).toEqual([4, 2]); // the action would take 64 MiB; the engine holds 4 MiB
  });

  it('a deliver() that never settles counts as failed after the deadline', async () => {
    const kinds = new Map<string, ActionKind>([['test', { kind: 'test', parse: () => ({}), limits: () => ({ count: 1, bytes: 1 << 20 }), deliver: () => new Promise(() => {}) }]]);
    const store = new MemoryRuleStore();
    const engine = new RuleEngine({ store, kinds, env: {}, clock: { now: () => 0 }, context: { publish: async () => {}, fetch }, log: () => {} },
      [parseRule({ name: 'stuck', topic: 't', action: { kind: 'test' } }, kinds, {})]);
    engine.accept(msg('t', 1), undefined, true);
    const { vi } = await import('vitest');
    vi.useFakeTimers();
    try {
      const drained = engine.drain();
      await vi.advanceTimersByTimeAsync(15_000);
      await drained;
    } finally {
      vi.useRealTimers();
    }
    expect(engine.list()[0]).toMatchObject({ counters: { retried: 1, delivered: 0 }, outbox: { messages: 1 }, lastError: 'no answer within 15000 ms' });
  });
});

describe('an action that holds its outbox (an archive)', () => {
  it('waits while hold() says so, then drains', async () => {
    const delivered: number[][] = [];
    const kind: ActionKind = {
      kind: 'test', parse: () => ({}), limits: () => ({ count: 100, bytes: 1 << 20 }),
      hold: (_c, oldest, pending, now) => (pending.count >= 3 ? 0 : Math.max(0, oldest + 60_000 - now)),
      async deliver(_c, batch) {
        delivered.push(batch.map((m) => m.seq));
      },
    };
    const kinds = new Map([['test', kind]]);
    const clock = { t: 1_000_000, now() { return this.t; } };
    const engine = new RuleEngine({ store: new MemoryRuleStore(), kinds, env: {}, clock, context: { publish: async () => {}, fetch }, log: () => {} },
      [parseRule({ name: 'archive', topic: 't', action: { kind: 'test' } }, kinds, {})]);
    engine.accept(msg('t', 1), undefined, true);
    engine.accept(msg('t', 2), undefined, true);
    await engine.drain();
    expect(delivered).toEqual([]);
    expect(engine.due()).toBe(clock.t + 60_000);
    clock.t += 60_000; // the window closed
    await engine.drain();
    expect(delivered).toEqual([[1, 2]]);
    for (const n of [3, 4, 5]) engine.accept(msg('t', n), undefined, true); // the size threshold
    expect(engine.due()).toBe(clock.t);
    await engine.drain();
    expect(delivered).toEqual([[1, 2], [3, 4, 5]]);
  });
});

describe('the shared outbox', () => {
  /** A sink failing for the rules named in `failing`. */
  function perRuleSink() {
    const state = { failing: new Set<string>(), got: new Map<string, number[]>() };
    const kind: ActionKind = {
      kind: 'test', parse: () => ({}), limits: () => ({ count: 100, bytes: 1 << 20 }),
      async deliver(_c, batch, context) {
        if (state.failing.has(context.rule)) throw new Error(`${context.rule} down`);
        state.got.set(context.rule, [...(state.got.get(context.rule) ?? []), ...batch.map((m) => m.seq)]);
      },
    };
    return { state, kinds: new Map([['test', kind]]) };
  }

  function start(defs: Record<string, unknown>[], store = new MemoryRuleStore()) {
    const s = perRuleSink();
    const clock = { t: 1_000_000, now() { return this.t; } };
    const make = () => new RuleEngine({ store, kinds: s.kinds, env: {}, clock, context: { publish: async () => {}, fetch }, log: () => {} },
      defs.map((d) => parseRule({ action: { kind: 'test' }, ...d }, s.kinds, {})));
    return { engine: make(), make, store, clock, sink: s.state };
  }

  it('stores a message matched by 10 rules once, and deletes it when every rule delivered it', async () => {
    const { engine, store, sink } = start(Array.from({ length: 10 }, (_, i) => ({ name: `r${i}`, topic: 't/#' })));
    for (let i = 0; i < 5; i++) engine.accept(msg('t/x', i), undefined, true);
    expect(store.outbox.length).toBe(5);
    expect(engine.list().map((r) => r.outbox.messages)).toEqual(Array(10).fill(5));
    await engine.drain();
    expect([...sink.got.values()]).toEqual(Array(10).fill([1, 2, 3, 4, 5]));
    expect(store.outbox.length).toBe(0);
    expect(engine.list().every((r) => r.counters.delivered === 5 && r.outbox.messages === 0)).toBe(true);
  });

  it('a rule behind keeps only the messages it matched; the others go as soon as their rules are past them', async () => {
    const { engine, store, sink, clock } = start([{ name: 'fast', topic: '#' }, { name: 'slow', topic: 's', tries: 10 }]);
    sink.failing.add('slow');
    for (const topic of ['s', 'f', 's', 'f']) engine.accept(msg(topic, topic), undefined, true);
    await engine.drain();
    expect(sink.got.get('fast')).toEqual([1, 2, 3, 4]);
    expect(store.outbox.map((m) => m.message.seq)).toEqual([1, 3]);
    sink.failing.delete('slow');
    clock.t += 60_000;
    await engine.drain();
    expect(sink.got.get('slow')).toEqual([1, 3]);
    expect(store.outbox).toEqual([]);
  });

  it('a rule added later starts at the end of the outbox, even on the slot of a deleted rule, restarts included', async () => {
    const { engine: first, make, store, sink } = start([{ name: 'keep', topic: 't' }]);
    let engine = first;
    engine.put({ name: 'gone', topic: 't', action: { kind: 'test' } });
    for (let i = 0; i < 3; i++) engine.accept(msg('t', i), undefined, true);
    engine.setEnabled('keep', false); // holds the three messages
    expect(engine.delete('gone', true)).toEqual({ outbox: 3, deadLetters: 0 });
    engine.put({ name: 'new', topic: 't', action: { kind: 'test' } });
    expect(store.saved.get('new')!.cursor!.slot).toBe(1); // the slot 'gone' had
    engine = make(); // the messages 'gone' left carry slot 1: not the new rule's
    expect(engine.get('new')).toMatchObject({ counters: { matched: 0 }, outbox: { messages: 0 } });
    engine.accept(msg('t', 'late'), undefined, true);
    await engine.drain();
    expect(sink.got.get('new')).toEqual([4]);
    expect(store.outbox.map((m) => m.message.seq)).toEqual([1, 2, 3]);
    engine.setEnabled('keep', true);
    await engine.drain();
    expect(sink.got.get('keep')).toEqual([1, 2, 3]);
    expect(store.outbox).toEqual([]);
  });

  it('deleting a rule releases what only it held', async () => {
    const { engine, store } = start([{ name: 'file', topic: 'f' }]);
    engine.put({ name: 'api', topic: 'a', action: { kind: 'test' } });
    for (const topic of ['a', 'f', 'a']) engine.accept(msg(topic, 1), undefined, true);
    engine.delete('api', true);
    expect(store.outbox.map((m) => m.message.seq)).toEqual([2]);
  });

  it('keeps failed tries across a restart: the third try of three dead-letters', async () => {
    const { engine, make, sink, clock } = start([{ name: 'd', topic: 't', tries: 3, backoff: { initialMs: 100, maxMs: 100 } }]);
    sink.failing.add('d');
    engine.accept(msg('t', 1), undefined, true);
    await engine.drain();
    clock.t += 100;
    engine.accept(msg('t', 2), undefined, true);
    await engine.drain();
    clock.t += 100;
    const again = make();
    await again.drain();
    const [r] = again.list();
    expect(r).toMatchObject({ counters: { retried: 3, deadLettered: 1 }, outbox: { messages: 1 }, deadLetters: { messages: 1 } });
    expect(again.deadLetters('d', 0, 10)!.map((d) => [d.seq, d.attempts])).toEqual([[1, 3]]);
    sink.failing.delete('d');
    clock.t += 100;
    expect(again.dropDeadLetters('d', undefined, true)).toBe(1);
    await again.drain();
    expect(sink.got.get('d')).toEqual([2, 3]); // the replay is a new message at the end
  });

  it('a restart rebuilds each rule\'s counters from the shared rows recorded since its last save', async () => {
    const { engine, make, store } = start([{ name: 'a', topic: 't' }, { name: 'b', topic: 't' }, { name: 'c', topic: 'c' }]);
    engine.accept(msg('t', 1), undefined, true);
    await engine.drain();
    engine.accept(msg('t', 2), undefined, true);
    engine.accept(msg('c', 3), undefined, true); // the object restarts here, before any save
    const again = make();
    expect(again.list().map((r) => [r.name, r.counters.matched, r.counters.delivered, r.outbox.messages])).toEqual([['a', 2, 1, 1], ['b', 2, 1, 1], ['c', 1, 0, 1]]);
    await again.drain();
    expect(store.outbox).toEqual([]);
    again.accept(msg('t', 4), undefined, true);
    expect(store.outbox.map((m) => m.message.seq)).toEqual([4]);
  });
});

describe('outbox slots', () => {
  it('a rule beyond the 53 slots stays inactive, naming why, and the others keep theirs', () => {
    const s = sink();
    const store = new MemoryRuleStore();
    const clock = { now: () => 0 };
    const make = (names: string[]) => new RuleEngine({ store, kinds: s.kinds, env: {}, clock, context: { publish: async () => {}, fetch }, log: () => {} },
      names.map((name) => parseRule({ name, topic: 't', action: { kind: 'test' } }, s.kinds, {})));
    make(Array.from({ length: 50 }, (_, i) => `old${i}`));
    // the file changed: the 50 old rules stay as API rules and 3 of the new ones find a slot
    const engine = make(Array.from({ length: 10 }, (_, i) => `new${i}`));
    const inactive = engine.list().filter((r) => r.problem);
    expect(inactive.map((r) => r.name).sort()).toEqual(['new3', 'new4', 'new5', 'new6', 'new7', 'new8', 'new9']);
    expect(inactive[0].problem).toMatch(/no outbox slot is free: at most 53 rules/);
    const slots = [...store.saved.values()].map((v) => v.cursor!.slot);
    expect(new Set(slots).size).toBe(53);
    engine.accept(msg('t', 1), undefined, true);
    expect(store.outbox.length).toBe(1);
    expect(engine.list().filter((r) => r.outbox.messages === 1).length).toBe(53);
    expect(() => engine.put({ name: 'more', topic: 't', action: { kind: 'test' } })).toThrow(/at most 50 rules/);
  });
});
