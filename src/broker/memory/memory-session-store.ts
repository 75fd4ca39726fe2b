// The reference SessionStore: plain maps, copies in and out so that nothing a caller holds is
// shared with what is "stored" (the SQLite store behaves the same way).
import { entryBytes, mergeIds, noteId, type OutboundChange, type RecognisedBounds, type RecognisedIds, type OutboundMessage, type OutboundPlace, type SessionState, type SessionStore, type SessionTimes, type StoredSubscription } from '../ports.ts';

const size = entryBytes;

interface Record {
  /** Unset until put(): subscriptions and messages may be stored first. */
  state?: SessionState;
  subscriptions: Map<string, StoredSubscription>;
  outbound: Map<number, OutboundMessage>;
  /** Received packet ids (undefined) and those on their way under a Message.id. */
  incoming: Map<number, number | undefined>;
  /** Per publisher, the QoS 2 message ids delivered (recognise). */
  recognised: Map<string, RecognisedIds>;
}

export class MemorySessionStore implements SessionStore {
  private readonly records = new Map<string, Record>();
  private seq = 0;
  private readonly copy: <T>(value: T) => T;

  /** copies: false shares objects with the caller (for flows held only in memory anyway). */
  constructor(options: { copies?: boolean } = {}) {
    this.copy = options.copies === false ? (v) => v : (v) => structuredClone(v);
  }

  private record(clientId: string): Record {
    let r = this.records.get(clientId);
    if (!r) {
      r = { subscriptions: new Map(), outbound: new Map(), incoming: new Map(), recognised: new Map() };
      this.records.set(clientId, r);
    }
    return r;
  }

  get(clientId: string): SessionState | undefined {
    const state = this.records.get(clientId)?.state;
    return state && this.copy(state);
  }

  put(state: SessionState): void {
    this.record(state.clientId).state = this.copy(state);
  }

  delete(clientId: string): void {
    this.records.delete(clientId);
  }

  list(): SessionState[] {
    return [...this.records.values()].flatMap((r) => (r.state ? [this.copy(r.state)] : []));
  }

  *times(): Generator<SessionTimes> {
    for (const { state } of this.records.values()) {
      if (!state) continue;
      const { clientId, expiryInterval, connectionId, disconnectedAt, will } = state;
      yield { clientId, expiryInterval, connectionId, disconnectedAt, willAt: will?.at };
    }
  }

  persistentCount(): number {
    let n = 0;
    for (const r of this.records.values()) if (r.state && r.state.expiryInterval > 0) n++;
    return n;
  }

  awayCount(): number {
    return [...this.records.values()].filter((r) => r.state && r.state.connectionId === undefined).length;
  }

  subscriptions(clientId: string): StoredSubscription[] {
    return [...(this.records.get(clientId)?.subscriptions.values() ?? [])].map((v) => this.copy(v));
  }

  allSubscriptions(): Array<[string, StoredSubscription]> {
    return [...this.records].flatMap(([id, r]) => [...r.subscriptions.values()].map((s): [string, StoredSubscription] => [id, this.copy(s)]));
  }

  putSubscription(clientId: string, subscription: StoredSubscription): void {
    this.record(clientId).subscriptions.set(subscription.topicFilter, this.copy(subscription));
  }

  deleteSubscription(clientId: string, topicFilter: string): boolean {
    return this.records.get(clientId)?.subscriptions.delete(topicFilter) ?? false;
  }

  enqueue(clientId: string, entry: Omit<OutboundMessage, 'seq'>): number {
    const seq = ++this.seq;
    this.record(clientId).outbound.set(seq, this.copy({ ...entry, seq }));
    return seq;
  }

  enqueueAll(clientId: string, entries: ReadonlyArray<Omit<OutboundMessage, 'seq'>>): number[] {
    return entries.map((entry) => this.enqueue(clientId, entry));
  }

  outbound(clientId: string): OutboundMessage[] {
    return this.sorted(clientId).map((v) => this.copy(v));
  }

  outboundPlaces(clientId: string, stamps = false): OutboundPlace[] {
    return this.sorted(clientId).map((e) => {
      const place: OutboundPlace = { seq: e.seq, packetId: e.packetId, state: e.state, qos: e.message.qos, bytes: e.message.payload.length };
      if (stamps && e.message.stamp !== undefined) place.stamp = e.message.stamp;
      return place;
    });
  }

