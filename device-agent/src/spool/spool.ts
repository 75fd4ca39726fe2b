// Store-and-forward queue on disk: append-only segment files of checksummed records
// (record.ts). A message is appended before the local sender gets its PUBACK/PUBREC, and an ack
// record is appended once the edge has it. Recovery replays the segments; fully acknowledged
// segments are deleted. The fsync policy lives in flush() and nowhere else:
//   always  one fdatasync per batch of appends, before any of them is acknowledged (group commit)
//   <ms>    appends are acknowledged once written; fdatasync at most every <ms> milliseconds
//   never   written to the OS at once, synced when the OS decides (survives a crash, not a power cut)
import { closeSync, fdatasyncSync, fsyncSync, mkdirSync, openSync, readdirSync, readFileSync, truncateSync, unlinkSync } from 'node:fs';
import { write as writeAsync, fdatasync as fdatasyncAsync } from 'node:fs';
import { join } from 'node:path';
import { concat } from '../frame.ts';
import { decodeRecords, encodeRecord, type SpooledMessage, type SpoolRecord } from './record.ts';
import { lockDir, unlockDir } from './lock.ts';

export type FsyncPolicy = 'always' | 'never' | number;

export interface SpoolOptions {
  dir: string;
  maxMessages: number;
  maxBytes: number;
  /** Which message goes when full: the one arriving (mosquitto's way) or the oldest. */
  whenFull: 'drop-new' | 'drop-old';
  fsync: FsyncPolicy;
  segmentBytes?: number;
  onDrop?: (m: SpooledMessage, why: string) => void;
}

interface Segment {
  name: string;
  lastSeq: number;
}

const recordOverhead = 8 + 13;

export class Spool {
  /** Unacknowledged messages in order; acknowledged ones leave from the head. */
  private queue: SpooledMessage[] = [];
  private done = new Set<number>();
  private bytes = 0;
  private nextSeq = 1;
  private ackedSeq = 0;
  private segments: Segment[] = [];
  private fd = -1;
  private activeSize = 0;
  private batch: Uint8Array[] = [];
  private waiters: Array<() => void> = [];
  private flushing?: Promise<void>;
  private syncTimer?: ReturnType<typeof setTimeout>;
  private dirty = false;
  dropped = 0;
  onAppend: () => void = () => {};

  constructor(readonly opts: SpoolOptions) {}

  /** Reads what a previous run left (cutting torn records), then opens a fresh segment. */
  open(): { recovered: number; truncated: number } {
    mkdirSync(this.opts.dir, { recursive: true });
    lockDir(this.opts.dir);
    let truncated = 0;
    for (const name of readdirSync(this.opts.dir).filter((n) => /^\d{16}\.seg$/.test(n)).sort()) {
      const file = join(this.opts.dir, name);
      const buf = readFileSync(file);
      const { records, end } = decodeRecords(buf);
      if (end < buf.length) {
        truncateSync(file, end);
        truncated += buf.length - end;
      }
      this.replay(records);
      this.segments.push({ name, lastSeq: this.nextSeq - 1 });
    }
    this.queue = this.queue.filter((m) => m.seq > this.ackedSeq);
    this.bytes = this.queue.reduce((n, m) => n + size(m), 0);
    this.startSegment();
    this.compact();
    return { recovered: this.queue.length, truncated };
  }

  get depth(): number {
    return this.queue.length;
  }

  get size(): number {
    return this.bytes;
  }

  /** Appends; resolves true once stored per the fsync policy, false if the message was dropped. */
  append(m: Omit<SpooledMessage, 'seq'>): Promise<boolean> {
    const msg: SpooledMessage = { ...m, seq: this.nextSeq++ };
    if (!this.makeRoom(msg)) return Promise.resolve(false);
    this.queue.push(msg);
    this.bytes += size(msg);
    this.write({ kind: 'message', message: msg });
    this.onAppend();
    return new Promise((resolve) => this.waiters.push(() => resolve(true)));
  }

  /** Up to `limit` unacknowledged messages after `afterSeq`, in order. */
  after(afterSeq: number, limit: number): SpooledMessage[] {
    const out: SpooledMessage[] = [];
    for (const m of this.queue) {
      if (out.length >= limit) break;
      if (m.seq > afterSeq && !this.done.has(m.seq)) out.push(m);
    }
    return out;
  }

