// SUBSCRIBE [MQTT-3.8]: a packet id, v5 properties, then one or more (filter, options) pairs.
// Whether a filter is well-formed is the broker's question (topic.ts); this is wire form only.
import { MqttError } from '../error.ts';
import type { ProtocolVersion, QoS, SubscribePacket, Subscription } from '../packet.ts';
import { blockSize, propertiesSize, readProperties, writeProperties } from '../properties.ts';
import type { ByteReader } from '../reader.ts';
import { ReasonCode } from '../reason-code.ts';
import { stringSize, type ByteWriter } from '../writer.ts';

export function decodeSubscribe(r: ByteReader, version: ProtocolVersion): SubscribePacket {
  const packet: SubscribePacket = { type: 'subscribe', packetId: r.packetId(), subscriptions: [] };
  if (version === 5) {
    const properties = readProperties(r, 'subscribe');
    if (properties) packet.properties = properties;
  }
  while (r.remaining > 0) packet.subscriptions.push(decodeSubscription(r, version));
  if (packet.subscriptions.length === 0) {
    throw new MqttError(ReasonCode.MalformedPacket, 'SUBSCRIBE without subscriptions'); // [MQTT-3.8.3-3]
  }
  return packet;
}

function decodeSubscription(r: ByteReader, version: ProtocolVersion): Subscription {
  const topicFilter = r.utf8();
  const options = r.u8();
  const qos = options & 3;
  if (version < 5) {
    if (options & 0xfc || qos === 3) {
      throw new MqttError(ReasonCode.MalformedPacket, 'SUBSCRIBE reserved bits or QoS 3'); // [MQTT-3.8.3-4] (3.1.1)
    }
    return { topicFilter, qos: qos as QoS };
  }
  if (options & 0xc0) throw new MqttError(ReasonCode.MalformedPacket, 'subscription options reserved bits set'); // [MQTT-3.8.3-5]
  if (qos === 3) throw new MqttError(ReasonCode.ProtocolError, 'subscription Maximum QoS 3'); // [MQTT-3.8.3.1]
  const retainHandling = (options >> 4) & 3;
  if (retainHandling === 3) throw new MqttError(ReasonCode.ProtocolError, 'retain handling 3'); // [MQTT-3.8.3.1]
  return {
    topicFilter, qos: qos as QoS, noLocal: (options & 4) !== 0, retainAsPublished: (options & 8) !== 0,
    retainHandling: retainHandling as 0 | 1 | 2,
  };
}

export function sizeSubscribe(p: SubscribePacket, version: ProtocolVersion): number {
  if (p.subscriptions.length === 0) {
    throw new MqttError(ReasonCode.ProtocolError, 'SUBSCRIBE needs a subscription'); // [MQTT-3.8.3-3]
  }
  let size = 2;
  if (version === 5) size += blockSize(propertiesSize(p.properties, 'subscribe'));
  for (const s of p.subscriptions) size += stringSize(s.topicFilter) + 1;
  return size;
}

export function encodeSubscribe(w: ByteWriter, p: SubscribePacket, version: ProtocolVersion): void {
  w.packetId(p.packetId);
  if (version === 5) writeProperties(w, p.properties, propertiesSize(p.properties, 'subscribe'));
  for (const s of p.subscriptions) {
    w.utf8(s.topicFilter);
    if (version < 5) w.u8(s.qos);
    else w.u8(s.qos | (s.noLocal ? 4 : 0) | (s.retainAsPublished ? 8 : 0) | ((s.retainHandling ?? 0) << 4));
  }
}
