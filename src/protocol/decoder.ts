// Streaming decoder: push() chunks as they arrive, next() returns whole packets. The fixed
// header is framed before anything is buffered or copied (rumqttd's check()): a packet over
// maxPacketSize is refused as soon as its remaining length is known. A body inside one chunk
// is decoded in place; a body spanning chunks is assembled once.
import { MqttError } from './error.ts';
import type { Packet, ProtocolVersion } from './packet.ts';
import { decodeAck } from './packets/ack.ts';
import { decodeAuth } from './packets/auth.ts';
import { decodeConnack } from './packets/connack.ts';
import { decodeConnect } from './packets/connect.ts';
import { decodeDisconnect } from './packets/disconnect.ts';
import { decodePing } from './packets/ping.ts';
import { decodePublish } from './packets/publish.ts';
import { decodeSuback } from './packets/suback.ts';
import { decodeSubscribe } from './packets/subscribe.ts';
import { decodeUnsuback } from './packets/unsuback.ts';
import { decodeUnsubscribe } from './packets/unsubscribe.ts';
import { ByteReader } from './reader.ts';
import { ReasonCode } from './reason-code.ts';

/** The largest packet MQTT can express: 1 + 4 + 268,435,455 bytes [MQTT-2.1.4]. */
export const maxPacketSize = 268_435_460;

export interface DecoderOptions {
  /** Largest whole packet (fixed header included) accepted; bigger is PacketTooLarge. */
  maxPacketSize?: number;
  /** The format of packets other than CONNECT; a decoded CONNECT sets it. Default 4. */
  protocolVersion?: ProtocolVersion;
}

/** Fixed-header flags by packet type [MQTT-2.2.2-2]; -1: PUBLISH carries its own, or reserved. */
const requiredFlags = [-1, 0, 0, -1, 0, 0, 2, 0, 2, 0, 2, 0, 0, 0, 0, 0] as const;

/** Bytes an ArrayBuffer and its view take beyond their contents, roughly (V8 objects). */
const chunkOverhead = 256;

export class Decoder {
  /** The format packets are read in; set from a CONNECT's level as soon as it is read. */
  protocolVersion: ProtocolVersion;
  private readonly maxPacketSize: number;
  /** Pushed chunks not yet used up; chunks[head] at offset is the next unread byte. */
  private chunks: Uint8Array[] = [];
  private head = 0;
  private offset = 0;
  /** Unread bytes across all chunks. */
  private buffered = 0;
  /** Bytes of the chunks still referenced, plus an estimate of each chunk's object overhead. */
  private held = 0;
  private failure: unknown;
  private failed = false;
  private readonly reader = new ByteReader();

  constructor(options: DecoderOptions = {}) {
    this.maxPacketSize = options.maxPacketSize ?? maxPacketSize;
    this.protocolVersion = options.protocolVersion ?? 4;
  }

  /** Appends bytes; the chunk is referenced, not copied, until its packets are decoded. */
  push(chunk: Uint8Array): void {
    if (chunk.length === 0 || this.failed) return; // a failed stream is over: hold nothing more
    this.chunks.push(chunk);
    this.buffered += chunk.length;
    this.held += chunk.length + chunkOverhead;
  }

  /**
   * Memory that input not yet decoded holds, in bytes: a partial packet, and the chunks it spans
   * (each chunk counted with an estimate of its object's own size, so a trickle of tiny chunks counts).
   */
  get pendingBytes(): number {
    return this.held;
  }

  /** Ends the stream: drops the bytes held; next() returns nothing more. */
  release(): void {
    this.chunks = [];
    [this.head, this.offset, this.buffered, this.held] = [0, 0, 0, 0];
  }

  /** The next whole packet, or undefined until more bytes arrive. After a throw it keeps throwing. */
  next(): Packet | undefined {
    if (this.failed) throw this.failure;
    try {
      return this.read();
    } catch (err) {
      this.failed = true;
      this.failure = err;
      throw err;
    }
  }

