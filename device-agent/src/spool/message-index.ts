// The spool's queue in memory: for each unacknowledged message only where its record is (segment,
// offset, length), its number, QoS and flags, in columns of typed arrays (29 bytes a message, off
// the JS heap, no object per message). Topics and payloads stay in the segment files until forwarded.
// Positions are absolute slots between `start` and `end`; they stay valid until the next push,
// shift or remove.
import type { QoS } from '../codec.ts';

const qosBits = 3;
const retainBit = 4;
const doneBit = 8;
const releasedBit = 16;
const storedBit = 32;
const minCapacity = 64;

export class MessageIndex {
  start = 0;
  end = 0;
  private seqs = new Float64Array(minCapacity);
  private segments = new Float64Array(minCapacity);
  private offsets = new Float64Array(minCapacity);
  private lengths = new Uint32Array(minCapacity);
  private flags = new Uint8Array(minCapacity);

  get length(): number {
    return this.end - this.start;
  }

  /** Adds message `seq` (larger than any before it) of `length` record bytes, not yet stored. */
  push(seq: number, length: number, qos: QoS, retain: boolean): void {
    if (this.end === this.seqs.length) this.resize(Math.max(minCapacity, this.length * 2));
    const i = this.end++;
    this.seqs[i] = seq;
    this.segments[i] = -1;
    this.offsets[i] = -1;
    this.lengths[i] = length;
    this.flags[i] = qos | (retain ? retainBit : 0);
  }

  /** The record of the message at `i` is stored in `segment` (an id) at `offset`. */
  place(i: number, segment: number, offset: number): void {
    this.segments[i] = segment;
    this.offsets[i] = offset;
    this.flags[i] |= storedBit;
  }

  /** The slot of message `seq`, or -1. */
  find(seq: number): number {
    const i = this.firstAfter(seq - 1);
    return i < this.end && this.seqs[i] === seq ? i : -1;
  }

  /** The first slot whose message number is above `seq` (`end` if none). */
  firstAfter(seq: number): number {
    let lo = this.start;
    let hi = this.end;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.seqs[mid] <= seq) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  seq = (i: number): number => this.seqs[i];
  segment = (i: number): number => this.segments[i];
  offset = (i: number): number => this.offsets[i];
  recordLength = (i: number): number => this.lengths[i];
  qos = (i: number): QoS => (this.flags[i] & qosBits) as QoS;
  retain = (i: number): boolean => (this.flags[i] & retainBit) !== 0;
  stored = (i: number): boolean => (this.flags[i] & storedBit) !== 0;
  done = (i: number): boolean => (this.flags[i] & doneBit) !== 0;
  released = (i: number): boolean => (this.flags[i] & releasedBit) !== 0;
  markDone = (i: number): void => void (this.flags[i] |= doneBit);
  markReleased = (i: number): void => void (this.flags[i] |= releasedBit);

  /** Drops the first message. */
  shift(): void {
    this.start++;
    if (this.start === this.end) this.start = this.end = 0;
    if (this.seqs.length > minCapacity * 4 && this.length < this.seqs.length / 4) this.resize(this.seqs.length / 2);
  }

  /** Drops the message at `i`. */
  remove(i: number): void {
    for (const col of this.columns()) col.copyWithin(i, i + 1, this.end);
    this.end--;
    if (this.start === this.end) this.start = this.end = 0;
  }

  /** Keeps only the messages `keep` says yes to, in order. */
  filter(keep: (i: number) => boolean): void {
    let to = this.start;
    for (let i = this.start; i < this.end; i++) {
      if (!keep(i)) continue;
      if (to !== i) for (const col of this.columns()) col[to] = col[i];
      to++;
    }
    this.end = to;
  }

  /**
   * Orders the messages by number after a replay read them in file order, keeping the last copy of
   * a number that appears twice (written again by a repair).
   */
  sortUnique(): void {
    let sorted = true;
    for (let i = this.start + 1; i < this.end && sorted; i++) sorted = this.seqs[i - 1] < this.seqs[i];
    if (sorted) return;
    const order = new Uint32Array(this.length).map((_, k) => this.start + k);
    order.sort((a, b) => this.seqs[a] - this.seqs[b] || b - a);
    const cols = this.columns();
    const copies = cols.map((c) => c.slice());
    const seqs = copies[0];
    let to = this.start;
    for (let k = 0; k < order.length; k++) {
      if (k > 0 && seqs[order[k]] === seqs[order[k - 1]]) continue;
      for (let c = 0; c < cols.length; c++) cols[c][to] = copies[c][order[k]];
      to++;
    }
    this.end = to;
  }

  private columns(): Array<Float64Array | Uint32Array | Uint8Array> {
    return [this.seqs, this.segments, this.offsets, this.lengths, this.flags];
  }

  /** Moves the messages to the front of new columns of `capacity` slots. */
  private resize(capacity: number): void {
    const n = this.length;
    const grow = <T extends Float64Array | Uint32Array | Uint8Array>(col: T, make: new (n: number) => T): T => {
      const next = new make(capacity);
      next.set(col.subarray(this.start, this.end));
      return next;
    };
    this.seqs = grow(this.seqs, Float64Array);
    this.segments = grow(this.segments, Float64Array);
    this.offsets = grow(this.offsets, Float64Array);
    this.lengths = grow(this.lengths, Uint32Array);
    this.flags = grow(this.flags, Uint8Array);
    this.start = 0;
    this.end = n;
  }
}
