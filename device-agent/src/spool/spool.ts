// Store-and-forward queue on disk: append-only segment files of checksummed records
// (record.ts), written by the Journal (journal.ts, the fsync policy). A message is appended
// before the local sender gets its PUBACK/PUBREC; PUBREC from the edge (QoS 2) and the edge's
// final acknowledgement are appended as they come. In memory the queue keeps only where each
// message's record is (message-index.ts); forwarding reads records back from their segments
// (segments.ts). Recovery (replay.ts) replays the segments; fully acknowledged segments are
// deleted. A spool that cannot store (disk full, read-only, its directory deleted) refuses new
// messages and repairs itself as soon as it can write again.
import { mkdirSync } from 'node:fs';
import { getHeapStatistics } from 'node:v8';
import { Journal, type FsyncPolicy, type Place } from './journal.ts';
import { lockDir, relockDir, unlockDir } from './lock.ts';
import { MessageIndex } from './message-index.ts';
import { decodeMessage, encodeRecord, type SpooledMessage, type SpoolRecord } from './record.ts';
import { HeldIds } from './held-ids.ts';
import { replayDir, type Recovery, type SegmentFile } from './replay.ts';
import { Segments, type RecordPlace } from './segments.ts';
import { readSession, writeSession } from './session-file.ts';

export type { FsyncPolicy } from './journal.ts';
export type { Recovery } from './replay.ts';

export interface SpoolOptions {
  dir: string;
  maxMessages: number;
  maxBytes: number;
  /** Which message goes when full: the one arriving (mosquitto's way) or the oldest. */
  whenFull: 'drop-new' | 'drop-old';
  fsync: FsyncPolicy;
  segmentBytes?: number;
  onDrop?: (m: SpooledMessage, why: string) => void;
  /** Held QoS 2 ids kept in all (default 65,535); past it the session heard of least recently ends. */
  maxHeld?: number;
  onSessionExpired?: (session: string, ids: number) => void;
}

/** A QoS 2 packet id as its sender numbered it: `session` is a device's client id, '' for the bridge's board. */
export interface HeldId {
  session: string;
  id: number;
}

const recordOverhead = 8 + 13;
/**
 * Memory a queued message costs: its index entry (29 bytes, off the JS heap) with the room its
 * columns keep to grow into; topic and payload stay on disk.
 */
const memoryPerMessage = 64;
/** Memory left for everything else the agent holds (idle ~5 MB, 50 clients ~10 MB of heap). */
const memoryReserve = 16 << 20;

/** How many queued messages this Node's memory bound (--max-old-space-size) holds; more could exhaust the board. */
export function memoryMessageLimit(): number {
  return Math.max(1000, Math.floor((getHeapStatistics().heap_size_limit - memoryReserve) / memoryPerMessage));
}
const repairEveryMs = 2_000;
const segmentName = (seq: number): string => `${String(seq).padStart(16, '0')}.seg`;

export class Spool {
  /** Unacknowledged messages in order (places, not contents); acknowledged ones leave from the head. */
  private index = new MessageIndex();
  /** Senders' QoS 2 ids; at most `maxHeld` in all (a session holds at most 65,535, one per packet id). */
  private held = new HeldIds();
  private bytes = 0;
  private nextSeq = 1;
  private ackedSeq = 0;
  private readonly segments: Segments;
  private readonly journal: Journal;
  private repairTimer?: ReturnType<typeof setTimeout>;
  /** The client id whose session at the edge this spool's packet ids belong to (see claimSession). */
  sessionOwner?: string;
  dropped = 0;
  /** Messages whose record could not be read back intact when forwarded (damaged on the medium since). */
  unreadable = 0;
  /** A message is stored (per the fsync policy) and may be forwarded. */
  onStored: () => void = () => {};
  /** The spool cannot store: new messages are refused until it is repaired. */
  onBroken: (err: Error) => void = () => {};
  onRepaired: (rewritten: number) => void = () => {};
  /** Message `seq` could not be read back intact (`why`): it is lost and leaves the queue. */
  onUnreadable: (seq: number, why: string) => void = () => {};

