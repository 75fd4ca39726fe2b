// Finds packet boundaries in a byte stream from the fixed header alone [MQTT-2.1.4], so the
// tunnel can lift out the first packet (CONNECT) and pass everything after it through untouched.

/** Length of the whole first packet in `buf`, or undefined while its header or body is incomplete. */
export function firstPacketLength(buf: Uint8Array): number | undefined {
  let length = 0;
  for (let i = 1, mul = 1; i <= 4; i++, mul *= 128) {
    if (i >= buf.length) return undefined;
    length += (buf[i] & 0x7f) * mul;
    if ((buf[i] & 0x80) === 0) {
      const total = 1 + i + length;
      return buf.length >= total ? total : undefined;
    }
  }
  throw new RangeError('malformed remaining length');
}

/** The packet type number of the first byte (1 CONNECT, 2 CONNACK, …). */
export const packetType = (buf: Uint8Array): number => buf[0] >> 4;

/** Joins chunks into one buffer (no copy for a single chunk). */
export function concat(chunks: Uint8Array[]): Uint8Array {
  if (chunks.length === 1) return chunks[0];
  let size = 0;
  for (const c of chunks) size += c.length;
  const out = new Uint8Array(size);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

/** Bytes of a QoS 1/2 PUBLISH of `topic` and `payload` without properties [MQTT-3.3], as a broker's size limit counts them. */
export function publishSize(topic: string, payload: Uint8Array, version: number): number {
  const remaining = 2 + Buffer.byteLength(topic) + 2 + (version === 5 ? 1 : 0) + payload.length;
  return 1 + (remaining < 128 ? 1 : remaining < 16_384 ? 2 : remaining < 2_097_152 ? 3 : 4) + remaining;
}
