// ByteReader: a cursor over one packet body. Every read is bounded by `end` (the remaining
// length, or a property block inside it), so a field that overruns is a Malformed Packet.
// Byte arithmetic on the Uint8Array instead of a DataView: one less object per packet and
// the same speed for the 1-, 2- and 4-byte big-endian reads MQTT has.
import { MqttError } from './error.ts';
import type { UserProperty } from './packet.ts';
import { ReasonCode } from './reason-code.ts';
import { decodeString } from './utf8.ts';

const empty = new Uint8Array(0);

function short(): MqttError {
  return new MqttError(ReasonCode.MalformedPacket, 'packet is shorter than its fields');
}

export class ByteReader {
  bytes: Uint8Array = empty;
  pos = 0;
  end = 0;

  /** Points the reader at a new body. */
  reset(bytes: Uint8Array): this {
    this.bytes = bytes;
    this.pos = 0;
    this.end = bytes.length;
    return this;
  }

  get remaining(): number {
    return this.end - this.pos;
  }

  u8(): number {
    if (this.pos >= this.end) throw short();
    return this.bytes[this.pos++];
  }

  u16(): number {
    const p = this.pos;
    if (p + 2 > this.end) throw short();
    this.pos = p + 2;
    return (this.bytes[p] << 8) | this.bytes[p + 1];
  }

  u32(): number {
    const p = this.pos;
    const b = this.bytes;
    if (p + 4 > this.end) throw short();
    this.pos = p + 4;
    return b[p] * 0x1000000 + ((b[p + 1] << 16) | (b[p + 2] << 8) | b[p + 3]);
  }

  /** Variable Byte Integer, at most four bytes [MQTT-1.5.5-1]. */
  varint(): number {
    let value = 0;
    for (let i = 0, mul = 1; i < 4; i++, mul *= 128) {
      const b = this.u8();
      value += (b & 0x7f) * mul;
      if (b < 0x80) return value;
    }
    throw new MqttError(ReasonCode.MalformedPacket, 'variable byte integer longer than four bytes');
  }

  /** A two-byte Packet Identifier, which is never 0 [MQTT-2.3.1-1]. */
  packetId(): number {
    const id = this.u16();
    if (id === 0) throw new MqttError(ReasonCode.MalformedPacket, 'packet identifier 0'); // [MQTT-2.3.1-1]
    return id;
  }

  /** UTF-8 Encoded String [MQTT-1.5.4]. */
  utf8(): string {
    const length = this.u16();
    const start = this.pos;
    if (start + length > this.end) throw short();
    this.pos = start + length;
    return decodeString(this.bytes, start, start + length);
  }

  /** Binary Data: a view on the body, not a copy. */
  binary(): Uint8Array {
    const length = this.u16();
    const start = this.pos;
    if (start + length > this.end) throw short();
    this.pos = start + length;
    return this.bytes.subarray(start, start + length);
  }

  pair(): UserProperty {
    const name = this.utf8();
    return [name, this.utf8()];
  }

  /** Everything up to `end`, as a view. */
  rest(): Uint8Array {
    const start = this.pos;
    this.pos = this.end;
    return this.bytes.subarray(start, this.end);
  }

  /** The body must hold exactly the fields read so far. */
  done(what: string): void {
    if (this.pos !== this.end) throw new MqttError(ReasonCode.MalformedPacket, `${what} has unexpected trailing bytes`);
  }
}
