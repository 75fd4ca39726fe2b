// A session's store work per event: a page read at once, the sent marked in one write, and the
// acknowledged deleted together when the event settles, whatever the number of messages.
import { describe, expect, it } from 'vitest';
import { MemorySessionStore } from '../../src/broker/memory/memory-session-store.ts';
import type { OutboundChange, OutboundMessage } from '../../src/broker/index.ts';
import { Session, refillBytes, type Outlet } from '../../src/broker/session.ts';

/** The memory store, counting the calls that stand for one statement each on SQLite. */
class CountingStore extends MemorySessionStore {
  reads: number[] = [];
  updates: number[] = [];
  deletes: number[] = [];

  override outboundEntries(clientId: string, seqs: readonly number[]): OutboundMessage[] {
    this.reads.push(seqs.length);
    return super.outboundEntries(clientId, seqs);
  }

  override updateOutbound(clientId: string, changes: readonly OutboundChange[]): void {
    if (changes.length) this.updates.push(changes.length);
    super.updateOutbound(clientId, changes);
  }

  override deleteOutbound(clientId: string, seqs: readonly number[]): void {
    if (seqs.length) this.deletes.push(seqs.length);
    super.deleteOutbound(clientId, seqs);
  }
}

function outlet(window: number): Outlet & { sent: OutboundMessage[]; settles: number; turns: number } {
  return {
    window, sent: [], settles: 0, turns: 0,
    sendPublish(entry) {
      this.sent.push(entry);
      return true;
    },
    sendPubrel: () => undefined,
    dropped: () => undefined,
    now: () => 0,
    settleLater() {
      this.settles++;
    },
    settleNextTurn() {
      this.turns++;
    },
  };
}

/** Runs the later turns the session asked for (as Gateway.nextTurn does), until it asks for none; returns how many ran. */
function turns(session: Session, out: ReturnType<typeof outlet>): number {
  let ran = 0;
  for (; out.turns > ran; ran++) {
    session.nextTurn();
    session.settle(out);
  }
  return ran;
}

const queued = (count: number, bytes = 8): Array<Omit<OutboundMessage, 'seq'>> =>
  Array.from({ length: count }, (_, i) => ({ message: { topic: `t/${i}`, payload: new Uint8Array(bytes), qos: 1, retain: false }, state: 'queued' }));

