// Recovery: reads every segment of a spool directory and rebuilds what is still owed to the edge.
// A damaged or torn record is skipped alone (record.ts); a torn tail is cut off so that nothing is
// appended after it. What was skipped is reported: bytes, places, and messages whose number is missing.
import { closeSync, openSync, readdirSync, readSync, statSync, truncateSync } from 'node:fs';
import { join } from 'node:path';
import { HeldIds } from './held-ids.ts';
import { MessageIndex } from './message-index.ts';
import { scanRecords } from './record.ts';

export interface Recovery {
  /** Messages still owed to the edge. */
  recovered: number;
  /** Bytes that held no intact record, and in how many places. */
  damagedBytes: number;
  damagedPlaces: number;
  /** Whether the damage is only a record torn at the end of the last segment (a power cut mid-write). */
  tornTailOnly: boolean;
  /** Messages after the last acknowledgement whose records are gone (numbers missing from the run). */
  missing: number;
}

/** A segment file; `fd` stays open for reading until the segment is deleted (its records stay readable if the directory goes). */
export interface SegmentFile {
  id: number;
  name: string;
  lastSeq: number;
  fd: number;
}

export interface Replayed {
  /** Messages still owed, by number, with their released (PUBREC recorded) flags. */
  index: MessageIndex;
  /** QoS 2 packet ids not yet released by their sender's PUBREL, per sender session (in the order last heard of). */
  held: HeldIds;
  ackedSeq: number;
  nextSeq: number;
  segments: SegmentFile[];
  recovery: Recovery;
}

/** Reads the segments of `dir` in order; only the places of messages are kept, never their contents. */
export function replayDir(dir: string): Replayed {
  const index = new MessageIndex();
  const done: number[] = [];
  const released: number[] = [];
  const held = new HeldIds();
  const segments: SegmentFile[] = [];
  const marks = { ackedSeq: 0, nextSeq: 1, damagedBytes: 0, damagedPlaces: 0, tornTailOnly: true };
  const names = readdirSync(dir).filter((n) => /^\d{16}\.seg$/.test(n) && statSync(join(dir, n)).isFile()).sort();
  // One buffer for every segment in turn (the index keeps offsets, never views): no garbage the size of the spool.
  const buf = Buffer.allocUnsafe(Math.max(0, ...names.map((n) => statSync(join(dir, n)).size)));
  try {
    for (const [i, name] of names.entries()) segments.push(replaySegment(dir, name, i + 1, i === names.length - 1, { index, done, released, held, marks, buf }));
  } catch (err) {
    for (const s of segments) closeSync(s.fd);
    throw err;
  }
  const { ackedSeq } = marks;
  const nextSeq = Math.max(marks.nextSeq, ackedSeq + 1);
  index.sortUnique();
  const missing = countMissing(index, sortUnique(done), ackedSeq);
  const isDone = member(done);
  index.filter((i) => index.seq(i) > ackedSeq && !isDone(index.seq(i)));
  const isReleased = member(sortUnique(released));
  for (let i = index.start; i < index.end; i++) if (isReleased(index.seq(i))) index.markReleased(i);
  const { damagedBytes, damagedPlaces } = marks;
  const recovery = { recovered: index.length, damagedBytes, damagedPlaces, tornTailOnly: damagedPlaces > 0 && marks.tornTailOnly, missing };
  return { index, held, ackedSeq, nextSeq, segments, recovery };
}

interface ReplayState {
  index: MessageIndex;
  done: number[];
  released: number[];
  held: HeldIds;
  buf: Buffer;
  marks: { ackedSeq: number; nextSeq: number; damagedBytes: number; damagedPlaces: number; tornTailOnly: boolean };
}

/** One segment: its records into `st`; a torn tail is cut off (nothing is ever appended after a torn record). */
function replaySegment(dir: string, name: string, id: number, last: boolean, st: ReplayState): SegmentFile {
  const file = join(dir, name);
  const fd = openSync(file, 'r');
  const buf = readInto(fd, st.buf);
  const { index, marks } = st;
  marks.nextSeq = Math.max(marks.nextSeq, Number(name.slice(0, 16)));
  let lastSeq = 0;
  const damaged = scanRecords(buf, (r) => {
    if (r.kind === 'message') {
      index.push(r.seq, r.length, r.qos, r.retain);
      index.place(index.end - 1, id, r.at);
      lastSeq = Math.max(lastSeq, r.seq);
    } else if (r.kind === 'ack') marks.ackedSeq = Math.max(marks.ackedSeq, r.seq);
    else if (r.kind === 'held') st.held.hold(r.session, r.seq);
    else if (r.kind === 'freed') st.held.free(r.session, r.seq);
    else if (r.kind === 'ended') st.held.end(r.session);
    else (r.kind === 'done' ? st.done : st.released).push(r.seq);
  });
  for (const d of damaged) {
    marks.damagedBytes += d.bytes;
    marks.damagedPlaces++;
    const tail = d.at + d.bytes === buf.length;
    if (!(tail && last)) marks.tornTailOnly = false;
    if (tail) truncateSync(file, d.at);
  }
  marks.nextSeq = Math.max(marks.nextSeq, lastSeq + 1);
  return { id, name, lastSeq, fd };
}

/** The whole file `fd` (as long as `into` at most), read into the start of `into`. */
function readInto(fd: number, into: Buffer): Buffer {
  let got = 0;
  for (let n = 1; n > 0 && got < into.length; got += n) n = readSync(fd, into, got, into.length - got, got);
  return into.subarray(0, got);
}

/** Numbers after the last acknowledgement, up to the highest message, that neither a message nor a done mark holds. */
function countMissing(index: MessageIndex, done: number[], ackedSeq: number): number {
  if (index.length === 0) return 0;
  const top = index.seq(index.end - 1);
  let present = 0;
  for (let i = index.firstAfter(ackedSeq); i < index.end; i++) present++;
  const isMessage = (seq: number) => index.find(seq) >= 0;
  for (const seq of done) if (seq > ackedSeq && seq <= top && !isMessage(seq)) present++;
  return Math.max(0, top - ackedSeq - present);
}

const sortUnique = (seqs: number[]): number[] => [...new Set(seqs.sort((a, b) => a - b))];

/** A membership test over sorted numbers asked in increasing order. */
function member(sorted: number[]): (seq: number) => boolean {
  let k = 0;
  return (seq) => {
    while (k < sorted.length && sorted[k] < seq) k++;
    return sorted[k] === seq;
  };
}