  /** What --spool-max-messages was before it was lowered to what the memory bound holds, if it was. */
  readonly loweredFrom?: number;

  constructor(readonly opts: SpoolOptions) {
    const limit = memoryMessageLimit();
    if (opts.maxMessages > limit) {
      this.loweredFrom = opts.maxMessages;
      opts.maxMessages = limit;
    }
    // A full spool spans at most ~256 segments, each one open file.
    const segmentBytes = opts.segmentBytes ?? Math.max(1 << 20, Math.ceil(opts.maxBytes / 256));
    this.segments = new Segments(opts.dir);
    const name = () => segmentName(this.nextSeq);
    const opened = (n: string) => this.segments.opened(n, this.nextSeq - 1);
    this.journal = new Journal(opts.dir, opts.fsync, segmentBytes, name, opened, () => this.held.records());
  }

  /** Reads what a previous run left (skipping damaged records), then opens a fresh segment. */
  open(): Recovery {
    mkdirSync(this.opts.dir, { recursive: true });
    lockDir(this.opts.dir);
    const r = replayDir(this.opts.dir);
    Object.assign(this, { index: r.index, ackedSeq: r.ackedSeq, nextSeq: r.nextSeq, held: r.held });
    this.segments.adopt(r.segments);
    this.bytes = 0;
    for (let i = this.index.start; i < this.index.end; i++) this.bytes += this.index.recordLength(i);
    this.sessionOwner = readSession(this.opts.dir);
    try {
      this.journal.open(segmentName(this.nextSeq));
    } catch (err) {
      this.segments.closeAll();
      throw err;
    }
    this.segments.compact(this.ackedSeq);
    return r.recovery;
  }

  get depth(): number {
    return this.index.length;
  }

  get size(): number {
    return this.bytes;
  }

  /** Why the spool cannot store right now, if it cannot. */
  get broken(): Error | undefined {
    return this.journal.broken;
  }

  /**
   * Resolves true once stored per the fsync policy, false if dropped (full); rejects if it cannot be
   * stored. `held`: the QoS 2 packet id it came with and its sender's session, stored in the same
   * write, so that a resend of that id is known for a duplicate until `free`, also after a restart.
   */
  async append(m: Omit<SpooledMessage, 'seq'>, held?: HeldId): Promise<boolean> {
    if (this.journal.broken) throw this.journal.broken;
    const length = recordSize(m);
    if (!this.makeRoom(m, length)) return false;
    const seq = this.nextSeq++;
    this.index.push(seq, length, m.qos, m.retain);
    this.bytes += length;
    try {
      const message = { seq, topic: m.topic, payload: m.payload, qos: m.qos, retain: m.retain };
      const stored = this.journal.write(encodeRecord({ kind: 'message', message }));
      if (held) {
        this.hold(held);
        this.placed(seq, (await Promise.all([stored, this.journal.write(encodeRecord({ kind: 'held', seq: held.id, session: held.session }))]))[0]);
      } else this.placed(seq, await stored);
    } catch (err) {
      this.unqueue(seq, length);
      if (held) this.held.free(held.session, held.id); // not acknowledged: the id is the sender's again
      if (seq === this.nextSeq - 1) this.nextSeq--; // no gap that a replay would report as lost
      this.broke();
      throw err;
    }
    this.onStored();
    return true;
  }

  /**
   * Up to `limit` stored, unacknowledged messages after `afterSeq`, in order, read back from their
   * segments (neighbours together, segments.ts). One whose record is no longer intact is lost
   * alone: counted, reported (onUnreadable) and acknowledged, and the ones after it come.
   */
  after(afterSeq: number, limit: number): SpooledMessage[] {
    const ix = this.index;
    const places: RecordPlace[] = [];
    for (let i = ix.firstAfter(afterSeq); i < ix.end && places.length < limit; i++) {
      if (ix.done(i)) continue;
      if (!ix.stored(i)) break; // still being written: it and what follows come next time
      places.push({ seq: ix.seq(i), segment: ix.segment(i), offset: ix.offset(i), length: ix.recordLength(i) });
    }
    const out: SpooledMessage[] = [];
    const lost: Array<[number, string]> = [];
    this.segments.readAll(places, (p) => this.storedEnd(p)).forEach((record, k) => {
      const m = record instanceof Error ? undefined : decodeMessage(record);
      if (m?.seq === places[k].seq) out.push(m);
      else lost.push([places[k].seq, record instanceof Error ? record.message : 'checksum mismatch']);
    });
    for (const [seq, why] of lost) this.lose(seq, why);
    return out;
  }

