// Store-and-forward queue on disk: append-only segment files of checksummed records
// (record.ts), written by the Journal (journal.ts, the fsync policy). A message is appended
// before the local sender gets its PUBACK/PUBREC; PUBREC from the edge (QoS 2) and the edge's
// final acknowledgement are appended as they come. Recovery (replay.ts) replays the segments;
// fully acknowledged segments are deleted. A spool that cannot store (disk full, read-only, its
// directory deleted) refuses new messages and repairs itself as soon as it can write again.
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { getHeapStatistics } from 'node:v8';
import { syncDir, Journal, type FsyncPolicy } from './journal.ts';
import { lockDir, relockDir, unlockDir } from './lock.ts';
import { encodeRecord, type SpooledMessage, type SpoolRecord } from './record.ts';
import { concat } from '../frame.ts';
import { freeId, holdId, replayDir, type Recovery } from './replay.ts';

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

interface Segment {
  name: string;
  lastSeq: number;
}

const recordOverhead = 8 + 13;
/** JS heap a queued message costs, its topic string included (measured: ~175 bytes plus the topic on Node 18 and 22). */
const heapPerMessage = 320;
/** Heap left for everything else the agent holds (idle ~5 MB, 50 clients ~10 MB). */
const heapReserve = 16 << 20;

/** How many queued messages fit in this Node's heap (--max-old-space-size); more would abort the process. */
export function heapMessageLimit(): number {
  return Math.max(1000, Math.floor((getHeapStatistics().heap_size_limit - heapReserve) / heapPerMessage));
}
const repairEveryMs = 2_000;
const segmentName = (seq: number): string => `${String(seq).padStart(16, '0')}.seg`;

export class Spool {
  /** Unacknowledged messages in order; acknowledged ones leave from the head. */
  private queue: SpooledMessage[] = [];
  private done = new Set<number>();
  private released = new Set<number>();
  /**
   * QoS 2 packet ids stored and not yet released (PUBREL) per sender session (a device's client id;
   * '' for the bridge's board), least recently heard of first: a resend of one is a duplicate
   * [MQTT-4.3.3]. At most `maxHeld` in all (a session holds at most 65,535, one per packet id).
   */
  private held = new Map<string, Set<number>>();
  private heldCount = 0;
  private bytes = 0;
  private nextSeq = 1;
  private ackedSeq = 0;
  private segments: Segment[] = [];
  private readonly journal: Journal;
  private repairTimer?: ReturnType<typeof setTimeout>;
  /** The client id whose session at the edge this spool's packet ids belong to (see claimSession). */
  sessionOwner?: string;
  dropped = 0;
  /** A message is stored (per the fsync policy) and may be forwarded. */
  onStored: () => void = () => {};
  /** The spool cannot store: new messages are refused until it is repaired. */
  onBroken: (err: Error) => void = () => {};
  onRepaired: (rewritten: number) => void = () => {};

  /** What --spool-max-messages was before it was lowered to what the heap holds, if it was. */
  readonly loweredFrom?: number;

  constructor(readonly opts: SpoolOptions) {
    const limit = heapMessageLimit();
    if (opts.maxMessages > limit) {
      this.loweredFrom = opts.maxMessages;
      opts.maxMessages = limit;
    }
    const name = () => segmentName(this.nextSeq);
    this.journal = new Journal(opts.dir, opts.fsync, opts.segmentBytes ?? 1 << 20, name, (n) => this.segmentOpened(n), () => this.heldRecords());
  }

  /** Reads what a previous run left (skipping damaged records), then opens a fresh segment. */
  open(): Recovery {
    mkdirSync(this.opts.dir, { recursive: true });
    lockDir(this.opts.dir);
    const r = replayDir(this.opts.dir);
    Object.assign(this, { queue: r.queue, ackedSeq: r.ackedSeq, nextSeq: r.nextSeq, segments: r.segments, released: r.released, held: r.held });
    this.heldCount = 0;
    for (const ids of this.held.values()) this.heldCount += ids.size;
    this.bytes = this.queue.reduce((n, m) => n + size(m), 0);
    this.sessionOwner = readSession(this.opts.dir);
    this.journal.open(segmentName(this.nextSeq));
    this.compact();
    return r.recovery;
  }

