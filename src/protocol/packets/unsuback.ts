// UNSUBACK [MQTT-3.11]: a packet id; on v5 also properties and one reason code per filter.
import { MqttError } from '../error.ts';
import type { ProtocolVersion, UnsubackPacket } from '../packet.ts';
import { blockSize, propertiesSize, readProperties, writeProperties } from '../properties.ts';
import type { ByteReader } from '../reader.ts';
import { ReasonCode } from '../reason-code.ts';
import type { ByteWriter } from '../writer.ts';

export function decodeUnsuback(r: ByteReader, version: ProtocolVersion): UnsubackPacket {
  const packet: UnsubackPacket = { type: 'unsuback', packetId: r.packetId() };
  if (version < 5) {
    r.done('UNSUBACK');
    return packet;
  }
  const properties = readProperties(r, 'unsuback');
  if (properties) packet.properties = properties;
  if (r.remaining === 0) throw new MqttError(ReasonCode.MalformedPacket, 'UNSUBACK without reason codes'); // [MQTT-3.11.3-1]
  packet.reasonCodes = Array.from(r.rest());
  return packet;
}

export function sizeUnsuback(p: UnsubackPacket, version: ProtocolVersion): number {
  if (version < 5) return 2;
  if (!p.reasonCodes?.length) throw new MqttError(ReasonCode.ProtocolError, 'v5 UNSUBACK needs reason codes'); // [MQTT-3.11.3-1]
  return 2 + blockSize(propertiesSize(p.properties, 'unsuback')) + p.reasonCodes.length;
}

export function encodeUnsuback(w: ByteWriter, p: UnsubackPacket, version: ProtocolVersion): void {
  w.packetId(p.packetId);
  if (version < 5) return;
  writeProperties(w, p.properties, propertiesSize(p.properties, 'unsuback'));
  for (const code of p.reasonCodes ?? []) w.u8(code);
}
