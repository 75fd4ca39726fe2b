// A PUBLISH encoded once and sent to many receivers: only the packet id (and DUP) differ
// between them, so each send is a copy and a two-byte patch instead of an encode.
import { encode } from './encoder.ts';
import { MqttError } from './error.ts';
import type { ProtocolVersion, PublishPacket } from './packet.ts';
import { ReasonCode } from './reason-code.ts';
import { allocate } from './writer.ts';

function isPacketId(id: number | undefined): id is number {
  return id !== undefined && Number.isInteger(id) && id >= 1 && id <= 0xffff;
}

export class PublishTemplate {
  /** Total bytes of the packet. */
  readonly size: number;
  private readonly encoded: Uint8Array;
  /** Where the packet id sits; -1 for QoS 0, which has none. */
  private readonly idOffset: number;
  private readonly packetId: number | undefined;

  /** For QoS > 0 the packet's packetId is a placeholder, used only when bytes() gets none. */
  constructor(packet: PublishPacket, version: ProtocolVersion) {
    const qos = packet.qos > 0;
    this.packetId = qos && isPacketId(packet.packetId) ? packet.packetId : undefined;
    const bytes = encode(qos ? { ...packet, packetId: 1 } : packet, version);
    // Templates live as long as their message: own exact bytes rather than pin a shared slab.
    this.encoded = bytes.byteLength === bytes.buffer.byteLength ? bytes : bytes.slice();
    this.size = this.encoded.length;
    let p = 1;
    while (this.encoded[p] & 0x80) p++;
    this.idOffset = qos ? p + 3 + ((this.encoded[p + 1] << 8) | this.encoded[p + 2]) : -1;
  }

  /** The packet with this packet id and DUP flag: shared bytes for QoS 0, a fresh copy otherwise. */
  bytes(packetId?: number, dup = false): Uint8Array {
    if (this.idOffset < 0) return this.encoded; // QoS 0: no packet id, DUP stays 0 [MQTT-3.3.1-2]
    const id = packetId ?? this.packetId;
    if (!isPacketId(id)) throw new MqttError(ReasonCode.ProtocolError, `packet identifier ${String(id)} is not 1-65535`); // [MQTT-2.3.1-1]
    const out = allocate(this.size);
    out.set(this.encoded);
    out[0] = dup ? out[0] | 0x08 : out[0] & ~0x08; // [MQTT-3.3.1-1]
    out[this.idOffset] = id >>> 8;
    out[this.idOffset + 1] = id & 0xff;
    return out;
  }
}
