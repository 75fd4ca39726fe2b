// AUTH [MQTT-3.15], v5 only. Remaining length 0 means Success, 1 means a reason code
// without properties [MQTT-3.15.2.1].
import { MqttError } from '../error.ts';
import type { AuthPacket, ProtocolVersion } from '../packet.ts';
import { blockSize, propertiesSize, readProperties, writeProperties } from '../properties.ts';
import type { ByteReader } from '../reader.ts';
import { ReasonCode } from '../reason-code.ts';
import type { ByteWriter } from '../writer.ts';

export function decodeAuth(r: ByteReader): AuthPacket {
  const packet: AuthPacket = { type: 'auth' };
  if (r.remaining > 0) {
    packet.reasonCode = r.u8();
    if (r.remaining > 0) {
      const properties = readProperties(r, 'auth');
      if (properties) packet.properties = properties;
    }
  }
  r.done('AUTH');
  return packet;
}

export function sizeAuth(p: AuthPacket, version: ProtocolVersion): number {
  if (version < 5) throw new MqttError(ReasonCode.ProtocolError, 'AUTH exists only in MQTT 5');
  const properties = propertiesSize(p.properties, 'auth');
  if (properties > 0) return 1 + blockSize(properties);
  return p.reasonCode ? 1 : 0;
}

export function encodeAuth(w: ByteWriter, p: AuthPacket): void {
  const properties = propertiesSize(p.properties, 'auth');
  if (properties > 0 || p.reasonCode) w.u8(p.reasonCode ?? 0);
  if (properties > 0) writeProperties(w, p.properties, properties);
}