  private read(): Packet | undefined {
    const available = this.buffered;
    if (available === 0) return undefined;
    const chunk = this.chunks[this.head];
    const at = this.offset;
    const first = chunk[at];
    this.checkFirstByte(first);
    let length = 0;
    let i = 1;
    for (let mul = 1; ; i++, mul *= 128) {
      if (i >= available) return undefined;
      const b = at + i < chunk.length ? chunk[at + i] : this.byteAt(i);
      length += (b & 0x7f) * mul;
      if (b < 0x80) break;
      if (i === 4) throw new MqttError(ReasonCode.MalformedPacket, 'remaining length longer than four bytes'); // [MQTT-1.5.5-1]
    }
    const header = i + 1;
    const total = header + length;
    if (total > this.maxPacketSize) {
      throw new MqttError(ReasonCode.PacketTooLarge, `packet of ${total} bytes exceeds ${this.maxPacketSize}`);
    }
    if (total > available) return undefined;
    const body = at + total <= chunk.length ? chunk.subarray(at + header, at + total) : this.gather(header, length);
    this.consume(total);
    return this.decodeBody(first, body);
  }

  private checkFirstByte(first: number): void {
    const type = first >> 4;
    if (type === 0) throw new MqttError(ReasonCode.MalformedPacket, 'reserved packet type 0'); // [MQTT-2.1.2]
    if (type === 15 && this.protocolVersion < 5) throw new MqttError(ReasonCode.MalformedPacket, 'AUTH before MQTT 5');
    const flags = requiredFlags[type];
    if (flags >= 0 && (first & 0x0f) !== flags) {
      throw new MqttError(ReasonCode.MalformedPacket, `reserved fixed-header flags 0x${(first & 0x0f).toString(16)}`); // [MQTT-2.2.2-2]
    }
  }

  private decodeBody(first: number, body: Uint8Array): Packet {
    const r = this.reader.reset(body);
    const v = this.protocolVersion;
    switch (first >> 4) {
      case 1: return decodeConnect(r, this);
      case 2: return decodeConnack(r, v);
      case 3: return decodePublish(r, first & 0x0f, v);
      case 4: return decodeAck(r, 'puback', v);
      case 5: return decodeAck(r, 'pubrec', v);
      case 6: return decodeAck(r, 'pubrel', v);
      case 7: return decodeAck(r, 'pubcomp', v);
      case 8: return decodeSubscribe(r, v);
      case 9: return decodeSuback(r, v);
      case 10: return decodeUnsubscribe(r, v);
      case 11: return decodeUnsuback(r, v);
      case 12: return decodePing(r, 'pingreq');
      case 13: return decodePing(r, 'pingresp');
      case 14: return decodeDisconnect(r, v);
      default: return decodeAuth(r);
    }
  }

  /** The byte k positions past the read position, when it lies beyond the first chunk. */
  private byteAt(k: number): number {
    let index = this.head;
    let pos = this.offset + k;
    while (pos >= this.chunks[index].length) pos -= this.chunks[index++].length;
    return this.chunks[index][pos];
  }

  /** Copies `length` bytes starting `skip` bytes past the read position into one array. */
  private gather(skip: number, length: number): Uint8Array {
    const out = new Uint8Array(length);
    if (length === 0) return out;
    let index = this.head;
    let pos = this.offset + skip;
    while (pos >= this.chunks[index].length) pos -= this.chunks[index++].length;
    for (let filled = 0; filled < length; index++, pos = 0) {
      const part = this.chunks[index].subarray(pos, pos + length - filled);
      out.set(part, filled);
      filled += part.length;
    }
    return out;
  }

  /** Drops n bytes, releasing the chunks they used up. */
  private consume(n: number): void {
    this.buffered -= n;
    let pos = this.offset + n;
    while (this.head < this.chunks.length && pos >= this.chunks[this.head].length) {
      const done = this.chunks[this.head++];
      pos -= done.length;
      this.held -= done.length + chunkOverhead;
    }
    if (this.head === this.chunks.length) {
      this.chunks.length = 0;
      this.head = 0;
      pos = 0;
    } else if (this.head >= 64) {
      this.chunks = this.chunks.slice(this.head);
      this.head = 0;
    }
    this.offset = pos;
  }
}
