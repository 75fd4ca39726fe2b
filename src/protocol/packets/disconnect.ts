// DISCONNECT [MQTT-3.14]. Empty on 3.x; on v5 remaining length 0 means Normal disconnection,
// 1 means a reason code without properties [MQTT-3.14.2.1].
import type { DisconnectPacket, ProtocolVersion } from '../packet.ts';
import { blockSize, propertiesSize, readProperties, writeProperties } from '../properties.ts';
import type { ByteReader } from '../reader.ts';
import type { ByteWriter } from '../writer.ts';

export function decodeDisconnect(r: ByteReader, version: ProtocolVersion): DisconnectPacket {
  const packet: DisconnectPacket = { type: 'disconnect' };
  if (version === 5 && r.remaining > 0) {
    packet.reasonCode = r.u8();
    if (r.remaining > 0) {
      const properties = readProperties(r, 'disconnect');
      if (properties) packet.properties = properties;
    }
  }
  r.done('DISCONNECT');
  return packet;
}

export function sizeDisconnect(p: DisconnectPacket, version: ProtocolVersion): number {
  if (version < 5) return 0;
  const properties = propertiesSize(p.properties, 'disconnect');
  if (properties > 0) return 1 + blockSize(properties);
  return p.reasonCode ? 1 : 0;
}

export function encodeDisconnect(w: ByteWriter, p: DisconnectPacket, version: ProtocolVersion): void {
  if (version < 5) return;
  const properties = propertiesSize(p.properties, 'disconnect');
  if (properties > 0 || p.reasonCode) w.u8(p.reasonCode ?? 0);
  if (properties > 0) writeProperties(w, p.properties, properties);
}