  /** Where the run of stored records from `p` on in its segment ends (at most 64 KiB on): how far a read may go ahead. */
  private storedEnd(p: RecordPlace): number {
    const ix = this.index;
    let end = p.offset + p.length;
    for (let i = ix.find(p.seq) + 1; i > 0 && i < ix.end && ix.stored(i) && ix.segment(i) === p.segment && end - p.offset < 64 << 10; i++) {
      if (ix.offset(i) >= end) end = ix.offset(i) + ix.recordLength(i);
    }
    return end;
  }

  private lose(seq: number, why: string): void {
    this.unreadable++;
    this.onUnreadable(seq, why);
    this.ack(seq);
  }

  /** The edge answered PUBREC for QoS 2 message `seq`: from now on only PUBREL is owed. */
  markReleased(seq: number): Promise<void> {
    const i = this.index.find(seq);
    if (i >= 0) this.index.markReleased(i);
    return this.record({ kind: 'released', seq });
  }

  /** Whether `session` sent QoS 2 packet id `id`, stored and not yet released. */
  isHeld(session: string, id: number): boolean {
    return this.held.has(session, id);
  }

  /** How many QoS 2 packet ids `session` holds. */
  heldCountOf(session: string): number {
    return this.held.countOf(session);
  }

  /** The QoS 2 packet ids `session` holds (a copy). */
  heldIds(session: string): Set<number> {
    return this.held.ids(session);
  }

  /** `session` released QoS 2 packet id `id` (PUBREL): resolves once that is stored. */
  free(session: string, id: number): Promise<void> {
    if (!this.held.free(session, id)) return Promise.resolve();
    return this.record({ kind: 'freed', seq: id, session });
  }

  /** `session` ended (a clean connect, or a session that ends with its connection): its ids are free. */
  endSession(session: string): Promise<void> {
    if (this.held.end(session) === 0) return Promise.resolve();
    return this.record({ kind: 'ended', seq: 0, session });
  }

  private hold(h: HeldId): void {
    // Full: the session heard of least recently ends (its resends would be stored again: at least once).
    const full = this.held.has(h.session, h.id) ? [] : this.held.oldest(this.opts.maxHeld ?? 65_535, h.session);
    for (const [session, ids] of full) {
      this.opts.onSessionExpired?.(session, ids);
      void this.endSession(session).catch(() => {});
    }
    this.held.hold(h.session, h.id);
  }

  isReleased(seq: number): boolean {
    const i = this.index.find(seq);
    return i >= 0 && this.index.released(i);
  }

  /** The edge has message `seq`; the head of the queue moves past every finished message. */
  ack(seq: number): void {
    const i = seq > this.ackedSeq ? this.index.find(seq) : -1;
    if (i < 0 || this.index.done(i)) return;
    this.index.markDone(i);
    let moved = false;
    while (this.index.length > 0 && this.index.done(this.index.start)) {
      this.bytes -= this.index.recordLength(this.index.start);
      this.ackedSeq = this.index.seq(this.index.start);
      this.index.shift();
      moved = true;
    }
    // Done ahead of older messages: said on its own, so a restart does not send it again.
    void this.record(moved ? { kind: 'ack', seq: this.ackedSeq } : { kind: 'done', seq }).catch(() => {});
    if (moved) this.segments.compact(this.ackedSeq);
  }

  /** Records that this spool's packet ids now own `clientId`'s session at the edge. */
  claimSession(clientId: string): void {
    writeSession(this.opts.dir, clientId);
    this.sessionOwner = clientId;
  }

