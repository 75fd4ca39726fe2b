// Configured limits on topics, checked on top of the spec's own rules.
import { MqttError, ReasonCode } from '../protocol/index.ts';
import type { BrokerConfig } from './config.ts';

const utf8 = new TextEncoder();

/** Throws with `reasonCode` when a topic name or filter is longer or deeper than configured. */
export function checkTopicLimits(topic: string, config: BrokerConfig, reasonCode: number): void {
  if (utf8.encode(topic).length > config.maxTopicLength) {
    throw new MqttError(reasonCode, `topic longer than ${config.maxTopicLength} bytes`);
  }
  if (topic.split('/').length > config.maxTopicLevels) {
    throw new MqttError(reasonCode, `topic deeper than ${config.maxTopicLevels} levels`);
  }
}
