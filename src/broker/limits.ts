// Configured limits on topics and user names, checked on top of the spec's own rules. Cheap on the hot path:
// nothing is counted that the string's length already rules out.
import { MqttError, ReasonCode } from '../protocol/index.ts';
import type { BrokerConfig } from './config.ts';
import type { Connection } from './connection.ts';

/** Throws with `reasonCode` when a topic name or filter is longer or deeper than configured. */
export function checkTopicLimits(topic: string, config: BrokerConfig, reasonCode: number): void {
  // a UTF-16 unit is at most 3 UTF-8 bytes (a surrogate pair 4 for 2 units)
  if (topic.length * 3 > config.maxTopicLength && utf8Length(topic) > config.maxTopicLength) {
    throw new MqttError(reasonCode, `topic longer than ${config.maxTopicLength} bytes`);
  }
  if (topic.length >= config.maxTopicLevels && levels(topic) > config.maxTopicLevels) {
    throw new MqttError(reasonCode, `topic deeper than ${config.maxTopicLevels} levels`);
  }
}

/** The user name a connection keeps is bounded: it travels in the hibernation attachment. */
export function checkUsername(conn: Connection): void {
  const max = conn.broker.config.maxUsernameLength;
  if ((conn.username?.length ?? 0) > max || (conn.principal?.username?.length ?? 0) > max) {
    throw new MqttError(ReasonCode.BadUserNameOrPassword, `user name longer than ${max}`);
  }
}

function utf8Length(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) (n += 4), i++;
    else n += 3;
  }
  return n;
}

function levels(s: string): number {
  let n = 1;
  for (let i = s.indexOf('/'); i !== -1; i = s.indexOf('/', i + 1)) n++;
  return n;
}
