// ByteWriter: writes one packet into a buffer sized beforehand (size once, allocate once,
// write once). Sizes are computed by the packet files; the writer trusts them.
import { MqttError } from './error.ts';
import type { UserProperty } from './packet.ts';
import { ReasonCode } from './reason-code.ts';
import { utf8Length, writeString } from './utf8.ts';

/** Largest Variable Byte Integer, so the largest remaining length [MQTT-1.5.5]. */
export const maxVarint = 268_435_455;

export function varintSize(value: number): number {
  return value < 0x80 ? 1 : value < 0x4000 ? 2 : value < 0x200000 ? 3 : 4;
}

/** Length prefix plus UTF-8 bytes; a string field holds at most 65,535 bytes [MQTT-1.5.4]. */
export function stringSize(value: string): number {
  const length = utf8Length(value);
  if (length > 0xffff) throw new MqttError(ReasonCode.MalformedPacket, 'string longer than 65535 bytes');
  return 2 + length;
}

export function binarySize(value: Uint8Array): number {
  if (value.length > 0xffff) throw new MqttError(ReasonCode.MalformedPacket, 'binary data longer than 65535 bytes');
  return 2 + value.length;
}

// A fresh ArrayBuffer costs more than encoding a small packet (an off-heap allocation, ~0.4 µs
// in V8 above 64 bytes), so mid-sized encodings are carved from a shared zeroed slab, as Node's
// allocUnsafe() does from its pool. Slabs are never reused: no bytes leak between packets.
// A caller keeping an encoding for long should slice() it, or it keeps its slab alive.
const slabSize = 64 * 1024;
const pooledMax = 8 * 1024;
/** V8 keeps typed arrays up to 64 bytes on the heap, which is as cheap as the slab. */
const onHeapMax = 64;
let slab = new Uint8Array(0);
let slabUsed = 0;

/** A zeroed Uint8Array of this size, possibly a view on a shared slab. */
export function allocate(size: number): Uint8Array {
  if (size <= onHeapMax || size > pooledMax) return new Uint8Array(size);
  if (slabUsed + size > slab.length) {
    slab = new Uint8Array(slabSize);
    slabUsed = 0;
  }
  const bytes = slab.subarray(slabUsed, slabUsed + size);
  slabUsed = (slabUsed + size + 7) & ~7;
  return bytes;
}

export class ByteWriter {
  readonly bytes: Uint8Array;
  pos = 0;

  constructor(size: number) {
    this.bytes = allocate(size);
  }

  u8(value: number): void {
    this.bytes[this.pos++] = value;
  }

  u16(value: number): void {
    const p = this.pos;
    this.bytes[p] = value >>> 8;
    this.bytes[p + 1] = value;
    this.pos = p + 2;
  }

  u32(value: number): void {
    const p = this.pos;
    const b = this.bytes;
    b[p] = value >>> 24;
    b[p + 1] = value >>> 16;
    b[p + 2] = value >>> 8;
    b[p + 3] = value;
    this.pos = p + 4;
  }

  varint(value: number): void {
    do {
      let digit = value % 128;
      value = Math.floor(value / 128);
      if (value > 0) digit |= 0x80;
      this.bytes[this.pos++] = digit;
    } while (value > 0);
  }

  /** A Packet Identifier: 1 to 65535 [MQTT-2.3.1-1]. */
  packetId(value: number | undefined): void {
    if (value === undefined || !(value >= 1 && value <= 0xffff) || !Number.isInteger(value)) {
      throw new MqttError(ReasonCode.ProtocolError, `packet identifier ${String(value)} is not 1-65535`); // [MQTT-2.3.1-1]
    }
    this.u16(value);
  }

  /** A length-prefixed UTF-8 string: written first, its length filled in after. */
  utf8(value: string): void {
    const start = this.pos;
    const end = writeString(this.bytes, start + 2, value);
    const length = end - start - 2;
    this.bytes[start] = length >>> 8;
    this.bytes[start + 1] = length;
    this.pos = end;
  }

  binary(value: Uint8Array): void {
    this.u16(value.length);
    this.raw(value);
  }

  pair(value: UserProperty): void {
    this.utf8(value[0]);
    this.utf8(value[1]);
  }

  raw(value: Uint8Array): void {
    this.bytes.set(value, this.pos);
    this.pos += value.length;
  }
}
