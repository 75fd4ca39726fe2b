// Retained messages as the HTTP API and Worker RPC show them: look-up by filter (for a Worker, what
// its ACL lets it subscribe to and read), and removal of one topic.
import {
  MqttError, ReasonCode, parseSharedFilter, validateTopicFilter, validateTopicName,
} from '../../protocol/index.ts';
import type { Broker } from '../broker.ts';
import type { ClientInfo } from '../hooks.ts';
import { checkTopicLimits } from '../limits.ts';
import type { Message } from '../ports.ts';
import { isSys } from '../observe/sys-topics.ts';

/** Unexpired retained messages matching the filter, by topic, the first `limit` of them; `as`: see readableRetained. */
export function listRetained(broker: Broker, filter: string, limit: number, as?: ClientInfo): { messages: Message[]; total: number } {
  checkRetainedFilter(broker, filter, as);
  return readableRetained(broker, broker.shard.retained.match(filter), limit, as);
}

/** A filter to read retained messages by; with `as`, one it may subscribe to. Throws an MqttError. */
export function checkRetainedFilter(broker: Broker, filter: string, as?: ClientInfo): void {
  validateTopicFilter(filter); // [MQTT-4.7.1]
  checkTopicLimits(filter, broker.config, ReasonCode.TopicFilterInvalid);
  if (parseSharedFilter(filter)) throw new MqttError(ReasonCode.TopicFilterInvalid, 'a shared filter retains nothing');
  const denied = as && broker.hooks.has('authorizeSubscribe') ? broker.hooks.check('authorizeSubscribe', as, { topicFilter: filter, qos: 2 }) : undefined;
  if (denied !== undefined) throw new MqttError(denied, `${as!.principal?.username ?? 'an anonymous reader'} may not subscribe to ${filter}`);
}

/** The unexpired ones, and with `as` those it may read, by topic: the first `limit` of them and how many there are. */
export function readableRetained(broker: Broker, matched: Message[], limit: number, as?: ClientInfo): { messages: Message[]; total: number } {
  const now = broker.clock.now();
  const reads = as && broker.hooks.has('authorizeDeliver');
  const all = matched
    .filter((m) => (m.expiresAt === undefined || m.expiresAt > now) && (!reads || broker.hooks.check('authorizeDeliver', as, m.topic) === undefined))
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