  /** Writes what is pending and closes the files. */
  async close(): Promise<void> {
    clearTimeout(this.repairTimer);
    await this.journal.close();
    this.segments.closeAll();
    unlockDir(this.opts.dir);
  }

  private record(r: SpoolRecord): Promise<void> {
    return this.journal.write(encodeRecord(r)).then(
      () => {},
      (err) => {
        this.broke();
        throw err;
      },
    );
  }

  /** The record of message `seq` is at `place`: from now on it can be read back and forwarded. */
  private placed(seq: number, place: Place): void {
    const i = this.index.find(seq);
    const segment = this.segments.byName(place.segment);
    if (i >= 0 && segment) this.index.place(i, segment.id, place.offset);
  }

  private makeRoom(m: Omit<SpooledMessage, 'seq'>, length: number): boolean {
    const full = () => this.index.length + 1 > this.opts.maxMessages || this.bytes + length > this.opts.maxBytes;
    if (length > this.opts.maxBytes) return this.drop(m, 'larger than the whole spool');
    if (!full()) return true;
    if (this.opts.whenFull === 'drop-new') return this.drop(m, 'spool full');
    while (full() && this.index.length > 0) {
      const oldest = this.index.start;
      const seq = this.index.seq(oldest);
      const unread = { topic: '(not readable)', payload: new Uint8Array(0), qos: this.index.qos(oldest), retain: false };
      this.drop(this.readOne(oldest) ?? unread, 'spool full, oldest dropped');
      this.ack(seq);
    }
    return true;
  }

  /** The message at slot `i` read back, if it is stored and intact. */
  private readOne(i: number): SpooledMessage | undefined {
    if (!this.index.stored(i)) return undefined;
    try {
      return decodeMessage(this.segments.read(this.index.segment(i), this.index.offset(i), this.index.recordLength(i)));
    } catch {
      return undefined;
    }
  }

  private drop(m: Omit<SpooledMessage, 'seq'>, why: string): false {
    this.dropped++;
    this.opts.onDrop?.({ seq: 0, ...m }, why);
    return false;
  }

  private unqueue(seq: number, length: number): void {
    const i = this.index.find(seq);
    if (i < 0) return;
    this.index.remove(i);
    this.bytes -= length;
  }

  private broke(): void {
    if (this.repairTimer || !this.journal.broken) return;
    this.onBroken(this.journal.broken);
    this.repairTimer = setTimeout(() => this.repair(), repairEveryMs);
  }

  /** A fresh segment; messages whose segments were lost with the directory are written to it again. */
  private repair(): void {
    this.repairTimer = undefined;
    try {
      mkdirSync(this.opts.dir, { recursive: true });
      relockDir(this.opts.dir);
      const lost = this.segments.lost();
      this.journal.open(segmentName(this.nextSeq));
      const rewritten = lost.length > 0 ? this.rewrite(lost) : 0;
      this.onRepaired(rewritten);
    } catch {
      this.repairTimer = setTimeout(() => this.repair(), repairEveryMs);
    }
  }

  /**
   * Copies every owed message whose segment is `lost` (still open here) into the journal's fresh
   * segment, with its PUBREC mark, and syncs it; only then are the lost segments let go. Returns how many.
   */
  private rewrite(lost: SegmentFile[]): number {
    if (this.sessionOwner) this.claimSession(this.sessionOwner);
    const ids = new Set(lost.map((s) => s.id));
    const target = this.segments.byName(this.journal.name)!;
    let n = 0;
    for (let i = this.index.start; i < this.index.end; i++) {
      if (this.index.done(i) || !ids.has(this.index.segment(i))) continue;
      const record = this.segments.read(this.index.segment(i), this.index.offset(i), this.index.recordLength(i));
      this.index.place(i, target.id, this.journal.appendSync(record));
      if (this.index.released(i)) this.journal.appendSync(encodeRecord({ kind: 'released', seq: this.index.seq(i) }));
      n++;
    }
    this.journal.syncNow();
    this.segments.forget(lost);
    return n;
  }
}

const recordSize = (m: Omit<SpooledMessage, 'seq'>): number => recordOverhead + Buffer.byteLength(m.topic) + m.payload.length;
