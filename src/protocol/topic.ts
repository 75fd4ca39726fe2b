// Topic names and filters [MQTT-4.7], shared subscriptions [MQTT-4.8.2]. Form only: length
// and depth limits are the broker's.
import { MqttError } from './error.ts';
import { ReasonCode } from './reason-code.ts';

const sharePrefix = '$share/';

/** Throws TopicNameInvalid unless the topic can be published to. */
export function validateTopicName(topic: string): void {
  if (topic.length === 0) throw new MqttError(ReasonCode.TopicNameInvalid, 'empty topic name'); // [MQTT-4.7.3-1]
  for (let i = 0; i < topic.length; i++) {
    const c = topic.charCodeAt(i);
    if (c === 0x2b || c === 0x23) throw new MqttError(ReasonCode.TopicNameInvalid, 'wildcard in topic name'); // [MQTT-3.3.2-2]
    if (c === 0) throw new MqttError(ReasonCode.TopicNameInvalid, 'U+0000 in topic name'); // [MQTT-1.5.4-2]
  }
}

/** Throws TopicFilterInvalid unless the filter (possibly $share/<group>/<filter>) is well-formed. */
export function validateTopicFilter(filter: string): void {
  if (!parseSharedFilter(filter)) validateLevels(filter);
}

/** The group and filter of a shared subscription; undefined when the filter is not shared. */
export function parseSharedFilter(filter: string): { group: string; filter: string } | undefined {
  if (!filter.startsWith(sharePrefix)) return undefined;
  const slash = filter.indexOf('/', sharePrefix.length);
  const group = filter.slice(sharePrefix.length, slash < 0 ? undefined : slash);
  if (group.length === 0 || /[+#]/.test(group)) {
    throw new MqttError(ReasonCode.TopicFilterInvalid, 'share name empty or with a wildcard'); // [MQTT-4.8.2-2]
  }
  if (slash < 0 || slash === filter.length - 1) {
    throw new MqttError(ReasonCode.TopicFilterInvalid, 'shared subscription without a filter'); // [MQTT-4.8.2-1]
  }
  const rest = filter.slice(slash + 1);
  validateLevels(rest);
  return { group, filter: rest };
}

function validateLevels(filter: string): void {
  if (filter.length === 0) throw new MqttError(ReasonCode.TopicFilterInvalid, 'empty topic filter'); // [MQTT-4.7.3-1]
  const n = filter.length;
  for (let i = 0; i < n; i++) {
    const c = filter.charCodeAt(i);
    if (c === 0) throw new MqttError(ReasonCode.TopicFilterInvalid, 'U+0000 in topic filter'); // [MQTT-1.5.4-2]
    const alone = (i === 0 || filter.charCodeAt(i - 1) === 0x2f) && (i === n - 1 || filter.charCodeAt(i + 1) === 0x2f);
    if (c === 0x23 && (!alone || i !== n - 1)) {
      throw new MqttError(ReasonCode.TopicFilterInvalid, "'#' not alone in the last level"); // [MQTT-4.7.1-2]
    }
    if (c === 0x2b && !alone) throw new MqttError(ReasonCode.TopicFilterInvalid, "'+' not alone in its level"); // [MQTT-4.7.1-3]
  }
}
