// A publish from the HTTP API or from another Worker over RPC: the checks a client's PUBLISH gets
// (topic form and limits, the properties a PUBLISH may carry, size, payload format, and for a
// Worker its ACL), then the same broker.publish path.
import {
  MqttError, ReasonCode, isValidUtf8, packetSize, validateTopicName,
  type Properties, type PublishPacket, type QoS,
} from '../../protocol/index.ts';
import type { Broker } from '../broker.ts';
import type { ClientInfo } from '../hooks.ts';
import { toMessage } from '../handlers/publish.ts';
import { checkTopicLimits } from '../limits.ts';

export interface AdminPublish {
  topic: string;
  payload: Uint8Array;
  qos: QoS;
  retain: boolean;
  properties?: Properties;
}

/**
 * Throws an MqttError naming what is wrong before anything is applied; returns sessions reached.
 * `as`: the publisher the ACL judges (a Worker's declared identity); none for the admin API.
 */
export function adminPublish(broker: Broker, input: AdminPublish, as?: ClientInfo): number | Promise<number> {
  const { topic, payload, qos, retain, properties } = input;
  validateTopicName(topic); // [MQTT-3.3.2-2]
  checkTopicLimits(topic, broker.config, ReasonCode.TopicNameInvalid);
  if (topic.startsWith('$')) throw new MqttError(ReasonCode.NotAuthorized, 'topics beginning with $ belong to the server'); // [MQTT-4.7.2-1]
  if (properties?.topicAlias !== undefined || properties?.subscriptionIdentifiers !== undefined) {
    throw new MqttError(ReasonCode.ProtocolError, 'topicAlias and subscriptionIdentifiers belong to one connection');
  }
  const packet: PublishPacket = { type: 'publish', topic, payload, qos, retain, dup: false, packetId: qos ? 1 : undefined, properties };
  const size = packetSize(packet, 5); // also checks every property's range
  if (size > broker.config.maxPacketSize) throw new MqttError(ReasonCode.PacketTooLarge, `${size} bytes, more than ${broker.config.maxPacketSize}`);
  if (properties?.payloadFormatIndicator === 1 && !isValidUtf8(payload)) {
    throw new MqttError(ReasonCode.PayloadFormatInvalid, 'payload is not UTF-8'); // [MQTT-3.3.2-4]
  }
  const denied = as && broker.hooks.has('authorizePublish') ? broker.hooks.check('authorizePublish', as, packet) : undefined;
  if (denied !== undefined) throw new MqttError(denied, `${as!.principal?.username ?? 'an anonymous publisher'} may not publish to ${topic}`);
  if (retain && broker.local(topic) && broker.shard.retained.refusal(topic, payload.length) !== undefined) {
    throw new MqttError(ReasonCode.QuotaExceeded, 'the namespace holds as many retained messages as it may');
  }
  return broker.publish(toMessage(packet, topic, broker.clock.now()), undefined, true); // a rule's full outbox refuses it (0x97)
}
