// SUBACK [MQTT-3.9]: a packet id, v5 properties, one return/reason code per subscription.
import { MqttError } from '../error.ts';
import type { ProtocolVersion, SubackPacket } from '../packet.ts';
import { blockSize, propertiesSize, readProperties, writeProperties } from '../properties.ts';
import type { ByteReader } from '../reader.ts';
import { ReasonCode } from '../reason-code.ts';
import type { ByteWriter } from '../writer.ts';

export function decodeSuback(r: ByteReader, version: ProtocolVersion): SubackPacket {
  const packet: SubackPacket = { type: 'suback', packetId: r.packetId(), reasonCodes: [] };
  if (version === 5) {
    const properties = readProperties(r, 'suback');
    if (properties) packet.properties = properties;
  }
  if (r.remaining === 0) throw new MqttError(ReasonCode.MalformedPacket, 'SUBACK without return codes'); // [MQTT-3.9.3-1]
  packet.reasonCodes = Array.from(r.rest());
  return packet;
}

export function sizeSuback(p: SubackPacket, version: ProtocolVersion): number {
  const size = 2 + p.reasonCodes.length;
  return version === 5 ? size + blockSize(propertiesSize(p.properties, 'suback')) : size;
}

export function encodeSuback(w: ByteWriter, p: SubackPacket, version: ProtocolVersion): void {
  w.packetId(p.packetId);
  if (version === 5) writeProperties(w, p.properties, propertiesSize(p.properties, 'suback'));
  for (const code of p.reasonCodes) w.u8(code);
}