  /** The edge has message `seq`; the head of the queue moves past every finished message. */
  ack(seq: number): void {
    if (seq <= this.ackedSeq) return;
    this.done.add(seq);
    let moved = false;
    while (this.queue.length > 0 && this.done.has(this.queue[0].seq)) {
      const m = this.queue.shift()!;
      this.done.delete(m.seq);
      this.bytes -= size(m);
      this.ackedSeq = m.seq;
      moved = true;
    }
    if (!moved) return;
    this.write({ kind: 'ack', seq: this.ackedSeq });
    this.compact();
  }

  /** Writes what is pending and closes the files. */
  async close(): Promise<void> {
    clearTimeout(this.syncTimer);
    while (this.flushing || this.batch.length) await (this.flushing ?? this.flush());
    if (this.fd >= 0) {
      if (this.opts.fsync !== 'never') fdatasyncSync(this.fd);
      closeSync(this.fd);
      this.fd = -1;
    }
    unlockDir(this.opts.dir);
  }

  private replay(records: SpoolRecord[]): void {
    for (const r of records) {
      if (r.kind === 'ack') this.ackedSeq = Math.max(this.ackedSeq, r.seq);
      else {
        this.queue.push(r.message);
        this.nextSeq = Math.max(this.nextSeq, r.message.seq + 1);
      }
    }
    this.nextSeq = Math.max(this.nextSeq, this.ackedSeq + 1);
  }

  private makeRoom(msg: SpooledMessage): boolean {
    const full = () => this.queue.length + 1 > this.opts.maxMessages || this.bytes + size(msg) > this.opts.maxBytes;
    if (size(msg) > this.opts.maxBytes) return this.drop(msg, 'larger than the whole spool');
    if (!full()) return true;
    if (this.opts.whenFull === 'drop-new') return this.drop(msg, 'spool full');
    while (full() && this.queue.length > 0) {
      const oldest = this.queue[0];
      this.drop(oldest, 'spool full, oldest dropped');
      this.ack(oldest.seq);
    }
    return true;
  }

  private drop(m: SpooledMessage, why: string): false {
    this.dropped++;
    this.opts.onDrop?.(m, why);
    return false;
  }

  private write(r: SpoolRecord): void {
    this.batch.push(encodeRecord(r));
    if (!this.flushing) this.flushing = new Promise((r) => setImmediate(r)).then(() => this.flush());
  }

  /** The one place that writes and syncs (see the policy at the top of this file). */
  private async flush(): Promise<void> {
    while (this.batch.length > 0) {
      const bytes = concat(this.batch.splice(0));
      const waiters = this.waiters.splice(0);
      await writeAll(this.fd, bytes);
      this.activeSize += bytes.length;
      if (this.opts.fsync === 'always') await new Promise((r) => fdatasyncAsync(this.fd, r));
      else if (typeof this.opts.fsync === 'number') this.scheduleSync(this.opts.fsync);
      this.segments[this.segments.length - 1].lastSeq = this.nextSeq - 1;
      for (const w of waiters) w();
      if (this.activeSize > (this.opts.segmentBytes ?? 1 << 20)) this.startSegment();
    }
    this.flushing = undefined;
  }

  private scheduleSync(ms: number): void {
    this.dirty = true;
    if (this.syncTimer) return;
    this.syncTimer = setTimeout(() => {
      this.syncTimer = undefined;
      if (this.dirty && this.fd >= 0) fdatasyncSync(this.fd);
      this.dirty = false;
    }, ms);
  }

  private startSegment(): void {
    if (this.fd >= 0) {
      if (this.opts.fsync !== 'never') fdatasyncSync(this.fd);
      closeSync(this.fd);
    }
    const name = `${String(this.nextSeq).padStart(16, '0')}.seg`;
    this.fd = openSync(join(this.opts.dir, name), 'a');
    this.activeSize = 0;
    this.segments = this.segments.filter((s) => s.name !== name);
    this.segments.push({ name, lastSeq: this.nextSeq - 1 });
    if (this.opts.fsync === 'always') syncDir(this.opts.dir); // the new file's name survives a power cut
  }

  /** Deletes segments whose every message is acknowledged, except the one being written. */
  private compact(): void {
    while (this.segments.length > 1 && this.segments[0].lastSeq <= this.ackedSeq) {
      unlinkSync(join(this.opts.dir, this.segments.shift()!.name));
    }
  }
}

const size = (m: SpooledMessage): number => recordOverhead + m.topic.length + m.payload.length;

function writeAll(fd: number, bytes: Uint8Array): Promise<void> {
  return new Promise((resolve, reject) => {
    const step = (at: number) =>
      writeAsync(fd, bytes, at, bytes.length - at, null, (err, n) => (err ? reject(err) : at + n < bytes.length ? step(at + n) : resolve()));
    step(0);
  });
}

function syncDir(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}