  get depth(): number {
    return this.queue.length;
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
    if (!this.makeRoom(m)) return false;
    // Spelled out: `{ ...m, seq }` makes a dictionary-mode object, 240 bytes more per queued message.
    const msg: SpooledMessage = { seq: this.nextSeq++, topic: m.topic, payload: m.payload, qos: m.qos, retain: m.retain };
    this.queue.push(msg);
    this.bytes += size(msg);
    try {
      const stored = this.journal.write(encodeRecord({ kind: 'message', message: msg }));
      if (held) {
        this.hold(held);
        await Promise.all([stored, this.journal.write(encodeRecord({ kind: 'held', seq: held.id, session: held.session }))]);
      } else await stored;
    } catch (err) {
      this.unqueue(msg);
      if (held && freeId(this.held, held.session, held.id)) this.heldCount--; // not acknowledged: the id is the sender's again
      if (msg.seq === this.nextSeq - 1) this.nextSeq--; // no gap that a replay would report as lost
      this.broke();
      throw err;
    }
    this.onStored();
    return true;
  }

  /** Up to `limit` stored, unacknowledged messages after `afterSeq`, in order. */
  after(afterSeq: number, limit: number): SpooledMessage[] {
    const out: SpooledMessage[] = [];
    for (const m of this.queue) {
      if (out.length >= limit) break;
      if (m.seq > afterSeq && !this.done.has(m.seq)) out.push(m);
    }
    return out;
  }

  /** The edge answered PUBREC for QoS 2 message `seq`: from now on only PUBREL is owed. */
  markReleased(seq: number): Promise<void> {
    this.released.add(seq);
    return this.record({ kind: 'released', seq });
  }

  /** Whether `session` sent QoS 2 packet id `id`, stored and not yet released. */
  isHeld(session: string, id: number): boolean {
    return this.held.get(session)?.has(id) === true;
  }

  /** How many QoS 2 packet ids `session` holds. */
  heldCountOf(session: string): number {
    return this.held.get(session)?.size ?? 0;
  }

  /** The QoS 2 packet ids `session` holds (a copy). */
  heldIds(session: string): Set<number> {
    return new Set(this.held.get(session));
  }

  /** `session` released QoS 2 packet id `id` (PUBREL): resolves once that is stored. */
  free(session: string, id: number): Promise<void> {
    if (!freeId(this.held, session, id)) return Promise.resolve();
    this.heldCount--;
    return this.record({ kind: 'freed', seq: id, session });
  }

  /** `session` ended (a clean connect, or a session that ends with its connection): its ids are free. */
  endSession(session: string): Promise<void> {
    const ids = this.held.get(session);
    if (!ids) return Promise.resolve();
    this.held.delete(session);
    this.heldCount -= ids.size;
    return this.record({ kind: 'ended', seq: 0, session });
  }

  private hold(h: HeldId): void {
    if (this.isHeld(h.session, h.id)) return holdId(this.held, h.session, h.id);
    // Full: the session heard of least recently ends (its resends would be stored again: at least once).
    for (const [session, ids] of this.held) {
      if (this.heldCount < (this.opts.maxHeld ?? 65_535)) break;
      if (session === h.session) continue;
      this.opts.onSessionExpired?.(session, ids.size);
      void this.endSession(session).catch(() => {});
    }
    holdId(this.held, h.session, h.id);
    this.heldCount++;
  }

  /** Every held id, as the records a new segment starts with (older segments may then go). */
  private heldRecords(): Uint8Array {
    const records: Uint8Array[] = [];
    for (const [session, ids] of this.held) for (const id of ids) records.push(encodeRecord({ kind: 'held', seq: id, session }));
    return concat(records);
  }

  isReleased(seq: number): boolean {
    return this.released.has(seq);
  }

  /** The edge has message `seq`; the head of the queue moves past every finished message. */
  ack(seq: number): void {
    if (seq <= this.ackedSeq || this.done.has(seq)) return;
    this.done.add(seq);
    this.released.delete(seq);
    let moved = false;
    while (this.queue.length > 0 && this.done.has(this.queue[0].seq)) {
      const m = this.queue.shift()!;
      this.done.delete(m.seq);
      this.bytes -= size(m);
      this.ackedSeq = m.seq;
      moved = true;
    }
    // Done ahead of older messages: said on its own, so a restart does not send it again.
    void this.record(moved ? { kind: 'ack', seq: this.ackedSeq } : { kind: 'done', seq }).catch(() => {});
    if (moved) this.compact();
  }

