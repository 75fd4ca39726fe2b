// The R2 action: matched messages archived as newline-delimited JSON, one object per topic prefix
// and time window per drain, so a day of telemetry is a few objects per prefix, not one per message.
//   { "kind": "r2", "binding": "RULES_ARCHIVE", "prefix": "mqtt/", "topicLevels": 1,
//     "windowMinutes": 60, "objectBytes": 16777216 }
// Object key: <prefix><rule>/<first topicLevels levels (none when 0)>/<YYYY-MM-DD>/<HHMM>Z-<first seq>-<tag>.ndjson
// where the date and HHMM are the UTC start of the window holding the messages' receivedAt, the
// first seq is zero-padded to 16 digits, and the tag is 8 hex digits of SHA-256 over the first
// message's seq, topic and receivedAt (outboxes of different objects number their messages apart).
// Each line is fields.ts messageRecord. R2 objects are immutable: hold() keeps the outbox filling
// until the oldest message's window has closed or `objectBytes` wait.
import type { ActionKind, RuleMessage } from '../action.ts';
import { bindingOf, messageRecord, onlyFields, wholeNumber } from './fields.ts';

export interface R2Config {
  binding: string;
  prefix: string;
  topicLevels: number;
  windowMinutes: number;
  objectBytes: number;
}

interface R2Binding {
  put(key: string, value: string, options?: { httpMetadata?: { contentType?: string } }): Promise<unknown>;
}

/** The most payload bytes one drain turns into objects: well within a Durable Object's 128 MB. */
const maxObjectBytes = 64 * 1024 * 1024;

/** Window boundaries in UTC; a window divides the day (checked in parse). */
export function windowStart(ms: number, minutes: number): number {
  const span = minutes * 60_000;
  return Math.floor(ms / span) * span;
}

/** An empty topic level is written %00: U+0000 never appears in a topic [MQTT-1.5.4-2]. */
const level = (s: string) => (s === '' ? '%00' : encodeURIComponent(s));

async function tag(m: RuleMessage): Promise<string> {
  const digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(`${m.seq}\n${m.topic}\n${m.receivedAt}`));
  return [...new Uint8Array(digest, 0, 4)].map((b) => b.toString(16).padStart(2, '0')).join('');
}

/** The key of the object that starts with `first`, for the rule `rule`. */
export async function objectKey(config: R2Config, rule: string, first: RuleMessage): Promise<string> {
  const group = first.topic.split('/').slice(0, config.topicLevels).map(level).join('/');
  const start = new Date(windowStart(first.receivedAt, config.windowMinutes)).toISOString(); // 2026-11-29T14:00:00.000Z
  const hhmm = start.slice(11, 13) + start.slice(14, 16);
  const name = `${hhmm}Z-${String(first.seq).padStart(16, '0')}-${await tag(first)}.ndjson`;
  return config.prefix + [encodeURIComponent(rule), ...(group ? [group] : []), start.slice(0, 10), name].join('/');
}

/** The batch's messages by object, each group in seq order: one group per topic prefix and window. */
function groups(config: R2Config, batch: RuleMessage[]): RuleMessage[][] {
  const byGroup = new Map<string, RuleMessage[]>();
  for (const m of batch) {
    const key = `${m.topic.split('/').slice(0, config.topicLevels).join('/')}\n${windowStart(m.receivedAt, config.windowMinutes)}`;
    const group = byGroup.get(key);
    if (group) group.push(m);
    else byGroup.set(key, [m]);
  }
  return [...byGroup.values()];
}

export const r2Action: ActionKind<R2Config> = {
  kind: 'r2',

  parse(config, env) {
    onlyFields(config, ['binding', 'prefix', 'topicLevels', 'windowMinutes', 'objectBytes']);
    const { name } = bindingOf<R2Binding>(config, env, 'R2 bucket', ['put', 'get', 'list']);
    const prefix = config.prefix ?? '';
    if (typeof prefix !== 'string' || prefix.length > 256 || !/^[A-Za-z0-9!_.*'()/-]*$/.test(prefix)) {
      throw new Error('prefix must be at most 256 of A-Z a-z 0-9 ! _ . * \' ( ) / -');
    }
    const windowMinutes = wholeNumber(config.windowMinutes, 'windowMinutes', 1, 1440, 60);
    if (1440 % windowMinutes) throw new Error('windowMinutes must divide a day (1, 5, 10, 15, 30, 60, 120 … 1440)');
    return {
      binding: name, prefix, windowMinutes,
      topicLevels: wholeNumber(config.topicLevels, 'topicLevels', 0, 16, 1),
      objectBytes: wholeNumber(config.objectBytes, 'objectBytes', 1024, maxObjectBytes, 16 * 1024 * 1024),
    };
  },

  limits(config) {
    return { count: 100_000, bytes: config.objectBytes };
  },

  /** Until the oldest message's window closes, unless an object's worth of bytes already waits. */
  hold(config, oldest, pending, now) {
    if (pending.bytes >= config.objectBytes || pending.count >= 100_000) return 0;
    return Math.max(0, windowStart(oldest, config.windowMinutes) + config.windowMinutes * 60_000 - now);
  },

  /**
   * One put per topic prefix and window in the batch. Keys depend only on each group's first
   * message, so a batch delivered again overwrites its objects instead of adding new ones; a retry
   * that carries more messages overwrites with the longer object, one that carries fewer leaves
   * the rest to a later object (those lines may then be in two objects: at least once).
   */
  async deliver(config, batch, context) {
    const bucket = context.env[config.binding] as R2Binding;
    for (const group of groups(config, batch)) {
      const body = group.map((m) => `${JSON.stringify(messageRecord(m))}\n`).join('');
      await bucket.put(await objectKey(config, context.rule, group[0]), body, { httpMetadata: { contentType: 'application/x-ndjson' } });
    }
  },
};
