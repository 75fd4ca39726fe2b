// Retained messages as the HTTP API shows them: look-up by filter, and removal of one topic.
import {
  MqttError, ReasonCode, parseSharedFilter, validateTopicFilter, validateTopicName,
} from '../../protocol/index.ts';
import type { Broker } from '../broker.ts';
import { checkTopicLimits } from '../limits.ts';
import type { Message } from '../ports.ts';
import { isSys } from '../observe/sys-topics.ts';

/** Unexpired retained messages matching the filter, by topic, the first `limit` of them. */
export function listRetained(broker: Broker, filter: string, limit: number): { messages: Message[]; total: number } {
  validateTopicFilter(filter); // [MQTT-4.7.1]
  checkTopicLimits(filter, broker.config, ReasonCode.TopicFilterInvalid);
  if (parseSharedFilter(filter)) throw new MqttError(ReasonCode.TopicFilterInvalid, 'a shared filter retains nothing');
  const now = broker.clock.now();
  const all = broker.shard.retained.match(filter)
    .filter((m) => m.expiresAt === undefined || m.expiresAt > now)
    .sort((a, b) => (a.topic < b.topic ? -1 : a.topic > b.topic ? 1 : 0));
  return { messages: all.slice(0, limit), total: all.length };
}

/** Removes the message retained on a topic; false when there was none. */
export function deleteRetained(broker: Broker, topic: string): boolean {
  validateTopicName(topic);
  if (isSys(topic)) throw new MqttError(ReasonCode.NotAuthorized, '$SYS figures are not stored');
  const retained = broker.shard.retained;
  if (!retained.get(topic)) return false;
  retained.delete(topic);
  return true;
}
