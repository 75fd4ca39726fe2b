// The spool's record format. Each record is `u32 length | u32 crc32 | body`, so a record torn by
// a power cut or damaged on the medium is recognised (short, or wrong checksum) and skipped alone.
//   message body:  u8 1 | f64 seq | u8 qos | u8 retain | u16 topic length | topic | payload
//   ack body:      u8 2 | f64 seq   (every message up to seq is done)
//   released body: u8 3 | f64 seq   (the edge sent PUBREC for QoS 2 message seq: only PUBREL is owed)
//   done body:     u8 4 | f64 seq   (message seq alone is done, ahead of older ones)
//   held body:     u8 5 | f64 id [| session]  (the message before it came as QoS 2 with packet id `id`
//                                              from the sender `session`, UTF-8: a device's client id;
//                                              none: the bridge's board); also carried into each new segment
//   freed body:    u8 6 | f64 id [| session]  (the sender released `id`: PUBREL)
//   ended body:    u8 7 | f64 0  | session    (the sender's session ended: every id it held is free)
import type { QoS } from '../codec.ts';

export interface SpooledMessage {
  seq: number;
  topic: string;
  payload: Uint8Array;
  qos: QoS;
  retain: boolean;
}

export type SpoolRecord =
  | { kind: 'message'; message: SpooledMessage }
  | { kind: 'ack' | 'released' | 'done'; seq: number }
  /** `seq` is the sender's packet id; `session` its client id ('' for the bridge's board). */
  | { kind: 'held' | 'freed' | 'ended'; seq: number; session: string };

const markKinds = { ack: 2, released: 3, done: 4, held: 5, freed: 6, ended: 7 } as const;
const markNames = ['', '', 'ack', 'released', 'done', 'held', 'freed', 'ended'] as const;

/** CRC-32 tables for eight bytes a step ("slicing by 8"): tables[0] is the classic one. */
const crcTables = (() => {
  const t = Array.from({ length: 8 }, () => new Uint32Array(256));
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[0][n] = c >>> 0;
  }
  for (let n = 0; n < 256; n++) for (let k = 1; k < 8; k++) t[k][n] = (t[k - 1][n] >>> 8) ^ t[0][t[k - 1][n] & 0xff];
  return t;
})();

/**
 * CRC-32 (IEEE), as zlib computes it; node:zlib's crc32 is not in Node 16 or 18. Eight bytes a step:
 * the agent runs interpreted (--lite-mode), where a byte-at-a-time loop costs ~45 ns a byte.
 */