  outboundPage(clientId: string, after: number, maxBytes: number): { outbound: OutboundMessage[]; more: boolean } {
    const after_ = this.sorted(clientId).filter((e) => e.seq > after);
    let bytes = 0;
    let n = 0;
    while (n < after_.length && (n === 0 || bytes + size(after_[n]) <= maxBytes)) bytes += size(after_[n++]);
    return { outbound: after_.slice(0, n).map((v) => this.copy(v)), more: n < after_.length };
  }

  outboundEntries(clientId: string, seqs: readonly number[]): OutboundMessage[] {
    const held = this.records.get(clientId)?.outbound;
    const found = seqs.flatMap((seq) => held?.get(seq) ?? []);
    return found.sort((a, b) => a.seq - b.seq).map((v) => this.copy(v));
  }

  private sorted(clientId: string): OutboundMessage[] {
    return [...(this.records.get(clientId)?.outbound.values() ?? [])].sort((a, b) => a.seq - b.seq);
  }

  outboundCount(clientId: string): number {
    return this.records.get(clientId)?.outbound.size ?? 0;
  }

  outboundTotal(): number {
    return [...this.records.values()].reduce((n, r) => n + r.outbound.size, 0);
  }

  updateOutbound(clientId: string, changes: readonly OutboundChange[]): void {
    const held = this.records.get(clientId)?.outbound;
    for (const { seq, packetId, state } of changes) {
      const entry = held?.get(seq);
      if (entry) Object.assign(entry, { packetId, state });
    }
  }

  deleteOutbound(clientId: string, seqs: readonly number[]): void {
    const held = this.records.get(clientId)?.outbound;
    for (const seq of seqs) held?.delete(seq);
  }

  moveOutbound(from: string, to: string): number {
    const moved = this.records.get(from)?.outbound;
    if (!moved?.size) return 0;
    const into = this.record(to).outbound;
    for (const [seq, entry] of moved) into.set(seq, entry);
    const n = moved.size;
    moved.clear();
    return n;
  }

  addIncoming(clientId: string, packetId: number, routing?: number): void {
    this.record(clientId).incoming.set(packetId, routing);
  }

  incoming(clientId: string): number[] {
    return [...(this.records.get(clientId)?.incoming ?? [])].filter(([, routing]) => routing === undefined).map(([id]) => id);
  }

  hasIncoming(clientId: string, packetId: number): boolean {
    const incoming = this.records.get(clientId)?.incoming;
    return !!incoming?.has(packetId) && incoming.get(packetId) === undefined;
  }

  routingId(clientId: string, packetId: number): number | undefined {
    return this.records.get(clientId)?.incoming.get(packetId);
  }

  routing(clientId: string): Array<[number, number]> {
    return [...(this.records.get(clientId)?.incoming ?? [])].filter((e): e is [number, number] => e[1] !== undefined);
  }

  deleteIncoming(clientId: string, packetId: number): void {
    this.records.get(clientId)?.incoming.delete(packetId);
  }

  recognise(clientId: string, publisher: string, id: number, bounds: RecognisedBounds, at: number, again = false): boolean {
    const { recognised } = this.record(clientId);
    const ids = recognised.get(publisher)?.ids ?? [];
    if (ids.includes(id)) return true;
    this.keepRecognised(recognised, { publisher, ids: noteId(ids, id, bounds.window, again), at }, bounds);
    return false;
  }

  recognised(clientId: string): RecognisedIds[] {
    return [...(this.records.get(clientId)?.recognised.values() ?? [])].map((r) => ({ ...r, ids: [...r.ids] }));
  }

  addRecognised(clientId: string, rows: readonly RecognisedIds[], bounds: RecognisedBounds): void {
    if (!rows.length) return;
    const { recognised } = this.record(clientId);
    for (const row of rows) {
      const here = recognised.get(row.publisher);
      this.keepRecognised(recognised, { publisher: row.publisher, ids: mergeIds(here?.ids ?? [], row.ids, bounds.window), at: Math.max(row.at, here?.at ?? 0) }, bounds);
    }
  }

  /** Keeps a publisher's row; forgets those noted least recently (`at`, then name) beyond the bound. */
  private keepRecognised(recognised: Map<string, RecognisedIds>, row: RecognisedIds, bounds: RecognisedBounds): void {
    recognised.set(row.publisher, row);
    while (recognised.size > bounds.publishers) {
      const [oldest] = [...recognised.values()].sort((a, b) => a.at - b.at || a.publisher.localeCompare(b.publisher));
      recognised.delete(oldest.publisher);
    }
  }
}