  /** Records that this spool's packet ids now own `clientId`'s session at the edge. */
  claimSession(clientId: string): void {
    const file = join(this.opts.dir, 'session');
    const fd = openSync(`${file}.new`, 'w');
    try {
      writeSync(fd, `${JSON.stringify({ clientId })}\n`);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(`${file}.new`, file);
    syncDir(this.opts.dir);
    this.sessionOwner = clientId;
  }

  /** Writes what is pending and closes the files. */
  async close(): Promise<void> {
    clearTimeout(this.repairTimer);
    await this.journal.close();
    unlockDir(this.opts.dir);
  }

  private record(r: SpoolRecord): Promise<void> {
    return this.journal.write(encodeRecord(r)).catch((err) => {
      this.broke();
      throw err;
    });
  }

  private makeRoom(m: Omit<SpooledMessage, 'seq'>): boolean {
    const full = () => this.queue.length + 1 > this.opts.maxMessages || this.bytes + size(m) > this.opts.maxBytes;
    if (size(m) > this.opts.maxBytes) return this.drop(m, 'larger than the whole spool');
    if (!full()) return true;
    if (this.opts.whenFull === 'drop-new') return this.drop(m, 'spool full');
    while (full() && this.queue.length > 0) {
      const oldest = this.queue[0];
      this.drop(oldest, 'spool full, oldest dropped');
      this.ack(oldest.seq);
    }
    return true;
  }

  private drop(m: Omit<SpooledMessage, 'seq'>, why: string): false {
    this.dropped++;
    this.opts.onDrop?.({ seq: 0, ...m }, why);
    return false;
  }

  private unqueue(msg: SpooledMessage): void {
    const i = this.queue.lastIndexOf(msg);
    if (i < 0) return;
    this.queue.splice(i, 1);
    this.bytes -= size(msg);
  }

  private segmentOpened(name: string): void {
    this.segments = this.segments.filter((s) => s.name !== name);
    this.segments.push({ name, lastSeq: Number.MAX_SAFE_INTEGER });
    if (this.segments.length > 1) this.segments[this.segments.length - 2].lastSeq = this.nextSeq - 1;
  }

  /** Deletes segments whose every message is acknowledged, except the one being written. */
  private compact(): void {
    while (this.segments.length > 1 && this.segments[0].lastSeq <= this.ackedSeq) {
      try {
        unlinkSync(join(this.opts.dir, this.segments.shift()!.name));
      } catch {
        // already gone (the directory was deleted): repair rewrites what is owed
      }
    }
  }

  private broke(): void {
    if (this.repairTimer || !this.journal.broken) return;
    this.onBroken(this.journal.broken);
    this.repairTimer = setTimeout(() => this.repair(), repairEveryMs);
  }

  /** A fresh segment; if segments were lost with the directory, every owed message is written again. */
  private repair(): void {
    this.repairTimer = undefined;
    try {
      mkdirSync(this.opts.dir, { recursive: true });
      relockDir(this.opts.dir);
      const lost = this.segments.some((s) => !existsSync(join(this.opts.dir, s.name)));
      if (lost) this.segments = [];
      this.journal.open(segmentName(this.nextSeq));
      if (lost) this.rewrite();
      this.onRepaired(lost ? this.queue.length : 0);
    } catch {
      this.repairTimer = setTimeout(() => this.repair(), repairEveryMs);
    }
  }

  private rewrite(): void {
    if (this.sessionOwner) this.claimSession(this.sessionOwner);
    for (const m of this.queue) {
      if (this.done.has(m.seq)) continue;
      void this.record({ kind: 'message', message: m }).catch(() => {});
      if (this.released.has(m.seq)) void this.record({ kind: 'released', seq: m.seq }).catch(() => {});
    }
  }
}

const size = (m: Omit<SpooledMessage, 'seq'>): number => recordOverhead + m.topic.length + m.payload.length;

function readSession(dir: string): string | undefined {
  try {
    return JSON.parse(readFileSync(join(dir, 'session'), 'utf8')).clientId;
  } catch {
    return undefined;
  }
}