export function crc32(b: Uint8Array): number {
  const [t0, t1, t2, t3, t4, t5, t6, t7] = crcTables;
  let c = 0xffffffff;
  let i = 0;
  for (; i + 8 <= b.length; i += 8) {
    const x = c ^ (b[i] | (b[i + 1] << 8) | (b[i + 2] << 16) | (b[i + 3] << 24));
    c = t7[x & 0xff] ^ t6[(x >>> 8) & 0xff] ^ t5[(x >>> 16) & 0xff] ^ t4[x >>> 24] ^ t3[b[i + 4]] ^ t2[b[i + 5]] ^ t1[b[i + 6]] ^ t0[b[i + 7]];
  }
  for (; i < b.length; i++) c = t0[(c ^ b[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

export function encodeRecord(r: SpoolRecord): Uint8Array {
  const topic = r.kind === 'message' ? Buffer.from(r.message.topic, 'utf8') : undefined;
  const session = 'session' in r && r.session !== '' ? Buffer.from(r.session, 'utf8') : undefined;
  const bodySize = r.kind === 'message' ? 1 + 8 + 1 + 1 + 2 + topic!.length + r.message.payload.length : 1 + 8 + (session?.length ?? 0);
  const out = new Uint8Array(8 + bodySize);
  const view = new DataView(out.buffer);
  const body = out.subarray(8);
  if (r.kind === 'message') {
    const m = r.message;
    body[0] = 1;
    view.setFloat64(9, m.seq);
    body[9] = m.qos;
    body[10] = m.retain ? 1 : 0;
    view.setUint16(19, topic!.length);
    body.set(topic!, 13);
    body.set(m.payload, 13 + topic!.length);
  } else {
    body[0] = markKinds[r.kind];
    view.setFloat64(9, r.seq);
    if (session) body.set(session, 9);
  }
  view.setUint32(0, bodySize);
  view.setUint32(4, crc32(body));
  return out;
}

/** A stretch of a file that holds no intact record: torn by a power cut, or damaged. */
export interface DamagedSpan {
  at: number;
  bytes: number;
}

/** A message record as a scan finds it: where it is and what the queue needs, not its topic or payload. */
export interface PlacedMessage {
  kind: 'message';
  seq: number;
  qos: QoS;
  retain: boolean;
  /** Offset of the record (its length field) in the buffer scanned, and its size with the 8-byte header. */
  at: number;
  length: number;
}

export type ScannedRecord = Exclude<SpoolRecord, { kind: 'message' }> | PlacedMessage;

/**
 * Calls `onRecord` for every intact record in `buf`, in order, and returns the damaged spans. A
 * record that fails its checksum is skipped alone: reading resumes at the next offset where an
 * intact record starts, so damage costs only what it hit.
 */
export function scanRecords(buf: Uint8Array, onRecord: (r: ScannedRecord) => void): DamagedSpan[] {
  const damaged: DamagedSpan[] = [];
  let at = 0;
  while (at < buf.length) {
    const record = recordAt(buf, at);
    if (record) {
      onRecord(record);
      at += record.kind === 'message' ? record.length : 8 + new DataView(buf.buffer, buf.byteOffset).getUint32(at);
      continue;
    }
    const from = at;
    at = skipDamaged(buf, at);
    damaged.push({ at: from, bytes: at - from });
  }
  return damaged;
}

/** The message in `record` (one whole record, header included, as read back), or undefined if it is not intact. */
export function decodeMessage(record: Uint8Array): SpooledMessage | undefined {
  const r = recordAt(record, 0);
  if (r?.kind !== 'message' || r.length !== record.length) return undefined;
  const view = new DataView(record.buffer, record.byteOffset, record.byteLength);
  const topicLength = view.getUint16(19);
  const topic = Buffer.from(record.buffer, record.byteOffset + 21, topicLength).toString('utf8');
  return { seq: r.seq, topic, payload: record.subarray(21 + topicLength), qos: r.qos, retain: r.retain };
}

/** The intact record starting at `at`, or undefined. */
function recordAt(buf: Uint8Array, at: number): ScannedRecord | undefined {
  if (at + 8 + 9 > buf.length) return undefined;
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const size = view.getUint32(at);
  const kind = buf[at + 8];
  if (size < 9 || kind < 1 || kind > 7 || at + 8 + size > buf.length) return undefined;
  const body = buf.subarray(at + 8, at + 8 + size);
  if (crc32(body) !== view.getUint32(at + 4)) return undefined;
  const record = decodeBody(body);
  if (record?.kind === 'message') record.at = at;
  return record;
}

/**
 * Where reading resumes after a bad record at `at`: past it if its length still leads to an intact
 * record (the damage is in its body), else the first offset where an intact record starts.
 */
function skipDamaged(buf: Uint8Array, at: number): number {
  const size = at + 8 <= buf.length ? new DataView(buf.buffer, buf.byteOffset).getUint32(at) : 0;
  const next = at + 8 + size;
  if (size >= 9 && next < buf.length && recordAt(buf, next)) return next;
  for (let i = at + 1; i < buf.length; i++) if (recordAt(buf, i)) return i;
  return buf.length;
}

function decodeBody(body: Uint8Array): ScannedRecord | undefined {
  const view = new DataView(body.buffer, body.byteOffset, body.byteLength);
  const seq = view.getFloat64(1);
  if (!Number.isSafeInteger(seq) || seq < 0) return undefined;
  if (body[0] >= 5 && body[0] <= 7) {
    const session = Buffer.from(body.subarray(9)).toString('utf8');
    return { kind: markNames[body[0] as 5 | 6 | 7], seq, session };
  }
  if (body[0] !== 1) return body.length === 9 && body[0] <= 4 ? { kind: markNames[body[0] as 2 | 3 | 4], seq } : undefined;
  if (body.length < 13 || body[9] > 2) return undefined;
  const topicLength = view.getUint16(11);
  if (13 + topicLength > body.length) return undefined;
  // The topic and payload stay where they are: the queue keeps the record's place, not its contents.
  return { kind: 'message', seq, qos: body[9] as QoS, retain: body[10] === 1, at: 0, length: 8 + body.length };
}
