// CONNACK [MQTT-3.2]. On 3.x the reason code field carries the 3.x return code.
import { MqttError } from '../error.ts';
import type { ConnackPacket, ProtocolVersion } from '../packet.ts';
import { blockSize, propertiesSize, readProperties, writeProperties } from '../properties.ts';
import type { ByteReader } from '../reader.ts';
import { ReasonCode } from '../reason-code.ts';
import type { ByteWriter } from '../writer.ts';

export function decodeConnack(r: ByteReader, version: ProtocolVersion): ConnackPacket {
  const flags = r.u8();
  if (flags & 0xfe) throw new MqttError(ReasonCode.MalformedPacket, 'CONNACK reserved flags set'); // [MQTT-3.2.2-1]
  const packet: ConnackPacket = { type: 'connack', sessionPresent: flags === 1, reasonCode: r.u8() };
  // A 3.x server refusing a v5 client answers in 3.x form, without properties: accept it.
  if (version === 5 && r.remaining > 0) {
    const properties = readProperties(r, 'connack');
    if (properties) packet.properties = properties;
  }
  r.done('CONNACK');
  return packet;
}

export function sizeConnack(p: ConnackPacket, version: ProtocolVersion): number {
  return version === 5 ? 2 + blockSize(propertiesSize(p.properties, 'connack')) : 2;
}

export function encodeConnack(w: ByteWriter, p: ConnackPacket, version: ProtocolVersion): void {
  w.u8(p.sessionPresent ? 1 : 0);
  w.u8(p.reasonCode);
  if (version === 5) writeProperties(w, p.properties, propertiesSize(p.properties, 'connack'));
}
