// PUBLISH [MQTT-3.3]. The payload is a view on the packet body, never a copy.
import { MqttError } from '../error.ts';
import type { ProtocolVersion, PublishPacket, QoS } from '../packet.ts';
import { blockSize, propertiesSize, readProperties, writeProperties } from '../properties.ts';
import type { ByteReader } from '../reader.ts';
import { ReasonCode } from '../reason-code.ts';
import { stringSize, type ByteWriter } from '../writer.ts';

const empty = new Uint8Array(0);

export function decodePublish(r: ByteReader, flags: number, version: ProtocolVersion): PublishPacket {
  const qos = ((flags >> 1) & 3) as QoS | 3;
  if (qos === 3) throw new MqttError(ReasonCode.MalformedPacket, 'PUBLISH QoS 3'); // [MQTT-3.3.1-4]
  const dup = (flags & 8) !== 0;
  if (dup && qos === 0) throw new MqttError(ReasonCode.MalformedPacket, 'PUBLISH DUP with QoS 0'); // [MQTT-3.3.1-2]
  const packet: PublishPacket = { type: 'publish', topic: r.utf8(), payload: empty, qos, retain: (flags & 1) !== 0, dup };
  if (qos > 0) packet.packetId = r.packetId();
  if (version === 5) {
    const properties = readProperties(r, 'publish');
    if (properties) packet.properties = properties;
  }
  packet.payload = r.rest();
  return packet;
}

/** Fixed-header flags: DUP only with QoS > 0 [MQTT-3.3.1-2]. */
export function publishFlags(p: PublishPacket): number {
  return (p.dup && p.qos > 0 ? 8 : 0) | (p.qos << 1) | (p.retain ? 1 : 0);
}

export function sizePublish(p: PublishPacket, version: ProtocolVersion): number {
  let size = stringSize(p.topic) + p.payload.length;
  if (p.qos > 0) size += 2;
  if (version === 5) size += blockSize(propertiesSize(p.properties, 'publish'));
  return size;
}

export function encodePublish(w: ByteWriter, p: PublishPacket, version: ProtocolVersion): void {
  w.utf8(p.topic);
  if (p.qos > 0) w.packetId(p.packetId);
  if (version === 5) writeProperties(w, p.properties, propertiesSize(p.properties, 'publish'));
  w.raw(p.payload);
}
