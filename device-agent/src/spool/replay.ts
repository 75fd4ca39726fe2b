// Recovery: reads every segment of a spool directory and rebuilds what is still owed to the edge.
// A damaged or torn record is skipped alone (record.ts); a torn tail is cut off so that nothing is
// appended after it. What was skipped is reported: bytes, places, and messages whose number is missing.
import { readdirSync, readFileSync, statSync, truncateSync } from 'node:fs';
import { join } from 'node:path';
import { decodeRecords, type SpooledMessage } from './record.ts';

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

export interface Replayed {
  queue: SpooledMessage[];
  released: Set<number>;
  /** QoS 2 packet ids not yet released by their sender's PUBREL, per sender session (in the order last heard of). */
  held: Map<string, Set<number>>;
  ackedSeq: number;
  nextSeq: number;
  segments: Array<{ name: string; lastSeq: number }>;
  recovery: Recovery;
}

export function replayDir(dir: string): Replayed {
  const messages = new Map<number, SpooledMessage>();
  const done = new Set<number>();
  const releasedSeqs = new Set<number>();
  const held = new Map<string, Set<number>>();
  const segments: Replayed['segments'] = [];
  const topics = new Map<string, string>();
  let ackedSeq = 0;
  let nextSeq = 1;
  let damagedBytes = 0;
  let damagedPlaces = 0;
  let tornTailOnly = true;
  const names = readdirSync(dir).filter((n) => /^\d{16}\.seg$/.test(n) && statSync(join(dir, n)).isFile()).sort();
  for (const [i, name] of names.entries()) {
    const file = join(dir, name);
    const buf = readFileSync(file);
    const { records, damaged } = decodeRecords(buf);
    nextSeq = Math.max(nextSeq, Number(name.slice(0, 16)));
    let lastSeq = 0;
    for (const r of records) {
      if (r.kind === 'message') {
        r.message.topic = intern(topics, r.message.topic); // one string per topic, not per message
        messages.set(r.message.seq, r.message); // a copy written again by a repair has the same seq
        lastSeq = Math.max(lastSeq, r.message.seq);
      } else if (r.kind === 'ack') ackedSeq = Math.max(ackedSeq, r.seq);
      else if (r.kind === 'held') holdId(held, r.session, r.seq);
      else if (r.kind === 'freed') freeId(held, r.session, r.seq);
      else if (r.kind === 'ended') held.delete(r.session);
      else (r.kind === 'done' ? done : releasedSeqs).add(r.seq);
    }
    for (const d of damaged) {
      damagedBytes += d.bytes;
      damagedPlaces++;
      const tail = d.at + d.bytes === buf.length;
      if (!(tail && i === names.length - 1)) tornTailOnly = false;
      if (tail) truncateSync(file, d.at); // nothing is ever appended after a torn record
    }
    segments.push({ name, lastSeq });
    nextSeq = Math.max(nextSeq, lastSeq + 1);
  }
  nextSeq = Math.max(nextSeq, ackedSeq + 1);
  const queue = [...messages.values()].filter((m) => m.seq > ackedSeq && !done.has(m.seq)).sort((a, b) => a.seq - b.seq);
  const released = new Set(queue.filter((m) => releasedSeqs.has(m.seq)).map((m) => m.seq));
  let missing = 0;
  let top = ackedSeq;
  for (const seq of messages.keys()) top = Math.max(top, seq);
  for (let seq = ackedSeq + 1; seq <= top; seq++) if (!messages.has(seq) && !done.has(seq)) missing++;
  return { queue, released, held, ackedSeq, nextSeq, segments, recovery: { recovered: queue.length, damagedBytes, damagedPlaces, tornTailOnly: damagedPlaces > 0 && tornTailOnly, missing } };
}

function intern(topics: Map<string, string>, topic: string): string {
  const known = topics.get(topic);
  if (known !== undefined) return known;
  if (topics.size < 10_000) topics.set(topic, topic);
  return topic;
}

/** Adds `id` to `session`'s held ids and makes `session` the most recently heard of. */
export function holdId(held: Map<string, Set<number>>, session: string, id: number): void {
  const ids = held.get(session) ?? new Set<number>();
  held.delete(session);
  held.set(session, ids.add(id));
}

export function freeId(held: Map<string, Set<number>>, session: string, id: number): boolean {
  const ids = held.get(session);
  if (!ids?.delete(id)) return false;
  if (ids.size === 0) held.delete(session);
  return true;
}
