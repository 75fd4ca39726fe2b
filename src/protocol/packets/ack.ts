// PUBACK, PUBREC, PUBREL, PUBCOMP [MQTT-3.4 to 3.7]: a packet id, then on v5 an optional
// reason code and optional properties. Remaining length 2 means Success with no properties,
// 3 means a reason code and no properties [MQTT-3.4.2.1].
import type { AckPacket, AckType, ProtocolVersion } from '../packet.ts';
import { blockSize, propertiesSize, readProperties, writeProperties } from '../properties.ts';
import type { ByteReader } from '../reader.ts';
import type { ByteWriter } from '../writer.ts';

export function decodeAck(r: ByteReader, type: AckType, version: ProtocolVersion): AckPacket {
  const packet: AckPacket = { type, packetId: r.packetId() };
  if (version === 5 && r.remaining > 0) {
    packet.reasonCode = r.u8();
    if (r.remaining > 0) {
      const properties = readProperties(r, type);
      if (properties) packet.properties = properties;
    }
  }
  r.done(type.toUpperCase());
  return packet;
}

export function sizeAck(p: AckPacket, version: ProtocolVersion): number {
  if (version < 5) return 2;
  const properties = propertiesSize(p.properties, p.type);
  if (properties > 0) return 3 + blockSize(properties);
  return p.reasonCode ? 3 : 2;
}

export function encodeAck(w: ByteWriter, p: AckPacket, version: ProtocolVersion): void {
  w.packetId(p.packetId);
  if (version < 5) return;
  const properties = propertiesSize(p.properties, p.type);
  if (properties > 0 || p.reasonCode) w.u8(p.reasonCode ?? 0);
  if (properties > 0) writeProperties(w, p.properties, properties);
}