describe('a session\'s store work per event', () => {
  it('sends a queue of 300 through a window of 200: pages of at most 128 read at once, each marked sent in one write', () => {
    const store = new CountingStore();
    store.enqueueAll('c', queued(300));
    const session = new Session('c', store, { messages: 1_000, bytes: Infinity });
    const out = outlet(200);
    session.resume(out);
    turns(session, out);
    expect(out.sent.map((e) => e.message.topic)).toEqual(Array.from({ length: 200 }, (_, i) => `t/${i}`));
    expect([store.reads, store.updates]).toEqual([[128, 72], [128, 72]]);
    expect(store.outboundPlaces('c').filter((p) => p.state === 'sent')).toHaveLength(200);
  });

  it('a drain sends one page in its first turn, then 4 times as many pages each turn, each page marked sent before it leaves', () => {
    const store = new CountingStore();
    store.enqueueAll('c', queued(2_000));
    const session = new Session('c', store, { messages: 10_000, bytes: Infinity });
    const out = outlet(65_535);
    session.resume(out); // the CONNECT's event: one page, and the rest in later turns
    expect([out.sent.length, store.updates, out.turns]).toEqual([128, [128], 1]);
    expect(store.outboundPlaces('c').filter((p) => p.state === 'sent')).toHaveLength(128);
    session.settle(out); // the same event's end: nothing more before the next turn
    expect([out.sent.length, out.turns]).toEqual([128, 1]);
    const perTurn: number[] = [];
    for (let ran = 0; out.turns > ran; ran++) {
      const [sent, updates] = [out.sent.length, store.updates.length];
      session.nextTurn();
      session.settle(out);
      perTurn.push(out.sent.length - sent);
      // every message that left this turn was marked sent, under its packet id, by this turn's writes
      expect(store.updates.slice(updates).reduce((a, b) => a + b, 0)).toBe(out.sent.length - sent);
    }
    expect(perTurn).toEqual([512, 1360]);
    expect(out.sent.map((e) => e.message.topic)).toEqual(Array.from({ length: 2_000 }, (_, i) => `t/${i}`));
    const places = store.outboundPlaces('c');
    expect(places.every((p, i) => p.state === 'sent' && p.packetId === out.sent[i].packetId)).toBe(true);
  });

  it('acknowledgements between two turns of a drain write nothing: the next turn deletes them with its own write, then sends', () => {
    const store = new CountingStore();
    store.enqueueAll('c', queued(300));
    const session = new Session('c', store, { messages: 1_000, bytes: Infinity });
    const out = outlet(65_535);
    session.resume(out);
    [store.reads, store.updates] = [[], []];
    for (const e of out.sent.slice(0, 100)) {
      session.puback(e.packetId!, out);
      session.settle(out); // one event per PUBACK, as a client that sends each in its own WebSocket message
    }
    expect([out.sent.length, store.deletes, store.updates, store.outboundCount('c')]).toEqual([128, [], [], 300]);
    expect(turns(session, out)).toBe(1);
    expect([store.deletes, store.updates, store.outboundCount("c")]).toEqual([[100], [128, 44], 200]);
    expect(out.sent.map((e) => e.message.topic)).toEqual(Array.from({ length: 300 }, (_, i) => `t/${i}`));
  });

  it('a connection closing between two turns deletes what was acknowledged', () => {
    const store = new CountingStore();
    store.enqueueAll('c', queued(300));
    const session = new Session('c', store, { messages: 1_000, bytes: Infinity });
    const out = outlet(65_535);
    session.resume(out);
    for (const e of out.sent.slice(0, 10)) session.puback(e.packetId!, out);
    session.settle();
    expect([store.deletes, store.outboundCount('c')]).toEqual([[10], 290]);
  });

  it('deletes every message acknowledged in one event with one write when it settles, then refills the window', () => {
    const store = new CountingStore();
    store.enqueueAll('c', queued(300));
    const session = new Session('c', store, { messages: 1_000, bytes: Infinity });
    const out = outlet(200);
    session.resume(out);
    turns(session, out);
    const ids = out.sent.map((e) => e.packetId!);
    [store.reads, store.updates] = [[], []];
    for (const id of ids) session.puback(id, out);
    expect(out.settles).toBe(200);
    expect([store.deletes, store.outboundCount('c')]).toEqual([[], 300]); // nothing written before the event settles
    session.settle(out);
    expect([store.deletes, store.outboundCount('c')]).toEqual([[200], 100]);
    expect([store.reads, store.updates]).toEqual([[100], [100]]);
    expect(out.sent.slice(200).map((e) => e.message.topic)).toEqual(Array.from({ length: 100 }, (_, i) => `t/${200 + i}`));
  });

  it('a closing connection settles without sending: the acknowledged go, the queue stays', () => {
    const store = new CountingStore();
    store.enqueueAll('c', queued(10));
    const session = new Session('c', store, { messages: 1_000, bytes: Infinity });
    const out = outlet(5);
    session.resume(out);
    for (const e of out.sent) session.puback(e.packetId!, out);
    session.settle();
    expect([out.sent.length, store.outboundCount('c'), store.deletes]).toEqual([5, 5, [5]]);
    const back = new Session('c', store, { messages: 1_000, bytes: Infinity });
    const again = outlet(5);
    back.resume(again);
    expect(again.sent.map((e) => e.message.topic)).toEqual(['t/5', 't/6', 't/7', 't/8', 't/9']);
  });

  it('sends at most refillBytes of a queue unacknowledged, whatever the window; the rest as acknowledgements come', () => {
    const store = new CountingStore();
    store.enqueueAll('c', queued(40, 1024 * 1024)); // 40 MiB
    const session = new Session('c', store, { messages: 1_000, bytes: Infinity });
    const out = outlet(65_535); // MQTT.js 5's Receive Maximum
    session.resume(out);
    turns(session, out);
    const perRefill = refillBytes / (1024 * 1024);
    expect(out.sent).toHaveLength(perRefill);
    for (const e of out.sent) session.puback(e.packetId!, out);
    session.settle(out);
    turns(session, out);
    expect(out.sent).toHaveLength(2 * perRefill);
    while (out.sent.length < 40) {
      const before = out.sent.length;
      for (const e of out.sent.slice(before - perRefill)) session.puback(e.packetId!, out);
      session.settle(out);
      turns(session, out);
      expect(out.sent.length).toBeGreaterThan(before);
    }
    expect(out.sent.map((e) => e.message.topic)).toEqual(Array.from({ length: 40 }, (_, i) => `t/${i}`));
  });

  it('expired messages do not count against a refill: the next ones still go out', () => {
    const store = new CountingStore();
    const expired = queued(20, 1024 * 1024).map((e) => ({ ...e, message: { ...e.message, expiresAt: 1 } }));
    store.enqueueAll('c', [...expired, ...queued(3)]);
    const session = new Session('c', store, { messages: 1_000, bytes: Infinity });
    const out = { ...outlet(65_535), now: () => 10 };
    session.resume(out);
    turns(session, out);
    expect(out.sent.map((e) => e.message.topic)).toEqual(['t/0', 't/1', 't/2']);
    expect(store.outboundCount('c')).toBe(3); // the expired are gone
  });

  it('reads a page of at most 1 MiB of payload (the message that passes it last)', () => {
    const store = new CountingStore();
    store.enqueueAll('c', queued(5, 600 * 1024));
    const session = new Session('c', store, { messages: 1_000, bytes: Infinity });
    const out = outlet(100);
    session.resume(out);
    turns(session, out);
    expect(store.reads).toEqual([2, 2, 1]);
  });
});
