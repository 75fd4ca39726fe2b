// What an action receives for an outbox entry, and the loop marker republished messages carry:
// the v5 user property `x-rule-path`, the names of the rules that republished the message, in
// order, comma-separated. A rule never matches a message whose path names it, and no rule
// matches one whose path is `maxHops` long, so republishing can chain but never loop.
import type { RuleMessage } from './action.ts';
import { project } from './projection.ts';
import type { Rule } from './rule.ts';
import type { OutboxMessage } from './store.ts';

export const loopMarker = 'x-rule-path';
export const maxHops = 8;

/** The rule names a message's loop marker holds (empty without one). */
export function pathOf(userProperties: ReadonlyArray<readonly [string, string]> | undefined): string[] {
  const marker = userProperties?.find(([name]) => name === loopMarker);
  return marker ? marker[1].split(',').filter(Boolean) : [];
}

/** User properties of a message republished by `rule`: the marker extended by it, the rest kept. */
export function markedBy(rule: string, userProperties: ReadonlyArray<readonly [string, string]> | undefined): [string, string][] {
  const rest = (userProperties ?? []).filter(([name]) => name !== loopMarker).map(([k, v]) => [k, v] as [string, string]);
  return [...rest, [loopMarker, [...pathOf(userProperties), rule].join(',')]];
}

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false });

/** The payload's JSON value, or undefined when it is not UTF-8 JSON. */
export function jsonValue(payload: Uint8Array): unknown {
  try {
    return JSON.parse(utf8.decode(payload));
  } catch {
    return undefined;
  }
}

export function ruleMessage(e: OutboxMessage, rule: Rule): RuleMessage {
  const parsed = jsonValue(e.payload);
  const value = parsed === undefined || !rule.projection ? parsed : project(rule.projection, parsed, e);
  return {
    seq: e.seq, topic: e.topic, payload: e.payload, value, qos: e.qos, retain: e.retain, clientId: e.clientId, username: e.username,
    receivedAt: e.receivedAt, contentType: e.contentType, userProperties: e.userProperties,
  };
}
