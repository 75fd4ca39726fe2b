// UNSUBSCRIBE [MQTT-3.10]: a packet id, v5 properties, one or more topic filters.
import { MqttError } from '../error.ts';
import type { ProtocolVersion, UnsubscribePacket } from '../packet.ts';
import { blockSize, propertiesSize, readProperties, writeProperties } from '../properties.ts';
import type { ByteReader } from '../reader.ts';
import { ReasonCode } from '../reason-code.ts';
import { stringSize, type ByteWriter } from '../writer.ts';

export function decodeUnsubscribe(r: ByteReader, version: ProtocolVersion): UnsubscribePacket {
  const packet: UnsubscribePacket = { type: 'unsubscribe', packetId: r.packetId(), topicFilters: [] };
  if (version === 5) {
    const properties = readProperties(r, 'unsubscribe');
    if (properties) packet.properties = properties;
  }
  while (r.remaining > 0) packet.topicFilters.push(r.utf8());
  if (packet.topicFilters.length === 0) {
    throw new MqttError(ReasonCode.MalformedPacket, 'UNSUBSCRIBE without topic filters'); // [MQTT-3.10.3-2]
  }
  return packet;
}

export function sizeUnsubscribe(p: UnsubscribePacket, version: ProtocolVersion): number {
  if (p.topicFilters.length === 0) {
    throw new MqttError(ReasonCode.ProtocolError, 'UNSUBSCRIBE needs a topic filter'); // [MQTT-3.10.3-2]
  }
  let size = 2;
  if (version === 5) size += blockSize(propertiesSize(p.properties, 'unsubscribe'));
  for (const filter of p.topicFilters) size += stringSize(filter);
  return size;
}

export function encodeUnsubscribe(w: ByteWriter, p: UnsubscribePacket, version: ProtocolVersion): void {
  w.packetId(p.packetId);
  if (version === 5) writeProperties(w, p.properties, propertiesSize(p.properties, 'unsubscribe'));
  for (const filter of p.topicFilters) w.utf8(filter);
}
