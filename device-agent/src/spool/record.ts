// The spool's record format. Each record is `u32 length | u32 crc32 | body`, so a record torn by
// a power cut is recognised (short, or wrong checksum) and the file is cut back to the last whole one.
//   message body: u8 1 | f64 seq | u8 qos | u8 retain | u16 topic length | topic | payload
//   ack body:     u8 2 | f64 seq   (every message up to seq is done)
import type { QoS } from '../codec.ts';

export interface SpooledMessage {
  seq: number;
  topic: string;
  payload: Uint8Array;
  qos: QoS;
  retain: boolean;
}

export type SpoolRecord = { kind: 'message'; message: SpooledMessage } | { kind: 'ack'; seq: number };

const crcTable = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

/** CRC-32 (IEEE), as zlib computes it; node:zlib's crc32 is not in Node 18. */
export function crc32(b: Uint8Array): number {
  let c = 0xffffffff;
  for (let i = 0; i < b.length; i++) c = crcTable[(c ^ b[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

export function encodeRecord(r: SpoolRecord): Uint8Array {
  const topic = r.kind === 'message' ? Buffer.from(r.message.topic, 'utf8') : undefined;
  const bodySize = r.kind === 'message' ? 1 + 8 + 1 + 1 + 2 + topic!.length + r.message.payload.length : 1 + 8;
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
    body[0] = 2;
    view.setFloat64(9, r.seq);
  }
  view.setUint32(0, bodySize);
  view.setUint32(4, crc32(body));
  return out;
}

/** Reads records from `buf`; `end` is the offset after the last whole, intact record. */
export function decodeRecords(buf: Uint8Array): { records: SpoolRecord[]; end: number } {
  const records: SpoolRecord[] = [];
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  let at = 0;
  while (at + 8 <= buf.length) {
    const size = view.getUint32(at);
    if (size < 9 || at + 8 + size > buf.length) break;
    const body = buf.subarray(at + 8, at + 8 + size);
    if (crc32(body) !== view.getUint32(at + 4)) break;
    const record = decodeBody(body);
    if (!record) break;
    records.push(record);
    at += 8 + size;
  }
  return { records, end: at };
}

function decodeBody(body: Uint8Array): SpoolRecord | undefined {
  const view = new DataView(body.buffer, body.byteOffset, body.byteLength);
  const seq = view.getFloat64(1);
  if (body[0] === 2) return { kind: 'ack', seq };
  if (body[0] !== 1 || body.length < 13) return undefined;
  const topicLength = view.getUint16(11);
  if (13 + topicLength > body.length) return undefined;
  const topic = Buffer.from(body.subarray(13, 13 + topicLength)).toString('utf8');
  const payload = Uint8Array.prototype.slice.call(body, 13 + topicLength);
  return { kind: 'message', message: { seq, topic, payload, qos: body[9] as QoS, retain: body[10] === 1 } };
}
